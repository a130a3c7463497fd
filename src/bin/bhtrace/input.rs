//! Opening the file a command is given, envelope or journal, and the one
//! error type that means "bad input" (exit code 2).

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use bhtrace::journal::JOURNAL_MAGIC;
use bhtrace::{ConvertStats, Error, TraceReader};

/// The input file is missing, not bhtrace's, truncated or corrupt, or a
/// span id is not in it. Printed as `FILE: what is wrong`.
#[derive(Debug)]
pub(crate) struct BadInput {
    pub(crate) file: PathBuf,
    pub(crate) error: Error,
}

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.display();
        match &self.error {
            // The library's message already names the file: say it once.
            Error::Io { path, source } if path == &self.file => write!(f, "{file}: {source}"),
            e => write!(f, "{file}: {e}"),
        }
    }
}

impl std::error::Error for BadInput {}

/// Maps a library error about `file` to [`BadInput`].
pub(crate) trait InputResult<T> {
    /// The error, as bad input in `file`.
    fn input(self, file: &Path) -> anyhow::Result<T>;
}

impl<T> InputResult<T> for Result<T, Error> {
    fn input(self, file: &Path) -> anyhow::Result<T> {
        self.map_err(|error| bad(file, error))
    }
}

/// Bad input in `file`, unless the error is an I/O error on another path
/// (an output file), which is an ordinary failure.
pub(crate) fn bad(file: &Path, error: Error) -> anyhow::Error {
    match &error {
        Error::Io { path, .. } if path != file => anyhow::Error::new(error),
        _ => anyhow::Error::new(BadInput {
            file: file.to_owned(),
            error,
        }),
    }
}

/// An opened trace and where it came from.
#[derive(Debug)]
pub(crate) struct Input {
    pub(crate) path: PathBuf,
    pub(crate) reader: TraceReader,
    /// Set when the file was a journal, converted in memory.
    pub(crate) journal: Option<ConvertStats>,
}

impl Input {
    /// Opens `path` as a journal if it starts with the journal magic,
    /// else as an envelope.
    pub(crate) fn open(path: &Path) -> anyhow::Result<Input> {
        let is_journal = sniff(path).input(path)?;
        let (reader, journal) = if is_journal {
            let (reader, stats) = TraceReader::open_journal(path).input(path)?;
            (reader, Some(stats))
        } else {
            (TraceReader::open(path).input(path)?, None)
        };
        Ok(Input {
            path: path.to_owned(),
            reader,
            journal,
        })
    }

    /// "envelope" or "journal".
    pub(crate) fn kind(&self) -> &'static str {
        if self.journal.is_some() {
            "journal"
        } else {
            "envelope"
        }
    }

    /// A library result about this input, as bad input.
    pub(crate) fn check<T>(&self, r: Result<T, Error>) -> anyhow::Result<T> {
        r.input(&self.path)
    }
}

/// True when the file starts with the journal magic.
fn sniff(path: &Path) -> Result<bool, Error> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let mut head = Vec::with_capacity(JOURNAL_MAGIC.len());
    File::open(path)
        .map_err(io)?
        .take(JOURNAL_MAGIC.len() as u64)
        .read_to_end(&mut head)
        .map_err(io)?;
    Ok(head == JOURNAL_MAGIC)
}
