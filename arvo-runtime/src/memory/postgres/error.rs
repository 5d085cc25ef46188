//! The errors of the PostgreSQL memory, and the mapping of driver failures to memory errors.

use std::fmt;

use deadpool_postgres::PoolError;
use deadpool_postgres::tokio_postgres::{self, error::SqlState};

use super::super::{MemoryError, MemoryOp};

/// A failure to configure, migrate or verify a [`PostgresMemory`](super::PostgresMemory) (the operations of
/// [`MachineMemory`](crate::memory::MachineMemory) report [`MemoryError`]s instead).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresSetupError {
    /// The schema name is not a plain identifier.
    #[error(
        "invalid PostgreSQL schema name '{name}': {reason} (expected [A-Za-z_][A-Za-z0-9_]*, at most 63 bytes)"
    )]
    InvalidSchema {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The connection string could not be parsed.
    #[error("invalid PostgreSQL connection string: {0}")]
    InvalidUrl(#[source] tokio_postgres::Error),
    /// The connection pool could not be built.
    #[error("could not build the PostgreSQL connection pool: {0}")]
    Pool(#[source] deadpool_postgres::BuildError),
    /// No connection could be taken from the pool.
    #[error("could not connect to PostgreSQL for {during}: {source}")]
    Connect {
        /// The step (`migrate`, `verify_schema`, ...).
        during: &'static str,
        /// The pool's error.
        #[source]
        source: PoolError,
    },
    /// A statement of the migration or verification failed.
    #[error("PostgreSQL {during} of schema '{schema}' failed: {source}")]
    Statement {
        /// The step (`migrate`, `verify_schema`, ...).
        during: &'static str,
        /// The schema.
        schema: String,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The schema is not at the version this build needs.
    #[error(
        "PostgreSQL schema '{schema}' is at version {found}, this build needs version {needed}{hint}",
        hint = if *.found < *.needed { ": run PostgresMemory::migrate()" } else { ": it was migrated by a newer build" }
    )]
    SchemaVersion {
        /// The schema.
        schema: String,
        /// The version found (0: not migrated).
        found: i32,
        /// [`SCHEMA_VERSION`](super::SCHEMA_VERSION).
        needed: i32,
    },
}

/// SQLSTATEs after which the statement is known not to have taken effect.
pub(super) fn not_run(e: &tokio_postgres::Error) -> bool {
    let Some(code) = e.code() else {
        return false;
    };
    code == &SqlState::QUERY_CANCELED
        || code == &SqlState::T_R_SERIALIZATION_FAILURE
        || code == &SqlState::T_R_DEADLOCK_DETECTED
        || code == &SqlState::LOCK_NOT_AVAILABLE
        || code == &SqlState::TOO_MANY_CONNECTIONS
        || code == &SqlState::CANNOT_CONNECT_NOW
        || code == &SqlState::ADMIN_SHUTDOWN
        || code.code().starts_with("08")
}

/// The memory error for a backend failure, keeping its source.
pub(super) fn backend(
    op: MemoryOp,
    id: &str,
    e: impl std::error::Error + Send + Sync + 'static,
) -> MemoryError {
    MemoryError::backend(op, id, e)
}

/// The memory error for a driver failure: [`PgError`] around it, so the message says what the
/// server said (tokio-postgres displays a server error as just `db error`).
pub(super) fn driver(op: MemoryOp, id: &str, e: tokio_postgres::Error) -> MemoryError {
    MemoryError::backend(op, id, PgError(e))
}

/// A tokio-postgres error displayed with its cause: the server's severity, SQLSTATE and message,
/// or the I/O error behind a connection failure. Its source is the driver's error.
#[derive(Debug)]
pub struct PgError(pub tokio_postgres::Error);

impl fmt::Display for PgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(db) = self.0.as_db_error() {
            return write!(
                f,
                "{} {}: {}",
                db.severity(),
                db.code().code(),
                db.message()
            );
        }
        write!(f, "{}", self.0)?;
        let mut source = std::error::Error::source(&self.0);
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

impl std::error::Error for PgError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// A pool failure displayed with its cause (see [`PgError`]).
#[derive(Debug)]
pub(super) struct PoolFailure(pub(super) PoolError);

impl fmt::Display for PoolFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            PoolError::Backend(e) => write!(f, "no connection: {}", PgError::ref_display(e)),
            other => write!(f, "no connection: {other}"),
        }
    }
}

impl std::error::Error for PoolFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl PgError {
    fn ref_display(e: &tokio_postgres::Error) -> String {
        let mut out = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            out.push_str(&format!(": {s}"));
            source = s.source();
        }
        out
    }
}
