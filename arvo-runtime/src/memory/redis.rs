//! [`RedisMemory`]: a [`MachineMemory`] in Redis (or Valkey), for many processes sharing
//! workflows with low latency.
//!
//! # Layout
//!
//! Under a configurable key prefix (default `arvo:`):
//!
//! | key | type | content |
//! | --- | --- | --- |
//! | `{prefix}s:{subject}` | hash | `v`: the record's version, `d`: the record as JSON (serde's output, key order kept) |
//! | `{prefix}l:{subject}` | string | the lease's owner token, with the lease's TTL (`PX`) |
//! | `{prefix}seq` | string | the version counter (`INCR`): versions are never reused, not even after a delete |
//!
//! # Semantics
//!
//! * **Leases** are `SET key token NX PX ttl`: Redis expires them on its own clock, so an
//!   expired lease is simply gone and the next `SET NX` takes over. Release is
//!   compare-and-delete and renewal compare-and-`PEXPIRE`, each one Lua script, so a former
//!   holder can neither release nor extend the lease of the caller that took over.
//! * **Writes are compare-and-swap by script**: one Lua script checks the lease (fenced writes),
//!   compares the stored version with the expected one, takes a new version from the counter and
//!   stores record and version together. Scripts run atomically, so nothing interleaves between
//!   the checks and the write, and a record is never half written.
//! * **TTLs**: leases always expire; records can too
//!   ([`RedisMemoryBuilder::record_ttl`]), and records of finished workflows can be kept for a
//!   shorter time ([`RedisMemoryBuilder::finished_when`] + [`RedisMemoryBuilder::finished_ttl`]):
//!   Redis's own expiry is the cleanup.
//! * No hierarchy queries: use the PostgreSQL memory when the parent/child tree must be queried.
//! * The version counter is one key shared by all subjects, so the scripts touch keys of
//!   different hash slots: a single Redis (or a primary with replicas / Sentinel), not Redis
//!   Cluster.
//!
//! # Failures
//!
//! Each attempt is bounded (connection and response timeouts); failed attempts are retried on
//! the [`LockPolicy`]'s schedule when safe: reads and lease operations always (an acquisition is
//! retried with the same token, so it is idempotent), writes and deletes only when the command
//! surely did not run (connection refused). After the retries the error is a
//! [`MemoryError::Backend`] (the orchestration wrapper reports a `Transaction` violation); never
//! a panic. The [`ConnectionManager`] reconnects in the background.
//!
//! ```no_run
//! use arvo_runtime::memory::MachineMemory;
//! use arvo_runtime::memory::redis::RedisMemory;
//! use std::time::Duration;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let memory = RedisMemory::<serde_json::Value>::builder("redis://127.0.0.1:6379")
//!     .key_prefix("orders:")
//!     .record_ttl(Duration::from_secs(7 * 86_400))
//!     .build()?;
//! let lease = memory.lock("subject-1", memory.lock_policy().ttl).await?;
//! memory.write("subject-1", serde_json::json!({"step": 1}), None, Some(&lease)).await?;
//! memory.unlock(&lease).await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Script};
use tokio::time::Instant;

use super::server::{AttemptTimeout, Failure, deadline_after, ttl_ms, with_retries};
use super::{
    Lease, LeaseToken, LockPolicy, MachineMemory, MemoryError, MemoryOp, MemoryRecord, Version,
    Versioned,
};

use super::FinishedFn;

/// KEYS: state, lease, seq. ARGV: expected version ('' = no record), token ('' = unfenced),
/// data, record TTL in ms (0 = none).
const WRITE: &str = r"
if ARGV[2] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[2] then return 'stale' end
local cur = redis.call('HGET', KEYS[1], 'v')
if (cur or '') ~= ARGV[1] then return 'conflict:' .. (cur or '') end
local v = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[1], 'v', v, 'd', ARGV[3])
local ttl = tonumber(ARGV[4])
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) else redis.call('PERSIST', KEYS[1]) end
return 'ok:' .. v
";

/// KEYS: state, lease. ARGV: token ('' = unfenced). -1: stale lease; else keys deleted.
const DELETE: &str = r"
if ARGV[1] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
return redis.call('DEL', KEYS[1])
";

/// KEYS: lease. ARGV: token, ttl ms. `SET NX PX`; the same token re-acquires (a retry).
const LOCK: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
";

/// KEYS: lease. ARGV: token. Compare-and-delete.
const UNLOCK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// KEYS: lease. ARGV: token, ttl ms. Compare-and-extend.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
";

/// A failure to configure a [`RedisMemory`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisSetupError {
    /// The URL could not be parsed, or the client not created.
    #[error("invalid Redis connection URL: {0}")]
    InvalidUrl(#[source] RedisError),
    /// The connection manager could not be created.
    #[error("could not create the Redis connection manager: {0}")]
    Connection(#[source] RedisError),
}

/// Configures a [`RedisMemory`]; from [`RedisMemory::builder`].
pub struct RedisMemoryBuilder<T> {
    url: String,
    prefix: String,
    policy: LockPolicy,
    connect_timeout: Duration,
    response_timeout: Duration,
    record_ttl: Option<Duration>,
    finished_ttl: Option<Duration>,
    finished: Option<FinishedFn<T>>,
}

impl<T> fmt::Debug for RedisMemoryBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisMemoryBuilder")
            .field("prefix", &self.prefix)
            .field("policy", &self.policy)
            .field("record_ttl", &self.record_ttl)
            .field("finished_ttl", &self.finished_ttl)
            .finish_non_exhaustive()
    }
}

impl<T: MemoryRecord> RedisMemoryBuilder<T> {
    /// The prefix of every key (default `arvo:`); give each application (or test) its own.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Retries of [`lock`](MachineMemory::lock) on a busy subject and of failed attempts, and
    /// the default lease TTL (default [`LockPolicy::default`]).
    pub fn lock_policy(mut self, policy: LockPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The bound on opening a connection (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The bound on one command's answer (default 5 s).
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// Records expire `ttl` after their last write (default: never). Abandoned workflows then
    /// disappear on their own; pick a TTL longer than any workflow may wait.
    pub fn record_ttl(mut self, ttl: Duration) -> Self {
        self.record_ttl = Some(ttl);
        self
    }

    /// Which records belong to finished workflows (see [`finished_ttl`](Self::finished_ttl)).
    pub fn finished_when(mut self, finished: impl Fn(&T) -> bool + Send + Sync + 'static) -> Self {
        self.finished = Some(Arc::new(finished));
        self
    }

    /// Records of finished workflows expire `ttl` after they are written (default: as other
    /// records): the cleanup of finished workflows.
    pub fn finished_ttl(mut self, ttl: Duration) -> Self {
        self.finished_ttl = Some(ttl);
        self
    }

    /// Validates the URL and creates the connection manager; it connects on first use and
    /// reconnects after failures.
    pub fn build(self) -> Result<RedisMemory<T>, RedisSetupError> {
        let client = redis::Client::open(self.url.as_str()).map_err(RedisSetupError::InvalidUrl)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.response_timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(500));
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(RedisSetupError::Connection)?;
        Ok(RedisMemory {
            inner: Arc::new(Inner {
                connection,
                prefix: self.prefix,
                policy: self.policy,
                attempt_timeout: self.connect_timeout + self.response_timeout,
                record_ttl: self.record_ttl,
                finished_ttl: self.finished_ttl,
                finished: self.finished,
                write: Script::new(WRITE),
                delete: Script::new(DELETE),
                lock: Script::new(LOCK),
                unlock: Script::new(UNLOCK),
                renew: Script::new(RENEW),
            }),
        })
    }
}

struct Inner<T> {
    connection: ConnectionManager,
    prefix: String,
    policy: LockPolicy,
    attempt_timeout: Duration,
    record_ttl: Option<Duration>,
    finished_ttl: Option<Duration>,
    finished: Option<FinishedFn<T>>,
    write: Script,
    delete: Script,
    lock: Script,
    unlock: Script,
    renew: Script,
}

/// A [`MachineMemory`] in Redis: scripted compare-and-swap, `SET NX PX` leases with
/// compare-and-delete release, fenced writes and TTLs (see the [module docs](self)). Cloning is
/// cheap and shares the connection.
pub struct RedisMemory<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for RedisMemory<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> fmt::Debug for RedisMemory<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisMemory")
            .field("prefix", &self.inner.prefix)
            .field("policy", &self.inner.policy)
            .finish_non_exhaustive()
    }
}

/// An answer of a script that the script never gives (a server or proxy misbehaving).
#[derive(Debug, thiserror::Error)]
#[error("unexpected answer from Redis: {0}")]
struct Unexpected(String);

fn non_empty(id: &str, op: MemoryOp) -> Result<(), MemoryError> {
    if id.is_empty() {
        Err(MemoryError::EmptyId { op })
    } else {
        Ok(())
    }
}

fn stale(op: MemoryOp, id: &str, lease: &Lease) -> MemoryError {
    MemoryError::StaleLease {
        op,
        id: id.to_owned(),
        token: lease.token(),
    }
}

impl<T: MemoryRecord> RedisMemory<T> {
    /// Starts configuring a memory for the server at `url` (`redis://host:port/db`).
    pub fn builder(url: impl Into<String>) -> RedisMemoryBuilder<T> {
        RedisMemoryBuilder {
            url: url.into(),
            prefix: "arvo:".to_owned(),
            policy: LockPolicy::default(),
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(5),
            record_ttl: None,
            finished_ttl: None,
            finished: None,
        }
    }

    /// The key prefix.
    pub fn key_prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The connection (a cheap clone), to run commands of your own.
    pub fn connection(&self) -> ConnectionManager {
        self.inner.connection.clone()
    }

    /// The key of `id`'s record.
    pub fn state_key(&self, id: &str) -> String {
        format!("{}s:{id}", self.inner.prefix)
    }

    /// The key of `id`'s lease.
    pub fn lease_key(&self, id: &str) -> String {
        format!("{}l:{id}", self.inner.prefix)
    }

    fn seq_key(&self) -> String {
        format!("{}seq", self.inner.prefix)
    }

    /// Runs `call` with retries per the policy: not-run failures always, unknown outcomes only
    /// when `idempotent`.
    async fn run<R, F, Fut>(
        &self,
        op: MemoryOp,
        id: &str,
        idempotent: bool,
        call: F,
    ) -> Result<R, MemoryError>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: Future<Output = Result<R, RedisError>>,
    {
        let timeout = self.inner.attempt_timeout;
        with_retries(self.inner.policy, "Redis", op, id, idempotent, || async {
            match tokio::time::timeout(timeout, call(self.inner.connection.clone())).await {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(e)) if e.is_connection_refusal() => {
                    Err(Failure::NotRun(MemoryError::backend(op, id, e)))
                }
                Ok(Err(e)) if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() => {
                    Err(Failure::Unknown(MemoryError::backend(op, id, e)))
                }
                Ok(Err(e)) => Err(Failure::Final(MemoryError::backend(op, id, e))),
                Err(_) => Err(Failure::Unknown(MemoryError::backend(
                    op,
                    id,
                    AttemptTimeout {
                        backend: "Redis",
                        timeout,
                    },
                ))),
            }
        })
        .await
    }
}

impl<T: MemoryRecord> MachineMemory<T> for RedisMemory<T> {
    async fn read(&self, id: &str) -> Result<Option<Versioned<T>>, MemoryError> {
        non_empty(id, MemoryOp::Read)?;
        let key = self.state_key(id);
        let (version, data): (Option<u64>, Option<String>) = self
            .run(MemoryOp::Read, id, true, |mut c| {
                let key = key.clone();
                async move {
                    redis::cmd("HMGET")
                        .arg(&key)
                        .arg("v")
                        .arg("d")
                        .query_async(&mut c)
                        .await
                }
            })
            .await?;
        let (Some(version), Some(data)) = (version, data) else {
            return Ok(None);
        };
        let value = serde_json::from_str(&data)
            .map_err(|e| MemoryError::serialization(MemoryOp::Read, id, e))?;
        Ok(Some(Versioned {
            value,
            version: Version::from_raw(version),
        }))
    }

    async fn write(
        &self,
        id: &str,
        record: T,
        expected: Option<Version>,
        lease: Option<&Lease>,
    ) -> Result<Version, MemoryError> {
        non_empty(id, MemoryOp::Write)?;
        if let Some(l) = lease.filter(|l| l.subject() != id) {
            return Err(stale(MemoryOp::Write, id, l));
        }
        let data = super::record_json(MemoryOp::Write, id, &record)?;
        let finished = self.inner.finished.as_ref().is_some_and(|f| f(&record));
        let ttl = match (finished, self.inner.finished_ttl, self.inner.record_ttl) {
            (true, Some(ttl), _) | (_, _, Some(ttl)) => ttl_ms(ttl),
            _ => 0,
        };
        let expected_arg = expected.map_or_else(String::new, |v| v.raw().to_string());
        let token = lease.map_or_else(String::new, |l| l.token().to_string());
        let keys = [self.state_key(id), self.lease_key(id), self.seq_key()];
        let answer: String = self
            .run(MemoryOp::Write, id, false, |mut c| {
                let mut call = self.inner.write.prepare_invoke();
                call.key(&keys[0])
                    .key(&keys[1])
                    .key(&keys[2])
                    .arg(&expected_arg)
                    .arg(&token)
                    .arg(&data)
                    .arg(ttl);
                async move { call.invoke_async(&mut c).await }
            })
            .await?;
        let parse = |s: &str| s.parse::<u64>().ok().map(Version::from_raw);
        if let Some(v) = answer.strip_prefix("ok:").and_then(parse) {
            return Ok(v);
        }
        if let Some(found) = answer.strip_prefix("conflict:") {
            return Err(MemoryError::Conflict {
                id: id.to_owned(),
                expected,
                found: parse(found),
            });
        }
        match (answer.as_str(), lease) {
            ("stale", Some(l)) => Err(stale(MemoryOp::Write, id, l)),
            _ => Err(MemoryError::backend(
                MemoryOp::Write,
                id,
                Unexpected(answer),
            )),
        }
    }

    async fn delete(&self, id: &str, lease: Option<&Lease>) -> Result<bool, MemoryError> {
        non_empty(id, MemoryOp::Delete)?;
        if let Some(l) = lease.filter(|l| l.subject() != id) {
            return Err(stale(MemoryOp::Delete, id, l));
        }
        let token = lease.map_or_else(String::new, |l| l.token().to_string());
        let keys = [self.state_key(id), self.lease_key(id)];
        let answer: i64 = self
            .run(MemoryOp::Delete, id, false, |mut c| {
                let mut call = self.inner.delete.prepare_invoke();
                call.key(&keys[0]).key(&keys[1]).arg(&token);
                async move { call.invoke_async(&mut c).await }
            })
            .await?;
        match (answer, lease) {
            (-1, Some(l)) => Err(stale(MemoryOp::Delete, id, l)),
            (n, _) => Ok(n > 0),
        }
    }

    async fn try_lock(&self, id: &str, ttl: Duration) -> Result<Option<Lease>, MemoryError> {
        non_empty(id, MemoryOp::Lock)?;
        let token = LeaseToken::random();
        let token_arg = token.to_string();
        let key = self.lease_key(id);
        let start = Instant::now();
        let acquired: i64 = self
            .run(MemoryOp::Lock, id, true, |mut c| {
                let mut call = self.inner.lock.prepare_invoke();
                call.key(&key).arg(&token_arg).arg(ttl_ms(ttl));
                async move { call.invoke_async(&mut c).await }
            })
            .await?;
        Ok((acquired == 1).then(|| Lease::new(id, token, deadline_after(start, ttl))))
    }

    async fn unlock(&self, lease: &Lease) -> Result<bool, MemoryError> {
        let id = lease.subject();
        non_empty(id, MemoryOp::Unlock)?;
        let key = self.lease_key(id);
        let token = lease.token().to_string();
        let released: i64 = self
            .run(MemoryOp::Unlock, id, true, |mut c| {
                let mut call = self.inner.unlock.prepare_invoke();
                call.key(&key).arg(&token);
                async move { call.invoke_async(&mut c).await }
            })
            .await?;
        Ok(released == 1)
    }

    async fn renew(&self, lease: &mut Lease, ttl: Duration) -> Result<(), MemoryError> {
        let id = lease.subject().to_owned();
        non_empty(&id, MemoryOp::Renew)?;
        let key = self.lease_key(&id);
        let token = lease.token().to_string();
        let start = Instant::now();
        let renewed: i64 = self
            .run(MemoryOp::Renew, &id, true, |mut c| {
                let mut call = self.inner.renew.prepare_invoke();
                call.key(&key).arg(&token).arg(ttl_ms(ttl));
                async move { call.invoke_async(&mut c).await }
            })
            .await?;
        if renewed != 1 {
            return Err(stale(MemoryOp::Renew, &id, lease));
        }
        lease.set_deadline(deadline_after(start, ttl));
        Ok(())
    }

    fn lock_policy(&self) -> LockPolicy {
        self.inner.policy
    }
}
