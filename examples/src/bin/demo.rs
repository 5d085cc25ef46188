//! The main demo (`cargo demo`).
//!
//! For now it shows the event layer end to end: a typed contract declared with
//! `#[arvo_contract]`, an orchestration subject created and parsed, an event built with the
//! reference's `createArvoEvent` rules and serialised byte-compatibly with the TypeScript
//! reference, then parsed back. The multi-service workflow demo replaces it once the
//! orchestration layer lands (see the README's status table).

use arvo_example_contracts::{CalcAdd, CalcFlow};
use arvo_runtime::subject::{self, NewSubject};
use arvo_runtime::typed::TypedContract;
use arvo_runtime::{ArvoEvent, rules};

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let calc = CalcAdd::try_contract()?;
    let flow = CalcFlow::try_contract()?;
    println!("contracts:");
    for c in [calc, flow] {
        let latest = c.version("latest")?;
        println!(
            "  {:<22} accepts {:<22} emits {:?} (dataschema {})",
            c.uri(),
            c.event_type(),
            latest
                .emit_list()
                .iter()
                .map(|e| e.event_type.as_str())
                .collect::<Vec<_>>(),
            latest.dataschema()
        );
    }

    let subject = subject::new(NewSubject {
        orchestrator: flow.event_type(),
        version: Some("1.0.0"),
        initiator: "com.demo.client",
        ..Default::default()
    })?;
    println!("\nsubject: {}", subject.as_str());
    let content = subject.content();
    println!(
        "  decodes to orchestrator {}@{}, execution {} started by {}",
        content.orchestrator.name,
        content.orchestrator.version,
        content.execution.id,
        content.execution.initiator
    );

    let event = ArvoEvent::builder()
        .source("com.demo.client")
        .event_type(flow.event_type())
        .subject(subject.as_str())
        .dataschema(flow.version("1.0.0")?.dataschema())
        .data_json(serde_json::json!({"parentSubject$$": null, "a": 2, "b": 40}))
        .build()?;
    let json = event.to_json_string();
    println!(
        "\nevent ({} bytes, the reference's toString()):\n  {json}",
        json.len()
    );
    let back = ArvoEvent::from_json_str(&json)?;
    assert_eq!(back, event);
    println!(
        "\nparsed back: type {} -> to {}, content type {}",
        back.event_type(),
        back.to().unwrap_or("-"),
        if back.datacontenttype() == rules::ARVO_DATA_CONTENT_TYPE {
            "arvo"
        } else {
            "other"
        }
    );
    Ok(())
}
