//! Contracts built from a JSON Schema report issues as zod reports them for the zod schema
//! that converts to that JSON Schema: code, fields, key order and message, keyword by keyword
//! (see the table in `arvo_runtime::contract::schema`'s docs).
//!
//! Regression (issue 15, wire mismatch b): on `main` these schemas reported `code: "custom"`
//! for bounds, enums, literals and formats, `expected: "string"` for an enum given a number,
//! and `received: "number"` for a non-integer given to an integer field.
#![allow(clippy::unwrap_used)]

use arvo_runtime::contract::Schema;
use arvo_runtime::issue::{BoundType, IssueKind, MAX_QUOTED_BYTES};
use serde_json::{Value, json};

/// The issues for `data` against an object schema with one property `p` (required) of
/// schema `prop`, as compact JSON with zod's key order (`JSON.stringify(issues)`).
fn issues_of(prop: Value, data: Value) -> String {
    let schema = Schema::new(json!({
        "type": "object",
        "properties": {"p": prop},
        "required": ["p"],
        "additionalProperties": false
    }))
    .unwrap();
    let issues = schema.validate(&data).unwrap_err();
    // Display is `JSON.stringify(issues, null, 2)`; re-read (key order kept) and compact it.
    let v: Value = serde_json::from_str(&issues.to_string()).unwrap();
    serde_json::to_string(&v).unwrap()
}

fn one(prop: Value, value: Value) -> String {
    issues_of(prop, json!({ "p": value }))
}

#[test]
fn enum_value_not_an_option() {
    assert_eq!(
        one(
            json!({"type": "string", "enum": ["north", "south"]}),
            json!("east")
        ),
        r#"[{"received":"east","code":"invalid_enum_value","options":["north","south"],"path":["p"],"message":"Invalid enum value. Expected 'north' | 'south', received 'east'"}]"#
    );
}

#[test]
fn enum_given_another_type_or_nothing() {
    let e = json!({"type": "string", "enum": ["north", "south"]});
    assert_eq!(
        one(e.clone(), json!(5)),
        r#"[{"expected":"'north' | 'south'","received":"number","code":"invalid_type","path":["p"],"message":"Expected 'north' | 'south', received number"}]"#
    );
    assert_eq!(
        issues_of(e, json!({})),
        r#"[{"expected":"'north' | 'south'","received":"undefined","code":"invalid_type","path":["p"],"message":"Required"}]"#
    );
    // Without a `type` beside it, the enum reports the wrong type itself.
    assert_eq!(
        one(json!({"enum": ["a", "b"]}), json!(true)),
        r#"[{"expected":"'a' | 'b'","received":"boolean","code":"invalid_type","path":["p"],"message":"Expected 'a' | 'b', received boolean"}]"#
    );
    // A numeric (native) enum takes numbers.
    assert_eq!(
        one(json!({"type": "number", "enum": [1, 2]}), json!(3)),
        r#"[{"received":3,"code":"invalid_enum_value","options":[1,2],"path":["p"],"message":"Invalid enum value. Expected 1 | 2, received '3'"}]"#
    );
}

#[test]
fn integer_given_a_float_or_another_type() {
    assert_eq!(
        one(json!({"type": "integer"}), json!(1.5)),
        r#"[{"code":"invalid_type","expected":"integer","received":"float","message":"Expected integer, received float","path":["p"]}]"#
    );
    assert_eq!(
        one(json!({"type": "integer"}), json!("1")),
        r#"[{"code":"invalid_type","expected":"number","received":"string","path":["p"],"message":"Expected number, received string"}]"#
    );
    assert_eq!(
        issues_of(json!({"type": "integer"}), json!({})),
        r#"[{"code":"invalid_type","expected":"number","received":"undefined","path":["p"],"message":"Required"}]"#
    );
}

#[test]
fn string_lengths() {
    assert_eq!(
        one(json!({"type": "string", "minLength": 3}), json!("ab")),
        r#"[{"code":"too_small","minimum":3,"type":"string","inclusive":true,"exact":false,"message":"String must contain at least 3 character(s)","path":["p"]}]"#
    );
    assert_eq!(
        one(json!({"type": "string", "maxLength": 2}), json!("abc")),
        r#"[{"code":"too_big","maximum":2,"type":"string","inclusive":true,"exact":false,"message":"String must contain at most 2 character(s)","path":["p"]}]"#
    );
    // `.length(2)`: both bounds equal.
    let exact = json!({"type": "string", "minLength": 2, "maxLength": 2});
    assert_eq!(
        one(exact.clone(), json!("a")),
        r#"[{"code":"too_small","minimum":2,"type":"string","inclusive":true,"exact":true,"message":"String must contain exactly 2 character(s)","path":["p"]}]"#
    );
    assert_eq!(
        one(exact, json!("abc")),
        r#"[{"code":"too_big","maximum":2,"type":"string","inclusive":true,"exact":true,"message":"String must contain exactly 2 character(s)","path":["p"]}]"#
    );
}

#[test]
fn number_bounds() {
    assert_eq!(
        one(json!({"type": "number", "minimum": 5}), json!(4)),
        r#"[{"code":"too_small","minimum":5,"type":"number","inclusive":true,"exact":false,"message":"Number must be greater than or equal to 5","path":["p"]}]"#
    );
    assert_eq!(
        one(json!({"type": "number", "exclusiveMinimum": 0}), json!(0)),
        r#"[{"code":"too_small","minimum":0,"type":"number","inclusive":false,"exact":false,"message":"Number must be greater than 0","path":["p"]}]"#
    );
    assert_eq!(
        one(json!({"type": "number", "maximum": 2.5}), json!(3)),
        r#"[{"code":"too_big","maximum":2.5,"type":"number","inclusive":true,"exact":false,"message":"Number must be less than or equal to 2.5","path":["p"]}]"#
    );
    assert_eq!(
        one(json!({"type": "number", "exclusiveMaximum": 10}), json!(10)),
        r#"[{"code":"too_big","maximum":10,"type":"number","inclusive":false,"exact":false,"message":"Number must be less than 10","path":["p"]}]"#
    );
    assert_eq!(
        one(json!({"type": "number", "multipleOf": 0.5}), json!(0.3)),
        r#"[{"code":"not_multiple_of","multipleOf":0.5,"message":"Number must be a multiple of 0.5","path":["p"]}]"#
    );
}

#[test]
fn array_lengths() {
    assert_eq!(
        one(json!({"type": "array", "minItems": 2}), json!([1])),
        r#"[{"code":"too_small","minimum":2,"type":"array","inclusive":true,"exact":false,"message":"Array must contain at least 2 element(s)","path":["p"]}]"#
    );
    assert_eq!(
        one(json!({"type": "array", "maxItems": 1}), json!([1, 2])),
        r#"[{"code":"too_big","maximum":1,"type":"array","inclusive":true,"exact":false,"message":"Array must contain at most 1 element(s)","path":["p"]}]"#
    );
    assert_eq!(
        one(
            json!({"type": "array", "minItems": 2, "maxItems": 2}),
            json!([1])
        ),
        r#"[{"code":"too_small","minimum":2,"type":"array","inclusive":true,"exact":true,"message":"Array must contain exactly 2 element(s)","path":["p"]}]"#
    );
}

#[test]
fn literals() {
    let l = json!({"type": "string", "const": "x"});
    assert_eq!(
        one(l.clone(), json!("y")),
        r#"[{"received":"y","code":"invalid_literal","expected":"x","path":["p"],"message":"Invalid literal value, expected \"x\""}]"#
    );
    // zod's literal has no type check: one issue, not a type issue as well.
    assert_eq!(
        one(l.clone(), json!(5)),
        r#"[{"received":5,"code":"invalid_literal","expected":"x","path":["p"],"message":"Invalid literal value, expected \"x\""}]"#
    );
    assert_eq!(
        issues_of(l, json!({})),
        r#"[{"code":"invalid_literal","expected":"x","path":["p"],"message":"Invalid literal value, expected \"x\""}]"#
    );
}

#[test]
fn string_formats() {
    let f = |format: &str, v: &str| one(json!({"type": "string", "format": format}), json!(v));
    assert_eq!(
        f("email", "nope"),
        r#"[{"validation":"email","code":"invalid_string","message":"Invalid email","path":["p"]}]"#
    );
    assert_eq!(
        f("uri", "not a url"),
        r#"[{"validation":"url","code":"invalid_string","message":"Invalid url","path":["p"]}]"#
    );
    assert_eq!(
        f("uuid", "x"),
        r#"[{"validation":"uuid","code":"invalid_string","message":"Invalid uuid","path":["p"]}]"#
    );
    assert_eq!(
        f("date", "2024-13-45"),
        r#"[{"code":"invalid_string","validation":"date","message":"Invalid date","path":["p"]}]"#
    );
    assert_eq!(
        f("date-time", "yesterday"),
        r#"[{"code":"invalid_string","validation":"datetime","message":"Invalid datetime","path":["p"]}]"#
    );
    assert_eq!(
        one(json!({"type": "string", "pattern": "^a+$"}), json!("b")),
        r#"[{"validation":"regex","code":"invalid_string","message":"Invalid","path":["p"]}]"#
    );
}

#[test]
fn nullable_and_union_types() {
    assert_eq!(
        one(json!({"type": ["string", "null"]}), json!(5)),
        r#"[{"code":"invalid_type","expected":"string","received":"number","path":["p"],"message":"Expected string, received number"}]"#
    );
    assert_eq!(
        one(json!({"type": ["string", "number"]}), json!(true)),
        r#"[{"code":"invalid_union","unionErrors":[{"issues":[{"code":"invalid_type","expected":"string","received":"boolean","path":["p"],"message":"Expected string, received boolean"}],"name":"ZodError"},{"issues":[{"code":"invalid_type","expected":"number","received":"boolean","path":["p"],"message":"Expected number, received boolean"}],"name":"ZodError"}],"path":["p"],"message":"Invalid input"}]"#
    );
    // A union with an integer member given a float: zod's `int()` check wins.
    assert_eq!(
        one(json!({"type": ["integer", "string"]}), json!(0.5)),
        r#"[{"code":"invalid_type","expected":"integer","received":"float","message":"Expected integer, received float","path":["p"]}]"#
    );
}

#[test]
fn keywords_without_a_zod_code_are_custom() {
    let s = one(
        json!({"type": "object", "minProperties": 2}),
        json!({"a": 1}),
    );
    assert!(s.starts_with(r#"[{"code":"custom","message":"#), "{s}");
    let s = one(json!({"type": "array", "uniqueItems": true}), json!([1, 1]));
    assert!(s.starts_with(r#"[{"code":"custom","message":"#), "{s}");
}

#[test]
fn codes_are_zods() {
    let schema =
        Schema::new(json!({"type": "object", "properties": {"n": {"type": "integer"}}})).unwrap();
    let issues = schema.validate(&json!({"n": 0.5})).unwrap_err();
    let issue = &issues.as_slice()[0];
    assert_eq!(issue.kind, IssueKind::NotInteger);
    assert_eq!(issue.kind.code(), "invalid_type");
    let schema = Schema::new(
        json!({"type": "object", "properties": {"s": {"type": "string", "maxLength": 1}}}),
    )
    .unwrap();
    let issues = schema.validate(&json!({"s": "ab"})).unwrap_err();
    assert_eq!(
        issues.as_slice()[0].kind,
        IssueKind::TooBig {
            maximum: 1.0,
            bound: BoundType::String,
            inclusive: true,
            exact: false
        }
    );
}

/// Regression (issue 15, item 7): on `main` the enum message quoted the whole value.
#[test]
fn a_huge_value_is_quoted_by_a_bounded_prefix() {
    let huge = "x".repeat(5_000_000);
    let schema = Schema::new(
        json!({"type": "object", "properties": {"p": {"type": "string", "enum": ["a"]}}}),
    )
    .unwrap();
    let issues = schema.validate(&json!({ "p": huge })).unwrap_err();
    let text = issues.to_string();
    assert!(text.len() < 4 * MAX_QUOTED_BYTES, "{} bytes", text.len());
    assert!(text.contains("... (5000000 bytes in all)"));
    // A huge key in the path, too.
    let schema =
        Schema::new(json!({"type": "object", "additionalProperties": {"type": "number"}})).unwrap();
    let mut data = serde_json::Map::new();
    data.insert("k".repeat(1_000_000), json!("not a number"));
    let text = schema
        .validate(&Value::Object(data))
        .unwrap_err()
        .to_string();
    assert!(text.len() < 4 * MAX_QUOTED_BYTES, "{} bytes", text.len());
}

/// Issues under objects wider than a few keys (found through an index, not a scan) keep zod's
/// order: a record's entries in the data's order, an object's properties in its shape's order.
#[test]
fn wide_objects_keep_zods_order() {
    let keys: Vec<String> = (0..40).map(|i| format!("k{i:02}")).collect();
    let order = |issues: &arvo_runtime::issue::Issues| -> Vec<String> {
        issues
            .as_slice()
            .iter()
            .map(|i| match i.path.last().unwrap() {
                arvo_runtime::issue::PathSegment::Key(k) => k.clone(),
                other => panic!("a record key, not {other:?}"),
            })
            .collect()
    };
    // A record: the data's order, which is not sorted.
    let record =
        Schema::new(json!({"type": "object", "additionalProperties": {"type": "string"}})).unwrap();
    // The odd keys backwards, then the even ones forwards.
    let shuffled: Vec<&String> = (0..40)
        .rev()
        .filter(|i| i % 2 == 1)
        .chain((0..40).filter(|i| i % 2 == 0))
        .map(|i| &keys[i])
        .collect();
    let data: serde_json::Map<String, Value> =
        shuffled.iter().map(|k| ((*k).clone(), json!(1))).collect();
    let issues = record.validate(&Value::Object(data)).unwrap_err();
    let expected: Vec<String> = shuffled.iter().map(|k| (*k).clone()).collect();
    assert_eq!(order(&issues), expected);
    // An object: the schema's order, whatever the data's.
    let props: serde_json::Map<String, Value> = keys
        .iter()
        .rev()
        .map(|k| (k.clone(), json!({"type": "string"})))
        .collect();
    let object = Schema::new(json!({"type": "object", "properties": props})).unwrap();
    let data: serde_json::Map<String, Value> = keys.iter().map(|k| (k.clone(), json!(1))).collect();
    let issues = object.validate(&Value::Object(data)).unwrap_err();
    let expected: Vec<String> = keys.iter().rev().cloned().collect();
    assert_eq!(order(&issues), expected);
}

/// Regression (found by the `docs_schema` fuzz target): a missing property whose schema is a
/// union leading back to itself (`A = anyOf [A, A]`) recursed until the stack overflowed, an
/// abort of the whole process; a union of shared members doubles its issues with each level.
/// Nested unions are now reported at most `MAX_ISSUES` issues and 8 unions deep, the rest as
/// `Required` of type `unknown`; the ordinary case keeps zod's report.
#[test]
fn a_missing_union_that_leads_back_to_itself_is_reported_within_bounds() {
    use arvo_runtime::contract::MAX_ISSUES;
    use arvo_runtime::issue::Issues;

    fn nested(issues: &Issues, depth: usize, count: &mut usize, deepest: &mut usize) {
        *deepest = (*deepest).max(depth);
        for issue in issues.as_slice() {
            *count += 1;
            if let IssueKind::InvalidUnion { union_errors } = &issue.kind {
                for member in union_errors {
                    nested(member, depth + 1, count, deepest);
                }
            }
        }
    }

    for members in [1, 2, 5] {
        let refs: Vec<Value> = (0..members)
            .map(|_| json!({"$ref": "#/definitions/A"}))
            .collect();
        let schema = Schema::new(json!({
            "type": "object",
            "properties": {"x": {"$ref": "#/definitions/A"}},
            "required": ["x"],
            "definitions": {"A": {"anyOf": refs}}
        }))
        .unwrap();
        let issues = schema.validate(&json!({})).unwrap_err();
        let (mut count, mut deepest) = (0, 0);
        nested(&issues, 0, &mut count, &mut deepest);
        assert!(count <= MAX_ISSUES + 1, "{members} members: {count} issues");
        assert!(deepest <= 9, "{members} members: unions {deepest} deep");
        let text = issues.to_string();
        assert!(text.contains(r#""expected": "unknown""#), "{text}");
        assert!(text.len() < 200_000, "{} bytes", text.len());
    }

    // A missing union of two types is still zod's report, member by member.
    assert_eq!(
        issues_of(
            json!({"anyOf": [{"type": "string"}, {"type": "number"}]}),
            json!({})
        ),
        r#"[{"code":"invalid_union","unionErrors":[{"issues":[{"code":"invalid_type","expected":"string","received":"undefined","path":["p"],"message":"Required"}],"name":"ZodError"},{"issues":[{"code":"invalid_type","expected":"number","received":"undefined","path":["p"],"message":"Required"}],"name":"ZodError"}],"path":["p"],"message":"Invalid input"}]"#
    );
}
