//! One element of an array, as a tree of plain Rust values.

use crate::form::TimeUnit;
use crate::pyjson;
use std::fmt::Write as _;
use std::sync::Arc;

/// One element of an array.
///
/// [`Value::to_json`] writes it with the crate's [JSON mapping](crate#json): exact
/// integers, floats as the shortest round-trip of their float64 value
/// (Python's `repr`), `"nan"`/`"inf"`/`"-inf"` strings, complex as
/// `{"real": x, "imag": y}`, datetimes as their int64 count, bytestrings as
/// arrays of byte values, tuples as arrays.
///
/// ```
/// use akbuf::Value;
///
/// let v = Value::List(vec![Value::Float(0.1f32 as f64), Value::Null, Value::Float(f64::NAN)]);
/// assert_eq!(v.to_json(), r#"[0.10000000149011612,null,"nan"]"#);
/// assert_eq!(Value::String(b"\xc3\xa9".to_vec()).to_json(), r#""\u00e9""#);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// A missing value.
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    UInt(u64),
    /// A float, widened to `f64`.
    Float(f64),
    /// A complex number (real, imaginary).
    Complex(f64, f64),
    /// A `datetime64`: the stored count of the unit.
    DateTime(i64, TimeUnit),
    /// A `timedelta64`: the stored count of the unit.
    TimeDelta(i64, TimeUnit),
    /// A string (`__array__: "string"`): the stored UTF-8 bytes, which may be invalid.
    String(Vec<u8>),
    /// A bytestring (`__array__: "bytestring"`).
    Bytes(Vec<u8>),
    /// A variable or regular list.
    List(Vec<Value>),
    /// A record: field names (shared by all elements) and values.
    Record(Arc<[String]>, Vec<Value>),
    /// A tuple.
    Tuple(Vec<Value>),
}

impl Value {
    /// Whether this is [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value as `f64`, for numbers.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Int(i) => Some(i as f64),
            Value::UInt(u) => Some(u as f64),
            Value::Float(f) => Some(f),
            Value::Bool(b) => Some(f64::from(u8::from(b))),
            _ => None,
        }
    }

    /// The value as `i64`, for integers that fit.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Int(i) | Value::DateTime(i, _) | Value::TimeDelta(i, _) => Some(i),
            Value::UInt(u) => i64::try_from(u).ok(),
            _ => None,
        }
    }

    /// The string, if this is a valid UTF-8 [`Value::String`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    /// The items of a list or tuple.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(v) | Value::Tuple(v) => Some(v),
            _ => None,
        }
    }

    /// A record's field by name (of a name given twice, the last, as
    /// awkward's `to_list` keeps it).
    pub fn get(&self, field: &str) -> Option<&Value> {
        match self {
            Value::Record(names, values) => names
                .iter()
                .rposition(|n| n == field)
                .and_then(|i| values.get(i)),
            _ => None,
        }
    }

    /// Appends the JSON text of this value to `out`.
    pub fn write_json(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) | Value::DateTime(i, _) | Value::TimeDelta(i, _) => {
                let _ = write!(out, "{i}");
            }
            Value::UInt(u) => {
                let _ = write!(out, "{u}");
            }
            Value::Float(f) => write_float(out, *f),
            Value::Complex(re, im) => {
                out.push_str("{\"real\":");
                write_float(out, *re);
                out.push_str(",\"imag\":");
                write_float(out, *im);
                out.push('}');
            }
            Value::String(bytes) => pyjson::write_bytes_as_str(out, bytes),
            Value::Bytes(bytes) => Value::write_byte_list(out, bytes),
            Value::List(items) | Value::Tuple(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write_json(out);
                }
                out.push(']');
            }
            Value::Record(names, values) => {
                out.push('{');
                // (where names repeat, the fields a Python dict keeps)
                let order = dict_order(names);
                let n = order.as_ref().map_or(names.len(), Vec::len);
                for i in 0..n {
                    let f = order.as_ref().map_or(i, |o| o[i]);
                    let (Some(k), Some(v)) = (names.get(f), values.get(f)) else {
                        continue;
                    };
                    if i > 0 {
                        out.push(',');
                    }
                    pyjson::write_str(out, k);
                    out.push(':');
                    v.write_json(out);
                }
                out.push('}');
            }
        }
    }

    /// A bytestring's JSON: the byte values as an array.
    pub(crate) fn write_byte_list(out: &mut String, bytes: &[u8]) {
        out.push('[');
        for (i, b) in bytes.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{b}");
        }
        out.push(']');
    }

    /// The JSON text of this value.
    pub fn to_json(&self) -> String {
        let mut s = String::new();
        self.write_json(&mut s);
        s
    }
}

fn write_float(out: &mut String, f: f64) {
    if f.is_nan() {
        out.push_str("\"nan\"");
    } else if f.is_infinite() {
        out.push_str(if f > 0.0 { "\"inf\"" } else { "\"-inf\"" });
    } else {
        pyjson::write_f64(out, f);
    }
}

/// IEEE half precision bits to `f64` (exact).
pub(crate) fn f16_to_f64(bits: u16) -> f64 {
    half::f16::from_bits(bits).to_f64()
}

/// x87 80-bit extended precision (numpy's `float128` on x86-64, stored in
/// 16 little-endian bytes) to the nearest `f64`.
pub(crate) fn f80_to_f64(bytes: &[u8]) -> f64 {
    let mut m = [0u8; 8];
    m.copy_from_slice(&bytes[..8]);
    let mantissa = u64::from_le_bytes(m);
    let se = u16::from_le_bytes([bytes[8], bytes[9]]);
    let sign = if se & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from(se & 0x7fff);
    if exp == 0x7fff {
        return if mantissa << 1 == 0 {
            sign * f64::INFINITY
        } else {
            f64::NAN
        };
    }
    if mantissa == 0 {
        return sign * 0.0;
    }
    // value = mantissa * 2^(exp - 16383 - 63); scale in steps that stay finite.
    let mut v = mantissa as f64;
    let mut e = exp - 16383 - 63;
    while e > 1000 {
        v *= 2f64.powi(1000);
        e -= 1000;
    }
    while e < -1000 {
        v *= 2f64.powi(-1000);
        e += 1000;
    }
    sign * v * 2f64.powi(e)
}

/// For a record whose names repeat, the fields a Python dict keeps, in its
/// order (awkward's `to_list`): each name where it first appears, with the
/// value of its last appearance; `None` when no name repeats.
pub(crate) fn dict_order(names: &[String]) -> Option<Vec<usize>> {
    // Most records have few fields and no repeats: find that without
    // allocating.
    if names.len() <= 16
        && names
            .iter()
            .enumerate()
            .all(|(i, n)| !names[i + 1..].contains(n))
    {
        return None;
    }
    let mut seen = std::collections::HashMap::with_capacity(names.len());
    let mut order: Vec<usize> = Vec::with_capacity(names.len());
    let mut repeats = false;
    for (i, n) in names.iter().enumerate() {
        match seen.get(n.as_str()) {
            Some(&slot) => {
                order[slot] = i;
                repeats = true;
            }
            None => {
                seen.insert(n.as_str(), order.len());
                order.push(i);
            }
        }
    }
    repeats.then_some(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The conversion used before `half`, for comparison.
    fn reference_f16(bits: u16) -> f64 {
        let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
        let exp = i32::from((bits >> 10) & 0x1f);
        let frac = f64::from(bits & 0x3ff);
        let mag = match exp {
            0 => frac * 2f64.powi(-24),
            31 if frac == 0.0 => f64::INFINITY,
            31 => f64::NAN,
            e => (1.0 + frac / 1024.0) * 2f64.powi(e - 15),
        };
        sign * mag
    }

    #[test]
    fn every_half_float_converts_as_before() {
        for bits in 0..=u16::MAX {
            let (a, b) = (f16_to_f64(bits), reference_f16(bits));
            assert!(
                a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                "{bits:#x}"
            );
        }
    }

    #[test]
    fn half_and_extended_floats_convert() {
        assert_eq!(f16_to_f64(0x3c00), 1.0);
        assert_eq!(f16_to_f64(0xc000), -2.0);
        assert_eq!(f16_to_f64(0x0001), 2f64.powi(-24));
        assert!(f16_to_f64(0x7e00).is_nan());
        assert_eq!(f16_to_f64(0x7c00), f64::INFINITY);
        assert_eq!(f16_to_f64(0x8000).to_bits(), (-0.0f64).to_bits());
        // 1.5 as x87 extended: mantissa 0xC000..., exponent 16383.
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&0xC000_0000_0000_0000u64.to_le_bytes());
        b[8..10].copy_from_slice(&16383u16.to_le_bytes());
        assert_eq!(f80_to_f64(&b), 1.5);
    }
}
