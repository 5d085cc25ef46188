//! The order workflow across processes, over NATS JetStream + PostgreSQL: what the
//! `order-worker` and `order-client` binaries share.
//!
//! ```text
//!  order-client ──arvo.orc.order.process──▶ ORDERS.ev.arvo.orc.order.process
//!  order-worker --serve arvo.orc.order.process,arvo.orc.order.payment   (state in PostgreSQL,
//!               answers approval requests: the human desk)
//!  order-worker --serve com.inventory.reserve
//!  order-worker --serve com.payment.charge
//!  order-worker --serve com.shipping.schedule
//!  order-client ◀── ORDERS.ev.com.shop.checkout (arvo.orc.order.process.done)
//! ```
//!
//! Every event goes through the stream; each process serves only the handlers it names, any
//! number of processes may serve the same ones, and the README's "across processes" section
//! has the commands.

use arvo_example_contracts::order::{
    ApprovalDecision, ApprovalRequest, Order, OrderApproval, OrderStatus,
};
use arvo_runtime::event::ArvoEvent;
use arvo_runtime::transport::nats::NatsTransport;

use super::{HUMAN_REVIEW, approval_reply, sample_order};

/// The human desk of a worker that serves the order workflow (its domained hook): answers a
/// `com.order.approval.request` in the domain [`HUMAN_REVIEW`] with `reviewer`'s decision,
/// published to the workflow over NATS (acknowledged by JetStream before the request's
/// input event is).
///
/// # Errors
/// For an event of another domain or type (nobody answers it here: the input event is
/// retried, then dead-lettered), a request that cannot be answered, or a failed publish.
pub async fn answer_approval(
    transport: &NatsTransport,
    reviewer: &(dyn Fn(&ApprovalRequest) -> ApprovalDecision + Send + Sync),
    request: ArvoEvent,
) -> Result<(), String> {
    if request.domain() != Some(HUMAN_REVIEW) || request.event_type() != OrderApproval::TYPE {
        return Err(format!(
            "no desk for '{}' in domain {:?}",
            request.event_type(),
            request.domain()
        ));
    }
    let reply = approval_reply(&request, reviewer).map_err(|e| e.to_string())?;
    transport.publish(&reply).await.map_err(|e| e.to_string())?;
    tracing::info!(
        order = request.data()["order_id"].as_str().unwrap_or("?"),
        decision_id = reply.id(),
        "human desk answered an approval request"
    );
    Ok(())
}

/// The `i`-th order of a client run `run`, and how it must end with the default desk (which
/// approves up to 10,000.00), in turn:
/// * two laptops and a mouse (2,524.00: approved, paid, shipped): `Completed`;
/// * a mouse paid with the declined card: `PaymentFailed`;
/// * nine laptops and a mouse (11,270.50: over the desk's limit): `Rejected`.
///
/// ```
/// use arvo_examples::order::client_order;
/// use arvo_example_contracts::order::OrderStatus;
/// let (order, status) = client_order("r1", 4);
/// assert_eq!((order.order_id.as_str(), status), ("ORD-r1-4", OrderStatus::PaymentFailed));
/// ```
pub fn client_order(run: &str, i: usize) -> (Order, OrderStatus) {
    let id = format!("ORD-{run}-{i}");
    match i % 3 {
        0 => (sample_order(&id, 2, "tok_visa"), OrderStatus::Completed),
        1 => (
            sample_order(&id, 0, super::DECLINED_CARD),
            OrderStatus::PaymentFailed,
        ),
        _ => (sample_order(&id, 9, "tok_visa"), OrderStatus::Rejected),
    }
}
