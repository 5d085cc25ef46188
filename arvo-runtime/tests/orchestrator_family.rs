//! Parent/child workflows across the two orchestration kinds (spec §6.8), and version
//! migration (§4.6), on the `EventBroker`:
//! * a machine parent (`ArvoOrchestrator`) starts a resumable child (`ArvoResumable`, the calc
//!   workflow W), resumes on its completion, and on its system error;
//! * a resumable parent starts a machine child (machine M of B2) and resumes on its completion;
//! * a workflow started on 0.0.1 of the increment orchestrator finishes on 0.0.1 (add) while a
//!   new one starts on 0.0.2 (multiply), on one orchestrator holding both machines.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common_backends;
mod common_calc_machine;
mod common_machine;
mod common_resumable;

use std::sync::Arc;
use std::time::Duration;

use arvo_runtime::broker::EventBroker;
use arvo_runtime::event::ArvoEvent;
use arvo_runtime::factory::{ArvoOrchestratorEventFactory, EventInput};
use arvo_runtime::handler::{HandlerError, ParentContext};
use arvo_runtime::machine::{ArvoMachine, MachineStatus};
use arvo_runtime::memory::{InMemoryMemory, MachineMemory};
use arvo_runtime::orchestrator::{ArvoOrchestrator, OrchestratorMemoryRecord};
use arvo_runtime::resumable::{
    ArvoResumable, Outcome, ResumableHandler, ResumableMemoryRecord, ResumableStatus, ServiceEvent,
    Step, StepEvent,
};
use arvo_runtime::subject;
use arvo_runtime::typed::Emits;
use common_backends::workflows::{
    CalcParent, CalcParentV1_0_0, CalcParentV1_0_0Emits, ParentDone, ParentInit,
};
use common_calc_machine::{CalcMachineRecord, calc_orchestrator};
use common_machine::contracts::IncFlow;
use common_machine::orchestrators::{ValueRecord, increment_agent};
use common_machine::services;
use common_resumable::{
    AddInput, CalcContext, CalcFlow, CalcFlowV1_0_0, calc_handler, calc_resumable,
};
use serde_json::{Value, json};

type ParentRecord = OrchestratorMemoryRecord<Value>;

/// The machine parent: `waiting` starts the calc workflow W as its child; the child's
/// completion -> `done` (output `{child: <its data>}`), its system error -> `failed` (output
/// `{child: {error: <message>}}`).
fn machine_parent() -> ArvoMachine<Value> {
    let child = CalcFlow::contract().latest();
    ArvoMachine::builder("calcParent", CalcParent::contract().latest())
        .service("calc", child.clone())
        .context(|init| Ok(json!({"a": init.data()["a"], "b": init.data()["b"], "child": null})))
        .output(|c| Ok(json!({"child": c["child"]})))
        .initial("waiting")
        .state("waiting", move |s| {
            let child = child.clone();
            s.entry(move |c, _, out| out.start_child(&child, json!({"a": c["a"], "b": c["b"]})))
                .on("arvo.orc.bench.calc.done", |t| {
                    t.target("done").action(|c, e, _| {
                        c["child"] = e.data_value().clone();
                        Ok(())
                    })
                })
                .on("sys.arvo.orc.bench.calc.error", |t| {
                    t.target("failed").action(|c, e, _| {
                        c["child"] = json!({"error": e.data()["errorMessage"]});
                        Ok(())
                    })
                })
        })
        .state("done", |s| s.final_state())
        .state("failed", |s| s.final_state())
        .build()
        .unwrap()
}

fn parent_init(a: f64, b: f64) -> ArvoEvent {
    ArvoOrchestratorEventFactory::new(CalcParent::contract().latest())
        .unwrap()
        .init(EventInput::new(
            "com.test.client",
            json!({"parentSubject$$": null, "a": a, "b": b}),
        ))
        .unwrap()
}

async fn resolve(broker: &EventBroker, init: &ArvoEvent) -> ArvoEvent {
    let outcome = tokio::time::timeout(Duration::from_secs(30), broker.resolve(init.clone()))
        .await
        .expect("resolved in time")
        .unwrap();
    assert!(outcome.is_ok(), "{:?}", outcome.errors);
    outcome.result().expect("the parent's completion").clone()
}

/// The child's subject: the one the parent's init step started.
async fn child_subject<M: MachineMemory<ParentRecord>>(memory: &M, parent: &ArvoEvent) -> String {
    let rec = memory.read(parent.subject()).await.unwrap().unwrap().value;
    let rec = rec.as_normal().unwrap();
    let start = rec
        .produced_for(parent.id())
        .expect("the init step")
        .first()
        .unwrap();
    assert_eq!(start.event_type(), CalcFlow::TYPE);
    start.subject().to_owned()
}

#[tokio::test]
async fn a_machine_parent_starts_a_resumable_child() {
    let parents: InMemoryMemory<ParentRecord> = InMemoryMemory::new();
    let children: InMemoryMemory<ResumableMemoryRecord<CalcContext>> = InMemoryMemory::new();
    let broker = EventBroker::builder()
        .handler(ArvoOrchestrator::builder(parents.clone()).machine(machine_parent()))
        .handler(calc_resumable(children.clone()))
        .handler(calc_handler())
        .build()
        .unwrap();
    let init = parent_init(2.0, 3.0);
    let done = resolve(&broker, &init).await;
    assert_eq!(done.event_type(), "arvo.orc.calc.parent.done");
    assert_eq!(done.subject(), init.subject());
    assert_eq!(done.parentid(), Some(init.id()));
    assert_eq!(done.data()["child"]["result"], 5.0);
    let child = child_subject(&parents, &init).await;
    let parsed = subject::parse(&child).unwrap();
    assert_eq!(parsed.orchestrator.name, "arvo.orc.bench.calc");
    assert_eq!(parsed.execution.initiator, "arvo.orc.calc.parent");
    let rec = children.read(&child).await.unwrap().unwrap().value;
    let rec = rec.as_normal().unwrap();
    assert_eq!(rec.parent_subject.as_deref(), Some(init.subject()));
    assert_eq!(rec.status, ResumableStatus::Done);
    let prec = parents.read(init.subject()).await.unwrap().unwrap().value;
    assert_eq!(prec.as_normal().unwrap().status, MachineStatus::Done);
}

/// The resumable child fails (its service rejects negative operands): its system error comes
/// back on the parent's subject and is an ordinary transition of the parent machine.
#[tokio::test]
async fn a_resumable_childs_system_error_reaches_the_machine_parent() {
    let parents: InMemoryMemory<ParentRecord> = InMemoryMemory::new();
    let broker = EventBroker::builder()
        .handler(ArvoOrchestrator::builder(parents.clone()).machine(machine_parent()))
        .handler(calc_resumable(InMemoryMemory::new()))
        .handler(calc_handler())
        .build()
        .unwrap();
    let init = parent_init(-1.0, 3.0);
    let done = resolve(&broker, &init).await;
    assert_eq!(done.event_type(), "arvo.orc.calc.parent.done");
    let msg = done.data()["child"]["error"].as_str().unwrap();
    assert!(
        msg.starts_with("calc service failed: Negative operands"),
        "{msg}"
    );
    let prec = parents.read(init.subject()).await.unwrap().unwrap().value;
    assert_eq!(prec.as_normal().unwrap().value.as_leaf(), Some("failed"));
}

/// A resumable parent of the calc workflow.
struct ResumableParent;

impl ResumableHandler<CalcParentV1_0_0> for ResumableParent {
    type Context = String;
    type Services = ServiceEvent<CalcFlowV1_0_0>;

    async fn handle(
        &self,
        step: Step<'_, CalcParentV1_0_0, String, ServiceEvent<CalcFlowV1_0_0>>,
    ) -> Result<Outcome<CalcParentV1_0_0, String>, HandlerError> {
        if let StepEvent::Init(init) = &step.event {
            let ParentInit { a, b } = init.data;
            let start = step.start_child::<CalcFlowV1_0_0, _>(AddInput { a, b })?;
            return Ok(Outcome::wait()
                .context(step.subject().to_owned())
                .call(start));
        }
        match step.event {
            StepEvent::Service(ServiceEvent::Emitted(e)) => Ok(Outcome::wait().complete(
                CalcParentV1_0_0Emits::Complete(ParentDone {
                    child: e.to_data()?,
                }),
            )),
            StepEvent::Service(ServiceEvent::SystemError(e)) => {
                Err(HandlerError::msg(e.error_message.clone()))
            }
            StepEvent::Init(_) => Ok(Outcome::wait()),
        }
    }
}

#[tokio::test]
async fn a_resumable_parent_starts_a_machine_child() {
    let parents: InMemoryMemory<ResumableMemoryRecord<String>> = InMemoryMemory::new();
    let children: InMemoryMemory<CalcMachineRecord> = InMemoryMemory::new();
    let parent =
        ArvoResumable::builder(CalcParent::orchestrator_contract().clone(), parents.clone())
            .handler::<CalcParentV1_0_0, _>(Arc::new(ResumableParent))
            .build()
            .unwrap();
    let broker = EventBroker::builder()
        .handler(parent)
        .handler(calc_orchestrator(children.clone()))
        .handler(calc_handler())
        .build()
        .unwrap();
    let init = parent_init(4.0, 5.0);
    let done = resolve(&broker, &init).await;
    assert_eq!(done.event_type(), "arvo.orc.calc.parent.done");
    assert_eq!(done.subject(), init.subject());
    assert_eq!(done.data()["child"]["result"], 9.0);
    let prec = parents.read(init.subject()).await.unwrap().unwrap().value;
    let prec = prec.as_normal().unwrap();
    assert_eq!(prec.status, ResumableStatus::Done);
    let start = prec
        .produced_for(init.id())
        .unwrap()
        .first()
        .unwrap()
        .clone();
    let crec = children.read(start.subject()).await.unwrap().unwrap().value;
    let crec = crec.as_normal().unwrap();
    assert_eq!(crec.parent_subject.as_deref(), Some(init.subject()));
    assert_eq!(crec.status, MachineStatus::Done);
    assert_eq!(crec.state.context.result, Some(9.0));
}

fn inc_init(version: &str, key: &str) -> ArvoEvent {
    let trend = if version == "0.0.1" {
        "linear"
    } else {
        "exponential"
    };
    ArvoOrchestratorEventFactory::new(IncFlow::contract().version(version).unwrap())
        .unwrap()
        .init(EventInput::new(
            "com.test.test",
            json!({"key": key, "modifier": 2, "trend": trend, "parentSubject$$": null}),
        ))
        .unwrap()
}

async fn step<H: arvo_runtime::handler::EventHandler>(h: &H, e: &ArvoEvent) -> Vec<ArvoEvent> {
    h.execute(e, ParentContext::Event).await.unwrap()
}

/// A workflow started on 0.0.1 finishes on 0.0.1 while a new one starts on 0.0.2.
#[tokio::test]
async fn versions_migrate_v1_finishes_on_v1_while_new_workflows_start_on_v2() {
    let store = services::store();
    store.lock().unwrap().insert("k".into(), 3.0);
    let memory: InMemoryMemory<ValueRecord> = InMemoryMemory::new();
    let agent = increment_agent(memory.clone());
    let (read, inc) = (services::value_read(store), services::increment());
    // v1 starts and waits for its read.
    let v1 = inc_init("0.0.1", "k");
    let v1_read = step(&agent, &v1).await;
    // v2 ("deployed" later) starts and runs to its end.
    let v2 = inc_init("0.0.2", "k");
    let v2_call = step(&agent, &step(&read, &step(&agent, &v2).await[0]).await[0]).await;
    assert_eq!(
        v2_call[0].dataschema(),
        Some("#/test/handler/increment/0.0.2")
    );
    assert_eq!(
        v2_call[0].data_value(),
        &json!({"init": 3.0, "multiplier": 2.0})
    );
    let v2_answers = step(&inc, &v2_call[0]).await;
    assert_eq!(v2_answers.len(), 2, "increment@0.0.2 answers twice");
    let v2_done = step(&agent, &v2_answers[0]).await;
    assert_eq!(v2_done[0].data()["final"], 6.0);
    assert_eq!(
        v2_done[0].dataschema(),
        Some("#/test/orchestrator/increment/0.0.2")
    );
    assert!(
        step(&agent, &v2_answers[1]).await.is_empty(),
        "a done workflow ignores it"
    );
    // v1 resumes on the v1 machine.
    let v1_call = step(&agent, &step(&read, &v1_read[0]).await[0]).await;
    assert_eq!(
        v1_call[0].dataschema(),
        Some("#/test/handler/increment/0.0.1")
    );
    assert_eq!(
        v1_call[0].data_value(),
        &json!({"init": 3.0, "increment": 2.0})
    );
    let v1_done = step(&agent, &step(&inc, &v1_call[0]).await[0]).await;
    assert_eq!(v1_done[0].data()["final"], 5.0);
    assert_eq!(
        v1_done[0].dataschema(),
        Some("#/test/orchestrator/increment/0.0.1")
    );
    // An orchestrator without the 0.0.1 machine cannot run a 0.0.1 workflow (a re-delivered
    // event of a finished one is still answered from its record: idempotency comes first).
    let v2_only = ArvoOrchestrator::builder(memory.clone())
        .machines(
            common_machine::orchestrators::increment_machines()
                .into_iter()
                .skip(1),
        )
        .build()
        .unwrap();
    assert_eq!(step(&v2_only, &v1).await, v1_read);
    let v = v2_only
        .execute(&inc_init("0.0.1", "k"), ParentContext::Event)
        .await
        .unwrap_err();
    assert_eq!(v.violation_type(), "Config");
    assert!(v.to_string().contains("version='0.0.1'"), "{v}");
}
