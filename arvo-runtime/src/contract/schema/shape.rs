//! zod's `parse` on a valid value: unknown keys stripped, defaults filled in, the schema's key
//! order, prepared once per schema as a [`Shape`].

use super::MAX_REF_DEPTH;
use crate::issue::json_type_name;
use serde_json::{Map, Value};

/// What `parse` does to a value, prepared once from the schema.
pub(super) enum Shape {
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
pub(super) struct Props {
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

pub(super) enum Extra {
    Strip,
    Keep,
    Each(Box<Shape>),
}

pub(super) struct Branch {
    types: Option<Vec<String>>,
    required: Vec<String>,
    consts: Vec<(String, Value)>,
    shape: Shape,
}

pub(super) fn resolve<'a>(
    root: &'a Value,
    mut s: &'a Value,
    mut depth: usize,
) -> Option<(&'a Value, usize)> {
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
    pub(super) fn build(root: &Value, s: &Value, depth: usize) -> Shape {
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

    pub(super) fn apply(&self, v: &mut Value) {
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
