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

    #[state(initial, parallel)]
    fn both(&self) {}
    // Regions of a parallel state are all entered: `initial` has no meaning.
    #[state(parent = both, initial)]
    fn left(&self) {}
    #[state(parent = both)]
    fn right(&self) {}

    // A final state takes no transitions and has no children.
    #[state(final)]
    #[on(inc::Success, target = both)]
    fn finished(&self) {}
    #[state(parent = finished)]
    fn after(&self) {}

    #[state(parallel, final)]
    fn confused(&self) {}
}

fn main() {}
