//! Scenario B3 of `scenarios.md` across processes: workflow W (the ArvoResumable R, one
//! `com.calc.add` call, completion `{result}`) served by worker processes over NATS JetStream,
//! R's state in PostgreSQL, against a floor in the same run that makes the same raw NATS
//! publish/ack pairs and PostgreSQL round trips by hand.
//!
//! Configurations (`B3N_CONFIGS`, default `1x1,1x16,3x1,3x16`): `WxN` runs `W` worker
//! processes (this bench binary re-executed) with `N` events in flight per handler per worker;
//! the client (this process) keeps `W * N` workflows open, so `1x1` is the scenario's strictly
//! sequential protocol. For each configuration, and for each side, a fresh stream and schema:
//!
//! * `framework`: every worker is a [`NatsWorker`] serving R on [`PostgresMemory`] (no locking,
//!   as B3 and the reference decide) and the calc handler H1; the client publishes each init with
//!   [`NatsTransport::publish`] (awaiting JetStream's acknowledgement), reads the completions
//!   from a subscription on the client's subject, parses each as an [`ArvoEvent`] and checks its
//!   type, its workflow and the sum of the results.
//! * `floor`: every worker pulls from the same durable consumers (same configuration, same
//!   pull requests: as many events as free slots) and, per workflow, makes the framework's
//!   round trips by hand: for the init, a read (nothing) and an insert of the record; for the
//!   answer, a read (parsed as JSON) and a compare-and-swap update, with the memory's own
//!   statements (prepared once per pooled connection); each of the 3 emitted messages published
//!   with `Nats-Msg-Id` and its JetStream acknowledgement awaited, then the input double-acked.
//!   Payloads are the framework's events and records (same sizes), built once in process; the
//!   workflow rides in a header. No event parsing, validation, handler or record (de)serialisation:
//!   the floor is the I/O's cost alone, so framework / floor is a lower bound on efficiency.
//!
//! Per workflow, both sides: 4 JetStream publishes with their acks (init, call, answer,
//! completion), 3 deliveries from pull consumers, 3 double acks, 4 PostgreSQL round trips.
//!
//! Printed per configuration and side: workflows/s, p50/p99 latency of a workflow (init
//! published → completion received), the workers' CPU per workflow (`/proc/<pid>/stat`,
//! measured phase only), then framework / floor, the scaling from 1 to 3 workers, and the
//! Restate figures of `baseline.md` beside ours. The load average is printed with every figure.
//!
//! Knobs: `B3N_WORKFLOWS` (measured workflows per run, default 2,000), `B3N_WARMUP` (default
//! 200), `B3N_PASSES` (default 1; sides alternate their order per pass; medians reported),
//! `B3N_CONFIGS`, `B3N_POOL` (PostgreSQL connections per worker, default 8), `B3N_TIMEOUT_S`
//! (per run, default 300). Needs `ARVO_TEST_NATS_URL` and `ARVO_TEST_POSTGRES_URL`: without
//! them it says so and exits 0. Every run uses, then deletes, its own streams and schema.
//!
//! Run: `ARVO_TEST_NATS_URL=nats://127.0.0.1:4222
//! ARVO_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test
//! cargo bench -p arvo-runtime --bench b3_nats --features nats,postgres`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::hint::black_box;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use arvo_runtime::event::ArvoEvent;
use arvo_runtime::factory::{ArvoOrchestratorEventFactory, EventInput};
use arvo_runtime::handler::ParentContext;
use arvo_runtime::memory::postgres::PostgresMemory;
use arvo_runtime::memory::{InMemoryMemory, MachineMemory};
use arvo_runtime::resumable::ResumableMemoryRecord;
use arvo_runtime::transport::nats::{NatsStreams, NatsTransport, NatsWorker};
use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer};
use deadpool_postgres::tokio_postgres::{self, NoTls};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

#[path = "../tests/common_resumable/mod.rs"]
mod common_resumable;
use common_resumable::{CalcContext, CalcFlow, calc_handler, calc_resumable};

#[path = "common/mod.rs"]
#[allow(dead_code)] // `block_on`, `vm_hwm_kb`: this bench runs on tokio and spans processes
mod common;
use common::env;

type Record = ResumableMemoryRecord<CalcContext>;

const CLIENT: &str = "com.bench.client";
const ORCH: &str = "arvo.orc.bench.calc";
const CALC: &str = "com.calc.add";
/// The floor's header naming the workflow (its Arvo subject: the PostgreSQL key).
const KEY: &str = "B3-Key";
/// The pull requests' expiry: the framework worker's default `fetch_expiry`.
const FETCH_EXPIRY: Duration = Duration::from_secs(1);

fn main() {
    if let Ok(role) = std::env::var("B3N_ROLE") {
        worker_main(&role);
        return;
    }
    let (Ok(nats), Ok(pg)) = (
        std::env::var("ARVO_TEST_NATS_URL"),
        std::env::var("ARVO_TEST_POSTGRES_URL"),
    ) else {
        println!(
            "B3 over NATS + PostgreSQL: skipped, set ARVO_TEST_NATS_URL and ARVO_TEST_POSTGRES_URL \
             (e.g. nats://127.0.0.1:4222 and postgres://postgres@127.0.0.1:5432/test)"
        );
        return;
    };
    let knobs = Knobs {
        nats,
        pg,
        warmup: env("B3N_WARMUP", 200) as usize,
        n: env("B3N_WORKFLOWS", 2_000).max(1) as usize,
        passes: env("B3N_PASSES", 1).max(1) as usize,
        pool: env("B3N_POOL", 8).max(1) as usize,
        timeout: Duration::from_secs(env("B3N_TIMEOUT_S", 300)),
    };
    let configs = configs();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(coordinate(&knobs, &configs));
}

// ---------------------------------------------------------------------------------------------
// Coordinator: the client, the worker processes, the report.

struct Knobs {
    nats: String,
    pg: String,
    warmup: usize,
    n: usize,
    passes: usize,
    pool: usize,
    timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Config {
    workers: usize,
    in_flight: usize,
}

fn configs() -> Vec<Config> {
    let text = std::env::var("B3N_CONFIGS").unwrap_or_else(|_| "1x1,1x16,3x1,3x16".to_owned());
    text.split(',')
        .map(|c| {
            let parsed = c.trim().split_once('x').and_then(|(w, n)| {
                Some(Config {
                    workers: w.parse().ok().filter(|w| *w > 0)?,
                    in_flight: n.parse().ok().filter(|n| *n > 0)?,
                })
            });
            parsed.unwrap_or_else(|| {
                eprintln!(
                    "B3N_CONFIGS: '{c}' is not WORKERSxIN_FLIGHT (e.g. 3x16), both at least 1"
                );
                std::process::exit(2)
            })
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Framework,
    Floor,
}

impl Side {
    fn role(self) -> &'static str {
        match self {
            Side::Framework => "framework",
            Side::Floor => "floor",
        }
    }
}

/// One run's figures.
#[derive(Debug, Clone)]
struct Figures {
    wps: f64,
    p50: Duration,
    p99: Duration,
    /// The workers' CPU time per measured workflow (user + system), µs.
    cpu_us: f64,
    redelivered: u64,
    load: String,
}

/// The inputs of one phase: init events, their JSON, and which workflow a subject is.
struct Batch {
    events: Vec<ArvoEvent>,
    json: Vec<Vec<u8>>,
    index: HashMap<String, usize>,
    expected_sum: f64,
}

fn batch(range: std::ops::Range<usize>) -> Arc<Batch> {
    let factory = ArvoOrchestratorEventFactory::new(CalcFlow::contract().latest()).unwrap();
    let events: Vec<ArvoEvent> = range
        .clone()
        .map(|i| {
            factory
                .init(EventInput::new(
                    CLIENT,
                    json!({"parentSubject$$": null, "a": i, "b": i + 1}),
                ))
                .unwrap()
        })
        .collect();
    let json = events
        .iter()
        .map(|e| e.to_json_string().into_bytes())
        .collect();
    let index = events
        .iter()
        .enumerate()
        .map(|(i, e)| (e.subject().to_owned(), i))
        .collect();
    Arc::new(Batch {
        events,
        json,
        index,
        expected_sum: range.map(|i| (2 * i + 1) as f64).sum(),
    })
}

/// How the client publishes an init and recognises a completion.
enum Client {
    Framework(NatsTransport),
    Floor {
        js: jetstream::Context,
        subject: String,
    },
}

impl Client {
    fn publish(&self, batch: &Arc<Batch>, i: usize) -> BoxFuture<'static, ()> {
        let batch = Arc::clone(batch);
        match self {
            Client::Framework(t) => {
                let t = t.clone();
                Box::pin(async move {
                    let receipt = t.publish(&batch.events[i]).await.unwrap();
                    assert!(!receipt.duplicate, "an init was suppressed as a duplicate");
                })
            }
            Client::Floor { js, subject } => {
                let (js, subject) = (js.clone(), subject.clone());
                Box::pin(async move {
                    let e = &batch.events[i];
                    let ack = js
                        .publish_with_headers(
                            subject,
                            floor_headers(e.id(), e.subject()),
                            batch.json[i].clone().into(),
                        )
                        .await
                        .unwrap()
                        .await
                        .unwrap();
                    assert!(!ack.duplicate);
                })
            }
        }
    }

    /// The workflow a completion belongs to (checked: a completion event of a known workflow).
    fn complete(&self, batch: &Batch, msg: &async_nats::Message, sum: &mut f64) -> usize {
        match self {
            Client::Framework(_) => {
                let e = ArvoEvent::from_json_slice(&msg.payload).unwrap();
                assert_eq!(e.event_type(), CalcFlow::COMPLETE_TYPE);
                *sum += e.data()["result"].as_f64().unwrap();
                *batch
                    .index
                    .get(e.subject())
                    .unwrap_or_else(|| panic!("a completion of an unknown workflow: {e:?}"))
            }
            Client::Floor { .. } => {
                let key = header(msg, KEY);
                *batch
                    .index
                    .get(key)
                    .unwrap_or_else(|| panic!("a floor completion of an unknown workflow {key}"))
            }
        }
    }
}

/// Runs `batch` with `window` workflows open at once; returns the seconds from the first
/// publish to the last completion and every workflow's latency.
async fn drive(
    client: &Client,
    batch: &Arc<Batch>,
    window: usize,
    sub: &mut async_nats::Subscriber,
    timeout: Duration,
) -> (f64, Vec<Duration>) {
    let n = batch.events.len();
    let mut started: Vec<Option<Instant>> = vec![None; n];
    let mut latencies = Vec::with_capacity(n);
    let mut publishes = FuturesUnordered::new();
    let (mut next, mut done, mut sum) = (0usize, 0usize, 0.0f64);
    let deadline = tokio::time::Instant::now() + timeout;
    let start = Instant::now();
    while done < n {
        while next < n && next - done < window {
            started[next] = Some(Instant::now());
            publishes.push(client.publish(batch, next));
            next += 1;
        }
        tokio::select! {
            Some(()) = publishes.next(), if !publishes.is_empty() => {}
            msg = tokio::time::timeout_at(deadline, sub.next()) => {
                let msg = msg
                    .unwrap_or_else(|_| panic!("timed out: {done} of {n} workflows completed"))
                    .expect("the completion subscription is open");
                let i = client.complete(batch, &msg, &mut sum);
                let t = started[i]
                    .take()
                    .unwrap_or_else(|| panic!("workflow {i} completed twice"));
                latencies.push(t.elapsed());
                done += 1;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    while publishes.next().await.is_some() {}
    if matches!(client, Client::Framework(_)) {
        assert_eq!(sum, batch.expected_sum, "the sum of the results");
    }
    (secs, latencies)
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".to_owned())
}

/// User + system CPU time of process `pid`, from `/proc/<pid>/stat` (clock ticks of 10 ms).
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // Fields 14 (utime) and 15 (stime) of proc(5); `after` starts at field 3.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// A worker process and its stdout lines (read on a thread).
struct Worker {
    child: Child,
    lines: mpsc::Receiver<String>,
}

fn spawn_worker(side: Side, knobs: &Knobs, stream: &str, schema: &str, in_flight: usize) -> Worker {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env("B3N_ROLE", side.role())
        .env("B3N_NATS", &knobs.nats)
        .env("B3N_PG", &knobs.pg)
        .env("B3N_STREAM", stream)
        .env("B3N_SCHEMA", schema)
        .env("B3N_IN_FLIGHT", in_flight.to_string())
        .env("B3N_POOL", knobs.pool.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("the worker process started").unwrap();
        if line == "B3N_READY" {
            break;
        }
    }
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    Worker { child, lines: rx }
}

/// Closes the worker's stdin (graceful shutdown), waits for it, checks its counters and returns
/// its re-deliveries.
fn stop_worker(mut w: Worker) -> u64 {
    drop(w.child.stdin.take());
    let status = w.child.wait().unwrap();
    assert!(status.success(), "a worker exits 0 when stopped ({status})");
    let stats = w
        .lines
        .iter()
        .find(|l| l.starts_with("B3N_STATS"))
        .expect("the worker's stats line");
    let field = |name: &str| -> u64 {
        stats
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in '{stats}'"))
    };
    assert_eq!(field("failed"), 0, "no delivery failed: {stats}");
    field("redelivered")
}

async fn run_side(side: Side, config: Config, knobs: &Knobs, pass: usize) -> Figures {
    let stream = unique("B3N");
    let schema = unique("arvo_b3n");
    let transport = NatsTransport::connect(&knobs.nats, NatsStreams::new(stream.clone()).unwrap())
        .await
        .unwrap();
    let memory: PostgresMemory<Record> = PostgresMemory::builder(&knobs.pg)
        .schema(&schema)
        .pool_size(1)
        .build()
        .unwrap();
    memory.migrate().await.unwrap();
    let workers: Vec<Worker> = (0..config.workers)
        .map(|_| spawn_worker(side, knobs, &stream, &schema, config.in_flight))
        .collect();
    let nats = transport.client().clone();
    let mut sub = nats
        .subscribe(transport.streams().subject(CLIENT))
        .await
        .unwrap();
    nats.flush().await.unwrap();
    let client = match side {
        Side::Framework => Client::Framework(transport.clone()),
        Side::Floor => Client::Floor {
            js: jetstream::new(nats.clone()),
            subject: transport.streams().subject(ORCH),
        },
    };
    // Inputs before the clock; fresh indices per run.
    let base = (pass * 2 + usize::from(side == Side::Floor)) * (knobs.warmup + knobs.n);
    let warm = batch(base..base + knobs.warmup);
    let measured = batch(base + knobs.warmup..base + knobs.warmup + knobs.n);
    let window = config.workers * config.in_flight;
    if !warm.events.is_empty() {
        drive(&client, &warm, window, &mut sub, knobs.timeout).await;
    }
    let load_before = loadavg();
    let pids: Vec<u32> = workers.iter().map(|w| w.child.id()).collect();
    let cpu0: Duration = pids.iter().map(|p| cpu_time(*p)).sum();
    let (secs, mut latencies) = drive(&client, &measured, window, &mut sub, knobs.timeout).await;
    let cpu1: Duration = pids.iter().map(|p| cpu_time(*p)).sum();
    let load = format!("{load_before} -> {}", loadavg());
    let redelivered = workers.into_iter().map(stop_worker).sum();
    drop(sub);
    transport.delete_streams().await.unwrap();
    memory
        .pool()
        .get()
        .await
        .unwrap()
        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .await
        .unwrap();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    Figures {
        wps: knobs.n as f64 / secs,
        p50: pct(0.50),
        p99: pct(0.99),
        cpu_us: (cpu1 - cpu0).as_secs_f64() * 1e6 / knobs.n as f64,
        redelivered,
        load,
    }
}

fn median(mut runs: Vec<Figures>) -> Figures {
    runs.sort_by(|a, b| a.wps.total_cmp(&b.wps));
    runs.swap_remove(runs.len() / 2)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

async fn coordinate(knobs: &Knobs, configs: &[Config]) {
    println!(
        "B3 over NATS JetStream + PostgreSQL: {} workflows after {} warm-up per run, {} pass(es), \
         configurations {}; load average at start {}",
        knobs.n,
        knobs.warmup,
        knobs.passes,
        configs
            .iter()
            .map(|c| format!("{}x{}", c.workers, c.in_flight))
            .collect::<Vec<_>>()
            .join(","),
        loadavg()
    );
    let mut results: Vec<(Config, Vec<Figures>, Vec<Figures>)> = configs
        .iter()
        .map(|c| (*c, Vec::new(), Vec::new()))
        .collect();
    for pass in 0..knobs.passes {
        for (config, fw, fl) in &mut results {
            let order = if pass % 2 == 0 {
                [Side::Framework, Side::Floor]
            } else {
                [Side::Floor, Side::Framework]
            };
            for side in order {
                let f = run_side(side, *config, knobs, pass).await;
                println!(
                    "  pass {pass} {}x{} {:<9} {:>7.0} workflows/s  p50 {:>6.2} ms  p99 {:>6.2} ms  \
                     workers' CPU {:>6.0} µs/workflow  redelivered {}  load {}",
                    config.workers,
                    config.in_flight,
                    side.role(),
                    f.wps,
                    ms(f.p50),
                    ms(f.p99),
                    f.cpu_us,
                    f.redelivered,
                    f.load
                );
                match side {
                    Side::Framework => fw.push(f),
                    Side::Floor => fl.push(f),
                }
            }
        }
    }
    println!();
    println!(
        "| workers x in flight | framework workflows/s | p50 / p99 ms | CPU µs/wf | floor workflows/s | p50 / p99 ms | CPU µs/wf | framework / floor | load (1/5/15 min) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---|");
    let mut medians: Vec<(Config, Figures, Figures)> = Vec::new();
    for (config, fw, fl) in results {
        let (fw, fl) = (median(fw), median(fl));
        println!(
            "| {} x {} | {:.0} | {:.2} / {:.2} | {:.0} | {:.0} | {:.2} / {:.2} | {:.0} | {:.2} | {} |",
            config.workers,
            config.in_flight,
            fw.wps,
            ms(fw.p50),
            ms(fw.p99),
            fw.cpu_us,
            fl.wps,
            ms(fl.p50),
            ms(fl.p99),
            fl.cpu_us,
            fw.wps / fl.wps,
            fw.load
        );
        medians.push((config, fw, fl));
    }
    println!();
    let find = |w: usize, n: usize| {
        medians
            .iter()
            .find(|(c, _, _)| c.workers == w && c.in_flight == n)
    };
    for n in [1, 16] {
        if let (Some((_, fw1, fl1)), Some((_, fw3, fl3))) = (find(1, n), find(3, n)) {
            println!(
                "scaling 1 -> 3 workers at {n} in flight per worker: framework {:.2}x, floor {:.2}x (2 cores)",
                fw3.wps / fw1.wps,
                fl3.wps / fl1.wps
            );
        }
    }
    // baseline.md: Restate 1.7.12, one journaled service call per workflow, medians of 3 runs.
    for (n, restate, p50) in [(1, 88.0, 10.3), (16, 301.0, 50.5)] {
        if let Some((_, fw, _)) = find(1, n) {
            println!(
                "Restate (baseline.md) at {n} in flight: {restate:.0} workflows/s, p50 {p50} ms; \
                 framework 1 x {n}: {:.0} workflows/s ({:.1}x), p50 {:.2} ms",
                fw.wps,
                fw.wps / restate,
                ms(fw.p50)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Worker processes.

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("the worker process needs {name}"))
}

fn worker_main(role: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let stdin_closed = async {
            let _ = tokio::task::spawn_blocking(|| {
                let mut sink = String::new();
                while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {
                    sink.clear();
                }
            })
            .await;
        };
        let in_flight = var("B3N_IN_FLIGHT").parse().unwrap();
        let pool = var("B3N_POOL").parse().unwrap();
        match role {
            "framework" => framework_worker(in_flight, pool, stdin_closed).await,
            "floor" => floor_worker(in_flight, pool, stdin_closed).await,
            other => panic!("B3N_ROLE: unknown role '{other}'"),
        }
    });
}

/// The user's worker: R on PostgreSQL and H1 in one [`NatsWorker`].
async fn framework_worker(in_flight: usize, pool: usize, stop: impl Future<Output = ()> + Send) {
    let transport = NatsTransport::connect(
        &var("B3N_NATS"),
        NatsStreams::new(var("B3N_STREAM")).unwrap(),
    )
    .await
    .unwrap();
    let memory: PostgresMemory<Record> = PostgresMemory::builder(var("B3N_PG"))
        .schema(var("B3N_SCHEMA"))
        .pool_size(pool)
        .build()
        .unwrap();
    let worker = NatsWorker::builder(transport)
        .handler(Arc::new(calc_resumable(memory)))
        .handler(Arc::new(calc_handler()))
        .in_flight(in_flight)
        .build()
        .unwrap();
    println!("B3N_READY");
    let stats = worker.run(stop).await.unwrap();
    println!(
        "B3N_STATS handled={} redelivered={} failed={}",
        stats.handled(),
        stats.redelivered(),
        stats.failed()
    );
}

/// What the floor publishes and writes: the framework's events and records for one workflow,
/// made once in process (same sizes as the framework's).
struct Templates {
    call: Vec<u8>,
    answer: Vec<u8>,
    completion: Vec<u8>,
    active_record: String,
    done_record: String,
}

async fn templates() -> Templates {
    let memory = InMemoryMemory::<Record>::new();
    let resumable = calc_resumable(memory.clone());
    let handler = calc_handler();
    let init = batch(0..1).events[0].clone();
    let record = |v: Record| serde_json::to_string(&v).unwrap();
    let calls = resumable
        .execute(&init, ParentContext::Event)
        .await
        .unwrap();
    let active_record = record(memory.read(init.subject()).await.unwrap().unwrap().value);
    let answers = handler
        .execute(&calls[0], ParentContext::Event)
        .await
        .unwrap();
    let done = resumable
        .execute(&answers[0], ParentContext::Event)
        .await
        .unwrap();
    let done_record = record(memory.read(init.subject()).await.unwrap().unwrap().value);
    assert_eq!((calls.len(), answers.len(), done.len()), (1, 1, 1));
    Templates {
        call: calls[0].to_json_string().into_bytes(),
        answer: answers[0].to_json_string().into_bytes(),
        completion: done[0].to_json_string().into_bytes(),
        active_record,
        done_record,
    }
}

/// The headers the framework sends (`Nats-Msg-Id`, `Content-Type`) and the floor's workflow key.
fn floor_headers(id: &str, key: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Msg-Id", id);
    headers.insert("Content-Type", "application/cloudevents+json");
    headers.insert(KEY, key);
    headers
}

fn header<'m>(msg: &'m async_nats::Message, name: &str) -> &'m str {
    msg.headers
        .as_ref()
        .and_then(|h| h.get(name))
        .map(|v| v.as_str())
        .unwrap_or_else(|| panic!("a floor message without {name}"))
}

/// The floor worker's shared state.
struct Floor {
    js: jetstream::Context,
    pool: Pool,
    templates: Templates,
    call_subject: String,
    answer_subject: String,
    completion_subject: String,
    read: String,
    insert: String,
    update: String,
    handled: AtomicU64,
}

impl Floor {
    /// Publishes `payload` with a fresh `Nats-Msg-Id` and awaits JetStream's acknowledgement.
    async fn publish(&self, subject: &str, key: &str, payload: &[u8]) {
        let id = uuid::Uuid::new_v4().to_string();
        self.js
            .publish_with_headers(
                subject.to_owned(),
                floor_headers(&id, key),
                payload.to_vec().into(),
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }

    /// One statement on a pooled connection, prepared once per connection (as the memory does).
    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Vec<tokio_postgres::Row> {
        let client = self.pool.get().await.unwrap();
        let stmt = client.prepare_cached(sql).await.unwrap();
        client.query(&stmt, params).await.unwrap()
    }

    /// The orchestrator's delivery: read; init -> insert + call; answer -> update + completion.
    async fn orchestrate(&self, msg: &jetstream::Message) {
        let key = header(msg, KEY);
        let (parent, finished): (Option<&str>, bool) = (None, false);
        let rows = self.query(&self.read, &[&key]).await;
        match rows.first() {
            None => {
                let rows = self
                    .query(
                        &self.insert,
                        &[&key, &self.templates.active_record, &parent, &finished],
                    )
                    .await;
                assert_eq!(rows.len(), 1, "the insert wrote");
                self.publish(&self.call_subject, key, &self.templates.call)
                    .await;
            }
            Some(row) => {
                let (version, data): (i64, &str) = (row.get(0), row.get(1));
                black_box(serde_json::from_str::<Value>(data).unwrap());
                let rows = self
                    .query(
                        &self.update,
                        &[
                            &key,
                            &self.templates.done_record,
                            &parent,
                            &finished,
                            &version,
                        ],
                    )
                    .await;
                assert_eq!(rows.len(), 1, "the compare-and-swap update wrote");
                self.publish(&self.completion_subject, key, &self.templates.completion)
                    .await;
            }
        }
    }

    /// The calc handler's delivery: the answer.
    async fn calc(&self, msg: &jetstream::Message) {
        let key = header(msg, KEY);
        self.publish(&self.answer_subject, key, &self.templates.answer)
            .await;
    }
}

async fn floor_worker(in_flight: usize, pool: usize, stop: impl Future<Output = ()> + Send) {
    let templates = templates().await;
    let streams = NatsStreams::new(var("B3N_STREAM")).unwrap();
    let nats = async_nats::connect(var("B3N_NATS")).await.unwrap();
    let js = jetstream::new(nats);
    let stream = js.get_stream_no_info(streams.name()).await.unwrap();
    // The framework's consumers: same names, filters and acknowledgement settings.
    let mut consumers = Vec::new();
    for source in [ORCH, CALC] {
        let name = NatsStreams::consumer_name(source);
        let config = consumer::pull::Config {
            durable_name: Some(name.clone()),
            filter_subject: streams.subject(source),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: Duration::from_secs(30),
            max_deliver: -1,
            max_ack_pending: -1,
            ..Default::default()
        };
        consumers.push((
            source,
            stream.get_or_create_consumer(&name, config).await.unwrap(),
        ));
    }
    let pg = tokio_postgres::Config::from_str(&var("B3N_PG")).unwrap();
    let manager = Manager::from_config(
        pg,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let pool = Pool::builder(manager)
        .max_size(pool)
        .runtime(Runtime::Tokio1)
        .build()
        .unwrap();
    let s = format!("\"{}\"", var("B3N_SCHEMA"));
    // The memory's unfenced statements (`memory::postgres`, no lease: B3 does not lock).
    let floor = Arc::new(Floor {
        js,
        pool,
        templates,
        call_subject: streams.subject(CALC),
        answer_subject: streams.subject(ORCH),
        completion_subject: streams.subject(CLIENT),
        read: format!("SELECT version, data::text FROM {s}.machine_state WHERE subject = $1"),
        insert: format!(
            "INSERT INTO {s}.machine_state (subject, data, parent_subject, finished_at) \
             VALUES ($1, $2::text::json, $3::text, CASE WHEN $4::bool THEN now() END) \
             ON CONFLICT (subject_key) DO NOTHING RETURNING version"
        ),
        update: format!(
            "UPDATE {s}.machine_state SET data = $2::text::json, \
             version = DEFAULT, parent_subject = COALESCE($3::text, parent_subject), \
             finished_at = CASE WHEN $4::bool THEN COALESCE(finished_at, now()) END, \
             updated_at = now() WHERE subject = $1 AND version = $5::bigint RETURNING version"
        ),
        handled: AtomicU64::new(0),
    });
    println!("B3N_READY");
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut loops = JoinSet::new();
    for (source, consumer) in consumers {
        loops.spawn(floor_serve(
            Arc::clone(&floor),
            source,
            consumer,
            in_flight,
            stop_rx.clone(),
        ));
    }
    stop.await;
    let _ = stop_tx.send(true);
    while loops.join_next().await.is_some() {}
    println!(
        "B3N_STATS handled={} redelivered=0 failed=0",
        floor.handled.load(Ordering::Relaxed)
    );
}

/// The floor's pull loop: as many events as free slots per pull request, one task each.
async fn floor_serve(
    floor: Arc<Floor>,
    source: &'static str,
    consumer: consumer::Consumer<consumer::pull::Config>,
    in_flight: usize,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(in_flight));
    let mut tasks = JoinSet::new();
    loop {
        if *stop.borrow() {
            break;
        }
        while tasks.try_join_next().is_some() {}
        let first = tokio::select! {
            p = Arc::clone(&slots).acquire_owned() => p.unwrap(),
            _ = stop.changed() => break,
        };
        let mut permits: Vec<OwnedSemaphorePermit> = vec![first];
        while let Ok(p) = Arc::clone(&slots).try_acquire_owned() {
            permits.push(p);
        }
        let mut batch = consumer
            .batch()
            .max_messages(permits.len())
            .expires(FETCH_EXPIRY)
            .messages()
            .await
            .unwrap();
        while let Some(msg) = batch.next().await {
            let Ok(msg) = msg else { break };
            let permit = permits.pop().expect("no more events than requested");
            let floor = Arc::clone(&floor);
            tasks.spawn(async move {
                let _permit = permit;
                if source == ORCH {
                    floor.orchestrate(&msg).await;
                } else {
                    floor.calc(&msg).await;
                }
                msg.double_ack().await.unwrap();
                floor.handled.fetch_add(1, Ordering::Relaxed);
            });
        }
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
}
