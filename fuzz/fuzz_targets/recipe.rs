//! Schemas spelled out by fuzzer bytes (shared by the `docs_schema` and `payload_schema`
//! targets): up to 8 definitions that reference one another, with cycles and definitions used
//! many times over, which raw JSON from a fuzzer rarely spells; and payloads whose keys are the
//! recipes' field names, so that validation goes deep into such schemas. A target that
//! includes it (`#[path]`) includes `bytes.rs` as `bytes` too.
#![allow(dead_code)]

use crate::bytes::Bytes;
use serde_json::{Map, Value, json};

fn reference(defs: usize, b: usize) -> Value {
    json!({"$ref": format!("#/definitions/D{}", b % defs)})
}

/// A byte read as a number from -128 to 127.
fn signed(byte: usize) -> i64 {
    i64::try_from(byte).unwrap_or_default() - 128
}

fn leaf(b: &mut Bytes) -> Value {
    let kind = b.next();
    let mut leaf = match kind % 6 {
        0 => json!({"type": "string"}),
        1 => json!({"type": "integer", "minimum": signed(b.next())}),
        2 => json!({"type": "number", "maximum": -(signed(b.next()) as f64)}),
        3 => json!({"type": "boolean"}),
        4 => json!({"type": "null"}),
        _ => {
            let format = ["date-time", "uuid", "email", "uri", "ipv4"][b.next() % 5];
            json!({"type": "string", "format": format})
        }
    };
    if kind & 0x40 != 0 {
        leaf["minLength"] = json!(b.next());
        leaf["maxLength"] = json!(b.next());
    }
    if kind & 0x80 != 0 {
        leaf["description"] = json!("<b>&\"'");
    }
    leaf
}

pub fn recipe(data: &[u8]) -> Value {
    let mut b = Bytes(data);
    let defs = 1 + b.next() % 8;
    let mut definitions = Map::new();
    for d in 0..defs {
        let kind = b.next();
        let def = match kind % 7 {
            0 | 1 => {
                let mut props = Map::new();
                let mut required = Vec::new();
                for p in 0..1 + b.next() % 6 {
                    let field = b.next();
                    let value = match field % 4 {
                        0 => leaf(&mut b),
                        1 => json!({"anyOf": [reference(defs, b.next()), {"type": "null"}]}),
                        2 => {
                            json!({"type": "array", "items": reference(defs, b.next()), "minItems": b.next() % 4})
                        }
                        _ => reference(defs, b.next()),
                    };
                    let name = if field & 0x20 != 0 {
                        format!("f.{p}")
                    } else {
                        format!("f{p}")
                    };
                    if field & 0x80 != 0 {
                        required.push(Value::String(name.clone()));
                    }
                    props.insert(name, value);
                }
                json!({"type": "object", "properties": props, "required": required})
            }
            2 | 3 | 4 => {
                let key = ["anyOf", "oneOf", "allOf"][kind % 7 - 2];
                let alts: Vec<Value> = (0..1 + b.next() % 3)
                    .map(|_| reference(defs, b.next()))
                    .collect();
                json!({ key: alts })
            }
            5 => json!({"type": "array", "items": reference(defs, b.next())}),
            _ => leaf(&mut b),
        };
        definitions.insert(format!("D{d}"), def);
    }
    json!({"$ref": "#/definitions/D0", "definitions": definitions})
}

/// A payload from the bytes: nulls, booleans, numbers (some fractional, some huge), strings
/// (dates, ids, addresses, long or empty), arrays, and objects keyed by the recipes' field
/// names (`f0`..`f5`, `f.0`..`f.5`), at most 10 levels deep.
pub fn payload(b: &mut Bytes, depth: usize) -> Value {
    let kind = b.next();
    if depth >= 10 {
        return Value::Null;
    }
    match kind % 8 {
        0 => Value::Null,
        1 => Value::Bool(kind & 0x80 != 0),
        2 => json!(signed(b.next())),
        3 => match b.next() % 4 {
            0 => json!(0.5),
            1 => json!(1e300),
            2 => json!(-0.0),
            _ => json!(u64::MAX),
        },
        4 => {
            let s = match b.next() % 7 {
                0 => "2024-01-01T00:00:00Z".to_owned(),
                1 => "00000000-0000-4000-8000-000000000000".to_owned(),
                2 => "user@example.com".to_owned(),
                3 => "192.0.2.1".to_owned(),
                4 => String::new(),
                5 => "x".repeat(b.next()),
                _ => "string".to_owned(),
            };
            Value::String(s)
        }
        5 => Value::Array((0..b.next() % 4).map(|_| payload(b, depth + 1)).collect()),
        _ => {
            let mut m = Map::new();
            for _ in 0..b.next() % 5 {
                let key = b.next();
                let name = if key & 0x20 != 0 {
                    format!("f.{}", key % 6)
                } else {
                    format!("f{}", key % 6)
                };
                m.insert(name, payload(b, depth + 1));
            }
            Value::Object(m)
        }
    }
}
