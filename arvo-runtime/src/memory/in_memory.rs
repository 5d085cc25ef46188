//! [`InMemoryMemory`]: the in-process machine memory (the reference's `SimpleMachineMemory`
//! and @arvo-tools' `ConcurrentMachineMemory`, with versions and leases).

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::{
    Lease, LeaseToken, LockPolicy, MachineMemory, MemoryError, MemoryOp, MemoryRecord, Version,
    Versioned,
};

use super::FinishedFn as CleanupPredicate;

const SHARDS: usize = 32;

struct Slot<T> {
    record: Option<(T, Version)>,
    lease: Option<(LeaseToken, Instant)>,
}

impl<T> Slot<T> {
    const EMPTY: Self = Self {
        record: None,
        lease: None,
    };

    fn is_empty(&self) -> bool {
        self.record.is_none() && self.lease.is_none()
    }

    /// The current lease, if it has not expired at `now`.
    fn live_lease(&self, now: Instant) -> Option<LeaseToken> {
        self.lease
            .and_then(|(token, deadline)| (deadline > now).then_some(token))
    }

    fn check_fence(
        &self,
        op: MemoryOp,
        id: &str,
        lease: Option<&Lease>,
    ) -> Result<(), MemoryError> {
        match lease {
            // The clock is read only for fenced calls (the unlocked hot path skips it).
            Some(l) if l.subject() != id || self.live_lease(Instant::now()) != Some(l.token()) => {
                Err(MemoryError::StaleLease {
                    op,
                    id: id.to_owned(),
                    token: l.token(),
                })
            }
            _ => Ok(()),
        }
    }
}

/// Subjects are long (an orchestration subject is ~180 characters): foldhash hashes them several
/// times faster than SipHash, with a random per-store seed.
type RandomState = foldhash::quality::RandomState;

type Shard<T> = Mutex<HashMap<Box<str>, Slot<T>, RandomState>>;

struct Inner<T> {
    shards: Box<[Shard<T>]>,
    hasher: RandomState,
    /// Store-wide, so a version is never reused for a subject, even after a delete.
    next_version: AtomicU64,
    /// High 64 bits of every token: random per store, so a lease of another store never matches.
    token_prefix: u64,
    next_token: AtomicU64,
    policy: LockPolicy,
}

/// An in-process [`MachineMemory`], safe under many concurrent tokio tasks and threads.
///
/// Records are kept as `T` values (no serialisation) in sharded maps guarded by short
/// `std::sync::Mutex` sections that never span an `.await`; reads return clones. It has the
/// behaviour of @arvo-tools/concurrent: leases with a TTL (on tokio's clock, so tests can use
/// `tokio::time::pause()`), lock retries with exponential backoff ([`LockPolicy`]), and optional
/// cleanup of finished workflows ([`cleanup_when`](Self::cleanup_when)). Cloning is cheap and
/// shares the store.
///
/// For a single process only: use a database-backed memory when several processes handle the
/// same subjects.
///
/// ```
/// use arvo_runtime::memory::{InMemoryMemory, LockPolicy, MachineMemory, MemoryError};
/// use std::time::Duration;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let memory = InMemoryMemory::<String>::with_policy(LockPolicy {
///     ttl: Duration::from_secs(30),
///     ..LockPolicy::default()
/// });
/// let lease = memory.lock("s", Duration::from_secs(30)).await?;
/// // A second caller is refused while the lease is live.
/// assert!(memory.try_lock("s", Duration::from_secs(30)).await?.is_none());
/// memory.write("s", "started".to_owned(), None, Some(&lease)).await?;
/// assert!(memory.unlock(&lease).await?);
/// assert_eq!(memory.read("s").await?.map(|v| v.value), Some("started".to_owned()));
/// # Ok::<(), MemoryError>(())
/// # }).unwrap();
/// ```
pub struct InMemoryMemory<T> {
    inner: Arc<Inner<T>>,
    cleanup: Option<CleanupPredicate<T>>,
}

impl<T> Clone for InMemoryMemory<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            cleanup: self.cleanup.clone(),
        }
    }
}

impl<T> fmt::Debug for InMemoryMemory<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryMemory")
            .field("policy", &self.inner.policy)
            .field("cleanup", &self.cleanup.is_some())
            .finish_non_exhaustive()
    }
}

impl<T: MemoryRecord> Default for InMemoryMemory<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: MemoryRecord> InMemoryMemory<T> {
    /// An empty memory with the default [`LockPolicy`] and no cleanup.
    pub fn new() -> Self {
        Self::with_policy(LockPolicy::default())
    }

    /// An empty memory whose [`lock`](MachineMemory::lock) follows `policy`.
    pub fn with_policy(policy: LockPolicy) -> Self {
        let shards = (0..SHARDS)
            .map(|_| Mutex::new(HashMap::with_hasher(RandomState::default())))
            .collect();
        // Random per store (uuid's fast rng); the counter below makes tokens unique within it.
        let token_prefix = uuid::Uuid::new_v4().as_u64_pair().0;
        Self {
            inner: Arc::new(Inner {
                shards,
                hasher: RandomState::default(),
                next_version: AtomicU64::new(1),
                token_prefix,
                next_token: AtomicU64::new(1),
                policy,
            }),
            cleanup: None,
        }
    }

    /// Enables cleanup of finished workflows: a successful write whose record satisfies
    /// `finished` removes the subject's record instead of storing it (the write still returns a
    /// version; a later read returns `None`). Later events for that subject then find no state,
    /// as in the reference when cleanup is on. Applies to writes through this handle and the
    /// clones made from it afterwards.
    ///
    /// ```
    /// # use arvo_runtime::memory::{InMemoryMemory, MachineMemory};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let memory = InMemoryMemory::<String>::new().cleanup_when(|status| status == "done");
    /// let v = memory.write("s", "active".into(), None, None).await.unwrap();
    /// memory.write("s", "done".into(), Some(v), None).await.unwrap();
    /// assert!(memory.read("s").await.unwrap().is_none());
    /// # });
    /// ```
    pub fn cleanup_when(mut self, finished: impl Fn(&T) -> bool + Send + Sync + 'static) -> Self {
        self.cleanup = Some(Arc::new(finished));
        self
    }

    /// Number of subjects with a stored record.
    pub fn len(&self) -> usize {
        self.inner
            .shards
            .iter()
            .map(|s| {
                lock_shard(s)
                    .values()
                    .filter(|slot| slot.record.is_some())
                    .count()
            })
            .sum()
    }

    /// Whether no subject has a stored record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes one subject's record and lease (the reference's `clear(key)`).
    pub fn clear_subject(&self, id: &str) {
        lock_shard(self.shard(id)).remove(id);
    }

    /// Removes every record and lease (the reference's `clear()`).
    pub fn clear(&self) {
        for shard in self.inner.shards.iter() {
            lock_shard(shard).clear();
        }
    }

    /// `Ok` unless `lease` is given and is not `id`'s current, unexpired lease
    /// ([`MemoryError::StaleLease`] for `op`). For backends that keep their leases in an
    /// `InMemoryMemory<()>` and their records elsewhere (the redb memory).
    #[cfg_attr(not(feature = "redb"), allow(dead_code))]
    pub(crate) fn check_fence(
        &self,
        op: MemoryOp,
        id: &str,
        lease: Option<&Lease>,
    ) -> Result<(), MemoryError> {
        if lease.is_none() {
            return Ok(());
        }
        let shard = lock_shard(self.shard(id));
        match shard.get(id) {
            Some(slot) => slot.check_fence(op, id, lease),
            None => Slot::<T>::EMPTY.check_fence(op, id, lease),
        }
    }

    fn shard(&self, id: &str) -> &Shard<T> {
        let hash = self.inner.hasher.hash_one(shard_key(id));
        // SHARDS is a power of two; the high bits are independent of the map's bucket bits.
        let index = (hash >> 58) as usize % SHARDS;
        &self.inner.shards[index]
    }

    fn new_version(&self) -> Version {
        Version::from_raw(self.inner.next_version.fetch_add(1, Ordering::Relaxed))
    }

    fn new_token(&self) -> LeaseToken {
        let low = self.inner.next_token.fetch_add(1, Ordering::Relaxed);
        LeaseToken::from_raw((u128::from(self.inner.token_prefix) << 64) | u128::from(low))
    }

    fn read_now(&self, id: &str) -> Result<Option<Versioned<T>>, MemoryError> {
        non_empty(id, MemoryOp::Read)?;
        let shard = lock_shard(self.shard(id));
        Ok(shard
            .get(id)
            .and_then(|slot| slot.record.as_ref())
            .map(|(value, version)| Versioned {
                value: value.clone(),
                version: *version,
            }))
    }

    fn write_now(
        &self,
        id: &str,
        record: T,
        expected: Option<Version>,
        lease: Option<&Lease>,
    ) -> Result<Version, MemoryError> {
        non_empty(id, MemoryOp::Write)?;
        let finished = self.cleanup.as_ref().is_some_and(|f| f(&record));
        let mut shard = lock_shard(self.shard(id));
        let slot = match shard.get_mut(id) {
            Some(slot) => slot,
            None => {
                // Nothing stored and no lease: only an unfenced create can succeed.
                Slot::<T>::EMPTY.check_fence(MemoryOp::Write, id, lease)?;
                if expected.is_some() {
                    return Err(MemoryError::Conflict {
                        id: id.to_owned(),
                        expected,
                        found: None,
                    });
                }
                let version = self.new_version();
                if !finished {
                    shard.insert(
                        id.into(),
                        Slot {
                            record: Some((record, version)),
                            lease: None,
                        },
                    );
                }
                return Ok(version);
            }
        };
        slot.check_fence(MemoryOp::Write, id, lease)?;
        let found = slot.record.as_ref().map(|(_, v)| *v);
        if found != expected {
            return Err(MemoryError::Conflict {
                id: id.to_owned(),
                expected,
                found,
            });
        }
        let version = self.new_version();
        if finished {
            slot.record = None;
            if slot.is_empty() {
                shard.remove(id);
            }
        } else {
            slot.record = Some((record, version));
        }
        Ok(version)
    }

    fn delete_now(&self, id: &str, lease: Option<&Lease>) -> Result<bool, MemoryError> {
        non_empty(id, MemoryOp::Delete)?;
        let mut shard = lock_shard(self.shard(id));
        let Some(slot) = shard.get_mut(id) else {
            Slot::<T>::EMPTY.check_fence(MemoryOp::Delete, id, lease)?;
            return Ok(false);
        };
        slot.check_fence(MemoryOp::Delete, id, lease)?;
        let existed = slot.record.take().is_some();
        if slot.is_empty() {
            shard.remove(id);
        }
        Ok(existed)
    }

    fn try_lock_now(&self, id: &str, ttl: Duration) -> Result<Option<Lease>, MemoryError> {
        non_empty(id, MemoryOp::Lock)?;
        let now = Instant::now();
        let deadline = deadline_after(now, ttl);
        let mut shard = lock_shard(self.shard(id));
        if let Some(slot) = shard.get_mut(id) {
            if slot.live_lease(now).is_some() {
                return Ok(None);
            }
            let token = self.new_token();
            slot.lease = Some((token, deadline));
            return Ok(Some(Lease::new(id, token, deadline)));
        }
        let token = self.new_token();
        shard.insert(
            id.into(),
            Slot {
                record: None,
                lease: Some((token, deadline)),
            },
        );
        Ok(Some(Lease::new(id, token, deadline)))
    }

    fn unlock_now(&self, lease: &Lease) -> Result<bool, MemoryError> {
        let id = lease.subject();
        non_empty(id, MemoryOp::Unlock)?;
        let mut shard = lock_shard(self.shard(id));
        let Some(slot) = shard.get_mut(id) else {
            return Ok(false);
        };
        // The holder may release even after expiry, as long as nobody took over.
        if slot.lease.map(|(token, _)| token) != Some(lease.token()) {
            return Ok(false);
        }
        slot.lease = None;
        if slot.is_empty() {
            shard.remove(id);
        }
        Ok(true)
    }

    fn renew_now(&self, lease: &mut Lease, ttl: Duration) -> Result<(), MemoryError> {
        non_empty(lease.subject(), MemoryOp::Renew)?;
        let now = Instant::now();
        let deadline = deadline_after(now, ttl);
        let mut shard = lock_shard(self.shard(lease.subject()));
        let held = shard
            .get_mut(lease.subject())
            .filter(|slot| slot.live_lease(now) == Some(lease.token()));
        let Some(slot) = held else {
            return Err(MemoryError::StaleLease {
                op: MemoryOp::Renew,
                id: lease.subject().to_owned(),
                token: lease.token(),
            });
        };
        slot.lease = Some((lease.token(), deadline));
        drop(shard);
        lease.set_deadline(deadline);
        Ok(())
    }
}

/// The part of a key that picks its shard: its last 16 bytes. The map inside the shard hashes the
/// whole key; the shard only spreads lock contention, and the end of a subject (base64 of a zlib
/// stream ending in its checksum) varies from subject to subject. Hashing 16 bytes instead of a
/// ~180-character subject saves most of a hash per operation.
pub(crate) fn shard_key(key: &str) -> &[u8] {
    let bytes = key.as_bytes();
    &bytes[bytes.len().saturating_sub(16)..]
}

fn lock_shard<T>(shard: &Shard<T>) -> MutexGuard<'_, HashMap<Box<str>, Slot<T>, RandomState>> {
    // Critical sections only touch the map (and clone records); a panic inside one (a panicking
    // `Clone` of a user record) leaves the map consistent, so poisoning is ignored.
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

fn non_empty(id: &str, op: MemoryOp) -> Result<(), MemoryError> {
    if id.is_empty() {
        Err(MemoryError::EmptyId { op })
    } else {
        Ok(())
    }
}

fn deadline_after(now: Instant, ttl: Duration) -> Instant {
    // A huge TTL saturates at about 30 years instead of overflowing.
    now.checked_add(ttl)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365 * 30))
}

impl<T: MemoryRecord> MachineMemory<T> for InMemoryMemory<T> {
    fn read(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<Versioned<T>>, MemoryError>> + Send {
        std::future::ready(self.read_now(id))
    }

    fn write(
        &self,
        id: &str,
        record: T,
        expected: Option<Version>,
        lease: Option<&Lease>,
    ) -> impl Future<Output = Result<Version, MemoryError>> + Send {
        std::future::ready(self.write_now(id, record, expected, lease))
    }

    fn delete(
        &self,
        id: &str,
        lease: Option<&Lease>,
    ) -> impl Future<Output = Result<bool, MemoryError>> + Send {
        std::future::ready(self.delete_now(id, lease))
    }

    fn try_lock(
        &self,
        id: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<Option<Lease>, MemoryError>> + Send {
        std::future::ready(self.try_lock_now(id, ttl))
    }

    fn unlock(&self, lease: &Lease) -> impl Future<Output = Result<bool, MemoryError>> + Send {
        std::future::ready(self.unlock_now(lease))
    }

    fn renew(
        &self,
        lease: &mut Lease,
        ttl: Duration,
    ) -> impl Future<Output = Result<(), MemoryError>> + Send {
        std::future::ready(self.renew_now(lease, ttl))
    }

    fn lock_policy(&self) -> LockPolicy {
        self.inner.policy
    }
}
