//! Concurrency and idempotency: 8 tasks deliver the service responses of 1,000 fan-out
//! workflows in random order, with duplicates (InMemoryMemory, locking on). Every workflow
//! completes exactly once (one distinct completion id, the right result, the handler ran once
//! per distinct event) and no record is lost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common_backends;
mod common_resumable;
mod common_tempdir;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arvo_runtime::event::ArvoEvent;
use arvo_runtime::factory::{ArvoOrchestratorEventFactory, EventInput};
use arvo_runtime::handler::ParentContext;
use arvo_runtime::memory::{InMemoryMemory, LockPolicy, MachineMemory, RedbStore};
use arvo_runtime::resumable::{ArvoResumable, ResumableMemoryRecord, ResumableStatus};
use arvo_runtime::typed::TypedContract;
use common_backends::workflows;
use common_resumable::{
    CalcContext, CalcFlow, CalcFlowV1_0_0, FanOut, calc_handler, calc_resumable,
};
use serde_json::json;

fn init_event(a: f64, b: f64) -> ArvoEvent {
    ArvoOrchestratorEventFactory::new(CalcFlow::contract().latest())
        .unwrap()
        .init(EventInput::new(
            "com.bench.client",
            json!({"parentSubject$$": null, "a": a, "b": b}),
        ))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_tasks_random_order_with_duplicates() {
    let memory = InMemoryMemory::with_policy(busy_policy());
    workflows::eight_tasks_random_order_with_duplicates(memory.clone(), 1_000).await;
    assert_eq!(memory.len(), 1_000, "no record lost");
}

/// The same on the embedded durable memory (fewer workflows: every step is an fsync'd commit).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_tasks_random_order_with_duplicates_on_redb() {
    let dir = common_tempdir::TempDir::new("resumable-concurrency");
    let store = RedbStore::open(dir.file()).unwrap();
    let memory = store.memory_with_policy("calc", busy_policy()).unwrap();
    workflows::eight_tasks_random_order_with_duplicates(memory.clone(), 250).await;
    assert_eq!(memory.len().unwrap(), 250, "no record lost");
    // Every record in the file is a readable, finished workflow.
    let all = memory.list(None, 1_000).unwrap();
    assert_eq!(all.len(), 250);
    assert!(
        all.iter()
            .all(|(_, r)| r.value.as_normal().unwrap().status == ResumableStatus::Done)
    );
}

#[tokio::test]
async fn redelivered_events_yield_the_same_events_without_running_again() {
    let memory: InMemoryMemory<ResumableMemoryRecord<CalcContext>> = InMemoryMemory::new();
    let resumable = calc_resumable(memory.clone());
    let handler = calc_handler();
    let init = init_event(1.0, 2.0);
    let first = resumable
        .execute(&init, ParentContext::Event)
        .await
        .unwrap();
    let v1 = memory.read(init.subject()).await.unwrap().unwrap().version;
    let again = resumable
        .execute(&init, ParentContext::Event)
        .await
        .unwrap();
    assert_eq!(first, again, "same events, same ids");
    let v2 = memory.read(init.subject()).await.unwrap().unwrap().version;
    assert_eq!(v1, v2, "nothing written for a re-delivery");
    let answer = handler
        .execute(&first[0], ParentContext::Event)
        .await
        .unwrap();
    let done = resumable
        .execute(&answer[0], ParentContext::Event)
        .await
        .unwrap();
    assert_eq!(done[0].event_type(), CalcFlow::COMPLETE_TYPE);
    // After completion: the answer again -> the same completion; the init again -> its
    // original service call (remembered in the window).
    assert_eq!(
        resumable
            .execute(&answer[0], ParentContext::Event)
            .await
            .unwrap(),
        done
    );
    assert_eq!(
        resumable
            .execute(&init, ParentContext::Event)
            .await
            .unwrap(),
        first
    );
    // A new event on a done workflow is ignored.
    let other = handler
        .execute(&first[0], ParentContext::Event)
        .await
        .unwrap();
    assert!(
        resumable
            .execute(&other[0], ParentContext::Event)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn the_window_is_bounded() {
    let memory: InMemoryMemory<ResumableMemoryRecord<CalcContext>> = InMemoryMemory::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let resumable =
        ArvoResumable::builder(CalcFlow::orchestrator_contract().clone(), memory.clone())
            .idempotency_window(1)
            .handler::<CalcFlowV1_0_0, _>(Arc::new(FanOut {
                runs: Arc::clone(&runs),
            }))
            .build()
            .unwrap();
    let handler = calc_handler();
    let init = init_event(1.0, 2.0);
    let calls = resumable
        .execute(&init, ParentContext::Event)
        .await
        .unwrap();
    let answer = handler
        .execute(&calls[0], ParentContext::Event)
        .await
        .unwrap();
    resumable
        .execute(&answer[0], ParentContext::Event)
        .await
        .unwrap();
    let rec = memory.read(init.subject()).await.unwrap().unwrap().value;
    assert!(rec.as_normal().unwrap().processed.is_empty());
    // The init fell out of a window of 1: it runs again (the reference's behaviour).
    resumable
        .execute(&init, ParentContext::Event)
        .await
        .unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    let _ = <CalcFlow as TypedContract>::TYPE;
}
