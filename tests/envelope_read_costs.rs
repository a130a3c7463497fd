//! Every query says what it read, and reads what it should: `summary()`
//! (and the other index-only queries) read the header and the structure
//! and no byte of the field names or the payload; `subtree` adds one read
//! of its block range and the field names of the callsites it decodes, a
//! read per run of adjacent callsites; `service` one read per run of
//! adjacent blocks, and its callsites' names; `full()` reads the whole
//! file.

mod core_support;
mod reliability_support;

use bhtrace::{ReadStats, SpanId, TraceReader};
use core_support::TempDir;
use reliability_support::hostile::Pieces;
use tracing_subscriber::prelude::*;

fn section(trace: &TraceReader, name: &str) -> (u64, u64) {
    trace
        .sections()
        .into_iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, offset, len)| (offset, len))
        .unwrap_or_else(|| panic!("no section {name}"))
}

#[test]
fn queries_read_what_they_need() {
    let dir = TempDir::new("read_costs");
    let path = dir.join("t.bht");
    let (layer, guard) = bhtrace::layer(&path).unwrap();
    let statement = "select id, name, price, stock from items where id = $1 and region = $2";
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for request in 0..20u64 {
            let root =
                tracing::info_span!(target: "gateway", "request", request, path = "/checkout");
            let _r = root.enter();
            for i in 0..5u64 {
                tracing::info_span!(target: "db::pool", "query", i, statement).in_scope(|| {
                    tracing::debug!(target: "db::pool", rows = i, "fetched");
                });
                tracing::info_span!(target: "cache", "get", i, key = "item:42").in_scope(|| {
                    tracing::info!(target: "cache", hit = i % 2 == 0, "looked up");
                });
            }
        }
    });
    guard.finish().unwrap();

    let trace = TraceReader::open(&path).unwrap();
    let file_len = std::fs::metadata(&path).unwrap().len();
    // Callsites in order of first use: 0 request, 1 query, 2 its "fetched"
    // event, 3 get, 4 its "looked up" event. Bytes of their field names:
    let blocks = Pieces::parse(&std::fs::read(&path).unwrap()).name_blocks();
    assert_eq!(blocks.len(), 5);
    let names =
        |callsites: &[usize]| -> u64 { callsites.iter().map(|&c| blocks[c].len() as u64).sum() };
    let open = trace.open_stats();
    assert_eq!(open.file_len, file_len);
    let (payload_at, payload_len) = section(&trace, "payload");
    let (fields_at, fields_len) = section(&trace, "fields");
    let (services_at, services_len) = section(&trace, "services");
    let (index_at, index_len) = section(&trace, "index");
    assert_eq!(
        services_at + services_len,
        fields_at,
        "the structure ends where the field names start"
    );
    assert_eq!(fields_at + fields_len, payload_at);
    assert!(index_at + index_len <= fields_at);
    assert!(
        payload_len * 2 > file_len,
        "a payload-heavy trace: {payload_len} of {file_len}"
    );
    // What open reads: preamble, header and structure (everything before
    // the field names), and the 32-byte trailer.
    let structure_and_trailer = fields_at + 32;
    assert_eq!(open.bytes_read, structure_and_trailer, "{open:?}");

    // Index-only queries: not one byte of the field names or the payload.
    let (summary, s) = trace.summary().unwrap();
    assert_eq!(s, open, "summary reads nothing beyond open");
    assert!(s.bytes_read <= structure_and_trailer);
    assert!(s.fraction() < 0.5, "{s:?}");
    assert_eq!(summary.traces, 20);
    assert_eq!(summary.spans as usize, trace.len());
    let (_, s) = trace.critical_path().unwrap();
    assert_eq!(s, open);
    let (_, s) = trace.critical_path_of(SpanId(0)).unwrap();
    assert_eq!(s, open);
    for stats in [
        trace.roots().1,
        trace.slowest(5).1,
        trace.spans_named("query").1,
        trace.infos().1,
    ] {
        assert_eq!(stats, open);
    }

    // subtree: open + exactly the subtree's block range, in one read, and
    // the names of every callsite it holds: all five, adjacent, one read.
    let root = trace.roots().0[3].clone();
    let (sub, s) = trace.subtree(root.id).unwrap();
    assert_eq!(sub.len(), root.subtree_end.index() - root.id.index());
    assert_eq!(
        s.reads,
        open.reads + 2,
        "one read for the whole subtree, then one for the field names"
    );
    assert_eq!(names(&[0, 1, 2, 3, 4]), fields_len);
    let sub_payload = s.bytes_read - open.bytes_read - fields_len;
    assert!(
        sub_payload > 0 && sub_payload * 10 < payload_len,
        "{sub_payload} of {payload_len}"
    );
    // The root alone: its block and its own callsite's names.
    let (one, s1) = trace.span(root.id).unwrap();
    assert_eq!(one, sub[0]);
    assert_eq!(s1.reads, open.reads + 2);
    assert!(s1.bytes_read < s.bytes_read);
    let root_payload = s1.bytes_read - open.bytes_read - names(&[0]);
    assert!(root_payload > 0 && root_payload < sub_payload);

    // service: one read per run of adjacent blocks, only those blocks.
    let (db, s) = trace.service("db").unwrap();
    assert_eq!(db.len(), 100);
    let mut runs = 1;
    for w in db.windows(2) {
        if w[1].info.id.0 != w[0].info.id.0 + 1 {
            runs += 1;
        }
    }
    assert_eq!(
        s.reads,
        open.reads + runs + 1,
        "adjacent blocks coalesce into one read; then the names of the query \
         and the fetched event, adjacent, in one"
    );
    let (cache, s_cache) = trace.service("cache").unwrap();
    assert_eq!(cache.len(), 100);
    let (gateway, s_gw) = trace.service("gateway").unwrap();
    assert_eq!(gateway.len(), 20);
    assert_eq!(s_gw.reads, open.reads + 20 + 1);
    let payload_of =
        |s: ReadStats, callsites: &[usize]| s.bytes_read - open.bytes_read - names(callsites);
    let orphans = section(&trace, "orphan events").1;
    assert_eq!(
        payload_of(s, &[1, 2]) + payload_of(s_cache, &[3, 4]) + payload_of(s_gw, &[0]) + orphans,
        payload_len,
        "the three services' blocks tile the payload"
    );

    // full: everything.
    let (all, s) = trace.full().unwrap();
    assert_eq!(all.spans.len(), trace.len());
    assert!(s.fraction() >= 0.99, "{s:?}");
    assert_eq!(
        s.bytes_read, file_len,
        "open + the whole payload is the whole file"
    );
    assert_eq!(s.file_len, file_len);
}

/// One root with `spans` children, each carrying a `payload`-byte field.
fn flat(path: &std::path::Path, spans: u64, payload: usize) -> TraceReader {
    let text = "x".repeat(payload);
    let (layer, guard) = bhtrace::layer(path).unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let root = tracing::info_span!("batch", spans);
        let _r = root.enter();
        for i in 0..spans {
            tracing::info_span!("op", i, text = text.as_str()).in_scope(|| {});
        }
    });
    guard.finish().unwrap();
    TraceReader::open(path).unwrap()
}

#[test]
fn summary_reads_grow_with_spans_not_with_payload() {
    let dir = TempDir::new("read_costs_scaling");
    let light = flat(&dir.join("light.bht"), 1_000, 16);
    let heavy = flat(&dir.join("heavy.bht"), 1_000, 8_192);
    let more = flat(&dir.join("more.bht"), 10_000, 16);
    let (_, l) = light.summary().unwrap();
    let (_, h) = heavy.summary().unwrap();
    let (_, m) = more.summary().unwrap();
    // A file 100x heavier in payload: the summary reads about the same
    // (index columns holding offsets and times may be a byte wider).
    assert!(h.file_len > 100 * l.file_len, "{h:?} vs {l:?}");
    assert!(
        h.bytes_read < l.bytes_read + l.bytes_read / 2,
        "heavy payload: {h:?} vs light: {l:?}"
    );
    // Ten times the spans: about ten times the bytes.
    let ratio = m.bytes_read as f64 / l.bytes_read as f64;
    assert!((7.0..=13.0).contains(&ratio), "{ratio}: {m:?} vs {l:?}");
}
