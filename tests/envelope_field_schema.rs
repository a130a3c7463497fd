//! Field names (the `fields` section, a block per callsite) are read per
//! callsite: `open`, `summary()` and `critical_path()` read no byte of
//! them (nor of the payload); a payload query reads the blocks of exactly
//! the callsites it decodes (its spans' and their events'), adjacent ones
//! in one read, and counts them whether an earlier query read them or not,
//! so a query's `ReadStats` are the same whichever queries ran before it.
//! `full()` and `verify()` read the whole section and check its checksum.
//! A damaged block is a typed error naming `Section::Fields`, from the
//! queries that need it and from `verify()`, never from the index-only
//! queries; block lengths that do not fill the section are refused at
//! open.

mod core_support;
mod reliability_support;

use bhtrace::{Error, ReadStats, Section, SpanId, TraceReader};
use core_support::TempDir;
use reliability_support::hostile::{FIELDS, PREAMBLE, Pieces, block_names, name_block, u64_at};
use tracing_subscriber::prelude::*;

/// Callsites in the order the journal first uses them.
const REQUEST: usize = 0;
const OUTSIDE: usize = 1;
const QUERY: usize = 2;
const SLOW: usize = 3;

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
        ("span(root)", trace.span(SpanId(0)).unwrap().1),
        ("subtree", trace.subtree(SpanId(0)).unwrap().1),
        ("subtree(leaf)", trace.subtree(SpanId(2)).unwrap().1),
        ("service", trace.service("db").unwrap().1),
        ("orphan_events", trace.orphan_events().unwrap().1),
        ("full", trace.full().unwrap().1),
        ("verify", trace.verify().unwrap()),
    ]
}

#[test]
fn a_query_reads_the_field_names_of_the_callsites_it_decodes() {
    let dir = TempDir::new("field_names_per_callsite");
    let good = record(&dir);
    let pieces = Pieces::parse(&good);
    let blocks = pieces.name_blocks();
    assert_eq!(blocks.len(), 4);
    let names: Vec<Vec<Vec<u8>>> = blocks.iter().map(|b| block_names(b)).collect();
    assert_eq!(names[REQUEST], [b"service".to_vec(), b"user".to_vec()]);
    // An event's message is its first field.
    assert_eq!(names[OUTSIDE], [b"message".to_vec(), b"code".to_vec()]);
    assert_eq!(names[QUERY], [b"i".to_vec(), b"sql".to_vec()]);
    assert_eq!(
        names[SLOW],
        [b"message".to_vec(), b"i".to_vec(), b"rows".to_vec()]
    );
    let len = |c: usize| blocks[c].len() as u64;

    let trace = TraceReader::from_bytes(good.clone()).unwrap();
    let (fields_at, fields_len) = section(&trace, "fields");
    let (payload_at, payload_len) = section(&trace, "payload");
    assert_eq!(fields_at + fields_len, payload_at);
    assert_eq!(fields_len, (0..4).map(len).sum::<u64>());

    // Open, summary and critical path: the bytes before the field names
    // and the 32-byte trailer, so not one byte of the names or the payload.
    let open = trace.open_stats();
    assert_eq!(open.bytes_read, fields_at + 32, "{open:?}");
    let (summary, s) = trace.summary().unwrap();
    assert_eq!(s, open);
    assert_eq!(summary.spans, 5);
    assert_eq!(trace.critical_path().unwrap().1, open);
    assert_eq!(trace.critical_path_of(SpanId(1)).unwrap().1, open);

    // A query span with its event: its block, then the names of the query
    // and the warning callsites, adjacent, in one read.
    let block = |r: u32, s: ReadStats, callsites: &[usize]| {
        let names: u64 = callsites.iter().map(|&c| len(c)).sum();
        let payload = s.bytes_read - open.bytes_read - names;
        assert!(payload > 0 && payload < payload_len, "row {r}: {s:?}");
        payload
    };
    let (span, s) = trace.span(SpanId(1)).unwrap();
    assert_eq!(span.fields.len(), 2, "{:?}", span.fields);
    assert_eq!(&*span.fields[1].0, "sql");
    assert_eq!(span.events[0].fields.len(), 3);
    assert_eq!(&*span.events[0].fields[2].0, "rows");
    block(1, s, &[QUERY, SLOW]);
    assert_eq!(
        s.reads,
        open.reads + 2,
        "the block, then both callsites' names"
    );
    // The root: its own callsite's names only (its event is an orphan).
    let (span, s) = trace.span(SpanId(0)).unwrap();
    assert_eq!(&*span.fields[0].0, "service");
    let root_block = block(0, s, &[REQUEST]);
    assert_eq!(s.reads, open.reads + 2);
    // A subtree of one query: the same callsites as the span, nothing of
    // the request's or the orphan event's.
    let (sub, s2) = trace.subtree(SpanId(2)).unwrap();
    assert_eq!(sub.len(), 1);
    block(2, s2, &[QUERY, SLOW]);
    // The whole tree: the request's names and the two others', two runs
    // of adjacent blocks (the orphan event's lies between), so two reads.
    let (sub, s) = trace.subtree(SpanId(0)).unwrap();
    assert_eq!(sub.len(), 5);
    assert_eq!(
        s.bytes_read,
        open.bytes_read
            + (payload_len - section(&trace, "orphan events").1)
            + len(REQUEST)
            + len(QUERY)
            + len(SLOW)
    );
    assert_eq!(
        s.reads,
        open.reads + 1 + 2,
        "the payload, two runs of names"
    );
    assert!(root_block < payload_len);
    // The orphan event: its callsite's names only.
    let (orphans, s) = trace.orphan_events().unwrap();
    assert_eq!(&*orphans[0].fields[1].0, "code");
    assert_eq!(
        s.bytes_read,
        open.bytes_read + section(&trace, "orphan events").1 + len(OUTSIDE)
    );
    assert_eq!(s.reads, open.reads + 2);
    // full() and verify(): the whole section, in one read.
    let (full, s) = trace.full().unwrap();
    assert_eq!(s.bytes_read, s.file_len, "full() reads the whole file");
    assert_eq!(s.reads, open.reads + 2);
    assert_eq!(full.orphan_events[0].fields.len(), 2);
    assert_eq!(trace.verify().unwrap(), s);

    // Every payload query reports the same on a fresh reader as on one
    // that already holds every callsite's names, and as on one that holds
    // some.
    let warm = payload_queries(&trace);
    let mut cold = Vec::new();
    let mut partly = Vec::new();
    for i in 0..warm.len() {
        let fresh = TraceReader::from_bytes(good.clone()).unwrap();
        cold.push(payload_queries(&fresh)[i]);
        let some = TraceReader::from_bytes(good.clone()).unwrap();
        some.span(SpanId(3)).unwrap();
        partly.push(payload_queries(&some)[i]);
    }
    assert_eq!(cold, warm);
    assert_eq!(partly, warm);
    // And the index-only queries still read nothing more.
    assert_eq!(trace.summary().unwrap().1, open);

    // Exports read the whole section once, however many subtrees they read.
    let stats = bhtrace::export::write_chrome(&trace, std::io::sink()).unwrap();
    assert_eq!(stats.read.bytes_read, s.file_len);
    assert_eq!(
        stats.read.reads,
        open.reads + 1 + 1 + 1,
        "field names, 1 tree, orphans"
    );
    let fresh = TraceReader::from_bytes(good.clone()).unwrap();
    let otlp = bhtrace::export::write_otlp(&fresh, std::io::sink()).unwrap();
    // (OTLP spans carry no events outside a span: it skips the orphans.)
    let orphans = section(&trace, "orphan events").1;
    assert_eq!(otlp.read.bytes_read, s.file_len - orphans);
}

#[test]
fn a_reader_is_shared_by_threads_that_load_field_names_at_once() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<TraceReader>();
    let dir = TempDir::new("field_names_threads");
    let bytes = record(&dir);
    let trace = TraceReader::from_bytes(bytes.clone()).unwrap();
    let alone = TraceReader::from_bytes(bytes).unwrap().full().unwrap();
    let answers: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let trace = &trace;
                s.spawn(move || {
                    // Half of them load some callsites' names first.
                    if i % 2 == 0 {
                        trace.subtree(SpanId(1)).unwrap();
                    }
                    trace.full().unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (full, stats) in answers {
        assert_eq!(full, alone.0);
        assert_eq!(stats.bytes_read, stats.file_len);
        assert_eq!(stats.reads, alone.1.reads);
    }
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
fn a_damaged_block_is_an_error_of_the_queries_that_need_it() {
    let dir = TempDir::new("field_names_damage");
    let good = record(&dir);
    let pieces = Pieces::parse(&good);
    assert_eq!(pieces.build(), good);
    let blocks = pieces.name_blocks();
    let trace = TraceReader::from_bytes(good.clone()).unwrap();
    let fields_at = section(&trace, "fields").0;
    let block_at = |c: usize| fields_at + blocks[..c].iter().map(|b| b.len() as u64).sum::<u64>();
    assert_eq!(blocks[QUERY], [2, 0, 1, b'i', 0, 3, b's', b'q', b'l']);

    // A changed byte in the query callsite's block, its checksum left as
    // is. A length changed: the queries that read that block fail to
    // decode it; those that do not read it do not notice; full() and
    // verify(), which read the whole section, find the checksum wrong.
    let mut bad = good.clone();
    let at = block_at(QUERY) as usize + 5; // the length of "sql"'s suffix
    bad[at] = 9;
    let trace = TraceReader::from_bytes(bad).expect("open reads no field names");
    trace.summary().unwrap();
    trace.critical_path().unwrap();
    let (offset, what) = fields_error(trace.span(SpanId(1)).unwrap_err());
    assert_eq!(offset, at as u64 + 1, "{what}");
    fields_error(trace.subtree(SpanId(0)).unwrap_err());
    fields_error(trace.service("db").unwrap_err());
    trace
        .span(SpanId(0))
        .expect("the request's names are whole");
    trace.orphan_events().expect("so are the orphan event's");
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
    checksum(trace.verify().unwrap_err());
    checksum(trace.full().unwrap_err());
    // Not kept: asked again, it fails again.
    fields_error(trace.span(SpanId(1)).unwrap_err());
    checksum(trace.full().unwrap_err());
    assert!(matches!(
        bhtrace::export::write_otlp(&trace, std::io::sink()),
        Err(bhtrace::export::ExportError::Read(Error::Checksum {
            section: Section::Fields,
            ..
        }))
    ));
    // A letter changed: the block still decodes, so a query that reads it
    // alone answers with the changed name (as with a payload block, only
    // reading the whole section checks the checksum).
    let mut bad = good.clone();
    bad[block_at(QUERY) as usize + 7] = b'Q';
    let trace = TraceReader::from_bytes(bad).unwrap();
    let (span, _) = trace.span(SpanId(1)).unwrap();
    assert_eq!(&*span.fields[1].0, "sQl");
    checksum(trace.verify().unwrap_err());

    // Damaged blocks with every checksum right: decoding names what and
    // where, for every query that reads the block.
    let mut damaged: Vec<(&str, Vec<u8>)> = Vec::new();
    let q = &blocks[QUERY];
    damaged.push(("count larger", vec![5, 0, 1, b'i']));
    damaged.push(("shares more", [&[2, 1], &q[2..]].concat()));
    damaged.push(("shares more", [&q[..4], &[2, 3, b's', b'q', b'l']].concat()));
    damaged.push(("not UTF-8", [&q[..6], &[0xff, b'q', b'l']].concat()));
    damaged.push(("bytes after", [q.as_slice(), &[0]].concat()));
    damaged.push(("past the end", q[..q.len() - 1].to_vec()));
    damaged.push(("end of data", Vec::new()));
    // 9 names, each 3 bytes longer than the last: 1 + 6 + 8 × 5 = 47
    // bytes of block for 4 + 7 + 10 + … + 28 = 144 bytes of names, within
    // 8 times; the last name repeated (2 bytes for 28 more each) until the
    // names are more than 8 times their block.
    let mut big: Vec<Vec<u8>> = vec![b"abcd".to_vec()];
    for _ in 0..8 {
        let mut n = big.last().unwrap().clone();
        n.extend_from_slice(b"xyz");
        big.push(n);
    }
    let encode =
        |names: &[Vec<u8>]| name_block(&names.iter().map(Vec::as_slice).collect::<Vec<_>>());
    let ok = encode(&big);
    assert_eq!(ok.len(), 47);
    let mut repeated = big.clone();
    while repeated.iter().map(Vec::len).sum::<usize>() <= 8 * encode(&repeated).len() {
        repeated.push(big[8].clone());
    }
    let too_much = encode(&repeated);
    damaged.push(("more than 8 times", too_much));
    for (want, block) in damaged {
        let mut b = blocks.clone();
        b[QUERY] = block;
        let mut p = pieces.clone();
        p.set_name_blocks(&b);
        let trace = TraceReader::from_bytes(p.build()).unwrap();
        trace.summary().expect("the summary needs no field names");
        trace
            .span(SpanId(0))
            .expect("the request's names are whole");
        let (offset, what) = fields_error(trace.verify().unwrap_err());
        assert!(what.contains(want), "{want}: {what}");
        assert!(offset >= block_at(QUERY), "{want}: {offset}");
        for e in [
            trace.span(SpanId(1)).unwrap_err(),
            trace.subtree(SpanId(0)).unwrap_err(),
            trace.service("db").unwrap_err(),
            trace.full().unwrap_err(),
        ] {
            assert_eq!(fields_error(e), (offset, what), "{want}");
        }
    }
    // The block that decodes, within the bound.
    let mut b = blocks.clone();
    b[QUERY] = ok;
    let mut p = pieces.clone();
    p.set_name_blocks(&b);
    let trace = TraceReader::from_bytes(p.build()).unwrap();
    trace.verify().unwrap();
    let (span, _) = trace.span(SpanId(1)).unwrap();
    assert_eq!(&*span.fields[1].0, "abcdxyz");

    // Field names the callsite does not declare read as `field#<i>`.
    let mut b = blocks.clone();
    b[REQUEST] = vec![0];
    let mut p = pieces.clone();
    p.set_name_blocks(&b);
    let trace = TraceReader::from_bytes(p.build()).unwrap();
    trace.verify().unwrap();
    let (span, _) = trace.span(SpanId(0)).unwrap();
    let names: Vec<&str> = span.fields.iter().map(|(n, _)| &**n).collect();
    assert_eq!(names, ["field#0", "field#1"]);
}

#[test]
fn block_lengths_that_do_not_fill_the_fields_section_are_refused_at_open() {
    let dir = TempDir::new("field_names_lengths");
    let good = record(&dir);
    let pieces = Pieces::parse(&good);
    let entries = pieces.callsites();
    let mut bad = Vec::new();
    // One byte more, one byte less than the section.
    for delta in [1i64, -1] {
        let mut e = entries.clone();
        e[QUERY].1 = (e[QUERY].1 as i64 + delta) as u64;
        bad.push(e);
    }
    // Lengths that wrap a u64 around to the section's length.
    let mut e = entries.clone();
    e[REQUEST].1 = u64::MAX;
    e[OUTSIDE].1 += 1;
    bad.push(e);
    // Every length 0 before a section of a few dozen bytes.
    bad.push(entries.iter().map(|(e, _)| (e.clone(), 0)).collect());
    for e in bad {
        let mut p = pieces.clone();
        p.set_callsites(&e);
        let bytes = p.build();
        // (Its offset, as the section table says.)
        let fields_at = u64_at(&bytes, PREAMBLE + FIELDS * 16);
        match TraceReader::from_bytes(bytes) {
            Err(Error::Corrupt {
                section: Section::Fields,
                offset,
                what,
            }) => {
                assert_eq!(offset, fields_at);
                assert!(what.contains("sum"), "{what}");
            }
            other => panic!("{:?}: {other:?}", e.iter().map(|e| e.1).collect::<Vec<_>>()),
        }
    }
    // A fields section with a byte more, its lengths kept: the same.
    let mut p = pieces.clone();
    p.sections[FIELDS].push(0);
    assert!(matches!(
        TraceReader::from_bytes(p.build()),
        Err(Error::Corrupt {
            section: Section::Fields,
            ..
        })
    ));
    // Lengths that sum right but cut the blocks elsewhere: open accepts
    // them (it reads no block); the blocks then fail to decode.
    let mut e = entries.clone();
    e[QUERY].1 -= 1;
    e[SLOW].1 += 1;
    let mut p = pieces.clone();
    p.set_callsites(&e);
    let trace = TraceReader::from_bytes(p.build()).unwrap();
    fields_error(trace.verify().unwrap_err());
    fields_error(trace.span(SpanId(1)).unwrap_err());
    trace.span(SpanId(0)).unwrap();
}
