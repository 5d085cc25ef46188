//! Machine definitions of hostile shapes: nested past any real statechart, or with thousands of
//! states. Building one is refused with a clear error or takes time linear in its size; none
//! overflows the stack, and a machine at the nesting limit runs, and its nested snapshot makes
//! the round trip through the embedded store's JSON.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common_backends;
mod common_resumable;
mod common_tempdir;
mod common_timing;

use arvo_runtime::handler::{ParentContext, RawOutput, TransactionCause, Violation};
use arvo_runtime::machine::{
    ArvoMachine, MAX_STATE_DEPTH, MachineBuildError, MachineBuilder, MachineStatus, StateBuilder,
};
use arvo_runtime::memory::{MachineMemory, MemoryRecord, RedbMemory, RedbStore};
use arvo_runtime::orchestrator::{ArvoOrchestrator, OrchestratorMemoryRecord};
use common_backends::workflows::calc_init;
use common_resumable::{CalcAdd, CalcFlow, calc_handler};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Sum {
    result: Option<f64>,
}

fn builder(id: &str) -> MachineBuilder<Sum> {
    ArvoMachine::builder(id, CalcFlow::contract().latest())
        .service("calc", CalcAdd::contract().latest())
        .context(|_| Ok(Sum::default()))
        .output(|c| Ok(json!({"result": c.result.unwrap_or_default()})))
}

/// A chain of `levels` states below the top level, `s1` holding `s2` holding ... `s<levels>`
/// (`levels` >= 1), each the initial child of its parent; `deepest` defines the last one.
fn chain(levels: usize, deepest: StateBuilder<Sum>) -> StateBuilder<Sum> {
    let mut state = deepest;
    for level in (1..levels).rev() {
        state = StateBuilder::new()
            .initial(format!("s{}", level + 1))
            .child(format!("s{}", level + 1), state);
    }
    state
}

/// Regression: building walked the definition recursively, one frame per level, so a machine
/// nested some thousands of levels deep (5,000 in a release build, fewer in a debug one)
/// overflowed the thread's stack and aborted the process. Now a state past
/// [`MAX_STATE_DEPTH`] is refused, naming it and its parent, and dropping the definition
/// (built or refused) does not recurse either.
#[test]
fn a_machine_nested_past_the_limit_is_refused_and_nothing_overflows() {
    let deep = chain(100_000, StateBuilder::new().final_state());
    let err = builder("deep")
        .initial("s1")
        .child("s1", deep)
        .build()
        .expect_err("a machine 100,000 levels deep is refused");
    let parent = (1..=MAX_STATE_DEPTH)
        .map(|l| format!("s{l}"))
        .collect::<Vec<_>>()
        .join(".");
    assert_eq!(
        err,
        MachineBuildError::TooDeep {
            machine: "deep".into(),
            state: parent.clone(),
            key: format!("s{}", MAX_STATE_DEPTH + 1),
            depth: MAX_STATE_DEPTH + 1,
            limit: MAX_STATE_DEPTH,
        }
    );
    let message = err.to_string();
    assert!(
        message.contains(&format!(
            "state 's65' under '{parent}' is nested 65 levels deep; a machine nests at most 64 levels"
        )),
        "{message}"
    );
    // A definition nobody builds is dropped without recursion too.
    drop(chain(100_000, StateBuilder::new()));
    // One level more than the limit is refused; the limit itself builds.
    let over = builder("over")
        .initial("s1")
        .child("s1", chain(MAX_STATE_DEPTH + 1, StateBuilder::new()))
        .build();
    assert!(matches!(
        over,
        Err(MachineBuildError::TooDeep { depth: 65, .. })
    ));
    assert!(
        builder("at")
            .initial("s1")
            .child("s1", chain(MAX_STATE_DEPTH, StateBuilder::new()))
            .build()
            .is_ok()
    );
}

/// A machine's memory on a redb file.
type Memory<C> = RedbMemory<OrchestratorMemoryRecord<C>>;

/// `machine` run by an orchestrator whose memory is a new redb file (deleted with the
/// returned folder), and that memory.
fn on_redb<C: MemoryRecord>(
    name: &str,
    machine: ArvoMachine<C>,
) -> (
    common_tempdir::TempDir,
    Memory<C>,
    ArvoOrchestrator<Memory<C>, C>,
) {
    let dir = common_tempdir::TempDir::new(&format!("machine-{name}"));
    let store = RedbStore::open(dir.file()).unwrap();
    let memory = store.memory(name).unwrap();
    let orch = ArvoOrchestrator::builder(memory.clone())
        .machine(machine)
        .build()
        .unwrap();
    (dir, memory, orch)
}

/// The nested value `{"s1": {"s2": ... "s<levels>"}}` of a chain's deepest state.
fn nested_value(levels: usize) -> Value {
    let mut value = json!(format!("s{levels}"));
    for level in (1..levels).rev() {
        value = json!({ format!("s{level}"): value });
    }
    value
}

/// A machine at the limit: its deepest state (level 64) calls `com.calc.add` on entry and, on
/// the answer, leaves for the top-level final state by id. Every step is stored in the redb
/// file as JSON (64 levels of state value inside the record) and read back.
#[tokio::test]
async fn a_machine_at_the_limit_runs_and_its_snapshot_round_trips_through_the_store() {
    let deepest = StateBuilder::new()
        .entry(|_, init, out| {
            out.emit(RawOutput::new(
                "com.calc.add",
                json!({"a": init.data()["a"], "b": init.data()["b"]}),
            ))
        })
        .on("evt.calc.add.success", |t| {
            t.target("#deep.done").action(|c: &mut Sum, e, _| {
                c.result = e.data()["result"].as_f64();
                Ok(())
            })
        });
    let machine = builder("deep")
        .initial("s1")
        .child("s1", chain(MAX_STATE_DEPTH, deepest))
        .state("done", |s| s.final_state())
        .build()
        .unwrap();
    assert_eq!(machine.state_paths().count(), MAX_STATE_DEPTH + 1);
    let diagram = machine.mermaid();
    assert!(diagram.contains(&format!("state \"s{MAX_STATE_DEPTH}\" as ")));

    let (_dir, memory, orch) = on_redb("deep", machine);
    let init = calc_init(2.0, 3.0);
    let calls = orch.execute(&init, ParentContext::Event).await.unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].to(), Some("com.calc.add"));
    let stored = memory.read(init.subject()).await.unwrap().unwrap().value;
    let value = serde_json::to_value(&stored.as_normal().unwrap().value).unwrap();
    assert_eq!(value, json!({ "s1": nested_value(MAX_STATE_DEPTH)["s1"] }));

    let answer = calc_handler()
        .execute(&calls[0], ParentContext::Event)
        .await
        .unwrap();
    let done = orch
        .execute(&answer[0], ParentContext::Event)
        .await
        .unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].data()["result"], 5.0);
    let stored = memory.read(init.subject()).await.unwrap().unwrap().value;
    let stored = stored.as_normal().unwrap();
    assert_eq!(stored.status, MachineStatus::Done);
    assert_eq!(serde_json::to_value(&stored.value).unwrap(), json!("done"));
}

/// A machine of `n` top-level states: each goes to the next on the service's answer (a
/// sibling's name) and back to the first on its system error (an id).
fn wide(n: usize) -> ArvoMachine<Sum> {
    let mut b = builder("wide").initial("s0");
    for i in 0..n {
        let next = format!("s{}", (i + 1) % n);
        b = b.state(format!("s{i}"), |s| {
            s.on("evt.calc.add.success", |t| t.target(next))
                .on("sys.com.calc.add.error", |t| t.target("#wide.s0"))
        });
    }
    b.build().unwrap()
}

/// Regression: building looked every transition's target up among all the states (and each id
/// among the ids before it), so 8x the states took ~70x the time (debug build: 12 ms and
/// 836 ms; 16,000 states took 1.4 s in release). The lookups are hashed now: 8x the states
/// take about 8x the (CPU) time. The bound (24x) leaves room for noise while a quadratic build
/// (64x) fails it.
#[test]
fn building_a_machine_takes_time_linear_in_its_states() {
    let ratio = common_timing::time_ratio(
        "1,000 and 8,000 states",
        3,
        || drop(std::hint::black_box(wide(1_000))),
        || drop(std::hint::black_box(wide(8_000))),
    );
    assert!(
        ratio < 24.0,
        "8x the states took {ratio:.1}x the time to build"
    );
    let machine = wide(8_000);
    assert_eq!(machine.state_paths().count(), 8_000);
    let diagram = machine.mermaid();
    assert!(diagram.contains("s_s7999 --> s_s0 : evt.calc.add.success"));
    assert!(diagram.contains("s_s7999 --> s_s0 : sys.com.calc.add.error"));
}

/// A machine whose context an action nests 200 levels deep. Before, the embedded store wrote
/// the record and every later read of it failed (`recursion limit exceeded`): the workflow was
/// stuck, its last good state overwritten. Now the write is refused: the step is a
/// `Transaction` violation (`WriteFailure`, the reason in its message), the stored record keeps
/// its state and version, and a re-delivery meets the same refusal, never an unreadable record.
#[tokio::test]
async fn a_step_whose_record_would_be_too_deep_to_read_is_refused_and_the_last_state_kept() {
    let machine = ArvoMachine::<Value>::builder("nest", CalcFlow::contract().latest())
        .service("calc", CalcAdd::contract().latest())
        .context(|_| Ok(json!({"n": 0})))
        .output(|_| Ok(json!({"result": 3})))
        .initial("asking")
        .state("asking", |s| {
            s.entry(|_, _, out| out.emit(RawOutput::new("com.calc.add", json!({"a": 1, "b": 2}))))
                .on("evt.calc.add.success", |t| {
                    t.target("done").action(|c: &mut Value, _, _| {
                        for _ in 0..200 {
                            *c = json!({ "inner": c.take() });
                        }
                        Ok(())
                    })
                })
        })
        .state("done", |s| s.final_state())
        .build()
        .unwrap();
    let (_dir, memory, orch) = on_redb("nest", machine);
    let init = calc_init(1.0, 2.0);
    let calls = orch.execute(&init, ParentContext::Event).await.unwrap();
    let before = memory.read(init.subject()).await.unwrap().unwrap();
    let answer = calc_handler()
        .execute(&calls[0], ParentContext::Event)
        .await
        .unwrap();
    for attempt in ["first", "re-delivered"] {
        let v = orch
            .execute(&answer[0], ParentContext::Event)
            .await
            .expect_err("the step's record cannot be stored");
        assert!(
            matches!(
                &v,
                Violation::Transaction { cause: TransactionCause::WriteFailure, message, .. }
                    if message.contains("could not be read back")
            ),
            "{attempt}: {v:?}"
        );
        let after = memory.read(init.subject()).await.unwrap().unwrap();
        assert_eq!(after.version, before.version, "{attempt}");
        let state = after.value.as_normal().unwrap();
        assert_eq!(serde_json::to_value(&state.value).unwrap(), json!("asking"));
        assert_eq!(state.state.context, json!({"n": 0}));
    }
}
