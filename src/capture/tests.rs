//! The layer's span numbering end to end, through the journal: the paths
//! the integration tests rarely reach (span table full, layer clones in
//! two subscribers).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use tracing_subscriber::prelude::*;

use crate::journal::{Record, read_journal};
use crate::value::Value;

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("bhtrace-unit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    /// A layer writing only a journal in this folder (no conversion): the
    /// layer, its guard and the journal's path.
    fn journal_only(&self) -> (crate::BhtLayer, crate::Guard, PathBuf) {
        let (layer, guard) = crate::Builder::new(self.0.join("t.bht"))
            .convert(false)
            .build()
            .unwrap();
        let journal = guard.journal_path().unwrap().to_owned();
        (layer, guard, journal)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn field_u64(fields: &[(std::sync::Arc<str>, Value)], name: &str) -> Option<u64> {
    fields
        .iter()
        .find(|(n, _)| &**n == name)
        .and_then(|(_, v)| match v {
            Value::U64(i) => Some(*i),
            Value::I64(i) => Some(*i as u64),
            _ => None,
        })
}

/// The journal's records, checked to be well numbered: every span number
/// is new, every enter, exit, close and record names a created span, and
/// every span is closed exactly once.
fn check_numbers(records: &[Record]) {
    let mut created = HashSet::new();
    let mut closed = HashSet::new();
    for r in records {
        match r {
            Record::NewSpan { span, .. } => assert!(created.insert(*span), "span {span} twice"),
            Record::Enter { span, .. }
            | Record::Exit { span, .. }
            | Record::Record { span, .. } => {
                assert!(
                    created.contains(span) && !closed.contains(span),
                    "span {span}"
                )
            }
            Record::Close { span, .. } => {
                assert!(created.contains(span), "close of unknown span {span}");
                assert!(closed.insert(*span), "span {span} closed twice");
            }
            _ => {}
        }
    }
    assert_eq!(created, closed);
}

/// More live spans than the span table has slots: the ones whose slot is
/// taken keep their number in the registry's extensions, and enters,
/// exits, events, explicit parents, records and closes find it there.
#[test]
fn spans_beyond_the_table_keep_their_numbers() {
    const N: u64 = 10_000;
    let dir = Dir::new("table-full");
    let (layer, guard, journal) = dir.journal_only();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let root = tracing::info_span!("root");
        let _r = root.enter();
        let spans: Vec<_> = (0..N)
            .map(|i| tracing::info_span!("item", i, late = tracing::field::Empty))
            .collect();
        for (i, s) in spans.iter().enumerate() {
            s.in_scope(|| tracing::info!(i, "in"));
            tracing::info_span!(parent: s, "child", i).in_scope(|| {});
            tracing::info!(parent: s, i, "explicit");
            s.record("late", i as u64);
        }
        // Closed in another order than created.
        let mut spans = spans;
        while !spans.is_empty() {
            let at = spans.len() / 2;
            drop(spans.swap_remove(at));
        }
    });
    guard.finish().unwrap();

    let (records, _) = read_journal(&journal).unwrap();
    check_numbers(&records);
    let mut names = HashMap::new();
    let mut item_of_i = HashMap::new();
    let mut root = None;
    for r in &records {
        match r {
            Record::Callsite(c) => {
                names.insert(c.id, c.name.clone());
            }
            Record::NewSpan {
                span,
                parent,
                callsite,
                fields,
                ..
            } => match names[callsite].as_str() {
                "root" => root = Some(*span),
                "item" => {
                    assert_eq!(*parent, root);
                    item_of_i.insert(field_u64(fields, "i").unwrap(), *span);
                }
                "child" => {
                    let i = field_u64(fields, "i").unwrap();
                    assert_eq!(*parent, Some(item_of_i[&i]), "child {i}");
                }
                _ => {}
            },
            Record::Event { parent, fields, .. } => {
                let i = field_u64(fields, "i").unwrap();
                assert_eq!(*parent, Some(item_of_i[&i]), "event {i}");
            }
            Record::Record { span, fields } => {
                let i = field_u64(fields, "late").unwrap();
                assert_eq!(*span, item_of_i[&i], "record {i}");
            }
            _ => {}
        }
    }
    assert_eq!(item_of_i.len() as u64, N);
}

/// A layer cloned into two subscribers: both hand out the same ids (the
/// same thread, the same slab slots), and each clone's spans keep their
/// own numbers.
#[test]
fn layer_clones_in_two_subscribers_keep_their_spans_apart() {
    let dir = Dir::new("clones");
    let (layer, guard, journal) = dir.journal_only();
    let dispatches = [
        tracing::Dispatch::new(tracing_subscriber::registry().with(layer.clone())),
        tracing::Dispatch::new(tracing_subscriber::registry().with(layer)),
    ];
    for i in 0..100u64 {
        // One span per subscriber, both alive at once, with the same id.
        let spans = [0, 1].map(|k| {
            tracing::dispatcher::with_default(&dispatches[k], || {
                tracing::info_span!("s", k = k as u64, i)
            })
        });
        assert_eq!(spans[0].id(), spans[1].id());
        for (k, s) in spans.iter().enumerate() {
            tracing::dispatcher::with_default(&dispatches[k], || {
                s.in_scope(|| tracing::info!(k = k as u64, i, "e"))
            });
        }
    }
    drop(dispatches);
    guard.finish().unwrap();

    let (records, _) = read_journal(&journal).unwrap();
    check_numbers(&records);
    let mut span_of = HashMap::new();
    let mut entered = HashSet::new();
    for r in &records {
        match r {
            Record::NewSpan { span, fields, .. } => {
                let key = (
                    field_u64(fields, "k").unwrap(),
                    field_u64(fields, "i").unwrap(),
                );
                span_of.insert(key, *span);
            }
            Record::Enter { span, .. } => assert!(entered.insert(*span), "span {span}"),
            Record::Event { parent, fields, .. } => {
                let key = (
                    field_u64(fields, "k").unwrap(),
                    field_u64(fields, "i").unwrap(),
                );
                assert_eq!(*parent, Some(span_of[&key]), "{key:?}");
            }
            _ => {}
        }
    }
    assert_eq!(span_of.len(), 200);
    assert_eq!(entered.len(), 200);
}

/// A field whose `Debug` panics: the half-written record is cut off, the
/// buffer unlocked, the panic goes on to the caller, and the thread keeps
/// recording; also re-entrantly (a `Debug` that enters a span: `tracing`
/// itself drops events logged from inside a subscriber, not span enters).
#[test]
fn a_panicking_field_leaves_no_half_record() {
    struct Bomb;
    impl std::fmt::Debug for Bomb {
        fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            panic!("Debug of Bomb");
        }
    }
    struct Chatty(tracing::Span);
    impl std::fmt::Debug for Chatty {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            self.0.in_scope(|| f.write_str("chatty"))
        }
    }
    let dir = Dir::new("panicking-field");
    let (layer, guard, journal) = dir.journal_only();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let s = tracing::info_span!("s");
        let _e = s.enter();
        let chatty = Chatty(tracing::info_span!("chatty"));
        for i in 0..3u64 {
            tracing::info!(i, "before");
            // The cut record's time must not become the base of the next
            // record's time delta: 20 ms that the next record would lose.
            std::thread::sleep(std::time::Duration::from_millis(20));
            let r = std::panic::catch_unwind(|| tracing::info!(i, bomb = ?Bomb, "boom"));
            assert!(r.is_err());
            tracing::info!(i, c = ?chatty, "after");
        }
    });
    guard.finish().unwrap();

    let (records, stats) = read_journal(&journal).unwrap();
    assert!(!stats.torn_tail, "{stats:?}");
    // (Not `check_numbers`: the re-entrant enters go out in batches of
    // their own, ahead of the buffer that holds the span's creation.)
    let mut messages = Vec::new();
    let mut names = HashMap::new();
    let mut chatty = None;
    let mut enters = HashMap::new();
    let mut times = Vec::new();
    for r in &records {
        match r {
            Record::Callsite(c) => {
                names.insert(c.id, c.name.clone());
            }
            Record::NewSpan { span, callsite, .. } if names[callsite] == "chatty" => {
                chatty = Some(*span);
            }
            Record::Enter { span, .. } => *enters.entry(*span).or_insert(0) += 1,
            Record::Event { fields, t_ns, .. } => {
                messages.extend(fields.iter().find_map(|(n, v)| match v {
                    Value::Str(m) if &**n == "message" => Some(m.clone()),
                    _ => None,
                }));
                times.push(*t_ns);
            }
            _ => {}
        }
    }
    assert_eq!(messages, ["before", "after"].repeat(3));
    for pair in times.chunks(2) {
        assert!(pair[1] - pair[0] >= 20_000_000, "{times:?}");
    }
    assert_eq!(enters.get(&chatty.unwrap()), Some(&3));
}

/// More callsites than the thread's cache of recent ones has slots, used
/// in turn: every event still names its own callsite.
#[test]
fn many_callsites_keep_their_numbers() {
    macro_rules! events {
        ($($k:literal)*) => { $( tracing::info!(k = $k as u64); )* };
    }
    let dir = Dir::new("callsites");
    let (layer, guard, journal) = dir.journal_only();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for _ in 0..3 {
            events!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26
                27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49);
        }
    });
    guard.finish().unwrap();

    let (records, _) = read_journal(&journal).unwrap();
    let mut callsite_of = HashMap::new();
    let mut events = 0;
    for r in &records {
        if let Record::Event {
            callsite, fields, ..
        } = r
        {
            events += 1;
            let k = field_u64(fields, "k").unwrap();
            assert_eq!(
                *callsite_of.entry(k).or_insert(*callsite),
                *callsite,
                "k {k}"
            );
        }
    }
    assert_eq!(events, 150);
    let distinct: HashSet<_> = callsite_of.values().collect();
    assert_eq!(distinct.len(), 50);
}
