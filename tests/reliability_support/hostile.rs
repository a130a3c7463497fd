//! Surgery on real files: an envelope taken apart into its documented
//! pieces (docs/format.md §3) and put back together with checksums, offsets
//! and lengths recomputed, so that one hostile value at a time reaches the
//! reader's own checks; and journal frames around chosen records.

use bhtrace::TraceHeader;

pub const PREAMBLE: usize = 16;
pub const TRAILER: usize = 32;
pub const TABLE: usize = 8 * 16;
/// The index begins with one width byte per column (docs/format.md §3.4).
pub const COLUMNS: usize = 10;
pub const END_MAGIC: &[u8; 8] = b"BHTEND\x1a\n";

/// Section numbers in the section table.
pub const STRINGS: usize = 0;
pub const INDEX: usize = 3;
pub const PAYLOAD: usize = 6;
pub const ORPHANS: usize = 7;

pub fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"))
}

pub fn u64_at(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"))
}

/// Where column `col` of row `r` is in an index section: rows follow the
/// column widths, each row the sum of the widths long.
pub fn cell(index: &[u8], r: usize, col: usize) -> std::ops::Range<usize> {
    let widths: Vec<usize> = index[..COLUMNS].iter().map(|&w| usize::from(w)).collect();
    let row_len: usize = widths.iter().sum();
    let at = COLUMNS + r * row_len + widths[..col].iter().sum::<usize>();
    at..at + widths[col]
}

/// Sets entry `entry` of the header's section table (offset, length, or
/// both) and recomputes the header checksum, so the reader's own bounds
/// checks are what meet the change.
pub fn patch_table(good: &[u8], entry: usize, offset: Option<u64>, len: Option<u64>) -> Vec<u8> {
    let mut b = good.to_vec();
    let at = PREAMBLE + entry * 16;
    if let Some(o) = offset {
        b[at..at + 8].copy_from_slice(&o.to_le_bytes());
    }
    if let Some(l) = len {
        b[at + 8..at + 16].copy_from_slice(&l.to_le_bytes());
    }
    let header_len = u32_at(&b, 12) as usize;
    let crc = crc32fast::hash(&b[PREAMBLE..PREAMBLE + header_len]);
    let t = b.len() - TRAILER;
    b[t..t + 4].copy_from_slice(&crc.to_le_bytes());
    b
}

pub fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Decodes a varint at `b[*at..]`, moving `at` past it.
pub fn read_varint(b: &[u8], at: &mut usize) -> u64 {
    let (mut v, mut shift) = (0u64, 0);
    loop {
        let byte = b[*at];
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return v;
        }
        shift += 7;
    }
}

/// An envelope in pieces: the postcard header fields, sections 0–6, and
/// where the orphan block starts inside the payload.
#[derive(Debug, Clone)]
pub struct Pieces {
    pub header_fields: Vec<u8>,
    pub sections: [Vec<u8>; 7],
    pub orphans_in_payload: usize,
}

impl Pieces {
    pub fn parse(b: &[u8]) -> Pieces {
        let header_len = u32_at(b, 12) as usize;
        let header = &b[PREAMBLE..PREAMBLE + header_len];
        let section = |i: usize| {
            let (off, len) = (u64_at(header, i * 16) as usize, u64_at(header, i * 16 + 8));
            b[off..off + len as usize].to_vec()
        };
        let payload_at = u64_at(header, PAYLOAD * 16) as usize;
        Pieces {
            header_fields: header[TABLE..].to_vec(),
            sections: std::array::from_fn(section),
            orphans_in_payload: u64_at(header, ORPHANS * 16) as usize - payload_at,
        }
    }

    /// The file, with the section table, checksums and length recomputed.
    pub fn build(&self) -> Vec<u8> {
        let header_len = TABLE + self.header_fields.len();
        let mut table = Vec::with_capacity(TABLE);
        let mut at = (PREAMBLE + header_len) as u64;
        let mut starts = [0u64; 7];
        for (i, s) in self.sections.iter().enumerate() {
            starts[i] = at;
            table.extend_from_slice(&at.to_le_bytes());
            table.extend_from_slice(&(s.len() as u64).to_le_bytes());
            at += s.len() as u64;
        }
        let payload = &self.sections[PAYLOAD];
        let orphans = (
            starts[PAYLOAD] + self.orphans_in_payload as u64,
            (payload.len() - self.orphans_in_payload) as u64,
        );
        table.extend_from_slice(&orphans.0.to_le_bytes());
        table.extend_from_slice(&orphans.1.to_le_bytes());

        let mut out = Vec::new();
        out.extend_from_slice(b"\x89BHT\r\n\x1a\n");
        out.extend_from_slice(&bhtrace::ENVELOPE_VERSION.to_le_bytes());
        out.extend_from_slice(&(header_len as u32).to_le_bytes());
        out.extend_from_slice(&table);
        out.extend_from_slice(&self.header_fields);
        let structure_at = out.len();
        for s in &self.sections[..PAYLOAD] {
            out.extend_from_slice(s);
        }
        let header_crc = crc32fast::hash(&out[PREAMBLE..structure_at]);
        let structure_crc = crc32fast::hash(&out[structure_at..]);
        let payload_crc = crc32fast::hash(payload);
        out.extend_from_slice(payload);
        let len = (out.len() + TRAILER) as u64;
        for v in [header_crc, structure_crc, payload_crc, 0] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(END_MAGIC);
        out
    }

    pub fn header(&self) -> TraceHeader {
        postcard::from_bytes(&self.header_fields).expect("the header decodes")
    }

    /// Header fields with `spans` replaced by any u64, as postcard writes
    /// it (a varint), whether or not a reader's `u32` can hold it.
    pub fn header_fields_with_spans(&self, spans: u64) -> Vec<u8> {
        let h = self.header();
        let mut out = postcard::to_stdvec(&h.process).expect("encode the process");
        varint(&mut out, spans);
        let rest = (
            h.roots,
            h.events,
            h.threads,
            h.callsites,
            h.strings,
            h.services,
            h.records_dropped,
            h.incomplete_spans,
            h.orphan_records,
            h.clean_shutdown,
            h.journal_torn,
            h.end_ns,
        );
        out.extend(postcard::to_stdvec(&rest).expect("encode the rest"));
        out
    }
}

/// A journal frame around `records`.
pub fn frame(records: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + records.len());
    f.extend_from_slice(&(records.len() as u32).to_le_bytes());
    f.extend_from_slice(&crc32fast::hash(records).to_le_bytes());
    f.extend_from_slice(records);
    f
}

/// The preamble and process header of a journal (up to its first frame).
pub fn journal_head(journal: &[u8]) -> &[u8] {
    &journal[..20 + u32_at(journal, 12) as usize]
}
