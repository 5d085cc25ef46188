//! Shared by the integration tests: the README's contracts and resumable, the CI rule for
//! tools that may be missing, and temporary folders.
#![allow(dead_code, missing_docs)]

use arvo_docs::Catalogue;
use arvo_runtime::handler::HandlerError;
use arvo_runtime::resumable::Outcome;
use arvo_runtime::{arvo_contract, arvo_resumable};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

// ---- The README's contracts ("A contract, a handler and an orchestrator"), verbatim. ----

#[derive(Clone, Serialize, Deserialize, JsonSchema)]
pub struct Greet {
    pub name: String,
}

#[derive(Clone, Serialize, Deserialize, JsonSchema)]
pub struct Greeting {
    pub text: String,
}

/// A service contract: accepts `com.greet.user`, emits `evt.greet.user.success` (or `sys.com.greet.user.error`).
#[arvo_contract(uri = "#/greet", type = "greet.user", simple,
    version("1.0.0", accepts = Greet, emits = Greeting))]
pub struct GreetService;

/// An orchestrator contract: started by `arvo.orc.welcome`, completes with `arvo.orc.welcome.done`.
#[arvo_contract(uri = "#/welcome", orchestrator = "welcome",
    version("1.0.0", init = Greet, complete = Greeting))]
pub struct Welcome;

pub struct WelcomeFlow;

#[arvo_resumable(contract = Welcome, context = (), services(greet = GreetServiceV1_0_0))]
impl WelcomeFlow {
    #[version("1.0.0")]
    async fn v1(
        &self,
        step: WelcomeFlowStep<'_, WelcomeV1_0_0>,
    ) -> WelcomeFlowResult<WelcomeV1_0_0> {
        use WelcomeFlowEvent::{Greet, GreetError, Init};
        match &step.event {
            Init(init) => Ok(Outcome::wait().call(step.call::<GreetServiceV1_0_0>(&init.data)?)),
            Greet(GreetServiceV1_0_0Emits::Success(g)) => {
                Ok(Outcome::wait().complete(WelcomeV1_0_0Emits::Complete(g.clone())))
            }
            GreetError(e) => Err(HandlerError::msg(&e.error_message)),
        }
    }
}

/// The README's catalogue: the service and the resumable (which brings its contract).
pub fn readme_catalogue() -> Catalogue {
    match Catalogue::builder("README example")
        .typed::<GreetService>()
        .resumable::<WelcomeFlow, WelcomeV1_0_0>()
        .build()
    {
        Ok(c) => c,
        Err(e) => panic!("the README's contracts must document: {e}"),
    }
}

/// The examples' catalogue.
pub fn examples_catalogue() -> Catalogue {
    match arvo_docs::examples::catalogue() {
        Ok(c) => c,
        Err(e) => panic!("the examples must document: {e}"),
    }
}

/// A tool a test needs is missing (`why`): under `CI=true` that fails the test, elsewhere
/// the test prints why and passes.
pub fn missing_tool(test: &str, why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: {why}, and CI=true: .ci/run must install it");
    }
    eprintln!("skipping {test}: {why} (set up by .ci/run; under CI=true this fails)");
}

/// A fresh temporary folder, removed when dropped.
pub fn tempdir() -> tempfile::TempDir {
    match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("cannot create a temporary folder: {e}"),
    }
}

/// Undoes the escaping `arvo_docs::html::escape` does (for reading attribute values back).
pub fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The values of every `attr="..."` in `html`.
pub fn attribute_values(html: &str, attr: &str) -> Vec<String> {
    let needle = format!(" {attr}=\"");
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(&needle) {
        rest = &rest[i + needle.len()..];
        let end = rest.find('"').unwrap_or(rest.len());
        out.push(unescape(&rest[..end]));
        rest = &rest[end..];
    }
    out
}

/// Checks every `href` and `src` of every `.html` file under `dir`: it must be relative (the
/// catalogue works offline), its file must exist, and its `#fragment`, if any, must be an `id`
/// in that file. Returns the problems found and the number of links checked.
pub fn check_links(dir: &std::path::Path) -> (Vec<String>, usize) {
    let mut problems = Vec::new();
    let mut checked = 0;
    for page in html_files(dir) {
        let html = std::fs::read_to_string(&page).unwrap_or_default();
        let base = page.parent().unwrap_or(dir);
        for link in attribute_values(&html, "href")
            .into_iter()
            .chain(attribute_values(&html, "src"))
        {
            checked += 1;
            let shown = format!(
                "{}: '{link}'",
                page.strip_prefix(dir).unwrap_or(&page).display()
            );
            if link.contains("://")
                || link.starts_with("//")
                || link.starts_with("data:")
                || link.starts_with("javascript:")
            {
                problems.push(format!("{shown} is not a relative link"));
                continue;
            }
            let (path, fragment) = match link.split_once('#') {
                Some((p, f)) => (p, Some(f)),
                None => (link.as_str(), None),
            };
            let target = if path.is_empty() {
                page.clone()
            } else {
                base.join(path)
            };
            if !target.is_file() {
                problems.push(format!("{shown}: no file {}", target.display()));
                continue;
            }
            if let Some(f) = fragment {
                let text = std::fs::read_to_string(&target).unwrap_or_default();
                if !attribute_values(&text, "id").iter().any(|id| id == f) {
                    problems.push(format!("{shown}: no id '{f}' in {}", target.display()));
                }
            }
        }
    }
    (problems, checked)
}

/// Every `.html` file under `dir`, sorted.
pub fn html_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "html") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// `time_ratio`, shared with `arvo-runtime`'s tests.
#[path = "../../../arvo-runtime/tests/common_timing/mod.rs"]
pub mod timing;

/// `i` written as `width` digits of punctuation (`!$&'()*+,;=:@`, base 13): texts that differ
/// only in punctuation, so that they read alike wherever punctuation is replaced (component
/// names, folder names).
pub fn punctuation(i: usize, width: usize) -> String {
    const DIGITS: &[char] = &[
        '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '@',
    ];
    let mut s = String::with_capacity(width);
    let mut j = i;
    for _ in 0..width {
        s.push(DIGITS[j % DIGITS.len()]);
        j /= DIGITS.len();
    }
    s
}
