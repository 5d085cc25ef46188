//! [`PostgresMemory`]: a [`MachineMemory`] in PostgreSQL, for many processes sharing workflows
//! (the reference's `@arvo-tools/postgres` `PostgresMachineMemory`, with fenced leases).
//!
//! # Layout
//!
//! Everything lives in one configurable schema (default `arvo`), created by an explicit,
//! versioned migration step, [`PostgresMemory::migrate`], never implicitly on first use:
//!
//! | table | columns |
//! | --- | --- |
//! | `arvo_schema_version` | `version`, `description`, `applied_at`: one row per applied migration |
//! | `machine_state` | `subject`, `subject_key` (the key: the subject's SHA-256, a generated column), `version` (optimistic version, from an identity sequence: never reused, not even after a delete), `data` (`json`, the record as serde wrote it, key order kept), `parent_subject` (hierarchy), `finished_at` (cleanup), `created_at`, `updated_at` |
//! | `machine_lock` | `subject`, `subject_key` (the key, as above), `token` (`uuid` owner token), `expires_at` (server clock) |
//!
//! Subjects of any length are stored (an orchestration subject with a large `meta` can be
//! several KB, and a B-tree index entry may not exceed about 2.7 KB): the tables are keyed by
//! the subject's SHA-256, which every statement computes from the subject it is given, and the
//! parent-subject column has a hash index (schema version 2; [`migrate`](PostgresMemory::migrate)
//! upgrades a version-1 schema in place).
//!
//! # Semantics
//!
//! * **Compare-and-swap** in one statement: `UPDATE … SET version = DEFAULT … WHERE version = $expected`
//!   (an insert `ON CONFLICT DO NOTHING` when no record is expected).
//! * **Leases** are rows with an owner token and an expiry on the *server's* clock (`now()`), so
//!   processes with skewed clocks agree; an expired row is taken over by an upsert whose
//!   `DO UPDATE … WHERE expires_at <= now()` makes the takeover atomic.
//! * **Fenced writes** check the lease in the same statement that writes, holding a `FOR SHARE`
//!   lock on the lease row until the write commits: a takeover waits for the write and a write
//!   after a takeover is refused, never a lost update.
//! * **Hierarchy**: the record's parent subject (extracted by
//!   [`PostgresMemoryBuilder::parent_subject`]) is stored in its own indexed column;
//!   [`children`](PostgresMemory::children), [`roots`](PostgresMemory::roots),
//!   [`root_of`](PostgresMemory::root_of) and [`subjects_by_root`](PostgresMemory::subjects_by_root)
//!   query it (the reference's `getSubjectsByRoot` / `getRootSubject`).
//! * **Cleanup**: a record for which [`PostgresMemoryBuilder::finished_when`] holds is marked
//!   finished when written; [`cleanup_finished`](PostgresMemory::cleanup_finished) deletes those
//!   older than a retention period (a periodic job), together with leases long expired.
//! * **Every statement is parameterised**; the only text put into SQL is the schema name, which
//!   is validated (`[A-Za-z_][A-Za-z0-9_]*`, at most 63 bytes) and quoted.
//!
//! # Failures
//!
//! A backend that is down or slow never panics and never leaves a half-written record (every
//! write is one statement). Each attempt is bounded (a server-side `statement_timeout` and a
//! client-side [`operation_timeout`](PostgresMemoryBuilder::operation_timeout)); failed attempts
//! are retried on the [`LockPolicy`]'s schedule when a retry is safe: always for reads, lease
//! operations (an acquisition is retried with the same token, so it is idempotent) and for
//! errors raised *before* a statement ran (no connection from the pool, a statement cancelled
//! by its timeout, a serialisation failure); a write or delete whose outcome is unknown (the
//! connection dropped mid-statement) is not retried but reported. After the retries the error
//! is a [`MemoryError::Backend`], which the orchestration wrapper turns into a `Transaction`
//! violation.
//!
//! # Why tokio-postgres and deadpool-postgres
//!
//! Plain SQL with no macros, a small dependency graph, a statement cache per pooled connection
//! (each statement is prepared once per connection, then one round trip per operation), and no
//! build-time database (sqlx's checked `query!` macros need one or an offline cache, and its
//! MSRV is above this workspace's).
//!
//! ```no_run
//! use arvo_runtime::memory::MachineMemory;
//! use arvo_runtime::memory::postgres::PostgresMemory;
//! use arvo_runtime::resumable::{ResumableMemoryRecord, ResumableStatus};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let memory = PostgresMemory::<ResumableMemoryRecord<serde_json::Value>>::builder(
//!     "postgres://postgres@127.0.0.1:5432/test",
//! )
//! .schema("orders")
//! .parent_subject(|r| r.as_normal().and_then(|n| n.parent_subject.as_deref()))
//! .finished_when(|r| r.as_normal().is_none_or(|n| n.status == ResumableStatus::Done))
//! .build()?;
//! memory.migrate().await?; // explicit, versioned, idempotent
//! let lease = memory.lock("subject-1", memory.lock_policy().ttl).await?;
//! assert!(memory.read("subject-1").await?.is_none());
//! memory.unlock(&lease).await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::tokio_postgres::{self, NoTls, Row};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::time::Instant;

use super::server::{AttemptTimeout, Failure, deadline_after, with_retries};
use super::{
    FinishedFn, Lease, LeaseToken, LockPolicy, MachineMemory, MemoryError, MemoryOp, MemoryRecord,
    Version, Versioned,
};

mod error;
mod sql;

pub use error::{PgError, PostgresSetupError};
use error::{PoolFailure, backend, driver, not_run};
pub use sql::SCHEMA_VERSION;
use sql::{MIGRATIONS, Sql, quote_schema};

/// Extracts the parent subject of a record (`None`: a root, or not known).
pub type ParentFn<T> = Arc<dyn Fn(&T) -> Option<&str> + Send + Sync>;

/// Configures a [`PostgresMemory`]; from [`PostgresMemory::builder`].
pub struct PostgresMemoryBuilder<T> {
    url: String,
    schema: String,
    pool_size: usize,
    policy: LockPolicy,
    statement_timeout: Duration,
    operation_timeout: Duration,
    connect_timeout: Duration,
    parent: Option<ParentFn<T>>,
    finished: Option<FinishedFn<T>>,
}

impl<T> fmt::Debug for PostgresMemoryBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresMemoryBuilder")
            .field("schema", &self.schema)
            .field("pool_size", &self.pool_size)
            .field("policy", &self.policy)
            .field("statement_timeout", &self.statement_timeout)
            .field("operation_timeout", &self.operation_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

impl<T: MemoryRecord> PostgresMemoryBuilder<T> {
    /// The schema holding the tables (default `arvo`): `[A-Za-z_][A-Za-z0-9_]*`, at most 63
    /// bytes, case kept (it is quoted). Checked by [`build`](Self::build).
    pub fn schema(mut self, name: impl Into<String>) -> Self {
        self.schema = name.into();
        self
    }

    /// Most connections the pool opens (default 16).
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size.max(1);
        self
    }

    /// Retries of [`lock`](MachineMemory::lock) on a busy subject and of failed attempts, and
    /// the default lease TTL (default [`LockPolicy::default`]).
    pub fn lock_policy(mut self, policy: LockPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The server-side `statement_timeout` of the pool's connections (default 10 s): a
    /// statement blocked longer is cancelled (and the attempt retried per the policy).
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// The client-side bound of one attempt, waiting for a pooled connection included (default
    /// 15 s).
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// The bound on opening one connection (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How to find a record's parent subject, stored in the `parent_subject` column for the
    /// hierarchy queries (default: none, every record is a root). A write whose extractor
    /// returns `None` keeps the parent stored earlier (a failure record has none).
    pub fn parent_subject(
        mut self,
        parent: impl Fn(&T) -> Option<&str> + Send + Sync + 'static,
    ) -> Self {
        self.parent = Some(Arc::new(parent));
        self
    }

    /// Which records belong to finished workflows: writing one sets `finished_at`, which
    /// [`PostgresMemory::cleanup_finished`] uses (default: none is finished).
    pub fn finished_when(mut self, finished: impl Fn(&T) -> bool + Send + Sync + 'static) -> Self {
        self.finished = Some(Arc::new(finished));
        self
    }

    /// Validates the configuration and creates the (lazy) pool; no connection is opened yet.
    /// Call [`PostgresMemory::migrate`] (or [`verify_schema`](PostgresMemory::verify_schema))
    /// before use.
    pub fn build(self) -> Result<PostgresMemory<T>, PostgresSetupError> {
        let quoted = quote_schema(&self.schema)?;
        let mut config =
            tokio_postgres::Config::from_str(&self.url).map_err(PostgresSetupError::InvalidUrl)?;
        let statement_ms = self.statement_timeout.as_millis().max(1);
        let options = match config.get_options() {
            Some(o) if !o.is_empty() => format!("{o} -c statement_timeout={statement_ms}"),
            _ => format!("-c statement_timeout={statement_ms}"),
        };
        config.options(&options);
        config.connect_timeout(self.connect_timeout);
        if config.get_application_name().is_none() {
            config.application_name("arvo-runtime");
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(self.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(self.operation_timeout))
            .create_timeout(Some(self.connect_timeout))
            .recycle_timeout(Some(self.connect_timeout))
            .build()
            .map_err(PostgresSetupError::Pool)?;
        Ok(PostgresMemory {
            inner: Arc::new(Inner {
                pool,
                sql: Sql::new(&quoted),
                quoted,
                schema: self.schema,
                policy: self.policy,
                operation_timeout: self.operation_timeout,
                parent: self.parent,
                finished: self.finished,
            }),
        })
    }
}

struct Inner<T> {
    pool: Pool,
    sql: Sql,
    schema: String,
    quoted: String,
    policy: LockPolicy,
    operation_timeout: Duration,
    parent: Option<ParentFn<T>>,
    finished: Option<FinishedFn<T>>,
}

/// A [`MachineMemory`] in PostgreSQL: versioned records, fenced leases on the server clock,
/// the parent/child hierarchy and cleanup of finished workflows (see the
/// [module docs](self)). Cloning is cheap and shares the pool.
pub struct PostgresMemory<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for PostgresMemory<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> fmt::Debug for PostgresMemory<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresMemory")
            .field("schema", &self.inner.schema)
            .field("policy", &self.inner.policy)
            .field("pool", &self.inner.pool.status())
            .finish_non_exhaustive()
    }
}

/// [`server::ttl_ms`](super::server::ttl_ms) as a SQL `bigint` (always fits: at most ~30 years).
fn ttl_ms(ttl: Duration) -> i64 {
    i64::try_from(super::server::ttl_ms(ttl)).unwrap_or(i64::MAX)
}

fn to_version(raw: i64) -> Version {
    Version::from_raw(u64::try_from(raw).unwrap_or_default())
}

fn from_version(v: Version) -> i64 {
    i64::try_from(v.raw()).unwrap_or(i64::MAX)
}

fn uuid_of(token: LeaseToken) -> uuid::Uuid {
    uuid::Uuid::from_u128(token.raw())
}

impl<T: MemoryRecord> PostgresMemory<T> {
    /// Starts configuring a memory for the database at `url` (a libpq-style connection string
    /// or `postgres://` URL).
    pub fn builder(url: impl Into<String>) -> PostgresMemoryBuilder<T> {
        PostgresMemoryBuilder {
            url: url.into(),
            schema: "arvo".to_owned(),
            pool_size: 16,
            policy: LockPolicy::default(),
            statement_timeout: Duration::from_secs(10),
            operation_timeout: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(5),
            parent: None,
            finished: None,
        }
    }

    /// The schema name (unquoted).
    pub fn schema(&self) -> &str {
        &self.inner.schema
    }

    /// The connection pool (for statistics, or to run queries of your own).
    pub fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    /// Brings the schema to [`SCHEMA_VERSION`]: creates the schema and its version table if
    /// missing, then applies each missing migration and records it, all in one transaction
    /// under an advisory lock (concurrent callers wait, then find nothing to do). Idempotent;
    /// returns the versions applied (empty when the schema was current). A schema migrated by
    /// a newer build is an error.
    pub async fn migrate(&self) -> Result<Vec<i32>, PostgresSetupError> {
        const DURING: &str = "migrate";
        let schema = &self.inner.schema;
        let s = &self.inner.quoted;
        let stmt = |source| PostgresSetupError::Statement {
            during: DURING,
            schema: schema.clone(),
            source,
        };
        let mut client =
            self.inner
                .pool
                .get()
                .await
                .map_err(|source| PostgresSetupError::Connect {
                    during: DURING,
                    source,
                })?;
        let tx = client.transaction().await.map_err(stmt)?;
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext('arvo-runtime migrate ' || $1::text))",
            &[schema],
        )
        .await
        .map_err(stmt)?;
        tx.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {s}; CREATE TABLE IF NOT EXISTS {s}.arvo_schema_version \
             (version integer PRIMARY KEY, description text NOT NULL, \
             applied_at timestamptz NOT NULL DEFAULT now())"
        ))
        .await
        .map_err(stmt)?;
        let found: i32 = tx
            .query_one(
                &format!("SELECT COALESCE(max(version), 0) FROM {s}.arvo_schema_version"),
                &[],
            )
            .await
            .map_err(stmt)?
            .get(0);
        if found > SCHEMA_VERSION {
            return Err(PostgresSetupError::SchemaVersion {
                schema: schema.clone(),
                found,
                needed: SCHEMA_VERSION,
            });
        }
        let mut applied = Vec::new();
        for (version, (description, sql)) in (1..).zip(MIGRATIONS) {
            if version <= found {
                continue;
            }
            tx.batch_execute(&sql.replace("{s}", s))
                .await
                .map_err(stmt)?;
            tx.execute(
                &format!(
                    "INSERT INTO {s}.arvo_schema_version (version, description) VALUES ($1, $2)"
                ),
                &[&version, description],
            )
            .await
            .map_err(stmt)?;
            applied.push(version);
        }
        tx.commit().await.map_err(stmt)?;
        if !applied.is_empty() {
            tracing::info!(schema = %schema, ?applied, "migrated the PostgreSQL machine memory");
        }
        Ok(applied)
    }

    /// The schema's version (0 when it was never migrated).
    pub async fn schema_version(&self) -> Result<i32, PostgresSetupError> {
        const DURING: &str = "schema version check";
        let stmt = |source| PostgresSetupError::Statement {
            during: DURING,
            schema: self.inner.schema.clone(),
            source,
        };
        let client = self
            .inner
            .pool
            .get()
            .await
            .map_err(|source| PostgresSetupError::Connect {
                during: DURING,
                source,
            })?;
        let exists: bool = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM information_schema.tables \
                 WHERE table_schema = $1 AND table_name = 'arvo_schema_version')",
                &[&self.inner.schema],
            )
            .await
            .map_err(stmt)?
            .get(0);
        if !exists {
            return Ok(0);
        }
        let s = &self.inner.quoted;
        let version: i32 = client
            .query_one(
                &format!("SELECT COALESCE(max(version), 0) FROM {s}.arvo_schema_version"),
                &[],
            )
            .await
            .map_err(stmt)?
            .get(0);
        Ok(version)
    }

    /// Checks that the schema is at [`SCHEMA_VERSION`] without changing anything (for
    /// processes that must not migrate); [`PostgresSetupError::SchemaVersion`] otherwise.
    pub async fn verify_schema(&self) -> Result<(), PostgresSetupError> {
        let found = self.schema_version().await?;
        if found == SCHEMA_VERSION {
            Ok(())
        } else {
            Err(PostgresSetupError::SchemaVersion {
                schema: self.inner.schema.clone(),
                found,
                needed: SCHEMA_VERSION,
            })
        }
    }

    /// One attempt: a pooled connection, the statement (prepared once per connection), bounded
    /// by the operation timeout.
    async fn attempt(
        &self,
        op: MemoryOp,
        id: &str,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>, Failure> {
        let timeout = self.inner.operation_timeout;
        let run = async {
            let client = self
                .inner
                .pool
                .get()
                .await
                .map_err(|e| Failure::NotRun(backend(op, id, PoolFailure(e))))?;
            let stmt = client.prepare_cached(sql).await.map_err(|e| {
                if not_run(&e) || e.as_db_error().is_none() {
                    Failure::NotRun(driver(op, id, e))
                } else {
                    Failure::Final(driver(op, id, e))
                }
            })?;
            client.query(&stmt, params).await.map_err(|e| {
                if not_run(&e) {
                    Failure::NotRun(driver(op, id, e))
                } else if e.as_db_error().is_some() {
                    Failure::Final(driver(op, id, e))
                } else {
                    Failure::Unknown(driver(op, id, e))
                }
            })
        };
        match tokio::time::timeout(timeout, run).await {
            Ok(result) => result,
            Err(_) => Err(Failure::Unknown(backend(
                op,
                id,
                AttemptTimeout {
                    backend: "PostgreSQL",
                    timeout,
                },
            ))),
        }
    }

    /// [`attempt`](Self::attempt) with retries per the lock policy: failures that did not run
    /// are retried always, failures of unknown outcome only when `idempotent`.
    async fn run(
        &self,
        op: MemoryOp,
        id: &str,
        idempotent: bool,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>, MemoryError> {
        with_retries(self.inner.policy, "PostgreSQL", op, id, idempotent, || {
            self.attempt(op, id, sql, params)
        })
        .await
    }

    /// Up to `limit` records, starting after `after` (`None`: from the first): a page of the
    /// stored workflows, e.g. to find the ones waiting after a restart. Pass the last subject of
    /// a page as `after` to get the next; memory stays bounded by `limit`. The order is that of
    /// the subjects' SHA-256 (the table's key), fixed but not alphabetical.
    /// [`MemoryError::Serialization`] naming the subject when a stored record is not a `T`.
    pub async fn list(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Versioned<T>)>, MemoryError> {
        let at = after.unwrap_or("(list)");
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .run(
                MemoryOp::Read,
                at,
                true,
                &self.inner.sql.list,
                &[&after, &limit],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let id: String = row.get(0);
                let version: i64 = row.get(1);
                let value = serde_json::from_str(row.get(2))
                    .map_err(|e| MemoryError::serialization(MemoryOp::Read, id.clone(), e))?;
                Ok((
                    id,
                    Versioned {
                        value,
                        version: to_version(version),
                    },
                ))
            })
            .collect()
    }

    /// The direct children of `parent` (records whose parent subject is `parent`), oldest
    /// first, at most `limit`.
    pub async fn children(&self, parent: &str, limit: u32) -> Result<Vec<String>, MemoryError> {
        non_empty(parent, MemoryOp::Read)?;
        let rows = self
            .run(
                MemoryOp::Read,
                parent,
                true,
                &self.inner.sql.children,
                &[&parent, &i64::from(limit)],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Subjects of root workflows (records without a parent), oldest first, at most `limit`.
    pub async fn roots(&self, limit: u32) -> Result<Vec<String>, MemoryError> {
        let rows = self
            .run(
                MemoryOp::Read,
                "(roots)",
                true,
                &self.inner.sql.roots,
                &[&i64::from(limit)],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// The root of `subject`'s tree (the reference's `getRootSubject`): its topmost ancestor
    /// (itself for a root; a parent whose record is gone still counts); `None` when `subject`
    /// has no record.
    pub async fn root_of(&self, subject: &str) -> Result<Option<String>, MemoryError> {
        non_empty(subject, MemoryOp::Read)?;
        let rows = self
            .run(
                MemoryOp::Read,
                subject,
                true,
                &self.inner.sql.root_of,
                &[&subject],
            )
            .await?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    /// `root` and all its descendants with a record, breadth first, at most `limit` (the
    /// reference's `getSubjectsByRoot`); empty when `root` has no record.
    pub async fn subjects_by_root(
        &self,
        root: &str,
        limit: u32,
    ) -> Result<Vec<String>, MemoryError> {
        non_empty(root, MemoryOp::Read)?;
        let rows = self
            .run(
                MemoryOp::Read,
                root,
                true,
                &self.inner.sql.by_root,
                &[&root, &i64::from(limit)],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Deletes the records of workflows finished (see
    /// [`finished_when`](PostgresMemoryBuilder::finished_when)) at least `retention` ago whose
    /// lease nobody holds, and leases expired at least `retention` ago. Returns how many records
    /// and leases were removed. Run it periodically; `Duration::ZERO` removes every finished
    /// record now.
    pub async fn cleanup_finished(
        &self,
        retention: Duration,
    ) -> Result<CleanupReport, MemoryError> {
        let ms = ttl_ms(retention).min(i64::from(i32::MAX) * 1000);
        let ms = if retention.is_zero() { 0 } else { ms };
        let client = self.connection(MemoryOp::Delete).await?;
        let err = |e| driver(MemoryOp::Delete, "(cleanup)", e);
        let records = client
            .execute(&self.inner.sql.cleanup_records, &[&ms])
            .await
            .map_err(err)?;
        let leases = client
            .execute(&self.inner.sql.cleanup_leases, &[&ms])
            .await
            .map_err(err)?;
        Ok(CleanupReport { records, leases })
    }

    async fn connection(&self, op: MemoryOp) -> Result<deadpool_postgres::Object, MemoryError> {
        self.inner
            .pool
            .get()
            .await
            .map_err(|e| backend(op, "(cleanup)", PoolFailure(e)))
    }

    async fn write_now(
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
        let data = crate::memory::record_json(MemoryOp::Write, id, &record)?;
        let parent = self.inner.parent.as_ref().and_then(|f| f(&record));
        let finished = self.inner.finished.as_ref().is_some_and(|f| f(&record));
        let Some(lease) = lease else {
            return self
                .write_unfenced(id, &data, parent, finished, expected)
                .await;
        };
        let token = Some(uuid_of(lease.token()));
        let rows = match expected {
            None => {
                self.run(
                    MemoryOp::Write,
                    id,
                    false,
                    &self.inner.sql.insert,
                    &[&id, &data, &parent, &finished, &token],
                )
                .await?
            }
            Some(v) => {
                self.run(
                    MemoryOp::Write,
                    id,
                    false,
                    &self.inner.sql.update,
                    &[&id, &data, &parent, &finished, &token, &from_version(v)],
                )
                .await?
            }
        };
        let row = rows
            .first()
            .ok_or_else(|| backend(MemoryOp::Write, id, NoRow))?;
        let written: Option<i64> = row.get(0);
        let mut found: Option<i64> = row.get(1);
        let lease_ok: bool = row.get(2);
        if let Some(v) = written {
            return Ok(to_version(v));
        }
        if !lease_ok {
            return Err(stale(MemoryOp::Write, id, lease));
        }
        if found.is_none() && expected.is_none() {
            // A record inserted concurrently, after this statement's snapshot: read its version.
            found = self.read_version(id).await?;
        }
        Err(MemoryError::Conflict {
            id: id.to_owned(),
            expected,
            found: found.map(to_version),
        })
    }

    /// A write without a lease: one plain statement; when it is refused, the version found is
    /// read for the conflict error.
    async fn write_unfenced(
        &self,
        id: &str,
        data: &str,
        parent: Option<&str>,
        finished: bool,
        expected: Option<Version>,
    ) -> Result<Version, MemoryError> {
        let rows = match expected {
            None => {
                self.run(
                    MemoryOp::Write,
                    id,
                    false,
                    &self.inner.sql.insert_free,
                    &[&id, &data, &parent, &finished],
                )
                .await?
            }
            Some(v) => {
                self.run(
                    MemoryOp::Write,
                    id,
                    false,
                    &self.inner.sql.update_free,
                    &[&id, &data, &parent, &finished, &from_version(v)],
                )
                .await?
            }
        };
        if let Some(row) = rows.first() {
            return Ok(to_version(row.get(0)));
        }
        Err(MemoryError::Conflict {
            id: id.to_owned(),
            expected,
            found: self.read_version(id).await?.map(to_version),
        })
    }

    async fn read_version(&self, id: &str) -> Result<Option<i64>, MemoryError> {
        let rows = self
            .run(MemoryOp::Write, id, true, &self.inner.sql.read, &[&id])
            .await?;
        Ok(rows.first().map(|r| r.get(0)))
    }
}

/// What [`PostgresMemory::cleanup_finished`] removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CleanupReport {
    /// Records of finished workflows deleted.
    pub records: u64,
    /// Expired leases deleted.
    pub leases: u64,
}

/// A statement that must return one row returned none (a server or proxy misbehaving).
#[derive(Debug, thiserror::Error)]
#[error("PostgreSQL returned no row for a statement that always returns one")]
struct NoRow;

fn stale(op: MemoryOp, id: &str, lease: &Lease) -> MemoryError {
    MemoryError::StaleLease {
        op,
        id: id.to_owned(),
        token: lease.token(),
    }
}

fn non_empty(id: &str, op: MemoryOp) -> Result<(), MemoryError> {
    if id.is_empty() {
        Err(MemoryError::EmptyId { op })
    } else {
        Ok(())
    }
}

impl<T: MemoryRecord> MachineMemory<T> for PostgresMemory<T> {
    async fn read(&self, id: &str) -> Result<Option<Versioned<T>>, MemoryError> {
        non_empty(id, MemoryOp::Read)?;
        let rows = self
            .run(MemoryOp::Read, id, true, &self.inner.sql.read, &[&id])
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let version: i64 = row.get(0);
        let data: &str = row.get(1);
        let value = serde_json::from_str(data)
            .map_err(|e| MemoryError::serialization(MemoryOp::Read, id, e))?;
        Ok(Some(Versioned {
            value,
            version: to_version(version),
        }))
    }

    async fn write(
        &self,
        id: &str,
        record: T,
        expected: Option<Version>,
        lease: Option<&Lease>,
    ) -> Result<Version, MemoryError> {
        self.write_now(id, record, expected, lease).await
    }

    async fn delete(&self, id: &str, lease: Option<&Lease>) -> Result<bool, MemoryError> {
        non_empty(id, MemoryOp::Delete)?;
        if let Some(l) = lease.filter(|l| l.subject() != id) {
            return Err(stale(MemoryOp::Delete, id, l));
        }
        let token = lease.map(|l| uuid_of(l.token()));
        let rows = self
            .run(
                MemoryOp::Delete,
                id,
                false,
                &self.inner.sql.delete,
                &[&id, &token],
            )
            .await?;
        let row = rows
            .first()
            .ok_or_else(|| backend(MemoryOp::Delete, id, NoRow))?;
        let (deleted, lease_ok): (bool, bool) = (row.get(0), row.get(1));
        match lease {
            Some(l) if !lease_ok => Err(stale(MemoryOp::Delete, id, l)),
            _ => Ok(deleted),
        }
    }

    async fn try_lock(&self, id: &str, ttl: Duration) -> Result<Option<Lease>, MemoryError> {
        non_empty(id, MemoryOp::Lock)?;
        let token = LeaseToken::random();
        // The local estimate errs early: the clock is read before the request is sent.
        let start = Instant::now();
        let rows = self
            .run(
                MemoryOp::Lock,
                id,
                true,
                &self.inner.sql.try_lock,
                &[&id, &uuid_of(token), &ttl_ms(ttl)],
            )
            .await?;
        Ok((!rows.is_empty()).then(|| Lease::new(id, token, deadline_after(start, ttl))))
    }

    async fn unlock(&self, lease: &Lease) -> Result<bool, MemoryError> {
        let id = lease.subject();
        non_empty(id, MemoryOp::Unlock)?;
        let rows = self
            .run(
                MemoryOp::Unlock,
                id,
                true,
                &self.inner.sql.unlock,
                &[&id, &uuid_of(lease.token())],
            )
            .await?;
        Ok(!rows.is_empty())
    }

    async fn renew(&self, lease: &mut Lease, ttl: Duration) -> Result<(), MemoryError> {
        let id = lease.subject().to_owned();
        non_empty(&id, MemoryOp::Renew)?;
        let start = Instant::now();
        let rows = self
            .run(
                MemoryOp::Renew,
                &id,
                true,
                &self.inner.sql.renew,
                &[&id, &uuid_of(lease.token()), &ttl_ms(ttl)],
            )
            .await?;
        if rows.is_empty() {
            return Err(stale(MemoryOp::Renew, &id, lease));
        }
        lease.set_deadline(deadline_after(start, ttl));
        Ok(())
    }

    fn lock_policy(&self) -> LockPolicy {
        self.inner.policy
    }
}
