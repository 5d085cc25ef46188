//! Definitions with thousands of versions: a contract, a handler and a resumable of 8x the
//! versions take about 8x the time to build, and still route by version.
#![allow(missing_docs, clippy::unwrap_used)]

mod common_timing;

use arvo_runtime::contract::{ArvoContract, OrchestratorContract, Schema};
use arvo_runtime::handler::{ArvoEventHandler, ParentContext, RawOutput};
use arvo_runtime::memory::InMemoryMemory;
use arvo_runtime::resumable::{ArvoResumable, RawOutcome, ResumableMemoryRecord};
use serde_json::{Value, json};

fn any() -> Schema {
    Schema::new(json!({"type": "object"})).unwrap()
}

/// `1.0.0`, `2.0.0`, ... `n.0.0`.
fn versions(n: usize) -> impl Iterator<Item = String> {
    (1..=n).map(|i| format!("{i}.0.0"))
}

fn contract(n: usize) -> ArvoContract {
    let any = any();
    versions(n)
        .fold(ArvoContract::simple("#/many/echo", "many.echo"), |b, v| {
            b.version(v, any.clone(), any.clone())
        })
        .build()
        .unwrap()
}

/// A handler whose version `v` answers `{"version": v}`.
fn handler(contract: &ArvoContract) -> ArvoEventHandler {
    let versions: Vec<String> = contract.versions().map(|v| v.to_string()).collect();
    versions
        .into_iter()
        .fold(ArvoEventHandler::builder(contract.clone()), |b, v| {
            let answer = json!({ "version": v });
            b.version_sync(v, move |_| {
                Ok(vec![RawOutput::new(
                    "evt.many.echo.success",
                    answer.clone(),
                )])
            })
        })
        .build()
        .unwrap()
}

fn flow(n: usize) -> OrchestratorContract {
    let any = any();
    versions(n)
        .fold(
            ArvoContract::orchestrator("#/many/flow", "many.flow"),
            |b, v| b.version(v, any.clone(), any.clone()),
        )
        .build()
        .unwrap()
}

type Flow = ArvoResumable<InMemoryMemory<ResumableMemoryRecord<Value>>, Value>;

fn resumable(flow: &OrchestratorContract) -> Flow {
    let versions: Vec<String> = flow.versions().map(|v| v.to_string()).collect();
    versions
        .into_iter()
        .fold(
            ArvoResumable::builder(flow.clone(), InMemoryMemory::new()),
            |b, v| {
                b.version(v, |_step| {
                    Box::pin(async move { Ok(RawOutcome::default()) })
                })
            },
        )
        .build()
        .unwrap()
}

/// Regression: each version was looked up among the versions before it, when the contract
/// took it (a version given again replaces the earlier one), when a handler or a resumable
/// took its implementation and when either was built: 8x the versions took ~66x the time
/// (debug build: 5 ms and 339 ms). Each is a hash lookup now: 8x the versions take about 8x
/// the (CPU) time (4 ms and 32 ms). The bound (24x) leaves room for noise while a quadratic
/// build (64x) fails it.
#[test]
fn building_takes_time_linear_in_the_versions() {
    // The orchestrator contracts are built first: each version's init schema is compiled
    // anew (linear, and in a debug build slow enough to hide what is measured here).
    let (small, big) = (flow(500), flow(4_000));
    let ratio = common_timing::time_ratio(
        "a contract, its handler and a resumable of 500 and 4,000 versions",
        3,
        || {
            std::hint::black_box(handler(&contract(500)));
            std::hint::black_box(resumable(&small));
        },
        || {
            std::hint::black_box(handler(&contract(4_000)));
            std::hint::black_box(resumable(&big));
        },
    );
    assert!(
        ratio < 24.0,
        "8x the versions took {ratio:.1}x the time to build"
    );
}

#[tokio::test]
async fn a_handler_of_thousands_of_versions_routes_by_dataschema() {
    let contract = contract(4_000);
    let h = handler(&contract);
    for v in ["1.0.0", "2345.0.0", "4000.0.0"] {
        let input = arvo_runtime::factory::ArvoEventFactory::new(contract.version(v).unwrap())
            .accepts(arvo_runtime::factory::EventInput::new(
                "com.test.client",
                json!({}),
            ))
            .unwrap();
        let out = h.execute(&input, ParentContext::Event).await.unwrap();
        assert_eq!(out[0].data()["version"], v);
        assert_eq!(
            out[0].dataschema(),
            Some(format!("#/many/echo/{v}").as_str())
        );
    }
    // A version given again replaces the earlier one in place.
    let any = any();
    let c = ArvoContract::simple("#/many/twice", "many.twice")
        .version("1.0.0", any.clone(), any.clone())
        .version("2.0.0", any.clone(), any.clone())
        .version("1.0.0", any.clone(), any)
        .build()
        .unwrap();
    let listed: Vec<String> = c.versions().map(|v| v.to_string()).collect();
    assert_eq!(listed, ["1.0.0", "2.0.0"]);
}
