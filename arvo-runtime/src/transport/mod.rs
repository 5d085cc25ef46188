//! Transports: how events travel between processes.
//!
//! The in-process [`EventBroker`](crate::broker::EventBroker) routes events inside one process.
//! A transport carries the same events, as the reference's JSON, over a real broker so handlers
//! and workflows can run in any number of worker processes:
//! - `nats` (cargo feature `nats`): NATS JetStream; the module `transport::nats` documents the subject
//!   mapping, the delivery guarantees and the worker runner.

#[cfg(feature = "nats")]
pub mod nats;
