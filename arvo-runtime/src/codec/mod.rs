//! The reference's compressed-JSON codec, used by orchestration subjects and `ARVO_MANAGED`
//! event ids.
//!
//! * **Encoding** (spec §0.5): compact JSON -> zlib deflate at level 6 with *stock* zlib
//!   (`flate2`'s `zlib` feature), so the bytes equal the reference's (pako matches stock zlib;
//!   miniz_oxide and zlib-rs do not) -> standard base64 with `=` padding.
//! * **Decoding** is as lenient as the reference's `Buffer.from(s, "base64")` + pako `inflate`:
//!   both base64 alphabets, optional padding, other characters skipped, decoding stops at the
//!   first `=`; zlib *and* gzip wrappers (raw deflate is refused); concatenated streams are
//!   inflated one after the other, like pako does. The first zlib stream goes through a small
//!   inflater specialised for subject-sized streams (the private `small` module: ~7.5k instead
//!   of ~20k instructions for a subject); whenever it gives up (anything unusual, corrupt or
//!   too big), `zlib-rs` (the fastest general inflater measured for ~130-byte subjects, see
//!   `floor.md`) inflates the same input, so results and errors are exactly zlib-rs's. Tables,
//!   state and buffers are per-thread and reused from call to call. Base64 goes sixteen
//!   characters per step through per-position tables while the input is plain digits (~0.8k
//!   instructions for a subject) and character by character from the first other character on.
//!
//! # Limits
//!
//! The reference has none; this codec refuses, before any work, an input longer than
//! [`MAX_ENCODED_LEN`] bytes, and stops inflating once the output would exceed
//! [`MAX_DECODED_LEN`] bytes, so a crafted string cannot become a decompression bomb (deflate
//! expands up to ~1000:1). Real subjects are about 180 characters that inflate to ~130 bytes.
//!
//! ```
//! use arvo_runtime::codec;
//! let s = codec::compress_str(r#"{"a":"b"}"#);
//! assert_eq!(s, "eJyrVkpUslJKUqoFAAxwAn4=");
//! assert_eq!(codec::decompress_str(&s).unwrap(), r#"{"a":"b"}"#);
//! ```

use std::cell::RefCell;
use std::io::Write;

use zlib_rs::{Inflate, InflateFlush, Status};

mod small;

/// The largest decoded (inflated) text the codec accepts: 64 KiB. The reference has no limit;
/// its subjects are about 130 bytes of JSON, a subject with a large `meta` a few KiB.
pub const MAX_DECODED_LEN: usize = 64 * 1024;

/// The longest encoded string the codec will look at: 96 KiB. Any stream whose output fits
/// [`MAX_DECODED_LEN`] fits in it (deflate's worst case is the input plus 5 bytes per 16 KiB
/// block, about 87,500 base64 characters for 64 KiB), with room for padding and line breaks.
pub const MAX_ENCODED_LEN: usize = 96 * 1024;

/// Why a compressed string could not be decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CodecError {
    /// The bytes are not a zlib (or gzip) stream after base64 decoding, or the stream is
    /// corrupt. The reference's pako throws a bare string here, so its error message reads
    /// `undefined`.
    #[error("incorrect header check or corrupt deflate stream")]
    Inflate,
    /// The stream ended before its end marker (this includes empty input). pako then returns
    /// no data, which the reference decodes as the empty string.
    #[error("the compressed stream is truncated")]
    Truncated,
    /// The inflated data is larger than [`MAX_DECODED_LEN`].
    #[error("decoded data exceeds {MAX_DECODED_LEN} bytes")]
    TooLarge,
    /// The encoded string is longer than [`MAX_ENCODED_LEN`].
    #[error("encoded string is {len} bytes long; at most {MAX_ENCODED_LEN} are accepted")]
    InputTooLong {
        /// The length of the refused string, in bytes.
        len: usize,
    },
    /// The inflated bytes are not UTF-8 ([`decompress_str`] is strict; subject parsing
    /// replaces bad sequences like the reference's `TextDecoder`).
    #[error("decoded data is not UTF-8")]
    Utf8,
    /// The inflated text is not JSON of the expected shape (serde_json's message, cut to a
    /// bounded prefix: [`quote_prefix`](crate::issue::quote_prefix)).
    #[error("{0}")]
    Json(String),
}

impl From<serde_json::Error> for CodecError {
    fn from(e: serde_json::Error) -> Self {
        CodecError::Json(crate::issue::quote_prefix_owned(&e.to_string()))
    }
}

/// Compresses the JSON text `json` the way the reference does (zlib level 6, stock zlib,
/// padded standard base64).
///
/// ```
/// assert!(arvo_runtime::codec::compress_str("{}").starts_with("eJ"));
/// ```
pub fn compress_str(json: &str) -> String {
    thread_local! {
        // A deflate state is ~270 KB; making one per call costs more than the compression.
        static DEFLATE: RefCell<(Option<flate2::Compress>, Vec<u8>)> = const { RefCell::new((None, Vec::new())) };
    }
    let kept = DEFLATE.try_with(|cell| {
        let mut kept = cell.try_borrow_mut().ok()?;
        let (state, out) = &mut *kept;
        let state =
            state.get_or_insert_with(|| flate2::Compress::new(flate2::Compression::new(6), true));
        state.reset();
        let ok = deflate_into(state, json.as_bytes(), out);
        ok.then(|| base64_encode(out))
    });
    if let Ok(Some(s)) = kept {
        return s;
    }
    // Nested or failed use of the kept state: a one-off encoder.
    let mut enc = flate2::write::ZlibEncoder::new(
        Vec::with_capacity(json.len() / 2 + 32),
        flate2::Compression::new(6),
    );
    // Writing into a Vec cannot fail.
    let deflated = enc
        .write_all(json.as_bytes())
        .and_then(|()| enc.finish())
        .unwrap_or_default();
    base64_encode(&deflated)
}

/// Deflates all of `input` into `out` (cleared first) with a freshly reset `state`.
fn deflate_into(state: &mut flate2::Compress, input: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    // zlib's compressBound, so one call normally suffices.
    out.reserve(input.len() + (input.len() >> 12) + (input.len() >> 14) + 64);
    loop {
        let done = usize::try_from(state.total_in()).unwrap_or(usize::MAX);
        let rest = input.get(done..).unwrap_or_default();
        match state.compress_vec(rest, out, flate2::FlushCompress::Finish) {
            Ok(flate2::Status::StreamEnd) => return true,
            Ok(_) => out.reserve(out.capacity().max(64)),
            Err(_) => return false,
        }
    }
}

/// Serialises `value` as compact JSON (its field order) and compresses it.
///
/// ```
/// let s = arvo_runtime::codec::compress_json(&serde_json::json!({"a": "b"})).unwrap();
/// assert_eq!(s, "eJyrVkpUslJKUqoFAAxwAn4=");
/// ```
pub fn compress_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    Ok(compress_str(&serde_json::to_string(value)?))
}

/// Decodes a compressed string to its text (strict UTF-8).
///
/// ```
/// use arvo_runtime::codec::{decompress_str, CodecError};
/// assert_eq!(decompress_str("eJyrVkpUslJKUqoFAAxwAn4").unwrap(), r#"{"a":"b"}"#);
/// assert_eq!(decompress_str("not a subject"), Err(CodecError::Inflate));
/// ```
pub fn decompress_str(s: &str) -> Result<String, CodecError> {
    with_decompressed(s, |bytes| {
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| CodecError::Utf8)
    })?
}

/// Decodes a compressed string and parses its JSON as `T`.
///
/// ```
/// let v: serde_json::Value = arvo_runtime::codec::decompress_json("eJyrVkpUslJKUqoFAAxwAn4=").unwrap();
/// assert_eq!(v["a"], "b");
/// ```
pub fn decompress_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, CodecError> {
    with_decompressed(s, |bytes| {
        serde_json::from_slice(bytes).map_err(CodecError::from)
    })?
}

/// Decodes a compressed string and hands the inflated bytes to `f`, without copying them out
/// of the per-thread buffer. This is the fast path the subject parser uses.
///
/// ```
/// let n = arvo_runtime::codec::with_decompressed("eJyrVkpUslJKUqoFAAxwAn4=", |b| b.len()).unwrap();
/// assert_eq!(n, 9);
/// ```
pub fn with_decompressed<R>(s: &str, f: impl FnOnce(&[u8]) -> R) -> Result<R, CodecError> {
    if s.len() > MAX_ENCODED_LEN {
        return Err(CodecError::InputTooLong { len: s.len() });
    }
    thread_local! {
        static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::new());
    }
    let mut f = Some(f);
    // `Ok(None)`: the scratch is unavailable (a nested call from inside `f`, or the
    // thread-local is being destroyed); fresh buffers are used then.
    let reused = SCRATCH
        .try_with(|cell| -> Result<Option<R>, CodecError> {
            let Ok(mut scratch) = cell.try_borrow_mut() else {
                return Ok(None);
            };
            let n = decode_into(s, &mut scratch)?;
            Ok(f.take()
                .map(|f| f(scratch.out.get(..n).unwrap_or_default())))
        })
        .unwrap_or(Ok(None))?;
    if let Some(r) = reused {
        return Ok(r);
    }
    let mut scratch = Scratch::new();
    let n = decode_into(s, &mut scratch)?;
    let f = f.take().ok_or(CodecError::Inflate)?;
    Ok(f(scratch.out.get(..n).unwrap_or_default()))
}

/// Per-thread buffers and inflate state, reused from call to call.
struct Scratch {
    /// The base64-decoded input is a prefix of this buffer, which only grows (see
    /// [`base64_decode_lenient`]).
    raw: Vec<u8>,
    /// Output buffer of `MAX_DECODED_LEN + 1` bytes: one more than allowed, so an overflow is
    /// seen.
    out: Vec<u8>,
    /// The zlib-rs state (the fallback), made on first use.
    zlib: Option<Inflate>,
    /// The small-stream inflater's tables (the fast path).
    small: small::Inflater,
}

impl Scratch {
    /// Empty buffers; the output buffer and the zlib-rs state are made on first use.
    fn new() -> Self {
        Scratch {
            raw: Vec::with_capacity(256),
            out: Vec::new(),
            zlib: None,
            small: small::Inflater::new(),
        }
    }
}

/// Base64-decodes and inflates `s` into `scratch.out`; returns the output length.
///
/// Never inlined: one copy serves every `with_decompressed` instance, and profiles see the
/// codec's whole cost under this name.
#[inline(never)]
fn decode_into(s: &str, scratch: &mut Scratch) -> Result<usize, CodecError> {
    let raw = base64_decode_lenient(s, &mut scratch.raw);
    if scratch.out.len() != MAX_DECODED_LEN + 1 {
        scratch.out = vec![0; MAX_DECODED_LEN + 1];
    }
    inflate_all(
        raw,
        &mut scratch.out,
        &mut scratch.zlib,
        Some(&mut scratch.small),
    )
}

/// pako's `inflate(data)`: one zlib or gzip stream, then (as pako does) further streams while
/// input remains and the next byte is not zero.
///
/// With `small`, the first stream is tried with the small inflater first; it either decodes
/// the stream exactly as zlib-rs would or gives up, and then zlib-rs starts from the beginning.
fn inflate_all(
    data: &[u8],
    out: &mut [u8],
    zlib: &mut Option<Inflate>,
    small: Option<&mut small::Inflater>,
) -> Result<usize, CodecError> {
    let (mut pos, mut written) = (0usize, 0usize);
    let cap = out.len().min(MAX_DECODED_LEN);
    if let Some(small) = small
        && let Some((consumed, produced)) =
            small.inflate_zlib(data, out.get_mut(..cap).unwrap_or_default())
    {
        match data.get(consumed) {
            Some(&b) if b != 0 => (pos, written) = (consumed, produced),
            _ => return Ok(produced),
        }
    }
    loop {
        let input = data.get(pos..).unwrap_or_default();
        let output = out.get_mut(written..).unwrap_or_default();
        let gzip = input.starts_with(&[0x1f, 0x8b]);
        let (status, consumed, produced) = if gzip {
            // Rare: a fresh gzip state (window bits 16 + 15).
            let mut st = Inflate::new(true, 31);
            run(&mut st, input, output)?
        } else {
            let st = match zlib {
                Some(st) => {
                    st.reset(true);
                    st
                }
                None => zlib.insert(Inflate::new(true, 15)),
            };
            run(st, input, output)?
        };
        pos += consumed;
        written += produced;
        if written > MAX_DECODED_LEN {
            return Err(CodecError::TooLarge);
        }
        match status {
            Status::StreamEnd => match data.get(pos) {
                Some(&b) if b != 0 => continue,
                _ => return Ok(written),
            },
            // The output has room left (see the cap check above), so the input ran out early.
            Status::Ok | Status::BufError => return Err(CodecError::Truncated),
        }
    }
}

/// One `decompress` call of `st`: its status, and the bytes it consumed and produced.
fn run(
    st: &mut Inflate,
    input: &[u8],
    output: &mut [u8],
) -> Result<(Status, usize, usize), CodecError> {
    let (in0, out0) = (st.total_in(), st.total_out());
    let status = st
        .decompress(input, output, InflateFlush::NoFlush)
        .map_err(|_| CodecError::Inflate)?;
    let consumed = usize::try_from(st.total_in() - in0).unwrap_or(usize::MAX);
    let produced = usize::try_from(st.total_out() - out0).unwrap_or(usize::MAX);
    Ok((status, consumed, produced))
}

/// The inflater behind the codec's fast path, alone: decodes the one zlib stream at the start
/// of `input` into `out` and returns the bytes consumed and produced, or `None` whenever it
/// gives up (the codec then runs zlib-rs on the same input). For the `inflate_diff` fuzz
/// target (reached as `arvo_runtime::__private::inflate_small`), which checks it against
/// zlib-rs; not public API.
pub(crate) fn inflate_small(input: &[u8], out: &mut [u8]) -> Option<(usize, usize)> {
    small::inflate_zlib(input, out)
}

/// The standard base64 alphabet.
const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with `=` padding.
fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(B64[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// [`UNB64`]'s mark for characters Node ignores.
const SKIP: u8 = 0xff;
/// [`UNB64`]'s mark for `=`, where Node stops decoding.
const STOP: u8 = 0xfe;
/// Base64 digit values for both alphabets; `SKIP` for characters Node ignores, `STOP` for `=`.
static UNB64: [u8; 256] = {
    let mut t = [SKIP; 256];
    let mut i = 0;
    while i < 64 {
        t[B64[i] as usize] = i as u8;
        i += 1;
    }
    t[b'-' as usize] = 62;
    t[b'_' as usize] = 63;
    t[b'=' as usize] = STOP;
    t
};

/// [`UNB64_AT`]'s value for anything but a base64 digit: its high byte is set, which no
/// combination of digits sets.
const NOT_DIGIT: u32 = 0xff00_0000;
/// For each position `k` of a group of four characters, the digit value of each character
/// shifted to its place in the group's 24 bits (`value << (18 - 6 k)`), or [`NOT_DIGIT`]. ORing
/// a group's four entries gives its three bytes, or a number with the high byte set.
static UNB64_AT: [[u32; 256]; 4] = {
    let mut t = [[NOT_DIGIT; 256]; 4];
    let mut c = 0;
    while c < 256 {
        let v = UNB64[c];
        if v < 64 {
            let mut k = 0;
            while k < 4 {
                t[k][c] = (v as u32) << (18 - 6 * k);
                k += 1;
            }
        }
        c += 1;
    }
    t
};

/// Node's lenient base64 of `s` into `buf`, returning the decoded bytes (a prefix of `buf`):
/// both alphabets, padding optional, other characters skipped, decoding stops at the first
/// `=`; a trailing lone character is dropped.
///
/// `buf` is a scratch buffer that only grows (it is not cleared, so no call pays for zeroing
/// it). The common case, plain digits of either alphabet (or both), goes sixteen characters
/// (four groups, twelve bytes) per step through [`UNB64_AT`], then one group per step; at the
/// first step that meets anything else (padding, a line break, junk), the rest is left to
/// [`base64_decode_lenient_from`], which goes on character by character. A step starts after
/// a whole number of groups, so the handover needs no carried bits.
#[inline(never)]
fn base64_decode_lenient<'a>(s: &str, buf: &'a mut Vec<u8>) -> &'a [u8] {
    let bytes = s.as_bytes();
    // Four characters give at most three bytes, a tail of three at most two.
    let need = bytes.len() / 4 * 3 + 2;
    if buf.len() < need {
        buf.resize(need, 0);
    }
    let out = buf.as_mut_slice();
    let [t0, t1, t2, t3] = &UNB64_AT;
    let group = |g: &[u8; 4]| {
        t0[usize::from(g[0])]
            | t1[usize::from(g[1])]
            | t2[usize::from(g[2])]
            | t3[usize::from(g[3])]
    };
    let mut steps = 0;
    for (chars, bytes) in bytes.chunks_exact(16).zip(out.chunks_exact_mut(12)) {
        let (g, _) = chars.as_chunks::<4>();
        let [n0, n1, n2, n3] = [group(&g[0]), group(&g[1]), group(&g[2]), group(&g[3])];
        if (n0 | n1 | n2 | n3) & NOT_DIGIT != 0 {
            break;
        }
        let high = u64::from(n0) << 40 | u64::from(n1) << 16 | u64::from(n2) >> 8;
        let low = n2 << 24 | n3;
        bytes[..8].copy_from_slice(&high.to_be_bytes());
        bytes[8..].copy_from_slice(&low.to_be_bytes());
        steps += 1;
    }
    let (mut i, mut j) = (steps * 16, steps * 12);
    let rest = bytes.get(i..).unwrap_or_default();
    let room = out.get_mut(j..).unwrap_or_default();
    for (chars, bytes) in rest.as_chunks::<4>().0.iter().zip(room.chunks_exact_mut(3)) {
        let n = group(chars);
        if n & NOT_DIGIT != 0 {
            break;
        }
        bytes.copy_from_slice(&n.to_be_bytes()[1..]);
        i += 4;
        j += 3;
    }
    let n = base64_decode_lenient_from(bytes.get(i..).unwrap_or_default(), out, j);
    out.get(..n).unwrap_or_default()
}

/// The lenient base64 decoder, one character at a time: decodes `bytes` (which start a group)
/// into `out` from `j` on and returns the new end of the output. `out` must have room for
/// three bytes per four characters of `bytes` (what does not fit is dropped).
fn base64_decode_lenient_from(bytes: &[u8], out: &mut [u8], mut j: usize) -> usize {
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in bytes {
        let v = UNB64[usize::from(c)];
        if v == STOP {
            break;
        }
        if v == SKIP {
            continue;
        }
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            if let Some(b) = out.get_mut(j) {
                *b = (acc >> bits) as u8;
                j += 1;
            }
            acc &= (1 << bits) - 1;
        }
    }
    j
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn zlib_level(s: &str, level: u32) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(level));
        e.write_all(s.as_bytes()).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn reference_id_vector() {
        let s =
            compress_str(r#"{"uuid":"00000000-0000-4000-8000-000000000000","value":"order-1"}"#);
        assert_eq!(
            s,
            "eJyrViotzUxRslIygAJdMGECIixgXBhQ0lEqS8wpTQUqzy9KSS3SNVSqBQDwRQ+3"
        );
        let back = decompress_str("eJyrViotzUxRslKyME41NLVIs9S1NDdO0TVJNDPStUgzNdZNtDA1TrM0MExLNE9T0lEqS8wpTQUqz63UzU6tVKoFADZUEgk=").unwrap();
        assert_eq!(
            back,
            r#"{"uuid":"83e158f9-973d-4a62-8f53-a853f901fa7f","value":"my-key"}"#
        );
    }

    #[test]
    fn bomb_is_refused() {
        let big = "a".repeat(MAX_DECODED_LEN * 4);
        let s = compress_str(&big);
        assert!(s.len() < 1000, "a bomb is small");
        assert_eq!(decompress_str(&s), Err(CodecError::TooLarge));
        // Exactly at the cap is fine, one byte more is not.
        let at = "a".repeat(MAX_DECODED_LEN);
        assert_eq!(
            decompress_str(&compress_str(&at)).unwrap().len(),
            MAX_DECODED_LEN
        );
        let over = "a".repeat(MAX_DECODED_LEN + 1);
        assert_eq!(
            decompress_str(&compress_str(&over)),
            Err(CodecError::TooLarge)
        );
    }

    #[test]
    fn long_input_is_refused_before_decoding() {
        let s = "A".repeat(MAX_ENCODED_LEN + 1);
        assert_eq!(
            decompress_str(&s),
            Err(CodecError::InputTooLong {
                len: MAX_ENCODED_LEN + 1
            })
        );
    }

    #[test]
    fn garbage_and_truncation() {
        assert_eq!(decompress_str("not a subject"), Err(CodecError::Inflate));
        assert_eq!(decompress_str(""), Err(CodecError::Truncated));
        let s = compress_str(r#"{"a":"b"}"#);
        assert_eq!(decompress_str(&s[..8]), Err(CodecError::Truncated));
    }

    #[test]
    fn lenient_inputs() {
        let json = r#"{"k":"value?>>value~~~"}"#;
        for level in [1, 6, 9] {
            let raw = zlib_level(json, level);
            let std = base64_encode(&raw);
            assert_eq!(decompress_str(&std).unwrap(), json);
            let url: String = std
                .trim_end_matches('=')
                .replace('+', "-")
                .replace('/', "_");
            assert_eq!(decompress_str(&url).unwrap(), json);
            let spaced: String = std.chars().flat_map(|c| [c, '\n']).collect();
            assert_eq!(decompress_str(&spaced).unwrap(), json);
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(json.as_bytes()).unwrap();
        assert_eq!(
            decompress_str(&base64_encode(&gz.finish().unwrap())).unwrap(),
            json
        );
        let mut raw =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        raw.write_all(json.as_bytes()).unwrap();
        assert_eq!(
            decompress_str(&base64_encode(&raw.finish().unwrap())),
            Err(CodecError::Inflate)
        );
    }

    #[test]
    fn concatenated_streams_like_pako() {
        let mut two = zlib_level("ab", 6);
        two.extend(zlib_level("cd", 6));
        assert_eq!(decompress_str(&base64_encode(&two)).unwrap(), "abcd");
        let mut zero_tail = zlib_level("ab", 6);
        zero_tail.extend([0, 1, 2]);
        assert_eq!(decompress_str(&base64_encode(&zero_tail)).unwrap(), "ab");
        let mut junk_tail = zlib_level("ab", 6);
        junk_tail.extend([7, 7]);
        assert_eq!(
            decompress_str(&base64_encode(&junk_tail)),
            Err(CodecError::Inflate)
        );
    }

    #[test]
    fn nested_use_does_not_panic() {
        let s = compress_str("xyz");
        let inner = with_decompressed(&s, |outer| {
            let inner = decompress_str(&s).unwrap();
            (outer.to_vec(), inner)
        })
        .unwrap();
        assert_eq!(inner.0, b"xyz");
        assert_eq!(inner.1, "xyz");
    }

    /// The reference's lenient base64, written plainly (Node's rules, one character at a time,
    /// independent of the decoder's tables): the oracle of the base64 property tests.
    fn node_base64(s: &str) -> Vec<u8> {
        let value = |c: char| match c {
            'A'..='Z' => Some(c as u32 - 'A' as u32),
            'a'..='z' => Some(c as u32 - 'a' as u32 + 26),
            '0'..='9' => Some(c as u32 - '0' as u32 + 52),
            '+' | '-' => Some(62),
            '/' | '_' => Some(63),
            _ => None,
        };
        let mut digits = Vec::new();
        for c in s.chars() {
            if c == '=' {
                break;
            }
            digits.extend(value(c));
        }
        let mut out = Vec::new();
        for group in digits.chunks(4) {
            let n = group.iter().fold(0u32, |acc, &d| acc << 6 | d) << (6 * (4 - group.len()));
            let bytes = n.to_be_bytes();
            // 4 digits give 3 bytes, 3 give 2, 2 give 1, a lone one none.
            out.extend_from_slice(&bytes[1..group.len()]);
        }
        out
    }

    /// The decoder on `s`, with a fresh scratch buffer (which it must grow enough) and with one
    /// left dirty by an earlier, longer decoding: both must give the same bytes.
    fn fast_base64(s: &str) -> Vec<u8> {
        let fresh = base64_decode_lenient(s, &mut Vec::new()).to_vec();
        let mut dirty = vec![0xa5; s.len() + 17];
        assert_eq!(base64_decode_lenient(s, &mut dirty), fresh, "{s:?}");
        fresh
    }

    #[test]
    fn unpadded_input_on_a_fresh_thread() {
        // A fresh thread's scratch buffer is empty and must grow enough for the unpadded tail
        // (two bytes more than three per whole group).
        std::thread::spawn(|| {
            assert_eq!(
                decompress_str("eJyrVkpUslJKUqoFAAxwAn4").unwrap(),
                r#"{"a":"b"}"#
            );
        })
        .join()
        .unwrap();
    }

    #[test]
    fn base64_edge_cases() {
        for s in [
            "",
            "Q",
            "QQ",
            "QUI",
            "QUJD",
            "QUJDRA",
            "QUJDRA==",
            "QUJDRA=junk",
            "QU JD\nRA",
            "=QUJD",
            "QUJDREVGR0hJSktMTU5PUA",
            "QUJDREVGR0hJSktMTU5PUA==",
            "QUJDREVGR0hJSktMTU5PUAQUJDREVGR0hJSktMTU5PUA",
            "QUJDREVGR0hJSkt-_U5PUA==",
            "QUJDREVGR0hJSkt+/U5PUA==",
            "QUJDREVGR0hJSkt+_U5PU\u{e9}A==",
            "QUJDREVGR0hJSktMTU5PUAQUJDRE=GR0hJSktMTU5PUA",
        ] {
            assert_eq!(fast_base64(s), node_base64(s), "{s:?}");
        }
        let subject = compress_str(r#"{"a":"b"}"#);
        assert_eq!(fast_base64(&subject), node_base64(&subject));
    }

    /// Characters the property tests build strings from: both alphabets, padding, white space,
    /// junk and non-ASCII.
    const B64_TEST_CHARS: &str =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_=\n\r\t .,!*é€\u{1F600}";

    fn b64_char() -> impl Strategy<Value = char> {
        prop::sample::select(B64_TEST_CHARS.chars().collect::<Vec<_>>())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// Arbitrary strings: junk, `=` anywhere, both alphabets mixed.
        #[test]
        fn base64_fast_path_matches_node_on_any_string(
            s in prop::collection::vec(b64_char(), 0..120)
                .prop_map(|v| v.into_iter().collect::<String>()),
        ) {
            prop_assert_eq!(fast_base64(&s), node_base64(&s));
        }

        /// Mostly valid base64 (the fast path's case) with a few changes: a character replaced
        /// or inserted, padding cut, the alphabet switched.
        #[test]
        fn base64_fast_path_matches_node_on_near_valid_strings(
            data in prop::collection::vec(any::<u8>(), 0..200),
            edits in prop::collection::vec((any::<usize>(), b64_char(), 0u8..3), 0..4),
            url in any::<bool>(),
            unpadded in any::<bool>(),
        ) {
            let mut s = base64_encode(&data);
            if url {
                s = s.replace('+', "-").replace('/', "_");
            }
            if unpadded {
                s = s.trim_end_matches('=').to_owned();
            }
            let mut chars: Vec<char> = s.chars().collect();
            for (at, c, how) in edits {
                let at = at % (chars.len() + 1);
                match how {
                    0 if at < chars.len() => chars[at] = c,
                    1 => chars.insert(at, c),
                    _ => chars.truncate(at),
                }
            }
            let s: String = chars.into_iter().collect();
            prop_assert_eq!(fast_base64(&s), node_base64(&s));
        }
    }
}
