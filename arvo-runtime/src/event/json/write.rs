//! Writing an event: the reference's `toString()` byte for byte, and its `toJSON()` value.

use super::js::{
    JsFormatter, JsNumber, JsOrdered, js_key_split, js_number_value, js_ordered_value, write_number,
};
use crate::event::{ArvoEvent, ExtensionValue, Extensions, SPEC_VERSION};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::{Map, Value};

/// Whether a byte must be escaped in a JSON string (serde_json escapes exactly these): the bytes
/// that end an escape-free string for the fast reader too.
#[inline]
pub(super) fn must_escape(b: u8) -> bool {
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

/// Appends `s`, which holds nothing to escape, as a JSON string.
///
/// For the attributes whose validation leaves nothing to escape, which every event passed
/// (see [`check`](crate::event::validate::check)): a URI (`validateURI` holds only for
/// `encodeURI`'s output characters and `%`), a `type` (lower-case letters, digits, dots), a
/// `time` (the datetime pattern) and a `domain` (lower-case letters, digits, dots). Their
/// bytes are copied without being searched.
fn write_plain(out: &mut Vec<u8>, s: &str) {
    debug_assert!(!needs_escape(s.as_bytes()), "{s:?}");
    out.reserve(s.len() + 2);
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
}

fn write_opt_plain(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => write_plain(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

fn write_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => write_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
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
        write_plain(out, &self.inner.source);
        out.extend_from_slice(b",\"specversion\":\"1.0\",\"type\":");
        write_plain(out, &self.inner.event_type);
        out.extend_from_slice(b",\"subject\":");
        write_plain(out, &self.inner.subject);
        out.extend_from_slice(b",\"datacontenttype\":");
        write_str(out, &self.inner.datacontenttype);
        out.extend_from_slice(b",\"dataschema\":");
        write_opt_plain(out, self.inner.dataschema.as_deref());
        out.extend_from_slice(b",\"data\":");
        let mut ser = serde_json::Serializer::with_formatter(&mut *out, JsFormatter);
        // Writing a map of JSON values into a Vec cannot fail: keys are strings and the
        // formatter writes non-finite numbers as null.
        let _ = JsOrdered(&self.inner.data).serialize(&mut ser);
        out.extend_from_slice(b",\"time\":");
        write_plain(out, &self.inner.time);
        for (k, v) in rest {
            out.push(b',');
            write_extension(out, k, v);
        }
        out.extend_from_slice(b",\"to\":");
        write_opt_plain(out, self.inner.to.as_deref());
        out.extend_from_slice(b",\"accesscontrol\":");
        write_opt_str(out, self.inner.accesscontrol.as_deref());
        out.extend_from_slice(b",\"redirectto\":");
        write_opt_plain(out, self.inner.redirectto.as_deref());
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
        write_opt_plain(out, self.inner.domain.as_deref());
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
}
