//! Scenario B3 (workflow W with the ArvoResumable R, see `b3.rs`) with the workflows' state in
//! the embedded durable memory, [`RedbMemory`], beside a floor measured in the same run that
//! makes the same number of raw redb write transactions by hand.
//!
//! * `framework`: `ArvoResumable::execute` on a `RedbMemory` (no locking, as the reference
//!   decides for W) and `ArvoEventHandler::execute`, events routed by `to` through a queue, on a
//!   current-thread tokio runtime (the memory commits on tokio's blocking pool). Per workflow:
//!   two steps, each a read transaction and one durable write transaction (compare-and-swap on
//!   the version, the record as JSON).
//! * `floor`: `b3.rs`'s hand-written workflow plus, per step, one raw redb write transaction on
//!   the calling thread with the same durability (`Immediate`: fsync before the commit returns)
//!   that reads the stored version and inserts the record, serialised as JSON with the same
//!   fields (consumed, expected and produced events, the context), into a table of its own file.
//!   It keeps its typed records in a map, so it reads nothing back.
//!
//! Both write to files in one temp directory (`B3R_DIR` to choose another: the disk decides the
//! cost of an fsync). Protocol as B3 with smaller defaults, since every workflow waits for two
//! fsyncs: `B3R_WARMUP` 50, `B3R_WORKFLOWS` 500, `B3R_PASSES` 3, median reported. Within a
//! pass the two variants take turns every `B3R_CHUNK` (10) workflows, in alternating order, so
//! both see the same disk (an fsync's latency drifts with the machine's load). Every workflow
//! is checked (one completion, its type, the sum of the results).
//!
//! Run: `cargo bench -p arvo-runtime --bench b3_redb` (the `redb` feature is on for benches).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Instant;

use arvo_runtime::event::ArvoEvent;
use arvo_runtime::handler::ParentContext;
use arvo_runtime::memory::{RedbMemory, RedbStore};
use redb::{Database, Durability, ReadableTable, TableDefinition};
use serde::Serialize;

#[path = "b3.rs"]
mod b3;
use b3::common::{env, vm_hwm_kb};
use b3::common_resumable::{calc_handler, calc_resumable};
use b3::{Floor, FloorRecord, inputs};

/// One framework pass: a fresh table of `store`, fed chunk by chunk.
struct FrameworkPass {
    memory: RedbMemory<
        arvo_runtime::resumable::ResumableMemoryRecord<b3::common_resumable::CalcContext>,
    >,
    resumable: arvo_runtime::resumable::ArvoResumable<
        RedbMemory<
            arvo_runtime::resumable::ResumableMemoryRecord<b3::common_resumable::CalcContext>,
        >,
        b3::common_resumable::CalcContext,
    >,
    h1: arvo_runtime::handler::ArvoEventHandler,
    sum: f64,
    completions: usize,
    secs: f64,
}

impl FrameworkPass {
    fn new(store: &RedbStore, table: &str) -> Self {
        let memory = store.memory(table).unwrap();
        let resumable = calc_resumable(memory.clone());
        assert!(!resumable.requires_locking());
        Self {
            memory,
            resumable,
            h1: calc_handler(),
            sum: 0.0,
            completions: 0,
            secs: 0.0,
        }
    }

    fn run(&mut self, rt: &tokio::runtime::Runtime, inits: &[ArvoEvent]) {
        let (resumable, h1) = (&self.resumable, &self.h1);
        let (sum, completions) = rt.block_on(async {
            let mut queue: VecDeque<ArvoEvent> = VecDeque::with_capacity(4);
            let (mut sum, mut completions) = (0.0, 0);
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
                            queue
                                .extend(resumable.execute(&e, ParentContext::Event).await.unwrap());
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
            self.secs += start.elapsed().as_secs_f64();
            (sum, completions)
        });
        self.sum += sum;
        self.completions += completions;
    }

    /// Checks the pass and returns its seconds.
    fn finish(self, n: usize, expected: f64) -> f64 {
        assert_eq!(self.completions, n);
        assert_eq!(self.sum, expected);
        assert_eq!(self.memory.len().unwrap(), n as u64);
        self.secs
    }
}

/// The floor's record as stored: the fields of the framework's record.
#[derive(Serialize)]
struct StoredRecord<'a> {
    status: &'static str,
    #[serde(rename = "initEventId")]
    init_event_id: &'a str,
    subject: &'a str,
    consumed: &'a ArvoEvent,
    expected: &'a [(String, Vec<ArvoEvent>)],
    produced: &'a [ArvoEvent],
    #[serde(rename = "state$$")]
    state: (f64, f64),
}

type Row = (u64, &'static str);

/// One raw durable write transaction: compare the stored version, insert the next one.
fn commit(db: &Database, table: &str, subject: &str, record: &FloorRecord) {
    let json = serde_json::to_string(&StoredRecord {
        status: if record.done { "done" } else { "active" },
        init_event_id: &record.init_id,
        subject,
        consumed: &record.consumed,
        expected: &record.expected,
        produced: &record.produced,
        state: (record.a, record.b),
    })
    .unwrap();
    let mut txn = db.begin_write().unwrap();
    txn.set_durability(Durability::Immediate).unwrap();
    {
        let mut t = txn
            .open_table(TableDefinition::<&str, Row>::new(table))
            .unwrap();
        let version = t.get(subject).unwrap().map_or(0, |g| g.value().0);
        assert_eq!(version == 0, !record.done);
        t.insert(subject, (version + 1, json.as_str())).unwrap();
    }
    txn.commit().unwrap();
}

/// One floor pass: the hand-written workflow, each step committed by hand.
struct FloorPass {
    floor: Floor,
    table: String,
    sum: f64,
    secs: f64,
}

impl FloorPass {
    fn new(table: &str) -> Self {
        Self {
            floor: Floor::new(),
            table: table.to_owned(),
            sum: 0.0,
            secs: 0.0,
        }
    }

    fn run(&mut self, db: &Database, inits: &[ArvoEvent]) {
        let (floor, table) = (&mut self.floor, self.table.as_str());
        let start = Instant::now();
        for init in inits {
            let call = floor.init(init);
            commit(db, table, init.subject(), &floor.records[init.subject()]);
            let answer = floor.service(&call);
            let done = floor.result(&answer);
            commit(db, table, init.subject(), &floor.records[init.subject()]);
            assert_eq!(done.to(), Some("com.bench.client"));
            self.sum += done.data()["result"].as_f64().unwrap();
        }
        self.secs += start.elapsed().as_secs_f64();
    }

    fn finish(self, n: usize, expected: f64) -> f64 {
        assert_eq!(self.sum, expected);
        assert_eq!(self.floor.records.len(), n);
        self.secs
    }
}

/// One pass of each variant over `inits`, interleaved by chunks of `chunk` workflows (in
/// alternating order) so both see the same disk: an fsync's latency drifts with the machine's
/// load. Returns (framework, floor) seconds.
fn passes(
    rt: &tokio::runtime::Runtime,
    store: &RedbStore,
    db: &Database,
    table: &str,
    inits: &[ArvoEvent],
    expected: f64,
    chunk: usize,
) -> (f64, f64) {
    let mut fw = FrameworkPass::new(store, table);
    let mut fl = FloorPass::new(table);
    for (i, c) in inits.chunks(chunk.max(1)).enumerate() {
        if i % 2 == 0 {
            fw.run(rt, c);
            fl.run(db, c);
        } else {
            fl.run(db, c);
            fw.run(rt, c);
        }
    }
    (
        fw.finish(inits.len(), expected),
        fl.finish(inits.len(), expected),
    )
}

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn main() {
    let warmup = env("B3R_WARMUP", 50);
    let n = env("B3R_WORKFLOWS", 500);
    let passes_n = env("B3R_PASSES", 3) as usize;
    let base = std::env::var("B3R_DIR").map_or_else(|_| std::env::temp_dir(), PathBuf::from);
    let dir = Dir(base.join(format!("arvo-b3-redb-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let path = |name: &str| -> PathBuf { Path::new(&dir.0).join(name) };
    let store = RedbStore::open(path("framework.redb")).unwrap();
    let db = Database::create(path("floor.redb")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let chunk = env("B3R_CHUNK", 10) as usize;
    let (warm, warm_sum) = inputs(0..warmup);
    passes(&rt, &store, &db, "warmup", &warm, warm_sum, chunk);
    let (mut fw, mut fl) = (Vec::new(), Vec::new());
    for p in 0..passes_n {
        let (inits, expected) = inputs(warmup..warmup + n);
        let (a, b) = passes(
            &rt,
            &store,
            &db,
            &format!("pass-{p}"),
            &inits,
            expected,
            chunk,
        );
        fw.push(a);
        fl.push(b);
    }
    let median = |t: &mut Vec<f64>| {
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    };
    let (fw_wps, fl_wps) = (n as f64 / median(&mut fw), n as f64 / median(&mut fl));
    println!(
        "B3 on redb: {n} workflows after {warmup} warm-up, median of {passes_n} passes \
         interleaved by {chunk} workflows, 2 durable commits per workflow, files in {}",
        base.display()
    );
    println!(
        "  framework {fw_wps:>10.0} workflows/s  {:>8.1} µs/workflow",
        1e6 / fw_wps
    );
    println!(
        "  floor     {fl_wps:>10.0} workflows/s  {:>8.1} µs/workflow (raw redb commits)",
        1e6 / fl_wps
    );
    println!("  framework / floor: {:.2}", fw_wps / fl_wps);
    println!("  peak RSS (VmHWM): {:.1} MB", vm_hwm_kb() as f64 / 1024.0);
}
