//! OTLP/JSON: the JSON encoding of an OpenTelemetry
//! `ExportTraceServiceRequest`, as an OTLP/HTTP collector accepts it and
//! Jaeger and Grafana Tempo import it.
//!
//! ```text
//! {"resourceSpans": [                       one per bhtrace service
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
//!   the [`SpanId`](crate::SpanId) + 1 (an all-zero id is invalid in OTLP).
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

use std::io::Write;

use serde::Serialize;

use super::{Counting, ExportError, ExportStats, add_read};
use crate::{Span, SpanId, SpanInfo, TraceReader, Value};

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
        .filter(|(k, _)| !OTEL_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| kv(k, any_value(v)))
        .collect();
    attributes.push(kv(
        "code.namespace",
        AnyValue::StringValue(info.target.clone()),
    ));
    if let Some(file) = &info.file {
        attributes.push(kv("code.filepath", AnyValue::StringValue(file.clone())));
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
                .filter(|(k, _)| k != "message")
                .map(|(k, v)| kv(k, any_value(v)))
                .collect();
            attributes.push(kv("level", AnyValue::StringValue(e.level.to_string())));
            attributes.push(kv("target", AnyValue::StringValue(e.target.clone())));
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

/// Writes the trace as OTLP/JSON (see the [module docs](self) for the
/// mapping). Reads each service's payload blocks in turn: one service's
/// spans in memory at a time.
///
/// # Errors
/// [`ExportError::Read`] if the trace cannot be read or decoded,
/// [`ExportError::Write`] if `out` fails.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let trace = bhtrace::TraceReader::open("app.bht")?;
/// let mut out = std::io::BufWriter::new(std::fs::File::create("app.otlp.json")?);
/// bhtrace::export::write_otlp(&trace, &mut out)?;
/// std::io::Write::flush(&mut out)?;
/// // curl -H 'Content-Type: application/json' --data-binary @app.otlp.json \
/// //      http://localhost:4318/v1/traces
/// # Ok(()) }
/// ```
pub fn write_otlp(reader: &TraceReader, out: impl Write) -> Result<ExportStats, ExportError> {
    let (infos, _) = reader.infos();
    let process = &reader.header().process;
    let ids = Ids {
        wall_start: process.wall_start_unix_ns,
        pid: process.pid,
        root_of: roots_of(&infos),
    };
    let open = reader.open_stats();
    let mut stats = ExportStats {
        read: open,
        ..ExportStats::default()
    };
    let services = reader.services();
    let mut out = Counting::new(out);
    out.put(b"{\"resourceSpans\":[")?;
    for (n, &service) in services.iter().enumerate() {
        let spans = service_spans(reader, &infos, &services, service, &mut stats)?;
        out.put(if n == 0 { b"\n" } else { b",\n" })?;
        let resource = serde_json::json!({
            "attributes": [
                kv("service.name", AnyValue::StringValue(service.to_owned())),
                kv("process.pid", AnyValue::IntValue(process.pid.to_string())),
                kv("process.executable.path", AnyValue::StringValue(process.executable.clone())),
                kv("telemetry.sdk.name", AnyValue::StringValue("bhtrace".into())),
                kv("telemetry.sdk.version", AnyValue::StringValue(process.writer_version.clone())),
            ]
        });
        out.put(b"{\"resource\":")?;
        serde_json::to_writer(&mut out, &resource)?;
        out.put(b",\"scopeSpans\":[{\"scope\":")?;
        let scope = serde_json::json!({"name": "bhtrace", "version": env!("CARGO_PKG_VERSION")});
        serde_json::to_writer(&mut out, &scope)?;
        out.put(b",\"spans\":[")?;
        for (i, span) in spans.iter().enumerate() {
            out.put(if i == 0 { b"\n" } else { b",\n" })?;
            serde_json::to_writer(&mut out, &otlp_span(reader, &ids, span))?;
            stats.spans += 1;
            stats.records += 1;
            stats.events += span.events.len() as u64;
        }
        out.put(b"]}]}")?;
    }
    out.put(b"\n]}\n")?;
    stats.bytes = out.bytes;
    Ok(stats)
}

/// The root of every span: a root is its own; a child has its parent's,
/// and parents come before children in the index.
fn roots_of(infos: &[SpanInfo]) -> Vec<u32> {
    let mut roots: Vec<u32> = Vec::with_capacity(infos.len());
    for info in infos {
        let root = info
            .parent
            .and_then(|p| roots.get(p.index()).copied())
            .unwrap_or(info.id.0);
        roots.push(root);
    }
    roots
}

/// The spans whose service is exactly `service`, with their payload.
/// [`TraceReader::service`] reads them in batches but also matches the
/// services under `service::`; when there are such, each span is read on
/// its own instead, so that no block is read twice over the export.
fn service_spans(
    reader: &TraceReader,
    infos: &[SpanInfo],
    services: &[&str],
    service: &str,
    stats: &mut ExportStats,
) -> Result<Vec<Span>, ExportError> {
    let open = reader.open_stats();
    let nested = services.iter().any(|s| {
        s.strip_prefix(service)
            .is_some_and(|rest| rest.starts_with("::"))
    });
    if !nested {
        let (spans, st) = reader.service(service)?;
        add_read(&mut stats.read, st, open);
        return Ok(spans);
    }
    let mut spans = Vec::new();
    for info in infos.iter().filter(|i| i.service == service) {
        let (span, st) = reader.span(info.id)?;
        add_read(&mut stats.read, st, open);
        spans.push(span);
    }
    Ok(spans)
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
