//! Compile tests of `#[arvo_machine]` (trybuild); the pass cases also run. Regenerate the
//! `.stderr` files with `TRYBUILD=overwrite cargo test -p arvo-ui-tests --test machine_ui`,
//! then review every one.

#[test]
fn machine_ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/machine/pass/*.rs");
    t.compile_fail("tests/machine/fail/*.rs");
}
