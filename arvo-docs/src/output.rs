//! Writing a catalogue to a folder, all or nothing.

use crate::error::DocsError;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The marker file that says a folder was written by arvo-docs (and may be replaced).
pub const MARKER: &str = ".arvo-docs";

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DocsError + '_ {
    move |source| DocsError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A sibling path of `out` that does not exist yet (`.<name>.<what>-<pid>-<n>`).
fn sibling(out: &Path, what: &str) -> PathBuf {
    let name = out
        .file_name()
        .map_or_else(|| "arvo-docs".into(), |n| n.to_string_lossy().into_owned());
    let parent = out.parent().unwrap_or_else(|| Path::new("."));
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let p = parent.join(format!(".{name}.{what}-{}-{n}", std::process::id()));
        if !p.exists() {
            return p;
        }
    }
}

/// Writes `files` (paths relative to `out`, `/`-separated) into a fresh temporary folder next
/// to `out`, then swaps it in with renames: `out` either keeps its previous content or gets
/// the new one whole. A previous `out` is replaced only if it is empty or carries the
/// [`MARKER`] (a folder arvo-docs wrote), so a mistyped `--out` cannot wipe unrelated files.
pub(crate) fn write_all(out: &Path, files: &[(String, Vec<u8>)]) -> Result<(), DocsError> {
    if out.exists() {
        let foreign = if out.is_dir() {
            let mut entries = std::fs::read_dir(out).map_err(io(out))?;
            entries.next().is_some() && !out.join(MARKER).is_file()
        } else {
            true
        };
        if foreign {
            return Err(DocsError::ForeignOutput {
                path: out.to_owned(),
            });
        }
    }
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let tmp = sibling(out, "tmp");
    let result = write_tree(&tmp, files).and_then(|()| swap_in(&tmp, out));
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

fn write_tree(tmp: &Path, files: &[(String, Vec<u8>)]) -> Result<(), DocsError> {
    std::fs::create_dir(tmp).map_err(io(tmp))?;
    for (rel, bytes) in files {
        let path = rel
            .split('/')
            .filter(|s| !s.is_empty() && *s != "." && *s != "..")
            .fold(tmp.to_owned(), |p, s| p.join(s));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        std::fs::write(&path, bytes).map_err(io(&path))?;
    }
    let marker = tmp.join(MARKER);
    std::fs::write(
        &marker,
        b"Written by arvo-docs; the whole folder is replaced on the next run.\n",
    )
    .map_err(io(&marker))
}

fn swap_in(tmp: &Path, out: &Path) -> Result<(), DocsError> {
    if !out.exists() {
        return std::fs::rename(tmp, out).map_err(io(out));
    }
    let old = sibling(out, "old");
    std::fs::rename(out, &old).map_err(io(out))?;
    if let Err(e) = std::fs::rename(tmp, out) {
        // Put the previous content back.
        let _ = std::fs::rename(&old, out);
        return Err(io(out)(e));
    }
    std::fs::remove_dir_all(&old).map_err(io(&old))
}
