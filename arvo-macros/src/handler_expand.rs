//! `#[arvo_handler]`, stage 3: the model -> Rust items.
//!
//! A function `greet` becomes a unit struct `greet` (the value to register) and
//! `impl greet { fn call(..) }` (the function as written, for direct calls in tests); an impl
//! block stays as written (without its `#[version]` attributes). Inside `const _: () = { .. };`:
//! `ContractDispatch<Self> for Self` (the version routing: each version's input read into the
//! function's input type, its return value converted by `HandlerReturn`), `IntoHandler` (what
//! the broker registers) and, when registered, the program registry's entry. Then the
//! compile-time checks, each spanned at the user's token:
//! * a version the contract does not have: its marker type is spanned at the literal;
//! * an input type that is not the version's: the argument is spanned at the input type;
//! * an output type that is not the version's: the `HandlerReturn` bound at the return type;
//! * a version of the contract without a function: a constant evaluated by the compiler,
//!   naming the version, reported at `contract = ..`.

use crate::errors::Errors;
use crate::handler::{self, Form, Handler, InputKind};
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned as _;

/// Parses, validates and expands; on errors the item (a function stays a function) is still
/// emitted beside the `compile_error!`s.
pub fn run(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let parsed: syn::Item = match syn::parse2(item.clone()) {
        Ok(item) => item,
        Err(_) => {
            errors.push(
                Span::call_site(),
                "#[arvo_handler] goes on an `async fn` (one contract version) or on an impl block (one `#[version(\"x.y.z\")]` method per version)",
            );
            let mut tokens = item;
            if let Some(e) = errors.into_error() {
                tokens.extend(e.to_compile_error());
            }
            return tokens;
        }
    };
    let twice = match &parsed {
        syn::Item::Fn(f) => crate::args::applied_twice(
            &f.attrs,
            "arvo_handler",
            "a function handles one version of one contract",
        ),
        syn::Item::Impl(i) => crate::args::applied_twice(
            &i.attrs,
            "arvo_handler",
            "an impl block serves one contract",
        ),
        _ => None,
    };
    if let Some(e) = twice {
        let mut tokens = quote!(#parsed);
        tokens.extend(e.to_compile_error());
        return tokens;
    }
    let model = handler::parse(args, parsed.clone(), &mut errors);
    let mut tokens = match (&model, errors.is_empty()) {
        (Some(model), true) => expand(model),
        (Some(model), false) => fallback(model),
        (None, _) => quote!(#parsed),
    };
    if let Some(e) = errors.into_error() {
        tokens.extend(e.to_compile_error());
    }
    tokens
}

/// After an error: the item as the user wrote it (a function keeps its name).
fn fallback(m: &Handler) -> TokenStream {
    match &m.form {
        Form::Fn { item } => {
            let mut item = item.clone();
            item.sig.ident = m.name.clone();
            quote!(#item)
        }
        Form::Impl { item } => quote!(#item),
    }
}

/// The unit struct and `impl <name> { fn call }` of a function.
fn function_items(m: &Handler, item: &syn::ItemFn) -> TokenStream {
    let name = &m.name;
    let vis = &item.vis;
    let docs = item.attrs.iter().filter(|a| a.path().is_ident("doc"));
    let contract = &m.contract;
    let version = m
        .versions
        .first()
        .map(|v| v.version.value())
        .unwrap_or_default();
    let call_doc = format!(
        "The function as written: handles version `{version}` of [`{}`]. Register the value `{name}` (`EventBroker::builder().handler({name})`) to run it through the handler runtime.",
        quote!(#contract).to_string().replace(' ', "")
    );
    let mut call = item.clone();
    call.attrs.retain(|a| !a.path().is_ident("doc"));
    call.attrs.insert(0, syn::parse_quote!(#[doc = #call_doc]));
    quote! {
        #(#docs)*
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
        #vis struct #name;

        impl #name {
            #call
        }
    }
}

fn expand(m: &Handler) -> TokenStream {
    let Handler {
        name,
        form,
        contract,
        versions,
        register,
        krate,
    } = m;
    let private = quote!(#krate::__private);
    let item_tokens = match form {
        Form::Fn { item } => function_items(m, item),
        Form::Impl { item } => quote!(#item),
    };
    let self_ty = match form {
        Form::Fn { .. } => quote!(#name),
        Form::Impl { item } => {
            let ty = &item.self_ty;
            quote!(#ty)
        }
    };

    // One alias per version, so a version the contract lacks is reported once, at its literal.
    let aliases: Vec<_> = (0..versions.len())
        .map(|i| format_ident!("__ArvoVersion{}", i))
        .collect();
    let alias_items = versions.iter().zip(&aliases).map(|(v, alias)| {
        let marker = &v.marker;
        quote!(type #alias = #marker;)
    });
    let arms = versions.iter().zip(&aliases).map(|(v, alias)| {
        let text = v.version.value();
        let method = &v.method;
        let input_ty = &v.input;
        let arg = match v.input_kind {
            InputKind::Input => quote_spanned!(input_ty.span()=> __input),
            InputKind::Payload => quote_spanned!(input_ty.span()=> __input.data),
        };
        let args = if v.receiver {
            quote!(handler, #arg)
        } else {
            quote!(#arg)
        };
        let call = quote_spanned!(method.span()=> #self_ty::#method(#args));
        let call = if v.is_async {
            quote!(#call.await)
        } else {
            call
        };
        let output = &v.output;
        let convert = quote_spanned! {output.span()=>
            <#output as #private::HandlerReturn<#alias>>::into_emissions
        };
        quote! {
            #text => #private::dispatch_version::<#alias, _, _>(input, move |__input| async move {
                #convert(#call)
            })
        }
    });

    let registration = register.map(|span| {
        let ctor = match form {
            Form::Fn { .. } => quote!(#name),
            Form::Impl { .. } => {
                quote_spanned!(span=> <#self_ty as ::core::default::Default>::default())
            }
        };
        let name_text = name.to_string();
        quote! {
            #private::inventory::submit! {
                #private::Registered::new(
                    ::core::concat!(::core::module_path!(), "::", #name_text),
                    || #private::IntoHandler::into_handler(#ctor),
                )
            }
        }
    });

    // The handled versions are read from the markers, so a version the contract does not
    // have (reported at its literal) does not also fail this check.
    let handled = aliases
        .iter()
        .map(|alias| quote!(<#alias as #private::ContractVersion>::VERSION));
    let version_check = quote_spanned! {contract.span()=>
        const _: () = {
            const fn same(a: &str, b: &str) -> bool {
                let (a, b) = (a.as_bytes(), b.as_bytes());
                if a.len() != b.len() {
                    return false;
                }
                let mut i = 0;
                while i < a.len() {
                    if a[i] != b[i] {
                        return false;
                    }
                    i += 1;
                }
                true
            }
            const HANDLED: &[&str] = &[#(#handled),*];
            let declared = <#contract as #private::TypedContract>::VERSIONS;
            let unhandled = <#contract as #private::TypedContract>::UNHANDLED;
            let mut i = 0;
            while i < declared.len() {
                let mut j = 0;
                let mut found = false;
                while j < HANDLED.len() {
                    if same(declared[i], HANDLED[j]) {
                        found = true;
                    }
                    j += 1;
                }
                if !found && i < unhandled.len() {
                    ::core::panic!("{}", unhandled[i]);
                }
                i += 1;
            }
        };
    };

    quote! {
        #item_tokens

        const _: () = {
            #(#alias_items)*

            impl #private::ContractDispatch<#self_ty> for #self_ty {
                fn contract() -> #private::ArvoContract {
                    ::core::clone::Clone::clone(<#contract as #private::TypedContract>::contract())
                }

                fn dispatch<'a>(
                    handler: &'a #self_ty,
                    input: #private::HandlerInput<'a>,
                ) -> #private::BoxFuture<'a, #private::HandlerResult> {
                    let _ = handler;
                    match input.contract.version().as_str() {
                        #(#arms,)*
                        _ => #private::unknown_version::<#contract>(input),
                    }
                }
            }

            impl #private::IntoHandler for #self_ty {
                fn into_handler(self) -> ::core::result::Result<
                    ::std::sync::Arc<dyn #private::DynEventHandler>,
                    #private::IntoHandlerError,
                > {
                    #private::build_typed(self)
                }
            }

            #registration

            #version_check
        };
    }
}
