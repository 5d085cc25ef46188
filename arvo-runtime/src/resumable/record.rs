//! The persisted record of a resumable (`ArvoResumableState`, spec §7.3 step 9).

use serde::{Deserialize, Serialize};

use crate::event::ArvoEvent;
use crate::orchestration::NormalRecord;

/// `status` of a resumable record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResumableStatus {
    /// Waiting for more events.
    Active,
    /// The completion event was emitted; later events are validated and ignored.
    Done,
}

/// Emitted event id -> the responses collected for it, in emission order; serialised as a JSON
/// object (the reference's `expected`).
///
/// A step emits a handful of events, so the entries are kept in a vector and found by a linear
/// scan: cheaper than a hash map (no table to allocate, clone or hash into) at these sizes. A
/// step that fans out to thousands of calls pays a scan per response; that is far from this
/// type's design point.
///
/// ```
/// use arvo_runtime::resumable::ExpectedEvents;
/// let mut expected: ExpectedEvents = ["id-1", "id-2"].into_iter().map(|id| (id.to_owned(), Vec::new())).collect();
/// assert!(expected.get_mut("id-2").is_some());
/// assert!(expected.get("id-3").is_none());
/// assert_eq!(serde_json::to_string(&expected).unwrap(), r#"{"id-1":[],"id-2":[]}"#);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExpectedEvents {
    entries: Vec<(String, Vec<ArvoEvent>)>,
}

impl ExpectedEvents {
    /// No entries.
    pub fn new() -> Self {
        Self::default()
    }

    /// The responses collected for the emitted event `id`.
    pub fn get(&self, id: &str) -> Option<&Vec<ArvoEvent>> {
        self.entries.iter().find(|(k, _)| k == id).map(|(_, v)| v)
    }

    /// The responses collected for the emitted event `id`, to add one.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Vec<ArvoEvent>> {
        self.entries
            .iter_mut()
            .find(|(k, _)| k == id)
            .map(|(_, v)| v)
    }

    /// Sets the responses of `id` (replacing an entry with the same id in place, else
    /// appending one).
    pub fn insert(&mut self, id: String, responses: Vec<ArvoEvent>) {
        match self.get_mut(&id) {
            Some(v) => *v = responses,
            None => self.entries.push((id, responses)),
        }
    }

    /// The entries, in emission order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Vec<ArvoEvent>)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The emitted event ids, in emission order.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }

    /// The collected responses per emitted event, in emission order.
    pub fn values(&self) -> impl ExactSizeIterator<Item = &Vec<ArvoEvent>> {
        self.entries.iter().map(|(_, v)| v)
    }

    /// How many emitted events are expected.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no emitted event is expected.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl FromIterator<(String, Vec<ArvoEvent>)> for ExpectedEvents {
    fn from_iter<I: IntoIterator<Item = (String, Vec<ArvoEvent>)>>(iter: I) -> Self {
        let mut out = ExpectedEvents {
            entries: Vec::new(),
        };
        let iter = iter.into_iter();
        out.entries.reserve_exact(iter.size_hint().0);
        for (k, v) in iter {
            out.insert(k, v);
        }
        out
    }
}

impl Serialize for ExpectedEvents {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.entries.iter().map(|(k, v)| (k, v)))
    }
}

impl<'de> Deserialize<'de> for ExpectedEvents {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ExpectedEvents;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of event ids to lists of events")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<ExpectedEvents, A::Error> {
                let mut out = ExpectedEvents::new();
                // A repeated id keeps its first position and its last value, as `JSON.parse`.
                while let Some((k, v)) = map.next_entry::<String, Vec<ArvoEvent>>()? {
                    out.insert(k, v);
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

/// The events of a resumable record: the last consumed event, the responses expected to the
/// last emissions (with those collected so far) and the last produced events.
///
/// [`ArvoEvent`]s share their attributes, so a record read from memory, or carried from one
/// step to the next, holds the same events as the step's output instead of copies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResumableEvents {
    /// The event of the last step.
    pub consumed: ArvoEvent,
    /// Emitted event id -> responses collected for it, in emission order (`null` before the
    /// first emission). Kept insertion-ordered through persistence.
    pub expected: Option<ExpectedEvents>,
    /// The events of the last step.
    pub produced: Vec<ArvoEvent>,
}

/// An earlier step kept for idempotency: the consumed event id and what it produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessedEvent {
    /// The consumed event's id.
    pub id: String,
    /// The events it produced.
    pub produced: Vec<ArvoEvent>,
}

/// A resumable's normal record, with the reference's field names (`executionStatus: 'normal'`
/// is added by [`OrchestrationRecord`](crate::orchestration::OrchestrationRecord)). `C` is the
/// typed context (`state$$`).
///
/// Deliberate addition: `processed$$`, the steps before the last one (bounded) for
/// idempotency; the last step is `events.consumed` / `events.produced`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResumableRecord<C> {
    /// `active` or `done`.
    pub status: ResumableStatus,
    /// The id of the init event.
    #[serde(rename = "initEventId")]
    pub init_event_id: std::sync::Arc<str>,
    /// The parent orchestration's subject (`null` for a root).
    #[serde(rename = "parentSubject")]
    pub parent_subject: Option<String>,
    /// The subject.
    pub subject: std::sync::Arc<str>,
    /// Consumed, expected and produced events.
    pub events: ResumableEvents,
    /// The user's context.
    #[serde(rename = "state$$")]
    pub context: Option<C>,
    /// Earlier processed steps, oldest first (idempotency window).
    #[serde(
        rename = "processed$$",
        default = "Vec::new",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub processed: Vec<ProcessedEvent>,
}

impl<C> ResumableRecord<C> {
    /// The events produced when `id` was consumed, if that step is remembered.
    pub fn produced_for(&self, id: &str) -> Option<&[ArvoEvent]> {
        if self.events.consumed.id() == id {
            return Some(&self.events.produced);
        }
        self.processed
            .iter()
            .rev()
            .find(|p| p.id == id)
            .map(|p| p.produced.as_slice())
    }
}

impl<C> NormalRecord for ResumableRecord<C> {
    fn parent_subject(&self) -> Option<&str> {
        self.parent_subject.as_deref()
    }
    fn init_event_id(&self) -> &str {
        &self.init_event_id
    }
    fn shared_init_event_id(&self) -> std::sync::Arc<str> {
        std::sync::Arc::clone(&self.init_event_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_events_keep_order_and_the_last_value_of_a_repeated_id() {
        let e: ExpectedEvents = serde_json::from_str(r#"{"b":[],"a":[],"b":[]}"#).unwrap();
        assert_eq!(e.keys().collect::<Vec<_>>(), ["b", "a"]);
        assert_eq!(serde_json::to_string(&e).unwrap(), r#"{"b":[],"a":[]}"#);
        assert!(serde_json::from_str::<ExpectedEvents>("[]").is_err());
        let again: ExpectedEvents =
            serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert_eq!(again, e);
        assert_eq!(e.len(), 2);
        assert!(!e.is_empty() && ExpectedEvents::new().is_empty());
    }
}
