//! Names of generated items, derived from the user's literals. Every function returns `None`
//! for input that would not make a valid identifier (validation reports those inputs), so no
//! user token can make `Ident::new` panic.

use crate::ast::Emit;
use proc_macro2::{Ident, Span};

/// The name an identifier gives at run time (a state, a service key, a guard, a key): its text
/// without `r#` (`r#loop` -> `"loop"`), as snapshots, diagrams and messages write it.
pub fn text(ident: &Ident) -> String {
    syn::ext::IdentExt::unraw(ident).to_string()
}

/// `"1.10.0"` -> `"1_10_0"`, or `None` when the version does not follow Arvo's rule or a
/// number does not fit in 64 bits (the runtime could not parse it).
pub fn version_suffix(version: &str) -> Option<String> {
    arvo_rules::parse_arvo_version(version).map(|_| version.replace('.', "_"))
}

/// The marker type of a version: `CalcAdd` + `"1.0.0"` -> `CalcAddV1_0_0`.
pub fn version_marker(contract: &Ident, version: &str) -> Option<Ident> {
    let suffix = version_suffix(version)?;
    // A raw identifier (`r#match`) loses its `r#`: `matchV1_0_0` is an ordinary identifier.
    let contract = syn::ext::IdentExt::unraw(contract);
    Some(Ident::new(&format!("{contract}V{suffix}"), contract.span()))
}

/// The handler method of a version: `"1.0.0"` -> `v1_0_0`.
pub fn version_method(version: &str, span: Span) -> Option<Ident> {
    Some(Ident::new(&format!("v{}", version_suffix(version)?), span))
}

/// The emits enum variant of an event type: `"evt.calc.add.success"` -> `EvtCalcAddSuccess`,
/// `"test.output.0"` -> `TestOutput0`. `None` unless the type passes `is_event_type`.
pub fn emit_variant(event_type: &str, span: Span) -> Option<Ident> {
    if !arvo_rules::is_event_type(event_type) {
        return None;
    }
    let mut name = String::with_capacity(event_type.len());
    for segment in event_type.split('.') {
        let mut chars = segment.chars();
        if let Some(first) = chars.next() {
            name.extend(first.to_uppercase());
            name.push_str(chars.as_str());
        }
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, 'E');
    }
    Some(Ident::new(&name, span))
}

/// The emits enum variant of one emitted event: the name written after `as` when it can be
/// emitted as an identifier (validation reports one that breaks [`variant_name_problem`]'s rules,
/// and it is still generated so the user's uses of it do not fail too), else the name derived
/// from the event type by [`emit_variant`]. The one place every consumer takes the name from.
pub fn emit_variant_of(emit: &Emit) -> Option<Ident> {
    match &emit.variant {
        Some(name) => syn::parse_str::<Ident>(&name.to_string())
            .is_ok()
            .then(|| name.clone()),
        None => emit_variant(&emit.event_type.value, emit.event_type.span),
    }
}

/// Why a variant name written after `as` cannot name an emitted event, or `None` when it can.
pub fn variant_name_problem(name: &Ident) -> Option<String> {
    let text = name.to_string();
    if text == "SystemError" {
        return Some("the variant name `SystemError` is reserved: `service::SystemError` names the service's system error in `#[arvo_machine]` (and `ServiceEvent::SystemError` in a resumable); choose another name, e.g. `Failed`".to_owned());
    }
    if text == "Self" || syn::parse_str::<Ident>(&text).is_err() {
        return Some(format!(
            "`{text}` is a Rust keyword and cannot name a variant; choose another name, e.g. `Done`"
        ));
    }
    if !text.starts_with(|c: char| c.is_uppercase()) {
        let upper = crate::naming::text(name);
        let mut chars = upper.trim_start_matches('_').chars();
        let suggestion: String = chars
            .next()
            .map(|c| c.to_uppercase().chain(chars).collect())
            .unwrap_or_else(|| "Done".to_owned());
        return Some(format!(
            "the variant name `{text}` is not UpperCamelCase: an emits enum variant starts with an uppercase letter, e.g. `{suggestion}`"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let span = Span::call_site();
        let calc = Ident::new("CalcAdd", span);
        assert_eq!(
            version_marker(&calc, "1.10.0")
                .map(|i| i.to_string())
                .as_deref(),
            Some("CalcAddV1_10_0")
        );
        assert_eq!(version_marker(&calc, "1.0"), None);
        let raw = Ident::new_raw("match", span);
        assert_eq!(
            version_marker(&raw, "1.0.0")
                .map(|i| i.to_string())
                .as_deref(),
            Some("matchV1_0_0")
        );
        assert_eq!(
            version_method("0.0.1", span)
                .map(|i| i.to_string())
                .as_deref(),
            Some("v0_0_1")
        );
        let variant = |t| emit_variant(t, span).map(|i| i.to_string());
        assert_eq!(
            variant("evt.calc.add.success").as_deref(),
            Some("EvtCalcAddSuccess")
        );
        assert_eq!(variant("test.output.0").as_deref(), Some("TestOutput0"));
        assert_eq!(variant("0.a.b").as_deref(), Some("E0AB"));
        assert_eq!(variant("Evt.x-y.z"), None);
        assert_eq!(variant("a.b"), None);
    }

    #[test]
    fn chosen_variant_names() {
        let span = Span::call_site();
        let emit = |variant: Option<Ident>| Emit {
            event_type: crate::ast::Spanned {
                value: "evt.order.approval.decision".to_owned(),
                span,
            },
            variant,
            payload: syn::parse_quote!(Decision),
        };
        let name = |e: &Emit| emit_variant_of(e).map(|i| i.to_string());
        assert_eq!(
            name(&emit(None)).as_deref(),
            Some("EvtOrderApprovalDecision")
        );
        let decided = Ident::new("Decided", span);
        assert_eq!(
            name(&emit(Some(decided.clone()))).as_deref(),
            Some("Decided")
        );
        assert_eq!(variant_name_problem(&decided), None);
        // A keyword cannot be generated at all; a reserved or lowercase name is generated (so
        // the user's uses of it resolve) and reported once by validation.
        assert_eq!(name(&emit(Some(Ident::new("match", span)))), None);
        let problem = |n: &str| variant_name_problem(&Ident::new(n, span)).unwrap_or_default();
        assert!(problem("match").contains("Rust keyword"));
        assert!(problem("Self").contains("Rust keyword"));
        assert!(problem("SystemError").contains("reserved"));
        assert!(
            problem("decided").contains("e.g. `Decided`"),
            "{}",
            problem("decided")
        );
        assert!(problem("_x").contains("e.g. `X`"), "{}", problem("_x"));
        assert!(variant_name_problem(&Ident::new_raw("decided", span)).is_some());
    }
}
