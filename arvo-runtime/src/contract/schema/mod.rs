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
//! | `type: [t, "null"]` (`null` last) | `.nullable()` | the issue of `t` |
//! | `type: [t1, t2]` (a `null` elsewhere included) | `z.union([...])` | `invalid_union`, one member per type |
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
//! | `anyOf` / `oneOf` | `z.union` | the issues of the first member that failed only on checks (zod's `dirty`: bounds, formats, patterns), else `invalid_union` listing every member's |
//! | `anyOf: [s, {type: "null"}]` | `s.nullable()` | the issues of `s` |
//! | `anyOf: [{not: {}}, s]` | `s.optional()` in a union or an array | the issues of `s` |
//! | `enum` with a boolean or `null`, or with strings and numbers | `z.union` of `z.literal`s | `invalid_union` of `invalid_literal`s |
//! | `allOf` | `z.intersection` | the members' issues |
//! | `additionalProperties: false` | a stripping `z.object` | never an issue: unknown keys are stripped by [`Schema::parse`] |
//!
//! Issues come in zod's order: an object's properties in the schema's order (a record's and an
//! array's entries in the data's order), a value's own issues before those of what it holds,
//! its checks in the order their keywords stand in the schema (zod-to-json-schema writes them in
//! the order they were declared), and a union's members each in their own order.
//!
//! The formats zod-to-json-schema writes are checked as zod checks them (zod 3.25's regular
//! expressions, and the WHATWG URL parser for `uri`, as `new URL(s)`), not by JSON Schema's RFC
//! rules: `a@[1.2.3.4]` is no email and `12:00` is a time, as in the reference. `date-time` is
//! zod's `.datetime({ offset: true })` (Arvo's own `time` rule), which takes `Z` and offsets.
//!
//! `tests/js_oracle.rs` checks all of this against zod itself: random zod schemas, exported with
//! zod-to-json-schema as the reference exports them, and random data, through both.
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
//!
//! Some zod schemas export the same JSON Schema; this crate then reports the first form:
//! - `s.nullable()` and `z.union([s, z.null()])` (both `anyOf: [s, {type: "null"}]`);
//! - `.length(n)` and `.min(n).max(n)` (zod's `exact`); a bound given twice keeps the tighter;
//! - `.int()` anywhere in a chain (it becomes `type: "integer"`, reported first);
//! - `z.enum` and `z.nativeEnum` of numbers and a union of such literals; two `z.enum`s in a
//!   union (merged into one `enum`); a union of two equal members (written once);
//! - a discriminated union and a plain union (zod's `invalid_union_discriminator`).
//!
//! Where the JSON Schema says less than the zod schema did, the validator decides:
//! - two formats on one string (`.date().duration()`) are exported as `anyOf` of the formats,
//!   which takes a string either one takes (zod wants both);
//! - lengths: JSON Schema counts characters, zod UTF-16 code units, so a string with characters
//!   outside the Basic Multilingual Plane can pass one and fail the other;
//! - `multipleOf` for numbers of 1e21 and up: zod reads their digits through `toFixed`, which
//!   writes them in exponent form, and calls 1e21 no multiple of 2; this crate computes it.
//!
//! Values from the input that an issue quotes (`received`, path keys, messages) are cut to a
//! bounded prefix ([`quote_prefix`](crate::issue::quote_prefix)).

use crate::issue::{Issue, IssueKind, Issues, json_type_name};
use jsonschema::Validator;
use serde_json::{Map, Value};
use std::fmt;
use std::sync::Arc;

mod fanout;
mod formats;
mod issues;
mod shape;
mod unique;

use issues::push_issues;
use shape::Shapes;

/// The `$schema` URL of draft-07, the dialect the reference exports.
pub const DRAFT_07: &str = "http://json-schema.org/draft-07/schema#";

/// At most this many issues, those nested in unions' `unionErrors` included, are reported for
/// one validation, in zod's order, followed by one `custom` issue saying more were found. zod
/// reports them all: an array of 250,000 wrong items (750 KB of JSON) made a 46 MB message.
pub const MAX_ISSUES: usize = 100;

/// The validator's errors read for one validation: the first [`MAX_ISSUES`] in zod's order are
/// chosen among them.
const MAX_ERRORS_READ: usize = 1_000;

/// How many `$ref`s deep (a chain of distinct targets) the shaping of [`Schema::parse`] is
/// prepared; below that, values are left as they are. A cycle reuses its target's shape.
const MAX_REF_DEPTH: usize = 128;

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
    shape: Shapes,
    /// The counting walk, for a schema whose unions can multiply the work (see `fanout`).
    plan: Option<fanout::Plan>,
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
    ///
    /// # Errors
    /// [`SchemaError::NotAnObject`] for a root that is no object (nor `true`);
    /// [`SchemaError::Invalid`] when the validator refuses the schema, and for a reference this
    /// crate cannot follow to bound the work of a validation (see [`validate`](Self::validate)):
    /// references are followed within the document (`#`, `#/pointer`, `#anchor`), and a
    /// subschema with an `$id` of its own (an embedded resource) is refused.
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
        let validator = compile(&relaxed).map_err(|e| SchemaError::Invalid {
            message: e.to_string(),
        })?;
        let relaxed = Arc::new(relaxed);
        let shape = Shapes::build(&body, &relaxed);
        let plan = fanout::Plan::for_schema(&relaxed)
            .map_err(|message| SchemaError::Invalid { message })?;
        let mut export = body.clone();
        if let Value::Object(m) = &mut export {
            m.insert("$schema".to_owned(), dialect);
        }
        Ok(Schema(Arc::new(Inner {
            body,
            export,
            validator,
            shape,
            plan,
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

    /// Whether `data` is valid (no allocation on success, for a schema without unions that
    /// multiply the work; see [`validate`](Self::validate)).
    pub fn is_valid(&self, data: &Value) -> bool {
        self.bounded(data).is_ok() && self.0.validator.is_valid(data)
    }

    /// `Err(budget)` when validating `data` could need more than `budget` checks (only for a
    /// schema whose unions multiply the work).
    fn bounded(&self, data: &Value) -> Result<(), u64> {
        self.0.plan.as_ref().map_or(Ok(()), |plan| plan.check(data))
    }

    /// Validates `data`; every failure becomes an [`Issue`] with its path and a zod-like message.
    ///
    /// The work is bounded. A validator checks a value once for each member of each union that
    /// applies to it, so where union members share what lies below them (through `$ref`s, or a
    /// recursive type whose variants share a field), the work doubles with each level of
    /// nesting. For such a schema a payload that would need more than 64 checks per value it
    /// holds (or one per node of the schema, if it has more) plus 100,000 is refused with one
    /// `custom` issue saying so, where zod (and the reference) would go on for hours or run out
    /// of memory. A schema without such unions is never refused this way: the reference's
    /// contracts, `.nullable()` and `.optional()` at any depth, schemars' tagged enums whose
    /// variants hold different fields.
    ///
    /// ```
    /// use arvo_runtime::contract::Schema;
    /// use serde_json::json;
    /// // Two variants that both hold a `child` of the same type.
    /// let s = Schema::new(json!({
    ///     "$ref": "#/definitions/Node",
    ///     "definitions": {"Node": {"anyOf": [
    ///         {"type": "object", "properties": {"child": {"$ref": "#/definitions/Node"}, "a": {}}},
    ///         {"type": "object", "properties": {"child": {"$ref": "#/definitions/Node"}, "b": {}}}
    ///     ]}}
    /// })).unwrap();
    /// let mut deep = json!(1);
    /// for _ in 0..100 {
    ///     deep = json!({"child": deep});
    /// }
    /// let issues = s.validate(&deep).unwrap_err();
    /// assert!(issues.as_slice()[0].message.starts_with("Too complex to validate"));
    /// assert!(s.validate(&json!({"child": {"child": {}}})).is_ok());
    /// ```
    pub fn validate(&self, data: &Value) -> Result<(), Issues> {
        if let Err(budget) = self.bounded(data) {
            let mut issues = Issues::default();
            issues.push(Issue {
                kind: IssueKind::Custom,
                path: Vec::new(),
                message: format!(
                    "Too complex to validate: the schema's unions would check this payload's \
                     values more than {budget} times"
                ),
            });
            return Err(issues);
        }
        if self.0.validator.is_valid(data) {
            return Ok(());
        }
        let mut issues = Issues::default();
        let mut errors = self.0.validator.iter_errors(data);
        for err in errors.by_ref().take(MAX_ERRORS_READ) {
            push_issues(&mut issues, &err, &self.0.body);
        }
        let unread = errors.next().is_some();
        issues::sort_as_zod(&mut issues, &self.0.body, data);
        let mut room = MAX_ISSUES;
        if issues::keep_first(&mut issues, &mut room) || unread {
            issues.push(Issue {
                kind: IssueKind::Custom,
                path: Vec::new(),
                message: format!("More issues were found: the first {MAX_ISSUES} are reported"),
            });
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
    /// in, object keys in schema order; a union's value shaped by its first member that takes
    /// it, as zod's union does).
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

/// Compiles a (relaxed) schema with the format checks of this module: JSON Schema's, with zod's
/// where zod-to-json-schema writes the format (see `formats`).
pub(super) fn compile(schema: &Value) -> Result<Validator, jsonschema::ValidationError<'static>> {
    jsonschema::options()
        .should_validate_formats(true)
        .with_format("uuid", is_uuid)
        .with_format("date-time", arvo_rules::is_zod_datetime)
        .with_format("email", formats::is_email)
        .with_format("uri", formats::is_url)
        .with_format("ipv4", formats::is_ipv4)
        .with_format("ipv6", formats::is_ipv6)
        .with_format("date", formats::is_date)
        .with_format("time", formats::is_time)
        .with_format("duration", formats::is_duration)
        .with_keyword("uniqueItems", unique::keyword)
        .build(schema)
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
/// unknown keys (they are stripped by `parse`, as zod does), and a repeated name from a `type`
/// list: zod-to-json-schema writes `["null", "null"]` for `z.null().nullable()`, which the
/// draft-07 meta-schema refuses (its items must be unique) and zod accepts.
fn relax(schema: &mut Value) {
    let Value::Object(m) = schema else { return };
    if m.get("additionalProperties") == Some(&Value::Bool(false)) {
        m.shift_remove("additionalProperties");
    }
    if let Some(Value::Array(types)) = m.get_mut("type") {
        // A set, so a hostile list of many names costs linear time.
        let mut seen = std::collections::HashSet::with_capacity(types.len());
        types.retain(|t| seen.insert(t.to_string()));
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
