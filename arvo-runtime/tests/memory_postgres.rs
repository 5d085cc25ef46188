//! The PostgreSQL machine memory (`memory::postgres`, feature `postgres`) against a real server
//! (`ARVO_TEST_POSTGRES_URL`; skipped with a note when unset, a failure when `CI=true`): the
//! conformance suite, the versioned migration, hierarchy queries, cleanup, a down or slow
//! server, connections the server closes, corrupt records, and the resumable workflows
//! (broker, parent/child, 8 concurrent tasks). Every test works in its own schema (random
//! suffix), dropped at the end.
#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common_backends;
mod common_resumable;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use arvo_runtime::handler::{ParentContext, TransactionCause, Violation};
use arvo_runtime::memory::conformance::{self, Probe};
use arvo_runtime::memory::postgres::{PostgresMemory, PostgresSetupError, SCHEMA_VERSION};
use arvo_runtime::memory::{LockPolicy, MachineMemory, MemoryError, MemoryOp, MemoryRecord};
use arvo_runtime::resumable::{ResumableMemoryRecord, ResumableStatus};
use common_backends::workflows::{self, CalcRecord};
use common_backends::{postgres_url, unique};
use serde::{Deserialize, Serialize};

/// A memory on a fresh, migrated schema.
async fn memory<T: MemoryRecord>(url: &str, schema: &str) -> PostgresMemory<T> {
    let m = PostgresMemory::builder(url)
        .schema(schema)
        .pool_size(8)
        .build()
        .unwrap();
    m.migrate().await.unwrap();
    m
}

/// Resumable records with their hierarchy and status extracted.
async fn workflow_memory<C: MemoryRecord>(
    url: &str,
    schema: &str,
    policy: LockPolicy,
) -> PostgresMemory<ResumableMemoryRecord<C>> {
    let m = PostgresMemory::<ResumableMemoryRecord<C>>::builder(url)
        .schema(schema)
        .lock_policy(policy)
        .parent_subject(|r| r.as_normal().and_then(|n| n.parent_subject.as_deref()))
        .finished_when(|r| {
            r.as_normal()
                .is_none_or(|n| n.status == ResumableStatus::Done)
        })
        .build()
        .unwrap();
    m.migrate().await.unwrap();
    m
}

/// Drops every schema whose name starts with `prefix`.
async fn drop_schemas<T: MemoryRecord>(m: &PostgresMemory<T>, prefix: &str) {
    let client = m.pool().get().await.unwrap();
    let rows = client
        .query(
            "SELECT nspname::text FROM pg_namespace WHERE starts_with(nspname, $1)",
            &[&prefix],
        )
        .await
        .unwrap();
    for row in rows {
        let name: String = row.get(0);
        client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_memory_conforms() {
    let Some(url) = postgres_url("postgres_memory_conforms") else {
        return;
    };
    let base = unique("arvo_conf");
    let n = Arc::new(AtomicUsize::new(0));
    let (u, b, counter) = (url.clone(), base.clone(), Arc::clone(&n));
    conformance::run_all("postgres", move |_namespace| {
        let schema = format!("{b}_{}", counter.fetch_add(1, Ordering::SeqCst));
        let url = u.clone();
        async move { memory::<Probe>(&url, &schema).await }
    })
    .await;
    assert_eq!(n.load(Ordering::SeqCst), conformance::CASES.len());
    drop_schemas(&memory::<Probe>(&url, &format!("{base}_x")).await, &base).await;
}

#[tokio::test]
async fn migration_is_explicit_versioned_and_idempotent() {
    let Some(url) = postgres_url("migration_is_explicit_versioned_and_idempotent") else {
        return;
    };
    let schema = unique("arvo_mig");
    let m = PostgresMemory::<Probe>::builder(&url)
        .schema(&schema)
        .lock_policy(LockPolicy {
            max_retries: 1,
            initial_delay: Duration::from_millis(1),
            ..LockPolicy::default()
        })
        .build()
        .unwrap();
    // Nothing is created implicitly: before the migration, operations fail cleanly.
    assert_eq!(m.schema_version().await.unwrap(), 0);
    let e = m.verify_schema().await.unwrap_err();
    assert!(
        matches!(e, PostgresSetupError::SchemaVersion { found: 0, needed, .. } if needed == SCHEMA_VERSION),
        "{e}"
    );
    assert!(
        e.to_string().contains("run PostgresMemory::migrate()"),
        "{e}"
    );
    let e = m.read("s").await.unwrap_err();
    assert!(
        matches!(
            e,
            MemoryError::Backend {
                op: MemoryOp::Read,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("does not exist"), "{e}");

    // Concurrent migrations: exactly one applies every version, the others find nothing to do.
    let results = futures_util::future::join_all((0..4).map(|_| m.migrate())).await;
    let applied: Vec<Vec<i32>> = results.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        applied.iter().filter(|a| *a == &vec![1, 2]).count(),
        1,
        "{applied:?}"
    );
    assert_eq!(
        applied.iter().filter(|a| a.is_empty()).count(),
        3,
        "{applied:?}"
    );
    assert_eq!(m.migrate().await.unwrap(), Vec::<i32>::new());
    assert_eq!(m.schema_version().await.unwrap(), SCHEMA_VERSION);
    m.verify_schema().await.unwrap();
    let v = m.write("s", Probe::new(1, "x"), None, None).await.unwrap();
    assert_eq!(m.read("s").await.unwrap().unwrap().version, v);
    // Migrating again keeps the data.
    m.migrate().await.unwrap();
    assert_eq!(
        m.read("s").await.unwrap().unwrap().value,
        Probe::new(1, "x")
    );

    // A schema migrated by a newer build is refused, not downgraded.
    let client = m.pool().get().await.unwrap();
    client
        .batch_execute(&format!(
            "INSERT INTO \"{schema}\".arvo_schema_version (version, description) VALUES (99, 'future')"
        ))
        .await
        .unwrap();
    drop(client);
    let e = m.migrate().await.unwrap_err();
    assert!(
        matches!(e, PostgresSetupError::SchemaVersion { found: 99, .. }),
        "{e}"
    );
    assert!(m.verify_schema().await.is_err());
    drop_schemas(&m, &schema).await;
}

#[test]
fn schema_names_are_validated() {
    for (bad, why) in [
        ("", "empty"),
        ("1abc", "start"),
        ("a-b", "only contain"),
        ("x\"; DROP TABLE y; --", "only contain"),
        (&"a".repeat(64), "63"),
    ] {
        let e = PostgresMemory::<Probe>::builder("postgres://u@127.0.0.1/db")
            .schema(bad)
            .build()
            .unwrap_err();
        assert!(
            matches!(e, PostgresSetupError::InvalidSchema { .. }),
            "{bad}: {e}"
        );
        assert!(e.to_string().contains(why), "{bad}: {e}");
    }
    let e = PostgresMemory::<Probe>::builder("postgres://u@[bad")
        .build()
        .unwrap_err();
    assert!(matches!(e, PostgresSetupError::InvalidUrl(_)), "{e}");
    assert!(std::error::Error::source(&e).is_some());
    PostgresMemory::<Probe>::builder("postgres://u@127.0.0.1/db")
        .schema("Mixed_Case_9")
        .build()
        .unwrap();
}

/// A record with a parent, for the hierarchy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Node {
    parent: Option<String>,
    done: bool,
}

fn node(parent: Option<&str>, done: bool) -> Node {
    Node {
        parent: parent.map(str::to_owned),
        done,
    }
}

async fn node_memory(url: &str, schema: &str) -> PostgresMemory<Node> {
    let m = PostgresMemory::<Node>::builder(url)
        .schema(schema)
        .parent_subject(|n: &Node| n.parent.as_deref())
        .finished_when(|n: &Node| n.done)
        .build()
        .unwrap();
    m.migrate().await.unwrap();
    m
}

#[tokio::test]
async fn hierarchy_queries() {
    let Some(url) = postgres_url("hierarchy_queries") else {
        return;
    };
    let schema = unique("arvo_tree");
    let m = node_memory(&url, &schema).await;
    //   r1 -> a -> c ;  r1 -> b ;  r2 ;  orphan (parent gone) -> o
    for (s, p) in [
        ("r1", None),
        ("a", Some("r1")),
        ("b", Some("r1")),
        ("c", Some("a")),
        ("r2", None),
        ("o", Some("gone")),
    ] {
        m.write(s, node(p, false), None, None).await.unwrap();
    }
    assert_eq!(m.children("r1", 10).await.unwrap(), ["a", "b"]);
    assert_eq!(m.children("r1", 1).await.unwrap(), ["a"]);
    assert_eq!(m.children("a", 10).await.unwrap(), ["c"]);
    assert!(m.children("c", 10).await.unwrap().is_empty());
    assert_eq!(m.roots(10).await.unwrap(), ["r1", "r2"]);
    assert_eq!(m.root_of("c").await.unwrap().as_deref(), Some("r1"));
    assert_eq!(m.root_of("r1").await.unwrap().as_deref(), Some("r1"));
    assert_eq!(m.root_of("o").await.unwrap().as_deref(), Some("gone"));
    assert_eq!(m.root_of("nobody").await.unwrap(), None);
    assert_eq!(
        m.subjects_by_root("r1", 10).await.unwrap(),
        ["r1", "a", "b", "c"]
    );
    assert_eq!(m.subjects_by_root("r1", 2).await.unwrap(), ["r1", "a"]);
    assert!(m.subjects_by_root("nobody", 10).await.unwrap().is_empty());
    // A later record without a parent (a failure record has none) keeps the stored parent.
    let v = m.read("c").await.unwrap().unwrap().version;
    m.write("c", node(None, false), Some(v), None)
        .await
        .unwrap();
    assert_eq!(m.root_of("c").await.unwrap().as_deref(), Some("r1"));
    // Subjects with quotes and SQL in them are data, nothing else.
    let odd = "x'); DROP TABLE machine_state; --";
    m.write(odd, node(Some("r2"), false), None, None)
        .await
        .unwrap();
    assert_eq!(m.children("r2", 10).await.unwrap(), [odd]);
    drop_schemas(&m, &schema).await;
}

#[tokio::test]
async fn subjects_of_any_length_are_stored() {
    let Some(url) = postgres_url("subjects_of_any_length_are_stored") else {
        return;
    };
    let schema = unique("arvo_long");
    let m = node_memory(&url, &schema).await;
    // Over the ~2.7 KB a B-tree index entry may hold (after compression: real subjects are
    // base64, so these are random letters), up to the longest subject `subject::parse` takes.
    let parent = format!("p{}", conformance::incompressible_text(10_000));
    let child = format!(
        "c{}",
        conformance::incompressible_text(arvo_runtime::subject::MAX_SUBJECT_LEN - 1)
    );
    let v1 = m
        .write(&parent, node(None, false), None, None)
        .await
        .unwrap();
    m.write(&child, node(Some(&parent), false), None, None)
        .await
        .unwrap();
    assert_eq!(m.read(&parent).await.unwrap().unwrap().version, v1);
    // Compare-and-swap, and a second insert refused.
    let v2 = m
        .write(&parent, node(None, true), Some(v1), None)
        .await
        .unwrap();
    assert!(v2 > v1);
    let stale = m.write(&parent, node(None, false), Some(v1), None).await;
    assert!(
        matches!(stale, Err(MemoryError::Conflict { .. })),
        "{stale:?}"
    );
    let again = m.write(&child, node(None, false), None, None).await;
    assert!(
        matches!(again, Err(MemoryError::Conflict { .. })),
        "{again:?}"
    );
    // Leases and fenced writes.
    let mut lease = m.lock(&child, Duration::from_secs(5)).await.unwrap();
    assert!(
        m.try_lock(&child, Duration::from_secs(5))
            .await
            .unwrap()
            .is_none()
    );
    m.renew(&mut lease, Duration::from_secs(5)).await.unwrap();
    let v = m.read(&child).await.unwrap().unwrap().version;
    m.write(&child, node(Some(&parent), true), Some(v), Some(&lease))
        .await
        .unwrap();
    assert!(m.unlock(&lease).await.unwrap());
    // The hierarchy and the listing.
    assert_eq!(
        m.children(&parent, 10).await.unwrap(),
        std::slice::from_ref(&child)
    );
    assert_eq!(m.root_of(&child).await.unwrap(), Some(parent.clone()));
    assert_eq!(
        m.subjects_by_root(&parent, 10).await.unwrap(),
        [parent.clone(), child.clone()]
    );
    let first = m.list(None, 1).await.unwrap();
    let rest = m.list(Some(&first[0].0), 10).await.unwrap();
    let mut listed: Vec<String> = first.iter().chain(&rest).map(|(s, _)| s.clone()).collect();
    listed.sort();
    assert_eq!(listed, [child.clone(), parent.clone()]); // "c.." < "p.."
    assert!(m.delete(&child, None).await.unwrap());
    assert!(m.read(&child).await.unwrap().is_none());
    drop_schemas(&m, &schema).await;
}

#[tokio::test]
async fn a_version_1_schema_is_upgraded_in_place() {
    let Some(url) = postgres_url("a_version_1_schema_is_upgraded_in_place") else {
        return;
    };
    let schema = unique("arvo_v1");
    let m = PostgresMemory::<Node>::builder(&url)
        .schema(&schema)
        .parent_subject(|n: &Node| n.parent.as_deref())
        .finished_when(|n: &Node| n.done)
        .build()
        .unwrap();
    // Version 1 as it was released, with a record, its child and the child's live lease.
    let client = m.pool().get().await.unwrap();
    client
        .batch_execute(&format!(
            r#"CREATE SCHEMA "{schema}";
CREATE TABLE "{schema}".arvo_schema_version (version integer PRIMARY KEY,
    description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE "{schema}".machine_state (
    subject        text PRIMARY KEY,
    version        bigint GENERATED BY DEFAULT AS IDENTITY,
    data           json NOT NULL,
    parent_subject text,
    finished_at    timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX machine_state_parent ON "{schema}".machine_state (parent_subject);
CREATE INDEX machine_state_finished ON "{schema}".machine_state (finished_at) WHERE finished_at IS NOT NULL;
CREATE TABLE "{schema}".machine_lock (
    subject    text PRIMARY KEY,
    token      uuid NOT NULL,
    expires_at timestamptz NOT NULL
);
INSERT INTO "{schema}".arvo_schema_version (version, description)
    VALUES (1, 'state, lease and hierarchy tables');
INSERT INTO "{schema}".machine_state (subject, data, parent_subject) VALUES
    ('old-root', '{{"parent":null,"done":false}}', NULL),
    ('old-child', '{{"parent":"old-root","done":false}}', 'old-root');
INSERT INTO "{schema}".machine_lock VALUES
    ('old-child', '00000000-0000-4000-8000-000000000001', now() + interval '1 hour');"#
        ))
        .await
        .unwrap();
    drop(client);
    let e = m.verify_schema().await.unwrap_err();
    assert!(
        matches!(
            e,
            PostgresSetupError::SchemaVersion {
                found: 1,
                needed: 2,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(m.migrate().await.unwrap(), vec![2]);
    m.verify_schema().await.unwrap();
    // The old rows are keyed like new ones: found, refused as a second insert, updated.
    let root = m.read("old-root").await.unwrap().unwrap();
    assert_eq!(root.value, node(None, false));
    let again = m.write("old-root", node(None, false), None, None).await;
    assert!(
        matches!(again, Err(MemoryError::Conflict { .. })),
        "{again:?}"
    );
    m.write("old-root", node(None, true), Some(root.version), None)
        .await
        .unwrap();
    assert_eq!(m.children("old-root", 10).await.unwrap(), ["old-child"]);
    // The child's lease survived the upgrade.
    assert!(
        m.try_lock("old-child", Duration::from_secs(5))
            .await
            .unwrap()
            .is_none()
    );
    drop_schemas(&m, &schema).await;
}

#[tokio::test]
async fn cleanup_removes_finished_workflows_only() {
    let Some(url) = postgres_url("cleanup_removes_finished_workflows_only") else {
        return;
    };
    let schema = unique("arvo_clean");
    let m = node_memory(&url, &schema).await;
    let v = m
        .write("running", node(None, false), None, None)
        .await
        .unwrap();
    let _ = v;
    m.write("done", node(None, true), None, None).await.unwrap();
    m.write("held", node(None, true), None, None).await.unwrap();
    let v = m
        .write("finishing", node(None, false), None, None)
        .await
        .unwrap();
    m.write("finishing", node(None, true), Some(v), None)
        .await
        .unwrap();
    let lease = m.lock("held", Duration::from_secs(30)).await.unwrap();
    // A long retention keeps them all.
    let report = m.cleanup_finished(Duration::from_secs(3600)).await.unwrap();
    assert_eq!(report.records, 0);
    assert!(m.read("done").await.unwrap().is_some());
    // Retention zero: finished and not held -> gone.
    let report = m.cleanup_finished(Duration::ZERO).await.unwrap();
    assert_eq!(report.records, 2, "{report:?}");
    assert!(m.read("done").await.unwrap().is_none());
    assert!(m.read("finishing").await.unwrap().is_none());
    assert!(m.read("running").await.unwrap().is_some());
    assert!(
        m.read("held").await.unwrap().is_some(),
        "a leased record is kept"
    );
    m.unlock(&lease).await.unwrap();
    // An expired lease is removed by the cleanup, with the finished record it no longer holds.
    let short = m.lock("held", Duration::from_millis(20)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(60)).await;
    let report = m.cleanup_finished(Duration::ZERO).await.unwrap();
    assert_eq!((report.records, report.leases), (1, 1), "{report:?}");
    assert!(!m.unlock(&short).await.unwrap());
    drop_schemas(&m, &schema).await;
}

fn quick_policy() -> LockPolicy {
    LockPolicy {
        max_retries: 3,
        initial_delay: Duration::from_millis(20),
        backoff_exponent: 2.0,
        ttl: Duration::from_secs(30),
    }
}

#[tokio::test]
async fn a_down_server_gives_a_transaction_violation_after_the_retries() {
    // Port 1 on localhost: nothing listens, every connection is refused.
    let m = PostgresMemory::<CalcRecord>::builder("postgres://postgres@127.0.0.1:1/test")
        .lock_policy(quick_policy())
        .connect_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let start = Instant::now();
    let e = m.read("s").await.unwrap_err();
    let waited = start.elapsed();
    // Three retries after 20, 40 and 80 ms.
    assert!(waited >= Duration::from_millis(140), "{waited:?}");
    assert!(
        matches!(
            e,
            MemoryError::Backend {
                op: MemoryOp::Read,
                ..
            }
        ),
        "{e:?}"
    );
    let mut chain = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(&e);
    while let Some(s) = source {
        chain.push_str(&format!("{s} | "));
        source = s.source();
    }
    assert!(chain.to_lowercase().contains("refused"), "{chain}");
    assert!(matches!(
        m.try_lock("s", Duration::from_secs(1)).await.unwrap_err(),
        MemoryError::Backend {
            op: MemoryOp::Lock,
            ..
        }
    ));
    assert!(matches!(
        m.write("s", workflows_record(), None, None)
            .await
            .unwrap_err(),
        MemoryError::Backend {
            op: MemoryOp::Write,
            ..
        }
    ));
    // Through the orchestration wrapper: a Transaction violation, with and without locking.
    for locking in [false, true] {
        let r = arvo_runtime::resumable::ArvoResumable::builder(
            common_resumable::CalcFlow::orchestrator_contract().clone(),
            m.clone(),
        )
        .requires_locking(locking)
        .handler::<common_resumable::CalcFlowV1_0_0, _>(Arc::new(common_resumable::CalcResumable))
        .build()
        .unwrap();
        let v = r
            .execute(&workflows::calc_init(1.0, 2.0), ParentContext::Event)
            .await
            .unwrap_err();
        let expected = if locking {
            TransactionCause::LockFailure
        } else {
            TransactionCause::ReadFailure
        };
        assert!(
            matches!(&v, Violation::Transaction { cause, .. } if *cause == expected),
            "{v}"
        );
    }
}

#[tokio::test]
async fn a_hung_server_times_out_and_gives_up_after_the_retries() {
    let addr = common_backends::black_hole().await;
    let m = PostgresMemory::<Probe>::builder(format!("postgres://postgres@{addr}/test"))
        .lock_policy(quick_policy())
        .connect_timeout(Duration::from_millis(100))
        .operation_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    // No connection is ever established: nothing ran, so reads and writes are retried.
    for op in [MemoryOp::Read, MemoryOp::Write] {
        let start = Instant::now();
        let e = match op {
            MemoryOp::Read => m.read("s").await.map(|_| ()).unwrap_err(),
            _ => m
                .write("s", Probe::new(1, "x"), None, None)
                .await
                .map(|_| ())
                .unwrap_err(),
        };
        let took = start.elapsed();
        assert!(
            matches!(&e, MemoryError::Backend { op: o, .. } if *o == op),
            "{e:?}"
        );
        assert!(
            took >= Duration::from_millis(4 * 100 + 140),
            "{op}: {took:?}"
        );
        assert!(took < Duration::from_secs(5), "{op}: {took:?}");
    }
    let e = m.migrate().await.unwrap_err();
    assert!(matches!(e, PostgresSetupError::Connect { .. }), "{e}");
}

fn workflows_record() -> CalcRecord {
    serde_json::from_value(
        serde_json::json!({"executionStatus": "failure", "subject": "s",
        "error": {"errorName": "E", "errorMessage": "m", "errorStack": null}}),
    )
    .unwrap()
}

#[tokio::test]
async fn a_slow_server_times_out_retries_and_writes_nothing_half() {
    let Some(url) = postgres_url("a_slow_server_times_out_retries_and_writes_nothing_half") else {
        return;
    };
    let schema = unique("arvo_slow");
    let m = PostgresMemory::<Probe>::builder(&url)
        .schema(&schema)
        .lock_policy(quick_policy())
        .statement_timeout(Duration::from_millis(150))
        .build()
        .unwrap();
    m.migrate().await.unwrap();
    let v1 = m
        .write("s", Probe::new(1, "before"), None, None)
        .await
        .unwrap();
    // Another session holds the table exclusively: every statement on it blocks.
    let blocker = PostgresMemory::<Probe>::builder(&url)
        .schema(&schema)
        .build()
        .unwrap();
    let mut client = blocker.pool().get().await.unwrap();
    let tx = client.transaction().await.unwrap();
    tx.batch_execute(&format!(
        "LOCK TABLE \"{schema}\".machine_state IN ACCESS EXCLUSIVE MODE"
    ))
    .await
    .unwrap();
    let start = Instant::now();
    let e = m.read("s").await.unwrap_err();
    let waited = start.elapsed();
    // Four attempts of 150 ms each, and the waits between them.
    assert!(waited >= Duration::from_millis(4 * 150 + 140), "{waited:?}");
    assert!(
        matches!(
            e,
            MemoryError::Backend {
                op: MemoryOp::Read,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        format!("{:?}", std::error::Error::source(&e)).contains("cancel"),
        "{e:?}"
    );
    // A write: cancelled by the timeout (so retried), then reported.
    let e = m
        .write("s", Probe::new(2, "during"), Some(v1), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            MemoryError::Backend {
                op: MemoryOp::Write,
                ..
            }
        ),
        "{e:?}"
    );
    tx.rollback().await.unwrap();
    drop(client);
    // Nothing was written, the record is whole and still takes the next CAS.
    let now = m.read("s").await.unwrap().unwrap();
    assert_eq!((now.value, now.version), (Probe::new(1, "before"), v1));
    m.write("s", Probe::new(2, "after"), Some(v1), None)
        .await
        .unwrap();
    drop_schemas(&m, &schema).await;
}

/// A record `serde_json` could not read back is refused on write, the stored one kept (a JSONB
/// column takes such a record, and every later read of it had failed).
#[tokio::test]
async fn records_too_deep_to_read_back_are_refused() {
    let Some(url) = postgres_url("records_too_deep_to_read_back_are_refused") else {
        return;
    };
    let schema = unique("arvo_deep");
    let m = memory::<serde_json::Value>(&url, &schema).await;
    conformance::records_too_deep_to_read_back_are_refused(&m).await;
    drop_schemas(&m, &schema).await;
}

#[tokio::test]
async fn a_corrupt_record_is_a_serialization_error() {
    let Some(url) = postgres_url("a_corrupt_record_is_a_serialization_error") else {
        return;
    };
    let schema = unique("arvo_corrupt");
    let m = memory::<Probe>(&url, &schema).await;
    let client = m.pool().get().await.unwrap();
    client
        .execute(
            &format!("INSERT INTO \"{schema}\".machine_state (subject, data) VALUES ($1, '{{\"count\": \"x\"}}')"),
            &[&"bad"],
        )
        .await
        .unwrap();
    drop(client);
    let e = m.read("bad").await.unwrap_err();
    assert!(
        matches!(
            e,
            MemoryError::Serialization {
                op: MemoryOp::Read,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(std::error::Error::source(&e).is_some());
    drop_schemas(&m, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_workflows_and_parent_child_on_postgres() {
    let Some(url) = postgres_url("broker_workflows_and_parent_child_on_postgres") else {
        return;
    };
    let schema = unique("arvo_wf");
    let calc = workflow_memory(&url, &schema, LockPolicy::default()).await;
    workflows::broker_resolves_workflows(calc.clone(), 20).await;
    let parents = workflow_memory::<String>(&url, &schema, LockPolicy::default()).await;
    let family = workflows::parent_starts_a_child(parents.clone(), calc.clone()).await;
    // The hierarchy, as the wrapper wrote it: the child record names its parent.
    assert_eq!(
        calc.children(&family.parent, 10).await.unwrap(),
        std::slice::from_ref(&family.child)
    );
    assert_eq!(
        calc.root_of(&family.child).await.unwrap(),
        Some(family.parent.clone())
    );
    assert_eq!(
        calc.subjects_by_root(&family.parent, 10).await.unwrap(),
        [family.parent.clone(), family.child.clone()]
    );
    // All finished: the cleanup removes them.
    let report = calc.cleanup_finished(Duration::ZERO).await.unwrap();
    assert_eq!(report.records, 22);
    assert!(calc.read(&family.child).await.unwrap().is_none());
    drop_schemas(&calc, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_the_server_closes_are_replaced() {
    let Some(url) = postgres_url("connections_the_server_closes_are_replaced") else {
        return;
    };
    // The memory's connections carry a name of their own, so the cut closes only them (as a
    // server restart or a failover closes every connection).
    let app = unique("arvo_cut");
    let schema = unique("arvo_cut");
    let separator = if url.contains('?') { '&' } else { '?' };
    let memory =
        PostgresMemory::<CalcRecord>::builder(format!("{url}{separator}application_name={app}"))
            .schema(&schema)
            .pool_size(4)
            .build()
            .unwrap();
    memory.migrate().await.unwrap();
    let (admin, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let admin = Arc::new(admin);
    workflows::steps_survive_lost_connections(memory.clone(), 5, || {
        let (admin, app) = (admin.clone(), app.clone());
        async move {
            admin
                .query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
                    &[&app],
                )
                .await
                .unwrap()
                .len()
        }
    })
    .await;
    drop_schemas(&memory, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_tasks_random_order_with_duplicates_on_postgres() {
    let Some(url) = postgres_url("eight_tasks_random_order_with_duplicates_on_postgres") else {
        return;
    };
    let schema = unique("arvo_conc");
    let policy = LockPolicy {
        max_retries: 50,
        initial_delay: Duration::from_millis(1),
        backoff_exponent: 1.2,
        ..LockPolicy::default()
    };
    let m = workflow_memory(&url, &schema, policy).await;
    workflows::eight_tasks_random_order_with_duplicates(m.clone(), 300).await;
    drop_schemas(&m, &schema).await;
}
