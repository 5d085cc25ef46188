//! A handler implemented in this crate for a contract declared in `arvo-example-contracts`.
//!
//! Run: `cargo run -p arvo-examples --bin cross_crate`.

use arvo_example_contracts::{
    AddInput, AddOutput, CalcAdd, CalcAddHandler, CalcAddV1_0_0, CalcAddV1_0_0Emits,
};
use arvo_runtime::typed::{Emits, HandlerOutput, Input, TypedContract};

/// The calculator: the compiler checks it implements every version of `CalcAdd` and emits only
/// what version 1.0.0 declares.
struct Calculator;

impl CalcAddHandler for Calculator {
    async fn v1_0_0(&self, input: Input<CalcAddV1_0_0>) -> HandlerOutput<CalcAddV1_0_0> {
        let AddInput { a, b } = input.data;
        Ok(vec![CalcAddV1_0_0Emits::Success(AddOutput {
            result: a + b,
        })])
    }
}

/// Polls a future that never waits (the handler is synchronous inside) to completion.
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
    let contract = <CalcAdd as TypedContract>::try_contract()?;
    let versioned = contract.version("1.0.0")?;
    // Validate the input with the contract's schema, then hand the typed payload to the handler.
    let data = serde_json::json!({"a": 2, "b": 40});
    versioned.accepts().schema.validate(&data)?;
    let input: AddInput = serde_json::from_value(data)?;
    for out in block_on(Calculator.v1_0_0(Input::new(input)))? {
        let payload = out.to_data()?;
        let schema = &versioned.emit_list()[0].schema;
        schema.validate(&payload)?;
        println!(
            "{} {} (dataschema {})",
            out.event_type(),
            payload,
            versioned.dataschema()
        );
    }
    Ok(())
}
