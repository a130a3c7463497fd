//! Exports of a trace to other tools' formats.
//!
//! | function | format | for | reads |
//! |---|---|---|---|
//! | [`write_chrome`] | Chrome trace-event JSON | Perfetto UI, `chrome://tracing` | every payload block |
//! | [`write_folded`] | folded stacks, weighted by self time | inferno, `flamegraph.pl` | the index only |
//! | [`write_otlp`] | OTLP/JSON lines (`TracesData`) | OpenTelemetry collectors, Jaeger, Tempo | every payload block |
//!
//! Each takes a [`TraceReader`] and any [`std::io::Write`], streams its
//! output (one root's subtree in memory at a time, never the whole trace)
//! and returns [`ExportStats`]: what it wrote and what it read.
//! The writer is not flushed: wrap a file in a [`std::io::BufWriter`] and
//! flush it yourself.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::io::{BufWriter, Write};
//!
//! let trace = bhtrace::TraceReader::open("app.bht")?;
//! let mut out = BufWriter::new(std::fs::File::create("app.json")?);
//! let stats = bhtrace::export::write_chrome(&trace, &mut out)?;
//! out.flush()?;
//! println!("{} trace events, {} bytes", stats.records, stats.bytes);
//! # Ok(()) }
//! ```

pub mod chrome;
pub mod folded;
pub mod otlp;

pub use chrome::write_chrome;
pub use folded::write_folded;
pub use otlp::write_otlp;

use std::io::{self, Write};
use std::sync::Arc;

use crate::{Error, ReadStats, Span, SpanId, SpanInfo, TraceReader, Value};

/// Why an export failed: the trace could not be read, or the output could
/// not be written. The two are kept apart so that a caller can tell a
/// corrupt input from a full disk or a closed pipe.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// Reading or decoding the trace failed.
    #[error(transparent)]
    Read(#[from] Error),
    /// Writing the output failed.
    #[error("cannot write the export: {0}")]
    Write(#[source] io::Error),
}

impl From<serde_json::Error> for ExportError {
    fn from(e: serde_json::Error) -> Self {
        // Serializing our own plain structs can only fail in the writer;
        // `io::Error::from` keeps the I/O error's kind.
        ExportError::Write(io::Error::from(e))
    }
}

/// What an export wrote and read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportStats {
    /// Spans exported.
    pub spans: u64,
    /// Events exported (span events, and events outside spans where the
    /// format has a place for them).
    pub events: u64,
    /// Output records: trace events (Chrome), lines (folded), spans (OTLP).
    pub records: u64,
    /// Bytes written.
    pub bytes: u64,
    /// What was read from the trace: the structure read at open plus the
    /// payload the export needed (and the whole fields section, once, if it
    /// decoded any).
    pub read: ReadStats,
}

/// The index entries of `root`'s subtree, in id order.
pub(crate) fn subtree_infos(reader: &TraceReader, root: SpanId) -> Result<Vec<SpanInfo>, Error> {
    let end = reader.info(root)?.subtree_end.0;
    (root.0..end).map(|i| reader.info(SpanId(i))).collect()
}

/// The first span of every top-level subtree, in id order (index only).
pub(crate) fn tree_roots(reader: &TraceReader) -> Result<Vec<(SpanId, SpanId)>, Error> {
    let mut out = Vec::new();
    let mut r = 0u32;
    while (r as usize) < reader.len() {
        let end = reader.info(SpanId(r))?.subtree_end.0.max(r + 1);
        out.push((SpanId(r), SpanId(end)));
        r = end;
    }
    Ok(out)
}

/// A field value as JSON, the one mapping every export and the CLI share:
/// booleans, integers and finite floats as JSON values; 128-bit integers
/// that do not fit 64 bits, and non-finite floats, as strings; bytes as a
/// hex string.
///
/// ```
/// use bhtrace::Value;
/// use bhtrace::export::json_value;
/// assert_eq!(json_value(&Value::I64(-3)), serde_json::json!(-3));
/// assert_eq!(json_value(&Value::U128(u128::MAX)), serde_json::json!(u128::MAX.to_string()));
/// assert_eq!(json_value(&Value::Bytes(vec![0xbe, 0xef])), serde_json::json!("beef"));
/// ```
pub fn json_value(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Bool(b) => J::Bool(*b),
        Value::I64(i) => J::from(*i),
        Value::U64(u) => J::from(*u),
        Value::I128(i) => i64::try_from(*i).map_or_else(|_| J::String(i.to_string()), J::from),
        Value::U128(u) => u64::try_from(*u).map_or_else(|_| J::String(u.to_string()), J::from),
        Value::F64(f) => {
            serde_json::Number::from_f64(*f).map_or_else(|| J::String(f.to_string()), J::Number)
        }
        Value::Str(s) => J::String(s.clone()),
        Value::Bytes(_) => J::String(v.to_string()),
    }
}

/// Fields as a JSON object, in recorded order, leaving out `skip`.
pub(crate) fn json_fields(
    fields: &[(Arc<str>, Value)],
    skip: &[&str],
) -> serde_json::Map<String, serde_json::Value> {
    fields
        .iter()
        .filter(|(k, _)| !skip.contains(&&**k))
        .map(|(k, v)| (k.to_string(), json_value(v)))
        .collect()
}

/// Adds what a query read beyond `base` (what every such query reads: the
/// structure, read at open) to `total`, which counts `base` once.
pub(crate) fn add_read(total: &mut ReadStats, query: ReadStats, base: ReadStats) {
    total.bytes_read += query.bytes_read.saturating_sub(base.bytes_read);
    total.reads += query.reads.saturating_sub(base.reads);
    total.file_len = query.file_len;
}

/// Calls `f` with each top-level subtree in id order, with its payload:
/// one read per subtree, one subtree in memory at a time. The field names
/// are read (whole, once: [`TraceReader::decode_base`], which `read` is
/// expected to count) before the first subtree.
pub(crate) fn for_each_tree(
    reader: &TraceReader,
    read: &mut ReadStats,
    mut f: impl FnMut(Vec<Span>) -> Result<(), ExportError>,
) -> Result<(), ExportError> {
    reader.decode_base()?;
    let base = reader.open_stats();
    for (root, _) in tree_roots(reader)? {
        let (spans, st) = reader.subtree_with(root, false)?;
        add_read(read, st, base);
        f(spans)?;
    }
    Ok(())
}

/// A writer that counts the bytes it passes on.
pub(crate) struct Counting<W> {
    inner: W,
    pub(crate) bytes: u64,
}

impl<W: Write> Counting<W> {
    pub(crate) fn new(inner: W) -> Self {
        Counting { inner, bytes: 0 }
    }

    /// Writes all of `buf`, mapping a failure to [`ExportError::Write`].
    pub(crate) fn put(&mut self, buf: &[u8]) -> Result<(), ExportError> {
        self.write_all(buf).map_err(ExportError::Write)
    }
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
