//! The critical path through the real layer: whatever the timings, it is
//! contiguous, stays inside the root's subtree and interval, starts at the
//! root's start and ends at its end; sequential children are on it in
//! order, a follows-from child never is, the last-finishing of parallel
//! children is. (The algorithm against hand-computed rows is unit-tested in
//! `src/reader/critical.rs`.)

mod core_support;

use bhtrace::{SpanId, TraceReader};
use core_support::{TempDir, on_thread};
use tracing_subscriber::prelude::*;

fn work(n: u64) -> u64 {
    (0..n).fold(0u64, |a, i| {
        std::hint::black_box(a.wrapping_mul(31).wrapping_add(i))
    })
}

#[test]
fn critical_path_is_contiguous_and_ends_at_the_root_end() {
    let dir = TempDir::new("critical_path");
    let path = dir.join("t.bht");
    let (layer, guard) = bhtrace::layer(&path).unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        let root = tracing::info_span!("sequential");
        let _r = root.enter();
        work(2_000);
        tracing::info_span!("a").in_scope(|| {
            work(5_000);
            tracing::info_span!("a1").in_scope(|| work(5_000));
            work(1_000);
        });
        work(2_000); // a gap: the root's own time
        let fetch = tracing::info_span!("b");
        fetch.in_scope(|| work(20_000));
        // Spawned work linked to `b`: it does not block the request.
        let bg = tracing::info_span!("background");
        bg.follows_from(&fetch);
        bg.in_scope(|| work(1_000));
        work(1_000);
    });
    tracing::dispatcher::with_default(&dispatch, || {
        let root = tracing::info_span!("parallel");
        let _r = root.enter();
        let spans: Vec<_> = (0..2).map(|k| tracing::info_span!("branch", k)).collect();
        let threads: Vec<_> = spans
            .into_iter()
            .enumerate()
            .map(|(k, span)| {
                on_thread(&format!("branch-{k}"), &dispatch, move || {
                    span.in_scope(|| work(10_000 * (k as u64 + 1)))
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    });
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::info_span!("leaf_root").in_scope(|| work(1_000));
        drop(tracing::info_span!("never_entered"));
    });
    drop(dispatch);
    guard.finish().unwrap();

    let trace = TraceReader::open(&path).unwrap();
    core_support::check_well_formed(&trace); // every root's path: see core_support
    let (roots, _) = trace.roots();
    assert_eq!(roots.len(), 4);
    let id = |name: &str| trace.spans_named(name).0[0].id;

    // The summary's path is the path of the slowest root.
    let (summary, _) = trace.summary().unwrap();
    let (path, _) = trace.critical_path().unwrap();
    assert_eq!(summary.critical_path, path);
    let slowest = roots
        .iter()
        .max_by_key(|r| (r.duration_ns(), std::cmp::Reverse(r.id)))
        .unwrap();
    assert_eq!(summary.slowest_root.as_ref(), Some(slowest));
    let (of_slowest, _) = trace.critical_path_of(slowest.id).unwrap();
    assert_eq!(path, of_slowest);
    let total: u64 = path.iter().map(|s| s.end_ns - s.start_ns).sum();
    assert_eq!(total, slowest.duration_ns());

    // Sequential children: both on the path, `a` (and inside it `a1`)
    // before `b`; the follows-from child nowhere; gaps are the root's.
    let (seq, _) = trace.critical_path_of(id("sequential")).unwrap();
    let on_path = |p: &[bhtrace::Segment], s: SpanId| p.iter().position(|seg| seg.span == s);
    let (a, a1, b) = (
        on_path(&seq, id("a")).expect("a is on the path"),
        on_path(&seq, id("a1")).expect("a1 is on the path"),
        on_path(&seq, id("b")).expect("b is on the path"),
    );
    assert!(a < a1 && a1 < b, "{seq:?}");
    assert_eq!(on_path(&seq, id("background")), None, "{seq:?}");
    let root_time: Vec<_> = seq.iter().filter(|s| s.span == id("sequential")).collect();
    assert!(
        root_time.len() >= 3,
        "before a, between a and b, after b: {seq:?}"
    );
    let b_info = trace.info(id("b")).unwrap();
    let b_segments: u64 = seq
        .iter()
        .filter(|s| s.span == id("b"))
        .map(|s| s.end_ns - s.start_ns)
        .sum();
    assert_eq!(
        b_segments,
        b_info.duration_ns(),
        "a child without children is on the path whole"
    );

    // Parallel children: the one that finished last is on the path.
    let (par, _) = trace.critical_path_of(id("parallel")).unwrap();
    let branches = trace.children(id("parallel")).unwrap();
    assert_eq!(branches.len(), 2);
    let last = branches
        .iter()
        .map(|b| trace.info(*b).unwrap())
        .max_by_key(|i| i.end_ns)
        .unwrap();
    assert!(on_path(&par, last.id).is_some(), "{par:?} lacks {last:?}");

    // A root without children is its own path.
    let leaf = trace.info(id("leaf_root")).unwrap();
    let (lp, _) = trace.critical_path_of(leaf.id).unwrap();
    assert_eq!(lp.len(), 1);
    assert_eq!(
        (lp[0].span, lp[0].start_ns, lp[0].end_ns),
        (leaf.id, leaf.start_ns, leaf.end_ns)
    );
}
