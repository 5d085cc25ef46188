//! Shared fixtures of the resumable tests: the bench contracts C1 / C2, the calc handler H1 and
//! the resumable R of `resumable_workflow.json` (spec scenarios.md, workflow W).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arvo_runtime::arvo_contract;
use arvo_runtime::contract::ArvoContract;
use arvo_runtime::handler::{
    ArvoEventHandler, HandlerError, HandlerInput, HandlerResult, RawOutput,
};
use arvo_runtime::memory::MachineMemory;
use arvo_runtime::resumable::{
    ArvoResumable, Outcome, ResumableHandler, ResumableMemoryRecord, ServiceEvent, Step, StepEvent,
};
use arvo_runtime::typed::TypedContract;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// C1 input.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AddInput {
    /// a
    pub a: f64,
    /// b
    pub b: f64,
}

/// C1 output / C2 completion.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AddResult {
    /// The sum.
    pub result: f64,
}

/// C1 `com.calc.add`.
#[arvo_contract(uri = "#/bench/calc/add", type = "calc.add", simple,
    version("1.0.0", accepts = AddInput, emits = AddResult))]
pub struct CalcAdd;

/// C2 `arvo.orc.bench.calc`.
#[arvo_contract(uri = "#/bench/orchestrator/calc", orchestrator = "bench.calc",
    version("1.0.0", init = AddInput, complete = AddResult))]
pub struct CalcFlow;

/// The context R keeps: its init operands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalcContext {
    /// a
    pub a: f64,
    /// b
    pub b: f64,
}

#[derive(Debug)]
struct Msg(String);
impl std::fmt::Display for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Msg {}

/// The resumable R: init -> `com.calc.add {a, b}`; success -> completion `{result}`; the
/// service's system error -> throws `calc service failed: <message>`.
pub struct CalcResumable;

impl ResumableHandler<CalcFlowV1_0_0> for CalcResumable {
    type Context = CalcContext;
    type Services = ServiceEvent<CalcAddV1_0_0>;

    async fn handle(
        &self,
        step: Step<'_, CalcFlowV1_0_0, CalcContext, ServiceEvent<CalcAddV1_0_0>>,
    ) -> Result<Outcome<CalcFlowV1_0_0, CalcContext>, HandlerError> {
        if let StepEvent::Init(init) = &step.event {
            let AddInput { a, b } = init.data;
            let call = step.call::<CalcAddV1_0_0>(&AddInput { a, b })?;
            return Ok(Outcome::wait().context(CalcContext { a, b }).call(call));
        }
        match step.event {
            StepEvent::Service(ServiceEvent::Emitted(CalcAddV1_0_0Emits::Success(r))) => Ok(
                Outcome::wait().complete(CalcFlowV1_0_0Emits::Complete(AddResult {
                    result: r.result,
                })),
            ),
            StepEvent::Service(ServiceEvent::SystemError(e)) => Err(HandlerError::from(Msg(
                format!("calc service failed: {}", e.error_message),
            ))),
            StepEvent::Init(_) => Ok(Outcome::wait()),
        }
    }
}

/// R over `memory`.
pub fn calc_resumable<M>(memory: M) -> ArvoResumable<M, CalcContext>
where
    M: MachineMemory<ResumableMemoryRecord<CalcContext>>,
{
    ArvoResumable::builder(CalcFlow::orchestrator_contract().clone(), memory)
        .handler::<CalcFlowV1_0_0, _>(Arc::new(CalcResumable))
        .build()
        .unwrap()
}

fn calc(input: HandlerInput<'_>) -> HandlerResult {
    let d = input.event.data();
    let a = d.get("a").and_then(Value::as_f64).unwrap_or_default();
    let b = d.get("b").and_then(Value::as_f64).unwrap_or_default();
    if a < 0.0 || b < 0.0 {
        return Err(HandlerError::from(Msg(format!(
            "Negative operands are not supported (a={a}, b={b})"
        ))));
    }
    Ok(vec![RawOutput::new(
        "evt.calc.add.success",
        json!({"result": a + b}),
    )])
}

/// H1.
pub fn calc_handler() -> ArvoEventHandler {
    let contract: ArvoContract = <CalcAdd as TypedContract>::contract().clone();
    ArvoEventHandler::builder(contract)
        .version_sync("1.0.0", calc)
        .build()
        .unwrap()
}

/// Fan-out: init -> two `com.calc.add` calls; completes once both answers are collected with
/// the sum of both results. Counts its invocations.
pub struct FanOut {
    /// Counts the handler's runs.
    pub runs: Arc<AtomicUsize>,
}

impl ResumableHandler<CalcFlowV1_0_0> for FanOut {
    type Context = CalcContext;
    type Services = ServiceEvent<CalcAddV1_0_0>;

    async fn handle(
        &self,
        step: Step<'_, CalcFlowV1_0_0, CalcContext, ServiceEvent<CalcAddV1_0_0>>,
    ) -> Result<Outcome<CalcFlowV1_0_0, CalcContext>, HandlerError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        if let StepEvent::Init(init) = &step.event {
            let AddInput { a, b } = init.data;
            return Ok(Outcome::wait()
                .context(CalcContext { a, b })
                .call(step.call::<CalcAddV1_0_0>(&AddInput { a, b })?)
                .call(step.call::<CalcAddV1_0_0>(&AddInput { a: b, b: a })?));
        }
        let results = step.collected.of_type("evt.calc.add.success")?;
        if results.len() < 2 {
            return Ok(Outcome::wait());
        }
        let sum: f64 = results
            .iter()
            .map(|r| match r {
                ServiceEvent::Emitted(CalcAddV1_0_0Emits::Success(r)) => r.result,
                ServiceEvent::SystemError(_) => 0.0,
            })
            .sum();
        Ok(Outcome::wait().complete(CalcFlowV1_0_0Emits::Complete(AddResult { result: sum })))
    }
}
