//! Runnable examples of Arvo for Rust; see the binaries in `src/bin/`.
