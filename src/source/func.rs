//! A source backed by a closure.

use super::Source;
use crate::buffer::Buffer;
use crate::error::Result;

/// Any `Fn(&str) -> Result<Option<Buffer>>` as a source (awkward's callables).
///
/// ```
/// use akbuf::{Buffer, FnSource, Source};
///
/// let source = FnSource::new(|key: &str| Ok((key == "x").then(|| Buffer::from_vec(vec![7]))));
/// assert_eq!(source.read("x")?.unwrap().as_slice(), &[7]);
/// # Ok::<(), akbuf::Error>(())
/// ```
pub struct FnSource<F> {
    f: F,
}

impl<F> FnSource<F>
where
    F: Fn(&str) -> Result<Option<Buffer>> + Send + Sync,
{
    /// Wraps the closure.
    pub fn new(f: F) -> FnSource<F> {
        FnSource { f }
    }
}

impl<F> std::fmt::Debug for FnSource<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FnSource")
    }
}

impl<F> Source for FnSource<F>
where
    F: Fn(&str) -> Result<Option<Buffer>> + Send + Sync,
{
    fn read(&self, key: &str) -> Result<Option<Buffer>> {
        (self.f)(key)
    }
    fn describe(&self) -> String {
        String::from("closure")
    }
}
