//! `resumable_workflow.json` reproduced step by step: the resumable R and the calc handler H1
//! consume the events of the chain (the init from the vector, then each other's outputs);
//! every consumed event, every outcome (events or thrown violation) and the memory record after
//! each resumable step equal the vector's, key order included, once the random fields are
//! replaced by placeholders (ids by first appearance, times, error stacks).
//!
//! Deliberate differences (the ONE place they are listed):
//! * the record carries `processed$$` (idempotency window) once a second step ran: removed
//!   before comparing;
//! * the failure record stores `{errorName, errorMessage, errorStack}`; the reference's raw
//!   `Error` object serialises to `{}`: checked here, then replaced by `{}`;
//! * numbers are compared as numbers (`1` and `1.0` are equal): the typed context holds `f64`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common_resumable;
mod common_tempdir;

use std::collections::HashMap;

use arvo_runtime::event::ArvoEvent;
use arvo_runtime::handler::ParentContext;
use arvo_runtime::memory::{InMemoryMemory, MachineMemory, RedbStore};
use arvo_runtime::resumable::ResumableMemoryRecord;
use common_resumable::{CalcContext, calc_handler, calc_resumable};
use serde_json::{Value, json};

const VECTORS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/resumable_workflow.json"
));

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Placeholders for random values: UUIDs numbered by first appearance (values and keys),
/// `time` and `errorStack` values; numbers as f64.
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

fn event_json(e: &ArvoEvent) -> Value {
    serde_json::from_str(&e.to_json_string()).unwrap()
}

async fn record_json<M: MachineMemory<ResumableMemoryRecord<CalcContext>>>(
    memory: &M,
    subject: &str,
) -> Value {
    let rec = memory.read(subject).await.unwrap().unwrap().value;
    let mut v: Value = serde_json::from_str(&serde_json::to_string(&rec).unwrap()).unwrap();
    let m = v.as_object_mut().unwrap();
    m.remove("processed$$");
    if m["executionStatus"] == "failure" {
        let err = m.get_mut("error").unwrap();
        assert_eq!(err["errorName"], "Error");
        assert!(
            err["errorMessage"]
                .as_str()
                .unwrap()
                .starts_with("calc service failed: ")
        );
        *err = json!({});
    }
    v
}

/// Runs one vector case on `memory` (fresh and empty).
async fn run_case<M>(case: &Value, memory: M)
where
    M: MachineMemory<ResumableMemoryRecord<CalcContext>> + Clone + 'static,
{
    let name = case["name"].as_str().unwrap();
    let resumable = calc_resumable(memory.clone());
    assert_eq!(
        resumable.requires_locking(),
        case["requiresResourceLocking"]
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
            "resumable" => resumable.execute(&consumed, ParentContext::Event).await,
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
        if actor == "resumable" {
            match step.get("memoryAfter") {
                Some(after) if !after.is_null() => {
                    ours.insert("memoryAfter".into(), record_json(&memory, subject).await);
                    theirs.insert("memoryAfter".into(), after.clone());
                }
                _ => assert!(
                    memory.read(subject).await.unwrap().is_none(),
                    "{name}: nothing persisted"
                ),
            }
        }
        let (mut a, mut b) = (HashMap::new(), HashMap::new());
        assert_eq!(
            normalize(&Value::Object(ours), &mut a),
            normalize(&Value::Object(theirs), &mut b),
            "{name}: step {}",
            step["step"]
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
    let (mut a, mut b) = (HashMap::new(), HashMap::new());
    assert_eq!(
        normalize(&Value::Array(delivered), &mut a),
        normalize(&case["trace"]["deliveredToClient"], &mut b),
        "{name}: delivered to the client"
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
/// the file and still match the reference's `memoryAfter`.
#[tokio::test]
async fn every_case_step_by_step_on_redb() {
    let v: Value = serde_json::from_str(VECTORS).unwrap();
    let dir = common_tempdir::TempDir::new("resumable-workflow");
    let store = RedbStore::open(dir.file()).unwrap();
    for case in v["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        run_case(case, store.memory(name).unwrap()).await;
    }
}

#[tokio::test]
async fn contracts_match_the_vector() {
    use arvo_runtime::typed::TypedContract;
    let v: Value = serde_json::from_str(VECTORS).unwrap();
    let service = <common_resumable::CalcAdd as TypedContract>::contract().latest();
    let flow = <common_resumable::CalcFlow as TypedContract>::contract().latest();
    let exported = |c: &arvo_runtime::contract::VersionedContract| {
        let j = c.to_json_schema();
        (
            j["accepts"].clone(),
            j["emits"].clone(),
            j["systemError"]["type"].clone(),
        )
    };
    for (c, key) in [(&service, "service"), (&flow, "self")] {
        let want = &v["contracts"][key]["versions"][0];
        let (accepts, emits, sys) = exported(c);
        assert_eq!(accepts["type"], want["accepts"]["type"]);
        assert_eq!(emits[0]["type"], want["emits"][0]["type"]);
        assert_eq!(sys, want["systemError"]["type"]);
        assert_eq!(
            c.dataschema(),
            format!("{}/1.0.0", v["contracts"][key]["uri"].as_str().unwrap())
        );
    }
}
