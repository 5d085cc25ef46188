//! The [`MachineMemory`] conformance suite: one set of cases, written once, that every backend
//! (in-memory, embedded, PostgreSQL, Redis, ...) must pass. Enabled by the `conformance` feature.
//!
//! Each case is a `pub async fn` taking a fresh, empty memory storing [`Probe`] records, and
//! panics with the case's name and what went wrong when the memory breaks the contract.
//! [`run_all`] runs every case, each on a memory made for its own namespace (`"{prefix}-{case}"`)
//! so cases can share one server (a schema or key prefix per namespace) and run beside other tests.
//! One more case is for the memories that store JSON text only, and stores `serde_json::Value`
//! records: [`records_too_deep_to_read_back_are_refused`].
//!
//! Lease cases use real, short TTLs (tens of milliseconds) and real sleeps: server backends keep
//! time with real clocks, so do not call them under `tokio::time::pause()`. The concurrent cases
//! spawn tasks: run them on a multi-thread runtime (`#[tokio::test(flavor = "multi_thread")]`)
//! to get real parallelism.
//!
//! ```
//! use arvo_runtime::memory::InMemoryMemory;
//! use arvo_runtime::memory::conformance;
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! conformance::run_all("doc", |_namespace: String| async { InMemoryMemory::new() }).await;
//! # });
//! ```

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Lease, LeaseToken, MAX_RECORD_DEPTH, MachineMemory, MemoryError, MemoryOp, Version};

/// The record the suite stores: a counter and a note (a string, to exercise text round trips).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    /// A counter (the concurrent cases increment it).
    pub count: u64,
    /// Free text; holds non-ASCII and JSON-special characters in the round-trip case.
    pub note: String,
}

impl Probe {
    /// A probe with `count` and `note`.
    pub fn new(count: u64, note: impl Into<String>) -> Self {
        Self {
            count,
            note: note.into(),
        }
    }
}

/// A short lease TTL, long enough for a few operations on a slow server.
const SHORT_TTL: Duration = Duration::from_millis(60);
/// How long to sleep so a [`SHORT_TTL`] lease has certainly expired.
const PAST_SHORT_TTL: Duration = Duration::from_millis(150);
/// A TTL that does not expire during a case.
const LONG_TTL: Duration = Duration::from_secs(30);

/// Writers in [`concurrent_writers_lose_no_update`] and [`concurrent_cas_loses_no_update`].
pub const WRITERS: u64 = 8;
/// Increments per writer in the concurrent cases.
pub const INCREMENTS: u64 = 25;

/// The names of the cases [`run_all`] runs, in order.
pub const CASES: &[&str] = &[
    "empty_ids_are_refused",
    "read_your_writes",
    "cas_conflicts_leave_the_record_untouched",
    "delete_removes_and_versions_are_not_reused",
    "a_live_lease_is_exclusive",
    "a_non_holders_unlock_is_ignored",
    "an_expired_lease_is_taken_over_and_its_holder_fenced",
    "an_expired_lease_fences_even_without_takeover",
    "a_released_or_foreign_lease_is_refused",
    "renew_extends_a_live_lease_only",
    "lease_ttl_is_honoured",
    "concurrent_writers_lose_no_update",
    "concurrent_cas_loses_no_update",
    "subjects_of_any_length_are_stored",
];

/// Runs every case in [`CASES`], each on `make("{prefix}-{case}")`, a fresh empty memory.
///
/// Panics on the first case the memory fails, naming it.
pub async fn run_all<M, F, Fut>(prefix: &str, make: F)
where
    M: MachineMemory<Probe> + 'static,
    F: Fn(String) -> Fut,
    Fut: Future<Output = M>,
{
    let ns = |case: &str| format!("{prefix}-{case}");
    empty_ids_are_refused(&make(ns(CASES[0])).await).await;
    read_your_writes(&make(ns(CASES[1])).await).await;
    cas_conflicts_leave_the_record_untouched(&make(ns(CASES[2])).await).await;
    delete_removes_and_versions_are_not_reused(&make(ns(CASES[3])).await).await;
    a_live_lease_is_exclusive(&make(ns(CASES[4])).await).await;
    a_non_holders_unlock_is_ignored(&make(ns(CASES[5])).await).await;
    an_expired_lease_is_taken_over_and_its_holder_fenced(&make(ns(CASES[6])).await).await;
    an_expired_lease_fences_even_without_takeover(&make(ns(CASES[7])).await).await;
    a_released_or_foreign_lease_is_refused(&make(ns(CASES[8])).await).await;
    renew_extends_a_live_lease_only(&make(ns(CASES[9])).await).await;
    lease_ttl_is_honoured(&make(ns(CASES[10])).await).await;
    concurrent_writers_lose_no_update(Arc::new(make(ns(CASES[11])).await)).await;
    concurrent_cas_loses_no_update(Arc::new(make(ns(CASES[12])).await)).await;
    subjects_of_any_length_are_stored(&make(ns(CASES[13])).await).await;
}

fn ok<T>(case: &str, what: &str, result: Result<T, MemoryError>) -> T {
    match result {
        Ok(value) => value,
        Err(err) => panic!("[{case}] {what} failed: {err}"),
    }
}

fn err<T: std::fmt::Debug>(case: &str, what: &str, result: Result<T, MemoryError>) -> MemoryError {
    match result {
        Ok(value) => panic!("[{case}] {what} succeeded ({value:?}) but must fail"),
        Err(err) => err,
    }
}

fn assert_stale(case: &str, what: &str, error: &MemoryError, op: MemoryOp, lease: &Lease) {
    assert!(
        matches!(error, MemoryError::StaleLease { op: o, id, token }
            if *o == op && id == lease.subject() && *token == lease.token()),
        "[{case}] {what}: expected StaleLease {{ op: {op}, id: {}, token: {} }}, got {error:?}",
        lease.subject(),
        lease.token()
    );
}

async fn lock_now<M: MachineMemory<Probe>>(case: &str, m: &M, id: &str, ttl: Duration) -> Lease {
    match ok(case, "try_lock", m.try_lock(id, ttl).await) {
        Some(lease) => lease,
        None => panic!("[{case}] try_lock('{id}') found the subject locked"),
    }
}

/// Every operation refuses an empty machine id with [`MemoryError::EmptyId`] naming it.
pub async fn empty_ids_are_refused<M: MachineMemory<Probe>>(m: &M) {
    const CASE: &str = "empty_ids_are_refused";
    let empty = |e: MemoryError, op: MemoryOp| {
        assert!(
            matches!(e, MemoryError::EmptyId { op: o } if o == op),
            "[{CASE}] {op} with an empty id: expected EmptyId, got {e:?}"
        );
    };
    empty(err(CASE, "read", m.read("").await), MemoryOp::Read);
    empty(
        err(
            CASE,
            "write",
            m.write("", Probe::new(1, ""), None, None).await,
        ),
        MemoryOp::Write,
    );
    empty(
        err(CASE, "delete", m.delete("", None).await),
        MemoryOp::Delete,
    );
    empty(
        err(CASE, "try_lock", m.try_lock("", LONG_TTL).await),
        MemoryOp::Lock,
    );
    let mut lease = Lease::new("", LeaseToken::random(), tokio::time::Instant::now());
    empty(
        err(CASE, "unlock", m.unlock(&lease).await),
        MemoryOp::Unlock,
    );
    empty(
        err(CASE, "renew", m.renew(&mut lease, LONG_TTL).await),
        MemoryOp::Renew,
    );
}

/// A write is visible to the next read, with the version the write returned; a new workflow
/// reads `None`; text survives the round trip.
pub async fn read_your_writes<M: MachineMemory<Probe>>(m: &M) {
    const CASE: &str = "read_your_writes";
    let id = "ryw/subject-1";
    assert!(
        ok(CASE, "read of a new subject", m.read(id).await).is_none(),
        "[{CASE}] a subject never written must read as None"
    );
    let first = Probe::new(1, "héllo \"wörld\" \\ \n ✓");
    let v1 = ok(CASE, "create", m.write(id, first.clone(), None, None).await);
    let read = ok(CASE, "read", m.read(id).await);
    assert_eq!(
        read.map(|r| (r.value, r.version)),
        Some((first, v1)),
        "[{CASE}] read after create"
    );
    let second = Probe::new(2, "second");
    let v2 = ok(
        CASE,
        "update",
        m.write(id, second.clone(), Some(v1), None).await,
    );
    assert_ne!(v1, v2, "[{CASE}] an update must change the version");
    let read = ok(CASE, "read", m.read(id).await);
    assert_eq!(
        read.map(|r| (r.value, r.version)),
        Some((second, v2)),
        "[{CASE}] read after update"
    );
    // Another subject is independent.
    assert!(ok(CASE, "read other", m.read("ryw/subject-2").await).is_none());
}

/// `[[...[levels]...]]`: `levels` arrays, one inside the other, around a number.
pub fn nested_arrays(levels: usize) -> serde_json::Value {
    let mut value = serde_json::Value::from(levels);
    for _ in 0..levels {
        value = serde_json::Value::Array(vec![value]);
    }
    value
}

/// For a memory that stores records as JSON text (redb, PostgreSQL, Redis; not in [`run_all`],
/// whose records are [`Probe`]s, nor for [`InMemoryMemory`](super::InMemoryMemory), which keeps
/// values as they are): a record nested [`MAX_RECORD_DEPTH`] levels deep is stored and read
/// back; one nested a level deeper, which `serde_json` could not read back, is refused on write
/// with [`MemoryError::Serialization`], and the stored record and its version stay as they
/// were, so the workflow can go on from its last good state.
pub async fn records_too_deep_to_read_back_are_refused<M: MachineMemory<serde_json::Value>>(m: &M) {
    const CASE: &str = "records_too_deep_to_read_back_are_refused";
    let id = "deep/subject";
    let deepest = nested_arrays(MAX_RECORD_DEPTH);
    let v1 = ok(
        CASE,
        "create",
        m.write(id, deepest.clone(), None, None).await,
    );
    let read = ok(CASE, "read", m.read(id).await);
    assert_eq!(
        read.map(|r| (r.value, r.version)),
        Some((deepest, v1)),
        "[{CASE}] a record {MAX_RECORD_DEPTH} levels deep reads back"
    );
    let refused = err(
        CASE,
        "write one level deeper",
        m.write(id, nested_arrays(MAX_RECORD_DEPTH + 1), Some(v1), None)
            .await,
    );
    assert!(
        matches!(&refused, MemoryError::Serialization { op: MemoryOp::Write, id: i, .. } if i == id),
        "[{CASE}] expected Serialization on write, got {refused:?}"
    );
    assert!(
        refused.to_string().contains("could not be read back"),
        "[{CASE}] the error says why: {refused}"
    );
    let read = ok(CASE, "read after the refusal", m.read(id).await);
    assert_eq!(
        read.map(|r| (r.value, r.version)),
        Some((nested_arrays(MAX_RECORD_DEPTH), v1)),
        "[{CASE}] the stored record is unchanged"
    );
    let fresh = "deep/new-subject";
    let refused = err(
        CASE,
        "create too deep",
        m.write(fresh, nested_arrays(MAX_RECORD_DEPTH + 1), None, None)
            .await,
    );
    assert!(
        matches!(refused, MemoryError::Serialization { .. }),
        "[{CASE}] {refused:?}"
    );
    assert!(
        ok(CASE, "read of the refused subject", m.read(fresh).await).is_none(),
        "[{CASE}] nothing was stored for a refused first write"
    );
}

/// `n` pseudo-random characters of the base64 alphabet (a fixed xorshift sequence): text as
/// incompressible as a real subject, for subjects longer than an index entry may be.
pub fn incompressible_text(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(ALPHABET[usize::try_from(x % 64).unwrap_or(0)])
        })
        .collect()
}

/// A subject as long as [`crate::subject::MAX_SUBJECT_LEN`] (96 KiB), of text that does not
/// compress (real subjects are base64), is created, read, updated by compare-and-swap, leased,
/// written under its lease and deleted like a short one, and kept apart from a subject that
/// differs from it in its last byte.
pub async fn subjects_of_any_length_are_stored<M: MachineMemory<Probe>>(m: &M) {
    const CASE: &str = "subjects_of_any_length_are_stored";
    let mut id = incompressible_text(crate::subject::MAX_SUBJECT_LEN - 1);
    let twin = format!("{id}B");
    id.push('A');
    let v1 = ok(
        CASE,
        "create",
        m.write(&id, Probe::new(1, "long"), None, None).await,
    );
    ok(
        CASE,
        "create twin",
        m.write(&twin, Probe::new(7, "twin"), None, None).await,
    );
    let v2 = ok(
        CASE,
        "update",
        m.write(&id, Probe::new(2, "long"), Some(v1), None).await,
    );
    let conflict = err(
        CASE,
        "stale update",
        m.write(&id, Probe::new(3, "x"), Some(v1), None).await,
    );
    assert!(
        matches!(conflict, MemoryError::Conflict { .. }),
        "[{CASE}] a stale update must conflict, got {conflict:?}"
    );
    let lease = lock_now(CASE, m, &id, Duration::from_secs(30)).await;
    let v3 = ok(
        CASE,
        "fenced update",
        m.write(&id, Probe::new(3, "long"), Some(v2), Some(&lease))
            .await,
    );
    assert!(
        ok(CASE, "unlock", m.unlock(&lease).await),
        "[{CASE}] unlock"
    );
    let read = ok(CASE, "read", m.read(&id).await).map(|r| (r.value, r.version));
    assert_eq!(read, Some((Probe::new(3, "long"), v3)), "[{CASE}] read");
    let read = ok(CASE, "read twin", m.read(&twin).await).map(|r| r.value);
    assert_eq!(
        read,
        Some(Probe::new(7, "twin")),
        "[{CASE}] the twin is its own record"
    );
    assert!(
        ok(CASE, "delete", m.delete(&id, None).await),
        "[{CASE}] delete"
    );
    assert!(ok(CASE, "read after delete", m.read(&id).await).is_none());
    assert!(ok(CASE, "read twin after delete", m.read(&twin).await).is_some());
}

/// Compare-and-swap: creating an existing record, updating with a stale version and updating a
/// missing record fail with [`MemoryError::Conflict`] naming both versions, and write nothing.
pub async fn cas_conflicts_leave_the_record_untouched<M: MachineMemory<Probe>>(m: &M) {
    const CASE: &str = "cas_conflicts_leave_the_record_untouched";
    let id = "cas/subject";
    let v1 = ok(
        CASE,
        "create",
        m.write(id, Probe::new(1, "a"), None, None).await,
    );
    let v2 = ok(
        CASE,
        "update",
        m.write(id, Probe::new(2, "b"), Some(v1), None).await,
    );

    let e = err(
        CASE,
        "second create",
        m.write(id, Probe::new(9, "x"), None, None).await,
    );
    assert_eq!(
        e,
        MemoryError::Conflict {
            id: id.into(),
            expected: None,
            found: Some(v2)
        },
        "[{CASE}] create over an existing record"
    );
    let e = err(
        CASE,
        "stale update",
        m.write(id, Probe::new(9, "x"), Some(v1), None).await,
    );
    assert_eq!(
        e,
        MemoryError::Conflict {
            id: id.into(),
            expected: Some(v1),
            found: Some(v2)
        },
        "[{CASE}] update with a stale version"
    );
    let read = ok(CASE, "read", m.read(id).await);
    assert_eq!(
        read.map(|r| (r.value, r.version)),
        Some((Probe::new(2, "b"), v2)),
        "[{CASE}] the record is untouched by failed writes"
    );

    let e = err(
        CASE,
        "update of a missing record",
        m.write("cas/missing", Probe::new(1, ""), Some(v2), None)
            .await,
    );
    assert_eq!(
        e,
        MemoryError::Conflict {
            id: "cas/missing".into(),
            expected: Some(v2),
            found: None
        },
        "[{CASE}] update of a missing record"
    );
    assert!(ok(CASE, "read missing", m.read("cas/missing").await).is_none());
}

/// Delete removes the record (`true` once, then `false`); a later create succeeds; a version
/// handed out before the delete never matches the re-created record.
pub async fn delete_removes_and_versions_are_not_reused<M: MachineMemory<Probe>>(m: &M) {
    const CASE: &str = "delete_removes_and_versions_are_not_reused";
    let id = "delete/subject";
    assert!(!ok(CASE, "delete of nothing", m.delete(id, None).await));
    let v1 = ok(
        CASE,
        "create",
        m.write(id, Probe::new(1, "a"), None, None).await,
    );
    assert!(
        ok(CASE, "delete", m.delete(id, None).await),
        "[{CASE}] delete of a stored record returns true"
    );
    assert!(ok(CASE, "read after delete", m.read(id).await).is_none());
    assert!(!ok(CASE, "second delete", m.delete(id, None).await));
    let e = err(
        CASE,
        "update of a deleted record",
        m.write(id, Probe::new(2, ""), Some(v1), None).await,
    );
    assert!(
        matches!(e, MemoryError::Conflict { found: None, .. }),
        "[{CASE}] got {e:?}"
    );
    let v2 = ok(
        CASE,
        "re-create",
        m.write(id, Probe::new(3, "c"), None, None).await,
    );
    assert_ne!(
        v1, v2,
        "[{CASE}] a re-created record must not reuse the old version"
    );
    let e = err(
        CASE,
        "update with a pre-delete version",
        m.write(id, Probe::new(4, ""), Some(v1), None).await,
    );
    assert!(
        matches!(e, MemoryError::Conflict { .. }),
        "[{CASE}] got {e:?}"
    );
    // A fenced delete by the holder works.
    let lease = lock_now(CASE, m, id, LONG_TTL).await;
    assert!(ok(CASE, "fenced delete", m.delete(id, Some(&lease)).await));
    assert!(ok(CASE, "unlock", m.unlock(&lease).await));
}

/// While a lease is live, nobody else gets one ([`MachineMemory::try_lock`] returns `None`) and
/// the holder's fenced write succeeds, also on a subject with no record yet.
pub async fn a_live_lease_is_exclusive<M: MachineMemory<Probe>>(m: &M) {
    const CASE: &str = "a_live_lease_is_exclusive";
    let id = "exclusive/subject";
    let lease = lock_now(CASE, m, id, LONG_TTL).await;
    assert_eq!(lease.subject(), id);
    assert!(
        lease.remaining() > Duration::from_secs(20),
        "[{CASE}] remaining {:?}",
        lease.remaining()
    );
    assert!(
        ok(CASE, "second try_lock", m.try_lock(id, LONG_TTL).await).is_none(),
        "[{CASE}] a live lease must be exclusive"
    );
    // Other subjects are not blocked.
    let other = lock_now(CASE, m, "exclusive/other", LONG_TTL).await;
    assert_ne!(
        other.token(),
        lease.token(),
        "[{CASE}] tokens must be unique"
    );
    let v = ok(
        CASE,
        "fenced create",
        m.write(id, Probe::new(1, ""), None, Some(&lease)).await,
    );
    ok(
        CASE,
        "fenced update",
        m.write(id, Probe::new(2, ""), Some(v), Some(&lease)).await,
    );
    assert!(
        ok(CASE, "unlock", m.unlock(&lease).await),
        "[{CASE}] the holder's unlock returns true"
    );
    assert!(ok(CASE, "unlock other", m.unlock(&other).await));
    let again = lock_now(CASE, m, id, LONG_TTL).await;
    assert_ne!(
        again.token(),
        lease.token(),
        "[{CASE}] a new acquisition gets a new token"
    );
    assert!(ok(CASE, "unlock again", m.unlock(&again).await));
}

/// An unlock by someone who does not hold the lease returns `false` and leaves the lease in
/// place; the holder's unlock returns `true` once.
pub async fn a_non_holders_unlock_is_ignored<M: MachineMemory<Probe>>(m: &M) {
    const CASE: &str = "a_non_holders_unlock_is_ignored";
    let id = "unlock/subject";
    let lease = lock_now(CASE, m, id, LONG_TTL).await;
    let forged = Lease::new(id, LeaseToken::random(), lease.deadline());
    assert!(
        !ok(CASE, "non-holder unlock", m.unlock(&forged).await),
        "[{CASE}] a non-holder's unlock must return false"
    );
    assert!(
        ok(
            CASE,
            "try_lock after forged unlock",
            m.try_lock(id, LONG_TTL).await
        )
        .is_none(),
        "[{CASE}] a non-holder's unlock must not release the lease"
    );
    let e = err(
        CASE,
        "forged write",
        m.write(id, Probe::new(1, ""), None, Some(&forged)).await,
    );
    assert_stale(
        CASE,
        "write with a forged lease",
        &e,
        MemoryOp::Write,
        &forged,
    );
    assert!(ok(CASE, "holder unlock", m.unlock(&lease).await));
    assert!(
        !ok(CASE, "second unlock", m.unlock(&lease).await),
        "[{CASE}] unlocking twice returns false"
    );
    // Unlocking a subject that was never locked.
    let never = Lease::new("unlock/never", LeaseToken::random(), lease.deadline());
    assert!(!ok(
        CASE,
        "unlock of an unlocked subject",
        m.unlock(&never).await
    ));
}

/// Once a lease's TTL has passed, another caller takes it over; the former holder's write,
/// delete and renew are refused with [`MemoryError::StaleLease`] and its unlock is ignored.
pub async fn an_expired_lease_is_taken_over_and_its_holder_fenced<M: MachineMemory<Probe>>(m: &M) {
    const CASE: &str = "an_expired_lease_is_taken_over_and_its_holder_fenced";
    let id = "takeover/subject";
    let v = ok(
        CASE,
        "create",
        m.write(id, Probe::new(1, "before"), None, None).await,
    );
    let mut old = lock_now(CASE, m, id, SHORT_TTL).await;
    tokio::time::sleep(PAST_SHORT_TTL).await;
    let new = lock_now(CASE, m, id, LONG_TTL).await;
    assert_ne!(new.token(), old.token());

    let e = err(
        CASE,
        "stale write",
        m.write(id, Probe::new(99, "stale"), Some(v), Some(&old))
            .await,
    );
    assert_stale(CASE, "the former holder's write", &e, MemoryOp::Write, &old);
    let e = err(CASE, "stale delete", m.delete(id, Some(&old)).await);
    assert_stale(
        CASE,
        "the former holder's delete",
        &e,
        MemoryOp::Delete,
        &old,
    );
    let e = err(CASE, "stale renew", m.renew(&mut old, LONG_TTL).await);
    assert_stale(CASE, "the former holder's renew", &e, MemoryOp::Renew, &old);
    assert!(
        !ok(CASE, "stale unlock", m.unlock(&old).await),
        "[{CASE}] the former holder's unlock must be ignored"
    );
    assert!(
        ok(CASE, "try_lock", m.try_lock(id, LONG_TTL).await).is_none(),
        "[{CASE}] the new holder keeps the lease after the former holder's unlock"
    );
    let read = ok(CASE, "read", m.read(id).await);
    assert_eq!(
        read.map(|r| (r.value, r.version)),
        Some((Probe::new(1, "before"), v)),
        "[{CASE}] refused writes change nothing"
    );
    ok(
        CASE,
        "new holder's write",
        m.write(id, Probe::new(2, "after"), Some(v), Some(&new))
            .await,
    );
    assert!(ok(CASE, "new holder's unlock", m.unlock(&new).await));
}

/// A lease whose TTL has passed fences its holder even when nobody took over: the write is
/// refused (the holder must re-lock and re-read).
pub async fn an_expired_lease_fences_even_without_takeover<M: MachineMemory<Probe>>(m: &M) {
    const CASE: &str = "an_expired_lease_fences_even_without_takeover";
    let id = "expired/subject";
    let lease = lock_now(CASE, m, id, SHORT_TTL).await;
    tokio::time::sleep(PAST_SHORT_TTL).await;
    assert_eq!(
        lease.remaining(),
        Duration::ZERO,
        "[{CASE}] remaining after expiry"
    );
    let e = err(
        CASE,
        "expired write",
        m.write(id, Probe::new(1, ""), None, Some(&lease)).await,
    );
    assert_stale(
        CASE,
        "write with an expired lease",
        &e,
        MemoryOp::Write,
        &lease,
    );
    assert!(
        ok(CASE, "read", m.read(id).await).is_none(),
        "[{CASE}] nothing written"
    );
    let e = err(CASE, "expired delete", m.delete(id, Some(&lease)).await);
    assert_stale(
        CASE,
        "delete with an expired lease",
        &e,
        MemoryOp::Delete,
        &lease,
    );
    // Re-locking works.
    let fresh = lock_now(CASE, m, id, LONG_TTL).await;
    ok(
        CASE,
        "write with a fresh lease",
        m.write(id, Probe::new(1, ""), None, Some(&fresh)).await,
    );
    assert!(ok(CASE, "unlock", m.unlock(&fresh).await));
}

/// A released lease, or a lease for another subject, fences nothing but refuses the write.
pub async fn a_released_or_foreign_lease_is_refused<M: MachineMemory<Probe>>(m: &M) {
    const CASE: &str = "a_released_or_foreign_lease_is_refused";
    let id = "released/subject";
    let lease = lock_now(CASE, m, id, LONG_TTL).await;
    assert!(ok(CASE, "unlock", m.unlock(&lease).await));
    let e = err(
        CASE,
        "write after unlock",
        m.write(id, Probe::new(1, ""), None, Some(&lease)).await,
    );
    assert_stale(
        CASE,
        "write with a released lease",
        &e,
        MemoryOp::Write,
        &lease,
    );

    let other = lock_now(CASE, m, "released/other", LONG_TTL).await;
    let e = err(
        CASE,
        "foreign write",
        m.write(id, Probe::new(1, ""), None, Some(&other)).await,
    );
    assert!(
        matches!(&e, MemoryError::StaleLease { op: MemoryOp::Write, id: i, token } if i == id && *token == other.token()),
        "[{CASE}] a lease for another subject must be refused, got {e:?}"
    );
    assert!(
        ok(CASE, "read", m.read(id).await).is_none(),
        "[{CASE}] nothing written"
    );
    assert!(ok(CASE, "unlock other", m.unlock(&other).await));
}

/// Renewing a live lease extends it past its first TTL (nobody can take it over and the
/// holder's writes succeed); renewing an expired lease fails with [`MemoryError::StaleLease`].
pub async fn renew_extends_a_live_lease_only<M: MachineMemory<Probe>>(m: &M) {
    const CASE: &str = "renew_extends_a_live_lease_only";
    let id = "renew/subject";
    let mut lease = lock_now(CASE, m, id, SHORT_TTL).await;
    ok(CASE, "renew", m.renew(&mut lease, LONG_TTL).await);
    assert!(
        lease.remaining() > Duration::from_secs(20),
        "[{CASE}] the lease's deadline moves: {:?}",
        lease.remaining()
    );
    tokio::time::sleep(PAST_SHORT_TTL).await;
    assert!(
        ok(
            CASE,
            "try_lock after the first TTL",
            m.try_lock(id, LONG_TTL).await
        )
        .is_none(),
        "[{CASE}] a renewed lease must still be held after its first TTL"
    );
    ok(
        CASE,
        "write after renew",
        m.write(id, Probe::new(1, ""), None, Some(&lease)).await,
    );
    assert!(ok(CASE, "unlock", m.unlock(&lease).await));

    let mut short = lock_now(CASE, m, id, SHORT_TTL).await;
    tokio::time::sleep(PAST_SHORT_TTL).await;
    let e = err(
        CASE,
        "renew after expiry",
        m.renew(&mut short, LONG_TTL).await,
    );
    assert_stale(
        CASE,
        "renew of an expired lease",
        &e,
        MemoryOp::Renew,
        &short,
    );
}

/// A lease blocks others for its TTL and no longer after it.
pub async fn lease_ttl_is_honoured<M: MachineMemory<Probe>>(m: &M) {
    const CASE: &str = "lease_ttl_is_honoured";
    let id = "ttl/subject";
    let ttl = Duration::from_millis(400);
    let started = tokio::time::Instant::now();
    let lease = lock_now(CASE, m, id, ttl).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let early = ok(
        CASE,
        "try_lock within the TTL",
        m.try_lock(id, LONG_TTL).await,
    );
    // Only meaningful if the machine was not stalled past the TTL meanwhile.
    if started.elapsed() < ttl {
        assert!(
            early.is_none(),
            "[{CASE}] a lease must block others within its TTL"
        );
    }
    tokio::time::sleep(ttl).await;
    let taken = lock_now(CASE, m, id, LONG_TTL).await;
    assert_ne!(taken.token(), lease.token());
    assert!(ok(CASE, "unlock", m.unlock(&taken).await));
}

/// [`WRITERS`] tasks each increment one subject's counter [`INCREMENTS`] times under its lease
/// (lock, read, fenced write, unlock): the final count is `WRITERS * INCREMENTS`, no update lost.
pub async fn concurrent_writers_lose_no_update<M: MachineMemory<Probe> + 'static>(m: Arc<M>) {
    const CASE: &str = "concurrent_writers_lose_no_update";
    let id = "concurrent/locked";
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let m = Arc::clone(&m);
            tokio::spawn(async move {
                for _ in 0..INCREMENTS {
                    let lease = loop {
                        match ok(CASE, "try_lock", m.try_lock(id, LONG_TTL).await) {
                            Some(lease) => break lease,
                            None => tokio::time::sleep(Duration::from_millis(1)).await,
                        }
                    };
                    let current = ok(CASE, "read", m.read(id).await);
                    let (next, expected) = match current {
                        Some(v) => (v.value.count + 1, Some(v.version)),
                        None => (1, None),
                    };
                    ok(
                        CASE,
                        "fenced write",
                        m.write(
                            id,
                            Probe::new(next, format!("writer {w}")),
                            expected,
                            Some(&lease),
                        )
                        .await,
                    );
                    assert!(
                        ok(CASE, "unlock", m.unlock(&lease).await),
                        "[{CASE}] the holder's unlock"
                    );
                }
            })
        })
        .collect();
    for task in futures_util::future::join_all(tasks).await {
        if let Err(e) = task {
            panic!("[{CASE}] a writer task failed: {e}");
        }
    }
    let count = ok(CASE, "final read", m.read(id).await).map(|v| v.value.count);
    assert_eq!(count, Some(WRITERS * INCREMENTS), "[{CASE}] lost updates");
}

/// [`WRITERS`] tasks increment one counter [`INCREMENTS`] times each without leases, retrying on
/// [`MemoryError::Conflict`]: compare-and-swap alone loses no update.
pub async fn concurrent_cas_loses_no_update<M: MachineMemory<Probe> + 'static>(m: Arc<M>) {
    const CASE: &str = "concurrent_cas_loses_no_update";
    let id = "concurrent/cas";
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let m = Arc::clone(&m);
            tokio::spawn(async move {
                let mut conflicts = 0_u64;
                for _ in 0..INCREMENTS {
                    loop {
                        let current = ok(CASE, "read", m.read(id).await);
                        let (next, expected): (u64, Option<Version>) = match current {
                            Some(v) => (v.value.count + 1, Some(v.version)),
                            None => (1, None),
                        };
                        match m
                            .write(id, Probe::new(next, format!("writer {w}")), expected, None)
                            .await
                        {
                            Ok(_) => break,
                            Err(MemoryError::Conflict { .. }) => {
                                conflicts += 1;
                                tokio::task::yield_now().await;
                            }
                            Err(e) => panic!("[{CASE}] write failed: {e}"),
                        }
                    }
                }
                conflicts
            })
        })
        .collect();
    for task in futures_util::future::join_all(tasks).await {
        if let Err(e) = task {
            panic!("[{CASE}] a writer task failed: {e}");
        }
    }
    let count = ok(CASE, "final read", m.read(id).await).map(|v| v.value.count);
    assert_eq!(count, Some(WRITERS * INCREMENTS), "[{CASE}] lost updates");
}
