//! The worker program's settings, read from command-line flags and environment variables.

use std::fmt;
use std::time::Duration;

#[cfg(doc)]
use crate::transport::nats::NatsWorkerBuilder;
use crate::transport::nats::{MAX_IN_FLIGHT, MAX_WAIT, NatsError, NatsStreams, NatsTransport};

use super::WorkerError;

/// How log lines are written (to stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One human-readable line per event, fields as `key=value` (the default).
    #[default]
    Text,
    /// One JSON object per line, fields as JSON members (for log collectors).
    Json,
}

/// The settings of a worker program. Each has a flag and an environment variable; a flag wins
/// over the variable, the variable over the default:
///
/// | flag | variable | default | meaning |
/// | --- | --- | --- | --- |
/// | `--nats-url URL` | `ARVO_NATS_URL` | `nats://127.0.0.1:4222` | the NATS server |
/// | `--postgres-url URL` | `ARVO_POSTGRES_URL` | none | the workflows' state (orchestrators and resumables) |
/// | `--postgres-schema NAME` | `ARVO_POSTGRES_SCHEMA` | `arvo` | the schema of their tables |
/// | `--stream NAME` | `ARVO_STREAM` | `ARVO` | the deployment's JetStream streams (see [`NatsStreams`]) |
/// | `--serve A,B` | `ARVO_SERVE` | all | the handlers (by source) this process serves |
/// | `--in-flight N` | `ARVO_IN_FLIGHT` | 16 | events of one handler running at once in this process (at most 10,000) |
/// | `--max-deliveries N` | `ARVO_MAX_DELIVERIES` | 5 | deliveries before an event is dead-lettered |
/// | `--max-hops N` | `ARVO_MAX_HOPS` | 10000 | handler runs that may lead to an event before it is dead-lettered (a cycle; see [`NatsWorkerBuilder::max_hops`]) |
/// | `--workflow-budget N` | `ARVO_WORKFLOW_BUDGET` | off | handler runs one workflow may take before its events are dead-lettered (a fan-out cycle; see [`NatsWorkerBuilder::workflow_budget`]) |
/// | `--run-timeout DUR` | `ARVO_RUN_TIMEOUT` | `10m` | the longest one run of a handler may take before it is cancelled (a failed delivery; see [`NatsWorkerBuilder::run_timeout`]) |
/// | `--memory-wait DUR` | `ARVO_MEMORY_WAIT` | `3m` | how long one delivery keeps retrying while the workflow's state cannot be had (its lease held elsewhere, the memory unreachable) before it counts as failed; `0` turns it off (see [`NatsWorkerBuilder::memory_wait`]) |
/// | `--replay-dead-letters N` | `ARVO_REPLAY_DEAD_LETTERS` | 0 | at start, put back up to N dead letters of the handlers served (see [`NatsTransport::replay_dead_letters`](crate::transport::nats::NatsTransport::replay_dead_letters)) |
/// | `--ack-wait DUR` | `ARVO_ACK_WAIT` | `30s` | re-delivery after this long without an ack or heartbeat (100ms to 24h) |
/// | `--name NAME` | `ARVO_WORKER_NAME` | the program's | the worker's name in its health line and traces |
/// | `--log FILTER` | `ARVO_LOG`, else `RUST_LOG` | `info` | log levels: `warn`, `info,arvo_runtime=debug`, ... |
/// | `--log-format F` | `ARVO_LOG_FORMAT` | `text` | `text` or `json` |
///
/// Durations are a number with a unit: `500ms`, `30s`, `2m` (a bare number is seconds).
/// Flags are written `--flag value` or `--flag=value`.
///
/// ```
/// use arvo_runtime::worker::WorkerConfig;
/// use std::time::Duration;
/// let env = |var: &str| (var == "ARVO_STREAM").then(|| "ORDERS".to_owned());
/// let config = WorkerConfig::parse("order-worker", ["--serve", "com.inventory.reserve", "--ack-wait=2s"], env)?;
/// assert_eq!(config.stream, "ORDERS");
/// assert_eq!(config.ack_wait, Duration::from_secs(2));
/// assert!(config.serves("com.inventory.reserve"));
/// assert!(!config.serves("com.payment.charge"));
/// # Ok::<(), arvo_runtime::worker::WorkerError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerConfig {
    /// The NATS server's URL.
    pub nats_url: String,
    /// The PostgreSQL URL, when the worker keeps workflow state.
    pub postgres_url: Option<String>,
    /// The PostgreSQL schema of the workflow state.
    pub postgres_schema: String,
    /// The deployment's stream name.
    pub stream: String,
    /// The handlers to serve, by source; `None` serves every handler the program registers.
    pub serve: Option<Vec<String>>,
    /// Events of one handler running at once in this process.
    pub in_flight: usize,
    /// Deliveries of an event before it is dead-lettered.
    pub max_deliveries: u32,
    /// Handler runs that may lead to an event before it is dead-lettered instead of handled
    /// ([`NatsWorkerBuilder::max_hops`]).
    pub max_hops: u32,
    /// Handler runs one workflow may take before its events are dead-lettered instead of
    /// handled ([`NatsWorkerBuilder::workflow_budget`]); `None`: not counted.
    pub workflow_budget: Option<u32>,
    /// The longest one run of a handler may take ([`NatsWorkerBuilder::run_timeout`]).
    pub run_timeout: Duration,
    /// How long one delivery keeps retrying while the workflow's state cannot be had
    /// ([`NatsWorkerBuilder::memory_wait`]).
    pub memory_wait: Duration,
    /// How long the server waits for an ack (or a heartbeat) before re-delivering.
    pub ack_wait: Duration,
    /// At start, replay up to this many dead letters of the handlers served
    /// ([`NatsTransport::replay_dead_letters`]); 0 (the default): none.
    pub replay_dead_letters: usize,
    /// The worker's name (health line, `service.name` of its traces).
    pub name: String,
    /// The log filter (`tracing` directives).
    pub log: String,
    /// The log format.
    pub log_format: LogFormat,
}

/// One setting: its flag, its variable, what its value is.
struct Setting {
    flag: &'static str,
    var: &'static str,
    what: &'static str,
}

const SETTINGS: &[Setting] = &[
    Setting {
        flag: "--nats-url",
        var: "ARVO_NATS_URL",
        what: "URL",
    },
    Setting {
        flag: "--postgres-url",
        var: "ARVO_POSTGRES_URL",
        what: "URL",
    },
    Setting {
        flag: "--postgres-schema",
        var: "ARVO_POSTGRES_SCHEMA",
        what: "NAME",
    },
    Setting {
        flag: "--stream",
        var: "ARVO_STREAM",
        what: "NAME",
    },
    Setting {
        flag: "--serve",
        var: "ARVO_SERVE",
        what: "SOURCE,...",
    },
    Setting {
        flag: "--in-flight",
        var: "ARVO_IN_FLIGHT",
        what: "N",
    },
    Setting {
        flag: "--max-deliveries",
        var: "ARVO_MAX_DELIVERIES",
        what: "N",
    },
    Setting {
        flag: "--max-hops",
        var: "ARVO_MAX_HOPS",
        what: "N",
    },
    Setting {
        flag: "--workflow-budget",
        var: "ARVO_WORKFLOW_BUDGET",
        what: "N",
    },
    Setting {
        flag: "--run-timeout",
        var: "ARVO_RUN_TIMEOUT",
        what: "DURATION",
    },
    Setting {
        flag: "--memory-wait",
        var: "ARVO_MEMORY_WAIT",
        what: "DURATION",
    },
    Setting {
        flag: "--ack-wait",
        var: "ARVO_ACK_WAIT",
        what: "DURATION",
    },
    Setting {
        flag: "--replay-dead-letters",
        var: "ARVO_REPLAY_DEAD_LETTERS",
        what: "N",
    },
    Setting {
        flag: "--name",
        var: "ARVO_WORKER_NAME",
        what: "NAME",
    },
    Setting {
        flag: "--log",
        var: "ARVO_LOG",
        what: "FILTER",
    },
    Setting {
        flag: "--log-format",
        var: "ARVO_LOG_FORMAT",
        what: "text|json",
    },
];

impl WorkerConfig {
    /// The defaults, for a program named `name`.
    pub fn new(name: impl Into<String>) -> WorkerConfig {
        WorkerConfig {
            nats_url: "nats://127.0.0.1:4222".to_owned(),
            postgres_url: None,
            postgres_schema: "arvo".to_owned(),
            stream: "ARVO".to_owned(),
            serve: None,
            in_flight: 16,
            max_deliveries: 5,
            max_hops: crate::transport::nats::DEFAULT_MAX_HOPS,
            workflow_budget: None,
            run_timeout: crate::transport::nats::DEFAULT_RUN_TIMEOUT,
            memory_wait: crate::transport::nats::DEFAULT_MEMORY_WAIT,
            ack_wait: Duration::from_secs(30),
            replay_dead_letters: 0,
            name: name.into(),
            log: "info".to_owned(),
            log_format: LogFormat::Text,
        }
    }

    /// Reads the process's arguments (after the program name) and environment.
    ///
    /// # Errors
    /// As [`from_args`](Self::from_args); [`WorkerError::Usage`] for an argument that is not
    /// UTF-8 ([`process_args`](super::process_args)).
    pub fn from_env(name: impl Into<String>) -> Result<WorkerConfig, WorkerError> {
        WorkerConfig::from_args(name, super::process_args()?)
    }

    /// Reads `args` (flags, without the program name; a program with flags of its own takes
    /// them out first) over the process's environment, over the defaults.
    ///
    /// # Errors
    /// As [`parse`](Self::parse); [`WorkerError::Usage`] naming a variable whose value is not
    /// UTF-8 ([`env_var`](super::env_var)).
    pub fn from_args<I, S>(name: impl Into<String>, args: I) -> Result<WorkerConfig, WorkerError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        // Each variable read once, through the check, then handed to `parse`.
        let mut values = std::collections::HashMap::new();
        for var in SETTINGS.iter().map(|s| s.var).chain(["RUST_LOG"]) {
            if let Some(value) = super::env_var(var)? {
                values.insert(var, value);
            }
        }
        WorkerConfig::parse(name, args, |var| values.get(var).cloned())
    }

    /// Reads `args` (flags, without the program name) over the variables `env` returns, over
    /// the defaults. Empty variables count as unset.
    ///
    /// # Errors
    /// [`WorkerError::Help`] for `--help`; [`WorkerError::Usage`] for an unknown flag, a flag
    /// without its value, or a value that does not parse (naming the flag or variable and the
    /// value).
    pub fn parse<I, S>(
        name: impl Into<String>,
        args: I,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<WorkerConfig, WorkerError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut config = WorkerConfig::new(name);
        for setting in SETTINGS {
            let value = env(setting.var).or_else(|| match setting.var {
                "ARVO_LOG" => env("RUST_LOG"),
                _ => None,
            });
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                config.set(setting, value, setting.var)?;
            }
        }
        let mut args = args.into_iter().map(Into::into);
        while let Some(arg) = args.next() {
            if arg == "--help" || arg == "-h" {
                return Err(WorkerError::Help(WorkerConfig::usage(&config.name)));
            }
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
                _ => (arg.clone(), None),
            };
            let Some(setting) = SETTINGS.iter().find(|s| s.flag == flag) else {
                return Err(WorkerError::Usage(format!(
                    "unknown argument '{arg}'\n{}",
                    WorkerConfig::usage(&config.name)
                )));
            };
            let value = match inline.or_else(|| args.next()) {
                Some(v) => v,
                None => {
                    return Err(WorkerError::Usage(format!(
                        "{} needs a value ({})",
                        setting.flag, setting.what
                    )));
                }
            };
            config.set(setting, value, setting.flag)?;
        }
        Ok(config)
    }

    fn set(&mut self, setting: &Setting, value: String, from: &str) -> Result<(), WorkerError> {
        let bad = |why: &str| {
            WorkerError::Usage(format!(
                "{from} = '{}': {why} (expected {})",
                crate::issue::prefix_within(&value, 200),
                setting.what
            ))
        };
        match setting.flag {
            "--nats-url" => self.nats_url = value,
            "--postgres-url" => self.postgres_url = Some(value),
            "--postgres-schema" => self.postgres_schema = value,
            "--stream" => {
                NatsStreams::new(value.as_str()).map_err(|e| bad(&e.to_string()))?;
                self.stream = value;
            }
            "--serve" => {
                let names: Vec<String> = value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                if names.is_empty() {
                    return Err(bad("no handler named"));
                }
                self.serve = Some(names);
            }
            "--in-flight" => {
                self.in_flight = match value.parse::<usize>() {
                    Ok(n) if n > MAX_IN_FLIGHT => {
                        return Err(bad(&format!("must be at most {MAX_IN_FLIGHT}")));
                    }
                    Ok(n) if n > 0 => n,
                    _ => return Err(bad("not a whole number above 0")),
                };
            }
            "--max-deliveries" => {
                self.max_deliveries = match value.parse::<u32>() {
                    Ok(n) if n > 0 => n,
                    _ => return Err(bad("not a whole number above 0")),
                };
            }
            "--max-hops" => {
                self.max_hops = match value.parse::<u32>() {
                    Ok(n) if n > 0 => n,
                    _ => return Err(bad("not a whole number above 0")),
                };
            }
            "--workflow-budget" => {
                self.workflow_budget = match value.parse::<u32>() {
                    Ok(n) if n > 0 => Some(n),
                    _ => return Err(bad("not a whole number above 0")),
                };
            }
            "--run-timeout" => {
                let timeout = parse_duration(&value).ok_or_else(|| bad("not a duration"))?;
                if timeout < Duration::from_millis(100) {
                    return Err(bad("must be at least 100ms"));
                }
                self.run_timeout = timeout;
            }
            "--memory-wait" => {
                let wait = parse_duration(&value).ok_or_else(|| bad("not a duration"))?;
                if wait > MAX_WAIT {
                    return Err(bad(&format!(
                        "must be at most {}h",
                        MAX_WAIT.as_secs() / 3600
                    )));
                }
                self.memory_wait = wait;
            }
            "--ack-wait" => {
                let wait = parse_duration(&value).ok_or_else(|| bad("not a duration"))?;
                if wait < Duration::from_millis(100) {
                    return Err(bad("must be at least 100ms"));
                }
                if wait > MAX_WAIT {
                    return Err(bad(&format!(
                        "must be at most {}h",
                        MAX_WAIT.as_secs() / 3600
                    )));
                }
                self.ack_wait = wait;
            }
            "--replay-dead-letters" => {
                self.replay_dead_letters = value
                    .parse::<usize>()
                    .map_err(|_| bad("not a whole number"))?;
            }
            "--name" => self.name = value,
            "--log" => self.log = value,
            "--log-format" => {
                self.log_format = match value.as_str() {
                    "text" => LogFormat::Text,
                    "json" => LogFormat::Json,
                    _ => return Err(bad("unknown log format")),
                };
            }
            _ => return Err(bad("unknown setting")),
        }
        Ok(())
    }

    /// The usage text of a program named `name`: every flag and its variable.
    pub fn usage(name: &str) -> String {
        let mut out = format!("usage: {name} [FLAGS]\nflags (each also read from its variable):\n");
        for s in SETTINGS {
            out.push_str(&format!(
                "  {:<34} {}\n",
                format!("{} {}", s.flag, s.what),
                s.var
            ));
        }
        out.push_str("  --help\n");
        out
    }

    /// Whether this worker serves the handler `source` (every handler when `serve` is unset).
    pub fn serves(&self, source: &str) -> bool {
        self.serve
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| n == source))
    }

    /// The streams named by [`stream`](Self::stream).
    ///
    /// # Errors
    /// [`NatsError::InvalidName`].
    pub fn streams(&self) -> Result<NatsStreams, NatsError> {
        NatsStreams::new(self.stream.as_str())
    }

    /// Connects to [`nats_url`](Self::nats_url) and creates the streams when missing.
    ///
    /// # Errors
    /// As [`NatsTransport::connect`].
    pub async fn connect(&self) -> Result<NatsTransport, NatsError> {
        NatsTransport::connect(&self.nats_url, self.streams()?).await
    }

    /// A PostgreSQL memory builder on [`postgres_url`](Self::postgres_url) and
    /// [`postgres_schema`](Self::postgres_schema), for the worker's orchestrators and
    /// resumables.
    ///
    /// # Errors
    /// [`WorkerError::Usage`] when no PostgreSQL URL is set.
    #[cfg(feature = "postgres")]
    pub fn postgres_memory<T: crate::memory::MemoryRecord>(
        &self,
    ) -> Result<crate::memory::postgres::PostgresMemoryBuilder<T>, WorkerError> {
        let url = self.postgres_url.as_deref().ok_or_else(|| {
            WorkerError::Usage(
                "no PostgreSQL URL: set --postgres-url or ARVO_POSTGRES_URL (needed by the \
                 orchestrators and resumables this worker serves)"
                    .to_owned(),
            )
        })?;
        Ok(crate::memory::postgres::PostgresMemory::builder(url).schema(&self.postgres_schema))
    }
}

impl fmt::Display for WorkerConfig {
    /// The settings as `key=value` pairs, without the PostgreSQL URL's credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stream={} nats={} in_flight={} max_deliveries={} max_hops={} run_timeout={:?} memory_wait={:?} ack_wait={:?}",
            self.stream,
            without_credentials(&self.nats_url),
            self.in_flight,
            self.max_deliveries,
            self.max_hops,
            self.run_timeout,
            self.memory_wait,
            self.ack_wait
        )?;
        if let Some(n) = self.workflow_budget {
            write!(f, " workflow_budget={n}")?;
        }
        if let Some(pg) = &self.postgres_url {
            write!(
                f,
                " postgres={} schema={}",
                without_credentials(pg),
                self.postgres_schema
            )?;
        }
        Ok(())
    }
}

/// `scheme://user:pass@host/...` without `user:pass@` (for logs).
fn without_credentials(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}{}", &url[..scheme + 3], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// `500ms`, `30s`, `2m`, `1h`, or a bare number of seconds (fractions allowed).
fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: f64 = number.parse().ok()?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<WorkerConfig, WorkerError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        WorkerConfig::parse("w", args.iter().copied(), move |var| {
            env.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone())
        })
    }

    fn usage_error(r: Result<WorkerConfig, WorkerError>) -> String {
        match r {
            Err(WorkerError::Usage(m)) => m,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_then_variables_then_flags() {
        let c = parse(&[], &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c, WorkerConfig::new("w"));
        let c = parse(
            &["--stream", "FLAG", "--in-flight=4"],
            &[
                ("ARVO_STREAM", "VAR"),
                ("ARVO_IN_FLIGHT", "8"),
                ("ARVO_MAX_DELIVERIES", "9"),
                ("ARVO_MAX_HOPS", "50"),
                ("ARVO_WORKFLOW_BUDGET", "500"),
                ("ARVO_RUN_TIMEOUT", "90s"),
                ("ARVO_MEMORY_WAIT", "0"),
                ("ARVO_POSTGRES_URL", "postgres://u:secret@h/db"),
                ("RUST_LOG", "debug"),
                ("ARVO_SERVE", "a.b, c.d,"),
                ("ARVO_LOG_FORMAT", "json"),
                ("ARVO_REPLAY_DEAD_LETTERS", "100"),
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.stream, "FLAG");
        assert_eq!(c.replay_dead_letters, 100);
        assert_eq!(c.in_flight, 4);
        assert_eq!(c.max_deliveries, 9);
        assert_eq!(c.max_hops, 50);
        assert_eq!(c.workflow_budget, Some(500));
        assert_eq!(c.run_timeout, Duration::from_secs(90));
        assert_eq!(c.memory_wait, Duration::ZERO);
        assert_eq!(c.log, "debug");
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.serve, Some(vec!["a.b".to_owned(), "c.d".to_owned()]));
        assert!(c.serves("c.d") && !c.serves("e.f"));
        let shown = c.to_string();
        assert!(shown.contains("postgres=postgres://h/db"), "{shown}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains(" workflow_budget=500"), "{shown}");
        // ARVO_LOG wins over RUST_LOG; an empty variable is unset.
        let c = parse(
            &[],
            &[
                ("ARVO_LOG", "warn"),
                ("RUST_LOG", "debug"),
                ("ARVO_STREAM", ""),
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((c.log.as_str(), c.stream.as_str()), ("warn", "ARVO"));
    }

    #[test]
    fn durations() {
        for (s, d) in [
            ("500ms", Duration::from_millis(500)),
            ("2s", Duration::from_secs(2)),
            ("3", Duration::from_secs(3)),
            ("1.5s", Duration::from_millis(1500)),
            ("2m", Duration::from_secs(120)),
        ] {
            assert_eq!(parse_duration(s), Some(d), "{s}");
        }
        for s in ["", "s", "5x", "-1s", "1e999s"] {
            assert_eq!(parse_duration(s), None, "{s}");
        }
    }

    #[test]
    fn bad_input_is_a_usage_error_naming_where_and_what() {
        let m = usage_error(parse(&["--in-flight", "0"], &[]));
        assert!(m.contains("--in-flight = '0'"), "{m}");
        let m = usage_error(parse(&[], &[("ARVO_MAX_DELIVERIES", "many")]));
        assert!(m.contains("ARVO_MAX_DELIVERIES = 'many'"), "{m}");
        let m = usage_error(parse(&["--run-timeout", "1ms"], &[]));
        assert!(m.contains("--run-timeout = '1ms'"), "{m}");
        let m = usage_error(parse(&["--memory-wait", "25h"], &[]));
        assert!(
            m.contains("--memory-wait = '25h'") && m.contains("at most 24h"),
            "{m}"
        );
        let m = usage_error(parse(&[], &[("ARVO_MEMORY_WAIT", "soon")]));
        assert!(m.contains("ARVO_MEMORY_WAIT = 'soon'"), "{m}");
        let m = usage_error(parse(&["--replay-dead-letters", "all"], &[]));
        assert!(
            m.contains("--replay-dead-letters = 'all'") && m.contains("not a whole number"),
            "{m}"
        );
        let m = usage_error(parse(&["--max-hops=0"], &[]));
        assert!(m.contains("--max-hops = '0'"), "{m}");
        let m = usage_error(parse(&[], &[("ARVO_WORKFLOW_BUDGET", "-3")]));
        assert!(m.contains("ARVO_WORKFLOW_BUDGET = '-3'"), "{m}");
        let m = usage_error(parse(&["--ack-wait", "10ms"], &[]));
        assert!(m.contains("at least 100ms"), "{m}");
        let m = usage_error(parse(&["--in-flight", "1000000000"], &[]));
        assert!(m.contains("at most 10000"), "{m}");
        assert!(parse(&["--in-flight", "10000"], &[]).is_ok());
        // Longer waits would wrap in the server's nanoseconds and overflow the heartbeat clock.
        let m = usage_error(parse(&["--ack-wait", "25h"], &[]));
        assert!(m.contains("at most 24h"), "{m}");
        assert!(parse(&["--ack-wait", "24h"], &[]).is_ok());
        let m = usage_error(parse(&[], &[("ARVO_ACK_WAIT", "10000000000000s")]));
        assert!(
            m.contains("ARVO_ACK_WAIT") && m.contains("at most 24h"),
            "{m}"
        );
        let m = usage_error(parse(&["--stream", "a.b"], &[]));
        assert!(m.contains("invalid NATS stream name"), "{m}");
        let m = usage_error(parse(&["--frobnicate"], &[]));
        assert!(
            m.contains("unknown argument '--frobnicate'") && m.contains("usage:"),
            "{m}"
        );
        let m = usage_error(parse(&["--nats-url"], &[]));
        assert!(m.contains("--nats-url needs a value"), "{m}");
        let m = usage_error(parse(&["--serve", " , "], &[]));
        assert!(m.contains("no handler named"), "{m}");
        let m = usage_error(parse(&["--log-format", "xml"], &[]));
        assert!(m.contains("unknown log format"), "{m}");
        assert!(matches!(parse(&["--help"], &[]), Err(WorkerError::Help(_))));
    }
}
