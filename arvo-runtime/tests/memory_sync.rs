//! `SyncEventResource` (spec §8.5): lock or skip, read, write over the version read, unlock
//! always; failures carry the reference's causes and messages (spec §6.2). A scripted failing
//! backend (implemented outside the crate with plain `async fn`) covers the I/O-error paths.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use arvo_runtime::memory::{
    InMemoryMemory, Lease, LeaseToken, LockStatus, MachineMemory, MemoryError, MemoryOp,
    ReleaseStatus, SyncEventResource, TransactionCause, TransactionError, Version, Versioned,
};

#[tokio::test]
async fn no_locking_when_not_required() {
    let r = SyncEventResource::new(InMemoryMemory::<u32>::new(), false);
    let lock = r.acquire_lock("s").await.expect("noop");
    assert_eq!(lock, LockStatus::Noop);
    // A second "holder" is not blocked either.
    assert_eq!(r.acquire_lock("s").await.expect("noop"), LockStatus::Noop);
    let v = r.persist_state("s", 1, None, &lock).await.expect("write");
    assert_eq!(
        r.acquire_state("s").await.expect("read").map(|v| v.version),
        Some(v)
    );
    assert_eq!(r.release_lock(lock).await, ReleaseStatus::Noop);
}

#[tokio::test(start_paused = true)]
async fn a_held_subject_yields_lock_unacquired_with_the_reference_message() {
    let r = SyncEventResource::new(InMemoryMemory::<u32>::new(), true);
    assert_eq!(r.lock_ttl(), Duration::from_secs(120));
    let first = r.acquire_lock("s").await.expect("acquired");
    assert!(matches!(first, LockStatus::Acquired(_)));
    let err = r.acquire_lock("s").await.expect_err("held");
    assert_eq!(err.cause, TransactionCause::LockUnacquired);
    assert_eq!(
        err.to_string(),
        "[LOCK_UNACQUIRED] Lock acquisition denied - Unable to obtain exclusive access to event processing"
    );
    assert_eq!(r.release_lock(first).await, ReleaseStatus::Released);
    let again = r.acquire_lock("s").await.expect("free again");
    assert_eq!(r.release_lock(again).await, ReleaseStatus::Released);
}

#[tokio::test]
async fn run_locks_reads_writes_and_unlocks() {
    let r = SyncEventResource::new(InMemoryMemory::<u32>::new(), true);
    for expected in 1..=3 {
        let out = r
            .run("s", |state| async move {
                let next = state.unwrap_or(0) + 1;
                Ok::<_, TransactionError>((Some(next), next * 10))
            })
            .await
            .expect("step");
        assert_eq!(out, expected * 10);
    }
    assert_eq!(
        r.acquire_state("s").await.expect("read").map(|v| v.value),
        Some(3)
    );
    // The lock was released after each run.
    assert!(
        r.memory()
            .try_lock("s", Duration::from_secs(1))
            .await
            .expect("runs")
            .is_some()
    );
}

#[derive(Debug, PartialEq)]
enum StepError {
    Business,
    Transaction(TransactionError),
}

impl From<TransactionError> for StepError {
    fn from(e: TransactionError) -> Self {
        Self::Transaction(e)
    }
}

#[tokio::test]
async fn run_releases_the_lock_when_the_step_fails_and_writes_nothing() {
    let r = SyncEventResource::new(InMemoryMemory::<u32>::new(), true);
    let err = r
        .run("s", |_| async {
            Err::<(Option<u32>, ()), _>(StepError::Business)
        })
        .await
        .expect_err("step failed");
    assert_eq!(err, StepError::Business);
    assert!(r.acquire_state("s").await.expect("read").is_none());
    assert!(
        r.memory()
            .try_lock("s", Duration::from_secs(1))
            .await
            .expect("runs")
            .is_some()
    );
}

#[tokio::test]
async fn run_reports_a_concurrent_write_as_write_failure_and_still_unlocks() {
    // No locking: an outside writer slips in between read and write; CAS catches it.
    let memory = InMemoryMemory::<u32>::new();
    let r = SyncEventResource::new(memory.clone(), false);
    let v1 = memory.write("s", 1, None, None).await.expect("seed");
    let err = r
        .run("s", |state| {
            let memory = memory.clone();
            async move {
                let v2 = memory
                    .write("s", 100, Some(v1), None)
                    .await
                    .expect("outside write");
                assert_ne!(v1, v2);
                Ok::<_, StepError>((Some(state.unwrap_or(0) + 1), ()))
            }
        })
        .await
        .expect_err("conflict");
    let StepError::Transaction(err) = err else {
        panic!("not a transaction error: {err:?}")
    };
    assert_eq!(err.cause, TransactionCause::WriteFailure);
    let MemoryError::Conflict {
        found: Some(v2), ..
    } = err.source
    else {
        panic!("not a conflict: {:?}", err.source)
    };
    assert_eq!(
        err.to_string(),
        format!(
            "[WRITE_MACHINE_MEMORY_FAILURE] Error writing state for event (subject=s): \
             version conflict on 's': expected {v1}, found {v2}"
        )
    );
    assert_eq!(
        memory.read("s").await.expect("read").map(|v| v.value),
        Some(100)
    );
}

#[tokio::test(start_paused = true)]
async fn a_transaction_that_outlived_its_lease_cannot_persist() {
    let memory = InMemoryMemory::<u32>::new();
    let r = SyncEventResource::new(memory.clone(), true).with_lock_ttl(Duration::from_secs(1));
    let mut tx = r.begin("s").await.expect("begin");
    assert!(tx.lease().is_some());
    tokio::time::advance(Duration::from_secs(2)).await;
    let other = memory
        .lock("s", Duration::from_secs(1))
        .await
        .expect("takeover");
    let err = tx.persist(7).await.expect_err("stale");
    assert_eq!(err.cause, TransactionCause::WriteFailure);
    assert!(matches!(err.source, MemoryError::StaleLease { .. }));
    assert_eq!(tx.release().await, ReleaseStatus::NotHeld);
    assert!(
        memory.unlock(&other).await.expect("unlock"),
        "the new holder kept its lease"
    );
    assert!(memory.read("s").await.expect("read").is_none());
}

#[tokio::test]
async fn a_transaction_can_persist_twice_over_its_own_write() {
    // The wrapper writes a failure record after a failed step in the same execution.
    let r = SyncEventResource::new(InMemoryMemory::<String>::new(), true);
    let mut tx = r.begin("s").await.expect("begin");
    assert_eq!((tx.state(), tx.version()), (None, None));
    let v1 = tx.persist("normal".into()).await.expect("first");
    let v2 = tx.persist("failure".into()).await.expect("second, over v1");
    assert_ne!(v1, v2);
    assert_eq!(tx.version(), Some(v2));
    assert_eq!(tx.release().await, ReleaseStatus::Released);
    let tx = r.begin("s").await.expect("begin");
    assert_eq!(tx.state().map(String::as_str), Some("failure"));
    assert_eq!(tx.release().await, ReleaseStatus::Released);
}

/// A backend whose operations fail on demand, counting unlocks.
#[derive(Default)]
struct Scripted {
    fail: Mutex<Vec<MemoryOp>>,
    unlocks: AtomicU32,
}

impl Scripted {
    fn failing(ops: &[MemoryOp]) -> Self {
        Self {
            fail: Mutex::new(ops.to_vec()),
            unlocks: AtomicU32::new(0),
        }
    }

    fn check(&self, op: MemoryOp, id: &str) -> Result<(), MemoryError> {
        let failing = self.fail.lock().map(|f| f.contains(&op)).unwrap_or(true);
        if failing {
            Err(MemoryError::backend(
                op,
                id,
                std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset"),
            ))
        } else {
            Ok(())
        }
    }
}

impl MachineMemory<u32> for Scripted {
    async fn read(&self, id: &str) -> Result<Option<Versioned<u32>>, MemoryError> {
        self.check(MemoryOp::Read, id)?;
        Ok(Some(Versioned {
            value: 1,
            version: Version::from_raw(1),
        }))
    }
    async fn write(
        &self,
        id: &str,
        _record: u32,
        _expected: Option<Version>,
        _lease: Option<&Lease>,
    ) -> Result<Version, MemoryError> {
        self.check(MemoryOp::Write, id)?;
        Ok(Version::from_raw(2))
    }
    async fn delete(&self, id: &str, _lease: Option<&Lease>) -> Result<bool, MemoryError> {
        self.check(MemoryOp::Delete, id)?;
        Ok(true)
    }
    async fn try_lock(&self, id: &str, ttl: Duration) -> Result<Option<Lease>, MemoryError> {
        self.check(MemoryOp::Lock, id)?;
        Ok(Some(Lease::new(
            id,
            LeaseToken::random(),
            tokio::time::Instant::now() + ttl,
        )))
    }
    async fn unlock(&self, lease: &Lease) -> Result<bool, MemoryError> {
        self.unlocks.fetch_add(1, Ordering::SeqCst);
        self.check(MemoryOp::Unlock, lease.subject())?;
        Ok(true)
    }
    async fn renew(&self, lease: &mut Lease, _ttl: Duration) -> Result<(), MemoryError> {
        self.check(MemoryOp::Renew, lease.subject())
    }
}

#[tokio::test]
async fn backend_failures_carry_the_reference_causes_and_messages() {
    let r = SyncEventResource::new(Scripted::failing(&[MemoryOp::Lock]), true);
    let err = r.acquire_lock("s").await.expect_err("lock fails");
    assert_eq!(
        err.to_string(),
        "[LOCK_MACHINE_MEMORY_FAILURE] Error acquiring lock for event (subject=s): \
         memory backend failed to lock 's': connection reset"
    );

    let r = SyncEventResource::new(Scripted::failing(&[MemoryOp::Read]), true);
    let err = r.begin("s").await.expect_err("read fails");
    assert_eq!(
        err.to_string(),
        "[READ_MACHINE_MEMORY_FAILURE] Error reading state for event (subject=s): \
         memory backend failed to read 's': connection reset"
    );
    assert_eq!(
        r.memory().unlocks.load(Ordering::SeqCst),
        1,
        "lock released after the failed read"
    );

    let r = SyncEventResource::new(Scripted::failing(&[MemoryOp::Write]), true);
    let err = r
        .run("s", |_| async { Ok::<_, TransactionError>((Some(5), ())) })
        .await
        .expect_err("write fails");
    assert_eq!(
        err.to_string(),
        "[WRITE_MACHINE_MEMORY_FAILURE] Error writing state for event (subject=s): \
         memory backend failed to write 's': connection reset"
    );
    assert_eq!(
        r.memory().unlocks.load(Ordering::SeqCst),
        1,
        "lock released after the failed write"
    );
}

#[tokio::test]
async fn a_failing_unlock_is_reported_not_thrown() {
    let r = SyncEventResource::new(Scripted::failing(&[MemoryOp::Unlock]), true);
    let out = r
        .run("s", |state| async move {
            Ok::<_, TransactionError>((state.map(|s| s + 1), "events"))
        })
        .await
        .expect("an unlock failure does not fail the execution");
    assert_eq!(out, "events");
    let lock = r.acquire_lock("s").await.expect("lock");
    assert!(matches!(
        r.release_lock(lock).await,
        ReleaseStatus::Error(MemoryError::Backend { .. })
    ));
}

/// The orchestration wrapper will be generic over the memory and spawned on multi-thread
/// runtimes: the resource's futures must be `Send` for any backend.
#[allow(dead_code)]
fn futures_are_send_for_any_backend<M: MachineMemory<u32>>(r: &SyncEventResource<M, u32>) {
    fn assert_send<F: Send>(_: F) {}
    assert_send(r.acquire_lock("s"));
    assert_send(r.acquire_state("s"));
    assert_send(r.persist_state("s", 1, None, &LockStatus::Noop));
    assert_send(r.release_lock(LockStatus::Noop));
    assert_send(r.begin("s"));
    assert_send(r.run("s", |s| async move { Ok::<_, TransactionError>((s, ())) }));
    assert_send(r.memory().lock("s", Duration::from_secs(1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_can_be_spawned() {
    let r = std::sync::Arc::new(SyncEventResource::new(InMemoryMemory::<u32>::new(), true));
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let r = std::sync::Arc::clone(&r);
            tokio::spawn(async move {
                r.run("s", |s| async move {
                    Ok::<_, TransactionError>((Some(s.unwrap_or(0) + 1), ()))
                })
                .await
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        // Contention may exhaust the default retries; a denial is a clean LOCK_UNACQUIRED.
        match t.await.expect("task finished") {
            Ok(()) => ok += 1,
            Err(e) => assert_eq!(e.cause, TransactionCause::LockUnacquired),
        }
    }
    assert_eq!(
        r.acquire_state("s").await.expect("read").map(|v| v.value),
        Some(ok)
    );
}
