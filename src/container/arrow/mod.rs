//! Arrow IPC and Parquet files as containers: a file of record batches
//! opens as a partitioned array, one partition per record batch (IPC) or
//! row group (Parquet), each converted by `ak.from_arrow`'s rules when
//! first touched (`batches.rs`: the plan and the source; `ipc_file.rs`,
//! `parquet_file.rs`: the two files' batches), and an array is written as
//! the table `ak.to_arrow_table` makes (`write_ipc.rs`, `write_parquet.rs`).
//! Recognised by content (`PAR1`, `ARROW1`); reading and writing need the
//! `arrow` feature (Parquet also `parquet`).

#[cfg(feature = "arrow")]
pub(crate) mod batches;
#[cfg(feature = "arrow")]
mod ipc_file;
#[cfg(feature = "parquet")]
mod parquet_file;
#[cfg(feature = "arrow")]
pub(crate) mod write_ipc;
#[cfg(feature = "parquet")]
pub(crate) mod write_parquet;

use super::location::Location;
use super::registry::{Format, Probe};
use super::Metadata;
use crate::array::Array;
use crate::error::{Error, Result};
use crate::options::Options;
use crate::write::WriteOptions;

/// Whether a name asks for an Arrow IPC (`.arrow`, `.feather`, `.ipc`) or
/// Parquet (`.parquet`) file: the hint the registry takes for a file that
/// does not exist yet (an existing file is known by its content).
///
/// ```
/// assert!(akbuf::is_arrow_path("out/events.parquet"));
/// assert!(akbuf::is_arrow_path("events.ARROW"));
/// assert!(!akbuf::is_arrow_path("events.h5"));
/// ```
pub fn is_arrow_path(spec: &str) -> bool {
    PARQUET.named(spec) || ARROW_IPC.named(spec)
}

/// A file of record batches: Parquet, or Arrow IPC.
pub(crate) struct BatchFile {
    parquet: bool,
}

/// Parquet files.
pub(crate) static PARQUET: BatchFile = BatchFile { parquet: true };

/// Arrow IPC files.
pub(crate) static ARROW_IPC: BatchFile = BatchFile { parquet: false };

impl BatchFile {
    /// What the file is, for messages.
    fn what(&self) -> &'static str {
        match self.parquet {
            true => "a Parquet file",
            false => "an Arrow IPC file",
        }
    }

    /// The feature reading and writing it needs.
    #[cfg_attr(feature = "parquet", allow(dead_code))]
    fn feature(&self) -> &'static str {
        match self.parquet {
            true => "parquet",
            false => "arrow",
        }
    }

    /// Whether this akbuf reads and writes it.
    fn built(&self) -> bool {
        match self.parquet {
            true => cfg!(feature = "parquet"),
            false => cfg!(feature = "arrow"),
        }
    }

    /// The file a location names; a group is refused (these files have none).
    fn file<'a>(&self, at: &'a Location) -> Result<&'a std::path::Path> {
        if let Location::File { group: Some(g), .. } = at {
            return Err(Error::container(
                at.spec(),
                format!("{} has no groups (\":{g}\")", self.what()),
            ));
        }
        at.path()
            .ok_or_else(|| Error::container(at.spec(), format!("{} is a local file", self.what())))
    }

    /// Refuses what this akbuf was built without.
    fn check_built(&self, at: &Location) -> Result<()> {
        match self.built() {
            true => Ok(()),
            false => Err(super::registry::not_built(at, self.what(), self.feature())),
        }
    }
}

impl Format for BatchFile {
    fn name(&self) -> &'static str {
        match self.parquet {
            true => "parquet",
            false => "arrow",
        }
    }

    fn recognises(&self, probe: &mut Probe<'_>) -> bool {
        match self.parquet {
            true => probe.has_at(0, b"PAR1"),
            false => probe.has_at(0, b"ARROW1"),
        }
    }

    fn named(&self, spec: &str) -> bool {
        let lower = spec.to_ascii_lowercase();
        let endings: &[&str] = match self.parquet {
            true => &[".parquet"],
            false => &[".arrow", ".feather", ".ipc"],
        };
        endings.iter().any(|e| lower.ends_with(e))
    }

    fn open(&self, at: &Location, options: Options) -> Result<(Array, Metadata)> {
        let file = self.file(at)?;
        self.check_built(at)?;
        self.open_file(file, options)
    }

    fn write(&self, array: &Array, at: &Location, options: &WriteOptions) -> Result<Metadata> {
        let file = self.file(at)?;
        self.check_built(at)?;
        self.write_file(array, file, options)
    }
}

#[cfg(feature = "arrow")]
impl BatchFile {
    fn open_file(&self, file: &std::path::Path, options: Options) -> Result<(Array, Metadata)> {
        let source = batches::batch_source_of(file, self.parquet)?;
        let metadata = source.metadata();
        let array = metadata.open_with(source, options)?;
        Ok((array, metadata))
    }

    /// Writes the file (replacing one only with `options.replace`), then
    /// gives the metadata it reads back as.
    fn write_file(
        &self,
        array: &Array,
        file: &std::path::Path,
        options: &WriteOptions,
    ) -> Result<Metadata> {
        let arrow = crate::arrow::ToArrowOptions::default();
        match self.parquet {
            #[cfg(feature = "parquet")]
            true => write_parquet::write(array, file, &arrow, options.replace)?,
            _ => write_ipc::write(array, file, &arrow, options.replace)?,
        };
        Ok(batches::batch_source_of(file, self.parquet)?.metadata())
    }
}

#[cfg(not(feature = "arrow"))]
impl BatchFile {
    fn open_file(&self, file: &std::path::Path, _: Options) -> Result<(Array, Metadata)> {
        Err(super::registry::not_built(
            &Location::Absent(file.into()),
            self.what(),
            self.feature(),
        ))
    }

    fn write_file(&self, _: &Array, file: &std::path::Path, _: &WriteOptions) -> Result<Metadata> {
        self.open_file(file, Options::default()).map(|(_, m)| m)
    }
}
