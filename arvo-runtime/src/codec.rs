//! The reference's compressed-JSON codec, used by orchestration subjects and `ARVO_MANAGED`
//! event ids: compact JSON -> zlib deflate (level 6, stock zlib, so the bytes equal the
//! reference's) -> standard base64 with padding. Decoding is lenient like Node's
//! `Buffer.from(s, "base64")` and pako's `inflate`, and refuses to inflate more than
//! [`MAX_DECODED_LEN`] bytes (a crafted subject cannot become a decompression bomb).

use std::io::Write;

/// The largest decoded JSON text the codec accepts (64 KiB). The reference has no limit; its
/// subjects are about 130 bytes of JSON.
pub const MAX_DECODED_LEN: usize = 64 * 1024;

/// Why a compressed string could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The text is not zlib (or gzip) data after base64 decoding.
    #[error("incorrect header check or corrupt deflate stream")]
    Inflate,
    /// The inflated data is larger than [`MAX_DECODED_LEN`].
    #[error("decoded data exceeds {MAX_DECODED_LEN} bytes")]
    TooLarge,
    /// The inflated bytes are not UTF-8.
    #[error("decoded data is not UTF-8")]
    Utf8,
    /// The inflated text is not JSON of the expected shape.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
}

/// Compresses the compact JSON text `json` the way the reference does.
pub fn compress_str(json: &str) -> String {
    let mut enc = flate2::write::ZlibEncoder::new(
        Vec::with_capacity(json.len()),
        flate2::Compression::new(6),
    );
    // Writing into a Vec cannot fail.
    let deflated = enc
        .write_all(json.as_bytes())
        .and_then(|()| enc.finish())
        .unwrap_or_default();
    base64_encode(&deflated)
}

/// Serialises `value` as compact JSON (its field order) and compresses it.
pub fn compress_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    Ok(compress_str(&serde_json::to_string(value)?))
}

/// Decodes a compressed string to its JSON text.
pub fn decompress_str(s: &str) -> Result<String, CodecError> {
    let raw = base64_decode_lenient(s);
    let bytes = inflate(&raw)?;
    String::from_utf8(bytes).map_err(|_| CodecError::Utf8)
}

/// Decodes a compressed string and parses its JSON as `T`.
pub fn decompress_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, CodecError> {
    Ok(serde_json::from_str(&decompress_str(s)?)?)
}

fn inflate(data: &[u8]) -> Result<Vec<u8>, CodecError> {
    use std::io::Read;
    let gzip = data.starts_with(&[0x1f, 0x8b]);
    let mut out = Vec::with_capacity(256);
    let limit = MAX_DECODED_LEN as u64 + 1;
    let read = if gzip {
        flate2::read::GzDecoder::new(data)
            .take(limit)
            .read_to_end(&mut out)
    } else {
        flate2::read::ZlibDecoder::new(data)
            .take(limit)
            .read_to_end(&mut out)
    };
    read.map_err(|_| CodecError::Inflate)?;
    if out.len() > MAX_DECODED_LEN {
        return Err(CodecError::TooLarge);
    }
    Ok(out)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Node's lenient base64: both alphabets, padding optional, other characters skipped, decoding
/// stops at the first `=`.
fn base64_decode_lenient(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in s.as_bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(matches!(decompress_str(&s), Err(CodecError::TooLarge)));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(matches!(
            decompress_str("not a subject"),
            Err(CodecError::Inflate)
        ));
        assert!(decompress_str("").is_err());
    }
}
