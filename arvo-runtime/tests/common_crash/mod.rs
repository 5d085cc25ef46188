//! The crash test's driver, for any durable memory (the embedded one's `resumable_crash.rs`,
//! made generic over the backend): a child process runs 500 fan-out workflows (init -> two
//! `com.calc.add` calls -> completion, many at a time, on the in-process broker) and is killed
//! with `SIGKILL` mid-run. A second process re-delivers every unanswered event, and every
//! workflow completes exactly once.
//!
//! What models redelivery (the part a real transport does): the init events are an at-least-once
//! input queue (the parent writes them to `inits.jsonl` before the run, as a broker's durable
//! queue holds them). The second process derives every other event from the workflow records:
//! - a workflow with no record never consumed its init: its init is re-delivered;
//! - an active record lists the calls it is waiting for (`events.expected` entries with no
//!   response; the call events themselves are in `events.produced` / `processed$$`): each is
//!   re-delivered to the service, whose answer goes back to the workflow;
//! - a done record holds its completion event (`events.produced`): it is delivered to the client
//!   again, with its original id, so a client that had already received it de-duplicates it.
//!
//! Completions are counted by subject and distinct event id across both processes: each of the
//! 500 subjects must have exactly one, with the right sum. Every record must read back (no
//! corrupt record) as done.
//!
//! A test binary using it re-executes itself: its `crash_worker` test calls [`worker_entry`],
//! which does nothing unless `ARVO_CRASH_DIR` is set.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arvo_runtime::broker::EventBroker;
use arvo_runtime::event::ArvoEvent;
use arvo_runtime::factory::{ArvoOrchestratorEventFactory, EventInput};
use arvo_runtime::memory::{LockPolicy, MachineMemory, Versioned};
use arvo_runtime::resumable::{
    ArvoResumable, ResumableMemoryRecord, ResumableRecord, ResumableStatus,
};
use serde_json::json;

use crate::common_resumable::{CalcContext, CalcFlow, CalcFlowV1_0_0, FanOut, calc_handler};

/// Workflows run.
pub const WORKFLOWS: usize = 500;
/// The parent kills the child once this many workflows completed.
pub const KILL_AFTER: usize = 120;
const CLIENT: &str = "com.crash.client";

/// What the workflows store.
pub type Record = ResumableMemoryRecord<CalcContext>;

/// The lock policy of the workflows: many short retries (many workflows run at once).
pub fn policy() -> LockPolicy {
    LockPolicy {
        max_retries: 100,
        initial_delay: Duration::from_millis(2),
        backoff_exponent: 1.1,
        ..LockPolicy::default()
    }
}

/// A durable memory under test.
pub trait Backend {
    /// The memory.
    type Memory: MachineMemory<Record> + Clone + 'static;
    /// Opens the memory kept for `dir` (each process opens it anew), with [`policy`].
    fn open(dir: &Path) -> impl Future<Output = Self::Memory>;
    /// A page of the stored records in subject order, after `after`.
    fn list(
        memory: &Self::Memory,
        after: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = Vec<(String, Versioned<Record>)>>;
}

fn expected_sum(init: &ArvoEvent) -> f64 {
    let d = init.data();
    2.0 * (d["a"].as_f64().unwrap() + d["b"].as_f64().unwrap())
}

/// The memory and a broker whose completions (events to the client, which is no handler) are
/// appended to `log` as they happen.
async fn open<B: Backend>(
    dir: &Path,
    log: Option<Arc<Mutex<std::fs::File>>>,
) -> (B::Memory, EventBroker) {
    let memory = B::open(dir).await;
    let resumable =
        ArvoResumable::builder(CalcFlow::orchestrator_contract().clone(), memory.clone())
            .requires_locking(true)
            .handler::<CalcFlowV1_0_0, _>(Arc::new(FanOut {
                runs: Arc::new(AtomicUsize::new(0)),
            }))
            .build()
            .unwrap();
    let mut broker = EventBroker::builder()
        .handler(Arc::new(resumable))
        .handler(Arc::new(calc_handler()));
    if let Some(log) = log {
        broker = broker.on_unroutable(move |fwd| {
            let log = Arc::clone(&log);
            async move {
                assert_eq!(
                    fwd.event.to(),
                    Some(CLIENT),
                    "only completions reach the client"
                );
                log_completions(&log, std::slice::from_ref(&fwd.event));
            }
        });
    }
    (memory, broker.build().unwrap())
}

/// Appends `subject id sum` lines for the completions in `events` to the log (one `write` per
/// line: a kill leaves at most a torn last line, which the reader ignores).
fn log_completions(log: &Mutex<std::fs::File>, events: &[ArvoEvent]) -> usize {
    let mut n = 0;
    for e in events
        .iter()
        .filter(|e| e.event_type() == CalcFlow::COMPLETE_TYPE)
    {
        let line = format!("{} {} {}\n", e.subject(), e.id(), e.data()["result"]);
        log.lock().unwrap().write_all(line.as_bytes()).unwrap();
        n += 1;
    }
    n
}

fn read_inits(dir: &Path) -> Vec<ArvoEvent> {
    std::fs::read_to_string(dir.join("inits.jsonl"))
        .unwrap()
        .lines()
        .map(|l| ArvoEvent::from_json_str(l).unwrap())
        .collect()
}

fn open_log(dir: &Path, name: &str) -> Mutex<std::fs::File> {
    Mutex::new(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(name))
            .unwrap(),
    )
}

/// The calls `record` still waits for: emitted events with no collected response.
fn unanswered(record: &ResumableRecord<CalcContext>) -> Vec<ArvoEvent> {
    let Some(expected) = &record.events.expected else {
        return Vec::new();
    };
    let emitted = || {
        record
            .events
            .produced
            .iter()
            .chain(record.processed.iter().flat_map(|p| &p.produced))
    };
    expected
        .iter()
        .filter(|(_, responses)| responses.is_empty())
        .map(|(id, _)| {
            emitted()
                .find(|e| e.id() == id)
                .unwrap_or_else(|| panic!("{}: call {id} is not in the record", record.subject))
                .clone()
        })
        .collect()
}

/// The child's entry point: runs the role in `ARVO_CRASH_ROLE` on the directory in
/// `ARVO_CRASH_DIR`; does nothing when they are unset (a normal test run).
pub fn worker_entry<B: Backend>() {
    if let (Ok(dir), Ok(role)) = (
        std::env::var("ARVO_CRASH_DIR"),
        std::env::var("ARVO_CRASH_ROLE"),
    ) {
        worker::<B>(Path::new(&dir), &role);
    }
}

/// `run` publishes every init (the broker runs many workflows at once) and waits; `recover`
/// re-delivers what is unanswered.
fn worker<B: Backend>(dir: &Path, role: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let log = Arc::new(open_log(dir, &format!("completions-{role}.log")));
        let (memory, broker) = open::<B>(dir, Some(Arc::clone(&log))).await;
        let inits = read_inits(dir);
        let started = Instant::now();
        let (mut active, mut done, mut calls, mut reemitted, mut fresh) = (0, 0, 0, 0, 0);
        match role {
            "run" => {
                for init in inits {
                    broker.publish(init).await.unwrap();
                }
            }
            "recover" => {
                let mut after: Option<String> = None;
                loop {
                    let page = B::list(&memory, after.as_deref(), 100).await;
                    let Some((last, _)) = page.last() else { break };
                    after = Some(last.clone());
                    for (_, record) in page {
                        let record = record.value.as_normal().expect("no failure record").clone();
                        match record.status {
                            ResumableStatus::Done => {
                                done += 1;
                                reemitted += log_completions(&log, &record.events.produced);
                            }
                            ResumableStatus::Active => {
                                active += 1;
                                for call in unanswered(&record) {
                                    calls += 1;
                                    broker.publish(call).await.unwrap();
                                }
                            }
                        }
                    }
                }
                for init in inits {
                    if memory.read(init.subject()).await.unwrap().is_none() {
                        fresh += 1;
                        broker.publish(init).await.unwrap();
                    }
                }
            }
            other => panic!("unknown role {other}"),
        }
        broker.idle().await;
        let outcome = broker.take_detached_resolution();
        assert!(outcome.is_ok(), "{:?}", outcome.errors);
        println!(
            "recovery: {done} done records (completions re-delivered: {reemitted}), \
             {active} active records (calls re-delivered: {calls}), \
             {fresh} inits never consumed (re-delivered); {} completions, in {:.1?}",
            outcome.unroutable.len(),
            started.elapsed()
        );
    });
}

fn child(dir: &Path, role: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["crash_worker", "--exact", "--nocapture", "--test-threads=1"])
        .env("ARVO_CRASH_DIR", dir)
        .env("ARVO_CRASH_ROLE", role);
    cmd
}

/// Complete `subject id sum` lines of a completion log (a torn last line is ignored).
fn read_log(path: &PathBuf) -> Vec<(String, String, f64)> {
    let Ok(file) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let text = std::io::read_to_string(file).unwrap();
    let complete = text.rfind('\n').map_or("", |i| &text[..=i]);
    complete
        .as_bytes()
        .lines()
        .map(|l| {
            let l = l.unwrap();
            let mut parts = l.split(' ');
            let (s, id, sum) = (parts.next(), parts.next(), parts.next());
            (
                s.unwrap().to_owned(),
                id.unwrap().to_owned(),
                sum.unwrap().parse().unwrap(),
            )
        })
        .collect()
}

/// The test: run in a child, SIGKILL it after [`KILL_AFTER`] completions, recover in a second
/// child, then check every workflow completed exactly once and every record is whole and done.
/// `dir` holds what the backend's [`Backend::open`] needs, and the logs.
pub fn a_killed_process_loses_no_workflow_and_none_completes_twice<B: Backend>(
    dir: &Path,
    name: &str,
) {
    let factory = ArvoOrchestratorEventFactory::new(CalcFlow::contract().latest()).unwrap();
    let inits: Vec<ArvoEvent> = (0..WORKFLOWS)
        .map(|i| {
            let data = json!({"parentSubject$$": null, "a": i as f64, "b": (i + 1) as f64});
            factory.init(EventInput::new(CLIENT, data)).unwrap()
        })
        .collect();
    let lines: Vec<String> = inits.iter().map(ArvoEvent::to_json_string).collect();
    std::fs::write(dir.join("inits.jsonl"), lines.join("\n")).unwrap();
    let expected: HashMap<String, f64> = inits
        .iter()
        .map(|e| (e.subject().to_owned(), expected_sum(e)))
        .collect();

    // Run, and kill with SIGKILL once KILL_AFTER workflows completed.
    let run_log = dir.join("completions-run.log");
    let started = Instant::now();
    let mut run = child(dir, "run")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    loop {
        if let Some(status) = run.try_wait().unwrap() {
            panic!("the worker finished ({status}) before it could be killed");
        }
        if read_log(&run_log).len() >= KILL_AFTER {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "the worker made no progress"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    run.kill().unwrap(); // SIGKILL on Unix
    let status = run.wait().unwrap();
    let killed_after = started.elapsed();
    let before = read_log(&run_log);
    assert!(!status.success(), "the worker was killed");
    assert!(before.len() < WORKFLOWS, "killed mid-run");

    // Recover in a second process.
    let started = Instant::now();
    let out = child(dir, "recover").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "recovery failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recovery_took = started.elapsed();
    let after = read_log(&dir.join("completions-recover.log"));

    // Every workflow completed exactly once (distinct completion ids per subject), right sum.
    let mut ids: HashMap<&str, HashSet<&str>> = HashMap::new();
    for (subject, id, sum) in before.iter().chain(&after) {
        assert_eq!(Some(sum), expected.get(subject), "{subject}");
        ids.entry(subject).or_default().insert(id);
    }
    assert_eq!(ids.len(), WORKFLOWS, "every workflow completed");
    let twice: Vec<_> = ids.iter().filter(|(_, s)| s.len() > 1).collect();
    assert!(twice.is_empty(), "completed twice: {twice:?}");

    // No record is corrupt: every record reads back as a done workflow.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let all = runtime.block_on(async {
        let memory = B::open(dir).await;
        B::list(&memory, None, 2 * WORKFLOWS).await
    });
    assert_eq!(all.len(), WORKFLOWS);
    for (subject, record) in &all {
        let r = record.value.as_normal().unwrap();
        assert_eq!(r.status, ResumableStatus::Done, "{subject}");
        assert!(expected.contains_key(subject.as_str()));
    }
    let recovered_lines = stdout
        .find("recovery:")
        .and_then(|i| stdout[i..].lines().next())
        .unwrap_or("recovery: (no figures)");
    eprintln!(
        "crash test ({name}): {WORKFLOWS} workflows; killed after {} completions ({killed_after:.1?}); \
         second process: {} completion deliveries in {recovery_took:.1?}; \
         {}; every workflow completed exactly once",
        before.len(),
        after.len(),
        recovered_lines
    );
}
