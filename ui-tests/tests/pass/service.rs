//! A service contract with every optional key, two versions, several emits, generic payload
//! types, and a handler implementing every version (with `async fn`).
use arvo_runtime::arvo_contract;
use arvo_runtime::typed::{ContractVersion, Emission, Emits, HandlerOutput, Input, TypedContract};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct AddInput {
    pub a: f64,
    pub b: f64,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct AddInputV2 {
    pub values: Vec<f64>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AddOutput {
    pub result: f64,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Overflow {
    pub limit: Option<f64>,
}

/// Adds numbers.
#[arvo_contract(
    uri = "#/bench/calc/add",
    type = "com.calc.add",
    description = "Adds numbers",
    domain = "math",
    metadata(owner = "team-a", tier = 1, ratio = -0.5, beta = false, r#type = "raw key"),
    version("1.0.0", accepts = AddInput, emits("evt.calc.add.success" = AddOutput, "evt.calc.add.overflow" = Overflow)),
    version("2.0.0", accepts = AddInputV2, emits("evt.calc.add.success" = AddOutput, "evt.calc.add.parts" = Vec<AddOutput>)),
    version("2.1.0", accepts = AddInputV2, emits()),
)]
#[derive(Debug)]
pub struct CalcAdd;

struct Adder;

impl CalcAddHandler for Adder {
    async fn v1_0_0(&self, input: Input<'_, CalcAddV1_0_0>) -> HandlerOutput<CalcAddV1_0_0> {
        let AddInput { a, b } = input.data;
        let sum = a + b;
        if sum > 1e9 {
            return Ok(vec![CalcAddV1_0_0Emits::EvtCalcAddOverflow(Overflow { limit: Some(1e9) }).into()]);
        }
        Ok(vec![CalcAddV1_0_0Emits::EvtCalcAddSuccess(AddOutput { result: sum }).into()])
    }

    fn v2_0_0(&self, input: Input<'_, CalcAddV2_0_0>) -> impl Future<Output = HandlerOutput<CalcAddV2_0_0>> + Send {
        let parts = input.data.values.iter().map(|v| AddOutput { result: *v }).collect();
        let total = input.data.values.iter().sum();
        async move {
            Ok(vec![
                CalcAddV2_0_0Emits::EvtCalcAddParts(parts).into(),
                Emission::new(CalcAddV2_0_0Emits::EvtCalcAddSuccess(AddOutput { result: total }))
                    .to("com.audit")
                    .executionunits(2.0),
            ])
        }
    }

    async fn v2_1_0(&self, _input: Input<'_, CalcAddV2_1_0>) -> HandlerOutput<CalcAddV2_1_0> {
        Ok(vec![])
    }
}

fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn version_of<V: ContractVersion>() -> (&'static str, &'static str) {
    (V::VERSION, V::DATASCHEMA)
}

fn main() {
    assert_eq!(CalcAdd::URI, "#/bench/calc/add");
    assert_eq!(<CalcAdd as TypedContract>::TYPE, "com.calc.add");
    assert_eq!(CalcAdd::SYSTEM_ERROR_TYPE, "sys.com.calc.add.error");
    assert_eq!(CalcAdd::VERSIONS, ["1.0.0", "2.0.0", "2.1.0"]);
    assert_eq!(version_of::<CalcAddV2_0_0>(), ("2.0.0", "#/bench/calc/add/2.0.0"));
    assert_eq!(
        CalcAddV1_0_0Emits::EVENT_TYPES,
        ["evt.calc.add.success", "evt.calc.add.overflow"]
    );
    assert!(CalcAddV2_1_0Emits::EVENT_TYPES.is_empty());

    let out = block_on(Adder.v1_0_0(Input::new(AddInput { a: 1.0, b: 2.0 }))).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].event.event_type(), "evt.calc.add.success");
    assert_eq!(out[0].event.to_data().unwrap(), serde_json::json!({"result": 3.0}));

    let out = block_on(Adder.v2_0_0(Input::new(AddInputV2 { values: vec![1.0, 2.0] }))).unwrap();
    let types: Vec<_> = out.iter().map(|e| e.event.event_type()).collect();
    assert_eq!(types, ["evt.calc.add.parts", "evt.calc.add.success"]);
    assert_eq!(out[0].event.to_data().unwrap(), serde_json::json!([{"result": 1.0}, {"result": 2.0}]));
    assert_eq!(out[1].options().to.as_deref(), Some("com.audit"));

    let back = CalcAddV1_0_0Emits::from_data("evt.calc.add.overflow", serde_json::json!({"limit": null})).unwrap();
    assert!(matches!(back, Some(CalcAddV1_0_0Emits::EvtCalcAddOverflow(Overflow { limit: None }))));
    assert!(CalcAddV1_0_0Emits::from_data("evt.calc.add.success", serde_json::json!({"result": "x"})).is_err());
    assert!(CalcAddV2_1_0Emits::from_data("evt.calc.add.success", serde_json::json!({})).unwrap().is_none());
    let _ = format!("{:?} {:?}", CalcAdd, CalcAddV1_0_0);
}
