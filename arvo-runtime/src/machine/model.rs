//! The statechart model: state and transition builders.

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

/// Drops the states below one at a time instead of recursively, so that dropping a definition
/// nested deeper than [`MAX_STATE_DEPTH`](super::MAX_STATE_DEPTH) (which
/// [`MachineBuilder::build`](super::MachineBuilder::build) refuses) cannot overflow the stack.
impl<C> Drop for StateBuilder<C> {
    fn drop(&mut self) {
        let mut below = std::mem::take(&mut self.children);
        while let Some((_, mut state)) = below.pop() {
            below.append(&mut state.children);
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
