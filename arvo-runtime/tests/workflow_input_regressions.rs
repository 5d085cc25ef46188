//! Regressions found by the `workflow_input` fuzz target (hostile events driven through a
//! broker, a resumable and a service handler):
//! - an event's JSON write and parse gave an event that compared unequal to it, because the
//!   writer prints numbers as JavaScript does (`2.0` as `2`, integers beyond 2^53 rounded).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use arvo_runtime::event::ArvoEvent;
use serde_json::{Value, json};

fn event_with(data: Value) -> ArvoEvent {
    ArvoEvent::builder()
        .source("com.test.client")
        .event_type("com.test.thing")
        .subject("s-1")
        .data_json(data)
        .build()
        .unwrap()
}

fn reparsed(e: &ArvoEvent) -> ArvoEvent {
    ArvoEvent::from_json_str(&e.to_json_string()).unwrap()
}

#[test]
fn a_json_round_trip_keeps_an_event_equal() {
    // Each of these numbers is written as JavaScript prints it and read back as another JSON
    // number: `2.0` -> `2` (an integer), `-0.0` -> `0`, 2^53 + 1 -> 2^53, u64::MAX ->
    // 18446744073709552000 (a float).
    for n in [
        json!(2.0),
        json!(-0.0),
        json!(9_007_199_254_740_993u64),
        json!(u64::MAX),
        json!(1e21),
    ] {
        let e = event_with(json!({"n": n, "deep": [{"n": n}], "42": n}));
        let back = reparsed(&e);
        assert_eq!(back, e, "{n} did not survive the round trip");
        assert_eq!(e, back, "{n}: equality is symmetric");
    }
}

#[test]
fn events_with_other_data_still_differ() {
    let two = event_with(json!({"n": 2}));
    let other = |n: Value| {
        let mut parts = two.clone().into_parts();
        parts.data.insert("n".into(), n);
        ArvoEvent::from_parts(parts).unwrap()
    };
    assert_eq!(other(json!(2.0)), two);
    assert_ne!(other(json!(2.5)), two);
    assert_ne!(other(json!("2")), two);
    assert_ne!(other(json!([2])), two);
    assert_ne!(other(json!(9_007_199_254_740_994u64)), other(json!(2)));
    // Integers beyond 2^53 are one JavaScript number when they round to the same double.
    assert_eq!(
        other(json!(9_007_199_254_740_993u64)),
        other(json!(9_007_199_254_740_992u64))
    );
    assert_ne!(
        other(json!(9_007_199_254_740_995u64)),
        other(json!(9_007_199_254_740_992u64))
    );
    // Key order is not compared (the writer lists array-index keys first).
    let a = event_with(json!({"a": 1, "1": 2}));
    let mut parts = a.clone().into_parts();
    parts.data =
        serde_json::Map::from_iter([("1".to_owned(), json!(2)), ("a".to_owned(), json!(1))]);
    assert_eq!(ArvoEvent::from_parts(parts).unwrap(), a);
}
