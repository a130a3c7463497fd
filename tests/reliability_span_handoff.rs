//! A span created on one thread, entered on a second, closed on a third —
//! and one entered on two threads at once — is one span in the envelope:
//! created on the first thread under the span current there, its intervals
//! on the threads that entered it, its events and children from the second
//! thread attached to it, the field recorded on the third thread kept, and
//! closed (not incomplete) at the third thread's close.

mod core_support;

use std::sync::mpsc;

use bhtrace::{TraceReader, Value};
use core_support::{TempDir, on_thread};
use tracing_subscriber::prelude::*;

#[test]
fn a_span_handed_between_threads_stays_one_span() {
    let dir = TempDir::new("reliability-span-handoff");
    let path = dir.join("h.bht");
    let (layer, guard) = bhtrace::layer(&path).unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));

    let (to_b, at_b) = mpsc::channel::<(tracing::Span, tracing::Span)>();
    let (to_c, at_c) = mpsc::channel::<(tracing::Span, tracing::Span)>();
    let (shared_in_c, c_entered) = mpsc::channel::<()>();
    let (release_c, c_may_exit) = mpsc::channel::<()>();

    let a = on_thread("creator", &dispatch, move || {
        let root = tracing::info_span!("a_root");
        let _r = root.enter();
        let handed = tracing::info_span!("handed", stage = tracing::field::Empty);
        let shared = tracing::info_span!("shared");
        to_b.send((handed, shared)).unwrap();
    });
    let b = on_thread("enterer", &dispatch, move || {
        let (handed, shared) = at_b.recv().unwrap();
        handed.in_scope(|| {
            tracing::info!("in_b");
            tracing::info_span!("b_child").in_scope(|| tracing::info!("in_child"));
        });
        // `shared` is entered here and, at the same time, on the closer.
        let _s = shared.enter();
        to_c.send((handed, shared.clone())).unwrap();
        c_entered.recv().unwrap();
        release_c.send(()).unwrap();
    });
    let c = on_thread("closer", &dispatch, move || {
        let (handed, shared) = at_c.recv().unwrap();
        {
            let _s = shared.enter();
            shared_in_c.send(()).unwrap();
            c_may_exit.recv().unwrap();
        }
        handed.record("stage", "closed on c");
        drop(handed);
    });
    for t in [a, b, c] {
        t.join().unwrap();
    }
    drop(dispatch);
    guard.finish().unwrap();

    let trace = TraceReader::open(&path).unwrap();
    core_support::check_well_formed(&trace);
    let thread_no = |name: &str| {
        trace
            .threads()
            .into_iter()
            .find(|(_, n)| *n == Some(name))
            .map(|(t, _)| t)
            .unwrap_or_else(|| panic!("thread {name}"))
    };
    let (creator, enterer, closer) = (
        thread_no("creator"),
        thread_no("enterer"),
        thread_no("closer"),
    );
    let (full, _) = trace.full().unwrap();
    let named = |name: &str| {
        full.spans
            .iter()
            .find(|s| &*s.info.name == name)
            .unwrap_or_else(|| panic!("span {name}"))
    };
    let (root, handed, child, shared) = (
        named("a_root"),
        named("handed"),
        named("b_child"),
        named("shared"),
    );

    // Created on the creator, under the span current there.
    assert_eq!(handed.info.thread, creator);
    assert_eq!(handed.info.parent, Some(root.info.id));
    assert_eq!(shared.info.parent, Some(root.info.id));
    // Entered once, on the enterer.
    assert_eq!(handed.intervals.len(), 1, "{:?}", handed.intervals);
    let iv = handed.intervals[0];
    assert_eq!(iv.thread, enterer);
    let exit = iv.exit_ns.expect("exited");
    // Its event and its child come from the enterer, attached to it.
    assert_eq!(handed.events.len(), 1);
    assert_eq!(handed.events[0].message(), Some("in_b"));
    assert_eq!(handed.events[0].thread, enterer);
    assert_eq!(child.info.parent, Some(handed.info.id));
    assert_eq!(child.info.thread, enterer);
    assert_eq!(child.events[0].message(), Some("in_child"));
    // Recorded on and closed by the closer: complete, ending after the exit.
    assert_eq!(
        handed.field("stage"),
        Some(&Value::Str("closed on c".into()))
    );
    assert!(!handed.info.incomplete, "{:?}", handed.info);
    assert!(handed.info.end_ns >= exit && handed.info.start_ns <= iv.enter_ns);
    // Entered on two threads at once: two overlapping intervals.
    let mut threads: Vec<u32> = shared.intervals.iter().map(|i| i.thread).collect();
    threads.sort_unstable();
    let mut expected = vec![enterer, closer];
    expected.sort_unstable();
    assert_eq!(threads, expected, "{:?}", shared.intervals);
    let (i0, i1) = (shared.intervals[0], shared.intervals[1]);
    assert!(
        i0.enter_ns < i1.exit_ns.unwrap() && i1.enter_ns < i0.exit_ns.unwrap(),
        "overlap"
    );
    assert!(!shared.info.incomplete);
    assert_eq!(trace.header().incomplete_spans, 0);
    assert_eq!(trace.header().orphan_records, 0);
}
