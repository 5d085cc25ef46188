//! Orchestration subjects (the reference's `ArvoOrchestrationSubject`, spec §4).
//!
//! A subject is the workflow-state key an orchestrator puts in the `subject` of every event
//! it sends: the compressed-JSON [`codec`] applied to a small JSON object ([`SubjectContent`]).
//! It is opaque on the wire: propagate it verbatim, never re-encode a parsed one.
//!
//! * [`create`] / [`create_value`]: validate, then compress (byte-identical to the reference).
//! * [`new`]: a fresh execution id (UUID v4); [`from_parent`] / [`child_of`]: a child
//!   execution that inherits domain and meta.
//! * [`parse`] / [`is_valid`]: decode and validate.
//!
//! Decoding costs a few microseconds (mostly inflate), so code that made or already parsed a
//! subject should keep the result: a [`Subject`] carries the string together with its parsed
//! content, and its `Clone` only bumps a reference count for the content.
//!
//! ```
//! use arvo_runtime::subject::{self, NewSubject};
//! let s = subject::new(NewSubject {
//!     orchestrator: "arvo.orc.example.flow",
//!     version: Some("1.0.0"),
//!     initiator: "com.example.client",
//!     ..Default::default()
//! })?;
//! let parsed = subject::parse(s.as_str())?;
//! assert_eq!(&parsed, s.content());
//! assert_eq!(parsed.execution.initiator, "com.example.client");
//! # Ok::<(), arvo_runtime::subject::SubjectError>(())
//! ```

mod canonical;
mod content;
mod js_json;
mod validate;

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

pub use content::{Execution, Extra, Meta, Orchestrator, SubjectContent};

use crate::codec::{self, CodecError, MAX_DECODED_LEN, MAX_ENCODED_LEN};
use crate::issue::{Issues, quote_prefix_owned};
use crate::rules::{WILDCARD_VERSION, clean_string};

/// The longest subject string [`parse`] accepts, in bytes (the codec's
/// [`MAX_ENCODED_LEN`], 96 KiB); its decoded JSON may be at most [`MAX_DECODED_LEN`] (64 KiB).
/// The reference has no limits; real subjects are about 180 characters.
pub const MAX_SUBJECT_LEN: usize = MAX_ENCODED_LEN;

/// Why creating or parsing a subject failed. The messages are the reference's, after its
/// `cleanString` (every line trimmed, empty lines dropped).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SubjectError {
    /// [`create`], [`new`] or a child subject was given invalid content. Message:
    /// `Error creating orchestration subject string from the provided context.\nError -> <cause>\nContext -> <content as indented JSON>`.
    #[error("{}", clean_string(&format!(
        "Error creating orchestration subject string from the provided context.\nError -> {cause}\nContext -> {context}"
    )))]
    Create {
        /// What was wrong.
        cause: SubjectFault,
        /// The content as `JSON.stringify(content, null, 2)`, cut to a bounded prefix
        /// ([`quote_prefix`](crate::issue::quote_prefix)).
        context: String,
    },
    /// [`parse`] could not decode or validate the string. Message:
    /// `Error parsing orchestration subject string to the context.\nError -> <cause>\nsubject -> <subject>`.
    #[error("{}", clean_string(&format!(
        "Error parsing orchestration subject string to the context.\nError -> {cause}\nsubject -> {subject}"
    )))]
    Parse {
        /// What was wrong.
        cause: SubjectFault,
        /// The string given to [`parse`], cut to a bounded prefix
        /// ([`quote_prefix`](crate::issue::quote_prefix)): a 5 MB string does not make a 5 MB
        /// error.
        subject: String,
    },
}

impl SubjectError {
    /// What was wrong, whichever the operation.
    ///
    /// ```
    /// use arvo_runtime::subject::{self, SubjectFault};
    /// let e = subject::parse("not a subject").unwrap_err();
    /// assert_eq!(e.cause(), &SubjectFault::Undecodable);
    /// ```
    pub fn cause(&self) -> &SubjectFault {
        match self {
            SubjectError::Create { cause, .. } | SubjectError::Parse { cause, .. } => cause,
        }
    }
}

/// The inner error of a [`SubjectError`]; its message is the `Error -> ...` line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SubjectFault {
    /// The content does not match the schema (spec §4.1).
    #[error("Invalid ArvoOrchestrationContextType: {0}")]
    Invalid(Issues),
    /// The string is not base64 of a zlib or gzip stream. The reference's message is literally
    /// `undefined` (pako throws a string, not an `Error`), and so is this one.
    #[error("undefined")]
    Undecodable,
    /// The decoded text ended early: empty input or a truncated stream (the reference then
    /// parses the empty string).
    #[error("Unexpected end of JSON input")]
    EndOfInput,
    /// The decoded text is not JSON. The reference embeds V8's `JSON.parse` message here; this
    /// is serde_json's.
    #[error("{0}")]
    Json(String),
    /// The decoded text is longer than [`MAX_DECODED_LEN`] (not a limit of the reference).
    #[error("decoded subject exceeds {MAX_DECODED_LEN} bytes")]
    TooLarge,
    /// The subject string is longer than [`MAX_SUBJECT_LEN`] (not a limit of the reference).
    #[error("subject is {len} bytes long; at most {MAX_SUBJECT_LEN} are accepted")]
    TooLong {
        /// The length of the refused string, in bytes.
        len: usize,
    },
}

/// A subject string together with its parsed content, so later steps need not decode it
/// again. Cloning copies the string and shares the content.
///
/// ```
/// use arvo_runtime::subject::Subject;
/// let s = Subject::parse("eJw9jEsKwzAMBe/y1qlxtrmNcBQqsK3iKB8wvnvVFrqdN286tKUn79bItGHpqFQYC6idGnwLfFN5ZQ5b1gsTTm67aHVjDjFEjAl8czrsCztk9elDHjHG2Q9SxeQXR9Ly76UsXM2FVQuJf+uRs9cKG3lojDcRkTSC")?;
/// assert_eq!(s.content().orchestrator.name, "arvo.orc.example.flow");
/// # Ok::<(), arvo_runtime::subject::SubjectError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    /// Shared with the events that carry it, so a subject at hand is never copied.
    text: Arc<str>,
    content: Arc<SubjectContent>,
}

impl Subject {
    /// Parses `subject` (see [`parse`]) and keeps the string with the content.
    pub fn parse(subject: &str) -> Result<Self, SubjectError> {
        Ok(Subject {
            text: Arc::from(subject),
            content: Arc::new(parse(subject)?),
        })
    }

    /// [`Subject::parse`] of a shared string, which the subject then shares.
    pub(crate) fn parse_shared(subject: &Arc<str>) -> Result<Self, SubjectError> {
        Ok(Subject {
            text: Arc::clone(subject),
            content: Arc::new(parse(subject)?),
        })
    }

    /// Pairs a subject string with content already known to be its decoding. Nothing is
    /// checked: use it only with content that came from this very string.
    pub fn from_parts(text: String, content: Arc<SubjectContent>) -> Self {
        Subject {
            text: Arc::from(text),
            content,
        }
    }

    /// [`Subject::from_parts`] with a shared string.
    pub(crate) fn from_shared(text: Arc<str>, content: Arc<SubjectContent>) -> Self {
        Subject { text, content }
    }

    /// The subject string, shared.
    pub(crate) fn shared_str(&self) -> &Arc<str> {
        &self.text
    }

    /// The subject string, as it goes on the wire.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parsed content.
    pub fn content(&self) -> &SubjectContent {
        &self.content
    }

    /// The parsed content, shared.
    pub fn shared_content(&self) -> Arc<SubjectContent> {
        Arc::clone(&self.content)
    }

    /// The subject string.
    pub fn into_string(self) -> String {
        String::from(&*self.text)
    }

    /// The string and the shared content.
    pub fn into_parts(self) -> (String, Arc<SubjectContent>) {
        (String::from(&*self.text), self.content)
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl AsRef<str> for Subject {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl From<Subject> for String {
    fn from(s: Subject) -> String {
        s.into_string()
    }
}

/// Validates `content` and compresses it (spec §4.2 `create`). The string is byte-identical
/// to the reference's for the same object with its keys in [`SubjectContent::to_json`]'s
/// order; to compress an object with another key order, use [`create_value`].
///
/// ```
/// use arvo_runtime::subject::{self, SubjectContent};
/// let c = SubjectContent::new("arvo.orc.example.flow", "1.0.0", "exec-0001", "com.example.client");
/// assert_eq!(
///     subject::create(&c)?,
///     "eJw9jEsKwzAMBe/y1qlxtrmNcBQqsK3iKB8wvnvVFrqdN286tKUn79bItGHpqFQYC6idGnwLfFN5ZQ5b1gsTTm67aHVjDjFEjAl8czrsCztk9elDHjHG2Q9SxeQXR9Ly76UsXM2FVQuJf+uRs9cKG3lojDcRkTSC"
/// );
/// # Ok::<(), arvo_runtime::subject::SubjectError>(())
/// ```
///
/// # Errors
/// [`SubjectError::Create`] when the content is invalid, or when its JSON is longer than
/// [`MAX_DECODED_LEN`] ([`SubjectFault::TooLarge`]: the subject could not be parsed back).
pub fn create(content: &SubjectContent) -> Result<String, SubjectError> {
    content
        .validate()
        .map_err(|issues| create_error(issues, content.to_pretty_json()))?;
    compress_checked(&content.to_json(), || content.to_pretty_json())
}

/// Validates a JSON object and compresses its own text, key order kept (the reference's
/// `create` of an arbitrary object).
///
/// ```
/// let v = serde_json::json!({"meta": {}, "execution": {"initiator": "com.example.client", "domain": null, "id": "exec-0001"}, "orchestrator": {"version": "1.0.0", "name": "arvo.orc.example.flow"}});
/// let s = arvo_runtime::subject::create_value(&v)?;
/// assert!(s.starts_with("eJw9zUEKwzAMRNG7"));
/// # Ok::<(), arvo_runtime::subject::SubjectError>(())
/// ```
pub fn create_value(content: &Value) -> Result<String, SubjectError> {
    let pretty = || js_json::write(&js_json::Item::Value(content), 2);
    validate_value(content).map_err(|issues| create_error(issues, pretty()))?;
    compress_checked(&js_json::write(&js_json::Item::Value(content), 0), pretty)
}

/// Checks any JSON value against the subject schema, reporting zod's issues in zod's order.
///
/// ```
/// let issues = arvo_runtime::subject::validate_value(&serde_json::json!({"invalid": "content"})).unwrap_err();
/// assert_eq!(issues.as_slice().len(), 3);
/// ```
pub fn validate_value(content: &Value) -> Result<(), Issues> {
    validate::value(content).into_result()
}

fn create_error(issues: Issues, context: String) -> SubjectError {
    create_fault(SubjectFault::Invalid(issues), &context)
}

fn create_fault(cause: SubjectFault, context: &str) -> SubjectError {
    SubjectError::Create {
        cause,
        context: quote_prefix_owned(context),
    }
}

/// Compresses the JSON text of valid content, refusing what [`parse`] would refuse: text over
/// [`MAX_DECODED_LEN`] ([`SubjectFault::TooLarge`]) or a string over [`MAX_SUBJECT_LEN`]
/// ([`SubjectFault::TooLong`]), with the same messages. `pretty` gives the error's context.
fn compress_checked(json: &str, pretty: impl FnOnce() -> String) -> Result<String, SubjectError> {
    if json.len() > MAX_DECODED_LEN {
        return Err(create_fault(SubjectFault::TooLarge, &pretty()));
    }
    let text = codec::compress_str(json);
    if text.len() > MAX_SUBJECT_LEN {
        return Err(create_fault(
            SubjectFault::TooLong { len: text.len() },
            &pretty(),
        ));
    }
    Ok(text)
}

/// The parameters of [`new`] (the reference's `{orchestator, version, initiator, domain, meta}`).
#[derive(Debug, Clone, Default)]
pub struct NewSubject<'a> {
    /// The orchestrator's name (event type rule).
    pub orchestrator: &'a str,
    /// Its version; `None` means `0.0.0`.
    pub version: Option<&'a str>,
    /// Who starts the execution (event type rule).
    pub initiator: &'a str,
    /// The execution's domain; `None` writes `null`.
    pub domain: Option<&'a str>,
    /// Metadata.
    pub meta: Meta,
}

/// A subject for a new execution: a fresh UUID v4 id, keys in the reference's order.
///
/// ```
/// use arvo_runtime::subject::{self, NewSubject};
/// let s = subject::new(NewSubject { orchestrator: "arvo.orc.x.y", initiator: "com.a.b", ..Default::default() })?;
/// assert_eq!(s.content().orchestrator.version, "0.0.0");
/// assert!(subject::new(NewSubject { orchestrator: "invalid name", initiator: "com.a.b", ..Default::default() }).is_err());
/// # Ok::<(), arvo_runtime::subject::SubjectError>(())
/// ```
pub fn new(params: NewSubject<'_>) -> Result<Subject, SubjectError> {
    let mut id = uuid::Uuid::encode_buffer();
    let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut id);
    let content = SubjectContent {
        orchestrator: Orchestrator {
            name: params.orchestrator.to_owned(),
            version: params.version.unwrap_or(WILDCARD_VERSION).to_owned(),
            extra: Extra::new(),
        },
        execution: Execution {
            id: (*id).to_owned(),
            initiator: params.initiator.to_owned(),
            domain: params.domain.map(str::to_owned),
            extra: Extra::new(),
        },
        meta: params.meta,
        extra: Extra::new(),
    };
    let text = create(&content)?;
    Ok(Subject {
        text: Arc::from(text),
        content: Arc::new(content),
    })
}

/// The parameters of [`from_parent`] (the reference's `{orchestator, version, subject, domain, meta}`).
#[derive(Debug, Clone, Default)]
pub struct FromParent<'a> {
    /// The child orchestrator's name.
    pub orchestrator: &'a str,
    /// Its version; `None` means `0.0.0`.
    pub version: Option<&'a str>,
    /// The parent subject string.
    pub subject: &'a str,
    /// The child's domain; `None` inherits the parent's (as the reference's `domain ?? parent`,
    /// so there is no way to clear an inherited domain).
    pub domain: Option<&'a str>,
    /// Metadata merged over the parent's (child keys win).
    pub meta: Meta,
}

/// A subject for a child execution of the subject `params.subject` (spec §4.2 `from`):
/// initiator = the parent's orchestrator, domain and meta inherited, a fresh id.
///
/// ```
/// use arvo_runtime::subject::{self, FromParent, NewSubject};
/// let parent = subject::new(NewSubject { orchestrator: "com.parent.process", initiator: "com.system.init", ..Default::default() })?;
/// let child = subject::from_parent(FromParent { orchestrator: "com.child.process", version: Some("2.0.0"), subject: parent.as_str(), ..Default::default() })?;
/// assert_eq!(child.content().execution.initiator, "com.parent.process");
/// # Ok::<(), arvo_runtime::subject::SubjectError>(())
/// ```
pub fn from_parent(params: FromParent<'_>) -> Result<Subject, SubjectError> {
    let parent = parse(params.subject)?;
    child_of(
        &parent,
        params.orchestrator,
        params.version,
        params.domain,
        params.meta,
    )
}

/// [`from_parent`] for a parent already parsed: no decoding.
///
/// ```
/// use arvo_runtime::subject::{self, Meta, SubjectContent};
/// let parent = SubjectContent::new("com.parent.process", "1.0.0", "p-1", "com.system.init");
/// let child = subject::child_of(&parent, "com.child.process", None, Some("eu"), Meta::new())?;
/// assert_eq!(child.content().execution.domain.as_deref(), Some("eu"));
/// # Ok::<(), arvo_runtime::subject::SubjectError>(())
/// ```
pub fn child_of(
    parent: &SubjectContent,
    orchestrator: &str,
    version: Option<&str>,
    domain: Option<&str>,
    meta: Meta,
) -> Result<Subject, SubjectError> {
    let mut merged = parent.meta.clone();
    merged.extend(meta);
    new(NewSubject {
        orchestrator,
        version,
        initiator: &parent.orchestrator.name,
        domain: domain.or(parent.execution.domain.as_deref()),
        meta: merged,
    })
}

/// Decodes and validates a subject (spec §4.2 `parse`). Accepts what the reference accepts
/// (§0.5: either base64 alphabet, missing padding, zlib or gzip), within [`MAX_SUBJECT_LEN`]
/// and [`MAX_DECODED_LEN`]. Unknown keys are kept in the content.
///
/// ```
/// use arvo_runtime::subject;
/// let c = subject::parse("eJw9jEsKwzAMBe/y1qlxtrmNcBQqsK3iKB8wvnvVFrqdN286tKUn79bItGHpqFQYC6idGnwLfFN5ZQ5b1gsTTm67aHVjDjFEjAl8czrsCztk9elDHjHG2Q9SxeQXR9Ly76UsXM2FVQuJf+uRs9cKG3lojDcRkTSC")?;
/// assert_eq!(c.execution.id, "exec-0001");
/// let e = subject::parse("not a subject").unwrap_err();
/// assert_eq!(e.to_string(), "Error parsing orchestration subject string to the context.\nError -> undefined\nsubject -> not a subject");
/// # Ok::<(), arvo_runtime::subject::SubjectError>(())
/// ```
pub fn parse(subject: &str) -> Result<SubjectContent, SubjectError> {
    let fault = match codec::with_decompressed(subject, parse_json) {
        Ok(Ok(content)) => return Ok(content),
        Ok(Err(fault)) => fault,
        Err(CodecError::Truncated) => SubjectFault::EndOfInput,
        Err(CodecError::TooLarge) => SubjectFault::TooLarge,
        Err(CodecError::InputTooLong { len }) => SubjectFault::TooLong { len },
        Err(CodecError::Inflate | CodecError::Utf8 | CodecError::Json(_)) => {
            SubjectFault::Undecodable
        }
    };
    Err(SubjectError::Parse {
        cause: fault,
        subject: quote_prefix_owned(subject),
    })
}

/// Whether [`parse`] succeeds.
///
/// ```
/// assert!(!arvo_runtime::subject::is_valid("invalid_base64_string"));
/// ```
pub fn is_valid(subject: &str) -> bool {
    parse(subject).is_ok()
}

/// The inflated bytes -> content, as the reference's `TextDecoder` (BOM dropped, bad UTF-8
/// replaced) + `JSON.parse` + schema check. The canonical layout takes a fast reader
/// ([`canonical::read`]); any other text, and any text it gives up on, the serde path.
fn parse_json(bytes: &[u8]) -> Result<SubjectContent, SubjectFault> {
    let text = decode_text(bytes);
    match canonical::read(&text) {
        Some(fields) => {
            // The same checks as `SubjectContent::validate`, before the strings are copied.
            fields.validate().map_err(SubjectFault::Invalid)?;
            Ok(fields.into_content())
        }
        None => parse_text_serde(&text),
    }
}

/// The reference's `TextDecoder`: a leading BOM dropped, bad UTF-8 replaced by U+FFFD.
fn decode_text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    // Valid UTF-8 (the usual case) is borrowed as it is; the lossy scan runs only otherwise.
    match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// The general path: serde_json into the typed content, then the schema check; zod's issues
/// from the generic value when the shape is wrong.
fn parse_text_serde(text: &str) -> Result<SubjectContent, SubjectFault> {
    match serde_json::from_str::<SubjectContent>(text) {
        Ok(content) => {
            content.validate().map_err(SubjectFault::Invalid)?;
            Ok(content)
        }
        // Not the expected shape: find zod's issues on the generic value (a rare path).
        Err(e) if e.is_data() => match serde_json::from_str::<Value>(text) {
            Ok(v) => {
                validate_value(&v).map_err(SubjectFault::Invalid)?;
                // Valid after all: a repeated key whose last value is right (JSON.parse keeps
                // the last one).
                serde_json::from_value(v)
                    .map_err(|e| SubjectFault::Json(quote_prefix_owned(&e.to_string())))
            }
            Err(e) => Err(json_fault(&e)),
        },
        Err(e) => Err(json_fault(&e)),
    }
}

/// The decoded-JSON step of [`parse`] without its fast reader: the serde path alone. For the
/// `subject_parse` fuzz target, which checks that [`parse`] gives the same results; not
/// public API.
#[doc(hidden)]
pub fn __parse_json_serde(bytes: &[u8]) -> Result<SubjectContent, SubjectFault> {
    parse_text_serde(&decode_text(bytes))
}

/// Both readers of the decoded text, without validation: the canonical-layout reader (`None`
/// when it gives up) and serde_json's typed deserialisation. Whenever the first is `Some`, the
/// second must be `Ok` with the same content. For the `subject_parse` fuzz target; not public
/// API.
#[doc(hidden)]
pub fn __json_readers(
    json: &str,
) -> (
    Option<SubjectContent>,
    Result<SubjectContent, serde_json::Error>,
) {
    (
        canonical::read(json).map(canonical::Fields::into_content),
        serde_json::from_str(json),
    )
}

/// The fault for a serde_json error: V8's message for text that ends early, else serde_json's.
fn json_fault(e: &serde_json::Error) -> SubjectFault {
    if e.is_eof() {
        SubjectFault::EndOfInput
    } else {
        SubjectFault::Json(quote_prefix_owned(&e.to_string()))
    }
}
