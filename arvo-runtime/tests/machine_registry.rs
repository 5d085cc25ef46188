//! The reference's `tests/MachineRegistry.spec.ts` (spec §13.5): machines found by the init
//! event's orchestrator name and version, one Rust test per reference test.
//!
//! Deliberate difference: an empty registry is `OrchestratorBuildError::NoMachines`, displayed
//! with `createArvoOrchestrator`'s message; the registry's own text is
//! `orchestrator::NO_MACHINES_MESSAGE` (checked).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common_machine;

use arvo_runtime::contract::VersionedContract;
use arvo_runtime::event::ArvoEvent;
use arvo_runtime::factory::{ArvoOrchestratorEventFactory, EventInput};
use arvo_runtime::machine::ArvoMachine;
use arvo_runtime::orchestrator::{MachineRegistry, NO_MACHINES_MESSAGE, OrchestratorBuildError};
use common_machine::contracts::{Machine2, TestMachine};
use serde_json::json;

/// A trivial machine: `initial: 'route'`, `route` final, no services.
fn trivial(contract: VersionedContract) -> ArvoMachine<()> {
    ArvoMachine::builder("machine", contract)
        .context(|_| Ok(()))
        .initial("route")
        .state("route", |s| s.final_state())
        .build()
        .unwrap()
}

fn init(contract: VersionedContract, data: serde_json::Value) -> ArvoEvent {
    ArvoOrchestratorEventFactory::new(contract)
        .unwrap()
        .init(EventInput::new("com.test.test", data))
        .unwrap()
}

fn test_init(version: &str) -> ArvoEvent {
    init(
        TestMachine::contract().version(version).unwrap(),
        json!({"parentSubject$$": null, "delta": 1, "type": "increment"}),
    )
}

fn machine2_init() -> ArvoEvent {
    init(
        Machine2::contract().latest(),
        json!({"parentSubject$$": null}),
    )
}

/// #1 A registry without machines is refused.
#[test]
fn registry_without_machines_throws() {
    let err = MachineRegistry::<()>::new(Vec::new()).unwrap_err();
    assert_eq!(err, OrchestratorBuildError::NoMachines);
    assert_eq!(
        NO_MACHINES_MESSAGE,
        "Machine registry initialization failed: No machines provided. At least one machine must be registered."
    );
}

/// #2 Each init event resolves to the machine of its orchestrator name and version.
#[test]
fn registry_resolves_by_name_and_version() {
    let registry = MachineRegistry::new(vec![
        trivial(TestMachine::contract().version("0.0.1").unwrap()),
        trivial(TestMachine::contract().version("0.0.2").unwrap()),
        trivial(Machine2::contract().latest()),
    ])
    .unwrap();
    for (event, source, version) in [
        (test_init("0.0.1"), "arvo.orc.test", "0.0.1"),
        (test_init("0.0.2"), "arvo.orc.test", "0.0.2"),
        (machine2_init(), "arvo.orc.machine.2", "0.0.1"),
    ] {
        let m = registry.resolve(&event).unwrap().expect("a machine");
        assert_eq!(m.source(), source);
        assert_eq!(m.contract().version().as_str(), version);
    }
}

/// #3 A registry of the two `test` machines has none for `machine.2`.
#[test]
fn registry_without_a_matching_machine_resolves_none() {
    let registry = MachineRegistry::new(vec![
        trivial(TestMachine::contract().version("0.0.1").unwrap()),
        trivial(TestMachine::contract().version("0.0.2").unwrap()),
    ])
    .unwrap();
    assert!(registry.resolve(&machine2_init()).unwrap().is_none());
    // A subject that is not an orchestration subject is an error, not a panic.
    let plain = ArvoEvent::builder()
        .source("com.test.test")
        .event_type("arvo.orc.test")
        .subject("test")
        .data_json(json!({}))
        .build()
        .unwrap();
    assert!(registry.resolve(&plain).is_err());
}
