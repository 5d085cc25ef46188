//! The command line: `arvo-docs [--out DIR]`. A crate documents its own contracts with a
//! three-line binary calling [`main_with`]; the `arvo-docs` binary of this crate does so for the
//! workspace's examples.
//!
//! ```no_run
//! // src/bin/docs.rs of a crate with contracts:
//! fn main() -> std::process::ExitCode {
//!     arvo_docs::cli::main_with(|| {
//!         arvo_docs::Catalogue::builder("My services") /* .typed::<MyContract>() ... */ .build()
//!     })
//! }
//! ```

use crate::{Catalogue, DocsError};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

/// The default output folder.
pub const DEFAULT_OUT: &str = "target/arvo-docs";

/// The usage text.
pub const USAGE: &str = "\
Usage: arvo-docs [--out DIR]

Writes the AsyncAPI 3.0 document (asyncapi.json, asyncapi.yaml) and the HTML catalogue
(index.html, ...) of the contracts into DIR (default: target/arvo-docs), replacing what an
earlier run wrote there. Nothing is written when a contract cannot be documented.

Options:
  -o, --out DIR   the output folder
  -h, --help      print this help
";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Write the docs into this folder.
    Write(PathBuf),
    /// Print the usage.
    Help,
}

/// Parses the arguments (without the program name). The folder may be any path, UTF-8 or not.
///
/// ```
/// use arvo_docs::cli::{parse_args, Command};
/// assert_eq!(parse_args(["--out", "docs"]), Ok(Command::Write("docs".into())));
/// assert_eq!(parse_args(["--out=d"]), Ok(Command::Write("d".into())));
/// assert!(parse_args(["--bogus"]).unwrap_err().contains("--bogus"));
/// # #[cfg(unix)] {
/// use std::os::unix::ffi::OsStringExt as _;
/// let odd = std::ffi::OsString::from_vec(b"d\xff".to_vec());
/// assert_eq!(parse_args([std::ffi::OsString::from("-o"), odd.clone()]), Ok(Command::Write(odd.clone().into())));
/// assert!(parse_args([odd]).unwrap_err().contains("unknown argument 'd\u{fffd}'"));
/// # }
/// ```
///
/// # Errors
/// An unknown argument, or `--out` without a value (the message names it).
pub fn parse_args<I, S>(args: I) -> Result<Command, String>
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let mut out = PathBuf::from(DEFAULT_OUT);
    let mut args = args.into_iter().map(Into::into);
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("-h" | "--help") => return Ok(Command::Help),
            Some("-o" | "--out") => match args.next() {
                Some(v) if !v.is_empty() => out = PathBuf::from(v),
                _ => return Err(format!("{} needs a folder", arg.to_string_lossy())),
            },
            Some(other) => match other.strip_prefix("--out=") {
                Some("") => return Err("--out needs a folder".to_owned()),
                Some(v) => out = PathBuf::from(v),
                None => return Err(format!("unknown argument '{other}'")),
            },
            None if arg.as_encoded_bytes().starts_with(b"--out=") => {
                return Err(format!(
                    "'{}': give a folder whose name is not UTF-8 as a separate argument (--out DIR)",
                    arg.to_string_lossy()
                ));
            }
            None => return Err(format!("unknown argument '{}'", arg.to_string_lossy())),
        }
    }
    Ok(Command::Write(out))
}

/// Runs the command line over the catalogue `build` makes: parses `std::env::args_os`, writes,
/// prints where, and returns the exit code (2 for bad arguments, 1 when the docs cannot be
/// built or written, with the error on stderr).
pub fn main_with(build: impl FnOnce() -> Result<Catalogue, DocsError>) -> ExitCode {
    match parse_args(std::env::args_os().skip(1)) {
        Ok(Command::Help) => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Command::Write(out)) => match build().and_then(|c| c.write(&out).map(|n| (c, n))) {
            Ok((catalogue, n)) => {
                println!(
                    "arvo-docs: wrote {n} files ({} contracts, {} orchestrators, {} event types) to {}",
                    catalogue.contracts().len(),
                    catalogue.orchestrators().len(),
                    catalogue.event_types().len(),
                    out.display()
                );
                println!("  HTML catalogue: {}", out.join("index.html").display());
                println!("  AsyncAPI 3.0:   {}", out.join("asyncapi.json").display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("arvo-docs: error: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("arvo-docs: {e}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
