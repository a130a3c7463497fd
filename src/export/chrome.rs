//! Chrome trace-event JSON, as loaded by the Perfetto UI and `chrome://tracing`.
//!
//! The output is one JSON object, `{"traceEvents": [...], "otherData": {...}}`:
//!
//! - `"M"` metadata events name the process (`process_name`: the service
//!   name given to the [`Builder`](crate::Builder), else the executable) and
//!   every thread (`thread_name`: its name, else `thread N`). `pid` is the
//!   traced process's id, `tid` the bhtrace thread number (1, 2, …).
//! - `"X"` complete events, one per enter/exit interval of a span, on the
//!   track of the thread it was entered on: what each thread was doing.
//!   An interval still open when the trace ended runs to the span's end.
//! - A span entered on more than one thread (an async task that moved), or
//!   never entered at all, is also drawn as an async slice from its
//!   creation to its close: a `"b"`/`"e"` pair with `cat` = its target and
//!   `id` = its span id, so each such span has its own async track.
//! - `"i"` instant events (thread-scoped) for every event, inside a span or
//!   not, named by its message.
//! - Timestamps (`ts`, `dur`) are microseconds since the trace origin, as
//!   floats, so nanoseconds are kept.
//!
//! `args` hold the span's fields, plus `bhtrace.id` (the [`SpanId`](crate::SpanId)),
//! `bhtrace.service`, and `bhtrace.error` / `bhtrace.incomplete` when set.
//! An event's `args` hold its fields (the message included) and `level`.

use serde::Serialize;
use serde_json::{Map, Value as J};

use super::{Counting, ExportError, ExportStats, for_each_tree, json_fields};
use crate::{EventData, Span, TraceReader};

/// One trace event. Optional members are left out when unset.
#[derive(Serialize)]
struct Event<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    cat: Option<&'a str>,
    ph: &'static str,
    ts: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    dur: Option<f64>,
    pid: u32,
    tid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    s: Option<&'static str>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    args: Map<String, J>,
}

impl<'a> Event<'a> {
    fn new(name: &'a str, ph: &'static str, ts_ns: u64, pid: u32, tid: u32) -> Self {
        Event {
            name,
            cat: None,
            ph,
            ts: micros(ts_ns),
            dur: None,
            pid,
            tid,
            id: None,
            s: None,
            args: Map::new(),
        }
    }
}

/// Nanoseconds as the format's microseconds.
fn micros(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

/// Writes events separated by commas, counting them.
struct Events<'w, W: std::io::Write> {
    out: &'w mut Counting<W>,
    count: u64,
}

impl<W: std::io::Write> Events<'_, W> {
    fn push(&mut self, ev: &Event<'_>) -> Result<(), ExportError> {
        self.out.put(if self.count == 0 { b"\n" } else { b",\n" })?;
        serde_json::to_writer(&mut *self.out, ev)?;
        self.count += 1;
        Ok(())
    }
}

/// Writes the trace as Chrome trace-event JSON (see the [module docs](self)
/// for what becomes what). Reads every payload block, one root's subtree
/// at a time.
///
/// # Errors
/// [`ExportError::Read`] if the trace cannot be read or decoded,
/// [`ExportError::Write`] if `out` fails.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let trace = bhtrace::TraceReader::open("app.bht")?;
/// let mut out = std::io::BufWriter::new(std::fs::File::create("app.trace.json")?);
/// bhtrace::export::write_chrome(&trace, &mut out)?;
/// std::io::Write::flush(&mut out)?;
/// // open app.trace.json in https://ui.perfetto.dev
/// # Ok(()) }
/// ```
pub fn write_chrome(
    reader: &TraceReader,
    out: impl std::io::Write,
) -> Result<ExportStats, ExportError> {
    let mut out = Counting::new(out);
    let mut stats = ExportStats {
        read: reader.decode_base()?,
        ..ExportStats::default()
    };
    let process = &reader.header().process;
    let pid = process.pid;
    out.put(b"{\"traceEvents\":[")?;
    let mut events = Events {
        out: &mut out,
        count: 0,
    };

    let process_name = process
        .service_name
        .clone()
        .unwrap_or_else(|| process.executable.clone());
    let mut meta = Event::new("process_name", "M", 0, pid, 0);
    meta.args.insert("name".into(), J::String(process_name));
    events.push(&meta)?;
    for (tid, name) in reader.threads() {
        let mut meta = Event::new("thread_name", "M", 0, pid, tid);
        let name = name.map_or_else(|| format!("thread {tid}"), str::to_owned);
        meta.args.insert("name".into(), J::String(name));
        events.push(&meta)?;
        let mut sort = Event::new("thread_sort_index", "M", 0, pid, tid);
        sort.args.insert("sort_index".into(), J::from(tid));
        events.push(&sort)?;
    }

    for_each_tree(reader, &mut stats.read, |spans| {
        for span in &spans {
            write_span(&mut events, span, pid)?;
            stats.spans += 1;
            stats.events += span.events.len() as u64;
        }
        Ok(())
    })?;
    let (orphans, st) = reader.orphan_events_with(false)?;
    super::add_read(&mut stats.read, st, reader.open_stats());
    for ev in &orphans {
        write_event(&mut events, ev, pid)?;
        stats.events += 1;
    }
    stats.records = events.count;

    out.put(b"\n],\"otherData\":")?;
    let other = serde_json::json!({
        "exporter": concat!("bhtrace ", env!("CARGO_PKG_VERSION")),
        "executable": process.executable,
        "pid": pid,
        "wall_start_unix_ns": process.wall_start_unix_ns,
        "writer_version": process.writer_version,
    });
    serde_json::to_writer(&mut out, &other)?;
    out.put(b"}\n")?;
    stats.bytes = out.bytes;
    Ok(stats)
}

fn span_args(span: &Span) -> Map<String, J> {
    let info = &span.info;
    let mut args = json_fields(&span.fields, &[]);
    args.insert("bhtrace.id".into(), J::from(info.id.0));
    args.insert(
        "bhtrace.service".into(),
        J::String(info.service.to_string()),
    );
    if info.error {
        args.insert("bhtrace.error".into(), J::Bool(true));
    }
    if info.incomplete {
        args.insert("bhtrace.incomplete".into(), J::Bool(true));
    }
    args
}

fn write_span<W: std::io::Write>(
    events: &mut Events<'_, W>,
    span: &Span,
    pid: u32,
) -> Result<(), ExportError> {
    let info = &span.info;
    let args = span_args(span);
    for iv in &span.intervals {
        let exit = iv.exit_ns.unwrap_or(info.end_ns).max(iv.enter_ns);
        let mut ev = Event::new(&info.name, "X", iv.enter_ns, pid, iv.thread);
        ev.cat = Some(&info.target);
        ev.dur = Some(micros(exit - iv.enter_ns));
        ev.args = args.clone();
        if iv.exit_ns.is_none() {
            ev.args.insert("bhtrace.incomplete".into(), J::Bool(true));
        }
        events.push(&ev)?;
    }
    let first = span.intervals.first().map(|iv| iv.thread);
    let moved = span.intervals.iter().any(|iv| Some(iv.thread) != first);
    if moved || span.intervals.is_empty() {
        let id = format!("{:#x}", info.id.0);
        let mut begin = Event::new(&info.name, "b", info.start_ns, pid, info.thread);
        begin.cat = Some(&info.target);
        begin.id = Some(id.clone());
        begin.args = args;
        events.push(&begin)?;
        let mut end = Event::new(
            &info.name,
            "e",
            info.end_ns.max(info.start_ns),
            pid,
            info.thread,
        );
        end.cat = Some(&info.target);
        end.id = Some(id);
        events.push(&end)?;
    }
    for ev in &span.events {
        write_event(events, ev, pid)?;
    }
    Ok(())
}

fn write_event<W: std::io::Write>(
    events: &mut Events<'_, W>,
    ev: &EventData,
    pid: u32,
) -> Result<(), ExportError> {
    let mut out = Event::new(
        ev.message().unwrap_or(&ev.name),
        "i",
        ev.t_ns,
        pid,
        ev.thread,
    );
    out.cat = Some(&ev.target);
    out.s = Some("t");
    out.args = json_fields(&ev.fields, &[]);
    out.args
        .insert("level".into(), J::String(ev.level.to_string()));
    events.push(&out)
}
