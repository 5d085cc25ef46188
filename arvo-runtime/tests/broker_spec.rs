//! The in-process broker: ordering (FIFO, the `simple_event_broker.json` vector), retries and
//! the on-error policy, prefetch, middleware, domained and unroutable events, concurrent
//! `resolve` calls, backpressure, configuration errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use arvo_runtime::broker::{
    BrokerError, EventBroker, FailureKind, HandlerConfig, OnError, RetryPolicy, Verdict,
};
use arvo_runtime::contract::{ArvoContract, Schema};
use arvo_runtime::event::{ArvoEvent, ArvoEventParts};
use arvo_runtime::handler::{
    ArvoEventHandler, DynEventHandler, EventHandler, ParentContext, RawOutput, Violation,
};
use arvo_runtime::violation::CustomViolation;
use serde_json::{Value, json};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

const VECTOR: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/simple_event_broker.json"
));

// ---------------------------------------------------------------------------------------------
// Helpers: a handler made of a closure, and event constructors.

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
fn ev(source: &str, to: &str, subject: &str, data: Value) -> ArvoEvent {
    ArvoEvent::builder()
        .source(source)
        .event_type(to)
        .to(to)
        .subject(subject)
        .data_json(data)
        .build()
        .unwrap()
}

/// What handler `from` emits in answer to `input`, to `to`.
fn emit(from: &str, input: &ArvoEvent, ty: &str, to: &str, data: Value) -> ArvoEvent {
    ArvoEvent::builder()
        .source(from)
        .event_type(ty)
        .to(to)
        .subject(input.subject())
        .parentid(input.id())
        .data_json(data)
        .build()
        .unwrap()
}

/// The answer of `from` back to the input's source.
fn reply(from: &str, input: &ArvoEvent, data: Value) -> ArvoEvent {
    emit(
        from,
        input,
        &format!("evt.{from}.done"),
        input.source(),
        data,
    )
}

/// `com.t.echo`'s answer to `input`: `evt.t.done` to the client.
fn done(input: &ArvoEvent) -> ArvoEvent {
    emit("com.t.echo", input, "evt.t.done", "com.client", json!({}))
}

fn echo(source: &'static str) -> Arc<dyn DynEventHandler> {
    svc(source, move |e| async move {
        Ok(vec![reply(source, &e, Value::Object(e.data().clone()))])
    })
}

// ---------------------------------------------------------------------------------------------
// Ordering

/// The ONE place where this crate decides a vector case differently from the reference:
/// `simple_event_broker.json` / `fanout_three_events` records `sinkProcessingOrder: [2, 1, 0]`
/// because the reference's queue uses `Array.pop()` (LIFO) although its docs promise FIFO (spec
/// §14.2). Our broker is FIFO, so the sink sees `[0, 1, 2]`: the reverse of the vector. The
/// published order (what the fan-out handler emitted) is the vector's exactly.
#[tokio::test]
async fn fanout_vector_is_fifo_where_the_reference_is_lifo() {
    let vector: Value = serde_json::from_str(VECTOR).unwrap();
    let case = &vector["cases"][0];
    assert_eq!(case["name"], "fanout_three_events");

    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink_seen = seen.clone();
    let fanout = svc("com.example.fanout", |e| async move {
        let n = e.data()["n"].as_u64().unwrap();
        Ok((0..n)
            .map(|i| {
                emit(
                    "com.example.fanout",
                    &e,
                    "com.example.sink",
                    "com.example.sink",
                    json!({ "i": i }),
                )
            })
            .collect())
    });
    let sink = svc("com.example.sink", move |e| {
        let seen = sink_seen.clone();
        async move {
            seen.lock().unwrap().push(e.data()["i"].as_u64().unwrap());
            Ok(vec![])
        }
    });
    let published = Arc::new(Mutex::new(Vec::new()));
    let log = published.clone();
    let broker = EventBroker::builder()
        .handler(fanout)
        .handler(sink)
        .input_middleware(move |e, _| {
            log.lock().unwrap().push(json!({
                "type": e.event_type(), "to": e.to(), "data": e.data(),
            }));
            Verdict::Pass
        })
        .build()
        .unwrap();
    let first = &case["publishedOrder"][0];
    let start = ev(
        "com.test",
        first["to"].as_str().unwrap(),
        "s",
        first["data"].clone(),
    );
    let outcome = broker.resolve(start).await.unwrap();
    assert!(outcome.is_ok(), "{:?}", outcome.errors);
    assert_eq!(outcome.handled, 4);

    assert_eq!(
        Value::Array(published.lock().unwrap().clone()),
        case["publishedOrder"]
    );
    let reference: Vec<u64> = serde_json::from_value(case["sinkProcessingOrder"].clone()).unwrap();
    let mut fifo = reference.clone();
    fifo.reverse();
    assert_eq!(reference, vec![2, 1, 0]);
    assert_eq!(*seen.lock().unwrap(), fifo);
}

#[tokio::test]
async fn published_events_are_handled_in_fifo_order() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let sink = svc("com.t.sink", move |e| {
        let seen = s.clone();
        async move {
            // Yield so a LIFO or racing queue would show.
            tokio::task::yield_now().await;
            seen.lock().unwrap().push(e.data()["i"].as_u64().unwrap());
            Ok(vec![])
        }
    });
    let broker = EventBroker::builder().handler(sink).build().unwrap();
    for i in 0..200u64 {
        broker
            .publish(ev("com.test", "com.t.sink", "s", json!({ "i": i })))
            .await
            .unwrap();
    }
    broker.idle().await;
    assert_eq!(*seen.lock().unwrap(), (0..200).collect::<Vec<u64>>());
    let detached = broker.take_detached_resolution();
    assert_eq!(detached.handled, 200);
    assert!(detached.is_ok());
}

#[tokio::test]
async fn nested_fanout_keeps_per_queue_fifo() {
    // root emits a0, a1; each aK emits bK0, bK1 to the sink: the sink's queue receives them
    // in the order the `a` handler ran (a0 then a1), each pair in emission order.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let root = svc("com.t.root", |e| async move {
        Ok((0..2)
            .map(|k| emit("com.t.root", &e, "com.t.a", "com.t.a", json!({ "k": k })))
            .collect())
    });
    let a = svc("com.t.a", |e| async move {
        let k = e.data()["k"].as_u64().unwrap();
        Ok((0..2)
            .map(|j| {
                emit(
                    "com.t.a",
                    &e,
                    "com.t.sink",
                    "com.t.sink",
                    json!({ "id": format!("b{k}{j}") }),
                )
            })
            .collect())
    });
    let sink = svc("com.t.sink", move |e| {
        let seen = s.clone();
        async move {
            seen.lock()
                .unwrap()
                .push(e.data()["id"].as_str().unwrap().to_owned());
            Ok(vec![])
        }
    });
    let broker = EventBroker::builder()
        .handler(root)
        .handler(a)
        .handler(sink)
        .build()
        .unwrap();
    let outcome = broker
        .resolve(ev("com.test", "com.t.root", "s", json!({})))
        .await
        .unwrap();
    assert_eq!(outcome.handled, 7);
    assert_eq!(*seen.lock().unwrap(), ["b00", "b01", "b10", "b11"]);
}

// ---------------------------------------------------------------------------------------------
// Retries and the on-error policy

/// A user-defined violation for a failure that may pass (the service behind the handler is
/// down): retried under [`OnError::Retry`].
fn unavailable(message: String) -> Violation {
    Violation::from(CustomViolation::new("Unavailable", message))
}

/// A handler that fails `failures` times, then echoes; records the instant of each attempt.
fn flaky(failures: usize, attempts: Arc<Mutex<Vec<Instant>>>) -> Arc<dyn DynEventHandler> {
    svc("com.t.flaky", move |e| {
        let attempts = attempts.clone();
        async move {
            let n = {
                let mut a = attempts.lock().unwrap();
                a.push(Instant::now());
                a.len()
            };
            if n <= failures {
                Err(unavailable(format!("attempt {n} failed")))
            } else {
                Ok(vec![reply("com.t.flaky", &e, json!({ "attempt": n }))])
            }
        }
    })
}

#[tokio::test(start_paused = true)]
async fn retry_with_backoff_then_success() {
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let policy = RetryPolicy::new(3, Duration::from_millis(10)); // 10 ms, 20 ms, 40 ms
    let broker = EventBroker::builder()
        .handler_with(
            flaky(2, attempts.clone()),
            HandlerConfig::default().on_error(OnError::Retry(policy)),
        )
        .build()
        .unwrap();
    let outcome = broker
        .resolve(ev("com.test", "com.t.flaky", "s", json!({})))
        .await
        .unwrap();
    assert!(outcome.is_ok(), "{:?}", outcome.errors);
    assert_eq!(outcome.result().unwrap().data()["attempt"], json!(3));
    let at = attempts.lock().unwrap().clone();
    assert_eq!(at.len(), 3);
    assert!(at[1] - at[0] >= Duration::from_millis(10));
    assert!(at[2] - at[1] >= Duration::from_millis(20));
    assert!(at[2] - at[1] < Duration::from_millis(40));
}

#[tokio::test(start_paused = true)]
async fn retries_exhausted_are_recorded_as_errors() {
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let broker = EventBroker::builder()
        .handler_with(
            flaky(10, attempts.clone()),
            HandlerConfig::default().on_error(OnError::Retry(RetryPolicy::new(
                2,
                Duration::from_millis(1),
            ))),
        )
        .build()
        .unwrap();
    let outcome = broker
        .resolve(ev("com.test", "com.t.flaky", "s", json!({})))
        .await
        .unwrap();
    assert_eq!(attempts.lock().unwrap().len(), 3);
    assert!(outcome.events.is_empty());
    assert_eq!(outcome.errors.len(), 1);
    let failure = &outcome.errors[0];
    assert_eq!(failure.attempts, 3);
    assert_eq!(failure.handler, "com.t.flaky");
    assert_eq!(
        failure.kind.violation().map(ToString::to_string).as_deref(),
        Some("ViolationError<Unavailable> attempt 3 failed")
    );
    assert!(
        failure.to_string().contains("after 3 attempt(s)"),
        "{failure}"
    );
}

#[tokio::test]
async fn fail_policy_records_the_first_failure_without_retry() {
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let broker = EventBroker::builder()
        .handler(flaky(1, attempts.clone())) // default policy: Fail
        .build()
        .unwrap();
    let outcome = broker
        .resolve(ev("com.test", "com.t.flaky", "s", json!({})))
        .await
        .unwrap();
    assert_eq!(attempts.lock().unwrap().len(), 1);
    assert!(!outcome.is_ok());
    assert_eq!(outcome.errors[0].attempts, 1);
    assert!(matches!(
        outcome.errors[0].kind,
        FailureKind::Violation(Violation::Other(_))
    ));
    assert!(outcome.suppressed.is_empty());
}

/// An `Execution` violation is user code's "stop, dead-letter this" (spec §11): even under a
/// retry policy the handler is not run again, so its side effects are not repeated.
#[tokio::test(start_paused = true)]
async fn an_execution_violation_is_not_retried() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    let stop = svc("com.t.stop", move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
        async { Err(Violation::execution("the order was cancelled: stop")) }
    });
    let broker = EventBroker::builder()
        .handler_with(
            stop,
            HandlerConfig::default().on_error(OnError::Retry(RetryPolicy::new(
                3,
                Duration::from_millis(1),
            ))),
        )
        .build()
        .unwrap();
    let outcome = broker
        .resolve(ev("com.test", "com.t.stop", "s", json!({})))
        .await
        .unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1, "run once");
    assert_eq!(outcome.errors.len(), 1);
    assert_eq!(outcome.errors[0].attempts, 1);
    assert!(matches!(
        outcome.errors[0].kind,
        FailureKind::Violation(Violation::Execution { .. })
    ));
}

#[tokio::test]
async fn suppress_policy_keeps_the_outcome_ok() {
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let broker = EventBroker::builder()
        .handler_with(
            flaky(1, attempts.clone()),
            HandlerConfig::default().on_error(OnError::Suppress),
        )
        .build()
        .unwrap();
    let outcome = broker
        .resolve(ev("com.test", "com.t.flaky", "s", json!({})))
        .await
        .unwrap();
    assert_eq!(attempts.lock().unwrap().len(), 1);
    assert!(outcome.is_ok());
    assert_eq!(outcome.suppressed.len(), 1);
    assert_eq!(outcome.suppressed[0].handler, "com.t.flaky");
}

#[tokio::test]
async fn a_panicking_handler_is_a_failure_and_resolve_finishes() {
    let bomb = svc("com.t.bomb", |e| async move {
        if e.data().contains_key("boom") {
            panic!("kaboom");
        }
        Ok(vec![])
    });
    let broker = EventBroker::builder()
        .handler(bomb)
        .handler(echo("com.t.echo"))
        .build()
        .unwrap();
    let outcome = broker
        .resolve(ev("com.test", "com.t.bomb", "s", json!({ "boom": true })))
        .await
        .unwrap();
    assert_eq!(outcome.errors.len(), 1);
    assert_eq!(outcome.errors[0].kind, FailureKind::Panic("kaboom".into()));
    // The broker keeps working.
    let ok = broker
        .resolve(ev("com.test", "com.t.echo", "s", json!({ "x": 1 })))
        .await
        .unwrap();
    assert_eq!(ok.result().unwrap().data()["x"], json!(1));
}

// ---------------------------------------------------------------------------------------------
// Concurrency limits

/// Sleeps 10 ms per event and records the highest number of concurrent executions.
fn counting(current: Arc<AtomicUsize>, max: Arc<AtomicUsize>) -> Arc<dyn DynEventHandler> {
    svc("com.t.slow", move |_| {
        let (current, max) = (current.clone(), max.clone());
        async move {
            let now = current.fetch_add(1, Ordering::SeqCst) + 1;
            max.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(10)).await;
            current.fetch_sub(1, Ordering::SeqCst);
            Ok(vec![])
        }
    })
}

async fn max_concurrency(prefetch: usize) -> usize {
    let (current, max) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let broker = EventBroker::builder()
        .handler_with(
            counting(current, max.clone()),
            HandlerConfig::default().prefetch(prefetch),
        )
        .build()
        .unwrap();
    for i in 0..12 {
        broker
            .publish(ev("com.test", "com.t.slow", "s", json!({ "i": i })))
            .await
            .unwrap();
    }
    broker.idle().await;
    assert_eq!(broker.take_detached_resolution().handled, 12);
    max.load(Ordering::SeqCst)
}

#[tokio::test(start_paused = true)]
async fn prefetch_bounds_concurrent_executions() {
    assert_eq!(max_concurrency(1).await, 1);
    assert_eq!(max_concurrency(4).await, 4);
    assert_eq!(max_concurrency(20).await, 12);
}

// ---------------------------------------------------------------------------------------------
// Middleware

#[tokio::test]
async fn input_middleware_transforms_and_rejects() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let h = svc("com.t.echo", move |e| {
        c.fetch_add(1, Ordering::SeqCst);
        async move {
            Ok(vec![reply(
                "com.t.echo",
                &e,
                Value::Object(e.data().clone()),
            )])
        }
    });
    let broker = EventBroker::builder()
        .handler(h)
        .input_middleware(|e, handler| {
            assert_eq!(handler, "com.t.echo");
            if e.data().contains_key("forbidden") {
                Verdict::Reject("forbidden field".into())
            } else {
                let mut parts = e.clone().into_parts();
                parts.data.insert("stamped".into(), json!(true));
                Verdict::replace(ArvoEvent::from_parts(parts).unwrap())
            }
        })
        .build()
        .unwrap();

    let ok = broker
        .resolve(ev("com.test", "com.t.echo", "s", json!({ "x": 1 })))
        .await
        .unwrap();
    assert_eq!(ok.result().unwrap().data()["stamped"], json!(true));

    let rejected = broker
        .resolve(ev("com.test", "com.t.echo", "s", json!({ "forbidden": 1 })))
        .await
        .unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "a rejected event never reaches the handler"
    );
    assert!(rejected.events.is_empty());
    assert_eq!(rejected.errors.len(), 1);
    assert_eq!(rejected.errors[0].attempts, 0);
    assert_eq!(
        rejected.errors[0].kind,
        FailureKind::InputRejected("forbidden field".into())
    );
}

#[tokio::test]
async fn output_middleware_checks_and_transforms_outputs() {
    // The handler emits one good reply and one whose parentid is wrong.
    let h = svc("com.t.two", |e| async move {
        let good = reply("com.t.two", &e, json!({ "n": 1 }));
        let mut bad = reply("com.t.two", &e, json!({ "n": 2 })).into_parts();
        bad.parentid = Some("someone-else".into());
        Ok(vec![good, ArvoEvent::from_parts(bad).unwrap()])
    });
    let seen_inputs = Arc::new(Mutex::new(Vec::new()));
    let si = seen_inputs.clone();
    let broker = EventBroker::builder()
        .handler(h)
        .output_middleware(move |out, input, handler| {
            si.lock()
                .unwrap()
                .push((handler.to_owned(), input.id().to_owned()));
            if out.parentid() == Some(input.id()) {
                Verdict::Pass
            } else {
                Verdict::Reject(format!(
                    "parentid {:?} is not the input's id",
                    out.parentid()
                ))
            }
        })
        .output_middleware(|out, _, _| {
            let mut parts = out.clone().into_parts();
            parts.accesscontrol = Some("checked".into());
            Verdict::replace(ArvoEvent::from_parts(parts).unwrap())
        })
        .build()
        .unwrap();
    let start = ev("com.test", "com.t.two", "s", json!({}));
    let start_id = start.id().to_owned();
    let outcome = broker.resolve(start).await.unwrap();
    assert_eq!(outcome.events.len(), 1);
    assert_eq!(outcome.events[0].data()["n"], json!(1));
    assert_eq!(outcome.events[0].accesscontrol(), Some("checked"));
    assert_eq!(outcome.errors.len(), 1);
    assert_eq!(outcome.errors[0].event.data()["n"], json!(2));
    assert!(
        matches!(&outcome.errors[0].kind, FailureKind::OutputRejected(r) if r.contains("someone-else"))
    );
    assert_eq!(
        *seen_inputs.lock().unwrap(),
        vec![
            ("com.t.two".to_owned(), start_id.clone()),
            ("com.t.two".to_owned(), start_id)
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Domained and unroutable events

/// `com.order` asks for human approval (domain `human`), then answers the caller once
/// `com.approval` has approved.
fn order_flow() -> (Arc<dyn DynEventHandler>, Arc<dyn DynEventHandler>) {
    let order = svc("com.t.order", |e| async move {
        if e.event_type() == "com.t.order" {
            let mut ask = emit(
                "com.t.order",
                &e,
                "com.t.approval",
                "com.t.approval",
                json!({ "amount": 5 }),
            )
            .into_parts();
            ask.domain = Some("human".into());
            // The approval answers to com.order; keep the caller in `redirectto`.
            ask.redirectto = Some(e.source().to_owned());
            Ok(vec![ArvoEvent::from_parts(ask).unwrap()])
        } else {
            Ok(vec![])
        }
    });
    let approval = svc("com.t.approval", |e| async move {
        let to = e.redirectto().unwrap().to_owned();
        Ok(vec![emit(
            "com.t.approval",
            &e,
            "evt.t.approved",
            &to,
            json!({ "approved": true }),
        )])
    });
    (order, approval)
}

#[tokio::test]
async fn domained_events_go_to_the_hook_which_can_republish() {
    let (order, approval) = order_flow();
    let hooked = Arc::new(Mutex::new(Vec::new()));
    let h = hooked.clone();
    let broker = EventBroker::builder()
        .handler(order)
        .handler(approval)
        .on_domained(move |fwd| {
            let hooked = h.clone();
            async move {
                hooked.lock().unwrap().push(fwd.domain().map(str::to_owned));
                // The "human" approves: send it on (domain is not looked at on publish).
                fwd.publish(fwd.event.clone()).await.unwrap();
            }
        })
        .build()
        .unwrap();
    let outcome = broker
        .resolve(ev("com.shop", "com.t.order", "o-1", json!({})))
        .await
        .unwrap();
    assert_eq!(*hooked.lock().unwrap(), vec![Some("human".to_owned())]);
    assert_eq!(outcome.domained.len(), 1);
    assert_eq!(outcome.domained[0].event_type(), "com.t.approval");
    assert_eq!(outcome.result().unwrap().event_type(), "evt.t.approved");
    assert_eq!(outcome.handled, 2);
}

#[tokio::test]
async fn domained_events_without_a_hook_are_recorded_not_routed() {
    let (order, approval) = order_flow();
    let broker = EventBroker::builder()
        .handler(order)
        .handler(approval)
        .build()
        .unwrap();
    let outcome = broker
        .resolve(ev("com.shop", "com.t.order", "o-1", json!({})))
        .await
        .unwrap();
    assert_eq!(outcome.handled, 1, "the approval handler never ran");
    assert_eq!(outcome.domained.len(), 1);
    assert_eq!(outcome.domained[0].domain(), Some("human"));
    assert!(outcome.events.is_empty());
}

#[tokio::test]
async fn unroutable_events_are_recorded_and_resolve_finishes() {
    let lost = svc("com.t.lost", |e| async move {
        Ok(vec![
            emit(
                "com.t.lost",
                &e,
                "com.t.nowhere",
                "com.t.nowhere",
                json!({}),
            ),
            reply("com.t.lost", &e, json!({ "done": true })),
        ])
    });
    let hooked = Arc::new(Mutex::new(Vec::new()));
    let h = hooked.clone();
    let broker = EventBroker::builder()
        .handler(lost)
        .on_unroutable(move |fwd| {
            h.lock().unwrap().push(fwd.event.to().map(str::to_owned));
            async {}
        })
        .build()
        .unwrap();
    let outcome = broker
        .resolve(ev("com.test", "com.t.lost", "s", json!({})))
        .await
        .unwrap();
    assert_eq!(*hooked.lock().unwrap(), [Some("com.t.nowhere".to_owned())]);
    assert_eq!(outcome.unroutable.len(), 1);
    assert_eq!(outcome.unroutable[0].event_type(), "com.t.nowhere");
    assert_eq!(outcome.result().unwrap().data()["done"], json!(true));

    // The first event itself may be unroutable too.
    let outcome = broker
        .resolve(ev("com.test", "com.t.unknown", "s", json!({})))
        .await
        .unwrap();
    assert_eq!(outcome.unroutable.len(), 1);
    assert_eq!(outcome.handled, 0);
    assert_eq!(hooked.lock().unwrap().len(), 2);
}

// ---------------------------------------------------------------------------------------------
// Concurrent resolve calls

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_workflows_each_get_their_own_outcome() {
    // client -> com.double -> com.inc -> back to the client; every workflow uses the same
    // source, half of them the same subject.
    let double = svc("com.t.double", |e| async move {
        tokio::task::yield_now().await;
        let n = e.data()["n"].as_i64().unwrap();
        let to_inc = emit(
            "com.t.double",
            &e,
            "com.t.inc",
            "com.t.inc",
            json!({ "n": n * 2, "reply": e.source() }),
        );
        Ok(vec![to_inc])
    });
    let inc = svc("com.t.inc", |e| async move {
        let n = e.data()["n"].as_i64().unwrap();
        let to = e.data()["reply"].as_str().unwrap().to_owned();
        Ok(vec![emit(
            "com.t.inc",
            &e,
            "evt.t.result",
            &to,
            json!({ "n": n + 1 }),
        )])
    });
    let broker = EventBroker::builder()
        .defaults(HandlerConfig::default().prefetch(4).queue_capacity(8))
        .handler(double)
        .handler(inc)
        .build()
        .unwrap();
    let runs = (0..50i64).map(|n| {
        let broker = broker.clone();
        tokio::spawn(async move {
            let subject = if n % 2 == 0 {
                "shared".to_owned()
            } else {
                format!("s-{n}")
            };
            let outcome = broker
                .resolve(ev(
                    "com.client",
                    "com.t.double",
                    &subject,
                    json!({ "n": n }),
                ))
                .await
                .unwrap();
            (n, outcome)
        })
    });
    for run in runs.collect::<Vec<_>>() {
        let (n, outcome) = run.await.unwrap();
        assert!(outcome.is_ok());
        assert_eq!(
            outcome.events.len(),
            1,
            "workflow {n}: {:?}",
            outcome.events
        );
        assert_eq!(outcome.handled, 2);
        assert_eq!(outcome.result().unwrap().data()["n"], json!(2 * n + 1));
    }
    assert_eq!(broker.pending(), 0);
}

#[tokio::test]
async fn the_same_source_can_be_resolved_again() {
    let broker = EventBroker::builder()
        .handler(echo("com.t.echo"))
        .build()
        .unwrap();
    for i in 0..3 {
        let outcome = broker
            .resolve(ev("com.test", "com.t.echo", "s", json!({ "i": i })))
            .await
            .unwrap();
        assert_eq!(outcome.events.len(), 1);
        assert_eq!(outcome.result().unwrap().data()["i"], json!(i));
    }
}

// ---------------------------------------------------------------------------------------------
// Backpressure

#[tokio::test]
async fn bounded_queues_push_back() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let high_water = Arc::new(AtomicUsize::new(0));
    let broker_cell: Arc<std::sync::OnceLock<EventBroker>> = Arc::new(std::sync::OnceLock::new());
    let (g, hw, cell) = (gate.clone(), high_water.clone(), broker_cell.clone());
    let slow = svc("com.t.slow", move |_| {
        let (g, hw, cell) = (g.clone(), hw.clone(), cell.clone());
        async move {
            g.acquire().await.unwrap().forget();
            let len = cell.get().unwrap().queue_len("com.t.slow").unwrap();
            hw.fetch_max(len, Ordering::SeqCst);
            Ok(vec![])
        }
    });
    let broker = EventBroker::builder()
        .handler_with(slow, HandlerConfig::default().queue_capacity(2))
        .build()
        .unwrap();
    broker_cell.set(broker.clone()).unwrap();
    let e = |i: i32| ev("com.test", "com.t.slow", "s", json!({ "i": i }));

    // One running (blocked on the gate), two queued, the fourth does not fit.
    broker.try_publish(e(0)).unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    broker.try_publish(e(1)).unwrap();
    broker.try_publish(e(2)).unwrap();
    assert_eq!(broker.queue_len("com.t.slow"), Some(2));
    assert_eq!(
        broker.try_publish(e(3)),
        Err(BrokerError::QueueFull {
            handler: "com.t.slow".into(),
            capacity: 2
        })
    );
    assert_eq!(
        BrokerError::QueueFull {
            handler: "com.t.slow".into(),
            capacity: 2
        }
        .to_string(),
        "Event queue is full (max size: 2) for handler 'com.t.slow'"
    );

    // `publish` waits instead of growing the queue.
    let producer = {
        let broker = broker.clone();
        tokio::spawn(async move {
            for i in 10..20 {
                broker.publish(e(i)).await.unwrap();
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(
        !producer.is_finished(),
        "publish must wait while the queue is full"
    );
    assert_eq!(broker.queue_len("com.t.slow"), Some(2));

    gate.add_permits(1000);
    producer.await.unwrap();
    broker.idle().await;
    assert_eq!(broker.take_detached_resolution().handled, 13);
    assert!(high_water.load(Ordering::SeqCst) <= 2);
    assert_eq!(broker.queue_len("com.t.slow"), Some(0));
}

// ---------------------------------------------------------------------------------------------
// A real contract handler, and configuration errors

#[tokio::test]
async fn routes_to_an_arvo_event_handler() {
    let ab = Schema::new(json!({"type":"object","properties":{"a":{"type":"number"},"b":{"type":"number"}},"required":["a","b"]})).unwrap();
    let result = Schema::new(
        json!({"type":"object","properties":{"result":{"type":"number"}},"required":["result"]}),
    )
    .unwrap();
    let contract = ArvoContract::simple("#/test/calc/add", "calc.add")
        .version("1.0.0", ab, result)
        .build()
        .unwrap();
    let handler = ArvoEventHandler::builder(contract)
        .version("1.0.0", |input| {
            Box::pin(async move {
                let a = input.event.data()["a"].as_f64().unwrap_or_default();
                let b = input.event.data()["b"].as_f64().unwrap_or_default();
                Ok(vec![RawOutput::new(
                    "evt.calc.add.success",
                    json!({ "result": a + b }),
                )])
            })
        })
        .build()
        .unwrap();
    let broker = EventBroker::builder()
        .handler(Arc::new(handler))
        .build()
        .unwrap();
    let outcome = broker
        .resolve(ev(
            "com.test.client",
            "com.calc.add",
            "s",
            json!({ "a": 2, "b": 3 }),
        ))
        .await
        .unwrap();
    assert!(outcome.is_ok(), "{:?}", outcome.errors);
    let result = outcome.result().unwrap();
    assert_eq!(result.event_type(), "evt.calc.add.success");
    assert_eq!(result.data()["result"], json!(5.0));
}

#[tokio::test]
async fn refuses_bad_input_and_configuration() {
    let dup = EventBroker::builder()
        .handler(echo("com.t.echo"))
        .handler(echo("com.t.echo"))
        .build();
    assert_eq!(
        dup.unwrap_err().to_string(),
        "Only one subscriber allowed per topic: com.t.echo"
    );
    let zero = EventBroker::builder()
        .handler_with(echo("com.t.echo"), HandlerConfig::default().prefetch(0))
        .build();
    assert!(
        matches!(zero, Err(BrokerError::InvalidConfig { ref handler, .. }) if handler == "com.t.echo")
    );
    let zero = EventBroker::builder()
        .handler_with(
            echo("com.t.echo"),
            HandlerConfig::default().queue_capacity(0),
        )
        .build();
    assert!(matches!(zero, Err(BrokerError::InvalidConfig { .. })));
    // Past tokio's semaphore bound, prefetch panicked the handler's dispatcher when the broker
    // started; queue capacity was already refused.
    for config in [
        HandlerConfig::default().prefetch(usize::MAX),
        HandlerConfig::default().queue_capacity(usize::MAX),
    ] {
        let huge = EventBroker::builder()
            .handler_with(echo("com.t.echo"), config)
            .build();
        assert!(
            matches!(huge, Err(BrokerError::InvalidConfig { ref reason, .. }) if reason.contains("too large")),
            "{:?}",
            huge.map(|_| ())
        );
    }

    // The largest bounds and prefetch are accepted, and work.
    let unbounded = EventBroker::builder()
        .max_events_per_resolve(usize::MAX)
        .max_buffered_events(usize::MAX)
        .handler_with(
            echo("com.t.echo"),
            HandlerConfig::default()
                .prefetch(tokio::sync::Semaphore::MAX_PERMITS)
                .queue_capacity(tokio::sync::Semaphore::MAX_PERMITS),
        )
        .build()
        .unwrap();
    let done = unbounded
        .resolve(ev("com.test", "com.t.echo", "s", json!({"n": 1})))
        .await
        .unwrap();
    assert_eq!(done.events.len(), 1, "{done:?}");

    let broker = EventBroker::builder()
        .handler(echo("com.t.echo"))
        .handler(echo("com.t.other"))
        .build()
        .unwrap();
    assert_eq!(broker.handlers(), ["com.t.echo", "com.t.other"]);

    let from_handler = ev("com.t.other", "com.t.echo", "s", json!({}));
    assert_eq!(
        broker.resolve(from_handler).await.unwrap_err().to_string(),
        "The event source cannot be one of the handlers in the broker. Please update the event.source, the given is 'com.t.other'"
    );

    let no_to = ArvoEvent::from_parts(ArvoEventParts {
        id: "e-1".into(),
        time: "2024-01-01T00:00:00.000+00:00".into(),
        source: "com.test".into(),
        event_type: "com.t.echo".into(),
        subject: "s".into(),
        datacontenttype: "application/json".into(),
        ..ArvoEventParts::default()
    })
    .unwrap();
    let err = BrokerError::MissingTo {
        event_id: "e-1".into(),
    };
    assert_eq!(broker.resolve(no_to.clone()).await.unwrap_err(), err);
    assert_eq!(broker.publish(no_to.clone()).await.unwrap_err(), err);
    assert_eq!(broker.try_publish(no_to).unwrap_err(), err);
    assert_eq!(
        err.to_string(),
        "Event must have a \"to\" property (event id 'e-1')"
    );

    assert_eq!(
        broker.try_publish(ev("com.test", "com.t.unknown", "s", json!({}))),
        Err(BrokerError::NoHandler {
            to: "com.t.unknown".into()
        })
    );
    broker
        .publish(ev("com.test", "com.t.unknown", "s", json!({})))
        .await
        .unwrap();
    broker.idle().await;
    let detached = broker.take_detached_resolution();
    assert_eq!(detached.unroutable.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_through_full_queues_does_not_deadlock() {
    // ping fans out 3 pongs per event, each pong answers with a ping until the depth is used
    // up: 1 + 3 + 3 + 9 + 9 + ... events through queues of capacity 1.
    let ping = svc("com.t.ping", |e| async move {
        let depth = e.data()["depth"].as_u64().unwrap();
        if depth == 0 {
            return Ok(vec![reply("com.t.ping", &e, json!({ "leaf": true }))]);
        }
        Ok((0..3)
            .map(|_| {
                emit(
                    "com.t.ping",
                    &e,
                    "com.t.pong",
                    "com.t.pong",
                    json!({ "depth": depth, "reply": e.data()["reply"] }),
                )
            })
            .collect())
    });
    let pong = svc("com.t.pong", |e| async move {
        let depth = e.data()["depth"].as_u64().unwrap();
        let mut back = emit(
            "com.t.pong",
            &e,
            "com.t.ping",
            "com.t.ping",
            json!({ "depth": depth - 1, "reply": e.data()["reply"] }),
        )
        .into_parts();
        back.source = e.data()["reply"].as_str().unwrap().to_owned();
        Ok(vec![ArvoEvent::from_parts(back).unwrap()])
    });
    let broker = EventBroker::builder()
        .defaults(HandlerConfig::default().queue_capacity(1))
        .handler(ping)
        .handler(pong)
        .build()
        .unwrap();
    let start = ev(
        "com.client",
        "com.t.ping",
        "s",
        json!({ "depth": 4, "reply": "com.client" }),
    );
    let outcome = tokio::time::timeout(Duration::from_secs(20), broker.resolve(start))
        .await
        .expect("no deadlock")
        .unwrap();
    assert!(outcome.is_ok(), "{:?}", outcome.errors);
    // 3^4 leaves answer the client.
    assert_eq!(outcome.events.len(), 81);
    assert_eq!(outcome.handled, 1 + 3 + 3 + 9 + 9 + 27 + 27 + 81 + 81);
}

// ---------------------------------------------------------------------------------------------
// `resolve` runs its workflow's events inline when their handler is idle

/// A prefetch-1 handler whose executions may finish at once (run inline by `resolve`) or
/// wait (moved to a task): never two at a time, however many workflows run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_executions_keep_prefetch_one_exclusive() {
    let (current, max) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (c, m) = (current.clone(), max.clone());
    let step = svc("com.t.step", move |e| {
        let (current, max) = (c.clone(), m.clone());
        async move {
            let now = current.fetch_add(1, Ordering::SeqCst) + 1;
            max.fetch_max(now, Ordering::SeqCst);
            let n = e.data()["n"].as_i64().unwrap();
            if n % 3 == 0 {
                tokio::task::yield_now().await;
            }
            std::thread::yield_now();
            current.fetch_sub(1, Ordering::SeqCst);
            Ok(vec![reply("com.t.step", &e, json!({ "n": n }))])
        }
    });
    let broker = EventBroker::builder().handler(step).build().unwrap();
    let runs: Vec<_> = (0..60i64)
        .map(|n| {
            let broker = broker.clone();
            tokio::spawn(async move {
                let e = ev(
                    "com.client",
                    "com.t.step",
                    &format!("s-{n}"),
                    json!({ "n": n }),
                );
                (n, broker.resolve(e).await.unwrap())
            })
        })
        .collect();
    for run in runs {
        let (n, outcome) = run.await.unwrap();
        assert!(outcome.is_ok());
        assert_eq!(outcome.handled, 1);
        assert_eq!(outcome.result().unwrap().data()["n"], json!(n));
    }
    assert_eq!(max.load(Ordering::SeqCst), 1);
    assert_eq!(broker.pending(), 0);
}

/// Dropping a `resolve` (here: a timeout) while a handler of its workflow waits does not
/// cancel that execution: it finishes, and its outputs are routed on.
#[tokio::test]
async fn a_dropped_resolve_does_not_cancel_its_workflow() {
    let gate = Arc::new(tokio::sync::Notify::new());
    let reached = Arc::new(AtomicUsize::new(0));
    let g = gate.clone();
    let wait = svc("com.t.wait", move |e| {
        let gate = g.clone();
        async move {
            gate.notified().await;
            Ok(vec![emit(
                "com.t.wait",
                &e,
                "com.t.last",
                "com.t.last",
                json!({}),
            )])
        }
    });
    let r = reached.clone();
    let last = svc("com.t.last", move |e| {
        let reached = r.clone();
        async move {
            reached.fetch_add(1, Ordering::SeqCst);
            Ok(vec![emit(
                "com.t.last",
                &e,
                "evt.t.done",
                "com.client",
                json!({}),
            )])
        }
    });
    let broker = EventBroker::builder()
        .handler(wait)
        .handler(last)
        .build()
        .unwrap();
    let start = ev("com.client", "com.t.wait", "s", json!({}));
    let timed_out = tokio::time::timeout(Duration::from_millis(20), broker.resolve(start)).await;
    assert!(timed_out.is_err());
    assert_eq!(broker.pending(), 1, "the waiting execution is still held");
    gate.notify_one();
    broker.idle().await;
    assert_eq!(reached.load(Ordering::SeqCst), 1);
    assert_eq!(broker.pending(), 0);
}

/// A ping-pong of 300 events between two handlers: the first ones run inline, the rest
/// through the queues, in causal order, every event counted once.
#[tokio::test]
async fn a_long_workflow_runs_in_order_past_the_inline_limit() {
    let seen = Arc::new(Mutex::new(Vec::<i64>::new()));
    let pong = |me: &'static str, other: &'static str, seen: Arc<Mutex<Vec<i64>>>| {
        svc(me, move |e| {
            let seen = seen.clone();
            async move {
                let n = e.data()["n"].as_i64().unwrap();
                seen.lock().unwrap().push(n);
                if n + 1 == 300 {
                    let done = emit(me, &e, "evt.t.done", "com.client", json!({ "n": n }));
                    return Ok(vec![done]);
                }
                Ok(vec![emit(me, &e, other, other, json!({ "n": n + 1 }))])
            }
        })
    };
    let broker = EventBroker::builder()
        .handler(pong("com.t.ping", "com.t.pong", seen.clone()))
        .handler(pong("com.t.pong", "com.t.ping", seen.clone()))
        .build()
        .unwrap();
    let outcome = broker
        .resolve(ev("com.client", "com.t.ping", "s", json!({ "n": 0 })))
        .await
        .unwrap();
    assert!(outcome.is_ok());
    assert_eq!(outcome.handled, 300);
    assert_eq!(outcome.result().unwrap().data()["n"], json!(299));
    assert_eq!(*seen.lock().unwrap(), (0..300).collect::<Vec<i64>>());
}

/// A caller looping over `resolve` whose workflows all run inline (nothing ever waits) still
/// yields to the runtime's other tasks: each inline execution spends a unit of the task's
/// tokio budget. Without it, a current-thread runtime would run nothing else for the whole
/// loop (no timer, no I/O, not the clean-up of a dropped broker's tasks).
#[tokio::test]
async fn a_loop_of_inline_resolves_lets_other_tasks_run() {
    let broker = EventBroker::builder()
        .handler(svc("com.t.echo", |e| async move { Ok(vec![done(&e)]) }))
        .build()
        .unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let flag = ran.clone();
    tokio::spawn(async move {
        flag.store(1, Ordering::SeqCst);
    });
    let mut seen_at = None;
    for i in 0..2_000 {
        let outcome = broker
            .resolve(ev("com.client", "com.t.echo", "s", json!({})))
            .await
            .unwrap();
        assert!(outcome.is_ok());
        if seen_at.is_none() && ran.load(Ordering::SeqCst) == 1 {
            seen_at = Some(i);
        }
    }
    let at = seen_at.expect("the spawned task never ran during 2,000 inline resolves");
    assert!(at < 1_000, "the spawned task ran only after {at} resolves");
}

/// Dropping the last `EventBroker` drops its handlers at once, with whatever they hold (an
/// orchestrator's memory full of records): not later, when the runtime happens to poll the
/// broker's aborted dispatcher tasks, in the middle of whatever it runs then.
#[tokio::test]
async fn dropping_the_broker_drops_its_handlers_at_once() {
    /// Held by the handler; counts its drop.
    struct Guard(Arc<AtomicUsize>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicUsize::new(0));
    let guard = Guard(dropped.clone());
    let broker = EventBroker::builder()
        .handler(svc("com.t.echo", move |e| {
            let _held = &guard;
            async move { Ok(vec![done(&e)]) }
        }))
        .build()
        .unwrap();
    // A resolve starts the dispatchers; a published event goes through one of them.
    let outcome = broker
        .resolve(ev("com.client", "com.t.echo", "s", json!({})))
        .await
        .unwrap();
    assert!(outcome.is_ok());
    broker
        .publish(ev("com.client", "com.t.echo", "s", json!({})))
        .await
        .unwrap();
    broker.idle().await;
    assert_eq!(dropped.load(Ordering::SeqCst), 0);
    // No await between the drop and the check: the runtime runs none of its tasks here.
    drop(broker);
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "the handler outlived the broker"
    );
}
