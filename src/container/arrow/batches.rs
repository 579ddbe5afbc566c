//! Arrow IPC and Parquet files as containers (feature `arrow`; Parquet with
//! feature `parquet`): a file of record batches opens as a partitioned
//! array, one partition per record batch (IPC) or row group (Parquet),
//! each converted by `ak.from_arrow`'s rules when first touched.
//!
//! Opening reads the file's footer only: the schema gives the form (every
//! option a bit mask, as awkward gives a table's form) and the footer the
//! partitions' lengths. A buffer key `part{P}-node{ID}-{attribute}` is
//! served by decoding partition `P`'s column that holds node `ID` (a
//! Parquet read decodes that column only; an IPC batch is mapped, not
//! read), converting it, and keeping its other buffers until they are
//! asked for. The keys above the columns (an option over the records)
//! decode every column of the partition.

use crate::arrow::import::{awkwardized, batch_layout, column_layout, emit, Ak, Import};
use crate::buffer::Buffer;
use crate::container::metadata::Metadata;
use crate::error::{Error, Result};
use crate::form::Form;
use crate::source::Source;
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;

/// A file of record batches.
pub(crate) trait Batches: Send + Sync {
    /// The file's schema.
    fn schema(&self) -> SchemaRef;
    /// Rows per partition.
    fn lengths(&self) -> Vec<usize>;
    /// Partition `i`, only these columns (schema positions, ascending).
    fn batch(&self, i: usize, columns: &[usize]) -> Result<RecordBatch>;
    /// The file, for messages.
    fn path(&self) -> &Path;
}

pub(super) fn arrow_err(
    path: &Path,
    what: &str,
    e: impl std::error::Error + Send + Sync + 'static,
) -> Error {
    Error::container_caused(path.display(), what, e)
}

/// Runs a decoding library on the file's bytes, a panic of it (on bytes it
/// did not expect) an error naming the file, as every bad input is.
pub(super) fn guarded<T>(path: &Path, what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(Error::container(
            path.display(),
            format!("{what}: the decoder failed on these bytes"),
        ))
    })
}

/// Where each node of the template lies: the column holding it, or none
/// (the nodes above the columns).
struct Plan {
    form: Form,
    /// `column[id]`: the column of node `id`.
    column: Vec<Option<usize>>,
    /// `first[c]`: the id of column `c`'s top node.
    first: Vec<usize>,
    /// The template's form of each column (keys included), to check partitions against.
    column_forms: Vec<String>,
    /// One column named "": the array is that column.
    single: bool,
    /// The schema as awkward reads it (`awkward_array_metadata` applied).
    schema: arrow_schema::Schema,
    /// A size-0 regular array at the top: awkward makes it of no rows.
    no_rows: bool,
}

fn count_nodes(ak: &Ak) -> usize {
    let form = emit(ak, 0).map(|(f, _)| f.node_count()).unwrap_or(1);
    form.max(1)
}

impl Plan {
    fn new(schema: &SchemaRef) -> Result<Plan> {
        let empty = RecordBatch::new_empty(schema.clone());
        let imp = Import {
            generate_bitmasks: true,
        };
        let whole = batch_layout(imp, &empty)?;
        let ak_schema = awkwardized(schema);
        let no_rows = whole.top_length(1) == 0;
        let (form, _) = emit(&whole, 0)?;
        let nodes = form.node_count();
        let single = schema.fields().len() == 1 && schema.field(0).name().is_empty();
        let mut column = vec![None; nodes];
        let mut first = Vec::new();
        let mut column_forms = Vec::new();
        if single {
            column.iter_mut().for_each(|c| *c = Some(0));
            first.push(0);
            column_forms.push(form.to_json());
        } else {
            // Above the columns: the record, and an option over it.
            let above = match whole {
                Ak::Record { .. } => 1,
                _ => 2,
            };
            let mut next = above;
            for (c, col) in empty.columns().iter().enumerate() {
                let ak = column_layout(imp, &ak_schema, c, col.as_ref())?;
                let n = count_nodes(&ak);
                first.push(next);
                column_forms.push(emit(&ak, next)?.0.to_json());
                for slot in column.iter_mut().skip(next).take(n) {
                    *slot = Some(c);
                }
                next += n;
            }
        }
        Ok(Plan {
            form,
            column,
            first,
            column_forms,
            single,
            schema: ak_schema,
            no_rows,
        })
    }
}

/// Serves `part{P}-node{ID}-{attribute}` keys from a file of batches.
pub(crate) struct BatchSource {
    inner: Arc<Inner>,
    /// Buffers converted but not yet asked for, by the (partition, column)
    /// decoded (`None`: every column); the oldest dropped beyond a few.
    kept: Mutex<VecDeque<(Unit, HashMap<String, Buffer>)>>,
    /// The unit read last, and the next one being converted on a thread of
    /// its own when reads go in order (a copy), so that decoding the next
    /// column overlaps writing this one.
    last: Mutex<Option<Unit>>,
    ahead: Mutex<Option<(Unit, Ahead)>>,
}

/// A unit converting on a thread of its own.
type Ahead = std::thread::JoinHandle<Result<HashMap<String, Buffer>>>;

/// What one conversion covers: a partition's column (`None`: every column).
type Unit = (usize, Option<usize>);

/// The file and its plan, shared with the thread reading ahead.
struct Inner {
    file: Box<dyn Batches>,
    plan: Plan,
    /// Rows per partition (the file's, asked once).
    lengths: Vec<usize>,
}

/// The fewest rows of a partition converted ahead on a thread of its own:
/// below, starting the thread costs more than converting there and then.
const AHEAD_FROM: usize = 1 << 14;

/// Decoded columns whose buffers are kept for their next key.
const KEPT: usize = 8;

/// `part{P}-node{ID}-{attribute}` → (P, ID).
fn parse_key(key: &str) -> Option<(usize, usize)> {
    let rest = key.strip_prefix("part")?;
    let (p, rest) = rest.split_once("-node")?;
    let (id, _) = rest.split_once('-')?;
    Some((p.parse().ok()?, id.parse().ok()?))
}

impl BatchSource {
    fn open(file: Box<dyn Batches>) -> Result<BatchSource> {
        let plan = Plan::new(&file.schema())?;
        Ok(BatchSource {
            inner: Arc::new(Inner {
                lengths: file.lengths(),
                file,
                plan,
            }),
            kept: Mutex::new(VecDeque::new()),
            last: Mutex::new(None),
            ahead: Mutex::new(None),
        })
    }

    /// The container's metadata: the template's form, the partitions' lengths.
    pub(crate) fn metadata(&self) -> Metadata {
        self.inner.metadata()
    }

    /// The unit after `u` in a copy's order (columns, then partitions).
    fn after(&self, u: Unit) -> Option<Unit> {
        let (p, c) = (u.0, u.1?);
        let columns = self.inner.plan.first.len();
        if c + 1 < columns {
            Some((p, Some(c + 1)))
        } else {
            (p + 1 < self.inner.lengths.len()).then_some((p + 1, Some(0)))
        }
    }

    /// `unit`'s buffers: converted ahead, or now.
    fn converted(&self, unit: Unit) -> Result<HashMap<String, Buffer>> {
        let ready = {
            let mut ahead = self.ahead.lock();
            match ahead.take() {
                Some((u, handle)) if u == unit => Some(handle),
                other => {
                    *ahead = other;
                    None
                }
            }
        };
        match ready {
            Some(handle) => handle
                .join()
                .unwrap_or_else(|_| Err(Error::Argument("converting a column panicked".into()))),
            None => self.inner.convert(unit.0, unit.1),
        }
    }

    /// Starts converting the unit after `unit` when reads go in order.
    fn read_ahead(&self, unit: Unit) {
        let sequential = {
            let mut last = self.last.lock();
            let was = last.replace(unit);
            was.and_then(|w| self.after(w)) == Some(unit)
        };
        let big = |u: &Unit| {
            self.inner
                .lengths
                .get(u.0)
                .is_some_and(|&n| n >= AHEAD_FROM)
        };
        let Some(next) = self.after(unit).filter(|u| sequential && big(u)) else {
            return;
        };
        let mut ahead = self.ahead.lock();
        if ahead.as_ref().is_some_and(|(u, _)| *u == next) {
            return;
        }
        let inner = Arc::clone(&self.inner);
        let spawned = std::thread::Builder::new()
            .name("akbuf-read-ahead".into())
            .spawn(move || inner.convert(next.0, next.1));
        // (No thread: no read-ahead; the unit is converted when asked for.)
        *ahead = spawned.ok().map(|h| (next, h));
    }
}

impl Inner {
    /// The container's metadata: the template's form, the partitions' lengths.
    fn metadata(&self) -> Metadata {
        let mut lengths = self.lengths.clone();
        if self.plan.no_rows {
            lengths.iter_mut().for_each(|n| *n = 0);
        }
        let mut m = Metadata::partitioned(self.plan.form.clone(), lengths);
        m.buffer_key = Some("part{partition}-{form_key}-{attribute}".into());
        m
    }

    /// Converts partition `p`'s column `c` (or every column) into buffers.
    fn convert(&self, p: usize, c: Option<usize>) -> Result<HashMap<String, Buffer>> {
        let imp = Import {
            generate_bitmasks: true,
        };
        let schema = self.file.schema();
        let (ak, first, want) = match c {
            Some(c) if !self.plan.single => {
                let batch = self.file.batch(p, &[c])?;
                // A whole batch (IPC), or only the column asked for (Parquet).
                let at = if batch.num_columns() == schema.fields().len() {
                    c
                } else {
                    0
                };
                let column = batch.columns().get(at).ok_or_else(|| {
                    Error::container(
                        self.file.path().display(),
                        format!("partition {p} lacks column {c}"),
                    )
                })?;
                let ak = column_layout(imp, &self.plan.schema, c, column.as_ref())?;
                (ak, self.plan.first[c], Some(&self.plan.column_forms[c]))
            }
            _ => {
                let all: Vec<usize> = (0..schema.fields().len()).collect();
                let batch = self.file.batch(p, &all)?;
                // The file's schema (a projection may drop its metadata).
                let batch = RecordBatch::try_new(schema.clone(), batch.columns().to_vec())
                    .map_err(|e| arrow_err(self.file.path(), "reading a batch", e))?;
                (batch_layout(imp, &batch)?, 0, None)
            }
        };
        let (form, source) = emit(&ak, first)?;
        let expected = want.cloned().unwrap_or_else(|| self.plan.form.to_json());
        if form.to_json() != expected {
            return Err(Error::container(
                self.file.path().display(),
                format!(
                    "partition {p} converts to another form than the file's schema gives: {} instead of {expected}",
                    form.to_json()
                ),
            ));
        }
        Ok(source
            .keys()
            .filter_map(|k| source.get(k).map(|b| (format!("part{p}-{k}"), b.clone())))
            .collect())
    }
}

impl Source for BatchSource {
    fn read(&self, key: &str) -> Result<Option<Buffer>> {
        let Some((p, id)) = parse_key(key) else {
            return Ok(None);
        };
        if p >= self.inner.lengths.len() || id >= self.inner.plan.column.len() {
            return Ok(None);
        }
        let unit = (p, self.inner.plan.column[id]);
        {
            let mut kept = self.kept.lock();
            if let Some((_, bufs)) = kept.iter_mut().find(|(u, _)| *u == unit) {
                if let Some(b) = bufs.remove(key) {
                    return Ok(Some(b));
                }
            }
        }
        let mut bufs = self.converted(unit).map_err(|e| match e {
            Error::Container { message, .. } => Error::read_failed(key, message),
            other => other,
        })?;
        self.read_ahead(unit);
        let found = bufs.remove(key);
        let mut kept = self.kept.lock();
        kept.retain(|(u, _)| *u != unit);
        kept.push_back((unit, bufs));
        while kept.len() > KEPT {
            kept.pop_front();
        }
        Ok(found)
    }
    fn describe(&self) -> String {
        format!("{}", self.inner.file.path().display())
    }
}

/// A Parquet (`parquet`) or Arrow IPC file's batches as a source.
pub(crate) fn batch_source_of(path: &Path, parquet: bool) -> Result<BatchSource> {
    if parquet {
        #[cfg(feature = "parquet")]
        return BatchSource::open(Box::new(super::parquet_file::ParquetFile::open(path)?));
        #[cfg(not(feature = "parquet"))]
        return Err(Error::container(
            path.display(),
            "this akbuf was built without the parquet feature",
        ));
    }
    let file = guarded(path, "reading the footer", || {
        super::ipc_file::IpcFile::open(path)
    })?;
    BatchSource::open(Box::new(file))
}
