//! Opens the examples' HTML catalogue in headless Chromium (Debian's `chromium`): takes a
//! screenshot, reads the rendered DOM of every page and checks that every contract, version
//! and event type is there, and that every link resolves.
//!
//! Without Chromium the test prints why and passes; with `CI=true` it fails (`.ci/run`
//! installs it). `ARVO_DOCS_CHROMIUM` overrides the binary; `ARVO_DOCS_SCREENSHOT=<file.png>`
//! keeps the screenshot (how the README's picture is made).

mod common;

use common::{check_links, examples_catalogue, missing_tool, tempdir};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ARVO_DOCS_CHROMIUM") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// Runs headless Chromium on `page` with `args` (a fresh profile each time), kills it after
/// 60 s; returns stdout.
fn run(chromium: &Path, page: &Path, args: &[String]) -> String {
    let profile = tempdir();
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                assert!(
                    status.success(),
                    "chromium failed on {}: {status}",
                    page.display()
                );
                break;
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chromium did not finish on {} within 60 s", page.display());
            }
        }
    }
    reader.join().unwrap_or_default()
}

#[test]
fn the_catalogue_renders_in_headless_chromium() {
    let test = "the_catalogue_renders_in_headless_chromium";
    let Some(chromium) = chromium() else {
        return missing_tool(test, "chromium is not installed (/usr/bin/chromium)");
    };
    let cat = examples_catalogue();
    let dir = tempdir();
    let out = dir.path().join("docs");
    cat.write(&out).expect("write");
    let out = out.canonicalize().expect("canonical");

    // The screenshot.
    let png = dir.path().join("index.png");
    run(
        &chromium,
        &out.join("index.html"),
        &[
            "--window-size=1280,1000".to_owned(),
            format!("--screenshot={}", png.display()),
        ],
    );
    let bytes = std::fs::read(&png).expect("a screenshot was written");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        bytes.len() > 20_000,
        "suspiciously small screenshot: {} bytes",
        bytes.len()
    );
    if let Some(keep) = std::env::var_os("ARVO_DOCS_SCREENSHOT") {
        std::fs::copy(&png, &keep).expect("copy the screenshot");
    }

    // The rendered DOM of the index and the event types page.
    let dump = |page: &Path| run(&chromium, page, &["--dump-dom".to_owned()]);
    let index = dump(&out.join("index.html"));
    assert!(
        index.contains("<h2 id=\"services\">Services</h2>"),
        "{index}"
    );
    let events = dump(&out.join("events.html"));
    for c in cat.contracts() {
        assert!(index.contains(&c.label), "{} not on the index", c.label);
        for v in &c.versions {
            assert!(index.contains(&format!(
                "{}/{}.html\">{}</a>",
                c.slug,
                v.versioned.version(),
                v.versioned.version()
            )));
        }
    }
    for t in cat.event_types() {
        assert!(
            events.contains(&format!("<code>{t}</code>")),
            "{t} not on events.html"
        );
    }
    // Every version page, as Chromium renders it (two browsers at a time).
    let jobs: Vec<_> = cat
        .contracts()
        .iter()
        .flat_map(|c| c.versions.iter().map(move |v| (c, v)))
        .collect();
    let (first, second) = jobs.split_at(jobs.len() / 2);
    let render = |part: &[(&arvo_docs::ContractDoc, &arvo_docs::VersionDoc)]| {
        part.iter()
            .map(|(c, v)| {
                dump(&out.join(format!(
                    "contracts/{}/{}.html",
                    c.slug,
                    v.versioned.version()
                )))
            })
            .collect::<Vec<_>>()
    };
    let doms: Vec<String> = std::thread::scope(|s| {
        let other = s.spawn(|| render(second));
        let mut doms = render(first);
        doms.extend(other.join().expect("the second browser thread"));
        doms
    });
    let mut pages = 0;
    for ((c, v), dom) in jobs.iter().zip(&doms) {
        let ver = v.versioned.version().as_str();
        pages += 1;
        assert!(
            dom.contains(&format!("<span class=\"version\">{ver}</span>")),
            "{}",
            c.label
        );
        assert!(dom.contains(&c.label));
        for e in std::iter::once(&v.accepts)
            .chain(&v.emits)
            .chain(std::iter::once(&c.system_error))
        {
            assert!(
                dom.contains(&e.event_type),
                "{} {ver}: {}",
                c.label,
                e.event_type
            );
            assert!(
                dom.contains(&e.dataschema),
                "{} {ver}: {}",
                c.label,
                e.dataschema
            );
        }
        assert!(!dom.contains("<script"), "no scripts");
    }
    assert_eq!(pages, 8);
    let (problems, checked) = check_links(&out);
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(checked > 200);
}
