//! Concurrency and idempotency of `ArvoOrchestrator`, as `resumable_concurrency.rs` tests
//! `ArvoResumable`: 8 tasks deliver the service answers of 1,000 fan-out machine workflows in
//! random order, with duplicates (locking on), through the shared driver of
//! `common_backends`. Every workflow completes exactly once (one distinct completion id, the
//! right result), each transition action ran once per distinct answer, and no record is lost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common_backends;
mod common_resumable;
mod common_tempdir;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arvo_runtime::handler::{ParentContext, RawOutput};
use arvo_runtime::machine::{ArvoMachine, MachineStatus};
use arvo_runtime::memory::{InMemoryMemory, LockPolicy, MachineMemory, RedbStore};
use arvo_runtime::orchestrator::{ArvoOrchestrator, OrchestratorMemoryRecord};
use common_backends::workflows::{calc_init, deliver_shuffled_with_duplicates};
use common_resumable::{CalcAdd, CalcFlow, calc_handler};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The fan-out machine's context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct FanContext {
    a: f64,
    b: f64,
    sum: f64,
    answers: u32,
}

type FanRecord = OrchestratorMemoryRecord<FanContext>;

/// Init -> two `com.calc.add` calls; completes with the sum of both results once both answers
/// arrived. `runs` counts the transition actions run.
fn fan_out(runs: Arc<AtomicUsize>) -> ArvoMachine<FanContext> {
    let add = move |c: &mut FanContext, e: &arvo_runtime::event::ArvoEvent| {
        runs.fetch_add(1, Ordering::SeqCst);
        c.sum += e.data()["result"].as_f64().unwrap_or_default();
        c.answers += 1;
    };
    let add2 = add.clone();
    ArvoMachine::builder("fanOut", CalcFlow::contract().latest())
        .service("calc", CalcAdd::contract().latest())
        .context(|init| {
            let n = |k: &str| init.data()[k].as_f64().unwrap_or_default();
            Ok(FanContext {
                a: n("a"),
                b: n("b"),
                sum: 0.0,
                answers: 0,
            })
        })
        .output(|c| Ok(json!({"result": c.sum})))
        .initial("adding")
        .state("adding", move |s| {
            s.entry(|c, _, out| {
                out.emit(RawOutput::new("com.calc.add", json!({"a": c.a, "b": c.b})))?;
                out.emit(RawOutput::new("com.calc.add", json!({"a": c.b, "b": c.a})))
            })
            .on("evt.calc.add.success", move |t| {
                t.target("done")
                    .guard(|c: &FanContext, _| c.answers == 1)
                    .action(move |c, e, _| {
                        add(c, e);
                        Ok(())
                    })
            })
            .on("evt.calc.add.success", move |t| {
                t.action(move |c, e, _| {
                    add2(c, e);
                    Ok(())
                })
            })
        })
        .state("done", |s| s.final_state())
        .build()
        .unwrap()
}

/// Lock retries short enough for a busy subject to be retried within the test.
fn busy_policy() -> LockPolicy {
    LockPolicy {
        max_retries: 50,
        initial_delay: std::time::Duration::from_millis(1),
        backoff_exponent: 1.2,
        ..LockPolicy::default()
    }
}

async fn eight_tasks<M>(memory: M, workflows: usize)
where
    M: MachineMemory<FanRecord> + Clone + 'static,
{
    let runs = Arc::new(AtomicUsize::new(0));
    let machine = fan_out(Arc::clone(&runs));
    // Two calls of a single-emit service from one state: the reference's analysis misses this
    // race (spec §4.2 step 4), so the lock is asked for explicitly.
    assert!(!machine.requires_locking());
    let orchestrator = Arc::new(
        ArvoOrchestrator::builder(memory.clone())
            .requires_locking(true)
            .machine(machine)
            .build()
            .unwrap(),
    );
    let handler = calc_handler();
    let mut expected = HashMap::new();
    let mut responses = Vec::new();
    for i in 0..workflows {
        let (a, b) = (i as f64, (i + 1) as f64);
        let init = calc_init(a, b);
        expected.insert(init.subject().to_owned(), 2.0 * (a + b));
        let calls = orchestrator
            .execute(&init, ParentContext::Event)
            .await
            .unwrap();
        assert_eq!(calls.len(), 2);
        for call in &calls {
            responses.extend(handler.execute(call, ParentContext::Event).await.unwrap());
        }
    }
    let completions =
        deliver_shuffled_with_duplicates(Arc::clone(&orchestrator), responses, workflows).await;
    let mut ids: HashMap<&str, HashSet<&str>> = HashMap::new();
    for e in &completions {
        assert_eq!(e.event_type(), CalcFlow::COMPLETE_TYPE);
        ids.entry(e.subject()).or_default().insert(e.id());
        assert_eq!(e.data()["result"].as_f64(), Some(expected[e.subject()]));
    }
    assert_eq!(ids.len(), workflows, "every workflow completed");
    assert!(
        ids.values().all(|s| s.len() == 1),
        "a workflow completed twice"
    );
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2 * workflows,
        "one transition per distinct answer"
    );
    for subject in expected.keys() {
        let rec = memory.read(subject).await.unwrap().unwrap().value;
        let rec = rec.as_normal().unwrap();
        assert_eq!(rec.status, MachineStatus::Done);
        assert_eq!(rec.state.context.answers, 2);
        assert_eq!(rec.state.output, Some(json!({"result": expected[subject]})));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_tasks_random_order_with_duplicates() {
    let memory = InMemoryMemory::with_policy(busy_policy());
    eight_tasks(memory.clone(), 1_000).await;
    assert_eq!(memory.len(), 1_000, "no record lost");
}

/// The same on the embedded durable memory (fewer workflows: every step is an fsync'd commit).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_tasks_random_order_with_duplicates_on_redb() {
    let dir = common_tempdir::TempDir::new("orchestrator-concurrency");
    let store = RedbStore::open(dir.file()).unwrap();
    let memory = store.memory_with_policy("fan", busy_policy()).unwrap();
    eight_tasks(memory.clone(), 250).await;
    assert_eq!(memory.len().unwrap(), 250, "no record lost");
}

/// Re-delivery: the same event again yields the same events (same ids) and writes nothing;
/// after completion the answer again yields the same completion.
#[tokio::test]
async fn redelivered_events_yield_the_same_events_without_running_again() {
    let runs = Arc::new(AtomicUsize::new(0));
    let memory: InMemoryMemory<FanRecord> = InMemoryMemory::new();
    let orchestrator = ArvoOrchestrator::builder(memory.clone())
        .machine(fan_out(Arc::clone(&runs)))
        .build()
        .unwrap();
    let handler = calc_handler();
    let init = calc_init(1.0, 2.0);
    let calls = orchestrator
        .execute(&init, ParentContext::Event)
        .await
        .unwrap();
    let v1 = memory.read(init.subject()).await.unwrap().unwrap().version;
    assert_eq!(
        orchestrator
            .execute(&init, ParentContext::Event)
            .await
            .unwrap(),
        calls
    );
    assert_eq!(
        memory.read(init.subject()).await.unwrap().unwrap().version,
        v1
    );
    let a0 = handler
        .execute(&calls[0], ParentContext::Event)
        .await
        .unwrap();
    let a1 = handler
        .execute(&calls[1], ParentContext::Event)
        .await
        .unwrap();
    assert!(
        orchestrator
            .execute(&a0[0], ParentContext::Event)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        orchestrator
            .execute(&a0[0], ParentContext::Event)
            .await
            .unwrap()
            .is_empty()
    );
    let done = orchestrator
        .execute(&a1[0], ParentContext::Event)
        .await
        .unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].data_value(), &json!({"result": 6.0}));
    assert_eq!(
        orchestrator
            .execute(&a1[0], ParentContext::Event)
            .await
            .unwrap(),
        done
    );
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}
