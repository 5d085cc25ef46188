//! The Redis machine memory (`memory::redis`, feature `redis`) against a real server
//! (`ARVO_TEST_REDIS_URL`; skipped with a note when unset, a failure when `CI=true`): the
//! conformance suite, the key layout and TTLs, a down server, a connection the server closes,
//! corrupt records, and the resumable workflows (broker, parent/child, 8 concurrent tasks).
//! Every test uses its own key prefix (random suffix), whose keys are deleted at the end.
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common_backends;
mod common_resumable;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use arvo_runtime::handler::{ParentContext, TransactionCause, Violation};
use arvo_runtime::memory::conformance::{self, Probe};
use arvo_runtime::memory::redis::{RedisMemory, RedisSetupError};
use arvo_runtime::memory::{LockPolicy, MachineMemory, MemoryError, MemoryOp, MemoryRecord};
use arvo_runtime::resumable::{ResumableMemoryRecord, ResumableStatus};
use common_backends::workflows::{self, CalcRecord};
use common_backends::{redis_url, unique};

fn memory<T: MemoryRecord>(url: &str, prefix: &str) -> RedisMemory<T> {
    RedisMemory::builder(url)
        .key_prefix(prefix)
        .build()
        .unwrap()
}

/// Deletes every key under `prefix`.
async fn drop_keys<T: MemoryRecord>(m: &RedisMemory<T>, prefix: &str) {
    let mut c = m.connection();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut c)
        .await
        .unwrap();
    if !keys.is_empty() {
        let _: i64 = redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut c)
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_memory_conforms() {
    let Some(url) = redis_url("redis_memory_conforms") else {
        return;
    };
    let base = unique("arvo-conf");
    let n = Arc::new(AtomicUsize::new(0));
    let (u, b, counter) = (url.clone(), base.clone(), Arc::clone(&n));
    conformance::run_all("redis", move |namespace| {
        counter.fetch_add(1, Ordering::SeqCst);
        let m = memory::<Probe>(&u, &format!("{b}:{namespace}:"));
        async move { m }
    })
    .await;
    assert_eq!(n.load(Ordering::SeqCst), conformance::CASES.len());
    drop_keys(&memory::<Probe>(&url, &base), &base).await;
}

#[tokio::test]
async fn keys_leases_and_ttls() {
    let Some(url) = redis_url("keys_leases_and_ttls") else {
        return;
    };
    let prefix = format!("{}:", unique("arvo-ttl"));
    let m = RedisMemory::<Probe>::builder(&url)
        .key_prefix(&prefix)
        .record_ttl(Duration::from_secs(3600))
        .finished_when(|p: &Probe| p.note == "done")
        .finished_ttl(Duration::from_millis(300))
        .build()
        .unwrap();
    let mut c = m.connection();
    let base = m.connection();
    let pttl = |key: String| {
        let mut c = base.clone();
        async move {
            redis::cmd("PTTL")
                .arg(key)
                .query_async::<i64>(&mut c)
                .await
                .unwrap()
        }
    };
    // The lease is a plain key holding the token, with the TTL.
    let lease = m.lock("s", Duration::from_secs(10)).await.unwrap();
    let token: String = redis::cmd("GET")
        .arg(m.lease_key("s"))
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(token, lease.token().to_string());
    let t = pttl(m.lease_key("s")).await;
    assert!((9_000..=10_000).contains(&t), "{t}");
    // A running workflow's record lives for the record TTL; a finished one for the finished TTL.
    let v = m
        .write("s", Probe::new(1, "running"), None, Some(&lease))
        .await
        .unwrap();
    let t = pttl(m.state_key("s")).await;
    assert!((3_590_000..=3_600_000).contains(&t), "{t}");
    m.write("s", Probe::new(2, "done"), Some(v), Some(&lease))
        .await
        .unwrap();
    let t = pttl(m.state_key("s")).await;
    assert!((1..=300).contains(&t), "{t}");
    assert!(m.unlock(&lease).await.unwrap());
    assert!(m.read("s").await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        m.read("s").await.unwrap().is_none(),
        "the finished record expired"
    );
    // Without a record TTL, records do not expire.
    let plain = memory::<Probe>(&url, &prefix);
    plain
        .write("p", Probe::new(1, "x"), None, None)
        .await
        .unwrap();
    assert_eq!(pttl(plain.state_key("p")).await, -1);
    // Another prefix is another namespace.
    let other = memory::<Probe>(&url, &format!("{prefix}other:"));
    assert!(other.read("p").await.unwrap().is_none());
    drop_keys(&m, &prefix).await;
}

/// A record `serde_json` could not read back is refused on write, the stored one kept.
#[tokio::test]
async fn records_too_deep_to_read_back_are_refused() {
    let Some(url) = redis_url("records_too_deep_to_read_back_are_refused") else {
        return;
    };
    let prefix = format!("{}:", unique("arvo-deep"));
    let m = memory::<serde_json::Value>(&url, &prefix);
    conformance::records_too_deep_to_read_back_are_refused(&m).await;
    drop_keys(&m, &prefix).await;
}

#[tokio::test]
async fn a_corrupt_record_is_a_serialization_error() {
    let Some(url) = redis_url("a_corrupt_record_is_a_serialization_error") else {
        return;
    };
    let prefix = format!("{}:", unique("arvo-corrupt"));
    let m = memory::<Probe>(&url, &prefix);
    let mut c = m.connection();
    let _: i64 = redis::cmd("HSET")
        .arg(m.state_key("bad"))
        .arg("v")
        .arg(1)
        .arg("d")
        .arg("{\"count\": \"x\"}")
        .query_async(&mut c)
        .await
        .unwrap();
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
    // A CAS against it still works: the version is intact.
    let v = m
        .write(
            "bad",
            Probe::new(1, "fixed"),
            Some(arvo_runtime::memory::Version::from_raw(1)),
            None,
        )
        .await
        .unwrap();
    assert_eq!(m.read("bad").await.unwrap().unwrap().version, v);
    drop_keys(&m, &prefix).await;
}

#[test]
fn a_bad_url_is_a_setup_error() {
    let e = RedisMemory::<Probe>::builder("nope://x")
        .build()
        .unwrap_err();
    assert!(matches!(e, RedisSetupError::InvalidUrl(_)), "{e}");
    assert!(std::error::Error::source(&e).is_some());
}

#[tokio::test]
async fn a_down_server_gives_a_transaction_violation_after_the_retries() {
    let m = RedisMemory::<CalcRecord>::builder("redis://127.0.0.1:1")
        .lock_policy(LockPolicy {
            max_retries: 3,
            initial_delay: Duration::from_millis(20),
            backoff_exponent: 2.0,
            ttl: Duration::from_secs(30),
        })
        .connect_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let start = Instant::now();
    let e = m.read("s").await.unwrap_err();
    let waited = start.elapsed();
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
    assert!(std::error::Error::source(&e).is_some());
    assert!(matches!(
        m.try_lock("s", Duration::from_secs(1)).await.unwrap_err(),
        MemoryError::Backend {
            op: MemoryOp::Lock,
            ..
        }
    ));
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
async fn a_hung_server_times_out_and_retries_reads_only() {
    let addr = common_backends::black_hole().await;
    let m = RedisMemory::<Probe>::builder(format!("redis://{addr}"))
        .lock_policy(LockPolicy {
            max_retries: 2,
            initial_delay: Duration::from_millis(10),
            backoff_exponent: 1.0,
            ttl: Duration::from_secs(30),
        })
        .connect_timeout(Duration::from_millis(100))
        .response_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    // A read is retried (3 attempts of at least 100 ms each), then reported.
    let start = Instant::now();
    let e = m.read("s").await.unwrap_err();
    let read_took = start.elapsed();
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
    assert!(read_took >= Duration::from_millis(300), "{read_took:?}");
    // A write's outcome is unknown after a timeout: reported after one attempt, not retried.
    let start = Instant::now();
    let e = m
        .write("s", Probe::new(1, "x"), None, None)
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
    assert!(
        start.elapsed() < read_took,
        "{:?} vs {read_took:?}",
        start.elapsed()
    );
}

fn workflow_memory<C: MemoryRecord>(
    url: &str,
    prefix: &str,
    policy: LockPolicy,
) -> RedisMemory<ResumableMemoryRecord<C>> {
    RedisMemory::<ResumableMemoryRecord<C>>::builder(url)
        .key_prefix(prefix)
        .lock_policy(policy)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_workflows_and_parent_child_on_redis() {
    let Some(url) = redis_url("broker_workflows_and_parent_child_on_redis") else {
        return;
    };
    let prefix = format!("{}:", unique("arvo-wf"));
    let calc = workflow_memory(&url, &prefix, LockPolicy::default());
    workflows::broker_resolves_workflows(calc.clone(), 20).await;
    let parents =
        workflow_memory::<String>(&url, &format!("{prefix}parent:"), LockPolicy::default());
    let family = workflows::parent_starts_a_child(parents, calc.clone()).await;
    assert_eq!(
        workflows::status(&calc, &family.child).await,
        ResumableStatus::Done
    );
    drop_keys(&calc, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_the_server_closes_is_replaced() {
    let Some(url) = redis_url("a_connection_the_server_closes_is_replaced") else {
        return;
    };
    let prefix = format!("{}:", unique("arvo-cut"));
    let memory = workflow_memory(&url, &prefix, LockPolicy::default());
    let client = redis::Client::open(url.as_str()).unwrap();
    let admin = client.get_multiplexed_async_connection().await.unwrap();
    // The cut closes the memory's connection only (as a server restart closes every one).
    workflows::steps_survive_lost_connections(memory.clone(), 5, || {
        let (mut admin, mut own) = (admin.clone(), memory.connection());
        async move {
            let id: i64 = redis::cmd("CLIENT")
                .arg("ID")
                .query_async(&mut own)
                .await
                .unwrap();
            redis::cmd("CLIENT")
                .arg("KILL")
                .arg("ID")
                .arg(id)
                .query_async::<usize>(&mut admin)
                .await
                .unwrap()
        }
    })
    .await;
    drop_keys(&memory, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_tasks_random_order_with_duplicates_on_redis() {
    let Some(url) = redis_url("eight_tasks_random_order_with_duplicates_on_redis") else {
        return;
    };
    let prefix = format!("{}:", unique("arvo-conc"));
    let policy = LockPolicy {
        max_retries: 50,
        initial_delay: Duration::from_millis(1),
        backoff_exponent: 1.2,
        ..LockPolicy::default()
    };
    let m = workflow_memory(&url, &prefix, policy);
    workflows::eight_tasks_random_order_with_duplicates(m.clone(), 300).await;
    drop_keys(&m, &prefix).await;
}
