//! Akbuf containers and datasets as DataFusion tables (feature
//! `datafusion`).
//!
//! [`AkbufTable`] is a `TableProvider` over an [`Array`] of records (a
//! container, a partitioned container, a folder of containers, a URL with
//! `remote`). Its schema is **flattened** by default: one column per leaf
//! ([`Array::leaves`]), named by its dotted path (`jets.pt`, a `LargeList`
//! of `Float32`), so that DataFusion's projection, which pushes down only
//! top-level columns, reads exactly the buffers of the columns a query
//! names; columns under one list share its offsets. **Nested** keeps the
//! record's fields as they are (`to_arrow`'s schema).
//!
//! A scan has one DataFusion partition per akbuf partition (a one-piece
//! container is cut into row ranges, one per target partition); each
//! partition's batch is made when DataFusion executes it, from the mapped
//! buffers (no copy where `to_arrow` copies none). A `LIMIT` pushed down
//! keeps only the partitions its rows need.
//!
//! A table opened from its location ([`AkbufTable::open`],
//! [`AkbufTable::open_paths`], `STORED AS AKBUF`) can also run on a
//! Ballista cluster (feature `ballista`, [`cluster`]): it travels as its
//! location and options, and each executor opens the data itself.

use crate::array::Array;
use crate::arrow::ToArrowOptions;
use crate::error::Error;
use crate::options::Options;
use arrow_array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow_schema::{Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider, TableProviderFactory};
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Statistics};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::object_store::ObjectStoreUrl;
use datafusion::datasource::physical_plan::{
    FileGroup, FileOpenFuture, FileOpener, FileScanConfig, FileScanConfigBuilder, FileSource,
};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::datasource::TableType;
use datafusion::logical_expr::{CreateExternalTable, Expr};
use datafusion::physical_expr::projection::ProjectionExprs;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion::physical_plan::{DisplayFormatType, ExecutionPlan};
use futures::StreamExt;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

mod scan;
use scan::*;

#[cfg(feature = "ballista")]
pub mod cluster;

/// How an [`AkbufTable`] shows its records to SQL.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SchemaMode {
    /// One column per leaf, named by its dotted path (default).
    #[default]
    Flattened,
    /// The record's fields as columns, nested types kept.
    Nested,
}

/// Rows of a one-piece array per DataFusion partition, at least.
const MIN_ROWS_PER_PARTITION: usize = 1 << 16;

/// One column of the table: the field names leading to it.
#[derive(Clone, Debug)]
struct Column {
    names: Vec<String>,
}

impl Column {
    fn of(&self, array: &Array) -> crate::error::Result<Array> {
        self.names.iter().try_fold(array.clone(), |a, n| a.field(n))
    }
}

/// A DataFusion table over an akbuf array of records.
///
/// ```
/// use akbuf::AkbufTable;
/// use datafusion::prelude::SessionContext;
/// use std::sync::Arc;
///
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let table = AkbufTable::open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))?;
/// let ctx = SessionContext::new();
/// ctx.register_table("events", Arc::new(table))?;
/// let df = ctx.sql(r#"SELECT count(*) AS n FROM (SELECT unnest("jets.pt") AS pt FROM events) WHERE pt > 50"#).await?;
/// let batches = df.collect().await?;
/// assert_eq!(batches[0].num_rows(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct AkbufTable {
    array: Array,
    columns: Vec<Column>,
    schema: SchemaRef,
    options: ToArrowOptions,
    /// Where the data is, when the table was opened from there: what a
    /// cluster's codec sends instead of the data.
    location: Option<Arc<Location>>,
}

/// Where an [`AkbufTable`]'s data is: its paths or URLs (absolute), and
/// how it is shown.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Location {
    pub(crate) paths: Vec<String>,
    pub(crate) mode: SchemaMode,
}

impl Location {
    /// Opens the array: one path is a container (or a folder of
    /// containers), several are one dataset.
    pub(crate) fn open(&self, options: Options) -> crate::error::Result<Array> {
        crate::container::open_locations(&self.paths, options).map(|(array, _)| array)
    }
}

/// `path` made absolute (URLs as they are), so that another process in
/// another folder opens the same data.
fn absolute(path: &str) -> String {
    if crate::url::is_url(path) {
        return path.to_string();
    }
    std::path::absolute(path)
        .map_or_else(|_| path.to_string(), |p| p.to_string_lossy().into_owned())
}

impl fmt::Debug for AkbufTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AkbufTable")
            .field("length", &self.array.len())
            .field("partitions", &self.array.num_partitions())
            .field("columns", &self.columns.len())
            .finish()
    }
}

impl AkbufTable {
    /// Opens a container, a folder of containers (a dataset) or a URL
    /// (feature `remote`) as a flattened table. Reads only metadata.
    ///
    /// ```
    /// let t = akbuf::AkbufTable::open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))?;
    /// use datafusion::catalog::TableProvider;
    /// assert_eq!(t.schema().field(3).name(), "jets.pt");
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`crate::open`] and [`AkbufTable::new`].
    pub fn open(path: impl AsRef<std::path::Path>) -> crate::error::Result<AkbufTable> {
        let path = path.as_ref().to_string_lossy();
        AkbufTable::open_paths(&[path.as_ref()], SchemaMode::Flattened, Options::default())
    }

    /// Opens one table over `paths` (one container or folder of
    /// containers, or several containers as one dataset; URLs with
    /// `remote`), remembering where they are so that the table can run on
    /// a cluster (each executor opens the same paths). Reads only
    /// metadata.
    ///
    /// ```
    /// use akbuf::{AkbufTable, Options, SchemaMode};
    /// use datafusion::catalog::TableProvider;
    ///
    /// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/events");
    /// let t = AkbufTable::open_paths(&[path], SchemaMode::Nested, Options::default())?;
    /// assert_eq!(t.schema().fields().len(), 5); // run, event, met, jets, muons
    /// assert_eq!(t.paths(), Some(&[path.to_string()][..]));
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`crate::open`], [`crate::open_dataset`] and [`AkbufTable::new`];
    /// [`Error::Argument`] for no paths.
    pub fn open_paths(
        paths: &[impl AsRef<str>],
        mode: SchemaMode,
        options: Options,
    ) -> crate::error::Result<AkbufTable> {
        if paths.is_empty() {
            return Err(Error::Argument("a table needs at least one path".into()));
        }
        let location = Location {
            paths: paths.iter().map(|p| absolute(p.as_ref())).collect(),
            mode,
        };
        let array = location.open(options)?;
        let mut table = AkbufTable::new(array, mode).map_err(|e| match e {
            Error::Unsupported(m) => Error::Container {
                path: location.paths.join(", "),
                message: m,
                cause: None,
            },
            other => other,
        })?;
        table.location = Some(Arc::new(location));
        Ok(table)
    }

    /// The paths or URLs the table was opened from (absolute), if it was
    /// ([`AkbufTable::open_paths`]); `None` for a table made from an
    /// [`Array`] in memory ([`AkbufTable::new`]), which cannot go to a
    /// cluster.
    ///
    /// ```
    /// let events = akbuf::open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))?;
    /// let t = akbuf::AkbufTable::new(events, akbuf::SchemaMode::Flattened)?;
    /// assert_eq!(t.paths(), None);
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    pub fn paths(&self) -> Option<&[String]> {
        self.location.as_deref().map(|l| l.paths.as_slice())
    }

    /// The array the table scans.
    ///
    /// ```
    /// let t = akbuf::AkbufTable::open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))?;
    /// assert_eq!(t.array().len(), 1000);
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    pub fn array(&self) -> &Array {
        &self.array
    }

    /// A table over `array` (a record array, or any array as one column
    /// named `""`... in the flattened mode: its leaves). Reads nothing.
    ///
    /// ```
    /// use akbuf::{AkbufTable, SchemaMode};
    /// use datafusion::catalog::TableProvider;
    ///
    /// let events = akbuf::open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))?;
    /// let nested = AkbufTable::new(events, SchemaMode::Nested)?;
    /// assert_eq!(nested.schema().field(3).name(), "jets");
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] for what Arrow cannot hold (as
    /// [`Array::to_arrow`]).
    pub fn new(array: Array, mode: SchemaMode) -> crate::error::Result<AkbufTable> {
        // DataFusion counts rows (and a piece's range) in i64.
        let n = array.len();
        if i64::try_from(n).is_err() {
            let lengths = array.partition_lengths();
            let shown: Vec<String> = lengths.iter().take(4).map(usize::to_string).collect();
            return Err(Error::Unsupported(format!(
                "a table of {n} rows, more than the {} a query engine counts; the partition lengths [{}{}] cannot all be backed by stored buffers",
                i64::MAX,
                shown.join(", "),
                if lengths.len() > 4 { ", ..." } else { "" }
            )));
        }
        let options = ToArrowOptions::default();
        let columns = match mode {
            SchemaMode::Flattened => leaf_names(&array)?,
            SchemaMode::Nested => match array.form().record_parts() {
                Some((Some(names), _)) => names
                    .iter()
                    .map(|n| Column {
                        names: vec![n.clone()],
                    })
                    .collect(),
                _ => vec![Column { names: Vec::new() }],
            },
        };
        // The types from no rows: the layout alone decides them.
        let empty = array.slice(0..0)?;
        let fields = columns
            .iter()
            .map(|c| {
                let name = c.names.join(".");
                let (field, _) = c.of(&empty)?.to_arrow_field(&name, &options)?;
                Ok(field.as_ref().clone())
            })
            .collect::<crate::error::Result<Vec<Field>>>()?;
        Ok(AkbufTable {
            array,
            columns,
            schema: Arc::new(Schema::new(fields)),
            options,
            location: None,
        })
    }

    /// The rows of each DataFusion partition: one per akbuf partition, a
    /// one-piece array cut in `target` ranges.
    fn pieces(&self, target: usize, limit: Option<usize>) -> Vec<Range<usize>> {
        let n = self.array.len();
        let rows = n.div_ceil(target.max(1)).max(MIN_ROWS_PER_PARTITION);
        let mut pieces = Vec::new();
        let mut taken = 0usize;
        for piece in self.array.row_steps(rows) {
            if limit.is_some_and(|l| taken >= l) {
                break;
            }
            taken += piece.len();
            pieces.push(piece);
        }
        pieces
    }
}

/// The field names of every leaf, as [`Array::leaves`] walks them.
fn leaf_names(array: &Array) -> crate::error::Result<Vec<Column>> {
    fn walk(a: &Array, names: Vec<String>, out: &mut Vec<Column>) -> crate::error::Result<()> {
        let fields = a.fields();
        if fields.is_empty() {
            out.push(Column { names });
            return Ok(());
        }
        for f in fields {
            let mut inner = names.clone();
            inner.push(f.clone());
            walk(&a.field(&f)?, inner, out)?;
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(array, Vec::new(), &mut out)?;
    Ok(out)
}

fn df_err(e: Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

#[async_trait]
impl TableProvider for AkbufTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::common::Result<Arc<dyn ExecutionPlan>> {
        let target = state.config().target_partitions();
        let pieces = self.pieces(target, limit);
        let picked: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.columns.len()).collect(),
        };
        AkbufSource::new(self.clone(), picked).exec(&pieces, limit)
    }

    fn statistics(&self) -> Option<Statistics> {
        Some(
            Statistics::new_unknown(&self.schema).with_num_rows(Precision::Exact(self.array.len())),
        )
    }
}

/// `CREATE EXTERNAL TABLE t STORED AS AKBUF LOCATION 'path'`: registered
/// under `AKBUF` by [`session_context`].
#[derive(Debug, Default)]
pub struct AkbufTableFactory;

#[async_trait]
impl TableProviderFactory for AkbufTableFactory {
    async fn create(
        &self,
        _state: &dyn Session,
        cmd: &CreateExternalTable,
    ) -> datafusion::common::Result<Arc<dyn TableProvider>> {
        let nested = cmd
            .options
            .get("schema")
            .or_else(|| cmd.options.get("format.schema"))
            .is_some_and(|v| v.eq_ignore_ascii_case("nested"));
        let mode = if nested {
            SchemaMode::Nested
        } else {
            SchemaMode::Flattened
        };
        // Several locations: one dataset over all of them.
        let table = AkbufTable::open_paths(&cmd.locations, mode, Options::default());
        Ok(Arc::new(table.map_err(df_err)?))
    }
}

/// A DataFusion `SessionContext` that knows `STORED AS AKBUF`.
///
/// ```
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let ctx = akbuf::session_context();
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/events");
/// ctx.sql(&format!("CREATE EXTERNAL TABLE events STORED AS AKBUF LOCATION '{path}'")).await?;
/// let n = ctx.sql("SELECT count(*) FROM events").await?.collect().await?;
/// assert_eq!(n[0].num_rows(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn session_context() -> datafusion::prelude::SessionContext {
    let state = datafusion::execution::SessionStateBuilder::new()
        .with_default_features()
        .with_table_factory("AKBUF".into(), Arc::new(AkbufTableFactory))
        .build();
    datafusion::prelude::SessionContext::new_with_state(state)
}
