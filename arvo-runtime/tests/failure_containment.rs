//! Failure containment (issue 15, items 2-5): panics in user code become the errors they stand
//! for, a broker resolve is bounded (event budget, buffer), and no failure is lost silently.
//! Each test names what `main` did before the fix.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common_resumable/mod.rs"]
mod common_resumable;

use arvo_runtime::arvo_contract;
use arvo_runtime::broker::{
    BrokerError, DEFAULT_MAX_EVENTS_PER_RESOLVE, EventBroker, FailureKind, Stage, Verdict,
};
use arvo_runtime::contract::ArvoContract;
use arvo_runtime::event::ArvoEvent;
use arvo_runtime::factory::{ArvoOrchestratorEventFactory, EventInput};
use arvo_runtime::handler::{
    ArvoEventHandler, DynEventHandler, EventHandler, HandlerError, HandlerInput, HandlerResult,
    MAX_PANIC_MESSAGE, ParentContext, RawOutput, Violation,
};
use arvo_runtime::memory::{InMemoryMemory, MachineMemory};
use arvo_runtime::orchestration::OrchestrationRecord;
use arvo_runtime::resumable::{
    ArvoResumable, Outcome, ResumableHandler, ResumableMemoryRecord, ResumableStatus, ServiceEvent,
    Step, StepEvent,
};
use arvo_runtime::typed::{HandlerOutput, Input};
use common_resumable::{
    AddResult, CalcAdd, CalcAddV1_0_0, CalcAddV1_0_0Emits, CalcContext, CalcFlow, CalcFlowV1_0_0,
    CalcFlowV1_0_0Emits, CalcResumable,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once, OnceLock};
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// Helpers

/// Panics this file injects start with `injected`; they are not printed (the default hook still
/// prints every other panic, so a failing assertion is reported as usual).
fn quiet_injected_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let msg = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
            if !msg.is_some_and(|m| m.starts_with("injected")) {
                default(info);
            }
        }));
    });
}

struct Svc<F> {
    source: String,
    sys: String,
    f: F,
}

impl<F, Fut> EventHandler for Svc<F>
where
    F: Fn(ArvoEvent) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Vec<ArvoEvent>, Violation>> + Send,
{
    fn source(&self) -> &str {
        &self.source
    }
    fn system_error_type(&self) -> &str {
        &self.sys
    }
    async fn execute(
        &self,
        event: &ArvoEvent,
        _: ParentContext,
    ) -> Result<Vec<ArvoEvent>, Violation> {
        (self.f)(event.clone()).await
    }
}

fn svc<F, Fut>(source: &str, f: F) -> Arc<dyn DynEventHandler>
where
    F: Fn(ArvoEvent) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Vec<ArvoEvent>, Violation>> + Send + 'static,
{
    Arc::new(Svc {
        source: source.to_owned(),
        sys: format!("sys.{source}.error"),
        f,
    })
}

/// An event from `source` of type (and `to`) `to`.
fn ev(source: &str, to: &str, data: Value) -> ArvoEvent {
    ArvoEvent::builder()
        .source(source)
        .event_type(to)
        .to(to)
        .subject("s-1")
        .data_json(data)
        .build()
        .unwrap()
}

/// What handler `from` emits in answer to `input`, of type and `to` `to`.
fn emit(from: &str, input: &ArvoEvent, to: &str) -> ArvoEvent {
    ArvoEvent::builder()
        .source(from)
        .event_type(to)
        .to(to)
        .subject(input.subject())
        .parentid(input.id())
        .data_json(json!({}))
        .build()
        .unwrap()
}

/// The answer of `from` back to the input's source.
fn reply(from: &str, input: &ArvoEvent) -> ArvoEvent {
    ArvoEvent::builder()
        .source(from)
        .event_type("evt.t.done")
        .to(input.source())
        .subject(input.subject())
        .parentid(input.id())
        .data_json(json!({}))
        .build()
        .unwrap()
}

/// A handler that answers every event with `fanout` events to `to`, recording the broker's
/// `pending()` high-water mark.
fn relay(
    source: &'static str,
    to: &'static str,
    fanout: usize,
    broker: Arc<OnceLock<EventBroker>>,
    high_water: Arc<AtomicUsize>,
) -> Arc<dyn DynEventHandler> {
    svc(source, move |e| {
        let (broker, high_water) = (broker.clone(), high_water.clone());
        async move {
            if let Some(b) = broker.get() {
                high_water.fetch_max(b.pending(), Ordering::SeqCst);
            }
            Ok((0..fanout).map(|_| emit(source, &e, to)).collect())
        }
    })
}

fn type_names(types: &[(String, usize)]) -> Vec<&str> {
    types.iter().map(|(t, _)| t.as_str()).collect()
}

// ---------------------------------------------------------------------------------------------
// Item 2: cycles and memory

/// A emits to B, B to A. On `main`, `resolve` never returned (this test timed out). Now the
/// default budget stops the workflow and the error names both types of the cycle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_handler_cycle_ends_with_the_budget_error() {
    let cell = Arc::new(OnceLock::new());
    let hw = Arc::new(AtomicUsize::new(0));
    let broker = EventBroker::builder()
        .handler(relay("com.t.a", "com.t.b", 1, cell.clone(), hw.clone()))
        .handler(relay("com.t.b", "com.t.a", 1, cell.clone(), hw.clone()))
        .build()
        .unwrap();
    cell.set(broker.clone()).unwrap();
    assert_eq!(
        broker.max_events_per_resolve(),
        DEFAULT_MAX_EVENTS_PER_RESOLVE
    );
    let started = std::time::Instant::now();
    let result = tokio::time::timeout(
        Duration::from_secs(60),
        broker.resolve(ev("com.client", "com.t.a", json!({}))),
    )
    .await
    .expect("resolve of a cycle must end");
    let Err(BrokerError::EventBudgetExceeded { limit, event_types }) = result else {
        panic!("expected the budget error, got {result:?}");
    };
    assert_eq!(limit, DEFAULT_MAX_EVENTS_PER_RESOLVE);
    let mut names = type_names(&event_types);
    names.sort_unstable();
    assert_eq!(names, ["com.t.a", "com.t.b"]);
    let message = BrokerError::EventBudgetExceeded {
        limit,
        event_types: event_types.clone(),
    }
    .to_string();
    assert!(
        message.contains(&format!("budget of {limit} events")),
        "{message}"
    );
    assert!(message.contains("com.t.a ×") && message.contains("com.t.b ×"));
    eprintln!(
        "A <-> B cycle stopped after {limit} events in {:?}",
        started.elapsed()
    );
    // A sequential cycle holds one event at a time.
    assert!(hw.load(Ordering::SeqCst) <= 2);
    // The stopped workflow left nothing behind; the broker keeps working.
    broker.idle().await;
    assert_eq!(broker.pending(), 0);
    let small = EventBroker::builder()
        .max_events_per_resolve(50)
        .handler(relay("com.t.a", "com.t.b", 1, cell.clone(), hw.clone()))
        .handler(relay("com.t.b", "com.t.a", 1, cell, hw))
        .build()
        .unwrap();
    let err = small
        .resolve(ev("com.client", "com.t.a", json!({})))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        BrokerError::EventBudgetExceeded { limit: 50, .. }
    ));
}

/// Each step emits two events to the other handler. On `main` memory grew without bound (2.1 GB
/// after 6 s) and `resolve` never returned. Now `pending()` (queued + running + emitted and
/// not yet routed) never exceeds the buffer's bound, nor the budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fanout_cycle_stays_bounded() {
    for (buffer, budget) in [(1_000, DEFAULT_MAX_EVENTS_PER_RESOLVE), (1 << 20, 5_000)] {
        let cell = Arc::new(OnceLock::new());
        let hw = Arc::new(AtomicUsize::new(0));
        let broker = EventBroker::builder()
            .max_buffered_events(buffer)
            .max_events_per_resolve(budget)
            .defaults(arvo_runtime::broker::HandlerConfig::default().prefetch(4))
            .handler(relay("com.t.a", "com.t.b", 2, cell.clone(), hw.clone()))
            .handler(relay("com.t.b", "com.t.a", 2, cell.clone(), hw.clone()))
            .build()
            .unwrap();
        cell.set(broker.clone()).unwrap();
        // A sampler from outside, besides the handlers' own readings.
        let sampler = {
            let (broker, hw) = (broker.clone(), hw.clone());
            tokio::spawn(async move {
                loop {
                    hw.fetch_max(broker.pending(), Ordering::SeqCst);
                    tokio::task::yield_now().await;
                }
            })
        };
        let result = tokio::time::timeout(
            Duration::from_secs(60),
            broker.resolve(ev("com.client", "com.t.a", json!({}))),
        )
        .await
        .expect("resolve of a fan-out cycle must end");
        sampler.abort();
        let high = hw.load(Ordering::SeqCst);
        match result {
            Err(BrokerError::BufferFull { limit, event_types }) => {
                assert_eq!(limit, buffer);
                assert!(!event_types.is_empty());
            }
            Err(BrokerError::EventBudgetExceeded { limit, event_types }) => {
                assert_eq!(limit, budget);
                let mut names = type_names(&event_types);
                names.sort_unstable();
                assert_eq!(names, ["com.t.a", "com.t.b"]);
            }
            other => panic!("expected a bounded error, got {other:?}"),
        }
        assert!(high <= buffer, "pending reached {high} > buffer {buffer}");
        assert!(high <= budget, "pending reached {high} > budget {budget}");
        assert!(high > 100, "the cycle did fan out ({high})");
        broker.idle().await;
        assert_eq!(broker.pending(), 0);
    }
}

/// Publishes `events` into the broker's detached workflow, waits (at most 60 s: a cycle that
/// never ends fails here) until the broker is idle, and returns what they produced.
async fn settle_detached(
    broker: &EventBroker,
    events: impl IntoIterator<Item = ArvoEvent>,
) -> arvo_runtime::broker::Resolution {
    for e in events {
        broker.publish(e).await.unwrap();
    }
    tokio::time::timeout(Duration::from_secs(60), broker.idle())
        .await
        .expect("the detached workflow comes to rest");
    broker.take_detached_resolution()
}

/// The detached workflow (events from `publish`) has no `resolve` to stop, and before this
/// test a cycle in it ran for ever (`idle` never returned). Now what follows from each
/// published event is held to the budget, as a `resolve`'s workflow: the outputs past it are
/// dropped, with the budget error recorded, whether the cycle runs through two handlers, fans
/// out, or runs through a hook that publishes back; two published events have a budget each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_in_the_detached_workflow_stops_at_the_budget() {
    let cell = Arc::new(OnceLock::new());
    let hw = Arc::new(AtomicUsize::new(0));
    for budget in [50, DEFAULT_MAX_EVENTS_PER_RESOLVE] {
        let broker = EventBroker::builder()
            .max_events_per_resolve(budget)
            .handler(relay("com.t.a", "com.t.b", 1, cell.clone(), hw.clone()))
            .handler(relay("com.t.b", "com.t.a", 1, cell.clone(), hw.clone()))
            .build()
            .unwrap();
        let start = || ev("com.client", "com.t.a", json!({}));
        let r = settle_detached(&broker, [start(), start()]).await;
        assert_eq!(r.handled, 2 * budget, "{budget}");
        assert_eq!(r.errors.len(), 2, "{:?}", r.errors);
        let failure = &r.errors[0];
        let FailureKind::Dropped(BrokerError::EventBudgetExceeded { limit, event_types }) =
            &failure.kind
        else {
            panic!("expected the budget error, got {:?}", failure.kind);
        };
        assert_eq!(*limit, budget);
        let mut names = type_names(event_types);
        names.sort_unstable();
        assert_eq!(names, ["com.t.a", "com.t.b"]);
        assert_eq!(broker.pending(), 0);
    }

    // `try_publish` starts a budget of its own too.
    let broker = EventBroker::builder()
        .max_events_per_resolve(30)
        .handler(relay("com.t.a", "com.t.b", 1, cell.clone(), hw.clone()))
        .handler(relay("com.t.b", "com.t.a", 1, cell.clone(), hw.clone()))
        .build()
        .unwrap();
    broker
        .try_publish(ev("com.client", "com.t.a", json!({})))
        .unwrap();
    let r = settle_detached(&broker, []).await;
    assert_eq!((r.handled, r.errors.len()), (30, 1));

    // A fan-out cycle: each step emits two events to the other handler.
    let broker = EventBroker::builder()
        .max_events_per_resolve(1_000)
        .defaults(arvo_runtime::broker::HandlerConfig::default().prefetch(4))
        .handler(relay("com.t.a", "com.t.b", 2, cell.clone(), hw.clone()))
        .handler(relay("com.t.b", "com.t.a", 2, cell.clone(), hw.clone()))
        .build()
        .unwrap();
    let r = settle_detached(&broker, [ev("com.client", "com.t.a", json!({}))]).await;
    assert!(
        (500..=1_000).contains(&r.handled),
        "{} handled: at most the budget, and the dropped pairs are the last",
        r.handled
    );
    assert!(!r.errors.is_empty());
    assert!(r.errors.iter().all(|f| matches!(
        f.kind,
        FailureKind::Dropped(BrokerError::EventBudgetExceeded { limit: 1_000, .. })
    )));

    // Through the domained hook: the handler asks for approval, the hook publishes back to it.
    let approve = svc("com.t.approve", |e| async move {
        let mut parts = emit("com.t.approve", &e, "com.t.human").into_parts();
        parts.domain = Some("human.review".into());
        Ok(vec![ArvoEvent::from_parts(parts).unwrap()])
    });
    let hook_errors = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = hook_errors.clone();
    let broker = EventBroker::builder()
        .max_events_per_resolve(40)
        .handler(approve)
        .on_domained(move |fwd| {
            let seen = seen.clone();
            async move {
                let again = emit("com.t.human", &fwd.event, "com.t.approve");
                if let Err(e) = fwd.publish(again).await {
                    seen.lock().unwrap().push(e);
                }
            }
        })
        .build()
        .unwrap();
    let r = settle_detached(&broker, [ev("com.client", "com.t.approve", json!({}))]).await;
    // approve, human (to the hook), approve, ...: 40 events in all, 20 of them handled.
    assert_eq!(r.handled, 20);
    assert_eq!(r.domained.len(), 20);
    let errors = hook_errors.lock().unwrap();
    assert!(
        matches!(
            &errors[..],
            [BrokerError::EventBudgetExceeded { limit: 40, .. }]
        ),
        "{errors:?}"
    );
}

/// A long-lived broker fed with `publish` keeps what its detached workflow produced until
/// `take_detached_resolution`. Before, every failure and unroutable event was kept for ever
/// (memory grew with the broker's age). Now each list keeps at most the budget, and the rest
/// are counted in `unrecorded`.
#[tokio::test]
async fn the_detached_resolution_keeps_a_bounded_record() {
    let failing = svc("com.t.fail", |_| async {
        Err(Violation::execution("the service is down"))
    });
    let broker = EventBroker::builder()
        .max_events_per_resolve(10)
        .handler(failing)
        .build()
        .unwrap();
    let events = (0..25)
        .map(|_| ev("com.client", "com.t.fail", json!({})))
        .chain((0..12).map(|_| ev("com.client", "com.t.nobody", json!({}))));
    let r = settle_detached(&broker, events).await;
    assert_eq!(r.errors.len(), 10);
    assert_eq!(r.unroutable.len(), 10);
    assert_eq!(r.unrecorded, 15 + 2);
    assert!(
        r.errors
            .iter()
            .all(|f| matches!(f.kind, FailureKind::Violation(_))),
        "{:?}",
        r.errors
    );
    // Taking the record makes room again.
    let r = settle_detached(&broker, [ev("com.client", "com.t.fail", json!({}))]).await;
    assert_eq!((r.errors.len(), r.unrecorded), (1, 0));
}

/// A handler that never returns for some events. Without a run timeout its one execution
/// slot is held for ever, and every later event of its queue waits behind it (that is still
/// the default, as in the reference). With one, the run is cancelled and recorded as
/// `TimedOut`, retried by the on-error policy, and the queue goes on.
#[tokio::test]
async fn a_handler_that_never_returns_times_out_and_its_queue_goes_on() {
    let hang = svc("com.t.hang", |e| async move {
        if e.data()["hang"] == true {
            std::future::pending::<()>().await;
        }
        Ok(vec![reply("com.t.hang", &e)])
    });
    let limit = Duration::from_millis(50);
    let broker = EventBroker::builder()
        .defaults(
            arvo_runtime::broker::HandlerConfig::default()
                .run_timeout(limit)
                .on_error(arvo_runtime::broker::OnError::Retry(
                    arvo_runtime::broker::RetryPolicy::new(1, Duration::from_millis(1)),
                )),
        )
        .handler(hang)
        .build()
        .unwrap();
    let hung = tokio::time::timeout(
        Duration::from_secs(10),
        broker.resolve(ev("com.client", "com.t.hang", json!({"hang": true}))),
    )
    .await
    .expect("the run timeout ends the resolve")
    .unwrap();
    assert!(hung.events.is_empty());
    let [failure] = &hung.errors[..] else {
        panic!("one failure expected: {:?}", hung.errors);
    };
    assert_eq!(failure.kind, FailureKind::TimedOut(limit));
    assert_eq!(failure.attempts, 2, "retried once");
    assert_eq!(
        failure.kind.to_string(),
        "handler still running after run_timeout (50ms): cancelled"
    );
    let fine = tokio::time::timeout(
        Duration::from_secs(10),
        broker.resolve(ev("com.client", "com.t.hang", json!({"hang": false}))),
    )
    .await
    .expect("the queue goes on")
    .unwrap();
    assert!(fine.is_ok(), "{:?}", fine.errors);
    assert_eq!(fine.events.len(), 1);
}

/// External producers wait while the buffer is half full (backpressure): `try_publish` says
/// so, `publish` waits. On `main` there was no global bound.
#[tokio::test]
async fn external_producers_wait_while_the_buffer_is_half_full() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let g = gate.clone();
    let slow = svc("com.t.slow", move |_| {
        let g = g.clone();
        async move {
            g.acquire().await.unwrap().forget();
            Ok(vec![])
        }
    });
    let broker = EventBroker::builder()
        .max_buffered_events(8)
        .handler(slow)
        .build()
        .unwrap();
    for _ in 0..4 {
        broker
            .try_publish(ev("com.client", "com.t.slow", json!({})))
            .unwrap();
    }
    assert_eq!(broker.pending(), 4);
    let err = broker
        .try_publish(ev("com.client", "com.t.slow", json!({})))
        .unwrap_err();
    assert!(
        matches!(err, BrokerError::BufferFull { limit: 4, .. }),
        "{err}"
    );
    let producer = {
        let broker = broker.clone();
        tokio::spawn(async move {
            broker
                .publish(ev("com.client", "com.t.slow", json!({})))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!producer.is_finished(), "publish must wait for room");
    gate.add_permits(100);
    producer.await.unwrap().unwrap();
    broker.idle().await;
    assert_eq!(broker.take_detached_resolution().handled, 5);
}

// ---------------------------------------------------------------------------------------------
// Item 3: a panicking resumable step

fn calc_flow_init(a: f64) -> ArvoEvent {
    ArvoOrchestratorEventFactory::new(CalcFlow::contract().latest())
        .unwrap()
        .init(EventInput::new(
            "com.test.client",
            json!({"parentSubject$$": null, "a": a, "b": 1}),
        ))
        .unwrap()
}

type Memory = Arc<InMemoryMemory<ResumableMemoryRecord<CalcContext>>>;

/// The resumable's step panics. On `main` the panic unwound out of `execute`, the record stayed
/// active and the subject locked for the lock TTL (the next event got a lock violation). Now it
/// is what a returned error is: a failure record, a system error event, the lock released.
#[tokio::test]
async fn a_panicking_resumable_step_releases_its_lock() {
    quiet_injected_panics();
    let memory: Memory = Arc::default();
    let resumable: ArvoResumable<_, CalcContext> =
        ArvoResumable::builder(CalcFlow::orchestrator_contract().clone(), memory.clone())
            .service("calc", CalcAdd::contract().latest())
            .requires_locking(true)
            .version("1.0.0", |_step| {
                Box::pin(async move { panic!("injected step panic") })
            })
            .build()
            .unwrap();
    let init = calc_flow_init(1.0);
    let out = resumable
        .execute(&init, ParentContext::Event)
        .await
        .expect("a panic is not a violation");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].event_type(), "sys.arvo.orc.bench.calc.error");
    assert_eq!(out[0].to(), Some("com.test.client"));
    assert_eq!(
        out[0].data()["errorMessage"],
        json!("user code panicked: injected step panic")
    );
    // The failure record, and no lease held.
    let record = memory.read(init.subject()).await.unwrap().unwrap().value;
    let failure = record.as_failure().expect("a failure record");
    assert!(failure.error.error_message.contains("injected step panic"));
    let lease = memory
        .try_lock(init.subject(), Duration::from_secs(1))
        .await
        .unwrap()
        .expect("the subject must not stay locked");
    memory.unlock(&lease).await.unwrap();
    // The next event for the subject is ignored (failed workflow), not a lock violation.
    let again = resumable
        .execute(&init, ParentContext::Event)
        .await
        .unwrap();
    assert!(again.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Item 4: a panic becomes a system error

fn panicking_calc(message: &'static str) -> ArvoEventHandler {
    let contract: ArvoContract = CalcAdd::contract().clone();
    ArvoEventHandler::builder(contract)
        .version_sync("1.0.0", move |input: HandlerInput<'_>| -> HandlerResult {
            if input.event.data()["a"].as_f64() == Some(13.0) {
                panic!("{message}");
            }
            Ok(vec![RawOutput::new(
                "evt.calc.add.success",
                json!({"result": 0}),
            )])
        })
        .build()
        .unwrap()
}

fn calc_request(a: f64) -> ArvoEvent {
    arvo_runtime::factory::ArvoEventFactory::new(CalcAdd::contract().latest())
        .accepts(EventInput::new("com.test.client", json!({"a": a, "b": 1})).with_subject("s-1"))
        .unwrap()
}

/// On `main` the panic escaped `execute` / `execute_json` into the caller. Now both return the
/// handler's `sys.<type>.error` event, whose message names the panic (bounded).
#[tokio::test]
async fn a_panicking_handler_emits_a_system_error() {
    quiet_injected_panics();
    let handler = panicking_calc("injected kaboom");
    let req = calc_request(13.0);
    let out = handler.execute(&req, ParentContext::Event).await.unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].event_type(), "sys.com.calc.add.error");
    assert_eq!(out[0].to(), Some("com.test.client"));
    assert_eq!(out[0].parentid(), Some(req.id()));
    assert_eq!(out[0].data()["errorName"], json!("Error"));
    assert_eq!(
        out[0].data()["errorMessage"],
        json!("user code panicked: injected kaboom")
    );
    let json = req.to_json_string();
    let out = handler
        .execute_json(json.as_bytes(), ParentContext::Event)
        .await
        .unwrap();
    assert_eq!(out[0].event_type(), "sys.com.calc.add.error");
    // A huge panic message is cut.
    let long: &'static str =
        Box::leak(format!("injected {}", "x".repeat(100_000)).into_boxed_str());
    let out = panicking_calc(long)
        .execute(&req, ParentContext::Event)
        .await
        .unwrap();
    let message = out[0].data()["errorMessage"].as_str().unwrap().to_owned();
    assert!(message.len() < MAX_PANIC_MESSAGE + 64, "{}", message.len());
    assert!(message.ends_with('…'));
    // Other events are unaffected.
    let ok = handler
        .execute(&calc_request(1.0), ParentContext::Event)
        .await
        .unwrap();
    assert_eq!(ok[0].event_type(), "evt.calc.add.success");
}

/// The payload of [`PingService`].
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Ping {
    /// A number.
    pub n: i64,
}

/// A typed service whose method panics.
#[arvo_contract(uri = "#/fc/ping", type = "fc.ping", simple,
    version("1.0.0", accepts = Ping, emits = Ping))]
pub struct PingService;

struct Panicker;

impl PingServiceHandler for Panicker {
    async fn v1_0_0(
        &self,
        input: Input<'_, PingServiceV1_0_0>,
    ) -> HandlerOutput<PingServiceV1_0_0> {
        if input.data.n < 0 {
            panic!("injected typed panic {}", input.data.n);
        }
        Ok(vec![
            PingServiceV1_0_0Emits::Success(Ping { n: input.data.n }).into(),
        ])
    }
}

/// The typed form: on `main` the panic unwound out of `execute`.
#[tokio::test]
async fn a_panicking_typed_handler_emits_a_system_error() {
    quiet_injected_panics();
    let handler = ArvoEventHandler::typed::<PingService, _>(Panicker)
        .build()
        .unwrap();
    let req = arvo_runtime::factory::ArvoEventFactory::new(PingService::contract().latest())
        .accepts(EventInput::new("com.test.client", json!({"n": -7})).with_subject("s-1"))
        .unwrap();
    let out = handler.execute(&req, ParentContext::Event).await.unwrap();
    assert_eq!(out[0].event_type(), "sys.com.fc.ping.error");
    assert_eq!(
        out[0].data()["errorMessage"],
        json!("user code panicked: injected typed panic -7")
    );
}

/// An orchestrator waits for a service that panics. On `main` the broker recorded the panic but
/// emitted no system error, so the orchestrator never heard back (no event reached the client).
/// Now the service's system error reaches it, and its own system error reaches the client.
#[tokio::test]
async fn an_orchestrator_hears_of_a_panicking_service() {
    quiet_injected_panics();
    let broker = EventBroker::builder()
        .handler(Arc::new(common_resumable::calc_resumable(
            InMemoryMemory::new(),
        )))
        .handler(Arc::new(panicking_calc("injected service panic")))
        .build()
        .unwrap();
    let outcome = broker.resolve(calc_flow_init(13.0)).await.unwrap();
    assert!(outcome.is_ok(), "{:?}", outcome.errors);
    let result = outcome.result().expect("the orchestrator answered");
    assert_eq!(result.event_type(), "sys.arvo.orc.bench.calc.error");
    assert_eq!(
        result.data()["errorMessage"],
        json!("calc service failed: user code panicked: injected service panic")
    );
}

// ---------------------------------------------------------------------------------------------
// Item 5: panicking middleware and hooks

/// On `main` a panicking input middleware made `resolve` succeed with no events and no
/// errors. Now the failure is in `errors`, naming the stage; the event is not handed on (a
/// panicking middleware fails closed, as a rejection).
#[tokio::test]
async fn a_panicking_middleware_is_reported() {
    quiet_injected_panics();
    let handled = Arc::new(AtomicUsize::new(0));
    let h = handled.clone();
    let echo = svc("com.t.echo", move |e| {
        let h = h.clone();
        async move {
            h.fetch_add(1, Ordering::SeqCst);
            let mut out = reply("com.t.echo", &e);
            if e.data().contains_key("bad_output") {
                out = emit("com.t.echo", &e, "com.t.explode");
            }
            Ok(vec![out])
        }
    });
    let broker = EventBroker::builder()
        .input_middleware(|_, _| Verdict::Pass)
        .input_middleware(|e, _| {
            if e.data().contains_key("explode") {
                panic!("injected input middleware panic");
            }
            Verdict::Pass
        })
        .output_middleware(|out, _, _| {
            if out.event_type() == "com.t.explode" {
                panic!("injected output middleware panic");
            }
            Verdict::Pass
        })
        .handler(echo)
        .build()
        .unwrap();

    let outcome = broker
        .resolve(ev("com.client", "com.t.echo", json!({"explode": true})))
        .await
        .unwrap();
    assert!(!outcome.is_ok());
    assert_eq!(outcome.errors.len(), 1);
    let f = &outcome.errors[0];
    assert_eq!(f.handler, "com.t.echo");
    assert_eq!(
        f.kind,
        FailureKind::StagePanic {
            stage: Stage::InputMiddleware { index: 1 },
            message: "injected input middleware panic".into()
        }
    );
    assert_eq!(
        f.kind.to_string(),
        "input middleware #1 panicked: injected input middleware panic"
    );
    assert_eq!(
        handled.load(Ordering::SeqCst),
        0,
        "not handed to the handler"
    );

    let outcome = broker
        .resolve(ev("com.client", "com.t.echo", json!({"bad_output": true})))
        .await
        .unwrap();
    assert_eq!(outcome.errors.len(), 1);
    assert_eq!(outcome.errors[0].event.event_type(), "com.t.explode");
    assert!(matches!(
        outcome.errors[0].kind,
        FailureKind::StagePanic {
            stage: Stage::OutputMiddleware { index: 0 },
            ..
        }
    ));
    assert!(outcome.events.is_empty() && outcome.unroutable.is_empty());

    // The broker keeps working.
    let ok = broker
        .resolve(ev("com.client", "com.t.echo", json!({})))
        .await
        .unwrap();
    assert!(ok.is_ok());
    assert_eq!(ok.events.len(), 1);
}

/// On `main` a panicking hook was invisible in the outcome. Now the event is recorded (in
/// `domained` / `unroutable`) and the hook's panic is in `errors`.
#[tokio::test]
async fn a_panicking_hook_is_reported() {
    quiet_injected_panics();
    let svc_domained = svc("com.t.approve", |e| async move {
        let mut parts = emit("com.t.approve", &e, "com.t.human").into_parts();
        parts.domain = Some("human.review".into());
        Ok(vec![ArvoEvent::from_parts(parts).unwrap()])
    });
    let svc_lost = svc("com.t.lost", |e| async move {
        Ok(vec![emit("com.t.lost", &e, "com.t.nobody")])
    });
    let broker = EventBroker::builder()
        .handler(svc_domained)
        .handler(svc_lost)
        .on_domained(|_| async { panic!("injected domained hook panic") })
        .on_unroutable(|_| async { panic!("injected unroutable hook panic") })
        .build()
        .unwrap();
    let outcome = broker
        .resolve(ev("com.client", "com.t.approve", json!({})))
        .await
        .unwrap();
    assert_eq!(outcome.domained.len(), 1);
    assert_eq!(outcome.errors.len(), 1);
    assert_eq!(outcome.errors[0].handler, "com.t.approve");
    assert!(matches!(
        outcome.errors[0].kind,
        FailureKind::StagePanic {
            stage: Stage::DomainedHook,
            ..
        }
    ));
    let outcome = broker
        .resolve(ev("com.client", "com.t.lost", json!({})))
        .await
        .unwrap();
    assert_eq!(outcome.unroutable.len(), 1);
    assert!(matches!(
        &outcome.errors[..],
        [f] if f.kind == FailureKind::StagePanic {
            stage: Stage::UnroutableHook,
            message: "injected unroutable hook panic".into()
        }
    ));
}

// ---------------------------------------------------------------------------------------------
// 1,000 workflows with services panicking at random

/// splitmix64: a seeded, reproducible coin.
fn mix(seed: u64, i: u64) -> u64 {
    let mut z = seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const SEED: u64 = 0x15_15_15;

/// The calc service panicking for about 40% of the operands.
fn flaky_calc() -> ArvoEventHandler {
    let contract: ArvoContract = CalcAdd::contract().clone();
    ArvoEventHandler::builder(contract)
        .version_sync("1.0.0", |input: HandlerInput<'_>| -> HandlerResult {
            let a = input.event.data()["a"].as_f64().unwrap_or_default();
            if mix(SEED, a as u64) % 10 < 4 {
                panic!("injected service panic for {a}");
            }
            let b = input.event.data()["b"].as_f64().unwrap_or_default();
            Ok(vec![RawOutput::new(
                "evt.calc.add.success",
                json!({"result": a + b}),
            )])
        })
        .build()
        .unwrap()
}

/// The workflow of `common_resumable`, whose completion step itself panics for about 10% of
/// the operands.
struct FlakyFlow;

impl ResumableHandler<CalcFlowV1_0_0> for FlakyFlow {
    type Context = CalcContext;
    type Services = ServiceEvent<CalcAddV1_0_0>;

    async fn handle(
        &self,
        step: Step<'_, CalcFlowV1_0_0, CalcContext, ServiceEvent<CalcAddV1_0_0>>,
    ) -> Result<Outcome<CalcFlowV1_0_0, CalcContext>, HandlerError> {
        if let StepEvent::Service(ServiceEvent::Emitted(CalcAddV1_0_0Emits::Success(r))) =
            &step.event
        {
            let a = step.context.map_or(0.0, |c| c.a);
            if mix(SEED ^ 1, a as u64).is_multiple_of(10) {
                panic!("injected step panic for {a}");
            }
            return Ok(
                Outcome::wait().complete(CalcFlowV1_0_0Emits::Complete(AddResult {
                    result: r.result,
                })),
            );
        }
        CalcResumable.handle(step).await
    }
}

/// 1,000 workflows (a locking resumable on the broker) whose service panics at random (seeded)
/// and whose own completion step sometimes panics too. On `main` every workflow with a
/// panicking service stayed active forever (no system error) and a panicking step left its
/// subject locked. Now each ends with a completion or a system error, and afterwards every
/// record is done or failed and no lease is held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_workflows_with_panicking_services_all_finish() {
    quiet_injected_panics();
    let memory: Memory = Arc::default();
    let flow: ArvoResumable<_, CalcContext> =
        ArvoResumable::builder(CalcFlow::orchestrator_contract().clone(), memory.clone())
            .handler::<CalcFlowV1_0_0, _>(Arc::new(FlakyFlow))
            .requires_locking(true)
            .build()
            .unwrap();
    let broker = EventBroker::builder()
        .handler(Arc::new(flow))
        .handler(Arc::new(flaky_calc()))
        .build()
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..1_000_u32 {
        let broker = broker.clone();
        tasks.spawn(async move {
            let init = calc_flow_init(f64::from(i));
            let outcome = broker.resolve(init.clone()).await.unwrap();
            (i, init, outcome)
        });
    }
    let (mut completed, mut service_failed, mut step_failed) = (0, 0, 0);
    let mut subjects = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (i, init, outcome) = joined.unwrap();
        assert!(outcome.is_ok(), "workflow {i}: {:?}", outcome.errors);
        assert_eq!(outcome.events.len(), 1, "workflow {i}: one answer");
        let answer = &outcome.events[0];
        let service_panics = mix(SEED, u64::from(i)) % 10 < 4;
        let step_panics = !service_panics && mix(SEED ^ 1, u64::from(i)).is_multiple_of(10);
        let message = answer
            .data()
            .get("errorMessage")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if service_panics {
            assert_eq!(answer.event_type(), "sys.arvo.orc.bench.calc.error");
            assert!(message.contains("injected service panic"), "{message}");
            service_failed += 1;
        } else if step_panics {
            assert_eq!(answer.event_type(), "sys.arvo.orc.bench.calc.error");
            assert!(message.contains("injected step panic"), "{message}");
            step_failed += 1;
        } else {
            assert_eq!(answer.event_type(), "arvo.orc.bench.calc.done");
            assert_eq!(answer.data()["result"], json!(f64::from(i) + 1.0));
            completed += 1;
        }
        subjects.push((init.subject().to_owned(), service_panics || step_panics));
    }
    eprintln!("{completed} completed, {service_failed} service panics, {step_failed} step panics");
    assert!(completed > 300 && service_failed > 300 && step_failed > 20);
    assert_eq!(broker.pending(), 0);
    // Inspect the memory: every record is done or failed, and no lease is held.
    for (subject, failed) in subjects {
        let record = memory.read(&subject).await.unwrap().expect("a record");
        match (&record.value, failed) {
            (OrchestrationRecord::Failure(_), true) => {}
            (OrchestrationRecord::Normal(r), false) => {
                assert_eq!(r.status, ResumableStatus::Done);
            }
            (other, _) => panic!("{subject}: unexpected record {other:?}"),
        }
        let lease = memory
            .try_lock(&subject, Duration::from_secs(1))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{subject} is still locked"));
        memory.unlock(&lease).await.unwrap();
    }
}
