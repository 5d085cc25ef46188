//! The order workflow `arvo.orc.order.process` once more, as an [`ArvoMachine`] statechart
//! declared with [`#[arvo_machine]`](arvo_runtime::arvo_machine) (beside the resumable
//! [`OrderFlow`](super::OrderFlow), with the same contracts, services and outcomes).
//!
//! ```text
//!  [*] --> reserving
//!  reserving --> approving : inventory::Success [needs_approval]
//!  reserving --> paying    : inventory::Success
//!  approving --> paying    : approval::Decided [approved]
//!  approving --> done      : approval::Decided        (rejected)
//!  paying    --> shipping  : payment::Complete        (the child workflow's completion)
//!  paying    --> done      : payment::SystemError     (payment_failed)
//!  shipping  --> done      : shipping::Success        (completed)
//!  done --> [*]
//! ```
//!
//! Each state is a method whose body runs on entry (it calls the state's service); each
//! transition is an `#[on(service::Variant, ..)]` attribute; guards and actions receive the
//! event's typed payload. The compiler checks the machine against `OrderProcess` 1.0.0 and its
//! four services: a transition to a state that does not exist, an event no declared service
//! emits, or a call of a service that is not declared does not compile. A system error of
//! inventory, approval or shipping fails the workflow (its own system error goes back to
//! whoever started the order), as in the resumable.
//!
//! ```
//! use arvo_examples::order::OrderMachine;
//! let machine = OrderMachine::default().machine()?;
//! assert_eq!(machine.source(), "arvo.orc.order.process");
//! assert!(machine.mermaid().contains("needs_approval"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use arvo_example_contracts::order::{
    ApprovalDecision, ApprovalRequest, Charge, ChargeRequest, InventoryReserveV1_0_0, Order,
    OrderApprovalV1_0_0, OrderProcess, OrderProcessV1_0_0, OrderResult, OrderStatus,
    PaymentFlowV1_0_0, Reservation, ReserveRequest, ShipRequest, Shipment, ShippingScheduleV1_0_0,
};
use arvo_runtime::ArvoErrorPayload;
use arvo_runtime::handler::DomainSpec;
use arvo_runtime::prelude::*;
use serde::{Deserialize, Serialize};

use super::{DEFAULT_APPROVAL_THRESHOLD_CENTS, HUMAN_REVIEW};

/// What the order machine keeps in its context (stored in the snapshot).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderMachineContext {
    /// The order.
    pub order: Order,
    /// Its total in cents.
    pub total_cents: u64,
    /// The stock reservation, once made.
    pub reservation_id: Option<String>,
    /// The charge, once paid.
    pub charge_id: Option<String>,
    /// The shipment's tracking id, once shipped.
    pub tracking_id: Option<String>,
    /// How the order ended (set on the way to `done`).
    pub status: Option<OrderStatus>,
    /// Why it did not complete.
    pub reason: Option<String>,
}

/// The order workflow `arvo.orc.order.process` as a statechart, beside the resumable
/// [`OrderFlow`](super::OrderFlow): reserve, ask a human above [`threshold_cents`](Self::threshold_cents),
/// pay in the child workflow, ship (see `examples/src/order/machine.rs`).
#[derive(Debug, Clone, Copy)]
pub struct OrderMachine {
    /// Orders above this total (in cents) need a human's approval.
    pub threshold_cents: u64,
}

impl Default for OrderMachine {
    fn default() -> Self {
        Self {
            threshold_cents: DEFAULT_APPROVAL_THRESHOLD_CENTS,
        }
    }
}

#[arvo_machine(
    contract = OrderProcess,
    version = "1.0.0",
    context = OrderMachineContext,
    id = "order",
    services(
        inventory = InventoryReserveV1_0_0,
        approval = OrderApprovalV1_0_0,
        payment = PaymentFlowV1_0_0,
        shipping = ShippingScheduleV1_0_0,
    ),
)]
impl OrderMachine {
    /// The context, from the order.
    #[context]
    fn start(&self, order: &Order) -> OrderMachineContext {
        OrderMachineContext {
            total_cents: order.total_cents(),
            order: order.clone(),
            reservation_id: None,
            charge_id: None,
            tracking_id: None,
            status: None,
            reason: None,
        }
    }

    /// The completion, when `done` is reached.
    #[output]
    fn result(&self, ctx: &OrderMachineContext) -> OrderResult {
        OrderResult {
            order_id: ctx.order.order_id.clone(),
            status: ctx.status.unwrap_or(OrderStatus::Completed),
            total_cents: ctx.total_cents,
            charge_id: ctx.charge_id.clone(),
            tracking_id: ctx.tracking_id.clone(),
            reason: ctx.reason.clone(),
        }
    }

    /// Reserves the stock.
    #[state(initial)]
    #[on(inventory::Success, target = approving, guard = needs_approval, actions(keep_reservation))]
    #[on(inventory::Success, target = paying, actions(keep_reservation))]
    #[on(inventory::SystemError, actions(fail))]
    fn reserving(&self, cx: &mut OrderMachineAction<'_>) -> Result<(), HandlerError> {
        let order = &cx.context.order;
        let request = ReserveRequest {
            order_id: order.order_id.clone(),
            items: order.items.clone(),
        };
        cx.call::<InventoryReserveV1_0_0>(&request)
    }

    /// Asks a human (an event in the domain [`HUMAN_REVIEW`]).
    #[state]
    #[on(approval::Decided, target = paying, guard = approved)]
    #[on(approval::Decided, target = done, actions(reject))]
    #[on(approval::SystemError, actions(fail))]
    fn approving(&self, cx: &mut OrderMachineAction<'_>) -> Result<(), HandlerError> {
        let ctx = &cx.context;
        let request = ApprovalRequest {
            order_id: ctx.order.order_id.clone(),
            customer: ctx.order.customer.clone(),
            total_cents: ctx.total_cents,
        };
        let desk = DomainSpec::literal(HUMAN_REVIEW)?;
        cx.call_with::<OrderApprovalV1_0_0>(&request, |raw| raw.domains(vec![desk]))
    }

    /// Pays in the child workflow `arvo.orc.order.payment`.
    #[state]
    #[on(payment::Complete, target = shipping, actions(keep_charge))]
    #[on(payment::SystemError, target = done, actions(payment_failed))]
    fn paying(&self, cx: &mut OrderMachineAction<'_>) -> Result<(), HandlerError> {
        let ctx = &cx.context;
        let charge = ChargeRequest {
            order_id: ctx.order.order_id.clone(),
            amount_cents: ctx.total_cents,
            card: ctx.order.card.clone(),
        };
        cx.start_child::<PaymentFlowV1_0_0, _>(charge)
    }

    /// Ships.
    #[state]
    #[on(shipping::Success, target = done, actions(shipped))]
    #[on(shipping::SystemError, actions(fail))]
    fn shipping(&self, cx: &mut OrderMachineAction<'_>) -> Result<(), HandlerError> {
        let ctx = &cx.context;
        let request = ShipRequest {
            order_id: ctx.order.order_id.clone(),
            address: ctx.order.address.clone(),
        };
        cx.call::<ShippingScheduleV1_0_0>(&request)
    }

    /// The order is over (its status in the context).
    #[state(final)]
    fn done(&self) {}

    #[guard]
    fn needs_approval(&self, ctx: &OrderMachineContext, _reserved: &Reservation) -> bool {
        ctx.total_cents > self.threshold_cents
    }

    #[guard]
    fn approved(&self, _ctx: &OrderMachineContext, decision: &ApprovalDecision) -> bool {
        decision.approved
    }

    #[action]
    fn keep_reservation(&self, cx: &mut OrderMachineAction<'_>, reserved: &Reservation) {
        cx.context.reservation_id = Some(reserved.reservation_id.clone());
    }

    #[action]
    fn reject(&self, cx: &mut OrderMachineAction<'_>, decision: &ApprovalDecision) {
        let why = decision
            .note
            .clone()
            .unwrap_or_else(|| "declined".to_owned());
        cx.context.status = Some(OrderStatus::Rejected);
        cx.context.reason = Some(format!("{}: {why}", decision.reviewer));
    }

    #[action]
    fn keep_charge(&self, cx: &mut OrderMachineAction<'_>, charge: &Charge) {
        cx.context.charge_id = Some(charge.charge_id.clone());
    }

    /// The child workflow failed: its system error is data here, the order decides.
    #[action]
    fn payment_failed(&self, cx: &mut OrderMachineAction<'_>, error: &ArvoErrorPayload) {
        cx.context.status = Some(OrderStatus::PaymentFailed);
        cx.context.reason = Some(error.error_message.clone());
    }

    #[action]
    fn shipped(&self, cx: &mut OrderMachineAction<'_>, shipment: &Shipment) {
        cx.context.status = Some(OrderStatus::Completed);
        cx.context.tracking_id = Some(shipment.tracking_id.clone());
    }

    /// A system error of inventory, approval or shipping fails the workflow.
    #[action]
    fn fail(
        &self,
        cx: &mut OrderMachineAction<'_>,
        error: &ArvoErrorPayload,
    ) -> Result<(), HandlerError> {
        Err(HandlerError::msg(format!(
            "order {} failed: {}",
            cx.context.order.order_id, error.error_message
        )))
    }
}
