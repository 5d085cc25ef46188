//! `crate = "..."` when the runtime is reached through another path, a private contract in a
//! module, and a contract without emits.
mod runtime {
    pub use arvo_runtime::*;
}

mod inner {
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, JsonSchema)]
    pub struct Ping {}

    #[crate::runtime::arvo_contract(
        crate = "crate::runtime",
        uri = "#/ping",
        type = "com.ping.send",
        version("0.0.1", accepts = Ping),
    )]
    pub(crate) struct PingContract;

    pub(crate) struct H;

    impl PingContractHandler for H {
        async fn v0_0_1(&self, _: crate::runtime::typed::Input<'_, PingContractV0_0_1>) -> crate::runtime::typed::HandlerOutput<PingContractV0_0_1> {
            Ok(Vec::new())
        }
    }
}

fn main() {
    assert_eq!(inner::PingContract::TYPE, "com.ping.send");
    assert_eq!(inner::PingContract::VERSIONS, ["0.0.1"]);
    let _ = inner::H;
}
