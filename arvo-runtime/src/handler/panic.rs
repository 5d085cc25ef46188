//! Panics in user code, caught where the runtime runs that code and turned into the error they
//! stand for.
//!
//! A panic in a handler's implementation (typed or closure) or in an orchestration's step is, in
//! Rust, what a thrown error is in the reference: it becomes a [`UserPanic`] error, so the handler
//! emits `sys.<type>.error` events (and an orchestration writes its failure record and releases
//! its lock) exactly as for a returned error. The runtime never lets such a panic unwind into the
//! caller of `execute`.

use futures_util::FutureExt;
use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;

/// The longest panic message a [`UserPanic`] keeps, in bytes. A longer message is cut at a
/// character boundary and ends with `…`, so a panic cannot make error events of any size.
pub const MAX_PANIC_MESSAGE: usize = 1024;

/// A panic of user code, as an error. Displays as `user code panicked: <message>`, where the
/// message is the panic's payload when it is a `&str` or a `String` (cut at
/// [`MAX_PANIC_MESSAGE`] bytes), else `(non-string panic payload)`.
///
/// ```
/// use arvo_runtime::handler::UserPanic;
/// let payload: Box<dyn std::any::Any + Send> = Box::new("kaboom");
/// let p = UserPanic::from_payload(payload.as_ref());
/// assert_eq!(p.message(), "kaboom");
/// assert_eq!(p.to_string(), "user code panicked: kaboom");
/// let long = UserPanic::from_payload(&"x".repeat(5000));
/// assert!(long.message().len() <= arvo_runtime::handler::MAX_PANIC_MESSAGE + '…'.len_utf8());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("user code panicked: {message}")]
pub struct UserPanic {
    message: String,
}

impl UserPanic {
    /// The panic of `payload` (what `catch_unwind` returns).
    pub fn from_payload(payload: &(dyn Any + Send)) -> Self {
        let text = if let Some(s) = payload.downcast_ref::<&str>() {
            s
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.as_str()
        } else {
            "(non-string panic payload)"
        };
        UserPanic {
            message: bounded(text),
        }
    }

    /// The panic's message (bounded, see [`MAX_PANIC_MESSAGE`]).
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// `text`, cut at [`MAX_PANIC_MESSAGE`] bytes (on a character boundary) with `…` appended.
fn bounded(text: &str) -> String {
    if text.len() <= MAX_PANIC_MESSAGE {
        return text.to_owned();
    }
    let prefix = crate::issue::prefix_within(text, MAX_PANIC_MESSAGE);
    let mut s = String::with_capacity(prefix.len() + '…'.len_utf8());
    s.push_str(prefix);
    s.push('…');
    s
}

/// Runs `fut`, turning a panic while it is polled into a [`UserPanic`].
///
/// The future is asserted unwind-safe: after a panic it is dropped and nothing it borrowed is
/// looked at again except through the error path of the caller, which does not rely on state
/// the user code left half-updated.
///
/// A plain `fn` returning the wrapped future, not an `async fn`: an `async fn` would keep `fut`
/// twice in its state (the argument and the `CatchUnwind` built from it), doubling the size of
/// every step future that goes through here (a resumable step: 1,352 bytes, 680 without).
pub(crate) fn catch_panic<F: Future>(fut: F) -> impl Future<Output = Result<F::Output, UserPanic>> {
    AssertUnwindSafe(fut)
        .catch_unwind()
        .map(|r| r.map_err(|payload| UserPanic::from_payload(payload.as_ref())))
}

/// Runs `f`, turning a panic into a [`UserPanic`] (for synchronous user code: middleware).
pub(crate) fn catch_panic_sync<R>(f: impl FnOnce() -> R) -> Result<R, UserPanic> {
    std::panic::catch_unwind(AssertUnwindSafe(f))
        .map_err(|payload| UserPanic::from_payload(payload.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_bounded_on_a_char_boundary() {
        let text = "é".repeat(MAX_PANIC_MESSAGE);
        let p = UserPanic::from_payload(&text);
        assert!(p.message().ends_with('…'));
        assert!(p.message().len() <= MAX_PANIC_MESSAGE + '…'.len_utf8());
        let p = UserPanic::from_payload(&42_u32);
        assert_eq!(p.message(), "(non-string panic payload)");
        let p = UserPanic::from_payload(&String::from("owned"));
        assert_eq!(p.message(), "owned");
    }
}
