//! Datasets: many containers of one form as one array, concatenated
//! lazily (each container a partition, or its partitions in turn).

use super::location::Location;
use super::{open_with_metadata, registry};
use crate::array::Array;
use crate::error::{Error, Result};
use crate::form::Form;
use crate::options::Options;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Whether `at` is a folder no format recognises (no `metadata.json`, no
/// other format's marker): a folder of containers, as a dataset.
pub(crate) fn is_folder_of_containers(at: &Location) -> bool {
    matches!(at, Location::Dir(_)) && registry::recognised(at).is_none()
}

/// The containers `paths` name: each path is a container, or a folder of
/// them (every entry a format recognises by its content: a folder with
/// `metadata.json`, an HDF5, Parquet or Arrow IPC file), taken in name
/// order; hidden entries are skipped.
fn containers(paths: Vec<PathBuf>) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in paths {
        if !Location::parse(&path).is_ok_and(|at| is_folder_of_containers(&at)) {
            out.push(path);
            continue;
        }
        let entries = std::fs::read_dir(&path)
            .map_err(|e| Error::container_io(path.display(), "cannot list the folder", e))?;
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                !name.starts_with('.') && registry::is_container(p)
            })
            .collect();
        found.sort();
        if found.is_empty() {
            return Err(Error::container(
                path.display().to_string(),
                "neither a container (no metadata.json) nor a folder of containers",
            ));
        }
        out.extend(found);
    }
    Ok(out)
}

/// The form with every form key removed: containers written apart may
/// number their nodes differently.
fn shape(form: &Form) -> Form {
    let children = form
        .children()
        .into_iter()
        .map(|c| Arc::new(shape(c)))
        .collect();
    form.rebuilt(children, None)
}

/// Many containers of one form as one array, lazily: opening reads each
/// container's metadata and nothing else; touching rows reads only the
/// containers (and partitions) holding them. `paths` are containers, or
/// folders of containers (taken in name order). Each container is a
/// partition of the result (a partitioned container gives its partitions).
///
/// ```
/// use akbuf::{open, open_dataset, write_dir, WriteOptions};
///
/// let events = open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))?;
/// let dir = std::env::temp_dir().join(format!("akbuf-doc-dataset-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// for (i, rows) in [0..400, 400..1000].into_iter().enumerate() {
///     write_dir(&events.slice(rows)?, dir.join(format!("part{i}")), &WriteOptions::default())?;
/// }
/// let all = open_dataset([&dir])?;
/// assert_eq!((all.len(), all.num_partitions()), (1000, 2));
/// assert_eq!(all.field("run")?.to_json()?, events.field("run")?.to_json()?);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), akbuf::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::Argument`] for no containers; [`Error::Container`] for a
/// path that is no container, or a container whose form differs from the
/// first one's (naming both paths); what [`super::open`] reports.
pub fn open_dataset<P: AsRef<Path>>(paths: impl IntoIterator<Item = P>) -> Result<Array> {
    open_dataset_with(paths, Options::default())
}

/// [`open_dataset`] with options (a shared cache, a caching policy,
/// [`Options::confined`]), used for every container.
///
/// # Errors
///
/// As [`open_dataset`].
pub fn open_dataset_with<P: AsRef<Path>>(
    paths: impl IntoIterator<Item = P>,
    options: Options,
) -> Result<Array> {
    let paths = containers(
        paths
            .into_iter()
            .map(|p| p.as_ref().to_path_buf())
            .collect(),
    )?;
    let mut arrays: Vec<Array> = Vec::with_capacity(paths.len());
    let mut first: Option<(Form, String)> = None;
    for path in &paths {
        let (array, _) = open_with_metadata(path, options.clone())?;
        let form = shape(array.form());
        match &first {
            None => first = Some((form, array.type_string())),
            Some((f, t)) if *f != form => {
                return Err(Error::container(
                    path.display().to_string(),
                    format!(
                        "its form differs from that of {}: {} against {}",
                        paths[0].display(),
                        array.type_string().split_once(" * ").map_or("", |x| x.1),
                        t.split_once(" * ").map_or("", |x| x.1)
                    ),
                ))
            }
            Some(_) => {}
        }
        arrays.push(array);
    }
    let Some(template) = arrays.first().map(Array::partition_template) else {
        return Err(Error::Argument("a dataset of no containers".into()));
    };
    // Every container's partitions, in order.
    let mut lengths = Vec::new();
    let mut at = Vec::new();
    for (k, a) in arrays.iter().enumerate() {
        for (j, n) in a.partition_lengths().into_iter().enumerate() {
            lengths.push(n);
            at.push((k, j));
        }
    }
    Array::from_parts(
        template,
        lengths,
        Box::new(move |i| {
            let (k, j) = at[i];
            arrays[k].partition(j)
        }),
    )
}
