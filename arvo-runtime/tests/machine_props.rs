//! Random machine definitions, run on random events: the statechart builder and engine never
//! fail other than with an error. Definitions come from a small pool of state names (so
//! duplicates, unknown and relative targets, `#id` targets, initial states that are not
//! children, final states with children, `on_done` on atomic states all occur) with every
//! kind of state (atomic, compound, parallel, final) and transition (`on` for service answers,
//! system errors, `*`, events no service emits; `always`; `on_done`), guards that pass, fail,
//! depend on the context or panic, and actions that count, fail, panic, emit to a declared or
//! an undeclared service, or enqueue. Each built machine is started and resumed with random
//! events, and with snapshots whose state value was tampered with.
//!
//! Properties:
//! - `build` returns a machine or an error; `start` and `resume` return a step or an error;
//!   the only panic is the user code's own (`user boom`), which the engine reports as an error;
//! - a step's snapshot makes a JSON round trip unchanged, and names only the machine's states;
//! - the same events give the same snapshots (guards and actions are deterministic);
//! - the diagram is made for every machine that builds.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common_statechart;

use arvo_runtime::event::ArvoEvent;
use arvo_runtime::factory::{ArvoEventFactory, EventInput};
use arvo_runtime::handler::{HandlerError, RawOutput};
use arvo_runtime::machine::{ArvoMachine, MachineSnapshot, StateBuilder, Transition};
use common_statechart::{flow, init, service};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Ctx {
    n: i64,
}

const NAMES: &[&str] = &["a", "b", "c", "d", "e"];
const EVENTS: &[&str] = &[
    "evt.t.a.success",
    "evt.t.b.success",
    "sys.com.t.a.error",
    "*",
    "evt.nobody.emits",
    "arvo.orc.t.flow",
];

#[derive(Debug, Clone, Copy)]
enum GuardKind {
    Pass,
    Fail,
    Even,
    Panic,
}

#[derive(Debug, Clone, Copy)]
enum ActionKind {
    Count,
    Fail,
    Panic,
    EmitA,
    EmitUndeclared,
    Enqueue,
}

#[derive(Debug, Clone)]
struct TransSpec {
    event: usize,
    /// How the target is written (`#flow.<path>` of a state of the machine mostly, a sibling's
    /// name, a child's `.name`, a state that does not exist, none) and which.
    target: (u8, usize),
    guard: Option<GuardKind>,
    actions: Vec<ActionKind>,
    reenter: bool,
}

#[derive(Debug, Clone)]
struct StateSpec {
    kind: u8,
    /// The initial child, by position among the children.
    initial: Option<usize>,
    children: Vec<(usize, StateSpec)>,
    /// Whether a repeated child name is kept (a build error) rather than dropped.
    duplicates: bool,
    on: Vec<TransSpec>,
    always: Vec<TransSpec>,
    done: Vec<TransSpec>,
    entry: Vec<ActionKind>,
    exit: Vec<ActionKind>,
}

fn guard_kind() -> impl Strategy<Value = GuardKind> {
    prop_oneof![
        3 => Just(GuardKind::Pass),
        3 => Just(GuardKind::Fail),
        3 => Just(GuardKind::Even),
        1 => Just(GuardKind::Panic)
    ]
}

fn action_kind() -> impl Strategy<Value = ActionKind> {
    prop_oneof![
        8 => Just(ActionKind::Count),
        1 => Just(ActionKind::Fail),
        1 => Just(ActionKind::Panic),
        4 => Just(ActionKind::EmitA),
        1 => Just(ActionKind::EmitUndeclared),
        2 => Just(ActionKind::Enqueue),
    ]
}

fn trans_spec() -> impl Strategy<Value = TransSpec> {
    (
        prop_oneof![
            15 => Just(0usize),
            15 => Just(1usize),
            10 => Just(2usize),
            5 => Just(3usize),
            5 => Just(5usize),
            1 => Just(4usize),
        ],
        (0u8..40, 0..64usize),
        proptest::option::weighted(0.5, guard_kind()),
        proptest::collection::vec(action_kind(), 0..2),
        any::<bool>(),
    )
        .prop_map(|(event, target, guard, actions, reenter)| TransSpec {
            event,
            target,
            guard,
            actions,
            reenter,
        })
}

/// At most one eventless transition, on a quarter of the states (more loop too often to run).
fn always() -> impl Strategy<Value = Vec<TransSpec>> {
    proptest::option::weighted(0.25, trans_spec()).prop_map(|t| t.into_iter().collect())
}

/// A state without children (the recursion below gives it some).
fn leaf() -> impl Strategy<Value = StateSpec> {
    (
        0u8..6,
        proptest::collection::vec(trans_spec(), 0..3),
        always(),
        proptest::collection::vec(action_kind(), 0..2),
        proptest::collection::vec(action_kind(), 0..2),
    )
        .prop_map(|(kind, on, always, entry, exit)| StateSpec {
            kind,
            initial: None,
            children: vec![],
            duplicates: false,
            on,
            always,
            done: vec![],
            entry,
            exit,
        })
}

/// A state, with child states (themselves with children) down to three levels.
fn state_spec() -> impl Strategy<Value = StateSpec> {
    leaf().prop_recursive(3, 24, 3, |inner| {
        (
            leaf(),
            proptest::collection::vec((0..NAMES.len(), inner), 1..4),
            proptest::option::weighted(0.95, 0..4usize),
            proptest::collection::vec(trans_spec(), 0..2),
            proptest::bool::weighted(0.05),
            prop_oneof![6 => Just(0u8), 2 => Just(5u8), 1 => Just(4u8)],
        )
            .prop_map(|(mut s, children, initial, done, duplicates, kind)| {
                s.children = children;
                s.initial = initial;
                s.done = done;
                s.duplicates = duplicates;
                s.kind = kind;
                s
            })
    })
}

fn action(
    kind: ActionKind,
) -> impl Fn(&mut Ctx, &ArvoEvent, &mut arvo_runtime::machine::Emitter<'_>) -> Result<(), HandlerError>
+ Send
+ Sync
+ 'static {
    move |c, _, out| match kind {
        ActionKind::Count => {
            c.n += 1;
            Ok(())
        }
        ActionKind::Fail => Err(HandlerError::msg("action failed")),
        ActionKind::Panic => panic!("user boom"),
        ActionKind::EmitA => out.emit(RawOutput::new("com.t.a", json!({"n": c.n}))),
        ActionKind::EmitUndeclared => out.emit(RawOutput::new("com.t.zzz", json!({}))),
        ActionKind::Enqueue => {
            out.enqueue(RawOutput::new("com.t.b", json!({})));
            Ok(())
        }
    }
}

fn transition(t: &TransSpec, paths: &[String]) -> Transition<Ctx> {
    let mut tr = Transition::new().reenter(t.reenter);
    let name = NAMES[t.target.1 % NAMES.len()];
    tr = match t.target.0 {
        0..=33 if !paths.is_empty() => {
            tr.target(format!("#flow.{}", paths[t.target.1 % paths.len()]))
        }
        34 => tr.target(name),
        35 => tr.target(format!(".{name}")),
        36 => tr.target("#flow.nowhere"),
        _ => tr,
    };
    if let Some(g) = t.guard {
        tr = tr.guard(move |c: &Ctx, _| match g {
            GuardKind::Pass => true,
            GuardKind::Fail => false,
            GuardKind::Even => c.n % 2 == 0,
            GuardKind::Panic => panic!("user boom"),
        });
    }
    for &a in &t.actions {
        tr = tr.action(action(a));
    }
    tr
}

/// The children a state is built with: repeated names dropped unless `duplicates`.
fn children(spec: &StateSpec) -> Vec<&(usize, StateSpec)> {
    let mut out: Vec<&(usize, StateSpec)> = Vec::new();
    for c in &spec.children {
        if spec.duplicates || !out.iter().any(|o| o.0 == c.0) {
            out.push(c);
        }
    }
    out
}

/// Every state's dotted path, in document order.
fn paths(prefix: &str, kids: &[&(usize, StateSpec)], out: &mut Vec<String>) {
    for (k, child) in kids {
        let path = if prefix.is_empty() {
            NAMES[*k].to_owned()
        } else {
            format!("{prefix}.{}", NAMES[*k])
        };
        out.push(path.clone());
        paths(&path, &children(child), out);
    }
}

fn state(spec: &StateSpec, all: &[String]) -> StateBuilder<Ctx> {
    let mut s = StateBuilder::new();
    match spec.kind {
        4 => s = s.final_state(),
        5 => s = s.parallel(),
        _ => {}
    }
    let kids = children(spec);
    if let Some(i) = spec.initial
        && spec.kind != 5
        && !kids.is_empty()
    {
        s = s.initial(NAMES[kids[i % kids.len()].0]);
    }
    for (k, child) in kids {
        s = s.child(NAMES[*k], state(child, all));
    }
    for t in &spec.on {
        s = s.on_transition(EVENTS[t.event], transition(t, all));
    }
    for t in &spec.always {
        s = s.always_transition(transition(t, all));
    }
    for t in &spec.done {
        let tr = transition(t, all);
        s = s.on_done(move |_| tr);
    }
    for &a in &spec.entry {
        s = s.entry(action(a));
    }
    for &a in &spec.exit {
        s = s.exit(action(a));
    }
    s
}

/// Events to resume with: answers of `a` and `b`, a system error of `a`, the init again, an
/// event no service emits.
fn event(kind: u8, subject: &str) -> ArvoEvent {
    let answer = |svc: &str, ty: String| {
        ArvoEventFactory::new(service(svc).latest())
            .emits(
                EventInput::new(format!("com.t.{svc}"), json!({}))
                    .with_type(ty)
                    .with_subject(subject),
            )
            .unwrap()
    };
    match kind {
        0 => answer("a", "evt.t.a.success".into()),
        1 => answer("b", "evt.t.b.success".into()),
        2 => ArvoEventFactory::new(service("a").latest())
            .system_error(
                &std::io::Error::other("boom"),
                EventInput::new("com.t.a", json!({})).with_subject(subject),
            )
            .unwrap(),
        3 => init(),
        _ => ArvoEvent::builder()
            .source("com.test.other")
            .subject(subject)
            .event_type("evt.nobody.emits")
            .data(serde_json::Map::new())
            .build()
            .unwrap(),
    }
}

/// `Err` with the message when a step's error says the runtime panicked (only the user
/// code's `user boom` may).
fn contained(
    r: &Result<arvo_runtime::machine::MachineStep<Ctx>, HandlerError>,
) -> Result<(), String> {
    match r {
        Err(e) if e.to_string().contains("panicked") && !e.to_string().contains("user boom") => {
            Err(e.to_string())
        }
        _ => Ok(()),
    }
}

/// The state names a snapshot value holds (keys and leaves).
fn named(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Object(m) => {
            for (k, v) in m {
                out.push(k.clone());
                named(v, out);
            }
        }
        _ => {}
    }
}

fn run(
    machine: &ArvoMachine<Ctx>,
    events: &[u8],
    tamper: Option<&Value>,
) -> Result<Vec<Value>, String> {
    let init = init();
    let keys: Vec<String> = machine
        .state_paths()
        .flat_map(|p| p.split('.').map(str::to_owned).collect::<Vec<_>>())
        .collect();
    let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| machine.start(&init)))
        .map_err(|_| "start panicked".to_owned())?;
    contained(&first)?;
    let Ok(mut step) = first else {
        return Ok(vec![]);
    };
    let mut seen = vec![];
    for (i, &e) in events.iter().enumerate() {
        let json = serde_json::to_value(&step.snapshot).map_err(|e| e.to_string())?;
        let back: MachineSnapshot<Ctx> =
            serde_json::from_value(json.clone()).map_err(|e| e.to_string())?;
        if serde_json::to_value(&back).map_err(|e| e.to_string())? != json {
            return Err(format!("snapshot changed in a round trip: {json}"));
        }
        let mut names = vec![];
        named(&json["value"], &mut names);
        if let Some(bad) = names.iter().find(|n| !keys.contains(n)) {
            return Err(format!(
                "snapshot names `{bad}`, no state of the machine: {json}"
            ));
        }
        seen.push(json.clone());
        let mut snapshot = back;
        if let (Some(t), 0) = (tamper, i) {
            let mut j = json;
            j["value"] = t.clone();
            match serde_json::from_value::<MachineSnapshot<Ctx>>(j) {
                Ok(s) => snapshot = s,
                Err(_) => continue,
            }
        }
        let ev = event(e, init.subject());
        let next = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            machine.resume(snapshot, &ev)
        }))
        .map_err(|_| "resume panicked".to_owned())?;
        contained(&next)?;
        match next {
            Ok(s) => step = s,
            Err(_) => break,
        }
    }
    Ok(seen)
}

fn tampered() -> impl Strategy<Value = Value> {
    let name = proptest::sample::select(vec!["a", "b", "c", "d", "e", "zz", ""]);
    prop_oneof![
        name.clone().prop_map(|n| json!(n)),
        (name.clone(), name.clone()).prop_map(|(a, b)| json!({a: b})),
        (name.clone(), name.clone(), name).prop_map(|(a, b, c)| json!({a: {b: c}, c: b})),
        Just(json!(1)),
        Just(json!([])),
        Just(json!({})),
    ]
}

/// The user code's own panics (`user boom`) are expected: not printed. Others are.
fn quiet_user_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            if message != "user boom" {
                default(info);
            }
        }));
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn random_machines_build_and_run_without_panicking(
        roots in proptest::collection::vec((0..NAMES.len(), state_spec()), 1..4),
        initial in proptest::option::weighted(0.95, 0..4usize),
        parallel in proptest::bool::weighted(0.15),
        events in proptest::collection::vec(0u8..5, 0..6),
        tamper in proptest::option::weighted(0.3, tampered()),
    ) {
        quiet_user_panics();
        let mut b = ArvoMachine::<Ctx>::builder("flow", flow().latest())
            .service("a", service("a").latest())
            .service("b", service("b").latest())
            .context(|_| Ok(Ctx::default()));
        let top = StateSpec {
            kind: 0,
            initial,
            children: roots,
            duplicates: false,
            on: vec![],
            always: vec![],
            done: vec![],
            entry: vec![],
            exit: vec![],
        };
        let kids = children(&top);
        let mut all = vec![];
        paths("", &kids, &mut all);
        if parallel {
            b = b.parallel();
        } else if let Some(i) = initial {
            b = b.initial(NAMES[kids[i % kids.len()].0]);
        }
        for (k, s) in kids {
            let s = state(s, &all);
            b = b.state(NAMES[*k], move |_| s);
        }
        let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| b.build()));
        prop_assert!(built.is_ok(), "build panicked");
        let Ok(Ok(machine)) = built else { return Ok(()) };
        let _ = machine.mermaid();
        let first = run(&machine, &events, tamper.as_ref());
        prop_assert!(first.is_ok(), "{}", first.unwrap_err());
        if tamper.is_none() {
            let again = run(&machine, &events, None);
            prop_assert_eq!(first.unwrap(), again.unwrap(), "the same events gave other snapshots");
        }
    }
}
