//! The reference's `tests/ArvoResumable/index.spec.ts` (spec §13.7) over the fixtures of
//! §13.8.4 (the decrement and increment resumables and their services), the wrapper paths the
//! vector does not reach (spec §6.2 / §6.7), and parent/child orchestration (§6.8).
//!
//! Deliberate differences (the ONE place they are listed):
//! * the fixtures use typed contracts and typed handlers ([`ResumableHandler`]); a service
//!   event the typed handler cannot read is a contract violation, not `undefined` data;
//! * #3 (fan-out) counts the `external` copies in the broker's `domained` outcome (the
//!   reference's `onDomainedEvents` hook) instead of a hook-side array.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines
)]

mod common_resumable;

use std::collections::{HashMap, VecDeque};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arvo_runtime::arvo_contract;
use arvo_runtime::broker::EventBroker;
use arvo_runtime::event::{ArvoEvent, EventIdInput};
use arvo_runtime::factory::{ArvoOrchestratorEventFactory, EventInput};
use arvo_runtime::handler::{
    ArvoEventHandler, Domain, DomainSpec, DynEventHandler, HandlerError, HandlerInput,
    HandlerResult, ParentContext, RawOutput, Violation,
};
use arvo_runtime::memory::{
    InMemoryMemory, Lease, LockPolicy, MachineMemory, MemoryError, MemoryOp, TransactionCause,
    Version, Versioned,
};
use arvo_runtime::orchestration::OrchestrationRecord;
use arvo_runtime::resumable::{
    ArvoResumable, DeclaredService, Outcome, ResumableHandler, ResumableMemoryRecord, ServiceEvent,
    ServiceEvents, Step, StepEvent,
};
use arvo_runtime::typed::{ContractVersion, Emits, OrchestratorInit};
use arvo_runtime::violation::ArvoErrorPayload;
use arvo_runtime::{ArvoContract, VersionedContract};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// §13.8.2 / §13.8.4 contracts
// ---------------------------------------------------------------------------------------------

/// `{key}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct KeyIn {
    pub key: String,
}
/// `{key, value}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeyValue {
    pub key: String,
    pub value: f64,
}
/// `{key, success}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct WriteOut {
    pub key: String,
    pub success: bool,
}
/// `{init, increment}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct IncIn {
    pub init: f64,
    pub increment: f64,
}
/// `{init, decrement}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DecIn {
    pub init: f64,
    pub decrement: f64,
}
/// `{init, divider}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DivIn {
    pub init: f64,
    pub divider: f64,
}
/// `{result}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct NumResult {
    pub result: f64,
}

/// `ArvoErrorSchema` with a JSON Schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArvoError {
    pub error_name: String,
    pub error_message: String,
    pub error_stack: Option<String>,
}
impl From<ArvoErrorPayload> for ArvoError {
    fn from(p: ArvoErrorPayload) -> Self {
        Self {
            error_name: p.error_name,
            error_message: p.error_message,
            error_stack: p.error_stack,
        }
    }
}

/// The literal `'linear'`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub enum Linear {
    #[serde(rename = "linear")]
    Linear,
}
/// The literal `'exponential'`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub enum Exponential {
    #[serde(rename = "exponential")]
    Exponential,
}
/// dec / inc orchestrator init, 0.0.1.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TrendInit<T> {
    pub key: String,
    pub modifier: f64,
    pub trend: T,
}
/// dec / inc orchestrator completion.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DecDone {
    pub success: bool,
    pub error: Vec<ArvoError>,
    #[serde(rename = "final")]
    pub final_value: f64,
}

#[arvo_contract(uri = "#/test/handler/value/read", type = "value.read", simple,
    version("0.0.1", accepts = KeyIn, emits = KeyValue))]
pub struct ValueRead;

#[arvo_contract(uri = "#/test/handler/value/write", type = "value.write", simple,
    version("0.0.1", accepts = KeyValue, emits = WriteOut))]
pub struct ValueWrite;

#[arvo_contract(uri = "#/test/handler/increment", type = "com.increment.number",
    version("0.0.1", accepts = IncIn, emits("evt.increment.number.success" = NumResult)))]
pub struct Increment;

#[arvo_contract(uri = "#/test/handler/decrement", type = "decrement.number", simple,
    version("0.0.1", accepts = DecIn, emits = NumResult),
    version("0.0.2", accepts = DivIn, emits = NumResult))]
pub struct Decrement;

#[arvo_contract(uri = "#/test/orchestrator/decrement", orchestrator = "dec",
    version("0.0.1", init = TrendInit<Linear>, complete = DecDone),
    version("0.0.2", init = TrendInit<Exponential>, complete = DecDone))]
pub struct DecFlow;

/// `incrementResumableContact` init.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct IncInit {
    pub modifications: Vec<KeyValue>,
}
/// `incrementResumableContact` completion.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct IncDone {
    pub success: bool,
    #[serde(rename = "final")]
    pub final_value: Vec<KeyValue>,
    pub error: Vec<ArvoError>,
}

#[arvo_contract(uri = "#/resumables/inc", orchestrator = "inc",
    version("0.0.1", init = IncInit, complete = IncDone))]
pub struct IncFlow;

// ---------------------------------------------------------------------------------------------
// §13.8.2 handlers
// ---------------------------------------------------------------------------------------------

type Store = Arc<Mutex<HashMap<String, f64>>>;

fn num(d: &serde_json::Map<String, Value>, k: &str) -> f64 {
    d.get(k).and_then(Value::as_f64).unwrap_or_default()
}

fn value_read(store: Store) -> ArvoEventHandler {
    ArvoEventHandler::builder(ValueRead::contract().clone())
        .version_sync("0.0.1", move |input: HandlerInput<'_>| -> HandlerResult {
            let key = input.event.data()["key"].as_str().unwrap_or_default();
            let value = store.lock().unwrap().get(key).copied();
            match value {
                Some(value) => Ok(vec![RawOutput::new(
                    "evt.value.read.success",
                    json!({"key": key, "value": value}),
                )]),
                None => Err(HandlerError::msg(format!("No value to find at key={key}"))),
            }
        })
        .build()
        .unwrap()
}

fn value_write(store: Store) -> ArvoEventHandler {
    ArvoEventHandler::builder(ValueWrite::contract().clone())
        .version_sync("0.0.1", move |input: HandlerInput<'_>| -> HandlerResult {
            let d = input.event.data();
            let key = d["key"].as_str().unwrap_or_default().to_owned();
            let value = num(d, "value");
            if value == -200.0 {
                return Err(HandlerError::msg("Invalid value is -200."));
            }
            store.lock().unwrap().insert(key.clone(), value);
            Ok(vec![RawOutput::new(
                "evt.value.write.success",
                json!({"key": key, "success": value != -100.0}),
            )])
        })
        .build()
        .unwrap()
}

fn increment() -> ArvoEventHandler {
    ArvoEventHandler::builder(Increment::contract().clone())
        .executionunits(0.1)
        .version_sync("0.0.1", |input: HandlerInput<'_>| -> HandlerResult {
            let d = input.event.data();
            Ok(vec![RawOutput::new(
                "evt.increment.number.success",
                json!({"result": num(d, "init") + num(d, "increment")}),
            )])
        })
        .build()
        .unwrap()
}

fn decrement() -> ArvoEventHandler {
    ArvoEventHandler::builder(Decrement::contract().clone())
        .executionunits(0.1)
        .version_sync("0.0.1", |input: HandlerInput<'_>| -> HandlerResult {
            let d = input.event.data();
            Ok(vec![RawOutput::new(
                "evt.decrement.number.success",
                json!({"result": num(d, "init") - num(d, "decrement")}),
            )])
        })
        .version_sync("0.0.2", |input: HandlerInput<'_>| -> HandlerResult {
            let d = input.event.data();
            Ok(vec![RawOutput::new(
                "evt.decrement.number.success",
                json!({"result": num(d, "init") / num(d, "divider")}),
            )])
        })
        .build()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// §13.8.4 resumables
// ---------------------------------------------------------------------------------------------

/// The service events of the decrement resumable (what `#[arvo_resumable]` generates).
pub enum DecServices {
    Read(ServiceEvent<ValueReadV0_0_1>),
    Write(ServiceEvent<ValueWriteV0_0_1>),
    Decrement(ServiceEvent<DecrementV0_0_1>),
}

// The versions the decrement resumable may call (what `#[arvo_resumable]` generates).
impl DeclaredService<DecServices> for ValueReadV0_0_1 {}
impl DeclaredService<DecServices> for ValueWriteV0_0_1 {}
impl DeclaredService<DecServices> for DecrementV0_0_1 {}

impl ServiceEvents for DecServices {
    type Event<I: Send> = StepEvent<I, Self>;

    fn contracts() -> Vec<(String, VersionedContract)> {
        [
            ServiceEvent::<ValueReadV0_0_1>::contracts(),
            ServiceEvent::<ValueWriteV0_0_1>::contracts(),
            ServiceEvent::<DecrementV0_0_1>::contracts(),
        ]
        .concat()
    }
    fn from_event(event: &ArvoEvent) -> Result<Option<Self>, HandlerError> {
        if let Some(e) = ServiceEvent::from_event(event)? {
            return Ok(Some(Self::Read(e)));
        }
        if let Some(e) = ServiceEvent::from_event(event)? {
            return Ok(Some(Self::Write(e)));
        }
        Ok(ServiceEvent::from_event(event)?.map(Self::Decrement))
    }
}

/// The decrement resumable's context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecContext {
    pub key: String,
    pub value: f64,
    pub modifier: f64,
    pub trend: String,
    pub error: Vec<ArvoError>,
}

/// `decrementResumable`.
pub struct DecResumable;

type DecStep<'a, V> = Step<'a, V, DecContext, DecServices>;

impl ResumableHandler<DecFlowV0_0_1> for DecResumable {
    type Context = DecContext;
    type Services = DecServices;

    async fn handle(
        &self,
        step: DecStep<'_, DecFlowV0_0_1>,
    ) -> Result<Outcome<DecFlowV0_0_1, DecContext>, HandlerError> {
        use DecServices::{Decrement as D, Read};
        use ServiceEvent::{Emitted, SystemError};
        if let StepEvent::Service(Read(SystemError(e)) | D(SystemError(e))) = &step.event {
            return Ok(
                Outcome::wait().complete(DecFlowV0_0_1Emits::Complete(DecDone {
                    success: false,
                    error: vec![e.clone().into()],
                    final_value: 0.0,
                })),
            );
        }
        if let StepEvent::Init(init) = &step.event {
            let TrendInit { key, modifier, .. } = &init.data;
            let call = step.call::<ValueReadV0_0_1>(&KeyIn { key: key.clone() })?;
            return Ok(Outcome::wait()
                .context(DecContext {
                    key: key.clone(),
                    value: 0.0,
                    modifier: *modifier,
                    trend: "linear".into(),
                    error: vec![],
                })
                .call(call));
        }
        let Some(ctx) = step.context else {
            return Err(HandlerError::msg("Faulty initialisation detected"));
        };
        match &step.event {
            StepEvent::Service(Read(Emitted(ValueReadV0_0_1Emits::Success(v)))) => {
                let call = step.call::<DecrementV0_0_1>(&DecIn {
                    init: v.value,
                    decrement: ctx.modifier,
                })?;
                let ctx = DecContext {
                    value: v.value,
                    ..ctx.clone()
                };
                Ok(Outcome::wait().context(ctx).call(call))
            }
            StepEvent::Service(D(Emitted(DecrementV0_0_1Emits::Success(r)))) => {
                let call = step.call::<ValueWriteV0_0_1>(&KeyValue {
                    key: ctx.key.clone(),
                    value: r.result,
                })?;
                let ctx = DecContext {
                    value: r.result,
                    ..ctx.clone()
                };
                Ok(Outcome::wait()
                    .context(ctx)
                    .call(call)
                    .complete(DecFlowV0_0_1Emits::Complete(DecDone {
                        success: true,
                        error: vec![],
                        final_value: r.result,
                    }))
                    .completion_executionunits(10.0))
            }
            _ => Ok(Outcome::wait()),
        }
    }
}

impl ResumableHandler<DecFlowV0_0_2> for DecResumable {
    type Context = DecContext;
    type Services = DecServices;

    async fn handle(
        &self,
        _step: DecStep<'_, DecFlowV0_0_2>,
    ) -> Result<Outcome<DecFlowV0_0_2, DecContext>, HandlerError> {
        Err(HandlerError::msg(
            "Version 0.0.2 is not implemented for decrement resumable",
        ))
    }
}

type DecMemory = InMemoryMemory<ResumableMemoryRecord<DecContext>>;

fn dec_resumable<M>(memory: M) -> ArvoResumable<M, DecContext>
where
    M: MachineMemory<ResumableMemoryRecord<DecContext>>,
{
    ArvoResumable::builder(DecFlow::orchestrator_contract().clone(), memory)
        .executionunits(0.1)
        .handler::<DecFlowV0_0_1, _>(Arc::new(DecResumable))
        .handler::<DecFlowV0_0_2, _>(Arc::new(DecResumable))
        .build()
        .unwrap()
}

/// The service events of the increment resumable.
pub enum IncServices {
    Read(ServiceEvent<ValueReadV0_0_1>),
    Write(ServiceEvent<ValueWriteV0_0_1>),
    Increment(ServiceEvent<IncrementV0_0_1>),
}

impl DeclaredService<IncServices> for ValueReadV0_0_1 {}
impl DeclaredService<IncServices> for ValueWriteV0_0_1 {}
impl DeclaredService<IncServices> for IncrementV0_0_1 {}

impl ServiceEvents for IncServices {
    type Event<I: Send> = StepEvent<I, Self>;

    fn contracts() -> Vec<(String, VersionedContract)> {
        [
            ServiceEvent::<ValueReadV0_0_1>::contracts(),
            ServiceEvent::<ValueWriteV0_0_1>::contracts(),
            ServiceEvent::<IncrementV0_0_1>::contracts(),
        ]
        .concat()
    }
    fn from_event(event: &ArvoEvent) -> Result<Option<Self>, HandlerError> {
        if let Some(e) = ServiceEvent::from_event(event)? {
            return Ok(Some(Self::Read(e)));
        }
        if let Some(e) = ServiceEvent::from_event(event)? {
            return Ok(Some(Self::Write(e)));
        }
        Ok(ServiceEvent::from_event(event)?.map(Self::Increment))
    }
}

/// One modification of the increment resumable's context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Modification {
    pub key: String,
    pub value: Option<f64>,
    pub modifier: f64,
}

/// The increment resumable's context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncContext {
    pub modifications: Vec<Modification>,
    pub error: Vec<ArvoError>,
}

/// `incrementResumable`.
pub struct IncResumable;

fn null_and_external() -> Vec<DomainSpec> {
    vec![
        DomainSpec::Local,
        DomainSpec::Literal(Domain::new("external").unwrap()),
    ]
}

impl ResumableHandler<IncFlowV0_0_1> for IncResumable {
    type Context = IncContext;
    type Services = IncServices;

    async fn handle(
        &self,
        step: Step<'_, IncFlowV0_0_1, IncContext, IncServices>,
    ) -> Result<Outcome<IncFlowV0_0_1, IncContext>, HandlerError> {
        use IncServices::{Increment as I, Read, Write};
        use ServiceEvent::{Emitted, SystemError};
        if let StepEvent::Service(
            I(SystemError(e)) | Read(SystemError(e)) | Write(SystemError(e)),
        ) = &step.event
        {
            return Ok(
                Outcome::wait().complete(IncFlowV0_0_1Emits::Complete(IncDone {
                    success: false,
                    final_value: vec![],
                    error: vec![e.clone().into()],
                })),
            );
        }
        let mut out = Outcome::wait();
        if let StepEvent::Init(init) = &step.event {
            for m in &init.data.modifications {
                let mut call = step.call::<ValueReadV0_0_1>(&KeyIn { key: m.key.clone() })?;
                call.domain = Some(null_and_external());
                out = out.call(call);
            }
            let modifications = init
                .data
                .modifications
                .iter()
                .map(|m| Modification {
                    key: m.key.clone(),
                    value: None,
                    modifier: m.value,
                })
                .collect();
            return Ok(out.context(IncContext {
                modifications,
                error: vec![],
            }));
        }
        let Some(ctx) = step.context else {
            return Err(HandlerError::msg("Bad initialisation detected"));
        };
        let n = ctx.modifications.len();
        let reads = step.collected.of_type("evt.value.read.success")?;
        if reads.len() == n {
            let mut ctx = ctx.clone();
            for r in reads {
                if let Read(Emitted(ValueReadV0_0_1Emits::Success(kv))) = r
                    && let Some(m) = ctx.modifications.iter_mut().find(|m| m.key == kv.key)
                {
                    m.value = Some(kv.value);
                }
            }
            for m in &ctx.modifications {
                let mut call = step.call::<IncrementV0_0_1>(&IncIn {
                    init: m.value.unwrap_or_default(),
                    increment: m.modifier,
                })?;
                call.domain = Some(null_and_external());
                out = out.call(call);
            }
            return Ok(out.context(ctx));
        }
        let results = step.collected.of_type("evt.increment.number.success")?;
        if results.len() == n {
            let mut ctx = ctx.clone();
            let mut finals = Vec::new();
            for (m, r) in ctx.modifications.iter_mut().zip(results) {
                if let I(Emitted(IncrementV0_0_1Emits::EvtIncrementNumberSuccess(r))) = r {
                    m.value = Some(r.result);
                    finals.push(KeyValue {
                        key: m.key.clone(),
                        value: r.result,
                    });
                }
            }
            for f in &finals {
                let mut call = step.call::<ValueWriteV0_0_1>(f)?;
                call.domain = Some(null_and_external());
                out = out.call(call);
            }
            return Ok(out
                .context(ctx)
                .complete(IncFlowV0_0_1Emits::Complete(IncDone {
                    success: true,
                    final_value: finals,
                    error: vec![],
                })));
        }
        Ok(out)
    }
}

fn inc_resumable(
    memory: InMemoryMemory<ResumableMemoryRecord<IncContext>>,
) -> ArvoResumable<InMemoryMemory<ResumableMemoryRecord<IncContext>>, IncContext> {
    ArvoResumable::builder(IncFlow::orchestrator_contract().clone(), memory)
        .executionunits(0.1)
        .handler::<IncFlowV0_0_1, _>(Arc::new(IncResumable))
        .build()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

fn dec_init(version: &str, data: Value, id: Option<&str>) -> ArvoEvent {
    let factory =
        ArvoOrchestratorEventFactory::new(DecFlow::contract().version(version).unwrap()).unwrap();
    let mut input = EventInput::new("com.test.test", data);
    input.id = id.map(|s| EventIdInput::DeveloperManaged(s.to_owned()));
    factory.init(input.with_domain("test.domain.test")).unwrap()
}

fn linear_init(key: &str) -> Value {
    json!({"key": key, "modifier": 2, "trend": "linear", "parentSubject$$": null})
}

async fn record<C: arvo_runtime::resumable::Context>(
    memory: &InMemoryMemory<ResumableMemoryRecord<C>>,
    subject: &str,
) -> Option<ResumableMemoryRecord<C>> {
    memory.read(subject).await.unwrap().map(|v| v.value)
}

async fn normal<C: arvo_runtime::resumable::Context + std::fmt::Debug>(
    memory: &InMemoryMemory<ResumableMemoryRecord<C>>,
    subject: &str,
) -> arvo_runtime::resumable::ResumableRecord<C> {
    match record(memory, subject).await {
        Some(OrchestrationRecord::Normal(r)) => r,
        other => panic!("expected a normal record, got {other:?}"),
    }
}

async fn run<H: DynEventHandler + ?Sized>(h: &H, e: &ArvoEvent) -> Vec<ArvoEvent> {
    h.execute_dyn(e, ParentContext::Event).await.unwrap()
}

// ---------------------------------------------------------------------------------------------
// §13.7
// ---------------------------------------------------------------------------------------------

/// #1: three services -> locking by default.
#[test]
fn decrement_resumable_requires_locking() {
    assert!(dec_resumable(DecMemory::new()).requires_locking());
    // One service: no locking by default (the reference's rule).
    let calc = common_resumable::calc_resumable(InMemoryMemory::new());
    assert!(!calc.requires_locking());
}

/// #2: the decrement resumable, step by step.
#[tokio::test]
async fn decrement_resumable_full_manual_flow() {
    let store: Store = Arc::default();
    store.lock().unwrap().insert("test.key".into(), 2.0);
    let memory = DecMemory::new();
    let dec = dec_resumable(memory.clone());
    let (read, dec_h, write) = (
        value_read(store.clone()),
        decrement(),
        value_write(store.clone()),
    );
    let init = dec_init("0.0.1", linear_init("test.key"), Some("custom-id"));
    assert_eq!(init.id(), "custom-id");
    let subject = init.subject().to_owned();

    let out = run(&dec, &init).await;
    let rec = normal(&memory, &subject).await;
    assert_eq!(&*rec.subject, subject.as_str());
    assert_eq!(rec.parent_subject, None);
    assert_eq!(
        serde_json::to_value(rec.status).unwrap(),
        json!("active"),
        "status"
    );
    assert_eq!(
        serde_json::to_value(rec.context.as_ref().unwrap()).unwrap(),
        json!({"key": "test.key", "value": 0.0, "modifier": 2.0, "trend": "linear", "error": []})
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].event_type(), "com.value.read");
    assert_eq!(out[0].to(), Some("com.value.read"));
    assert_eq!(out[0].source(), "arvo.orc.dec");
    assert_eq!(out[0].data()["key"], "test.key");
    assert_eq!(out[0].parentid(), Some("custom-id"));

    let read_out = run(&read, &out[0]).await;
    assert_eq!(read_out.len(), 1);
    assert_eq!(read_out[0].event_type(), "evt.value.read.success");
    assert_eq!(read_out[0].to(), Some("arvo.orc.dec"));
    assert_eq!(read_out[0].source(), "com.value.read");
    assert_eq!(read_out[0].data()["value"], 2.0);
    assert_eq!(read_out[0].parentid(), Some(out[0].id()));
    assert_eq!(read_out[0].domain(), None);

    let out = run(&dec, &read_out[0]).await;
    let rec = normal(&memory, &subject).await;
    assert_eq!(serde_json::to_value(rec.status).unwrap(), json!("active"));
    assert_eq!(rec.context.as_ref().unwrap().value, 2.0);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].event_type(), "com.decrement.number");
    assert_eq!(out[0].to(), Some("com.decrement.number"));
    assert_eq!(out[0].source(), "arvo.orc.dec");
    assert_eq!(out[0].data()["init"], 2.0);
    assert_eq!(out[0].data()["decrement"], 2.0);

    let dec_out = run(&dec_h, &out[0]).await;
    assert_eq!(dec_out.len(), 1);
    assert_eq!(dec_out[0].event_type(), "evt.decrement.number.success");
    assert_eq!(dec_out[0].to(), Some("arvo.orc.dec"));
    assert_eq!(dec_out[0].source(), "com.decrement.number");
    assert_eq!(dec_out[0].data()["result"], 0.0);

    let out = run(&dec, &dec_out[0]).await;
    let rec = normal(&memory, &subject).await;
    assert_eq!(serde_json::to_value(rec.status).unwrap(), json!("done"));
    assert_eq!(rec.context.as_ref().unwrap().value, 0.0);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].event_type(), "com.value.write");
    assert_eq!(out[0].to(), Some("com.value.write"));
    assert_eq!(out[0].source(), "arvo.orc.dec");
    assert_eq!(out[0].data()["key"], "test.key");
    assert_eq!(out[0].data()["value"], 0.0);
    assert_eq!(out[0].parentid(), Some(dec_out[0].id()));
    assert_eq!(out[1].event_type(), "arvo.orc.dec.done");
    assert_eq!(out[1].to(), Some("com.test.test"));
    assert_eq!(out[1].source(), "arvo.orc.dec");
    assert_eq!(out[1].data()["success"], true);
    assert_eq!(out[1].data()["error"], json!([]));
    assert_eq!(out[1].data()["final"], 0.0);
    assert_eq!(out[1].parentid(), Some("custom-id"));
    assert_eq!(out[1].executionunits(), Some(10.0));

    // The write lands in the store.
    let w = run(&write, &out[0]).await;
    assert_eq!(w[0].data()["success"], true);
    assert_eq!(store.lock().unwrap()["test.key"], 0.0);
}

/// #3: dynamic fan-out through the broker's `resolve`.
#[tokio::test]
async fn increment_resumable_fan_out_via_broker() {
    let store: Store = Arc::default();
    store.lock().unwrap().insert("test.1".into(), 3.0);
    store.lock().unwrap().insert("test.2".into(), 8.0);
    let broker = EventBroker::builder()
        .handler(Arc::new(inc_resumable(InMemoryMemory::new())))
        .handler(Arc::new(value_read(store.clone())))
        .handler(Arc::new(value_write(store.clone())))
        .handler(Arc::new(increment()))
        .build()
        .unwrap();
    let init = ArvoOrchestratorEventFactory::new(IncFlow::contract().latest())
        .unwrap()
        .init(EventInput::new(
            "com.test.test",
            json!({"modifications": [{"key": "test.1", "value": 1}, {"key": "test.2", "value": 2}], "parentSubject$$": null}),
        ))
        .unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(10), broker.resolve(init.clone()))
        .await
        .unwrap()
        .unwrap();
    assert!(outcome.is_ok(), "{:?}", outcome.errors);
    assert_eq!(store.lock().unwrap()["test.1"], 4.0);
    assert_eq!(store.lock().unwrap()["test.2"], 10.0);
    let done = outcome.result().unwrap();
    assert_eq!(done.event_type(), "arvo.orc.inc.done");
    assert_eq!(
        done.data()["final"],
        json!([{"key": "test.1", "value": 4.0}, {"key": "test.2", "value": 10.0}])
    );
    assert_eq!(done.parentid(), Some(init.id()));
    assert_eq!(outcome.domained.len(), 6);
    assert!(
        outcome
            .domained
            .iter()
            .all(|e| e.domain() == Some("external"))
    );
    let types: Vec<_> = outcome.domained.iter().map(|e| e.event_type()).collect();
    for t in ["com.value.read", "com.increment.number", "com.value.write"] {
        assert_eq!(types.iter().filter(|x| **x == t).count(), 2, "{t}");
    }
}

/// #4: the handler throws -> `sys.arvo.orc.dec.error` to the caller.
#[tokio::test]
async fn handler_throws_gives_system_error() {
    let broker = EventBroker::builder()
        .handler(Arc::new(dec_resumable(DecMemory::new())))
        .build()
        .unwrap();
    let init = dec_init(
        "0.0.2",
        json!({"key": "test.key", "modifier": 2, "trend": "exponential", "parentSubject$$": null}),
        None,
    );
    let outcome = broker.resolve(init.clone()).await.unwrap();
    let e = outcome.result().unwrap();
    assert_eq!(e.subject(), init.subject());
    assert_eq!(e.event_type(), "sys.arvo.orc.dec.error");
    assert_eq!(
        e.data()["errorMessage"],
        "Version 0.0.2 is not implemented for decrement resumable"
    );
    assert_eq!(e.parentid(), Some(init.id()));
}

/// #5: an event of no registered emit type (a service's accepts type) -> Config violation.
#[tokio::test]
async fn unrecognised_event_is_a_config_violation() {
    let memory = DecMemory::new();
    let dec = dec_resumable(memory.clone());
    let init = dec_init("0.0.1", linear_init("test.key"), None);
    run(&dec, &init).await;
    let before = memory.read(init.subject()).await.unwrap().unwrap().version;
    let write = arvo_runtime::factory::ArvoEventFactory::new(ValueWrite::contract().latest())
        .accepts(
            EventInput::new("com.test.test", json!({"key": "test.key", "value": 1}))
                .with_subject(init.subject()),
        )
        .unwrap();
    let err = dec.execute(&write, ParentContext::Event).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "ViolationError<Config> Contract validation failed - Event does not match any registered contract schemas in the resumable"
    );
    // Nothing persisted.
    assert_eq!(
        memory.read(init.subject()).await.unwrap().unwrap().version,
        before
    );
}

// ---------------------------------------------------------------------------------------------
// Wrapper paths (§6.2, §6.7)
// ---------------------------------------------------------------------------------------------

/// A subject naming another orchestrator: no events, no lock, nothing persisted.
#[tokio::test]
async fn subject_of_another_orchestrator_is_ignored() {
    let memory = DecMemory::new();
    let dec = dec_resumable(memory.clone());
    let other = ArvoOrchestratorEventFactory::new(IncFlow::contract().latest())
        .unwrap()
        .init(EventInput::new(
            "com.test.test",
            json!({"modifications": [], "parentSubject$$": null}),
        ))
        .unwrap();
    // The factory checks only the shape; the wrapper compares the orchestrator name.
    let foreign = dec_init_with_subject(other.subject());
    assert_eq!(foreign.event_type(), "arvo.orc.dec");
    let out = dec.execute(&foreign, ParentContext::Event).await.unwrap();
    assert!(out.is_empty());
    assert!(memory.is_empty());
    // No lease is left behind either: a lock succeeds at once.
    let lease = memory
        .try_lock(other.subject(), Duration::from_secs(1))
        .await
        .unwrap();
    assert!(lease.is_some());
}

fn dec_init_with_subject(subject: &str) -> ArvoEvent {
    ArvoOrchestratorEventFactory::new(DecFlow::contract().version("0.0.1").unwrap())
        .unwrap()
        .init(EventInput::new("com.test.test", linear_init("k")).with_subject(subject))
        .unwrap()
}

/// An invalid subject: `ExecutionViolation` with the reference's message.
#[tokio::test]
async fn invalid_subject_is_an_execution_violation() {
    let memory = DecMemory::new();
    let dec = dec_resumable(memory.clone());
    let e = dec_init_with_subject("test");
    let err = dec.execute(&e, ParentContext::Event).await.unwrap_err();
    assert!(matches!(err, Violation::Execution { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "ViolationError<Execution> Invalid event (id={}) subject format. Expected an ArvoOrchestrationSubject but received 'test'. The subject must follow the format specified by ArvoOrchestrationSubject schema",
            e.id()
        )
    );
    assert!(memory.is_empty());
}

/// Lock denied: `TransactionViolation` `LOCK_UNACQUIRED`, nothing persisted.
#[tokio::test]
async fn lock_denied_is_a_transaction_violation() {
    let policy = LockPolicy {
        max_retries: 1,
        initial_delay: Duration::from_millis(1),
        ..LockPolicy::default()
    };
    let memory = DecMemory::with_policy(policy);
    let dec = dec_resumable(memory.clone());
    let init = dec_init("0.0.1", linear_init("test.key"), None);
    let held = memory
        .lock(init.subject(), Duration::from_secs(30))
        .await
        .unwrap();
    let err = dec.execute(&init, ParentContext::Event).await.unwrap_err();
    match &err {
        Violation::Transaction { cause, .. } => {
            assert_eq!(*cause, TransactionCause::LockUnacquired);
        }
        other => panic!("expected a transaction violation, got {other}"),
    }
    assert!(
        err.to_string().contains(
            "Lock acquisition denied - Unable to obtain exclusive access to event processing"
        ),
        "{err}"
    );
    assert!(memory.read(init.subject()).await.unwrap().is_none());
    // The holder's lease is intact.
    assert!(memory.unlock(&held).await.unwrap());
}

/// A memory whose writes fail (and counts how many records it stored).
#[derive(Clone)]
struct FailingWrites<T> {
    inner: InMemoryMemory<T>,
}

impl<T: arvo_runtime::memory::MemoryRecord> MachineMemory<T> for FailingWrites<T> {
    async fn read(&self, id: &str) -> Result<Option<Versioned<T>>, MemoryError> {
        self.inner.read(id).await
    }
    async fn write(
        &self,
        id: &str,
        _record: T,
        _expected: Option<Version>,
        _lease: Option<&Lease>,
    ) -> Result<Version, MemoryError> {
        Err(MemoryError::backend(
            MemoryOp::Write,
            id,
            std::io::Error::other("Failed to write memory"),
        ))
    }
    async fn delete(&self, id: &str, lease: Option<&Lease>) -> Result<bool, MemoryError> {
        self.inner.delete(id, lease).await
    }
    async fn try_lock(&self, id: &str, ttl: Duration) -> Result<Option<Lease>, MemoryError> {
        self.inner.try_lock(id, ttl).await
    }
    async fn unlock(&self, lease: &Lease) -> Result<bool, MemoryError> {
        self.inner.unlock(lease).await
    }
    async fn renew(&self, lease: &mut Lease, ttl: Duration) -> Result<(), MemoryError> {
        self.inner.renew(lease, ttl).await
    }
}

/// A failing write: `WRITE_MACHINE_MEMORY_FAILURE`; the step's events are not returned and
/// the lock is released.
#[tokio::test]
async fn failing_write_is_a_transaction_violation() {
    let inner = DecMemory::new();
    let dec = dec_resumable(FailingWrites {
        inner: inner.clone(),
    });
    let init = dec_init("0.0.1", linear_init("test.key"), None);
    let err = dec.execute(&init, ParentContext::Event).await.unwrap_err();
    match &err {
        Violation::Transaction { cause, message, .. } => {
            assert_eq!(*cause, TransactionCause::WriteFailure);
            assert!(
                message.starts_with(&format!(
                    "Error writing state for event (subject={}): ",
                    init.subject()
                )),
                "{message}"
            );
            assert!(message.contains("Failed to write memory"), "{message}");
        }
        other => panic!("expected a transaction violation, got {other}"),
    }
    assert!(
        err.to_string()
            .starts_with("ViolationError<OrchestratorTransaction> [WRITE_MACHINE_MEMORY_FAILURE]")
    );
    assert!(inner.is_empty());
    assert!(
        inner
            .try_lock(init.subject(), Duration::from_secs(1))
            .await
            .unwrap()
            .is_some(),
        "the lock was released"
    );
}

/// A failure record is terminal: later events are ignored and it stays as it is.
#[tokio::test]
async fn failure_record_ignores_later_events() {
    let memory = DecMemory::new();
    let dec = dec_resumable(memory.clone());
    let init = dec_init(
        "0.0.2",
        json!({"key": "k", "modifier": 2, "trend": "exponential", "parentSubject$$": null}),
        None,
    );
    let out = run(&dec, &init).await;
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].event_type(), "sys.arvo.orc.dec.error");
    assert_eq!(out[0].to(), Some("com.test.test"));
    let stored = memory.read(init.subject()).await.unwrap().unwrap();
    match &stored.value {
        OrchestrationRecord::Failure(f) => {
            assert_eq!(f.subject, init.subject());
            assert_eq!(
                f.error.error_message,
                "Version 0.0.2 is not implemented for decrement resumable"
            );
        }
        other => panic!("expected a failure record, got {other:?}"),
    }
    // A service response and a re-delivered init: nothing, record unchanged.
    let response = arvo_runtime::factory::ArvoEventFactory::new(ValueRead::contract().latest())
        .emits(
            EventInput::new("com.value.read", json!({"key": "k", "value": 1}))
                .with_type("evt.value.read.success")
                .with_subject(init.subject()),
        )
        .unwrap();
    assert!(run(&dec, &response).await.is_empty());
    assert!(run(&dec, &init).await.is_empty());
    assert_eq!(
        memory.read(init.subject()).await.unwrap().unwrap().version,
        stored.version
    );
}

// ---------------------------------------------------------------------------------------------
// Parent / child (§6.8)
// ---------------------------------------------------------------------------------------------

/// The parent's init.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ParentInit {
    pub key: String,
    pub modifier: f64,
}
/// The parent's completion.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ParentDone {
    pub success: bool,
    pub child: Value,
}

#[arvo_contract(uri = "#/test/orchestrator/parent", orchestrator = "parent",
    version("1.0.0", init = ParentInit, complete = ParentDone))]
pub struct ParentFlow;

/// A parent that starts the decrement orchestration `W` as its child and completes with what
/// the child returned (or its error).
pub struct Parent<W, T> {
    make: fn(&ParentInit) -> T,
    _w: PhantomData<fn() -> W>,
}

impl<W, T> ResumableHandler<ParentFlowV1_0_0> for Parent<W, T>
where
    W: ContractVersion<Accepts = OrchestratorInit<T>>,
    T: Serialize + Send + Sync + 'static,
{
    type Context = String;
    type Services = ServiceEvent<W>;

    async fn handle(
        &self,
        step: Step<'_, ParentFlowV1_0_0, String, ServiceEvent<W>>,
    ) -> Result<Outcome<ParentFlowV1_0_0, String>, HandlerError> {
        if let StepEvent::Init(init) = &step.event {
            let start = step.start_child::<W, T>((self.make)(&init.data))?;
            return Ok(Outcome::wait()
                .context(step.subject().to_owned())
                .call(start));
        }
        // The child's events come back on this subject.
        assert_eq!(step.context.map(String::as_str), Some(step.subject()));
        let done = |success, child| {
            Ok(
                Outcome::wait().complete(ParentFlowV1_0_0Emits::Complete(ParentDone {
                    success,
                    child,
                })),
            )
        };
        match step.event {
            StepEvent::Service(ServiceEvent::Emitted(e)) => done(true, e.to_data()?),
            StepEvent::Service(ServiceEvent::SystemError(e)) => done(false, json!(e.error_message)),
            StepEvent::Init(_) => Ok(Outcome::wait()),
        }
    }
}

fn parent<W, T>(make: fn(&ParentInit) -> T) -> Arc<dyn DynEventHandler>
where
    W: ContractVersion<Accepts = OrchestratorInit<T>>,
    T: Serialize + Send + Sync + 'static,
{
    Arc::new(
        ArvoResumable::builder(
            ParentFlow::orchestrator_contract().clone(),
            InMemoryMemory::new(),
        )
        .handler::<ParentFlowV1_0_0, _>(Arc::new(Parent::<W, T> {
            make,
            _w: PhantomData,
        }))
        .build()
        .unwrap(),
    )
}

/// Routes events by `to` among `handlers` until none is left; returns every event routed
/// (in order) and those addressed to no handler (delivered to the outside).
async fn route(
    handlers: &[Arc<dyn DynEventHandler>],
    start: ArvoEvent,
) -> (Vec<ArvoEvent>, Vec<ArvoEvent>) {
    let mut queue = VecDeque::from([start]);
    let (mut log, mut outside) = (Vec::new(), Vec::new());
    while let Some(e) = queue.pop_front() {
        log.push(e.clone());
        match handlers.iter().find(|h| Some(h.source()) == e.to()) {
            Some(h) => queue.extend(run(h.as_ref(), &e).await),
            None => outside.push(e),
        }
    }
    (log, outside)
}

fn parent_init() -> ArvoEvent {
    ArvoOrchestratorEventFactory::new(ParentFlow::contract().latest())
        .unwrap()
        .init(EventInput::new(
            "com.test.test",
            json!({"key": "test.key", "modifier": 2, "parentSubject$$": null}),
        ))
        .unwrap()
}

#[tokio::test]
async fn parent_starts_a_child_and_resumes_on_its_completion() {
    let store: Store = Arc::default();
    store.lock().unwrap().insert("test.key".into(), 5.0);
    let dec_memory = DecMemory::new();
    let handlers: Vec<Arc<dyn DynEventHandler>> = vec![
        parent::<DecFlowV0_0_1, _>(|p| TrendInit {
            key: p.key.clone(),
            modifier: p.modifier,
            trend: Linear::Linear,
        }),
        Arc::new(dec_resumable(dec_memory.clone())),
        Arc::new(value_read(store.clone())),
        Arc::new(value_write(store.clone())),
        Arc::new(decrement()),
    ];
    let init = parent_init();
    let parent_subject = init.subject().to_owned();
    let (log, outside) = route(&handlers, init.clone()).await;

    // The child start: parentSubject$$ = the parent's subject, a child subject.
    let start = log
        .iter()
        .find(|e| e.event_type() == "arvo.orc.dec")
        .unwrap();
    assert_eq!(start.source(), "arvo.orc.parent");
    assert_eq!(start.data()["parentSubject$$"], json!(parent_subject));
    assert_eq!(
        start.dataschema(),
        Some("#/test/orchestrator/decrement/0.0.1")
    );
    let child = arvo_runtime::subject::parse(start.subject()).unwrap();
    assert_eq!(child.orchestrator.name, "arvo.orc.dec");
    assert_eq!(child.orchestrator.version, "0.0.1");
    assert_eq!(child.execution.initiator, "arvo.orc.parent");
    assert_eq!(
        child.meta.get("redirectto").map(String::as_str),
        Some("arvo.orc.parent")
    );
    // The child remembers its parent.
    let child_rec = normal(&dec_memory, start.subject()).await;
    assert_eq!(child_rec.parent_subject.as_deref(), Some(&*parent_subject));

    // The child's completion is routed back to the parent's subject.
    let child_done = log
        .iter()
        .find(|e| e.event_type() == "arvo.orc.dec.done")
        .unwrap();
    assert_eq!(child_done.subject(), parent_subject);
    assert_eq!(child_done.to(), Some("arvo.orc.parent"));
    assert_eq!(child_done.parentid(), Some(start.id()));
    assert_eq!(child_done.data()["final"], 3.0);

    // The parent resumed and completed to its initiator.
    assert_eq!(outside.len(), 1, "{outside:?}");
    let done = &outside[0];
    assert_eq!(done.event_type(), "arvo.orc.parent.done");
    assert_eq!(done.to(), Some("com.test.test"));
    assert_eq!(done.subject(), parent_subject);
    assert_eq!(done.parentid(), Some(init.id()));
    assert_eq!(done.data()["success"], true);
    assert_eq!(done.data()["child"]["final"], 3.0);
    assert_eq!(store.lock().unwrap()["test.key"], 3.0);
}

#[tokio::test]
async fn child_failure_reaches_the_parent_as_system_error() {
    let handlers: Vec<Arc<dyn DynEventHandler>> = vec![
        parent::<DecFlowV0_0_2, _>(|p| TrendInit {
            key: p.key.clone(),
            modifier: p.modifier,
            trend: Exponential::Exponential,
        }),
        Arc::new(dec_resumable(DecMemory::new())),
    ];
    let init = parent_init();
    let parent_subject = init.subject().to_owned();
    let (log, outside) = route(&handlers, init).await;
    let err = log
        .iter()
        .find(|e| e.event_type() == "sys.arvo.orc.dec.error")
        .unwrap();
    assert_eq!(err.subject(), parent_subject);
    assert_eq!(err.to(), Some("arvo.orc.parent"));
    assert_eq!(err.source(), "arvo.orc.dec");
    assert_eq!(outside.len(), 1);
    assert_eq!(outside[0].event_type(), "arvo.orc.parent.done");
    assert_eq!(outside[0].data()["success"], false);
    assert_eq!(
        outside[0].data()["child"],
        "Version 0.0.2 is not implemented for decrement resumable"
    );
}

// Keeps the imports honest for contracts only used by type.
#[test]
fn fixture_contracts() {
    let c: &ArvoContract = DecFlow::contract();
    assert_eq!(c.versions().count(), 2);
    assert_eq!(DecFlow::SYSTEM_ERROR_TYPE, "sys.arvo.orc.dec.error");
    assert_eq!(
        <IncFlowV0_0_1Emits as Emits>::EVENT_TYPES,
        ["arvo.orc.inc.done"]
    );
}

// ---------------------------------------------------------------------------------------------
// #[arvo_resumable]: the calc workflow R written with the macro, run end to end.
// ---------------------------------------------------------------------------------------------

mod with_macro {
    use super::*;
    use arvo_runtime::arvo_resumable;
    use common_resumable::{
        AddInput, AddResult, CalcAddV1_0_0, CalcAddV1_0_0Emits, CalcContext, CalcFlow,
        CalcFlowV1_0_0, CalcFlowV1_0_0Emits,
    };

    pub struct Calc;

    #[arvo_resumable(contract = CalcFlow, context = CalcContext, services(calc = CalcAddV1_0_0))]
    impl Calc {
        #[version("1.0.0")]
        async fn v1(&self, step: CalcStep<'_, CalcFlowV1_0_0>) -> CalcResult<CalcFlowV1_0_0> {
            match &step.event {
                CalcEvent::Init(init) => {
                    let AddInput { a, b } = init.data;
                    let call = step.call::<CalcAddV1_0_0>(&AddInput { a, b })?;
                    Ok(Outcome::wait().context(CalcContext { a, b }).call(call))
                }
                CalcEvent::Calc(CalcAddV1_0_0Emits::Success(r)) => Ok(Outcome::wait().complete(
                    CalcFlowV1_0_0Emits::Complete(AddResult { result: r.result }),
                )),
                CalcEvent::CalcError(e) => Err(HandlerError::msg(format!(
                    "calc service failed: {}",
                    e.error_message
                ))),
            }
        }
    }

    #[tokio::test]
    async fn macro_resumable_runs_end_to_end() {
        let memory = InMemoryMemory::new();
        let resumable = Calc.resumable(memory.clone()).build().unwrap();
        assert_eq!(resumable.services()[0].uri(), "#/bench/calc/add");
        let handlers: Vec<Arc<dyn DynEventHandler>> = vec![
            Arc::new(resumable),
            Arc::new(common_resumable::calc_handler()),
        ];
        let init = ArvoOrchestratorEventFactory::new(CalcFlow::contract().latest())
            .unwrap()
            .init(EventInput::new(
                "com.bench.client",
                json!({"a": 2, "b": 3, "parentSubject$$": null}),
            ))
            .unwrap();
        let (log, outside) = route(&handlers, init.clone()).await;
        assert_eq!(log.len(), 4);
        assert_eq!(outside.len(), 1);
        assert_eq!(outside[0].event_type(), "arvo.orc.bench.calc.done");
        assert_eq!(outside[0].data()["result"], 5.0);
        let rec = normal(&memory, init.subject()).await;
        assert_eq!(rec.context, Some(CalcContext { a: 2.0, b: 3.0 }));
        // The service's failure ends the workflow with a system error.
        let bad = ArvoOrchestratorEventFactory::new(CalcFlow::contract().latest())
            .unwrap()
            .init(EventInput::new(
                "com.bench.client",
                json!({"a": -1, "b": 3, "parentSubject$$": null}),
            ))
            .unwrap();
        let (_, outside) = route(&handlers, bad).await;
        assert_eq!(outside[0].event_type(), "sys.arvo.orc.bench.calc.error");
        assert!(
            outside[0].data()["errorMessage"]
                .as_str()
                .unwrap()
                .starts_with("calc service failed: ")
        );
    }
}
