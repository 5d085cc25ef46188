//! Reading payload schemas for people: field tables, example payloads, and the `$ref`
//! rewriting that moves a schema's definitions into an AsyncAPI document's components.
//!
//! The schemas are the ones contracts export (draft-07, as schemars and the reference write
//! them): local `$ref`s into `definitions` / `$defs`, `anyOf` for nullable references, `enum` /
//! `oneOf` of `const`s for Rust enums. Everything here is bounded: references are followed at most
//! [`MAX_DEPTH`] levels deep and never around a cycle, a field table expands nested objects only
//! while it has fewer rows than [`MAX_ROWS`] or the schema's own size, and an example holds at
//! most [`MAX_EXAMPLE_VALUES`] values or twice the schema's size. A few definitions that each
//! use the next several times would otherwise make both exponentially large (12 definitions of
//! 6 fields each: two billion rows); a schema without such reuse stays within its own size.

use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

/// How deep nested objects are expanded in tables and examples.
pub const MAX_DEPTH: usize = 12;

/// A field table expands nested objects while it has fewer rows than this or than the schema
/// has values (objects, arrays, strings, ...), whichever is larger; past it, a field whose
/// fields are not listed is marked [`FieldRow::collapsed`].
pub const MAX_ROWS: usize = 1_000;

/// The most values an example is built from, unless the schema itself has more than half as
/// many (then twice the schema's size). Past half of that bound, optional properties are left
/// out and arrays hold only the items they must; a schema whose required fields alone need
/// more is refused with a [`RenderError`].
pub const MAX_EXAMPLE_VALUES: usize = 20_000;

/// Why a schema cannot be rendered: where (a JSON pointer) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError {
    /// A JSON pointer into the schema.
    pub pointer: String,
    /// What is wrong.
    pub reason: String,
}

impl RenderError {
    fn new(pointer: &str, reason: impl Into<String>) -> Self {
        RenderError {
            pointer: if pointer.is_empty() {
                "#".to_owned()
            } else {
                format!("#{pointer}")
            },
            reason: reason.into(),
        }
    }
}

/// One row of a field table: a property, possibly nested (`items[].sku`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRow {
    /// The dotted path of the field (`[]` marks array items); `(payload)` for a payload that is
    /// not an object.
    pub path: String,
    /// How deep it is nested (0 for top-level properties).
    pub depth: usize,
    /// A readable type (`string`, `integer (uint32)`, `array of LineItem`, `"a" | "b"`).
    pub type_text: String,
    /// Whether the property is required in its object.
    pub required: bool,
    /// The description (the Rust doc comment, for schemars types).
    pub description: Option<String>,
    /// The field is an object (or array of objects) whose own fields are not listed below it:
    /// the table had reached its bound (see [`MAX_ROWS`]).
    pub collapsed: bool,
}

/// Follows a local `$ref` (`#/definitions/X`, `#/$defs/X`, `#/...`) to its target in `root`.
fn follow<'a>(root: &'a Value, reference: &str, at: &str) -> Result<&'a Value, RenderError> {
    let Some(pointer) = reference.strip_prefix('#') else {
        return Err(RenderError::new(
            at,
            format!(
                "the $ref '{reference}' is not local to the schema (only '#/...' is supported)"
            ),
        ));
    };
    root.pointer(&percent_decode(pointer))
        .ok_or_else(|| RenderError::new(at, format!("the $ref '{reference}' does not resolve")))
}

/// The node with its `$ref` chain followed, and the name of the last definition followed.
fn resolve<'a>(
    root: &'a Value,
    mut node: &'a Value,
    at: &str,
) -> Result<(&'a Value, Option<String>), RenderError> {
    let mut name = None;
    for _ in 0..=MAX_DEPTH {
        match node.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                name = Some(ref_name(reference));
                node = follow(root, reference, at)?;
            }
            None => return Ok((node, name)),
        }
    }
    Err(RenderError::new(
        at,
        "a chain of $refs is too long or cyclic",
    ))
}

/// The last segment of a `$ref`, JSON-pointer-unescaped (`#/definitions/LineItem` gives `LineItem`).
pub(crate) fn ref_name(reference: &str) -> String {
    let last = reference.rsplit('/').next().unwrap_or(reference);
    percent_decode(last).replace("~1", "/").replace("~0", "~")
}

/// Decodes the `%XX` escapes of a URI fragment (a `$ref`'s JSON pointer); invalid escapes
/// and invalid UTF-8 are kept as they are.
pub(crate) fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (
            bytes.get(i),
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (Some(b'%'), Some(h), Some(l)) => {
                out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                i += 3;
            }
            (Some(&b), _, _) => {
                out.push(b);
                i += 1;
            }
            (None, _, _) => break,
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_owned())
}

fn is_null_schema(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("null")
}

fn alternatives(node: &Value) -> Option<&Vec<Value>> {
    node.get("anyOf")
        .or_else(|| node.get("oneOf"))
        .and_then(Value::as_array)
}

/// A readable type for a schema node (a `$ref` reads as the definition's name).
pub fn type_text(node: &Value) -> String {
    type_text_at(node, 0)
}

fn type_text_at(node: &Value, depth: usize) -> String {
    if depth > MAX_DEPTH {
        return "…".to_owned();
    }
    if let Some(reference) = node.get("$ref").and_then(Value::as_str) {
        return ref_name(reference);
    }
    if let Some(c) = node.get("const") {
        return c.to_string();
    }
    if let Some(values) = node.get("enum").and_then(Value::as_array) {
        return values
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join(" | ");
    }
    if let Some(alts) = alternatives(node) {
        let mut seen = HashSet::new();
        let mut parts: Vec<String> = Vec::new();
        for alt in alts {
            let t = type_text_at(alt, depth + 1);
            if seen.insert(t.clone()) {
                parts.push(t);
            }
        }
        return parts.join(" | ");
    }
    if let Some(all) = node.get("allOf").and_then(Value::as_array) {
        return all
            .iter()
            .map(|a| type_text_at(a, depth + 1))
            .collect::<Vec<_>>()
            .join(" & ");
    }
    let types: Vec<&str> = match node.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ if node.get("properties").is_some() => vec!["object"],
        _ => Vec::new(),
    };
    if types.is_empty() {
        return "any".to_owned();
    }
    let one = |t: &str| -> String {
        let base = if t == "array" {
            match node.get("items") {
                Some(items) if items.is_object() => {
                    format!("array of {}", type_text_at(items, depth + 1))
                }
                _ => "array".to_owned(),
            }
        } else {
            t.to_owned()
        };
        match node.get("format").and_then(Value::as_str) {
            Some(f) if t != "null" => format!("{base} ({f})"),
            _ => base,
        }
    };
    types.iter().map(|t| one(t)).collect::<Vec<_>>().join(" | ")
}

fn description_of(node: &Value, resolved: &Value) -> Option<String> {
    node.get("description")
        .or_else(|| resolved.get("description"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The object schema to expand below a field, if any: the node itself, the items of an array,
/// or the single non-null branch of an `anyOf` (a Rust `Option<Struct>`). The returned suffix is
/// `[]` for array items.
/// An object schema to expand, the definition it came from, and the path suffix.
type Expandable<'a> = (&'a Value, Option<String>, &'static str);

fn expandable<'a>(
    root: &'a Value,
    mut node: &'a Value,
    at: &str,
) -> Result<Option<Expandable<'a>>, RenderError> {
    // An `anyOf` whose one branch leads to another such `anyOf` (or back to itself) is
    // unwrapped a bounded number of times.
    for _ in 0..=MAX_DEPTH {
        let (resolved, name) = resolve(root, node, at)?;
        if resolved.get("properties").is_some_and(Value::is_object) {
            return Ok(Some((resolved, name, "")));
        }
        if let Some(items) = resolved.get("items").filter(|i| i.is_object()) {
            let (item, item_name) = resolve(root, items, at)?;
            if item.get("properties").is_some_and(Value::is_object) {
                return Ok(Some((item, item_name, "[]")));
            }
            return Ok(None);
        }
        let Some(alts) = alternatives(resolved) else {
            return Ok(None);
        };
        let mut non_null = alts.iter().filter(|a| !is_null_schema(a));
        match (non_null.next(), non_null.next()) {
            (Some(only), None) => node = only,
            _ => return Ok(None),
        }
    }
    Ok(None)
}

/// The field table of a payload schema: one row per property, nested objects expanded below
/// their field (up to [`MAX_DEPTH`], never around a cycle, and only while the table has fewer
/// rows than [`MAX_ROWS`] or the schema's size: past it, such a field is listed
/// [`collapsed`](FieldRow::collapsed)).
///
/// ```
/// let schema = serde_json::json!({
///     "type": "object",
///     "properties": {"name": {"type": "string", "description": "Who"}, "age": {"type": "integer"}},
///     "required": ["name"]
/// });
/// let rows = arvo_docs::schema::field_rows(&schema).unwrap();
/// assert_eq!(rows[0].path, "name");
/// assert!(rows[0].required);
/// assert_eq!(rows[0].description.as_deref(), Some("Who"));
/// assert_eq!(rows[1].type_text, "integer");
/// ```
///
/// # Errors
/// A `$ref` that does not resolve or is not local.
pub fn field_rows(root: &Value) -> Result<Vec<FieldRow>, RenderError> {
    let (resolved, name) = resolve(root, root, "")?;
    if !resolved.get("properties").is_some_and(Value::is_object) {
        return Ok(vec![FieldRow {
            path: "(payload)".to_owned(),
            depth: 0,
            type_text: type_text(root),
            required: true,
            description: description_of(root, resolved),
            collapsed: false,
        }]);
    }
    let mut table = Table {
        rows: Vec::new(),
        limit: MAX_ROWS.max(value_count(root)),
        stack: name.into_iter().collect(),
    };
    object_rows(root, resolved, "", "", 0, &mut table)?;
    Ok(table.rows)
}

/// A field table being written: its rows, the row count past which nested objects are no
/// longer expanded, and the definitions being expanded (a type inside itself is not again).
struct Table {
    rows: Vec<FieldRow>,
    limit: usize,
    stack: Vec<String>,
}

/// The names an object schema lists under `required`.
fn required_names(object: &Value) -> HashSet<&str> {
    object
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn object_rows(
    root: &Value,
    object: &Value,
    prefix: &str,
    pointer: &str,
    depth: usize,
    table: &mut Table,
) -> Result<(), RenderError> {
    let Some(props) = object.get("properties").and_then(Value::as_object) else {
        return Ok(());
    };
    let required = required_names(object);
    for (name, sub) in props {
        let at = format!(
            "{pointer}/properties/{}",
            name.replace('~', "~0").replace('/', "~1")
        );
        let (resolved, _) = resolve(root, sub, &at)?;
        let path = format!("{prefix}{name}");
        let row = table.rows.len();
        table.rows.push(FieldRow {
            path: path.clone(),
            depth,
            type_text: type_text(sub),
            required: required.contains(name.as_str()),
            description: description_of(sub, resolved),
            collapsed: false,
        });
        if depth + 1 >= MAX_DEPTH {
            continue;
        }
        if let Some((inner, inner_name, suffix)) = expandable(root, sub, &at)? {
            if inner_name.as_ref().is_some_and(|n| table.stack.contains(n)) {
                continue; // a recursive type: its fields are listed above
            }
            if table.rows.len() >= table.limit {
                table.rows[row].collapsed = true;
                continue;
            }
            if let Some(n) = &inner_name {
                table.stack.push(n.clone());
            }
            object_rows(
                root,
                inner,
                &format!("{path}{suffix}."),
                &at,
                depth + 1,
                table,
            )?;
            if inner_name.is_some() {
                table.stack.pop();
            }
        }
    }
    Ok(())
}

/// An example payload generated from a schema: the schema's own `examples` / `example` /
/// `default` / `const` / first `enum` value where it has one, otherwise a value of the first
/// non-null type (every property filled, one item per array, `string`, `0`, `true`, ...).
/// `parentSubject$$` is `null` (a root workflow). Once the example holds half of its bound
/// ([`MAX_EXAMPLE_VALUES`], or twice the schema's size if larger), optional properties are
/// left out and arrays get only their `minItems`.
///
/// The result is not checked here; [`Catalogue`](crate::Catalogue) checks it against the
/// contract's validator and refuses a schema whose example does not validate.
///
/// ```
/// let schema = serde_json::json!({
///     "type": "object",
///     "properties": {"name": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}},
/// });
/// let example = arvo_docs::schema::example(&schema).unwrap();
/// assert_eq!(example, serde_json::json!({"name": "string", "tags": ["string"]}));
/// ```
///
/// # Errors
/// A `$ref` that does not resolve or is not local, or a schema whose required fields alone
/// need more values than that bound (or whose unions, tried branch by branch, take more than
/// five times as many steps).
pub fn example(root: &Value) -> Result<Value, RenderError> {
    let limit = MAX_EXAMPLE_VALUES.max(value_count(root).saturating_mul(2));
    let mut ex = Example {
        root,
        stack: Vec::new(),
        values: 0,
        steps: 0,
        limit,
    };
    Ok(ex.at(root, "", 0)?.unwrap_or(Value::Null))
}

/// The state of one example's generation: the definitions being expanded and how many values
/// the example holds so far.
struct Example<'a> {
    root: &'a Value,
    stack: Vec<String>,
    values: usize,
    /// Nodes visited, those of branches given up included (a union whose branches all stop
    /// deep down is tried branch by branch): at most five times `limit`.
    steps: usize,
    /// The most values the example may hold (see [`MAX_EXAMPLE_VALUES`]).
    limit: usize,
}

/// How many values `v` holds (itself included).
fn value_count(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(value_count).sum::<usize>(),
        Value::Object(m) => 1 + m.values().map(value_count).sum::<usize>(),
        _ => 1,
    }
}

/// What generating a value gives: the value, or `None` where the example had to stop (a type
/// inside itself, or [`MAX_DEPTH`] reached). The nearest optional property (left out), array
/// (left empty) or nullable union (`null`) above absorbs a stop; a required field passes it up.
type Generated = Result<Option<Value>, RenderError>;

impl<'a> Example<'a> {
    /// Past this many values, optional properties are left out and arrays hold only the items
    /// they must.
    fn frugal(&self) -> bool {
        self.values >= self.limit / 2
    }

    /// The most nodes the generation visits.
    fn max_steps(&self) -> usize {
        self.limit.saturating_mul(5)
    }

    fn too_large(&self, pointer: &str) -> RenderError {
        RenderError::new(
            pointer,
            format!(
                "an example of this schema needs more than {} values or {} steps: its \
                 definitions, used again and again, multiply its required fields or its \
                 unions; give the schema an `examples` value",
                self.limit,
                self.max_steps()
            ),
        )
    }

    /// A value taken from the schema (`examples`, `default`, ...), counted.
    fn given(&mut self, v: &Value) -> Option<Value> {
        self.values = self.values.saturating_add(value_count(v));
        Some(v.clone())
    }

    fn at(&mut self, node: &'a Value, pointer: &str, depth: usize) -> Generated {
        self.steps += 1;
        if self.values > self.limit || self.steps > self.max_steps() {
            return Err(self.too_large(pointer));
        }
        let (node, name) = resolve(self.root, node, pointer)?;
        if depth > MAX_DEPTH || name.as_ref().is_some_and(|n| self.stack.contains(n)) {
            return Ok(None);
        }
        if let Some(Value::Array(examples)) = node.get("examples")
            && let Some(first) = examples.first()
        {
            return Ok(self.given(first));
        }
        for key in ["example", "default", "const"] {
            if let Some(v) = node.get(key) {
                return Ok(self.given(v));
            }
        }
        if let Some(first) = node
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            return Ok(self.given(first));
        }
        if let Some(n) = &name {
            self.stack.push(n.clone());
        }
        let out = self.inner(node, pointer, depth);
        if name.is_some() {
            self.stack.pop();
        }
        out
    }

    fn inner(&mut self, node: &'a Value, pointer: &str, depth: usize) -> Generated {
        if let Some(alts) = alternatives(node) {
            let key = if node.get("anyOf").is_some() {
                "anyOf"
            } else {
                "oneOf"
            };
            // The first branch that can be generated, `null` ones last.
            for (i, alt) in alts.iter().enumerate() {
                if is_null_schema(alt) {
                    continue;
                }
                if let Some(v) = self.at(alt, &format!("{pointer}/{key}/{i}"), depth + 1)? {
                    return Ok(Some(v));
                }
            }
            if alts.iter().any(is_null_schema) || alts.is_empty() {
                self.values += 1;
                return Ok(Some(Value::Null));
            }
            return Ok(None);
        }
        if let Some(all) = node.get("allOf").and_then(Value::as_array) {
            let mut merged = Map::new();
            for (i, part) in all.iter().enumerate() {
                match self.at(part, &format!("{pointer}/allOf/{i}"), depth + 1)? {
                    Some(Value::Object(m)) => merged.extend(m),
                    Some(other) if all.len() == 1 => return Ok(Some(other)),
                    Some(_) => {}
                    None => return Ok(None),
                }
            }
            return Ok(Some(Value::Object(merged)));
        }
        let ty = match node.get("type") {
            Some(Value::String(t)) => t.as_str(),
            Some(Value::Array(ts)) => ts
                .iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "null")
                .unwrap_or("null"),
            _ if node.get("properties").is_some() => "object",
            _ if node.get("items").is_some() => "array",
            _ => "null",
        };
        self.values += 1;
        Ok(Some(match ty {
            "object" => {
                let mut out = Map::new();
                if let Some(props) = node.get("properties").and_then(Value::as_object) {
                    let required = required_names(node);
                    for (k, sub) in props {
                        let needed = required.contains(k.as_str());
                        if self.frugal() && !needed {
                            continue;
                        }
                        // `parentSubject$$` is null for a root workflow.
                        if k == "parentSubject$$" {
                            self.values += 1;
                            out.insert(k.clone(), Value::Null);
                            continue;
                        }
                        let at = format!(
                            "{pointer}/properties/{}",
                            k.replace('~', "~0").replace('/', "~1")
                        );
                        match self.at(sub, &at, depth + 1)? {
                            Some(v) => {
                                out.insert(k.clone(), v);
                            }
                            None if needed => return Ok(None),
                            None => {}
                        }
                    }
                }
                Value::Object(out)
            }
            "array" => {
                let min = node.get("minItems").and_then(Value::as_u64);
                // The items the schema asks for (up to 3), and those an example shows.
                let must = usize::try_from(min.unwrap_or(0).min(3)).unwrap_or(3);
                let n = if self.frugal() { must } else { must.max(1) };
                match node.get("items") {
                    Some(items) if items.is_object() && n > 0 => {
                        let before = self.values;
                        let Some(one) = self.at(items, &format!("{pointer}/items"), depth + 1)?
                        else {
                            // An item cannot be generated: none, if the schema allows it.
                            return Ok((must == 0).then(|| Value::Array(Vec::new())));
                        };
                        let size = (self.values - before).max(1);
                        // Copies beyond the first only while they fit, and never fewer than
                        // the schema asks for.
                        let room = self.limit.saturating_sub(self.values) / size;
                        let n = n.min(1 + room).max(must);
                        self.values = self.values.saturating_add(size * (n - 1));
                        if self.values > self.limit {
                            return Err(self.too_large(pointer));
                        }
                        Value::Array(vec![one; n])
                    }
                    Some(Value::Array(tuple)) => {
                        let mut out = Vec::with_capacity(tuple.len());
                        for (i, item) in tuple.iter().enumerate() {
                            match self.at(item, &format!("{pointer}/items/{i}"), depth + 1)? {
                                Some(v) => out.push(v),
                                None => return Ok(None),
                            }
                        }
                        Value::Array(out)
                    }
                    _ => Value::Array(Vec::new()),
                }
            }
            "string" => Value::String(string_example(node)),
            "integer" => Value::from(integer_example(node)),
            "number" => number_example(node),
            "boolean" => Value::Bool(true),
            _ => Value::Null,
        }))
    }
}

fn string_example(node: &Value) -> String {
    let text = match node.get("format").and_then(Value::as_str) {
        Some("date-time") => "2024-01-01T00:00:00Z",
        Some("date") => "2024-01-01",
        Some("time") => "00:00:00Z",
        Some("uuid") => "00000000-0000-4000-8000-000000000000",
        Some("email") => "user@example.com",
        Some("uri" | "url" | "iri") => "urn:example:value",
        Some("ipv4") => "192.0.2.1",
        Some("ipv6") => "2001:db8::1",
        Some("hostname") => "example.com",
        _ => "string",
    };
    let mut s = text.to_owned();
    let min = node.get("minLength").and_then(Value::as_u64).unwrap_or(0);
    let min = usize::try_from(min.min(256)).unwrap_or(0);
    while s.chars().count() < min {
        s.push('x');
    }
    if let Some(max) = node.get("maxLength").and_then(Value::as_u64) {
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        s = s.chars().take(max).collect();
    }
    s
}

fn integer_example(node: &Value) -> i64 {
    let min = node.get("minimum").and_then(Value::as_i64).or_else(|| {
        node.get("exclusiveMinimum")
            .and_then(Value::as_i64)
            .map(|m| m.saturating_add(1))
    });
    let max = node.get("maximum").and_then(Value::as_i64);
    match (min, max) {
        (Some(lo), _) => lo,
        (None, Some(hi)) if hi < 0 => hi,
        _ => 0,
    }
}

fn number_example(node: &Value) -> Value {
    if let Some(min) = node.get("minimum") {
        return min.clone();
    }
    match node.get("maximum").and_then(Value::as_f64) {
        Some(hi) if hi < 0.0 => Value::from(hi),
        _ => Value::from(0),
    }
}

/// Moves a schema's `definitions` / `$defs` into a shared component table and rewrites its
/// `$ref`s to point there (`#/components/schemas/<name>`), so the schema can sit inside an
/// AsyncAPI document (whose `#` is the document, not the schema). Identical definitions share
/// one component; a different definition with a taken name gets `_2`, `_3`, ... The `$schema`
/// key is dropped (the AsyncAPI schema format is draft-07's superset).
pub(crate) fn hoist(
    schema: &Value,
    components: &mut Map<String, Value>,
) -> Result<Value, RenderError> {
    let mut body = match schema {
        Value::Object(m) => m.clone(),
        other => return Ok(other.clone()),
    };
    body.shift_remove("$schema");
    // (the `$ref` prefix in the schema, the definition, its sanitised name)
    let mut defs: Vec<(String, Value, String)> = Vec::new();
    for key in ["definitions", "$defs"] {
        if let Some(Value::Object(d)) = body.shift_remove(key) {
            for (name, def) in d {
                let escaped = name.replace('~', "~0").replace('/', "~1");
                let base: String = name
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                let base = if base.is_empty() {
                    "Schema".to_owned()
                } else {
                    base
                };
                defs.push((format!("#/{key}/{escaped}"), def, base));
            }
        }
    }
    let provisional: HashMap<String, String> = defs
        .iter()
        .map(|(old, _, base)| (old.clone(), format!("#/components/schemas/{base}")))
        .collect();
    // Pick final names: share an identical component, otherwise the first free `base_n`.
    let mut taken: HashSet<String> = HashSet::with_capacity(defs.len());
    // Per base, a number below which every `base_n` is taken by this schema (and so cannot be
    // picked again): many definitions whose names read alike (`a!`, `a$`, ... all read `a_`)
    // are named in linear time, not by trying `_2`, `_3`, ... from the start each time.
    let mut first_free: HashMap<String, usize> = HashMap::new();
    let mut finals: HashMap<String, String> = HashMap::with_capacity(defs.len());
    for (old, def, base) in &defs {
        let mut candidate = def.clone();
        rewrite_refs(&mut candidate, &provisional, old.trim_start_matches('#'))?;
        let mut n = first_free.get(base).copied().unwrap_or(1);
        let numbered = |n: usize| {
            if n == 1 {
                base.clone()
            } else {
                format!("{base}_{n}")
            }
        };
        let mut name = numbered(n);
        let mut all_taken_below = true;
        loop {
            let free = !taken.contains(&name);
            match components.get(&name) {
                None if free => break,
                Some(existing) if free && *existing == candidate => break,
                _ => {
                    all_taken_below &= !free;
                    if all_taken_below {
                        first_free.insert(base.clone(), n + 1);
                    }
                    n += 1;
                    name = numbered(n);
                }
            }
        }
        taken.insert(name.clone());
        finals.insert(old.clone(), format!("#/components/schemas/{name}"));
    }
    for (old, def, _) in defs {
        let mut def = def;
        rewrite_refs(&mut def, &finals, old.trim_start_matches('#'))?;
        let new_ref = &finals[&old];
        components.entry(ref_name(new_ref)).or_insert(def);
    }
    let mut out = Value::Object(body);
    rewrite_refs(&mut out, &finals, "")?;
    Ok(out)
}

fn rewrite_refs(
    v: &mut Value,
    renames: &HashMap<String, String>,
    at: &str,
) -> Result<(), RenderError> {
    match v {
        Value::Object(m) => {
            for (k, sub) in m.iter_mut() {
                if k == "$ref"
                    && let Value::String(r) = sub
                {
                    if r == "#" {
                        return Err(RenderError::new(
                            at,
                            "a $ref to the schema's root ('#') cannot be moved into an AsyncAPI document",
                        ));
                    }
                    if !r.starts_with('#') {
                        return Err(RenderError::new(
                            at,
                            format!("the $ref '{r}' is not local to the schema"),
                        ));
                    }
                    let decoded = percent_decode(r);
                    // `#/definitions/<name>` (a name holds no `/`, it is escaped), then the
                    // rest of the pointer, if any.
                    let split = decoded
                        .match_indices('/')
                        .nth(2)
                        .map_or(decoded.len(), |(i, _)| i);
                    let (definition, rest) = decoded.split_at(split);
                    match renames.get(definition) {
                        Some(new) => *r = format!("{new}{rest}"),
                        None => {
                            return Err(RenderError::new(
                                at,
                                format!("the $ref '{r}' does not resolve to a definition"),
                            ));
                        }
                    }
                } else {
                    rewrite_refs(sub, renames, &format!("{at}/{k}"))?;
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                rewrite_refs(item, renames, &format!("{at}/{i}"))?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn recursive_types_stop() {
        let s = json!({
            "type": "object",
            "properties": {"root": {"$ref": "#/definitions/Node"}},
            "definitions": {"Node": {"type": "object", "properties": {
                "name": {"type": "string"},
                "children": {"type": "array", "items": {"$ref": "#/definitions/Node"}}
            }, "required": ["name"]}}
        });
        let rows = field_rows(&s).unwrap();
        let paths: Vec<&str> = rows.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["root", "root.name", "root.children"]);
        assert_eq!(rows[2].type_text, "array of Node");
        // The recursion stops at an empty array: the example validates.
        let ex = example(&s).unwrap();
        assert_eq!(ex, json!({"root": {"name": "string", "children": []}}));
    }

    #[test]
    fn dangling_ref_is_an_error() {
        let s = json!({"type": "object", "properties": {"a": {"$ref": "#/definitions/Missing"}}});
        let e = field_rows(&s).unwrap_err();
        assert_eq!(e.pointer, "#/properties/a");
        assert!(e.reason.contains("does not resolve"), "{}", e.reason);
        let e = example(&s).unwrap_err();
        assert!(e.reason.contains("#/definitions/Missing"));
    }

    #[test]
    fn hoist_shares_identical_and_renames_different_definitions() {
        let mut components = Map::new();
        let a = json!({"type": "object", "properties": {"x": {"$ref": "#/definitions/Item"}},
            "definitions": {"Item": {"type": "string"}}, "$schema": "http://json-schema.org/draft-07/schema#"});
        let b = json!({"type": "object", "properties": {"y": {"$ref": "#/definitions/Item"}},
            "definitions": {"Item": {"type": "integer"}}});
        let c = json!({"type": "object", "properties": {"z": {"$ref": "#/definitions/Item"}},
            "definitions": {"Item": {"type": "string"}}});
        let ha = hoist(&a, &mut components).unwrap();
        let hb = hoist(&b, &mut components).unwrap();
        let hc = hoist(&c, &mut components).unwrap();
        assert_eq!(ha["properties"]["x"]["$ref"], "#/components/schemas/Item");
        assert_eq!(hb["properties"]["y"]["$ref"], "#/components/schemas/Item_2");
        assert_eq!(hc["properties"]["z"]["$ref"], "#/components/schemas/Item");
        assert!(ha.get("$schema").is_none() && ha.get("definitions").is_none());
        assert_eq!(components["Item_2"], json!({"type": "integer"}));
        assert_eq!(components.len(), 2);
    }
}
