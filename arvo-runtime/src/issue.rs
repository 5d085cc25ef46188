//! Structured validation issues in the reference's (zod 3) shape.
//!
//! Other services match on the text of Arvo's errors, so an [`Issues`] list displays exactly
//! as the reference's `ZodError.message` does: `JSON.stringify(issues, null, 2)`, with each
//! issue's keys in zod's order. Callers that want structure match on [`Issue`] instead.

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use std::borrow::Cow;
use std::fmt;

use crate::event::JsNumber;

/// The most bytes of an input that an error message quotes (see [`quote_prefix`]). Real
/// subjects (~180 bytes), ids and event types fit whole.
pub const MAX_QUOTED_BYTES: usize = 1024;

/// `s` as error messages quote input: whole when it has at most [`MAX_QUOTED_BYTES`] bytes,
/// otherwise its longest prefix of at most that many bytes that ends on a character boundary,
/// followed by `... (<n> bytes in all)`. Every error that quotes its input (a subject, an id,
/// a version, a value that failed a schema, a JSON error) goes through it, so a 5 MB input
/// cannot give a 5 MB message.
///
/// ```
/// use arvo_runtime::issue::{MAX_QUOTED_BYTES, quote_prefix};
/// assert_eq!(quote_prefix("short"), "short");
/// let long = "é".repeat(MAX_QUOTED_BYTES); // 2 bytes per character
/// let q = quote_prefix(&long);
/// assert!(q.starts_with("éé") && q.ends_with("... (2048 bytes in all)"));
/// assert!(q.len() < MAX_QUOTED_BYTES + 32);
/// ```
pub fn quote_prefix(s: &str) -> Cow<'_, str> {
    if s.len() <= MAX_QUOTED_BYTES {
        return Cow::Borrowed(s);
    }
    Cow::Owned(format!(
        "{}... ({} bytes in all)",
        prefix_within(s, MAX_QUOTED_BYTES),
        s.len()
    ))
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary: the one
/// place where the runtime cuts text to a size (quotes, panic messages, header values).
pub(crate) fn prefix_within(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// [`quote_prefix`] into an owned string (for error fields that keep what they quote).
pub fn quote_prefix_owned(s: &str) -> String {
    quote_prefix(s).into_owned()
}

/// One step of an issue's path: an object key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSegment {
    /// An object key.
    Key(String),
    /// An array index.
    Index(usize),
}

impl From<&str> for PathSegment {
    fn from(s: &str) -> Self {
        PathSegment::Key(s.to_owned())
    }
}

impl From<String> for PathSegment {
    fn from(s: String) -> Self {
        PathSegment::Key(s)
    }
}

impl From<usize> for PathSegment {
    fn from(i: usize) -> Self {
        PathSegment::Index(i)
    }
}

impl Serialize for PathSegment {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            PathSegment::Key(k) => s.serialize_str(k),
            PathSegment::Index(i) => s.serialize_u64(*i as u64),
        }
    }
}

/// What a size bound applies to: zod's `type` in `too_small` / `too_big` issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundType {
    /// A string's length (`"string"`).
    String,
    /// A number's value (`"number"`).
    Number,
    /// An array's length (`"array"`).
    Array,
}

impl BoundType {
    /// zod's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            BoundType::String => "string",
            BoundType::Number => "number",
            BoundType::Array => "array",
        }
    }
}

/// What kind of check failed, with the data zod reports for it.
#[derive(Debug, Clone, PartialEq)]
pub enum IssueKind {
    /// A string did not match a pattern (`code: invalid_string, validation: regex`).
    Regex,
    /// A string is not an accepted date-time (`code: invalid_string, validation: datetime`).
    Datetime,
    /// A string failed another of zod's string formats (`code: invalid_string`, with
    /// `validation` one of `email`, `url`, `uuid`, `date`, `time`, `ip`, `duration`).
    InvalidString {
        /// zod's name of the format.
        validation: String,
    },
    /// A custom rule failed (`code: custom`).
    Custom,
    /// A length or value under its lower bound (`code: too_small`).
    TooSmall {
        /// The bound.
        minimum: f64,
        /// What is bounded.
        bound: BoundType,
        /// Whether the bound itself is allowed.
        inclusive: bool,
        /// Whether the length must equal the bound (zod's `.length(n)`).
        exact: bool,
    },
    /// A length or value over its upper bound (`code: too_big`).
    TooBig {
        /// The bound.
        maximum: f64,
        /// What is bounded.
        bound: BoundType,
        /// Whether the bound itself is allowed.
        inclusive: bool,
        /// Whether the length must equal the bound (zod's `.length(n)`).
        exact: bool,
    },
    /// A number is not a multiple of `multiple_of` (`code: not_multiple_of`).
    NotMultipleOf {
        /// The divisor.
        multiple_of: f64,
    },
    /// A value had the wrong JSON type, or was missing (`code: invalid_type`).
    InvalidType {
        /// The expected type, in zod's words (`string`, `object`, `number`, ...).
        expected: String,
        /// The received type (`undefined` when missing, `null`, `array`, `nan`, ...).
        received: String,
    },
    /// A non-integral number where an integer is expected (zod's `int()` check:
    /// `code: invalid_type, expected: integer, received: float`).
    NotInteger,
    /// An enum given a value of another type, or no value (zod's `z.enum`:
    /// `code: invalid_type` with `expected` listing the options, as `'north' | 'south'`).
    InvalidEnumType {
        /// The options, as zod lists them (`'north' | 'south'`).
        expected: String,
        /// The received type (`undefined` when missing).
        received: String,
    },
    /// A value that is none of an enum's options (`code: invalid_enum_value`).
    InvalidEnumValue {
        /// The value given (a bounded prefix of it: [`quote_prefix`]).
        received: serde_json::Value,
        /// The options.
        options: Vec<serde_json::Value>,
    },
    /// A value other than a literal's (`code: invalid_literal`).
    InvalidLiteral {
        /// The literal.
        expected: serde_json::Value,
        /// The value given (`None` when missing; a bounded prefix: [`quote_prefix`]).
        received: Option<serde_json::Value>,
    },
    /// No member of a union matched (`code: invalid_union`); the members' own issues.
    InvalidUnion {
        /// One list of issues per union member.
        union_errors: Vec<Issues>,
    },
}

impl IssueKind {
    /// zod's `code` for this kind.
    ///
    /// ```
    /// assert_eq!(arvo_runtime::issue::IssueKind::NotInteger.code(), "invalid_type");
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            IssueKind::Regex | IssueKind::Datetime | IssueKind::InvalidString { .. } => {
                "invalid_string"
            }
            IssueKind::Custom => "custom",
            IssueKind::TooSmall { .. } => "too_small",
            IssueKind::TooBig { .. } => "too_big",
            IssueKind::NotMultipleOf { .. } => "not_multiple_of",
            IssueKind::InvalidType { .. }
            | IssueKind::NotInteger
            | IssueKind::InvalidEnumType { .. } => "invalid_type",
            IssueKind::InvalidEnumValue { .. } => "invalid_enum_value",
            IssueKind::InvalidLiteral { .. } => "invalid_literal",
            IssueKind::InvalidUnion { .. } => "invalid_union",
        }
    }
}

/// `value` as an issue field quotes input: whole when its JSON is at most
/// [`MAX_QUOTED_BYTES`] long, else a string holding a bounded prefix of that JSON.
pub fn bounded_value(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::String(s) => serde_json::Value::String(quote_prefix_owned(s)),
        serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
            let text = value.to_string();
            if text.len() <= MAX_QUOTED_BYTES {
                value.clone()
            } else {
                serde_json::Value::String(quote_prefix_owned(&text))
            }
        }
        other => other.clone(),
    }
}

/// One failed check: what, where, and the human message.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    /// The kind of check that failed.
    pub kind: IssueKind,
    /// Where in the checked value it failed (empty for the value itself).
    pub path: Vec<PathSegment>,
    /// The message (the reference's text where it has one).
    pub message: String,
}

impl Issue {
    /// A regex issue.
    #[cold]
    pub fn regex(path: &[&str], message: impl Into<String>) -> Self {
        Self::new(IssueKind::Regex, path, message)
    }

    /// A custom-rule issue.
    #[cold]
    pub fn custom(path: &[&str], message: impl Into<String>) -> Self {
        Self::new(IssueKind::Custom, path, message)
    }

    /// A "string shorter than `minimum`" issue (inclusive, not exact: zod's `min(n)`).
    #[cold]
    pub fn too_small(path: &[&str], minimum: u64, message: impl Into<String>) -> Self {
        Self::new(
            IssueKind::TooSmall {
                minimum: minimum as f64,
                bound: BoundType::String,
                inclusive: true,
                exact: false,
            },
            path,
            message,
        )
    }

    /// The datetime issue (`Invalid datetime`).
    #[cold]
    pub fn datetime(path: &[&str]) -> Self {
        Self::new(IssueKind::Datetime, path, "Invalid datetime")
    }

    /// A wrong-type issue; `received == "undefined"` gives zod's `Required` message.
    #[cold]
    pub fn invalid_type(path: &[&str], expected: &str, received: &str) -> Self {
        let message = if received == "undefined" {
            "Required".to_owned()
        } else {
            format!("Expected {expected}, received {received}")
        };
        Self::new(
            IssueKind::InvalidType {
                expected: expected.to_owned(),
                received: received.to_owned(),
            },
            path,
            message,
        )
    }

    /// A general constructor.
    #[cold]
    pub fn new(kind: IssueKind, path: &[&str], message: impl Into<String>) -> Self {
        Issue {
            kind,
            path: path.iter().map(|p| PathSegment::from(*p)).collect(),
            message: message.into(),
        }
    }

    /// The same issue with `prefix` put in front of its path.
    pub fn prefixed(mut self, prefix: &[PathSegment]) -> Self {
        let mut path = prefix.to_vec();
        path.append(&mut self.path);
        self.path = path;
        self
    }
}

/// zod's name for the JSON type of `v` (`null`, `array`, `object`, `string`, `number`, `boolean`).
pub fn json_type_name(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

impl Serialize for Issue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        match &self.kind {
            IssueKind::Regex => {
                m.serialize_entry("validation", "regex")?;
                m.serialize_entry("code", "invalid_string")?;
                m.serialize_entry("message", &self.message)?;
                m.serialize_entry("path", &self.path)?;
            }
            IssueKind::Datetime => {
                m.serialize_entry("code", "invalid_string")?;
                m.serialize_entry("validation", "datetime")?;
                m.serialize_entry("message", &self.message)?;
                m.serialize_entry("path", &self.path)?;
            }
            IssueKind::Custom => {
                m.serialize_entry("code", "custom")?;
                m.serialize_entry("message", &self.message)?;
                m.serialize_entry("path", &self.path)?;
            }
            // zod's key orders: the checks that take a custom message (string and number
            // checks) put `message` before `path`; the others get it after.
            IssueKind::InvalidString { validation } => {
                if matches!(validation.as_str(), "datetime" | "date" | "time") {
                    m.serialize_entry("code", "invalid_string")?;
                    m.serialize_entry("validation", validation)?;
                } else {
                    m.serialize_entry("validation", validation)?;
                    m.serialize_entry("code", "invalid_string")?;
                }
                m.serialize_entry("message", &self.message)?;
                m.serialize_entry("path", &self.path)?;
            }
            IssueKind::TooSmall {
                minimum,
                bound,
                inclusive,
                exact,
            } => {
                m.serialize_entry("code", "too_small")?;
                m.serialize_entry("minimum", &JsNumber(*minimum))?;
                m.serialize_entry("type", bound.as_str())?;
                m.serialize_entry("inclusive", inclusive)?;
                m.serialize_entry("exact", exact)?;
                m.serialize_entry("message", &self.message)?;
                m.serialize_entry("path", &self.path)?;
            }
            IssueKind::TooBig {
                maximum,
                bound,
                inclusive,
                exact,
            } => {
                m.serialize_entry("code", "too_big")?;
                m.serialize_entry("maximum", &JsNumber(*maximum))?;
                m.serialize_entry("type", bound.as_str())?;
                m.serialize_entry("inclusive", inclusive)?;
                m.serialize_entry("exact", exact)?;
                m.serialize_entry("message", &self.message)?;
                m.serialize_entry("path", &self.path)?;
            }
            IssueKind::NotMultipleOf { multiple_of } => {
                m.serialize_entry("code", "not_multiple_of")?;
                m.serialize_entry("multipleOf", &JsNumber(*multiple_of))?;
                m.serialize_entry("message", &self.message)?;
                m.serialize_entry("path", &self.path)?;
            }
            IssueKind::InvalidType { expected, received } => {
                m.serialize_entry("code", "invalid_type")?;
                m.serialize_entry("expected", expected)?;
                m.serialize_entry("received", received)?;
                m.serialize_entry("path", &self.path)?;
                m.serialize_entry("message", &self.message)?;
            }
            IssueKind::NotInteger => {
                m.serialize_entry("code", "invalid_type")?;
                m.serialize_entry("expected", "integer")?;
                m.serialize_entry("received", "float")?;
                m.serialize_entry("message", &self.message)?;
                m.serialize_entry("path", &self.path)?;
            }
            IssueKind::InvalidEnumType { expected, received } => {
                m.serialize_entry("expected", expected)?;
                m.serialize_entry("received", received)?;
                m.serialize_entry("code", "invalid_type")?;
                m.serialize_entry("path", &self.path)?;
                m.serialize_entry("message", &self.message)?;
            }
            IssueKind::InvalidEnumValue { received, options } => {
                m.serialize_entry("received", &JsValue(received))?;
                m.serialize_entry("code", "invalid_enum_value")?;
                let options: Vec<JsValue<'_>> = options.iter().map(JsValue).collect();
                m.serialize_entry("options", &options)?;
                m.serialize_entry("path", &self.path)?;
                m.serialize_entry("message", &self.message)?;
            }
            IssueKind::InvalidLiteral { expected, received } => {
                if let Some(received) = received {
                    m.serialize_entry("received", &JsValue(received))?;
                }
                m.serialize_entry("code", "invalid_literal")?;
                m.serialize_entry("expected", &JsValue(expected))?;
                m.serialize_entry("path", &self.path)?;
                m.serialize_entry("message", &self.message)?;
            }
            IssueKind::InvalidUnion { union_errors } => {
                m.serialize_entry("code", "invalid_union")?;
                let errs: Vec<ZodErrorJson<'_>> = union_errors.iter().map(ZodErrorJson).collect();
                m.serialize_entry("unionErrors", &errs)?;
                m.serialize_entry("path", &self.path)?;
                m.serialize_entry("message", &self.message)?;
            }
        }
        m.end()
    }
}

/// A JSON value as `JSON.stringify` writes it (JavaScript numbers and key order).
struct JsValue<'a>(&'a serde_json::Value);

impl Serialize for JsValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::event::js_ordered(self.0).serialize(s)
    }
}

/// A nested `ZodError` as it appears inside `unionErrors`: `{"issues": [...], "name": "ZodError"}`.
struct ZodErrorJson<'a>(&'a Issues);

impl Serialize for ZodErrorJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("issues", &self.0.0)?;
        m.serialize_entry("name", "ZodError")?;
        m.end()
    }
}

/// A non-empty list of issues from one validation step. Displays as the reference's
/// `ZodError.message`: `JSON.stringify(issues, null, 2)`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Issues(pub Vec<Issue>);

impl Issues {
    /// The issues as a slice.
    pub fn as_slice(&self) -> &[Issue] {
        &self.0
    }

    /// Whether no issue was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Records one issue.
    pub fn push(&mut self, issue: Issue) {
        self.0.push(issue);
    }

    /// `Err(self)` when any issue was recorded, else `Ok(())`.
    pub fn into_result(self) -> Result<(), Issues> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl fmt::Display for Issues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(
            &mut buf,
            serde_json::ser::PrettyFormatter::with_indent(b"  "),
        );
        self.0.serialize(&mut ser).map_err(|_| fmt::Error)?;
        f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

impl std::error::Error for Issues {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_like_zod() {
        let issues = Issues(vec![Issue::regex(
            &["type"],
            "Type should be prefixed with a reverse-DNS name",
        )]);
        assert_eq!(
            issues.to_string(),
            "[\n  {\n    \"validation\": \"regex\",\n    \"code\": \"invalid_string\",\n    \"message\": \"Type should be prefixed with a reverse-DNS name\",\n    \"path\": [\n      \"type\"\n    ]\n  }\n]"
        );
        let issues = Issues(vec![Issue::invalid_type(&[], "object", "undefined")]);
        assert!(issues.to_string().contains("\"message\": \"Required\""));
        let issues = Issues(vec![Issue::regex(&[], "x")]);
        assert!(issues.to_string().contains("\"path\": []"));
    }
}
