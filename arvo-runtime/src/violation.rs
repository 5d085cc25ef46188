//! Violations (errors that need explicit handling) and the system error payload.
//!
//! A violation is a failure that must not be turned into a `sys.<type>.error` event but handed
//! back to the caller (contract violations, rate limits, configuration, permissions). The one
//! type user code matches on is [`Violation`](crate::handler::Violation) (its `Contract`,
//! `Config`, `Execution` and `Transaction` variants); a violation of any other type (the
//! reference's `new ViolationError('precondition', ..)`) is a [`CustomViolation`], carried as
//! [`Violation::Other`](crate::handler::Violation::Other). Any other error becomes an [`ArvoErrorPayload`], the
//! data of a system error event.

use crate::contract::Schema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::error::Error;
use std::fmt;
use std::sync::LazyLock;

/// A violation of a type of the user's choosing (the reference's `ViolationError` class):
/// `name` is `ViolationError<type>` and the message is prefixed with it, exactly as the
/// reference writes them. It converts into a [`Violation`](crate::handler::Violation) (the
/// reference's subclasses `Contract` / `Config` / `Execution` become their variants, any other
/// type [`Violation::Other`](crate::handler::Violation::Other)).
///
/// ```
/// use arvo_runtime::violation::{CustomViolation, is_custom_violation};
/// let e = CustomViolation::new("precondition", "test error");
/// assert_eq!(e.name(), "ViolationError<precondition>");
/// assert_eq!(e.to_string(), "ViolationError<precondition> test error");
/// assert!(is_custom_violation(&e));
/// assert!(!is_custom_violation(&std::fmt::Error));
/// ```
#[doc(alias = "ViolationError")]
#[derive(Debug, Clone, PartialEq)]
pub struct CustomViolation {
    violation_type: String,
    name: String,
    message: String,
    metadata: Option<Map<String, Value>>,
}

impl CustomViolation {
    /// A violation of `violation_type` (e.g. `Contract`, `Config`, `precondition`) with the
    /// given message; no metadata.
    pub fn new(violation_type: impl Into<String>, message: impl AsRef<str>) -> Self {
        let violation_type = violation_type.into();
        let name = format!("ViolationError<{violation_type}>");
        let message = format!("{name} {}", message.as_ref());
        CustomViolation {
            violation_type,
            name,
            message,
            metadata: None,
        }
    }

    /// The same violation carrying `metadata` (free JSON object).
    pub fn with_metadata(mut self, metadata: Map<String, Value>) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// The violation type (`precondition`).
    pub fn violation_type(&self) -> &str {
        &self.violation_type
    }

    /// `ViolationError<type>`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ViolationError<type> message` (also the `Display` text).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The message as given, without the `ViolationError<type> ` prefix.
    pub fn raw_message(&self) -> &str {
        self.message.get(self.name.len() + 1..).unwrap_or_default()
    }

    /// The metadata (`None` = the reference's `null`).
    pub fn metadata(&self) -> Option<&Map<String, Value>> {
        self.metadata.as_ref()
    }

    /// The first violation in `err`'s chain (`err` itself, then its `source()`s), for errors
    /// that wrap a violation.
    pub fn find_in<'a>(err: &'a (dyn Error + 'static)) -> Option<&'a CustomViolation> {
        let mut cur = Some(err);
        while let Some(e) = cur {
            if let Some(v) = e.downcast_ref::<CustomViolation>() {
                return Some(v);
            }
            cur = e.source();
        }
        None
    }
}

impl fmt::Display for CustomViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for CustomViolation {}

/// The reference's `isViolationError`: `err` is a [`CustomViolation`] with a non-empty type.
/// (The JS checks on non-Error values, missing fields or a false flag cannot arise in Rust: the
/// type system rules them out.) Wrapped violations are not found here; see
/// [`CustomViolation::find_in`].
#[doc(alias = "isViolationError")]
pub fn is_custom_violation(err: &(dyn Error + 'static)) -> bool {
    err.downcast_ref::<CustomViolation>()
        .is_some_and(|v| !v.violation_type.is_empty())
}

/// The data of a system error event (`ArvoErrorSchema`): keys `errorName`, `errorMessage`,
/// `errorStack` in that order, all always present (`errorStack` may be `null`).
///
/// ```
/// use arvo_runtime::violation::ArvoErrorPayload;
/// let p = ArvoErrorPayload::new("Error", "boom", None);
/// assert_eq!(serde_json::to_string(&p).unwrap(),
///     r#"{"errorName":"Error","errorMessage":"boom","errorStack":null}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArvoErrorPayload {
    /// The error's name (`Error`, `ViolationError<Contract>`, ...).
    pub error_name: String,
    /// The error's message.
    pub error_message: String,
    /// A stack trace or, in Rust, the chain of causes; `null` when unknown.
    pub error_stack: Option<String>,
}

impl ArvoErrorPayload {
    /// A payload from its three parts.
    pub fn new(name: impl Into<String>, message: impl Into<String>, stack: Option<String>) -> Self {
        ArvoErrorPayload {
            error_name: name.into(),
            error_message: message.into(),
            error_stack: stack,
        }
    }

    /// The reference's `createArvoError(err)` for a Rust error:
    /// * `errorName`: the violation's name (`ViolationError<type>`) for a [`CustomViolation`],
    ///   otherwise `Error` (a Rust error has no runtime class name; `Error` is what the reference
    ///   writes for a plain `Error`, and what consumers see today);
    /// * `errorMessage`: the error's `Display` text;
    /// * `errorStack`: Rust has no stack at hand, so it carries the JS stack's first line
    ///   (`<name>: <message>`) followed by one `    caused by: <source>` line per
    ///   `source()` in the chain. Never empty.
    ///
    /// ```
    /// use arvo_runtime::violation::ArvoErrorPayload;
    /// let io = std::io::Error::other("Some error");
    /// let p = ArvoErrorPayload::from_error(&io);
    /// assert_eq!((p.error_name.as_str(), p.error_message.as_str()), ("Error", "Some error"));
    /// assert_eq!(p.error_stack.as_deref(), Some("Error: Some error"));
    /// ```
    pub fn from_error(err: &(dyn Error + 'static)) -> Self {
        let name = err
            .downcast_ref::<CustomViolation>()
            .map_or("Error", |v| v.name());
        let message = err.to_string();
        let mut stack = format!("{name}: {message}");
        let mut cur = err.source();
        while let Some(e) = cur {
            stack.push_str("\n    caused by: ");
            stack.push_str(&e.to_string());
            cur = e.source();
        }
        ArvoErrorPayload {
            error_name: name.to_owned(),
            error_message: message,
            error_stack: Some(stack),
        }
    }

    /// The payload as a JSON object (key order `errorName`, `errorMessage`, `errorStack`).
    pub fn to_value(&self) -> Value {
        let mut m = Map::with_capacity(3);
        m.insert(
            "errorName".to_owned(),
            Value::String(self.error_name.clone()),
        );
        m.insert(
            "errorMessage".to_owned(),
            Value::String(self.error_message.clone()),
        );
        m.insert(
            "errorStack".to_owned(),
            self.error_stack.clone().map_or(Value::Null, Value::String),
        );
        Value::Object(m)
    }
}

/// The exact JSON Schema the reference exports for system error payloads (without `$schema`).
pub const ARVO_ERROR_SCHEMA_JSON: &str = r#"{"type":"object","properties":{"errorName":{"type":"string","description":"The name of the error."},"errorMessage":{"type":"string","description":"A descriptive message for the error."},"errorStack":{"type":["string","null"],"description":"The stack trace of the error."}},"required":["errorName","errorMessage","errorStack"],"additionalProperties":false}"#;

static ARVO_ERROR_SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
    // A constant schema, checked by this module's tests: it always parses and compiles.
    #[allow(clippy::expect_used)]
    let value: Value =
        serde_json::from_str(ARVO_ERROR_SCHEMA_JSON).expect("ARVO_ERROR_SCHEMA_JSON is valid JSON");
    #[allow(clippy::expect_used)]
    Schema::new(value).expect("ARVO_ERROR_SCHEMA_JSON compiles")
});

/// The system error payload schema (`ArvoErrorSchema`), shared by every contract (cheap clone).
///
/// ```
/// let s = arvo_runtime::violation::arvo_error_schema();
/// assert!(s.validate(&serde_json::json!({"errorName":"E","errorMessage":"m","errorStack":null})).is_ok());
/// ```
pub fn arvo_error_schema() -> Schema {
    ARVO_ERROR_SCHEMA.clone()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn schema_exports_exactly() {
        let s = arvo_error_schema();
        assert_eq!(
            serde_json::to_string(s.to_json()).unwrap(),
            ARVO_ERROR_SCHEMA_JSON.trim_end_matches('}').to_owned()
                + r#","$schema":"http://json-schema.org/draft-07/schema#"}"#
        );
    }

    #[test]
    fn raw_message() {
        assert_eq!(CustomViolation::new("x", "y z").raw_message(), "y z");
    }
}
