//! Stage 2: the rules Arvo checks at run time when a contract is built, checked here at
//! compile time, each error at the span of the literal that breaks it. Every check runs, so all
//! mistakes show up in one compile.

use crate::ast::{Contract, Emit, Kind, VersionBody};
use crate::errors::Errors;
use crate::naming;
use arvo_rules::{ORCHESTRATOR_PREFIX, WILDCARD_VERSION};
use std::collections::HashMap;
use syn::Ident;

const EVENT_TYPE_RULE: &str = "event types are at least three dot-separated segments of lowercase letters and digits (pattern ^[a-z0-9]+(\\.[a-z0-9]+)+\\.[a-z0-9]+$), e.g. \"com.example.service\"";

/// Checks the annotated item: a contract is a unit struct without generics.
pub fn check_item(item: &syn::ItemStruct, errors: &mut Errors) {
    if !matches!(item.fields, syn::Fields::Unit) {
        errors.push(
            syn::spanned::Spanned::span(&item.fields),
            format!("#[arvo_contract] goes on a unit struct: write `struct {};` (the contract carries no data)", item.ident),
        );
    }
    if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
        errors.push(
            syn::spanned::Spanned::span(&item.generics),
            "a contract struct cannot have generic parameters: remove them",
        );
    }
}

/// Checks every rule of the contract.
pub fn check(contract: &Contract, errors: &mut Errors) {
    if contract.uri.value.is_empty() || !arvo_rules::validate_uri(&contract.uri.value) {
        errors.push(
            contract.uri.span,
            format!("invalid uri `{}`: the URI must a valid URI string (no spaces or control characters), e.g. \"#/contracts/my/service\"", contract.uri.value),
        );
    }
    if let Some(domain) = &contract.domain
        && !arvo_rules::is_domain(&domain.value)
    {
        {
            errors.push(domain.span, format!("invalid domain `{}`: a domain contains only lowercase letters, numbers and dots, e.g. \"analytics.eu\"", domain.value));
        }
    }
    let accepted = check_kind(&contract.kind, errors);
    check_versions(contract, accepted.as_deref(), errors);
}

/// Checks the contract's type or name; returns the accepted event type when it is valid.
fn check_kind(kind: &Kind, errors: &mut Errors) -> Option<String> {
    match kind {
        Kind::Service { event_type } => {
            if !arvo_rules::is_event_type(&event_type.value) {
                errors.push(
                    event_type.span,
                    format!(
                        "invalid contract type `{}`: {EVENT_TYPE_RULE}",
                        event_type.value
                    ),
                );
                return None;
            }
            if arvo_rules::is_orchestrator_event_type(&event_type.value) {
                errors.push(
                    event_type.span,
                    format!("the accepted type `{}` starts with `{ORCHESTRATOR_PREFIX}`, which is reserved for orchestrators: use `orchestrator = \"<name>\"` to declare an orchestrator contract, or choose another type", event_type.value),
                );
                return None;
            }
            Some(event_type.value.clone())
        }
        Kind::Simple { root_type } => {
            let full = format!("com.{}", root_type.value);
            if !arvo_rules::is_event_type(&full) {
                errors.push(
                    root_type.span,
                    format!("invalid simple contract type `{}`: it yields the event types `{full}` and `evt.{}.success`, and {EVENT_TYPE_RULE}; a simple type needs at least two segments, e.g. \"calc.add\"", root_type.value, root_type.value),
                );
                return None;
            }
            Some(full)
        }
        Kind::Orchestrator { name } => {
            let full = format!("{ORCHESTRATOR_PREFIX}.{}", name.value);
            if !arvo_rules::is_domain(&name.value) || !arvo_rules::is_event_type(&full) {
                errors.push(
                    name.span,
                    format!("invalid orchestrator name `{}`: the name must only contain lowercase alphanumeric characters and dots, with no empty segment (it becomes the event type `{full}`), e.g. \"test.orchestrator\"", name.value),
                );
                return None;
            }
            Some(full)
        }
    }
}

fn check_versions(contract: &Contract, accepted: Option<&str>, errors: &mut Errors) {
    let mut seen: HashMap<&str, ()> = HashMap::new();
    for version in &contract.versions {
        let v = &version.version;
        if !arvo_rules::is_arvo_version(&v.value) {
            errors.push(
                v.span,
                format!("invalid version `{}`: Invalid version format of the semantic version; an Arvo version is MAJOR.MINOR.PATCH with digits only (^\\d+\\.\\d+\\.\\d+$), e.g. \"1.0.0\"", v.value),
            );
        } else if arvo_rules::parse_arvo_version(&v.value).is_none() {
            errors.push(
                v.span,
                format!("invalid version `{}`: a number does not fit in 64 bits; MAJOR, MINOR and PATCH are each at most {}", v.value, u64::MAX),
            );
        } else if v.value == WILDCARD_VERSION {
            errors.push(v.span, format!("the version cannot be '{WILDCARD_VERSION}': it is a reserved version type (the wildcard of system errors); start at \"0.0.1\" or \"1.0.0\""));
        } else if seen.insert(v.value.as_str(), ()).is_some() {
            errors.push(v.span, format!("duplicate version `{}`: each version is declared once; give this one another number or remove it", v.value));
        }
        if let VersionBody::Service { emits, .. } = &version.body {
            check_emits(emits, accepted, &v.value, errors);
        }
    }
}

/// Checks each emitted event once: its type, then its variant name (a name written after `as`
/// is checked for itself; the first of two events with one variant name keeps it).
fn check_emits(emits: &[Emit], accepted: Option<&str>, version: &str, errors: &mut Errors) {
    let mut types: HashMap<&str, ()> = HashMap::new();
    let mut variants: HashMap<String, &Emit> = HashMap::new();
    for emit in emits {
        let t = &emit.event_type;
        let value = t.value.as_str();
        if !arvo_rules::is_event_type(value) {
            errors.push(
                t.span,
                format!("invalid emitted event type `{value}`: {EVENT_TYPE_RULE}"),
            );
            continue;
        }
        if arvo_rules::is_orchestrator_event_type(value) {
            errors.push(
                t.span,
                format!("the emitted event type `{value}` starts with `{ORCHESTRATOR_PREFIX}`, which is reserved for Arvo orchestrators: choose another type (a service reports to an orchestrator with its own event types)"),
            );
            continue;
        }
        if Some(value) == accepted {
            errors.push(t.span, format!("the emitted event type `{value}` is the type the contract accepts: a service cannot emit its own input type (the event would come back to it); use e.g. \"evt.{}.success\"", value.trim_start_matches("com.")));
            continue;
        }
        if types.insert(value, ()).is_some() {
            errors.push(t.span, format!("the event type `{value}` is emitted twice in version {version}: list each emitted type once"));
            continue;
        }
        if let Some(name) = &emit.variant
            && let Some(problem) = naming::variant_name_problem(name)
        {
            errors.push(name.span(), problem);
            continue;
        }
        let Some(variant) = naming::emit_variant_of(emit) else {
            continue;
        };
        if let Some(other) = variants.insert(variant.to_string(), emit) {
            let span = emit.variant.as_ref().map_or(t.span, Ident::span);
            let how = |e: &Emit| match e.variant {
                Some(_) => "named",
                None => "derived from its type",
            };
            let message = if emit.variant.is_none() && other.variant.is_none() {
                format!(
                    "the event types `{}` and `{value}` both map to the enum variant `{variant}`: rename one of them, or name its variant with `\"{value}\" as OtherName = Payload`",
                    other.event_type.value
                )
            } else {
                format!(
                    "the variant `{variant}` ({}) of `{value}` is already the variant ({}) of `{}` in version {version}: each emitted event needs its own variant name",
                    how(emit),
                    how(other),
                    other.event_type.value
                )
            };
            errors.push(span, message);
        }
    }
}
