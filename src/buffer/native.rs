//! Element types that a typed view may hold.

mod sealed {
    pub trait Sealed {}
}

/// A plain number type: every bit pattern is a valid value, no padding, so a
/// byte buffer of the right alignment can be viewed as `&[Self]`.
///
/// Implemented for the integer and float types, and `[f32; 2]` / `[f64; 2]`
/// for complex numbers. Sealed: it cannot be implemented outside akbuf.
///
/// ```
/// use akbuf::Native;
///
/// assert_eq!(<f32 as Native>::SIZE, 4);
/// assert_eq!(<i64 as Native>::NAME, "int64");
/// ```
pub trait Native:
    sealed::Sealed + Copy + Send + Sync + PartialEq + std::fmt::Debug + 'static
{
    /// Size in bytes.
    const SIZE: usize;
    /// numpy-style name, for messages.
    const NAME: &'static str;
    /// Writes the value's native-endian bytes into `out` (`out.len() == SIZE`).
    fn write_ne(&self, out: &mut [u8]);
}

macro_rules! native {
    ($($t:ty => $name:literal),* $(,)?) => {$(
        impl sealed::Sealed for $t {}
        impl Native for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            const NAME: &'static str = $name;
            fn write_ne(&self, out: &mut [u8]) {
                out.copy_from_slice(&self.to_ne_bytes());
            }
        }
    )*};
}

native!(
    u8 => "uint8", i8 => "int8", u16 => "uint16", i16 => "int16",
    u32 => "uint32", i32 => "int32", u64 => "uint64", i64 => "int64",
    f32 => "float32", f64 => "float64",
);

macro_rules! native_pair {
    ($($t:ty => $name:literal),*) => {$(
        impl sealed::Sealed for [$t; 2] {}
        impl Native for [$t; 2] {
            const SIZE: usize = 2 * std::mem::size_of::<$t>();
            const NAME: &'static str = $name;
            fn write_ne(&self, out: &mut [u8]) {
                let half = std::mem::size_of::<$t>();
                out[..half].copy_from_slice(&self[0].to_ne_bytes());
                out[half..].copy_from_slice(&self[1].to_ne_bytes());
            }
        }
    )*};
}

native_pair!(f32 => "complex64", f64 => "complex128");
