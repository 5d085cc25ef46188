//! The dead-letter envelope, cut to fit the server's maximum message size.

use crate::event::ArvoEvent;
use serde_json::{Value, json};

/// Bytes of the server's maximum message size a dead letter leaves to its headers.
pub(super) const DEAD_LETTER_HEADROOM: usize = 4096;
/// The longest error text a shortened dead letter keeps, in bytes.
const DEAD_LETTER_ERROR_MAX: usize = 4096;

/// What a dead letter says about one delivery.
pub(super) struct DeadLetterFields<'a> {
    pub(super) handler: &'a str,
    pub(super) deliveries: i64,
    pub(super) error: &'a str,
    pub(super) subject: &'a str,
    pub(super) stream_sequence: u64,
    pub(super) event: Option<&'a ArvoEvent>,
    pub(super) raw: Option<&'a str>,
}

/// The dead letter's JSON, at most `max` bytes long whenever `max` leaves room for its fixed
/// fields. Whole when it fits. Otherwise the error keeps its first [`DEAD_LETTER_ERROR_MAX`]
/// bytes; if the letter still does not fit (an event near the server's maximum message size,
/// or a payload that grew when read as text: every byte that is not UTF-8 becomes a 3-byte
/// U+FFFD), the event's JSON or the raw text becomes a `raw` prefix that fits, and the letter says `"truncated": true` and how long the
/// payload was (`payloadBytes`). Without this a dead letter over the limit could not be
/// published, and its event would be re-delivered for ever.
pub(super) fn dead_letter_body(f: DeadLetterFields<'_>, max: usize) -> Vec<u8> {
    let envelope = |error: &str, event: Option<Value>, raw: Option<&str>, cut: Option<usize>| {
        let mut v = json!({
            "handler": f.handler,
            "deliveries": f.deliveries,
            "error": error,
            "subject": f.subject,
            "streamSequence": f.stream_sequence,
            "event": event,
            "raw": raw,
        });
        if let (Some(len), Value::Object(m)) = (cut, &mut v) {
            m.insert("truncated".to_owned(), Value::Bool(true));
            m.insert("payloadBytes".to_owned(), json!(len));
        }
        serde_json::to_vec(&v).unwrap_or_default()
    };
    let event = f.event.map(ArvoEvent::to_json_value);
    let whole = envelope(f.error, event.clone(), f.raw, None);
    if whole.len() <= max {
        return whole;
    }
    // A long error is cut first: the payload stays whole (an event replayable) if that fits.
    let error = crate::issue::prefix_within(f.error, DEAD_LETTER_ERROR_MAX);
    if error.len() < f.error.len() {
        let body = envelope(error, event, f.raw, None);
        if body.len() <= max {
            return body;
        }
    }
    let payload = match (f.event, f.raw) {
        (Some(e), _) => e.to_json_string(),
        (None, Some(r)) => r.to_owned(),
        (None, None) => String::new(),
    };
    let fixed = envelope(error, None, Some(""), Some(payload.len())).len();
    // A character is never shorter in JSON than in UTF-8, so cutting as many bytes as the
    // letter is over makes it fit: one or two rounds.
    let mut keep = max.saturating_sub(fixed);
    loop {
        let prefix = crate::issue::prefix_within(&payload, keep);
        let body = envelope(error, None, Some(prefix), Some(payload.len()));
        if body.len() <= max || prefix.is_empty() {
            return body;
        }
        keep = prefix.len().saturating_sub(body.len() - max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields<'a>(
        error: &'a str,
        event: Option<&'a ArvoEvent>,
        raw: Option<&'a str>,
    ) -> DeadLetterFields<'a> {
        DeadLetterFields {
            handler: "com.test.echo",
            deliveries: 1,
            error,
            subject: "T.com~2Etest~2Eecho",
            stream_sequence: 7,
            event,
            raw,
        }
    }

    fn read(body: &[u8]) -> Value {
        serde_json::from_slice(body).expect("a dead letter is JSON")
    }

    #[test]
    fn a_dead_letter_that_fits_is_whole() {
        let event = ArvoEvent::builder()
            .source("com.test.client")
            .event_type("com.test.echo")
            .subject("s-1")
            .data_json(json!({"n": 1}))
            .build()
            .unwrap();
        let v = read(&dead_letter_body(
            fields("boom", Some(&event), None),
            1 << 20,
        ));
        assert_eq!(v["event"], event.to_json_value());
        assert_eq!(v["error"], "boom");
        assert_eq!(v["streamSequence"], 7);
        assert!(v.get("truncated").is_none());
    }

    #[test]
    fn a_dead_letter_over_the_limit_keeps_a_prefix_that_fits() {
        let max = 64 * 1024;
        // Text that grew from bytes that were not UTF-8 (3 bytes per U+FFFD).
        let lossy = "\u{FFFD}".repeat(max / 2);
        // An event whose data JSON-escapes to 6 bytes per character.
        let event = ArvoEvent::builder()
            .source("com.test.client")
            .event_type("com.test.echo")
            .subject("s-2")
            .data_json(json!({"text": "\u{1}".repeat(max)}))
            .build()
            .unwrap();
        let long_error = "e".repeat(3 * max);
        let event_json = event.to_json_string();
        for (f, payload) in [
            (
                fields("not an Arvo event", None, Some(&lossy)),
                lossy.as_str(),
            ),
            (fields(&long_error, Some(&event), None), event_json.as_str()),
        ] {
            let error_len = f.error.len();
            let body = dead_letter_body(f, max);
            assert!(body.len() <= max, "{} > {max}", body.len());
            let v = read(&body);
            assert_eq!(v["truncated"], true);
            assert_eq!(v["payloadBytes"], payload.len());
            assert_eq!(v["event"], Value::Null);
            let raw = v["raw"].as_str().unwrap();
            assert!(!raw.is_empty() && payload.starts_with(raw));
            // Most of the room goes to the payload.
            assert!(raw.len() > max / 8, "{}", raw.len());
            let error = v["error"].as_str().unwrap();
            assert_eq!(error.len(), error_len.min(DEAD_LETTER_ERROR_MAX));
        }
    }

    #[test]
    fn a_long_error_is_cut_before_the_payload() {
        let event = ArvoEvent::builder()
            .source("com.test.client")
            .event_type("com.test.echo")
            .subject("s-3")
            .data_json(json!({"n": 3}))
            .build()
            .unwrap();
        let max = 64 * 1024;
        let long_error = "e".repeat(2 * max);
        let body = dead_letter_body(fields(&long_error, Some(&event), None), max);
        assert!(body.len() <= max, "{} > {max}", body.len());
        let v = read(&body);
        assert_eq!(v["event"], event.to_json_value(), "the event stays whole");
        assert_eq!(v["error"].as_str().unwrap().len(), DEAD_LETTER_ERROR_MAX);
        assert!(v.get("truncated").is_none());
    }

    #[test]
    fn a_limit_below_the_fixed_fields_gives_an_empty_prefix() {
        let raw = "x".repeat(1000);
        let v = read(&dead_letter_body(fields("boom", None, Some(&raw)), 10));
        assert_eq!(v["raw"], "");
        assert_eq!(v["payloadBytes"], 1000);
    }
}
