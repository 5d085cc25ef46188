//! The `MachineMemory` conformance suite (`arvo_runtime::memory::conformance`) run against every
//! memory built into this crate.

mod common_tempdir;

use std::time::Duration;

use arvo_runtime::memory::conformance;
use arvo_runtime::memory::{
    InMemoryMemory, Lease, MachineMemory, MemoryError, RedbStore, Version, Versioned,
};
use common_tempdir::TempDir;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_memory_memory_conforms() {
    conformance::run_all("in-memory", |_namespace| async { InMemoryMemory::new() }).await;
}

/// Every case in its own table of one file.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redb_memory_conforms() {
    let dir = TempDir::new("redb-conformance");
    let store = RedbStore::open(dir.file()).expect("open the store");
    conformance::run_all("redb", |namespace| {
        let memory = store.memory(&namespace).expect("open a memory");
        async move { memory }
    })
    .await;
}

/// Every case in a file of its own, on a current-thread runtime (the blocking pool still
/// serves the commits).
#[tokio::test]
async fn redb_memory_conforms_on_a_current_thread_runtime() {
    let dir = TempDir::new("redb-conformance-ct");
    let dir = &dir;
    conformance::run_all("redb", |namespace| async move {
        let store = RedbStore::open(dir.path().join(format!("{namespace}.redb"))).expect("open");
        store.memory(&namespace).expect("open a memory")
    })
    .await;
}

/// A memory that ignores fencing (writes drop their lease): the suite must reject it.
struct Unfenced(InMemoryMemory<conformance::Probe>);

impl MachineMemory<conformance::Probe> for Unfenced {
    async fn read(&self, id: &str) -> Result<Option<Versioned<conformance::Probe>>, MemoryError> {
        self.0.read(id).await
    }
    async fn write(
        &self,
        id: &str,
        record: conformance::Probe,
        expected: Option<Version>,
        _lease: Option<&Lease>,
    ) -> Result<Version, MemoryError> {
        self.0.write(id, record, expected, None).await
    }
    async fn delete(&self, id: &str, lease: Option<&Lease>) -> Result<bool, MemoryError> {
        self.0.delete(id, lease).await
    }
    async fn try_lock(&self, id: &str, ttl: Duration) -> Result<Option<Lease>, MemoryError> {
        self.0.try_lock(id, ttl).await
    }
    async fn unlock(&self, lease: &Lease) -> Result<bool, MemoryError> {
        self.0.unlock(lease).await
    }
    async fn renew(&self, lease: &mut Lease, ttl: Duration) -> Result<(), MemoryError> {
        self.0.renew(lease, ttl).await
    }
}

#[tokio::test]
#[should_panic(expected = "succeeded")]
async fn a_memory_that_ignores_fencing_fails_the_suite() {
    conformance::a_non_holders_unlock_is_ignored(&Unfenced(InMemoryMemory::new())).await;
}
