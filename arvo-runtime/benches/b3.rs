//! Scenario B3 of `scenarios.md`: workflow W on the path a user writes: the resumable R
//! written with `#[arvo_resumable]`, the calc service H1 written with `#[arvo_handler]`, both
//! registered on an `EventBroker` (in-memory state, no locking, as the reference decides), each
//! workflow published with `broker.resolve(init)` and awaited to its completion, as the
//! reference's B3 runs through its `SimpleEventBroker`. Beside it, in the same run: a
//! hand-written floor of the same work, and the same two handlers executed directly (events
//! routed by `to` through a queue beside the broker), which shows what the broker costs.
//!
//! Protocol: 1,000 warm-up workflows, then 10,000 measured (`B3_WARMUP` / `B3_WORKFLOWS`),
//! strictly one workflow at a time on a current-thread tokio runtime; init events are built
//! before the clock starts (`CalcFlowV1_0_0::init`, the typed edge). Each pass starts with an
//! empty memory (a new broker) and fresh inputs; `B3_PASSES` (default 3) passes per variant in
//! rotating order, the median is reported. Every workflow is checked: the outcome has no
//! failure, exactly one event came back to the client, its type is the completion's, and the
//! typed results (`CalcFlowV1_0_0::result`) sum to the expected total.
//!
//! * `broker`: `EventBroker::resolve` per workflow (the framework figure);
//! * `direct`: `ArvoResumable::execute` / `ArvoEventHandler::execute` of the same handlers,
//!   routed by `to` through a `VecDeque` (no broker);
//! * `floor`: the same work written by hand: subject decoded and checked once per workflow,
//!   dataschemas parsed, every payload validated with the contract schemas, events built with
//!   the validating builder, records as typed structs in a map.
//!
//! `B3_ONLY=broker|direct|floor` runs that variant alone (warm-up + one pass; for callgrind).
//!
//! Run: `cargo bench -p arvo-runtime --bench b3` (bench profile: fat LTO, one codegen unit), with
//! the system allocator; `--bench b3_mimalloc` runs the same passes with mimalloc as the global
//! allocator (all variants use the same allocator within one binary).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::{HashMap, VecDeque};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use arvo_runtime::broker::EventBroker;
use arvo_runtime::contract::dataschema;
use arvo_runtime::event::ArvoEvent;
use arvo_runtime::handler::{ArvoEventHandler, ParentContext};
use arvo_runtime::memory::InMemoryMemory;
use arvo_runtime::subject::{self, SubjectContent};
use arvo_runtime::workflow::Workflow;
use serde_json::{Value, json};

// The contracts C1/C2 are the tests' fixtures, so the benchmark runs the contracts that
// `resumable_workflow.rs` checks against the reference's vectors.
#[path = "../tests/common_resumable/mod.rs"]
pub(crate) mod common_resumable;
use common_resumable::{AddInput, CalcAdd, CalcFlow, CalcFlowV1_0_0, CalcFlowV1_0_0Emits};

#[path = "common/mod.rs"]
pub(crate) mod common;
use common::{block_on, env, vm_hwm_kb};

/// The user's path: H1 as an `#[arvo_handler]` function, R as an `#[arvo_resumable]` impl.
pub(crate) mod user_path {
    use super::common_resumable::{
        AddInput, AddResult, CalcAdd, CalcAddV1_0_0, CalcAddV1_0_0Emits, CalcContext, CalcFlow,
        CalcFlowV1_0_0, CalcFlowV1_0_0Emits,
    };
    use arvo_runtime::prelude::*;

    /// H1: `{a, b}` -> `evt.calc.add.success {result: a + b}`.
    #[arvo_handler(contract = CalcAdd, version = "1.0.0")]
    pub async fn add(input: AddInput) -> Result<CalcAddV1_0_0Emits, HandlerError> {
        Ok(CalcAddV1_0_0Emits::Success(AddResult {
            result: input.a + input.b,
        }))
    }

    /// R: init -> one `com.calc.add {a, b}` call (context `{a, b}`); its success -> the
    /// completion `{result}`; its system error -> an error (never happens here).
    pub struct Calc;

    #[arvo_resumable(contract = CalcFlow, context = CalcContext, services(calc = CalcAddV1_0_0))]
    impl Calc {
        #[version("1.0.0")]
        async fn v1(&self, step: CalcStep<'_, CalcFlowV1_0_0>) -> CalcResult<CalcFlowV1_0_0> {
            use CalcEvent::{Calc as Answer, CalcError, Init};
            match &step.event {
                Init(init) => {
                    let AddInput { a, b } = init.data;
                    let call = step.call::<CalcAddV1_0_0>(&AddInput { a, b })?;
                    Ok(Outcome::wait().context(CalcContext { a, b }).call(call))
                }
                Answer(CalcAddV1_0_0Emits::Success(r)) => Ok(Outcome::wait().complete(
                    CalcFlowV1_0_0Emits::Complete(AddResult { result: r.result }),
                )),
                CalcError(e) => Err(HandlerError::msg(format!(
                    "calc service failed: {}",
                    e.error_message
                ))),
            }
        }
    }
}
use user_path::{Calc, add};

/// `range.len()` init events of workflow W (the typed edge `CalcFlowV1_0_0::init`) and the
/// expected sum of their results.
pub(crate) fn inputs(range: std::ops::Range<u64>) -> (Vec<ArvoEvent>, f64) {
    let events = range
        .clone()
        .map(|i| {
            let (a, b) = (i as f64, (i + 1) as f64);
            CalcFlowV1_0_0::init("com.bench.client", AddInput { a, b }).unwrap()
        })
        .collect();
    (events, range.map(|i| (2 * i + 1) as f64).sum())
}

/// A pass's measured seconds and its state (memory records, broker), dropped by the caller:
/// outside the clock, and outside the frames callgrind collects in, for every variant alike.
type Timed = (f64, Box<dyn std::any::Any>);

/// The typed completion's result, after the checks every workflow must pass.
fn completed(outcome: &arvo_runtime::broker::Resolution) -> f64 {
    assert!(outcome.is_ok(), "failures: {:?}", outcome.errors);
    assert_eq!(outcome.events.len(), 1);
    assert_eq!(outcome.events[0].event_type(), "arvo.orc.bench.calc.done");
    let CalcFlowV1_0_0Emits::Complete(done) = CalcFlowV1_0_0::result(outcome).unwrap();
    done.result
}

/// One pass through the broker, as a user runs workflows: a new broker (empty memory), then
/// `resolve` per workflow, strictly one after the other. Returns seconds.
#[inline(never)] // a frame callgrind can collect in (`--toggle-collect`)
fn broker_pass(rt: &tokio::runtime::Runtime, inits: Vec<ArvoEvent>, expected: f64) -> Timed {
    let broker = EventBroker::builder()
        .handler(add)
        .handler(Calc.resumable(InMemoryMemory::new()))
        .build()
        .unwrap();
    let secs = rt.block_on(async {
        let mut sum = 0.0;
        let start = Instant::now();
        for init in inits {
            let outcome = broker.resolve(init).await.unwrap();
            sum += completed(&outcome);
        }
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(sum, expected);
        secs
    });
    (secs, Box::new(broker))
}

/// One pass of the same handlers executed directly, routed by `to` through a queue beside the
/// broker. Returns seconds.
#[inline(never)] // a frame callgrind can collect in (`--toggle-collect`)
fn direct_pass(inits: &[ArvoEvent], expected: f64) -> Timed {
    let resumable = Calc.resumable(InMemoryMemory::new()).build().unwrap();
    assert!(!resumable.requires_locking());
    let h1 = ArvoEventHandler::of(add).build().unwrap();
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
    (secs, Box::new((resumable, h1)))
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

#[inline(never)] // a frame callgrind can collect in (`--toggle-collect`)
fn floor_pass(inits: &[ArvoEvent], expected: f64) -> Timed {
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
    (secs, Box::new(floor))
}

const REFERENCE_B3: f64 = 1_420.0;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Variant {
    Broker,
    Direct,
    Floor,
}

impl Variant {
    const ALL: [Variant; 3] = [Variant::Broker, Variant::Direct, Variant::Floor];
    fn name(self) -> &'static str {
        match self {
            Variant::Broker => "broker",
            Variant::Direct => "direct",
            Variant::Floor => "floor",
        }
    }
    fn label(self) -> &'static str {
        match self {
            Variant::Broker => "framework, through EventBroker::resolve",
            Variant::Direct => "same handlers, executed directly",
            Variant::Floor => "hand-written floor",
        }
    }
}

fn pass(v: Variant, rt: &tokio::runtime::Runtime, range: std::ops::Range<u64>) -> f64 {
    // Fresh inputs per pass (new subjects, built before the clock starts).
    let (inits, expected) = inputs(range);
    let (secs, state) = match v {
        Variant::Broker => broker_pass(rt, inits, expected),
        Variant::Direct => direct_pass(&inits, expected),
        Variant::Floor => floor_pass(&inits, expected),
    };
    // Dropping the broker drops its handlers and their records; its aborted dispatcher tasks
    // end when the runtime next runs them: let them go now, so that no pass pays for the
    // previous pass's teardown.
    rt.block_on(async move {
        drop(state);
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
    });
    secs
}

#[allow(dead_code)] // unused when `b3_mimalloc` includes this file as a module
fn main() {
    run("system");
}

/// Runs the benchmark and prints its report; `allocator` names the global allocator.
pub fn run(allocator: &str) {
    let warmup = env("B3_WARMUP", 1_000);
    let n = env("B3_WORKFLOWS", 10_000);
    let passes = env("B3_PASSES", 3) as usize;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let only = std::env::var("B3_ONLY").ok();
    let variants: Vec<Variant> = match only.as_deref() {
        None => Variant::ALL.to_vec(),
        Some(name) => vec![
            Variant::ALL
                .into_iter()
                .find(|v| v.name() == name)
                .unwrap_or_else(|| panic!("B3_ONLY={name}: expected broker, direct or floor")),
        ],
    };
    for &v in &variants {
        pass(v, &rt, 0..warmup);
    }
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for p in 0..passes {
        for k in 0..variants.len() {
            let idx = (k + p) % variants.len();
            times[idx].push(pass(variants[idx], &rt, warmup..warmup + n));
        }
    }
    let wps: Vec<f64> = times
        .iter_mut()
        .map(|t| {
            t.sort_by(f64::total_cmp);
            n as f64 / t[t.len() / 2]
        })
        .collect();
    println!(
        "B3: {n} workflows after {warmup} warm-up, median of {passes} passes, {allocator} allocator"
    );
    for (v, w) in variants.iter().zip(&wps) {
        println!(
            "  {:<42} {:>10.0} workflows/s  {:>6.2} µs/workflow  {:>6.1}x reference ({REFERENCE_B3}/s)",
            v.label(),
            w,
            1e6 / w,
            w / REFERENCE_B3
        );
    }
    let of = |v: Variant| variants.iter().position(|&x| x == v).map(|i| wps[i]);
    if let (Some(b), Some(f)) = (of(Variant::Broker), of(Variant::Floor)) {
        println!("  framework (broker) / floor: {:.2}", b / f);
    }
    if let (Some(b), Some(d)) = (of(Variant::Broker), of(Variant::Direct)) {
        println!("  framework (broker) / direct: {:.2}", b / d);
    }
    println!("  peak RSS (VmHWM): {:.1} MB", vm_hwm_kb() as f64 / 1024.0);
}
