//! `#[arvo_machine]`, stage 1: the attribute arguments and the `impl` block -> a typed model
//! ([`Machine`]), with every syntax error collected at its own span. Stage 2 (the statechart's
//! rules: targets, initial states, parallel/final use, guard and action names) is
//! [`crate::machine_validate`]; stage 3 is [`crate::machine_expand`].
//!
//! ```text
//! #[arvo_machine(contract = OrderProcess, version = "1.0.0", context = OrderContext,
//!                services(inventory = InventoryReserveV1_0_0, payment = PaymentFlowV1_0_0))]
//! impl OrderMachine {
//!     #[context] fn start(&self, order: &Order) -> OrderContext { .. }
//!     #[output]  fn result(&self, ctx: &OrderContext) -> OrderResult { .. }
//!
//!     #[state(initial)]                       // the body runs on entry
//!     #[on(inventory::Success, target = paying, guard = small, actions(keep))]
//!     #[on(inventory::SystemError, target = failed)]
//!     fn reserving(&self, cx: &mut OrderMachineAction<'_>) { .. }
//!
//!     #[state(final)] fn failed(&self) {}
//!     #[state] #[on_done(target = shipped)] fn delivery(&self) {} // compound: done at a final child
//!     #[guard]  fn small(&self, ctx: &OrderContext, reserved: &Reservation) -> bool { .. }
//!     #[action] fn keep(&self, cx: &mut OrderMachineAction<'_>, reserved: &Reservation) { .. }
//! }
//! ```

use crate::args::{Key, Service, marker, parse_args, self_name, set_once, skip_value};
use crate::errors::Errors;
use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::parse::{Parse as _, ParseStream, Parser as _};
use syn::spanned::Spanned as _;
use syn::{Attribute, Ident, ImplItem, ImplItemFn, ItemImpl, LitStr, Path, Token, Type};

/// What a state is (XState's `type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Atomic, or compound when it has children.
    Normal,
    /// `#[state(parallel)]`: every child is a region, all active at once.
    Parallel,
    /// `#[state(final)]`.
    Final,
}

/// The event of an `#[on(..)]` transition.
#[derive(Clone)]
pub enum EventRef {
    /// `*`: any event.
    Any,
    /// `key::Variant`: one emitted event of a declared service.
    Emitted {
        /// The service key.
        service: Ident,
        /// The variant of the service version's emits enum.
        variant: Ident,
    },
    /// `key::SystemError`: the service's `sys.<type>.error`.
    SystemError {
        /// The service key.
        service: Ident,
        /// The `SystemError` token.
        token: Ident,
    },
}

impl EventRef {
    /// The service key, if any.
    pub fn service(&self) -> Option<&Ident> {
        match self {
            EventRef::Any => None,
            EventRef::Emitted { service, .. } | EventRef::SystemError { service, .. } => {
                Some(service)
            }
        }
    }

    /// As written, for messages and diagrams (`inventory::Success`, `*`).
    pub fn label(&self) -> String {
        match self {
            EventRef::Any => "*".to_owned(),
            EventRef::Emitted { service, variant } => format!("{service}::{variant}"),
            EventRef::SystemError { service, token } => format!("{service}::{token}"),
        }
    }
}

/// One transition: `#[on(event, target = .., guard = .., actions(..))]`, `#[always(..)]` or
/// `#[on_done(..)]`.
#[derive(Clone)]
pub struct Transition {
    /// The event (`None` for `#[always]` and `#[on_done]`).
    pub event: Option<EventRef>,
    /// The target state (`None`: stay, run the actions only).
    pub target: Option<Ident>,
    /// The guard method.
    pub guard: Option<Ident>,
    /// The action methods, in order.
    pub actions: Vec<Ident>,
    /// The attribute (for errors about the whole transition).
    pub span: Span,
    /// Its name (`on`, `always`, `on_done`), for errors about where it is used.
    pub word: Span,
}

/// One `#[state(..)]` method.
#[derive(Clone)]
pub struct State {
    /// The method's name: the state's name.
    pub name: Ident,
    /// Its kind.
    pub kind: Kind,
    /// The `parallel` / `final` token.
    pub kind_token: Option<Ident>,
    /// The `initial` token, when the state is the initial child of its parent (or the machine).
    pub initial: Option<Ident>,
    /// `parent = x`.
    pub parent: Option<Ident>,
    /// Whether the method takes the action context (`fn s(&self, cx: &mut ..)`) or not.
    pub body_takes_cx: bool,
    /// Whether the method returns a `Result`.
    pub body_fallible: bool,
    /// More entry actions (after the body), in order.
    pub entry: Vec<Ident>,
    /// Exit actions, in order.
    pub exit: Vec<Ident>,
    /// `#[on]` transitions, in declaration order (first enabled wins per event).
    pub on: Vec<Transition>,
    /// `#[always]` transitions, in declaration order.
    pub always: Vec<Transition>,
    /// `#[on_done]` transitions (XState's `onDone`: a compound state reached a final child, or
    /// every region of a parallel state is final), in declaration order.
    pub on_done: Vec<Transition>,
}

/// A `#[guard]` or `#[action]` method: its name and parameters after `&self`.
#[derive(Clone)]
pub struct Callable {
    /// The method's name.
    pub name: Ident,
    /// Its parameters after `&self`.
    pub arity: usize,
    /// Whether it returns a `Result` (else `()` for actions, `bool` for guards).
    pub fallible: bool,
}

/// The `#[context]` or `#[output]` method.
#[derive(Clone)]
pub struct Method {
    /// The method's name.
    pub name: Ident,
    /// Whether it returns a `Result`.
    pub fallible: bool,
}

/// Whether `f` returns a `Result<..>` (by the last segment of its return type's path): such a
/// method's error becomes the step's error.
fn fallible(f: &ImplItemFn) -> bool {
    match &f.sig.output {
        syn::ReturnType::Type(_, ty) => match &**ty {
            Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Result"),
            _ => false,
        },
        syn::ReturnType::Default => false,
    }
}

/// The model of one `#[arvo_machine]`.
pub struct Machine {
    /// The impl block, the machine attributes removed.
    pub item: ItemImpl,
    /// The self type's name (`OrderMachine`).
    pub name: Ident,
    /// The self contract (`OrderProcess`).
    pub contract: Path,
    /// The version literal.
    pub version: LitStr,
    /// The marker of the self contract's version (`OrderProcessV1_0_0`), spanned at the literal.
    pub marker: Path,
    /// The context type.
    pub context: Type,
    /// The services, in declaration order.
    pub services: Vec<Service>,
    /// The machine's id (`id = ".."`, default the type's name).
    pub id: String,
    /// The `#[context]` method.
    pub context_fn: Option<Method>,
    /// The `#[output]` method.
    pub output_fn: Option<Method>,
    /// The states, in declaration order.
    pub states: Vec<State>,
    /// The `#[guard]` methods.
    pub guards: Vec<Callable>,
    /// The `#[action]` methods.
    pub actions: Vec<Callable>,
    /// Where the runtime is (default `::arvo_runtime`).
    pub krate: Path,
}

const KEYS: &[Key] = &[
    Key::Contract,
    Key::Version,
    Key::Context,
    Key::Services,
    Key::Id,
    Key::Crate,
];

/// `a` or `(a, b)` after a key: one method name or a list.
fn ident_list(meta: &ParseNestedMeta<'_>) -> syn::Result<Vec<Ident>> {
    if meta.input.peek(Token![=]) {
        return Ok(vec![meta.value()?.parse()?]);
    }
    let content;
    syn::parenthesized!(content in meta.input);
    let list = content.parse_terminated(Ident::parse, Token![,])?;
    Ok(list.into_iter().collect())
}

/// The methods' roles, read from their attributes.
enum Role {
    State(Box<State>),
    Guard,
    Action,
    Context,
    Output,
}

const STATE_KEYS: &str = "`initial`, `parallel`, `final`, `parent`, `entry`, `exit`";
const ON_KEYS: &str = "`target`, `guard`, `actions`";

fn parse_state(attr: &Attribute, name: &Ident, errors: &mut Errors) -> State {
    let mut state = State {
        name: name.clone(),
        kind: Kind::Normal,
        kind_token: None,
        initial: None,
        parent: None,
        body_takes_cx: false,
        body_fallible: false,
        entry: Vec::new(),
        exit: Vec::new(),
        on: Vec::new(),
        always: Vec::new(),
        on_done: Vec::new(),
    };
    // `#[state]` alone is an atomic (or compound) state.
    if matches!(attr.meta, syn::Meta::Path(_)) {
        return state;
    }
    let mut parent: Option<Ident> = None;
    let mut entry: Option<Vec<Ident>> = None;
    let mut exit: Option<Vec<Ident>> = None;
    let result = attr.parse_nested_meta(|meta| {
        let Some(key) = meta.path.get_ident().cloned() else {
            errors.push(
                meta.path.span(),
                format!("unknown state key; expected one of {STATE_KEYS}"),
            );
            return skip_value(&meta);
        };
        let flag = |state: &mut State, errors: &mut Errors, kind: Kind| {
            if let Some(prev) = &state.kind_token {
                if prev == &key {
                    errors.push(key.span(), format!("`{key}` set multiple times"));
                } else {
                    errors.push(
                        key.span(),
                        format!("a state is `{prev}` or `{key}`, not both"),
                    );
                }
            } else {
                state.kind = kind;
                state.kind_token = Some(key.clone());
            }
        };
        match key.to_string().as_str() {
            "initial" => {
                if state.initial.is_some() {
                    errors.push(key.span(), "`initial` set multiple times");
                } else {
                    state.initial = Some(key.clone());
                }
            }
            "parallel" => flag(&mut state, errors, Kind::Parallel),
            "final" => flag(&mut state, errors, Kind::Final),
            "parent" => {
                let p: Ident = meta.value()?.parse()?;
                set_once(&mut parent, p, &key, errors);
            }
            "entry" => set_once(&mut entry, ident_list(&meta)?, &key, errors),
            "exit" => set_once(&mut exit, ident_list(&meta)?, &key, errors),
            other => {
                errors.push(
                    key.span(),
                    format!("unknown state key `{other}`; expected one of {STATE_KEYS}"),
                );
                return skip_value(&meta);
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        errors.add(e);
    }
    state.parent = parent;
    state.entry = entry.unwrap_or_default();
    state.exit = exit.unwrap_or_default();
    state
}

/// The event of `#[on(..)]`: `*`, `key::Variant` or `key::SystemError`.
fn parse_event(input: ParseStream<'_>) -> syn::Result<EventRef> {
    if input.peek(Token![*]) {
        input.parse::<Token![*]>()?;
        return Ok(EventRef::Any);
    }
    let path: Path = input.parse().map_err(|e| {
        syn::Error::new(
            e.span(),
            "expected the event first: `service::Variant` (one of the service's emitted events), `service::SystemError` or `*`",
        )
    })?;
    if input.peek(Token![=]) {
        return Err(syn::Error::new(
            path.span(),
            "expected the event first: `service::Variant` (one of the service's emitted events), `service::SystemError` or `*`",
        ));
    }
    let segments: Vec<_> = path.segments.iter().collect();
    if path.leading_colon.is_some()
        || segments.len() != 2
        || segments.iter().any(|s| !s.arguments.is_none())
    {
        return Err(syn::Error::new(
            path.span(),
            "an event is `service::Variant` (a variant of the service version's emits enum), `service::SystemError` or `*`",
        ));
    }
    let service = segments[0].ident.clone();
    let variant = segments[1].ident.clone();
    if variant == "SystemError" {
        Ok(EventRef::SystemError {
            service,
            token: variant,
        })
    } else {
        Ok(EventRef::Emitted { service, variant })
    }
}

/// `#[on(event, target = .., guard = .., actions(..))]`, `#[always(target = .., ..)]` or
/// `#[on_done(target = .., ..)]`.
fn parse_transition(attr: &Attribute, with_event: bool, errors: &mut Errors) -> Option<Transition> {
    let span = attr.span();
    let syn::Meta::List(list) = &attr.meta else {
        let msg = if with_event {
            "`#[on]` needs the event and what to do: `#[on(service::Variant, target = state)]`"
        } else if attr.path().is_ident("on_done") {
            "`#[on_done]` needs what to do: `#[on_done(target = state, guard = g)]`"
        } else {
            "`#[always]` needs what to do: `#[always(target = state, guard = g)]`"
        };
        errors.push(span, msg);
        return None;
    };
    let (event, rest) = if with_event {
        let parsed = (|input: ParseStream<'_>| {
            let event = parse_event(input)?;
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
            let rest: TokenStream = input.parse()?;
            Ok((event, rest))
        })
        .parse2(list.tokens.clone());
        match parsed {
            Ok((event, rest)) => (Some(event), rest),
            Err(e) => {
                errors.add(e);
                return None;
            }
        }
    } else {
        (None, list.tokens.clone())
    };
    let mut target: Option<Ident> = None;
    let mut guard: Option<Ident> = None;
    let mut actions: Option<Vec<Ident>> = None;
    let parser = syn::meta::parser(|meta| {
        let Some(key) = meta.path.get_ident().cloned() else {
            errors.push(
                meta.path.span(),
                format!("unknown transition key; expected one of {ON_KEYS}"),
            );
            return skip_value(&meta);
        };
        match key.to_string().as_str() {
            "target" => {
                let t: Ident = meta.value()?.parse()?;
                set_once(&mut target, t, &key, errors);
            }
            "guard" => {
                let g: Ident = meta.value()?.parse()?;
                set_once(&mut guard, g, &key, errors);
            }
            "actions" => set_once(&mut actions, ident_list(&meta)?, &key, errors),
            other => {
                errors.push(
                    key.span(),
                    format!("unknown transition key `{other}`; expected one of {ON_KEYS}"),
                );
                return skip_value(&meta);
            }
        }
        Ok(())
    });
    if let Err(e) = parser.parse2(rest) {
        errors.add(e);
        return None;
    }
    let actions = actions.unwrap_or_default();
    if target.is_none() && actions.is_empty() {
        errors.push(
            span,
            "this transition does nothing: give it a `target = state` and/or `actions(..)`",
        );
        return None;
    }
    Some(Transition {
        event,
        target,
        guard,
        actions,
        span,
        word: attr.path().span(),
    })
}

/// Parameters after `&self`; `None` (reported) when there is no `&self`.
fn arity(f: &ImplItemFn, what: &str, errors: &mut Errors) -> Option<usize> {
    let article = if what.starts_with(['a', 'o']) {
        "an"
    } else {
        "a"
    };
    // Reported, and the method still counts as what it is (no "no guard `x`" after it).
    crate::args::not_unsafe(&f.sig, &format!("{article} {what} method"), errors);
    match f.sig.receiver() {
        Some(syn::Receiver {
            kind: syn::ReceiverKind::Reference(_, _, None),
            ..
        }) => Some(f.sig.inputs.len() - 1),
        _ => {
            errors.push(
                f.sig.ident.span(),
                format!(
                    "{article} {what} method takes `&self`: `fn {}(&self, ..)`",
                    f.sig.ident
                ),
            );
            None
        }
    }
}

fn is_machine_attr(attr: &Attribute) -> bool {
    [
        "state", "on", "always", "on_done", "guard", "action", "context", "output",
    ]
    .iter()
    .any(|n| attr.path().is_ident(n))
}

/// Reads one method's machine attributes (and removes them).
fn method_role(f: &mut ImplItemFn, errors: &mut Errors) -> Option<Role> {
    let attrs = std::mem::take(&mut f.attrs);
    let (ours, theirs): (Vec<_>, Vec<_>) = attrs.into_iter().partition(is_machine_attr);
    f.attrs = theirs;
    if ours.is_empty() {
        return None;
    }
    let name = f.sig.ident.clone();
    let mut role: Option<(Role, Ident)> = None;
    let mut on = Vec::new();
    let mut always = Vec::new();
    let mut on_done = Vec::new();
    let mut transition_attr: Option<Span> = None;
    for attr in &ours {
        let Some(word) = attr.path().get_ident().cloned() else {
            continue;
        };
        let new_role = match word.to_string().as_str() {
            "on" => {
                transition_attr.get_or_insert(attr.span());
                if let Some(t) = parse_transition(attr, true, errors) {
                    on.push(t);
                }
                continue;
            }
            "always" => {
                transition_attr.get_or_insert(attr.span());
                if let Some(t) = parse_transition(attr, false, errors) {
                    always.push(t);
                }
                continue;
            }
            "on_done" => {
                transition_attr.get_or_insert(attr.span());
                if let Some(t) = parse_transition(attr, false, errors) {
                    on_done.push(t);
                }
                continue;
            }
            "state" => Role::State(Box::new(parse_state(attr, &name, errors))),
            other => {
                if !matches!(attr.meta, syn::Meta::Path(_)) {
                    errors.push(attr.meta.span(), format!("`#[{other}]` takes no arguments"));
                }
                match other {
                    "guard" => Role::Guard,
                    "action" => Role::Action,
                    "context" => Role::Context,
                    _ => Role::Output,
                }
            }
        };
        match &role {
            Some((_, prev)) if prev == &word => {
                errors.push(word.span(), format!("`#[{word}]` set multiple times"));
            }
            Some((_, prev)) => errors.push(
                word.span(),
                format!("`{name}` is already a `#[{prev}]` method; a method has one role"),
            ),
            None => role = Some((new_role, word)),
        }
    }
    let Some((mut role, _)) = role else {
        if let Some(span) = transition_attr {
            errors.push(
                span,
                format!(
                    "transitions belong to a state: add `#[state]` to `{name}`, or move them to a `#[state]` method"
                ),
            );
        }
        return None;
    };
    match &mut role {
        Role::State(state) => {
            state.on = on;
            state.always = always;
            state.on_done = on_done;
            state.body_fallible = fallible(f);
            match arity(f, "state", errors) {
                Some(0) => {}
                Some(1) => state.body_takes_cx = true,
                Some(_) => errors.push(
                    f.sig.ident.span(),
                    format!(
                        "a state method runs on entry and takes `&self` and at most the action context: `fn {name}(&self, cx: &mut <Name>Action<'_>)`"
                    ),
                ),
                None => {}
            }
        }
        _ => {
            if let Some(span) = transition_attr {
                errors.push(
                    span,
                    format!("transitions belong to a `#[state]` method, and `{name}` is not one"),
                );
            }
        }
    }
    Some(role)
}

/// Stage 1. `None` when something is missing to expand; the errors say what.
pub fn parse(args: TokenStream, item: &mut ItemImpl, errors: &mut Errors) -> Option<Machine> {
    let raw = parse_args(args, KEYS, errors);
    if let Some((path, _)) = &item.trait_ {
        errors.push(
            path.span(),
            "#[arvo_machine] goes on an inherent impl block (`impl MyMachine { .. }`), not on a trait impl",
        );
    }
    if !item.generics.params.is_empty() {
        errors.push(
            item.generics.span(),
            "#[arvo_machine] does not support generic impl blocks",
        );
    }
    let name = self_name(&item.self_ty, "arvo_machine", "MyMachine", errors);
    if raw.contract.is_none() {
        errors.push(
            Span::call_site(),
            "missing `contract = <orchestrator contract>`, e.g. `contract = OrderProcess`",
        );
    }
    if raw.version.is_none() {
        errors.push(
            Span::call_site(),
            "missing `version = \"x.y.z\"`: the version of the orchestrator contract this machine implements",
        );
    }
    if raw.context.is_none() {
        errors.push(
            Span::call_site(),
            "missing `context = <type>`: the machine's context (serde, `Clone`), e.g. `context = OrderContext`",
        );
    }
    let marker = match (&raw.contract, &raw.version) {
        (Some(c), Some(v)) => marker(c, v, errors),
        _ => None,
    };

    let mut states = Vec::new();
    let mut guards = Vec::new();
    let mut actions = Vec::new();
    let mut context_fn: Option<Method> = None;
    let mut output_fn: Option<Method> = None;
    for it in &mut item.items {
        let ImplItem::Fn(f) = it else { continue };
        let Some(role) = method_role(f, errors) else {
            continue;
        };
        let fname = f.sig.ident.clone();
        match role {
            Role::State(s) => states.push(*s),
            Role::Guard => {
                if let Some(arity) = arity(f, "guard", errors) {
                    if arity == 0 || arity > 2 {
                        errors.push(
                            fname.span(),
                            format!(
                                "a guard takes the context and, on an event, its payload: `fn {fname}(&self, ctx: &Context, payload: &Payload) -> bool`"
                            ),
                        );
                    } else {
                        guards.push(Callable {
                            name: fname,
                            arity,
                            fallible: fallible(f),
                        });
                    }
                }
            }
            Role::Action => {
                if let Some(arity) = arity(f, "action", errors) {
                    if arity > 2 {
                        errors.push(
                            fname.span(),
                            format!(
                                "an action takes the action context and, on an event, its payload: `fn {fname}(&self, cx: &mut <Name>Action<'_>, payload: &Payload)`"
                            ),
                        );
                    } else {
                        actions.push(Callable {
                            name: fname,
                            arity,
                            fallible: fallible(f),
                        });
                    }
                }
            }
            Role::Context => {
                if arity(f, "context", errors).is_some_and(|a| a != 1) {
                    errors.push(
                        fname.span(),
                        format!(
                            "the `#[context]` method makes the context from the init payload: `fn {fname}(&self, init: &Init) -> Context`"
                        ),
                    );
                }
                if context_fn.is_some() {
                    errors.push(fname.span(), "two `#[context]` methods; a machine has one");
                } else {
                    context_fn = Some(Method {
                        name: fname,
                        fallible: fallible(f),
                    });
                }
            }
            Role::Output => {
                if arity(f, "output", errors).is_some_and(|a| a != 1) {
                    errors.push(
                        fname.span(),
                        format!(
                            "the `#[output]` method makes the completion from the context: `fn {fname}(&self, ctx: &Context) -> Complete`"
                        ),
                    );
                }
                if output_fn.is_some() {
                    errors.push(fname.span(), "two `#[output]` methods; a machine has one");
                } else {
                    output_fn = Some(Method {
                        name: fname,
                        fallible: fallible(f),
                    });
                }
            }
        }
    }
    if context_fn.is_none() {
        errors.push(
            item.self_ty.span(),
            "no `#[context]` method: the machine's context is made from the init payload by `#[context] fn start(&self, init: &Init) -> Context`",
        );
    }
    if states.is_empty() {
        errors.push(
            item.self_ty.span(),
            "no `#[state]` method: a machine has at least one state (`#[state(initial)] fn idle(&self) {}`)",
        );
    }
    let name = name?;
    let krate = raw.krate();
    let id = raw
        .id
        .map_or_else(|| crate::naming::text(&name), |l| l.value());
    Some(Machine {
        item: item.clone(),
        name,
        id,
        context_fn,
        output_fn,
        states,
        guards,
        actions,
        krate,
        contract: raw.contract?,
        version: raw.version?,
        marker: marker?,
        context: raw.context?,
        services: raw.services.unwrap_or_default(),
    })
}
