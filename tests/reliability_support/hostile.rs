//! Surgery on real files: an envelope taken apart into its documented
//! pieces (docs/format.md §3) and put back together with checksums, offsets
//! and lengths recomputed, so that one hostile value at a time reaches the
//! reader's own checks; and journal frames around chosen records.

use bhtrace::TraceHeader;

pub const PREAMBLE: usize = 16;
pub const TRAILER: usize = 32;
pub const TABLE: usize = 9 * 16;
/// The index begins with one width byte per column (docs/format.md §3.4),
/// each a width in bits.
pub const COLUMNS: usize = 9;
pub const END_MAGIC: &[u8; 8] = b"BHTEND\x1a\n";

/// Section numbers in the section table.
pub const STRINGS: usize = 0;
pub const CALLSITES: usize = 1;
pub const INDEX: usize = 3;
pub const SERVICES: usize = 5;
pub const FIELDS: usize = 6;
pub const PAYLOAD: usize = 7;
pub const ORPHANS: usize = 8;

pub fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"))
}

pub fn u64_at(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"))
}

/// Where column `col` of row `r` is in an index section, as (first bit,
/// width in bits) counted from the start of the rows: rows follow the
/// column widths, packed least significant bit first, each row the sum of
/// the widths long.
pub fn cell(index: &[u8], r: usize, col: usize) -> (usize, usize) {
    let widths: Vec<usize> = index[..COLUMNS].iter().map(|&w| usize::from(w)).collect();
    let row_bits: usize = widths.iter().sum();
    (
        r * row_bits + widths[..col].iter().sum::<usize>(),
        widths[col],
    )
}

/// The `w`-bit value at bit `at` of `b`, least significant bit first.
pub fn get_bits(b: &[u8], at: usize, w: usize) -> u64 {
    (0..w).fold(0, |v, i| {
        let bit = at + i;
        v | (u64::from((b[bit / 8] >> (bit % 8)) & 1) << i)
    })
}

/// Writes the low `w` bits of `value` at bit `at` of `b`.
pub fn set_bits(b: &mut [u8], at: usize, w: usize, value: u64) {
    for i in 0..w {
        let bit = at + i;
        let mask = 1u8 << (bit % 8);
        if (value >> i) & 1 == 1 {
            b[bit / 8] |= mask;
        } else {
            b[bit / 8] &= !mask;
        }
    }
}

/// The value of column `col` of row `r` of an index section.
pub fn get_cell(index: &[u8], r: usize, col: usize) -> u64 {
    let (at, w) = cell(index, r, col);
    get_bits(&index[COLUMNS..], at, w)
}

/// Sets column `col` of row `r` of an index section to the low bits of
/// `value` (as many as the column is wide).
pub fn set_cell(index: &mut [u8], r: usize, col: usize, value: u64) {
    let (at, w) = cell(index, r, col);
    set_bits(&mut index[COLUMNS..], at, w, value);
}

/// An index section re-encoded with the column widths `widths` (in bits):
/// every row's values as `index` holds them, passed through `f` (row
/// number, values).
pub fn repack_index(
    index: &[u8],
    widths: [u8; COLUMNS],
    mut f: impl FnMut(usize, &mut [u64; COLUMNS]),
) -> Vec<u8> {
    let old: Vec<usize> = index[..COLUMNS].iter().map(|&w| usize::from(w)).collect();
    let old_bits: usize = old.iter().sum();
    let rows = (index.len() - COLUMNS) * 8 / old_bits;
    let new_bits: usize = widths.iter().map(|&w| usize::from(w)).sum();
    let mut out = widths.to_vec();
    out.resize(COLUMNS + (rows * new_bits).div_ceil(8), 0);
    for r in 0..rows {
        let mut v = [0u64; COLUMNS];
        for (c, v) in v.iter_mut().enumerate() {
            *v = get_cell(index, r, c);
        }
        f(r, &mut v);
        let mut at = r * new_bits;
        for (c, &v) in v.iter().enumerate() {
            set_bits(&mut out[COLUMNS..], at, usize::from(widths[c]), v);
            at += usize::from(widths[c]);
        }
    }
    out
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

/// An envelope in pieces: the postcard header fields, sections 0–7
/// (strings … services, fields, payload), and where the orphan block starts
/// inside the payload.
#[derive(Debug, Clone)]
pub struct Pieces {
    pub header_fields: Vec<u8>,
    pub sections: [Vec<u8>; 8],
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
        let mut starts = [0u64; 8];
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
        for s in &self.sections[..FIELDS] {
            out.extend_from_slice(s);
        }
        let header_crc = crc32fast::hash(&out[PREAMBLE..structure_at]);
        let structure_crc = crc32fast::hash(&out[structure_at..]);
        let fields = &self.sections[FIELDS];
        let fields_crc = crc32fast::hash(fields);
        out.extend_from_slice(fields);
        let payload_crc = crc32fast::hash(payload);
        out.extend_from_slice(payload);
        let len = (out.len() + TRAILER) as u64;
        for v in [header_crc, structure_crc, payload_crc, fields_crc] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(END_MAGIC);
        out
    }

    /// Replaces the strings of the string list that opens section
    /// `section` (the string table) with `f` of each; the rest of the
    /// section is kept. Returns how many `f` changed.
    pub fn map_strings(&mut self, section: usize, mut f: impl FnMut(&[u8]) -> Vec<u8>) -> usize {
        let old = &self.sections[section];
        let mut at = 0;
        let n = read_varint(old, &mut at);
        let mut s = Vec::new();
        varint(&mut s, n);
        let mut changed = 0;
        for _ in 0..n {
            let len = read_varint(old, &mut at) as usize;
            let text = &old[at..at + len];
            at += len;
            let new = f(text);
            changed += usize::from(new != text);
            varint(&mut s, new.len() as u64);
            s.extend_from_slice(&new);
        }
        s.extend_from_slice(&old[at..]);
        self.sections[section] = s;
        changed
    }

    /// The callsite table's entries, each as its bytes up to its last
    /// field (docs/format.md §3.4.2: kind, level, name, target, module,
    /// file, line) and that field, the length of its field-name block.
    pub fn callsites(&self) -> Vec<(Vec<u8>, u64)> {
        let b = &self.sections[CALLSITES];
        let mut at = 0;
        let n = read_varint(b, &mut at);
        (0..n)
            .map(|_| {
                let from = at;
                at += 2; // kind, level
                for _ in 0..5 {
                    read_varint(b, &mut at); // name, target, module, file, line
                }
                let entry = b[from..at].to_vec();
                (entry, read_varint(b, &mut at))
            })
            .collect()
    }

    /// The callsite table rebuilt from `entries` (as [`Pieces::callsites`]
    /// gives them), each ending with the block length given with it.
    pub fn set_callsites(&mut self, entries: &[(Vec<u8>, u64)]) {
        let mut b = Vec::new();
        varint(&mut b, entries.len() as u64);
        for (entry, names_len) in entries {
            b.extend_from_slice(entry);
            varint(&mut b, *names_len);
        }
        self.sections[CALLSITES] = b;
    }

    /// The fields section cut into its per-callsite blocks of field names,
    /// as the callsite table's lengths say.
    pub fn name_blocks(&self) -> Vec<Vec<u8>> {
        let f = &self.sections[FIELDS];
        let mut at = 0;
        self.callsites()
            .into_iter()
            .map(|(_, len)| {
                let block = f[at..at + len as usize].to_vec();
                at += len as usize;
                block
            })
            .collect()
    }

    /// The fields section made of `blocks`, one per callsite, with the
    /// callsite table's lengths to match.
    pub fn set_name_blocks(&mut self, blocks: &[Vec<u8>]) {
        let entries: Vec<(Vec<u8>, u64)> = self
            .callsites()
            .into_iter()
            .zip(blocks)
            .map(|((entry, _), block)| (entry, block.len() as u64))
            .collect();
        self.set_callsites(&entries);
        self.sections[FIELDS] = blocks.concat();
    }

    /// Replaces every field name of every callsite's block with `f` of
    /// it, the blocks written again (front-coded as [`name_block`] does)
    /// and the callsite table's lengths to match.
    pub fn map_field_names(&mut self, mut f: impl FnMut(&[u8]) -> Vec<u8>) {
        let blocks: Vec<Vec<u8>> = self
            .name_blocks()
            .iter()
            .map(|b| {
                let names: Vec<Vec<u8>> = block_names(b).iter().map(|n| f(n)).collect();
                name_block(&names.iter().map(Vec::as_slice).collect::<Vec<_>>())
            })
            .collect();
        self.set_name_blocks(&blocks);
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

/// A callsite's block of field names (docs/format.md §3.4.7): a count
/// byte, then per name the length of the prefix it shares with the
/// previous name, and its suffix as a length and bytes. Shares as much as
/// the names have in common.
pub fn name_block(names: &[&[u8]]) -> Vec<u8> {
    let mut b = vec![names.len() as u8];
    let mut prev: &[u8] = &[];
    for name in names {
        let shared = prev.iter().zip(*name).take_while(|(a, b)| a == b).count();
        varint(&mut b, shared as u64);
        varint(&mut b, (name.len() - shared) as u64);
        b.extend_from_slice(&name[shared..]);
        prev = name;
    }
    b
}

/// The names of a block written as [`name_block`] writes them.
pub fn block_names(b: &[u8]) -> Vec<Vec<u8>> {
    let mut at = 1;
    let mut names: Vec<Vec<u8>> = Vec::new();
    for _ in 0..b[0] {
        let shared = read_varint(b, &mut at) as usize;
        let len = read_varint(b, &mut at) as usize;
        let mut name = names.last().map_or_else(Vec::new, |p| p[..shared].to_vec());
        name.extend_from_slice(&b[at..at + len]);
        at += len;
        names.push(name);
    }
    assert_eq!(at, b.len(), "a whole block");
    names
}
