//! Port of the reference's `tests/ArvoContract/index.spec.ts` (spec §9.2, 23 tests) and of the
//! contract half of `tests/ArvoOrchestratorContract/index.spec.ts` (spec §9.5).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use arvo_runtime::contract::{
    ArvoContract, ContractError, ContractKind, OrchestratorContract, PARENT_SUBJECT_FIELD, Schema,
    VersionSpec,
};
use serde_json::{Value, json};

fn sch(v: Value) -> Schema {
    Schema::new(v).unwrap()
}

fn obj(props: Value, required: &[&str]) -> Schema {
    sch(
        json!({"type": "object", "properties": props, "required": required, "additionalProperties": false}),
    )
}

fn fixture() -> Result<ArvoContract, ContractError> {
    ArvoContract::builder("#/contracts/myContract", "com.example.input")
        .version(
            "0.0.1",
            VersionSpec::new(obj(json!({"name": {"type": "string"}}), &["name"])).emit(
                "com.example.output",
                obj(json!({"result": {"type": "number"}}), &["result"]),
            ),
        )
        .version(
            "1.0.0",
            VersionSpec::new(obj(json!({"name": {"type": "string"}}), &["name"])),
        )
        .build()
}

// 1
#[test]
fn simple_contract() {
    let c = ArvoContract::simple("#/simple/test", "simple.test")
        .metadata(json!({"access": "private"}).as_object().unwrap().clone())
        .version(
            "0.0.1",
            obj(json!({"a": {"type": "string"}}), &["a"]),
            obj(json!({}), &[]),
        )
        .version(
            "1.0.1",
            obj(json!({"a": {"type": "string"}}), &["a"]),
            obj(json!({}), &[]),
        )
        .build()
        .unwrap();
    assert_eq!(c.event_type(), "com.simple.test");
    assert_eq!(
        c.kind(),
        &ContractKind::Simple {
            root_type: "simple.test".into()
        }
    );
    let latest = c.version("latest").unwrap();
    assert_eq!(latest.accepts().event_type, "com.simple.test");
    assert_eq!(latest.emit_list()[0].event_type, "evt.simple.test.success");
    assert_eq!(
        latest.system_error().event_type,
        "sys.com.simple.test.error"
    );
    assert_eq!(latest.version().as_str(), "1.0.1");
    for meta in [c.metadata(), latest.metadata()] {
        assert_eq!(meta["access"], "private");
        assert_eq!(meta["contractType"], "SimpleArvoContract");
        assert_eq!(meta["rootType"], "simple.test");
    }
    assert_eq!(c.domain(), None);
    assert_eq!(c.version("0.0.1").unwrap().domain(), None);
    assert_eq!(c.version("1.0.1").unwrap().domain(), None);
}

// 2
#[test]
fn fixture_contract() {
    let c = fixture().unwrap();
    assert_eq!(c.uri(), "#/contracts/myContract");
    assert_eq!(c.event_type(), "com.example.input");
    let v = c.version("0.0.1").unwrap();
    assert_eq!(v.accepts().event_type, c.event_type());
    assert_eq!(v.emit_list()[0].event_type, "com.example.output");
    assert_eq!(v.system_error().event_type, "sys.com.example.input.error");
    assert_eq!(c.latest().version().as_str(), "1.0.0");
    assert_eq!(c.domain(), None);
    assert!(c.versioned().all(|v| v.domain().is_none()));
}

// 3
#[test]
fn invalid_uri_is_refused() {
    let err = ArvoContract::builder("invalid uri with space", "com.example.input")
        .version("0.0.1", VersionSpec::new(obj(json!({}), &[])))
        .build()
        .unwrap_err();
    assert!(matches!(err, ContractError::Uri { .. }));
    assert!(err.to_string().contains("The URI must a valid URI string"));
}

// 4
#[test]
fn invalid_version_is_refused() {
    let err = ArvoContract::builder("#/contracts/myContract", "com.example.input")
        .version("invalid.version", VersionSpec::new(obj(json!({}), &[])))
        .build()
        .unwrap_err();
    assert!(matches!(err, ContractError::Version { .. }));
    assert!(
        err.to_string()
            .contains("Invalid version format of the semantic version")
    );
}

// 5
#[test]
fn reserved_orchestrator_prefix() {
    let err = ArvoContract::builder("#/contracts/myContract", "com.example.input")
        .version(
            "0.0.1",
            VersionSpec::new(obj(json!({}), &[])).emit("arvo.orc.test", obj(json!({}), &[])),
        )
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "In contract (uri=#/contracts/myContract, version=0.0.1), the 'emits' event (type=arvo.orc.test) must not start\nwith 'arvo.orc' because this is a reserved pattern\nfor Arvo orchestrators."
    );
    let err = ArvoContract::builder("#/contracts/myContract", "arvo.orc.test")
        .version("0.0.1", VersionSpec::new(obj(json!({}), &[])))
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "In contract (uri=#/contracts/myContract), the 'accepts' event (type=arvo.orc.test) must not start\nwith 'arvo.orc' because this is a reserved pattern\nfor Arvo orchestrators."
    );
}

// 6
#[test]
fn two_emits() {
    let c = ArvoContract::builder("#/contracts/myContract", "com.example.input")
        .version(
            "0.0.1",
            VersionSpec::new(obj(json!({}), &[]))
                .emit(
                    "com.example.output",
                    obj(json!({"result": {"type": "number"}}), &["result"]),
                )
                .emit(
                    "com.example.error",
                    obj(json!({"message": {"type": "string"}}), &["message"]),
                ),
        )
        .build()
        .unwrap();
    let v = c.version("0.0.1").unwrap();
    assert!(v.emit("com.example.output").is_some());
    assert!(v.emit("com.example.error").is_some());
}

// 7
#[test]
fn empty_emits() {
    let c = ArvoContract::builder("#/contracts/myContract", "com.example.input")
        .version("0.0.1", VersionSpec::new(obj(json!({}), &[])))
        .build()
        .unwrap();
    assert!(c.latest().emit_list().is_empty());
}

// 8: `uri` and `type` cannot be assigned: the fields are private and there is no setter, so
// the JS runtime error is a compile error here (see the `compile_fail` example on
// `ArvoContract`). What remains testable: a clone shares the same, unchanged values.
#[test]
fn contract_is_read_only() {
    let c = fixture().unwrap();
    let d = c.clone();
    assert_eq!(d.uri(), "#/contracts/myContract");
    assert_eq!(d, c);
}

fn complex() -> ArvoContract {
    let meta = json!({"type": "object", "properties": {"createdAt": {"type": "string", "format": "date-time"}, "source": {"type": "string"}}, "required": ["createdAt"], "additionalProperties": false});
    let accepts = |priorities: Value, extra: Value| {
        let mut props = json!({
            "id": {"type": "number"},
            "name": {"type": "string", "minLength": 1},
            "email": {"type": "string", "format": "email"},
            "priority": {"type": "string", "enum": priorities},
            "tags": {"type": "array", "items": {"type": "string"}},
            "metadata": meta.clone()
        });
        for (k, v) in extra.as_object().unwrap() {
            props[k] = v.clone();
        }
        obj(props, &["id", "name", "email", "priority", "metadata"])
    };
    let success = |extra: Value| {
        let mut props = json!({"processedId": {"type": "number"}, "status": {"type": "string", "enum": ["completed", "pending"]}, "processed": {"type": "number"}});
        for (k, v) in extra.as_object().unwrap() {
            props[k] = v.clone();
        }
        obj(props, &["processedId", "status", "processed"])
    };
    let partial = obj(
        json!({"processedId": {"type": "number"}, "completed": {"type": "array", "items": {"type": "string"}}, "remaining": {"type": "integer", "minimum": 0}}),
        &["processedId", "completed", "remaining"],
    );
    let validation = obj(
        json!({"errors": {"type": "array", "items": {"type": "object", "properties": {"field": {"type": "string"}, "message": {"type": "string"}}, "required": ["field", "message"], "additionalProperties": false}}}),
        &["errors"],
    );
    ArvoContract::builder("#/contracts/complexContract", "com.example.complex")
        .domain("test.test")
        .version(
            "0.0.1",
            VersionSpec::new(accepts(json!(["low", "medium", "high"]), json!({})))
                .emit("com.example.success", success(json!({})))
                .emit("com.example.partial", partial.clone())
                .emit("com.example.validation", validation.clone()),
        )
        .version(
            "0.0.2",
            VersionSpec::new(accepts(
                json!(["low", "medium", "high", "critical"]),
                json!({"addedField": {"type": "string"}}),
            ))
            .emit(
                "com.example.success",
                success(json!({"processingTime": {"type": "number"}})),
            )
            .emit("com.example.partial", partial)
            .emit("com.example.validation", validation),
        )
        .build()
        .unwrap()
}

fn v1_input() -> Value {
    json!({"id": 1, "name": "Task", "email": "a@b.com", "priority": "high", "tags": ["x"], "metadata": {"createdAt": "2024-01-01T00:00:00Z", "source": "web"}})
}

// 9
#[test]
fn complex_domain_everywhere() {
    let c = complex();
    assert_eq!(c.domain(), Some("test.test"));
    for sel in ["0.0.1", "0.0.2", "any"] {
        assert_eq!(c.version(sel).unwrap().domain(), Some("test.test"), "{sel}");
    }
}

// 10
#[test]
fn complex_accepts_full_input() {
    let v = complex().version("0.0.1").unwrap();
    assert_eq!(v.accepts().event_type, "com.example.complex");
    assert!(v.accepts().schema.validate(&v1_input()).is_ok());
}

// 11
#[test]
fn complex_accepts_without_optional_field() {
    let mut input = v1_input();
    input.as_object_mut().unwrap().shift_remove("tags");
    assert!(
        complex()
            .version("0.0.1")
            .unwrap()
            .accepts()
            .schema
            .validate(&input)
            .is_ok()
    );
}

// 12
#[test]
fn complex_refuses_wrong_types() {
    let mut input = v1_input();
    input["id"] = json!("123");
    input["priority"] = json!("urgent");
    let issues = complex()
        .version("0.0.1")
        .unwrap()
        .accepts()
        .schema
        .validate(&input)
        .unwrap_err();
    assert!(!issues.is_empty());
    assert!(
        issues
            .as_slice()
            .iter()
            .any(|i| i.message == "Expected number, received string")
    );
}

// 13
#[test]
fn complex_refuses_missing_metadata() {
    let mut input = v1_input();
    input.as_object_mut().unwrap().shift_remove("metadata");
    let issues = complex()
        .version("0.0.1")
        .unwrap()
        .accepts()
        .schema
        .validate(&input)
        .unwrap_err();
    assert_eq!(issues.as_slice()[0].message, "Required");
}

// 14
#[test]
fn complex_versions_accept_their_inputs() {
    let c = complex();
    assert!(
        c.version("0.0.1")
            .unwrap()
            .accepts()
            .schema
            .validate(&v1_input())
            .is_ok()
    );
    let mut v2 = v1_input();
    v2["priority"] = json!("critical");
    v2["addedField"] = json!("new");
    assert!(
        c.version("0.0.2")
            .unwrap()
            .accepts()
            .schema
            .validate(&v2)
            .is_ok()
    );
    assert!(
        c.version("0.0.1")
            .unwrap()
            .accepts()
            .schema
            .validate(&v2)
            .is_err()
    );
}

// 15
#[test]
fn unknown_version_throws() {
    let err = complex().version("0.0.3").unwrap_err();
    assert_eq!(
        err.to_string(),
        "The contract (uri=#/contracts/complexContract) does not have version=0.0.3"
    );
}

fn emit_ok(version: &str, t: &str, data: Value) -> bool {
    complex()
        .version(version)
        .unwrap()
        .emit(t)
        .unwrap()
        .schema
        .validate(&data)
        .is_ok()
}

// 16
#[test]
fn success_emit_valid() {
    assert!(emit_ok(
        "0.0.1",
        "com.example.success",
        json!({"processedId": 1, "status": "completed", "processed": 100})
    ));
}

// 17
#[test]
fn partial_emit_valid() {
    assert!(emit_ok(
        "0.0.1",
        "com.example.partial",
        json!({"processedId": 1, "completed": ["a"], "remaining": 2})
    ));
}

// 18
#[test]
fn validation_error_emit_valid() {
    assert!(emit_ok(
        "0.0.1",
        "com.example.validation",
        json!({"errors": [{"field": "email", "message": "bad"}]})
    ));
}

// 19
#[test]
fn success_emit_missing_processed_id() {
    assert!(!emit_ok(
        "0.0.1",
        "com.example.success",
        json!({"status": "completed", "processed": 100})
    ));
}

// 20
#[test]
fn success_emit_processed_as_string() {
    assert!(!emit_ok(
        "0.0.1",
        "com.example.success",
        json!({"processedId": 1, "status": "completed", "processed": "50"})
    ));
}

// 21
#[test]
fn v2_success_emit_with_processing_time() {
    assert!(emit_ok(
        "0.0.2",
        "com.example.success",
        json!({"processedId": 1, "status": "completed", "processed": 1, "processingTime": 12.5})
    ));
}

// 22
#[test]
fn dataschemas() {
    let c = complex();
    let v1 = c.version("0.0.1").unwrap();
    assert_eq!(v1.dataschema(), "#/contracts/complexContract/0.0.1");
    assert_eq!(
        v1.system_error().dataschema,
        "#/contracts/complexContract/0.0.0"
    );
    let v2 = c.version("0.0.2").unwrap();
    assert_eq!(v2.dataschema(), "#/contracts/complexContract/0.0.2");
    assert_eq!(
        v2.system_error().dataschema,
        "#/contracts/complexContract/0.0.0"
    );
}

// 23
#[test]
fn validation_emit_in_v1() {
    assert!(emit_ok(
        "0.0.1",
        "com.example.validation",
        json!({"errors": []})
    ));
}

// ---- §9.5, contract half (the factory half lives in factory_*.rs) ----

fn orchestrator(versions: &[&str]) -> OrchestratorContract {
    let mut b = ArvoContract::orchestrator("test://example", "test.contract")
        .metadata(json!({"name": 1}).as_object().unwrap().clone());
    for v in versions {
        b = b.version(
            *v,
            obj(json!({"foo": {"type": "string"}}), &["foo"]),
            obj(json!({"bar": {"type": "number"}}), &["bar"]),
        );
    }
    b.build().unwrap()
}

// 9.5 #1 (contract part)
#[test]
fn orchestrator_contract_shape() {
    let c = orchestrator(&["0.0.1", "0.0.2"]);
    assert_eq!(c.uri(), "test://example");
    assert_eq!(c.event_type(), "arvo.orc.test.contract");
    assert_eq!(c.init_type(), "arvo.orc.test.contract");
    assert_eq!(c.complete_type(), "arvo.orc.test.contract.done");
    assert_eq!(c.system_error_type(), "sys.arvo.orc.test.contract.error");
    assert!(c.is_orchestrator());
    assert_eq!(
        serde_json::to_string(c.metadata()).unwrap(),
        r#"{"name":1,"contractType":"ArvoOrchestratorContract","rootType":"test.contract","completeEventType":"arvo.orc.test.contract.done","initEventType":"arvo.orc.test.contract"}"#
    );
    let v = c.version("0.0.1").unwrap();
    let accepts = v.accepts().schema.as_json();
    let keys: Vec<&String> = accepts["properties"].as_object().unwrap().keys().collect();
    assert_eq!(keys, [PARENT_SUBJECT_FIELD, "foo"]);
    assert_eq!(accepts["required"], json!([PARENT_SUBJECT_FIELD, "foo"]));
    assert_eq!(
        v.emit("arvo.orc.test.contract.done").unwrap().schema,
        obj(json!({"bar": {"type": "number"}}), &["bar"])
    );
    assert_eq!(c.versions().next().unwrap().as_str(), "0.0.1");
}

// 9.5 #2
#[test]
fn orchestrator_invalid_name() {
    let err = ArvoContract::orchestrator("test://example", "Invalid Type")
        .version("0.0.1", obj(json!({}), &[]), obj(json!({}), &[]))
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Invalid 'name' = 'Invalid Type'. The 'name' must only contain alphanumeric characters. e.g. test.orchestrator"
    );
}

// 9.5 #3
#[test]
fn orchestrator_merged_schema() {
    let c = orchestrator(&["0.0.1"]);
    let latest = c.latest();
    let s = &latest.accepts().schema;
    assert!(
        s.validate(&json!({"parentSubject$$": "parent-123", "foo": "x"}))
            .is_ok()
    );
    let missing = s.validate(&json!({"foo": "x"})).unwrap_err();
    assert_eq!(missing.as_slice()[0].message, "Required");
    assert!(
        s.validate(&json!({"parentSubject$$": "", "foo": "x"}))
            .is_err()
    );
    assert!(
        s.validate(&json!({"parentSubject$$": null, "foo": "x"}))
            .is_ok()
    );
}

// 9.5 #4 (contract part; the orchestrator factory refusing a simple contract is in factory_*.rs)
#[test]
fn orchestrator_two_versions() {
    let c = ArvoContract::orchestrator("test://example", "test.contract")
        .version(
            "1.0.0",
            obj(json!({"foo": {"type": "string"}}), &["foo"]),
            obj(json!({"bar": {"type": "number"}}), &["bar"]),
        )
        .version(
            "2.0.0",
            obj(
                json!({"foo": {"type": "string"}, "additional": {"type": "number"}}),
                &["foo", "additional"],
            ),
            obj(
                json!({"bar": {"type": "number"}, "status": {"type": "string"}}),
                &["bar", "status"],
            ),
        )
        .build()
        .unwrap();
    assert_eq!(c.versions().len(), 2);
    assert!(
        c.version("2.0.0")
            .unwrap()
            .emit(c.complete_type())
            .is_some()
    );
    // A plain contract is not an orchestrator contract (the typed form of the factory check).
    let plain = fixture().unwrap();
    assert!(matches!(
        OrchestratorContract::try_from(plain),
        Err(ContractError::NotAnOrchestrator { .. })
    ));
}

// Orchestrator contracts skip the reserved-prefix check but keep the type rule.
#[test]
fn orchestrator_name_must_make_a_valid_type() {
    assert!(
        ArvoContract::orchestrator("#/o", "single")
            .version("1.0.0", obj(json!({}), &[]), obj(json!({}), &[]))
            .build()
            .is_ok()
    );
    let err = ArvoContract::orchestrator("#/o", "a.")
        .version("1.0.0", obj(json!({}), &[]), obj(json!({}), &[]))
        .build()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("Type should be prefixed with a reverse-DNS name")
    );
}

// The other constructor rules (§2.1).
#[test]
fn constructor_rules() {
    let empty = || VersionSpec::new(obj(json!({}), &[]));
    let err = ArvoContract::builder("#/x", "com.a.b")
        .domain("")
        .version("1.0.0", empty())
        .build()
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("The domain must be non-empty string")
            && text.contains("Domain must contain only lowercase")
    );
    let err = ArvoContract::builder("#/x", "com.a.b")
        .domain("Bad")
        .version("1.0.0", empty())
        .build()
        .unwrap_err();
    assert!(matches!(err, ContractError::Domain { .. }));
    let err = ArvoContract::builder("", "com.a.b")
        .version("1.0.0", empty())
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("URI must be a non-empty string"));
    let err = ArvoContract::builder("#/x", "com.a")
        .version("1.0.0", empty())
        .build()
        .unwrap_err();
    assert!(matches!(err, ContractError::Type { .. }));
    let err = ArvoContract::builder("#/x", "com.a.b")
        .version("1.0.0", empty().emit("bad", obj(json!({}), &[])))
        .build()
        .unwrap_err();
    assert!(matches!(err, ContractError::EmitType { ref event_type, .. } if event_type == "bad"));
    // `sys.` is reserved by convention only.
    assert!(
        ArvoContract::builder("#/x", "com.a.b")
            .version(
                "1.0.0",
                empty().emit("sys.com.a.b.error", obj(json!({}), &[]))
            )
            .build()
            .is_ok()
    );
    // `arvo.orchestra.x` counts as reserved (no dot boundary in the reference).
    assert!(matches!(
        ArvoContract::builder("#/x", "arvo.orchestra.x")
            .version("1.0.0", empty())
            .build(),
        Err(ContractError::ReservedAcceptsType { .. })
    ));
    // `simple` alone makes `com.simple`, which has two segments only.
    assert!(
        ArvoContract::simple("#/s", "simple")
            .version("1.0.0", obj(json!({}), &[]), obj(json!({}), &[]))
            .build()
            .is_err()
    );
}

#[test]
fn version_order_and_selectors() {
    let e = || VersionSpec::new(obj(json!({}), &[]));
    let c = ArvoContract::builder("#/x", "com.a.b")
        .version("1.9.9", e())
        .version("1.10.0", e())
        .version("0.1.0", e())
        .build()
        .unwrap();
    assert_eq!(c.version("latest").unwrap().version().as_str(), "1.10.0");
    assert_eq!(c.version("any").unwrap().version().as_str(), "1.10.0");
    assert_eq!(c.version("oldest").unwrap().version().as_str(), "0.1.0");
    let asc: Vec<&str> = c
        .sorted_versions(arvo_runtime::contract::SortOrder::Asc)
        .iter()
        .map(|v| v.as_str())
        .collect();
    assert_eq!(asc, ["0.1.0", "1.9.9", "1.10.0"]);
    let ins: Vec<&str> = c.versions().map(|v| v.as_str()).collect();
    assert_eq!(ins, ["1.9.9", "1.10.0", "0.1.0"]);
    assert!(c.version("0.0.0").is_err());
}
