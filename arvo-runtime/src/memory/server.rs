//! What the server memories (PostgreSQL, Redis) share: one attempt's failure sorted by whether
//! the operation may have taken effect, the loop that retries per the [`LockPolicy`], and how a
//! lease TTL becomes milliseconds and a local deadline.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::{LockPolicy, MemoryError, MemoryOp};

/// Why one attempt failed, and whether it may be retried.
pub(crate) enum Failure {
    /// Surely not run (no connection, connection refused, cancelled by the server): safe to
    /// retry.
    NotRun(MemoryError),
    /// Maybe run (connection lost, client timeout): retried only when the operation is
    /// idempotent.
    Unknown(MemoryError),
    /// A definite answer that retrying does not change.
    Final(MemoryError),
}

/// A client-side timeout of one attempt.
#[derive(Debug, thiserror::Error)]
#[error("no answer from {backend} within {timeout:?}")]
pub(crate) struct AttemptTimeout {
    /// The server's name as messages spell it (`PostgreSQL`, `Redis`).
    pub(crate) backend: &'static str,
    /// The bound that passed.
    pub(crate) timeout: Duration,
}

/// Runs `attempt` until it succeeds, retrying per `policy`: [`Failure::NotRun`] always,
/// [`Failure::Unknown`] only when `idempotent`; the last error once the retries are spent.
pub(crate) async fn with_retries<R, F, Fut>(
    policy: LockPolicy,
    backend: &'static str,
    op: MemoryOp,
    id: &str,
    idempotent: bool,
    mut attempt: F,
) -> Result<R, MemoryError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<R, Failure>>,
{
    let mut retry = 0;
    loop {
        let err = match attempt().await {
            Ok(value) => return Ok(value),
            Err(Failure::Final(e)) => return Err(e),
            Err(Failure::Unknown(e)) if !idempotent => return Err(e),
            Err(Failure::NotRun(e) | Failure::Unknown(e)) => e,
        };
        if retry >= policy.max_retries {
            tracing::error!(subject = id, %op, attempts = retry + 1, "{backend} memory gave up: {err}");
            return Err(err);
        }
        tracing::warn!(subject = id, %op, retry, "{backend} memory attempt failed, retrying: {err}");
        tokio::time::sleep(policy.delay(retry)).await;
        retry += 1;
    }
}

/// The longest TTL a server memory stores (~30 years, like the in-memory store).
const MAX_TTL_MS: u64 = 30 * 365 * 86_400_000;

/// `ttl` in whole milliseconds, at least 1 and at most ~30 years.
pub(crate) fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis())
        .unwrap_or(u64::MAX)
        .clamp(1, MAX_TTL_MS)
}

/// The holder's local estimate of a lease's expiry: `start + ttl`, saturating at ~30 years.
pub(crate) fn deadline_after(start: Instant, ttl: Duration) -> Instant {
    start
        .checked_add(ttl)
        .unwrap_or_else(|| start + Duration::from_millis(MAX_TTL_MS))
}
