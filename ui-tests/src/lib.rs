//! Compile tests of the macros live in `tests/`.
