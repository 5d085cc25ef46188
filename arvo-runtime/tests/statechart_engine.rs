//! Unit tests of the statechart model and engine (`arvo_runtime::machine`): hierarchy, parallel
//! regions, guards, eventless transitions, entry/exit order, emit vs enqueue order, snapshots,
//! panics and bad input, build-time checks and the Mermaid diagram.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common_statechart;

use arvo_runtime::contract::ArvoContract;
use arvo_runtime::event::ArvoEvent;
use arvo_runtime::factory::{ArvoEventFactory, EventInput};
use arvo_runtime::handler::{HandlerError, RawOutput, Violation};
use arvo_runtime::machine::{
    ArvoMachine, MachineBuildError, MachineBuilder, MachineSnapshot, MachineStatus, StateValue,
};
use common_statechart::{any_object, flow, init, service};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Context: a log of what ran, flags, a counter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Ctx {
    log: Vec<String>,
    n: i64,
}

fn log(
    tag: &'static str,
) -> impl Fn(&mut Ctx, &ArvoEvent, &mut arvo_runtime::machine::Emitter<'_>) -> Result<(), HandlerError>
+ Send
+ Sync
+ 'static {
    move |c, _, _| {
        c.log.push(tag.to_owned());
        Ok(())
    }
}

/// A builder over the flow contract with services `a`, `b`, `c` (events `evt.t.a.success`, ...).
fn builder(id: &str) -> MachineBuilder<Ctx> {
    ArvoMachine::<Ctx>::builder(id, flow().latest())
        .service("a", service("a").latest())
        .service("b", service("b").latest())
        .service("c", service("c").latest())
        .context(|_| Ok(Ctx::default()))
}

fn answer(svc: &str, subject: &str, data: Value) -> ArvoEvent {
    ArvoEventFactory::new(service(svc).latest())
        .emits(
            EventInput::new(format!("com.t.{svc}"), data)
                .with_type(format!("evt.t.{svc}.success"))
                .with_subject(subject),
        )
        .unwrap()
}

fn value(s: &MachineSnapshot<Ctx>) -> Value {
    serde_json::to_value(&s.value).unwrap()
}

#[test]
fn hierarchical_states_run_exit_transition_entry_in_order() {
    let m = builder("h")
        .initial("outer")
        .state("outer", |s| {
            s.entry(log("enter outer"))
                .exit(log("exit outer"))
                .initial("a")
                .state("a", |s| {
                    s.entry(log("enter a"))
                        .exit(log("exit a"))
                        .on("evt.t.a.success", |t| t.target("b").action(log("act a->b")))
                })
                .state("b", |s| s.entry(log("enter b")).exit(log("exit b")))
                // Handled by `outer` from any child.
                .on("evt.t.b.success", |t| {
                    t.target("other").action(log("act outer->other"))
                })
        })
        .state("other", |s| s.entry(log("enter other")))
        .build()
        .unwrap();
    let init = init();
    let s1 = m.start(&init).unwrap();
    assert_eq!(s1.snapshot.context.log, ["enter outer", "enter a"]);
    assert_eq!(value(&s1.snapshot), json!({"outer": "a"}));
    let s2 = m
        .resume(s1.snapshot, &answer("a", init.subject(), json!({})))
        .unwrap();
    assert!(s2.transitioned);
    assert_eq!(
        s2.snapshot.context.log[2..],
        ["exit a", "act a->b", "enter b"]
    );
    assert_eq!(value(&s2.snapshot), json!({"outer": "b"}));
    let s3 = m
        .resume(s2.snapshot, &answer("b", init.subject(), json!({})))
        .unwrap();
    assert_eq!(
        s3.snapshot.context.log[5..],
        ["exit b", "exit outer", "act outer->other", "enter other"]
    );
    assert_eq!(value(&s3.snapshot), json!("other"));
    assert_eq!(s3.snapshot.status, MachineStatus::Active);
}

#[test]
fn parallel_regions_are_all_active_and_move_independently() {
    let m = builder("p")
        .initial("work")
        .state("work", |s| {
            s.parallel()
                .state("left", |s| {
                    s.initial("l1")
                        .state("l1", |s| {
                            s.entry(log("enter l1"))
                                .on("evt.t.a.success", |t| t.target("l2"))
                        })
                        .state("l2", |s| s.final_state())
                })
                .state("right", |s| {
                    s.initial("r1")
                        .state("r1", |s| {
                            s.entry(log("enter r1"))
                                .on("evt.t.a.success", |t| t.action(log("right saw a")))
                                .on("evt.t.b.success", |t| t.target("r2"))
                        })
                        .state("r2", |s| s.final_state())
                })
                .state("flag", |s| s)
        })
        .state("done", |s| s.final_state())
        .output(|c| Ok(json!({"log": c.log})))
        .build()
        .unwrap();
    assert!(m.requires_locking(), "a parallel state requires the lock");
    let init = init();
    let s1 = m.start(&init).unwrap();
    assert_eq!(s1.snapshot.context.log, ["enter l1", "enter r1"]);
    assert_eq!(
        value(&s1.snapshot),
        json!({"work": {"left": "l1", "right": "r1", "flag": {}}})
    );
    // One event, taken by both regions (no conflict: their exits are disjoint).
    let s2 = m
        .resume(s1.snapshot, &answer("a", init.subject(), json!({})))
        .unwrap();
    assert_eq!(s2.snapshot.context.log[2..], ["right saw a"]);
    assert_eq!(
        value(&s2.snapshot),
        json!({"work": {"left": "l2", "right": "r1", "flag": {}}})
    );
    // All regions final does not finish the machine (no onDone); the machine stays active.
    let s3 = m
        .resume(s2.snapshot, &answer("b", init.subject(), json!({})))
        .unwrap();
    assert_eq!(
        value(&s3.snapshot),
        json!({"work": {"left": "l2", "right": "r2", "flag": {}}})
    );
    assert_eq!(s3.snapshot.status, MachineStatus::Active);
    // The snapshot of a parallel configuration round-trips through JSON.
    let text = serde_json::to_string(&s3.snapshot).unwrap();
    let back: MachineSnapshot<Ctx> = serde_json::from_str(&text).unwrap();
    assert_eq!(back, s3.snapshot);
    let s4 = m
        .resume(back, &answer("c", init.subject(), json!({})))
        .unwrap();
    assert!(!s4.transitioned);
}

#[test]
fn on_done_joins_parallel_regions_and_finishes_compound_states() {
    let m = builder("join")
        .initial("work")
        .state("work", |s| {
            s.parallel()
                .state("left", |s| {
                    s.initial("l1")
                        .state("l1", |s| s.on("evt.t.a.success", |t| t.target("l2")))
                        .state("l2", |s| s.final_state())
                })
                .state("right", |s| {
                    s.initial("r1")
                        .state("r1", |s| s.on("evt.t.b.success", |t| t.target("r2")))
                        .state("r2", |s| s.final_state())
                        .on_done(|t| t.action(log("right done")))
                })
                .on_done(|t| t.target("review").action(log("work done")))
        })
        .state("review", |s| {
            s.initial("checking")
                .state("checking", |s| s.always(|t| t.target("ok")))
                .state("ok", |s| s.final_state())
                .on_done(|t| t.target("finished"))
        })
        .state("finished", |s| s.final_state())
        .output(|c| Ok(json!({"log": c.log})))
        .build()
        .unwrap();
    let init = init();
    let s = m.start(&init).unwrap();
    let s = m
        .resume(s.snapshot, &answer("b", init.subject(), json!({})))
        .unwrap();
    assert_eq!(s.snapshot.context.log, ["right done"]);
    assert_eq!(
        s.snapshot.status,
        MachineStatus::Active,
        "left is not final yet"
    );
    let s = m
        .resume(s.snapshot, &answer("a", init.subject(), json!({})))
        .unwrap();
    // Both regions final -> work's onDone -> review -> (always) ok -> review's onDone -> finished.
    assert_eq!(s.snapshot.status, MachineStatus::Done);
    assert_eq!(value(&s.snapshot), json!("finished"));
    assert_eq!(s.output, Some(json!({"log": ["right done", "work done"]})));
    assert!(matches!(
        builder("m")
            .initial("a")
            .state("a", |s| s.on_done(|t| t.target("a")))
            .build(),
        Err(MachineBuildError::DoneWithoutChildren { .. })
    ));
}

#[test]
fn parallel_root_finishes_when_every_region_is_final() {
    let m = builder("pr")
        .parallel()
        .state("x", |s| {
            s.initial("x1")
                .state("x1", |s| s.on("evt.t.a.success", |t| t.target("x2")))
                .state("x2", |s| s.final_state())
        })
        .state("y", |s| {
            s.initial("y1")
                .state("y1", |s| s.on("evt.t.b.success", |t| t.target("y2")))
                .state("y2", |s| s.final_state())
        })
        .output(|_| Ok(json!({"ok": true})))
        .build()
        .unwrap();
    let init = init();
    let s = m.start(&init).unwrap();
    let s = m
        .resume(s.snapshot, &answer("a", init.subject(), json!({})))
        .unwrap();
    assert_eq!(s.output, None);
    let s = m
        .resume(s.snapshot, &answer("b", init.subject(), json!({})))
        .unwrap();
    assert_eq!(s.snapshot.status, MachineStatus::Done);
    assert_eq!(s.output, Some(json!({"ok": true})));
    assert_eq!(value(&s.snapshot), json!({"x": "x2", "y": "y2"}));
}

#[test]
fn guarded_candidates_are_tried_in_order_and_the_first_passing_wins() {
    let m = builder("g")
        .initial("idle")
        .state("idle", |s| {
            s.on("evt.t.a.success", |t| {
                t.target("one").guard(|_, e| e.data()["pick"] == json!(1))
            })
            .on("evt.t.a.success", |t| {
                t.target("two")
                    .guard(|_, e| e.data()["pick"].as_i64() >= Some(2))
            })
            .on("evt.t.a.success", |t| t.target("three"))
            .on("*", |t| t.target("any"))
        })
        .state("one", |s| s)
        .state("two", |s| s)
        .state("three", |s| s)
        .state("any", |s| s)
        .build()
        .unwrap();
    let init = init();
    let start = m.start(&init).unwrap().snapshot;
    let go = |data: Value, svc: &str| {
        let s = m
            .resume(start.clone(), &answer(svc, init.subject(), data))
            .unwrap();
        value(&s.snapshot)
    };
    assert_eq!(go(json!({"pick": 1}), "a"), json!("one"));
    assert_eq!(go(json!({"pick": 5}), "a"), json!("two"));
    assert_eq!(go(json!({"pick": 0}), "a"), json!("three"));
    // `*` takes what no exact candidate does.
    assert_eq!(go(json!({}), "b"), json!("any"));
}

#[test]
fn eventless_transitions_settle_and_a_loop_is_an_error_naming_the_state() {
    let m = builder("al")
        .initial("route")
        .state("route", |s| {
            s.always(|t| t.target("big").guard(|c, _| c.n > 10))
                .always(|t| {
                    t.target("route")
                        .reenter(true)
                        .guard(|c, _| c.n <= 10)
                        .action(|c, _, _| {
                            c.n += 1;
                            Ok(())
                        })
                })
        })
        .state("big", |s| s)
        .build()
        .unwrap();
    let s = m.start(&init()).unwrap();
    assert_eq!(value(&s.snapshot), json!("big"));
    assert_eq!(s.snapshot.context.n, 11);

    // A loop whose guards always pass is only found running: an error naming the state.
    let looping = builder("loop")
        .initial("ping")
        .state("ping", |s| {
            s.always(|t| t.target("pong").guard(|_, _| true))
        })
        .state("pong", |s| {
            s.always(|t| t.target("ping").guard(|_, _| true))
        })
        .build()
        .unwrap();
    let err = looping.start(&init()).unwrap_err().to_string();
    assert!(err.contains("did not settle"), "{err}");
    assert!(
        err.contains("'loop'") && (err.contains("ping") || err.contains("pong")),
        "{err}"
    );
}

#[test]
fn eventless_loops_without_guards_are_refused_when_built() {
    let loop_of = |m: MachineBuilder<Ctx>| match m.build() {
        Err(MachineBuildError::EventlessLoop { states, .. }) => states,
        Err(e) => panic!("another error: {e}"),
        Ok(_) => panic!("built"),
    };
    // Two states that leave for each other.
    let ping_pong = builder("pp")
        .initial("ping")
        .state("ping", |s| s.always(|t| t.target("pong")))
        .state("pong", |s| s.always(|t| t.target("ping")));
    assert_eq!(loop_of(ping_pong), "ping -> pong -> ping");
    // A transition without a target is taken again and again.
    let stay = builder("stay")
        .initial("x")
        .state("x", |s| s.always(|t| t.action(log("again"))));
    assert_eq!(loop_of(stay), "x -> x");
    // An ancestor's transition, into the compound state whose initial child is the source.
    let outer = builder("outer").initial("outer").state("outer", |s| {
        s.initial("inner")
            .state("inner", |s| s)
            .always(|t| t.target("outer").reenter(true))
    });
    assert_eq!(loop_of(outer), "outer.inner -> outer.inner");
    // Guarded candidates before the unguarded one count: every way leads back into the loop.
    let guarded = builder("g")
        .initial("a")
        .state("a", |s| {
            s.always(|t| t.target("b").guard(|c, _| c.n > 0))
                .always(|t| t.target("c"))
        })
        .state("b", |s| s.always(|t| t.target("a")))
        .state("c", |s| s.always(|t| t.target("b")));
    assert_eq!(loop_of(guarded), "a -> b -> a");
    let err = builder("pp")
        .initial("ping")
        .state("ping", |s| s.always(|t| t.target("pong")))
        .state("pong", |s| s.always(|t| t.target("ping")))
        .build()
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("'pp'") && err.contains("ping -> pong -> ping"),
        "{err}"
    );

    // Not loops: a way out to a final state, a state with an event to wait for, a guard
    // that can stop it, a parallel region.
    let out = builder("out")
        .initial("a")
        .state("a", |s| {
            s.always(|t| t.target("done").guard(|c, _| c.n > 3))
                .always(|t| {
                    t.target("a").reenter(true).action(|c, _, _| {
                        c.n += 1;
                        Ok(())
                    })
                })
        })
        .state("done", |s| s.final_state())
        .build()
        .unwrap();
    let s = out.start(&init()).unwrap();
    assert_eq!(value(&s.snapshot), json!("done"));
    assert!(
        builder("wait")
            .initial("a")
            .state("a", |s| s.always(|t| t.target("b")))
            .state("b", |s| s.on("evt.t.a.success", |t| t.target("a")))
            .build()
            .is_ok()
    );
    assert!(
        builder("stop")
            .initial("a")
            .state("a", |s| s.always(|t| t.target("b")))
            .state("b", |s| s.always(|t| t.target("a").guard(|c, _| c.n < 3)))
            .build()
            .is_ok()
    );
    // A long chain that ends in a final state is no loop, and runs to its end; closed into a
    // ring, it is one.
    let chain = |n: usize, ring: bool| {
        let mut b = builder("chain").initial("s0");
        for i in 0..n {
            let next = if i + 1 < n {
                format!("s{}", i + 1)
            } else if ring {
                "s0".to_owned()
            } else {
                "end".to_owned()
            };
            b = b.state(format!("s{i}"), move |s| s.always(|t| t.target(next)));
        }
        b.state("end", |s| s.final_state())
    };
    let long = chain(400, false).build().unwrap();
    assert_eq!(value(&long.start(&init()).unwrap().snapshot), json!("end"));
    let ring = loop_of(chain(400, true));
    assert!(
        ring.starts_with("s0 -> s1 -> ") && ring.ends_with("s399 -> s0"),
        "{ring}"
    );
}

#[test]
fn emitted_events_precede_enqueued_ones_whatever_the_action_order() {
    let m = builder("order")
        .initial("s")
        .state("s", |s| {
            s.entry(|_, _, out| {
                out.enqueue(RawOutput::new("com.notif.one", json!({})));
                out.emit(RawOutput::new("com.t.a", json!({"i": 1})))?;
                out.enqueue(RawOutput::new("com.notif.two", json!({})));
                out.emit(RawOutput::new("com.t.b", json!({"i": 2})))
            })
        })
        .build()
        .unwrap();
    let s = m.start(&init()).unwrap();
    let types: Vec<&str> = s.events.iter().map(|e| &*e.event_type).collect();
    assert_eq!(
        types,
        ["com.t.a", "com.t.b", "com.notif.one", "com.notif.two"]
    );
}

#[test]
fn emit_to_an_undeclared_service_is_a_config_violation() {
    let m = builder("undeclared")
        .initial("s")
        .state("s", |s| {
            s.entry(|_, _, out| out.emit(RawOutput::new("com.nobody", json!({}))))
        })
        .build()
        .unwrap();
    let err = m.start(&init()).unwrap_err();
    let v = err.violation().expect("a violation");
    assert!(matches!(v, Violation::Config { .. }), "{v:?}");
    assert!(v.to_string().contains("'com.nobody'") && v.to_string().contains("state 's'"));
}

#[test]
fn snapshot_shape_is_pinned_and_round_trips() {
    let m = builder("snap")
        .initial("wait")
        .state("wait", |s| {
            s.on("evt.t.a.success", |t| {
                t.target("done").action(|c, e, _| {
                    c.n = e.data()["n"].as_i64().unwrap_or_default();
                    Ok(())
                })
            })
        })
        .state("done", |s| s.final_state())
        .output(|c| Ok(json!({"n": c.n})))
        .build()
        .unwrap();
    let init = init();
    let s1 = m.start(&init).unwrap();
    assert_eq!(
        serde_json::to_string(&s1.snapshot).unwrap(),
        r#"{"version":1,"status":"active","value":"wait","context":{"log":[],"n":0}}"#
    );
    let text = serde_json::to_string(&s1.snapshot).unwrap();
    let back: MachineSnapshot<Ctx> = serde_json::from_str(&text).unwrap();
    let s2 = m
        .resume(back, &answer("a", init.subject(), json!({"n": 7})))
        .unwrap();
    assert_eq!(
        serde_json::to_string(&s2.snapshot).unwrap(),
        r#"{"version":1,"status":"done","value":"done","context":{"log":[],"n":7},"output":{"n":7}}"#
    );
    assert_eq!(s2.output, Some(json!({"n": 7})));
}

#[test]
fn an_event_for_a_finished_machine_is_ignored_without_output() {
    let m = builder("fin")
        .initial("done")
        .state("done", |s| s.final_state())
        .output(|_| Ok(json!({})))
        .build()
        .unwrap();
    let init = init();
    let s1 = m.start(&init).unwrap();
    assert_eq!(s1.snapshot.status, MachineStatus::Done);
    // Deliberate difference: an output of `{}` completes (the reference suppresses it).
    assert_eq!(s1.output, Some(json!({})));
    let before = s1.snapshot.clone();
    let s2 = m
        .resume(s1.snapshot, &answer("a", init.subject(), json!({})))
        .unwrap();
    assert_eq!(s2.snapshot, before);
    assert_eq!(s2.output, None);
    assert!(s2.events.is_empty() && !s2.transitioned);
}

#[test]
fn an_unhandled_event_is_ignored() {
    let m = builder("ign")
        .initial("wait")
        .state("wait", |s| {
            s.entry(|_, _, out| out.emit(RawOutput::new("com.t.a", json!({}))))
                .on("evt.t.a.success", |t| t.target("next"))
        })
        .state("next", |s| s)
        .build()
        .unwrap();
    let init = init();
    let s1 = m.start(&init).unwrap();
    let before = s1.snapshot.clone();
    let s2 = m
        .resume(s1.snapshot, &answer("b", init.subject(), json!({})))
        .unwrap();
    assert!(!s2.transitioned);
    assert!(
        s2.events.is_empty(),
        "entry actions do not run again on resume"
    );
    assert_eq!(s2.snapshot, before);
}

#[test]
fn panicking_guard_or_action_is_an_error_not_an_unwind() {
    let guard = builder("pg")
        .initial("wait")
        .state("wait", |s| {
            s.on("evt.t.a.success", |t| {
                t.target("next").guard(|_, _| panic!("guard boom"))
            })
        })
        .state("next", |s| s)
        .build()
        .unwrap();
    let init = init();
    let s1 = guard.start(&init).unwrap();
    let err = guard
        .resume(s1.snapshot.clone(), &answer("a", init.subject(), json!({})))
        .unwrap_err();
    assert_eq!(err.to_string(), "user code panicked: guard boom");
    assert!(
        err.violation().is_none(),
        "a panic is an error, not a violation"
    );
    // The machine still works afterwards from the same snapshot.
    let ok = guard
        .resume(s1.snapshot, &answer("b", init.subject(), json!({})))
        .unwrap();
    assert!(!ok.transitioned);

    let action = builder("pa")
        .initial("s")
        .state("s", |s| s.entry(|_, _, _| panic!("entry boom")))
        .build()
        .unwrap();
    assert_eq!(
        action.start(&init).unwrap_err().to_string(),
        "user code panicked: entry boom"
    );
}

#[test]
fn the_first_error_surfaces_and_context_errors_too() {
    let m = builder("err")
        .initial("s")
        .state("s", |s| {
            s.entry(|_, _, _| Err(HandlerError::msg("first")))
                .entry(|_, _, _| Err(HandlerError::msg("second")))
        })
        .build()
        .unwrap();
    assert_eq!(m.start(&init()).unwrap_err().to_string(), "first");
    let m = ArvoMachine::<Ctx>::builder("ctx", flow().latest())
        .context(|_| Err(HandlerError::msg("Some error")))
        .initial("s")
        .state("s", |s| s)
        .build()
        .unwrap();
    assert_eq!(m.start(&init()).unwrap_err().to_string(), "Some error");
}

#[test]
fn start_requires_the_init_event() {
    let m = builder("start")
        .initial("s")
        .state("s", |s| s)
        .build()
        .unwrap();
    let init = init();
    let err = m
        .start(&answer("a", init.subject(), json!({})))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "Invalid initialization event: Machine requires source event 'arvo.orc.t.flow' to start, but received event 'evt.t.a.success' instead. This likely indicates a mismatch between the expected workflow trigger and the actual event sent."
    );
}

#[test]
fn incompatible_snapshots_are_refused_clearly() {
    let m = builder("inc")
        .initial("s")
        .state("s", |s| s)
        .build()
        .unwrap();
    let err = serde_json::from_str::<MachineSnapshot<Ctx>>(
        r#"{"version":2,"status":"active","value":"s","context":{"log":[],"n":0}}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("incompatible machine snapshot version 2") && err.contains("reads version 1"),
        "{err}"
    );
    let snap = MachineSnapshot {
        version: 1,
        status: MachineStatus::Active,
        value: StateValue::leaf("gone"),
        context: Ctx::default(),
        output: None,
    };
    let init = init();
    let err = m
        .resume(snap, &answer("a", init.subject(), json!({})))
        .unwrap_err();
    let v = err.violation().expect("a violation");
    assert!(matches!(v, Violation::Config { .. }));
    assert!(
        v.to_string().contains(
            "Incompatible machine snapshot: ArvoMachine 'inc' (version 1.0.0) has no state 'gone'"
        ),
        "{v}"
    );
}

#[test]
fn build_errors_name_the_state_and_the_event() {
    let e = |b: MachineBuilder<Ctx>| b.build().unwrap_err();
    assert_eq!(
        e(builder("m")
            .initial("a")
            .state("a", |s| s.on("evt.t.a.success", |t| t.target("nowhere")))),
        MachineBuildError::UnknownTarget {
            machine: "m".into(),
            state: "a".into(),
            event: "evt.t.a.success".into(),
            target: "nowhere".into()
        }
    );
    assert_eq!(
        e(builder("m").state("a", |s| s)).to_string(),
        "ArvoMachine 'm': compound state '(root)' has no initial state (call `.initial(..)`)"
    );
    assert!(matches!(
        e(builder("m").initial("zz").state("a", |s| s)),
        MachineBuildError::BadInitial { .. }
    ));
    assert!(matches!(
        e(builder("m")
            .initial("a")
            .state("a", |s| s)
            .state("a", |s| s)),
        MachineBuildError::DuplicateState { .. }
    ));
    assert!(matches!(
        e(builder("m")
            .initial("a")
            .state("a", |s| s.final_state().initial("x").state("x", |s| s))),
        MachineBuildError::FinalWithChildren { .. }
    ));
    assert!(matches!(
        e(builder("m")
            .initial("a")
            .state("a", |s| s.final_state().on("evt.t.a.success", |t| t))),
        MachineBuildError::FinalWithTransitions { .. }
    ));
    let unknown = e(builder("m")
        .initial("a")
        .state("a", |s| s.on("evt.nobody.success", |t| t.target("a"))));
    assert_eq!(
        unknown.to_string(),
        "ArvoMachine 'm': state 'a' has a transition on 'evt.nobody.success', which is neither the init event 'arvo.orc.t.flow' nor an event (or system error) of a declared service"
    );
    assert!(matches!(
        e(builder("m")
            .initial("a")
            .state("a", |s| s.id("dup"))
            .state("b", |s| s.id("dup"))),
        MachineBuildError::DuplicateId { .. }
    ));
    assert!(matches!(
        e(builder("m").initial("a.b").state("a.b", |s| s)),
        MachineBuildError::InvalidStateKey { .. }
    ));
    assert!(matches!(
        e(builder("m")),
        MachineBuildError::NoStates { .. }
    ));
    // The machine itself (the root) is not a target.
    assert!(matches!(
        e(builder("m")
            .initial("a")
            .state("a", |s| s.on("evt.t.a.success", |t| t.target("#m")))),
        MachineBuildError::UnknownTarget { .. }
    ));
    // System errors of services are receivable.
    builder("m")
        .initial("a")
        .state("a", |s| s.on("sys.com.t.a.error", |t| t.target("a")))
        .build()
        .unwrap();
    // Services: the reference's messages.
    let inc = service("a");
    let dup = ArvoMachine::<Ctx>::builder("m", flow().latest())
        .service("increment1", inc.latest())
        .service("increment2", inc.latest())
        .context(|_| Ok(Ctx::default()))
        .initial("a")
        .state("a", |s| s)
        .build()
        .unwrap_err();
    assert_eq!(
        dup.to_string(),
        "In ArvoMachine, the service contracts must have unique URIs. Multiple versions of the same contract are not allow. The contracts 'increment2' and 'increment1' have the same URI '#/t/a'"
    );
    let circular = ArvoMachine::<Ctx>::builder("m", flow().latest())
        .service("self", flow().latest())
        .context(|_| Ok(Ctx::default()))
        .initial("a")
        .state("a", |s| s)
        .build()
        .unwrap_err();
    assert!(circular.to_string().contains(
        "Circular dependency detected: Machine with URI '#/t/flow' is registered as service 'self'."
    ));
    let no_context = ArvoMachine::<Ctx>::builder("m", flow().latest())
        .initial("a")
        .state("a", |s| s)
        .build()
        .unwrap_err();
    assert!(matches!(
        no_context,
        MachineBuildError::MissingContext { .. }
    ));
    let not_orc = ArvoMachine::<Ctx>::builder("m", service("a").latest())
        .context(|_| Ok(Ctx::default()))
        .initial("a")
        .state("a", |s| s)
        .build()
        .unwrap_err();
    assert!(matches!(not_orc, MachineBuildError::NotOrchestrator { .. }));
}

#[test]
fn targets_resolve_by_sibling_path_child_and_id() {
    let m = builder("t")
        .initial("a")
        .state("a", |s| {
            s.on("evt.t.a.success", |t| t.target("b.deep"))
                .on("evt.t.b.success", |t| t.target("#far"))
        })
        .state("b", |s| {
            s.initial("shallow")
                .state("shallow", |s| s)
                .state("deep", |s| s.on("evt.t.c.success", |t| t.target(".")))
        })
        .state("c", |s| s.id("far"))
        .build();
    // `"."` is no state: an error naming it.
    assert!(matches!(m, Err(MachineBuildError::UnknownTarget { .. })));
    let m = builder("t")
        .initial("a")
        .state("a", |s| {
            s.on("evt.t.a.success", |t| t.target("b.deep"))
                .on("evt.t.b.success", |t| t.target("#far"))
        })
        .state("b", |s| {
            s.initial("shallow")
                .state("shallow", |s| s)
                .state("deep", |s| s)
                .on("evt.t.c.success", |t| t.target(".shallow"))
        })
        .state("c", |s| s.id("far"))
        .build()
        .unwrap();
    let init = init();
    let s = m.start(&init).unwrap().snapshot;
    let s = m
        .resume(s, &answer("a", init.subject(), json!({})))
        .unwrap()
        .snapshot;
    assert_eq!(value(&s), json!({"b": "deep"}));
    let s = m
        .resume(s, &answer("c", init.subject(), json!({})))
        .unwrap()
        .snapshot;
    assert_eq!(value(&s), json!({"b": "shallow"}));
    let s0 = m.start(&init).unwrap().snapshot;
    let s = m
        .resume(s0, &answer("b", init.subject(), json!({})))
        .unwrap()
        .snapshot;
    assert_eq!(value(&s), json!("c"));
}

#[test]
fn lock_analysis_follows_the_reference() {
    let plain = builder("l").initial("a").state("a", |s| s).build().unwrap();
    assert!(!plain.requires_locking());
    let two_emits = ArvoContract::builder("#/t/multi", "com.t.multi")
        .version(
            "1.0.0",
            arvo_runtime::contract::VersionSpec::new(any_object())
                .emit("evt.t.multi.one", any_object())
                .emit("evt.t.multi.two", any_object()),
        )
        .build()
        .unwrap();
    let multi = builder("l")
        .service("multi", two_emits.latest())
        .initial("a")
        .state("a", |s| s)
        .build()
        .unwrap();
    assert!(multi.requires_locking());
}

#[test]
fn mermaid_shows_hierarchy_regions_guards_and_finals() {
    let m = builder("diagram")
        .initial("outer")
        .state("outer", |s| {
            s.initial("a")
                .state("a", |s| {
                    s.on("evt.t.a.success", |t| {
                        t.target("b").guard_named("isReady", |_, _| true)
                    })
                })
                .state("b", |s| s.always(|t| t.target("#diagram.par")))
        })
        .state("par", |s| {
            s.parallel().state("left", |s| s).state("right", |s| {
                s.on("evt.t.b.success", |t| t.target("#diagram.done"))
            })
        })
        .state("done", |s| s.final_state())
        .build()
        .unwrap();
    let text = m.mermaid();
    let expected = r#"stateDiagram-v2
    %% ArvoMachine diagram
    [*] --> s_outer
    state "outer" as s_outer
    state s_outer {
        [*] --> s_outer__a
        state "a" as s_outer__a
        s_outer__a --> s_outer__b : evt.t.a.success [isReady]
        state "b" as s_outer__b
        s_outer__b --> s_par : always
    }
    state "par" as s_par
    state s_par {
        state "left" as s_par__left
        --
        state "right" as s_par__right
        s_par__right --> s_done : evt.t.b.success
    }
    state "done" as s_done
    s_done --> [*]
"#;
    assert_eq!(text, expected);
}

/// The ids of a diagram's `state "<name>" as <id>` lines, in order.
fn declared_ids(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("state \""))
        .filter_map(|l| l.split(" as ").nth(1))
        .collect()
}

#[test]
fn mermaid_ids_stay_distinct_for_names_that_read_alike() {
    // `a-b` and `a_b` both read `a_b` in a Mermaid id, and `x.y` (a child) reads as `x__y`:
    // each is still its own state in the diagram.
    let m = builder("alike")
        .initial("a-b")
        .state("a-b", |s| s.on("evt.t.a.success", |t| t.target("a_b")))
        .state("a_b", |s| s.on("evt.t.a.success", |t| t.target("x__y")))
        .state("x", |s| s.initial("y").state("y", |s| s))
        .state("x__y", |s| s.final_state())
        .build()
        .unwrap();
    let text = m.mermaid();
    let ids = declared_ids(&text);
    assert_eq!(ids.len(), 5, "{text}");
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "{text}");
    assert!(
        text.contains("s_a_b --> s_a_b_2 : evt.t.a.success"),
        "{text}"
    );

    // A state whose own id is the one a later look-alike would be numbered with: `a-b` (state
    // 3) reads `s_a_b`, taken by `a_b`, and `s_a_b_3` is `a_b_3`'s own.
    let m = builder("alike")
        .initial("a_b")
        .state("a_b", |s| s.on("evt.t.a.success", |t| t.target("a-b")))
        .state("a_b_3", |s| s.final_state())
        .state("a-b", |s| s.on("evt.t.a.success", |t| t.target("a_b_3")))
        .build()
        .unwrap();
    let text = m.mermaid();
    let ids = declared_ids(&text);
    assert_eq!(ids, ["s_a_b", "s_a_b_3", "s_a_b_4"], "{text}");
    assert!(
        text.contains("s_a_b_4 --> s_a_b_3 : evt.t.a.success"),
        "{text}"
    );
}
