//! The trace as indented text: the stable snapshot (no times, ids or
//! threads) and, for failure messages, the same tree with times and a
//! marker on the spans an assertion is about.
//!
//! ```text
//! request{path="/checkout" user=7}
//!   INFO validated items=3
//!   fetch{key="a"}
//!     DEBUG cache miss
//!   price
//! WARN slow shutdown
//! ```
//!
//! A span is its name with its fields in braces; an event is its level,
//! its message and its other fields. Children and events of a span are
//! listed in time order (events first when a child starts at the same
//! nanosecond); in the unordered form each span's events come first and
//! its children after, both sorted as text.

use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

use crate::reader::EventData;
use crate::value::Value;

use super::trace::TestTrace;

/// How a tree is rendered.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Style<'m> {
    /// Add start times and durations (failure messages only).
    pub(super) times: bool,
    /// Sort siblings as text instead of by time.
    pub(super) unordered: bool,
    /// Rows to mark with `<==`.
    pub(super) marks: &'m [u32],
}

/// The longest tree a failure message shows.
const MESSAGE_LINES: usize = 120;

/// A field value as the snapshot shows it: strings quoted and escaped,
/// floats with their decimal point, bytes in hex.
pub(crate) fn value_text(v: &Value) -> String {
    match v {
        Value::Str(s) => format!("{s:?}"),
        Value::F64(x) => format!("{x:?}"),
        Value::Bytes(b) => {
            let mut out = String::with_capacity(2 + 2 * b.len());
            out.push_str("0x");
            for byte in b {
                let _ = write!(out, "{byte:02x}");
            }
            out
        }
        other => other.to_string(),
    }
}

/// Message text on one line.
fn one_line(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
        .replace('\t', "\\t")
}

fn fields_text<'a>(out: &mut String, fields: impl IntoIterator<Item = &'a (Arc<str>, Value)>) {
    for (i, (k, v)) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{k}={}", value_text(v));
    }
}

fn at(ns: u64) -> Duration {
    Duration::from_nanos(ns)
}

fn span_line(t: &TestTrace, row: u32, depth: usize, style: Style<'_>, out: &mut String) {
    let span = &t.spans[row as usize];
    indent(out, depth);
    out.push_str(&one_line(&span.info.name));
    if !span.fields.is_empty() {
        out.push('{');
        fields_text(out, &span.fields);
        out.push('}');
    }
    if span.info.incomplete {
        out.push_str(" [incomplete]");
    }
    if style.times {
        let _ = write!(
            out,
            " [at +{:?}, took {:?}]",
            at(span.info.start_ns),
            at(span.info.duration_ns())
        );
    }
    if style.marks.contains(&row) {
        out.push_str("  <==");
    }
    out.push('\n');
}

pub(super) fn event_line(e: &EventData, depth: usize, style: Style<'_>, out: &mut String) {
    indent(out, depth);
    let _ = write!(out, "{}", e.level);
    if let Some(m) = e.message() {
        out.push(' ');
        out.push_str(&one_line(m));
    }
    let rest: Vec<&(Arc<str>, Value)> = e
        .fields
        .iter()
        .filter(|(k, v)| !(&**k == "message" && v.as_str().is_some()))
        .collect();
    if !rest.is_empty() {
        out.push(' ');
        fields_text(out, rest);
    }
    if style.times {
        let _ = write!(out, " [at +{:?}]", at(e.t_ns));
    }
    out.push('\n');
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

/// One level of the tree: `events` and the subtrees of `children`,
/// interleaved by time or sorted as text.
fn level(
    t: &TestTrace,
    events: &[EventData],
    children: &[u32],
    depth: usize,
    style: Style<'_>,
    out: &mut String,
) {
    if style.unordered {
        let mut lines: Vec<String> = events
            .iter()
            .map(|e| {
                let mut s = String::new();
                event_line(e, depth, style, &mut s);
                s
            })
            .collect();
        lines.sort();
        let mut blocks: Vec<String> = children
            .iter()
            .map(|&c| {
                let mut s = String::new();
                subtree(t, c, depth, style, &mut s);
                s
            })
            .collect();
        blocks.sort();
        lines
            .into_iter()
            .chain(blocks)
            .for_each(|s| out.push_str(&s));
        return;
    }
    let (mut e, mut c) = (0, 0);
    while e < events.len() || c < children.len() {
        let event_first = match (events.get(e), children.get(c)) {
            (Some(ev), Some(&ch)) => ev.t_ns <= t.spans[ch as usize].info.start_ns,
            (Some(_), None) => true,
            _ => false,
        };
        if event_first {
            event_line(&events[e], depth, style, out);
            e += 1;
        } else {
            subtree(t, children[c], depth, style, out);
            c += 1;
        }
    }
}

/// The subtree of `row`, its first line at `depth`.
pub(super) fn subtree(t: &TestTrace, row: u32, depth: usize, style: Style<'_>, out: &mut String) {
    span_line(t, row, depth, style, out);
    let span = &t.spans[row as usize];
    level(
        t,
        &span.events,
        &t.children[row as usize],
        depth + 1,
        style,
        out,
    );
}

/// The whole trace: every root and every event outside spans.
pub(super) fn whole(t: &TestTrace, style: Style<'_>) -> String {
    let mut out = String::new();
    level(t, &t.orphans, &t.roots, 0, style, &mut out);
    out
}

/// The subtree of `row` alone.
pub(super) fn one(t: &TestTrace, row: u32, style: Style<'_>) -> String {
    let mut out = String::new();
    subtree(t, row, 0, style, &mut out);
    out
}

/// `text` cut to the length a failure message can show.
pub(super) fn for_message(text: &str) -> String {
    let total = text.lines().count();
    if total <= MESSAGE_LINES {
        return if text.is_empty() {
            "(the trace has no spans and no events)\n".to_owned()
        } else {
            text.to_owned()
        };
    }
    let mut out: String = text
        .lines()
        .take(MESSAGE_LINES)
        .flat_map(|l| [l, "\n"])
        .collect();
    let _ = writeln!(out, "… {} more lines", total - MESSAGE_LINES);
    out
}
