//! Opening an envelope: the preamble, header, trailer and structure
//! sections are read and every field is validated before anything uses it.
//! After this, queries can index the tables without further checks. Field
//! names, which only payload queries need, are read and validated per
//! callsite when a query first decodes that callsite ([`FieldNames`]).

use std::sync::Arc;

use super::names::FieldNames;
use super::source::{ReadStats, Source};
use crate::codec::Cursor;
use crate::envelope::TraceHeader;
use crate::envelope::layout::*;
use crate::error::{Error, Section};

/// A callsite, with its strings resolved to string-table ids.
#[derive(Debug, Clone)]
pub(crate) struct CallsiteRow {
    pub(crate) kind: u8,
    pub(crate) level: u8,
    pub(crate) name: u32,
    pub(crate) target: u32,
    pub(crate) file: Option<u32>,
    pub(crate) line: u32,
}

/// Everything `open` reads: small, always in memory.
#[derive(Debug)]
pub(crate) struct Structure {
    pub(crate) header: TraceHeader,
    pub(crate) extents: [Extent; SECTION_COUNT],
    /// The string table, each entry allocated once and shared (by
    /// reference count) with every answer that names it.
    pub(crate) strings: Vec<Arc<str>>,
    pub(crate) callsites: Vec<CallsiteRow>,
    /// Thread number - 1 → name string id.
    pub(crate) threads: Vec<Option<u32>>,
    pub(crate) rows: Vec<Row>,
    pub(crate) roots: Vec<u32>,
    /// Service number (a row's `service`) → name string id. Every service
    /// names at least one row, and no two the same string.
    pub(crate) services: Vec<u32>,
    /// The payload checksum from the trailer, checked by queries that read
    /// the whole payload anyway.
    pub(crate) payload_crc: u32,
    /// The fields section's checksum from the trailer, checked by the
    /// queries that read the whole section.
    pub(crate) fields_crc: u32,
    /// Where each callsite's field names are in the fields section, and
    /// those read so far.
    pub(crate) names: FieldNames,
}

/// The sections of the section table's entries, in table order (the last
/// entry, the orphan events, lies inside the payload).
const TABLE_SECTIONS: [Section; S_ORPHANS] = [
    Section::Strings,
    Section::Callsites,
    Section::Threads,
    Section::Index,
    Section::Roots,
    Section::Services,
    Section::Fields,
    Section::Payload,
];

/// Callsite kinds in the callsite table.
const KIND_SPAN_CALLSITE: u8 = 0;
const KIND_EVENT_CALLSITE: u8 = 1;

fn corrupt(section: Section, offset: u64, what: &'static str) -> Error {
    Error::Corrupt {
        section,
        offset,
        what,
    }
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

fn u64_at(b: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(a)
}

/// A count read from the file, checked against the bytes left (each item
/// takes at least `min_item` bytes), so no hostile count sizes an allocation.
fn count(c: &mut Cursor<'_>, min_item: usize) -> Result<usize, Error> {
    let n = c.uvarint()?;
    if n > (c.remaining() / min_item.max(1)) as u64 {
        return Err(c.corrupt("count larger than the section can hold"));
    }
    Ok(n as usize)
}

pub(crate) fn read_structure(src: &Source, stats: &mut ReadStats) -> Result<Structure, Error> {
    let file_len = src.len();
    if file_len < PREAMBLE_LEN + TRAILER_LEN {
        let got = src.read(Section::Preamble, 0, file_len.min(8), stats)?;
        if got.as_slice() != &MAGIC[..got.len()] {
            return Err(Error::BadMagic {
                expected: "envelope",
                found: got,
            });
        }
        return Err(Error::Truncated {
            section: Section::Preamble,
            offset: 0,
            end: PREAMBLE_LEN + TRAILER_LEN,
            file_len,
        });
    }
    let pre = src.read(Section::Preamble, 0, PREAMBLE_LEN, stats)?;
    if pre[..8] != MAGIC {
        return Err(Error::BadMagic {
            expected: "envelope",
            found: pre[..8].to_vec(),
        });
    }
    let version = u32_at(&pre, 8);
    if version != ENVELOPE_VERSION {
        return Err(Error::UnsupportedVersion {
            kind: "envelope",
            found: version,
            supported: ENVELOPE_VERSION,
        });
    }
    let header_len = u64::from(u32_at(&pre, 12));
    let body_end = file_len - TRAILER_LEN;
    if header_len < SECTION_TABLE_LEN as u64 || header_len > MAX_HEADER_LEN {
        return Err(corrupt(Section::Preamble, 12, "header length out of range"));
    }
    if PREAMBLE_LEN + header_len > body_end {
        return Err(Error::Truncated {
            section: Section::Header,
            offset: PREAMBLE_LEN,
            end: PREAMBLE_LEN + header_len,
            file_len,
        });
    }
    let trailer = src.read(Section::Trailer, body_end, TRAILER_LEN, stats)?;
    if trailer[24..32] != END_MAGIC {
        return Err(corrupt(
            Section::Trailer,
            body_end + 24,
            "end magic missing: the file is truncated or was not finished",
        ));
    }
    let declared_len = u64_at(&trailer, 16);
    if declared_len != file_len {
        return Err(Error::Truncated {
            section: Section::Trailer,
            offset: body_end,
            end: declared_len,
            file_len,
        });
    }
    let header = src.read(Section::Header, PREAMBLE_LEN, header_len, stats)?;
    let computed = crc32fast::hash(&header);
    let stored = u32_at(&trailer, 0);
    if computed != stored {
        return Err(Error::Checksum {
            section: Section::Header,
            offset: PREAMBLE_LEN,
            stored,
            computed,
        });
    }

    // Section table: in file order, contiguous, inside the body.
    let mut extents = [Extent::default(); SECTION_COUNT];
    for (i, e) in extents.iter_mut().enumerate() {
        *e = Extent {
            offset: u64_at(&header, i * 16),
            len: u64_at(&header, i * 16 + 8),
        };
    }
    let structure_start = PREAMBLE_LEN + header_len;
    let mut expect = structure_start;
    for (i, e) in extents.iter().enumerate().take(S_ORPHANS) {
        // A section that does not fit in the file is named, with its bounds.
        let end = e.offset.checked_add(e.len);
        if end.is_none_or(|end| end > file_len) {
            return Err(Error::Truncated {
                section: TABLE_SECTIONS[i],
                offset: e.offset,
                end: end.unwrap_or(u64::MAX),
                file_len,
            });
        }
        if e.offset != expect || e.end() > body_end {
            return Err(corrupt(
                Section::Header,
                PREAMBLE_LEN + i as u64 * 16,
                "section table entry out of place",
            ));
        }
        expect = e.end();
    }
    let payload = extents[S_PAYLOAD];
    let orphans = extents[S_ORPHANS];
    if payload.end() != body_end
        || orphans.offset < payload.offset
        || orphans.end() != payload.end()
    {
        return Err(corrupt(
            Section::Header,
            PREAMBLE_LEN + S_PAYLOAD as u64 * 16,
            "payload section out of place",
        ));
    }
    let info: TraceHeader = postcard::from_bytes(&header[SECTION_TABLE_LEN..]).map_err(|_| {
        corrupt(
            Section::Header,
            PREAMBLE_LEN + SECTION_TABLE_LEN as u64,
            "header fields do not decode",
        )
    })?;

    let structure_len = extents[S_SERVICES].end() - structure_start;
    let bytes = src.read(Section::Structure, structure_start, structure_len, stats)?;
    let computed = crc32fast::hash(&bytes);
    let stored = u32_at(&trailer, 4);
    if computed != stored {
        return Err(Error::Checksum {
            section: Section::Structure,
            offset: structure_start,
            stored,
            computed,
        });
    }
    let part = |i: usize, section: Section| {
        let e = extents[i];
        let from = (e.offset - structure_start) as usize;
        Cursor::new(&bytes[from..from + e.len as usize], e.offset, section)
    };

    let strings = read_strings(&mut part(S_STRINGS, Section::Strings))?;
    let n_strings = strings.len() as u32;
    let (callsites, name_blocks) =
        read_callsites(part(S_CALLSITES, Section::Callsites), n_strings)?;
    // The field-name blocks tile the fields section.
    let fields = extents[S_FIELDS];
    if name_blocks.last().copied().unwrap_or(0) != fields.len {
        return Err(corrupt(
            Section::Fields,
            fields.offset,
            "the callsites' field-name block lengths do not sum to the section's length",
        ));
    }
    let threads = read_threads(part(S_THREADS, Section::Threads), n_strings)?;
    // The services before the index, whose rows refer to them by number.
    let services = read_services(part(S_SERVICES, Section::Services), n_strings)?;
    let orphan_start = orphans.offset - payload.offset;
    let rows = read_index(
        &bytes[(extents[S_INDEX].offset - structure_start) as usize..]
            [..extents[S_INDEX].len as usize],
        extents[S_INDEX].offset,
        &callsites,
        services.len() as u32,
        threads.len() as u32,
        orphan_start,
    )?;
    check_services_used(&rows, &services, extents[S_SERVICES].offset)?;
    let roots = read_roots(part(S_ROOTS, Section::Roots), &rows)?;
    if info.spans as usize != rows.len() || info.roots as usize != roots.len() {
        return Err(corrupt(
            Section::Header,
            PREAMBLE_LEN + SECTION_TABLE_LEN as u64,
            "span or root count disagrees with the index",
        ));
    }
    Ok(Structure {
        header: info,
        extents,
        strings,
        callsites,
        threads,
        rows,
        roots,
        services,
        payload_crc: u32_at(&trailer, 8),
        fields_crc: u32_at(&trailer, 12),
        names: FieldNames::new(name_blocks),
    })
}

fn read_strings(c: &mut Cursor<'_>) -> Result<Vec<Arc<str>>, Error> {
    let n = count(c, 1)?;
    let mut out = Vec::with_capacity(n);
    // Empty strings (one byte each in the file) share one allocation.
    let empty: Arc<str> = Arc::from("");
    for _ in 0..n {
        let s = c.str()?;
        out.push(if s.is_empty() {
            Arc::clone(&empty)
        } else {
            Arc::from(s)
        });
    }
    Ok(out)
}

fn string_ref(c: &mut Cursor<'_>, n_strings: u32) -> Result<u32, Error> {
    let v = c.uvarint32()?;
    if v >= n_strings {
        return Err(c.corrupt("string id out of range"));
    }
    Ok(v)
}

/// A string id stored as id + 1, 0 meaning none.
fn opt_string_ref(c: &mut Cursor<'_>, n_strings: u32) -> Result<Option<u32>, Error> {
    match c.uvarint32()? {
        0 => Ok(None),
        v if v - 1 < n_strings => Ok(Some(v - 1)),
        _ => Err(c.corrupt("string id out of range")),
    }
}

/// The callsite table, and where each callsite's field names are in the
/// fields section: block `c` is bytes `[ends[c], ends[c + 1])` of it, the
/// prefix sums of the lengths the entries end with (`u64::MAX` once they
/// overflow, which no section's length equals).
fn read_callsites(
    mut c: Cursor<'_>,
    n_strings: u32,
) -> Result<(Vec<CallsiteRow>, Vec<u64>), Error> {
    let n = count(&mut c, 8)?;
    let mut out = Vec::with_capacity(n);
    let mut ends = Vec::with_capacity(n + 1);
    ends.push(0u64);
    for _ in 0..n {
        let kind = c.u8()?;
        let level = c.u8()?;
        if kind > KIND_EVENT_CALLSITE || level > 4 {
            return Err(c.corrupt("callsite kind or level out of range"));
        }
        let name = string_ref(&mut c, n_strings)?;
        let target = string_ref(&mut c, n_strings)?;
        let _module = opt_string_ref(&mut c, n_strings)?;
        let file = opt_string_ref(&mut c, n_strings)?;
        let line = c.uvarint32()?;
        let names_len = c.uvarint()?;
        let end = ends.last().copied().unwrap_or(0);
        ends.push(end.saturating_add(names_len));
        out.push(CallsiteRow {
            kind,
            level,
            name,
            target,
            file,
            line,
        });
    }
    Ok((out, ends))
}

fn read_threads(mut c: Cursor<'_>, n_strings: u32) -> Result<Vec<Option<u32>>, Error> {
    let n = count(&mut c, 1)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(opt_string_ref(&mut c, n_strings)?);
    }
    Ok(out)
}

fn read_index(
    bytes: &[u8],
    offset: u64,
    callsites: &[CallsiteRow],
    n_services: u32,
    n_threads: u32,
    orphan_start: u64,
) -> Result<Vec<Row>, Error> {
    let layout = bytes
        .first_chunk::<COLUMNS>()
        .and_then(|w| RowLayout::from_widths(*w))
        .ok_or_else(|| {
            corrupt(
                Section::Index,
                offset,
                "column widths missing or out of range",
            )
        })?;
    let body = &bytes[COLUMNS..];
    let Some(n) = layout.rows_in(body.len()) else {
        return Err(corrupt(
            Section::Index,
            offset,
            "index length is not a whole number of rows",
        ));
    };
    let Ok(n32) = u32::try_from(n) else {
        return Err(corrupt(
            Section::Index,
            offset,
            "more rows than span numbers",
        ));
    };
    if padding(&layout, n, body) != 0 {
        return Err(corrupt(
            Section::Index,
            offset + bytes.len() as u64 - 1,
            "padding bits after the last row are not zero",
        ));
    }
    let n_callsites = callsites.len() as u32;
    let mut rows: Vec<Row> = Vec::with_capacity(n);
    let mut payload_end = 0u64;
    // The rows whose subtree is still open at the current row, outermost
    // first: the current row's ancestors in preorder.
    let mut ancestors: Vec<u32> = Vec::new();
    for r in 0..n32 {
        // The byte the row starts in.
        let at = offset + (COLUMNS + r as usize * layout.row_bits() / 8) as u64;
        let bad = |what| Err(corrupt(Section::Index, at, what));
        // Its block starts where the previous row's ends.
        let row = match layout.get(r as usize, body, payload_end) {
            Ok(row) => row,
            Err(what) => return bad(what),
        };
        // Preorder: the parent is one of the open ancestors (so it comes
        // earlier, and every row between it and this one is its
        // descendant); the ancestors deeper than it end their subtrees
        // here. A root ends them all.
        while let Some(&a) = ancestors.last() {
            if row.parent != NO_PARENT && a <= row.parent {
                break;
            }
            rows[a as usize].subtree_end = r;
            ancestors.pop();
        }
        if row.parent != NO_PARENT && ancestors.last() != Some(&row.parent) {
            return bad("parent is not an enclosing span in preorder");
        }
        if row.callsite >= n_callsites || row.service >= n_services || row.thread > n_threads {
            return bad("callsite, service or thread out of range");
        }
        if callsites[row.callsite as usize].kind != KIND_SPAN_CALLSITE {
            return bad("row refers to an event callsite");
        }
        if row.payload_end > orphan_start {
            return bad("payload block out of place");
        }
        payload_end = row.payload_end;
        rows.push(row);
        ancestors.push(r);
    }
    for a in ancestors {
        rows[a as usize].subtree_end = n32;
    }
    if payload_end != orphan_start {
        return Err(corrupt(
            Section::Index,
            offset,
            "payload blocks do not fill the payload section",
        ));
    }
    Ok(rows)
}

fn read_roots(c: Cursor<'_>, rows: &[Row]) -> Result<Vec<u32>, Error> {
    let mut c = c;
    if c.remaining() % 4 != 0 {
        return Err(c.corrupt("roots table is not a whole number of rows"));
    }
    let mut out = Vec::with_capacity(c.remaining() / 4);
    while !c.is_empty() {
        let r = c.u32_le()?;
        if rows
            .get(r as usize)
            .is_none_or(|row| row.parent != NO_PARENT)
        {
            return Err(c.corrupt("root is not a top-level span"));
        }
        out.push(r);
    }
    Ok(out)
}

/// The services section: a name (string id) per service number, each
/// name distinct.
fn read_services(mut c: Cursor<'_>, n_strings: u32) -> Result<Vec<u32>, Error> {
    let n = count(&mut c, 1)?;
    let mut out = Vec::with_capacity(n);
    // One flag per string: no more than the string table has bytes.
    let mut seen = vec![false; n_strings as usize];
    for _ in 0..n {
        let name = string_ref(&mut c, n_strings)?;
        if std::mem::replace(&mut seen[name as usize], true) {
            return Err(c.corrupt("two services with the same name"));
        }
        out.push(name);
    }
    Ok(out)
}

/// Every service is named by at least one row (the index was checked to
/// name only services that exist): the converter writes no others, so
/// that the services are exactly those of the spans.
fn check_services_used(rows: &[Row], services: &[u32], offset: u64) -> Result<(), Error> {
    let mut used = vec![false; services.len()];
    for row in rows {
        used[row.service as usize] = true;
    }
    if used.contains(&false) {
        return Err(corrupt(
            Section::Services,
            offset,
            "a service that no span belongs to",
        ));
    }
    Ok(())
}
