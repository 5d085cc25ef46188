//! The three stateless services of the order workflow, each a handler of one contract of
//! [`arvo_example_contracts::order`], written with
//! [`#[arvo_handler]`](arvo_runtime::arvo_handler) on the `impl` block of a unit struct (one
//! `#[version]` method per contract version). A method receives the version's input payload,
//! already validated against its schema and typed, and returns one value of the version's
//! `Emits` enum, so a handler can only emit what its contract declares. The broker takes the
//! values themselves (`EventBroker::builder().handler(InventoryService)`); [`inventory`],
//! [`payment`] and [`shipping`] return their builders, for options such as a tracer.
//! Each is also in the program's registry (`register`: a worker serves them all with
//! `WorkerProgram::registered_handlers()`, as `order-worker` does).

// The version markers (`InventoryReserveV1_0_0`, ...) are named by the macro's expansion.
use arvo_example_contracts::order::{
    Charge, ChargeRequest, InventoryReserve, InventoryReserveV1_0_0, InventoryReserveV1_0_0Emits,
    PaymentCharge, PaymentChargeV1_0_0, PaymentChargeV1_0_0Emits, Reservation, ReserveRequest,
    ShipRequest, Shipment, ShippingSchedule, ShippingScheduleV1_0_0, ShippingScheduleV1_0_0Emits,
};
use arvo_runtime::handler::ArvoEventHandlerBuilder;
use arvo_runtime::prelude::*;

/// The card token the payment service declines (the payment-failure path).
pub const DECLINED_CARD: &str = "tok_declined";

/// The inventory service (`com.inventory.reserve`): reserves every line of the order.
///
/// ```
/// use arvo_example_contracts::order::{InventoryReserveV1_0_0Emits, LineItem, ReserveRequest};
/// use arvo_examples::order::InventoryService;
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let item = LineItem { sku: "A".into(), quantity: 3, unit_price_cents: 100 };
/// let req = ReserveRequest { order_id: "ORD-1".into(), items: vec![item] };
/// let InventoryReserveV1_0_0Emits::Success(r) = InventoryService.reserve(req).await?;
/// assert_eq!((r.reservation_id.as_str(), r.units), ("rsv-ORD-1", 3));
/// # Ok::<(), Box<dyn std::error::Error>>(()) })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct InventoryService;

#[arvo_handler(contract = InventoryReserve, register)]
impl InventoryService {
    /// Version 1.0.0: one reservation for the whole order.
    ///
    /// # Errors
    /// Never (the signature is the handler's).
    #[version("1.0.0")]
    pub async fn reserve(
        &self,
        input: ReserveRequest,
    ) -> Result<InventoryReserveV1_0_0Emits, HandlerError> {
        let ReserveRequest { order_id, items } = input;
        let units = items.iter().map(|i| i.quantity).sum();
        Ok(InventoryReserveV1_0_0Emits::Success(Reservation {
            reservation_id: format!("rsv-{order_id}"),
            units,
        }))
    }
}

/// The payment service (`com.payment.charge`): charges the card; fails with a system error
/// for [`DECLINED_CARD`].
#[derive(Debug, Clone, Copy, Default)]
pub struct PaymentService;

#[arvo_handler(contract = PaymentCharge, register)]
impl PaymentService {
    /// Version 1.0.0: charges the full amount.
    ///
    /// # Errors
    /// For [`DECLINED_CARD`].
    #[version("1.0.0")]
    pub async fn charge(
        &self,
        input: ChargeRequest,
    ) -> Result<PaymentChargeV1_0_0Emits, HandlerError> {
        let ChargeRequest {
            order_id,
            amount_cents,
            card,
        } = input;
        if card == DECLINED_CARD {
            // A plain error: the runtime turns it into `sys.com.payment.charge.error`, sent
            // back to the caller, which decides what to do (a violation would go to the
            // broker instead).
            return Err(HandlerError::msg(format!(
                "card declined: {card} for {amount_cents} cents"
            )));
        }
        Ok(PaymentChargeV1_0_0Emits::Success(Charge {
            charge_id: format!("ch-{order_id}"),
            amount_cents,
        }))
    }
}

/// The shipping service (`com.shipping.schedule`): books a shipment, two days to Berlin,
/// five elsewhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct ShippingService;

#[arvo_handler(contract = ShippingSchedule, register)]
impl ShippingService {
    /// Version 1.0.0: one shipment to the order's address.
    ///
    /// # Errors
    /// Never (the signature is the handler's).
    #[version("1.0.0")]
    pub async fn schedule(
        &self,
        input: ShipRequest,
    ) -> Result<ShippingScheduleV1_0_0Emits, HandlerError> {
        let ShipRequest { order_id, address } = input;
        Ok(ShippingScheduleV1_0_0Emits::Success(Shipment {
            tracking_id: format!("trk-{order_id}"),
            eta_days: if address.contains("Berlin") { 2 } else { 5 },
        }))
    }
}

/// The handler of [`InventoryService`], as a builder, so the caller may add a tracer or other
/// settings before `build()` (the broker also takes the builder itself).
pub fn inventory() -> ArvoEventHandlerBuilder {
    ArvoEventHandler::of(InventoryService)
}

/// The handler of [`PaymentService`], as a builder (see [`inventory`]).
pub fn payment() -> ArvoEventHandlerBuilder {
    ArvoEventHandler::of(PaymentService)
}

/// The handler of [`ShippingService`], as a builder (see [`inventory`]).
pub fn shipping() -> ArvoEventHandlerBuilder {
    ArvoEventHandler::of(ShippingService)
}
