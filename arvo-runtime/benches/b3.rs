//! Scenario B3 of `scenarios.md`: workflow W with the ArvoResumable R (one `com.calc.add` call,
//! completion `{result}`), the calc handler H1 and a client, routed in process by `to`, against a
//! hand-written floor of the same workflow measured in the same run.
//!
//! Protocol: 1,000 warm-up workflows, then 10,000 measured (`B3_WARMUP` / `B3_WORKFLOWS`),
//! strictly one workflow at a time; init events are built before the clock starts. Each pass
//! starts with an empty memory and fresh inputs; `B3_PASSES` (default 3) passes per variant in
//! alternating order, the median is reported. Every workflow is checked (one completion to the
//! client, its type, the sum of the results).
//!
//! * `framework`: `ArvoResumable::execute` (InMemoryMemory, no locking, as the reference decides)
//!   and `ArvoEventHandler::execute`, events routed by `to` through a queue;
//! * `floor`: the same work written by hand: subject decoded and checked once per workflow,
//!   dataschemas parsed, every payload validated with the contract schemas, events built with
//!   the validating builder, records as typed structs in a map.
//!
//! Run: `cargo bench -p arvo-runtime --bench b3` (bench profile: fat LTO, one codegen unit), with
//! the system allocator; `--bench b3_mimalloc` runs the same passes with mimalloc as the global
//! allocator (both variants use the same allocator within one binary).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::{HashMap, VecDeque};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use arvo_runtime::contract::dataschema;
use arvo_runtime::event::ArvoEvent;
use arvo_runtime::factory::{ArvoOrchestratorEventFactory, EventInput};
use arvo_runtime::handler::ParentContext;
use arvo_runtime::memory::InMemoryMemory;
use arvo_runtime::subject::{self, SubjectContent};
use serde_json::{Value, json};

// The contracts C1/C2, the calc handler H1 and the resumable R are the tests' fixtures, so the
// benchmark measures exactly what `resumable_workflow.rs` checks against the reference's vectors.
#[path = "../tests/common_resumable/mod.rs"]
pub(crate) mod common_resumable;
use common_resumable::{CalcAdd, CalcFlow, calc_handler, calc_resumable};

#[path = "common/mod.rs"]
pub(crate) mod common;
use common::{block_on, env, vm_hwm_kb};

/// `range.len()` init events of workflow W and the expected sum of their results.
pub(crate) fn inputs(range: std::ops::Range<u64>) -> (Vec<ArvoEvent>, f64) {
    let factory = ArvoOrchestratorEventFactory::new(CalcFlow::contract().latest()).unwrap();
    let events = range
        .clone()
        .map(|i| {
            factory
                .init(EventInput::new(
                    "com.bench.client",
                    json!({"parentSubject$$": null, "a": i, "b": i + 1}),
                ))
                .unwrap()
        })
        .collect();
    (events, range.map(|i| (2 * i + 1) as f64).sum())
}

/// One framework pass: every workflow through the in-process router. Returns seconds.
fn framework_pass(inits: &[ArvoEvent], expected: f64) -> f64 {
    let resumable = calc_resumable(InMemoryMemory::new());
    assert!(!resumable.requires_locking());
    let h1 = calc_handler();
    let mut queue: VecDeque<ArvoEvent> = VecDeque::with_capacity(4);
    let mut sum = 0.0;
    let mut completions = 0usize;
    let start = Instant::now();
    for init in inits {
        let mut out = block_on(resumable.execute(init, ParentContext::Event)).unwrap();
        queue.extend(out.drain(..));
        while let Some(e) = queue.pop_front() {
            match e.to() {
                Some("com.calc.add") => {
                    queue.extend(block_on(h1.execute(&e, ParentContext::Event)).unwrap());
                }
                Some("arvo.orc.bench.calc") => {
                    queue.extend(block_on(resumable.execute(&e, ParentContext::Event)).unwrap());
                }
                Some("com.bench.client") => {
                    assert_eq!(e.event_type(), "arvo.orc.bench.calc.done");
                    sum += e.data()["result"].as_f64().unwrap();
                    completions += 1;
                }
                other => panic!("no route for {other:?}"),
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(completions, inits.len());
    assert_eq!(sum, expected);
    black_box(&resumable);
    secs
}

/// The floor's record: typed, with the events it consumed and produced.
pub(crate) struct FloorRecord {
    pub(crate) content: Arc<SubjectContent>,
    pub(crate) done: bool,
    pub(crate) init_id: String,
    pub(crate) consumed: ArvoEvent,
    pub(crate) expected: Vec<(String, Vec<ArvoEvent>)>,
    pub(crate) produced: Vec<ArvoEvent>,
    pub(crate) a: f64,
    pub(crate) b: f64,
}

pub(crate) struct Floor {
    add: arvo_runtime::contract::VersionedContract,
    flow: arvo_runtime::contract::VersionedContract,
    pub(crate) records: HashMap<String, FloorRecord>,
}

impl Floor {
    pub(crate) fn new() -> Self {
        Floor {
            add: CalcAdd::contract().latest(),
            flow: CalcFlow::contract().latest(),
            records: HashMap::new(),
        }
    }

    fn check_schema(ds: Option<&str>, uri: &str) {
        let p = dataschema::parse(ds.unwrap()).unwrap();
        assert_eq!(p.uri, uri);
    }

    /// Resumable, init: decode + check the subject, validate, emit the call, store.
    pub(crate) fn init(&mut self, e: &ArvoEvent) -> ArvoEvent {
        let content = Arc::new(subject::parse(e.subject()).unwrap());
        assert_eq!(content.orchestrator.name, "arvo.orc.bench.calc");
        assert!(!self.records.contains_key(e.subject()));
        Self::check_schema(e.dataschema(), self.flow.uri());
        let data = Value::Object(e.data().clone());
        assert!(self.flow.accepts().schema.is_valid(&data));
        let a = data["a"].as_f64().unwrap();
        let b = data["b"].as_f64().unwrap();
        let call = json!({"a": a, "b": b});
        assert!(self.add.accepts().schema.is_valid(&call));
        let Value::Object(call) = call else {
            unreachable!()
        };
        let out = ArvoEvent::builder()
            .source("arvo.orc.bench.calc")
            .event_type("com.calc.add")
            .subject(e.subject())
            .dataschema(self.add.dataschema())
            .data(call)
            .to("com.calc.add")
            .redirectto("arvo.orc.bench.calc")
            .executionunits(0.0)
            .parentid(e.id())
            .build()
            .unwrap();
        self.records.insert(
            e.subject().to_owned(),
            FloorRecord {
                content,
                done: false,
                init_id: e.id().to_owned(),
                consumed: e.clone(),
                expected: vec![(out.id().to_owned(), Vec::new())],
                produced: vec![out.clone()],
                a,
                b,
            },
        );
        out
    }

    /// H1: type, dataschema, validation, sum, result event.
    pub(crate) fn service(&self, e: &ArvoEvent) -> ArvoEvent {
        assert_eq!(e.event_type(), "com.calc.add");
        Self::check_schema(e.dataschema(), self.add.uri());
        let data = Value::Object(e.data().clone());
        assert!(self.add.accepts().schema.is_valid(&data));
        let r = json!({"result": data["a"].as_f64().unwrap() + data["b"].as_f64().unwrap()});
        assert!(self.add.emit_list()[0].schema.is_valid(&r));
        let Value::Object(r) = r else { unreachable!() };
        ArvoEvent::builder()
            .source("com.calc.add")
            .event_type("evt.calc.add.success")
            .subject(e.subject())
            .dataschema(self.add.dataschema())
            .data(r)
            .to(e.redirectto().unwrap_or(e.source()))
            .executionunits(0.0)
            .parentid(e.id())
            .build()
            .unwrap()
    }

    /// Resumable, result: the subject known from the record, validate, collect, complete.
    pub(crate) fn result(&mut self, e: &ArvoEvent) -> ArvoEvent {
        let rec = self.records.get_mut(e.subject()).unwrap();
        assert_eq!(rec.content.orchestrator.name, "arvo.orc.bench.calc");
        assert!(!rec.done);
        Self::check_schema(e.dataschema(), self.add.uri());
        let data = Value::Object(e.data().clone());
        assert!(self.add.emit_list()[0].schema.is_valid(&data));
        if let Some((_, got)) = rec
            .expected
            .iter_mut()
            .find(|(id, _)| Some(id.as_str()) == e.parentid())
        {
            got.push(e.clone());
        }
        let done = json!({"result": data["result"].as_f64().unwrap()});
        assert!(self.flow.emit_list()[0].schema.is_valid(&done));
        let Value::Object(done) = done else {
            unreachable!()
        };
        let to = rec
            .content
            .meta
            .get("redirectto")
            .map_or(rec.content.execution.initiator.as_str(), String::as_str);
        let out = ArvoEvent::builder()
            .source("arvo.orc.bench.calc")
            .event_type("arvo.orc.bench.calc.done")
            .subject(e.subject())
            .dataschema(self.flow.dataschema())
            .data(done)
            .to(to)
            .redirectto("arvo.orc.bench.calc")
            .executionunits(0.0)
            .parentid(rec.init_id.as_str())
            .build()
            .unwrap();
        rec.done = true;
        rec.consumed = e.clone();
        rec.expected = vec![(out.id().to_owned(), Vec::new())];
        rec.produced = vec![out.clone()];
        black_box((rec.a, rec.b));
        out
    }
}

fn floor_pass(inits: &[ArvoEvent], expected: f64) -> f64 {
    let mut floor = Floor::new();
    let mut sum = 0.0;
    let start = Instant::now();
    for init in inits {
        let call = floor.init(init);
        let answer = floor.service(&call);
        let done = floor.result(&answer);
        assert_eq!(done.to(), Some("com.bench.client"));
        sum += done.data()["result"].as_f64().unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(sum, expected);
    assert_eq!(floor.records.len(), inits.len());
    secs
}

const REFERENCE_B3: f64 = 1_420.0;

#[allow(dead_code)] // unused when `b3_mimalloc` includes this file as a module
fn main() {
    run("system");
}

/// Runs the benchmark and prints its report; `allocator` names the global allocator.
pub fn run(allocator: &str) {
    let warmup = env("B3_WARMUP", 1_000);
    let n = env("B3_WORKFLOWS", 10_000);
    let passes = env("B3_PASSES", 3) as usize;
    let only_framework = std::env::var("B3_ONLY_FRAMEWORK").is_ok();
    let (warm, warm_sum) = inputs(0..warmup);
    framework_pass(&warm, warm_sum);
    if !only_framework {
        floor_pass(&warm, warm_sum);
    }
    let mut fw = Vec::new();
    let mut fl = Vec::new();
    for p in 0..passes {
        // Fresh inputs per pass (new subjects, built before the clock starts).
        let (inits, expected) = inputs(warmup..warmup + n);
        if p % 2 == 0 || only_framework {
            fw.push(framework_pass(&inits, expected));
            if !only_framework {
                fl.push(floor_pass(&inits, expected));
            }
        } else {
            fl.push(floor_pass(&inits, expected));
            fw.push(framework_pass(&inits, expected));
        }
    }
    let median = |t: &mut Vec<f64>| {
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    };
    let fw_wps = n as f64 / median(&mut fw);
    println!(
        "B3: {n} workflows after {warmup} warm-up, median of {passes} passes, {allocator} allocator"
    );
    println!(
        "  framework {:>10.0} workflows/s  {:>6.2} µs/workflow  {:>6.1}x reference ({REFERENCE_B3}/s)",
        fw_wps,
        1e6 / fw_wps,
        fw_wps / REFERENCE_B3
    );
    if !only_framework {
        let fl_wps = n as f64 / median(&mut fl);
        println!(
            "  floor     {:>10.0} workflows/s  {:>6.2} µs/workflow  {:>6.1}x reference",
            fl_wps,
            1e6 / fl_wps,
            fl_wps / REFERENCE_B3
        );
        println!("  framework / floor: {:.2}", fw_wps / fl_wps);
    }
    println!("  peak RSS (VmHWM): {:.1} MB", vm_hwm_kb() as f64 / 1024.0);
}
