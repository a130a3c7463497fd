//! OTLP/JSON lines: the JSON encoding of OpenTelemetry `TracesData` (the
//! body of an OTLP/HTTP `ExportTraceServiceRequest`), one per line, as the
//! OpenTelemetry file-exporter specification lays out a file and the
//! collector's `otlpjsonfile` receiver reads it. Each line is a complete
//! request of a few MiB at most that an OTLP/HTTP endpoint (a collector,
//! Jaeger, Grafana Tempo) accepts as it is; a small trace is one line, so
//! the whole output is then one JSON document.
//!
//! ```text
//! {"resourceSpans": [                       one per bhtrace service in the line
//!   {"resource": {"attributes": [service.name, process.pid, process.executable.path]},
//!    "scopeSpans": [{"scope": {"name": "bhtrace", "version": …},
//!                    "spans": [{traceId, spanId, parentSpanId, name, kind,
//!                               startTimeUnixNano, endTimeUnixNano,
//!                               attributes, events, links, status}, …]}]}, …]}
//! ```
//!
//! - Each bhtrace service (a span's `service` field, else its target) is
//!   one resource with that `service.name`, so a trace viewer shows the
//!   same services as `bhtrace summary`.
//! - `traceId` (32 hex digits) is one per root span: the trace's wall-clock
//!   start (16 digits), the process id (8) and the root's id + 1 (8), so
//!   the same file always exports the same ids. `spanId` (16 hex digits) is
//!   the [`SpanId`] + 1 (an all-zero id is invalid in OTLP).
//! - Enums are integers: `kind` is 1 (internal) unless an `otel.kind`
//!   field says `server` (2), `client` (3), `producer` (4) or `consumer`
//!   (5); `status.code` is 2 (error) for a span flagged as an error, 1 (ok)
//!   if `otel.status_code` is `OK`, else 0 (unset).
//! - 64-bit numbers are strings, as the protobuf JSON mapping wants:
//!   times (`startTimeUnixNano` = the trace's wall-clock start + the span's
//!   start) and `intValue` attributes. Integers beyond `i64` become
//!   `stringValue`, bytes `bytesValue` (base64).
//! - The span's name is its `otel.name` field if it has one. The `otel.*`
//!   fields that set name, kind and status are not repeated as attributes;
//!   `code.namespace` (target), `code.filepath`, `code.lineno`,
//!   `thread.id`, `thread.name` and `bhtrace.busy_ns` are added.
//! - Span events keep their fields as attributes, with `level` and
//!   `target`; the event's name is its message. Follows-from links become
//!   `links`. Events outside every span have no place in OTLP and are left
//!   out.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use serde::Serialize;

use super::{Counting, ExportError, ExportStats, for_each_tree, tree_roots};
use crate::{Span, SpanId, TraceReader, Value};

/// `SPAN_KIND_INTERNAL`.
const KIND_INTERNAL: i32 = 1;
/// `STATUS_CODE_OK` and `STATUS_CODE_ERROR`.
const STATUS_OK: i32 = 1;
const STATUS_ERROR: i32 = 2;
/// Fields that steer the export instead of becoming attributes.
const OTEL_FIELDS: [&str; 4] = [
    "otel.name",
    "otel.kind",
    "otel.status_code",
    "otel.status_message",
];

/// An OTLP `KeyValue`.
#[derive(Serialize)]
struct KeyValue {
    key: String,
    value: AnyValue,
}

/// An OTLP `AnyValue`, with the protobuf JSON mapping's encodings.
// The variant names are OTLP's own (`stringValue`, …).
#[allow(clippy::enum_variant_names)]
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum AnyValue {
    StringValue(String),
    BoolValue(bool),
    /// int64: a decimal string.
    IntValue(String),
    /// A number, or "NaN", "Infinity", "-Infinity".
    DoubleValue(serde_json::Value),
    /// base64.
    BytesValue(String),
}

/// A field value as an OTLP `AnyValue`.
fn any_value(v: &Value) -> AnyValue {
    let int = |i: Option<i64>, text: String| match i {
        Some(i) => AnyValue::IntValue(i.to_string()),
        None => AnyValue::StringValue(text),
    };
    match v {
        Value::Bool(b) => AnyValue::BoolValue(*b),
        Value::I64(i) => AnyValue::IntValue(i.to_string()),
        Value::U64(u) => int(i64::try_from(*u).ok(), u.to_string()),
        Value::I128(i) => int(i64::try_from(*i).ok(), i.to_string()),
        Value::U128(u) => int(i64::try_from(*u).ok(), u.to_string()),
        Value::F64(f) => AnyValue::DoubleValue(match serde_json::Number::from_f64(*f) {
            Some(n) => serde_json::Value::Number(n),
            None if f.is_nan() => "NaN".into(),
            None if *f > 0.0 => "Infinity".into(),
            None => "-Infinity".into(),
        }),
        Value::Str(s) => AnyValue::StringValue(s.clone()),
        Value::Bytes(b) => AnyValue::BytesValue(base64(b)),
    }
}

fn kv(key: &str, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value,
    }
}

/// Standard base64 with padding (RFC 4648 §4), as protobuf JSON encodes bytes.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OtlpSpan {
    trace_id: String,
    span_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_span_id: Option<String>,
    name: String,
    kind: i32,
    start_time_unix_nano: String,
    end_time_unix_nano: String,
    attributes: Vec<KeyValue>,
    events: Vec<OtlpEvent>,
    links: Vec<Link>,
    status: Status,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OtlpEvent {
    time_unix_nano: String,
    name: String,
    attributes: Vec<KeyValue>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Link {
    trace_id: String,
    span_id: String,
}

#[derive(Serialize)]
struct Status {
    code: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

/// Ids and clock of the trace being exported.
struct Ids {
    wall_start: u64,
    pid: u32,
    /// The root of every span, by id.
    root_of: Vec<u32>,
}

impl Ids {
    fn trace_id(&self, span: SpanId) -> String {
        let root = self.root_of.get(span.index()).copied().unwrap_or(span.0);
        format!(
            "{:016x}{:08x}{:08x}",
            self.wall_start,
            self.pid,
            u64::from(root) + 1
        )
    }

    fn span_id(span: SpanId) -> String {
        format!("{:016x}", u64::from(span.0) + 1)
    }

    fn unix(&self, t_ns: u64) -> String {
        self.wall_start.saturating_add(t_ns).to_string()
    }
}

fn kind(span: &Span) -> i32 {
    let Some(k) = span.field("otel.kind").and_then(Value::as_str) else {
        return KIND_INTERNAL;
    };
    match k.to_ascii_lowercase().as_str() {
        "server" => 2,
        "client" => 3,
        "producer" => 4,
        "consumer" => 5,
        _ => KIND_INTERNAL,
    }
}

fn status(span: &Span) -> Status {
    let field_text = |name: &str| span.field(name).map(Value::to_string);
    if span.info.error {
        let message = field_text("otel.status_message")
            .or_else(|| {
                span.events
                    .iter()
                    .find(|e| e.level == crate::Level::ERROR)
                    .and_then(|e| e.message().map(str::to_owned))
            })
            .or_else(|| {
                span.field("error")
                    .filter(|v| v.as_bool().is_none())
                    .map(Value::to_string)
            });
        return Status {
            code: STATUS_ERROR,
            message,
        };
    }
    let ok = span
        .field("otel.status_code")
        .and_then(Value::as_str)
        .is_some_and(|s| s.eq_ignore_ascii_case("ok"));
    Status {
        code: if ok { STATUS_OK } else { 0 },
        message: None,
    }
}

fn otlp_span(reader: &TraceReader, ids: &Ids, span: &Span) -> OtlpSpan {
    let info = &span.info;
    let mut attributes: Vec<KeyValue> = span
        .fields
        .iter()
        .filter(|(k, _)| !OTEL_FIELDS.contains(&&**k))
        .map(|(k, v)| kv(k, any_value(v)))
        .collect();
    attributes.push(kv(
        "code.namespace",
        AnyValue::StringValue(info.target.to_string()),
    ));
    if let Some(file) = &info.file {
        attributes.push(kv("code.filepath", AnyValue::StringValue(file.to_string())));
    }
    if let Some(line) = info.line {
        attributes.push(kv("code.lineno", AnyValue::IntValue(line.to_string())));
    }
    attributes.push(kv("thread.id", AnyValue::IntValue(info.thread.to_string())));
    if let Some(name) = reader.thread_name(info.thread) {
        attributes.push(kv("thread.name", AnyValue::StringValue(name.to_owned())));
    }
    attributes.push(kv(
        "bhtrace.busy_ns",
        AnyValue::IntValue(info.busy_ns.to_string()),
    ));
    if info.incomplete {
        attributes.push(kv("bhtrace.incomplete", AnyValue::BoolValue(true)));
    }
    let events = span
        .events
        .iter()
        .map(|e| {
            let mut attributes: Vec<KeyValue> = e
                .fields
                .iter()
                .filter(|(k, _)| &**k != "message")
                .map(|(k, v)| kv(k, any_value(v)))
                .collect();
            attributes.push(kv("level", AnyValue::StringValue(e.level.to_string())));
            attributes.push(kv("target", AnyValue::StringValue(e.target.to_string())));
            OtlpEvent {
                time_unix_nano: ids.unix(e.t_ns),
                name: e.message().unwrap_or(&e.name).to_owned(),
                attributes,
            }
        })
        .collect();
    OtlpSpan {
        trace_id: ids.trace_id(info.id),
        span_id: Ids::span_id(info.id),
        parent_span_id: info.parent.map(Ids::span_id),
        name: span
            .field("otel.name")
            .and_then(Value::as_str)
            .unwrap_or(&info.name)
            .to_owned(),
        kind: kind(span),
        start_time_unix_nano: ids.unix(info.start_ns),
        end_time_unix_nano: ids.unix(info.end_ns.max(info.start_ns)),
        attributes,
        events,
        links: span
            .follows_from
            .iter()
            .map(|&to| Link {
                trace_id: ids.trace_id(to),
                span_id: Ids::span_id(to),
            })
            .collect(),
        status: status(span),
    }
}

/// Bytes of spans buffered before a line is written, checked between
/// top-level subtrees so that a trace's spans share a line: each line stays
/// a request an OTLP/HTTP collector accepts.
const LINE_BYTES: usize = 4 << 20;

/// Bytes of spans after which a line is written even inside a subtree,
/// checked after every span: a subtree whose output alone is larger (a
/// huge trace, or a crafted file whose spans all name one long string) is
/// split across lines rather than held in memory whole.
const MAX_LINE_BYTES: usize = 2 * LINE_BYTES;

/// Writes the trace as OTLP/JSON lines (see the [module docs](self) for
/// the mapping). Reads one root's subtree at a time; memory holds at most
/// one line of output (8 MiB of spans, plus the last span's own output).
///
/// # Errors
/// [`ExportError::Read`] if the trace cannot be read or decoded,
/// [`ExportError::Write`] if `out` fails.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let trace = bhtrace::TraceReader::open("app.bht")?;
/// let mut out = std::io::BufWriter::new(std::fs::File::create("app.otlp.jsonl")?);
/// bhtrace::export::write_otlp(&trace, &mut out)?;
/// std::io::Write::flush(&mut out)?;
/// // one request per line:
/// // while read -r line; do curl -H 'Content-Type: application/json' \
/// //     --data "$line" http://localhost:4318/v1/traces; done < app.otlp.jsonl
/// # Ok(()) }
/// ```
pub fn write_otlp(reader: &TraceReader, out: impl Write) -> Result<ExportStats, ExportError> {
    write_lines(reader, out, LINE_BYTES, MAX_LINE_BYTES)
}

/// [`write_otlp`], starting a new line once `line_bytes` of spans are
/// buffered (checked after each root's subtree), or once `max_line_bytes`
/// are (checked after each span).
fn write_lines(
    reader: &TraceReader,
    out: impl Write,
    line_bytes: usize,
    max_line_bytes: usize,
) -> Result<ExportStats, ExportError> {
    let process = &reader.header().process;
    let trees = tree_roots(reader)?;
    let mut root_of = vec![0u32; reader.len()];
    for &(root, end) in &trees {
        if let Some(slots) = root_of.get_mut(root.index()..end.index()) {
            slots.fill(root.0);
        }
    }
    let ids = Ids {
        wall_start: process.wall_start_unix_ns,
        pid: process.pid,
        root_of,
    };
    let mut stats = ExportStats {
        read: reader.decode_base()?,
        ..ExportStats::default()
    };
    let mut lines = Lines {
        out: Counting::new(out),
        by_service: BTreeMap::new(),
        buffered: 0,
        written: 0,
        reader,
    };
    for_each_tree(reader, &mut stats.read, |spans| {
        for span in &spans {
            let buf = lines
                .by_service
                .entry(span.info.service.clone())
                .or_default();
            let before = buf.len();
            if !buf.is_empty() {
                buf.push(b',');
            }
            serde_json::to_writer(&mut *buf, &otlp_span(reader, &ids, span))?;
            lines.buffered += buf.len() - before;
            stats.spans += 1;
            stats.records += 1;
            stats.events += span.events.len() as u64;
            if lines.buffered >= max_line_bytes {
                lines.flush()?;
            }
        }
        if lines.buffered >= line_bytes {
            lines.flush()?;
        }
        Ok(())
    })?;
    if lines.buffered > 0 || lines.written == 0 {
        lines.flush()?;
    }
    stats.bytes = lines.out.bytes;
    Ok(stats)
}

/// Spans serialized per service, waiting to be written as one line.
struct Lines<'r, W> {
    out: Counting<W>,
    by_service: BTreeMap<Arc<str>, Vec<u8>>,
    buffered: usize,
    written: u64,
    reader: &'r TraceReader,
}

impl<W: Write> Lines<'_, W> {
    /// Writes the buffered spans as one `TracesData` line: a resourceSpans
    /// entry per service.
    fn flush(&mut self) -> Result<(), ExportError> {
        let process = &self.reader.header().process;
        let scope = serde_json::json!({"name": "bhtrace", "version": env!("CARGO_PKG_VERSION")});
        self.out.put(b"{\"resourceSpans\":[")?;
        let mut first = true;
        // The buffers go with the line: memory is one line's, whichever
        // services the next line holds.
        for (service, spans) in std::mem::take(&mut self.by_service) {
            if spans.is_empty() {
                continue;
            }
            if !first {
                self.out.put(b",")?;
            }
            first = false;
            let resource = serde_json::json!({
                "attributes": [
                    kv("service.name", AnyValue::StringValue(service.to_string())),
                    kv("process.pid", AnyValue::IntValue(process.pid.to_string())),
                    kv("process.executable.path", AnyValue::StringValue(process.executable.clone())),
                    kv("telemetry.sdk.name", AnyValue::StringValue("bhtrace".into())),
                    kv("telemetry.sdk.version", AnyValue::StringValue(process.writer_version.clone())),
                ]
            });
            self.out.put(b"{\"resource\":")?;
            serde_json::to_writer(&mut self.out, &resource)?;
            self.out.put(b",\"scopeSpans\":[{\"scope\":")?;
            serde_json::to_writer(&mut self.out, &scope)?;
            self.out.put(b",\"spans\":[")?;
            self.out.put(&spans)?;
            self.out.put(b"]}]}")?;
        }
        self.out.put(b"]}\n")?;
        self.buffered = 0;
        self.written += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want);
        }
    }

    #[test]
    fn lines_split_between_roots_or_when_too_long_and_each_is_whole() {
        use tracing_subscriber::prelude::*;
        let dir = std::env::temp_dir().join(format!("bhtrace-otlp-lines-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.bht");
        let (layer, guard) = crate::Builder::new(&path).build().unwrap();
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            for i in 0..3 {
                let root = tracing::info_span!("root", i, service = "a");
                root.in_scope(|| tracing::info_span!("child", service = "b").in_scope(|| {}));
            }
        });
        guard.finish().unwrap();
        let reader = TraceReader::open(&path).unwrap();

        let mut one = Vec::new();
        write_otlp(&reader, &mut one).unwrap();
        assert_eq!(one.iter().filter(|&&b| b == b'\n').count(), 1);

        // A one-byte budget: a line per root, each a whole TracesData with
        // both services.
        let mut out = Vec::new();
        let stats = write_lines(&reader, &mut out, 1, MAX_LINE_BYTES).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 3);
        let mut spans = 0;
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let rs = v["resourceSpans"].as_array().unwrap();
            assert_eq!(rs.len(), 2);
            spans += rs
                .iter()
                .map(|r| r["scopeSpans"][0]["spans"].as_array().unwrap().len())
                .sum::<usize>();
        }
        assert_eq!(spans, 6);
        assert_eq!(stats.spans, 6);

        // A one-byte hard limit: a line per span, even inside a tree, each
        // a whole TracesData with the one service it holds.
        let mut out = Vec::new();
        let stats = write_lines(&reader, &mut out, usize::MAX, 1).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 6);
        for (i, line) in text.lines().enumerate() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let rs = v["resourceSpans"].as_array().unwrap();
            assert_eq!(rs.len(), 1);
            let spans = rs[0]["scopeSpans"][0]["spans"].as_array().unwrap();
            assert_eq!(spans.len(), 1);
            let want = if i % 2 == 0 { "root" } else { "child" };
            assert_eq!(spans[0]["name"], want);
        }
        assert_eq!(stats.spans, 6);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn integers_beyond_i64_become_strings() {
        let j = |v: Value| serde_json::to_value(any_value(&v)).unwrap();
        assert_eq!(j(Value::U64(7)), serde_json::json!({"intValue": "7"}));
        assert_eq!(
            j(Value::U64(u64::MAX)),
            serde_json::json!({"stringValue": u64::MAX.to_string()})
        );
        assert_eq!(
            j(Value::F64(f64::NAN)),
            serde_json::json!({"doubleValue": "NaN"})
        );
        assert_eq!(
            j(Value::Bytes(b"hi".to_vec())),
            serde_json::json!({"bytesValue": "aGk="})
        );
    }
}
