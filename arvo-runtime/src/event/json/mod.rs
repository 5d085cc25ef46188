//! The wire form: the reference's `toString()` byte for byte, and a fast, validating reader.
//!
//! - [`js`]: JavaScript's number formatting and key order, which both directions share.
//! - [`write`](mod@write): `write_json` / `to_json_string` / `to_json_value` and the `Serialize` impls.
//! - [`read`]: `from_json_str` / `from_json_slice` and the `Deserialize` impl.

mod fast;
mod js;
mod read;
mod write;

pub use js::JsFormatter;
pub(crate) use js::{
    JsNumber, js_array_index, js_key_order, js_number_string, js_number_value, js_ordered,
    js_value_eq, value_eq_with,
};
