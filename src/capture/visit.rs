//! Encodes a span's or event's fields straight into the record buffer, with
//! their types kept, and without an allocation per field.

use std::fmt::{self, Write as _};

use tracing_core::field::{Field, Visit};

use crate::codec::{Head, put_bytes, put_uvarint, uvarint_array, zigzag};
use crate::value::{T_BYTES, T_F64, T_FALSE, T_I64, T_I128, T_STR, T_TRUE, T_U64, T_U128};

/// The longest string or byte value kept; longer strings are cut there and
/// end with a marker, longer byte values are cut, so one huge value cannot
/// make a frame no reader would accept.
pub(crate) const MAX_VALUE_LEN: usize = 1 << 20;

const REDACTED: &str = "[redacted]";
const CUT_MARK: &str = "…[cut]";

/// Appends a field list: a count byte (patched at the end), then per field
/// its index, a type tag and the value.
pub(crate) struct FieldEncoder<'a> {
    buf: &'a mut Vec<u8>,
    count_at: usize,
    count: u8,
    /// Bit i set: the value of field i is replaced by "[redacted]".
    redact: u32,
}

impl<'a> FieldEncoder<'a> {
    #[inline]
    pub(crate) fn new(buf: &'a mut Vec<u8>, redact: u32) -> Self {
        let count_at = buf.len();
        buf.push(0);
        FieldEncoder {
            buf,
            count_at,
            count: 0,
            redact,
        }
    }

    /// The field's index byte, counted, or `None` when the field is skipped
    /// or its value is redacted (in which case the index and the redaction
    /// marker have been written).
    #[inline(always)]
    fn field(&mut self, field: &Field) -> Option<u8> {
        let idx = field.index();
        // tracing allows 32 fields per callsite and the field list stores
        // indices in one byte: a field past that is skipped.
        if idx > 255 || self.count == u8::MAX {
            return None;
        }
        self.count += 1;
        if idx < 32 && self.redact & (1 << idx) != 0 {
            self.buf.push(idx as u8);
            self.buf.push(T_STR);
            put_bytes(self.buf, REDACTED.as_bytes());
            return None;
        }
        Some(idx as u8)
    }

    /// An integer value: index, tag and a value below 128 in one 3-byte
    /// copy, or through a [`Head`].
    #[inline]
    fn put_varint(&mut self, idx: u8, tag: u8, v: u64) {
        if v < 0x80 {
            self.buf.extend_from_slice(&[idx, tag, v as u8]);
        } else {
            Head::<16>::new(idx)
                .byte(tag)
                .uvarint(v)
                .append_to(self.buf);
        }
    }

    #[inline]
    fn put_str(&mut self, idx: u8, s: &str) {
        if s.len() < 0x80 {
            // The common case: the index, tag and length in one copy.
            self.buf.extend_from_slice(&[idx, T_STR, s.len() as u8]);
            self.buf.extend_from_slice(s.as_bytes());
        } else if s.len() <= MAX_VALUE_LEN {
            Head::<16>::new(idx)
                .byte(T_STR)
                .uvarint(s.len() as u64)
                .append_to(self.buf);
            self.buf.extend_from_slice(s.as_bytes());
        } else {
            self.buf.push(idx);
            self.buf.push(T_STR);
            let mut end = MAX_VALUE_LEN;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            put_uvarint(self.buf, (end + CUT_MARK.len()) as u64);
            self.buf.extend_from_slice(&s.as_bytes()[..end]);
            self.buf.extend_from_slice(CUT_MARK.as_bytes());
        }
    }

    /// Formats `value` into the buffer as a string: one byte is reserved for
    /// the length and the text is shifted only when it needs a longer one.
    fn put_fmt(&mut self, idx: u8, value: fmt::Arguments<'_>) {
        self.buf.push(idx);
        self.buf.push(T_STR);
        let len_at = self.buf.len();
        self.buf.push(0);
        let mut w = CappedWriter {
            buf: self.buf,
            left: MAX_VALUE_LEN,
            cut: false,
        };
        let _ = w.write_fmt(value);
        if w.cut {
            self.buf.extend_from_slice(CUT_MARK.as_bytes());
        }
        let len = self.buf.len() - len_at - 1;
        if len < 0x80 {
            self.buf[len_at] = len as u8;
        } else {
            let (prefix, n) = uvarint_array(len as u64);
            self.buf
                .splice(len_at..len_at + 1, prefix[..n].iter().copied());
        }
    }

    /// Patches the count byte.
    #[inline]
    pub(crate) fn finish(self) {
        self.buf[self.count_at] = self.count;
    }
}

struct CappedWriter<'a> {
    buf: &'a mut Vec<u8>,
    left: usize,
    cut: bool,
}

impl fmt::Write for CappedWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if s.len() <= self.left {
            self.buf.extend_from_slice(s.as_bytes());
            self.left -= s.len();
        } else if !self.cut {
            let mut end = self.left;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            self.buf.extend_from_slice(&s.as_bytes()[..end]);
            self.left = 0;
            self.cut = true;
        }
        Ok(())
    }
}

impl Visit for FieldEncoder<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        if let Some(idx) = self.field(field) {
            let mut h = Head::<16>::new(idx).byte(T_F64);
            for b in value.to_le_bytes() {
                h = h.byte(b);
            }
            h.append_to(self.buf);
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if let Some(idx) = self.field(field) {
            self.put_varint(idx, T_I64, zigzag(value));
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if let Some(idx) = self.field(field) {
            self.put_varint(idx, T_U64, value);
        }
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        if let Some(idx) = self.field(field) {
            self.buf.push(idx);
            self.buf.push(T_I128);
            self.buf.extend_from_slice(&value.to_le_bytes());
        }
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        if let Some(idx) = self.field(field) {
            self.buf.push(idx);
            self.buf.push(T_U128);
            self.buf.extend_from_slice(&value.to_le_bytes());
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if let Some(idx) = self.field(field) {
            self.buf.push(idx);
            self.buf.push(if value { T_TRUE } else { T_FALSE });
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if let Some(idx) = self.field(field) {
            self.put_str(idx, value);
        }
    }

    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        if let Some(idx) = self.field(field) {
            let v = &value[..value.len().min(MAX_VALUE_LEN)];
            Head::<16>::new(idx)
                .byte(T_BYTES)
                .uvarint(v.len() as u64)
                .append_to(self.buf);
            self.buf.extend_from_slice(v);
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if let Some(idx) = self.field(field) {
            // The error and its chain of sources, as `Display` shows them.
            self.put_fmt(idx, format_args!("{}", ErrorChain(value)));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if let Some(idx) = self.field(field) {
            self.put_fmt(idx, format_args!("{value:?}"));
        }
    }
}

struct ErrorChain<'a>(&'a (dyn std::error::Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}
