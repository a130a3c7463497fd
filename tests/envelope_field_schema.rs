//! The field-name schema (the `fields` section) is read lazily: `open`,
//! `summary()` and `critical_path()` read no byte of it (nor of the
//! payload); the first query that decodes fields reads it once, and every
//! such query counts it, so a query's `ReadStats` are the same whichever
//! queries ran before it. A damaged schema is a typed error naming
//! `Section::Fields`, from the queries that need it and from `verify()`,
//! never from `open` or the index-only queries.

mod core_support;
mod reliability_support;

use bhtrace::{Error, ReadStats, Section, SpanId, TraceReader};
use core_support::TempDir;
use reliability_support::hostile::{FIELDS, Pieces, read_varint, varint};
use tracing_subscriber::prelude::*;

fn record(dir: &TempDir) -> Vec<u8> {
    let path = dir.join("t.bht");
    let (layer, guard) = bhtrace::layer(&path).unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let root = tracing::info_span!("request", service = "api", user = "ada");
        let _r = root.enter();
        tracing::info!(parent: None, code = 3u64, "outside");
        for i in 0..4u64 {
            tracing::info_span!(target: "db::pool", "query", i, sql = "select 1")
                .in_scope(|| tracing::warn!(i, rows = 2 * i, "slow"));
        }
    });
    guard.finish().unwrap();
    std::fs::read(&path).unwrap()
}

fn section(trace: &TraceReader, name: &str) -> (u64, u64) {
    let (_, offset, len) = trace
        .sections()
        .into_iter()
        .find(|(n, _, _)| *n == name)
        .unwrap();
    (offset, len)
}

/// Every query that decodes payload, with what it read.
fn payload_queries(trace: &TraceReader) -> Vec<(&'static str, ReadStats)> {
    vec![
        ("span", trace.span(SpanId(1)).unwrap().1),
        ("subtree", trace.subtree(SpanId(0)).unwrap().1),
        ("service", trace.service("db").unwrap().1),
        ("orphan_events", trace.orphan_events().unwrap().1),
        ("full", trace.full().unwrap().1),
        ("verify", trace.verify().unwrap()),
    ]
}

#[test]
fn only_queries_that_decode_fields_read_the_schema_and_each_counts_it() {
    let dir = TempDir::new("field_schema_lazy");
    let good = record(&dir);
    let trace = TraceReader::from_bytes(good.clone()).unwrap();
    let (fields_at, fields_len) = section(&trace, "fields");
    let (payload_at, payload_len) = section(&trace, "payload");
    assert_eq!(fields_at + fields_len, payload_at);
    assert!(fields_len > 0);

    // Open, summary and critical path: the bytes before the schema and the
    // 32-byte trailer, so not one byte of the schema or the payload.
    let open = trace.open_stats();
    assert_eq!(open.bytes_read, fields_at + 32, "{open:?}");
    let (summary, s) = trace.summary().unwrap();
    assert_eq!(s, open);
    assert_eq!(summary.spans, 5);
    assert_eq!(trace.critical_path().unwrap().1, open);
    assert_eq!(trace.critical_path_of(SpanId(1)).unwrap().1, open);

    // The first payload query reads the schema, in one read of exactly
    // the section.
    let (span, s) = trace.span(SpanId(1)).unwrap();
    assert_eq!(span.fields.len(), 2, "{:?}", span.fields);
    assert_eq!(&*span.fields[1].0, "sql");
    assert_eq!(span.events[0].fields.len(), 3);
    let block = s.bytes_read - open.bytes_read - fields_len;
    assert!(block > 0 && block < payload_len);
    assert_eq!(s.reads, open.reads + 2, "the schema, then the block");

    // Every payload query reports the same on a fresh reader as on one
    // that already holds the schema, in either order.
    let warm = payload_queries(&trace);
    let mut cold = Vec::new();
    for i in 0..warm.len() {
        let fresh = TraceReader::from_bytes(good.clone()).unwrap();
        cold.push(payload_queries(&fresh)[i]);
    }
    assert_eq!(cold, warm);
    let (full, s) = trace.full().unwrap();
    assert_eq!(s.bytes_read, s.file_len, "full() reads the whole file");
    assert_eq!(full.orphan_events[0].fields.len(), 2);
    // And the index-only queries still read nothing more.
    assert_eq!(trace.summary().unwrap().1, open);

    // Exports count the schema once, however many subtrees they read.
    let stats = bhtrace::export::write_chrome(&trace, std::io::sink()).unwrap();
    assert_eq!(stats.read.bytes_read, s.file_len);
    assert_eq!(
        stats.read.reads,
        open.reads + 1 + 1 + 1,
        "schema, 1 tree, orphans"
    );
}

#[test]
fn a_reader_is_shared_by_threads_that_load_the_schema_at_once() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<TraceReader>();
    let dir = TempDir::new("field_schema_threads");
    let trace = TraceReader::from_bytes(record(&dir)).unwrap();
    let alone = TraceReader::from_bytes(record(&dir))
        .unwrap()
        .full()
        .unwrap();
    let answers: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|_| s.spawn(|| trace.full().unwrap())).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (full, stats) in answers {
        assert_eq!(full.spans.len(), alone.0.spans.len());
        assert_eq!(stats.bytes_read, stats.file_len);
        assert_eq!(stats.reads, alone.1.reads);
    }
}

/// The fields section of `pieces` replaced by `fields`, checksums right.
fn with_fields(pieces: &Pieces, fields: Vec<u8>) -> Vec<u8> {
    let mut p = pieces.clone();
    p.sections[FIELDS] = fields;
    p.build()
}

fn fields_error(e: Error) -> (u64, &'static str) {
    match e {
        Error::Corrupt {
            section: Section::Fields,
            offset,
            what,
        } => (offset, what),
        Error::Truncated {
            section: Section::Fields,
            offset,
            ..
        } => (offset, "truncated"),
        other => panic!("not a Fields error: {other:?}"),
    }
}

#[test]
fn a_damaged_schema_is_an_error_of_the_queries_that_need_it() {
    let dir = TempDir::new("field_schema_damage");
    let good = record(&dir);
    let pieces = Pieces::parse(&good);
    assert_eq!(pieces.build(), good);
    let fields_at = TraceReader::from_bytes(good.clone())
        .map(|t| section(&t, "fields").0)
        .unwrap();

    // A changed byte, its checksum left as is: open and the index-only
    // queries do not notice; every payload query and verify() do.
    let mut bad = good.clone();
    bad[fields_at as usize + 2] ^= 0x20;
    let trace = TraceReader::from_bytes(bad).expect("open reads no field names");
    trace.summary().unwrap();
    trace.critical_path().unwrap();
    let checksum = |e: Error| match e {
        Error::Checksum {
            section: Section::Fields,
            offset,
            stored,
            computed,
        } => {
            assert_eq!(offset, fields_at);
            assert_ne!(stored, computed);
        }
        other => panic!("{other:?}"),
    };
    checksum(trace.span(SpanId(0)).unwrap_err());
    checksum(trace.orphan_events().unwrap_err());
    checksum(trace.verify().unwrap_err());
    // Not kept: asked again, it fails again.
    checksum(trace.full().unwrap_err());
    assert!(matches!(
        bhtrace::export::write_otlp(&trace, std::io::sink()),
        Err(bhtrace::export::ExportError::Read(Error::Checksum {
            section: Section::Fields,
            ..
        }))
    ));

    // The section decoded: names, callsite count, per callsite n and ids.
    let f = &pieces.sections[FIELDS];
    let mut at = 0;
    let n_names = read_varint(f, &mut at) as usize;
    for _ in 0..n_names {
        at += read_varint(f, &mut at) as usize;
    }
    let lists_at = at;
    let n_callsites = read_varint(f, &mut at);
    assert_eq!(
        n_callsites,
        u64::from(
            TraceReader::from_bytes(good.clone())
                .unwrap()
                .header()
                .callsites
        )
    );
    let first_list = at;
    let mut damaged: Vec<(&str, Vec<u8>)> = Vec::new();
    // A callsite count other than the callsite table's.
    let mut b = f[..lists_at].to_vec();
    varint(&mut b, n_callsites + 1);
    b.extend_from_slice(&f[first_list..]);
    damaged.push(("callsite count", b));
    // A name index past the names (the first callsite with a field).
    let mut b = f.clone();
    let mut at = first_list;
    while b[at] == 0 {
        at += 1;
    }
    b[at + 1] = n_names as u8;
    damaged.push(("out of range", b));
    // Cut inside the last list, and a byte after it.
    damaged.push(("section", f[..f.len() - 1].to_vec()));
    damaged.push(("after the last", [f.as_slice(), &[0]].concat()));
    // 2^40 names; a count of 255 names with nothing after it.
    let mut b = Vec::new();
    varint(&mut b, 1 << 40);
    b.extend_from_slice(&f[1..]);
    damaged.push(("count larger", b));
    let mut b = f[..first_list].to_vec();
    b.push(255);
    damaged.push(("count larger", b));
    // No section at all.
    damaged.push(("section", Vec::new()));
    for (want, fields) in damaged {
        let trace = TraceReader::from_bytes(with_fields(&pieces, fields)).unwrap();
        trace.summary().expect("the summary needs no field names");
        let (offset, what) = fields_error(trace.verify().unwrap_err());
        assert!(what.contains(want) || want == "section", "{want}: {what}");
        assert!(offset >= fields_at, "{want}: {offset}");
        fields_error(trace.subtree(SpanId(0)).unwrap_err());
        fields_error(trace.service("api").unwrap_err());
    }

    // Field names the callsite does not declare read as `field#<i>`.
    let mut b = f[..first_list].to_vec();
    b.resize(b.len() + n_callsites as usize, 0);
    let trace = TraceReader::from_bytes(with_fields(&pieces, b)).unwrap();
    trace.verify().unwrap();
    let (span, _) = trace.span(SpanId(0)).unwrap();
    let names: Vec<&str> = span.fields.iter().map(|(n, _)| &**n).collect();
    assert_eq!(names, ["field#0", "field#1"]);
}
