//! Opening a damaged envelope gives a typed error that names the section
//! and where, never a panic: a truncated file, a wrong magic, a newer
//! version, a corrupted header, index or services table (with the checksum
//! left as is, and fixed up so that validation reaches the section's own
//! checks), a parent column that is not in preorder, a section offset
//! pointing past the end, a trailer that disagrees with the file.

mod core_support;
mod reliability_support;

use bhtrace::{ENVELOPE_VERSION, Error, Section, TraceReader};
use core_support::TempDir;
use reliability_support::hostile::{Pieces, get_cell, repack_index, set_bits, set_cell};
use tracing_subscriber::prelude::*;

// The documented layout (docs/format.md): a 16-byte preamble (magic,
// version u32, header length u32), the header (a section table of 9 ×
// (offset u64, len u64), then the header fields), the structure, the
// field names, the payload, and a 32-byte trailer (header crc,
// structure crc, payload crc, fields crc, file length u64, end magic).
const PREAMBLE: usize = 16;
const TRAILER: usize = 32;
const INDEX: usize = 3;
const SERVICES: usize = 5;
const FIELDS: usize = 6;
const PAYLOAD: usize = 7;
/// The index starts with one width byte per column, in bits; rows follow,
/// packed least significant bit first.
const COLUMNS: usize = 9;

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(b[i..i + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().unwrap())
}

fn header_len(b: &[u8]) -> usize {
    u32_at(b, 12) as usize
}

/// (offset, len) of section table entry `i`.
fn entry(b: &[u8], i: usize) -> (usize, usize) {
    let at = PREAMBLE + i * 16;
    (u64_at(b, at) as usize, u64_at(b, at + 8) as usize)
}

fn set_entry(b: &mut [u8], i: usize, offset: u64, len: u64) {
    let at = PREAMBLE + i * 16;
    b[at..at + 8].copy_from_slice(&offset.to_le_bytes());
    b[at + 8..at + 16].copy_from_slice(&len.to_le_bytes());
}

fn fix_header_crc(b: &mut [u8]) {
    let crc = crc32fast::hash(&b[PREAMBLE..PREAMBLE + header_len(b)]);
    let t = b.len() - TRAILER;
    b[t..t + 4].copy_from_slice(&crc.to_le_bytes());
}

fn fix_structure_crc(b: &mut [u8]) {
    let start = PREAMBLE + header_len(b);
    let (off, len) = entry(b, SERVICES);
    let crc = crc32fast::hash(&b[start..off + len]);
    let t = b.len() - TRAILER;
    b[t + 4..t + 8].copy_from_slice(&crc.to_le_bytes());
}

fn small_envelope(dir: &TempDir) -> Vec<u8> {
    let path = dir.join("ok.bht");
    let (layer, guard) = bhtrace::layer(&path).unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let root = tracing::info_span!("root", service = "api");
        let _r = root.enter();
        for i in 0..3u64 {
            tracing::info_span!(target: "db::pool", "query", i)
                .in_scope(|| tracing::info!(i, "rows"));
        }
    });
    guard.finish().unwrap();
    std::fs::read(&path).unwrap()
}

fn open(bytes: &[u8]) -> Result<TraceReader, Error> {
    TraceReader::from_bytes(bytes.to_vec())
}

#[test]
fn damaged_envelopes_give_typed_errors_naming_the_section() {
    let dir = TempDir::new("corruption");
    let good = small_envelope(&dir);
    let len = good.len();
    let trace = open(&good).expect("the undamaged file opens");
    assert_eq!(trace.len(), 4);
    let (index_at, index_len) = entry(&good, INDEX);
    let widths = good[index_at..index_at + COLUMNS].to_vec();
    let row_bits: usize = widths.iter().map(|&w| usize::from(w)).sum();
    assert_eq!(index_len, COLUMNS + (4 * row_bits).div_ceil(8));
    let rows_at = index_at + COLUMNS;

    // Truncated: too short for a preamble and trailer, or cut anywhere
    // after (the trailer's end magic is gone).
    for cut in [0, 10, PREAMBLE + TRAILER - 1] {
        match open(&good[..cut]) {
            Err(Error::Truncated {
                section: Section::Preamble,
                file_len,
                ..
            }) => {
                assert_eq!(file_len, cut as u64)
            }
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
    match open(&good[..PREAMBLE + TRAILER]) {
        Err(Error::Truncated {
            section: Section::Header,
            offset,
            end,
            file_len,
        }) => {
            assert_eq!(
                (offset, end),
                (PREAMBLE as u64, (PREAMBLE + header_len(&good)) as u64)
            );
            assert_eq!(file_len, (PREAMBLE + TRAILER) as u64);
        }
        other => panic!("{other:?}"),
    }
    for cut in [index_at + 3, len / 2, len - TRAILER, len - 1] {
        match open(&good[..cut]) {
            Err(Error::Corrupt {
                section: Section::Trailer,
                offset,
                ..
            }) => {
                assert_eq!(
                    offset,
                    (cut - TRAILER + 24) as u64,
                    "cut at {cut}: where the end magic should be"
                )
            }
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
    // The same through the file backend.
    let cut_path = dir.join("cut.bht");
    std::fs::write(&cut_path, &good[..len - 7]).unwrap();
    assert!(matches!(
        TraceReader::open(&cut_path),
        Err(Error::Corrupt {
            section: Section::Trailer,
            ..
        })
    ));

    // Wrong magic, e.g. a journal opened as an envelope.
    let mut bad = good.clone();
    bad[..8].copy_from_slice(&bhtrace::journal::JOURNAL_MAGIC);
    match open(&bad) {
        Err(Error::BadMagic { expected, found }) => {
            assert_eq!(expected, "envelope");
            assert_eq!(found, bhtrace::journal::JOURNAL_MAGIC);
        }
        other => panic!("{other:?}"),
    }

    // A newer version.
    let mut bad = good.clone();
    bad[8..12].copy_from_slice(&(ENVELOPE_VERSION + 1).to_le_bytes());
    match open(&bad) {
        Err(Error::UnsupportedVersion {
            kind,
            found,
            supported,
        }) => {
            assert_eq!(
                (kind, found, supported),
                ("envelope", ENVELOPE_VERSION + 1, ENVELOPE_VERSION)
            );
        }
        other => panic!("{other:?}"),
    }

    // A changed header byte: its checksum fails.
    let mut bad = good.clone();
    bad[PREAMBLE + header_len(&good) - 1] ^= 0x40;
    match open(&bad) {
        Err(Error::Checksum {
            section: Section::Header,
            offset,
            stored,
            computed,
        }) => {
            assert_eq!(offset, PREAMBLE as u64);
            assert_ne!(stored, computed);
        }
        other => panic!("{other:?}"),
    }

    // A corrupted index: the structure checksum fails...
    let mut bad = good.clone();
    // Row 1's parent (its first column, one bit wide: row 0 + 1) made 0,
    // a root.
    let index = |b: &[u8]| b[index_at..index_at + index_len].to_vec();
    let mut ix = index(&bad);
    assert_eq!((widths[0], get_cell(&ix, 1, 0)), (1, 1));
    set_cell(&mut ix, 1, 0, 0);
    bad[index_at..index_at + index_len].copy_from_slice(&ix);
    match open(&bad) {
        Err(Error::Checksum {
            section: Section::Structure,
            offset,
            ..
        }) => {
            assert_eq!(offset, (PREAMBLE + header_len(&good)) as u64)
        }
        other => panic!("{other:?}"),
    }
    // ... and with the checksum fixed up, the index's own check names the
    // row (the byte it starts in). Row 1, a root now, ends row 0's
    // subtree, so row 2's parent (row 0) is no longer a span around it.
    fix_structure_crc(&mut bad);
    match open(&bad) {
        Err(Error::Corrupt {
            section: Section::Index,
            offset,
            what,
        }) => {
            assert_eq!(offset, (rows_at + 2 * row_bits / 8) as u64, "row 2");
            assert!(what.contains("parent"), "{what}");
        }
        other => panic!("{other:?}"),
    }
    // Row 0 its own parent, checksum fixed.
    let mut bad = good.clone();
    let mut ix = index(&bad);
    set_cell(&mut ix, 0, 0, 1);
    bad[index_at..index_at + index_len].copy_from_slice(&ix);
    fix_structure_crc(&mut bad);
    assert!(matches!(
        open(&bad),
        Err(Error::Corrupt { section: Section::Index, offset, .. }) if offset == rows_at as u64
    ));
    // Column widths out of range: none, or wider than the column can be
    // (32 bits for ids and flags, 64 for times and block lengths).
    for (col, width) in [(0, 0), (2, 33), (4, 255), (8, 65)] {
        let mut bad = good.clone();
        bad[index_at + col] = width;
        fix_structure_crc(&mut bad);
        match open(&bad) {
            Err(Error::Corrupt {
                section: Section::Index,
                offset,
                what,
            }) => {
                assert_eq!(offset, index_at as u64);
                assert!(what.contains("width"), "{what}");
            }
            other => panic!("column {col} width {width}: {other:?}"),
        }
    }

    // A section table entry pointing past the end of the file, with the
    // header checksum fixed up: the error names that section.
    for (i, section) in [
        (INDEX, Section::Index),
        (FIELDS, Section::Fields),
        (PAYLOAD, Section::Payload),
        (0, Section::Strings),
    ] {
        let (off, sec_len) = entry(&good, i);
        for (new_off, new_len) in [
            (len as u64 + 4096, sec_len as u64),
            (off as u64, len as u64),
            (u64::MAX - 2, 8),
        ] {
            let mut bad = good.clone();
            set_entry(&mut bad, i, new_off, new_len);
            fix_header_crc(&mut bad);
            match open(&bad) {
                Err(Error::Truncated {
                    section: s,
                    offset,
                    end,
                    file_len,
                }) => {
                    assert_eq!(s, section, "entry {i}");
                    assert_eq!(offset, new_off);
                    assert_eq!(end, new_off.saturating_add(new_len));
                    assert_eq!(file_len, len as u64);
                }
                other => panic!("entry {i} at {new_off}+{new_len}: {other:?}"),
            }
        }
    }
    // Inside the file but out of place: the section table is corrupt.
    let mut bad = good.clone();
    let (off, sec_len) = entry(&good, INDEX);
    set_entry(&mut bad, INDEX, off as u64 + 1, sec_len as u64);
    fix_header_crc(&mut bad);
    assert!(matches!(
        open(&bad),
        Err(Error::Corrupt {
            section: Section::Header,
            ..
        })
    ));

    // A trailer that declares another file length.
    let mut bad = good.clone();
    let t = len - TRAILER;
    bad[t + 16..t + 24].copy_from_slice(&(len as u64 + 1).to_le_bytes());
    match open(&bad) {
        Err(Error::Truncated {
            section: Section::Trailer,
            end,
            file_len,
            ..
        }) => {
            assert_eq!((end, file_len), (len as u64 + 1, len as u64))
        }
        other => panic!("{other:?}"),
    }

    // A payload byte is not checked at open (it costs reading everything),
    // but verify() finds it.
    let mut bad = good.clone();
    bad[entry(&good, PAYLOAD).0] ^= 0x01;
    let trace = open(&bad).expect("open reads no payload");
    assert!(matches!(
        trace.verify(),
        Err(Error::Checksum {
            section: Section::Payload,
            ..
        })
    ));
    open(&good).unwrap().verify().unwrap();
}

/// The index and the services table, damaged through their documented
/// encodings (docs/format.md §3.4.4, §3.4.6) and rebuilt with every
/// checksum right, so that the reader's own checks meet the damage.
#[test]
fn a_damaged_index_or_services_table_is_named_with_the_row() {
    let dir = TempDir::new("corruption_index");
    let good = small_envelope(&dir);
    let pieces = Pieces::parse(&good);
    assert_eq!(pieces.build(), good, "the surgery is exact");
    let index = &pieces.sections[INDEX];
    let index_at = entry(&good, INDEX).0 as u64;
    let widths: [u8; COLUMNS] = index[..COLUMNS].try_into().unwrap();
    let row_bits: usize = widths.iter().map(|&w| usize::from(w)).sum();
    // Two services: "api" (row 0) and "db::pool" (rows 1–3), numbered in
    // the order the rows first name them (column 2).
    assert_eq!(widths[2], 1);
    let services: Vec<u64> = (0..4).map(|r| get_cell(index, r, 2)).collect();
    assert_eq!(services, [0, 1, 1, 1]);
    let with_index = |ix: Vec<u8>| {
        let mut p = pieces.clone();
        p.sections[INDEX] = ix;
        p.build()
    };
    let index_error = |bytes: Vec<u8>| match open(&bytes) {
        Err(Error::Corrupt {
            section: Section::Index,
            offset,
            what,
        }) => (offset - index_at, what),
        other => panic!("{other:?}"),
    };

    // Any widths in range are valid: the same rows, every column 4 bits
    // wider than it needs, read back the same (and rows now end mid-byte).
    let mut wider = widths;
    for w in &mut wider {
        *w += 4;
    }
    let wide_bits: usize = wider.iter().map(|&w| usize::from(w)).sum();
    let same = open(&with_index(repack_index(index, wider, |_, _| {}))).unwrap();
    let before = open(&good).unwrap();
    assert_eq!(same.infos().0, before.infos().0);
    assert_eq!(same.summary().unwrap().0, before.summary().unwrap().0);

    // A service number past the services table: row 2 names service 9.
    let bad = repack_index(index, wider, |r, v| {
        if r == 2 {
            v[2] = 9;
        }
    });
    let (offset, what) = index_error(with_index(bad));
    assert_eq!(offset, (COLUMNS + 2 * wide_bits / 8) as u64, "row 2");
    assert!(what.contains("service"), "{what}");

    // A width byte changed to another valid width: the rows no longer
    // decode as they were written.
    for col in [0, 2, 5, 8] {
        let mut ix = index.clone();
        ix[col] += 1;
        index_error(with_index(ix));
    }

    // Rows that end mid-byte leave padding bits, which must be zero.
    let mut odd = widths;
    odd[8] += 1 - (row_bits % 2) as u8; // an odd row length
    let bad = repack_index(index, odd, |_, _| {});
    open(&with_index(bad.clone())).expect("zero padding");
    let odd_bits: usize = odd.iter().map(|&w| usize::from(w)).sum();
    let pad = (bad.len() - COLUMNS) * 8 - 4 * odd_bits;
    assert!(pad > 0);
    let mut padded = bad.clone();
    set_bits(&mut padded[COLUMNS..], 4 * odd_bits + pad - 1, 1, 1);
    let (offset, what) = index_error(with_index(padded));
    assert_eq!(offset, bad.len() as u64 - 1, "the last byte");
    assert!(what.contains("padding"), "{what}");
    // One byte more or less than the rows take.
    for ix in [
        [bad.as_slice(), &[0]].concat(),
        bad[..bad.len() - 1].to_vec(),
    ] {
        let (offset, what) = index_error(with_index(ix));
        assert_eq!(offset, 0);
        assert!(what.contains("whole number of rows"), "{what}");
    }

    // The services table: one name per service number.
    let svc = &pieces.sections[SERVICES];
    assert_eq!(svc.len(), 3, "count 2, two one-byte string ids");
    let with_services = |table: Vec<u8>| {
        let mut p = pieces.clone();
        p.sections[SERVICES] = table;
        p.build()
    };
    // Only "api": the rows of service 1 name a service that does not exist.
    let (offset, what) = index_error(with_services(vec![1, svc[1]]));
    assert_eq!(offset, (COLUMNS + row_bits / 8) as u64, "row 1");
    assert!(what.contains("service"), "{what}");
    // A service no row names: rejected, as the converter never writes one.
    let mut p = pieces.clone();
    for r in 0..4 {
        set_cell(&mut p.sections[INDEX], r, 2, 0);
    }
    let services_at = entry(&good, SERVICES).0 as u64;
    match open(&p.build()) {
        Err(Error::Corrupt {
            section: Section::Services,
            offset,
            what,
        }) => {
            assert_eq!(offset, services_at);
            assert!(what.contains("no span"), "{what}");
        }
        other => panic!("{other:?}"),
    }
    // Two services of the same name; a name past the string table.
    for (table, want) in [
        (vec![2, svc[1], svc[1]], "same name"),
        (vec![2, svc[1], 0x7f], "out of range"),
    ] {
        match open(&with_services(table)) {
            Err(Error::Corrupt {
                section: Section::Services,
                what,
                ..
            }) => assert!(what.contains(want), "{what}"),
            other => panic!("{want}: {other:?}"),
        }
    }
}

/// Rows store their parent, not their subtree: the reader derives each
/// subtree's end from the parents, which must describe a preorder. A
/// crafted parent column that does not is refused at open, naming the row.
#[test]
fn a_parent_column_not_in_preorder_is_refused_with_the_row() {
    let dir = TempDir::new("corruption_preorder");
    let good = small_envelope(&dir);
    let pieces = Pieces::parse(&good);
    let index = &pieces.sections[INDEX];
    let index_at = entry(&good, INDEX).0 as u64;
    // Wide enough for any parent of these four rows (stored as row + 1).
    let mut widths: [u8; COLUMNS] = index[..COLUMNS].try_into().unwrap();
    widths[0] = 4;
    let row_bits: usize = widths.iter().map(|&w| usize::from(w)).sum();
    // Row 0 "root", rows 1–3 its children "query".
    let parents: Vec<u64> = (0..4).map(|r| get_cell(index, r, 0)).collect();
    assert_eq!(parents, [0, 1, 1, 1]);
    let with_parent = |row: usize, parent: u64| {
        let mut p = pieces.clone();
        p.sections[INDEX] = repack_index(index, widths, |r, v| {
            if r == row {
                v[0] = parent;
            }
        });
        p.build()
    };
    let before = open(&good).unwrap();
    let ends: Vec<u32> = before.infos().0.iter().map(|i| i.subtree_end.0).collect();
    assert_eq!(ends, [4, 2, 3, 4], "subtree ends derived from the parents");

    // Any parent on the path of open ancestors is preorder: row 3 under
    // row 2 (stored 3) makes row 2's subtree [2, 4).
    let moved = open(&with_parent(3, 3)).unwrap();
    let ends: Vec<u32> = moved.infos().0.iter().map(|i| i.subtree_end.0).collect();
    assert_eq!(ends, [4, 2, 4, 4]);
    assert_eq!(moved.children(bhtrace::SpanId(0)).unwrap().len(), 2);
    moved.verify().unwrap();

    for (row, parent, why) in [
        (3, 2, "row 1, a sibling whose subtree ended at row 2"),
        (1, 3, "row 2, which comes after it"),
        (2, 3, "itself"),
        (1, 10, "row 9, past the last row"),
        (0, 1, "row 0 itself, the first row"),
    ] {
        match open(&with_parent(row, parent)) {
            Err(Error::Corrupt {
                section: Section::Index,
                offset,
                what,
            }) => {
                assert_eq!(
                    offset - index_at,
                    (COLUMNS + row * row_bits / 8) as u64,
                    "row {row} under {why}"
                );
                assert!(what.contains("parent"), "{what}");
            }
            other => panic!("row {row} under {why}: {other:?}"),
        }
    }
}
