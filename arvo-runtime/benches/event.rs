//! Benchmark placeholder; replaced by the module's owner.
fn main() {
    divan::main();
}
