//! Where buffers materialize: host memory, or a CUDA device (feature `cuda`).
//!
//! [`crate::Array::to_device`] gives an array whose buffers, on first touch,
//! come through the shared host cache (read once, byte-swapped or aligned
//! once if need be) and are then uploaded once per (key, device) through a
//! `DeviceCache` (`cache.rs`: the copies' own budget, upload mode and
//! counters; `copies.rs` their single flight, generic so that its rules are
//! tested without a GPU).

#[cfg(feature = "cuda")]
mod cache;
#[cfg(any(test, feature = "cuda"))]
pub(crate) mod copies;
#[cfg(feature = "cuda")]
pub(crate) mod cuda;

use crate::error::{Error, Result};
use std::fmt;
use std::str::FromStr;

#[cfg(feature = "cuda")]
pub use cache::{DeviceCache, DeviceStats};
#[cfg(feature = "cuda")]
#[allow(deprecated)]
pub use cuda::set_upload_mode;
#[cfg(feature = "cuda")]
pub use cuda::{cuda_available, DeviceBuffer, DeviceNative, UploadMode, STAGED_MIN};

/// A place for buffers: the host, or a CUDA device by ordinal.
///
/// ```
/// use akbuf::Device;
///
/// assert_eq!("cuda:1".parse::<Device>()?, Device::Cuda(1));
/// assert_eq!("cuda".parse::<Device>()?, Device::Cuda(0));
/// assert_eq!("cpu".parse::<Device>()?, Device::Cpu);
/// assert_eq!(Device::Cuda(0).to_string(), "cuda:0");
/// assert!("tpu:0".parse::<Device>().is_err());
/// # Ok::<(), akbuf::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Device {
    /// Host memory (where every buffer is first read).
    #[default]
    Cpu,
    /// A CUDA device, by ordinal.
    Cuda(usize),
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl FromStr for Device {
    type Err = Error;

    /// `cpu`, `cuda` (device 0) or `cuda:N`.
    fn from_str(s: &str) -> Result<Device> {
        let bad = || {
            Error::Argument(format!(
                "unknown device {s:?}: expected cpu, cuda or cuda:N"
            ))
        };
        match s {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda(0)),
            _ => {
                let n = s.strip_prefix("cuda:").ok_or_else(bad)?;
                n.parse().map(Device::Cuda).map_err(|_| bad())
            }
        }
    }
}

/// The device an array materializes on, with what it needs to get there.
#[derive(Clone, Default)]
pub(crate) enum Placement {
    #[default]
    Host,
    /// The device, and the cache of the copies made there.
    #[cfg(feature = "cuda")]
    Cuda(std::sync::Arc<cuda::Gpu>, std::sync::Arc<DeviceCache>),
}

impl Placement {
    /// Opens `device`: the host always; a CUDA device only with the `cuda`
    /// feature, a driver and a device of that ordinal, its copies kept in
    /// `copies` (a new device cache if `None`).
    #[cfg(feature = "cuda")]
    pub(crate) fn open(
        device: Device,
        copies: Option<std::sync::Arc<DeviceCache>>,
    ) -> Result<Placement> {
        match device {
            Device::Cpu => Ok(Placement::Host),
            Device::Cuda(n) => Ok(Placement::Cuda(
                cuda::Gpu::open(n)?,
                copies.unwrap_or_default(),
            )),
        }
    }

    /// Opens `device`: the host; no CUDA device without the `cuda` feature.
    #[cfg(not(feature = "cuda"))]
    pub(crate) fn open(device: Device) -> Result<Placement> {
        match device {
            Device::Cpu => Ok(Placement::Host),
            #[cfg(not(feature = "cuda"))]
            Device::Cuda(_) => Err(Error::Device {
                device: device.to_string(),
                message: "akbuf was built without the `cuda` feature".into(),
            }),
        }
    }

    pub(crate) fn device(&self) -> Device {
        match self {
            Placement::Host => Device::Cpu,
            #[cfg(feature = "cuda")]
            Placement::Cuda(g, _) => Device::Cuda(g.ordinal),
        }
    }
}
