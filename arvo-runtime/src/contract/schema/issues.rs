//! The validator's errors as the issues zod reports (see the [module docs](super)).

use super::shape::{resolve, wrapped_member};
use crate::event::js_number_string;
use crate::issue::{
    BoundType, Issue, IssueKind, Issues, PathSegment, bounded_value, json_type_name, quote_prefix,
    quote_prefix_owned,
};
use jsonschema::ValidationError;
use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::LocationSegment;
use serde_json::{Map, Value};
use std::collections::HashMap;

fn location_path(err: &ValidationError<'_>) -> Vec<PathSegment> {
    err.instance_path()
        .iter()
        .map(|s| match s {
            LocationSegment::Property(p) => PathSegment::Key(quote_prefix_owned(&p)),
            LocationSegment::Index(i) => PathSegment::Index(i),
        })
        .collect()
}

/// The subschema at a keyword location (`/properties/a/type`), following the `$ref`s the
/// location passes through.
fn schema_at<'a>(root: &'a Value, location: &str) -> Option<&'a Value> {
    let mut cur = root;
    for seg in location.split('/').skip(1) {
        if seg == "$ref" {
            cur = resolve(root, cur, 0)?.0;
            continue;
        }
        let seg = seg.replace("~1", "/").replace("~0", "~");
        cur = match cur {
            Value::Object(m) => m.get(&seg)?,
            Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// The (sub)schema holding the keyword that failed.
fn keyword_parent<'a>(body: &'a Value, err: &ValidationError<'_>) -> Option<&'a Value> {
    let location = err.schema_path().as_str();
    let parent = location.rsplit_once('/').map_or("", |(p, _)| p);
    schema_at(body, parent)
}

/// zod's type name for a JSON Schema type (`integer` is a zod number).
fn zod_type(t: &str) -> &str {
    if t == "integer" { "number" } else { t }
}

/// The types of a `type` keyword as zod's members: a `null` last (zod-to-json-schema's
/// `.nullable()`, which checks the inner type) left out when there are others. Other
/// repeats and a `null` elsewhere are a union's members (`z.union([z.null(), z.string()])`
/// writes `["null", "string"]`, `z.null().nullable()` writes `["null", "null"]`).
fn type_list(t: &Value) -> Vec<&str> {
    let mut types: Vec<&str> = match t {
        Value::String(s) => vec![s.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if types.len() > 1 && types.last() == Some(&"null") {
        types.pop();
    }
    types
}

/// Whether `v` is of JSON Schema type `t`.
fn is_of_type(t: &str, v: &Value) -> bool {
    match t {
        "integer" => v.as_f64().is_some_and(|f| f.fract() == 0.0),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "null" => v.is_null(),
        _ => true,
    }
}

/// Whether `v` satisfies the `type` keyword `t`.
fn satisfies_type(t: &Value, v: &Value) -> bool {
    match t {
        Value::String(s) => is_of_type(s, v),
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .any(|t| is_of_type(t, v)),
        _ => true,
    }
}

/// `String(v)` in JavaScript, for values quoted in messages.
fn js_string(v: &Value) -> String {
    match v {
        Value::String(s) => quote_prefix_owned(s),
        Value::Number(n) => js_number_string(n.as_f64().unwrap_or(f64::NAN)),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_owned(),
        Value::Array(_) | Value::Object(_) => "[object Object]".to_owned(),
    }
}

/// zod's `util.joinValues`: strings quoted with `'`, joined with ` | `.
fn join_values(options: &[Value]) -> String {
    options
        .iter()
        .map(|o| match o {
            Value::String(s) => format!("'{s}'"),
            other => js_string(other),
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

/// `JSON.stringify(v)`.
fn json_stringify(v: &Value) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, crate::event::JsFormatter);
    match serde::Serialize::serialize(&crate::event::js_ordered(v), &mut ser) {
        Ok(()) => String::from_utf8(out).unwrap_or_default(),
        Err(_) => v.to_string(),
    }
}

/// Whether a value of this JSON type can be one of the enum's options as zod sees it:
/// `z.enum` (string options) takes strings, `z.nativeEnum` strings and numbers.
fn enum_takes(options: &[Value], v: &Value) -> bool {
    if options.iter().all(Value::is_string) {
        v.is_string()
    } else {
        v.is_string() || v.is_number()
    }
}

/// zod's issue for an enum given a value of another type (or none: `received: undefined`).
fn enum_type_issue(options: &[Value], received: &str, path: Vec<PathSegment>) -> Issue {
    let expected = join_values(options);
    let message = if received == "undefined" {
        "Required".to_owned()
    } else {
        format!("Expected {expected}, received {received}")
    };
    Issue {
        kind: IssueKind::InvalidEnumType {
            expected,
            received: received.to_owned(),
        },
        path,
        message,
    }
}

/// zod's issue for a union of literals given another value (or none): zod-to-json-schema writes
/// `z.union([z.literal(true), z.literal("x")])` as an `enum`. `z.enum` holds only strings and
/// `z.nativeEnum` only strings or only numbers (as TypeScript enums do, but for the rare mixed
/// one), so an `enum` with a boolean or `null` in it, or with both a string and a number, is
/// such a union. `None` for any other `enum`.
fn literal_union(
    options: &[Value],
    received: Option<&Value>,
    path: &[PathSegment],
) -> Option<Issue> {
    let mixed = options.iter().any(Value::is_string) && options.iter().any(Value::is_number);
    if !mixed && !options.iter().any(|o| o.is_boolean() || o.is_null()) {
        return None;
    }
    let members = options
        .iter()
        .map(|o| Issues(vec![literal_issue(o, received, path.to_vec())]))
        .collect();
    Some(union_issue(members, path.to_vec()))
}

/// zod's issue for a literal (`const`) given another value, or none.
fn literal_issue(expected: &Value, received: Option<&Value>, path: Vec<PathSegment>) -> Issue {
    Issue {
        message: format!(
            "Invalid literal value, expected {}",
            json_stringify(expected)
        ),
        kind: IssueKind::InvalidLiteral {
            expected: expected.clone(),
            received: received.map(bounded_value),
        },
        path,
    }
}

/// zod's issue for a value of the wrong type, for a schema of the given types (`null` left
/// out: see [`type_list`]); several types are a union, each member reporting its own issue.
fn type_issue(types: &[&str], v: &Value, path: Vec<PathSegment>) -> Issue {
    // An integer field given a non-integral number: zod's `int()` check, which wins in a
    // union (its result is only "dirty").
    if v.is_number() && types.contains(&"integer") && !types.contains(&"number") {
        return Issue {
            kind: IssueKind::NotInteger,
            path,
            message: "Expected integer, received float".to_owned(),
        };
    }
    let received = json_type_name(v);
    if let [t] = types {
        let expected = zod_type(t).to_owned();
        return Issue {
            message: format!("Expected {expected}, received {received}"),
            kind: IssueKind::InvalidType {
                expected,
                received: received.to_owned(),
            },
            path,
        };
    }
    union_issue(
        types
            .iter()
            .map(|t| Issues(vec![type_issue(&[t], v, path.clone())]))
            .collect(),
        path,
    )
}

fn union_issue(union_errors: Vec<Issues>, path: Vec<PathSegment>) -> Issue {
    Issue {
        kind: IssueKind::InvalidUnion { union_errors },
        path,
        message: "Invalid input".to_owned(),
    }
}

/// Whether zod stops at one of these issues (its parse result is `aborted`): a value of the
/// wrong type, literal, enum option or union. The other issues (bounds, formats, patterns,
/// `.int()`, multiples) leave the result `dirty`, which a union reports instead of its own.
fn aborts(issues: &Issues) -> bool {
    issues.0.iter().any(|i| {
        matches!(
            i.kind,
            IssueKind::InvalidType { .. }
                | IssueKind::InvalidEnumType { .. }
                | IssueKind::InvalidEnumValue { .. }
                | IssueKind::InvalidLiteral { .. }
                | IssueKind::InvalidUnion { .. }
        )
    })
}

/// zod's issue for a required property that is missing, from the property's schema.
///
/// A union reports its members' issues nested in it, members that are unions in turn: at most
/// [`MAX_ISSUES`](super::MAX_ISSUES) of them (the report keeps no more) and [`MAX_NESTING`]
/// unions deep, so a union that leads back to itself (`A = anyOf [A]`), which recursed until
/// the stack overflowed, or members shared level after level, whose issues double with each
/// level, end there: the issues past that read `Required` with the type `unknown`.
fn missing_issue(root: &Value, prop: Option<&Value>, path: Vec<PathSegment>) -> Issue {
    let mut room = super::MAX_ISSUES;
    missing_issue_within(root, prop, path, 0, &mut room)
}

fn missing_issue_within(
    root: &Value,
    prop: Option<&Value>,
    path: Vec<PathSegment>,
    depth: usize,
    room: &mut usize,
) -> Issue {
    *room = room.saturating_sub(1);
    let prop = prop.and_then(|p| resolve(root, p, 0)).map(|(p, _)| p);
    let required = |expected: &str, path: Vec<PathSegment>| Issue {
        kind: IssueKind::InvalidType {
            expected: expected.to_owned(),
            received: "undefined".to_owned(),
        },
        path,
        message: "Required".to_owned(),
    };
    let Some(Value::Object(p)) = prop else {
        return required("unknown", path);
    };
    if let Some(c) = p.get("const") {
        return literal_issue(c, None, path);
    }
    if let Some(Value::Array(options)) = p.get("enum") {
        return literal_union(options, None, &path)
            .unwrap_or_else(|| enum_type_issue(options, "undefined", path));
    }
    if let Some(t) = p.get("type") {
        let types = type_list(t);
        return match types.as_slice() {
            [t] => required(zod_type(t), path),
            [] => required("unknown", path),
            ts => union_issue(
                ts.iter()
                    .map(|t| Issues(vec![required(zod_type(t), path.clone())]))
                    .collect(),
                path,
            ),
        };
    }
    if let Some(Value::Array(members)) = p.get("anyOf").or_else(|| p.get("oneOf")) {
        if *room == 0 || depth >= MAX_NESTING {
            return required("unknown", path);
        }
        if let Some(i) = wrapped_member(root, members) {
            return missing_issue_within(root, members.get(i), path, depth + 1, room);
        }
        return union_issue(
            members
                .iter()
                .map(|m| {
                    Issues(vec![missing_issue_within(
                        root,
                        Some(m),
                        path.clone(),
                        depth + 1,
                        room,
                    )])
                })
                .collect(),
            path,
        );
    }
    required("unknown", path)
}

/// A number from a schema keyword (`minimum`, ...), as an `f64`.
fn limit_f64(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// Whether the sibling keyword `other` (`maxLength` beside `minLength`, ...) has the same
/// value: zod's `.length(n)`, reported with `exact: true`.
fn exact_bound(body: &Value, err: &ValidationError<'_>, other: &str, limit: u64) -> bool {
    keyword_parent(body, err)
        .and_then(|p| p.get(other))
        .and_then(Value::as_u64)
        == Some(limit)
}

/// A length bound issue (`too_small` / `too_big` of a string or an array).
fn length_issue(
    path: Vec<PathSegment>,
    bound: BoundType,
    limit: u64,
    small: bool,
    exact: bool,
) -> Issue {
    let what = match bound {
        BoundType::Array => "Array must contain",
        _ => "String must contain",
    };
    let unit = match bound {
        BoundType::Array => "element(s)",
        _ => "character(s)",
    };
    let how = match (exact, small) {
        (true, _) => "exactly",
        (false, true) => "at least",
        (false, false) => "at most",
    };
    let n = limit as f64;
    Issue {
        message: format!("{what} {how} {limit} {unit}"),
        kind: if small {
            IssueKind::TooSmall {
                minimum: n,
                bound,
                inclusive: true,
                exact,
            }
        } else {
            IssueKind::TooBig {
                maximum: n,
                bound,
                inclusive: true,
                exact,
            }
        },
        path,
    }
}

/// A number bound issue (`too_small` / `too_big` of a number).
fn number_issue(path: Vec<PathSegment>, limit: &Value, small: bool, inclusive: bool) -> Issue {
    let n = limit_f64(limit);
    let how = match (small, inclusive) {
        (true, true) => "greater than or equal to",
        (true, false) => "greater than",
        (false, true) => "less than or equal to",
        (false, false) => "less than",
    };
    Issue {
        message: format!("Number must be {how} {}", js_number_string(n)),
        kind: if small {
            IssueKind::TooSmall {
                minimum: n,
                bound: BoundType::Number,
                inclusive,
                exact: false,
            }
        } else {
            IssueKind::TooBig {
                maximum: n,
                bound: BoundType::Number,
                inclusive,
                exact: false,
            }
        },
        path,
    }
}

/// zod's `validation` name for a JSON Schema `format` (as zod-to-json-schema writes them).
fn zod_validation(format: &str) -> Option<&'static str> {
    Some(match format {
        "email" => "email",
        "uri" => "url",
        "uuid" => "uuid",
        "date" => "date",
        "time" => "time",
        "ipv4" | "ipv6" => "ip",
        "duration" => "duration",
        _ => return None,
    })
}

pub(super) fn push_issues(out: &mut Issues, err: &ValidationError<'_>, body: &Value) {
    let path = location_path(err);
    let instance = err.instance();
    let custom = |message: String| Issue {
        kind: IssueKind::Custom,
        path: path.clone(),
        message,
    };
    let issue = match err.kind() {
        ValidationErrorKind::Required { property } => {
            let prop = property
                .as_str()
                .map_or_else(|| property.to_string(), str::to_owned);
            let schema = keyword_parent(body, err)
                .and_then(|s| s.get("properties"))
                .and_then(|p| p.get(&prop));
            let mut p = path.clone();
            p.push(PathSegment::Key(prop));
            missing_issue(body, schema, p)
        }
        ValidationErrorKind::Type { kind } => {
            let parent = keyword_parent(body, err);
            // A literal reports any other value itself (zod's literal has no type check).
            if parent.is_some_and(|p| p.get("const").is_some()) {
                return;
            }
            if let Some(Value::Array(options)) = parent.and_then(|p| p.get("enum")) {
                out.push(
                    literal_union(options, Some(instance), &path).unwrap_or_else(|| {
                        enum_type_issue(options, json_type_name(instance), path)
                    }),
                );
                return;
            }
            // The types in the schema's order (the validator's set is sorted its own way).
            if let Some(t) = parent.and_then(|p| p.get("type")) {
                type_issue(&type_list(t), instance, path)
            } else {
                let names: Vec<String> = match kind {
                    TypeKind::Single(t) => vec![t.to_string()],
                    TypeKind::Multiple(ts) => ts.iter().map(|t| t.to_string()).collect(),
                };
                let mut types: Vec<&str> = names.iter().map(String::as_str).collect();
                if types.len() > 1 {
                    types.retain(|t| *t != "null");
                }
                type_issue(&types, instance, path)
            }
        }
        ValidationErrorKind::MinLength { limit } => {
            let exact = exact_bound(body, err, "maxLength", *limit);
            length_issue(path, BoundType::String, *limit, true, exact)
        }
        ValidationErrorKind::MaxLength { limit } => {
            let exact = exact_bound(body, err, "minLength", *limit);
            length_issue(path, BoundType::String, *limit, false, exact)
        }
        ValidationErrorKind::MinItems { limit } => {
            let exact = exact_bound(body, err, "maxItems", *limit);
            length_issue(path, BoundType::Array, *limit, true, exact)
        }
        ValidationErrorKind::MaxItems { limit } => {
            let exact = exact_bound(body, err, "minItems", *limit);
            length_issue(path, BoundType::Array, *limit, false, exact)
        }
        ValidationErrorKind::Minimum { limit } => number_issue(path, limit, true, true),
        ValidationErrorKind::ExclusiveMinimum { limit } => number_issue(path, limit, true, false),
        ValidationErrorKind::Maximum { limit } => number_issue(path, limit, false, true),
        ValidationErrorKind::ExclusiveMaximum { limit } => number_issue(path, limit, false, false),
        ValidationErrorKind::MultipleOf { multiple_of } => {
            let n = *multiple_of;
            Issue {
                kind: IssueKind::NotMultipleOf { multiple_of: n },
                path,
                message: format!("Number must be a multiple of {}", js_number_string(n)),
            }
        }
        ValidationErrorKind::Pattern { .. } => Issue {
            kind: IssueKind::Regex,
            path,
            message: "Invalid".to_owned(),
        },
        ValidationErrorKind::Format { format } if format == "date-time" => Issue {
            kind: IssueKind::Datetime,
            path,
            message: "Invalid datetime".to_owned(),
        },
        ValidationErrorKind::Format { format } => match zod_validation(format) {
            Some(validation) => Issue {
                kind: IssueKind::InvalidString {
                    validation: validation.to_owned(),
                },
                path,
                message: format!("Invalid {validation}"),
            },
            None => custom(format!("Invalid {}", quote_prefix(format))),
        },
        ValidationErrorKind::Enum { options } => {
            let Some(options) = options.as_array() else {
                out.push(custom(quote_prefix_owned(&err.to_string())));
                return;
            };
            let parent = keyword_parent(body, err);
            // A value of the wrong type is reported by the `type` keyword beside the enum.
            if parent
                .and_then(|p| p.get("type"))
                .is_some_and(|t| !satisfies_type(t, instance))
            {
                return;
            }
            if let Some(issue) = literal_union(options, Some(instance), &path) {
                out.push(issue);
                return;
            }
            if !enum_takes(options, instance) {
                out.push(enum_type_issue(options, json_type_name(instance), path));
                return;
            }
            Issue {
                message: format!(
                    "Invalid enum value. Expected {}, received '{}'",
                    join_values(options),
                    js_string(instance)
                ),
                kind: IssueKind::InvalidEnumValue {
                    received: bounded_value(instance),
                    options: options.clone(),
                },
                path,
            }
        }
        ValidationErrorKind::Constant { expected_value } => {
            literal_issue(expected_value, Some(instance), path)
        }
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            // `.nullable()` / `.optional()` of a schema with checks: the inner schema's issues.
            let members = schema_at(body, err.schema_path().as_str()).and_then(Value::as_array);
            if let Some(i) = members.and_then(|m| wrapped_member(body, m))
                && let Some(branch) = context.get(i)
            {
                for e in branch {
                    push_issues(out, e, body);
                }
                return;
            }
            // zod's union: the first member that failed only on checks (zod's `dirty`) reports
            // its issues; when every member failed on a type (`aborted`), one `invalid_union`
            // lists every member's issues.
            // Members are looked at in order, and no further than the first dirty one.
            let mut union_errors = Vec::with_capacity(context.len());
            for (i, branch) in context.iter().enumerate() {
                let mut issues = Issues::default();
                for e in branch {
                    push_issues(&mut issues, e, body);
                }
                // In zod's order within the member (the validator's is its own).
                if let Some(member) = members.and_then(|m| m.get(i)) {
                    sort_within(&mut issues, body, member, instance, path.len());
                }
                if !issues.is_empty() && !aborts(&issues) {
                    out.0.append(&mut issues.0);
                    return;
                }
                union_errors.push(issues);
            }
            union_issue(union_errors, path)
        }
        // No zod code for the rest (see the module docs): the validator's message, bounded.
        _ => custom(quote_prefix_owned(&err.to_string())),
    };
    out.push(issue);
}

/// Keeps the first `room` issues of `issues`, those nested in a union's `unionErrors` counted
/// (depth first, in order), and takes them from `room`; `true` when some were dropped.
pub(super) fn keep_first(issues: &mut Issues, room: &mut usize) -> bool {
    let mut dropped = false;
    let mut kept = 0;
    for issue in issues.0.iter_mut() {
        if *room == 0 {
            break;
        }
        *room -= 1;
        kept += 1;
        if let IssueKind::InvalidUnion { union_errors } = &mut issue.kind {
            for member in union_errors.iter_mut() {
                dropped |= keep_first(member, room);
            }
            // A member left with no issue is no member zod would report.
            union_errors.retain(|m| !m.is_empty());
        }
    }
    dropped |= kept < issues.0.len();
    issues.0.truncate(kept);
    dropped
}

/// Puts issues in the order zod reports them, which is the order it parses in: an object's
/// properties in its shape's order (a record's entries and an array's items in the data's
/// order), a value's own issues before those of what it holds, and a value's checks in the
/// order they were declared (the order of their keywords in the exported schema). The
/// validator reports an object's properties in the data's order and a value's keywords in an
/// order of its own instead. A union's issues are put in order when it is reported, member by
/// member (see [`sort_within`]); here they keep that order.
pub(super) fn sort_as_zod(issues: &mut Issues, body: &Value, data: &Value) {
    sort_within(issues, body, body, data, 0);
}

/// [`sort_as_zod`] for issues under the path of length `depth` where `schema` applies to
/// `value`: a union's member's issues, ordered by that member.
fn sort_within(issues: &mut Issues, root: &Value, schema: &Value, value: &Value, depth: usize) {
    let mut keys = KeyIndex::default();
    issues.0.sort_by_cached_key(|issue| {
        zod_position(
            root,
            schema,
            value,
            issue.path.get(depth..).unwrap_or_default(),
            &issue.kind,
            &mut keys,
        )
    });
}

/// Where zod reports an issue of `kind` at `path` (below `schema`, which applies to `value`):
/// per step of the path, `(1, i)` for the `i`-th property of the schema's shape or the `i`-th
/// item, `(2, i)` for the `i`-th key of the data's object that the shape does not name (a
/// record's entry); then `(0, k)`, `k` the position of the issue's keyword in the schema at that
/// path (so a value's own issues come before those of what it holds). The walk stops at a
/// union: the issues below it were ordered when it was reported.
fn zod_position<'a>(
    root: &'a Value,
    schema: &'a Value,
    value: &'a Value,
    path: &[PathSegment],
    kind: &IssueKind,
    keys: &mut KeyIndex<'a>,
) -> Vec<(u8, usize)> {
    let mut position = Vec::with_capacity(path.len() + 1);
    let (mut schema, mut value) = (Some(schema), Some(value));
    for segment in path {
        if schema.is_some_and(|s| is_union(root, s, 0)) {
            return position;
        }
        let Some(level) = schema.and_then(|s| container(root, s)) else {
            return position;
        };
        match segment {
            PathSegment::Key(k) => {
                let properties = level.get("properties").and_then(Value::as_object);
                if let Some(i) = properties.and_then(|p| keys.position(p, k)) {
                    position.push((1, i));
                    schema = properties.and_then(|p| p.get(k));
                } else {
                    let i = value
                        .and_then(Value::as_object)
                        .and_then(|m| keys.position(m, k));
                    position.push((2, i.unwrap_or(usize::MAX)));
                    schema = level.get("additionalProperties");
                }
                value = value.and_then(|v| v.get(k));
            }
            PathSegment::Index(i) => {
                position.push((1, *i));
                schema = level.get("items");
                value = value.and_then(|v| v.get(*i));
            }
        }
    }
    if schema.is_some_and(|s| is_union(root, s, 0)) {
        return position;
    }
    match schema.and_then(|s| keyword_position(root, s, keywords_of(kind), 0)) {
        Some(steps) => position.extend(steps.into_iter().map(|i| (0, i))),
        None => position.push((0, usize::MAX)),
    }
    position
}

/// Where the first of the keywords `names` sits in `s`: its position among `s`'s keywords, or,
/// inside an `anyOf` / `oneOf` / `allOf` (zod-to-json-schema writes `.ip()` as `anyOf:
/// [{format: "ipv4"}, {format: "ipv6"}]`, and a union's checks sit in its members), the
/// position of that list, of the member, then of the keyword within the member.
fn keyword_position(root: &Value, s: &Value, names: &[&str], depth: usize) -> Option<Vec<usize>> {
    let (s, _) = resolve(root, s, 0)?;
    let m = s.as_object()?;
    m.iter().enumerate().find_map(|(i, (k, v))| {
        if names.contains(&k.as_str()) {
            return Some(vec![i]);
        }
        if depth >= MAX_NESTING || !matches!(k.as_str(), "anyOf" | "oneOf" | "allOf") {
            return None;
        }
        v.as_array()?.iter().enumerate().find_map(|(j, member)| {
            let mut steps = keyword_position(root, member, names, depth + 1)?;
            steps.splice(0..0, [i, j]);
            Some(steps)
        })
    })
}

/// Where keys stand in the objects (schemas' `properties`, the data's objects) that
/// [`zod_position`] walks. A large object is indexed once per sort, so ordering `n` issues
/// under an object of `n` keys costs `O(n)`, not a scan of the object per issue.
#[derive(Default)]
struct KeyIndex<'a>(HashMap<*const Map<String, Value>, HashMap<&'a str, usize>>);

impl<'a> KeyIndex<'a> {
    /// Up to this many keys, a key is found by a scan (cheaper than building an index).
    const SCAN: usize = 16;

    /// The position of `key` among `map`'s keys.
    fn position(&mut self, map: &'a Map<String, Value>, key: &str) -> Option<usize> {
        if map.len() <= Self::SCAN {
            return map.keys().position(|k| k == key);
        }
        self.0
            .entry(std::ptr::from_ref(map))
            .or_insert_with(|| {
                map.keys()
                    .enumerate()
                    .map(|(i, k)| (k.as_str(), i))
                    .collect()
            })
            .get(key)
            .copied()
    }
}

/// The keywords an issue of this kind comes from.
fn keywords_of(kind: &IssueKind) -> &'static [&'static str] {
    match kind {
        IssueKind::Regex => &["pattern"],
        IssueKind::Datetime | IssueKind::InvalidString { .. } => &["format"],
        IssueKind::TooSmall { bound, .. } => match bound {
            BoundType::String => &["minLength"],
            BoundType::Array => &["minItems"],
            BoundType::Number => &["minimum", "exclusiveMinimum"],
        },
        IssueKind::TooBig { bound, .. } => match bound {
            BoundType::String => &["maxLength"],
            BoundType::Array => &["maxItems"],
            BoundType::Number => &["maximum", "exclusiveMaximum"],
        },
        IssueKind::NotMultipleOf { .. } => &["multipleOf"],
        _ => &["type", "enum", "const", "anyOf", "oneOf", "allOf"],
    }
}

/// Whether `s` is a union (an `anyOf` / `oneOf` that is not a `.nullable()` / `.optional()`
/// wrapper, looked through): the issues below it were ordered when it was reported. An `anyOf`
/// beside a `type` is one value's checks (`.ip()` writes `anyOf: [{format: "ipv4"}, {format:
/// "ipv6"}]`), not a union.
fn is_union(root: &Value, s: &Value, depth: usize) -> bool {
    let Some((s, _)) = resolve(root, s, 0) else {
        return false;
    };
    if s.get("type").is_some() {
        return false;
    }
    let Some(members) = s
        .get("anyOf")
        .or_else(|| s.get("oneOf"))
        .and_then(Value::as_array)
    else {
        return false;
    };
    match wrapped_member(root, members) {
        Some(i) if depth < MAX_NESTING => {
            members.get(i).is_some_and(|m| is_union(root, m, depth + 1))
        }
        Some(_) => false,
        None => true,
    }
}

/// The schema that holds `s`'s properties or items: `s` itself, its `$ref`'s target, or the
/// inner member of a `.nullable()` / `.optional()` wrapper (see [`wrapped_member`]); `None` at
/// a union (or anything else).
fn container<'a>(root: &'a Value, s: &'a Value) -> Option<&'a Value> {
    container_within(root, s, 0)
}

fn container_within<'a>(root: &'a Value, s: &'a Value, depth: usize) -> Option<&'a Value> {
    let (s, _) = resolve(root, s, 0)?;
    let holds = ["properties", "items", "additionalProperties"]
        .iter()
        .any(|k| s.get(k).is_some());
    if holds {
        return Some(s);
    }
    if depth >= MAX_NESTING {
        return None;
    }
    let members = s.get("anyOf").or_else(|| s.get("oneOf"))?.as_array()?;
    container_within(
        root,
        members.get(wrapped_member(root, members)?)?,
        depth + 1,
    )
}

/// How many `anyOf` / `oneOf` / `allOf` levels [`container`] looks through.
const MAX_NESTING: usize = 8;
