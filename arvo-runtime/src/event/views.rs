//! Read-only views: the reference's `cloudevent` getter and `otelAttributes`.

use super::json::JsNumber;
use super::{ArvoEvent, SPEC_VERSION};
use arvo_rules::OTEL_NULL;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::Value;

/// The reference's `cloudevent` getter: `{default, extensions}`. Serialises to that JSON.
///
/// ```
/// # use arvo_runtime::event::ArvoEvent;
/// # let e = ArvoEvent::builder().event_type("a.b.c").source("s").subject("x")
/// #     .data(Default::default()).extension("tenant", "acme").build()?;
/// let v = e.cloudevent().to_json_value();
/// assert_eq!(v["default"]["type"], "a.b.c");
/// assert_eq!(v["extensions"]["tenant"], "acme");
/// assert_eq!(v["extensions"]["to"], "a.b.c");
/// # Ok::<(), arvo_runtime::event::EventError>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct CloudEventView<'a>(&'a ArvoEvent);

/// The CloudEvent core attributes, `data` included (`cloudevent.default`).
#[derive(Debug, Clone, Copy)]
pub struct CloudEventDefault<'a>(&'a ArvoEvent);

/// Custom, Arvo and OpenTelemetry extensions, in `toJSON()` order (`cloudevent.extensions`).
#[derive(Debug, Clone, Copy)]
pub struct CloudEventExtensions<'a>(&'a ArvoEvent);

impl<'a> CloudEventView<'a> {
    /// The core attributes.
    pub fn default_attributes(&self) -> CloudEventDefault<'a> {
        CloudEventDefault(self.0)
    }
    /// All extension attributes.
    pub fn extensions(&self) -> CloudEventExtensions<'a> {
        CloudEventExtensions(self.0)
    }
    /// The view as a JSON value.
    pub fn to_json_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

impl Serialize for CloudEventView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("default", &self.default_attributes())?;
        m.serialize_entry("extensions", &self.extensions())?;
        m.end()
    }
}

impl Serialize for CloudEventDefault<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(9))?;
        self.0.serialize_default(&mut m)?;
        m.end()
    }
}

impl Serialize for CloudEventExtensions<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(8 + self.0.extensions().len()))?;
        for (k, v) in self.0.extensions().js_order() {
            m.serialize_entry(k, v)?;
        }
        self.0.serialize_arvo_extensions(&mut m)?;
        m.end()
    }
}

/// An OpenTelemetry attribute value: a string or a number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OtelValue<'a> {
    /// A string (`N/A` for null values).
    Str(&'a str),
    /// A number (`executionunits`).
    Number(f64),
}

impl Serialize for OtelValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            OtelValue::Str(v) => s.serialize_str(v),
            OtelValue::Number(n) => JsNumber(*n).serialize(s),
        }
    }
}

impl From<OtelValue<'_>> for opentelemetry::Value {
    fn from(v: OtelValue<'_>) -> Self {
        match v {
            OtelValue::Str(s) => opentelemetry::Value::String(s.to_owned().into()),
            OtelValue::Number(n) => opentelemetry::Value::F64(n),
        }
    }
}

impl ArvoEvent {
    /// The reference's `cloudevent` getter.
    pub fn cloudevent(&self) -> CloudEventView<'_> {
        CloudEventView(self)
    }

    /// The reference's `otelAttributes`: 13 attributes in its order. Core attributes use `||`
    /// (an empty string becomes `N/A`), the nullable ones `??` (`0` stays `0`).
    ///
    /// ```
    /// # use arvo_runtime::event::{ArvoEvent, OtelValue};
    /// # let e = ArvoEvent::builder().event_type("a.b.c").source("s").subject("x")
    /// #     .data(Default::default()).executionunits(0.0).build()?;
    /// let attrs = e.otel_attributes();
    /// assert_eq!(attrs[0].0, "cloudevents.event_id");
    /// assert_eq!(attrs[10], ("cloudevents.arvo.event_executionunits", OtelValue::Number(0.0)));
    /// assert_eq!(attrs[12], ("cloudevents.arvo.event_domain", OtelValue::Str("N/A")));
    /// # Ok::<(), arvo_runtime::event::EventError>(())
    /// ```
    pub fn otel_attributes(&self) -> [(&'static str, OtelValue<'_>); 13] {
        fn or(v: &str) -> OtelValue<'_> {
            OtelValue::Str(if v.is_empty() { OTEL_NULL } else { v })
        }
        fn nn<S: std::ops::Deref<Target = str>>(v: &Option<S>) -> OtelValue<'_> {
            OtelValue::Str(v.as_deref().unwrap_or(OTEL_NULL))
        }
        [
            ("cloudevents.event_id", or(&self.inner.id)),
            ("cloudevents.event_source", or(&self.inner.source)),
            ("cloudevents.event_spec_version", or(SPEC_VERSION)),
            ("cloudevents.event_subject", or(&self.inner.subject)),
            ("cloudevents.event_type", or(&self.inner.event_type)),
            ("cloudevents.event_time", or(&self.inner.time)),
            (
                "cloudevents.event_datacontenttype",
                or(&self.inner.datacontenttype),
            ),
            ("cloudevents.event_dataschema", nn(&self.inner.dataschema)),
            (
                "cloudevents.arvo.event_redirectto",
                nn(&self.inner.redirectto),
            ),
            ("cloudevents.arvo.event_to", nn(&self.inner.to)),
            (
                "cloudevents.arvo.event_executionunits",
                self.inner
                    .executionunits
                    .map_or(OtelValue::Str(OTEL_NULL), OtelValue::Number),
            ),
            ("cloudevents.arvo.event_parentid", nn(&self.inner.parentid)),
            ("cloudevents.arvo.event_domain", nn(&self.inner.domain)),
        ]
    }
}
