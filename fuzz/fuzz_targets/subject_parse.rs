//! Arbitrary bytes (as lossy UTF-8) into `subject::parse`: it must not panic, and whatever it
//! accepts must survive `create` -> `parse` unchanged.
#![no_main]

use arvo_runtime::{codec, subject};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    check(&text);
    // Also feed the bytes as the inflated text, which reaches the JSON and schema code.
    check(&codec::compress_str(&text));
});

fn check(s: &str) {
    if let Ok(content) = subject::parse(s) {
        let again = subject::create(&content).unwrap_or_else(|e| panic!("parsed content does not create: {e}"));
        let back = subject::parse(&again).unwrap_or_else(|e| panic!("created subject does not parse: {e}"));
        assert_eq!(back, content);
    }
}
