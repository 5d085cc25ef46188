//! Telemetry of an orchestration step (spec §6.2): the span of an `ArvoResumable` step (name,
//! kind, parent, the start attributes, the parsed subject, the emitted events' attributes) and
//! of a failed step (the failure status and exception attributes). The span recording runs
//! out of the hot path (cold functions); these tests pin what it records.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common_resumable;

use arvo_runtime::event::ArvoEvent;
use arvo_runtime::handler::ParentContext;
use arvo_runtime::memory::InMemoryMemory;
use arvo_runtime::prelude::*;
use arvo_runtime::resumable::{ArvoResumable, ResumableMemoryRecord};
use common_resumable::{
    AddInput, AddResult, CalcAddV1_0_0, CalcAddV1_0_0Emits, CalcContext, CalcFlow, CalcFlowV1_0_0,
    CalcFlowV1_0_0Emits,
};
use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::{SpanKind, Status, TracerProvider as _};
use opentelemetry::{Key, Value as OtelValue};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN: &str = "00f067aa0ba902b7";

/// Init `{a, b}` calls the calc service; a negative `a` fails the workflow (a user error).
pub struct Flow;

#[arvo_resumable(contract = CalcFlow, context = CalcContext, services(calc = CalcAddV1_0_0))]
impl Flow {
    #[version("1.0.0")]
    async fn v1(&self, step: FlowStep<'_, CalcFlowV1_0_0>) -> FlowResult<CalcFlowV1_0_0> {
        match &step.event {
            FlowEvent::Init(init) => {
                let AddInput { a, b } = init.data;
                if a < 0.0 {
                    return Err(HandlerError::msg("negative input"));
                }
                if a > 1e6 {
                    // A violation raised by user code (not by the orchestration wrapper).
                    return Err(Violation::execution("input too large").into());
                }
                let call = step.call::<CalcAddV1_0_0>(&AddInput { a, b })?;
                Ok(Outcome::wait().context(CalcContext { a, b }).call(call))
            }
            FlowEvent::Calc(CalcAddV1_0_0Emits::Success(r)) => Ok(Outcome::wait().complete(
                CalcFlowV1_0_0Emits::Complete(AddResult { result: r.result }),
            )),
            FlowEvent::CalcError(e) => Err(HandlerError::msg(e.error_message.clone())),
        }
    }
}

fn setup() -> (
    ArvoResumable<InMemoryMemory<ResumableMemoryRecord<CalcContext>>, CalcContext>,
    InMemorySpanExporter,
    SdkTracerProvider,
) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let resumable = Flow
        .resumable(InMemoryMemory::new())
        .tracer(BoxedTracer::new(Box::new(provider.tracer("test"))))
        .build()
        .unwrap();
    (resumable, exporter, provider)
}

fn init(a: f64) -> ArvoEvent {
    let event = CalcFlowV1_0_0::init("com.test.client", AddInput { a, b: 2.0 }).unwrap();
    // The same event with an incoming trace context.
    let mut json: serde_json::Value = serde_json::from_str(&event.to_json_string()).unwrap();
    json["traceparent"] = format!("00-{TRACE_ID}-{PARENT_SPAN}-01").into();
    ArvoEvent::from_json_slice(json.to_string().as_bytes()).unwrap()
}

fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a OtelValue> {
    span.attributes
        .iter()
        .rev() // the last value set wins
        .find(|kv| kv.key == Key::new(key.to_owned()))
        .map(|kv| &kv.value)
}

fn s(v: &str) -> Option<OtelValue> {
    Some(OtelValue::from(v.to_owned()))
}

#[tokio::test]
async fn a_step_span_records_its_start_subject_and_emissions() {
    let (resumable, exporter, _provider) = setup();
    let e = init(1.0);
    let out = resumable.execute(&e, ParentContext::Event).await.unwrap();
    assert_eq!(out.len(), 1, "one service call");
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    assert_eq!(
        span.name,
        "Resumable<#/bench/orchestrator/calc>@<arvo.orc.bench.calc>"
    );
    assert_eq!(span.span_kind, SpanKind::Producer);
    assert_eq!(span.span_context.trace_id().to_string(), TRACE_ID);
    assert_eq!(span.parent_span_id.to_string(), PARENT_SPAN);
    assert_eq!(
        attr(span, "arvo.span.kind").cloned(),
        s("handler.orchestrator.imperative")
    );
    assert_eq!(
        attr(span, "arvo.handler.execution.type").cloned(),
        s("resumable")
    );
    assert_eq!(
        attr(span, "arvo.handler.execution.status").cloned(),
        s("normal")
    );
    assert_eq!(
        attr(span, "arvo.handler.source").cloned(),
        s("arvo.orc.bench.calc")
    );
    assert_eq!(
        attr(span, "consumable.0.cloudevents.event_id").cloned(),
        s(e.id())
    );
    assert_eq!(
        attr(span, "arvo.parsed.subject.orchestrator.name").cloned(),
        s("arvo.orc.bench.calc")
    );
    assert_eq!(
        attr(span, "arvo.parsed.subject.orchestrator.version").cloned(),
        s("1.0.0")
    );
    assert_eq!(
        attr(span, "emittables.0.cloudevents.event_type").cloned(),
        s("com.calc.add")
    );
    assert_eq!(
        attr(span, "emittables.0.cloudevents.event_id").cloned(),
        s(out[0].id())
    );
    assert!(
        !matches!(span.status, Status::Error { .. }),
        "a normal step is not failed: {:?}",
        span.status
    );
    // The emitted event carries the step span's context.
    let tp = format!("00-{TRACE_ID}-{}-01", span.span_context.span_id());
    assert_eq!(out[0].traceparent(), Some(tp.as_str()));
}

#[tokio::test]
async fn a_failed_step_span_records_the_failure() {
    let (resumable, exporter, _provider) = setup();
    let e = init(-1.0);
    let out = resumable.execute(&e, ParentContext::Event).await.unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].event_type(), "sys.arvo.orc.bench.calc.error");
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    assert_eq!(
        attr(span, "arvo.handler.execution.status").cloned(),
        s("failure")
    );
    assert_eq!(
        attr(span, "exception.message").cloned(),
        s("negative input")
    );
    assert!(
        matches!(&span.status, Status::Error { description } if description.contains("negative input")),
        "status: {:?}",
        span.status
    );
    assert!(
        span.events.iter().any(|ev| ev.name == "exception"),
        "an exception event"
    );
    // The system error is still stamped as an emission of the span.
    assert_eq!(
        attr(span, "emittables.0.cloudevents.event_type").cloned(),
        s("sys.arvo.orc.bench.calc.error")
    );
}

#[tokio::test]
async fn a_violation_marks_the_span_failed() {
    let (resumable, exporter, _provider) = setup();
    // A subject that is not an orchestration subject is an `Execution` violation.
    let bad = ArvoEvent::builder()
        .event_type("arvo.orc.bench.calc")
        .source("com.test.client")
        .subject("not-an-orchestration-subject")
        .to("arvo.orc.bench.calc")
        .data_json(serde_json::json!({"a": 1, "b": 2}))
        .build()
        .unwrap();
    let err = resumable
        .execute(&bad, ParentContext::Event)
        .await
        .unwrap_err();
    assert_eq!(err.violation_type(), "Execution");
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 1);
    assert_eq!(
        attr(&spans[0], "arvo.handler.execution.status").cloned(),
        s("failure")
    );
    assert!(matches!(spans[0].status, Status::Error { .. }));
}

/// The `log` events of `span` at `severity`.
fn logs<'a>(span: &'a SpanData, severity: &str) -> Vec<&'a str> {
    span.events
        .iter()
        .filter(|e| e.name == "log")
        .filter(|e| {
            e.attributes
                .iter()
                .any(|kv| kv.key.as_str() == "log.severity" && kv.value.as_str() == severity)
        })
        .filter_map(|e| {
            e.attributes
                .iter()
                .find(|kv| kv.key.as_str() == "log.message")
                .map(|kv| match &kv.value {
                    OtelValue::String(s) => s.as_str(),
                    _ => "",
                })
        })
        .collect()
}

#[tokio::test]
async fn a_violation_of_the_step_is_logged_critical_and_a_users_is_returned_as_is() {
    let (resumable, exporter, _provider) = setup();
    // The wrapper's own violation: init data its contract refuses (a contract violation).
    let mut json: serde_json::Value = serde_json::from_str(&init(1.0).to_json_string()).unwrap();
    json["data"]["a"] = "not a number".into();
    let refused = ArvoEvent::from_json_slice(json.to_string().as_bytes()).unwrap();
    let err = resumable
        .execute(&refused, ParentContext::Event)
        .await
        .unwrap_err();
    assert_eq!(err.violation_type(), "Contract");
    // A violation the user's code raised.
    let err = resumable
        .execute(&init(2e6), ParentContext::Event)
        .await
        .unwrap_err();
    assert_eq!(err, Violation::execution("input too large"));
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 2);
    let critical = logs(&spans[0], "CRITICAL");
    assert_eq!(critical.len(), 1, "{critical:?}");
    assert!(
        critical[0].starts_with("ArvoResumable violation error: "),
        "{critical:?}"
    );
    assert!(
        logs(&spans[1], "CRITICAL").is_empty(),
        "{:?}",
        spans[1].events
    );
}
