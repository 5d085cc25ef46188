//! The order workflow written as a machine (`#[arvo_machine]`, `arvo_examples::order::OrderMachine`)
//! run on the broker with the demo's services, the payment workflow (a resumable child of the
//! machine) and a human desk: every order ends as the resumable order workflow ends it, with
//! the same events in the same order.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use arvo_example_contracts::order::{
    OrderApproval, OrderProcessV1_0_0, OrderProcessV1_0_0Emits, OrderResult, OrderStatus,
};
use arvo_examples::order::{
    DECLINED_CARD, HUMAN_REVIEW, OrderMachine, OrderSystem, PaymentFlow, Reviewer, approval_reply,
    inventory, payment, reviewer_with_limit, sample_order, shipping,
};
use arvo_runtime::broker::Forwarded;
use arvo_runtime::orchestrator::ArvoOrchestrator;
use arvo_runtime::prelude::*;
use std::sync::{Arc, Mutex};

/// Every event type the broker routes, in order (its observer).
type Seen = Arc<Mutex<Vec<String>>>;

/// The broker of the machine version: the same services and payment workflow as
/// `OrderSystem`, the order workflow an `ArvoOrchestrator` over `OrderMachine`.
fn machine_broker(reviewer: Reviewer, seen: Seen) -> EventBroker {
    let orders = ArvoOrchestrator::builder(InMemoryMemory::new())
        .machine(OrderMachine::default().machine().unwrap());
    EventBroker::builder()
        .handler(orders)
        .handler(PaymentFlow.resumable(InMemoryMemory::new()))
        .handler(inventory())
        .handler(payment())
        .handler(shipping())
        .observe(move |e: &ArvoEvent| seen.lock().unwrap().push(e.event_type().to_owned()))
        .on_domained(move |fwd: Forwarded| {
            let reviewer = reviewer.clone();
            async move {
                if fwd.domain() == Some(HUMAN_REVIEW)
                    && fwd.event.event_type() == OrderApproval::TYPE
                {
                    let reply = approval_reply(&fwd.event, &*reviewer).unwrap();
                    fwd.publish(reply).await.unwrap();
                }
            }
        })
        .build()
        .unwrap()
}

/// The completion and the types of every event of one order, on the machine's broker.
async fn on_machine(
    order_id: &str,
    laptops: u32,
    card: &str,
    limit: u64,
) -> (OrderResult, Vec<String>) {
    let seen = Seen::default();
    let broker = machine_broker(reviewer_with_limit(limit), seen.clone());
    let init = OrderSystem::order_event(&sample_order(order_id, laptops, card)).unwrap();
    let outcome = broker.resolve(init).await.unwrap();
    assert!(outcome.is_ok(), "{outcome:?}");
    let OrderProcessV1_0_0Emits::Complete(done) = OrderProcessV1_0_0::result(&outcome).unwrap();
    let types = seen.lock().unwrap().clone();
    (done, types)
}

/// The same, on the resumable order workflow of `cargo demo`.
async fn on_resumable(
    order_id: &str,
    laptops: u32,
    card: &str,
    limit: u64,
) -> (OrderResult, Vec<String>) {
    let seen = Seen::default();
    let observer = seen.clone();
    let system = OrderSystem::builder()
        .reviewer(reviewer_with_limit(limit))
        .observer(Arc::new(move |e: &ArvoEvent| {
            observer.lock().unwrap().push(e.event_type().to_owned());
        }))
        .build()
        .unwrap();
    let placed = system
        .place(&sample_order(order_id, laptops, card))
        .await
        .unwrap();
    let types = seen.lock().unwrap().clone();
    (placed.result.unwrap(), types)
}

#[tokio::test]
async fn an_approved_order_is_reserved_approved_paid_and_shipped() {
    let (done, types) = on_machine("ORD-1001", 2, "tok_visa", 1_000_000).await;
    assert_eq!(done.status, OrderStatus::Completed);
    assert_eq!(done.charge_id.as_deref(), Some("ch-ORD-1001"));
    assert_eq!(done.tracking_id.as_deref(), Some("trk-ORD-1001"));
    assert_eq!(done.total_cents, 252_400);
    assert_eq!(
        types,
        [
            "arvo.orc.order.process",
            "com.inventory.reserve",
            "evt.inventory.reserve.success",
            "com.order.approval.request",
            "evt.order.approval.decision",
            "arvo.orc.order.payment",
            "com.payment.charge",
            "evt.payment.charge.success",
            "arvo.orc.order.payment.done",
            "com.shipping.schedule",
            "evt.shipping.schedule.success",
            "arvo.orc.order.process.done",
        ]
    );
    assert_eq!(
        (done, types),
        on_resumable("ORD-1001", 2, "tok_visa", 1_000_000).await
    );
}

#[tokio::test]
async fn a_declined_card_completes_the_order_as_payment_failed() {
    let (done, types) = on_machine("ORD-1002", 0, DECLINED_CARD, 1_000_000).await;
    assert_eq!(done.status, OrderStatus::PaymentFailed);
    assert!(
        done.reason.as_deref().unwrap().contains("declined"),
        "{done:?}"
    );
    assert_eq!(done.charge_id, None);
    // The child's system error reaches the machine, which completes the order.
    assert!(
        types.contains(&"sys.arvo.orc.order.payment.error".to_owned()),
        "{types:?}"
    );
    assert_eq!(
        (done, types),
        on_resumable("ORD-1002", 0, DECLINED_CARD, 1_000_000).await
    );
}

#[tokio::test]
async fn a_refused_order_is_rejected_without_payment() {
    let (done, types) = on_machine("ORD-1003", 2, "tok_visa", 1_000).await;
    assert_eq!(done.status, OrderStatus::Rejected);
    assert!(
        done.reason.as_deref().unwrap().starts_with("dana@shop: "),
        "{done:?}"
    );
    assert!(!types.iter().any(|t| t.contains("payment")), "{types:?}");
    assert_eq!(
        (done, types),
        on_resumable("ORD-1003", 2, "tok_visa", 1_000).await
    );
}

#[test]
fn the_machine_s_diagram_shows_its_states_and_guards() {
    let machine = OrderMachine::default().machine().unwrap();
    let diagram = machine.mermaid();
    assert!(diagram.starts_with("stateDiagram-v2"), "{diagram}");
    for state in ["reserving", "approving", "paying", "shipping", "done"] {
        assert!(
            diagram.contains(&format!("\"{state}\"")),
            "{state}: {diagram}"
        );
    }
    assert!(diagram.contains("[needs_approval]"), "{diagram}");
    assert!(diagram.contains("arvo.orc.order.payment.done"), "{diagram}");
    // No parallel state and single-emit services, but the approval contract (not simple) has
    // one emit: the reference's analysis skips the lock.
    assert!(!machine.requires_locking());
}
