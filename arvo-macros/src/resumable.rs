//! `#[arvo_resumable]`, stages 1 and 2: the attribute arguments and the `impl` block -> a
//! typed model ([`Resumable`]), with every error collected at its own span. Stage 3 is
//! [`crate::resumable_expand`].
//!
//! ```text
//! #[arvo_resumable(contract = CalcFlow, context = CalcContext,
//!                  services(calc = CalcAddV1_0_0, audit = AuditV1_0_0))]
//! impl CalcWorkflow {
//!     #[version("1.0.0")]
//!     async fn v1(&self, step: CalcWorkflowStep<'_, CalcFlowV1_0_0>) -> CalcWorkflowResult<CalcFlowV1_0_0> { .. }
//! }
//! ```

pub use crate::args::Service;
use crate::args::{Key, marker, parse_args, self_name};
use crate::errors::Errors;
use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned as _;
use syn::{Ident, ImplItem, ItemImpl, LitStr, Path, Type};

/// One `#[version("x.y.z")]` method.
pub struct VersionFn {
    /// The version literal.
    pub version: LitStr,
    /// The marker of the self contract's version (`CalcFlowV1_0_0`), spanned at the literal.
    pub marker: Path,
    /// The method.
    pub method: Ident,
}

/// The model of one `#[arvo_resumable]`.
pub struct Resumable {
    /// The impl block, `#[version]` attributes removed.
    pub item: ItemImpl,
    /// The self type's name (`CalcWorkflow`).
    pub name: Ident,
    /// The self contract (`CalcFlow`).
    pub contract: Path,
    /// The context type.
    pub context: Type,
    /// The services, in declaration order.
    pub services: Vec<Service>,
    /// The name of the generated services enum (default `<Name>Services`).
    pub services_enum: Ident,
    /// The version methods, in declaration order.
    pub versions: Vec<VersionFn>,
    /// Where the runtime is (default `::arvo_runtime`).
    pub krate: Path,
}

const KEYS: &[Key] = &[
    Key::Contract,
    Key::Context,
    Key::Services,
    Key::ServicesEnum,
    Key::Crate,
];

/// Takes the `#[version("x.y.z")]` methods out of the impl block: those that are well formed,
/// and whether any method had the attribute (a refused one was reported where it stands).
fn collect_versions(
    item: &mut ItemImpl,
    contract: Option<&Path>,
    errors: &mut Errors,
) -> (Vec<VersionFn>, bool) {
    let mut versions: Vec<VersionFn> = Vec::new();
    let mut attributed = false;
    for it in &mut item.items {
        let ImplItem::Fn(f) = it else { continue };
        let mut found: Option<LitStr> = None;
        let mut keep = Vec::with_capacity(f.attrs.len());
        for attr in std::mem::take(&mut f.attrs) {
            if !attr.path().is_ident("version") {
                keep.push(attr);
                continue;
            }
            match attr.parse_args::<LitStr>() {
                Ok(lit) if found.is_some() => {
                    errors.push(
                        lit.span(),
                        "a method handles one version: `#[version]` set multiple times",
                    );
                }
                Ok(lit) => found = Some(lit),
                Err(_) => errors.push(
                    attr.span(),
                    "expected `#[version(\"x.y.z\")]` with a version of the self contract",
                ),
            }
        }
        f.attrs = keep;
        let Some(version) = found else { continue };
        attributed = true;
        if !crate::args::not_unsafe(&f.sig, "a version method", errors) {
            continue;
        }
        if f.sig.receiver().is_none() || f.sig.inputs.len() != 2 {
            errors.push(
                f.sig.ident.span(),
                format!(
                    "a version handler takes `&self` and the step: `fn {}(&self, step: <Name>Step<'_, <Contract>V..>)`",
                    f.sig.ident
                ),
            );
            continue;
        }
        if versions
            .iter()
            .any(|v| v.version.value() == version.value())
        {
            errors.push(
                version.span(),
                format!("version {} is handled by two methods", version.value()),
            );
            continue;
        }
        let Some(contract) = contract else { continue };
        let Some(marker) = marker(contract, &version, errors) else {
            continue;
        };
        versions.push(VersionFn {
            version,
            marker,
            method: f.sig.ident.clone(),
        });
    }
    (versions, attributed)
}

/// Stages 1 and 2. `None` when something is missing to expand; the errors say what.
pub fn parse(args: TokenStream, item: &mut ItemImpl, errors: &mut Errors) -> Option<Resumable> {
    let raw = parse_args(args, KEYS, errors);
    if let Some((path, _)) = &item.trait_ {
        errors.push(
            path.span(),
            "#[arvo_resumable] goes on an inherent impl block (`impl MyWorkflow { .. }`), not on a trait impl",
        );
    }
    if !item.generics.params.is_empty() {
        errors.push(
            item.generics.span(),
            "#[arvo_resumable] does not support generic impl blocks",
        );
    }
    let name = self_name(&item.self_ty, "arvo_resumable", "MyWorkflow", errors);
    if raw.contract.is_none() {
        errors.push(
            Span::call_site(),
            "missing `contract = <orchestrator contract>`, e.g. `contract = CalcFlow`",
        );
    }
    if raw.context.is_none() {
        errors.push(
            Span::call_site(),
            "missing `context = <type>`: the state kept between steps (serde), e.g. `context = CalcContext`",
        );
    }
    let (versions, attributed) = collect_versions(item, raw.contract.as_ref(), errors);
    if !attributed && raw.contract.is_some() {
        errors.push(
            item.self_ty.span(),
            "no `#[version(\"x.y.z\")]` method: every version of the self contract needs one",
        );
    }
    let name = name?;
    let krate = raw.krate();
    let services_enum = raw
        .services_enum
        .unwrap_or_else(|| quote::format_ident!("{}Services", name, span = name.span()));
    Some(Resumable {
        item: item.clone(),
        name,
        contract: raw.contract?,
        context: raw.context?,
        services: raw.services.unwrap_or_default(),
        services_enum,
        versions,
        krate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn errors_of(args: TokenStream, item: TokenStream) -> Vec<String> {
        let mut errors = Errors::default();
        let mut item: ItemImpl = syn::parse2(item).unwrap_or_else(|e| panic!("{e}"));
        let _ = parse(args, &mut item, &mut errors);
        errors
            .into_error()
            .map(|e| e.into_iter().map(|e| e.to_string()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn model() {
        let mut errors = Errors::default();
        let mut item: ItemImpl = syn::parse_quote! {
            impl W {
                #[version("1.0.0")]
                async fn v1(&self, step: S) -> R { todo!() }
                fn helper(&self) {}
            }
        };
        let r = parse(
            quote!(
                contract = a::Flow,
                context = Ctx,
                services(value_read = a::ReadV1_0_0)
            ),
            &mut item,
            &mut errors,
        );
        assert!(errors.is_empty());
        let r = r.unwrap_or_else(|| panic!("no model"));
        assert_eq!(r.services_enum.to_string(), "WServices");
        assert_eq!(r.services[0].variant.to_string(), "ValueRead");
        let marker = &r.versions[0].marker;
        assert_eq!(quote!(#marker).to_string(), "a :: FlowV1_0_0");
        // The attribute is gone.
        assert!(r.item.items.iter().all(|i| match i {
            ImplItem::Fn(f) => f.attrs.is_empty(),
            _ => true,
        }));
    }

    #[test]
    fn every_error_at_once() {
        let errs = errors_of(
            quote!(
                contract = Flow,
                context = C,
                colour = 1,
                services(a = X, a = Y),
                context = D
            ),
            quote! {
                impl W {
                    #[version("1.0")] fn a(&self, s: S) {}
                    #[version("0.0.0")] fn b(&self, s: S) {}
                    #[version("1.0.0")] fn c(&self) {}
                    #[version("2.0.0")] async unsafe fn d(&self, s: S) {}
                }
            },
        );
        assert_eq!(
            errs,
            [
                "unknown key `colour`; expected one of `contract`, `context`, `services`, `services_enum`, `crate`",
                "service `a` declared twice",
                "`context` set multiple times",
                "invalid version `1.0`: expected `major.minor.patch`, e.g. `1.0.0`",
                "version `0.0.0` is reserved (the wildcard version) and is never a contract version",
                "a version handler takes `&self` and the step: `fn c(&self, step: <Name>Step<'_, <Contract>V..>)`",
                "a version method cannot be `unsafe`: the generated code calls it from safe code; put an `unsafe { .. }` block in its body instead",
            ]
        );
    }

    #[test]
    fn step_event_variants_do_not_collide() {
        let errs = errors_of(
            quote!(
                contract = Flow,
                context = C,
                services(init = X, calc = Y, calc_error = Z)
            ),
            quote! { impl W { #[version("1.0.0")] fn v(&self, s: S) {} } },
        );
        assert_eq!(
            errs,
            [
                "service `init` gives the step event variants `Init` and `InitError`, and one of them is taken (by `Init` or another service): rename the key",
                "service `calc_error` gives the step event variants `CalcError` and `CalcErrorError`, and one of them is taken (by `Init` or another service): rename the key",
            ]
        );
    }

    #[test]
    fn missing_keys() {
        let errs = errors_of(quote!(), quote!(impl W {}));
        assert_eq!(
            errs,
            [
                "missing `contract = <orchestrator contract>`, e.g. `contract = CalcFlow`",
                "missing `context = <type>`: the state kept between steps (serde), e.g. `context = CalcContext`",
            ]
        );
    }
}
