//! Procedural macros of Arvo for Rust. Use them through `arvo-runtime`, which re-exports them.
