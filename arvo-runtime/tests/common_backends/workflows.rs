//! Resumable workflows run on any memory: the broker-level calc workflow, a parent starting a
//! child workflow, and the concurrency test of `resumable_concurrency.rs` (8 tasks, duplicate
//! answers in random order, every workflow completes exactly once).

use std::collections::{HashMap, HashSet};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arvo_runtime::arvo_contract;
use arvo_runtime::broker::EventBroker;
use arvo_runtime::event::ArvoEvent;
use arvo_runtime::factory::{ArvoOrchestratorEventFactory, EventInput};
use arvo_runtime::handler::{
    EventHandler, HandlerError, ParentContext, TransactionCause, Violation,
};
use arvo_runtime::memory::MachineMemory;
use arvo_runtime::resumable::{
    ArvoResumable, Outcome, ResumableHandler, ResumableMemoryRecord, ResumableStatus, ServiceEvent,
    Step, StepEvent,
};
use arvo_runtime::typed::Emits;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::common_resumable::{
    AddInput, CalcContext, CalcFlow, CalcFlowV1_0_0, FanOut, calc_handler, calc_resumable,
};

/// What the calc workflows store.
pub type CalcRecord = ResumableMemoryRecord<CalcContext>;

/// The init event of the calc workflow W for `a + b`.
pub fn calc_init(a: f64, b: f64) -> ArvoEvent {
    ArvoOrchestratorEventFactory::new(CalcFlow::contract().latest())
        .unwrap()
        .init(EventInput::new(
            "com.bench.client",
            json!({"parentSubject$$": null, "a": a, "b": b}),
        ))
        .unwrap()
}

/// The status of `subject`'s record (panics when it is missing or a failure record).
pub async fn status<M: MachineMemory<CalcRecord>>(memory: &M, subject: &str) -> ResumableStatus {
    let rec = memory.read(subject).await.unwrap().expect("a record").value;
    rec.as_normal().expect("a normal record").status
}

/// `n` calc workflows resolved one after the other by the in-process broker: each completes to
/// its client with the right sum, and its record on `memory` is `done`.
pub async fn broker_resolves_workflows<M>(memory: M, n: usize)
where
    M: MachineMemory<CalcRecord> + Clone + 'static,
{
    let broker = EventBroker::builder()
        .handler(Arc::new(calc_resumable(memory.clone())))
        .handler(Arc::new(calc_handler()))
        .build()
        .unwrap();
    for i in 0..n {
        let (a, b) = (i as f64, 0.5);
        let init = calc_init(a, b);
        let outcome = tokio::time::timeout(Duration::from_secs(30), broker.resolve(init.clone()))
            .await
            .expect("resolved in time")
            .unwrap();
        assert!(outcome.is_ok(), "{:?}", outcome.errors);
        let done = outcome.result().expect("a completion");
        assert_eq!(done.event_type(), CalcFlow::COMPLETE_TYPE);
        assert_eq!(done.to(), Some("com.bench.client"));
        assert_eq!(done.data()["result"].as_f64(), Some(a + b));
        assert_eq!(done.parentid(), Some(init.id()));
        assert_eq!(status(&memory, init.subject()).await, ResumableStatus::Done);
    }
}

/// The parent orchestration's init.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ParentInit {
    /// a
    pub a: f64,
    /// b
    pub b: f64,
}
/// The parent's completion: what its child returned.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ParentDone {
    /// The child's completion payload.
    pub child: Value,
}

/// A parent orchestration that starts the calc workflow as its child.
#[arvo_contract(uri = "#/test/orchestrator/calc-parent", orchestrator = "calc.parent",
    version("1.0.0", init = ParentInit, complete = ParentDone))]
pub struct CalcParent;

struct Parent<W>(PhantomData<fn() -> W>);

impl ResumableHandler<CalcParentV1_0_0> for Parent<CalcFlowV1_0_0> {
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
            StepEvent::Service(ServiceEvent::SystemError(e)) => Err(HandlerError::from(
                std::io::Error::other(e.error_message.clone()),
            )),
            StepEvent::Init(_) => Ok(Outcome::wait()),
        }
    }
}

/// What [`parent_starts_a_child`] returns: the parent's and the child's subjects.
pub struct Family {
    /// The parent workflow's subject.
    pub parent: String,
    /// The child workflow's subject.
    pub child: String,
}

/// A parent workflow (its records on `parents`) starts the calc workflow as its child (records
/// on `children`), resumes on the child's completion and completes. Both records end `done`;
/// the child's record names its parent.
pub async fn parent_starts_a_child<P, C>(parents: P, children: C) -> Family
where
    P: MachineMemory<ResumableMemoryRecord<String>> + Clone + 'static,
    C: MachineMemory<CalcRecord> + Clone + 'static,
{
    let parent =
        ArvoResumable::builder(CalcParent::orchestrator_contract().clone(), parents.clone())
            .requires_locking(true)
            .handler::<CalcParentV1_0_0, _>(Arc::new(Parent::<CalcFlowV1_0_0>(PhantomData)))
            .build()
            .unwrap();
    let broker = EventBroker::builder()
        .handler(Arc::new(parent))
        .handler(Arc::new(calc_resumable(children.clone())))
        .handler(Arc::new(calc_handler()))
        .build()
        .unwrap();
    let init = ArvoOrchestratorEventFactory::new(CalcParent::contract().latest())
        .unwrap()
        .init(EventInput::new(
            "com.test.client",
            json!({"parentSubject$$": null, "a": 2, "b": 3}),
        ))
        .unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(30), broker.resolve(init.clone()))
        .await
        .expect("resolved in time")
        .unwrap();
    assert!(outcome.is_ok(), "{:?}", outcome.errors);
    let done = outcome.result().expect("the parent's completion");
    assert_eq!(done.event_type(), "arvo.orc.calc.parent.done");
    assert_eq!(done.subject(), init.subject());
    assert_eq!(done.data()["child"]["result"].as_f64(), Some(5.0));
    // The child's init, as the parent's record remembers producing it.
    let parent_rec = parents.read(init.subject()).await.unwrap().unwrap().value;
    let parent_rec = parent_rec.as_normal().unwrap();
    assert_eq!(parent_rec.status, ResumableStatus::Done);
    let start = parent_rec
        .produced_for(init.id())
        .and_then(|p| p.first())
        .expect("the child's init")
        .clone();
    assert_eq!(start.event_type(), CalcFlow::TYPE);
    let child = start.subject().to_owned();
    assert_ne!(child, init.subject());
    let child_rec = children.read(&child).await.unwrap().unwrap().value;
    let child_rec = child_rec.as_normal().unwrap();
    assert_eq!(child_rec.parent_subject.as_deref(), Some(init.subject()));
    assert_eq!(child_rec.status, ResumableStatus::Done);
    Family {
        parent: init.subject().to_owned(),
        child,
    }
}

/// A small deterministic PRNG (xorshift64*), so the shuffle is reproducible.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }
}

/// `resumable_concurrency.rs` on `memory`: `workflows` fan-out workflows, their answers (and
/// duplicates of a random 60 %) delivered by 8 tasks in random order, locking on. Every
/// workflow completes exactly once with the right result, the handler ran once per distinct
/// event, and every record is `done`.
pub async fn eight_tasks_random_order_with_duplicates<M>(memory: M, workflows: usize)
where
    M: MachineMemory<CalcRecord> + Clone + 'static,
{
    let runs = Arc::new(AtomicUsize::new(0));
    let resumable = Arc::new(
        ArvoResumable::builder(CalcFlow::orchestrator_contract().clone(), memory.clone())
            .requires_locking(true)
            .handler::<CalcFlowV1_0_0, _>(Arc::new(FanOut {
                runs: Arc::clone(&runs),
            }))
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
        let calls = resumable
            .execute(&init, ParentContext::Event)
            .await
            .unwrap();
        assert_eq!(calls.len(), 2);
        for call in &calls {
            responses.extend(handler.execute(call, ParentContext::Event).await.unwrap());
        }
    }
    assert_eq!(runs.load(Ordering::SeqCst), workflows);
    let completions = deliver_shuffled_with_duplicates(resumable, responses, workflows).await;
    let mut ids: HashMap<&str, HashSet<&str>> = HashMap::new();
    for e in &completions {
        assert_eq!(e.event_type(), CalcFlow::COMPLETE_TYPE);
        ids.entry(e.subject()).or_default().insert(e.id());
        assert_eq!(e.data()["result"].as_f64(), Some(expected[e.subject()]));
    }
    assert_eq!(ids.len(), workflows);
    assert!(
        ids.values().all(|s| s.len() == 1),
        "a workflow completed twice"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 3 * workflows);
    for subject in expected.keys() {
        assert_eq!(status(&memory, subject).await, ResumableStatus::Done);
    }
}

/// The delivery half of [`eight_tasks_random_order_with_duplicates`], for any orchestration
/// handler: `responses` plus duplicates of a random 60 % of them (at least `workflows * 6 / 10`),
/// shuffled, delivered by 8 tasks; a delivery refused with `LOCK_UNACQUIRED` is queued again.
/// Returns every event the handler emitted, in no particular order.
pub async fn deliver_shuffled_with_duplicates<H>(
    handler: Arc<H>,
    mut responses: Vec<ArvoEvent>,
    workflows: usize,
) -> Vec<ArvoEvent>
where
    H: EventHandler + 'static,
{
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..(workflows * 6 / 10) {
        let dup = responses[rng.below(responses.len())].clone();
        responses.push(dup);
    }
    for i in (1..responses.len()).rev() {
        responses.swap(i, rng.below(i + 1));
    }
    let total = responses.len();
    assert!(total > 2 * workflows, "duplicates were added");
    let queue = Arc::new(Mutex::new(responses));
    let completions = Arc::new(Mutex::new(Vec::new()));
    let retries = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (queue, completions, handler, retries) = (
            Arc::clone(&queue),
            Arc::clone(&completions),
            Arc::clone(&handler),
            Arc::clone(&retries),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let Some(event) = queue.lock().unwrap().pop() else {
                    break;
                };
                match handler.execute(&event, ParentContext::Event).await {
                    Ok(out) => completions.lock().unwrap().extend(out),
                    Err(Violation::Transaction {
                        cause: TransactionCause::LockUnacquired,
                        ..
                    }) => {
                        retries.fetch_add(1, Ordering::SeqCst);
                        queue.lock().unwrap().insert(0, event);
                    }
                    Err(v) => panic!("unexpected violation: {v}"),
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    eprintln!("lock retries: {}", retries.load(Ordering::SeqCst));
    std::mem::take(&mut *completions.lock().unwrap())
}

/// Calc workflows run step by step on `memory`, with `cut` (which closes the memory's
/// connections from the server's side and returns how many it closed) called before every
/// step: each step reconnects, and every workflow completes with the right sum and a `done`
/// record. Each cut must find at least one open connection (the one the step before used).
pub async fn steps_survive_lost_connections<M, F, Fut>(memory: M, workflows: usize, cut: F)
where
    M: MachineMemory<CalcRecord> + Clone + 'static,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let orchestrator = calc_resumable(memory.clone());
    let service = calc_handler();
    for i in 0..workflows {
        let (a, b) = (i as f64, 0.25);
        let init = calc_init(a, b);
        assert!(
            cut().await >= 1,
            "workflow {i}: no connection to cut before the init"
        );
        let calls = orchestrator
            .execute(&init, ParentContext::Event)
            .await
            .unwrap_or_else(|v| panic!("workflow {i}: the init after a cut: {v}"));
        assert_eq!(calls.len(), 1);
        let answers = service
            .execute(&calls[0], ParentContext::Event)
            .await
            .unwrap();
        assert!(
            cut().await >= 1,
            "workflow {i}: no connection to cut before the answer"
        );
        let done = orchestrator
            .execute(&answers[0], ParentContext::Event)
            .await
            .unwrap_or_else(|v| panic!("workflow {i}: the answer after a cut: {v}"));
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].event_type(), CalcFlow::COMPLETE_TYPE);
        assert_eq!(done[0].data()["result"].as_f64(), Some(a + b));
        assert_eq!(status(&memory, init.subject()).await, ResumableStatus::Done);
    }
}
