//! Payload schemas from hostile input: the bytes up to the first newline are a JSON Schema, the
//! rest a payload. Building the schema may fail but never panics; validating and parsing the
//! payload never panic, agree with each other and with `is_valid`, and a failure's issues print
//! as the JSON array zod would print (`JSON.stringify(issues, null, 2)`).
#![no_main]

use arvo_runtime::contract::Schema;
use serde_json::Value;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(split) = data.iter().position(|&b| b == b'\n') else {
        return;
    };
    let (Ok(schema), Ok(payload)) = (
        serde_json::from_slice::<Value>(&data[..split]),
        serde_json::from_slice::<Value>(&data[split + 1..]),
    ) else {
        return;
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
        }
    }
    assert_eq!(schema.parse(&payload).is_ok(), valid, "parse and validate disagree");
    assert_eq!(schema.parse_owned(payload).is_ok(), valid, "parse_owned and validate disagree");
});
