//! How much the reader allocates, measured by a counting global allocator:
//! opening an envelope and running a query stays within a small multiple
//! of the file's size, whatever the file claims — real traces, and the
//! hostile lengths of `reliability_hostile_lengths.rs` (2^40 spans, 4 GB
//! strings, offsets past the end). Journal reading and recovery alike, plus
//! the converter's fixed buffers. Run with `--nocapture` for the figures.
//!
//! One test in this file: the allocator's counters are process-wide.

mod core_support;
mod reliability_support;

use bhtrace::{SpanId, TraceReader};
use bhtrace_peak_alloc::{PeakAlloc, peak, reset_peak};
use core_support::TempDir;
use reliability_support::hostile::*;
use tracing_subscriber::prelude::*;

#[global_allocator]
static ALLOC: PeakAlloc = PeakAlloc;

/// Bytes `f` allocated at its peak, beyond what was live before it.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = reset_peak();
    let out = f();
    (out, peak().saturating_sub(before))
}

/// What a query may allocate: `factor` × the file plus `fixed` bytes.
#[derive(Debug, Clone, Copy)]
struct Bound {
    factor: usize,
    fixed: usize,
    /// Bytes allowed per span of the file, on top: for a crafted index
    /// whose rows are narrower than the spans they decode to.
    per_span: usize,
}

impl Bound {
    fn check(&self, what: &str, file_len: usize, bytes: usize) {
        self.check_spans(what, file_len, 0, bytes);
    }

    fn check_spans(&self, what: &str, file_len: usize, spans: usize, bytes: usize) {
        let limit = self.factor * file_len + self.per_span * spans + self.fixed;
        eprintln!(
            "{what:<48} file {file_len:>8} B  peak {bytes:>9} B  ({:>5.1}× the file)",
            bytes as f64 / file_len.max(1) as f64
        );
        assert!(
            bytes <= limit,
            "{what}: allocated {bytes} bytes for a {file_len}-byte file (limit {limit})"
        );
    }
}

/// Open plus the queries whose answers are bounded by the file: the
/// structure (strings, callsites, index), the field names, payload
/// reads and checks, and on
/// files whose strings are not crafted to repeat, the payload queries.
/// (Answers clone shared strings into every span and field: a file crafted
/// so that thousands of rows name one long string defeats any multiple —
/// `reliability_alloc_amplification.rs`, ignored until that is fixed.)
fn measure_envelope(what: &str, bytes: Vec<u8>, bound: Bound) {
    let len = bytes.len();
    let (trace, open) = peak_of(|| TraceReader::from_bytes(bytes));
    let spans = trace.as_ref().map_or(0, TraceReader::len);
    let check = |query: &str, n| bound.check_spans(&format!("{what}: {query}"), len, spans, n);
    check("open", open);
    let Ok(trace) = trace else { return };
    check("verify", peak_of(|| trace.verify()).1);
    check("summary", peak_of(|| trace.summary()).1);
    check("critical_path", peak_of(|| trace.critical_path()).1);
    check("orphan_events", peak_of(|| trace.orphan_events()).1);
    check("full", peak_of(|| trace.full()).1);
    check("subtree(0)", peak_of(|| trace.subtree(SpanId(0))).1);
}

fn measure_journal(dir: &TempDir, what: &str, bytes: &[u8], bound: Bound) {
    let path = dir.join("measured.bhtj");
    std::fs::write(&path, bytes).unwrap();
    let (_, n) = peak_of(|| bhtrace::journal::read_journal(&path));
    bound.check(&format!("{what}: read_journal"), bytes.len(), n);
    let (out, n) = peak_of(|| bhtrace::recover_to_vec(&path));
    bound.check(&format!("{what}: recover_to_vec"), bytes.len(), n);
    if let Ok((env, _)) = out {
        measure_envelope(&format!("{what}, recovered"), env, ENVELOPE);
    }
}

/// The envelope reader: the structure in memory (a `String` per string,
/// a row per span) is at most ~24× its bytes; a payload query holds the
/// bytes read and what they decode to. (Real files' rows take 14 to 25
/// bytes; a crafted index of the narrowest rows is measured apart, with
/// `DENSE_INDEX`.)
const ENVELOPE: Bound = Bound {
    factor: 32,
    fixed: 64 << 10,
    per_span: 0,
};

/// An index crafted from the narrowest rows the format allows (every
/// column 1 bit wide: 9 bits a row, where real files take 14 to 25 bytes):
/// what the reader holds per span, not per byte, is what bounds it. Open
/// decodes each row into 56 bytes (49.8× its 9 bits, so 64 B a span
/// covers it and the preorder check's stack of ancestors); `full()`
/// answers with a `Span` per span, about 224 bytes each with nothing in
/// it.
const DENSE_INDEX: Bound = Bound {
    factor: 32,
    fixed: 64 << 10,
    per_span: 256,
};

/// The journal reader and converter: a 256 KiB read buffer, a frame, the
/// per-span table (a span number can make it grow by up to 1 Mi entries of
/// 4 bytes before it switches to a map) and the output.
const JOURNAL: Bound = Bound {
    factor: 64,
    fixed: 6 << 20,
    per_span: 0,
};

fn record(dir: &TempDir, name: &str, spans: u64) -> (Vec<u8>, Vec<u8>) {
    let path = dir.join(&format!("{name}.bht"));
    let (layer, guard, journal) = core_support::keeping_journal(&path);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let root = tracing::info_span!("request", service = "api", user = "ada");
        let _r = root.enter();
        for i in 0..spans {
            tracing::info_span!(target: "db::pool", "query", i, sql = "select 1")
                .in_scope(|| tracing::info!(i, rows = 3, "fetched"));
        }
        tracing::info!(parent: None, "outside");
    });
    guard.finish().unwrap();
    (
        std::fs::read(&path).unwrap(),
        std::fs::read(journal).unwrap(),
    )
}

#[test]
fn the_reader_allocates_a_small_multiple_of_the_file() {
    let dir = TempDir::new("reliability-alloc-bound");

    // Real files, small and larger.
    let (small_env, small_journal) = record(&dir, "small", 4);
    let (big_env, big_journal) = record(&dir, "big", 3_000);
    measure_envelope("real envelope, 5 spans", small_env.clone(), ENVELOPE);
    measure_envelope("real envelope, 3001 spans", big_env.clone(), ENVELOPE);
    measure_journal(&dir, "real journal, 5 spans", &small_journal, JOURNAL);
    measure_journal(&dir, "real journal, 3001 spans", &big_journal, JOURNAL);

    // Hostile envelopes: each claim refused before it sizes anything.
    let pieces = Pieces::parse(&small_env);
    let mut p = pieces.clone();
    p.header_fields = p.header_fields_with_spans(1 << 40);
    measure_envelope("header claiming 2^40 spans", p.build(), ENVELOPE);
    let mut p = pieces.clone();
    p.header_fields = p.header_fields_with_spans(u64::from(u32::MAX));
    measure_envelope("header claiming 2^32-1 spans", p.build(), ENVELOPE);
    measure_envelope(
        "index claiming 2^40 rows",
        patch_table(&small_env, INDEX, None, Some(1 << 44)),
        ENVELOPE,
    );
    let strings = &pieces.sections[STRINGS];
    let mut at = 0;
    read_varint(strings, &mut at);
    let len_at = at;
    read_varint(strings, &mut at);
    let mut s = strings[..len_at].to_vec();
    varint(&mut s, 4 << 30);
    s.extend_from_slice(&strings[at..]);
    let mut p = pieces.clone();
    p.sections[STRINGS] = s;
    measure_envelope("a 4 GB string", p.build(), ENVELOPE);
    let mut s = Vec::new();
    varint(&mut s, 1 << 40);
    s.extend_from_slice(&strings[len_at..]);
    let mut p = pieces.clone();
    p.sections[STRINGS] = s;
    measure_envelope("2^40 strings", p.build(), ENVELOPE);
    // The most strings a table can hold: each of them empty.
    let mut s = Vec::new();
    varint(&mut s, 100_000);
    s.resize(s.len() + 100_000, 0);
    let mut p = pieces.clone();
    p.sections[STRINGS] = s;
    measure_envelope("100k empty strings", p.build(), ENVELOPE);
    // The field names, one block per callsite, which the payload queries
    // read: block lengths claiming 2^40 bytes (refused at open); every
    // block holding the most names it can (255), each distinct; and every
    // block holding names that total as much as the format allows (8
    // times the block), each a distinct allocation.
    let mut p = pieces.clone();
    let mut entries = p.callsites();
    entries[0].1 = 1 << 40;
    p.set_callsites(&entries);
    measure_envelope("field-name block of 2^40 bytes", p.build(), ENVELOPE);
    let callsites = pieces.callsites().len();
    let mut p = pieces.clone();
    let many: Vec<Vec<u8>> = (0..255).map(|i: u32| i.to_string().into_bytes()).collect();
    let block = name_block(&many.iter().map(Vec::as_slice).collect::<Vec<_>>());
    p.set_name_blocks(&vec![block; callsites]);
    measure_envelope("255 field names per callsite", p.build(), ENVELOPE);
    let mut names = vec![vec![b'n'; 4000]];
    loop {
        let mut next = names[0].clone();
        next.push(names.len() as u8);
        names.push(next);
        let block = name_block(&names.iter().map(Vec::as_slice).collect::<Vec<_>>());
        if names.iter().map(Vec::len).sum::<usize>() > 8 * block.len() {
            names.pop();
            break;
        }
    }
    let block = name_block(&names.iter().map(Vec::as_slice).collect::<Vec<_>>());
    let decoded: usize = names.iter().map(Vec::len).sum();
    assert!(
        decoded > 7 * block.len(),
        "{decoded} of names, {} of block",
        block.len()
    );
    let mut p = pieces.clone();
    p.set_name_blocks(&vec![block; callsites]);
    measure_envelope("field names 8 times their blocks", p.build(), ENVELOPE);
    measure_envelope(
        "payload offset past the end",
        patch_table(
            &small_env,
            PAYLOAD,
            Some(small_env.len() as u64 + 4096),
            None,
        ),
        ENVELOPE,
    );

    // The densest index the format allows: 9-bit rows, every value 0, so
    // each span a root with an empty block, valid by every rule of
    // docs/format.md §3.7.
    let n: usize = 400_000; // a multiple of 8: 9-bit rows end on a byte
    let mut p = pieces.clone();
    let mut index = vec![1u8; COLUMNS];
    index.resize(COLUMNS + n * 9 / 8, 0);
    p.sections[INDEX] = index;
    p.sections[4] = Vec::new(); // no roots listed (not checked at open)
    let mut at = 0;
    let _count = read_varint(&p.sections[SERVICES], &mut at);
    let first = read_varint(&p.sections[SERVICES], &mut at);
    let mut services = Vec::new();
    varint(&mut services, 1);
    varint(&mut services, first);
    p.sections[SERVICES] = services;
    p.sections[PAYLOAD] = Vec::new();
    p.orphans_in_payload = 0;
    let mut h = p.header();
    h.spans = n as u32;
    h.roots = 0;
    p.header_fields = postcard::to_stdvec(&h).unwrap();
    let dense = p.build();
    assert_eq!(TraceReader::from_bytes(dense.clone()).unwrap().len(), n);
    measure_envelope("400k rows of 9 bits", dense, DENSE_INDEX);

    // Hostile journals.
    let head = journal_head(&small_journal);
    let mut b = small_journal.clone();
    b[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    measure_journal(&dir, "journal header of 4 GB", &b, JOURNAL);
    for len in [u32::MAX - 7, 60 << 20] {
        let mut b = small_journal.clone();
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(&[0; 12]);
        measure_journal(&dir, &format!("frame claiming {len} bytes"), &b, JOURNAL);
    }
    let mut records = vec![0x02, 0x01];
    varint(&mut records, 4 << 30);
    let mut b = small_journal.clone();
    b.extend(frame(&records));
    measure_journal(&dir, "thread name of 4 GB", &b, JOURNAL);
    // Span numbers far apart, each of which the converter must file.
    let mut records = Vec::new();
    for n in [1u64 << 20, 1 << 30, 1 << 40, u64::MAX] {
        records.push(0x08); // CLOSE of a span never created
        varint(&mut records, n);
        varint(&mut records, 1);
    }
    let mut b = head.to_vec();
    b.extend(frame(&records));
    measure_journal(&dir, "span numbers up to u64::MAX", &b, JOURNAL);
}
