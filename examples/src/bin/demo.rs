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

use arvo_example_contracts::order::{OrderResult, OrderStatus};
use arvo_examples::order::{
    DECLINED_CARD, DEFAULT_APPROVAL_THRESHOLD_CENTS, OrderSystem, Placed, describe, sample_order,
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

/// Checks one placed order against what the demo promises; prints and returns whether it held.
fn check(placed: &Placed, want: OrderStatus, want_domained: usize) -> bool {
    let o = &placed.outcome;
    let ok = placed.result.as_ref().map(|r| r.status) == Some(want)
        && o.is_ok()
        && o.domained.len() == want_domained
        && o.unroutable.is_empty();
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
    let cases = [
        (
            "ORD-1001: two laptops and a mouse (needs approval)",
            sample_order("ORD-1001", 2, "tok_visa"),
            OrderStatus::Completed,
            1,
        ),
        (
            "ORD-1002: just a mouse (no approval needed), paid with a declined card",
            sample_order("ORD-1002", 0, DECLINED_CARD),
            OrderStatus::PaymentFailed,
            0,
        ),
    ];
    let mut all_ok = true;
    for (title, order, want, domained) in cases {
        println!("\n{title}");
        n.store(0, Ordering::Relaxed);
        match system.place(&order).await {
            Ok(placed) => all_ok &= check(&placed, want, domained),
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
