//! The snapshot is stable text: the same code gives the same text on
//! every run — no times, ids or thread numbers — and the unordered form is
//! stable even for spans started concurrently.

use bhtrace::testing::{TestTrace, capture, with_capture};

#[derive(Debug)]
#[allow(dead_code)]
enum State {
    Ready { retries: u8 },
}

/// Deterministic code: nested spans, every kind of value, a field
/// recorded late, events with and without a message, and events outside
/// every span.
fn workload() {
    tracing::info!(version = "1.2", "starting");
    let req = tracing::info_span!(
        "request",
        path = "/a \"b\"",
        user = -7i64,
        big = u128::MAX,
        ratio = 0.5,
        whole = 2.0,
        cached = true,
        state = ?State::Ready { retries: 2 },
        addr = %"10.0.0.1:80",
        status = tracing::field::Empty,
    );
    req.in_scope(|| {
        tracing::debug!("line one\nline two");
        tracing::info_span!("db", service = "db", table = "users").in_scope(|| {
            tracing::trace!(rows = 3u8);
            tracing::warn!(slow = true, "query took long");
        });
        tracing::error!(code = 503, "upstream failed");
        tracing::info_span!("render").in_scope(|| {});
    });
    req.record("status", 200);
    drop(req);
    tracing::info!("done");
}

const EXPECTED: &str = r#"INFO starting version="1.2"
request{path="/a \"b\"" user=-7 big=340282366920938463463374607431768211455 ratio=0.5 whole=2.0 cached=true state="Ready { retries: 2 }" addr="10.0.0.1:80" status=200}
  DEBUG line one\nline two
  db{service="db" table="users"}
    TRACE rows=3
    WARN query took long slow=true
  ERROR upstream failed code=503
  render
INFO done
"#;

#[test]
fn the_snapshot_is_the_same_on_every_run() {
    let ((), first) = with_capture(workload);
    let ((), second) = with_capture(workload);
    assert_eq!(first.snapshot(), EXPECTED);
    assert_eq!(second.snapshot(), first.snapshot());
    assert_eq!(first.to_string(), first.snapshot());
    assert_eq!(
        first.span("db").snapshot(),
        "db{service=\"db\" table=\"users\"}\n  TRACE rows=3\n  WARN query took long slow=true\n"
    );
}

/// Four threads start their spans under one parent in whatever order the
/// scheduler picks.
fn concurrent() -> TestTrace {
    let cap = capture();
    let parent = tracing::info_span!("batch");
    std::thread::scope(|s| {
        for i in 0..4 {
            let parent = &parent;
            s.spawn(cap.bind(move || {
                let _task = tracing::info_span!(parent: parent, "task", n = i).entered();
                tracing::info!(parent: parent, n = i, "queued");
                tracing::info!(n = i, "ran");
            }));
        }
    });
    drop(parent);
    cap.finish()
}

#[test]
fn the_unordered_snapshot_is_stable_for_concurrent_spans() {
    let runs: Vec<String> = (0..5).map(|_| concurrent().snapshot_unordered()).collect();
    let expected = "batch\n  INFO queued n=0\n  INFO queued n=1\n  INFO queued n=2\n  INFO queued n=3\n  \
         task{n=0}\n    INFO ran n=0\n  task{n=1}\n    INFO ran n=1\n  \
         task{n=2}\n    INFO ran n=2\n  task{n=3}\n    INFO ran n=3\n";
    for run in &runs {
        assert_eq!(run, expected);
    }
}

#[test]
fn a_span_still_open_at_finish_is_marked_incomplete() {
    let cap = capture();
    let _open = tracing::info_span!("open", n = 1).entered();
    tracing::info_span!("closed").in_scope(|| {});
    let t = cap.finish();
    assert_eq!(t.snapshot(), "open{n=1} [incomplete]\n  closed\n");
    assert!(t.span("open").is_incomplete());
}
