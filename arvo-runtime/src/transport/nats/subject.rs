//! The subject mapping: an event's `to` as NATS tokens, and back (see the
//! [module docs](super#subjects)).

use super::{MAX_SUBJECT_BYTES, NatsError};
use crate::event::ArvoEvent;
use std::fmt::Write as _;

/// Writes `piece` as one NATS token: `[A-Za-z0-9_-]` kept, every other byte as `~HH`, and an
/// empty piece as `~` (see the [module docs](super)).
///
/// ```
/// use arvo_runtime::transport::nats::encode_token;
/// assert_eq!(encode_token("calc"), "calc");
/// assert_eq!(encode_token("a*b c"), "a~2Ab~20c");
/// assert_eq!(encode_token(""), "~");
/// assert_eq!(encode_token("a.b"), "a~2Eb");
/// ```
pub fn encode_token(piece: &str) -> String {
    let mut out = String::with_capacity(piece.len());
    push_token(&mut out, piece);
    out
}

fn push_token(out: &mut String, piece: &str) {
    if piece.is_empty() {
        out.push('~');
        return;
    }
    for b in piece.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "~{b:02X}");
        }
    }
}

/// Reads a token written by [`encode_token`]; `None` when it is not one.
pub fn decode_token(token: &str) -> Option<String> {
    if token == "~" {
        return Some(String::new());
    }
    let bytes = token.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'~' {
            let hex = token.get(i + 1..i + 3)?;
            let v = u8::from_str_radix(hex, 16).ok()?;
            if hex.bytes().any(|h| h.is_ascii_lowercase()) {
                return None;
            }
            out.push(v);
            i += 3;
        } else if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(b);
            i += 1;
        } else {
            return None;
        }
    }
    String::from_utf8(out).ok()
}

/// The tokens of a `to` (without the `{name}.ev.` prefix): each `.`-separated piece as one
/// [`encode_token`].
///
/// ```
/// use arvo_runtime::transport::nats::encode_to;
/// assert_eq!(encode_to("com.calc.add"), "com.calc.add");
/// assert_eq!(encode_to("a..b>"), "a.~.b~3E");
/// ```
pub fn encode_to(to: &str) -> String {
    let mut out = String::with_capacity(to.len() + 8);
    for (i, piece) in to.split('.').enumerate() {
        if i > 0 {
            out.push('.');
        }
        push_token(&mut out, piece);
    }
    out
}

/// The `to` back from the tokens [`encode_to`] wrote; `None` when they are not such tokens.
pub fn decode_subject(tokens: &str) -> Option<String> {
    let mut out = String::with_capacity(tokens.len());
    for (i, token) in tokens.split('.').enumerate() {
        if i > 0 {
            out.push('.');
        }
        out.push_str(&decode_token(token)?);
    }
    Some(out)
}

/// [`NatsError::SubjectTooLong`] when `subject` (one `event` is sent on, or its answer read
/// from) is over [`MAX_SUBJECT_BYTES`].
pub(super) fn check_subject(subject: &str, event: &ArvoEvent) -> Result<(), NatsError> {
    if subject.len() <= MAX_SUBJECT_BYTES {
        return Ok(());
    }
    Err(NatsError::SubjectTooLong {
        event_id: event.id().to_owned(),
        subject: subject.to_owned(),
        len: subject.len(),
        max: MAX_SUBJECT_BYTES,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_map_to_themselves() {
        for t in [
            "com.calc.add",
            "arvo.orc.bench.calc",
            "a.b.c0",
            "sys.com.x.error",
        ] {
            assert_eq!(encode_to(t), t);
            assert_eq!(decode_subject(t).as_deref(), Some(t));
        }
    }

    #[test]
    fn special_characters_are_escaped_and_decoded() {
        let cases = [
            ("*", "~2A"),
            (">", "~3E"),
            ("a b", "a~20b"),
            ("a..b", "a.~.b"),
            (".a.", "~.a.~"),
            ("", "~"),
            ("~", "~7E"),
            ("x/y:z#*", "x~2Fy~3Az~23~2A"),
            ("é", "~C3~A9"),
        ];
        for (to, tokens) in cases {
            assert_eq!(encode_to(to), tokens, "{to:?}");
            assert_eq!(decode_subject(tokens).as_deref(), Some(to), "{tokens:?}");
            for token in tokens.split('.') {
                assert!(!token.is_empty());
                assert!(
                    token
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_~".contains(&b))
                );
            }
        }
    }

    #[test]
    fn bad_tokens_are_refused() {
        for bad in ["~2", "~zz", "a*b", "~2a", "a b"] {
            assert_eq!(decode_token(bad), None, "{bad:?}");
        }
    }
}
