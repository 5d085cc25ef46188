//! The event layer's hot path: parse + validate of a B1-like input event, serialise, and
//! building an output event from parts (what a handler does per event).

use arvo_runtime::codec::compress_str;
use arvo_runtime::event::{ArvoEvent, ArvoEventParts, new_uuid_v4, now_timestamp};
use divan::{Bencher, black_box};
use serde_json::{Map, Value, json};

fn main() {
    divan::main();
}

/// Input event `i` of scenario B1 (`/work/shared/scenarios.md`), as its JSON text.
fn b1_input(i: u64) -> ArvoEvent {
    let subject = compress_str(&format!(
        r#"{{"orchestrator":{{"name":"arvo.orc.bench.calc","version":"1.0.0"}},"execution":{{"id":"b1-{i}","initiator":"com.bench.client","domain":null}},"meta":{{}}}}"#
    ));
    let Value::Object(data) = json!({"a": i, "b": i + 1}) else {
        unreachable!()
    };
    ArvoEvent::builder()
        .event_type("com.calc.add")
        .source("arvo.orc.bench.calc")
        .subject(subject)
        .to("com.calc.add")
        .redirectto("arvo.orc.bench.calc")
        .dataschema("#/bench/calc/add/1.0.0")
        .data(data)
        .build()
        .expect("valid B1 input")
}

#[divan::bench]
fn parse_b1_input(bencher: Bencher<'_, '_>) {
    let text = b1_input(10_000).to_json_string();
    bencher
        .counter(divan::counter::BytesCount::of_str(&text))
        .bench(|| ArvoEvent::from_json_str(black_box(&text)));
}

#[divan::bench]
fn serialise_b1_input(bencher: Bencher<'_, '_>) {
    let event = b1_input(10_000);
    bencher.bench(|| black_box(&event).to_json_string());
}

#[divan::bench]
fn write_json_reused_buffer(bencher: Bencher<'_, '_>) {
    let event = b1_input(10_000);
    let mut buf = Vec::with_capacity(1024);
    bencher.bench_local(|| {
        buf.clear();
        black_box(&event).write_json(&mut buf);
        buf.len()
    });
}

/// The handler's output event: fresh id and time, fields taken from the input.
#[divan::bench]
fn from_parts_output_event(bencher: Bencher<'_, '_>) {
    let input = b1_input(10_000);
    bencher.bench(|| {
        let mut data = Map::with_capacity(1);
        data.insert("result".to_owned(), Value::from(20_001));
        ArvoEvent::from_parts(ArvoEventParts {
            id: new_uuid_v4(),
            time: now_timestamp(),
            source: "com.calc.add".to_owned(),
            event_type: "evt.calc.add.success".to_owned(),
            subject: input.subject().to_owned(),
            dataschema: Some("#/bench/calc/add/1.0.0".to_owned()),
            data,
            to: input.redirectto().map(str::to_owned),
            parentid: Some(input.id().to_owned()),
            executionunits: Some(0.0),
            ..Default::default()
        })
    });
}

#[divan::bench]
fn builder_output_event(bencher: Bencher<'_, '_>) {
    let input = b1_input(10_000);
    bencher.bench(|| {
        let mut data = Map::with_capacity(1);
        data.insert("result".to_owned(), Value::from(20_001));
        ArvoEvent::builder()
            .source("com.calc.add")
            .event_type("evt.calc.add.success")
            .subject(input.subject())
            .dataschema("#/bench/calc/add/1.0.0")
            .data(data)
            .to(input.redirectto())
            .parentid(input.id())
            .executionunits(0.0)
            .build()
    });
}

#[divan::bench]
fn uuid_and_time(bencher: Bencher<'_, '_>) {
    bencher.bench(|| (new_uuid_v4(), now_timestamp()));
}

/// An event with `n` distinct extension keys (`x0`, `x1`, ...), as JSON text (issue 15: the
/// reading must stay linear in `n`).
fn with_extensions(n: usize) -> String {
    let mut s = b1_input(1).to_json_string();
    s.pop();
    for i in 0..n {
        s.push_str(&format!(",\"x{i}\":{i}"));
    }
    s.push('}');
    s
}

/// Parse + validate of an event with 1k, 10k and 100k extensions: the time per extension
/// (items/s) stays flat when reading is linear.
#[divan::bench(args = [1_000, 10_000, 100_000], sample_count = 20)]
fn parse_extensions(bencher: Bencher<'_, '_>, n: usize) {
    let text = with_extensions(n);
    bencher
        .counter(divan::counter::ItemsCount::new(n))
        .bench(|| ArvoEvent::from_json_str(black_box(&text)).map(|e| e.extensions().len()));
}

/// The floor for [`parse_extensions`]: serde_json reading the same text into a `Value`
/// (a generic, hashing-free-of-validation reader of the same keys).
#[divan::bench(args = [1_000, 10_000, 100_000], sample_count = 20)]
fn parse_extensions_floor_value(bencher: Bencher<'_, '_>, n: usize) {
    let text = with_extensions(n);
    bencher
        .counter(divan::counter::ItemsCount::new(n))
        .bench(|| {
            serde_json::from_str::<Value>(black_box(&text)).map(|v| v.as_object().map(Map::len))
        });
}
