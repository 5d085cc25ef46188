//! The worker program (cargo feature `worker`): a process that serves a set of handlers,
//! orchestrators and resumables from NATS JetStream ([`transport::nats`](crate::transport::nats)),
//! with their state in PostgreSQL, until it is told to stop.
//!
//! A worker program is a few lines of `main`:
//! 1. [`WorkerConfig::from_env`] reads the settings from flags and environment variables
//!    (`ARVO_NATS_URL`, `ARVO_POSTGRES_URL`, `ARVO_STREAM`, `ARVO_SERVE`, `ARVO_IN_FLIGHT`,
//!    `ARVO_MAX_DELIVERIES`, ...: see [`WorkerConfig`]);
//! 2. [`init_telemetry`] installs the structured logs (`tracing`, text or JSON on stderr) and,
//!    when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (feature `otlp`), the OpenTelemetry span
//!    export;
//! 3. [`WorkerProgram`] takes the handlers (by value, as the broker does; or every handler of
//!    the program's [registry](crate::registry) with
//!    [`registered_handlers`](WorkerProgram::registered_handlers)), keeps those that
//!    [`WorkerConfig::serve`] names, and [`run`](WorkerProgram::run)s them on a
//!    [`NatsWorker`] until SIGTERM or SIGINT.
//!
//! With `--replay-dead-letters N` (`ARVO_REPLAY_DEAD_LETTERS`) the program first puts back up
//! to `N` dead letters of the handlers it serves
//! ([`NatsTransport::replay_dead_letters`]), once the fault that sent them there is fixed, and
//! prints `arvo worker replayed dead letters: name=.. replayed=.. kept=..`.
//!
//! At start the program prints one **health line** on stdout, once every handler's durable
//! consumer exists:
//!
//! ```text
//! arvo worker ready: name=order-worker pid=4242 handlers=com.inventory.reserve consumers=arvo_com~2Einventory~2Ereserve stream=ORDERS nats=nats://127.0.0.1:4222 in_flight=16 max_deliveries=5 max_hops=10000 run_timeout=600s memory_wait=180s ack_wait=30s
//! ```
//!
//! On SIGTERM or SIGINT it stops fetching, finishes the events in flight (their emitted events
//! published and acknowledged by JetStream, then the inputs acknowledged), prints one line
//! with its counters and peak memory ([`WorkerReport`]), and returns: the program exits 0.
//! Each handled event is logged at `info` (handler, event type and id, the events emitted),
//! each failure at `warn`.
//!
//! ```no_run
//! use arvo_runtime::worker::{WorkerConfig, WorkerProgram, init_telemetry};
//! # async fn main_() -> Result<(), arvo_runtime::worker::WorkerError> {
//! let config = WorkerConfig::from_env("my-worker")?;
//! let telemetry = init_telemetry(&config)?;
//! let transport = config.connect().await?;
//! let report = WorkerProgram::new(config, transport)
//!     .registered_handlers() // every #[arvo_handler] of the program
//!     .run()                 // until SIGTERM / SIGINT
//!     .await?;
//! telemetry.shutdown();
//! assert_eq!(report.dead_lettered, 0);
//! # Ok(()) }
//! ```

mod config;
mod telemetry;

pub use config::{LogFormat, WorkerConfig};
pub use telemetry::{Telemetry, init_telemetry};

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;

use crate::broker::RetryPolicy;
use crate::event::ArvoEvent;
use crate::handler::{DynEventHandler, ParentContext, Violation};
use crate::registry::{IntoHandler, IntoHandlerError};
use crate::transport::nats::{NatsError, NatsStreams, NatsTransport, NatsWorker};

/// The process's arguments after the program name, as `String`s.
///
/// # Errors
/// [`WorkerError::Usage`] naming the first argument that is not UTF-8 (`std::env::args`
/// panics on one): see [`utf8_args`].
pub fn process_args() -> Result<Vec<String>, WorkerError> {
    utf8_args(std::env::args_os().skip(1))
}

/// `args` as `String`s.
///
/// # Errors
/// [`WorkerError::Usage`] naming the first argument (counted from 1) that is not UTF-8, shown
/// with its bad bytes replaced.
///
/// ```
/// # #[cfg(unix)] {
/// use std::ffi::OsString;
/// use std::os::unix::ffi::OsStringExt as _;
/// use arvo_runtime::worker::utf8_args;
/// let ok = utf8_args([OsString::from("--stream"), OsString::from("ORDERS")]).unwrap();
/// assert_eq!(ok, ["--stream", "ORDERS"]);
/// let bad = utf8_args([OsString::from("--stream"), OsString::from_vec(b"OR\xffDERS".to_vec())]);
/// assert_eq!(
///     bad.unwrap_err().to_string(),
///     "argument 2 is not valid UTF-8: 'OR\u{fffd}DERS'"
/// );
/// # }
/// ```
pub fn utf8_args(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Result<Vec<String>, WorkerError> {
    args.into_iter()
        .enumerate()
        .map(|(i, arg)| {
            arg.into_string().map_err(|arg| {
                WorkerError::Usage(format!(
                    "argument {} is not valid UTF-8: '{}'",
                    i + 1,
                    crate::issue::prefix_within(&arg.to_string_lossy(), 200)
                ))
            })
        })
        .collect()
}

/// The value of the environment variable `var`: `None` when it is unset or empty.
///
/// # Errors
/// [`WorkerError::Usage`] naming `var` when its value is not UTF-8 (which
/// `std::env::var(var).ok()` would take for unset, silently falling back to a default).
pub fn env_var(var: &str) -> Result<Option<String>, WorkerError> {
    match std::env::var(var) {
        Ok(value) if value.is_empty() => Ok(None),
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(value)) => Err(WorkerError::Usage(format!(
            "{var} is not valid UTF-8: '{}'",
            crate::issue::prefix_within(&value.to_string_lossy(), 200)
        ))),
    }
}

/// Why a worker program could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// `--help` was asked for: the usage text (print it and exit 0).
    #[error("{0}")]
    Help(String),
    /// A flag or variable is wrong: what, where, and the usage.
    #[error("{0}")]
    Usage(String),
    /// A handler could not be built.
    #[error("handler: {0}")]
    Handler(#[from] IntoHandlerError),
    /// `serve` names a handler the program does not have.
    #[error("cannot serve '{name}': no such handler in this program (it has: {})", available.join(", "))]
    UnknownHandler {
        /// The name asked for.
        name: String,
        /// The handlers' sources.
        available: Vec<String>,
    },
    /// Nothing to serve.
    #[error("no handler to serve")]
    NothingToServe,
    /// The NATS transport failed (connecting, streams, consumers).
    #[error(transparent)]
    Nats(#[from] NatsError),
    /// The workflow state's database could not be set up.
    #[error("PostgreSQL: {0}")]
    Postgres(String),
    /// The logs or the span export could not be set up.
    #[error("telemetry: {0}")]
    Telemetry(String),
    /// The signal handlers could not be installed.
    #[error("installing the SIGTERM/SIGINT handlers: {0}")]
    Signal(String),
}

#[cfg(feature = "postgres")]
impl From<crate::memory::postgres::PostgresSetupError> for WorkerError {
    fn from(e: crate::memory::postgres::PostgresSetupError) -> Self {
        WorkerError::Postgres(e.to_string())
    }
}

/// What a worker program did, returned by [`WorkerProgram::run`] after a graceful shutdown.
/// Its `Display` is the program's last line:
/// `arvo worker stopped: handled=.. failed=.. redelivered=.. dead_lettered=.. published=.. memory_waits=.. peak_rss_kib=.. uptime=..`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerReport {
    /// The worker's name.
    pub name: String,
    /// Events handled and acknowledged.
    pub handled: u64,
    /// Deliveries that failed and were retried.
    pub failed: u64,
    /// Deliveries that were re-deliveries.
    pub redelivered: u64,
    /// Events moved to the dead-letter stream.
    pub dead_lettered: u64,
    /// Events published (emitted by the handlers).
    pub published: u64,
    /// Runs retried in place because the workflow's state could not be had
    /// ([`WorkerStats::memory_waits`](crate::transport::nats::WorkerStats::memory_waits)).
    pub memory_waits: u64,
    /// The process's peak resident memory in KiB (`VmHWM` of `/proc/self/status`), where the
    /// system tells it.
    pub peak_rss_kib: Option<u64>,
    /// How long the worker served.
    pub uptime: Duration,
}

impl fmt::Display for WorkerReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arvo worker stopped: name={} handled={} failed={} redelivered={} dead_lettered={} \
             published={} memory_waits={} peak_rss_kib={} uptime={:.1?}",
            self.name,
            self.handled,
            self.failed,
            self.redelivered,
            self.dead_lettered,
            self.published,
            self.memory_waits,
            self.peak_rss_kib
                .map_or_else(|| "unknown".to_owned(), |k| k.to_string()),
            self.uptime
        )
    }
}

/// The process's peak resident set size in KiB (`VmHWM` in `/proc/self/status`); `None` where
/// there is no such file.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()
}

/// Waits for SIGTERM or SIGINT (Ctrl-C elsewhere than Unix) and returns its name. The
/// handlers are installed when this is called, not when the future is first polled.
///
/// # Errors
/// [`WorkerError::Signal`] when a handler cannot be installed.
pub fn shutdown_signal() -> Result<impl Future<Output = &'static str> + Send, WorkerError> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let err = |e: std::io::Error| WorkerError::Signal(e.to_string());
        let mut term = signal(SignalKind::terminate()).map_err(err)?;
        let mut int = signal(SignalKind::interrupt()).map_err(err)?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        })
    }
}

/// A hook for emitted events with a `domain` (see
/// [`NatsWorkerBuilder::on_domained`](crate::transport::nats::NatsWorkerBuilder::on_domained)).
type DomainedHook = Arc<dyn Fn(ArvoEvent) -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// A worker program: handlers, the settings, and [`run`](Self::run). See the
/// [module docs](self).
#[must_use]
pub struct WorkerProgram {
    config: WorkerConfig,
    transport: NatsTransport,
    handlers: Vec<Result<Arc<dyn DynEventHandler>, IntoHandlerError>>,
    retry: Option<RetryPolicy>,
    on_domained: Option<DomainedHook>,
}

impl fmt::Debug for WorkerProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerProgram")
            .field("config", &self.config)
            .field("handlers", &self.handlers.len())
            .finish_non_exhaustive()
    }
}

impl WorkerProgram {
    /// A program with `config`'s settings on `transport` (from [`WorkerConfig::connect`]).
    pub fn new(config: WorkerConfig, transport: NatsTransport) -> WorkerProgram {
        WorkerProgram {
            config,
            transport,
            handlers: Vec::new(),
            retry: None,
            on_domained: None,
        }
    }

    /// The settings.
    pub fn config(&self) -> &WorkerConfig {
        &self.config
    }

    /// The transport (to publish from a hook, say).
    pub fn transport(&self) -> &NatsTransport {
        &self.transport
    }

    /// Adds a handler, orchestrator or resumable (anything the broker registers). It is served
    /// only if [`WorkerConfig::serve`] is unset or names its source. A build error is
    /// reported by [`run`](Self::run).
    pub fn handler(mut self, handler: impl IntoHandler) -> Self {
        self.handlers.push(handler.into_handler());
        self
    }

    /// Adds every handler of the program's registry ([`registry::handlers`](crate::registry::handlers):
    /// every `#[arvo_handler]` function, and `impl` blocks annotated with `register`).
    pub fn registered_handlers(mut self) -> Self {
        for r in crate::registry::registered() {
            self.handlers.push(
                r.build()
                    .map_err(|e| IntoHandlerError(format!("{}: {e}", r.name()))),
            );
        }
        self
    }

    /// The backoff of retried deliveries (default [`RetryPolicy::default`]).
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = Some(retry);
        self
    }

    /// A hook for emitted events with a `domain` (e.g. a human's desk), instead of publishing
    /// them on their domain's subject.
    pub fn on_domained<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(ArvoEvent) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.on_domained = Some(Arc::new(move |e| Box::pin(f(e))));
        self
    }

    /// Serves until SIGTERM or SIGINT, then shuts down gracefully (see the
    /// [module docs](self)) and prints the [`WorkerReport`] line.
    ///
    /// # Errors
    /// As [`run_until`](Self::run_until), and [`WorkerError::Signal`].
    pub async fn run(self) -> Result<WorkerReport, WorkerError> {
        let signal = shutdown_signal()?;
        self.run_until(async {
            let name = signal.await;
            tracing::info!(signal = name, "stopping: finishing the events in flight");
        })
        .await
    }

    /// Serves until `shutdown` completes, then stops fetching, finishes and acknowledges the
    /// events in flight, prints the [`WorkerReport`] line on stdout and returns the report.
    ///
    /// # Errors
    /// [`WorkerError::Handler`] for a handler that could not be built,
    /// [`WorkerError::UnknownHandler`] when `serve` names a handler the program lacks,
    /// [`WorkerError::NothingToServe`], [`WorkerError::Nats`] when a consumer cannot be set up
    /// or the dead letters cannot be replayed.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<WorkerReport, WorkerError> {
        let started = Instant::now();
        let mut all = Vec::with_capacity(self.handlers.len());
        for h in self.handlers {
            all.push(h?);
        }
        let available: Vec<String> = all.iter().map(|h| h.source().to_owned()).collect();
        if let Some(names) = &self.config.serve
            && let Some(missing) = names.iter().find(|n| !available.contains(n))
        {
            return Err(WorkerError::UnknownHandler {
                name: missing.clone(),
                available,
            });
        }
        let served: Vec<Arc<dyn DynEventHandler>> = all
            .into_iter()
            .filter(|h| self.config.serves(h.source()))
            .collect();
        if served.is_empty() {
            return Err(WorkerError::NothingToServe);
        }
        let sources: Vec<String> = served.iter().map(|h| h.source().to_owned()).collect();
        let config = &self.config;
        if config.replay_dead_letters > 0 {
            let done = self
                .transport
                .replay_dead_letters(config.replay_dead_letters, |letter| {
                    sources.contains(&letter.handler)
                })
                .await?;
            let line = format!(
                "arvo worker replayed dead letters: name={} replayed={} kept={}",
                config.name, done.replayed, done.kept
            );
            tracing::info!("{line}");
            println!("{line}");
        }
        let mut builder = NatsWorker::builder(self.transport.clone())
            .in_flight(config.in_flight)
            .max_deliveries(config.max_deliveries)
            .max_hops(config.max_hops)
            .run_timeout(config.run_timeout)
            .memory_wait(config.memory_wait)
            .ack_wait(config.ack_wait);
        if let Some(n) = config.workflow_budget {
            builder = builder.workflow_budget(n);
        }
        for h in served {
            builder = builder.handler(Arc::new(Logged(h)));
        }
        if let Some(retry) = self.retry {
            builder = builder.retry(retry);
        }
        if let Some(hook) = self.on_domained {
            builder = builder.on_domained(move |e| hook(e));
        }
        let health = format!(
            "arvo worker ready: name={} pid={} handlers={} consumers={} {config}",
            config.name,
            std::process::id(),
            sources.join(","),
            sources
                .iter()
                .map(|s| NatsStreams::consumer_name(s))
                .collect::<Vec<_>>()
                .join(","),
        );
        let worker = builder
            .on_ready(move || {
                tracing::info!("{health}");
                println!("{health}");
            })
            .build()?;
        let stats = worker.run(shutdown).await?;
        let report = WorkerReport {
            name: config.name.clone(),
            handled: stats.handled(),
            failed: stats.failed(),
            redelivered: stats.redelivered(),
            dead_lettered: stats.dead_lettered(),
            published: stats.published(),
            memory_waits: stats.memory_waits(),
            peak_rss_kib: peak_rss_kib(),
            uptime: started.elapsed(),
        };
        tracing::info!(
            handled = report.handled,
            failed = report.failed,
            redelivered = report.redelivered,
            dead_lettered = report.dead_lettered,
            published = report.published,
            memory_waits = report.memory_waits,
            peak_rss_kib = report.peak_rss_kib,
            "worker stopped"
        );
        println!("{report}");
        Ok(report)
    }
}

/// A served handler, logging each event it handles.
struct Logged(Arc<dyn DynEventHandler>);

impl DynEventHandler for Logged {
    fn source(&self) -> &str {
        self.0.source()
    }

    fn system_error_type(&self) -> &str {
        self.0.system_error_type()
    }

    fn execute_dyn<'a>(
        &'a self,
        event: &'a ArvoEvent,
        parent: ParentContext,
    ) -> BoxFuture<'a, Result<Vec<ArvoEvent>, Violation>> {
        Box::pin(async move {
            let started = Instant::now();
            let out = self.0.execute_dyn(event, parent).await;
            let elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            match &out {
                Ok(emitted) => tracing::info!(
                    handler = self.source(),
                    event_type = event.event_type(),
                    event_id = event.id(),
                    subject = event.subject(),
                    emitted = %EmittedTypes(emitted),
                    elapsed_us,
                    "handled"
                ),
                Err(violation) => tracing::warn!(
                    handler = self.source(),
                    event_type = event.event_type(),
                    event_id = event.id(),
                    error = %violation,
                    elapsed_us,
                    "handler refused the event"
                ),
            }
            out
        })
    }
}

/// The types (and destinations) of emitted events, for a log field.
struct EmittedTypes<'a>(&'a [ArvoEvent]);

impl fmt::Display for EmittedTypes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{} -> {}", e.event_type(), e.to().unwrap_or("-"))?;
        }
        f.write_str("]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_rss_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            let kib = peak_rss_kib().unwrap_or(0);
            assert!(kib > 100, "VmHWM {kib} KiB");
        }
    }

    #[test]
    fn the_report_line_names_every_counter() {
        let r = WorkerReport {
            name: "w".into(),
            handled: 3,
            failed: 1,
            redelivered: 2,
            dead_lettered: 0,
            published: 5,
            memory_waits: 4,
            peak_rss_kib: Some(1234),
            uptime: Duration::from_millis(1500),
        };
        assert_eq!(
            r.to_string(),
            "arvo worker stopped: name=w handled=3 failed=1 redelivered=2 dead_lettered=0 \
             published=5 memory_waits=4 peak_rss_kib=1234 uptime=1.5s"
        );
    }
}
