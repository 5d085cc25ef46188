use arvo_runtime::prelude::*;
use arvo_ui_tests::machine::*;

#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Ctx {
    value: i64,
}

pub struct M;

// A typo in a service path: one error, at the path, however often the service is used.
#[arvo_machine(contract = Counter, version = "1.0.0", context = Ctx, services(inc = IncrememtV1_0_0))]
impl M {
    #[context]
    fn start(&self, init: &Delta) -> Ctx { Ctx { value: init.delta } }

    #[state(initial)]
    #[on(inc::Success, target = finished)]
    #[on(inc::SystemError, target = finished)]
    fn waiting(&self) {}

    #[state(final)]
    fn finished(&self) {}
}

fn main() {}
