//! [`SyncEventResource`]: the memory as the orchestration wrapper uses it (the reference's
//! `SyncEventResource`, §8.5 of the spec): lock (or skip locking), read, write with the
//! previous version, unlock always, with failures turned into the reference's transaction
//! causes and messages.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::time::Duration;

use super::{
    Lease, MachineMemory, MemoryError, MemoryRecord, TransactionCause, Version, Versioned,
};

/// The reference's message when the lock is held by someone else (`LOCK_UNACQUIRED`).
pub(crate) const LOCK_DENIED_MESSAGE: &str =
    "Lock acquisition denied - Unable to obtain exclusive access to event processing";

/// A memory failure as the orchestration wrapper reports it: the reference's cause and message.
///
/// Displays as `[CAUSE] message`, the text of the reference's `TransactionViolation` after its
/// `ViolationError<OrchestratorTransaction> ` prefix, which the violation type adds.
///
/// ```
/// # use arvo_runtime::memory::{MemoryError, TransactionCause, TransactionError};
/// let e = TransactionError::lock_unacquired(MemoryError::LockUnacquired { id: "s".into(), attempts: 4 });
/// assert_eq!(e.cause, TransactionCause::LockUnacquired);
/// assert_eq!(
///     e.to_string(),
///     "[LOCK_UNACQUIRED] Lock acquisition denied - Unable to obtain exclusive access to event processing"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[{cause}] {message}")]
pub struct TransactionError {
    /// The reference's cause.
    pub cause: TransactionCause,
    /// The reference's message, without the cause.
    pub message: String,
    /// The memory error behind it.
    #[source]
    pub source: MemoryError,
}

impl TransactionError {
    /// `LOCK_UNACQUIRED`: `Lock acquisition denied - Unable to obtain exclusive access to event processing`.
    #[cold]
    pub fn lock_unacquired(source: MemoryError) -> Self {
        Self {
            cause: TransactionCause::LockUnacquired,
            message: LOCK_DENIED_MESSAGE.to_owned(),
            source,
        }
    }

    /// `LOCK_MACHINE_MEMORY_FAILURE`: `Error acquiring lock for event (subject=…): …`.
    #[cold]
    pub fn lock_failure(subject: &str, source: MemoryError) -> Self {
        let message = format!(
            "Error acquiring lock for event (subject={}): {source}",
            crate::issue::quote_prefix(subject)
        );
        Self {
            cause: TransactionCause::LockFailure,
            message,
            source,
        }
    }

    /// `READ_MACHINE_MEMORY_FAILURE`: `Error reading state for event (subject=…): …`.
    #[cold]
    pub fn read_failure(subject: &str, source: MemoryError) -> Self {
        let message = format!(
            "Error reading state for event (subject={}): {source}",
            crate::issue::quote_prefix(subject)
        );
        Self {
            cause: TransactionCause::ReadFailure,
            message,
            source,
        }
    }

    /// `WRITE_MACHINE_MEMORY_FAILURE`: `Error writing state for event (subject=…): …`.
    #[cold]
    pub fn write_failure(subject: &str, source: MemoryError) -> Self {
        let message = format!(
            "Error writing state for event (subject={}): {source}",
            crate::issue::quote_prefix(subject)
        );
        Self {
            cause: TransactionCause::WriteFailure,
            message,
            source,
        }
    }
}

/// Outcome of [`SyncEventResource::acquire_lock`] (the reference's `'ACQUIRED' | 'NOOP'`; its
/// `'NOT_ACQUIRED'` is the `LOCK_UNACQUIRED` error here).
#[derive(Debug, PartialEq, Eq)]
pub enum LockStatus {
    /// The lease was taken; writes are fenced by it.
    Acquired(Lease),
    /// Locking is not required for this handler; nothing was locked.
    Noop,
}

impl LockStatus {
    /// The lease, when one was acquired.
    pub fn lease(&self) -> Option<&Lease> {
        match self {
            Self::Acquired(lease) => Some(lease),
            Self::Noop => None,
        }
    }
}

/// Outcome of [`SyncEventResource::release_lock`] (the reference's `'RELEASED' | 'NOOP' | 'ERROR'`,
/// plus `NotHeld`). Never an error: release is tolerant, the lease's TTL is the safety net.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseStatus {
    /// The lease was released.
    Released,
    /// The lease was no longer held (it expired and maybe was taken over); nothing was done.
    NotHeld,
    /// Nothing was locked.
    Noop,
    /// The unlock failed (logged at ERROR); the lease expires after its TTL.
    Error(MemoryError),
}

/// A memory wrapped for the orchestration wrapper (spec §6.2, §8.5).
///
/// Either call the steps yourself in the reference's order, [`acquire_lock`](Self::acquire_lock),
/// [`acquire_state`](Self::acquire_state), [`persist_state`](Self::persist_state),
/// [`release_lock`](Self::release_lock) (always), or use [`begin`](Self::begin) /
/// [`Transaction`], or [`run`](Self::run), which releases the lock on every path.
///
/// ```
/// use arvo_runtime::memory::{InMemoryMemory, SyncEventResource, TransactionError};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let resource = SyncEventResource::new(InMemoryMemory::<u32>::new(), true);
/// // Lock, read, step, write with the previous version, unlock always.
/// let out = resource
///     .run("subject-1", |state| async move {
///         let next = state.unwrap_or(0) + 1;
///         Ok::<_, TransactionError>((Some(next), next))
///     })
///     .await?;
/// assert_eq!(out, 1);
/// # Ok::<(), TransactionError>(())
/// # }).unwrap();
/// ```
pub struct SyncEventResource<M, T> {
    memory: M,
    requires_locking: bool,
    lock_ttl: Option<Duration>,
    _record: PhantomData<fn() -> T>,
}

impl<M: fmt::Debug, T> fmt::Debug for SyncEventResource<M, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncEventResource")
            .field("memory", &self.memory)
            .field("requires_locking", &self.requires_locking)
            .field("lock_ttl", &self.lock_ttl)
            .finish()
    }
}

impl<M: MachineMemory<T>, T: MemoryRecord> SyncEventResource<M, T> {
    /// Wraps `memory`; `requires_locking` is the handler's `requiresResourceLocking`.
    pub fn new(memory: M, requires_locking: bool) -> Self {
        Self {
            memory,
            requires_locking,
            lock_ttl: None,
            _record: PhantomData,
        }
    }

    /// Leases are taken for `ttl` instead of the memory's [`lock_policy`](MachineMemory::lock_policy) TTL.
    pub fn with_lock_ttl(mut self, ttl: Duration) -> Self {
        self.lock_ttl = Some(ttl);
        self
    }

    /// The wrapped memory.
    pub fn memory(&self) -> &M {
        &self.memory
    }

    /// Whether locks are taken.
    pub fn requires_locking(&self) -> bool {
        self.requires_locking
    }

    /// The TTL of the leases taken.
    pub fn lock_ttl(&self) -> Duration {
        self.lock_ttl
            .unwrap_or_else(|| self.memory.lock_policy().ttl)
    }

    /// Takes the subject's lease (with the memory's retries), or [`LockStatus::Noop`] when
    /// locking is not required. Errors: `LOCK_UNACQUIRED` when it stays held, else
    /// `LOCK_MACHINE_MEMORY_FAILURE`.
    pub async fn acquire_lock(&self, subject: &str) -> Result<LockStatus, TransactionError> {
        if !self.requires_locking {
            tracing::info!(
                subject,
                "Skipping acquiring lock for event (subject={subject}) as the resource does not required locking."
            );
            return Ok(LockStatus::Noop);
        }
        // Boxed: the memory's lock future (retries, sleeps) stays out of every execution's
        // future, including those that never lock.
        let lock: Pin<Box<dyn Future<Output = Result<Lease, MemoryError>> + Send + '_>> =
            Box::pin(self.memory.lock(subject, self.lock_ttl()));
        match lock.await {
            Ok(lease) => {
                tracing::info!(
                    subject,
                    "This execution acquired lock at resource '{subject}'"
                );
                Ok(LockStatus::Acquired(lease))
            }
            Err(e @ MemoryError::LockUnacquired { .. }) => {
                Err(TransactionError::lock_unacquired(e))
            }
            Err(e) => Err(TransactionError::lock_failure(subject, e)),
        }
    }

    /// Reads the subject's record (`READ_MACHINE_MEMORY_FAILURE` on error).
    pub async fn acquire_state(
        &self,
        subject: &str,
    ) -> Result<Option<Versioned<T>>, TransactionError> {
        self.memory
            .read(subject)
            .await
            .map_err(|e| TransactionError::read_failure(subject, e))
    }

    /// Writes `record` over the version read (`expected`), fenced by the lease when one was
    /// taken (`WRITE_MACHINE_MEMORY_FAILURE` on error, including conflicts and stale leases).
    pub async fn persist_state(
        &self,
        subject: &str,
        record: T,
        expected: Option<Version>,
        lock: &LockStatus,
    ) -> Result<Version, TransactionError> {
        self.memory
            .write(subject, record, expected, lock.lease())
            .await
            .map_err(|e| TransactionError::write_failure(subject, e))
    }

    /// Releases the lease if one was taken. Never fails: an unlock error is logged at ERROR
    /// (`Memory unlock operation failed - Possible resource leak: …`) and returned as
    /// [`ReleaseStatus::Error`].
    ///
    /// Without a lease the returned future is ready at once and holds nothing; the unlock of a
    /// lease runs in a boxed future of its own.
    pub fn release_lock(
        &self,
        lock: LockStatus,
    ) -> impl Future<Output = ReleaseStatus> + Send + '_ {
        let unlock = match lock {
            LockStatus::Noop => None,
            LockStatus::Acquired(lease) => Some(Box::pin(self.unlock(lease))),
        };
        async move {
            match unlock {
                Some(unlock) => unlock.await,
                None => ReleaseStatus::Noop,
            }
        }
    }

    async fn unlock(&self, lease: Lease) -> ReleaseStatus {
        match self.memory.unlock(&lease).await {
            Ok(true) => ReleaseStatus::Released,
            Ok(false) => {
                tracing::warn!(
                    subject = lease.subject(),
                    "Lock on '{}' was no longer held at release (expired or taken over)",
                    lease.subject()
                );
                ReleaseStatus::NotHeld
            }
            Err(e) => {
                tracing::error!(
                    subject = lease.subject(),
                    "Memory unlock operation failed - Possible resource leak: {e}"
                );
                ReleaseStatus::Error(e)
            }
        }
    }

    /// Locks (unless not required) and reads: the start of an execution. If the read fails the
    /// lock is released before the error is returned.
    ///
    /// ```
    /// use arvo_runtime::memory::{InMemoryMemory, ReleaseStatus, SyncEventResource, TransactionError};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let resource = SyncEventResource::new(InMemoryMemory::<Vec<String>>::new(), true);
    /// let mut tx = resource.begin("subject-1").await?;
    /// let mut log = tx.take_state().unwrap_or_default();
    /// log.push("init".to_owned());
    /// let result = tx.persist(log).await; // CAS over the version read, fenced by the lease
    /// assert_eq!(tx.release().await, ReleaseStatus::Released); // always, also after an error
    /// result?;
    /// # Ok::<(), TransactionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn begin<'r>(
        &'r self,
        subject: &'r str,
    ) -> Result<Transaction<'r, M, T>, TransactionError> {
        let (mut tx, state) = self.open(subject).await?;
        tx.state = state.map(Box::new);
        Ok(tx)
    }

    /// [`begin`](Self::begin) with the record handed out beside the transaction instead of in
    /// it (the orchestration wrapper takes it at once anyway): the transaction, which the
    /// wrapper holds across its awaits, stays a few words.
    pub(crate) async fn open<'r>(
        &'r self,
        subject: &'r str,
    ) -> Result<(Transaction<'r, M, T>, Option<T>), TransactionError> {
        let lock = self.acquire_lock(subject).await?;
        // The memory's read future holds the record it read (an in-memory one holds it from
        // the start): boxed, so the futures holding this one stay small. Its result is
        // consumed in this statement, so it is not kept beside the release below either.
        let read: Pin<Box<dyn Future<Output = Result<_, TransactionError>> + Send + '_>> =
            Box::pin(self.acquire_state(subject));
        let error = match read.await {
            Ok(state) => {
                let (state, version) = match state {
                    Some(v) => (Some(v.value), Some(v.version)),
                    None => (None, None),
                };
                let tx = Transaction {
                    resource: self,
                    subject,
                    lock: Some(lock),
                    state: None,
                    version,
                };
                return Ok((tx, state));
            }
            Err(e) => e,
        };
        self.release_lock(lock).await;
        Err(error)
    }

    /// One execution in the reference's order: lock, read, `step(state)`, write the record it
    /// returns (if any) over the version read, unlock always (also when the step or the write
    /// fails). `step` returns `(record_to_write, output)`; `output` is returned only after the
    /// write succeeded, as the reference returns events only once they are persisted.
    pub async fn run<R, E, F, Fut>(&self, subject: &str, step: F) -> Result<R, E>
    where
        F: FnOnce(Option<T>) -> Fut,
        Fut: Future<Output = Result<(Option<T>, R), E>>,
        E: From<TransactionError>,
    {
        let mut tx = self.begin(subject).await?;
        let state = tx.take_state();
        let result = match step(state).await {
            Ok((Some(record), output)) => tx.persist(record).await.map(|_| output).map_err(E::from),
            Ok((None, output)) => Ok(output),
            Err(e) => Err(e),
        };
        tx.release().await;
        result
    }
}

/// One execution's hold on a subject, from [`SyncEventResource::begin`]: the state read, its
/// version and the lease. Call [`release`](Self::release) on every path; a transaction dropped
/// unreleased logs a warning and leaves its lease to expire after the TTL.
pub struct Transaction<'r, M: MachineMemory<T>, T: MemoryRecord> {
    resource: &'r SyncEventResource<M, T>,
    subject: &'r str,
    lock: Option<LockStatus>,
    /// Boxed: a transaction is held across awaits, and a record can be large.
    state: Option<Box<T>>,
    version: Option<Version>,
}

impl<M: MachineMemory<T>, T: MemoryRecord + fmt::Debug> fmt::Debug for Transaction<'_, M, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction")
            .field("subject", &self.subject)
            .field("lock", &self.lock)
            .field("state", &self.state)
            .field("version", &self.version)
            .finish()
    }
}

impl<'r, M: MachineMemory<T>, T: MemoryRecord> Transaction<'r, M, T> {
    /// The subject.
    pub fn subject(&self) -> &str {
        self.subject
    }

    /// The record read at the start (`None`: a new workflow), unless taken.
    pub fn state(&self) -> Option<&T> {
        self.state.as_deref()
    }

    /// Takes the record read, without cloning it (the version is kept for the write).
    pub fn take_state(&mut self) -> Option<T> {
        self.state.take().map(|b| *b)
    }

    /// The version the next [`persist`](Self::persist) expects (`None`: no record yet).
    pub fn version(&self) -> Option<Version> {
        self.version
    }

    /// The lease, when one was taken.
    pub fn lease(&self) -> Option<&Lease> {
        self.lock.as_ref().and_then(LockStatus::lease)
    }

    /// Writes `record` over the current version, fenced by the lease; later persists in the same
    /// transaction (a failure record after a failed step) expect the version written.
    ///
    /// The memory's [`write`](MachineMemory::write) is called here and the returned future
    /// awaits it, so the record is moved once, into the memory's future, not kept beside it.
    /// Whatever that call does at once happens here ([`InMemoryMemory`](super::InMemoryMemory)
    /// writes at once); the rest when the future is polled.
    pub fn persist(
        &mut self,
        record: T,
    ) -> impl Future<Output = Result<Version, TransactionError>> + Send + '_ {
        let Self {
            resource,
            subject,
            lock,
            version,
            ..
        } = self;
        let (resource, subject) = (*resource, *subject);
        let lease = lock.as_ref().and_then(LockStatus::lease);
        let write = resource.memory.write(subject, record, *version, lease);
        async move {
            let written = write
                .await
                .map_err(|e| TransactionError::write_failure(subject, e))?;
            *version = Some(written);
            Ok(written)
        }
    }

    /// Releases the lease (if one was taken); see [`SyncEventResource::release_lock`]. Nothing
    /// happens until the future is polled: dropped unpolled, it drops the transaction (which
    /// warns and leaves the lease to its TTL).
    // Not an `async fn`: its `mut self` parameter would be copied into the future a second time.
    #[allow(clippy::manual_async_fn)]
    pub fn release(mut self) -> impl Future<Output = ReleaseStatus> + Send + 'r {
        async move {
            match self.lock.take() {
                Some(lock) => self.resource.release_lock(lock).await,
                None => ReleaseStatus::Noop,
            }
        }
    }
}

impl<M: MachineMemory<T>, T: MemoryRecord> Drop for Transaction<'_, M, T> {
    fn drop(&mut self) {
        if let Some(LockStatus::Acquired(lease)) = &self.lock {
            tracing::warn!(
                subject = self.subject,
                "Transaction on '{}' dropped without release; its lease expires in {:?}",
                self.subject,
                lease.remaining()
            );
        }
    }
}
