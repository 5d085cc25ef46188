//! Helpers for the key-value arguments of the attribute macros that collect every error
//! (`#[arvo_handler]`, `#[arvo_resumable]`): one key set twice, skipping a bad value, the
//! `crate = "path"` override.

use crate::errors::Errors;
use syn::meta::ParseNestedMeta;
use syn::{Ident, LitStr, Path, Token};

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
pub(crate) fn crate_path(
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
