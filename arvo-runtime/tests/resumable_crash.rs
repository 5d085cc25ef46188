//! The crash test of the embedded durable memory (`common_crash`, on a redb file): a child
//! process runs 500 fan-out workflows on the in-process broker with their state in a redb file,
//! and is killed with `SIGKILL` mid-run. A second process re-delivers every unanswered event
//! (derived from the records, see `common_crash`), and every workflow completes exactly once;
//! every record reads back whole, as a done workflow. Figures are printed (`--nocapture`).
//!
//! The test re-executes its own binary: `crash_worker` is the child's entry point and does
//! nothing unless `ARVO_CRASH_DIR` is set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common_crash;
mod common_resumable;
mod common_tempdir;

use std::path::Path;

use arvo_runtime::memory::{RedbMemory, RedbStore, Versioned};
use common_crash::{Backend, Record};

struct Redb;

impl Backend for Redb {
    type Memory = RedbMemory<Record>;

    /// The file `dir/memory.redb`, opened anew by each process (redb locks it against a second
    /// process, so the killed process's leases are void once the file is reopened).
    async fn open(dir: &Path) -> Self::Memory {
        let store = RedbStore::open(dir.join("memory.redb")).unwrap();
        store
            .memory_with_policy("calc", common_crash::policy())
            .unwrap()
    }

    async fn list(
        memory: &Self::Memory,
        after: Option<&str>,
        limit: usize,
    ) -> Vec<(String, Versioned<Record>)> {
        memory.list(after, limit).unwrap()
    }
}

/// The child's entry point (does nothing in a normal test run).
#[test]
fn crash_worker() {
    common_crash::worker_entry::<Redb>();
}

#[test]
fn a_killed_process_loses_no_workflow_and_none_completes_twice() {
    let dir = common_tempdir::TempDir::new("crash");
    common_crash::a_killed_process_loses_no_workflow_and_none_completes_twice::<Redb>(
        dir.path(),
        "redb",
    );
}
