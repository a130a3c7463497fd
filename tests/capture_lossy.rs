//! Lossy mode with a tiny channel, two threads producing flat out: every
//! record is either written or counted as dropped — exactly — and the drop
//! count reaches the journal and the envelope's header.

mod core_support;

use std::collections::HashSet;

use bhtrace::journal::{Record, read_journal};
use bhtrace::{TraceReader, Value};
use core_support::{TempDir, on_thread};
use tracing_subscriber::prelude::*;

const THREADS: u64 = 2;
const PER_THREAD: u64 = 40_000;

#[test]
fn lossy_mode_counts_every_record_written_or_dropped() {
    let dir = TempDir::new("lossy");
    let path = dir.join("t.bht");
    let (layer, guard) = bhtrace::Builder::new(&path)
        .lossy(true)
        .channel_capacity(1)
        .batch_bytes(64)
        .keep_journal(true)
        .build()
        .unwrap();
    let journal = guard.journal_path().unwrap().to_owned();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let producers: Vec<_> = (0..THREADS)
        .map(|k| {
            on_thread(&format!("producer-{k}"), &dispatch, move || {
                for i in 0..PER_THREAD {
                    tracing::info!(k, i, "produced");
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    drop(dispatch);
    let done = guard.finish().unwrap();
    let w = done.writer;

    let produced = THREADS * PER_THREAD;
    assert_eq!(
        w.records_written + w.records_dropped,
        produced,
        "written {} + dropped {} != produced {produced}",
        w.records_written,
        w.records_dropped
    );
    assert!(
        w.records_dropped > 0,
        "a channel of one 64-byte batch kept up with two threads: {w:?}"
    );
    assert!(w.records_written > 0, "{w:?}");
    assert_eq!(w.records_after_finish, 0);
    assert_eq!(w.write_errors, 0);
    // What the writer collected from idle buffers never went through the
    // channel: sent is at most written.
    assert!(w.records_sent <= w.records_written, "{w:?}");

    // The journal: the surviving events, intact and in each thread's order,
    // and the final drop count.
    let (records, stats) = read_journal(&journal).unwrap();
    assert!(!stats.torn_tail);
    let mut last_i = [None::<u64>; THREADS as usize];
    let mut seen = HashSet::new();
    let mut events = 0u64;
    let mut dropped_total = 0u64;
    for r in &records {
        match r {
            Record::Event { fields, .. } => {
                events += 1;
                let get = |name: &str| match fields.iter().find(|(n, _)| &**n == name) {
                    Some((_, Value::U64(v))) => *v,
                    other => panic!("field {name}: {other:?}"),
                };
                let (k, i) = (get("k"), get("i"));
                assert!(seen.insert((k, i)), "event ({k}, {i}) written twice");
                let last = &mut last_i[k as usize];
                assert!(last.is_none_or(|l| l < i), "thread {k}: {i} after {last:?}");
                *last = Some(i);
            }
            Record::Dropped { total } => {
                assert!(*total >= dropped_total, "the drop count went down");
                dropped_total = *total;
            }
            _ => {}
        }
    }
    assert_eq!(events, w.records_written);
    assert_eq!(
        dropped_total, w.records_dropped,
        "the journal carries the final drop count"
    );

    // The envelope's header, and the reader's verdict.
    let trace = TraceReader::open(&path).unwrap();
    assert_eq!(trace.header().records_dropped, w.records_dropped);
    assert_eq!(trace.header().events, w.records_written);
    assert!(trace.is_incomplete(), "a trace with drops is incomplete");
    let (summary, _) = trace.summary().unwrap();
    assert_eq!(summary.records_dropped, w.records_dropped);
    let (orphans, _) = trace.orphan_events().unwrap();
    assert_eq!(orphans.len() as u64, w.records_written);
}
