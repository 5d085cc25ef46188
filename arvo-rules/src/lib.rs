//! Arvo's naming and format rules, in one dependency-free place.
//!
//! Both the runtime (`arvo-runtime`) and the procedural macros (`arvo-macros`) check names
//! with these functions, so a contract that compiles is one the runtime accepts, and the two
//! cannot drift apart. Each rule states the reference's regular expression it implements;
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

mod time;
mod uri;

pub use time::is_zod_datetime;
pub use uri::{UriError, decode_uri, encode_uri, validate_uri};

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
    let mut segments = 0usize;
    for segment in s.split('.') {
        if segment.is_empty() || !segment.bytes().all(is_lower_alnum) {
            return false;
        }
        segments += 1;
    }
    segments >= 3
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
/// ```
pub fn is_arvo_version(s: &str) -> bool {
    parse_arvo_version(s).is_some()
}

/// Parses an Arvo semantic version into its three numbers; `None` when it does not match
/// `^\d+\.\d+\.\d+$` or a part does not fit in a `u64`.
///
/// ```
/// assert_eq!(arvo_rules::parse_arvo_version("1.10.3"), Some((1, 10, 3)));
/// assert_eq!(arvo_rules::parse_arvo_version("1.2"), None);
/// ```
pub fn parse_arvo_version(s: &str) -> Option<(u64, u64, u64)> {
    let mut parts = s.split('.');
    let mut next = || -> Option<u64> {
        let p = parts.next()?;
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse().ok()
    };
    let v = (next()?, next()?, next()?);
    if parts.next().is_some() {
        return None;
    }
    Some(v)
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

/// The reference's `cleanString`: split on `\n`, trim each line, drop empty lines, join with
/// `\n`.
///
/// ```
/// assert_eq!(arvo_rules::clean_string("  Hello  \n  World  \n\n  "), "Hello\nWorld");
/// ```
pub fn clean_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for line in s.split('\n').map(str::trim).filter(|l| !l.is_empty()) {
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
    }

    #[test]
    fn extension_names() {
        assert!(is_extension_name("abc123"));
        assert!(!is_extension_name(""));
        assert!(!is_extension_name("MyExt"));
    }
}
