//! What the operating system offers beyond `std`: opening a file without
//! blocking on a FIFO, renames that never clobber or that swap atomically,
//! and asking whether a process is alive. Every platform call lives here.

use std::fs::File;
use std::io;
use std::path::Path;

/// Opens `path` for reading only if it is a regular file, without ever
/// blocking: on Unix the file is opened with `O_NONBLOCK` (so a FIFO does
/// not wait for a writer) and checked with `fstat` before anything reads
/// it. With `no_follow`, a symbolic link is refused (`O_NOFOLLOW`).
///
/// # Errors
///
/// The open's error (`NotFound` for a missing file), or `InvalidInput`
/// naming what the path is when it is not a regular file.
#[cfg(any(feature = "hdf5", test))]
pub(crate) fn open_regular(path: &Path, no_follow: bool) -> io::Result<File> {
    open_regular_with_len(path, no_follow).map(|(f, _)| f)
}

/// [`open_regular`], also giving the file's length (from the same `fstat`).
pub(crate) fn open_regular_with_len(path: &Path, no_follow: bool) -> io::Result<(File, u64)> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    open_regular_using(path, options, no_follow)
}

/// Opens `path` with `options` (to read, to append, creating it...) as
/// [`open_regular_with_len`] opens it to read: never blocking on a FIFO
/// (a FIFO without a reader refuses a writer at once), refusing what is not
/// a regular file, and with `no_follow` a symbolic link.
pub(crate) fn open_regular_using(
    path: &Path,
    mut options: std::fs::OpenOptions,
    no_follow: bool,
) -> io::Result<(File, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut flags = libc::O_NONBLOCK;
        if no_follow {
            flags |= libc::O_NOFOLLOW;
        }
        options.custom_flags(flags);
    }
    let file = options.open(path).map_err(|e| {
        #[cfg(unix)]
        if no_follow && e.raw_os_error() == Some(libc::ELOOP) {
            return io::Error::new(io::ErrorKind::InvalidInput, "is a symbolic link");
        }
        e
    })?;
    let meta = file.metadata()?;
    let kind = meta.file_type();
    if !kind.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("is not a regular file ({})", describe(&kind)),
        ));
    }
    Ok((file, meta.len()))
}

/// The memory page size (map offsets are multiples of it).
/// The threads this process may run at once (`available_parallelism`,
/// asked once: std reads the cgroup files on every call).
pub(crate) fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

pub(crate) fn page_size() -> usize {
    static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *PAGE.get_or_init(|| {
        #[cfg(unix)]
        {
            // SAFETY: sysconf has no preconditions; a failure returns -1.
            let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
            if n > 0 {
                return n as usize;
            }
        }
        // A multiple of every page size in use (4 KiB, 16 KiB, 64 KiB).
        65536
    })
}

/// What a file type is, in words.
fn describe(kind: &std::fs::FileType) -> &'static str {
    if kind.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_socket() {
            return "a socket";
        }
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
    }
    "not a file"
}

/// Tries to take an exclusive advisory lock on `file` (`flock`: other
/// processes see it; released when the file is closed, or its process
/// dies). `Ok(false)` while another holds it. Where there are no such
/// locks, `Ok(true)`.
pub(crate) fn try_lock(file: &std::fs::File) -> io::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: flock only reads the descriptor number, which `file`
        // keeps open for the call; no memory is involved.
        let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if r == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Ok(false);
        }
        Err(e)
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        Ok(true)
    }
}

/// Whether the process `pid` may still be running. Errs on the side of
/// "alive" whenever it cannot tell.
pub(crate) fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return true;
        };
        if pid <= 0 {
            return true;
        }
        // SAFETY: kill with signal 0 sends nothing; it only checks that the
        // process exists (and that we may signal it). No memory is involved.
        let r = unsafe { libc::kill(pid, 0) };
        if r == 0 {
            return true;
        }
        io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
    }
    #[cfg(not(unix))]
    {
        true
    }
}

#[cfg(target_os = "linux")]
fn renameat2(from: &Path, to: &Path, flags: libc::c_uint) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))
    };
    let (from, to) = (c(from)?, c(to)?);
    // SAFETY: both paths are valid NUL-terminated strings that outlive the
    // call; renameat2 reads them and touches no other memory of ours.
    let r = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            flags,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether an error means "this file system or kernel cannot do that".
#[cfg(target_os = "linux")]
fn unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP)
    )
}

/// Renames `from` to `to` only if nothing is at `to`, atomically where the
/// kernel can (`RENAME_NOREPLACE`); elsewhere it checks first.
///
/// # Errors
///
/// `AlreadyExists` when `to` exists; the rename's error.
pub(crate) fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    match renameat2(from, to, libc::RENAME_NOREPLACE) {
        Err(e) if unsupported(&e) => {}
        other => return other,
    }
    if std::fs::symlink_metadata(to).is_ok() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "already exists",
        ));
    }
    std::fs::rename(from, to)
}

/// Swaps `a` and `b` atomically (`RENAME_EXCHANGE`); `Ok(false)` where the
/// kernel or the file system cannot.
///
/// # Errors
///
/// The rename's error.
pub(crate) fn rename_exchange(a: &Path, b: &Path) -> io::Result<bool> {
    #[cfg(target_os = "linux")]
    match renameat2(a, b, libc::RENAME_EXCHANGE) {
        Ok(()) => return Ok(true),
        Err(e) if unsupported(&e) => {}
        Err(e) => return Err(e),
    }
    let _ = (a, b);
    Ok(false)
}

/// Flushes a directory's entries to disk (best effort where directories
/// cannot be opened).
pub(crate) fn sync_dir(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(path)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

/// A temporary file with no name: created in the system's temporary
/// folder and unlinked at once (on Unix), so that nothing is left behind
/// whatever happens to the process.
///
/// # Errors
///
/// The create's or the unlink's error.
pub(crate) fn anonymous_file() -> io::Result<File> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir();
    for _ in 0..64 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = dir.join(format!(".akbuf-spool-{}-{n}-{nanos}", std::process::id()));
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => {
                #[cfg(unix)]
                std::fs::remove_file(&path)?;
                return Ok(f);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "no free name for a temporary file",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_files_are_refused_without_blocking() {
        let err = open_regular(Path::new("/dev/zero"), false).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("character device"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        #[cfg(unix)]
        {
            let fifo = dir.path().join("fifo");
            let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
            // SAFETY: a valid NUL-terminated path; mkfifo touches nothing else.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
            let err = open_regular(&fifo, false).unwrap_err();
            assert!(err.to_string().contains("FIFO"), "{err}");
            let link = dir.path().join("link");
            std::fs::write(dir.path().join("file"), b"x").unwrap();
            std::os::unix::fs::symlink(dir.path().join("file"), &link).unwrap();
            assert!(open_regular(&link, false).is_ok());
            assert!(open_regular(&link, true).is_err());
        }
        assert!(open_regular(dir.path(), false).is_err());
    }

    #[test]
    fn renames_do_not_clobber_and_exchange_swaps() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir(&a).unwrap();
        std::fs::create_dir(&b).unwrap();
        std::fs::write(a.join("x"), b"a").unwrap();
        let err = rename_noreplace(&a, &b).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        if rename_exchange(&a, &b).unwrap() {
            assert!(b.join("x").exists() && !a.join("x").exists());
        }
        assert!(process_alive(std::process::id()));
        assert!(!process_alive(u32::MAX >> 2) || cfg!(not(unix)));
    }
}
