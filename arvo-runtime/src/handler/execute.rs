//! Running an [`ArvoEventHandler`] on one event (spec §1.3): routing, the version, input
//! validation, the implementation, telemetry.

use super::builder::ArvoEventHandler;
use super::{
    DomainResolver, DomainSpec, EventHandler, HandlerError, HandlerInput, ParentContext, RawOutput,
    Violation, catch_panic,
};
use crate::contract::{ArvoContract, dataschema};
use crate::event::ArvoEvent;
use crate::otel::{TraceHeaders, attr};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use std::borrow::Cow;
use std::future::Future;

/// Why the steps before the outputs stopped.
enum Failure {
    Violation(Violation),
    User(HandlerError),
}

impl From<Violation> for Failure {
    fn from(v: Violation) -> Self {
        Failure::Violation(v)
    }
}

impl ArvoEventHandler {
    /// The contract.
    pub fn contract(&self) -> &ArvoContract {
        &self.contract
    }

    /// The default executionunits.
    pub fn executionunits(&self) -> f64 {
        self.executionunits
    }

    /// The default emission domains (`emits`, `systemError`).
    pub fn default_domains(&self) -> (&[DomainSpec], &[DomainSpec]) {
        (&self.emit_domains, &self.system_error_domains)
    }

    /// The span name.
    pub fn span_name(&self) -> &str {
        &self.span_name
    }

    /// The static span attributes (kinds, user attributes, source, contract uri).
    pub fn span_attributes(&self) -> &[KeyValue] {
        &self.span_attributes
    }

    /// Parses `json` as an event and executes it; events over the size limit and unparsable
    /// events are refused with a `Contract` violation before anything else is done.
    ///
    /// # Errors
    /// As [`execute`](Self::execute), plus the two refusals.
    pub async fn execute_json(
        &self,
        json: &[u8],
        parent: ParentContext,
    ) -> Result<Vec<ArvoEvent>, Violation> {
        if json.len() > self.max_event_bytes {
            return Err(Violation::contract(format!(
                "Event of {} bytes exceeds the limit of {} bytes",
                json.len(),
                self.max_event_bytes
            )));
        }
        let event = ArvoEvent::from_json_slice(json)
            .map_err(|e| Violation::contract(format!("Invalid ArvoEvent: {e}")))?;
        self.execute(&event, parent).await
    }

    /// Processes one event (spec §1.3): the events to emit, or the violation to hand to the
    /// infrastructure. Errors of the implementation that are not violations become system
    /// error events, and so does a panic of the implementation (a [`UserPanic`](super::UserPanic)): it never
    /// unwinds into the caller.
    ///
    /// # Errors
    /// `Config` (wrong event type, unknown version), `Contract` (dataschema of another
    /// contract, invalid input or output data, invalid output event), or a violation raised
    /// by the implementation.
    pub async fn execute(
        &self,
        event: &ArvoEvent,
        parent: ParentContext,
    ) -> Result<Vec<ArvoEvent>, Violation> {
        let parent_cx = match parent {
            ParentContext::Event => crate::otel::event_parent_context(event),
            ParentContext::Context(cx) => cx,
        };
        let span = self.tracer.start(
            || Cow::Owned(self.span_name.clone()),
            SpanKind::Consumer,
            parent_cx,
        );
        let (cx, recording) = (&span.cx, span.recording);
        let headers = TraceHeaders::from_context(cx);
        if recording {
            crate::otel::record_start(cx, &self.span_attributes, "handler", event);
        }
        // Decodes the subject lazily, at most once, for outputs and system errors alike.
        let resolver = DomainResolver::new(
            None,
            event.subject(),
            self.contract.domain(),
            self.contract.domain(),
            event.domain(),
        );
        let mut failed = false;
        let result = match self.call_user(event, cx, &headers, recording).await {
            Ok((slot, outputs)) => self.emit(event, slot, outputs, &resolver, &headers),
            Err(Failure::Violation(v)) => Err(v),
            Err(Failure::User(err)) => match err.violation() {
                Some(v) => Err(v),
                None => {
                    if recording {
                        failed = true;
                        fail_span(cx, "Error", &err.to_string());
                    }
                    self.system_errors(event, &err, &resolver, &headers)
                }
            },
        };
        if recording {
            record_end(cx, &resolver, &result, failed);
        }
        span.end();
        result
    }

    /// Steps 3-8: routing, dataschema, version, input validation, the implementation.
    async fn call_user(
        &self,
        event: &ArvoEvent,
        cx: &Context,
        headers: &TraceHeaders,
        recording: bool,
    ) -> Result<(usize, Vec<RawOutput>), Failure> {
        if event.event_type() != self.source {
            return Err(Violation::config(format!(
                "Event type mismatch: Received '{}', expected '{}'",
                crate::issue::quote_prefix(event.event_type()),
                self.source
            ))
            .into());
        }
        // Fast path: the dataschema is one of the versions' `<uri>/<version>` verbatim, which
        // `dataschema::parse` would split into this contract's uri and that version.
        let exact = event
            .dataschema()
            .and_then(|d| self.versions.iter().position(|v| v.dataschema() == d));
        let parsed = match exact {
            Some(_) => None,
            None => event.dataschema().and_then(|d| dataschema::parse(d).ok()),
        };
        let slot = match (exact, parsed) {
            (Some(slot), _) => slot,
            (None, parsed) => match parsed {
                Some(p) => {
                    if p.uri != self.contract.uri() {
                        return Err(Violation::contract(format!(
                        "Contract URI mismatch: Handler expects '{}' but event dataschema specifies '{}'. Events must reference the same contract URI as their handler.",
                        self.contract.uri(),
                        crate::issue::quote_prefix(event.dataschema().unwrap_or_default())
                    ))
                    .into());
                    }
                    self.versions
                        .iter()
                        .position(|v| v.version().as_str() == p.version)
                        .ok_or_else(|| {
                            Violation::config(format!(
                                "Invalid contract version: {}. Available versions: {}",
                                crate::issue::quote_prefix(p.version),
                                self.available_versions
                            ))
                        })?
                }
                None => {
                    if recording {
                        log(
                            cx,
                            "WARNING",
                            format!(
                                "Version resolution failed for event with dataschema '{}'. Defaulting to latest version (={}) of contract (uri={})",
                                crate::issue::quote_prefix(
                                    event.dataschema().unwrap_or("undefined")
                                ),
                                self.latest.version(),
                                self.contract.uri()
                            ),
                        );
                    }
                    self.versions
                        .iter()
                        .position(|v| v.version() == self.latest.version())
                        .unwrap_or(0)
                }
            },
        };
        let Some(versioned) = self.versions.get(slot) else {
            return Err(Violation::config("No contract version available").into());
        };
        if let Err(issues) = versioned.accepts().schema.validate(event.data_value()) {
            return Err(Violation::contract(format!(
                "Input event payload validation failed: {issues}"
            ))
            .into());
        }
        let input = HandlerInput {
            event,
            contract: versioned,
            source: &self.source,
            span_headers: headers,
            otel_context: cx,
        };
        // The one place a handler's implementation runs: a panic in it is the error it stands
        // for (a system error event), never an unwind into the caller.
        let fut = catch_panic(async { self.dispatch.call(slot, input).await });
        let outputs = if cx.span().span_context().is_valid() {
            use opentelemetry::context::FutureExt as _;
            fut.with_context(cx.clone()).await
        } else {
            fut.await
        };
        match outputs {
            Ok(outputs) => outputs.map(|o| (slot, o)).map_err(Failure::User),
            Err(panic) => Err(Failure::User(HandlerError::from(panic))),
        }
    }
}

impl EventHandler for ArvoEventHandler {
    fn source(&self) -> &str {
        &self.source
    }
    fn system_error_type(&self) -> &str {
        &self.system_error_type
    }
    fn execute(
        &self,
        event: &ArvoEvent,
        parent: ParentContext,
    ) -> impl Future<Output = Result<Vec<ArvoEvent>, Violation>> + Send {
        ArvoEventHandler::execute(self, event, parent)
    }
}

/// The span attributes, events and status of a recording execution's end (out of the hot
/// path).
#[cold]
#[inline(never)]
fn record_end(
    cx: &Context,
    resolver: &DomainResolver<'_>,
    result: &Result<Vec<ArvoEvent>, Violation>,
    failed: bool,
) {
    let span = cx.span();
    for msg in resolver.subject_errors() {
        span.add_event(
            "exception",
            vec![KeyValue::new(
                attr::EXCEPTION_MESSAGE,
                format!(
                    "Unable to parse the provided subject. Falling back to ArvoDomain.LOCAL. Error: {msg}"
                ),
            )],
        );
    }
    match result {
        Ok(events) => {
            // OpenTelemetry's `Ok` is final, so it is set at the end (the reference
            // sets it first and may overwrite it with `ERROR`).
            if !failed {
                span.set_status(Status::Ok);
            }
            crate::otel::record_emittables(cx, events);
            log(
                cx,
                "INFO",
                format!(
                    "Execution completed with issues and emitted {} events",
                    events.len()
                ),
            );
        }
        Err(v) => fail_span(cx, &v.name(), &v.to_string()),
    }
}

/// Marks the span failed (§1.3 error path).
#[cold]
#[inline(never)]
fn fail_span(cx: &Context, name: &str, message: &str) {
    crate::otel::record_failure(
        cx,
        name,
        message,
        format!("Event processing failed: {message}"),
    );
}

/// `logToSpan`: a span event named `log`.
#[cold]
#[inline(never)]
fn log(cx: &Context, level: &'static str, message: String) {
    crate::otel::log_to_span(cx, level, || message);
}
