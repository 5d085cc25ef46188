//! Scenario tests for handlers, orchestrators and whole brokers (arvo-event-handler §10
//! `runArvoTestSuites`, as a plain builder for `#[tokio::test]`).
//!
//! A [`Scenario`] is a list of steps. Each step builds its input event from the events the
//! previous step emitted (an empty slice for the first step, and after a step that expected a
//! violation), runs the target, and checks the result against an [`Expectation`]: the events
//! ([`expect`](fn@expect): count, type, attributes, data fields by JSON pointer, custom checks) or the
//! violation ([`expect_violation`]). The first failing step stops the run with a
//! [`ScenarioError`] that says which step, which event and which field differed, expected vs
//! actual, with the actual events pretty-printed.
//!
//! ```
//! use arvo_runtime::contract::{ArvoContract, Schema};
//! use arvo_runtime::factory::{ArvoEventFactory, EventInput};
//! use arvo_runtime::handler::{ArvoEventHandler, RawOutput};
//! use arvo_runtime::testing::{Scenario, expect};
//! use serde_json::json;
//!
//! let ab = Schema::new(json!({"type":"object","properties":{"a":{"type":"number"},"b":{"type":"number"}},"required":["a","b"]}))?;
//! let out = Schema::new(json!({"type":"object","properties":{"result":{"type":"number"}},"required":["result"]}))?;
//! let contract = ArvoContract::simple("#/calc/add", "calc.add").version("1.0.0", ab, out).build()?;
//! let handler = ArvoEventHandler::builder(contract.clone())
//!     .version("1.0.0", |input| Box::pin(async move {
//!         let (a, b) = (input.event.data()["a"].as_f64(), input.event.data()["b"].as_f64());
//!         Ok(vec![RawOutput::new("evt.calc.add.success", json!({"result": a.unwrap_or(0.0) + b.unwrap_or(0.0)}))])
//!     }))
//!     .build()?;
//! let factory = ArvoEventFactory::new(contract.latest());
//!
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! Scenario::new("adds, then adds the result again")
//!     .step(
//!         |_| factory.accepts(EventInput::new("com.test", json!({"a": 1, "b": 2})).with_subject("s-1")),
//!         expect().events(1).of_type("evt.calc.add.success").data_eq("/result", 3),
//!     )
//!     .step(
//!         |prev| {
//!             let sum = prev[0].data()["result"].clone();
//!             factory.accepts(EventInput::new("com.test", json!({"a": sum, "b": 10})).with_subject("s-1"))
//!         },
//!         expect().events(1).data_eq("/result", 13).to("com.test"),
//!     )
//!     .run(&handler)
//!     .await?;
//! # Ok::<(), Box<dyn std::error::Error>>(()) })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The target is anything implementing [`ScenarioTarget`]: every handler
//! ([`DynEventHandler`]), an [`EventBroker`] (each step is a
//! [`resolve`](EventBroker::resolve); the step's events are the events delivered back), or a
//! closure wrapped with [`from_fn`].
//!
//! ## Differences from the reference
//! * Checks are declarative (and custom checks return `Err(message)`), so a failure names the
//!   field instead of `Custom validator returned false`.
//! * Repeated runs ([`Scenario::repeat`]) are sequential unless
//!   [`Scenario::concurrency`] says otherwise, and failures report their real 1-based
//!   iteration number (the reference prints `Iteration undefined`).
//! * No test spans are created (the handlers' own spans are).

mod answer;
mod expect;

pub use answer::{AnswerError, find_call, service_answer, service_error};
pub use expect::{
    EventExpect, Expect, ExpectViolation, Expectation, FieldMismatch, anything, event, expect,
    expect_violation,
};

use crate::broker::EventBroker;
use crate::event::ArvoEvent;
use crate::handler::{DynEventHandler, ParentContext, Violation};
use crate::typed::ContractVersion;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use std::fmt;
use std::future::Future;

/// What a scenario runs against.
pub trait ScenarioTarget: Send + Sync {
    /// A name for messages (a handler's source).
    fn name(&self) -> String;
    /// Runs one input event.
    fn call<'a>(&'a self, event: &'a ArvoEvent)
    -> BoxFuture<'a, Result<Vec<ArvoEvent>, Violation>>;
}

impl<T: DynEventHandler + ?Sized> ScenarioTarget for T {
    fn name(&self) -> String {
        self.source().to_owned()
    }
    fn call<'a>(
        &'a self,
        event: &'a ArvoEvent,
    ) -> BoxFuture<'a, Result<Vec<ArvoEvent>, Violation>> {
        self.execute_dyn(event, ParentContext::Event)
    }
}

/// A broker as a target: each step [`resolve`](EventBroker::resolve)s its input; the step's
/// events are the [`Resolution::events`](crate::broker::Resolution::events). A workflow that recorded
/// a failure returns it as a violation (the handler's own violation when there is one, else an
/// `Execution` violation with the failure's text); a refused `resolve` is a `Config` violation.
impl ScenarioTarget for EventBroker {
    fn name(&self) -> String {
        format!("EventBroker{:?}", self.handlers())
    }
    fn call<'a>(
        &'a self,
        event: &'a ArvoEvent,
    ) -> BoxFuture<'a, Result<Vec<ArvoEvent>, Violation>> {
        Box::pin(async move {
            let outcome = self
                .resolve(event.clone())
                .await
                .map_err(|e| Violation::config(e.to_string()))?;
            match outcome.errors.first() {
                None => Ok(outcome.events),
                Some(failure) => Err(failure
                    .kind
                    .violation()
                    .cloned()
                    .unwrap_or_else(|| Violation::execution(failure.to_string()))),
            }
        })
    }
}

/// A closure as a [`ScenarioTarget`] (see [`from_fn`]).
pub struct FnTarget<F> {
    name: String,
    f: F,
}

impl<F> fmt::Debug for FnTarget<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnTarget")
            .field("name", &self.name)
            .finish()
    }
}

/// Wraps `f(event) -> future of Result<events, violation>` as a target named `name` (the
/// future owns what it uses: clone the event into it when needed).
///
/// ```
/// use arvo_runtime::testing::{Scenario, expect, from_fn};
/// use arvo_runtime::event::ArvoEvent;
/// use serde_json::json;
/// let nothing = from_fn("com.test.sink", |_e: &ArvoEvent| async { Ok(vec![]) });
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// Scenario::new("ignores everything")
///     .step(|_| ArvoEvent::builder().source("com.test").event_type("com.test.sink")
///         .subject("s").data_json(json!({})).build(), expect().none())
///     .run(&nothing).await?;
/// # Ok::<(), Box<dyn std::error::Error>>(()) })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn from_fn<F, Fut>(name: impl Into<String>, f: F) -> FnTarget<F>
where
    F: Fn(&ArvoEvent) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Vec<ArvoEvent>, Violation>> + Send + 'static,
{
    FnTarget {
        name: name.into(),
        f,
    }
}

impl<F, Fut> ScenarioTarget for FnTarget<F>
where
    F: Fn(&ArvoEvent) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Vec<ArvoEvent>, Violation>> + Send + 'static,
{
    fn name(&self) -> String {
        self.name.clone()
    }
    fn call<'a>(
        &'a self,
        event: &'a ArvoEvent,
    ) -> BoxFuture<'a, Result<Vec<ArvoEvent>, Violation>> {
        Box::pin((self.f)(event))
    }
}

/// What a step's input builder may return: an event, or a `Result` of one (the factories'
/// results, the builder's) whose error becomes a step failure.
pub trait StepInput {
    /// The event, or the error's message.
    fn into_event(self) -> Result<ArvoEvent, String>;
}

impl StepInput for ArvoEvent {
    fn into_event(self) -> Result<ArvoEvent, String> {
        Ok(self)
    }
}

impl<E: fmt::Display> StepInput for Result<ArvoEvent, E> {
    fn into_event(self) -> Result<ArvoEvent, String> {
        self.map_err(|e| e.to_string())
    }
}

type InputFn<'s> = Box<dyn Fn(&[ArvoEvent]) -> Result<ArvoEvent, String> + Send + Sync + 's>;

struct Step<'s> {
    input: InputFn<'s>,
    expect: Expectation,
}

/// A multi-step scenario; see the [module docs](self).
pub struct Scenario<'s> {
    name: String,
    steps: Vec<Step<'s>>,
    repeat: Option<(u32, f64)>,
    concurrency: usize,
}

impl fmt::Debug for Scenario<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scenario")
            .field("name", &self.name)
            .field("steps", &self.steps.len())
            .field("repeat", &self.repeat)
            .field("concurrency", &self.concurrency)
            .finish()
    }
}

/// What went wrong in a step.
#[derive(Debug, Clone, PartialEq)]
pub enum StepProblem {
    /// The input builder failed.
    Input(String),
    /// The number of events differed.
    Count {
        /// Expected.
        expected: usize,
        /// Actual.
        actual: usize,
    },
    /// An event checked by index does not exist.
    MissingEvent {
        /// The index checked.
        index: usize,
        /// How many events there were.
        count: usize,
    },
    /// A field of event `index` differed.
    Field {
        /// The event's index (0-based).
        index: usize,
        /// The field, expected and actual values.
        mismatch: FieldMismatch,
    },
    /// A custom check ([`Expect::satisfies`]) failed.
    Custom {
        /// The check's description.
        description: String,
        /// Its message.
        message: String,
    },
    /// Events were expected but the target returned a violation.
    UnexpectedViolation(Violation),
    /// A violation was expected but the target returned events.
    ExpectedViolation,
    /// The violation differed from the expectation.
    Violation {
        /// The violation returned.
        violation: Violation,
        /// The field, expected and actual values.
        mismatch: FieldMismatch,
    },
}

impl fmt::Display for StepProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepProblem::Input(m) => write!(f, "could not build the input: {m}"),
            StepProblem::Count { expected, actual } => {
                write!(f, "event count: expected {expected}, actual {actual}")
            }
            StepProblem::MissingEvent { index, count } => write!(
                f,
                "event[{index}]: expected an event, actual only {count} event(s)"
            ),
            StepProblem::Field { index, mismatch } => write!(
                f,
                "event[{index}].{}: expected {}, actual {}",
                mismatch.field, mismatch.expected, mismatch.actual
            ),
            StepProblem::Custom {
                description,
                message,
            } => write!(f, "check '{description}' failed: {message}"),
            StepProblem::UnexpectedViolation(v) => {
                write!(f, "expected events, actual violation: {v}")
            }
            // The reference's text.
            StepProblem::ExpectedViolation => f.write_str("Expected error but function succeeded"),
            StepProblem::Violation {
                violation,
                mismatch,
            } => write!(
                f,
                "{}: expected {}, actual {} (violation: {violation})",
                mismatch.field, mismatch.expected, mismatch.actual
            ),
        }
    }
}

/// A failed step: where (scenario, iteration, 1-based step), what, and the events the target
/// actually returned.
#[derive(Clone, PartialEq)]
pub struct StepFailure {
    /// The scenario's name.
    pub scenario: String,
    /// The iteration (1-based) when the scenario is repeated.
    pub iteration: Option<u32>,
    /// The failing step (1-based).
    pub step: usize,
    /// The step's input, when it could be built.
    pub input: Option<ArvoEvent>,
    /// What went wrong.
    pub problem: StepProblem,
    /// The events the target returned.
    pub actual: Vec<ArvoEvent>,
}

impl StepFailure {
    /// The one-line summary: `Step <n>: <problem>` (the reference's prefix).
    pub fn summary(&self) -> String {
        format!("Step {}: {}", self.step, self.problem)
    }
}

impl fmt::Display for StepFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary())?;
        write!(f, "\n  scenario: {}", self.scenario)?;
        if let Some(i) = self.iteration {
            write!(f, " (iteration {i})")?;
        }
        if let Some(input) = &self.input {
            write!(
                f,
                "\n  input: {} (id {}, to {})",
                input.event_type(),
                input.id(),
                input.to().unwrap_or("null")
            )?;
        }
        if !matches!(self.problem, StepProblem::Input(_)) {
            let values: Vec<_> = self.actual.iter().map(ArvoEvent::to_json_value).collect();
            let pretty = serde_json::to_string_pretty(&values).unwrap_or_default();
            write!(f, "\nActual events ({}):\n{pretty}", self.actual.len())?;
        }
        Ok(())
    }
}

impl fmt::Debug for StepFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why [`Scenario::run`] failed. Its `Debug` is its `Display`, so `.unwrap()` and `?` in
/// tests print the readable message.
#[derive(Clone, PartialEq, thiserror::Error)]
pub enum ScenarioError {
    /// A step failed (scenarios without [`repeat`](Scenario::repeat)).
    #[error("{0}")]
    Step(Box<StepFailure>),
    /// Too few iterations succeeded. The message follows the reference's
    /// (`Success rate 40.00% is below threshold 80%`, ...) with real iteration numbers.
    #[error("{}", below_threshold(.successes, .times, .threshold, .failures))]
    BelowThreshold {
        /// Successful iterations.
        successes: u32,
        /// All iterations.
        times: u32,
        /// The threshold, in percent.
        threshold: f64,
        /// The failures, by iteration.
        failures: Vec<StepFailure>,
    },
    /// The scenario has no step.
    #[error("Scenario '{0}' has no steps")]
    NoSteps(String),
}

impl fmt::Debug for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn rate(successes: u32, times: u32) -> f64 {
    if times == 0 {
        100.0
    } else {
        f64::from(successes) * 100.0 / f64::from(times)
    }
}

fn below_threshold(
    successes: &u32,
    times: &u32,
    threshold: &f64,
    failures: &[StepFailure],
) -> String {
    let mut s = format!(
        "Success rate {:.2}% is below threshold {threshold}%\nSuccesses: {successes}/{times}\nSample failures:\n",
        rate(*successes, *times)
    );
    for failure in failures.iter().take(10) {
        s.push_str(&format!(
            "  Iteration {}: {}\n",
            failure.iteration.unwrap_or(1),
            failure.summary()
        ));
    }
    if failures.len() > 10 {
        s.push_str(&format!(
            "\n  ... and {} more failures",
            failures.len() - 10
        ));
    }
    s
}

/// What a successful [`Scenario::run`] observed.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioReport {
    /// Iterations run (1 without [`repeat`](Scenario::repeat)).
    pub iterations: u32,
    /// Iterations that passed.
    pub successes: u32,
    /// Failures of the iterations that did not pass (allowed by the threshold).
    pub failures: Vec<StepFailure>,
    /// The events of the last step of the first passing iteration.
    pub events: Vec<ArvoEvent>,
}

impl<'s> Scenario<'s> {
    /// A scenario without steps.
    pub fn new(name: impl Into<String>) -> Self {
        Scenario {
            name: name.into(),
            steps: Vec::new(),
            repeat: None,
            concurrency: 1,
        }
    }

    /// Adds a step: `input(previous_events)` builds the input (return an [`ArvoEvent`] or a
    /// `Result` of one), `expect` checks the result ([`expect`](fn@expect), [`expect_violation`],
    /// [`anything`]).
    pub fn step<F, I>(mut self, input: F, expect: impl Into<Expectation>) -> Self
    where
        F: Fn(&[ArvoEvent]) -> I + Send + Sync + 's,
        I: StepInput,
    {
        self.steps.push(Step {
            input: Box::new(move |prev| input(prev).into_event()),
            expect: expect.into(),
        });
        self
    }

    /// Adds a step that plays service version `V`: it answers `V`'s call among the previous
    /// step's events (the first event of `V`'s accepted type) with the typed emission
    /// `emission(call)` builds, in the envelope a handler of `V` would give it (see
    /// [`service_answer`]). A step whose previous events hold no such call fails, naming the
    /// types they hold.
    ///
    /// ```
    /// use arvo_runtime::prelude::*;
    /// use arvo_runtime::testing::{Scenario, expect};
    /// # use serde::{Deserialize, Serialize}; use schemars::JsonSchema;
    /// # #[derive(Clone, Serialize, Deserialize, JsonSchema)] pub struct In { pub a: f64 }
    /// # #[derive(Clone, Serialize, Deserialize, JsonSchema)] pub struct Out { pub r: f64 }
    /// #[arvo_contract(uri = "#/calc/double", type = "calc.double", simple,
    ///     version("1.0.0", accepts = In, emits = Out))]
    /// pub struct Double;
    /// #[arvo_contract(uri = "#/calc/flow", orchestrator = "calc.flow",
    ///     version("1.0.0", init = In, complete = Out))]
    /// pub struct Flow;
    ///
    /// struct Doubling;
    /// #[arvo_resumable(contract = Flow, context = (), services(double = DoubleV1_0_0))]
    /// impl Doubling {
    ///     #[version("1.0.0")]
    ///     async fn v1(&self, step: DoublingStep<'_, FlowV1_0_0>) -> DoublingResult<FlowV1_0_0> {
    ///         match &step.event {
    ///             DoublingEvent::Init(init) => Ok(Outcome::wait().call(step.call::<DoubleV1_0_0>(&init.data)?)),
    ///             DoublingEvent::Double(DoubleV1_0_0Emits::Success(out)) => {
    ///                 Ok(Outcome::wait().complete(FlowV1_0_0Emits::Complete(out.clone())))
    ///             }
    ///             DoublingEvent::DoubleError(e) => Err(HandlerError::msg(&e.error_message)),
    ///         }
    ///     }
    /// }
    ///
    /// let flow = Doubling.resumable(InMemoryMemory::new()).build()?;
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// Scenario::new("the flow completes with the service's answer")
    ///     .step(|_| FlowV1_0_0::init("com.test.app", In { a: 2.0 }), expect().events(1).of_type("com.calc.double"))
    ///     .answer::<DoubleV1_0_0, _>(
    ///         |_call| DoubleV1_0_0Emits::Success(Out { r: 4.5 }),
    ///         expect().events(1).of_type("arvo.orc.calc.flow.done").data_eq("/r", 4.5),
    ///     )
    ///     .run(&flow)
    ///     .await?;
    /// # Ok::<(), Box<dyn std::error::Error>>(()) })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn answer<V, F>(self, emission: F, expect: impl Into<Expectation>) -> Self
    where
        V: ContractVersion,
        F: Fn(&ArvoEvent) -> V::Emits + Send + Sync + 's,
    {
        self.step(
            move |prev| {
                let call = find_call::<V>(prev)?;
                service_answer::<V>(call, &emission(call))
            },
            expect,
        )
    }

    /// Adds a step that plays service version `V` failing: its system error with `message`
    /// answers `V`'s call among the previous step's events (see [`service_error`]).
    pub fn answer_error<V: ContractVersion>(
        self,
        message: impl Into<String>,
        expect: impl Into<Expectation>,
    ) -> Self {
        let message = message.into();
        self.step(
            move |prev| {
                let call = find_call::<V>(prev)?;
                service_error::<V>(call, &message)
            },
            expect,
        )
    }

    /// Runs the scenario `times` times; it passes when at least `success_threshold` percent
    /// (0-100) of the iterations pass.
    pub fn repeat(mut self, times: u32, success_threshold: f64) -> Self {
        self.repeat = Some((times, success_threshold));
        self
    }

    /// How many iterations of a [`repeat`](Self::repeat) run at once (default 1: one after the
    /// other).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Runs the scenario against `target`.
    ///
    /// # Errors
    /// [`ScenarioError::Step`] at the first failing step (without repeat),
    /// [`ScenarioError::BelowThreshold`] when too few iterations pass,
    /// [`ScenarioError::NoSteps`].
    pub async fn run<T: ScenarioTarget + ?Sized>(
        &self,
        target: &T,
    ) -> Result<ScenarioReport, ScenarioError> {
        if self.steps.is_empty() {
            return Err(ScenarioError::NoSteps(self.name.clone()));
        }
        let Some((times, threshold)) = self.repeat else {
            let events = self
                .run_once(target, None)
                .await
                .map_err(|f| ScenarioError::Step(Box::new(f)))?;
            return Ok(ScenarioReport {
                iterations: 1,
                successes: 1,
                failures: Vec::new(),
                events,
            });
        };
        let mut results: Vec<(u32, Result<Vec<ArvoEvent>, StepFailure>)> =
            futures_util::stream::iter(1..=times)
                .map(|i| async move { (i, self.run_once(target, Some(i)).await) })
                .buffer_unordered(self.concurrency)
                .collect()
                .await;
        results.sort_by_key(|(i, _)| *i);
        let mut events = None;
        let mut failures = Vec::new();
        for (_, result) in results {
            match result {
                Ok(e) => {
                    events.get_or_insert(e);
                }
                Err(f) => failures.push(f),
            }
        }
        let failed = u32::try_from(failures.len()).unwrap_or(u32::MAX);
        let successes = times.saturating_sub(failed);
        if rate(successes, times) < threshold {
            return Err(ScenarioError::BelowThreshold {
                successes,
                times,
                threshold,
                failures,
            });
        }
        Ok(ScenarioReport {
            iterations: times,
            successes,
            failures,
            events: events.unwrap_or_default(),
        })
    }

    async fn run_once<T: ScenarioTarget + ?Sized>(
        &self,
        target: &T,
        iteration: Option<u32>,
    ) -> Result<Vec<ArvoEvent>, StepFailure> {
        let mut prev: Vec<ArvoEvent> = Vec::new();
        for (n, step) in self.steps.iter().enumerate() {
            let fail = |input: Option<ArvoEvent>, problem, actual| StepFailure {
                scenario: self.name.clone(),
                iteration,
                step: n + 1,
                input,
                problem,
                actual,
            };
            let input = match (step.input)(&prev) {
                Ok(e) => e,
                Err(m) => return Err(fail(None, StepProblem::Input(m), Vec::new())),
            };
            let result = target.call(&input).await;
            prev = match (&step.expect, result) {
                (Expectation::Events(expect), Ok(events)) => match expect.check(&events) {
                    None => events,
                    Some(problem) => return Err(fail(Some(input), problem, events)),
                },
                (Expectation::Anything, Ok(events)) => events,
                (Expectation::Events(_) | Expectation::Anything, Err(v)) => {
                    return Err(fail(
                        Some(input),
                        StepProblem::UnexpectedViolation(v),
                        vec![],
                    ));
                }
                (Expectation::Violation(_), Ok(events)) => {
                    return Err(fail(Some(input), StepProblem::ExpectedViolation, events));
                }
                (Expectation::Violation(expect), Err(violation)) => {
                    match expect.check(&violation) {
                        None => Vec::new(),
                        Some(mismatch) => {
                            let problem = StepProblem::Violation {
                                violation,
                                mismatch,
                            };
                            return Err(fail(Some(input), problem, vec![]));
                        }
                    }
                }
            };
        }
        Ok(prev)
    }
}
