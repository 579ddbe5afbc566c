//! The disk tier as a remote source reads through it: pieces named by the
//! container's URL and key, served only at the version the key is read at
//! (pinned by a listing or an answer), or, for a key not pinned yet, only
//! if read under the same version of `metadata.json` as this open's —
//! and the key is then pinned at the piece's version, so whatever is
//! fetched of it later must be that version too (`If-Match`).

use super::answers::{Version, Watch};
use super::RemoteSource;
use crate::buffer::Buffer;
use crate::disk::Turn;
use std::ops::Range;

impl Version {
    /// The version as the disk tier names it: the ETag, else the version
    /// id, else `Last-Modified`, with the size; `None` when the server gave
    /// none of them (such an object is never kept on disk).
    pub(super) fn ident(&self) -> Option<String> {
        let size = self.size;
        if let Some(tag) = &self.e_tag {
            Some(format!("e:{size}:{tag}"))
        } else if let Some(id) = &self.version {
            Some(format!("v:{size}:{id}"))
        } else if self.modified != 0 {
            Some(format!("m:{size}:{}", self.modified))
        } else {
            None
        }
    }

    /// The version an [`ident`](Version::ident) names.
    pub(super) fn from_ident(ident: &str) -> Option<Version> {
        let (kind, rest) = ident.split_once(':')?;
        let (size, what) = rest.split_once(':')?;
        let mut v = Version {
            e_tag: None,
            version: None,
            size: size.parse().ok()?,
            modified: 0,
        };
        match kind {
            "e" => v.e_tag = Some(what.to_string()),
            "v" => v.version = Some(what.to_string()),
            "m" => v.modified = what.parse().ok()?,
            _ => return None,
        }
        Some(v)
    }
}

impl RemoteSource {
    /// The disk tier's name of `key`'s object.
    fn object(&self, key: &str) -> String {
        format!("{}/{key}", self.store.url)
    }

    /// The disk tier's copy of `metadata.json`, with its version.
    pub(super) fn cached_metadata(&self) -> Option<(Version, String)> {
        let disk = self.disk.as_ref()?;
        for piece in disk.pieces(&self.object(self.metadata_name())) {
            let Some(version) = Version::from_ident(&piece.version) else {
                continue;
            };
            if piece.range.start != 0 || piece.size != Some(piece.range.end) {
                continue;
            }
            if let Some(bytes) = disk.load(&piece, piece.range.clone()) {
                if let Ok(text) = String::from_utf8(bytes.as_slice().to_vec()) {
                    return Some((version, text));
                }
            }
        }
        None
    }

    /// Keeps `metadata.json` at version `ident` on disk.
    pub(super) fn keep_metadata(&self, ident: &str, text: &str) {
        if let Some(disk) = &self.disk {
            let object = self.object(self.metadata_name());
            let size = Some(text.len() as u64);
            disk.store(&object, ident, ident, 0, size, text.as_bytes());
        }
    }

    /// Bytes `range` of `key` from the disk tier, if a piece of the right
    /// version holds them.
    pub(super) fn disk_read(&self, key: &str, range: &Range<u64>) -> Option<Buffer> {
        let disk = self.disk.as_ref()?;
        let pinned = self.versions.lock().get(key).cloned();
        let want = match &pinned {
            Some(v) => Some(v.ident()?),
            None => None,
        };
        let container = self.container.lock().clone();
        for piece in disk.pieces(&self.object(key)) {
            let fits = match &want {
                Some(w) => piece.version == *w,
                None => !container.is_empty() && piece.container == container,
            };
            if !fits || !piece.covers(range) {
                continue;
            }
            if pinned.is_none() {
                let Some(version) = Version::from_ident(&piece.version) else {
                    continue;
                };
                if !self.pin_at(key, version) {
                    continue;
                }
            }
            if let Some(bytes) = disk.load(&piece, range.clone()) {
                return Some(bytes);
            }
        }
        None
    }

    /// Keeps `bytes`, read from `start` of `key`, on disk at the version
    /// the key is read at.
    pub(super) fn disk_keep(&self, key: &str, start: u64, bytes: &Buffer) {
        let Some(disk) = &self.disk else {
            return;
        };
        let Some(version) = self.versions.lock().get(key).cloned() else {
            return;
        };
        let Some(ident) = version.ident() else {
            return;
        };
        if start > version.size || (bytes.is_empty() && start != 0) {
            return;
        }
        let container = self.container.lock().clone();
        let object = self.object(key);
        disk.store(
            &object,
            &ident,
            &container,
            start,
            Some(version.size),
            bytes.as_slice(),
        );
    }

    /// This process's turn to fetch `key` into the tier (other processes
    /// wanting it wait, then find it there); given up when the read's
    /// time budget is spent, and the read goes on without it.
    pub(super) async fn turn(&self, key: &str, watch: &Watch) -> Option<Turn> {
        let disk = self.disk.as_ref()?;
        let object = self.object(key);
        loop {
            if let Some(turn) = disk.try_turn(&object) {
                return Some(turn);
            }
            if watch.spent() {
                return None;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    }
}
