//! `#[arvo_handler]`, stages 1 and 2: the attribute arguments and the annotated item (an
//! `async fn` for one version, or an `impl` block with one `#[version]` method per version) ->
//! a typed model ([`Handler`]), every error collected at its own span. Stage 3 is
//! [`crate::handler_expand`].
//!
//! ```text
//! #[arvo_handler(contract = GreetService, version = "1.0.0")]
//! async fn greet(input: Input<'_, GreetServiceV1_0_0>) -> HandlerOutput<GreetServiceV1_0_0> { .. }
//!
//! #[arvo_handler(contract = GreetService)]
//! impl Greeter {
//!     #[version("1.0.0")]
//!     async fn v1(&self, input: Greet) -> Result<GreetServiceV1_0_0Emits, HandlerError> { .. }
//! }
//! ```

use crate::args::{Args, Key, marker, parse_args, self_name};
use crate::errors::Errors;
use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned as _;
use syn::{
    FnArg, Ident, ImplItem, ImplItemFn, ItemFn, ItemImpl, LitStr, Path, ReturnType, Signature, Type,
};

/// How the function takes its input.
pub enum InputKind {
    /// `Input<'_, V>`: the payload with the event and its context.
    Input,
    /// The payload type alone.
    Payload,
}

/// One handled version: the function or method that implements it.
pub struct VersionCall {
    /// The version literal.
    pub version: LitStr,
    /// The contract's marker of that version (`GreetServiceV1_0_0`), spanned at the literal.
    pub marker: Path,
    /// The function's name (`call` for the function form, the method's name otherwise).
    pub method: Ident,
    /// Whether it takes `&self`.
    pub receiver: bool,
    /// Whether it is `async`.
    pub is_async: bool,
    /// The input's type as written and how it is passed.
    pub input: Type,
    pub input_kind: InputKind,
    /// The return type as written.
    pub output: Type,
}

/// The annotated item, prepared for expansion.
pub enum Form {
    /// A function: it becomes `impl <name> { fn call(..) }` next to a unit struct `<name>`.
    Fn { item: ItemFn },
    /// An impl block, `#[version]` attributes removed.
    Impl { item: ItemImpl },
}

/// The model of one `#[arvo_handler]`.
pub struct Handler {
    /// The handler's Rust name (the function's, or the impl's self type's).
    pub name: Ident,
    /// The annotated item.
    pub form: Form,
    /// `contract = Path`.
    pub contract: Path,
    /// The versions, in declaration order.
    pub versions: Vec<VersionCall>,
    /// Whether to submit it to the program's registry, and the span that asked.
    pub register: Option<Span>,
    /// Where the runtime is (default `::arvo_runtime`).
    pub krate: Path,
}

const KEYS: &[Key] = &[Key::Contract, Key::Version, Key::Register, Key::Crate];

/// `Input<..>` (by its last segment) takes the full input; any other type is the payload.
fn input_kind(ty: &Type) -> InputKind {
    if let Type::Path(p) = ty
        && let Some(last) = p.path.segments.last()
        && last.ident == "Input"
        && matches!(last.arguments, syn::PathArguments::AngleBracketed(_))
    {
        return InputKind::Input;
    }
    InputKind::Payload
}

/// Checks a signature: one input (after `&self` for methods), an explicit return type, no
/// generics. `None` (with errors) when it cannot be called by the generated code.
fn signature(
    sig: &Signature,
    version: LitStr,
    marker: Path,
    method: Ident,
    allow_receiver: bool,
    errors: &mut Errors,
) -> Option<VersionCall> {
    let mut ok = true;
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.push(
            sig.generics.span(),
            "a handler function has no generic parameters: its types are the version's",
        );
        ok = false;
    }
    let receiver = sig.receiver().is_some();
    if let Some(r) = sig.receiver()
        && (!allow_receiver || !matches!(r.kind, syn::ReceiverKind::Reference(_, _, None)))
    {
        let msg = if allow_receiver {
            "a version method takes `&self` (or no receiver)"
        } else {
            "an #[arvo_handler] function is a free function; put methods in an annotated impl block"
        };
        errors.push(r.span(), msg);
        ok = false;
    }
    let inputs: Vec<&syn::PatType> = sig
        .inputs
        .iter()
        .filter_map(|a| match a {
            FnArg::Typed(t) => Some(t),
            FnArg::Receiver(_) => None,
        })
        .collect();
    if inputs.len() != 1 {
        errors.push(
            if inputs.len() > 1 {
                inputs[1].span()
            } else {
                sig.paren_token.span.join()
            },
            format!(
                "a handler takes one input: `{}(input: Input<'_, {}>)` or the payload type",
                sig.ident,
                quote::quote!(#marker).to_string().replace(' ', "")
            ),
        );
        ok = false;
    }
    let output = match &sig.output {
        ReturnType::Type(_, ty) => Some((**ty).clone()),
        ReturnType::Default => {
            errors.push(
                sig.ident.span(),
                format!(
                    "`{}` needs a return type: `-> HandlerOutput<{}>`, or `Result<T, HandlerError>` with one or several events",
                    sig.ident,
                    quote::quote!(#marker).to_string().replace(' ', "")
                ),
            );
            None
        }
    };
    if let Some(c) = &sig.constness {
        errors.push(c.span(), "a handler function cannot be `const`");
        ok = false;
    }
    let what = if allow_receiver {
        "a handler method"
    } else {
        "a handler function"
    };
    ok &= crate::args::not_unsafe(sig, what, errors);
    let output = output?;
    if !ok {
        return None;
    }
    let input = (*inputs[0].ty).clone();
    Some(VersionCall {
        version,
        marker,
        method,
        receiver,
        is_async: sig.asyncness.is_some(),
        input_kind: input_kind(&input),
        input,
        output,
    })
}

/// The `#[version("x.y.z")]` attribute of a method, removed from it.
fn take_version(f: &mut ImplItemFn, errors: &mut Errors) -> Option<LitStr> {
    let mut found: Option<LitStr> = None;
    let mut keep = Vec::with_capacity(f.attrs.len());
    for attr in std::mem::take(&mut f.attrs) {
        if !attr.path().is_ident("version") {
            keep.push(attr);
            continue;
        }
        match attr.parse_args::<LitStr>() {
            Ok(lit) if found.is_some() => errors.push(
                lit.span(),
                "a method handles one version: `#[version]` set multiple times",
            ),
            Ok(lit) => found = Some(lit),
            Err(_) => errors.push(
                attr.span(),
                "expected `#[version(\"x.y.z\")]` with a version of the contract",
            ),
        }
    }
    f.attrs = keep;
    found
}

/// Two functions for one version: reported at the second literal, naming the first.
fn is_duplicate(versions: &[VersionCall], version: &LitStr, errors: &mut Errors) -> bool {
    if let Some(first) = versions
        .iter()
        .find(|v| v.version.value() == version.value())
    {
        errors.push(
            version.span(),
            format!(
                "version {} is already handled by `{}`: one function per version",
                version.value(),
                first.method
            ),
        );
        return true;
    }
    false
}

fn parse_fn(mut item: ItemFn, raw: &Args, errors: &mut Errors) -> (Ident, Form, Vec<VersionCall>) {
    let name = item.sig.ident.clone();
    let mut versions = Vec::new();
    match (&raw.version, &raw.contract) {
        (None, _) => errors.push(
            Span::call_site(),
            format!(
                "missing `version = \"x.y.z\"`: the contract version `{name}` handles (a contract with several versions takes an impl block with one `#[version]` method each)"
            ),
        ),
        (Some(version), Some(contract)) => {
            if let Some(marker) = marker(contract, version, errors) {
                let method = Ident::new("call", name.span());
                if let Some(v) =
                    signature(&item.sig, version.clone(), marker, method, false, errors)
                {
                    versions.push(v);
                }
            }
        }
        (Some(_), None) => {}
    }
    item.sig.ident = Ident::new("call", name.span());
    (name, Form::Fn { item }, versions)
}

fn parse_impl(
    mut item: ItemImpl,
    raw: &Args,
    errors: &mut Errors,
) -> Option<(Ident, Form, Vec<VersionCall>)> {
    if let Some(version) = &raw.version {
        errors.push(
            version.span(),
            "on an impl block, versions go on the methods: `#[version(\"x.y.z\")]`",
        );
    }
    if let Some((path, _)) = &item.trait_ {
        errors.push(
            path.span(),
            "#[arvo_handler] goes on an inherent impl block (`impl Greeter { .. }`), not on a trait impl",
        );
    }
    if !item.generics.params.is_empty() {
        errors.push(
            item.generics.span(),
            "#[arvo_handler] does not support generic impl blocks",
        );
    }
    let mut versions: Vec<VersionCall> = Vec::new();
    let mut attributed = false;
    for it in &mut item.items {
        let ImplItem::Fn(f) = it else { continue };
        let Some(version) = take_version(f, errors) else {
            continue;
        };
        attributed = true;
        if is_duplicate(&versions, &version, errors) {
            continue;
        }
        let Some(contract) = &raw.contract else {
            continue;
        };
        let Some(marker) = marker(contract, &version, errors) else {
            continue;
        };
        let method = f.sig.ident.clone();
        if let Some(v) = signature(&f.sig, version, marker, method, true, errors) {
            versions.push(v);
        }
    }
    if !attributed && raw.contract.is_some() && raw.version.is_none() {
        errors.push(
            item.self_ty.span(),
            "no `#[version(\"x.y.z\")]` method: every version of the contract needs one",
        );
    }
    let name = self_name(&item.self_ty, "arvo_handler", "Greeter", errors)?;
    Some((name, Form::Impl { item }, versions))
}

/// Stages 1 and 2. `None` when the item is neither a function nor an impl block, or when
/// something needed to expand is missing; the errors say what.
pub fn parse(args: TokenStream, item: syn::Item, errors: &mut Errors) -> Option<Handler> {
    let raw = parse_args(args, KEYS, errors);
    if raw.contract.is_none() {
        errors.push(
            Span::call_site(),
            "missing `contract = <service contract>`, e.g. `contract = GreetService`",
        );
    }
    let (name, form, versions) = match item {
        syn::Item::Fn(f) => parse_fn(f, &raw, errors),
        syn::Item::Impl(i) => parse_impl(i, &raw, errors)?,
        other => {
            errors.push(
                other.span(),
                "#[arvo_handler] goes on an `async fn` (one contract version) or on an impl block (one `#[version(\"x.y.z\")]` method per version)",
            );
            return None;
        }
    };
    let register = match (raw.register, &form) {
        (Some((true, span)), _) => Some(span),
        (Some((false, _)), _) | (None, Form::Impl { .. }) => None,
        (None, Form::Fn { .. }) => Some(name.span()),
    };
    let krate = raw.krate();
    Some(Handler {
        name,
        form,
        contract: raw.contract?,
        versions,
        register,
        krate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn errors_of(args: TokenStream, item: TokenStream) -> Vec<String> {
        let mut errors = Errors::default();
        let item: syn::Item = syn::parse2(item).unwrap_or_else(|e| panic!("{e}"));
        let _ = parse(args, item, &mut errors);
        errors
            .into_error()
            .map(|e| e.into_iter().map(|e| e.to_string()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn function_model() {
        let mut errors = Errors::default();
        let item: syn::Item = syn::parse_quote! {
            async fn greet(input: Input<'_, a::GreetV1_0_0>) -> Out { todo!() }
        };
        let h = parse(
            quote!(contract = a::Greet, version = "1.0.0"),
            item,
            &mut errors,
        );
        assert!(errors.is_empty());
        let h = h.unwrap_or_else(|| panic!("no model"));
        assert_eq!(h.name.to_string(), "greet");
        assert!(h.register.is_some(), "functions are registered by default");
        let v = &h.versions[0];
        let marker = &v.marker;
        assert_eq!(quote!(#marker).to_string(), "a :: GreetV1_0_0");
        assert!(matches!(v.input_kind, InputKind::Input));
        assert!(v.is_async && !v.receiver);
        match &h.form {
            Form::Fn { item } => assert_eq!(item.sig.ident.to_string(), "call"),
            Form::Impl { .. } => panic!("not an impl"),
        }
    }

    #[test]
    fn impl_model() {
        let mut errors = Errors::default();
        let item: syn::Item = syn::parse_quote! {
            impl Greeter {
                #[version("1.0.0")]
                async fn v1(&self, input: Greet) -> Out { todo!() }
                fn helper(&self) {}
            }
        };
        let h = parse(quote!(contract = Greet), item, &mut errors);
        assert!(errors.is_empty());
        let h = h.unwrap_or_else(|| panic!("no model"));
        assert_eq!(h.name.to_string(), "Greeter");
        assert!(
            h.register.is_none(),
            "impl blocks are not registered by default"
        );
        assert!(matches!(h.versions[0].input_kind, InputKind::Payload));
        assert!(h.versions[0].receiver);
    }

    #[test]
    fn every_error_at_once() {
        let errs = errors_of(
            quote!(contract = Greet, colour = 1, contract = Other),
            quote! {
                impl W {
                    #[version("1.0")] async fn a(&self, i: I) -> O { todo!() }
                    #[version("0.0.0")] async fn b(&self, i: I) -> O { todo!() }
                    #[version("1.0.0")] async fn c(&self, i: I) -> O { todo!() }
                    #[version("1.0.0")] async fn d(&self, i: I) -> O { todo!() }
                    #[version("2.0.0")] async fn e(&self) -> O { todo!() }
                    #[version("3.0.0")] async fn f(&self, i: I) { }
                    #[version("4.0.0")] async fn g(&mut self, i: I) -> O { todo!() }
                }
            },
        );
        assert_eq!(
            errs,
            [
                "unknown key `colour`; expected one of `contract`, `version`, `register`, `crate`",
                "`contract` set multiple times",
                "invalid version `1.0`: expected `major.minor.patch`, e.g. `1.0.0`",
                "version `0.0.0` is reserved (the wildcard version) and is never a contract version",
                "version 1.0.0 is already handled by `c`: one function per version",
                "a handler takes one input: `e(input: Input<'_, GreetV2_0_0>)` or the payload type",
                "`f` needs a return type: `-> HandlerOutput<GreetV3_0_0>`, or `Result<T, HandlerError>` with one or several events",
                "a version method takes `&self` (or no receiver)",
            ]
        );
    }

    #[test]
    fn function_errors() {
        let errs = errors_of(
            quote!(),
            quote! {
                async fn greet(&self, a: A, b: B) -> O { todo!() }
            },
        );
        assert_eq!(
            errs,
            [
                "missing `contract = <service contract>`, e.g. `contract = GreetService`",
                "missing `version = \"x.y.z\"`: the contract version `greet` handles (a contract with several versions takes an impl block with one `#[version]` method each)",
            ]
        );
        let errs = errors_of(
            quote!(contract = G, version = "1.0.0"),
            quote!(
                struct S;
            ),
        );
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with("#[arvo_handler] goes on an `async fn`"));
    }
}
