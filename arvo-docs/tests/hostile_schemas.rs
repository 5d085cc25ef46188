//! Schemas that are small but would make the docs large or loop: definitions that each use the
//! next several times (exponentially many fields and example values), a branch that leads back
//! to itself, wide unions. Each is documented, or refused with where and why, in bounded space.

mod common;

use arvo_docs::schema::{MAX_EXAMPLE_VALUES, MAX_ROWS, example, field_rows, type_text};
use arvo_docs::{Catalogue, DocsError};
use arvo_runtime::contract::{ArvoContract, Schema};
use serde_json::{Map, Value, json};

/// `depth` definitions; each has `fan` fields of the next one's type (the last: strings).
/// Expanded in full: `fan^depth` leaves.
fn widening(fan: usize, depth: usize, required: bool) -> Value {
    let mut defs = Map::new();
    for level in 0..depth {
        let mut props = Map::new();
        for p in 0..fan {
            let field = if level + 1 < depth {
                json!({"$ref": format!("#/definitions/L{}", level + 1)})
            } else {
                json!({"type": "string"})
            };
            props.insert(format!("f{p}"), field);
        }
        let names: Vec<Value> = if required {
            props.keys().cloned().map(Value::String).collect()
        } else {
            Vec::new()
        };
        defs.insert(
            format!("L{level}"),
            json!({"type": "object", "properties": props, "required": names}),
        );
    }
    json!({"$ref": "#/definitions/L0", "definitions": defs})
}

fn values(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(values).sum::<usize>(),
        Value::Object(m) => 1 + m.values().map(values).sum::<usize>(),
        _ => 1,
    }
}

fn catalogue_of(accepts: Value) -> Result<Catalogue, DocsError> {
    let accepts = Schema::new(accepts).expect("the runtime compiles the schema");
    let ok = Schema::new(json!({"type": "object"})).expect("schema");
    let c = ArvoContract::simple("#/wide", "wide.run")
        .version("1.0.0", accepts, ok)
        .build()
        .expect("contract");
    Catalogue::builder("t").contract(&c).build()
}

#[test]
fn widely_nesting_definitions_give_a_bounded_table_and_example() {
    // 6^12 (two billion) leaves in full; before the bound, this schema exhausted the memory.
    let schema = widening(6, 12, false);
    let rows = field_rows(&schema).expect("rows");
    // Expansion stops at MAX_ROWS; the objects being expanded then list their own fields.
    assert!(rows.len() >= MAX_ROWS, "{}", rows.len());
    assert!(rows.len() <= MAX_ROWS + 12 * 6, "{}", rows.len());
    let collapsed: Vec<&str> = rows
        .iter()
        .filter(|r| r.collapsed)
        .map(|r| r.path.as_str())
        .collect();
    assert!(!collapsed.is_empty());
    // Every collapsed field is an object whose fields do not follow it.
    for (i, r) in rows.iter().enumerate().filter(|(_, r)| r.collapsed) {
        assert!(r.type_text.starts_with('L'), "{}: {}", r.path, r.type_text);
        let next = rows.get(i + 1).map_or("", |n| n.path.as_str());
        assert!(!next.starts_with(&format!("{}.", r.path)), "{next}");
    }
    // Rows before the bound was reached are expanded in full, depth first.
    assert_eq!(rows[0].path, "f0");
    assert_eq!(rows[1].path, "f0.f0");
    assert!(!rows[0].collapsed);

    // The example leaves out optional fields once it is half full, and validates.
    let ex = example(&schema).expect("example");
    let n = values(&ex);
    assert!(n <= MAX_EXAMPLE_VALUES, "{n}");
    assert!(n >= MAX_EXAMPLE_VALUES / 2, "{n}");

    let cat = catalogue_of(schema).expect("documented");
    let page = cat
        .html()
        .into_iter()
        .find(|(path, html)| path.ends_with(".html") && html.contains("<table class=\"fields\">"))
        .expect("a page with the field table")
        .1;
    assert!(
        page.contains(
            "its fields are not listed: the table stops expanding where it would outgrow the schema"
        ),
        "the page says why some fields are not listed"
    );
    assert!(page.len() < 2_000_000, "{} bytes", page.len());
}

#[test]
fn required_fields_that_nest_too_widely_are_refused_with_why() {
    // Every field required: a valid example needs 5^12 values, so none can be generated (the
    // schema's 300-odd values leave the bound at MAX_EXAMPLE_VALUES).
    let err = catalogue_of(widening(5, 12, true)).expect_err("no example fits");
    let msg = err.to_string();
    assert!(matches!(err, DocsError::Schema { .. }), "{err:?}");
    assert!(
        msg.contains(&format!("more than {MAX_EXAMPLE_VALUES} values")) && msg.contains("examples"),
        "{msg}"
    );
    assert!(msg.contains("'com.wide.run'"), "{msg}");

    // Below the bound, the same shape is generated in full and validates: 2^12 leaves.
    let cat = catalogue_of(widening(2, 12, true)).expect("documented");
    let accepts = &cat.contracts()[0].versions[0].accepts;
    assert_eq!(values(&accepts.example), (1 << 13) - 1);
    // Its table (8,190 fields in full) stops expanding at MAX_ROWS.
    assert!(
        (MAX_ROWS..=MAX_ROWS + 24).contains(&accepts.rows.len()),
        "{}",
        accepts.rows.len()
    );
    assert!(accepts.rows.iter().any(|r| r.collapsed));
}

#[test]
fn a_branch_that_leads_back_to_itself_is_documented_without_recursing() {
    // `A` is "any of: A". Following the single branch never reaches an object; it looped (and
    // overflowed the stack) before.
    for defs in [
        json!({"A": {"anyOf": [{"$ref": "#/definitions/A"}]}}),
        json!({"A": {"anyOf": [{"$ref": "#/definitions/B"}, {"type": "null"}]},
               "B": {"oneOf": [{"$ref": "#/definitions/A"}]}}),
    ] {
        let schema = json!({
            "type": "object",
            "properties": {"x": {"$ref": "#/definitions/A"}, "y": {"type": "string"}},
            "required": ["y"],
            "definitions": defs,
        });
        let rows = field_rows(&schema).expect("rows");
        let paths: Vec<&str> = rows.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["x", "y"]);
        assert_eq!(rows[0].type_text, "A");
        // No value of `A` can be generated: the optional `x` is left out, or is the null branch.
        let ex = example(&schema).expect("example");
        assert!(ex.get("x").is_none_or(Value::is_null), "{ex}");
        assert_eq!(ex["y"], "string");
    }
}

#[test]
fn a_wide_union_reads_as_each_distinct_type_once() {
    // 40,000 alternatives, half of them repeated: each type is listed once, in order (with a
    // set; the list it replaced made this about 400 million comparisons).
    let alts: Vec<Value> = (0..40_000).map(|i| json!({"const": i / 2})).collect();
    let text = type_text(&json!({"anyOf": alts}));
    let parts: Vec<&str> = text.split(" | ").collect();
    assert_eq!(parts.len(), 20_000);
    assert_eq!(parts[..3], ["0", "1", "2"]);
}

#[test]
fn nested_arrays_that_must_hold_too_many_items_are_refused() {
    let nested = |levels: usize, min: u64| {
        (0..levels).fold(
            json!({"type": "integer"}),
            |items, _| json!({"type": "array", "items": items, "minItems": min}),
        )
    };
    // 3^10 integers: more than an example may hold.
    let err = example(&nested(10, 3)).expect_err("too many values");
    assert!(err.reason.contains("examples"), "{err:?}");
    assert!(err.pointer.starts_with("#/items"), "{err:?}");
    // 2^10 fit, each array with its two items.
    let ex = example(&nested(10, 2)).expect("example");
    assert_eq!(values(&ex), (1 << 11) - 1);
    let schema = Schema::new(nested(10, 2)).expect("schema");
    assert!(schema.is_valid(&ex));
}

#[test]
fn recursive_types_get_examples_that_validate() {
    // A tree as schemars writes it: `children: Vec<Node>`, `next: Option<Box<Node>>`, and a
    // required self-reference behind an optional field. The recursion stops at an empty array,
    // at `null` or by leaving the optional field out; before, it stopped at `null` inside the
    // array (`children: [null]`), which does not validate, so the catalogue refused the type.
    let schema = json!({
        "type": "object",
        "properties": {"root": {"$ref": "#/definitions/Node"}},
        "required": ["root"],
        "definitions": {
            "Node": {"type": "object", "properties": {
                "name": {"type": "string"},
                "children": {"type": "array", "items": {"$ref": "#/definitions/Node"}},
                "next": {"anyOf": [{"$ref": "#/definitions/Node"}, {"type": "null"}]},
                "pair": {"$ref": "#/definitions/Pair"}
            }, "required": ["name", "children", "next"]},
            "Pair": {"type": "object", "properties": {"left": {"$ref": "#/definitions/Node"}},
                     "required": ["left"]}
        }
    });
    let cat = catalogue_of(schema).expect("documented");
    let ex = &cat.contracts()[0].versions[0].accepts.example;
    assert_eq!(
        *ex,
        json!({"root": {"name": "string", "children": [], "next": null}}),
        "{ex}"
    );

    // A chain of 2,000 optional levels stops at MAX_DEPTH by leaving the field out.
    let mut defs = Map::new();
    for i in 0..2_000 {
        defs.insert(
            format!("D{i}"),
            json!({"type": "object", "properties": {"n": {"$ref": format!("#/definitions/D{}", i + 1)}}}),
        );
    }
    defs.insert("D2000".into(), json!({"type": "string"}));
    let cat =
        catalogue_of(json!({"$ref": "#/definitions/D0", "definitions": defs})).expect("documented");
    let ex = &cat.contracts()[0].versions[0].accepts.example;
    assert!(ex.pointer("/n/n/n").is_some() && values(ex) < 20, "{ex}");
}

/// Writes the AsyncAPI document of `catalogue`.
fn asyncapi(catalogue: &Catalogue) {
    std::hint::black_box(catalogue.asyncapi_json().expect("asyncapi"));
}

/// `n` definitions whose names all read `x____` as component names (`x!$&'`, `x$!&'`, ...),
/// each using the next.
fn alike(n: usize) -> Catalogue {
    let name = |i: usize| format!("x{}", common::punctuation(i, 4));
    let mut defs = Map::new();
    for i in 0..n {
        let next = if i + 1 < n {
            json!({"$ref": format!("#/definitions/{}", name(i + 1))})
        } else {
            json!({"type": "string"})
        };
        defs.insert(
            name(i),
            json!({"type": "object", "properties": {"n": next}}),
        );
    }
    let first = format!("#/definitions/{}", name(0));
    catalogue_of(
        json!({"type": "object", "properties": {"a": {"$ref": first}}, "definitions": defs}),
    )
    .expect("documented")
}

/// Regression: naming components tried `_2`, `_3`, ... from the start for each definition, in
/// a list, so n definitions whose names read alike took n^3 steps (8,000: 110 s); each `$ref`
/// was also looked up in a list of the definitions. 4x the definitions now take about 4x the
/// time; the bound (24x) leaves room for noise while a quadratic naming (16x) or worse fails it
/// in most runs and a cubic one (64x) always.
#[test]
fn definitions_whose_names_read_alike_become_distinct_components_in_linear_time() {
    let (small, big) = (alike(500), alike(2_000));
    let ratio = common::timing::time_ratio(
        "500 and 2,000 definitions",
        3,
        || asyncapi(&small),
        || asyncapi(&big),
    );
    assert!(ratio < 24.0, "4x the definitions took {ratio:.1}x the time");

    // Every definition is its own component, and every `$ref` of the document resolves.
    let doc = big.asyncapi().expect("asyncapi");
    let schemas = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .expect("components");
    let alike_names = schemas.keys().filter(|k| k.starts_with("x____")).count();
    assert_eq!(alike_names, 2_000);
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(refs.len() >= 2_000);
    for r in refs {
        let pointer = r.strip_prefix('#').expect("local");
        assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
    }
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, sub) in m {
                match (k.as_str(), sub) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => collect_refs(sub, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_refs(i, out)),
        _ => {}
    }
}

/// A payload with an optional field `u` of a ring of 12 unions, each of `branches` references
/// to the next, and a required integer `n`.
fn union_ring(branches: usize) -> Value {
    let mut defs = Map::new();
    for level in 0..12 {
        let next = format!("#/definitions/U{}", (level + 1) % 12);
        let alts: Vec<Value> = (0..branches).map(|_| json!({"$ref": next})).collect();
        defs.insert(format!("U{level}"), json!({"anyOf": alts}));
    }
    json!({
        "type": "object",
        "properties": {"u": {"$ref": "#/definitions/U0"}, "n": {"type": "integer"}},
        "required": ["n"],
        "definitions": defs,
    })
}

#[test]
fn unions_whose_branches_all_stop_deep_down_are_given_up_in_bounded_steps() {
    // Every branch stops (a type inside itself), 8^12 of them. Trying the branches one by one
    // must give up within a bounded number of steps.
    let err = example(&union_ring(8)).expect_err("given up");
    assert!(
        err.reason.contains("steps") && err.reason.contains("examples"),
        "{err:?}"
    );
    assert!(err.pointer.starts_with("#/properties/u/anyOf/0"), "{err:?}");

    // With 2 branches per level (4,096 in all) the union is given up within the bound, and the
    // optional field is left out.
    assert_eq!(example(&union_ring(2)).expect("example"), json!({"n": 0}));
}

#[test]
fn a_wide_flat_schema_is_documented_whole() {
    // 30,000 required fields: no reuse, so the table and the example are as large as the
    // schema, and both are whole (the bounds grow with the schema; a fixed 20,000-value bound
    // refused this example).
    let mut props = Map::new();
    let mut required = Vec::new();
    for i in 0..30_000 {
        props.insert(
            format!("f{i}"),
            json!({"type": "object", "properties": {"g": {"type": "string"}}}),
        );
        required.push(Value::String(format!("f{i}")));
    }
    let schema = json!({"type": "object", "properties": props, "required": required});
    let rows = field_rows(&schema).expect("rows");
    assert_eq!(rows.len(), 60_000);
    assert!(rows.iter().all(|r| !r.collapsed));
    let ex = example(&schema).expect("example");
    assert_eq!(ex.as_object().map(Map::len), Some(30_000));
    assert_eq!(ex["f29999"], json!({"g": "string"}));
    assert!(Schema::new(schema).expect("schema").is_valid(&ex));
}
