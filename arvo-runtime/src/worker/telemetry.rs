//! The worker program's logs (`tracing`, to stderr, text or JSON) and, when configured, its
//! OpenTelemetry trace export.

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use super::{LogFormat, WorkerConfig, WorkerError};

/// What [`init_telemetry`] installed; keep it until the program ends, then call
/// [`shutdown`](Telemetry::shutdown) to flush the spans still buffered.
#[derive(Debug)]
pub struct Telemetry {
    /// Where spans are exported, when they are.
    exporting: Option<String>,
    #[cfg(feature = "otlp")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Telemetry {
    /// Where spans are exported (the OTLP endpoint), or `None` when they are not.
    pub fn exporting(&self) -> Option<&str> {
        self.exporting.as_deref()
    }

    /// Flushes and stops the span export (nothing to do when spans are not exported).
    pub fn shutdown(self) {
        #[cfg(feature = "otlp")]
        if let Some(provider) = self.provider
            && let Err(e) = provider.shutdown()
        {
            tracing::warn!(error = %e, "flushing the OpenTelemetry spans failed");
        }
    }
}

/// Installs the program's `tracing` subscriber: log lines on stderr in `config.log_format`,
/// filtered by `config.log` (directives such as `info` or `warn,arvo_runtime=debug`).
///
/// When `OTEL_EXPORTER_OTLP_ENDPOINT` is set and the crate is built with the `otlp` feature,
/// also installs an OpenTelemetry tracer provider exporting spans over OTLP/HTTP (protobuf)
/// to that endpoint, with `service.name` = `config.name` (or `OTEL_SERVICE_NAME`), as the
/// global tracer provider: the handlers' default tracer, so every handler and workflow span
/// is exported. Without the feature, a set endpoint is reported with a warning.
///
/// # Errors
/// [`WorkerError::Telemetry`] for a filter that does not parse, a subscriber already
/// installed, or an exporter that cannot be built.
pub fn init_telemetry(config: &WorkerConfig) -> Result<Telemetry, WorkerError> {
    let filter: Targets = config
        .log
        .parse()
        .map_err(|e| WorkerError::Telemetry(format!("log filter '{}': {e}", config.log)))?;
    let registry = tracing_subscriber::registry().with(filter);
    let installed = match config.log_format {
        LogFormat::Text => registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    installed.map_err(|e| WorkerError::Telemetry(format!("installing the log subscriber: {e}")))?;
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .ok()
        .filter(|v| !v.is_empty());
    otlp(config, endpoint)
}

#[cfg(not(feature = "otlp"))]
fn otlp(_config: &WorkerConfig, endpoint: Option<String>) -> Result<Telemetry, WorkerError> {
    if let Some(endpoint) = endpoint {
        tracing::warn!(
            %endpoint,
            "OTEL_EXPORTER_OTLP_ENDPOINT is set, but this program was built without the `otlp` \
             feature of arvo-runtime: spans are not exported"
        );
    }
    Ok(Telemetry { exporting: None })
}

#[cfg(feature = "otlp")]
fn otlp(config: &WorkerConfig, endpoint: Option<String>) -> Result<Telemetry, WorkerError> {
    use opentelemetry_otlp::WithExportConfig as _;
    let Some(endpoint) = endpoint else {
        return Ok(Telemetry {
            exporting: None,
            provider: None,
        });
    };
    // The exporter reads the other OTEL_EXPORTER_OTLP_* variables (headers, timeout) itself.
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .build()
        .map_err(|e| WorkerError::Telemetry(format!("OTLP exporter for '{endpoint}': {e}")))?;
    let service = std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| config.name.clone());
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service)
        .build();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build();
    opentelemetry::global::set_tracer_provider(provider.clone());
    tracing::info!(%endpoint, "exporting spans over OTLP/HTTP");
    Ok(Telemetry {
        exporting: Some(endpoint),
        provider: Some(provider),
    })
}
