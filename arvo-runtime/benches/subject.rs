//! Subject costs (the hand-written floor of `floor.md` measured inflate ~1.5 µs and the whole
//! decode ~2.4 µs per B1 subject).
//!
//! Run: `cargo bench -p arvo-runtime --bench subject`.

use arvo_runtime::codec;
use arvo_runtime::subject::{self, NewSubject};
use divan::{Bencher, black_box};

fn main() {
    divan::main();
}

/// B1's subjects (scenarios.md): `execution.id` = `b1-<i>`.
fn b1_subjects() -> Vec<String> {
    (10_000..10_256)
        .map(|i| {
            codec::compress_str(&format!(
                r#"{{"orchestrator":{{"name":"arvo.orc.bench.calc","version":"1.0.0"}},"execution":{{"id":"b1-{i}","initiator":"com.bench.client","domain":null}},"meta":{{}}}}"#
            ))
        })
        .collect()
}

/// B3's subjects: made by `subject::new`, so `execution.id` is a fresh UUID v4 (less
/// compressible than B1's ids: ~130-byte streams, ~180 base64 characters).
fn b3_subjects() -> Vec<String> {
    (0..256)
        .map(|_| {
            subject::new(NewSubject {
                orchestrator: "arvo.orc.bench.calc",
                version: Some("1.0.0"),
                initiator: "com.bench.client",
                ..Default::default()
            })
            .unwrap_or_else(|e| panic!("{e}"))
            .as_str()
            .to_owned()
        })
        .collect()
}

/// `subject::new`: a fresh UUID v4, validation, JSON text, stock-zlib deflate, base64.
#[divan::bench]
fn create_new() -> subject::Subject {
    subject::new(NewSubject {
        orchestrator: black_box("arvo.orc.bench.calc"),
        version: Some("1.0.0"),
        initiator: "com.bench.client",
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

/// `subject::parse` of a B1 subject: base64, inflate, typed JSON, validation.
#[divan::bench]
fn parse_b1(bencher: Bencher<'_, '_>) {
    let subjects = b1_subjects();
    let mut i = 0;
    bencher.bench_local(|| {
        i = (i + 1) % subjects.len();
        subject::parse(black_box(&subjects[i])).unwrap_or_else(|e| panic!("{e}"))
    });
}

/// Base64 + inflate only (the bytes are handed to a no-op).
#[divan::bench]
fn inflate_b1(bencher: Bencher<'_, '_>) {
    let subjects = b1_subjects();
    let mut i = 0;
    bencher.bench_local(|| {
        i = (i + 1) % subjects.len();
        codec::with_decompressed(black_box(&subjects[i]), |b| b.len())
            .unwrap_or_else(|e| panic!("{e}"))
    });
}

/// `subject::parse` of a B3 subject (UUID v4 execution id).
#[divan::bench]
fn parse_b3(bencher: Bencher<'_, '_>) {
    let subjects = b3_subjects();
    let mut i = 0;
    bencher.bench_local(|| {
        i = (i + 1) % subjects.len();
        subject::parse(black_box(&subjects[i])).unwrap_or_else(|e| panic!("{e}"))
    });
}

/// Base64 + inflate only, B3 subjects.
#[divan::bench]
fn inflate_b3(bencher: Bencher<'_, '_>) {
    let subjects = b3_subjects();
    let mut i = 0;
    bencher.bench_local(|| {
        i = (i + 1) % subjects.len();
        codec::with_decompressed(black_box(&subjects[i]), |b| b.len())
            .unwrap_or_else(|e| panic!("{e}"))
    });
}
