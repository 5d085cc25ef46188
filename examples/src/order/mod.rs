//! The order workflow of the main demo (`cargo demo`), shared with its tests.
//!
//! ```text
//!  com.shop.checkout ──arvo.orc.order.process──▶ order workflow (resumable)
//!      1. com.inventory.reserve  ──▶ inventory service  ──▶ evt.inventory.reserve.success
//!      2. com.order.approval.request, domain human.review (orders over the threshold)
//!             ──▶ the broker's domained hook: a "human" decides ──▶ evt.order.approval.decision
//!      3. arvo.orc.order.payment ──▶ payment workflow (child resumable)
//!             com.payment.charge ──▶ payment service ──▶ evt.payment.charge.success
//!             ◀── arvo.orc.order.payment.done  (or sys.arvo.orc.order.payment.error)
//!      4. com.shipping.schedule  ──▶ shipping service ──▶ evt.shipping.schedule.success
//!  ◀── arvo.orc.order.process.done {status: completed | rejected | payment_failed}
//! ```
//!
//! Everything runs in one process on the [`EventBroker`], with the orchestrators' state in
//! a [`WorkflowMemory`]: in the process by default, or in a redb file
//! ([`OrderSystemBuilder::store`], what `cargo demo` uses), where a waiting workflow survives a
//! restart ([`OrderSystem::resume_waiting`]).
//!
//! ```
//! use arvo_examples::order::{OrderSystem, sample_order};
//! use arvo_example_contracts::order::OrderStatus;
//! # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
//! let system = OrderSystem::builder().build()?;
//! let placed = system.place(&sample_order("ORD-1", 2, "tok_visa")).await?;
//! assert_eq!(placed.result.map(|r| r.status), Some(OrderStatus::Completed));
//! # Ok::<(), Box<dyn std::error::Error>>(()) })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod flows;
mod machine;
mod nats;
mod services;
mod state;

pub use flows::{
    DEFAULT_APPROVAL_THRESHOLD_CENTS, HUMAN_REVIEW, OrderContext, OrderFlow, OrderFlowEvent,
    OrderServices, PaymentFlow, PaymentFlowEvent, PaymentFlowServices,
};
pub use machine::{OrderMachine, OrderMachineAction, OrderMachineContext};
pub use nats::{answer_approval, client_order};
pub use services::{
    DECLINED_CARD, InventoryService, PaymentService, ShippingService, inventory, payment, shipping,
};
pub use state::WorkflowMemory;

use std::sync::Arc;

use arvo_example_contracts::order::{
    ApprovalDecision, ApprovalRequest, ChargeRequest, LineItem, Order, OrderApproval,
    OrderApprovalV1_0_0, OrderProcess, OrderProcessV1_0_0, OrderProcessV1_0_0Emits, OrderResult,
    OrderStatus,
};
use arvo_runtime::broker::{BrokerError, Forwarded, Resolution};
use arvo_runtime::factory::FactoryError;
use arvo_runtime::memory::{MemoryError, RedbOpenError, RedbStore};
use arvo_runtime::prelude::*;
use arvo_runtime::resumable::{ResumableMemoryRecord, ResumableRecord, ResumableStatus};
use arvo_runtime::workflow::WorkflowError;
use opentelemetry::global::BoxedTracer;
use serde::Deserialize;

/// The source of the orders: the shop's checkout (not a handler in the broker, so the
/// workflow's result comes back to it).
pub const CHECKOUT: &str = "com.shop.checkout";

/// Sees every event as it happens (the init event, every emitted event, the human's answers):
/// the broker's observer ([`EventBrokerBuilder::observe`](arvo_runtime::broker::EventBrokerBuilder::observe)).
pub type Observer = Arc<dyn Fn(&ArvoEvent) + Send + Sync>;
/// Plays the human reviewer of `com.order.approval.request`.
pub type Reviewer = Arc<dyn Fn(&ApprovalRequest) -> ApprovalDecision + Send + Sync>;
/// Makes the tracer of each handler (see the `telemetry` example).
pub type TracerFactory = Arc<dyn Fn() -> BoxedTracer + Send + Sync>;

/// The memory of the order workflow.
pub type OrderMemory = WorkflowMemory<ResumableMemoryRecord<OrderContext>>;
/// The memory of the payment workflow.
pub type PaymentMemory = WorkflowMemory<ResumableMemoryRecord<ChargeRequest>>;

/// The table of the order workflows in a redb file.
pub const ORDER_TABLE: &str = "arvo.orc.order.process";
/// The table of the payment workflows in a redb file.
pub const PAYMENT_TABLE: &str = "arvo.orc.order.payment";

/// Why the order system could not be set up or an order could not be placed.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// The broker refused the setup (a handler or workflow that could not be built, two on
    /// one topic) or the event.
    #[error("broker: {0}")]
    Broker(#[from] BrokerError),
    /// An event could not be built.
    #[error("building an event: {0}")]
    Factory(#[from] FactoryError),
    /// The init event could not be built, or the completion is not an [`OrderResult`].
    #[error("workflow: {0}")]
    Workflow(#[from] WorkflowError),
    /// A payload could not be (de)serialised.
    #[error("payload: {0}")]
    Json(#[from] serde_json::Error),
    /// The state file could not be opened.
    #[error("state file: {0}")]
    Store(#[from] RedbOpenError),
    /// The workflows' state could not be read.
    #[error("workflow state: {0}")]
    Memory(#[from] MemoryError),
}

/// A reviewer who approves every order up to `limit_cents` and declines the rest.
pub fn reviewer_with_limit(limit_cents: u64) -> Reviewer {
    Arc::new(move |req: &ApprovalRequest| {
        let approved = req.total_cents <= limit_cents;
        ApprovalDecision {
            approved,
            reviewer: "dana@shop".to_owned(),
            note: (!approved).then(|| format!("{} cents is over my limit", req.total_cents)),
        }
    })
}

/// An order of `laptops` laptops (1,249.50 each) and a mouse, paid with `card`.
pub fn sample_order(order_id: &str, laptops: u32, card: &str) -> Order {
    Order {
        order_id: order_id.to_owned(),
        customer: "ada@example.com".to_owned(),
        items: vec![
            LineItem {
                sku: "LAPTOP-14".to_owned(),
                quantity: laptops,
                unit_price_cents: 124_950,
            },
            LineItem {
                sku: "MOUSE-1".to_owned(),
                quantity: 1,
                unit_price_cents: 2_500,
            },
        ],
        card: card.to_owned(),
        address: "Unter den Linden 1, Berlin".to_owned(),
    }
}

/// One order of the demo and how it must end.
#[derive(Debug, Clone)]
pub struct DemoCase {
    /// What the order is about.
    pub title: &'static str,
    /// The order.
    pub order: Order,
    /// The status it must complete with.
    pub expected: OrderStatus,
    /// How many approval requests it must send to the human desk.
    pub approvals: usize,
}

impl DemoCase {
    /// Whether `placed` ended as this case promises: the expected completion, no failure
    /// recorded, the expected number of domained events, nothing unroutable.
    pub fn holds(&self, placed: &Placed) -> bool {
        let o = &placed.outcome;
        placed.result.as_ref().map(|r| r.status) == Some(self.expected)
            && o.is_ok()
            && o.domained.len() == self.approvals
            && o.unroutable.is_empty()
    }
}

/// The orders of `cargo demo`: a large order (approved, paid, shipped) and a small one paid
/// with a declined card (`payment_failed`).
pub fn demo_cases() -> Vec<DemoCase> {
    vec![
        DemoCase {
            title: "ORD-1001: two laptops and a mouse (needs approval)",
            order: sample_order("ORD-1001", 2, "tok_visa"),
            expected: OrderStatus::Completed,
            approvals: 1,
        },
        DemoCase {
            title: "ORD-1002: just a mouse (no approval needed), paid with a declined card",
            order: sample_order("ORD-1002", 0, DECLINED_CARD),
            expected: OrderStatus::PaymentFailed,
            approvals: 0,
        },
    ]
}

/// Builds an [`OrderSystem`].
#[must_use]
pub struct OrderSystemBuilder {
    flow: OrderFlow,
    reviewer: Reviewer,
    observer: Option<Observer>,
    tracer: Option<TracerFactory>,
    store: Option<RedbStore>,
    answer_approvals: bool,
}

impl OrderSystemBuilder {
    /// Keeps the workflows' state in `store` (a redb file: tables [`ORDER_TABLE`] and
    /// [`PAYMENT_TABLE`]) instead of in the process.
    pub fn store(mut self, store: RedbStore) -> Self {
        self.store = Some(store);
        self
    }

    /// The human desk is closed: approval requests are not answered (they stay in the
    /// outcome's `domained` list and the workflow waits, in its memory, for the decision; see
    /// [`OrderSystem::resume_waiting`]).
    pub fn hold_approvals(mut self) -> Self {
        self.answer_approvals = false;
        self
    }

    /// Orders above `cents` need approval (default [`DEFAULT_APPROVAL_THRESHOLD_CENTS`]).
    pub fn approval_threshold(mut self, cents: u64) -> Self {
        self.flow.threshold_cents = cents;
        self
    }

    /// Who answers approval requests (default: approves up to 10,000.00).
    pub fn reviewer(mut self, reviewer: Reviewer) -> Self {
        self.reviewer = reviewer;
        self
    }

    /// Called with every event as it happens: registered as the broker's observer, it sees
    /// the init events, every emitted event and the human's answers, once each.
    pub fn observer(mut self, observer: Observer) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The tracer of every handler and workflow (default: the global tracer provider's).
    pub fn tracer(mut self, tracer: TracerFactory) -> Self {
        self.tracer = Some(tracer);
        self
    }

    /// Builds the services, the two workflows and the broker that connects them.
    ///
    /// # Errors
    /// See [`OrderError`].
    pub fn build(self) -> Result<OrderSystem, OrderError> {
        let (orders, payments) = match &self.store {
            Some(store) => (
                WorkflowMemory::Redb(store.memory(ORDER_TABLE)?),
                WorkflowMemory::Redb(store.memory(PAYMENT_TABLE)?),
            ),
            None => (OrderMemory::new(), PaymentMemory::new()),
        };
        let mut order_flow = self.flow.resumable(orders.clone());
        let mut payment_flow = PaymentFlow.resumable(payments.clone());
        if let Some(t) = &self.tracer {
            order_flow = order_flow.tracer(t());
            payment_flow = payment_flow.tracer(t());
        }

        // Registration by value: the broker builds each builder (and reports a failure at
        // `build()`).
        let mut broker = EventBroker::builder()
            .handler(order_flow)
            .handler(payment_flow);
        for service in [inventory(), payment(), shipping()] {
            broker = broker.handler(match &self.tracer {
                Some(t) => service.tracer(t()),
                None => service,
            });
        }
        if let Some(observer) = self.observer {
            broker = broker.observe(move |event| observer(event));
        }
        let reviewer = self.reviewer;
        if self.answer_approvals {
            let reviewer = reviewer.clone();
            broker = broker.on_domained(move |fwd| human_desk(fwd, reviewer.clone()));
        }
        let broker = broker.build()?;
        Ok(OrderSystem {
            broker,
            orders,
            payments,
            reviewer,
        })
    }
}

/// The human at the `human.review` desk: answers each approval request with the reviewer's
/// decision, published into the same workflow (where the broker's observer sees it). Other
/// domained events are left in the outcome's `domained` list.
async fn human_desk(fwd: Forwarded, reviewer: Reviewer) {
    if fwd.domain() != Some(HUMAN_REVIEW) || fwd.event.event_type() != OrderApproval::TYPE {
        return;
    }
    match approval_reply(&fwd.event, &*reviewer) {
        Ok(reply) => {
            if let Err(e) = fwd.publish(reply).await {
                eprintln!("human desk: cannot publish the decision: {e}");
            }
        }
        Err(e) => eprintln!("human desk: cannot answer request {}: {e}", fwd.event.id()),
    }
}

/// The decision event answering an approval `request` (what a human's UI would send):
/// `evt.order.approval.decision` to the requesting workflow, same subject, `parentid` the
/// request's id, the request's trace context.
///
/// # Errors
/// When the request's data is not an [`ApprovalRequest`] or the event cannot be built.
pub fn approval_reply(
    request: &ArvoEvent,
    reviewer: &(dyn Fn(&ApprovalRequest) -> ApprovalDecision + Send + Sync),
) -> Result<ArvoEvent, OrderError> {
    let asked = ApprovalRequest::deserialize(request.data())?;
    let decision = reviewer(&asked);
    let factory = ArvoEventFactory::new(OrderApprovalV1_0_0::versioned());
    let reply = factory.emits(EventInput {
        event_type: Some("evt.order.approval.decision".to_owned()),
        subject: Some(request.subject().to_owned()),
        to: Some(request.redirectto().unwrap_or(request.source()).to_owned()),
        parentid: Some(request.id().to_owned()),
        traceparent: request.traceparent().map(str::to_owned),
        tracestate: request.tracestate().map(str::to_owned),
        ..EventInput::new(OrderApproval::TYPE, serde_json::to_value(&decision)?)
    })?;
    Ok(reply)
}

/// The order services, workflows and broker, ready to take orders.
pub struct OrderSystem {
    broker: EventBroker,
    orders: OrderMemory,
    payments: PaymentMemory,
    reviewer: Reviewer,
}

/// What placing an order produced.
#[derive(Debug)]
pub struct Placed {
    /// The init event published.
    pub init: ArvoEvent,
    /// The broker's outcome of the workflow.
    pub outcome: Resolution,
    /// The order's completion, when the workflow completed.
    pub result: Option<OrderResult>,
}

impl OrderSystem {
    /// A builder with the defaults.
    pub fn builder() -> OrderSystemBuilder {
        OrderSystemBuilder {
            flow: OrderFlow::default(),
            reviewer: reviewer_with_limit(1_000_000),
            observer: None,
            tracer: None,
            store: None,
            answer_approvals: true,
        }
    }

    /// The broker (a [`ScenarioTarget`](arvo_runtime::testing::ScenarioTarget) for tests).
    pub fn broker(&self) -> &EventBroker {
        &self.broker
    }

    /// The order workflow's memory.
    pub fn orders(&self) -> &OrderMemory {
        &self.orders
    }

    /// The payment workflow's memory.
    pub fn payments(&self) -> &PaymentMemory {
        &self.payments
    }

    /// The init event of `order`, from [`CHECKOUT`], with a new root subject (the typed init
    /// edge `OrderProcessV1_0_0::init`).
    ///
    /// # Errors
    /// When the order does not fit the contract.
    pub fn order_event(order: &Order) -> Result<ArvoEvent, OrderError> {
        Ok(OrderProcessV1_0_0::init(CHECKOUT, order.clone())?)
    }

    /// The approval requests that order workflows in the memory are waiting for (an emitted
    /// `com.order.approval.request` with no decision collected yet), read from the state file;
    /// none with the in-process memory. Pages through the records, 100 at a time.
    ///
    /// # Errors
    /// When the state cannot be read.
    pub fn waiting_approvals(&self) -> Result<Vec<ArvoEvent>, OrderError> {
        let mut waiting = Vec::new();
        let mut after: Option<String> = None;
        while let Some(page) = self.orders.list(after.as_deref(), 100)? {
            let Some((last, _)) = page.last() else { break };
            after = Some(last.clone());
            for (_, record) in &page {
                if let Some(r) = record.value.as_normal() {
                    waiting.extend(unanswered_approvals(r));
                }
            }
        }
        Ok(waiting)
    }

    /// Answers every approval request the stored workflows wait for
    /// ([`waiting_approvals`](Self::waiting_approvals)) with the reviewer's decision, and runs
    /// each workflow to its end. Each [`Placed`] has the decision as `init` and the workflow's
    /// completion as `result` (the completion goes to the checkout, which the decision did not
    /// come from, so the broker lists it with the outcome's `unroutable` events).
    ///
    /// # Errors
    /// When the state cannot be read, a request cannot be answered or the broker refuses it.
    pub async fn resume_waiting(&self) -> Result<Vec<Placed>, OrderError> {
        let mut resumed = Vec::new();
        for request in self.waiting_approvals()? {
            let reply = approval_reply(&request, &*self.reviewer)?;
            let outcome = self.broker.resolve(reply.clone()).await?;
            let completion = outcome
                .events
                .iter()
                .chain(&outcome.unroutable)
                .find(|e| e.event_type() == OrderProcess::COMPLETE_TYPE);
            let result = completion
                .map(|e| OrderResult::deserialize(e.data()))
                .transpose()?;
            resumed.push(Placed {
                init: reply,
                outcome,
                result,
            });
        }
        Ok(resumed)
    }

    /// Places `order` and waits until its workflow has no work left.
    ///
    /// # Errors
    /// When the init event cannot be built or the broker refuses it.
    pub async fn place(&self, order: &Order) -> Result<Placed, OrderError> {
        self.submit(Self::order_event(order)?).await
    }

    /// Publishes an init event built with [`order_event`](Self::order_event) (e.g. inside a
    /// span, so it carries its `traceparent`) and waits until its workflow has no work left.
    ///
    /// # Errors
    /// When the broker refuses the event, or the completion does not fit [`OrderResult`].
    pub async fn submit(&self, init: ArvoEvent) -> Result<Placed, OrderError> {
        let outcome = self.broker.resolve(init.clone()).await?;
        // The typed result edge: the completion as `OrderResult`; no completion (the order
        // waits, or failed) is `None`, a completion that does not fit is an error.
        let result = match OrderProcessV1_0_0::result(&outcome) {
            Ok(OrderProcessV1_0_0Emits::Complete(done)) => Some(done),
            Err(e @ WorkflowError::Data { .. }) => return Err(e.into()),
            Err(_) => None,
        };
        Ok(Placed {
            init,
            outcome,
            result,
        })
    }
}

/// The approval requests `record` emitted and has no decision for yet.
fn unanswered_approvals(record: &ResumableRecord<OrderContext>) -> Vec<ArvoEvent> {
    let (ResumableStatus::Active, Some(expected)) = (record.status, &record.events.expected) else {
        return Vec::new();
    };
    let emitted = record
        .events
        .produced
        .iter()
        .chain(record.processed.iter().flat_map(|p| &p.produced));
    emitted
        .filter(|e| e.event_type() == OrderApproval::TYPE)
        .filter(|e| expected.get(e.id()).is_some_and(Vec::is_empty))
        .cloned()
        .collect()
}

/// One line describing `event`: type, `source -> to`, the first 8 characters of its
/// workflow's execution id (the subject's), and the domain if any.
pub fn describe(event: &ArvoEvent) -> String {
    let execution = arvo_runtime::subject::parse(event.subject())
        .map(|c| c.execution.id.chars().take(8).collect::<String>())
        .unwrap_or_else(|_| event.subject().chars().take(8).collect());
    let route = format!("{} -> {}", event.source(), event.to().unwrap_or("-"));
    let domain = event
        .domain()
        .map(|d| format!("  domain={d}"))
        .unwrap_or_default();
    format!(
        "{:<36} {:<56} [{execution}]{domain}",
        event.event_type(),
        route
    )
}
