//! Schemas that are small but would make the docs large or loop: definitions that each use the
//! next several times (exponentially many fields and example values), a branch that leads back
//! to itself, wide unions. Each is documented, or refused with where and why, in bounded space.

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
        page.contains("its fields are not listed: the table stops expanding at 1000 rows"),
        "the page says why some fields are not listed"
    );
    assert!(page.len() < 2_000_000, "{} bytes", page.len());
}

#[test]
fn required_fields_that_nest_too_widely_are_refused_with_why() {
    // Every field required: a valid example needs 5^12 values, so none can be generated.
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
        assert_eq!(example(&schema).expect("example")["x"], Value::Null);
    }
}

#[test]
fn a_wide_union_reads_as_each_distinct_type_once() {
    // 40,000 alternatives, half of them repeated: deduplicated in linear time.
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
