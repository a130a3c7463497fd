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
pub const ENVELOPE_VERSION: u32 = 5;
pub(crate) const PREAMBLE_LEN: u64 = 16;
pub(crate) const TRAILER_LEN: u64 = 32;
/// Sections in the section table, in file order (the last, the orphan
/// events, is the tail of the payload).
pub(crate) const SECTION_COUNT: usize = 9;
pub(crate) const SECTION_TABLE_LEN: usize = SECTION_COUNT * 16;
/// The largest header a reader accepts: the largest process header a
/// journal may carry (it is copied into this header), plus room for the
/// section table and the counts.
pub(crate) const MAX_HEADER_LEN: u64 = crate::journal::MAX_HEADER_LEN as u64 + 4096;

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
/// The field-name schema, a block of names per callsite: after the
/// structure, not read by `open`.
pub(crate) const S_FIELDS: usize = 6;
pub(crate) const S_PAYLOAD: usize = 7;
pub(crate) const S_ORPHANS: usize = 8;

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
pub(crate) const COLUMNS: usize = 9;
/// Columns that hold a `u32` (ids and flags), ahead of the `u64`s (times
/// and the payload block length).
const SMALL_COLUMNS: usize = 5;
/// The widest a column may be, in bits.
const MAX_BITS: [u8; COLUMNS] = [32, 32, 32, 32, 32, 64, 64, 64, 64];

/// One index row, decoded. Field meanings in `docs/format.md`.
///
/// Two fields are not stored but derived by the reader at open:
/// `subtree_end`, from the parent column (rows are in preorder), and
/// `payload_end`, the prefix sum of the stored block lengths. The
/// converter leaves `subtree_end` at 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Row {
    pub(crate) parent: u32,
    /// One past the last row of this span's subtree (derived).
    pub(crate) subtree_end: u32,
    pub(crate) callsite: u32,
    /// The span's service: an index into the services section.
    pub(crate) service: u32,
    pub(crate) thread: u32,
    pub(crate) flags: u32,
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) busy: u64,
    /// Where this row's block ends in the payload section (derived: the
    /// row stores the block's length).
    pub(crate) payload_end: u64,
}

impl Row {
    /// The values a row stores, its block starting at payload offset
    /// `payload_start`: the parent as row + 1 (0 for a root), the end as
    /// the duration, the block as its length. Each is small when the
    /// trace is, which is what lets columns narrow.
    fn stored(&self, payload_start: u64) -> [u64; COLUMNS] {
        [
            if self.parent == NO_PARENT {
                0
            } else {
                u64::from(self.parent) + 1
            },
            u64::from(self.callsite),
            u64::from(self.service),
            u64::from(self.thread),
            u64::from(self.flags),
            self.start,
            self.end.wrapping_sub(self.start),
            self.busy,
            self.payload_end.wrapping_sub(payload_start),
        ]
    }

    /// Appends the row, its block starting at payload offset
    /// `payload_start`, at full width (`RowLayout::WIDE`, which is
    /// byte-aligned: 4 bytes for each of columns 0–4, 8 for 5–8), the
    /// converter's scratch form, without bit shifts.
    pub(crate) fn put_wide(&self, payload_start: u64, out: &mut Vec<u8>) {
        // Built in a fixed array, appended with one copy.
        let mut wide = [0u8; WIDE_ROW_LEN];
        for (i, v) in self.stored(payload_start).into_iter().enumerate() {
            if i < SMALL_COLUMNS {
                // These columns hold u32s.
                wide[4 * i..4 * i + 4].copy_from_slice(&(v as u32).to_le_bytes());
            } else {
                let at = 4 * SMALL_COLUMNS + 8 * (i - SMALL_COLUMNS);
                wide[at..at + 8].copy_from_slice(&v.to_le_bytes());
            }
        }
        out.extend_from_slice(&wide);
    }

    /// The row whose stored values are `v`, its block starting at payload
    /// offset `payload_start`, or which value does not decode into a row.
    /// Its `subtree_end` is left at 0, for the reader to derive.
    fn from_stored(v: [u64; COLUMNS], payload_start: u64) -> Result<Row, &'static str> {
        // Columns 0–4 are at most 32 bits wide, so they fit a u32.
        let small = |i: usize| v[i] as u32;
        let parent = match v[0] {
            0 => NO_PARENT,
            p => (p - 1) as u32,
        };
        let end = v[5].checked_add(v[6]).ok_or("span end out of range")?;
        let payload_end = payload_start
            .checked_add(v[8])
            .ok_or("payload block out of place")?;
        Ok(Row {
            parent,
            subtree_end: 0,
            callsite: small(1),
            service: small(2),
            thread: small(3),
            flags: small(4),
            start: v[5],
            end,
            busy: v[7],
            payload_end,
        })
    }
}

/// The width in **bits** of each column of the index, chosen per file as
/// the fewest that hold the column's largest value. Rows are packed
/// back to back, least significant bit first: row `r` starts at bit
/// `r × row_bits` of the rows, so a row stays fixed-width and addressable
/// by number, and a small trace pays about 16 bytes per span instead of
/// the 52 the widest layout takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RowLayout {
    widths: [u8; COLUMNS],
    /// Where each column starts within a row, in bits.
    offsets: [u16; COLUMNS],
    /// Each column's width as a mask of its low bits.
    masks: [u64; COLUMNS],
    bits: usize,
}

/// The bytes a row's decoding loads from: its at most 53 bytes (7 bits
/// of lead-in and 416 of row) plus slack for 8-byte loads, so that every
/// load is in bounds without a check per column.
const ROW_WINDOW: usize = 72;

impl RowLayout {
    /// Every column at its widest: holds any row, and happens to be
    /// byte-aligned (52 bytes a row).
    pub(crate) const WIDE: RowLayout = RowLayout::unchecked(MAX_BITS);

    /// The layout of `widths`, each 1 to 64.
    const fn unchecked(widths: [u8; COLUMNS]) -> RowLayout {
        let mut offsets = [0u16; COLUMNS];
        let mut masks = [0u64; COLUMNS];
        let mut at = 0u16;
        let mut i = 0;
        while i < COLUMNS {
            offsets[i] = at;
            masks[i] = u64::MAX >> (64 - widths[i] as u32);
            at += widths[i] as u16;
            i += 1;
        }
        RowLayout {
            widths,
            offsets,
            masks,
            bits: at as usize,
        }
    }

    /// The layout stored in an index's first `COLUMNS` bytes, if every width
    /// is between 1 and the column's maximum (32 bits for columns 0–4, 64
    /// for 5–8).
    pub(crate) fn from_widths(widths: [u8; COLUMNS]) -> Option<RowLayout> {
        let ok = widths
            .iter()
            .zip(MAX_BITS)
            .all(|(&w, max)| (1..=max).contains(&w));
        ok.then(|| RowLayout::unchecked(widths))
    }

    pub(crate) fn widths(&self) -> [u8; COLUMNS] {
        self.widths
    }

    /// Bits per row: the sum of the widths, 9 to 416.
    pub(crate) fn row_bits(&self) -> usize {
        self.bits
    }

    /// Bytes that `rows` rows take: `⌈rows × row_bits / 8⌉`.
    pub(crate) fn rows_len(&self, rows: usize) -> Option<usize> {
        Some(rows.checked_mul(self.bits)?.div_ceil(8))
    }

    /// How many rows `len` bytes of rows hold, if `len` is exactly what
    /// they take. Rows are at least 9 bits, more than the 7 bits of
    /// padding the last byte can carry, so the number is unique.
    pub(crate) fn rows_in(&self, len: usize) -> Option<usize> {
        let n = len.checked_mul(8)? / self.bits;
        (self.rows_len(n)? == len).then_some(n)
    }

    /// The stored values of row `r` of `rows` (the bytes after the
    /// widths). Bits past the end of `rows` read as zeros.
    pub(crate) fn values(&self, r: usize, rows: &[u8]) -> [u64; COLUMNS] {
        let at = r * self.bits;
        let first = at / 8;
        let lead = at % 8;
        match rows
            .get(first..)
            .and_then(|s| s.first_chunk::<ROW_WINDOW>())
        {
            Some(window) => self.values_in(window, lead),
            // The last rows of the index: copied, with zeros after them.
            None => {
                let tail = rows.get(first..).unwrap_or_default();
                let n = tail.len().min(ROW_WINDOW);
                let mut window = [0u8; ROW_WINDOW];
                window[..n].copy_from_slice(&tail[..n]);
                self.values_in(&window, lead)
            }
        }
    }

    /// The values of the row that starts at bit `lead` (0–7) of `window`:
    /// per column, one unaligned 8-byte load and the byte after it (for
    /// a value that straddles the load), shifted and masked.
    #[inline]
    fn values_in(&self, window: &[u8; ROW_WINDOW], lead: usize) -> [u64; COLUMNS] {
        let mut v = [0u64; COLUMNS];
        for ((v, &off), &mask) in v.iter_mut().zip(&self.offsets).zip(&self.masks) {
            let bit = lead + usize::from(off);
            // At most (7 + 415) / 8 = 52; the mask only tells the compiler
            // that both loads are inside the window.
            let byte = (bit / 8) & 63;
            let shift = (bit % 8) as u32;
            let mut word = [0u8; 8];
            word.copy_from_slice(&window[byte..byte + 8]);
            let lo = u64::from_le_bytes(word) >> shift;
            // The next byte's bits from 64 − shift on; none when shift is 0
            // (two shifts, as one by 64 would overflow).
            let hi = (u64::from(window[byte + 8]) << 1) << (63 - shift);
            *v = (lo | hi) & mask;
        }
        v
    }

    /// Decodes row `r` of `rows` (the bytes after the widths), whose block
    /// starts at payload offset `payload_start` (where the previous row's
    /// ends), or says which value does not decode into a row. Its
    /// `subtree_end` is left at 0: it follows from the rows after it.
    pub(crate) fn get(
        &self,
        r: usize,
        rows: &[u8],
        payload_start: u64,
    ) -> Result<Row, &'static str> {
        Row::from_stored(self.values(r, rows), payload_start)
    }

    /// Packs one row of stored values, handing each completed 8-byte word
    /// to `emit`. Every value must fit its column (the converter sizes the
    /// layout from the rows with [`Widths`]); wider values lose their high
    /// bits.
    pub(crate) fn put_values(
        &self,
        values: [u64; COLUMNS],
        packer: &mut BitPacker,
        mut emit: impl FnMut([u8; 8]),
    ) {
        for (v, &w) in values.into_iter().zip(&self.widths) {
            if let Some(word) = packer.push(v, w) {
                emit(word);
            }
        }
    }
}

/// Bytes of a row at full width.
pub(crate) const WIDE_ROW_LEN: usize = 52;

/// The stored values of a full-width row (see [`Row::put_wide`]).
pub(crate) fn wide_values(b: &[u8; WIDE_ROW_LEN]) -> [u64; COLUMNS] {
    let mut v = [0u64; COLUMNS];
    for (i, v) in v.iter_mut().enumerate() {
        *v = if i < SMALL_COLUMNS {
            let mut a = [0u8; 4];
            a.copy_from_slice(&b[4 * i..4 * i + 4]);
            u64::from(u32::from_le_bytes(a))
        } else {
            let at = 4 * SMALL_COLUMNS + 8 * (i - SMALL_COLUMNS);
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[at..at + 8]);
            u64::from_le_bytes(a)
        };
    }
    v
}

/// All ones in the low `w` bits, for `w` in 1..=64.
fn mask(w: u32) -> u64 {
    u64::MAX >> (64 - w)
}

/// The `w`-bit value (1 ≤ `w` ≤ 64) that starts at bit `bit` of `b`,
/// counting bits least significant first in each byte and bytes in order.
/// One unaligned 8-byte load, plus one byte when the value straddles it;
/// bits past the end of `b` read as zeros.
#[inline]
fn read_bits(b: &[u8], bit: usize, w: u8) -> u64 {
    let byte = bit / 8;
    let shift = (bit % 8) as u32;
    let w = u32::from(w);
    let v = match b.get(byte..).and_then(|s| s.first_chunk::<8>()) {
        Some(word) => {
            let lo = u64::from_le_bytes(*word) >> shift;
            if shift + w > 64 {
                // shift ≥ 1 here, so the next byte's bits start at 64 − shift.
                lo | u64::from(b.get(byte + 8).copied().unwrap_or(0)) << (64 - shift)
            } else {
                lo
            }
        }
        None => {
            let tail = b.get(byte..).unwrap_or_default();
            let mut a = [0u8; 16];
            a[..tail.len().min(16)].copy_from_slice(&tail[..tail.len().min(16)]);
            (u128::from_le_bytes(a) >> shift) as u64
        }
    };
    v & mask(w)
}

/// The bits past the last row of an index body of `len` bytes holding
/// `rows` rows of `layout`: zero when the file is well-formed.
pub(crate) fn padding(layout: &RowLayout, rows: usize, body: &[u8]) -> u64 {
    let used = rows * layout.bits;
    let pad = (body.len() * 8).saturating_sub(used);
    if pad == 0 {
        0
    } else {
        read_bits(body, used, pad.min(64) as u8)
    }
}

/// Packs values of any width from 1 to 64 bits into bytes, least
/// significant bit first: `push` hands back each 8-byte word as it fills,
/// `finish` the last bytes, zero-padded to a whole byte.
#[derive(Debug, Default)]
pub(crate) struct BitPacker {
    acc: u64,
    /// Bits held in `acc`, fewer than 64 between pushes.
    n: u32,
}

impl BitPacker {
    /// Adds the low `w` bits of `v` (1 ≤ `w` ≤ 64).
    pub(crate) fn push(&mut self, v: u64, w: u8) -> Option<[u8; 8]> {
        let w = u32::from(w);
        let v = v & mask(w);
        let n = self.n;
        // n < 64: the bits of `v` that fit in this word.
        self.acc |= v << n;
        if n + w < 64 {
            self.n = n + w;
            return None;
        }
        let word = self.acc.to_le_bytes();
        // The rest of `v` (none when n = 0) starts the next word.
        self.acc = if n == 0 { 0 } else { v >> (64 - n) };
        self.n = n + w - 64;
        Some(word)
    }

    /// The bytes still held: the first `len` bytes of the array.
    pub(crate) fn finish(self) -> ([u8; 8], usize) {
        (self.acc.to_le_bytes(), self.n.div_ceil(8) as usize)
    }
}

/// The largest value each column stores, gathered row by row, and the
/// narrowest layout that holds them.
#[derive(Debug, Default)]
pub(crate) struct Widths {
    max: [u64; COLUMNS],
}

impl Widths {
    /// Adds a row whose block starts at payload offset `payload_start`.
    pub(crate) fn add(&mut self, row: &Row, payload_start: u64) {
        for (m, v) in self.max.iter_mut().zip(row.stored(payload_start)) {
            *m = (*m).max(v);
        }
    }

    /// Each column `max(1, bits of its largest value)` wide.
    pub(crate) fn layout(&self) -> RowLayout {
        let mut widths = [1u8; COLUMNS];
        for (w, &m) in widths.iter_mut().zip(&self.max) {
            *w = (64 - m.leading_zeros()).max(1) as u8;
        }
        // A value wider than the column's maximum cannot happen (ids are
        // u32), but the widest layout always decodes.
        RowLayout::from_widths(widths).unwrap_or(RowLayout::WIDE)
    }
}

/// How many times the bytes of its block a callsite's field names may
/// total once decoded (the sum of the names' lengths). Front coding lets a
/// few bytes stand for a long name repeated; the bound keeps what a reader
/// holds a small multiple of what it read. A writer whose shared prefixes
/// would exceed it writes that block with none shared.
pub(crate) const MAX_NAMES_EXPANSION: u64 = 8;

/// Appends the field-name block of a callsite: a count byte, then its
/// names in field-index order, each front-coded against the one before it
/// (shared prefix length uvarint, suffix length uvarint, suffix bytes; the
/// first shares nothing). At most 255 names: a journal callsite holds no
/// more. Returns the block's length.
pub(crate) fn put_field_names<'a>(
    names: impl Iterator<Item = &'a str> + Clone,
    out: &mut Vec<u8>,
) -> usize {
    let from = out.len();
    let decoded: u64 = names.clone().take(255).map(|n| n.len() as u64).sum();
    for share in [true, false] {
        out.truncate(from);
        let names = names.clone().take(255);
        out.push(names.clone().count() as u8);
        let mut prev: &[u8] = &[];
        for name in names {
            let b = name.as_bytes();
            let shared = if share {
                prev.iter().zip(b).take_while(|(x, y)| x == y).count()
            } else {
                0
            };
            crate::codec::put_uvarint(out, shared as u64);
            crate::codec::put_bytes(out, &b[shared..]);
            prev = b;
        }
        let len = (out.len() - from) as u64;
        // Without sharing, the names are never longer than their block.
        if decoded <= MAX_NAMES_EXPANSION * len {
            break;
        }
    }
    out.len() - from
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(parent: u32, start: u64, end: u64, payload_end: u64) -> Row {
        Row {
            parent,
            subtree_end: 0,
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

    /// The rows packed with `layout`, each block starting where the
    /// previous row's ends.
    fn encode(layout: &RowLayout, rows: &[Row]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut packer = BitPacker::default();
        let mut payload_start = 0;
        for row in rows {
            layout.put_values(row.stored(payload_start), &mut packer, |word| {
                out.extend_from_slice(&word)
            });
            payload_start = row.payload_end;
        }
        let (tail, len) = packer.finish();
        out.extend_from_slice(&tail[..len]);
        out
    }

    /// Row `r` of `body`, its block starting at `payload_start`.
    fn decode(l: &RowLayout, body: &[u8], rows: &[Row], r: usize) -> Result<Row, &'static str> {
        let payload_start = r.checked_sub(1).map_or(0, |p| rows[p].payload_end);
        l.get(r, body, payload_start)
    }

    #[test]
    fn columns_narrow_to_the_bits_of_the_largest_value_and_rows_round_trip() {
        let rows = [
            row(NO_PARENT, 1_000, 90_000, 400),
            row(0, 2_000, 40_000, 700),
            row(1, 3_000, 3_000, 70_000),
        ];
        let mut w = Widths::default();
        let mut payload_start = 0;
        for row in &rows {
            w.add(row, payload_start);
            payload_start = row.payload_end;
        }
        let layout = w.layout();
        // parent + 1 ≤ 2, callsite 7, service 300, thread 2, flags 2,
        // start ≤ 3000, duration ≤ 89000, busy ≤ 89000, block length ≤
        // 70000 − 700.
        assert_eq!(layout.widths(), [2, 3, 9, 2, 2, 12, 17, 17, 17]);
        assert_eq!(layout.row_bits(), 81);
        for l in [layout, RowLayout::WIDE] {
            let body = encode(&l, &rows);
            assert_eq!(Some(body.len()), l.rows_len(rows.len()));
            assert_eq!(l.rows_in(body.len()), Some(rows.len()));
            assert_eq!(padding(&l, rows.len(), &body), 0);
            for r in 0..rows.len() {
                assert_eq!(decode(&l, &body, &rows, r), Ok(rows[r]));
            }
        }
        // 3 × 81 = 243 bits: 31 bytes, the last 5 bits padding.
        assert_eq!(encode(&layout, &rows).len(), 31);
        // The block length is what is stored: the same rows with every
        // block 3 bytes long take 2 bits for it, wherever the blocks are.
        let short = [
            row(NO_PARENT, 1_000, 90_000, 1_000_003),
            row(0, 2_000, 40_000, 1_000_006),
        ];
        let mut w = Widths::default();
        w.add(&short[0], 1_000_000);
        w.add(&short[1], 1_000_003);
        assert_eq!(w.layout().widths()[8], 2);
    }

    #[test]
    fn the_largest_values_take_the_widest_columns() {
        let big = Row {
            parent: u32::MAX - 1,
            subtree_end: 0,
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
        w.add(&big, 0);
        // The start takes 63 bits, so that the duration can take 64.
        let layout = w.layout();
        assert_eq!(layout.widths(), [32, 32, 32, 32, 32, 63, 64, 64, 64]);
        assert_eq!(RowLayout::WIDE.row_bits(), 416);
        for (l, len) in [(layout, 52), (RowLayout::WIDE, 52)] {
            let body = encode(&l, &[big]);
            assert_eq!(body.len(), len);
            assert_eq!(l.get(0, &body, 0), Ok(big));
        }
        // The converter's full-width scratch rows are the WIDE layout's.
        for (row, start) in [(big, 0), (row(NO_PARENT, 1_000, 90_000, 400), 100)] {
            let mut wide = Vec::new();
            row.put_wide(start, &mut wide);
            let mut packed = Vec::new();
            let mut p = BitPacker::default();
            RowLayout::WIDE.put_values(row.stored(start), &mut p, |w| packed.extend_from_slice(&w));
            let (tail, n) = p.finish();
            packed.extend_from_slice(&tail[..n]);
            assert_eq!(wide, packed);
            let b: &[u8; WIDE_ROW_LEN] = wide.as_slice().try_into().unwrap();
            assert_eq!(wide_values(b), RowLayout::WIDE.values(0, &wide));
            assert_eq!(RowLayout::WIDE.get(0, &wide, start), Ok(row));
        }
        // An empty trace still has a valid (all-ones) layout.
        assert_eq!(Widths::default().layout().row_bits(), COLUMNS);
        assert!(RowLayout::from_widths([1, 1, 1, 1, 1, 1, 1, 1, 0]).is_none());
        assert!(RowLayout::from_widths([33, 1, 1, 1, 1, 1, 1, 1, 1]).is_none());
        assert!(RowLayout::from_widths([1, 1, 1, 1, 33, 1, 1, 1, 1]).is_none());
        assert!(RowLayout::from_widths([1, 1, 1, 1, 32, 1, 1, 1, 65]).is_none());
        assert!(RowLayout::from_widths([32, 32, 32, 32, 32, 64, 64, 64, 64]).is_some());
    }

    #[test]
    fn values_that_do_not_make_a_row_say_which() {
        let l = RowLayout::WIDE;
        // A start and a duration that overflow together.
        let mut v = [0u64; COLUMNS];
        v[5] = u64::MAX;
        v[6] = 1;
        let mut b = Vec::new();
        let mut p = BitPacker::default();
        l.put_values(v, &mut p, |w| b.extend_from_slice(&w));
        assert_eq!(l.get(0, &b, 0), Err("span end out of range"));
        // A block length that overflows the previous row's end.
        let mut v = [0u64; COLUMNS];
        v[8] = 2;
        let mut b = Vec::new();
        let mut p = BitPacker::default();
        l.put_values(v, &mut p, |w| b.extend_from_slice(&w));
        assert_eq!(
            l.get(0, &b, u64::MAX - 1),
            Err("payload block out of place")
        );
        assert_eq!(
            l.get(0, &b, u64::MAX - 2).map(|r| r.payload_end),
            Ok(u64::MAX)
        );
    }

    /// A xorshift generator: the same values every run.
    /// `rows` packed back to back by `layout`, as the converter packs them.
    fn pack_rows(layout: &RowLayout, rows: &[[u64; COLUMNS]]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut p = BitPacker::default();
        for v in rows {
            layout.put_values(*v, &mut p, |word| out.extend_from_slice(&word));
        }
        let (tail, len) = p.finish();
        out.extend_from_slice(&tail[..len]);
        out
    }

    fn values(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    /// Every width from 1 to 64 bits, at every bit offset within a byte,
    /// with values at the width's extremes and in between: each reads
    /// back exactly, and nothing spills into the neighbouring bits.
    #[test]
    fn values_of_every_width_round_trip_at_every_bit_offset() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for w in 1..=64u8 {
            let max = mask(u32::from(w));
            for lead in 0..8u8 {
                // `lead` bits of ones before, a run of values, ones after.
                let mut vals = vec![0, max, 1, max >> 1, max & 0x5555_5555_5555_5555];
                vals.extend((0..16).map(|_| values(&mut seed) & max));
                let mut out = Vec::new();
                let mut p = BitPacker::default();
                let mut push = |p: &mut BitPacker, v, w| {
                    if let Some(word) = p.push(v, w) {
                        out.extend_from_slice(&word);
                    }
                };
                if lead > 0 {
                    push(&mut p, u64::MAX, lead);
                }
                for &v in &vals {
                    push(&mut p, v, w);
                }
                push(&mut p, u64::MAX, 3);
                let (tail, len) = p.finish();
                out.extend_from_slice(&tail[..len]);
                let total = usize::from(lead) + vals.len() * usize::from(w) + 3;
                assert_eq!(out.len(), total.div_ceil(8), "width {w}, lead {lead}");
                if lead > 0 {
                    assert_eq!(read_bits(&out, 0, lead), mask(u32::from(lead)));
                }
                for (i, &v) in vals.iter().enumerate() {
                    let at = usize::from(lead) + i * usize::from(w);
                    assert_eq!(
                        read_bits(&out, at, w),
                        v,
                        "width {w}, lead {lead}, value {i}"
                    );
                }
                assert_eq!(read_bits(&out, total - 3, 3), 7);
                // The padding of the last byte is zero.
                if total % 8 != 0 {
                    assert_eq!(read_bits(&out, total, (8 - total % 8) as u8), 0);
                }
            }
        }
    }

    /// Every column at every width it may take, in rows that start at
    /// every bit offset within a byte: the column reads back exactly and
    /// its neighbours (all ones) are untouched.
    #[test]
    fn every_column_at_every_width_and_bit_offset_round_trips() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for col in 0..COLUMNS {
            for w in 1..=MAX_BITS[col] {
                let mut widths = [1u8; COLUMNS];
                widths[col] = w;
                // An odd row length: rows 0 to 7 then start at bit offsets
                // r × row_bits mod 8, which are 0 to 7 in some order.
                if (COLUMNS - 1 + usize::from(w)) % 2 == 0 {
                    widths[(col + 1) % COLUMNS] = 2;
                }
                let layout = RowLayout::from_widths(widths).unwrap();
                assert_eq!(layout.row_bits() % 2, 1);
                let max = mask(u32::from(w));
                let rows: Vec<[u64; COLUMNS]> = (0..8)
                    .map(|r| {
                        let mut v: [u64; COLUMNS] =
                            std::array::from_fn(|c| mask(u32::from(widths[c])));
                        v[col] = match r % 4 {
                            0 => max,
                            1 => 0,
                            2 => 1,
                            _ => values(&mut seed) & max,
                        };
                        v
                    })
                    .collect();
                let out = pack_rows(&layout, &rows);
                assert_eq!(padding(&layout, rows.len(), &out), 0);
                let mut offsets: Vec<usize> = (0..8).map(|r| r * layout.row_bits() % 8).collect();
                offsets.sort_unstable();
                assert_eq!(offsets, [0, 1, 2, 3, 4, 5, 6, 7]);
                for (r, want) in rows.iter().enumerate() {
                    assert_eq!(
                        layout.values(r, &out),
                        *want,
                        "column {col}, width {w}, row {r}"
                    );
                }
            }
        }
    }

    /// Rows of odd bit lengths (so rows straddle bytes and start at every
    /// bit offset) and at the widest, every column at its maximum value.
    #[test]
    fn rows_of_any_layout_round_trip() {
        let mut seed = 12_345u64;
        let mut layouts = vec![
            [1; COLUMNS],
            MAX_BITS,
            [32, 1, 32, 1, 32, 64, 1, 64, 1],
            [9, 5, 4, 3, 3, 25, 25, 25, 12],
        ];
        for _ in 0..50 {
            let mut w = [0u8; COLUMNS];
            for (w, max) in w.iter_mut().zip(MAX_BITS) {
                *w = 1 + (values(&mut seed) % u64::from(max)) as u8;
            }
            layouts.push(w);
        }
        for widths in layouts {
            let layout = RowLayout::from_widths(widths).unwrap();
            for n in [1usize, 2, 7, 8, 9, 33] {
                let rows: Vec<[u64; COLUMNS]> = (0..n)
                    .map(|i| {
                        let mut v = [0u64; COLUMNS];
                        for (c, v) in v.iter_mut().enumerate() {
                            let max = mask(u32::from(widths[c]));
                            *v = match i % 3 {
                                0 => max,
                                1 => values(&mut seed) & max,
                                _ => 0,
                            };
                        }
                        v
                    })
                    .collect();
                let out = pack_rows(&layout, &rows);
                assert_eq!(Some(out.len()), layout.rows_len(n), "{widths:?}");
                assert_eq!(layout.rows_in(out.len()), Some(n), "{widths:?}");
                assert_eq!(padding(&layout, n, &out), 0);
                for (r, v) in rows.iter().enumerate() {
                    assert_eq!(layout.values(r, &out), *v, "{widths:?} row {r}");
                }
            }
        }
    }

    #[test]
    fn a_length_holds_one_number_of_rows_or_none() {
        // 9-bit rows: 0, 2, 3, 4, 5, 6, 7, 8, 9, 11 … bytes.
        let l = RowLayout::from_widths([1; COLUMNS]).unwrap();
        let lens: Vec<usize> = (0..10).map(|n| l.rows_len(n).unwrap()).collect();
        assert_eq!(lens, [0, 2, 3, 4, 5, 6, 7, 8, 9, 11]);
        for len in 0..12 {
            let n = l.rows_in(len);
            assert_eq!(n.is_some(), lens.contains(&len), "{len} bytes");
            if let Some(n) = n {
                assert_eq!(lens[n], len);
            }
        }
        // A set padding bit is visible.
        assert_eq!(padding(&l, 1, &[0, 0b0000_0010]), 1);
        assert_eq!(padding(&l, 1, &[0xff, 0b0000_0001]), 0);
    }

    fn names_block(names: &[&str]) -> Vec<u8> {
        let mut out = vec![0xaa];
        let len = put_field_names(names.iter().copied(), &mut out);
        assert_eq!(len, out.len() - 1);
        out.remove(0);
        out
    }

    #[test]
    fn field_names_are_front_coded_against_the_previous_name() {
        assert_eq!(names_block(&[]), [0]);
        assert_eq!(
            names_block(&["http.method", "http.route", "user", "user"]),
            [
                4, //
                0, 11, b'h', b't', b't', b'p', b'.', b'm', b'e', b't', b'h', b'o', b'd', 5, 5,
                b'r', b'o', b'u', b't', b'e', //
                0, 4, b'u', b's', b'e', b'r', //
                4, 0,
            ]
        );
        // Bytes, not characters: "é" is c3 a9 and "è" c3 a8.
        assert_eq!(names_block(&["é", "è"]), [2, 0, 2, 0xc3, 0xa9, 1, 1, 0xa8]);
    }

    #[test]
    fn names_that_would_expand_too_much_share_no_prefix() {
        // 32 names of 60 bytes that differ in their last two: shared, the
        // block is 61 + 31 × 4 bytes for 1 920 bytes of names, over 8×.
        let names: Vec<String> = (0..32)
            .map(|i| format!("{}{i:02}", "x".repeat(58)))
            .collect();
        let block = names_block(&names.iter().map(String::as_str).collect::<Vec<_>>());
        let decoded: usize = names.iter().map(String::len).sum();
        assert_eq!(block.len(), 1 + 32 * (2 + 60));
        assert!(decoded as u64 <= MAX_NAMES_EXPANSION * block.len() as u64);
        // 8 such names are within the bound, and shared: each after the
        // first shares 59 bytes and adds one.
        let block = names_block(&names[..8].iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(block.len(), 1 + 62 + 7 * 3);
        // At most 255 names.
        let many = vec!["a"; 300];
        assert_eq!(names_block(&many).len(), 1 + 3 + 254 * 2);
        assert_eq!(names_block(&many)[0], 255);
    }
}
