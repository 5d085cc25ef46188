//! Shared by the integration tests: the README's contracts and resumable, the CI rule for
//! tools that may be missing, and temporary folders.
#![allow(dead_code, missing_docs)]

use arvo_docs::Catalogue;
use arvo_runtime::handler::HandlerError;
use arvo_runtime::resumable::{Outcome, ServiceEvent};
use arvo_runtime::{arvo_contract, arvo_resumable};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

// ---- The README's contracts ("A contract, a handler and an orchestrator"), verbatim. ----

#[derive(Clone, Serialize, Deserialize, JsonSchema)]
pub struct Greet {
    pub name: String,
}

#[derive(Serialize, Deserialize, JsonSchema)]
pub struct Greeting {
    pub text: String,
}

/// A service contract: accepts `com.greet.user`, emits `evt.greet.user.success` (or `sys.com.greet.user.error`).
#[arvo_contract(uri = "#/greet", type = "greet.user", simple,
    version("1.0.0", accepts = Greet, emits = Greeting))]
pub struct GreetService;

/// An orchestrator contract: started by `arvo.orc.welcome`, completes with `arvo.orc.welcome.done`.
#[arvo_contract(uri = "#/welcome", orchestrator = "welcome",
    version("1.0.0", init = Greet, complete = Greeting))]
pub struct Welcome;

pub struct WelcomeFlow;

#[arvo_resumable(contract = Welcome, context = (), services(greet = GreetServiceV1_0_0))]
impl WelcomeFlow {
    #[version("1.0.0")]
    async fn v1(&self, step: WelcomeFlowStep<'_, WelcomeV1_0_0>) -> WelcomeFlowResult<WelcomeV1_0_0> {
        if let Some(init) = &step.input {
            return Ok(Outcome::wait().call(step.call::<GreetServiceV1_0_0>(&init.data)?));
        }
        use ServiceEvent::{Emitted, SystemError};
        match step.service {
            Some(WelcomeFlowServices::Greet(Emitted(GreetServiceV1_0_0Emits::Success(g)))) => {
                Ok(Outcome::wait().complete(WelcomeV1_0_0Emits::Complete(g)))
            }
            Some(WelcomeFlowServices::Greet(SystemError(e))) => Err(HandlerError::msg(e.error_message)),
            None => Ok(Outcome::wait()),
        }
    }
}

/// The README's catalogue: the service and the resumable (which brings its contract).
pub fn readme_catalogue() -> Catalogue {
    match Catalogue::builder("README example")
        .typed::<GreetService>()
        .resumable::<WelcomeFlow, WelcomeV1_0_0>()
        .build()
    {
        Ok(c) => c,
        Err(e) => panic!("the README's contracts must document: {e}"),
    }
}

/// The examples' catalogue.
pub fn examples_catalogue() -> Catalogue {
    match arvo_docs::examples::catalogue() {
        Ok(c) => c,
        Err(e) => panic!("the examples must document: {e}"),
    }
}

/// A tool a test needs is missing (`why`): under `CI=true` that fails the test, elsewhere
/// the test prints why and passes.
pub fn missing_tool(test: &str, why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: {why}, and CI=true: .ci/run must install it");
    }
    eprintln!("skipping {test}: {why} (set up by .ci/run; under CI=true this fails)");
}

/// A fresh temporary folder, removed when dropped.
pub fn tempdir() -> tempfile::TempDir {
    match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("cannot create a temporary folder: {e}"),
    }
}
