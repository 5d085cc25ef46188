//! Reading an event: a fast, validating reader tolerant of missing nullable attributes.

use crate::event::builder::intern_content_type;
use crate::event::validate::{Check, DataField, ExtRef, Field, NumField, check};
use crate::event::{ArvoEvent, EventError, EventInner, ExtensionValue, Extensions, SharedStr};
use arvo_rules::ARVO_DATA_CONTENT_TYPE;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;

impl ArvoEvent {
    /// Parses and validates an event from its JSON text.
    ///
    /// Validation is the reference constructor's (see [`ArvoEvent::from_parts`]); reading is
    /// tolerant of missing nullable attributes and keeps unknown extension-named keys as custom
    /// extensions (see the [module docs](crate::event)).
    ///
    /// # Errors
    /// [`EventError::Json`] for malformed JSON or a non-object; otherwise as
    /// [`ArvoEvent::from_parts`].
    pub fn from_json_str(s: &str) -> Result<ArvoEvent, EventError> {
        if let Some(raw) = super::fast::read(s) {
            return raw.into_event();
        }
        serde_json::from_str::<RawEvent<'_>>(s)?.into_event()
    }

    /// [`ArvoEvent::from_json_str`] for bytes.
    ///
    /// # Errors
    /// As [`ArvoEvent::from_json_str`].
    pub fn from_json_slice(b: &[u8]) -> Result<ArvoEvent, EventError> {
        // The fast reader takes the usual shape of an event; anything else (and every error)
        // goes through serde_json, which the fast reader agrees with on what it takes.
        if let Some(raw) = std::str::from_utf8(b).ok().and_then(super::fast::read) {
            return raw.into_event();
        }
        serde_json::from_slice::<RawEvent<'_>>(b)?.into_event()
    }
}

/// Parses and validates like [`ArvoEvent::from_json_str`]; validation errors become the
/// deserializer's custom error with the same message.
impl<'de> Deserialize<'de> for ArvoEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        RawEvent::deserialize(d)?
            .into_event()
            .map_err(de::Error::custom)
    }
}

/// A string attribute as read: borrowed from the input when it holds no escape.
#[derive(Default)]
pub(super) enum RawStr<'a> {
    #[default]
    Missing,
    Null,
    Str(Cow<'a, str>),
    /// A string read straight into a shared string (the attributes [`EventInner`] shares).
    Shared(SharedStr),
    Wrong(&'static str),
}

impl<'a> RawStr<'a> {
    fn field(&self) -> Field<'_> {
        match self {
            RawStr::Missing => Field::Missing,
            RawStr::Null => Field::Null,
            RawStr::Str(s) => Field::Str(s),
            RawStr::Shared(s) => Field::Str(s),
            RawStr::Wrong(t) => Field::Wrong(t),
        }
    }
    fn into_option(self) -> Option<String> {
        match self {
            RawStr::Str(s) => Some(s.into_owned()),
            RawStr::Shared(s) => Some(String::from(&*s)),
            _ => None,
        }
    }
    fn into_string(self) -> String {
        self.into_option().unwrap_or_default()
    }
    fn into_shared_option(self) -> Option<SharedStr> {
        match self {
            RawStr::Shared(s) => Some(s),
            RawStr::Str(s) => Some(SharedStr::from(&*s)),
            _ => None,
        }
    }
    /// [`RawStr::into_shared_option`], sharing the string of `known` that is equal (`to` is
    /// usually the `type`, `redirectto` the `source`: one allocation less each).
    fn into_shared_like(self, known: &[&SharedStr]) -> Option<SharedStr> {
        match &self {
            RawStr::Str(s) => match known.iter().find(|k| k[..] == s[..]) {
                Some(k) => Some(SharedStr::clone(k)),
                None => self.into_shared_option(),
            },
            _ => self.into_shared_option(),
        }
    }
    fn into_shared(self) -> SharedStr {
        self.into_shared_option()
            .unwrap_or_else(|| SharedStr::from(""))
    }
}

/// Any JSON value, read as what a string/number/data field needs.
pub(super) enum RawAny<'a> {
    Null,
    Str(Cow<'a, str>),
    /// A string, for a seed that asked for a shared one.
    Shared(SharedStr),
    Num(f64),
    Bool(bool),
    Object(Map<String, Value>),
    /// An array or (when not kept) an object; its zod type name.
    Other(&'static str),
}

struct RawAnyVisitor {
    keep_object: bool,
    shared: bool,
}

impl<'de> Visitor<'de> for RawAnyVisitor {
    type Value = RawAny<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<RawAny<'de>, E> {
        Ok(RawAny::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<RawAny<'de>, E> {
        Ok(RawAny::Num(v as f64))
    }
    fn visit_u64<E>(self, v: u64) -> Result<RawAny<'de>, E> {
        Ok(RawAny::Num(v as f64))
    }
    fn visit_f64<E>(self, v: f64) -> Result<RawAny<'de>, E> {
        Ok(RawAny::Num(v))
    }
    /// A string without escapes: borrowed, whatever the field (the event copies it once).
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<RawAny<'de>, E> {
        Ok(RawAny::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<RawAny<'de>, E> {
        Ok(if self.shared {
            RawAny::Shared(SharedStr::from(v))
        } else {
            RawAny::Str(Cow::Owned(v.to_owned()))
        })
    }
    fn visit_string<E>(self, v: String) -> Result<RawAny<'de>, E> {
        Ok(if self.shared {
            RawAny::Shared(SharedStr::from(v))
        } else {
            RawAny::Str(Cow::Owned(v))
        })
    }
    fn visit_unit<E>(self) -> Result<RawAny<'de>, E> {
        Ok(RawAny::Null)
    }
    fn visit_none<E>(self) -> Result<RawAny<'de>, E> {
        Ok(RawAny::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawAny<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(RawAny::Other("array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawAny<'de>, A::Error> {
        if !self.keep_object {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(RawAny::Other("object"));
        }
        let mut m = Map::with_capacity(map.size_hint().unwrap_or(0));
        while let Some((k, v)) = map.next_entry::<String, Value>()? {
            m.insert(k, v);
        }
        Ok(RawAny::Object(m))
    }
}

#[derive(Clone, Copy)]
struct RawAnySeed {
    keep_object: bool,
    /// Read a string as a [`SharedStr`].
    shared: bool,
}

impl<'de> DeserializeSeed<'de> for RawAnySeed {
    type Value = RawAny<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<RawAny<'de>, D::Error> {
        d.deserialize_any(RawAnyVisitor {
            keep_object: self.keep_object,
            shared: self.shared,
        })
    }
}

impl<'a> RawAny<'a> {
    fn type_name(&self) -> &'static str {
        match self {
            RawAny::Null => "null",
            RawAny::Str(_) | RawAny::Shared(_) => "string",
            RawAny::Num(n) if n.is_nan() => "nan",
            RawAny::Num(_) => "number",
            RawAny::Bool(_) => "boolean",
            RawAny::Object(_) => "object",
            RawAny::Other(t) => t,
        }
    }
    fn into_str(self) -> RawStr<'a> {
        match self {
            RawAny::Null => RawStr::Null,
            RawAny::Str(s) => RawStr::Str(s),
            RawAny::Shared(s) => RawStr::Shared(s),
            other => RawStr::Wrong(other.type_name()),
        }
    }
}

/// The top-level keys the reader knows.
pub(super) enum Key {
    Id,
    Source,
    SpecVersion,
    Type,
    Subject,
    DataContentType,
    DataSchema,
    Data,
    Time,
    To,
    AccessControl,
    RedirectTo,
    ExecutionUnits,
    TraceParent,
    TraceState,
    ParentId,
    Domain,
    /// A valid extension name.
    Extension(String),
    /// Any other key: dropped, as the reference drops unknown keys.
    Ignored,
}

impl Key {
    pub(super) fn of(s: &str) -> Key {
        match s {
            "id" => Key::Id,
            "source" => Key::Source,
            "specversion" => Key::SpecVersion,
            "type" => Key::Type,
            "subject" => Key::Subject,
            "datacontenttype" => Key::DataContentType,
            "dataschema" => Key::DataSchema,
            "data" => Key::Data,
            "time" => Key::Time,
            "to" => Key::To,
            "accesscontrol" => Key::AccessControl,
            "redirectto" => Key::RedirectTo,
            "executionunits" => Key::ExecutionUnits,
            "traceparent" => Key::TraceParent,
            "tracestate" => Key::TraceState,
            "parentid" => Key::ParentId,
            "domain" => Key::Domain,
            s if arvo_rules::is_extension_name(s) => Key::Extension(s.to_owned()),
            _ => Key::Ignored,
        }
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an attribute name")
            }
            fn visit_str<E>(self, v: &str) -> Result<Key, E> {
                Ok(Key::of(v))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// An event as read, before validation.
#[derive(Default)]
pub(super) struct RawEvent<'a> {
    pub(super) id: RawStr<'a>,
    pub(super) source: RawStr<'a>,
    pub(super) specversion: RawStr<'a>,
    pub(super) event_type: RawStr<'a>,
    pub(super) subject: RawStr<'a>,
    pub(super) datacontenttype: RawStr<'a>,
    pub(super) dataschema: RawStr<'a>,
    pub(super) data: Option<RawAny<'a>>,
    /// `data` is known to nest at most [`MAX_DATA_DEPTH`](crate::event::MAX_DATA_DEPTH) deep:
    /// the fast reader checked its text before parsing it, so validation need not walk it again.
    pub(super) data_within_depth: bool,
    pub(super) time: RawStr<'a>,
    pub(super) to: RawStr<'a>,
    pub(super) accesscontrol: RawStr<'a>,
    pub(super) redirectto: RawStr<'a>,
    pub(super) executionunits: Option<RawAny<'a>>,
    pub(super) traceparent: RawStr<'a>,
    pub(super) tracestate: RawStr<'a>,
    pub(super) parentid: RawStr<'a>,
    pub(super) domain: RawStr<'a>,
    pub(super) extensions: Extensions,
}

impl<'de> Deserialize<'de> for RawEvent<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RawEvent<'de>, D::Error> {
        struct EventVisitor;
        impl<'de> Visitor<'de> for EventVisitor {
            type Value = RawEvent<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an ArvoEvent JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawEvent<'de>, A::Error> {
                let mut e = RawEvent::default();
                let scalar = RawAnySeed {
                    keep_object: false,
                    shared: false,
                };
                // Duplicate keys: the last value wins, as in JSON.parse.
                while let Some(key) = map.next_key::<Key>()? {
                    // The attributes an event keeps as shared strings are read as such.
                    let (slot, shared) = match key {
                        Key::Id => (&mut e.id, true),
                        Key::Source => (&mut e.source, true),
                        Key::SpecVersion => (&mut e.specversion, false),
                        Key::Type => (&mut e.event_type, true),
                        Key::Subject => (&mut e.subject, true),
                        Key::DataContentType => (&mut e.datacontenttype, false),
                        Key::DataSchema => (&mut e.dataschema, true),
                        Key::Time => (&mut e.time, false),
                        Key::To => (&mut e.to, true),
                        Key::AccessControl => (&mut e.accesscontrol, false),
                        Key::RedirectTo => (&mut e.redirectto, true),
                        Key::TraceParent => (&mut e.traceparent, false),
                        Key::TraceState => (&mut e.tracestate, false),
                        Key::ParentId => (&mut e.parentid, true),
                        Key::Domain => (&mut e.domain, false),
                        Key::Data => {
                            e.data = Some(map.next_value_seed(RawAnySeed {
                                keep_object: true,
                                shared: false,
                            })?);
                            continue;
                        }
                        Key::ExecutionUnits => {
                            e.executionunits = Some(map.next_value_seed(scalar)?);
                            continue;
                        }
                        Key::Extension(name) => {
                            let value = match map.next_value_seed(scalar)? {
                                RawAny::Null => Some(ExtensionValue::Null),
                                RawAny::Str(s) => Some(ExtensionValue::String(s.into_owned())),
                                RawAny::Shared(s) => {
                                    Some(ExtensionValue::String(String::from(&*s)))
                                }
                                RawAny::Num(n) => Some(ExtensionValue::Number(n)),
                                RawAny::Bool(b) => Some(ExtensionValue::Bool(b)),
                                RawAny::Object(_) | RawAny::Other(_) => None,
                            };
                            if let Some(value) = value {
                                e.extensions.insert(name, value);
                            }
                            continue;
                        }
                        Key::Ignored => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    *slot = map
                        .next_value_seed(RawAnySeed {
                            keep_object: false,
                            shared,
                        })?
                        .into_str();
                }
                Ok(e)
            }
        }
        d.deserialize_map(EventVisitor)
    }
}

impl RawEvent<'_> {
    pub(super) fn into_event(self) -> Result<ArvoEvent, EventError> {
        let data = match &self.data {
            None => DataField::Missing,
            Some(RawAny::Object(_)) if self.data_within_depth => DataField::Object,
            Some(RawAny::Object(m)) => DataField::object(m),
            Some(other) => DataField::Wrong(other.type_name()),
        };
        let executionunits = match &self.executionunits {
            None => NumField::Missing,
            Some(RawAny::Null) => NumField::Null,
            Some(RawAny::Num(n)) => NumField::Num(*n),
            Some(other) => NumField::Wrong(other.type_name()),
        };
        let c = Check {
            id: self.id.field(),
            time: self.time.field(),
            source: self.source.field(),
            specversion: self.specversion.field(),
            event_type: self.event_type.field(),
            subject: self.subject.field(),
            datacontenttype: self.datacontenttype.field(),
            dataschema: self.dataschema.field(),
            data,
            to: self.to.field(),
            accesscontrol: self.accesscontrol.field(),
            redirectto: self.redirectto.field(),
            executionunits,
            parentid: self.parentid.field(),
            domain: self.domain.field(),
            traceparent: self.traceparent.field(),
            tracestate: self.tracestate.field(),
        };
        check(
            &c,
            self.extensions.iter().map(|(k, v)| (k, ExtRef::Value(v))),
        )?;
        let Some(RawAny::Object(data)) = self.data else {
            return Err(EventError::Validation(crate::issue::Issues::default()));
        };
        let datacontenttype = match self.datacontenttype {
            RawStr::Str(s) if s == ARVO_DATA_CONTENT_TYPE => Cow::Borrowed(ARVO_DATA_CONTENT_TYPE),
            RawStr::Str(s) => intern_content_type(Cow::Owned(s.into_owned())),
            _ => Cow::Borrowed(ARVO_DATA_CONTENT_TYPE),
        };
        let source = self.source.into_shared();
        let event_type = self.event_type.into_shared();
        let to = self.to.into_shared_like(&[&event_type, &source]);
        let redirectto = self.redirectto.into_shared_like(&[&source, &event_type]);
        Ok(ArvoEvent::from(EventInner {
            id: self.id.into_shared(),
            source,
            event_type,
            subject: self.subject.into_shared(),
            datacontenttype,
            dataschema: self.dataschema.into_shared_option(),
            data: Value::Object(data),
            time: self.time.into_string(),
            extensions: self.extensions,
            to,
            accesscontrol: self.accesscontrol.into_option(),
            redirectto,
            executionunits: match self.executionunits {
                Some(RawAny::Num(n)) => Some(n),
                _ => None,
            },
            traceparent: self.traceparent.into_option(),
            tracestate: self.tracestate.into_option(),
            parentid: self.parentid.into_shared_option(),
            domain: self.domain.into_option(),
        }))
    }
}
