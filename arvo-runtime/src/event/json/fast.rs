//! A fast reader for the usual shape of an event's JSON: one object whose keys are the known
//! attributes, string values without escapes, `null`, a number for `executionunits`, an
//! object for `data`.
//!
//! It answers `None` for anything else (an escape, an extension or unknown key, a value of
//! another type, a syntax error, deep nesting in `data`), and the caller then reads the text
//! with serde_json ([`RawEvent`]'s `Deserialize`), which reports every error. On what it
//! takes, it produces the same [`RawEvent`] as that reader (differential tests below and in
//! `tests/event_props.rs`), so validation and its messages are the same. Work and memory are
//! linear in the input; a refusal costs at most one extra pass.

use super::read::{Key, RawAny, RawEvent, RawStr};
use super::write::must_escape;
use crate::event::MAX_DATA_DEPTH;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// The bytes of the little-endian word `x` for which [`must_escape`] holds (`"`, `\` or a
/// control character: the end of an escape-free string), as their high bits, by SWAR; exact
/// for the lowest such byte (higher flags may be spurious), never set for bytes of 0x80 and
/// above (UTF-8).
///
/// With bit 1 flipped, `"` (0x22) and the control characters (below 0x20) are exactly the
/// bytes below 0x21, so one "less than" test takes both, and a "zero byte" test after an XOR
/// takes `\`. Each flags its lowest matching byte exactly: a borrow only moves towards higher
/// bytes, and only out of a matching byte.
fn stops(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let flipped = x ^ (ONES * 0x02);
    let quote_or_control = flipped.wrapping_sub(ONES * 0x21) & !flipped & HIGH;
    let b = x ^ (ONES * u64::from(b'\\'));
    let backslash = b.wrapping_sub(ONES) & !b & HIGH;
    quote_or_control | backslash
}

/// The index of the first byte of `w` for which [`must_escape`] holds, or 16 when there is
/// none (see [`stops`]).
fn first_stop(w: &[u8; 16]) -> usize {
    let x = u128::from_le_bytes(*w);
    let flags = u128::from(stops(x as u64)) | u128::from(stops((x >> 64) as u64)) << 64;
    // 128 / 8 = 16 when nothing is flagged.
    flags.trailing_zeros() as usize / 8
}

/// Reads `s` when it has the usual shape; `None` otherwise (see the module docs).
pub(super) fn read(s: &str) -> Option<RawEvent<'_>> {
    let mut r = Reader {
        b: s.as_bytes(),
        s,
        pos: 0,
    };
    let mut e = RawEvent::default();
    r.ws();
    r.eat(b'{')?;
    r.ws();
    // An empty object is refused by validation; serde_json reports it.
    loop {
        r.eat(b'"')?;
        let key = r.plain_str()?;
        r.ws();
        r.eat(b':')?;
        r.ws();
        let slot = match Key::of(key) {
            Key::Id => &mut e.id,
            Key::Source => &mut e.source,
            Key::SpecVersion => &mut e.specversion,
            Key::Type => &mut e.event_type,
            Key::Subject => &mut e.subject,
            Key::DataContentType => &mut e.datacontenttype,
            Key::DataSchema => &mut e.dataschema,
            Key::Time => &mut e.time,
            Key::To => &mut e.to,
            Key::AccessControl => &mut e.accesscontrol,
            Key::RedirectTo => &mut e.redirectto,
            Key::TraceParent => &mut e.traceparent,
            Key::TraceState => &mut e.tracestate,
            Key::ParentId => &mut e.parentid,
            Key::Domain => &mut e.domain,
            Key::Data => {
                // `data()` takes only text within the depth limit (`shallow`).
                e.data = Some(RawAny::Object(r.data()?));
                e.data_within_depth = true;
                if r.next_member()? {
                    break;
                }
                continue;
            }
            Key::ExecutionUnits => {
                e.executionunits = Some(match r.peek()? {
                    b'n' => {
                        r.null()?;
                        RawAny::Null
                    }
                    b'-' | b'0'..=b'9' => RawAny::Num(r.number()?),
                    _ => return None,
                });
                if r.next_member()? {
                    break;
                }
                continue;
            }
            Key::Extension(_) | Key::Ignored => return None,
        };
        // Duplicate keys: the last value wins, as in serde_json's reader.
        *slot = match r.peek()? {
            b'"' => {
                r.pos += 1;
                RawStr::Str(Cow::Borrowed(r.plain_str()?))
            }
            b'n' => {
                r.null()?;
                RawStr::Null
            }
            _ => return None,
        };
        if r.next_member()? {
            break;
        }
    }
    // Only whitespace may follow the object.
    r.ws();
    (r.pos == r.b.len()).then_some(e)
}

struct Reader<'a> {
    b: &'a [u8],
    s: &'a str,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.pos += 1)
    }

    /// JSON whitespace.
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.pos += 1;
        }
    }

    /// The rest of a string whose opening quote was read, when it holds no escape and no
    /// control character (which JSON forbids unescaped).
    #[inline(always)] // two call sites in `read`; a call cost more than the scan of a key
    fn plain_str(&mut self) -> Option<&'a str> {
        let start = self.pos;
        // 16 bytes at a time: the first stop byte is found with a few integer operations per
        // 8 bytes (most strings here are short keys and values, ended in the first 16 bytes).
        let mut end = start;
        let end = loop {
            match self.b.get(end..).and_then(<[u8]>::first_chunk::<16>) {
                Some(w) => {
                    let i = first_stop(w);
                    if i < 16 {
                        break end + i;
                    }
                    end += 16;
                }
                None => break end + self.b.get(end..)?.iter().position(|&c| must_escape(c))?,
            }
        };
        if *self.b.get(end)? != b'"' {
            return None;
        }
        self.pos = end + 1;
        // Both ends are ASCII quotes of a `str`, so both are character boundaries.
        self.s.get(start..end)
    }

    fn null(&mut self) -> Option<()> {
        if self.b.get(self.pos..self.pos + 4)? == b"null" {
            self.pos += 4;
            Some(())
        } else {
            None
        }
    }

    /// After a member: `,` (then `false`: another member follows) or the closing `}`
    /// (`true`).
    fn next_member(&mut self) -> Option<bool> {
        self.ws();
        let end = match self.peek()? {
            b',' => false,
            b'}' => true,
            _ => return None,
        };
        self.pos += 1;
        self.ws();
        Some(end)
    }

    /// A number, read by serde_json (its grammar and rounding).
    fn number(&mut self) -> Option<f64> {
        let mut it = serde_json::Deserializer::from_str(self.s.get(self.pos..)?).into_iter::<f64>();
        let n = it.next()?.ok()?;
        self.pos += it.byte_offset();
        Some(n)
    }

    /// `data`: an object, read by serde_json as the full reader reads it.
    fn data(&mut self) -> Option<Map<String, Value>> {
        let rest = self.s.get(self.pos..)?;
        if rest.as_bytes().first() != Some(&b'{') || !shallow(rest.as_bytes()) {
            return None;
        }
        let mut it = serde_json::Deserializer::from_str(rest).into_iter::<Map<String, Value>>();
        let m = it.next()?.ok()?;
        self.pos += it.byte_offset();
        Some(m)
    }
}

/// Whether the JSON value at the start of `b` nests at most [`MAX_DATA_DEPTH`] arrays and
/// objects deep (an unterminated value counts as shallow: serde_json then reports it).
fn shallow(b: &[u8]) -> bool {
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_DATA_DEPTH {
                    return false;
                }
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return true;
                }
            }
            b'"' => {
                // Skip the string, escapes included.
                i += 1;
                while let Some(&c) = b.get(i) {
                    match c {
                        b'\\' => i += 2,
                        b'"' => break,
                        _ => i += 1,
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ArvoEvent;

    type Read = Result<ArvoEvent, String>;

    /// The fast reader's answer (`None`: left to serde_json), and serde_json's, for `text`.
    fn both(text: &str) -> (Option<Read>, Read) {
        let fast = read(text).map(|raw| raw.into_event().map_err(|e| e.to_string()));
        let slow = serde_json::from_str::<RawEvent<'_>>(text)
            .map_err(|e| e.to_string())
            .and_then(|raw| raw.into_event().map_err(|e| e.to_string()));
        (fast, slow)
    }

    const DATA: &str = r#"{"a":1,"b":[2.5,{"c":null}],"d":"é\n"}"#;
    const EVENT: &str = r##"{"id":"a1","source":"com.src","specversion":"1.0","type":"com.x.y","subject":"s-1","datacontenttype":"application/cloudevents+json;charset=UTF-8;profile=arvo","dataschema":"#/x/1.0.0","data":{"a":1,"b":[2.5,{"c":null}],"d":"é\n"},"time":"2024-01-01T00:00:00.000+00:00","to":"com.x.y","accesscontrol":null,"redirectto":null,"executionunits":1.5e3,"traceparent":null,"tracestate":null,"parentid":null,"domain":null}"##;

    #[test]
    fn the_usual_shape_reads_as_serde_json_reads_it() {
        let (fast, slow) = both(EVENT);
        assert!(slow.is_ok(), "{slow:?}");
        assert_eq!(fast, Some(slow.clone()));
        let e = slow.unwrap();
        assert_eq!(e.executionunits(), Some(1500.0));
        assert_eq!(e.data()["d"], "é\n");
        // Whitespace everywhere JSON allows it; a minimal event; a custom content type.
        let spaced = format!(
            " \r\n{} \n",
            EVENT.replace("\":", "\" :\n ").replace(",\"", " ,\t\"")
        );
        let minimal = r##"{"id":"i","source":"s","specversion":"1.0","type":"a.b.c","subject":"x","data":{},"time":"2024-01-01T00:00:00Z","to":"t"}"##;
        let json_type = EVENT.replace(
            "application/cloudevents+json;charset=UTF-8;profile=arvo",
            "application/json",
        );
        for text in [spaced.as_str(), minimal, json_type.as_str()] {
            let (fast, slow) = both(text);
            assert!(slow.is_ok(), "{text}: {slow:?}");
            assert_eq!(fast, Some(slow), "{text}");
        }
    }

    #[test]
    fn other_shapes_are_left_to_serde_json() {
        for text in [
            // An escape in an attribute, an extension, an unknown key, a wrong type.
            EVENT.replace(r#""s-1""#, r#""s\u002d1""#),
            EVENT.replace(r#""domain":null"#, r#""domain":null,"tenant":"acme""#),
            EVENT.replace(r#""domain":null"#, r#""domain":null,"Bad-Key":1"#),
            EVENT.replace(r#""to":"com.x.y""#, r#""to":7"#),
            EVENT.replace(r#""executionunits":1.5e3"#, r#""executionunits":"1""#),
            EVENT.replace(DATA, &format!("[{DATA}]")),
            // Syntax errors and trailing text.
            EVENT.replace(r#""data":"#, r#""data""#),
            format!("{EVENT},"),
            format!("{EVENT}x"),
            EVENT[..EVENT.len() - 1].to_owned(),
            EVENT.replace(r#""executionunits":1.5e3"#, r#""executionunits":01"#),
            EVENT.replace(r#""executionunits":1.5e3"#, r#""executionunits":1e400"#),
            EVENT.replace(r#""executionunits":1.5e3"#, r#""executionunits":nul"#),
            EVENT.replace(r#""executionunits":1.5e3"#, r#""executionunits":1.5x"#),
            EVENT.replace(r#""s-1""#, "\"s\t1\""),
            "{}".to_owned(),
            "[]".to_owned(),
            String::new(),
        ] {
            let (fast, _) = both(&text);
            assert!(fast.is_none(), "the fast reader took {text}");
        }
    }

    #[test]
    fn invalid_events_fail_as_in_serde_json() {
        for text in [
            EVENT.replace(r#""source":"com.src","#, ""),
            EVENT.replace(r#""s-1""#, r#""a b""#),
            EVENT.replace(&format!(r#""data":{DATA},"#), ""),
            EVENT.replace(r#""to":"com.x.y""#, r#""to":null"#),
            EVENT.replace(r#""specversion":"1.0""#, r#""specversion":"0.3""#),
            EVENT.replace(r#""time":"2024-01-01T00:00:00.000+00:00""#, r#""time":"x""#),
            EVENT.replace(r#""domain":null"#, r#""domain":"A""#),
            // Duplicate keys: the last wins in both.
            EVENT.replace(r#""id":"a1","#, r#""id":"a2","id":"","#),
        ] {
            let (fast, slow) = both(&text);
            assert!(slow.is_err(), "{text}");
            assert_eq!(fast, Some(slow), "{text}");
        }
        let dup = EVENT.replace(r#""id":"a1","#, r#""id":"","id":"a2","#);
        let (fast, slow) = both(&dup);
        assert_eq!(slow.as_ref().map(ArvoEvent::id), Ok("a2"));
        assert_eq!(fast, Some(slow));
    }

    #[test]
    fn data_nesting_is_bounded_below_serde_json_limit() {
        for depth in [1, 2, MAX_DATA_DEPTH, MAX_DATA_DEPTH + 1, 128, 200] {
            let nested = format!("{}0{}", "[".repeat(depth - 1), "]".repeat(depth - 1));
            let text = EVENT.replace(DATA, &format!(r#"{{"k":{nested}}}"#));
            let (fast, slow) = both(&text);
            // Deeper `data` reaches serde_json, within its limit (128, the event object
            // included) up to 126 levels, and validation refuses it there.
            assert_eq!(slow.is_ok(), depth <= MAX_DATA_DEPTH, "depth {depth}");
            match fast {
                Some(f) => {
                    assert!(depth <= MAX_DATA_DEPTH, "depth {depth}");
                    assert_eq!(f, slow);
                }
                None => assert!(depth > MAX_DATA_DEPTH, "depth {depth}"),
            }
        }
    }

    /// `first_stop` against the byte-by-byte scan: every byte value at every position, over
    /// fillers that stop nothing (ASCII, UTF-8 bytes, and bytes just above the control range),
    /// and behind an earlier stop byte.
    #[test]
    fn first_stop_finds_the_first_stop_byte_of_a_word() {
        let naive = |w: &[u8; 16]| w.iter().position(|&c| must_escape(c)).unwrap_or(16);
        for filler in [b'a', 0x20, 0x21, 0x23, 0x5b, 0x5d, 0x7f, 0x80, 0xc3, 0xff] {
            for pos in 0..16 {
                for b in 0..=255u8 {
                    let mut w = [filler; 16];
                    w[pos] = b;
                    assert_eq!(first_stop(&w), naive(&w), "{w:?}");
                    for later in pos + 1..16 {
                        let mut w2 = w;
                        w2[later] = b'"';
                        assert_eq!(first_stop(&w2), naive(&w2), "{w2:?}");
                        w2[later] = 0;
                        assert_eq!(first_stop(&w2), naive(&w2), "{w2:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn strings_end_at_the_first_quote_backslash_or_control_byte() {
        for len in 0..48 {
            for (stop, ends) in [
                ("\"", true),
                ("\\", false),
                ("\u{1f}", false),
                ("\n", false),
            ] {
                for after in ["", "x\"", &"b".repeat(20)] {
                    let text = format!(
                        "{}{stop}{after}",
                        "é".repeat(len / 2) + &"a".repeat(len % 2)
                    );
                    let mut r = Reader {
                        b: text.as_bytes(),
                        s: &text,
                        pos: 0,
                    };
                    let want = text.split(stop).next().filter(|_| ends);
                    assert_eq!(r.plain_str(), want, "{text:?}");
                    if ends {
                        assert_eq!(r.pos, want.map_or(0, str::len) + 1);
                    }
                }
            }
        }
    }

    proptest::proptest! {
        /// `first_stop` on any 16 bytes is the byte-by-byte scan.
        #[test]
        fn first_stop_is_the_scan_on_any_word(w in proptest::array::uniform16(proptest::num::u8::ANY)) {
            let naive = w.iter().position(|&c| must_escape(c)).unwrap_or(16);
            proptest::prop_assert_eq!(first_stop(&w), naive);
        }

        /// Differential: whatever the fast reader takes from a mutated event (a few bytes
        /// replaced or inserted, from the characters that matter to JSON and to validation),
        /// it reads exactly as serde_json does, errors included.
        #[test]
        fn mutated_events_read_as_in_serde_json(
            edits in proptest::collection::vec(
                (0usize..400, proptest::sample::select(vec![
                    "\"", "\\", ",", ":", "{", "}", "[", "]", " ", "\t", "n", "null", "0", "1.5",
                    "-", "e", "a", "é", "%20", "%", "\u{1}", "\"x\":1,", "\"to\":null,",
                    "\"id\":\"\",", "\"data\":{},", "\"data\":[],", "\"executionunits\":2,",
                ]), proptest::bool::ANY),
                1..4,
            )
        ) {
            let mut text = EVENT.to_owned();
            for (at, piece, insert) in edits {
                let mut at = at % (text.len() + 1);
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                if insert {
                    text.insert_str(at, piece);
                } else {
                    let mut end = (at + piece.len()).min(text.len());
                    while !text.is_char_boundary(end) {
                        end += 1;
                    }
                    text.replace_range(at..end, piece);
                }
            }
            let (fast, slow) = both(&text);
            if let Some(fast) = fast {
                proptest::prop_assert_eq!(fast, slow, "{}", text);
            }
        }
    }
}
