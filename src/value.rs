//! Typed field values and their encoding, shared by the journal and the
//! envelope's payload blocks.
//!
//! A field list is encoded as a count byte, then per field its index in the
//! callsite's field names (one byte: `tracing` allows at most 32 fields), a
//! type tag and the value. See `docs/format.md`, "Field lists".

use std::fmt;
use std::sync::{Arc, OnceLock};

use crate::codec::{Cursor, is_utf8, unzigzag, uvarint_prefix};
use crate::error::Error;

pub(crate) const T_FALSE: u8 = 0;
pub(crate) const T_TRUE: u8 = 1;
pub(crate) const T_I64: u8 = 2;
pub(crate) const T_U64: u8 = 3;
pub(crate) const T_I128: u8 = 4;
pub(crate) const T_U128: u8 = 5;
pub(crate) const T_F64: u8 = 6;
pub(crate) const T_STR: u8 = 7;
pub(crate) const T_BYTES: u8 = 8;

/// A field value as recorded, with its type kept.
///
/// `Debug` and `Display` values (`?x`, `%x`) and errors are recorded as
/// strings, since their formatting is all a trace can keep of them.
///
/// ```
/// use bhtrace::Value;
/// assert_eq!(Value::from(3_i64).to_string(), "3");
/// assert_eq!(Value::Str("GET".into()).as_str(), Some("GET"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A `bool`.
    Bool(bool),
    /// A signed integer up to 64 bits.
    I64(i64),
    /// An unsigned integer up to 64 bits.
    U64(u64),
    /// A signed 128-bit integer.
    I128(i128),
    /// An unsigned 128-bit integer.
    U128(u128),
    /// A float.
    F64(f64),
    /// A string, or the formatted form of a `Debug`/`Display`/error value.
    Str(String),
    /// Raw bytes.
    Bytes(Vec<u8>),
}

impl Value {
    /// The string, if this value is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as an `i128` if it is an integer that fits.
    pub fn as_i128(&self) -> Option<i128> {
        match *self {
            Value::I64(v) => Some(i128::from(v)),
            Value::U64(v) => Some(i128::from(v)),
            Value::I128(v) => Some(v),
            Value::U128(v) => i128::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a `bool` if it is one.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(v) => write!(f, "{v}"),
            Value::I64(v) => write!(f, "{v}"),
            Value::U64(v) => write!(f, "{v}"),
            Value::I128(v) => write!(f, "{v}"),
            Value::U128(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
            Value::Str(v) => f.write_str(v),
            Value::Bytes(v) => {
                for b in v {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
        }
    }
}

macro_rules! value_from {
    ($($t:ty => $variant:ident as $as:ty),* $(,)?) => {
        $(impl From<$t> for Value {
            fn from(v: $t) -> Self {
                Value::$variant(<$as>::from(v))
            }
        })*
    };
}

value_from! {
    bool => Bool as bool,
    i64 => I64 as i64,
    i32 => I64 as i64,
    u64 => U64 as u64,
    u32 => U64 as u64,
    i128 => I128 as i128,
    u128 => U128 as u128,
    f64 => F64 as f64,
    &str => Str as String,
    String => Str as String,
}

/// A value as it sits in the file, borrowing strings and bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum RawValue<'a> {
    Bool(bool),
    I64(i64),
    U64(u64),
    I128(i128),
    U128(u128),
    F64(f64),
    Str(&'a str),
    Bytes(&'a [u8]),
}

impl RawValue<'_> {
    pub(crate) fn to_owned(self) -> Value {
        match self {
            RawValue::Bool(v) => Value::Bool(v),
            RawValue::I64(v) => Value::I64(v),
            RawValue::U64(v) => Value::U64(v),
            RawValue::I128(v) => Value::I128(v),
            RawValue::U128(v) => Value::U128(v),
            RawValue::F64(v) => Value::F64(v),
            RawValue::Str(v) => Value::Str(v.to_owned()),
            RawValue::Bytes(v) => Value::Bytes(v.to_vec()),
        }
    }
}

/// Reads one value (type tag, then the value).
pub(crate) fn get_value<'a>(c: &mut Cursor<'a>) -> Result<RawValue<'a>, Error> {
    Ok(match c.u8()? {
        T_FALSE => RawValue::Bool(false),
        T_TRUE => RawValue::Bool(true),
        T_I64 => RawValue::I64(unzigzag(c.uvarint()?)),
        T_U64 => RawValue::U64(c.uvarint()?),
        T_I128 => RawValue::I128(i128::from_le_bytes(c.array()?)),
        T_U128 => RawValue::U128(u128::from_le_bytes(c.array()?)),
        T_F64 => RawValue::F64(f64::from_le_bytes(c.array()?)),
        T_STR => RawValue::Str(c.str()?),
        T_BYTES => RawValue::Bytes(c.bytes()?),
        _ => return Err(c.corrupt("unknown value type tag")),
    })
}

/// Reads a field list, calling `f(field_index, value)` for each field.
pub(crate) fn get_fields<'a>(
    c: &mut Cursor<'a>,
    mut f: impl FnMut(u8, RawValue<'a>) -> Result<(), Error>,
) -> Result<(), Error> {
    let n = c.u8()?;
    for _ in 0..n {
        let idx = c.u8()?;
        let v = get_value(c)?;
        f(idx, v)?;
    }
    Ok(())
}

/// The name readers give field `idx` when its callsite declares no such
/// field: `field#<idx>`. The 256 names are made once per process and shared,
/// so a file full of undeclared fields costs no allocation per field.
pub(crate) fn unnamed_field(idx: u8) -> Arc<str> {
    static NAMES: OnceLock<Vec<Arc<str>>> = OnceLock::new();
    let names = NAMES.get_or_init(|| {
        (0..=u8::MAX)
            .map(|i| Arc::from(format!("field#{i}")))
            .collect()
    });
    names
        .get(usize::from(idx))
        .map_or_else(|| Arc::from(format!("field#{idx}")), Arc::clone)
}

/// How many fields the list at `c` claims, capped by what its bytes can
/// hold (a field takes at least two): a safe capacity for its decoded form,
/// so a one-field list costs one slot, not `Vec`'s first growth of four.
pub(crate) fn field_count_hint(c: &Cursor<'_>) -> usize {
    let mut peek = c.clone();
    peek.u8()
        .map_or(0, |n| usize::from(n).min(peek.remaining() / 2))
}

/// Skips one value: its tag and lengths are checked, and with `text` also
/// that a string is UTF-8.
fn skip_value(c: &mut Cursor<'_>, text: bool) -> Result<(), Error> {
    match c.u8()? {
        T_FALSE | T_TRUE => {}
        T_I64 | T_U64 => {
            c.uvarint()?;
        }
        T_I128 | T_U128 => {
            c.take(16)?;
        }
        T_F64 => {
            c.take(8)?;
        }
        T_STR if text => c.skip_str()?,
        T_STR | T_BYTES => {
            c.bytes()?;
        }
        _ => return Err(c.corrupt("unknown value type tag")),
    }
    Ok(())
}

/// Skips a field list, checking its structure (count, tags, lengths) and,
/// with `text`, that its strings are UTF-8: what decides whether a journal
/// record is readable, so every reader of a journal checks it. Without
/// `text`, for bytes already checked once (the converter's second pass) or
/// decoded later anyway (a payload's recorded fields).
pub(crate) fn skip_fields(c: &mut Cursor<'_>, text: bool) -> Result<(), Error> {
    if let Some(len) = fields_len(c.rest(), text) {
        c.advance(len);
        return Ok(());
    }
    // Not a list the quick reader accepts: read it value by value, which
    // either accepts it too or says what is wrong and where.
    let n = c.u8()?;
    for _ in 0..n {
        c.u8()?;
        skip_value(c, text)?;
    }
    Ok(())
}

/// The byte length of the field list that opens `b`, read on a plain
/// slice: the converter skips millions of lists, twice, and the checked
/// reader's `Result` at every value costs more than the skipping itself.
///
/// `Some(len)` exactly for a list [`skip_fields`]' checked path accepts,
/// with the same length (property tests hold the two to that); `None` for
/// anything else, which that path then reads for its error.
#[inline]
pub(crate) fn fields_len(b: &[u8], text: bool) -> Option<usize> {
    let n = *b.first()?;
    let mut at = 1usize;
    for _ in 0..n {
        // The field's index byte, then its type tag.
        let tag = *b.get(at + 1)?;
        at += 2;
        match tag {
            T_FALSE | T_TRUE => {}
            T_I64 | T_U64 => at += uvarint_prefix(b.get(at..)?)?.1,
            T_I128 | T_U128 => at += 16,
            T_F64 => at += 8,
            T_STR | T_BYTES => {
                let (len, l) = uvarint_prefix(b.get(at..)?)?;
                at += l;
                let end = at.checked_add(usize::try_from(len).ok()?)?;
                let s = b.get(at..end)?;
                if text && tag == T_STR && !is_utf8(s) {
                    return None;
                }
                at = end;
            }
            _ => return None,
        }
    }
    (at <= b.len()).then_some(at)
}

/// Reads a field list, decoding only the fields `wanted(idx)` picks and
/// skipping the others as [`skip_fields`] does.
pub(crate) fn get_some_fields<'a>(
    c: &mut Cursor<'a>,
    mut wanted: impl FnMut(u8) -> bool,
    mut f: impl FnMut(u8, RawValue<'a>) -> Result<(), Error>,
) -> Result<(), Error> {
    let n = c.u8()?;
    for _ in 0..n {
        let idx = c.u8()?;
        if wanted(idx) {
            f(idx, get_value(c)?)?;
        } else {
            skip_value(c, false)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{put_bytes, put_uvarint, zigzag};
    use crate::error::Section;
    use proptest::prelude::*;

    /// Appends one value (type tag, then the value) to `buf`.
    fn put_value(buf: &mut Vec<u8>, v: &Value) {
        match v {
            Value::Bool(b) => buf.push(if *b { T_TRUE } else { T_FALSE }),
            Value::I64(x) => {
                buf.push(T_I64);
                put_uvarint(buf, zigzag(*x));
            }
            Value::U64(x) => {
                buf.push(T_U64);
                put_uvarint(buf, *x);
            }
            Value::I128(x) => {
                buf.push(T_I128);
                buf.extend_from_slice(&x.to_le_bytes());
            }
            Value::U128(x) => {
                buf.push(T_U128);
                buf.extend_from_slice(&x.to_le_bytes());
            }
            Value::F64(x) => {
                buf.push(T_F64);
                buf.extend_from_slice(&x.to_le_bytes());
            }
            Value::Str(s) => {
                buf.push(T_STR);
                put_bytes(buf, s.as_bytes());
            }
            Value::Bytes(b) => {
                buf.push(T_BYTES);
                put_bytes(buf, b);
            }
        }
    }

    fn any_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::I64),
            any::<u64>().prop_map(Value::U64),
            any::<i128>().prop_map(Value::I128),
            any::<u128>().prop_map(Value::U128),
            any::<f64>()
                .prop_filter("NaN never equals itself", |f| !f.is_nan())
                .prop_map(Value::F64),
            ".*".prop_map(Value::Str),
            proptest::collection::vec(any::<u8>(), 0..64).prop_map(Value::Bytes),
        ]
    }

    /// What the checked path makes of `b`: the length it consumes, or
    /// `None` for an error.
    fn checked_len(b: &[u8], text: bool) -> Option<usize> {
        let mut c = Cursor::new(b, 0, Section::Journal);
        let n = c.u8().ok()?;
        for _ in 0..n {
            c.u8().ok()?;
            skip_value(&mut c, text).ok()?;
        }
        Some(c.pos())
    }

    fn field_list(vals: &[Value]) -> Vec<u8> {
        let mut buf = vec![vals.len() as u8];
        for (i, v) in vals.iter().enumerate() {
            buf.push(i as u8);
            put_value(&mut buf, v);
        }
        buf
    }

    proptest! {
        /// Well-formed lists: the quick reader takes them whole.
        #[test]
        fn quick_reader_takes_lists_whole(
            vals in proptest::collection::vec(any_value(), 0..20),
            tail in proptest::collection::vec(any::<u8>(), 0..8),
            text: bool,
        ) {
            let mut buf = field_list(&vals);
            let len = buf.len();
            buf.extend_from_slice(&tail);
            prop_assert_eq!(fields_len(&buf, text), Some(len));
            prop_assert_eq!(checked_len(&buf, text), Some(len));
        }

        /// Any bytes (and lists with bytes flipped or cut): the quick
        /// reader accepts exactly what the checked reader accepts, with the
        /// same length, so a journal reads the same either way.
        #[test]
        fn quick_reader_accepts_what_the_checked_reader_does(
            vals in proptest::collection::vec(any_value(), 0..6),
            noise in proptest::collection::vec(any::<u8>(), 0..40),
            flip in any::<(usize, u8)>(),
            cut in any::<usize>(),
            text: bool,
        ) {
            for mut buf in [noise.clone(), field_list(&vals)] {
                if !buf.is_empty() {
                    let i = flip.0 % buf.len();
                    buf[i] ^= flip.1;
                    buf.truncate(cut % (buf.len() + 1));
                }
                prop_assert_eq!(fields_len(&buf, text), checked_len(&buf, text));
            }
        }
    }

    #[test]
    fn quick_reader_checks_text_only_when_asked() {
        let mut buf = vec![1, 0, T_STR, 2, 0xc3, 0x28];
        assert_eq!(fields_len(&buf, false), Some(buf.len()));
        assert_eq!(fields_len(&buf, true), None);
        assert_eq!(checked_len(&buf, true), None);
        buf[4] = 0xc3;
        buf[5] = 0xa9; // "é"
        assert_eq!(fields_len(&buf, true), Some(buf.len()));
    }

    proptest! {
        #[test]
        fn values_round_trip(vals in proptest::collection::vec(any_value(), 0..20)) {
            let mut buf = Vec::new();
            for v in &vals { put_value(&mut buf, v); }
            let mut c = Cursor::new(&buf, 0, Section::Payload);
            for v in &vals {
                prop_assert_eq!(&get_value(&mut c).unwrap().to_owned(), v);
            }
            prop_assert!(c.is_empty());
        }
    }
}
