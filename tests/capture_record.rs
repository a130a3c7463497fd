//! `span.record` after creation: later values replace earlier ones, fields
//! declared `Empty` appear once recorded, a recorded `service` moves the
//! span to that service and a recorded `error` flags it — also when the
//! record happens on another thread whose batch reaches the journal before
//! the span's creation does.

mod core_support;

use std::sync::Arc;

use bhtrace::journal::{Record, read_journal};
use bhtrace::{TraceReader, Value};
use core_support::{TempDir, on_thread};
use tracing::field::Empty;
use tracing_subscriber::prelude::*;

fn field(name: &str, v: impl Into<Value>) -> (Arc<str>, Value) {
    (Arc::from(name), v.into())
}

#[test]
fn span_record_after_creation() {
    let dir = TempDir::new("span_record");
    let path = dir.join("t.bht");
    // Small batches: a thread's records reach the writer after ~256 bytes.
    let (layer, guard) = bhtrace::Builder::new(&path)
        .keep_journal(true)
        .batch_bytes(256)
        .build()
        .unwrap();
    let journal = guard.journal_path().unwrap().to_owned();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));

    tracing::dispatcher::with_default(&dispatch, || {
        let local = tracing::info_span!(
            target: "app",
            "local",
            n = 1u64,
            status = Empty,
            service = Empty,
            error = Empty
        );
        local.record("n", 2u64);
        local.record("status", "ok");
        local.record("service", "payments");
        local.record("status", "done");
        local.record("not_declared", 5u64); // not a field of the callsite: ignored
        drop(local);

        let cleared = tracing::info_span!(target: "app", "cleared", error = Empty);
        cleared.record("error", false);
        drop(cleared);
        let failed = tracing::info_span!(target: "app", "failed", error = Empty);
        failed.record("error", "timeout");
        drop(failed);
    });

    // Created here, recorded on a worker whose batch is sent (it fills up)
    // while the creation still sits in this thread's buffer: the journal
    // holds the records before the span's creation. (Flushed first, so
    // this thread's buffer holds nothing but the creation.)
    guard.flush().unwrap();
    let moved = tracing::dispatcher::with_default(
        &dispatch,
        || tracing::info_span!(target: "app", "moved", step = "created", service = "edge", error = Empty),
    );
    let (sent_tx, sent_rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let worker = on_thread("recorder", &dispatch, move || {
        moved.record("step", "recorded");
        moved.record("service", "billing");
        moved.record("error", true);
        for i in 0..40u64 {
            tracing::info!(parent: None, i, "filler");
        }
        sent_tx.send(()).unwrap();
        go_rx.recv().unwrap();
        // After the flush below: this record follows the creation.
        moved.record("service", "ledger");
        drop(moved);
    });
    sent_rx.recv().unwrap();
    guard.flush().unwrap();
    go_tx.send(()).unwrap();
    worker.join().unwrap();
    drop(dispatch);
    guard.finish().unwrap();

    // The journal keeps every record, in the order each thread made them.
    let (records, stats) = read_journal(&journal).unwrap();
    assert!(!stats.torn_tail);
    let number_of = |name: &str| {
        let cs = records
            .iter()
            .find_map(|r| match r {
                Record::Callsite(c) if c.name == name => Some(c.id),
                _ => None,
            })
            .unwrap();
        records
            .iter()
            .find_map(|r| match r {
                Record::NewSpan { span, callsite, .. } if *callsite == cs => Some(*span),
                _ => None,
            })
            .unwrap()
    };
    let local_no = number_of("local");
    let recorded: Vec<&Vec<(Arc<str>, Value)>> = records
        .iter()
        .filter_map(|r| match r {
            Record::Record { span, fields } if *span == local_no => Some(fields),
            _ => None,
        })
        .collect();
    assert_eq!(
        recorded,
        [
            &vec![field("n", 2u64)],
            &vec![field("status", "ok")],
            &vec![field("service", "payments")],
            &vec![field("status", "done")],
        ]
    );
    let moved_no = number_of("moved");
    let pos = |pred: &dyn Fn(&Record) -> bool| records.iter().position(pred).unwrap();
    let first_record = pos(&|r| matches!(r, Record::Record { span, .. } if *span == moved_no));
    let creation = pos(&|r| matches!(r, Record::NewSpan { span, .. } if *span == moved_no));
    let last_record = records
        .iter()
        .rposition(|r| matches!(r, Record::Record { span, .. } if *span == moved_no))
        .unwrap();
    assert!(
        first_record < creation && creation < last_record,
        "the set-up did not put the creation between the worker's records \
         (records at {first_record} and {last_record}, creation at {creation})"
    );

    // The envelope: latest values, in order of first appearance.
    let trace = TraceReader::open(&path).unwrap();
    let (all, _) = trace.full().unwrap();
    let span = |name: &str| all.spans.iter().find(|s| &*s.info.name == name).unwrap();

    let local = span("local");
    assert_eq!(
        local.fields,
        vec![
            field("n", 2u64),
            field("status", "done"),
            field("service", "payments")
        ]
    );
    assert_eq!(&*local.info.service, "payments");
    assert!(!local.info.error);
    assert!(!span("cleared").info.error, "error = false is not an error");
    assert_eq!(span("cleared").fields, vec![field("error", false)]);
    assert!(
        span("failed").info.error,
        "an error field that is not false flags the span"
    );

    let moved = span("moved");
    assert_eq!(
        moved.fields,
        vec![
            field("step", "recorded"),
            field("service", "ledger"),
            field("error", true)
        ],
        "a record made after creation wins, whatever order the journal holds them in"
    );
    assert_eq!(&*moved.info.service, "ledger", "the last service recorded");
    assert!(moved.info.error);

    let (payments, _) = trace.service("payments").unwrap();
    assert_eq!(payments.len(), 1);
    assert_eq!(&*payments[0].info.name, "local");
    let (ledger, _) = trace.service("ledger").unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(&*ledger[0].info.name, "moved");
    for replaced in ["edge", "billing"] {
        let (spans, _) = trace.service(replaced).unwrap();
        assert!(
            spans.is_empty(),
            "service {replaced} was replaced: {spans:?}"
        );
        assert!(!trace.services().contains(&replaced));
    }
}

/// A list that names a field twice (`record_all` with a repeated field, which
/// `tracing`'s API allows): the later value is the field's value, and the
/// row's service follows it; an `error` that is `true` in any occurrence
/// flags the span, as it would in two separate records.
#[test]
fn a_field_named_twice_in_one_record() {
    let dir = TempDir::new("record_twice");
    let path = dir.join("t.bht");
    let (layer, guard) = bhtrace::layer(&path).unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let span = tracing::info_span!(target: "app", "twice", service = Empty, error = Empty);
        let meta = span.metadata().unwrap();
        let fields = meta.fields();
        let (svc, err) = (
            fields.field("service").unwrap(),
            fields.field("error").unwrap(),
        );
        let values: [(&tracing::field::Field, Option<&dyn tracing::Value>); 4] = [
            (&err, Some(&true)),
            (&svc, Some(&"first")),
            (&err, Some(&false)),
            (&svc, Some(&"second")),
        ];
        span.record_all(&fields.value_set(&values));
    });
    guard.finish().unwrap();
    let trace = TraceReader::open(&path).unwrap();
    let (span, _) = trace.span(bhtrace::SpanId(0)).unwrap();
    assert_eq!(&*span.info.service, "second", "the later service wins");
    assert!(span.info.error, "an error = true anywhere flags the span");
    assert!(
        span.fields.contains(&field("service", "second")),
        "{:?}",
        span.fields
    );
    assert!(
        span.fields.contains(&field("error", false)),
        "{:?}",
        span.fields
    );
}

/// The longest process header a journal may carry is copied into the
/// envelope's header with the section table and the counts: the envelope
/// opens (a reader once accepted 1 MiB for both, and refused the file the
/// converter had just written).
#[test]
fn a_service_name_at_the_journal_header_limit_still_opens() {
    let dir = TempDir::new("long_service_name");
    let path = dir.join("t.bht");
    let exe = std::env::current_exe().unwrap().display().to_string().len();
    // The journal's process header (pid, executable, service name, wall
    // start, writer version) just under its 1 MiB limit.
    let name = "s".repeat((1 << 20) - exe - 64);
    let (layer, guard) = bhtrace::Builder::new(&path)
        .service_name(name.clone())
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info_span!("one").in_scope(|| {});
    });
    guard.finish().unwrap();
    let trace = TraceReader::open(&path).unwrap();
    assert_eq!(
        trace.header().process.service_name.as_deref(),
        Some(name.as_str())
    );
    assert_eq!(trace.len(), 1);
}
