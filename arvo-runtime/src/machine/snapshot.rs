//! The persisted form of a running machine: [`MachineSnapshot`] (versioned, plain serde JSON)
//! and its [`StateValue`] (XState's `value`: a state name, or an object for compound and
//! parallel states).

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// The version of the snapshot format this crate writes and reads.
pub const SNAPSHOT_VERSION: u32 = 1;

/// Whether a machine is still running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MachineStatus {
    /// Waiting for events.
    Active,
    /// A top-level final state was reached; later events are ignored.
    Done,
}

impl MachineStatus {
    /// `active` / `done`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Done => "done",
        }
    }
}

/// The active states, as XState writes them: the name of the active child of a compound state
/// when that child is atomic or final, an object `{child: value}` when it is compound or
/// parallel, and an object with one entry per region for a parallel state.
///
/// ```
/// use arvo_runtime::machine::StateValue;
/// let v: StateValue = serde_json::from_str(r#"{"work":{"left":"a","right":"b"}}"#).unwrap();
/// assert_eq!(serde_json::to_string(&v).unwrap(), r#"{"work":{"left":"a","right":"b"}}"#);
/// assert_eq!(StateValue::leaf("idle").as_leaf(), Some("idle"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StateValue {
    /// An atomic (or final) state's name.
    Leaf(String),
    /// Child name -> its value, in definition order.
    Node(IndexMap<String, StateValue>),
}

impl StateValue {
    /// A leaf value.
    pub fn leaf(name: impl Into<String>) -> Self {
        Self::Leaf(name.into())
    }

    /// The name, when this is a leaf.
    pub fn as_leaf(&self) -> Option<&str> {
        match self {
            Self::Leaf(s) => Some(s),
            Self::Node(_) => None,
        }
    }

    /// Whether the dotted `path` (`"parent.child"`) is active in this value.
    ///
    /// ```
    /// use arvo_runtime::machine::StateValue;
    /// let v: StateValue = serde_json::from_str(r#"{"work":{"left":"a","right":"b"}}"#).unwrap();
    /// assert!(v.matches("work") && v.matches("work.left.a") && !v.matches("work.left.b"));
    /// ```
    pub fn matches(&self, path: &str) -> bool {
        let mut cur = self;
        let mut parts = path.split('.').peekable();
        while let Some(p) = parts.next() {
            match cur {
                Self::Leaf(s) => return s == p && parts.peek().is_none(),
                Self::Node(m) => match m.get(p) {
                    Some(next) => cur = next,
                    None => return false,
                },
            }
        }
        true
    }
}

impl std::fmt::Display for StateValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Leaf(s) => f.write_str(s),
            Self::Node(_) => f.write_str(&serde_json::to_string(self).unwrap_or_default()),
        }
    }
}

/// A machine's persisted state: `{"version": 1, "status", "value", "context", "output"?}`.
///
/// Plain serde JSON, stable across releases of this crate: a snapshot written with another
/// `version` is refused when read (an error naming both versions), never misread.
///
/// ```
/// use arvo_runtime::machine::{MachineSnapshot, MachineStatus, StateValue};
/// let s = MachineSnapshot { version: 1, status: MachineStatus::Active,
///     value: StateValue::leaf("adding"), context: serde_json::json!({"a": 1}), output: None };
/// let text = serde_json::to_string(&s).unwrap();
/// assert_eq!(text, r#"{"version":1,"status":"active","value":"adding","context":{"a":1}}"#);
/// assert_eq!(serde_json::from_str::<MachineSnapshot<serde_json::Value>>(&text).unwrap(), s);
/// let err = serde_json::from_str::<MachineSnapshot<serde_json::Value>>(
///     r#"{"version":2,"status":"active","value":"adding","context":{}}"#).unwrap_err();
/// assert!(err.to_string().contains("machine snapshot version 2"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineSnapshot<C> {
    /// The snapshot format ([`SNAPSHOT_VERSION`]).
    #[serde(deserialize_with = "snapshot_version")]
    pub version: u32,
    /// `active` or `done`.
    pub status: MachineStatus,
    /// The active states.
    pub value: StateValue,
    /// The machine's context.
    pub context: C,
    /// The machine's output, once a top-level final state was reached and the machine has an
    /// output function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
}

fn snapshot_version<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = u32::deserialize(d)?;
    if v != SNAPSHOT_VERSION {
        return Err(serde::de::Error::custom(format!(
            "incompatible machine snapshot version {v}: this build of arvo-runtime reads version {SNAPSHOT_VERSION}"
        )));
    }
    Ok(v)
}

/// `value` with every object rebuilt at its exact size. A `serde_json` object built key by key
/// (`json!`, `insert`) or cloned keeps room for more entries (a one-key object holds three
/// 112-byte slots); values a workflow keeps in its memory record for its whole life (the
/// machine output in its snapshot and in its completion event) are compacted once, when made.
pub(crate) fn compact_json(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            for (k, v) in map {
                out.insert(k, compact_json(v));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(compact_json).collect()),
        other => other,
    }
}

/// A compact copy of `value` (see [`compact_json`]; `Clone` keeps the spare room).
pub(crate) fn compact_json_clone(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            for (k, v) in map {
                out.insert(k.clone(), compact_json_clone(v));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(compact_json_clone).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compact_json_keeps_the_value_and_its_key_order() {
        let v = json!({"z": 1, "a": {"y": [1, {"k": null}], "b": "s"}, "m": 2.5});
        assert_eq!(compact_json(v.clone()), v);
        assert_eq!(compact_json_clone(&v), v);
        let text = serde_json::to_string(&compact_json(v.clone())).unwrap();
        assert_eq!(text, serde_json::to_string(&v).unwrap());
        assert_eq!(compact_json(json!(3)), json!(3));
    }
}
