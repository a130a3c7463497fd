//! Hostile lengths and counts — a header claiming 2^40 (or 4 billion)
//! spans, an index claiming 2^40 rows, a string of 4 GB, a count of 2^40
//! strings, offsets past the end of the file — in otherwise valid files
//! (checksums recomputed, so each value reaches the reader's own checks):
//! a typed error naming the section, never a panic or an allocation sized
//! by the claim. Journals alike: a 4 GB process header, frames claiming 4 GB
//! or 60 MiB, a record with a 4 GB string. How much the reader allocates
//! meanwhile is measured in `reliability_alloc_bound.rs`.

mod core_support;
mod reliability_support;

use bhtrace::journal::{StopReason, read_journal};
use bhtrace::{Error, Section, TraceReader};
use core_support::TempDir;
use reliability_support::hostile::*;
use tracing_subscriber::prelude::*;

/// A small real envelope and its journal, written by the layer.
fn real_files(dir: &TempDir) -> (Vec<u8>, Vec<u8>) {
    let path = dir.join("real.bht");
    let (layer, guard, journal) = core_support::keeping_journal(&path);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let root = tracing::info_span!("request", service = "api");
        let _r = root.enter();
        for i in 0..4u64 {
            tracing::info_span!(target: "db::pool", "query", i)
                .in_scope(|| tracing::info!(i, "rows"));
        }
    });
    guard.finish().unwrap();
    (
        std::fs::read(&path).unwrap(),
        std::fs::read(journal).unwrap(),
    )
}

fn open_err(what: &str, bytes: Vec<u8>) -> Error {
    match TraceReader::from_bytes(bytes) {
        Ok(t) => panic!("{what}: opened a hostile file ({} spans)", t.len()),
        Err(e) => e,
    }
}

fn corrupt_in(e: &Error) -> Option<Section> {
    match e {
        Error::Corrupt { section, .. } => Some(*section),
        _ => None,
    }
}

fn truncated_in(e: &Error) -> Option<Section> {
    match e {
        Error::Truncated { section, .. } => Some(*section),
        _ => None,
    }
}

#[test]
fn hostile_lengths_in_an_envelope_are_typed_errors() {
    let dir = TempDir::new("reliability-hostile-envelope");
    let (good, _) = real_files(&dir);
    let pieces = Pieces::parse(&good);
    // The surgery is exact: taken apart and rebuilt, the file is unchanged.
    assert_eq!(pieces.build(), good);
    let spans = u64::from(pieces.header().spans);
    assert_eq!(pieces.header_fields_with_spans(spans), pieces.header_fields);
    TraceReader::from_bytes(good.clone()).unwrap();

    // A header claiming 2^40 spans: more than its u32 can say.
    let mut p = pieces.clone();
    p.header_fields = p.header_fields_with_spans(1 << 40);
    let e = open_err("2^40 spans", p.build());
    assert_eq!(corrupt_in(&e), Some(Section::Header), "{e}");

    // A header claiming 4 billion spans, which the index does not hold.
    let mut p = pieces.clone();
    p.header_fields = p.header_fields_with_spans(u64::from(u32::MAX));
    let e = open_err("u32::MAX spans", p.build());
    assert_eq!(corrupt_in(&e), Some(Section::Header), "{e}");
    assert!(e.to_string().contains("disagrees"), "{e}");

    // An index claiming 2^40 rows (its section running far past the file).
    let e = open_err("2^40 rows", patch_table(&good, INDEX, None, Some(1 << 44)));
    assert_eq!(truncated_in(&e), Some(Section::Index), "{e}");

    // A string of 4 GB: the first string's length, in a table that is
    // otherwise whole.
    let strings = &pieces.sections[STRINGS];
    let mut at = 0;
    let count = read_varint(strings, &mut at);
    let len_at = at;
    read_varint(strings, &mut at);
    let mut s = strings[..len_at].to_vec();
    varint(&mut s, 4 << 30);
    s.extend_from_slice(&strings[at..]);
    let mut p = pieces.clone();
    p.sections[STRINGS] = s;
    let e = open_err("a 4 GB string", p.build());
    assert_eq!(corrupt_in(&e), Some(Section::Strings), "{e}");

    // 2^40 strings, in a table of a few hundred bytes.
    let mut s = Vec::new();
    varint(&mut s, 1 << 40);
    s.extend_from_slice(&strings[len_at..]);
    let mut p = pieces.clone();
    p.sections[STRINGS] = s;
    let e = open_err("2^40 strings", p.build());
    assert_eq!(corrupt_in(&e), Some(Section::Strings), "{e}");
    assert!(count > 0);

    // Offsets past the end: the payload section, and the orphan block.
    let past = good.len() as u64 + 4096;
    let e = open_err(
        "payload past the end",
        patch_table(&good, PAYLOAD, Some(past), None),
    );
    assert_eq!(truncated_in(&e), Some(Section::Payload), "{e}");
    let e = open_err(
        "orphans past the end",
        patch_table(&good, ORPHANS, Some(past), None),
    );
    assert_eq!(corrupt_in(&e), Some(Section::Header), "{e}");

    // A span whose payload block runs past the payload.
    let mut p = pieces.clone();
    // (Its block length column's largest value: every bit of its width set.)
    set_cell(&mut p.sections[INDEX], 0, 8, u64::MAX);
    let e = open_err("a block past the payload", p.build());
    assert_eq!(corrupt_in(&e), Some(Section::Index), "{e}");

    // A root pointing at row 4 billion.
    let mut p = pieces.clone();
    p.sections[4][..4].copy_from_slice(&u32::MAX.to_le_bytes());
    let e = open_err("a root past the index", p.build());
    assert_eq!(corrupt_in(&e), Some(Section::Roots), "{e}");

    // A callsite's field-name block claiming 2^40 bytes, and lengths whose
    // sum wraps a u64 to the section's length: open checks that the
    // blocks fill the fields section exactly.
    let entries = pieces.callsites();
    let fields_len = pieces.sections[FIELDS].len() as u64;
    let mut claims = vec![entries.clone()];
    claims[0][0].1 = 1 << 40;
    let mut wrap = entries.clone();
    wrap[0].1 = u64::MAX;
    wrap[1].1 = fields_len + 1 - entries.iter().skip(2).map(|e| e.1).sum::<u64>();
    claims.push(wrap);
    for entries in claims {
        let mut p = pieces.clone();
        p.set_callsites(&entries);
        let e = open_err("field-name blocks past the section", p.build());
        assert_eq!(corrupt_in(&e), Some(Section::Fields), "{e}");
    }

    // The field names are read by the payload queries, not by open:
    // a block claiming 255 names with nothing after the count, a name
    // of 4 GB, and a name sharing 2^40 bytes with the one before are typed
    // errors of those queries.
    let blocks = pieces.name_blocks();
    let root = 0; // the "request" span's callsite: service, its one field
    assert_eq!(block_names(&blocks[root]), [b"service".to_vec()]);
    let mut hostile = Vec::new();
    hostile.push(vec![255]);
    let mut b = vec![1, 0];
    varint(&mut b, 4 << 30);
    b.extend_from_slice(b"service");
    hostile.push(b);
    let mut b = blocks[root].clone();
    b[0] = 2;
    varint(&mut b, 1 << 40);
    varint(&mut b, 1);
    b.push(b'x');
    hostile.push(b);
    for block in hostile {
        let mut blocks = blocks.clone();
        blocks[root] = block;
        let mut p = pieces.clone();
        p.set_name_blocks(&blocks);
        let trace = TraceReader::from_bytes(p.build()).expect("open reads no field names");
        trace.summary().expect("the summary reads no field names");
        for e in [
            trace.full().unwrap_err(),
            trace.verify().unwrap_err(),
            trace.span(bhtrace::SpanId(0)).unwrap_err(),
        ] {
            assert_eq!(corrupt_in(&e), Some(Section::Fields), "{e}");
        }
    }
}

#[test]
fn hostile_lengths_in_a_journal_are_typed_errors_or_clean_stops() {
    let dir = TempDir::new("reliability-hostile-journal");
    let (_, journal) = real_files(&dir);
    let path = dir.join("hostile.bhtj");
    let head = journal_head(&journal);

    // A process header of 4 GB: not a journal this reader accepts.
    let mut b = journal.clone();
    b[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    std::fs::write(&path, &b).unwrap();
    for e in [
        read_journal(&path).unwrap_err(),
        bhtrace::recover_to_vec(&path).unwrap_err(),
    ] {
        assert_eq!(corrupt_in(&e), Some(Section::JournalHeader), "{e}");
    }

    // Frames claiming 4 GB, and 60 MiB in a file of a few hundred bytes:
    // reading stops cleanly before them, and the rest recovers.
    for (len, bad_length) in [(u32::MAX - 7, true), (60 << 20, false)] {
        let mut b = journal.clone();
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(&[0; 12]);
        std::fs::write(&path, &b).unwrap();
        let (records, stats) = read_journal(&path).unwrap();
        assert!(!records.is_empty());
        assert!(stats.torn_tail);
        assert_eq!(stats.stopped_at, journal.len() as u64);
        match stats.stop_reason {
            Some(StopReason::BadFrameLength(l)) => assert!(bad_length && l == len),
            Some(StopReason::TornFrame { declared, present }) => {
                assert!(!bad_length);
                assert_eq!((declared, present), (8 + u64::from(len), 16));
            }
            ref other => panic!("frame of {len} bytes: {other:?}"),
        }
        let (env, _) = bhtrace::recover_to_vec(&path).unwrap();
        let trace = TraceReader::from_bytes(env).unwrap();
        assert!(trace.header().journal_torn);
    }

    // A THREAD record naming a 4 GB string, in a frame whose checksum is
    // right: the frame's earlier records stay, reading stops at it.
    let mut records = vec![0x0B, 0x05]; // END at t = 5: decodes
    records.extend_from_slice(&[0x02, 0x09]); // THREAD 9, name:
    varint(&mut records, 4 << 30);
    records.extend_from_slice(b"name");
    let mut b = journal.clone();
    b.extend(frame(&records));
    std::fs::write(&path, &b).unwrap();
    let (_, stats) = read_journal(&path).unwrap();
    assert!(
        matches!(stats.stop_reason, Some(StopReason::BadRecord(_))),
        "{stats:?}"
    );
    assert_eq!(stats.stopped_at, journal.len() as u64 + 8 + 2);
    let (env, _) = bhtrace::recover_to_vec(&path).unwrap();
    TraceReader::from_bytes(env).unwrap();

    // Numbers at the edge of their type, each a key the converter might
    // size a table by: callsite u32::MAX, thread u32::MAX, span u64::MAX.
    let mut records = Vec::new();
    records.push(0x01); // CALLSITE
    varint(&mut records, u64::from(u32::MAX));
    records.extend_from_slice(&[0, 2, 1, b'x', 1, b't', 0, 0, 0, 0]);
    records.extend_from_slice(&[0x02]); // THREAD
    varint(&mut records, u64::from(u32::MAX));
    records.push(0);
    records.push(0x03); // NEW_SPAN
    varint(&mut records, u64::MAX);
    records.push(0);
    varint(&mut records, u64::from(u32::MAX));
    varint(&mut records, 1);
    varint(&mut records, u64::from(u32::MAX));
    records.push(0); // no fields
    let mut b = head.to_vec();
    b.extend(frame(&records));
    std::fs::write(&path, &b).unwrap();
    let (env, stats) = bhtrace::recover_to_vec(&path).unwrap();
    assert!(stats.orphan_records >= 1, "{stats:?}");
    reliability_support::answer_every_query_bytes(env);
}
