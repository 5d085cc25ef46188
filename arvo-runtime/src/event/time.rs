//! Event timestamps: the reference's `createTimestamp()` shape, in true UTC.

use std::time::{SystemTime, UNIX_EPOCH};

/// The current time as `YYYY-MM-DDTHH:MM:SS.sss+00:00`, the default `time` of a new event.
///
/// The reference (`createTimestamp`) writes the host's *local wall-clock* time with a
/// `+00:00` label on non-UTC hosts; this function always writes the real UTC instant in the
/// same textual shape.
///
/// ```
/// let t = arvo_runtime::event::now_timestamp();
/// assert_eq!(t.len(), 29);
/// assert!(t.ends_with("+00:00"));
/// assert!(arvo_runtime::rules::is_zod_datetime(&t));
/// ```
pub fn now_timestamp() -> String {
    format_timestamp(SystemTime::now())
}

/// Formats `t` as `YYYY-MM-DDTHH:MM:SS.sss+00:00` (UTC, milliseconds truncated).
///
/// Instants before 1970 are supported; years outside `0..=9999` are written with as many digits
/// as they need (such a `time` is then refused by event validation, as in the reference).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let t = UNIX_EPOCH + Duration::from_millis(1_714_564_800_123);
/// assert_eq!(arvo_runtime::event::format_timestamp(t), "2024-05-01T12:00:00.123+00:00");
/// ```
pub fn format_timestamp(t: SystemTime) -> String {
    // i64 milliseconds span ±292 million years; i128 division is a slow library call.
    let millis: i64 = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |m| -m),
    };
    let ms = millis.rem_euclid(1000) as u32;
    let secs = millis.div_euclid(1000);
    thread_local! {
        // The text of the last second formatted on this thread: events are stamped many times
        // a second, and only the milliseconds change.
        static LAST: std::cell::Cell<Option<(i64, [u8; 29])>> = const { std::cell::Cell::new(None) };
    }
    let cached = LAST.try_with(std::cell::Cell::get).ok().flatten();
    let mut buf = match cached {
        Some((s, buf)) if s == secs => buf,
        _ => {
            let Some(buf) = format_second(secs) else {
                let (year, month, day, h, m, s) = split(secs);
                return format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{ms:03}+00:00");
            };
            let _ = LAST.try_with(|c| c.set(Some((secs, buf))));
            buf
        }
    };
    put_digits(&mut buf[20..23], ms);
    // Only ASCII digits and separators were written, so this never falls back.
    std::str::from_utf8(&buf).map_or_else(|_| String::new(), str::to_owned)
}

/// Year, month, day, hour, minute, second of `secs` since the epoch.
fn split(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u32;
    let (year, month, day) = civil_from_days(days);
    (year, month, day, sod / 3600, sod / 60 % 60, sod % 60)
}

/// `YYYY-MM-DDTHH:MM:SS.000+00:00` for `secs`, when the year has four digits.
fn format_second(secs: i64) -> Option<[u8; 29]> {
    let (year, month, day, h, m, s) = split(secs);
    let year = u32::try_from(year).ok().filter(|y| *y <= 9999)?;
    let mut buf = *b"0000-00-00T00:00:00.000+00:00";
    put_digits(&mut buf[0..4], year);
    put_digits(&mut buf[5..7], month);
    put_digits(&mut buf[8..10], day);
    put_digits(&mut buf[11..13], h);
    put_digits(&mut buf[14..16], m);
    put_digits(&mut buf[17..19], s);
    Some(buf)
}

fn put_digits(out: &mut [u8], mut v: u32) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day) (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn known_instants() {
        let at = |ms: u64| format_timestamp(UNIX_EPOCH + Duration::from_millis(ms));
        assert_eq!(at(0), "1970-01-01T00:00:00.000+00:00");
        assert_eq!(at(951_782_400_000), "2000-02-29T00:00:00.000+00:00");
        assert_eq!(at(1_735_689_599_999), "2024-12-31T23:59:59.999+00:00");
        assert_eq!(at(253_402_300_799_000), "9999-12-31T23:59:59.000+00:00");
        assert_eq!(
            format_timestamp(UNIX_EPOCH - Duration::from_millis(1)),
            "1969-12-31T23:59:59.999+00:00"
        );
    }

    #[test]
    fn the_cached_second_is_only_reused_for_the_same_second() {
        let at = |ms: u64| format_timestamp(UNIX_EPOCH + Duration::from_millis(ms));
        assert_eq!(at(1_735_689_599_001), "2024-12-31T23:59:59.001+00:00");
        assert_eq!(at(1_735_689_599_999), "2024-12-31T23:59:59.999+00:00");
        assert_eq!(at(1_735_689_600_000), "2025-01-01T00:00:00.000+00:00");
        assert_eq!(at(1_735_689_599_500), "2024-12-31T23:59:59.500+00:00");
        // A year beyond 9999 is not cached and is written with all its digits.
        assert!(at(253_402_300_800_000).starts_with("10000-01-01T00:00:00.000"));
        assert_eq!(at(1_735_689_600_007), "2025-01-01T00:00:00.007+00:00");
    }

    // Emitted events skip the datetime pattern check for a generated time of 29 bytes that
    // starts with a digit (`EventTime::Generated`): every such output must match it.
    proptest::proptest! {
        #[test]
        fn every_29_byte_timestamp_is_a_valid_datetime(
            ms in -62_167_219_200_000i64..=253_402_300_799_999i64,
        ) {
            let t = if ms >= 0 {
                UNIX_EPOCH + Duration::from_millis(ms.unsigned_abs())
            } else {
                UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
            };
            let s = format_timestamp(t);
            proptest::prop_assert_eq!(s.len(), 29);
            proptest::prop_assert!(arvo_rules::is_zod_datetime(&s), "{}", s);
        }
    }

    #[test]
    fn year_bounds_of_the_29_byte_form() {
        let at = |ms: i64| {
            let d = Duration::from_millis(ms.unsigned_abs());
            format_timestamp(if ms >= 0 {
                UNIX_EPOCH + d
            } else {
                UNIX_EPOCH - d
            })
        };
        assert_eq!(at(-62_167_219_200_000), "0000-01-01T00:00:00.000+00:00");
        assert!(arvo_rules::is_zod_datetime(&at(-62_167_219_200_000)));
        // Outside years 0..=9999 the text is longer, or starts with a sign: the datetime
        // pattern refuses both, and `EventTime` does not take them for the checked form.
        let before = at(-62_167_219_200_001);
        assert_eq!(before, "-001-12-31T23:59:59.999+00:00");
        assert!(!arvo_rules::is_zod_datetime(&before));
        assert_eq!(at(253_402_300_800_000).len(), 30);
    }

    #[test]
    fn every_day_of_a_leap_cycle_is_a_valid_datetime() {
        for d in 0..(4 * 366) {
            let t = format_timestamp(UNIX_EPOCH + Duration::from_secs(d * 86_400 + 3_723));
            assert!(arvo_rules::is_zod_datetime(&t), "{t}");
        }
    }
}
