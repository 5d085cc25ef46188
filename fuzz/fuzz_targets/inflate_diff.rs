//! The codec's small-stream inflater (its fast path) against zlib-rs (its fallback and
//! oracle): whenever the fast path returns a result, zlib-rs must succeed on the same input
//! with the same bytes consumed and produced, and the fast path must refuse the stream when its
//! output does not fit. The first byte picks how the rest is used:
//!
//! * 0: as a zlib stream, as is;
//! * 1: as deflate data behind a zlib header, with the Adler-32 trailer that makes it valid
//!   wherever zlib-rs can inflate the data (so the checksum does not hide decoding bugs);
//! * 2: as text to deflate with stock zlib (level from the first byte), which the fast path
//!   must decode; then damaged at a place and with a value taken from the text.
#![no_main]

use std::io::Write;

use arvo_runtime::__private;
use zlib_rs::{Inflate, InflateFlush, Status};

/// Output room: the codec's limit.
const CAP: usize = 64 * 1024;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            check(rest);
        }
        1 => {
            check(&with_trailer(rest));
        }
        _ => {
            let level = u32::from(mode / 3 % 10);
            let mut e =
                flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(level));
            let mut stream = e
                .write_all(rest)
                .and_then(|()| e.finish())
                .expect("deflating into a Vec");
            let fast = check(&stream);
            assert_eq!(
                fast,
                Some((stream.len(), rest.len())),
                "a stock zlib stream"
            );
            if let [.., at_hi, at_lo, value] = *rest {
                let at = usize::from(u16::from_le_bytes([at_lo, at_hi])) % stream.len();
                stream[at] ^= value.max(1);
                check(&stream);
            }
        }
    }
});

/// `body` behind a zlib header; if zlib-rs inflates it as raw deflate, with the right Adler-32
/// right after the deflate data (and the rest of `body` after that).
fn with_trailer(body: &[u8]) -> Vec<u8> {
    let mut stream = vec![0x78, 0x9c];
    let mut st = Inflate::new(false, 15);
    let mut out = vec![0; CAP];
    match st.decompress(body, &mut out, InflateFlush::NoFlush) {
        Ok(Status::StreamEnd) => {
            let (used, made) = (st.total_in() as usize, st.total_out() as usize);
            stream.extend(&body[..used]);
            stream.extend(zlib_rs::adler32::adler32(1, &out[..made]).to_be_bytes());
            stream.extend(&body[used..]);
        }
        _ => stream.extend(body),
    }
    stream
}

/// The differential check on one input; returns the fast path's `(consumed, produced)`.
fn check(input: &[u8]) -> Option<(usize, usize)> {
    let mut fast_out = vec![0; CAP];
    let fast = __private::inflate_small(input, &mut fast_out);
    let Some((consumed, produced)) = fast else {
        return None;
    };
    let mut st = Inflate::new(true, 15);
    let mut out = vec![0; CAP];
    let status = st.decompress(input, &mut out, InflateFlush::NoFlush);
    assert!(
        matches!(status, Ok(Status::StreamEnd)),
        "fast path decoded what zlib-rs refuses: {status:?}"
    );
    assert_eq!(
        (consumed, produced),
        (st.total_in() as usize, st.total_out() as usize)
    );
    assert!(fast_out[..produced] == out[..produced], "different bytes");
    if produced > 0 {
        assert_eq!(
            __private::inflate_small(input, &mut fast_out[..produced - 1]),
            None,
            "output does not fit"
        );
    }
    fast
}
