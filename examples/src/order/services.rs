//! The three stateless services of the order workflow, each an [`ArvoEventHandler`] for one
//! contract of [`arvo_example_contracts::order`]: the input is read as the contract's typed
//! payload (`data_as`, after the runtime validated it against the contract's schema) and the
//! output is the contract version's typed `Emits` enum, so a handler can only emit what its
//! contract declares.

use arvo_example_contracts::order::{
    Charge, ChargeRequest, InventoryReserve, InventoryReserveV1_0_0, InventoryReserveV1_0_0Emits,
    PaymentCharge, PaymentChargeV1_0_0, PaymentChargeV1_0_0Emits, Reservation, ReserveRequest,
    ShipRequest, Shipment, ShippingSchedule, ShippingScheduleV1_0_0, ShippingScheduleV1_0_0Emits,
};
use arvo_runtime::handler::{
    ArvoEventHandler, ArvoEventHandlerBuilder, HandlerError, HandlerInput, HandlerResult, RawOutput,
};
use arvo_runtime::typed::{ContractVersion, Emits};

/// The card token the payment service declines (the payment-failure path).
pub const DECLINED_CARD: &str = "tok_declined";

/// One typed output as the handler runtime's [`RawOutput`].
///
/// # Errors
/// When the payload cannot be serialised.
pub fn emit(out: &impl Emits) -> Result<RawOutput, HandlerError> {
    Ok(RawOutput::new(out.event_type(), out.to_data()?))
}

fn reserve(input: HandlerInput<'_>) -> HandlerResult {
    let req: ReserveRequest = input.data_as()?;
    let units = req.items.iter().map(|i| i.quantity).sum();
    let out = InventoryReserveV1_0_0Emits::Success(Reservation {
        reservation_id: format!("rsv-{}", req.order_id),
        units,
    });
    Ok(vec![emit(&out)?])
}

fn charge(input: HandlerInput<'_>) -> HandlerResult {
    let req: ChargeRequest = input.data_as()?;
    if req.card == DECLINED_CARD {
        // A plain error: the runtime turns it into `sys.com.payment.charge.error`, sent back
        // to the caller, which decides what to do (a violation would go to the broker instead).
        return Err(HandlerError::msg(format!(
            "card declined: {} for {} cents",
            req.card, req.amount_cents
        )));
    }
    let out = PaymentChargeV1_0_0Emits::Success(Charge {
        charge_id: format!("ch-{}", req.order_id),
        amount_cents: req.amount_cents,
    });
    Ok(vec![emit(&out)?])
}

fn schedule(input: HandlerInput<'_>) -> HandlerResult {
    let req: ShipRequest = input.data_as()?;
    let out = ShippingScheduleV1_0_0Emits::Success(Shipment {
        tracking_id: format!("trk-{}", req.order_id),
        eta_days: if req.address.contains("Berlin") { 2 } else { 5 },
    });
    Ok(vec![emit(&out)?])
}

/// `com.inventory.reserve`: reserves every line of the order. Returns the builder, so the
/// caller may add a tracer or other settings before `build()`.
pub fn inventory() -> ArvoEventHandlerBuilder {
    ArvoEventHandler::builder(InventoryReserve::contract().clone())
        .version_sync(InventoryReserveV1_0_0::VERSION, reserve)
}

/// `com.payment.charge`: charges the card; fails with a system error for
/// [`DECLINED_CARD`]. Returns the builder (see [`inventory`]).
pub fn payment() -> ArvoEventHandlerBuilder {
    ArvoEventHandler::builder(PaymentCharge::contract().clone())
        .version_sync(PaymentChargeV1_0_0::VERSION, charge)
}

/// `com.shipping.schedule`: books a shipment (an async implementation). Returns the builder
/// (see [`inventory`]).
pub fn shipping() -> ArvoEventHandlerBuilder {
    ArvoEventHandler::builder(ShippingSchedule::contract().clone())
        .version(ShippingScheduleV1_0_0::VERSION, |input| {
            Box::pin(async move { schedule(input) })
        })
}
