//! Subject size limits (issue 15): what `create` makes, `parse` reads; errors quote a bounded
//! prefix of their input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use arvo_runtime::codec::{MAX_DECODED_LEN, compress_str};
use arvo_runtime::issue::MAX_QUOTED_BYTES;
use arvo_runtime::subject::{self, Meta, SubjectContent, SubjectError, SubjectFault};

fn content_with_meta(value_len: usize) -> SubjectContent {
    let mut c = SubjectContent::new(
        "arvo.orc.example.flow",
        "1.0.0",
        "exec-1",
        "com.example.client",
    );
    c.meta.insert("k".into(), "v".repeat(value_len));
    c
}

/// The length of `content_with_meta(n)`'s JSON is `base + n`.
fn base_len() -> usize {
    content_with_meta(0).to_json().len()
}

/// Regression (issue 15, item 6): on `main`, `create` accepted content whose JSON is over the
/// 64 KiB that `parse` decodes, making a subject that could not be parsed back. Now `create`
/// refuses it with `parse`'s fault and message; at the limit both succeed.
#[test]
fn create_refuses_what_parse_refuses() {
    // At the limit: created and parsed back.
    let at = content_with_meta(MAX_DECODED_LEN - base_len());
    assert_eq!(at.to_json().len(), MAX_DECODED_LEN);
    let s = subject::create(&at).unwrap();
    assert_eq!(subject::parse(&s).unwrap(), at);

    // One byte over: refused, with the same fault as `parse` gives for the same JSON.
    let over = content_with_meta(MAX_DECODED_LEN - base_len() + 1);
    let err = subject::create(&over).unwrap_err();
    assert_eq!(err.cause(), &SubjectFault::TooLarge);
    let parse_err = subject::parse(&compress_str(&over.to_json())).unwrap_err();
    assert_eq!(parse_err.cause(), err.cause());
    assert_eq!(
        err.cause().to_string(),
        "decoded subject exceeds 65536 bytes"
    );
    let line = |e: &SubjectError| {
        e.to_string()
            .lines()
            .find(|l| l.starts_with("Error -> "))
            .unwrap()
            .to_owned()
    };
    assert_eq!(line(&err), line(&parse_err));
    // The error quotes a bounded prefix of the content.
    assert!(
        err.to_string().len() < 2 * MAX_QUOTED_BYTES,
        "{}",
        err.to_string().len()
    );

    // `create_value` refuses it too.
    let v: serde_json::Value = serde_json::from_str(&over.to_json()).unwrap();
    assert_eq!(
        subject::create_value(&v).unwrap_err().cause(),
        &SubjectFault::TooLarge
    );
}

/// Regression (issue 15, item 6): a child of a large parent inherits its meta; on `main` the
/// child subject was made although `parse` refused it.
#[test]
fn a_child_of_a_large_parent_is_refused_when_too_large() {
    let parent = content_with_meta(40_000);
    let mut meta = Meta::new();
    meta.insert("more".into(), "w".repeat(30_000));
    let err = subject::child_of(&parent, "arvo.orc.child", None, None, meta).unwrap_err();
    assert_eq!(err.cause(), &SubjectFault::TooLarge);
    // A small child of the same parent is fine, and parses back.
    let child = subject::child_of(&parent, "arvo.orc.child", None, None, Meta::new()).unwrap();
    assert_eq!(&subject::parse(child.as_str()).unwrap(), child.content());
}

/// Regression (issue 15, item 7): on `main` the parse error copied the whole subject into its
/// message (5 MB in, 5 MB out; a 1.4 MB decompression bomb gave a 1.4 MB message).
#[test]
fn parse_errors_quote_a_bounded_prefix() {
    let huge = "A".repeat(5_000_000);
    let err = subject::parse(&huge).unwrap_err();
    assert_eq!(err.cause(), &SubjectFault::TooLong { len: 5_000_000 });
    let text = err.to_string();
    assert!(text.len() < MAX_QUOTED_BYTES + 300, "{} bytes", text.len());
    assert!(
        text.ends_with("... (5000000 bytes in all)"),
        "{}",
        &text[text.len() - 60..]
    );

    // A decompression bomb within the encoded limit: 16 MB of zeros inflate from ~22 KB.
    let bomb = compress_str(&"0".repeat(16 << 20));
    assert!(bomb.len() > 2 * MAX_QUOTED_BYTES);
    let err = subject::parse(&bomb).unwrap_err();
    assert_eq!(err.cause(), &SubjectFault::TooLarge);
    assert!(err.to_string().len() < MAX_QUOTED_BYTES + 300);
    // A short invalid subject is still quoted whole, as the reference does.
    assert_eq!(
        subject::parse("not a subject").unwrap_err().to_string(),
        "Error parsing orchestration subject string to the context.\nError -> undefined\nsubject -> not a subject"
    );
}

/// The truncation keeps character boundaries (multi-byte characters are never cut).
#[test]
fn quoted_prefixes_end_on_a_character_boundary() {
    let s = format!("a{}", "€".repeat(MAX_QUOTED_BYTES));
    let q = arvo_runtime::issue::quote_prefix(&s);
    assert!(q.len() <= MAX_QUOTED_BYTES + 40);
    let head = q.split("... (").next().unwrap();
    assert!(head.len() <= MAX_QUOTED_BYTES && head.len() > MAX_QUOTED_BYTES - 3);
    assert!(head.chars().skip(1).all(|c| c == '€'));
}
