//! `#[arvo_machine]`, stage 3: the model -> Rust items.

use crate::errors::Errors;
use crate::machine::{self, Machine};
use crate::machine_validate::{self, Tree};
use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::ItemImpl;

/// Parses, validates and expands; on errors the impl block (without its machine attributes)
/// is still emitted beside the `compile_error!`s, so IDE completion keeps working.
pub fn run(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let mut item: ItemImpl = match syn::parse2(item.clone()) {
        Ok(item) => item,
        Err(_) => {
            errors.push(
                Span::call_site(),
                "#[arvo_machine] goes on an impl block: `impl MyMachine { #[state(initial)] fn idle(&self) {} .. }`",
            );
            let mut tokens = item;
            if let Some(e) = errors.into_error() {
                tokens.extend(e.to_compile_error());
            }
            return tokens;
        }
    };
    let model = machine::parse(args, &mut item, &mut errors);
    let tree = model
        .as_ref()
        .map(|m| machine_validate::validate(m, &mut errors));
    let mut tokens = match (&model, &tree, errors.is_empty()) {
        (Some(m), Some(t), true) => expand(m, t),
        _ => quote!(#item),
    };
    if let Some(e) = errors.into_error() {
        tokens.extend(e.to_compile_error());
    }
    tokens
}

fn expand(m: &Machine, _tree: &Tree) -> TokenStream {
    let item = &m.item;
    quote!(#item)
}
