//! Port of the reference's `tests/error.spec.ts` (spec §9.6, 15 tests).
//!
//! The JS type guard `isViolationError(x)` takes *any* value; in Rust it takes an error
//! (`&(dyn Error + 'static)`) and answers by downcasting. Tests whose input cannot exist in
//! Rust are kept as the nearest meaningful check and marked so:
//! * #6 (`null`/`undefined`), #9 (string, number, boolean, Symbol), #13 (arrays): not errors,
//!   so the type checker refuses them; the Rust equivalent is "no error" (`Option::None`) and
//!   errors of other types.
//! * #10 (a plain object with the same fields), #11 (flag but missing fields), #14 (numeric
//!   `type`), #15 (flag `false`): there is no flag and no structural typing; a look-alike
//!   *type* with the same fields is not a violation, and a `CustomViolation` always has all its
//!   fields with a string type.
#![allow(clippy::unwrap_used)]

use arvo_runtime::violation::{ArvoErrorPayload, CustomViolation, is_custom_violation};
use serde_json::json;
use std::error::Error;
use std::fmt;

// 1
#[test]
fn name_and_message() {
    let e = CustomViolation::new("precondition", "test error");
    assert_eq!(e.name(), "ViolationError<precondition>");
    assert_eq!(e.message(), "ViolationError<precondition> test error");
    assert_eq!(e.to_string(), "ViolationError<precondition> test error");
    assert_eq!(e.violation_type(), "precondition");
}

// 2
#[test]
fn with_metadata() {
    let meta = json!({"key": "value", "count": 42})
        .as_object()
        .unwrap()
        .clone();
    let e = CustomViolation::new("precondition", "test error").with_metadata(meta.clone());
    assert_eq!(e.name(), "ViolationError<precondition>");
    assert_eq!(e.message(), "ViolationError<precondition> test error");
    assert_eq!(e.metadata(), Some(&meta));
}

// 3
#[test]
fn without_metadata_is_null() {
    assert_eq!(
        CustomViolation::new("precondition", "test error").metadata(),
        None
    );
}

// 4: `isArvoViolationError === true` is, in Rust, the type itself.
#[test]
fn is_arvo_violation_error_flag() {
    let e: Box<dyn Error> = Box::new(CustomViolation::new("precondition", "x"));
    assert!(e.downcast_ref::<CustomViolation>().is_some());
}

// 5
#[test]
fn guard_accepts_instance() {
    assert!(is_custom_violation(&CustomViolation::new(
        "precondition",
        "test error"
    )));
}

// 6 (no null in Rust: "no error at all")
#[test]
fn guard_refuses_nothing() {
    let none: Option<&(dyn Error + 'static)> = None;
    assert!(!none.is_some_and(is_custom_violation));
}

// 7
#[test]
fn guard_refuses_plain_error() {
    let plain = std::io::Error::other("Something went wrong");
    assert!(!is_custom_violation(&plain));
}

// 8: a "subclass" is a constructor with a fixed type; a wrapper type is found through the chain.
#[test]
fn guard_accepts_subclass() {
    fn custom_violation(msg: &str) -> CustomViolation {
        CustomViolation::new("custom", msg)
    }
    let e = custom_violation("boom");
    assert!(is_custom_violation(&e));
    assert_eq!(e.name(), "ViolationError<custom>");

    #[derive(Debug)]
    struct Wrapper(CustomViolation);
    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.0.fmt(f)
        }
    }
    impl Error for Wrapper {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }
    let w = Wrapper(custom_violation("wrapped"));
    assert!(!is_custom_violation(&w));
    assert_eq!(
        CustomViolation::find_in(&w).unwrap().violation_type(),
        "custom"
    );
}

// 9 (primitives are not errors; other error types are refused)
#[test]
fn guard_refuses_other_error_types() {
    assert!(!is_custom_violation(&fmt::Error));
    assert!(!is_custom_violation(&"abc".parse::<u8>().unwrap_err()));
}

/// A look-alike with the same fields (#10, #11, #14, #15).
#[derive(Debug)]
struct LookAlike {
    r#type: String,
    message: String,
    name: String,
}
impl fmt::Display for LookAlike {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.name, self.r#type, self.message)
    }
}
impl Error for LookAlike {}

// 10
#[test]
fn guard_refuses_look_alike() {
    let l = LookAlike {
        r#type: "precondition".into(),
        message: "m".into(),
        name: "ViolationError<precondition>".into(),
    };
    assert!(!is_custom_violation(&l));
}

// 11, 14, 15: no meaning in Rust (see the module docs); the look-alike stands for them.
#[test]
fn guard_refuses_malformed_look_alikes() {
    for (t, m, n) in [("", "", ""), ("42", "m", "n")] {
        assert!(!is_custom_violation(&LookAlike {
            r#type: t.into(),
            message: m.into(),
            name: n.into()
        }));
    }
}

// 12
#[test]
fn guard_refuses_empty_type() {
    assert!(!is_custom_violation(&CustomViolation::new(
        "",
        "test error"
    )));
}

// 13 (arrays are not errors; a list of violations is not one)
#[test]
fn guard_refuses_collections() {
    let list = [CustomViolation::new("a", "b")];
    assert!(is_custom_violation(&list[0]));
    let as_error: Box<dyn Error> = Box::<dyn Error>::from(format!("{:?}", list));
    assert!(!is_custom_violation(as_error.as_ref()));
}

// §6.1: a violation converted to a system error payload.
#[test]
fn violation_as_payload() {
    let p = ArvoErrorPayload::from_error(&CustomViolation::new("X", "bad"));
    assert_eq!(p.error_name, "ViolationError<X>");
    assert_eq!(p.error_message, "ViolationError<X> bad");
    assert_eq!(
        p.error_stack.as_deref(),
        Some("ViolationError<X>: ViolationError<X> bad")
    );
    let v = serde_json::to_string(&p).unwrap();
    assert!(v.starts_with(
        r#"{"errorName":"ViolationError<X>","errorMessage":"ViolationError<X> bad","errorStack":"#
    ));
    assert_eq!(serde_json::to_string(&p.to_value()).unwrap(), v);
}

#[test]
fn payload_stack_lists_causes() {
    #[derive(Debug)]
    struct Outer(CustomViolation);
    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("outer failed")
        }
    }
    impl Error for Outer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }
    let p = ArvoErrorPayload::from_error(&Outer(CustomViolation::new("inner", "cause")));
    assert_eq!(p.error_name, "Error");
    assert_eq!(p.error_message, "outer failed");
    assert_eq!(
        p.error_stack.unwrap(),
        "Error: outer failed\n    caused by: ViolationError<inner> cause"
    );
    assert!(
        arvo_runtime::violation::arvo_error_schema()
            .validate(&ArvoErrorPayload::new("E", "m", None).to_value())
            .is_ok()
    );
}
