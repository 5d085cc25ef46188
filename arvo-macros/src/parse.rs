//! Stage 1: attribute tokens -> [`RawArgs`] (syntax only, every key checked against the list of
//! valid keys), then [`lower`] -> [`Contract`] (which keys fit which contract kind).
//!
//! Parsing never stops at the first mistake: a bad value is reported at its span, the parser
//! skips to the next `,` and carries on, so one compile shows every error. The grammar is hand
//! written over `ParseStream` (keys via `Ident::parse_any`, so the keyword `type` is a key).

use crate::ast::{Contract, Emit, Kind, MetaEntry, MetaValue, Spanned, Version, VersionBody};
use crate::errors::Errors;
use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Ident, Lit, LitStr, Path, Token, Type};

/// Keys accepted at the top level of `#[arvo_contract(...)]`.
pub const TOP_KEYS: &str =
    "uri, type, simple, orchestrator, description, domain, metadata, version, crate";
/// Keys accepted inside `version("x.y.z", ...)`.
pub const VERSION_KEYS: &str =
    "accepts, emits (service and simple contracts), init, complete (orchestrator contracts)";

/// Type of an `emits` value as written: `emits("t" = T, ...)` or `emits = T`.
#[derive(Debug)]
pub enum RawEmits {
    List(Vec<Emit>),
    Single(Box<Type>),
}

/// One `version(...)` as written.
#[derive(Debug)]
pub struct RawVersion {
    /// Span of the `version` key (for "missing ..." errors).
    pub span: Span,
    pub version: Option<Spanned<String>>,
    pub accepts: Option<(Span, Type)>,
    pub emits: Option<(Span, RawEmits)>,
    pub init: Option<(Span, Type)>,
    pub complete: Option<(Span, Type)>,
}

/// The attribute as written, each key at most once.
#[derive(Debug, Default)]
pub struct RawArgs {
    pub uri: Option<Spanned<String>>,
    pub ty: Option<Spanned<String>>,
    pub simple: Option<Span>,
    pub orchestrator: Option<Spanned<String>>,
    pub description: Option<Spanned<String>>,
    pub domain: Option<Spanned<String>>,
    pub metadata: Option<Vec<MetaEntry>>,
    pub versions: Vec<RawVersion>,
    pub krate: Option<Path>,
    /// Every top-level key written, even with a malformed value (so a bad value is not also
    /// reported as a missing key).
    pub written: Vec<String>,
}

/// Parses the attribute arguments. Syntax errors are recorded in `errors`; what could be read
/// is returned.
pub fn parse_args(tokens: TokenStream, errors: &mut Errors) -> RawArgs {
    let mut raw = RawArgs::default();
    let parser = |input: ParseStream<'_>| {
        parse_list(input, errors, |input, key, errors| {
            parse_top(input, key, &mut raw, errors)
        });
        Ok(())
    };
    if let Err(e) = parser.parse2(tokens) {
        errors.add(e);
    }
    raw
}

/// Parses `key [= value | (list)]` items separated by commas, handing each key to `item`.
/// A failing item is reported and skipped up to the next comma.
fn parse_list(
    input: ParseStream<'_>,
    errors: &mut Errors,
    mut item: impl FnMut(ParseStream<'_>, Ident, &mut Errors) -> syn::Result<()>,
) {
    while !input.is_empty() {
        let result = match Ident::parse_any(input) {
            Ok(key) => item(input, key, errors),
            Err(_) => Err(input.error("expected a key (an identifier such as `uri`)")),
        };
        if let Err(e) = result {
            errors.add(e);
            skip_to_comma(input);
        }
        if input.is_empty() {
            break;
        }
        if input.parse::<Token![,]>().is_err() {
            errors.add(input.error("expected `,` between arguments"));
            return;
        }
    }
}

/// Drops tokens up to (not including) the next comma at this nesting level.
fn skip_to_comma(input: ParseStream<'_>) {
    while !input.is_empty() && !input.peek(Token![,]) {
        if input.parse::<proc_macro2::TokenTree>().is_err() {
            return;
        }
    }
}

fn set_once<T>(slot: &mut Option<T>, value: T, key: &Ident) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(
            key.span(),
            format!("`{key}` set multiple times"),
        ));
    }
    *slot = Some(value);
    Ok(())
}

fn parse_str_value(
    input: ParseStream<'_>,
    key: &Ident,
    example: &str,
) -> syn::Result<Spanned<String>> {
    let eq: syn::Result<Token![=]> = input.parse();
    if eq.is_err() || !input.peek(LitStr) {
        let span = if eq.is_err() {
            key.span()
        } else {
            input.span()
        };
        return Err(syn::Error::new(
            span,
            format!("`{key}` expects a string literal, e.g. `{key} = \"{example}\"`"),
        ));
    }
    let lit: LitStr = input.parse()?;
    Ok(Spanned::from_lit(&lit))
}

fn parse_type_value(input: ParseStream<'_>, key: &Ident) -> syn::Result<(Span, Type)> {
    if input.parse::<Token![=]>().is_err() {
        return Err(syn::Error::new(
            key.span(),
            format!("`{key}` expects a payload type, e.g. `{key} = MyPayload`"),
        ));
    }
    let ty: Type = input.parse()?;
    Ok((key.span(), ty))
}

fn parse_top(
    input: ParseStream<'_>,
    key: Ident,
    raw: &mut RawArgs,
    errors: &mut Errors,
) -> syn::Result<()> {
    raw.written.push(key.to_string());
    match key.to_string().as_str() {
        "uri" => set_once(
            &mut raw.uri,
            parse_str_value(input, &key, "#/contracts/my/service")?,
            &key,
        ),
        "type" => set_once(
            &mut raw.ty,
            parse_str_value(input, &key, "com.example.service")?,
            &key,
        ),
        "orchestrator" => set_once(
            &mut raw.orchestrator,
            parse_str_value(input, &key, "my.workflow")?,
            &key,
        ),
        "description" => set_once(
            &mut raw.description,
            parse_str_value(input, &key, "What it does")?,
            &key,
        ),
        "domain" => set_once(
            &mut raw.domain,
            parse_str_value(input, &key, "analytics")?,
            &key,
        ),
        "simple" => {
            if !input.is_empty() && !input.peek(Token![,]) {
                return Err(input.error("`simple` is a flag and takes no value: write `simple,`"));
            }
            set_once(&mut raw.simple, key.span(), &key)
        }
        "crate" => {
            let path = parse_str_value(input, &key, "::arvo_runtime")?;
            let path = syn::parse_str::<Path>(&path.value).map_err(|_| {
                syn::Error::new(
                    path.span,
                    format!(
                        "`crate` expects a path to the arvo runtime crate, found `{}`",
                        path.value
                    ),
                )
            })?;
            set_once(&mut raw.krate, path, &key)
        }
        "metadata" => {
            let content;
            syn::parenthesized!(content in input);
            let mut entries: Vec<MetaEntry> = Vec::new();
            parse_list(&content, errors, |input, key, _| {
                let entry = parse_meta_entry(input, key)?;
                if entries.iter().any(|e| e.key.value == entry.key.value) {
                    return Err(syn::Error::new(
                        entry.key.span,
                        format!("metadata key `{}` set multiple times", entry.key.value),
                    ));
                }
                entries.push(entry);
                Ok(())
            });
            set_once(&mut raw.metadata, entries, &key)
        }
        "version" => {
            let content;
            syn::parenthesized!(content in input);
            let version = parse_version(&content, key.span(), errors);
            raw.versions.push(version);
            Ok(())
        }
        other => Err(syn::Error::new(
            key.span(),
            format!("unknown key `{other}` in #[arvo_contract]; valid keys are: {TOP_KEYS}"),
        )),
    }
}

fn parse_meta_entry(input: ParseStream<'_>, key: Ident) -> syn::Result<MetaEntry> {
    let key = Spanned {
        value: crate::naming::text(&key),
        span: key.span(),
    };
    let bad = |span| {
        syn::Error::new(
            span,
            "metadata values are string, number or bool literals, e.g. `owner = \"team-a\"`, `tier = 1`",
        )
    };
    if input.parse::<Token![=]>().is_err() {
        return Err(bad(key.span));
    }
    let negative = input.parse::<Option<Token![-]>>()?.is_some();
    let lit: Lit = input.parse().map_err(|e| bad(e.span()))?;
    let value = match (&lit, negative) {
        (Lit::Str(s), false) => MetaValue::Str(s.value()),
        (Lit::Bool(b), false) => MetaValue::Bool(b.value),
        (Lit::Int(i), _) => MetaValue::Number(format!(
            "{}{}",
            if negative { "-" } else { "" },
            i.base10_digits()
        )),
        (Lit::Float(f), _) => MetaValue::Number(format!(
            "{}{}",
            if negative { "-" } else { "" },
            f.base10_digits()
        )),
        _ => return Err(bad(lit.span())),
    };
    Ok(MetaEntry { key, value })
}

fn parse_version(input: ParseStream<'_>, span: Span, errors: &mut Errors) -> RawVersion {
    let mut v = RawVersion {
        span,
        version: None,
        accepts: None,
        emits: None,
        init: None,
        complete: None,
    };
    if input.peek(LitStr) {
        if let Ok(lit) = input.parse::<LitStr>() {
            v.version = Some(Spanned::from_lit(&lit));
        }
        if !input.is_empty() && input.parse::<Token![,]>().is_err() {
            errors.add(input.error("expected `,` after the version string"));
            return v;
        }
    } else {
        errors.push(
            span,
            "a version starts with its number as a string: `version(\"1.0.0\", ...)`",
        );
    }
    parse_list(input, errors, |input, key, errors| {
        match key.to_string().as_str() {
            "accepts" => set_once(&mut v.accepts, parse_type_value(input, &key)?, &key),
            "init" => set_once(&mut v.init, parse_type_value(input, &key)?, &key),
            "complete" => set_once(&mut v.complete, parse_type_value(input, &key)?, &key),
            "emits" => {
                let emits = if input.peek(syn::token::Paren) {
                    let content;
                    syn::parenthesized!(content in input);
                    let mut list = Vec::new();
                    parse_emit_list(&content, errors, &mut list);
                    RawEmits::List(list)
                } else {
                    RawEmits::Single(Box::new(parse_type_value(input, &key)?.1))
                };
                set_once(&mut v.emits, (key.span(), emits), &key)
            }
            other => Err(syn::Error::new(
                key.span(),
                format!("unknown key `{other}` in version(...); valid keys are: {VERSION_KEYS}"),
            )),
        }
    });
    v
}

/// `"evt.a.b" = Payload, "evt.a.c" as Variant = Payload, ...`; the keys are string literals
/// because event types contain dots. The variant name after `as` is read as any identifier
/// (keywords included), so validation can explain why a name is refused.
fn parse_emit_list(input: ParseStream<'_>, errors: &mut Errors, list: &mut Vec<Emit>) {
    while !input.is_empty() {
        let item = (|| -> syn::Result<Emit> {
            let lit: LitStr = input.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "expected an emitted event: `\"evt.example.done\" = Payload` (or `\"evt.example.done\" as Done = Payload` to name its variant)",
                )
            })?;
            let variant = match input.parse::<Option<Token![as]>>()? {
                Some(as_token) => Some(Ident::parse_any(input).map_err(|_| {
                    syn::Error::new(
                        if input.is_empty() { as_token.span } else { input.span() },
                        "expected the variant name after `as`, e.g. `\"evt.example.done\" as Done = Payload`",
                    )
                })?),
                None => None,
            };
            if input.parse::<Token![=]>().is_err() {
                let span = variant.as_ref().map_or_else(|| lit.span(), Ident::span);
                return Err(syn::Error::new(
                    span,
                    "expected `= Payload` after the event type (`\"evt.example.done\" = Payload` or `\"evt.example.done\" as Done = Payload`)",
                ));
            }
            let payload: Type = input.parse()?;
            Ok(Emit {
                event_type: Spanned::from_lit(&lit),
                variant,
                payload,
            })
        })();
        match item {
            Ok(emit) => list.push(emit),
            Err(e) => {
                errors.add(e);
                skip_to_comma(input);
            }
        }
        if input.is_empty() {
            break;
        }
        if input.parse::<Token![,]>().is_err() {
            errors.add(input.error("expected `,` between emitted events"));
            return;
        }
    }
}

/// Placeholder used when a required string is missing, so expansion can go on (the error is
/// already recorded).
fn placeholder(value: &str) -> Spanned<String> {
    Spanned {
        value: value.to_owned(),
        span: Span::call_site(),
    }
}

/// Stage 1b: decides the contract kind and checks that each key fits it. Missing required
/// keys are reported at the attribute; placeholders keep the model complete.
pub fn lower(raw: RawArgs, ident: &Ident, vis: &syn::Visibility, errors: &mut Errors) -> Contract {
    let written = |key: &str| raw.written.iter().any(|k| k == key);
    let (type_written, uri_written) = (written("type") || written("orchestrator"), written("uri"));
    let kind = match (raw.orchestrator, raw.ty, raw.simple) {
        (Some(name), ty, simple) => {
            if let Some(ty) = ty {
                errors.push(ty.span, "an orchestrator contract takes no `type`: its type is `arvo.orc.<orchestrator>`; remove `type = ...`");
            }
            if let Some(span) = simple {
                errors.push(
                    span,
                    "`simple` and `orchestrator` cannot be combined; remove one",
                );
            }
            Kind::Orchestrator { name }
        }
        (None, Some(root_type), Some(_)) => Kind::Simple { root_type },
        (None, Some(event_type), None) => Kind::Service { event_type },
        (None, None, simple) => {
            if !type_written {
                errors.push(
                Span::call_site(),
                "missing `type = \"...\"`: the event type this service accepts, e.g. `type = \"com.example.service\"` (or `orchestrator = \"name\"` for an orchestrator contract)",
                );
            }
            match simple {
                Some(_) => Kind::Simple {
                    root_type: placeholder("invalid.type"),
                },
                None => Kind::Service {
                    event_type: placeholder("invalid.invalid.type"),
                },
            }
        }
    };
    let uri = raw.uri.unwrap_or_else(|| {
        if !uri_written {
            errors.push(Span::call_site(), "missing `uri = \"...\"`: every contract needs a URI, e.g. `uri = \"#/contracts/my/service\"`");
        }
        placeholder("#/invalid")
    });
    if raw.versions.is_empty() && !written("version") {
        errors.push(
            Span::call_site(),
            match kind {
                Kind::Orchestrator { .. } => "a contract must have at least one version: add `version(\"1.0.0\", init = Init, complete = Done)`",
                Kind::Simple { .. } => "a contract must have at least one version: add `version(\"1.0.0\", accepts = Input, emits = Output)`",
                Kind::Service { .. } => "a contract must have at least one version: add `version(\"1.0.0\", accepts = Input, emits(\"evt.example.done\" = Output))`",
            },
        );
    }
    let versions = raw
        .versions
        .into_iter()
        .filter_map(|v| lower_version(v, &kind, errors))
        .collect();
    Contract {
        ident: ident.clone(),
        vis: vis.clone(),
        uri,
        kind,
        description: raw.description,
        domain: raw.domain,
        metadata: raw.metadata.unwrap_or_default(),
        versions,
        krate: raw
            .krate
            .unwrap_or_else(|| syn::parse_quote!(::arvo_runtime)),
    }
}

fn lower_version(v: RawVersion, kind: &Kind, errors: &mut Errors) -> Option<Version> {
    let RawVersion {
        span,
        version,
        accepts,
        emits,
        init,
        complete,
    } = v;
    let misplaced = |errors: &mut Errors, slot: Option<Span>, key: &str, hint: &str| {
        if let Some(span) = slot {
            errors.push(
                span,
                format!("`{key}` does not belong in this contract's versions: {hint}"),
            );
        }
    };
    let missing = |errors: &mut Errors, key: &str, example: &str| {
        errors.push(
            span,
            format!("missing `{key}` in version(...): add `{example}`"),
        );
    };
    let body = match kind {
        Kind::Orchestrator { .. } => {
            let hint = "an orchestrator version declares `init = Init, complete = Done`";
            misplaced(errors, accepts.as_ref().map(|a| a.0), "accepts", hint);
            misplaced(errors, emits.as_ref().map(|e| e.0), "emits", hint);
            let (init, complete) = (init.map(|t| t.1), complete.map(|t| t.1));
            if init.is_none() {
                missing(errors, "init", "init = InitPayload");
            }
            if complete.is_none() {
                missing(errors, "complete", "complete = CompletePayload");
            }
            VersionBody::Orchestrator {
                init: init?,
                complete: complete?,
            }
        }
        Kind::Simple { .. } | Kind::Service { .. } => {
            let simple = matches!(kind, Kind::Simple { .. });
            let hint = "`init`/`complete` are for orchestrator contracts (`orchestrator = \"name\"`); a service version declares `accepts` and `emits`";
            misplaced(errors, init.as_ref().map(|a| a.0), "init", hint);
            misplaced(errors, complete.as_ref().map(|a| a.0), "complete", hint);
            let accepts = accepts.map(|t| t.1);
            if accepts.is_none() {
                missing(errors, "accepts", "accepts = InputPayload");
            }
            match (simple, emits) {
                (true, Some((_, RawEmits::Single(ty)))) => VersionBody::Simple {
                    accepts: accepts?,
                    emits: *ty,
                },
                (true, Some((span, RawEmits::List(_)))) => {
                    errors.push(span, "a simple contract emits exactly one payload, `evt.<type>.success`: write `emits = Output`");
                    return None;
                }
                (true, None) => {
                    missing(errors, "emits", "emits = OutputPayload");
                    return None;
                }
                (false, Some((_, RawEmits::List(list)))) => VersionBody::Service {
                    accepts: accepts?,
                    emits: list,
                },
                (false, Some((span, RawEmits::Single(_)))) => {
                    errors.push(span, "a service contract names each emitted event: write `emits(\"evt.example.done\" = Output)` (or add `simple` for a simple contract)");
                    return None;
                }
                (false, None) => VersionBody::Service {
                    accepts: accepts?,
                    emits: Vec::new(),
                },
            }
        }
    };
    Some(Version {
        version: version?,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parse(tokens: TokenStream) -> (RawArgs, Option<syn::Error>) {
        let mut errors = Errors::default();
        let raw = parse_args(tokens, &mut errors);
        (raw, errors.into_error())
    }

    #[test]
    fn reads_every_key() {
        let (raw, err) = parse(quote!(
            uri = "#/x", type = "com.x.y", description = "d", domain = "dom", crate = "::arvo",
            metadata(owner = "a", tier = 1, neg = -2.5, on = true),
            version("1.0.0", accepts = A, emits("evt.x.done" = B, "evt.x.fail" as Failed = Vec<C>)),
        ));
        assert!(err.is_none(), "{err:?}");
        assert_eq!(raw.uri.map(|u| u.value).as_deref(), Some("#/x"));
        assert_eq!(raw.ty.map(|u| u.value).as_deref(), Some("com.x.y"));
        let meta = raw.metadata.unwrap_or_default();
        assert_eq!(meta.len(), 4);
        assert!(matches!(&meta[2].value, MetaValue::Number(n) if n == "-2.5"));
        assert_eq!(raw.versions.len(), 1);
        let Some((_, RawEmits::List(list))) = &raw.versions[0].emits else {
            panic!("emits is a list: {:?}", raw.versions[0].emits);
        };
        let names: Vec<Option<String>> = list
            .iter()
            .map(|e| e.variant.as_ref().map(|v| v.to_string()))
            .collect();
        assert_eq!(names, [None, Some("Failed".to_owned())]);
    }

    #[test]
    fn collects_several_errors_and_keeps_going() {
        let (raw, err) = parse(
            quote!(uri = 1, colour = "red", type = "com.x.y", type = "com.x.z", version("1.0.0", accepts = A)),
        );
        let messages: Vec<String> = err
            .into_iter()
            .flat_map(|e| e.into_iter().map(|e| e.to_string()))
            .collect();
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert!(messages[0].contains("`uri` expects a string literal"));
        assert!(messages[1].contains("unknown key `colour`") && messages[1].contains(TOP_KEYS));
        assert!(messages[2].contains("`type` set multiple times"));
        assert_eq!(raw.versions.len(), 1, "parsing continued after the errors");
    }

    #[test]
    fn garbage_does_not_panic() {
        for tokens in [
            quote!(,,,),
            quote!("x"),
            quote!(version),
            quote!(version(1)),
            quote!(metadata(= 1)),
            quote!(version("1.0.0", emits("a" B))),
            quote!(version("1.0.0", emits("a" as = B))),
            quote!(version("1.0.0", emits("a" as "B" = B))),
            quote!(version("1.0.0", emits("a" as))),
            quote!(version("1.0.0", emits("a" as X B))),
        ] {
            let (_, err) = parse(tokens);
            assert!(err.is_some());
        }
    }
}
