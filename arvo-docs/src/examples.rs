//! The catalogue of the workspace's examples: the contracts of `arvo-example-contracts` (the
//! calculator of the benchmarks and the order workflow of `cargo demo`) and the demo's two
//! resumables, `OrderFlow` and `PaymentFlow` (feature `examples`, on by default).

use crate::{Catalogue, DocsError, Orchestrator};
use arvo_example_contracts::order::{
    InventoryReserve, OrderApproval, OrderProcess, OrderProcessV1_0_0, PaymentCharge, PaymentFlow,
    PaymentFlowV1_0_0, ShippingSchedule,
};
use arvo_example_contracts::{CalcAdd, CalcAddV1_0_0, CalcFlow};
use arvo_runtime::typed::ContractVersion;

/// The examples' catalogue, as `cargo run -p arvo-docs` writes it.
///
/// ```
/// let catalogue = arvo_docs::examples::catalogue()?;
/// assert_eq!(catalogue.orchestrators().len(), 3);
/// # Ok::<(), arvo_docs::DocsError>(())
/// ```
///
/// # Errors
/// When a contract cannot be documented (none can fail today; a test checks it).
pub fn catalogue() -> Result<Catalogue, DocsError> {
    Catalogue::builder("Arvo for Rust examples")
        .version(env!("CARGO_PKG_VERSION"))
        .description(
            "The order workflow of `cargo demo` (reserve stock, a human approval above a threshold, payment in a child workflow, shipping) and the calculator of the benchmarks.",
        )
        .typed::<InventoryReserve>()
        .typed::<PaymentCharge>()
        .typed::<ShippingSchedule>()
        .typed::<OrderApproval>()
        .typed::<CalcAdd>()
        .resumable::<arvo_examples::order::OrderFlow, OrderProcessV1_0_0>()
        .resumable::<arvo_examples::order::PaymentFlow, PaymentFlowV1_0_0>()
        .typed::<OrderProcess>()
        .typed::<PaymentFlow>()
        // The benchmarks' calculator workflow (B3) calls `com.calc.add`; its resumable lives in
        // the benchmark, so its calls are declared here.
        .orchestrator(Orchestrator::typed::<CalcFlow>()?.calls("1.0.0", [CalcAddV1_0_0::versioned()]))
        .build()
}
