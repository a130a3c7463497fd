//! Field names, one block per callsite in the fields section: a query
//! reads and decodes the blocks of the callsites it decodes (adjacent
//! blocks in one read), and the reader keeps them for the queries after.
//! Only reading the whole section checks its checksum; a block read on its
//! own is validated by decoding it, as payload blocks are.

use std::sync::{Arc, OnceLock};

use super::source::{ReadStats, Source};
use crate::codec::Cursor;
use crate::envelope::layout::{Extent, MAX_NAMES_EXPANSION};
use crate::error::{Error, Section};

/// Where each callsite's field names are, and those read so far.
#[derive(Debug)]
pub(crate) struct FieldNames {
    /// Callsite `c`'s block is bytes `[ends[c], ends[c + 1])` of the fields
    /// section (checked at open to end where the section does).
    ends: Vec<u64>,
    /// Callsite → its field names in field-index order, once read. Each
    /// name is allocated once and shared with every answer that names it.
    blocks: Vec<OnceLock<Box<[Arc<str>]>>>,
    /// Set once the whole section has been read, its checksum checked and
    /// every block decoded.
    whole: OnceLock<()>,
}

impl FieldNames {
    /// The blocks whose prefix sums are `ends` (one more than there are
    /// callsites, starting at 0), none read yet.
    pub(crate) fn new(ends: Vec<u64>) -> FieldNames {
        let n = ends.len().saturating_sub(1);
        FieldNames {
            ends,
            blocks: (0..n).map(|_| OnceLock::new()).collect(),
            whole: OnceLock::new(),
        }
    }

    /// The name of field `idx` of callsite `callsite` (a callsite table
    /// index), if its block has been read and declares the field.
    pub(crate) fn name(&self, callsite: usize, idx: u8) -> Option<&Arc<str>> {
        self.blocks.get(callsite)?.get()?.get(usize::from(idx))
    }

    /// Reads the blocks of the callsites `wanted` marks (one flag per
    /// callsite) that are not yet kept, each run of adjacent blocks in one
    /// read, and decodes them. Adds to `stats` what reading every wanted
    /// block costs — a read per run of adjacent ones — whether kept already
    /// or not, so that a query's figure does not depend on which queries
    /// ran before it.
    pub(crate) fn load(
        &self,
        src: &Source,
        section: Extent,
        wanted: &[bool],
        stats: &mut ReadStats,
    ) -> Result<(), Error> {
        let n = self.blocks.len().min(wanted.len());
        let mut c = 0;
        while c < n {
            if !wanted[c] {
                c += 1;
                continue;
            }
            let mut e = c + 1;
            while e < n && wanted[e] {
                e += 1;
            }
            stats.bytes_read += self.ends[e] - self.ends[c];
            stats.reads += 1;
            stats.file_len = src.len();
            // What is read: the runs of those not yet kept.
            let mut a = c;
            while a < e {
                if self.blocks[a].get().is_some() {
                    a += 1;
                    continue;
                }
                let mut b = a + 1;
                while b < e && self.blocks[b].get().is_none() {
                    b += 1;
                }
                let from = self.ends[a];
                let bytes = src.read(
                    Section::Fields,
                    section.offset + from,
                    self.ends[b] - from,
                    &mut ReadStats::default(),
                )?;
                self.decode_blocks(a..b, &bytes, section.offset + from)?;
                a = b;
            }
            c = e;
        }
        Ok(())
    }

    /// Reads the whole fields section in one read, checks it against its
    /// checksum `crc` and decodes every block not yet kept. Adds the read
    /// to `stats`, done now or before.
    pub(crate) fn load_all(
        &self,
        src: &Source,
        section: Extent,
        crc: u32,
        stats: &mut ReadStats,
    ) -> Result<(), Error> {
        stats.bytes_read += section.len;
        stats.reads += 1;
        stats.file_len = src.len();
        if self.whole.get().is_some() {
            return Ok(());
        }
        let bytes = src.read(
            Section::Fields,
            section.offset,
            section.len,
            &mut ReadStats::default(),
        )?;
        let computed = crc32fast::hash(&bytes);
        if computed != crc {
            return Err(Error::Checksum {
                section: Section::Fields,
                offset: section.offset,
                stored: crc,
                computed,
            });
        }
        let mut c = 0;
        while c < self.blocks.len() {
            if self.blocks[c].get().is_some() {
                c += 1;
                continue;
            }
            let mut e = c + 1;
            while e < self.blocks.len() && self.blocks[e].get().is_none() {
                e += 1;
            }
            let from = self.ends[c];
            let run = &bytes[from as usize..self.ends[e] as usize];
            self.decode_blocks(c..e, run, section.offset + from)?;
            c = e;
        }
        let _ = self.whole.set(());
        Ok(())
    }

    /// Decodes and keeps the blocks of `callsites`, which are `bytes` (at
    /// file offset `offset`), back to back.
    fn decode_blocks(
        &self,
        callsites: std::ops::Range<usize>,
        bytes: &[u8],
        offset: u64,
    ) -> Result<(), Error> {
        let base = self.ends[callsites.start];
        for c in callsites {
            let (from, to) = (
                (self.ends[c] - base) as usize,
                (self.ends[c + 1] - base) as usize,
            );
            let names = decode_block(&bytes[from..to], offset + from as u64)?;
            // Another thread may have decoded it meanwhile: either is right.
            let _ = self.blocks[c].set(names);
        }
        Ok(())
    }
}

/// Decodes one callsite's block of field names (at file offset `offset`):
/// a count byte, then each name as the length of the prefix it shares with
/// the previous name, and its suffix (`str`). Checks that the count fits
/// the block, that no name shares more than the previous name has, that
/// every name is UTF-8, that the names total at most
/// [`MAX_NAMES_EXPANSION`] times the block, and that nothing follows the
/// last name.
pub(crate) fn decode_block(bytes: &[u8], offset: u64) -> Result<Box<[Arc<str>]>, Error> {
    let mut c = Cursor::new(bytes, offset, Section::Fields);
    let n = usize::from(c.u8()?);
    // Each name takes at least two bytes: its two lengths.
    if n > c.remaining() / 2 {
        return Err(c.corrupt("count larger than the block can hold"));
    }
    let limit = MAX_NAMES_EXPANSION.saturating_mul(bytes.len() as u64);
    let mut total = 0u64;
    let mut names: Vec<Arc<str>> = Vec::with_capacity(n);
    // The previous name's bytes, then this one's.
    let mut name: Vec<u8> = Vec::new();
    for _ in 0..n {
        let shared = c.uvarint()?;
        if shared > name.len() as u64 {
            return Err(c.corrupt("name shares more bytes than the previous name has"));
        }
        let suffix = c.bytes()?;
        total += shared + suffix.len() as u64;
        if total > limit {
            return Err(c.corrupt("field names decode to more than 8 times their block"));
        }
        let repeated = suffix.is_empty() && shared == name.len() as u64;
        name.truncate(shared as usize);
        name.extend_from_slice(suffix);
        let next = match names.last() {
            // The same name again (or the empty name): shared.
            Some(prev) if repeated => Arc::clone(prev),
            _ => match std::str::from_utf8(&name) {
                Ok(s) => Arc::from(s),
                Err(_) => return Err(c.corrupt("field name is not UTF-8")),
            },
        };
        names.push(next);
    }
    if !c.is_empty() {
        return Err(c.corrupt("bytes after the block's last field name"));
    }
    Ok(names.into_boxed_slice())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::layout::put_field_names;

    fn block(names: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        put_field_names(names.iter().copied(), &mut out);
        out
    }

    fn decoded(b: &[u8]) -> Result<Vec<String>, (u64, &'static str)> {
        match decode_block(b, 1000) {
            Ok(names) => Ok(names.iter().map(|n| n.to_string()).collect()),
            Err(Error::Corrupt { offset, what, .. }) => Err((offset, what)),
            Err(e) => panic!("{e:?}"),
        }
    }

    #[test]
    fn blocks_round_trip() {
        for names in [
            &[][..],
            &["message"],
            &[
                "http.method",
                "http.route",
                "http.status_code",
                "user",
                "",
                "user",
            ],
            &["é", "è", "ê", "e"],
            &["", ""],
        ] {
            assert_eq!(decoded(&block(names)).unwrap(), names, "{names:?}");
        }
        // A repeated name is one allocation.
        let names = decode_block(&block(&["a.b", "a.b"]), 0).unwrap();
        assert!(Arc::ptr_eq(&names[0], &names[1]));
    }

    #[test]
    fn damaged_blocks_say_what_and_where() {
        // 2 names: "ab", then "a" + "c".
        let good = block(&["ab", "ac"]);
        assert_eq!(good, [2, 0, 2, b'a', b'b', 1, 1, b'c']);
        let cases: [(&[u8], u64, &str); 8] = [
            (&[], 1000, "unexpected end of data"),
            (
                &[3, 0, 0, 0, 0],
                1001,
                "count larger than the block can hold",
            ),
            (&[2, 1, 2, b'a', b'b', 1, 1, b'c'], 1002, "name shares more"),
            (&[2, 0, 2, b'a', b'b', 3, 1, b'c'], 1006, "name shares more"),
            (&[2, 0, 2, b'a', 0xff, 1, 1, b'c'], 1005, "not UTF-8"),
            // A cut character: "é" is c3 a9; the second name keeps c3 only.
            (&[2, 0, 2, 0xc3, 0xa9, 1, 0], 1007, "not UTF-8"),
            (&[2, 0, 2, b'a', b'b', 1, 1, b'c', 0], 1008, "bytes after"),
            (&[2, 0, 2, b'a', b'b', 1, 3, b'c'], 1007, "section"),
        ];
        for (bytes, offset, want) in cases {
            match decoded(bytes) {
                Err((at, what)) => {
                    assert!(
                        what.contains(want) || want == "section",
                        "{bytes:?}: {what}"
                    );
                    assert_eq!(at, offset, "{bytes:?}: {what}");
                }
                Ok(names) => panic!("{bytes:?} decoded to {names:?}"),
            }
        }
    }

    #[test]
    fn names_may_not_decode_to_more_than_eight_times_their_block() {
        // A 40-byte name, then 9 repeats of it: 400 bytes of names from a
        // 61-byte block (exactly 488 allowed) decode; 13 repeats do not.
        let mut b = vec![10, 0, 40];
        b.extend_from_slice(&[b'x'; 40]);
        for _ in 0..9 {
            b.extend_from_slice(&[40, 0]);
        }
        assert_eq!(b.len(), 61);
        assert_eq!(decoded(&b).unwrap().len(), 10);
        let mut b = vec![14, 0, 40];
        b.extend_from_slice(&[b'x'; 40]);
        for _ in 0..13 {
            b.extend_from_slice(&[40, 0]);
        }
        assert_eq!(b.len(), 69);
        let (_, what) = decoded(&b).unwrap_err();
        assert!(what.contains("more than 8 times"), "{what}");
    }
}
