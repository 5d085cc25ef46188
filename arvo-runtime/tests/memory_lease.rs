//! Lease locks of the in-memory machine memory: owner tokens, TTL expiry and takeover, fencing
//! of stale holders, renewal, and lock retries with exponential backoff. Time is paused
//! (`start_paused`), so TTLs and backoff waits elapse instantly and exactly.

use std::time::Duration;

use arvo_runtime::memory::{
    InMemoryMemory, Lease, LeaseToken, LockPolicy, MachineMemory, MemoryError, MemoryOp,
    TransactionCause,
};
use tokio::time::{Instant, advance};

const TTL: Duration = Duration::from_secs(1);

fn memory() -> InMemoryMemory<String> {
    InMemoryMemory::new()
}

#[tokio::test(start_paused = true)]
async fn unlock_by_a_non_holder_does_nothing() {
    let m = memory();
    let lease = m.lock("s", TTL).await.expect("free subject");

    // Somebody with a forged/foreign token (same subject) cannot release it.
    let intruder = Lease::new("s", LeaseToken::random(), Instant::now() + TTL);
    assert!(!m.unlock(&intruder).await.expect("unlock runs"));
    assert!(
        m.try_lock("s", TTL).await.expect("try_lock runs").is_none(),
        "still held"
    );
    // Nor can it write under its fake lease.
    let err = m
        .write("s", "x".into(), None, Some(&intruder))
        .await
        .expect_err("fenced");
    assert_eq!(
        err,
        MemoryError::StaleLease {
            op: MemoryOp::Write,
            id: "s".into(),
            token: intruder.token()
        }
    );

    // A lease of another subject does not fence this one either.
    let other = m.lock("t", TTL).await.expect("free subject");
    let err = m
        .write("s", "x".into(), None, Some(&other))
        .await
        .expect_err("wrong subject");
    assert!(matches!(err, MemoryError::StaleLease { .. }));

    // The holder still can write and release.
    m.write("s", "mine".into(), None, Some(&lease))
        .await
        .expect("holder writes");
    assert!(m.unlock(&lease).await.expect("unlock runs"));
    assert!(
        m.try_lock("s", TTL).await.expect("try_lock runs").is_some(),
        "released"
    );
}

#[tokio::test(start_paused = true)]
async fn an_expired_lease_is_taken_over() {
    let m = memory();
    let a = m.lock("s", TTL).await.expect("free subject");
    advance(TTL - Duration::from_millis(1)).await;
    assert!(
        m.try_lock("s", TTL).await.expect("runs").is_none(),
        "live until the deadline"
    );
    advance(Duration::from_millis(1)).await;
    let b = m
        .try_lock("s", TTL)
        .await
        .expect("runs")
        .expect("expired lease is taken over");
    assert_ne!(a.token(), b.token());
    assert_eq!(b.deadline(), Instant::now() + TTL);
}

#[tokio::test(start_paused = true)]
async fn a_stale_holder_cannot_write_after_takeover() {
    let m = memory();
    let a = m.lock("s", TTL).await.expect("free subject");
    let v1 = m
        .write("s", "a1".into(), None, Some(&a))
        .await
        .expect("holder writes");

    advance(TTL * 2).await; // a stalls past its TTL
    let b = m.lock("s", TTL).await.expect("takeover");

    // a wakes up and tries to continue: every fenced operation is refused...
    let err = m
        .write("s", "a2".into(), Some(v1), Some(&a))
        .await
        .expect_err("fenced");
    assert_eq!(
        err,
        MemoryError::StaleLease {
            op: MemoryOp::Write,
            id: "s".into(),
            token: a.token()
        }
    );
    assert_eq!(err.cause(), TransactionCause::WriteFailure);
    assert!(matches!(
        m.delete("s", Some(&a)).await,
        Err(MemoryError::StaleLease {
            op: MemoryOp::Delete,
            ..
        })
    ));
    let mut a = a;
    assert!(matches!(
        m.renew(&mut a, TTL).await,
        Err(MemoryError::StaleLease {
            op: MemoryOp::Renew,
            ..
        })
    ));
    // ...and its unlock does not release b's lease.
    assert!(!m.unlock(&a).await.expect("runs"));
    assert!(
        m.try_lock("s", TTL).await.expect("runs").is_none(),
        "b still holds"
    );

    // Nothing of a's landed; b continues from a's last successful write.
    let current = m.read("s").await.expect("read").expect("record");
    assert_eq!((current.value.as_str(), current.version), ("a1", v1));
    m.write("s", "b1".into(), Some(v1), Some(&b))
        .await
        .expect("new holder writes");
    assert!(m.unlock(&b).await.expect("runs"));
}

#[tokio::test(start_paused = true)]
async fn an_expired_lease_cannot_write_even_before_takeover_but_can_release() {
    let m = memory();
    let a = m.lock("s", TTL).await.expect("free subject");
    advance(TTL).await;
    let err = m
        .write("s", "late".into(), None, Some(&a))
        .await
        .expect_err("expired");
    assert!(matches!(err, MemoryError::StaleLease { .. }));
    assert!(m.read("s").await.expect("read").is_none());
    // Nobody took over, so the former holder's release still clears it.
    assert!(m.unlock(&a).await.expect("runs"));
}

#[tokio::test(start_paused = true)]
async fn renew_extends_the_lease() {
    let m = memory();
    let mut a = m.lock("s", TTL).await.expect("free subject");
    advance(Duration::from_millis(800)).await;
    m.renew(&mut a, TTL).await.expect("still held");
    assert_eq!(a.remaining(), TTL);
    advance(Duration::from_millis(800)).await; // 1.6 s after the lock, 0.8 s after the renewal
    assert!(m.try_lock("s", TTL).await.expect("runs").is_none());
    m.write("s", "ok".into(), None, Some(&a))
        .await
        .expect("renewed lease writes");
    advance(Duration::from_millis(200)).await;
    assert!(
        m.try_lock("s", TTL).await.expect("runs").is_some(),
        "expired after the renewed TTL"
    );
}

#[tokio::test(start_paused = true)]
async fn lock_retries_with_backoff_and_succeeds_when_released_in_time() {
    let m = memory();
    assert_eq!(m.lock_policy(), LockPolicy::default());
    let holder = m
        .lock("s", Duration::from_secs(120))
        .await
        .expect("free subject");
    let releaser = {
        let m = m.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            m.unlock(&holder).await
        })
    };
    let start = Instant::now();
    let lease = m.lock("s", TTL).await.expect("acquired on a retry");
    // Attempts at 0, 100 and 250 ms (waits of 100 and 150 ms); released at 200 ms.
    assert_eq!(start.elapsed(), Duration::from_millis(250));
    assert_eq!(releaser.await.expect("task ran"), Ok(true));
    assert_eq!(lease.subject(), "s");
}

#[tokio::test(start_paused = true)]
async fn lock_fails_with_lock_unacquired_when_the_holder_keeps_it() {
    let m = memory();
    let _holder = m
        .lock("s", Duration::from_secs(120))
        .await
        .expect("free subject");
    let start = Instant::now();
    let err = m.lock("s", TTL).await.expect_err("held throughout");
    // 1 attempt + 3 retries after waits of 100, 150 and 225 ms.
    assert_eq!(start.elapsed(), Duration::from_millis(475));
    assert_eq!(
        err,
        MemoryError::LockUnacquired {
            id: "s".into(),
            attempts: 4
        }
    );
    assert_eq!(err.transaction_cause(), "LOCK_UNACQUIRED");
    assert_eq!(
        err.to_string(),
        "lock on 's' is held by another owner (gave up after 4 attempts)"
    );
}

#[tokio::test(start_paused = true)]
async fn lock_takes_over_a_lease_that_expires_during_the_retries() {
    let m = memory();
    let _crashed = m
        .lock("s", Duration::from_millis(200))
        .await
        .expect("free subject");
    let start = Instant::now();
    m.lock("s", TTL).await.expect("taken over after expiry");
    assert_eq!(start.elapsed(), Duration::from_millis(250));
}

#[tokio::test(start_paused = true)]
async fn lock_policy_is_configurable() {
    let policy = LockPolicy {
        max_retries: 0,
        initial_delay: Duration::from_millis(5),
        backoff_exponent: 2.0,
        ttl: Duration::from_secs(9),
    };
    assert_eq!(
        (1..4).map(|n| policy.delay(n)).collect::<Vec<_>>(),
        [10, 20, 40].map(Duration::from_millis)
    );
    let m = InMemoryMemory::<String>::with_policy(policy);
    let _holder = m.lock("s", TTL).await.expect("free subject");
    let start = Instant::now();
    let err = m.lock("s", TTL).await.expect_err("no retries");
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(
        err,
        MemoryError::LockUnacquired {
            id: "s".into(),
            attempts: 1
        }
    );
}

#[test]
fn backoff_delays_are_bounded_on_odd_input() {
    let p = LockPolicy {
        backoff_exponent: f64::NAN,
        ..LockPolicy::default()
    };
    assert_eq!(p.delay(5), Duration::from_millis(100));
    let p = LockPolicy {
        backoff_exponent: 1e300,
        ..LockPolicy::default()
    };
    assert_eq!(p.delay(u32::MAX), Duration::from_secs(3600));
}
