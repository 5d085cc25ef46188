//! Compound, parallel and final states, eventless (`#[always]`) transitions, a wildcard
//! transition, entry and exit actions: built and run step by step by the engine.

use arvo_runtime::machine::MachineStatus;
use arvo_runtime::prelude::*;
use arvo_ui_tests::machine::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize)]
pub struct Ctx {
    value: i64,
    log: Vec<String>,
}

pub struct H;

#[arvo_machine(contract = Counter, version = "1.0.0", context = Ctx, id = "hierarchy",
    services(inc = IncrementV1_0_0, audit = AuditV1_0_0))]
impl H {
    #[context]
    fn start(&self, init: &Delta) -> Ctx {
        Ctx { value: init.delta, log: Vec::new() }
    }

    #[output]
    fn out(&self, ctx: &Ctx) -> Value {
        Value { value: ctx.value }
    }

    /// A compound state.
    #[state(initial, exit(leave_working))]
    fn working(&self) {}

    #[state(parent = working, initial)]
    #[on(inc::Success, target = checking, actions(store))]
    fn asking(&self, cx: &mut HAction<'_>) -> Result<(), HandlerError> {
        let delta = cx.context.value;
        cx.call::<IncrementV1_0_0>(&Delta { delta })
    }

    #[state(parent = working)]
    #[always(target = reviewing, guard = is_big)]
    #[always(target = finished)]
    fn checking(&self) {}

    /// A parallel state: both regions are active.
    #[state(parallel, entry(request_audit))]
    fn reviewing(&self) {}

    #[state(parent = reviewing)]
    #[on(audit::EvtNumberAuditOk, target = finished)]
    fn verdict(&self) {}

    #[state(parent = reviewing)]
    #[on(*, actions(note))]
    fn journal(&self) {}

    #[state(final)]
    fn finished(&self) {}

    #[guard]
    fn is_big(&self, ctx: &Ctx) -> bool {
        ctx.value > 10
    }

    #[action]
    fn store(&self, cx: &mut HAction<'_>, v: &Value) {
        cx.context.value = v.value;
    }

    #[action]
    fn leave_working(&self, cx: &mut HAction<'_>) {
        cx.context.log.push("left working".to_owned());
    }

    #[action]
    fn request_audit(&self, cx: &mut HAction<'_>) -> Result<(), HandlerError> {
        let delta = cx.context.value;
        cx.call::<AuditV1_0_0>(&Delta { delta })
    }

    #[action]
    fn note(&self, cx: &mut HAction<'_>, event: &ArvoEvent) {
        cx.context.log.push(event.event_type().to_owned());
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
    let machine = H.machine().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(machine.id(), "hierarchy");
    assert!(machine.requires_locking(), "a parallel state requires the lock");
    let diagram = machine.mermaid();
    assert!(diagram.contains("--"), "the regions are separated: {diagram}");
    assert!(diagram.contains("always"), "{diagram}");

    let init = CounterV1_0_0::init("com.example.client", Delta { delta: 3 })
        .unwrap_or_else(|e| panic!("{e}"));
    let step = machine.start(&init).unwrap_or_else(|e| panic!("{e}"));
    assert!(step.snapshot.value.matches("working.asking"));
    assert_eq!(step.events[0].event_type, "com.number.increment");

    // A small value: `checking` settles at once into `finished`.
    let small = answer::<IncrementV1_0_0>(&init, "com.number.increment", "evt.number.increment.success", 5);
    let done = machine.resume(step.snapshot.clone(), &small).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(done.snapshot.status, MachineStatus::Done);
    assert_eq!(done.output, Some(serde_json::json!({"value": 5})));
    assert_eq!(done.snapshot.context.log, ["left working"]);

    // A large value: into the parallel state, whose entry asks for the audit.
    let big = answer::<IncrementV1_0_0>(&init, "com.number.increment", "evt.number.increment.success", 30);
    let review = machine.resume(step.snapshot, &big).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(review.snapshot.status, MachineStatus::Active);
    assert!(review.snapshot.value.matches("reviewing.verdict"));
    assert!(review.snapshot.value.matches("reviewing.journal"));
    assert_eq!(review.events.len(), 1);
    assert_eq!(review.events[0].event_type, "com.number.audit");

    // The verdict ends the machine.
    let ok = answer::<AuditV1_0_0>(&init, "com.number.audit", "evt.number.audit.ok", 30);
    let done = machine.resume(review.snapshot, &ok).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(done.snapshot.status, MachineStatus::Done);
    assert_eq!(done.output, Some(serde_json::json!({"value": 30})));
}
