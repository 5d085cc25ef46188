//! Scenario B1 of `scenarios.md`: handler throughput on the path a user writes, against a
//! hand-written floor measured in the same run on the same inputs.
//!
//! Protocol: 10,000 warm-up events, then 100,000 measured events (`B1_EVENTS` / `B1_WARMUP`
//! change them), each executed and awaited in turn, strictly sequentially; inputs are built
//! before the clock starts. Each variant runs `B1_PASSES` (default 3) passes in rotating order;
//! the median pass is reported. Every output is checked (one event, its type, the sum).
//!
//! Variants, each (b) from parsed events and (a) from JSON bytes:
//! * `framework`: the handler as a user writes it: a typed contract (`#[arvo_contract]`,
//!   schemas from the payload types) and an `async fn` with `#[arvo_handler]` (typed payload in,
//!   one emits value out), run by `ArvoEventHandler::of(add)`; each event goes through
//!   `execute` / `execute_json` as the reference's B1 calls its handler's `execute`, then the
//!   output is serialised;
//! * `closure builder`: the same contract written as JSON Schema and the untyped escape hatch
//!   (`ArvoEventHandler::builder(..).version(..)`, JSON in, event type and data out);
//! * `floor+decode`: serde_json, jsonschema validation of input and output, the subject decode
//!   the reference's domain resolution does, building and serialising the output by hand;
//! * `floor`: the same without the subject decode (not needed: the input domain is null).
//!
//! Run: `cargo bench -p arvo-runtime --bench b1` (bench profile: fat LTO, one codegen unit).
//! `B1_ONLY=<variant index>` runs one variant (warm-up + one pass; for callgrind), in the order
//! printed.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use arvo_runtime::contract::{ArvoContract, Schema};
use arvo_runtime::event::{ArvoEvent, new_uuid_v4, now_timestamp};
use arvo_runtime::handler::{ArvoEventHandler, ParentContext, RawOutput};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::hint::black_box;
use std::time::Instant;

#[path = "common/mod.rs"]
mod common;
use common::{block_on, env};

const URI: &str = "#/bench/calc/add";
const DATASCHEMA: &str = "#/bench/calc/add/1.0.0";

fn accepts_json() -> Value {
    json!({"type":"object","properties":{"a":{"type":"number"},"b":{"type":"number"}},"required":["a","b"],"additionalProperties":false})
}
fn emits_json() -> Value {
    json!({"type":"object","properties":{"result":{"type":"number"}},"required":["result"],"additionalProperties":false})
}

fn handler() -> ArvoEventHandler {
    let c = ArvoContract::simple(URI, "calc.add")
        .version(
            "1.0.0",
            Schema::new(accepts_json()).unwrap(),
            Schema::new(emits_json()).unwrap(),
        )
        .build()
        .unwrap();
    ArvoEventHandler::builder(c)
        .executionunits(0.0)
        .version("1.0.0", |input| {
            Box::pin(async move {
                let d = input.event.data();
                let a = d.get("a").and_then(Value::as_f64).unwrap_or_default();
                let b = d.get("b").and_then(Value::as_f64).unwrap_or_default();
                Ok(vec![RawOutput::new(
                    "evt.calc.add.success",
                    json!({"result": a + b}),
                )])
            })
        })
        .build()
        .unwrap()
}

/// The user's path: a typed contract and an `#[arvo_handler]` function.
mod typed_path {
    use arvo_runtime::prelude::*;

    #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct AddIn {
        pub a: f64,
        pub b: f64,
    }

    #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct AddOut {
        pub result: f64,
    }

    #[arvo_contract(uri = "#/bench/calc/add", type = "calc.add", simple,
        version("1.0.0", accepts = AddIn, emits = AddOut))]
    pub struct CalcAdd;

    #[arvo_handler(contract = CalcAdd, version = "1.0.0", register = false)]
    pub async fn add(input: AddIn) -> Result<CalcAddV1_0_0Emits, HandlerError> {
        Ok(CalcAddV1_0_0Emits::Success(AddOut {
            result: input.a + input.b,
        }))
    }

    pub fn handler() -> ArvoEventHandler {
        ArvoEventHandler::of(add)
            .executionunits(0.0)
            .build()
            .unwrap()
    }
}

fn input(i: u64) -> ArvoEvent {
    let subject = arvo_runtime::codec::compress_str(&format!(
        r#"{{"orchestrator":{{"name":"arvo.orc.bench.calc","version":"1.0.0"}},"execution":{{"id":"b1-{i}","initiator":"com.bench.client","domain":null}},"meta":{{}}}}"#
    ));
    ArvoEvent::builder()
        .event_type("com.calc.add")
        .source("arvo.orc.bench.calc")
        .subject(subject)
        .to("com.calc.add")
        .redirectto("arvo.orc.bench.calc")
        .dataschema(DATASCHEMA)
        .data_json(json!({"a": i, "b": i + 1}))
        .build()
        .unwrap()
}

// ---- the floor: the same work written by hand ----

#[derive(Deserialize)]
#[allow(dead_code)]
struct In {
    id: String,
    source: String,
    specversion: String,
    #[serde(rename = "type")]
    event_type: String,
    subject: String,
    datacontenttype: String,
    dataschema: Option<String>,
    data: Value,
    time: String,
    to: Option<String>,
    accesscontrol: Option<String>,
    redirectto: Option<String>,
    executionunits: Option<f64>,
    traceparent: Option<String>,
    tracestate: Option<String>,
    parentid: Option<String>,
    domain: Option<String>,
}

#[derive(Serialize)]
struct Out<'a> {
    id: String,
    source: &'a str,
    specversion: &'a str,
    #[serde(rename = "type")]
    event_type: &'a str,
    subject: String,
    datacontenttype: &'a str,
    dataschema: &'a str,
    data: Value,
    time: String,
    to: String,
    accesscontrol: Option<String>,
    redirectto: Option<&'a str>,
    executionunits: f64,
    traceparent: Option<&'a str>,
    tracestate: Option<&'a str>,
    parentid: String,
    domain: Option<String>,
}

struct Floor {
    accepts: jsonschema::Validator,
    emits: jsonschema::Validator,
}

impl Floor {
    fn new() -> Self {
        Floor {
            accepts: jsonschema::validator_for(&accepts_json()).unwrap(),
            emits: jsonschema::validator_for(&json!({"type":"object","properties":{"result":{"type":"number"}},"required":["result"]})).unwrap(),
        }
    }

    /// One event, from the parsed form; writes the output JSON into `buf`, returns the result.
    fn run(&self, e: &In, decode: bool, buf: &mut Vec<u8>) -> f64 {
        assert_eq!(e.event_type, "com.calc.add");
        let ds = e.dataschema.as_deref().unwrap();
        let (uri, version) = ds.rsplit_once('/').unwrap();
        assert!(uri == URI && version == "1.0.0");
        assert!(self.accepts.is_valid(&e.data));
        let a = e.data["a"].as_f64().unwrap();
        let b = e.data["b"].as_f64().unwrap();
        let data = json!({"result": a + b});
        let domain = if decode {
            // ORCHESTRATION_CONTEXT as the reference computes it: the subject is parsed.
            let cur = arvo_runtime::subject::parse(&e.subject)
                .ok()
                .and_then(|c| c.execution.domain);
            match e.domain.as_deref() {
                None => None,
                Some(t) if cur.as_deref() == Some(t) => None,
                Some(_) => cur,
            }
        } else {
            None
        };
        assert!(self.emits.is_valid(&data));
        let out = Out {
            id: new_uuid_v4(),
            source: "com.calc.add",
            specversion: "1.0",
            event_type: "evt.calc.add.success",
            subject: e.subject.clone(),
            datacontenttype: "application/cloudevents+json;charset=UTF-8;profile=arvo",
            dataschema: DATASCHEMA,
            data,
            time: now_timestamp(),
            to: e.redirectto.clone().unwrap_or_else(|| e.source.clone()),
            accesscontrol: e.accesscontrol.clone(),
            redirectto: None,
            executionunits: 0.0,
            traceparent: None,
            tracestate: None,
            parentid: e.id.clone(),
            domain,
        };
        buf.clear();
        serde_json::to_writer(&mut *buf, &out).unwrap();
        a + b
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Variant {
    MacroParsed,
    MacroBytes,
    FloorDecodeParsed,
    FloorDecodeBytes,
    FloorParsed,
    FloorBytes,
    ClosureParsed,
    ClosureBytes,
}

impl Variant {
    const ALL: [Variant; 8] = [
        Variant::MacroParsed,
        Variant::MacroBytes,
        Variant::FloorDecodeParsed,
        Variant::FloorDecodeBytes,
        Variant::FloorParsed,
        Variant::FloorBytes,
        Variant::ClosureParsed,
        Variant::ClosureBytes,
    ];
    fn name(self) -> &'static str {
        match self {
            Variant::MacroParsed => "framework (b) parsed",
            Variant::MacroBytes => "framework (a) bytes",
            Variant::FloorDecodeParsed => "floor+decode (b) parsed",
            Variant::FloorDecodeBytes => "floor+decode (a) bytes",
            Variant::FloorParsed => "floor (b) parsed, no decode",
            Variant::FloorBytes => "floor (a) bytes, no decode",
            Variant::ClosureParsed => "closure builder (b) parsed",
            Variant::ClosureBytes => "closure builder (a) bytes",
        }
    }
}

struct Inputs {
    events: Vec<ArvoEvent>,
    json: Vec<Vec<u8>>,
    floor: Vec<In>,
    expected_sum: f64,
}

fn inputs(range: std::ops::Range<u64>) -> Inputs {
    let events: Vec<ArvoEvent> = range.clone().map(input).collect();
    let json: Vec<Vec<u8>> = events
        .iter()
        .map(|e| e.to_json_string().into_bytes())
        .collect();
    let floor = json
        .iter()
        .map(|j| serde_json::from_slice(j).unwrap())
        .collect();
    let expected_sum = range.map(|i| (2 * i + 1) as f64).sum();
    Inputs {
        events,
        json,
        floor,
        expected_sum,
    }
}

/// Runs one variant over `inp`; returns seconds.
#[inline(never)]
fn pass(v: Variant, h: &ArvoEventHandler, hm: &ArvoEventHandler, f: &Floor, inp: &Inputs) -> f64 {
    let mut buf = Vec::with_capacity(1024);
    let mut sum = 0.0;
    let check = |out: Vec<ArvoEvent>, buf: &mut Vec<u8>| -> f64 {
        assert_eq!(out.len(), 1);
        let e = &out[0];
        assert_eq!(e.event_type(), "evt.calc.add.success");
        buf.clear();
        e.write_json(buf);
        e.data()["result"].as_f64().unwrap()
    };
    let start = Instant::now();
    match v {
        Variant::ClosureParsed => {
            for e in &inp.events {
                let out = block_on(h.execute(e, ParentContext::Event)).unwrap();
                sum += check(out, &mut buf);
            }
        }
        Variant::ClosureBytes => {
            for j in &inp.json {
                let out = block_on(h.execute_json(j, ParentContext::Event)).unwrap();
                sum += check(out, &mut buf);
            }
        }
        Variant::MacroParsed => {
            for e in &inp.events {
                let out = block_on(hm.execute(e, ParentContext::Event)).unwrap();
                sum += check(out, &mut buf);
            }
        }
        Variant::MacroBytes => {
            for j in &inp.json {
                let out = block_on(hm.execute_json(j, ParentContext::Event)).unwrap();
                sum += check(out, &mut buf);
            }
        }
        Variant::FloorDecodeParsed | Variant::FloorParsed => {
            let decode = v == Variant::FloorDecodeParsed;
            for e in &inp.floor {
                sum += f.run(e, decode, &mut buf);
            }
        }
        Variant::FloorDecodeBytes | Variant::FloorBytes => {
            let decode = v == Variant::FloorDecodeBytes;
            for j in &inp.json {
                let e: In = serde_json::from_slice(j).unwrap();
                sum += f.run(&e, decode, &mut buf);
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    black_box(&buf);
    assert_eq!(sum, inp.expected_sum, "checksum of {}", v.name());
    secs
}

/// `B1_PARTS=1`: per-part costs of the framework path (ns per event).
fn parts(inp: &Inputs) {
    let c = ArvoContract::simple(URI, "calc.add")
        .version(
            "1.0.0",
            Schema::new(accepts_json()).unwrap(),
            Schema::new(emits_json()).unwrap(),
        )
        .build()
        .unwrap();
    let empty = ArvoEventHandler::builder(c.clone())
        .version_sync("1.0.0", |_| Ok(vec![]))
        .build()
        .unwrap();
    let n = inp.events.len() as f64;
    let time = |name: &str, f: &mut dyn FnMut(&ArvoEvent)| {
        let t = Instant::now();
        for e in &inp.events {
            f(e);
        }
        println!(
            "  part {name:<40} {:>8.0} ns",
            t.elapsed().as_nanos() as f64 / n
        );
    };
    time("execute, no outputs", &mut |e| {
        black_box(block_on(empty.execute(e, ParentContext::Event)).unwrap());
    });
    let schema = c.latest().accepts().schema.clone();
    time("data clone + validate", &mut |e| {
        let v = Value::Object(e.data().clone());
        black_box(schema.validate(&v).is_ok());
    });
    let es = c.latest().emit_list()[0].schema.clone();
    time("output parse_owned", &mut |_| {
        black_box(es.parse_owned(json!({"result": 3.0})).is_ok());
    });
    time("uuid + now", &mut |_| {
        black_box((new_uuid_v4(), now_timestamp()));
    });
    time("builder build (output event)", &mut |e| {
        let out = ArvoEvent::builder()
            .source("com.calc.add")
            .event_type("evt.calc.add.success")
            .subject(e.subject())
            .dataschema(DATASCHEMA)
            .data(serde_json::Map::from_iter([(
                "result".to_owned(),
                json!(3.0),
            )]))
            .to(e.redirectto())
            .accesscontrol(e.accesscontrol())
            .executionunits(0.0)
            .parentid(e.id())
            .build()
            .unwrap();
        black_box(out);
    });
    time("builder build, short subject", &mut |e| {
        let out = ArvoEvent::builder()
            .source("com.calc.add")
            .event_type("evt.calc.add.success")
            .subject("s-1")
            .dataschema(DATASCHEMA)
            .data(serde_json::Map::new())
            .parentid(e.id())
            .build()
            .unwrap();
        black_box(out);
    });
    time("from_parts (output event)", &mut |e| {
        let out = ArvoEvent::from_parts(arvo_runtime::event::ArvoEventParts {
            id: new_uuid_v4(),
            time: now_timestamp(),
            source: "com.calc.add".into(),
            event_type: "evt.calc.add.success".into(),
            subject: e.subject().to_owned(),
            dataschema: Some(DATASCHEMA.into()),
            to: Some("x.y.z".into()),
            parentid: Some(e.id().to_owned()),
            ..Default::default()
        })
        .unwrap();
        black_box(out);
    });
    time("validate_uri(subject) x1", &mut |e| {
        black_box(arvo_runtime::rules::validate_uri(black_box(e.subject())));
    });
    time("encode_uri(subject) x1", &mut |e| {
        black_box(arvo_runtime::rules::encode_uri(black_box(e.subject())));
    });
    let mut buf = Vec::with_capacity(1024);
    time("write_json (input-sized event)", &mut |e| {
        buf.clear();
        e.write_json(&mut buf);
        black_box(&buf);
    });
    time("span: noop tracer start + context", &mut |e| {
        use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider as _};
        let tracer = opentelemetry::global::tracer_provider().tracer("x");
        let _ = e;
        let span = tracer.build_with_context(
            opentelemetry::trace::SpanBuilder::from_name("Handler<#/bench/calc/add>"),
            &opentelemetry::Context::new(),
        );
        let cx = opentelemetry::Context::new().with_span(span);
        black_box(arvo_runtime::otel::TraceHeaders::from_context(&cx));
    });
}

fn main() {
    if std::env::var("B1_PARTS").is_ok() {
        parts(&inputs(0..20_000));
        return;
    }
    let warmup = env("B1_WARMUP", 10_000);
    let n = env("B1_EVENTS", 100_000);
    let passes = env("B1_PASSES", 3) as usize;
    let h = handler();
    let hm = typed_path::handler();
    let f = Floor::new();
    let warm = inputs(0..warmup);
    let measured = inputs(warmup..warmup + n);
    // `B1_ONLY=<variant index>`: run that variant alone (for callgrind).
    if let Ok(only) = std::env::var("B1_ONLY") {
        let v = Variant::ALL[only.parse::<usize>().unwrap()];
        pass(v, &h, &hm, &f, &warm);
        let secs = pass(v, &h, &hm, &f, &measured);
        println!("{}: {:.0} events/s", v.name(), n as f64 / secs);
        return;
    }
    for v in Variant::ALL {
        pass(v, &h, &hm, &f, &warm);
    }
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); Variant::ALL.len()];
    for p in 0..passes {
        for k in 0..Variant::ALL.len() {
            let idx = (k + p) % Variant::ALL.len();
            times[idx].push(pass(Variant::ALL[idx], &h, &hm, &f, &measured));
        }
    }
    let median = |t: &Vec<f64>| {
        let mut t = t.clone();
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    };
    let eps: Vec<f64> = times.iter().map(|t| n as f64 / median(t)).collect();
    println!("B1: {n} events after {warmup} warm-up, median of {passes} passes");
    for (v, e) in Variant::ALL.iter().zip(&eps) {
        println!(
            "  {:<30} {:>10.0} events/s  {:>6.2} µs/event  {:>6.1}x reference (8,646/s)",
            v.name(),
            e,
            1e6 / e,
            e / 8646.0
        );
    }
    // Throughput ratios framework / floor (above 1: the framework is faster).
    let ratio = |fw: usize, fl: usize| eps[fw] / eps[fl];
    println!(
        "  framework / floor+decode: (b) {:.2}  (a) {:.2}",
        ratio(0, 2),
        ratio(1, 3)
    );
    println!(
        "  framework / floor (no decode): (b) {:.2}  (a) {:.2}",
        ratio(0, 4),
        ratio(1, 5)
    );
    println!(
        "  closure builder / floor (no decode): (b) {:.2}  (a) {:.2}",
        ratio(6, 4),
        ratio(7, 5)
    );
}
