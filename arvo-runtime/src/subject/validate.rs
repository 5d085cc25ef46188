//! The reference's `ArvoOrchestrationSubjectContentSchema` (zod 3), issue for issue.
//!
//! zod checks the shape keys in schema order (`orchestrator{name, version}`,
//! `execution{id, initiator, domain}`, `meta`), reports every failed check of a string (a
//! `refine` runs even after a failed `regex`), and stops at a value of the wrong type.

use serde_json::Value;

use super::SubjectContent;
use crate::issue::{Issue, Issues, json_type_name};
use crate::rules;

const NAME_REGEX: &str = "Orchestrator name should be prefixed with a reverse-DNS name";
const NAME_SEMICOLON: &str = "Orchestrator name must not contain semicolon";
const VERSION_REGEX: &str = "Invalid version format of the semantic version";
const ID_EMPTY: &str = "ID must be a non-empty string";
const ID_SEMICOLON: &str = "ID must not contain semicolon";
const INITIATOR_REGEX: &str = "Orchestration initiator should be prefixed with a reverse-DNS name";
const INITIATOR_SEMICOLON: &str = "Initiator must not contain semicolon";
const DOMAIN_EMPTY: &str = "The domain must be non-empty string";
const DOMAIN_REGEX: &str = "Domain must contain only lowercase letters, numbers, and dots";

fn name(s: &str, issues: &mut Issues) {
    let path = &["orchestrator", "name"];
    // An event type has no semicolon: look for one only when the regex check failed.
    if !rules::is_event_type(s) {
        issues.push(Issue::regex(path, NAME_REGEX));
        if s.contains(';') {
            issues.push(Issue::custom(path, NAME_SEMICOLON));
        }
    }
}

fn version(s: &str, issues: &mut Issues) {
    if !rules::is_arvo_version(s) {
        issues.push(Issue::regex(&["orchestrator", "version"], VERSION_REGEX));
    }
}

fn id(s: &str, issues: &mut Issues) {
    let path = &["execution", "id"];
    if s.is_empty() {
        issues.push(Issue::too_small(path, 1, ID_EMPTY));
    }
    if s.contains(';') {
        issues.push(Issue::custom(path, ID_SEMICOLON));
    }
}

fn initiator(s: &str, issues: &mut Issues) {
    let path = &["execution", "initiator"];
    // As for `name`: an event type has no semicolon.
    if !rules::is_event_type(s) {
        issues.push(Issue::regex(path, INITIATOR_REGEX));
        if s.contains(';') {
            issues.push(Issue::custom(path, INITIATOR_SEMICOLON));
        }
    }
}

fn domain(d: Option<&str>, issues: &mut Issues) {
    let Some(s) = d else { return };
    let path = &["execution", "domain"];
    if s.is_empty() {
        issues.push(Issue::too_small(path, 1, DOMAIN_EMPTY));
    }
    if !rules::is_domain(s) {
        issues.push(Issue::regex(path, DOMAIN_REGEX));
    }
}

/// Checks typed content (its types are right by construction).
pub(crate) fn content(c: &SubjectContent) -> Issues {
    fields(
        &c.orchestrator.name,
        &c.orchestrator.version,
        &c.execution.id,
        &c.execution.initiator,
        c.execution.domain.as_deref(),
    )
}

/// Checks the string fields of typed content (`meta` is typed: nothing to check), so the
/// canonical reader can check them before it allocates the content.
pub(crate) fn fields(
    orchestrator_name: &str,
    orchestrator_version: &str,
    execution_id: &str,
    execution_initiator: &str,
    execution_domain: Option<&str>,
) -> Issues {
    let mut issues = Issues::default();
    name(orchestrator_name, &mut issues);
    version(orchestrator_version, &mut issues);
    id(execution_id, &mut issues);
    initiator(execution_initiator, &mut issues);
    domain(execution_domain, &mut issues);
    issues
}

/// Checks any JSON value against the schema, types included.
pub(crate) fn value(v: &Value) -> Issues {
    let mut issues = Issues::default();
    let Some(top) = object(v, &[], &mut issues) else {
        return issues;
    };
    if let Some(o) = object_field(top, "orchestrator", &mut issues) {
        if let Some(s) = string(o.get("name"), &["orchestrator", "name"], &mut issues) {
            name(s, &mut issues);
        }
        if let Some(s) = string(o.get("version"), &["orchestrator", "version"], &mut issues) {
            version(s, &mut issues);
        }
    }
    if let Some(e) = object_field(top, "execution", &mut issues) {
        if let Some(s) = string(e.get("id"), &["execution", "id"], &mut issues) {
            id(s, &mut issues);
        }
        if let Some(s) = string(e.get("initiator"), &["execution", "initiator"], &mut issues) {
            initiator(s, &mut issues);
        }
        match e.get("domain") {
            Some(Value::Null) => {}
            d => {
                if let Some(s) = string(d, &["execution", "domain"], &mut issues) {
                    domain(Some(s), &mut issues);
                }
            }
        }
    }
    if let Some(m) = object_field(top, "meta", &mut issues) {
        for (k, v) in m {
            if !v.is_string() {
                issues.push(Issue::invalid_type(
                    &["meta", &crate::issue::quote_prefix(k)],
                    "string",
                    json_type_name(v),
                ));
            }
        }
    }
    issues
}

/// A required object under `key` of `top`.
fn object_field<'a>(
    top: &'a serde_json::Map<String, Value>,
    key: &str,
    issues: &mut Issues,
) -> Option<&'a serde_json::Map<String, Value>> {
    match top.get(key) {
        Some(v) => object(v, &[key], issues),
        None => {
            issues.push(Issue::invalid_type(&[key], "object", "undefined"));
            None
        }
    }
}

fn object<'a>(
    v: &'a Value,
    path: &[&str],
    issues: &mut Issues,
) -> Option<&'a serde_json::Map<String, Value>> {
    match v {
        Value::Object(m) => Some(m),
        other => {
            issues.push(Issue::invalid_type(path, "object", json_type_name(other)));
            None
        }
    }
}

fn string<'a>(v: Option<&'a Value>, path: &[&str], issues: &mut Issues) -> Option<&'a str> {
    match v {
        Some(Value::String(s)) => Some(s),
        Some(other) => {
            issues.push(Issue::invalid_type(path, "string", json_type_name(other)));
            None
        }
        None => {
            issues.push(Issue::invalid_type(path, "string", "undefined"));
            None
        }
    }
}
