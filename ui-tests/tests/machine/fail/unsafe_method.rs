// The generated machine calls its guards from safe code: an `unsafe fn` guard is refused at its
// `unsafe`, once, not with E0133 inside the expansion.
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
    #[on(inc::Success, target = finished, guard = is_big, actions(store))]
    fn waiting(&self) {}

    #[state(final)]
    fn finished(&self) {}

    #[guard]
    unsafe fn is_big(&self, _ctx: &Ctx, v: &Value) -> bool { v.value > 10 }

    #[action]
    fn store(&self, _cx: &mut MAction<'_>) {}
}

fn main() {}
