//! [`TestTrace`]: a finished test trace, loaded for assertions, that
//! removes its file when the test passes and keeps it when it fails.

use std::fmt;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::reader::{EventData, Span, SpanId, TraceReader};

use super::event::EventView;
use super::matching::FieldValue;
use super::render::{self, Style};
use super::view::SpanView;

/// A finished test trace, loaded for assertions.
///
/// Made by [`Capture::finish`](super::Capture::finish) and
/// [`with_capture`](super::with_capture), or opened from a file with
/// [`TestTrace::open`]. Every span, field and event is in memory, so
/// assertions cost nothing to repeat; the [`TraceReader`] queries
/// (`summary`, `critical_path`, …) stay available through `Deref` and
/// [`reader`](TestTrace::reader). Where a name is shared, this type's
/// method wins: `t.span("name")` finds a span by name, while the reader's
/// `span(id)` is `t.reader().span(id)`.
///
/// **The file.** A trace made by a capture owns its file until it is
/// dropped: if the thread is panicking then (a failed assertion, a failed
/// test), the file stays and `bhtrace: trace kept at <path>` goes to
/// stderr; otherwise the file is removed, unless `BHTRACE_KEEP=1` or
/// [`keep`](TestTrace::keep). Keep the trace bound until the end of the
/// test so that a later failure still keeps it.
///
/// Assertions panic with a message that shows the part of the tree they
/// looked at, with times, and `<==` on the spans concerned.
///
/// ```
/// let ((), t) = bhtrace::testing::with_capture(|| {
///     tracing::info_span!("job", id = 3).in_scope(|| tracing::info!("ran"));
/// });
/// t.span("job").assert_field("id", 3).event("ran");
/// assert_eq!(t.snapshot(), "job{id=3}\n  INFO ran\n");
/// ```
#[derive(Debug)]
pub struct TestTrace {
    reader: TraceReader,
    pub(super) spans: Vec<Span>,
    pub(super) orphans: Vec<EventData>,
    pub(super) children: Vec<Vec<u32>>,
    pub(super) roots: Vec<u32>,
    label: String,
    file: OwnedFile,
}

/// The capture's file, removed or kept when the trace is dropped.
#[derive(Debug)]
struct OwnedFile {
    path: PathBuf,
    /// The file was written by a capture and is this trace's to clean up.
    owned: bool,
    /// Keep it even when the test passes.
    keep: bool,
}

impl Drop for OwnedFile {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        if std::thread::panicking() || self.keep {
            eprintln!("bhtrace: trace kept at {}", self.path.display());
        } else {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl TestTrace {
    /// Loads a trace that a capture wrote into `path` (already read into
    /// `reader`), taking charge of the file.
    pub(super) fn owned(
        reader: TraceReader,
        path: PathBuf,
        label: String,
        keep: bool,
    ) -> Result<Self, Error> {
        let file = OwnedFile {
            path,
            owned: true,
            keep,
        };
        Self::load(reader, label, file)
    }

    /// Opens a trace file, such as one a failed test left behind, for
    /// assertions. The file is never removed.
    ///
    /// # Errors
    /// As [`TraceReader::open`] and [`TraceReader::full`].
    ///
    /// ```no_run
    /// # fn main() -> Result<(), bhtrace::Error> {
    /// let t = bhtrace::testing::TestTrace::open("target/bhtrace/shop/checkout.prices.bht")?;
    /// println!("{}", t.snapshot());
    /// # Ok(()) }
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::from_reader(TraceReader::open(path)?)
    }

    /// Loads every span and event of an opened trace for assertions.
    ///
    /// # Errors
    /// As [`TraceReader::full`].
    pub fn from_reader(reader: TraceReader) -> Result<Self, Error> {
        let path = reader.path().to_owned();
        let label = path.display().to_string();
        let file = OwnedFile {
            path,
            owned: false,
            keep: true,
        };
        Self::load(reader, label, file)
    }

    fn load(reader: TraceReader, label: String, file: OwnedFile) -> Result<Self, Error> {
        let (all, _) = reader.full()?;
        let n = all.spans.len();
        let mut children = vec![Vec::new(); n];
        let mut roots = Vec::new();
        for (row, span) in all.spans.iter().enumerate() {
            match span.info.parent {
                Some(p) if p.index() < n => children[p.index()].push(row as u32),
                _ => roots.push(row as u32),
            }
        }
        Ok(TestTrace {
            reader,
            spans: all.spans,
            orphans: all.orphan_events,
            children,
            roots,
            label,
            file,
        })
    }

    /// The reader the trace was loaded from, for the index queries.
    pub fn reader(&self) -> &TraceReader {
        &self.reader
    }

    /// The file the trace was written to (removed after a passing test).
    pub fn path(&self) -> &Path {
        &self.file.path
    }

    /// Keeps the file when the test passes, too.
    #[must_use = "keep returns the trace"]
    pub fn keep(mut self) -> Self {
        self.file.keep = true;
        self
    }

    /// Every span with its payload, in id order (preorder).
    pub fn all_spans(&self) -> &[Span] {
        &self.spans
    }

    /// Every span, as views, in id order.
    pub fn iter(&self) -> impl Iterator<Item = SpanView<'_>> {
        (0..self.spans.len() as u32).map(|row| SpanView::new(self, row))
    }

    /// A span by id, if the trace has it.
    pub fn get(&self, id: SpanId) -> Option<SpanView<'_>> {
        (id.index() < self.spans.len()).then(|| SpanView::new(self, id.0))
    }

    /// The top-level spans, in start order.
    pub fn roots(&self) -> Vec<SpanView<'_>> {
        self.roots.iter().map(|&r| SpanView::new(self, r)).collect()
    }

    /// Events that happened outside every span, in time order.
    pub fn events_outside_spans(&self) -> &[EventData] {
        &self.orphans
    }

    /// Every event: those of each span (spans in id order, each span's in
    /// time order), then those outside spans.
    pub fn events(&self) -> Vec<EventView<'_>> {
        let in_spans = self.spans.iter().enumerate().flat_map(|(row, span)| {
            span.events
                .iter()
                .map(move |e| EventView::new(self, Some(row as u32), e))
        });
        let outside = self.orphans.iter().map(|e| EventView::new(self, None, e));
        in_spans.chain(outside).collect()
    }

    /// The one event, anywhere in the trace, whose message is `message`.
    ///
    /// # Panics
    /// When there is none or more than one, showing the trace.
    #[track_caller]
    pub fn event(&self, message: &str) -> EventView<'_> {
        let mut found = self.events();
        found.retain(|e| e.message() == Some(message));
        match found.as_slice() {
            [one] => *one,
            _ => {
                let marks: Vec<u32> = found
                    .iter()
                    .filter_map(|e| e.span().map(|s| s.row()))
                    .collect();
                let headline = format!(
                    "expected one event with message {message:?}, found {}",
                    found.len()
                );
                self.fail(&headline, None, &marks)
            }
        }
    }

    /// Every span named `name`, in id order (possibly none).
    pub fn spans(&self, name: &str) -> Vec<SpanView<'_>> {
        self.find(|s| s.name() == name)
    }

    /// Every span named `name` whose field `field` equals `value`.
    pub fn spans_with(&self, name: &str, field: &str, value: impl FieldValue) -> Vec<SpanView<'_>> {
        self.find(|s| s.name() == name && s.has_field(field, &value))
    }

    /// Every span for which `pred` is true, in id order.
    pub fn find(&self, pred: impl Fn(&SpanView<'_>) -> bool) -> Vec<SpanView<'_>> {
        self.iter().filter(|s| pred(s)).collect()
    }

    /// The one span named `name`.
    ///
    /// # Panics
    /// When there is no such span or more than one, showing the trace.
    #[track_caller]
    pub fn span(&self, name: &str) -> SpanView<'_> {
        let found = self.spans(name);
        self.exactly_one(found, &format!("span named {name:?}"))
    }

    /// The one span named `name` whose field `field` equals `value`.
    ///
    /// # Panics
    /// When there is no such span or more than one, showing the trace.
    #[track_caller]
    pub fn span_with(&self, name: &str, field: &str, value: impl FieldValue) -> SpanView<'_> {
        let found = self.spans_with(name, field, &value);
        let what = format!("span named {name:?} with {field}={}", value.describe());
        self.exactly_one(found, &what)
    }

    /// Asserts that no span is named `name`.
    ///
    /// # Panics
    /// When there is one, showing the trace with it marked.
    #[track_caller]
    pub fn assert_no_span(&self, name: &str) -> &Self {
        let found: Vec<u32> = self.spans(name).iter().map(|s| s.row()).collect();
        if !found.is_empty() {
            self.fail(
                &format!("expected no span named {name:?}, found {}", found.len()),
                None,
                &found,
            );
        }
        self
    }

    #[track_caller]
    fn exactly_one<'a>(&'a self, found: Vec<SpanView<'a>>, what: &str) -> SpanView<'a> {
        match found.as_slice() {
            [one] => *one,
            [] => self.fail(&format!("expected one {what}, found none"), None, &[]),
            many => {
                let rows: Vec<u32> = many.iter().map(|s| s.row()).collect();
                let headline = format!("expected one {what}, found {}", many.len());
                self.fail(&headline, None, &rows)
            }
        }
    }

    /// The trace as stable text: each span's name and fields, each event's
    /// level, message and fields, indented by nesting, in time order — no
    /// times, ids or thread numbers, so the same code gives the same text
    /// on every run. Made for snapshot tests
    /// (`insta::assert_snapshot!(t.snapshot())`).
    ///
    /// Spans that start on different threads at once (a thread pool, joined
    /// tasks) have no fixed order: use
    /// [`snapshot_unordered`](TestTrace::snapshot_unordered) for those.
    ///
    /// ```
    /// let ((), t) = bhtrace::testing::with_capture(|| {
    ///     let _req = tracing::info_span!("request", path = "/a").entered();
    ///     tracing::warn!(retries = 2, "slow");
    ///     tracing::debug_span!("db").in_scope(|| tracing::info!("query"));
    /// });
    /// assert_eq!(
    ///     t.snapshot(),
    ///     "request{path=\"/a\"}\n  WARN slow retries=2\n  db\n    INFO query\n"
    /// );
    /// ```
    pub fn snapshot(&self) -> String {
        render::whole(self, Style::default())
    }

    /// Like [`snapshot`](TestTrace::snapshot), but each span's events come
    /// first and its children after, each sorted as text: stable even when
    /// siblings run concurrently.
    pub fn snapshot_unordered(&self) -> String {
        render::whole(
            self,
            Style {
                unordered: true,
                ..Style::default()
            },
        )
    }

    /// The tree with start times and durations: for looking at, not for
    /// snapshots.
    pub fn timed_tree(&self) -> String {
        render::whole(
            self,
            Style {
                times: true,
                ..Style::default()
            },
        )
    }

    /// Panics with `headline`, then the subtree of `focus` (or the whole
    /// trace) with times and `marks` marked.
    #[track_caller]
    pub(super) fn fail(&self, headline: &str, focus: Option<u32>, marks: &[u32]) -> ! {
        let style = Style {
            times: true,
            unordered: false,
            marks,
        };
        let tree = match focus {
            Some(row) => render::one(self, row, style),
            None => render::whole(self, style),
        };
        panic!(
            "bhtrace: {headline}\nin the trace of {}:\n{}",
            self.label,
            render::for_message(&tree)
        )
    }
}

impl Deref for TestTrace {
    type Target = TraceReader;
    fn deref(&self) -> &TraceReader {
        &self.reader
    }
}

/// The [`snapshot`](TestTrace::snapshot).
impl fmt::Display for TestTrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.snapshot())
    }
}

// A finished trace can be sent back from the thread that captured it.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<TestTrace>();
};
