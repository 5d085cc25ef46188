//! The persisted record of an orchestrator (`MachineMemoryRecord`, spec §6.6).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::event::ArvoEvent;
use crate::machine::{MachineSnapshot, MachineStatus, StateValue};
use crate::orchestration::NormalRecord;
use crate::resumable::ProcessedEvent;

/// The events of the last step: the consumed event and the produced ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineEvents {
    /// The event of the last step.
    pub consumed: ArvoEvent,
    /// The events of the last step.
    pub produced: Vec<ArvoEvent>,
}

/// An orchestrator's normal record, with the reference's field names and order
/// (`executionStatus: 'normal'` is added by
/// [`OrchestrationRecord`](crate::orchestration::OrchestrationRecord)). `C` is the machines'
/// context type.
///
/// Deliberate differences: `state` is this crate's [`MachineSnapshot`] (not XState's);
/// `machineDefinition` is `null` (the reference stores a JSON dump of the machine config on every
/// write; see [`ArvoMachine::mermaid`](crate::machine::ArvoMachine::mermaid) for the definition);
/// `processed$$` holds the steps before the last one (bounded) for idempotency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineRecord<C> {
    /// The id of the init event.
    #[serde(rename = "initEventId")]
    pub init_event_id: Arc<str>,
    /// The subject.
    pub subject: Arc<str>,
    /// The parent orchestration's subject (`null` for a root).
    #[serde(rename = "parentSubject")]
    pub parent_subject: Option<String>,
    /// The machine's status (the snapshot's).
    pub status: MachineStatus,
    /// The machine's state value (the snapshot's).
    pub value: StateValue,
    /// The snapshot to resume from.
    pub state: MachineSnapshot<C>,
    /// Consumed and produced events of the last step.
    pub events: MachineEvents,
    /// Always `null` (see the type docs).
    #[serde(rename = "machineDefinition", default)]
    pub machine_definition: Option<String>,
    /// Earlier processed steps, oldest first (idempotency window).
    #[serde(
        rename = "processed$$",
        default = "Vec::new",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub processed: Vec<ProcessedEvent>,
}

impl<C> MachineRecord<C> {
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

impl<C> NormalRecord for MachineRecord<C> {
    fn parent_subject(&self) -> Option<&str> {
        self.parent_subject.as_deref()
    }
    fn init_event_id(&self) -> &str {
        &self.init_event_id
    }
    fn shared_init_event_id(&self) -> Arc<str> {
        Arc::clone(&self.init_event_id)
    }
}
