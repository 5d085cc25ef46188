//! The example binaries run and say what their docs promise.
#![allow(clippy::unwrap_used)]

fn run(exe: &str) -> String {
    let out = std::process::Command::new(exe).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{exe} failed:\n{stdout}");
    stdout
}

#[test]
fn single_handler_shows_an_event_a_system_error_and_a_violation() {
    let out = run(env!("CARGO_BIN_EXE_single_handler"));
    assert!(out.contains(r#""type": "evt.fx.convert.success""#), "{out}");
    assert!(out.contains(r#""amount_cents": 10800"#), "{out}");
    assert!(
        out.contains(r#""type": "sys.com.fx.convert.error""#),
        "{out}"
    );
    assert!(
        out.contains(r#""errorMessage": "no rate from EUR to JPY""#),
        "{out}"
    );
    assert!(out.contains("Contract violation"), "{out}");
}

#[test]
fn telemetry_puts_the_whole_workflow_in_one_trace() {
    let out = run(env!("CARGO_BIN_EXE_telemetry"));
    assert!(out.contains("12 events, 11 spans"), "{out}");
    assert!(out.contains("all spans form one trace"), "{out}");
    assert!(
        out.contains("TraceId"),
        "the stdout exporter printed spans:\n{out}"
    );
}
