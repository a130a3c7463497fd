//! The readers never allocate more than a small multiple of the file they
//! read, however the file repeats its strings.
//!
//! A file stores each span name, target, service and source file once, in
//! its string table, and each field name once per callsite that declares
//! it, in that callsite's block of field names, and refers to them by
//! number; answers share that one copy (`Arc<str>`) instead of copying it
//! into every span, event and record. Crafted files whose spans and fields
//! all name one 20 kB string check it, with every allocation counted:
//!
//! - a flat envelope (3000 top-level spans), a tree (one root, 1000
//!   children, each with a long-named field and an event carrying it) and
//!   a chain (100 spans nested in one another), through every query that
//!   builds answers (`infos`, `full`, `subtree`, `service`, `roots`,
//!   `slowest`, `spans_named`, `summary`) and every export;
//! - a journal whose 3000 events carry one 20 kB field name, through
//!   `read_journal`.
//!
//! Each peak must stay within 32 × the file's length + 64 KiB. The OTLP
//! export also holds up to one output line (8 MiB of spans before it
//! writes one, whatever the input: at most 16 MiB with its buffers'
//! growth), so its bound has that constant added.
//!
//! `cargo test --test reliability_alloc_amplification -- --nocapture`
//! prints the figures.

mod core_support;
mod reliability_support;

use bhtrace::{SpanId, TraceReader};
use bhtrace_peak_alloc::{PeakAlloc, peak, reset_peak};
use core_support::TempDir;
use reliability_support::hostile::*;
use tracing_subscriber::prelude::*;

#[global_allocator]
static ALLOC: PeakAlloc = PeakAlloc;

const SPANS: u64 = 3_000;
const LONG: usize = 20_000;
/// What the OTLP export may hold whatever the file: one line.
const OTLP_LINE: usize = 16 << 20;

fn limit(len: usize) -> usize {
    32 * len + (64 << 10)
}

/// The peak of what `f` allocates beyond what was live before it.
fn peak_of<T>(f: impl FnOnce() -> T) -> usize {
    let before = reset_peak();
    drop(f());
    peak() - before
}

/// Measures `f`, prints its peak against `len` and checks it against
/// `limit(len) + extra`; returns a failure message instead of panicking,
/// so that every figure gets printed.
fn check<T>(what: &str, len: usize, extra: usize, f: impl FnOnce() -> T) -> Option<String> {
    let p = peak_of(f);
    eprintln!(
        "  {what:<14} peak {p:>10} B ({:>5.1}x the file)",
        p as f64 / len as f64
    );
    (p > limit(len) + extra).then(|| format!("{what}: {p} B for a {len}-byte file"))
}

/// Records what `record` traces, then makes every string of the string
/// table, and every field name, that is in `long` 20 kB long.
fn crafted(name: &str, long: &[&[u8]], record: impl FnOnce()) -> Vec<u8> {
    let dir = TempDir::new(name);
    let path = dir.join("t.bht");
    let (layer, guard) = bhtrace::Builder::new(&path).build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), record);
    guard.finish().unwrap();

    let mut p = Pieces::parse(&std::fs::read(&path).unwrap());
    // Span names are in the string table, field names in the fields
    // section's blocks (once per callsite that declares them).
    let mut replaced = std::collections::BTreeSet::new();
    let mut lengthen = |t: &[u8]| match long.iter().position(|l| *l == t) {
        Some(i) => {
            replaced.insert(i);
            vec![b'a' + i as u8; LONG]
        }
        None => t.to_vec(),
    };
    p.map_strings(STRINGS, &mut lengthen);
    p.map_field_names(&mut lengthen);
    assert_eq!(
        replaced.len(),
        long.len(),
        "every string to lengthen is in a table"
    );
    p.build()
}

/// Every query that builds answers, and every export, on `bytes`.
fn check_reader(what: &str, bytes: Vec<u8>, failures: &mut Vec<String>) {
    let len = bytes.len();
    let trace = TraceReader::from_bytes(bytes).unwrap();
    let long_name = trace.info(SpanId(trace.len() as u32 - 1)).unwrap().name;
    assert_eq!(long_name.len(), LONG);
    eprintln!("{what}: {len} B, {} spans", trace.len());
    let f = [
        check("infos()", len, 0, || trace.infos()),
        check("full()", len, 0, || trace.full().unwrap()),
        check("subtree(root)", len, 0, || {
            trace.subtree(SpanId(0)).unwrap()
        }),
        check("service()", len, 0, || {
            trace.service("reliability_alloc_amplification").unwrap()
        }),
        check("roots()", len, 0, || trace.roots()),
        check("slowest()", len, 0, || trace.slowest(trace.len())),
        check("spans_named()", len, 0, || trace.spans_named(&long_name)),
        check("summary()", len, 0, || trace.summary().unwrap()),
        check("chrome", len, 0, || {
            bhtrace::export::write_chrome(&trace, std::io::sink()).unwrap()
        }),
        check("folded", len, 0, || {
            bhtrace::export::write_folded(&trace, std::io::sink()).unwrap()
        }),
        check("otlp", len, OTLP_LINE, || {
            bhtrace::export::write_otlp(&trace, std::io::sink()).unwrap()
        }),
    ];
    failures.extend(f.into_iter().flatten());
}

#[test]
fn rows_naming_one_long_string_do_not_multiply_memory() {
    let mut failures = Vec::new();

    // The span name "query", stored once, made 20 kB long.
    let flat = crafted("reliability-alloc-flat", &[b"query"], || {
        for i in 0..SPANS {
            tracing::info_span!("query", i).in_scope(|| {});
        }
    });
    check_reader("flat", flat, &mut failures);

    // Children that also share a long field name, set at creation, by a
    // record and by an event.
    let tree = crafted("reliability-alloc-tree", &[b"query", b"long_field"], || {
        tracing::info_span!("root").in_scope(|| {
            for i in 0..1_000u64 {
                let span = tracing::info_span!("query", long_field = i);
                span.record("long_field", i + 1);
                span.in_scope(|| tracing::info!(long_field = i, "event"));
            }
        })
    });
    check_reader("tree", tree, &mut failures);

    // Stacks of the long name: the folded export's stacks, the OTLP
    // export's one tree.
    fn nest(depth: u32) {
        if depth > 0 {
            tracing::info_span!("query").in_scope(|| nest(depth - 1));
        }
    }
    let chain = crafted("reliability-alloc-chain", &[b"query"], || nest(100));
    check_reader("chain", chain, &mut failures);

    // The journal reader alike: each decoded record's fields carry their
    // names, shared with the callsite: one 20 kB field name, 3000 events.
    let dir = TempDir::new("reliability-alloc-journal");
    let path = dir.join("j.bht");
    let (layer, guard) = bhtrace::Builder::new(&path)
        .keep_journal(true)
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info_span!("query").in_scope(|| {});
    });
    guard.finish().unwrap();
    let mut records = vec![0x01, 0x01, 0x01, 0x02, 1, b'e', 1, b't', 0, 0, 0, 1];
    varint(&mut records, LONG as u64);
    records.extend(std::iter::repeat_n(b'f', LONG));
    records.extend_from_slice(&[0x02, 0x01, 0x00]); // THREAD 1, unnamed
    for t in 0..SPANS {
        // EVENT: no parent, callsite 1, time, thread 1, one field: #0 = true.
        records.extend_from_slice(&[0x09, 0x00, 0x01]);
        varint(&mut records, t);
        records.extend_from_slice(&[0x01, 0x01, 0x00, 0x01]);
    }
    let mut journal = journal_head(&std::fs::read(dir.join("j.bhtj")).unwrap()).to_vec();
    journal.extend(frame(&records));
    let jpath = dir.join("amplified.bhtj");
    std::fs::write(&jpath, &journal).unwrap();
    let len = journal.len();
    eprintln!("journal: {len} B, {} events", SPANS);
    failures.extend(check("read_journal()", len, 0, || {
        let (recs, _) = bhtrace::journal::read_journal(&jpath).unwrap();
        assert_eq!(recs.len() as u64, SPANS + 2);
        recs
    }));

    // The smallest records: 4-byte EXITs (span 1, time 0, thread 1), each
    // decoded into a whole `Record`.
    let mut exits = Vec::new();
    for _ in 0..100_000 {
        exits.extend_from_slice(&[0x07, 0x01, 0x00, 0x01]);
    }
    let mut journal = journal_head(&std::fs::read(dir.join("j.bhtj")).unwrap()).to_vec();
    journal.extend(frame(&exits));
    let jpath = dir.join("exits.bhtj");
    std::fs::write(&jpath, &journal).unwrap();
    let len = journal.len();
    eprintln!(
        "journal: {len} B of 4-byte exits; a Record is {} B",
        std::mem::size_of::<bhtrace::journal::Record>()
    );
    failures.extend(check("read_journal() of exits", len, 0, || {
        let (recs, _) = bhtrace::journal::read_journal(&jpath).unwrap();
        assert_eq!(recs.len(), 100_000);
        recs
    }));

    assert!(failures.is_empty(), "{failures:#?}");
}
