//! What queries return: spans from the index alone ([`SpanInfo`]), spans
//! with their payload ([`Span`]), events, intervals, and the summary.
//!
//! Strings that come from the file's tables — span and event names,
//! targets, services and source files from the string table, made when the
//! envelope is opened, and field names from the field-name schema, made
//! per callsite when the first query that decodes that callsite reads its
//! names — are [`Arc<str>`]s made once and shared by every answer that
//! names them: a span costs a pointer
//! per string, not a copy, however many spans name the same one. Field
//! values are the span's own.

use std::fmt;
use std::sync::Arc;

use tracing_core::Level;

use crate::value::Value;

/// A span's address in an envelope: its row in the structure index.
///
/// Rows are in preorder, so a span's descendants are the ids right after it.
/// The CLI prints the same numbers.
///
/// ```
/// let id = bhtrace::SpanId::from(7);
/// assert_eq!(id.to_string(), "7");
/// assert_eq!(id.index(), 7);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpanId(pub u32);

impl SpanId {
    /// The row number.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl From<u32> for SpanId {
    fn from(v: u32) -> Self {
        SpanId(v)
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::str::FromStr for SpanId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(SpanId)
    }
}

/// A span as the structure index knows it: no fields, no events.
///
/// Its strings are shared with the reader's string table (an [`Arc<str>`]
/// derefs to `&str`: `&*info.name == "query"`), so a list of spans holds
/// each distinct name once.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SpanInfo {
    /// Its id.
    pub id: SpanId,
    /// Its parent, `None` for a root.
    pub parent: Option<SpanId>,
    /// One past its last descendant: its subtree is `id..subtree_end`.
    pub subtree_end: SpanId,
    /// Span name.
    pub name: Arc<str>,
    /// Target (usually the module path).
    pub target: Arc<str>,
    /// Level.
    pub level: Level,
    /// Service: its `service` field if it has one, else its target.
    pub service: Arc<str>,
    /// The thread it was created on (0 when unknown).
    pub thread: u32,
    /// Creation time, ns since the trace origin.
    pub start_ns: u64,
    /// Close time (or the last time seen, if incomplete).
    pub end_ns: u64,
    /// Time spent entered, summed over its enter/exit intervals.
    pub busy_ns: u64,
    /// Never closed: the process stopped first.
    pub incomplete: bool,
    /// It had an ERROR event, an `error` field, or `otel.status_code = "ERROR"`.
    pub error: bool,
    /// It has follows-from links.
    pub follows: bool,
    /// Its recorded parent was lost (dropped records), so it is a root here.
    pub parent_lost: bool,
    /// Source file of its callsite, if known.
    pub file: Option<Arc<str>>,
    /// Source line of its callsite, if known.
    pub line: Option<u32>,
}

impl SpanInfo {
    /// `end_ns - start_ns`.
    pub fn duration_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }
}

/// An event, with its fields. Its name, target, file and field names are
/// shared with the reader's tables, like [`SpanInfo`]'s.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct EventData {
    /// When, ns since the trace origin.
    pub t_ns: u64,
    /// Event name (`tracing` names events after their source location).
    pub name: Arc<str>,
    /// Target.
    pub target: Arc<str>,
    /// Level.
    pub level: Level,
    /// The thread it happened on.
    pub thread: u32,
    /// Its fields, the message included as the field `message`.
    pub fields: Vec<(Arc<str>, Value)>,
    /// Source file, if known.
    pub file: Option<Arc<str>>,
    /// Source line, if known.
    pub line: Option<u32>,
}

impl EventData {
    /// The `message` field as text, if there is one.
    pub fn message(&self) -> Option<&str> {
        self.field("message").and_then(Value::as_str)
    }

    /// A field by name.
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.fields
            .iter()
            .find(|(n, _)| &**n == name)
            .map(|(_, v)| v)
    }
}

/// One time a span was entered and exited on a thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    /// Entered, ns since the trace origin.
    pub enter_ns: u64,
    /// Exited, or `None` if it was still entered when the trace ended.
    pub exit_ns: Option<u64>,
    /// On which thread.
    pub thread: u32,
}

/// A span with everything recorded about it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Span {
    /// What the index says.
    pub info: SpanInfo,
    /// Its fields: those given at creation, updated by later `record`s.
    pub fields: Vec<(Arc<str>, Value)>,
    /// Its events, in time order.
    pub events: Vec<EventData>,
    /// Its enter/exit intervals, in time order.
    pub intervals: Vec<Interval>,
    /// Spans it follows from.
    pub follows_from: Vec<SpanId>,
}

impl Span {
    /// A field by name (its latest value).
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.fields
            .iter()
            .find(|(n, _)| &**n == name)
            .map(|(_, v)| v)
    }
}

/// Every span and event of a trace: what [`full`](crate::TraceReader::full) returns.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Trace {
    /// Every span, in id order.
    pub spans: Vec<Span>,
    /// Events that happened outside every span.
    pub orphan_events: Vec<EventData>,
}

/// One piece of a critical path: `span` was what the request waited on
/// from `start_ns` to `end_ns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// The span on the path.
    pub span: SpanId,
    /// Start of the piece, ns since the trace origin.
    pub start_ns: u64,
    /// End of the piece.
    pub end_ns: u64,
}

/// Per-service totals.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceSummary {
    /// Service name.
    pub service: Arc<str>,
    /// Spans of this service.
    pub spans: u64,
    /// Sum of their durations.
    pub total_ns: u64,
    /// Sum of their self time: duration not covered by a child span.
    pub self_ns: u64,
    /// Sum of their busy time (entered).
    pub busy_ns: u64,
    /// Spans flagged as errors.
    pub errors: u64,
}

/// What [`summary`](crate::TraceReader::summary) answers, from the index alone.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Summary {
    /// Top-level spans (requests, jobs).
    pub traces: u32,
    /// Spans.
    pub spans: u32,
    /// Events.
    pub events: u64,
    /// Per service, by total time, largest first.
    pub services: Vec<ServiceSummary>,
    /// The slowest root.
    pub slowest_root: Option<SpanInfo>,
    /// The critical path of the slowest root.
    pub critical_path: Vec<Segment>,
    /// The slowest spans, slowest first.
    pub slowest: Vec<SpanInfo>,
    /// Records the capture dropped: non-zero means the trace is incomplete.
    pub records_dropped: u64,
    /// Spans never closed.
    pub incomplete_spans: u32,
}
