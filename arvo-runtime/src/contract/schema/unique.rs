//! `uniqueItems`, checked in linear time whatever the payload.
//!
//! The validator's own check hashes an array's items and compares those whose hashes agree.
//! Its hash writes an array's items one after the other with nothing between them, so every
//! bracketing of one sequence hashes alike (`[[0, 0], [0]]`, `[[0], [0, 0]]`, `[[0, [0, 0]]]`,
//! ...), and with fixed keys: a payload of distinct items that all hash alike makes the check
//! compare every pair. 16,000 such items (925 KB, under the 1 MiB event limit) took 1.3 s.
//!
//! Here an item's hash writes its kind and its length before what it holds, with keys drawn at
//! random for each process ([`RandomState`]), and two items are compared only where their
//! hashes agree, with the validator's own equality (`jsonschema::json::cmp::equal`: numbers by
//! their value, `1` and `1.0` are one number, as are `0` and `-0.0`; objects whatever their
//! keys' order). Values it calls equal hash alike.

use jsonschema::json::cmp::equal;
use jsonschema::{Keyword, ValidationError, paths::Location};
use serde_json::{Map, Number, Value};
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};

/// The `uniqueItems` keyword for [`jsonschema::ValidationOptions::with_keyword`]: `true` checks
/// that an array's items are distinct; `false` checks nothing, as the validator's own.
pub(super) fn keyword<'a>(
    _parent: &'a Map<String, Value>,
    value: &'a Value,
    _location: Location,
) -> Result<Box<dyn for<'i> Keyword<'i>>, ValidationError<'a>> {
    Ok(Box::new(UniqueItems {
        enabled: value.as_bool() == Some(true),
        hasher: RandomState::new(),
    }))
}

struct UniqueItems {
    enabled: bool,
    hasher: RandomState,
}

impl<'i> Keyword<'i> for UniqueItems {
    fn validate(&self, instance: &'i Value) -> Result<(), ValidationError<'i>> {
        if self.is_valid(instance) {
            Ok(())
        } else {
            // The validator's own message.
            Err(ValidationError::custom(format!(
                "{instance} has non-unique elements"
            )))
        }
    }

    fn is_valid(&self, instance: &'i Value) -> bool {
        match instance {
            Value::Array(items) if self.enabled => distinct(items, &self.hasher),
            _ => true,
        }
    }
}

/// `true` when no two of `items` are equal.
fn distinct(items: &[Value], keys: &RandomState) -> bool {
    if items.len() < 2 {
        return true;
    }
    // Each hash with the items that have it (almost always one).
    let mut seen: HashMap<u64, Vec<&Value>> = HashMap::with_capacity(items.len());
    for item in items {
        let mut h = keys.build_hasher();
        hash(item, keys, &mut h);
        let same = seen.entry(h.finish()).or_default();
        if same.iter().any(|other| equal(item, other)) {
            return false;
        }
        same.push(item);
    }
    true
}

/// A number as the validator compares it, for hashing: integers (and floats with an integral
/// value that fits) exactly, other floats by their bits, so numbers the validator calls equal
/// (it compares their values exactly) have one key.
#[derive(PartialEq, Eq, Hash)]
enum NumberKey {
    Integer(i128),
    Float(u64),
    /// A number no `f64` holds (only with serde_json's `arbitrary_precision`, which another
    /// crate of a build can enable): by its text, so such numbers do not all hash alike (the
    /// validator calls none of them equal to anything).
    Text(String),
}

fn number_key(n: &Number) -> NumberKey {
    if let Some(u) = n.as_u64() {
        return NumberKey::Integer(i128::from(u));
    }
    if let Some(i) = n.as_i64() {
        return NumberKey::Integer(i128::from(i));
    }
    let Some(f) = n.as_f64().filter(|f| f.is_finite()) else {
        return NumberKey::Text(n.to_string());
    };
    // 2^127: below it an integral float converts to i128 exactly (`-0.0` to `0`).
    const LIMIT: f64 = 1.7014118346046923e38;
    if f.fract() == 0.0 && f.abs() < LIMIT {
        #[allow(clippy::cast_possible_truncation)]
        NumberKey::Integer(f as i128)
    } else {
        NumberKey::Float(f.to_bits())
    }
}

/// Writes `value` into `h`: its kind, its length, then what it holds. An object's entries are
/// hashed each on its own and summed, so their order does not count.
fn hash(value: &Value, keys: &RandomState, h: &mut impl Hasher) {
    match value {
        Value::Null => h.write_u8(0),
        Value::Bool(b) => {
            h.write_u8(1);
            b.hash(h);
        }
        Value::Number(n) => {
            h.write_u8(2);
            number_key(n).hash(h);
        }
        Value::String(s) => {
            h.write_u8(3);
            s.hash(h);
        }
        Value::Array(items) => {
            h.write_u8(4);
            h.write_usize(items.len());
            for item in items {
                hash(item, keys, h);
            }
        }
        Value::Object(map) => {
            h.write_u8(5);
            h.write_usize(map.len());
            let mut sum = 0u64;
            for (k, v) in map {
                let mut entry = keys.build_hasher();
                k.hash(&mut entry);
                hash(v, keys, &mut entry);
                sum = sum.wrapping_add(entry.finish());
            }
            h.write_u64(sum);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn unique(v: Value) -> bool {
        distinct(v.as_array().unwrap(), &RandomState::new())
    }

    #[test]
    fn equal_values_are_found_whatever_their_form() {
        assert!(!unique(json!([1, 2, 1.0])));
        assert!(!unique(json!([0, -0.0])));
        assert!(!unique(json!([-3, -3.0])));
        assert!(!unique(json!([1e20, 100000000000000000000u128 as f64])));
        assert!(!unique(json!([{"a": 1, "b": [2]}, {"b": [2.0], "a": 1}])));
        assert!(!unique(json!([[1, [2]], [1, [2]]])));
        assert!(!unique(json!([null, "x", null])));
        assert!(!unique(json!([1e300, 1e300])));
    }

    #[test]
    fn distinct_values_are_told_apart() {
        assert!(unique(json!([1, 1.5, "1", [1], {"1": 1}, true, null])));
        assert!(unique(json!([
            [[0, 0], [0]],
            [[0], [0, 0]],
            [[0, [0, 0]]],
            [[[0]], 0, 0]
        ])));
        assert!(unique(json!([{"a": 1}, {"a": 1, "b": 1}, {"b": 1}])));
        // Integers past 2^53 are not rounded together.
        assert!(unique(json!([9007199254740993u64, 9007199254740992u64])));
        assert!(unique(json!([u64::MAX, u64::MAX - 1, i64::MIN])));
        assert!(unique(json!([0.1, 0.2, 1e300, -1e300])));
    }

    #[test]
    fn numbers_compare_as_the_validator_compares_them() {
        // An integer and a float are one number only when their values are equal.
        let big = 9007199254740993u64; // 2^53 + 1: no f64 holds it
        assert!(unique(json!([big, big as f64])));
        assert!(!unique(json!([9007199254740992u64, 9007199254740992.0])));
        assert!(!unique(json!([u64::MAX, u64::MAX])));
    }

    #[test]
    fn bracketings_of_one_sequence_hash_apart() {
        // Every split of 13 zeros into groups: one flat sequence, 4,096 arrays, which the
        // validator's own hash wrote alike.
        let keys = RandomState::new();
        let hashes: std::collections::HashSet<u64> = (0..4096u32)
            .map(|k| {
                let mut groups = vec![vec![]];
                for i in 0..13 {
                    groups.last_mut().unwrap().push(json!(0));
                    if i < 12 && (k >> i) & 1 == 1 {
                        groups.push(vec![]);
                    }
                }
                let v = Value::Array(groups.into_iter().map(Value::Array).collect());
                let mut h = keys.build_hasher();
                hash(&v, &keys, &mut h);
                h.finish()
            })
            .collect();
        assert_eq!(hashes.len(), 4096);
    }
}
