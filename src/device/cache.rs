//! [`DeviceCache`]: the device copies of arrays, with their own budget,
//! upload mode and counters (feature `cuda`). The host cache knows nothing
//! of devices: an array's buffers are read once into it, and a device
//! cache uploads each once per (source, key, device).

use super::copies::Copies;
use super::cuda::{default_upload_mode, DeviceBytes, UploadMode};
use std::fmt;
use std::sync::atomic::Ordering::Relaxed;

/// The device copies of arrays on a device: one upload per (source, key,
/// device), whatever the number of threads asking; past the byte budget
/// (unbounded by default) the least recently used copies leave it (a copy
/// still held elsewhere stays valid). [`crate::Array::to_device`] makes
/// one for the array and everything taken from it;
/// [`crate::Array::to_device_with`] shares one between arrays.
///
/// ```
/// use akbuf::{DeviceCache, UploadMode};
///
/// let copies = DeviceCache::new().with_budget(8 << 30).with_upload_mode(UploadMode::Staged);
/// assert_eq!((copies.budget(), copies.upload_mode()), (Some(8 << 30), UploadMode::Staged));
/// assert_eq!(copies.stats().uploads, 0);
/// ```
pub struct DeviceCache {
    pub(crate) copies: Copies<DeviceBytes>,
    budget: Option<u64>,
    mode: Option<UploadMode>,
}

/// A snapshot of a [`DeviceCache`]'s counters.
///
/// ```
/// let stats = akbuf::DeviceCache::new().stats();
/// assert_eq!((stats.uploads, stats.hits, stats.bytes), (0, 0, 0));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceStats {
    /// Uploads to devices.
    pub uploads: u64,
    /// Bytes those uploads copied.
    pub upload_bytes: u64,
    /// Uploads that failed.
    pub failed_uploads: u64,
    /// Requests for a copy served from the cache.
    pub hits: u64,
    /// Requests for a copy that joined an upload in flight.
    pub waits: u64,
    /// Requests served by reviving a dropped copy still held elsewhere.
    pub revivals: u64,
    /// Copies dropped to respect the budget.
    pub evictions: u64,
    /// Device bytes held now.
    pub bytes: u64,
}

impl Default for DeviceCache {
    fn default() -> DeviceCache {
        DeviceCache::new()
    }
}

impl fmt::Debug for DeviceCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceCache")
            .field("budget", &self.budget)
            .field("mode", &self.upload_mode())
            .field("stats", &self.stats())
            .finish()
    }
}

impl DeviceCache {
    /// An empty, unbounded device cache uploading in the default mode.
    pub fn new() -> DeviceCache {
        DeviceCache {
            copies: Copies::new(None),
            budget: None,
            mode: None,
        }
    }

    /// A device cache holding at most `bytes` of copies (see the type's
    /// docs for what leaves it).
    #[must_use]
    pub fn with_budget(self, bytes: u64) -> DeviceCache {
        DeviceCache {
            copies: Copies::new(Some(bytes)),
            budget: Some(bytes),
            ..self
        }
    }

    /// The byte budget, if any.
    pub fn budget(&self) -> Option<u64> {
        self.budget
    }

    /// Chooses how host bytes are copied to the device (default
    /// [`UploadMode::Auto`]).
    #[must_use]
    pub fn with_upload_mode(mut self, mode: UploadMode) -> DeviceCache {
        self.mode = Some(mode);
        self
    }

    /// How host bytes are copied to the device.
    pub fn upload_mode(&self) -> UploadMode {
        self.mode.unwrap_or_else(default_upload_mode)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> DeviceStats {
        let c = &self.copies.counters;
        DeviceStats {
            uploads: c.uploads.load(Relaxed),
            upload_bytes: c.upload_bytes.load(Relaxed),
            failed_uploads: c.failed_uploads.load(Relaxed),
            hits: c.hits.load(Relaxed),
            waits: c.waits.load(Relaxed),
            revivals: c.revivals.load(Relaxed),
            evictions: c.evictions.load(Relaxed),
            bytes: c.resident_bytes.load(Relaxed),
        }
    }
}
