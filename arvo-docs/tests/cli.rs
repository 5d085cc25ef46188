//! The `arvo-docs` binary: writes both outputs for the examples, refuses bad arguments and
//! folders it did not write.

mod common;

use common::tempdir;
use std::process::Command;

fn arvo_docs(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_arvo-docs"))
        .args(args)
        .output()
        .expect("the binary runs")
}

#[test]
fn writes_the_examples_docs() {
    let dir = tempdir();
    let out = dir.path().join("docs");
    let o = arvo_docs(&["--out".as_ref(), out.as_os_str()]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        stdout.contains("8 contracts, 3 orchestrators, 24 event types"),
        "{stdout}"
    );
    for f in [
        "index.html",
        "events.html",
        "style.css",
        "asyncapi.json",
        "asyncapi.yaml",
        "contracts/demo-orchestrator-order/1.0.0.html",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("asyncapi.json")).expect("read"))
            .expect("json");
    assert_eq!(doc["asyncapi"], "3.0.0");
    // Running again replaces its own output.
    assert!(
        arvo_docs(&["--out".as_ref(), out.as_os_str()])
            .status
            .success()
    );
}

#[test]
fn refuses_bad_arguments_and_foreign_folders() {
    let o = arvo_docs(&["--nope".as_ref()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown argument '--nope'"));
    let o = arvo_docs(&["--help".as_ref()]);
    assert!(
        o.status.success() && String::from_utf8_lossy(&o.stdout).starts_with("Usage: arvo-docs")
    );

    let dir = tempdir();
    std::fs::write(dir.path().join("precious.txt"), "mine").expect("write");
    let o = arvo_docs(&["--out".as_ref(), dir.path().as_os_str()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("refusing to replace"));
    assert_eq!(std::fs::read_dir(dir.path()).expect("read").count(), 1);
}

/// Regression: the binary read its arguments with `std::env::args`, which panics on one that
/// is not UTF-8; a folder named by such bytes (a valid Unix path) is now written to, and an
/// unknown such argument is refused by name (exit 2), never a panic (exit 101).
#[cfg(unix)]
#[test]
fn a_folder_whose_name_is_not_utf8_is_written_to() {
    use std::os::unix::ffi::OsStringExt as _;
    let dir = tempdir();
    let out = dir
        .path()
        .join(std::ffi::OsString::from_vec(b"docs-\xff".to_vec()));
    let o = arvo_docs(&["--out".as_ref(), out.as_os_str()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.join("index.html").is_file());
    let odd = std::ffi::OsString::from_vec(b"--\xff".to_vec());
    let o = arvo_docs(&[odd.as_os_str()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown argument '--\u{fffd}'"));
}
