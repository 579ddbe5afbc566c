//! Where an array's buffers materialize: the host, or a CUDA device
//! through a `DeviceCache` (feature `cuda`).

#[allow(unused_imports)]
use super::*;

impl Array {
    /// A partition of this array, on this array's device.
    pub(crate) fn placed(&self, mut part: Array) -> Result<Array> {
        part.placement = self.placement.clone();
        Ok(part)
    }

    /// The same array, with its buffers materializing on `device` on first
    /// touch: each read once into the host cache (converted there once if it
    /// is big-endian or misaligned), then uploaded once per (key, device)
    /// into a new `DeviceCache` (feature `cuda`) shared by everything taken from
    /// this array (fields, slices, partitions), with the host cache's
    /// single flight; `Array::to_device_with` (feature `cuda`) gives the device cache (a
    /// budget, an upload mode, copies shared between arrays).
    /// Host access ([`Array::values`], JSON, ...) works as before. Reads and
    /// uploads nothing yet.
    ///
    /// ```
    /// use akbuf::{open, Device, Error};
    ///
    /// let events = open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))?;
    /// match events.to_device(Device::Cuda(0)) {
    ///     Ok(on_gpu) => assert_eq!(on_gpu.device(), Device::Cuda(0)),
    ///     // Built without the `cuda` feature, no driver, or no device 0.
    ///     Err(Error::Device { device, .. }) => assert_eq!(device, "cuda:0"),
    ///     Err(e) => return Err(e),
    /// }
    /// assert_eq!(events.to_device(Device::Cpu)?.device(), Device::Cpu);
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Device`] when the device cannot be used: the crate was built
    /// without the `cuda` feature, there is no CUDA driver, or no such device.
    pub fn to_device(&self, device: Device) -> Result<Array> {
        #[cfg(feature = "cuda")]
        let placement = Placement::open(device, None)?;
        #[cfg(not(feature = "cuda"))]
        let placement = Placement::open(device)?;
        Ok(self.placed_at(placement))
    }

    /// [`Array::to_device`], keeping the copies in `copies` (feature
    /// `cuda`): arrays given one device cache upload each buffer once
    /// between them, within its budget and in its upload mode.
    ///
    /// ```
    /// use akbuf::{open, Device, DeviceCache};
    /// use std::sync::Arc;
    ///
    /// let events = open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))?;
    /// let copies = Arc::new(DeviceCache::new().with_budget(1 << 30));
    /// if let Ok(on_gpu) = events.to_device_with(Device::Cuda(0), Arc::clone(&copies)) {
    ///     on_gpu.field("met")?.device_values()?;
    ///     assert_eq!(copies.stats().uploads, 1);
    /// }
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Array::to_device`].
    #[cfg(feature = "cuda")]
    pub fn to_device_with(
        &self,
        device: Device,
        copies: Arc<crate::device::DeviceCache>,
    ) -> Result<Array> {
        Ok(self.placed_at(Placement::open(device, Some(copies))?))
    }

    pub(super) fn placed_at(&self, placement: Placement) -> Array {
        Array {
            node: Arc::clone(&self.node),
            loader: Arc::clone(&self.loader),
            placement,
            parts: self.parts.clone(),
            origin: self.origin.clone(),
        }
    }

    /// Where this array's buffers materialize (see [`Array::to_device`]).
    pub fn device(&self) -> Device {
        self.placement.device()
    }
}

/// Device buffers (feature `cuda`).
#[cfg(feature = "cuda")]
impl Array {
    pub(super) fn gpu(
        &self,
    ) -> Result<(&Arc<crate::device::cuda::Gpu>, &crate::device::DeviceCache)> {
        match &self.placement {
            Placement::Cuda(g, copies) => Ok((g, copies)),
            Placement::Host => Err(Error::Device {
                device: Device::Cpu.to_string(),
                message: "this array is on the host: call to_device(Device::Cuda(n)) first".into(),
            }),
        }
    }

    pub(super) fn upload(
        &self,
        b: &Arc<crate::layout::lazy::LazyBuf>,
    ) -> Result<crate::device::cuda::DeviceBuffer> {
        use crate::device::copies::CopyKey;
        let (gpu, copies) = self.gpu()?;
        let key = CopyKey {
            source: self.loader.number,
            key: Arc::clone(&b.key),
            ordinal: gpu.ordinal,
            swapped: b.swapped(),
        };
        let native = match b.dtype {
            crate::layout::lazy::DType::Index(t) => t.numpy_name(),
            crate::layout::lazy::DType::Prim(p) => super::views::native_name(p),
        };
        crate::device::cuda::device_buffer(
            copies,
            gpu,
            key,
            || b.get(),
            (b.dtype.name(), b.dtype.itemsize(), native),
        )
    }

    /// For a `NumpyArray` on a device: its data there, uploaded on first
    /// touch (once per key and device, whatever the number of threads).
    ///
    /// # Errors
    ///
    /// [`Error::Device`] if the array is on the host or the upload fails;
    /// [`Error::TypeMismatch`] if this is not a `NumpyArray`; read errors.
    pub fn device_values(&self) -> Result<crate::device::cuda::DeviceBuffer> {
        match &self.node.data {
            NodeData::Numpy { data, .. } => self.upload(data),
            _ => Err(self.mismatch("device values")),
        }
    }

    /// For a `ListOffsetArray` on a device: its offsets there.
    ///
    /// # Errors
    ///
    /// As [`Array::device_values`].
    pub fn device_offsets(&self) -> Result<crate::device::cuda::DeviceBuffer> {
        match &self.node.data {
            NodeData::ListOffset { offsets, .. } => self.upload(offsets),
            _ => Err(self.mismatch("device offsets")),
        }
    }

    /// Every buffer of this array on its device, depth-first in the order
    /// of [`Array::buffers`], each uploaded once.
    ///
    /// # Errors
    ///
    /// As [`Array::device_values`].
    pub fn device_buffers(&self) -> Result<Vec<crate::device::cuda::DeviceBuffer>> {
        fn go(a: &Array, n: &Node, out: &mut Vec<crate::device::cuda::DeviceBuffer>) -> Result<()> {
            n.len.get()?;
            for (_, b) in n.data.buffers() {
                out.push(a.upload(b)?);
            }
            n.children().into_iter().try_for_each(|c| go(a, c, out))
        }
        self.gpu()?;
        let mut out = Vec::new();
        go(self, &self.node, &mut out)?;
        Ok(out)
    }
}
