//! `orchestrator_workflow.json` reproduced step by step: the `ArvoOrchestrator` over machine M
//! (`benchCalcMachineV100`) and the calc handler H1 consume the events of the chain (the init
//! from the vector, then each other's outputs); every consumed event, every outcome (events or
//! thrown violation), every memory call (read: found or not; write: had a previous record, and
//! the record written) and the memory record after each orchestrator step equal the vector's,
//! once the random fields are replaced by placeholders (ids by first appearance, times, error
//! stacks). Then each case once more through the `EventBroker` (the vector's
//! `simpleEventBroker`: the events published, in order, and the event resolved).
//!
//! Deliberate differences (the ONE place they are listed):
//! * the machine snapshot (`state`) is this crate's versioned format
//!   `{version, status, value, context, output?}`; the reference's XState snapshot also carries
//!   `historyValue` (`{}`) and `children` (`{}`), which no Arvo machine can fill (no history
//!   states, no actors): ours has `version: 1`, theirs the two empty objects; both are checked,
//!   then removed before comparing;
//! * `machineDefinition` is `null`: the reference stores a JSON dump of the XState config (no
//!   functions) on every write; the machine's definition is `ArvoMachine::mermaid` here. The
//!   reference's text is checked to be the vector's `machineConfig`, then replaced by `null`;
//! * the record carries `processed$$` (the idempotency window) once a second step ran: removed
//!   before comparing;
//! * numbers are compared as numbers (`1` and `1.0` are equal): the typed context holds `f64`;
//! * the broker is FIFO and keeps no list of published events: "published" is what reached a
//!   handler (logged by an input middleware) followed by what came back to the client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common_calc_machine;
mod common_resumable;
mod common_tempdir;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arvo_runtime::broker::{EventBroker, Verdict};
use arvo_runtime::event::ArvoEvent;
use arvo_runtime::handler::ParentContext;
use arvo_runtime::memory::{
    InMemoryMemory, Lease, MachineMemory, MemoryError, RedbStore, Version, Versioned,
};
use common_calc_machine::{CalcMachineRecord, calc_orchestrator};
use common_resumable::calc_handler;
use serde_json::{Value, json};

const VECTORS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/orchestrator_workflow.json"
));

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Placeholders for random values: UUIDs numbered by first appearance (also inside strings,
/// such as the `machineDefinition` text, and keys), `time` and `errorStack` values; numbers as
/// f64.
fn normalize(v: &Value, ids: &mut HashMap<String, usize>) -> Value {
    let id = |s: &str, ids: &mut HashMap<String, usize>| {
        let n = ids.len();
        format!("<uuid:{}>", ids.entry(s.to_owned()).or_insert(n))
    };
    match v {
        Value::String(s) if is_uuid(s) => Value::String(id(s, ids)),
        Value::Number(n) => json!(n.as_f64().unwrap()),
        Value::Array(a) => Value::Array(a.iter().map(|x| normalize(x, ids)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| {
                    let k2 = if is_uuid(k) { id(k, ids) } else { k.clone() };
                    let x2 = match k.as_str() {
                        "time" => json!("<time>"),
                        "errorStack" if x.is_string() => json!("<stack>"),
                        _ => normalize(x, ids),
                    };
                    (k2, x2)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Where `a` and `b` differ (JSON paths with both values), for readable assertion messages.
fn diff(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                match y.get(k) {
                    Some(w) => diff(v, w, &format!("{path}.{k}"), out),
                    None => out.push(format!("{path}.{k}: ours {v}, theirs missing")),
                }
            }
            for (k, w) in y {
                if !x.contains_key(k) {
                    out.push(format!("{path}.{k}: ours missing, theirs {w}"));
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                diff(v, w, &format!("{path}[{i}]"), out);
            }
        }
        _ if a != b => out.push(format!("{path}: ours {a}, theirs {b}")),
        _ => {}
    }
}

/// Asserts `ours == theirs` after normalising each, listing the differences.
fn assert_same(ours: &Value, theirs: &Value, what: &str) {
    let (mut a, mut b) = (HashMap::new(), HashMap::new());
    let (ours, theirs) = (normalize(ours, &mut a), normalize(theirs, &mut b));
    let mut out = Vec::new();
    diff(&ours, &theirs, "", &mut out);
    assert!(out.is_empty(), "{what}:\n{}", out.join("\n"));
}

fn event_json(e: &ArvoEvent) -> Value {
    serde_json::from_str(&e.to_json_string()).unwrap()
}

/// The reference's record with its XState-only snapshot fields checked and removed, and its
/// `machineDefinition` checked (the JSON of the vector's `machineConfig`) and set to `null`.
fn theirs_record(rec: &Value) -> Value {
    let mut rec = rec.clone();
    if let Some(def) = rec.get_mut("machineDefinition") {
        let config: Value = serde_json::from_str(def.as_str().unwrap()).unwrap();
        let v: Value = serde_json::from_str(VECTORS).unwrap();
        assert_eq!(config, v["machineConfig"]);
        *def = Value::Null;
    }
    if let Some(state) = rec.get_mut("state").and_then(Value::as_object_mut) {
        assert_eq!(state.remove("historyValue"), Some(json!({})));
        assert_eq!(state.remove("children"), Some(json!({})));
    }
    rec
}

/// Our record as JSON, with the snapshot's format version checked and removed.
fn ours_record(rec: &CalcMachineRecord) -> Value {
    let mut v: Value = serde_json::from_str(&serde_json::to_string(rec).unwrap()).unwrap();
    let m = v.as_object_mut().unwrap();
    m.remove("processed$$");
    if let Some(state) = m.get_mut("state").and_then(Value::as_object_mut) {
        assert_eq!(state.remove("version"), Some(json!(1)));
    }
    v
}

/// A memory that logs every read and write the orchestrator makes, as the vector's
/// `memoryCalls`.
#[derive(Clone)]
struct Logged<M> {
    inner: M,
    calls: Arc<Mutex<Vec<Value>>>,
}

impl<M> Logged<M> {
    fn take(&self) -> Vec<Value> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

impl<M: MachineMemory<CalcMachineRecord>> MachineMemory<CalcMachineRecord> for Logged<M> {
    async fn read(&self, id: &str) -> Result<Option<Versioned<CalcMachineRecord>>, MemoryError> {
        let out = self.inner.read(id).await;
        if let Ok(found) = &out {
            self.calls
                .lock()
                .unwrap()
                .push(json!({"op": "read", "id": id, "found": found.is_some()}));
        }
        out
    }
    async fn write(
        &self,
        id: &str,
        record: CalcMachineRecord,
        expected: Option<Version>,
        lease: Option<&Lease>,
    ) -> Result<Version, MemoryError> {
        let logged = json!({"op": "write", "id": id, "hadPrevious": expected.is_some(), "record": ours_record(&record)});
        let out = self.inner.write(id, record, expected, lease).await;
        self.calls.lock().unwrap().push(logged);
        out
    }
    async fn delete(&self, id: &str, lease: Option<&Lease>) -> Result<bool, MemoryError> {
        self.inner.delete(id, lease).await
    }
    async fn try_lock(&self, id: &str, ttl: Duration) -> Result<Option<Lease>, MemoryError> {
        self.inner.try_lock(id, ttl).await
    }
    async fn unlock(&self, lease: &Lease) -> Result<bool, MemoryError> {
        self.inner.unlock(lease).await
    }
    async fn renew(&self, lease: &mut Lease, ttl: Duration) -> Result<(), MemoryError> {
        self.inner.renew(lease, ttl).await
    }
}

/// Runs one vector case on `memory` (fresh and empty).
async fn run_case<M>(case: &Value, memory: M)
where
    M: MachineMemory<CalcMachineRecord> + Clone + 'static,
{
    let name = case["name"].as_str().unwrap();
    let logged = Logged {
        inner: memory.clone(),
        calls: Arc::default(),
    };
    let orchestrator = calc_orchestrator(logged.clone());
    assert_eq!(
        orchestrator.requires_locking(),
        case["requiresResourceLocking"],
        "{name}"
    );
    let handler = calc_handler();
    let subject = case["subject"].as_str().unwrap();
    let steps = case["trace"]["steps"].as_array().unwrap();
    let init = ArvoEvent::from_json_str(&steps[0]["emitted"][0].to_string()).unwrap();
    let mut next = vec![init];
    let mut delivered = Vec::new();
    for step in &steps[1..] {
        let actor = step["actor"].as_str().unwrap();
        let consumed = next.remove(0);
        let outcome = match actor {
            "orchestrator" => orchestrator.execute(&consumed, ParentContext::Event).await,
            "service" => handler.execute(&consumed, ParentContext::Event).await,
            other => panic!("unknown actor {other}"),
        };
        let mut ours = serde_json::Map::new();
        ours.insert("consumed".into(), event_json(&consumed));
        ours.insert(
            "outcome".into(),
            match &outcome {
                Ok(events) => json!({"kind": "events", "events": events.iter().map(event_json).collect::<Vec<_>>()}),
                Err(v) => json!({"kind": "thrown", "error": {"name": v.name(), "message": v.to_string(), "violationType": v.violation_type()}}),
            },
        );
        let mut theirs = serde_json::Map::new();
        theirs.insert("consumed".into(), step["consumed"].clone());
        theirs.insert("outcome".into(), step["outcome"].clone());
        let calls = logged.take();
        if actor == "orchestrator" {
            let want: Vec<Value> = step["memoryCalls"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    let mut c = c.clone();
                    if let Some(r) = c.get("record") {
                        c["record"] = theirs_record(r);
                    }
                    c
                })
                .collect();
            ours.insert("memoryCalls".into(), Value::Array(calls));
            theirs.insert("memoryCalls".into(), Value::Array(want));
            match step.get("memoryAfter") {
                Some(after) if !after.is_null() => {
                    let rec = memory.read(subject).await.unwrap().unwrap().value;
                    ours.insert("memoryAfter".into(), ours_record(&rec));
                    theirs.insert("memoryAfter".into(), theirs_record(after));
                }
                _ => assert!(
                    memory.read(subject).await.unwrap().is_none(),
                    "{name}: nothing persisted"
                ),
            }
        } else {
            assert!(calls.is_empty(), "{name}: a service touched the memory");
        }
        assert_same(
            &Value::Object(ours),
            &Value::Object(theirs),
            &format!("{name}: step {}", step["step"]),
        );
        if let Ok(events) = outcome {
            for e in events {
                if e.to() == Some("com.bench.client") {
                    delivered.push(event_json(&e));
                } else {
                    next.push(e);
                }
            }
        }
    }
    assert!(next.is_empty(), "{name}: undelivered events");
    assert_same(
        &Value::Array(delivered),
        &case["trace"]["deliveredToClient"],
        &format!("{name}: delivered to the client"),
    );
}

#[tokio::test]
async fn every_case_step_by_step() {
    let v: Value = serde_json::from_str(VECTORS).unwrap();
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        run_case(case, InMemoryMemory::new()).await;
    }
}

/// The same cases on the embedded durable memory: the records make a JSON round trip through
/// the file and still match the reference's.
#[tokio::test]
async fn every_case_step_by_step_on_redb() {
    let v: Value = serde_json::from_str(VECTORS).unwrap();
    let dir = common_tempdir::TempDir::new("orchestrator-workflow");
    let store = RedbStore::open(dir.file()).unwrap();
    for case in v["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        run_case(case, store.memory(name).unwrap()).await;
    }
}

/// Each case with a broker trace through the `EventBroker`: the same events reach the handlers
/// in the same order (type, source, to, parentid; ids by first appearance), and the client
/// gets the vector's `resolved` event.
#[tokio::test]
async fn every_case_through_the_broker() {
    let v: Value = serde_json::from_str(VECTORS).unwrap();
    for case in v["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let Some(want) = case["simpleEventBroker"].as_object() else {
            continue;
        };
        let published = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&published);
        let broker = EventBroker::builder()
            .handler(Arc::new(calc_orchestrator(InMemoryMemory::new())))
            .handler(Arc::new(calc_handler()))
            .input_middleware(move |e, _| {
                log.lock().unwrap().push(e.clone());
                Verdict::Pass
            })
            .build()
            .unwrap();
        let steps = case["trace"]["steps"].as_array().unwrap();
        let init = ArvoEvent::from_json_str(&steps[0]["emitted"][0].to_string()).unwrap();
        let outcome = broker.resolve(init).await.unwrap();
        assert!(outcome.errors.is_empty(), "{name}: {:?}", outcome.errors);
        let mut events: Vec<ArvoEvent> = published.lock().unwrap().clone();
        events.extend(outcome.events.iter().cloned());
        let brief = |e: &ArvoEvent| json!({"type": e.event_type(), "source": e.source(), "to": e.to(), "id": e.id(), "parentid": e.parentid()});
        let ours: Vec<Value> = events.iter().map(brief).collect();
        assert_same(
            &Value::Array(ours),
            &want["publishedInOrder"],
            &format!("{name}: published in order"),
        );
        let resolved = outcome.result().map(event_json).unwrap_or(Value::Null);
        assert_same(&resolved, &want["resolved"], &format!("{name}: resolved"));
    }
}
