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

use crate::array::{Array, ChunkSize};
use crate::arrow::ToArrowOptions;
use crate::error::Error;
use arrow_array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow_schema::{Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider, TableProviderFactory};
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Statistics};
use datafusion::datasource::TableType;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{CreateExternalTable, Expr};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use std::fmt;
use std::sync::Arc;

/// How an [`AkbufTable`] shows its records to SQL.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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
    fn of(&self, array: &Array) -> crate::Result<Array> {
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
    pub fn open(path: impl AsRef<std::path::Path>) -> crate::Result<AkbufTable> {
        let path = path.as_ref();
        let is_dataset = path.is_dir() && !path.join("metadata.json").exists();
        let array = match is_dataset {
            true => crate::open_dataset([path])?,
            false => crate::open(path)?,
        };
        AkbufTable::new(array, SchemaMode::Flattened)
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
    /// [`Error::Argument`] for what Arrow cannot hold (as
    /// [`Array::to_arrow`]).
    pub fn new(array: Array, mode: SchemaMode) -> crate::Result<AkbufTable> {
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
            .collect::<crate::Result<Vec<Field>>>()?;
        Ok(AkbufTable {
            array,
            columns,
            schema: Arc::new(Schema::new(fields)),
            options,
        })
    }

    /// The rows of each DataFusion partition: one per akbuf partition, a
    /// one-piece array cut in `target` ranges.
    fn pieces(&self, target: usize, limit: Option<usize>) -> crate::Result<Vec<Array>> {
        let n = self.array.len();
        let rows = n.div_ceil(target.max(1)).max(MIN_ROWS_PER_PARTITION);
        let mut pieces = Vec::new();
        let mut taken = 0usize;
        for piece in self.array.chunks(ChunkSize::Rows(rows))? {
            if limit.is_some_and(|l| taken >= l) {
                break;
            }
            let piece = piece?;
            taken += piece.len();
            pieces.push(piece);
        }
        Ok(pieces)
    }
}

/// The field names of every leaf, as [`Array::leaves`] walks them.
fn leaf_names(array: &Array) -> crate::Result<Vec<Column>> {
    fn walk(a: &Array, names: Vec<String>, out: &mut Vec<Column>) -> crate::Result<()> {
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
        let pieces = self.pieces(target, limit).map_err(df_err)?;
        let picked: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.columns.len()).collect(),
        };
        let schema = Arc::new(self.schema.project(&picked)?);
        Ok(Arc::new(AkbufExec::new(
            self.clone(),
            pieces,
            picked,
            schema,
        )))
    }

    fn statistics(&self) -> Option<Statistics> {
        Some(
            Statistics::new_unknown(&self.schema).with_num_rows(Precision::Exact(self.array.len())),
        )
    }
}

/// The scan: one partition per piece, each batch made when executed.
#[derive(Debug)]
struct AkbufExec {
    table: AkbufTable,
    pieces: Vec<Array>,
    columns: Vec<usize>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl AkbufExec {
    fn new(table: AkbufTable, pieces: Vec<Array>, columns: Vec<usize>, schema: SchemaRef) -> Self {
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(pieces.len().max(1)),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        AkbufExec {
            table,
            pieces,
            columns,
            schema,
            properties,
        }
    }

    /// Piece `i`'s batch of the projected columns.
    fn batch(&self, i: usize) -> crate::Result<RecordBatch> {
        let Some(piece) = self.pieces.get(i) else {
            return Ok(RecordBatch::new_empty(self.schema.clone()));
        };
        let columns = self
            .columns
            .iter()
            .zip(self.schema.fields())
            .map(|(&c, field)| {
                let values = self.table.columns[c]
                    .of(piece)?
                    .to_arrow(&self.table.options)?;
                if values.data_type() != field.data_type() {
                    return Err(Error::Argument(format!(
                        "column {:?}: rows {} make {} where the table has {}",
                        field.name(),
                        i,
                        values.data_type(),
                        field.data_type()
                    )));
                }
                Ok(values)
            })
            .collect::<crate::Result<Vec<ArrayRef>>>()?;
        RecordBatch::try_new_with_options(
            self.schema.clone(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(piece.len())),
        )
        .map_err(|e| Error::Argument(format!("cannot make a RecordBatch: {e}")))
    }
}

impl DisplayAs for AkbufExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "AkbufExec: {} partitions, {} columns",
            self.pieces.len(),
            self.columns.len()
        )
    }
}

impl ExecutionPlan for AkbufExec {
    fn name(&self) -> &str {
        "AkbufExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> datafusion::common::Result<TreeNodeRecursion>,
    ) -> datafusion::common::Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> datafusion::common::Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> datafusion::common::Result<SendableRecordBatchStream> {
        let batch = self.batch(partition).map_err(df_err);
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            futures::stream::iter(std::iter::once(batch)),
        )))
    }

    fn partition_statistics(
        &self,
        partition: Option<usize>,
    ) -> datafusion::common::Result<Arc<Statistics>> {
        let rows = match partition {
            Some(i) => self.pieces.get(i).map_or(0, Array::len),
            None => self.pieces.iter().map(Array::len).sum(),
        };
        Ok(Arc::new(
            Statistics::new_unknown(&self.schema).with_num_rows(Precision::Exact(rows)),
        ))
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
        // Several locations: one dataset over all of them.
        let array = match cmd.locations.as_slice() {
            [one] => {
                let path = std::path::Path::new(one);
                let is_dataset = path.is_dir() && !path.join("metadata.json").exists();
                match is_dataset {
                    true => crate::open_dataset([path]),
                    false => crate::open(path),
                }
            }
            many => crate::open_dataset(many.iter()),
        }
        .map_err(df_err)?;
        let mode = if nested {
            SchemaMode::Nested
        } else {
            SchemaMode::Flattened
        };
        Ok(Arc::new(AkbufTable::new(array, mode).map_err(df_err)?))
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
