//! A machine nested exactly as deep as a machine may (64 levels, `MAX_STATE_DEPTH`): the macro
//! accepts it and the runtime builds and runs it (the limit is one rule, in `arvo-rules`).

use arvo_runtime::machine::{MachineStatus, MAX_STATE_DEPTH};
use arvo_runtime::prelude::*;
use arvo_ui_tests::machine::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize)]
pub struct Ctx {
    value: i64,
}

pub struct Deep;

// `s1` holds `s2` holds ... `s64`, the deepest, which calls the increment service and, on its
// answer, leaves for the top-level final state.
#[arvo_machine(contract = Counter, version = "1.0.0", context = Ctx, services(inc = IncrementV1_0_0))]
impl Deep {
    #[context]
    fn start(&self, init: &Delta) -> Ctx { Ctx { value: init.delta } }

    #[output]
    fn out(&self, ctx: &Ctx) -> Value { Value { value: ctx.value } }

    #[state(initial)]
    fn s1(&self) {}
    #[state(initial, parent = s1)]
    fn s2(&self) {}
    #[state(initial, parent = s2)]
    fn s3(&self) {}
    #[state(initial, parent = s3)]
    fn s4(&self) {}
    #[state(initial, parent = s4)]
    fn s5(&self) {}
    #[state(initial, parent = s5)]
    fn s6(&self) {}
    #[state(initial, parent = s6)]
    fn s7(&self) {}
    #[state(initial, parent = s7)]
    fn s8(&self) {}
    #[state(initial, parent = s8)]
    fn s9(&self) {}
    #[state(initial, parent = s9)]
    fn s10(&self) {}
    #[state(initial, parent = s10)]
    fn s11(&self) {}
    #[state(initial, parent = s11)]
    fn s12(&self) {}
    #[state(initial, parent = s12)]
    fn s13(&self) {}
    #[state(initial, parent = s13)]
    fn s14(&self) {}
    #[state(initial, parent = s14)]
    fn s15(&self) {}
    #[state(initial, parent = s15)]
    fn s16(&self) {}
    #[state(initial, parent = s16)]
    fn s17(&self) {}
    #[state(initial, parent = s17)]
    fn s18(&self) {}
    #[state(initial, parent = s18)]
    fn s19(&self) {}
    #[state(initial, parent = s19)]
    fn s20(&self) {}
    #[state(initial, parent = s20)]
    fn s21(&self) {}
    #[state(initial, parent = s21)]
    fn s22(&self) {}
    #[state(initial, parent = s22)]
    fn s23(&self) {}
    #[state(initial, parent = s23)]
    fn s24(&self) {}
    #[state(initial, parent = s24)]
    fn s25(&self) {}
    #[state(initial, parent = s25)]
    fn s26(&self) {}
    #[state(initial, parent = s26)]
    fn s27(&self) {}
    #[state(initial, parent = s27)]
    fn s28(&self) {}
    #[state(initial, parent = s28)]
    fn s29(&self) {}
    #[state(initial, parent = s29)]
    fn s30(&self) {}
    #[state(initial, parent = s30)]
    fn s31(&self) {}
    #[state(initial, parent = s31)]
    fn s32(&self) {}
    #[state(initial, parent = s32)]
    fn s33(&self) {}
    #[state(initial, parent = s33)]
    fn s34(&self) {}
    #[state(initial, parent = s34)]
    fn s35(&self) {}
    #[state(initial, parent = s35)]
    fn s36(&self) {}
    #[state(initial, parent = s36)]
    fn s37(&self) {}
    #[state(initial, parent = s37)]
    fn s38(&self) {}
    #[state(initial, parent = s38)]
    fn s39(&self) {}
    #[state(initial, parent = s39)]
    fn s40(&self) {}
    #[state(initial, parent = s40)]
    fn s41(&self) {}
    #[state(initial, parent = s41)]
    fn s42(&self) {}
    #[state(initial, parent = s42)]
    fn s43(&self) {}
    #[state(initial, parent = s43)]
    fn s44(&self) {}
    #[state(initial, parent = s44)]
    fn s45(&self) {}
    #[state(initial, parent = s45)]
    fn s46(&self) {}
    #[state(initial, parent = s46)]
    fn s47(&self) {}
    #[state(initial, parent = s47)]
    fn s48(&self) {}
    #[state(initial, parent = s48)]
    fn s49(&self) {}
    #[state(initial, parent = s49)]
    fn s50(&self) {}
    #[state(initial, parent = s50)]
    fn s51(&self) {}
    #[state(initial, parent = s51)]
    fn s52(&self) {}
    #[state(initial, parent = s52)]
    fn s53(&self) {}
    #[state(initial, parent = s53)]
    fn s54(&self) {}
    #[state(initial, parent = s54)]
    fn s55(&self) {}
    #[state(initial, parent = s55)]
    fn s56(&self) {}
    #[state(initial, parent = s56)]
    fn s57(&self) {}
    #[state(initial, parent = s57)]
    fn s58(&self) {}
    #[state(initial, parent = s58)]
    fn s59(&self) {}
    #[state(initial, parent = s59)]
    fn s60(&self) {}
    #[state(initial, parent = s60)]
    fn s61(&self) {}
    #[state(initial, parent = s61)]
    fn s62(&self) {}
    #[state(initial, parent = s62)]
    fn s63(&self) {}
    #[state(initial, parent = s63)]
    #[on(inc::Success, target = finished, actions(store))]
    fn s64(&self, cx: &mut DeepAction<'_>) -> Result<(), HandlerError> {
        let delta = cx.context.value;
        cx.call::<IncrementV1_0_0>(&Delta { delta })
    }

    #[state(final)]
    fn finished(&self) {}

    #[action]
    fn store(&self, cx: &mut DeepAction<'_>, answer: &Value) {
        cx.context.value = answer.value;
    }
}

fn main() {
    let machine = Deep.machine().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(MAX_STATE_DEPTH, 64);
    assert_eq!(machine.state_paths().count(), MAX_STATE_DEPTH + 1);
    let init = CounterV1_0_0::init("com.example.client", Delta { delta: 2 }).unwrap_or_else(|e| panic!("{e}"));
    let step = machine.start(&init).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(step.events.len(), 1);
    assert!(step.snapshot.value.matches(&(1..=64).map(|l| format!("s{l}")).collect::<Vec<_>>().join(".")));
    let answer = ArvoEventFactory::new(IncrementV1_0_0::versioned())
        .emits(
            EventInput::new("com.number.increment", serde_json::json!({"value": 3}))
                .with_type("evt.number.increment.success")
                .with_subject(init.subject()),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let done = machine.resume(step.snapshot, &answer).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(done.snapshot.status, MachineStatus::Done);
    assert_eq!(done.output, Some(serde_json::json!({"value": 3})));
}
