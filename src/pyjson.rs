//! JSON text exactly as Python's `json.dumps` writes it.
//!
//! Awkward writes forms with `json.dumps(d)` (separators `", "` and `": "`,
//! `ensure_ascii=True`) and `ak.to_json` with separators `","` and `":"`.
//! Floats are Python's `repr`: the shortest round-trip digits, fixed notation
//! for decimal exponents in `-5 < e < 16`, else `1e+300` style.

use serde_json::Value;
use std::fmt::Write as _;

/// Separators between items and between a key and its value.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Style {
    pub(crate) item: &'static str,
    pub(crate) key: &'static str,
}

/// `json.dumps` defaults: `", "` and `": "`.
pub(crate) const SPACED: Style = Style {
    item: ", ",
    key: ": ",
};

/// Writes a string as a JSON string literal with ASCII escapes.
pub(crate) fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        write_char(out, c);
    }
    out.push('"');
}

fn write_char(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        ' '..='~' => out.push(c),
        _ => {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{unit:04x}");
            }
        }
    }
}

/// Writes UTF-8 bytes as a JSON string the way Python decodes them with
/// `errors="surrogateescape"` and `json.dumps` re-encodes them: each invalid
/// byte `b` becomes the lone surrogate `\udcXX`.
pub(crate) fn write_bytes_as_str(out: &mut String, mut bytes: &[u8]) {
    out.push('"');
    loop {
        match std::str::from_utf8(bytes) {
            Ok(s) => {
                for c in s.chars() {
                    write_char(out, c);
                }
                break;
            }
            Err(e) => {
                let (good, rest) = bytes.split_at(e.valid_up_to());
                // `good` was just validated as UTF-8.
                for c in std::str::from_utf8(good).unwrap_or_default().chars() {
                    write_char(out, c);
                }
                let bad = e.error_len().unwrap_or(rest.len());
                for b in &rest[..bad] {
                    let _ = write!(out, "\\udc{b:02x}");
                }
                bytes = &rest[bad..];
            }
        }
    }
    out.push('"');
}

/// Python's `repr(float)` for a finite value; NaN and infinities as Python's
/// `json.dumps` (`NaN`, `Infinity`, `-Infinity`).
///
/// The digits come from `zmij` (Schubfach: the shortest string that reads
/// back as `x`, the nearest to `x` among them, as Python's `repr` picks);
/// its fixed form is Python's (`12.34`, `1000000000000000.0`) except that it
/// writes values in `[1e-5, 1e-4)` in fixed form, which Python writes with
/// an exponent; exponents get Python's sign and two digits at least
/// (`1e-07`, `1e+16`, `5e-324`).
/// The unit test compares both with Python's own output and, on random bit
/// patterns (4 million in a long run), with the slower formatting akbuf used before.
pub(crate) fn write_f64(out: &mut String, x: f64) {
    if x.is_nan() {
        out.push_str("NaN");
        return;
    }
    if x.is_infinite() {
        out.push_str(if x > 0.0 { "Infinity" } else { "-Infinity" });
        return;
    }
    let mut buf = zmij::Buffer::new();
    let text = buf.format_finite(x);
    let a = x.abs();
    if a != 0.0 && a < 1e-4 && !text.contains('e') {
        // "0.0000dddd" (exponent -5): Python writes "d.ddde-05".
        let (sign, rest) = match text.strip_prefix('-') {
            Some(r) => ("-", r),
            None => ("", text),
        };
        let digits = rest.trim_start_matches(['0', '.']);
        out.push_str(sign);
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push_str("e-05");
        return;
    }
    match text.split_once('e') {
        // Python writes at least two exponent digits and always a sign.
        Some((mantissa, exp)) => {
            let (sign, digits) = match exp.as_bytes().first() {
                Some(b'-') => ('-', &exp[1..]),
                Some(b'+') => ('+', &exp[1..]),
                _ => ('+', exp),
            };
            out.push_str(mantissa);
            out.push('e');
            out.push(sign);
            if digits.len() < 2 {
                out.push('0');
            }
            out.push_str(digits);
        }
        None => out.push_str(text),
    }
}

/// Writes any JSON value in Python's style.
pub(crate) fn write_value(out: &mut String, v: &Value, style: Style) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                let _ = write!(out, "{i}");
            } else if let Some(u) = n.as_u64() {
                let _ = write!(out, "{u}");
            } else {
                write_f64(out, n.as_f64().unwrap_or(f64::NAN));
            }
        }
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(style.item);
                }
                write_value(out, item, style);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(style.item);
                }
                write_str(out, k);
                out.push_str(style.key);
                write_value(out, item, style);
            }
            out.push('}');
        }
    }
}

/// `json.dumps(v)` with default separators.
pub(crate) fn dumps(v: &Value) -> String {
    let mut s = String::new();
    write_value(&mut s, v, SPACED);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repr(x: f64) -> String {
        let mut s = String::new();
        write_f64(&mut s, x);
        s
    }

    #[test]
    fn float_repr_matches_python() {
        // Values and their Python 3.11 `repr`.
        let cases = [
            (1.0, "1.0"),
            (2.5, "2.5"),
            (1e300, "1e+300"),
            (1e-7, "1e-07"),
            (0.1, "0.1"),
            (1.2345678901234568e16, "1.2345678901234568e+16"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (f32::MAX as f64, "3.4028234663852886e+38"),
            (0.1f32 as f64, "0.10000000149011612"),
            (123.456, "123.456"),
            (-1.5e-10, "-1.5e-10"),
            (5e-324, "5e-324"),
            (f64::from(10.764_969_f32), "10.764968872070312"),
            (2f64.powi(-24), "5.960464477539063e-08"),
        ];
        for (x, want) in cases {
            assert_eq!(repr(x), want, "repr of {x:e}");
        }
    }

    /// The formatting used before `zmij` (two `std` formats and a parse),
    /// checked against Python on `tests/fixtures/float_repr.json`.
    /// Python's `repr(float)` for a finite value; NaN and infinities as Python's
    /// `json.dumps` (`NaN`, `Infinity`, `-Infinity`).
    fn reference_f64(out: &mut String, x: f64) {
        if x.is_nan() {
            out.push_str("NaN");
            return;
        }
        if x.is_infinite() {
            out.push_str(if x > 0.0 { "Infinity" } else { "-Infinity" });
            return;
        }
        if x.is_sign_negative() {
            out.push('-');
        }
        let a = x.abs();
        if a == 0.0 {
            out.push_str("0.0");
            return;
        }
        // `{:e}` gives a shortest round-trip digit string ("1.2345e16", "1e-7").
        // Python picks, among the shortest strings that round-trip, the nearest
        // to the value with ties to even: the exact-mode rounding to the same
        // number of digits, when that one round-trips (10.7649688720703125 ->
        // ...312; but 2**-24 keeps ...063, as ...062 would not round-trip).
        let shortest = format!("{a:e}");
        let ndigits = shortest
            .split_once('e')
            .map_or(1, |(m, _)| m.chars().filter(char::is_ascii_digit).count());
        let nearest = format!("{a:.prec$e}", prec = ndigits.saturating_sub(1));
        let sci = if nearest.parse::<f64>() == Ok(a) {
            nearest
        } else {
            shortest
        };
        let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let digits: String = mant.chars().filter(|c| *c != '.').collect();
        if !(-5 < exp && exp < 16) {
            out.push_str(&digits[..1]);
            if digits.len() > 1 {
                out.push('.');
                out.push_str(&digits[1..]);
            }
            let _ = write!(
                out,
                "e{}{:02}",
                if exp < 0 { '-' } else { '+' },
                exp.unsigned_abs()
            );
        } else if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                for _ in digits.len()..int_len {
                    out.push('0');
                }
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            for _ in 0..(-exp - 1) {
                out.push('0');
            }
            out.push_str(&digits);
        }
    }

    #[test]
    fn zmij_digits_equal_the_reference_on_random_bits() {
        // A xorshift stream of bit patterns (every exponent), plus the
        // neighbours of every power of ten.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let check = |x: f64| {
            if x.is_finite() {
                let (mut a, mut b) = (String::new(), String::new());
                write_f64(&mut a, x);
                reference_f64(&mut b, x);
                assert_eq!(a, b, "bits {:#x}", x.to_bits());
            }
        };
        // AKBUF_FLOAT_SAMPLES=4000000 for a long run (in release).
        let n: usize = std::env::var("AKBUF_FLOAT_SAMPLES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(200_000);
        for _ in 0..n {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            check(f64::from_bits(state));
            check(f64::from(f32::from_bits(state as u32)));
        }
        for e in -320..309 {
            let p = format!("1e{e}").parse::<f64>().unwrap();
            for x in [
                p,
                f64::from_bits(p.to_bits() + 1),
                f64::from_bits(p.to_bits() - 1),
            ] {
                check(x);
                check(-x);
            }
        }
    }

    #[test]
    fn strings_escape_like_python() {
        let mut s = String::new();
        write_str(&mut s, "é\"\n\u{1F600}a");
        assert_eq!(s, r#""\u00e9\"\n\ud83d\ude00a""#);
        let mut s = String::new();
        write_bytes_as_str(&mut s, b"a\xffb\xc3\xa9");
        assert_eq!(s, r#""a\udcffb\u00e9""#);
    }
}
