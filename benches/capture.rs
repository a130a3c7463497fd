//! What the app thread pays per span lifecycle and per event: no layer,
//! a no-op layer (the floor), and bhtrace; on one thread, and on two
//! threads at once under the same subscriber.
//!
//! ```text
//! cargo bench --bench capture
//! cargo bench --bench capture -- 2_threads     # the two-thread groups only
//! ```
//!
//! One span lifecycle is: new span with 3 fields, enter, one 3-field event,
//! exit, close. The bhtrace journal is written for real by its background
//! thread (lossless, the default); the conversion to an envelope is switched
//! off so that the millions of iterations criterion runs do not end in a
//! multi-gigabyte conversion.

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{Bencher, Criterion, Throughput, criterion_group, criterion_main};
use tracing::{Dispatch, Subscriber, info, info_span};
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

/// Runs `bench` with a bhtrace layer writing a journal for `group`, then
/// finishes it, checks that nothing was dropped, and removes the journal
/// and (now empty) folder.
fn with_journal(group: &str, bench: impl FnOnce(bhtrace::BhtLayer)) {
    let path = dir().join(format!("{group}.bht"));
    let (layer, guard) = bhtrace::Builder::new(&path)
        .convert(false)
        .build()
        .expect("bench journal");
    bench(layer);
    let done = guard.finish().expect("bench finish");
    assert_eq!(done.writer.records_dropped, 0);
    if let Some(j) = done.journal {
        let _ = std::fs::remove_file(j);
    }
    let _ = std::fs::remove_dir(dir());
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
        with_journal(group, |layer| {
            measure(b, tracing_subscriber::registry().with(layer), f, in_span)
        })
    });
    g.finish();
}

/// Runs `f` `iters` times on each of two threads at once, both under
/// `dispatch` (with `in_span`, each inside its own entered span), and
/// returns the wall time from the moment both threads are released until
/// the last one is done. Spawning the threads, entering the subscriber and
/// the threads' exit (where bhtrace hands its last buffer to the writer) are
/// outside the timed part.
fn two_threads(dispatch: &Dispatch, f: fn(u64), in_span: bool, iters: u64) -> Duration {
    let barrier = Barrier::new(2);
    let times: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    tracing::dispatcher::with_default(dispatch, || {
                        let outer = info_span!("outer");
                        let _e = in_span.then(|| outer.enter());
                        barrier.wait();
                        let start = Instant::now();
                        for i in 0..iters {
                            f(black_box(i));
                        }
                        (start, Instant::now())
                    })
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("bench thread"))
            .collect()
    });
    let start = times.iter().map(|t| t.0).min().expect("two threads");
    let end = times.iter().map(|t| t.1).max().expect("two threads");
    end - start
}

/// Runs `f` on two threads at once under each subscriber.
///
/// What the figures mean: one criterion iteration is one operation on
/// *each* of the two threads, run concurrently, so the time criterion
/// prints is the wall time per operation as each thread sees it while the
/// other one does the same work (equal to the one-thread figure if the two
/// threads did not slow each other down; up to twice it if they
/// serialised). The throughput line (`Throughput::Elements(2)`) is the
/// operations per second of both threads together. On a 2-core machine
/// bhtrace's writer thread is a third thread competing for the cores.
fn bench_two(c: &mut Criterion, group: &str, f: fn(u64), in_span: bool) {
    let mut g = c.benchmark_group(group);
    g.sample_size(30).throughput(Throughput::Elements(2));
    g.bench_function("registry, no layer", |b| {
        let d = Dispatch::new(tracing_subscriber::registry());
        b.iter_custom(|iters| two_threads(&d, f, in_span, iters))
    });
    g.bench_function("registry + no-op layer", |b| {
        let d = Dispatch::new(tracing_subscriber::registry().with(Noop));
        b.iter_custom(|iters| two_threads(&d, f, in_span, iters))
    });
    g.bench_function("registry + bhtrace", |b| {
        with_journal(group, |layer| {
            let d = Dispatch::new(tracing_subscriber::registry().with(layer));
            b.iter_custom(|iters| two_threads(&d, f, in_span, iters));
        })
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

fn span_lifecycle_2_threads(c: &mut Criterion) {
    bench_two(c, "span_lifecycle_2_threads", lifecycle, false);
}

fn one_event_2_threads(c: &mut Criterion) {
    bench_two(c, "event_2_threads", event, true);
}

criterion_group!(
    benches,
    span_lifecycle,
    one_event,
    span_lifecycle_2_threads,
    one_event_2_threads
);
criterion_main!(benches);
