//! Arvo for Rust.
