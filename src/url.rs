//! Locations that are URLs: which schemes name a container in a store, and
//! the local path of a `file://` URL. Used by the containers (to tell a URL
//! from a path) and by the object-store kit (a `file://` store).

use crate::error::{Error, Result};

/// The URL schemes of remote containers.
pub(crate) const SCHEMES: &[&str] = &[
    "s3", "s3a", "gs", "az", "adl", "azure", "abfs", "abfss", "http", "https", "file",
];

/// Whether `spec` is a container URL (`s3://`, `gs://`, `az://`,
/// `http(s)://`, `file://`, ...) rather than a local path. Opening one
/// needs the `remote` feature (`file://` URLs open locally without it).
///
/// ```
/// assert!(akbuf::is_url("s3://bucket/events"));
/// assert!(akbuf::is_url("https://example.org/data/events"));
/// assert!(!akbuf::is_url("data/events"));
/// assert!(!akbuf::is_url("C:/data"));
/// ```
pub fn is_url(spec: &str) -> bool {
    spec.split_once("://")
        .is_some_and(|(scheme, _)| SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()))
}

/// The local path of a `file://` URL.
pub(crate) fn file_url_path(spec: &str) -> Result<std::path::PathBuf> {
    let rest = &spec["file://".len()..];
    // file:///abs/path (an empty host) or file://localhost/abs/path.
    let path = rest.strip_prefix("localhost").unwrap_or(rest);
    if !path.starts_with('/') {
        return Err(Error::container(
            spec,
            "a file URL names an absolute path (file:///...)",
        ));
    }
    let mut bytes = Vec::with_capacity(path.len());
    let raw = path.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' && i + 2 < raw.len() {
            let hex = std::str::from_utf8(&raw[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                bytes.push(b);
                i += 3;
                continue;
            }
        }
        bytes.push(raw[i]);
        i += 1;
    }
    let text =
        String::from_utf8(bytes).map_err(|_| Error::container(spec, "the path is not UTF-8"))?;
    Ok(std::path::PathBuf::from(text))
}
