//! Expectations on a step's result: the emitted events, or the violation.

use crate::event::ArvoEvent;
use crate::handler::Violation;
use crate::testing::StepProblem;
use serde_json::Value;
use std::fmt;
use std::sync::Arc;

/// What a step expects; build one with [`expect`], [`expect_violation`] or [`anything`].
pub enum Expectation {
    /// The target returns events matching the [`Expect`].
    Events(Expect),
    /// The target returns a violation matching the [`ExpectViolation`].
    Violation(ExpectViolation),
    /// Anything but a violation.
    Anything,
}

impl fmt::Debug for Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expectation::Events(_) => f.write_str("Expectation::Events(..)"),
            Expectation::Violation(_) => f.write_str("Expectation::Violation(..)"),
            Expectation::Anything => f.write_str("Expectation::Anything"),
        }
    }
}

impl From<Expect> for Expectation {
    fn from(e: Expect) -> Self {
        Expectation::Events(e)
    }
}

impl From<ExpectViolation> for Expectation {
    fn from(e: ExpectViolation) -> Self {
        Expectation::Violation(e)
    }
}

/// Expect emitted events: start here, then chain checks.
///
/// ```
/// use arvo_runtime::testing::{expect, event};
/// let e = expect().events(2).of_type("evt.calc.add.success")
///     .nth(1, event().data_eq("/result", 5));
/// # let _ = e;
/// ```
pub fn expect() -> Expect {
    Expect {
        count: None,
        each: EventExpect::default(),
        nth: Vec::new(),
        custom: Vec::new(),
    }
}

/// Checks on a single event, for [`Expect::nth`].
pub fn event() -> EventExpect {
    EventExpect::default()
}

/// Expect the target to return a violation.
pub fn expect_violation() -> ExpectViolation {
    ExpectViolation { checks: Vec::new() }
}

/// Expect nothing in particular (only that the target does not return a violation).
pub fn anything() -> Expectation {
    Expectation::Anything
}

/// A field that differed: which field, what was expected, what was there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldMismatch {
    /// The field: `type`, `to`, `data/result`, ...
    pub field: String,
    /// The expected value (JSON).
    pub expected: String,
    /// The actual value (JSON, or `<missing>`).
    pub actual: String,
}

type EventPredicate = Arc<dyn Fn(&ArvoEvent) -> bool + Send + Sync>;
type EventsCheck = Arc<dyn Fn(&[ArvoEvent]) -> Result<(), String> + Send + Sync>;
type ViolationPredicate = Arc<dyn Fn(&Violation) -> bool + Send + Sync>;

#[derive(Clone)]
enum Check {
    Attr(&'static str, Option<String>),
    Data(String, Option<Value>),
    Field(String, Value),
    Pred(String, EventPredicate),
}

const MISSING: &str = "<missing>";

fn json(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| v.to_string())
}

fn opt_json(v: Option<&str>) -> String {
    v.map_or_else(|| "null".to_owned(), |s| json(&Value::from(s)))
}

/// JSON equality where numbers compare by value (`3 == 3.0`) and key order does not matter.
/// Stricter than the events' own equality (`js_value_eq`) on purpose: integers compare
/// exactly, so an expectation tells 2^53 + 1 from 2^53, which an in-process event can hold.
pub(crate) fn json_eq(a: &Value, b: &Value) -> bool {
    crate::event::value_eq_with(a, b, &|x, y| match (x.as_i64(), y.as_i64()) {
        (Some(i), Some(j)) => i == j,
        _ => match (x.as_u64(), y.as_u64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
    })
}

fn pointer(p: &str) -> String {
    if p.is_empty() || p.starts_with('/') {
        p.to_owned()
    } else {
        format!("/{p}")
    }
}

impl Check {
    fn run(&self, e: &ArvoEvent) -> Option<FieldMismatch> {
        let mismatch = |field: String, expected: String, actual: String| {
            Some(FieldMismatch {
                field,
                expected,
                actual,
            })
        };
        match self {
            Check::Attr(name, expected) => {
                let actual = match *name {
                    "type" => Some(e.event_type()),
                    "to" => e.to(),
                    "source" => Some(e.source()),
                    "subject" => Some(e.subject()),
                    "domain" => e.domain(),
                    "parentid" => e.parentid(),
                    "accesscontrol" => e.accesscontrol(),
                    "redirectto" => e.redirectto(),
                    _ => e.dataschema(),
                };
                if actual == expected.as_deref() {
                    None
                } else {
                    mismatch(
                        (*name).to_owned(),
                        opt_json(expected.as_deref()),
                        opt_json(actual),
                    )
                }
            }
            Check::Data(ptr, expected) => {
                let data = Value::Object(e.data().clone());
                let actual = data.pointer(ptr);
                let field = format!("data{ptr}");
                match (expected, actual) {
                    (None, Some(_)) => None,
                    (None, None) => mismatch(field, "<present>".into(), MISSING.into()),
                    (Some(x), Some(a)) if json_eq(x, a) => None,
                    (Some(x), a) => {
                        mismatch(field, json(x), a.map_or_else(|| MISSING.into(), json))
                    }
                }
            }
            Check::Field(ptr, expected) => {
                let whole = e.to_json_value();
                let actual = whole.pointer(ptr);
                match actual {
                    Some(a) if json_eq(expected, a) => None,
                    a => mismatch(
                        ptr.trim_start_matches('/').to_owned(),
                        json(expected),
                        a.map_or_else(|| MISSING.into(), json),
                    ),
                }
            }
            Check::Pred(description, f) => {
                if f(e) {
                    None
                } else {
                    mismatch(description.clone(), "true".into(), "false".into())
                }
            }
        }
    }
}

/// Checks on one event (see [`event`]); also the checks [`Expect`] applies to every event.
#[derive(Clone, Default)]
pub struct EventExpect {
    checks: Vec<Check>,
}

impl fmt::Debug for EventExpect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventExpect({} checks)", self.checks.len())
    }
}

impl EventExpect {
    fn attr(mut self, name: &'static str, value: Option<&str>) -> Self {
        self.checks
            .push(Check::Attr(name, value.map(str::to_owned)));
        self
    }
    /// `type` equals `t`.
    pub fn of_type(self, t: &str) -> Self {
        self.attr("type", Some(t))
    }
    /// `to` equals `to`.
    pub fn to(self, to: &str) -> Self {
        self.attr("to", Some(to))
    }
    /// `source` equals `source`.
    pub fn source(self, source: &str) -> Self {
        self.attr("source", Some(source))
    }
    /// `subject` equals `subject`.
    pub fn subject(self, subject: &str) -> Self {
        self.attr("subject", Some(subject))
    }
    /// `domain` equals `domain` (`None`: no domain).
    pub fn domain(self, domain: Option<&str>) -> Self {
        self.attr("domain", domain)
    }
    /// `parentid` equals `parentid`.
    pub fn parentid(self, parentid: &str) -> Self {
        self.attr("parentid", Some(parentid))
    }
    /// The value at JSON pointer `ptr` in `data` (`"/result"`, `"/items/0/id"`; a missing
    /// leading `/` is added) equals `value`; numbers compare by value (`3 == 3.0`).
    pub fn data_eq(mut self, ptr: &str, value: impl Into<Value>) -> Self {
        self.checks
            .push(Check::Data(pointer(ptr), Some(value.into())));
        self
    }
    /// `data` has a value at JSON pointer `ptr`.
    pub fn data_has(mut self, ptr: &str) -> Self {
        self.checks.push(Check::Data(pointer(ptr), None));
        self
    }
    /// The value at JSON pointer `ptr` in the event's wire form (`"/executionunits"`,
    /// `"/dataschema"`, an extension) equals `value`.
    pub fn field_eq(mut self, ptr: &str, value: impl Into<Value>) -> Self {
        self.checks.push(Check::Field(pointer(ptr), value.into()));
        self
    }
    /// `f(event)` holds; `description` names the check in failure messages.
    pub fn satisfies<F>(mut self, description: &str, f: F) -> Self
    where
        F: Fn(&ArvoEvent) -> bool + Send + Sync + 'static,
    {
        self.checks
            .push(Check::Pred(description.to_owned(), Arc::new(f)));
        self
    }

    pub(crate) fn check(&self, e: &ArvoEvent) -> Option<FieldMismatch> {
        self.checks.iter().find_map(|c| c.run(e))
    }
}

/// Expectations on the events a step emits (see [`expect`]). The field checks
/// ([`of_type`](Self::of_type), [`data_eq`](Self::data_eq), ...) apply to **every** emitted
/// event; [`nth`](Self::nth) checks one event by index.
#[derive(Clone)]
pub struct Expect {
    count: Option<usize>,
    each: EventExpect,
    nth: Vec<(usize, EventExpect)>,
    custom: Vec<(String, EventsCheck)>,
}

impl fmt::Debug for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Expect")
            .field("count", &self.count)
            .field("each", &self.each)
            .field("nth", &self.nth)
            .finish_non_exhaustive()
    }
}

impl Expect {
    /// Exactly `n` events.
    pub fn events(mut self, n: usize) -> Self {
        self.count = Some(n);
        self
    }
    /// No events (`events(0)`).
    pub fn none(self) -> Self {
        self.events(0)
    }
    /// Every event has type `t`.
    pub fn of_type(mut self, t: &str) -> Self {
        self.each = self.each.of_type(t);
        self
    }
    /// Every event goes to `to`.
    pub fn to(mut self, to: &str) -> Self {
        self.each = self.each.to(to);
        self
    }
    /// Every event has source `source`.
    pub fn source(mut self, source: &str) -> Self {
        self.each = self.each.source(source);
        self
    }
    /// Every event has subject `subject`.
    pub fn subject(mut self, subject: &str) -> Self {
        self.each = self.each.subject(subject);
        self
    }
    /// Every event has domain `domain`.
    pub fn domain(mut self, domain: Option<&str>) -> Self {
        self.each = self.each.domain(domain);
        self
    }
    /// Every event's data has `value` at JSON pointer `ptr` (see [`EventExpect::data_eq`]).
    pub fn data_eq(mut self, ptr: &str, value: impl Into<Value>) -> Self {
        self.each = self.each.data_eq(ptr, value);
        self
    }
    /// Every event's data has a value at JSON pointer `ptr`.
    pub fn data_has(mut self, ptr: &str) -> Self {
        self.each = self.each.data_has(ptr);
        self
    }
    /// Every event's wire form has `value` at JSON pointer `ptr` (see
    /// [`EventExpect::field_eq`]).
    pub fn field_eq(mut self, ptr: &str, value: impl Into<Value>) -> Self {
        self.each = self.each.field_eq(ptr, value);
        self
    }
    /// The event at `index` (0-based) exists and passes `checks`.
    pub fn nth(mut self, index: usize, checks: EventExpect) -> Self {
        self.nth.push((index, checks));
        self
    }
    /// A check on all events together: `f` returns `Err(message)` to fail;
    /// `description` names it in the failure message.
    pub fn satisfies<F>(mut self, description: &str, f: F) -> Self
    where
        F: Fn(&[ArvoEvent]) -> Result<(), String> + Send + Sync + 'static,
    {
        self.custom.push((description.to_owned(), Arc::new(f)));
        self
    }

    /// The first way `events` fail this expectation, as the step problem it reports.
    pub(crate) fn check(&self, events: &[ArvoEvent]) -> Option<StepProblem> {
        if let Some(expected) = self.count
            && expected != events.len()
        {
            return Some(StepProblem::Count {
                expected,
                actual: events.len(),
            });
        }
        for (index, e) in events.iter().enumerate() {
            if let Some(mismatch) = self.each.check(e) {
                return Some(StepProblem::Field { index, mismatch });
            }
        }
        for (index, checks) in &self.nth {
            let Some(e) = events.get(*index) else {
                return Some(StepProblem::MissingEvent {
                    index: *index,
                    count: events.len(),
                });
            };
            if let Some(mismatch) = checks.check(e) {
                return Some(StepProblem::Field {
                    index: *index,
                    mismatch,
                });
            }
        }
        for (description, f) in &self.custom {
            if let Err(message) = f(events) {
                return Some(StepProblem::Custom {
                    description: description.clone(),
                    message,
                });
            }
        }
        None
    }
}

#[derive(Clone)]
enum ViolationCheck {
    Type(String),
    Contains(String),
    Pred(String, ViolationPredicate),
}

/// Expectations on the violation a step returns (see [`expect_violation`]).
///
/// ```
/// use arvo_runtime::testing::expect_violation;
/// let e = expect_violation().of_kind("Config").message_contains("Event type mismatch");
/// # let _ = e;
/// ```
#[derive(Clone)]
pub struct ExpectViolation {
    checks: Vec<ViolationCheck>,
}

impl fmt::Debug for ExpectViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExpectViolation({} checks)", self.checks.len())
    }
}

impl ExpectViolation {
    /// The violation's type ([`Violation::violation_type`]: `Contract`, `Config`,
    /// `Execution`, `OrchestratorTransaction`, or a custom type) is `kind`.
    pub fn of_kind(mut self, kind: &str) -> Self {
        self.checks.push(ViolationCheck::Type(kind.to_owned()));
        self
    }
    /// The violation's message (with its `ViolationError<..>` prefix) contains `text`.
    pub fn message_contains(mut self, text: &str) -> Self {
        self.checks.push(ViolationCheck::Contains(text.to_owned()));
        self
    }
    /// `f(violation)` holds; `description` names the check in failure messages.
    pub fn satisfies<F>(mut self, description: &str, f: F) -> Self
    where
        F: Fn(&Violation) -> bool + Send + Sync + 'static,
    {
        self.checks
            .push(ViolationCheck::Pred(description.to_owned(), Arc::new(f)));
        self
    }

    pub(crate) fn check(&self, v: &Violation) -> Option<FieldMismatch> {
        self.checks.iter().find_map(|c| {
            let (field, expected, actual) = match c {
                ViolationCheck::Type(t) if t != v.violation_type() => (
                    "violation type".to_owned(),
                    t.clone(),
                    v.violation_type().to_owned(),
                ),
                ViolationCheck::Contains(s) => {
                    let message = v.to_string();
                    if message.contains(s.as_str()) {
                        return None;
                    }
                    (
                        "violation message".to_owned(),
                        format!("to contain {s:?}"),
                        format!("{message:?}"),
                    )
                }
                ViolationCheck::Pred(d, f) if !f(v) => (d.clone(), "true".into(), "false".into()),
                _ => return None,
            };
            Some(FieldMismatch {
                field,
                expected,
                actual,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::json_eq;
    use serde_json::json;

    #[test]
    fn expectations_compare_numbers_by_value_and_integers_exactly() {
        assert!(json_eq(&json!(3), &json!(3.0)));
        assert!(json_eq(
            &json!({"a": 1, "b": [2]}),
            &json!({"b": [2.0], "a": 1})
        ));
        assert!(!json_eq(&json!([1, 2]), &json!([2, 1])));
        assert!(!json_eq(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        // The events' own equality takes these two for one JavaScript number; an expectation
        // does not.
        let (big, rounded) = (
            json!(9_007_199_254_740_993u64),
            json!(9_007_199_254_740_992u64),
        );
        assert!(crate::event::js_value_eq(&big, &rounded));
        assert!(!json_eq(&big, &rounded));
    }
}
