//! [`FieldValue`]: what an assertion compares a recorded field with.

use crate::value::Value;

use super::render::value_text;

/// A value an assertion compares a recorded field with.
///
/// Integers compare by value whatever their width or sign (`tracing`
/// records `3` as an `i64` and `3u8` as a `u64`; both equal `3usize`),
/// strings compare with string fields — including fields recorded with `?`
/// or `%`, which a trace keeps as their formatted text — and floats and
/// bools compare with their own kind.
///
/// ```
/// use bhtrace::Value;
/// use bhtrace::testing::FieldValue;
///
/// assert!(3_usize.matches_field(&Value::I64(3)));
/// assert!("GET".matches_field(&Value::Str("GET".into())));
/// assert!(!"3".matches_field(&Value::I64(3)));
/// assert_eq!(1.5_f64.describe(), "1.5");
/// ```
pub trait FieldValue {
    /// True if the recorded `value` equals this one.
    fn matches_field(&self, value: &Value) -> bool;

    /// This value as the trace's text renders it (strings quoted), for
    /// failure messages.
    fn describe(&self) -> String;
}

impl<T: FieldValue + ?Sized> FieldValue for &T {
    fn matches_field(&self, value: &Value) -> bool {
        (**self).matches_field(value)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

impl FieldValue for str {
    fn matches_field(&self, value: &Value) -> bool {
        value.as_str() == Some(self)
    }
    fn describe(&self) -> String {
        format!("{self:?}")
    }
}

impl FieldValue for String {
    fn matches_field(&self, value: &Value) -> bool {
        self.as_str().matches_field(value)
    }
    fn describe(&self) -> String {
        self.as_str().describe()
    }
}

impl FieldValue for bool {
    fn matches_field(&self, value: &Value) -> bool {
        value.as_bool() == Some(*self)
    }
    fn describe(&self) -> String {
        self.to_string()
    }
}

macro_rules! int_field_value {
    ($($t:ty),*) => {$(
        impl FieldValue for $t {
            fn matches_field(&self, value: &Value) -> bool {
                value.as_i128() == Some(i128::from(*self))
            }
            fn describe(&self) -> String {
                self.to_string()
            }
        }
    )*};
}

int_field_value!(i8, i16, i32, i64, i128, u8, u16, u32, u64);

impl FieldValue for isize {
    fn matches_field(&self, value: &Value) -> bool {
        (*self as i64).matches_field(value)
    }
    fn describe(&self) -> String {
        self.to_string()
    }
}

impl FieldValue for usize {
    fn matches_field(&self, value: &Value) -> bool {
        (*self as u64).matches_field(value)
    }
    fn describe(&self) -> String {
        self.to_string()
    }
}

impl FieldValue for u128 {
    fn matches_field(&self, value: &Value) -> bool {
        match *value {
            Value::U128(v) => v == *self,
            _ => i128::try_from(*self).is_ok_and(|me| value.as_i128() == Some(me)),
        }
    }
    fn describe(&self) -> String {
        self.to_string()
    }
}

impl FieldValue for f64 {
    fn matches_field(&self, value: &Value) -> bool {
        matches!(*value, Value::F64(v) if v == *self)
    }
    fn describe(&self) -> String {
        self.to_string()
    }
}

impl FieldValue for f32 {
    fn matches_field(&self, value: &Value) -> bool {
        f64::from(*self).matches_field(value)
    }
    fn describe(&self) -> String {
        self.to_string()
    }
}

impl FieldValue for Value {
    fn matches_field(&self, value: &Value) -> bool {
        match (self, value) {
            (Value::U128(a), _) => a.matches_field(value),
            (_, Value::U128(b)) => b.matches_field(self),
            _ => match (self.as_i128(), value.as_i128()) {
                (Some(a), Some(b)) => a == b,
                _ => self == value,
            },
        }
    }
    fn describe(&self) -> String {
        value_text(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_match_by_value_across_widths_and_signs() {
        assert!(3_u8.matches_field(&Value::I64(3)));
        assert!(3_i32.matches_field(&Value::U64(3)));
        assert!((-3_i8).matches_field(&Value::I64(-3)));
        assert!(!(-3_i64).matches_field(&Value::U64(3)));
        assert!(u128::MAX.matches_field(&Value::U128(u128::MAX)));
        assert!(!u128::MAX.matches_field(&Value::I128(-1)));
        assert!(7_u128.matches_field(&Value::I64(7)));
        assert!(Value::U64(7).matches_field(&Value::I128(7)));
        assert!(Value::I64(7).matches_field(&Value::U128(7)));
        assert!(!Value::I64(7).matches_field(&Value::Str("7".into())));
    }

    #[test]
    fn other_kinds_match_their_own_kind_only() {
        assert!(0.25_f32.matches_field(&Value::F64(0.25)));
        assert!(!1.0_f64.matches_field(&Value::I64(1)));
        assert!(!f64::NAN.matches_field(&Value::F64(f64::NAN)));
        assert!(true.matches_field(&Value::Bool(true)));
        assert!(!true.matches_field(&Value::Str("true".into())));
        assert!(String::from("a").matches_field(&Value::Str("a".into())));
        assert!(!"a".matches_field(&Value::Bytes(b"a".to_vec())));
        assert_eq!("a\"b".describe(), r#""a\"b""#);
        assert_eq!(Value::F64(2.0).describe(), "2.0");
    }
}
