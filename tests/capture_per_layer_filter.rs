//! A per-layer filter (`layer.with_filter(..)`) that hides middle spans:
//! their children attach to the nearest recorded ancestor, not to the root
//! of nothing, and events inside them go to that ancestor too.

mod core_support;

use bhtrace::journal::{Record, read_journal};
use bhtrace::{SpanId, TraceReader};
use core_support::TempDir;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

/// A layer with no filter that counts spans: it keeps the hidden spans
/// alive in the registry, as any other layer of a real app would.
struct CountSpans(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> Layer<S> for CountSpans {
    fn on_new_span(
        &self,
        _: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: Context<'_, S>,
    ) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn hidden_middle_span_attaches_child_to_nearest_recorded_ancestor() {
    let dir = TempDir::new("per_layer_filter");
    let path = dir.join("t.bht");
    let (layer, guard, journal) = core_support::keeping_journal(&path);
    let filtered = layer.with_filter(filter_fn(|meta| !meta.name().starts_with("hidden")));
    let seen = Arc::new(AtomicUsize::new(0));
    let subscriber = tracing_subscriber::registry()
        .with(CountSpans(Arc::clone(&seen)))
        .with(filtered);
    tracing::subscriber::with_default(subscriber, || {
        let root = tracing::info_span!("root");
        let _r = root.enter();
        let hidden_a = tracing::info_span!("hidden_a");
        let _a = hidden_a.enter();
        tracing::info!(marker = 1u64, "inside hidden_a");
        let hidden_b = tracing::info_span!("hidden_b");
        let _b = hidden_b.enter();
        let child = tracing::info_span!("child");
        child.in_scope(|| {
            let grandchild = tracing::info_span!("grandchild");
            grandchild.in_scope(|| tracing::info!(marker = 2u64, "inside grandchild"));
        });
        // An explicit parent that is hidden: the nearest recorded one wins.
        let explicit = tracing::info_span!(parent: &hidden_b, "explicit_child");
        drop(explicit);
        // Another tree, to be sure nothing leaks between roots.
        drop(_b);
        drop(_a);
        drop(_r);
        let other = tracing::info_span!(parent: None, "other_root");
        other.in_scope(|| {
            let hidden_c = tracing::info_span!("hidden_c");
            hidden_c.in_scope(|| drop(tracing::info_span!("leaf")));
        });
    });
    guard.finish().unwrap();
    assert_eq!(
        seen.load(Ordering::Relaxed),
        9,
        "the other layer saw every span"
    );

    let trace = TraceReader::open(&path).unwrap();
    core_support::check_well_formed(&trace);
    let (infos, _) = trace.infos();
    let names: Vec<&str> = infos.iter().map(|s| &*s.name).collect();
    assert_eq!(
        names,
        [
            "root",
            "child",
            "grandchild",
            "explicit_child",
            "other_root",
            "leaf"
        ],
        "hidden spans are not recorded; the rest is in preorder"
    );
    let id = |name: &str| SpanId(names.iter().position(|n| *n == name).unwrap() as u32);
    let parent = |name: &str| infos[id(name).index()].parent;
    assert_eq!(parent("root"), None);
    assert_eq!(parent("child"), Some(id("root")));
    assert_eq!(parent("grandchild"), Some(id("child")));
    assert_eq!(parent("explicit_child"), Some(id("root")));
    assert_eq!(parent("other_root"), None);
    assert_eq!(parent("leaf"), Some(id("other_root")));
    assert!(
        infos.iter().all(|s| !s.parent_lost),
        "no parent is lost: {infos:?}"
    );
    assert_eq!(trace.roots().0.len(), 2);

    let (all, _) = trace.full().unwrap();
    let marker = |span: &str| -> Vec<i128> {
        all.spans[id(span).index()]
            .events
            .iter()
            .filter_map(|e| e.field("marker").and_then(bhtrace::Value::as_i128))
            .collect()
    };
    assert_eq!(
        marker("root"),
        [1],
        "an event inside a hidden span goes to its recorded ancestor"
    );
    assert_eq!(marker("grandchild"), [2]);
    assert!(all.orphan_events.is_empty());

    // The journal says the same with bhtrace's numbers.
    let (records, _) = read_journal(&journal).unwrap();
    let mut names_by_callsite = std::collections::HashMap::new();
    let mut spans = Vec::new();
    for r in &records {
        match r {
            Record::Callsite(c) => {
                let (id, name) = (&c.id, &c.name);
                assert!(
                    !name.starts_with("hidden"),
                    "a hidden callsite reached the journal"
                );
                names_by_callsite.insert(*id, name.clone());
            }
            Record::NewSpan {
                span,
                parent,
                callsite,
                ..
            } => spans.push((names_by_callsite[callsite].clone(), *span, *parent)),
            _ => {}
        }
    }
    let number = |name: &str| spans.iter().find(|s| s.0 == name).unwrap().1;
    for (name, _, parent) in &spans {
        let expected = match name.as_str() {
            "root" | "other_root" => None,
            "child" | "explicit_child" => Some(number("root")),
            "grandchild" => Some(number("child")),
            "leaf" => Some(number("other_root")),
            other => panic!("unexpected span {other}"),
        };
        assert_eq!(*parent, expected, "{name}");
    }
}
