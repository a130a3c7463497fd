//! [`EventView`]: one event of a [`TestTrace`], with its fields and the
//! span it happened in.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tracing_core::Level;

use crate::reader::EventData;
use crate::value::Value;

use super::matching::FieldValue;
use super::render::{self, Style, value_text};
use super::trace::TestTrace;
use super::view::SpanView;

/// One event of a [`TestTrace`], with the span it happened in.
///
/// ```
/// let ((), t) = bhtrace::testing::with_capture(|| {
///     tracing::info_span!("job").in_scope(|| tracing::warn!(code = 7, "retrying"));
/// });
/// let e = t.span("job").event("retrying").assert_field("code", 7);
/// assert_eq!(e.level(), tracing::Level::WARN);
/// assert_eq!(e.span().map(|s| s.name()), Some("job"));
/// ```
#[derive(Clone, Copy)]
pub struct EventView<'a> {
    trace: &'a TestTrace,
    span: Option<u32>,
    event: &'a EventData,
}

impl fmt::Debug for EventView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventView")
            .field("span", &self.span)
            .field("event", self.event)
            .finish()
    }
}

impl<'a> EventView<'a> {
    pub(super) fn new(trace: &'a TestTrace, span: Option<u32>, event: &'a EventData) -> Self {
        EventView { trace, span, event }
    }

    /// Everything recorded about it.
    pub fn data(&self) -> &'a EventData {
        self.event
    }

    /// The span it happened in, `None` outside every span.
    pub fn span(&self) -> Option<SpanView<'a>> {
        self.span.map(|r| SpanView::new(self.trace, r))
    }

    /// Its message, if it has one.
    pub fn message(&self) -> Option<&'a str> {
        self.event.message()
    }

    /// Its level.
    pub fn level(&self) -> Level {
        self.event.level
    }

    /// When it happened, from the start of the capture.
    pub fn at(&self) -> Duration {
        Duration::from_nanos(self.event.t_ns)
    }

    /// Its fields, the message included as `message`.
    pub fn fields(&self) -> &'a [(Arc<str>, Value)] {
        &self.event.fields
    }

    /// A field by name.
    pub fn field(&self, name: &str) -> Option<&'a Value> {
        self.event.field(name)
    }

    /// True if field `name` equals `value`.
    pub fn has_field(&self, name: &str, value: impl FieldValue) -> bool {
        self.field(name).is_some_and(|v| value.matches_field(v))
    }

    /// Asserts that field `name` equals `value`.
    ///
    /// # Panics
    /// When the field is missing or different, showing the event's span.
    #[track_caller]
    pub fn assert_field(self, name: &str, value: impl FieldValue) -> Self {
        let found = match self.field(name) {
            Some(v) if value.matches_field(v) => return self,
            Some(v) => format!("found {name}={}", value_text(v)),
            None => format!("it has no field {name:?}"),
        };
        let mut line = String::new();
        render::event_line(self.event, 0, Style::default(), &mut line);
        let headline = format!(
            "event `{}`: expected {name}={}, {found}",
            line.trim_end(),
            value.describe()
        );
        let marks: Vec<u32> = self.span.into_iter().collect();
        self.trace.fail(&headline, self.span, &marks)
    }
}
