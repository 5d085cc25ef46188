//! A TypeScript service on the same NATS JetStream broker as Rust workers.
//!
//! `interop/ts/payment-service.mjs` is the demo's payment service (`com.payment.charge`)
//! written with the npm `arvo-core` and `arvo-event-handler` (2.2.13, the versions the npm
//! registry serves) and the npm `nats` client (2.29.3). [`typescript_payment_service_over_nats`]
//! starts it with `node` beside a Rust [`NatsWorker`] that serves the demo's two resumable
//! orchestrators (order and payment, in-process memory) and the Rust inventory and shipping
//! services (all traced with an SDK tracer provider), runs six orders over JetStream with
//! [`NatsTransport::resolve`] (two of them with a declined card, for which the TS handler
//! throws: its system error reaches the Rust payment workflow, whose own system error completes
//! the order as `payment_failed`), checks every completion's data, its trace and the bytes the
//! TS service put on the wire, sends it an event its contract refuses and a payload that is not
//! an event (dead-lettered by the TS service in the Rust worker's envelope, read back with
//! [`NatsTransport::dead_letters`]), and
//! stops it with SIGTERM (exit 0). [`the_ts_service_stops_gracefully_and_loses_nothing`] stops
//! it in the middle of 300 charges and starts another instance: each is answered exactly once.
//! [`the_ts_subject_mapping_is_the_rust_transports`] compares the subjects both compute, and
//! [`the_ts_service_type_checks_against_the_npm_packages`] runs `tsc` over the service.
//!
//! Without `ARVO_TEST_NATS_URL` the NATS tests say why and pass; with `CI=true` a missing
//! server, `node` or `interop/ts/node_modules` (`npm ci` there, which `.ci/run` does) fails
//! them.
//!
//! # What the npm 2.2.13 wire format differs in (from the reference v3 the Rust side writes)
//! Shown by the captured events of the NATS test and, without a server, by the fixture
//! `fixtures/ts_2_2_13_payment.json` (events the service's handler made from a Rust event):
//! - **no `domain` key** in the events it writes (v3 writes `"domain":null`): read as no domain
//!   ([`a_2_x_event_without_domain_reads_as_no_domain`]);
//! - **no `parentid`**: arvo-event-handler 2.x does not set it. The TS service adds it to its
//!   success events as a custom extension (`__extensions`), which 2.x writes among the custom
//!   extensions, between `time` and `to`; Rust reads the key wherever it is as the `parentid`
//!   attribute ([`a_2_x_parentid_extension_reads_as_the_parentid_attribute`]). Its system error
//!   events carry none (2.x gives no way to add one); a resumable does not need it to route the
//!   answer (the subject does), only to collect it against its call
//!   ([`a_2_x_answers_drive_the_rust_payment_workflow`]);
//! - the events Rust sends it carry v3's `parentid` and `domain`, which arvo-core 2.x does not
//!   know: the service reads every unknown extension-named key as a custom extension, so they
//!   are accepted (the NATS test shows every answer);
//! - `executionunits` is the handler's number (`0`), as in v3; `time` is written
//!   `...+00:00`, as in v3; system errors use the wildcard dataschema `<uri>/0.0.0` and the
//!   data `{errorName, errorMessage, errorStack}`, as in v3;
//! - `traceparent`: 2.x writes the one of its active span, so without OpenTelemetry set up in
//!   the Node process (a tracer provider and the W3C propagator) it writes `null` and the trace
//!   started in Rust ends there (the fixture shows that layout). The service sets both up, and
//!   the NATS test checks that every order's trace runs through it: its answers carry the
//!   trace id of the call they answer, and each order completes in the trace its checkout
//!   span started;
//! - event types need at least three dot-separated parts in 2.x (`[a-z0-9]+(\.[a-z0-9]+)+\.[a-z0-9]+`),
//!   which every type of the demo has.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arvo_example_contracts::order::{
    ChargeRequest, Order, OrderResult, OrderStatus, PaymentFlowV1_0_0,
};
use arvo_examples::order::{
    CHECKOUT, DECLINED_CARD, OrderFlow, OrderMemory, OrderSystem, PaymentFlow, PaymentMemory,
    approval_reply, inventory, reviewer_with_limit, sample_order, shipping,
};
use arvo_runtime::ArvoEvent;
use arvo_runtime::handler::{DynEventHandler, ParentContext};
use arvo_runtime::transport::nats::{NatsStreams, NatsTransport, NatsWorker};
use arvo_runtime::workflow::Workflow;
use futures_util::StreamExt;
use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::{Span as _, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The TS service's handler (its consumer is `arvo_com~2Epayment~2Echarge`).
const TS_SOURCE: &str = "com.payment.charge";
/// The Rust payment workflow, to which the TS service answers.
const PAYMENT_FLOW: &str = "arvo.orc.order.payment";

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Says why the test does not run and lets it pass, or fails it under `CI=true`.
fn skip(test: &str, why: &str) {
    assert!(
        !ci(),
        "{test}: {why}, and CI=true: this test must run in CI"
    );
    eprintln!("{test}: skipped, {why}");
}

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop/ts")
}

/// Whether `node` and the service's npm packages are installed; otherwise says why (and fails
/// under `CI=true`).
async fn node_ready(test: &str) -> bool {
    let node = Command::new("node").arg("--version").output().await;
    if !node.is_ok_and(|o| o.status.success()) {
        skip(test, "`node` is not installed (Node.js 20 or later)");
        return false;
    }
    let installed = interop_dir().join("node_modules/arvo-event-handler/package.json");
    if !installed.exists() {
        skip(
            test,
            "interop/ts/node_modules is missing (run `npm ci` in interop/ts, as `.ci/run` does)",
        );
        return false;
    }
    true
}

/// The NATS server's URL when it and the Node service are available (see [`skip`]).
async fn nats_and_node(test: &str) -> Option<String> {
    let url = match std::env::var("ARVO_TEST_NATS_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => {
            skip(test, "ARVO_TEST_NATS_URL is not set (`.ci/run` sets it)");
            return None;
        }
    };
    node_ready(test).await.then_some(url)
}

/// The key order of a JSON object as written.
fn keys(v: &Value) -> Vec<&str> {
    v.as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect()
}

/// The fixture of the events the TS handler made (see the module docs).
fn fixture() -> Value {
    let text = include_str!("fixtures/ts_2_2_13_payment.json");
    serde_json::from_str(text).unwrap()
}

/// The exact bytes the TS service publishes for `case` (`success` or `system_error`).
fn wire(case: &str) -> String {
    fixture()[case]["wire"].as_str().unwrap().to_owned()
}

/// The keys of a 2.2.13 success event with the `parentid` extension, in the order it writes.
const TS_SUCCESS_KEYS: [&str; 16] = [
    "id",
    "source",
    "specversion",
    "type",
    "subject",
    "datacontenttype",
    "dataschema",
    "data",
    "time",
    "parentid",
    "to",
    "accesscontrol",
    "redirectto",
    "executionunits",
    "traceparent",
    "tracestate",
];

#[test]
fn a_2_x_event_without_domain_reads_as_no_domain() {
    let text = wire("system_error");
    let raw: Value = serde_json::from_str(&text).unwrap();
    assert!(raw.get("domain").is_none() && raw.get("parentid").is_none());
    let event = ArvoEvent::from_json_str(&text).unwrap();
    assert_eq!(event.domain(), None);
    assert_eq!(event.parentid(), None);
    assert_eq!(event.event_type(), "sys.com.payment.charge.error");
    assert_eq!(event.dataschema(), Some("#/demo/payment/charge/0.0.0"));
    assert_eq!(event.executionunits(), Some(0.0));
    assert!(
        event.extensions().is_empty(),
        "nothing read as an extension"
    );
    // Written back in the v3 layout: the absent attributes as nulls, at their place.
    let back: Value = serde_json::from_str(&event.to_json_string()).unwrap();
    let ks = keys(&back);
    assert_eq!(&ks[ks.len() - 2..], ["parentid", "domain"]);
    assert_eq!(
        (back["parentid"].clone(), back["domain"].clone()),
        (Value::Null, Value::Null)
    );
}

#[test]
fn a_2_x_parentid_extension_reads_as_the_parentid_attribute() {
    let text = wire("success");
    let raw: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        keys(&raw),
        TS_SUCCESS_KEYS,
        "the layout arvo-core 2.2.13 writes"
    );
    let event = ArvoEvent::from_json_str(&text).unwrap();
    assert_eq!(event.parentid(), Some("rust-in-0001"));
    assert!(
        event.extensions().is_empty(),
        "parentid is the attribute, not a custom extension"
    );
    assert_eq!(event.domain(), None);
    assert_eq!(event.data()["charge_id"], "ch-ORD-1");
    // The v3 layout on the way out: parentid after tracestate, then domain.
    let back: Value = serde_json::from_str(&event.to_json_string()).unwrap();
    let ks = keys(&back);
    assert_eq!(
        &ks[ks.len() - 4..],
        ["traceparent", "tracestate", "parentid", "domain"]
    );
    assert_eq!(back["parentid"], "rust-in-0001");
}

/// Rewrites a fixture event as the answer to `call` (its subject; its id as `parentid` when
/// the event has one), keeping everything else as the TS service wrote it.
fn answer_to(case: &str, call: &ArvoEvent) -> ArvoEvent {
    let mut raw: Map<String, Value> = serde_json::from_str(&wire(case)).unwrap();
    raw.insert("subject".into(), json!(call.subject()));
    if raw.contains_key("parentid") {
        raw.insert("parentid".into(), json!(call.id()));
    }
    ArvoEvent::from_json_str(&Value::Object(raw).to_string()).unwrap()
}

#[tokio::test]
async fn a_2_x_answers_drive_the_rust_payment_workflow() {
    for (case, card) in [("success", "tok_visa"), ("system_error", DECLINED_CARD)] {
        let flow = PaymentFlow.resumable(PaymentMemory::new()).build().unwrap();
        let request = ChargeRequest {
            order_id: "ORD-1".into(),
            amount_cents: 2500,
            card: card.into(),
        };
        let init = PaymentFlowV1_0_0::init(CHECKOUT, request).unwrap();
        let calls = flow.execute(&init, ParentContext::Event).await.unwrap();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].event_type(), TS_SOURCE);
        let answer = answer_to(case, &calls[0]);
        let out = flow.execute(&answer, ParentContext::Event).await.unwrap();
        assert_eq!(out.len(), 1, "{case}: {out:?}");
        let done = &out[0];
        assert_eq!(done.to(), Some(CHECKOUT), "{case}");
        if case == "success" {
            assert_eq!(done.event_type(), "arvo.orc.order.payment.done");
            assert_eq!(done.data()["charge_id"], "ch-ORD-1");
            assert_eq!(done.data()["amount_cents"], 2500);
        } else {
            assert_eq!(done.event_type(), "sys.arvo.orc.order.payment.error");
            assert_eq!(
                done.data()["errorMessage"],
                "payment failed: card declined: tok_declined for 2500 cents"
            );
        }
    }
}

/// The TS service's subject mapping (`subjectOf`) is the Rust transport's
/// ([`NatsStreams::subject`]), special characters and empty pieces included.
#[tokio::test]
async fn the_ts_subject_mapping_is_the_rust_transports() {
    if !node_ready("the_ts_subject_mapping_is_the_rust_transports").await {
        return;
    }
    let tos = [
        "com.payment.charge",
        "arvo.orc.order.payment",
        "sys.com.payment.charge.error",
        "*",
        ">",
        "a b",
        "a..b",
        ".a.",
        "",
        "~",
        "x/y:z#*",
        "é",
        "#/demo/payment/charge",
        "Upper-Case_ok",
    ];
    let script = "import('./payment-service.mjs').then((m) => { \
        const tos = JSON.parse(process.argv[1]); \
        console.log(JSON.stringify(tos.map((to) => m.subjectOf('ARVO', to)))); })";
    let out = Command::new("node")
        .args(["-e", script, &json!(tos).to_string()])
        .current_dir(interop_dir())
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout);
    let line = line.lines().last().expect("one line of output");
    let ts: Vec<String> = serde_json::from_str(line).unwrap();
    let streams = NatsStreams::new("ARVO").unwrap();
    let rust: Vec<String> = tos.iter().map(|to| streams.subject(to)).collect();
    assert_eq!(ts, rust);
}

/// `payment-service.mjs` type-checks (`tsc --checkJs`, strict, `interop/ts/tsconfig.json`)
/// against the type declarations of the npm packages it uses: a new arvo version whose API
/// differs fails here, before it fails on the wire.
#[tokio::test]
async fn the_ts_service_type_checks_against_the_npm_packages() {
    if !node_ready("the_ts_service_type_checks_against_the_npm_packages").await {
        return;
    }
    let out = Command::new("node")
        .args(["node_modules/typescript/bin/tsc", "-p", "tsconfig.json"])
        .current_dir(interop_dir())
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "tsc: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The Node service: its process, and the status lines it wrote to stderr.
struct NodeService {
    child: Child,
    status: Arc<Mutex<Vec<String>>>,
    stdout_tail: Arc<Mutex<Vec<String>>>,
}

impl NodeService {
    /// Starts `payment-service.mjs` on `stream` and waits for its `ready` line.
    /// `ARVO_MAX_DELIVERIES` is 2 and `ARVO_IN_FLIGHT` `in_flight`.
    async fn start(nats_url: &str, stream: &str, in_flight: usize) -> NodeService {
        let mut child = Command::new("node")
            .arg("payment-service.mjs")
            .current_dir(interop_dir())
            .env("NATS_URL", nats_url)
            .env("ARVO_STREAM", stream)
            .env("ARVO_MAX_DELIVERIES", "2")
            .env("ARVO_IN_FLIGHT", in_flight.to_string())
            .env("ARVO_ACK_WAIT_MS", "3000")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts");
        let status = Arc::new(Mutex::new(Vec::new()));
        let stdout_tail = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let mut err = BufReader::new(child.stderr.take().unwrap()).lines();
        let lines = status.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = err.next_line().await {
                eprintln!("[node] {line}");
                let ready =
                    serde_json::from_str::<Value>(&line).is_ok_and(|v| v["status"] == "ready");
                let mut kept = lines.lock().unwrap();
                if kept.len() < 1000 {
                    kept.push(line);
                }
                if ready {
                    let _ = ready_tx.send(());
                }
            }
        });
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let tail = stdout_tail.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = out.next_line().await {
                let mut kept = tail.lock().unwrap();
                if kept.len() >= 200 {
                    kept.remove(0);
                }
                kept.push(line);
            }
        });
        let ready = tokio::time::timeout(Duration::from_secs(60), ready_rx.recv()).await;
        if !matches!(ready, Ok(Some(()))) {
            let _ = child.start_kill();
            panic!(
                "the TS service did not report ready within 60 s; stderr: {:?}; stdout tail: {:?}",
                status.lock().unwrap(),
                stdout_tail.lock().unwrap()
            );
        }
        NodeService {
            child,
            status,
            stdout_tail,
        }
    }

    /// SIGTERM, then waits for the exit: the service must stop by itself with status 0.
    async fn stop(mut self) {
        let pid = self.child.id().expect("still running");
        let sent = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await
            .unwrap();
        assert!(sent.success(), "kill -TERM {pid}");
        let exit = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("the TS service stops within 20 s of SIGTERM")
            .unwrap();
        assert!(
            exit.success(),
            "the TS service exits 0 after SIGTERM: {exit:?}; stderr: {:?}; stdout tail: {:?}",
            self.status.lock().unwrap(),
            self.stdout_tail.lock().unwrap()
        );
        let said_stopped = self
            .status
            .lock()
            .unwrap()
            .iter()
            .any(|l| serde_json::from_str::<Value>(l).is_ok_and(|v| v["status"] == "stopped"));
        assert!(said_stopped, "the TS service reports its graceful stop");
    }
}

/// One captured NATS message: its subject, its `Nats-Msg-Id` and its payload.
type Captured = Arc<Mutex<Vec<(String, Option<String>, Vec<u8>)>>>;

/// Records every message published on `subject` (a plain subscription: the stream's consumers
/// still get them).
async fn capture(t: &NatsTransport, subject: String, into: &Captured) {
    let mut sub = t.client().subscribe(subject).await.unwrap();
    let into = into.clone();
    tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            let id = msg
                .headers
                .as_ref()
                .and_then(|h| h.get("Nats-Msg-Id"))
                .map(|v| v.as_str().to_owned());
            let mut kept = into.lock().unwrap();
            if kept.len() < 1000 {
                kept.push((msg.subject.to_string(), id, msg.payload.to_vec()));
            }
        }
    });
}

/// Fresh streams for one test.
async fn streams(url: &str) -> (NatsTransport, String) {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let name = format!("ARVO_TS_{}_{}", std::process::id(), nanos % 1_000_000_000);
    let t = NatsTransport::connect(url, NatsStreams::new(name.clone()).unwrap())
        .await
        .unwrap();
    (t, name)
}

/// The trace id of a `traceparent` (`00-{trace}-{span}-{flags}`).
fn trace_id(traceparent: &Value) -> &str {
    let tp = traceparent.as_str().expect("a traceparent");
    tp.split('-').nth(1).expect("a W3C traceparent")
}

/// The span id of a `traceparent`.
fn span_id(traceparent: &Value) -> &str {
    let tp = traceparent.as_str().expect("a traceparent");
    tp.split('-').nth(2).expect("a W3C traceparent")
}

/// The orders of the test and how each must end.
fn orders() -> Vec<(Order, OrderStatus)> {
    vec![
        (
            sample_order("ORD-TS-1", 0, "tok_visa"),
            OrderStatus::Completed,
        ),
        // Over the approval threshold: the human desk (the worker's domained hook) approves.
        (
            sample_order("ORD-TS-2", 2, "tok_visa"),
            OrderStatus::Completed,
        ),
        (
            sample_order("ORD-TS-3", 0, DECLINED_CARD),
            OrderStatus::PaymentFailed,
        ),
        (
            sample_order("ORD-TS-4", 0, "tok_mc"),
            OrderStatus::Completed,
        ),
        (
            sample_order("ORD-TS-5", 1, DECLINED_CARD),
            OrderStatus::PaymentFailed,
        ),
        (
            sample_order("ORD-TS-6", 0, "tok_amex"),
            OrderStatus::Completed,
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_payment_service_over_nats() {
    let Some(url) = nats_and_node("typescript_payment_service_over_nats").await else {
        return;
    };

    let (t, name) = streams(&url).await;

    // What goes to the TS service, and what comes back from it.
    let captured: Captured = Arc::default();
    capture(&t, t.streams().subject(TS_SOURCE), &captured).await;
    capture(&t, t.streams().subject(PAYMENT_FLOW), &captured).await;

    let ts = NodeService::start(&url, &name, 8).await;

    // The Rust side: both workflows (state in the process) and the other two services.
    let approvals = Arc::new(AtomicUsize::new(0));
    let reviewer = reviewer_with_limit(1_000_000);
    let desk = {
        let (t, approvals) = (t.clone(), approvals.clone());
        move |request: ArvoEvent| {
            let (t, approvals, reviewer) = (t.clone(), approvals.clone(), reviewer.clone());
            async move {
                let reply = approval_reply(&request, &*reviewer).map_err(|e| e.to_string())?;
                t.publish(&reply).await.map_err(|e| e.to_string())?;
                approvals.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        }
    };
    // Spans are made (the events carry their traceparent) but not exported.
    let provider = SdkTracerProvider::builder().build();
    let tracer = || BoxedTracer::new(Box::new(provider.tracer("arvo-examples")));
    let order_flow = OrderFlow::default().resumable(OrderMemory::new());
    let payment_flow = PaymentFlow.resumable(PaymentMemory::new());
    let handlers: Vec<Arc<dyn DynEventHandler>> = vec![
        Arc::new(order_flow.tracer(tracer()).build().unwrap()),
        Arc::new(payment_flow.tracer(tracer()).build().unwrap()),
        Arc::new(inventory().tracer(tracer()).build().unwrap()),
        Arc::new(shipping().tracer(tracer()).build().unwrap()),
    ];
    let mut builder = NatsWorker::builder(t.clone()).on_domained(desk);
    for h in handlers {
        builder = builder.handler(h);
    }
    let worker = builder.build().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let rust = tokio::spawn(async move {
        worker
            .run(async move {
                let _ = stop_rx.await;
            })
            .await
    });

    // Six orders at once, each resolved over NATS (the completion addressed to the checkout),
    // each init event made in a checkout span of its own trace.
    let shop = provider.tracer("shop");
    let runs = orders().into_iter().map(|(order, expected)| {
        let t = t.clone();
        let mut span = shop.start_with_context("checkout", &Context::new());
        span.set_attribute(KeyValue::new("order", order.order_id.clone()));
        let checkout = Context::current_with_span(span);
        let trace = checkout.span().span_context().trace_id().to_string();
        let init = {
            let _attached = checkout.clone().attach();
            OrderSystem::order_event(&order).unwrap()
        };
        async move {
            let done = t.resolve(init, Duration::from_secs(90)).await;
            checkout.span().end();
            (order, expected, trace, done)
        }
    });
    let mut order_traces = HashSet::new();
    for (order, expected, trace, done) in futures_util::future::join_all(runs).await {
        let id = &order.order_id;
        let done = done.unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(
            done.event_type(),
            "arvo.orc.order.process.done",
            "{id}: {done:?}"
        );
        // The payment workflow went on in the TS service's span: had the TS service dropped
        // the trace, what follows (shipping, the completion) would be in another one.
        let tp = json!(done.traceparent());
        assert_eq!(
            trace_id(&tp),
            trace,
            "{id}: the completion is in the checkout's trace"
        );
        assert!(order_traces.insert(trace), "one trace per order");
        let result = OrderResult::deserialize(done.data()).unwrap();
        let paid = expected == OrderStatus::Completed;
        let want = OrderResult {
            order_id: id.clone(),
            status: expected,
            total_cents: order.total_cents(),
            charge_id: paid.then(|| format!("ch-{id}")),
            tracking_id: paid.then(|| format!("trk-{id}")),
            reason: (!paid).then(|| {
                format!(
                    "payment failed: card declined: {DECLINED_CARD} for {} cents",
                    order.total_cents()
                )
            }),
        };
        assert_eq!(result, want, "{id}");
    }
    assert_eq!(
        approvals.load(Ordering::SeqCst),
        2,
        "ORD-TS-2 and ORD-TS-5 were approved"
    );

    // An event the contract refuses (a negative amount): 2.x throws a ContractViolation, the
    // service retries it once and dead-letters it in the Rust worker's envelope.
    let bad = ArvoEvent::builder()
        .source("com.test.client")
        .event_type(TS_SOURCE)
        .subject("bad-charge")
        .dataschema("#/demo/payment/charge/1.0.0")
        .data_json(json!({"order_id": "ORD-BAD", "amount_cents": -5, "card": "tok_visa"}))
        .build()
        .unwrap();
    t.publish(&bad).await.unwrap();
    // And a payload that is not an event at all: dead-lettered at once, kept as text.
    t.client()
        .publish(t.streams().subject(TS_SOURCE), "{not json".into())
        .await
        .unwrap();
    t.client().flush().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut letters = loop {
        let letters = t.dead_letters(10).await.unwrap();
        if letters.len() >= 2 {
            break letters;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no dead letter within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(letters.len(), 2, "{letters:?}");
    letters.sort_by_key(|l| l.raw.is_some());
    let raw = &letters[1];
    assert_eq!(raw.handler, TS_SOURCE);
    assert_eq!((raw.deliveries, raw.raw.as_deref()), (1, Some("{not json")));
    assert!(raw.error.starts_with("not an Arvo event"), "{}", raw.error);
    assert!(raw.event.is_none());
    let letter = &letters[0];
    assert_eq!(letter.handler, TS_SOURCE);
    assert_eq!(letter.deliveries, 2);
    assert!(
        letter
            .error
            .contains("Input event payload validation failed"),
        "{}",
        letter.error
    );
    assert_eq!(letter.event.as_ref().map(ArvoEvent::id), Some(bad.id()));

    ts.stop().await;
    let stats = t.queue_stats(TS_SOURCE).await.unwrap();
    assert_eq!(
        (stats.pending, stats.ack_pending, stats.dead_lettered),
        (0, 0, 2),
        "{stats:?}"
    );

    // The wire: what Rust sent the TS service and what it answered.
    let captured = captured.lock().unwrap().clone();
    let mut calls: HashMap<String, Value> = HashMap::new();
    let mut answers = Vec::new();
    for (subject, msg_id, payload) in &captured {
        if payload.as_slice() == b"{not json" {
            continue; // the test's own non-event
        }
        let raw: Value = serde_json::from_slice(payload).unwrap();
        assert_eq!(
            msg_id.as_deref(),
            raw["id"].as_str(),
            "Nats-Msg-Id is the event id on {subject}"
        );
        if raw["source"] == TS_SOURCE {
            answers.push(raw);
        } else if raw["type"] == TS_SOURCE && raw["source"] == PAYMENT_FLOW {
            calls.insert(raw["id"].as_str().unwrap().to_owned(), raw);
        }
    }
    assert_eq!(calls.len(), 6, "one charge per order");
    for call in calls.values() {
        // v3's attributes, which arvo-core 2.x reads as custom extensions.
        let ks = keys(call);
        assert_eq!(&ks[ks.len() - 2..], ["parentid", "domain"], "{call}");
    }
    let (ok, failed): (Vec<&Value>, Vec<&Value>) = answers
        .iter()
        .partition(|a| a["type"] == "evt.payment.charge.success");
    assert_eq!((ok.len(), failed.len()), (4, 2), "{answers:?}");
    let mut answered = HashSet::new();
    for a in &ok {
        assert_eq!(keys(a), TS_SUCCESS_KEYS, "{a}");
        let parent = a["parentid"].as_str().unwrap();
        let call = calls
            .get(parent)
            .expect("parentid names the charge it answers");
        assert_eq!(a["subject"], call["subject"]);
        assert_eq!(trace_id(&a["traceparent"]), trace_id(&call["traceparent"]));
        assert_ne!(
            span_id(&a["traceparent"]),
            span_id(&call["traceparent"]),
            "the answer is made in a span of the TS service"
        );
        assert!(answered.insert(parent.to_owned()), "one answer per charge");
    }
    for a in &failed {
        assert_eq!(a["type"], "sys.com.payment.charge.error");
        let call = calls
            .values()
            .find(|c| c["subject"] == a["subject"])
            .expect("the charge it answers");
        assert_eq!(trace_id(&a["traceparent"]), trace_id(&call["traceparent"]));
        assert!(
            a.get("parentid").is_none() && a.get("domain").is_none(),
            "{a}"
        );
        assert_eq!(a["dataschema"], "#/demo/payment/charge/0.0.0");
        assert_eq!(
            keys(&a["data"]),
            ["errorName", "errorMessage", "errorStack"]
        );
        assert!(
            a["data"]["errorStack"]
                .as_str()
                .unwrap()
                .contains("payment-service.mjs")
        );
    }
    for a in &answers {
        assert_eq!(a["to"], PAYMENT_FLOW);
        assert_eq!(a["executionunits"], 0);
        assert_eq!(a["redirectto"], Value::Null);
        assert!(a["time"].as_str().unwrap().ends_with("+00:00"));
        let event = ArvoEvent::from_json_slice(a.to_string().as_bytes()).unwrap();
        assert_eq!(event.domain(), None);
        assert!(event.extensions().is_empty());
    }

    let _ = stop_tx.send(());
    let stats = tokio::time::timeout(Duration::from_secs(20), rust)
        .await
        .expect("the Rust worker stops")
        .unwrap()
        .unwrap();
    assert_eq!(stats.dead_lettered(), 0);
    t.delete_streams().await.unwrap();
}

/// A charge request to the TS service from a plain client (its answer comes back to it).
fn charge(i: usize) -> ArvoEvent {
    ArvoEvent::builder()
        .source("com.test.client")
        .event_type(TS_SOURCE)
        .subject(format!("charge-{i}"))
        .dataschema("#/demo/payment/charge/1.0.0")
        .data_json(json!({"order_id": format!("ORD-{i}"), "amount_cents": i, "card": "tok_visa"}))
        .build()
        .unwrap()
}

/// SIGTERM while the TS service has a backlog: it finishes and acknowledges what it runs and
/// exits 0; a second instance handles the rest. Every charge is answered exactly once: none
/// lost, none handled twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ts_service_stops_gracefully_and_loses_nothing() {
    let Some(url) = nats_and_node("the_ts_service_stops_gracefully_and_loses_nothing").await else {
        return;
    };
    let (t, name) = streams(&url).await;
    let mut sub = t
        .client()
        .subscribe(t.streams().subject("com.test.client"))
        .await
        .unwrap();
    let n = 300;
    let mut ids = HashSet::new();
    for i in 0..n {
        let e = charge(i);
        ids.insert(e.id().to_owned());
        t.publish(&e).await.unwrap();
    }
    let mut answers: HashMap<String, usize> = HashMap::new();
    let record = |answers: &mut HashMap<String, usize>, payload: &[u8]| {
        let a = ArvoEvent::from_json_slice(payload).unwrap();
        assert_eq!(a.event_type(), "evt.payment.charge.success");
        *answers.entry(a.parentid().unwrap().to_owned()).or_default() += 1;
    };

    let first = NodeService::start(&url, &name, 4).await;
    // Stop it mid-backlog: after its first answers.
    let msg = tokio::time::timeout(Duration::from_secs(30), sub.next())
        .await
        .expect("a first answer")
        .unwrap();
    record(&mut answers, &msg.payload);
    first.stop().await;
    let before = t.queue_stats(TS_SOURCE).await.unwrap();
    assert!(before.pending > 0, "stopped with a backlog: {before:?}");

    let second = NodeService::start(&url, &name, 4).await;
    let all = async {
        while answers.len() < n {
            let msg = sub.next().await.expect("subscription open");
            record(&mut answers, &msg.payload);
        }
    };
    tokio::time::timeout(Duration::from_secs(90), all)
        .await
        .expect("every charge answered");
    // Anything handled twice would answer again: give it the time of a re-delivery.
    tokio::time::sleep(Duration::from_secs(4)).await;
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(10), sub.next()).await {
        record(&mut answers, &msg.payload);
    }
    second.stop().await;
    let handled: HashSet<String> = answers.keys().cloned().collect();
    assert_eq!(handled, ids, "every charge answered");
    let twice: Vec<_> = answers.iter().filter(|(_, c)| **c > 1).collect();
    assert!(twice.is_empty(), "answered twice: {twice:?}");
    let after = t.queue_stats(TS_SOURCE).await.unwrap();
    assert_eq!((after.pending, after.ack_pending), (0, 0), "{after:?}");
    t.delete_streams().await.unwrap();
}
