//! [`SpanView`]: one span of a [`TestTrace`], with the questions and
//! assertions a test asks about it.

use std::fmt;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;
use std::time::Duration;

use crate::reader::{Span, SpanId, SpanInfo};
use crate::value::Value;

use super::event::EventView;
use super::matching::FieldValue;
use super::render::{self, Style, value_text};
use super::trace::TestTrace;

/// One span of a [`TestTrace`]: its fields, events, relatives and times,
/// and assertions about them.
///
/// Assertions return the view, so they chain; when one fails it panics
/// with the span's part of the tree (with times, the span marked `<==`).
///
/// Times are measured from the start of the capture. A span **starts**
/// when it is created and **ends** when it closes — when its last handle
/// is dropped, which for `let s = info_span!(…); s.in_scope(…)` is the end
/// of the enclosing block, not of `in_scope`.
///
/// ```
/// use std::time::Duration;
///
/// let ((), t) = bhtrace::testing::with_capture(|| {
///     let _req = tracing::info_span!("request", id = 1).entered();
///     tracing::info_span!("fetch").in_scope(|| tracing::debug!(rows = 2, "read"));
///     tracing::info_span!("price").in_scope(|| {});
/// });
/// let req = t.span("request").assert_field("id", 1);
/// let fetch = req.child("fetch");
/// fetch.event("read").assert_field("rows", 2);
/// fetch.assert_happened_before(&req.child("price"));
/// assert_eq!(fetch.ancestors(), vec![req]);
/// fetch.assert_duration(..Duration::from_secs(60));
/// ```
#[derive(Clone, Copy)]
pub struct SpanView<'a> {
    trace: &'a TestTrace,
    row: u32,
}

impl fmt::Debug for SpanView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanView")
            .field("id", &self.row)
            .field("name", &self.name())
            .finish()
    }
}

/// Two views are equal when they are the same span of the same trace.
impl PartialEq for SpanView<'_> {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.trace, other.trace) && self.row == other.row
    }
}

impl Eq for SpanView<'_> {}

impl<'a> SpanView<'a> {
    pub(super) fn new(trace: &'a TestTrace, row: u32) -> Self {
        SpanView { trace, row }
    }

    pub(super) fn row(&self) -> u32 {
        self.row
    }

    fn data_ref(&self) -> &'a Span {
        &self.trace.spans[self.row as usize]
    }

    /// Its id in the trace.
    pub fn id(&self) -> SpanId {
        SpanId(self.row)
    }

    /// Its name.
    pub fn name(&self) -> &'a str {
        &self.data_ref().info.name
    }

    /// What the index says about it: target, level, thread, times, flags.
    pub fn info(&self) -> &'a SpanInfo {
        &self.data_ref().info
    }

    /// Everything recorded about it.
    pub fn data(&self) -> &'a Span {
        self.data_ref()
    }

    /// Its fields, as last recorded.
    pub fn fields(&self) -> &'a [(Arc<str>, Value)] {
        &self.data_ref().fields
    }

    /// A field by name.
    pub fn field(&self, name: &str) -> Option<&'a Value> {
        self.data_ref().field(name)
    }

    /// True if field `name` equals `value`.
    pub fn has_field(&self, name: &str, value: impl FieldValue) -> bool {
        self.field(name).is_some_and(|v| value.matches_field(v))
    }

    /// Asserts that field `name` equals `value`.
    ///
    /// # Panics
    /// When the field is missing or different.
    #[track_caller]
    pub fn assert_field(self, name: &str, value: impl FieldValue) -> Self {
        match self.field(name) {
            Some(v) if value.matches_field(v) => self,
            Some(v) => self.fail(&format!(
                "expected {name}={}, found {name}={}",
                value.describe(),
                value_text(v)
            )),
            None => self.fail(&format!(
                "expected {name}={}, but it has no field {name:?}",
                value.describe()
            )),
        }
    }

    /// Asserts that the span has no field `name`.
    ///
    /// # Panics
    /// When it has.
    #[track_caller]
    pub fn assert_no_field(self, name: &str) -> Self {
        if let Some(v) = self.field(name) {
            self.fail(&format!(
                "expected no field {name:?}, found {name}={}",
                value_text(v)
            ));
        }
        self
    }

    /// Its parent, `None` for a root.
    pub fn parent(&self) -> Option<SpanView<'a>> {
        self.info()
            .parent
            .filter(|p| p.index() < self.trace.spans.len())
            .map(|p| SpanView::new(self.trace, p.0))
    }

    /// Its ancestors, its parent first and its root last.
    pub fn ancestors(&self) -> Vec<SpanView<'a>> {
        std::iter::successors(self.parent(), SpanView::parent).collect()
    }

    /// The nearest ancestor named `name`.
    ///
    /// # Panics
    /// When no ancestor has that name, showing the span's whole root.
    #[track_caller]
    pub fn ancestor(&self, name: &str) -> SpanView<'a> {
        let ancestors = self.ancestors();
        if let Some(a) = ancestors.iter().find(|a| a.name() == name) {
            return *a;
        }
        let root = ancestors.last().map_or(self.row, |r| r.row);
        self.trace.fail(
            &format!(
                "expected {} to be inside a span named {name:?}",
                self.label()
            ),
            Some(root),
            &[self.row],
        )
    }

    /// Its direct children, in start order.
    pub fn children(&self) -> Vec<SpanView<'a>> {
        self.trace.children[self.row as usize]
            .iter()
            .map(|&c| SpanView::new(self.trace, c))
            .collect()
    }

    /// Its direct children named `name`, in start order.
    pub fn children_named(&self, name: &str) -> Vec<SpanView<'a>> {
        let mut out = self.children();
        out.retain(|c| c.name() == name);
        out
    }

    /// The one direct child named `name`.
    ///
    /// # Panics
    /// When there is none or more than one, showing this span's subtree.
    #[track_caller]
    pub fn child(&self, name: &str) -> SpanView<'a> {
        self.one_of(self.children_named(name), &format!("child named {name:?}"))
    }

    /// Every span under it, in preorder.
    pub fn descendants(&self) -> Vec<SpanView<'a>> {
        (self.row + 1..self.info().subtree_end.0)
            .filter(|&r| (r as usize) < self.trace.spans.len())
            .map(|r| SpanView::new(self.trace, r))
            .collect()
    }

    /// The one span named `name` anywhere under it.
    ///
    /// # Panics
    /// When there is none or more than one, showing this span's subtree.
    #[track_caller]
    pub fn descendant(&self, name: &str) -> SpanView<'a> {
        let mut found = self.descendants();
        found.retain(|d| d.name() == name);
        self.one_of(found, &format!("descendant named {name:?}"))
    }

    /// True if `other` is one of its ancestors.
    pub fn is_descendant_of(&self, other: &SpanView<'_>) -> bool {
        std::ptr::eq(self.trace, other.trace)
            && other.row < self.row
            && self.row < other.info().subtree_end.0
    }

    #[track_caller]
    fn one_of(&self, found: Vec<SpanView<'a>>, what: &str) -> SpanView<'a> {
        match found.as_slice() {
            [one] => *one,
            [] => self.fail(&format!("expected one {what}, found none")),
            many => {
                let mut marks: Vec<u32> = many.iter().map(|s| s.row).collect();
                marks.push(self.row);
                let headline = format!(
                    "{}: expected one {what}, found {}",
                    self.label(),
                    many.len()
                );
                self.trace.fail(&headline, Some(self.row), &marks)
            }
        }
    }

    /// Its events, in time order.
    pub fn events(&self) -> Vec<EventView<'a>> {
        self.data_ref()
            .events
            .iter()
            .map(|e| EventView::new(self.trace, Some(self.row), e))
            .collect()
    }

    /// True if it has an event whose message is `message`.
    pub fn has_event(&self, message: &str) -> bool {
        self.data_ref()
            .events
            .iter()
            .any(|e| e.message() == Some(message))
    }

    /// Its one event whose message is `message`.
    ///
    /// # Panics
    /// When there is none or more than one, showing this span's subtree.
    #[track_caller]
    pub fn event(&self, message: &str) -> EventView<'a> {
        let mut found = self.events();
        found.retain(|e| e.message() == Some(message));
        match found.as_slice() {
            [one] => *one,
            _ => self.fail(&format!(
                "expected one event with message {message:?}, found {}",
                found.len()
            )),
        }
    }

    /// When it was created, from the start of the capture.
    pub fn start(&self) -> Duration {
        Duration::from_nanos(self.info().start_ns)
    }

    /// When it closed, from the start of the capture.
    pub fn end(&self) -> Duration {
        Duration::from_nanos(self.info().end_ns)
    }

    /// From creation to close.
    pub fn duration(&self) -> Duration {
        Duration::from_nanos(self.info().duration_ns())
    }

    /// The time it spent entered, over all its enter/exit intervals.
    pub fn busy(&self) -> Duration {
        Duration::from_nanos(self.info().busy_ns)
    }

    /// True if it had an ERROR event, an `error` field, or
    /// `otel.status_code = "ERROR"`.
    pub fn is_error(&self) -> bool {
        self.info().error
    }

    /// True if it was still open when the capture finished.
    pub fn is_incomplete(&self) -> bool {
        self.info().incomplete
    }

    /// True if it closed before `other` was created.
    pub fn happened_before(&self, other: &SpanView<'_>) -> bool {
        self.info().end_ns <= other.info().start_ns
    }

    /// True if the two were open at the same time.
    pub fn overlaps(&self, other: &SpanView<'_>) -> bool {
        self.info().start_ns < other.info().end_ns && other.info().start_ns < self.info().end_ns
    }

    /// Asserts that it closed before `other` was created.
    ///
    /// # Panics
    /// When it did not, showing both spans with their times.
    #[track_caller]
    pub fn assert_happened_before(self, other: &SpanView<'_>) -> Self {
        if !self.happened_before(other) {
            self.fail_pair(other, "to end before", "starts");
        }
        self
    }

    /// Asserts that it and `other` were open at the same time.
    ///
    /// # Panics
    /// When they were not, showing both spans with their times.
    #[track_caller]
    pub fn assert_overlaps(self, other: &SpanView<'_>) -> Self {
        if !self.overlaps(other) {
            self.fail_pair(other, "to overlap", "");
        }
        self
    }

    /// Asserts that its duration is within `range`, e.g.
    /// `..Duration::from_millis(50)`.
    ///
    /// # Panics
    /// When it is not, showing its subtree with times.
    #[track_caller]
    pub fn assert_duration(self, range: impl RangeBounds<Duration>) -> Self {
        let d = self.duration();
        if !range.contains(&d) {
            let lo = match range.start_bound() {
                Bound::Included(x) => format!("{x:?}"),
                Bound::Excluded(x) => format!("(excluded) {x:?}"),
                Bound::Unbounded => String::new(),
            };
            let hi = match range.end_bound() {
                Bound::Included(x) => format!("={x:?}"),
                Bound::Excluded(x) => format!("{x:?}"),
                Bound::Unbounded => String::new(),
            };
            self.fail(&format!("expected a duration in {lo}..{hi}, it took {d:?}"));
        }
        self
    }

    /// Its subtree as stable text, like [`TestTrace::snapshot`].
    pub fn snapshot(&self) -> String {
        render::one(self.trace, self.row, Style::default())
    }

    /// How messages name it: ``span `name` (id 3)``.
    fn label(&self) -> String {
        format!("span {:?} (id {})", self.name(), self.row)
    }

    #[track_caller]
    fn fail(&self, what: &str) -> ! {
        self.trace.fail(
            &format!("{}: {what}", self.label()),
            Some(self.row),
            &[self.row],
        )
    }

    #[track_caller]
    fn fail_pair(&self, other: &SpanView<'_>, relation: &str, tail: &str) -> ! {
        let times = |s: &SpanView<'_>| format!("+{:?}..+{:?}", s.start(), s.end());
        let tail = if tail.is_empty() {
            String::new()
        } else {
            format!(" {tail}")
        };
        let headline = format!(
            "expected {} [{}] {relation} {}{tail} [{}]",
            self.label(),
            times(self),
            other.label(),
            times(other),
        );
        // Show the nearest common ancestor's subtree, or the whole trace.
        let mine: Vec<u32> = std::iter::once(self.row)
            .chain(self.ancestors().iter().map(|a| a.row))
            .collect();
        let common = std::iter::once(other.row)
            .chain(other.ancestors().iter().map(|a| a.row))
            .find(|r| mine.contains(r));
        self.trace.fail(&headline, common, &[self.row, other.row])
    }
}
