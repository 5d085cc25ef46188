//! The typed content of a subject and its (structural) serde mapping.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::js_json::{self, Item};

/// A subject's `meta`: string keys to string values, in insertion order. Equality ignores
/// the order, like the reference's deep equality.
pub type Meta = indexmap::IndexMap<String, String>;

/// Unknown keys of an object, kept in their order: the reference tolerates and preserves them.
pub type Extra = serde_json::Map<String, Value>;

/// What a subject holds (spec §4.1): who orchestrates, which execution, free-form metadata,
/// and any unknown keys the encoded JSON carried.
///
/// It is `Clone`; carry it next to the subject string (see [`Subject`](super::Subject)) rather
/// than decoding the string again.
///
/// ```
/// use arvo_runtime::subject::{self, SubjectContent};
/// let content = SubjectContent::new("arvo.orc.example.flow", "1.0.0", "exec-0001", "com.example.client");
/// let s = subject::create(&content).unwrap();
/// assert_eq!(subject::parse(&s).unwrap(), content);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SubjectContent {
    /// The orchestrator that owns the execution.
    pub orchestrator: Orchestrator,
    /// The execution (workflow instance).
    pub execution: Execution,
    /// Metadata (for example `redirectto`), inherited by child subjects.
    pub meta: Meta,
    /// Unknown top-level keys.
    pub extra: Extra,
}

/// The `orchestrator` part of a subject.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Orchestrator {
    /// The orchestrator's name: an event type such as `arvo.orc.example.flow`.
    pub name: String,
    /// Its semantic version (`0.0.0` is the wildcard).
    pub version: String,
    /// Unknown keys of `orchestrator`.
    pub extra: Extra,
}

/// The `execution` part of a subject.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Execution {
    /// The execution id (a UUID v4 for subjects made by [`new`](super::new)).
    pub id: String,
    /// Who started the execution: an event type such as `com.example.client`.
    pub initiator: String,
    /// The execution's domain; the key is required on the wire, `null` is `None`.
    pub domain: Option<String>,
    /// Unknown keys of `execution`.
    pub extra: Extra,
}

impl SubjectContent {
    /// Content with the given fields, `domain: null`, empty `meta` and no unknown keys.
    ///
    /// ```
    /// let c = arvo_runtime::subject::SubjectContent::new("a.b.c", "1.0.0", "id-1", "d.e.f");
    /// assert_eq!(c.execution.domain, None);
    /// ```
    pub fn new(
        name: impl Into<String>,
        version: impl Into<String>,
        id: impl Into<String>,
        initiator: impl Into<String>,
    ) -> Self {
        SubjectContent {
            orchestrator: Orchestrator {
                name: name.into(),
                version: version.into(),
                extra: Extra::new(),
            },
            execution: Execution {
                id: id.into(),
                initiator: initiator.into(),
                domain: None,
                extra: Extra::new(),
            },
            meta: Meta::new(),
            extra: Extra::new(),
        }
    }

    /// Checks the content against the reference's schema (spec §4.1).
    ///
    /// ```
    /// let mut c = arvo_runtime::subject::SubjectContent::new("a.b.c", "1.0.0", "a;b", "d.e.f");
    /// let issues = c.validate().unwrap_err();
    /// assert_eq!(issues.as_slice()[0].message, "ID must not contain semicolon");
    /// ```
    pub fn validate(&self) -> Result<(), crate::issue::Issues> {
        super::validate::content(self).into_result()
    }

    /// The JSON text the reference would compress for this content: `JSON.stringify` of an
    /// object with the keys in `new()`'s order, unknown keys after the known ones (array-index
    /// keys first, as in any JavaScript object).
    ///
    /// ```
    /// let c = arvo_runtime::subject::SubjectContent::new("a.b.c", "1.0.0", "x", "d.e.f");
    /// assert_eq!(
    ///     c.to_json(),
    ///     r#"{"orchestrator":{"name":"a.b.c","version":"1.0.0"},"execution":{"id":"x","initiator":"d.e.f","domain":null},"meta":{}}"#
    /// );
    /// ```
    pub fn to_json(&self) -> String {
        js_json::write(&self.item(), 0)
    }

    /// `JSON.stringify(content, null, 2)`, as quoted in error messages.
    pub(crate) fn to_pretty_json(&self) -> String {
        js_json::write(&self.item(), 2)
    }

    fn item(&self) -> Item<'_> {
        let o = &self.orchestrator;
        let e = &self.execution;
        let mut orchestrator = vec![
            ("name", Item::Str(&o.name)),
            ("version", Item::Str(&o.version)),
        ];
        push_extra(&mut orchestrator, &o.extra, &["name", "version"]);
        let domain = e.domain.as_deref().map_or(Item::Null, Item::Str);
        let mut execution = vec![
            ("id", Item::Str(&e.id)),
            ("initiator", Item::Str(&e.initiator)),
            ("domain", domain),
        ];
        push_extra(&mut execution, &e.extra, &["id", "initiator", "domain"]);
        let meta = self
            .meta
            .iter()
            .map(|(k, v)| (k.as_str(), Item::Str(v)))
            .collect();
        let mut top = vec![
            ("orchestrator", Item::Object(orchestrator)),
            ("execution", Item::Object(execution)),
            ("meta", Item::Object(meta)),
        ];
        push_extra(&mut top, &self.extra, TOP_KEYS);
        Item::Object(top)
    }
}

const TOP_KEYS: &[&str] = &["orchestrator", "execution", "meta"];
const ORCHESTRATOR_KEYS: &[&str] = &["name", "version"];
const EXECUTION_KEYS: &[&str] = &["id", "initiator", "domain"];

/// Appends unknown keys, skipping any that would repeat a known key.
fn push_extra<'a>(entries: &mut Vec<(&'a str, Item<'a>)>, extra: &'a Extra, known: &[&str]) {
    entries.extend(
        extra
            .iter()
            .filter(|(k, _)| !known.contains(&k.as_str()))
            .map(|(k, v)| (k.as_str(), Item::Value(v))),
    );
}

// ---- serde: Serialize writes the known keys then the unknown ones. ----

impl Serialize for SubjectContent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("orchestrator", &self.orchestrator)?;
        m.serialize_entry("execution", &self.execution)?;
        m.serialize_entry("meta", &self.meta)?;
        serialize_extra(&mut m, &self.extra, TOP_KEYS)?;
        m.end()
    }
}

impl Serialize for Orchestrator {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("name", &self.name)?;
        m.serialize_entry("version", &self.version)?;
        serialize_extra(&mut m, &self.extra, ORCHESTRATOR_KEYS)?;
        m.end()
    }
}

impl Serialize for Execution {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &self.id)?;
        m.serialize_entry("initiator", &self.initiator)?;
        m.serialize_entry("domain", &self.domain)?;
        serialize_extra(&mut m, &self.extra, EXECUTION_KEYS)?;
        m.end()
    }
}

fn serialize_extra<M: SerializeMap>(
    m: &mut M,
    extra: &Extra,
    known: &[&str],
) -> Result<(), M::Error> {
    for (k, v) in extra.iter().filter(|(k, _)| !known.contains(&k.as_str())) {
        m.serialize_entry(k, v)?;
    }
    Ok(())
}

// ---- serde: Deserialize checks the shape only (types, required keys). Like `JSON.parse`, a
// repeated key keeps its first position and its last value; numbers in unknown keys are made
// JavaScript numbers. ----

/// A key of an object with known keys `0`: the index of a known key, or another key.
struct KeySeed(&'static [&'static str]);

enum Key {
    Known(usize),
    Other(String),
}

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = Key;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(self
            .0
            .iter()
            .position(|k| *k == v)
            .map_or_else(|| Key::Other(v.to_owned()), Key::Known))
    }
}

fn next_extra<'de, A: MapAccess<'de>>(
    map: &mut A,
    extra: &mut Extra,
    key: String,
) -> Result<(), A::Error> {
    let mut v: Value = map.next_value()?;
    js_json::normalize_numbers(&mut v);
    extra.insert(key, v);
    Ok(())
}

fn required<T, E: de::Error>(v: Option<T>, key: &'static str) -> Result<T, E> {
    v.ok_or_else(|| E::missing_field(key))
}

impl<'de> Deserialize<'de> for SubjectContent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SubjectContent;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an orchestration subject object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SubjectContent, A::Error> {
                let (mut orchestrator, mut execution, mut meta, mut extra) =
                    (None, None, None, Extra::new());
                while let Some(key) = map.next_key_seed(KeySeed(TOP_KEYS))? {
                    match key {
                        Key::Known(0) => orchestrator = Some(map.next_value()?),
                        Key::Known(1) => execution = Some(map.next_value()?),
                        Key::Known(_) => meta = Some(map.next_value()?),
                        Key::Other(k) => next_extra(&mut map, &mut extra, k)?,
                    }
                }
                Ok(SubjectContent {
                    orchestrator: required(orchestrator, "orchestrator")?,
                    execution: required(execution, "execution")?,
                    meta: required(meta, "meta")?,
                    extra,
                })
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for Orchestrator {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Orchestrator;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an orchestrator object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Orchestrator, A::Error> {
                let (mut name, mut version, mut extra) = (None, None, Extra::new());
                while let Some(key) = map.next_key_seed(KeySeed(ORCHESTRATOR_KEYS))? {
                    match key {
                        Key::Known(0) => name = Some(map.next_value()?),
                        Key::Known(_) => version = Some(map.next_value()?),
                        Key::Other(k) => next_extra(&mut map, &mut extra, k)?,
                    }
                }
                Ok(Orchestrator {
                    name: required(name, "name")?,
                    version: required(version, "version")?,
                    extra,
                })
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for Execution {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Execution;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an execution object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Execution, A::Error> {
                let (mut id, mut initiator, mut domain, mut extra) =
                    (None, None, None, Extra::new());
                while let Some(key) = map.next_key_seed(KeySeed(EXECUTION_KEYS))? {
                    match key {
                        Key::Known(0) => id = Some(map.next_value()?),
                        Key::Known(1) => initiator = Some(map.next_value()?),
                        Key::Known(_) => domain = Some(map.next_value::<Option<String>>()?),
                        Key::Other(k) => next_extra(&mut map, &mut extra, k)?,
                    }
                }
                Ok(Execution {
                    id: required(id, "id")?,
                    initiator: required(initiator, "initiator")?,
                    domain: required(domain, "domain")?,
                    extra,
                })
            }
        }
        d.deserialize_map(V)
    }
}
