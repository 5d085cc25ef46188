//! `Schema` parse semantics: zod's output (defaults, stripping, key order) and issues with paths.
#![allow(clippy::unwrap_used)]

use arvo_runtime::contract::Schema;
use arvo_runtime::issue::{IssueKind, PathSegment};
use serde_json::{Value, json};

fn zoo() -> Schema {
    // The accepts schema of the vector's `zod_type_zoo` case.
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/contract_json_schemas.json"
    ))
    .unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let case = v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "zod_type_zoo")
        .unwrap();
    Schema::new(case["contract"]["toJsonSchema"]["versions"][0]["accepts"]["schema"].clone())
        .unwrap()
}

fn zoo_input() -> Value {
    json!({"s": "abc", "n": 3, "e": "a", "l": "x", "u": 1, "nul": null, "arr": [{"k": "v"}], "rec": {"x": 1}, "desc": "d", "date": "2024-01-01T00:00:00.000Z", "any": [1]})
}

#[test]
fn unknown_keys_are_stripped_at_every_level() {
    let mut input = zoo_input();
    input["extra"] = json!(1);
    input["arr"][0]["junk"] = json!(true);
    let out = zoo().parse(&input).unwrap();
    assert!(out.get("extra").is_none());
    assert_eq!(out["arr"][0], json!({"k": "v"}));
    // Records keep their keys, `any` keeps its value.
    assert_eq!(out["rec"], json!({"x": 1}));
    assert_eq!(out["any"], json!([1]));
}

#[test]
fn defaults_are_applied_and_keys_follow_the_schema() {
    let out = zoo().parse(&zoo_input()).unwrap();
    assert_eq!(out["def"], json!(5));
    let keys: Vec<&String> = out.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "s", "n", "e", "l", "u", "nul", "def", "arr", "rec", "desc", "date", "any"
        ]
    );
    // A given value wins over the default.
    let mut input = zoo_input();
    input["def"] = json!(7);
    assert_eq!(zoo().parse_owned(input).unwrap()["def"], json!(7));
}

#[test]
fn passthrough_objects_keep_unknown_keys() {
    let s = Schema::new(json!({"type": "object", "properties": {}, "additionalProperties": true}))
        .unwrap();
    assert_eq!(s.parse(&json!({"a": 1})).unwrap(), json!({"a": 1}));
}

#[test]
fn invalid_data_is_refused_with_a_path() {
    let mut input = zoo_input();
    input["arr"][0]["k"] = json!(5);
    input["n"] = json!(0);
    input.as_object_mut().unwrap().shift_remove("desc");
    let issues = zoo().parse(&input).unwrap_err();
    let find = |path: &[PathSegment]| {
        issues
            .as_slice()
            .iter()
            .find(|i| i.path == path)
            .unwrap_or_else(|| panic!("{issues}"))
    };
    let k = find(&["arr".into(), 0usize.into(), "k".into()]);
    assert_eq!(k.message, "Expected string, received number");
    assert!(
        matches!(&k.kind, IssueKind::InvalidType { expected, received } if expected == "string" && received == "number")
    );
    assert_eq!(find(&["n".into()]).message, "Number must be greater than 0");
    let desc = find(&["desc".into()]);
    assert_eq!(desc.message, "Required");
    assert!(
        matches!(&desc.kind, IssueKind::InvalidType { expected, received } if expected == "string" && received == "undefined")
    );
    assert!(issues.to_string().starts_with("[\n  {"));
}

#[test]
fn string_checks_and_formats() {
    let s = zoo();
    let with = |k: &str, v: Value| {
        let mut i = zoo_input();
        i[k] = v;
        s.validate(&i).unwrap_err().as_slice()[0].clone()
    };
    assert!(matches!(
        with("s", json!("a")).kind,
        IssueKind::TooSmall { minimum: 2.0, .. }
    ));
    assert_eq!(with("s", json!("ABC")).kind, IssueKind::Regex);
    assert_eq!(with("date", json!("yesterday")).kind, IssueKind::Datetime);
    assert!(
        with("e", json!("c"))
            .message
            .starts_with("Invalid enum value. Expected 'a' | 'b', received 'c'")
    );
    assert_eq!(
        with("l", json!("y")).message,
        "Invalid literal value, expected \"x\""
    );
    assert_eq!(
        with("arr", json!([])).message,
        "Array must contain at least 1 element(s)"
    );
    // zod's `int()` check (the reference's message; `main` said "received number").
    assert_eq!(
        with("n", json!(1.5)).message,
        "Expected integer, received float"
    );
}

#[test]
fn nullable_with_checks_reports_the_member_issue() {
    let s = Schema::new(json!({"type": "object", "properties": {"p": {"anyOf": [{"type": "string", "minLength": 1}, {"type": "null"}]}}, "required": ["p"], "additionalProperties": false})).unwrap();
    let issues = s.validate(&json!({"p": ""})).unwrap_err();
    assert!(matches!(
        issues.as_slice()[0].kind,
        IssueKind::TooSmall { minimum: 1.0, .. }
    ));
    // `anyOf: [s, {type: null}]` is zod-to-json-schema's `.nullable()`: zod checks the inner
    // schema and reports its type issue (not a union issue).
    let issues = s.validate(&json!({"p": 3})).unwrap_err();
    assert_eq!(
        issues.as_slice()[0].kind,
        IssueKind::InvalidType {
            expected: "string".into(),
            received: "number".into()
        }
    );
    assert_eq!(
        issues.as_slice()[0].message,
        "Expected string, received number"
    );
    // A union of two non-null members stays a union.
    let u = Schema::new(json!({"type": "object", "properties": {"p": {"anyOf": [{"type": "string"}, {"type": "boolean"}]}}})).unwrap();
    let issues = u.validate(&json!({"p": 3})).unwrap_err();
    assert!(matches!(
        issues.as_slice()[0].kind,
        IssueKind::InvalidUnion { .. }
    ));
    assert_eq!(issues.as_slice()[0].message, "Invalid input");
}

#[test]
fn export_appends_dollar_schema_last() {
    let s = Schema::new(json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "properties": {}})).unwrap();
    assert_eq!(
        serde_json::to_string(s.to_json()).unwrap(),
        r#"{"type":"object","properties":{},"$schema":"http://json-schema.org/draft-07/schema#"}"#
    );
    assert!(s.as_json().get("$schema").is_none());
    assert!(Schema::new(json!(3)).is_err());
}

#[test]
fn schemars_schemas_work() {
    #[derive(schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Inner {
        k: String,
    }
    #[derive(schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Outer {
        a: f64,
        inner: Vec<Inner>,
        opt: Option<u32>,
    }
    let s = Schema::of::<Outer>().unwrap();
    assert_eq!(
        s.to_json()["$schema"],
        "http://json-schema.org/draft-07/schema#"
    );
    assert!(
        s.validate(&json!({"a": 1, "inner": [{"k": "x"}], "opt": null}))
            .is_ok()
    );
    let issues = s
        .validate(&json!({"a": 1, "inner": [{"k": 1}]}))
        .unwrap_err();
    assert_eq!(
        issues.as_slice()[0].path,
        vec![PathSegment::from("inner"), 0usize.into(), "k".into()]
    );
}

#[test]
fn contracts_and_schemas_are_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Schema>();
    assert_send_sync::<arvo_runtime::contract::ArvoContract>();
    assert_send_sync::<arvo_runtime::contract::VersionedContract>();
    assert_send_sync::<arvo_runtime::contract::ContractError>();
}

#[test]
fn a_small_object_is_shaped_as_a_large_one() {
    // Up to 8 properties the shaping finds names by comparing them (no index): the same output,
    // nested shapes and `additionalProperties` schemas included.
    let small = Schema::new(json!({
        "type": "object",
        "properties": {
            "a": {"type": "number"},
            "inner": {
                "type": "object",
                "properties": {"x": {"type": "number"}, "y": {"type": "number", "default": 2}},
                "additionalProperties": false
            },
            "b": {"type": "number"}
        },
        "additionalProperties": {
            "type": "object",
            "properties": {"k": {"type": "string"}},
            "additionalProperties": false
        }
    }))
    .unwrap();
    let input = json!({
        "extra": {"k": "v", "junk": 1},
        "b": 2,
        "inner": {"z": true, "x": 1},
        "a": 1
    });
    let out = small.parse(&input).unwrap();
    let keys: Vec<&String> = out.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["a", "inner", "b", "extra"]);
    assert_eq!(out["inner"], json!({"x": 1, "y": 2}));
    let inner_keys: Vec<&String> = out["inner"].as_object().unwrap().keys().collect();
    assert_eq!(inner_keys, ["x", "y"]);
    assert_eq!(out["extra"], json!({"k": "v"}));
    assert_eq!(small.parse_owned(input).unwrap(), out);
}

/// `definitions` `L0` .. `L{levels-1}`, each a union of two stripping objects whose one
/// property (`a` in the first, `b` in the second) is the next level: 2^levels paths through
/// `$ref`s to the last level.
fn shared_levels(levels: usize) -> Value {
    let mut defs = serde_json::Map::new();
    for l in 0..levels {
        let next = if l + 1 == levels {
            json!({"type": "string"})
        } else {
            json!({"$ref": format!("#/definitions/L{}", l + 1)})
        };
        let member = |k: &str| {
            json!({
                "type": "object",
                "properties": {k: next.clone()},
                "required": [k],
                "additionalProperties": false
            })
        };
        defs.insert(
            format!("L{l}"),
            json!({"anyOf": [member("a"), member("b")]}),
        );
    }
    json!({"$ref": "#/definitions/L0", "definitions": defs})
}

#[test]
fn subschemas_shared_through_refs_are_shaped_once() {
    // 2^40 paths lead to the last level: shaping each path (as before) never finished. Each
    // `$ref` target is now shaped once, and `parse` still strips at every level.
    let levels = 40;
    let s = Schema::new(shared_levels(levels)).unwrap();
    let mut data = json!("leaf");
    let mut want = json!("leaf");
    for l in (0..levels).rev() {
        let k = if l % 3 == 0 { "a" } else { "b" };
        data = json!({"extra": l, k: data});
        want = json!({k: want});
    }
    assert_eq!(s.parse(&data).unwrap(), want);
    assert_eq!(s.parse_owned(data).unwrap(), want);
}

#[test]
fn recursive_schemas_are_shaped_at_every_depth() {
    // A linked list through a `$ref` cycle: unknown keys are stripped however deep the list
    // (the shaping stopped after 32 `$ref`s before).
    let s = Schema::new(json!({
        "$ref": "#/definitions/Node",
        "definitions": {
            "Node": {
                "type": "object",
                "properties": {
                    "v": {"type": "number"},
                    "next": {"anyOf": [{"$ref": "#/definitions/Node"}, {"type": "null"}]}
                },
                "required": ["v", "next"],
                "additionalProperties": false
            }
        }
    }))
    .unwrap();
    let mut data = json!(null);
    let mut want = json!(null);
    for v in 0..100 {
        data = json!({"junk": true, "next": data, "v": v});
        want = json!({"v": v, "next": want});
    }
    // Through JSON text, as a payload arrives (nesting below serde_json's limit of 128).
    let data: Value = serde_json::from_str(&data.to_string()).unwrap();
    let out = s.parse(&data).unwrap();
    assert_eq!(out, want);
    assert_eq!(
        serde_json::to_string(&out).unwrap(),
        serde_json::to_string(&want).unwrap(),
        "keys in schema order at every depth"
    );
}

/// A recursive union whose two members both hold `k` (of the union's own type), and `levels`
/// objects nested through `k` with `leaf` at the bottom, read from JSON text.
fn multiplying_union() -> Schema {
    Schema::new(json!({
        "$ref": "#/definitions/T",
        "definitions": {"T": {"anyOf": [
            {"type": "object", "properties": {"k": {"$ref": "#/definitions/T"}, "a": {"type": "string"}}},
            {"type": "object", "properties": {"k": {"$ref": "#/definitions/T"}, "b": {"type": "string"}}}
        ]}}
    }))
    .unwrap()
}

fn nested_k(levels: usize, leaf: Value) -> Value {
    let mut v = leaf;
    for _ in 0..levels {
        v = json!({"k": v});
    }
    serde_json::from_str(&v.to_string()).unwrap()
}

#[test]
fn unions_that_multiply_the_work_refuse_what_would_take_exponential_time() {
    let s = multiplying_union();
    // 100 levels: 2^100 checks for a validator (and zod), which never returned before. Refused
    // at once, by validate, is_valid and parse alike, with one issue.
    let deep = nested_k(100, json!(1));
    let issues = s.validate(&deep).unwrap_err();
    assert_eq!(issues.as_slice().len(), 1);
    let issue = &issues.as_slice()[0];
    assert_eq!(issue.kind, IssueKind::Custom);
    assert!(issue.path.is_empty());
    assert!(
        issue.message.starts_with("Too complex to validate"),
        "{}",
        issue.message
    );
    assert!(!s.is_valid(&deep));
    assert!(s.parse(&deep).is_err());
    // Also when the payload is valid: a valid leaf needs as many checks.
    assert!(!s.is_valid(&nested_k(100, json!({}))));
    // Shallow payloads are validated as usual, their issues and all.
    assert!(s.validate(&nested_k(5, json!({"a": "x"}))).is_ok());
    let shallow = s.validate(&nested_k(5, json!(1))).unwrap_err();
    assert_eq!(shallow.as_slice()[0].kind.code(), "invalid_union");
}

#[test]
fn ordinary_schemas_validate_deep_payloads_whole() {
    // No union member shares what lies below it with another: never counted, never refused,
    // however deep the payload (a linked list of `.nullable()` nodes, an `.optional()` tree).
    let list = Schema::new(json!({
        "$ref": "#/definitions/Node",
        "definitions": {"Node": {
            "type": "object",
            "properties": {"next": {"anyOf": [{"$ref": "#/definitions/Node"}, {"type": "null"}]}},
            "required": ["next"]
        }}
    }))
    .unwrap();
    let mut deep = json!(null);
    for _ in 0..120 {
        deep = json!({"next": deep});
    }
    let deep: Value = serde_json::from_str(&deep.to_string()).unwrap();
    assert!(list.validate(&deep).is_ok());
    let mut bad = json!(7);
    for _ in 0..120 {
        bad = json!({"next": bad});
    }
    let bad: Value = serde_json::from_str(&bad.to_string()).unwrap();
    let issues = list.validate(&bad).unwrap_err();
    assert_eq!(issues.as_slice()[0].path.len(), 120, "{issues}");
    // A tagged union of variants with distinct fields, as schemars writes a Rust enum.
    #[derive(schemars::JsonSchema)]
    #[allow(dead_code)]
    enum Expr {
        Num(f64),
        Neg(Box<Expr>),
        Add(Box<Expr>, Box<Expr>),
    }
    let expr = Schema::of::<Expr>().unwrap();
    let mut e = json!({"Num": 1.0});
    for i in 0..60 {
        e = if i % 2 == 0 {
            json!({"Neg": e})
        } else {
            json!({"Add": [e, {"Num": 2.0}]})
        };
    }
    let e: Value = serde_json::from_str(&e.to_string()).unwrap();
    assert!(expr.validate(&e).is_ok());
}

#[test]
fn issues_are_capped_in_zods_order() {
    use arvo_runtime::contract::MAX_ISSUES;
    use arvo_runtime::issue::IssueKind;
    let more = format!("More issues were found: the first {MAX_ISSUES} are reported");
    // 250 wrong items: the first 100 in the data's order, then one issue saying there are more.
    let s = Schema::new(json!({"type": "array", "items": {"type": "number"}})).unwrap();
    let issues = s.validate(&json!(vec!["x"; 250])).unwrap_err();
    let list = issues.as_slice();
    assert_eq!(list.len(), MAX_ISSUES + 1);
    for (i, issue) in list[..MAX_ISSUES].iter().enumerate() {
        assert_eq!(issue.path, [PathSegment::Index(i)]);
        assert_eq!(issue.message, "Expected number, received string");
    }
    assert_eq!(list[MAX_ISSUES].kind, IssueKind::Custom);
    assert_eq!(list[MAX_ISSUES].message, more);
    // A hostile 250,000 (the validator's errors are read up to a bound, too).
    let issues = s.validate(&json!(vec!["x"; 250_000])).unwrap_err();
    assert_eq!(issues.as_slice().len(), MAX_ISSUES + 1);
    assert!(issues.to_string().len() < 30_000);
    // 100 issues exactly: no more were found, none is added.
    assert_eq!(
        s.validate(&json!(vec!["x"; 100]))
            .unwrap_err()
            .as_slice()
            .len(),
        100
    );
    // The issues inside a union's members count: 1 union + 80 + the first 19 of the second.
    let u = Schema::new(json!({"anyOf": [
        {"type": "array", "items": {"type": "number"}},
        {"type": "array", "items": {"type": "boolean"}}
    ]}))
    .unwrap();
    let issues = u.validate(&json!(vec!["x"; 80])).unwrap_err();
    let list = issues.as_slice();
    assert_eq!(list.len(), 2);
    let IssueKind::InvalidUnion { union_errors } = &list[0].kind else {
        panic!("{issues}");
    };
    let sizes: Vec<usize> = union_errors.iter().map(|m| m.as_slice().len()).collect();
    assert_eq!(sizes, [80, 19]);
    assert_eq!(list[1].message, more);
}

#[test]
fn references_of_every_form_are_followed_when_counting() {
    // The multiplying union of the test above, its recursion spelled each way the validator
    // follows: each was missed by the count at first, and 20 levels took the validator 14-38 s.
    let member = |r: &str, extra: &str| json!({"type": "object", "properties": {"k": {"$ref": r}, extra: {}}});
    let members = |r: &str| json!([member(r, "a"), member(r, "b")]);
    let dynamic = |keyword: &str, r: &str| {
        let m =
            |extra: &str| json!({"type": "object", "properties": {"k": {keyword: r}, extra: {}}});
        json!([m("a"), m("b")])
    };
    let schemas = [
        // A percent-encoded pointer (`%54` is `T`).
        json!({"$ref": "#/definitions/%54", "definitions": {"T": {"anyOf": members("#/definitions/%54")}}}),
        // A draft-07 anchor (`$id` that is a plain fragment).
        json!({"$ref": "#t", "definitions": {"T": {"$id": "#t", "anyOf": members("#t")}}}),
        // 2019-09's `$anchor` and `$recursiveRef`, 2020-12's `$dynamicRef`.
        json!({"$schema": "https://json-schema.org/draft/2019-09/schema", "$ref": "#t",
               "$defs": {"T": {"$anchor": "t", "anyOf": members("#t")}}}),
        json!({"$schema": "https://json-schema.org/draft/2019-09/schema", "$recursiveAnchor": true,
               "anyOf": dynamic("$recursiveRef", "#")}),
        json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "$dynamicAnchor": "n",
               "anyOf": dynamic("$dynamicRef", "#n")}),
        // The root itself, by `#`.
        json!({"anyOf": members("#")}),
    ];
    for schema in schemas {
        let s = Schema::new(schema.clone()).unwrap();
        let issues = s.validate(&nested_k(100, json!(1))).unwrap_err();
        assert!(
            issues.as_slice()[0]
                .message
                .starts_with("Too complex to validate"),
            "{schema}: {issues}"
        );
        assert!(
            s.validate(&nested_k(3, json!({"a": 1}))).is_ok(),
            "{schema}"
        );
    }
}

#[test]
fn references_the_count_cannot_follow_are_refused() {
    // What the validator may resolve against something other than this document is refused,
    // with the reference or the `$id` quoted.
    let cases = [
        (
            json!({"definitions": {"T": {"$id": "http://example.test/t.json", "type": "string"}},
                   "properties": {"a": {"$ref": "http://example.test/t.json"}}}),
            "embedded schema resources are not supported",
        ),
        (
            json!({"properties": {"a": {"$ref": "#/definitions/missing"}}}),
            "Invalid JSON Schema",
        ),
        (
            json!({"properties": {"a": {"$ref": "#nowhere"}}}),
            "Invalid JSON Schema",
        ),
    ];
    for (schema, expected) in cases {
        let err = Schema::new(schema.clone()).unwrap_err().to_string();
        assert!(err.contains(expected), "{schema}: {err}");
    }
}

#[test]
fn a_union_under_any_property_name_is_parsed_by_the_member_that_takes_it() {
    // Both members are objects without required keys, so each member's own validator decides;
    // it is reached by a JSON pointer, through property names that need escaping in one.
    for name in ["plain", "a b", "50%", "a/b~c", "#x", "é\"{}|^`"] {
        let s = Schema::new(json!({
            "type": "object",
            "properties": {name: {"anyOf": [
                {"type": "object", "properties": {"x": {"type": "string"}}, "additionalProperties": false},
                {"type": "object", "properties": {"x": {"type": "number"}, "y": {}}, "additionalProperties": false}
            ]}}
        }))
        .unwrap();
        assert_eq!(
            s.parse(&json!({name: {"x": 1, "y": 2, "z": 3}})).unwrap(),
            json!({name: {"x": 1, "y": 2}}),
            "{name}"
        );
        assert_eq!(
            s.parse(&json!({name: {"x": "s", "y": 2}})).unwrap(),
            json!({name: {"x": "s"}}),
            "{name}"
        );
    }
}

#[test]
fn percent_encoded_references_are_shaped_and_reported_as_plain_ones() {
    // `#/definitions/%54` is `#/definitions/T`: parse strips what `T` strips, and the issues
    // are those of `T`.
    for r in ["#/definitions/T", "#/definitions/%54"] {
        let s = Schema::new(json!({
            "type": "object",
            "properties": {"t": {"$ref": r}},
            "definitions": {"T": {
                "type": "object",
                "properties": {"n": {"type": "number", "default": 1}},
                "additionalProperties": false
            }}
        }))
        .unwrap();
        assert_eq!(
            s.parse(&json!({"t": {"junk": true}})).unwrap(),
            json!({"t": {"n": 1}}),
            "{r}"
        );
        let issues = s.validate(&json!({"t": {"n": "x"}})).unwrap_err();
        assert_eq!(
            issues.as_slice()[0].message,
            "Expected number, received string",
            "{r}"
        );
    }
}

#[test]
fn a_rust_enum_whose_variants_share_a_recursive_field_is_bounded() {
    // The realistic case: schemars' `oneOf` for an internally tagged enum, two of whose variants
    // hold a `child` of the enum's own type. The validator tries every `oneOf` member, so both
    // descend into `child`: 2^depth checks (collecting the errors of an invalid payload 20 levels
    // deep took jsonschema 37 s). A payload past the budget is refused, valid or not: the count
    // is made before validating, on the worst case.
    #[derive(schemars::JsonSchema)]
    #[serde(tag = "kind")]
    #[allow(dead_code)]
    enum Tree {
        Leaf { value: f64 },
        Not { child: Box<Tree> },
        Wrap { child: Box<Tree>, label: String },
    }
    let s = Schema::of::<Tree>().unwrap();
    let nest = |levels: usize, leaf: Value| {
        let mut v = leaf;
        for _ in 0..levels {
            v = json!({"kind": "Not", "child": v});
        }
        serde_json::from_str::<Value>(&v.to_string()).unwrap()
    };
    let leaf = json!({"kind": "Leaf", "value": 1.0});
    assert!(s.validate(&nest(8, leaf.clone())).is_ok());
    let shallow = s.validate(&nest(3, json!({"kind": "Leaf"}))).unwrap_err();
    assert!(
        !shallow.as_slice()[0].message.starts_with("Too complex"),
        "{shallow}"
    );
    let deep = s.validate(&nest(100, leaf)).unwrap_err();
    assert!(
        deep.as_slice()[0]
            .message
            .starts_with("Too complex to validate"),
        "{deep}"
    );
}

#[test]
fn a_schema_that_is_a_member_of_itself_is_counted_as_the_validator_goes_around_it() {
    // Found by the `payload_schema` fuzz target: `D1` is a member of its own `allOf`. The
    // validator stops that cycle with a guard it sets only on the `$ref`s it did not compile
    // inline, so it goes around once more first: each level checks `D0` four times, not twice,
    // and collecting the errors of a 32-byte payload nested 10 deep took 4.5 s (2.4 million
    // errors; 12 deep ran out of memory). The count left the cycle out and let it through.
    let s = Schema::new(json!({
        "$ref": "#/definitions/D0",
        "definitions": {
            "D0": {"type": "array", "items": {"$ref": "#/definitions/D1"}},
            "D1": {"allOf": [
                {"$ref": "#/definitions/D1"},
                {"$ref": "#/definitions/D0"},
                {"$ref": "#/definitions/D0"}
            ]}
        }
    }))
    .unwrap();
    let nest = |levels: usize| {
        let mut v = json!(null);
        for _ in 0..levels {
            v = json!([v, null]);
        }
        v
    };
    // Shallow: validated, issues and all.
    let shallow = s.validate(&nest(4)).unwrap_err();
    assert_eq!(shallow.as_slice()[0].kind.code(), "invalid_type");
    for levels in [10, 12, 100] {
        let issues = s.validate(&nest(levels)).unwrap_err();
        assert_eq!(issues.as_slice().len(), 1, "{issues}");
        assert!(
            issues.as_slice()[0]
                .message
                .starts_with("Too complex to validate"),
            "{issues}"
        );
        assert!(s.parse(&nest(levels)).is_err());
    }
    // Through a `oneOf`, as the fuzz target found next: two of its members lead back to `D1`,
    // whose guard then makes both valid, so the `oneOf` fails and the validator collects the
    // errors of every member: 350 ms for this 37-byte payload, 4 levels deep.
    let s = Schema::new(json!({
        "$ref": "#/definitions/D0",
        "definitions": {
            "D0": {"type": "array", "items": {"$ref": "#/definitions/D1"}},
            "D1": {"allOf": [
                {"$ref": "#/definitions/D2"},
                {"$ref": "#/definitions/D2"},
                {"$ref": "#/definitions/D0"}
            ]},
            "D2": {"oneOf": [
                {"$ref": "#/definitions/D1"},
                {"$ref": "#/definitions/D0"},
                {"$ref": "#/definitions/D1"}
            ]}
        }
    }))
    .unwrap();
    let payload = json!([[[[-128, null, null], null]], null, null]);
    let issues = s.validate(&payload).unwrap_err();
    assert!(
        issues.as_slice()[0]
            .message
            .starts_with("Too complex to validate"),
        "{issues}"
    );
    // A Rust type that is one of its own variants (an untagged enum: `anyOf` with itself) is
    // counted so too. The validator finds such a union valid by the guard alone, so this costs
    // payloads past a few levels a refusal they did not need: the price of a count that holds
    // for every schema (an `anyOf` member that also holds constraints is gone around in full).
    #[derive(schemars::JsonSchema)]
    #[serde(untagged)]
    #[allow(dead_code)]
    enum Nested {
        Leaf(f64),
        Again(Box<Nested>),
        List(Vec<Nested>),
    }
    let s = Schema::of::<Nested>().unwrap();
    let nest = |levels: usize| {
        let mut v = json!(1.5);
        for _ in 0..levels {
            v = json!([v, 2.5]);
        }
        v
    };
    assert!(s.validate(&nest(5)).is_ok());
    let issues = s.validate(&nest(40)).unwrap_err();
    assert!(
        issues.as_slice()[0]
            .message
            .starts_with("Too complex to validate"),
        "{issues}"
    );
}

#[test]
fn union_members_with_and_without_references_are_told_apart_by_their_validators() {
    // Objects without required keys: each member's own validator decides. `A` holds a `$ref`
    // (its validator is compiled with the whole document), `B` none (compiled alone), and many
    // such unions make no first parse slow (each member compiled the whole root before).
    let mut props = serde_json::Map::new();
    let mut data = serde_json::Map::new();
    let mut want = serde_json::Map::new();
    for i in 0..300 {
        props.insert(
            format!("p{i}"),
            json!({"anyOf": [{"$ref": "#/definitions/A"}, {"$ref": "#/definitions/B"}]}),
        );
        let (input, output) = if i % 2 == 0 {
            (json!({"x": "s", "y": 1}), json!({"x": "s"}))
        } else {
            (json!({"x": 1, "y": 2, "z": 3}), json!({"x": 1, "y": 2}))
        };
        data.insert(format!("p{i}"), input);
        want.insert(format!("p{i}"), output);
    }
    let s = Schema::new(json!({
        "type": "object",
        "properties": props,
        "definitions": {
            "S": {"type": "string"},
            "A": {"type": "object", "properties": {"x": {"$ref": "#/definitions/S"}}, "additionalProperties": false},
            "B": {"type": "object", "properties": {"x": {"type": "number"}, "y": {}}, "additionalProperties": false}
        }
    }))
    .unwrap();
    assert_eq!(s.parse(&Value::Object(data)).unwrap(), Value::Object(want));
}

/// Splits of 20 zeros into groups (`[[0, 0], [0, ...]]`): distinct arrays that all flatten
/// alike, which the validator's own `uniqueItems` hash writes alike.
fn bracketings(n: usize) -> Vec<Value> {
    (0..n)
        .map(|k| {
            let mut groups = vec![];
            let mut group = vec![];
            for i in 0..20 {
                group.push(json!(0));
                if i < 19 && (k >> i) & 1 == 1 {
                    groups.push(Value::Array(std::mem::take(&mut group)));
                }
            }
            groups.push(Value::Array(group));
            Value::Array(groups)
        })
        .collect()
}

#[test]
fn unique_items_are_checked_whatever_the_items_hash_to() {
    // 16,000 distinct items that the validator's own check hashed alike, so it compared every
    // pair (1.3 s, release, for a 925 KB payload). Their hashes now differ (the unit tests of
    // `unique.rs`); here the verdicts are right, for distinct items and a repeated one.
    let s = Schema::new(json!({"type": "array", "uniqueItems": true})).unwrap();
    let mut items = bracketings(16_000);
    assert!(s.validate(&Value::Array(items.clone())).is_ok());
    items.push(items[12_345].clone());
    let issues = s.validate(&Value::Array(items)).unwrap_err();
    assert_eq!(issues.as_slice().len(), 1);
    assert_eq!(issues.as_slice()[0].kind, IssueKind::Custom);
    // The validator's own message, bounded as every quoted input is.
    let s = Schema::new(
        json!({"type": "object", "properties": {"tags": {"type": "array", "uniqueItems": true}}}),
    )
    .unwrap();
    let issues = s
        .validate(&json!({"tags": [1, {"a": [2]}, {"a": [2.0]}]}))
        .unwrap_err();
    let issue = &issues.as_slice()[0];
    assert_eq!(
        issue.message,
        r#"[1,{"a":[2]},{"a":[2.0]}] has non-unique elements"#
    );
    assert_eq!(issue.path, vec![PathSegment::Key("tags".into())]);
    // `uniqueItems: false` checks nothing.
    let s = Schema::new(json!({"type": "array", "uniqueItems": false})).unwrap();
    assert!(s.validate(&json!([1, 1])).is_ok());
}

fn collision_prone_value() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(json!(null)),
        Just(json!(true)),
        Just(json!(0)),
        Just(json!(-0.0)),
        Just(json!(1)),
        Just(json!(1.0)),
        Just(json!(-1)),
        Just(json!(0.5)),
        Just(json!(9007199254740992u64)),
        Just(json!(9007199254740993u64)),
        Just(json!(9007199254740992.0)),
        Just(json!(u64::MAX)),
        Just(json!(1.8446744073709552e19)),
        Just(json!("")),
        Just(json!("0")),
    ];
    leaf.prop_recursive(3, 24, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            proptest::collection::vec((prop_oneof![Just("a"), Just("b")], inner), 0..3).prop_map(
                |entries| Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect()
                )
            ),
        ]
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]

    /// `uniqueItems` gives the validator's own verdict (jsonschema's built-in keyword) on arrays
    /// built from values that are equal in several forms (`1` and `1.0`, `0` and `-0.0`, keys
    /// in either order) and values that only look alike (`2^53` and `2^53 + 1`).
    #[test]
    fn unique_items_agree_with_the_validators_own_keyword(
        items in proptest::collection::vec(collision_prone_value(), 0..24)
    ) {
        let schema = json!({"uniqueItems": true});
        let ours = Schema::new(schema.clone()).unwrap();
        let theirs = jsonschema::validator_for(&schema).unwrap();
        let data = Value::Array(items);
        proptest::prop_assert_eq!(ours.is_valid(&data), theirs.is_valid(&data), "{}", data);
    }
}

/// Regression (found by the `payload_schema` fuzz target's recipes): a union that leads back to
/// itself (`D0 = oneOf [D0]`) made `parse` loop for ever (release) or overflow the stack
/// (debug): shaping followed the union into itself without reaching anything else. The value
/// now comes back as it is, and values inside objects and arrays below such a union too.
#[test]
fn a_union_that_leads_back_to_itself_is_parsed_without_looping() {
    for keyword in ["oneOf", "anyOf"] {
        let schema = Schema::new(json!({
            "$ref": "#/definitions/D0",
            "definitions": {
                "D0": {keyword: [{"$ref": "#/definitions/D0"}, {"$ref": "#/definitions/D1"}]},
                "D1": {"type": "object", "properties": {"a": {"$ref": "#/definitions/D0"}},
                       "additionalProperties": false}
            }
        }))
        .unwrap();
        for v in [
            json!(-128),
            json!("x"),
            json!({"a": {"a": 1}, "b": 2}),
            json!([{"a": null}]),
        ] {
            let valid = schema.is_valid(&v);
            assert_eq!(schema.parse(&v).is_ok(), valid, "{keyword} {v}");
            assert_eq!(
                schema.parse_owned(v.clone()).is_ok(),
                valid,
                "{keyword} {v}"
            );
        }
    }
}

/// A schema whose members form one long cycle (`D0 = allOf[D1, D1]`, ..., the last back to
/// `D0`): the analysis of its cycles walks them without recursion, so a schema of 20,000 such
/// definitions is built on a thread with a 2 MiB stack (Rust's default for a spawned thread).
/// petgraph's recursive `tarjan_scc` in place of the iterative `kosaraju_scc` overflows it.
#[test]
fn a_long_cycle_of_members_is_analysed_without_recursion() {
    const STACK: usize = 2 << 20; // 2 MiB
    let n = 20_000;
    let defs: serde_json::Map<String, Value> = (0..n)
        .map(|i| {
            let next = format!("#/$defs/D{}", (i + 1) % n);
            (
                format!("D{i}"),
                json!({"type": ["object", "array"], "items": {"$ref": next}, "allOf": [{"$ref": next}, {"$ref": next}]}),
            )
        })
        .collect();
    let schema = json!({"$defs": defs, "$ref": "#/$defs/D0"});
    let built = std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || Schema::new(schema).map(|s| s.validate(&json!([[[[[[1]]]]]])).is_ok()))
        .unwrap()
        .join()
        .expect("no stack overflow");
    match built {
        // Built: a payload a few levels deep is answered (refused as too complex, or checked).
        Ok(_) => {}
        // Or refused when it is built, with a message.
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}
