//! Records of the in-memory machine memory: compare-and-swap writes, versions, delete and
//! cleanup, the reference's `SimpleMachineMemory` suite (spec §13.4) ported, and the mapping of
//! errors to the reference's transaction causes.
//!
//! Deliberate differences from the reference's suite, in one place:
//! - §13.4 tests 2 and 3 (write `undefined` / `null` data rejected with `Data is required for
//!   write operation`) have no counterpart: records are typed values, absence is not writable.
//! - §13.4 test 14 (unlocking a never-locked id returns `true`): an unlock is by lease, and a
//!   lease that is not the current one releases nothing, reported as `false`.
//! - Writes compare versions (`expected`), where the reference ignores `prevData`.

use arvo_runtime::memory::{
    InMemoryMemory, Lease, LeaseToken, MachineMemory, MemoryError, MemoryOp, TransactionCause,
    Version,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const TTL: Duration = Duration::from_secs(60);

fn record() -> Value {
    json!({
        "executionStatus": "normal", "initEventId": "", "subject": "test", "state": {},
        "parentSubject": null, "status": "active", "value": "", "machineDefinition": null,
        "events": { "consumed": null, "produced": [] }
    })
}

#[tokio::test]
async fn write_with_a_wrong_expected_version_conflicts_and_overwrites_nothing() {
    let m = InMemoryMemory::<String>::new();
    let v1 = m
        .write("s", "one".into(), None, None)
        .await
        .expect("create");
    let v2 = m
        .write("s", "two".into(), Some(v1), None)
        .await
        .expect("update");
    assert_ne!(v1, v2);

    let err = m
        .write("s", "stale".into(), Some(v1), None)
        .await
        .expect_err("v1 is old");
    assert_eq!(
        err,
        MemoryError::Conflict {
            id: "s".into(),
            expected: Some(v1),
            found: Some(v2)
        }
    );
    assert_eq!(
        err.to_string(),
        format!("version conflict on 's': expected {v1}, found {v2}")
    );
    assert_eq!(err.transaction_cause(), "WRITE_MACHINE_MEMORY_FAILURE");
    let stored = m.read("s").await.expect("read").expect("record");
    assert_eq!((stored.value.as_str(), stored.version), ("two", v2));
}

#[tokio::test]
async fn first_write_expecting_no_record_conflicts_when_one_exists() {
    let m = InMemoryMemory::<String>::new();
    let v1 = m
        .write("s", "first".into(), None, None)
        .await
        .expect("create");
    let err = m
        .write("s", "second".into(), None, None)
        .await
        .expect_err("exists");
    assert_eq!(
        err,
        MemoryError::Conflict {
            id: "s".into(),
            expected: None,
            found: Some(v1)
        }
    );
    assert_eq!(
        err.to_string(),
        format!("version conflict on 's': expected no record, found {v1}")
    );
    assert_eq!(
        m.read("s").await.expect("read").map(|v| v.value),
        Some("first".into())
    );

    // And the converse: expecting a version where there is no record.
    let err = m
        .write("t", "x".into(), Some(v1), None)
        .await
        .expect_err("absent");
    assert_eq!(
        err,
        MemoryError::Conflict {
            id: "t".into(),
            expected: Some(v1),
            found: None
        }
    );
    assert!(m.read("t").await.expect("read").is_none());
}

#[tokio::test]
async fn versions_are_never_reused_after_a_delete() {
    let m = InMemoryMemory::<u8>::new();
    let v1 = m.write("s", 1, None, None).await.expect("create");
    assert!(m.delete("s", None).await.expect("delete"));
    assert!(!m.delete("s", None).await.expect("second delete"));
    assert!(m.read("s").await.expect("read").is_none());
    let v2 = m.write("s", 2, None, None).await.expect("recreate");
    assert_ne!(v1, v2);
    // A writer still holding v1 from before the delete cannot clobber the new record.
    assert!(matches!(
        m.write("s", 9, Some(v1), None).await,
        Err(MemoryError::Conflict { .. })
    ));
}

#[tokio::test]
async fn delete_is_fenced_by_the_lease() {
    let m = InMemoryMemory::<u8>::new();
    let lease = m.lock("s", TTL).await.expect("lock");
    let v = m.write("s", 1, None, Some(&lease)).await.expect("write");
    let foreign = Lease::new("s", LeaseToken::random(), lease.deadline());
    assert!(matches!(
        m.delete("s", Some(&foreign)).await,
        Err(MemoryError::StaleLease { .. })
    ));
    assert_eq!(m.read("s").await.expect("read").map(|r| r.version), Some(v));
    assert!(m.delete("s", Some(&lease)).await.expect("holder deletes"));
    assert!(m.unlock(&lease).await.expect("unlock"));
    assert!(m.is_empty());
}

#[tokio::test]
async fn cleanup_removes_finished_workflows_only() {
    let m = InMemoryMemory::<Value>::new().cleanup_when(|r| r["status"] == "done");
    let v = m.write("a", record(), None, None).await.expect("active");
    m.write("b", record(), None, None).await.expect("active");
    let mut done = record();
    done["status"] = json!("done");
    m.write("a", done.clone(), Some(v), None)
        .await
        .expect("finish a");
    assert!(
        m.read("a").await.expect("read").is_none(),
        "finished record cleaned up"
    );
    assert!(
        m.read("b").await.expect("read").is_some(),
        "active record kept"
    );
    assert_eq!(m.len(), 1);

    // Without the predicate, finished records stay.
    let keep = InMemoryMemory::<Value>::new();
    keep.write("a", done, None, None).await.expect("write");
    assert_eq!(keep.len(), 1);
}

#[tokio::test]
async fn empty_ids_are_rejected_with_the_reference_messages() {
    let m = InMemoryMemory::<Value>::new();
    let cases = [
        (
            m.read("").await.map(|_| ()),
            "read",
            TransactionCause::ReadFailure,
        ),
        (
            m.write("", record(), None, None).await.map(|_| ()),
            "write",
            TransactionCause::WriteFailure,
        ),
        (
            m.try_lock("", TTL).await.map(|_| ()),
            "lock",
            TransactionCause::LockFailure,
        ),
        (
            m.lock("", TTL).await.map(|_| ()),
            "lock",
            TransactionCause::LockFailure,
        ),
        (
            m.unlock(&Lease::new(
                "",
                LeaseToken::random(),
                tokio::time::Instant::now(),
            ))
            .await
            .map(|_| ()),
            "unlock",
            TransactionCause::LockFailure,
        ),
        (
            m.delete("", None).await.map(|_| ()),
            "delete",
            TransactionCause::WriteFailure,
        ),
    ];
    for (result, op, cause) in cases {
        let err = result.expect_err(op);
        assert_eq!(
            err.to_string(),
            format!("Machine ID is required for {op} operation")
        );
        assert_eq!(err.cause(), cause, "{op}");
    }
}

#[test]
fn errors_map_to_the_reference_transaction_causes() {
    let backend = |op| {
        MemoryError::backend(
            op,
            "s",
            std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset"),
        )
    };
    let table = [
        (backend(MemoryOp::Read), "READ_MACHINE_MEMORY_FAILURE"),
        (backend(MemoryOp::Lock), "LOCK_MACHINE_MEMORY_FAILURE"),
        (backend(MemoryOp::Unlock), "LOCK_MACHINE_MEMORY_FAILURE"),
        (backend(MemoryOp::Renew), "LOCK_MACHINE_MEMORY_FAILURE"),
        (backend(MemoryOp::Write), "WRITE_MACHINE_MEMORY_FAILURE"),
        (backend(MemoryOp::Delete), "WRITE_MACHINE_MEMORY_FAILURE"),
        (
            MemoryError::serialization(
                MemoryOp::Read,
                "s",
                serde_json::from_str::<u32>("").expect_err("eof"),
            ),
            "READ_MACHINE_MEMORY_FAILURE",
        ),
        (
            MemoryError::Conflict {
                id: "s".into(),
                expected: None,
                found: Some(Version::from_raw(3)),
            },
            "WRITE_MACHINE_MEMORY_FAILURE",
        ),
        (
            MemoryError::StaleLease {
                op: MemoryOp::Write,
                id: "s".into(),
                token: LeaseToken::from_raw(1),
            },
            "WRITE_MACHINE_MEMORY_FAILURE",
        ),
        (
            MemoryError::StaleLease {
                op: MemoryOp::Delete,
                id: "s".into(),
                token: LeaseToken::from_raw(1),
            },
            "WRITE_MACHINE_MEMORY_FAILURE",
        ),
        (
            MemoryError::StaleLease {
                op: MemoryOp::Renew,
                id: "s".into(),
                token: LeaseToken::from_raw(1),
            },
            "LOCK_MACHINE_MEMORY_FAILURE",
        ),
        (
            MemoryError::LockUnacquired {
                id: "s".into(),
                attempts: 4,
            },
            "LOCK_UNACQUIRED",
        ),
    ];
    for (err, cause) in table {
        assert_eq!(err.transaction_cause(), cause, "{err}");
    }
    assert_eq!(
        backend(MemoryOp::Read).to_string(),
        "memory backend failed to read 's': connection reset"
    );
}

/// Generic code works with shared handles of any backend.
async fn roundtrip<M: MachineMemory<Value>>(m: M) -> Option<Value> {
    m.write("s", record(), None, None).await.ok()?;
    m.read("s").await.ok()?.map(|v| v.value)
}

#[tokio::test]
async fn arc_and_references_are_memories_too() {
    let m = Arc::new(InMemoryMemory::<Value>::new());
    assert_eq!(roundtrip(Arc::clone(&m)).await, Some(record()));
    m.clear();
    assert_eq!(roundtrip(&*m).await, Some(record()));
}

// ---- The reference's SimpleMachineMemory suite (spec §13.4), ported. ----

#[tokio::test]
async fn simple_suite_write_read() {
    let m = InMemoryMemory::<Value>::new();
    // 1. write with an empty id
    let err = m
        .write("", record(), None, None)
        .await
        .expect_err("empty id");
    assert_eq!(
        err.to_string(),
        "Machine ID is required for write operation"
    );
    // 4. a valid write resolves
    m.write("test", record(), None, None)
        .await
        .expect("valid write");
    // 5. mutating the caller's copy does not change the stored one
    let mut copy = m.read("test").await.expect("read").expect("record").value;
    copy["value"] = json!("changed");
    assert_eq!(
        m.read("test").await.expect("read").expect("record").value["value"],
        json!("")
    );
    // 6. read with an empty id
    let err = m.read("").await.expect_err("empty id");
    assert_eq!(err.to_string(), "Machine ID is required for read operation");
    // 7. unknown id
    assert!(m.read("unknown").await.expect("read").is_none());
    // 8. read after write
    assert_eq!(
        m.read("test").await.expect("read").map(|v| v.value),
        Some(record())
    );
}

#[tokio::test]
async fn simple_suite_locks() {
    let m = InMemoryMemory::<Value>::new();
    // 9. lock with an empty id
    let err = m.try_lock("", TTL).await.expect_err("empty id");
    assert_eq!(err.to_string(), "Machine ID is required for lock operation");
    // 10. lock a new id; 11. a second lock is refused
    let lease = m
        .try_lock("test", TTL)
        .await
        .expect("runs")
        .expect("acquired");
    assert!(m.try_lock("test", TTL).await.expect("runs").is_none());
    // 12. unlock with an empty id
    let err = m
        .unlock(&Lease::new("", lease.token(), lease.deadline()))
        .await
        .expect_err("empty id");
    assert_eq!(
        err.to_string(),
        "Machine ID is required for unlock operation"
    );
    // 13. unlock a locked id
    assert!(m.unlock(&lease).await.expect("unlock"));
    // 14. (difference) unlocking what one does not hold reports false
    let never = Lease::new("never", LeaseToken::random(), lease.deadline());
    assert!(!m.unlock(&never).await.expect("unlock"));
    // 15. lock -> unlock -> lock
    let again = m
        .try_lock("test", TTL)
        .await
        .expect("runs")
        .expect("re-acquired");
    assert!(m.unlock(&again).await.expect("unlock"));
}

#[tokio::test]
async fn simple_suite_clear_and_cycle() {
    let m = InMemoryMemory::<Value>::new();
    // 16. clear() forgets data and locks
    m.write("a", record(), None, None).await.expect("write");
    let _held = m.try_lock("b", TTL).await.expect("runs").expect("acquired");
    m.clear();
    assert!(m.read("a").await.expect("read").is_none());
    assert!(m.try_lock("b", TTL).await.expect("runs").is_some());
    // clear_subject(key) forgets one
    m.write("a", record(), None, None).await.expect("write");
    m.write("c", record(), None, None).await.expect("write");
    m.clear_subject("a");
    assert!(m.read("a").await.expect("read").is_none());
    assert!(m.read("c").await.expect("read").is_some());
    // 17. integrated cycle
    let m = InMemoryMemory::<Value>::new();
    m.write("test", record(), None, None).await.expect("write");
    assert_eq!(
        m.read("test").await.expect("read").map(|v| v.value),
        Some(record())
    );
    let first = m
        .try_lock("test", TTL)
        .await
        .expect("runs")
        .expect("acquired");
    assert!(m.try_lock("test", TTL).await.expect("runs").is_none());
    assert!(m.unlock(&first).await.expect("unlock"));
    assert!(m.try_lock("test", TTL).await.expect("runs").is_some());
}
