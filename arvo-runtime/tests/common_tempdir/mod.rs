//! A temporary directory for tests that use files (the redb memory), removed on drop.

use std::path::{Path, PathBuf};

/// A fresh directory under the system's temp dir, removed with its contents on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new, empty directory whose name starts with `arvo-{name}`.
    pub fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("arvo-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create a temp dir");
        Self(dir)
    }

    /// The directory.
    #[allow(dead_code)]
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// `memory.redb` in the directory.
    #[allow(dead_code)]
    pub fn file(&self) -> PathBuf {
        self.0.join("memory.redb")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
