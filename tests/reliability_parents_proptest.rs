//! Property: whatever several threads do with nested spans and events —
//! while `tracing` hands the same span ids out again and again — every
//! event's parent in the envelope is the span it was emitted in, and every
//! span's parent is the span that was current when it was created (or the
//! explicit parent it was given).
//!
//! Each thread first creates and closes 8,200 spans one after the other:
//! the registry's slot generation wraps after 8,192, so from then on the
//! ids repeat, and the program's spans reuse ids of spans already closed.
//! Every span and event carries a unique `uid`; the envelope is checked
//! against what each thread expected, uid by uid.

mod core_support;
mod reliability_support;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bhtrace::{TraceReader, Value};
use core_support::{TempDir, on_thread};
use proptest::prelude::*;
use tracing_subscriber::prelude::*;

/// Spans each thread churns through before its program.
const CHURN: u64 = 8_200;

#[derive(Debug, Clone)]
enum Op {
    /// Create a child of the current span and enter it.
    Open,
    /// Create a span with an explicit parent: the open span this far from
    /// the top of the stack (clamped), and enter it.
    OpenUnder(usize),
    /// An event in the current span.
    Event,
    /// Exit and drop the current span.
    Close,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Open),
        1 => (0usize..4).prop_map(Op::OpenUnder),
        4 => Just(Op::Event),
        4 => Just(Op::Close),
    ]
}

/// What one thread expects: uid → parent uid (0 = none), for its spans and
/// for its events; and the tracing ids it saw.
#[derive(Debug, Default)]
struct Expected {
    span_parent: HashMap<u64, u64>,
    event_parent: HashMap<u64, u64>,
    ids: Vec<u64>,
}

fn run_program(t: u64, ops: &[Op]) -> Expected {
    let mut exp = Expected::default();
    for _ in 0..CHURN {
        let s = tracing::info_span!("churn");
        exp.ids.push(s.id().map_or(0, |i| i.into_u64()));
    }
    let mut next = t * 1_000_000 + 1;
    let mut uid = || {
        next += 1;
        next
    };
    // (uid, span, entered guard) — innermost last.
    let mut stack: Vec<(u64, tracing::span::EnteredSpan)> = Vec::new();
    for op in ops {
        match op {
            Op::Open => {
                let u = uid();
                let span = tracing::info_span!("s", uid = u, t);
                exp.ids.push(span.id().map_or(0, |i| i.into_u64()));
                exp.span_parent
                    .insert(u, stack.last().map_or(0, |(p, _)| *p));
                stack.push((u, span.entered()));
            }
            Op::OpenUnder(k) => {
                let u = uid();
                let parent = stack.len().checked_sub(1 + k).map(|i| &stack[i]);
                let span = match parent {
                    Some((_, p)) => tracing::info_span!(parent: p.id(), "s", uid = u, t),
                    None => tracing::info_span!(parent: None, "s", uid = u, t),
                };
                exp.ids.push(span.id().map_or(0, |i| i.into_u64()));
                exp.span_parent.insert(u, parent.map_or(0, |(p, _)| *p));
                stack.push((u, span.entered()));
            }
            Op::Event => {
                let u = uid();
                tracing::info!(uid = u, t, "e");
                exp.event_parent
                    .insert(u, stack.last().map_or(0, |(p, _)| *p));
            }
            Op::Close => {
                stack.pop();
            }
        }
    }
    while stack.pop().is_some() {}
    exp
}

fn uid_of(fields: &[(Arc<str>, Value)]) -> Option<u64> {
    fields.iter().find_map(|(n, v)| match (&**n, v) {
        ("uid", Value::U64(u)) => Some(*u),
        _ => None,
    })
}

static CASE: AtomicUsize = AtomicUsize::new(0);

fn check(programs: Vec<Vec<Op>>) {
    let case = CASE.fetch_add(1, Ordering::Relaxed);
    let dir = TempDir::new(&format!("reliability-parents-{case}"));
    let path = dir.join("p.bht");
    let (layer, guard) = bhtrace::layer(&path).unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let threads: Vec<_> = programs
        .into_iter()
        .enumerate()
        .map(|(t, ops)| {
            on_thread(&format!("p{t}"), &dispatch, move || {
                run_program(t as u64 + 1, &ops)
            })
        })
        .collect();
    let expected: Vec<Expected> = threads.into_iter().map(|h| h.join().unwrap()).collect();
    drop(dispatch);
    guard.finish().unwrap();

    // tracing reused ids within the trace.
    for e in &expected {
        let distinct: HashSet<u64> = e.ids.iter().copied().collect();
        assert!(distinct.len() < e.ids.len(), "no id was reused");
    }

    let trace = TraceReader::open(&path).unwrap();
    // Well-formed, checked in one pass (core_support's full check is
    // quadratic, too slow for 25,000 spans a case).
    let (infos, _) = trace.infos();
    for s in &infos {
        assert!(s.start_ns <= s.end_ns && s.subtree_end.0 > s.id.0, "{s:?}");
        if let Some(p) = s.parent {
            let p = &infos[p.index()];
            assert!(
                p.id.0 < s.id.0 && s.subtree_end.0 <= p.subtree_end.0,
                "{s:?} in {p:?}"
            );
        }
    }
    let (full, _) = trace.full().unwrap();
    let uid_by_id: Vec<Option<u64>> = full.spans.iter().map(|s| uid_of(&s.fields)).collect();
    let mut span_parent = HashMap::new();
    let mut event_parent = HashMap::new();
    for s in &full.spans {
        let Some(u) = uid_of(&s.fields) else {
            assert_eq!(&*s.info.name, "churn");
            continue;
        };
        let parent = s
            .info
            .parent
            .map_or(0, |p| uid_by_id[p.index()].expect("a parent with a uid"));
        assert!(
            span_parent.insert(u, parent).is_none(),
            "span uid {u} twice"
        );
        for e in &s.events {
            let eu = uid_of(&e.fields).expect("an event uid");
            assert!(event_parent.insert(eu, u).is_none(), "event uid {eu} twice");
        }
    }
    for e in &full.orphan_events {
        let eu = uid_of(&e.fields).expect("an event uid");
        assert!(event_parent.insert(eu, 0).is_none(), "event uid {eu} twice");
    }
    let want_spans: HashMap<u64, u64> = expected
        .iter()
        .flat_map(|e| e.span_parent.clone())
        .collect();
    let want_events: HashMap<u64, u64> = expected
        .iter()
        .flat_map(|e| e.event_parent.clone())
        .collect();
    assert_eq!(span_parent, want_spans, "span parents");
    assert_eq!(event_parent, want_events, "event parents");
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if reliability_support::heavy() { 128 } else { 16 },
        ..ProptestConfig::default()
    })]

    #[test]
    fn parents_survive_id_reuse_across_threads(
        programs in proptest::collection::vec(proptest::collection::vec(op(), 0..80), 1..4)
    ) {
        check(programs);
    }
}
