//! Machine memory: where orchestrations and resumables keep their state between events.
//!
//! The reference's `IMachineMemory<T>` (read / write / lock / unlock, keyed by the event's
//! subject) becomes [`MachineMemory<T>`] here, with the weaknesses of the reference fixed in the
//! contract itself so every backend (in-memory, PostgreSQL, Redis, NATS KV, redb) behaves alike:
//!
//! - **Versioned records, compare-and-swap writes.** [`read`](MachineMemory::read) returns the
//!   record with an opaque [`Version`]; [`write`](MachineMemory::write) names the version it
//!   expects to replace (`None`: the record must not exist yet) and fails with
//!   [`MemoryError::Conflict`] when the stored version differs, leaving the record untouched.
//! - **Leases instead of flags.** [`lock`](MachineMemory::lock) returns a [`Lease`] with an owner
//!   [`LeaseToken`] and a time to live. Unlocking with a lease that is no longer the current one
//!   does nothing; an expired lease can be taken over by another caller; and a write or delete that
//!   carries a lease is *fenced*: it is refused with [`MemoryError::StaleLease`] unless that lease
//!   is still the subject's current, unexpired lease. A holder that stalled past its TTL can
//!   therefore never overwrite the work of the caller that took over.
//! - **Retries on contention** follow a [`LockPolicy`] (the @arvo-tools defaults: 3 retries,
//!   100 ms, x1.5 backoff, 120 s TTL).
//!
//! [`InMemoryMemory`] is the in-process implementation, safe under many concurrent tasks.
//! [`SyncEventResource`] wraps a memory in the order the orchestration wrapper uses it (lock,
//! read, write, unlock always) and turns failures into the reference's transaction causes and
//! messages.
//!
//! ```
//! use arvo_runtime::memory::{InMemoryMemory, MachineMemory, MemoryError};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let memory = InMemoryMemory::<u32>::new();
//! let lease = memory.lock("subject-1", memory.lock_policy().ttl).await?;
//! let current = memory.read("subject-1").await?; // None: a new workflow
//! let version = memory.write("subject-1", 1, current.map(|v| v.version), Some(&lease)).await?;
//! memory.unlock(&lease).await?;
//!
//! // A write that expects no record fails once one exists.
//! let err = memory.write("subject-1", 7, None, None).await.unwrap_err();
//! assert!(matches!(err, MemoryError::Conflict { .. }));
//! assert_eq!(memory.read("subject-1").await?.map(|v| (v.value, v.version)), Some((1, version)));
//! # Ok::<(), MemoryError>(())
//! # }).unwrap();
//! ```

#[cfg(feature = "conformance")]
pub mod conformance;
pub(crate) mod in_memory;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redb")]
mod redb;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(any(feature = "postgres", feature = "redis"))]
mod server;
mod sync;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::issue::quote_prefix;

pub use in_memory::InMemoryMemory;

/// Tells whether a record just written belongs to a finished workflow, which a memory then
/// removes instead of keeping (one type for every memory: [`InMemoryMemory::cleanup_when`],
/// the redb, PostgreSQL and Redis memories' `finished` settings).
pub type FinishedFn<T> = Arc<dyn Fn(&T) -> bool + Send + Sync>;
#[cfg(feature = "redb")]
pub use redb::{RedbMemory, RedbOpenError, RedbStore};
pub use sync::{LockStatus, ReleaseStatus, SyncEventResource, Transaction, TransactionError};

/// What a machine memory stores: any owned, cloneable, serde-serialisable value.
///
/// Blanket-implemented; it only names the bounds so every backend (in-memory values, JSON
/// columns, key-value bytes) can store the same record types.
pub trait MemoryRecord: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {}

impl<T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static> MemoryRecord for T {}

/// How many levels of arrays and objects a stored record's JSON may nest: `serde_json` reads
/// back no more (its recursion limit of 128 refuses the 128th), so a deeper record, once
/// written, could never be read again, and its workflow could never take another step.
pub const MAX_RECORD_DEPTH: usize = 127;

/// The JSON text a memory that stores JSON (redb, PostgreSQL, Redis, or one of your own)
/// writes for `record` during `op` on `id`: `serde_json`'s, checked to read back.
///
/// # Errors
/// [`MemoryError::Serialization`] when `record` does not serialise, or when its JSON nests
/// deeper than [`MAX_RECORD_DEPTH`] levels: refused before anything is written, so the stored
/// record stays as it was. ([`InMemoryMemory`] keeps values as they are and never serialises
/// them.)
///
/// ```
/// # use arvo_runtime::memory::{MemoryError, MemoryOp, record_json, MAX_RECORD_DEPTH};
/// let mut deep = serde_json::json!(1);
/// for _ in 0..MAX_RECORD_DEPTH {
///     deep = serde_json::json!([deep]);
/// }
/// assert!(record_json(MemoryOp::Write, "s", &deep).is_ok());
/// let deeper = serde_json::json!([deep]);
/// let err = record_json(MemoryOp::Write, "s", &deeper).unwrap_err();
/// assert!(matches!(err, MemoryError::Serialization { .. }));
/// assert!(err.to_string().contains("nests deeper than 127 levels"));
/// ```
pub fn record_json<T: Serialize + ?Sized>(
    op: MemoryOp,
    id: &str,
    record: &T,
) -> Result<String, MemoryError> {
    let json = serde_json::to_string(record).map_err(|e| MemoryError::serialization(op, id, e))?;
    // Read back with `serde_json` itself, the parser and limit of the memory's read, into
    // nothing (no value is built).
    if let Err(e) = serde_json::from_str::<Nested>(&json) {
        let why = format!(
            "its JSON nests deeper than {MAX_RECORD_DEPTH} levels of arrays and objects, which \
             could not be read back ({e})"
        );
        return Err(MemoryError::serialization(
            op,
            id,
            <serde_json::Error as serde::ser::Error>::custom(why),
        ));
    }
    Ok(json)
}

/// Any JSON value, read and dropped at once, whose arrays and objects are read through
/// `deserialize_any` at every level, as a record's own type reads them: so `serde_json`'s
/// recursion limit applies (its `IgnoredAny` skips nested values without it).
struct Nested;

impl<'de> serde::Deserialize<'de> for Nested {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Nested)
    }
}

impl<'de> serde::de::Visitor<'de> for Nested {
    type Value = Nested;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Nested, E> {
        Ok(Nested)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Nested, E> {
        Ok(Nested)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Nested, E> {
        Ok(Nested)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Nested, E> {
        Ok(Nested)
    }

    fn visit_str<E>(self, _: &str) -> Result<Nested, E> {
        Ok(Nested)
    }

    fn visit_unit<E>(self) -> Result<Nested, E> {
        Ok(Nested)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Nested, A::Error> {
        while seq.next_element::<Nested>()?.is_some() {}
        Ok(Nested)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Nested, A::Error> {
        while map.next_entry::<serde::de::IgnoredAny, Nested>()?.is_some() {}
        Ok(Nested)
    }
}

/// The opaque revision of a stored record, used for compare-and-swap writes.
///
/// A backend hands it out with every read and successful write; callers only pass it back.
/// Backends map it to their own counter (a PostgreSQL version column, a NATS KV revision, a
/// redb counter). Two versions of the same subject are equal only if nothing was written in
/// between; the in-memory store never reuses a version, even after a delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version(u64);

impl Version {
    /// Wraps a backend's raw revision number.
    ///
    /// ```
    /// # use arvo_runtime::memory::Version;
    /// assert_eq!(Version::from_raw(7).raw(), 7);
    /// ```
    pub const fn from_raw(raw: u64) -> Self {
        Self(raw)
    }

    /// The backend's raw revision number.
    pub const fn raw(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// A stored record together with its [`Version`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    /// The record.
    pub value: T,
    /// Its version; pass it as `expected` to the next [`MachineMemory::write`].
    pub version: Version,
}

/// The owner token of a [`Lease`]: unique per acquisition, so a former holder cannot act for
/// the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LeaseToken(u128);

impl LeaseToken {
    /// Wraps a backend's raw token.
    pub const fn from_raw(raw: u128) -> Self {
        Self(raw)
    }

    /// A random (UUID v4) token, unique across processes; what distributed backends use.
    ///
    /// ```
    /// # use arvo_runtime::memory::LeaseToken;
    /// assert_ne!(LeaseToken::random(), LeaseToken::random());
    /// ```
    pub fn random() -> Self {
        Self(uuid::Uuid::new_v4().as_u128())
    }

    /// The raw token.
    pub const fn raw(self) -> u128 {
        self.0
    }
}

impl fmt::Display for LeaseToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// An exclusive, expiring right to work on one subject, returned by [`MachineMemory::lock`].
///
/// Pass it to [`write`](MachineMemory::write) / [`delete`](MachineMemory::delete) (fencing),
/// [`renew`](MachineMemory::renew) and [`unlock`](MachineMemory::unlock). It is deliberately not
/// `Clone`: one acquisition, one holder.
#[derive(Debug, PartialEq, Eq)]
pub struct Lease {
    subject: String,
    token: LeaseToken,
    deadline: tokio::time::Instant,
}

impl Lease {
    /// Builds a lease; for backends. `deadline` is the holder's local estimate of the expiry:
    /// take the clock *before* sending the acquire request so the estimate errs early.
    ///
    /// ```
    /// # use arvo_runtime::memory::{Lease, LeaseToken};
    /// let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    /// let lease = Lease::new("subject-1", LeaseToken::random(), deadline);
    /// assert_eq!(lease.subject(), "subject-1");
    /// ```
    pub fn new(
        subject: impl Into<String>,
        token: LeaseToken,
        deadline: tokio::time::Instant,
    ) -> Self {
        Self {
            subject: subject.into(),
            token,
            deadline,
        }
    }

    /// The subject (machine id) the lease is for.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The owner token.
    pub fn token(&self) -> LeaseToken {
        self.token
    }

    /// When the lease expires (holder's local estimate, on tokio's clock).
    pub fn deadline(&self) -> tokio::time::Instant {
        self.deadline
    }

    /// Time left before expiry on tokio's clock (zero once expired). A holder should
    /// [`renew`](MachineMemory::renew) or stop before it reaches zero.
    pub fn remaining(&self) -> Duration {
        self.deadline
            .saturating_duration_since(tokio::time::Instant::now())
    }

    /// Sets the local deadline estimate; for backends implementing [`MachineMemory::renew`].
    pub fn set_deadline(&mut self, deadline: tokio::time::Instant) {
        self.deadline = deadline;
    }
}

/// How [`MachineMemory::lock`] waits for a busy subject, and how long leases live.
///
/// Defaults are those of @arvo-tools/concurrent and @arvo-tools/postgres: 3 retries, 100 ms
/// initial delay, x1.5 backoff, 120 s TTL. Retry `n` (0-based) waits
/// `initial_delay * backoff_exponent^n`, so the defaults wait 100, 150 and 225 ms.
///
/// Deliberate difference: the reference's loop makes only `lockMaxRetries` attempts in total
/// and sleeps once more after the last failed one; here `max_retries` counts retries after the
/// first attempt (4 attempts with the defaults), with the same three waits, the last of which is
/// followed by an attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LockPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Wait before the first retry.
    pub initial_delay: Duration,
    /// Factor applied to the wait before each further retry.
    pub backoff_exponent: f64,
    /// Time to live of acquired leases (used by [`SyncEventResource`]).
    pub ttl: Duration,
}

/// The reference's default lease TTL (120 s).
pub const DEFAULT_LOCK_TTL: Duration = Duration::from_secs(120);

impl Default for LockPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            initial_delay: Duration::from_millis(100),
            backoff_exponent: 1.5,
            ttl: DEFAULT_LOCK_TTL,
        }
    }
}

impl LockPolicy {
    /// The wait before retry `retry` (0-based): `initial_delay * backoff_exponent^retry`,
    /// saturating at one hour (a non-finite or negative factor counts as 1).
    ///
    /// ```
    /// # use arvo_runtime::memory::LockPolicy;
    /// # use std::time::Duration;
    /// let p = LockPolicy::default();
    /// assert_eq!(p.delay(0), Duration::from_millis(100));
    /// assert_eq!(p.delay(2), Duration::from_millis(225));
    /// ```
    pub fn delay(&self, retry: u32) -> Duration {
        let factor = if self.backoff_exponent.is_finite() && self.backoff_exponent >= 0.0 {
            self.backoff_exponent
                .powi(i32::try_from(retry).unwrap_or(i32::MAX))
        } else {
            1.0
        };
        let secs = self.initial_delay.as_secs_f64() * factor;
        Duration::try_from_secs_f64(secs)
            .unwrap_or(Duration::from_secs(3600))
            .min(Duration::from_secs(3600))
    }

    /// Runs `attempt` until it yields a lease, waiting per this policy (on tokio's clock)
    /// between attempts; [`MemoryError::LockUnacquired`] once all retries are spent. An error
    /// from `attempt` stops the loop at once. The default [`MachineMemory::lock`] is this loop
    /// over [`MachineMemory::try_lock`]; backends with their own waiting may reuse it.
    pub async fn acquire<F, Fut>(&self, id: &str, mut attempt: F) -> Result<Lease, MemoryError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<Lease>, MemoryError>>,
    {
        let mut retry = 0;
        loop {
            if let Some(lease) = attempt().await? {
                return Ok(lease);
            }
            if retry >= self.max_retries {
                return Err(MemoryError::LockUnacquired {
                    id: id.to_owned(),
                    attempts: retry.saturating_add(1),
                });
            }
            tokio::time::sleep(self.delay(retry)).await;
            retry += 1;
        }
    }
}

/// The memory operation an error happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemoryOp {
    /// [`MachineMemory::read`].
    Read,
    /// [`MachineMemory::write`].
    Write,
    /// [`MachineMemory::lock`] / [`MachineMemory::try_lock`].
    Lock,
    /// [`MachineMemory::unlock`].
    Unlock,
    /// [`MachineMemory::renew`].
    Renew,
    /// [`MachineMemory::delete`].
    Delete,
}

impl MemoryOp {
    /// The operation's name as the reference's messages spell it (`read`, `write`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Lock => "lock",
            Self::Unlock => "unlock",
            Self::Renew => "renew",
            Self::Delete => "delete",
        }
    }
}

impl fmt::Display for MemoryOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The reference's `TransactionViolationCause` values that memory failures map to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionCause {
    /// `READ_MACHINE_MEMORY_FAILURE`: the read failed.
    ReadFailure,
    /// `LOCK_MACHINE_MEMORY_FAILURE`: the lock operation itself failed.
    LockFailure,
    /// `WRITE_MACHINE_MEMORY_FAILURE`: the write failed (including conflicts and stale leases).
    WriteFailure,
    /// `LOCK_UNACQUIRED`: the lock is held by someone else.
    LockUnacquired,
    /// `INVALID_SUBJECT`: defined by the reference but never raised by it (an invalid subject
    /// is an `Execution` violation); kept so every reference value can be read.
    InvalidSubject,
}

impl TransactionCause {
    /// The cause string of the reference (`READ_MACHINE_MEMORY_FAILURE`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ReadFailure => "READ_MACHINE_MEMORY_FAILURE",
            Self::LockFailure => "LOCK_MACHINE_MEMORY_FAILURE",
            Self::WriteFailure => "WRITE_MACHINE_MEMORY_FAILURE",
            Self::LockUnacquired => "LOCK_UNACQUIRED",
            Self::InvalidSubject => "INVALID_SUBJECT",
        }
    }
}

impl fmt::Display for TransactionCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The underlying error of a [`MemoryError::Backend`] or [`MemoryError::Serialization`]: the
/// backend's own error (an I/O error, a redb or PostgreSQL error, a `serde_json::Error`...),
/// shared so [`MemoryError`] stays `Clone`.
///
/// It displays as the wrapped error and is what [`std::error::Error::source`] of the
/// [`MemoryError`] returns, so callers can [`downcast_ref`](Self::downcast_ref) it. Two values are
/// equal when they share the same error or display the same message (errors themselves have no
/// equality).
///
/// ```
/// # use arvo_runtime::memory::{BackendError, MemoryError, MemoryOp};
/// let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset");
/// let err = MemoryError::backend(MemoryOp::Read, "s", io);
/// assert_eq!(err.to_string(), "memory backend failed to read 's': connection reset");
/// let source = std::error::Error::source(&err).expect("the backend's error");
/// assert!(source.downcast_ref::<std::io::Error>().is_some());
/// ```
#[derive(Clone)]
pub struct BackendError(Arc<dyn std::error::Error + Send + Sync + 'static>);

impl BackendError {
    /// Wraps a backend's error.
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Arc::new(error))
    }

    /// Wraps an already boxed error.
    pub fn from_boxed(error: Box<dyn std::error::Error + Send + Sync + 'static>) -> Self {
        Self(Arc::from(error))
    }

    /// An error that is only a message (for backends whose failures carry no error value).
    pub fn message(message: impl Into<String>) -> Self {
        Self::from_boxed(message.into().into())
    }

    /// The wrapped error.
    pub fn get_ref(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }

    /// The wrapped error as `E`, if it is one.
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.0.downcast_ref::<E>()
    }
}

impl fmt::Debug for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl PartialEq for BackendError {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.to_string() == other.0.to_string()
    }
}

impl Eq for BackendError {}

/// Why a memory operation failed.
///
/// [`Backend`](Self::Backend) and [`Serialization`](Self::Serialization) keep the backend's
/// error: [`std::error::Error::source`] returns it (not a copy of its message).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemoryError {
    /// The machine id (subject) was empty; the message is the reference's.
    EmptyId {
        /// The operation called.
        op: MemoryOp,
    },
    /// Compare-and-swap failed: the stored version is not the expected one. Nothing was written.
    Conflict {
        /// The subject.
        id: String,
        /// The version the caller expected (`None`: no record).
        expected: Option<Version>,
        /// The version actually stored (`None`: no record).
        found: Option<Version>,
    },
    /// The lock stayed held by another owner through every retry.
    LockUnacquired {
        /// The subject.
        id: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The lease passed is no longer the subject's current, unexpired lease (it expired, was
    /// released, taken over, or is for another subject). Nothing was written.
    StaleLease {
        /// The operation refused (write, delete or renew).
        op: MemoryOp,
        /// The subject operated on.
        id: String,
        /// The stale lease's token.
        token: LeaseToken,
    },
    /// The backend failed (I/O, connection, timeout...); see [`MemoryError::backend`].
    Backend {
        /// The operation.
        op: MemoryOp,
        /// The subject.
        id: String,
        /// The backend's error.
        source: BackendError,
    },
    /// A record could not be serialised or deserialised by the backend; see
    /// [`MemoryError::serialization`].
    Serialization {
        /// The operation.
        op: MemoryOp,
        /// The subject.
        id: String,
        /// The serde error (a `serde_json::Error` for the JSON-storing backends).
        source: BackendError,
    },
}

/// Quotes the subject as a bounded prefix ([`quote_prefix`]).
impl fmt::Display for MemoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyId { op } => write!(f, "Machine ID is required for {op} operation"),
            Self::Conflict {
                id,
                expected,
                found,
            } => write!(
                f,
                "version conflict on '{}': expected {}, found {}",
                quote_prefix(id),
                fmt_version(expected),
                fmt_version(found)
            ),
            Self::LockUnacquired { id, attempts } => write!(
                f,
                "lock on '{}' is held by another owner (gave up after {attempts} attempts)",
                quote_prefix(id)
            ),
            Self::StaleLease { op, id, token } => write!(
                f,
                "{op} refused: lease {token} on '{}' is no longer held (expired, released or taken over)",
                quote_prefix(id)
            ),
            Self::Backend { op, id, source } => {
                write!(
                    f,
                    "memory backend failed to {op} '{}': {source}",
                    quote_prefix(id)
                )
            }
            Self::Serialization { op, id, source } => write!(
                f,
                "memory record '{}' could not be (de)serialised during {op}: {source}",
                quote_prefix(id)
            ),
        }
    }
}

impl std::error::Error for MemoryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Backend { source, .. } | Self::Serialization { source, .. } => {
                Some(source.get_ref())
            }
            _ => None,
        }
    }
}

fn fmt_version(v: &Option<Version>) -> String {
    v.map_or_else(|| "no record".to_owned(), |v| v.to_string())
}

impl MemoryError {
    /// A [`Backend`](Self::Backend) failure of `op` on subject `id`, keeping `error` as the source.
    pub fn backend(
        op: MemoryOp,
        id: impl Into<String>,
        error: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Backend {
            op,
            id: id.into(),
            source: BackendError::new(error),
        }
    }

    /// A [`Serialization`](Self::Serialization) failure of `op` on subject `id`, keeping the
    /// serde error as the source.
    ///
    /// ```
    /// # use arvo_runtime::memory::{MemoryError, MemoryOp};
    /// let json = serde_json::from_str::<u32>("x").unwrap_err();
    /// let err = MemoryError::serialization(MemoryOp::Read, "s", json);
    /// let source = std::error::Error::source(&err).expect("the serde error");
    /// assert!(source.downcast_ref::<serde_json::Error>().is_some());
    /// ```
    pub fn serialization(
        op: MemoryOp,
        id: impl Into<String>,
        error: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Serialization {
            op,
            id: id.into(),
            source: BackendError::new(error),
        }
    }

    /// The operation the error happened in.
    pub fn op(&self) -> MemoryOp {
        match self {
            Self::EmptyId { op }
            | Self::Backend { op, .. }
            | Self::Serialization { op, .. }
            | Self::StaleLease { op, .. } => *op,
            Self::Conflict { .. } => MemoryOp::Write,
            Self::LockUnacquired { .. } => MemoryOp::Lock,
        }
    }

    /// The reference's transaction violation cause for this error.
    ///
    /// Lock denial maps to `LOCK_UNACQUIRED`; other failures map by operation: read to
    /// `READ_MACHINE_MEMORY_FAILURE`; lock, unlock and renew to `LOCK_MACHINE_MEMORY_FAILURE`;
    /// write and delete (including conflicts and stale leases) to `WRITE_MACHINE_MEMORY_FAILURE`.
    ///
    /// ```
    /// # use arvo_runtime::memory::{MemoryError, TransactionCause};
    /// let e = MemoryError::LockUnacquired { id: "s".into(), attempts: 4 };
    /// assert_eq!(e.cause(), TransactionCause::LockUnacquired);
    /// assert_eq!(e.transaction_cause(), "LOCK_UNACQUIRED");
    /// ```
    pub fn cause(&self) -> TransactionCause {
        if let Self::LockUnacquired { .. } = self {
            return TransactionCause::LockUnacquired;
        }
        match self.op() {
            MemoryOp::Read => TransactionCause::ReadFailure,
            MemoryOp::Lock | MemoryOp::Unlock | MemoryOp::Renew => TransactionCause::LockFailure,
            MemoryOp::Write | MemoryOp::Delete => TransactionCause::WriteFailure,
        }
    }

    /// Whether the same operation, unchanged, may succeed later: true for a lock held by
    /// another owner, a lost race ([`Conflict`](Self::Conflict), [`StaleLease`](Self::StaleLease))
    /// and a [`Backend`](Self::Backend) failure (connection lost, timeout, server restarting);
    /// false for an [`EmptyId`](Self::EmptyId) and a [`Serialization`](Self::Serialization)
    /// failure (a record too deep to store, or a stored record this code cannot read), which
    /// fail the same way every time.
    ///
    /// ```
    /// # use arvo_runtime::memory::{MemoryError, MemoryOp};
    /// assert!(MemoryError::LockUnacquired { id: "s".into(), attempts: 4 }.is_transient());
    /// let json = serde_json::from_str::<u32>("x").unwrap_err();
    /// assert!(!MemoryError::serialization(MemoryOp::Read, "s", json).is_transient());
    /// ```
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Conflict { .. }
            | Self::LockUnacquired { .. }
            | Self::StaleLease { .. }
            | Self::Backend { .. } => true,
            Self::EmptyId { .. } | Self::Serialization { .. } => false,
        }
    }

    /// [`cause`](Self::cause) as the reference's cause string.
    pub fn transaction_cause(&self) -> &'static str {
        self.cause().as_str()
    }
}

/// The storage and locking contract of orchestrators and resumables, keyed by subject.
///
/// Methods return `impl Future + Send`, so implementations may write `async fn`. Contract (all
/// backends):
/// - **read-your-writes** per subject; a `write` is atomic per record.
/// - `write(id, record, expected, lease)`: compare-and-swap on [`Version`]; `expected = None`
///   means the record must not exist. On mismatch: [`MemoryError::Conflict`], nothing written.
///   When `lease` is `Some`, the write is fenced: refused with [`MemoryError::StaleLease`] unless
///   it is the subject's current unexpired lease. Fail fast, no retries (the reference's rule).
/// - `try_lock` makes one attempt; `lock` retries per [`lock_policy`](Self::lock_policy) and
///   ends with [`MemoryError::LockUnacquired`]. A lease whose TTL has passed no longer blocks
///   anyone and can be taken over.
/// - `unlock` by a caller that is not the holder does nothing and returns `Ok(false)`.
/// - No in-process assumptions: a lease is identified by subject + [`LeaseToken`] only, so a
///   backend can check it server-side.
///
/// ```
/// use arvo_runtime::memory::{InMemoryMemory, MachineMemory, MemoryError, MemoryRecord};
///
/// /// Works with any backend: increments a counter record under the subject's lock.
/// async fn increment<M: MachineMemory<u64>>(memory: &M, id: &str) -> Result<u64, MemoryError> {
///     let lease = memory.lock(id, memory.lock_policy().ttl).await?;
///     let result = async {
///         let current = memory.read(id).await?;
///         let (next, expected) = match current {
///             Some(v) => (v.value + 1, Some(v.version)),
///             None => (1, None),
///         };
///         memory.write(id, next, expected, Some(&lease)).await?;
///         Ok(next)
///     }
///     .await;
///     memory.unlock(&lease).await?; // always release
///     result
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let memory = InMemoryMemory::new();
/// assert_eq!(increment(&memory, "s").await?, 1);
/// assert_eq!(increment(&memory, "s").await?, 2);
/// # Ok::<(), MemoryError>(())
/// # }).unwrap();
/// ```
pub trait MachineMemory<T: MemoryRecord>: Send + Sync {
    /// The record of `id` with its version, or `None` when there is none yet (a new workflow).
    fn read(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<Versioned<T>>, MemoryError>> + Send;

    /// Stores `record` for `id` if the stored version is `expected` (`None`: no record), fenced
    /// by `lease` when given. Returns the new version. A memory that stores JSON text refuses a
    /// record it could not read back ([`record_json`]), leaving the stored one as it was.
    fn write(
        &self,
        id: &str,
        record: T,
        expected: Option<Version>,
        lease: Option<&Lease>,
    ) -> impl Future<Output = Result<Version, MemoryError>> + Send;

    /// Removes the record of `id` (fenced by `lease` when given); `Ok(true)` if one existed.
    /// Used for cleanup of finished workflows and administrative resets.
    fn delete(
        &self,
        id: &str,
        lease: Option<&Lease>,
    ) -> impl Future<Output = Result<bool, MemoryError>> + Send;

    /// One attempt to take the lease of `id` for `ttl`: `Ok(None)` when another owner holds an
    /// unexpired lease. An expired lease is taken over.
    fn try_lock(
        &self,
        id: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<Option<Lease>, MemoryError>> + Send;

    /// Releases `lease` if it is still the current one (`Ok(true)`); otherwise does nothing
    /// (`Ok(false)`): a former holder cannot release the lease of the caller that took over.
    fn unlock(&self, lease: &Lease) -> impl Future<Output = Result<bool, MemoryError>> + Send;

    /// Extends the current, unexpired `lease` to `ttl` from now; [`MemoryError::StaleLease`]
    /// when it is no longer held.
    fn renew(
        &self,
        lease: &mut Lease,
        ttl: Duration,
    ) -> impl Future<Output = Result<(), MemoryError>> + Send;

    /// Retry policy of [`lock`](Self::lock) and default lease TTL; defaults to
    /// [`LockPolicy::default`].
    fn lock_policy(&self) -> LockPolicy {
        LockPolicy::default()
    }

    /// Takes the lease of `id` for `ttl`, retrying with backoff per
    /// [`lock_policy`](Self::lock_policy); [`MemoryError::LockUnacquired`] when it stays held.
    fn lock(
        &self,
        id: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<Lease, MemoryError>> + Send {
        async move {
            let policy = self.lock_policy();
            policy.acquire(id, || self.try_lock(id, ttl)).await
        }
    }
}

macro_rules! forward_memory {
    ($($ty:ty),*) => {$(
        impl<T: MemoryRecord, M: MachineMemory<T>> MachineMemory<T> for $ty {
            fn read(&self, id: &str) -> impl Future<Output = Result<Option<Versioned<T>>, MemoryError>> + Send {
                (**self).read(id)
            }
            fn write(
                &self,
                id: &str,
                record: T,
                expected: Option<Version>,
                lease: Option<&Lease>,
            ) -> impl Future<Output = Result<Version, MemoryError>> + Send {
                (**self).write(id, record, expected, lease)
            }
            fn delete(&self, id: &str, lease: Option<&Lease>) -> impl Future<Output = Result<bool, MemoryError>> + Send {
                (**self).delete(id, lease)
            }
            fn try_lock(
                &self,
                id: &str,
                ttl: Duration,
            ) -> impl Future<Output = Result<Option<Lease>, MemoryError>> + Send {
                (**self).try_lock(id, ttl)
            }
            fn unlock(&self, lease: &Lease) -> impl Future<Output = Result<bool, MemoryError>> + Send {
                (**self).unlock(lease)
            }
            fn renew(&self, lease: &mut Lease, ttl: Duration) -> impl Future<Output = Result<(), MemoryError>> + Send {
                (**self).renew(lease, ttl)
            }
            fn lock_policy(&self) -> LockPolicy {
                (**self).lock_policy()
            }
            fn lock(&self, id: &str, ttl: Duration) -> impl Future<Output = Result<Lease, MemoryError>> + Send {
                (**self).lock(id, ttl)
            }
        }
    )*};
}

forward_memory!(&M, Arc<M>, Box<M>);
