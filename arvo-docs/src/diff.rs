//! What changed between two versions of a contract: events added or removed, and per event,
//! fields added, removed, retyped, made required or optional, redescribed.

use crate::catalogue::{EventDoc, VersionDoc};
use crate::schema::FieldRow;
use std::collections::{HashMap, HashSet};

/// The kind of one change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// The newer version emits (or accepts) an event type the older did not.
    EventAdded,
    /// The newer version no longer emits an event type.
    EventRemoved,
    /// A field appeared.
    FieldAdded,
    /// A field disappeared.
    FieldRemoved,
    /// A field's type changed.
    TypeChanged,
    /// A field became required.
    NowRequired,
    /// A field became optional.
    NowOptional,
    /// A field's description changed.
    DescriptionChanged,
}

impl ChangeKind {
    /// A short text (`field added`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::EventAdded => "event added",
            ChangeKind::EventRemoved => "event removed",
            ChangeKind::FieldAdded => "field added",
            ChangeKind::FieldRemoved => "field removed",
            ChangeKind::TypeChanged => "type changed",
            ChangeKind::NowRequired => "now required",
            ChangeKind::NowOptional => "now optional",
            ChangeKind::DescriptionChanged => "description changed",
        }
    }
}

/// One change between two versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The event type it concerns.
    pub event_type: String,
    /// What changed.
    pub kind: ChangeKind,
    /// The field's path, for field changes.
    pub field: Option<String>,
    /// The value before (a type, a description), when there is one.
    pub before: Option<String>,
    /// The value after.
    pub after: Option<String>,
}

/// The changes from version `from` to version `to` of one contract, accepted event first, then
/// the emitted events in `to`'s order, then those `to` dropped.
///
/// ```
/// use arvo_docs::{Catalogue, diff::{ChangeKind, diff_versions}};
/// use arvo_runtime::contract::{ArvoContract, Schema};
/// use serde_json::json;
/// let v1 = Schema::new(json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}))?;
/// let v2 = Schema::new(json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}, "required": ["a"]}))?;
/// let c = ArvoContract::simple("#/x", "x.do").version("1.0.0", v1.clone(), v1).version("2.0.0", v2.clone(), v2).build()?;
/// let cat = Catalogue::builder("X").contract(&c).build()?;
/// let versions = &cat.contracts()[0].versions;
/// let changes = diff_versions(&versions[0], &versions[1]);
/// assert_eq!(changes[0].kind, ChangeKind::FieldAdded);
/// assert_eq!(changes[0].field.as_deref(), Some("b"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn diff_versions(from: &VersionDoc, to: &VersionDoc) -> Vec<Change> {
    let mut out = Vec::new();
    diff_event(&from.accepts, &to.accepts, &mut out);
    for e in &to.emits {
        match from.emits.iter().find(|f| f.event_type == e.event_type) {
            Some(f) => diff_event(f, e, &mut out),
            None => out.push(Change {
                event_type: e.event_type.clone(),
                kind: ChangeKind::EventAdded,
                field: None,
                before: None,
                after: None,
            }),
        }
    }
    for f in &from.emits {
        if !to.emits.iter().any(|e| e.event_type == f.event_type) {
            out.push(Change {
                event_type: f.event_type.clone(),
                kind: ChangeKind::EventRemoved,
                field: None,
                before: None,
                after: None,
            });
        }
    }
    out
}

fn diff_event(from: &EventDoc, to: &EventDoc, out: &mut Vec<Change>) {
    let change = |kind, row: &FieldRow, before: Option<String>, after: Option<String>| Change {
        event_type: to.event_type.clone(),
        kind,
        field: Some(row.path.clone()),
        before,
        after,
    };
    // Indexed by path (the first row of a path, as two rows may share one: a property named
    // `a.b` and the field `b` of `a`), so that wide tables diff in linear time.
    let mut before: HashMap<&str, &FieldRow> = HashMap::with_capacity(from.rows.len());
    for r in &from.rows {
        before.entry(r.path.as_str()).or_insert(r);
    }
    let after: HashSet<&str> = to.rows.iter().map(|r| r.path.as_str()).collect();
    for row in &to.rows {
        match before.get(row.path.as_str()) {
            None => out.push(change(
                ChangeKind::FieldAdded,
                row,
                None,
                Some(row.type_text.clone()),
            )),
            Some(old) => {
                if old.type_text != row.type_text {
                    out.push(change(
                        ChangeKind::TypeChanged,
                        row,
                        Some(old.type_text.clone()),
                        Some(row.type_text.clone()),
                    ));
                }
                if old.required != row.required {
                    let kind = if row.required {
                        ChangeKind::NowRequired
                    } else {
                        ChangeKind::NowOptional
                    };
                    out.push(change(kind, row, None, None));
                }
                if old.description != row.description {
                    out.push(change(
                        ChangeKind::DescriptionChanged,
                        row,
                        old.description.clone(),
                        row.description.clone(),
                    ));
                }
            }
        }
    }
    for old in &from.rows {
        if !after.contains(old.path.as_str()) {
            out.push(change(
                ChangeKind::FieldRemoved,
                old,
                Some(old.type_text.clone()),
                None,
            ));
        }
    }
}
