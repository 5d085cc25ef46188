//! One typed contract and its handler, executed directly on an event: no broker, no memory.
//!
//! Run: `cargo run -p arvo-examples --bin single_handler`.
//!
//! It shows the three answers a handler can give:
//! 1. the events its contract declares (`evt.fx.convert.success`), with every envelope field
//!    filled in by the runtime (`source`, `to` = the caller, `parentid`, `dataschema`, ...);
//! 2. a **system error** event (`sys.com.fx.convert.error`) when the implementation fails: an
//!    ordinary event sent back to the caller, who decides what to do;
//! 3. a **violation** when the input breaks the contract: returned to the infrastructure
//!    (nothing is emitted), because no business code can fix a malformed event.

use arvo_runtime::arvo_contract;
use arvo_runtime::factory::{ArvoEventFactory, EventInput};
use arvo_runtime::handler::{ArvoEventHandler, ParentContext};
use arvo_runtime::typed::{ContractVersion, HandlerError, HandlerOutput, Input};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A conversion request.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Convert {
    /// Amount in cents of `from`.
    pub amount_cents: u64,
    /// ISO currency code.
    pub from: String,
    /// ISO currency code.
    pub to: String,
}

/// A conversion result.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Converted {
    /// Amount in cents of the target currency.
    pub amount_cents: u64,
    /// The rate used.
    pub rate: f64,
}

/// The contract: accepts `com.fx.convert`, emits `evt.fx.convert.success`.
#[arvo_contract(
    uri = "#/demo/fx/convert",
    type = "fx.convert",
    simple,
    version("1.0.0", accepts = Convert, emits = Converted),
)]
pub struct FxConvert;

fn rate(from: &str, to: &str) -> Option<f64> {
    match (from, to) {
        ("EUR", "USD") => Some(1.08),
        ("USD", "EUR") => Some(0.93),
        (a, b) if a == b => Some(1.0),
        _ => None,
    }
}

/// The handler: implements the `FxConvertHandler` trait `#[arvo_contract]` generated, one
/// method per contract version.
struct Converter;

impl FxConvertHandler for Converter {
    async fn v1_0_0(&self, input: Input<'_, FxConvertV1_0_0>) -> HandlerOutput<FxConvertV1_0_0> {
        let req = input.data; // a `Convert`, validated against the schema already
        let Some(rate) = rate(&req.from, &req.to) else {
            return Err(HandlerError::msg(format!(
                "no rate from {} to {}",
                req.from, req.to
            )));
        };
        let out = FxConvertV1_0_0Emits::Success(Converted {
            amount_cents: (req.amount_cents as f64 * rate).round() as u64,
            rate,
        });
        Ok(vec![out.into()])
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let handler = ArvoEventHandler::typed::<FxConvert, _>(Converter).build()?;

    // Events of the contract are built with its factory (validated, dataschema set).
    let factory = ArvoEventFactory::new(FxConvertV1_0_0::versioned());
    let ask =
        |data| factory.accepts(EventInput::new("com.demo.checkout", data).with_subject("cart-42"));

    println!("1. a valid request -> the contract's success event:");
    let event = ask(json!({"amount_cents": 10_000, "from": "EUR", "to": "USD"}))?;
    for out in handler.execute(&event, ParentContext::Event).await? {
        println!("{}", serde_json::to_string_pretty(&out.to_json_value())?);
    }

    println!("\n2. the implementation fails -> a system error event, back to the caller:");
    let event = ask(json!({"amount_cents": 10_000, "from": "EUR", "to": "JPY"}))?;
    for out in handler.execute(&event, ParentContext::Event).await? {
        println!("{}", serde_json::to_string_pretty(&out.to_json_value())?);
    }

    println!("\n3. the input breaks the contract -> a violation, nothing emitted:");
    let bad = arvo_runtime::ArvoEvent::builder()
        .source("com.demo.checkout")
        .event_type(FxConvert::TYPE)
        .subject("cart-42")
        .dataschema(FxConvertV1_0_0::DATASCHEMA)
        .data_json(json!({"amount_cents": -5, "from": "EUR"}))
        .build()?;
    match handler.execute(&bad, ParentContext::Event).await {
        Err(violation) => println!("{} violation: {violation}", violation.violation_type()),
        Ok(events) => println!("unexpected: {} events", events.len()),
    }
    Ok(())
}
