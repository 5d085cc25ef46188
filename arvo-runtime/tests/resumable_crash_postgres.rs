//! The crash test on the PostgreSQL memory (`common_crash`): a child process runs 500 workflows
//! and is SIGKILLed mid-run; a second process re-delivers every unanswered event; every workflow
//! completes exactly once and every record reads back whole. Needs `ARVO_TEST_POSTGRES_URL`
//! (skipped with a note when unset, a failure when `CI=true`); works in its own schema.
#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common_backends;
mod common_crash;
mod common_resumable;
mod common_tempdir;

use std::path::Path;
use std::time::Duration;

use arvo_runtime::memory::postgres::PostgresMemory;
use arvo_runtime::memory::{LockPolicy, Versioned};
use common_crash::{Backend, Record};

struct Postgres;

impl Backend for Postgres {
    type Memory = PostgresMemory<Record>;

    /// The URL and schema are in `dir/postgres` (written by the test before the run). Leases
    /// live 3 s: the killed process's leases block their workflows until they expire (the
    /// server keeps them, unlike an in-process memory), so the second process waits that long.
    async fn open(dir: &Path) -> Self::Memory {
        let config = std::fs::read_to_string(dir.join("postgres")).unwrap();
        let (url, schema) = config.split_once('\n').unwrap();
        PostgresMemory::builder(url)
            .schema(schema)
            .lock_policy(LockPolicy {
                ttl: Duration::from_secs(3),
                ..common_crash::policy()
            })
            .build()
            .unwrap()
    }

    async fn list(
        memory: &Self::Memory,
        after: Option<&str>,
        limit: usize,
    ) -> Vec<(String, Versioned<Record>)> {
        memory.list(after, limit).await.unwrap()
    }
}

/// The child's entry point (does nothing in a normal test run).
#[test]
fn crash_worker() {
    common_crash::worker_entry::<Postgres>();
}

#[test]
fn a_killed_process_loses_no_workflow_and_none_completes_twice_on_postgres() {
    let Some(url) = common_backends::postgres_url("crash test on PostgreSQL") else {
        return;
    };
    let dir = common_tempdir::TempDir::new("crash-pg");
    let schema = common_backends::unique("arvo_crash");
    std::fs::write(dir.path().join("postgres"), format!("{url}\n{schema}")).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let memory = runtime.block_on(async {
        let m = Postgres::open(dir.path()).await;
        m.migrate().await.unwrap();
        m
    });
    common_crash::a_killed_process_loses_no_workflow_and_none_completes_twice::<Postgres>(
        dir.path(),
        "PostgreSQL",
    );
    runtime.block_on(async {
        let client = memory.pool().get().await.unwrap();
        client
            .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
            .await
            .unwrap();
    });
}
