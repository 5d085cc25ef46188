//! The persisted record of an orchestration (spec §6.6): a normal record of the handler kind,
//! or the terminal failure record.

use serde::{Deserialize, Serialize};

use crate::violation::ArvoErrorPayload;

/// What an orchestration stores under its subject: `executionStatus` tells the two apart.
///
/// Serialises as the reference's records: `{"executionStatus": "normal", ...fields of N}` or
/// `{"executionStatus": "failure", "subject": ..., "error": {...}}`.
///
/// ```
/// use arvo_runtime::orchestration::{FailureRecord, OrchestrationRecord};
/// use arvo_runtime::violation::ArvoErrorPayload;
/// let r: OrchestrationRecord<()> = OrchestrationRecord::Failure(FailureRecord {
///     subject: "s".into(),
///     error: ArvoErrorPayload::new("Error", "boom", None),
/// });
/// assert_eq!(
///     serde_json::to_string(&r).unwrap(),
///     r#"{"executionStatus":"failure","subject":"s","error":{"errorName":"Error","errorMessage":"boom","errorStack":null}}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "executionStatus")]
pub enum OrchestrationRecord<N> {
    /// `executionStatus: 'normal'`: the orchestration is running or done.
    #[serde(rename = "normal")]
    Normal(N),
    /// `executionStatus: 'failure'`: a non-violation error ended it; later events are ignored.
    #[serde(rename = "failure")]
    Failure(FailureRecord),
}

impl<N> OrchestrationRecord<N> {
    /// The normal record, if this is one.
    pub fn as_normal(&self) -> Option<&N> {
        match self {
            Self::Normal(n) => Some(n),
            Self::Failure(_) => None,
        }
    }

    /// The failure record, if this is one.
    pub fn as_failure(&self) -> Option<&FailureRecord> {
        match self {
            Self::Normal(_) => None,
            Self::Failure(f) => Some(f),
        }
    }
}

/// The terminal failure record: `{subject, error: {errorName, errorMessage, errorStack}}`.
///
/// Deliberate difference: the reference stores the raw `Error` object, which serialises to
/// `{}`; this stores the `ArvoErrorSchema` shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureRecord {
    /// The orchestration's subject.
    pub subject: String,
    /// The error that ended it.
    pub error: ArvoErrorPayload,
}

/// What the wrapper needs to know of a handler kind's normal record.
pub trait NormalRecord {
    /// `parentSubject`: the parent orchestration's subject, `None` for a root.
    fn parent_subject(&self) -> Option<&str>;
    /// `initEventId`: the id of the event that started the orchestration.
    fn init_event_id(&self) -> &str;
    /// [`init_event_id`](Self::init_event_id), shared: override it when the record keeps the
    /// id in an `Arc<str>`, so that each step does not copy it.
    fn shared_init_event_id(&self) -> std::sync::Arc<str> {
        std::sync::Arc::from(self.init_event_id())
    }
}
