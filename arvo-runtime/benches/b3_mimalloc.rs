//! Scenario B3 exactly as `b3.rs` runs it, with mimalloc as the process's global allocator.
//!
//! A workflow allocates about a hundred small blocks (event attributes, records, futures); the
//! allocator an application links in is its own choice, so this variant shows what that
//! choice is worth. Framework and floor share the allocator within the binary.
//!
//! Run: `cargo bench -p arvo-runtime --bench b3_mimalloc`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "b3.rs"]
mod b3;

fn main() {
    b3::run("mimalloc");
}
