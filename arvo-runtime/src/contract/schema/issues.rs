//! The validator's errors as the issues zod reports (see the [module docs](super)).

use super::shape::resolve;
use crate::event::js_number_string;
use crate::issue::{
    BoundType, Issue, IssueKind, Issues, PathSegment, bounded_value, json_type_name, quote_prefix,
    quote_prefix_owned,
};
use jsonschema::ValidationError;
use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::LocationSegment;
use serde_json::Value;

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

/// The types of a `type` keyword, `null` left out when there are others (zod's `.nullable()`
/// checks the inner type).
fn type_list(t: &Value) -> Vec<&str> {
    let mut types: Vec<&str> = match t {
        Value::String(s) => vec![s.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if types.len() > 1 {
        types.retain(|t| *t != "null");
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

/// The index of the non-null member of a two-member `anyOf`/`oneOf` whose other member is
/// `{"type": "null"}`: what zod-to-json-schema writes for `.nullable()` of a schema with checks.
fn nullable_member(root: &Value, members: &[Value]) -> Option<usize> {
    let is_null = |m: &Value| {
        resolve(root, m, 0).is_some_and(|(m, _)| {
            m.as_object()
                .is_some_and(|o| o.len() == 1 && o.get("type") == Some(&Value::from("null")))
        })
    };
    match members {
        [a, b] if is_null(b) && !is_null(a) => Some(0),
        [a, b] if is_null(a) && !is_null(b) => Some(1),
        _ => None,
    }
}

/// zod's issue for a required property that is missing, from the property's schema.
fn missing_issue(root: &Value, prop: Option<&Value>, path: Vec<PathSegment>) -> Issue {
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
        return enum_type_issue(options, "undefined", path);
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
        if let Some(i) = nullable_member(root, members) {
            return missing_issue(root, members.get(i), path);
        }
        return union_issue(
            members
                .iter()
                .map(|m| Issues(vec![missing_issue(root, Some(m), path.clone())]))
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
                out.push(enum_type_issue(options, json_type_name(instance), path));
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
            // `.nullable()` of a schema with checks: the inner schema's issues.
            let members = schema_at(body, err.schema_path().as_str()).and_then(Value::as_array);
            if let Some(i) = members.and_then(|m| nullable_member(body, m))
                && let Some(branch) = context.get(i)
            {
                for e in branch {
                    push_issues(out, e, body);
                }
                return;
            }
            // zod's union: the first member whose type matched reports its own issues;
            // otherwise one `invalid_union` issue listing every member's issues.
            let own = context.iter().find(|branch| {
                !branch.iter().any(|e| {
                    matches!(e.kind(), ValidationErrorKind::Type { .. })
                        && e.instance_path() == err.instance_path()
                })
            });
            if let Some(branch) = own.filter(|b| !b.is_empty()) {
                for e in branch {
                    push_issues(out, e, body);
                }
                return;
            }
            let union_errors = context
                .iter()
                .map(|branch| {
                    let mut issues = Issues::default();
                    for e in branch {
                        push_issues(&mut issues, e, body);
                    }
                    issues
                })
                .collect();
            union_issue(union_errors, path)
        }
        // No zod code for the rest (see the module docs): the validator's message, bounded.
        _ => custom(quote_prefix_owned(&err.to_string())),
    };
    out.push(issue);
}
