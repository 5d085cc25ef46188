//! A handler implemented in this crate for a contract declared in `arvo-example-contracts`,
//! run by the handler runtime on an event built with the contract's factory.
//!
//! Run: `cargo run -p arvo-examples --bin cross_crate`.

use arvo_example_contracts::{
    AddInput, AddOutput, CalcAdd, CalcAddHandler, CalcAddV1_0_0, CalcAddV1_0_0Emits,
};
use arvo_runtime::factory::{ArvoEventFactory, EventInput};
use arvo_runtime::handler::{ArvoEventHandler, ParentContext};
use arvo_runtime::typed::{Emission, HandlerOutput, Input, TypedContract};

/// The calculator: the compiler checks it implements every version of `CalcAdd` and emits only
/// what version 1.0.0 declares.
struct Calculator;

impl CalcAddHandler for Calculator {
    async fn v1_0_0(&self, input: Input<'_, CalcAddV1_0_0>) -> HandlerOutput<CalcAddV1_0_0> {
        let AddInput { a, b } = input.data;
        // The triggering event is at hand, e.g. to log its subject.
        if let Some(event) = input.event() {
            println!("adding for subject {}", event.subject());
        }
        let sum = CalcAddV1_0_0Emits::Success(AddOutput { result: a + b });
        Ok(vec![Emission::new(sum).executionunits(1.0)])
    }
}

/// Polls a future that never waits (nothing in this handler waits) to completion.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let handler = ArvoEventHandler::typed::<CalcAdd, _>(Calculator)
        .executionunits(0.0)
        .build()?;
    let contract = <CalcAdd as TypedContract>::try_contract()?;
    let event = ArvoEventFactory::new(contract.version("1.0.0")?).accepts(
        EventInput::new("com.example.client", serde_json::json!({"a": 2, "b": 40}))
            .with_subject("order-1"),
    )?;
    for out in block_on(handler.execute(&event, ParentContext::Event))? {
        println!("{}", out.to_json_string());
    }
    Ok(())
}
