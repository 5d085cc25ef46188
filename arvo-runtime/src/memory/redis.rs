//! Redis memory (in progress).
