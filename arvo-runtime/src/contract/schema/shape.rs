//! zod's `parse` on a valid value: unknown keys stripped, defaults filled in, the schema's key
//! order, prepared once per schema as a [`Shape`].

use super::MAX_REF_DEPTH;
use crate::issue::json_type_name;
use serde_json::{Map, Value};
use std::sync::{Arc, OnceLock};

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
    /// The shape of a `$ref` target: an index in [`Shapes`]'s table.
    Ref(usize),
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
    /// The member's own validator, for when the quick checks above leave more than one
    /// member; `None` where it cannot be had (see `branch` below).
    check: Option<MemberCheck>,
    shape: Shape,
}

/// A union member's validator, compiled when first needed. A member without references (once
/// its own `$ref`s are followed) is compiled alone, in the root's dialect; one with references
/// is compiled as the relaxed root with a `$ref` to the member (up to draft-07 a `$ref` replaces
/// its siblings), so they still resolve against the whole document. Compiling the whole root
/// for every member made the first parse of a schema with 1,000 such unions take 3.7 s.
struct MemberCheck {
    root: Arc<Value>,
    at: String,
    validator: OnceLock<Option<jsonschema::Validator>>,
}

impl MemberCheck {
    /// Whether the member takes `v` (`true` when its validator does not compile).
    fn validates(&self, v: &Value) -> bool {
        let validator = self.validator.get_or_init(|| {
            let alone = decode_fragment(&self.at)
                .and_then(|at| self.root.pointer(&at))
                .and_then(|member| resolve(&self.root, member, 0))
                .map(|(member, _)| member)
                .filter(|member| !has_reference(member))
                .and_then(|member| {
                    let mut member = member.clone();
                    if let (Value::Object(m), Some(dialect)) =
                        (&mut member, self.root.get("$schema"))
                    {
                        m.insert("$schema".to_owned(), dialect.clone());
                    }
                    super::compile(&member).ok()
                });
            alone.or_else(|| {
                let mut m = self.root.as_object()?.clone();
                m.insert("$ref".to_owned(), Value::String(format!("#{}", self.at)));
                super::compile(&Value::Object(m)).ok()
            })
        });
        validator.as_ref().is_none_or(|val| val.is_valid(v))
    }
}

/// The keywords whose value references another schema of the document.
pub(super) const REFERENCE_KEYWORDS: [&str; 3] = ["$ref", "$recursiveRef", "$dynamicRef"];

/// A URI fragment (`#` left out) as the validator reads it: percent-decoded (`None` when that
/// is not UTF-8).
pub(super) fn decode_fragment(fragment: &str) -> Option<std::borrow::Cow<'_, str>> {
    percent_encoding::percent_decode_str(fragment)
        .decode_utf8()
        .ok()
}

/// Whether `v` holds a reference keyword anywhere (data in `enum` or `const` included: a false
/// positive only costs the slower compilation).
fn has_reference(v: &Value) -> bool {
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(m) => {
                if REFERENCE_KEYWORDS.iter().any(|k| m.contains_key(*k)) {
                    return true;
                }
                stack.extend(m.values());
            }
            Value::Array(a) => stack.extend(a),
            _ => {}
        }
    }
    false
}

/// `s`, or what its `$ref`s (`#/...` pointers into `root`, percent-decoded) lead to, with the
/// pointer of the last one (`None` when `s` is no `$ref`) and `depth` counting each; `None`
/// past [`MAX_REF_DEPTH`] or at a `$ref` that points nowhere.
fn resolve_ref<'a>(
    root: &'a Value,
    mut s: &'a Value,
    mut depth: usize,
) -> Option<(&'a Value, Option<&'a str>, usize)> {
    let mut at = None;
    while let Some(r) = s.get("$ref").and_then(Value::as_str) {
        depth += 1;
        if depth > MAX_REF_DEPTH {
            return None;
        }
        let pointer = r.strip_prefix('#')?;
        // A fragment is percent-decoded before it is read as a JSON pointer.
        s = root.pointer(&decode_fragment(pointer)?)?;
        at = Some(pointer);
    }
    Some((s, at, depth))
}

/// [`resolve_ref`] without the pointer.
pub(super) fn resolve<'a>(
    root: &'a Value,
    s: &'a Value,
    depth: usize,
) -> Option<(&'a Value, usize)> {
    resolve_ref(root, s, depth).map(|(s, _, depth)| (s, depth))
}

/// `at` (a JSON pointer in a URI fragment, `#` left out) extended by the key `key`: escaped as
/// JSON pointers escape `~` and `/`, then percent-encoded but for RFC 3986's unreserved
/// characters, so the validator, which percent-decodes a `$ref`'s fragment, reads the key back.
fn child(at: &str, key: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    let key = key.replace('~', "~0").replace('/', "~1");
    format!("{at}/{}", percent_encoding::utf8_percent_encode(&key, KEEP))
}

/// The shapes of a schema: the root's, and one per `$ref` target, built once however many
/// `$ref`s lead to it. A schema whose `$ref`s share subschemas (a DAG) is shaped in time linear
/// in its size (walking each path to the shared ones would cost time exponential in its depth),
/// and a recursive one is shaped to any depth of the data, as zod's `z.lazy` parses.
pub(super) struct Shapes {
    root: Shape,
    /// [`Shape::Ref`] indexes this.
    refs: Vec<Shape>,
}

impl Shapes {
    /// The shapes of `root`; `relaxed` is the root as the validator reads it (for the members
    /// of unions).
    pub(super) fn build(root: &Value, relaxed: &Arc<Value>) -> Shapes {
        let mut builder = Builder {
            root,
            relaxed,
            refs: Vec::new(),
            targets: std::collections::HashMap::new(),
        };
        let shape = builder.shape(root, "", 0);
        Shapes {
            root: shape,
            refs: builder
                .refs
                .into_iter()
                .map(|s| s.unwrap_or(Shape::Any))
                .collect(),
        }
    }

    /// Shapes `v` (valid for the schema) as zod's `parse` outputs it.
    pub(super) fn apply(&self, v: &mut Value) {
        self.root.apply(&self.refs, v);
    }
}

/// Builds [`Shapes`], each `$ref` target once.
struct Builder<'a> {
    root: &'a Value,
    relaxed: &'a Arc<Value>,
    /// The shape of each `$ref` target met so far; `None` while it is being built (a `$ref`
    /// met then is a cycle, and becomes a [`Shape::Ref`] all the same).
    refs: Vec<Option<Shape>>,
    /// `$ref` target (JSON pointer) -> index in `refs`.
    targets: std::collections::HashMap<&'a str, usize>,
}

impl<'a> Builder<'a> {
    /// The shape of `s`, found at the JSON pointer `at` of the root, `depth` `$ref`s deep.
    fn shape(&mut self, s: &'a Value, at: &str, depth: usize) -> Shape {
        let Some((s, target, depth)) = resolve_ref(self.root, s, depth) else {
            return Shape::Any;
        };
        let Some(target) = target else {
            return self.inline(s, at, depth);
        };
        if let Some(&i) = self.targets.get(target) {
            return match &self.refs[i] {
                Some(Shape::Any) => Shape::Any,
                _ => Shape::Ref(i),
            };
        }
        let i = self.refs.len();
        self.refs.push(None);
        self.targets.insert(target, i);
        let shape = self.inline(s, target, depth);
        let any = matches!(shape, Shape::Any);
        self.refs[i] = Some(shape);
        if any { Shape::Any } else { Shape::Ref(i) }
    }

    /// The shape of `s`, which is no `$ref`.
    fn inline(&mut self, s: &'a Value, at: &str, depth: usize) -> Shape {
        let Value::Object(m) = s else {
            return Shape::Any;
        };
        let union = ["anyOf", "oneOf"]
            .into_iter()
            .find_map(|k| Some((k, m.get(k)?.as_array()?)));
        if let Some((keyword, branches)) = union {
            let at = child(at, keyword);
            let branches: Vec<Branch> = branches
                .iter()
                .enumerate()
                .map(|(i, b)| self.branch(b, &child(&at, &i.to_string()), depth))
                .collect();
            if branches.iter().all(|b| matches!(b.shape, Shape::Any)) {
                return Shape::Any;
            }
            return Shape::Union(branches);
        }
        let props = m.get("properties").and_then(Value::as_object);
        let extra = match m.get("additionalProperties") {
            Some(Value::Bool(false)) => Extra::Strip,
            Some(v @ Value::Object(_)) => {
                match self.shape(v, &child(at, "additionalProperties"), depth) {
                    Shape::Any => Extra::Keep,
                    shape => Extra::Each(Box::new(shape)),
                }
            }
            _ => Extra::Keep,
        };
        if let Some(props) = props {
            let at = child(at, "properties");
            let props = props
                .iter()
                .map(|(name, p)| Prop {
                    name: name.clone(),
                    shape: self.shape(p, &child(&at, name), depth),
                    default: resolve(self.root, p, depth)
                        .and_then(|(p, _)| p.get("default").cloned()),
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
            return match self.shape(items, &child(at, "items"), depth) {
                Shape::Any => Shape::Any,
                shape => Shape::Array(Box::new(shape)),
            };
        }
        Shape::Any
    }
}

impl Shape {
    fn apply(&self, refs: &[Shape], v: &mut Value) {
        self.apply_hops(refs, v, 0);
    }

    /// [`apply`](Self::apply), `hops` `$ref`s and unions into the same value. A union that
    /// leads back to itself (`A = oneOf [A]`) would never reach anything else; it looped for
    /// ever. Past [`MAX_REF_DEPTH`] such steps the value is left as it is (there is nothing to
    /// shape it by). Objects and arrays step into the value, whose depth is bounded.
    fn apply_hops(&self, refs: &[Shape], v: &mut Value, hops: usize) {
        if hops > MAX_REF_DEPTH {
            return;
        }
        match (self, v) {
            (Shape::Any, _) => {}
            (Shape::Ref(i), v) => {
                if let Some(shape) = refs.get(*i) {
                    shape.apply_hops(refs, v, hops + 1);
                }
            }
            (Shape::Array(item), Value::Array(items)) => {
                items.iter_mut().for_each(|i| item.apply(refs, i))
            }
            (Shape::Union(branches), v) => {
                // zod's union takes the first member that parses the value. The quick checks
                // rule members out; when one is left, the value (valid as a whole) is valid
                // for it, else the members' validators decide.
                let mut candidates = branches.iter().filter(|b| b.may_match(v));
                let Some(first) = candidates.next() else {
                    return;
                };
                let chosen = match candidates.next() {
                    None => first,
                    Some(second) => [first, second]
                        .into_iter()
                        .chain(candidates)
                        .find(|b| b.check.as_ref().is_none_or(|c| c.validates(v)))
                        .unwrap_or(first),
                };
                chosen.shape.apply_hops(refs, v, hops + 1);
            }
            (Shape::Object { props, extra }, Value::Object(map)) => {
                apply_object(props, extra, refs, map)
            }
            _ => {}
        }
    }
}

impl<'a> Builder<'a> {
    /// A member of a union, at `at`.
    fn branch(&mut self, s: &'a Value, at: &str, depth: usize) -> Branch {
        let (root, relaxed) = (self.root, self.relaxed);
        let types = types_of(root, s, depth);
        // From 2019-09 on a `$ref`'s siblings apply too: the quick checks decide alone there.
        let dialect = relaxed
            .get("$schema")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let check = ["draft-04", "draft-06", "draft-07"]
            .iter()
            .any(|d| dialect.contains(d))
            .then(|| MemberCheck {
                root: Arc::clone(relaxed),
                at: at.to_owned(),
                validator: OnceLock::new(),
            });
        // A member that is itself a union (`.optional()` or `.nullable()` of an object, as
        // zod-to-json-schema writes them) keeps its object's keys in its first object member.
        let resolved = resolve(root, s, depth)
            .map(|(s, _)| s)
            .map(|s| object_member(root, s, depth).unwrap_or(s));
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
            check,
            shape: self.shape(s, at, depth),
        }
    }
}

impl Branch {
    /// Quick checks (the JSON type, required keys, literal discriminator values): `false`
    /// means the member cannot take `v`.
    fn may_match(&self, v: &Value) -> bool {
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

/// The JSON types `s` accepts, `None` for any: its `type`, none for `{"not": {}}` (zod's
/// `undefined`), or for a `.nullable()` / `.optional()` wrapper (see [`wrapped_member`]) those
/// of what it wraps, with `null` for `.nullable()`. A real union answers `None`, and its members'
/// validators decide: looking into every member would cost a walk of everything below it for
/// each member, exponential in a schema whose `$ref`s share subschemas.
fn types_of(root: &Value, s: &Value, depth: usize) -> Option<Vec<String>> {
    let (s, depth) = resolve(root, s, depth)?;
    match s.get("type") {
        Some(Value::Array(ts)) => {
            return Some(
                ts.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
            );
        }
        Some(Value::String(t)) => return Some(vec![t.clone()]),
        Some(_) => return Some(Vec::new()),
        None => {}
    }
    if is_undefined(root, s) {
        return Some(Vec::new());
    }
    let members = s.get("anyOf").or_else(|| s.get("oneOf"))?.as_array()?;
    if depth >= MAX_REF_DEPTH {
        return None;
    }
    let inner = wrapped_member(root, members)?;
    let mut types = types_of(root, members.get(inner)?, depth + 1)?;
    if inner == 0 {
        types.push("null".to_owned());
    }
    Some(types)
}

/// Whether `s` is `{"not": {}}`: nothing, zod's `undefined` in zod-to-json-schema's output.
fn is_undefined(root: &Value, s: &Value) -> bool {
    resolve(root, s, 0).is_some_and(|(s, _)| {
        s.as_object().is_some_and(|o| {
            o.len() == 1
                && o.get("not")
                    .and_then(Value::as_object)
                    .is_some_and(Map::is_empty)
        })
    })
}

/// The schema `s` wraps as zod-to-json-schema writes `.nullable()` or `.optional()` (see
/// [`wrapped_member`]), looked through, when `s` has no `properties` itself. A real union is
/// not looked into: its members are shaped by its own [`Shape::Union`].
fn object_member<'a>(root: &'a Value, s: &'a Value, depth: usize) -> Option<&'a Value> {
    if s.get("properties").is_some() || depth >= MAX_REF_DEPTH {
        return None;
    }
    let members = s.get("anyOf").or_else(|| s.get("oneOf"))?.as_array()?;
    let (m, _) = resolve(
        root,
        members.get(wrapped_member(root, members)?)?,
        depth + 1,
    )?;
    if m.get("properties").is_some() {
        Some(m)
    } else {
        object_member(root, m, depth + 1)
    }
}

/// The index of the inner member of a two-member `anyOf`/`oneOf` that wraps it the way
/// zod-to-json-schema writes `.nullable()` of a schema with checks (`[inner, {"type":
/// "null"}]`) and `.optional()` inside a union or an array (`[{"not": {}}, inner]`: `{"not":
/// {}}` is `undefined`, which no JSON value is). The order tells a wrapper from a union with
/// `z.null()` in it, which writes its members in their own order.
pub(super) fn wrapped_member(root: &Value, members: &[Value]) -> Option<usize> {
    let null = |m: &Value| {
        resolve(root, m, 0).is_some_and(|(m, _)| {
            m.as_object().is_some_and(|o| {
                o.len() == 1 && o.get("type").and_then(Value::as_str) == Some("null")
            })
        })
    };
    match members {
        [a, _] if is_undefined(root, a) => Some(1),
        [_, b] if null(b) => Some(0),
        _ => None,
    }
}

/// zod's output for an object: known keys in schema order (defaults filled in), then the
/// unknown ones in their order unless stripped. Linear in the number of keys.
fn apply_object(props: &Props, extra: &Extra, refs: &[Shape], map: &mut Map<String, Value>) {
    if props.nested || matches!(extra, Extra::Each(_)) {
        for (k, v) in map.iter_mut() {
            match props.position(k) {
                Some(i) => props.list[i].shape.apply(refs, v),
                None => {
                    if let Extra::Each(shape) = extra {
                        shape.apply(refs, v);
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
