//! The two resumable orchestrators of the order workflow: `arvo.orc.order.process` (the
//! order) and `arvo.orc.order.payment` (the payment sub-workflow it starts as a child).
//!
//! Both are typed resumable handlers written with
//! [`#[arvo_resumable]`](arvo_runtime::arvo_resumable) on a plain `impl` block: the macro
//! implements [`ResumableHandler`](arvo_runtime::resumable::ResumableHandler) for each
//! `#[version]` method and generates the enum of what wakes each step up ([`OrderFlowEvent`],
//! [`PaymentFlowEvent`]: `Init`, then per declared service what it emits or its system error)
//! and a `resumable(memory)` builder. The init payload, the service responses, the context kept
//! between steps and the completion are Rust types; the runtime validates every event against
//! its contract, stores the context in the memory and routes the answers back.

use arvo_example_contracts::order::{
    ApprovalRequest, Charge, ChargeRequest, InventoryReserveV1_0_0, InventoryReserveV1_0_0Emits,
    Order, OrderApprovalV1_0_0, OrderApprovalV1_0_0Emits, OrderProcess, OrderProcessV1_0_0,
    OrderProcessV1_0_0Emits, OrderResult, OrderStatus, PaymentChargeV1_0_0,
    PaymentChargeV1_0_0Emits, PaymentFlowV1_0_0, PaymentFlowV1_0_0Emits, ReserveRequest,
    ShipRequest, ShippingScheduleV1_0_0, ShippingScheduleV1_0_0Emits,
};
use arvo_runtime::handler::DomainSpec;
use arvo_runtime::prelude::*;
use serde::{Deserialize, Serialize};

/// The domain of events that wait for a human (see the broker's domained hook).
pub const HUMAN_REVIEW: &str = "human.review";

/// Orders above this total (in cents) need a human's approval.
pub const DEFAULT_APPROVAL_THRESHOLD_CENTS: u64 = 100_000;

/// What the order workflow remembers between steps (stored in the memory as `state$$`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderContext {
    /// The order.
    pub order: Order,
    /// Its total in cents.
    pub total_cents: u64,
    /// The stock reservation, once made.
    pub reservation_id: Option<String>,
    /// The charge, once paid.
    pub charge_id: Option<String>,
}

/// The order workflow `arvo.orc.order.process`:
/// 1. reserve the stock (`com.inventory.reserve`);
/// 2. above [`threshold_cents`](Self::threshold_cents), ask a human
///    (`com.order.approval.request` in the domain [`HUMAN_REVIEW`]); a refusal completes the
///    order as `rejected`;
/// 3. pay in the child workflow `arvo.orc.order.payment`; its system error completes the
///    order as `payment_failed`;
/// 4. ship (`com.shipping.schedule`) and complete as `completed`.
///
/// A system error of inventory, approval or shipping fails the workflow (its own system
/// error goes back to whoever started the order).
#[derive(Debug, Clone, Copy)]
pub struct OrderFlow {
    /// The approval threshold in cents.
    pub threshold_cents: u64,
}

impl Default for OrderFlow {
    fn default() -> Self {
        Self {
            threshold_cents: DEFAULT_APPROVAL_THRESHOLD_CENTS,
        }
    }
}

type OrderStep<'a> = OrderFlowStep<'a, OrderProcessV1_0_0>;
type OrderOutcome = Outcome<OrderProcessV1_0_0, OrderContext>;

fn finish(
    ctx: &OrderContext,
    status: OrderStatus,
    tracking_id: Option<String>,
    reason: Option<String>,
) -> OrderOutcome {
    Outcome::wait().complete(OrderProcessV1_0_0Emits::Complete(OrderResult {
        order_id: ctx.order.order_id.clone(),
        status,
        total_cents: ctx.total_cents,
        charge_id: ctx.charge_id.clone(),
        tracking_id,
        reason,
    }))
}

fn pay(step: &OrderStep<'_>, ctx: OrderContext) -> Result<OrderOutcome, HandlerError> {
    let child = step.start_child::<PaymentFlowV1_0_0, _>(ChargeRequest {
        order_id: ctx.order.order_id.clone(),
        amount_cents: ctx.total_cents,
        card: ctx.order.card.clone(),
    })?;
    Ok(Outcome::wait().context(ctx).call(child))
}

#[arvo_resumable(
    contract = OrderProcess,
    context = OrderContext,
    services(
        inventory = InventoryReserveV1_0_0,
        approval = OrderApprovalV1_0_0,
        payment = PaymentFlowV1_0_0,
        shipping = ShippingScheduleV1_0_0,
    ),
    services_enum = OrderServices,
)]
impl OrderFlow {
    #[version("1.0.0")]
    async fn v1_0_0(&self, step: OrderStep<'_>) -> OrderFlowResult<OrderProcessV1_0_0> {
        use OrderFlowEvent as On;
        let ctx = match (&step.event, step.context) {
            (On::Init(init), _) => {
                let order = init.data.clone();
                let reserve = step.call::<InventoryReserveV1_0_0>(&ReserveRequest {
                    order_id: order.order_id.clone(),
                    items: order.items.clone(),
                })?;
                let ctx = OrderContext {
                    total_cents: order.total_cents(),
                    order,
                    reservation_id: None,
                    charge_id: None,
                };
                return Ok(Outcome::wait().context(ctx).call(reserve));
            }
            (_, Some(ctx)) => ctx,
            // Every step after the init one has the context the init step stored.
            (_, None) => return Err(HandlerError::msg("order workflow without its context")),
        };
        let mut ctx = ctx.clone();
        match &step.event {
            On::Init(_) => Ok(Outcome::wait()),
            On::Inventory(InventoryReserveV1_0_0Emits::Success(r)) => {
                ctx.reservation_id = Some(r.reservation_id.clone());
                if ctx.total_cents <= self.threshold_cents {
                    return pay(&step, ctx);
                }
                let ask = step
                    .call::<OrderApprovalV1_0_0>(&ApprovalRequest {
                        order_id: ctx.order.order_id.clone(),
                        customer: ctx.order.customer.clone(),
                        total_cents: ctx.total_cents,
                    })?
                    .domains(vec![DomainSpec::literal(HUMAN_REVIEW)?]);
                Ok(Outcome::wait().context(ctx).call(ask))
            }
            On::Approval(OrderApprovalV1_0_0Emits::Decided(d)) => {
                if d.approved {
                    pay(&step, ctx)
                } else {
                    let why = d.note.clone().unwrap_or_else(|| "declined".to_owned());
                    Ok(finish(
                        &ctx,
                        OrderStatus::Rejected,
                        None,
                        Some(format!("{}: {why}", d.reviewer)),
                    ))
                }
            }
            On::Payment(PaymentFlowV1_0_0Emits::Complete(charge)) => {
                ctx.charge_id = Some(charge.charge_id.clone());
                let ship = step.call::<ShippingScheduleV1_0_0>(&ShipRequest {
                    order_id: ctx.order.order_id.clone(),
                    address: ctx.order.address.clone(),
                })?;
                Ok(Outcome::wait().context(ctx).call(ship))
            }
            // The child workflow failed: its system error is data here, the order decides.
            On::PaymentError(e) => Ok(finish(
                &ctx,
                OrderStatus::PaymentFailed,
                None,
                Some(e.error_message.clone()),
            )),
            On::Shipping(ShippingScheduleV1_0_0Emits::Success(s)) => {
                let tracking = Some(s.tracking_id.clone());
                Ok(finish(&ctx, OrderStatus::Completed, tracking, None))
            }
            On::InventoryError(e) | On::ApprovalError(e) | On::ShippingError(e) => {
                Err(HandlerError::msg(format!(
                    "order {} failed: {}",
                    ctx.order.order_id, e.error_message
                )))
            }
        }
    }
}

/// The payment sub-workflow `arvo.orc.order.payment`: charges the card
/// (`com.payment.charge`) and completes with the charge. A declined card fails it: the
/// runtime sends its system error to the parent workflow, with the parent's subject.
#[derive(Debug, Clone, Copy, Default)]
pub struct PaymentFlow;

// The contract shares this struct's name, hence its full path.
#[arvo_resumable(
    contract = arvo_example_contracts::order::PaymentFlow,
    context = ChargeRequest,
    services(charge = PaymentChargeV1_0_0),
)]
impl PaymentFlow {
    #[version("1.0.0")]
    async fn v1_0_0(
        &self,
        step: PaymentFlowStep<'_, PaymentFlowV1_0_0>,
    ) -> PaymentFlowResult<PaymentFlowV1_0_0> {
        use PaymentFlowEvent::{Charge as Charged, ChargeError, Init};
        match &step.event {
            Init(init) => {
                let charge = step.call::<PaymentChargeV1_0_0>(&init.data)?;
                Ok(Outcome::wait().context(init.data.clone()).call(charge))
            }
            Charged(PaymentChargeV1_0_0Emits::Success(c)) => Ok(Outcome::wait().complete(
                PaymentFlowV1_0_0Emits::Complete(Charge {
                    charge_id: c.charge_id.clone(),
                    amount_cents: c.amount_cents,
                }),
            )),
            ChargeError(e) => Err(HandlerError::msg(format!(
                "payment failed: {}",
                e.error_message
            ))),
        }
    }
}
