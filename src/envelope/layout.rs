//! The envelope's fixed layout: magic, version, section table, index rows,
//! payload item tags, and the header. The converter writes these and the
//! reader validates them; both use only what is defined here.

use serde::{Deserialize, Serialize};

use crate::journal::ProcessInfo;

/// The first eight bytes of every envelope.
pub(crate) const MAGIC: [u8; 8] = *b"\x89BHT\r\n\x1a\n";
/// The last eight bytes of every envelope.
pub(crate) const END_MAGIC: [u8; 8] = *b"BHTEND\x1a\n";
/// The envelope format version this build writes and reads.
pub const ENVELOPE_VERSION: u32 = 3;
pub(crate) const PREAMBLE_LEN: u64 = 16;
pub(crate) const TRAILER_LEN: u64 = 32;
/// Sections in the section table, in file order.
pub(crate) const SECTION_COUNT: usize = 8;
pub(crate) const SECTION_TABLE_LEN: usize = SECTION_COUNT * 16;
/// The largest header a reader accepts.
pub(crate) const MAX_HEADER_LEN: u64 = 1 << 20;

/// `parent` of a root row.
pub(crate) const NO_PARENT: u32 = u32::MAX;
/// A follows-from link to a span that is not in the trace.
pub(crate) const NO_SPAN: u32 = u32::MAX;

/// Row flag: the span was never closed; its end is the last time seen.
pub(crate) const FLAG_INCOMPLETE: u32 = 1;
/// Row flag: an ERROR event, an `error` field whose value is not `false`,
/// or `otel.status_code` equal to "ERROR" in any case.
pub(crate) const FLAG_ERROR: u32 = 2;
/// Row flag: the span has follows-from links (it does not block its parent).
pub(crate) const FLAG_FOLLOWS: u32 = 4;
/// Row flag: the span's parent was lost (dropped records); it is a root here.
pub(crate) const FLAG_PARENT_LOST: u32 = 8;

/// Payload item tags.
pub(crate) const P_FIELDS: u8 = 0x10;
pub(crate) const P_RECORD: u8 = 0x11;
pub(crate) const P_EVENT: u8 = 0x12;
pub(crate) const P_ENTER: u8 = 0x13;
pub(crate) const P_EXIT: u8 = 0x14;
pub(crate) const P_FOLLOWS: u8 = 0x15;
/// EVENT, ENTER and EXIT with the time stored as `t − start`, the span's
/// start being its index row's: a few bytes instead of an absolute time's
/// four or five.
pub(crate) const P_EVENT_REL: u8 = 0x16;
pub(crate) const P_ENTER_REL: u8 = 0x17;
pub(crate) const P_EXIT_REL: u8 = 0x18;

/// Section numbers in the section table.
pub(crate) const S_STRINGS: usize = 0;
pub(crate) const S_CALLSITES: usize = 1;
pub(crate) const S_THREADS: usize = 2;
pub(crate) const S_INDEX: usize = 3;
pub(crate) const S_ROOTS: usize = 4;
pub(crate) const S_SERVICES: usize = 5;
pub(crate) const S_PAYLOAD: usize = 6;
pub(crate) const S_ORPHANS: usize = 7;

/// Where a section is: absolute file offset and length in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Extent {
    pub(crate) offset: u64,
    pub(crate) len: u64,
}

impl Extent {
    pub(crate) fn end(&self) -> u64 {
        self.offset.saturating_add(self.len)
    }
}

/// What the envelope's header says about the trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TraceHeader {
    /// The traced process.
    pub process: ProcessInfo,
    /// Spans in the index.
    pub spans: u32,
    /// Top-level spans (traces).
    pub roots: u32,
    /// Events, inside spans or not.
    pub events: u64,
    /// Threads that recorded.
    pub threads: u32,
    /// Callsites.
    pub callsites: u32,
    /// Strings in the string table.
    pub strings: u32,
    /// Distinct services.
    pub services: u32,
    /// Records the capture dropped (lossy mode, write errors): when non-zero
    /// the trace is incomplete.
    pub records_dropped: u64,
    /// Spans that were never closed (the process stopped first).
    pub incomplete_spans: u32,
    /// Records that referred to a span whose creation was lost.
    pub orphan_records: u64,
    /// The writer shut down cleanly (false for a recovered crash journal).
    pub clean_shutdown: bool,
    /// The journal ended in a torn or corrupt frame.
    pub journal_torn: bool,
    /// The last time seen in the trace, ns since the origin.
    pub end_ns: u64,
}

/// Index columns, in the order they appear in a row.
pub(crate) const COLUMNS: usize = 10;
/// The widest a column may be: ids and flags are at most 4 bytes, times and
/// payload offsets at most 8.
const MAX_WIDTHS: [u8; COLUMNS] = [4, 4, 4, 4, 4, 4, 8, 8, 8, 8];

/// One index row, decoded. Field meanings in `docs/format.md`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Row {
    pub(crate) parent: u32,
    pub(crate) subtree_end: u32,
    pub(crate) callsite: u32,
    pub(crate) service: u32,
    pub(crate) thread: u32,
    pub(crate) flags: u32,
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) busy: u64,
    pub(crate) payload_end: u64,
}

impl Row {
    /// The values a row stores for row number `r`: the parent as row + 1
    /// (0 for a root), the subtree as its size, the end as the duration.
    /// Each is small when the trace is, which is what lets columns narrow.
    fn stored(&self, r: u32) -> [u64; COLUMNS] {
        [
            if self.parent == NO_PARENT {
                0
            } else {
                u64::from(self.parent) + 1
            },
            u64::from(self.subtree_end.wrapping_sub(r)),
            u64::from(self.callsite),
            u64::from(self.service),
            u64::from(self.thread),
            u64::from(self.flags),
            self.start,
            self.end.wrapping_sub(self.start),
            self.busy,
            self.payload_end,
        ]
    }
}

/// The width in bytes of each column of the index, chosen per file as the
/// narrowest that holds the column's largest value: a row stays fixed-width
/// and addressable by number, and a small trace pays 20-odd bytes per span
/// instead of the 56 the widest layout takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RowLayout {
    widths: [u8; COLUMNS],
    len: usize,
}

impl RowLayout {
    /// Every column at its widest: holds any row.
    pub(crate) const WIDE: RowLayout = RowLayout {
        widths: MAX_WIDTHS,
        len: 56,
    };

    /// The layout stored in an index's first `COLUMNS` bytes, if every width
    /// is between 1 and the column's maximum.
    pub(crate) fn from_widths(widths: [u8; COLUMNS]) -> Option<RowLayout> {
        let ok = widths
            .iter()
            .zip(MAX_WIDTHS)
            .all(|(&w, max)| (1..=max).contains(&w));
        ok.then(|| RowLayout {
            widths,
            len: widths.iter().map(|&w| usize::from(w)).sum(),
        })
    }

    pub(crate) fn widths(&self) -> [u8; COLUMNS] {
        self.widths
    }

    /// Bytes per row.
    pub(crate) fn row_len(&self) -> usize {
        self.len
    }

    /// Appends row number `r`. Every stored value must fit its column (the
    /// converter sizes the layout from the rows with [`Widths`]).
    pub(crate) fn put(&self, r: u32, row: &Row, out: &mut Vec<u8>) {
        for (v, &w) in row.stored(r).iter().zip(&self.widths) {
            out.extend_from_slice(&v.to_le_bytes()[..usize::from(w)]);
        }
    }

    /// Decodes row number `r` from the start of `b`, which holds at least
    /// `row_len()` bytes (more is faster: whole 8-byte loads then serve
    /// every column but the last few of the index), or says which value
    /// does not decode into a row.
    pub(crate) fn get(&self, r: u32, b: &[u8]) -> Result<Row, &'static str> {
        let mut v = [0u64; COLUMNS];
        let mut at = 0;
        for (v, &w) in v.iter_mut().zip(&self.widths) {
            let w = usize::from(w);
            *v = match b.get(at..at + 8) {
                Some(word) => {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(word);
                    u64::from_le_bytes(a) & (u64::MAX >> (64 - 8 * w))
                }
                None => {
                    let mut a = [0u8; 8];
                    a[..w].copy_from_slice(&b[at..at + w]);
                    u64::from_le_bytes(a)
                }
            };
            at += w;
        }
        // Ids and flags are at most 4 bytes wide, so they fit a u32.
        let small = |i: usize| v[i] as u32;
        let parent = match v[0] {
            0 => NO_PARENT,
            p => (p - 1) as u32,
        };
        let subtree_end = r.checked_add(small(1)).ok_or("subtree end out of range")?;
        let end = v[6].checked_add(v[7]).ok_or("span end out of range")?;
        Ok(Row {
            parent,
            subtree_end,
            callsite: small(2),
            service: small(3),
            thread: small(4),
            flags: small(5),
            start: v[6],
            end,
            busy: v[8],
            payload_end: v[9],
        })
    }
}

/// The largest value each column stores, gathered row by row, and the
/// narrowest layout that holds them.
#[derive(Debug, Default)]
pub(crate) struct Widths {
    max: [u64; COLUMNS],
}

impl Widths {
    pub(crate) fn add(&mut self, r: u32, row: &Row) {
        for (m, v) in self.max.iter_mut().zip(row.stored(r)) {
            *m = (*m).max(v);
        }
    }

    pub(crate) fn layout(&self) -> RowLayout {
        let mut widths = [1u8; COLUMNS];
        for (w, &m) in widths.iter_mut().zip(&self.max) {
            *w = (8 - m.leading_zeros() / 8).max(1) as u8;
        }
        // A value wider than the column's maximum cannot happen (ids are
        // u32), but the widest layout always decodes.
        RowLayout::from_widths(widths).unwrap_or(RowLayout::WIDE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(parent: u32, subtree_end: u32, start: u64, end: u64, payload_end: u64) -> Row {
        Row {
            parent,
            subtree_end,
            callsite: 7,
            service: 300,
            thread: 2,
            flags: FLAG_ERROR,
            start,
            end,
            busy: end - start,
            payload_end,
        }
    }

    #[test]
    fn columns_narrow_to_the_largest_value_and_rows_round_trip() {
        let rows = [
            row(NO_PARENT, 3, 1_000, 90_000, 400),
            row(0, 2, 2_000, 40_000, 700),
            row(1, 3, 3_000, 3_000, 70_000),
        ];
        let mut w = Widths::default();
        for (r, row) in rows.iter().enumerate() {
            w.add(r as u32, row);
        }
        let layout = w.layout();
        // parent + 1 ≤ 2, size ≤ 3, callsite 7, service 300, thread, flags,
        // start ≤ 3000, duration ≤ 89000, busy ≤ 89000, payload ≤ 70000.
        assert_eq!(layout.widths(), [1, 1, 1, 2, 1, 1, 2, 3, 3, 3]);
        assert_eq!(layout.row_len(), 18);
        for l in [layout, RowLayout::WIDE] {
            let mut out = Vec::new();
            for (r, row) in rows.iter().enumerate() {
                l.put(r as u32, row, &mut out);
            }
            assert_eq!(out.len(), rows.len() * l.row_len());
            for (r, (row, b)) in rows.iter().zip(out.chunks(l.row_len())).enumerate() {
                assert_eq!(l.get(r as u32, b), Ok(*row));
            }
        }
    }

    #[test]
    fn the_largest_values_take_the_widest_columns() {
        let big = Row {
            parent: u32::MAX - 1,
            subtree_end: u32::MAX,
            callsite: u32::MAX,
            service: u32::MAX,
            thread: u32::MAX,
            flags: u32::MAX,
            start: u64::MAX / 2,
            end: u64::MAX,
            busy: u64::MAX,
            payload_end: u64::MAX,
        };
        let mut w = Widths::default();
        w.add(0, &big);
        assert_eq!(w.layout(), RowLayout::WIDE);
        let mut out = Vec::new();
        RowLayout::WIDE.put(0, &big, &mut out);
        assert_eq!(RowLayout::WIDE.get(0, &out), Ok(big));
        // An empty trace still has a valid (all-ones) layout.
        assert_eq!(Widths::default().layout().row_len(), COLUMNS);
        assert!(RowLayout::from_widths([1, 1, 1, 1, 1, 1, 1, 1, 1, 0]).is_none());
        assert!(RowLayout::from_widths([5, 1, 1, 1, 1, 1, 1, 1, 1, 1]).is_none());
    }
}
