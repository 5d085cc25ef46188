//! JavaScript's JSON conventions: numbers as `JSON.stringify` prints them, object keys in
//! JavaScript's order.

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::Value;
use serde_json::ser::{CompactFormatter, Formatter};
use std::io;

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

/// Whether `a` and `b` are one value to JavaScript, which reads every JSON number as a double:
/// numbers are equal when they stand for the same double (`2` and `2.0`, `0` and `-0`, an
/// integer beyond 2^53 and the double it rounds to), objects when they hold the same keys with
/// equal values in any order (the writer lists array-index keys first), arrays element by
/// element. Values that are equal so write the same JSON ([`JsFormatter`]) up to key order,
/// which is what makes an event equal itself after a JSON round trip (see
/// [`ArvoEvent`](crate::event::ArvoEvent)).
pub(crate) fn js_value_eq(a: &Value, b: &Value) -> bool {
    // Without `arbitrary_precision`, `as_f64` is always `Some`: the double JavaScript reads.
    value_eq_with(a, b, &|x, y| x == y || x.as_f64() == y.as_f64())
}

/// Whether `a` and `b` hold the same value, numbers compared with `num_eq`: objects when they
/// hold the same keys with equal values in any order, arrays element by element, anything else
/// as `==`. The one walk behind the events' equality ([`js_value_eq`]) and the test DSL's.
pub(crate) fn value_eq_with(
    a: &Value,
    b: &Value,
    num_eq: &impl Fn(&serde_json::Number, &serde_json::Number) -> bool,
) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => num_eq(x, y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| value_eq_with(a, b, num_eq))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| value_eq_with(v, w, num_eq)))
        }
        _ => a == b,
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

/// Appends a number as JavaScript's `JSON.stringify` writes it (as [`JsNumber`] with
/// [`JsFormatter`] does).
pub(super) fn write_number(out: &mut Vec<u8>, n: f64) {
    // Writing into a Vec cannot fail.
    let _ = JsFormatter.write_f64(out, n);
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
