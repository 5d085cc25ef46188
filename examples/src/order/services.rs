//! The three stateless services of the order workflow, each a typed handler of one contract
//! of [`arvo_example_contracts::order`]: a struct implementing the handler trait that
//! `#[arvo_contract]` generates (`InventoryReserveHandler`, ...), run by
//! [`ArvoEventHandler::typed`]. A method receives the contract version's input payload,
//! already validated against its schema and typed, and returns values of the version's
//! `Emits` enum, so a handler can only emit what its contract declares.

use arvo_example_contracts::order::{
    Charge, ChargeRequest, InventoryReserve, InventoryReserveHandler, InventoryReserveV1_0_0,
    InventoryReserveV1_0_0Emits, PaymentCharge, PaymentChargeHandler, PaymentChargeV1_0_0,
    PaymentChargeV1_0_0Emits, Reservation, ReserveRequest, ShipRequest, Shipment, ShippingSchedule,
    ShippingScheduleHandler, ShippingScheduleV1_0_0, ShippingScheduleV1_0_0Emits,
};
use arvo_runtime::handler::{ArvoEventHandler, ArvoEventHandlerBuilder};
use arvo_runtime::typed::{HandlerError, HandlerOutput, Input};

/// The card token the payment service declines (the payment-failure path).
pub const DECLINED_CARD: &str = "tok_declined";

/// The inventory service (`com.inventory.reserve`): reserves every line of the order.
///
/// ```
/// use arvo_example_contracts::order::{InventoryReserveHandler, InventoryReserveV1_0_0Emits, LineItem, ReserveRequest};
/// use arvo_examples::order::InventoryService;
/// use arvo_runtime::typed::Input;
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let item = LineItem { sku: "A".into(), quantity: 3, unit_price_cents: 100 };
/// let req = ReserveRequest { order_id: "ORD-1".into(), items: vec![item] };
/// let out = InventoryService.v1_0_0(Input::new(req)).await?;
/// let InventoryReserveV1_0_0Emits::Success(r) = &out[0].event;
/// assert_eq!((r.reservation_id.as_str(), r.units), ("rsv-ORD-1", 3));
/// # Ok::<(), Box<dyn std::error::Error>>(()) })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct InventoryService;

impl InventoryReserveHandler for InventoryService {
    async fn v1_0_0(
        &self,
        input: Input<'_, InventoryReserveV1_0_0>,
    ) -> HandlerOutput<InventoryReserveV1_0_0> {
        let ReserveRequest { order_id, items } = input.data;
        let units = items.iter().map(|i| i.quantity).sum();
        let out = InventoryReserveV1_0_0Emits::Success(Reservation {
            reservation_id: format!("rsv-{order_id}"),
            units,
        });
        Ok(vec![out.into()])
    }
}

/// The payment service (`com.payment.charge`): charges the card; fails with a system error
/// for [`DECLINED_CARD`].
#[derive(Debug, Clone, Copy, Default)]
pub struct PaymentService;

impl PaymentChargeHandler for PaymentService {
    async fn v1_0_0(
        &self,
        input: Input<'_, PaymentChargeV1_0_0>,
    ) -> HandlerOutput<PaymentChargeV1_0_0> {
        let ChargeRequest {
            order_id,
            amount_cents,
            card,
        } = input.data;
        if card == DECLINED_CARD {
            // A plain error: the runtime turns it into `sys.com.payment.charge.error`, sent
            // back to the caller, which decides what to do (a violation would go to the
            // broker instead).
            return Err(HandlerError::msg(format!(
                "card declined: {card} for {amount_cents} cents"
            )));
        }
        let out = PaymentChargeV1_0_0Emits::Success(Charge {
            charge_id: format!("ch-{order_id}"),
            amount_cents,
        });
        Ok(vec![out.into()])
    }
}

/// The shipping service (`com.shipping.schedule`): books a shipment, two days to Berlin,
/// five elsewhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct ShippingService;

impl ShippingScheduleHandler for ShippingService {
    async fn v1_0_0(
        &self,
        input: Input<'_, ShippingScheduleV1_0_0>,
    ) -> HandlerOutput<ShippingScheduleV1_0_0> {
        let ShipRequest { order_id, address } = input.data;
        let out = ShippingScheduleV1_0_0Emits::Success(Shipment {
            tracking_id: format!("trk-{order_id}"),
            eta_days: if address.contains("Berlin") { 2 } else { 5 },
        });
        Ok(vec![out.into()])
    }
}

/// The handler of [`InventoryService`]. Returns the builder, so the caller may add a tracer
/// or other settings before `build()`.
pub fn inventory() -> ArvoEventHandlerBuilder {
    ArvoEventHandler::typed::<InventoryReserve, _>(InventoryService)
}

/// The handler of [`PaymentService`]. Returns the builder (see [`inventory`]).
pub fn payment() -> ArvoEventHandlerBuilder {
    ArvoEventHandler::typed::<PaymentCharge, _>(PaymentService)
}

/// The handler of [`ShippingService`]. Returns the builder (see [`inventory`]).
pub fn shipping() -> ArvoEventHandlerBuilder {
    ArvoEventHandler::typed::<ShippingSchedule, _>(ShippingService)
}
