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

    // `store` takes an event payload; entry actions have no event.
    #[state(initial, entry(store))]
    #[on(inc::Success, target = finished, actions(store))]
    fn waiting(&self) {}

    #[state(final)]
    fn finished(&self) {}

    #[action]
    fn store(&self, cx: &mut MAction<'_>, v: &Value) { cx.context.value = v.value; }
}

fn main() {}
