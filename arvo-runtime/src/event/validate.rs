//! The reference constructor's checks (spec §1.1/§1.2), in its order, with its messages.

use super::{EventError, ExtensionValue, RESERVED_ATTRIBUTE_NAMES};
use crate::issue::{Issue, IssueKind, Issues};
use arvo_rules::{
    ARVO_DATA_CONTENT_TYPE, is_domain, is_event_type, is_extension_name, is_zod_datetime,
    validate_uri,
};
use serde_json::{Map, Value};

/// A string attribute as received.
#[derive(Clone, Copy)]
pub(crate) enum Field<'a> {
    /// Not present at all (JavaScript `undefined`).
    Missing,
    Null,
    Str(&'a str),
    /// A string produced by `encode_uri` (or equal to its output). It is a properly encoded
    /// URI by construction: `encodeURI`'s output only holds pass-through characters and
    /// upper-case escapes of whole UTF-8 characters, so `encodeURI(decodeURI(s)) === s` holds
    /// (property-tested in `arvo_rules::uri`). Only the URI check is skipped for it; every
    /// other check of the field runs as for [`Field::Str`].
    EncodedUri(&'a str),
    /// A `type` that already passed the `type` checks: an emitted type of a built contract
    /// version, checked with the same rules (`min(1)` and the reverse-DNS pattern) when the
    /// contract was built. Neither check repeats.
    CheckedType(&'a str),
    /// A `time` written by the timestamp formatter in its four-digit-year form, which matches
    /// the datetime pattern by construction: only the type check runs.
    CheckedTime(&'a str),
    /// Present with another JSON type (zod's type name).
    Wrong(&'static str),
}

impl<'a> Field<'a> {
    pub(crate) fn of(v: Option<&'a str>) -> Self {
        v.map_or(Field::Null, Field::Str)
    }

    /// [`Field::of`] for the output of `encode_uri`.
    pub(crate) fn encoded(v: Option<&'a str>) -> Self {
        v.map_or(Field::Null, Field::EncodedUri)
    }
}

/// `executionunits` as received.
#[derive(Clone, Copy)]
pub(crate) enum NumField {
    Missing,
    Null,
    Num(f64),
    Wrong(&'static str),
}

/// The deepest nesting of arrays and objects an event's `data` may have, counting `data`
/// itself. Every way to an event refuses deeper `data` (a validation issue at `data`), so that
/// every event can be read back from its JSON: the readers take no more, with a margin under
/// serde_json's limit of 128 levels for a whole document that keeps an event readable inside
/// a larger one (a workflow record in a durable memory). Not a limit of the reference.
///
/// ```
/// use arvo_runtime::event::{ArvoEvent, MAX_DATA_DEPTH};
/// use serde_json::{Value, json};
///
/// // `data` nesting `depth` levels: itself, then `depth - 1` arrays.
/// let build = |depth: usize| {
///     let inner = (2..depth).fold(json!([0]), |v, _| Value::Array(vec![v]));
///     ArvoEvent::builder()
///         .source("com.example.src")
///         .event_type("com.example.thing")
///         .subject("s-1")
///         .data_json(json!({ "k": inner }))
///         .build()
/// };
/// let deepest = build(MAX_DATA_DEPTH)?;
/// assert_eq!(ArvoEvent::from_json_str(&deepest.to_json_string())?, deepest);
/// assert!(build(MAX_DATA_DEPTH + 1).is_err());
/// # Ok::<(), arvo_runtime::event::EventError>(())
/// ```
pub const MAX_DATA_DEPTH: usize = 100;

/// `data` as received.
#[derive(Clone, Copy)]
pub(crate) enum DataField {
    Missing,
    Object,
    /// An object nested deeper than [`MAX_DATA_DEPTH`].
    TooDeep,
    Wrong(&'static str),
    /// A typed payload whose serialisation failed (the reference's `isJSONSerializable`).
    Unserialisable,
}

impl DataField {
    /// [`DataField::Object`] for `data`, or [`DataField::TooDeep`] when it nests deeper than
    /// [`MAX_DATA_DEPTH`]. The walk stops at that depth, so it recurses no deeper.
    pub(crate) fn object(data: &Map<String, Value>) -> Self {
        fn within(v: &Value, levels: usize) -> bool {
            match v {
                Value::Array(items) => levels > 0 && items.iter().all(|x| within(x, levels - 1)),
                Value::Object(m) => levels > 0 && m.values().all(|x| within(x, levels - 1)),
                _ => true,
            }
        }
        if data.values().all(|v| within(v, MAX_DATA_DEPTH - 1)) {
            DataField::Object
        } else {
            DataField::TooDeep
        }
    }
}

/// A custom extension value as received.
#[derive(Clone, Copy)]
pub(crate) enum ExtRef<'a> {
    Value(&'a ExtensionValue),
    Wrong(&'static str),
}

/// Everything the constructor checks.
pub(crate) struct Check<'a> {
    pub id: Field<'a>,
    pub time: Field<'a>,
    pub source: Field<'a>,
    pub specversion: Field<'a>,
    pub event_type: Field<'a>,
    pub subject: Field<'a>,
    pub datacontenttype: Field<'a>,
    pub dataschema: Field<'a>,
    pub data: DataField,
    pub to: Field<'a>,
    pub accesscontrol: Field<'a>,
    pub redirectto: Field<'a>,
    pub executionunits: NumField,
    pub parentid: Field<'a>,
    pub domain: Field<'a>,
    pub traceparent: Field<'a>,
    pub tracestate: Field<'a>,
}

const DATACONTENTTYPE_MESSAGE: &str = "The content type must be a valid JSON e.g. it must contain\n'application/cloudevents+json' or 'application/json'.\nArvo recommends using 'application/cloudevents+json;charset=UTF-8;profile=arvo'";

/// The extension-key message (the reference's `cleanString` output).
pub(crate) const EXTENSION_KEY_MESSAGE: &str = "In compliance with CloudEvent specs, the extension keys must contain only\nlowercase letters and numbers, with no spaces or other characters";

/// The type check of a (nullable) string field; `Some` when it is a string to check further.
/// A missing nullable field reads as null (tolerance for v2 and CloudEvents-style producers).
fn string<'a>(issues: &mut Issues, path: &str, f: Field<'a>, nullable: bool) -> Option<&'a str> {
    let received = match f {
        Field::Str(s) | Field::EncodedUri(s) | Field::CheckedType(s) | Field::CheckedTime(s) => {
            return Some(s);
        }
        Field::Null | Field::Missing if nullable => return None,
        Field::Missing => "undefined",
        Field::Null => "null",
        Field::Wrong(t) => t,
    };
    issues.push(Issue::invalid_type(&[path], "string", received));
    None
}

fn min1(issues: &mut Issues, path: &str, s: &str, message: &str) {
    if s.is_empty() {
        issues.push(Issue::too_small(&[path], 1, message));
    }
}

/// The `validateURI` refinement; skipped for [`Field::EncodedUri`], which holds by construction.
fn uri(issues: &mut Issues, path: &str, f: Field<'_>, s: &str, message: &str) {
    if !matches!(f, Field::EncodedUri(_)) && !validate_uri(s) {
        issues.push(Issue::custom(&[path], message));
    }
}

fn done(issues: Issues) -> Result<(), EventError> {
    issues.into_result().map_err(EventError::Validation)
}

/// Runs every step of the reference constructor; the first failing step is reported.
pub(crate) fn check<'a>(
    c: &Check<'a>,
    extensions: impl Iterator<Item = (&'a str, ExtRef<'a>)>,
) -> Result<(), EventError> {
    // 1. CloudEvent context, in schema key order.
    let mut issues = Issues::default();
    if let Some(s) = string(&mut issues, "id", c.id, false) {
        min1(&mut issues, "id", s, "ID must be a non-empty string");
    }
    if let Some(s) = string(&mut issues, "time", c.time, false)
        && !matches!(c.time, Field::CheckedTime(_))
        && !is_zod_datetime(s)
    {
        issues.push(Issue::datetime(&["time"]));
    }
    if let Some(s) = string(&mut issues, "source", c.source, false) {
        min1(
            &mut issues,
            "source",
            s,
            "Source must be a non-empty reference of the producer of the event",
        );
        uri(
            &mut issues,
            "source",
            c.source,
            s,
            "The source must be a properly encoded URI",
        );
    }
    if let Some(s) = string(&mut issues, "specversion", c.specversion, false) {
        min1(
            &mut issues,
            "specversion",
            s,
            "Spec version must be a non-empty string",
        );
        if s != super::SPEC_VERSION {
            issues.push(Issue::custom(
                &["specversion"],
                "Spec version must be '1.0' for this version of the specification",
            ));
        }
    }
    if let Some(s) = string(&mut issues, "type", c.event_type, false)
        && !matches!(c.event_type, Field::CheckedType(_))
    {
        min1(&mut issues, "type", s, "Type must be a non-empty string");
        if !is_event_type(s) {
            issues.push(Issue::regex(
                &["type"],
                "Type should be prefixed with a reverse-DNS name",
            ));
        }
    }
    if let Some(s) = string(&mut issues, "subject", c.subject, false) {
        min1(
            &mut issues,
            "subject",
            s,
            "String must contain at least 1 character(s)",
        );
        uri(
            &mut issues,
            "subject",
            c.subject,
            s,
            "The subject must be a properly encoded URI",
        );
    }
    // A missing datacontenttype takes the default (zod `.default()`); null does not.
    let dct = match c.datacontenttype {
        Field::Missing => Field::Str(ARVO_DATA_CONTENT_TYPE),
        f => f,
    };
    if let Some(s) = string(&mut issues, "datacontenttype", dct, false) {
        min1(
            &mut issues,
            "datacontenttype",
            s,
            "Data content type must be a non-empty string",
        );
        // The Arvo content type (the usual value) passes; only other values are searched.
        if s != ARVO_DATA_CONTENT_TYPE
            && !(s.contains("application/cloudevents+json") || s.contains("application/json"))
        {
            issues.push(Issue::custom(&["datacontenttype"], DATACONTENTTYPE_MESSAGE));
        }
    }
    if let Some(s) = string(&mut issues, "dataschema", c.dataschema, true) {
        min1(
            &mut issues,
            "dataschema",
            s,
            "Must be a non-empty string if present.",
        );
        uri(
            &mut issues,
            "dataschema",
            c.dataschema,
            s,
            "The dataschema must be a properly encoded URI",
        );
    }
    done(issues)?;

    // 2. data (its own parse: the path is empty).
    let mut issues = Issues::default();
    match c.data {
        DataField::Object => {}
        DataField::Missing => issues.push(Issue::invalid_type(&[], "object", "undefined")),
        DataField::Wrong(t) => issues.push(Issue::invalid_type(&[], "object", t)),
        DataField::Unserialisable => issues.push(Issue::custom(
            &[],
            "The Arvo data object must be a JSON serializable object",
        )),
        DataField::TooDeep => issues.push(Issue::custom(
            &[],
            format!(
                "The Arvo data object must not nest deeper than {MAX_DATA_DEPTH} arrays and objects"
            ),
        )),
    }
    done(issues)?;

    // 3. Arvo extensions.
    let mut issues = Issues::default();
    if let Some(s) = string(&mut issues, "to", c.to, true) {
        min1(&mut issues, "to", s, "Must be a non empty string");
        uri(
            &mut issues,
            "to",
            c.to,
            s,
            "The 'to' must be a properly encoded URI",
        );
    }
    if let Some(s) = string(&mut issues, "accesscontrol", c.accesscontrol, true) {
        min1(
            &mut issues,
            "accesscontrol",
            s,
            "Must be a non empty string, if defined",
        );
    }
    if let Some(s) = string(&mut issues, "redirectto", c.redirectto, true) {
        min1(
            &mut issues,
            "redirectto",
            s,
            "Must be a non empty string, if defined",
        );
        uri(
            &mut issues,
            "redirectto",
            c.redirectto,
            s,
            "The 'redirectto' must be a properly encoded URI",
        );
    }
    match c.executionunits {
        NumField::Missing | NumField::Null => {}
        NumField::Num(n) if n.is_nan() => {
            issues.push(Issue::invalid_type(&["executionunits"], "number", "nan"))
        }
        NumField::Num(n) if n.is_infinite() => issues.push(Issue::custom(
            &["executionunits"],
            format!(
                "executionunits must be a finite number, received {}",
                js_infinity(n)
            ),
        )),
        NumField::Num(_) => {}
        NumField::Wrong(t) => issues.push(Issue::invalid_type(&["executionunits"], "number", t)),
    }
    if let Some(s) = string(&mut issues, "parentid", c.parentid, true) {
        min1(&mut issues, "parentid", s, "ID must be a non-empty string");
    }
    if let Some(s) = string(&mut issues, "domain", c.domain, true) {
        min1(&mut issues, "domain", s, "Domain must be non-empty string");
        if !is_domain(s) {
            issues.push(Issue::regex(
                &["domain"],
                "Domain must contain only lowercase letters, numbers, and dots",
            ));
        }
    }
    done(issues)?;

    // 4. OpenTelemetry extensions.
    let mut issues = Issues::default();
    for (path, f) in [("traceparent", c.traceparent), ("tracestate", c.tracestate)] {
        if let Some(s) = string(&mut issues, path, f, true) {
            min1(
                &mut issues,
                path,
                s,
                "Must be a non empty string, if defined",
            );
        }
    }
    done(issues)?;

    // 5. Custom extensions: per entry, the key, then the value.
    let mut issues = Issues::default();
    for (key, value) in extensions {
        check_extension(&mut issues, key, value);
    }
    done(issues)?;

    // 6. The "to required" rule, for the Arvo content type only.
    if matches!(dct, Field::Str(ARVO_DATA_CONTENT_TYPE))
        && matches!(
            c.to,
            Field::Null | Field::Missing | Field::Str("") | Field::EncodedUri("")
        )
    {
        return Err(EventError::MissingTo);
    }
    Ok(())
}

fn js_infinity(n: f64) -> &'static str {
    if n > 0.0 { "Infinity" } else { "-Infinity" }
}

fn check_extension(issues: &mut Issues, key: &str, value: ExtRef<'_>) {
    // The key is input: issue paths quote at most a bounded prefix of it.
    let path = &[&*crate::issue::quote_prefix(key)];
    if !is_extension_name(key) {
        issues.push(Issue::regex(path, EXTENSION_KEY_MESSAGE));
    } else if RESERVED_ATTRIBUTE_NAMES.contains(&key) {
        issues.push(Issue::custom(
            path,
            format!("The extension key '{key}' is reserved: it names a CloudEvent, Arvo or OpenTelemetry attribute"),
        ));
    }
    let received = match value {
        ExtRef::Value(ExtensionValue::Number(n)) if n.is_nan() => "nan",
        ExtRef::Value(ExtensionValue::Number(n)) if n.is_infinite() => {
            issues.push(Issue::custom(
                path,
                format!(
                    "Extension values must be finite numbers, received {}",
                    js_infinity(*n)
                ),
            ));
            return;
        }
        ExtRef::Value(_) => return,
        ExtRef::Wrong(t) => t,
    };
    let member = |expected: &str| Issues(vec![Issue::invalid_type(path, expected, received)]);
    issues.push(Issue::new(
        IssueKind::InvalidUnion {
            union_errors: vec![
                member("string"),
                member("boolean"),
                member("number"),
                member("null"),
            ],
        },
        path,
        "Invalid input",
    ));
}
