//! Whatever bytes a journal holds, reading it never panics: random bytes
//! are an error (not a journal), a valid header followed by garbage stops
//! cleanly at the garbage, and frames with valid checksums around random
//! or hostile records (bad tags, unknown callsites and threads, parent
//! cycles, huge times) convert into an envelope that opens and answers
//! every query.

mod core_support;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use bhtrace::journal::{JOURNAL_MAGIC, read_journal};
use bhtrace::{Error, SpanId, TraceReader};
use core_support::TempDir;
use proptest::collection::vec;
use proptest::prelude::*;
use tracing_subscriber::prelude::*;

static CASE: AtomicUsize = AtomicUsize::new(0);

/// A fresh folder and file for one proptest case.
fn case_file(test: &str, bytes: &[u8]) -> (TempDir, std::path::PathBuf) {
    let n = CASE.fetch_add(1, Ordering::Relaxed);
    let dir = TempDir::new(&format!("random-{test}-{n}"));
    let path = dir.join("j.bhtj");
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}

/// The preamble and process header of a real journal (made once).
fn real_preamble() -> Vec<u8> {
    static PREAMBLE: OnceLock<Vec<u8>> = OnceLock::new();
    PREAMBLE.get_or_init(make_preamble).clone()
}

fn make_preamble() -> Vec<u8> {
    let dir = TempDir::new("random-preamble");
    let path = dir.join("t.bht");
    let (layer, guard, journal) = core_support::keeping_journal(&path);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info_span!("x").in_scope(|| {});
    });
    guard.finish().unwrap();
    let bytes = std::fs::read(journal).unwrap();
    let header_len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    bytes[..20 + header_len].to_vec()
}

fn frame(records: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len() + 8);
    out.extend_from_slice(&(records.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(records).to_le_bytes());
    out.extend_from_slice(records);
    out
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn string(out: &mut Vec<u8>, s: &str) {
    varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// A field value with its type tag (tag 9 is not a type).
#[derive(Debug, Clone)]
enum Val {
    Tag(u8),
    Int(u8, u64),
    Wide(u8, u128),
    Str(String),
}

fn put_fields(out: &mut Vec<u8>, fields: &[(u8, Val)]) {
    out.push(fields.len() as u8);
    for (idx, v) in fields {
        out.push(*idx);
        match v {
            Val::Tag(t) => out.push(*t),
            Val::Int(t, x) => {
                out.push(*t);
                varint(out, *x);
            }
            Val::Wide(t, x) => {
                out.push(*t);
                let b = x.to_le_bytes();
                out.extend_from_slice(if *t == 6 { &b[..8] } else { &b[..] });
            }
            Val::Str(s) => {
                out.push(7);
                string(out, s);
            }
        }
    }
}

/// One journal record, as the format spells it, with values chosen to
/// hit the edges: numbers 0 and out of range, unknown callsites, threads
/// never defined, times at both ends of u64.
#[derive(Debug, Clone)]
enum Rec {
    Callsite {
        id: u64,
        kind: u8,
        level: u8,
        fields: Vec<String>,
    },
    Thread {
        thread: u64,
        name: String,
    },
    NewSpan {
        span: u64,
        parent: u64,
        callsite: u64,
        t: u64,
        thread: u64,
        fields: Vec<(u8, Val)>,
    },
    Record {
        span: u64,
        fields: Vec<(u8, Val)>,
    },
    Follows {
        span: u64,
        follows: u64,
    },
    Enter {
        span: u64,
        t: u64,
        thread: u64,
    },
    Exit {
        span: u64,
        t: u64,
        thread: u64,
    },
    Close {
        span: u64,
        t: u64,
    },
    Event {
        parent: u64,
        callsite: u64,
        t: u64,
        thread: u64,
        fields: Vec<(u8, Val)>,
    },
    Dropped {
        total: u64,
    },
    End {
        t: u64,
    },
    Garbage(Vec<u8>),
}

impl Rec {
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            Rec::Callsite {
                id,
                kind,
                level,
                fields,
            } => {
                out.push(0x01);
                varint(out, *id);
                out.push(*kind);
                out.push(*level);
                for s in ["name", "db::pool", "module", "file.rs"] {
                    string(out, s);
                }
                varint(out, 7);
                out.push(fields.len() as u8);
                for f in fields {
                    string(out, f);
                }
            }
            Rec::Thread { thread, name } => {
                out.push(0x02);
                varint(out, *thread);
                string(out, name);
            }
            Rec::NewSpan {
                span,
                parent,
                callsite,
                t,
                thread,
                fields,
            } => {
                out.push(0x03);
                for v in [*span, *parent, *callsite, *t, *thread] {
                    varint(out, v);
                }
                put_fields(out, fields);
            }
            Rec::Record { span, fields } => {
                out.push(0x04);
                varint(out, *span);
                put_fields(out, fields);
            }
            Rec::Follows { span, follows } => {
                out.push(0x05);
                varint(out, *span);
                varint(out, *follows);
            }
            Rec::Enter { span, t, thread } | Rec::Exit { span, t, thread } => {
                out.push(if matches!(self, Rec::Enter { .. }) {
                    0x06
                } else {
                    0x07
                });
                for v in [*span, *t, *thread] {
                    varint(out, v);
                }
            }
            Rec::Close { span, t } => {
                out.push(0x08);
                varint(out, *span);
                varint(out, *t);
            }
            Rec::Event {
                parent,
                callsite,
                t,
                thread,
                fields,
            } => {
                out.push(0x09);
                for v in [*parent, *callsite, *t, *thread] {
                    varint(out, v);
                }
                put_fields(out, fields);
            }
            Rec::Dropped { total } => {
                out.push(0x0a);
                varint(out, *total);
            }
            Rec::End { t } => {
                out.push(0x0b);
                varint(out, *t);
            }
            Rec::Garbage(b) => out.extend_from_slice(b),
        }
    }
}

/// Span, callsite and thread numbers: mostly the few that exist, so
/// records meet each other, sometimes 0, unknown or out of range.
fn small() -> impl Strategy<Value = u64> {
    prop_oneof![
        12 => 1..3u64,
        4 => 0..6u64,
        1 => Just(u64::MAX),
        1 => Just(u64::from(u32::MAX) + 1),
    ]
}

fn time() -> impl Strategy<Value = u64> {
    prop_oneof![6 => 0..1_000u64, 2 => Just(u64::MAX), 2 => (u64::MAX - 1_000)..]
}

fn val() -> impl Strategy<Value = Val> {
    prop_oneof![
        (0..2u8).prop_map(Val::Tag),
        Just(Val::Tag(9)),
        (2..4u8, any::<u64>()).prop_map(|(t, x)| Val::Int(t, x)),
        (4..7u8, any::<u128>()).prop_map(|(t, x)| Val::Wide(t, x)),
        prop_oneof![Just("db"), Just("ERROR"), Just("api"), Just("")]
            .prop_map(|s| Val::Str(s.to_owned())),
    ]
}

fn fields() -> impl Strategy<Value = Vec<(u8, Val)>> {
    vec((prop_oneof![4 => 0..4u8, 1 => Just(200u8)], val()), 0..4)
}

fn rec() -> impl Strategy<Value = Rec> {
    let names = vec(
        prop_oneof![
            Just("service"),
            Just("error"),
            Just("otel.status_code"),
            Just("x")
        ]
        .prop_map(str::to_owned),
        0..4,
    );
    prop_oneof![
        1 => (small(), 0..3u8, 0..6u8, names)
            .prop_map(|(id, kind, level, fields)| Rec::Callsite { id, kind, level, fields }),
        1 => small().prop_map(|thread| Rec::Thread { thread, name: "t".into() }),
        4 => (small(), small(), small(), time(), small(), fields()).prop_map(
            |(span, parent, callsite, t, thread, fields)| Rec::NewSpan {
                span, parent, callsite, t, thread, fields
            }
        ),
        1 => (small(), fields()).prop_map(|(span, fields)| Rec::Record { span, fields }),
        1 => (small(), small()).prop_map(|(span, follows)| Rec::Follows { span, follows }),
        2 => (small(), time(), small()).prop_map(|(span, t, thread)| Rec::Enter { span, t, thread }),
        2 => (small(), time(), small()).prop_map(|(span, t, thread)| Rec::Exit { span, t, thread }),
        2 => (small(), time()).prop_map(|(span, t)| Rec::Close { span, t }),
        2 => (small(), small(), time(), small(), fields()).prop_map(
            |(parent, callsite, t, thread, fields)| Rec::Event { parent, callsite, t, thread, fields }
        ),
        1 => any::<u64>().prop_map(|total| Rec::Dropped { total }),
        1 => time().prop_map(|t| Rec::End { t }),
        1 => vec(any::<u8>(), 1..6).prop_map(Rec::Garbage),
    ]
}

/// Definitions a real writer puts first: thread 1, a span callsite with
/// `service` and `error` fields, an event callsite at ERROR.
fn defs() -> Vec<Rec> {
    let names = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
    vec![
        Rec::Thread {
            thread: 1,
            name: "main".into(),
        },
        Rec::Callsite {
            id: 1,
            kind: 0,
            level: 2,
            fields: names(&["service", "error", "x"]),
        },
        Rec::Callsite {
            id: 2,
            kind: 1,
            level: 4,
            fields: names(&["message"]),
        },
    ]
}

/// Opens an envelope produced by the converter and runs every query: none
/// may fail, since the converter wrote it.
fn query_everything(bytes: Vec<u8>) {
    let trace = TraceReader::from_bytes(bytes).expect("the converter's output opens");
    core_support::check_well_formed(&trace);
    trace.summary().unwrap();
    trace.critical_path().unwrap();
    let (full, _) = trace.full().unwrap();
    assert_eq!(full.spans.len(), trace.len());
    trace.orphan_events().unwrap();
    trace.verify().unwrap();
    for id in 0..trace.len() as u32 {
        let (sub, _) = trace.subtree(SpanId(id)).unwrap();
        assert_eq!(sub[0], full.spans[id as usize]);
        trace.span(SpanId(id)).unwrap();
    }
    for name in trace.services() {
        trace.service(name).unwrap();
    }
    trace.slowest(3);
    trace.spans_named("name");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_are_not_a_journal(bytes in vec(any::<u8>(), 0..600), with_magic: bool) {
        let mut bytes = bytes;
        if with_magic {
            // The right magic, then garbage: still an error, never a panic.
            let mut b = JOURNAL_MAGIC.to_vec();
            b.extend_from_slice(&bytes);
            bytes = b;
        }
        let (_dir, path) = case_file("bytes", &bytes);
        let read = read_journal(&path);
        prop_assert!(read.is_err(), "random bytes read as a journal: {read:?}");
        if !with_magic {
            let is_bad_magic = matches!(read, Err(Error::BadMagic { .. }));
            prop_assert!(is_bad_magic, "{read:?}");
        }
        prop_assert!(bhtrace::recover_to_vec(&path).is_err());
        prop_assert!(TraceReader::open(&path).is_err());
    }

    #[test]
    fn garbage_after_a_valid_header_stops_cleanly(tail in vec(any::<u8>(), 0..600)) {
        let mut bytes = real_preamble();
        let header_end = bytes.len() as u64;
        bytes.extend_from_slice(&tail);
        let (_dir, path) = case_file("tail", &bytes);
        let (records, stats) = read_journal(&path).unwrap();
        prop_assert!(records.is_empty());
        prop_assert_eq!(stats.torn_tail, !tail.is_empty());
        prop_assert_eq!(stats.stopped_at, header_end);
        let (envelope, converted) = bhtrace::recover_to_vec(&path).unwrap();
        prop_assert_eq!(converted.spans, 0);
        query_everything(envelope);
    }

    #[test]
    fn checksummed_frames_of_hostile_records_convert(
        with_defs: bool,
        frames in vec(vec(rec(), 0..24), 1..4),
        torn in vec(any::<u8>(), 0..12),
    ) {
        let mut bytes = real_preamble();
        for (i, records) in frames.iter().enumerate() {
            let mut body = Vec::new();
            if i == 0 && with_defs {
                for r in defs() {
                    r.put(&mut body);
                }
            }
            for r in records {
                r.put(&mut body);
            }
            if !body.is_empty() {
                bytes.extend_from_slice(&frame(&body));
            }
        }
        bytes.extend_from_slice(&torn);
        let (_dir, path) = case_file("records", &bytes);
        let (records, stats) = read_journal(&path).unwrap();
        prop_assert_eq!(stats.records, records.len() as u64);
        let (envelope, converted) = bhtrace::recover_to_vec(&path)
            .map_err(|e| TestCaseError::fail(format!("conversion failed: {e}")))?;
        prop_assert_eq!(converted.journal.torn_tail, stats.torn_tail);
        query_everything(envelope);
    }
}

/// Records that use a callsite before the journal defines it are orphans
/// to both passes of the converter (they once disagreed, and the
/// conversion failed as if the journal had changed under it).
#[test]
fn records_before_their_callsite_definition_are_orphans() {
    let names = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let recs = [
        Rec::Thread {
            thread: 1,
            name: "main".into(),
        },
        Rec::NewSpan {
            span: 1,
            parent: 0,
            callsite: 1,
            t: 5,
            thread: 1,
            fields: vec![(0, Val::Str("early".into())), (1, Val::Str("db".into()))],
        },
        Rec::Event {
            parent: 1,
            callsite: 2,
            t: 6,
            thread: 1,
            fields: vec![],
        },
        Rec::Callsite {
            id: 1,
            kind: 0,
            level: 2,
            fields: names(&["x", "service"]),
        },
        Rec::Callsite {
            id: 2,
            kind: 1,
            level: 2,
            fields: names(&["message"]),
        },
        Rec::NewSpan {
            span: 1,
            parent: 0,
            callsite: 1,
            t: 7,
            thread: 1,
            fields: vec![],
        },
        Rec::Event {
            parent: 1,
            callsite: 2,
            t: 8,
            thread: 1,
            fields: vec![(0, Val::Str("kept".into()))],
        },
        Rec::Close { span: 1, t: 9 },
    ];
    let mut body = Vec::new();
    for r in &recs {
        r.put(&mut body);
    }
    let mut bytes = real_preamble();
    bytes.extend_from_slice(&frame(&body));
    let (_dir, path) = case_file("early-records", &bytes);
    let (envelope, converted) = bhtrace::recover_to_vec(&path).unwrap();
    assert_eq!(converted.spans, 1);
    assert_eq!(converted.orphan_records, 2, "{converted:?}");
    let trace = TraceReader::from_bytes(envelope.clone()).unwrap();
    let (span, _) = trace.span(SpanId(0)).unwrap();
    assert!(
        span.fields.is_empty(),
        "the early creation's fields are not the span's"
    );
    assert_eq!(
        &*span.info.service, "db::pool",
        "the early `service` value is not applied"
    );
    assert_eq!((span.info.start_ns, span.info.end_ns), (7, 9));
    assert_eq!(span.events.len(), 1);
    assert_eq!(span.events[0].message(), Some("kept"));
    query_everything(envelope);
}
