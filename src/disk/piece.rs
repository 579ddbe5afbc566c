//! One piece file: its header (checksummed), its bytes (checksummed),
//! written to a temporary file and renamed into place.
//!
//! ```text
//! "AKBUFDC1" | start u64 | end u64 | size u64 (u64::MAX: unknown)
//! | data crc32 u32 | ident length u32 | header crc32 u32 | ident
//! | zeros to a multiple of 64 | data (end - start bytes)
//! ```
//! The ident is the object, the version and the container, each a u32
//! length and its UTF-8 bytes; all numbers little-endian.

use crate::buffer::Buffer;
use parking_lot::Mutex;
use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::SystemTime;

const MAGIC: &[u8; 8] = b"AKBUFDC1";
/// The header's bytes before its ident.
pub(super) const HEAD_FIXED: usize = 44;
/// From this size on, a piece is mapped rather than read.
const MAP_FROM: u64 = 256 << 10;
/// The longest ident read back (a longer one is a damaged header).
const IDENT_LIMIT: usize = 1 << 16;

/// A piece's header.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Head {
    pub(super) object: String,
    pub(super) version: String,
    pub(super) container: String,
    pub(super) start: u64,
    pub(super) end: u64,
    pub(super) size: Option<u64>,
}

impl Head {
    /// The object, version and container, length-prefixed.
    pub(super) fn ident(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for s in [&self.object, &self.version, &self.container] {
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        out
    }

    /// The header's bytes, padded to the data's offset.
    fn bytes(&self, data_crc: u32) -> Vec<u8> {
        let ident = self.ident();
        let mut out = Vec::with_capacity(HEAD_FIXED + ident.len() + 64);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.start.to_le_bytes());
        out.extend_from_slice(&self.end.to_le_bytes());
        out.extend_from_slice(&self.size.unwrap_or(u64::MAX).to_le_bytes());
        out.extend_from_slice(&data_crc.to_le_bytes());
        out.extend_from_slice(&(ident.len() as u32).to_le_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(&out);
        crc.update(&ident);
        out.extend_from_slice(&crc.finalize().to_le_bytes());
        out.extend_from_slice(&ident);
        out.resize(data_offset(ident.len()), 0);
        out
    }
}

/// Where the data starts for an ident of `len` bytes: 64-byte aligned, as
/// akbuf's buffers are.
fn data_offset(len: usize) -> usize {
    (HEAD_FIXED + len).div_ceil(64) * 64
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

/// The strings of an ident, if it is well made.
fn split_ident(mut b: &[u8]) -> Option<[String; 3]> {
    let mut out: [String; 3] = Default::default();
    for s in &mut out {
        if b.len() < 4 {
            return None;
        }
        let n = u32_at(b, 0) as usize;
        let text = b.get(4..4 + n)?;
        *s = std::str::from_utf8(text).ok()?.to_string();
        b = &b[4 + n..];
    }
    b.is_empty().then_some(out)
}

/// The header of the piece in `file` (of `len` bytes) and its data crc,
/// if it holds together with the file's length.
fn head_of(file: &mut File, len: u64) -> Option<(Head, u32, usize)> {
    let mut fixed = [0u8; HEAD_FIXED];
    file.read_exact(&mut fixed).ok()?;
    if &fixed[..8] != MAGIC {
        return None;
    }
    let ident_len = u32_at(&fixed, 36) as usize;
    if ident_len > IDENT_LIMIT {
        return None;
    }
    let mut ident = vec![0u8; ident_len];
    file.read_exact(&mut ident).ok()?;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&fixed[..40]);
    crc.update(&ident);
    if crc.finalize() != u32_at(&fixed, 40) {
        return None;
    }
    let [object, version, container] = split_ident(&ident)?;
    let (start, end, size) = (u64_at(&fixed, 8), u64_at(&fixed, 16), u64_at(&fixed, 24));
    let offset = data_offset(ident_len);
    if start > end || len != (offset as u64).checked_add(end - start)? {
        return None;
    }
    let head = Head {
        object,
        version,
        container,
        start,
        end,
        size: (size != u64::MAX).then_some(size),
    };
    Some((head, u32_at(&fixed, 32), offset))
}

/// The header of the piece at `path` and its last use, if it holds.
pub(super) fn read_head(path: &Path) -> Option<(Head, SystemTime)> {
    let (mut file, len) = open_piece(path)?;
    let meta = file.metadata().ok()?;
    let (head, _, _) = head_of(&mut file, len)?;
    Some((head, meta.modified().unwrap_or(SystemTime::UNIX_EPOCH)))
}

/// The data of the piece at `path`, its checksum checked unless `checked`
/// holds the path already (then added to it); `None` if it does not hold.
pub(super) fn read_data(path: &Path, checked: &Mutex<HashSet<PathBuf>>) -> Option<Buffer> {
    let (mut file, len) = open_piece(path)?;
    let (head, crc, offset) = head_of(&mut file, len)?;
    let n = usize::try_from(head.end - head.start).ok()?;
    let data = if len >= MAP_FROM {
        // SAFETY: a map is undefined behaviour if its file changes while
        // mapped. Pieces are never written in place: each is written to a
        // temporary file and renamed over its name, and eviction unlinks,
        // which leaves an open map intact; the tier's directory is akbuf's
        // own (the same contract as a directory container's files). The
        // length was checked against the header just above.
        // Populated at once: the checksum reads every page anyway, and one
        // call maps them faster than a fault each.
        let map = unsafe { memmap2::MmapOptions::new().populate().map(&file) }.ok()?;
        Buffer::from_mmap(map).slice(offset, n).ok()?
    } else {
        let mut all = vec![0u8; n];
        file.seek(SeekFrom::Start(offset as u64)).ok()?;
        file.read_exact(&mut all).ok()?;
        Buffer::copy_from_slice(&all)
    };
    if !checked.lock().contains(path) {
        if crc32fast::hash(data.as_slice()) != crc {
            return None;
        }
        checked.lock().insert(path.to_path_buf());
    }
    Some(data)
}

/// Marks a piece as just used (its modification time: what eviction
/// orders by).
pub(super) fn touch(path: &Path) {
    let mut options = File::options();
    options.append(true);
    if let Ok((f, _)) = crate::sys::open_regular_using(path, options, true) {
        let _ = f.set_modified(SystemTime::now());
    }
}

/// A piece's file and length: a regular file of the tier's own, never a
/// link, a FIFO (opened without blocking) or a device someone put there.
fn open_piece(path: &Path) -> Option<(File, u64)> {
    crate::sys::open_regular_with_len(path, true).ok()
}

/// Writes a piece as `dir/name`: a temporary file renamed into place.
pub(super) fn write(dir: &Path, name: &str, head: &Head, data: &[u8]) -> io::Result<()> {
    static SERIAL: AtomicU64 = AtomicU64::new(0);
    fs::create_dir_all(dir)?;
    let temp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        SERIAL.fetch_add(1, Relaxed)
    ));
    let written = (|| {
        let mut file = File::create(&temp)?;
        file.write_all(&head.bytes(crc32fast::hash(data)))?;
        file.write_all(data)?;
        drop(file);
        fs::rename(&temp, dir.join(name))
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_round_trips_and_refuses_damage() {
        let dir = tempfile::tempdir().unwrap();
        let head = Head {
            object: "s3://b/c/k".into(),
            version: "etag".into(),
            container: "m".into(),
            start: 4,
            end: 7,
            size: Some(7),
        };
        write(dir.path(), "p.piece", &head, b"abc").unwrap();
        let path = dir.path().join("p.piece");
        let (got, _) = read_head(&path).unwrap();
        assert_eq!(got, head);
        let checked = Mutex::new(HashSet::new());
        assert_eq!(read_data(&path, &checked).unwrap().as_slice(), b"abc");
        // Truncated: the length no longer matches the header.
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        assert!(read_head(&path).is_none());
        // A header byte flipped: its checksum fails.
        let mut bad = bytes.clone();
        bad[9] ^= 1;
        std::fs::write(&path, &bad).unwrap();
        assert!(read_head(&path).is_none());
    }
}
