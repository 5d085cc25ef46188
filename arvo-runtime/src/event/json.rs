//! The wire form: the reference's `toString()` byte for byte, and a fast, validating reader.

use super::builder::intern_content_type;
use super::validate::{Check, DataField, ExtRef, Field, NumField, check};
use super::{
    ArvoEvent, EventError, EventInner, ExtensionValue, Extensions, SPEC_VERSION, SharedStr,
};
use arvo_rules::ARVO_DATA_CONTENT_TYPE;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::ser::{CompactFormatter, Formatter};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::{fmt, io};

/// 2^53: integers up to this magnitude print the same in JavaScript and Rust.
const MAX_SAFE: f64 = 9_007_199_254_740_992.0;
const MAX_SAFE_INT: u64 = 1 << 53;

/// A `serde_json` formatter that writes numbers as JavaScript's `JSON.stringify` does:
/// shortest round-trip digits with JavaScript's exponent rules (`1e+21`, `1e-7`), `-0` as
/// `0`, integers beyond 2^53 rounded to the nearest double first, non-finite numbers as
/// `null`. Everything else is compact, like [`CompactFormatter`].
///
/// ```
/// use arvo_runtime::event::JsFormatter;
/// let mut out = Vec::new();
/// let mut ser = serde_json::Serializer::with_formatter(&mut out, JsFormatter);
/// serde::Serialize::serialize(&serde_json::json!([1e21, 1e-7, 5.0, -0.0, 9007199254740993u64]), &mut ser).unwrap();
/// assert_eq!(String::from_utf8(out).unwrap(), "[1e+21,1e-7,5,0,9007199254740992]");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct JsFormatter;

impl Formatter for JsFormatter {
    fn write_f64<W: ?Sized + io::Write>(&mut self, w: &mut W, v: f64) -> io::Result<()> {
        if !v.is_finite() {
            return w.write_all(b"null");
        }
        if v == 0.0 {
            return w.write_all(b"0");
        }
        // Integral values within 2^53 print as their integer digits in JavaScript (no
        // exponent below 1e21), which is what the integer formatter writes, faster.
        if v.fract() == 0.0 && v.abs() <= MAX_SAFE {
            return CompactFormatter.write_i64(w, v as i64);
        }
        w.write_all(ryu_js::Buffer::new().format_finite(v).as_bytes())
    }

    fn write_f32<W: ?Sized + io::Write>(&mut self, w: &mut W, v: f32) -> io::Result<()> {
        self.write_f64(w, f64::from(v))
    }

    fn write_u64<W: ?Sized + io::Write>(&mut self, w: &mut W, v: u64) -> io::Result<()> {
        if v <= MAX_SAFE_INT {
            CompactFormatter.write_u64(w, v)
        } else {
            self.write_f64(w, v as f64)
        }
    }

    fn write_i64<W: ?Sized + io::Write>(&mut self, w: &mut W, v: i64) -> io::Result<()> {
        if v.unsigned_abs() <= MAX_SAFE_INT {
            CompactFormatter.write_i64(w, v)
        } else {
            self.write_f64(w, v as f64)
        }
    }

    fn write_u128<W: ?Sized + io::Write>(&mut self, w: &mut W, v: u128) -> io::Result<()> {
        self.write_f64(w, v as f64)
    }

    fn write_i128<W: ?Sized + io::Write>(&mut self, w: &mut W, v: i128) -> io::Result<()> {
        self.write_f64(w, v as f64)
    }
}

/// Whether a byte must be escaped in a JSON string (serde_json escapes exactly these).
#[inline]
fn must_escape(b: u8) -> bool {
    (b < 0x20) | (b == b'"') | (b == b'\\')
}

/// Whether any of `N` bytes must be escaped (branch-free: the compiler vectorises it).
#[inline]
fn any_escape<const N: usize>(block: &[u8; N]) -> bool {
    let mut m = 0u8;
    for &b in block {
        m |= u8::from(must_escape(b));
    }
    m != 0
}

/// Whether any byte of `s` must be escaped: 16-byte blocks, then one block overlapping the
/// end (most attributes are short: ids, times, types).
fn needs_escape(s: &[u8]) -> bool {
    if let Some(tail) = s.last_chunk::<16>() {
        let (blocks, _) = s.as_chunks::<16>();
        blocks.iter().any(any_escape) || any_escape(tail)
    } else if let (Some(head), Some(tail)) = (s.first_chunk::<8>(), s.last_chunk::<8>()) {
        any_escape(head) || any_escape(tail)
    } else {
        s.iter().any(|&b| must_escape(b))
    }
}

/// Appends `s` as a JSON string, escaped exactly as serde_json escapes it.
fn write_str(out: &mut Vec<u8>, s: &str) {
    if needs_escape(s.as_bytes()) {
        // Writing a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    } else {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

fn write_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => write_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// Appends a number as JavaScript's `JSON.stringify` writes it (as [`JsNumber`] with
/// [`JsFormatter`] does).
fn write_number(out: &mut Vec<u8>, n: f64) {
    // Writing into a Vec cannot fail.
    let _ = JsFormatter.write_f64(out, n);
}

/// Appends `"key":value` for a custom extension.
fn write_extension(out: &mut Vec<u8>, k: &str, v: &ExtensionValue) {
    write_str(out, k);
    out.push(b':');
    match v {
        ExtensionValue::String(v) => write_str(out, v),
        ExtensionValue::Number(n) => write_number(out, *n),
        ExtensionValue::Bool(true) => out.extend_from_slice(b"true"),
        ExtensionValue::Bool(false) => out.extend_from_slice(b"false"),
        ExtensionValue::Null => out.extend_from_slice(b"null"),
    }
}

/// A JavaScript number as JSON: integral values within 2^53 become JSON integers (as
/// JavaScript prints them), non-finite ones `null`.
pub(crate) fn js_number_value(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() <= MAX_SAFE {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

/// The array index a key denotes in JavaScript: a canonical decimal (`"0"`, `"42"`, not
/// `"01"`) below 2^32 - 1. JavaScript lists such keys of an object first, in ascending order.
pub(crate) fn js_array_index(k: &str) -> Option<u32> {
    let b = k.as_bytes();
    if b.is_empty()
        || b.len() > 10
        || !b.iter().all(u8::is_ascii_digit)
        || (b.len() > 1 && b[0] == b'0')
    {
        return None;
    }
    k.parse::<u32>().ok().filter(|i| *i != u32::MAX)
}

/// Array-index entries: the index, the key, the value.
type IndexEntries<'a, V> = Vec<(u32, &'a str, V)>;

/// The array-index entries of `entries`, in ascending index order (empty, without
/// allocating, when no key starts with a digit: the usual case).
fn index_entries<'a, V, I>(entries: I) -> IndexEntries<'a, V>
where
    I: Iterator<Item = (&'a str, V)> + Clone,
{
    if !entries
        .clone()
        .any(|(k, _)| k.as_bytes().first().is_some_and(u8::is_ascii_digit))
    {
        return Vec::new();
    }
    let mut indices: Vec<(u32, &'a str, V)> = entries
        .filter_map(|(k, v)| js_array_index(k).map(|i| (i, k, v)))
        .collect();
    indices.sort_unstable_by_key(|(i, _, _)| *i);
    indices
}

/// Object entries split as JavaScript lists them: the array-index keys in ascending order,
/// then (the iterator) the other keys in insertion order. Linear in the number of keys
/// (plus sorting the array-index ones).
pub(crate) fn js_key_split<'a, V, I>(
    entries: I,
) -> (IndexEntries<'a, V>, impl Iterator<Item = (&'a str, V)>)
where
    I: Iterator<Item = (&'a str, V)> + Clone,
{
    let indices = index_entries(entries.clone());
    let any = !indices.is_empty();
    let rest = entries.filter(move |(k, _)| !any || js_array_index(k).is_none());
    (indices, rest)
}

/// Object entries in the order JavaScript lists them (see [`js_key_split`]).
pub(crate) fn js_key_order<'a, V, I>(entries: I) -> impl Iterator<Item = (&'a str, V)>
where
    I: Iterator<Item = (&'a str, V)> + Clone,
{
    let (indices, rest) = js_key_split(entries);
    indices.into_iter().map(|(_, k, v)| (k, v)).chain(rest)
}

/// A JSON value that serialises with its objects' keys in JavaScript's order (array-index
/// keys first, ascending), as `JSON.stringify` of the parsed value writes them.
pub(crate) struct JsOrdered<'a>(pub &'a Value);

impl Serialize for JsOrdered<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => {
                let mut m = s.serialize_map(Some(map.len()))?;
                for (k, v) in js_key_order(map.iter().map(|(k, v)| (k.as_str(), v))) {
                    m.serialize_entry(k, &JsOrdered(v))?;
                }
                m.end()
            }
            Value::Array(items) => {
                use serde::ser::SerializeSeq;
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    seq.serialize_element(&JsOrdered(v))?;
                }
                seq.end()
            }
            other => other.serialize(s),
        }
    }
}

/// `v` ready to serialise as `JSON.stringify` writes it: JavaScript's key order, and numbers
/// as JavaScript prints them (integral values as integers, whatever the serializer).
pub(crate) fn js_ordered(v: &Value) -> JsOrderedNumbers<'_> {
    JsOrderedNumbers(v)
}

/// See [`js_ordered`].
pub(crate) struct JsOrderedNumbers<'a>(&'a Value);

impl Serialize for JsOrderedNumbers<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => {
                let mut m = s.serialize_map(Some(map.len()))?;
                for (k, v) in js_key_order(map.iter().map(|(k, v)| (k.as_str(), v))) {
                    m.serialize_entry(k, &JsOrderedNumbers(v))?;
                }
                m.end()
            }
            Value::Array(items) => {
                use serde::ser::SerializeSeq;
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    seq.serialize_element(&JsOrderedNumbers(v))?;
                }
                seq.end()
            }
            Value::Number(n) => match n.as_f64() {
                Some(f) if n.is_f64() => JsNumber(f).serialize(s),
                _ => n.serialize(s),
            },
            other => other.serialize(s),
        }
    }
}

/// A number as JavaScript's `String(n)` writes it (`5`, `0.1`, `1e+21`).
pub(crate) fn js_number_string(n: f64) -> String {
    let mut out = Vec::new();
    write_number(&mut out, n);
    String::from_utf8(out).unwrap_or_default()
}

/// A copy of `v` with its objects' keys in JavaScript's order (see [`JsOrdered`]).
pub(crate) fn js_ordered_value(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            js_key_order(map.iter().map(|(k, v)| (k.as_str(), v)))
                .map(|(k, v)| (k.to_owned(), js_ordered_value(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(js_ordered_value).collect()),
        other => other.clone(),
    }
}

/// Serialises an `f64` so that any serializer prints it like JavaScript where it can: integral
/// values within 2^53 as integers, non-finite ones as null.
pub(crate) struct JsNumber(pub f64);

impl Serialize for JsNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let n = self.0;
        if !n.is_finite() {
            s.serialize_unit()
        } else if n.fract() == 0.0 && n.abs() <= MAX_SAFE {
            s.serialize_i64(n as i64)
        } else {
            s.serialize_f64(n)
        }
    }
}

impl Serialize for ExtensionValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ExtensionValue::String(v) => s.serialize_str(v),
            ExtensionValue::Number(n) => JsNumber(*n).serialize(s),
            ExtensionValue::Bool(b) => s.serialize_bool(*b),
            ExtensionValue::Null => s.serialize_unit(),
        }
    }
}

impl Serialize for Extensions {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.len()))?;
        for (k, v) in self.js_order() {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// The reference's `toJSON()` shape and key order. With [`JsFormatter`] (as
/// [`ArvoEvent::to_json_string`] uses) the bytes equal the reference's `toString()`; other
/// serializers print `data`'s non-integral numbers their own way.
///
/// As in any JavaScript object, keys that are array indices come first in ascending order:
/// an extension named `42` before `id`, and `data`'s (nested) keys likewise.
impl Serialize for ArvoEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(17 + self.inner.extensions.len()))?;
        let (indices, rest) = js_key_split(self.inner.extensions.iter());
        for (_, k, v) in indices {
            m.serialize_entry(k, v)?;
        }
        self.serialize_default(&mut m)?;
        for (k, v) in rest {
            m.serialize_entry(k, v)?;
        }
        self.serialize_arvo_extensions(&mut m)?;
        m.end()
    }
}

impl ArvoEvent {
    pub(crate) fn serialize_default<M: SerializeMap>(&self, m: &mut M) -> Result<(), M::Error> {
        m.serialize_entry("id", &self.inner.id)?;
        m.serialize_entry("source", &self.inner.source)?;
        m.serialize_entry("specversion", SPEC_VERSION)?;
        m.serialize_entry("type", &self.inner.event_type)?;
        m.serialize_entry("subject", &self.inner.subject)?;
        m.serialize_entry("datacontenttype", &*self.inner.datacontenttype)?;
        m.serialize_entry("dataschema", &self.inner.dataschema)?;
        m.serialize_entry("data", &JsOrdered(&self.inner.data))?;
        m.serialize_entry("time", &self.inner.time)
    }

    pub(crate) fn serialize_arvo_extensions<M: SerializeMap>(
        &self,
        m: &mut M,
    ) -> Result<(), M::Error> {
        m.serialize_entry("to", &self.inner.to)?;
        m.serialize_entry("accesscontrol", &self.inner.accesscontrol)?;
        m.serialize_entry("redirectto", &self.inner.redirectto)?;
        m.serialize_entry("executionunits", &self.inner.executionunits.map(JsNumber))?;
        m.serialize_entry("traceparent", &self.inner.traceparent)?;
        m.serialize_entry("tracestate", &self.inner.tracestate)?;
        m.serialize_entry("parentid", &self.inner.parentid)?;
        m.serialize_entry("domain", &self.inner.domain)
    }

    /// Appends the event's JSON (exactly the reference's `toString()`) to `out`, for callers
    /// that reuse a buffer.
    ///
    /// The same bytes as serialising the event with [`JsFormatter`], written directly: the
    /// attributes are mostly URIs and ids with nothing to escape, which are copied in one go.
    /// Keys are in JavaScript's order: an extension named like an array index (`42`) comes
    /// first, and `data`'s array-index keys come first in each of its objects.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.reserve(320 + self.inner.subject.len() + 32 * self.data().len());
        let (indices, rest) = js_key_split(self.inner.extensions.iter());
        out.push(b'{');
        for (_, k, v) in indices {
            write_extension(out, k, v);
            out.push(b',');
        }
        out.extend_from_slice(b"\"id\":");
        write_str(out, &self.inner.id);
        out.extend_from_slice(b",\"source\":");
        write_str(out, &self.inner.source);
        out.extend_from_slice(b",\"specversion\":\"1.0\",\"type\":");
        write_str(out, &self.inner.event_type);
        out.extend_from_slice(b",\"subject\":");
        write_str(out, &self.inner.subject);
        out.extend_from_slice(b",\"datacontenttype\":");
        write_str(out, &self.inner.datacontenttype);
        out.extend_from_slice(b",\"dataschema\":");
        write_opt_str(out, self.inner.dataschema.as_deref());
        out.extend_from_slice(b",\"data\":");
        let mut ser = serde_json::Serializer::with_formatter(&mut *out, JsFormatter);
        // Writing a map of JSON values into a Vec cannot fail: keys are strings and the
        // formatter writes non-finite numbers as null.
        let _ = JsOrdered(&self.inner.data).serialize(&mut ser);
        out.extend_from_slice(b",\"time\":");
        write_str(out, &self.inner.time);
        for (k, v) in rest {
            out.push(b',');
            write_extension(out, k, v);
        }
        out.extend_from_slice(b",\"to\":");
        write_opt_str(out, self.inner.to.as_deref());
        out.extend_from_slice(b",\"accesscontrol\":");
        write_opt_str(out, self.inner.accesscontrol.as_deref());
        out.extend_from_slice(b",\"redirectto\":");
        write_opt_str(out, self.inner.redirectto.as_deref());
        out.extend_from_slice(b",\"executionunits\":");
        match self.inner.executionunits {
            Some(n) => write_number(out, n),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"traceparent\":");
        write_opt_str(out, self.inner.traceparent.as_deref());
        out.extend_from_slice(b",\"tracestate\":");
        write_opt_str(out, self.inner.tracestate.as_deref());
        out.extend_from_slice(b",\"parentid\":");
        write_opt_str(out, self.inner.parentid.as_deref());
        out.extend_from_slice(b",\"domain\":");
        write_opt_str(out, self.inner.domain.as_deref());
        out.push(b'}');
    }

    /// The event's JSON, byte for byte the reference's `toString()`.
    ///
    /// ```
    /// # use arvo_runtime::event::ArvoEvent;
    /// let text = r#"{"id":"e1","source":"s","specversion":"1.0","type":"a.b.c","subject":"x","datacontenttype":"application/cloudevents+json;charset=UTF-8;profile=arvo","dataschema":null,"data":{"n":1e21},"time":"2024-01-01T00:00:00Z","to":"a.b.c","accesscontrol":null,"redirectto":null,"executionunits":null,"traceparent":null,"tracestate":null,"parentid":null,"domain":null}"#;
    /// let e = ArvoEvent::from_json_str(text)?;
    /// assert_eq!(e.to_json_string(), text.replace("1e21", "1e+21"));
    /// # Ok::<(), arvo_runtime::event::EventError>(())
    /// ```
    pub fn to_json_string(&self) -> String {
        let mut out = Vec::with_capacity(640 + 64 * self.data().len());
        self.write_json(&mut out);
        // serde_json writes valid UTF-8.
        String::from_utf8(out).unwrap_or_default()
    }

    /// The event as a JSON value (the reference's `toJSON()`), keys in JavaScript's order (see
    /// [`ArvoEvent::write_json`]).
    pub fn to_json_value(&self) -> Value {
        let mut m = Map::with_capacity(17 + self.inner.extensions.len());
        let (indices, rest) = js_key_split(self.inner.extensions.iter());
        for (_, k, v) in indices {
            m.insert(k.to_owned(), v.to_json_value());
        }
        let s = |v: &str| Value::String(v.to_owned());
        fn o<S: std::ops::Deref<Target = str>>(v: &Option<S>) -> Value {
            v.as_deref()
                .map_or(Value::Null, |v| Value::String(v.to_owned()))
        }
        m.insert("id".into(), s(&self.inner.id));
        m.insert("source".into(), s(&self.inner.source));
        m.insert("specversion".into(), s(SPEC_VERSION));
        m.insert("type".into(), s(&self.inner.event_type));
        m.insert("subject".into(), s(&self.inner.subject));
        m.insert("datacontenttype".into(), s(&self.inner.datacontenttype));
        m.insert("dataschema".into(), o(&self.inner.dataschema));
        m.insert("data".into(), js_ordered_value(&self.inner.data));
        m.insert("time".into(), s(&self.inner.time));
        for (k, v) in rest {
            m.insert(k.to_owned(), v.to_json_value());
        }
        m.insert("to".into(), o(&self.inner.to));
        m.insert("accesscontrol".into(), o(&self.inner.accesscontrol));
        m.insert("redirectto".into(), o(&self.inner.redirectto));
        m.insert(
            "executionunits".into(),
            self.inner
                .executionunits
                .map_or(Value::Null, js_number_value),
        );
        m.insert("traceparent".into(), o(&self.inner.traceparent));
        m.insert("tracestate".into(), o(&self.inner.tracestate));
        m.insert("parentid".into(), o(&self.inner.parentid));
        m.insert("domain".into(), o(&self.inner.domain));
        Value::Object(m)
    }

    /// Parses and validates an event from its JSON text.
    ///
    /// Validation is the reference constructor's (see [`ArvoEvent::from_parts`]); reading is
    /// tolerant of missing nullable attributes and keeps unknown extension-named keys as custom
    /// extensions (see the [module docs](super)).
    ///
    /// # Errors
    /// [`EventError::Json`] for malformed JSON or a non-object; otherwise as
    /// [`ArvoEvent::from_parts`].
    pub fn from_json_str(s: &str) -> Result<ArvoEvent, EventError> {
        serde_json::from_str::<RawEvent>(s)?.into_event()
    }

    /// [`ArvoEvent::from_json_str`] for bytes.
    ///
    /// # Errors
    /// As [`ArvoEvent::from_json_str`].
    pub fn from_json_slice(b: &[u8]) -> Result<ArvoEvent, EventError> {
        serde_json::from_slice::<RawEvent>(b)?.into_event()
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

/// A string attribute as read.
#[derive(Default)]
enum RawStr {
    #[default]
    Missing,
    Null,
    Str(String),
    /// A string read straight into a shared string (the attributes [`EventInner`] shares).
    Shared(SharedStr),
    Wrong(&'static str),
}

impl RawStr {
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
            RawStr::Str(s) => Some(s),
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
            RawStr::Str(s) => Some(SharedStr::from(s)),
            _ => None,
        }
    }
    fn into_shared(self) -> SharedStr {
        self.into_shared_option()
            .unwrap_or_else(|| SharedStr::from(""))
    }
}

/// Any JSON value, read as what a string/number/data field needs.
enum RawAny {
    Null,
    Str(String),
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
    type Value = RawAny;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<RawAny, E> {
        Ok(RawAny::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<RawAny, E> {
        Ok(RawAny::Num(v as f64))
    }
    fn visit_u64<E>(self, v: u64) -> Result<RawAny, E> {
        Ok(RawAny::Num(v as f64))
    }
    fn visit_f64<E>(self, v: f64) -> Result<RawAny, E> {
        Ok(RawAny::Num(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<RawAny, E> {
        Ok(if self.shared {
            RawAny::Shared(SharedStr::from(v))
        } else {
            RawAny::Str(v.to_owned())
        })
    }
    fn visit_string<E>(self, v: String) -> Result<RawAny, E> {
        Ok(if self.shared {
            RawAny::Shared(SharedStr::from(v))
        } else {
            RawAny::Str(v)
        })
    }
    fn visit_unit<E>(self) -> Result<RawAny, E> {
        Ok(RawAny::Null)
    }
    fn visit_none<E>(self) -> Result<RawAny, E> {
        Ok(RawAny::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawAny, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(RawAny::Other("array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawAny, A::Error> {
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
    type Value = RawAny;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<RawAny, D::Error> {
        d.deserialize_any(RawAnyVisitor {
            keep_object: self.keep_object,
            shared: self.shared,
        })
    }
}

impl RawAny {
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
    fn into_str(self) -> RawStr {
        match self {
            RawAny::Null => RawStr::Null,
            RawAny::Str(s) => RawStr::Str(s),
            RawAny::Shared(s) => RawStr::Shared(s),
            other => RawStr::Wrong(other.type_name()),
        }
    }
}

/// The top-level keys the reader knows.
enum Key {
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
    fn of(s: &str) -> Key {
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
struct RawEvent {
    id: RawStr,
    source: RawStr,
    specversion: RawStr,
    event_type: RawStr,
    subject: RawStr,
    datacontenttype: RawStr,
    dataschema: RawStr,
    data: Option<RawAny>,
    time: RawStr,
    to: RawStr,
    accesscontrol: RawStr,
    redirectto: RawStr,
    executionunits: Option<RawAny>,
    traceparent: RawStr,
    tracestate: RawStr,
    parentid: RawStr,
    domain: RawStr,
    extensions: Extensions,
}

impl<'de> Deserialize<'de> for RawEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RawEvent, D::Error> {
        struct EventVisitor;
        impl<'de> Visitor<'de> for EventVisitor {
            type Value = RawEvent;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an ArvoEvent JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawEvent, A::Error> {
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
                                RawAny::Str(s) => Some(ExtensionValue::String(s)),
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

impl RawEvent {
    fn into_event(self) -> Result<ArvoEvent, EventError> {
        let data = match &self.data {
            None => DataField::Missing,
            Some(RawAny::Object(_)) => DataField::Object,
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
            RawStr::Str(s) => intern_content_type(Cow::Owned(s)),
            _ => Cow::Borrowed(ARVO_DATA_CONTENT_TYPE),
        };
        Ok(ArvoEvent::from(EventInner {
            id: self.id.into_shared(),
            source: self.source.into_shared(),
            event_type: self.event_type.into_shared(),
            subject: self.subject.into_shared(),
            datacontenttype,
            dataschema: self.dataschema.into_shared_option(),
            data: Value::Object(data),
            time: self.time.into_string(),
            extensions: self.extensions,
            to: self.to.into_shared_option(),
            accesscontrol: self.accesscontrol.into_option(),
            redirectto: self.redirectto.into_shared_option(),
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
