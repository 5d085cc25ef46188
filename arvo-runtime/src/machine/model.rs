//! The statechart model: state and transition builders, the compiled state tree, and the
//! build-time checks ([`MachineBuildError`]).

use std::sync::Arc;

use crate::event::ArvoEvent;
use crate::handler::HandlerError;

use super::Emitter;

/// A guard: whether a candidate transition is taken, from the context and the event.
pub type Guard<C> = Arc<dyn Fn(&C, &ArvoEvent) -> bool + Send + Sync>;

/// An action (entry, exit or transition): updates the context, may emit events through the
/// [`Emitter`], and may fail (the first error ends the step; see [`crate::machine`]).
pub type Action<C> =
    Arc<dyn Fn(&mut C, &ArvoEvent, &mut Emitter<'_>) -> Result<(), HandlerError> + Send + Sync>;

/// The kind of a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateKind {
    /// No child states.
    Atomic,
    /// Child states, one of them active (`initial` first).
    Compound,
    /// Child states (regions), all active at once.
    Parallel,
    /// A final state: reaching one at the top level finishes the machine.
    Final,
}

/// One candidate transition: targets, an optional guard, actions.
///
/// Built inside [`StateBuilder::on`] / [`StateBuilder::always`] from an empty transition:
/// `s.on("evt.a", |t| t.target("next").guard(|c, _| c.ok).action(|c, _, _| { c.n += 1; Ok(()) }))`.
/// A transition without a target runs its actions and stays in the state (no exit, no entry).
pub struct Transition<C> {
    pub(crate) targets: Vec<String>,
    pub(crate) guard: Option<Guard<C>>,
    pub(crate) guard_name: Option<String>,
    pub(crate) actions: Vec<Action<C>>,
    pub(crate) reenter: bool,
}

impl<C> Default for Transition<C> {
    fn default() -> Self {
        Self {
            targets: Vec::new(),
            guard: None,
            guard_name: None,
            actions: Vec::new(),
            reenter: false,
        }
    }
}

impl<C> std::fmt::Debug for Transition<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transition")
            .field("targets", &self.targets)
            .field("guarded", &self.guard.is_some())
            .field("actions", &self.actions.len())
            .field("reenter", &self.reenter)
            .finish()
    }
}

impl<C> Transition<C> {
    /// An empty transition (no target, no guard, no action).
    pub fn new() -> Self {
        Self::default()
    }

    /// A transition to `target`.
    pub fn to(target: impl Into<String>) -> Self {
        Self::default().target(target)
    }

    /// Adds a target: a sibling's name (`"done"`), a path below a sibling (`"work.left"`), a
    /// path below this state (`".child"`), or a state id (`"#machine.work.left"`, or the id
    /// given with [`StateBuilder::id`]). Several targets are allowed when they lie in
    /// different regions of a parallel state.
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.targets.push(target.into());
        self
    }

    /// The guard: the transition is taken only if it returns `true`. Candidates are tried in
    /// the order they were added; the first whose guard passes (or that has none) wins.
    pub fn guard<F>(mut self, guard: F) -> Self
    where
        F: Fn(&C, &ArvoEvent) -> bool + Send + Sync + 'static,
    {
        self.guard = Some(Arc::new(guard));
        self
    }

    /// A guard with a name (shown in the diagram).
    pub fn guard_named<F>(mut self, name: impl Into<String>, guard: F) -> Self
    where
        F: Fn(&C, &ArvoEvent) -> bool + Send + Sync + 'static,
    {
        self.guard_name = Some(name.into());
        self.guard(guard)
    }

    /// Adds an action, run after the exited states' exit actions and before the entered
    /// states' entry actions.
    pub fn action<F>(mut self, action: F) -> Self
    where
        F: Fn(&mut C, &ArvoEvent, &mut Emitter<'_>) -> Result<(), HandlerError>
            + Send
            + Sync
            + 'static,
    {
        self.actions.push(Arc::new(action));
        self
    }

    /// Adds an action already shared (`Arc`), e.g. one used by several transitions.
    pub fn action_shared(mut self, action: Action<C>) -> Self {
        self.actions.push(action);
        self
    }

    /// Whether a transition to this state itself or to one of its descendants exits and
    /// re-enters this state (XState's `reenter`, default `false`).
    pub fn reenter(mut self, reenter: bool) -> Self {
        self.reenter = reenter;
        self
    }
}

/// The definition of one state (and, for the machine's root, of the machine's top level).
///
/// ```
/// use arvo_runtime::machine::StateBuilder;
/// let s: StateBuilder<u32> = StateBuilder::new()
///     .initial("a")
///     .state("a", |s| s.on("evt.x.success", |t| t.target("b")))
///     .state("b", |s| s.final_state());
/// # let _ = s;
/// ```
pub struct StateBuilder<C> {
    pub(crate) kind: Option<StateKind>,
    pub(crate) id: Option<String>,
    pub(crate) initial: Option<String>,
    pub(crate) children: Vec<(String, StateBuilder<C>)>,
    pub(crate) entry: Vec<Action<C>>,
    pub(crate) exit: Vec<Action<C>>,
    pub(crate) on: Vec<(String, Transition<C>)>,
    pub(crate) always: Vec<Transition<C>>,
    pub(crate) done: Vec<Transition<C>>,
    pub(crate) description: Option<String>,
}

impl<C> Default for StateBuilder<C> {
    fn default() -> Self {
        Self {
            kind: None,
            id: None,
            initial: None,
            children: Vec::new(),
            entry: Vec::new(),
            exit: Vec::new(),
            on: Vec::new(),
            always: Vec::new(),
            done: Vec::new(),
            description: None,
        }
    }
}

impl<C> std::fmt::Debug for StateBuilder<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateBuilder")
            .field("kind", &self.kind)
            .field("initial", &self.initial)
            .field(
                "children",
                &self.children.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl<C> StateBuilder<C> {
    /// An atomic state (it becomes compound when it gets child states).
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes this a final state.
    pub fn final_state(mut self) -> Self {
        self.kind = Some(StateKind::Final);
        self
    }

    /// Makes this a parallel state: every child state (region) is active at once.
    pub fn parallel(mut self) -> Self {
        self.kind = Some(StateKind::Parallel);
        self
    }

    /// The id of this state, for `#id` targets (default: `<machine id>.<dotted path>`).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// A description (shown as a note in the diagram).
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }

    /// The child entered first (required for a compound state).
    pub fn initial(mut self, key: impl Into<String>) -> Self {
        self.initial = Some(key.into());
        self
    }

    /// Adds the child state `key`, defined by `f`.
    pub fn state(
        mut self,
        key: impl Into<String>,
        f: impl FnOnce(StateBuilder<C>) -> StateBuilder<C>,
    ) -> Self {
        self.children.push((key.into(), f(StateBuilder::new())));
        self
    }

    /// Adds the child state `key`, already built.
    pub fn child(mut self, key: impl Into<String>, state: StateBuilder<C>) -> Self {
        self.children.push((key.into(), state));
        self
    }

    /// Adds an entry action (run, in order, when the state is entered).
    pub fn entry<F>(mut self, action: F) -> Self
    where
        F: Fn(&mut C, &ArvoEvent, &mut Emitter<'_>) -> Result<(), HandlerError>
            + Send
            + Sync
            + 'static,
    {
        self.entry.push(Arc::new(action));
        self
    }

    /// Adds an exit action (run, in order, when the state is exited).
    pub fn exit<F>(mut self, action: F) -> Self
    where
        F: Fn(&mut C, &ArvoEvent, &mut Emitter<'_>) -> Result<(), HandlerError>
            + Send
            + Sync
            + 'static,
    {
        self.exit.push(Arc::new(action));
        self
    }

    /// Adds an already shared entry action.
    pub fn entry_shared(mut self, action: Action<C>) -> Self {
        self.entry.push(action);
        self
    }

    /// Adds an already shared exit action.
    pub fn exit_shared(mut self, action: Action<C>) -> Self {
        self.exit.push(action);
        self
    }

    /// Adds a candidate transition on `event_type` (an exact type, or `"*"` for any event).
    /// Candidates of one event are tried in the order added; exact types are tried before
    /// `"*"`; a state's transitions are tried before its ancestors'.
    pub fn on(
        mut self,
        event_type: impl Into<String>,
        f: impl FnOnce(Transition<C>) -> Transition<C>,
    ) -> Self {
        self.on.push((event_type.into(), f(Transition::new())));
        self
    }

    /// Adds a candidate transition on `event_type`, already built.
    pub fn on_transition(mut self, event_type: impl Into<String>, t: Transition<C>) -> Self {
        self.on.push((event_type.into(), t));
        self
    }

    /// Adds an eventless (`always`) candidate transition: checked after every step until none
    /// is enabled (bounded, see [`MAX_EVENTLESS_STEPS`](super::MAX_EVENTLESS_STEPS)).
    pub fn always(mut self, f: impl FnOnce(Transition<C>) -> Transition<C>) -> Self {
        self.always.push(f(Transition::new()));
        self
    }

    /// Adds an eventless candidate transition, already built.
    pub fn always_transition(mut self, t: Transition<C>) -> Self {
        self.always.push(t);
        self
    }

    /// Adds a candidate transition taken when this compound state reaches one of its final
    /// child states, or when every region of this parallel state is final (XState's
    /// `onDone`). Checked after eventless transitions settle, within the same step.
    pub fn on_done(mut self, f: impl FnOnce(Transition<C>) -> Transition<C>) -> Self {
        self.done.push(f(Transition::new()));
        self
    }
}

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

/// The label of `onDone` transitions (errors, diagrams).
pub(crate) const DONE_EVENT: &str = "done";

/// A compiled transition.
pub(crate) struct Trans<C> {
    /// The event as written (`"*"` for any, `None` for eventless).
    pub(crate) event: Option<String>,
    pub(crate) targets: Vec<usize>,
    pub(crate) guard: Option<Guard<C>>,
    pub(crate) guard_name: Option<String>,
    pub(crate) actions: Vec<Action<C>>,
    pub(crate) reenter: bool,
}

/// A compiled state; the tree is kept in preorder (document order) in one vector.
pub(crate) struct Node<C> {
    pub(crate) key: String,
    /// Dotted path from the root (`""` for the root).
    pub(crate) path: String,
    pub(crate) id: String,
    pub(crate) parent: Option<usize>,
    pub(crate) kind: StateKind,
    pub(crate) children: Vec<usize>,
    pub(crate) initial: Option<usize>,
    /// The last descendant's index: `d` is a descendant of `n` iff `n < d <= end`.
    pub(crate) end: usize,
    pub(crate) entry: Vec<Action<C>>,
    pub(crate) exit: Vec<Action<C>>,
    /// Exact event type -> candidates, in order.
    pub(crate) on: Vec<(String, Vec<Trans<C>>)>,
    /// `"*"` candidates.
    pub(crate) any: Vec<Trans<C>>,
    pub(crate) always: Vec<Trans<C>>,
    /// `onDone` candidates.
    pub(crate) done: Vec<Trans<C>>,
    pub(crate) description: Option<String>,
}

impl<C> Node<C> {
    pub(crate) fn display_path(&self) -> &str {
        if self.path.is_empty() {
            "(root)"
        } else {
            &self.path
        }
    }

    pub(crate) fn candidates(&self, event_type: &str) -> impl Iterator<Item = &Trans<C>> {
        self.on
            .iter()
            .find(|(t, _)| t == event_type)
            .map(|(_, v)| v.as_slice())
            .unwrap_or_default()
            .iter()
            .chain(self.any.iter())
    }
}

/// The compiled state tree of a machine.
pub(crate) struct Tree<C> {
    pub(crate) nodes: Vec<Node<C>>,
    pub(crate) has_parallel: bool,
}

struct Pending<C> {
    node: usize,
    on: Vec<(String, Transition<C>)>,
    always: Vec<Transition<C>>,
    done: Vec<Transition<C>>,
    initial: Option<String>,
}

impl<C> Tree<C> {
    pub(crate) fn is_descendant(&self, d: usize, of: usize) -> bool {
        of < d && d <= self.nodes[of].end
    }

    fn resolve(&self, from: usize, target: &str) -> Option<usize> {
        if let Some(id) = target.strip_prefix('#') {
            return self.nodes.iter().position(|n| n.id == id);
        }
        let (mut cur, rest) = match target.strip_prefix('.') {
            Some(rest) => (from, rest),
            None => (self.nodes[from].parent.unwrap_or(from), target),
        };
        for part in rest.split('.') {
            cur = *self.nodes[cur]
                .children
                .iter()
                .find(|&&c| self.nodes[c].key == part)?;
        }
        Some(cur)
    }

    /// Compiles and checks the tree. `receivable` says whether an event type can reach the
    /// machine.
    pub(crate) fn build(
        machine: &str,
        root: StateBuilder<C>,
        receivable: &dyn Fn(&str) -> bool,
        init_type: &str,
    ) -> Result<Self, MachineBuildError> {
        let mut tree = Tree {
            nodes: Vec::new(),
            has_parallel: false,
        };
        let mut pending = Vec::new();
        tree.flatten(machine, String::new(), None, root, &mut pending)?;
        if tree.nodes[0].children.is_empty() {
            return Err(MachineBuildError::NoStates {
                machine: machine.to_owned(),
            });
        }
        // Ids are unique.
        for (i, n) in tree.nodes.iter().enumerate() {
            if let Some(j) = tree.nodes[..i].iter().position(|m| m.id == n.id) {
                return Err(MachineBuildError::DuplicateId {
                    machine: machine.to_owned(),
                    id: n.id.clone(),
                    first: tree.nodes[j].display_path().to_owned(),
                    second: n.display_path().to_owned(),
                });
            }
        }
        for p in pending {
            let state = tree.nodes[p.node].display_path().to_owned();
            let err_initial = |initial: &str, reason| MachineBuildError::BadInitial {
                machine: machine.to_owned(),
                state: state.clone(),
                initial: initial.to_owned(),
                reason,
            };
            let kind = tree.nodes[p.node].kind;
            match (kind, p.initial.as_deref()) {
                (StateKind::Compound, None) => {
                    return Err(MachineBuildError::MissingInitial {
                        machine: machine.to_owned(),
                        state,
                    });
                }
                (StateKind::Compound, Some(k)) => {
                    let found = tree.nodes[p.node]
                        .children
                        .iter()
                        .copied()
                        .find(|&c| tree.nodes[c].key == k);
                    match found {
                        Some(c) => tree.nodes[p.node].initial = Some(c),
                        None => return Err(err_initial(k, "which is not one of its child states")),
                    }
                }
                (StateKind::Parallel, Some(k)) => {
                    return Err(err_initial(
                        k,
                        "but a parallel state enters all its regions (no initial)",
                    ));
                }
                (StateKind::Atomic | StateKind::Final, Some(k)) => {
                    return Err(err_initial(k, "but it has no child states"));
                }
                _ => {}
            }
            if kind == StateKind::Final {
                if let Some((event, _)) = p.on.first() {
                    return Err(MachineBuildError::FinalWithTransitions {
                        machine: machine.to_owned(),
                        state,
                        event: event.clone(),
                    });
                }
                if !p.always.is_empty() {
                    return Err(MachineBuildError::FinalWithTransitions {
                        machine: machine.to_owned(),
                        state,
                        event: "always".to_owned(),
                    });
                }
            }
            let mut on: Vec<(String, Vec<Trans<C>>)> = Vec::new();
            let mut any = Vec::new();
            for (event, t) in p.on {
                if event != "*" && event != init_type && !receivable(&event) {
                    return Err(MachineBuildError::UnknownEvent {
                        machine: machine.to_owned(),
                        state,
                        event,
                        init: init_type.to_owned(),
                    });
                }
                let compiled = tree.compile(machine, p.node, Some(event.clone()), t)?;
                if event == "*" {
                    any.push(compiled);
                } else {
                    match on.iter_mut().find(|(e, _)| *e == event) {
                        Some((_, v)) => v.push(compiled),
                        None => on.push((event, vec![compiled])),
                    }
                }
            }
            let mut always = Vec::with_capacity(p.always.len());
            for t in p.always {
                always.push(tree.compile(machine, p.node, None, t)?);
            }
            if !p.done.is_empty() && !matches!(kind, StateKind::Compound | StateKind::Parallel) {
                return Err(MachineBuildError::DoneWithoutChildren {
                    machine: machine.to_owned(),
                    state,
                });
            }
            let mut done = Vec::with_capacity(p.done.len());
            for t in p.done {
                done.push(tree.compile(machine, p.node, Some(DONE_EVENT.to_owned()), t)?);
            }
            let n = &mut tree.nodes[p.node];
            n.on = on;
            n.any = any;
            n.always = always;
            n.done = done;
        }
        Ok(tree)
    }

    fn compile(
        &self,
        machine: &str,
        from: usize,
        event: Option<String>,
        t: Transition<C>,
    ) -> Result<Trans<C>, MachineBuildError> {
        let mut targets = Vec::with_capacity(t.targets.len());
        let ev = || event.clone().unwrap_or_else(|| "always".to_owned());
        for name in &t.targets {
            // The root is never a target: leaving it would leave no state active.
            match self.resolve(from, name).filter(|&i| i != 0) {
                Some(i) => targets.push(i),
                None => {
                    return Err(MachineBuildError::UnknownTarget {
                        machine: machine.to_owned(),
                        state: self.nodes[from].display_path().to_owned(),
                        event: ev(),
                        target: name.clone(),
                    });
                }
            }
        }
        // Several targets must be in distinct regions of a parallel state: no target is an
        // ancestor of another, and the nearest common ancestor of any two is parallel.
        for (i, &a) in targets.iter().enumerate() {
            for &b in &targets[..i] {
                let ok = a != b
                    && !self.is_descendant(a, b)
                    && !self.is_descendant(b, a)
                    && self
                        .common_ancestor(a, b)
                        .is_some_and(|c| self.nodes[c].kind == StateKind::Parallel);
                if !ok {
                    return Err(MachineBuildError::ConflictingTargets {
                        machine: machine.to_owned(),
                        state: self.nodes[from].display_path().to_owned(),
                        event: ev(),
                    });
                }
            }
        }
        Ok(Trans {
            event,
            targets,
            guard: t.guard,
            guard_name: t.guard_name,
            actions: t.actions,
            reenter: t.reenter,
        })
    }

    /// The nearest state that is an ancestor of both (neither being the other's ancestor).
    pub(crate) fn common_ancestor(&self, a: usize, b: usize) -> Option<usize> {
        let mut cur = self.nodes[a].parent;
        while let Some(c) = cur {
            if self.is_descendant(b, c) {
                return Some(c);
            }
            cur = self.nodes[c].parent;
        }
        None
    }

    fn flatten(
        &mut self,
        machine: &str,
        key: String,
        parent: Option<usize>,
        b: StateBuilder<C>,
        pending: &mut Vec<Pending<C>>,
    ) -> Result<usize, MachineBuildError> {
        let index = self.nodes.len();
        let path = match parent {
            Some(p) if !self.nodes[p].path.is_empty() => format!("{}.{key}", self.nodes[p].path),
            _ => key.clone(),
        };
        let display = if path.is_empty() {
            "(root)".to_owned()
        } else {
            path.clone()
        };
        let kind = match b.kind {
            Some(StateKind::Final) if !b.children.is_empty() => {
                return Err(MachineBuildError::FinalWithChildren {
                    machine: machine.to_owned(),
                    state: display,
                });
            }
            Some(k) => k,
            None if b.children.is_empty() => StateKind::Atomic,
            None => StateKind::Compound,
        };
        if kind == StateKind::Parallel {
            self.has_parallel = true;
        }
        let id = b.id.unwrap_or_else(|| {
            if path.is_empty() {
                machine.to_owned()
            } else {
                format!("{machine}.{path}")
            }
        });
        self.nodes.push(Node {
            key,
            path,
            id,
            parent,
            kind,
            children: Vec::new(),
            initial: None,
            end: index,
            entry: b.entry,
            exit: b.exit,
            on: Vec::new(),
            any: Vec::new(),
            always: Vec::new(),
            done: Vec::new(),
            description: b.description,
        });
        pending.push(Pending {
            node: index,
            on: b.on,
            always: b.always,
            done: b.done,
            initial: b.initial,
        });
        let mut children = Vec::with_capacity(b.children.len());
        for (k, child) in b.children {
            if k.is_empty() || k.contains(['.', '#', '*']) {
                return Err(MachineBuildError::InvalidStateKey {
                    machine: machine.to_owned(),
                    state: display,
                    key: k,
                });
            }
            if children.iter().any(|&c: &usize| self.nodes[c].key == k) {
                return Err(MachineBuildError::DuplicateState {
                    machine: machine.to_owned(),
                    state: display,
                    key: k,
                });
            }
            let c = self.flatten(machine, k, Some(index), child, pending)?;
            children.push(c);
        }
        let end = self.nodes.len() - 1;
        let n = &mut self.nodes[index];
        n.children = children;
        n.end = end;
        Ok(index)
    }
}
