//! CUDA devices through cudarc's driver API, loaded at run time.
//!
//! cudarc panics on its first driver call when `libcuda` cannot be loaded, so
//! every path here goes through [`cuda_available`] first, which looks for the
//! library without touching cudarc's loader and catches a panic from the
//! driver's initialization.

use super::copies::CopyKey;
use super::Device;
use crate::buffer::{Buffer, Native};
use crate::error::{Error, Result};
use cudarc::driver::{CudaContext, CudaSlice, CudaStream, CudaView, DeviceRepr, PinnedHostSlice};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

/// Element types that can be viewed on a device: the numeric [`Native`] types.
pub trait DeviceNative: Native + DeviceRepr + sealed::Sealed {}

mod sealed {
    pub trait Sealed {}
}

macro_rules! device_native {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl DeviceNative for $t {}
    )*};
}

device_native!(i8, u8, i16, u16, i32, u32, i64, u64, f32, f64);

fn error(device: Device, message: impl Into<String>) -> Error {
    Error::Device {
        device: device.to_string(),
        message: message.into(),
    }
}

/// The number of CUDA devices, or why there are none usable: no driver
/// library (`libcuda`), or a driver that fails to initialize. Probed once.
///
/// ```
/// match akbuf::cuda_available() {
///     Ok(n) => println!("{n} CUDA device(s)"),
///     Err(e) => println!("no CUDA: {e}"),
/// }
/// ```
///
/// # Errors
///
/// [`Error::Device`] saying why CUDA cannot be used.
pub fn cuda_available() -> Result<usize> {
    static PROBE: OnceLock<std::result::Result<usize, String>> = OnceLock::new();
    PROBE
        .get_or_init(|| {
            // SAFETY: only dlopen()s the candidate library names and drops the
            // handles; no symbol is called.
            if !unsafe { cudarc::driver::sys::is_culib_present() } {
                return Err("no CUDA driver library (libcuda) found".into());
            }
            let init = std::panic::catch_unwind(|| {
                cudarc::driver::result::init()?;
                CudaContext::device_count()
            });
            match init {
                Ok(Ok(n)) => Ok(usize::try_from(n).unwrap_or(0)),
                Ok(Err(e)) => Err(format!("the CUDA driver failed to initialize: {e}")),
                Err(_) => Err("the CUDA driver library could not be used (too old?)".into()),
            }
        })
        .clone()
        .map_err(|m| error(Device::Cuda(0), m))
}

/// How host bytes reach a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UploadMode {
    /// One copy straight from the host bytes (pageable memory: the driver
    /// stages it) below [`STAGED_MIN`] bytes; staged through two pinned
    /// buffers at and above it. The default.
    Auto,
    /// Always one copy straight from the host bytes.
    Direct,
    /// Always through two pinned buffers, alternately filled by the host and
    /// copied by the device.
    Staged,
}

/// The size from which [`UploadMode::Auto`] stages uploads through pinned memory.
pub const STAGED_MIN: usize = 32 << 20;

/// The size of each pinned staging buffer.
const STAGE: usize = 8 << 20;

static MODE: AtomicU8 = AtomicU8::new(0);

/// Sets how uploads copy host bytes for device caches that do not say
/// ([`crate::DeviceCache::with_upload_mode`] chooses per cache; the
/// default is [`UploadMode::Auto`]).
#[deprecated(
    since = "0.1.0",
    note = "choose per device cache with DeviceCache::with_upload_mode"
)]
pub fn set_upload_mode(mode: UploadMode) {
    MODE.store(
        match mode {
            UploadMode::Auto => 0,
            UploadMode::Direct => 1,
            UploadMode::Staged => 2,
        },
        Relaxed,
    );
}

/// The mode of caches that do not choose one.
pub(crate) fn default_upload_mode() -> UploadMode {
    match MODE.load(Relaxed) {
        1 => UploadMode::Direct,
        2 => UploadMode::Staged,
        _ => UploadMode::Auto,
    }
}

/// One device: its context, the stream uploads and downloads use, and the
/// pinned staging buffers (made on the first staged upload, then reused:
/// pinning memory costs far more than copying through it).
pub(crate) struct Gpu {
    pub(crate) ordinal: usize,
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    stages: Mutex<Option<[PinnedHostSlice<u8>; 2]>>,
}

impl Gpu {
    /// The device `ordinal`, opened once per process.
    pub(crate) fn open(ordinal: usize) -> Result<Arc<Gpu>> {
        let device = Device::Cuda(ordinal);
        let count = cuda_available().map_err(|e| match e {
            Error::Device { message, .. } => error(device, message),
            other => other,
        })?;
        if ordinal >= count {
            return Err(error(
                device,
                format!("no such device ({count} CUDA device(s) present)"),
            ));
        }
        static GPUS: OnceLock<Mutex<HashMap<usize, Arc<Gpu>>>> = OnceLock::new();
        let mut gpus = GPUS.get_or_init(Default::default).lock();
        if let Some(g) = gpus.get(&ordinal) {
            return Ok(Arc::clone(g));
        }
        let ctx = CudaContext::new(ordinal).map_err(|e| error(device, e.to_string()))?;
        let stream = ctx.new_stream().map_err(|e| error(device, e.to_string()))?;
        let gpu = Arc::new(Gpu {
            ordinal,
            ctx,
            stream,
            stages: Mutex::new(None),
        });
        gpus.insert(ordinal, Arc::clone(&gpu));
        Ok(gpu)
    }

    fn err(&self, what: &str, e: impl std::fmt::Display) -> Error {
        error(Device::Cuda(self.ordinal), format!("{what}: {e}"))
    }

    /// Copies `host` to a new device allocation (at least one byte: CUDA
    /// refuses empty allocations).
    pub(crate) fn upload(&self, host: &[u8], mode: UploadMode) -> Result<CudaSlice<u8>> {
        let staged = match mode {
            UploadMode::Auto => host.len() >= STAGED_MIN,
            UploadMode::Direct => false,
            UploadMode::Staged => host.len() > STAGE,
        };
        let out = if host.is_empty() {
            self.stream.alloc_zeros::<u8>(1)
        } else if staged {
            self.upload_staged(host)
        } else {
            self.stream.clone_htod(host)
        };
        let out = out.map_err(|e| self.err("upload", e))?;
        self.stream
            .synchronize()
            .map_err(|e| self.err("upload", e))?;
        Ok(out)
    }

    /// Through two pinned buffers: the host fills one while the device copies
    /// the other (`as_mut_slice` waits for the copy still reading it).
    fn upload_staged(
        &self,
        host: &[u8],
    ) -> std::result::Result<CudaSlice<u8>, cudarc::driver::DriverError> {
        // SAFETY: every byte of `dst` is written by the copies below before
        // the slice is returned to anyone.
        let mut dst = unsafe { self.stream.alloc::<u8>(host.len()) }?;
        // One staged upload at a time per device: they share the buffers
        // (and the stream, which would serialize them anyway).
        let mut guard = self.stages.lock();
        let stages = match &mut *guard {
            Some(s) => s,
            empty => {
                // SAFETY: pinned host memory is only written (by
                // `copy_from_slice`) before the device reads it; `u8` has no
                // invalid values. Write-combined memory suits buffers the
                // host only writes.
                let made = unsafe {
                    [
                        self.ctx.alloc_pinned::<u8>(STAGE)?,
                        self.ctx.alloc_pinned::<u8>(STAGE)?,
                    ]
                };
                empty.insert(made)
            }
        };
        let full = host.len() / STAGE;
        for i in 0..full {
            let stage = &mut stages[i % 2];
            stage
                .as_mut_slice()?
                .copy_from_slice(&host[i * STAGE..(i + 1) * STAGE]);
            let mut view = dst.slice_mut(i * STAGE..(i + 1) * STAGE);
            self.stream.memcpy_htod(&*stage, &mut view)?;
        }
        let tail = &host[full * STAGE..];
        if !tail.is_empty() {
            let mut view = dst.slice_mut(full * STAGE..);
            self.stream.memcpy_htod(tail, &mut view)?;
        }
        Ok(dst)
    }

    /// Copies a device allocation's first `len` bytes back to the host.
    pub(crate) fn download(&self, slice: &CudaSlice<u8>, len: usize) -> Result<Buffer> {
        let mut v = self
            .stream
            .clone_dtoh(slice)
            .map_err(|e| self.err("download", e))?;
        v.truncate(len);
        Ok(Buffer::from_vec(v))
    }
}

/// A device copy as the copies cache holds it.
pub(crate) struct DeviceBytes {
    slice: CudaSlice<u8>,
    len: usize,
}

/// One buffer on a CUDA device, with its element type: what a kernel takes.
///
/// Made by [`crate::Array::device_values`], [`crate::Array::device_offsets`]
/// and [`crate::Array::device_buffers`]; the device memory stays alive while
/// this or the cache holds it.
///
/// ```no_run
/// use akbuf::{open, Device};
///
/// let events = open("data/events")?.to_device(Device::Cuda(0))?;
/// let pt = events.field("jets")?.field("pt")?;
/// let data = pt.content()?.device_values()?; // one upload, cached
/// let view = data.view::<f32>()?; // a cudarc CudaView<f32> for your kernel
/// assert_eq!(view.len(), data.len());
/// # Ok::<(), akbuf::Error>(())
/// ```
#[derive(Clone)]
pub struct DeviceBuffer {
    bytes: Arc<DeviceBytes>,
    gpu: Arc<Gpu>,
    key: String,
    dtype: String,
    itemsize: usize,
    /// The [`Native`] type that reads it (`uint8` for bool).
    native: &'static str,
}

impl std::fmt::Debug for DeviceBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceBuffer")
            .field("device", &self.device())
            .field("key", &self.key)
            .field("dtype", &self.dtype)
            .field("len", &self.len())
            .finish()
    }
}

impl DeviceBuffer {
    /// The device it lives on.
    pub fn device(&self) -> Device {
        Device::Cuda(self.gpu.ordinal)
    }

    /// The buffer key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// numpy's name of the element type (`float32`, `int64`, ...).
    pub fn dtype(&self) -> &str {
        &self.dtype
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.bytes.len / self.itemsize.max(1)
    }

    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.bytes.len == 0
    }

    /// The size in bytes.
    pub fn num_bytes(&self) -> usize {
        self.bytes.len
    }

    /// The raw device allocation (one byte long for an empty buffer).
    pub fn as_bytes(&self) -> &CudaSlice<u8> {
        &self.bytes.slice
    }

    /// The elements as a typed device view, in native byte order.
    ///
    /// # Errors
    ///
    /// [`Error::TypeMismatch`] when `T` is not the buffer's element type
    /// (booleans are `u8`, float16 `u16`, datetimes `i64`).
    pub fn view<T: DeviceNative>(&self) -> Result<CudaView<'_, T>> {
        if T::NAME != self.native {
            return Err(Error::TypeMismatch {
                node: self.key.clone(),
                message: format!(
                    "asked for {} on the device, but the buffer holds {}",
                    T::NAME,
                    self.dtype
                ),
            });
        }
        let n = self.bytes.len / T::SIZE;
        // SAFETY: the allocation holds `n * T::SIZE` bytes uploaded from host
        // values of `T` in native byte order (checked just above: the buffer's
        // dtype is `T`), and device allocations are at least 256-byte aligned.
        unsafe { self.bytes.slice.transmute::<T>(n) }.ok_or_else(|| {
            error(
                self.device(),
                format!("buffer {:?} is shorter than {n} {}", self.key, T::NAME),
            )
        })
    }

    /// Copies the buffer back to host memory.
    ///
    /// # Errors
    ///
    /// [`Error::Device`] if the copy fails.
    pub fn to_host(&self) -> Result<Buffer> {
        self.gpu.download(&self.bytes.slice, self.bytes.len)
    }
}

/// Uploads `host` (the buffer `key` as the array reads it) once per device
/// through `cache`.
pub(crate) fn device_buffer(
    cache: &super::DeviceCache,
    gpu: &Arc<Gpu>,
    key: CopyKey,
    host: impl FnOnce() -> Result<Buffer>,
    (dtype, itemsize, native): (String, usize, &'static str),
) -> Result<DeviceBuffer> {
    let mode = cache.upload_mode();
    let bytes = cache.copies.get_or_upload(&key, || {
        let b = host()?;
        let slice = gpu.upload(b.as_slice(), mode)?;
        Ok((
            DeviceBytes {
                slice,
                len: b.len(),
            },
            b.len() as u64,
        ))
    })?;
    Ok(DeviceBuffer {
        bytes,
        gpu: Arc::clone(gpu),
        key: key.key.to_string(),
        dtype,
        itemsize,
        native,
    })
}
