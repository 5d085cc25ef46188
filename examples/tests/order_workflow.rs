//! The order workflow of `cargo demo`, tested with the scenario DSL
//! (`arvo_runtime::testing::Scenario`): each service alone, the order orchestrator step by
//! step (its service answers written by the test), and the whole workflow on the broker
//! (happy path, human approval, human refusal, declined payment, many orders at once), plus
//! the demo's own cases and the demo binary itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use arvo_example_contracts::order::{
    Charge, InventoryReserveV1_0_0, InventoryReserveV1_0_0Emits, OrderStatus, PaymentFlowV1_0_0,
    PaymentFlowV1_0_0Emits, Reservation, Shipment, ShippingScheduleV1_0_0,
    ShippingScheduleV1_0_0Emits,
};
use arvo_examples::order::{
    CHECKOUT, DECLINED_CARD, HUMAN_REVIEW, OrderMemory, OrderSystem, OrderSystemBuilder,
    demo_cases, inventory, payment, reviewer_with_limit, sample_order,
};
use arvo_runtime::ArvoEvent;
use arvo_runtime::factory::{ArvoEventFactory, EventInput};
use arvo_runtime::memory::{MachineMemory, RedbStore};
use arvo_runtime::resumable::ResumableStatus;
use arvo_runtime::testing::{Scenario, event, expect};
use arvo_runtime::typed::ContractVersion;
use serde_json::{Value, json};

const ORDER: &str = "arvo.orc.order.process";

fn reserve_request(order_id: &str) -> Value {
    json!({"order_id": order_id, "items": [{"sku": "A", "quantity": 3, "unit_price_cents": 100}]})
}

#[tokio::test]
async fn inventory_reserves_every_unit() {
    let handler = inventory().build().unwrap();
    let factory = ArvoEventFactory::new(InventoryReserveV1_0_0::versioned());
    Scenario::new("inventory")
        .step(
            |_| {
                factory.accepts(
                    EventInput::new("com.test", reserve_request("ORD-1")).with_subject("s-1"),
                )
            },
            expect()
                .events(1)
                .of_type("evt.inventory.reserve.success")
                .to("com.test")
                .data_eq("/reservation_id", "rsv-ORD-1")
                .data_eq("/units", 3),
        )
        .run(&handler)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_declined_card_is_a_system_error_not_a_violation() {
    let handler = payment().build().unwrap();
    let factory =
        ArvoEventFactory::new(arvo_example_contracts::order::PaymentChargeV1_0_0::versioned());
    let charge = |card: &str| {
        factory.accepts(
            EventInput::new(
                "com.test",
                json!({"order_id": "ORD-1", "amount_cents": 2500, "card": card}),
            )
            .with_subject("s-1"),
        )
    };
    Scenario::new("payment")
        .step(
            |_| charge("tok_visa"),
            expect()
                .events(1)
                .of_type("evt.payment.charge.success")
                .data_eq("/amount_cents", 2500),
        )
        .step(
            |_| charge(DECLINED_CARD),
            expect()
                .events(1)
                .of_type("sys.com.payment.charge.error")
                .to("com.test")
                .data_eq(
                    "/errorMessage",
                    "card declined: tok_declined for 2500 cents",
                ),
        )
        .run(&handler)
        .await
        .unwrap();
}

/// The order orchestrator alone, fed by hand: every request it sends is checked, and the test
/// plays the services (and the payment child's completion) with typed answers
/// (`Scenario::answer`).
#[tokio::test]
async fn order_orchestrator_step_by_step() {
    let memory = OrderMemory::new();
    let flow = arvo_runtime::ArvoResumable::builder(
        arvo_example_contracts::order::OrderProcess::orchestrator_contract().clone(),
        memory.clone(),
    )
    .handler::<arvo_example_contracts::order::OrderProcessV1_0_0, _>(Arc::new(
        arvo_examples::order::OrderFlow::default(),
    ))
    .build()
    .unwrap();
    let init = OrderSystem::order_event(&sample_order("ORD-7", 0, "tok_visa")).unwrap();
    let subject = init.subject().to_owned();
    Scenario::new("order orchestrator")
        .step(
            |_| init.clone(),
            expect()
                .events(1)
                .of_type("com.inventory.reserve")
                .to("com.inventory.reserve")
                .subject(&subject)
                .data_eq("/order_id", "ORD-7")
                .field_eq("/redirectto", ORDER),
        )
        .answer::<InventoryReserveV1_0_0, _>(
            |_call| {
                InventoryReserveV1_0_0Emits::Success(Reservation {
                    reservation_id: "rsv-x".into(),
                    units: 1,
                })
            },
            expect()
                .events(1)
                .of_type("arvo.orc.order.payment")
                .data_eq("/amount_cents", 2500)
                .data_eq("/parentSubject$$", subject.as_str())
                .satisfies("the child runs under its own subject", {
                    let parent = subject.clone();
                    move |events| {
                        (events[0].subject() != parent)
                            .then_some(())
                            .ok_or_else(|| "same subject as the parent".to_owned())
                    }
                }),
        )
        // The child's completion comes back with the parent's subject.
        .answer::<PaymentFlowV1_0_0, _>(
            |_call| {
                PaymentFlowV1_0_0Emits::Complete(Charge {
                    charge_id: "ch-x".into(),
                    amount_cents: 2500,
                })
            },
            expect()
                .events(1)
                .of_type("com.shipping.schedule")
                .data_eq("/address", "Unter den Linden 1, Berlin"),
        )
        .answer::<ShippingScheduleV1_0_0, _>(
            |_call| {
                ShippingScheduleV1_0_0Emits::Success(Shipment {
                    tracking_id: "trk-x".into(),
                    eta_days: 2,
                })
            },
            expect()
                .events(1)
                .of_type("arvo.orc.order.process.done")
                .to(CHECKOUT)
                .subject(&subject)
                .data_eq("/status", "completed")
                .data_eq("/charge_id", "ch-x")
                .data_eq("/tracking_id", "trk-x")
                .data_eq("/total_cents", 2500),
        )
        .run(&flow)
        .await
        .unwrap();
    let record = memory.read(&subject).await.unwrap().unwrap().value;
    let record = record.as_normal().expect("a normal record");
    assert_eq!(record.status, ResumableStatus::Done);
    assert_eq!(
        record.context.as_ref().map(|c| c.charge_id.as_deref()),
        Some(Some("ch-x"))
    );
}

fn order(order: arvo_example_contracts::order::Order) -> impl Fn(&[ArvoEvent]) -> ArvoEvent {
    move |_| OrderSystem::order_event(&order).unwrap()
}

/// The event types a system's observer saw, in order.
fn recording() -> (arvo_examples::order::Observer, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    let observer: arvo_examples::order::Observer = Arc::new(move |e: &ArvoEvent| {
        let d = e.domain().map(|d| format!("@{d}")).unwrap_or_default();
        s.lock().unwrap().push(format!("{}{d}", e.event_type()));
    });
    (observer, seen)
}

/// Through the broker the init event is the scenario's input: the broker's observer sees it
/// and then what the handlers emit.
async fn small_order_completes_without_approval(memory: Memory) {
    let (builder, _dir) = memory.builder();
    let (observer, seen) = recording();
    let system = builder.observer(observer).build().unwrap();
    Scenario::new("small order")
        .step(
            order(sample_order("ORD-1", 0, "tok_visa")),
            expect()
                .events(1)
                .of_type("arvo.orc.order.process.done")
                .to(CHECKOUT)
                .data_eq("/status", "completed")
                .data_eq("/charge_id", "ch-ORD-1")
                .data_eq("/tracking_id", "trk-ORD-1")
                .data_eq("/reason", Value::Null),
        )
        .run(system.broker())
        .await
        .unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "arvo.orc.order.process",
            "com.inventory.reserve",
            "evt.inventory.reserve.success",
            "arvo.orc.order.payment",
            "com.payment.charge",
            "evt.payment.charge.success",
            "arvo.orc.order.payment.done",
            "com.shipping.schedule",
            "evt.shipping.schedule.success",
            "arvo.orc.order.process.done",
        ]
    );
}

async fn large_order_waits_for_the_human_and_completes(memory: Memory) {
    let (builder, _dir) = memory.builder();
    let (observer, seen) = recording();
    let system = builder.observer(observer).build().unwrap();
    let placed = system
        .place(&sample_order("ORD-2", 2, "tok_visa"))
        .await
        .unwrap();
    let result = placed.result.expect("completed");
    assert_eq!(result.status, OrderStatus::Completed);
    assert_eq!(result.total_cents, 252_400);
    assert_eq!(placed.outcome.domained.len(), 1);
    let asked = &placed.outcome.domained[0];
    assert_eq!(asked.event_type(), "com.order.approval.request");
    assert_eq!(asked.domain(), Some(HUMAN_REVIEW));
    assert_eq!(asked.data()["total_cents"], json!(252_400));
    let seen = seen.lock().unwrap();
    let at = |t: &str| seen.iter().position(|s| s == t).unwrap();
    assert!(at("com.order.approval.request@human.review") < at("evt.order.approval.decision"));
    assert!(at("evt.order.approval.decision") < at("arvo.orc.order.payment"));
}

async fn a_refusal_rejects_the_order_without_payment(memory: Memory) {
    let (builder, _dir) = memory.builder();
    let (observer, seen) = recording();
    let system = builder
        .reviewer(reviewer_with_limit(200_000))
        .observer(observer)
        .build()
        .unwrap();
    Scenario::new("refused")
        .step(
            order(sample_order("ORD-3", 2, "tok_visa")),
            expect()
                .events(1)
                .of_type("arvo.orc.order.process.done")
                .data_eq("/status", "rejected")
                .data_eq("/charge_id", Value::Null)
                .data_eq("/reason", "dana@shop: 252400 cents is over my limit"),
        )
        .run(system.broker())
        .await
        .unwrap();
    assert!(!seen.lock().unwrap().iter().any(|t| t.contains("payment")));
}

async fn a_declined_card_fails_the_child_and_the_order_reports_it(memory: Memory) {
    let (builder, _dir) = memory.builder();
    let (observer, seen) = recording();
    let system = builder.observer(observer).build().unwrap();
    Scenario::new("declined")
        .step(
            order(sample_order("ORD-4", 0, DECLINED_CARD)),
            expect()
                .events(1)
                .of_type("arvo.orc.order.process.done")
                .data_eq("/status", "payment_failed")
                .data_eq(
                    "/reason",
                    "payment failed: card declined: tok_declined for 2500 cents",
                ),
        )
        .run(system.broker())
        .await
        .unwrap();
    let seen = seen.lock().unwrap();
    assert!(seen.contains(&"sys.com.payment.charge.error".to_owned()));
    assert!(seen.contains(&"sys.arvo.orc.order.payment.error".to_owned()));
    assert!(!seen.iter().any(|t| t.starts_with("com.shipping")));
}

async fn the_failed_child_keeps_a_failure_record_and_the_order_is_done(memory: Memory) {
    let (builder, _dir) = memory.builder();
    let children = Arc::new(Mutex::new(Vec::new()));
    let c = Arc::clone(&children);
    let system = builder
        .observer(Arc::new(move |e: &ArvoEvent| {
            if e.event_type() == "arvo.orc.order.payment" {
                c.lock().unwrap().push(e.subject().to_owned());
            }
        }))
        .build()
        .unwrap();
    let placed = system
        .place(&sample_order("ORD-5", 0, DECLINED_CARD))
        .await
        .unwrap();
    assert_eq!(
        placed.result.map(|r| r.status),
        Some(OrderStatus::PaymentFailed)
    );
    let order = system.orders().read(placed.init.subject()).await.unwrap();
    let order = order.unwrap().value;
    assert_eq!(
        order.as_normal().map(|r| r.status),
        Some(ResumableStatus::Done)
    );
    let children = children.lock().unwrap().clone();
    assert_eq!(children.len(), 1, "one payment workflow");
    let child = system.payments().read(&children[0]).await.unwrap();
    let child = child.unwrap().value;
    let failure = child.as_failure().expect("a failure record");
    assert_eq!(
        failure.error.error_message,
        "payment failed: card declined: tok_declined for 2500 cents"
    );
}

async fn many_orders_at_once_each_get_their_own_result(memory: Memory) {
    let (builder, _dir) = memory.builder();
    let system = builder.build().unwrap();
    let report = Scenario::new("32 concurrent orders")
        .step(
            order(sample_order("ORD-9", 2, "tok_visa")),
            expect()
                .events(1)
                .nth(0, event().of_type("arvo.orc.order.process.done"))
                .data_eq("/status", "completed"),
        )
        .repeat(32, 1.0)
        .concurrency(8)
        .run(system.broker())
        .await
        .unwrap();
    assert_eq!(report.iterations, 32);
    assert_eq!(report.successes, 32);
}

async fn the_demo_cases_end_as_promised(memory: Memory) {
    let (builder, _dir) = memory.builder();
    let system = builder.build().unwrap();
    for case in demo_cases() {
        let placed = system.place(&case.order).await.unwrap();
        assert!(case.holds(&placed), "{}: {placed:?}", case.title);
    }
}

/// Where a broker-level test keeps the workflows' state.
#[derive(Debug, Clone, Copy)]
enum Memory {
    InMemory,
    Redb,
}

/// A directory removed on drop.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Memory {
    /// A builder on this memory, and the redb file's directory to keep while the system runs.
    fn builder(self) -> (OrderSystemBuilder, Option<TempDir>) {
        match self {
            Self::InMemory => (OrderSystem::builder(), None),
            Self::Redb => {
                static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
                let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let dir = std::env::temp_dir()
                    .join(format!("arvo-order-workflow-{}-{n}", std::process::id()));
                std::fs::create_dir_all(&dir).unwrap();
                let store = RedbStore::open(dir.join("state.redb")).unwrap();
                (OrderSystem::builder().store(store), Some(TempDir(dir)))
            }
        }
    }
}

/// Runs each broker-level test on the in-process memory and on the redb file.
macro_rules! on_every_memory {
    ($($name:ident),* $(,)?) => {
        mod in_memory {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Memory::InMemory).await;
            })*
        }
        mod redb {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Memory::Redb).await;
            })*
        }
    };
}

on_every_memory!(
    small_order_completes_without_approval,
    large_order_waits_for_the_human_and_completes,
    a_refusal_rejects_the_order_without_payment,
    a_declined_card_fails_the_child_and_the_order_reports_it,
    the_failed_child_keeps_a_failure_record_and_the_order_is_done,
    many_orders_at_once_each_get_their_own_result,
    the_demo_cases_end_as_promised,
);

#[test]
fn the_demo_binary_exits_0_and_prints_every_event() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_demo"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed:\n{stdout}");
    assert!(stdout.contains("Both workflows completed as expected"));
    for line in [
        "com.order.approval.request",
        "domain=human.review",
        "arvo.orc.order.payment.done",
        "sys.arvo.orc.order.payment.error",
        "ORD-1001 Completed",
        "ORD-1002 PaymentFailed",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
}
