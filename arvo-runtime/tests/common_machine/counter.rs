//! The "counter" machine of `tests/ArvoMachine` (spec §13.8.1) and its `tests/ExecuteMachine`
//! variant (§13.3), over the contracts of [`super::contracts`].

use arvo_runtime::event::{ArvoEvent, EventIdInput};
use arvo_runtime::factory::{ArvoOrchestratorEventFactory, EventInput};
use arvo_runtime::handler::{Domain, DomainSpec, HandlerError, RawOutput};
use arvo_runtime::machine::{ArvoMachine, MachineBuilder};
use arvo_runtime::subject::{self, NewSubject};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::contracts::{
    ArvoError, NumberDecrement, NumberIncrement, NumberNotification, Operation, TestMachine,
};

/// The counter's context: `{...input.data, errors: []}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CounterContext {
    /// The init's `delta`.
    pub delta: f64,
    /// The init's `type`.
    #[serde(rename = "type")]
    pub kind: Operation,
    /// The errors collected (`assignEventError`).
    pub errors: Vec<ArvoError>,
}

/// Which variant of the counter machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// §13.8.1 (`tests/ArvoMachine` test 8): ids and domains on the emits, `__id` and
    /// `__executionunits` in the output.
    ArvoMachine,
    /// §13.3 (`tests/ExecuteMachine`): plain emits, `enqueue(notif {delta, type})` then
    /// `emit(notif {delta: -1, type})`, output `{final}`.
    ExecuteMachine,
}

/// The states of the counter machine, added to `builder`.
pub fn counter_states(
    builder: MachineBuilder<CounterContext>,
    variant: Variant,
) -> MachineBuilder<CounterContext> {
    let external = || DomainSpec::Literal(Domain::new("external").unwrap());
    builder
        .initial("route")
        .state("route", |s| {
            s.always(|t| {
                t.target("increment")
                    .guard_named("isIncrement", |c: &CounterContext, _| {
                        c.kind == Operation::Increment
                    })
            })
            .always(|t| {
                t.target("decrement")
                    .guard_named("isDecrement", |c: &CounterContext, _| {
                        c.kind == Operation::Decrement
                    })
            })
            .always(|t| {
                t.target("error").action(|c: &mut CounterContext, _, _| {
                    c.errors.push(ArvoError::new(
                        "Invalid type",
                        &format!("Invalid operation type => {:?}", c.kind),
                    ));
                    Ok(())
                })
            })
        })
        .state("increment", |s| {
            s.entry(move |c: &mut CounterContext, _, out| {
                let mut call = RawOutput::new("com.number.increment", json!({"delta": c.delta}));
                if variant == Variant::ArvoMachine {
                    call.id = Some(EventIdInput::DeveloperManaged("custom-increment-id".into()));
                    call.domain = Some(vec![DomainSpec::Local, external()]);
                }
                out.emit(call)
            })
            .on("evt.number.increment.success", |t| t.target("notification"))
            .on("sys.com.number.increment.error", |t| {
                t.target("error").action(assign_event_error)
            })
        })
        .state("decrement", |s| {
            s.entry(|c: &mut CounterContext, _, out| {
                out.emit(RawOutput::new(
                    "com.number.decrement",
                    json!({"delta": c.delta}),
                ))
            })
            .on("evt.number.decrement.success", |t| t.target("notification"))
        })
        .state("notification", |s| {
            s.entry(move |c: &mut CounterContext, _, out| {
                let notif = json!({"delta": c.delta, "type": c.kind});
                match variant {
                    Variant::ArvoMachine => {
                        out.enqueue(RawOutput::new("notif.number.update", notif.clone()));
                        let mut e = RawOutput::new("notif.number.update", notif);
                        e.domain = Some(vec![external()]);
                        out.emit(e)
                    }
                    Variant::ExecuteMachine => {
                        out.enqueue(RawOutput::new("notif.number.update", notif));
                        out.emit(RawOutput::new(
                            "notif.number.update",
                            json!({"delta": -1, "type": c.kind}),
                        ))
                    }
                }
            })
            .always(|t| t.target("done"))
        })
        .state("done", |s| s.final_state())
        .state("error", |s| s.final_state())
}

/// `assignEventError`: appends the event's data (an `ArvoErrorSchema`) to `errors`.
fn assign_event_error(
    c: &mut CounterContext,
    e: &ArvoEvent,
    _: &mut arvo_runtime::machine::Emitter<'_>,
) -> Result<(), HandlerError> {
    let err: ArvoError = serde_json::from_value(serde_json::Value::Object(e.data().clone()))
        .map_err(|e| HandlerError::msg(e.to_string()))?;
    c.errors.push(err);
    Ok(())
}

/// The context factory: `{...input.data, errors: []}`.
pub fn counter_context(init: &ArvoEvent) -> Result<CounterContext, HandlerError> {
    let d = init.data();
    Ok(CounterContext {
        delta: d
            .get("delta")
            .and_then(serde_json::Value::as_f64)
            .ok_or_else(|| HandlerError::msg("no delta"))?,
        kind: serde_json::from_value(d.get("type").cloned().unwrap_or_default())
            .map_err(|e| HandlerError::msg(e.to_string()))?,
        errors: Vec::new(),
    })
}

/// The counter machine builder (services, context, output), without states.
pub fn counter_builder(variant: Variant) -> MachineBuilder<CounterContext> {
    let b = ArvoMachine::builder("counter", TestMachine::contract().version("0.0.1").unwrap())
        .service(
            "increment",
            NumberIncrement::contract().version("0.0.1").unwrap(),
        )
        .service("decrement", NumberDecrement::contract().latest())
        .service("notification", NumberNotification::contract().latest())
        .context(counter_context);
    match variant {
        Variant::ArvoMachine => b.output(|c| {
            Ok(json!({
                "final": c.delta,
                "__id": {"deduplication": "ARVO_MANAGED", "value": "custom-orch-1"},
                "__executionunits": 23,
            }))
        }),
        Variant::ExecuteMachine => b.output(|c| Ok(json!({"final": c.delta}))),
    }
}

/// The counter machine.
pub fn counter_machine(variant: Variant) -> ArvoMachine<CounterContext> {
    counter_states(counter_builder(variant), variant)
        .build()
        .unwrap()
}

/// The init event of the counter (§13.8.1): subject
/// `new({orchestator: 'arvo.orc.test', version: '0.0.1', initiator: 'com.test.service'})`,
/// source `com.test.service`, data `{parentSubject$$: null, type, delta}`.
pub fn counter_init(kind: &str, delta: f64) -> ArvoEvent {
    let subject = subject::new(NewSubject {
        orchestrator: "arvo.orc.test",
        version: Some("0.0.1"),
        initiator: "com.test.service",
        domain: None,
        meta: Default::default(),
    })
    .unwrap();
    ArvoOrchestratorEventFactory::new(TestMachine::contract().version("0.0.1").unwrap())
        .unwrap()
        .init(
            EventInput::new(
                "com.test.service",
                json!({"parentSubject$$": null, "type": kind, "delta": delta}),
            )
            .with_subject(subject.into_string()),
        )
        .unwrap()
}
