//! The AsyncAPI document: snapshots for the README's and the examples' contracts, its
//! structure, and validation by the real `@asyncapi/parser` (Node).

mod common;

use common::{examples_catalogue, missing_tool, readme_catalogue, tempdir};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn doc(c: &arvo_docs::Catalogue) -> Value {
    match c.asyncapi() {
        Ok(d) => d,
        Err(e) => panic!("asyncapi: {e}"),
    }
}

#[test]
fn snapshot_readme_contracts() {
    let c = readme_catalogue();
    let json = c.asyncapi_json().expect("json");
    insta::assert_snapshot!("readme_asyncapi_json", json);
}

#[test]
fn snapshot_example_contracts() {
    let c = examples_catalogue();
    let yaml = c.asyncapi_yaml().expect("yaml");
    insta::assert_snapshot!("examples_asyncapi_yaml", yaml);
}

#[test]
fn yaml_and_json_are_the_same_document() {
    let c = examples_catalogue();
    let from_yaml: Value =
        serde_norway::from_str(&c.asyncapi_yaml().expect("yaml")).expect("yaml parses");
    assert_eq!(from_yaml, doc(&c));
}

/// The structure the issue asks for, checked on the README's contracts.
#[test]
fn channels_operations_and_messages() {
    let d = doc(&readme_catalogue());
    assert_eq!(d["asyncapi"], "3.0.0");
    let channels = d["channels"].as_object().expect("channels");
    let names: Vec<&str> = channels.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "com.greet.user",
            "evt.greet.user.success",
            "sys.com.greet.user.error",
            "arvo.orc.welcome",
            "arvo.orc.welcome.done",
            "sys.arvo.orc.welcome.error",
        ]
    );
    for (name, ch) in channels {
        assert_eq!(ch["address"], name.as_str());
    }
    // Messages carry the dataschema, the schema and an example.
    let m = &d["components"]["messages"]["com.greet.user-v1.0.0"];
    assert_eq!(m["x-arvo-dataschema"], "#/greet/1.0.0");
    assert_eq!(m["payload"]["required"], serde_json::json!(["name"]));
    assert_eq!(
        m["examples"][0]["payload"],
        serde_json::json!({"name": "string"})
    );
    assert_eq!(m["examples"][0]["headers"]["dataschema"], "#/greet/1.0.0");
    assert_eq!(
        m["traits"][0]["$ref"],
        "#/components/messageTraits/CloudEvent"
    );
    // The system error: the reference's error schema, wildcard dataschema.
    let se = &d["components"]["messages"]["sys.com.greet.user.error-v0.0.0"];
    assert_eq!(se["x-arvo-dataschema"], "#/greet/0.0.0");
    let props: Vec<&str> = se["payload"]["properties"]
        .as_object()
        .expect("error properties")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(props, ["errorName", "errorMessage", "errorStack"]);
    // The init event carries parentSubject$$ (null in the example: a root workflow).
    let init = &d["components"]["messages"]["arvo.orc.welcome-v1.0.0"];
    assert!(init["payload"]["properties"]["parentSubject$$"].is_object());
    assert_eq!(
        init["examples"][0]["payload"]["parentSubject$$"],
        Value::Null
    );
    // Operations: the handler receives, sends its emits and its system error; the
    // orchestrator sends the call and receives the answers.
    let ops = d["operations"].as_object().expect("operations");
    let action = |id: &str| {
        ops.get(id)
            .map(|o| o["action"].as_str().unwrap_or("?").to_owned())
    };
    assert_eq!(
        action("greet.receive.com.greet.user").as_deref(),
        Some("receive")
    );
    assert_eq!(
        action("greet.send.evt.greet.user.success").as_deref(),
        Some("send")
    );
    assert_eq!(
        action("greet.send.sys.com.greet.user.error").as_deref(),
        Some("send")
    );
    assert_eq!(
        action("welcome.receive.arvo.orc.welcome").as_deref(),
        Some("receive")
    );
    assert_eq!(
        action("welcome.send.arvo.orc.welcome.done").as_deref(),
        Some("send")
    );
    assert_eq!(
        action("welcome.send.com.greet.user").as_deref(),
        Some("send")
    );
    assert_eq!(
        action("welcome.receive.evt.greet.user.success").as_deref(),
        Some("receive")
    );
    assert_eq!(
        action("welcome.receive.sys.com.greet.user.error").as_deref(),
        Some("receive")
    );
    assert_eq!(ops.len(), 9, "{:?}", ops.keys().collect::<Vec<_>>());
    // Every operation's messages belong to its channel.
    for (id, op) in ops {
        let channel = op["channel"]["$ref"].as_str().expect("channel ref");
        for msg in op["messages"].as_array().expect("messages") {
            let r = msg["$ref"].as_str().expect("message ref");
            assert!(
                r.starts_with(&format!("{channel}/messages/")),
                "{id}: {r} not in {channel}"
            );
        }
    }
}

/// `@asyncapi/parser` does not check message examples against their schemas in 3.0, so this
/// does: every example's headers against the CloudEvent trait, every example payload equal to
/// the catalogue's (which the contract's validator accepted when the catalogue was built).
#[test]
fn examples_follow_the_trait_and_the_contracts() {
    let c = examples_catalogue();
    let d = doc(&c);
    let headers = &d["components"]["messageTraits"]["CloudEvent"]["headers"];
    let validator = jsonschema::validator_for(headers).expect("headers schema compiles");
    let messages = d["components"]["messages"].as_object().expect("messages");
    assert_eq!(messages.len(), c.events().count());
    for (i, e) in c.events() {
        let found = messages.values().find(|m| {
            m["name"] == e.event_type.as_str() && m["x-arvo-dataschema"] == e.dataschema.as_str()
        });
        let m = found.unwrap_or_else(|| panic!("no message for {} {}", e.event_type, e.dataschema));
        assert_eq!(m["x-arvo-contract"], c.contracts()[i].contract.uri());
        let ex = &m["examples"][0];
        assert_eq!(ex["payload"], e.example);
        assert!(e.schema.validate(&ex["payload"]).is_ok());
        let errors: Vec<String> = validator
            .iter_errors(&ex["headers"])
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", e.event_type);
        assert_eq!(ex["headers"]["type"], e.event_type.as_str());
    }
}

fn parser_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/asyncapi"))
}

/// Runs `node validate.mjs` (the real `@asyncapi/parser`, with its Spectral rules) on the
/// documents written for the README's and the examples' contracts: it exits non-zero on any
/// error or warning.
#[test]
fn asyncapi_parser_accepts_the_documents() {
    let test = "asyncapi_parser_accepts_the_documents";
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !node_ok {
        return missing_tool(test, "`node` is not on PATH");
    }
    if !parser_dir()
        .join("node_modules/@asyncapi/parser/package.json")
        .is_file()
    {
        return missing_tool(
            test,
            "@asyncapi/parser is not installed (run `npm ci` in arvo-docs/tests/asyncapi)",
        );
    }
    let dir = tempdir();
    let mut files = Vec::new();
    for (name, c) in [
        ("readme", readme_catalogue()),
        ("examples", examples_catalogue()),
    ] {
        let json = dir.path().join(format!("{name}.json"));
        let yaml = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&json, c.asyncapi_json().expect("json")).expect("write");
        std::fs::write(&yaml, c.asyncapi_yaml().expect("yaml")).expect("write");
        files.push(json);
        files.push(yaml);
    }
    let out = Command::new("node")
        .current_dir(parser_dir())
        .arg("validate.mjs")
        .args(&files)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}{stderr}");
    assert!(
        out.status.success(),
        "@asyncapi/parser refused a document:\n{stdout}\n{stderr}"
    );
    assert_eq!(
        stdout.matches("0 errors, 0 warnings").count(),
        4,
        "{stdout}"
    );
}

/// The checker itself fails on a broken document (so a pass above means something).
#[test]
fn asyncapi_parser_refuses_a_broken_document() {
    let test = "asyncapi_parser_refuses_a_broken_document";
    if !Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
        || !parser_dir()
            .join("node_modules/@asyncapi/parser/package.json")
            .is_file()
    {
        return missing_tool(test, "`node` or @asyncapi/parser is missing");
    }
    let mut d = doc(&readme_catalogue());
    d["operations"]["greet.receive.com.greet.user"]["channel"]["$ref"] =
        Value::String("#/channels/nope".into());
    let dir = tempdir();
    let file = dir.path().join("broken.json");
    std::fs::write(&file, serde_json::to_string(&d).expect("json")).expect("write");
    let out = Command::new("node")
        .current_dir(parser_dir())
        .arg("validate.mjs")
        .arg(&file)
        .output()
        .expect("node runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("#/channels/nope"));
}
