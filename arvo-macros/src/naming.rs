//! Names of generated items, derived from the user's literals. Every function returns `None`
//! for input that would not make a valid identifier (validation reports those inputs), so no
//! user token can make `Ident::new` panic.

use proc_macro2::{Ident, Span};

/// `"1.10.0"` -> `"1_10_0"`, or `None` when the version does not follow Arvo's rule.
pub fn version_suffix(version: &str) -> Option<String> {
    arvo_rules::is_arvo_version(version).then(|| version.replace('.', "_"))
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
}
