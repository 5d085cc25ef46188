use arvo_runtime::prelude::*;
use arvo_ui_tests::machine::*;

#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Ctx {
    value: i64,
}

pub struct M;

#[arvo_machine(contract = Counter, context = Ctx, colour = "red", services(inc = IncrementV1_0_0))]
impl M {
    #[state(initial, sleepy)]
    #[on(target = finished)]
    fn waiting(&self) {}

    #[state(final)]
    fn finished(&self) {}
}

fn main() {}
