//! The typed model of one `#[arvo_contract(...)]` invocation, as parsed (before validation).
//!
//! Every value keeps the span of the token the user wrote, so validation can point at it.

use proc_macro2::Span;
use syn::{Ident, LitStr, Path, Type, Visibility};

/// A string value with the span of its literal.
#[derive(Debug, Clone)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl Spanned<String> {
    pub fn from_lit(lit: &LitStr) -> Self {
        Spanned {
            value: lit.value(),
            span: lit.span(),
        }
    }
}

/// What kind of contract the attribute declares.
#[derive(Debug, Clone)]
pub enum Kind {
    /// `type = "com.x.y"`: a service contract with explicit emit types.
    Service { event_type: Spanned<String> },
    /// `simple, type = "x.y"`: `createSimpleArvoContract`, accepts `com.<type>`, emits
    /// `evt.<type>.success`.
    Simple { root_type: Spanned<String> },
    /// `orchestrator = "name"`: accepts `arvo.orc.<name>`, emits `arvo.orc.<name>.done`.
    Orchestrator { name: Spanned<String> },
}

/// One metadata entry `key = literal`.
#[derive(Debug, Clone)]
pub struct MetaEntry {
    pub key: Spanned<String>,
    pub value: MetaValue,
}

/// A literal metadata value.
#[derive(Debug, Clone)]
pub enum MetaValue {
    Str(String),
    /// An integer or float literal, with its sign, as written.
    Number(String),
    Bool(bool),
}

/// One emitted event of a service version: `"evt.x.y" = Payload`, or
/// `"evt.x.y" as Variant = Payload` to name its emits-enum variant.
#[derive(Debug, Clone)]
pub struct Emit {
    pub event_type: Spanned<String>,
    /// The variant name written after `as` (`None`: derived from the event type).
    pub variant: Option<Ident>,
    pub payload: Type,
}

/// What a version declares, by contract kind.
#[derive(Debug, Clone)]
pub enum VersionBody {
    /// `accepts = A, emits("t" = B, ...)`.
    Service { accepts: Type, emits: Vec<Emit> },
    /// `accepts = A, emits = B` (emit type derived from the root type).
    Simple { accepts: Type, emits: Type },
    /// `init = A, complete = B`.
    Orchestrator { init: Type, complete: Type },
}

/// `version("1.0.0", ...)`.
#[derive(Debug, Clone)]
pub struct Version {
    pub version: Spanned<String>,
    pub body: VersionBody,
}

/// The whole contract.
#[derive(Debug, Clone)]
pub struct Contract {
    /// The annotated struct's name, visibility and attributes live in `item`.
    pub ident: Ident,
    pub vis: Visibility,
    pub uri: Spanned<String>,
    pub kind: Kind,
    pub description: Option<Spanned<String>>,
    pub domain: Option<Spanned<String>>,
    pub metadata: Vec<MetaEntry>,
    pub versions: Vec<Version>,
    /// `crate = "path"`: where the runtime lives (default `::arvo_runtime`).
    pub krate: Path,
}
