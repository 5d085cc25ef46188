//! The scenario DSL (`arvo_runtime::testing`, spec §10): passing scenarios, the failure
//! messages (step, field, expected vs actual, actual events), violations, repeats with a
//! threshold, and the targets (handler, closure, broker).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use arvo_runtime::broker::EventBroker;
use arvo_runtime::contract::{ArvoContract, Schema};
use arvo_runtime::event::ArvoEvent;
use arvo_runtime::factory::{ArvoEventFactory, EventInput};
use arvo_runtime::handler::{ArvoEventHandler, RawOutput, Violation};
use arvo_runtime::testing::{
    Scenario, ScenarioError, StepProblem, anything, event, expect, expect_violation, from_fn,
};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

fn calc() -> (ArvoEventHandler, ArvoEventFactory) {
    let ab = Schema::new(json!({"type":"object","properties":{"a":{"type":"number"},"b":{"type":"number"}},"required":["a","b"]})).unwrap();
    let out = Schema::new(
        json!({"type":"object","properties":{"result":{"type":"number"}},"required":["result"]}),
    )
    .unwrap();
    let contract = ArvoContract::simple("#/test/calc/add", "calc.add")
        .version("1.0.0", ab, out)
        .build()
        .unwrap();
    let handler = ArvoEventHandler::builder(contract.clone())
        .version("1.0.0", |input| {
            Box::pin(async move {
                let a = input.event.data()["a"].as_f64().unwrap_or_default();
                let b = input.event.data()["b"].as_f64().unwrap_or_default();
                Ok(vec![RawOutput::new(
                    "evt.calc.add.success",
                    json!({ "result": a + b }),
                )])
            })
        })
        .build()
        .unwrap();
    (handler, ArvoEventFactory::new(contract.latest()))
}

fn add(f: &ArvoEventFactory, a: impl Into<serde_json::Value>, b: i64) -> ArvoEvent {
    f.accepts(
        EventInput::new("com.test.client", json!({ "a": a.into(), "b": b })).with_subject("s-1"),
    )
    .unwrap()
}

#[tokio::test]
async fn a_passing_two_step_scenario() {
    let (handler, f) = calc();
    let report = Scenario::new("adds twice")
        .step(
            |prev| {
                assert!(prev.is_empty(), "the first step sees no events");
                add(&f, 1, 2)
            },
            expect()
                .events(1)
                .of_type("evt.calc.add.success")
                .data_eq("/result", 3) // 3 == 3.0
                .data_has("result")
                .to("com.test.client")
                .source("com.calc.add")
                .subject("s-1")
                .domain(None)
                .field_eq("/executionunits", 0),
        )
        .step(
            |prev| add(&f, prev[0].data()["result"].clone(), 10),
            expect()
                .nth(0, event().data_eq("/result", 13.0))
                .satisfies("a parent id", |events| {
                    events[0]
                        .parentid()
                        .map(|_| ())
                        .ok_or_else(|| "no parentid".to_owned())
                }),
        )
        .run(&handler)
        .await
        .unwrap();
    assert_eq!(report.iterations, 1);
    assert_eq!(report.events.len(), 1);
    assert_eq!(report.events[0].data()["result"], json!(13.0));
}

fn failure(err: ScenarioError) -> arvo_runtime::testing::StepFailure {
    match err {
        ScenarioError::Step(f) => *f,
        other => panic!("expected a step failure, got {other}"),
    }
}

#[tokio::test]
async fn a_wrong_data_field_names_step_field_expected_and_actual() {
    let (handler, f) = calc();
    let err = Scenario::new("adds")
        .step(|_| add(&f, 1, 2), expect().events(1))
        .step(|_| add(&f, 1, 2), expect().events(1).data_eq("/result", 4))
        .run(&handler)
        .await
        .unwrap_err();
    let text = err.to_string();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("Step 2: event[0].data/result: expected 4, actual 3.0")
    );
    assert_eq!(lines.next(), Some("  scenario: adds"));
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("  input: com.calc.add (id ")
    );
    assert_eq!(lines.next(), Some("Actual events (1):"));
    assert!(
        text.contains("\n      \"result\": 3.0\n"),
        "pretty-printed events:\n{text}"
    );
    assert_eq!(
        format!("{err:?}"),
        text,
        "Debug prints the readable message"
    );

    let f = failure(err);
    assert_eq!(f.step, 2);
    assert_eq!(f.iteration, None);
    assert_eq!(f.actual.len(), 1);
    let StepProblem::Field { index, mismatch } = &f.problem else {
        panic!("{:?}", f.problem)
    };
    assert_eq!(*index, 0);
    assert_eq!(
        (
            mismatch.field.as_str(),
            mismatch.expected.as_str(),
            mismatch.actual.as_str()
        ),
        ("data/result", "4", "3.0")
    );
}

#[tokio::test]
async fn count_type_missing_and_custom_failures() {
    let (handler, f) = calc();
    let run = |e: arvo_runtime::testing::Expect| {
        let (handler, f) = (&handler, &f);
        async move {
            Scenario::new("one")
                .step(|_| add(f, 1, 2), e)
                .run(handler)
                .await
                .unwrap_err()
                .to_string()
        }
    };
    let first = |s: String| s.lines().next().unwrap().to_owned();
    assert_eq!(
        first(run(expect().events(2)).await),
        "Step 1: event count: expected 2, actual 1"
    );
    assert_eq!(
        first(run(expect().of_type("evt.calc.add.error")).await),
        "Step 1: event[0].type: expected \"evt.calc.add.error\", actual \"evt.calc.add.success\""
    );
    assert_eq!(
        first(run(expect().domain(Some("human"))).await),
        "Step 1: event[0].domain: expected \"human\", actual null"
    );
    assert_eq!(
        first(run(expect().data_eq("/missing/0", "x")).await),
        "Step 1: event[0].data/missing/0: expected \"x\", actual <missing>"
    );
    assert_eq!(
        first(run(expect().nth(1, event())).await),
        "Step 1: event[1]: expected an event, actual only 1 event(s)"
    );
    assert_eq!(
        first(
            run(expect().nth(
                0,
                event().satisfies("is negative", |e| e.data()["result"].as_f64() < Some(0.0))
            ))
            .await
        ),
        "Step 1: event[0].is negative: expected true, actual false"
    );
    assert_eq!(
        first(run(expect().satisfies("two kinds", |_| Err("only one kind".into()))).await),
        "Step 1: check 'two kinds' failed: only one kind"
    );
    let _ = f;
}

#[tokio::test]
async fn expected_and_unexpected_violations() {
    let (handler, f) = calc();
    // An event of another type: the handler returns a Config violation.
    let wrong = || {
        ArvoEvent::builder()
            .source("com.test.client")
            .event_type("com.other.thing")
            .to("com.calc.add")
            .subject("s")
            .data_json(json!({}))
            .build()
    };
    let report = Scenario::new("violations")
        .step(
            |_| wrong(),
            expect_violation()
                .of_kind("Config")
                .message_contains("Event type mismatch")
                .satisfies("no metadata", |v| v.metadata().is_none()),
        )
        .step(
            |prev| {
                assert!(
                    prev.is_empty(),
                    "after a violation step the next step sees no events"
                );
                add(&f, 1, 1)
            },
            anything(),
        )
        .run(&handler)
        .await
        .unwrap();
    assert_eq!(report.events.len(), 1);

    let err = Scenario::new("kind")
        .step(|_| wrong(), expect_violation().of_kind("Contract"))
        .run(&handler)
        .await
        .unwrap_err();
    let f1 = failure(err);
    assert!(matches!(f1.problem, StepProblem::Violation { .. }));
    assert!(
        f1.summary()
            .starts_with("Step 1: violation type: expected Contract, actual Config (violation: ViolationError<Config> Event type mismatch"),
        "{}",
        f1.summary()
    );

    let err = Scenario::new("no violation")
        .step(|_| add(&f, 1, 1), expect_violation())
        .run(&handler)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("Step 1: Expected error but function succeeded\n"),
        "{text}"
    );
    assert!(text.contains("Actual events (1):"), "{text}");

    let err = Scenario::new("unexpected")
        .step(|_| add(&f, 1, 1), expect())
        .step(|_| wrong(), expect().events(1))
        .run(&handler)
        .await
        .unwrap_err();
    let f2 = failure(err);
    assert_eq!(f2.step, 2);
    assert!(matches!(
        f2.problem,
        StepProblem::UnexpectedViolation(Violation::Config { .. })
    ));
    assert!(
        f2.summary()
            .starts_with("Step 2: expected events, actual violation: ViolationError<Config>")
    );
}

#[tokio::test]
async fn an_input_that_cannot_be_built_fails_its_step() {
    let (handler, f) = calc();
    let err = Scenario::new("bad input")
        .step(|_| add(&f, 1, 1), expect())
        .step(
            |_| {
                ArvoEvent::builder()
                    .source("com.test.client")
                    .event_type("bad")
                    .build()
            },
            expect(),
        )
        .run(&handler)
        .await
        .unwrap_err();
    let f = failure(err);
    assert_eq!(f.step, 2);
    assert!(f.input.is_none());
    assert!(
        f.summary()
            .starts_with("Step 2: could not build the input: "),
        "{}",
        f.summary()
    );
    assert!(!f.to_string().contains("Actual events"));

    assert_eq!(
        Scenario::new("empty")
            .run(&handler)
            .await
            .unwrap_err()
            .to_string(),
        "Scenario 'empty' has no steps"
    );
}

/// A closure target that fails every third call.
fn every_third_fails(
    calls: Arc<AtomicUsize>,
    running: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
) -> impl arvo_runtime::testing::ScenarioTarget {
    from_fn("com.test.flaky", move |e: &ArvoEvent| {
        let (calls, running, max) = (calls.clone(), running.clone(), max.clone());
        let e = e.clone();
        async move {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            max.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(5)).await;
            running.fetch_sub(1, Ordering::SeqCst);
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            if n % 3 == 0 {
                return Ok(vec![]);
            }
            Ok(vec![e])
        }
    })
}

fn echo_input() -> ArvoEvent {
    ArvoEvent::builder()
        .source("com.test.client")
        .event_type("com.test.flaky")
        .subject("s")
        .data_json(json!({}))
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn repeat_reports_real_iteration_numbers() {
    let counters = || {
        (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        )
    };
    let scenario = |times, threshold| {
        Scenario::new("flaky")
            .step(|_| echo_input(), expect().events(1))
            .repeat(times, threshold)
    };

    // Sequential: calls 3, 6, 9 fail, so iterations 3, 6, 9 fail.
    let (calls, running, max) = counters();
    let target = every_third_fails(calls, running, max.clone());
    let report = scenario(10, 70.0).run(&target).await.unwrap();
    assert_eq!((report.iterations, report.successes), (10, 7));
    let failed: Vec<_> = report.failures.iter().map(|f| f.iteration).collect();
    assert_eq!(failed, [Some(3), Some(6), Some(9)]);
    assert_eq!(max.load(Ordering::SeqCst), 1);

    let (calls, running, max) = counters();
    let target = every_third_fails(calls, running, max);
    let err = scenario(10, 90.0).run(&target).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "Success rate 70.00% is below threshold 90%\nSuccesses: 7/10\nSample failures:\n\
         \x20 Iteration 3: Step 1: event count: expected 1, actual 0\n\
         \x20 Iteration 6: Step 1: event count: expected 1, actual 0\n\
         \x20 Iteration 9: Step 1: event count: expected 1, actual 0\n"
    );

    // Bounded concurrency: at most 4 at once, and failures are still numbered and sorted.
    let (calls, running, max) = counters();
    let target = every_third_fails(calls, running, max.clone());
    let report = scenario(12, 50.0)
        .concurrency(4)
        .run(&target)
        .await
        .unwrap();
    assert_eq!(max.load(Ordering::SeqCst), 4);
    assert_eq!(report.successes, 8);
    let iterations: Vec<u32> = report.failures.iter().filter_map(|f| f.iteration).collect();
    assert_eq!(iterations.len(), 4);
    assert!(iterations.windows(2).all(|w| w[0] < w[1]), "{iterations:?}");
    assert!(
        report.failures[0]
            .to_string()
            .contains(&format!("scenario: flaky (iteration {})", iterations[0]))
    );
}

#[tokio::test]
async fn more_than_ten_failures_are_summarised() {
    let never = from_fn("com.test.never", |_: &ArvoEvent| async { Ok(vec![]) });
    let err = Scenario::new("never")
        .step(|_| echo_input(), expect().events(1))
        .repeat(12, 100.0)
        .run(&never)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("Success rate 0.00% is below threshold 100%\nSuccesses: 0/12\n"));
    assert!(text.contains("  Iteration 10: Step 1"));
    assert!(!text.contains("Iteration 11"));
    assert!(text.ends_with("\n  ... and 2 more failures"), "{text}");
}

#[tokio::test]
async fn a_broker_is_a_target() {
    let (handler, f) = calc();
    let broker = EventBroker::builder()
        .handler(Arc::new(handler))
        .build()
        .unwrap();
    Scenario::new("through the broker")
        .step(
            |_| add(&f, 20, 22),
            expect()
                .events(1)
                .of_type("evt.calc.add.success")
                .data_eq("/result", 42),
        )
        .step(
            |prev| add(&f, prev[0].data()["result"].clone(), -2),
            expect().events(1).data_eq("/result", 40),
        )
        .run(&broker)
        .await
        .unwrap();
}
