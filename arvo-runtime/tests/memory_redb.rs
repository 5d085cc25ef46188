//! `RedbMemory` beyond the conformance suite: records, versions and tables survive reopening
//! the file, listing pages through records, a second open is refused with a clear error, a
//! record that is not the expected type is a serialisation error keeping serde's error, a record
//! too deep to read back is refused on write, cleanup.

mod common_tempdir;

use arvo_runtime::memory::{MachineMemory, MemoryError, MemoryOp, RedbStore};
use common_tempdir::TempDir;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Flow {
    step: u32,
    status: String,
}

fn flow(step: u32, status: &str) -> Flow {
    Flow {
        step,
        status: status.to_owned(),
    }
}

#[tokio::test]
async fn records_and_versions_survive_reopening() {
    let dir = TempDir::new("redb-reopen");
    let (v_a, v_deleted) = {
        let store = RedbStore::open(dir.file()).expect("open");
        let orders = store.memory::<Flow>("orders").expect("orders");
        let payments = store.memory::<u64>("payments").expect("payments");
        let lease = orders
            .lock("a", orders.lock_policy().ttl)
            .await
            .expect("lock");
        let v_a = orders
            .write("a", flow(1, "waiting"), None, Some(&lease))
            .await
            .expect("write a");
        // The lease is held when the process "dies": the next process must not wait for it.
        std::mem::forget(lease);
        let v_b = orders
            .write("b", flow(1, "x"), None, None)
            .await
            .expect("b");
        assert!(orders.delete("b", None).await.expect("delete b"));
        payments.write("a", 7, None, None).await.expect("payment");
        (v_a, v_b)
    };
    let store = RedbStore::open(dir.file()).expect("reopen");
    let orders = store.memory::<Flow>("orders").expect("orders");
    let payments = store.memory::<u64>("payments").expect("payments");
    let read = orders.read("a").await.expect("read").expect("record a");
    assert_eq!((read.value, read.version), (flow(1, "waiting"), v_a));
    assert!(orders.read("b").await.expect("read b").is_none());
    assert_eq!(
        payments.read("a").await.expect("p").map(|v| v.value),
        Some(7)
    );
    // The tables are separate.
    assert_eq!(orders.len().expect("len"), 1);
    // The dead process's lease is gone: the workflow can be taken over at once.
    let lease = orders
        .try_lock("a", orders.lock_policy().ttl)
        .await
        .expect("try_lock")
        .expect("no lease survives the process");
    // Versions keep counting after a restart: none is handed out twice.
    let v = orders
        .write("a", flow(2, "done"), Some(v_a), Some(&lease))
        .await
        .expect("update");
    assert!(v > v_a && v > v_deleted, "{v} after {v_a} and {v_deleted}");
    let recreated = orders
        .write("b", flow(1, "y"), None, None)
        .await
        .expect("b");
    assert!(recreated > v, "{recreated} after {v}");
}

#[tokio::test]
async fn a_second_open_of_the_file_is_refused_with_its_path() {
    let dir = TempDir::new("redb-twice");
    let _store = RedbStore::open(dir.file()).expect("open");
    let err = RedbStore::open(dir.file()).expect_err("the file is open");
    let message = err.to_string();
    assert!(message.contains("memory.redb"), "{message}");
    assert!(
        matches!(err.source, ::redb::Error::DatabaseAlreadyOpen),
        "{:?}",
        err.source
    );
}

#[tokio::test]
async fn list_pages_through_the_records_in_subject_order() {
    let dir = TempDir::new("redb-list");
    let store = RedbStore::open(dir.file()).expect("open");
    let memory = store.memory::<Flow>("orders").expect("orders");
    for i in (0..25_u32).rev() {
        memory
            .write(&format!("s{i:02}"), flow(i, "x"), None, None)
            .await
            .expect("write");
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = memory.list(after.as_deref(), 10).expect("list");
        assert!(page.len() <= 10);
        let Some((last, _)) = page.last() else { break };
        after = Some(last.clone());
        seen.extend(page.into_iter().map(|(id, v)| (id, v.value.step)));
    }
    let expected: Vec<_> = (0..25_u32).map(|i| (format!("s{i:02}"), i)).collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn a_record_of_another_type_is_a_serialisation_error_with_serdes_source() {
    let dir = TempDir::new("redb-type");
    let store = RedbStore::open(dir.file()).expect("open");
    store
        .memory::<String>("shared")
        .expect("strings")
        .write("s", "not a flow".to_owned(), None, None)
        .await
        .expect("write");
    let flows = store.memory::<Flow>("shared").expect("flows");
    let err = flows.read("s").await.expect_err("a string is not a Flow");
    assert!(
        matches!(&err, MemoryError::Serialization { op: MemoryOp::Read, id, .. } if id == "s"),
        "{err:?}"
    );
    let source = std::error::Error::source(&err).expect("source");
    assert!(
        source.downcast_ref::<serde_json::Error>().is_some(),
        "{source:?}"
    );
    assert_eq!(err.transaction_cause(), "READ_MACHINE_MEMORY_FAILURE");
    let err = flows.list(None, 10).expect_err("list sees the bad record");
    assert!(matches!(err, MemoryError::Serialization { .. }), "{err:?}");
}

/// Regression: a record nested deeper than `serde_json` reads back was written, and every later
/// read of it failed (the workflow was stuck, its last good state overwritten). It is refused
/// on write now, the stored record kept.
#[tokio::test]
async fn records_too_deep_to_read_back_are_refused() {
    let dir = TempDir::new("redb-deep");
    let store = RedbStore::open(dir.file()).expect("open");
    let m = store.memory::<serde_json::Value>("deep").expect("memory");
    arvo_runtime::memory::conformance::records_too_deep_to_read_back_are_refused(&m).await;
}

#[tokio::test]
async fn cleanup_removes_finished_records_in_the_same_commit() {
    let dir = TempDir::new("redb-cleanup");
    let store = RedbStore::open(dir.file()).expect("open");
    let memory = store
        .memory::<Flow>("orders")
        .expect("orders")
        .cleanup_when(|f| f.status == "done");
    let v = memory
        .write("s", flow(1, "active"), None, None)
        .await
        .expect("write");
    memory
        .write("s", flow(2, "done"), Some(v), None)
        .await
        .expect("finish");
    assert!(memory.read("s").await.expect("read").is_none());
    assert!(memory.is_empty().expect("empty"));
}

#[tokio::test]
async fn a_damaged_file_is_refused_or_read_with_errors_never_a_panic() {
    // redb trusts a cleanly closed file's pages; damage made outside redb made it panic (in
    // open, in reads and in writes). Each such panic is now a backend error naming the damage.
    let dir = TempDir::new("redb-damaged");
    {
        let store = RedbStore::open(dir.file()).expect("open");
        let orders = store.memory::<Flow>("orders").expect("orders");
        for i in 0..200 {
            orders
                .write(&format!("s{i}"), flow(i, &"waiting".repeat(20)), None, None)
                .await
                .expect("write");
        }
    }
    let good = std::fs::read(dir.file()).expect("file");
    let (mut refused, mut failed, mut whole, mut corrupted) = (0, 0, 0, 0);
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    for trial in 0..300usize {
        let mut bytes = good.clone();
        if trial % 3 == 0 {
            bytes.truncate(trial * 997 % good.len());
        } else {
            for _ in 0..1 + trial % 8 {
                rng = rng
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let at = (rng >> 33) as usize % bytes.len();
                bytes[at] ^= 1 << (rng % 8);
            }
        }
        std::fs::write(dir.file(), &bytes).expect("damage");
        let store = match RedbStore::open(dir.file()) {
            Ok(store) => store,
            Err(e) => {
                refused += 1;
                assert!(
                    e.to_string().contains(&dir.file().display().to_string()),
                    "{e}"
                );
                continue;
            }
        };
        let orders = match store.memory::<Flow>("orders") {
            Ok(orders) => orders,
            Err(_) => {
                refused += 1;
                continue;
            }
        };
        let mut errors = Vec::new();
        for i in 0..200 {
            if let Err(e) = orders.read(&format!("s{i}")).await {
                errors.push(e.to_string());
            }
        }
        if let Err(e) = orders.write("new", flow(0, "x"), None, None).await {
            errors.push(e.to_string());
        }
        if let Err(e) = orders.list(None, 500) {
            errors.push(e.to_string());
        }
        if errors.is_empty() {
            whole += 1;
        } else {
            failed += 1;
        }
        corrupted += errors
            .iter()
            .filter(|e| e.contains("damaged outside redb"))
            .count();
    }
    println!("refused {refused}, errors {failed}, read whole {whole}");
    assert_eq!(refused + failed + whole, 300);
    assert!(
        refused > 0 && failed > 0,
        "the damage reached both open and reads"
    );
    assert!(
        corrupted > 0,
        "some damage made redb panic, reported as an error"
    );
}
