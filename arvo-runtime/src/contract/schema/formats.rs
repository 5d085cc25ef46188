//! The string formats zod-to-json-schema writes, checked as zod checks them.
//!
//! A contract's JSON Schema usually comes from zod (the reference exports its contracts with
//! zod-to-json-schema) or from schemars. For the formats below, zod's check is the one the
//! reference runs, and it differs from the RFC rules of JSON Schema's format keywords at the
//! edges: zod refuses `a@[1.2.3.4]` and `"a"@b.co` as emails and `http://a:99999` as a URL, accepts
//! `12:00` as a time and `fe80::1%eth0` as an IPv6 address, and checks `duration`, which
//! draft-07 does not know. So each is checked here with zod 3.25's own regular expression (run
//! by `fancy-regex`, which has the lookarounds two of them use; `\d` written `[0-9]`, as
//! JavaScript reads it), or for URLs with the WHATWG URL parser (`url`), which is what zod's
//! `new URL(s)` runs. `tests/js_oracle.rs` checks them against zod itself.
//!
//! `date-time` is checked with `arvo_rules::is_zod_datetime`, zod's `.datetime({ offset: true })`
//! (the reference's rule for an event's `time`): zod-to-json-schema writes `date-time` for
//! `.datetime()` (UTC only) and for `.datetime({ offset: true })` alike, and schemars for any
//! chrono time, whose offsets this crate must accept, so the wider of the two is taken.

use fancy_regex::Regex;
use std::sync::LazyLock;

/// Compiles one of the patterns below (a constant: it compiles, as the tests check).
fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| unreachable!("zod's pattern {pattern:?}: {e}"))
}

/// A match of `re` on `s`; a pattern that gives up (its backtracking limit) does not match.
fn matches(re: &Regex, s: &str) -> bool {
    re.is_match(s).unwrap_or(false)
}

/// zod's `emailRegex`.
pub(super) fn is_email(s: &str) -> bool {
    static RE: LazyLock<Regex> = LazyLock::new(|| {
        compile(
            r"(?i)^(?!\.)(?!.*\.\.)([A-Z0-9_'+\-\.]*)[A-Z0-9_+-]@([A-Z0-9][A-Z0-9\-]*\.)+[A-Z]{2,}$",
        )
    });
    matches(&RE, s)
}

/// zod's `ipv4Regex`.
pub(super) fn is_ipv4(s: &str) -> bool {
    static RE: LazyLock<Regex> = LazyLock::new(|| {
        compile(
            r"^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])$",
        )
    });
    matches(&RE, s)
}

/// zod's `ipv6Regex`.
pub(super) fn is_ipv6(s: &str) -> bool {
    static RE: LazyLock<Regex> = LazyLock::new(|| {
        compile(concat!(
            r"^(([0-9a-fA-F]{1,4}:){7,7}[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,7}:|",
            r"([0-9a-fA-F]{1,4}:){1,6}:[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,5}(:[0-9a-fA-F]{1,4}){1,2}|",
            r"([0-9a-fA-F]{1,4}:){1,4}(:[0-9a-fA-F]{1,4}){1,3}|([0-9a-fA-F]{1,4}:){1,3}(:[0-9a-fA-F]{1,4}){1,4}|",
            r"([0-9a-fA-F]{1,4}:){1,2}(:[0-9a-fA-F]{1,4}){1,5}|[0-9a-fA-F]{1,4}:((:[0-9a-fA-F]{1,4}){1,6})|",
            r":((:[0-9a-fA-F]{1,4}){1,7}|:)|fe80:(:[0-9a-fA-F]{0,4}){0,4}%[0-9a-zA-Z]{1,}|",
            r"::(ffff(:0{1,4}){0,1}:){0,1}((25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])\.){3,3}(25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])|",
            r"([0-9a-fA-F]{1,4}:){1,4}:((25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])\.){3,3}(25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9]))$",
        ))
    });
    matches(&RE, s)
}

/// zod's `dateRegex` (a leap-year-aware `YYYY-MM-DD`).
pub(super) fn is_date(s: &str) -> bool {
    static RE: LazyLock<Regex> = LazyLock::new(|| {
        compile(concat!(
            r"^((\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29|",
            r"\d{4}-((0[13578]|1[02])-(0[1-9]|[12]\d|3[01])|(0[469]|11)-(0[1-9]|[12]\d|30)|(02)-(0[1-9]|1\d|2[0-8])))$",
        )
        .replace(r"\d", "[0-9]")
        .as_str())
    });
    matches(&RE, s)
}

/// zod's `.time()` (no precision: seconds and their fraction optional, no offset).
pub(super) fn is_time(s: &str) -> bool {
    static RE: LazyLock<Regex> =
        LazyLock::new(|| compile(r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?$"));
    matches(&RE, s)
}

/// zod's `durationRegex` (ISO 8601).
pub(super) fn is_duration(s: &str) -> bool {
    static RE: LazyLock<Regex> = LazyLock::new(|| {
        compile(concat!(
            r"^[-+]?P(?!$)(?:(?:[-+]?\d+Y)|(?:[-+]?\d+[.,]\d+Y$))?(?:(?:[-+]?\d+M)|(?:[-+]?\d+[.,]\d+M$))?",
            r"(?:(?:[-+]?\d+W)|(?:[-+]?\d+[.,]\d+W$))?(?:(?:[-+]?\d+D)|(?:[-+]?\d+[.,]\d+D$))?",
            r"(?:T(?=[\d+-])(?:(?:[-+]?\d+H)|(?:[-+]?\d+[.,]\d+H$))?(?:(?:[-+]?\d+M)|(?:[-+]?\d+[.,]\d+M$))?",
            r"(?:[-+]?\d+(?:[.,]\d+)?S)?)??$",
        )
        .replace(r"\d", "[0-9]")
        .as_str())
    });
    matches(&RE, s)
}

/// zod's `.url()`: whether JavaScript's `new URL(s)` accepts `s` (the WHATWG URL parser).
pub(super) fn is_url(s: &str) -> bool {
    url::Url::parse(s).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_compiles_and_reads_as_zod() {
        assert!(is_email("a+b@c.io") && !is_email("a@[1.2.3.4]") && !is_email(".a@b.co"));
        assert!(is_ipv4("1.2.3.4") && !is_ipv4("01.2.3.4"));
        assert!(is_ipv6("fe80::1%eth0") && is_ipv6("::ffff:1.2.3.4") && !is_ipv6("1.2.3.4"));
        assert!(is_date("2024-02-29") && !is_date("2023-02-29") && !is_date("2024-01-0١"));
        assert!(is_time("12:00") && is_time("12:00:00.5") && !is_time("12:00:00Z"));
        assert!(is_duration("P1Y2M3DT4H5M6S") && is_duration("-P1.5D") && !is_duration("PT"));
        assert!(!is_duration("P") && !is_duration("P1DT") && !is_duration("P1.5DT1H"));
        assert!(is_url("https://a.b/c") && !is_url("http://a:99999") && !is_url("example.com"));
    }
}
