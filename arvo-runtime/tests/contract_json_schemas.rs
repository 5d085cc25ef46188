//! Every case of `contract_json_schemas.json` (the reference's contract exports), rebuilt with
//! the Rust builders and compared key order included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use arvo_runtime::contract::{ArvoContract, ContractError, Schema, SortOrder, VersionSpec};
use serde_json::{Map, Value};

fn vectors() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/contract_json_schemas.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn schema(v: &Value) -> Schema {
    let mut v = v.clone();
    v.as_object_mut().unwrap().shift_remove("$schema");
    Schema::new(v).unwrap()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

fn without(meta: &Value, keys: &[&str]) -> Map<String, Value> {
    let mut m = meta.as_object().unwrap().clone();
    for k in keys {
        m.shift_remove(*k);
    }
    m
}

fn build(case: &Value) -> ArvoContract {
    let c = &case["contract"];
    let export = &c["toJsonSchema"];
    let versions = export["versions"].as_array().unwrap();
    let uri = s(&c["uri"]);
    match s(&case["source"]) {
        "createArvoContract" => {
            let mut b = ArvoContract::builder(uri, s(&c["type"]))
                .metadata(c["metadata"].as_object().unwrap().clone());
            if let Some(d) = c["domain"].as_str() {
                b = b.domain(d);
            }
            if let Some(d) = c["description"].as_str() {
                b = b.description(d);
            }
            for v in versions {
                let mut spec = VersionSpec::new(schema(&v["accepts"]["schema"]));
                for e in v["emits"].as_array().unwrap() {
                    spec = spec.emit(s(&e["type"]), schema(&e["schema"]));
                }
                b = b.version(s(&v["version"]), spec);
            }
            b.build().unwrap()
        }
        "createSimpleArvoContract" => {
            let mut b = ArvoContract::simple(uri, s(&c["metadata"]["rootType"]))
                .metadata(without(&c["metadata"], &["contractType", "rootType"]));
            if let Some(d) = c["domain"].as_str() {
                b = b.domain(d);
            }
            if let Some(d) = c["description"].as_str() {
                b = b.description(d);
            }
            for v in versions {
                b = b.version(
                    s(&v["version"]),
                    schema(&v["accepts"]["schema"]),
                    schema(&v["emits"][0]["schema"]),
                );
            }
            b.build().unwrap()
        }
        "createArvoOrchestratorContract" => {
            let meta = without(
                &c["metadata"],
                &[
                    "contractType",
                    "rootType",
                    "completeEventType",
                    "initEventType",
                ],
            );
            let mut b =
                ArvoContract::orchestrator(uri, s(&c["metadata"]["rootType"])).metadata(meta);
            if let Some(d) = c["domain"].as_str() {
                b = b.domain(d);
            }
            if let Some(d) = c["description"].as_str() {
                b = b.description(d);
            }
            for v in versions {
                // The init schema as the user wrote it: the merged schema minus `parentSubject$$`.
                let mut init = v["accepts"]["schema"].clone();
                init["properties"]
                    .as_object_mut()
                    .unwrap()
                    .shift_remove("parentSubject$$");
                let req = init["required"].as_array_mut().unwrap();
                req.retain(|r| r != "parentSubject$$");
                if req.is_empty() {
                    init.as_object_mut().unwrap().shift_remove("required");
                }
                b = b.version(
                    s(&v["version"]),
                    schema(&init),
                    schema(&v["emits"][0]["schema"]),
                );
            }
            b.build().unwrap().into_contract()
        }
        other => panic!("unknown source {other}"),
    }
}

#[test]
fn every_case_matches_the_reference() {
    let v = vectors();
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 5);
    for case in cases {
        let name = s(&case["name"]);
        let c = &case["contract"];
        let contract = build(case);
        assert_eq!(contract.uri(), s(&c["uri"]), "{name}");
        assert_eq!(contract.event_type(), s(&c["type"]), "{name}");
        assert_eq!(contract.domain(), c["domain"].as_str(), "{name}");
        assert_eq!(contract.description(), c["description"].as_str(), "{name}");
        assert_eq!(
            serde_json::to_string(contract.metadata()).unwrap(),
            c["metadata"].to_string(),
            "{name}"
        );
        assert_eq!(
            contract.system_error_type(),
            s(&c["systemErrorType"]),
            "{name}"
        );
        let desc: Vec<String> = contract
            .sorted_versions(SortOrder::Desc)
            .iter()
            .map(|v| v.to_string())
            .collect();
        let expected: Vec<String> = c["sortedVersionsDesc"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| s(v).to_owned())
            .collect();
        assert_eq!(desc, expected, "{name}");
        assert_eq!(
            contract.version("latest").unwrap().version().as_str(),
            s(&c["latest"]),
            "{name}"
        );
        assert_eq!(
            contract.version("oldest").unwrap().version().as_str(),
            s(&c["oldest"]),
            "{name}"
        );
        assert_eq!(
            serde_json::to_string(&contract.to_json_schema()).unwrap(),
            serde_json::to_string(&c["toJsonSchema"]).unwrap(),
            "{name}: toJsonSchema"
        );
        let versions = c["versions"].as_array().unwrap();
        assert_eq!(versions.len(), contract.versions().len(), "{name}");
        for ve in versions {
            let vc = contract.version(s(&ve["version"])).unwrap();
            assert_eq!(vc.uri(), s(&ve["uri"]), "{name}");
            assert_eq!(vc.dataschema(), s(&ve["dataschema"]), "{name}");
            assert_eq!(vc.accepts().event_type, s(&ve["acceptsType"]), "{name}");
            let emit_types: Vec<&str> = vc
                .emit_list()
                .iter()
                .map(|e| e.event_type.as_str())
                .collect();
            let expected: Vec<&str> = ve["emitTypes"].as_array().unwrap().iter().map(s).collect();
            assert_eq!(emit_types, expected, "{name}");
            assert_eq!(
                vc.system_error().event_type,
                s(&ve["systemError"]["type"]),
                "{name}"
            );
            assert_eq!(
                vc.system_error().dataschema,
                s(&ve["systemError"]["dataschema"]),
                "{name}"
            );
            assert_eq!(vc.domain(), ve["domain"].as_str(), "{name}");
            assert_eq!(
                serde_json::to_string(&vc.to_json_schema()).unwrap(),
                serde_json::to_string(&ve["toJsonSchema"]).unwrap(),
                "{name}: versioned toJsonSchema {}",
                vc.version()
            );
        }
    }
}

fn any() -> Schema {
    Schema::new(serde_json::json!({})).unwrap()
}

/// The inputs are not in the vector; each is rebuilt from the case name and the message.
fn invalid_case(name: &str) -> ContractError {
    match name {
        "reserved_orchestrator_prefix_in_type" => ArvoContract::builder("#/x", "arvo.orc.sneaky")
            .version("1.0.0", VersionSpec::new(any()))
            .build()
            .unwrap_err(),
        "reserved_wildcard_version" => ArvoContract::builder("#/x", "com.x.y")
            .version("0.0.0", VersionSpec::new(any()))
            .build()
            .unwrap_err(),
        "invalid_semver_key" => ArvoContract::builder("#/x", "com.x.y")
            .version("1.0", VersionSpec::new(any()))
            .build()
            .unwrap_err(),
        "no_versions" => ArvoContract::builder("#/x", "com.x.y").build().unwrap_err(),
        "invalid_uri" => ArvoContract::builder("not a uri", "com.x.y")
            .version("1.0.0", VersionSpec::new(any()))
            .build()
            .unwrap_err(),
        "orchestrator_name_with_uppercase" => ArvoContract::orchestrator("#/x", "Bad.Name")
            .version("1.0.0", any(), any())
            .build()
            .unwrap_err(),
        "unknown_version_lookup" => ArvoContract::simple("#/bench/calc/add", "calc.add")
            .version("1.0.0", any(), any())
            .build()
            .unwrap()
            .version("9.9.9")
            .unwrap_err(),
        other => panic!("no Rust input for invalid case {other}"),
    }
}

#[test]
fn every_invalid_case_is_refused_with_the_same_message() {
    let v = vectors();
    let invalid = v["invalid"].as_array().unwrap();
    assert_eq!(invalid.len(), 7);
    for case in invalid {
        let name = s(&case["name"]);
        let err = invalid_case(name);
        assert_eq!(err.to_string(), s(&case["error"]["message"]), "{name}");
        if let Some(issues) = case["error"].get("zodIssues") {
            let ours = match &err {
                ContractError::Uri { issues, .. } | ContractError::Version { issues, .. } => issues,
                other => panic!("{name}: expected a zod error, got {other:?}"),
            };
            assert_eq!(
                serde_json::to_value(ours.as_slice()).unwrap(),
                *issues,
                "{name}"
            );
        }
    }
}
