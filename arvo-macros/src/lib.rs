//! Procedural macros of Arvo for Rust. Use them through `arvo-runtime`, which re-exports them
//! (`arvo_runtime::arvo_contract`).
//!
//! The crate is a thin shell: [`arvo_contract`] hands its tokens to `expand::run`, which goes
//! parse (`parse`, building the model of `ast`) -> validate (`validate`) -> expand (`expand`).
//! Errors are accumulated and reported together, each at its own span; after an error the
//! struct and every item that can still be derived are emitted beside the `compile_error!`.
//! [`arvo_resumable`] (`resumable` -> `resumable_expand`) and [`arvo_handler`] (`handler` ->
//! `handler_expand`) follow the same stages, as does [`arvo_machine`] (`machine` ->
//! `machine_validate` -> `machine_expand`).

mod args;
mod ast;
mod errors;
mod expand;
mod handler;
mod handler_expand;
mod machine;
mod machine_expand;
mod machine_validate;
mod naming;
mod parse;
mod resumable;
mod resumable_expand;
#[cfg(test)]
mod robustness;
mod validate;

use proc_macro::TokenStream;

/// Declares a typed, versioned Arvo contract on a unit struct.
///
/// # Forms
///
/// A **service contract** names the accepted event type and, per version, the accepted payload
/// and every emitted event type with its payload:
///
/// ```
/// use arvo_runtime::arvo_contract;
/// use arvo_runtime::factory::{ArvoEventFactory, EventInput};
/// use arvo_runtime::handler::{ArvoEventHandler, ParentContext};
/// use arvo_runtime::typed::{ContractVersion, Emission, Emits, HandlerOutput, Input};
/// # use serde::{Deserialize, Serialize}; use schemars::JsonSchema;
/// #[derive(Serialize, Deserialize, JsonSchema)]
/// pub struct AddInput { pub a: f64, pub b: f64 }
/// #[derive(Serialize, Deserialize, JsonSchema)]
/// pub struct AddOutput { pub result: f64 }
/// #[derive(Serialize, Deserialize, JsonSchema)]
/// pub struct Overflow { pub limit: f64 }
///
/// #[arvo_contract(
///     uri = "#/calc/add",
///     type = "com.calc.add",
///     description = "Adds two numbers",   // optional
///     domain = "math",                    // optional
///     metadata(owner = "team-a", tier = 1), // optional literals
///     version("1.0.0", accepts = AddInput,
///             emits("evt.calc.add.success" = AddOutput, "evt.calc.add.overflow" = Overflow)),
/// )]
/// pub struct CalcAdd;
///
/// // The runtime contract, the same value `ArvoContract::builder` would build.
/// let contract = CalcAdd::contract();
/// assert_eq!(contract.event_type(), "com.calc.add");
/// assert_eq!(CalcAddV1_0_0::VERSION, "1.0.0");
///
/// // The handler trait: one method per version.
/// struct Adder;
/// impl CalcAddHandler for Adder {
///     async fn v1_0_0(&self, input: Input<'_, CalcAddV1_0_0>) -> HandlerOutput<CalcAddV1_0_0> {
///         let AddInput { a, b } = input.data;
///         if a + b > 1e9 {
///             // Per-output options through `Emission`'s builder.
///             let overflow = CalcAddV1_0_0Emits::EvtCalcAddOverflow(Overflow { limit: 1e9 });
///             return Ok(vec![Emission::new(overflow).to("com.calc.audit")]);
///         }
///         Ok(vec![CalcAddV1_0_0Emits::EvtCalcAddSuccess(AddOutput { result: a + b }).into()])
///     }
/// }
///
/// // Run by the handler runtime: events in, events out.
/// let handler = ArvoEventHandler::typed::<CalcAdd, _>(Adder).executionunits(0.0).build()?;
/// let event = ArvoEventFactory::new(CalcAddV1_0_0::versioned())
///     .accepts(EventInput::new("com.example.client", serde_json::json!({"a": 1, "b": 2})))?;
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let out = handler.execute(&event, ParentContext::Event).await?;
/// assert_eq!(out[0].event_type(), "evt.calc.add.success");
/// assert_eq!(out[0].to(), Some("com.example.client"));
/// # Ok::<(), Box<dyn std::error::Error>>(()) })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Each emitted event is a variant of the version's emits enum, named after its event type
/// (`evt.calc.add.overflow` -> `EvtCalcAddOverflow`). To choose the name, write `as Name` after
/// the event type, the way `use a as b` renames; the event type on the wire does not change:
///
/// ```
/// # use arvo_runtime::arvo_contract;
/// use arvo_runtime::typed::Emits;
/// # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] pub struct Order { pub id: u32 }
/// # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] pub struct Decision { pub approved: bool }
/// # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] pub struct Timeout { pub after_s: u32 }
/// #[arvo_contract(uri = "#/order/approval", type = "com.order.approval",
///     version("1.0.0", accepts = Order, emits(
///         "evt.order.approval.decision" as Decided = Decision,
///         "evt.order.approval.timeout" = Timeout, // default name: EvtOrderApprovalTimeout
///     )))]
/// pub struct Approval;
///
/// let decided = ApprovalV1_0_0Emits::Decided(Decision { approved: true });
/// assert_eq!(decided.event_type(), "evt.order.approval.decision");
/// assert_eq!(ApprovalV1_0_0Emits::VARIANTS, ["Decided", "EvtOrderApprovalTimeout"]);
/// ```
///
/// The chosen name is the variant everywhere: in handlers, in a resumable's `match` on a
/// service's answer and in `#[arvo_machine]`'s `#[on(service::Decided, ..)]`. A name is an
/// UpperCamelCase identifier, not `SystemError` (which names a service's system error), and
/// unique within its version (renamed or derived); each break is a compile error at the name.
///
/// A **simple contract** (the reference's `createSimpleArvoContract`): `type = "calc.add"`
/// gives the accepted type `com.calc.add` and the one emitted type `evt.calc.add.success`
/// (variant `Success`):
///
/// ```
/// # use arvo_runtime::arvo_contract;
/// # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] pub struct AddInput { pub a: f64, pub b: f64 }
/// # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] pub struct AddOutput { pub result: f64 }
/// #[arvo_contract(uri = "#/bench/calc/add", type = "calc.add", simple,
///     version("1.0.0", accepts = AddInput, emits = AddOutput))]
/// pub struct CalcAdd;
///
/// assert_eq!(CalcAdd::TYPE, "com.calc.add");
/// assert_eq!(CalcAdd::SUCCESS_TYPE, "evt.calc.add.success");
/// let _ = CalcAddV1_0_0Emits::Success(AddOutput { result: 3.0 });
/// ```
///
/// An **orchestrator contract** (`createArvoOrchestratorContract`): `orchestrator = "name"`
/// gives the init type `arvo.orc.name` and the completion type `arvo.orc.name.done`; the init
/// payload is wrapped in `OrchestratorInit`, which adds the framework's `parentSubject$$`:
///
/// ```
/// # use arvo_runtime::arvo_contract;
/// use arvo_runtime::typed::{ContractVersion, OrchestratorInit};
/// # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] pub struct CalcInit { pub a: f64, pub b: f64 }
/// # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] pub struct CalcDone { pub result: f64 }
/// #[arvo_contract(uri = "#/bench/orchestrator/calc", orchestrator = "bench.calc",
///     version("1.0.0", init = CalcInit, complete = CalcDone))]
/// pub struct CalcFlow;
///
/// assert_eq!(CalcFlow::INIT_TYPE, "arvo.orc.bench.calc");
/// assert_eq!(CalcFlow::COMPLETE_TYPE, "arvo.orc.bench.calc.done");
/// let init: <CalcFlowV1_0_0 as ContractVersion>::Accepts = OrchestratorInit::root(CalcInit { a: 1.0, b: 2.0 });
/// let _ = CalcFlowV1_0_0Emits::Complete(CalcDone { result: 3.0 });
/// ```
///
/// # Keys
/// - `uri = "..."` (required): the contract URI.
/// - `type = "..."`: the accepted event type (service), or the root type with `simple`.
/// - `simple`: the simple form (flag).
/// - `orchestrator = "name"`: the orchestrator form (instead of `type`).
/// - `description = "..."`, `domain = "..."`: optional.
/// - `metadata(key = literal, ...)`: optional free metadata (string, number, bool literals).
/// - `version("x.y.z", ...)` (at least one): `accepts = T, emits("evt.type" = T, ...)`
///   (service; `"evt.type" as Variant = T` names the emits enum variant), `accepts = T,
///   emits = T` (simple), `init = T, complete = T` (orchestrator).
/// - `crate = "path"`: where `arvo_runtime` is, when it is renamed or re-exported.
///
/// # Generated items (for a struct `CalcAdd`)
/// - `CalcAdd::contract() -> &'static ArvoContract` and the constants `URI`, `TYPE`,
///   `SYSTEM_ERROR_TYPE`, `VERSIONS` (plus `SUCCESS_TYPE` or `INIT_TYPE`/`COMPLETE_TYPE`), also
///   through `arvo_runtime::typed::TypedContract`;
/// - per version `1.0.0`: the marker `CalcAddV1_0_0: ContractVersion` and the enum
///   `CalcAddV1_0_0Emits: Emits` (one variant per emitted type: `evt.calc.add.success` ->
///   `EvtCalcAddSuccess`, or the name written after `as`);
/// - for service and simple contracts, the trait `CalcAddHandler` with one method per version
///   (`v1_0_0(&self, Input<'_, CalcAddV1_0_0>) -> impl Future<Output = HandlerOutput<..>>`), and
///   `impl<H: CalcAddHandler> ContractDispatch<H> for CalcAdd`, so
///   `ArvoEventHandler::typed::<CalcAdd, _>(handler)` runs it: the runtime routes each event to
///   the method of its version, reads the payload into the version's `Accepts` type, and turns
///   the returned `Emission`s into events; an error the method returns becomes a system error
///   event, unless it is (or wraps) a `Violation`, which is returned as one.
///
/// # Compile-time checks
/// Each at the span of the offending token, all reported in one compile: malformed versions,
/// `0.0.0`, duplicate versions, invalid event types, the reserved `arvo.orc` prefix, emit types
/// equal to the accepted type or repeated, emit variant names that are not UpperCamelCase
/// identifiers, reserved (`SystemError`) or taken twice in a version, invalid orchestrator names, domains and URIs, unknown
/// or repeated keys, missing keys, and payload types lacking `Serialize`, `Deserialize` or
/// `JsonSchema`. For handlers, the compiler's own checks: a missing version method (E0046, at
/// the impl, naming the method; the trait's declaration points at the version literal), an
/// emitted event the version does not declare (no such variant, or the emits type of another
/// version: a type error at the expression), and a handler of another contract passed to
/// `ArvoEventHandler::typed` ("`X` is not a handler of the contract `C`", with the methods to
/// implement):
///
/// ```compile_fail
/// # use arvo_runtime::arvo_contract;
/// # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] pub struct In { pub a: f64 }
/// #[arvo_contract(uri = "#/x", type = "com.x.run", version("1.0", accepts = In))]
/// pub struct X; // error: invalid version `1.0`
/// ```
#[proc_macro_attribute]
pub fn arvo_contract(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::run(args.into(), item.into())
        .into_token_stream()
        .into()
}

/// Turns an inherent `impl` block into a typed [`ArvoResumable`] handler: one method per
/// version of an orchestrator contract, a typed enum of the service events, and a builder.
///
/// ```
/// use arvo_runtime::{arvo_contract, arvo_resumable};
/// use arvo_runtime::memory::InMemoryMemory;
/// use arvo_runtime::resumable::Outcome;
/// # use serde::{Deserialize, Serialize}; use schemars::JsonSchema;
/// # #[derive(Clone, Serialize, Deserialize, JsonSchema)] pub struct AddInput { pub a: f64, pub b: f64 }
/// # #[derive(Clone, Serialize, Deserialize, JsonSchema)] pub struct AddResult { pub result: f64 }
/// #[arvo_contract(uri = "#/calc/add", type = "calc.add", simple,
///     version("1.0.0", accepts = AddInput, emits = AddResult))]
/// pub struct CalcAdd;
/// #[arvo_contract(uri = "#/calc/flow", orchestrator = "calc.flow",
///     version("1.0.0", init = AddInput, complete = AddResult))]
/// pub struct CalcFlow;
///
/// pub struct CalcWorkflow;
///
/// #[arvo_resumable(contract = CalcFlow, context = (), services(calc = CalcAddV1_0_0))]
/// impl CalcWorkflow {
///     #[version("1.0.0")]
///     async fn v1(&self, step: CalcWorkflowStep<'_, CalcFlowV1_0_0>) -> CalcWorkflowResult<CalcFlowV1_0_0> {
///         use CalcWorkflowEvent::{Calc, CalcError, Init};
///         match &step.event {
///             Init(init) => {
///                 let AddInput { a, b } = init.data;
///                 Ok(Outcome::wait().call(step.call::<CalcAddV1_0_0>(&AddInput { a, b })?))
///             }
///             Calc(CalcAddV1_0_0Emits::Success(r)) =>
///                 Ok(Outcome::wait().complete(CalcFlowV1_0_0Emits::Complete(r.clone()))),
///             CalcError(e) => Err(e.error_message.as_str().into()),
///         }
///     }
/// }
///
/// let resumable = CalcWorkflow.resumable(InMemoryMemory::new()).executionunits(1.0).build()?;
/// assert_eq!(resumable.source(), "arvo.orc.calc.flow");
/// assert_eq!(resumable.services()[0].uri(), "#/calc/add");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Keys
/// - `contract = Path` (required): the orchestrator contract (`#[arvo_contract(orchestrator = ..)]`).
/// - `context = Type` (required): the context kept between steps (`state$$`; serde, `Clone`).
/// - `services(key = Version, ...)`: the service contract versions (`CalcAddV1_0_0`, or an
///   orchestrator contract's version for child orchestrations); variants `Key` (what it
///   emits) and `KeyError` (its system error) of the step event enum.
/// - `services_enum = Ident`: the enum's name (default `<Name>Services`).
/// - `crate = "path"`: where `arvo_runtime` is.
///
/// # Generated items (for `impl CalcWorkflow`)
/// - `pub enum CalcWorkflowEvent<I> { Init(I), Calc(CalcAddV1_0_0Emits), CalcError(ArvoErrorPayload), .. }`,
///   what wakes a step up (`step.event`): the init payload, or what a service emitted, or its
///   system error;
/// - `pub enum CalcWorkflowServices { Calc(ServiceEvent<CalcAddV1_0_0>), .. }` implementing
///   `ServiceEvents` (every emitted type of every service, and their system errors), what
///   `step.collected` yields;
/// - `CalcWorkflowStep<'a, V>` and `CalcWorkflowResult<V>`, the method signature's types;
/// - `impl ResumableHandler<CalcFlowV1_0_0> for CalcWorkflow`, one per `#[version]` method;
/// - `CalcWorkflow::resumable(self, memory) -> ArvoResumableBuilder`, every version registered.
///
/// # Compile-time checks
/// A version of the contract without a method (named, at `contract = ..`), a version the
/// contract does not have (at the literal), a service that is not a contract version (at its
/// path), a `step.call::<V>()` / `step.start_child::<V, _>()` of a version not in
/// `services(..)` (at the call: `impl DeclaredService<<Name>Services>` is generated for each
/// declared version), malformed or repeated versions, unknown or repeated keys, missing keys.
///
/// [`ArvoResumable`]: https://docs.rs/arvo-runtime/latest/arvo_runtime/resumable/struct.ArvoResumable.html
#[proc_macro_attribute]
pub fn arvo_resumable(args: TokenStream, item: TokenStream) -> TokenStream {
    resumable_expand::run(args.into(), item.into()).into()
}

/// Turns an `async fn` (one version of a service contract) or an inherent `impl` block (one
/// `#[version("x.y.z")]` method per version, for handlers with state) into a typed handler
/// that the broker registers as is: `EventBroker::builder().handler(greet)`.
///
/// ```
/// use arvo_runtime::prelude::*;
/// # use serde::{Deserialize, Serialize}; use schemars::JsonSchema;
/// # #[derive(Serialize, Deserialize, JsonSchema)] pub struct Greet { pub name: String }
/// # #[derive(Serialize, Deserialize, JsonSchema)] pub struct Greeting { pub text: String }
/// # #[derive(Serialize, Deserialize, JsonSchema)] pub struct GreetV2 { pub names: Vec<String> }
/// #[arvo_contract(uri = "#/greet", type = "greet.user", simple,
///     version("1.0.0", accepts = Greet, emits = Greeting))]
/// pub struct GreetService;
///
/// // A function per version: the input is the payload (or `Input<'_, GreetServiceV1_0_0>`
/// // for the event and its context); one event is returned as is.
/// #[arvo_handler(contract = GreetService, version = "1.0.0")]
/// async fn greet(input: Greet) -> Result<GreetServiceV1_0_0Emits, HandlerError> {
///     Ok(GreetServiceV1_0_0Emits::Success(Greeting { text: format!("Hello, {}!", input.name) }))
/// }
///
/// #[arvo_contract(uri = "#/greet/many", type = "greet.many", simple,
///     version("1.0.0", accepts = Greet, emits = Greeting),
///     version("2.0.0", accepts = GreetV2, emits = Greeting))]
/// pub struct GreetMany;
///
/// // A handler with state: one method per version.
/// struct Greeter { salutation: String }
///
/// #[arvo_handler(contract = GreetMany)]
/// impl Greeter {
///     #[version("1.0.0")]
///     async fn one(&self, input: Input<'_, GreetManyV1_0_0>) -> HandlerOutput<GreetManyV1_0_0> {
///         let text = format!("{}, {}!", self.salutation, input.data.name);
///         Ok(vec![GreetManyV1_0_0Emits::Success(Greeting { text }).into()])
///     }
///     #[version("2.0.0")]
///     async fn many(&self, input: GreetV2) -> Result<GreetManyV2_0_0Emits, HandlerError> {
///         let text = format!("{}, {}!", self.salutation, input.names.join(" and "));
///         Ok(GreetManyV2_0_0Emits::Success(Greeting { text }))
///     }
/// }
///
/// let broker = EventBroker::builder()
///     .handler(greet)
///     .handler(Greeter { salutation: "Hi".into() })
///     .build()?;
/// assert_eq!(broker.handlers(), ["com.greet.many", "com.greet.user"]);
/// // Options: `ArvoEventHandler::of(greet).executionunits(1.0).build()?`; the function as
/// // written: `greet::call(Greet { .. }).await`.
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Keys
/// - `contract = Path` (required): a service or simple contract (`#[arvo_contract]`).
/// - `version = "x.y.z"` (functions): the version the function handles. A function handles
///   one version, so it serves a contract with one version; several versions take an impl
///   block.
/// - `register` / `register = false`: whether the handler joins the program's registry
///   (`EventBroker::builder().registered_handlers()`). Functions join by default; an impl
///   block joins only with `register` (its type must implement `Default`).
/// - `crate = "path"`: where `arvo_runtime` is.
///
/// # Signatures
/// One input: `Input<'_, V>` (payload, event, contract version, trace headers) or the payload
/// type `V::Accepts` itself; `async` or not; the return type is `Result<T, E>` with `E` any
/// error (`HandlerError`, a `Violation`, any `std::error::Error`) and `T` one event (the
/// version's emits enum or an `Emission` of it) or a `Vec` of them (`HandlerOutput<V>`).
///
/// # Generated items
/// - for a function `greet`: a unit struct `greet` (the value to register; `Copy`), and
///   `greet::call`, the function as written;
/// - `impl ContractDispatch<Self> for Self` (the version routing) and `impl IntoHandler`, so
///   `ArvoEventHandler::of(value)` and `EventBrokerBuilder::handler(value)` take it;
/// - when registered, an entry of `arvo_runtime::registry`.
///
/// # Compile-time checks
/// Each reported once, at the user's token: a version the contract does not have (at the
/// literal), a version of the contract without a function (naming it, at `contract = ..`),
/// two methods for one version (at the second literal), an input type that is not the
/// version's (at the type), a return type that is not the version's (at the type), an event
/// the version does not emit (the compiler's type error at the expression), malformed or
/// reserved versions, unknown or repeated keys, bad signatures.
///
/// ```compile_fail
/// # use arvo_runtime::prelude::*;
/// # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] pub struct In { pub a: f64 }
/// # #[arvo_contract(uri = "#/x", type = "x.run", simple, version("1.0.0", accepts = In, emits = In))]
/// # pub struct X;
/// #[arvo_handler(contract = X, version = "2.0.0")] // error: no `XV2_0_0`
/// async fn run(input: In) -> Result<XV1_0_0Emits, HandlerError> { Ok(XV1_0_0Emits::Success(input)) }
/// ```
#[proc_macro_attribute]
pub fn arvo_handler(args: TokenStream, item: TokenStream) -> TokenStream {
    handler_expand::run(args.into(), item.into()).into()
}

/// Declares an [`ArvoMachine`] statechart on an inherent `impl` block, for one version of an
/// orchestrator contract and its declared services: states are methods (the body runs on
/// entry), transitions are attributes, and the compiler checks the machine against the
/// contract version and its services.
///
/// ```
/// use arvo_runtime::prelude::*;
/// use arvo_runtime::machine::MachineStatus;
/// # use serde::{Deserialize, Serialize}; use schemars::JsonSchema;
/// # #[derive(Clone, Serialize, Deserialize, JsonSchema)] pub struct AddInput { pub a: f64, pub b: f64 }
/// # #[derive(Clone, Serialize, Deserialize, JsonSchema)] pub struct AddResult { pub result: f64 }
/// #[arvo_contract(uri = "#/calc/add", type = "calc.add", simple,
///     version("1.0.0", accepts = AddInput, emits = AddResult))]
/// pub struct CalcAdd;
/// #[arvo_contract(uri = "#/calc/flow", orchestrator = "calc.flow",
///     version("1.0.0", init = AddInput, complete = AddResult))]
/// pub struct CalcFlow;
///
/// #[derive(Clone, Serialize, Deserialize)]
/// pub struct Ctx { input: AddInput, result: f64 }
///
/// pub struct Calc { limit: f64 }
///
/// #[arvo_machine(contract = CalcFlow, version = "1.0.0", context = Ctx,
///                services(add = CalcAddV1_0_0))]
/// impl Calc {
///     #[context]
///     fn start(&self, init: &AddInput) -> Ctx { Ctx { input: init.clone(), result: 0.0 } }
///
///     #[output]
///     fn output(&self, ctx: &Ctx) -> AddResult { AddResult { result: ctx.result } }
///
///     /// Calls the service on entry.
///     #[state(initial)]
///     #[on(add::Success, target = done, guard = within_limit, actions(keep))]
///     #[on(add::Success, target = too_big)]
///     #[on(add::SystemError, target = too_big)]
///     fn adding(&self, cx: &mut CalcAction<'_>) -> Result<(), HandlerError> {
///         let input = cx.context.input.clone();
///         cx.call::<CalcAddV1_0_0>(&input)
///     }
///
///     #[state(final)]
///     fn done(&self) {}
///
///     #[state(final)]
///     fn too_big(&self) {}
///
///     #[guard]
///     fn within_limit(&self, _ctx: &Ctx, sum: &AddResult) -> bool { sum.result <= self.limit }
///
///     #[action]
///     fn keep(&self, cx: &mut CalcAction<'_>, sum: &AddResult) { cx.context.result = sum.result; }
/// }
///
/// let machine = Calc { limit: 10.0 }.machine()?;
/// assert!(machine.mermaid().contains("[within_limit]"));
/// let init = CalcFlowV1_0_0::init("com.example.client", AddInput { a: 1.0, b: 2.0 })?;
/// let step = machine.start(&init)?;
/// assert_eq!(step.events[0].event_type, "com.calc.add");
/// // On a broker: `EventBroker::builder().handler(ArvoOrchestrator::builder(memory).machine(machine))`.
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Keys
/// - `contract = Path`, `version = "x.y.z"` (required): the orchestrator contract version the
///   machine implements.
/// - `context = Type` (required): the machine's context (serde, `Clone`).
/// - `services(key = Version, ...)`: the service contract versions (or orchestrator versions,
///   for child workflows) the machine calls and hears from.
/// - `id = ".."`: the machine's id (default the type's name); `crate = "path"`.
///
/// # Methods
/// - `#[context] fn(&self, init: &Init) -> C` (or `Result<C, E>`): the context from the init
///   payload. Required.
/// - `#[output] fn(&self, ctx: &C) -> Complete` (or a `Result`): the completion, made when a
///   top-level final state is reached. Without it the machine never completes.
/// - `#[state(initial, parallel, final, parent = s, entry(a, ..), exit(a, ..))]` on
///   `fn(&self)` or `fn(&self, cx: &mut <Name>Action<'_>)` (returning `()` or a `Result`): a
///   state; its body runs first on entry. Children name their parent (statig's superstates).
/// - `#[on(service::Variant | service::SystemError | *, target = s, guard = g, actions(a, ..))]`
///   and `#[always(target = s, guard = g, actions(..))]` on a state: its transitions, tried in
///   order (the first enabled wins). `target` names any state of the machine.
/// - `#[on_done(target = s, guard = g, actions(..))]` on a compound state (taken when it
///   reaches one of its final child states) or a parallel state (taken when every region is
///   in a final state): XState's `onDone`, tried in order after eventless transitions settle.
///   Like `#[always]`, its guards and actions take no payload.
/// - `#[guard] fn(&self, ctx: &C[, payload: &P]) -> bool` and
///   `#[action] fn(&self[, cx: &mut <Name>Action<'_>[, payload: &P]])`: `P` is the event's
///   payload (the variant's type, `ArvoErrorPayload` for a system error, the `ArvoEvent` for `*`).
///
/// # Generated items (for `impl Calc`)
/// - `CalcAction<'a>`: `context`, `event`, and `call::<V>(&input)` / `call_with` /
///   `start_child::<V, _>(init)` for declared service versions, `enqueue(raw)` for others;
/// - `Calc::machine(self) -> Result<ArvoMachine<C>, MachineBuildError>`; its `mermaid()` is the
///   diagram.
///
/// # Compile-time checks
/// Each once, at the user's token: a target that is not a state, an event of an undeclared
/// service (the macro) or a variant the service does not emit (the compiler), a call of a
/// service version that is not declared (`cx.call::<V>()`), a version the contract does not
/// have (at the literal), a payload parameter of another type than the event's, an output that
/// is not the version's completion, missing or duplicate `initial` (top level and compound
/// states), `initial` on a region of a parallel state, a final state with children or
/// transitions, `parallel` and `final` together, `#[on_done]` on a state without child states,
/// unknown guards and actions, a payload-taking action on entry/exit/`always`/`on_done`, a
/// transition hidden behind an unguarded one, an unguarded `always` back into its own state,
/// unknown or repeated keys, bad signatures.
///
/// ```compile_fail
/// # use arvo_runtime::prelude::*;
/// # #[derive(Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)] pub struct In { pub a: f64 }
/// # #[arvo_contract(uri = "#/x", orchestrator = "x", version("1.0.0", init = In, complete = In))]
/// # pub struct X;
/// # pub struct M;
/// #[arvo_machine(contract = X, version = "1.0.0", context = In)]
/// impl M {
///     #[context] fn start(&self, i: &In) -> In { i.clone() }
///     #[state(initial)] #[always(target = finished)] fn idle(&self) {} // error: no state `finished`
///     #[state(final)] fn done(&self) {}
/// }
/// ```
///
/// [`ArvoMachine`]: https://docs.rs/arvo-runtime/latest/arvo_runtime/machine/struct.ArvoMachine.html
#[proc_macro_attribute]
pub fn arvo_machine(args: TokenStream, item: TokenStream) -> TokenStream {
    machine_expand::run(args.into(), item.into()).into()
}
