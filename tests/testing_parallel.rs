//! Captures on parallel threads each see only their own thread's spans
//! and events: the capture is a thread-scoped default, never global.

use std::sync::Barrier;

use bhtrace::testing::{Capture, TestTrace, capture};

const WORKERS: usize = 8;
const ROUNDS: usize = 25;

/// What worker `i` records: spans and events all tagged with `worker = i`.
fn record(i: usize) {
    for round in 0..ROUNDS {
        let _work = tracing::info_span!("work", worker = i, round).entered();
        tracing::info!(worker = i, "step");
        tracing::debug_span!("inner", worker = i).in_scope(|| {});
    }
}

/// Everything in `t` belongs to worker `i`.
fn assert_only(t: &TestTrace, i: usize) {
    assert_eq!(t.spans("work").len(), ROUNDS);
    assert_eq!(t.spans("inner").len(), ROUNDS);
    assert_eq!(t.len(), 2 * ROUNDS);
    for span in t.iter() {
        span.assert_field("worker", i);
    }
    assert_eq!(t.events().len(), ROUNDS);
    for e in t.events() {
        e.assert_field("worker", i);
    }
}

#[test]
fn eight_threads_capturing_at_once_see_only_their_own_spans() {
    let barrier = Barrier::new(WORKERS);
    std::thread::scope(|s| {
        for i in 0..WORKERS {
            let barrier = &barrier;
            std::thread::Builder::new()
                .name(format!("parallel::worker_{i}"))
                .spawn_scoped(s, move || {
                    let cap = Capture::builder().try_start();
                    // Every capture is installed before anyone records, and
                    // everyone has recorded before anyone finishes.
                    barrier.wait();
                    record(i);
                    barrier.wait();
                    let t = cap.unwrap().finish();
                    assert_only(&t, i);
                    assert!(t.path().ends_with(format!("parallel.worker_{i}.bht")));
                    let names: Vec<_> = t.threads().into_iter().map(|(_, n)| n).collect();
                    assert_eq!(names, [Some(format!("parallel::worker_{i}").as_str())]);
                })
                .unwrap();
        }
    });
}

#[test]
fn a_thread_without_a_capture_records_into_none() {
    let cap = capture();
    std::thread::spawn(|| record(99)).join().unwrap();
    record(1);
    assert_only(&cap.finish(), 1);
}

/// Callsites that no other test touches.
fn cold(i: usize) {
    tracing::info_span!("cold", worker = i).in_scope(|| tracing::info!(worker = i, "cold event"));
}

/// An uncaptured thread that is first to hit a callsite while the
/// process's only dispatcher is one capture must not disable the callsite
/// for that capture (tokio-rs/tracing#3611: tracing-core then caches
/// `Interest::never` from the uncaptured thread's view).
#[test]
fn a_callsite_first_hit_by_an_uncaptured_thread_is_still_captured() {
    let cap = capture();
    std::thread::spawn(|| cold(99)).join().unwrap();
    cold(1);
    let t = cap.finish();
    t.span("cold").assert_field("worker", 1).event("cold event");
}

/// The same, alone in a fresh process: there the capture is the only
/// dispatcher ever made, the condition the tracing-core bug needs.
#[test]
fn the_same_alone_in_a_fresh_process() {
    if std::env::var_os("BHTRACE_CHILD").is_some() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("bht-{}-cold", std::process::id()));
    let name = "a_callsite_first_hit_by_an_uncaptured_thread_is_still_captured";
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--test-threads=1"])
        .env("BHTRACE_CHILD", "1")
        .env("BHTRACE_TEST_DIR", &dir)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// Tests run by libtest's own parallel threads, each with its own capture.
macro_rules! libtest_thread {
    ($($name:ident = $i:expr),*) => {$(
        #[test]
        fn $name() {
            let cap = capture();
            record($i);
            let t = cap.finish();
            assert_only(&t, $i);
            assert!(t.path().ends_with(concat!(stringify!($name), ".bht")));
        }
    )*};
}

libtest_thread!(
    libtest_thread_a = 100,
    libtest_thread_b = 101,
    libtest_thread_c = 102,
    libtest_thread_d = 103
);
