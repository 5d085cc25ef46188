//! ECMAScript `encodeURI` / `decodeURI`, exactly as the reference's `validateURI` uses them.

use std::fmt;

/// `decodeURI` failed: the reference's `URIError: URI malformed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriError {
    /// Byte offset of the escape sequence that could not be decoded.
    pub offset: usize,
}

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "URI malformed (bad percent escape at byte {})",
            self.offset
        )
    }
}

impl std::error::Error for UriError {}

const fn passthrough_rule(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_'
                | b'.'
                | b'!'
                | b'~'
                | b'*'
                | b'\''
                | b'('
                | b')'
                | b';'
                | b'/'
                | b'?'
                | b':'
                | b'@'
                | b'&'
                | b'='
                | b'+'
                | b'$'
                | b','
                | b'#'
        )
}

/// [`passthrough_rule`] for every byte, computed at compile time (a table lookup per byte is
/// several times faster than the comparisons on 180-character subjects).
const PASSTHROUGH: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = passthrough_rule(i as u8);
        i += 1;
    }
    t
};

/// Characters `encodeURI` leaves as they are.
#[inline]
fn is_uri_passthrough(b: u8) -> bool {
    PASSTHROUGH[b as usize]
}

/// Whether `encodeURI(s) === s`: every character passes through unchanged (no `%` either,
/// which `encodeURI` escapes). One pass over the bytes; such a string is also a valid URI.
///
/// ```
/// assert!(arvo_rules::encodes_to_itself("com.calc.add"));
/// assert!(!arvo_rules::encodes_to_itself("a%20b")); // valid, but `%` would be escaped again
/// assert!(!arvo_rules::encodes_to_itself("a b"));
/// ```
pub fn encodes_to_itself(s: &str) -> bool {
    let (blocks, rest) = s.as_bytes().as_chunks::<16>();
    blocks.iter().all(block_passes_through) && rest.iter().all(|&b| is_uri_passthrough(b))
}

/// [`passthrough_rule`] as comparisons (which vectorise, where table lookups do not): the
/// printable ASCII bytes except `"`, `%`, `<`, `>`, `[`, `\`, `]`, `^`, `` ` ``, `{`, `|`, `}`.
#[inline]
fn passes_through(b: u8) -> bool {
    (b.wrapping_sub(0x21) < 0x5E)
        & (b != b'"')
        & (b != b'%')
        & (b != b'<')
        & (b != b'>')
        & (b.wrapping_sub(b'[') >= 4)
        & (b != b'`')
        & (b.wrapping_sub(b'{') >= 3)
}

/// Whether every byte of a 16-byte block passes through (branch-free).
#[inline]
fn block_passes_through(block: &[u8; 16]) -> bool {
    block.iter().fold(true, |ok, &b| ok & passes_through(b))
}

/// Characters whose escapes `decodeURI` keeps escaped.
fn is_uri_reserved(b: u8) -> bool {
    matches!(
        b,
        b';' | b'/' | b'?' | b':' | b'@' | b'&' | b'=' | b'+' | b'$' | b',' | b'#'
    )
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// ECMAScript `encodeURI`: every character outside the pass-through set
/// (`A-Z a-z 0-9 - _ . ! ~ * ' ( ) ; / ? : @ & = + $ , #`) becomes its UTF-8 bytes as
/// upper-case `%XX` escapes. Rust strings hold no lone surrogates, so this cannot fail.
///
/// ```
/// assert_eq!(arvo_rules::encode_uri("orders/ün #1?x=a b"), "orders/%C3%BCn%20#1?x=a%20b");
/// assert_eq!(arvo_rules::encode_uri("a%20b"), "a%2520b");
/// ```
pub fn encode_uri(s: &str) -> String {
    if encodes_to_itself(s) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for &b in s.as_bytes() {
        if is_uri_passthrough(b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 0xF) as usize] as char);
        }
    }
    out
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn escape_at(bytes: &[u8], i: usize) -> Option<u8> {
    if bytes.get(i) != Some(&b'%') {
        return None;
    }
    Some(hex_val(*bytes.get(i + 1)?)? << 4 | hex_val(*bytes.get(i + 2)?)?)
}

/// ECMAScript `decodeURI`: `%XX` runs are decoded as UTF-8, except escapes of
/// `; / ? : @ & = + $ , #`, which stay escaped. Fails where JavaScript throws `URIError`:
/// a `%` without two hex digits, invalid or overlong UTF-8, surrogate code points.
///
/// ```
/// assert_eq!(arvo_rules::decode_uri("a%20b%2F").unwrap(), "a b%2F");
/// assert!(arvo_rules::decode_uri("%C3").is_err());
/// ```
pub fn decode_uri(s: &str) -> Result<String, UriError> {
    let bytes = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'%' {
            out.push(b);
            i += 1;
            continue;
        }
        let err = UriError { offset: i };
        let first = escape_at(bytes, i).ok_or_else(|| err.clone())?;
        if first < 0x80 {
            if is_uri_reserved(first) {
                out.extend_from_slice(&bytes[i..i + 3]);
            } else {
                out.push(first);
            }
            i += 3;
            continue;
        }
        let len = match first {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => return Err(err),
        };
        let mut seq = [first, 0, 0, 0];
        for (k, slot) in seq.iter_mut().enumerate().take(len).skip(1) {
            let cont = escape_at(bytes, i + 3 * k).ok_or_else(|| err.clone())?;
            if cont & 0xC0 != 0x80 {
                return Err(err);
            }
            *slot = cont;
        }
        // std's UTF-8 check rejects overlong forms, surrogates and values above U+10FFFF,
        // which is what ECMAScript's Decode rejects too.
        let decoded = std::str::from_utf8(&seq[..len]).map_err(|_| err.clone())?;
        out.extend_from_slice(decoded.as_bytes());
        i += 3 * len;
    }
    // Only whole UTF-8 sequences were added to a valid UTF-8 input.
    String::from_utf8(out).map_err(|_| UriError { offset: 0 })
}

/// The reference's `validateURI`: `s === encodeURI(decodeURI(s))` and neither call throws.
///
/// ```
/// use arvo_rules::validate_uri;
/// assert!(validate_uri("x;y,z?q=1&r=2@h:3$+#f"));
/// assert!(validate_uri("%C3%A9"));
/// assert!(!validate_uri("a b"));
/// assert!(!validate_uri("%c3%a9")); // lower-case escapes re-encode differently
/// assert!(!validate_uri("%2F"));    // reserved escapes stay escaped, then `%` is re-encoded
/// ```
pub fn validate_uri(s: &str) -> bool {
    if encodes_to_itself(s) {
        return true;
    }
    let bytes = s.as_bytes();
    // Every byte must be pass-through or part of an escape; a character that encodeURI would
    // escape can never survive the round trip, so reject early.
    if !bytes.iter().all(|&b| is_uri_passthrough(b) || b == b'%') {
        return false;
    }
    match decode_uri(s) {
        Ok(decoded) => encode_uri(&decoded) == s,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reference_observations() {
        for ok in [
            "",
            "a%20b",
            "%C3%A9",
            "a%25b",
            "'",
            "#",
            "~",
            "!*()",
            "x;y,z?q=1&r=2@h:3$+#f",
            "eJw9jEsKwzAMBe/y1qlxtrmNcBQqsK3iKB8wvnvVFrqdN286tKUn79bItGHpqFQYC6idGnwLfFN5ZQ5b1gsTTm67aHVjDjFEjAl8czrsCztk9elDHjHG2Q9SxeQXR9Ly76UsXM2FVQuJf+uRs9cKG3lojDcRkTSC",
        ] {
            assert!(validate_uri(ok), "{ok:?} should be valid");
        }
        for bad in [
            "a b",
            "%c3%a9",
            "%41",
            "%2F",
            "%3B",
            "%23",
            "%",
            "a%zz",
            "%C3",
            "%FF",
            "é",
            "|",
            "[",
            "]",
            "{",
            "}",
            "^",
            "`",
            "\"",
            "<",
            ">",
            "\\",
            "%ED%A0%80",
            "%C0%AF",
        ] {
            assert!(!validate_uri(bad), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn encode_examples() {
        assert_eq!(
            encode_uri("test source with spaces"),
            "test%20source%20with%20spaces"
        );
        assert_eq!(encode_uri("😀"), "%F0%9F%98%80");
        assert_eq!(
            encode_uri("https://example.com/redirect?param=value"),
            "https://example.com/redirect?param=value"
        );
    }

    #[test]
    fn the_comparisons_are_the_table() {
        for b in 0..=255u8 {
            assert_eq!(passes_through(b), passthrough_rule(b), "{b:#x}");
        }
    }

    proptest! {
        #[test]
        fn encoded_strings_are_valid_and_decode_back(s in "\\PC*") {
            let e = encode_uri(&s);
            prop_assert!(validate_uri(&e));
            // decodeURI keeps reserved escapes, and encodeURI never produces them, so the
            // round trip is exact.
            prop_assert_eq!(decode_uri(&e).unwrap(), s);
        }

        #[test]
        fn validate_never_panics(s in "(%[0-9A-Fa-f]{0,2}|[ -~]|é)*") {
            let _ = validate_uri(&s);
        }

        #[test]
        fn encodes_to_itself_is_encode_uri_unchanged(s in "(%[0-9A-F]{2}|[ -~]|é)*") {
            prop_assert_eq!(encodes_to_itself(&s), encode_uri(&s) == s);
            if encodes_to_itself(&s) {
                prop_assert!(validate_uri(&s));
            }
        }
    }
}
