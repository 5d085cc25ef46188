use arvo_runtime::prelude::*;
use arvo_ui_tests::machine::*;

#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Ctx {
    value: i64,
}

pub struct M;

#[arvo_machine(contract = Counter, version = "1.0.0", context = Ctx, services(inc = IncrementV1_0_0))]
impl M {
    #[context]
    fn start(&self, init: &Delta) -> Ctx { Ctx { value: init.delta } }

    #[state(initial)]
    #[on_done(target = finshed)] // a typo
    fn working(&self) {}

    #[state(parent = working, initial)]
    #[on(inc::Success, target = answered)]
    #[on_done(target = finished)] // an atomic state is never done
    fn asking(&self) {}

    #[state(parent = working, final)]
    fn answered(&self) {}

    #[state(final)]
    #[on_done(target = working)] // a final state has no transitions
    fn finished(&self) {}
}

fn main() {}
