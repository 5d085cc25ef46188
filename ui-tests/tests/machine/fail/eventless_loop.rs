// `#[always]` transitions that leave states for one another whatever their guards decide: the
// machine would never settle. One error, at the first state's unguarded transition, naming the
// loop (`a` is left for `b` by a guarded transition or by the unguarded one, both back in).
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
    #[always(target = c, guard = positive)]
    #[always(target = b)]
    fn a(&self) {}

    #[state]
    #[always(target = a)]
    fn b(&self) {}

    #[state]
    #[always(target = b)]
    #[on(inc::Success, target = done)]
    fn c(&self) {}

    #[state(final)]
    fn done(&self) {}

    #[guard]
    fn positive(&self, ctx: &Ctx) -> bool { ctx.value > 0 }
}

fn main() {}
