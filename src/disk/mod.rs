//! The disk tier: byte ranges of remote objects kept on local disk, shared
//! by every process on the machine and across runs.
//!
//! A piece is one file: a header (the object, its version, the version of
//! the container it was read under, the byte range and the object's size,
//! each checksummed) and the bytes, checksummed too. A piece is written to
//! a temporary file and renamed into place, so a reader never sees half of
//! one; a piece whose checksum, length or header does not hold is deleted
//! and read again from the network, never served. Processes fetching the
//! same cold object take turns on a lock file (`flock`, polled, never
//! waited on past the read's time budget), so N processes cause one
//! download. Pieces are evicted least recently used first (a hit touches
//! its file's modification time) once the tier holds more than its budget.
//! A tier that cannot be written (a full or read-only disk) is skipped with
//! one warning: reads go to the network, never fail because of it.
//!
//! This module moves bytes only: what a version or a container is, is the
//! remote source's business (it hands strings in and gets them back).

// The crate's reader of the tier is the remote source.
#![cfg_attr(not(feature = "remote"), allow(dead_code))]

mod piece;

use crate::buffer::Buffer;
use parking_lot::Mutex;
use piece::{Head, HEAD_FIXED};
use std::collections::HashSet;
use std::fs::{self, File};
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::SystemTime;

/// The folder under a tier's directory that holds this layout's pieces.
const LAYOUT: &str = "akbuf-disk-1";

/// The budget of a tier made without one: 10 GiB.
pub const DEFAULT_DISK_BUDGET: u64 = 10 << 30;

/// A persistent tier on local disk under a [`Cache`](crate::Cache): pieces
/// of remote objects, keyed by store, object and version, kept across
/// processes and runs within a byte budget (least recently used evicted).
///
/// Attach it with [`Cache::with_disk`](crate::Cache::with_disk); every
/// remote container opened over that cache reads through it. Local
/// containers are never copied into it (they are mapped already).
///
/// ```
/// use akbuf::{Cache, DiskCache};
///
/// let dir = tempfile::tempdir()?;
/// let cache = Cache::new().with_disk(DiskCache::new(dir.path()).with_budget(1 << 30));
/// let disk = cache.disk().unwrap();
/// assert_eq!(disk.budget(), 1 << 30);
/// assert_eq!(disk.usage()?.pieces, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct DiskCache {
    dir: PathBuf,
    root: PathBuf,
    budget: u64,
    /// The bytes this process believes the tier holds (scanned once, then
    /// counted; scanned again before an eviction).
    held: Mutex<Option<u64>>,
    /// Pieces whose checksum this process has checked (each once).
    checked: Mutex<HashSet<PathBuf>>,
    warned: AtomicBool,
    counters: Counters,
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    bytes_served: AtomicU64,
    stored: AtomicU64,
    bytes_stored: AtomicU64,
    corrupt: AtomicU64,
    evicted: AtomicU64,
    failures: AtomicU64,
}

/// What a [`DiskCache`] did in this process.
///
/// ```
/// let disk = akbuf::DiskCache::new(std::env::temp_dir().join("akbuf-doc-stats"));
/// assert_eq!(disk.stats(), akbuf::DiskStats::default());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskStats {
    /// Reads served from disk.
    pub hits: u64,
    /// Reads the disk could not serve.
    pub misses: u64,
    /// Bytes served from disk.
    pub bytes_served: u64,
    /// Pieces written.
    pub stored: u64,
    /// Bytes written.
    pub bytes_stored: u64,
    /// Pieces found damaged (checksum, length or header), deleted and read
    /// again from the network.
    pub corrupt: u64,
    /// Pieces evicted to keep within the budget.
    pub evicted: u64,
    /// Writes that failed (a full or read-only disk): the bytes came from
    /// the network all the same.
    pub failures: u64,
}

/// What a [`DiskCache`]'s directory holds.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let usage = akbuf::DiskCache::new(dir.path()).usage()?;
/// assert_eq!((usage.pieces, usage.bytes), (0, 0));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskUsage {
    /// Pieces stored.
    pub pieces: u64,
    /// Bytes their files take.
    pub bytes: u64,
}

/// A piece found on disk for an object.
#[derive(Clone, Debug)]
pub(crate) struct Piece {
    /// The object's version when the piece was read (the caller's string).
    pub(crate) version: String,
    /// The container's version it was read under (the caller's string).
    pub(crate) container: String,
    /// The bytes it holds.
    pub(crate) range: Range<u64>,
    /// The object's size, if it was known.
    pub(crate) size: Option<u64>,
    path: PathBuf,
}

impl Piece {
    /// Whether it holds `range` (clipped to the object's end).
    pub(crate) fn covers(&self, range: &Range<u64>) -> bool {
        let end = match self.size {
            Some(size) => range.end.min(size),
            None => range.end,
        };
        self.range.start <= range.start.min(end) && end <= self.range.end
    }
}

/// A turn on an object's lock file (released when dropped).
pub(crate) struct Turn {
    _file: Option<File>,
}

impl std::fmt::Debug for DiskCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskCache")
            .field("dir", &self.dir)
            .field("budget", &self.budget)
            .field("stats", &self.stats())
            .finish()
    }
}

impl DiskCache {
    /// A tier under `dir` (made when first written), with the
    /// [`DEFAULT_DISK_BUDGET`]. Touches nothing on disk.
    ///
    /// ```
    /// let disk = akbuf::DiskCache::new("/tmp/akbuf-cache");
    /// assert_eq!(disk.dir(), std::path::Path::new("/tmp/akbuf-cache"));
    /// assert_eq!(disk.budget(), akbuf::DEFAULT_DISK_BUDGET);
    /// ```
    pub fn new(dir: impl Into<PathBuf>) -> DiskCache {
        let dir = dir.into();
        DiskCache {
            root: dir.join(LAYOUT),
            dir,
            budget: DEFAULT_DISK_BUDGET,
            held: Mutex::new(None),
            checked: Mutex::new(HashSet::new()),
            warned: AtomicBool::new(false),
            counters: Counters::default(),
        }
    }

    /// At most `bytes` on disk: the least recently used pieces are deleted
    /// past it (a piece larger than the budget is not stored).
    ///
    /// ```
    /// assert_eq!(akbuf::DiskCache::new("/tmp/c").with_budget(1 << 20).budget(), 1 << 20);
    /// ```
    #[must_use]
    pub fn with_budget(mut self, bytes: u64) -> DiskCache {
        self.budget = bytes;
        self
    }

    /// The tier's directory.
    ///
    /// ```
    /// assert_eq!(akbuf::DiskCache::new("/tmp/c").dir().to_str(), Some("/tmp/c"));
    /// ```
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The byte budget.
    ///
    /// ```
    /// assert_eq!(akbuf::DiskCache::new("/tmp/c").with_budget(5).budget(), 5);
    /// ```
    pub fn budget(&self) -> u64 {
        self.budget
    }

    /// What this process's reads and writes through the tier did.
    ///
    /// ```
    /// assert_eq!(akbuf::DiskCache::new("/tmp/c").stats().hits, 0);
    /// ```
    pub fn stats(&self) -> DiskStats {
        let c = &self.counters;
        DiskStats {
            hits: c.hits.load(Relaxed),
            misses: c.misses.load(Relaxed),
            bytes_served: c.bytes_served.load(Relaxed),
            stored: c.stored.load(Relaxed),
            bytes_stored: c.bytes_stored.load(Relaxed),
            corrupt: c.corrupt.load(Relaxed),
            evicted: c.evicted.load(Relaxed),
            failures: c.failures.load(Relaxed),
        }
    }

    /// The pieces stored and the bytes they take (every process's).
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// assert_eq!(akbuf::DiskCache::new(dir.path()).usage()?.bytes, 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The `io::Error` of a directory that cannot be listed.
    pub fn usage(&self) -> io::Result<DiskUsage> {
        let mut usage = DiskUsage::default();
        for (_, len, _) in self.files()? {
            usage.pieces += 1;
            usage.bytes += len;
        }
        Ok(usage)
    }

    /// Deletes every piece; returns the bytes freed. Other processes'
    /// reads in progress keep what they opened.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// assert_eq!(akbuf::DiskCache::new(dir.path()).clear()?, 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The `io::Error` of a file or folder that cannot be deleted.
    pub fn clear(&self) -> io::Result<u64> {
        let freed = self.usage()?.bytes;
        match fs::remove_dir_all(&self.root) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        *self.held.lock() = Some(0);
        self.checked.lock().clear();
        Ok(freed)
    }

    /// The folder of `object`'s pieces.
    fn object_dir(&self, object: &str) -> PathBuf {
        let h = format!("{:016x}", fnv(object.as_bytes()));
        self.root.join(&h[..2]).join(&h)
    }

    /// The pieces stored for `object`, newest first.
    pub(crate) fn pieces(&self, object: &str) -> Vec<Piece> {
        let Ok(entries) = fs::read_dir(self.object_dir(object)) else {
            return Vec::new();
        };
        let mut found: Vec<(SystemTime, Piece)> = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "piece") {
                continue;
            }
            match piece::read_head(&path) {
                Some((head, modified)) if head.object == object => found.push((
                    modified,
                    Piece {
                        version: head.version,
                        container: head.container,
                        range: head.start..head.end,
                        size: head.size,
                        path,
                    },
                )),
                Some(_) => {}
                None => self.damaged(&path),
            }
        }
        found.sort_by_key(|f| std::cmp::Reverse(f.0));
        found.into_iter().map(|(_, p)| p).collect()
    }

    /// Bytes `range` of `piece` (clipped to the object's end), its
    /// checksum checked (once per process); `None` (the piece deleted) if
    /// it does not hold.
    pub(crate) fn load(&self, piece: &Piece, range: Range<u64>) -> Option<Buffer> {
        let end = range.end.min(piece.range.end);
        let start = range.start.min(end);
        match piece::read_data(&piece.path, &self.checked) {
            Some(data) => {
                let at = (start - piece.range.start) as usize;
                let len = (end - start) as usize;
                let out = data.slice(at, len).ok()?;
                piece::touch(&piece.path);
                self.counters.hits.fetch_add(1, Relaxed);
                self.counters.bytes_served.fetch_add(len as u64, Relaxed);
                Some(out)
            }
            None => {
                self.damaged(&piece.path);
                None
            }
        }
    }

    /// Counts a read the disk could not serve.
    pub(crate) fn missed(&self) {
        self.counters.misses.fetch_add(1, Relaxed);
    }

    /// Deletes a damaged piece.
    fn damaged(&self, path: &Path) {
        self.counters.corrupt.fetch_add(1, Relaxed);
        self.checked.lock().remove(path);
        let _ = fs::remove_file(path);
    }

    /// Stores `data`, bytes `start..` of `object` at `version`, read under
    /// `container`; `size` the object's size if known. Never fails: a
    /// write that cannot be made is counted, warned about once, and skipped.
    pub(crate) fn store(
        &self,
        object: &str,
        version: &str,
        container: &str,
        start: u64,
        size: Option<u64>,
        data: &[u8],
    ) {
        let head = Head {
            object: object.to_string(),
            version: version.to_string(),
            container: container.to_string(),
            start,
            end: start + data.len() as u64,
            size,
        };
        let bytes = (HEAD_FIXED + head.ident().len() + data.len()) as u64;
        if bytes > self.budget {
            return;
        }
        let dir = self.object_dir(object);
        let name = format!(
            "{:016x}-{}-{}.piece",
            fnv(&head.ident()),
            head.start,
            head.end
        );
        match piece::write(&dir, &name, &head, data) {
            Ok(()) => {
                self.counters.stored.fetch_add(1, Relaxed);
                self.counters
                    .bytes_stored
                    .fetch_add(data.len() as u64, Relaxed);
                self.grew(bytes);
            }
            Err(e) => self.failed(&e),
        }
    }

    /// Counts and warns (once) about a write that failed.
    fn failed(&self, e: &io::Error) {
        self.counters.failures.fetch_add(1, Relaxed);
        if !self.warned.swap(true, Relaxed) {
            eprintln!(
                "akbuf: warning: the disk cache at {} cannot be written ({e}); reading from the network",
                self.dir.display()
            );
        }
    }

    /// Notes `bytes` more on disk, evicting past the budget.
    fn grew(&self, bytes: u64) {
        let mut held = self.held.lock();
        let now = match *held {
            Some(n) => n + bytes,
            None => self.usage().map_or(bytes, |u| u.bytes),
        };
        *held = Some(now);
        if now > self.budget {
            *held = Some(self.evict());
        }
    }

    /// Deletes the least recently used pieces until the tier holds at
    /// most 90% of its budget; returns what it then holds.
    fn evict(&self) -> u64 {
        let Ok(mut files) = self.files() else {
            return 0;
        };
        let mut total: u64 = files.iter().map(|f| f.1).sum();
        let goal = self.budget - self.budget / 10;
        files.sort_by_key(|f| f.2);
        for (path, len, _) in files {
            if total <= goal {
                break;
            }
            if fs::remove_file(&path).is_ok() {
                total = total.saturating_sub(len);
                self.checked.lock().remove(&path);
                self.counters.evicted.fetch_add(1, Relaxed);
            }
        }
        total
    }

    /// Every piece file: path, length, last use.
    fn files(&self) -> io::Result<Vec<(PathBuf, u64, SystemTime)>> {
        let mut out = Vec::new();
        let top = match fs::read_dir(&self.root) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        for shard in top.flatten() {
            for object in fs::read_dir(shard.path()).into_iter().flatten().flatten() {
                for file in fs::read_dir(object.path()).into_iter().flatten().flatten() {
                    let path = file.path();
                    if path.extension().is_none_or(|e| e != "piece") {
                        continue;
                    }
                    if let Ok(meta) = file.metadata() {
                        let used = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                        out.push((path, meta.len(), used));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Tries to take `object`'s lock (a file lock other processes see);
    /// `None` while another holds it. A tier that cannot hold a lock file
    /// gives a turn without one.
    pub(crate) fn try_turn(&self, object: &str) -> Option<Turn> {
        let dir = self.object_dir(object);
        // Never blocking on a FIFO someone put there; a lock that is not a
        // regular file gives a turn without one.
        let open = || {
            let mut options = fs::OpenOptions::new();
            options.create(true).truncate(false).write(true);
            crate::sys::open_regular_using(&dir.join("lock"), options, true).map(|(f, _)| f)
        };
        let file = match open() {
            Ok(f) => f,
            Err(_) => match fs::create_dir_all(&dir).and_then(|()| open()) {
                Ok(f) => f,
                Err(_) => return Some(Turn { _file: None }),
            },
        };
        match crate::sys::try_lock(&file) {
            Ok(true) => Some(Turn { _file: Some(file) }),
            Ok(false) => None,
            Err(_) => Some(Turn { _file: None }),
        }
    }
}

/// FNV-1a, 64 bits: a file name stable across processes and builds (the
/// header holds the full identity; a collision is a miss, never a mix).
fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_serves_and_detects_damage() {
        let dir = tempfile::tempdir().unwrap();
        let disk = DiskCache::new(dir.path());
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        disk.store("http://h/c/k", "v1", "m1", 0, Some(100_000), &data);
        let pieces = disk.pieces("http://h/c/k");
        assert_eq!(pieces.len(), 1);
        assert!(pieces[0].covers(&(10..u64::MAX)));
        assert_eq!(pieces[0].version, "v1");
        let got = disk.load(&pieces[0], 10..20).unwrap();
        assert_eq!(got.as_slice(), &data[10..20]);
        assert!(disk.pieces("http://h/c/other").is_empty());
        // A flipped byte: found on the next process's check, deleted.
        let fresh = DiskCache::new(dir.path());
        let path = pieces[0].path.clone();
        let mut bytes = std::fs::read(&path).unwrap();
        let n = bytes.len();
        bytes[n - 5] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        assert!(fresh
            .load(&fresh.pieces("http://h/c/k")[0], 0..10)
            .is_none());
        assert_eq!(fresh.stats().corrupt, 1);
        assert!(!path.exists());
    }

    #[cfg(unix)]
    #[test]
    fn fifos_and_links_in_the_tier_are_damage_not_a_wait() {
        let dir = tempfile::tempdir().unwrap();
        let disk = DiskCache::new(dir.path());
        let outside = dir.path().join("outside");
        for (i, what) in ["fifo", "link", "lock"].iter().enumerate() {
            let object = format!("o{i}");
            disk.store(&object, "v", "c", 0, None, &[7u8; 100]);
            let path = disk.pieces(&object)[0].path.clone();
            std::fs::rename(&path, &outside).unwrap();
            let fifo = |p: &Path| {
                let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
                // SAFETY: a valid NUL-terminated path; mkfifo only creates a file.
                assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
            };
            match *what {
                // Opening a FIFO to read (or to touch it) would wait for a writer.
                "fifo" => fifo(&path),
                // A piece's bytes elsewhere: never followed.
                "link" => std::os::unix::fs::symlink(&outside, &path).unwrap(),
                // A FIFO as the lock: a turn without a lock, no wait.
                _ => {
                    std::fs::rename(&outside, &path).unwrap();
                    let lock = path.parent().unwrap().join("lock");
                    let _ = std::fs::remove_file(&lock);
                    fifo(&lock);
                    assert!(disk.try_turn(&object).is_some());
                    continue;
                }
            }
            assert!(disk.pieces(&object).is_empty(), "{what}");
            assert!(!path.exists(), "{what}: the damaged piece stays");
            std::fs::remove_file(&outside).unwrap();
        }
    }

    #[test]
    fn evicts_the_least_recently_used() {
        let dir = tempfile::tempdir().unwrap();
        let disk = DiskCache::new(dir.path()).with_budget(50_000);
        for i in 0..5 {
            disk.store(&format!("o{i}"), "v", "c", 0, None, &vec![i as u8; 20_000]);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let usage = disk.usage().unwrap();
        assert!(usage.bytes <= 50_000, "{usage:?}");
        assert!(disk.pieces("o0").is_empty());
        assert_eq!(disk.pieces("o4").len(), 1);
        assert!(disk.stats().evicted >= 3);
    }

    #[test]
    fn turns_exclude_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let disk = DiskCache::new(dir.path());
        let turn = disk.try_turn("o").unwrap();
        assert!(disk.try_turn("o").is_none());
        drop(turn);
        assert!(disk.try_turn("o").is_some());
    }
}
