//! One module per subcommand, and the JSON shapes they share. The keys are
//! documented in `docs/cli.md` and kept stable.

pub(crate) mod critical_path;
pub(crate) mod export;
pub(crate) mod info;
pub(crate) mod logs;
pub(crate) mod recover;
pub(crate) mod show;
pub(crate) mod slow;
pub(crate) mod spans;
pub(crate) mod summary;
pub(crate) mod tree;

use std::sync::Arc;

use bhtrace::export::json_value;
use bhtrace::{EventData, ReadStats, Span, SpanId, SpanInfo, Value};
use serde::Serialize;
use serde_json::Map;

use crate::input::Input;
use crate::out::{Out, Style};

/// Every top-level subtree as (first id, one past its last), in id order,
/// from the index.
pub(crate) fn trees(input: &Input) -> anyhow::Result<Vec<(SpanId, SpanId)>> {
    let trace = &input.reader;
    let mut out = Vec::new();
    let mut r = 0u32;
    while (r as usize) < trace.len() {
        let end = input.check(trace.info(SpanId(r)))?.subtree_end.0.max(r + 1);
        out.push((SpanId(r), SpanId(end)));
        r = end;
    }
    Ok(out)
}

/// The index entries of ids `[from, to)`.
pub(crate) fn infos(input: &Input, from: SpanId, to: SpanId) -> anyhow::Result<Vec<SpanInfo>> {
    (from.0..to.0)
        .map(|i| input.check(input.reader.info(SpanId(i))))
        .collect()
}

/// The self time of one span.
pub(crate) fn self_time(input: &Input, id: SpanId) -> anyhow::Result<u64> {
    input.check(input.reader.self_ns(id))
}

/// The self time of each of `infos`, in the same order.
pub(crate) fn self_times(input: &Input, infos: &[SpanInfo]) -> anyhow::Result<Vec<u64>> {
    infos.iter().map(|s| self_time(input, s.id)).collect()
}

/// A span from the index: `slow --json`, `tree --json`, and the base of
/// the full span.
#[derive(Debug, Serialize)]
pub(crate) struct IndexSpan {
    id: u32,
    parent: Option<u32>,
    name: Arc<str>,
    target: Arc<str>,
    service: Arc<str>,
    level: String,
    thread: u32,
    start_ns: u64,
    end_ns: u64,
    duration_ns: u64,
    busy_ns: u64,
    self_ns: u64,
    incomplete: bool,
    error: bool,
}

impl IndexSpan {
    pub(crate) fn new(info: &SpanInfo, self_ns: u64) -> Self {
        IndexSpan {
            id: info.id.0,
            parent: info.parent.map(|p| p.0),
            name: info.name.clone(),
            target: info.target.clone(),
            service: info.service.clone(),
            level: info.level.to_string(),
            thread: info.thread,
            start_ns: info.start_ns,
            end_ns: info.end_ns,
            duration_ns: info.duration_ns(),
            busy_ns: info.busy_ns,
            self_ns,
            incomplete: info.incomplete,
            error: info.error,
        }
    }
}

/// A span with its payload: `spans --json` and `show --json`.
#[derive(Debug, Serialize)]
pub(crate) struct FullSpan {
    #[serde(flatten)]
    base: IndexSpan,
    file: Option<Arc<str>>,
    line: Option<u32>,
    fields: Map<String, serde_json::Value>,
    events: Vec<EventJson>,
    intervals: Vec<IntervalJson>,
    follows_from: Vec<u32>,
}

impl FullSpan {
    pub(crate) fn new(span: &Span, self_ns: u64) -> Self {
        FullSpan {
            base: IndexSpan::new(&span.info, self_ns),
            file: span.info.file.clone(),
            line: span.info.line,
            fields: fields_json(&span.fields, None),
            events: span.events.iter().map(EventJson::new).collect(),
            intervals: span
                .intervals
                .iter()
                .map(|iv| IntervalJson {
                    thread: iv.thread,
                    enter_ns: iv.enter_ns,
                    exit_ns: iv.exit_ns,
                })
                .collect(),
            follows_from: span.follows_from.iter().map(|s| s.0).collect(),
        }
    }
}

/// An event inside a span's JSON.
#[derive(Debug, Serialize)]
pub(crate) struct EventJson {
    t_ns: u64,
    level: String,
    target: Arc<str>,
    message: Option<String>,
    fields: Map<String, serde_json::Value>,
    thread: u32,
}

impl EventJson {
    pub(crate) fn new(e: &EventData) -> Self {
        EventJson {
            t_ns: e.t_ns,
            level: e.level.to_string(),
            target: e.target.clone(),
            message: e.message().map(str::to_owned),
            fields: fields_json(&e.fields, Some("message")),
            thread: e.thread,
        }
    }
}

#[derive(Debug, Serialize)]
struct IntervalJson {
    thread: u32,
    enter_ns: u64,
    exit_ns: Option<u64>,
}

/// A span on a critical path or in a "slowest" list.
#[derive(Debug, Serialize)]
pub(crate) struct SpanRef {
    pub(crate) id: u32,
    pub(crate) name: Arc<str>,
    pub(crate) service: Arc<str>,
    pub(crate) start_ns: u64,
    pub(crate) end_ns: u64,
}

impl SpanRef {
    pub(crate) fn of(info: &SpanInfo) -> Self {
        SpanRef {
            id: info.id.0,
            name: info.name.clone(),
            service: info.service.clone(),
            start_ns: info.start_ns,
            end_ns: info.end_ns,
        }
    }
}

/// What a query read.
#[derive(Debug, Serialize)]
pub(crate) struct ReadJson {
    bytes_read: u64,
    reads: u64,
    file_len: u64,
}

impl From<ReadStats> for ReadJson {
    fn from(s: ReadStats) -> Self {
        ReadJson {
            bytes_read: s.bytes_read,
            reads: s.reads,
            file_len: s.file_len,
        }
    }
}

/// Fields as a JSON object, leaving out `skip`.
pub(crate) fn fields_json(
    fields: &[(Arc<str>, Value)],
    skip: Option<&str>,
) -> Map<String, serde_json::Value> {
    fields
        .iter()
        .filter(|(k, _)| Some(&**k) != skip)
        .map(|(k, v)| (k.to_string(), json_value(v)))
        .collect()
}

/// Fields as `k=v k2="text with spaces"`, leaving out `skip`.
pub(crate) fn fields_text(fields: &[(Arc<str>, Value)], skip: Option<&str>) -> String {
    let mut s = String::new();
    for (k, v) in fields.iter().filter(|(k, _)| Some(&**k) != skip) {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(k);
        s.push('=');
        s.push_str(&value_text(v));
    }
    s
}

/// A value as text: strings quoted when they hold spaces, `=` or quotes.
pub(crate) fn value_text(v: &Value) -> String {
    match v {
        Value::Str(s) if s.is_empty() || s.contains([' ', '=', '"', '\n', '\t']) => {
            format!("{s:?}")
        }
        v => v.to_string(),
    }
}

/// True when a span's service is `want` or lies under `want::`, as
/// [`bhtrace::TraceReader::service`] matches.
pub(crate) fn service_matches(service: &str, want: &str) -> bool {
    service
        .strip_prefix(want)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

/// The error and incomplete marks after a span's name.
pub(crate) fn marks(out: &Out, info: &SpanInfo) -> String {
    let mut s = String::new();
    if info.error {
        s.push(' ');
        s.push_str(&out.paint(Style::Red, "ERROR"));
    }
    if info.incomplete {
        s.push(' ');
        s.push_str(&out.paint(Style::Yellow, "INCOMPLETE"));
    }
    s
}

/// A level, padded to five and coloured.
pub(crate) fn level(out: &Out, level: bhtrace::Level) -> String {
    let text = format!("{:<5}", level.to_string());
    let style = match level {
        bhtrace::Level::ERROR => Style::Red,
        bhtrace::Level::WARN => Style::Yellow,
        bhtrace::Level::INFO => Style::Green,
        bhtrace::Level::DEBUG => Style::Cyan,
        _ => Style::Magenta,
    };
    out.paint(style, text)
}

/// `#id` padded to `width` and dimmed.
pub(crate) fn id(out: &Out, info: &SpanInfo, width: usize) -> String {
    out.paint(Style::Dim, format!("{:<width$}", format!("#{}", info.id)))
}
