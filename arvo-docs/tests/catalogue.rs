//! The catalogue model and the HTML pages: bad input, all-or-nothing writes, escaping, links,
//! diffs.

mod common;

use arvo_docs::diff::{ChangeKind, diff_versions};
use arvo_docs::{Catalogue, Diagram, DocsError, Orchestrator};
use arvo_runtime::contract::{ArvoContract, Schema, VersionSpec};
use common::{check_links, examples_catalogue, html_files, readme_catalogue, tempdir};
use serde_json::json;

fn schema(v: serde_json::Value) -> Schema {
    Schema::new(v).expect("schema compiles")
}

fn object(props: serde_json::Value, required: &[&str]) -> Schema {
    schema(json!({"type": "object", "properties": props, "required": required}))
}

#[test]
fn two_contracts_claiming_one_event_type_with_different_schemas_are_refused() {
    let a = ArvoContract::builder("#/a", "com.shared.run")
        .version(
            "1.0.0",
            VersionSpec::new(object(json!({"x": {"type": "string"}}), &["x"])),
        )
        .build()
        .expect("a");
    let b = ArvoContract::builder("#/b", "com.shared.run")
        .version(
            "2.0.0",
            VersionSpec::new(object(json!({"x": {"type": "integer"}}), &["x"])),
        )
        .build()
        .expect("b");
    let err = Catalogue::builder("t")
        .contract(&a)
        .contract(&b)
        .build()
        .expect_err("conflict");
    assert!(
        matches!(err, DocsError::ConflictingSchemas { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("'com.shared.run'"), "{msg}");
    assert!(msg.contains("uri=#/a, dataschema=#/a/1.0.0"), "{msg}");
    assert!(msg.contains("uri=#/b, dataschema=#/b/2.0.0"), "{msg}");

    // An emitted type too.
    let done = |t: &str| object(json!({"ok": {"type": t}}), &[]);
    let c = ArvoContract::builder("#/c", "com.c.run")
        .version(
            "1.0.0",
            VersionSpec::new(done("string")).emit("evt.job.done", done("boolean")),
        )
        .build()
        .expect("c");
    let d = ArvoContract::builder("#/d", "com.d.run")
        .version(
            "1.0.0",
            VersionSpec::new(done("string")).emit("evt.job.done", done("string")),
        )
        .build()
        .expect("d");
    let msg = Catalogue::builder("t")
        .contract(&c)
        .contract(&d)
        .build()
        .expect_err("conflict")
        .to_string();
    assert!(
        msg.contains("'evt.job.done'") && msg.contains("uri=#/c") && msg.contains("uri=#/d"),
        "{msg}"
    );

    // The same schema under one type is fine (and so is the same contract given twice).
    let e = ArvoContract::builder("#/e", "com.e.run")
        .version(
            "1.0.0",
            VersionSpec::new(done("string")).emit("evt.job.done", done("string")),
        )
        .build()
        .expect("e");
    let cat = Catalogue::builder("t")
        .contract(&d)
        .contract(&e)
        .contract(&d)
        .build()
        .expect("no conflict");
    assert_eq!(cat.contracts().len(), 2);
    let doc = cat.asyncapi().expect("doc");
    let msgs = doc["channels"]["evt.job.done"]["messages"]
        .as_object()
        .expect("messages");
    assert_eq!(msgs.len(), 2, "one message per contract: {msgs:?}");
}

#[test]
fn two_different_contracts_with_one_uri_are_refused() {
    let s = object(json!({}), &[]);
    let a = ArvoContract::simple("#/same", "a.run")
        .version("1.0.0", s.clone(), s.clone())
        .build()
        .expect("a");
    let b = ArvoContract::simple("#/same", "b.run")
        .version("1.0.0", s.clone(), s)
        .build()
        .expect("b");
    let msg = Catalogue::builder("t")
        .contract(&a)
        .contract(&b)
        .build()
        .expect_err("dup")
        .to_string();
    assert!(
        msg.contains("#/same") && msg.contains("com.a.run") && msg.contains("com.b.run"),
        "{msg}"
    );
}

#[test]
fn a_schema_that_cannot_be_rendered_is_refused_with_where() {
    // No example can be generated for a pattern: the error names contract, version, event type.
    let digits = object(
        json!({"code": {"type": "string", "pattern": "^[0-9]+$"}}),
        &["code"],
    );
    let ok = object(json!({}), &[]);
    let c = ArvoContract::simple("#/codes", "code.check")
        .version("1.0.0", ok.clone(), ok.clone())
        .version("2.0.0", digits, ok)
        .build()
        .expect("contract");
    let err = Catalogue::builder("t")
        .contract(&c)
        .build()
        .expect_err("unrenderable");
    let msg = err.to_string();
    assert!(matches!(err, DocsError::Schema { .. }), "{err:?}");
    assert!(
        msg.contains("'com.code.check'") && msg.contains("#/codes 2.0.0"),
        "{msg}"
    );
    assert!(
        msg.contains("examples"),
        "the message says how to fix it: {msg}"
    );

    // With an example in the schema it renders, and the example is used.
    let with_example = schema(
        json!({"type": "object", "properties": {"code": {"type": "string", "pattern": "^[0-9]+$", "examples": ["42"]}}, "required": ["code"]}),
    );
    let ok = object(json!({}), &[]);
    let c = ArvoContract::simple("#/codes", "code.check")
        .version("1.0.0", with_example, ok)
        .build()
        .expect("contract");
    let cat = Catalogue::builder("t")
        .contract(&c)
        .build()
        .expect("renders");
    assert_eq!(
        cat.contracts()[0].versions[0].accepts.example,
        json!({"code": "42"})
    );

    // A $ref that does not resolve: refused by the contract already, or by the catalogue.
    let dangling = Schema::new(
        json!({"type": "object", "properties": {"a": {"$ref": "#/definitions/Missing"}}}),
    );
    if let Ok(dangling) = dangling {
        let ok = object(json!({}), &[]);
        let c = ArvoContract::simple("#/d", "d.run")
            .version("1.0.0", dangling, ok)
            .build()
            .expect("contract");
        let msg = Catalogue::builder("t")
            .contract(&c)
            .build()
            .expect_err("dangling")
            .to_string();
        assert!(
            msg.contains("#/definitions/Missing") && msg.contains("#/properties/a"),
            "{msg}"
        );
    }
}

#[test]
fn an_orchestrator_needs_an_orchestrator_contract_and_its_versions() {
    let s = object(json!({}), &[]);
    let svc = ArvoContract::simple("#/svc", "svc.run")
        .version("1.0.0", s.clone(), s.clone())
        .build()
        .expect("svc");
    let msg = Catalogue::builder("t")
        .orchestrator(Orchestrator::new(svc.clone()))
        .build()
        .expect_err("not orc")
        .to_string();
    assert!(
        msg.contains("#/svc") && msg.contains("not an orchestrator contract"),
        "{msg}"
    );
    let flow = ArvoContract::orchestrator("#/flow", "flow")
        .version("1.0.0", s.clone(), s)
        .build()
        .expect("flow");
    let msg = Catalogue::builder("t")
        .orchestrator(
            Orchestrator::new(flow.clone()).calls("9.9.9", [svc.version("1.0.0").expect("v")]),
        )
        .build()
        .expect_err("bad version")
        .to_string();
    assert!(msg.contains("9.9.9") && msg.contains("#/flow"), "{msg}");
    let msg = Catalogue::builder("t")
        .orchestrator(
            Orchestrator::new(flow).diagram("2.0.0", Diagram::Mermaid("stateDiagram-v2".into())),
        )
        .build()
        .expect_err("bad diagram version")
        .to_string();
    assert!(msg.contains("2.0.0"), "{msg}");
}

#[test]
fn write_is_all_or_nothing_and_replaces_only_its_own_output() {
    let dir = tempdir();
    let out = dir.path().join("docs");
    let n = examples_catalogue().write(&out).expect("write");
    assert!(out.join("index.html").is_file() && out.join("asyncapi.json").is_file());
    assert!(out.join(arvo_docs::MARKER).is_file());
    assert_eq!(
        n + 1,
        walk(&out).len(),
        "every file written, plus the marker"
    );

    // A second run replaces the folder whole: the examples' pages are gone.
    readme_catalogue().write(&out).expect("rewrite");
    assert!(out.join("contracts/greet/1.0.0.html").is_file());
    assert!(!out.join("contracts/demo-payment-charge").exists());
    // No temporary or old folder is left beside it.
    let siblings: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(siblings, ["docs"], "{siblings:?}");

    // A folder arvo-docs did not write is left alone.
    let foreign = dir.path().join("mine");
    std::fs::create_dir(&foreign).expect("mkdir");
    std::fs::write(foreign.join("notes.txt"), "keep me").expect("write");
    let err = readme_catalogue().write(&foreign).expect_err("foreign");
    assert!(matches!(err, DocsError::ForeignOutput { .. }), "{err:?}");
    assert!(err.to_string().contains("mine"));
    assert_eq!(
        std::fs::read_to_string(foreign.join("notes.txt")).expect("read"),
        "keep me"
    );
    assert_eq!(walk(&foreign).len(), 1);

    // A write that fails (the parent is a file) leaves nothing behind.
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").expect("write");
    let err = readme_catalogue()
        .write(&file.join("docs"))
        .expect_err("io");
    assert!(matches!(err, DocsError::Io { .. }), "{err:?}");
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["docs", "mine", "plain-file"]);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

#[test]
fn html_cannot_be_injected_from_contract_text() {
    let evil = "<script>alert(\"x\")</script><img src=x onerror=alert(1)>";
    let accepts = schema(json!({
        "type": "object",
        "description": evil,
        "properties": {
            "name": {"type": "string", "description": format!("\"><b>{evil}")},
            "<i>field</i>": {"type": "string", "enum": ["</td><script>bad()</script>"]},
            "kind": {"$ref": "#/definitions/%3Csvg%20onload=alert(1)%3E"}
        },
        "definitions": {"<svg onload=alert(1)>": {"type": "string", "title": evil}},
        "required": ["name"]
    }));
    let emits = object(json!({"ok": {"type": "boolean", "description": evil}}), &[]);
    let c = ArvoContract::builder("#/evil", "com.evil.run")
        .description(evil)
        .version(
            "1.0.0",
            VersionSpec::new(accepts).emit("evt.evil.done", emits),
        )
        .build()
        .expect("contract");
    let flow_s = object(json!({}), &[]);
    let flow = ArvoContract::orchestrator("#/flow", "flow")
        .version("1.0.0", flow_s.clone(), flow_s)
        .build()
        .expect("flow");
    let cat = Catalogue::builder(format!("Title {evil}"))
        .description(evil)
        .contract(&c)
        .orchestrator(
            Orchestrator::new(flow)
                .label(evil)
                .calls("1.0.0", [c.version("1.0.0").expect("v")])
                .diagram(
                    "1.0.0",
                    Diagram::Mermaid(format!("stateDiagram-v2\n  a --> b: {evil}")),
                ),
        )
        .build()
        .expect("catalogue");
    let pages = cat.html();
    assert!(pages.len() >= 6);
    for (path, html) in &pages {
        let lower = html.to_lowercase();
        for bad in [
            "<script",
            "<img",
            "<svg onload",
            "<b>",
            "<i>",
            "onerror=alert",
        ] {
            // `onerror=alert` may only appear escaped inside text, never as an attribute.
            if bad == "onerror=alert" {
                assert!(
                    !lower.contains(" onerror=alert(1)>"),
                    "{path}: raw attribute"
                );
                continue;
            }
            assert!(!lower.contains(bad), "{path} contains {bad}:\n{html}");
        }
    }
    let version_page = &pages
        .iter()
        .find(|(p, _)| p.ends_with("evil/1.0.0.html"))
        .expect("page")
        .1;
    assert!(version_page.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"));
    assert!(version_page.contains("&lt;i&gt;field&lt;/i&gt;"));
    // The machine-diagram slot shows the Mermaid source, escaped, on the orchestrator's page.
    let flow_page = &pages
        .iter()
        .find(|(p, _)| p.ends_with("flow/1.0.0.html"))
        .expect("flow page")
        .1;
    assert!(
        flow_page.contains(
            "<pre class=\"mermaid-source\">stateDiagram-v2\n  a --&gt; b: &lt;script&gt;"
        )
    );
    assert!(flow_page.contains("Implemented by <code>&lt;script&gt;"));
    // The AsyncAPI document names the odd definition with a safe component key.
    let doc = cat.asyncapi().expect("doc");
    let keys: Vec<&String> = doc["components"]["schemas"]
        .as_object()
        .expect("schemas")
        .keys()
        .collect();
    assert_eq!(keys, ["_svg_onload_alert_1__"]);
}

#[test]
fn versions_are_diffed_and_linked() {
    let v1 = object(
        json!({"a": {"type": "string"}, "b": {"type": "integer", "description": "B"}, "gone": {"type": "string"}}),
        &["a"],
    );
    let v2 = object(
        json!({"a": {"type": "integer"}, "b": {"type": "integer", "description": "B, now required"}, "c": {"type": "boolean"}}),
        &["a", "b"],
    );
    let out1 = object(json!({}), &[]);
    let c = ArvoContract::builder("#/job", "com.job.run")
        .version(
            "1.0.0",
            VersionSpec::new(v1).emit("evt.job.done", out1.clone()),
        )
        .version("2.0.0", VersionSpec::new(v2).emit("evt.job.finished", out1))
        .build()
        .expect("contract");
    let cat = Catalogue::builder("t")
        .contract(&c)
        .build()
        .expect("catalogue");
    let versions = &cat.contracts()[0].versions;
    let changes = diff_versions(&versions[0], &versions[1]);
    let summary: Vec<(ChangeKind, Option<&str>, &str)> = changes
        .iter()
        .map(|c| (c.kind, c.field.as_deref(), c.event_type.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (ChangeKind::TypeChanged, Some("a"), "com.job.run"),
            (ChangeKind::NowRequired, Some("b"), "com.job.run"),
            (ChangeKind::DescriptionChanged, Some("b"), "com.job.run"),
            (ChangeKind::FieldAdded, Some("c"), "com.job.run"),
            (ChangeKind::FieldRemoved, Some("gone"), "com.job.run"),
            (ChangeKind::EventAdded, None, "evt.job.finished"),
            (ChangeKind::EventRemoved, None, "evt.job.done"),
        ]
    );
    assert_eq!(changes[0].before.as_deref(), Some("string"));
    assert_eq!(changes[0].after.as_deref(), Some("integer"));
    let pages = cat.html();
    let diff = &pages
        .iter()
        .find(|(p, _)| p == "contracts/job/diff-1.0.0-2.0.0.html")
        .expect("diff page")
        .1;
    assert!(diff.contains("type changed") && diff.contains("evt.job.finished"));
    let overview = &pages
        .iter()
        .find(|(p, _)| p == "contracts/job/index.html")
        .expect("overview")
        .1;
    assert!(overview.contains("href=\"../../contracts/job/diff-1.0.0-2.0.0.html\""));
}

/// Every contract, version and event type of the examples is on the pages, and every link of
/// the written catalogue resolves (file and anchor).
#[test]
fn the_examples_catalogue_is_complete_and_its_links_resolve() {
    let cat = examples_catalogue();
    let dir = tempdir();
    let out = dir.path().join("docs");
    cat.write(&out).expect("write");
    let index = std::fs::read_to_string(out.join("index.html")).expect("index");
    let events = std::fs::read_to_string(out.join("events.html")).expect("events");
    for c in cat.contracts() {
        assert!(
            index.contains(&format!(">{}</a>", c.label)),
            "{} not on the index",
            c.label
        );
        assert!(index.contains(c.contract.uri()));
        for v in &c.versions {
            let ver = v.versioned.version().as_str();
            let page = out.join(format!("contracts/{}/{ver}.html", c.slug));
            let html = std::fs::read_to_string(&page)
                .unwrap_or_else(|_| panic!("{} missing", page.display()));
            assert!(html.contains(&format!("<span class=\"version\">{ver}</span>")));
            assert!(html.contains(&v.accepts.event_type));
            for e in &v.emits {
                assert!(html.contains(&e.event_type));
            }
            assert!(html.contains(&c.system_error.event_type));
            assert!(html.contains("Example payload"));
        }
    }
    for t in cat.event_types() {
        assert!(
            events.contains(&format!("id=\"{}\"", arvo_docs::html::event_anchor(t))),
            "{t} not on events.html"
        );
    }
    assert_eq!(cat.event_types().len(), 24);
    // Who calls whom, both ways.
    let payment = std::fs::read_to_string(out.join("contracts/demo-payment-charge/1.0.0.html"))
        .expect("page");
    assert!(
        payment.contains("href=\"../../contracts/demo-orchestrator-payment/1.0.0.html#calls\"")
    );
    let order = std::fs::read_to_string(out.join("contracts/demo-orchestrator-order/1.0.0.html"))
        .expect("page");
    for svc in [
        "demo-inventory-reserve",
        "demo-order-approval",
        "demo-orchestrator-payment",
        "demo-shipping-schedule",
    ] {
        assert!(
            order.contains(&format!("href=\"../../contracts/{svc}/1.0.0.html\"")),
            "{svc}"
        );
    }
    assert!(order.contains("<svg"), "the call diagram");
    // Doc comments reach the tables.
    assert!(order.contains("The shop&#39;s order id."));
    let (problems, checked) = check_links(&out);
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(checked > 200, "only {checked} links");
    assert_eq!(html_files(&out).len(), 2 + 2 * cat.contracts().len());
}

#[test]
fn a_broken_link_is_caught_by_the_checker() {
    let dir = tempdir();
    std::fs::write(
        dir.path().join("a.html"),
        "<a href=\"b.html#x\">b</a><a href=\"c.html\">c</a><a href=\"https://x.invalid/\">n</a>",
    )
    .expect("write");
    std::fs::write(dir.path().join("b.html"), "<p id=\"y\">").expect("write");
    let (problems, checked) = check_links(dir.path());
    assert_eq!(checked, 3);
    assert_eq!(problems.len(), 3, "{problems:#?}");
}

#[test]
fn orchestrators_over_one_contract_are_merged_and_their_services_added() {
    let s = object(json!({}), &[]);
    let a = ArvoContract::simple("#/a", "a.run")
        .version("1.0.0", s.clone(), s.clone())
        .build()
        .expect("a");
    let b = ArvoContract::simple("#/b", "b.run")
        .version("1.0.0", s.clone(), s.clone())
        .build()
        .expect("b");
    let flow = ArvoContract::orchestrator("#/flow", "flow")
        .version("1.0.0", s.clone(), s.clone())
        .version("2.0.0", s.clone(), s)
        .build()
        .expect("flow");
    let cat = Catalogue::builder("t")
        .orchestrator(
            Orchestrator::new(flow.clone())
                .label("FlowV1")
                .calls("1.0.0", [a.version("1.0.0").expect("v")]),
        )
        .orchestrator(Orchestrator::new(flow).calls(
            "2.0.0",
            [
                a.version("1.0.0").expect("v"),
                b.version("1.0.0").expect("v"),
            ],
        ))
        .build()
        .expect("catalogue");
    assert_eq!(cat.orchestrators().len(), 1);
    let o = &cat.orchestrators()[0];
    assert_eq!(o.label, "FlowV1");
    let calls: Vec<(&str, &str)> = o
        .calls
        .iter()
        .map(|c| {
            (
                c.orchestrator_version.as_str(),
                cat.contracts()[c.service].contract.uri(),
            )
        })
        .collect();
    assert_eq!(
        calls,
        [("1.0.0", "#/a"), ("2.0.0", "#/a"), ("2.0.0", "#/b")]
    );
    // The services were added without being listed, and know their caller.
    assert_eq!(cat.contracts().len(), 3);
    let a_index = cat
        .contracts()
        .iter()
        .position(|c| c.contract.uri() == "#/a")
        .expect("a");
    assert_eq!(cat.callers(a_index, "1.0.0").count(), 2);
}
