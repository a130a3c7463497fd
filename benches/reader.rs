//! What reading costs: `open` and each query on the checkout demo's trace,
//! how `summary()` scales (with spans, not with payload), and open +
//! summary of a 1M-span trace.
//!
//! ```text
//! cargo bench --bench reader
//! cargo bench --bench reader -- summary_scaling     # one group
//! ```
//!
//! The traces are written through the real layer when the bench starts
//! (the 1M-span one takes a few seconds). Files are read through the page
//! cache, as a second look at a trace would be; the bytes each query reads
//! are printed once per trace, next to criterion's times.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bhtrace::TraceReader;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use tracing::{info, info_span};
use tracing_subscriber::prelude::*;

#[path = "../examples/checkout/request.rs"]
mod request;

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("bhtrace-bench-reader-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("a temp folder");
    d
}

/// Traces `f` through the layer into `path` and converts it.
fn trace(path: &Path, f: impl FnOnce()) -> PathBuf {
    let (layer, guard) = bhtrace::Builder::new(path).build().expect("layer");
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
    guard.finish().expect("finish").envelope
}

/// One root with `spans` children, each with a `payload`-byte field and a
/// one-field event: the same structure whatever `payload` is.
fn flat(path: &Path, spans: u64, payload: usize) -> PathBuf {
    let text = "x".repeat(payload);
    trace(path, || {
        let root = info_span!("batch", spans);
        let _r = root.enter();
        for i in 0..spans {
            let span = info_span!("op", id = i, text = text.as_str());
            let _e = span.enter();
            info!(i, "done");
        }
    })
}

fn report(name: &str, what: &str, s: bhtrace::ReadStats) {
    eprintln!(
        "{name}: {what} reads {} of {} bytes ({:.1}%) in {} reads",
        s.bytes_read,
        s.file_len,
        100.0 * s.fraction(),
        s.reads
    );
}

fn checkout(c: &mut Criterion) {
    let path = trace(&dir().join("checkout.bht"), request::run);
    let trace = TraceReader::open(&path).expect("open");
    let charge = trace.spans_named("payment.charge").0[0].id;
    report(
        "checkout",
        "open + summary",
        trace.summary().expect("summary").1,
    );
    report(
        "checkout",
        "subtree",
        trace.subtree(charge).expect("subtree").1,
    );
    report(
        "checkout",
        "service(db)",
        trace.service("db").expect("service").1,
    );
    report("checkout", "full", trace.full().expect("full").1);

    let mut g = c.benchmark_group("checkout");
    g.bench_function("open", |b| {
        b.iter(|| TraceReader::open(black_box(&path)).expect("open"))
    });
    g.bench_function("summary", |b| b.iter(|| trace.summary().expect("summary")));
    g.bench_function("critical_path", |b| {
        b.iter(|| trace.critical_path().expect("critical path"))
    });
    g.bench_function("subtree", |b| {
        b.iter(|| trace.subtree(black_box(charge)).expect("subtree"))
    });
    g.bench_function("service_db", |b| {
        b.iter(|| trace.service(black_box("db")).expect("service"))
    });
    g.bench_function("full", |b| b.iter(|| trace.full().expect("full")));
    g.finish();
}

/// Summary cost against spans and against payload: 10k and 100k spans with
/// 16-byte fields, and 10k spans with 4 KiB fields (a file 100x heavier).
/// The payload-heavy trace should cost what the light one of the same span
/// count does; ten times the spans about ten times as much.
fn summary_scaling(c: &mut Criterion) {
    let d = dir();
    let cases = [
        ("10k_spans_16B", flat(&d.join("light10k.bht"), 10_000, 16)),
        (
            "10k_spans_4KiB",
            flat(&d.join("heavy10k.bht"), 10_000, 4096),
        ),
        (
            "100k_spans_16B",
            flat(&d.join("light100k.bht"), 100_000, 16),
        ),
    ];
    let mut g = c.benchmark_group("summary_scaling");
    for (name, path) in &cases {
        let trace = TraceReader::open(path).expect("open");
        report(name, "open + summary", trace.summary().expect("summary").1);
        g.bench_with_input(BenchmarkId::new("open_summary", name), path, |b, path| {
            b.iter(|| {
                let trace = TraceReader::open(path).expect("open");
                trace.summary().expect("summary")
            })
        });
    }
    g.finish();
}

fn million(c: &mut Criterion) {
    let path = flat(&dir().join("million.bht"), 1_000_000, 16);
    let mut g = c.benchmark_group("million");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("open_summary", |b| {
        b.iter(|| {
            let trace = TraceReader::open(black_box(&path)).expect("open");
            trace.summary().expect("summary")
        })
    });
    g.finish();
    let _ = std::fs::remove_dir_all(dir());
}

criterion_group!(benches, checkout, summary_scaling, million);
criterion_main!(benches);
