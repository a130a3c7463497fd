//! The one positional-read layer every query reads through, so that the
//! bytes a query costs are counted, not estimated.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, Section};

/// What a query actually read from the file.
///
/// Every query's stats include the structure that
/// [`TraceReader::open`](crate::TraceReader::open) read (header and index),
/// since no query can be answered without it, plus the payload bytes the
/// query itself read. A query that decodes payload (fields, events) also
/// includes the field names of the callsites it decodes (a block each,
/// adjacent blocks in one read; `full()` and `verify()` read them all):
/// each callsite's are read once, by the first query that needs them, but
/// counted in every query that needs them, so that every figure is what
/// the query costs from a fresh open, whichever queries ran before it.
///
/// ```
/// let s = bhtrace::ReadStats { bytes_read: 50, reads: 2, file_len: 1000 };
/// assert_eq!(s.fraction(), 0.05);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Bytes read from the file.
    pub bytes_read: u64,
    /// Positional reads issued (each one a seek and a read).
    pub reads: u64,
    /// The file's length.
    pub file_len: u64,
}

impl ReadStats {
    /// `bytes_read / file_len`, between 0 and 1.
    pub fn fraction(&self) -> f64 {
        if self.file_len == 0 {
            0.0
        } else {
            self.bytes_read as f64 / self.file_len as f64
        }
    }
}

/// Where the bytes come from: a file, or memory (for tests and fuzzing).
#[derive(Debug)]
enum Backend {
    File(File),
    Memory(Vec<u8>),
}

/// A file (or buffer) read by offset, with every read bounds-checked.
#[derive(Debug)]
pub(crate) struct Source {
    backend: Backend,
    len: u64,
    path: PathBuf,
}

impl Source {
    pub(crate) fn open(path: &Path) -> Result<Source, Error> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        Ok(Source {
            backend: Backend::File(file),
            len,
            path: path.to_owned(),
        })
    }

    pub(crate) fn memory(bytes: Vec<u8>) -> Source {
        Source {
            len: bytes.len() as u64,
            backend: Backend::Memory(bytes),
            path: PathBuf::from("<memory>"),
        }
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Reads `len` bytes at `offset` of `section`, after checking that they
    /// lie inside the file; counts the read in `stats`.
    pub(crate) fn read(
        &self,
        section: Section,
        offset: u64,
        len: u64,
        stats: &mut ReadStats,
    ) -> Result<Vec<u8>, Error> {
        let end = offset.saturating_add(len);
        if end > self.len {
            return Err(Error::Truncated {
                section,
                offset,
                end,
                file_len: self.len,
            });
        }
        // In bounds of the file, so the allocation is at most its size.
        let mut buf = vec![0u8; len as usize];
        match &self.backend {
            Backend::File(f) => {
                read_exact_at(f, &mut buf, offset).map_err(|e| Error::io(&self.path, e))?
            }
            Backend::Memory(m) => buf.copy_from_slice(&m[offset as usize..end as usize]),
        }
        stats.bytes_read += len;
        stats.reads += 1;
        stats.file_len = self.len;
        Ok(buf)
    }
}

#[cfg(unix)]
fn read_exact_at(f: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    f.read_exact_at(buf, offset)
}

#[cfg(windows)]
fn read_exact_at(f: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match f.seek_read(buf, offset)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}
