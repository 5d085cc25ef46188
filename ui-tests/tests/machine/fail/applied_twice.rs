// `#[arvo_machine]` twice on one impl block: one error at the second attribute.
use arvo_runtime::prelude::*;
use arvo_ui_tests::machine::*;

#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Ctx {
    value: i64,
}

pub struct M;

#[arvo_machine(contract = Counter, version = "1.0.0", context = Ctx, services(inc = IncrementV1_0_0))]
#[arvo_machine(contract = Counter, version = "1.0.0", context = Ctx, services(inc = IncrementV1_0_0))]
impl M {
    #[context]
    fn start(&self, init: &Delta) -> Ctx { Ctx { value: init.delta } }

    #[state(initial)]
    #[on(inc::Success, target = finished)]
    fn waiting(&self) {}

    #[state(final)]
    fn finished(&self) {}
}

fn main() {}
