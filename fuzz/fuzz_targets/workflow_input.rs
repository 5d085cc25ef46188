//! Hostile events driven through whole workflows, on the user's path: an `EventBroker` serving
//! two workflows that call one service handler (`ArvoEventHandler`, which echoes a payload
//! back, and stays silent when the payload is the wait marker): a resumable (`ArvoResumable`
//! with a hand-written `ResumableHandler`) and an orchestrator (`ArvoOrchestrator` running an
//! `ArvoMachine`: a parallel state whose regions are compound states, guards that read the
//! answer's data, one of which panics on the echo `"__proto__"`, a transition on the service's
//! system error to a final state or to an action that fails, an output built from the context
//! with `__executionunits`), each over the in-memory memory. A bit of the input picks the
//! workflow.
//!
//! An input is one of:
//! - an init event built from the bytes (hostile `data`: odd and huge numbers, `2.0`, `-0.0`,
//!   integers beyond 2^53, deep nesting, long strings, odd unicode; hostile or long `subject`,
//!   `type`, `source`, `id`, `dataschema` with wrong versions, `parentid`, `to`, extensions);
//! - raw bytes parsed with `ArvoEvent::from_json_slice`;
//! - a conversation: a well-formed init is resolved first (its workflow completes, fails, or
//!   waits for an answer that the service withholds), then one to three hostile follow-ups on
//!   the same subject are resolved on the same broker (service answers with hostile data, system
//!   error answers with hostile `errorMessage`, the init again, a correct answer after the end,
//!   unknown types, wrong `dataschema` versions, re-used ids, exact re-deliveries, events for the
//!   other workflow), then, if the workflow still waits, a correct answer.
//!
//! Properties:
//! - nothing panics (bar the one guard, whose panic the runtime must contain) and every
//!   `resolve` ends;
//! - an input is refused with an error, completes, or becomes a system error event: a
//!   `resolve` returns an error or a resolution that records something (a reply, a failure, an
//!   unroutable or handled event); a well-formed init gets the completion or a system error,
//!   or waits when its answer is withheld;
//! - every event seen (inputs, outputs, and every event a handler is given) equals itself after
//!   a JSON write and parse;
//! - no task of a broker outlives it;
//! - error messages (broker, handler, memory, system error events) quote a bounded prefix of
//!   an attribute, never a long attribute whole, and stay small;
//! - a workflow's memory record survives hostile follow-ups: it reads back from its own JSON;
//!   a finished or failed workflow's record never changes; a waiting workflow's record keeps
//!   its subject, init event id and context, and changes only by finishing (with its completion
//!   event) or failing (with its system error event); a correct answer then still completes a
//!   workflow that waits.
#![no_main]

use arvo_runtime::arvo_contract;
use arvo_runtime::broker::{BrokerError, EventBroker, Resolution, Verdict};
use arvo_runtime::contract::VersionedContract;
use arvo_runtime::event::{ArvoEvent, ArvoEventBuilder, EventIdInput};
use arvo_runtime::factory::{ArvoOrchestratorEventFactory, EventInput};
use arvo_runtime::handler::{
    ArvoEventHandler, HandlerError, HandlerInput, HandlerResult, ParentContext, RawOutput,
};
use arvo_runtime::issue::{MAX_QUOTED_BYTES, quote_prefix};
use arvo_runtime::machine::{ArvoMachine, MachineStatus};
use arvo_runtime::memory::{InMemoryMemory, MachineMemory};
use arvo_runtime::orchestration::{NormalRecord, OrchestrationRecord};
use arvo_runtime::orchestrator::{ArvoOrchestrator, OrchestratorMemoryRecord};
use arvo_runtime::resumable::{
    ArvoResumable, Outcome, ResumableHandler, ResumableMemoryRecord, ResumableStatus, ServiceEvent,
    Step, StepEvent,
};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The service's input.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AddInput {
    /// a
    pub a: f64,
    /// b
    pub b: f64,
    /// Anything, echoed back.
    pub payload: Option<Value>,
}

/// The service's output.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AddResult {
    /// The sum.
    pub result: f64,
    /// The payload, echoed.
    pub echo: Option<Value>,
}

/// The service `com.fuzz.add`.
#[arvo_contract(uri = "#/fuzz/add", type = "fuzz.add", simple,
    version("1.0.0", accepts = AddInput, emits = AddResult))]
pub struct FuzzAdd;

/// The resumable workflow `arvo.orc.fuzz.flow`.
#[arvo_contract(uri = "#/fuzz/flow", orchestrator = "fuzz.flow",
    version("1.0.0", init = AddInput, complete = AddResult))]
pub struct FuzzFlow;

/// The machine workflow `arvo.orc.fuzz.mflow`.
#[arvo_contract(uri = "#/fuzz/mflow", orchestrator = "fuzz.mflow",
    version("1.0.0", init = AddInput, complete = AddResult))]
pub struct FuzzMflow;

/// What the resumable keeps between steps.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FlowContext {
    a: f64,
    b: f64,
    payload: Option<Value>,
}

/// init -> `com.fuzz.add {a, b, payload}`; its answer -> completion; its system error -> a
/// thrown error (the workflow's system error event) quoting a bounded prefix of its message.
struct Flow;

impl ResumableHandler<FuzzFlowV1_0_0> for Flow {
    type Context = FlowContext;
    type Services = ServiceEvent<FuzzAddV1_0_0>;

    async fn handle(
        &self,
        step: Step<'_, FuzzFlowV1_0_0, FlowContext, ServiceEvent<FuzzAddV1_0_0>>,
    ) -> Result<Outcome<FuzzFlowV1_0_0, FlowContext>, HandlerError> {
        match &step.event {
            StepEvent::Init(init) => {
                let input = init.data.clone();
                let call = step.call::<FuzzAddV1_0_0>(&input)?;
                Ok(Outcome::wait()
                    .context(FlowContext {
                        a: input.a,
                        b: input.b,
                        payload: input.payload,
                    })
                    .call(call))
            }
            StepEvent::Service(ServiceEvent::Emitted(FuzzAddV1_0_0Emits::Success(r))) => {
                Ok(Outcome::wait().complete(FuzzFlowV1_0_0Emits::Complete(r.clone())))
            }
            StepEvent::Service(ServiceEvent::SystemError(e)) => Err(HandlerError::msg(format!(
                "add service failed: {}",
                quote_prefix(&e.error_message)
            ))),
        }
    }
}

/// What the machine keeps between steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineContext {
    a: f64,
    b: f64,
    payload: Option<Value>,
    /// The answer's sum, once taken.
    result: Option<f64>,
    /// The answer's echo, once taken.
    echo: Option<Value>,
    /// Answers that asked to be ignored (`echo.retry`).
    retries: u32,
    /// Why the machine went to `failed`.
    note: Option<String>,
}

/// What the one panicking guard panics with (the panic hook lets it through to the runtime).
const GUARD_PANIC: &str = "fuzz: the answer guard panics on the echo \"__proto__\"";

fn error_message(e: &ArvoEvent) -> &str {
    e.data()
        .get("errorMessage")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The machine of `arvo.orc.fuzz.mflow`:
/// - `work` (parallel): region `call` (`asking` calls the service on entry; an answer whose echo
///   is `"__proto__"` makes a guard panic, one whose echo has `retry` is ignored (counted), one
///   whose result is beyond 1e300 ends in `failed`, any other is taken and goes to the final
///   `answered`; a system error with a short message ends in `failed`, one with a longer
///   message fails the step) and region `tick` (`idle` moves to the final `ticked` at once);
///   when both regions are final, `done`;
/// - `done`, `failed`: final. The output is `{result, echo}` from the context (result -1 when
///   there is none), with `__executionunits` set to the ignored answers when there were any.
fn machine() -> ArvoMachine<MachineContext> {
    ArvoMachine::builder("mflow", FuzzMflow::contract().latest())
        .service("add", FuzzAdd::contract().latest())
        .context(|init| {
            let n = |k: &str| {
                init.data()
                    .get(k)
                    .and_then(Value::as_f64)
                    .ok_or_else(|| HandlerError::msg(format!("init data has no number '{k}'")))
            };
            Ok(MachineContext {
                a: n("a")?,
                b: n("b")?,
                payload: init.data().get("payload").cloned(),
                result: None,
                echo: None,
                retries: 0,
                note: None,
            })
        })
        .output(|c| {
            let mut out = json!({"result": c.result.unwrap_or(-1.0), "echo": c.echo});
            if c.retries > 0 {
                out["__executionunits"] = json!(c.retries);
            }
            Ok(out)
        })
        .initial("work")
        .state("work", |s| {
            s.parallel()
                .state("call", |r| {
                    r.initial("asking")
                        .state("asking", |s| {
                            s.entry(|c, _, out| {
                                out.emit(RawOutput::new(
                                    SERVICE,
                                    json!({"a": c.a, "b": c.b, "payload": c.payload}),
                                ))
                            })
                            .on(ANSWER, |t| {
                                t.guard_named("panicsOnProto", |_, e| {
                                    if e.data().get("echo").and_then(Value::as_str)
                                        == Some("__proto__")
                                    {
                                        std::panic::panic_any(GUARD_PANIC);
                                    }
                                    false
                                })
                            })
                            .on(ANSWER, |t| {
                                t.guard_named("retry", |_, e| {
                                    e.data().get("echo").and_then(|v| v.get("retry")).is_some()
                                })
                                .action(|c, _, _| {
                                    c.retries = c.retries.saturating_add(1);
                                    Ok(())
                                })
                            })
                            .on(ANSWER, |t| {
                                t.target("#mflow.failed")
                                    .guard_named("outOfRange", |_, e| {
                                        e.data()
                                            .get("result")
                                            .and_then(Value::as_f64)
                                            .is_none_or(|r| !r.is_finite() || r.abs() > 1e300)
                                    })
                                    .action(|c, _, _| {
                                        c.note = Some("result out of range".to_owned());
                                        Ok(())
                                    })
                            })
                            .on(ANSWER, |t| {
                                t.target("answered").action(|c, e, _| {
                                    c.result = e.data().get("result").and_then(Value::as_f64);
                                    c.echo = e.data().get("echo").cloned();
                                    Ok(())
                                })
                            })
                            .on(SERVICE_ERROR, |t| {
                                t.target("#mflow.failed")
                                    .guard_named("shortMessage", |_, e| {
                                        error_message(e).len() <= 64
                                    })
                                    .action(|c, e, _| {
                                        c.note = Some(error_message(e).to_owned());
                                        Ok(())
                                    })
                            })
                            .on(SERVICE_ERROR, |t| {
                                t.action(|_, e, _| {
                                    Err(HandlerError::msg(format!(
                                        "add service failed: {}",
                                        quote_prefix(error_message(e))
                                    )))
                                })
                            })
                        })
                        .state("answered", |s| s.final_state())
                })
                .state("tick", |r| {
                    r.initial("idle")
                        .state("idle", |s| s.always(|t| t.target("ticked")))
                        .state("ticked", |s| s.final_state())
                })
                .on_done(|t| t.target("done"))
        })
        .state("done", |s| s.final_state())
        .state("failed", |s| s.final_state())
        .build()
        .expect("the machine builds")
}

/// The service's payload that makes it withhold its answer (the workflow waits).
fn wait_marker() -> Value {
    json!({"fuzz": "wait"})
}

fn add(input: HandlerInput<'_>) -> HandlerResult {
    let d = input.event.data();
    if d.get("payload") == Some(&wait_marker()) {
        return Ok(vec![]);
    }
    let a = d.get("a").and_then(Value::as_f64).unwrap_or_default();
    let b = d.get("b").and_then(Value::as_f64).unwrap_or_default();
    if a < 0.0 {
        return Err(HandlerError::msg(format!("negative a={a}")));
    }
    Ok(vec![RawOutput::new(
        ANSWER,
        json!({"result": a + b, "echo": d.get("payload").cloned().unwrap_or(Value::Null)}),
    )])
}

#[path = "bytes.rs"]
mod bytes;
use bytes::Bytes;

/// Numbers JavaScript and Rust disagree on, or that sit on an edge.
fn number(b: &mut Bytes<'_>) -> Value {
    match b.next() % 16 {
        0 => json!(2.0),
        1 => json!(-0.0),
        2 => json!(1e300),
        3 => json!(-1e300),
        4 => json!(9_007_199_254_740_993u64),
        5 => json!(u64::MAX),
        6 => json!(i64::MIN),
        7 => json!(0.1),
        8 => json!(1e21),
        9 => json!(1e-7),
        10 => json!(5e-324),
        11 => json!(1.7976931348623157e308),
        12 => json!(-(b.next() as i64)),
        13 => json!(b.next() as f64 / 8.0),
        14 => json!(123_456_789_012_345_678u64),
        _ => json!(b.next()),
    }
}

/// Odd strings: empty, control characters, BOM, line separators, combining marks, emoji,
/// key-like text, or a long run.
fn string(b: &mut Bytes<'_>) -> String {
    match b.next() % 10 {
        0 => String::new(),
        1 => "\u{0}\u{1f}\"\\/".to_owned(),
        2 => "\u{feff}\u{2028}\u{2029}".to_owned(),
        3 => "e\u{301}\u{200d}\u{1f600}".to_owned(),
        4 => "__proto__".to_owned(),
        5 => "42".to_owned(),
        6 => "x".repeat(1 + b.next() * 16),
        7 => "é".repeat(1 + b.next() * 8),
        8 => "%E0%A4%A".to_owned(),
        _ => format!("k{}", b.next()),
    }
}

/// A hostile JSON value of at most `depth` levels.
fn value(b: &mut Bytes<'_>, depth: usize) -> Value {
    let pick = b.next();
    if depth == 0 || b.done() {
        return number(b);
    }
    match pick % 8 {
        0 => number(b),
        1 => Value::String(string(b)),
        2 => Value::Bool(pick & 8 != 0),
        3 => Value::Null,
        4 => Value::Array((0..b.next() % 4).map(|_| value(b, depth - 1)).collect()),
        5 => {
            let mut m = Map::new();
            for _ in 0..b.next() % 4 {
                let k = string(b);
                m.insert(k, value(b, depth - 1));
            }
            Value::Object(m)
        }
        // Deep nesting: arrays or objects `n` levels deep.
        6 => {
            let n = b.next() * 2;
            let mut v = number(b);
            for i in 0..n {
                v = if i % 2 == 0 {
                    Value::Array(vec![v])
                } else {
                    json!({ "d": v })
                };
            }
            v
        }
        _ => Value::String(string(b)),
    }
}

/// A long attribute value (longer than an error may quote).
fn long(fill: &str, b: &mut Bytes<'_>) -> String {
    format!(
        "com.fuzz.{}",
        fill.repeat(MAX_QUOTED_BYTES + 1 + b.next() * 8)
    )
}

/// The long attribute values of the input: no error message may hold one of them whole.
#[derive(Default)]
struct Longs(Vec<String>);

impl Longs {
    fn add(&mut self, s: String) -> String {
        self.0.push(s.clone());
        s
    }

    /// `message` is bounded and quotes no long attribute whole.
    fn check(&self, what: &str, message: &str) {
        // Several bounded quotes, the reference's prefixes and a schema's issues fit.
        assert!(
            message.len() <= 16 * MAX_QUOTED_BYTES,
            "{what}: a {}-byte message",
            message.len()
        );
        for l in &self.0 {
            assert!(
                !message.contains(l.as_str()),
                "{what}: the message quotes a {}-byte attribute whole: {}",
                l.len(),
                message.chars().take(300).collect::<String>()
            );
        }
    }
}

/// The event equals itself after a JSON write and parse.
fn round_trip(e: &ArvoEvent) {
    let text = e.to_json_string();
    let back = match ArvoEvent::from_json_str(&text) {
        Ok(back) => back,
        Err(err) => panic!("our own output did not parse: {err}\n{text}"),
    };
    assert_eq!(&back, e, "the JSON round trip changed the event:\n{text}");
}

/// The checks on a resolution: round trips, bounded messages, nothing lost.
fn check_resolution(input: &ArvoEvent, res: &Resolution, longs: &Longs) {
    for e in res
        .events
        .iter()
        .chain(&res.unroutable)
        .chain(&res.domained)
    {
        round_trip(e);
        // The input itself may be unroutable, with any type.
        if e.event_type().starts_with("sys.") && e.id() != input.id() {
            let msg = e
                .data()
                .get("errorMessage")
                .and_then(Value::as_str)
                .unwrap_or_default();
            assert!(!msg.is_empty(), "a system error without a message");
            longs.check("system error event", msg);
            if let Some(stack) = e.data().get("errorStack").and_then(Value::as_str) {
                longs.check("system error stack", stack);
            }
        }
    }
    for f in res.errors.iter().chain(&res.suppressed) {
        longs.check("broker failure", &f.to_string());
    }
    assert!(
        res.handled > 0
            || !res.events.is_empty()
            || !res.errors.is_empty()
            || !res.unroutable.is_empty()
            || !res.domained.is_empty(),
        "the input vanished: {res:?}"
    );
}

/// The two workflows on the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workflow {
    /// `arvo.orc.fuzz.flow`, the resumable.
    Resumable,
    /// `arvo.orc.fuzz.mflow`, the machine orchestrator.
    Machine,
}

impl Workflow {
    fn pick(bit: bool) -> Self {
        if bit { Self::Machine } else { Self::Resumable }
    }

    fn other(self) -> Self {
        match self {
            Self::Resumable => Self::Machine,
            Self::Machine => Self::Resumable,
        }
    }

    /// Its init type, source and `to`.
    fn name(self) -> &'static str {
        match self {
            Self::Resumable => "arvo.orc.fuzz.flow",
            Self::Machine => "arvo.orc.fuzz.mflow",
        }
    }

    /// Its contract's URI.
    fn uri(self) -> &'static str {
        match self {
            Self::Resumable => "#/fuzz/flow",
            Self::Machine => "#/fuzz/mflow",
        }
    }

    fn contract(self) -> VersionedContract {
        match self {
            Self::Resumable => FuzzFlow::contract().latest(),
            Self::Machine => FuzzMflow::contract().latest(),
        }
    }

    /// Its completion event type.
    fn done(self) -> String {
        format!("{}.done", self.name())
    }

    /// Its system error event type.
    fn error(self) -> String {
        format!("sys.{}.error", self.name())
    }
}

const CLIENT: &str = "com.fuzz.client";
const SERVICE: &str = "com.fuzz.add";
const ANSWER: &str = "evt.fuzz.add.success";
const SERVICE_ERROR: &str = "sys.com.fuzz.add.error";
const ADD_SCHEMA: &str = "#/fuzz/add/1.0.0";

/// The resumable under test.
type FlowMemory = InMemoryMemory<ResumableMemoryRecord<FlowContext>>;
type Resumable = ArvoResumable<FlowMemory, FlowContext>;
/// The orchestrator under test.
type MachineMemoryOf = InMemoryMemory<OrchestratorMemoryRecord<MachineContext>>;
type Orchestrator = ArvoOrchestrator<MachineMemoryOf, MachineContext>;

/// The handlers, and the memories their workflows are kept in.
struct Parts {
    resumable: Resumable,
    orchestrator: Orchestrator,
    service: ArvoEventHandler,
    flow_memory: FlowMemory,
    machine_memory: MachineMemoryOf,
}

fn parts() -> Parts {
    let flow_memory = FlowMemory::new();
    let machine_memory = MachineMemoryOf::new();
    let resumable = ArvoResumable::builder(
        FuzzFlow::orchestrator_contract().clone(),
        flow_memory.clone(),
    )
    .handler::<FuzzFlowV1_0_0, _>(Arc::new(Flow))
    .build()
    .expect("the resumable builds");
    let orchestrator = ArvoOrchestrator::builder(machine_memory.clone())
        .machine(machine())
        .build()
        .expect("the orchestrator builds");
    let service = ArvoEventHandler::builder(FuzzAdd::contract().clone())
        .version_sync("1.0.0", add)
        .build()
        .expect("the service builds");
    Parts {
        resumable,
        orchestrator,
        service,
        flow_memory,
        machine_memory,
    }
}

/// A broker with both workflows and the service, with what it keeps and sees.
struct Rig {
    broker: EventBroker,
    flow_memory: FlowMemory,
    machine_memory: MachineMemoryOf,
    /// Every event a handler was given (an input middleware's log).
    seen: Arc<Mutex<Vec<ArvoEvent>>>,
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
}

fn block_on<F: Future>(f: F) -> F::Output {
    RUNTIME.with(|rt| rt.block_on(f))
}

impl Rig {
    fn new() -> Self {
        let Parts {
            resumable,
            orchestrator,
            service,
            flow_memory,
            machine_memory,
        } = parts();
        let seen: Arc<Mutex<Vec<ArvoEvent>>> = Arc::default();
        let log = Arc::clone(&seen);
        let broker = EventBroker::builder()
            .max_events_per_resolve(64)
            .input_middleware(move |event, _handler| {
                log.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(event.clone());
                Verdict::Pass
            })
            .handler(Arc::new(resumable))
            .handler(Arc::new(orchestrator))
            .handler(Arc::new(service))
            .build()
            .expect("the broker builds");
        Self {
            broker,
            flow_memory,
            machine_memory,
            seen,
        }
    }

    /// Resolves `event` (it must end, and leave nothing behind); every event a handler was
    /// given makes a JSON round trip. Returns the result and those events.
    fn resolve(&self, event: ArvoEvent) -> (Result<Resolution, BrokerError>, Vec<ArvoEvent>) {
        let result = block_on(async {
            let r = tokio::time::timeout(Duration::from_secs(20), self.broker.resolve(event))
                .await
                .expect("resolve must end");
            tokio::time::timeout(Duration::from_secs(20), self.broker.idle())
                .await
                .expect("the broker must drain");
            r
        });
        assert_eq!(self.broker.pending(), 0);
        let seen = std::mem::take(&mut *self.seen.lock().unwrap_or_else(PoisonError::into_inner));
        for e in &seen {
            round_trip(e);
        }
        (result, seen)
    }

    /// The workflow's record of `subject`, summarised; it must read back from its own JSON.
    fn record(&self, workflow: Workflow, subject: &str) -> Record {
        match workflow {
            Workflow::Resumable => {
                let read = block_on(self.flow_memory.read(subject));
                let rec = read.expect("the in-memory memory reads").map(|v| v.value);
                summarise(rec, |n| {
                    let context = n.context.as_ref().map(|c| (c.a, c.b, c.payload.clone()));
                    (
                        n.status == ResumableStatus::Done,
                        n.subject.to_string(),
                        context,
                    )
                })
            }
            Workflow::Machine => {
                let read = block_on(self.machine_memory.read(subject));
                let rec = read.expect("the in-memory memory reads").map(|v| v.value);
                summarise(rec, |n| {
                    assert_eq!(
                        n.status, n.state.status,
                        "the record's status is its snapshot's"
                    );
                    assert_eq!(
                        n.value, n.state.value,
                        "the record's value is its snapshot's"
                    );
                    let c = &n.state.context;
                    let context = Some((c.a, c.b, c.payload.clone()));
                    (
                        n.status == MachineStatus::Done,
                        n.subject.to_string(),
                        context,
                    )
                })
            }
        }
    }

    /// Drops the broker: no task (nor the handlers and memory it holds) may outlive it.
    fn finish(self) {
        let Self { broker, .. } = self;
        // A dropped broker aborts its dispatcher tasks; the runtime frees them once it runs its
        // queue, which a `block_on` whose future is ready at once never does: run it.
        drop(broker);
        let alive = block_on(async {
            let metrics = tokio::runtime::Handle::current().metrics();
            for _ in 0..64 {
                if metrics.num_alive_tasks() == 0 {
                    break;
                }
                tokio::task::yield_now().await;
            }
            metrics.num_alive_tasks()
        });
        assert_eq!(alive, 0, "tasks outlived their broker");
    }
}

/// What must not change in a running workflow's record.
#[derive(Debug, Clone, PartialEq)]
struct Facts {
    init_event_id: String,
    subject: String,
    parent_subject: Option<String>,
    /// `a`, `b` and the payload, from the context.
    context: Option<(f64, f64, Option<Value>)>,
}

/// A workflow's record, as the properties look at it.
#[derive(Debug, Clone, PartialEq)]
enum Record {
    /// No record.
    Missing,
    /// The failure record, as JSON.
    Failure(String),
    /// A running workflow.
    Active(Facts),
    /// A finished workflow: the whole record as JSON, and its facts.
    Done(String, Facts),
}

/// What a handler kind's record tells beyond [`NormalRecord`]: whether the workflow is done, its
/// subject, and `a`, `b` and the payload from its context.
type KindFacts = (bool, String, Option<(f64, f64, Option<Value>)>);

/// `rec` as a [`Record`], once it has read back from its JSON as a durable memory would.
fn summarise<N>(rec: Option<OrchestrationRecord<N>>, kind: impl Fn(&N) -> KindFacts) -> Record
where
    N: Serialize + DeserializeOwned + NormalRecord,
{
    let Some(rec) = rec else {
        return Record::Missing;
    };
    let text = serde_json::to_string(&rec).expect("a record writes as JSON");
    let back: OrchestrationRecord<N> = match serde_json::from_str(&text) {
        Ok(back) => back,
        Err(e) => panic!("a stored record did not read back: {e}\n{text}"),
    };
    assert_eq!(
        serde_json::to_string(&back).expect("a record writes as JSON"),
        text,
        "a stored record changed in a JSON round trip"
    );
    match &rec {
        OrchestrationRecord::Failure(_) => Record::Failure(text),
        OrchestrationRecord::Normal(n) => {
            let (done, subject, context) = kind(n);
            let f = Facts {
                init_event_id: n.init_event_id().to_owned(),
                subject,
                parent_subject: n.parent_subject().map(str::to_owned),
                context,
            };
            if done {
                Record::Done(text, f)
            } else {
                Record::Active(f)
            }
        }
    }
}

/// A valid subject of `workflow` (a fresh execution).
fn valid_subject(workflow: Workflow) -> String {
    let init = ArvoOrchestratorEventFactory::new(workflow.contract())
        .expect("an orchestrator contract")
        .init(EventInput::new(
            CLIENT,
            json!({"a": 1, "b": 2, "payload": null, "parentSubject$$": null}),
        ))
        .expect("a valid init");
    init.subject().to_owned()
}

/// How far an event built from the bytes strays from a well-formed init.
struct Built {
    event: ArvoEvent,
    /// A well-formed init: it must get the completion or a system error.
    clean: bool,
}

fn build(b: &mut Bytes<'_>, longs: &mut Longs, workflow: Workflow) -> Option<Built> {
    let flags = b.next() | (b.next() << 8);
    let mut clean = true;
    let mut bad = |bit: usize| {
        let set = flags & (1 << bit) != 0;
        clean &= !set;
        set
    };
    let flow = workflow.name();
    let subject = if bad(0) {
        match b.next() % 5 {
            0 => longs.add(long("s", b)),
            1 => string(b),
            2 => "eJwrSS0uKSjKz0nVKy5KTQYAPpQGYg".to_owned(),
            3 => valid_subject(workflow.other()),
            _ => valid_subject(workflow).replace('A', "B"),
        }
    } else {
        valid_subject(workflow)
    };
    let event_type = if bad(1) {
        match b.next() % 4 {
            0 => longs.add(long("t", b)),
            1 => SERVICE.to_owned(),
            2 => workflow.other().name().to_owned(),
            _ => SERVICE_ERROR.to_owned(),
        }
    } else {
        flow.to_owned()
    };
    let source = if bad(2) {
        match b.next() % 3 {
            0 => longs.add(long("c", b)),
            1 => SERVICE.to_owned(),
            _ => flow.to_owned(),
        }
    } else {
        CLIENT.to_owned()
    };
    let uri = workflow.uri();
    let dataschema = if bad(3) {
        match b.next() % 6 {
            0 => Some(longs.add(format!("{uri}/1.0.{}", "9".repeat(MAX_QUOTED_BYTES + 1)))),
            1 => Some(format!("{uri}/9.9.9")),
            2 => Some(ADD_SCHEMA.to_owned()),
            3 => Some(longs.add(format!("#/{}/1.0.0", "u".repeat(MAX_QUOTED_BYTES + 1)))),
            4 => Some(format!("{}/1.0.0", workflow.other().uri())),
            _ => None,
        }
    } else {
        Some(format!("{uri}/1.0.0"))
    };
    let to = if bad(4) {
        match b.next() % 4 {
            0 => longs.add(long("to", b)),
            1 => SERVICE.to_owned(),
            2 => workflow.other().name().to_owned(),
            _ => "com.fuzz.nobody".to_owned(),
        }
    } else {
        flow.to_owned()
    };
    let mut data = Map::new();
    if bad(5) {
        // Wrong or missing fields.
        for _ in 0..b.next() % 4 {
            let k = match b.next() % 4 {
                0 => "a".to_owned(),
                1 => "b".to_owned(),
                2 => "parentSubject$$".to_owned(),
                _ => string(b),
            };
            data.insert(k, value(b, 3));
        }
    } else {
        // Numbers the schema takes, some beyond what JavaScript holds exactly.
        data.insert("a".into(), number(b));
        data.insert("b".into(), number(b));
        data.insert("parentSubject$$".into(), Value::Null);
    }
    data.insert("payload".into(), value(b, 4));
    let mut builder = ArvoEvent::builder()
        .source(source)
        .event_type(event_type)
        .subject(subject)
        .to(to)
        .dataschema(dataschema)
        .data(data);
    if bad(6) {
        builder = builder.id(EventIdInput::DeveloperManaged(longs.add(long("i", b))));
    }
    if bad(7) {
        let parentid = match b.next() % 2 {
            0 => longs.add(long("p", b)),
            _ => string(b),
        };
        builder = builder.parentid(parentid);
    }
    // Extensions do not stray from a well-formed init.
    for _ in 0..b.next() % 3 {
        let key = match b.next() % 4 {
            0 => "tenant".to_owned(),
            1 => "42".to_owned(),
            2 => format!("x{}", b.next()),
            _ => string(b).to_ascii_lowercase(),
        };
        let v = match b.next() % 4 {
            0 => number(b),
            1 => Value::String(string(b)),
            2 => Value::Bool(true),
            _ => Value::Null,
        };
        builder = builder.extension_json(key, v);
    }
    if bad(8) {
        builder = builder.redirectto(longs.add(long("r", b)));
    }
    // Nor do trace context, access control and cost.
    builder = extras(b, builder, longs);
    if bad(9) {
        builder = builder.domain(match b.next() % 3 {
            0 => longs.add(long("d", b)),
            1 => string(b),
            _ => "human.review".to_owned(),
        });
    }
    match builder.build() {
        Ok(event) => Some(Built { event, clean }),
        Err(e) => {
            longs.check("event build error", &e.to_string());
            None
        }
    }
}

/// Attributes a well-formed event may carry, hostile: a trace context (valid, unsampled, zero,
/// future or odd versions, long), access control and a cost.
fn extras(b: &mut Bytes<'_>, mut builder: ArvoEventBuilder, longs: &mut Longs) -> ArvoEventBuilder {
    let flags = b.next();
    if flags & 1 != 0 {
        let ids = "0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331";
        builder = builder.traceparent(match b.next() % 8 {
            0 => format!("00-{ids}-01"),
            1 => format!("00-{ids}-00"),
            2 => "00-00000000000000000000000000000000-b7ad6b7169203331-01".to_owned(),
            3 => format!("ff-{ids}-01"),
            4 => format!("01-{ids}-01-extra"),
            5 => format!("00-{}-01", ids.to_ascii_uppercase()),
            6 => string(b),
            _ => longs.add(long("tp", b)),
        });
    }
    if flags & 2 != 0 {
        builder = builder.tracestate(match b.next() % 6 {
            0 => "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7".to_owned(),
            1 => "a=1,a=2".to_owned(),
            2 => (0..40)
                .map(|i| format!("k{i}=v"))
                .collect::<Vec<_>>()
                .join(","),
            3 => "=,a= b,".to_owned(),
            4 => string(b),
            _ => longs.add(long("ts", b)),
        });
    }
    if flags & 4 != 0 {
        builder = builder.accesscontrol(match b.next() % 3 {
            0 => longs.add(long("ac", b)),
            1 => string(b),
            _ => "role=admin;tenant=t1".to_owned(),
        });
    }
    if flags & 8 != 0 {
        builder = builder.executionunits(match b.next() % 4 {
            0 => 1e308,
            1 => -0.0,
            2 => -1.0,
            _ => b.next() as f64 / 3.0,
        });
    }
    builder
}

/// A resolve error must be one of the refusals of a bad input, with a bounded message.
fn check_resolve_error(e: &BrokerError, longs: &Longs) {
    assert!(
        matches!(
            e,
            BrokerError::MissingTo { .. } | BrokerError::SourceIsHandler { .. }
        ),
        "unexpected resolve error: {e}"
    );
    longs.check("resolve error", &e.to_string());
}

/// Whether a resolution's result is `workflow`'s completion or system error.
fn ended(res: &Resolution, workflow: Workflow) -> bool {
    res.result()
        .is_some_and(|e| e.event_type() == workflow.done() || e.event_type() == workflow.error())
}

/// Runs `event` through a fresh broker and checks what comes back.
fn resolve(event: ArvoEvent, clean: bool, workflow: Workflow, longs: &Longs) {
    let rig = Rig::new();
    let (result, _) = rig.resolve(event.clone());
    rig.finish();
    match result {
        Ok(res) => {
            check_resolution(&event, &res, longs);
            if clean {
                assert!(
                    !res.errors.is_empty() || ended(&res, workflow),
                    "a well-formed init neither completed nor failed: {res:?}"
                );
            }
        }
        Err(e) => check_resolve_error(&e, longs),
    }
}

/// The handlers on their own (no broker): violations are bounded too.
fn execute_directly(event: &ArvoEvent, json: Option<&[u8]>, longs: &Longs) {
    let Parts {
        resumable,
        orchestrator,
        service,
        ..
    } = parts();
    block_on(async {
        for r in [
            resumable.execute(event, ParentContext::Event).await,
            orchestrator.execute(event, ParentContext::Event).await,
            service.execute(event, ParentContext::Event).await,
        ] {
            match r {
                Ok(events) => {
                    for e in &events {
                        round_trip(e);
                    }
                }
                Err(v) => longs.check("violation", &v.to_string()),
            }
        }
        if let Some(json) = json
            && let Err(v) = service.execute_json(json, ParentContext::Event).await
        {
            longs.check("execute_json violation", &v.to_string());
        }
    });
}

/// Hostile `data` of a service answer: a result (a number, or not), an echo (hostile, the
/// guard's `"__proto__"`, or a `retry` request), sometimes an extra key.
fn answer_data(b: &mut Bytes<'_>) -> Map<String, Value> {
    let mut data = Map::new();
    let flags = b.next();
    if flags & 1 == 0 {
        let result = if flags & 2 == 0 {
            number(b)
        } else {
            value(b, 2)
        };
        data.insert("result".into(), result);
    }
    let echo = match b.next() % 6 {
        0 => json!("__proto__"),
        1 => json!({"retry": value(b, 1)}),
        2 => Value::Null,
        _ => value(b, 3),
    };
    data.insert("echo".into(), echo);
    if flags & 4 != 0 {
        let k = string(b);
        data.insert(k, value(b, 2));
    }
    data
}

/// Hostile `data` of a system error answer: a hostile or long `errorMessage`, odd `errorName`
/// and `errorStack`.
fn error_data(b: &mut Bytes<'_>, longs: &mut Longs) -> Map<String, Value> {
    let mut data = Map::new();
    let message = match b.next() % 4 {
        0 => longs.add(long("m", b)),
        1 => "negative a=-1".to_owned(),
        _ => string(b),
    };
    data.insert("errorName".into(), Value::String(string(b)));
    data.insert("errorMessage".into(), Value::String(message));
    let stack = match b.next() % 3 {
        0 => Value::Null,
        1 => Value::String(string(b)),
        _ => value(b, 1),
    };
    data.insert("errorStack".into(), stack);
    data
}

/// A hostile follow-up for the workflow of `init`, on its subject; `earlier` holds every event a
/// handler was given so far.
fn follow_up(
    b: &mut Bytes<'_>,
    workflow: Workflow,
    init: &ArvoEvent,
    earlier: &[ArvoEvent],
    longs: &mut Longs,
) -> Option<ArvoEvent> {
    // The workflow's call to the service, and the events it was given.
    let call = earlier
        .iter()
        .rev()
        .find(|e| e.event_type() == SERVICE && e.subject() == init.subject());
    let given: Vec<&ArvoEvent> = earlier
        .iter()
        .filter(|e| e.to() == Some(workflow.name()) && e.subject() == init.subject())
        .collect();
    let source = match b.next() % 8 {
        0 => SERVICE,
        1 => "com.fuzz.stranger",
        _ => CLIENT,
    };
    let to = if b.next() % 8 == 0 {
        workflow.other().name()
    } else {
        workflow.name()
    };
    let parentid = match (b.next() % 4, call) {
        (0, _) => None,
        (1, _) => Some(string(b)),
        (_, Some(call)) => Some(call.id().to_owned()),
        (_, None) => None,
    };
    let mut id = None;
    let (event_type, dataschema, data) = match b.next() % 8 {
        // A service answer with hostile data.
        0 => (
            ANSWER.to_owned(),
            Some(ADD_SCHEMA.to_owned()),
            answer_data(b),
        ),
        // A system error answer with a hostile message.
        1 => (
            SERVICE_ERROR.to_owned(),
            Some(ADD_SCHEMA.to_owned()),
            error_data(b, longs),
        ),
        // The init again, under its own id or a new one; under a new one it may name a parent
        // (another workflow's subject), which must not replace the workflow's own (none).
        2 => {
            let mut data = init.data().clone();
            match b.next() % 3 {
                0 => id = Some(init.id().to_owned()),
                1 => {
                    let parent = valid_subject(workflow);
                    data.insert("parentSubject$$".into(), Value::String(parent));
                }
                _ => {}
            }
            (
                workflow.name().to_owned(),
                init.dataschema().map(str::to_owned),
                data,
            )
        }
        // A correct answer (after the end, or while the workflow waits).
        3 => (ANSWER.to_owned(), Some(ADD_SCHEMA.to_owned()), correct()),
        // A type no contract of the workflow has.
        4 => {
            let t = match b.next() % 4 {
                0 => "evt.fuzz.add.unknown".to_owned(),
                1 => SERVICE.to_owned(),
                2 => "sys.com.fuzz.other.error".to_owned(),
                _ => longs.add(long("t", b)),
            };
            (t, Some(ADD_SCHEMA.to_owned()), correct())
        }
        // A wrong (or the wildcard) dataschema.
        5 => {
            let ds = match b.next() % 7 {
                0 => Some("#/fuzz/add/9.9.9".to_owned()),
                1 => Some("#/fuzz/add/0.0.0".to_owned()),
                2 => Some(format!("{}/1.0.0", workflow.uri())),
                3 => Some(format!("{}/1.0.0", workflow.other().uri())),
                4 => Some(longs.add(format!(
                    "#/fuzz/add/1.0.{}",
                    "9".repeat(MAX_QUOTED_BYTES + 1)
                ))),
                5 => Some(string(b)),
                _ => None,
            };
            let data = if b.next() % 2 == 0 {
                correct()
            } else {
                answer_data(b)
            };
            (ANSWER.to_owned(), ds, data)
        }
        // An answer re-using the id of an earlier event.
        6 => {
            let pick = b.next();
            id = if earlier.is_empty() {
                Some(init.id().to_owned())
            } else {
                Some(earlier[pick % earlier.len()].id().to_owned())
            };
            let data = if pick & 1 == 0 {
                correct()
            } else {
                answer_data(b)
            };
            (ANSWER.to_owned(), Some(ADD_SCHEMA.to_owned()), data)
        }
        // An exact re-delivery of an event the workflow was given (from a client).
        _ => {
            let e = if given.is_empty() {
                init
            } else {
                given[b.next() % given.len()]
            };
            let mut parts = e.clone().into_parts();
            parts.source = source.to_owned();
            return match ArvoEvent::from_parts(parts) {
                Ok(e) => Some(e),
                Err(e) => {
                    longs.check("event build error", &e.to_string());
                    None
                }
            };
        }
    };
    let mut builder = ArvoEvent::builder()
        .source(source)
        .event_type(event_type)
        .subject(init.subject())
        .to(to)
        .dataschema(dataschema)
        .parentid(parentid)
        .data(data);
    if let Some(id) = id {
        builder = builder.id(EventIdInput::DeveloperManaged(id));
    }
    builder = extras(b, builder, longs);
    if b.next() % 8 == 0 {
        builder = builder.domain(string(b));
    }
    match builder.build() {
        Ok(e) => Some(e),
        Err(e) => {
            longs.check("event build error", &e.to_string());
            None
        }
    }
}

/// A service answer the workflows take.
fn correct() -> Map<String, Value> {
    let Value::Object(m) = json!({"result": 3, "echo": null}) else {
        unreachable!()
    };
    m
}

/// The events of a resolution, wherever they went.
fn outputs(res: &Resolution) -> impl Iterator<Item = &ArvoEvent> {
    res.events
        .iter()
        .chain(&res.unroutable)
        .chain(&res.domained)
}

/// Whether `res` holds an event of type `t` on `subject`.
fn holds(res: &Resolution, t: &str, subject: &str) -> bool {
    outputs(res).any(|e| e.event_type() == t && e.subject() == subject)
}

/// The record after a hostile follow-up, given the record before and what the follow-up's
/// resolution held.
fn check_record_change(
    before: &Record,
    after: &Record,
    res: Option<&Resolution>,
    workflow: Workflow,
    subject: &str,
) {
    match before {
        Record::Missing | Record::Failure(_) | Record::Done(..) => {
            assert_eq!(after, before, "a finished workflow's record changed");
        }
        Record::Active(facts) => match after {
            Record::Missing => panic!("a hostile follow-up lost the record: {facts:?}"),
            Record::Failure(_) => assert!(
                res.is_some_and(|r| holds(r, &workflow.error(), subject)),
                "the workflow failed without a system error event: {res:?}"
            ),
            Record::Active(now) => assert_eq!(now, facts, "a waiting workflow's record changed"),
            Record::Done(_, now) => {
                assert_eq!(now, facts, "the finished record lost the workflow's facts");
                assert!(
                    res.is_some_and(|r| holds(r, &workflow.done(), subject)),
                    "the workflow finished without a completion event: {res:?}"
                );
            }
        },
    }
}

/// A well-formed init, then hostile follow-ups on its subject, on one broker.
fn conversation(b: &mut Bytes<'_>, longs: &mut Longs) {
    let flags = b.next();
    let workflow = Workflow::pick(flags & 1 != 0);
    let wait = flags & 2 != 0;
    let payload = if wait { wait_marker() } else { value(b, 2) };
    let init = ArvoOrchestratorEventFactory::new(workflow.contract())
        .expect("an orchestrator contract")
        .init(EventInput::new(
            CLIENT,
            json!({"a": number(b), "b": number(b), "payload": payload, "parentSubject$$": null}),
        ));
    let init = match init {
        Ok(init) => init,
        Err(e) => {
            longs.check("init build error", &e.to_string());
            return;
        }
    };
    round_trip(&init);
    let subject = init.subject().to_owned();
    let rig = Rig::new();
    let (result, mut earlier) = rig.resolve(init.clone());
    let res = result.expect("a well-formed init is resolved");
    check_resolution(&init, &res, longs);
    let mut record = rig.record(workflow, &subject);
    if wait {
        assert!(
            res.errors.is_empty() && res.events.is_empty(),
            "a workflow whose answer is withheld did something: {res:?}"
        );
        assert!(
            matches!(record, Record::Active(_)),
            "a workflow whose answer is withheld does not wait: {record:?}"
        );
    } else {
        assert!(
            !res.errors.is_empty() || ended(&res, workflow),
            "a well-formed init neither completed nor failed: {res:?}"
        );
    }
    if let Record::Active(facts) | Record::Done(_, facts) = &record {
        assert_eq!(facts.init_event_id, init.id());
        assert_eq!(facts.subject, subject);
        assert_eq!(facts.parent_subject, None);
    }
    if record == Record::Missing {
        // Refused (a violation): there is no workflow to follow up.
        assert!(
            !res.errors.is_empty(),
            "a well-formed init left no record: {res:?}"
        );
        rig.finish();
        return;
    }
    earlier.push(init.clone());
    for _ in 0..1 + b.next() % 3 {
        let Some(event) = follow_up(b, workflow, &init, &earlier, longs) else {
            continue;
        };
        round_trip(&event);
        let (result, seen) = rig.resolve(event.clone());
        earlier.extend(seen);
        earlier.push(event.clone());
        let res = match result {
            Ok(res) => {
                check_resolution(&event, &res, longs);
                Some(res)
            }
            Err(e) => {
                check_resolve_error(&e, longs);
                None
            }
        };
        let after = rig.record(workflow, &subject);
        check_record_change(&record, &after, res.as_ref(), workflow, &subject);
        record = after;
    }
    // A workflow that still waits takes a correct answer.
    if let Record::Active(_) = record {
        let call = earlier
            .iter()
            .rev()
            .find(|e| e.event_type() == SERVICE && e.subject() == subject)
            .map(|e| e.id().to_owned());
        let answer = ArvoEvent::builder()
            .source(CLIENT)
            .event_type(ANSWER)
            .subject(subject.as_str())
            .to(workflow.name())
            .dataschema(ADD_SCHEMA)
            .parentid(call)
            .data(correct())
            .build()
            .expect("a correct answer builds");
        let (result, _) = rig.resolve(answer.clone());
        let res = result.expect("a correct answer is resolved");
        check_resolution(&answer, &res, longs);
        assert!(
            res.result()
                .is_some_and(|e| e.event_type() == workflow.done()),
            "a correct answer did not complete a waiting workflow: {res:?}"
        );
        let after = rig.record(workflow, &subject);
        assert!(
            matches!(after, Record::Done(..)),
            "a completed workflow's record is not done: {after:?}"
        );
        check_record_change(&record, &after, Some(&res), workflow, &subject);
    }
    rig.finish();
}

/// Lets the guard's panic unwind into the runtime (libFuzzer's hook aborts on any panic, caught
/// or not); every other panic still aborts.
fn let_the_guard_panic() {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() == Some(&GUARD_PANIC) {
            return;
        }
        hook(info);
    }));
}

libfuzzer_sys::fuzz_target!(init: let_the_guard_panic(), |data: &[u8]| {
    let mut b = Bytes(data);
    let mode = b.next();
    let mut longs = Longs::default();
    match mode % 4 {
        // Raw bytes through the public parser.
        3 => {
            let raw = b.0;
            match ArvoEvent::from_json_slice(raw) {
                Ok(event) => {
                    round_trip(&event);
                    execute_directly(&event, Some(raw), &longs);
                    resolve(event, false, Workflow::Resumable, &longs);
                }
                Err(e) => longs.check("parse error", &e.to_string()),
            }
        }
        2 => conversation(&mut b, &mut longs),
        _ => {
            let workflow = Workflow::pick(mode & 8 != 0);
            let Some(Built { event, clean }) = build(&mut b, &mut longs, workflow) else {
                return;
            };
            round_trip(&event);
            if mode & 4 != 0 {
                execute_directly(&event, None, &longs);
            }
            resolve(event, clean, workflow, &longs);
        }
    }
});
