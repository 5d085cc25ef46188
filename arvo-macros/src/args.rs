//! The attribute arguments shared by `#[arvo_handler]`, `#[arvo_resumable]` and
//! `#[arvo_machine]`, parsed in one place: each macro names the keys it accepts ([`Key`]), and
//! [`parse_args`] collects every error (an unknown key, one key set twice, a bad value) at its
//! token. Also here: `services(key = Version, ..)`, the version marker next to a contract, the
//! self type's name of an annotated impl block, and two checks of the annotated item that every
//! macro makes ([`not_unsafe`], [`applied_twice`]).

use crate::errors::Errors;
use crate::naming;
use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::parse::Parser as _;
use syn::spanned::Spanned as _;
use syn::{Ident, LitBool, LitStr, Path, Token, Type};

/// One key of an attribute's arguments.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    /// `contract = Path`.
    Contract,
    /// `version = "x.y.z"`.
    Version,
    /// `context = Type`.
    Context,
    /// `services(key = Version, ..)`.
    Services,
    /// `services_enum = Ident`.
    ServicesEnum,
    /// `id = ".."`.
    Id,
    /// `register` or `register = bool`.
    Register,
    /// `crate = "path"`.
    Crate,
}

impl Key {
    fn name(self) -> &'static str {
        match self {
            Key::Contract => "contract",
            Key::Version => "version",
            Key::Context => "context",
            Key::Services => "services",
            Key::ServicesEnum => "services_enum",
            Key::Id => "id",
            Key::Register => "register",
            Key::Crate => "crate",
        }
    }
}

/// The parsed arguments; only the keys the macro accepts can be set.
#[derive(Default)]
pub(crate) struct Args {
    pub contract: Option<Path>,
    pub version: Option<LitStr>,
    pub context: Option<Type>,
    pub services: Option<Vec<Service>>,
    pub services_enum: Option<Ident>,
    pub id: Option<LitStr>,
    /// The value and the `register` token.
    pub register: Option<(bool, Span)>,
    pub krate: Option<Path>,
}

impl Args {
    /// `crate = ".."`, default `::arvo_runtime`.
    pub fn krate(&self) -> Path {
        self.krate
            .clone()
            .unwrap_or_else(|| syn::parse_quote!(::arvo_runtime))
    }
}

/// Parses `args` with the keys `keys` (listed in that order in the unknown-key message),
/// every error collected.
pub(crate) fn parse_args(args: TokenStream, keys: &[Key], errors: &mut Errors) -> Args {
    let expected = keys
        .iter()
        .map(|k| format!("`{}`", k.name()))
        .collect::<Vec<_>>()
        .join(", ");
    let mut raw = Args::default();
    let parser = syn::meta::parser(|meta| {
        let Some(ident) = meta.path.get_ident().cloned() else {
            errors.push(
                meta.path.span(),
                format!("unknown key; expected one of {expected}"),
            );
            return skip_value(&meta);
        };
        let name = ident.to_string();
        let Some(key) = keys.iter().copied().find(|k| k.name() == name) else {
            errors.push(
                ident.span(),
                format!("unknown key `{name}`; expected one of {expected}"),
            );
            return skip_value(&meta);
        };
        match key {
            Key::Contract => set_once(&mut raw.contract, meta.value()?.parse()?, &ident, errors),
            Key::Version => set_once(&mut raw.version, meta.value()?.parse()?, &ident, errors),
            Key::Context => set_once(&mut raw.context, meta.value()?.parse()?, &ident, errors),
            Key::ServicesEnum => {
                set_once(
                    &mut raw.services_enum,
                    meta.value()?.parse()?,
                    &ident,
                    errors,
                );
            }
            Key::Id => set_once(&mut raw.id, meta.value()?.parse()?, &ident, errors),
            Key::Services => {
                if !meta.input.peek(syn::token::Paren) {
                    errors.push(
                        ident.span(),
                        "`services` takes a list: `services(calc = CalcAddV1_0_0, ...)`",
                    );
                    return skip_value(&meta);
                }
                let services = parse_services(&meta, errors)?;
                set_once(&mut raw.services, services, &ident, errors);
            }
            Key::Register => {
                let value = if meta.input.peek(Token![=]) {
                    meta.value()?.parse::<LitBool>()?.value
                } else {
                    true
                };
                set_once(&mut raw.register, (value, ident.span()), &ident, errors);
            }
            Key::Crate => crate_path(&meta, &ident, &mut raw.krate, errors)?,
        }
        Ok(())
    });
    if let Err(e) = parser.parse2(args) {
        errors.add(e);
    }
    raw
}

/// Stores `value` in `slot`, or reports "`key` set multiple times" at the second `key`.
pub(crate) fn set_once<T>(slot: &mut Option<T>, value: T, key: &Ident, errors: &mut Errors) {
    if slot.is_some() {
        errors.push(key.span(), format!("`{key}` set multiple times"));
    } else {
        *slot = Some(value);
    }
}

/// Skips the rest of one argument (after an error), up to the next comma.
pub(crate) fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    while !meta.input.is_empty() && !meta.input.peek(Token![,]) {
        meta.input.parse::<proc_macro2::TokenTree>()?;
    }
    Ok(())
}

/// The value of `crate = "path"` into `slot` (reported at the literal when it is not a path).
fn crate_path(
    meta: &ParseNestedMeta<'_>,
    key: &Ident,
    slot: &mut Option<Path>,
    errors: &mut Errors,
) -> syn::Result<()> {
    let lit: LitStr = meta.value()?.parse()?;
    match lit.parse::<Path>() {
        Ok(path) => set_once(slot, path, key, errors),
        Err(_) => errors.push(
            lit.span(),
            format!(
                "`crate` expects a path to the arvo runtime crate, found `{}`",
                lit.value()
            ),
        ),
    }
    Ok(())
}

/// One service of `#[arvo_resumable]` / `#[arvo_machine]`: `key = ContractVersionPath`.
pub struct Service {
    /// The key, e.g. `calc`.
    pub key: Ident,
    /// The enum variant, e.g. `Calc`.
    pub variant: Ident,
    /// The step event's variant of its system error, e.g. `CalcError`.
    pub error_variant: Ident,
    /// The contract version marker, e.g. `CalcAddV1_0_0`.
    pub version: Path,
}

/// `calc` -> `Calc`, `value_read` -> `ValueRead`.
fn variant_name(key: &Ident) -> Ident {
    let raw = crate::naming::text(key);
    let mut name = String::with_capacity(raw.len());
    for part in raw.split('_').filter(|p| !p.is_empty()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            name.extend(first.to_uppercase());
            name.push_str(chars.as_str());
        }
    }
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, 'S');
    }
    Ident::new(&name, key.span())
}

/// `services(key = Version, ...)`: each key once, each variant once.
fn parse_services(meta: &ParseNestedMeta<'_>, errors: &mut Errors) -> syn::Result<Vec<Service>> {
    let mut services: Vec<Service> = Vec::new();
    // `services()`: no services (syn would want one).
    if let Ok(group) = meta.input.fork().parse::<proc_macro2::Group>()
        && group.delimiter() == proc_macro2::Delimiter::Parenthesis
        && group.stream().is_empty()
    {
        meta.input.parse::<proc_macro2::Group>()?;
        return Ok(services);
    }
    meta.parse_nested_meta(|m| {
        let Some(key) = m.path.get_ident().cloned() else {
            errors.push(
                m.path.span(),
                "a service key is one identifier: `services(calc = CalcAddV1_0_0)`",
            );
            return skip_value(&m);
        };
        if !m.input.peek(Token![=]) {
            errors.push(
                key.span(),
                format!("service `{key}` needs a contract version: `{key} = CalcAddV1_0_0`"),
            );
            return skip_value(&m);
        }
        let version: Path = m.value()?.parse()?;
        let variant = variant_name(&key);
        let error_variant = Ident::new(&format!("{variant}Error"), key.span());
        // The step event's variants: `Init`, then `Key` and `KeyError` per service.
        let taken = |v: &Ident| {
            v == "Init"
                || services
                    .iter()
                    .any(|s| s.variant == *v || s.error_variant == *v)
        };
        if services.iter().any(|s| s.key == key) {
            errors.push(key.span(), format!("service `{key}` declared twice"));
        } else if taken(&variant) || taken(&error_variant) {
            errors.push(
                key.span(),
                format!(
                    "service `{key}` gives the step event variants `{variant}` and `{error_variant}`, and one of them is taken (by `Init` or another service): rename the key"
                ),
            );
        } else {
            services.push(Service {
                key,
                variant,
                error_variant,
                version,
            });
        }
        Ok(())
    })?;
    Ok(services)
}

/// The marker of `version` next to `contract` (`a::Flow` + "1.0.0" -> `a::FlowV1_0_0`),
/// spanned at the literal, so a version the contract does not have is reported there. `None`
/// (with an error at the literal) for the wildcard or a malformed version.
pub(crate) fn marker(contract: &Path, version: &LitStr, errors: &mut Errors) -> Option<Path> {
    let value = version.value();
    if value == arvo_rules::WILDCARD_VERSION {
        errors.push(
            version.span(),
            "version `0.0.0` is reserved (the wildcard version) and is never a contract version",
        );
        return None;
    }
    let last = contract.segments.last()?;
    let Some(ident) = naming::version_marker(&last.ident, &value) else {
        errors.push(
            version.span(),
            format!("invalid version `{value}`: expected `major.minor.patch`, e.g. `1.0.0`"),
        );
        return None;
    };
    let mut marker = contract.clone();
    if let Some(seg) = marker.segments.last_mut() {
        seg.ident = ident;
        seg.ident.set_span(version.span());
        seg.arguments = syn::PathArguments::None;
    }
    Some(marker)
}

/// The self type's name of an annotated impl block: the last segment of a plain path type
/// without generics; otherwise an error at the type ("`#[<attr>]` goes on the impl block of a
/// plain (non-generic) type: `impl <example> { .. }`").
pub(crate) fn self_name(
    ty: &Type,
    attr: &str,
    example: &str,
    errors: &mut Errors,
) -> Option<Ident> {
    if let Type::Path(p) = ty
        && p.qself.is_none()
        && let Some(last) = p.path.segments.last()
        && last.arguments.is_none()
    {
        return Some(last.ident.clone());
    }
    errors.push(
        ty.span(),
        format!(
            "#[{attr}] goes on the impl block of a plain (non-generic) type: `impl {example} {{ .. }}`"
        ),
    );
    None
}

/// `false` (reported at the keyword) when `sig` is an `unsafe fn`: the generated code calls the
/// user's function or method (`what`: "a handler function", "a version method", ...) from safe
/// code, and would otherwise fail with E0133 inside the expansion.
pub fn not_unsafe(sig: &syn::Signature, what: &str, errors: &mut Errors) -> bool {
    match &sig.safety {
        syn::Safety::Unsafe(u) => {
            errors.push(
                u.span(),
                format!(
                    "{what} cannot be `unsafe`: the generated code calls it from safe code; put an `unsafe {{ .. }}` block in its body instead"
                ),
            );
            false
        }
        _ => true,
    }
}

/// The error for an item that carries `#[name]` once more (`name` is the running macro's own,
/// found by its last path segment, so `#[arvo_runtime::arvo_handler]` counts), at that
/// attribute; `why` says what the item can be. The caller then emits the item unchanged, so
/// the remaining attribute expands it once and nothing is defined twice.
pub fn applied_twice(attrs: &[syn::Attribute], name: &str, why: &str) -> Option<syn::Error> {
    let again = attrs
        .iter()
        .filter_map(|a| a.path().segments.last())
        .find(|s| s.ident == name)?;
    Some(syn::Error::new(
        again.ident.span(),
        format!("`#[{name}]` is applied twice: {why}; remove one"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn errors_of(args: TokenStream, keys: &[Key]) -> (Args, Vec<String>) {
        let mut errors = Errors::default();
        let parsed = parse_args(args, keys, &mut errors);
        let errs = errors
            .into_error()
            .map(|e| e.into_iter().map(|e| e.to_string()).collect())
            .unwrap_or_default();
        (parsed, errs)
    }

    #[test]
    fn only_the_accepted_keys() {
        let (args, errs) = errors_of(
            quote!(contract = a::C, id = "x", crate = "my_rt", register),
            &[Key::Contract, Key::Register, Key::Crate],
        );
        assert_eq!(
            errs,
            ["unknown key `id`; expected one of `contract`, `register`, `crate`"]
        );
        assert!(args.contract.is_some() && args.id.is_none());
        assert!(args.register.is_some_and(|(v, _)| v));
        let krate = args.krate();
        assert_eq!(quote!(#krate).to_string(), "my_rt");
    }

    #[test]
    fn every_error_once() {
        let (_, errs) = errors_of(
            quote!(
                a::b = 1,
                services = X,
                crate = "not a path",
                version = "1",
                version = "2"
            ),
            &[Key::Version, Key::Services, Key::Crate],
        );
        assert_eq!(
            errs,
            [
                "unknown key; expected one of `version`, `services`, `crate`",
                "`services` takes a list: `services(calc = CalcAddV1_0_0, ...)`",
                "`crate` expects a path to the arvo runtime crate, found `not a path`",
                "`version` set multiple times",
            ]
        );
    }
}
