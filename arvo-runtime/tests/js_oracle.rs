//! The Rust ports of the reference's primitives, checked against JavaScript itself.
//!
//! The reference runs on Node.js: its name rules are JavaScript regular expressions, its URI
//! check is `encodeURI(decodeURI(s))`, its trims are `String.prototype.trim`, its times are
//! checked by zod 3, and its events are written by `JSON.stringify`. This crate ports each of
//! them by hand (see `arvo_rules` and `event::json`). Here many generated inputs, ordinary and
//! hostile, go through both the port and the JavaScript original (`interop/ts/js-oracle.mjs`,
//! run by `node`, with the zod, zod-to-json-schema and pako versions the reference uses, as
//! `interop/ts/package-lock.json` pins them), and every answer must be the same. Payload
//! validation is checked the same way: random zod schemas, exported as the reference exports a
//! contract, and random data must give the same issues and the same parsed data as zod.
//!
//! Needs `node` and `interop/ts/node_modules` (`npm ci` in `interop/ts`). Without them each test
//! prints why and passes, except with `CI` set (`.ci/run` installs both), where it fails.
//!
//! The inputs are the same on every run; `ARVO_ORACLE_SEED=<n>` draws others (25 seeds were
//! searched so when this was written, with no difference left).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use arvo_runtime::event::{ArvoEvent, EventIdInput, JsFormatter, create_event_id};
use arvo_runtime::rules;
use serde_json::{Value, json};

/// How many inputs each generated family holds.
const CASES: usize = 12_000;

/// The JavaScript answer to one request: `Ok(value)`, or `Err(message)` when it threw.
type Answer = Result<Value, String>;

fn oracle_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop/ts")
}

/// Runs `js-oracle.mjs` on the requests (`(op, input)`), or says why it cannot (`None`).
fn oracle(requests: &[(&str, String)]) -> Option<Vec<Answer>> {
    let dir = oracle_dir();
    let missing = if !dir
        .join("node_modules/pako-reference/package.json")
        .is_file()
    {
        Some("interop/ts/node_modules is missing (run `npm ci` in interop/ts)".to_owned())
    } else {
        match Command::new("node").arg("--version").output() {
            Ok(o) if o.status.success() => None,
            Ok(o) => Some(format!("`node --version` failed: {o:?}")),
            Err(e) => Some(format!("no `node` on PATH: {e}")),
        }
    };
    if let Some(why) = missing {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set, so the JavaScript oracle must run, but {why}"
        );
        eprintln!("skipped: {why}");
        return None;
    }
    let body: Vec<Value> = requests
        .iter()
        .map(|(op, s)| json!({ "op": op, "s": s }))
        .collect();
    let mut child = Command::new("node")
        .arg("js-oracle.mjs")
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn node");
    let mut stdin = child.stdin.take().expect("node's stdin");
    let input = serde_json::to_vec(&body).expect("requests as JSON");
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("node's output");
    writer
        .join()
        .expect("writer thread")
        .expect("write to node");
    assert!(
        out.status.success(),
        "js-oracle.mjs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Vec<Value> = serde_json::from_slice(&out.stdout).expect("answers as JSON");
    assert_eq!(answers.len(), requests.len());
    Some(
        answers
            .into_iter()
            .map(|a| match (a.get("ok"), a.get("err")) {
                (Some(v), _) => Ok(v.clone()),
                (None, Some(Value::String(e))) => Err(e.clone()),
                _ => panic!("malformed answer {a}"),
            })
            .collect(),
    )
}

/// Compares each Rust answer with JavaScript's; fails listing the first differences.
fn check(op: &str, inputs: &[String], rust: impl Fn(&str) -> Answer) {
    let requests: Vec<(&str, String)> = inputs.iter().map(|s| (op, s.clone())).collect();
    let Some(answers) = oracle(&requests) else {
        return;
    };
    let mut differences = Vec::new();
    for (input, js) in inputs.iter().zip(answers) {
        let ours = rust(input);
        let same = match (&ours, &js) {
            (Ok(a), Ok(b)) => a == b,
            (Err(_), Err(_)) => true,
            _ => false,
        };
        if !same {
            differences.push(format!("  {input:?}: rust {ours:?}, javascript {js:?}"));
        }
    }
    assert_same(op, &differences, inputs.len(), 12);
}

/// Fails listing the first `shown` of the `differences` found among `total` inputs of `op`.
fn assert_same(op: &str, differences: &[String], total: usize, shown: usize) {
    assert!(
        differences.is_empty(),
        "{op}: {} of {total} inputs differ, the first:\n{}",
        differences.len(),
        differences[..differences.len().min(shown)].join("\n")
    );
}

/// A small deterministic generator (splitmix64): the same inputs on every run, unless
/// `ARVO_ORACLE_SEED` (a number) moves every family's seed, for longer searches by hand.
struct Gen(u64);

impl Gen {
    fn new(family: u64) -> Self {
        let base = std::env::var("ARVO_ORACLE_SEED")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
        Gen(base.wrapping_mul(1_000_003).wrapping_add(family))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
    /// A string of up to `max` characters drawn from `alphabet`.
    fn string(&mut self, alphabet: &[char], max: usize) -> String {
        let len = self.below(max + 1);
        (0..len).map(|_| self.pick(alphabet)).collect()
    }
}

/// Every character that is white space to JavaScript or to Rust, and a few that are neither.
const SPACES: &[char] = &[
    ' ', '\t', '\n', '\r', '\u{b}', '\u{c}', '\u{85}', '\u{a0}', '\u{1680}', '\u{2000}',
    '\u{200a}', '\u{200b}', '\u{2028}', '\u{2029}', '\u{202f}', '\u{205f}', '\u{3000}', '\u{feff}',
    '\u{180e}', '\u{0}', 'a', 'Z', '.', 'é',
];

#[test]
fn trims_and_clean_string_match_javascript() {
    let mut g = Gen::new(1);
    let mut inputs: Vec<String> = SPACES.iter().map(|c| format!("{c}x{c}")).collect();
    inputs.extend((0..CASES).map(|_| g.string(SPACES, 12)));
    // The reference trims a developer-managed event id (`createArvoEventId`); an id that trims
    // to nothing is replaced by a new UUID, which JavaScript's answer cannot show.
    check("trim", &inputs, |s| {
        let id = create_event_id(Some(&EventIdInput::DeveloperManaged(s.to_owned())));
        Ok(Value::String(
            if id.len() == 36 && !s.contains(id.as_str()) {
                String::new()
            } else {
                id
            },
        ))
    });
    check("cleanString", &inputs, |s| {
        Ok(Value::String(rules::clean_string(s)))
    });
}

#[test]
fn name_rules_match_the_reference_regular_expressions() {
    const NAMES: &[char] = &[
        'a', 'b', 'z', '0', '9', '.', '.', '.', 'A', 'Z', '-', '_', ' ', '\n', 'é', '٣', '١',
    ];
    let mut g = Gen::new(2);
    let mut inputs: Vec<String> = [
        "",
        ".",
        "a.b.c",
        "a..b.c",
        ".a.b.c",
        "a.b.c.",
        "com.calc.add",
        "a.b",
        "test.input.0",
        "1.0.0",
        "01.2.3",
        "1.0",
        "1.0.0-beta",
        "1.0.0\n",
        "99999999999999999999.0.0",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    inputs.extend((0..CASES).map(|_| g.string(NAMES, 40)));
    let as_bool = |b: bool| Ok(Value::Bool(b));
    check("eventType", &inputs, |s| as_bool(rules::is_event_type(s)));
    check("domain", &inputs, |s| as_bool(rules::is_domain(s)));
    check("version", &inputs, |s| as_bool(rules::is_arvo_version(s)));
    check("extName", &inputs, |s| as_bool(rules::is_extension_name(s)));
}

/// URIs: characters `encodeURI` keeps or escapes, and percent escapes whole, cut short,
/// overlong, of surrogates, beyond U+10FFFF, of reserved characters, in either case.
fn uris(g: &mut Gen) -> Vec<String> {
    const PIECES: &[&str] = &[
        "a",
        "Z",
        "0",
        "-",
        "_",
        ".",
        "!",
        "~",
        "*",
        "'",
        "(",
        ")",
        ";",
        "/",
        "?",
        ":",
        "@",
        "&",
        "=",
        "+",
        "$",
        ",",
        "#",
        " ",
        "\"",
        "<",
        ">",
        "[",
        "]",
        "{",
        "}",
        "|",
        "\\",
        "^",
        "`",
        "é",
        "€",
        "😀",
        "\u{0}",
        "\u{7f}",
        "\u{feff}",
        "%",
        "%2",
        "%20",
        "%25",
        "%23",
        "%2F",
        "%2f",
        "%3B",
        "%3b",
        "%41",
        "%7E",
        "%C3%A9",
        "%c3%a9",
        "%E2%82%AC",
        "%e2%82%ac",
        "%F0%9F%98%80",
        "%C3",
        "%E2%82",
        "%F0%9F%98",
        "%C0%AF",
        "%E0%80%AF",
        "%ED%A0%80",
        "%ED%BF%BF",
        "%F4%90%80%80",
        "%FF",
        "%80",
        "%G1",
        "%%",
        "%00",
        "%7F",
    ];
    (0..CASES)
        .map(|_| {
            let n = g.below(7);
            (0..n).map(|_| g.pick(PIECES)).collect()
        })
        .collect()
}

#[test]
fn uri_functions_match_javascript() {
    let inputs = uris(&mut Gen::new(3));
    check("encodeURI", &inputs, |s| {
        Ok(Value::String(rules::encode_uri(s)))
    });
    check("decodeURI", &inputs, |s| {
        rules::decode_uri(s)
            .map(Value::String)
            .map_err(|e| e.to_string())
    });
    check("validateURI", &inputs, |s| {
        Ok(Value::Bool(rules::validate_uri(s)))
    });
    // `encodes_to_itself` is `encodeURI(s) === s`, which the oracle's encodeURI answers.
    let requests: Vec<(&str, String)> = inputs.iter().map(|s| ("encodeURI", s.clone())).collect();
    if let Some(answers) = oracle(&requests) {
        for (s, js) in inputs.iter().zip(answers) {
            let itself = js.as_ref().is_ok_and(|v| v.as_str() == Some(s));
            assert_eq!(rules::encodes_to_itself(s), itself, "{s:?}");
        }
    }
}

#[test]
fn times_match_zod_datetime() {
    let mut g = Gen::new(4);
    let two = |g: &mut Gen, max: usize| format!("{:02}", g.below(max));
    let mut inputs = Vec::new();
    for _ in 0..CASES {
        let year = g.pick(&[
            "0000", "1900", "2000", "2023", "2024", "2100", "2400", "9999", "024", "+2024",
        ]);
        let mut s = format!("{year}-{}-{}", two(&mut g, 14), two(&mut g, 33));
        s.push_str(g.pick(&["T", "T", "T", "t", " ", ""]));
        s.push_str(&format!("{}:{}", two(&mut g, 25), two(&mut g, 61)));
        if g.below(3) > 0 {
            s.push_str(&format!(":{}", two(&mut g, 61)));
            if g.below(2) == 0 {
                let digits = g.below(12);
                s.push('.');
                s.extend((0..digits).map(|_| char::from(b'0' + g.below(10) as u8)));
            }
        }
        s.push_str(g.pick(&[
            "Z", "Z", "z", "", "+00:00", "+05:30", "+0530", "-08:00", "+05", "+5:30", "-24:00",
            "+99:99", "+05:3", "Z ", "\n",
        ]));
        // Now and then a character replaced, to reach what the structure above cannot.
        if g.below(4) == 0 && !s.is_empty() {
            let i = g.below(s.len());
            if s.is_char_boundary(i) && s.is_char_boundary(i + 1) {
                s.replace_range(i..=i, g.pick(&["0", "9", "-", ":", "T", "Z", "٣", ""]));
            }
        }
        inputs.push(s);
    }
    check("datetime", &inputs, |s| {
        Ok(Value::Bool(rules::is_zod_datetime(s)))
    });
}

#[test]
fn numbers_are_written_as_javascript_writes_them() {
    let mut g = Gen::new(5);
    let mut numbers: Vec<f64> = vec![
        0.0,
        -0.0,
        1.0,
        0.1,
        0.1 + 0.2,
        1e21,
        1e-7,
        1e-6,
        123e-20,
        5e-324,
        f64::MAX,
        f64::MIN_POSITIVE,
        9_007_199_254_740_993.0,
        4_294_967_295.0,
        1.5e300,
        -2.5,
    ];
    for _ in 0..CASES {
        let n = match g.below(4) {
            // Any double at all.
            0 => f64::from_bits(g.next()),
            // Integers, around and beyond 2^53.
            1 => (g.next() >> g.below(64)) as f64,
            // Short decimals, the common case.
            2 => (g.below(2_000_000) as f64 - 1e6) / 10f64.powi(g.below(8) as i32),
            // Powers of ten around the exponent switches (1e21, 1e-7).
            _ => 10f64.powi(g.below(50) as i32 - 25) * (1.0 + g.below(9) as f64),
        };
        if n.is_finite() {
            numbers.push(n);
        }
    }
    let inputs: Vec<String> = numbers
        .iter()
        .map(|n| format!("{:016x}", n.to_bits()))
        .collect();
    check("number", &inputs, |hex| {
        let n = f64::from_bits(u64::from_str_radix(hex, 16).expect("hex"));
        let mut out = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(&mut out, JsFormatter);
        serde::Serialize::serialize(&n, &mut ser).expect("a number");
        Ok(Value::String(String::from_utf8(out).expect("UTF-8")))
    });
}

/// JSON text for `data`, with what JavaScript reads its own way: keys that are array indices
/// (and ones that only look like them), repeated keys, numbers in every notation, and strings
/// with escapes of every kind (numbers beyond a double's range and lone surrogates, which this
/// crate refuses, have a test of their own below).
fn json_value(g: &mut Gen, depth: usize) -> String {
    const KEYS: &[&str] = &[
        "a",
        "b",
        "z",
        "0",
        "1",
        "2",
        "10",
        "9",
        "01",
        "-1",
        "1.5",
        "1e3",
        " 1",
        "4294967294",
        "4294967295",
        "4294967296",
        "id",
        "",
        "é",
        "\\u0031",
        "\\n",
    ];
    const NUMBERS: &[&str] = &[
        "0",
        "-0",
        "1",
        "1.0",
        "1.50",
        "0.1",
        "1e2",
        "1E+2",
        "1e-2",
        "123456789",
        "1e21",
        "1e20",
        "1e-7",
        "0.000001",
        "9007199254740993",
        "12345678901234567890",
        "-12345678901234567890",
        "1e308",
        "1e-400",
        "5e-324",
        "2.2250738585072011e-308",
        "0.30000000000000004",
        "100000000000000000000000",
        "4.35",
        "1.7976931348623157e308",
    ];
    const STRINGS: &[&str] = &[
        "",
        "x",
        "é",
        "😀",
        "\\u0000",
        "\\u001f",
        "\\u007f",
        "\\u2028",
        "\\u2029",
        "\\ud83d\\ude00",
        "\\\"",
        "\\\\",
        "\\/",
        "\\b\\f\\n\\r\\t",
        "\\u00e9",
        "\\uFEFF",
        "<\\/script>",
        "\u{7f}",
        "\u{85}",
    ];
    match g.below(if depth == 0 { 4 } else { 7 }) {
        0 => (g.pick(NUMBERS)).to_owned(),
        1 => format!("\"{}{}\"", g.pick(STRINGS), g.pick(STRINGS)),
        2 => (g.pick(&["true", "false", "null"])).to_owned(),
        3 => format!("{}", g.below(1000)),
        4 | 5 => {
            let n = g.below(6);
            let members: Vec<String> = (0..n)
                .map(|_| format!("\"{}\":{}", g.pick(KEYS), json_value(g, depth - 1)))
                .collect();
            format!("{{{}}}", members.join(","))
        }
        _ => {
            let n = g.below(4);
            let items: Vec<String> = (0..n).map(|_| json_value(g, depth - 1)).collect();
            format!("[{}]", items.join(","))
        }
    }
}

/// An event's JSON with `data` (JSON text): every attribute present, in the order the reference
/// writes them, so that `JSON.stringify(JSON.parse(text))` is what the reference writes for it.
fn event_text(data: &str) -> String {
    format!(
        concat!(
            r#"{{"id":"e1","source":"com.test.src","specversion":"1.0","type":"com.test.ok","#,
            r#""subject":"s","datacontenttype":"application/cloudevents+json;charset=UTF-8;profile=arvo","#,
            r#""dataschema":null,"data":{},"time":"2024-01-01T00:00:00.000+00:00","to":"com.test.ok","#,
            r#""accesscontrol":null,"redirectto":null,"executionunits":null,"traceparent":null,"#,
            r#""tracestate":null,"parentid":null,"domain":null}}"#
        ),
        data
    )
}

#[test]
fn event_data_is_read_and_written_as_json_parse_and_stringify() {
    let mut g = Gen::new(6);
    let inputs: Vec<String> = (0..CASES)
        .map(|_| {
            let data = loop {
                let v = json_value(&mut g, 3);
                if v.starts_with('{') {
                    break v;
                }
            };
            event_text(&data)
        })
        .collect();
    check("json", &inputs, |text| {
        ArvoEvent::from_json_str(text)
            .map(|e| Value::String(e.to_json_string()))
            .map_err(|e| e.to_string())
    });
}

/// The two kinds of JSON the reference reads but cannot write back as they were: a number beyond
/// a double's range (JavaScript reads Infinity and writes `null`: the value changes silently) and
/// an escaped lone UTF-16 surrogate (a Rust string cannot hold one). Here such an event is
/// refused with an error naming the line and column (a deliberate difference, in the README).
#[test]
fn json_the_reference_cannot_write_back_is_refused_with_its_place() {
    let cases = [
        (
            r#"{"n":1e309}"#,
            "number out of range",
            r#""data":{"n":null}"#,
        ),
        (
            r#"{"n":-1e400}"#,
            "number out of range",
            r#""data":{"n":null}"#,
        ),
        (
            r#"{"a":[1,2e999]}"#,
            "number out of range",
            r#""data":{"a":[1,null]}"#,
        ),
        (r#"{"s":"\ud800"}"#, "escape", r#""data":{"s":"\ud800"}"#),
        (r#"{"s":"x\udc00"}"#, "escape", r#""data":{"s":"x\udc00"}"#),
        (r#"{"s":"\ud800x"}"#, "escape", r#""data":{"s":"\ud800x"}"#),
    ];
    let inputs: Vec<String> = cases.iter().map(|(data, ..)| event_text(data)).collect();
    let requests: Vec<(&str, String)> = inputs.iter().map(|t| ("json", t.clone())).collect();
    let answers = oracle(&requests);
    for (i, (data, error, written)) in cases.iter().enumerate() {
        let err = ArvoEvent::from_json_str(&inputs[i])
            .expect_err(data)
            .to_string();
        assert!(
            err.contains(error) && err.contains("column"),
            "{data}: {err}"
        );
        if let Some(answers) = &answers {
            let js = answers[i].as_ref().expect("JavaScript reads it");
            let js = js.as_str().expect("a string");
            assert!(js.contains(written), "{data}: JavaScript wrote {js}");
        }
    }
}

/// Texts to compress: JSON of every shape above, and repetitive text long enough for the
/// compressor's matches and block choices to matter.
fn subject_texts(g: &mut Gen) -> Vec<String> {
    (0..CASES / 4)
        .map(|_| match g.below(3) {
            0 => json_value(g, 4),
            1 => g.string(SPACES, 60),
            _ => {
                let piece = json_value(g, 2);
                piece.repeat(1 + g.below(40))
            }
        })
        .collect()
}

#[test]
fn subjects_are_compressed_as_pako_compresses_them() {
    let inputs = subject_texts(&mut Gen::new(7));
    check("deflate", &inputs, |s| {
        Ok(Value::String(arvo_runtime::codec::compress_str(s)))
    });
}

/// A compressed string as a hostile sender might spell it: base64url letters, padding dropped
/// or doubled, characters Node's base64 reader skips, cut short, a character changed, text
/// after the padding.
fn misspell(g: &mut Gen, s: &str) -> String {
    let mut out: Vec<char> = s.chars().collect();
    for _ in 0..=g.below(3) {
        match g.below(9) {
            0 => {} // as it is
            1 => out.retain(|&c| c != '='),
            2 => {
                for c in &mut out {
                    *c = match *c {
                        '+' => '-',
                        '/' => '_',
                        c => c,
                    };
                }
            }
            3 | 4 => {
                let at = g.below(out.len() + 1);
                out.insert(
                    at,
                    g.pick(&[' ', '\n', '\t', '*', '.', '!', '%', '=', '-', 'é']),
                );
            }
            5 => out.truncate(g.below(out.len() + 1)),
            6 if !out.is_empty() => {
                let at = g.below(out.len());
                out[at] = g.pick(&['A', 'z', '0', '+', '/', '=']);
            }
            7 => out.extend(g.pick(&["=", "==", "=A", "AAAA", "=eJ", "\n"]).chars()),
            _ => out.insert(0, g.pick(&['=', ' ', 'A'])),
        }
    }
    out.into_iter().collect()
}

#[test]
fn subjects_are_decoded_as_node_and_pako_decode_them() {
    let mut g = Gen::new(8);
    let texts = subject_texts(&mut g);
    let mut encoded: Vec<String> = texts
        .iter()
        .map(|t| arvo_runtime::codec::compress_str(t))
        .collect();
    // gzip-wrapped strings too (pako's inflate reads both wrappers).
    let gzip: Vec<(&str, String)> = texts
        .iter()
        .take(200)
        .map(|t| ("gzip", t.clone()))
        .collect();
    if let Some(answers) = oracle(&gzip) {
        encoded.extend(
            answers
                .into_iter()
                .map(|a| a.expect("gzip").as_str().expect("base64").to_owned()),
        );
    }
    let inputs: Vec<String> = encoded
        .iter()
        .flat_map(|s| [s.clone(), misspell(&mut g, s), misspell(&mut g, s)])
        .collect();
    check("inflate", &inputs, |s| {
        arvo_runtime::codec::decompress_str(s)
            .map(Value::String)
            .map_err(|e| e.to_string())
    });
}

/// A subject whose compressed bytes are not UTF-8: Node reads them with U+FFFD in place of each
/// bad sequence (and the reference goes on with that text); here decoding is strict and refuses
/// it (a deliberate difference: a subject is this crate's own JSON, so such bytes are damage).
#[test]
fn subjects_whose_bytes_are_not_utf8_are_refused() {
    let bytes = ["7b2261223a2280227d", "ff", "c3", "eda080", "7b7d80"];
    let requests: Vec<(&str, String)> = bytes
        .iter()
        .map(|b| ("deflateHex", (*b).to_owned()))
        .collect();
    let Some(encoded) = oracle(&requests) else {
        return;
    };
    let encoded: Vec<String> = encoded
        .into_iter()
        .map(|a| a.expect("deflate").as_str().expect("base64").to_owned())
        .collect();
    let requests: Vec<(&str, String)> = encoded.iter().map(|s| ("inflate", s.clone())).collect();
    let decoded = oracle(&requests).expect("the oracle ran once already");
    for ((s, js), hex) in encoded.iter().zip(decoded).zip(bytes) {
        let js = js.expect("Node decodes any bytes");
        assert!(
            js.as_str().expect("text").contains('\u{fffd}'),
            "{hex}: {js}"
        );
        assert_eq!(
            arvo_runtime::codec::decompress_str(s),
            Err(arvo_runtime::codec::CodecError::Utf8),
            "{hex}"
        );
    }
}

/// A random zod schema, as the JavaScript expression that builds it, of the kinds the table in
/// `contract::schema`'s docs maps (the ones it lists as indistinguishable left out).
fn zod_schema(g: &mut Gen, depth: usize) -> String {
    let n = |g: &mut Gen| g.below(6);
    let mut s = match g.below(if depth == 0 { 7 } else { 11 }) {
        0 | 1 => {
            // At most one format: zod-to-json-schema writes two as an `anyOf` of formats,
            // which accepts a string either one accepts (zod wants both).
            let mut s = "z.string()".to_owned();
            let mut format = false;
            for _ in 0..g.below(3) {
                let check = g.below(12);
                // `.length(n)` and another bound: the exported bounds no longer show which
                // came from `.length` (zod's `exact`); bounds are drawn without it here.
                // Nor a bound twice: the exported schema keeps the tighter one only.
                // Nor `.min(n).max(n)`, which exports as `.length(n)` does: one bound at most.
                if check <= 2 && [".min", ".max", ".length"].iter().any(|b| s.contains(b)) {
                    continue;
                }
                if (3..=11).contains(&check) && check != 6 {
                    if format {
                        continue;
                    }
                    format = true;
                }
                s.push_str(&match check {
                    0 => format!(".min({})", n(g)),
                    1 => format!(".max({})", n(g)),
                    2 => format!(".length({})", n(g)),
                    3 => ".email()".to_owned(),
                    4 => ".url()".to_owned(),
                    5 => ".uuid()".to_owned(),
                    6 => ".regex(/^[a-z]+$/)".to_owned(),
                    7 => ".datetime({ offset: true })".to_owned(),
                    8 => ".date()".to_owned(),
                    9 => ".time()".to_owned(),
                    10 => ".ip()".to_owned(),
                    _ => ".duration()".to_owned(),
                });
            }
            s
        }
        2 => {
            let mut s = "z.number()".to_owned();
            for _ in 0..g.below(3) {
                let k = g.below(7) as i64 - 2;
                let check = g.below(9);
                // A bound once per side (the exported schema keeps the tighter one only).
                let lower = [1, 3, 5, 6].contains(&check);
                let upper = [2, 4, 8].contains(&check);
                if lower
                    && [".min(", ".gt(", ".positive", ".nonneg"]
                        .iter()
                        .any(|b| s.contains(b))
                    || upper && [".max(", ".lt("].iter().any(|b| s.contains(b))
                    || check == 7 && s.contains(".multipleOf")
                    // `.int()` only first: the exported schema writes it as `type:
                    // "integer"`, which does not keep its place among the checks.
                    || check == 0 && s != "z.number()"
                {
                    continue;
                }
                s.push_str(&match check {
                    0 => ".int()".to_owned(),
                    1 => format!(".min({k})"),
                    2 => format!(".max({k})"),
                    3 => format!(".gt({k})"),
                    4 => format!(".lt({k})"),
                    5 => ".positive()".to_owned(),
                    6 => ".nonnegative()".to_owned(),
                    7 => format!(".multipleOf({})", g.pick(&["2", "3", "0.5"])),
                    _ => format!(".max({k}.5)"),
                });
            }
            s
        }
        3 => (*g.pick(&["z.boolean()", "z.null()", "z.any()"])).to_owned(),
        4 => (*g.pick(&[
            r#"z.enum(["north", "south"])"#,
            r#"z.enum(["x"])"#,
            r#"z.literal("x")"#,
            "z.literal(5)",
            "z.literal(true)",
        ]))
        .to_owned(),
        5 | 6 => format!(
            "z.array({}){}",
            zod_schema(g, depth.saturating_sub(1)),
            g.pick(&["", "", ".min(1)", ".max(2)", ".length(2)", ".nonempty()"])
        ),
        7 | 8 => zod_object(g, depth - 1),
        9 => {
            // Not `z.null()` last: `z.union([s, z.null()])` exports as `s.nullable()` does
            // (`anyOf: [s, {type: "null"}]`), and is reported as `.nullable()` (module docs).
            // Nor two equal members, nor two `z.enum`s: zod-to-json-schema writes one. Nor a
            // record beside an object: `parse` picks a union's member by its JSON type, required
            // keys and literals, not by validating it (see `Schema::parse`).
            let first = zod_schema(g, depth - 1);
            let last = loop {
                let s = zod_schema(g, depth - 1);
                let both = |a: &str| first.starts_with(a) && s.starts_with(a);
                let record_and_object = ["z.record", "z.object"]
                    .iter()
                    .all(|k| first.starts_with(k) || s.starts_with(k));
                if !s.starts_with("z.null()") && s != first && !both("z.enum") && !record_and_object
                {
                    break s;
                }
            };
            format!("z.union([{first}, {last}])")
        }
        _ => format!("z.record({})", zod_schema(g, depth - 1)),
    };
    match g.below(8) {
        0 => s.push_str(".optional()"),
        1 => s.push_str(".nullable()"),
        2 => s.push_str(".nullable().optional()"),
        _ => {}
    }
    s
}

fn zod_object(g: &mut Gen, depth: usize) -> String {
    let fields: Vec<String> = (0..=g.below(3))
        .map(|i| format!("p{i}: {}", zod_schema(g, depth)))
        .collect();
    format!("z.object({{{}}})", fields.join(", "))
}

/// Data that now fits a schema above and now misses it: the same field names, values of every
/// kind the leaf checks look at.
fn zod_data(g: &mut Gen, depth: usize) -> Value {
    const STRINGS: &[&str] = &[
        "",
        "a",
        "ab",
        "abc",
        "abcde",
        "ABC",
        "north",
        "south",
        "x",
        "a@b.co",
        "not an email",
        "https://example.com/x",
        "example.com",
        "123e4567-e89b-12d3-a456-426614174000",
        "123e4567-e89b-12d3-a456-42661417400",
        "2024-01-01T00:00:00Z",
        "2024-01-01T00:00:00+02:00",
        "2024-01-01",
        "2024-13-01",
        "12:00:00",
        "25:00",
        "127.0.0.1",
        "::1",
        "256.1.1.1",
        "P1D",
        "PT1H30M",
        "P",
        "é",
        "\u{0}",
        // What the formats' own rules disagree on at the edges.
        "a@b",
        "a..b@c.co",
        ".a@b.co",
        "a@b.c",
        "A@B.CO",
        "a+b@c.io",
        "a@[1.2.3.4]",
        "a b@c.co",
        "a@b-.co",
        "a@-b.co",
        "a@b.co.",
        "\"a\"@b.co",
        "é@b.co",
        "http://",
        "mailto:x",
        "x:y",
        "https://ex ample.com",
        "ftp://a",
        "http://a:99999",
        "//a.b",
        "https://a.b/\u{e9}",
        "1.2.3",
        "01.2.3.4",
        "1.2.3.4",
        "0.0.0.0",
        "::",
        "fe80::1%eth0",
        "2001:db8::1",
        "::ffff:1.2.3.4",
        "1:2:3:4:5:6:7:8:9",
        "12:00",
        "12:00:00.123",
        "23:59:60",
        "00:00:00Z",
        "12:00:00+01:00",
        "2024-02-30",
        "2023-02-29",
        "2024-02-29",
        "0000-01-01",
        "20240101",
        "P1Y2M3DT4H5M6S",
        "PT",
        "P1.5D",
        "-P1D",
        "P1W",
        "P1DT",
        "PT1.5S",
        "P1,5Y",
        "PT-1H",
        "00000000-0000-0000-0000-000000000000",
        "123E4567-E89B-12D3-A456-426614174000",
        "123e4567e89b12d3a456426614174000",
        "2024-01-01T00:00:00.123456789Z",
        "2024-01-01T00:00Z",
        "2024-01-01t00:00:00z",
        "2024-01-01T24:00:00Z",
    ];
    match g.below(if depth == 0 { 9 } else { 12 }) {
        0 | 1 => json!(g.pick(STRINGS)),
        2 => json!(g.below(9) as i64 - 3),
        // Not 1e21 and up: zod's `multipleOf` reads their digits through `toFixed`, which
        // writes them in exponent form, and calls 1e21 no multiple of 2 (this crate does not).
        3 => json!(g.pick(&[0.5, -1.5, 2.5, 1e20, 3.0, 1.25])),
        4 => json!(g.pick(&[true, false])),
        5 => Value::Null,
        6..=8 if depth == 0 => json!(g.pick(STRINGS)),
        6 => Value::Null,
        7 | 8 => Value::Array((0..g.below(4)).map(|_| zod_data(g, depth - 1)).collect()),
        _ => zod_object_data(g, depth - 1),
    }
}

fn zod_object_data(g: &mut Gen, depth: usize) -> Value {
    let mut m = serde_json::Map::new();
    for _ in 0..=g.below(4) {
        let key = g.pick(&["p0", "p1", "p2", "p0", "p1", "extra"]);
        m.insert(key.to_owned(), zod_data(g, depth));
    }
    Value::Object(m)
}

/// A value as JavaScript's `JSON.stringify` writes it (key order kept, numbers as JavaScript
/// writes them).
fn js_stringify(v: &Value) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, JsFormatter);
    serde::Serialize::serialize(v, &mut ser).expect("JSON");
    String::from_utf8(out).expect("UTF-8")
}

#[test]
fn payload_issues_and_parsed_data_match_zod() {
    use arvo_runtime::contract::Schema;
    let mut g = Gen::new(9);
    let mut inputs = Vec::new();
    for _ in 0..CASES / 12 {
        let schema = zod_object(&mut g, 2);
        for _ in 0..8 {
            let data = zod_object_data(&mut g, 2);
            inputs.push(json!({ "schema": schema, "data": data }).to_string());
        }
    }
    let requests: Vec<(&str, String)> = inputs.iter().map(|s| ("zod", s.clone())).collect();
    let Some(answers) = oracle(&requests) else {
        return;
    };
    let mut differences = Vec::new();
    let mut built: std::collections::HashMap<String, Schema> = std::collections::HashMap::new();
    for (input, js) in inputs.iter().zip(answers) {
        let js = js.unwrap_or_else(|e| panic!("{input}: the zod oracle threw {e}"));
        let req: Value = serde_json::from_str(input).expect("JSON");
        // One schema serves its 8 data, as a contract's serves its events.
        let key = js["jsonSchema"].to_string();
        let schema = match built.get(&key) {
            Some(schema) => schema.clone(),
            None => match Schema::new(js["jsonSchema"].clone()) {
                Ok(schema) => built.entry(key).or_insert(schema).clone(),
                Err(e) => {
                    let refused = format!("  schema {}\n    refused: {e}", req["schema"]);
                    differences.push(refused);
                    continue;
                }
            },
        };
        let ours = match schema.validate(&req["data"]) {
            Err(issues) => {
                let v: Value = serde_json::from_str(&issues.to_string()).expect("issues JSON");
                (Some(js_stringify(&v)), None)
            }
            Ok(()) => {
                let parsed = schema.parse(&req["data"]).expect("valid data parses");
                (None, Some(js_stringify(&parsed)))
            }
        };
        let theirs = (
            js["issues"].as_str().map(str::to_owned),
            js["data"].as_str().map(str::to_owned),
        );
        if ours != theirs {
            differences.push(format!(
                "  schema {}\n  data {}\n    rust {ours:?}\n    zod  {theirs:?}",
                req["schema"], req["data"]
            ));
        }
    }
    assert_same("zod", &differences, inputs.len(), 8);
}
