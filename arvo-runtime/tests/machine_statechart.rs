//! Hierarchical and parallel states with guards, run by the `ArvoOrchestrator` on the embedded
//! durable memory: every step's snapshot makes a JSON round trip through the redb file (nested
//! state values included), and the same machine runs end to end on the `EventBroker`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common_backends;
mod common_resumable;
mod common_tempdir;

use arvo_runtime::broker::EventBroker;
use arvo_runtime::handler::{ParentContext, RawOutput};
use arvo_runtime::machine::{ArvoMachine, MachineStatus};
use arvo_runtime::memory::{InMemoryMemory, MachineMemory, RedbStore};
use arvo_runtime::orchestrator::{ArvoOrchestrator, OrchestratorMemoryRecord};
use common_backends::workflows::calc_init;
use common_resumable::{CalcAdd, CalcFlow, calc_handler};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Pair {
    a: f64,
    b: f64,
    left: Option<f64>,
    right: Option<f64>,
    label: Option<String>,
}

type PairRecord = OrchestratorMemoryRecord<Pair>;

/// `both` (parallel): regions `left` and `right` each call `com.calc.add` on entry and take one
/// answer (guards: the left region takes the first, the right one the second); once both are
/// in, `both` leaves (eventless, guarded) for the compound `finish`, whose `check` labels the
/// sum (`big` / `small`, guarded candidates in order) and ends in the final `done`.
fn pair_machine() -> ArvoMachine<Pair> {
    ArvoMachine::builder("pair", CalcFlow::contract().latest())
        .service("calc", CalcAdd::contract().latest())
        .context(|init| {
            let n = |k: &str| init.data()[k].as_f64().unwrap_or_default();
            Ok(Pair {
                a: n("a"),
                b: n("b"),
                left: None,
                right: None,
                label: None,
            })
        })
        .output(|c| Ok(json!({"result": c.left.unwrap_or(0.0) + c.right.unwrap_or(0.0)})))
        .initial("both")
        .state("both", |s| {
            s.parallel()
                .state("left", |r| {
                    r.initial("asking")
                        .state("asking", |s| {
                            s.entry(|c, _, out| {
                                out.emit(RawOutput::new("com.calc.add", json!({"a": c.a, "b": 0})))
                            })
                            .on("evt.calc.add.success", |t| {
                                t.target("got")
                                    .guard_named("firstAnswer", |c: &Pair, _| c.left.is_none())
                                    .action(|c, e, _| {
                                        c.left = e.data()["result"].as_f64();
                                        Ok(())
                                    })
                            })
                        })
                        .state("got", |s| s)
                })
                .state("right", |r| {
                    r.initial("asking")
                        .state("asking", |s| {
                            s.entry(|c, _, out| {
                                out.emit(RawOutput::new("com.calc.add", json!({"a": 0, "b": c.b})))
                            })
                            .on("evt.calc.add.success", |t| {
                                t.target("got")
                                    .guard_named("secondAnswer", |c: &Pair, _| c.left.is_some())
                                    .action(|c, e, _| {
                                        c.right = e.data()["result"].as_f64();
                                        Ok(())
                                    })
                            })
                        })
                        .state("got", |s| s)
                })
                .always(|t| {
                    t.target("finish")
                        .guard(|c: &Pair, _| c.left.is_some() && c.right.is_some())
                })
        })
        .state("finish", |s| {
            s.initial("check").state("check", |s| {
                s.always(|t| {
                    t.target("#pair.done")
                        .guard(|c: &Pair, _| c.left.unwrap_or(0.0) + c.right.unwrap_or(0.0) > 10.0)
                        .action(|c, _, _| {
                            c.label = Some("big".into());
                            Ok(())
                        })
                })
                .always(|t| {
                    t.target("#pair.done").action(|c, _, _| {
                        c.label = Some("small".into());
                        Ok(())
                    })
                })
            })
        })
        .state("done", |s| s.final_state())
        .build()
        .unwrap()
}

#[tokio::test]
async fn parallel_and_compound_states_round_trip_through_redb() {
    let machine = pair_machine();
    assert!(
        machine.requires_locking(),
        "a parallel state requires the lock"
    );
    assert!(
        machine.mermaid().contains("--"),
        "regions are separated in the diagram"
    );
    let dir = common_tempdir::TempDir::new("machine-statechart");
    let store = RedbStore::open(dir.file()).unwrap();
    let memory = store.memory::<PairRecord>("pair").unwrap();
    let orch = ArvoOrchestrator::builder(memory.clone())
        .machine(machine)
        .build()
        .unwrap();
    let h1 = calc_handler();
    let init = calc_init(2.0, 30.0);
    let calls = orch.execute(&init, ParentContext::Event).await.unwrap();
    assert_eq!(calls.len(), 2, "one call per region, on entry");
    let value = |r: &PairRecord| serde_json::to_value(&r.as_normal().unwrap().value).unwrap();
    let rec = memory.read(init.subject()).await.unwrap().unwrap().value;
    assert_eq!(
        value(&rec),
        json!({"both": {"left": "asking", "right": "asking"}})
    );
    // The right region's call is answered first: the left region still takes it (guards).
    let second = h1.execute(&calls[1], ParentContext::Event).await.unwrap();
    assert!(
        orch.execute(&second[0], ParentContext::Event)
            .await
            .unwrap()
            .is_empty()
    );
    let rec = memory.read(init.subject()).await.unwrap().unwrap().value;
    assert_eq!(
        value(&rec),
        json!({"both": {"left": "got", "right": "asking"}})
    );
    assert_eq!(rec.as_normal().unwrap().state.context.left, Some(30.0));
    let first = h1.execute(&calls[0], ParentContext::Event).await.unwrap();
    let done = orch.execute(&first[0], ParentContext::Event).await.unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].data()["result"], 32.0);
    let rec = memory.read(init.subject()).await.unwrap().unwrap().value;
    let rec = rec.as_normal().unwrap();
    assert_eq!(rec.status, MachineStatus::Done);
    assert_eq!(serde_json::to_value(&rec.value).unwrap(), json!("done"));
    assert_eq!(rec.state.context.label.as_deref(), Some("big"));
}

#[tokio::test]
async fn parallel_machine_on_the_broker() {
    let broker = EventBroker::builder()
        .handler(
            ArvoOrchestrator::builder(InMemoryMemory::<PairRecord>::new()).machine(pair_machine()),
        )
        .handler(calc_handler())
        .build()
        .unwrap();
    for (a, b, label_sum) in [(1.0, 2.0, 3.0), (20.0, 5.0, 25.0)] {
        let outcome = broker.resolve(calc_init(a, b)).await.unwrap();
        assert!(outcome.is_ok(), "{:?}", outcome.errors);
        assert_eq!(outcome.result().unwrap().data()["result"], label_sum);
    }
}
