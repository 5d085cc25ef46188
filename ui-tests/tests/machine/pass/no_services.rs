//! `services()`: a machine and a resumable that call no service (the list may be empty), each
//! completing from its init event.
use arvo_runtime::prelude::*;
use arvo_ui_tests::machine::*;
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Ctx { value: i64 }
pub struct M;
#[arvo_machine(contract = Counter, version = "1.0.0", context = Ctx, services())]
impl M {
    #[context]
    fn start(&self, init: &Delta) -> Ctx { Ctx { value: init.delta } }
    #[output]
    fn done(&self, ctx: &Ctx) -> Value { Value { value: ctx.value } }
    #[state(initial)]
    #[always(target = finished)]
    fn waiting(&self) {}
    #[state(final)]
    fn finished(&self) {}
}
pub struct R;
#[arvo_resumable(contract = Counter, context = (), services())]
impl R {
    #[version("1.0.0")]
    async fn v1(&self, step: RStep<'_, CounterV1_0_0>) -> RResult<CounterV1_0_0> {
        let REvent::Init(init) = &step.event;
        Ok(Outcome::wait().complete(CounterV1_0_0Emits::Complete(Value { value: init.data.delta })))
    }
}
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let m = M.machine().unwrap_or_else(|e| panic!("{e}"));
    let init = CounterV1_0_0::init("com.example.client", Delta { delta: 3 }).unwrap_or_else(|e| panic!("{e}"));
    let s = m.start(&init).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.snapshot.status, arvo_runtime::machine::MachineStatus::Done);
    assert_eq!(s.output, Some(serde_json::json!({"value": 3})));
    assert!(m.services().is_empty());

    let broker = EventBroker::builder()
        .handler(R.resumable(InMemoryMemory::new()))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let outcome = broker.resolve(init).await.unwrap_or_else(|e| panic!("{e}"));
    let CounterV1_0_0Emits::Complete(v) = CounterV1_0_0::result(&outcome).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v.value, 3);
}
