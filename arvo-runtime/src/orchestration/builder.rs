//! The settings [`ArvoOrchestratorBuilder`](crate::orchestrator::ArvoOrchestratorBuilder) and
//! [`ArvoResumableBuilder`](crate::resumable::ArvoResumableBuilder) share: one type holding
//! them ([`BuilderSettings`]) and one macro writing their setters ([`builder_setters!`]), so
//! each setting has one field, one default and one doc.

use opentelemetry::KeyValue;
use opentelemetry::global::BoxedTracer;

use super::{EmissionDomains, OrchestrationKind, OrchestrationSettings, SubjectCache};
use crate::contract::{OrchestratorContract, VersionedContract};
use crate::resumable::{DEFAULT_IDEMPOTENCY_WINDOW, DEFAULT_SUBJECT_CACHE};

/// What is wrong with a workflow's service list (machines and resumables alike, each with its
/// own error type and the reference's messages).
pub(crate) enum ServiceClash {
    /// The workflow's own contract (`uri`) is registered as service `key`.
    Circular { key: String },
    /// Two keys share a uri.
    Duplicate {
        later: String,
        earlier: String,
        uri: String,
    },
}

/// The first clash in `services` (in order) for a workflow whose contract has `self_uri`, or
/// `None`: one pass, uris hashed.
pub(crate) fn service_clash(
    self_uri: &str,
    services: &[(String, VersionedContract)],
) -> Option<ServiceClash> {
    let mut by_uri = std::collections::HashMap::with_capacity(services.len());
    for (key, c) in services {
        if c.uri() == self_uri {
            return Some(ServiceClash::Circular { key: key.clone() });
        }
        if let Some(earlier) = by_uri.insert(c.uri(), key) {
            return Some(ServiceClash::Duplicate {
                later: key.clone(),
                earlier: earlier.clone(),
                uri: c.uri().to_owned(),
            });
        }
    }
    None
}

/// The settings of an orchestration handler as its builder collects them.
pub(crate) struct BuilderSettings {
    pub(crate) executionunits: f64,
    /// `None`: the handler kind's default (see [`builder_setters!`]).
    pub(crate) requires_locking: Option<bool>,
    pub(crate) domains: EmissionDomains,
    pub(crate) window: usize,
    pub(crate) cache: usize,
    pub(crate) tracer: Option<BoxedTracer>,
    pub(crate) span_name: Option<String>,
    pub(crate) span_attributes: Vec<KeyValue>,
}

impl Default for BuilderSettings {
    fn default() -> Self {
        Self {
            executionunits: 0.0,
            requires_locking: None,
            domains: EmissionDomains::default(),
            window: DEFAULT_IDEMPOTENCY_WINDOW,
            cache: DEFAULT_SUBJECT_CACHE,
            tracer: None,
            span_name: None,
            span_attributes: Vec::new(),
        }
    }
}

/// What [`BuilderSettings::finish`] hands to the handler it builds.
pub(crate) struct FinishedSettings {
    pub(crate) settings: OrchestrationSettings,
    /// Whether subjects are locked (the explicit setting, else the kind's default).
    pub(crate) requires_locking: bool,
    /// The idempotency window, at least 1.
    pub(crate) window: usize,
    pub(crate) cache: SubjectCache,
}

impl BuilderSettings {
    /// The runtime settings of a handler of `kind` over `contract`; `default_locking` is used
    /// when [`requires_locking`](Self::requires_locking) was not set.
    pub(crate) fn finish(
        self,
        kind: OrchestrationKind,
        contract: OrchestratorContract,
        default_locking: impl FnOnce() -> bool,
    ) -> FinishedSettings {
        let requires_locking = self.requires_locking.unwrap_or_else(default_locking);
        FinishedSettings {
            settings: OrchestrationSettings::new(
                kind,
                contract,
                self.executionunits,
                self.domains,
                self.tracer,
                self.span_name,
                self.span_attributes,
            ),
            requires_locking,
            window: self.window,
            cache: SubjectCache::new(self.cache),
        }
    }
}

/// The setters of the settings shared by the orchestration builders, written once. Used in an
/// `impl` block of a builder with a field `settings: BuilderSettings`; the arguments are the
/// parts of the docs that differ per kind: the handler's name in prose, the default of
/// `requires_locking` and the default span name.
macro_rules! builder_setters {
    (handler = $handler:literal, locking_default = $locking:literal, span_default = $span:literal $(,)?) => {
        /// The default cost of emitted events (default 0; it must be finite, or `build`
        /// fails).
        pub fn executionunits(mut self, executionunits: f64) -> Self {
            self.settings.executionunits = executionunits;
            self
        }

        #[doc = concat!("Whether subjects are locked during a step (default: ", $locking, ").")]
        pub fn requires_locking(mut self, requires: bool) -> Self {
            self.settings.requires_locking = Some(requires);
            self
        }

        /// The default emission domains.
        pub fn domains(mut self, domains: $crate::orchestration::EmissionDomains) -> Self {
            self.settings.domains = domains;
            self
        }

        /// How many processed steps a record remembers for idempotency (default
        /// [`DEFAULT_IDEMPOTENCY_WINDOW`](crate::resumable::DEFAULT_IDEMPOTENCY_WINDOW); 1
        /// remembers only the last step, and 0 counts as 1).
        pub fn idempotency_window(mut self, steps: usize) -> Self {
            self.settings.window = steps.max(1);
            self
        }

        /// Capacity of the subject cache (default
        /// [`DEFAULT_SUBJECT_CACHE`](crate::resumable::DEFAULT_SUBJECT_CACHE); 0 disables
        /// it).
        pub fn subject_cache(mut self, capacity: usize) -> Self {
            self.settings.cache = capacity;
            self
        }

        #[doc = concat!("The tracer of the ", $handler, "'s spans (default: the global `arvo-instrumentation` tracer).")]
        pub fn tracer(mut self, tracer: ::opentelemetry::global::BoxedTracer) -> Self {
            self.settings.tracer = Some(tracer);
            self
        }

        #[doc = concat!("The span name (default `", $span, "`).")]
        pub fn span_name(mut self, name: impl Into<String>) -> Self {
            self.settings.span_name = Some(name.into());
            self
        }

        /// An extra span attribute.
        pub fn span_attribute(mut self, attribute: ::opentelemetry::KeyValue) -> Self {
            self.settings.span_attributes.push(attribute);
            self
        }
    };
}
pub(crate) use builder_setters;

#[cfg(test)]
mod tests {
    use super::*;

    struct Probe {
        settings: BuilderSettings,
    }

    impl Probe {
        builder_setters!(
            handler = "probe",
            locking_default = "never",
            span_default = "Probe"
        );
    }

    #[test]
    fn setters_write_the_shared_settings() {
        let probe = Probe {
            settings: BuilderSettings::default(),
        };
        assert_eq!(probe.settings.window, DEFAULT_IDEMPOTENCY_WINDOW);
        assert_eq!(probe.settings.cache, DEFAULT_SUBJECT_CACHE);
        let probe = probe
            .executionunits(2.5)
            .requires_locking(true)
            .idempotency_window(0)
            .subject_cache(3)
            .domains(EmissionDomains::default())
            .tracer(opentelemetry::global::tracer("probe"))
            .span_name("s")
            .span_attribute(KeyValue::new("k", "v"));
        let s = &probe.settings;
        assert_eq!(s.executionunits, 2.5);
        assert_eq!(s.requires_locking, Some(true));
        assert_eq!(s.window, 1, "a window of 0 remembers the last step");
        assert_eq!(s.cache, 3);
        assert_eq!(s.span_name.as_deref(), Some("s"));
        assert_eq!(s.span_attributes.len(), 1);
        assert!(s.tracer.is_some());
    }
}
