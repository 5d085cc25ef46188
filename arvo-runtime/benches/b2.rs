//! Scenario B2 of `scenarios.md`: workflow W with the `ArvoOrchestrator` running machine M (one
//! `com.calc.add` call, completion `{result}`), the calc handler H1 and a client, through the
//! in-process [`EventBroker`] as the reference runs B2 through its `SimpleEventBroker`, against
//! a hand-written floor of the same workflow measured in the same run.
//!
//! Protocol: 1,000 warm-up workflows, then 10,000 measured (`B2_WARMUP` / `B2_WORKFLOWS`),
//! strictly one workflow at a time (each `resolve` awaited before the next); init events are
//! built before the clock starts. Each pass starts with an empty memory (and a new broker) and
//! fresh inputs; `B2_PASSES` (default 3) passes per variant in alternating order, the median is
//! reported. Every workflow is checked (one completion delivered to the client, its type, the
//! sum of the results; no broker errors).
//!
//! Variants:
//! * `broker` (the path a user writes, the one B2 measures): an `ArvoOrchestrator` over machine
//!   M (InMemoryMemory, no locking, as the reference decides) and `ArvoEventHandler` H1
//!   registered on an `EventBroker`; the client `resolve`s each init event and gets the
//!   completion back; on a current-thread tokio runtime (one thread of execution);
//! * `direct`: the same orchestrator and handler without the broker, events routed by `to`
//!   through a queue (as `b3.rs` runs B3): shows what the broker costs;
//! * `floor`: the same work written by hand, routed by `to` through a queue: subject decoded and
//!   checked once per workflow, the machine chosen by the subject's version, dataschemas parsed,
//!   every payload validated with the contract schemas, the machine as a Rust enum with a typed
//!   context, its snapshot (status, value, context, output) and the consumed / produced events
//!   stored per step in a typed record, events built with the validating builder.
//!
//! Run: `cargo bench -p arvo-runtime --bench b2` (bench profile: fat LTO, one codegen unit; the
//! first build takes 10+ minutes). `B2_ONLY=broker|direct|floor` runs one variant (its peak RSS
//! alone). The peak RSS (VmHWM) is a process's, inputs included: the run prints its own (all
//! variants together), then runs each variant again alone in a child process (`B2_ONLY`, same
//! counts) and prints each one's peak, the per-scenario figure (`B2_RSS_CHILDREN=0` skips it).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::{HashMap, VecDeque};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use arvo_runtime::broker::EventBroker;
use arvo_runtime::contract::dataschema;
use arvo_runtime::event::ArvoEvent;
use arvo_runtime::factory::{ArvoOrchestratorEventFactory, EventInput};
use arvo_runtime::handler::ParentContext;
use arvo_runtime::memory::InMemoryMemory;
use arvo_runtime::subject::{self, SubjectContent};
use serde_json::{Value, json};

#[path = "../tests/common_resumable/mod.rs"]
pub(crate) mod common_resumable;
use common_resumable::{CalcAdd, CalcFlow, calc_handler};

// Machine M and its orchestrator are the tests' fixtures, so the benchmark measures exactly
// what `orchestrator_workflow.rs` checks against the reference's vectors.
#[path = "../tests/common_calc_machine/mod.rs"]
pub(crate) mod common_calc_machine;
use common_calc_machine::calc_orchestrator;

#[path = "common/mod.rs"]
pub(crate) mod common;
use common::{block_on, env, vm_hwm_kb};

/// The reference's B2 (median of 3 runs, `baseline.md`).
const REFERENCE_B2: f64 = 1_308.0;

/// `range.len()` init events of workflow W and the expected sum of their results.
fn inputs(range: std::ops::Range<u64>) -> (Vec<ArvoEvent>, f64) {
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

/// One `broker` pass: every workflow `resolve`d by the client. Returns seconds.
fn broker_pass(rt: &tokio::runtime::Runtime, inits: &[ArvoEvent], expected: f64) -> f64 {
    let orchestrator = calc_orchestrator(InMemoryMemory::new());
    assert!(!orchestrator.requires_locking());
    let broker = EventBroker::builder()
        .handler(Arc::new(orchestrator))
        .handler(Arc::new(calc_handler()))
        .build()
        .unwrap();
    rt.block_on(async {
        let mut sum = 0.0;
        let mut completions = 0usize;
        let start = Instant::now();
        for init in inits {
            let outcome = broker.resolve(init.clone()).await.unwrap();
            assert!(outcome.is_ok(), "{:?}", outcome.errors);
            let done = outcome.result().unwrap();
            assert_eq!(done.event_type(), "arvo.orc.bench.calc.done");
            sum += done.data()["result"].as_f64().unwrap();
            completions += 1;
        }
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(completions, inits.len());
        assert_eq!(sum, expected);
        secs
    })
}

/// One `direct` pass: the orchestrator and H1 called by hand, events routed by `to`.
fn direct_pass(inits: &[ArvoEvent], expected: f64) -> f64 {
    let orchestrator = calc_orchestrator(InMemoryMemory::new());
    let h1 = calc_handler();
    let mut queue: VecDeque<ArvoEvent> = VecDeque::with_capacity(4);
    let mut sum = 0.0;
    let mut completions = 0usize;
    let start = Instant::now();
    for init in inits {
        queue.push_back(init.clone());
        while let Some(e) = queue.pop_front() {
            match e.to() {
                Some("com.calc.add") => {
                    queue.extend(block_on(h1.execute(&e, ParentContext::Event)).unwrap());
                }
                Some("arvo.orc.bench.calc") => {
                    queue.extend(block_on(orchestrator.execute(&e, ParentContext::Event)).unwrap());
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
    black_box(&orchestrator);
    secs
}

/// Machine M's states.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Adding,
    Done,
}

/// Machine M's context.
struct Context {
    a: f64,
    b: f64,
    result: Option<f64>,
}

/// The persisted snapshot of machine M.
struct Snapshot {
    done: bool,
    value: State,
    context: Context,
    output: Option<f64>,
}

/// The floor's record: the snapshot, with the events the last step consumed and produced.
struct FloorRecord {
    content: Arc<SubjectContent>,
    init_id: String,
    snapshot: Snapshot,
    consumed: ArvoEvent,
    produced: Vec<ArvoEvent>,
}

struct Floor {
    add: arvo_runtime::contract::VersionedContract,
    flow: arvo_runtime::contract::VersionedContract,
    records: HashMap<String, FloorRecord>,
}

impl Floor {
    fn new() -> Self {
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

    /// The service call machine M's `adding` state emits on entry, as an event.
    fn call(&self, e: &ArvoEvent, ctx: &Context) -> ArvoEvent {
        let call = json!({"a": ctx.a, "b": ctx.b});
        assert!(self.add.accepts().schema.is_valid(&call));
        let Value::Object(call) = call else {
            unreachable!()
        };
        ArvoEvent::builder()
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
            .unwrap()
    }

    /// Orchestrator, init: decode + check the subject, pick the machine by version, validate,
    /// start the machine (context, entry action), store the snapshot.
    fn init(&mut self, e: &ArvoEvent) -> ArvoEvent {
        let content = Arc::new(subject::parse(e.subject()).unwrap());
        assert_eq!(content.orchestrator.name, "arvo.orc.bench.calc");
        assert_eq!(content.orchestrator.version, "1.0.0");
        assert!(!self.records.contains_key(e.subject()));
        assert_eq!(e.event_type(), "arvo.orc.bench.calc");
        Self::check_schema(e.dataschema(), self.flow.uri());
        let data = Value::Object(e.data().clone());
        assert!(self.flow.accepts().schema.is_valid(&data));
        let context = Context {
            a: data["a"].as_f64().unwrap(),
            b: data["b"].as_f64().unwrap(),
            result: None,
        };
        let out = self.call(e, &context);
        self.records.insert(
            e.subject().to_owned(),
            FloorRecord {
                content,
                init_id: e.id().to_owned(),
                snapshot: Snapshot {
                    done: false,
                    value: State::Adding,
                    context,
                    output: None,
                },
                consumed: e.clone(),
                produced: vec![out.clone()],
            },
        );
        out
    }

    /// H1: type, dataschema, validation, sum, result event.
    fn service(&self, e: &ArvoEvent) -> ArvoEvent {
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

    /// Orchestrator, result: the subject known from the record, validate, resume the machine
    /// from its snapshot (transition `adding -> done`, assign), output, completion.
    fn result(&mut self, e: &ArvoEvent) -> Option<ArvoEvent> {
        let rec = self.records.get_mut(e.subject()).unwrap();
        assert_eq!(rec.content.orchestrator.name, "arvo.orc.bench.calc");
        Self::check_schema(e.dataschema(), self.add.uri());
        let data = Value::Object(e.data().clone());
        assert!(self.add.emit_list()[0].schema.is_valid(&data));
        let snap = &mut rec.snapshot;
        let before = snap.output;
        if snap.value == State::Adding && e.event_type() == "evt.calc.add.success" {
            snap.context.result = data["result"].as_f64();
            snap.value = State::Done;
            snap.done = true;
            snap.output = snap.context.result;
        }
        let mut produced = Vec::new();
        if snap.output != before
            && let Some(result) = snap.output
        {
            let done = json!({"result": result});
            assert!(self.flow.emit_list()[0].schema.is_valid(&done));
            let Value::Object(done) = done else {
                unreachable!()
            };
            let to = rec
                .content
                .meta
                .get("redirectto")
                .map_or(rec.content.execution.initiator.as_str(), String::as_str);
            produced.push(
                ArvoEvent::builder()
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
                    .unwrap(),
            );
        }
        rec.consumed = e.clone();
        rec.produced.clone_from(&produced);
        black_box((snap.context.a, snap.context.b, snap.done));
        produced.pop()
    }
}

fn floor_pass(inits: &[ArvoEvent], expected: f64) -> f64 {
    let mut floor = Floor::new();
    let mut queue: VecDeque<ArvoEvent> = VecDeque::with_capacity(4);
    let mut sum = 0.0;
    let mut completions = 0usize;
    let start = Instant::now();
    for init in inits {
        queue.push_back(init.clone());
        while let Some(e) = queue.pop_front() {
            match e.to() {
                Some("com.calc.add") => queue.push_back(floor.service(&e)),
                Some("arvo.orc.bench.calc") => {
                    if e.event_type() == "arvo.orc.bench.calc" {
                        queue.push_back(floor.init(&e));
                    } else {
                        queue.extend(floor.result(&e));
                    }
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
    assert_eq!(floor.records.len(), inits.len());
    secs
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Variant {
    Broker,
    Direct,
    Floor,
}

fn main() {
    let warmup = env("B2_WARMUP", 1_000);
    let n = env("B2_WORKFLOWS", 10_000);
    let passes = env("B2_PASSES", 3) as usize;
    let only = std::env::var("B2_ONLY").ok();
    let all = [Variant::Broker, Variant::Direct, Variant::Floor];
    let variants: Vec<Variant> = all
        .into_iter()
        .filter(|v| {
            only.as_deref()
                .is_none_or(|o| format!("{v:?}").eq_ignore_ascii_case(o))
        })
        .collect();
    assert!(
        !variants.is_empty(),
        "B2_ONLY must be broker, direct or floor"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let run = |v: Variant, inits: &[ArvoEvent], expected: f64| match v {
        Variant::Broker => broker_pass(&rt, inits, expected),
        Variant::Direct => direct_pass(inits, expected),
        Variant::Floor => floor_pass(inits, expected),
    };
    let (warm, warm_sum) = inputs(0..warmup);
    for &v in &variants {
        run(v, &warm, warm_sum);
    }
    drop(warm);
    let mut times: HashMap<Variant, Vec<f64>> = HashMap::new();
    for p in 0..passes {
        // Fresh inputs per pass (new subjects, built before the clock starts); the order of
        // the variants rotates from pass to pass.
        let (inits, expected) = inputs(warmup..warmup + n);
        for k in 0..variants.len() {
            let v = variants[(p + k) % variants.len()];
            times.entry(v).or_default().push(run(v, &inits, expected));
        }
    }
    let median = |t: &mut Vec<f64>| {
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    };
    let mut wps = HashMap::new();
    println!("B2: {n} workflows after {warmup} warm-up, median of {passes} passes");
    for &v in &variants {
        let w = n as f64 / median(times.get_mut(&v).unwrap());
        wps.insert(v, w);
        println!(
            "  {:<8} {:>10.0} workflows/s  {:>6.2} µs/workflow  {:>6.1}x reference ({REFERENCE_B2}/s)",
            format!("{v:?}").to_lowercase(),
            w,
            1e6 / w,
            w / REFERENCE_B2
        );
    }
    if let Some(floor) = wps.get(&Variant::Floor) {
        for v in [Variant::Broker, Variant::Direct] {
            if let Some(w) = wps.get(&v) {
                println!(
                    "  {} / floor: {:.2}",
                    format!("{v:?}").to_lowercase(),
                    w / floor
                );
            }
        }
    }
    println!(
        "  peak RSS (VmHWM) of this process: {:.1} MB (reference: 348-367 MB)",
        vm_hwm_kb() as f64 / 1024.0
    );
    // The peak RSS is per scenario: with every variant in one process the allocator keeps the
    // largest variant's pages, so each variant is run once more alone, in a child process
    // (same counts, `B2_ONLY`), and its own peak is reported.
    if only.is_none() && env("B2_RSS_CHILDREN", 1) != 0 {
        for v in all {
            let name = format!("{v:?}").to_lowercase();
            match child_peak_mb(&name) {
                Some(mb) => println!("  peak RSS (VmHWM), {name:<6} alone: {mb:.1} MB"),
                None => println!("  peak RSS (VmHWM), {name:<6} alone: (child run failed)"),
            }
        }
    }
}

/// Runs this benchmark again with `B2_ONLY=name` and returns the peak RSS it printed.
fn child_peak_mb(name: &str) -> Option<f64> {
    let exe = std::env::current_exe().ok()?;
    let out = std::process::Command::new(exe)
        .env("B2_ONLY", name)
        .stderr(std::process::Stdio::inherit())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
        l.trim()
            .strip_prefix("peak RSS (VmHWM) of this process: ")?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}
