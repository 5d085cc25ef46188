//! Stage 3: the model -> Rust items.
//!
//! Public items the user names (version markers, emits enums, the handler trait) sit next to
//! the struct; every impl sits inside `const _: () = { ... };` and reaches the runtime through
//! `<crate>::__private` (default `::arvo_runtime::__private`, `crate = "..."` overrides it).
//! After an error the struct and every item that can still be derived are emitted beside the
//! `compile_error!`, so one mistake does not cascade.

use crate::ast::{Contract, Kind, MetaValue, VersionBody};
use crate::errors::Errors;
use crate::{naming, parse, validate};
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use std::collections::HashSet;
use syn::spanned::Spanned as _;
use syn::{Ident, Type};

/// The output of the macro: the items and the errors found (if any).
pub struct Expansion {
    /// The struct and the generated items (complete when `errors` is `None`).
    pub tokens: TokenStream,
    /// Every error found, combined.
    pub errors: Option<syn::Error>,
}

impl Expansion {
    /// Items followed by `compile_error!`s: what the compiler receives.
    pub fn into_token_stream(self) -> TokenStream {
        let Expansion { mut tokens, errors } = self;
        if let Some(e) = errors {
            tokens.extend(e.to_compile_error());
        }
        tokens
    }
}

/// Expands `#[arvo_contract(<args>)] <item>`; `Err` holds every error found. The
/// unit-testable form of [`run`] (snapshot tests).
#[cfg_attr(not(test), allow(dead_code))]
pub fn expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let expansion = run(args, item);
    match expansion.errors {
        Some(e) => Err(e),
        None => Ok(expansion.tokens),
    }
}

/// Parses, validates and expands, never failing: on errors the tokens hold the fallback.
pub fn run(args: TokenStream, item: TokenStream) -> Expansion {
    let mut errors = Errors::default();
    let item: syn::ItemStruct = match syn::parse2(item.clone()) {
        Ok(item) => item,
        Err(_) => {
            errors.push(
                Span::call_site(),
                "#[arvo_contract] goes on a unit struct, e.g. `pub struct CalcAdd;`",
            );
            return Expansion {
                tokens: item,
                errors: errors.into_error(),
            };
        }
    };
    if let Some(e) = crate::args::applied_twice(
        &item.attrs,
        "arvo_contract",
        "a struct declares one contract (declare another on a struct of its own)",
    ) {
        return Expansion {
            tokens: quote!(#item),
            errors: Some(e),
        };
    }
    validate::check_item(&item, &mut errors);
    let raw = parse::parse_args(args, &mut errors);
    let contract = parse::lower(raw, &item.ident, &item.vis, &mut errors);
    validate::check(&contract, &mut errors);
    let ok = errors.is_empty();
    let mut item = item;
    if ok {
        let doc = versions_doc(&contract);
        item.attrs.push(syn::parse_quote!(#[doc = #doc]));
    }
    let mut tokens = quote!(#item);
    if item.generics.params.is_empty() && item.generics.where_clause.is_none() {
        tokens.extend(generate(&contract, ok));
    }
    Expansion {
        tokens,
        errors: errors.into_error(),
    }
}

/// The "Versions" section appended to the contract's rustdoc: per version, its dataschema,
/// what it accepts and what it emits (with the payload types), and its system error.
fn versions_doc(contract: &Contract) -> String {
    let krate = &contract.krate;
    let accepted = accepted_type(contract);
    let ty = |t: &Type| quote!(#t).to_string().replace(' ', "").replace(',', ", ");
    let mut doc = String::from("\n# Versions\n");
    for v in versions(contract, &quote!(#krate::__private)) {
        let dataschema = format!("{}/{}", contract.uri.value, v.text);
        let accepts = v.payloads.first().map(|t| ty(t)).unwrap_or_default();
        let emits: Vec<String> = v
            .emits
            .iter()
            .map(|(t, _, payload)| format!("`{t}` (`{}`)", ty(payload)))
            .collect();
        let line = if matches!(contract.kind, Kind::Orchestrator { .. }) {
            format!(
                "\n- **`{}`** (dataschema `{dataschema}`): started by `{accepted}` (`{accepts}`), completes with {}; fails with `sys.{accepted}.error`.",
                v.text,
                emits.join(", ")
            )
        } else {
            format!(
                "\n- **`{}`** (dataschema `{dataschema}`): accepts `{accepted}` (`{accepts}`), emits {}; fails with `sys.{accepted}.error`.",
                v.text,
                emits.join(", ")
            )
        };
        doc.push_str(&line);
    }
    doc
}

/// One version, ready to generate.
struct Ver<'a> {
    text: &'a str,
    marker: Ident,
    emits_enum: Ident,
    method: Ident,
    /// The payload types as the user wrote them (for bound checks).
    payloads: Vec<&'a Type>,
    accepts: TokenStream,
    /// (event type, variant, payload).
    emits: Vec<(String, Ident, &'a Type)>,
}

/// The accepted event type and, per kind, extra constants.
fn accepted_type(contract: &Contract) -> String {
    match &contract.kind {
        Kind::Service { event_type } => event_type.value.clone(),
        Kind::Simple { root_type } => format!("com.{}", root_type.value),
        Kind::Orchestrator { name } => {
            format!("{}.{}", arvo_rules::ORCHESTRATOR_PREFIX, name.value)
        }
    }
}

fn versions<'a>(contract: &'a Contract, private: &TokenStream) -> Vec<Ver<'a>> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for v in &contract.versions {
        let text = v.version.value.as_str();
        if text == arvo_rules::WILDCARD_VERSION || !seen.insert(text) {
            continue;
        }
        let (Some(marker), Some(method)) = (
            naming::version_marker(&contract.ident, text),
            naming::version_method(text, v.version.span),
        ) else {
            continue;
        };
        let emits_enum = format_ident!("{}Emits", marker);
        let (payloads, accepts, emits) = match &v.body {
            VersionBody::Service { accepts, emits } => {
                let (mut types, mut variants) = (HashSet::new(), HashSet::new());
                let list: Vec<_> = emits
                    .iter()
                    .filter(|e| types.insert(e.event_type.value.as_str()))
                    .filter(|e| !arvo_rules::is_orchestrator_event_type(&e.event_type.value))
                    .filter_map(|e| {
                        let variant = naming::emit_variant_of(e)?;
                        // Colliding variant names are reported by validation; keep the first.
                        variants
                            .insert(variant.to_string())
                            .then(|| (e.event_type.value.clone(), variant, &e.payload))
                    })
                    .collect();
                let mut payloads = vec![accepts];
                payloads.extend(emits.iter().map(|e| &e.payload));
                (payloads, quote!(#accepts), list)
            }
            VersionBody::Simple { accepts, emits } => {
                let root = match &contract.kind {
                    Kind::Simple { root_type } => root_type.value.as_str(),
                    _ => "",
                };
                let variant = Ident::new("Success", Span::call_site());
                (
                    vec![accepts, emits],
                    quote!(#accepts),
                    vec![(format!("evt.{root}.success"), variant, emits)],
                )
            }
            VersionBody::Orchestrator { init, complete } => {
                let variant = Ident::new("Complete", Span::call_site());
                let done = format!("{}.done", accepted_type(contract));
                (
                    vec![init, complete],
                    quote_spanned!(init.span()=> #private::OrchestratorInit<#init>),
                    vec![(done, variant, complete)],
                )
            }
        };
        out.push(Ver {
            text,
            marker,
            emits_enum,
            method,
            payloads,
            accepts,
            emits,
        });
    }
    out
}

fn generate(contract: &Contract, ok: bool) -> TokenStream {
    let krate = &contract.krate;
    let private = quote!(#krate::__private);
    let ident = &contract.ident;
    let vis = &contract.vis;
    let uri = &contract.uri.value;
    let accepted = accepted_type(contract);
    let system_error = format!("sys.{accepted}.error");
    let versions = versions(contract, &private);
    let version_texts = versions.iter().map(|v| v.text);

    let mut public = TokenStream::new();
    let mut impls = TokenStream::new();
    for v in &versions {
        let (marker, emits_enum) = (&v.marker, &v.emits_enum);
        let text = v.text;
        let dataschema = format!("{uri}/{text}");
        let accepts = &v.accepts;
        let marker_doc = format!(
            "Version `{text}` of [`{ident}`] (dataschema `{dataschema}`): a marker type implementing `ContractVersion`."
        );
        let enum_doc =
            format!("The events version `{text}` of [`{ident}`] may emit, each with its payload.");
        let variants = v.emits.iter().map(|(t, variant, payload)| {
            let doc = format!("`{t}`");
            quote!(#[doc = #doc] #variant(#payload))
        });
        public.extend(quote! {
            #[doc = #marker_doc]
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
            #vis struct #marker;

            #[doc = #enum_doc]
            // A variant named with `as` in lowercase is reported by validation, once.
            #[allow(non_camel_case_types)]
            #vis enum #emits_enum {
                #(#variants,)*
            }
        });
        let types: Vec<&str> = v.emits.iter().map(|e| e.0.as_str()).collect();
        let variant_names: Vec<String> = v.emits.iter().map(|e| e.1.to_string()).collect();
        let type_arms = v
            .emits
            .iter()
            .map(|(t, variant, _)| quote!(Self::#variant(..) => #t));
        let ser_arms = v.emits.iter().map(|(_, variant, payload)| {
            // Through a probe: a payload without `Serialize` is reported once, by
            // `assert_payload` below, not again here.
            let call = quote_spanned!(payload.span()=> {
                #[allow(unused_imports)]
                use #private::{ProbeSerialize as _, ProbeSerializeFallback as _};
                (&#private::Probe::<#payload>::new()).serialize(data, serializer)
            });
            quote!(Self::#variant(ref data) => #call)
        });
        let de_arms = v.emits.iter().map(|(t, variant, payload)| {
            let call = quote_spanned!(payload.span()=> {
                #[allow(unused_imports)]
                use #private::{ProbeDeserialize as _, ProbeDeserializeFallback as _};
                (&#private::Probe::<#payload>::new()).deserialize(data)
            });
            quote!(#t => #call.map(|d| ::core::option::Option::Some(Self::#variant(d))))
        });
        let accepts_span = v
            .payloads
            .first()
            .map_or_else(Span::call_site, |t| t.span());
        let accepts_item = quote_spanned!(accepts_span=> type Accepts = #accepts;);
        impls.extend(quote! {
            impl #private::Sealed for #marker {}
            impl #private::ServiceRef for #marker {
                type Version = Self;
            }
            impl #private::ContractVersion for #marker {
                type Contract = #ident;
                const VERSION: &'static str = #text;
                const DATASCHEMA: &'static str = #dataschema;
                #accepts_item
                type Emits = #emits_enum;
            }
            impl ::core::fmt::Debug for #emits_enum {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    #private::fmt_emits(self, f)
                }
            }
            impl #private::Emits for #emits_enum {
                const EVENT_TYPES: &'static [&'static str] = &[#(#types),*];
                const VARIANTS: &'static [&'static str] = &[#(#variant_names),*];
                fn event_type(&self) -> &'static str {
                    match *self { #(#type_arms,)* }
                }
                fn serialize_data<S: #private::Serializer>(&self, serializer: S) -> ::core::result::Result<S::Ok, S::Error> {
                    match *self { #(#ser_arms,)* }
                }
                #[allow(unreachable_code)]
                fn deserialize_data<'de, D: #private::Deserializer<'de>>(event_type: &str, data: D) -> ::core::result::Result<::core::option::Option<Self>, D::Error> {
                    match event_type {
                        #(#de_arms,)*
                        _ => { let _ = data; ::core::result::Result::Ok(::core::option::Option::None) }
                    }
                }
            }
        });
        for ty in v.payloads.iter().skip(1) {
            impls.extend(quote_spanned! {ty.span()=>
                const _: fn() = || { #private::assert_payload::<#ty>(); };
            });
        }
    }

    if !matches!(contract.kind, Kind::Orchestrator { .. }) {
        public.extend(handler_trait(contract, &versions, krate));
        impls.extend(dispatch_impl(contract, &versions, &private));
    }

    let build = if ok {
        build_contract(contract, &versions, &private)
    } else {
        quote!(::core::unreachable!())
    };
    let (stored, to_contract) = match contract.kind {
        Kind::Orchestrator { .. } => (
            quote!(#private::OrchestratorContract),
            quote!(.map(|c| c.as_contract())),
        ),
        _ => (quote!(#private::ArvoContract), quote!()),
    };
    let contract_static = quote! {
        static CONTRACT: #private::LazyLock<::core::result::Result<#stored, #private::ContractError>> =
            #private::LazyLock::new(|| #build);
    };
    let contract_access = quote! { CONTRACT.as_ref() #to_contract };
    let kind_consts = match &contract.kind {
        Kind::Orchestrator { .. } => {
            let done = format!("{accepted}.done");
            quote! {
                /// The runtime orchestrator contract (the same value as [`Self::contract`], with
                /// the orchestrator accessors).
                ///
                /// # Panics
                /// As `TypedContract::contract`.
                pub fn orchestrator_contract() -> &'static #private::OrchestratorContract {
                    match CONTRACT.as_ref() {
                        ::core::result::Result::Ok(contract) => contract,
                        ::core::result::Result::Err(e) => ::core::panic!("the typed contract {} (uri={}) is invalid: {}", #accepted, #uri, e),
                    }
                }
                /// The type of the init event (`arvo.orc.<name>`).
                pub const INIT_TYPE: &'static str = #accepted;
                /// The type of the completion event (`arvo.orc.<name>.done`).
                pub const COMPLETE_TYPE: &'static str = #done;
            }
        }
        Kind::Simple { root_type } => {
            let success = format!("evt.{}.success", root_type.value);
            quote! {
                /// The type of the one event this simple contract emits (`evt.<type>.success`).
                pub const SUCCESS_TYPE: &'static str = #success;
            }
        }
        Kind::Service { .. } => quote!(),
    };
    let version_texts2 = version_texts.clone();
    // A contract named where a version belongs (`services(calc = CalcAdd)`) resolves to its
    // last version, so that mistake is reported once (see `__private::ServiceRef`).
    let service_ref = versions.last().map(|v| {
        let marker = &v.marker;
        quote!(impl #private::ServiceRef for #ident { type Version = #marker; })
    });
    let hint = match contract.kind {
        Kind::Orchestrator { .. } => "",
        _ => {
            " (a function handles one version: a contract with several versions needs an impl block)"
        }
    };
    let unhandled = versions.iter().map(|v| {
        format!(
            "version `{text}` of `{ident}` has no handler: add a `#[version(\"{text}\")]` method for it{hint}",
            text = v.text
        )
    });
    quote! {
        #public
        const _: () = {
            #contract_static
            impl #private::Sealed for #ident {}
            #service_ref
            impl #private::TypedContract for #ident {
                const URI: &'static str = #uri;
                const TYPE: &'static str = #accepted;
                const SYSTEM_ERROR_TYPE: &'static str = #system_error;
                const VERSIONS: &'static [&'static str] = &[#(#version_texts),*];
                const UNHANDLED: &'static [&'static str] = &[#(#unhandled),*];
                fn try_contract() -> ::core::result::Result<&'static #private::ArvoContract, &'static #private::ContractError> {
                    #contract_access
                }
            }
            #[allow(dead_code)]
            impl #ident {
                /// The contract's URI.
                pub const URI: &'static str = #uri;
                /// The event type the contract accepts.
                pub const TYPE: &'static str = #accepted;
                /// The type of the contract's system error events, `sys.<type>.error`.
                pub const SYSTEM_ERROR_TYPE: &'static str = #system_error;
                /// The versions, in declaration order.
                pub const VERSIONS: &'static [&'static str] = &[#(#version_texts2),*];
                #kind_consts
                /// The runtime contract, built on first use and then shared.
                pub fn contract() -> &'static #private::ArvoContract {
                    <Self as #private::TypedContract>::contract()
                }
            }
            #impls
        };
    }
}

fn handler_trait(contract: &Contract, versions: &[Ver<'_>], krate: &syn::Path) -> TokenStream {
    let ident = &contract.ident;
    let vis = &contract.vis;
    let name = handler_trait_name(ident);
    let doc = format!(
        "The implementation of [`{ident}`]: one method per version, so an implementation that misses a version does not compile (E0046). Run it with `ArvoEventHandler::typed::<{ident}, _>(handler)`: the runtime calls the method of the version named by the event's dataschema."
    );
    let method_list = versions
        .iter()
        .map(|v| format!("`{}`", v.method))
        .collect::<Vec<_>>()
        .join(", ");
    let message = format!("`{{Self}}` is not a handler of the contract `{ident}`");
    let label = format!("`{{Self}}` does not implement `{name}`");
    let note = format!(
        "implement `{name}` for `{{Self}}`: one method per version of `{ident}` ({method_list})"
    );
    let methods = versions.iter().map(|v| {
        let (method, marker, text) = (&v.method, &v.marker, v.text);
        let doc = format!(
            "Handles an event of version `{text}` ([`{marker}`]); returns the events to emit."
        );
        let future = crate::machine_expand::respan(
            quote!(#krate::typed::HandlerFuture<#marker>),
            method.span(),
        );
        // Spanned at the version literal, so "missing `v2_0_0`" (E0046) points at it. The
        // return type is the named `HandlerFuture<V>` (a `Future<Output = HandlerOutput<V>> +
        // Send`), so the stub an IDE or rustc suggests for a missing method reads
        // `-> impl HandlerFuture<XV1_0_0>`, not the expanded future type; an `async fn`
        // implements it.
        quote_spanned! {method.span()=>
            #[doc = #doc]
            fn #method(&self, input: #krate::typed::Input<'_, #marker>)
                -> impl #future;
        }
    });
    quote! {
        #[doc = #doc]
        #[diagnostic::on_unimplemented(message = #message, label = #label, note = #note)]
        #vis trait #name: ::core::marker::Send + ::core::marker::Sync {
            #(#methods)*
        }
    }
}

/// `CalcAdd` -> `CalcAddHandler`.
fn handler_trait_name(ident: &Ident) -> Ident {
    format_ident!("{}Handler", ident)
}

/// `impl<H: CalcAddHandler> ContractDispatch<H> for CalcAdd`: routes the resolved version to
/// its method (the runtime helpers read the payload and serialise the emissions).
fn dispatch_impl(contract: &Contract, versions: &[Ver<'_>], private: &TokenStream) -> TokenStream {
    let ident = &contract.ident;
    let name = handler_trait_name(ident);
    let arms = versions.iter().map(|v| {
        let (method, marker, text) = (&v.method, &v.marker, v.text);
        quote! {
            #text => #private::dispatch_version::<#marker, _, _>(input, move |input| {
                <H as #name>::#method(handler, input)
            })
        }
    });
    quote! {
        impl<H: #name + 'static> #private::ContractDispatch<H> for #ident {
            fn contract() -> #private::ArvoContract {
                ::core::clone::Clone::clone(<Self as #private::TypedContract>::contract())
            }
            fn dispatch<'a>(
                handler: &'a H,
                input: #private::HandlerInput<'a>,
            ) -> #private::BoxFuture<'a, #private::HandlerResult> {
                match input.contract.version().as_str() {
                    #(#arms,)*
                    _ => #private::unknown_version::<Self>(input),
                }
            }
        }
    }
}

/// The runtime contract, built with the same builders as a hand-written contract, so the two
/// cannot drift: `Result<ArvoContract | OrchestratorContract, ContractError>`.
fn build_contract(contract: &Contract, versions: &[Ver<'_>], private: &TokenStream) -> TokenStream {
    let uri = &contract.uri.value;
    // Through a probe: a payload without `JsonSchema` is reported once, by its own check,
    // not again here.
    let schema = |ty: &Type| {
        quote_spanned!(ty.span()=> {
            #[allow(unused_imports)]
            use #private::{ProbeSchema as _, ProbeSchemaFallback as _};
            (&#private::Probe::<#ty>::new()).schema()?
        })
    };
    let (start, version_calls) = match &contract.kind {
        Kind::Service { event_type } => {
            let t = &event_type.value;
            let calls = versions.iter().map(|v| {
                let text = v.text;
                let accepts = schema(v.payloads[0]);
                let emits = v.emits.iter().map(|(t, _, ty)| {
                    let s = schema(ty);
                    quote!(.emit(#t, #s))
                });
                quote!(.version(#text, #private::VersionSpec::new(#accepts) #(#emits)*))
            });
            (
                quote!(#private::ArvoContract::builder(#uri, #t)),
                calls.collect::<Vec<_>>(),
            )
        }
        Kind::Simple { root_type } => {
            let t = &root_type.value;
            let calls = versions.iter().map(|v| {
                let (text, a, e) = (v.text, schema(v.payloads[0]), schema(v.payloads[1]));
                quote!(.version(#text, #a, #e))
            });
            (
                quote!(#private::ArvoContract::simple(#uri, #t)),
                calls.collect(),
            )
        }
        Kind::Orchestrator { name } => {
            let n = &name.value;
            let calls = versions.iter().map(|v| {
                let (text, i, c) = (v.text, schema(v.payloads[0]), schema(v.payloads[1]));
                quote!(.version(#text, #i, #c))
            });
            (
                quote!(#private::ArvoContract::orchestrator(#uri, #n)),
                calls.collect(),
            )
        }
    };
    let description = contract.description.as_ref().map(|d| {
        let d = &d.value;
        quote!(.description(#d))
    });
    let domain = contract.domain.as_ref().map(|d| {
        let d = &d.value;
        quote!(.domain(#d))
    });
    let metadata = (!contract.metadata.is_empty()).then(|| {
        let entries = metadata(contract, private);
        quote!(.metadata({
            let mut map = #private::Map::new();
            #(#entries)*
            map
        }))
    });
    quote! {
        (|| -> ::core::result::Result<_, #private::ContractError> {
            #start #description #domain #metadata #(#version_calls)* .build()
        })()
    }
}

/// Metadata entries as `map.insert(key, value);` statements.
fn metadata(contract: &Contract, private: &TokenStream) -> Vec<TokenStream> {
    contract
        .metadata
        .iter()
        .map(|e| {
            let key = &e.key.value;
            let value = match &e.value {
                MetaValue::Str(s) => quote!(#private::Value::from(#s)),
                MetaValue::Bool(b) => quote!(#private::Value::from(#b)),
                MetaValue::Number(n) => quote!(#private::number(#n)),
            };
            quote!(map.insert(::std::string::String::from(#key), #value);)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pretty(args: TokenStream, item: TokenStream) -> String {
        match expand(args, item) {
            Ok(tokens) => match syn::parse2::<syn::File>(tokens) {
                Ok(file) => prettyplease::unparse(&file),
                Err(e) => format!("unparsable expansion: {e}"),
            },
            Err(e) => format!(
                "errors: {:?}",
                e.into_iter().map(|e| e.to_string()).collect::<Vec<_>>()
            ),
        }
    }

    #[test]
    fn service_contract() {
        insta::assert_snapshot!(pretty(
            quote!(
                uri = "#/bench/calc/add", type = "com.calc.add", description = "Adds", domain = "math",
                metadata(owner = "team-a", tier = 1),
                version("1.0.0", accepts = AddInput, emits("evt.calc.add.success" = AddOutput, "evt.calc.add.overflow" = Overflow)),
                version("2.0.0", accepts = AddInputV2, emits("evt.calc.add.success" = AddOutput)),
            ),
            quote!(
                pub struct CalcAdd;
            ),
        ));
    }

    #[test]
    fn simple_contract() {
        insta::assert_snapshot!(pretty(
            quote!(uri = "#/bench/calc/add", type = "calc.add", simple, version("1.0.0", accepts = AddInput, emits = AddOutput)),
            quote!(
                pub struct CalcAdd;
            ),
        ));
    }

    #[test]
    fn orchestrator_contract() {
        insta::assert_snapshot!(pretty(
            quote!(
                uri = "#/bench/orchestrator/calc",
                orchestrator = "bench.calc",
                crate = "::my_rt",
                version("1.0.0", init = CalcInit, complete = CalcDone)
            ),
            quote!(
                pub(crate) struct CalcFlow;
            ),
        ));
    }

    #[test]
    fn fallback_after_an_error_keeps_the_valid_parts() {
        let expansion = run(
            quote!(uri = "#/x", type = "com.x.run",
                version("1.0.0", accepts = A, emits("evt.x.done" = B)),
                version("2.0", accepts = A, emits("evt.x.done" = B))),
            quote!(
                pub struct X;
            ),
        );
        let errors: Vec<String> = expansion
            .errors
            .into_iter()
            .flat_map(|e| e.into_iter().map(|e| e.to_string()))
            .collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("invalid version `2.0`"));
        let text = expansion.tokens.to_string();
        assert!(text.contains("pub struct X ;"), "the struct is kept");
        assert!(
            text.contains("XV1_0_0Emits"),
            "the valid version is still generated"
        );
        assert!(text.contains("trait XHandler"));
        assert!(
            text.contains("unreachable"),
            "the contract value is not built from invalid data"
        );
    }

    #[test]
    fn non_struct_item_is_returned_unchanged() {
        let expansion = run(
            quote!(uri = "#/x"),
            quote!(
                fn f() {}
            ),
        );
        assert_eq!(
            expansion.tokens.to_string(),
            quote!(
                fn f() {}
            )
            .to_string()
        );
        assert!(expansion.errors.is_some());
    }
}
