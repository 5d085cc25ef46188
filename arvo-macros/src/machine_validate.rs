//! `#[arvo_machine]`, stage 2: the statechart's rules, checked on the model before anything is
//! generated, each mistake reported once at the user's token:
//! * every `parent = ..` and `target = ..` names a state of the machine; parents form a tree;
//! * one `initial` state at the top level and in every compound state; none among the regions
//!   of a parallel state;
//! * states nest at most [`arvo_rules::MAX_STATE_DEPTH`] levels deep;
//! * a final state has no children and no transitions;
//! * `#[on_done]` only on a compound or parallel state (one with child states);
//! * every event names a declared service (the variant itself is checked by the compiler, at
//!   the user's token, against the service version's emits enum);
//! * every guard and action names a `#[guard]` / `#[action]` method that fits where it is used
//!   (a method that takes the event's payload cannot run on entry, exit, `#[always]` or
//!   `#[on_done]`);
//! * no transition hidden behind an unguarded one for the same event, no unguarded `#[always]`
//!   back into its own state, no states that `#[always]` transitions leave for one another
//!   whatever their guards decide (they would never settle).

use crate::errors::Errors;
use crate::machine::{Callable, EventRef, Kind, Machine, State, Transition};
use proc_macro2::Span;
use std::collections::HashMap;
use syn::Ident;
use syn::spanned::Spanned as _;

/// The state tree: each state's parent index and children, once every parent is known.
pub struct Tree {
    /// Per state, its children's indices in declaration order.
    pub children: Vec<Vec<usize>>,
    /// The top-level states.
    pub roots: Vec<usize>,
}

fn names(states: &[State]) -> String {
    states
        .iter()
        .map(|s| format!("`{}`", s.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Resolves the parents; reports unknown, final and cyclic parents.
fn tree(m: &Machine, index: &HashMap<String, usize>, errors: &mut Errors) -> Tree {
    let n = m.states.len();
    let mut parent = vec![None; n];
    for (i, s) in m.states.iter().enumerate() {
        let Some(p) = &s.parent else { continue };
        match index.get(&crate::naming::text(p)) {
            None => errors.push(
                p.span(),
                format!(
                    "no state `{p}` in this machine; the states are {}",
                    names(&m.states)
                ),
            ),
            Some(&j) if j == i => {
                errors.push(p.span(), format!("`{p}` cannot be its own parent"));
            }
            Some(&j) if m.states[j].kind == Kind::Final => errors.push(
                p.span(),
                format!("`{p}` is a final state: a final state has no child states"),
            ),
            Some(&j) => parent[i] = Some(j),
        }
    }
    // A cycle of parents (a -> b -> a): reported once, at the first state of the cycle met.
    for i in 0..n {
        let mut at = parent[i];
        let mut steps = 0;
        while let Some(j) = at {
            if j == i || steps > n {
                break;
            }
            at = parent[j];
            steps += 1;
        }
        if at == Some(i) {
            if let Some(p) = &m.states[i].parent {
                errors.push(
                    p.span(),
                    format!(
                        "the parents of `{}` lead back to it: states form a tree",
                        m.states[i].name
                    ),
                );
            }
            // Break the cycle here so that later passes terminate.
            parent[i] = None;
        }
    }
    let mut children = vec![Vec::new(); n];
    let mut roots = Vec::new();
    for (i, p) in parent.iter().enumerate() {
        match p {
            Some(j) => children[*j].push(i),
            None if m.states[i].parent.is_none() => roots.push(i),
            None => {}
        }
    }
    Tree { children, roots }
}

/// States nested deeper than [`arvo_rules::MAX_STATE_DEPTH`] levels, which
/// `ArvoMachine::build` refuses: reported at the `parent = ..` of each state one level too
/// deep (not again at the states below it).
fn too_deep(m: &Machine, tree: &Tree, errors: &mut Errors) {
    // (state, its level) still to visit: a stack, not recursion, whatever the nesting.
    let mut todo: Vec<(usize, usize)> = tree.roots.iter().map(|&i| (i, 1)).collect();
    while let Some((i, depth)) = todo.pop() {
        if depth > arvo_rules::MAX_STATE_DEPTH {
            if let Some(p) = &m.states[i].parent {
                errors.push(
                    p.span(),
                    format!(
                        "`{}` is nested {depth} levels deep: a machine nests at most {} levels of states",
                        m.states[i].name,
                        arvo_rules::MAX_STATE_DEPTH
                    ),
                );
            }
            continue;
        }
        todo.extend(tree.children[i].iter().map(|&c| (c, depth + 1)));
    }
}

/// One `initial` among `group` (the top level, or a compound state's children).
fn one_initial(m: &Machine, group: &[usize], owner: Option<&State>, at: Span, errors: &mut Errors) {
    let initials: Vec<usize> = group
        .iter()
        .copied()
        .filter(|&i| m.states[i].initial.is_some())
        .collect();
    let scope = match owner {
        Some(o) => format!("the compound state `{}`", o.name),
        None => "the top level".to_owned(),
    };
    match initials.as_slice() {
        [] => {
            let hint = match owner {
                Some(o) => format!("`#[state(initial, parent = {})]`", o.name),
                None => "`#[state(initial)]`".to_owned(),
            };
            let group_names: Vec<State> = group.iter().map(|&i| m.states[i].clone()).collect();
            errors.push(
                at,
                format!(
                    "no initial state in {scope}: mark one of {} with {hint}",
                    names(&group_names)
                ),
            );
        }
        [_] => {}
        [first, rest @ ..] => {
            for &i in rest {
                if let Some(tok) = &m.states[i].initial {
                    errors.push(
                        tok.span(),
                        format!(
                            "two initial states in {scope}: `{}` and `{}`",
                            m.states[*first].name, m.states[i].name
                        ),
                    );
                }
            }
        }
    }
}

fn initials(m: &Machine, tree: &Tree, errors: &mut Errors) {
    if !tree.roots.is_empty() {
        one_initial(m, &tree.roots, None, m.item.self_ty.span(), errors);
    }
    for (i, s) in m.states.iter().enumerate() {
        let kids = &tree.children[i];
        if kids.is_empty() {
            continue;
        }
        match s.kind {
            Kind::Parallel => {
                for &k in kids {
                    if let Some(tok) = &m.states[k].initial {
                        errors.push(
                            tok.span(),
                            format!(
                                "`{}` is a region of the parallel state `{}`: every region is entered at once, so `initial` has no meaning here",
                                m.states[k].name, s.name
                            ),
                        );
                    }
                }
            }
            Kind::Normal => one_initial(m, kids, Some(s), s.name.span(), errors),
            // Reported with the parent.
            Kind::Final => {}
        }
    }
}

/// Where a guard or action runs: whether an event payload is there to pass.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Site {
    /// `#[on(service::Variant)]`, `#[on(service::SystemError)]`, `#[on(*)]`.
    Event,
    /// Entry, exit, `#[always]`, `#[on_done]`.
    NoEvent,
}

fn check_callable(
    used: &Ident,
    kind: &str,
    pool: &[Callable],
    other: (&str, &[Callable]),
    m: &Machine,
    site: Site,
    errors: &mut Errors,
) {
    let Some(c) = pool.iter().find(|c| &c.name == used) else {
        let a = |k: &str| if k.starts_with('a') { "an" } else { "a" };
        let what = if other.1.iter().any(|c| &c.name == used) {
            format!(
                "`{used}` is {} `#[{}]` method, not {} `#[{kind}]`",
                a(other.0),
                other.0,
                a(kind)
            )
        } else if m.states.iter().any(|s| &s.name == used) {
            format!("`{used}` is a state, not {} `#[{kind}]` method", a(kind))
        } else if pool.is_empty() {
            format!("no {kind} `{used}`: this impl block has no `#[{kind}]` method")
        } else {
            format!(
                "no {kind} `{used}`: the `#[{kind}]` methods are {}",
                pool.iter()
                    .map(|c| format!("`{}`", c.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        errors.push(used.span(), what);
        return;
    };
    // Guards (ctx, payload) and actions (cx, payload): the payload is the second parameter.
    if site == Site::NoEvent && c.arity >= 2 {
        errors.push(
            used.span(),
            format!(
                "`{used}` takes an event's payload, but it runs on entry, exit, `#[always]` or `#[on_done]`, where there is no event: use it in `#[on(..)]`, or drop its payload parameter"
            ),
        );
    }
}

fn check_transition(
    m: &Machine,
    t: &Transition,
    index: &HashMap<String, usize>,
    errors: &mut Errors,
) {
    if let Some(target) = &t.target
        && !index.contains_key(&crate::naming::text(target))
    {
        errors.push(
            target.span(),
            format!(
                "no state `{target}` in this machine; the states are {}",
                names(&m.states)
            ),
        );
    }
    if let Some(service) = t.event.as_ref().and_then(EventRef::service)
        && !m.services.iter().any(|s| &s.key == service)
    {
        let declared = if m.services.is_empty() {
            "no service is declared".to_owned()
        } else {
            format!(
                "the services are {}",
                m.services
                    .iter()
                    .map(|s| format!("`{}`", s.key))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        errors.push(
            service.span(),
            format!(
                "the machine cannot receive `{}`: no service `{service}` in `services(..)`; {declared}",
                t.event.as_ref().map(EventRef::label).unwrap_or_default()
            ),
        );
    }
    let site = if t.event.is_some() {
        Site::Event
    } else {
        Site::NoEvent
    };
    if let Some(g) = &t.guard {
        // A guard: (ctx) or (ctx, payload).
        check_callable(
            g,
            "guard",
            &m.guards,
            ("action", &m.actions),
            m,
            site,
            errors,
        );
    }
    for a in &t.actions {
        // An action: (), (cx) or (cx, payload).
        check_callable(
            a,
            "action",
            &m.actions,
            ("guard", &m.guards),
            m,
            site,
            errors,
        );
    }
}

/// Stage 2. Returns the state tree (used by the expansion) even when errors were reported.
pub fn validate(m: &Machine, errors: &mut Errors) -> Tree {
    let mut index = HashMap::new();
    for (i, s) in m.states.iter().enumerate() {
        index.insert(crate::naming::text(&s.name), i);
    }
    let tree = tree(m, &index, errors);
    too_deep(m, &tree, errors);
    initials(m, &tree, errors);
    for (i, s) in m.states.iter().enumerate() {
        if s.kind == Kind::Final {
            for t in s.on.iter().chain(&s.always).chain(&s.on_done) {
                errors.push(
                    t.span,
                    format!(
                        "`{}` is a final state: it has no transitions (a finished machine ignores events)",
                        s.name
                    ),
                );
            }
        }
        for a in s.entry.iter().chain(&s.exit) {
            check_callable(
                a,
                "action",
                &m.actions,
                ("guard", &m.guards),
                m,
                Site::NoEvent,
                errors,
            );
        }
        for (k, t) in s.on.iter().enumerate() {
            check_transition(m, t, &index, errors);
            // A later transition on the same event after an unguarded one is never taken.
            let label = t.event.as_ref().map(EventRef::label);
            if s.on[..k]
                .iter()
                .any(|e| e.guard.is_none() && e.event.as_ref().map(EventRef::label) == label)
            {
                errors.push(
                    t.span,
                    format!(
                        "never taken: an earlier `#[on({})]` of `{}` has no guard, and the first enabled transition wins",
                        label.unwrap_or_default(),
                        s.name
                    ),
                );
            }
        }
        for (k, t) in s.always.iter().enumerate() {
            check_transition(m, t, &index, errors);
            if t.guard.is_none() && t.target.as_ref() == Some(&s.name) {
                errors.push(
                    t.span,
                    format!(
                        "an `#[always]` transition without a guard back into `{}` never settles: add a `guard`",
                        s.name
                    ),
                );
            }
            if s.always[..k].iter().any(|e| e.guard.is_none()) {
                errors.push(
                    t.span,
                    format!(
                        "never taken: an earlier `#[always]` of `{}` has no guard, and the first enabled transition wins",
                        s.name
                    ),
                );
            }
        }
        // Only a state with child states is ever done (a final one is reported above).
        if s.kind == Kind::Final {
            continue;
        }
        for (k, t) in s.on_done.iter().enumerate() {
            check_transition(m, t, &index, errors);
            if tree.children[i].is_empty() {
                errors.push(
                    t.word,
                    format!(
                        "`{}` has no child states, so it is never done: `#[on_done]` goes on a compound state (taken when it reaches a final child) or a parallel state (taken when every region is final)",
                        s.name
                    ),
                );
            } else if s.on_done[..k].iter().any(|e| e.guard.is_none()) {
                errors.push(
                    t.span,
                    format!(
                        "never taken: an earlier `#[on_done]` of `{}` has no guard, and the first enabled transition wins",
                        s.name
                    ),
                );
            }
        }
    }
    if let Some(out) = m.output_fn.as_ref().map(|o| &o.name)
        && !tree.roots.iter().any(|&i| m.states[i].kind == Kind::Final)
    {
        errors.push(
            out.span(),
            "the `#[output]` is made when the machine reaches a top-level final state, and this machine has none: add `#[state(final)]`",
        );
    }
    // On a sound tree only (a wrong target or parent is reported above, once).
    if errors.is_empty() {
        eventless_loop(m, &tree, &index, errors);
    }
    tree
}

/// States that `#[always]` transitions leave for one another whatever their guards decide, as
/// the runtime's build check finds them (`ArvoMachine::build`, `EventlessLoop`, both through
/// [`arvo_rules::endless_loop`]): atomic states
/// outside parallel regions whose candidates (their own `#[always]`, then their ancestors',
/// up to the first without a guard) all settle in the set; reported at the first state's
/// unguarded transition. (A direct one, `#[always(target = itself)]`, was reported above, and
/// this check runs only when nothing was.)
fn eventless_loop(m: &Machine, tree: &Tree, index: &HashMap<String, usize>, errors: &mut Errors) {
    let n = m.states.len();
    let mut parent = vec![None; n];
    for (p, kids) in tree.children.iter().enumerate() {
        for &k in kids {
            parent[k] = Some(p);
        }
    }
    let in_parallel = |mut i: usize| {
        while let Some(p) = parent[i] {
            if m.states[p].kind == Kind::Parallel {
                return true;
            }
            i = p;
        }
        false
    };
    // The atomic state entering `s` settles in, if one.
    let settles_in = |mut s: usize| loop {
        match (m.states[s].kind, tree.children[s].is_empty()) {
            (Kind::Normal, true) => return Some(s),
            (Kind::Normal, false) => {
                s = *tree.children[s]
                    .iter()
                    .find(|&&k| m.states[k].initial.is_some())?;
            }
            _ => return None,
        }
    };
    // Where each state's eventless transitions can take it, and its first unguarded one.
    let mut ways: Vec<Option<Vec<usize>>> = vec![None; n];
    let mut unguarded: Vec<Option<&Transition>> = vec![None; n];
    for leaf in 0..n {
        if m.states[leaf].kind != Kind::Normal
            || !tree.children[leaf].is_empty()
            || in_parallel(leaf)
        {
            continue;
        }
        let mut to = Vec::new();
        let mut cur = Some(leaf);
        'up: while let Some(s) = cur {
            for t in &m.states[s].always {
                let settled = match &t.target {
                    None => Some(leaf),
                    Some(target) => index
                        .get(&crate::naming::text(target))
                        .and_then(|&j| settles_in(j)),
                };
                let Some(settled) = settled else { break 'up };
                to.push(settled);
                if t.guard.is_none() {
                    ways[leaf] = Some(to);
                    unguarded[leaf] = Some(t);
                    break 'up;
                }
            }
            cur = parent[s];
        }
    }
    let Some(cycle) = arvo_rules::endless_loop(&ways) else {
        return;
    };
    let Some(t) = cycle.first().and_then(|&first| unguarded[first]) else {
        return;
    };
    let names: Vec<String> = cycle
        .iter()
        .map(|&i| format!("`{}`", crate::naming::text(&m.states[i].name)))
        .collect();
    errors.push(
        t.word,
        format!(
            "these `#[always]` transitions loop whatever their guards decide, so the machine never settles: {}; give one of them a guard, or a target that waits for an event",
            names.join(" -> ")
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine;
    use proc_macro2::TokenStream;
    use quote::quote;
    use syn::ItemImpl;

    fn errors_of(args: TokenStream, item: TokenStream) -> Vec<String> {
        let mut errors = Errors::default();
        let mut item: ItemImpl = syn::parse2(item).unwrap_or_else(|e| panic!("{e}"));
        if let Some(m) = machine::parse(args, &mut item, &mut errors) {
            validate(&m, &mut errors);
        }
        errors
            .into_error()
            .map(|e| e.into_iter().map(|e| e.to_string()).collect())
            .unwrap_or_default()
    }

    fn args() -> TokenStream {
        quote!(
            contract = a::Flow,
            version = "1.0.0",
            context = Ctx,
            services(inventory = a::InvV1_0_0, pay = a::PayV1_0_0)
        )
    }

    #[test]
    fn model_of_a_valid_machine() {
        let mut errors = Errors::default();
        let mut item: ItemImpl = syn::parse_quote! {
            impl M {
                #[context] fn start(&self, i: &I) -> Ctx { todo!() }
                #[output] fn out(&self, c: &Ctx) -> O { todo!() }
                #[state(initial, entry(log))]
                #[on(inventory::Success, target = paying, guard = small, actions(keep))]
                #[on(inventory::Success, target = review)]
                #[on(inventory::SystemError, target = failed)]
                fn reserving(&self, cx: &mut MAction<'_>) {}
                #[state(parallel)] fn review(&self) {}
                #[state(parent = review)] fn left(&self) {}
                #[state(parent = review)] #[on(*, actions(log))] fn right(&self) {}
                #[state] #[always(target = done, guard = ready)] fn paying(&self) {}
                #[state(final)] fn done(&self) {}
                #[state(final)] fn failed(&self) {}
                #[guard] fn small(&self, c: &Ctx, p: &P) -> bool { true }
                #[guard] fn ready(&self, c: &Ctx) -> bool { true }
                #[action] fn keep(&self, cx: &mut X, p: &P) {}
                #[action] fn log(&self) {}
                fn helper(&self) {}
            }
        };
        let m =
            machine::parse(args(), &mut item, &mut errors).unwrap_or_else(|| panic!("no model"));
        let tree = validate(&m, &mut errors);
        assert!(errors.is_empty());
        assert_eq!(m.states.len(), 7);
        assert_eq!(m.states[0].on.len(), 3);
        assert!(m.states[0].body_takes_cx);
        assert_eq!(m.states[1].kind, Kind::Parallel);
        assert_eq!(tree.children[1], [2, 3]);
        assert_eq!(tree.roots, [0, 1, 4, 5, 6]);
        assert_eq!(m.id, "M");
        let marker = &m.marker;
        assert_eq!(quote!(#marker).to_string(), "a :: FlowV1_0_0");
        assert!(matches!(
            m.states[0].on[2].event,
            Some(EventRef::SystemError { .. })
        ));
        assert!(matches!(m.states[3].on[0].event, Some(EventRef::Any)));
        // The machine attributes are gone; the other methods stay.
        assert_eq!(m.item.items.len(), 14);
        assert!(m.item.items.iter().all(|i| match i {
            syn::ImplItem::Fn(f) => f.attrs.is_empty(),
            _ => true,
        }));
    }

    #[test]
    fn statechart_mistakes_each_once() {
        let errs = errors_of(
            args(),
            quote! {
                impl M {
                    #[context] fn start(&self, i: &I) -> Ctx { todo!() }
                    #[state(initial)]
                    #[on(inventory::Success, target = payng)]
                    #[on(invntory::Success, target = done)]
                    #[on(pay::SystemError, target = done, guard = nope, actions(done))]
                    fn a(&self) {}
                    #[state(initial)] fn b(&self) {}
                    #[state(final)] #[on(*, target = a)] fn done(&self) {}
                    #[state(parent = done)] fn c(&self) {}
                    #[state(parent = ghost)] fn d(&self) {}
                }
            },
        );
        assert_eq!(
            errs,
            [
                "`done` is a final state: a final state has no child states",
                "no state `ghost` in this machine; the states are `a`, `b`, `done`, `c`, `d`",
                "two initial states in the top level: `a` and `b`",
                "no state `payng` in this machine; the states are `a`, `b`, `done`, `c`, `d`",
                "the machine cannot receive `invntory::Success`: no service `invntory` in `services(..)`; the services are `inventory`, `pay`",
                "no guard `nope`: this impl block has no `#[guard]` method",
                "`done` is a state, not an `#[action]` method",
                "`done` is a final state: it has no transitions (a finished machine ignores events)",
            ]
        );
    }

    #[test]
    fn on_done_rules() {
        let errs = errors_of(
            args(),
            quote! {
                impl M {
                    #[context] fn start(&self, i: &I) -> Ctx { todo!() }
                    #[output] fn out(&self, c: &Ctx) -> O { todo!() }
                    #[state(initial)]
                    #[on_done(target = end, actions(log))]
                    #[on_done(target = end)]
                    #[on_done(target = nowhere)]
                    fn top(&self) {}
                    #[state(parent = top, initial)]
                    #[on_done(target = end)]
                    fn inner(&self) {}
                    #[state(parent = top, final)] fn inner_done(&self) {}
                    #[state(final)]
                    #[on_done(target = top)]
                    fn end(&self) {}
                    #[state] #[on_done] fn bare(&self) {}
                    #[action] fn log(&self, cx: &mut A, p: &P) {}
                }
            },
        );
        assert_eq!(
            errs,
            [
                "`#[on_done]` needs what to do: `#[on_done(target = state, guard = g)]`",
                "`log` takes an event's payload, but it runs on entry, exit, `#[always]` or `#[on_done]`, where there is no event: use it in `#[on(..)]`, or drop its payload parameter",
                "never taken: an earlier `#[on_done]` of `top` has no guard, and the first enabled transition wins",
                "no state `nowhere` in this machine; the states are `top`, `inner`, `inner_done`, `end`, `bare`",
                "never taken: an earlier `#[on_done]` of `top` has no guard, and the first enabled transition wins",
                "`inner` has no child states, so it is never done: `#[on_done]` goes on a compound state (taken when it reaches a final child) or a parallel state (taken when every region is final)",
                "`end` is a final state: it has no transitions (a finished machine ignores events)",
            ]
        );
    }

    #[test]
    fn compound_parallel_and_final_rules() {
        let errs = errors_of(
            args(),
            quote! {
                impl M {
                    #[context] fn start(&self, i: &I) -> Ctx { todo!() }
                    #[output] fn out(&self, c: &Ctx) -> O { todo!() }
                    #[state(initial)] fn top(&self) {}
                    #[state(parent = top)] fn x(&self) {}
                    #[state(parent = top)] fn y(&self) {}
                    #[state(parallel)] fn par(&self) {}
                    #[state(parent = par, initial)] fn r1(&self) {}
                    #[state(parallel, final)] fn both(&self) {}
                    #[state(parent = loop2)] fn loop1(&self) {}
                    #[state(parent = loop1)] fn loop2(&self) {}
                }
            },
        );
        assert_eq!(
            errs,
            [
                "a state is `parallel` or `final`, not both",
                "the parents of `loop1` lead back to it: states form a tree",
                "no initial state in the compound state `top`: mark one of `x`, `y` with `#[state(initial, parent = top)]`",
                "`r1` is a region of the parallel state `par`: every region is entered at once, so `initial` has no meaning here",
                "no initial state in the compound state `loop1`: mark one of `loop2` with `#[state(initial, parent = loop1)]`",
                "the `#[output]` is made when the machine reaches a top-level final state, and this machine has none: add `#[state(final)]`",
            ]
        );
    }

    #[test]
    fn guards_actions_and_dead_transitions() {
        let errs = errors_of(
            args(),
            quote! {
                impl M {
                    #[context] fn start(&self, i: &I) -> Ctx { todo!() }
                    #[state(initial, entry(keep), exit(g))]
                    #[on(inventory::Success, target = b)]
                    #[on(inventory::Success, target = a)]
                    #[always(target = a)]
                    #[always(target = b, guard = g)]
                    fn a(&self) {}
                    #[state] #[always(target = a, guard = g2)] fn b(&self) {}
                    #[guard] fn g(&self, c: &Ctx) -> bool { true }
                    #[guard] fn g2(&self, c: &Ctx, p: &P) -> bool { true }
                    #[action] fn keep(&self, cx: &mut X, p: &P) {}
                }
            },
        );
        assert_eq!(
            errs,
            [
                "`keep` takes an event's payload, but it runs on entry, exit, `#[always]` or `#[on_done]`, where there is no event: use it in `#[on(..)]`, or drop its payload parameter",
                "`g` is a `#[guard]` method, not an `#[action]`",
                "never taken: an earlier `#[on(inventory::Success)]` of `a` has no guard, and the first enabled transition wins",
                "an `#[always]` transition without a guard back into `a` never settles: add a `guard`",
                "never taken: an earlier `#[always]` of `a` has no guard, and the first enabled transition wins",
                "`g2` takes an event's payload, but it runs on entry, exit, `#[always]` or `#[on_done]`, where there is no event: use it in `#[on(..)]`, or drop its payload parameter",
            ]
        );
    }

    #[test]
    fn syntax_errors_each_once() {
        let errs = errors_of(
            quote!(
                contract = Flow,
                version = "1.0",
                context = C,
                colour = 1,
                version = "2.0.0"
            ),
            quote! {
                impl M {
                    #[context] fn a(&self, i: &I) -> Ctx { todo!() }
                    #[context] fn b(&self, i: &I) -> Ctx { todo!() }
                    #[state(initial, initial, sleepy)]
                    #[on(target = x)]
                    #[on(a::b::c, target = x)]
                    #[on(inventory::Success)]
                    fn s(&self, x: u8, y: u8) {}
                    #[guard] #[action] fn g(&self, c: &Ctx) -> bool { true }
                    #[on(*, target = s)] fn loose(&self) {}
                    #[action] fn bad(self) {}
                }
            },
        );
        assert_eq!(
            errs,
            [
                "unknown key `colour`; expected one of `contract`, `version`, `context`, `services`, `id`, `crate`",
                "`version` set multiple times",
                "invalid version `1.0`: expected `major.minor.patch`, e.g. `1.0.0`",
                "two `#[context]` methods; a machine has one",
                "`initial` set multiple times",
                "unknown state key `sleepy`; expected one of `initial`, `parallel`, `final`, `parent`, `entry`, `exit`",
                "expected the event first: `service::Variant` (one of the service's emitted events), `service::SystemError` or `*`",
                "an event is `service::Variant` (a variant of the service version's emits enum), `service::SystemError` or `*`",
                "this transition does nothing: give it a `target = state` and/or `actions(..)`",
                "a state method runs on entry and takes `&self` and at most the action context: `fn s(&self, cx: &mut <Name>Action<'_>)`",
                "`g` is already a `#[guard]` method; a method has one role",
                "transitions belong to a state: add `#[state]` to `loose`, or move them to a `#[state]` method",
                "an action method takes `&self`: `fn bad(&self, ..)`",
            ]
        );
    }

    #[test]
    fn missing_keys_and_states() {
        let errs = errors_of(quote!(), quote!(impl M {}));
        assert_eq!(
            errs,
            [
                "missing `contract = <orchestrator contract>`, e.g. `contract = OrderProcess`",
                "missing `version = \"x.y.z\"`: the version of the orchestrator contract this machine implements",
                "missing `context = <type>`: the machine's context (serde, `Clone`), e.g. `context = OrderContext`",
                "no `#[context]` method: the machine's context is made from the init payload by `#[context] fn start(&self, init: &Init) -> Context`",
                "no `#[state]` method: a machine has at least one state (`#[state(initial)] fn idle(&self) {}`)",
            ]
        );
    }
}
