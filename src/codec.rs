//! The byte-level codec shared by the journal and the envelope: LEB128
//! varints, zigzag, fixed little-endian integers, and a bounds-checked
//! cursor that turns every short read into a typed error instead of a panic.
//!
//! Writers append to a `Vec<u8>` that the caller reuses; nothing here
//! allocates except to grow that vector.

use crate::error::{Error, Section};

/// Appends `v` as an unsigned LEB128 varint (1 to 10 bytes).
#[inline]
pub(crate) fn put_uvarint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// `v` as a varint in a fixed array, with the number of bytes used.
pub(crate) fn uvarint_array(mut v: u64) -> ([u8; 10], usize) {
    let mut out = [0u8; 10];
    let mut n = 0;
    while v >= 0x80 {
        out[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    out[n] = v as u8;
    (out, n + 1)
}

/// Number of bytes `put_uvarint(v)` writes.
#[inline]
pub(crate) fn uvarint_len(v: u64) -> usize {
    // 1 byte per started group of 7 bits, at least one.
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Maps signed to unsigned so that small magnitudes stay small.
#[inline]
pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag`].
#[inline]
pub(crate) fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Appends a length-prefixed byte string.
#[inline]
pub(crate) fn put_bytes(buf: &mut Vec<u8>, bytes: &[u8]) {
    put_uvarint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

/// The fixed part of a record (tag bytes and varints), `N` bytes at most,
/// assembled on the stack and appended to the buffer with one fixed-size
/// copy: on the app thread this takes fewer instructions than pushing byte
/// by byte, each push checking the vector's capacity. `N` is a power of two,
/// so that indexes masked to it need no bounds check.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Head<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Head<N> {
    /// A head that starts with `tag`.
    #[inline(always)]
    pub(crate) fn new(tag: u8) -> Self {
        const { assert!(N.is_power_of_two()) };
        let mut bytes = [0u8; N];
        bytes[0] = tag;
        Head { bytes, len: 1 }
    }

    /// Appends one byte.
    #[inline(always)]
    pub(crate) fn byte(mut self, b: u8) -> Self {
        self.bytes[self.len % N] = b;
        self.len += 1;
        self
    }

    /// Appends `v` as [`put_uvarint`] would.
    #[inline(always)]
    pub(crate) fn uvarint(mut self, mut v: u64) -> Self {
        while v >= 0x80 {
            self.bytes[self.len % N] = (v as u8) | 0x80;
            self.len += 1;
            v >>= 7;
        }
        self.bytes[self.len % N] = v as u8;
        self.len += 1;
        self
    }

    /// Appends the head to `buf`. Each caller sizes `N` for the most it
    /// puts in (ten bytes a varint), so nothing has wrapped around.
    #[inline(always)]
    pub(crate) fn append_to(&self, buf: &mut Vec<u8>) {
        debug_assert!(self.len <= N);
        let at = buf.len();
        buf.extend_from_slice(&self.bytes);
        buf.truncate(at + self.len.min(N));
    }
}

/// The varint that opens `b` and its length, by [`Cursor::uvarint`]'s
/// rules (at most ten bytes, the tenth at most 1), on a plain slice for the
/// quick readers; `None` for one that rule refuses or that is cut short.
#[inline(always)]
pub(crate) fn uvarint_prefix(b: &[u8]) -> Option<(u64, usize)> {
    match b.first() {
        Some(&x) if x < 0x80 => Some((u64::from(x), 1)),
        _ => uvarint_prefix_long(b),
    }
}

fn uvarint_prefix_long(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    // Ten bytes at hand (the longest varint): a loop over an array, which
    // the compiler unrolls with constant shifts and no bounds checks.
    if let Some(ten) = b.first_chunk::<10>() {
        for (i, &x) in ten.iter().enumerate() {
            v |= u64::from(x & 0x7f) << (7 * i);
            if x < 0x80 {
                return (i < 9 || x <= 1).then_some((v, i + 1));
            }
        }
        return None;
    }
    for (i, &x) in b.iter().enumerate() {
        v |= u64::from(x & 0x7f) << (7 * i);
        if x < 0x80 {
            return Some((v, i + 1));
        }
    }
    None
}

/// Whether `b` is UTF-8, checking ASCII (most field text) a word at a time
/// before the full check.
#[inline]
pub(crate) fn is_utf8(b: &[u8]) -> bool {
    b.is_ascii() || std::str::from_utf8(b).is_ok()
}

/// A read position inside one section of a file, with every read checked.
///
/// `base` is the absolute file offset of `data[0]`, so errors name the
/// offset in the file where decoding failed.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    base: u64,
    section: Section,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(data: &'a [u8], base: u64, section: Section) -> Self {
        Cursor {
            data,
            pos: 0,
            base,
            section,
        }
    }

    /// Bytes not yet consumed.
    pub(crate) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// The bytes not yet consumed.
    pub(crate) fn rest(&self) -> &'a [u8] {
        &self.data[self.pos.min(self.data.len())..]
    }

    /// Consumes `n` bytes that [`Cursor::rest`] showed to be there.
    pub(crate) fn advance(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.data.len());
    }

    /// Position relative to the start of the slice.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Absolute file offset of the next byte.
    pub(crate) fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// The bytes between `from` (a previous `pos()`) and the current position.
    pub(crate) fn since(&self, from: usize) -> &'a [u8] {
        &self.data[from.min(self.pos)..self.pos]
    }

    /// A typed error at the current position.
    pub(crate) fn corrupt(&self, what: &'static str) -> Error {
        Error::Corrupt {
            section: self.section,
            offset: self.offset(),
            what,
        }
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Error> {
        let b = *self
            .data
            .get(self.pos)
            .ok_or_else(|| self.corrupt("unexpected end of data"))?;
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if n > self.remaining() {
            return Err(self.corrupt("length runs past the end of its section"));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub(crate) fn u32_le(&mut self) -> Result<u32, Error> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    #[inline]
    pub(crate) fn uvarint(&mut self) -> Result<u64, Error> {
        // Most varints (ids, lengths, small deltas) are one byte.
        if let Some(&b) = self.data.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b));
            }
        }
        self.uvarint_long()
    }

    fn uvarint_long(&mut self) -> Result<u64, Error> {
        // Ten bytes at hand (the longest varint): no bounds check per byte.
        if let Some(bytes) = self.data.get(self.pos..self.pos + 10) {
            let mut v: u64 = 0;
            for (i, &b) in bytes.iter().enumerate() {
                v |= u64::from(b & 0x7f) << (7 * i);
                if b < 0x80 {
                    if i == 9 && b > 1 {
                        break;
                    }
                    self.pos += i + 1;
                    return Ok(v);
                }
            }
        }
        self.uvarint_checked()
    }

    /// The byte-by-byte varint: near the end of the data, and for the
    /// error a malformed varint gets.
    fn uvarint_checked(&mut self) -> Result<u64, Error> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            let low = u64::from(b & 0x7f);
            if shift == 63 && low > 1 {
                return Err(self.corrupt("varint overflows 64 bits"));
            }
            v |= low << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.corrupt("varint longer than 10 bytes"))
    }

    /// A varint that must fit a `u32`.
    pub(crate) fn uvarint32(&mut self) -> Result<u32, Error> {
        u32::try_from(self.uvarint()?).map_err(|_| self.corrupt("value does not fit 32 bits"))
    }

    /// A length-prefixed byte string; the length is checked against what is
    /// left before anything is sliced.
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], Error> {
        let len = self.uvarint()?;
        if len > self.remaining() as u64 {
            return Err(self.corrupt("string length runs past the end of its section"));
        }
        self.take(len as usize)
    }

    /// Skips a length-prefixed string, checking that it is UTF-8: what
    /// [`Cursor::str`] checks, for a caller that does not keep the text.
    pub(crate) fn skip_str(&mut self) -> Result<(), Error> {
        if is_utf8(self.bytes()?) {
            Ok(())
        } else {
            Err(self.corrupt("string is not UTF-8"))
        }
    }

    pub(crate) fn str(&mut self) -> Result<&'a str, Error> {
        let b = self.bytes()?;
        std::str::from_utf8(b).map_err(|_| self.corrupt("string is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn head_writes_what_put_uvarint_writes(tag: u8, b: u8, vs in proptest::collection::vec(any::<u64>(), 0..5)) {
            let mut want = vec![7u8, tag, b];
            let mut h = Head::<64>::new(tag).byte(b);
            for &v in &vs {
                put_uvarint(&mut want, v);
                h = h.uvarint(v);
            }
            let mut got = vec![7u8];
            h.append_to(&mut got);
            prop_assert_eq!(got, want);
        }

        #[test]
        fn uvarint_round_trips(v: u64) {
            let mut buf = Vec::new();
            put_uvarint(&mut buf, v);
            prop_assert_eq!(buf.len(), uvarint_len(v));
            let mut c = Cursor::new(&buf, 0, Section::Journal);
            prop_assert_eq!(c.uvarint().unwrap(), v);
            prop_assert!(c.is_empty());
        }

        /// The ten-byte window (bytes follow the varint) and the
        /// byte-by-byte path (it ends the data) decode alike, at every
        /// length, and leave the cursor just past the varint.
        #[test]
        fn uvarint_decodes_alike_with_and_without_bytes_after(bits in 0u32..=64, seed: u64, tail: [u8; 9]) {
            let v = if bits == 0 { 0 } else { seed >> (64 - bits) };
            let mut buf = Vec::new();
            put_uvarint(&mut buf, v);
            let len = buf.len();
            buf.extend_from_slice(&tail);
            for data in [&buf[..len], &buf[..]] {
                let mut c = Cursor::new(data, 0, Section::Journal);
                prop_assert_eq!(c.uvarint().unwrap(), v);
                prop_assert_eq!(c.pos(), len);
            }
        }

        /// Non-canonical forms (a value padded with `0x80` groups) decode to
        /// the value, as the format allows.
        #[test]
        fn padded_uvarint_decodes(v in 0u64..(1 << 21), pad in 1usize..=7) {
            let mut buf = Vec::new();
            put_uvarint(&mut buf, v);
            let last = buf.len() - 1;
            buf[last] |= 0x80;
            buf.extend(std::iter::repeat_n(0x80u8, pad - 1));
            buf.push(0);
            buf.extend_from_slice(&[0xff; 8]);
            let mut c = Cursor::new(&buf, 0, Section::Journal);
            prop_assert_eq!(c.uvarint().unwrap(), v);
            prop_assert_eq!(c.pos(), last + 1 + pad);
        }

        /// The quick prefix reader and the cursor agree on every input.
        #[test]
        fn uvarint_prefix_agrees_with_the_cursor(b in proptest::collection::vec(any::<u8>(), 0..12)) {
            let mut c = Cursor::new(&b, 0, Section::Journal);
            let checked = c.uvarint().ok().map(|v| (v, c.pos()));
            prop_assert_eq!(uvarint_prefix(&b), checked);
        }

        #[test]
        fn zigzag_round_trips(v: i64) {
            prop_assert_eq!(unzigzag(zigzag(v)), v);
        }

        #[test]
        fn cursor_never_panics(data: Vec<u8>) {
            let mut c = Cursor::new(&data, 0, Section::Journal);
            while !c.is_empty() {
                if c.str().is_err() { break; }
            }
        }
    }

    #[test]
    fn overlong_varint_is_an_error() {
        let buf = [0xffu8; 11];
        let mut c = Cursor::new(&buf, 100, Section::Index);
        let err = c.uvarint().unwrap_err();
        assert!(matches!(
            err,
            Error::Corrupt {
                section: Section::Index,
                ..
            }
        ));
    }

    #[test]
    fn hostile_string_length_is_rejected_before_slicing() {
        let mut buf = Vec::new();
        put_uvarint(&mut buf, 4 << 30);
        buf.extend_from_slice(b"abc");
        let mut c = Cursor::new(&buf, 0, Section::Strings);
        assert!(c.bytes().is_err());
    }
}
