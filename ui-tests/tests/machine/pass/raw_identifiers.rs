//! Raw identifiers for states, guards, actions and service keys (`r#loop`, `r#if`, `r#move`,
//! `r#ref`): the machine compiles, and its states are named without the `r#` (`loop`), as a
//! snapshot and a diagram name them.

use arvo_runtime::machine::MachineStatus;
use arvo_runtime::prelude::*;
use arvo_ui_tests::machine::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize)]
pub struct Ctx {
    value: i64,
}

pub struct r#Machine;

#[arvo_machine(contract = Counter, version = "1.0.0", context = Ctx, services(r#ref = IncrementV1_0_0))]
impl r#Machine {
    #[context]
    fn r#start(&self, init: &Delta) -> Ctx {
        Ctx { value: init.delta }
    }

    #[output]
    fn r#done(&self, ctx: &Ctx) -> Value {
        Value { value: ctx.value }
    }

    #[state(initial)]
    #[on(r#ref::Success, target = r#loop, guard = r#if, actions(r#move))]
    #[on(r#ref::Success, target = r#else)]
    fn r#waiting(&self, cx: &mut MachineAction<'_>) -> Result<(), HandlerError> {
        let delta = cx.context.value;
        cx.call::<IncrementV1_0_0>(&Delta { delta })
    }

    #[state(final)]
    fn r#loop(&self) {}

    #[state(final)]
    fn r#else(&self) {}

    #[guard]
    fn r#if(&self, _ctx: &Ctx, answer: &Value) -> bool {
        answer.value > 10
    }

    #[action]
    fn r#move(&self, cx: &mut MachineAction<'_>, answer: &Value) {
        cx.context.value = answer.value;
    }
}

fn main() {
    let machine = r#Machine.machine().unwrap_or_else(|e| panic!("{e}"));
    let diagram = machine.mermaid();
    assert!(diagram.contains("state \"loop\""), "{diagram}");
    assert!(!diagram.contains("r#"), "{diagram}");

    let init = CounterV1_0_0::init("com.example.client", Delta { delta: 3 }).unwrap_or_else(|e| panic!("{e}"));
    let step = machine.start(&init).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(step.events[0].event_type, "com.number.increment");
    let answer = ArvoEventFactory::new(IncrementV1_0_0::versioned())
        .emits(
            EventInput::new("com.number.increment", serde_json::json!({"value": 30}))
                .with_type("evt.number.increment.success")
                .with_subject(init.subject()),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let done = machine.resume(step.snapshot, &answer).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(done.snapshot.status, MachineStatus::Done);
    assert_eq!(done.output, Some(serde_json::json!({"value": 30})));
    let snapshot = serde_json::to_value(&done.snapshot).unwrap_or_else(|e| panic!("{e}"));
    assert!(snapshot.to_string().contains("\"loop\""), "{snapshot}");
}
