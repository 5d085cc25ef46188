//! The machine registry (`MachineRegistry`, spec §8.1).

use super::OrchestratorBuildError;
use crate::event::ArvoEvent;
use crate::machine::ArvoMachine;
use crate::subject::{Subject, SubjectError};

/// The machines of an orchestrator, found by the orchestration subject's orchestrator name and
/// version (the reference's `MachineRegistry`, spec §8.1).
pub struct MachineRegistry<C> {
    pub(super) machines: Vec<ArvoMachine<C>>,
}

impl<C> std::fmt::Debug for MachineRegistry<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.machines.iter()).finish()
    }
}

/// The reference's message for a registry without machines.
pub const NO_MACHINES_MESSAGE: &str = "Machine registry initialization failed: No machines provided. At least one machine must be registered.";

impl<C> MachineRegistry<C> {
    /// A registry of `machines` (any sources; the orchestrator checks they share one).
    ///
    /// # Errors
    /// [`OrchestratorBuildError::NoMachines`] when `machines` is empty (displayed with the
    /// orchestrator's message; the registry's own is [`NO_MACHINES_MESSAGE`]).
    pub fn new(machines: Vec<ArvoMachine<C>>) -> Result<Self, OrchestratorBuildError> {
        if machines.is_empty() {
            return Err(OrchestratorBuildError::NoMachines);
        }
        Ok(Self { machines })
    }

    /// The machines, in registration order.
    pub fn machines(&self) -> &[ArvoMachine<C>] {
        &self.machines
    }

    /// The machine of `name` (`arvo.orc.<name>`) at `version`.
    pub fn get(&self, source: &str, version: &str) -> Option<&ArvoMachine<C>> {
        self.machines
            .iter()
            .find(|m| m.version().as_str() == version && m.source() == source)
    }

    /// The machine for `event`: the one whose source and version are the orchestrator name and
    /// version of the event's subject; `Ok(None)` when there is none.
    ///
    /// # Errors
    /// The event's subject is not an orchestration subject.
    pub fn resolve(&self, event: &ArvoEvent) -> Result<Option<&ArvoMachine<C>>, SubjectError> {
        let subject = Subject::parse(event.subject())?;
        let c = subject.content();
        Ok(self.get(&c.orchestrator.name, &c.orchestrator.version))
    }
}
