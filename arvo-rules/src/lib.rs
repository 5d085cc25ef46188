//! Arvo's naming and format rules, in one dependency-free place.
//!
//! Both the runtime (`arvo-runtime`) and the procedural macros (`arvo-macros`) check names
//! with these functions, so a contract that compiles is one the runtime accepts, and the two
//! cannot drift apart; so too the rules of machine definitions both apply ([`endless_loop`],
//! [`MAX_STATE_DEPTH`]). Each rule states the reference's regular expression it implements;
//! the implementations are hand-written (no regex engine) because they sit on the hot path of
//! event validation.
//!
//! ```
//! use arvo_rules::{is_event_type, is_arvo_version, validate_uri, encode_uri};
//! assert!(is_event_type("com.calc.add"));
//! assert!(!is_event_type("com.calc"));
//! assert!(is_arvo_version("1.0.0"));
//! assert!(validate_uri("a%20b"));
//! assert_eq!(encode_uri("a b"), "a%20b");
//! ```

mod machine;
mod time;
mod uri;

pub use machine::{MAX_STATE_DEPTH, endless_loop};
pub use time::is_zod_datetime;
pub use uri::{UriError, decode_uri, encode_uri, encodes_to_itself, validate_uri};

/// The content type Arvo writes on every event it creates.
pub const ARVO_DATA_CONTENT_TYPE: &str = "application/cloudevents+json;charset=UTF-8;profile=arvo";

/// The reserved "any version" marker (`0.0.0`), used by system error dataschemas.
pub const WILDCARD_VERSION: &str = "0.0.0";

/// The reserved prefix of orchestrator event types.
pub const ORCHESTRATOR_PREFIX: &str = "arvo.orc";

/// The placeholder the reference writes for null values in OpenTelemetry attributes.
pub const OTEL_NULL: &str = "N/A";

/// `^[a-z0-9]+(\.[a-z0-9]+)+\.[a-z0-9]+$`: at least three non-empty, dot-separated segments of
/// lowercase ASCII letters and digits. Used for event types, contract types, emit types,
/// orchestrator names inside subjects and subject initiators.
///
/// ```
/// assert!(arvo_rules::is_event_type("a.b.c"));
/// assert!(arvo_rules::is_event_type("test.input.0"));
/// assert!(!arvo_rules::is_event_type("com.a"));
/// assert!(!arvo_rules::is_event_type("com.my-app.x"));
/// ```
pub fn is_event_type(s: &str) -> bool {
    let bytes = s.as_bytes();
    if bytes.len() >= 8 {
        return is_event_type_wide(bytes);
    }
    // One pass over the bytes: a segment is non-empty, and there are at least two dots.
    let (mut dots, mut segment_len) = (0usize, 0usize);
    for &b in bytes {
        if b == b'.' {
            if segment_len == 0 {
                return false;
            }
            dots += 1;
            segment_len = 0;
        } else if is_lower_alnum(b) {
            segment_len += 1;
        } else {
            return false;
        }
    }
    segment_len > 0 && dots >= 2
}

/// `0x01` in every byte of a word.
const ONES: u64 = u64::from_le_bytes([0x01; 8]);
/// `0x80` in every byte of a word.
const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);

/// [`is_event_type`] for eight bytes or more, eight at a time: every byte in `[a-z0-9.]`, no
/// dot first, last or next to another, at least two dots. The same rule, written for the
/// names of 15-40 bytes that dominate (about 4 instructions a byte instead of 15).
fn is_event_type_wide(bytes: &[u8]) -> bool {
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    if first == b'.' || last == b'.' {
        return false;
    }
    let (words, rest) = bytes.as_chunks::<8>();
    // `flags` collects any bad byte or doubled dot (high bits), `dots` counts the dots and
    // `carry` is the high bit of the last byte of the previous word if it is a dot.
    let (mut flags, mut dots, mut carry) = (0u64, 0u64, 0u64);
    for word in words {
        let (bad, dot) = classify(u64::from_le_bytes(*word));
        flags |= bad | (dot & ((dot << 8) | carry));
        dots += count(dot);
        carry = dot >> 56;
    }
    if !rest.is_empty() {
        // The last eight bytes again, overlapping the words already read: checking a byte
        // twice is harmless, but its dot must be counted once.
        let Some(tail) = bytes.last_chunk::<8>() else {
            return false;
        };
        let (bad, dot) = classify(u64::from_le_bytes(*tail));
        flags |= bad | (dot & (dot << 8));
        let seen = 8 * (8 - rest.len() as u32);
        dots += count(dot >> seen);
    }
    flags == 0 && dots >= 2
}

/// For each byte of `w` (high bit of the byte in each mask): is it not in `[a-z0-9.]`, is it
/// a dot. `(w | 0x80..) - c` keeps within each byte (no borrow), and its high bit tells
/// `b >= c` for an ASCII byte `b`; bytes of `0x80` and up are flagged by `w & 0x80..`.
#[inline(always)]
fn classify(w: u64) -> (u64, u64) {
    let x = w | HIGHS;
    let at_least = |c: u8| x.wrapping_sub(ONES * u64::from(c));
    let lower = at_least(b'a') & !at_least(b'z' + 1);
    let digit = at_least(b'0') & !at_least(b'9' + 1);
    let dot = at_least(b'.') & !at_least(b'.' + 1) & HIGHS;
    let bad = !(lower | digit | dot) & HIGHS | (w & HIGHS);
    (bad, dot)
}

/// How many bytes of a mask (high bits only) are set.
#[inline(always)]
fn count(mask: u64) -> u64 {
    // Each byte holds 0 or 1; the multiplication sums them into the top byte.
    ((mask >> 7).wrapping_mul(ONES)) >> 56
}

/// `^[a-z0-9.]+$`: the reference's domain rule (dots may lead, trail or repeat). Also the rule
/// for orchestrator contract names.
///
/// ```
/// assert!(arvo_rules::is_domain("analytics.eu"));
/// assert!(!arvo_rules::is_domain("Analytics"));
/// assert!(!arvo_rules::is_domain(""));
/// ```
pub fn is_domain(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| is_lower_alnum(b) || b == b'.')
}

/// `^\d+\.\d+\.\d+$`: Arvo's semantic version. Leading zeros are allowed (`01.2.3`); no
/// pre-release or build suffix.
///
/// ```
/// assert!(arvo_rules::is_arvo_version("1.0.0"));
/// assert!(arvo_rules::is_arvo_version("01.2.3"));
/// assert!(!arvo_rules::is_arvo_version("1.0"));
/// assert!(!arvo_rules::is_arvo_version("1.0.0-beta"));
/// assert!(arvo_rules::is_arvo_version("99999999999999999999.0.0")); // the regex has no bound
/// ```
pub fn is_arvo_version(s: &str) -> bool {
    // The pattern alone (numbers of any size match, as they do in the reference's regex).
    scan_version(s, |_, _| Some(())).is_some()
}

/// Walks `^\d+\.\d+\.\d+$` over `s`, handing each digit and the index of its part to `digit`
/// (which may stop the walk with `None`); `None` when `s` does not match.
fn scan_version(s: &str, mut digit: impl FnMut(usize, u8) -> Option<()>) -> Option<()> {
    let (mut part, mut digits) = (0usize, 0usize);
    for &b in s.as_bytes() {
        if b == b'.' {
            if digits == 0 || part == 2 {
                return None;
            }
            part += 1;
            digits = 0;
        } else if b.is_ascii_digit() {
            digit(part, b - b'0')?;
            digits += 1;
        } else {
            return None;
        }
    }
    (digits > 0 && part == 2).then_some(())
}

/// Parses an Arvo semantic version into its three numbers; `None` when it does not match
/// `^\d+\.\d+\.\d+$` or a part does not fit in a `u64`.
///
/// ```
/// assert_eq!(arvo_rules::parse_arvo_version("1.10.3"), Some((1, 10, 3)));
/// assert_eq!(arvo_rules::parse_arvo_version("1.2"), None);
/// ```
pub fn parse_arvo_version(s: &str) -> Option<(u64, u64, u64)> {
    let mut parts = [0u64; 3];
    scan_version(s, |i, d| {
        let part = parts.get_mut(i)?;
        *part = part.checked_mul(10)?.checked_add(u64::from(d))?;
        Some(())
    })?;
    Some((parts[0], parts[1], parts[2]))
}

/// `^[a-z0-9]+$`: the CloudEvents rule for custom extension attribute names.
///
/// ```
/// assert!(arvo_rules::is_extension_name("tenant"));
/// assert!(!arvo_rules::is_extension_name("my-ext"));
/// ```
pub fn is_extension_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_lower_alnum)
}

/// Whether `t` is an orchestrator event type: the reference's plain `startsWith("arvo.orc")`
/// (so `arvo.orchestra.x` counts as reserved too; kept for compatibility).
///
/// ```
/// assert!(arvo_rules::is_orchestrator_event_type("arvo.orc.flow"));
/// assert!(!arvo_rules::is_orchestrator_event_type("com.flow.start"));
/// ```
pub fn is_orchestrator_event_type(t: &str) -> bool {
    t.starts_with(ORCHESTRATOR_PREFIX)
}

/// Whether JavaScript's `String.prototype.trim` removes `c`: its white space (including
/// U+FEFF) and line terminators. Rust's [`char::is_whitespace`] differs in two characters:
/// it also counts U+0085 (NEXT LINE), and it does not count U+FEFF.
///
/// ```
/// assert!(arvo_rules::is_js_whitespace('\u{feff}'));
/// assert!(!arvo_rules::is_js_whitespace('\u{85}'));
/// assert!(arvo_rules::is_js_whitespace('\u{3000}'));
/// ```
pub fn is_js_whitespace(c: char) -> bool {
    (c.is_whitespace() && c != '\u{85}') || c == '\u{feff}'
}

/// JavaScript's `s.trim()`: `s` without the [`is_js_whitespace`] characters at either end.
///
/// ```
/// assert_eq!(arvo_rules::js_trim("\u{feff} k-1 \u{2028}"), "k-1");
/// assert_eq!(arvo_rules::js_trim("\u{85}k"), "\u{85}k");
/// ```
pub fn js_trim(s: &str) -> &str {
    s.trim_matches(is_js_whitespace)
}

/// The reference's `cleanString`: split on `\n`, trim each line (as JavaScript trims,
/// [`js_trim`]), drop empty lines, join with `\n`.
///
/// ```
/// assert_eq!(arvo_rules::clean_string("  Hello  \n  World  \n\n  "), "Hello\nWorld");
/// ```
pub fn clean_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for line in s.split('\n').map(js_trim).filter(|l| !l.is_empty()) {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(line);
    }
    out
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types() {
        for ok in [
            "a.b.c",
            "com.calc.add",
            "test.input.0",
            "sys.com.a.b.error",
            "1.2.3",
        ] {
            assert!(is_event_type(ok), "{ok}");
        }
        for bad in [
            "", "a", "a.b", "a..c", ".a.b.c", "a.b.c.", "A.b.c", "a.b-c.d", "a.b_c.d", "a.b.c ",
        ] {
            assert!(!is_event_type(bad), "{bad}");
        }
    }

    #[test]
    fn domains() {
        for ok in ["a", ".", "a..b", "analytics.eu", "0"] {
            assert!(is_domain(ok), "{ok}");
        }
        for bad in ["", "A", "a b", "a-b", "a_b", "é"] {
            assert!(!is_domain(bad), "{bad}");
        }
    }

    #[test]
    fn versions() {
        assert!(is_arvo_version("0.0.0"));
        assert!(is_arvo_version("10.20.30"));
        for bad in [
            "",
            "1",
            "1.2",
            "1.2.3.4",
            "1.2.x",
            "v1.2.3",
            "1.2.3-rc.1",
            " 1.2.3",
            "1..3",
            "１.2.3",
        ] {
            assert!(!is_arvo_version(bad), "{bad}");
        }
        assert_eq!(parse_arvo_version("99999999999999999999.0.0"), None);
        assert!(is_arvo_version("99999999999999999999.0.0"));
        assert_eq!(
            parse_arvo_version("007.18446744073709551615.0"),
            Some((7, u64::MAX, 0))
        );
    }

    /// The rules written as the regexes read (split on dots), to compare the byte loops with.
    fn event_type_by_split(s: &str) -> bool {
        let parts: Vec<&str> = s.split('.').collect();
        parts.len() >= 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(is_lower_alnum))
    }

    fn version_by_split(s: &str) -> Option<(u64, u64, u64)> {
        let parts: Vec<&str> = s.split('.').collect();
        if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
            return None;
        }
        if !parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit())) {
            return None;
        }
        Some((
            parts[0].parse().ok()?,
            parts[1].parse().ok()?,
            parts[2].parse().ok()?,
        ))
    }

    proptest::proptest! {
        #[test]
        fn byte_loops_match_the_patterns(s in "[a-c0-2.A;-]{0,12}") {
            proptest::prop_assert_eq!(is_event_type(&s), event_type_by_split(&s));
            proptest::prop_assert_eq!(parse_arvo_version(&s), version_by_split(&s));
            let pattern = {
                let parts: Vec<&str> = s.split('.').collect();
                parts.len() == 3
                    && parts
                        .iter()
                        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            };
            proptest::prop_assert_eq!(is_arvo_version(&s), pattern);
        }

        #[test]
        fn long_event_types_match_the_pattern(s in "[a-c0-2.A;{/:`@\u{80}é-]{0,40}|([a-z0-9]{0,9}\\.){0,5}[a-z0-9]{0,9}") {
            proptest::prop_assert_eq!(is_event_type(&s), event_type_by_split(&s));
        }

        #[test]
        fn versions_round_trip(a in 0u64.., b in 0u64.., c in 0u64..) {
            proptest::prop_assert_eq!(parse_arvo_version(&format!("{a}.{b}.{c}")), Some((a, b, c)));
        }
    }

    /// Every ASCII byte at every position of event types of 8-24 bytes (the word-at-a-time
    /// path), against the split-based rule.
    #[test]
    fn event_types_wide() {
        let base = "abcd.ef0.gh12.ijk.lmnop.q";
        for len in 8..=base.len() {
            let template = &base.as_bytes()[..len];
            for pos in 0..len {
                for b in 0u8..0x80 {
                    let mut v = template.to_vec();
                    v[pos] = b;
                    let s = String::from_utf8(v).unwrap();
                    assert_eq!(is_event_type(&s), event_type_by_split(&s), "{s:?}");
                }
                let mut v: Vec<char> = std::str::from_utf8(template).unwrap().chars().collect();
                v[pos] = 'é';
                let s: String = v.into_iter().collect();
                assert_eq!(is_event_type(&s), event_type_by_split(&s), "{s:?}");
            }
        }
    }

    #[test]
    fn extension_names() {
        assert!(is_extension_name("abc123"));
        assert!(!is_extension_name(""));
        assert!(!is_extension_name("MyExt"));
    }
}
