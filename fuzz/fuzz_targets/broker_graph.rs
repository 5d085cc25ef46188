//! The broker driven with handler graphs made from the input bytes: handlers that emit to each
//! other (cycles), fan out (up to 3 events per step), answer the caller, emit to nobody or into
//! a domain, return violations or panic; middleware and hooks that panic; hooks that
//! re-publish. Every `resolve` must end within its budget: it returns `Ok` or one of the two
//! bounded errors (`EventBudgetExceeded`, `BufferFull`), never hangs, never panics; handlers run
//! at most `budget` times; the broker never holds more than its buffer's bound and is empty
//! afterwards. Some inputs `publish` the first event instead (the detached workflow, where the
//! budget bounds what follows from each published event): the broker must then come to rest
//! within the same bounds, with only those two errors among its dropped outputs.
#![no_main]

use arvo_runtime::broker::{BrokerError, EventBroker, FailureKind, HandlerConfig, Verdict};
use arvo_runtime::event::ArvoEvent;
use arvo_runtime::handler::{EventHandler, ParentContext, Violation};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

/// Panics the graph injects start with this; they are expected and not reported.
const INJECTED: &str = "injected";

/// Where one output of a handler goes.
#[derive(Clone, Copy, Debug)]
enum Target {
    /// To handler `i`.
    Handler(usize),
    /// Back to the caller of `resolve`.
    Reply,
    /// To a `to` no handler has.
    Nobody,
    /// To handler `i`, in a domain (the domained hook gets it).
    Domained(usize),
}

#[derive(Debug)]
struct Node {
    index: usize,
    source: String,
    sys: String,
    targets: Vec<Target>,
    /// Panic on every `panic_every`-th execution (0: never).
    panic_every: usize,
    /// Return a violation on every `violate_every`-th execution (0: never).
    violate_every: usize,
    runs: AtomicUsize,
    shared: Arc<Shared>,
}

/// What every handler of one input sees.
#[derive(Debug, Default)]
struct Shared {
    executions: AtomicUsize,
    high_water: AtomicUsize,
    /// Taken out at the end of the input (the broker holds the handlers, which hold this).
    broker: Mutex<Option<EventBroker>>,
    sources: Vec<String>,
}

fn source(i: usize) -> String {
    format!("com.fuzz.h{i}")
}

fn event(from: &str, ty: &str, to: &str, subject: &str, domain: Option<&str>) -> ArvoEvent {
    ArvoEvent::builder()
        .source(from)
        .event_type(ty)
        .to(to)
        .subject(subject)
        .domain(domain)
        .data(serde_json::Map::new())
        .build()
        .expect("valid event")
}

impl EventHandler for Node {
    fn source(&self) -> &str {
        &self.source
    }
    fn system_error_type(&self) -> &str {
        &self.sys
    }
    async fn execute(
        &self,
        input: &ArvoEvent,
        _: ParentContext,
    ) -> Result<Vec<ArvoEvent>, Violation> {
        self.shared.executions.fetch_add(1, Ordering::SeqCst);
        let pending = self
            .shared
            .broker
            .lock()
            .expect("not poisoned")
            .as_ref()
            .map(EventBroker::pending);
        if let Some(p) = pending {
            self.shared.high_water.fetch_max(p, Ordering::SeqCst);
        }
        let run = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
        if self.panic_every > 0 && run.is_multiple_of(self.panic_every) {
            panic!("{INJECTED} panic in handler {}", self.index);
        }
        if self.violate_every > 0 && run.is_multiple_of(self.violate_every) {
            return Err(Violation::execution("injected violation"));
        }
        let out = self
            .targets
            .iter()
            .map(|t| match *t {
                Target::Handler(i) => {
                    let to = &self.shared.sources[i];
                    event(&self.source, to, to, input.subject(), None)
                }
                Target::Reply => event(
                    &self.source,
                    "evt.fuzz.done",
                    "com.fuzz.client",
                    input.subject(),
                    None,
                ),
                Target::Nobody => event(
                    &self.source,
                    "com.fuzz.nobody",
                    "com.fuzz.nobody",
                    input.subject(),
                    None,
                ),
                Target::Domained(i) => {
                    let to = &self.shared.sources[i];
                    event(&self.source, to, to, input.subject(), Some("fuzz.review"))
                }
            })
            .collect();
        Ok(out)
    }
}

#[path = "bytes.rs"]
mod bytes;
use bytes::Bytes;

fn quiet_injected_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // libFuzzer's hook aborts on every panic: keep it for all but the injected ones.
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let msg = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
            if !msg.is_some_and(|m| m.starts_with(INJECTED)) {
                previous(info);
            }
        }));
    });
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    quiet_injected_panics();
    let mut b = Bytes(data);
    let n = 1 + b.next() % 5;
    // Small bounds (budget up to 511 events, buffer up to 257) keep an input fast while still
    // reaching both limits.
    let budget = 1 + b.next() * 2;
    let buffer = 2 + b.next();
    let conf = b.next();
    let config = HandlerConfig::default()
        .prefetch(1 + conf % 4)
        .queue_capacity(1 + (conf >> 2) % 8);
    let flags = b.next();
    let detached = b.next() % 4 == 3;
    let sources: Vec<String> = (0..n).map(source).collect();
    let shared = Arc::new(Shared {
        sources: sources.clone(),
        ..Shared::default()
    });
    let mut builder = EventBroker::builder()
        .defaults(config)
        .max_events_per_resolve(budget)
        .max_buffered_events(buffer);
    for (i, src) in sources.iter().enumerate() {
        let spec = b.next();
        let fanout = spec % 4;
        let targets = (0..fanout)
            .map(|_| {
                let t = b.next();
                match t % 8 {
                    0 => Target::Reply,
                    1 => Target::Nobody,
                    2 => Target::Domained(t / 8 % n),
                    _ => Target::Handler(t / 8 % n),
                }
            })
            .collect();
        let node = Node {
            index: i,
            source: src.clone(),
            sys: format!("sys.{src}.error"),
            targets,
            panic_every: (spec >> 2) % 8,
            violate_every: (spec >> 5) % 8,
            runs: AtomicUsize::new(0),
            shared: shared.clone(),
        };
        builder = builder.handler(Arc::new(node));
    }
    let panic_input = flags & 1 != 0;
    let panic_output = flags & 2 != 0;
    let panic_domained = flags & 4 != 0;
    let panic_unroutable = flags & 8 != 0;
    let republish = flags & 16 != 0;
    let every = 1 + (flags >> 5);
    let seen = Arc::new(AtomicUsize::new(0));
    let (s1, s2) = (seen.clone(), seen.clone());
    builder = builder
        .input_middleware(move |_, _| {
            if panic_input && s1.fetch_add(1, Ordering::SeqCst) % every == every - 1 {
                panic!("{INJECTED} input middleware panic");
            }
            Verdict::Pass
        })
        .output_middleware(move |_, _, _| {
            if panic_output && s2.fetch_add(1, Ordering::SeqCst) % every == every - 1 {
                panic!("{INJECTED} output middleware panic");
            }
            Verdict::Pass
        })
        .on_domained(move |fwd| async move {
            if panic_domained {
                panic!("{INJECTED} domained hook panic");
            }
            if republish {
                // Sent on without its domain: may feed a cycle through the hook.
                let mut parts = fwd.event.clone().into_parts();
                parts.domain = None;
                if let Ok(e) = ArvoEvent::from_parts(parts) {
                    match fwd.publish(e).await {
                        Ok(())
                        | Err(
                            BrokerError::EventBudgetExceeded { .. }
                            | BrokerError::BufferFull { .. },
                        ) => {}
                        Err(other) => panic!("unexpected publish error: {other}"),
                    }
                }
            }
        })
        .on_unroutable(move |_| async move {
            if panic_unroutable {
                panic!("{INJECTED} unroutable hook panic");
            }
        });
    let broker = builder.build().expect("valid configuration");
    *shared.broker.lock().expect("not poisoned") = Some(broker.clone());
    let start = event("com.fuzz.client", &sources[0], &sources[0], "s-1", None);
    RUNTIME.with(|rt| {
        rt.block_on(async {
            if detached {
                broker.publish(start).await.expect("the event has a to");
            } else {
                let result = tokio::time::timeout(Duration::from_secs(20), broker.resolve(start))
                    .await
                    .expect("resolve must end");
                match result {
                    Ok(_) => {}
                    Err(BrokerError::EventBudgetExceeded { limit, .. }) => {
                        assert_eq!(limit, budget)
                    }
                    Err(BrokerError::BufferFull { limit, .. }) => assert_eq!(limit, buffer),
                    Err(other) => panic!("unexpected resolve error: {other}"),
                }
            }
            tokio::time::timeout(Duration::from_secs(20), broker.idle())
                .await
                .expect("the broker must drain");
        });
    });
    assert_eq!(broker.pending(), 0);
    shared.broker.lock().expect("not poisoned").take();
    let executions = shared.executions.load(Ordering::SeqCst);
    assert!(
        executions <= budget,
        "{executions} executions > budget {budget}"
    );
    for failure in broker.take_detached_resolution().errors {
        if let FailureKind::Dropped(e) = failure.kind {
            match e {
                BrokerError::EventBudgetExceeded { limit, .. } => assert_eq!(limit, budget),
                BrokerError::BufferFull { limit, .. } => assert_eq!(limit, buffer),
                other => panic!("unexpected drop: {other}"),
            }
        }
    }
    let high = shared.high_water.load(Ordering::SeqCst);
    assert!(high <= buffer, "pending reached {high} > buffer {buffer}");
});
