//! Arvo semantic versions (`^\d+\.\d+\.\d+$`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// A contract version: three numbers that order numerically, plus the original text (which
/// may have leading zeros, `01.2.3`) used for display, dataschemas and version lookup.
///
/// Equality compares the text (the reference keys versions by string); ordering compares the
/// numbers first and the text only to break ties, so it stays consistent with equality.
///
/// ```
/// use arvo_runtime::contract::ArvoVersion;
/// let a: ArvoVersion = "1.10.0".parse().unwrap();
/// let b: ArvoVersion = "1.9.9".parse().unwrap();
/// assert!(a > b);
/// assert_eq!(a.to_string(), "1.10.0");
/// assert!(ArvoVersion::wildcard().is_wildcard());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ArvoVersion {
    major: u64,
    minor: u64,
    patch: u64,
    text: Box<str>,
}

/// Why a version string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// The text does not match `^\d+\.\d+\.\d+$` (or a part overflows `u64`).
    #[error("Invalid version format of the semantic version: {value}")]
    Format {
        /// The refused text (a bounded prefix: [`quote_prefix`](crate::issue::quote_prefix)).
        value: String,
    },
    /// The reference's lenient parser found a part that does not start with a number.
    #[error("Invalid version number in {value}")]
    Number {
        /// The refused text.
        value: String,
    },
    /// The reference's lenient parser found fewer than three parts.
    #[error("Invalid semantic version format: {value}")]
    Parts {
        /// The refused text.
        value: String,
    },
}

impl ArvoVersion {
    /// Parses a strict Arvo version (`^\d+\.\d+\.\d+$`, leading zeros allowed).
    ///
    /// ```
    /// use arvo_runtime::contract::ArvoVersion;
    /// assert!(ArvoVersion::parse("01.2.3").is_ok());
    /// assert!(ArvoVersion::parse("1.2").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<Self, VersionError> {
        let (major, minor, patch) =
            arvo_rules::parse_arvo_version(s).ok_or_else(|| VersionError::Format {
                value: crate::issue::quote_prefix_owned(s),
            })?;
        Ok(ArvoVersion {
            major,
            minor,
            patch,
            text: s.into(),
        })
    }

    /// The wildcard version `0.0.0` (reserved: "any version", used by system error dataschemas).
    pub fn wildcard() -> Self {
        ArvoVersion {
            major: 0,
            minor: 0,
            patch: 0,
            text: arvo_rules::WILDCARD_VERSION.into(),
        }
    }

    /// The reference's `isWildCardArvoSematicVersion`: the text is exactly `0.0.0`.
    pub fn is_wildcard(&self) -> bool {
        &*self.text == arvo_rules::WILDCARD_VERSION
    }

    /// The original text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The major number.
    pub fn major(&self) -> u64 {
        self.major
    }

    /// The minor number.
    pub fn minor(&self) -> u64 {
        self.minor
    }

    /// The patch number.
    pub fn patch(&self) -> u64 {
        self.patch
    }

    /// `(major, minor, patch)`.
    pub fn numbers(&self) -> (u64, u64, u64) {
        (self.major, self.minor, self.patch)
    }

    /// Compares the numbers only (`01.0.0` equals `1.0.0` here), as the reference sorts.
    pub fn cmp_numeric(&self, other: &Self) -> Ordering {
        self.numbers().cmp(&other.numbers())
    }
}

impl Ord for ArvoVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.cmp_numeric(other)
            .then_with(|| self.text.cmp(&other.text))
    }
}

impl PartialOrd for ArvoVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for ArvoVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for ArvoVersion {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ArvoVersion::parse(s)
    }
}

impl AsRef<str> for ArvoVersion {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl Serialize for ArvoVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for ArvoVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        ArvoVersion::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The reference's `compareSemanticVersions(a, b)`: the difference of the first differing
/// component (`("1.10.0", "1.9.9")` gives `1`, `("2.0.0", "10.0.0")` gives `-8`, equal gives `0`).
/// Both inputs go through the lenient [`parse_semantic_version`].
///
/// ```
/// use arvo_runtime::contract::compare_semantic_versions;
/// assert_eq!(compare_semantic_versions("1.10.0", "1.9.9"), Ok(1));
/// assert_eq!(compare_semantic_versions("2.0.0", "10.0.0"), Ok(-8));
/// ```
pub fn compare_semantic_versions(a: &str, b: &str) -> Result<i128, VersionError> {
    let (a, b) = (parse_semantic_version(a)?, parse_semantic_version(b)?);
    for (x, y) in [(a.0, b.0), (a.1, b.1), (a.2, b.2)] {
        if x != y {
            return Ok(i128::from(x) - i128::from(y));
        }
    }
    Ok(0)
}

/// The reference's lenient `parseSemanticVersion`: split on `.`, read the leading digits of each
/// of the first three parts like JS `parseInt` (`1.2x.3` gives `(1, 2, 3)`, `1.2.3.4` gives
/// `(1, 2, 3)`). Fewer than three parts: [`VersionError::Parts`]; a part without leading digits:
/// [`VersionError::Number`]. Prefer [`ArvoVersion::parse`], which is strict.
///
/// ```
/// use arvo_runtime::contract::parse_semantic_version;
/// assert_eq!(parse_semantic_version("1.2x.3"), Ok((1, 2, 3)));
/// assert!(parse_semantic_version("1.2").is_err());
/// ```
pub fn parse_semantic_version(v: &str) -> Result<(u64, u64, u64), VersionError> {
    let parts: Vec<&str> = v.split('.').collect();
    if parts.len() < 3 {
        return Err(VersionError::Parts {
            value: crate::issue::quote_prefix_owned(v),
        });
    }
    let num = |p: &str| -> Result<u64, VersionError> {
        let t = p.trim_start_matches(crate::rules::is_js_whitespace);
        let t = t.strip_prefix('+').unwrap_or(t);
        let end = t
            .bytes()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(t.len());
        t.get(..end)
            .filter(|d| !d.is_empty())
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| VersionError::Number {
                value: crate::issue::quote_prefix_owned(v),
            })
    };
    let mut it = parts.iter();
    let mut next = || {
        it.next().map_or(
            Err(VersionError::Parts {
                value: crate::issue::quote_prefix_owned(v),
            }),
            |p| num(p),
        )
    };
    Ok((next()?, next()?, next()?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn strict_and_lenient() {
        assert!(ArvoVersion::parse("1.0.0-beta").is_err());
        assert_eq!(parse_semantic_version("1.2.3.4"), Ok((1, 2, 3)));
        assert_eq!(
            parse_semantic_version("a.1.1").unwrap_err().to_string(),
            "Invalid version number in a.1.1"
        );
        assert_eq!(
            parse_semantic_version("1.1").unwrap_err().to_string(),
            "Invalid semantic version format: 1.1"
        );
        assert_eq!(compare_semantic_versions("1.0.0", "1.0.0"), Ok(0));
        let a = ArvoVersion::parse("01.0.0").unwrap();
        let b = ArvoVersion::parse("1.0.0").unwrap();
        assert_ne!(a, b);
        assert_eq!(a.cmp_numeric(&b), Ordering::Equal);
    }
}
