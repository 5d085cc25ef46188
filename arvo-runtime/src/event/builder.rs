//! Building events: from parts (the reference constructor) and with the builder
//! (`createArvoEvent`).

use super::id::{EventIdInput, create_shared_event_id};
use super::time::now_timestamp;
use super::validate::{Check, DataField, ExtRef, Field, NumField, check};
use super::{
    ArvoEvent, EventError, EventInner, ExtensionValue, Extensions, SPEC_VERSION, SharedStr,
};
use arvo_rules::{ARVO_DATA_CONTENT_TYPE, encode_uri, encodes_to_itself};
use serde_json::{Map, Value};
use std::borrow::Cow;

/// Every attribute of an event, for [`ArvoEvent::from_parts`] (the reference constructor: no
/// encoding, no generated values, every field validated).
///
/// [`Default`] gives `specversion` `1.0` and the Arvo `datacontenttype`; every other field is
/// empty or null (and `id`, `time`, `source`, `type`, `subject` must then be set).
///
/// ```
/// use arvo_runtime::event::{ArvoEvent, ArvoEventParts, new_uuid_v4, now_timestamp};
/// let event = ArvoEvent::from_parts(ArvoEventParts {
///     id: new_uuid_v4(),
///     time: now_timestamp(),
///     source: "com.calc.add".into(),
///     event_type: "evt.calc.add.success".into(),
///     subject: "order-1".into(),
///     to: Some("com.client".into()),
///     ..Default::default()
/// })?;
/// assert_eq!(event.to(), Some("com.client"));
/// # Ok::<(), arvo_runtime::event::EventError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ArvoEventParts {
    /// `id`.
    pub id: String,
    /// `time`.
    pub time: String,
    /// `source` (must already be a properly encoded URI).
    pub source: String,
    /// `specversion` (must be `1.0`).
    pub specversion: Cow<'static, str>,
    /// `type`.
    pub event_type: String,
    /// `subject` (must already be a properly encoded URI).
    pub subject: String,
    /// `datacontenttype`.
    pub datacontenttype: Cow<'static, str>,
    /// `dataschema`.
    pub dataschema: Option<String>,
    /// `data`.
    pub data: Map<String, Value>,
    /// `to` (required with the Arvo content type).
    pub to: Option<String>,
    /// `accesscontrol`.
    pub accesscontrol: Option<String>,
    /// `redirectto`.
    pub redirectto: Option<String>,
    /// `executionunits` (finite).
    pub executionunits: Option<f64>,
    /// `traceparent`.
    pub traceparent: Option<String>,
    /// `tracestate`.
    pub tracestate: Option<String>,
    /// `parentid`.
    pub parentid: Option<String>,
    /// `domain`.
    pub domain: Option<String>,
    /// Custom extensions.
    pub extensions: Extensions,
}

impl Default for ArvoEventParts {
    fn default() -> Self {
        ArvoEventParts {
            id: String::new(),
            time: String::new(),
            source: String::new(),
            specversion: Cow::Borrowed(SPEC_VERSION),
            event_type: String::new(),
            subject: String::new(),
            datacontenttype: Cow::Borrowed(ARVO_DATA_CONTENT_TYPE),
            dataschema: None,
            data: Map::new(),
            to: None,
            accesscontrol: None,
            redirectto: None,
            executionunits: None,
            traceparent: None,
            tracestate: None,
            parentid: None,
            domain: None,
            extensions: Extensions::new(),
        }
    }
}

/// `encode_uri` of a string that is already a properly encoded URI (a URI field of a built,
/// hence validated, event). Such a string holds only pass-through characters and `%`
/// escapes, so without a `%` `encodeURI` leaves it unchanged and it is shared as is.
pub(crate) fn encode_valid_uri(s: &SharedStr) -> SharedStr {
    // The memchr crate's vectorised search: a subject is a few hundred bytes, and this runs
    // for every event a handler emits.
    if memchr::memchr(b'%', s.as_bytes()).is_some() {
        SharedStr::from(encode_uri(s))
    } else {
        SharedStr::clone(s)
    }
}

/// `encode_uri(s)` as a shared string: one copy of `s` when it encodes to itself, else the
/// encoding.
fn encode_shared(s: &str) -> SharedStr {
    if encodes_to_itself(s) {
        SharedStr::from(s)
    } else {
        SharedStr::from(encode_uri(s))
    }
}

/// A string equal to `encode_uri` of some string: a properly encoded URI by construction (see
/// `Field::EncodedUri`), so events built from it skip only its `validateURI` re-check. Cloning
/// it shares the string.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EncodedUri(SharedStr);

impl EncodedUri {
    /// `encodeURI(s)`.
    pub(crate) fn encode(s: &str) -> Self {
        EncodedUri(encode_shared(s))
    }
    /// `encodeURI(s)`, sharing `s` when it needs no escapes.
    pub(crate) fn encode_shared(s: &SharedStr) -> Self {
        EncodedUri(if encodes_to_itself(s) {
            SharedStr::clone(s)
        } else {
            SharedStr::from(encode_uri(s))
        })
    }
    /// The encoded string.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl ArvoEvent {
    /// `encodeURI(subject)`: the subject of a built event is a valid URI, so this shares it
    /// unless it holds escapes.
    pub(crate) fn encoded_subject(&self) -> EncodedUri {
        EncodedUri(encode_valid_uri(&self.inner.subject))
    }
    /// `encodeURI(source)` (see [`encoded_subject`](Self::encoded_subject)).
    pub(crate) fn encoded_source(&self) -> EncodedUri {
        EncodedUri(encode_valid_uri(&self.inner.source))
    }
    /// `encodeURI(redirectto)` (see [`encoded_subject`](Self::encoded_subject)).
    pub(crate) fn encoded_redirectto(&self) -> Option<EncodedUri> {
        self.inner
            .redirectto
            .as_ref()
            .map(|s| EncodedUri(encode_valid_uri(s)))
    }
}

/// An event type declared as emitted by a built contract version: it passed the reference
/// constructor's `type` checks when the contract was built (see `Field::CheckedType`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EmitType(SharedStr);

impl EmitType {
    /// `event_type` and its schema, when `versioned` emits it.
    pub(crate) fn lookup<'v>(
        versioned: &'v crate::contract::VersionedContract,
        event_type: &str,
    ) -> Option<(EmitType, &'v crate::contract::EventSchema)> {
        let schema = versioned.emit(event_type)?;
        Some((
            EmitType(SharedStr::from(schema.event_type.as_str())),
            schema,
        ))
    }

    /// The type `versioned` accepts: its contract's type, checked with the same rules when
    /// the contract was built.
    pub(crate) fn accepted_by(versioned: &crate::contract::VersionedContract) -> EmitType {
        EmitType(SharedStr::from(versioned.accepts().event_type.as_str()))
    }
}

/// An emitted event's `time`: given by the handler's output, or generated now.
#[derive(Debug)]
pub(crate) enum EventTime {
    /// A time the handler set; checked like any other.
    Given(String),
    /// [`now_timestamp`]'s output.
    Generated(String),
}

impl EventTime {
    /// The given time, or the current one.
    pub(crate) fn given_or_now(given: Option<&String>) -> Self {
        match given {
            Some(t) => EventTime::Given(t.clone()),
            None => EventTime::Generated(now_timestamp()),
        }
    }

    /// The `time` check of the reference constructor. A generated time of 29 bytes that
    /// starts with a digit (a year in `0..=9999`, which any current clock gives; other years
    /// are longer or signed) has the shape `is_zod_datetime` accepts by construction
    /// (property-tested in `event::time`), so only the type check remains for it.
    fn field(&self) -> Field<'_> {
        match self {
            EventTime::Generated(t) if t.len() == 29 && t.as_bytes()[0].is_ascii_digit() => {
                Field::CheckedTime(t)
            }
            EventTime::Generated(t) | EventTime::Given(t) => Field::Str(t),
        }
    }

    fn into_string(self) -> String {
        match self {
            EventTime::Given(t) | EventTime::Generated(t) => t,
        }
    }
}

/// The attributes of an event the handler emits, with `createArvoEvent`'s defaults and
/// encodings already applied (crate-internal; see [`ArvoEvent::from_encoded_parts`]).
#[derive(Debug)]
pub(crate) struct EncodedParts {
    pub id: SharedStr,
    pub time: EventTime,
    pub source: EncodedUri,
    pub event_type: EmitType,
    pub subject: EncodedUri,
    pub dataschema: Option<EncodedUri>,
    pub data: Map<String, Value>,
    pub to: EncodedUri,
    pub accesscontrol: Option<String>,
    pub redirectto: Option<EncodedUri>,
    pub executionunits: Option<f64>,
    pub parentid: Option<EncodedUri>,
    pub domain: Option<String>,
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
    pub extensions: Extensions,
}

impl ArvoEvent {
    /// The last step of [`ArvoEventBuilder::build`] for parts whose defaults and encodings are
    /// applied: every check of the reference constructor runs, except `validateURI` on the
    /// [`EncodedUri`] fields, which holds by construction.
    pub(crate) fn from_encoded_parts(p: EncodedParts) -> Result<ArvoEvent, EventError> {
        let c = Check {
            id: Field::Str(&p.id),
            time: p.time.field(),
            source: Field::EncodedUri(p.source.as_str()),
            specversion: Field::Str(SPEC_VERSION),
            event_type: Field::CheckedType(&p.event_type.0),
            subject: Field::EncodedUri(p.subject.as_str()),
            datacontenttype: Field::Str(ARVO_DATA_CONTENT_TYPE),
            dataschema: Field::encoded(p.dataschema.as_ref().map(EncodedUri::as_str)),
            data: DataField::object(&p.data),
            to: Field::EncodedUri(p.to.as_str()),
            accesscontrol: Field::of(p.accesscontrol.as_deref()),
            redirectto: Field::encoded(p.redirectto.as_ref().map(EncodedUri::as_str)),
            executionunits: p.executionunits.map_or(NumField::Null, NumField::Num),
            parentid: Field::encoded(p.parentid.as_ref().map(EncodedUri::as_str)),
            domain: Field::of(p.domain.as_deref()),
            traceparent: Field::of(p.traceparent.as_deref()),
            tracestate: Field::of(p.tracestate.as_deref()),
        };
        check(&c, p.extensions.iter().map(|(k, v)| (k, ExtRef::Value(v))))?;
        Ok(ArvoEvent::from(EventInner {
            id: p.id,
            source: p.source.0,
            event_type: p.event_type.0,
            subject: p.subject.0,
            datacontenttype: Cow::Borrowed(ARVO_DATA_CONTENT_TYPE),
            dataschema: p.dataschema.map(|d| d.0),
            data: Value::Object(p.data),
            time: p.time.into_string(),
            extensions: p.extensions,
            to: Some(p.to.0),
            accesscontrol: p.accesscontrol,
            redirectto: p.redirectto.map(|d| d.0),
            executionunits: p.executionunits,
            traceparent: p.traceparent,
            tracestate: p.tracestate,
            parentid: p.parentid.map(|d| d.0),
            domain: p.domain,
        }))
    }
}

/// The content type, without an allocation for the usual one.
pub(crate) fn intern_content_type(s: Cow<'static, str>) -> Cow<'static, str> {
    if s == ARVO_DATA_CONTENT_TYPE {
        Cow::Borrowed(ARVO_DATA_CONTENT_TYPE)
    } else {
        s
    }
}

impl ArvoEvent {
    /// The reference constructor (`new ArvoEvent(context, data, extensions)`): validates every
    /// field, in the reference's order, and reports the first failing step.
    ///
    /// # Errors
    /// [`EventError::Validation`] with the reference's issues, or [`EventError::MissingTo`].
    pub fn from_parts(p: ArvoEventParts) -> Result<ArvoEvent, EventError> {
        let c = Check {
            id: Field::Str(&p.id),
            time: Field::Str(&p.time),
            source: Field::Str(&p.source),
            specversion: Field::Str(&p.specversion),
            event_type: Field::Str(&p.event_type),
            subject: Field::Str(&p.subject),
            datacontenttype: Field::Str(&p.datacontenttype),
            dataschema: Field::of(p.dataschema.as_deref()),
            data: DataField::object(&p.data),
            to: Field::of(p.to.as_deref()),
            accesscontrol: Field::of(p.accesscontrol.as_deref()),
            redirectto: Field::of(p.redirectto.as_deref()),
            executionunits: p.executionunits.map_or(NumField::Null, NumField::Num),
            parentid: Field::of(p.parentid.as_deref()),
            domain: Field::of(p.domain.as_deref()),
            traceparent: Field::of(p.traceparent.as_deref()),
            tracestate: Field::of(p.tracestate.as_deref()),
        };
        check(&c, p.extensions.iter().map(|(k, v)| (k, ExtRef::Value(v))))?;
        Ok(ArvoEvent::from(EventInner {
            id: SharedStr::from(p.id),
            source: SharedStr::from(p.source),
            event_type: SharedStr::from(p.event_type),
            subject: SharedStr::from(p.subject),
            datacontenttype: intern_content_type(p.datacontenttype),
            dataschema: p.dataschema.map(SharedStr::from),
            data: Value::Object(p.data),
            time: p.time,
            extensions: p.extensions,
            to: p.to.map(SharedStr::from),
            accesscontrol: p.accesscontrol,
            redirectto: p.redirectto.map(SharedStr::from),
            executionunits: p.executionunits,
            traceparent: p.traceparent,
            tracestate: p.tracestate,
            parentid: p.parentid.map(SharedStr::from),
            domain: p.domain,
        }))
    }

    /// The event's attributes, to change some and build a new event with
    /// [`ArvoEvent::from_parts`].
    pub fn into_parts(self) -> ArvoEventParts {
        // The attributes move out when this is the only handle, and are copied otherwise.
        let inner = std::sync::Arc::unwrap_or_clone(self.inner);
        ArvoEventParts {
            id: String::from(&*inner.id),
            time: inner.time,
            source: String::from(&*inner.source),
            specversion: Cow::Borrowed(SPEC_VERSION),
            event_type: String::from(&*inner.event_type),
            subject: String::from(&*inner.subject),
            datacontenttype: inner.datacontenttype,
            dataschema: inner.dataschema.as_deref().map(String::from),
            data: match inner.data {
                Value::Object(m) => m,
                _ => Map::new(),
            },
            to: inner.to.as_deref().map(String::from),
            accesscontrol: inner.accesscontrol,
            redirectto: inner.redirectto.as_deref().map(String::from),
            executionunits: inner.executionunits,
            traceparent: inner.traceparent,
            tracestate: inner.tracestate,
            parentid: inner.parentid.as_deref().map(String::from),
            domain: inner.domain,
            extensions: inner.extensions,
        }
    }
}

/// A value for a nullable builder field: a string, or `None` to leave the field unset.
///
/// Implemented for `&str`, `String`, `&String`, `Option<String>` and `Option<&str>`.
pub trait IntoNullable {
    /// The value as an optional owned string.
    fn into_nullable(self) -> Option<String>;
}
impl IntoNullable for &str {
    fn into_nullable(self) -> Option<String> {
        Some(self.to_owned())
    }
}
impl IntoNullable for String {
    fn into_nullable(self) -> Option<String> {
        Some(self)
    }
}
impl IntoNullable for &String {
    fn into_nullable(self) -> Option<String> {
        Some(self.clone())
    }
}
impl IntoNullable for Option<String> {
    fn into_nullable(self) -> Option<String> {
        self
    }
}
impl IntoNullable for Option<&str> {
    fn into_nullable(self) -> Option<String> {
        self.map(str::to_owned)
    }
}

#[derive(Debug, Clone)]
enum BuilderData {
    Missing,
    Object(Map<String, Value>),
    Wrong(&'static str),
    Unserialisable,
}

/// Builds an event with the reference's `createArvoEvent` semantics (spec §1.4):
/// - `id` from [`EventIdInput`] (default: a fresh UUID v4), `time` default now (true UTC),
///   `specversion` default `1.0`, `datacontenttype` default the Arvo content type;
/// - `source`, `subject`, `to`, `redirectto`, `dataschema`, `parentid` pass through
///   `encodeURI` (so already-encoded input is encoded again, as in the reference);
/// - an empty or unset `to` becomes `encodeURI(type)`; an empty `redirectto`, `dataschema`,
///   `parentid` becomes null; `accesscontrol`, `domain`, `traceparent`, `tracestate` are kept
///   as given (an empty one is then refused).
///
/// Required: `type`, `source`, `subject`, `data` (a missing one is reported as zod's
/// `Required`). Trace headers are not read from an ambient OpenTelemetry context: pass them.
///
/// ```
/// use arvo_runtime::event::{ArvoEvent, EventIdInput};
/// use serde_json::json;
/// let e = ArvoEvent::builder()
///     .id(EventIdInput::DeveloperManaged("evt-1".into()))
///     .event_type("com.example.order.created")
///     .source("com.example/producer with space")
///     .subject("order-123")
///     .data_json(json!({"amount": 42}))
///     .extension("tenant", "acme")
///     .build()?;
/// assert_eq!(e.id(), "evt-1");
/// assert_eq!(e.source(), "com.example/producer%20with%20space");
/// # Ok::<(), arvo_runtime::event::EventError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ArvoEventBuilder {
    id: Option<EventIdInput>,
    time: Option<String>,
    source: Option<String>,
    specversion: Option<String>,
    event_type: Option<String>,
    subject: Option<String>,
    datacontenttype: Option<String>,
    dataschema: Option<String>,
    data: BuilderData,
    to: Option<String>,
    accesscontrol: Option<String>,
    redirectto: Option<String>,
    executionunits: Option<f64>,
    traceparent: Option<String>,
    tracestate: Option<String>,
    parentid: Option<String>,
    domain: Option<String>,
    /// Insert order kept, a repeated key replaces the value in place (constant time).
    extensions: indexmap::IndexMap<String, Result<ExtensionValue, &'static str>>,
}

impl Default for ArvoEventBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ArvoEventBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        ArvoEventBuilder {
            id: None,
            time: None,
            source: None,
            specversion: None,
            event_type: None,
            subject: None,
            datacontenttype: None,
            dataschema: None,
            data: BuilderData::Missing,
            to: None,
            accesscontrol: None,
            redirectto: None,
            executionunits: None,
            traceparent: None,
            tracestate: None,
            parentid: None,
            domain: None,
            extensions: indexmap::IndexMap::new(),
        }
    }

    /// How to make the id (default: a fresh UUID v4).
    pub fn id(mut self, id: EventIdInput) -> Self {
        self.id = Some(id);
        self
    }
    /// `time`, kept verbatim (default: now).
    pub fn time(mut self, time: impl Into<String>) -> Self {
        self.time = Some(time.into());
        self
    }
    /// `source` (encodeURI'd).
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }
    /// `specversion` (default `1.0`, the only accepted value).
    pub fn specversion(mut self, specversion: impl Into<String>) -> Self {
        self.specversion = Some(specversion.into());
        self
    }
    /// `type`.
    pub fn event_type(mut self, event_type: impl Into<String>) -> Self {
        self.event_type = Some(event_type.into());
        self
    }
    /// `subject` (encodeURI'd).
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }
    /// `datacontenttype` (default the Arvo content type).
    pub fn datacontenttype(mut self, datacontenttype: impl Into<String>) -> Self {
        self.datacontenttype = Some(datacontenttype.into());
        self
    }
    /// `dataschema` (encodeURI'd; empty means null).
    pub fn dataschema(mut self, dataschema: impl IntoNullable) -> Self {
        self.dataschema = dataschema.into_nullable();
        self
    }
    /// `data`.
    pub fn data(mut self, data: Map<String, Value>) -> Self {
        self.data = BuilderData::Object(data);
        self
    }
    /// `data` from a JSON value; anything but an object is refused at [`build`](Self::build)
    /// with the reference's `Expected object, received <type>`.
    pub fn data_json(mut self, data: Value) -> Self {
        self.data = match data {
            Value::Object(m) => BuilderData::Object(m),
            other => BuilderData::Wrong(crate::issue::json_type_name(&other)),
        };
        self
    }
    /// `data` from a typed payload. If it does not serialise to a JSON object (its `Serialize`
    /// fails, e.g. a map with non-string keys) [`build`](Self::build) refuses it with the
    /// reference's `The Arvo data object must be a JSON serializable object`.
    pub fn data_serialize<T: serde::Serialize + ?Sized>(mut self, data: &T) -> Self {
        self.data = match serde_json::to_value(data) {
            Ok(Value::Object(m)) => BuilderData::Object(m),
            Ok(other) => BuilderData::Wrong(crate::issue::json_type_name(&other)),
            Err(_) => BuilderData::Unserialisable,
        };
        self
    }
    /// `to` (encodeURI'd; empty or unset means `encodeURI(type)`).
    pub fn to(mut self, to: impl IntoNullable) -> Self {
        self.to = to.into_nullable();
        self
    }
    /// `accesscontrol` (kept as given).
    pub fn accesscontrol(mut self, accesscontrol: impl IntoNullable) -> Self {
        self.accesscontrol = accesscontrol.into_nullable();
        self
    }
    /// `redirectto` (encodeURI'd; empty means null).
    pub fn redirectto(mut self, redirectto: impl IntoNullable) -> Self {
        self.redirectto = redirectto.into_nullable();
        self
    }
    /// `executionunits` (`0` is kept).
    pub fn executionunits(mut self, executionunits: impl Into<Option<f64>>) -> Self {
        self.executionunits = executionunits.into();
        self
    }
    /// `traceparent` (kept as given).
    pub fn traceparent(mut self, traceparent: impl IntoNullable) -> Self {
        self.traceparent = traceparent.into_nullable();
        self
    }
    /// `tracestate` (kept as given).
    pub fn tracestate(mut self, tracestate: impl IntoNullable) -> Self {
        self.tracestate = tracestate.into_nullable();
        self
    }
    /// `parentid` (encodeURI'd; empty means null).
    pub fn parentid(mut self, parentid: impl IntoNullable) -> Self {
        self.parentid = parentid.into_nullable();
        self
    }
    /// `domain` (kept as given).
    pub fn domain(mut self, domain: impl IntoNullable) -> Self {
        self.domain = domain.into_nullable();
        self
    }
    /// Adds (or replaces, keeping its position) a custom extension.
    pub fn extension(self, key: impl Into<String>, value: impl Into<ExtensionValue>) -> Self {
        self.push_extension(key.into(), Ok(value.into()))
    }
    /// Adds a custom extension from an untyped JSON value; an object or array is refused at
    /// [`build`](Self::build) with the reference's `invalid_union` issue.
    pub fn extension_json(self, key: impl Into<String>, value: Value) -> Self {
        self.push_extension(key.into(), ExtensionValue::from_json_value(value))
    }

    fn push_extension(mut self, key: String, value: Result<ExtensionValue, &'static str>) -> Self {
        self.extensions.insert(key, value);
        self
    }

    /// Applies the defaults and encodings, then validates like [`ArvoEvent::from_parts`].
    ///
    /// # Errors
    /// [`EventError::Validation`] with the reference's issues, or [`EventError::MissingTo`].
    pub fn build(self) -> Result<ArvoEvent, EventError> {
        let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
        let id = create_shared_event_id(self.id.as_ref());
        let time = self.time.unwrap_or_else(now_timestamp);
        let source = self.source.as_deref().map(encode_shared);
        let subject = self.subject.as_deref().map(encode_shared);
        let to = match non_empty(self.to) {
            Some(to) => Some(encode_shared(&to)),
            None => self.event_type.as_deref().map(encode_shared),
        };
        let redirectto = non_empty(self.redirectto).as_deref().map(encode_shared);
        let dataschema = non_empty(self.dataschema).as_deref().map(encode_shared);
        let parentid = non_empty(self.parentid).as_deref().map(encode_shared);
        let specversion = self
            .specversion
            .map_or(Cow::Borrowed(SPEC_VERSION), Cow::Owned);
        let datacontenttype = self
            .datacontenttype
            .map_or(Cow::Borrowed(ARVO_DATA_CONTENT_TYPE), Cow::Owned);
        fn opt(s: &Option<String>) -> Field<'_> {
            s.as_deref().map_or(Field::Missing, Field::Str)
        }
        // `source`, `subject`, `to`, `redirectto` and `dataschema` are outputs of
        // `encode_uri`: their URI check holds by construction (see `Field::EncodedUri`).
        fn encoded(s: &Option<SharedStr>) -> Field<'_> {
            s.as_deref().map_or(Field::Missing, Field::EncodedUri)
        }
        let c = Check {
            id: Field::Str(&id),
            time: Field::Str(&time),
            source: encoded(&source),
            specversion: Field::Str(&specversion),
            event_type: opt(&self.event_type),
            subject: encoded(&subject),
            datacontenttype: Field::Str(&datacontenttype),
            dataschema: Field::encoded(dataschema.as_deref()),
            data: match &self.data {
                BuilderData::Missing => DataField::Missing,
                BuilderData::Object(m) => DataField::object(m),
                BuilderData::Wrong(t) => DataField::Wrong(t),
                BuilderData::Unserialisable => DataField::Unserialisable,
            },
            to: Field::encoded(to.as_deref()),
            accesscontrol: Field::of(self.accesscontrol.as_deref()),
            redirectto: Field::encoded(redirectto.as_deref()),
            executionunits: self.executionunits.map_or(NumField::Null, NumField::Num),
            parentid: Field::of(parentid.as_deref()),
            domain: Field::of(self.domain.as_deref()),
            traceparent: Field::of(self.traceparent.as_deref()),
            tracestate: Field::of(self.tracestate.as_deref()),
        };
        let ext_refs = self.extensions.iter().map(|(k, v)| {
            (
                k.as_str(),
                match v {
                    Ok(v) => ExtRef::Value(v),
                    Err(t) => ExtRef::Wrong(t),
                },
            )
        });
        check(&c, ext_refs)?;
        let (BuilderData::Object(data), Some(source), Some(event_type), Some(subject)) =
            (self.data, source, self.event_type, subject)
        else {
            // `check` refuses a missing or non-object `data` and missing strings.
            return Err(EventError::Validation(crate::issue::Issues::default()));
        };
        Ok(ArvoEvent::from(EventInner {
            id,
            source,
            event_type: SharedStr::from(event_type),
            subject,
            datacontenttype: intern_content_type(datacontenttype),
            dataschema,
            data: Value::Object(data),
            time,
            extensions: self
                .extensions
                .into_iter()
                .filter_map(|(k, v)| v.ok().map(|v| (k, v)))
                .collect(),
            to,
            accesscontrol: self.accesscontrol,
            redirectto,
            executionunits: self.executionunits,
            traceparent: self.traceparent,
            tracestate: self.tracestate,
            parentid,
            domain: self.domain,
        }))
    }
}
