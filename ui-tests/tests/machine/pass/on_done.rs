//! `#[on_done]`: a compound state is done when it reaches a final child, a parallel state
//! when every region is final; its `#[on_done]` transitions (guarded, with actions) are taken.

use arvo_runtime::machine::MachineStatus;
use arvo_runtime::prelude::*;
use arvo_ui_tests::machine::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize)]
pub struct Ctx {
    value: i64,
    log: Vec<String>,
}

pub struct D;

#[arvo_machine(contract = Counter, version = "1.0.0", context = Ctx,
    services(inc = IncrementV1_0_0, audit = AuditV1_0_0))]
impl D {
    #[context]
    fn start(&self, init: &Delta) -> Ctx {
        Ctx { value: init.delta, log: Vec::new() }
    }

    #[output]
    fn out(&self, ctx: &Ctx) -> Value {
        Value { value: ctx.value }
    }

    /// Done when `answered` is reached.
    #[state(initial)]
    #[on_done(target = auditing, guard = is_big, actions(note_working))]
    #[on_done(target = finished, actions(note_working))]
    fn working(&self) {}

    #[state(parent = working, initial)]
    #[on(inc::Success, target = answered, actions(store))]
    fn asking(&self, cx: &mut DAction<'_>) -> Result<(), HandlerError> {
        let delta = cx.context.value;
        cx.call::<IncrementV1_0_0>(&Delta { delta })
    }

    #[state(parent = working, final)]
    fn answered(&self) {}

    /// Done when both regions are final.
    #[state(parallel)]
    #[on_done(target = finished, actions(note_auditing))]
    fn auditing(&self) {}

    #[state(parent = auditing)]
    fn remote(&self) {}

    #[state(parent = remote, initial)]
    #[on(audit::EvtNumberAuditOk, target = remote_done)]
    fn remote_waiting(&self, cx: &mut DAction<'_>) -> Result<(), HandlerError> {
        let delta = cx.context.value;
        cx.call::<AuditV1_0_0>(&Delta { delta })
    }

    #[state(parent = remote, final)]
    fn remote_done(&self) {}

    #[state(parent = auditing)]
    fn local(&self) {}

    #[state(parent = local, initial)]
    #[always(target = local_done)]
    fn local_checking(&self) {}

    #[state(parent = local, final)]
    fn local_done(&self) {}

    #[state(final)]
    fn finished(&self) {}

    #[guard]
    fn is_big(&self, ctx: &Ctx) -> bool {
        ctx.value > 10
    }

    #[action]
    fn store(&self, cx: &mut DAction<'_>, v: &Value) {
        cx.context.value = v.value;
    }

    #[action]
    fn note_working(&self, cx: &mut DAction<'_>) {
        cx.context.log.push("working done".to_owned());
    }

    #[action]
    fn note_auditing(&self, cx: &mut DAction<'_>) {
        cx.context.log.push("auditing done".to_owned());
    }
}

fn answer<V: ContractVersion>(init: &ArvoEvent, to: &str, ty: &str, value: i64) -> ArvoEvent {
    ArvoEventFactory::new(V::versioned())
        .emits(
            EventInput::new(to, serde_json::json!({ "value": value }))
                .with_type(ty)
                .with_subject(init.subject()),
        )
        .unwrap_or_else(|e| panic!("{e}"))
}

fn main() {
    let machine = D.machine().unwrap_or_else(|e| panic!("{e}"));
    let diagram = machine.mermaid();
    assert!(diagram.contains("done"), "{diagram}");

    let init = CounterV1_0_0::init("com.example.client", Delta { delta: 3 })
        .unwrap_or_else(|e| panic!("{e}"));
    let step = machine.start(&init).unwrap_or_else(|e| panic!("{e}"));
    assert!(step.snapshot.value.matches("working.asking"));

    // A small value: `working` is done, its second `#[on_done]` ends the machine.
    let small = answer::<IncrementV1_0_0>(&init, "com.number.increment", "evt.number.increment.success", 5);
    let done = machine.resume(step.snapshot.clone(), &small).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(done.snapshot.status, MachineStatus::Done);
    assert_eq!(done.output, Some(serde_json::json!({"value": 5})));
    assert_eq!(done.snapshot.context.log, ["working done"]);

    // A large value: the guarded `#[on_done]` enters the parallel state; one region settles
    // at once, the other waits for the audit.
    let big = answer::<IncrementV1_0_0>(&init, "com.number.increment", "evt.number.increment.success", 30);
    let audit = machine.resume(step.snapshot, &big).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(audit.snapshot.status, MachineStatus::Active);
    assert!(audit.snapshot.value.matches("auditing.remote.remote_waiting"));
    assert!(audit.snapshot.value.matches("auditing.local.local_done"));
    assert_eq!(audit.events.len(), 1);
    assert_eq!(audit.events[0].event_type, "com.number.audit");

    // The last region becomes final: `auditing` is done.
    let ok = answer::<AuditV1_0_0>(&init, "com.number.audit", "evt.number.audit.ok", 30);
    let done = machine.resume(audit.snapshot, &ok).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(done.snapshot.status, MachineStatus::Done);
    assert_eq!(done.output, Some(serde_json::json!({"value": 30})));
    assert_eq!(done.snapshot.context.log, ["working done", "auditing done"]);
}
