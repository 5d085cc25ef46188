//! Handlers (WIP).
