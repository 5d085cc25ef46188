use arvo_runtime::resumable::Outcome;
use arvo_runtime::{arvo_contract, arvo_resumable};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize, JsonSchema)]
pub struct AddInput {
    pub a: f64,
    pub b: f64,
}

#[derive(Clone, Serialize, Deserialize, JsonSchema)]
pub struct AddResult {
    pub result: f64,
}

#[arvo_contract(uri = "#/calc/add", type = "calc.add", simple,
    version("1.0.0", accepts = AddInput, emits = AddResult))]
pub struct CalcAdd;

use arvo_runtime::memory::InMemoryMemory;
use arvo_runtime::resumable::{ResumableHandler, ServiceEvents};

#[arvo_contract(uri = "#/calc/flow", orchestrator = "calc.flow",
    version("1.0.0", init = AddInput, complete = AddResult),
    version("2.0.0", init = AddInput, complete = AddResult))]
pub struct CalcFlow;

#[arvo_contract(uri = "#/calc/audit", type = "calc.audit", simple,
    version("1.0.0", accepts = AddResult, emits = AddResult))]
pub struct Audit;

#[derive(Clone, Serialize, Deserialize)]
pub struct Ctx {
    pub a: f64,
}

/// A workflow with two services and two versions; a helper method stays untouched.
pub struct CalcWorkflow {
    pub scale: f64,
}

#[arvo_resumable(contract = CalcFlow, context = Ctx,
    services(calc = CalcAddV1_0_0, audit_log = AuditV1_0_0), services_enum = CalcCalls)]
impl CalcWorkflow {
    #[version("1.0.0")]
    async fn v1(&self, step: CalcWorkflowStep<'_, CalcFlowV1_0_0>) -> CalcWorkflowResult<CalcFlowV1_0_0> {
        use CalcWorkflowEvent::*;
        match &step.event {
            Init(init) => {
                let AddInput { a, b } = init.data;
                let call = step.call::<CalcAddV1_0_0>(&AddInput { a: self.scaled(a), b })?;
                Ok(Outcome::wait().context(Ctx { a }).call(call))
            }
            Calc(CalcAddV1_0_0Emits::Success(r)) => {
                Ok(Outcome::wait().complete(CalcFlowV1_0_0Emits::Complete(r.clone())))
            }
            AuditLog(_) | AuditLogError(_) | CalcError(_) => Ok(Outcome::wait()),
        }
    }

    #[version("2.0.0")]
    async fn v2(&self, _step: CalcWorkflowStep<'_, CalcFlowV2_0_0>) -> CalcWorkflowResult<CalcFlowV2_0_0> {
        Ok(Outcome::wait())
    }

    fn scaled(&self, x: f64) -> f64 {
        x * self.scale
    }
}

fn is_handler<V: arvo_runtime::typed::ContractVersion, H: ResumableHandler<V>>() {}

fn main() {
    is_handler::<CalcFlowV1_0_0, CalcWorkflow>();
    is_handler::<CalcFlowV2_0_0, CalcWorkflow>();
    let contracts = CalcCalls::contracts();
    assert_eq!(contracts.len(), 2);
    assert_eq!(contracts[0].0, "calc");
    assert_eq!(contracts[1].0, "audit_log");
    assert_eq!(contracts[1].1.uri(), "#/calc/audit");
    let resumable = CalcWorkflow { scale: 2.0 }
        .resumable(InMemoryMemory::new())
        .executionunits(1.0)
        .build()
        .unwrap();
    assert_eq!(resumable.source(), "arvo.orc.calc.flow");
    assert_eq!(resumable.services().len(), 2);
    assert!(resumable.requires_locking());
}
