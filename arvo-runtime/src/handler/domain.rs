//! Domains (spec §2): typed domain specs and their resolution.

use crate::subject;
use std::cell::OnceCell;
use std::fmt;

/// A validated domain (`^[a-z0-9.]+$`).
///
/// ```
/// use arvo_runtime::handler::Domain;
/// assert_eq!(Domain::new("human.review")?.as_str(), "human.review");
/// assert!(Domain::new("Not A Domain").is_err());
/// # Ok::<(), arvo_runtime::handler::DomainError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Domain(String);

/// A string that is not a valid domain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Invalid domain '{}': a domain must match ^[a-z0-9.]+$",
    crate::issue::quote_prefix(.0)
)]
pub struct DomainError(pub String);

impl Domain {
    /// Validates `domain`.
    ///
    /// # Errors
    /// [`DomainError`] when it does not match `^[a-z0-9.]+$`.
    pub fn new(domain: impl Into<String>) -> Result<Domain, DomainError> {
        let domain = domain.into();
        if arvo_rules::is_domain(&domain) {
            Ok(Domain(domain))
        } else {
            Err(DomainError(domain))
        }
    }

    /// The domain.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where an emitted event's domain comes from (the reference's `ArvoDomain` constants and
/// literal domains). Each spec in an emission's list produces one copy of the event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DomainSpec {
    /// `null`: the default pipeline.
    Local,
    /// A literal domain.
    Literal(Domain),
    /// `domain.contract.self.inherit`: the handler contract's domain.
    FromSelfContract,
    /// `domain.contract.inherit`: the emitted event's contract's domain.
    FromEventContract,
    /// `domain.event.inherit`: the triggering event's domain.
    FromTriggeringEvent,
    /// `domain.event.current.subject`: the execution domain of the current subject.
    FromCurrentSubject,
    /// `domain.parent.subject`: the execution domain of the parent subject.
    FromParentSubject,
    /// `domain.orchestration.context`: back to the orchestration's home domain only when a
    /// domain boundary was crossed (§2.3). The default.
    OrchestrationContext,
}

impl DomainSpec {
    /// A literal domain spec.
    ///
    /// # Errors
    /// [`DomainError`] for an invalid domain.
    pub fn literal(domain: impl Into<String>) -> Result<DomainSpec, DomainError> {
        Domain::new(domain).map(DomainSpec::Literal)
    }

    /// Reads the reference's string form: `None` or `""` is [`Local`](DomainSpec::Local), the
    /// symbolic constants their variants, anything else a literal domain (validated).
    ///
    /// ```
    /// use arvo_runtime::handler::DomainSpec;
    /// assert_eq!(DomainSpec::from_reference(Some("domain.event.inherit"))?, DomainSpec::FromTriggeringEvent);
    /// assert_eq!(DomainSpec::from_reference(None)?, DomainSpec::Local);
    /// assert!(matches!(DomainSpec::from_reference(Some("test.3"))?, DomainSpec::Literal(_)));
    /// # Ok::<(), arvo_runtime::handler::DomainError>(())
    /// ```
    ///
    /// # Errors
    /// [`DomainError`] for an invalid literal.
    pub fn from_reference(spec: Option<&str>) -> Result<DomainSpec, DomainError> {
        Ok(match spec {
            None | Some("") => DomainSpec::Local,
            Some("domain.contract.self.inherit") => DomainSpec::FromSelfContract,
            Some("domain.contract.inherit") => DomainSpec::FromEventContract,
            Some("domain.event.inherit") => DomainSpec::FromTriggeringEvent,
            Some("domain.event.current.subject") => DomainSpec::FromCurrentSubject,
            Some("domain.parent.subject") => DomainSpec::FromParentSubject,
            Some("domain.orchestration.context") => DomainSpec::OrchestrationContext,
            Some(d) => DomainSpec::literal(d)?,
        })
    }

    /// The reference's string form (`None` for [`Local`](DomainSpec::Local)).
    pub fn as_reference(&self) -> Option<&str> {
        match self {
            DomainSpec::Local => None,
            DomainSpec::Literal(d) => Some(d.as_str()),
            DomainSpec::FromSelfContract => Some("domain.contract.self.inherit"),
            DomainSpec::FromEventContract => Some("domain.contract.inherit"),
            DomainSpec::FromTriggeringEvent => Some("domain.event.inherit"),
            DomainSpec::FromCurrentSubject => Some("domain.event.current.subject"),
            DomainSpec::FromParentSubject => Some("domain.parent.subject"),
            DomainSpec::OrchestrationContext => Some("domain.orchestration.context"),
        }
    }
}

/// The context of a domain resolution (`resolveEventDomain`'s arguments). Subjects are decoded
/// lazily, at most once each, and only when a spec's result depends on them: a
/// [`DomainResolver`] can serve every output and system error of one execution.
///
/// ```
/// use arvo_runtime::handler::{DomainResolver, DomainSpec};
/// let r = DomainResolver::new(None, "not-a-subject", Some("test.3333"), Some("test.3333"), None);
/// // No parent, no triggering domain: ORCHESTRATION_CONTEXT is null without decoding anything.
/// assert_eq!(r.resolve(&DomainSpec::OrchestrationContext), None);
/// assert!(!r.decoded_current());
/// assert_eq!(r.resolve(&DomainSpec::FromSelfContract), Some("test.3333"));
/// ```
#[derive(Debug)]
pub struct DomainResolver<'a> {
    parent_subject: Option<&'a str>,
    current_subject: &'a str,
    self_contract: Option<&'a str>,
    event_contract: Option<&'a str>,
    triggering: Option<&'a str>,
    current: OnceCell<Result<Option<String>, String>>,
    parent: OnceCell<Result<Option<String>, String>>,
}

impl<'a> DomainResolver<'a> {
    /// A resolver: `parent_subject` (null for handlers and root orchestrations), the current
    /// subject (the triggering event's), the handler contract's domain, the emitted event's
    /// contract's domain (`None` when it has none or there is no such contract) and the
    /// triggering event's domain.
    pub fn new(
        parent_subject: Option<&'a str>,
        current_subject: &'a str,
        self_contract_domain: Option<&'a str>,
        event_contract_domain: Option<&'a str>,
        triggering_domain: Option<&'a str>,
    ) -> Self {
        DomainResolver {
            parent_subject,
            current_subject,
            self_contract: self_contract_domain,
            event_contract: event_contract_domain,
            triggering: triggering_domain,
            current: OnceCell::new(),
            parent: OnceCell::new(),
        }
    }

    /// The current subject's execution domain, already decoded by the caller (orchestrations
    /// decode their subject once per step and share it): resolution will not decode it again.
    pub(crate) fn with_current_domain(self, domain: Option<&str>) -> Self {
        let _ = self.current.set(Ok(domain.map(str::to_owned)));
        self
    }

    /// The parent subject's execution domain, already decoded by the caller.
    pub(crate) fn with_parent_domain(self, domain: Option<&str>) -> Self {
        let _ = self.parent.set(Ok(domain.map(str::to_owned)));
        self
    }

    fn decode(subject: &str) -> Result<Option<String>, String> {
        subject::parse(subject)
            .map(|c| c.execution.domain)
            .map_err(|e| e.to_string())
    }

    fn current_domain(&self) -> Option<&str> {
        self.current
            .get_or_init(|| Self::decode(self.current_subject))
            .as_ref()
            .ok()
            .and_then(Option::as_deref)
    }

    fn parent_domain(&self) -> Option<&str> {
        let parent = self.parent_subject?;
        self.parent
            .get_or_init(|| Self::decode(parent))
            .as_ref()
            .ok()
            .and_then(Option::as_deref)
    }

    /// Whether the current subject has been decoded (for tests and benchmarks).
    pub fn decoded_current(&self) -> bool {
        self.current.get().is_some()
    }

    /// The messages of subjects that failed to decode during resolution (the reference
    /// records `Unable to parse the provided subject. Falling back to ArvoDomain.LOCAL. Error:
    /// <msg>` on the span for each).
    pub fn subject_errors(&self) -> impl Iterator<Item = &str> {
        [self.current.get(), self.parent.get()]
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_ref().err().map(String::as_str))
    }

    /// Resolves one spec (spec §2.2 / §2.3).
    pub fn resolve<'s>(&'s self, spec: &'s DomainSpec) -> Option<&'s str> {
        match spec {
            DomainSpec::Local => None,
            DomainSpec::Literal(d) => Some(d.as_str()),
            DomainSpec::FromSelfContract => self.self_contract,
            DomainSpec::FromEventContract => self.event_contract,
            DomainSpec::FromTriggeringEvent => self.triggering,
            DomainSpec::FromCurrentSubject => self.current_domain(),
            DomainSpec::FromParentSubject => self.parent_domain(),
            DomainSpec::OrchestrationContext => {
                if self.parent_subject.is_some() {
                    let par = self.parent_domain();
                    if self.current_domain() == par {
                        None
                    } else {
                        par
                    }
                } else {
                    // Decode only when the triggering event has a domain.
                    let trig = self.triggering?;
                    let cur = self.current_domain();
                    if cur == Some(trig) { None } else { cur }
                }
            }
        }
    }

    /// Resolves every spec and removes duplicates of the resolved values, keeping the first
    /// occurrence (the handlers' and system errors' rule, §2.5).
    pub fn resolve_dedup<'s>(&'s self, specs: &'s [DomainSpec]) -> Vec<Option<&'s str>> {
        let mut out: Vec<Option<&str>> = Vec::with_capacity(specs.len());
        for spec in specs {
            let d = self.resolve(spec);
            if !out.contains(&d) {
                out.push(d);
            }
        }
        out
    }
}
