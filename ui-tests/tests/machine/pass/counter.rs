//! A machine with a guard, typed payloads, an output and a system-error transition, built and
//! run step by step by the engine.

use arvo_runtime::machine::MachineStatus;
use arvo_runtime::prelude::*;
use arvo_runtime::ArvoErrorPayload;
use arvo_ui_tests::machine::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize)]
pub struct Ctx {
    value: i64,
    delta: i64,
    error: Option<String>,
}

pub struct CounterMachine {
    limit: i64,
}

#[arvo_machine(contract = Counter, version = "1.0.0", context = Ctx,
    services(inc = IncrementV1_0_0, audit = AuditV1_0_0))]
impl CounterMachine {
    #[context]
    fn start(&self, init: &Delta) -> Ctx {
        Ctx { value: 0, delta: init.delta, error: None }
    }

    #[output]
    fn done(&self, ctx: &Ctx) -> Value {
        Value { value: ctx.value }
    }

    /// Asks the increment service.
    #[state(initial)]
    #[on(inc::Success, target = auditing, guard = too_big, actions(store))]
    #[on(inc::Success, target = finished, actions(store))]
    #[on(inc::SystemError, target = failed, actions(record_error))]
    fn incrementing(&self, cx: &mut CounterMachineAction<'_>) -> Result<(), HandlerError> {
        let delta = cx.context.delta;
        cx.call::<IncrementV1_0_0>(&Delta { delta })
    }

    #[state]
    #[on(audit::EvtNumberAuditOk, target = finished)]
    #[on(audit::EvtNumberAuditFlagged, target = failed)]
    fn auditing(&self, cx: &mut CounterMachineAction<'_>) -> Result<(), HandlerError> {
        let delta = cx.context.value;
        cx.call::<AuditV1_0_0>(&Delta { delta })
    }

    #[state(final)]
    fn finished(&self) {}

    #[state(final)]
    fn failed(&self) {}

    #[guard]
    fn too_big(&self, _ctx: &Ctx, answer: &Value) -> bool {
        answer.value > self.limit
    }

    #[action]
    fn store(&self, cx: &mut CounterMachineAction<'_>, answer: &Value) {
        cx.context.value = answer.value;
    }

    #[action]
    fn record_error(&self, cx: &mut CounterMachineAction<'_>, error: &ArvoErrorPayload) {
        cx.context.error = Some(error.error_message.clone());
    }
}

fn answer(init: &ArvoEvent, ty: &str, data: serde_json::Value) -> ArvoEvent {
    ArvoEventFactory::new(IncrementV1_0_0::versioned())
        .emits(EventInput::new("com.number.increment", data).with_type(ty).with_subject(init.subject()))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn main() {
    let machine = CounterMachine { limit: 10 }.machine().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(machine.source(), "arvo.orc.counter");
    assert_eq!(machine.services().len(), 2);
    // Audit emits two event types: the runtime must lock.
    assert!(machine.requires_locking());
    let diagram = machine.mermaid();
    assert!(diagram.contains("too_big"), "{diagram}");

    let init = CounterV1_0_0::init("com.example.client", Delta { delta: 3 }).unwrap_or_else(|e| panic!("{e}"));
    let step = machine.start(&init).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(step.events.len(), 1);
    assert_eq!(step.events[0].event_type, "com.number.increment");
    assert_eq!(step.events[0].data["delta"], 3);

    // A small value: straight to `finished`, with the output.
    let ok = answer(&init, "evt.number.increment.success", serde_json::json!({"value": 3}));
    let done = machine.resume(step.snapshot.clone(), &ok).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(done.snapshot.status, MachineStatus::Done);
    assert_eq!(done.output, Some(serde_json::json!({"value": 3})));

    // A large value: the guard sends it to the audit.
    let big = answer(&init, "evt.number.increment.success", serde_json::json!({"value": 30}));
    let audit = machine.resume(step.snapshot.clone(), &big).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(audit.snapshot.status, MachineStatus::Active);
    assert_eq!(audit.events[0].event_type, "com.number.audit");
    assert_eq!(audit.snapshot.context.value, 30);

    // The service's system error: `failed`, the message kept.
    let payload: ArvoErrorPayload = serde_json::from_value(
        serde_json::json!({"errorName": "Error", "errorMessage": "boom", "errorStack": null}),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let err = ArvoEventFactory::new(IncrementV1_0_0::versioned())
        .system_error_payload(&payload, EventInput::new("com.number.increment", serde_json::json!({})).with_subject(init.subject()))
        .unwrap_or_else(|e| panic!("{e}"));
    let failed = machine.resume(step.snapshot, &err).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(failed.snapshot.status, MachineStatus::Done);
    assert_eq!(failed.snapshot.context.error.as_deref(), Some("boom"));
}
