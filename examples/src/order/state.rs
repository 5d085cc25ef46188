//! Where the order workflows keep their state: in the process ([`InMemoryMemory`]) or in a
//! redb file ([`RedbMemory`], the default of `cargo demo`), chosen at run time.

use std::time::Duration;

use arvo_runtime::memory::{
    InMemoryMemory, Lease, LockPolicy, MachineMemory, MemoryError, MemoryRecord, RedbMemory,
    Version, Versioned,
};

/// A page of stored records: `(subject, record)` in subject order.
pub type Page<T> = Vec<(String, Versioned<T>)>;

/// A workflow memory chosen at run time: one of the two memories this example can use.
pub enum WorkflowMemory<T> {
    /// State in the process; gone when it exits.
    InMemory(InMemoryMemory<T>),
    /// State in a redb file; survives restarts and crashes.
    Redb(RedbMemory<T>),
}

impl<T> Clone for WorkflowMemory<T> {
    fn clone(&self) -> Self {
        match self {
            Self::InMemory(m) => Self::InMemory(m.clone()),
            Self::Redb(m) => Self::Redb(m.clone()),
        }
    }
}

impl<T> std::fmt::Debug for WorkflowMemory<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InMemory(m) => m.fmt(f),
            Self::Redb(m) => m.fmt(f),
        }
    }
}

impl<T: MemoryRecord> Default for WorkflowMemory<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: MemoryRecord> WorkflowMemory<T> {
    /// An empty in-process memory.
    pub fn new() -> Self {
        Self::InMemory(InMemoryMemory::new())
    }

    /// Up to `limit` stored records in subject order after `after`, when the state is in a file;
    /// `None` for the in-process memory (whose state does not outlive the process anyway).
    ///
    /// # Errors
    /// When the file cannot be read or a record is not a `T`.
    pub fn list(&self, after: Option<&str>, limit: usize) -> Result<Option<Page<T>>, MemoryError> {
        match self {
            Self::InMemory(_) => Ok(None),
            Self::Redb(m) => m.list(after, limit).map(Some),
        }
    }
}

impl<T: MemoryRecord> MachineMemory<T> for WorkflowMemory<T> {
    async fn read(&self, id: &str) -> Result<Option<Versioned<T>>, MemoryError> {
        match self {
            Self::InMemory(m) => m.read(id).await,
            Self::Redb(m) => m.read(id).await,
        }
    }

    async fn write(
        &self,
        id: &str,
        record: T,
        expected: Option<Version>,
        lease: Option<&Lease>,
    ) -> Result<Version, MemoryError> {
        match self {
            Self::InMemory(m) => m.write(id, record, expected, lease).await,
            Self::Redb(m) => m.write(id, record, expected, lease).await,
        }
    }

    async fn delete(&self, id: &str, lease: Option<&Lease>) -> Result<bool, MemoryError> {
        match self {
            Self::InMemory(m) => m.delete(id, lease).await,
            Self::Redb(m) => m.delete(id, lease).await,
        }
    }

    async fn try_lock(&self, id: &str, ttl: Duration) -> Result<Option<Lease>, MemoryError> {
        match self {
            Self::InMemory(m) => m.try_lock(id, ttl).await,
            Self::Redb(m) => m.try_lock(id, ttl).await,
        }
    }

    async fn unlock(&self, lease: &Lease) -> Result<bool, MemoryError> {
        match self {
            Self::InMemory(m) => m.unlock(lease).await,
            Self::Redb(m) => m.unlock(lease).await,
        }
    }

    async fn renew(&self, lease: &mut Lease, ttl: Duration) -> Result<(), MemoryError> {
        match self {
            Self::InMemory(m) => m.renew(lease, ttl).await,
            Self::Redb(m) => m.renew(lease, ttl).await,
        }
    }

    fn lock_policy(&self) -> LockPolicy {
        match self {
            Self::InMemory(m) => m.lock_policy(),
            Self::Redb(m) => m.lock_policy(),
        }
    }
}
