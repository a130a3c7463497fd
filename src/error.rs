//! The one error type of the library, with enough context to say what went
//! wrong and where: which file, which section, which byte offset, what was
//! expected and what was found.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// A part of a bhtrace file, named in errors so that a corrupt file says
/// where it is corrupt. See `docs/format.md` for the layout of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Section {
    /// The journal's fixed preamble and process header.
    JournalHeader,
    /// A frame of the journal (length, checksum, records).
    Journal,
    /// The envelope's fixed preamble (magic, version, header length).
    Preamble,
    /// The envelope's header (counts, clock base, process, section table).
    Header,
    /// The envelope's trailer (checksums, file length, end magic).
    Trailer,
    /// The structure as a whole (tables and index), under one checksum.
    Structure,
    /// The string table.
    Strings,
    /// The callsite table.
    Callsites,
    /// The thread table.
    Threads,
    /// The structure index: one row per span.
    Index,
    /// The roots table.
    Roots,
    /// The services table: the name of each service the index refers to.
    Services,
    /// The field-name schema: each callsite's field names, a block per
    /// callsite. Read per callsite by the queries that decode fields, not
    /// by `open`.
    Fields,
    /// The payload blocks.
    Payload,
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Section::JournalHeader => "journal header",
            Section::Journal => "journal frame",
            Section::Preamble => "preamble",
            Section::Header => "header",
            Section::Trailer => "trailer",
            Section::Structure => "structure (tables and index)",
            Section::Strings => "string table",
            Section::Callsites => "callsite table",
            Section::Threads => "thread table",
            Section::Index => "structure index",
            Section::Roots => "roots table",
            Section::Services => "service table",
            Section::Fields => "field-name schema",
            Section::Payload => "payload",
        };
        f.write_str(name)
    }
}

/// Everything that can go wrong in bhtrace.
///
/// Decoding errors name the [`Section`] and the byte offset in the file;
/// nothing in the library panics on bad input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system error on a named file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file being read or written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The file does not start with the expected magic bytes: it is not a
    /// bhtrace file of the expected kind.
    #[error("not a bhtrace {expected}: the first bytes are {found:02x?}")]
    BadMagic {
        /// What kind of file was expected ("envelope" or "journal").
        expected: &'static str,
        /// The bytes found at the start of the file.
        found: Vec<u8>,
    },
    /// The file was written by a format version this build cannot read.
    #[error("unsupported {kind} format version {found} (this build reads version {supported})")]
    UnsupportedVersion {
        /// "envelope" or "journal".
        kind: &'static str,
        /// The version in the file.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// The file ends before a section it declares.
    #[error(
        "truncated file: the {section} needs bytes {offset}..{end} but the file is {file_len} bytes"
    )]
    Truncated {
        /// The section that does not fit.
        section: Section,
        /// Where it starts.
        offset: u64,
        /// Where it would end.
        end: u64,
        /// The actual file length.
        file_len: u64,
    },
    /// A checksum does not match: the bytes were changed after writing.
    #[error(
        "checksum mismatch in the {section} at offset {offset}: stored {stored:#010x}, computed {computed:#010x}"
    )]
    Checksum {
        /// The section whose checksum failed.
        section: Section,
        /// Where the checked bytes start.
        offset: u64,
        /// The checksum stored in the file.
        stored: u32,
        /// The checksum of the bytes as read.
        computed: u32,
    },
    /// Bytes that do not decode as what the format says must be there.
    #[error("corrupt {section} at offset {offset}: {what}")]
    Corrupt {
        /// The section being decoded.
        section: Section,
        /// The file offset where decoding failed.
        offset: u64,
        /// What was wrong.
        what: &'static str,
    },
    /// A span id that is not in this trace.
    #[error("no span {id} in this trace (it has {spans} spans, ids 0..{spans})")]
    UnknownSpan {
        /// The id asked for.
        id: u32,
        /// How many spans the trace has.
        spans: u32,
    },
    /// The background writer failed; the journal may be incomplete.
    #[error("the trace writer failed after {errors} write error(s); first: {first}")]
    Writer {
        /// How many writes failed.
        errors: u64,
        /// The first failure.
        first: String,
    },
    /// The background writer thread could not be started or panicked.
    #[error("the trace writer thread {0}")]
    WriterThread(&'static str),
}

impl Error {
    /// Wraps an I/O error with the path it happened on.
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
