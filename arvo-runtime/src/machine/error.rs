//! The build-time checks of a machine definition.

/// Why a machine could not be built. Every variant names the machine and the state (dotted
/// path, `(root)` for the top level) and, where relevant, the event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MachineBuildError {
    /// The self contract is not an orchestrator contract.
    #[error("ArvoMachine '{machine}': the self contract '{uri}' is not an orchestrator contract")]
    NotOrchestrator {
        /// Machine id.
        machine: String,
        /// The contract uri.
        uri: String,
    },
    /// No context factory was given.
    #[error("ArvoMachine '{machine}': no context factory (call `.context(|init| ...)`)")]
    MissingContext {
        /// Machine id.
        machine: String,
    },
    /// The machine has no states.
    #[error("ArvoMachine '{machine}': the machine has no states")]
    NoStates {
        /// Machine id.
        machine: String,
    },
    /// A state key is empty or holds `.`, `#` or `*`.
    #[error(
        "ArvoMachine '{machine}': invalid state name '{key}' under '{state}' (a name must be non-empty and hold no '.', '#' or '*')"
    )]
    InvalidStateKey {
        /// Machine id.
        machine: String,
        /// The parent state.
        state: String,
        /// The bad key.
        key: String,
    },
    /// Two children of one state share a key.
    #[error("ArvoMachine '{machine}': state '{state}' has two child states named '{key}'")]
    DuplicateState {
        /// Machine id.
        machine: String,
        /// The parent state.
        state: String,
        /// The repeated key.
        key: String,
    },
    /// A state nested deeper than [`MAX_STATE_DEPTH`](super::MAX_STATE_DEPTH) levels.
    #[error(
        "ArvoMachine '{machine}': state '{key}' under '{state}' is nested {depth} levels deep; a machine nests at most {limit} levels of states"
    )]
    TooDeep {
        /// Machine id.
        machine: String,
        /// The parent state (dotted path).
        state: String,
        /// The key of the state that is too deep.
        key: String,
        /// Its level (a top-level state is at level 1).
        depth: usize,
        /// The limit, [`MAX_STATE_DEPTH`](super::MAX_STATE_DEPTH).
        limit: usize,
    },
    /// Two states share an id.
    #[error("ArvoMachine '{machine}': states '{first}' and '{second}' share the id '{id}'")]
    DuplicateId {
        /// Machine id.
        machine: String,
        /// The id.
        id: String,
        /// The first state.
        first: String,
        /// The second state.
        second: String,
    },
    /// A compound state has no initial child.
    #[error(
        "ArvoMachine '{machine}': compound state '{state}' has no initial state (call `.initial(..)`)"
    )]
    MissingInitial {
        /// Machine id.
        machine: String,
        /// The state.
        state: String,
    },
    /// The initial child does not exist (or the state has no children, or is parallel).
    #[error("ArvoMachine '{machine}': state '{state}' has initial '{initial}', {reason}")]
    BadInitial {
        /// Machine id.
        machine: String,
        /// The state.
        state: String,
        /// The initial key given.
        initial: String,
        /// Why it is wrong.
        reason: &'static str,
    },
    /// A final state has child states.
    #[error("ArvoMachine '{machine}': final state '{state}' cannot have child states")]
    FinalWithChildren {
        /// Machine id.
        machine: String,
        /// The state.
        state: String,
    },
    /// A final state has transitions.
    #[error(
        "ArvoMachine '{machine}': final state '{state}' cannot have transitions (on '{event}')"
    )]
    FinalWithTransitions {
        /// Machine id.
        machine: String,
        /// The state.
        state: String,
        /// The event of the transition (`always` for eventless).
        event: String,
    },
    /// `on_done` on a state without child states (it can never be done).
    #[error(
        "ArvoMachine '{machine}': state '{state}' has an on_done transition but no child states (only compound and parallel states are done)"
    )]
    DoneWithoutChildren {
        /// Machine id.
        machine: String,
        /// The state.
        state: String,
    },
    /// Eventless transitions that leave these states for one another whatever their guards
    /// decide: a machine entering one of them would never settle.
    #[error(
        "ArvoMachine '{machine}': eventless (always) transitions loop without end: {states}; give one of them a guard, or a target that settles"
    )]
    EventlessLoop {
        /// Machine id.
        machine: String,
        /// The states of the loop, in order, the first repeated at the end (`a -> b -> a`).
        states: String,
    },
    /// A transition targets a state that does not exist.
    #[error(
        "ArvoMachine '{machine}': state '{state}' on '{event}' targets '{target}', which is not a state of this machine"
    )]
    UnknownTarget {
        /// Machine id.
        machine: String,
        /// The source state.
        state: String,
        /// The event (`always` for eventless).
        event: String,
        /// The target as written.
        target: String,
    },
    /// Targets of one transition that cannot be active together.
    #[error(
        "ArvoMachine '{machine}': state '{state}' on '{event}' has targets that are not in different regions of a parallel state"
    )]
    ConflictingTargets {
        /// Machine id.
        machine: String,
        /// The source state.
        state: String,
        /// The event.
        event: String,
    },
    /// A transition on an event the machine can never receive.
    #[error(
        "ArvoMachine '{machine}': state '{state}' has a transition on '{event}', which is neither the init event '{init}' nor an event (or system error) of a declared service"
    )]
    UnknownEvent {
        /// Machine id.
        machine: String,
        /// The state.
        state: String,
        /// The event type.
        event: String,
        /// The init type.
        init: String,
    },
    /// Two services share a URI (the reference's message).
    #[error(
        "In ArvoMachine, the service contracts must have unique URIs. Multiple versions of the same contract are not allow. The contracts '{later}' and '{earlier}' have the same URI '{uri}'"
    )]
    DuplicateService {
        /// The later key.
        later: String,
        /// The earlier key.
        earlier: String,
        /// The shared URI.
        uri: String,
    },
    /// The self contract is registered as a service (the reference's message).
    #[error(
        "In ArvoMachine, Circular dependency detected: Machine with URI '{uri}' is registered as service '{key}'. Self-referential services create execution loops and are prohibited."
    )]
    CircularService {
        /// The self URI.
        uri: String,
        /// The service key.
        key: String,
    },
}
