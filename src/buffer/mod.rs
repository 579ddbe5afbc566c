//! Buffers: shared, immutable bytes with O(1) slicing, and typed views.
//!
//! A [`Buffer`] is a pointer and a length into memory kept alive by a shared
//! owner: a `Vec<u8>`, a memory map, an aligned allocation, anything
//! `AsRef<[u8]> + Send + Sync`. Cloning or slicing never copies. A
//! [`TypedBuffer`] is a buffer known to be aligned for its element type, in
//! native byte order, that dereferences to `&[T]`.

mod native;

pub use native::Native;

use crate::error::{Error, Result};
use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

/// Where a buffer's bytes live, for memory accounting.
///
/// ```
/// use akbuf::{Buffer, Residence};
///
/// assert_eq!(Buffer::from_vec(vec![1, 2]).residence(), Residence::Heap);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Residence {
    /// Heap memory owned by the process.
    Heap,
    /// A memory map of a file: costs page cache, not heap.
    Mapped,
}

/// Immutable bytes behind a shared owner.
///
/// ```
/// use akbuf::Buffer;
///
/// let buf = Buffer::from_vec(vec![1u8, 2, 3, 4, 5]);
/// let tail = buf.slice(2, 3)?; // no copy
/// assert_eq!(tail.as_slice(), &[3, 4, 5]);
/// assert_eq!(buf.len(), 5);
/// # Ok::<(), akbuf::Error>(())
/// ```
#[derive(Clone)]
pub struct Buffer {
    owner: Arc<dyn Any + Send + Sync>,
    ptr: *const u8,
    len: usize,
    residence: Residence,
}

// SAFETY: `ptr` points into memory owned by `owner`, which is `Send + Sync`,
// kept alive as long as this handle, and never mutated after construction.
unsafe impl Send for Buffer {}
// SAFETY: as above; all access through `Buffer` is read-only.
unsafe impl Sync for Buffer {}

impl fmt::Debug for Buffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Buffer")
            .field("len", &self.len)
            .field("residence", &self.residence)
            .field("ptr", &self.ptr)
            .finish()
    }
}

/// The bytes, for any API that takes `AsRef<[u8]>`: handing a buffer to
/// `bytes::Bytes::from_owner` or `arrow_buffer::Buffer::from_custom_allocation`
/// shares it without a copy (the owner stays alive with the handle).
///
/// ```
/// use akbuf::Buffer;
///
/// fn total(bytes: impl AsRef<[u8]>) -> u64 {
///     bytes.as_ref().iter().map(|&b| u64::from(b)).sum()
/// }
/// let b = Buffer::from_slice(&[1u8, 2, 3]);
/// assert_eq!(total(b.clone()), 6);
/// assert_eq!(&b[..2], &[1, 2]); // Deref to [u8]
/// ```
impl AsRef<[u8]> for Buffer {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl std::ops::Deref for Buffer {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl std::borrow::Borrow<[u8]> for Buffer {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl PartialEq for Buffer {
    fn eq(&self, other: &Buffer) -> bool {
        self.as_slice() == other.as_slice()
    }
}

/// The page size assumed by [`Buffer::release_pages`]: 4 KiB, as on x86-64.
/// Where pages are larger the kernel refuses the unaligned advice, which
/// only means the pages stay resident.
#[cfg(unix)]
const PAGE: usize = 4096;

/// Memory aligned to 64 bytes, for copies that typed views will read: a
/// zeroed byte vector 63 bytes longer than needed, used from its first
/// 64-byte boundary. Zeroed through the allocator (`calloc`), so a large
/// buffer comes as fresh zero pages from the kernel instead of being written
/// twice (once with zeros, once with the data).
struct AlignedBytes {
    bytes: Vec<u8>,
    start: usize,
    len: usize,
}

impl AsRef<[u8]> for AlignedBytes {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[self.start..self.start + self.len]
    }
}

impl AsMut<[u8]> for AlignedBytes {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.bytes[self.start..self.start + self.len]
    }
}

impl AlignedBytes {
    fn zeroed(len: usize) -> AlignedBytes {
        let bytes = vec![0u8; len.saturating_add(63)];
        // A vector's storage never moves while it is not resized, so the
        // offset found now stays right. (`align_offset` of a byte pointer is
        // exact at run time; were it ever not, the bytes would merely be
        // unaligned, which typed views check and copy around.)
        let start = match bytes.as_ptr().align_offset(64) {
            off if off < 64 => off,
            _ => 0,
        };
        AlignedBytes { bytes, start, len }
    }
}

/// Buffers made by [`Buffer::filled`] from this size on get a map of their own.
const OWN_MAP_FROM: usize = 1 << 20;

impl Buffer {
    /// Wraps any owner of bytes without copying. The owner is moved into a
    /// shared allocation first, so bytes stored inline in it stay put.
    pub fn from_owner<T: AsRef<[u8]> + Send + Sync + 'static>(owner: T) -> Buffer {
        Buffer::with_residence(owner, Residence::Heap)
    }

    /// Wraps an owner whose memory lives in `residence`.
    #[must_use]
    pub fn with_residence<T: AsRef<[u8]> + Send + Sync + 'static>(
        owner: T,
        residence: Residence,
    ) -> Buffer {
        let owner = Arc::new(owner);
        let bytes: &[u8] = (*owner).as_ref();
        let (ptr, len) = (bytes.as_ptr(), bytes.len());
        Buffer {
            owner,
            ptr,
            len,
            residence,
        }
    }

    /// Takes a vector without copying.
    pub fn from_vec(v: Vec<u8>) -> Buffer {
        Buffer::from_owner(v)
    }

    /// Wraps a memory map without copying.
    pub fn from_mmap(map: memmap2::Mmap) -> Buffer {
        Buffer::with_residence(map, Residence::Mapped)
    }

    /// Copies bytes into a new 64-byte-aligned allocation.
    pub fn copy_from_slice(bytes: &[u8]) -> Buffer {
        let mut a = AlignedBytes::zeroed(bytes.len());
        a.as_mut().copy_from_slice(bytes);
        Buffer::from_owner(a)
    }

    /// A new 64-byte-aligned buffer of `len` bytes, written by `fill`
    /// (which starts from zeros). From 1 MiB on, the memory is a private
    /// anonymous map of its own (page-aligned), so that dropping the buffer
    /// gives it back to the system at once: a scan that makes one such
    /// buffer per step holds one step's worth, whatever the allocator keeps.
    pub(crate) fn filled<E>(
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> std::result::Result<(), E>,
    ) -> std::result::Result<Buffer, E> {
        if len >= OWN_MAP_FROM {
            if let Ok(mut map) = memmap2::MmapMut::map_anon(len) {
                fill(&mut map)?;
                // Never written again: the buffer hands out shared slices only.
                return Ok(Buffer::with_residence(map, Residence::Heap));
            }
        }
        let mut a = AlignedBytes::zeroed(len);
        fill(a.as_mut())?;
        Ok(Buffer::from_owner(a))
    }

    /// Copies a slice of any native type into a new aligned buffer.
    pub fn from_slice<T: Native>(values: &[T]) -> Buffer {
        let mut a = AlignedBytes::zeroed(std::mem::size_of_val(values));
        for (chunk, v) in a.as_mut().chunks_exact_mut(T::SIZE).zip(values) {
            v.write_ne(chunk);
        }
        Buffer::from_owner(a)
    }

    /// Copies the bytes into an aligned allocation, reversing the byte order of
    /// every `unit`-byte scalar (for big-endian data on a little-endian host).
    pub fn byteswapped(bytes: &[u8], unit: usize) -> Buffer {
        let mut a = AlignedBytes::zeroed(bytes.len());
        let out = a.as_mut();
        if unit <= 1 {
            out.copy_from_slice(bytes);
        } else {
            for (dst, src) in out.chunks_mut(unit).zip(bytes.chunks(unit)) {
                for (d, s) in dst.iter_mut().zip(src.iter().rev()) {
                    *d = *s;
                }
            }
        }
        Buffer::from_owner(a)
    }

    /// Reverses the byte order of every `unit`-byte scalar of `bytes` in
    /// place (a trailing partial scalar is left alone).
    pub(crate) fn swap_in_place(bytes: &mut [u8], unit: usize) {
        if unit > 1 {
            for c in bytes.chunks_exact_mut(unit) {
                c.reverse();
            }
        }
    }

    /// Tells the system that `len` bytes from `offset` will not be read again
    /// soon: for a memory map, the whole pages inside the range leave this
    /// process's resident memory (they stay in the page cache, and reading
    /// them again faults them back in with the same bytes). Heap buffers are
    /// unaffected. Copying a mapped container uses it so that its resident
    /// memory stays bounded by one chunk, not the container.
    pub fn release_pages(&self, offset: usize, len: usize) {
        #[cfg(unix)]
        if let Some(map) = self.owner.downcast_ref::<memmap2::Mmap>() {
            let page = PAGE;
            let base = map.as_ptr() as usize;
            let start = (self.ptr as usize + offset.min(self.len)).saturating_sub(base);
            let end = (self.ptr as usize + offset.saturating_add(len).min(self.len))
                .saturating_sub(base)
                .min(map.len());
            let (start, end) = (start.div_ceil(page) * page, end / page * page);
            if end > start {
                // SAFETY: the map is a read-only, shared mapping of a file
                // (`memmap2::Mmap::map`). MADV_DONTNEED on such a mapping only
                // drops resident pages: the next access reads them again from
                // the file, so every handle sees the same bytes as before
                // (the file is not modified while mapped, which is the
                // contract of every mapped buffer; see `DirSource::read`).
                // The range lies inside the map and is page-aligned.
                let _ = unsafe {
                    map.unchecked_advise_range(
                        memmap2::UncheckedAdvice::DontNeed,
                        start,
                        end - start,
                    )
                };
            }
        }
        #[cfg(not(unix))]
        let _ = (offset, len);
    }

    /// The empty buffer.
    pub fn empty() -> Buffer {
        Buffer::from_owner(Vec::<u8>::new())
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Where the bytes live.
    pub fn residence(&self) -> Residence {
        self.residence
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: `ptr..ptr+len` lies inside the owner's bytes (checked at
        // construction and by `slice`), which are immutable and outlive `self`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// The address of the first byte.
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr
    }

    /// A sub-range of `len` bytes from `offset`, sharing the owner (O(1)).
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] if the range is out of bounds.
    pub fn slice(&self, offset: usize, len: usize) -> Result<Buffer> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len => Ok(Buffer {
                owner: Arc::clone(&self.owner),
                // `wrapping_add` keeps this free of `unsafe`; the offset is in bounds.
                ptr: self.ptr.wrapping_add(offset),
                len,
                residence: self.residence,
            }),
            _ => Err(Error::Argument(format!(
                "slice {offset}..{offset}+{len} out of bounds for a buffer of {} bytes",
                self.len
            ))),
        }
    }

    /// Whether the first byte is aligned to `align` bytes.
    pub fn is_aligned(&self, align: usize) -> bool {
        align <= 1 || (self.ptr as usize) % align == 0
    }

    /// Whether two handles share the same owner allocation.
    pub fn same_owner(&self, other: &Buffer) -> bool {
        Arc::ptr_eq(&self.owner, &other.owner)
    }

    /// Number of live handles sharing this buffer's owner.
    pub fn owner_handles(&self) -> usize {
        Arc::strong_count(&self.owner)
    }

    /// A weak reference to the owner, to find out later whether anyone still
    /// holds the memory.
    pub fn downgrade(&self) -> WeakBuffer {
        WeakBuffer {
            owner: Arc::downgrade(&self.owner),
            ptr: self.ptr,
            len: self.len,
            residence: self.residence,
        }
    }

    /// The bytes as a slice of `T`, if aligned and a whole number of elements.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] when misaligned or not a multiple of `T`'s size.
    pub fn typed<T: Native>(&self) -> Result<&[T]> {
        if !self.is_aligned(std::mem::align_of::<T>()) || self.len % T::SIZE != 0 {
            return Err(Error::Argument(format!(
                "buffer of {} bytes at {:p} cannot be viewed as {}",
                self.len,
                self.ptr,
                T::NAME
            )));
        }
        if self.len == 0 {
            return Ok(&[]);
        }
        // SAFETY: alignment and size were checked above; `T: Native` is a plain
        // number type for which every bit pattern is valid; the memory is
        // immutable and lives as long as `self`.
        Ok(unsafe { std::slice::from_raw_parts(self.ptr.cast::<T>(), self.len / T::SIZE) })
    }
}

/// A weak handle to a [`Buffer`]: upgrades while anyone still holds it.
///
/// ```
/// use akbuf::Buffer;
///
/// let buf = Buffer::from_vec(vec![1, 2, 3]);
/// let weak = buf.downgrade();
/// assert!(weak.upgrade().is_some());
/// drop(buf);
/// assert!(weak.upgrade().is_none());
/// ```
#[derive(Clone)]
pub struct WeakBuffer {
    owner: std::sync::Weak<dyn Any + Send + Sync>,
    ptr: *const u8,
    len: usize,
    residence: Residence,
}

// SAFETY: the pointer is only dereferenced after a successful upgrade, which
// re-establishes the `Buffer` invariants.
unsafe impl Send for WeakBuffer {}
// SAFETY: as above.
unsafe impl Sync for WeakBuffer {}

impl fmt::Debug for WeakBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakBuffer")
            .field("len", &self.len)
            .finish()
    }
}

impl WeakBuffer {
    /// The buffer, if some handle to it is still alive.
    pub fn upgrade(&self) -> Option<Buffer> {
        self.owner.upgrade().map(|owner| Buffer {
            owner,
            ptr: self.ptr,
            len: self.len,
            residence: self.residence,
        })
    }
}

/// A buffer of `T`s: aligned, native byte order, dereferences to `&[T]`.
/// Cloning shares the memory.
///
/// ```
/// use akbuf::{Buffer, TypedBuffer};
///
/// let buf = Buffer::from_slice(&[1.5f64, 2.5, 3.0]);
/// let values: TypedBuffer<f64> = TypedBuffer::try_new(buf)?;
/// assert_eq!(values.iter().sum::<f64>(), 7.0);
/// assert_eq!(&values[1..], &[2.5, 3.0]);
/// # Ok::<(), akbuf::Error>(())
/// ```
#[derive(Clone)]
pub struct TypedBuffer<T: Native> {
    buffer: Buffer,
    _t: PhantomData<T>,
}

impl<T: Native> fmt::Debug for TypedBuffer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T: Native> TypedBuffer<T> {
    /// Checks alignment and size and wraps the buffer.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] when misaligned or not a whole number of elements.
    pub fn try_new(buffer: Buffer) -> Result<TypedBuffer<T>> {
        buffer.typed::<T>()?;
        Ok(TypedBuffer {
            buffer,
            _t: PhantomData,
        })
    }

    /// Like [`TypedBuffer::try_new`], copying into an aligned allocation when
    /// the buffer is misaligned.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] when not a whole number of elements.
    pub fn aligned(buffer: Buffer) -> Result<TypedBuffer<T>> {
        if buffer.is_aligned(std::mem::align_of::<T>()) {
            TypedBuffer::try_new(buffer)
        } else {
            TypedBuffer::try_new(Buffer::copy_from_slice(buffer.as_slice()))
        }
    }

    /// The untyped buffer.
    pub fn buffer(&self) -> &Buffer {
        &self.buffer
    }

    /// The elements.
    pub fn as_slice(&self) -> &[T] {
        // `try_new` checked alignment and size, so this view cannot fail.
        self.buffer.typed::<T>().unwrap_or(&[])
    }

    /// A sub-range of elements, sharing memory.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] if out of bounds.
    pub fn slice(&self, start: usize, len: usize) -> Result<TypedBuffer<T>> {
        let bytes = self
            .buffer
            .slice(start.saturating_mul(T::SIZE), len.saturating_mul(T::SIZE))?;
        Ok(TypedBuffer {
            buffer: bytes,
            _t: PhantomData,
        })
    }
}

impl<T: Native> Deref for TypedBuffer<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slicing_shares_the_owner() {
        let b = Buffer::from_vec((0u8..100).collect());
        let s = b.slice(10, 20).unwrap();
        assert!(s.same_owner(&b));
        assert_eq!(s.as_slice()[0], 10);
        assert_eq!(s.len(), 20);
        assert!(b.slice(90, 11).is_err());
        assert!(b.slice(usize::MAX, 2).is_err());
    }

    #[test]
    fn typed_views_check_alignment() {
        let b = Buffer::from_slice(&[1u32, 2, 3]);
        assert_eq!(b.typed::<u32>().unwrap(), &[1, 2, 3]);
        let odd = b.slice(1, 8).unwrap();
        assert!(odd.typed::<u32>().is_err());
        let fixed = TypedBuffer::<u32>::aligned(odd).unwrap();
        assert_eq!(fixed.len(), 2);
        assert!(b.slice(0, 5).unwrap().typed::<u32>().is_err());
    }

    #[test]
    fn byteswap_reverses_each_scalar() {
        let big = [0u8, 0, 0, 1, 0, 0, 0, 2];
        let b = Buffer::byteswapped(&big, 4);
        let want: Vec<u32> = [1u32, 2].iter().map(|v| v.swap_bytes().to_be()).collect();
        assert_eq!(b.typed::<u32>().unwrap(), want.as_slice());
    }

    #[test]
    fn weak_handles_see_drops() {
        let b = Buffer::from_vec(vec![1, 2, 3]);
        let w = b.downgrade();
        assert_eq!(w.upgrade().unwrap().as_slice(), &[1, 2, 3]);
        drop(b);
        assert!(w.upgrade().is_none());
    }
}

/// The byte order of stored buffers. Awkward keeps it out of band: the
/// dtype labels in a container never say it.
///
/// ```
/// use akbuf::ByteOrder;
///
/// assert_eq!(ByteOrder::parse(">"), Some(ByteOrder::Big));
/// assert_eq!(ByteOrder::Little.symbol(), "<");
/// assert_eq!(ByteOrder::default(), ByteOrder::native());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    /// `<`
    Little,
    /// `>`
    Big,
}

impl ByteOrder {
    /// The host's byte order.
    pub const fn native() -> ByteOrder {
        if cfg!(target_endian = "little") {
            ByteOrder::Little
        } else {
            ByteOrder::Big
        }
    }

    /// Parses `<` or `>` (numpy's symbols).
    pub fn parse(s: &str) -> Option<ByteOrder> {
        match s {
            "<" => Some(ByteOrder::Little),
            ">" => Some(ByteOrder::Big),
            _ => None,
        }
    }

    /// `<` or `>`.
    pub fn symbol(self) -> &'static str {
        match self {
            ByteOrder::Little => "<",
            ByteOrder::Big => ">",
        }
    }

    /// Whether this is the host's order.
    pub fn is_native(self) -> bool {
        self == ByteOrder::native()
    }
}

impl Default for ByteOrder {
    fn default() -> ByteOrder {
        ByteOrder::native()
    }
}
