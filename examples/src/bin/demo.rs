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
//! Every event is printed as it is emitted: type, `source -> to`, the first 8 characters of
//! its workflow's execution id (the child workflow has its own), and its domain if any.
//! State lives in the in-memory memory (the embedded durable memory is not built yet).
//! Exits 0 only if both orders end as expected.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use arvo_example_contracts::order::OrderResult;
use arvo_examples::order::{
    DEFAULT_APPROVAL_THRESHOLD_CENTS, DemoCase, OrderSystem, Placed, demo_cases, describe,
};

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

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let n = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&n);
    let system = match OrderSystem::builder()
        .observer(Arc::new(move |e| {
            let i = counter.fetch_add(1, Ordering::Relaxed) + 1;
            println!("  {i:>2}  {}", describe(e));
        }))
        .build()
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("setup failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "Arvo order demo: in-process broker, in-memory workflow state; handlers: {}",
        system.broker().handlers().join(", ")
    );
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
