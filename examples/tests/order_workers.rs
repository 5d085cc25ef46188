//! The order workflow across processes over NATS JetStream + PostgreSQL: `order-worker`
//! processes (the two workflows in one, each service in its own, inventory in two) and an
//! `order-client` placing orders; every workflow completes exactly once, as expected; on
//! SIGTERM every worker finishes, exits 0 and leaves nothing un-acknowledged. And a worker
//! absorbing a burst of 10,000 events with bounded memory (its peak RSS is printed).
//!
//! Needs `ARVO_TEST_NATS_URL` and `ARVO_TEST_POSTGRES_URL`: without them a test says why and
//! passes, unless `CI=true`, where it fails. Each test has its own stream and schema.
//! `ARVO_ORDER_WORKERS_ORDERS` overrides the number of orders (default 90),
//! `ARVO_ORDER_WORKERS_BURST` the size of the burst (default 10,000).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use arvo_example_contracts::order::{
    InventoryReserve, InventoryReserveV1_0_0, OrderProcess, OrderStatus, PaymentCharge,
    PaymentFlow as PaymentContract, ShippingSchedule,
};
use arvo_examples::order::{CHECKOUT, OrderContext, client_order};
use arvo_runtime::event::ArvoEvent;
use arvo_runtime::factory::{ArvoEventFactory, EventInput};
use arvo_runtime::memory::postgres::PostgresMemory;
use arvo_runtime::resumable::ResumableMemoryRecord;
use arvo_runtime::transport::nats::{NatsStreams, NatsTransport};
use arvo_runtime::typed::ContractVersion as _;
use futures_util::StreamExt as _;
use futures_util::future::join_all;

const WORKER: &str = env!("CARGO_BIN_EXE_order-worker");
const CLIENT: &str = env!("CARGO_BIN_EXE_order-client");

/// The server URL in `var`, or `None` (after saying why) when it is unset outside CI.
fn server_url(var: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{test}: {var} is not set, and CI=true: backend tests must run in CI");
            }
            eprintln!("{test}: skipped, {var} is not set (`.ci/run` sets it)");
            None
        }
    }
}

fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}_{}", &id[..8])
}

fn env_number(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One `order-worker` process, its stdout read on a thread.
struct Worker {
    child: Child,
    lines: Receiver<String>,
    serves: String,
}

/// Starts `order-worker --serve serves` and waits for its health line.
fn spawn_worker(env: &[(&str, String)], serves: &str, extra: &[&str]) -> Worker {
    let mut child = Command::new(WORKER)
        .args(["--serve", serves])
        .args(extra)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("ARVO_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let (tx, lines) = channel();
    let out = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.starts_with("arvo worker ready:") => {
                assert!(line.contains(&format!("handlers={serves}")), "{line}");
                for source in serves.split(',') {
                    let consumer = NatsStreams::consumer_name(source);
                    assert!(line.contains(&consumer), "{line}");
                }
                break;
            }
            Ok(_) => {}
            Err(e) => {
                let _ = child.kill();
                panic!("order-worker --serve {serves} printed no health line: {e:?}");
            }
        }
    }
    Worker {
        child,
        lines,
        serves: serves.to_owned(),
    }
}

/// Sends SIGTERM, waits (at most 60 s) for exit 0, and returns the counters of the worker's
/// last line (`arvo worker stopped: handled=.. ...`).
fn stop_worker(mut w: Worker) -> HashMap<String, u64> {
    let pid = w.child.id().to_string();
    let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(sent.success(), "kill -TERM {pid}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = w.child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = w.child.kill();
            panic!(
                "order-worker --serve {} did not stop within 60 s of SIGTERM",
                w.serves
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        status.success(),
        "order-worker --serve {} exits 0 on SIGTERM ({status})",
        w.serves
    );
    let report = loop {
        match w.lines.recv_timeout(Duration::from_secs(5)) {
            Ok(line) if line.starts_with("arvo worker stopped:") => break line,
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                panic!("order-worker --serve {} printed no report", w.serves)
            }
        }
    };
    eprintln!("  {} -> {report}", w.serves);
    report
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// How many messages the stream holds (all subjects), and the events on `to`'s subject (read,
/// and so removed, by an ephemeral consumer: the stream has work-queue retention).
async fn stream_contents(t: &NatsTransport, to: &str) -> (u64, Vec<ArvoEvent>) {
    let js = async_nats::jetstream::new(t.client().clone());
    let mut stream = js.get_stream(t.streams().name()).await.unwrap();
    let total = stream.info().await.unwrap().state.messages;
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            filter_subject: t.streams().subject(to),
            ack_policy: async_nats::jetstream::consumer::AckPolicy::Explicit,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut out = Vec::new();
    loop {
        let mut batch = consumer
            .fetch()
            .max_messages(500)
            .expires(Duration::from_millis(500))
            .messages()
            .await
            .unwrap();
        let mut got = 0;
        while let Some(msg) = batch.next().await {
            let msg = msg.unwrap();
            out.push(ArvoEvent::from_json_slice(&msg.payload).unwrap());
            msg.ack().await.unwrap();
            got += 1;
        }
        if got == 0 {
            return (total, out);
        }
    }
}

async fn drop_schema(pg: &str, schema: &str) {
    let memory = PostgresMemory::<ResumableMemoryRecord<OrderContext>>::builder(pg)
        .schema(schema)
        .build()
        .unwrap();
    memory
        .pool()
        .get()
        .await
        .unwrap()
        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .await
        .unwrap();
}

#[test]
fn the_order_workflow_runs_across_worker_processes() {
    const TEST: &str = "order workflow across processes";
    let Some(nats) = server_url("ARVO_TEST_NATS_URL", TEST) else {
        return;
    };
    let Some(pg) = server_url("ARVO_TEST_POSTGRES_URL", TEST) else {
        return;
    };
    let orders = env_number("ARVO_ORDER_WORKERS_ORDERS", 90);
    let stream = unique("ORDERS");
    let schema = unique("arvo_order_workers");
    let env = [
        ("ARVO_NATS_URL", nats.clone()),
        ("ARVO_POSTGRES_URL", pg.clone()),
        ("ARVO_STREAM", stream.clone()),
        ("ARVO_POSTGRES_SCHEMA", schema.clone()),
    ];
    let flows = format!("{},{}", OrderProcess::INIT_TYPE, PaymentContract::INIT_TYPE);
    let workers = vec![
        spawn_worker(&env, &flows, &[]),
        spawn_worker(&env, InventoryReserve::TYPE, &["--in-flight", "4"]),
        spawn_worker(&env, PaymentCharge::TYPE, &[]),
        spawn_worker(&env, ShippingSchedule::TYPE, &[]),
    ];
    // A second inventory worker shares the consumer, and is stopped (SIGTERM) mid-run: it
    // finishes what it holds, acknowledges it, and exits 0; the other takes the rest.
    let leaving = spawn_worker(&env, InventoryReserve::TYPE, &["--in-flight", "4"]);

    let started = Instant::now();
    let client = Command::new(CLIENT)
        .args([
            "--orders",
            &orders.to_string(),
            "--timeout",
            "180",
            "--show",
            "3",
        ])
        .env("ARVO_NATS_URL", &nats)
        .env("ARVO_STREAM", &stream)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let left_early = stop_worker(leaving);
    let out = client.wait_with_output().unwrap();
    let client = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("{client}");
    assert!(out.status.success(), "order-client failed:\n{client}");
    let summary = client
        .lines()
        .find(|l| l.starts_with("order-client: placed="))
        .expect("the client's summary");
    for part in [
        format!("placed={orders} "),
        format!("completed={orders} "),
        "missing=0 ".to_owned(),
        "unexpected=0 ".to_owned(),
        "duplicates=0 ".to_owned(),
        "all as expected".to_owned(),
    ] {
        assert!(summary.contains(&part), "{part:?} in {summary}");
    }
    let elapsed = started.elapsed();

    // Graceful shutdown: every worker exits 0 and reports what it did.
    let mut reports: Vec<(String, HashMap<String, u64>)> = workers
        .into_iter()
        .map(|w| {
            let serves = w.serves.clone();
            (serves, stop_worker(w))
        })
        .collect();
    reports.push((InventoryReserve::TYPE.to_owned(), left_early));
    let handled = |serves: &str| -> u64 {
        reports
            .iter()
            .filter(|(s, _)| s == serves)
            .map(|(_, r)| r["handled"])
            .sum()
    };
    for (serves, r) in &reports {
        assert_eq!(r["dead_lettered"], 0, "{serves}: nothing dead-lettered");
        assert_eq!(r["failed"], 0, "{serves}: no failed delivery");
        assert_eq!(r["redelivered"], 0, "{serves}: no re-delivery");
    }
    // Each service handled exactly the requests the orders make.
    let statuses: Vec<OrderStatus> = (0..orders).map(|i| client_order("x", i).1).collect();
    let count = |f: &dyn Fn(&OrderStatus) -> bool| statuses.iter().filter(|s| f(s)).count() as u64;
    assert_eq!(handled(InventoryReserve::TYPE), orders as u64);
    assert_eq!(
        handled(PaymentCharge::TYPE),
        count(&|s| *s != OrderStatus::Rejected)
    );
    assert_eq!(
        handled(ShippingSchedule::TYPE),
        count(&|s| *s == OrderStatus::Completed)
    );
    let inventory: Vec<u64> = reports
        .iter()
        .filter(|(s, _)| s == InventoryReserve::TYPE)
        .map(|(_, r)| r["handled"])
        .collect();
    eprintln!(
        "inventory events handled by its two workers (the second stopped after 1 s): {inventory:?}"
    );

    runtime().block_on(async {
        let t = NatsTransport::connect(&nats, NatsStreams::new(stream.clone()).unwrap())
            .await
            .unwrap();
        // Nothing left un-acknowledged or waiting on any handler's consumer.
        for source in [
            OrderProcess::INIT_TYPE,
            PaymentContract::INIT_TYPE,
            InventoryReserve::TYPE,
            PaymentCharge::TYPE,
            ShippingSchedule::TYPE,
        ] {
            let q = t.queue_stats(source).await.unwrap();
            assert_eq!(
                (q.pending, q.ack_pending, q.dead_lettered),
                (0, 0, 0),
                "{source}: {q:?}"
            );
        }
        // Work-queue retention: what every handler acknowledged is gone; what is left is the
        // completions, addressed to the checkout, which no worker serves: one per order.
        let (total, left) = stream_contents(&t, CHECKOUT).await;
        assert_eq!(total, orders as u64, "only the completions are left in the stream");
        let mut by_subject: HashMap<&str, usize> = HashMap::new();
        for e in &left {
            assert_eq!(e.event_type(), OrderProcess::COMPLETE_TYPE, "{e:?}");
            assert_eq!(e.to(), Some(CHECKOUT));
            *by_subject.entry(e.subject()).or_default() += 1;
        }
        assert_eq!(left.len(), orders, "one completion per order in the stream");
        assert_eq!(by_subject.len(), orders, "no workflow completed twice");
        assert!(t.dead_letters(10).await.unwrap().is_empty());
        eprintln!(
            "{TEST}: {orders} orders over 5 worker processes (one stopped mid-run): completed {}, duplicates {}, \
             time {elapsed:.2?}",
            by_subject.len(),
            left.len() - by_subject.len()
        );
        t.delete_streams().await.unwrap();
        drop_schema(&pg, &schema).await;
    });
}

#[test]
fn a_worker_absorbs_a_burst_of_10000_events_in_bounded_memory() {
    const TEST: &str = "worker memory under a burst";
    let Some(nats) = server_url("ARVO_TEST_NATS_URL", TEST) else {
        return;
    };
    let burst = env_number("ARVO_ORDER_WORKERS_BURST", 10_000);
    let stream = unique("BURST");
    let env = [
        ("ARVO_NATS_URL", nats.clone()),
        ("ARVO_STREAM", stream.clone()),
    ];
    let rt = runtime();
    let t = rt.block_on(async {
        NatsTransport::connect(&nats, NatsStreams::new(stream.clone()).unwrap())
            .await
            .unwrap()
    });
    // The same worker, idle: its peak memory without a backlog.
    let idle = spawn_worker(&env, InventoryReserve::TYPE, &["--in-flight", "16"]);
    std::thread::sleep(Duration::from_millis(500));
    let idle = stop_worker(idle);
    assert_eq!(idle["handled"], 0);

    // The burst waits in the stream before the worker starts.
    let started = Instant::now();
    rt.block_on(async {
        let factory = ArvoEventFactory::new(InventoryReserveV1_0_0::versioned());
        let events: Vec<ArvoEvent> = (0..burst)
            .map(|i| {
                factory
                    .accepts(EventInput::new(
                        "com.test.burst",
                        serde_json::json!({
                            "order_id": format!("B-{i}"),
                            "items": [{"sku": "MOUSE-1", "quantity": 1, "unit_price_cents": 2500}],
                        }),
                    ))
                    .unwrap()
            })
            .collect();
        for chunk in events.chunks(500) {
            for r in join_all(chunk.iter().map(|e| t.publish(e))).await {
                r.unwrap();
            }
        }
        let q = t.queue_stats(InventoryReserve::TYPE).await.unwrap();
        assert_eq!(q.pending, burst as u64, "the backlog is on the server");
    });
    let published = started.elapsed();
    let worker = spawn_worker(&env, InventoryReserve::TYPE, &["--in-flight", "16"]);
    let absorbing = Instant::now();
    rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let q = t.queue_stats(InventoryReserve::TYPE).await.unwrap();
            if q.pending == 0 && q.ack_pending == 0 {
                break;
            }
            assert!(q.ack_pending <= 16, "in flight is bounded: {q:?}");
            assert!(
                Instant::now() < deadline,
                "the burst was not absorbed: {q:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let absorbed = absorbing.elapsed();
    let report = stop_worker(worker);
    assert_eq!(report["handled"], burst as u64);
    assert_eq!(report["published"], burst as u64);
    let (idle_kib, burst_kib) = (idle["peak_rss_kib"], report["peak_rss_kib"]);
    eprintln!(
        "{TEST}: {burst} events published in {published:.2?}, absorbed by one worker \
         (in_flight 16) in {absorbed:.2?}; peak RSS (VmHWM) idle {idle_kib} KiB, after the \
         burst {burst_kib} KiB (+{} KiB)",
        burst_kib.saturating_sub(idle_kib)
    );
    // Bounded: a few MiB over the idle worker, whatever the backlog (the events it holds at
    // once are at most in_flight).
    assert!(
        burst_kib < idle_kib + 16 * 1024,
        "peak RSS {burst_kib} KiB vs {idle_kib} KiB idle"
    );
    rt.block_on(async { t.delete_streams().await.unwrap() });
}
