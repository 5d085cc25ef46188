//! Payload schemas from hostile input: the bytes up to the first newline are a JSON Schema, the
//! rest a payload; or, when the first byte is not `{`, the bytes spell out a schema of
//! definitions that reference one another and a payload keyed by its field names
//! (`recipe.rs`). Building the schema may fail but never panics; validating and parsing the
//! payload never panic, agree with each other and with `is_valid`, and a failure's issues print
//! as the JSON array zod would print (`JSON.stringify(issues, null, 2)`), at most
//! `MAX_ISSUES` of them (nested ones counted) and one saying more were found.
#![no_main]

use arvo_runtime::contract::{MAX_ISSUES, Schema};
use arvo_runtime::issue::{IssueKind, Issues};
use serde_json::Value;

#[path = "bytes.rs"]
mod bytes;
#[path = "recipe.rs"]
mod recipe;
use bytes::Bytes;
use recipe::{payload, recipe};

/// The issues in `issues`, those in unions' `unionErrors` included.
fn count(issues: &Issues) -> usize {
    issues
        .as_slice()
        .iter()
        .map(|i| match &i.kind {
            IssueKind::InvalidUnion { union_errors } => {
                1 + union_errors.iter().map(count).sum::<usize>()
            }
            _ => 1,
        })
        .sum()
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(split) = data.iter().position(|&b| b == b'\n') else {
        return;
    };
    let (schema, payload) = if data.first() == Some(&b'{') {
        let (Ok(schema), Ok(payload)) = (
            serde_json::from_slice::<Value>(&data[..split]),
            serde_json::from_slice::<Value>(&data[split + 1..]),
        ) else {
            return;
        };
        (schema, payload)
    } else {
        // A recipe: a schema of definitions that reference one another, and a payload keyed
        // by its field names.
        (
            recipe(&data[..split]),
            payload(&mut Bytes(&data[split + 1..]), 0),
        )
    };
    let Ok(schema) = Schema::new(schema) else {
        return;
    };
    let valid = schema.is_valid(&payload);
    match schema.validate(&payload) {
        Ok(()) => assert!(valid, "validate passed what is_valid refused"),
        Err(issues) => {
            assert!(!valid, "validate refused what is_valid passed: {issues}");
            assert!(!issues.is_empty(), "a failure without issues");
            let printed: Value = serde_json::from_str(&issues.to_string())
                .unwrap_or_else(|e| panic!("issues do not print as JSON ({e}): {issues}"));
            assert!(printed.is_array(), "issues print as {printed}");
            assert!(
                count(&issues) <= MAX_ISSUES + 1,
                "{} issues",
                count(&issues)
            );
        }
    }
    assert_eq!(
        schema.parse(&payload).is_ok(),
        valid,
        "parse and validate disagree"
    );
    assert_eq!(
        schema.parse_owned(payload).is_ok(),
        valid,
        "parse_owned and validate disagree"
    );
});
