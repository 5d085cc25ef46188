//! Runnable examples of Arvo for Rust.
//!
//! * [`order`]: the order workflow of the main demo (`cargo demo`): a resumable orchestrator,
//!   three services, a child workflow and a human approval step, on the in-process broker.
//!   Its contracts live in the `arvo-example-contracts` crate.
//! * The binaries in `src/bin/`: `demo` (the order workflow, event by event),
//!   `single_handler` (one typed handler, no broker), `telemetry` (the workflow traced with
//!   OpenTelemetry, spans on stdout), `cross_crate` (a contract declared in another crate),
//!   `order-worker` and `order-client` (the order workflow across processes over NATS
//!   JetStream + PostgreSQL, see [`order::client_order`] and the README).
//! * The tests in `tests/` run the same code with the scenario DSL
//!   ([`arvo_runtime::testing::Scenario`]).

pub mod order;

/// The README's code blocks, compiled and run as doctests (`cargo test -p arvo-examples --doc`).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
