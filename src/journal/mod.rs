//! The journal: the appendable intermediate file the background writer
//! streams records into while the app runs.
//!
//! ```text
//! preamble   magic "BHTJRNL\x1a" (8) | version u32 | header_len u32 | header_crc u32
//! header     postcard(ProcessInfo)
//! frame*     len u32 | crc32(records) u32 | records (len bytes)
//! ```
//!
//! Frames are whole or absent: a process killed mid-write leaves at most one
//! torn frame at the end, which [`JournalReader`] detects and stops before.
//! `docs/format.md` describes every record byte by byte.

pub(crate) mod read;
pub(crate) mod record;
pub(crate) mod writer;

pub use read::{CallsiteRecord, JournalReader, Record, RecoverStats, StopReason, read_journal};
pub use writer::WriterStats;

use serde::{Deserialize, Serialize};

/// The first eight bytes of every journal.
pub const JOURNAL_MAGIC: [u8; 8] = *b"BHTJRNL\x1a";
/// The journal format version this build writes. It reads this one and
/// version 1, which had no time deltas (a subset of version 2).
pub const JOURNAL_VERSION: u32 = 2;
/// Bytes before the process header: magic, version, header length, header crc.
pub(crate) const PREAMBLE_LEN: usize = 20;
/// Bytes before each frame's records: length and crc32.
pub(crate) const FRAME_HEADER_LEN: usize = 8;
/// The largest frame a reader accepts; a longer length field is corruption.
pub(crate) const MAX_FRAME_LEN: u32 = 64 << 20;
/// The largest process header a reader accepts.
pub(crate) const MAX_HEADER_LEN: u32 = 1 << 20;

/// Facts about the traced process, written once at the start of the journal
/// and carried into the envelope's header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// Operating-system process id.
    pub pid: u32,
    /// Path of the executable, if the OS could tell.
    pub executable: String,
    /// The service name given to the [`Builder`](crate::Builder), if any.
    pub service_name: Option<String>,
    /// Wall-clock time at the trace's time origin, in nanoseconds since the
    /// Unix epoch. Every timestamp in the trace is monotonic nanoseconds
    /// since this moment.
    pub wall_start_unix_ns: u64,
    /// The version of bhtrace that wrote the trace.
    pub writer_version: String,
}

/// Encodes the journal preamble and header.
pub(crate) fn encode_preamble(process: &ProcessInfo) -> Vec<u8> {
    // postcard only fails to serialize types that serde cannot express; a
    // plain struct of strings and integers cannot hit that.
    let header = postcard::to_stdvec(process).unwrap_or_default();
    let mut out = Vec::with_capacity(PREAMBLE_LEN + header.len());
    out.extend_from_slice(&JOURNAL_MAGIC);
    out.extend_from_slice(&JOURNAL_VERSION.to_le_bytes());
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&header).to_le_bytes());
    out.extend_from_slice(&header);
    out
}

/// The path of the journal that goes with an envelope path: the same name
/// with the extension `bhtj`.
///
/// ```
/// use std::path::Path;
/// assert_eq!(bhtrace::journal::journal_path(Path::new("app.bht")), Path::new("app.bhtj"));
/// ```
pub fn journal_path(envelope: &std::path::Path) -> std::path::PathBuf {
    envelope.with_extension("bhtj")
}
