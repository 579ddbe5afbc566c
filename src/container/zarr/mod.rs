//! Zarr v3 containers: a group whose attributes hold the form and the
//! length, one Zarr array per buffer key — the convention of anndata's
//! awkward-array elements (`anndata.io.write_elem`: attributes
//! `encoding-type: awkward-array`, `encoding-version`, `form` as a JSON
//! string, `length`) and of awkward's `to_zarr`. Recognised by the group's
//! `zarr.json` in a folder (`x.zarr`, or a group inside it:
//! `x.zarr:obsm/airr`); Zarr v2 groups (`.zgroup`, `.zattrs`, arrays'
//! `.zarray`: what anndata writes by default) are read too, written never.
//! Reading and writing need the `zarr` feature (zarrs); the format is
//! recognised without it, to say so.

#[cfg(feature = "zarr")]
mod read;
#[cfg(feature = "zarr")]
mod write;

use super::location::Location;
use super::registry::{Format, Probe};
use super::Metadata;
use crate::array::Array;
#[cfg(feature = "zarr")]
use crate::error::Error;
use crate::error::Result;
use crate::options::Options;
use crate::write::WriteOptions;
use std::path::PathBuf;

/// Zarr v3 groups.
pub(crate) struct Zarr;

/// The one [`Zarr`].
pub(crate) static ZARR: Zarr = Zarr;

/// The store's folder and the group's path inside it, where a location
/// names a folder.
fn store_and_group(at: &Location) -> Option<(PathBuf, String)> {
    match at {
        Location::Dir(dir) => Some((dir.clone(), String::new())),
        Location::File { file, group } if file.is_dir() => Some((
            file.clone(),
            group.as_deref().unwrap_or("").trim_matches('/').to_string(),
        )),
        _ => None,
    }
}

/// Whether the folder `dir` is a Zarr group: its `zarr.json` (v3), or its
/// `.zgroup` (v2, as anndata writes by default).
pub(crate) fn is_group(dir: &std::path::Path) -> bool {
    dir.join("zarr.json").is_file() || dir.join(".zgroup").is_file()
}

/// Whether a URL's path has a part named `*.zarr` (maybe `*.zarr:GROUP`).
fn url_names_zarr(url: &str) -> bool {
    let path = url.split(['?', '#']).next().unwrap_or("");
    let path = path.split_once("://").map_or(path, |(_, rest)| rest);
    path.split('/').skip(1).any(|part| {
        let part = part.to_ascii_lowercase();
        part.ends_with(".zarr") || part.contains(".zarr:")
    })
}

impl Format for Zarr {
    fn name(&self) -> &'static str {
        "zarr"
    }

    fn recognises(&self, probe: &mut Probe<'_>) -> bool {
        match probe.location() {
            // A URL is asked nothing before it is opened: a path with a
            // `.zarr` part says Zarr.
            Location::Url(url) => url_names_zarr(url),
            at => store_and_group(at).is_some_and(|(store, group)| is_group(&store.join(group))),
        }
    }

    #[cfg(feature = "zarr")]
    fn open(&self, at: &Location, options: Options) -> Result<(Array, Metadata)> {
        if let Location::Url(url) = at {
            #[cfg(feature = "remote")]
            return read::open_zarr_url(url, options);
            #[cfg(not(feature = "remote"))]
            return Err(super::registry::not_built(
                at,
                &format!("a Zarr group at a URL ({url})"),
                "remote",
            ));
        }
        let Some((store, group)) = store_and_group(at) else {
            return Err(Error::container(at.spec(), "not a Zarr store's folder"));
        };
        read::open_zarr(&store, &group, &at.spec(), options)
    }

    #[cfg(not(feature = "zarr"))]
    fn open(&self, at: &Location, _: Options) -> Result<(Array, Metadata)> {
        Err(super::registry::not_built(at, "a Zarr group", "zarr"))
    }

    fn named(&self, spec: &str) -> bool {
        let lower = spec.to_ascii_lowercase();
        let lower = lower.trim_end_matches('/');
        lower.ends_with(".zarr") || lower.contains(".zarr:")
    }

    #[cfg(feature = "zarr")]
    fn write(&self, array: &Array, at: &Location, options: &WriteOptions) -> Result<Metadata> {
        let target = match at {
            Location::Url(url) => {
                #[cfg(feature = "remote")]
                return write::write_zarr_url(array, &read::group_url(url), options);
                #[cfg(not(feature = "remote"))]
                return Err(super::registry::not_built(
                    at,
                    &format!("a Zarr group at a URL ({url})"),
                    "remote",
                ));
            }
            Location::File { file, group } if file.is_dir() => match group.as_deref() {
                Some(g) if !g.trim_matches('/').is_empty() => file.join(g.trim_matches('/')),
                _ => file.clone(),
            },
            Location::File { .. } => {
                return Err(Error::container(
                    at.spec(),
                    "a file is there, not a Zarr store's folder",
                ))
            }
            Location::Absent(p) if p.to_string_lossy().to_ascii_lowercase().contains(".zarr:") => {
                return Err(Error::container(
                    at.spec(),
                    "no such Zarr store: a group (STORE:GROUP) is written into an existing store",
                ))
            }
            Location::Dir(p) | Location::Absent(p) => p.clone(),
        };
        write::write_zarr(array, &target, options)
    }

    #[cfg(not(feature = "zarr"))]
    fn write(&self, _: &Array, at: &Location, _: &WriteOptions) -> Result<Metadata> {
        Err(super::registry::not_built(at, "a Zarr group", "zarr"))
    }
}
