//! Scenario B3 of `scenarios.md` with the PostgreSQL memory: workflow W (the ArvoResumable R, one
//! `com.calc.add` call, completion `{result}`), the calc handler H1 and a client, routed in
//! process by `to`, with R's state in PostgreSQL, against a floor in the same run that makes the
//! same PostgreSQL round trips by hand.
//!
//! * `framework`: `ArvoResumable::execute` on `PostgresMemory` (no locking, as B3 and the
//!   reference decide) and `ArvoEventHandler::execute`, events routed by `to` through a queue.
//!   Per workflow: 4 round trips (read + insert for the init, read + compare-and-swap update for
//!   the answer), each a prepared statement on a pooled connection.
//! * `floor`: the 4 round trips written by hand with tokio-postgres on one connection, prepared
//!   statements, the same table, the same record JSON (the records the framework wrote in the
//!   warm-up, read back), parsed into `serde_json::Value` on read. No events, no validation: the
//!   floor is the database's cost alone, so the ratio is a lower bound on the framework's
//!   efficiency.
//!
//! Protocol: `B3P_WARMUP` (default 100) warm-up workflows through both, then `B3P_PASSES`
//! (default 3) passes of `B3P_WORKFLOWS` (default 1,000) in alternating order, each on emptied
//! tables; strictly one workflow at a time; medians reported. Every framework workflow is
//! checked (one completion to the client, its type, the sum). Needs `ARVO_TEST_POSTGRES_URL`
//! (default `postgres://postgres@127.0.0.1:5432/test`); uses, then drops, its own schema.
//!
//! Run: `cargo bench -p arvo-runtime --bench b3_postgres --features postgres`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::VecDeque;
use std::hint::black_box;
use std::time::Instant;

use arvo_runtime::event::ArvoEvent;
use arvo_runtime::factory::{ArvoOrchestratorEventFactory, EventInput};
use arvo_runtime::handler::ParentContext;
use arvo_runtime::memory::postgres::PostgresMemory;
use arvo_runtime::resumable::ResumableMemoryRecord;
use deadpool_postgres::tokio_postgres::{self, NoTls};
use serde_json::{Value, json};

#[path = "../tests/common_resumable/mod.rs"]
mod common_resumable;
use common_resumable::{CalcContext, CalcFlow, calc_handler, calc_resumable};

#[path = "common/mod.rs"]
#[allow(dead_code)] // `block_on`: this bench runs on a tokio runtime (PostgreSQL needs its I/O)
mod common;
use common::env;

type Memory = PostgresMemory<ResumableMemoryRecord<CalcContext>>;

fn inputs(range: std::ops::Range<u64>) -> (Vec<ArvoEvent>, f64) {
    let factory = ArvoOrchestratorEventFactory::new(CalcFlow::contract().latest()).unwrap();
    let events = range
        .clone()
        .map(|i| {
            factory
                .init(EventInput::new(
                    "com.bench.client",
                    json!({"parentSubject$$": null, "a": i, "b": i + 1}),
                ))
                .unwrap()
        })
        .collect();
    (events, range.map(|i| (2 * i + 1) as f64).sum())
}

async fn framework_pass(memory: &Memory, inits: &[ArvoEvent], expected: f64) -> f64 {
    let resumable = calc_resumable(memory.clone());
    assert!(!resumable.requires_locking());
    let h1 = calc_handler();
    let mut queue: VecDeque<ArvoEvent> = VecDeque::with_capacity(4);
    let mut sum = 0.0;
    let mut completions = 0usize;
    let start = Instant::now();
    for init in inits {
        let mut out = resumable.execute(init, ParentContext::Event).await.unwrap();
        queue.extend(out.drain(..));
        while let Some(e) = queue.pop_front() {
            match e.to() {
                Some("com.calc.add") => {
                    queue.extend(h1.execute(&e, ParentContext::Event).await.unwrap());
                }
                Some("arvo.orc.bench.calc") => {
                    queue.extend(resumable.execute(&e, ParentContext::Event).await.unwrap());
                }
                Some("com.bench.client") => {
                    assert_eq!(e.event_type(), "arvo.orc.bench.calc.done");
                    sum += e.data()["result"].as_f64().unwrap();
                    completions += 1;
                }
                other => panic!("no route for {other:?}"),
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(completions, inits.len());
    assert_eq!(sum, expected);
    secs
}

/// The floor's statements and the record JSON it writes.
struct Floor {
    client: tokio_postgres::Client,
    read: tokio_postgres::Statement,
    insert: tokio_postgres::Statement,
    update: tokio_postgres::Statement,
    active_json: String,
    done_json: String,
}

async fn floor_pass(floor: &Floor, inits: &[ArvoEvent]) -> f64 {
    let start = Instant::now();
    for init in inits {
        let subject = init.subject();
        // Init: read (nothing), insert.
        assert!(
            floor
                .client
                .query_opt(&floor.read, &[&subject])
                .await
                .unwrap()
                .is_none()
        );
        let row = floor
            .client
            .query_one(&floor.insert, &[&subject, &floor.active_json])
            .await
            .unwrap();
        let v: i64 = row.get(0);
        // Answer: read (parse), compare-and-swap update.
        let row = floor
            .client
            .query_one(&floor.read, &[&subject])
            .await
            .unwrap();
        let (read_v, data): (i64, &str) = (row.get(0), row.get(1));
        assert_eq!(read_v, v);
        let parsed: Value = serde_json::from_str(data).unwrap();
        black_box(&parsed);
        let row = floor
            .client
            .query_opt(&floor.update, &[&subject, &floor.done_json, &v])
            .await
            .unwrap();
        assert!(row.is_some());
    }
    start.elapsed().as_secs_f64()
}

fn main() {
    let url = std::env::var("ARVO_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let warmup = env("B3P_WARMUP", 100);
    let n = env("B3P_WORKFLOWS", 1_000);
    let passes = env("B3P_PASSES", 3) as usize;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let schema = format!("arvo_bench_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let memory: Memory = PostgresMemory::builder(&url).schema(&schema).build().unwrap();
        if let Err(e) = memory.migrate().await {
            println!("B3 (PostgreSQL): skipped, no server at {url}: {e}");
            return;
        }
        let (client, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
        tokio::spawn(connection);
        let s = format!("\"{schema}\"");
        let truncate = format!("TRUNCATE {s}.machine_state, {s}.machine_lock");

        // Warm-up through the framework; its records give the floor its JSON.
        let (warm, warm_sum) = inputs(0..warmup);
        let resumable = calc_resumable(memory.clone());
        let first = resumable.execute(&warm[0], ParentContext::Event).await.unwrap();
        let active_json: String = client
            .query_one(&format!("SELECT data::text FROM {s}.machine_state WHERE subject = $1"), &[&warm[0].subject()])
            .await
            .unwrap()
            .get(0);
        drop((first, resumable));
        client.batch_execute(&truncate).await.unwrap();
        framework_pass(&memory, &warm, warm_sum).await;
        let done_json: String = client
            .query_one(&format!("SELECT data::text FROM {s}.machine_state WHERE subject = $1"), &[&warm[0].subject()])
            .await
            .unwrap()
            .get(0);
        let floor = Floor {
            read: client
                .prepare(&format!("SELECT version, data::text FROM {s}.machine_state WHERE subject = $1"))
                .await
                .unwrap(),
            insert: client
                .prepare(&format!("INSERT INTO {s}.machine_state (subject, data) VALUES ($1, $2::text::json) RETURNING version"))
                .await
                .unwrap(),
            update: client
                .prepare(&format!("UPDATE {s}.machine_state SET data = $2::text::json, version = DEFAULT, updated_at = now() WHERE subject = $1 AND version = $3 RETURNING version"))
                .await
                .unwrap(),
            client,
            active_json,
            done_json,
        };
        floor.client.batch_execute(&truncate).await.unwrap();
        floor_pass(&floor, &warm).await;

        let mut fw = Vec::new();
        let mut fl = Vec::new();
        for p in 0..passes {
            let (inits, expected) = inputs(warmup + p as u64 * n..warmup + (p as u64 + 1) * n);
            floor.client.batch_execute(&truncate).await.unwrap();
            if p % 2 == 0 {
                fw.push(framework_pass(&memory, &inits, expected).await);
                floor.client.batch_execute(&truncate).await.unwrap();
                fl.push(floor_pass(&floor, &inits).await);
            } else {
                fl.push(floor_pass(&floor, &inits).await);
                floor.client.batch_execute(&truncate).await.unwrap();
                fw.push(framework_pass(&memory, &inits, expected).await);
            }
        }
        floor
            .client
            .batch_execute(&format!("DROP SCHEMA {s} CASCADE"))
            .await
            .unwrap();
        let median = |t: &mut Vec<f64>| {
            t.sort_by(f64::total_cmp);
            t[t.len() / 2]
        };
        let fw_wps = n as f64 / median(&mut fw);
        let fl_wps = n as f64 / median(&mut fl);
        println!("B3 (PostgreSQL memory): {n} workflows after {warmup} warm-up, median of {passes} passes");
        println!("  framework {fw_wps:>8.0} workflows/s  {:>7.1} µs/workflow", 1e6 / fw_wps);
        println!("  floor     {fl_wps:>8.0} workflows/s  {:>7.1} µs/workflow (4 raw round trips)", 1e6 / fl_wps);
        println!("  framework / floor: {:.2}", fw_wps / fl_wps);
    });
}
