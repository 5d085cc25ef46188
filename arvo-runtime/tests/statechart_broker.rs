//! `ArvoOrchestrator` end to end: machines on the `EventBroker` with a service, the stored
//! record, parent/child machines, version migration, idempotent re-delivery, violations and
//! failures (the reference's test ports live in `orchestrator_*.rs`).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use arvo_runtime::broker::EventBroker;
use arvo_runtime::contract::{ArvoContract, OrchestratorContract, Schema};
use arvo_runtime::event::ArvoEvent;
use arvo_runtime::factory::{ArvoEventFactory, ArvoOrchestratorEventFactory, EventInput};
use arvo_runtime::handler::{ArvoEventHandler, HandlerError, ParentContext, RawOutput, Violation};
use arvo_runtime::machine::{ArvoMachine, MachineStatus};
use arvo_runtime::memory::{InMemoryMemory, MachineMemory};
use arvo_runtime::orchestration::OrchestrationRecord;
use arvo_runtime::orchestrator::{
    ArvoOrchestrator, OrchestratorBuildError, OrchestratorMemoryRecord,
};
use serde_json::{Value, json};

fn obj(keys: &[&str]) -> Schema {
    let props: serde_json::Map<String, Value> = keys
        .iter()
        .map(|k| ((*k).to_owned(), json!({"type": "number"})))
        .collect();
    Schema::new(json!({"type": "object", "properties": props, "required": keys})).unwrap()
}

fn add_contract() -> ArvoContract {
    ArvoContract::simple("#/calc/add", "calc.add")
        .version("1.0.0", obj(&["a", "b"]), obj(&["result"]))
        .build()
        .unwrap()
}

fn flow_contract() -> OrchestratorContract {
    ArvoContract::orchestrator("#/calc/flow", "calc.flow")
        .version("1.0.0", obj(&["a", "b"]), obj(&["result"]))
        .version("2.0.0", obj(&["a", "b"]), obj(&["result"]))
        .build()
        .unwrap()
}

fn parent_contract() -> OrchestratorContract {
    ArvoContract::orchestrator("#/calc/parent", "calc.parent")
        .version("1.0.0", obj(&["x"]), obj(&["total"]))
        .build()
        .unwrap()
}

/// The calc machine of `version`: v1 adds, v2 adds and doubles.
fn calc_machine(version: &str) -> ArvoMachine<Value> {
    let factor = if version == "1.0.0" { 1.0 } else { 2.0 };
    ArvoMachine::<Value>::builder(
        format!("calc{version}"),
        flow_contract().version(version).unwrap(),
    )
    .service("add", add_contract().latest())
    .context(|init| Ok(Value::Object(init.data().clone())))
    .output(move |c| Ok(json!({"result": c["result"].as_f64().unwrap_or(0.0) * factor})))
    .initial("adding")
    .state("adding", |s| {
        s.entry(|c, _, out| {
            out.emit(RawOutput::new(
                "com.calc.add",
                json!({"a": c["a"], "b": c["b"]}),
            ))
        })
        .on("evt.calc.add.success", |t| {
            t.target("done").action(|c, e, _| {
                c["result"] = e.data()["result"].clone();
                Ok(())
            })
        })
        .on("sys.com.calc.add.error", |t| {
            t.target("failed").action(|_, e, _| {
                Err(HandlerError::msg(format!(
                    "adder failed: {}",
                    e.data()["errorMessage"]
                )))
            })
        })
    })
    .state("done", |s| s.final_state())
    .state("failed", |s| s.final_state())
    .build()
    .unwrap()
}

fn adder() -> ArvoEventHandler {
    ArvoEventHandler::builder(add_contract())
        .version_sync("1.0.0", |input| {
            let d = input.event.data();
            if d["a"].as_f64() == Some(-1.0) {
                return Err(HandlerError::msg("negative"));
            }
            let r = d["a"].as_f64().unwrap_or(0.0) + d["b"].as_f64().unwrap_or(0.0);
            Ok(vec![RawOutput::new(
                "evt.calc.add.success",
                json!({"result": r}),
            )])
        })
        .build()
        .unwrap()
}

type Orch = ArvoOrchestrator<InMemoryMemory<OrchestratorMemoryRecord<Value>>, Value>;

fn orchestrator() -> Arc<Orch> {
    Arc::new(
        ArvoOrchestrator::builder(InMemoryMemory::new())
            .machine(calc_machine("1.0.0"))
            .machine(calc_machine("2.0.0"))
            .build()
            .unwrap(),
    )
}

fn init(version: &str, a: f64, b: f64) -> ArvoEvent {
    ArvoOrchestratorEventFactory::new(flow_contract().version(version).unwrap())
        .unwrap()
        .init(EventInput::new(
            "com.test.client",
            json!({"parentSubject$$": null, "a": a, "b": b}),
        ))
        .unwrap()
}

async fn record(orch: &Orch, subject: &str) -> Option<OrchestratorMemoryRecord<Value>> {
    orch.memory().read(subject).await.unwrap().map(|v| v.value)
}

#[tokio::test]
async fn a_machine_workflow_runs_on_the_broker_with_a_service_and_is_stored() {
    let orch = orchestrator();
    assert!(
        !orch.requires_locking(),
        "no parallel state, single-emit service"
    );
    let broker = EventBroker::builder()
        .handler(Arc::clone(&orch))
        .handler(adder())
        .build()
        .unwrap();
    let init = init("1.0.0", 1.0, 2.0);
    let outcome = broker.resolve(init.clone()).await.unwrap();
    assert!(outcome.is_ok(), "{:?}", outcome.errors);
    let done = outcome.result().expect("completion");
    assert_eq!(done.event_type(), "arvo.orc.calc.flow.done");
    assert_eq!(done.to(), Some("com.test.client"));
    assert_eq!(done.data()["result"], json!(3.0));
    assert_eq!(done.dataschema(), Some("#/calc/flow/1.0.0"));
    assert_eq!(
        done.parentid(),
        Some(init.id()),
        "completion parentid = init id"
    );

    let OrchestrationRecord::Normal(rec) = record(&orch, init.subject()).await.unwrap() else {
        panic!("a normal record")
    };
    assert_eq!(rec.status, MachineStatus::Done);
    assert_eq!(serde_json::to_value(&rec.value).unwrap(), json!("done"));
    assert_eq!(&*rec.init_event_id, init.id());
    assert_eq!(rec.events.produced.len(), 1);
    assert_eq!(
        rec.events.produced[0].event_type(),
        "arvo.orc.calc.flow.done"
    );
    // The stored JSON keeps the reference's field order.
    let text = serde_json::to_string(&OrchestrationRecord::Normal(rec)).unwrap();
    let keys: Vec<String> = serde_json::from_str::<serde_json::Map<String, Value>>(&text)
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        keys,
        [
            "executionStatus",
            "initEventId",
            "subject",
            "parentSubject",
            "status",
            "value",
            "state",
            "events",
            "machineDefinition",
            "processed$$"
        ]
    );
}

#[tokio::test]
async fn a_stored_record_with_an_incompatible_snapshot_is_refused_when_read() {
    let orch = orchestrator();
    let init = init("1.0.0", 1.0, 2.0);
    orch.execute(&init, ParentContext::Event).await.unwrap();
    let rec = record(&orch, init.subject()).await.unwrap();
    let mut j = serde_json::to_value(&rec).unwrap();
    assert_eq!(j["state"]["version"], json!(1));
    assert_eq!(j["state"]["value"], json!("adding"));
    // The same record, as a later release with another snapshot format would store it.
    j["state"]["version"] = json!(2);
    let err = serde_json::from_value::<OrchestratorMemoryRecord<Value>>(j)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "incompatible machine snapshot version 2: this build of arvo-runtime reads version 1"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn versions_migrate_a_v1_workflow_finishes_on_v1_while_new_ones_start_on_v2() {
    let orch = orchestrator();
    let v1 = init("1.0.0", 2.0, 3.0);
    let v2 = init("2.0.0", 2.0, 3.0);
    let call1 = orch.execute(&v1, ParentContext::Event).await.unwrap();
    let call2 = orch.execute(&v2, ParentContext::Event).await.unwrap();
    let answer = |call: &ArvoEvent| {
        ArvoEventFactory::new(add_contract().latest())
            .emits(
                EventInput::new("com.calc.add", json!({"result": 5}))
                    .with_type("evt.calc.add.success")
                    .with_subject(call.subject()),
            )
            .unwrap()
    };
    let done2 = orch
        .execute(&answer(&call2[0]), ParentContext::Event)
        .await
        .unwrap();
    let done1 = orch
        .execute(&answer(&call1[0]), ParentContext::Event)
        .await
        .unwrap();
    assert_eq!(done1[0].data()["result"], json!(5.0));
    assert_eq!(done1[0].dataschema(), Some("#/calc/flow/1.0.0"));
    assert_eq!(done2[0].data()["result"], json!(10.0));
    assert_eq!(done2[0].dataschema(), Some("#/calc/flow/2.0.0"));
}

#[tokio::test]
async fn redelivery_is_idempotent_and_a_done_workflow_ignores_later_events() {
    let orch = orchestrator();
    let init = init("1.0.0", 1.0, 1.0);
    let first = orch.execute(&init, ParentContext::Event).await.unwrap();
    let again = orch.execute(&init, ParentContext::Event).await.unwrap();
    assert_eq!(first, again, "re-delivered init: same events");
    let answer = ArvoEventFactory::new(add_contract().latest())
        .emits(
            EventInput::new("com.calc.add", json!({"result": 2}))
                .with_type("evt.calc.add.success")
                .with_subject(init.subject()),
        )
        .unwrap();
    let done = orch.execute(&answer, ParentContext::Event).await.unwrap();
    assert_eq!(done.len(), 1);
    let version = orch
        .memory()
        .read(init.subject())
        .await
        .unwrap()
        .unwrap()
        .version;
    let dup = orch.execute(&answer, ParentContext::Event).await.unwrap();
    assert_eq!(
        dup, done,
        "re-delivered answer: the same completion, once more"
    );
    // A new answer for the finished workflow: ignored, nothing rewritten.
    let late = ArvoEventFactory::new(add_contract().latest())
        .emits(
            EventInput::new("com.calc.add", json!({"result": 9}))
                .with_type("evt.calc.add.success")
                .with_subject(init.subject()),
        )
        .unwrap();
    assert!(
        orch.execute(&late, ParentContext::Event)
            .await
            .unwrap()
            .is_empty()
    );
    let after = orch
        .memory()
        .read(init.subject())
        .await
        .unwrap()
        .unwrap()
        .version;
    assert_eq!(version, after);
}

#[tokio::test]
async fn a_failing_action_writes_the_failure_record_and_a_violation_writes_nothing() {
    let orch = orchestrator();
    let broker = EventBroker::builder()
        .handler(Arc::clone(&orch))
        .handler(adder())
        .build()
        .unwrap();
    // The adder fails -> sys.com.calc.add.error -> the machine's action errors -> sys error.
    let init_fail = init("1.0.0", -1.0, 1.0);
    let outcome = broker.resolve(init_fail.clone()).await.unwrap();
    let err = outcome.result().expect("a system error");
    assert_eq!(err.event_type(), "sys.arvo.orc.calc.flow.error");
    assert!(
        err.data()["errorMessage"]
            .as_str()
            .unwrap()
            .contains("adder failed"),
        "{:?}",
        err.data()
    );
    assert!(matches!(
        record(&orch, init_fail.subject()).await,
        Some(OrchestrationRecord::Failure(_))
    ));

    // A contract violation (data against the schema) leaves the stored record as it was.
    let init_ok = init("1.0.0", 1.0, 1.0);
    orch.execute(&init_ok, ParentContext::Event).await.unwrap();
    let before = orch
        .memory()
        .read(init_ok.subject())
        .await
        .unwrap()
        .unwrap();
    let bad = ArvoEventFactory::new(add_contract().latest())
        .emits(
            EventInput::new("com.calc.add", json!({"result": 1}))
                .with_type("evt.calc.add.success")
                .with_subject(init_ok.subject()),
        )
        .unwrap();
    // Same event with broken data: rebuild through JSON.
    let mut j = bad.to_json_value();
    j["data"] = json!({"result": "not a number"});
    j["id"] = json!("bad-1");
    let bad = ArvoEvent::from_json_str(&j.to_string()).unwrap();
    let v = orch.execute(&bad, ParentContext::Event).await.unwrap_err();
    assert!(matches!(v, Violation::Contract { .. }), "{v:?}");
    let after = orch
        .memory()
        .read(init_ok.subject())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(before.version, after.version);
}

#[tokio::test]
async fn a_machine_parent_starts_a_machine_child_and_resumes_on_its_completion() {
    let flow = flow_contract();
    let parent = ArvoMachine::<Value>::builder("parent", parent_contract().latest())
        .service("calc", flow.version("1.0.0").unwrap())
        .context(|init| Ok(Value::Object(init.data().clone())))
        .output(|c| Ok(json!({"total": c["total"]})))
        .initial("child")
        .state("child", |s| {
            s.entry(|c, _, out| {
                let calc = flow_contract().version("1.0.0")?;
                out.start_child(&calc, json!({"a": c["x"], "b": 10}))
            })
            .on("arvo.orc.calc.flow.done", |t| {
                t.target("done").action(|c, e, _| {
                    c["total"] = e.data()["result"].clone();
                    Ok(())
                })
            })
        })
        .state("done", |s| s.final_state())
        .build()
        .unwrap();
    let parent_orch = ArvoOrchestrator::builder(InMemoryMemory::new()).machine(parent);
    let broker = EventBroker::builder()
        .handler(parent_orch)
        .handler(orchestrator())
        .handler(adder())
        .build()
        .unwrap();
    let init = ArvoOrchestratorEventFactory::new(parent_contract().latest())
        .unwrap()
        .init(EventInput::new(
            "com.test.client",
            json!({"parentSubject$$": null, "x": 5}),
        ))
        .unwrap();
    let outcome = broker.resolve(init.clone()).await.unwrap();
    assert!(outcome.is_ok(), "{:?}", outcome.errors);
    let done = outcome.result().expect("parent completion");
    assert_eq!(done.event_type(), "arvo.orc.calc.parent.done");
    assert_eq!(done.subject(), init.subject());
    assert_eq!(done.data()["total"], json!(15.0));
}

#[tokio::test]
async fn a_machine_parent_reacts_to_its_child_system_error() {
    let flow = flow_contract();
    let parent = ArvoMachine::<Value>::builder("parent", parent_contract().latest())
        .service("calc", flow.version("1.0.0").unwrap())
        .context(|init| Ok(Value::Object(init.data().clone())))
        .output(|c| Ok(json!({"total": c["total"]})))
        .initial("child")
        .state("child", |s| {
            s.entry(|c, _, out| {
                let calc = flow_contract().version("1.0.0")?;
                out.start_child(&calc, json!({"a": c["x"], "b": 10}))
            })
            .on("arvo.orc.calc.flow.done", |t| t.target("done"))
            .on("sys.arvo.orc.calc.flow.error", |t| {
                t.target("done").action(|c, e, _| {
                    assert!(
                        e.data()["errorMessage"]
                            .as_str()
                            .is_some_and(|m| m.contains("adder failed"))
                    );
                    c["total"] = json!(-1);
                    Ok(())
                })
            })
        })
        .state("done", |s| s.final_state())
        .build()
        .unwrap();
    let broker = EventBroker::builder()
        .handler(ArvoOrchestrator::builder(InMemoryMemory::new()).machine(parent))
        .handler(orchestrator())
        .handler(adder())
        .build()
        .unwrap();
    let init = ArvoOrchestratorEventFactory::new(parent_contract().latest())
        .unwrap()
        .init(EventInput::new(
            "com.test.client",
            json!({"parentSubject$$": null, "x": -1}),
        ))
        .unwrap();
    let outcome = broker.resolve(init.clone()).await.unwrap();
    let done = outcome.result().expect("parent completion");
    assert_eq!(done.event_type(), "arvo.orc.calc.parent.done");
    assert_eq!(done.data()["total"], json!(-1));
}

#[tokio::test]
async fn a_panicking_guard_is_a_system_error_of_the_workflow_not_an_unwind() {
    let machine =
        ArvoMachine::<Value>::builder("panics", flow_contract().version("1.0.0").unwrap())
            .service("add", add_contract().latest())
            .context(|init| Ok(Value::Object(init.data().clone())))
            .output(|c| Ok(json!({"result": c["result"]})))
            .initial("adding")
            .state("adding", |s| {
                s.entry(|c, _, out| {
                    out.emit(RawOutput::new(
                        "com.calc.add",
                        json!({"a": c["a"], "b": c["b"]}),
                    ))
                })
                .on("evt.calc.add.success", |t| {
                    t.target("done").guard(|_, _| panic!("guard exploded"))
                })
            })
            .state("done", |s| s.final_state())
            .build()
            .unwrap();
    let orch = Arc::new(
        ArvoOrchestrator::builder(InMemoryMemory::new())
            .machine(machine)
            .build()
            .unwrap(),
    );
    let broker = EventBroker::builder()
        .handler(Arc::clone(&orch))
        .handler(adder())
        .build()
        .unwrap();
    let init = init("1.0.0", 1.0, 2.0);
    let outcome = broker.resolve(init.clone()).await.unwrap();
    let err = outcome.result().expect("a system error event");
    assert_eq!(err.event_type(), "sys.arvo.orc.calc.flow.error");
    assert_eq!(
        err.data()["errorMessage"],
        json!("user code panicked: guard exploded")
    );
    assert!(matches!(
        record(&orch, init.subject()).await,
        Some(OrchestrationRecord::Failure(_))
    ));
}

#[test]
fn build_checks_sources_and_versions_with_the_reference_messages() {
    let e = ArvoOrchestrator::<InMemoryMemory<OrchestratorMemoryRecord<Value>>, Value>::builder(
        InMemoryMemory::new(),
    )
    .machine(calc_machine("1.0.0"))
    .machine(calc_machine("1.0.0"))
    .build()
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "An orchestrator must have unique machine versions. Machine ID:calc1.0.0 has duplicate version 1.0.0."
    );
    let other = ArvoMachine::<Value>::builder("p", parent_contract().latest())
        .context(|_| Ok(Value::Null))
        .initial("a")
        .state("a", |s| s)
        .build()
        .unwrap();
    let e = ArvoOrchestrator::<InMemoryMemory<OrchestratorMemoryRecord<Value>>, Value>::builder(
        InMemoryMemory::new(),
    )
    .machine(calc_machine("1.0.0"))
    .machine(other)
    .build()
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "All the machines in the orchestrator must have type 'arvo.orc.calc.flow'"
    );
    let e = ArvoOrchestrator::<InMemoryMemory<OrchestratorMemoryRecord<Value>>, Value>::builder(
        InMemoryMemory::new(),
    )
    .build()
    .unwrap_err();
    assert_eq!(e, OrchestratorBuildError::NoMachines);
}

#[tokio::test]
async fn a_subject_naming_an_unknown_version_is_a_config_violation() {
    let orch = Arc::new(
        ArvoOrchestrator::builder(InMemoryMemory::new())
            .machine(calc_machine("1.0.0"))
            .build()
            .unwrap(),
    );
    let v2 = init("2.0.0", 1.0, 1.0);
    let err: Violation = orch.execute(&v2, ParentContext::Event).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "ViolationError<Config> Machine resolution failed: No machine found matching orchestrator name='arvo.orc.calc.flow' and version='2.0.0'."
    );
}
