//! Accumulates spanned errors so that the user sees all of them in one compile.

use proc_macro2::Span;
use std::fmt::Display;

/// A growing list of compile errors (serde_derive's `Ctxt`, without the drop bomb).
#[derive(Default)]
pub struct Errors {
    error: Option<syn::Error>,
}

impl Errors {
    /// Records `msg` at `span`.
    pub fn push(&mut self, span: Span, msg: impl Display) {
        self.add(syn::Error::new(span, msg));
    }

    /// Records an already built error (it may hold several messages).
    pub fn add(&mut self, err: syn::Error) {
        match &mut self.error {
            Some(e) => e.combine(err),
            None => self.error = Some(err),
        }
    }

    /// Whether no error was recorded.
    pub fn is_empty(&self) -> bool {
        self.error.is_none()
    }

    /// All recorded errors, combined, or `None`.
    pub fn into_error(self) -> Option<syn::Error> {
        self.error
    }
}
