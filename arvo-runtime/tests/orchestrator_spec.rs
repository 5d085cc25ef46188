//! The reference's `tests/ArvoOrchestrator/index.spec.ts` (spec §13.6) over the fixtures of
//! §13.8.2 (the increment, decrement and number.modifier orchestrators with the value.read /
//! value.write, increment and decrement services), including the broker scenarios A-D of
//! §13.8.3 (all handlers on one `EventBroker`): one Rust test per reference test, named after it.
//!
//! Deliberate differences (the ONE place they are listed):
//! * each orchestrator has its own `InMemoryMemory` (their context types differ); the reference
//!   shares one `SimpleMachineMemory`;
//! * the broker is FIFO and keeps no list of published events: "published" is every event
//!   delivered to a handler (input middleware), then the replies to the client, the unroutable
//!   and the domained events of the `resolve` outcome (the reference's `broker.events` counts
//!   the same events); the reference's `onError` is the outcome's `errors`;
//! * #9-#11 (a memory whose lock / read / write throws): the message keeps the reference's
//!   prefix and the memory's message; the memory error's own wording wraps the latter;
//! * the custom span names (`Increment Orchestrator@${type}`) are not ported (telemetry is
//!   tested elsewhere).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines
)]

mod common_machine;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use arvo_runtime::broker::{EventBroker, FailureKind, Resolution, Verdict};
use arvo_runtime::contract::VersionedContract;
use arvo_runtime::event::ArvoEvent;
use arvo_runtime::factory::{ArvoEventFactory, ArvoOrchestratorEventFactory, EventInput};
use arvo_runtime::handler::{ParentContext, TransactionCause, Violation};
use arvo_runtime::memory::{
    InMemoryMemory, Lease, LockPolicy, MachineMemory, MemoryError, MemoryOp, MemoryRecord, Version,
    Versioned,
};
use arvo_runtime::orchestrator::ArvoOrchestrator;
use arvo_runtime::subject::{self, NewSubject};
use common_machine::contracts::{
    DecFlow, Decrement, Dumb, IncFlow, Increment, NumberModifier, ValueRead, ValueWrite,
};
use common_machine::orchestrators::{
    DumbRecord, ValueRecord, decrement_agent, decrement_machines, dumb_agent, increment_agent,
    increment_machines, number_modifier_agent,
};
use common_machine::services::{self, Store};
use serde_json::{Value, json};

fn init_of(contract: VersionedContract, input: EventInput) -> ArvoEvent {
    ArvoOrchestratorEventFactory::new(contract)
        .unwrap()
        .init(input)
        .unwrap()
}

fn inc_init(key: &str) -> ArvoEvent {
    init_of(
        IncFlow::contract().version("0.0.1").unwrap(),
        EventInput::new(
            "com.test.test",
            json!({"key": key, "modifier": 2, "trend": "linear", "parentSubject$$": null}),
        ),
    )
}

async fn run<H: arvo_runtime::handler::EventHandler>(h: &H, e: &ArvoEvent) -> Vec<ArvoEvent> {
    h.execute(e, ParentContext::Event).await.unwrap()
}

fn store_with(key: &str, value: f64) -> Store {
    let store = services::store();
    store.lock().unwrap().insert(key.to_owned(), value);
    store
}

/// #1 A valid init flow through the increment orchestrator (0.0.1).
#[tokio::test]
async fn valid_init_flow() {
    let store = store_with("test.key", 2.0);
    let agent = increment_agent(InMemoryMemory::new());
    assert!(agent.requires_locking());
    let init = inc_init("test.key");
    let out = run(&agent, &init).await;
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].event_type(), "com.value.read");
    assert_eq!(out[0].to(), Some("com.value.read"));
    assert_eq!(out[0].source(), "arvo.orc.inc");
    let read = run(&services::value_read(store), &out[0]).await;
    let out = run(&agent, &read[0]).await;
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].event_type(), "com.increment.number");
    assert_eq!(out[0].to(), Some("com.increment.number"));
    assert_eq!(out[0].source(), "arvo.orc.inc");
    assert_eq!(out[0].data_value(), &json!({"init": 2.0, "increment": 2.0}));
    let result = run(&services::increment(), &out[0]).await;
    let out = run(&agent, &result[0]).await;
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].event_type(), "arvo.orc.inc.done");
    assert_eq!(out[0].to(), Some("com.test.test"));
    assert_eq!(out[0].source(), "arvo.orc.inc");
    assert_eq!(out[0].data()["success"], true);
    assert_eq!(out[0].data()["error"], json!([]));
    assert_eq!(out[0].data()["final"], 4.0);
}

/// #2 Lock denied (the increment orchestrator requires locking).
#[tokio::test]
async fn lock_denied() {
    let memory: InMemoryMemory<ValueRecord> = InMemoryMemory::with_policy(LockPolicy {
        max_retries: 1,
        initial_delay: Duration::from_millis(1),
        ..LockPolicy::default()
    });
    let agent = increment_agent(memory.clone());
    let init = inc_init("test.key");
    let held = memory
        .try_lock(init.subject(), Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    let v = agent
        .execute(&init, ParentContext::Event)
        .await
        .unwrap_err();
    assert!(matches!(
        v,
        Violation::Transaction {
            cause: TransactionCause::LockUnacquired,
            ..
        }
    ));
    assert!(
        v.to_string().contains(
            "Lock acquisition denied - Unable to obtain exclusive access to event processing"
        ),
        "{v}"
    );
    // The memory error behind it is kept, and a held lock may pass: the violation is transient.
    assert!(
        matches!(
            &v,
            Violation::Transaction { memory_error: Some(e), .. }
                if matches!(**e, arvo_runtime::memory::MemoryError::LockUnacquired { .. })
        ),
        "{v:?}"
    );
    assert!(v.is_transient());
    assert!(memory.read(init.subject()).await.unwrap().is_none());
    assert!(memory.unlock(&held).await.unwrap());
}

/// #3 A service's *accepts* event fed back to the orchestrator is in no contract it receives.
#[tokio::test]
async fn contract_unresolved() {
    let agent = increment_agent(InMemoryMemory::new());
    let out = run(&agent, &inc_init("test.key")).await;
    assert_eq!(out[0].event_type(), "com.value.read");
    let v = agent
        .execute(&out[0], ParentContext::Event)
        .await
        .unwrap_err();
    assert!(v.to_string().contains(
        "Contract validation failed - Event does not match any registered contract schemas in the machine"
    ), "{v}");
}

/// #4 A service answer whose data breaks the contract.
#[tokio::test]
async fn invalid_data() {
    let agent = increment_agent(InMemoryMemory::new());
    let init = inc_init("test.key.invalid");
    run(&agent, &init).await;
    let bad = ArvoEvent::builder()
        .source("com.value.read")
        .event_type("evt.value.read.success")
        .subject(init.subject())
        .dataschema("#/test/handler/value/read/0.0.1")
        .to("arvo.orc.inc")
        .data_json(json!({"value": "saad"}))
        .build()
        .unwrap();
    let v = agent.execute(&bad, ParentContext::Event).await.unwrap_err();
    assert_eq!(v.violation_type(), "Contract");
    assert!(
        v.to_string()
            .contains("Input validation failed - Event data does not meet contract requirements"),
        "{v}"
    );
}

/// #5 `parentid` of each emitted service call is the triggering event's id.
#[tokio::test]
async fn parentid_is_the_triggering_event() {
    let store = store_with("test.key", 2.0);
    let agent = increment_agent(InMemoryMemory::new());
    let init = inc_init("test.key");
    let out = run(&agent, &init).await;
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].parentid(), Some(init.id()));
    let read = run(&services::value_read(store), &out[0]).await;
    let out = run(&agent, &read[0]).await;
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].event_type(), "com.increment.number");
    assert_eq!(out[0].parentid(), Some(read[0].id()));
}

/// Every handler of §13.8.2 on one broker; returns the broker and the log of delivered events.
fn broker(store: &Store) -> (EventBroker, Arc<Mutex<Vec<ArvoEvent>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = Arc::clone(&log);
    let broker = EventBroker::builder()
        .handler(services::increment())
        .handler(services::decrement())
        .handler(services::value_read(store.clone()))
        .handler(services::value_write(store.clone()))
        .handler(increment_agent(InMemoryMemory::new()))
        .handler(decrement_agent(InMemoryMemory::new()))
        .handler(number_modifier_agent(InMemoryMemory::new()))
        .input_middleware(move |e, _| {
            l.lock().unwrap().push(e.clone());
            Verdict::Pass
        })
        .build()
        .unwrap();
    (broker, log)
}

/// Everything a `resolve` published: delivered events, then replies, unroutable, domained.
fn published(log: &Mutex<Vec<ArvoEvent>>, outcome: &Resolution) -> Vec<ArvoEvent> {
    let mut all = std::mem::take(&mut *log.lock().unwrap());
    all.extend(outcome.events.iter().cloned());
    all.extend(outcome.unroutable.iter().cloned());
    all.extend(outcome.domained.iter().cloned());
    all
}

fn modifier_init(
    version: &str,
    operation: &str,
    input: impl FnOnce(EventInput) -> EventInput,
) -> ArvoEvent {
    let trend = if version == "0.0.1" {
        "linear"
    } else {
        "exponential"
    };
    init_of(
        NumberModifier::contract().version(version).unwrap(),
        input(EventInput::new(
            "com.test.test",
            json!({"init": 1, "modifier": 4, "trend": trend, "operation": operation, "parentSubject$$": null}),
        )),
    )
}

/// #6 Nested orchestrators via the broker (scenario A): number.modifier starts the decrement
/// orchestrator as its child, which reads, decrements and completes back to its parent.
#[tokio::test]
async fn nested_orchestrators_via_broker() {
    let store = services::store();
    let (broker, log) = broker(&store);
    let init = modifier_init("0.0.1", "decrement", |i| i.with_domain("test.domain"));
    let outcome = broker.resolve(init.clone()).await.unwrap();
    let done = outcome.result().expect("the completion");
    assert_eq!(done.event_type(), "arvo.orc.number.modifier.done");
    assert_eq!(done.to(), Some("com.test.test"));
    assert_eq!(done.data()["success"], true);
    assert_eq!(done.data()["error"], json!([]));
    assert_eq!(done.data()["final"], -3.0);
    assert_eq!(done.domain(), None);
    let events = published(&log, &outcome);
    assert_eq!(
        events.len(),
        11,
        "{:?}",
        events.iter().map(ArvoEvent::event_type).collect::<Vec<_>>()
    );
    assert_eq!(events[0].event_type(), "arvo.orc.number.modifier");
    assert_eq!(events[0].to(), Some("arvo.orc.number.modifier"));
    assert_eq!(events[1].event_type(), "com.value.write");
    assert_eq!(events[1].to(), Some("com.value.write"));
    assert_eq!(events[1].subject(), init.subject());
    assert_eq!(events[1].data()["key"], init.subject());
    assert_eq!(events[1].data()["value"], 1.0);
    assert_eq!(events[3].event_type(), "arvo.orc.dec");
    assert_eq!(events[3].data()["parentSubject$$"], init.subject());
    let child = subject::parse(events[3].subject()).unwrap();
    assert_eq!(child.orchestrator.name, "arvo.orc.dec");
    assert_eq!(child.orchestrator.version, "0.0.1");
    assert_eq!(child.execution.initiator, "arvo.orc.number.modifier");
    assert_eq!(child.execution.domain.as_deref(), Some("test.domain"));
    assert_eq!(outcome.unroutable.len(), 1);
    assert_eq!(outcome.unroutable[0].event_type(), "com.notif.test");
    // An event whose subject is not an orchestration subject.
    let bad = ArvoEvent::builder()
        .source("com.test.test")
        .event_type("arvo.orc.number.modifier")
        .subject("test")
        .data_json(json!({}))
        .build()
        .unwrap();
    let v = number_modifier_agent(InMemoryMemory::new())
        .execute(&bad, ParentContext::Event)
        .await
        .unwrap_err();
    assert_eq!(
        v.to_string(),
        format!(
            "ViolationError<Execution> Invalid event (id={}) subject format. Expected an ArvoOrchestrationSubject but received 'test'. The subject must follow the format specified by ArvoOrchestrationSubject schema",
            bad.id()
        )
    );
}

/// #7 Machines of two orchestrators in one: refused.
#[test]
fn machines_must_share_a_source() {
    let err = ArvoOrchestrator::builder(InMemoryMemory::<ValueRecord>::new())
        .machines(increment_machines())
        .machines(decrement_machines())
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "All the machines in the orchestrator must have type 'arvo.orc.inc'"
    );
}

/// #8 The same versions twice: refused.
#[test]
fn machine_versions_must_be_unique() {
    let err = ArvoOrchestrator::builder(InMemoryMemory::<ValueRecord>::new())
        .machines(increment_machines())
        .machines(increment_machines())
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "An orchestrator must have unique machine versions. Machine ID:machineV001 has duplicate version 0.0.1."
    );
}

/// A memory whose `op` fails with `message`.
#[derive(Clone)]
struct Failing<T> {
    inner: InMemoryMemory<T>,
    op: MemoryOp,
    message: &'static str,
}

impl<T: MemoryRecord> Failing<T> {
    fn fail(&self, op: MemoryOp, id: &str) -> Result<(), MemoryError> {
        if op == self.op {
            return Err(MemoryError::backend(
                op,
                id,
                std::io::Error::other(self.message),
            ));
        }
        Ok(())
    }
}

impl<T: MemoryRecord> MachineMemory<T> for Failing<T> {
    async fn read(&self, id: &str) -> Result<Option<Versioned<T>>, MemoryError> {
        self.fail(MemoryOp::Read, id)?;
        self.inner.read(id).await
    }
    async fn write(
        &self,
        id: &str,
        record: T,
        expected: Option<Version>,
        lease: Option<&Lease>,
    ) -> Result<Version, MemoryError> {
        self.fail(MemoryOp::Write, id)?;
        self.inner.write(id, record, expected, lease).await
    }
    async fn delete(&self, id: &str, lease: Option<&Lease>) -> Result<bool, MemoryError> {
        self.inner.delete(id, lease).await
    }
    async fn try_lock(&self, id: &str, ttl: Duration) -> Result<Option<Lease>, MemoryError> {
        self.fail(MemoryOp::Lock, id)?;
        self.inner.try_lock(id, ttl).await
    }
    async fn unlock(&self, lease: &Lease) -> Result<bool, MemoryError> {
        self.inner.unlock(lease).await
    }
    async fn renew(&self, lease: &mut Lease, ttl: Duration) -> Result<(), MemoryError> {
        self.inner.renew(lease, ttl).await
    }
}

/// #9-#11 A memory whose lock, read or write throws: a transaction violation with the
/// reference's message; nothing is stored.
#[tokio::test]
async fn memory_failures_are_transaction_violations() {
    for (op, message, prefix, cause) in [
        (
            MemoryOp::Lock,
            "Locking system failure!",
            "Error acquiring lock for event",
            TransactionCause::LockFailure,
        ),
        (
            MemoryOp::Read,
            "Failed to acquire memory",
            "Error reading state for event",
            TransactionCause::ReadFailure,
        ),
        (
            MemoryOp::Write,
            "Failed to write memory",
            "Error writing state for event",
            TransactionCause::WriteFailure,
        ),
    ] {
        let memory = Failing {
            inner: InMemoryMemory::new(),
            op,
            message,
        };
        let agent = increment_agent(memory.clone());
        let init = inc_init("test.key");
        let v = agent
            .execute(&init, ParentContext::Event)
            .await
            .unwrap_err();
        match &v {
            Violation::Transaction { cause: c, .. } => assert_eq!(*c, cause),
            other => panic!("{op:?}: expected a transaction violation, got {other}"),
        }
        let text = v.to_string();
        assert!(
            text.contains(&format!("{prefix} (subject={}): ", init.subject())),
            "{text}"
        );
        assert!(text.contains(message), "{text}");
        assert!(memory.inner.is_empty(), "{op:?}: nothing stored");
    }
}

/// #12 Redirected completion (scenario B): the init's `redirectto` becomes the subject's
/// `meta.redirectto`, where the completion goes.
#[tokio::test]
async fn redirected_completion() {
    let store = services::store();
    let (broker, log) = broker(&store);
    let init = modifier_init("0.0.1", "decrement", |mut i| {
        i.redirectto = Some("com.test.test.1".into());
        i
    });
    let outcome = broker.resolve(init.clone()).await.unwrap();
    assert!(
        outcome.events.is_empty(),
        "nothing delivered to com.test.test"
    );
    let events = published(&log, &outcome);
    assert_eq!(events.len(), 11);
    let to_1: Vec<_> = outcome
        .unroutable
        .iter()
        .filter(|e| e.to() == Some("com.test.test.1"))
        .collect();
    assert_eq!(to_1.len(), 1);
    let done = to_1[0];
    assert_eq!(done.event_type(), "arvo.orc.number.modifier.done");
    assert_eq!(done.parentid(), Some(init.id()));
    // The event before it (the child's completion reaching the parent) has another parent.
    let child_done = events
        .iter()
        .find(|e| e.event_type() == "arvo.orc.dec.done")
        .unwrap();
    assert_ne!(child_done.parentid(), Some(init.id()));
}

/// #13 Faulty parent subject (scenario C, 0.0.2): the second child start has
/// `parentSubject$$: 'test'`: an execution violation, nothing published after the write
/// success, the parent's record unchanged.
#[tokio::test]
async fn faulty_parent_subject() {
    let store = services::store();
    let modifier_memory = InMemoryMemory::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = Arc::clone(&log);
    let broker = EventBroker::builder()
        .handler(services::decrement())
        .handler(services::value_read(store.clone()))
        .handler(services::value_write(store.clone()))
        .handler(decrement_agent(InMemoryMemory::new()))
        .handler(number_modifier_agent(modifier_memory.clone()))
        .input_middleware(move |e, _| {
            l.lock().unwrap().push(e.clone());
            Verdict::Pass
        })
        .build()
        .unwrap();
    let init = modifier_init("0.0.2", "decrement", |i| i);
    let outcome = broker.resolve(init.clone()).await.unwrap();
    assert!(outcome.events.is_empty());
    let events = published(&log, &outcome);
    assert_eq!(
        events.len(),
        3,
        "{:?}",
        events.iter().map(ArvoEvent::event_type).collect::<Vec<_>>()
    );
    assert_eq!(outcome.errors.len(), 1);
    let FailureKind::Violation(v) = &outcome.errors[0].kind else {
        panic!("expected a violation: {:?}", outcome.errors[0].kind);
    };
    assert_eq!(v.name(), "ViolationError<Execution>");
    assert_eq!(
        v.to_string(),
        "ViolationError<Execution> [Emittable Event Creation] Invalid parentSubject$$ for the event(type='arvo.orc.dec', uri='#/test/orchestrator/decrement/0.0.2'). It must be follow the ArvoOrchestrationSubject schema. The easiest way is to use the current orchestration subject by storing the subject via the context block in the machine definition."
    );
    let rec = modifier_memory
        .read(init.subject())
        .await
        .unwrap()
        .unwrap()
        .value;
    let rec = rec.as_normal().unwrap();
    assert_eq!(
        rec.value.as_leaf(),
        Some("init_value"),
        "the previous record stays"
    );
    assert_eq!(rec.events.consumed.id(), init.id());
}

/// #14 Two child increments (scenario D, 0.0.2): a child of the parent and an independent root;
/// the root's completion carries its own subject, so the parent's wrapper drops it.
#[tokio::test]
async fn two_child_increments() {
    let store = services::store();
    let (broker, log) = broker(&store);
    let init = modifier_init("0.0.2", "increment", |i| i);
    let outcome = broker.resolve(init.clone()).await.unwrap();
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    let events = published(&log, &outcome);
    assert_eq!(
        events.len(),
        18,
        "{:?}",
        events.iter().map(ArvoEvent::event_type).collect::<Vec<_>>()
    );
    let done = outcome.result().unwrap();
    assert_eq!(done.event_type(), "arvo.orc.number.modifier.done");
    assert_eq!(done.to(), Some("com.test.test"));
    assert_eq!(done.data()["success"], true);
    assert_eq!(done.data()["final"], 4.0, "1 (written) * 4 (modifier)");
    let starts: Vec<_> = events
        .iter()
        .filter(|e| e.event_type() == "arvo.orc.inc")
        .collect();
    assert_eq!(starts.len(), 2);
    assert_eq!(starts[0].data()["parentSubject$$"], init.subject());
    assert_eq!(starts[1].data()["parentSubject$$"], Value::Null);
    let root_done = events
        .iter()
        .filter(|e| e.event_type() == "arvo.orc.inc.done")
        .find(|e| e.subject() == starts[1].subject())
        .expect("the root child's completion, on its own subject");
    assert_eq!(root_done.to(), Some("arvo.orc.number.modifier"));
}

/// #15 A non-init event for a subject without state: nothing.
#[tokio::test]
async fn non_init_event_without_state_is_ignored() {
    let agent = increment_agent(InMemoryMemory::new());
    let subject = inc_init("k").subject().to_owned();
    let answer = ArvoEventFactory::new(Increment::contract().version("0.0.1").unwrap())
        .emits(
            EventInput::new("com.increment.number", json!({"result": 1}))
                .with_type("evt.increment.number.success")
                .with_subject(subject),
        )
        .unwrap();
    assert!(run(&agent, &answer).await.is_empty());
    assert!(agent.memory().is_empty());
}

/// #16 The decrement orchestrator's system error type.
#[test]
fn system_error_schema_type() {
    let agent = decrement_agent(InMemoryMemory::new());
    assert_eq!(agent.system_error_type(), "sys.arvo.orc.dec.error");
    assert!(
        !agent.requires_locking(),
        "no parallel state, single-emit services"
    );
}

/// #17 An init whose subject names a version no machine implements.
#[tokio::test]
async fn unknown_machine_version() {
    let agent = increment_agent(InMemoryMemory::new());
    let subject = subject::new(NewSubject {
        orchestrator: "arvo.orc.inc",
        version: Some("1.0.0"),
        initiator: "com.test.test",
        domain: None,
        meta: Default::default(),
    })
    .unwrap();
    let init = init_of(
        IncFlow::contract().version("0.0.1").unwrap(),
        EventInput::new(
            "com.test.test",
            json!({"key": "k", "modifier": 2, "trend": "linear", "parentSubject$$": null}),
        )
        .with_subject(subject.into_string()),
    );
    let v = agent
        .execute(&init, ParentContext::Event)
        .await
        .unwrap_err();
    assert_eq!(
        v.to_string(),
        "ViolationError<Config> Machine resolution failed: No machine found matching orchestrator name='arvo.orc.inc' and version='1.0.0'."
    );
}

/// #18 A machine that throws: a plain error ends the workflow (system error, failure record,
/// later events ignored); a violation is re-thrown and nothing is written.
#[tokio::test]
async fn machine_throws() {
    let memory: InMemoryMemory<DumbRecord> = InMemoryMemory::new();
    let agent = dumb_agent(memory.clone());
    let dumb_init = |t: &str| {
        init_of(
            Dumb::contract().latest(),
            EventInput::new(
                "com.test.test",
                json!({"error_type": t, "parentSubject$$": null}),
            ),
        )
    };
    let init = dumb_init("normal");
    let out = run(&agent, &init).await;
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].event_type(), "sys.arvo.orc.dumb.error");
    assert_eq!(out[0].data()["errorMessage"], "Normal error");
    assert_eq!(out[0].to(), Some("com.test.test"));
    let rec = memory.read(init.subject()).await.unwrap().unwrap().value;
    assert!(rec.as_failure().is_some());
    let later = ArvoEventFactory::new(common_machine::contracts::DumbService::contract().latest())
        .emits(
            EventInput::new("com.dumb.service", json!({}))
                .with_type("evt.dumb.service.success")
                .with_subject(init.subject()),
        )
        .unwrap();
    assert!(
        run(&agent, &later).await.is_empty(),
        "a failure record is terminal"
    );
    let init = dumb_init("violation");
    let v = agent
        .execute(&init, ParentContext::Event)
        .await
        .unwrap_err();
    assert_eq!(v.to_string(), "ViolationError<Execution> Violation error");
    assert!(memory.read(init.subject()).await.unwrap().is_none());
}

/// The §13.8.2 contracts have the reference's types, URIs and versions.
#[test]
fn fixture_contracts() {
    assert_eq!(ValueRead::TYPE, "com.value.read");
    assert_eq!(ValueRead::SUCCESS_TYPE, "evt.value.read.success");
    assert_eq!(ValueWrite::TYPE, "com.value.write");
    assert_eq!(Decrement::TYPE, "com.decrement.number");
    assert_eq!(Decrement::SUCCESS_TYPE, "evt.decrement.number.success");
    assert_eq!(Increment::TYPE, "com.increment.number");
    let v2 = Increment::contract().version("0.0.2").unwrap();
    let emits: Vec<_> = v2
        .emit_list()
        .iter()
        .map(|e| e.event_type.clone())
        .collect();
    assert_eq!(
        emits,
        [
            "evt.increment.number.success",
            "evt.multiplier.number.success"
        ]
    );
    assert_eq!(IncFlow::INIT_TYPE, "arvo.orc.inc");
    assert_eq!(DecFlow::SYSTEM_ERROR_TYPE, "sys.arvo.orc.dec.error");
    assert_eq!(NumberModifier::INIT_TYPE, "arvo.orc.number.modifier");
    assert_eq!(
        NumberModifier::contract().latest().dataschema(),
        "#/test/orchestrator/number/modifier/0.0.2"
    );
    assert_eq!(Dumb::COMPLETE_TYPE, "arvo.orc.dumb.done");
}

/// The services behave as the reference's handlers (§13.8.2).
#[tokio::test]
async fn fixture_services() {
    let store = services::store();
    store.lock().unwrap().insert("k".into(), 2.0);
    let read = services::value_read(store.clone());
    let ask = |key: &str| {
        ArvoEventFactory::new(ValueRead::contract().latest())
            .accepts(EventInput::new("com.test.test", json!({"key": key})))
            .unwrap()
    };
    let out = read.execute(&ask("k"), ParentContext::Event).await.unwrap();
    assert_eq!(out[0].data()["value"], 2.0);
    let out = read
        .execute(&ask("missing"), ParentContext::Event)
        .await
        .unwrap();
    assert_eq!(out[0].event_type(), "sys.com.value.read.error");
    assert_eq!(
        out[0].data()["errorMessage"],
        "No value to find at key=missing"
    );
    let write = services::value_write(store.clone());
    let put = |value: f64| {
        ArvoEventFactory::new(ValueWrite::contract().latest())
            .accepts(EventInput::new(
                "com.test.test",
                json!({"key": "w", "value": value}),
            ))
            .unwrap()
    };
    let out = write
        .execute(&put(-100.0), ParentContext::Event)
        .await
        .unwrap();
    assert_eq!(out[0].data()["success"], false);
    assert_eq!(store.lock().unwrap()["w"], -100.0);
    let out = write
        .execute(&put(-200.0), ParentContext::Event)
        .await
        .unwrap();
    assert_eq!(out[0].data()["errorMessage"], "Invalid value is -200.");
    let inc = services::increment();
    let mul = ArvoEventFactory::new(Increment::contract().version("0.0.2").unwrap())
        .accepts(EventInput::new(
            "com.test.test",
            json!({"init": 3, "multiplier": 4}),
        ))
        .unwrap();
    let out = inc.execute(&mul, ParentContext::Event).await.unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].event_type(), "evt.multiplier.number.success");
    assert_eq!(out[1].data()["result"], 12.0);
}
