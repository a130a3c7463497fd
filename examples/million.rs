//! Scale check: a trace of N spans (default 1,000,000), each with one
//! 3-field event, then its conversion and an open + summary.
//!
//! ```text
//! cargo run --release --example million -- write            # journal of 1M spans + 1M events
//! /usr/bin/time -v target/release/examples/million convert  # journal → envelope: time and peak RSS
//! cargo run --release --example million -- read             # open + summary of the envelope
//! cargo run --release --features export --example million -- json   # vs parsing it as Chrome JSON
//! ```
//!
//! Each step is its own process, so `/usr/bin/time -v` measures the peak
//! memory of the conversion alone. Files go to the system temp folder.

use std::time::Instant;

use tracing::{info, info_span};
use tracing_subscriber::prelude::*;

fn main() -> Result<(), bhtrace::Error> {
    let mut args = std::env::args().skip(1);
    let step = args.next().unwrap_or_else(|| "write".into());
    let n: u64 = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let dir = std::env::temp_dir();
    let envelope = dir.join("bhtrace-million.bht");
    let journal = bhtrace::journal::journal_path(&envelope);
    match step.as_str() {
        "write" => {
            let (layer, guard) = bhtrace::Builder::new(&envelope).convert(false).build()?;
            let sub = tracing_subscriber::registry().with(layer);
            let t = Instant::now();
            tracing::subscriber::with_default(sub, || {
                let root = info_span!("batch", n);
                let _r = root.enter();
                for i in 0..n {
                    let span = info_span!("op", id = i, user = "alice", path = "/api/v1/items");
                    let _e = span.enter();
                    info!(a = i, b = "str", c = 1.5, "msg");
                }
            });
            let app = t.elapsed();
            let done = guard.finish()?;
            println!(
                "wrote {} spans in {app:?} ({} ns per span on the app thread); journal {} bytes, {} records, {} dropped",
                n + 1,
                app.as_nanos() / u128::from(n.max(1)),
                done.writer.bytes_written,
                done.writer.records_written,
                done.writer.records_dropped
            );
        }
        "convert" => {
            let t = Instant::now();
            let s = bhtrace::recover(&journal, &envelope)?;
            println!(
                "converted in {:?}: {} spans, {} events; journal {} bytes -> envelope {} bytes ({} structure, {} field names, {} payload), {} journal passes",
                t.elapsed(),
                s.spans,
                s.events,
                s.journal.file_len,
                s.envelope_bytes,
                s.structure_bytes,
                s.fields_bytes,
                s.payload_bytes,
                s.journal_passes
            );
        }
        "read" => {
            let t = Instant::now();
            let trace = bhtrace::TraceReader::open(&envelope)?;
            let opened = t.elapsed();
            let (summary, stats) = trace.summary()?;
            println!(
                "open + summary in {:?} (open {opened:?}): {} spans, {} bytes read of {} ({:.1}%)",
                t.elapsed(),
                summary.spans,
                stats.bytes_read,
                stats.file_len,
                100.0 * stats.fraction()
            );
        }
        #[cfg(feature = "export")]
        "json" => {
            // The same trace as Chrome trace-event JSON, parsed with
            // serde_json: what a flat file costs to answer anything.
            let json = dir.join("bhtrace-million.json");
            let trace = bhtrace::TraceReader::open(&envelope)?;
            let file = std::fs::File::create(&json).map_err(|e| bhtrace::Error::Io {
                path: json.clone(),
                source: e,
            })?;
            bhtrace::export::write_chrome(&trace, std::io::BufWriter::new(file)).map_err(|e| {
                bhtrace::Error::Io {
                    path: json.clone(),
                    source: std::io::Error::other(e.to_string()),
                }
            })?;
            let t = Instant::now();
            let bytes = std::fs::read(&json).map_err(|e| bhtrace::Error::Io {
                path: json.clone(),
                source: e,
            })?;
            let parsed: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|e| bhtrace::Error::Io {
                    path: json.clone(),
                    source: std::io::Error::other(e),
                })?;
            let json_time = t.elapsed();
            let events = parsed["traceEvents"].as_array().map_or(0, Vec::len);
            let json_len = bytes.len();
            // Free the parsed JSON first, so that its gigabytes do not weigh
            // on the allocator the envelope's reading then uses.
            drop((parsed, bytes, trace));
            let mut times = Vec::new();
            let mut spans = 0;
            for _ in 0..5 {
                let t = Instant::now();
                let trace = bhtrace::TraceReader::open(&envelope)?;
                let (summary, _) = trace.summary()?;
                times.push(t.elapsed());
                spans = summary.spans;
            }
            // The first run pays for fresh pages, as a one-off command would;
            // later runs reuse the allocator's. Both are shown, the ratio is
            // taken against the first.
            let first = times[0];
            times.sort();
            let median = times[times.len() / 2];
            println!(
                "Chrome JSON ({json_len} bytes, {events} trace events) read + parsed with serde_json in {json_time:?}; \
                 bhtrace open + summary ({spans} spans) in {first:?} the first time, {median:?} the median of 5: \
                 {:.1}x faster ({:.1}x by the median)",
                json_time.as_secs_f64() / first.as_secs_f64(),
                json_time.as_secs_f64() / median.as_secs_f64()
            );
            let _ = std::fs::remove_file(&json);
        }
        other => eprintln!(
            "unknown step {other}: write | convert | read | json (with --features export)"
        ),
    }
    Ok(())
}
