//! Event ids (§1.3): UUID v4 by default, developer-managed or Arvo-managed deduplication ids.

use crate::codec::{self, CodecError};
use crate::rules::js_trim;
use serde::{Deserialize, Serialize};

/// How the builder should make an event's `id` (the reference's `{deduplication, value}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventIdInput {
    /// `DEVELOPER_MANAGED`: the trimmed value is the id; a blank value falls back to a UUID v4.
    DeveloperManaged(String),
    /// `ARVO_MANAGED`: the id is the compressed JSON `{"uuid": <fresh uuid v4>, "value": <trimmed
    /// value>}`; a blank value falls back to a UUID v4.
    ArvoManaged(String),
}

/// The content of an `ARVO_MANAGED` id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArvoEventIdObject {
    /// The fresh UUID v4 generated with the id.
    pub uuid: String,
    /// The developer's deduplication value.
    pub value: String,
}

/// Why [`parse_arvo_event_id`] refused an id.
#[derive(Debug, thiserror::Error)]
#[error("The event id '{id}' is not an ARVO_MANAGED id: {source}")]
pub struct ParseEventIdError {
    /// The id that was given, cut to a bounded prefix
    /// ([`quote_prefix`](crate::issue::quote_prefix)).
    pub id: String,
    /// What went wrong: not zlib/base64 ([`CodecError::Inflate`], the reference's
    /// `incorrect header check`), or not JSON `{uuid, value}` ([`CodecError::Json`]).
    #[source]
    pub source: CodecError,
}

/// A fresh lowercase, hyphenated UUID v4.
///
/// ```
/// let id = arvo_runtime::event::new_uuid_v4();
/// assert_eq!(id.len(), 36);
/// assert_eq!(&id[14..15], "4");
/// ```
pub fn new_uuid_v4() -> String {
    let mut buf = uuid::Uuid::encode_buffer();
    uuid::Uuid::new_v4()
        .hyphenated()
        .encode_lower(&mut buf)
        .to_owned()
}

/// The reference's `createArvoEventId`: the id for a new event.
///
/// ```
/// use arvo_runtime::event::{create_event_id, parse_arvo_event_id, EventIdInput};
/// assert_eq!(create_event_id(Some(&EventIdInput::DeveloperManaged("  k-1 ".into()))), "k-1");
/// assert_eq!(create_event_id(None).len(), 36);
/// let id = create_event_id(Some(&EventIdInput::ArvoManaged("order-1".into())));
/// assert_eq!(parse_arvo_event_id(&id).unwrap().value, "order-1");
/// ```
pub fn create_event_id(input: Option<&EventIdInput>) -> String {
    match input {
        Some(EventIdInput::ArvoManaged(v)) if !js_trim(v).is_empty() => {
            let obj = ArvoEventIdObject {
                uuid: new_uuid_v4(),
                value: js_trim(v).to_owned(),
            };
            // Serialising two strings cannot fail; fall back to a plain uuid if it ever did.
            codec::compress_json(&obj).unwrap_or(obj.uuid)
        }
        Some(EventIdInput::DeveloperManaged(v)) if !js_trim(v).is_empty() => js_trim(v).to_owned(),
        _ => new_uuid_v4(),
    }
}

/// [`create_event_id`] as a shared string (a fresh UUID is written straight into it).
pub(crate) fn create_shared_event_id(input: Option<&EventIdInput>) -> super::SharedStr {
    match input {
        Some(EventIdInput::ArvoManaged(_) | EventIdInput::DeveloperManaged(_)) => {
            super::SharedStr::from(create_event_id(input))
        }
        None => {
            let mut buf = uuid::Uuid::encode_buffer();
            super::SharedStr::from(&*uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf))
        }
    }
}

/// The reference's `parseArvoEventId`: decodes an `ARVO_MANAGED` id into its `{uuid, value}`.
///
/// ```
/// use arvo_runtime::event::parse_arvo_event_id;
/// let id = "eJyrViotzUxRslIygAJdMGECIixgXBhQ0lEqS8wpTQUqzy9KSS3SNVSqBQDwRQ+3";
/// let parsed = parse_arvo_event_id(id).unwrap();
/// assert_eq!(parsed.uuid, "00000000-0000-4000-8000-000000000000");
/// assert_eq!(parsed.value, "order-1");
/// assert!(parse_arvo_event_id("evt-0001").is_err());
/// ```
pub fn parse_arvo_event_id(id: &str) -> Result<ArvoEventIdObject, ParseEventIdError> {
    codec::decompress_json(id).map_err(|source| ParseEventIdError {
        id: crate::issue::quote_prefix_owned(id),
        source,
    })
}
