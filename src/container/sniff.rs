//! What a file holds, told by its content, not its name: an HDF5 file by
//! its signature (at 0, or after a user block of 512, 1024, 2048... bytes),
//! Parquet by `PAR1`, Arrow IPC by `ARROW1`. A location `FILE:GROUP` is
//! split where its prefix is a file that exists, so that `x.h5ad:obsm/airr`
//! names a group of an HDF5 file whatever the file is called.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// A file format akbuf reads a container from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Hdf5,
    Parquet,
    ArrowIpc,
}

/// The 8-byte HDF5 superblock signature.
const HDF5: &[u8; 8] = b"\x89HDF\r\n\x1a\n";

/// What `path` holds, by its first bytes; `None` for anything else (or a
/// file that cannot be read: opening it later says why).
pub(crate) fn sniff(path: &Path) -> Option<Kind> {
    let (mut file, len) = crate::sys::open_regular_with_len(path, false).ok()?;
    let mut head = [0u8; 8];
    let n = read_up_to(&mut file, &mut head)?;
    let head = &head[..n];
    if head.starts_with(b"PAR1") {
        return Some(Kind::Parquet);
    }
    if head.starts_with(b"ARROW1") {
        return Some(Kind::ArrowIpc);
    }
    // HDF5's superblock is at 0 or at 512 << k (a user block before it).
    let mut at = 0u64;
    while at.saturating_add(8) <= len {
        let mut sig = [0u8; 8];
        file.seek(SeekFrom::Start(at)).ok()?;
        if read_up_to(&mut file, &mut sig)? == 8 && &sig == HDF5 {
            return Some(Kind::Hdf5);
        }
        at = if at == 0 { 512 } else { at.checked_mul(2)? };
    }
    None
}

fn read_up_to(file: &mut std::fs::File, buf: &mut [u8]) -> Option<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    Some(n)
}

/// `spec` as a file that exists and, after a `:`, a group inside it: the
/// whole of `spec` if it is a file, else the longest prefix before a `:`
/// that is one. `None` when no such file exists.
pub(crate) fn existing_file(spec: &str) -> Option<(PathBuf, Option<String>)> {
    if Path::new(spec).is_file() {
        return Some((PathBuf::from(spec), None));
    }
    let mut cut = spec.len();
    while let Some(i) = spec[..cut].rfind(':') {
        let (file, group) = (&spec[..i], &spec[i + 1..]);
        if !file.is_empty() && Path::new(file).is_file() {
            return Some((PathBuf::from(file), Some(group.to_string())));
        }
        cut = i;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_told_by_content_whatever_the_name() {
        let dir = std::env::temp_dir().join(format!("akbuf-sniff-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let p = dir.join(name);
            std::fs::write(&p, bytes).unwrap();
            p
        };
        assert_eq!(sniff(&write("a.bin", b"PAR1....PAR1")), Some(Kind::Parquet));
        assert_eq!(sniff(&write("b.dat", b"ARROW1\0\0")), Some(Kind::ArrowIpc));
        assert_eq!(sniff(&write("c.x", HDF5)), Some(Kind::Hdf5));
        let mut user_block = vec![0u8; 512];
        user_block.extend_from_slice(HDF5);
        assert_eq!(sniff(&write("d.h5ad", &user_block)), Some(Kind::Hdf5));
        assert_eq!(sniff(&write("e.h5", b"not hdf5")), None);
        assert_eq!(sniff(&dir.join("missing")), None);
        let f = dir.join("x.h5ad").to_string_lossy().to_string();
        write("x.h5ad", HDF5);
        assert_eq!(
            existing_file(&format!("{f}:obsm/airr")),
            Some((PathBuf::from(&f), Some("obsm/airr".to_string())))
        );
        assert_eq!(existing_file(&f), Some((PathBuf::from(&f), None)));
        assert_eq!(existing_file(&format!("{f}x:g")), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
