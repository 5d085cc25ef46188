// A resumable can only call (or start as a child) the versions in its `services(..)`: calling
// another one is a compile error at the call, not a run-time Config violation.
use arvo_runtime::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize, JsonSchema)]
pub struct Greet {
    pub name: String,
}

#[derive(Serialize, Deserialize, JsonSchema)]
pub struct Greeting {
    pub text: String,
}

#[arvo_contract(uri = "#/greet", type = "greet.user", simple,
    version("1.0.0", accepts = Greet, emits = Greeting),
    version("2.0.0", accepts = Greet, emits = Greeting))]
pub struct GreetService;

#[arvo_contract(uri = "#/audit", type = "audit.log", simple, version("1.0.0", accepts = Greet, emits = Greeting))]
pub struct Audit;

#[arvo_contract(uri = "#/child", orchestrator = "child", version("1.0.0", init = Greet, complete = Greeting))]
pub struct Child;

#[arvo_contract(uri = "#/welcome", orchestrator = "welcome", version("1.0.0", init = Greet, complete = Greeting))]
pub struct Welcome;

struct WelcomeFlow;

#[arvo_resumable(contract = Welcome, context = (), services(greet = GreetServiceV1_0_0))]
impl WelcomeFlow {
    #[version("1.0.0")]
    async fn v1(&self, step: WelcomeFlowStep<'_, WelcomeV1_0_0>) -> WelcomeFlowResult<WelcomeV1_0_0> {
        let WelcomeFlowEvent::Init(init) = &step.event else { return Ok(Outcome::wait()) };
        let declared = step.call::<GreetServiceV1_0_0>(&init.data)?;
        let other_version = step.call::<GreetServiceV2_0_0>(&init.data)?; // error: 2.0.0 is not declared
        let other_service = step.call::<AuditV1_0_0>(&init.data)?; // error: not a service
        let child = step.start_child::<ChildV1_0_0, _>(init.data.clone())?; // error: not declared
        Ok(Outcome::wait().call(declared).call(other_version).call(other_service).call(child))
    }
}

fn main() {}
