//! Hostile events driven through a whole workflow, on the user's path: an `EventBroker` with a
//! resumable (`ArvoResumable` with a hand-written `ResumableHandler`, over the in-memory
//! memory) that calls a service handler (`ArvoEventHandler`), which echoes a payload back.
//!
//! An input is either an init event built from the bytes (hostile `data`: odd and huge numbers,
//! `2.0`, `-0.0`, integers beyond 2^53, deep nesting, long strings, odd unicode; hostile or
//! long `subject`, `type`, `source`, `id`, `dataschema` with wrong versions, `parentid`,
//! `to`, extensions) or raw bytes parsed with `ArvoEvent::from_json_slice`. Properties:
//! - nothing panics and every `resolve` ends;
//! - an input is refused with an error, completes, or becomes a system error event: a
//!   `resolve` returns an error or a resolution that records something (a reply, a failure, an
//!   unroutable or handled event); a well-formed init gets the completion or a system error;
//! - every event seen (inputs and outputs) equals itself after a JSON write and parse;
//! - no task of a broker outlives it;
//! - error messages (broker, handler, memory, system error events) quote a bounded prefix of
//!   an attribute, never a long attribute whole, and stay small.
#![no_main]

use arvo_runtime::arvo_contract;
use arvo_runtime::broker::{BrokerError, EventBroker, Resolution};
use arvo_runtime::event::{ArvoEvent, EventIdInput};
use arvo_runtime::factory::{ArvoOrchestratorEventFactory, EventInput};
use arvo_runtime::handler::{
    ArvoEventHandler, HandlerError, HandlerInput, HandlerResult, ParentContext, RawOutput,
};
use arvo_runtime::issue::MAX_QUOTED_BYTES;
use arvo_runtime::memory::InMemoryMemory;
use arvo_runtime::resumable::{
    ArvoResumable, Outcome, ResumableHandler, ResumableMemoryRecord, ServiceEvent, Step, StepEvent,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::sync::Arc;
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

/// The workflow `arvo.orc.fuzz.flow`.
#[arvo_contract(uri = "#/fuzz/flow", orchestrator = "fuzz.flow",
    version("1.0.0", init = AddInput, complete = AddResult))]
pub struct FuzzFlow;

/// What the resumable keeps between steps.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FlowContext {
    a: f64,
    b: f64,
    payload: Option<Value>,
}

/// init -> `com.fuzz.add {a, b, payload}`; its answer -> completion; its system error -> a
/// thrown error (the workflow's system error event).
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
                e.error_message
            ))),
        }
    }
}

fn add(input: HandlerInput<'_>) -> HandlerResult {
    let d = input.event.data();
    let a = d.get("a").and_then(Value::as_f64).unwrap_or_default();
    let b = d.get("b").and_then(Value::as_f64).unwrap_or_default();
    if a < 0.0 {
        return Err(HandlerError::msg(format!("negative a={a}")));
    }
    Ok(vec![RawOutput::new(
        "evt.fuzz.add.success",
        json!({"result": a + b, "echo": d.get("payload").cloned().unwrap_or(Value::Null)}),
    )])
}

const CLIENT: &str = "com.fuzz.client";
const FLOW: &str = "arvo.orc.fuzz.flow";
const SERVICE: &str = "com.fuzz.add";

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

/// The resumable under test.
type Resumable = ArvoResumable<InMemoryMemory<ResumableMemoryRecord<FlowContext>>, FlowContext>;

fn parts() -> (Resumable, ArvoEventHandler) {
    let resumable = ArvoResumable::builder(
        FuzzFlow::orchestrator_contract().clone(),
        InMemoryMemory::new(),
    )
    .handler::<FuzzFlowV1_0_0, _>(Arc::new(Flow))
    .build()
    .expect("the resumable builds");
    let service = ArvoEventHandler::builder(FuzzAdd::contract().clone())
        .version_sync("1.0.0", add)
        .build()
        .expect("the service builds");
    (resumable, service)
}

fn broker() -> EventBroker {
    let (resumable, service) = parts();
    EventBroker::builder()
        .max_events_per_resolve(64)
        .handler(Arc::new(resumable))
        .handler(Arc::new(service))
        .build()
        .expect("the broker builds")
}

/// A valid subject of the workflow (a fresh execution).
fn valid_subject() -> String {
    let init = ArvoOrchestratorEventFactory::new(FuzzFlow::contract().latest())
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

fn build(b: &mut Bytes<'_>, longs: &mut Longs) -> Option<Built> {
    let flags = b.next() | (b.next() << 8);
    let mut clean = true;
    let mut bad = |bit: usize| {
        let set = flags & (1 << bit) != 0;
        clean &= !set;
        set
    };
    let subject = if bad(0) {
        match b.next() % 4 {
            0 => longs.add(long("s", b)),
            1 => string(b),
            2 => "eJwrSS0uKSjKz0nVKy5KTQYAPpQGYg".to_owned(),
            _ => valid_subject().replace('A', "B"),
        }
    } else {
        valid_subject()
    };
    let event_type = if bad(1) {
        match b.next() % 3 {
            0 => longs.add(long("t", b)),
            1 => SERVICE.to_owned(),
            _ => "sys.com.fuzz.add.error".to_owned(),
        }
    } else {
        FLOW.to_owned()
    };
    let source = if bad(2) {
        match b.next() % 3 {
            0 => longs.add(long("c", b)),
            1 => SERVICE.to_owned(),
            _ => FLOW.to_owned(),
        }
    } else {
        CLIENT.to_owned()
    };
    let dataschema = if bad(3) {
        match b.next() % 5 {
            0 => Some(longs.add(format!(
                "#/fuzz/flow/1.0.{}",
                "9".repeat(MAX_QUOTED_BYTES + 1)
            ))),
            1 => Some("#/fuzz/flow/9.9.9".to_owned()),
            2 => Some("#/fuzz/add/1.0.0".to_owned()),
            3 => Some(longs.add(format!("#/{}/1.0.0", "u".repeat(MAX_QUOTED_BYTES + 1)))),
            _ => None,
        }
    } else {
        Some("#/fuzz/flow/1.0.0".to_owned())
    };
    let to = if bad(4) {
        match b.next() % 3 {
            0 => longs.add(long("to", b)),
            1 => SERVICE.to_owned(),
            _ => "com.fuzz.nobody".to_owned(),
        }
    } else {
        FLOW.to_owned()
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
    match builder.build() {
        Ok(event) => Some(Built { event, clean }),
        Err(e) => {
            longs.check("event build error", &e.to_string());
            None
        }
    }
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
}

/// Runs `event` through a fresh broker and checks what comes back.
fn resolve(event: ArvoEvent, clean: bool, longs: &Longs) {
    let broker = broker();
    let result = RUNTIME.with(|rt| {
        rt.block_on(async {
            let r = tokio::time::timeout(Duration::from_secs(20), broker.resolve(event.clone()))
                .await
                .expect("resolve must end");
            tokio::time::timeout(Duration::from_secs(20), broker.idle())
                .await
                .expect("the broker must drain");
            r
        })
    });
    assert_eq!(broker.pending(), 0);
    // A dropped broker aborts its dispatcher tasks; the runtime frees them once it runs its
    // queue, which a `block_on` whose future is ready at once never does: run it, so that no
    // task (nor the handlers and memory it holds) outlives its broker.
    drop(broker);
    let alive = RUNTIME.with(|rt| {
        rt.block_on(async {
            let metrics = tokio::runtime::Handle::current().metrics();
            for _ in 0..64 {
                if metrics.num_alive_tasks() == 0 {
                    break;
                }
                tokio::task::yield_now().await;
            }
            metrics.num_alive_tasks()
        })
    });
    assert_eq!(alive, 0, "tasks outlived their broker");
    match result {
        Ok(res) => {
            check_resolution(&event, &res, longs);
            if clean {
                let last = res.result().map(ArvoEvent::event_type);
                assert!(
                    !res.errors.is_empty()
                        || matches!(
                            last,
                            Some("arvo.orc.fuzz.flow.done" | "sys.arvo.orc.fuzz.flow.error")
                        ),
                    "a well-formed init neither completed nor failed: {res:?}"
                );
            }
        }
        Err(e) => {
            assert!(
                matches!(
                    e,
                    BrokerError::MissingTo { .. } | BrokerError::SourceIsHandler { .. }
                ),
                "unexpected resolve error: {e}"
            );
            longs.check("resolve error", &e.to_string());
        }
    }
}

/// The handlers on their own (no broker): violations are bounded too.
fn execute_directly(event: &ArvoEvent, json: Option<&[u8]>, longs: &Longs) {
    let (resumable, service) = parts();
    RUNTIME.with(|rt| {
        rt.block_on(async {
            for r in [
                resumable.execute(event, ParentContext::Event).await,
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
    });
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let mode = b.next();
    let mut longs = Longs::default();
    if mode % 4 == 3 {
        // Raw bytes through the public parser.
        let raw = b.0;
        match ArvoEvent::from_json_slice(raw) {
            Ok(event) => {
                round_trip(&event);
                execute_directly(&event, Some(raw), &longs);
                resolve(event, false, &longs);
            }
            Err(e) => longs.check("parse error", &e.to_string()),
        }
        return;
    }
    let Some(Built { event, clean }) = build(&mut b, &mut longs) else {
        return;
    };
    round_trip(&event);
    if mode & 4 != 0 {
        execute_directly(&event, None, &longs);
    }
    resolve(event, clean, &longs);
});
