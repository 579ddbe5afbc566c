//! Primitive element types and index types.

use std::fmt;

/// The unit of a `datetime64` / `timedelta64` primitive, as numpy writes it:
/// an optional multiple and a unit code (`s`, `15us`, `2D`), or generic.
///
/// ```
/// use akbuf::Primitive;
///
/// let p = Primitive::parse("datetime64[ 15us]").unwrap();
/// assert_eq!(p.to_string(), "datetime64[15us]");
/// assert_eq!(Primitive::parse("timedelta64[1s]").unwrap().to_string(), "timedelta64[s]");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimeUnit {
    /// The multiple (1 when written without one).
    pub multiple: u32,
    /// The unit code: `Y M W D h m s ms us ns ps fs as`, or `""` for generic.
    pub code: &'static str,
}

const UNIT_CODES: [&str; 13] = [
    "Y", "M", "W", "D", "h", "m", "s", "ms", "us", "ns", "ps", "fs", "as",
];

impl TimeUnit {
    /// The generic unit (bare `datetime64`).
    pub const GENERIC: TimeUnit = TimeUnit {
        multiple: 1,
        code: "",
    };

    fn parse_bracket(inner: &str) -> Option<TimeUnit> {
        let s = inner.trim_start();
        let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (num, code) = s.split_at(digits_end);
        let code = UNIT_CODES.iter().find(|c| **c == code)?;
        let multiple = if num.is_empty() {
            1
        } else {
            num.parse::<u32>().ok().filter(|m| *m > 0)?
        };
        Some(TimeUnit { multiple, code })
    }
}

impl fmt::Display for TimeUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.code.is_empty() {
            return Ok(());
        }
        if self.multiple == 1 {
            write!(f, "[{}]", self.code)
        } else {
            write!(f, "[{}{}]", self.multiple, self.code)
        }
    }
}

/// The element type of a `NumpyArray`.
///
/// ```
/// use akbuf::Primitive;
///
/// assert_eq!(Primitive::parse("float32").unwrap().itemsize(), 4);
/// assert_eq!(Primitive::parse("complex128").unwrap().itemsize(), 16);
/// assert!(Primitive::parse("int").is_none());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Primitive {
    /// One byte; any non-zero byte is true.
    Bool,
    /// `int8`.
    Int8,
    /// `uint8`.
    UInt8,
    /// `int16`.
    Int16,
    /// `uint16`.
    UInt16,
    /// `int32`.
    Int32,
    /// `uint32`.
    UInt32,
    /// `int64`.
    Int64,
    /// `uint64`.
    UInt64,
    /// IEEE half precision.
    Float16,
    /// `float32`.
    Float32,
    /// `float64`.
    Float64,
    /// x86 80-bit extended precision stored in 16 bytes.
    Float128,
    /// Pairs of `float32`.
    Complex64,
    /// Pairs of `float64`.
    Complex128,
    /// Pairs of `float128`.
    Complex256,
    /// `int64` counts of a unit since the epoch.
    Datetime64(TimeUnit),
    /// `int64` counts of a unit.
    Timedelta64(TimeUnit),
}

impl Primitive {
    /// Parses a primitive name as awkward does (`"float64"`, `"datetime64[ms]"`).
    pub fn parse(s: &str) -> Option<Primitive> {
        use Primitive::*;
        Some(match s {
            "bool" => Bool,
            "int8" => Int8,
            "uint8" => UInt8,
            "int16" => Int16,
            "uint16" => UInt16,
            "int32" => Int32,
            "uint32" => UInt32,
            "int64" => Int64,
            "uint64" => UInt64,
            "float16" => Float16,
            "float32" => Float32,
            "float64" => Float64,
            "float128" => Float128,
            "complex64" => Complex64,
            "complex128" => Complex128,
            "complex256" => Complex256,
            "datetime64" => Datetime64(TimeUnit::GENERIC),
            "timedelta64" => Timedelta64(TimeUnit::GENERIC),
            _ => {
                let (ctor, rest): (fn(TimeUnit) -> Primitive, &str) =
                    if let Some(r) = s.strip_prefix("datetime64[") {
                        (Datetime64, r)
                    } else if let Some(r) = s.strip_prefix("timedelta64[") {
                        (Timedelta64, r)
                    } else {
                        return None;
                    };
                let inner = rest.strip_suffix(']')?;
                ctor(TimeUnit::parse_bracket(inner)?)
            }
        })
    }

    /// Bytes per element.
    pub fn itemsize(self) -> usize {
        use Primitive::*;
        match self {
            Bool | Int8 | UInt8 => 1,
            Int16 | UInt16 | Float16 => 2,
            Int32 | UInt32 | Float32 => 4,
            Int64 | UInt64 | Float64 | Complex64 | Datetime64(_) | Timedelta64(_) => 8,
            Float128 | Complex128 => 16,
            Complex256 => 32,
        }
    }

    /// The size of the scalar that byte swapping acts on (complex numbers swap
    /// each half separately).
    pub fn swap_unit(self) -> usize {
        match self {
            Primitive::Complex64 => 4,
            Primitive::Complex128 => 8,
            Primitive::Complex256 => 16,
            p => p.itemsize(),
        }
    }

    /// Alignment the element type needs for a typed view.
    pub fn align(self) -> usize {
        self.swap_unit().min(16)
    }
}

impl fmt::Display for Primitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Primitive::*;
        let name = match self {
            Bool => "bool",
            Int8 => "int8",
            UInt8 => "uint8",
            Int16 => "int16",
            UInt16 => "uint16",
            Int32 => "int32",
            UInt32 => "uint32",
            Int64 => "int64",
            UInt64 => "uint64",
            Float16 => "float16",
            Float32 => "float32",
            Float64 => "float64",
            Float128 => "float128",
            Complex64 => "complex64",
            Complex128 => "complex128",
            Complex256 => "complex256",
            Datetime64(u) => return write!(f, "datetime64{u}"),
            Timedelta64(u) => return write!(f, "timedelta64{u}"),
        };
        f.write_str(name)
    }
}

/// The integer type of an index-like buffer (`offsets`, `index`, `mask`, ...).
///
/// ```
/// use akbuf::IndexType;
///
/// assert_eq!(IndexType::parse("i64"), Some(IndexType::I64));
/// assert_eq!(IndexType::I32.itemsize(), 4);
/// assert_eq!(IndexType::U8.to_string(), "u8");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IndexType {
    /// `int8` (masks, tags).
    I8,
    /// `uint8` (bit masks).
    U8,
    /// `int32`.
    I32,
    /// `uint32`.
    U32,
    /// `int64`.
    I64,
}

impl IndexType {
    /// Parses `i8`, `u8`, `i32`, `u32` or `i64`.
    pub fn parse(s: &str) -> Option<IndexType> {
        Some(match s {
            "i8" => IndexType::I8,
            "u8" => IndexType::U8,
            "i32" => IndexType::I32,
            "u32" => IndexType::U32,
            "i64" => IndexType::I64,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn itemsize(self) -> usize {
        match self {
            IndexType::I8 | IndexType::U8 => 1,
            IndexType::I32 | IndexType::U32 => 4,
            IndexType::I64 => 8,
        }
    }

    /// The numpy name of the element type (`int64`, ...).
    pub fn numpy_name(self) -> &'static str {
        match self {
            IndexType::I8 => "int8",
            IndexType::U8 => "uint8",
            IndexType::I32 => "int32",
            IndexType::U32 => "uint32",
            IndexType::I64 => "int64",
        }
    }
}

impl fmt::Display for IndexType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IndexType::I8 => "i8",
            IndexType::U8 => "u8",
            IndexType::I32 => "i32",
            IndexType::U32 => "u32",
            IndexType::I64 => "i64",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_units_normalise_like_numpy() {
        let cases = [
            ("datetime64", Some("datetime64")),
            ("datetime64[1s]", Some("datetime64[s]")),
            ("datetime64[ 15us]", Some("datetime64[15us]")),
            ("timedelta64[60s]", Some("timedelta64[60s]")),
            ("datetime64[2D]", Some("datetime64[2D]")),
            ("datetime64[-3s]", None),
            ("datetime64[0s]", None),
            ("datetime64[μs]", None),
            ("datetime64[s", None),
            ("datetime64[xs]", None),
        ];
        for (input, want) in cases {
            assert_eq!(
                Primitive::parse(input).map(|p| p.to_string()).as_deref(),
                want,
                "{input}"
            );
        }
    }
}
