//! Event dataschemas: `<uri>/<version>` (`EventDataschemaUtil`).
//!
//! ```
//! use arvo_runtime::contract::dataschema;
//! let d = dataschema::parse("#/mock/contract/0.0.1").unwrap();
//! assert_eq!((d.uri, d.version), ("#/mock/contract", "0.0.1"));
//! assert!(!dataschema::is_valid("a/b/1.0"));
//! assert_eq!(dataschema::build("#/c", "1.0.0"), "#/c/1.0.0");
//! ```

use crate::issue::{Issue, Issues};
use arvo_rules::{WILDCARD_VERSION, is_arvo_version};

/// A parsed dataschema, borrowing from the string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dataschema<'a> {
    /// Everything before the last `/` (may be empty, as in the reference).
    pub uri: &'a str,
    /// The last piece, a valid Arvo version.
    pub version: &'a str,
}

/// A dataschema whose last piece is not a version. Displays as the reference's log line
/// `Unable to parse the event dataschema: <zod message>`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("Unable to parse the event dataschema: {issues}")]
pub struct DataschemaError {
    /// The refused dataschema.
    pub dataschema: String,
    /// The zod issues (path `["version"]`).
    pub issues: Issues,
}

/// `<uri>/<version>`.
pub fn build(uri: &str, version: &str) -> String {
    let mut s = String::with_capacity(uri.len() + 1 + version.len());
    s.push_str(uri);
    s.push('/');
    s.push_str(version);
    s
}

/// `<uri>/0.0.0`, the system error dataschema.
pub fn build_wildcard(uri: &str) -> String {
    build(uri, WILDCARD_VERSION)
}

/// Splits on the last `/`: the last piece must be a version, the rest is the uri. A string
/// without `/` is all version with an empty uri (`1.0.0` gives uri `""`), as in the reference.
pub fn parse(dataschema: &str) -> Result<Dataschema<'_>, DataschemaError> {
    let (uri, version) = dataschema.rsplit_once('/').unwrap_or(("", dataschema));
    if is_arvo_version(version) {
        Ok(Dataschema { uri, version })
    } else {
        Err(DataschemaError {
            dataschema: dataschema.to_owned(),
            issues: Issues(vec![Issue::regex(
                &["version"],
                "Invalid version format of the semantic version",
            )]),
        })
    }
}

/// Whether [`parse`] succeeds.
pub fn is_valid(dataschema: &str) -> bool {
    parse(dataschema).is_ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reference_cases() {
        assert_eq!(parse("test://example/2.0.0").unwrap().uri, "test://example");
        assert!(parse("invalid-schema").is_err());
        assert!(parse("a/b/1.0").is_err());
        assert_eq!(
            parse("1.0.0").unwrap(),
            Dataschema {
                uri: "",
                version: "1.0.0"
            }
        );
        assert_eq!(
            parse("/1.0.0").unwrap(),
            Dataschema {
                uri: "",
                version: "1.0.0"
            }
        );
        assert!(parse("").is_err());
        assert!(
            parse("")
                .unwrap_err()
                .to_string()
                .starts_with("Unable to parse the event dataschema: [")
        );
    }
}
