//! Arbitrary bytes (as lossy UTF-8) into `subject::parse`: it must not panic, whatever it
//! accepts must survive `create` -> `parse` unchanged, and the fast reader of the canonical
//! layout must agree with the serde path (same content whenever it reads a text; same result
//! of the whole decoded-JSON step). The bytes are also spliced into the canonical layout
//! (split on `|`), so that the fast reader sees its own layout with arbitrary field contents.
#![no_main]

use arvo_runtime::issue::MAX_QUOTED_BYTES;
use arvo_runtime::subject::{SubjectError, SubjectFault};
use arvo_runtime::{codec, subject};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    check(&text);
    // Also feed the bytes as the inflated text, which reaches the JSON and schema code.
    check(&codec::compress_str(&text));
    same_readers(&text);
    let spliced = splice(&text);
    check(&codec::compress_str(&spliced));
    same_readers(&spliced);
});

fn check(s: &str) {
    match subject::parse(s) {
        Ok(content) => {
            let again = match subject::create(&content) {
                Ok(again) => again,
                // `create` refuses what `parse` would refuse: content whose own JSON is over
                // the decoded limit (the input's text can be shorter: escapes, replaced bytes).
                Err(e) if e.cause() == &SubjectFault::TooLarge => {
                    assert!(
                        content.to_json().len() > codec::MAX_DECODED_LEN,
                        "create refused content of {} bytes: {e}",
                        content.to_json().len()
                    );
                    return;
                }
                Err(e) => panic!("parsed content does not create: {e}"),
            };
            let back = subject::parse(&again)
                .unwrap_or_else(|e| panic!("created subject does not parse: {e}"));
            assert_eq!(back, content);
        }
        // Errors quote a bounded prefix of the input: only validation issues (one per bad
        // field of at most 64 KiB of decoded JSON) can make the message long.
        Err(e) => {
            if !matches!(e.cause(), SubjectFault::Invalid(_)) {
                let len = e.to_string().len();
                assert!(
                    len < 4 * MAX_QUOTED_BYTES,
                    "a {len}-byte message for a {}-byte subject",
                    s.len()
                );
            }
        }
    }
}

/// The fast reader against serde_json on `json`, then `parse` (fast reader first) against the
/// serde path alone on the same decoded text.
fn same_readers(json: &str) {
    let (fast, slow) = subject::__json_readers(json);
    if let Some(fast) = fast {
        match slow {
            Ok(slow) => assert_eq!(fast, slow, "{json:?}"),
            Err(e) => panic!("the fast reader read {json:?}, serde_json refused it: {e}"),
        }
    }
    let with_fast = match subject::parse(&codec::compress_str(json)) {
        Ok(content) => Ok(content),
        // Limits of the codec, not of the JSON step: nothing to compare.
        Err(SubjectError::Parse {
            cause: SubjectFault::TooLarge | SubjectFault::TooLong { .. } | SubjectFault::Undecodable,
            ..
        }) => return,
        Err(e) => Err(e.cause().clone()),
    };
    assert_eq!(
        with_fast,
        subject::__parse_json_serde(json.as_bytes()),
        "{json:?}"
    );
}

/// `text` split on `|` into the canonical layout: name, version, id, initiator, the raw
/// domain value (`null` when absent) and the raw body of `meta`, each part inserted as it is.
fn splice(text: &str) -> String {
    let mut parts = text.split('|');
    let mut next = |default: &'static str| parts.next().map_or(default.to_owned(), str::to_owned);
    let name = next("arvo.orc.bench.calc");
    let version = next("1.0.0");
    let id = next("0b7f0c1e-3a4b-4c5d-8e9f-a0b1c2d3e4f5");
    let initiator = next("com.bench.client");
    let domain = next("null");
    let meta = next("");
    format!(
        r#"{{"orchestrator":{{"name":"{name}","version":"{version}"}},"execution":{{"id":"{id}","initiator":"{initiator}","domain":{domain}}},"meta":{{{meta}}}}}"#
    )
}
