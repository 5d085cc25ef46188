//! Per-handler configuration: queue bound, prefetch, run timeout, retries and the on-error
//! policy.

use std::time::Duration;

/// How a handler's queue is served. [`Default`]: prefetch 1, a queue of 1024 events, no run
/// timeout, [`OnError::Fail`].
///
/// ```
/// use arvo_runtime::broker::{HandlerConfig, OnError, RetryPolicy};
/// use std::time::Duration;
/// let config = HandlerConfig::default()
///     .prefetch(8)
///     .queue_capacity(64)
///     .on_error(OnError::Retry(RetryPolicy::new(3, Duration::from_millis(5))));
/// assert_eq!(config.prefetch, 8);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct HandlerConfig {
    /// How many events of this queue are executed at the same time (at least 1). With 1,
    /// events are handled one after the other in queue (FIFO) order.
    pub prefetch: usize,
    /// How many events may wait in the queue (at least 1). A full queue makes
    /// [`EventBroker::publish`](super::EventBroker::publish) wait and
    /// [`EventBroker::try_publish`](super::EventBroker::try_publish) fail.
    pub queue_capacity: usize,
    /// The longest one run of the handler may take (`None`, the default: no limit, as the
    /// reference). A run still going after it is cancelled and is a
    /// [`FailureKind::TimedOut`](super::FailureKind::TimedOut), handled by
    /// [`on_error`](Self::on_error) like a violation: without it a handler that never returns
    /// holds its execution slot, and with prefetch 1 stalls its queue, for ever.
    pub run_timeout: Option<Duration>,
    /// What happens when the handler returns a violation, panics or runs past its
    /// [`run_timeout`](Self::run_timeout).
    pub on_error: OnError,
}

impl Default for HandlerConfig {
    fn default() -> Self {
        HandlerConfig {
            prefetch: 1,
            queue_capacity: 1024,
            run_timeout: None,
            on_error: OnError::Fail,
        }
    }
}

impl HandlerConfig {
    /// Sets [`prefetch`](Self::prefetch).
    pub fn prefetch(mut self, prefetch: usize) -> Self {
        self.prefetch = prefetch;
        self
    }
    /// Sets [`queue_capacity`](Self::queue_capacity).
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity;
        self
    }
    /// Sets [`run_timeout`](Self::run_timeout).
    pub fn run_timeout(mut self, timeout: Duration) -> Self {
        self.run_timeout = Some(timeout);
        self
    }
    /// Sets [`on_error`](Self::on_error).
    pub fn on_error(mut self, on_error: OnError) -> Self {
        self.on_error = on_error;
        self
    }
}

/// What the broker does when a handler fails (returns a [`Violation`](crate::handler::Violation),
/// panics or runs past its [`run_timeout`](HandlerConfig::run_timeout)) or an input middleware
/// rejects an event.
///
/// Rejections by middleware are never retried (the same event would be rejected again), nor
/// is an [`Execution`](crate::handler::Violation::Execution) violation: user code raises it to
/// stop the event ([`Violation::forbids_retry`](crate::handler::Violation::forbids_retry)).
#[derive(Debug, Clone, PartialEq)]
pub enum OnError {
    /// Run the handler again after a backoff; when the retries are used up, the failure is
    /// recorded as with [`OnError::Fail`].
    Retry(RetryPolicy),
    /// Record the failure in the outcome's [`errors`](super::Resolution::errors) (the
    /// reference's `throw`): the workflow stops on that branch, the caller sees why.
    Fail,
    /// Record the failure in the outcome's [`suppressed`](super::Resolution::suppressed) list
    /// only (and log it): the outcome still counts as a success.
    Suppress,
}

/// Retries with exponential backoff: the n-th retry (1-based) waits
/// `min(initial_delay * multiplier^(n-1), max_delay)`.
///
/// ```
/// use arvo_runtime::broker::RetryPolicy;
/// use std::time::Duration;
/// let p = RetryPolicy::new(4, Duration::from_millis(10)).multiplier(2.0).max_delay(Duration::from_millis(30));
/// assert_eq!(p.delay(1), Duration::from_millis(10));
/// assert_eq!(p.delay(2), Duration::from_millis(20));
/// assert_eq!(p.delay(3), Duration::from_millis(30)); // capped
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (so `max_retries + 1` executions at most).
    pub max_retries: u32,
    /// The wait before the first retry.
    pub initial_delay: Duration,
    /// The growth of the wait per retry (values below 1 are treated as 1).
    pub multiplier: f64,
    /// The longest wait.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 3 retries, 100 ms then x1.5, at most 5 s (the defaults of the reference's tools).
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            initial_delay: Duration::from_millis(100),
            multiplier: 1.5,
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// `max_retries` retries starting at `initial_delay`, doubling, capped at 30 s.
    pub fn new(max_retries: u32, initial_delay: Duration) -> Self {
        RetryPolicy {
            max_retries,
            initial_delay,
            multiplier: 2.0,
            max_delay: Duration::from_secs(30),
        }
    }
    /// Sets [`multiplier`](Self::multiplier).
    pub fn multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = multiplier;
        self
    }
    /// Sets [`max_delay`](Self::max_delay).
    pub fn max_delay(mut self, max_delay: Duration) -> Self {
        self.max_delay = max_delay;
        self
    }
    /// The wait before retry number `retry` (1-based).
    pub fn delay(&self, retry: u32) -> Duration {
        let factor = if self.multiplier.is_finite() && self.multiplier > 1.0 {
            self.multiplier
        } else {
            1.0
        };
        let exp = i32::try_from(retry.saturating_sub(1)).unwrap_or(i32::MAX);
        let secs = self.initial_delay.as_secs_f64() * factor.powi(exp);
        let max = self.max_delay.as_secs_f64();
        if secs.is_finite() && secs < max {
            Duration::from_secs_f64(secs)
        } else {
            self.max_delay
        }
    }
}
