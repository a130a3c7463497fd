//! 10,000 spans created and closed in a loop: `tracing` hands out the same
//! few ids again and again, bhtrace gives every span its own number, and
//! every parent link points at the right one.

mod core_support;

use std::collections::{HashMap, HashSet};

use bhtrace::journal::{Record, read_journal};
use bhtrace::{SpanId, TraceReader, Value};
use core_support::TempDir;
use tracing_subscriber::prelude::*;

const N: u64 = 10_000;

#[test]
fn spans_in_a_loop_get_distinct_numbers_and_correct_parents() {
    let dir = TempDir::new("id_reuse");
    let path = dir.join("t.bht");
    let (layer, guard, journal) = core_support::keeping_journal(&path);
    let mut tracing_ids = HashSet::new();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let root = tracing::info_span!("root");
        let _r = root.enter();
        for i in 0..N {
            let item = tracing::info_span!("item", i);
            tracing_ids.insert(item.id().unwrap().into_u64());
            let _e = item.enter();
            let step = tracing::info_span!("step", i);
            tracing_ids.insert(step.id().unwrap().into_u64());
            step.in_scope(|| tracing::info!(i, "done"));
        }
    });
    // The registry recycles its slots; ids repeat once a slot's
    // generation wraps, which these 20,000 spans make happen.
    assert!(
        (tracing_ids.len() as u64) < 2 * N,
        "tracing did not reuse ids: {} distinct for {} spans",
        tracing_ids.len(),
        2 * N
    );
    guard.finish().unwrap();

    // Journal: every NEW_SPAN has a fresh number; each step's parent is the
    // item with the same `i`, each item's parent the root.
    let (records, _) = read_journal(&journal).unwrap();
    let mut callsite_name = HashMap::new();
    let mut numbers = HashSet::new();
    let mut item_of_i: HashMap<u64, u64> = HashMap::new();
    let mut steps: Vec<(u64, Option<u64>)> = Vec::new();
    let mut root = None;
    for r in &records {
        match r {
            Record::Callsite(c) => {
                callsite_name.insert(c.id, c.name.clone());
            }
            Record::NewSpan {
                span,
                parent,
                callsite,
                fields,
                ..
            } => {
                assert!(numbers.insert(*span), "span number {span} used twice");
                let i = match fields.first() {
                    Some((n, Value::U64(i))) if &**n == "i" => Some(*i),
                    Some((n, Value::I64(i))) if &**n == "i" => Some(*i as u64),
                    _ => None,
                };
                match callsite_name[callsite].as_str() {
                    "root" => root = Some(*span),
                    "item" => {
                        assert_eq!(*parent, root, "item {i:?}");
                        item_of_i.insert(i.unwrap(), *span);
                    }
                    "step" => steps.push((i.unwrap(), *parent)),
                    other => panic!("unexpected span {other}"),
                }
            }
            _ => {}
        }
    }
    assert_eq!(numbers.len() as u64, 1 + 2 * N);
    assert_eq!(item_of_i.len() as u64, N);
    assert_eq!(steps.len() as u64, N);
    for (i, parent) in steps {
        assert_eq!(parent, Some(item_of_i[&i]), "step {i}");
    }

    // Envelope: the same tree, with every event in its own step.
    let trace = TraceReader::open(&path).unwrap();
    assert_eq!(trace.len() as u64, 1 + 2 * N);
    let items = trace.children(SpanId(0)).unwrap();
    assert_eq!(items.len() as u64, N);
    let (all, _) = trace.full().unwrap();
    for (k, item) in items.iter().enumerate() {
        let span = &all.spans[item.index()];
        assert_eq!(&*span.info.name, "item");
        let i = span.field("i").and_then(Value::as_i128).unwrap();
        assert_eq!(i, k as i128, "items in creation order");
        let kids = trace.children(*item).unwrap();
        assert_eq!(kids.len(), 1);
        let step = &all.spans[kids[0].index()];
        assert_eq!(&*step.info.name, "step");
        assert_eq!(step.field("i").and_then(Value::as_i128), Some(i));
        assert_eq!(step.events.len(), 1);
        assert_eq!(step.events[0].field("i").and_then(Value::as_i128), Some(i));
        assert!(span.info.start_ns <= step.info.start_ns && step.info.end_ns <= span.info.end_ns);
    }
    assert!(all.orphan_events.is_empty());
    assert_eq!(trace.header().incomplete_spans, 0);
}
