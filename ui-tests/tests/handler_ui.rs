//! Compile tests of `#[arvo_handler]` and handler registration (trybuild). Regenerate the
//! `.stderr` files with `TRYBUILD=overwrite cargo test -p arvo-ui-tests --test handler_ui`,
//! then review every one.

#[test]
fn handler_ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/handler/pass/*.rs");
    t.compile_fail("tests/handler/fail/*.rs");
}
