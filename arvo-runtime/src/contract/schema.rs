//! Payload schemas: a JSON Schema (as the reference exports it) with a validator compiled once.

use crate::issue::{
    Issue, IssueKind, Issues, PathSegment, json_type_name, quote_prefix, quote_prefix_owned,
};
use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::LocationSegment;
use jsonschema::{ValidationError, Validator};
use serde_json::{Map, Value};
use std::fmt;
use std::sync::Arc;

/// The `$schema` URL of draft-07, the dialect the reference exports.
pub const DRAFT_07: &str = "http://json-schema.org/draft-07/schema#";

/// How deep `$ref`s are followed when preparing [`Schema::parse`] (cycles stop there).
const MAX_REF_DEPTH: usize = 32;

/// Why a schema could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// The root of a payload schema must be a JSON object (or `true`, read as `{}`).
    #[error("A payload schema must be a JSON object, got {found}")]
    NotAnObject {
        /// The JSON type that was given.
        found: &'static str,
    },
    /// The validator refused to compile the schema.
    #[error("Invalid JSON Schema: {message}")]
    Invalid {
        /// The validator's message.
        message: String,
    },
}

/// A payload schema: the JSON Schema that [`to_json`](Schema::to_json) exports (draft-07, as
/// `zod-to-json-schema` writes it, `$schema` as the last key) and a validator compiled once and
/// reused.
///
/// Validation follows the reference (zod) rather than the letter of the export:
/// `additionalProperties: false` is *relaxed* for validation, and [`parse`](Schema::parse)
/// strips unknown keys instead of refusing them, applies the `default` of missing properties
/// and writes object keys in the schema's property order, as zod's output does. Cloning is cheap
/// (one `Arc`).
///
/// ```
/// use arvo_runtime::contract::Schema;
/// use serde_json::json;
/// let s = Schema::new(json!({
///     "type": "object",
///     "properties": {"a": {"type": "string"}, "n": {"type": "number", "default": 5}},
///     "required": ["a"],
///     "additionalProperties": false
/// })).unwrap();
/// assert_eq!(s.parse(&json!({"extra": 1, "a": "x"})).unwrap(), json!({"a": "x", "n": 5}));
/// let err = s.validate(&json!({"a": 1})).unwrap_err();
/// assert_eq!(err.as_slice()[0].message, "Expected string, received number");
/// ```
#[derive(Clone)]
pub struct Schema(Arc<Inner>);

struct Inner {
    body: Value,
    export: Value,
    validator: Validator,
    shape: Shape,
}

impl fmt::Debug for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Schema").field(&self.0.export).finish()
    }
}

impl PartialEq for Schema {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.export == other.0.export
    }
}

impl Schema {
    /// Builds a schema from its JSON. A `$schema` key, if any, is moved to the end (draft-07 is
    /// assumed when absent). The validator is compiled here, once.
    pub fn new(schema: Value) -> Result<Schema, SchemaError> {
        let mut body = match schema {
            Value::Object(m) => m,
            Value::Bool(true) => Map::new(),
            other => {
                return Err(SchemaError::NotAnObject {
                    found: json_type_name(&other),
                });
            }
        };
        let dialect = body
            .shift_remove("$schema")
            .unwrap_or_else(|| Value::String(DRAFT_07.to_owned()));
        let body = Value::Object(body);
        let mut relaxed = body.clone();
        relax(&mut relaxed);
        if let Value::Object(m) = &mut relaxed {
            m.insert("$schema".to_owned(), dialect.clone());
        }
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .with_format("uuid", is_uuid)
            .build(&relaxed)
            .map_err(|e| SchemaError::Invalid {
                message: e.to_string(),
            })?;
        let shape = Shape::build(&body, &body, 0);
        let mut export = body.clone();
        if let Value::Object(m) = &mut export {
            m.insert("$schema".to_owned(), dialect);
        }
        Ok(Schema(Arc::new(Inner {
            body,
            export,
            validator,
            shape,
        })))
    }

    /// The draft-07 schema that schemars 1.x generates for `T` (for `#[derive(JsonSchema)]`
    /// payload types).
    ///
    /// ```
    /// #[derive(schemars::JsonSchema)]
    /// struct Add { a: f64, b: f64 }
    /// let s = arvo_runtime::contract::Schema::of::<Add>().unwrap();
    /// assert!(s.validate(&serde_json::json!({"a": 1, "b": 2})).is_ok());
    /// assert!(s.validate(&serde_json::json!({"a": 1})).is_err());
    /// ```
    pub fn of<T: schemars::JsonSchema + ?Sized>() -> Result<Schema, SchemaError> {
        let generator = schemars::generate::SchemaSettings::draft07().into_generator();
        Schema::new(generator.into_root_schema_for::<T>().to_value())
    }

    /// The schema as given, without `$schema`.
    pub fn as_json(&self) -> &Value {
        &self.0.body
    }

    /// The exported schema: [`as_json`](Self::as_json) with `$schema` appended as the last key.
    pub fn to_json(&self) -> &Value {
        &self.0.export
    }

    /// Whether `data` is valid (no allocation on success).
    pub fn is_valid(&self, data: &Value) -> bool {
        self.0.validator.is_valid(data)
    }

    /// Validates `data`; every failure becomes an [`Issue`] with its path and a zod-like message.
    pub fn validate(&self, data: &Value) -> Result<(), Issues> {
        if self.0.validator.is_valid(data) {
            return Ok(());
        }
        let mut issues = Issues::default();
        for err in self.0.validator.iter_errors(data) {
            push_issues(&mut issues, &err, &self.0.body);
        }
        if issues.is_empty() {
            issues.push(Issue {
                kind: IssueKind::Custom,
                path: Vec::new(),
                message: "Invalid input".to_owned(),
            });
        }
        Err(issues)
    }

    /// zod's `parse`: validates, then returns the output value (unknown keys of
    /// `additionalProperties: false` objects stripped, missing properties with a `default` filled
    /// in, object keys in schema order).
    pub fn parse(&self, data: &Value) -> Result<Value, Issues> {
        self.validate(data)?;
        let mut out = data.clone();
        self.0.shape.apply(&mut out);
        Ok(out)
    }

    /// [`parse`](Self::parse) on an owned value, reshaped in place (no copy of the input).
    pub fn parse_owned(&self, mut data: Value) -> Result<Value, Issues> {
        self.validate(&data)?;
        self.0.shape.apply(&mut data);
        Ok(data)
    }
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Removes `additionalProperties: false` everywhere it is a keyword, so validation tolerates
/// unknown keys (they are stripped by `parse`, as zod does).
fn relax(schema: &mut Value) {
    let Value::Object(m) = schema else { return };
    if m.get("additionalProperties") == Some(&Value::Bool(false)) {
        m.shift_remove("additionalProperties");
    }
    for (k, v) in m.iter_mut() {
        match k.as_str() {
            "properties" | "patternProperties" | "definitions" | "$defs" | "dependencies" => {
                if let Value::Object(children) = v {
                    children.values_mut().for_each(relax);
                }
            }
            "allOf" | "anyOf" | "oneOf" => {
                if let Value::Array(items) = v {
                    items.iter_mut().for_each(relax);
                }
            }
            "items" => match v {
                Value::Array(items) => items.iter_mut().for_each(relax),
                other => relax(other),
            },
            "additionalProperties"
            | "additionalItems"
            | "contains"
            | "not"
            | "if"
            | "then"
            | "else"
            | "propertyNames" => relax(v),
            _ => {}
        }
    }
}

/// What `parse` does to a value, prepared once from the schema.
enum Shape {
    /// Leave the value as it is.
    Any,
    Object {
        props: Vec<Prop>,
        extra: Extra,
    },
    Array(Box<Shape>),
    Union(Vec<Branch>),
}

struct Prop {
    name: String,
    shape: Shape,
    default: Option<Value>,
}

enum Extra {
    Strip,
    Keep,
    Each(Box<Shape>),
}

struct Branch {
    types: Option<Vec<String>>,
    required: Vec<String>,
    consts: Vec<(String, Value)>,
    shape: Shape,
}

fn resolve<'a>(root: &'a Value, mut s: &'a Value, mut depth: usize) -> Option<(&'a Value, usize)> {
    while let Some(r) = s.get("$ref").and_then(Value::as_str) {
        depth += 1;
        if depth > MAX_REF_DEPTH {
            return None;
        }
        let pointer = r.strip_prefix('#')?;
        s = root.pointer(pointer)?;
    }
    Some((s, depth))
}

impl Shape {
    fn build(root: &Value, s: &Value, depth: usize) -> Shape {
        let Some((s, depth)) = resolve(root, s, depth) else {
            return Shape::Any;
        };
        let Value::Object(m) = s else {
            return Shape::Any;
        };
        if let Some(Value::Array(branches)) = m.get("anyOf").or_else(|| m.get("oneOf")) {
            let branches: Vec<Branch> = branches
                .iter()
                .map(|b| Branch::build(root, b, depth))
                .collect();
            if branches.iter().all(|b| matches!(b.shape, Shape::Any)) {
                return Shape::Any;
            }
            return Shape::Union(branches);
        }
        let props = m.get("properties").and_then(Value::as_object);
        let extra = match m.get("additionalProperties") {
            Some(Value::Bool(false)) => Extra::Strip,
            Some(v @ Value::Object(_)) => match Shape::build(root, v, depth) {
                Shape::Any => Extra::Keep,
                shape => Extra::Each(Box::new(shape)),
            },
            _ => Extra::Keep,
        };
        if let Some(props) = props {
            let props = props
                .iter()
                .map(|(name, p)| Prop {
                    name: name.clone(),
                    shape: Shape::build(root, p, depth),
                    default: resolve(root, p, depth).and_then(|(p, _)| p.get("default").cloned()),
                })
                .collect();
            return Shape::Object { props, extra };
        }
        if let Extra::Strip | Extra::Each(_) = extra {
            return Shape::Object {
                props: Vec::new(),
                extra,
            };
        }
        if let Some(items @ Value::Object(_)) = m.get("items") {
            return match Shape::build(root, items, depth) {
                Shape::Any => Shape::Any,
                shape => Shape::Array(Box::new(shape)),
            };
        }
        Shape::Any
    }

    fn apply(&self, v: &mut Value) {
        match (self, v) {
            (Shape::Any, _) => {}
            (Shape::Array(item), Value::Array(items)) => {
                items.iter_mut().for_each(|i| item.apply(i))
            }
            (Shape::Union(branches), v) => {
                if let Some(b) = branches.iter().find(|b| b.matches(v)) {
                    b.shape.apply(v);
                }
            }
            (Shape::Object { props, extra }, Value::Object(map)) => apply_object(props, extra, map),
            _ => {}
        }
    }
}

impl Branch {
    fn build(root: &Value, s: &Value, depth: usize) -> Branch {
        let resolved = resolve(root, s, depth).map(|(s, _)| s);
        let types = resolved.and_then(|s| s.get("type")).map(|t| match t {
            Value::Array(ts) => ts
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            Value::String(t) => vec![t.clone()],
            _ => Vec::new(),
        });
        let required = resolved
            .and_then(|s| s.get("required"))
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let consts = resolved
            .and_then(|s| s.get("properties"))
            .and_then(Value::as_object)
            .map(|p| {
                p.iter()
                    .filter_map(|(k, v)| v.get("const").map(|c| (k.clone(), c.clone())))
                    .collect()
            })
            .unwrap_or_default();
        Branch {
            types,
            required,
            consts,
            shape: Shape::build(root, s, depth),
        }
    }

    /// A cheap stand-in for "this branch validates `v`": the JSON type, required keys and
    /// literal (discriminator) values match.
    fn matches(&self, v: &Value) -> bool {
        if let Some(types) = &self.types {
            let t = json_type_name(v);
            let int = v.as_f64().is_some_and(|f| f.fract() == 0.0);
            if !types.iter().any(|x| x == t || (x == "integer" && int)) {
                return false;
            }
        }
        match v {
            Value::Object(m) => {
                self.required.iter().all(|k| m.contains_key(k))
                    && self
                        .consts
                        .iter()
                        .all(|(k, c)| m.get(k).is_none_or(|x| x == c))
            }
            _ => true,
        }
    }
}

fn apply_object(props: &[Prop], extra: &Extra, map: &mut Map<String, Value>) {
    for p in props {
        if let Some(v) = map.get_mut(&p.name) {
            p.shape.apply(v);
        }
    }
    if let Extra::Each(shape) = extra {
        for (k, v) in map.iter_mut() {
            if !props.iter().any(|p| &p.name == k) {
                shape.apply(v);
            }
        }
    }
    if already_shaped(props, extra, map) {
        return;
    }
    let mut src = std::mem::take(map);
    for p in props {
        match src.shift_remove(&p.name) {
            Some(v) => {
                map.insert(p.name.clone(), v);
            }
            None => {
                if let Some(d) = &p.default {
                    map.insert(p.name.clone(), d.clone());
                }
            }
        }
    }
    if !matches!(extra, Extra::Strip) {
        map.extend(src);
    }
}

/// Whether the object is already what zod would output: known keys in schema order, followed
/// by the kept unknown ones, and no default to fill in.
fn already_shaped(props: &[Prop], extra: &Extra, map: &Map<String, Value>) -> bool {
    let mut next = 0usize;
    let mut in_extras = false;
    for k in map.keys() {
        match props.iter().skip(next).position(|p| &p.name == k) {
            Some(i) if !in_extras => {
                // Any skipped property must be absent without a default.
                if props[next..next + i].iter().any(|p| p.default.is_some()) {
                    return false;
                }
                next += i + 1;
            }
            Some(_) => return false,
            None => {
                if matches!(extra, Extra::Strip) || props.iter().take(next).any(|p| &p.name == k) {
                    return false;
                }
                in_extras = true;
            }
        }
    }
    !props
        .get(next..)
        .unwrap_or_default()
        .iter()
        .any(|p| p.default.is_some())
}

fn location_path(err: &ValidationError<'_>) -> Vec<PathSegment> {
    err.instance_path()
        .iter()
        .map(|s| match s {
            LocationSegment::Property(p) => PathSegment::Key(quote_prefix_owned(&p)),
            LocationSegment::Index(i) => PathSegment::Index(i),
        })
        .collect()
}

fn type_names(kind: &TypeKind) -> String {
    match kind {
        TypeKind::Single(t) => t.to_string(),
        TypeKind::Multiple(ts) => ts
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(" | "),
    }
}

/// A value as zod quotes it in a message (`'north'`, `5`), cut to a bounded prefix
/// ([`quote_prefix`]): the value comes from the input.
fn short(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{}'", quote_prefix(s)),
        other => quote_prefix_owned(&other.to_string()),
    }
}

/// The `type` of the property `prop` of the (sub)schema the `required` keyword at
/// `schema_path` belongs to, for zod's `expected`.
fn expected_of_required(body: &Value, schema_path: &str, prop: &str) -> String {
    let parent = schema_path.strip_suffix("/required").unwrap_or(schema_path);
    body.pointer(parent)
        .and_then(|s| s.get("properties"))
        .and_then(|p| p.get(prop))
        .and_then(|p| p.get("type"))
        .map(|t| match t {
            Value::String(s) => s.clone(),
            Value::Array(ts) => ts
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" | "),
            _ => "unknown".to_owned(),
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

fn push_issues(out: &mut Issues, err: &ValidationError<'_>, body: &Value) {
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
            let expected = expected_of_required(body, err.schema_path().as_str(), &prop);
            let mut p = path.clone();
            p.push(PathSegment::Key(prop));
            Issue {
                kind: IssueKind::InvalidType {
                    expected,
                    received: "undefined".to_owned(),
                },
                path: p,
                message: "Required".to_owned(),
            }
        }
        ValidationErrorKind::Type { kind } => {
            let expected = type_names(kind);
            let received = json_type_name(instance).to_owned();
            let message = format!("Expected {expected}, received {received}");
            Issue {
                kind: IssueKind::InvalidType { expected, received },
                path,
                message,
            }
        }
        ValidationErrorKind::MinLength { limit } => Issue {
            kind: IssueKind::TooSmall { minimum: *limit },
            path,
            message: format!("String must contain at least {limit} character(s)"),
        },
        ValidationErrorKind::MaxLength { limit } => {
            custom(format!("String must contain at most {limit} character(s)"))
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
        ValidationErrorKind::Format { format } => custom(format!("Invalid {format}")),
        ValidationErrorKind::Enum { options } => {
            let expected = options.as_array().map_or_else(
                || options.to_string(),
                |o| o.iter().map(short).collect::<Vec<_>>().join(" | "),
            );
            custom(format!(
                "Invalid enum value. Expected {expected}, received {}",
                short(instance)
            ))
        }
        ValidationErrorKind::Constant { expected_value } => {
            custom(format!("Invalid literal value, expected {expected_value}"))
        }
        ValidationErrorKind::Minimum { limit } => {
            custom(format!("Number must be greater than or equal to {limit}"))
        }
        ValidationErrorKind::ExclusiveMinimum { limit } => {
            custom(format!("Number must be greater than {limit}"))
        }
        ValidationErrorKind::Maximum { limit } => {
            custom(format!("Number must be less than or equal to {limit}"))
        }
        ValidationErrorKind::ExclusiveMaximum { limit } => {
            custom(format!("Number must be less than {limit}"))
        }
        ValidationErrorKind::MinItems { limit } => {
            custom(format!("Array must contain at least {limit} element(s)"))
        }
        ValidationErrorKind::MaxItems { limit } => {
            custom(format!("Array must contain at most {limit} element(s)"))
        }
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
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
            Issue {
                kind: IssueKind::InvalidUnion { union_errors },
                path,
                message: "Invalid input".to_owned(),
            }
        }
        _ => custom(quote_prefix_owned(&err.to_string())),
    };
    out.push(issue);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shaping_keeps_already_ordered_objects() {
        let s = Schema::new(
            json!({"type":"object","properties":{"a":{},"b":{}},"additionalProperties":false}),
        )
        .unwrap();
        assert_eq!(
            serde_json::to_string(&s.parse(&json!({"b":1,"a":2})).unwrap()).unwrap(),
            r#"{"a":2,"b":1}"#
        );
        assert_eq!(
            serde_json::to_string(&s.parse(&json!({"a":1})).unwrap()).unwrap(),
            r#"{"a":1}"#
        );
        let p =
            Schema::new(json!({"type":"object","properties":{"a":{}},"additionalProperties":true}))
                .unwrap();
        assert_eq!(
            serde_json::to_string(&p.parse(&json!({"z":1,"a":2})).unwrap()).unwrap(),
            r#"{"a":2,"z":1}"#
        );
    }

    #[test]
    fn relax_only_touches_keywords() {
        let mut v = json!({"properties":{"additionalProperties":{"type":"object","additionalProperties":false}},"additionalProperties":false});
        relax(&mut v);
        assert_eq!(
            v,
            json!({"properties":{"additionalProperties":{"type":"object"}}})
        );
    }
}
