//! What the app thread pays per span lifecycle and per event: no layer,
//! a no-op layer (the floor), and bhtrace.
//!
//! ```text
//! cargo bench --bench capture
//! ```
//!
//! One span lifecycle is: new span with 3 fields, enter, one 3-field event,
//! exit, close. The bhtrace journal is written for real by its background
//! thread (lossless, the default); the conversion to an envelope is switched
//! off so that the millions of iterations criterion runs do not end in a
//! multi-gigabyte conversion.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Bencher, Criterion, criterion_group, criterion_main};
use tracing::{Subscriber, info, info_span};
use tracing_subscriber::layer::Layer;
use tracing_subscriber::prelude::*;

struct Noop;
impl<S: Subscriber> Layer<S> for Noop {}

fn lifecycle(i: u64) {
    let span = info_span!("op", id = i, user = "alice", path = "/api/v1/items");
    let _e = span.enter();
    info!(a = i, b = "str", c = 1.5, "msg");
}

fn event(i: u64) {
    info!(a = i, b = "str", c = 1.5, "msg");
}

fn dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("bhtrace-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d).ok();
    d
}

/// Measures `f` with `sub` as the thread's subscriber; with `in_span`,
/// inside an entered span.
fn measure<S>(b: &mut Bencher<'_>, sub: S, f: fn(u64), in_span: bool)
where
    S: Subscriber + Send + Sync + 'static,
{
    tracing::subscriber::with_default(sub, || {
        let outer = info_span!("outer");
        let _e = in_span.then(|| outer.enter());
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            f(black_box(i))
        })
    })
}

/// Runs `f` under each subscriber.
fn bench_with(c: &mut Criterion, group: &str, f: fn(u64), in_span: bool) {
    let mut g = c.benchmark_group(group);
    g.measurement_time(Duration::from_secs(4)).sample_size(30);
    g.bench_function("registry, no layer", |b| {
        measure(b, tracing_subscriber::registry(), f, in_span)
    });
    g.bench_function("registry + no-op layer", |b| {
        measure(b, tracing_subscriber::registry().with(Noop), f, in_span)
    });
    g.bench_function("registry + bhtrace", |b| {
        let path = dir().join(format!("{group}.bht"));
        let (layer, guard) = bhtrace::Builder::new(&path)
            .convert(false)
            .build()
            .expect("bench journal");
        measure(b, tracing_subscriber::registry().with(layer), f, in_span);
        let done = guard.finish().expect("bench finish");
        assert_eq!(done.writer.records_dropped, 0);
        if let Some(j) = done.journal {
            let _ = std::fs::remove_file(j);
        }
    });
    g.finish();
}

fn span_lifecycle(c: &mut Criterion) {
    bench_with(c, "span_lifecycle", lifecycle, false);
}

fn one_event(c: &mut Criterion) {
    // The event happens inside an entered span, as most events do.
    bench_with(c, "event", event, true);
}

criterion_group!(benches, span_lifecycle, one_event);
criterion_main!(benches);
