//! The futures the broker boxes per event stay small: the orchestrator's and the resumable's
//! `execute` future is allocated once per delivery, and one of more than 1,032 bytes misses the
//! system allocator's per-thread cache (glibc's tcache) and takes its slow path, which also
//! consolidates its free lists (the B2/B3 benchmarks measured this: a 3,968-byte future cost
//! ~300 instructions per allocation and a 4 KB copy). The limit below keeps that margin, and the
//! last test keeps a step's outputs from the same slow path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common_calc_machine/mod.rs"]
mod common_calc_machine;
#[path = "common_resumable/mod.rs"]
mod common_resumable;

use arvo_runtime::factory::{ArvoOrchestratorEventFactory, EventInput};
use arvo_runtime::handler::ParentContext;
use arvo_runtime::memory::InMemoryMemory;
use serde_json::json;

/// glibc's largest tcache size (bytes requested).
const TCACHE_MAX: usize = 1032;

fn init() -> arvo_runtime::event::ArvoEvent {
    ArvoOrchestratorEventFactory::new(common_resumable::CalcFlow::contract().latest())
        .unwrap()
        .init(EventInput::new(
            "com.bench.client",
            json!({"parentSubject$$": null, "a": 1, "b": 2}),
        ))
        .unwrap()
}

/// Asserts that a future of `size` bytes fits glibc's tcache.
fn assert_fits(what: &str, size: usize) {
    assert!(
        size <= TCACHE_MAX,
        "{what}'s future is {size} bytes (limit {TCACHE_MAX}): something large is kept across an await"
    );
}

#[test]
fn the_orchestrator_execute_future_fits_the_allocator_cache() {
    let orchestrator = common_calc_machine::calc_orchestrator(InMemoryMemory::new());
    let event = init();
    let future = orchestrator.execute(&event, ParentContext::Event);
    assert_fits("ArvoOrchestrator::execute", std::mem::size_of_val(&future));
}

#[test]
fn the_resumable_execute_future_fits_the_allocator_cache() {
    let resumable = common_resumable::calc_resumable(InMemoryMemory::new());
    let event = init();
    let future = resumable.execute(&event, ParentContext::Event);
    assert_fits("ArvoResumable::execute", std::mem::size_of_val(&future));
}

#[test]
fn a_machine_steps_single_output_takes_one_outputs_room() {
    // A `Vec`'s first growth reserves room for four outputs (4 x 336 bytes), above the same
    // cache: a step's usual single emission reserves exactly one.
    let machine = common_calc_machine::calc_machine();
    let step = machine.start(&init()).unwrap();
    assert_eq!(step.events.len(), 1);
    assert_eq!(step.events.capacity(), 1);
    assert!(
        std::mem::size_of::<arvo_runtime::handler::RawOutput>() * 4 > TCACHE_MAX,
        "RawOutput shrank: the exact reservation may no longer be needed"
    );
}
