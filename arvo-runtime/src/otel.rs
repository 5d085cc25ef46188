//! OpenTelemetry integration: W3C trace context carried in events, and the span attribute names
//! the reference uses.
//!
//! Events carry trace context only in their `traceparent` and `tracestate` attributes. Arvo
//! reads and writes them with OpenTelemetry's W3C [`TraceContextPropagator`], so any
//! OpenTelemetry-instrumented service (Rust or TypeScript) continues the same trace. Nothing
//! here installs a global tracer or propagator: applications configure OpenTelemetry, and when
//! nobody does, spans are non-recording and the headers stay `None`.
//!
//! ```
//! use arvo_runtime::otel::TraceHeaders;
//! let headers = TraceHeaders {
//!     traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
//!     tracestate: Some("vendor=abc".into()),
//! };
//! // The parent context a handler's span is started in.
//! let cx = headers.to_context();
//! // Written back out, the same context gives the same headers.
//! assert_eq!(TraceHeaders::from_context(&cx), headers);
//! ```

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry_sdk::propagation::TraceContextPropagator;

/// The W3C trace headers of an event (`traceparent`, `tracestate`); `None` when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceHeaders {
    /// `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`.
    pub traceparent: Option<String>,
    /// Vendor-specific trace state (`key=value,...`).
    pub tracestate: Option<String>,
}

impl TraceHeaders {
    /// The headers that describe the span context of `cx` (the reference's
    /// `currentOpenTelemetryHeaders`): both `None` when `cx` holds no valid span context.
    pub fn from_context(cx: &Context) -> Self {
        let mut headers = TraceHeaders::default();
        TraceContextPropagator::new().inject_context(cx, &mut headers);
        headers
    }

    /// The headers of the currently active OpenTelemetry context.
    pub fn current() -> Self {
        Self::from_context(&Context::current())
    }

    /// The context these headers describe, to start a span in (the reference's
    /// `inheritFrom: 'EVENT'`). Without a valid `traceparent` it is an empty context, so a span
    /// started in it is a new root.
    pub fn to_context(&self) -> Context {
        if self.traceparent.is_none() {
            return Context::new();
        }
        TraceContextPropagator::new().extract_with_context(&Context::new(), self)
    }
}

impl Injector for TraceHeaders {
    fn set(&mut self, key: &str, value: String) {
        let value = (!value.is_empty()).then_some(value);
        match key {
            "traceparent" => self.traceparent = value,
            "tracestate" => self.tracestate = value,
            _ => {}
        }
    }
}

impl Extractor for TraceHeaders {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            "traceparent" => self.traceparent.as_deref(),
            "tracestate" => self.tracestate.as_deref(),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent", "tracestate"]
    }
}

/// The parent context of a span that consumes `event`: extracted from the event's own
/// `traceparent`/`tracestate` (without copying them), or an empty context (a new root) when the
/// event carries none.
pub(crate) fn event_parent_context(event: &crate::event::ArvoEvent) -> Context {
    struct EventCarrier<'a>(&'a crate::event::ArvoEvent);
    impl Extractor for EventCarrier<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            match key {
                "traceparent" => self.0.traceparent(),
                "tracestate" => self.0.tracestate(),
                _ => None,
            }
        }
        fn keys(&self) -> Vec<&str> {
            vec!["traceparent", "tracestate"]
        }
    }
    if event.traceparent().is_none() {
        return Context::new();
    }
    TraceContextPropagator::new().extract_with_context(&Context::new(), &EventCarrier(event))
}

/// A started execution span and the context it runs in.
pub(crate) struct ExecutionSpan {
    /// The parent context with the new span, or the parent context alone when the span
    /// records nothing and carries no trace (see [`ExecutionTracer`]).
    pub(crate) cx: Context,
    /// Whether the span records (attributes, events and status are set only then).
    pub(crate) recording: bool,
    /// Whether `cx` holds the new span, which [`ExecutionSpan::end`] then ends.
    owned: bool,
}

impl ExecutionSpan {
    /// No span: the execution runs in `parent` as it is.
    fn silent(parent: Context) -> Self {
        ExecutionSpan {
            cx: parent,
            recording: false,
            owned: false,
        }
    }

    /// Ends the span, if one was entered into the context.
    pub(crate) fn end(&self) {
        use opentelemetry::trace::TraceContextExt;
        if self.owned {
            self.cx.span().end();
        }
    }
}

/// The tracer of a handler's execution spans.
///
/// A span that neither records nor carries a valid span context (no tracer provider installed
/// and no incoming `traceparent`) changes nothing that could be observed, so it is not entered
/// into a new context: the parent context is used as it is. Once the tracer has shown it makes
/// such spans for a parent without a trace (a no-op tracer: the SDK's tracers always give a
/// span context, sampled or not), later executions without a trace skip building the span too
/// (its name and box), which telemetry-off deployments otherwise pay on every event. A tracer
/// is fixed when the handler is built (later changes to the global provider do not reach it),
/// so what it showed once holds.
pub(crate) struct ExecutionTracer {
    tracer: opentelemetry::global::BoxedTracer,
    /// Set once a root span of this tracer came out silent.
    silent_roots: std::sync::atomic::AtomicBool,
}

impl ExecutionTracer {
    /// Wraps `tracer`, by default the global tracer provider's `arvo-instrumentation` tracer
    /// (a no-op unless the application installed a provider before building the handler).
    pub(crate) fn new(tracer: Option<opentelemetry::global::BoxedTracer>) -> Self {
        use opentelemetry::trace::TracerProvider as _;
        ExecutionTracer {
            tracer: tracer.unwrap_or_else(|| {
                opentelemetry::global::tracer_provider().tracer("arvo-instrumentation")
            }),
            silent_roots: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Starts an execution span under `parent`, named by `name` (called only when the span is
    /// built) with `kind`.
    pub(crate) fn start(
        &self,
        name: impl FnOnce() -> std::borrow::Cow<'static, str>,
        kind: opentelemetry::trace::SpanKind,
        parent: Context,
    ) -> ExecutionSpan {
        use opentelemetry::trace::{Span as _, SpanBuilder, TraceContextExt, Tracer as _};
        use std::sync::atomic::Ordering::Relaxed;
        let root = !parent.span().span_context().is_valid();
        if root && self.silent_roots.load(Relaxed) {
            return ExecutionSpan::silent(parent);
        }
        let span = self
            .tracer
            .build_with_context(SpanBuilder::from_name(name()).with_kind(kind), &parent);
        let recording = span.is_recording();
        if !recording && !span.span_context().is_valid() {
            if root {
                self.silent_roots.store(true, Relaxed);
            }
            return ExecutionSpan::silent(parent);
        }
        ExecutionSpan {
            cx: parent.with_span(span),
            recording,
            owned: true,
        }
    }
}

impl std::fmt::Debug for ExecutionTracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutionTracer").finish_non_exhaustive()
    }
}

/// The reference's `logToSpan`: a span event named `log` with `log.severity` and
/// `log.message`. The message is built only when the span records.
#[cold]
#[inline(never)]
pub(crate) fn log_to_span(cx: &Context, level: &'static str, message: impl FnOnce() -> String) {
    use opentelemetry::trace::TraceContextExt;
    let span = cx.span();
    if span.is_recording() {
        span.add_event(
            "log",
            vec![
                opentelemetry::KeyValue::new("log.severity", level),
                opentelemetry::KeyValue::new("log.message", message()),
            ],
        );
    }
}

/// The start attributes of an execution's span (handlers and orchestrations alike): the
/// handler's static attributes, its execution type, the `normal` status and the consumed
/// event's attributes (`consumable.0.*`). Cold: it only runs for a recording span.
#[cold]
#[inline(never)]
pub(crate) fn record_start(
    cx: &Context,
    static_attributes: &[opentelemetry::KeyValue],
    execution_type: &'static str,
    event: &crate::event::ArvoEvent,
) {
    use opentelemetry::KeyValue;
    use opentelemetry::trace::TraceContextExt;
    let span = cx.span();
    for kv in static_attributes {
        span.set_attribute(kv.clone());
    }
    span.set_attribute(KeyValue::new(attr::EXECUTION_TYPE, execution_type));
    span.set_attribute(KeyValue::new(attr::EXECUTION_STATUS, "normal"));
    for (k, v) in event.otel_attributes() {
        span.set_attribute(KeyValue::new(
            format!("{}{k}", attr::CONSUMABLE_PREFIX),
            opentelemetry::Value::from(v),
        ));
    }
}

/// The emitted events' attributes on an execution's span (`emittables.<i>.*`).
pub(crate) fn record_emittables(cx: &Context, events: &[crate::event::ArvoEvent]) {
    use opentelemetry::KeyValue;
    use opentelemetry::trace::TraceContextExt;
    let span = cx.span();
    for (i, e) in events.iter().enumerate() {
        for (k, v) in e.otel_attributes() {
            span.set_attribute(KeyValue::new(
                format!("{}{i}.{k}", attr::EMITTABLES_PREFIX),
                opentelemetry::Value::from(v),
            ));
        }
    }
}

/// The reference's `exceptionToSpan` plus the failed status: marks the execution `failure`,
/// sets `exception.type` / `exception.message`, adds the `exception` event, and sets the
/// ERROR status with `status`.
#[cold]
#[inline(never)]
pub(crate) fn record_failure(cx: &Context, name: &str, message: &str, status: String) {
    use opentelemetry::KeyValue;
    use opentelemetry::trace::{Status, TraceContextExt};
    let span = cx.span();
    span.set_attribute(KeyValue::new(attr::EXECUTION_STATUS, "failure"));
    span.set_attribute(KeyValue::new(attr::EXCEPTION_TYPE, name.to_owned()));
    span.set_attribute(KeyValue::new(attr::EXCEPTION_MESSAGE, message.to_owned()));
    span.add_event(
        "exception",
        vec![
            KeyValue::new(attr::EXCEPTION_TYPE, name.to_owned()),
            KeyValue::new(attr::EXCEPTION_MESSAGE, message.to_owned()),
        ],
    );
    span.set_status(Status::error(status));
}

/// Span attribute names and values used by the reference (spec §7.1 of arvo-core, §12 of
/// arvo-event-handler), so traces from Rust and TypeScript services read the same.
pub mod attr {
    /// `arvo.span.kind`: which Arvo component made the span (see [`ArvoSpanKind`](super::ArvoSpanKind)).
    pub const ARVO_SPAN_KIND: &str = "arvo.span.kind";
    /// `openinference.span.kind` (`CHAIN` on handler spans, `INTERNAL` on factory spans).
    pub const OPENINFERENCE_SPAN_KIND: &str = "openinference.span.kind";
    /// `arvo.handler.source`: the handler's source (its contract type).
    pub const HANDLER_SOURCE: &str = "arvo.handler.source";
    /// `arvo.contract.uri`.
    pub const CONTRACT_URI: &str = "arvo.contract.uri";
    /// `arvo.contract.version`.
    pub const CONTRACT_VERSION: &str = "arvo.contract.version";
    /// `arvo.handler.execution.status`: `normal` or `failure`.
    pub const EXECUTION_STATUS: &str = "arvo.handler.execution.status";
    /// `arvo.handler.execution.type`: `handler`, `orchestrator` or `resumable`.
    pub const EXECUTION_TYPE: &str = "arvo.handler.execution.type";
    /// `arvo.parsed.subject.orchestrator.name`.
    pub const SUBJECT_ORCHESTRATOR_NAME: &str = "arvo.parsed.subject.orchestrator.name";
    /// `arvo.parsed.subject.orchestrator.version`.
    pub const SUBJECT_ORCHESTRATOR_VERSION: &str = "arvo.parsed.subject.orchestrator.version";
    /// Prefix of the consumed event's attributes: `consumable.0.<cloudevents attribute>`.
    pub const CONSUMABLE_PREFIX: &str = "consumable.0.";
    /// Prefix of the emitted events' attributes: `emittables.<i>.<cloudevents attribute>`.
    pub const EMITTABLES_PREFIX: &str = "emittables.";
    /// `exception.type`.
    pub const EXCEPTION_TYPE: &str = "exception.type";
    /// `exception.message`.
    pub const EXCEPTION_MESSAGE: &str = "exception.message";
}

/// The values of the `arvo.span.kind` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArvoSpanKind {
    /// A stateless event handler (`handler.simple`).
    EventHandler,
    /// A state-machine orchestrator (`handler.orchestrator.statemachine`).
    Orchestrator,
    /// An imperative resumable orchestrator (`handler.orchestrator.imperative`).
    Resumable,
    /// Anything else (`internal`).
    Internal,
}

impl ArvoSpanKind {
    /// The attribute value the reference writes.
    ///
    /// ```
    /// assert_eq!(arvo_runtime::otel::ArvoSpanKind::EventHandler.as_str(), "handler.simple");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ArvoSpanKind::EventHandler => "handler.simple",
            ArvoSpanKind::Orchestrator => "handler.orchestrator.statemachine",
            ArvoSpanKind::Resumable => "handler.orchestrator.imperative",
            ArvoSpanKind::Internal => "internal",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{Span as _, TraceContextExt, Tracer, TracerProvider as _};
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

    #[test]
    fn headers_of_a_recording_span_continue_its_trace() {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let tracer = provider.tracer("test");
        let parent = tracer.start("parent");
        let cx = Context::new().with_span(parent);
        let headers = TraceHeaders::from_context(&cx);
        let tp = headers
            .traceparent
            .clone()
            .expect("a recording span has a traceparent");
        let sc = cx.span().span_context().clone();
        assert_eq!(tp, format!("00-{}-{}-01", sc.trace_id(), sc.span_id()));
        assert_eq!(headers.tracestate, None);

        // A span started in the extracted context is a child in the same trace.
        let child = tracer.start_with_context("child", &headers.to_context());
        assert_eq!(child.span_context().trace_id(), sc.trace_id());
        drop(child);
        cx.span().end();
        let spans = exporter.get_finished_spans().expect("exporter works");
        let child = spans
            .iter()
            .find(|s| s.name == "child")
            .expect("child exported");
        assert_eq!(child.parent_span_id, sc.span_id());
    }

    #[test]
    fn no_span_gives_no_headers() {
        assert_eq!(
            TraceHeaders::from_context(&Context::new()),
            TraceHeaders::default()
        );
        assert_eq!(TraceHeaders::current(), TraceHeaders::default());
        assert!(!TraceHeaders::default().to_context().has_active_span());
    }

    #[test]
    fn malformed_traceparent_gives_a_root_context() {
        let h = TraceHeaders {
            traceparent: Some("traceparent-value".into()),
            tracestate: None,
        };
        assert!(!h.to_context().span().span_context().is_valid());
    }
}
