//! The ArvoEvent: a CloudEvent with Arvo's extensions, wire-compatible with the reference.
//!
//! An [`ArvoEvent`] is immutable and always valid: every way to get one runs the reference
//! constructor's checks (spec §1.1/§1.2) and returns an [`EventError`] whose message equals
//! the reference's.
//!
//! Three ways in:
//! - [`ArvoEvent::builder`]: the reference's `createArvoEvent` (defaults, `encodeURI` of the
//!   URI fields, id and time generation).
//! - [`ArvoEvent::from_parts`]: the reference's constructor (no defaults beyond
//!   `datacontenttype`, no encoding, every field validated); cheap, for events built in code.
//! - [`ArvoEvent::from_json_str`] / [`ArvoEvent::from_json_slice`] / [`serde::Deserialize`]:
//!   parsing the wire form, straight into the struct.
//!
//! One way out: [`ArvoEvent::to_json_string`] writes exactly the reference's `toString()`,
//! JavaScript number formatting included.
//!
//! ```
//! use arvo_runtime::event::ArvoEvent;
//! use serde_json::json;
//!
//! let event = ArvoEvent::builder()
//!     .event_type("com.example.order.created")
//!     .source("com.example.producer")
//!     .subject("order 123")
//!     .data_json(json!({"orderId": "123", "amount": 1e21}))
//!     .time("2024-01-01T00:00:00.000+00:00")
//!     .build()?;
//! assert_eq!(event.subject(), "order%20123"); // encodeURI, as createArvoEvent does
//! assert_eq!(event.to(), Some("com.example.order.created")); // `to` defaults to `type`
//! let text = event.to_json_string();
//! assert!(text.contains(r#""data":{"orderId":"123","amount":1e+21}"#));
//! assert_eq!(ArvoEvent::from_json_str(&text)?, event);
//! # Ok::<(), arvo_runtime::event::EventError>(())
//! ```
//!
//! ## Hostile input
//! - Reading takes time linear in the text whatever the number of custom extensions: they are
//!   kept in a hash-indexed map. Their number is not capped (nor in the reference, and a
//!   CloudEvents reader has no such cap); the byte limit of the handler's `execute_json`
//!   (1 MiB by default, at most ~175k extensions) bounds the work.
//! - Error messages quote at most a bounded prefix of the input
//!   ([`quote_prefix`](crate::issue::quote_prefix)).
//! - Keys are written in JavaScript's order, as the reference's `JSON.stringify` writes them:
//!   array-index keys (`"0"`, `"42"`) first, ascending, in the event (an extension named `42`
//!   before `id`) and in every object of `data`.
//!
//! ## Deliberate differences from the reference
//! - Reading JSON is tolerant: a missing nullable attribute (`dataschema`, `to`,
//!   `accesscontrol`, `redirectto`, `executionunits`, `traceparent`, `tracestate`, and v2
//!   events' missing `parentid`/`domain`) reads as `null`, where the reference reports
//!   `Required`. Unknown top-level keys that are valid extension names (`^[a-z0-9]+$`) with a
//!   string/number/boolean/null value become custom extensions (what a CloudEvents reader
//!   expects); other unknown keys are dropped, as the reference drops them.
//! - `data` may nest at most [`MAX_DATA_DEPTH`] (100) arrays and objects deep, in events built
//!   and read alike, so that every event can be read back from its JSON (the reference has no
//!   such limit; serde_json's recursion limit is 128 levels per document).
//! - Custom extensions may not use a reserved name (any core, Arvo or OpenTelemetry
//!   attribute): the reference lets `{"id": "hacked"}` override the event's id in `toJSON()`.
//! - `executionunits` and numeric extension values must be finite: the reference accepts
//!   `Infinity` and then serialises it as `null`.
//! - Generated times are the true UTC instant (the reference writes local wall-clock time
//!   labelled `+00:00` on non-UTC hosts).
//! - The builder does not read an ambient OpenTelemetry context for `traceparent` /
//!   `tracestate`, and logs no warning for a non-Arvo `datacontenttype`: the handler layer
//!   passes trace headers in explicitly.

mod builder;
mod id;
mod json;
mod time;
mod validate;
mod views;

use serde_json::{Map, Value};
use std::borrow::Cow;

pub use builder::{ArvoEventBuilder, ArvoEventParts, IntoNullable};
pub(crate) use builder::{EmitType, EncodedParts, EncodedUri, EventTime};
pub(crate) use id::create_shared_event_id;
pub use id::{
    ArvoEventIdObject, EventIdInput, ParseEventIdError, create_event_id, new_uuid_v4,
    parse_arvo_event_id,
};
pub use json::JsFormatter;
#[cfg(test)]
pub(crate) use json::js_value_eq;
pub(crate) use json::{JsNumber, js_array_index, js_number_string, js_ordered, value_eq_with};
pub use time::{format_timestamp, now_timestamp};
pub use validate::MAX_DATA_DEPTH;
pub use views::{CloudEventDefault, CloudEventExtensions, CloudEventView, OtelValue};

use crate::issue::Issues;

/// The CloudEvents spec version every ArvoEvent has.
pub const SPEC_VERSION: &str = "1.0";

/// Every attribute name a custom extension may not use: the CloudEvent core attributes, Arvo's
/// extensions and the OpenTelemetry ones.
pub const RESERVED_ATTRIBUTE_NAMES: [&str; 17] = [
    "id",
    "source",
    "specversion",
    "type",
    "subject",
    "datacontenttype",
    "dataschema",
    "data",
    "time",
    "to",
    "accesscontrol",
    "redirectto",
    "executionunits",
    "traceparent",
    "tracestate",
    "parentid",
    "domain",
];

/// Why an event could not be built or parsed.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// One validation step failed (CloudEvent context, data, Arvo extensions, OpenTelemetry
    /// extensions or custom extensions, in that order; issues of different steps are never
    /// mixed). Displays exactly as the reference's `ZodError.message`.
    #[error("{0}")]
    Validation(Issues),
    /// The event has the Arvo content type but no `to`.
    #[error("The ArvoEvent must have a non-empty 'to' field")]
    MissingTo,
    /// The input is not JSON, or not a JSON object. serde_json's message may quote the input
    /// (a top-level string); the message quotes at most a bounded prefix of it
    /// ([`quote_prefix`](crate::issue::quote_prefix)).
    #[error("Invalid ArvoEvent JSON: {}", crate::issue::quote_prefix(&.0.to_string()))]
    Json(#[from] serde_json::Error),
}

impl EventError {
    /// The validation issues, when this is a validation error.
    pub fn issues(&self) -> Option<&Issues> {
        match self {
            EventError::Validation(issues) => Some(issues),
            _ => None,
        }
    }
}

/// The value of a custom extension attribute: the types CloudEvents extensions may hold in
/// Arvo (`string | number | boolean | null`).
#[derive(Debug, Clone, PartialEq)]
pub enum ExtensionValue {
    /// A string.
    String(String),
    /// A number (a JavaScript number: `f64`). Must be finite.
    Number(f64),
    /// A boolean.
    Bool(bool),
    /// `null`.
    Null,
}

impl From<&str> for ExtensionValue {
    fn from(v: &str) -> Self {
        ExtensionValue::String(v.to_owned())
    }
}
impl From<String> for ExtensionValue {
    fn from(v: String) -> Self {
        ExtensionValue::String(v)
    }
}
impl From<f64> for ExtensionValue {
    fn from(v: f64) -> Self {
        ExtensionValue::Number(v)
    }
}
impl From<i64> for ExtensionValue {
    fn from(v: i64) -> Self {
        ExtensionValue::Number(v as f64)
    }
}
impl From<i32> for ExtensionValue {
    fn from(v: i32) -> Self {
        ExtensionValue::Number(f64::from(v))
    }
}
impl From<u32> for ExtensionValue {
    fn from(v: u32) -> Self {
        ExtensionValue::Number(f64::from(v))
    }
}
impl From<bool> for ExtensionValue {
    fn from(v: bool) -> Self {
        ExtensionValue::Bool(v)
    }
}
impl<T: Into<ExtensionValue>> From<Option<T>> for ExtensionValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(ExtensionValue::Null, Into::into)
    }
}

impl ExtensionValue {
    /// The value as JSON (integral numbers become JSON integers, as JavaScript prints them).
    pub fn to_json_value(&self) -> Value {
        match self {
            ExtensionValue::String(s) => Value::String(s.clone()),
            ExtensionValue::Number(n) => json::js_number_value(*n),
            ExtensionValue::Bool(b) => Value::Bool(*b),
            ExtensionValue::Null => Value::Null,
        }
    }

    /// The value if it is a JSON string, number, boolean or null; `Err` with zod's type name
    /// (`object`, `array`) otherwise.
    pub fn from_json_value(v: Value) -> Result<Self, &'static str> {
        match v {
            Value::String(s) => Ok(ExtensionValue::String(s)),
            Value::Number(n) => Ok(ExtensionValue::Number(n.as_f64().unwrap_or(f64::NAN))),
            Value::Bool(b) => Ok(ExtensionValue::Bool(b)),
            Value::Null => Ok(ExtensionValue::Null),
            Value::Array(_) => Err("array"),
            Value::Object(_) => Err("object"),
        }
    }
}

/// Custom extension attributes, in insertion order.
///
/// Inserting an existing key replaces its value and keeps its position, like assigning to a
/// JavaScript object. Names and values are checked when the event is built. Lookups and
/// inserts take constant time (a hash index), so reading an event costs time linear in its
/// size whatever the number of extensions.
///
/// Iteration follows insertion order; the event's JSON lists them as JavaScript does, keys
/// that are array indices (`"0"`, `"42"`) first in ascending order (see
/// [`ArvoEvent::to_json_string`]).
///
/// ```
/// use arvo_runtime::event::{Extensions, ExtensionValue};
/// let mut ext = Extensions::new();
/// ext.insert("tenant", "acme");
/// ext.insert("retrycount", 2);
/// ext.insert("tenant", "other");
/// assert_eq!(ext.keys().collect::<Vec<_>>(), ["tenant", "retrycount"]);
/// assert_eq!(ext.get("tenant"), Some(&ExtensionValue::from("other")));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Extensions(indexmap::IndexMap<String, ExtensionValue>);

/// Equal when the same entries are in the same JavaScript order ([`Extensions::js_order`]):
/// exactly when they write the same JSON.
impl PartialEq for Extensions {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len() && self.js_order().eq(other.js_order())
    }
}

impl Extensions {
    /// No extensions (no allocation).
    pub fn new() -> Self {
        Extensions(indexmap::IndexMap::new())
    }

    /// Sets `key` to `value`, returning the previous value (whose position is kept).
    pub fn insert(
        &mut self,
        key: impl Into<String>,
        value: impl Into<ExtensionValue>,
    ) -> Option<ExtensionValue> {
        self.0.insert(key.into(), value.into())
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&ExtensionValue> {
        self.0.get(key)
    }

    /// The entries in insertion order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &ExtensionValue)> + Clone {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The entries in the order JavaScript lists an object's keys: array-index keys (`"0"`,
    /// `"42"`, not `"01"`) first in ascending numeric order, then the others in insertion
    /// order. The order the event's JSON uses.
    ///
    /// ```
    /// use arvo_runtime::event::Extensions;
    /// let ext: Extensions = [("tenant", 1), ("42", 2), ("7", 3), ("07", 4)].into_iter().collect();
    /// assert_eq!(ext.js_order().map(|(k, _)| k).collect::<Vec<_>>(), ["7", "42", "tenant", "07"]);
    /// ```
    pub fn js_order(&self) -> impl Iterator<Item = (&str, &ExtensionValue)> {
        json::js_key_order(self.iter())
    }

    /// The keys in insertion order.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// How many extensions there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The extensions as a JSON object (the reference's `extensions` getter), keys in
    /// JavaScript's order (see [`js_order`](Self::js_order)).
    pub fn to_json_value(&self) -> Value {
        Value::Object(
            self.js_order()
                .map(|(k, v)| (k.to_owned(), v.to_json_value()))
                .collect(),
        )
    }
}

impl<K: Into<String>, V: Into<ExtensionValue>> FromIterator<(K, V)> for Extensions {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut ext = Extensions::new();
        for (k, v) in iter {
            ext.insert(k, v);
        }
        ext
    }
}

/// An empty map, for [`ArvoEvent::data`]'s unreachable branch.
fn empty_map() -> &'static Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(Map::new)
}

/// An Arvo event: immutable, always valid.
///
/// Getters return every attribute; nullable ones are `Option`s. Build one with
/// [`ArvoEvent::builder`] or [`ArvoEvent::from_parts`], or parse one with
/// [`ArvoEvent::from_json_str`]. See the [module docs](self) for an example.
///
/// The attributes live in one shared allocation: an event is never changed after it is built,
/// so [`Clone`] only counts a reference. The same event can sit in a broker queue, a workflow
/// record and a span without being copied.
///
/// Two events are equal when their attributes are, the numbers in `data` compared as the
/// JavaScript numbers (doubles) they stand for and its keys in any order. An event thus equals
/// itself after a JSON round trip, though the writer prints numbers as JavaScript does (`2.0`
/// as `2`, integers beyond 2^53 rounded) and lists array-index keys first:
///
/// ```
/// use arvo_runtime::event::ArvoEvent;
/// use serde_json::json;
///
/// let event = ArvoEvent::builder()
///     .event_type("com.example.thing")
///     .source("com.example.src")
///     .subject("s-1")
///     .data_json(json!({"two": 2.0, "big": 9007199254740993u64, "zero": -0.0}))
///     .build()?;
/// let text = event.to_json_string();
/// assert!(text.contains(r#""data":{"two":2,"big":9007199254740992,"zero":0}"#));
/// assert_eq!(ArvoEvent::from_json_str(&text)?, event);
/// # Ok::<(), arvo_runtime::event::EventError>(())
/// ```
#[derive(Clone, PartialEq)]
pub struct ArvoEvent {
    inner: std::sync::Arc<EventInner>,
}

impl std::fmt::Debug for ArvoEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt_fields(f)
    }
}

/// A string attribute shared between events (and with the handler that made them).
pub(crate) type SharedStr = std::sync::Arc<str>;

/// The attributes of an [`ArvoEvent`].
#[derive(Debug, Clone)]
pub(crate) struct EventInner {
    pub(crate) id: SharedStr,
    // The attributes an emitted event usually shares with its input event or with its
    // handler's constants (subject, source, type, dataschema, to, redirectto) are
    // reference-counted, so emitting does not copy them.
    pub(crate) source: SharedStr,
    pub(crate) event_type: SharedStr,
    pub(crate) subject: SharedStr,
    pub(crate) datacontenttype: Cow<'static, str>,
    pub(crate) dataschema: Option<SharedStr>,
    /// Always a `Value::Object`: kept as a `Value` so that schema validation, which takes a
    /// `&Value`, needs no copy of it.
    pub(crate) data: Value,
    pub(crate) time: String,
    pub(crate) extensions: Extensions,
    pub(crate) to: Option<SharedStr>,
    pub(crate) accesscontrol: Option<String>,
    pub(crate) redirectto: Option<SharedStr>,
    pub(crate) executionunits: Option<f64>,
    pub(crate) traceparent: Option<String>,
    pub(crate) tracestate: Option<String>,
    pub(crate) parentid: Option<SharedStr>,
    pub(crate) domain: Option<String>,
}

/// Field by field, `data` as JavaScript reads it ([`json::js_value_eq`]): see [`ArvoEvent`].
impl PartialEq for EventInner {
    fn eq(&self, other: &Self) -> bool {
        // Destructured, so that a field added to the struct cannot be left out here.
        let EventInner {
            id,
            source,
            event_type,
            subject,
            datacontenttype,
            dataschema,
            data,
            time,
            extensions,
            to,
            accesscontrol,
            redirectto,
            executionunits,
            traceparent,
            tracestate,
            parentid,
            domain,
        } = self;
        *id == other.id
            && *source == other.source
            && *event_type == other.event_type
            && *subject == other.subject
            && *datacontenttype == other.datacontenttype
            && *dataschema == other.dataschema
            && *time == other.time
            && *to == other.to
            && *accesscontrol == other.accesscontrol
            && *redirectto == other.redirectto
            && *executionunits == other.executionunits
            && *traceparent == other.traceparent
            && *tracestate == other.tracestate
            && *parentid == other.parentid
            && *domain == other.domain
            && *extensions == other.extensions
            && json::js_value_eq(data, &other.data)
    }
}

impl EventInner {
    /// `Debug` output under the public type's name.
    fn fmt_fields(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArvoEvent")
            .field("id", &self.id)
            .field("source", &self.source)
            .field("event_type", &self.event_type)
            .field("subject", &self.subject)
            .field("datacontenttype", &self.datacontenttype)
            .field("dataschema", &self.dataschema)
            .field("data", &self.data)
            .field("time", &self.time)
            .field("extensions", &self.extensions)
            .field("to", &self.to)
            .field("accesscontrol", &self.accesscontrol)
            .field("redirectto", &self.redirectto)
            .field("executionunits", &self.executionunits)
            .field("traceparent", &self.traceparent)
            .field("tracestate", &self.tracestate)
            .field("parentid", &self.parentid)
            .field("domain", &self.domain)
            .finish()
    }
}

impl From<EventInner> for ArvoEvent {
    fn from(inner: EventInner) -> Self {
        ArvoEvent {
            inner: std::sync::Arc::new(inner),
        }
    }
}

impl ArvoEvent {
    /// A builder with the reference's `createArvoEvent` semantics.
    pub fn builder() -> ArvoEventBuilder {
        ArvoEventBuilder::new()
    }

    /// `id`: the event's unique identifier.
    pub fn id(&self) -> &str {
        &self.inner.id
    }
    /// `source`: the producer (a properly encoded URI).
    pub fn source(&self) -> &str {
        &self.inner.source
    }
    /// `specversion`: always `1.0`.
    pub fn specversion(&self) -> &'static str {
        SPEC_VERSION
    }
    /// `type`: the event type (reverse-DNS style, e.g. `com.calc.add`).
    pub fn event_type(&self) -> &str {
        &self.inner.event_type
    }
    /// `subject`: the process id (a properly encoded URI).
    pub fn subject(&self) -> &str {
        &self.inner.subject
    }

    /// `id`, shared (it becomes the `parentid` of the events this one causes).
    pub(crate) fn shared_id(&self) -> &SharedStr {
        &self.inner.id
    }

    /// `subject`, shared (for the subject cache and records, which then need no copy).
    pub(crate) fn shared_subject(&self) -> &SharedStr {
        &self.inner.subject
    }
    /// `datacontenttype`.
    pub fn datacontenttype(&self) -> &str {
        &self.inner.datacontenttype
    }
    /// `dataschema`, when set.
    pub fn dataschema(&self) -> Option<&str> {
        self.inner.dataschema.as_deref()
    }
    /// `data`: the payload, in its key order.
    pub fn data(&self) -> &Map<String, Value> {
        match &self.inner.data {
            Value::Object(m) => m,
            // Every constructor stores an object.
            _ => empty_map(),
        }
    }
    /// `data` as a JSON value (always an object), e.g. to validate it with a
    /// [`Schema`](crate::contract::Schema) without copying it.
    pub fn data_value(&self) -> &Value {
        &self.inner.data
    }
    /// `time`, verbatim as given.
    pub fn time(&self) -> &str {
        &self.inner.time
    }
    /// `to`: the intended consumer.
    pub fn to(&self) -> Option<&str> {
        self.inner.to.as_deref()
    }
    /// `accesscontrol`.
    pub fn accesscontrol(&self) -> Option<&str> {
        self.inner.accesscontrol.as_deref()
    }
    /// `redirectto`: where the answer should go instead of the source.
    pub fn redirectto(&self) -> Option<&str> {
        self.inner.redirectto.as_deref()
    }
    /// `executionunits`: the cost of producing the event.
    pub fn executionunits(&self) -> Option<f64> {
        self.inner.executionunits
    }
    /// `traceparent` (W3C trace context, not format-checked, as in the reference).
    pub fn traceparent(&self) -> Option<&str> {
        self.inner.traceparent.as_deref()
    }
    /// `tracestate`.
    pub fn tracestate(&self) -> Option<&str> {
        self.inner.tracestate.as_deref()
    }
    /// `parentid`: the id of the event that caused this one.
    pub fn parentid(&self) -> Option<&str> {
        self.inner.parentid.as_deref()
    }
    /// `domain`: the processing domain.
    pub fn domain(&self) -> Option<&str> {
        self.inner.domain.as_deref()
    }
    /// The custom extensions only (the reference's `extensions` getter).
    pub fn extensions(&self) -> &Extensions {
        &self.inner.extensions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> ArvoEvent {
        ArvoEvent::builder()
            .event_type("com.example.thing")
            .source("com.example.src")
            .subject("s-1")
            .data_json(json!({"k": [1, 2, 3]}))
            .build()
            .unwrap()
    }

    #[test]
    fn clones_share_their_attributes() {
        let a = event();
        let b = a.clone();
        assert!(std::ptr::eq(a.data(), b.data()));
        assert!(std::ptr::eq(a.subject(), b.subject()));
        assert_eq!(a, b);
    }

    #[test]
    fn into_parts_of_a_shared_event_copies_and_leaves_the_other_intact() {
        let a = event();
        let b = a.clone();
        let mut parts = b.into_parts();
        parts.subject = "s-2".into();
        let c = ArvoEvent::from_parts(parts).unwrap();
        assert_eq!(a.subject(), "s-1");
        assert_eq!(c.subject(), "s-2");
        assert_eq!(a.id(), c.id());
        // The only handle moves its attributes out.
        assert_eq!(event().into_parts().subject, "s-1");
    }

    #[test]
    fn debug_reads_like_a_struct() {
        let text = format!("{:?}", event());
        assert!(text.starts_with("ArvoEvent { id: "), "{text}");
        assert!(text.contains("subject: \"s-1\""), "{text}");
    }
}
