//! The machine engine (spec §5): start, resume from a snapshot, event selection, exit / transition
//! / entry actions, eventless transitions, output, and the event collection order.

use std::panic::AssertUnwindSafe;

use serde_json::Value;

use crate::contract::{PARENT_SUBJECT_FIELD, VersionedContract};
use crate::event::ArvoEvent;
use crate::handler::{HandlerError, RawOutput, UserPanic, Violation, push_output};

use super::model::StateKind;
use super::snapshot::{
    MachineSnapshot, MachineStatus, SNAPSHOT_VERSION, StateValue, compact_json, compact_json_clone,
};
use super::tree::{Node, Trans, Tree};
use super::{ArvoMachine, Context};

/// How many eventless (`always`) microsteps one step may take before it is an error (a machine
/// whose `always` transitions never settle), so a definition bug is reported, not a hang.
pub const MAX_EVENTLESS_STEPS: usize = 1024;

/// What actions emit through: service calls ([`emit`](Emitter::emit), checked against the
/// declared services) and other events ([`enqueue`](Emitter::enqueue), the reference's
/// `enqueueArvoEvent`). A step returns every emitted event first, in emission order, then every
/// enqueued one, in queue order, however the two were interleaved (the reference's order).
pub struct Emitter<'a> {
    emitted: &'a mut Vec<RawOutput>,
    queued: &'a mut Vec<RawOutput>,
    services: &'a [VersionedContract],
    machine: &'a str,
    state: &'a str,
    subject: &'a str,
}

impl std::fmt::Debug for Emitter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emitter")
            .field("machine", &self.machine)
            .field("state", &self.state)
            .field("emitted", &self.emitted.len())
            .field("queued", &self.queued.len())
            .finish()
    }
}

impl Emitter<'_> {
    /// Emits a call to a declared service (XState's `emit`). Its data is validated against
    /// the service's accepts schema when the step's events are created.
    ///
    /// # Errors
    /// A `Config` violation when no declared service accepts `raw`'s type (use
    /// [`enqueue`](Self::enqueue) for events outside the service contracts).
    pub fn emit(&mut self, raw: RawOutput) -> Result<(), HandlerError> {
        if !self
            .services
            .iter()
            .any(|s| s.accepts().event_type == raw.event_type)
        {
            return Err(Violation::config(format!(
                "ArvoMachine '{}' state '{}' emitted '{}', which no declared service accepts (declare the service, or use `enqueue` for events outside the service contracts)",
                self.machine, self.state, raw.event_type
            ))
            .into());
        }
        push_output(self.emitted, raw);
        Ok(())
    }

    /// Queues an event of any type (the reference's `enqueueArvoEvent`): returned after every
    /// emitted event; validated only when its type is a declared service's.
    pub fn enqueue(&mut self, raw: RawOutput) {
        push_output(self.queued, raw);
    }

    /// Starts the child orchestration `child` (a declared orchestrator service) with this
    /// orchestration as its parent: `parentSubject$$` is set to the current subject, so the
    /// child's completion (`<child>.done`) or system error comes back to this machine.
    ///
    /// # Errors
    /// As [`emit`](Self::emit).
    pub fn start_child(
        &mut self,
        child: &VersionedContract,
        mut data: Value,
    ) -> Result<(), HandlerError> {
        if let Value::Object(m) = &mut data {
            m.insert(
                PARENT_SUBJECT_FIELD.to_owned(),
                Value::String(self.subject.to_owned()),
            );
        }
        self.emit(RawOutput::new(child.accepts().event_type.clone(), data))
    }

    /// A shorter-lived emitter over the same outputs (what a wrapper holding the emitter for a
    /// shorter lifetime needs; `&mut Emitter<'a>` cannot shrink its `'a` by itself).
    pub fn reborrow(&mut self) -> Emitter<'_> {
        Emitter {
            emitted: &mut *self.emitted,
            queued: &mut *self.queued,
            services: self.services,
            machine: self.machine,
            state: self.state,
            subject: self.subject,
        }
    }

    /// The orchestration's subject (the subject of every event the machine receives).
    pub fn subject(&self) -> &str {
        self.subject
    }

    /// The dotted path of the state whose action is running (`""` for the root).
    pub fn state(&self) -> &str {
        self.state
    }
}

/// The result of one engine step.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineStep<C> {
    /// The new snapshot.
    pub snapshot: MachineSnapshot<C>,
    /// The events to emit: every `emit` in order, then every `enqueue` in order.
    pub events: Vec<RawOutput>,
    /// The machine's output when this step reached a top-level final state (and the machine has
    /// an output function); `None` otherwise, and on every later step.
    pub output: Option<Value>,
    /// Whether a transition was taken (`false`: the event was ignored).
    pub transitioned: bool,
}

/// A set of states (by index): a bit mask for machines of up to 128 states, so a step allocates
/// no state sets.
enum Bits {
    Small(u128),
    Large(Vec<bool>),
}

impl Bits {
    fn new(n: usize) -> Self {
        if n <= 128 {
            Self::Small(0)
        } else {
            Self::Large(vec![false; n])
        }
    }

    fn set(&mut self, i: usize, on: bool) {
        match self {
            Self::Small(bits) if on => *bits |= 1 << i,
            Self::Small(bits) => *bits &= !(1 << i),
            Self::Large(v) => v[i] = on,
        }
    }
}

impl std::ops::Index<usize> for Bits {
    type Output = bool;

    fn index(&self, i: usize) -> &bool {
        let on = match self {
            Self::Small(bits) => (bits >> i) & 1 == 1,
            Self::Large(v) => v[i],
        };
        if on { &true } else { &false }
    }
}

struct Run<'m, C> {
    machine: &'m ArvoMachine<C>,
    tree: &'m Tree<C>,
    active: Bits,
    emitted: Vec<RawOutput>,
    queued: Vec<RawOutput>,
    trigger: &'m ArvoEvent,
    /// Compound / parallel states that became done (their `onDone` is pending).
    done_queue: Vec<usize>,
}

impl<C: Context> ArvoMachine<C> {
    /// One engine step (spec §5): starts the machine from the init event when `snapshot` is
    /// `None`, else resumes it from `snapshot` and delivers `event`.
    ///
    /// * Start: `event` must be the init event (its type is [`source`](Self::source)); the
    ///   context factory runs, then the initial states are entered (entry actions, with the
    ///   init event) and eventless transitions settle.
    /// * Resume: the snapshot's states are restored (no entry action runs again), then the
    ///   event is delivered; an event no active state handles is ignored; an event for a `done`
    ///   machine is ignored (the snapshot is returned unchanged, no output).
    /// * Output: computed once, on the step that reaches a top-level final state.
    ///
    /// # Errors
    /// The first error of the context factory, a guard, an action or the output function
    /// (a panic in any of them is a [`UserPanic`] error, never an unwind); the reference's
    /// "Invalid initialization event" error; a `Config` violation for a snapshot naming states
    /// this machine does not have; an error naming the state when eventless transitions do not
    /// settle within [`MAX_EVENTLESS_STEPS`]. The input snapshot is consumed; nothing is
    /// half-updated in what is returned.
    pub fn execute(
        &self,
        snapshot: Option<MachineSnapshot<C>>,
        event: &ArvoEvent,
    ) -> Result<MachineStep<C>, HandlerError> {
        match std::panic::catch_unwind(AssertUnwindSafe(|| self.step(snapshot, event))) {
            Ok(r) => r,
            Err(payload) => Err(UserPanic::from_payload(payload.as_ref()).into()),
        }
    }

    /// Starts the machine from its init event: [`execute`](Self::execute) without a snapshot.
    ///
    /// # Errors
    /// As [`execute`](Self::execute).
    pub fn start(&self, init: &ArvoEvent) -> Result<MachineStep<C>, HandlerError> {
        self.execute(None, init)
    }

    /// Delivers `event` to the machine saved in `snapshot`: [`execute`](Self::execute) with a
    /// snapshot.
    ///
    /// # Errors
    /// As [`execute`](Self::execute).
    pub fn resume(
        &self,
        snapshot: MachineSnapshot<C>,
        event: &ArvoEvent,
    ) -> Result<MachineStep<C>, HandlerError> {
        self.execute(Some(snapshot), event)
    }

    fn step(
        &self,
        snapshot: Option<MachineSnapshot<C>>,
        event: &ArvoEvent,
    ) -> Result<MachineStep<C>, HandlerError> {
        let mut run = Run {
            machine: self,
            tree: &self.tree,
            active: Bits::new(self.tree.nodes.len()),
            emitted: Vec::new(),
            queued: Vec::new(),
            trigger: event,
            done_queue: Vec::new(),
        };
        let (context, transitioned) = match snapshot {
            None => {
                if event.event_type() != self.source {
                    return Err(HandlerError::msg(format!(
                        "Invalid initialization event: Machine requires source event '{}' to start, but received event '{}' instead. This likely indicates a mismatch between the expected workflow trigger and the actual event sent.",
                        self.source,
                        event.event_type()
                    )));
                }
                let mut context = (self.context)(event)?;
                let mut enter = Bits::new(self.tree.nodes.len());
                run.add_descendants(0, &mut enter);
                run.enter(&enter, &mut context)?;
                run.settle(&mut context)?;
                (context, true)
            }
            Some(s) => {
                if s.status == MachineStatus::Done {
                    return Ok(MachineStep {
                        snapshot: s,
                        events: Vec::new(),
                        output: None,
                        transitioned: false,
                    });
                }
                run.load(0, &s.value)?;
                let mut context = s.context;
                let selected = run.select(true, &context);
                let transitioned = !selected.is_empty();
                if transitioned {
                    run.microstep(&selected, &mut context)?;
                    run.settle(&mut context)?;
                }
                (context, transitioned)
            }
        };
        let done = run.in_final(0);
        // The output is kept twice for the workflow's life (snapshot, completion data):
        // both copies compact.
        let output = match (&self.output, done) {
            (Some(f), true) => Some(compact_json(f(&context)?)),
            _ => None,
        };
        let value = run.value(0);
        let mut events = run.emitted;
        events.append(&mut run.queued);
        let snapshot = MachineSnapshot {
            version: SNAPSHOT_VERSION,
            status: if done {
                MachineStatus::Done
            } else {
                MachineStatus::Active
            },
            value,
            context,
            output: output.as_ref().map(compact_json_clone),
        };
        Ok(MachineStep {
            snapshot,
            events,
            output,
            transitioned,
        })
    }
}

impl<'m, C: Context> Run<'m, C> {
    fn node(&self, i: usize) -> &Node<C> {
        &self.tree.nodes[i]
    }

    fn run_actions(
        &mut self,
        state: usize,
        actions: &[super::model::Action<C>],
        context: &mut C,
    ) -> Result<(), HandlerError> {
        let tree = self.tree;
        for a in actions {
            let mut emitter = Emitter {
                emitted: &mut self.emitted,
                queued: &mut self.queued,
                services: &self.machine.service_list,
                machine: &self.machine.id,
                state: &tree.nodes[state].path,
                subject: self.trigger.subject(),
            };
            a(context, self.trigger, &mut emitter)?;
        }
        Ok(())
    }

    /// Marks `s` and its default descendants (initial children, all regions).
    fn add_descendants(&self, s: usize, enter: &mut Bits) {
        enter.set(s, true);
        let n = self.node(s);
        match n.kind {
            StateKind::Compound => {
                let explicit = n.children.iter().any(|&c| enter[c]);
                if !explicit && let Some(i) = n.initial {
                    self.add_descendants(i, enter);
                }
            }
            StateKind::Parallel => {
                for &c in &n.children {
                    if !self.has_marked(c, enter) {
                        self.add_descendants(c, enter);
                    }
                }
            }
            StateKind::Atomic | StateKind::Final => {}
        }
    }

    /// Whether `s` or one of its descendants is marked to enter or stays active.
    fn has_marked(&self, s: usize, enter: &Bits) -> bool {
        (s..=self.node(s).end).any(|i| enter[i] || self.active[i])
    }

    /// Enters the marked states in document order, then queues the `onDone` of the compound
    /// states that entered a final child and of the parallel states all of whose regions are
    /// now final.
    fn enter(&mut self, enter: &Bits, context: &mut C) -> Result<(), HandlerError> {
        let tree = self.tree;
        let mut finals = Vec::new();
        for i in 0..tree.nodes.len() {
            if enter[i] && !self.active[i] {
                self.active.set(i, true);
                self.run_actions(i, &tree.nodes[i].entry, context)?;
                if tree.nodes[i].kind == StateKind::Final {
                    finals.push(i);
                }
            }
        }
        for f in finals {
            let Some(p) = tree.nodes[f].parent.filter(|&p| p != 0) else {
                continue;
            };
            self.queue_done(p);
            let mut cur = tree.nodes[p].parent;
            while let Some(a) = cur {
                if a == 0 || tree.nodes[a].kind != StateKind::Parallel || !self.in_final(a) {
                    break;
                }
                self.queue_done(a);
                cur = tree.nodes[a].parent;
            }
        }
        Ok(())
    }

    fn queue_done(&mut self, s: usize) {
        if !self.tree.nodes[s].done.is_empty() && !self.done_queue.contains(&s) {
            self.done_queue.push(s);
        }
    }

    /// Whether state `s` is an active state with no active child (a leaf of the configuration).
    fn is_active_leaf(&self, s: usize) -> bool {
        self.active[s] && !self.node(s).children.iter().any(|&c| self.active[c])
    }

    /// The enabled transitions (spec: XState's selection): for each active leaf in document
    /// order, the first candidate whose guard passes, from the leaf up to the root; exact types
    /// before `*`. Conflicting transitions (overlapping exits) keep the first.
    fn select(&self, with_event: bool, context: &C) -> Vec<(usize, &'m Trans<C>)> {
        let tree: &'m Tree<C> = self.tree;
        let mut out: Vec<(usize, &'m Trans<C>)> = Vec::new();
        for leaf in 0..tree.nodes.len() {
            if !self.is_active_leaf(leaf) {
                continue;
            }
            let mut cur = Some(leaf);
            'up: while let Some(c) = cur {
                let node = &tree.nodes[c];
                let found = if with_event {
                    node.candidates(self.trigger.event_type())
                        .find(|t| self.passes(t, context))
                } else {
                    node.always.iter().find(|t| self.passes(t, context))
                };
                if let Some(t) = found {
                    if !out.iter().any(|(_, o)| std::ptr::eq(*o, t)) {
                        out.push((c, t));
                    }
                    break 'up;
                }
                cur = node.parent;
            }
        }
        if out.len() > 1 {
            let mut kept: Vec<(usize, &'m Trans<C>)> = Vec::with_capacity(out.len());
            let mut exited = Bits::new(tree.nodes.len());
            for (src, t) in out {
                if self.exit_set(src, t).any(|i| exited[i]) {
                    continue;
                }
                for i in self.exit_set(src, t) {
                    exited.set(i, true);
                }
                kept.push((src, t));
            }
            return kept;
        }
        out
    }

    fn passes(&self, t: &Trans<C>, context: &C) -> bool {
        t.guard.as_ref().is_none_or(|g| g(context, self.trigger))
    }

    /// The transition domain: the source itself for a non-reentering transition into its own
    /// subtree, else the nearest compound (or root) ancestor of source and targets.
    fn domain(&self, src: usize, t: &Trans<C>) -> Option<usize> {
        if t.targets.is_empty() {
            return None;
        }
        let tree = self.tree;
        if !t.reenter
            && t.targets
                .iter()
                .all(|&g| g == src || tree.is_descendant(g, src))
        {
            return Some(src);
        }
        let mut cur = tree.nodes[src].parent;
        while let Some(c) = cur {
            let n = &tree.nodes[c];
            if (n.kind == StateKind::Compound || n.parent.is_none())
                && t.targets.iter().all(|&g| tree.is_descendant(g, c))
            {
                return Some(c);
            }
            cur = n.parent;
        }
        Some(0)
    }

    /// The active states a transition exits (its domain's active descendants).
    fn exit_set(&self, src: usize, t: &Trans<C>) -> impl Iterator<Item = usize> + '_ {
        let (first, last) = match self.domain(src, t) {
            Some(d) => (d + 1, self.node(d).end),
            None => (1, 0),
        };
        (first..=last).filter(|&i| self.active[i])
    }

    fn microstep(
        &mut self,
        selected: &[(usize, &Trans<C>)],
        context: &mut C,
    ) -> Result<(), HandlerError> {
        let tree = self.tree;
        let n = tree.nodes.len();
        // Exit, deepest / last first.
        let mut exit = Bits::new(n);
        for &(src, t) in selected {
            for i in self.exit_set(src, t) {
                exit.set(i, true);
            }
        }
        for i in (0..n).rev() {
            if exit[i] {
                self.run_actions(i, &tree.nodes[i].exit, context)?;
                self.active.set(i, false);
            }
        }
        // Transition actions, in selection order.
        for &(src, t) in selected {
            self.run_actions(src, &t.actions, context)?;
        }
        // Entry, in document order.
        let mut enter = Bits::new(n);
        for &(src, t) in selected {
            let Some(d) = self.domain(src, t) else {
                continue;
            };
            for &g in &t.targets {
                if g == d {
                    continue;
                }
                self.add_descendants(g, &mut enter);
                let mut cur = tree.nodes[g].parent;
                while let Some(c) = cur {
                    if c == d {
                        break;
                    }
                    enter.set(c, true);
                    cur = tree.nodes[c].parent;
                }
            }
        }
        // Regions of entered parallel states that no target reached get their defaults.
        for i in 0..n {
            if enter[i] && tree.nodes[i].kind == StateKind::Parallel {
                for &c in &tree.nodes[i].children {
                    if !self.has_marked(c, &enter) {
                        self.add_descendants(c, &mut enter);
                    }
                }
            }
        }
        self.enter(&enter, context)
    }

    /// Takes eventless transitions until none is enabled, then the pending `onDone`
    /// transitions (each followed by eventless ones again), until the machine is done or
    /// nothing is left.
    fn settle(&mut self, context: &mut C) -> Result<(), HandlerError> {
        for _ in 0..MAX_EVENTLESS_STEPS {
            if self.in_final(0) {
                return Ok(());
            }
            let selected = self.select(false, context);
            if !selected.is_empty() {
                self.microstep(&selected, context)?;
                continue;
            }
            if self.done_queue.is_empty() {
                return Ok(());
            }
            let s = self.done_queue.remove(0);
            if !self.active[s] || !self.in_final(s) {
                continue;
            }
            let tree = self.tree;
            if let Some(t) = tree.nodes[s].done.iter().find(|t| self.passes(t, context)) {
                self.microstep(&[(s, t)], context)?;
            }
        }
        let states: Vec<&str> = (0..self.tree.nodes.len())
            .filter(|&i| self.is_active_leaf(i))
            .map(|i| self.node(i).display_path())
            .collect();
        Err(HandlerError::msg(format!(
            "ArvoMachine '{}': eventless (always) transitions did not settle after {MAX_EVENTLESS_STEPS} steps; active state(s): {}",
            self.machine.id,
            states.join(", ")
        )))
    }

    /// Whether `s` is in a final configuration: a compound whose active child is final, or a
    /// parallel state whose regions all are.
    fn in_final(&self, s: usize) -> bool {
        let n = self.node(s);
        match n.kind {
            StateKind::Compound => n
                .children
                .iter()
                .any(|&c| self.active[c] && self.node(c).kind == StateKind::Final),
            StateKind::Parallel => {
                !n.children.is_empty() && n.children.iter().all(|&c| self.in_final(c))
            }
            StateKind::Atomic | StateKind::Final => false,
        }
    }

    /// XState's state value of `s`.
    fn value(&self, s: usize) -> StateValue {
        let n = self.node(s);
        let mut active = n.children.iter().copied().filter(|&c| self.active[c]);
        if n.kind == StateKind::Compound
            && let Some(c) = active.next()
            && matches!(self.node(c).kind, StateKind::Atomic | StateKind::Final)
        {
            return StateValue::Leaf(self.node(c).key.clone());
        }
        StateValue::Node(
            n.children
                .iter()
                .copied()
                .filter(|&c| self.active[c])
                .map(|c| (self.node(c).key.clone(), self.value(c)))
                .collect(),
        )
    }

    /// Restores the active states of a snapshot's value.
    fn load(&mut self, s: usize, value: &StateValue) -> Result<(), Violation> {
        self.active.set(s, true);
        let tree = self.tree;
        let n = &tree.nodes[s];
        let child = |key: &str| {
            n.children
                .iter()
                .copied()
                .find(|&c| tree.nodes[c].key == key)
        };
        let bad = |what: String| {
            Violation::config(format!(
                "Incompatible machine snapshot: ArvoMachine '{}' (version {}) {what} (value {value})",
                self.machine.id,
                self.machine.contract.version()
            ))
        };
        match (n.kind, value) {
            (StateKind::Compound, StateValue::Leaf(k)) => match child(k) {
                Some(c) if matches!(tree.nodes[c].kind, StateKind::Atomic | StateKind::Final) => {
                    self.active.set(c, true);
                    Ok(())
                }
                Some(_) => Err(bad(format!(
                    "has '{k}' under '{}' as a state with children, not a leaf",
                    n.display_path()
                ))),
                None => Err(bad(format!(
                    "has no state '{k}' under '{}'",
                    n.display_path()
                ))),
            },
            (StateKind::Compound, StateValue::Node(m)) if m.len() == 1 => {
                let Some((k, v)) = m.first() else {
                    return Ok(());
                };
                match child(k) {
                    Some(c) => self.load(c, v),
                    None => Err(bad(format!(
                        "has no state '{k}' under '{}'",
                        n.display_path()
                    ))),
                }
            }
            (StateKind::Parallel, StateValue::Node(m)) => {
                for (k, _) in m {
                    if child(k).is_none() {
                        return Err(bad(format!(
                            "has no region '{k}' under '{}'",
                            n.display_path()
                        )));
                    }
                }
                for &c in &n.children {
                    match m.get(&tree.nodes[c].key) {
                        Some(v) => self.load(c, v)?,
                        None => {
                            return Err(bad(format!(
                                "lacks region '{}' of parallel state '{}'",
                                tree.nodes[c].key,
                                n.display_path()
                            )));
                        }
                    }
                }
                Ok(())
            }
            (StateKind::Atomic | StateKind::Final, StateValue::Node(m)) if m.is_empty() => Ok(()),
            _ => Err(bad(format!(
                "cannot hold this value at '{}' ({:?} state)",
                n.display_path(),
                n.kind
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Bits;

    #[test]
    fn bits_set_and_clear_inline_and_on_the_heap() {
        for n in [1, 128, 129, 300] {
            let mut b = Bits::new(n);
            assert_eq!(matches!(b, Bits::Small(_)), n <= 128);
            for i in (0..n).step_by(3) {
                b.set(i, true);
            }
            b.set(n - 1, true);
            b.set(0, false);
            for i in 0..n {
                let expected = i != 0 && (i % 3 == 0 || i == n - 1);
                assert_eq!(b[i], expected, "n={n} i={i}");
            }
        }
    }
}
