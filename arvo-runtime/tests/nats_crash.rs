//! The SIGKILL test over NATS JetStream + PostgreSQL: 3 worker processes (this test binary
//! re-executed as `nats_crash_worker`) serve the calc orchestrator and its service; 2,000 calc
//! workflows are published; one worker is killed with SIGKILL mid-run and a new one started;
//! every workflow completes exactly once, counted by subject from the completions in the
//! stream (none lost, none duplicated). Prints completed, duplicates, redeliveries and time.
//!
//! Needs `ARVO_TEST_NATS_URL` and `ARVO_TEST_POSTGRES_URL` (skipped with a note when unset, a
//! failure when `CI=true`). `ARVO_NATS_CRASH_WORKFLOWS` overrides the number of workflows.
#![cfg(all(feature = "nats", feature = "postgres"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common_backends;
mod common_resumable;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arvo_runtime::broker::RetryPolicy;
use arvo_runtime::event::ArvoEvent;
use arvo_runtime::memory::LockPolicy;
use arvo_runtime::memory::postgres::PostgresMemory;
use arvo_runtime::transport::nats::{NatsStreams, NatsTransport, NatsWorker};
use common_backends::workflows::{CalcRecord, calc_init};
use common_backends::{postgres_url, server_url, stored_on, unique};
use common_resumable::{CalcFlow, calc_handler, calc_resumable};
use futures_util::StreamExt;
use futures_util::future::join_all;

const CLIENT: &str = "com.bench.client";

fn memory(url: &str, schema: &str) -> PostgresMemory<CalcRecord> {
    PostgresMemory::builder(url)
        .schema(schema)
        .pool_size(8)
        // A killed worker's leases block their workflows until they expire.
        .lock_policy(LockPolicy {
            max_retries: 100,
            initial_delay: Duration::from_millis(2),
            backoff_exponent: 1.1,
            ttl: Duration::from_secs(3),
        })
        .build()
        .unwrap()
}

/// The worker process (does nothing in a normal test run): serves until stdin closes, then
/// shuts down gracefully and prints its counters.
#[test]
fn nats_crash_worker() {
    let Ok(stream) = std::env::var("ARVO_NATS_CRASH_STREAM") else {
        return;
    };
    let nats = std::env::var("ARVO_NATS_CRASH_NATS").unwrap();
    let pg = std::env::var("ARVO_NATS_CRASH_PG").unwrap();
    let schema = std::env::var("ARVO_NATS_CRASH_SCHEMA").unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let t = NatsTransport::connect(&nats, NatsStreams::new(stream).unwrap())
            .await
            .unwrap();
        let memory = memory(&pg, &schema);
        let worker = NatsWorker::builder(t)
            .handler(Arc::new(calc_resumable(memory.clone())))
            .handler(Arc::new(calc_handler()))
            .in_flight(16)
            .ack_wait(Duration::from_secs(2))
            .max_deliveries(100)
            .retry(
                RetryPolicy::new(0, Duration::from_millis(100)).max_delay(Duration::from_secs(1)),
            )
            .build()
            .unwrap();
        let stdin_closed = async {
            let _ = tokio::task::spawn_blocking(|| {
                let mut sink = String::new();
                while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {}
            })
            .await;
        };
        println!("NATS_CRASH_READY");
        let stats = worker.run(stdin_closed).await.unwrap();
        println!(
            "NATS_CRASH_STATS handled={} redelivered={} failed={} dead={}",
            stats.handled(),
            stats.redelivered(),
            stats.failed(),
            stats.dead_lettered()
        );
    });
}

fn spawn_worker(env: &[(&str, String)]) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "nats_crash_worker",
        "--exact",
        "--nocapture",
        "--test-threads=1",
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    // Wait until it serves.
    let out = child.stdout.take().unwrap();
    let mut lines = BufReader::new(out).lines();
    loop {
        let line = lines.next().expect("the worker started").unwrap();
        if line.contains("NATS_CRASH_READY") {
            break;
        }
    }
    // Keep reading its stdout on a thread; the stats line comes at exit.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    STDOUTS.with(|s| s.borrow_mut().insert(child.id(), rx));
    child
}

thread_local! {
    static STDOUTS: std::cell::RefCell<HashMap<u32, std::sync::mpsc::Receiver<String>>> =
        std::cell::RefCell::default();
}

/// Closes the worker's stdin (graceful shutdown), waits for it and returns its redeliveries.
fn stop_worker(mut child: Child) -> u64 {
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "a worker exits 0 on graceful shutdown ({status})"
    );
    let rx = STDOUTS
        .with(|s| s.borrow_mut().remove(&child.id()))
        .unwrap();
    let stats = rx
        .iter()
        .find(|l| l.contains("NATS_CRASH_STATS"))
        .expect("the stats line");
    let field = |name: &str| -> u64 {
        stats
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(field("dead"), 0, "nothing dead-lettered: {stats}");
    field("redelivered")
}

#[test]
fn a_killed_worker_loses_no_workflow_and_none_completes_twice_over_nats() {
    let Some(nats) = server_url("ARVO_TEST_NATS_URL", "nats SIGKILL test") else {
        return;
    };
    let Some(pg) = postgres_url("nats SIGKILL test") else {
        return;
    };
    let workflows: usize = std::env::var("ARVO_NATS_CRASH_WORKFLOWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let stream = unique("ARVO_CRASH");
        let schema = unique("arvo_nats_crash");
        let t = NatsTransport::connect(&nats, NatsStreams::new(stream.clone()).unwrap())
            .await
            .unwrap();
        let mem = memory(&pg, &schema);
        mem.migrate().await.unwrap();
        let env = [
            ("ARVO_NATS_CRASH_STREAM", stream.clone()),
            ("ARVO_NATS_CRASH_NATS", nats.clone()),
            ("ARVO_NATS_CRASH_PG", pg.clone()),
            ("ARVO_NATS_CRASH_SCHEMA", schema.clone()),
        ];
        let mut workers: Vec<Child> = (0..3).map(|_| spawn_worker(&env)).collect();
        let mut sub = t
            .client()
            .subscribe(t.streams().subject(CLIENT))
            .await
            .unwrap();
        let started = Instant::now();
        let inits: Vec<ArvoEvent> = (0..workflows).map(|i| calc_init(i as f64, 0.25)).collect();
        let expected: HashMap<String, f64> = inits
            .iter()
            .enumerate()
            .map(|(i, e)| (e.subject().to_owned(), i as f64 + 0.25))
            .collect();
        for chunk in inits.chunks(200) {
            for r in join_all(chunk.iter().map(|e| t.publish(e))).await {
                assert!(!r.unwrap().duplicate);
            }
        }
        // Count completions as they are published; kill a worker a quarter of the way.
        let mut done: HashMap<String, usize> = HashMap::new();
        let mut killed = false;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
        while done.len() < workflows {
            let msg = tokio::time::timeout_at(deadline, sub.next())
                .await
                .unwrap_or_else(|_| {
                    panic!("timed out with {} of {workflows} completed", done.len())
                })
                .unwrap();
            let e = ArvoEvent::from_json_slice(&msg.payload).unwrap();
            *done.entry(e.subject().to_owned()).or_default() += 1;
            if !killed && done.len() >= workflows / 4 {
                let mut victim = workers.remove(0);
                victim.kill().unwrap(); // SIGKILL
                assert!(!victim.wait().unwrap().success());
                STDOUTS.with(|s| s.borrow_mut().remove(&victim.id()));
                eprintln!("killed a worker after {} completions", done.len());
                workers.push(spawn_worker(&env));
                killed = true;
            }
        }
        let elapsed = started.elapsed();
        let redeliveries: u64 = workers.into_iter().map(stop_worker).sum();
        // Count from the stream: what JetStream kept (duplicates suppressed by id).
        let stored = stored_on(&t, t.streams().subject(CLIENT)).await;
        let mut by_subject: HashMap<String, usize> = HashMap::new();
        for e in &stored {
            assert_eq!(e.event_type(), CalcFlow::COMPLETE_TYPE);
            assert_eq!(
                e.data()["result"].as_f64(),
                expected.get(e.subject()).copied(),
                "the right sum"
            );
            *by_subject.entry(e.subject().to_owned()).or_default() += 1;
        }
        let total = stored.len();
        let duplicates = total - by_subject.len();
        eprintln!(
            "nats SIGKILL test: {workflows} workflows over 3 worker processes (one SIGKILLed and \
             replaced); completed {}, duplicates {duplicates}, redeliveries {redeliveries} \
             (survivors' count), time {elapsed:.1?}",
            by_subject.len()
        );
        assert_eq!(by_subject.len(), workflows, "every workflow completed");
        assert_eq!(duplicates, 0, "no workflow completed twice");
        assert!(expected.keys().all(|s| by_subject.contains_key(s)));
        let client = mem.pool().get().await.unwrap();
        client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .await
            .unwrap();
        t.delete_streams().await.unwrap();
    });
}
