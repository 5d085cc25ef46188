//! A small `JSON.stringify(value)` / `JSON.stringify(value, null, 2)` writer.
//!
//! Subjects are compressed from the text JavaScript would write, so this writer follows it
//! where serde_json differs: object keys that are array indices (`"0"`, `"17"`) come first in
//! ascending order, as in any JavaScript object, and numbers are written as JavaScript numbers
//! (`1.0` -> `1`, `1e21` -> `1e+21`, integers beyond 2^53 rounded). String escaping is the same
//! in both.

use serde_json::Value;

/// A JSON tree to write: typed subject fields borrow their strings, unknown keys are
/// [`Value`]s.
pub(crate) enum Item<'a> {
    Str(&'a str),
    Null,
    Value(&'a Value),
    Object(Vec<(&'a str, Item<'a>)>),
}

/// The largest integer a JavaScript number holds exactly.
const MAX_SAFE: u64 = (1 << 53) - 1;

/// Writes `item` compactly (`indent == 0`) or pretty-printed with `indent` spaces.
pub(crate) fn write(item: &Item<'_>, indent: usize) -> String {
    let mut w = Writer {
        out: String::with_capacity(256),
        indent,
        depth: 0,
    };
    w.item(item);
    w.out
}

struct Writer {
    out: String,
    indent: usize,
    depth: usize,
}

impl Writer {
    fn item(&mut self, item: &Item<'_>) {
        match item {
            Item::Str(s) => self.string(s),
            Item::Null => self.out.push_str("null"),
            Item::Value(v) => self.value(v),
            Item::Object(entries) => self.object(entries.iter().map(|(k, v)| (*k, v)), Self::item),
        }
    }

    fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.out.push_str("null"),
            Value::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => self.number(n),
            Value::String(s) => self.string(s),
            Value::Array(items) => {
                if items.is_empty() {
                    self.out.push_str("[]");
                    return;
                }
                self.out.push('[');
                self.depth += 1;
                for (i, x) in items.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    self.newline();
                    self.value(x);
                }
                self.depth -= 1;
                self.newline();
                self.out.push(']');
            }
            Value::Object(map) => {
                self.object(map.iter().map(|(k, v)| (k.as_str(), v)), Self::value)
            }
        }
    }

    fn object<'v, T: 'v>(
        &mut self,
        entries: impl Iterator<Item = (&'v str, &'v T)> + Clone,
        mut write: impl FnMut(&mut Self, &T),
    ) {
        let mut first = true;
        self.out.push('{');
        self.depth += 1;
        let mut entry = |w: &mut Self, k: &str, v: &T| {
            if !std::mem::take(&mut first) {
                w.out.push(',');
            }
            w.newline();
            w.string(k);
            w.out.push(':');
            if w.indent > 0 {
                w.out.push(' ');
            }
            write(w, v);
        };
        // JavaScript objects list array-index keys first, in numeric order.
        let mut indices: Vec<(u32, &str, &T)> = entries
            .clone()
            .filter_map(|(k, v)| array_index(k).map(|i| (i, k, v)))
            .collect();
        indices.sort_unstable_by_key(|(i, _, _)| *i);
        for (_, k, v) in &indices {
            entry(self, k, v);
        }
        for (k, v) in entries.filter(|(k, _)| indices.is_empty() || array_index(k).is_none()) {
            entry(self, k, v);
        }
        self.depth -= 1;
        if !first {
            self.newline();
        }
        self.out.push('}');
    }

    fn newline(&mut self) {
        if self.indent > 0 {
            self.out.push('\n');
            self.out
                .extend(std::iter::repeat_n(' ', self.indent * self.depth));
        }
    }

    fn string(&mut self, s: &str) {
        // serde_json escapes exactly as JSON.stringify does for well-formed strings.
        let mut buf = Vec::with_capacity(s.len() + 2);
        if serde_json::to_writer(&mut buf, s).is_ok() {
            self.out.push_str(&String::from_utf8_lossy(&buf));
        }
    }

    fn number(&mut self, n: &serde_json::Number) {
        if let Some(u) = n.as_u64().filter(|u| *u <= MAX_SAFE) {
            self.out.push_str(itoa(u, false).as_str());
        } else if let Some(i) = n.as_i64().filter(|i| i.unsigned_abs() <= MAX_SAFE) {
            self.out.push_str(itoa(i.unsigned_abs(), i < 0).as_str());
        } else {
            let f = n.as_f64().unwrap_or(f64::NAN);
            // JSON.stringify writes non-finite numbers as null.
            if f.is_finite() {
                self.out.push_str(ryu_js::Buffer::new().format_finite(f));
            } else {
                self.out.push_str("null");
            }
        }
    }
}

fn itoa(u: u64, negative: bool) -> String {
    if negative {
        format!("-{u}")
    } else {
        u.to_string()
    }
}

use crate::event::js_array_index as array_index;

/// Makes every number in `v` what a JavaScript `JSON.parse` would hold: an `f64`, kept as an
/// integer when it is a safe integer. Writing and re-reading then gives the same value.
pub(crate) fn normalize_numbers(v: &mut Value) {
    match v {
        Value::Number(n) => {
            let safe_int = n.as_u64().is_some_and(|u| u <= MAX_SAFE)
                || n.as_i64().is_some_and(|i| i.unsigned_abs() <= MAX_SAFE);
            if !safe_int {
                let f = n.as_f64().unwrap_or(0.0);
                // -0.0 and integral floats within the safe range become integers.
                *n = if f.fract() == 0.0 && f.abs() <= MAX_SAFE as f64 {
                    serde_json::Number::from(f as i64)
                } else {
                    serde_json::Number::from_f64(f).unwrap_or_else(|| serde_json::Number::from(0))
                };
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize_numbers),
        Value::Object(map) => map.values_mut().for_each(normalize_numbers),
        Value::Null | Value::Bool(_) | Value::String(_) => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn like_json_stringify() {
        let v = json!({"b": 1.0, "10": "x", "a": [1, 2.5, null, true], "2": {}, "01": [], "n": -0.0, "big": 1e21});
        assert_eq!(
            write(&Item::Value(&v), 0),
            r#"{"2":{},"10":"x","b":1,"a":[1,2.5,null,true],"01":[],"n":0,"big":1e+21}"#
        );
        let v = json!({"a": {"b": [1, {}]}, "c": "\u{1}\n\"é"});
        assert_eq!(
            write(&Item::Value(&v), 2),
            "{\n  \"a\": {\n    \"b\": [\n      1,\n      {}\n    ]\n  },\n  \"c\": \"\\u0001\\n\\\"é\"\n}"
        );
        assert_eq!(
            write(&Item::Value(&json!(18446744073709551615u64)), 0),
            "18446744073709552000"
        );
    }

    #[test]
    fn normalizes_like_javascript() {
        let mut v = json!([1.0, -0.0, 2.5, 18446744073709551615u64, 9007199254740993u64]);
        normalize_numbers(&mut v);
        assert_eq!(
            v,
            json!([1, 0, 2.5, 18446744073709551615.0, 9007199254740992.0])
        );
    }
}
