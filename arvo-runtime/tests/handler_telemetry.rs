//! Telemetry: the handler's span (name, kind, attributes), its parent (the incoming
//! traceparent), and the trace context carried by the emitted events.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use arvo_runtime::contract::{ArvoContract, Schema};
use arvo_runtime::event::ArvoEvent;
use arvo_runtime::handler::{ArvoEventHandler, HandlerError, ParentContext, RawOutput};
use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::{SpanKind, Status, TracerProvider as _};
use opentelemetry::{Key, Value as OtelValue};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::json;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN: &str = "00f067aa0ba902b7";

fn setup(fail: bool) -> (ArvoEventHandler, InMemorySpanExporter, SdkTracerProvider) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let ab = Schema::new(json!({"type":"object","properties":{"a":{"type":"number"},"b":{"type":"number"}},"required":["a","b"]})).unwrap();
    let r = Schema::new(
        json!({"type":"object","properties":{"result":{"type":"number"}},"required":["result"]}),
    )
    .unwrap();
    let c = ArvoContract::simple("#/bench/calc/add", "calc.add")
        .version("1.0.0", ab, r)
        .build()
        .unwrap();
    let h = ArvoEventHandler::builder(c)
        .tracer(BoxedTracer::new(Box::new(provider.tracer("test"))))
        .version_sync("1.0.0", move |_| {
            if fail {
                return Err(HandlerError::msg("boom"));
            }
            Ok(vec![RawOutput::new(
                "evt.calc.add.success",
                json!({"result": 3}),
            )])
        })
        .build()
        .unwrap();
    (h, exporter, provider)
}

fn input() -> ArvoEvent {
    ArvoEvent::builder()
        .event_type("com.calc.add")
        .source("com.client.app")
        .subject("s-1")
        .data_json(json!({"a": 1, "b": 2}))
        .traceparent(format!("00-{TRACE_ID}-{PARENT_SPAN}-01"))
        .build()
        .unwrap()
}

fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a OtelValue> {
    span.attributes
        .iter()
        .rev() // the last value set wins
        .find(|kv| kv.key == Key::new(key.to_owned()))
        .map(|kv| &kv.value)
}

#[tokio::test]
async fn handler_span_is_a_child_of_the_event_and_stamps_outputs() {
    let (h, exporter, _provider) = setup(false);
    let e = input();
    let out = h.execute(&e, ParentContext::Event).await.unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    assert_eq!(span.name, "Handler<#/bench/calc/add>");
    assert_eq!(span.span_kind, SpanKind::Consumer);
    assert_eq!(span.span_context.trace_id().to_string(), TRACE_ID);
    assert_eq!(span.parent_span_id.to_string(), PARENT_SPAN);
    assert_eq!(span.status, Status::Ok);
    let s = |v: &str| Some(OtelValue::from(v.to_owned()));
    assert_eq!(attr(span, "arvo.span.kind").cloned(), s("handler.simple"));
    assert_eq!(attr(span, "openinference.span.kind").cloned(), s("CHAIN"));
    assert_eq!(
        attr(span, "arvo.handler.source").cloned(),
        s("com.calc.add")
    );
    assert_eq!(
        attr(span, "arvo.contract.uri").cloned(),
        s("#/bench/calc/add")
    );
    assert_eq!(
        attr(span, "arvo.handler.execution.status").cloned(),
        s("normal")
    );
    assert_eq!(
        attr(span, "arvo.handler.execution.type").cloned(),
        s("handler")
    );
    assert_eq!(
        attr(span, "consumable.0.cloudevents.event_id").cloned(),
        s(e.id())
    );
    assert_eq!(
        attr(span, "consumable.0.cloudevents.arvo.event_domain").cloned(),
        s("N/A")
    );
    assert_eq!(
        attr(span, "emittables.0.cloudevents.event_type").cloned(),
        s("evt.calc.add.success")
    );
    assert_eq!(
        attr(span, "emittables.0.cloudevents.event_id").cloned(),
        s(out[0].id())
    );
    // The emitted event carries the handler span's context.
    let tp = format!("00-{TRACE_ID}-{}-01", span.span_context.span_id());
    assert_eq!(out[0].traceparent(), Some(tp.as_str()));
}

#[tokio::test]
async fn failing_handler_marks_the_span() {
    let (h, exporter, _provider) = setup(true);
    let out = h.execute(&input(), ParentContext::Event).await.unwrap();
    assert_eq!(out[0].event_type(), "sys.com.calc.add.error");
    let spans = exporter.get_finished_spans().unwrap();
    let span = &spans[0];
    assert_eq!(span.status, Status::error("Event processing failed: boom"));
    assert_eq!(
        attr(span, "arvo.handler.execution.status").cloned(),
        Some(OtelValue::from("failure".to_owned()))
    );
    assert_eq!(
        attr(span, "emittables.0.cloudevents.event_type").cloned(),
        Some(OtelValue::from("sys.com.calc.add.error".to_owned()))
    );
    assert!(out[0].traceparent().is_some());
}

#[tokio::test]
async fn without_a_provider_headers_pass_through_and_nothing_records() {
    // The default tracer is the global provider's (a no-op here): the span is not recording,
    // and the outputs carry the incoming trace context, as in the reference.
    let ab = Schema::new(json!({"type":"object"})).unwrap();
    let c = ArvoContract::simple("#/x", "x.y")
        .version("1.0.0", ab.clone(), ab)
        .build()
        .unwrap();
    let h = ArvoEventHandler::builder(c)
        .version_sync("1.0.0", |_| {
            Ok(vec![RawOutput::new("evt.x.y.success", json!({}))])
        })
        .build()
        .unwrap();
    let e = ArvoEvent::builder()
        .event_type("com.x.y")
        .source("com.client.app")
        .subject("s-1")
        .data_json(json!({}))
        .traceparent(format!("00-{TRACE_ID}-{PARENT_SPAN}-01"))
        .build()
        .unwrap();
    let out = h.execute(&e, ParentContext::Event).await.unwrap();
    assert_eq!(out[0].traceparent(), e.traceparent());
    let e2 = ArvoEvent::builder()
        .event_type("com.x.y")
        .source("com.client.app")
        .subject("s-1")
        .data_json(json!({}))
        .build()
        .unwrap();
    let out = h.execute(&e2, ParentContext::Event).await.unwrap();
    assert_eq!(out[0].traceparent(), None);
    // Once a root span came out silent, roots skip the span; traced events still pass their
    // context through.
    let out = h.execute(&e2, ParentContext::Event).await.unwrap();
    assert_eq!(out[0].traceparent(), None);
    let out = h.execute(&e, ParentContext::Event).await.unwrap();
    assert_eq!(out[0].traceparent(), e.traceparent());
}

#[tokio::test]
async fn with_a_provider_every_root_event_gets_a_recorded_span() {
    let (h, exporter, provider) = setup(false);
    let root = ArvoEvent::builder()
        .event_type("com.calc.add")
        .source("com.client.app")
        .subject("s-1")
        .data_json(json!({"a": 1, "b": 2}))
        .build()
        .unwrap();
    for _ in 0..3 {
        let out = h.execute(&root, ParentContext::Event).await.unwrap();
        assert!(out[0].traceparent().is_some());
    }
    provider.force_flush().unwrap();
    assert_eq!(exporter.get_finished_spans().unwrap().len(), 3);
}
