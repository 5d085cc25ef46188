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

/// `demo --stop-after-approval-request` leaves ORD-1001 waiting in the state file; a second
/// process, `demo --resume`, finds it there, answers it and runs it to its end; a third finds
/// nothing left to resume.
#[test]
fn the_demo_workflow_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("arvo-demo-restart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("demo.redb");
    let demo = |mode: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_demo"))
            .args([mode, "--file"])
            .arg(&file)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };

    let (ok, stop) = demo("--stop-after-approval-request");
    assert!(ok, "{stop}");
    assert!(stop.contains("domain=human.review"), "{stop}");
    assert!(stop.contains("waiting for approval"), "{stop}");
    assert!(!stop.contains("evt.order.approval.decision"), "{stop}");
    assert!(!stop.contains("arvo.orc.order.process.done"), "{stop}");

    let (ok, resume) = demo("--resume");
    assert!(ok, "{resume}");
    let at = |t: &str| {
        resume
            .find(t)
            .unwrap_or_else(|| panic!("no {t} in:\n{resume}"))
    };
    assert!(at("evt.order.approval.decision") < at("evt.payment.charge.success"));
    assert!(at("evt.payment.charge.success") < at("evt.shipping.schedule.success"));
    assert!(at("evt.shipping.schedule.success") < at("arvo.orc.order.process.done"));
    assert!(
        resume.contains("resumed and finished: ORD-1001 Completed total 2524.00"),
        "{resume}"
    );
    // The workflow id is the one the first process started.
    let execution = |out: &str, t: &str| {
        let line = out.lines().find(|l| l.contains(t)).unwrap();
        let start = line.find('[').unwrap();
        line[start..=start + line[start..].find(']').unwrap()].to_owned()
    };
    assert_eq!(
        execution(&stop, "com.order.approval.request"),
        execution(&resume, "arvo.orc.order.process.done")
    );

    let (ok, again) = demo("--resume");
    assert!(!ok, "nothing left to resume:\n{again}");
    assert!(
        again.contains("No workflow is waiting for approval"),
        "{again}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Regression: the binaries read their arguments with `std::env::args`, which panics (exit 101)
/// on one that is not UTF-8, and took a variable whose value is not UTF-8 for unset (the
/// worker then connected to the default NATS address). Each is now a usage error naming the
/// argument or the variable (exit 2), before anything connects.
#[cfg(unix)]
#[test]
fn arguments_and_variables_that_are_not_utf8_are_usage_errors() {
    use std::os::unix::ffi::OsStringExt as _;
    let odd = std::ffi::OsString::from_vec(b"--str\xffeam".to_vec());
    for exe in [
        env!("CARGO_BIN_EXE_demo"),
        env!("CARGO_BIN_EXE_order-worker"),
        env!("CARGO_BIN_EXE_order-client"),
    ] {
        let out = std::process::Command::new(exe).arg(&odd).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{exe}: {stderr}");
        assert!(
            stderr.contains("argument 1 is not valid UTF-8: '--str\u{fffd}eam'"),
            "{exe}: {stderr}"
        );
    }
    for (exe, var) in [
        (env!("CARGO_BIN_EXE_order-worker"), "ARVO_NATS_URL"),
        (env!("CARGO_BIN_EXE_order-worker"), "ARVO_APPROVE_UP_TO"),
        (env!("CARGO_BIN_EXE_order-client"), "ARVO_STREAM"),
    ] {
        let out = std::process::Command::new(exe)
            .env(var, std::ffi::OsString::from_vec(b"x\xff".to_vec()))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{exe} {var}: {stderr}");
        assert!(
            stderr.contains(&format!("{var} is not valid UTF-8: 'x\u{fffd}'")),
            "{exe} {var}: {stderr}"
        );
    }
}
