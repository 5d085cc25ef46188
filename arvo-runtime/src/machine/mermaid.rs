//! Mermaid `stateDiagram-v2` text from a machine's compiled definition.

use std::fmt::Write as _;

use super::model::StateKind;
use super::tree::{Node, Trans, Tree};

/// A Mermaid id for a state: its path with every character outside `[A-Za-z0-9_]` replaced,
/// prefixed so that it never collides with a keyword (see [`ids`] for uniqueness).
fn mermaid_id<C>(n: &Node<C>) -> String {
    let mut id = String::with_capacity(n.path.len() + 2);
    id.push_str("s_");
    for ch in n.path.chars() {
        match ch {
            '.' => id.push_str("__"),
            c if c.is_ascii_alphanumeric() || c == '_' => id.push(c),
            _ => id.push('_'),
        }
    }
    id
}

/// Every state's Mermaid id, in tree order: [`mermaid_id`], with `_<index>` (or a larger
/// number, should a state already have that id too) added to one that an earlier state already
/// has (`a-b` and `a_b`, or `a.b` and `a__b`, would be one state).
fn ids<C>(tree: &Tree<C>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(tree.nodes.len());
    let mut seen = std::collections::HashSet::new();
    for (i, n) in tree.nodes.iter().enumerate() {
        let base = mermaid_id(n);
        let mut id = base.clone();
        let mut suffix = i;
        while !seen.insert(id.clone()) {
            id = format!("{base}_{suffix}");
            suffix += 1;
        }
        out.push(id);
    }
    out
}

/// Label text safe inside a Mermaid transition label or state name.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' | ':' | ';' | '\n' | '\r' | '{' | '}' => ' ',
            c => c,
        })
        .collect()
}

fn label<C>(t: &Trans<C>) -> String {
    let mut s = match &t.event {
        Some(e) => clean(e),
        None => "always".to_owned(),
    };
    match (&t.guard_name, &t.guard) {
        (Some(name), _) => {
            let _ = write!(s, " [{}]", clean(name));
        }
        (None, Some(_)) => s.push_str(" [guarded]"),
        (None, None) => {}
    }
    s
}

/// Renders the machine `machine` as `stateDiagram-v2`.
pub(crate) fn render<C>(machine: &str, tree: &Tree<C>) -> String {
    let mut out = String::with_capacity(64 * tree.nodes.len());
    out.push_str("stateDiagram-v2\n");
    let _ = writeln!(out, "    %% ArvoMachine {}", clean(machine));
    block(tree, &ids(tree), 0, 1, &mut out);
    out
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("    ");
    }
}

/// The contents of state `s` (its children, their transitions), at `depth`.
fn block<C>(tree: &Tree<C>, ids: &[String], s: usize, depth: usize, out: &mut String) {
    let node = &tree.nodes[s];
    let children = &node.children;
    if node.kind == StateKind::Parallel {
        for (i, &c) in children.iter().enumerate() {
            if i > 0 {
                indent(out, depth);
                out.push_str("--\n");
            }
            declare(tree, ids, c, depth, out);
        }
        return;
    }
    if let Some(i) = node.initial {
        indent(out, depth);
        let _ = writeln!(out, "[*] --> {}", ids[i]);
    }
    for &c in children {
        declare(tree, ids, c, depth, out);
    }
}

/// Declares state `c` (label, nested block, note) and its outgoing transitions.
fn declare<C>(tree: &Tree<C>, ids: &[String], c: usize, depth: usize, out: &mut String) {
    let n = &tree.nodes[c];
    let id = &ids[c];
    indent(out, depth);
    let _ = writeln!(out, "state \"{}\" as {id}", clean(&n.key));
    if !n.children.is_empty() || n.kind == StateKind::Parallel {
        indent(out, depth);
        let _ = writeln!(out, "state {id} {{");
        block(tree, ids, c, depth + 1, out);
        indent(out, depth);
        out.push_str("}\n");
    }
    if let Some(d) = &n.description {
        indent(out, depth);
        let _ = writeln!(out, "note right of {id} : {}", clean(d));
    }
    let transitions =
        n.on.iter()
            .flat_map(|(_, v)| v.iter())
            .chain(n.any.iter())
            .chain(n.always.iter());
    for t in transitions {
        let text = label(t);
        if t.targets.is_empty() {
            indent(out, depth);
            let _ = writeln!(out, "{id} --> {id} : {text}");
        }
        for &g in &t.targets {
            indent(out, depth);
            let _ = writeln!(out, "{id} --> {} : {text}", ids[g]);
        }
    }
    if n.kind == StateKind::Final {
        indent(out, depth);
        let _ = writeln!(out, "{id} --> [*]");
    }
}
