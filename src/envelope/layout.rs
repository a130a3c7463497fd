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
pub const ENVELOPE_VERSION: u32 = 1;
pub(crate) const PREAMBLE_LEN: u64 = 16;
pub(crate) const TRAILER_LEN: u64 = 32;
/// Sections in the section table, in file order.
pub(crate) const SECTION_COUNT: usize = 8;
pub(crate) const SECTION_TABLE_LEN: usize = SECTION_COUNT * 16;
/// The largest header a reader accepts.
pub(crate) const MAX_HEADER_LEN: u64 = 1 << 20;

/// Bytes per index row.
pub(crate) const ROW_LEN: usize = 56;
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
    pub(crate) fn put(&self, out: &mut Vec<u8>) {
        for v in [
            self.parent,
            self.subtree_end,
            self.callsite,
            self.service,
            self.thread,
            self.flags,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in [self.start, self.end, self.busy, self.payload_end] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// Decodes a row from exactly `ROW_LEN` bytes.
    pub(crate) fn get(b: &[u8; ROW_LEN]) -> Row {
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u64_at = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(a)
        };
        Row {
            parent: u32_at(0),
            subtree_end: u32_at(4),
            callsite: u32_at(8),
            service: u32_at(12),
            thread: u32_at(16),
            flags: u32_at(20),
            start: u64_at(24),
            end: u64_at(32),
            busy: u64_at(40),
            payload_end: u64_at(48),
        }
    }
}
