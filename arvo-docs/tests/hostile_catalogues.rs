//! Catalogues whose contracts are valid but would break or slow the docs: a uri too long for a
//! folder name, many uris that make one slug, many contracts sharing one event type. Each is
//! documented whole, with working links, in time linear in its size.

mod common;

use arvo_docs::{Catalogue, DocsError, MAX_SLUG};
use arvo_runtime::contract::{ArvoContract, Schema, VersionSpec};
use serde_json::json;
use std::collections::HashSet;

fn object(field_type: &str) -> Schema {
    Schema::new(json!({"type": "object", "properties": {"x": {"type": field_type}}}))
        .expect("schema")
}

/// A service at `uri` accepting `com.<name>.run` and emitting `emits` (type, field type).
fn service(uri: &str, name: &str, emits: &[(&str, &str)]) -> ArvoContract {
    let mut spec = VersionSpec::new(object("string"));
    for (t, field) in emits {
        spec = spec.emit(*t, object(field));
    }
    ArvoContract::builder(uri, format!("com.{name}.run"))
        .version("1.0.0", spec)
        .build()
        .expect("contract")
}

fn catalogue(contracts: &[ArvoContract]) -> Result<Catalogue, DocsError> {
    contracts
        .iter()
        .fold(Catalogue::builder("hostile"), |b, c| b.contract(c))
        .build()
}

/// Uris of `n` contracts that differ only in punctuation, so they all make the slug `x`.
fn alike_uris(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("#/x{}", common::punctuation(i, 3)))
        .collect()
}

#[test]
fn a_uri_too_long_for_a_folder_name_is_documented_under_a_short_slug() {
    // Each uri made a folder of its own length: 400 bytes, which file systems refuse (255).
    let long = format!("#/{}", "a".repeat(400));
    let contracts = [
        service(&long, "long.one", &[]),
        service(&format!("{long}b"), "long.two", &[]),
    ];
    let cat = catalogue(&contracts).expect("documented");
    let slugs: Vec<&str> = cat.contracts().iter().map(|c| c.slug.as_str()).collect();
    assert_eq!(
        slugs,
        [
            &long[2..2 + MAX_SLUG],
            &format!("{}-2", &long[2..2 + MAX_SLUG])
        ]
    );

    let dir = common::tempdir();
    let written = cat.write(dir.path()).expect("written");
    assert!(written > 0);
    let (problems, checked) = common::check_links(dir.path());
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(checked > 0);
}

/// Builds the catalogue of `contracts` and writes its HTML pages and AsyncAPI document in memory.
fn document(contracts: &[ArvoContract]) {
    let cat = catalogue(contracts).expect("documented");
    std::hint::black_box((cat.html(), cat.asyncapi_json().expect("asyncapi")));
}

/// Regression: a slug already taken was retried as `-2`, `-3`, ... from the start, each looked
/// up in the list of contracts, so n uris making one slug took n^3 steps (2,000: 6.5 s to build
/// the catalogue); AsyncAPI message keys, channel descriptions, the events page, callers and
/// schema claims each scanned every event per event (n^2). 8x the contracts now take about 8x
/// the time; the bound (24x) leaves room for noise while a quadratic step (64x) fails it.
#[test]
fn many_uris_making_one_slug_are_documented_in_linear_time() {
    let make = |n: usize| -> Vec<ArvoContract> {
        alike_uris(n)
            .iter()
            .enumerate()
            .map(|(i, uri)| service(uri, &format!("s{i}"), &[("evt.shared.done", "boolean")]))
            .collect()
    };
    let (small, big) = (make(200), make(1_600));
    let ratio = common::timing::time_ratio(
        "200 and 1,600 contracts",
        2,
        || document(&small),
        || document(&big),
    );
    assert!(ratio < 24.0, "8x the contracts took {ratio:.1}x the time");

    let cat = catalogue(&big).expect("documented");
    let slugs: HashSet<&str> = cat.contracts().iter().map(|c| c.slug.as_str()).collect();
    assert_eq!(slugs.len(), 1_600, "every contract has its own slug");
    assert!(slugs.contains("x") && slugs.contains("x-2") && slugs.contains("x-1600"));
}

#[test]
fn contracts_sharing_an_event_type_are_each_listed_once_with_working_links() {
    let uris = alike_uris(60);
    let contracts: Vec<ArvoContract> = uris
        .iter()
        .enumerate()
        .map(|(i, uri)| service(uri, &format!("s{i}"), &[("evt.shared.done", "boolean")]))
        .collect();
    let cat = catalogue(&contracts).expect("documented");

    // AsyncAPI: one channel for the shared type, one message per contract (keyed by its slug),
    // and a description naming each contract once.
    let doc = cat.asyncapi().expect("asyncapi");
    let channel = &doc["channels"]["evt.shared.done"];
    let messages = channel["messages"].as_object().expect("messages");
    assert_eq!(messages.len(), 60);
    assert!(
        messages.contains_key("evt.shared.done-x-2-v1.0.0"),
        "{messages:?}"
    );
    let description = channel["description"].as_str().expect("description");
    let listed: Vec<&str> = description
        .strip_prefix("Events of type `evt.shared.done`: ")
        .and_then(|list| list.strip_suffix('.'))
        .unwrap_or_else(|| panic!("{description}"))
        .split("; ")
        .collect();
    let expected: Vec<String> = cat
        .contracts()
        .iter()
        .map(|c| format!("{} emits", c.label))
        .collect();
    assert_eq!(listed, expected);

    // HTML: the events page lists each contract once under the shared type; every link works.
    let dir = common::tempdir();
    cat.write(dir.path()).expect("written");
    let events = std::fs::read_to_string(dir.path().join("events.html")).expect("events page");
    let section = events
        .split("id=\"t-evt.shared.done\"")
        .nth(1)
        .and_then(|s| s.split("</section>").next())
        .expect("the shared type's section");
    assert_eq!(section.matches("<tr><td>").count(), 60, "{section}");
    let (problems, _) = common::check_links(dir.path());
    assert!(problems.is_empty(), "{problems:#?}");
}

/// One contract may change an event type's schema between its versions; another contract
/// claiming the type must agree with each of them. The conflict found is named by both claims.
#[test]
fn a_claim_conflicting_with_a_later_version_of_another_contract_is_refused() {
    let two_versions = ArvoContract::builder("#/a", "com.a.run")
        .version(
            "1.0.0",
            VersionSpec::new(object("string")).emit("evt.t.done", object("string")),
        )
        .version(
            "2.0.0",
            VersionSpec::new(object("string")).emit("evt.t.done", object("integer")),
        )
        .build()
        .expect("a");
    assert!(catalogue(std::slice::from_ref(&two_versions)).is_ok());

    let agreeing_with_v1 = service("#/b", "b", &[("evt.t.done", "string")]);
    let err = catalogue(&[two_versions, agreeing_with_v1]).expect_err("conflict with a's 2.0.0");
    let msg = err.to_string();
    assert!(matches!(err, DocsError::ConflictingSchemas { .. }), "{msg}");
    assert!(msg.contains("uri=#/a, dataschema=#/a/2.0.0"), "{msg}");
    assert!(msg.contains("uri=#/b, dataschema=#/b/1.0.0"), "{msg}");
}
