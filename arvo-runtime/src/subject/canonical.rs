//! A fast reader for the one JSON layout subjects almost always have.
//!
//! The reference compresses `JSON.stringify(content)` with the keys in `new()`'s order, so
//! the decoded text of nearly every subject is exactly
//!
//! ```text
//! {"orchestrator":{"name":"…","version":"…"},"execution":{"id":"…","initiator":"…","domain":null},"meta":{}}
//! ```
//!
//! with `domain` possibly a string and `meta` possibly holding string values. [`read`] accepts
//! that layout and nothing else: the keys in that order, no whitespace, string values without
//! escapes or control characters, no unknown or repeated keys, nothing after the last brace.
//! On anything else it gives up (`None`) and the caller runs the general serde path, which
//! gives the same content for every text [`read`] accepts (checked by the differential tests
//! below and the `subject_parse` fuzz target). It only reads: the schema check runs next, as
//! on the serde path ([`Fields::validate`]: the checks of `SubjectContent::validate` on the
//! borrowed strings, before they are copied).

use indexmap::map::Entry;

use super::content::{Execution, Extra, Meta, Orchestrator, SubjectContent};
use super::validate;
use crate::issue::Issues;

/// The fields of a text in the canonical layout, borrowed from it (`meta`'s entries, rare,
/// already owned). [`Fields::into_content`] makes the content the serde path would give.
#[derive(Debug)]
pub(super) struct Fields<'a> {
    /// `orchestrator.name`.
    pub(super) name: &'a str,
    /// `orchestrator.version`.
    pub(super) version: &'a str,
    /// `execution.id`.
    pub(super) id: &'a str,
    /// `execution.initiator`.
    pub(super) initiator: &'a str,
    /// `execution.domain` (`null` is `None`).
    pub(super) domain: Option<&'a str>,
    /// `meta`, in the text's order.
    pub(super) meta: Meta,
}

impl Fields<'_> {
    /// [`SubjectContent::validate`] on the borrowed fields: the same checks and issues, run
    /// before anything is allocated.
    pub(super) fn validate(&self) -> Result<(), Issues> {
        validate::fields(
            self.name,
            self.version,
            self.id,
            self.initiator,
            self.domain,
        )
        .into_result()
    }

    /// The content, owning its strings (no unknown keys: the layout has none).
    pub(super) fn into_content(self) -> SubjectContent {
        SubjectContent {
            orchestrator: Orchestrator {
                name: self.name.to_owned(),
                version: self.version.to_owned(),
                extra: Extra::new(),
            },
            execution: Execution {
                id: self.id.to_owned(),
                initiator: self.initiator.to_owned(),
                domain: self.domain.map(str::to_owned),
                extra: Extra::new(),
            },
            meta: self.meta,
            extra: Extra::new(),
        }
    }
}

/// Reads `json` if it has exactly the canonical layout (see the module docs); `None` otherwise.
/// Allocates nothing unless `meta` has entries.
pub(super) fn read(json: &str) -> Option<Fields<'_>> {
    let mut r = Reader { text: json, pos: 0 };
    r.literal(b"{\"orchestrator\":{\"name\":\"")?;
    let name = r.string()?;
    r.literal(b",\"version\":\"")?;
    let version = r.string()?;
    r.literal(b"},\"execution\":{\"id\":\"")?;
    let id = r.string()?;
    r.literal(b",\"initiator\":\"")?;
    let initiator = r.string()?;
    r.literal(b",\"domain\":")?;
    let domain = if r.literal(b"null").is_some() {
        None
    } else {
        r.literal(b"\"")?;
        Some(r.string()?)
    };
    r.literal(b"},\"meta\":{")?;
    let meta = if r.literal(b"}").is_some() {
        Meta::new()
    } else {
        r.meta_entries()?
    };
    r.literal(b"}")?;
    if r.pos != json.len() {
        return None;
    }
    Some(Fields {
        name,
        version,
        id,
        initiator,
        domain,
        meta,
    })
}

/// `0x01` in every byte.
const ONES: u64 = u64::from_le_bytes([0x01; 8]);
/// `0x80` in every byte.
const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);

/// The bytes of `w` that are a quote, a backslash or a control character (below `0x20`), as
/// high bits, or 0 if there is none. Each term is the "some byte is zero" (resp. "below n")
/// test of <https://graphics.stanford.edu/~seander/bithacks.html#ZeroInWord>: a byte above a
/// flagged one may be flagged wrongly (a borrow), but the lowest flagged byte, the first in
/// the text, is always right.
#[inline(always)]
fn stops(w: u64) -> u64 {
    let quote = w ^ (ONES * u64::from(b'"'));
    let backslash = w ^ (ONES * u64::from(b'\\'));
    let zero_in = |v: u64| v.wrapping_sub(ONES) & !v;
    let control = w.wrapping_sub(ONES * 0x20) & !w;
    (zero_in(quote) | zero_in(backslash) | control) & HIGHS
}

/// A cursor over the text. `pos` is always on a character boundary: it only moves past ASCII
/// literals and past a string's closing quote.
struct Reader<'a> {
    /// The whole text.
    text: &'a str,
    /// How many bytes have been read.
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Consumes `lit` if the text continues with it, else `None` (nothing consumed).
    #[inline(always)]
    fn literal<const N: usize>(&mut self, lit: &[u8; N]) -> Option<()> {
        let rest = self.text.as_bytes().get(self.pos..)?;
        let (head, _) = rest.split_first_chunk::<N>()?;
        if head != lit {
            return None;
        }
        self.pos += N;
        Some(())
    }

    /// Reads the body of a string whose opening quote was already consumed, and its closing
    /// quote. `None` on an escape (`\`), a control character (invalid in JSON) or the end of
    /// the text.
    #[inline(always)]
    fn string(&mut self) -> Option<&'a str> {
        let bytes = self.text.as_bytes();
        let start = self.pos;
        let mut end = start;
        // Eight bytes at a time: the first flagged byte of a word is the first byte that ends
        // or spoils the string. Byte by byte near the end of the text.
        loop {
            let Some(chunk) = bytes.get(end..).and_then(<[u8]>::first_chunk::<8>) else {
                end += bytes
                    .get(end..)?
                    .iter()
                    .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
                break;
            };
            let stop = stops(u64::from_le_bytes(*chunk));
            if stop != 0 {
                end += (stop.trailing_zeros() / 8) as usize;
                break;
            }
            end += 8;
        }
        if bytes.get(end) != Some(&b'"') {
            return None;
        }
        self.pos = end + 1;
        // Both ends are next to an ASCII quote, hence character boundaries.
        self.text.get(start..end)
    }

    /// Reads the entries of a non-empty `meta` object, after its `{`, up to and including its
    /// `}`. `None` on anything but string keys and string values, or on a repeated key (the
    /// serde path handles those).
    fn meta_entries(&mut self) -> Option<Meta> {
        let mut meta = Meta::new();
        loop {
            self.literal(b"\"")?;
            let key = self.string()?;
            self.literal(b":\"")?;
            let value = self.string()?;
            match meta.entry(key.to_owned()) {
                Entry::Occupied(_) => return None,
                Entry::Vacant(slot) => {
                    slot.insert(value.to_owned());
                }
            }
            if self.literal(b",").is_none() {
                self.literal(b"}")?;
                return Some(meta);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Differential tests: whenever [`read`] accepts a text, serde_json reads the same content
    //! from it, and [`super::super::parse_json`] (fast path first) gives what the serde path
    //! alone gives.

    use proptest::prelude::*;
    use serde_json::Value;

    use super::super::{__parse_json_serde, SubjectContent, decode_text, parse_json};
    use super::*;

    /// The serde path's typed deserialisation (no validation).
    fn serde_read(text: &str) -> Option<SubjectContent> {
        serde_json::from_str(text).ok()
    }

    /// Checks both invariants on one decoded text; returns whether the fast reader accepted it.
    fn check(bytes: &[u8]) -> Result<bool, TestCaseError> {
        let text = decode_text(bytes);
        let fast = read(&text).map(Fields::into_content);
        if let Some(f) = &fast {
            let slow = serde_read(&text);
            prop_assert_eq!(Some(f), slow.as_ref(), "text: {:?}", text);
        }
        prop_assert_eq!(
            parse_json(bytes),
            __parse_json_serde(bytes),
            "text: {:?}",
            text
        );
        Ok(fast.is_some())
    }

    /// Needs no escape in JSON: `JSON.stringify` writes it as it is.
    fn escape_free(s: &str) -> bool {
        !s.chars().any(|c| c == '"' || c == '\\' || c < ' ')
    }

    /// Whether every string of `c` (keys of `meta` included) needs no escape.
    fn content_escape_free(c: &SubjectContent) -> bool {
        [
            &c.orchestrator.name,
            &c.orchestrator.version,
            &c.execution.id,
            &c.execution.initiator,
        ]
        .into_iter()
        .chain(&c.execution.domain)
        .chain(c.meta.iter().flat_map(|(k, v)| [k, v]))
        .all(|s| escape_free(s))
    }

    /// Strings of every kind: plain, non-ASCII, with characters JSON must escape.
    fn any_string() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9.]{0,12}",
            "[a-zA-Z0-9.;_ /-]{0,12}",
            "\\PC{0,8}",
            ".{0,8}",
            "[a-z\"\\\\\\x00-\\x1f\\x7f\u{2028}é😀]{0,8}",
        ]
    }

    /// Mostly valid event types, sometimes anything.
    fn event_type() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => "[a-z0-9]{1,6}(\\.[a-z0-9]{1,6}){2,4}",
            1 => any_string(),
        ]
    }

    /// Mostly valid versions, sometimes anything.
    fn version() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
            1 => any_string(),
        ]
    }

    /// UUIDs, B1's ids, sometimes anything.
    fn id() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
            1 => "b1-[0-9]{5}",
            1 => any_string(),
        ]
    }

    /// `null`, valid domains or anything.
    fn domain() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(prop_oneof!["[a-z0-9.]{1,12}", any_string()])
    }

    prop_compose! {
        /// Content, valid or not, without unknown keys.
        fn content()(
            name in event_type(),
            version in version(),
            id in id(),
            initiator in event_type(),
            domain in domain(),
            meta in prop::collection::vec((any_string(), any_string()), 0..4),
        ) -> SubjectContent {
            let mut c = SubjectContent::new(name, version, id, initiator);
            c.execution.domain = domain;
            c.meta = meta.into_iter().collect();
            c
        }
    }

    /// A JSON string literal.
    fn quoted(s: &str) -> String {
        serde_json::to_string(s).unwrap_or_default()
    }

    /// An object from (key, JSON text of the value) pairs.
    fn object(entries: &[(String, String)]) -> String {
        let body: Vec<String> = entries
            .iter()
            .map(|(k, v)| format!("{}:{v}", quoted(k)))
            .collect();
        format!("{{{}}}", body.join(","))
    }

    /// Keys that may be added: known ones (so repeated) and unknown ones.
    const KEYS: &[&str] = &[
        "name",
        "version",
        "id",
        "initiator",
        "domain",
        "orchestrator",
        "execution",
        "meta",
        "redirectto",
        "x",
        "0",
    ];

    /// Values that may be added.
    const VALUES: &[&str] = &[
        "null",
        "1",
        "1.0",
        "true",
        "[]",
        "{}",
        "\"\"",
        "\"a.b.c\"",
        "\"1.0.0\"",
        "{\"name\":\"a.b.c\",\"version\":\"1.0.0\"}",
        "{\"id\":\"x\",\"initiator\":\"a.b.c\",\"domain\":null}",
    ];

    /// An added entry: which object (top, orchestrator, execution, meta), where, which key,
    /// which value.
    type Added = (usize, prop::sample::Index, usize, usize);

    /// Inserts the added entry (`k`, `v` index [`KEYS`] and [`VALUES`]) at `at`.
    fn insert_added(
        entries: &mut Vec<(String, String)>,
        at: &prop::sample::Index,
        k: usize,
        v: usize,
    ) {
        let pos = at.index(entries.len() + 1);
        let key = KEYS.get(k).copied().unwrap_or("x");
        let value = VALUES.get(v).copied().unwrap_or("null");
        entries.insert(pos.min(entries.len()), (key.to_owned(), value.to_owned()));
    }

    /// Maybe a new key order for the top level, `orchestrator` and `execution`.
    type Orders = (Option<Vec<usize>>, Option<Vec<usize>>, Option<Vec<usize>>);

    /// A permutation of `0..n`.
    fn permutation(n: usize) -> impl Strategy<Value = Vec<usize>> {
        Just((0..n).collect::<Vec<_>>()).prop_shuffle()
    }

    /// `entries` in `order`, if any.
    fn permuted(
        entries: Vec<(String, String)>,
        order: Option<&Vec<usize>>,
    ) -> Vec<(String, String)> {
        match order {
            Some(order) => order
                .iter()
                .filter_map(|&i| entries.get(i).cloned())
                .collect(),
            None => entries,
        }
    }

    /// The text of `c` with keys maybe reordered and entries maybe added.
    fn layout(c: &SubjectContent, orders: &Orders, added: &[Added]) -> String {
        let mut objects: [Vec<(String, String)>; 4] = Default::default();
        objects[1] = permuted(
            vec![
                ("name".into(), quoted(&c.orchestrator.name)),
                ("version".into(), quoted(&c.orchestrator.version)),
            ],
            orders.1.as_ref(),
        );
        objects[2] = permuted(
            vec![
                ("id".into(), quoted(&c.execution.id)),
                ("initiator".into(), quoted(&c.execution.initiator)),
                (
                    "domain".into(),
                    c.execution.domain.as_deref().map_or("null".into(), quoted),
                ),
            ],
            orders.2.as_ref(),
        );
        objects[3] = c.meta.iter().map(|(k, v)| (k.clone(), quoted(v))).collect();
        for (which, at, k, v) in added {
            if let Some(entries) = objects.get_mut(*which) {
                insert_added(entries, at, *k, *v);
            }
        }
        let [mut top, orchestrator, execution, meta] = objects;
        let mut known = permuted(
            vec![
                ("orchestrator".into(), object(&orchestrator)),
                ("execution".into(), object(&execution)),
                ("meta".into(), object(&meta)),
            ],
            orders.0.as_ref(),
        );
        // Entries added to the top level go among the known ones, in order.
        for (i, entry) in top.drain(..).enumerate() {
            let at = i.min(known.len());
            known.insert(at, entry);
        }
        object(&known)
    }

    /// Byte-level edits of a text.
    #[derive(Debug, Clone)]
    enum Edit {
        /// Insert these bytes there.
        Insert(prop::sample::Index, &'static [u8]),
        /// Cut the text there.
        Truncate(prop::sample::Index),
        /// Remove up to this many bytes from there.
        Delete(prop::sample::Index, usize),
    }

    /// What [`Edit::Insert`] inserts: whitespace, JSON punctuation, entries, bad bytes, a BOM.
    const SNIPPETS: &[&[u8]] = &[
        b" ",
        b"\n",
        b"\t",
        b"\r",
        b"\"",
        b"\\",
        b",",
        b":",
        b"{",
        b"}",
        b"[",
        b"null",
        b"1",
        b"\"x\":1,",
        b",\"x\":\"y\"",
        b"\"name\":\"a.b.c\",",
        b",\"domain\":null",
        b",\"meta\":{}",
        b"\"k\":\"v\",",
        b"\x00",
        b"\x1f",
        b"\xFF",
        b"\xC3",
        "é".as_bytes(),
        b"\xEF\xBB\xBF",
    ];

    /// Mostly insertions.
    fn edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            4 => (any::<prop::sample::Index>(), prop::sample::select(SNIPPETS))
                .prop_map(|(at, s)| Edit::Insert(at, s)),
            1 => any::<prop::sample::Index>().prop_map(Edit::Truncate),
            1 => (any::<prop::sample::Index>(), 1usize..8).prop_map(|(at, n)| Edit::Delete(at, n)),
        ]
    }

    /// Applies `e` to `bytes` (positions taken modulo the length).
    fn apply(bytes: &mut Vec<u8>, e: &Edit) {
        match e {
            Edit::Insert(at, s) => {
                let at = at.index(bytes.len() + 1).min(bytes.len());
                bytes.splice(at..at, s.iter().copied());
            }
            Edit::Truncate(at) => bytes.truncate(at.index(bytes.len() + 1)),
            Edit::Delete(at, n) => {
                let at = at.index(bytes.len() + 1).min(bytes.len());
                let end = (at + n).min(bytes.len());
                bytes.drain(at..end);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2048, .. ProptestConfig::default() })]

        /// The reference's layout: the fast reader accepts every escape-free one, and what it
        /// accepts is what serde reads (and the content written).
        #[test]
        fn canonical_text_reads_as_serde_does(c in content()) {
            let text = c.to_json();
            let fast = read(&text).map(Fields::into_content);
            if content_escape_free(&c) {
                prop_assert!(fast.is_some(), "gave up on {:?}", text);
            }
            if let Some(f) = &fast {
                prop_assert_eq!(f, &c);
            }
            check(text.as_bytes())?;
        }

        /// Reordered keys, added or repeated keys, then byte-level edits: the fast reader gives
        /// up or agrees with serde.
        #[test]
        fn mutated_text_reads_as_serde_does(
            c in content(),
            orders in (
                proptest::option::weighted(0.2, permutation(3)),
                proptest::option::weighted(0.2, permutation(2)),
                proptest::option::weighted(0.2, permutation(3)),
            ),
            added in prop::collection::vec(
                (0usize..4, any::<prop::sample::Index>(), 0..KEYS.len(), 0..VALUES.len()),
                0..3,
            ),
            edits in prop::collection::vec(edit(), 0..3),
        ) {
            let mut bytes = layout(&c, &orders, &added).into_bytes();
            for e in &edits {
                apply(&mut bytes, e);
            }
            check(&bytes)?;
        }

        /// Arbitrary bytes.
        #[test]
        fn any_bytes_read_as_serde_does(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            check(&bytes)?;
        }
    }

    /// Texts on the edge of the layout.
    #[test]
    fn edge_cases() {
        let ok = r#"{"orchestrator":{"name":"a.b.c","version":"1.0.0"},"execution":{"id":"x","initiator":"d.e.f","domain":null},"meta":{}}"#;
        let accepted = [
            ok.to_owned(),
            ok.replace("null", "\"eu\""),
            ok.replace("null", "\"\""),
            ok.replace("{}", r#"{"redirectto":"com.x.y"}"#),
            ok.replace("{}", r#"{"a":"1","b":"","c":"é ✓"}"#),
            ok.replace("\"x\"", "\"\""),
            ok.replace("\"x\"", "\"\u{7f}\u{2028}/\""),
        ];
        for text in &accepted {
            assert!(check(text.as_bytes()).unwrap(), "gave up on {text}");
        }
        let refused = [
            format!("{ok} "),
            format!(" {ok}"),
            format!("\u{feff}{ok}"), // dropped as a BOM, then read by the fast path
            ok.replace("null", "nul"),
            ok.replace("null", "1"),
            ok.replace("\"x\"", "\"\\u0078\""),
            ok.replace("\"x\"", "\"x\ty\""),
            ok.replace("{}", r#"{"a":"1","a":"2"}"#),
            ok.replace("{}", r#"{"a":1}"#),
            ok.replace("{}", r#"{"a":"1",}"#),
            ok.replace("{}", r#"{"a":null}"#),
            ok.replace("{}", "{ }"),
            ok.replace("\"x\"", "\"x"),
            ok[..ok.len() - 1].to_owned(),
            ok.replace("}}", "},\"x\":1}"),
        ];
        for (i, text) in refused.iter().enumerate() {
            let accepted = check(text.as_bytes()).unwrap();
            // The BOM case reaches the fast path after decoding; every other one is refused.
            assert_eq!(accepted, i == 2, "{text}");
        }
        // Invalid UTF-8 is replaced before reading, as on the serde path.
        let mut bytes = ok.replace("\"x\"", "\"x\u{0}\"").into_bytes();
        if let Some(b) = bytes.iter_mut().find(|b| **b == 0) {
            *b = 0xFF;
        }
        assert!(check(&bytes).unwrap());
        let c = parse_json(&bytes).unwrap();
        assert_eq!(c.execution.id, "x\u{FFFD}");
    }

    /// Every subject of the reference's vectors: the same result with and without the fast
    /// path, which takes all the canonical ones.
    #[test]
    fn fixture_subjects() {
        let fixture: Value = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/orchestration_subjects.json"
        )))
        .unwrap();
        let cases = fixture["cases"].as_array().unwrap();
        let invalid = fixture["invalid"].as_array().unwrap();
        let mut fast = 0;
        for case in cases.iter().chain(invalid) {
            let subject = case["subject"].as_str().or(case["input"].as_str());
            let Some(subject) = subject else { continue };
            let Ok(accepted) = crate::codec::with_decompressed(subject, |b| check(b).unwrap())
            else {
                continue;
            };
            // Three vectors are deliberately not in the canonical layout.
            let canonical = !matches!(
                case["name"].as_str(),
                Some(
                    "create_same_content_other_key_order"
                        | "create_extra_field_is_kept_in_string"
                        | "parse_deflated_wrong_schema"
                )
            );
            assert_eq!(accepted, canonical, "{}", case["name"]);
            fast += usize::from(accepted);
        }
        assert_eq!(fast, 10);
    }
}
