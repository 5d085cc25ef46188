//! Contracts of the order workflow (the main demo, `cargo demo`): three services, a human
//! approval step, a payment sub-workflow and the order orchestrator. The workflow itself is
//! implemented in `arvo-examples` (`arvo_examples::order`); this crate holds only the types,
//! so other services (in Rust or TypeScript) can depend on the contracts alone.
//!
//! ```
//! use arvo_example_contracts::order::{OrderProcess, InventoryReserve, OrderApproval};
//! assert_eq!(OrderProcess::INIT_TYPE, "arvo.orc.order.process");
//! assert_eq!(OrderProcess::COMPLETE_TYPE, "arvo.orc.order.process.done");
//! assert_eq!(InventoryReserve::TYPE, "com.inventory.reserve");
//! assert_eq!(InventoryReserve::SUCCESS_TYPE, "evt.inventory.reserve.success");
//! assert_eq!(OrderApproval::TYPE, "com.order.approval.request");
//! ```

use arvo_runtime::arvo_contract;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LineItem {
    /// Stock keeping unit.
    pub sku: String,
    /// How many.
    pub quantity: u32,
    /// Price of one unit, in cents.
    pub unit_price_cents: u64,
}

/// An order as the shop submits it (the init payload of `arvo.orc.order.process`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Order {
    /// The shop's order id.
    pub order_id: String,
    /// Who ordered.
    pub customer: String,
    /// What was ordered.
    pub items: Vec<LineItem>,
    /// The card token to charge.
    pub card: String,
    /// Where to ship.
    pub address: String,
}

impl Order {
    /// The order total in cents (saturating).
    pub fn total_cents(&self) -> u64 {
        self.items.iter().fold(0u64, |sum, i| {
            sum.saturating_add(i.unit_price_cents.saturating_mul(u64::from(i.quantity)))
        })
    }
}

/// How an order ended (the completion payload of `arvo.orc.order.process`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Reserved, paid, shipped.
    Completed,
    /// A human reviewer declined it.
    Rejected,
    /// The payment sub-workflow failed.
    PaymentFailed,
}

/// The completion of `arvo.orc.order.process`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderResult {
    /// The shop's order id.
    pub order_id: String,
    /// How it ended.
    pub status: OrderStatus,
    /// The order total in cents.
    pub total_cents: u64,
    /// The charge, when paid.
    pub charge_id: Option<String>,
    /// The shipment, when shipped.
    pub tracking_id: Option<String>,
    /// Why it did not complete, when it did not.
    pub reason: Option<String>,
}

/// `com.inventory.reserve` input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReserveRequest {
    /// The order.
    pub order_id: String,
    /// What to reserve.
    pub items: Vec<LineItem>,
}

/// `evt.inventory.reserve.success` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Reservation {
    /// The reservation.
    pub reservation_id: String,
    /// Units reserved.
    pub units: u32,
}

/// `com.payment.charge` input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChargeRequest {
    /// The order.
    pub order_id: String,
    /// The amount in cents.
    pub amount_cents: u64,
    /// The card token.
    pub card: String,
}

/// `evt.payment.charge.success` payload, also the completion of the payment sub-workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Charge {
    /// The charge.
    pub charge_id: String,
    /// The amount charged, in cents.
    pub amount_cents: u64,
}

/// `com.shipping.schedule` input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ShipRequest {
    /// The order.
    pub order_id: String,
    /// Where to.
    pub address: String,
}

/// `evt.shipping.schedule.success` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Shipment {
    /// The carrier's tracking id.
    pub tracking_id: String,
    /// Estimated days to delivery.
    pub eta_days: u32,
}

/// `com.order.approval.request` input: what the human reviewer sees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ApprovalRequest {
    /// The order.
    pub order_id: String,
    /// Who ordered.
    pub customer: String,
    /// The total in cents.
    pub total_cents: u64,
}

/// `evt.order.approval.decision` payload: what the reviewer decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ApprovalDecision {
    /// Approved or not.
    pub approved: bool,
    /// Who decided.
    pub reviewer: String,
    /// A note, e.g. why not.
    pub note: Option<String>,
}

/// Reserves stock for an order.
#[arvo_contract(
    uri = "#/demo/inventory/reserve",
    type = "inventory.reserve",
    simple,
    description = "Reserves the stock of an order",
    version("1.0.0", accepts = ReserveRequest, emits = Reservation),
)]
pub struct InventoryReserve;

/// Charges a card.
#[arvo_contract(
    uri = "#/demo/payment/charge",
    type = "payment.charge",
    simple,
    description = "Charges a card",
    version("1.0.0", accepts = ChargeRequest, emits = Charge),
)]
pub struct PaymentCharge;

/// Schedules a shipment.
#[arvo_contract(
    uri = "#/demo/shipping/schedule",
    type = "shipping.schedule",
    simple,
    description = "Schedules the shipment of an order",
    version("1.0.0", accepts = ShipRequest, emits = Shipment),
)]
pub struct ShippingSchedule;

/// Asks a human to approve a large order. No service implements it: the orchestrator emits
/// the request in the domain `human.review`, and whoever watches that domain answers with a
/// decision.
#[arvo_contract(
    uri = "#/demo/order/approval",
    type = "com.order.approval.request",
    description = "Human approval of a large order",
    version("1.0.0", accepts = ApprovalRequest,
            emits("evt.order.approval.decision" as Decided = ApprovalDecision)),
)]
pub struct OrderApproval;

/// The payment sub-workflow: charges the card and completes with the charge.
#[arvo_contract(
    uri = "#/demo/orchestrator/payment",
    orchestrator = "order.payment",
    version("1.0.0", init = ChargeRequest, complete = Charge),
)]
pub struct PaymentFlow;

/// The order workflow: reserve stock, get a human's approval above a threshold, pay (in a
/// sub-workflow), ship.
#[arvo_contract(
    uri = "#/demo/orchestrator/order",
    orchestrator = "order.process",
    version("1.0.0", init = Order, complete = OrderResult),
)]
pub struct OrderProcess;
