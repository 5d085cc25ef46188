//! Documentation of hostile payload schemas: a contract whose accepted event has the schema (in
//! two versions, so that they are also diffed) is put in a `Catalogue`, which builds or is
//! refused with an error, and when it builds its HTML pages and AsyncAPI document are written,
//! all without a panic and in bounded size.
//!
//! An input is either raw JSON (a first byte `{`; its second version is a plain object), or two
//! recipes (the halves of the bytes), each spelling out a schema of up to 8 definitions that
//! reference one another: objects with fields of other definitions' types (required or not),
//! `anyOf` / `oneOf` / `allOf` of references, arrays of a definition, nullable references,
//! leaves with formats and bounds. Such graphs, with cycles and with definitions used many
//! times over, are what made tables and examples exponentially large and an `anyOf` that leads
//! back to itself recurse without end; raw JSON rarely spells them.
//!
//! Properties, besides not panicking: a field table has at most `MAX_ROWS` rows (or the
//! schema's size, if larger) plus what the objects being expanded at that moment list (each at
//! most the schema's widest object, at most `MAX_DEPTH` of them); an example holds at most
//! `MAX_EXAMPLE_VALUES` values (or twice the schema's size) plus the last value added (itself
//! bounded by the schema's size).
#![no_main]

use arvo_docs::Catalogue;
use arvo_docs::schema::{MAX_DEPTH, MAX_EXAMPLE_VALUES, MAX_ROWS};
use arvo_runtime::contract::{ArvoContract, Schema};
use serde_json::{Map, Value, json};

#[path = "bytes.rs"]
mod bytes;
#[path = "recipe.rs"]
mod recipe;
use recipe::recipe;

/// The widest object of a schema: how many properties it lists.
fn widest(v: &Value) -> usize {
    match v {
        Value::Object(m) => {
            let own = m
                .get("properties")
                .and_then(Value::as_object)
                .map_or(0, Map::len);
            m.values().map(widest).max().unwrap_or(0).max(own)
        }
        Value::Array(items) => items.iter().map(widest).max().unwrap_or(0),
        _ => 0,
    }
}

fn values(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(values).sum::<usize>(),
        Value::Object(m) => 1 + m.values().map(values).sum::<usize>(),
        _ => 1,
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // Two versions of the accepted schema, so that the catalogue also diffs them: raw JSON and
    // a plain object, or two recipes from the two halves of the bytes.
    let (first, second) = if data.first() == Some(&b'{') {
        match serde_json::from_slice::<Value>(data) {
            Ok(v) => (v, json!({"type": "object"})),
            Err(_) => return,
        }
    } else {
        let (a, b) = data.split_at(data.len() / 2);
        (recipe(a), recipe(b))
    };
    let wide = widest(&first).max(widest(&second));
    let size = values(&first).max(values(&second));
    let (Ok(v1), Ok(v2), Ok(ok)) = (
        Schema::new(first),
        Schema::new(second),
        Schema::new(json!({"type": "object"})),
    ) else {
        return;
    };
    let Ok(contract) = ArvoContract::simple("#/fuzz", "fuzz.run")
        .version("1.0.0", v1, ok.clone())
        .version("2.0.0", v2, ok)
        .build()
    else {
        return;
    };
    let Ok(catalogue) = Catalogue::builder("fuzz").contract(&contract).build() else {
        return;
    };
    for c in catalogue.contracts() {
        for v in &c.versions {
            let e = &v.accepts;
            assert!(
                e.rows.len() <= MAX_ROWS.max(size) + MAX_DEPTH * wide,
                "{} rows (widest object {wide})",
                e.rows.len()
            );
            let n = values(&e.example);
            assert!(
                n <= MAX_EXAMPLE_VALUES.max(2 * size) + size,
                "an example of {n} values"
            );
        }
    }
    let pages = catalogue.html();
    assert!(!pages.is_empty());
    let _ = catalogue.asyncapi_json();
});
