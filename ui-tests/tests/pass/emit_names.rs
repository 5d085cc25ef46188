//! `"evt.x" as Name = Payload` names an emits enum variant: the name is the variant in the
//! enum, in a handler, in `Emits::VARIANTS`, and in `#[arvo_machine]`'s `#[on(service::Name)]`
//! (which turns it into the event type); unnamed events keep the derived name.
use arvo_runtime::prelude::*;
use arvo_runtime::machine::MachineStatus;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Order {
    pub id: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Decision {
    pub approved: bool,
}

#[arvo_contract(uri = "#/ui/approval", type = "com.order.approval",
    version("1.0.0", accepts = Order, emits(
        "evt.order.approval.decision" as Decided = Decision,
        "evt.order.approval.timeout" = Order,
        // A name may be the one another event type would derive, when that type is not emitted.
        "evt.order.approval.escalated" as EvtOrderApprovalDecision = Order,
    )))]
pub struct Approval;

#[arvo_contract(uri = "#/ui/approve", orchestrator = "approve",
    version("1.0.0", init = Order, complete = Decision))]
pub struct Approve;

#[arvo_handler(contract = Approval, version = "1.0.0")]
async fn approve(input: Order) -> Result<ApprovalV1_0_0Emits, HandlerError> {
    Ok(ApprovalV1_0_0Emits::Decided(Decision { approved: input.id % 2 == 0 }))
}

#[derive(Clone, Serialize, Deserialize)]
pub struct Ctx {
    order: Order,
    decision: Option<Decision>,
}

pub struct ApproveMachine;

#[arvo_machine(contract = Approve, version = "1.0.0", context = Ctx,
    services(approval = ApprovalV1_0_0))]
impl ApproveMachine {
    #[context]
    fn start(&self, init: &Order) -> Ctx {
        Ctx { order: init.clone(), decision: None }
    }

    #[output]
    fn done(&self, ctx: &Ctx) -> Decision {
        ctx.decision.clone().unwrap_or(Decision { approved: false })
    }

    #[state(initial)]
    #[on(approval::Decided, target = finished, actions(store))]
    #[on(approval::EvtOrderApprovalTimeout, target = finished)]
    #[on(approval::EvtOrderApprovalDecision, target = finished)]
    fn asking(&self, cx: &mut ApproveMachineAction<'_>) -> Result<(), HandlerError> {
        let order = cx.context.order.clone();
        cx.call::<ApprovalV1_0_0>(&order)
    }

    #[state(final)]
    fn finished(&self) {}

    #[action]
    fn store(&self, cx: &mut ApproveMachineAction<'_>, answer: &Decision) {
        cx.context.decision = Some(answer.clone());
    }
}

fn main() {
    assert_eq!(
        ApprovalV1_0_0Emits::VARIANTS,
        ["Decided", "EvtOrderApprovalTimeout", "EvtOrderApprovalDecision"]
    );
    assert_eq!(
        ApprovalV1_0_0Emits::EVENT_TYPES,
        ["evt.order.approval.decision", "evt.order.approval.timeout", "evt.order.approval.escalated"]
    );
    let decided = ApprovalV1_0_0Emits::Decided(Decision { approved: true });
    assert_eq!(decided.event_type(), "evt.order.approval.decision");
    let escalated = ApprovalV1_0_0Emits::EvtOrderApprovalDecision(Order { id: 1 });
    assert_eq!(escalated.event_type(), "evt.order.approval.escalated");
    let back = ApprovalV1_0_0Emits::from_data("evt.order.approval.decision", serde_json::json!({"approved": false}))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(back, Some(ApprovalV1_0_0Emits::Decided(Decision { approved: false }))));

    let _ = approve;

    // The machine's `approval::Decided` matches the event type `evt.order.approval.decision`.
    let machine = ApproveMachine.machine().unwrap_or_else(|e| panic!("{e}"));
    let init = ApproveV1_0_0::init("com.example.client", Order { id: 2 }).unwrap_or_else(|e| panic!("{e}"));
    let step = machine.start(&init).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(step.events[0].event_type, "com.order.approval");
    let answer = ArvoEventFactory::new(ApprovalV1_0_0::versioned())
        .emits(
            EventInput::new("com.order.approval", serde_json::json!({"approved": true}))
                .with_type("evt.order.approval.decision")
                .with_subject(init.subject()),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let done = machine.resume(step.snapshot, &answer).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(done.snapshot.status, MachineStatus::Done);
    assert_eq!(done.output, Some(serde_json::json!({"approved": true})));
}
