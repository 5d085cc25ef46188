//! The reference's accepted `time` format: zod 3's `datetime({ offset: true })`.

fn digit(b: &[u8], i: usize) -> Option<u32> {
    b.get(i)
        .filter(|c| c.is_ascii_digit())
        .map(|c| u32::from(c - b'0'))
}

fn two(b: &[u8], i: usize) -> Option<u32> {
    Some(digit(b, i)? * 10 + digit(b, i + 1)?)
}

/// Whether `s` matches zod 3.25's `datetime({offset: true})` regular expression:
///
/// ```text
/// ^((\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29|\d{4}-((0[13578]|1[02])-(0[1-9]|[12]\d|3[01])|(0[469]|11)-(0[1-9]|[12]\d|30)|(02)-(0[1-9]|1\d|2[0-8])))T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?(Z|([+-]\d{2}:?\d{2}))$
/// ```
///
/// Four-digit year with a leap-year-aware day, upper-case `T`, optional seconds and fraction
/// (any number of digits), and `Z` or `±HH:MM` / `±HHMM`.
///
/// ```
/// use arvo_rules::is_zod_datetime;
/// assert!(is_zod_datetime("2024-05-01T12:00:00.000+00:00"));
/// assert!(is_zod_datetime("2024-05-01T12:00Z"));
/// assert!(is_zod_datetime("2024-02-29T00:00:00+0530"));
/// assert!(!is_zod_datetime("2023-02-29T00:00:00Z"));
/// assert!(!is_zod_datetime("2024-05-01 12:00:00Z"));
/// assert!(!is_zod_datetime("2024-05-01T12:00:00"));
/// ```
pub fn is_zod_datetime(s: &str) -> bool {
    check(s.as_bytes()).is_some()
}

fn check(b: &[u8]) -> Option<()> {
    let year = (0..4).try_fold(0u32, |acc, i| Some(acc * 10 + digit(b, i)?))?;
    (b.get(4) == Some(&b'-')).then_some(())?;
    let month = two(b, 5)?;
    (b.get(7) == Some(&b'-')).then_some(())?;
    let day = two(b, 8)?;
    let leap = if year % 100 == 0 {
        year % 400 == 0
    } else {
        year % 4 == 0
    };
    let max_day = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    (1..=max_day).contains(&day).then_some(())?;
    (b.get(10) == Some(&b'T')).then_some(())?;
    (two(b, 11)? <= 23).then_some(())?;
    (b.get(13) == Some(&b':')).then_some(())?;
    (two(b, 14)? <= 59).then_some(())?;
    let mut i = 16;
    if b.get(i) == Some(&b':') {
        (two(b, i + 1)? <= 59).then_some(())?;
        i += 3;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while digit(b, i).is_some() {
                i += 1;
            }
            (i > start).then_some(())?;
        }
    }
    match b.get(i)? {
        b'Z' => (b.len() == i + 1).then_some(()),
        b'+' | b'-' => {
            two(b, i + 1)?;
            i += 3;
            if b.get(i) == Some(&b':') {
                i += 1;
            }
            two(b, i)?;
            (b.len() == i + 2).then_some(())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::is_zod_datetime;

    #[test]
    fn accepted() {
        for ok in [
            "2024-01-01T00:00:00.000+00:00",
            "2024-01-01T00:00:00Z",
            "2024-06-30T23:59:59.999+05:30",
            "2024-06-30T23:59:59.123456789-0800",
            "2000-02-29T00:00Z",
            "1600-02-29T00:00Z",
            "2024-12-31T23:59+99:99",
        ] {
            assert!(is_zod_datetime(ok), "{ok}");
        }
    }

    #[test]
    fn rejected() {
        for bad in [
            "",
            "yesterday",
            "2024-01-01T00:00:00",
            "2024-01-01t00:00:00Z",
            "2024-01-01T00:00:00z",
            "2024-01-01T00:00:00+05",
            "2024-01-01 00:00:00Z",
            "1900-02-29T00:00Z",
            "2023-02-29T00:00Z",
            "2024-04-31T00:00Z",
            "2024-13-01T00:00Z",
            "2024-00-01T00:00Z",
            "2024-01-00T00:00Z",
            "2024-01-01T24:00Z",
            "2024-01-01T00:60Z",
            "2024-01-01T00:00:60Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00ZZ",
            "24-01-01T00:00Z",
            "2024-01-01T00:00Z\n",
        ] {
            assert!(!is_zod_datetime(bad), "{bad}");
        }
    }
}
