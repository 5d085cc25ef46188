//! The NATS JetStream transport against a real server (`ARVO_TEST_NATS_URL`; skipped with a
//! note when unset, a failure when `CI=true`). Every test works on its own streams (random
//! suffix) and deletes them at the end.
//!
//! Shown here: one handler served by two workers handles each event once; a duplicate publish
//! (same event id) is delivered once; in-flight events per worker are bounded; a long handler
//! keeps its event with heartbeats (no re-delivery); a graceful shutdown finishes and acks the
//! events in flight; resumable workflows complete over NATS with the PostgreSQL memory; a
//! handler that always fails lands in the dead-letter stream after the maximum deliveries
//! while other workflows complete; payloads that are not events (or are near the server's
//! maximum message size) are dead-lettered once, shortened to fit, and the handler goes on; an
//! event whose NATS subject would be too long is refused before it is sent; a cycle between
//! two handlers stops at the hop budget, its last event dead-lettered, as is an event whose
//! hop header is not a count; a fan-out cycle stops at the workflow budget, every event past
//! it dead-lettered, as is an event whose workflow header is not an id; a handler that never
//! returns is cancelled after the run timeout, its event dead-lettered, while the others are
//! answered; a worker whose connection to the server is cut three times (a network failure or
//! a server restart, through a TCP proxy) reconnects, and every workflow completes exactly
//! once.
#![cfg(feature = "nats")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common_backends;
mod common_resumable;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arvo_runtime::broker::RetryPolicy;
use arvo_runtime::event::ArvoEvent;
use arvo_runtime::handler::{DynEventHandler, EventHandler, ParentContext, Violation};
use arvo_runtime::memory::InMemoryMemory;
use arvo_runtime::memory::postgres::PostgresMemory;
use arvo_runtime::resumable::ResumableStatus;
use arvo_runtime::transport::nats::{
    DeadLetter, MAX_IN_FLIGHT, MAX_SUBJECT_BYTES, MAX_WAIT, NatsError, NatsStreams, NatsTransport,
    NatsWorker, NatsWorkerBuilder, WORKFLOW_HEADER, WorkerStats,
};
use arvo_runtime::violation::CustomViolation;
use common_backends::workflows::{CalcRecord, calc_init, status};
use common_backends::{
    Proxy, postgres_host_port, postgres_url, postgres_url_via, server_url, stored_on, unique,
};
use common_resumable::{CalcFlow, calc_handler, calc_resumable};
use futures_util::StreamExt;
use futures_util::future::join_all;
use serde_json::json;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const CLIENT: &str = "com.test.client";

/// The transport on fresh streams, or `None` when the server is not configured.
async fn transport(test: &str) -> Option<NatsTransport> {
    let url = server_url("ARVO_TEST_NATS_URL", test)?;
    let streams = NatsStreams::new(unique("ARVO_T")).unwrap();
    Some(NatsTransport::connect(&url, streams).await.unwrap())
}

/// A transport and a migrated PostgreSQL memory of `pool` connections in a schema of its
/// own, or `None` (after saying why) when either server is not configured.
async fn nats_and_postgres(
    test: &str,
    pool: usize,
) -> Option<(NatsTransport, PostgresMemory<CalcRecord>)> {
    let t = transport(test).await?;
    let Some(url) = postgres_url(test) else {
        t.delete_streams().await.unwrap();
        return None;
    };
    let memory = PostgresMemory::<CalcRecord>::builder(url)
        .schema(unique("arvo_nats"))
        .pool_size(pool)
        .build()
        .unwrap();
    memory.migrate().await.unwrap();
    Some((t, memory))
}

/// A running worker, its counters and its shutdown switch.
struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Arc<WorkerStats>>,
    stats: Arc<WorkerStats>,
}

fn start(builder: NatsWorkerBuilder) -> Running {
    let worker = builder.build().unwrap();
    let stats = worker.stats();
    let (stop, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        worker
            .run(async move {
                let _ = rx.await;
            })
            .await
            .unwrap()
    });
    Running { stop, task, stats }
}

impl Running {
    async fn shutdown(self) -> Arc<WorkerStats> {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("the worker stops in time")
            .unwrap()
    }
}

/// Answers each event back to its source with the same subject; records who handled what,
/// how many run at once, and sleeps `delay` while handling.
struct Echo {
    source: String,
    worker: usize,
    seen: Arc<Mutex<Vec<(usize, String)>>>,
    running: Arc<AtomicUsize>,
    max_running: Arc<AtomicUsize>,
    delay: Duration,
}

impl Echo {
    fn new(worker: usize, seen: &Arc<Mutex<Vec<(usize, String)>>>, delay: Duration) -> Echo {
        Echo {
            source: "com.test.echo".into(),
            worker,
            seen: seen.clone(),
            running: Arc::default(),
            max_running: Arc::default(),
            delay,
        }
    }
}

impl EventHandler for Echo {
    fn source(&self) -> &str {
        &self.source
    }
    fn system_error_type(&self) -> &str {
        "sys.com.test.echo.error"
    }
    async fn execute(
        &self,
        event: &ArvoEvent,
        _: ParentContext,
    ) -> Result<Vec<ArvoEvent>, Violation> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.seen
            .lock()
            .unwrap()
            .push((self.worker, event.id().to_owned()));
        self.running.fetch_sub(1, Ordering::SeqCst);
        let data = json!({"echo": event.id()});
        let reply = answer(
            &self.source,
            event,
            "evt.test.echo.done",
            event.source(),
            data,
        )?;
        Ok(vec![reply])
    }
}

/// What handler `from` emits in answer to `input`: an event of `event_type` addressed to `to`,
/// with the input's subject and the input as parent.
fn answer(
    from: &str,
    input: &ArvoEvent,
    event_type: &str,
    to: &str,
    data: serde_json::Value,
) -> Result<ArvoEvent, Violation> {
    ArvoEvent::builder()
        .source(from)
        .event_type(event_type)
        .to(to)
        .subject(input.subject())
        .parentid(input.id())
        .data_json(data)
        .build()
        .map_err(|e| Violation::execution(e.to_string()))
}

/// Always fails, with a violation that might pass (retried up to `max_deliveries`).
struct Poison;

impl EventHandler for Poison {
    fn source(&self) -> &str {
        "com.test.poison"
    }
    fn system_error_type(&self) -> &str {
        "sys.com.test.poison.error"
    }
    async fn execute(&self, _: &ArvoEvent, _: ParentContext) -> Result<Vec<ArvoEvent>, Violation> {
        Err(Violation::from(CustomViolation::new(
            "Unavailable",
            "the poison handler always fails",
        )))
    }
}

/// Counts its runs and stops every event with an `Execution` violation ("stop, dead-letter
/// this").
#[derive(Default)]
struct Stop {
    runs: AtomicUsize,
}

impl EventHandler for Stop {
    fn source(&self) -> &str {
        "com.test.stop"
    }
    fn system_error_type(&self) -> &str {
        "sys.com.test.stop.error"
    }
    async fn execute(&self, _: &ArvoEvent, _: ParentContext) -> Result<Vec<ArvoEvent>, Violation> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Err(Violation::execution("the order was cancelled: stop"))
    }
}

fn event_to(to: &str, subject: &str) -> ArvoEvent {
    ArvoEvent::builder()
        .source(CLIENT)
        .event_type(to)
        .subject(subject)
        .data_json(json!({"n": subject}))
        .build()
        .unwrap()
}

/// Collects `n` replies to [`CLIENT`] (a plain subscription, opened by the caller before
/// publishing), keyed by parent id.
async fn replies(
    mut sub: async_nats::Subscriber,
    n: usize,
    within: Duration,
) -> HashMap<String, usize> {
    let mut got: HashMap<String, usize> = HashMap::new();
    let collect = async {
        while got.values().sum::<usize>() < n {
            let msg = sub.next().await.expect("subscription open");
            let e = ArvoEvent::from_json_slice(&msg.payload).unwrap();
            *got.entry(e.parentid().unwrap().to_owned()).or_default() += 1;
        }
    };
    tokio::time::timeout(within, collect)
        .await
        .expect("every reply in time");
    got
}

async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits up to 20 s until the dead-letter stream holds `n` letters.
async fn dead_letters_reach(t: &NatsTransport, n: usize) {
    eventually(
        &format!("{n} dead letter(s)"),
        Duration::from_secs(20),
        || {
            let t = t.clone();
            async move { t.dead_letters(n + 1).await.unwrap().len() == n }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_out_of_range_are_refused_when_the_worker_is_built() {
    let Some(t) = transport("settings_out_of_range").await else {
        return;
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let builder = || {
        let h: Arc<dyn DynEventHandler> = Arc::new(Echo::new(0, &seen, Duration::ZERO));
        NatsWorker::builder(t.clone()).handler(h)
    };
    let refused = |b: NatsWorkerBuilder| match b.build() {
        Err(NatsError::InvalidConfig(m)) => m,
        other => panic!("expected InvalidConfig, got {:?}", other.map(|_| ())),
    };
    // Waits past MAX_WAIT would reach the server as wrapped nanoseconds, and the heartbeats'
    // first deadline (now + ack_wait / 3) would overflow the clock: a panic in the worker.
    for huge in [MAX_WAIT + Duration::from_secs(1), Duration::MAX] {
        let m = refused(builder().ack_wait(huge));
        assert!(m.contains("at most 24 h"), "{m}");
        let m = refused(builder().fetch_expiry(huge));
        assert!(m.contains("at most 24 h"), "{m}");
        let m = refused(builder().memory_wait(huge));
        assert!(m.contains("at most 24 h"), "{m}");
    }
    // A worker collects a permit per free slot before each pull: usize::MAX of them never end.
    let m = refused(builder().in_flight(MAX_IN_FLIGHT + 1));
    assert!(m.contains("at most 10000"), "{m}");
    let m = refused(builder().in_flight(usize::MAX));
    assert!(m.contains("at most 10000"), "{m}");
    assert!(builder().in_flight(MAX_IN_FLIGHT).build().is_ok());
    let m = refused(builder().ack_wait(Duration::from_millis(10)));
    assert!(m.contains("at least 100 ms"), "{m}");
    assert!(
        builder()
            .ack_wait(MAX_WAIT)
            .fetch_expiry(MAX_WAIT)
            .memory_wait(MAX_WAIT)
            .build()
            .is_ok()
    );

    // The largest accepted settings serve an event (a run timeout of Duration::MAX included:
    // the run's deadline saturates). The pull's expiry stays short, as shutdown waits for it.
    let worker = start(
        builder()
            .in_flight(MAX_IN_FLIGHT)
            .ack_wait(MAX_WAIT)
            .run_timeout(Duration::MAX),
    );
    let sub = t
        .client()
        .subscribe(t.streams().subject(CLIENT))
        .await
        .unwrap();
    let e = event_to("com.test.echo", "largest-settings");
    t.publish(&e).await.unwrap();
    let got = replies(sub, 1, Duration::from_secs(20)).await;
    assert_eq!(got.get(e.id()), Some(&1));
    worker.shutdown().await;
    t.delete_streams().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_share_a_handler_and_handle_each_event_once() {
    let Some(t) = transport("two_workers_share_a_handler").await else {
        return;
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<Running> = (0..2)
        .map(|w| {
            let h: Arc<dyn DynEventHandler> =
                Arc::new(Echo::new(w, &seen, Duration::from_millis(2)));
            start(NatsWorker::builder(t.clone()).handler(h).in_flight(4))
        })
        .collect();
    let sub = t
        .client()
        .subscribe(t.streams().subject(CLIENT))
        .await
        .unwrap();
    let n = 200;
    let mut ids = HashSet::new();
    for i in 0..n {
        let e = event_to("com.test.echo", &format!("s-{i}"));
        ids.insert(e.id().to_owned());
        let receipt = t.publish(&e).await.unwrap();
        assert!(!receipt.duplicate);
    }
    let got = replies(sub, n, Duration::from_secs(60)).await;
    assert_eq!(got.len(), n, "one reply per event");
    assert!(got.values().all(|&c| c == 1), "no event answered twice");
    let mut stats = Vec::new();
    for w in workers {
        stats.push(w.shutdown().await);
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), n, "each event handled exactly once");
    let handled: HashSet<String> = seen.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(handled, ids);
    for (w, stats) in stats.iter().enumerate() {
        let by_w = seen.iter().filter(|(x, _)| *x == w).count();
        assert!(
            by_w > 0,
            "worker {w} handled nothing: the consumer is not shared"
        );
        assert_eq!(stats.handled(), by_w as u64);
    }
    let q = t.queue_stats("com.test.echo").await.unwrap();
    assert_eq!((q.pending, q.ack_pending), (0, 0), "{q:?}");
    t.delete_streams().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_publish_is_delivered_once() {
    let Some(t) = transport("a_duplicate_publish_is_delivered_once").await else {
        return;
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let worker = start(NatsWorker::builder(t.clone()).handler(Arc::new(Echo::new(
        0,
        &seen,
        Duration::ZERO,
    ))));
    let sub = t
        .client()
        .subscribe(t.streams().subject(CLIENT))
        .await
        .unwrap();
    let e = event_to("com.test.echo", "dup");
    let first = t.publish(&e).await.unwrap();
    let second = t.publish(&e).await.unwrap();
    assert!(!first.duplicate);
    assert!(second.duplicate, "JetStream suppresses the second copy");
    assert_eq!(first.sequence, second.sequence);
    let got = replies(sub, 1, Duration::from_secs(20)).await;
    assert_eq!(got.get(e.id()), Some(&1));
    tokio::time::sleep(Duration::from_millis(500)).await;
    worker.shutdown().await;
    assert_eq!(seen.lock().unwrap().len(), 1, "handled once");
    t.delete_streams().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_events_per_worker_are_bounded() {
    let Some(t) = transport("in_flight_events_per_worker_are_bounded").await else {
        return;
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let echo = Echo::new(0, &seen, Duration::from_millis(20));
    let max_running = echo.max_running.clone();
    let n = 60;
    // The backlog is there before the worker starts.
    for i in 0..n {
        t.publish(&event_to("com.test.echo", &format!("b-{i}")))
            .await
            .unwrap();
    }
    let worker = start(
        NatsWorker::builder(t.clone())
            .handler(Arc::new(echo))
            .in_flight(3),
    );
    eventually("the backlog is handled", Duration::from_secs(30), || {
        let len = seen.lock().unwrap().len();
        async move { len == n }
    })
    .await;
    worker.shutdown().await;
    assert_eq!(
        max_running.load(Ordering::SeqCst),
        3,
        "never more than 3 at once, and 3 reached"
    );
    t.delete_streams().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_10000_events_is_absorbed_with_bounded_in_flight() {
    let Some(t) = transport("a_burst_of_10000_events").await else {
        return;
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let in_flight = 8;
    let echoes: Vec<Echo> = (0..2)
        .map(|w| Echo::new(w, &seen, Duration::ZERO))
        .collect();
    let maxima: Vec<Arc<AtomicUsize>> = echoes.iter().map(|e| e.max_running.clone()).collect();
    let workers: Vec<Running> = echoes
        .into_iter()
        .map(|e| {
            start(
                NatsWorker::builder(t.clone())
                    .handler(Arc::new(e))
                    .in_flight(in_flight),
            )
        })
        .collect();
    let n = 10_000;
    let events: Vec<ArvoEvent> = (0..n)
        .map(|i| event_to("com.test.echo", &format!("burst-{i}")))
        .collect();
    let started = std::time::Instant::now();
    for chunk in events.chunks(500) {
        for r in join_all(chunk.iter().map(|e| t.publish(e))).await {
            r.unwrap();
        }
    }
    // The backlog waits on the server, not in the workers.
    let q = t.queue_stats("com.test.echo").await.unwrap();
    assert!(q.ack_pending <= 2 * in_flight, "{q:?}");
    eventually("the burst is handled", Duration::from_secs(120), || {
        let len = seen.lock().unwrap().len();
        async move { len >= n }
    })
    .await;
    let elapsed = started.elapsed();
    join_all(workers.into_iter().map(Running::shutdown)).await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), n, "each event handled once");
    assert_eq!(
        seen.iter()
            .map(|(_, id)| id.as_str())
            .collect::<HashSet<_>>()
            .len(),
        n
    );
    for m in &maxima {
        assert!(
            m.load(Ordering::SeqCst) <= in_flight,
            "at most {in_flight} at once per worker"
        );
    }
    eprintln!("burst: {n} events through 2 workers (in-flight {in_flight} each) in {elapsed:.1?}");
    t.delete_streams().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_handler_keeps_its_event_with_heartbeats() {
    let Some(t) = transport("a_long_handler_keeps_its_event_with_heartbeats").await else {
        return;
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    // Runs 4x the ack wait: without heartbeats the server would re-deliver it meanwhile.
    let worker = start(
        NatsWorker::builder(t.clone())
            .handler(Arc::new(Echo::new(0, &seen, Duration::from_millis(1200))))
            .ack_wait(Duration::from_millis(300))
            .in_flight(2),
    );
    let sub = t
        .client()
        .subscribe(t.streams().subject(CLIENT))
        .await
        .unwrap();
    t.publish(&event_to("com.test.echo", "long")).await.unwrap();
    replies(sub, 1, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let stats = worker.shutdown().await;
    assert_eq!(seen.lock().unwrap().len(), 1, "handled once");
    assert_eq!(stats.redelivered(), 0);
    t.delete_streams().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_and_acks_the_events_in_flight() {
    let Some(t) = transport("graceful_shutdown_finishes_and_acks").await else {
        return;
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let echo = Echo::new(0, &seen, Duration::from_millis(600));
    let running = echo.running.clone();
    let worker = start(
        NatsWorker::builder(t.clone())
            .handler(Arc::new(echo))
            .in_flight(4)
            .fetch_expiry(Duration::from_millis(200)),
    );
    for i in 0..4 {
        t.publish(&event_to("com.test.echo", &format!("g-{i}")))
            .await
            .unwrap();
    }
    eventually("4 events running", Duration::from_secs(20), || {
        let r = running.load(Ordering::SeqCst);
        async move { r == 4 }
    })
    .await;
    let stats = worker.shutdown().await;
    assert_eq!(
        stats.handled(),
        4,
        "the events in flight were finished and acked"
    );
    assert_eq!(seen.lock().unwrap().len(), 4);
    let q = t.queue_stats("com.test.echo").await.unwrap();
    assert_eq!((q.pending, q.ack_pending), (0, 0), "{q:?}");
    t.delete_streams().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumable_workflows_complete_over_nats_with_postgres_memory() {
    let Some((t, memory)) = nats_and_postgres("resumable_workflows_over_nats", 8).await else {
        return;
    };
    // Two workers, each serving the orchestrator and the service, sharing the memory.
    let workers: Vec<Running> = (0..2)
        .map(|_| {
            start(
                NatsWorker::builder(t.clone())
                    .handler(Arc::new(calc_resumable(memory.clone())))
                    .handler(Arc::new(calc_handler()))
                    .in_flight(8),
            )
        })
        .collect();
    let n = 40;
    let inits: Vec<ArvoEvent> = (0..n).map(|i| calc_init(f64::from(i), 0.5)).collect();
    let answers = join_all(
        inits
            .iter()
            .map(|init| t.resolve(init.clone(), Duration::from_secs(60))),
    )
    .await;
    for (i, (init, answer)) in inits.iter().zip(answers).enumerate() {
        let done = answer.unwrap();
        assert_eq!(done.event_type(), CalcFlow::COMPLETE_TYPE);
        assert_eq!(done.to(), Some("com.bench.client"));
        assert_eq!(done.data()["result"].as_f64(), Some(i as f64 + 0.5));
        assert_eq!(status(&memory, init.subject()).await, ResumableStatus::Done);
    }
    let handled: u64 = join_all(workers.into_iter().map(Running::shutdown))
        .await
        .iter()
        .map(|s| s.handled())
        .sum();
    assert_eq!(
        handled,
        3 * n as u64,
        "init, service call, service answer per workflow"
    );
    drop_schema(&memory).await;
    t.delete_streams().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_handler_is_dead_lettered_while_other_workflows_complete() {
    let Some(t) = transport("a_failing_handler_is_dead_lettered").await else {
        return;
    };
    let memory = InMemoryMemory::<CalcRecord>::new();
    let workers: Vec<Running> = (0..2)
        .map(|_| {
            start(
                NatsWorker::builder(t.clone())
                    .handler(Arc::new(calc_resumable(memory.clone())))
                    .handler(Arc::new(calc_handler()))
                    .handler(Arc::new(Poison))
                    .max_deliveries(3)
                    .retry(RetryPolicy::new(0, Duration::from_millis(20)))
                    .in_flight(8),
            )
        })
        .collect();
    let poison = event_to("com.test.poison", "poison-1");
    t.publish(&poison).await.unwrap();
    let n = 500;
    let inits: Vec<ArvoEvent> = (0..n).map(|i| calc_init(f64::from(i), 1.0)).collect();
    let answers = join_all(
        inits
            .iter()
            .map(|init| t.resolve(init.clone(), Duration::from_secs(60))),
    )
    .await;
    for (i, answer) in answers.into_iter().enumerate() {
        assert_eq!(
            answer.unwrap().data()["result"].as_f64(),
            Some(i as f64 + 1.0)
        );
    }
    dead_letters_reach(&t, 1).await;
    let dead = t.dead_letters(10).await.unwrap().remove(0);
    assert_eq!(dead.handler, "com.test.poison");
    assert_eq!(dead.deliveries, 3);
    assert!(
        dead.error.contains("the poison handler always fails"),
        "{}",
        dead.error
    );
    assert_eq!(dead.event.as_ref().map(ArvoEvent::id), Some(poison.id()));
    let stats = join_all(workers.into_iter().map(Running::shutdown)).await;
    let sum = |f: fn(&WorkerStats) -> u64| stats.iter().map(|s| f(s)).sum::<u64>();
    assert_eq!(sum(WorkerStats::dead_lettered), 1);
    assert_eq!(
        sum(WorkerStats::failed),
        2,
        "two retried deliveries before the third"
    );
    assert_eq!(sum(WorkerStats::redelivered), 2);
    let q = t.queue_stats("com.test.poison").await.unwrap();
    assert_eq!(
        (q.pending, q.ack_pending, q.dead_lettered),
        (0, 0, 1),
        "{q:?}"
    );
    let q = t.queue_stats("com.calc.add").await.unwrap();
    assert_eq!(
        (q.pending, q.ack_pending, q.dead_lettered),
        (0, 0, 0),
        "{q:?}"
    );
    t.delete_streams().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_payloads_are_dead_lettered_once_and_the_handler_goes_on() {
    let Some(t) = transport("hostile_payloads").await else {
        return;
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let worker = start(
        NatsWorker::builder(t.clone())
            .handler(Arc::new(Echo::new(0, &seen, Duration::ZERO)))
            .handler(Arc::new(Poison))
            .max_deliveries(1),
    );
    let max = t.client().max_payload();
    // Payloads no Arvo publisher writes, straight onto the handler's subject: bytes that are
    // not UTF-8 (one of them nearly as long as the server allows, which triples when read as
    // text), JSON that is not an event, nothing at all.
    let hostile: Vec<Vec<u8>> = vec![
        b"\xff\xfe not json".to_vec(),
        br#"{"id":1}"#.to_vec(),
        Vec::new(),
        vec![0xFF; max - 1024],
    ];
    let js = async_nats::jetstream::new(t.client().clone());
    let subject = t.streams().subject("com.test.echo");
    for p in &hostile {
        js.publish(subject.clone(), p.clone().into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    // A valid event addressed to another handler, put on this one's subject by hand.
    let misaddressed = event_to("com.test.other", "misaddressed");
    js.publish(subject.clone(), misaddressed.to_json_string().into())
        .await
        .unwrap()
        .await
        .unwrap();
    // A valid event near the limit, to a handler that fails: its letter is over the limit too.
    let big = ArvoEvent::builder()
        .source(CLIENT)
        .event_type("com.test.poison")
        .subject("big")
        .data_json(json!({"text": "\u{1}".repeat((max - 4096) / 6)}))
        .build()
        .unwrap();
    t.publish(&big).await.unwrap();
    let sub = t
        .client()
        .subscribe(t.streams().subject(CLIENT))
        .await
        .unwrap();
    let fine = event_to("com.test.echo", "after-the-hostile-ones");
    t.publish(&fine).await.unwrap();
    let got = replies(sub, 1, Duration::from_secs(30)).await;
    assert_eq!(got.get(fine.id()), Some(&1), "{got:?}");
    eventually(
        "every hostile payload is dead-lettered",
        Duration::from_secs(30),
        || {
            let t = t.clone();
            async move { t.dead_letters(100).await.unwrap().len() >= 6 }
        },
    )
    .await;
    let stats = worker.shutdown().await;
    let dead = t.dead_letters(100).await.unwrap();
    assert_eq!(dead.len(), 6, "each once: {dead:?}");
    // Workers handle a batch at once, so the letters come in any order.
    let (wrong_to, letters): (Vec<&DeadLetter>, Vec<&DeadLetter>) = dead
        .iter()
        .filter(|d| d.handler == "com.test.echo")
        .partition(|d| d.event.is_some());
    assert_eq!(wrong_to.len(), 1, "{wrong_to:?}");
    assert_eq!(
        wrong_to[0].event.as_ref().map(ArvoEvent::id),
        Some(misaddressed.id())
    );
    assert!(
        wrong_to[0]
            .error
            .starts_with("addressed to 'com.test.other'"),
        "{}",
        wrong_to[0].error
    );
    assert_eq!(letters.len(), hostile.len(), "{letters:?}");
    for letter in &letters {
        assert_eq!(letter.deliveries, 1);
        assert!(
            letter.error.starts_with("not an Arvo event"),
            "{}",
            letter.error
        );
        assert!(letter.event.is_none());
    }
    for payload in &hostile {
        let text = String::from_utf8_lossy(payload);
        if payload.len() < 1024 {
            assert!(
                letters
                    .iter()
                    .any(|l| l.raw.as_deref() == Some(&*text) && l.truncated_from.is_none()),
                "no whole letter for {text:?}"
            );
        } else {
            let letter = letters
                .iter()
                .find(|l| l.truncated_from.is_some())
                .expect("the near-limit payload's letter is shortened");
            assert_eq!(letter.truncated_from, Some(text.len() as u64));
            let raw = letter.raw.as_deref().unwrap();
            assert!(
                raw.len() > max / 8 && text.starts_with(raw),
                "{}",
                raw.len()
            );
        }
    }
    let poisoned = dead
        .iter()
        .find(|d| d.handler == "com.test.poison")
        .unwrap();
    let json = big.to_json_string();
    assert_eq!(poisoned.truncated_from, Some(json.len() as u64));
    assert!(json.starts_with(poisoned.raw.as_deref().unwrap()));
    assert!(poisoned.error.contains("the poison handler always fails"));
    assert_eq!(stats.dead_lettered(), 6);
    assert_eq!(stats.handled(), 1);
    for (handler, dead_lettered) in [("com.test.echo", 5), ("com.test.poison", 1)] {
        let q = t.queue_stats(handler).await.unwrap();
        assert_eq!(
            (q.pending, q.ack_pending, q.dead_lettered),
            (0, 0, dead_lettered),
            "{handler}: {q:?}"
        );
    }
    t.delete_streams().await.unwrap();
}

/// Emits one event whose `to` makes a NATS subject longer than the server takes.
struct LongTo;

impl EventHandler for LongTo {
    fn source(&self) -> &str {
        "com.test.longto"
    }
    fn system_error_type(&self) -> &str {
        "sys.com.test.longto.error"
    }
    async fn execute(
        &self,
        event: &ArvoEvent,
        _: ParentContext,
    ) -> Result<Vec<ArvoEvent>, Violation> {
        let out = ArvoEvent::builder()
            .source("com.test.longto")
            .event_type("evt.test.longto.done")
            .to(format!("com.test.{}", "a".repeat(MAX_SUBJECT_BYTES)).as_str())
            .subject(event.subject())
            .data_json(json!({}))
            .build()
            .map_err(|e| Violation::execution(e.to_string()))?;
        Ok(vec![out])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_whose_subject_is_too_long_is_refused_before_it_is_sent() {
    let Some(t) = transport("subject_too_long").await else {
        return;
    };
    let long = ArvoEvent::builder()
        .source(CLIENT)
        .event_type("com.test.echo")
        .to(format!("com.test.{}", "a".repeat(MAX_SUBJECT_BYTES)).as_str())
        .subject("long")
        .data_json(json!({}))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let err = t.publish(&long).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "refused at once"
    );
    assert!(
        matches!(&err, NatsError::SubjectTooLong { len, max, .. } if *len > *max && *max == MAX_SUBJECT_BYTES),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.len() < 3000 && text.contains("bytes in all"), "{text}");
    // `resolve` reads the answer on the subject of the event's source: checked too, before
    // anything is subscribed or sent.
    let long_source = ArvoEvent::builder()
        .source(format!("com.test.{}", "b".repeat(MAX_SUBJECT_BYTES)).as_str())
        .event_type("com.test.echo")
        .subject("long-source")
        .data_json(json!({}))
        .build()
        .unwrap();
    let err = t
        .resolve(long_source, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(&err, NatsError::SubjectTooLong { .. }), "{err:?}");
    // A handler that emits such an event fails its delivery, fast, until it is dead-lettered;
    // the worker's other handlers go on.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let worker = start(
        NatsWorker::builder(t.clone())
            .handler(Arc::new(LongTo))
            .handler(Arc::new(Echo::new(0, &seen, Duration::ZERO)))
            .max_deliveries(2)
            .retry(RetryPolicy::new(0, Duration::from_millis(20))),
    );
    t.publish(&event_to("com.test.longto", "long-1"))
        .await
        .unwrap();
    let sub = t
        .client()
        .subscribe(t.streams().subject(CLIENT))
        .await
        .unwrap();
    let fine = event_to("com.test.echo", "fine");
    t.publish(&fine).await.unwrap();
    assert_eq!(
        replies(sub, 1, Duration::from_secs(20))
            .await
            .get(fine.id()),
        Some(&1)
    );
    dead_letters_reach(&t, 1).await;
    let dead = t.dead_letters(10).await.unwrap().remove(0);
    assert_eq!(
        (dead.handler.as_str(), dead.deliveries),
        ("com.test.longto", 2)
    );
    assert!(
        dead.error
            .contains(&format!("over the {MAX_SUBJECT_BYTES}-byte limit")),
        "{}",
        dead.error
    );
    let stats = worker.shutdown().await;
    assert_eq!((stats.dead_lettered(), stats.published()), (1, 1));
    t.delete_streams().await.unwrap();
}

/// Emits, for each event, one event with a domain and a reply.
struct Emitter;

impl EventHandler for Emitter {
    fn source(&self) -> &str {
        "com.test.emitter"
    }
    fn system_error_type(&self) -> &str {
        "sys.com.test.emitter.error"
    }
    async fn execute(
        &self,
        event: &ArvoEvent,
        _: ParentContext,
    ) -> Result<Vec<ArvoEvent>, Violation> {
        let base = || {
            ArvoEvent::builder()
                .source("com.test.emitter")
                .subject(event.subject())
                .parentid(event.id())
                .data_json(json!({}))
        };
        let build = |b: arvo_runtime::event::ArvoEventBuilder| {
            b.build().map_err(|e| Violation::execution(e.to_string()))
        };
        let domained = build(
            base()
                .event_type("com.test.approver")
                .domain("human.review"),
        )?;
        let reply = build(
            base()
                .event_type("evt.test.emitter.done")
                .to(event.source()),
        )?;
        Ok(vec![domained, reply])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domained_events_go_to_the_hook_or_their_domain_subject() {
    let Some(t) = transport("domained_events").await else {
        return;
    };
    let direct = Emitter
        .execute(
            &event_to("com.test.emitter", "direct"),
            ParentContext::Event,
        )
        .await
        .unwrap();
    assert_eq!(direct.len(), 2);
    // With hooks: the hooks get them.
    let hooked = Arc::new(Mutex::new(Vec::<ArvoEvent>::new()));
    let h1 = hooked.clone();
    let worker = start(
        NatsWorker::builder(t.clone())
            .handler(Arc::new(Emitter))
            .on_domained(move |e| {
                h1.lock().unwrap().push(e);
                async { Ok(()) }
            }),
    );
    let done = t
        .resolve(
            event_to("com.test.emitter", "hooks"),
            Duration::from_secs(20),
        )
        .await
        .unwrap();
    assert_eq!(done.event_type(), "evt.test.emitter.done");
    worker.shutdown().await;
    {
        let hooked = hooked.lock().unwrap();
        assert_eq!(hooked.len(), 1);
        assert_eq!(hooked[0].domain(), Some("human.review"));
        assert_eq!(hooked[0].subject(), "hooks");
    }
    assert!(
        stored_on(&t, t.streams().domain_subject("human.review"))
            .await
            .is_empty()
    );

    // Without a hook: it is kept in the stream on its domain's subject.
    let worker = start(NatsWorker::builder(t.clone()).handler(Arc::new(Emitter)));
    t.resolve(
        event_to("com.test.emitter", "nohooks"),
        Duration::from_secs(20),
    )
    .await
    .unwrap();
    worker.shutdown().await;
    let domained = stored_on(&t, t.streams().domain_subject("human.review")).await;
    assert_eq!(domained.len(), 1);
    assert_eq!(domained[0].subject(), "nohooks");
    assert_eq!(domained[0].to(), Some("com.test.approver"));
    t.delete_streams().await.unwrap();
}

/// Answers every event with `copies` events addressed to `to`: two of them make a cycle (a
/// fan-out cycle with `copies` above 1).
struct Bounce {
    source: &'static str,
    to: &'static str,
    copies: usize,
}

impl EventHandler for Bounce {
    fn source(&self) -> &str {
        self.source
    }
    fn system_error_type(&self) -> &str {
        "sys.com.test.bounce.error"
    }
    async fn execute(
        &self,
        event: &ArvoEvent,
        _: ParentContext,
    ) -> Result<Vec<ArvoEvent>, Violation> {
        (0..self.copies)
            .map(|_| answer(self.source, event, self.to, self.to, json!({})))
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_between_handlers_stops_at_the_hop_budget() {
    let Some(t) = transport("hop_budget").await else {
        return;
    };
    const MAX_HOPS: u32 = 12;
    let worker = start(
        NatsWorker::builder(t.clone())
            .handler(Arc::new(Bounce {
                source: "com.test.ping",
                to: "com.test.pong",
                copies: 1,
            }))
            .handler(Arc::new(Bounce {
                source: "com.test.pong",
                to: "com.test.ping",
                copies: 1,
            }))
            .max_hops(MAX_HOPS),
    );
    let serve = t.streams().subject("com.test.ping");
    t.publish(&event_to("com.test.ping", "cycle"))
        .await
        .unwrap();
    // A header no worker writes, on an event that is otherwise fine.
    let js = async_nats::jetstream::new(t.client().clone());
    for value in ["many", "-1", "4294967296"] {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Arvo-Hops", value);
        let e = event_to("com.test.ping", value);
        js.publish_with_headers(serve.clone(), headers, e.to_json_string().into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    eventually(
        "the cycle and the bad headers are dead-lettered",
        Duration::from_secs(30),
        || {
            let t = t.clone();
            async move { t.dead_letters(100).await.unwrap().len() >= 4 }
        },
    )
    .await;
    // The cycle does not go on past its letter.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stats = worker.shutdown().await;
    let dead = t.dead_letters(100).await.unwrap();
    assert_eq!(dead.len(), 4, "{dead:?}");
    let (cycle, bad): (Vec<&DeadLetter>, Vec<&DeadLetter>) = dead
        .iter()
        .partition(|d| d.event.as_ref().is_some_and(|e| e.subject() == "cycle"));
    assert_eq!(cycle.len(), 1, "{cycle:?}");
    let letter = cycle[0];
    assert_eq!(
        letter.error,
        format!(
            "{MAX_HOPS} handler runs led to this event (max_hops {MAX_HOPS}): a cycle between handlers?"
        )
    );
    // Twelve runs: ping, pong, ... ; the twelfth's output (to ping) is the letter.
    assert_eq!(letter.handler, "com.test.ping");
    assert_eq!(letter.deliveries, 1);
    assert_eq!(stats.handled(), u64::from(MAX_HOPS));
    assert_eq!(stats.published(), u64::from(MAX_HOPS));
    for letter in &bad {
        let value = letter.event.as_ref().unwrap().subject();
        assert_eq!(
            letter.error,
            format!("its Arvo-Hops header is not a count of handler runs: '{value}'")
        );
    }
    assert_eq!(bad.len(), 3);
    t.delete_streams().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_out_cycle_stops_at_the_workflow_budget() {
    let Some(t) = transport("workflow_budget").await else {
        return;
    };
    const BUDGET: u64 = 30;
    // Each run emits two events back into the cycle: without the budget it doubles for ever
    // (the hop budget, 10,000 runs deep, does not stop it).
    let worker = start(
        NatsWorker::builder(t.clone())
            .handler(Arc::new(Bounce {
                source: "com.test.ping",
                to: "com.test.pong",
                copies: 2,
            }))
            .handler(Arc::new(Bounce {
                source: "com.test.pong",
                to: "com.test.ping",
                copies: 2,
            }))
            .workflow_budget(u32::try_from(BUDGET).unwrap()),
    );
    t.publish(&event_to("com.test.ping", "fan")).await.unwrap();
    // A workflow header no worker writes.
    let js = async_nats::jetstream::new(t.client().clone());
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(WORKFLOW_HEADER, "../other");
    let e = event_to("com.test.ping", "bad-header");
    js.publish_with_headers(
        t.streams().subject("com.test.ping"),
        headers,
        e.to_json_string().into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    // The first run (the client's event) starts the workflow and is not counted; the next
    // BUDGET runs are; each run published 2 events, and every event past the budget is
    // dead-lettered: 2 * (BUDGET + 1) - BUDGET of them, and the bad header's.
    let expected_letters = usize::try_from(BUDGET + 3).unwrap();
    eventually(
        "the cycle's events past the budget are dead-lettered",
        Duration::from_secs(60),
        || {
            let t = t.clone();
            async move { t.dead_letters(200).await.unwrap().len() >= expected_letters }
        },
    )
    .await;
    // The cycle does not go on.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stats = worker.shutdown().await;
    let dead = t.dead_letters(200).await.unwrap();
    assert_eq!(dead.len(), expected_letters, "{dead:?}");
    assert_eq!(stats.handled(), BUDGET + 1);
    assert_eq!(stats.published(), 2 * (BUDGET + 1));
    let (bad, cycle): (Vec<&DeadLetter>, Vec<&DeadLetter>) = dead.iter().partition(|d| {
        d.event
            .as_ref()
            .is_some_and(|e| e.subject() == "bad-header")
    });
    assert_eq!(
        bad[0].error,
        "its Arvo-Workflow header is not a workflow id: '../other'"
    );
    let mut counts: Vec<u64> = cycle
        .iter()
        .map(|d| {
            let runs = d
                .error
                .strip_prefix("its workflow took ")
                .and_then(|r| {
                    r.strip_suffix(&format!(
                        " handler runs (workflow_budget {BUDGET}): a fan-out cycle?"
                    ))
                })
                .unwrap_or_else(|| panic!("{}", d.error));
            runs.parse().unwrap()
        })
        .collect();
    counts.sort_unstable();
    // Every delivery of the workflow was counted once, refused ones included.
    let want: Vec<u64> = (BUDGET + 1..=2 * BUDGET + 2).collect();
    assert_eq!(counts, want);
    // One count on the server: the workflow's, at every delivery.
    let store = js.get_key_value(t.streams().budget_bucket()).await.unwrap();
    let keys: Vec<String> = store
        .keys()
        .await
        .unwrap()
        .map(|k| k.unwrap())
        .collect()
        .await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    let value = store.get(&keys[0]).await.unwrap().unwrap();
    assert_eq!(value.as_ref(), (2 * BUDGET + 2).to_string().as_bytes());
    t.delete_streams().await.unwrap();
    assert!(js.get_key_value(t.streams().budget_bucket()).await.is_err());
}

/// Never returns for an event whose subject starts with `hang`; answers every other one.
struct Hang;

impl EventHandler for Hang {
    fn source(&self) -> &str {
        "com.test.hang"
    }
    fn system_error_type(&self) -> &str {
        "sys.com.test.hang.error"
    }
    async fn execute(
        &self,
        event: &ArvoEvent,
        _: ParentContext,
    ) -> Result<Vec<ArvoEvent>, Violation> {
        if event.subject().starts_with("hang") {
            std::future::pending::<()>().await;
        }
        let reply = answer(
            "com.test.hang",
            event,
            "evt.test.hang.done",
            event.source(),
            json!({}),
        )?;
        Ok(vec![reply])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_never_returns_is_cancelled_and_its_event_dead_lettered() {
    let Some(t) = transport("run_timeout").await else {
        return;
    };
    // One slot: while the hung run held it, nothing else of this handler could run.
    let worker = start(
        NatsWorker::builder(t.clone())
            .handler(Arc::new(Hang))
            .in_flight(1)
            .max_deliveries(2)
            .retry(RetryPolicy::new(1, Duration::from_millis(100)))
            .run_timeout(Duration::from_millis(300))
            .ack_wait(Duration::from_secs(30)),
    );
    let sub = t
        .client()
        .subscribe(t.streams().subject(CLIENT))
        .await
        .unwrap();
    let hung = event_to("com.test.hang", "hang-1");
    t.publish(&hung).await.unwrap();
    let fine: Vec<ArvoEvent> = (0..3)
        .map(|i| event_to("com.test.hang", &format!("fine-{i}")))
        .collect();
    for e in &fine {
        t.publish(e).await.unwrap();
    }
    let got = replies(sub, fine.len(), Duration::from_secs(20)).await;
    for e in &fine {
        assert_eq!(got.get(e.id()), Some(&1), "{got:?}");
    }
    eventually(
        "the hung event is dead-lettered",
        Duration::from_secs(20),
        || {
            let t = t.clone();
            async move { !t.dead_letters(10).await.unwrap().is_empty() }
        },
    )
    .await;
    let stats = worker.shutdown().await;
    let dead = t.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].event.as_ref().map(ArvoEvent::id), Some(hung.id()));
    assert_eq!(dead[0].deliveries, 2);
    assert_eq!(
        dead[0].error,
        "handler still running after run_timeout (300ms): cancelled"
    );
    assert_eq!(stats.handled(), 3);
    assert_eq!(stats.failed(), 1);
    assert_eq!(stats.dead_lettered(), 1);
    t.delete_streams().await.unwrap();
}

/// Calc workflows `a + 0.5` for `a` in `0..n`, published (none a duplicate).
async fn publish_calc_workflows(t: &NatsTransport, n: u32) -> Vec<ArvoEvent> {
    let inits: Vec<ArvoEvent> = (0..n).map(|i| calc_init(f64::from(i), 0.5)).collect();
    for chunk in inits.chunks(100) {
        for receipt in join_all(chunk.iter().map(|e| t.publish(e))).await {
            assert!(!receipt.unwrap().duplicate);
        }
    }
    inits
}

/// Reads completions from `sub` into `seen` (by subject) until it holds `count`.
async fn completions_until(
    sub: &mut async_nats::Subscriber,
    seen: &mut HashSet<String>,
    count: usize,
    deadline: tokio::time::Instant,
) {
    while seen.len() < count {
        let msg = tokio::time::timeout_at(deadline, sub.next())
            .await
            .unwrap_or_else(|_| panic!("timed out with {} of {count} completed", seen.len()))
            .unwrap();
        let done = ArvoEvent::from_json_slice(&msg.payload).unwrap();
        seen.insert(done.subject().to_owned());
    }
}

/// What the stream kept on `done_to`: exactly one completion per workflow of `inits` (from
/// [`publish_calc_workflows`]), with the right sum.
async fn each_completed_once(t: &NatsTransport, done_to: String, inits: &[ArvoEvent]) {
    let index: HashMap<&str, usize> = inits
        .iter()
        .enumerate()
        .map(|(i, init)| (init.subject(), i))
        .collect();
    let mut completed: HashMap<String, usize> = HashMap::new();
    for done in stored_on(t, done_to).await {
        assert_eq!(done.event_type(), CalcFlow::COMPLETE_TYPE);
        let i = index[done.subject()];
        assert_eq!(done.data()["result"].as_f64(), Some(i as f64 + 0.5));
        *completed.entry(done.subject().to_owned()).or_default() += 1;
    }
    assert_eq!(completed.len(), inits.len(), "every workflow completed");
    assert!(completed.values().all(|&c| c == 1), "none completed twice");
}

/// Drops `memory`'s schema.
async fn drop_schema(memory: &PostgresMemory<CalcRecord>) {
    let client = memory.pool().get().await.unwrap();
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
            memory.schema()
        ))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_connection_to_the_server_loses_no_workflow_and_none_completes_twice() {
    let Some(t) = transport("a_lost_connection").await else {
        return;
    };
    let server = server_url("ARVO_TEST_NATS_URL", "a_lost_connection").unwrap();
    let proxy = Proxy::start(server.trim_start_matches("nats://")).await;
    let proxy_url = format!("nats://{}", proxy.addr);
    // The worker reaches the server through the proxy; the test's client directly.
    let through_proxy = NatsTransport::connect(&proxy_url, t.streams().clone())
        .await
        .unwrap();
    let memory = InMemoryMemory::new();
    let worker = start(
        NatsWorker::builder(through_proxy)
            .handler(Arc::new(calc_resumable(memory.clone())))
            .handler(Arc::new(calc_handler()))
            .in_flight(8)
            .ack_wait(Duration::from_secs(2)),
    );
    let done_to = t.streams().subject("com.bench.client");
    let mut completions = t.client().subscribe(done_to.clone()).await.unwrap();
    let n = 400;
    let inits = publish_calc_workflows(&t, n).await;
    // Cut the worker's connection three times, each once a further quarter has completed (so
    // each cut finds the connection the worker made after the one before).
    let mut seen: HashSet<String> = HashSet::new();
    let mut cuts = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    for quarter in 1..=3 {
        completions_until(
            &mut completions,
            &mut seen,
            quarter * n as usize / 4,
            deadline,
        )
        .await;
        cuts.push(proxy.cut(Duration::from_millis(300)).await);
    }
    completions_until(&mut completions, &mut seen, n as usize, deadline).await;
    assert!(
        cuts.iter().all(|&open| open >= 1),
        "each cut closed the worker's connection: {cuts:?}"
    );
    let stats = worker.shutdown().await;
    each_completed_once(&t, done_to, &inits).await;
    for init in &inits {
        assert_eq!(status(&memory, init.subject()).await, ResumableStatus::Done);
    }
    eprintln!(
        "a lost connection: {n} workflows, 3 cuts; {} of {} events acknowledged by the worker (an \
         acknowledgement the server took but whose confirmation was cut is not counted), {} \
         re-delivered, {} failed runs",
        stats.handled(),
        3 * n,
        stats.redelivered(),
        stats.failed()
    );
    t.delete_streams().await.unwrap();
}

/// A worker serving workflow W (its resumable locking the workflow, with the default lock
/// policy: a few retries within a second, a lease of two minutes) and its calc service, over
/// `memory`.
fn serve_locking_calc(t: &NatsTransport, memory: &InMemoryMemory<CalcRecord>) -> Running {
    let orchestrator = arvo_runtime::resumable::ArvoResumable::builder(
        CalcFlow::orchestrator_contract().clone(),
        memory.clone(),
    )
    .requires_locking(true)
    .handler::<common_resumable::CalcFlowV1_0_0, _>(Arc::new(common_resumable::CalcResumable))
    .build()
    .unwrap();
    start(
        NatsWorker::builder(t.clone())
            .handler(Arc::new(orchestrator))
            .handler(Arc::new(calc_handler())),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_left_by_a_crashed_worker_delays_its_workflow_and_loses_nothing() {
    let Some(t) = transport("a_lease_left_by_a_crashed_worker").await else {
        return;
    };
    let memory = InMemoryMemory::new();
    let worker = serve_locking_calc(&t, &memory);
    let init = calc_init(2.0, 0.5);
    // A worker that crashed mid-step left the workflow's lease behind: it expires in 4 s.
    use arvo_runtime::memory::MachineMemory;
    let left = memory
        .try_lock(init.subject(), Duration::from_secs(4))
        .await
        .unwrap()
        .expect("the lease is free");
    let started = std::time::Instant::now();
    let done = t.resolve(init.clone(), Duration::from_secs(60)).await;
    let waited = started.elapsed();
    let stats = worker.shutdown().await;
    let letters = t.dead_letters(10).await.unwrap();
    let done = done.expect("the workflow completes once the lease expires");
    assert_eq!(done.data()["result"].as_f64(), Some(2.5));
    assert!(letters.is_empty(), "nothing dead-lettered: {letters:?}");
    assert!(
        waited >= Duration::from_secs(3),
        "it waited for the lease: {waited:?}"
    );
    // The init's run waited in place: no delivery failed, none was re-delivered.
    assert!(stats.memory_waits() >= 1);
    assert_eq!((stats.failed(), stats.redelivered()), (0, 0));
    assert_eq!(stats.handled(), 3);
    drop(left);
    t.delete_streams().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_delays_workflows_and_loses_nothing() {
    let Some(t) = transport("a_database_outage").await else {
        return;
    };
    let Some(url) = postgres_url("a_database_outage") else {
        t.delete_streams().await.unwrap();
        return;
    };
    // The workers reach PostgreSQL through a proxy that goes down for 4 s mid-run.
    let proxy = Proxy::start(&postgres_host_port(&url)).await;
    let schema = unique("arvo_outage");
    let memory = PostgresMemory::<CalcRecord>::builder(postgres_url_via(&url, proxy.addr))
        .schema(&schema)
        .pool_size(4)
        .connect_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    memory.migrate().await.unwrap();
    let worker = start(
        NatsWorker::builder(t.clone())
            .handler(Arc::new(calc_resumable(memory.clone())))
            .handler(Arc::new(calc_handler()))
            .in_flight(8),
    );
    let done_to = t.streams().subject("com.bench.client");
    let mut completions = t.client().subscribe(done_to.clone()).await.unwrap();
    let n = 60;
    let inits = publish_calc_workflows(&t, n).await;
    let mut seen: HashSet<String> = HashSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    completions_until(&mut completions, &mut seen, n as usize / 4, deadline).await;
    let open = proxy.cut(Duration::from_secs(4)).await;
    assert!(open >= 1, "the outage closed the memory's connections");
    completions_until(&mut completions, &mut seen, n as usize, deadline).await;
    let stats = worker.shutdown().await;
    each_completed_once(&t, done_to, &inits).await;
    for init in &inits {
        assert_eq!(status(&memory, init.subject()).await, ResumableStatus::Done);
    }
    // The runs that met the outage waited for the memory: no delivery failed or was
    // dead-lettered.
    assert!(stats.memory_waits() >= 1, "some runs met the outage");
    assert_eq!((stats.failed(), stats.dead_lettered()), (0, 0));
    assert!(t.dead_letters(10).await.unwrap().is_empty());
    eprintln!(
        "a database outage of 4 s: {n} workflows completed once each; {} runs waited for the memory",
        stats.memory_waits()
    );
    drop_schema(&memory).await;
    t.delete_streams().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_stopping_hands_back_a_run_that_waits_for_the_memory() {
    let Some(t) = transport("a_worker_stopping_hands_back").await else {
        return;
    };
    use arvo_runtime::memory::MachineMemory;
    let memory = InMemoryMemory::new();
    let serve = || serve_locking_calc(&t, &memory);
    let init = calc_init(1.0, 0.5);
    // Held for a minute: the first worker's run waits for it.
    let held = memory
        .try_lock(init.subject(), Duration::from_secs(60))
        .await
        .unwrap()
        .expect("the lease is free");
    let first = serve();
    let mut completions = t
        .client()
        .subscribe(t.streams().subject("com.bench.client"))
        .await
        .unwrap();
    t.publish(&init).await.unwrap();
    eventually(
        "the run waits for the lease",
        Duration::from_secs(20),
        || {
            let waits = first.stats.memory_waits();
            async move { waits >= 1 }
        },
    )
    .await;
    // A graceful shutdown does not wait for the memory: the run is handed back at once.
    let stopping = std::time::Instant::now();
    let stats = first.shutdown().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "stopped in {:?}",
        stopping.elapsed()
    );
    assert_eq!(
        (stats.handled(), stats.failed(), stats.dead_lettered()),
        (0, 0, 0)
    );
    // The lease is released; the next worker takes the event and completes the workflow.
    assert!(memory.unlock(&held).await.unwrap());
    let second = serve();
    let msg = tokio::time::timeout(Duration::from_secs(30), completions.next())
        .await
        .expect("the workflow completes")
        .unwrap();
    let done = ArvoEvent::from_json_slice(&msg.payload).unwrap();
    assert_eq!(done.data()["result"].as_f64(), Some(1.5));
    let stats = second.shutdown().await;
    assert_eq!(stats.redelivered(), 1, "the handed-back event came again");
    assert!(t.dead_letters(10).await.unwrap().is_empty());
    t.delete_streams().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_no_retry_can_read_is_dead_lettered_without_waiting_for_the_memory() {
    let Some((t, memory)) = nats_and_postgres("a_record_no_retry_can_read", 4).await else {
        return;
    };
    let schema = memory.schema().to_owned();
    // A record this code cannot read (written by an incompatible release, or by hand): every
    // run fails the same way, so waiting for the memory (default 3 min per delivery) would
    // only hold a slot; the deliveries fail at once and the event is dead-lettered.
    let bad = calc_init(1.0, 2.0);
    memory
        .pool()
        .get()
        .await
        .unwrap()
        .execute(
            &format!(
                "INSERT INTO \"{schema}\".machine_state (subject, data) VALUES ($1, '{{\"written_by\": \"another release\"}}')"
            ),
            &[&bad.subject()],
        )
        .await
        .unwrap();
    let worker = start(
        NatsWorker::builder(t.clone())
            .handler(Arc::new(calc_resumable(memory.clone())))
            .handler(Arc::new(calc_handler()))
            .max_deliveries(3)
            .retry(RetryPolicy::new(0, Duration::from_millis(20))),
    );
    let started = std::time::Instant::now();
    t.publish(&bad).await.unwrap();
    let good = t
        .resolve(calc_init(2.0, 0.5), Duration::from_secs(30))
        .await
        .expect("the other workflows go on");
    assert_eq!(good.data()["result"].as_f64(), Some(2.5));
    dead_letters_reach(&t, 1).await;
    let took = started.elapsed();
    let dead = t.dead_letters(10).await.unwrap().remove(0);
    assert_eq!(dead.deliveries, 3);
    assert_eq!(dead.event.as_ref().map(ArvoEvent::id), Some(bad.id()));
    assert!(
        dead.error.contains("READ_MACHINE_MEMORY_FAILURE") && dead.error.contains("(de)serialised"),
        "the error says what failed: {}",
        dead.error
    );
    let stats = worker.shutdown().await;
    assert_eq!(stats.memory_waits(), 0, "no run waited for the memory");
    assert_eq!((stats.failed(), stats.dead_lettered()), (2, 1));
    eprintln!("a record no retry can read: dead-lettered after {took:?}");
    drop_schema(&memory).await;
    t.delete_streams().await.unwrap();
}

/// An `Execution` violation is user code's "stop, dead-letter this" (spec §11): the event goes
/// to the dead-letter stream at its first delivery, the handler is not run again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_violation_is_dead_lettered_at_its_first_delivery() {
    let Some(t) = transport("an_execution_violation").await else {
        return;
    };
    let stop = Arc::new(Stop::default());
    let worker = start(
        NatsWorker::builder(t.clone())
            .handler(stop.clone())
            .max_deliveries(5)
            .retry(RetryPolicy::new(0, Duration::from_millis(20))),
    );
    let event = event_to("com.test.stop", "stopped-1");
    t.publish(&event).await.unwrap();
    dead_letters_reach(&t, 1).await;
    // Time for a re-delivery, had there been one.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stats = worker.shutdown().await;
    let dead = t.dead_letters(10).await.unwrap().remove(0);
    assert_eq!(dead.deliveries, 1);
    assert_eq!(dead.event.as_ref().map(ArvoEvent::id), Some(event.id()));
    assert!(
        dead.error
            .contains("ViolationError<Execution> the order was cancelled"),
        "{}",
        dead.error
    );
    assert_eq!(stop.runs.load(Ordering::SeqCst), 1, "the handler ran once");
    assert_eq!(
        (stats.failed(), stats.redelivered(), stats.dead_lettered()),
        (0, 0, 1)
    );
    t.delete_streams().await.unwrap();
}

/// Fails with a violation that might pass while `broken` is set (a service down); echoes once
/// it is cleared (the service back).
struct Broken {
    broken: Arc<std::sync::atomic::AtomicBool>,
}

impl EventHandler for Broken {
    fn source(&self) -> &str {
        "com.test.broken"
    }
    fn system_error_type(&self) -> &str {
        "sys.com.test.broken.error"
    }
    async fn execute(&self, e: &ArvoEvent, _: ParentContext) -> Result<Vec<ArvoEvent>, Violation> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(Violation::from(CustomViolation::new(
                "Unavailable",
                "the service behind the handler is down",
            )));
        }
        let data = json!({"echo": e.id()});
        Ok(vec![answer(
            "com.test.broken",
            e,
            "evt.test.broken.done",
            e.source(),
            data,
        )?])
    }
}

/// Dead letters are not the end: once the fault is fixed, `replay_dead_letters` puts their
/// events back (at once, within the duplicate window that still holds the first
/// publications), they are handled, and their letters are gone; a letter without an event
/// stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_replayed_once_the_fault_is_fixed() {
    let Some(t) = transport("dead_letters_are_replayed").await else {
        return;
    };
    let broken = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let worker = start(
        NatsWorker::builder(t.clone())
            .handler(Arc::new(Broken {
                broken: broken.clone(),
            }))
            .max_deliveries(1),
    );
    let events: Vec<ArvoEvent> = (0..3)
        .map(|i| event_to("com.test.broken", &format!("broken-{i}")))
        .collect();
    for e in &events {
        t.publish(e).await.unwrap();
    }
    let js = async_nats::jetstream::new(t.client().clone());
    js.publish(
        t.streams().subject("com.test.broken"),
        "not an event".into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    dead_letters_reach(&t, 4).await;
    let letters = t.dead_letters(10).await.unwrap();
    let subject = t.streams().subject("com.test.broken");
    assert!(letters.iter().all(|l| l.subject == subject), "{letters:?}");
    // Nothing is selected: every letter stays.
    let none = t.replay_dead_letters(10, |_| false).await.unwrap();
    assert_eq!((none.replayed, none.kept), (0, 4));
    // The service is back.
    broken.store(false, Ordering::SeqCst);
    let sub = t
        .client()
        .subscribe(t.streams().subject(CLIENT))
        .await
        .unwrap();
    let done = t.replay_dead_letters(10, |_| true).await.unwrap();
    assert_eq!((done.replayed, done.kept), (3, 1));
    let got = replies(sub, 3, Duration::from_secs(30)).await;
    for e in &events {
        assert_eq!(got.get(e.id()), Some(&1), "{got:?}");
    }
    let left = t.dead_letters(10).await.unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].event.is_none());
    assert_eq!(left[0].raw.as_deref(), Some("not an event"));
    let again = t.replay_dead_letters(10, |_| true).await.unwrap();
    assert_eq!((again.replayed, again.kept), (0, 1));
    let stats = worker.shutdown().await;
    assert_eq!((stats.handled(), stats.dead_lettered()), (3, 4));
    t.delete_streams().await.unwrap();
}

/// The worker program replays the dead letters of the handlers it serves at start
/// (`--replay-dead-letters N`), and leaves the others'.
#[cfg(feature = "worker")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_program_replays_the_dead_letters_of_its_handlers_at_start() {
    use arvo_runtime::worker::{WorkerConfig, WorkerProgram};
    let Some(t) = transport("the_worker_program_replays").await else {
        return;
    };
    let broken = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let first = start(
        NatsWorker::builder(t.clone())
            .handler(Arc::new(Broken {
                broken: broken.clone(),
            }))
            .handler(Arc::new(Poison))
            .max_deliveries(1),
    );
    let events: Vec<ArvoEvent> = (0..2)
        .map(|i| event_to("com.test.broken", &format!("broken-{i}")))
        .collect();
    for e in &events {
        t.publish(e).await.unwrap();
    }
    t.publish(&event_to("com.test.poison", "poison-1"))
        .await
        .unwrap();
    dead_letters_reach(&t, 3).await;
    first.shutdown().await;
    broken.store(false, Ordering::SeqCst);
    let sub = t
        .client()
        .subscribe(t.streams().subject(CLIENT))
        .await
        .unwrap();
    let mut config = WorkerConfig::new("replayer");
    config.replay_dead_letters = 10;
    config.serve = Some(vec!["com.test.broken".to_owned()]);
    let (stop, stopped) = oneshot::channel::<()>();
    let program = WorkerProgram::new(config, t.clone())
        .handler(Arc::new(Broken {
            broken: broken.clone(),
        }) as Arc<dyn DynEventHandler>)
        .handler(Arc::new(Poison) as Arc<dyn DynEventHandler>);
    let running = tokio::spawn(program.run_until(async {
        let _ = stopped.await;
    }));
    let got = replies(sub, 2, Duration::from_secs(30)).await;
    for e in &events {
        assert_eq!(got.get(e.id()), Some(&1), "{got:?}");
    }
    let _ = stop.send(());
    let report = running.await.unwrap().unwrap();
    assert_eq!((report.handled, report.dead_lettered), (2, 0));
    // The letter of the handler this program does not serve stays.
    let left = t.dead_letters(10).await.unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].handler, "com.test.poison");
    t.delete_streams().await.unwrap();
}
