//! Lazy lengths and lazy buffers.
//!
//! A node's length is a [`Len`]: known for the root, otherwise a rule over a
//! parent's length and buffers (awkward's rules), evaluated once, on first use.
//! A [`LazyBuf`] is a buffer key, a dtype and a count ([`Len`]); it goes to the
//! [`Loader`] on first touch, checks the size, trims, and converts byte order
//! or alignment once.

use crate::buffer::{Buffer, ByteOrder, Native, TypedBuffer, WeakBuffer};
use crate::cache::{Cache, Conv};
use crate::error::{Error, Result};
use crate::form::{IndexType, Primitive};
use crate::source::{Source, Want};
use once_cell::sync::OnceCell;
use parking_lot::Mutex;
use std::sync::Arc;

mod entries;
mod index;
mod len;
pub(crate) use index::Index;
pub(crate) use len::{Len, LenRule, UnionLens};

/// Where a lazy buffer's bytes come from: the seam between layouts and
/// sources. Reads go through the shared [`Cache`] (or around it for buffers
/// whose caching is off).
pub(crate) struct Loader {
    pub(crate) source: Arc<dyn Source>,
    pub(crate) cache: Arc<Cache>,
    /// The cache's number for this source.
    pub(crate) number: u64,
}

impl Loader {
    /// `shared`: whether other arrays may use `cache`. Only then does the
    /// source's identity matter, and asking for it can cost system calls
    /// (a directory canonicalises its path), so a private cache skips it.
    pub(crate) fn new(source: Arc<dyn Source>, cache: Arc<Cache>, shared: bool) -> Loader {
        let number = cache.source_number(if shared { source.id() } else { None });
        Loader {
            source,
            cache,
            number,
        }
    }

    /// One read from the source of at least `need` bytes, counted and
    /// observed, not cached.
    fn read(&self, key: &str, need: usize) -> Result<Option<Buffer>> {
        self.cache
            .read(self.number, &*self.source, key, Want::Prefix(need))
    }

    /// One read of bytes `range` of `key`, counted and observed, not cached.
    fn read_range(&self, key: &str, range: std::ops::Range<usize>) -> Result<Option<Buffer>> {
        self.cache
            .read(self.number, &*self.source, key, Want::Range(range))
    }

    /// Reads of several ranges of `key` at once (a remote store issues
    /// them together), each counted and observed, not cached.
    fn read_ranges(
        &self,
        key: &str,
        ranges: &[std::ops::Range<usize>],
    ) -> Vec<Result<Option<Buffer>>> {
        let requests: Vec<(&str, Want)> = ranges
            .iter()
            .map(|r| (key, Want::Range(r.clone())))
            .collect();
        self.cache.read_many(self.number, &*self.source, &requests)
    }

    /// The stored size of `key`, without reading it.
    pub(crate) fn size(&self, key: &str) -> Option<u64> {
        self.source.size(key)
    }
}

/// Identifies a node in messages: its path and class.
#[derive(Clone, Debug)]
pub(crate) struct NodeInfo {
    pub(crate) path: Arc<str>,
    pub(crate) class: &'static str,
}

impl NodeInfo {
    pub(crate) fn invalid(&self, key: &str, message: impl Into<String>) -> Error {
        Error::InvalidData {
            key: key.to_string(),
            node: self.path.to_string(),
            class: self.class,
            message: message.into(),
        }
    }
}

/// The scalar size to byte-swap, when the stored order is not native.
fn swap_unit(byteorder: ByteOrder, dtype: DType) -> Option<usize> {
    let unit = dtype.swap_unit();
    (!byteorder.is_native() && unit > 1).then_some(unit)
}

/// The element type of a lazy buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DType {
    Index(IndexType),
    Prim(Primitive),
}

impl DType {
    pub(crate) fn itemsize(self) -> usize {
        match self {
            DType::Index(t) => t.itemsize(),
            DType::Prim(p) => p.itemsize(),
        }
    }
    fn swap_unit(self) -> usize {
        match self {
            DType::Index(t) => t.itemsize(),
            DType::Prim(p) => p.swap_unit(),
        }
    }
    fn align(self) -> usize {
        match self {
            DType::Index(t) => t.itemsize(),
            DType::Prim(p) => p.align(),
        }
    }
    /// numpy's name for the dtype.
    pub(crate) fn name(self) -> String {
        match self {
            DType::Index(t) => t.numpy_name().to_string(),
            DType::Prim(p) => p.to_string(),
        }
    }
}

/// A buffer fetched on first touch.
///
/// With caching on, the bytes live in the shared cache and the lazy buffer
/// keeps only a weak handle: touching it again is free while anyone (the
/// cache or a user) holds the bytes, and a budget can free them. With caching
/// off, every touch reads again.
pub(crate) struct LazyBuf {
    pub(crate) key: Arc<str>,
    pub(crate) dtype: DType,
    pub(crate) count: Arc<Len>,
    pub(crate) node: NodeInfo,
    loader: Arc<Loader>,
    byteorder: ByteOrder,
    /// How this buffer's cache entry relates to the stored bytes (raw or
    /// byte-swapped), or `None` when caching is off for it.
    cache_key: Option<Conv>,
    memo: Mutex<Option<WeakBuffer>>,
    /// Index entries read alone, by position (see `index_entries`).
    entries: Mutex<Vec<(usize, i64)>>,
}

impl LazyBuf {
    pub(crate) fn new(
        key: Arc<str>,
        dtype: DType,
        count: Arc<Len>,
        node: NodeInfo,
        loader: Arc<Loader>,
        byteorder: ByteOrder,
        cached: bool,
    ) -> Arc<LazyBuf> {
        let cache_key = cached.then(|| match swap_unit(byteorder, dtype) {
            Some(unit) => Conv::Swap(unit as u8),
            None => Conv::Raw,
        });
        Arc::new(LazyBuf {
            key,
            dtype,
            count,
            node,
            loader,
            byteorder,
            cache_key,
            memo: Mutex::new(None),
            entries: Mutex::new(Vec::new()),
        })
    }

    /// Whether its bytes can be had without a read: materialized and
    /// alive, or the stored bytes are in the cache.
    pub(crate) fn held(&self) -> bool {
        self.is_loaded()
            || (self.is_cached()
                && self
                    .loader
                    .cache
                    .holds(self.loader.number, &self.key, Conv::Raw))
    }

    /// Whether the buffer is materialized and alive (held by the cache or a user).
    pub(crate) fn is_loaded(&self) -> bool {
        self.memo
            .lock()
            .as_ref()
            .is_some_and(|w| w.upgrade().is_some())
    }

    /// The loader this buffer reads through.
    pub(crate) fn loader(&self) -> &Arc<Loader> {
        &self.loader
    }

    /// Whether the cache keeps this buffer (caching is on for it).
    pub(crate) fn is_cached(&self) -> bool {
        self.cache_key.is_some()
    }

    /// Whether its bytes are byte-swapped from the stored ones.
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
    pub(crate) fn swapped(&self) -> bool {
        swap_unit(self.byteorder, self.dtype).is_some()
    }

    /// The stored size of the buffer, without reading it.
    pub(crate) fn stored_size(&self) -> Option<u64> {
        self.loader.size(&self.key)
    }

    /// The buffer: exactly `count * itemsize` bytes, native byte order,
    /// aligned for its dtype.
    pub(crate) fn get(&self) -> Result<Buffer> {
        if self.cache_key.is_some() {
            if let Some(b) = self.memo.lock().as_ref().and_then(WeakBuffer::upgrade) {
                return Ok(b);
            }
        }
        let b = self.materialize()?;
        if self.cache_key.is_some() {
            *self.memo.lock() = Some(b.downgrade());
        }
        Ok(b)
    }

    /// The stored bytes (at least the first `need`), byte-swapped if
    /// needed: from the cache, or read.
    fn fetch(&self, need: usize) -> Result<Option<Buffer>> {
        match &self.cache_key {
            Some(Conv::Raw) => self.raw_cached(need),
            // The stored bytes are cached only if a copy already put them
            // there (see `bytes_for_copy`); then they are not read again.
            Some(conv) => self.loader.cache.get_or_load(
                self.loader.number,
                &self.key,
                *conv,
                || Arc::clone(&self.key),
                || match self
                    .loader
                    .cache
                    .peek(self.loader.number, &self.key, Conv::Raw)
                {
                    Some(raw) => Ok(self.convert(Some(raw))),
                    None => self.read_converted(need),
                },
            ),
            None => self.read_converted(need),
        }
    }

    /// The stored bytes byte-swapped to native order if they are not.
    fn convert(&self, raw: Option<Buffer>) -> Option<Buffer> {
        match swap_unit(self.byteorder, self.dtype) {
            Some(unit) => raw.map(|b| Buffer::byteswapped(b.as_slice(), unit)),
            None => raw,
        }
    }

    /// One uncached read, converted.
    fn read_converted(&self, need: usize) -> Result<Option<Buffer>> {
        self.loader.read(&self.key, need).map(|b| self.convert(b))
    }

    /// The number of bytes the node needs: `count * itemsize`.
    pub(crate) fn need(&self) -> Result<usize> {
        let count = self.count.get()?;
        count
            .checked_mul(self.dtype.itemsize())
            .ok_or_else(|| self.too_many(count))
    }

    /// The error for a count whose bytes do not fit in memory: it names the
    /// buffer the count comes from (offsets, an index) when there is one,
    /// else this buffer, with the sizes.
    fn too_many(&self, count: usize) -> Error {
        let size = self.dtype.itemsize();
        let held = match self.loader.size(&self.key) {
            Some(n) => format!("{n} bytes"),
            None => "far fewer bytes".to_string(),
        };
        match self.count.origin() {
            Some(o) => o.node.invalid(
                &o.key,
                format!(
                    "its values give {} at {} a length of {count}, whose {size}-byte items are more bytes than fit in memory; its buffer {:?} holds {held}",
                    self.node.class, self.node.path, self.key
                ),
            ),
            None => self.node.invalid(
                &self.key,
                format!(
                    "a length of {count} items of {size} bytes is more bytes than fit in memory; the buffer holds {held}"
                ),
            ),
        }
    }

    fn missing(&self) -> Error {
        Error::MissingKey {
            key: self.key.to_string(),
            node: self.node.path.to_string(),
            class: self.node.class,
        }
    }

    fn check_size(&self, raw: &Buffer, need: usize) -> Result<()> {
        if raw.len() < need {
            return Err(Error::ShortBuffer {
                key: self.key.to_string(),
                node: self.node.path.to_string(),
                class: self.node.class,
                expected: need,
                actual: raw.len(),
            });
        }
        Ok(())
    }

    /// A cached buffer shorter than this node needs, while the source
    /// stores more: another node sharing the key needed less of it and the
    /// source read only that (see [`Source::read_prefix`]). Read again,
    /// uncached.
    fn long_enough(&self, raw: Buffer, need: usize) -> Result<Buffer> {
        if raw.len() >= need || self.cache_key.is_none() {
            return Ok(raw);
        }
        match self.loader.size(&self.key) {
            Some(n) if n > raw.len() as u64 => Ok(self.read_converted(need)?.unwrap_or(raw)),
            _ => Ok(raw),
        }
    }

    /// The needed bytes for copying them elsewhere: the materialized bytes
    /// (native order) if the buffer or the cache holds them, otherwise the
    /// stored bytes (the stored byte order, maybe misaligned), read once
    /// through the cache like any other read. Never a converted copy: the
    /// writer converts byte order piece by piece.
    pub(crate) fn bytes_for_copy(&self) -> Result<(Buffer, ByteOrder)> {
        let need = self.need()?;
        let raw = match self.cache_key {
            None => self.loader.read(&self.key, need)?,
            Some(conv) => {
                let held = self.memo.lock().as_ref().and_then(WeakBuffer::upgrade);
                let held = held.or_else(|| match conv {
                    Conv::Raw => None,
                    _ => self.loader.cache.peek(self.loader.number, &self.key, conv),
                });
                if let Some(b) = held.filter(|b| b.len() >= need) {
                    return Ok((b.slice(0, need)?, ByteOrder::native()));
                }
                match self.raw_cached(need)? {
                    Some(b) if b.len() < need => match self.loader.size(&self.key) {
                        Some(n) if n > b.len() as u64 => self.loader.read(&self.key, need)?,
                        _ => Some(b),
                    },
                    other => other,
                }
            }
        };
        let raw = raw.ok_or_else(|| self.missing())?;
        self.check_size(&raw, need)?;
        Ok((raw.slice(0, need)?, self.byteorder))
    }

    /// The stored bytes through the cache.
    fn raw_cached(&self, need: usize) -> Result<Option<Buffer>> {
        self.loader.cache.get_or_load(
            self.loader.number,
            &self.key,
            Conv::Raw,
            || Arc::clone(&self.key),
            || self.loader.read(&self.key, need),
        )
    }

    /// The scalar size to swap when converting between byte orders.
    pub(crate) fn swap_unit(&self) -> usize {
        self.dtype.swap_unit()
    }

    fn materialize(&self) -> Result<Buffer> {
        let need = self.need()?;
        let raw = self.fetch(need)?.ok_or_else(|| self.missing())?;
        let raw = self.long_enough(raw, need)?;
        self.check_size(&raw, need)?;
        let align = self.dtype.align();
        let aligned = if raw.is_aligned(align) {
            raw
        } else {
            // Misaligned bytes (an npz member, a slice at an odd offset) are
            // copied once; the copy is cached beside the raw bytes.
            let copy = || Ok(Some(Buffer::copy_from_slice(raw.as_slice())));
            let copied = match &self.cache_key {
                Some(_) => self.loader.cache.get_or_load(
                    self.loader.number,
                    &self.key,
                    Conv::Align(align as u8),
                    || Arc::clone(&self.key),
                    copy,
                )?,
                None => copy()?,
            };
            copied.unwrap_or(raw)
        };
        aligned.slice(0, need)
    }

    /// Elements `start..start + count` of the stored buffer (a row slice
    /// needs no more): native byte order, aligned, exactly `count *
    /// itemsize` bytes. Sliced from the whole buffer when this array or its
    /// cache already holds it; otherwise only the range is read (counted
    /// and observed like any read; not cached: the slice's own cache keeps
    /// what it derives from it).
    pub(crate) fn get_range(&self, start: usize, count: usize) -> Result<Buffer> {
        let size = self.dtype.itemsize();
        let (from, len) = match (start.checked_mul(size), count.checked_mul(size)) {
            (Some(a), Some(n)) if a.checked_add(n).is_some() => (a, n),
            _ => return Err(self.too_many(start.saturating_add(count))),
        };
        if len == 0 {
            return Ok(Buffer::empty());
        }
        let held = self.memo.lock().as_ref().and_then(WeakBuffer::upgrade);
        let held = held.or_else(|| {
            let conv = self.cache_key?;
            self.loader.cache.peek(self.loader.number, &self.key, conv)
        });
        if let Some(b) = held.filter(|b| b.len() >= from + len) {
            return b.slice(from, len);
        }
        let raw = self.loader.read_range(&self.key, from..from + len);
        self.ranged(raw, from, len)
    }

    /// A range read's answer for bytes `from..from + len`: missing or
    /// short is an error; byte order converted, copied if misaligned.
    fn ranged(&self, raw: Result<Option<Buffer>>, from: usize, len: usize) -> Result<Buffer> {
        let raw = raw?.ok_or_else(|| self.missing())?;
        if raw.len() < len {
            // A range past the end comes back empty: the stored size, when
            // the source knows it, says how short the buffer is.
            let reached = from + raw.len();
            let stored = self.loader.size(&self.key).map_or(reached, |n| n as usize);
            return Err(Error::ShortBuffer {
                key: self.key.to_string(),
                node: self.node.path.to_string(),
                class: self.node.class,
                expected: from + len,
                actual: stored.min(reached),
            });
        }
        let raw = self.convert(Some(raw)).unwrap_or_else(Buffer::empty);
        let raw = if raw.is_aligned(self.dtype.align()) {
            raw
        } else {
            Buffer::copy_from_slice(raw.as_slice())
        };
        raw.slice(0, len)
    }

    /// The buffer as an index (for index-typed buffers).
    pub(crate) fn index(&self) -> Result<Index> {
        let DType::Index(t) = self.dtype else {
            return Err(self.node.invalid(&self.key, "not an index buffer"));
        };
        Index::new(t, self.get()?)
    }

    /// The buffer as a typed view.
    pub(crate) fn typed<T: Native>(&self) -> Result<TypedBuffer<T>> {
        TypedBuffer::try_new(self.get()?)
    }
}
