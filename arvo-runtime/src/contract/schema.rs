//! Payload schemas: a JSON Schema (as the reference exports it) with a validator compiled once.
//!
//! ## Issues as zod reports them
//!
//! A contract built from a JSON Schema reports a failed validation with the issue zod gives
//! for the zod schema that `zod-to-json-schema` turns into that JSON Schema, code, fields,
//! key order and message included:
//!
//! | keyword | zod schema | issue |
//! |---|---|---|
//! | `type` | `z.string()`, `z.number()`, ... | `invalid_type` (`expected`, `received`); `integer` is a zod number |
//! | `type: integer`, a non-integral number | `z.number().int()` | `invalid_type`, `expected: "integer"`, `received: "float"` |
//! | `type: [t, "null"]` | `.nullable()` | the issue of `t` |
//! | `type: [t1, t2]` | `z.union([...])` | `invalid_union`, one member per type |
//! | `required` | a property not `.optional()` | `invalid_type`, `received: "undefined"`, `Required` (or the enum / literal form below) |
//! | `minLength` / `maxLength` | `.min(n)` / `.max(n)` (`.length(n)` when equal) | `too_small` / `too_big`, `type: "string"` (`exact: true` for `.length`) |
//! | `minItems` / `maxItems` | array `.min` / `.max` / `.length` | `too_small` / `too_big`, `type: "array"` |
//! | `minimum` / `exclusiveMinimum` | `.min(n)` / `.gt(n)` | `too_small`, `type: "number"`, `inclusive` `true` / `false` |
//! | `maximum` / `exclusiveMaximum` | `.max(n)` / `.lt(n)` | `too_big`, `type: "number"`, `inclusive` `true` / `false` |
//! | `multipleOf` | `.multipleOf(n)` | `not_multiple_of` (`multipleOf`) |
//! | `enum` | `z.enum([...])` / `z.nativeEnum` | `invalid_enum_value` (`received`, `options`); a value of another type (or none) `invalid_type` with `expected: "'north' \| 'south'"` |
//! | `const` | `z.literal(x)` | `invalid_literal` (`expected`, `received`) |
//! | `pattern` | `.regex(r)` | `invalid_string`, `validation: "regex"` |
//! | `format`: `date-time`, `date`, `time`, `email`, `uri`, `uuid`, `ipv4`/`ipv6`, `duration` | `.datetime()`, `.date()`, `.time()`, `.email()`, `.url()`, `.uuid()`, `.ip()`, `.duration()` | `invalid_string` with `validation` `datetime`, `date`, `time`, `email`, `url`, `uuid`, `ip`, `duration` |
//! | `anyOf` / `oneOf` | `z.union` | the issues of the first member whose type matched, else `invalid_union` |
//! | `anyOf: [s, {type: "null"}]` | `s.nullable()` | the issues of `s` |
//! | `allOf` | `z.intersection` | the members' issues |
//! | `additionalProperties: false` | a stripping `z.object` | never an issue: unknown keys are stripped by [`Schema::parse`] |
//!
//! Where no zod code can be derived, the issue is `custom` with the validator's message (a
//! bounded prefix of it), for these reasons:
//! - `minProperties`, `maxProperties`: zod objects and records have no size checks.
//! - `uniqueItems`: it comes from `z.set`, whose input is a JavaScript `Set`, never JSON data.
//! - `contains`, `not`, `if`/`then`/`else`, `propertyNames`, `dependencies`,
//!   `additionalItems`, `contentEncoding`, `contentMediaType`, a `false` schema: no zod schema
//!   converts to them, so there is no zod issue to copy.
//! - `format` values other than those above (`hostname`, `uri-reference`, ...): zod has no such
//!   string check; the message is `Invalid <format>`.
//! - A discriminated union (`z.discriminatedUnion`) and a plain union both become `anyOf`, so
//!   zod's `invalid_union_discriminator` cannot be told apart: it is reported as a union.
//! - An `enum` holding values other than strings and numbers comes from a union of literals
//!   (zod: `invalid_union`); it is reported as `invalid_enum_value`.
//! - Lengths: JSON Schema counts characters, zod UTF-16 code units, so a string with
//!   characters outside the Basic Multilingual Plane can pass one and fail the other. The
//!   validator decides; the issue then follows zod's shape.
//!
//! Values from the input that an issue quotes (`received`, path keys, messages) are cut to a
//! bounded prefix ([`quote_prefix`](crate::issue::quote_prefix)).

use crate::event::js_number_string;
use crate::issue::{
    BoundType, Issue, IssueKind, Issues, PathSegment, bounded_value, json_type_name, quote_prefix,
    quote_prefix_owned,
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
        props: Props,
        extra: Extra,
    },
    Array(Box<Shape>),
    Union(Vec<Branch>),
}

/// An object's properties in schema order, with an index by name when there are more than
/// [`SMALL_PROPS`], so shaping an object costs time linear in its number of keys whatever the
/// number of properties.
#[derive(Default)]
struct Props {
    list: Vec<Prop>,
    /// Name -> position; empty for [`SMALL_PROPS`] properties or fewer (found by a scan).
    index: std::collections::HashMap<String, usize>,
    /// Whether some property's value has a shape of its own (else only the object's keys are
    /// shaped, and its values are left as they are).
    nested: bool,
}

/// Up to this many properties, a name is found by comparing it with each (cheaper than hashing
/// it, which a lookup in the index or in a `serde_json` map does).
const SMALL_PROPS: usize = 8;

impl Props {
    fn new(list: Vec<Prop>) -> Props {
        let index = if list.len() > SMALL_PROPS {
            list.iter()
                .enumerate()
                .map(|(i, p)| (p.name.clone(), i))
                .collect()
        } else {
            std::collections::HashMap::new()
        };
        let nested = list.iter().any(|p| !matches!(p.shape, Shape::Any));
        Props {
            list,
            index,
            nested,
        }
    }

    /// The position of the property `name`.
    fn position(&self, name: &str) -> Option<usize> {
        if self.index.is_empty() {
            self.list.iter().position(|p| p.name == name)
        } else {
            self.index.get(name).copied()
        }
    }
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
            return Shape::Object {
                props: Props::new(props),
                extra,
            };
        }
        if let Extra::Strip | Extra::Each(_) = extra {
            return Shape::Object {
                props: Props::default(),
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

/// zod's output for an object: known keys in schema order (defaults filled in), then the
/// unknown ones in their order unless stripped. Linear in the number of keys.
fn apply_object(props: &Props, extra: &Extra, map: &mut Map<String, Value>) {
    if props.nested || matches!(extra, Extra::Each(_)) {
        for (k, v) in map.iter_mut() {
            match props.position(k) {
                Some(i) => props.list[i].shape.apply(v),
                None => {
                    if let Extra::Each(shape) = extra {
                        shape.apply(v);
                    }
                }
            }
        }
    }
    if already_shaped(props, extra, map) {
        return;
    }
    let src = std::mem::take(map);
    let mut known: Vec<Option<Value>> = vec![None; props.list.len()];
    let mut unknown = Vec::new();
    for (k, v) in src {
        match props.position(&k) {
            Some(i) => known[i] = Some(v),
            None if matches!(extra, Extra::Strip) => {}
            None => unknown.push((k, v)),
        }
    }
    for (p, v) in props.list.iter().zip(known) {
        if let Some(v) = v.or_else(|| p.default.clone()) {
            map.insert(p.name.clone(), v);
        }
    }
    map.extend(unknown);
}

/// Whether the object is already what zod would output: known keys in schema order, followed
/// by the kept unknown ones, and no default to fill in. Linear in the number of keys.
fn already_shaped(props: &Props, extra: &Extra, map: &Map<String, Value>) -> bool {
    let mut next = 0usize;
    let mut in_extras = false;
    for k in map.keys() {
        match props.position(k) {
            // A known key after the unknown ones, or before one already seen: out of order.
            Some(i) if in_extras || i < next => return false,
            Some(i) => {
                // Any skipped property must be absent without a default.
                if props.list[next..i].iter().any(|p| p.default.is_some()) {
                    return false;
                }
                next = i + 1;
            }
            None => {
                if matches!(extra, Extra::Strip) {
                    return false;
                }
                in_extras = true;
            }
        }
    }
    !props
        .list
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
    fn shaping_reorders_fills_defaults_and_keeps_unknown_keys_in_order() {
        let s = Schema::new(json!({"type":"object","properties":{"a":{},"b":{"default":2},"c":{}},"additionalProperties":true})).unwrap();
        assert_eq!(
            serde_json::to_string(&s.parse(&json!({"z":0,"c":3,"y":1,"a":1})).unwrap()).unwrap(),
            r#"{"a":1,"b":2,"c":3,"z":0,"y":1}"#
        );
        // Many unknown keys: stripped, or kept in their order after the known ones.
        let mut input = Map::new();
        for i in 0..10_000 {
            input.insert(format!("k{i}"), json!(i));
        }
        input.insert("a".into(), json!(1));
        let kept = s.parse(&Value::Object(input.clone())).unwrap();
        let keys: Vec<&String> = kept.as_object().unwrap().keys().take(3).collect();
        assert_eq!(keys, ["a", "b", "k0"]);
        assert_eq!(kept.as_object().unwrap().len(), 10_002);
        let strip = Schema::new(
            json!({"type":"object","properties":{"a":{}},"additionalProperties":false}),
        )
        .unwrap();
        assert_eq!(strip.parse(&Value::Object(input)).unwrap(), json!({"a": 1}));
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
