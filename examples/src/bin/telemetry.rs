//! The order workflow traced with OpenTelemetry, spans exported to stdout.
//!
//! Run: `cargo run -p arvo-examples --bin telemetry`.
//!
//! An SDK tracer provider with the `opentelemetry-stdout` span exporter is handed to every
//! handler and workflow of the order system (their builders take a tracer; nothing global is
//! installed). The shop opens a `checkout` span and builds the order's init event inside it,
//! so the event carries its `traceparent`; each handler's span is a child of the event it
//! consumes and stamps its own span on the events it emits, and the human desk copies the
//! request's trace context into its answer. The result is one trace for the whole workflow,
//! child workflow included: the example prints each event's trace and span ids, the spans (as
//! the stdout exporter prints them), then checks that every event and every span belong to the
//! checkout's trace, and exits 0 only then.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use arvo_examples::order::{OrderSystem, describe, sample_order};
use opentelemetry::Context;
use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

/// `00-<trace id>-<span id>-<flags>` -> (trace id, span id).
fn ids(traceparent: &str) -> Option<(&str, &str)> {
    let mut parts = traceparent.split('-');
    let (_version, trace, span) = (parts.next()?, parts.next()?, parts.next()?);
    Some((trace, span))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // Spans go to stdout, and to memory so the example can check them at the end.
    let memory = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(opentelemetry_stdout::SpanExporter::default())
        .with_simple_exporter(memory.clone())
        .build();

    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&events);
    let p = provider.clone();
    let system = OrderSystem::builder()
        .tracer(Arc::new(move || {
            BoxedTracer::new(Box::new(p.tracer("arvo-examples")))
        }))
        .observer(Arc::new(move |e| {
            let (trace, span) = e.traceparent().and_then(ids).unwrap_or(("-", "-"));
            println!("{}\n      trace {trace} span {span}", describe(e));
            if let Ok(mut v) = seen.lock() {
                v.push(e.traceparent().map(str::to_owned));
            }
        }))
        .build();
    let system = match system {
        Ok(s) => s,
        Err(e) => {
            eprintln!("setup failed: {e}");
            return ExitCode::FAILURE;
        }
    };

    // The shop's own span; the init event is built inside it.
    let shop = provider.tracer("shop");
    let checkout = Context::current_with_span(shop.start("checkout"));
    let init = {
        let _attached = checkout.clone().attach();
        OrderSystem::order_event(&sample_order("ORD-2001", 2, "tok_visa"))
    };
    let trace_id = checkout.span().span_context().trace_id().to_string();
    println!(
        "checkout span: trace {trace_id}\n\nevents, and the spans as the stdout exporter prints them when each ends:"
    );
    let placed = match init {
        Ok(init) => system.submit(init).await,
        Err(e) => Err(e),
    };
    checkout.span().end();
    let status = match &placed {
        Ok(p) => p.result.as_ref().map(|r| format!("{:?}", r.status)),
        Err(e) => Some(format!("error: {e}")),
    };

    if let Err(e) = provider.force_flush() {
        eprintln!("flush failed: {e}");
    }
    let spans = memory.get_finished_spans().unwrap_or_default();
    if let Err(e) = provider.shutdown() {
        eprintln!("shutdown failed: {e}");
    }

    let mut by_start = spans.iter().collect::<Vec<_>>();
    by_start.sort_by_key(|s| s.start_time);
    println!("\nthe trace, span by span (start order):");
    for s in by_start {
        println!(
            "  {} <- parent {}  {}",
            s.span_context.span_id(),
            s.parent_span_id,
            s.name
        );
    }

    let events = events.lock().map(|v| v.clone()).unwrap_or_default();
    let event_traces: BTreeSet<&str> = events
        .iter()
        .map(|t| t.as_deref().and_then(ids).map_or("none", |(t, _)| t))
        .collect();
    let span_traces: BTreeSet<String> = spans
        .iter()
        .map(|s| s.span_context.trace_id().to_string())
        .collect();
    let one_trace = event_traces.len() == 1
        && event_traces.contains(trace_id.as_str())
        && span_traces.len() == 1
        && span_traces.contains(&trace_id);
    println!(
        "\norder: {}\n{} events, {} spans; traces of events {:?}, of spans {:?}",
        status.as_deref().unwrap_or("no completion"),
        events.len(),
        spans.len(),
        event_traces,
        span_traces
    );
    if one_trace && status.as_deref() == Some("Completed") {
        println!("every event carries a traceparent and all spans form one trace: {trace_id}");
        ExitCode::SUCCESS
    } else {
        println!("FAILED: expected one completed workflow in one trace {trace_id}");
        ExitCode::FAILURE
    }
}
