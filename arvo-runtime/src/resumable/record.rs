//! The persisted record of a resumable (`ArvoResumableState`, spec §7.3 step 9).

use indexmap::IndexMap;
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

/// Emitted event id -> the responses collected for it, in emission order. Hashed with
/// foldhash (ids are short; SipHash cost more than the rest of the lookup).
pub type ExpectedEvents = IndexMap<String, Vec<ArvoEvent>, foldhash::fast::RandomState>;

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
