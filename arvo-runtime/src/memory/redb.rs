//! [`RedbMemory`]: the embedded durable machine memory, one local file, no server (feature
//! `redb`).

use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ::redb::{
    Database, Durability, ReadOnlyTable, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    TableDefinition, WriteTransaction,
};

use super::FinishedFn as CleanupPredicate;
use super::{
    InMemoryMemory, Lease, LockPolicy, MachineMemory, MemoryError, MemoryOp, MemoryRecord, Version,
    Versioned,
};

/// The store-wide table of counters.
const META: TableDefinition<'static, &str, u64> = TableDefinition::new("arvo.meta");
/// The key of the next version to hand out in [`META`].
const NEXT_VERSION: &str = "next_version";
/// The prefix of every memory's table name.
const TABLE_PREFIX: &str = "arvo.memory/";

/// A record row: `(version, JSON text)`.
type Row = (u64, &'static str);

/// Why a [`RedbStore`] or one of its memories could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("could not open the redb memory file '{}'{}: {source}", path.display(), table.as_ref().map(|t| format!(" (table '{t}')")).unwrap_or_default())]
pub struct RedbOpenError {
    /// The file.
    pub path: PathBuf,
    /// The memory's table, when opening a memory failed.
    pub table: Option<String>,
    /// redb's error (e.g. `DatabaseAlreadyOpen` when another process has the file open).
    #[source]
    pub source: redb::Error,
}

struct StoreInner {
    /// `None` only once dropped (see the `Drop` impl).
    db: Option<Database>,
    path: PathBuf,
}

impl StoreInner {
    /// The database (only `Drop` takes it away).
    fn db(&self) -> Result<&Database, redb::Error> {
        self.db.as_ref().ok_or(redb::Error::DatabaseClosed)
    }
}

impl Drop for StoreInner {
    /// redb closes the file when its database is dropped, and writes to it then: on a damaged
    /// file that can panic too (see [`contained`]); the file is closed all the same.
    fn drop(&mut self) {
        if let Some(db) = self.db.take() {
            // Nothing to report to: the store is gone either way.
            let _ = crate::handler::catch_panic_sync(move || drop(db));
        }
    }
}

/// One redb file holding any number of [`RedbMemory`] tables. Cheap to clone (shared).
///
/// Only one process can have the file open at a time; [`open`](Self::open) fails with
/// [`RedbOpenError`] (redb's `DatabaseAlreadyOpen`) in a second one.
#[derive(Clone)]
pub struct RedbStore {
    inner: Arc<StoreInner>,
}

impl fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl RedbStore {
    /// Opens the file at `path`, creating it when missing, and repairing it when the last
    /// process using it crashed (redb checks its checksums and rebuilds its allocator state).
    /// Blocking: call it at start-up, or in `spawn_blocking`.
    ///
    /// # Errors
    /// When the file cannot be created or read, is not a redb file, or is open in another
    /// process.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, RedbOpenError> {
        let path = path.as_ref().to_path_buf();
        let error = |source: redb::Error| RedbOpenError {
            path: path.clone(),
            table: None,
            source,
        };
        let db = contained(error, || {
            let db = Database::builder()
                .create(&path)
                .map_err(|e| error(e.into()))?;
            let txn = db.begin_write().map_err(|e| error(e.into()))?;
            txn.open_table(META).map_err(|e| error(e.into()))?;
            txn.commit().map_err(|e| error(e.into()))?;
            Ok(db)
        })?;
        Ok(Self {
            inner: Arc::new(StoreInner { db: Some(db), path }),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The memory named `name` (its table `arvo.memory/{name}`, created when missing), with the
    /// default [`LockPolicy`]. Two calls with the same name share the records but not the
    /// leases: make one memory per name and clone it.
    ///
    /// # Errors
    /// When the table cannot be created, or exists with another layout.
    pub fn memory<T: MemoryRecord>(&self, name: &str) -> Result<RedbMemory<T>, RedbOpenError> {
        self.memory_with_policy(name, LockPolicy::default())
    }

    /// [`memory`](Self::memory) with a [`LockPolicy`] for [`lock`](MachineMemory::lock).
    ///
    /// # Errors
    /// As [`memory`](Self::memory).
    pub fn memory_with_policy<T: MemoryRecord>(
        &self,
        name: &str,
        policy: LockPolicy,
    ) -> Result<RedbMemory<T>, RedbOpenError> {
        let table = format!("{TABLE_PREFIX}{name}");
        let error = |source: redb::Error| RedbOpenError {
            path: self.inner.path.clone(),
            table: Some(table.clone()),
            source,
        };
        contained(error, || {
            let db = self.inner.db().map_err(error)?;
            let txn = db.begin_write().map_err(|e| error(e.into()))?;
            txn.open_table(TableDefinition::<&str, Row>::new(&table))
                .map_err(|e| error(e.into()))?;
            txn.commit().map_err(|e| error(e.into()))
        })?;
        Ok(RedbMemory {
            inner: Arc::new(MemoryInner {
                store: Arc::clone(&self.inner),
                table,
                leases: InMemoryMemory::with_policy(policy),
            }),
            cleanup: None,
            _records: PhantomData,
        })
    }
}

struct MemoryInner {
    store: Arc<StoreInner>,
    table: String,
    /// The leases: in the process, because the file is (see the module docs).
    leases: InMemoryMemory<()>,
}

impl MemoryInner {
    fn definition(&self) -> TableDefinition<'_, &'static str, Row> {
        TableDefinition::new(&self.table)
    }

    /// The table, in a new read transaction (which the table keeps alive).
    fn read_table(
        &self,
        op: MemoryOp,
        id: &str,
    ) -> Result<ReadOnlyTable<&'static str, Row>, MemoryError> {
        self.store
            .db()
            .map_err(backend(op, id))?
            .begin_read()
            .map_err(backend(op, id))?
            .open_table(self.definition())
            .map_err(backend(op, id))
    }

    fn begin(&self, op: MemoryOp, id: &str) -> Result<WriteTransaction, MemoryError> {
        let mut txn = self
            .store
            .db()
            .map_err(backend(op, id))?
            .begin_write()
            .map_err(backend(op, id))?;
        txn.set_durability(Durability::Immediate)
            .map_err(backend(op, id))?;
        Ok(txn)
    }

    /// The next store-wide version, counted in `txn`.
    fn next_version(
        &self,
        txn: &WriteTransaction,
        op: MemoryOp,
        id: &str,
    ) -> Result<u64, MemoryError> {
        let mut meta = txn.open_table(META).map_err(backend(op, id))?;
        let next = meta
            .get(NEXT_VERSION)
            .map_err(backend(op, id))?
            .map_or(1, |g| g.value());
        meta.insert(NEXT_VERSION, next.saturating_add(1))
            .map_err(backend(op, id))?;
        Ok(next)
    }

    fn write_blocking(
        &self,
        id: &str,
        json: &str,
        remove: bool,
        expected: Option<Version>,
        lease: Option<&Lease>,
    ) -> Result<Version, MemoryError> {
        const OP: MemoryOp = MemoryOp::Write;
        let txn = self.begin(OP, id)?;
        // Checked while this transaction is the only writer (see the module docs).
        self.leases.check_fence(OP, id, lease)?;
        let version = {
            let mut table = txn.open_table(self.definition()).map_err(backend(OP, id))?;
            let found = table
                .get(id)
                .map_err(backend(OP, id))?
                .map(|g| Version::from_raw(g.value().0));
            if found != expected {
                return Err(MemoryError::Conflict {
                    id: id.to_owned(),
                    expected,
                    found,
                });
            }
            let version = self.next_version(&txn, OP, id)?;
            if remove {
                table.remove(id).map_err(backend(OP, id))?;
            } else {
                table.insert(id, (version, json)).map_err(backend(OP, id))?;
            }
            version
        };
        txn.commit().map_err(backend(OP, id))?;
        Ok(Version::from_raw(version))
    }

    fn delete_blocking(&self, id: &str, lease: Option<&Lease>) -> Result<bool, MemoryError> {
        const OP: MemoryOp = MemoryOp::Delete;
        let txn = self.begin(OP, id)?;
        self.leases.check_fence(OP, id, lease)?;
        let existed = {
            let mut table = txn.open_table(self.definition()).map_err(backend(OP, id))?;
            table.remove(id).map_err(backend(OP, id))?.is_some()
        };
        if existed {
            txn.commit().map_err(backend(OP, id))?;
        } else {
            txn.abort().map_err(backend(OP, id))?;
        }
        Ok(existed)
    }
}

fn backend<E: Into<redb::Error>>(op: MemoryOp, id: &str) -> impl FnOnce(E) -> MemoryError + '_ {
    move |e| MemoryError::backend(op, id, e.into())
}

fn non_empty(id: &str, op: MemoryOp) -> Result<(), MemoryError> {
    if id.is_empty() {
        Err(MemoryError::EmptyId { op })
    } else {
        Ok(())
    }
}

/// A lease that can be moved to the blocking pool (leases are deliberately not `Clone`).
fn copy_lease(lease: Option<&Lease>) -> Option<Lease> {
    lease.map(|l| Lease::new(l.subject(), l.token(), l.deadline()))
}

/// Runs `f`, calls into redb, turning a panic in them into `on_panic` of
/// [`redb::Error::Corrupted`] with the panic's message. redb trusts the pages of a file that was
/// closed cleanly, and some damage to them (the file changed outside redb) makes it panic;
/// flipping bits in a file found "Malformed allocator state", a key that is not UTF-8 and slices
/// out of range. Such a file is refused or its records are errors, never a panic of the caller.
fn contained<R, E>(
    on_panic: impl FnOnce(redb::Error) -> E,
    f: impl FnOnce() -> Result<R, E>,
) -> Result<R, E> {
    crate::handler::catch_panic_sync(f).unwrap_or_else(|panic| {
        Err(on_panic(redb::Error::Corrupted(format!(
            "redb failed on the file's contents (damaged outside redb?): {}",
            panic.message()
        ))))
    })
}

/// Runs `f` on tokio's blocking pool; a panic (see [`contained`]) or cancellation of the task is
/// a backend error.
async fn blocking<R: Send + 'static>(
    op: MemoryOp,
    id: &str,
    f: impl FnOnce() -> Result<R, MemoryError> + Send + 'static,
) -> Result<R, MemoryError> {
    let owned_id = id.to_owned();
    let f = move || contained(|e| MemoryError::backend(op, owned_id, e), f);
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(join) => Err(MemoryError::backend(op, id, join)),
    }
}

/// A [`MachineMemory`] in a redb file: durable, crash-safe, for the tasks of one process.
///
/// Made by [`RedbStore::memory`]. Cloning is cheap and shares records and leases.
///
/// # Why redb
///
/// [redb](https://docs.rs/redb) is a pure-Rust, ACID, single-file B-tree store whose only
/// dependency is `libc`: nothing to build from C, nothing to run beside the process. Its write
/// transactions are serialised and commit atomically (copy-on-write pages, checksummed roots), so
/// a write either happened or did not after a `SIGKILL` or a power loss, and its MVCC reads never
/// wait for a writer. SQLite (through rusqlite) would give the same guarantees with SQL, at the
/// price of a C build and a second SQLite story in the dependency graph (sqlx-sqlite and
/// rusqlite cannot coexist); an LSM store (fjall) suits append-heavy logs better than the small
/// read-modify-write records of workflows.
///
/// # Layout and semantics
///
/// A [`RedbStore`] is one file; it holds any number of memories, each a table
/// `arvo.memory/{name}` mapping a subject to `(version, JSON)`: records are stored as
/// `serde_json` text, readable with any redb tool. Versions come from one store-wide counter
/// (table `arvo.meta`), so a version is never reused, not even after a delete or a restart.
/// [`write`](MachineMemory::write) is compare-and-swap on that version inside one write
/// transaction.
///
/// **Leases live in the process, not in the file.** A redb file is opened by one process at a
/// time (redb locks it; a second open fails with "database already open"), so the process that
/// has the file open is the only one that can hold a lease on its subjects. Leases are kept, with
/// their owner tokens and TTLs, in an in-process table exactly like [`InMemoryMemory`]'s; a
/// fenced write or delete checks the lease *inside* its write transaction, after redb has made
/// it the only writer. After a crash or restart the old process's leases are gone with it: the
/// next process can take over every workflow at once, instead of waiting for stale leases to
/// expire, which is what persisted leases with a wall-clock expiry would force on it. It also
/// saves two durable commits (lock and unlock) per workflow step: one step is one commit.
///
/// # Durability and threads
///
/// Every write, delete and cleanup commits with [`redb::Durability::Immediate`]: when the call
/// returns `Ok`, the record is on disk (fsync'd). redb is synchronous: writes and deletes run on
/// tokio's blocking pool (`spawn_blocking`), so a commit waiting for the disk or for another
/// writer never stalls the async workers; reads run inline (a read transaction never waits for a
/// writer and only touches pages, usually cached). `try_lock`, `unlock` and `renew` touch no
/// file. A write whose future is dropped after it started still commits or fails as a whole.
/// Measured with `benches/b3_redb.rs`: on a disk, the fsync dominates and the workflow runs at
/// its floor's speed (raw redb commits made by hand); on tmpfs, where a commit needs no fsync,
/// committing on the calling thread instead of the blocking pool saved about an eighth of a
/// workflow's time, not worth stalling an async worker for a commit.
///
/// # A damaged file
///
/// redb recovers a file after a crash or a power loss by itself. A file changed outside redb
/// (a disk fault, a stray write) is another matter: redb trusts the pages of a file that was
/// closed cleanly, and some damage to them makes it panic. Every call into redb here turns such
/// a panic into an error ([`RedbOpenError`] or [`MemoryError::Backend`], with redb's
/// `Corrupted` and the panic's message), dropping the store included. Damage redb cannot see
/// can also make a record read as absent; restore the file from a backup.
///
/// ```
/// use arvo_runtime::memory::{MachineMemory, RedbStore};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let dir = std::env::temp_dir().join(format!("arvo-redb-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("state.redb");
/// {
///     let store = RedbStore::open(&path)?;
///     let memory = store.memory::<String>("orders")?;
///     let lease = memory.lock("subject-1", memory.lock_policy().ttl).await?;
///     memory.write("subject-1", "waiting".to_owned(), None, Some(&lease)).await?;
///     memory.unlock(&lease).await?;
/// }
/// // Another process (here: a new store) finds the record.
/// let store = RedbStore::open(&path)?;
/// let memory = store.memory::<String>("orders")?;
/// assert_eq!(memory.read("subject-1").await?.map(|v| v.value), Some("waiting".to_owned()));
/// # drop(store);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct RedbMemory<T> {
    inner: Arc<MemoryInner>,
    cleanup: Option<CleanupPredicate<T>>,
    _records: PhantomData<fn() -> T>,
}

impl<T> Clone for RedbMemory<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            cleanup: self.cleanup.clone(),
            _records: PhantomData,
        }
    }
}

impl<T> fmt::Debug for RedbMemory<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbMemory")
            .field("path", &self.inner.store.path)
            .field("table", &self.inner.table)
            .field("cleanup", &self.cleanup.is_some())
            .finish_non_exhaustive()
    }
}

impl<T: MemoryRecord> RedbMemory<T> {
    /// Enables cleanup of finished workflows, as [`InMemoryMemory::cleanup_when`]: a successful
    /// write whose record satisfies `finished` deletes the subject's record instead (in the same
    /// transaction; the write still returns a new version).
    pub fn cleanup_when(mut self, finished: impl Fn(&T) -> bool + Send + Sync + 'static) -> Self {
        self.cleanup = Some(Arc::new(finished));
        self
    }

    /// The name of this memory's table in the file (`arvo.memory/{name}`).
    pub fn table(&self) -> &str {
        &self.inner.table
    }

    /// The store (file) this memory lives in.
    pub fn store_path(&self) -> &Path {
        &self.inner.store.path
    }

    /// Number of stored records.
    ///
    /// # Errors
    /// [`MemoryError::Backend`] when the file cannot be read.
    pub fn len(&self) -> Result<u64, MemoryError> {
        const OP: MemoryOp = MemoryOp::Read;
        contained(backend(OP, ""), || {
            let table = self.inner.read_table(OP, "")?;
            table.len().map_err(backend(OP, ""))
        })
    }

    /// Whether no record is stored.
    ///
    /// # Errors
    /// As [`len`](Self::len).
    pub fn is_empty(&self) -> Result<bool, MemoryError> {
        Ok(self.len()? == 0)
    }

    /// Up to `limit` records in subject order, starting after `after` (`None`: from the first):
    /// a page of the stored workflows, e.g. to find the ones waiting after a restart. Pass the
    /// last subject of a page as `after` to get the next; memory stays bounded by `limit`.
    ///
    /// # Errors
    /// [`MemoryError::Backend`] when the file cannot be read; [`MemoryError::Serialization`]
    /// naming the subject when a stored record is not a `T`.
    pub fn list(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Versioned<T>)>, MemoryError> {
        const OP: MemoryOp = MemoryOp::Read;
        let at = after.unwrap_or("");
        contained(backend(OP, at), || {
            let table = self.inner.read_table(OP, at)?;
            let range = match after {
                Some(after) => {
                    table.range((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
                }
                None => table.range(..),
            }
            .map_err(backend(OP, at))?;
            let mut out = Vec::with_capacity(limit.min(1024));
            for entry in range.take(limit) {
                let (key, row) = entry.map_err(backend(OP, at))?;
                let id = key.value().to_owned();
                let (version, json) = row.value();
                let value = serde_json::from_str(json)
                    .map_err(|e| MemoryError::serialization(OP, id.clone(), e))?;
                out.push((
                    id,
                    Versioned {
                        value,
                        version: Version::from_raw(version),
                    },
                ));
            }
            Ok(out)
        })
    }

    fn read_now(&self, id: &str) -> Result<Option<Versioned<T>>, MemoryError> {
        const OP: MemoryOp = MemoryOp::Read;
        non_empty(id, OP)?;
        let table = self.inner.read_table(OP, id)?;
        let Some(row) = table.get(id).map_err(backend(OP, id))? else {
            return Ok(None);
        };
        let (version, json) = row.value();
        let value =
            serde_json::from_str(json).map_err(|e| MemoryError::serialization(OP, id, e))?;
        Ok(Some(Versioned {
            value,
            version: Version::from_raw(version),
        }))
    }
}

impl<T: MemoryRecord> MachineMemory<T> for RedbMemory<T> {
    fn read(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<Versioned<T>>, MemoryError>> + Send {
        std::future::ready(contained(backend(MemoryOp::Read, id), || self.read_now(id)))
    }

    async fn write(
        &self,
        id: &str,
        record: T,
        expected: Option<Version>,
        lease: Option<&Lease>,
    ) -> Result<Version, MemoryError> {
        const OP: MemoryOp = MemoryOp::Write;
        non_empty(id, OP)?;
        let remove = self.cleanup.as_ref().is_some_and(|f| f(&record));
        let json = if remove {
            String::new()
        } else {
            super::record_json(OP, id, &record)?
        };
        let inner = Arc::clone(&self.inner);
        let owned_id = id.to_owned();
        let lease = copy_lease(lease);
        blocking(OP, id, move || {
            inner.write_blocking(&owned_id, &json, remove, expected, lease.as_ref())
        })
        .await
    }

    async fn delete(&self, id: &str, lease: Option<&Lease>) -> Result<bool, MemoryError> {
        const OP: MemoryOp = MemoryOp::Delete;
        non_empty(id, OP)?;
        let inner = Arc::clone(&self.inner);
        let owned_id = id.to_owned();
        let lease = copy_lease(lease);
        blocking(OP, id, move || {
            inner.delete_blocking(&owned_id, lease.as_ref())
        })
        .await
    }

    fn try_lock(
        &self,
        id: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<Option<Lease>, MemoryError>> + Send {
        self.inner.leases.try_lock(id, ttl)
    }

    fn unlock(&self, lease: &Lease) -> impl Future<Output = Result<bool, MemoryError>> + Send {
        self.inner.leases.unlock(lease)
    }

    fn renew(
        &self,
        lease: &mut Lease,
        ttl: Duration,
    ) -> impl Future<Output = Result<(), MemoryError>> + Send {
        self.inner.leases.renew(lease, ttl)
    }

    fn lock_policy(&self) -> LockPolicy {
        self.inner.leases.lock_policy()
    }
}
