//! Violations thrown by handlers (spec §11) and the error type of user code.

use crate::event::ArvoEvent;
use crate::violation::CustomViolation;
use serde_json::{Map, Value};
use std::error::Error;
use std::fmt;

/// Why an orchestration transaction failed (`TransactionViolationCause`); the memory layer's
/// type, re-exported here because [`Violation::Transaction`] carries it.
pub use crate::memory::TransactionCause;

/// A failure the hosting infrastructure must handle (retry, dead-letter): `execute` returns it
/// instead of emitting events. Messages are the reference's, `ViolationError<Type> message`.
///
/// ```
/// use arvo_runtime::handler::Violation;
/// let v = Violation::config("Event type mismatch: Received 'a.b.c', expected 'x.y.z'");
/// assert_eq!(v.to_string(), "ViolationError<Config> Event type mismatch: Received 'a.b.c', expected 'x.y.z'");
/// assert_eq!(v.name(), "ViolationError<Config>");
/// assert!(matches!(v, Violation::Config { .. }));
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Violation {
    /// `ContractViolation`: data does not match a schema, or a dataschema names another
    /// contract.
    #[error("ViolationError<Contract> {message}")]
    Contract {
        /// The message without the prefix.
        message: String,
        /// Free metadata (`null` in the reference when absent).
        metadata: Option<Map<String, Value>>,
    },
    /// `ConfigViolation`: topology or configuration problems (wrong event type, unknown
    /// version).
    #[error("ViolationError<Config> {message}")]
    Config {
        /// The message without the prefix.
        message: String,
        /// Free metadata.
        metadata: Option<Map<String, Value>>,
    },
    /// `ExecutionViolation`: raised by user code to stop and dead-letter an event.
    #[error("ViolationError<Execution> {message}")]
    Execution {
        /// The message without the prefix.
        message: String,
        /// Free metadata.
        metadata: Option<Map<String, Value>>,
    },
    /// `TransactionViolation`: orchestration memory failures.
    #[error("ViolationError<OrchestratorTransaction> [{cause}] {message}")]
    Transaction {
        /// The cause.
        cause: TransactionCause,
        /// The message without the prefixes.
        message: String,
        /// The event being processed (`metadata.initiatingEvent`).
        initiating_event: Option<Box<ArvoEvent>>,
        /// The memory failure behind it, when the orchestration layer raised it (its text is
        /// already part of `message`, so it is not also the error's `source()`); see
        /// [`Violation::is_transient`].
        memory_error: Option<Box<crate::memory::MemoryError>>,
    },
    /// A violation of any other type, a [`CustomViolation`] (a user-defined type such as
    /// `precondition`), passed through unchanged.
    #[error("{0}")]
    Other(Box<CustomViolation>),
}

impl Violation {
    /// A `Contract` violation without metadata.
    #[cold]
    pub fn contract(message: impl Into<String>) -> Self {
        Violation::Contract {
            message: message.into(),
            metadata: None,
        }
    }

    /// A `Config` violation without metadata.
    #[cold]
    pub fn config(message: impl Into<String>) -> Self {
        Violation::Config {
            message: message.into(),
            metadata: None,
        }
    }

    /// An `Execution` violation without metadata.
    ///
    /// ```
    /// use arvo_runtime::handler::Violation;
    /// assert_eq!(Violation::execution("stop").to_string(), "ViolationError<Execution> stop");
    /// ```
    #[cold]
    pub fn execution(message: impl Into<String>) -> Self {
        Violation::Execution {
            message: message.into(),
            metadata: None,
        }
    }

    /// A `Transaction` violation.
    ///
    /// ```
    /// use arvo_runtime::handler::{TransactionCause, Violation};
    /// let v = Violation::transaction(TransactionCause::LockUnacquired, "busy", None);
    /// assert_eq!(v.to_string(), "ViolationError<OrchestratorTransaction> [LOCK_UNACQUIRED] busy");
    /// ```
    #[cold]
    pub fn transaction(
        cause: TransactionCause,
        message: impl Into<String>,
        initiating_event: Option<ArvoEvent>,
    ) -> Self {
        Violation::Transaction {
            cause,
            message: message.into(),
            initiating_event: initiating_event.map(Box::new),
            memory_error: None,
        }
    }

    /// Whether the violation asks that the event not be run again: an
    /// [`Execution`](Violation::Execution) violation, user code's "stop, dead-letter this"
    /// (spec §11's consumer policy: Transaction, Contract and Config violations are retried,
    /// Execution violations dead-lettered). Neither the broker's
    /// [`OnError::Retry`](crate::broker::OnError::Retry) nor the NATS worker runs such an event
    /// again: the handler's side effects are not repeated.
    ///
    /// ```
    /// use arvo_runtime::handler::{TransactionCause, Violation};
    /// assert!(Violation::execution("stop").forbids_retry());
    /// assert!(!Violation::config("unknown version").forbids_retry());
    /// assert!(!Violation::transaction(TransactionCause::LockUnacquired, "busy", None).forbids_retry());
    /// ```
    pub fn forbids_retry(&self) -> bool {
        matches!(self, Violation::Execution { .. })
    }

    /// Whether running the same event again, unchanged, may succeed once time passes: true for
    /// a [`Transaction`](Violation::Transaction) violation unless its memory failure is one
    /// that repeats every time (see [`MemoryError::is_transient`](crate::memory::MemoryError::is_transient):
    /// a record too deep to store or stored in a shape this code cannot read); false for every
    /// other violation (the handler refused the event itself).
    ///
    /// The NATS worker waits for the memory (its `memory_wait`) only for transient violations;
    /// the others count as failed deliveries at once.
    ///
    /// ```
    /// use arvo_runtime::handler::{TransactionCause, Violation};
    /// assert!(Violation::transaction(TransactionCause::LockUnacquired, "busy", None).is_transient());
    /// assert!(!Violation::execution("stop").is_transient());
    /// ```
    pub fn is_transient(&self) -> bool {
        match self {
            Violation::Transaction { memory_error, .. } => memory_error
                .as_deref()
                .is_none_or(crate::memory::MemoryError::is_transient),
            _ => false,
        }
    }

    /// The violation type: `Contract`, `Config`, `Execution`, `OrchestratorTransaction`, or the
    /// type of an [`Other`](Violation::Other).
    pub fn violation_type(&self) -> &str {
        match self {
            Violation::Contract { .. } => "Contract",
            Violation::Config { .. } => "Config",
            Violation::Execution { .. } => "Execution",
            Violation::Transaction { .. } => "OrchestratorTransaction",
            Violation::Other(v) => v.violation_type(),
        }
    }

    /// `ViolationError<type>` (the reference's `name`).
    pub fn name(&self) -> String {
        format!("ViolationError<{}>", self.violation_type())
    }

    /// The metadata, when there is some (for `Transaction`: none here; see
    /// `initiating_event`).
    pub fn metadata(&self) -> Option<&Map<String, Value>> {
        match self {
            Violation::Contract { metadata, .. }
            | Violation::Config { metadata, .. }
            | Violation::Execution { metadata, .. } => metadata.as_ref(),
            Violation::Transaction { .. } => None,
            Violation::Other(v) => v.metadata(),
        }
    }

    /// The same violation as a [`CustomViolation`] (the reference's `ViolationError`; same
    /// type, message and metadata).
    pub fn to_custom(&self) -> CustomViolation {
        if let Violation::Other(v) = self {
            return (**v).clone();
        }
        let text = self.to_string();
        let prefix_len = self.violation_type().len() + "ViolationError<> ".len();
        let v = CustomViolation::new(self.violation_type(), text.get(prefix_len..).unwrap_or(""));
        match self.metadata() {
            Some(m) => v.with_metadata(m.clone()),
            None => v,
        }
    }

    /// Finds a violation in an error: the error itself or any `source()` in its chain that is a
    /// [`Violation`] or a [`CustomViolation`] (the reference's duck-typed `isViolationError`).
    pub fn find_in(err: &(dyn Error + 'static)) -> Option<Violation> {
        let mut cur = Some(err);
        while let Some(e) = cur {
            if let Some(v) = e.downcast_ref::<Violation>() {
                return Some(v.clone());
            }
            if let Some(v) = e.downcast_ref::<CustomViolation>() {
                return Some(Violation::from(v.clone()));
            }
            cur = e.source();
        }
        None
    }
}

impl From<CustomViolation> for Violation {
    /// `Contract`, `Config` and `Execution` violations become their variants; any other type
    /// stays an [`Other`](Violation::Other).
    fn from(v: CustomViolation) -> Self {
        let message = v.raw_message().to_owned();
        let metadata = v.metadata().cloned();
        match v.violation_type() {
            "Contract" => Violation::Contract { message, metadata },
            "Config" => Violation::Config { message, metadata },
            "Execution" => Violation::Execution { message, metadata },
            _ => Violation::Other(Box::new(v)),
        }
    }
}

/// The one error type of user code, in handlers and resumables alike (also re-exported as
/// `typed::HandlerError` and in the prelude): any [`std::error::Error`] converts into it with
/// `?`, and so do a `String` or `&str` message and a `Box<dyn Error + Send + Sync>` (as with
/// `anyhow::Error`, it does not implement `Error` itself).
///
/// At run time the handler looks inside: a [`Violation`] or [`CustomViolation`] (also when
/// wrapped as a `source()`) is returned to the caller as a violation; anything else becomes
/// `sys.<type>.error` events.
///
/// ```
/// use arvo_runtime::handler::{HandlerError, Violation};
/// fn parse(s: &str) -> Result<i64, HandlerError> {
///     let n: i64 = s.parse()?; // ParseIntError -> HandlerError
///     if n < 0 {
///         return Err(Violation::execution("negative input").into());
///     }
///     Ok(n)
/// }
/// assert!(parse("x").unwrap_err().violation().is_none());
/// assert_eq!(parse("-1").unwrap_err().violation(), Some(Violation::execution("negative input")));
/// assert_eq!(HandlerError::msg("boom").to_string(), "boom");
/// let from_text: HandlerError = "no name".into(); // as with `Box<dyn Error>`
/// assert_eq!(from_text.to_string(), "no name");
/// let boxed: Box<dyn std::error::Error> = from_text.into(); // and back, for `?` in `main`
/// assert_eq!(boxed.to_string(), "no name");
/// ```
pub struct HandlerError(Box<dyn Error + Send + Sync + 'static>);

impl HandlerError {
    /// An error with just a message.
    pub fn msg(message: impl fmt::Display) -> Self {
        HandlerError(Box::new(Message(message.to_string())))
    }

    /// Wraps an already boxed error (e.g. the `Box<dyn Error + Send + Sync>` of typed
    /// handlers).
    pub fn from_boxed(err: Box<dyn Error + Send + Sync + 'static>) -> Self {
        HandlerError(err)
    }

    /// The violation inside, if any (see [`Violation::find_in`]).
    pub fn violation(&self) -> Option<Violation> {
        Violation::find_in(self.as_error())
    }

    /// The wrapped error.
    pub fn as_error(&self) -> &(dyn Error + 'static) {
        &*self.0
    }

    /// The boxed error.
    pub fn into_inner(self) -> Box<dyn Error + Send + Sync + 'static> {
        self.0
    }
}

/// Anything a `Box<dyn Error + Send + Sync>` is made from: any error type, a `String` or
/// `&str` message (`Err("no name".into())`), or an already boxed error.
impl<E: Into<Box<dyn Error + Send + Sync + 'static>>> From<E> for HandlerError {
    fn from(e: E) -> Self {
        HandlerError(e.into())
    }
}

/// Back to a boxed error, so `?` on a handler's result works in a function returning
/// `Box<dyn Error>` (a test, `main`). (Not to `Box<dyn Error + Send + Sync>`: that conversion
/// would collide with `From<E: Into<Box<dyn Error + Send + Sync>>>`; use
/// [`HandlerError::into_inner`].)
impl From<HandlerError> for Box<dyn Error + 'static> {
    fn from(e: HandlerError) -> Self {
        e.0
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[derive(Debug)]
struct Message(String);

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for Message {}
