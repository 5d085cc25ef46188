//! A bound on the work of validating one payload.
//!
//! A JSON Schema validator applies every member of a union (`anyOf`, `oneOf`, `allOf`) to the
//! same value. Where the members share what lies below them (through `$ref`s to one subschema,
//! or a recursive type whose variants share a field), the value's children are checked once per
//! member, their children once per member of theirs, and so on: 100 levels of a two-member union
//! cost `2^100` checks, and a failed validation builds an error tree as large. zod does the same
//! in the reference, which then hangs or runs out of memory on such a payload.
//!
//! A [`Schema`](super::Schema) therefore computes, when it is built, its *fan-out*: how many
//! times, at most, one value of a payload can be checked, at each depth down to serde_json's
//! nesting limit. Where that stays at [`FAN_OUT_LIMIT`] or below (every schema without such
//! unions, `.nullable()` and `.optional()` included), validation costs at most that many checks
//! per value, and nothing more is done. Otherwise a [`Plan`] is kept, and each payload's checks
//! are counted before it is validated (a walk that stops at the budget); a payload that needs
//! more than the limit per value it holds ([`FAN_OUT_LIMIT`], or the schema's number of nodes
//! if larger) plus [`BASE_BUDGET`] is refused with an issue saying so, valid or not.
//!
//! The count over-approximates the validator (every union member, every `patternProperties`
//! schema for every key). It follows references as the validator does within one document
//! (`#`, JSON pointers, anchors, `$recursiveRef`, `$dynamicRef`); a schema with a reference it
//! cannot follow that way (one with a URI part, or inside an embedded resource, a subschema with
//! an `$id` of its own) is refused, since its work could not be bounded.

use serde_json::Value;
use std::collections::HashMap;

/// Checks of one value (at one depth) up to which a schema validates without counting.
pub(super) const FAN_OUT_LIMIT: u64 = 64;

/// Checks a payload may need beyond [`FAN_OUT_LIMIT`] per value it holds.
pub(super) const BASE_BUDGET: u64 = 100_000;

/// The deepest data the fan-out is computed for: serde_json's nesting limit, the deepest a
/// payload read from JSON text can be.
const MAX_DATA_DEPTH: usize = 128;

/// Counts above this are all the same: too many.
const SATURATED: u64 = 1 << 48;

/// The subschemas of one schema node, as the counting walk needs them (indices into
/// [`Plan::nodes`]).
#[derive(Default)]
struct Node {
    /// Applied to the same value: union and intersection members, a `$ref`'s target, `not`,
    /// `if`/`then`/`else`, schema `dependencies`. These may form cycles (a schema that is a
    /// member of itself); see [`Order::cap`] for how often the validator goes around one.
    same: Vec<usize>,
    /// `properties`, by name.
    properties: HashMap<String, usize>,
    /// `additionalProperties` and `unevaluatedProperties`: applied to keys no property names.
    additional: Vec<usize>,
    /// `patternProperties`: counted for every key.
    patterns: Vec<usize>,
    /// `propertyNames`: applied to every key.
    names: Vec<usize>,
    /// `items` or `prefixItems` given as a list: the element at the same index.
    tuple: Vec<usize>,
    /// `items` as one schema, `additionalItems`, `unevaluatedItems`: elements past the tuple.
    items: Vec<usize>,
    /// `contains`: every element.
    contains: Vec<usize>,
}

/// The counting walk of a schema whose fan-out is above its limit.
pub(super) struct Plan {
    /// The root is `nodes[0]`.
    nodes: Vec<Node>,
    /// [`Order::cap`].
    cap: Vec<u32>,
    /// Checks allowed per value of a payload: [`FAN_OUT_LIMIT`], or the number of schema nodes
    /// when larger (any validator may check each node once for each value).
    limit: u64,
}

/// Steps the analysis may take (closures and key groups) before it gives up and counts each
/// payload's checks instead: a schema that large is simply counted.
const MAX_ANALYSIS: usize = 250_000;

impl Plan {
    /// The plan for `root`, or `None` when no value of a payload down to [`MAX_DATA_DEPTH`] can
    /// be checked more than the limit's number of times; `Err` for a reference it cannot follow
    /// (see [`collect`]).
    ///
    /// `G(v, d)`, the checks of one value `d` levels below a value the schema node `v` applies
    /// to, is computed for every depth: `G(v, 0)` is the number of nodes applied to that value
    /// (`v` and the members it brings in, each as often as the validator reaches it); for `d >
    /// 0` it is, over each key (or array index) a child can have, the largest sum of `G(c, d -
    /// 1)` over the nodes `c` those members apply to that child. Keys matter: the variants of a
    /// tagged union each apply to their own key, and do not add up.
    pub(super) fn for_schema(root: &Value) -> Result<Option<Plan>, String> {
        let nodes = collect(root)?;
        let order = same_order(&nodes);
        let limit = FAN_OUT_LIMIT.max(nodes.len() as u64);
        let cap = order.cap;
        let counted = |nodes, cap| Ok(Some(Plan { nodes, cap, limit }));
        // The nodes applied to a value each node applies to, with how often.
        let mut closure: Vec<Vec<(usize, u64)>> = vec![Vec::new(); nodes.len()];
        let mut work = 0usize;
        let mut walk = SameWalk::new(nodes.len());
        for &n in &order.post {
            closure[n] = if order.reaches_cycle[n] {
                // Around a cycle the count depends on the path: walk it.
                let mut merged: HashMap<usize, u64> = HashMap::new();
                let mut budget = MAX_ANALYSIS.saturating_sub(work) as u64;
                let done = walk.run(&nodes, &cap, n, &mut budget, |x| {
                    let e = merged.entry(x).or_default();
                    *e = e.saturating_add(1).min(SATURATED);
                });
                work = MAX_ANALYSIS - usize::try_from(budget).unwrap_or(0);
                if !done {
                    return counted(nodes, cap);
                }
                merged.into_iter().collect()
            } else if nodes[n].same.is_empty() {
                vec![(n, 1)]
            } else {
                let mut merged: HashMap<usize, u64> = HashMap::from([(n, 1)]);
                for &m in &nodes[n].same {
                    // Each entry merged is a step, so many members sharing large closures
                    // stop the analysis as soon as they have cost too much.
                    work += closure[m].len();
                    if work > MAX_ANALYSIS {
                        return counted(nodes, cap);
                    }
                    for &(x, c) in &closure[m] {
                        let e = merged.entry(x).or_default();
                        *e = e.saturating_add(c).min(SATURATED);
                    }
                }
                merged.into_iter().collect()
            };
        }
        // Value nodes (the root, and every node applied to a child) and their key groups.
        let mut values = vec![0usize];
        let mut is_value = vec![false; nodes.len()];
        is_value[0] = true;
        for node in &nodes {
            for &c in node.children() {
                if !std::mem::replace(&mut is_value[c], true) {
                    values.push(c);
                }
            }
        }
        let mut groups: Vec<Vec<Vec<(usize, u64)>>> = vec![Vec::new(); nodes.len()];
        for &v in &values {
            match key_groups(&nodes, &closure[v], &mut work) {
                Some(g) => groups[v] = g,
                None => return counted(nodes, cap),
            }
        }
        let mut below = vec![0u64; nodes.len()];
        for &v in &values {
            below[v] = closure[v]
                .iter()
                .fold(0u64, |f, &(_, c)| f.saturating_add(c))
                .min(SATURATED);
        }
        if below[0] > limit {
            return counted(nodes, cap);
        }
        for _ in 1..=MAX_DATA_DEPTH {
            let mut here = vec![0u64; nodes.len()];
            for &v in &values {
                here[v] = groups[v]
                    .iter()
                    .map(|g| {
                        g.iter().fold(0u64, |f, &(c, m)| {
                            f.saturating_add(m.saturating_mul(below[c]))
                        })
                    })
                    .max()
                    .unwrap_or(0)
                    .min(SATURATED);
            }
            if here[0] > limit {
                return counted(nodes, cap);
            }
            // `G(·, d)` depends on `G(·, d - 1)` alone: once it repeats, it stays.
            if here == below {
                break;
            }
            below = here;
        }
        Ok(None)
    }

    /// `Err(budget)` when validating `data` may need more than `budget` checks: the limit per
    /// value it holds plus [`BASE_BUDGET`]. Stops counting there, so it
    /// costs at most that many steps.
    pub(super) fn check(&self, data: &Value) -> Result<(), u64> {
        let budget = self
            .limit
            .saturating_mul(values_in(data))
            .saturating_add(BASE_BUDGET);
        let mut left = budget;
        let mut walk = SameWalk::new(self.nodes.len());
        let mut applied = Vec::new();
        let mut stack = vec![(0usize, data)];
        while let Some((entry, v)) = stack.pop() {
            // Every node applied to `v` through `entry`, as often as the validator applies it.
            applied.clear();
            if !walk.run(&self.nodes, &self.cap, entry, &mut left, |x| {
                applied.push(x)
            }) {
                return Err(budget);
            }
            for &n in &applied {
                self.children_of(n, v, &mut stack, &mut left);
            }
        }
        Ok(())
    }

    /// Pushes the children of `v` that node `n` applies schemas to, each with its node; a
    /// `propertyNames` check per key is taken from `left`.
    fn children_of<'v>(
        &self,
        n: usize,
        v: &'v Value,
        stack: &mut Vec<(usize, &'v Value)>,
        left: &mut u64,
    ) {
        let node = &self.nodes[n];
        match v {
            Value::Object(map) => {
                for (k, c) in map {
                    match node.properties.get(k) {
                        Some(&p) => stack.push((p, c)),
                        None => stack.extend(node.additional.iter().map(|&a| (a, c))),
                    }
                    stack.extend(node.patterns.iter().map(|&p| (p, c)));
                    *left = left.saturating_sub(node.names.len() as u64);
                }
            }
            Value::Array(items) => {
                for (i, c) in items.iter().enumerate() {
                    match node.tuple.get(i) {
                        Some(&t) => stack.push((t, c)),
                        None => stack.extend(node.items.iter().map(|&a| (a, c))),
                    }
                    stack.extend(node.contains.iter().map(|&p| (p, c)));
                }
            }
            _ => {}
        }
    }
}

impl Node {
    /// Every node this one applies to a child value.
    fn children(&self) -> impl Iterator<Item = &usize> {
        self.properties
            .values()
            .chain(&self.additional)
            .chain(&self.patterns)
            .chain(&self.names)
            .chain(&self.tuple)
            .chain(&self.items)
            .chain(&self.contains)
    }
}

/// For a value the nodes of `members` apply to (with how often): one group per key or array
/// index its child could have (each property named by some member, any other key, each tuple
/// index, any other index), listing the nodes applied to that child, with how often. Each entry
/// is a step of `work`; `None` once it passes [`MAX_ANALYSIS`] (checked after each group, so a
/// schema naming many keys in many members stops as soon as it has cost too much).
fn key_groups(
    nodes: &[Node],
    members: &[(usize, u64)],
    work: &mut usize,
) -> Option<Vec<Vec<(usize, u64)>>> {
    let mut names: Vec<&str> = members
        .iter()
        .flat_map(|&(m, _)| nodes[m].properties.keys().map(String::as_str))
        .collect();
    names.sort_unstable();
    names.dedup();
    let tuple = members
        .iter()
        .map(|&(m, _)| nodes[m].tuple.len())
        .max()
        .unwrap_or(0);
    let mut groups = Vec::with_capacity(names.len() + tuple + 2);
    let mut add = |groups: &mut Vec<_>, group: Vec<(usize, u64)>| {
        *work += group.len() + 1;
        groups.push(group);
        *work <= MAX_ANALYSIS
    };
    // Every object key: the members' `patternProperties` and `propertyNames`.
    let every_key: Vec<(usize, u64)> = members
        .iter()
        .flat_map(|&(m, c)| {
            nodes[m]
                .patterns
                .iter()
                .chain(&nodes[m].names)
                .map(move |&p| (p, c))
        })
        .collect();
    for name in names.iter().copied().map(Some).chain([None]) {
        let g = group(nodes, members, &every_key, |node| {
            match name.and_then(|k| node.properties.get(k)) {
                Some(&p) => Ok(p),
                None => Err(&node.additional),
            }
        });
        if !add(&mut groups, g) {
            return None;
        }
    }
    let every_item: Vec<(usize, u64)> = members
        .iter()
        .flat_map(|&(m, c)| nodes[m].contains.iter().map(move |&p| (p, c)))
        .collect();
    for i in (0..tuple).map(Some).chain([None]) {
        let g = group(nodes, members, &every_item, |node| {
            match i.and_then(|i| node.tuple.get(i)) {
                Some(&t) => Ok(t),
                None => Err(&node.items),
            }
        });
        if !add(&mut groups, g) {
            return None;
        }
    }
    Some(groups)
}

/// The nodes applied to one child: `every` (those applied to each child), and for each member
/// the node `child` names (`Ok`) or else the fallbacks it gives (`Err`), each as often as the
/// member is applied.
fn group<'a>(
    nodes: &'a [Node],
    members: &[(usize, u64)],
    every: &[(usize, u64)],
    child: impl Fn(&'a Node) -> Result<usize, &'a Vec<usize>>,
) -> Vec<(usize, u64)> {
    let mut group = every.to_vec();
    for &(m, c) in members {
        match child(&nodes[m]) {
            Ok(n) => group.push((n, c)),
            Err(rest) => group.extend(rest.iter().map(|&n| (n, c))),
        }
    }
    group
}

/// How many values `data` holds, itself included.
fn values_in(data: &Value) -> u64 {
    let mut count = 0u64;
    let mut stack = vec![data];
    while let Some(v) = stack.pop() {
        count += 1;
        match v {
            Value::Object(m) => stack.extend(m.values()),
            Value::Array(a) => stack.extend(a),
            _ => {}
        }
    }
    count
}

/// Every schema node reachable from `root` (through keywords, `definitions` / `$defs` and
/// references), the root first, each once however many ways lead to it. Iterative: a long chain
/// of `$ref`s costs no stack.
///
/// References are followed as the validator follows them within one document: `#` (and `$ref:
/// ""`, `$recursiveRef: "#"`) the root, `#/...` a JSON pointer (percent-decoded), `#name` every
/// schema with that anchor (`$anchor`, `$dynamicAnchor`, or an `$id` that is a plain fragment).
/// `Err` names what cannot be followed that way: a reference with a URI part, or a schema below
/// the root with an `$id` of its own (an embedded resource, whose references resolve against it).
fn collect<'a>(root: &'a Value) -> Result<Vec<Node>, String> {
    let dialect = root
        .get("$schema")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // draft-04 spells `$id` without the dollar.
    let id_keyword = if dialect.contains("draft-04") {
        "id"
    } else {
        "$id"
    };
    let mut index: HashMap<*const Value, usize> = HashMap::from([(std::ptr::from_ref(root), 0)]);
    let mut schemas: Vec<&'a Value> = vec![root];
    let mut nodes: Vec<Node> = Vec::new();
    let mut anchors: HashMap<String, Vec<usize>> = HashMap::new();
    // (node, reference): resolved once every node, and so every anchor, is known.
    let mut references: Vec<(usize, &'a str)> = Vec::new();
    loop {
        while let Some(&s) = schemas.get(nodes.len()) {
            let n = nodes.len();
            let mut node = Node::default();
            if let Value::Object(m) = s {
                let mut id = |v: &'a Value| number(&mut index, &mut schemas, v);
                walk_keywords(m, &mut node, &mut id);
                for (_, d) in map(m.get("definitions")).chain(map(m.get("$defs"))) {
                    id(d);
                }
                for k in ["$anchor", "$dynamicAnchor"] {
                    if let Some(name) = m.get(k).and_then(Value::as_str) {
                        anchors.entry(name.to_owned()).or_default().push(n);
                    }
                }
                if let Some(own) = m.get(id_keyword).and_then(Value::as_str) {
                    match own.strip_prefix('#') {
                        Some(name) => anchors.entry(name.to_owned()).or_default().push(n),
                        None if n != 0 => {
                            return Err(format!(
                                "a schema below the root has {id_keyword} {own:?}: embedded \
                                 schema resources are not supported (their references resolve \
                                 against them)"
                            ));
                        }
                        None => {}
                    }
                }
                for k in super::shape::REFERENCE_KEYWORDS {
                    if let Some(r) = m.get(k).and_then(Value::as_str) {
                        references.push((n, r));
                    }
                }
            }
            nodes.push(node);
        }
        if references.is_empty() {
            return Ok(nodes);
        }
        for (n, r) in std::mem::take(&mut references) {
            let targets = resolve_reference(root, &anchors, r)?;
            for target in targets {
                let t = match target {
                    Target::Node(t) => t,
                    Target::Value(v) => number(&mut index, &mut schemas, v),
                };
                nodes[n].same.push(t);
            }
        }
    }
}

/// The number of the schema `v`: its place in `schemas`, where it is added (to be walked) the
/// first time it is met.
fn number<'a>(
    index: &mut HashMap<*const Value, usize>,
    schemas: &mut Vec<&'a Value>,
    v: &'a Value,
) -> usize {
    *index.entry(std::ptr::from_ref(v)).or_insert_with(|| {
        schemas.push(v);
        schemas.len() - 1
    })
}

/// Where a reference leads: a known node, or a value of the document (a node once walked).
enum Target<'a> {
    Node(usize),
    Value(&'a Value),
}

/// The targets of the reference `r` (see [`collect`]).
fn resolve_reference<'a>(
    root: &'a Value,
    anchors: &HashMap<String, Vec<usize>>,
    r: &str,
) -> Result<Vec<Target<'a>>, String> {
    let unsupported = |why: &str| {
        Err(format!(
            "unsupported reference {:?}: {why}",
            crate::issue::quote_prefix(r)
        ))
    };
    let Some(fragment) = r.strip_prefix('#').or(r.is_empty().then_some("")) else {
        return unsupported(
            "only references within the schema are followed (#, #/pointer, #anchor)",
        );
    };
    let Some(fragment) = super::shape::decode_fragment(fragment) else {
        return unsupported("its fragment is not UTF-8 once percent-decoded");
    };
    if fragment.is_empty() || fragment.starts_with('/') {
        return match root.pointer(&fragment) {
            Some(v) => Ok(vec![Target::Value(v)]),
            None => unsupported("it points nowhere in the schema"),
        };
    }
    match anchors.get(fragment.as_ref()) {
        Some(nodes) => Ok(nodes.iter().map(|&n| Target::Node(n)).collect()),
        None => unsupported("no schema has that anchor"),
    }
}

/// Fills `node` with the subschemas of `m` by keyword (`id` numbers each), references aside.
fn walk_keywords<'a>(
    m: &'a serde_json::Map<String, Value>,
    node: &mut Node,
    id: &mut impl FnMut(&'a Value) -> usize,
) {
    for k in ["allOf", "anyOf", "oneOf"] {
        node.same.extend(list(m.get(k)).map(&mut *id));
    }
    for k in ["not", "if", "then", "else"] {
        node.same.extend(one(m.get(k)).map(&mut *id));
    }
    for k in ["dependencies", "dependentSchemas"] {
        node.same.extend(
            map(m.get(k))
                .filter_map(|(_, v)| one(Some(v)))
                .map(&mut *id),
        );
    }
    for (k, v) in map(m.get("properties")) {
        node.properties.insert(k.clone(), id(v));
    }
    node.patterns
        .extend(map(m.get("patternProperties")).map(|(_, v)| id(v)));
    for k in ["additionalProperties", "unevaluatedProperties"] {
        node.additional.extend(one(m.get(k)).map(&mut *id));
    }
    node.names.extend(one(m.get("propertyNames")).map(&mut *id));
    node.tuple.extend(list(m.get("prefixItems")).map(&mut *id));
    match m.get("items") {
        Some(Value::Array(tuple)) => node.tuple.extend(tuple.iter().map(&mut *id)),
        other => node.items.extend(one(other).map(&mut *id)),
    }
    for k in ["additionalItems", "unevaluatedItems"] {
        node.items.extend(one(m.get(k)).map(&mut *id));
    }
    node.contains.extend(one(m.get("contains")).map(&mut *id));
}

/// The schemas in a keyword whose value is a list of them (`anyOf`).
fn list(v: Option<&Value>) -> impl Iterator<Item = &Value> {
    v.and_then(Value::as_array).into_iter().flatten()
}

/// The entries of a keyword whose value maps names to schemas (`properties`).
fn map(v: Option<&Value>) -> impl Iterator<Item = (&String, &Value)> {
    v.and_then(Value::as_object).into_iter().flatten()
}

/// A keyword's value when it is one schema (an object or a boolean).
fn one(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| v.is_object() || v.is_boolean())
}

/// What the walks over the `same` edges need: how often a node may recur on one path, which
/// nodes lead into a cycle, and an order in which every other node comes after the nodes its
/// `same` edges lead to.
struct Order {
    /// How many times node `n` may appear on one path of `same` edges (one value's
    /// validation): 1 outside a cycle; inside one, 1 plus the size of its strongly connected
    /// component. The validator stops a cycle with a guard per (`$ref` target, value) that it
    /// sets only on targets it did not compile inline, so it may go around once more before
    /// the guard is met: between two visits of a node lies a cycle through such a target,
    /// which then stays guarded, and there are at most as many as the component has nodes.
    /// (Where the cycle passes an `anyOf` member, the guarded member often makes the `anyOf`
    /// valid and the second round costs little; not always, so it is counted all the same.)
    cap: Vec<u32>,
    /// Whether a cycle of `same` edges can be reached from the node (the node's own included):
    /// its nodes applied are then walked path by path ([`SameWalk`]).
    reaches_cycle: Vec<bool>,
    /// Every node, each after the nodes its `same` edges lead to (the postorder of the strongly
    /// connected components).
    post: Vec<usize>,
}

/// The order, caps and reach of [`Order`] for `nodes`.
fn same_order(nodes: &[Node]) -> Order {
    let (component, components) = components(nodes);
    let mut cap = vec![1u32; nodes.len()];
    // Components come out successors first.
    let mut reaches_cycle = vec![false; nodes.len()];
    let mut post = Vec::with_capacity(nodes.len());
    for (c, members) in components.iter().enumerate() {
        let cyclic = members.len() > 1 || members.iter().any(|&m| nodes[m].same.contains(&m));
        if cyclic {
            let around = u32::try_from(members.len())
                .unwrap_or(u32::MAX)
                .saturating_add(1);
            for &m in members {
                cap[m] = around;
            }
        }
        let reaches = cyclic
            || members.iter().any(|&m| {
                nodes[m]
                    .same
                    .iter()
                    .any(|&w| component[w] != c && reaches_cycle[w])
            });
        for &m in members {
            reaches_cycle[m] = reaches;
            post.push(m);
        }
    }
    Order {
        cap,
        reaches_cycle,
        post,
    }
}

/// The strongly connected components of the `same` edges: each node's component, and the
/// components, each after those its edges lead to. petgraph's Kosaraju, which is iterative
/// (its Tarjan recurses once per node on a path, and a schema's chain of members may be long).
fn components(nodes: &[Node]) -> (Vec<usize>, Vec<Vec<usize>>) {
    let edges =
        (nodes.iter().enumerate()).flat_map(|(v, node)| node.same.iter().map(move |&w| (v, w)));
    let mut graph = petgraph::graph::DiGraph::<(), (), usize>::from_edges(edges);
    // Nodes without edges, and those after the last one an edge names, are components too.
    while graph.node_count() < nodes.len() {
        graph.add_node(());
    }
    let components: Vec<Vec<usize>> = petgraph::algo::kosaraju_scc(&graph)
        .into_iter()
        .map(|members| members.into_iter().map(|m| m.index()).collect())
        .collect();
    let mut component = vec![0; nodes.len()];
    for (c, members) in components.iter().enumerate() {
        for &m in members {
            component[m] = c;
        }
    }
    (component, components)
}

/// A walk of the `same` edges from one node, path by path, each node appearing on a path at
/// most its [`Order::cap`] times: the nodes the validator applies to one value, as often as it
/// applies them (an over-count where it stops a cycle sooner). Reused between walks.
struct SameWalk {
    /// Appearances of each node on the current path.
    on_path: Vec<u32>,
    /// `Some(n)`: visit `n`; `None`: leave the last node visited.
    stack: Vec<Option<usize>>,
    path: Vec<usize>,
}

impl SameWalk {
    fn new(nodes: usize) -> SameWalk {
        SameWalk {
            on_path: vec![0; nodes],
            stack: Vec::new(),
            path: Vec::new(),
        }
    }

    /// Walks from `start`, calling `visit` for each node visited, each visit taking one from
    /// `budget`; `false` (the walk abandoned) once the budget is spent.
    fn run(
        &mut self,
        nodes: &[Node],
        cap: &[u32],
        start: usize,
        budget: &mut u64,
        mut visit: impl FnMut(usize),
    ) -> bool {
        self.stack.clear();
        self.stack.push(Some(start));
        let mut done = true;
        while let Some(step) = self.stack.pop() {
            let Some(n) = step else {
                if let Some(left) = self.path.pop() {
                    self.on_path[left] -= 1;
                }
                continue;
            };
            if self.on_path[n] >= cap[n] {
                continue;
            }
            if *budget == 0 {
                done = false;
                break;
            }
            *budget -= 1;
            visit(n);
            self.on_path[n] += 1;
            self.path.push(n);
            self.stack.push(None);
            self.stack.extend(nodes[n].same.iter().map(|&m| Some(m)));
        }
        // Leave the path empty for the next walk.
        for n in self.path.drain(..) {
            self.on_path[n] -= 1;
        }
        done
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn planned(schema: Value) -> bool {
        Plan::for_schema(&schema).unwrap().is_some()
    }

    #[test]
    fn only_unions_whose_members_share_what_lies_below_are_counted() {
        // Nothing to count: plain objects, `.nullable()` recursion, tagged variants, a union
        // of many members at one level (at most 64 checks of one value).
        assert!(!planned(
            json!({"type": "object", "properties": {"a": {"type": "string"}}})
        ));
        assert!(!planned(json!({
            "$ref": "#/definitions/N",
            "definitions": {"N": {"type": "object", "properties": {
                "next": {"anyOf": [{"$ref": "#/definitions/N"}, {"type": "null"}]}
            }}}
        })));
        assert!(!planned(json!({
            "$ref": "#/definitions/E",
            "definitions": {"E": {"oneOf": [
                {"type": "object", "properties": {"neg": {"$ref": "#/definitions/E"}}},
                {"type": "object", "properties": {"add": {"type": "array", "items": {"$ref": "#/definitions/E"}}}},
                {"type": "number"}
            ]}}
        })));
        let wide: Vec<Value> = (0..60)
            .map(|i| json!({"properties": {"x": {"minimum": i}}}))
            .collect();
        assert!(!planned(json!({"anyOf": wide})));
        // Counted: two members that both reach the same recursion (2^d checks at depth d),
        // and an intersection of two members sharing the next level, eight levels deep (2^8
        // checks of one value eight levels down, from a schema of 41 nodes).
        let mut defs = serde_json::Map::new();
        for l in 0..8 {
            let next = json!({"$ref": format!("#/definitions/L{}", l + 1)});
            let member = json!({"properties": {"k": next}});
            defs.insert(format!("L{l}"), json!({"allOf": [member.clone(), member]}));
        }
        defs.insert("L8".into(), json!({"type": "string"}));
        assert!(planned(
            json!({"$ref": "#/definitions/L0", "definitions": defs})
        ));
    }

    #[test]
    fn cycles_and_long_chains_of_refs_cost_no_recursion() {
        // `A` is a member of itself: the validator goes around once more, then its guard
        // stops it (two checks of `A` and two of the string, under the limit).
        let cyclic = json!({"$ref": "#/definitions/A", "definitions": {"A": {"anyOf": [
            {"$ref": "#/definitions/A"}, {"type": "string"}
        ]}}});
        assert!(!planned(cyclic));
        // 100,000 `$ref`s in a chain: no stack overflow, and a bounded analysis (past it the
        // schema is counted, and each value may take a check per node).
        let mut defs = serde_json::Map::new();
        for i in 0..100_000 {
            defs.insert(
                format!("D{i}"),
                json!({"$ref": format!("#/definitions/D{}", i + 1)}),
            );
        }
        defs.insert("D100000".into(), json!({"type": "object"}));
        let plan =
            Plan::for_schema(&json!({"$ref": "#/definitions/D0", "definitions": defs})).unwrap();
        assert!(plan.is_none_or(|p| p.check(&json!({"a": [1, 2, {"b": 3}]})).is_ok()));
    }

    #[test]
    fn the_count_stops_at_the_budget() {
        let s = json!({
            "$ref": "#/definitions/T",
            "definitions": {"T": {"anyOf": [
                {"properties": {"k": {"$ref": "#/definitions/T"}}},
                {"properties": {"k": {"$ref": "#/definitions/T"}}}
            ]}}
        });
        let plan = Plan::for_schema(&s).unwrap().unwrap();
        let nested = |levels: usize| {
            let mut v = json!(1);
            for _ in 0..levels {
                v = json!({"k": v});
            }
            v
        };
        assert!(plan.check(&nested(10)).is_ok());
        // About 3 * 2^levels checks: past the budget from 15 levels.
        assert!(plan.check(&nested(13)).is_ok());
        assert_eq!(plan.check(&nested(18)), Err(64 * 19 + BASE_BUDGET));
        assert!(plan.check(&nested(120)).is_err());
        // A wide payload earns a budget of its own: 64 checks per value.
        let wide = Value::Array(vec![json!(0); 10_000]);
        assert!(plan.check(&wide).is_ok());
    }
}
