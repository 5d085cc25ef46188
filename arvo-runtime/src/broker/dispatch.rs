//! How events move: the handlers' dispatchers, one execution, and the routing of its outputs.

use super::outcome::{Reservation, WorkToken};
use super::{Envelope, Failure, FailureKind, Inner, OnError, Pending, Slot, Stage, Verdict};
use crate::event::ArvoEvent;
use crate::handler::{ParentContext, UserPanic, Violation, catch_panic, catch_panic_sync};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

/// Serves one handler's queue: takes events in FIFO order, at most `prefetch` running.
///
/// With `prefetch = 1` (the default) the dispatcher runs each execution itself instead of
/// spawning a task per event: it executes the handler, then routes the outputs as far as it can
/// without waiting. When an output must wait (a full queue, a hook), the rest of the routing
/// moves to a task of its own, so the execution slot is still released before the outputs are
/// forwarded (a cycle with full queues keeps moving) and the outputs keep their order.
///
/// The dispatcher holds the broker and the handler's slot weakly, between events: dropping the
/// last [`EventBroker`](super::EventBroker) drops its handlers (and whatever they hold, a memory full of records)
/// then and there, not when the runtime next polls the aborted dispatchers, which could be in
/// the middle of other work.
pub(super) async fn dispatch(
    inner: Weak<Inner>,
    slot: Weak<Slot>,
    mut rx: mpsc::Receiver<Envelope>,
) {
    let Some(prefetch) = slot.upgrade().map(|s| s.config.prefetch) else {
        return;
    };
    if prefetch == 1 {
        while let Some(envelope) = rx.recv().await {
            let (Some(inner), Some(slot)) = (inner.upgrade(), slot.upgrade()) else {
                return;
            };
            // Wait while a `resolve` runs an event of this handler inline.
            let Ok(permit) = slot.exec.acquire().await else {
                return;
            };
            let routing = execute(&inner, &slot, envelope).await;
            drop(permit);
            slot.busy.fetch_sub(1, Ordering::AcqRel);
            let Some(routing) = routing else {
                continue;
            };
            if let Some((routing, pending)) = routing.route_now(&inner, &slot) {
                tokio::spawn(routing.route(inner, slot.clone(), Some(pending)));
            }
        }
        return;
    }
    let permits = Arc::new(Semaphore::new(prefetch));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let Some(envelope) = rx.recv().await else {
            return;
        };
        let (Some(inner), Some(slot)) = (inner.upgrade(), slot.upgrade()) else {
            return;
        };
        tokio::spawn(process(inner, slot, envelope, permit));
    }
}

/// Handles one event in a task of its own (`prefetch > 1`): execution holding one of the
/// handler's permits, then routing of the outputs.
async fn process(
    inner: Arc<Inner>,
    slot: Arc<Slot>,
    envelope: Envelope,
    permit: OwnedSemaphorePermit,
) {
    let routing = execute(&inner, &slot, envelope).await;
    drop(permit);
    slot.busy.fetch_sub(1, Ordering::AcqRel);
    if let Some(routing) = routing {
        routing.route(inner, slot, None).await;
    }
}

/// Events of a `resolve`'s workflow for idle handlers, run inline by
/// [`Inner::run_inline`].
pub(super) type Local<'s> = VecDeque<(&'s Arc<Slot>, Envelope)>;

/// The most events one `resolve` runs inline (the rest go through the handlers' queues), so a
/// long workflow does not keep the caller's task from yielding to the others.
pub(super) const MAX_INLINE: usize = 64;

/// Runs `fut` in a task of its own (so the caller never waits for it), or in the returned
/// future when there is no tokio runtime to spawn on.
///
/// Spawned before the returned future is polled, and boxed otherwise: the caller's future
/// (a `resolve`, a dispatcher) does not carry `fut`'s size for its rare slow paths.
pub(super) fn detach(
    fut: impl Future<Output = ()> + Send + 'static,
) -> impl Future<Output = ()> + Send {
    let here = match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            drop(runtime.spawn(fut));
            None
        }
        Err(_) => Some(Box::pin(fut)),
    };
    async move {
        if let Some(fut) = here {
            fut.await;
        }
    }
}

/// What an execution left to route: its outputs, admitted into the workflow.
pub(super) struct Routing {
    /// The event the handler executed (output middleware sees it).
    input: ArvoEvent,
    /// The input's work: held until every output holds its own token, so the workflow is not
    /// idle in between.
    token: WorkToken,
    attempts: u32,
    outputs: std::vec::IntoIter<ArvoEvent>,
    /// The room the outputs took in the broker's buffer.
    room: Reservation,
}

impl Routing {
    /// The next output that passed the output middleware, with its token (rejections and
    /// middleware panics are recorded and skipped).
    pub(super) fn next(&mut self, inner: &Inner, slot: &Slot) -> Option<(ArvoEvent, WorkToken)> {
        let source = slot.handler.source();
        'outputs: for mut output in self.outputs.by_ref() {
            for (index, mw) in inner.output_mw.iter().enumerate() {
                let kind = match catch_panic_sync(|| mw(&output, &self.input, source)) {
                    Ok(Verdict::Pass) => continue,
                    Ok(Verdict::Replace(e)) => {
                        output = *e;
                        continue;
                    }
                    Ok(Verdict::Reject(reason)) => FailureKind::OutputRejected(reason),
                    Err(panic) => stage_panic(Stage::OutputMiddleware { index }, &panic),
                };
                let failure = Failure {
                    handler: source.to_owned(),
                    event: Box::new(output),
                    attempts: self.attempts,
                    kind,
                };
                self.token.collector.record_failure(failure, false);
                continue 'outputs;
            }
            let token = self.room.token()?;
            return Some((output, token));
        }
        None
    }

    /// Routes the outputs in order without waiting; when one has to wait, returns what is
    /// left (that delivery first) for [`route`](Self::route).
    fn route_now(mut self, inner: &Arc<Inner>, slot: &Slot) -> Option<(Routing, Pending)> {
        while let Some((output, token)) = self.next(inner, slot) {
            if let Some(pending) = inner.try_deliver(output, token, true, None) {
                return Some((self, pending));
            }
        }
        None
    }

    /// Routes the outputs in order, waiting where needed (after finishing `pending`).
    pub(super) async fn route(
        mut self,
        inner: Arc<Inner>,
        slot: Arc<Slot>,
        pending: Option<Pending>,
    ) {
        if let Some(pending) = pending {
            inner.deliver_slow(pending).await;
        }
        while let Some((output, token)) = self.next(&inner, &slot) {
            inner.deliver(output, token, true).await;
        }
    }
}

/// Runs one event through the input middleware and the handler (with the on-error policy),
/// and admits its outputs into the workflow. `None` when there is nothing to route (stopped
/// workflow, rejection, failure, no outputs, no room): what happened is recorded.
pub(super) async fn execute(
    inner: &Arc<Inner>,
    slot: &Slot,
    envelope: Envelope,
) -> Option<Routing> {
    let Envelope { mut event, token } = envelope;
    // A stopped workflow's queued events are dropped, not run.
    if token.collector.is_aborted() {
        return None;
    }
    let source = slot.handler.source();
    for (index, mw) in inner.input_mw.iter().enumerate() {
        let kind = match catch_panic_sync(|| mw(&event, source)) {
            Ok(Verdict::Pass) => continue,
            Ok(Verdict::Replace(e)) => {
                event = *e;
                continue;
            }
            Ok(Verdict::Reject(reason)) => FailureKind::InputRejected(reason),
            Err(panic) => stage_panic(Stage::InputMiddleware { index }, &panic),
        };
        let failure = Failure {
            handler: source.to_owned(),
            event: Box::new(event),
            attempts: 0,
            kind,
        };
        token.collector.record_failure(failure, false);
        return None;
    }
    let mut attempts = 0u32;
    let outputs = loop {
        attempts += 1;
        // In an async block, so a panic while the handler builds its future is caught too.
        let run = async { slot.handler.execute_dyn(&event, ParentContext::Event).await };
        // `Err(limit)`: still running at the run timeout.
        let ran = match slot.config.run_timeout {
            None => Ok(catch_panic(run).await),
            // Boxed: the timer stays out of every other execution's future.
            Some(limit) => Box::pin(tokio::time::timeout(limit, catch_panic(run)))
                .await
                .map_err(|_| limit),
        };
        let kind = match ran {
            Ok(Ok(Ok(outputs))) => break outputs,
            Ok(Ok(Err(violation))) => FailureKind::Violation(violation),
            Ok(Err(panic)) => FailureKind::Panic(panic.message().to_owned()),
            Err(limit) => FailureKind::TimedOut(limit),
        };
        if let OnError::Retry(policy) = &slot.config.on_error
            && attempts <= policy.max_retries
            && !kind.violation().is_some_and(Violation::forbids_retry)
        {
            tracing::debug!(handler = source, attempts, error = %kind, "retrying");
            tokio::time::sleep(policy.delay(attempts)).await;
            continue;
        }
        let failure = Failure {
            handler: source.to_owned(),
            event: Box::new(event),
            attempts,
            kind,
        };
        inner.record(slot, &token.collector, failure);
        return None;
    };
    token.collector.outcome().handled += 1;
    if outputs.is_empty() {
        return None;
    }
    // The outputs count against the workflow's budget and take room in the broker's buffer
    // before they are routed: the broker holds no event it has not counted.
    let room = match inner.admit(&token.collector, &outputs, token.budget.as_ref()) {
        Ok(room) => room,
        Err(e) => {
            if token.collector.reply_to.is_none() {
                let failure = Failure {
                    handler: source.to_owned(),
                    event: Box::new(event),
                    attempts,
                    kind: FailureKind::Dropped(e),
                };
                token.collector.record_failure(failure, false);
            }
            return None;
        }
    };
    Some(Routing {
        input: event,
        token,
        attempts,
        outputs: outputs.into_iter(),
        room,
    })
}

fn stage_panic(stage: Stage, panic: &UserPanic) -> FailureKind {
    tracing::warn!(%stage, error = %panic, "middleware panicked: the event is not handed on");
    FailureKind::StagePanic {
        stage,
        message: panic.message().to_owned(),
    }
}
