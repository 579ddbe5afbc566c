//! A location, parsed once, before any format is chosen: a URL, a folder
//! that exists, a file that exists (and, after a `:`, a group inside it),
//! or nothing yet (a destination). Which format lives there is the
//! registry's question ([`super::registry`]), asked of the content first.

use crate::error::Result;
use crate::url::{file_url_path, is_url};
use std::path::{Path, PathBuf};

/// What a location names, on the storage as it is now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Location {
    /// A container under a URL's prefix (`s3://…`, `https://…`; a
    /// `file://` URL is parsed as its local path).
    Url(String),
    /// A folder that exists: a directory container, or a folder of them.
    Dir(PathBuf),
    /// A file that exists, and a group inside it (`FILE:GROUP`, split where
    /// the prefix is a file: `x.h5ad:obsm/airr`).
    File {
        file: PathBuf,
        group: Option<String>,
    },
    /// Nothing exists there (yet): the location as given.
    Absent(PathBuf),
}

impl Location {
    /// Parses `spec`: a URL by its scheme, else by what exists on disk.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Container`] for a `file://` URL that names no
    /// absolute path or is not UTF-8.
    pub(crate) fn parse(spec: &Path) -> Result<Location> {
        let text = spec.to_string_lossy();
        if is_url(&text) {
            if text
                .get(..7)
                .is_some_and(|s| s.eq_ignore_ascii_case("file://"))
            {
                return Location::parse(&file_url_path(&text)?);
            }
            return Ok(Location::Url(text.into_owned()));
        }
        if spec.is_dir() {
            return Ok(Location::Dir(spec.to_path_buf()));
        }
        if let Some((file, group)) = existing_file(&text) {
            return Ok(Location::File { file, group });
        }
        Ok(Location::Absent(spec.to_path_buf()))
    }

    /// The location as text, for messages and name hints.
    pub(crate) fn spec(&self) -> String {
        match self {
            Location::Url(u) => u.clone(),
            Location::Dir(p) | Location::Absent(p) => p.display().to_string(),
            Location::File { file, group: None } => file.display().to_string(),
            Location::File {
                file,
                group: Some(g),
            } => format!("{}:{g}", file.display()),
        }
    }

    /// The local path of a folder, file or absent location (`None` for a URL).
    pub(crate) fn path(&self) -> Option<&Path> {
        match self {
            Location::Url(_) => None,
            Location::Dir(p) | Location::Absent(p) => Some(p),
            Location::File { file, .. } => Some(file),
        }
    }
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
        // A file, or a folder holding a Zarr store (`x.zarr:obsm/airr`):
        // a group inside it either way.
        let there = Path::new(file);
        if !file.is_empty() && (there.is_file() || super::zarr::is_group(there)) {
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
    fn a_location_is_parsed_by_what_exists() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x.h5ad");
        std::fs::write(&f, b"anything").unwrap();
        let fs = f.to_string_lossy().to_string();
        assert_eq!(
            Location::parse(Path::new(&format!("{fs}:obsm/airr"))).unwrap(),
            Location::File {
                file: f.clone(),
                group: Some("obsm/airr".into())
            }
        );
        assert_eq!(
            Location::parse(&f).unwrap(),
            Location::File {
                file: f.clone(),
                group: None
            }
        );
        let missing = format!("{fs}x:g");
        assert_eq!(
            Location::parse(Path::new(&missing)).unwrap(),
            Location::Absent(PathBuf::from(&missing))
        );
        assert_eq!(
            Location::parse(dir.path()).unwrap(),
            Location::Dir(dir.path().to_path_buf())
        );
        let url = format!("FILE://{}", dir.path().display());
        assert_eq!(
            Location::parse(Path::new(&url)).unwrap(),
            Location::Dir(dir.path().to_path_buf())
        );
        assert_eq!(
            Location::parse(Path::new("s3://b/p")).unwrap(),
            Location::Url("s3://b/p".into())
        );
    }
}
