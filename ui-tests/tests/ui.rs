//! Compile tests of `#[arvo_contract]` (trybuild). Regenerate the `.stderr` files with
//! `TRYBUILD=overwrite cargo test -p arvo-ui-tests --test ui`, then review every one.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/pass/*.rs");
    t.compile_fail("tests/fail/*.rs");
}
