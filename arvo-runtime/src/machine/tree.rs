//! The compiled state tree (preorder arena) and the build-time checks that produce it.

use std::collections::{HashMap, HashSet};

use arvo_rules::MAX_STATE_DEPTH;

use super::error::MachineBuildError;
use super::model::{Action, Guard, StateBuilder, StateKind, Transition};

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

/// The states by id and by dotted path, for resolving targets while the tree is built.
struct Index {
    ids: HashMap<String, usize>,
    paths: HashMap<String, usize>,
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

    /// The state `target` names, seen from state `from`: `#id`, a sibling's dotted path, or
    /// (after a leading `.`) a child's. A hash lookup each, so that building a machine stays
    /// linear in its transitions however many states it has.
    fn resolve(&self, index: &Index, from: usize, target: &str) -> Option<usize> {
        if let Some(id) = target.strip_prefix('#') {
            return index.ids.get(id).copied();
        }
        let (base, rest) = match target.strip_prefix('.') {
            Some(rest) => (from, rest),
            None => (self.nodes[from].parent.unwrap_or(from), target),
        };
        // Keys hold no `.`, so a dotted path below `base` is `base`'s path, `.`, and `rest`.
        let base = &self.nodes[base].path;
        let path = if base.is_empty() {
            rest.to_owned()
        } else {
            format!("{base}.{rest}")
        };
        index.paths.get(&path).copied()
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
        tree.flatten(machine, String::new(), None, root, &mut pending, 0)?;
        if tree.nodes[0].children.is_empty() {
            return Err(MachineBuildError::NoStates {
                machine: machine.to_owned(),
            });
        }
        // Ids are unique.
        let mut index = Index {
            ids: HashMap::with_capacity(tree.nodes.len()),
            paths: HashMap::with_capacity(tree.nodes.len()),
        };
        for (i, n) in tree.nodes.iter().enumerate() {
            if let Some(&j) = index.ids.get(n.id.as_str()) {
                return Err(MachineBuildError::DuplicateId {
                    machine: machine.to_owned(),
                    id: n.id.clone(),
                    first: tree.nodes[j].display_path().to_owned(),
                    second: n.display_path().to_owned(),
                });
            }
            index.ids.insert(n.id.clone(), i);
            index.paths.insert(n.path.clone(), i);
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
                let compiled = tree.compile(&index, machine, p.node, Some(event.clone()), t)?;
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
                always.push(tree.compile(&index, machine, p.node, None, t)?);
            }
            if !p.done.is_empty() && !matches!(kind, StateKind::Compound | StateKind::Parallel) {
                return Err(MachineBuildError::DoneWithoutChildren {
                    machine: machine.to_owned(),
                    state,
                });
            }
            let mut done = Vec::with_capacity(p.done.len());
            for t in p.done {
                done.push(tree.compile(&index, machine, p.node, Some(DONE_EVENT.to_owned()), t)?);
            }
            let n = &mut tree.nodes[p.node];
            n.on = on;
            n.any = any;
            n.always = always;
            n.done = done;
        }
        if let Some(cycle) = tree.eventless_loop() {
            return Err(MachineBuildError::EventlessLoop {
                machine: machine.to_owned(),
                states: cycle
                    .iter()
                    .map(|&i| tree.nodes[i].display_path())
                    .collect::<Vec<_>>()
                    .join(" -> "),
            });
        }
        Ok(tree)
    }

    /// The atomic state entering `target` settles in, when that is one state: through the
    /// initial children of compound states. `None` for a final state (the machine or its
    /// parent is done) and for a parallel state (several states are entered).
    fn settles_in(&self, mut target: usize) -> Option<usize> {
        loop {
            let n = &self.nodes[target];
            match n.kind {
                StateKind::Atomic => return Some(target),
                StateKind::Compound => target = n.initial?,
                StateKind::Final | StateKind::Parallel => return None,
            }
        }
    }

    /// A cycle of atomic states that eventless transitions leave for one another whatever the
    /// guards decide, so that a machine entering one never settles: each state has an
    /// unguarded `always` transition (its own or an ancestor's, innermost first, as the engine
    /// looks for them), and every candidate up to the first unguarded one leads to a state of
    /// the cycle (a transition without a target stays where it is). States inside parallel
    /// regions are left out (several states are active there), as are guarded loops, which
    /// the engine stops after `MAX_EVENTLESS_STEPS`. The loop itself is found by
    /// [`arvo_rules::endless_loop`], the rule `#[arvo_machine]` applies too.
    fn eventless_loop(&self) -> Option<Vec<usize>> {
        let in_parallel = |mut i: usize| {
            while let Some(p) = self.nodes[i].parent {
                if self.nodes[p].kind == StateKind::Parallel {
                    return true;
                }
                i = p;
            }
            false
        };
        // Each candidate state and where its eventless transitions can take it.
        let mut ways: Vec<Option<Vec<usize>>> = vec![None; self.nodes.len()];
        for (leaf, n) in self.nodes.iter().enumerate() {
            if n.kind != StateKind::Atomic || in_parallel(leaf) {
                continue;
            }
            let mut to = Vec::new();
            let mut cur = Some(leaf);
            'up: while let Some(s) = cur {
                for t in &self.nodes[s].always {
                    let settled = match t.targets.as_slice() {
                        [] => Some(leaf),
                        [one] => self.settles_in(*one),
                        _ => None,
                    };
                    let Some(settled) = settled else { break 'up };
                    to.push(settled);
                    if t.guard.is_none() {
                        ways[leaf] = Some(to);
                        break 'up;
                    }
                }
                cur = self.nodes[s].parent;
            }
        }
        arvo_rules::endless_loop(&ways)
    }

    fn compile(
        &self,
        index: &Index,
        machine: &str,
        from: usize,
        event: Option<String>,
        t: Transition<C>,
    ) -> Result<Trans<C>, MachineBuildError> {
        let mut targets = Vec::with_capacity(t.targets.len());
        let ev = || event.clone().unwrap_or_else(|| "always".to_owned());
        for name in &t.targets {
            // The root is never a target: leaving it would leave no state active.
            match self.resolve(index, from, name).filter(|&i| i != 0) {
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

    /// Appends state `key` (defined by `b`) and, depth first, its descendants, at level
    /// `depth` (0 for the root): the recursion is at most [`MAX_STATE_DEPTH`] calls deep,
    /// whatever the definition.
    fn flatten(
        &mut self,
        machine: &str,
        key: String,
        parent: Option<usize>,
        mut b: StateBuilder<C>,
        pending: &mut Vec<Pending<C>>,
        depth: usize,
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
        let id = b.id.take().unwrap_or_else(|| {
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
            entry: std::mem::take(&mut b.entry),
            exit: std::mem::take(&mut b.exit),
            on: Vec::new(),
            any: Vec::new(),
            always: Vec::new(),
            done: Vec::new(),
            description: b.description.take(),
        });
        pending.push(Pending {
            node: index,
            on: std::mem::take(&mut b.on),
            always: std::mem::take(&mut b.always),
            done: std::mem::take(&mut b.done),
            initial: b.initial.take(),
        });
        let kids = std::mem::take(&mut b.children);
        let mut children = Vec::with_capacity(kids.len());
        let mut keys: HashSet<String> = HashSet::with_capacity(kids.len());
        for (k, child) in kids {
            if k.is_empty() || k.contains(['.', '#', '*']) {
                return Err(MachineBuildError::InvalidStateKey {
                    machine: machine.to_owned(),
                    state: display,
                    key: k,
                });
            }
            if !keys.insert(k.clone()) {
                return Err(MachineBuildError::DuplicateState {
                    machine: machine.to_owned(),
                    state: display,
                    key: k,
                });
            }
            if depth + 1 > MAX_STATE_DEPTH {
                return Err(MachineBuildError::TooDeep {
                    machine: machine.to_owned(),
                    state: display,
                    key: k,
                    depth: depth + 1,
                    limit: MAX_STATE_DEPTH,
                });
            }
            let c = self.flatten(machine, k, Some(index), child, pending, depth + 1)?;
            children.push(c);
        }
        let end = self.nodes.len() - 1;
        let n = &mut self.nodes[index];
        n.children = children;
        n.end = end;
        Ok(index)
    }
}
