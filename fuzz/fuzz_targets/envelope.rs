//! Envelope open plus every query, on arbitrary bytes: `TraceReader` must
//! answer `Ok` or a typed `Err`, never panic, hang or allocate by an
//! unchecked length.
//!
//! The first input byte picks a mode. Odd: the rest is used as is. Even:
//! the trailer's checksums, file length and end magic are fixed up from
//! what the (mutated) preamble and section table say, so that mutations get
//! past the checksums and into the table and index decoders.
//!
//! Oracle beyond "no panic": a file that `verify()` accepts has a payload
//! that decodes, so every payload query and every export must then succeed.

#![no_main]

use bhtrace::TraceReader;
use bhtrace_fuzz::{crc32, exercise};
use libfuzzer_sys::fuzz_target;

// The documented layout (docs/format.md §3): a 16-byte preamble (magic,
// version, header length), a section table of 9 × (offset, len) at the
// start of the header (5 services, 6 fields, 7 payload), and a 32-byte
// trailer (header, structure, payload and fields checksums, file length,
// end magic).
const PREAMBLE: usize = 16;
const TRAILER: usize = 32;
const END_MAGIC: &[u8; 8] = b"BHTEND\x1a\n";

fn u64_at(b: &[u8], i: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(i..i + 8)?.try_into().ok()?))
}

/// The bytes `[offset, offset + len)` if they lie inside `end`.
fn extent(b: &[u8], entry: usize, end: usize) -> Option<(usize, usize)> {
    let at = PREAMBLE + entry * 16;
    let off = usize::try_from(u64_at(b, at)?).ok()?;
    let len = usize::try_from(u64_at(b, at + 8)?).ok()?;
    let stop = off.checked_add(len)?;
    (stop <= end).then_some((off, stop))
}

fn fix_trailer(b: &mut [u8]) {
    if b.len() < PREAMBLE + TRAILER {
        return;
    }
    let t = b.len() - TRAILER;
    let len = b.len() as u64;
    b[t + 16..t + 24].copy_from_slice(&len.to_le_bytes());
    b[t + 24..].copy_from_slice(END_MAGIC);
    let header_len = u32::from_le_bytes([b[12], b[13], b[14], b[15]]) as usize;
    let Some(header_end) = PREAMBLE.checked_add(header_len).filter(|&e| e <= t) else {
        return;
    };
    let crc = crc32(&b[PREAMBLE..header_end]);
    b[t..t + 4].copy_from_slice(&crc.to_le_bytes());
    // Structure: from the header's end to the end of the services section.
    if let Some((_, end)) = extent(b, 5, t).filter(|&(_, e)| e >= header_end) {
        let crc = crc32(&b[header_end..end]);
        b[t + 4..t + 8].copy_from_slice(&crc.to_le_bytes());
    }
    if let Some((from, to)) = extent(b, 7, t) {
        let crc = crc32(&b[from..to]);
        b[t + 8..t + 12].copy_from_slice(&crc.to_le_bytes());
    }
    if let Some((from, to)) = extent(b, 6, t) {
        let crc = crc32(&b[from..to]);
        b[t + 12..t + 16].copy_from_slice(&crc.to_le_bytes());
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut bytes = rest.to_vec();
    if mode & 1 == 0 {
        fix_trailer(&mut bytes);
    }
    if let Ok(trace) = TraceReader::from_bytes(bytes) {
        exercise(&trace);
    }
});
