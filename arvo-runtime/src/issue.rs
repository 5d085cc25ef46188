//! Structured validation issues in the reference's (zod 3) shape.
//!
//! Other services match on the text of Arvo's errors, so an [`Issues`] list displays exactly
//! as the reference's `ZodError.message` does: `JSON.stringify(issues, null, 2)`, with each
//! issue's keys in zod's order. Callers that want structure match on [`Issue`] instead.

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use std::borrow::Cow;
use std::fmt;

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
    let mut end = MAX_QUOTED_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}... ({} bytes in all)", &s[..end], s.len()))
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

/// What kind of check failed, with the data zod reports for it.
#[derive(Debug, Clone, PartialEq)]
pub enum IssueKind {
    /// A string did not match a pattern (`code: invalid_string, validation: regex`).
    Regex,
    /// A string is not an accepted date-time (`code: invalid_string, validation: datetime`).
    Datetime,
    /// A custom rule failed (`code: custom`).
    Custom,
    /// A string was shorter than `minimum` characters (`code: too_small`).
    TooSmall {
        /// The minimum length.
        minimum: u64,
    },
    /// A value had the wrong JSON type, or was missing (`code: invalid_type`).
    InvalidType {
        /// The expected type, in zod's words (`string`, `object`, `number`, ...).
        expected: String,
        /// The received type (`undefined` when missing, `null`, `array`, `nan`, ...).
        received: String,
    },
    /// No member of a union matched (`code: invalid_union`); the members' own issues.
    InvalidUnion {
        /// One list of issues per union member.
        union_errors: Vec<Issues>,
    },
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
    pub fn regex(path: &[&str], message: impl Into<String>) -> Self {
        Self::new(IssueKind::Regex, path, message)
    }

    /// A custom-rule issue.
    pub fn custom(path: &[&str], message: impl Into<String>) -> Self {
        Self::new(IssueKind::Custom, path, message)
    }

    /// A "shorter than `minimum`" issue.
    pub fn too_small(path: &[&str], minimum: u64, message: impl Into<String>) -> Self {
        Self::new(IssueKind::TooSmall { minimum }, path, message)
    }

    /// The datetime issue (`Invalid datetime`).
    pub fn datetime(path: &[&str]) -> Self {
        Self::new(IssueKind::Datetime, path, "Invalid datetime")
    }

    /// A wrong-type issue; `received == "undefined"` gives zod's `Required` message.
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
            IssueKind::TooSmall { minimum } => {
                m.serialize_entry("code", "too_small")?;
                m.serialize_entry("minimum", minimum)?;
                m.serialize_entry("type", "string")?;
                m.serialize_entry("inclusive", &true)?;
                m.serialize_entry("exact", &false)?;
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
