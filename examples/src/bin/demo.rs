//! The main demo, run by `cargo demo` (an alias for
//! `cargo run --quiet -p arvo-examples --bin demo`).
//!
//! An order workflow on the in-process broker (see [`arvo_examples::order`]): the resumable
//! orchestrator `arvo.orc.order.process` reserves stock, asks a human to approve large orders
//! (an event in the domain `human.review`, answered by the broker's domained hook), pays in a
//! child workflow `arvo.orc.order.payment`, and ships. Two orders are placed:
//! * `ORD-1001`, 2,524.00 — over the approval threshold: approved, paid, shipped;
//! * `ORD-1002`, 25.00 (no approval needed) with a declined card — the payment service's
//!   system error fails the payment workflow, whose own system error reaches the order
//!   workflow, which completes the order as `payment_failed`.
//!
//! Every event is printed as the broker routes it, by the broker's observer
//! ([`OrderSystemBuilder::observer`](arvo_examples::order::OrderSystemBuilder::observer), which
//! registers it with `EventBroker::builder().observe(..)`): type, `source -> to`, the first 8
//! characters of its workflow's execution id (the child workflow has its own), and its domain
//! if any. The services are `#[arvo_handler]` impl blocks, the workflows `#[arvo_resumable]`
//! ones, registered by value; orders start with the typed edge `OrderProcessV1_0_0::init` and
//! end with `OrderProcessV1_0_0::result`.
//! Exits 0 only if both orders end as expected.
//!
//! The workflows' state lives in the embedded durable memory, a redb file: by default a new
//! file in the system's temp dir, removed at exit (`--file PATH` keeps it at `PATH`).
//!
//! A workflow surviving a restart, in two runs on one file (`./arvo-demo.redb` unless
//! `--file PATH`):
//! * `cargo demo -- --stop-after-approval-request` places `ORD-1001` with the human desk
//!   closed: the workflow asks for approval, its state (with the request) is committed to the
//!   file, and the process exits;
//! * `cargo demo -- --resume` (a new process) finds the waiting workflow in the file, answers
//!   its approval request, and the workflow pays (child workflow) and ships to its end.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use arvo_example_contracts::order::{OrderResult, OrderStatus};
use arvo_examples::order::{
    DEFAULT_APPROVAL_THRESHOLD_CENTS, DemoCase, OrderSystem, Placed, demo_cases, describe,
};
use arvo_runtime::memory::RedbStore;

/// What the command line asks for.
#[derive(Debug, PartialEq)]
enum Mode {
    /// Both orders to their end (the default).
    All,
    /// `--stop-after-approval-request`: ORD-1001 up to its approval request, then exit.
    Stop,
    /// `--resume`: answer the waiting approval requests found in the file, finish the workflows.
    Resume,
}

/// The state file of the two-run modes unless `--file` names another.
const DEFAULT_FILE: &str = "arvo-demo.redb";

const USAGE: &str = "usage: demo [--file PATH] [--stop-after-approval-request | --resume]";

fn parse_args() -> Result<(Mode, Option<PathBuf>), String> {
    let (mut mode, mut file) = (Mode::All, None);
    let mut args = arvo_runtime::worker::process_args()
        .map_err(|e| format!("{e}\n{USAGE}"))?
        .into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--stop-after-approval-request" if mode == Mode::All => mode = Mode::Stop,
            "--resume" if mode == Mode::All => mode = Mode::Resume,
            "--file" => match args.next() {
                Some(path) => file = Some(PathBuf::from(path)),
                None => return Err(format!("--file needs a path\n{USAGE}")),
            },
            "--help" | "-h" => return Err(USAGE.to_owned()),
            other => return Err(format!("unexpected argument '{other}'\n{USAGE}")),
        }
    }
    Ok((mode, file))
}

fn cents(c: u64) -> String {
    format!("{}.{:02}", c / 100, c % 100)
}

fn summary(r: &OrderResult) -> String {
    let mut s = format!(
        "{} {:?} total {}",
        r.order_id,
        r.status,
        cents(r.total_cents)
    );
    for (k, v) in [
        ("charge", &r.charge_id),
        ("tracking", &r.tracking_id),
        ("reason", &r.reason),
    ] {
        if let Some(v) = v {
            s.push_str(&format!(", {k} {v}"));
        }
    }
    s
}

/// Prints how `placed` ended and whether that is what `case` promises.
fn report(placed: &Placed, case: &DemoCase) -> bool {
    let o = &placed.outcome;
    let ok = case.holds(placed);
    match &placed.result {
        Some(r) => println!("  => {}", summary(r)),
        None => println!("  => no completion (outcome: {o:?})"),
    }
    println!(
        "     {} events handled, {} domained, {} failures: {}",
        o.handled,
        o.domained.len(),
        o.errors.len(),
        if ok { "as expected" } else { "NOT as expected" }
    );
    ok
}

/// The state file: `--file`, else `./arvo-demo.redb` for the two-run modes, else a new file in
/// the temp dir that is removed at exit.
struct StateFile {
    path: PathBuf,
    remove: bool,
}

impl Drop for StateFile {
    fn drop(&mut self) {
        if self.remove {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let (mode, file) = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let state = match (file, &mode) {
        (Some(path), _) => StateFile {
            path,
            remove: false,
        },
        (None, Mode::All) => StateFile {
            path: std::env::temp_dir().join(format!("arvo-demo-{}.redb", std::process::id())),
            remove: true,
        },
        (None, _) => StateFile {
            path: PathBuf::from(DEFAULT_FILE),
            remove: false,
        },
    };
    let store = match RedbStore::open(&state.path) {
        Ok(store) => store,
        Err(e) => {
            eprintln!("setup failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    let n = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&n);
    let mut builder = OrderSystem::builder()
        .store(store)
        .observer(Arc::new(move |e| {
            let i = counter.fetch_add(1, Ordering::Relaxed) + 1;
            println!("  {i:>2}  {}", describe(e));
        }));
    if mode == Mode::Stop {
        builder = builder.hold_approvals();
    }
    let system = match builder.build() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("setup failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "Arvo order demo: in-process broker, workflow state in {}; handlers: {}",
        state.path.display(),
        system.broker().handlers().join(", ")
    );
    match mode {
        Mode::All => run_all(&system, &n).await,
        Mode::Stop => stop_after_approval_request(&system, &state).await,
        Mode::Resume => resume(&system, &state).await,
    }
}

/// `--stop-after-approval-request`: ORD-1001 runs until it waits for the human's decision.
async fn stop_after_approval_request(system: &OrderSystem, state: &StateFile) -> ExitCode {
    let Some(case) = demo_cases().into_iter().find(|c| c.approvals > 0) else {
        return ExitCode::FAILURE;
    };
    println!("\n{} (the human desk is closed)", case.title);
    match system.place(&case.order).await {
        Ok(placed) if placed.result.is_none() && placed.outcome.domained.len() == 1 => {
            println!(
                "  => waiting for approval; its state is in {}.\n\
                 Stopped. Run `cargo demo -- --resume{}` to answer it and finish the order.",
                state.path.display(),
                file_arg(state)
            );
            ExitCode::SUCCESS
        }
        Ok(placed) => {
            println!("  => NOT waiting for approval: {:?}", placed.outcome);
            ExitCode::FAILURE
        }
        Err(e) => {
            println!("  => could not place the order: {e}");
            ExitCode::FAILURE
        }
    }
}

fn file_arg(state: &StateFile) -> String {
    if state.path == std::path::Path::new(DEFAULT_FILE) {
        String::new()
    } else {
        format!(" --file {}", state.path.display())
    }
}

/// `--resume`: a new process finds the waiting workflows in the file and finishes them.
async fn resume(system: &OrderSystem, state: &StateFile) -> ExitCode {
    let resumed = match system.resume_waiting().await {
        Ok(resumed) => resumed,
        Err(e) => {
            println!("could not resume: {e}");
            return ExitCode::FAILURE;
        }
    };
    if resumed.is_empty() {
        println!(
            "No workflow is waiting for approval in {}: run `cargo demo -- --stop-after-approval-request{}` first.",
            state.path.display(),
            file_arg(state)
        );
        return ExitCode::FAILURE;
    }
    let mut all_ok = true;
    for placed in &resumed {
        let ok = placed.outcome.is_ok()
            && placed.result.as_ref().map(|r| r.status) == Some(OrderStatus::Completed);
        match &placed.result {
            Some(r) => println!("  => resumed and finished: {}", summary(r)),
            None => println!(
                "  => resumed, no completion (outcome: {:?})",
                placed.outcome
            ),
        }
        all_ok &= ok;
    }
    println!(
        "\n{} workflow(s) resumed from {}: {}",
        resumed.len(),
        state.path.display(),
        if all_ok {
            "all completed as expected"
        } else {
            "FAILED: not as expected"
        }
    );
    if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The default: every demo order to its end.
async fn run_all(system: &OrderSystem, n: &AtomicUsize) -> ExitCode {
    println!(
        "Orders over {} need a human's approval (domain human.review).",
        cents(DEFAULT_APPROVAL_THRESHOLD_CENTS)
    );

    let start = Instant::now();
    let mut all_ok = true;
    for case in demo_cases() {
        println!("\n{}", case.title);
        n.store(0, Ordering::Relaxed);
        match system.place(&case.order).await {
            Ok(placed) => all_ok &= report(&placed, &case),
            Err(e) => {
                println!("  => could not place the order: {e}");
                all_ok = false;
            }
        }
    }
    println!(
        "\n{} in {:.0?}",
        if all_ok {
            "Both workflows completed as expected"
        } else {
            "FAILED: a workflow did not complete as expected"
        },
        start.elapsed()
    );
    if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
