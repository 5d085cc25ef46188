//! Compile tests of the macros live in `tests/`.

pub mod machine;
