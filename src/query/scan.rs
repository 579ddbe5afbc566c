//! The scan behind an [`AkbufTable`]: `AkbufSource`, a DataFusion `FileSource`
//! whose "files" are row pieces of the array (one file group per
//! partition), and `AkbufOpener`, which converts a piece's partition's
//! columns to Arrow once (`Piece`) and streams batches as slices of them.

#[allow(unused_imports)]
use super::*;

/// The scan's source: a `FileSource` whose "files" are pieces of rows
/// (each `PartitionedFile` names the table and carries the piece's rows as
/// its range), so that DataFusion's `DataSourceExec` runs it, one file
/// group per partition, and a Ballista scheduler hands each task only its
/// own pieces.
#[derive(Clone)]
pub(crate) struct AkbufSource {
    pub(crate) table: AkbufTable,
    table_schema: TableSchema,
    /// The table's columns the scan reads, in output order.
    pub(crate) columns: Vec<usize>,
    projection: ProjectionExprs,
    metrics: ExecutionPlanMetricsSet,
    /// A pause before each batch (failure tests of a cluster: an executor
    /// killed while its tasks run).
    pub(crate) delay: Option<std::time::Duration>,
    /// Rows per batch: a piece streams as slices of this many rows, which
    /// keep the operators above in cache.
    batch_rows: usize,
}

/// Rows per batch at least (more when the session asks for more). A
/// piece's columns are converted to Arrow once and each batch is a slice of
/// them, so a batch costs a few hundred nanoseconds per column: 8,192 to
/// 1,048,576 rows per batch ran the same queries within 5 % of each other
/// (BENCHMARKS.md, issue #17); 65,536 keeps a batch's unnested values in
/// cache while paying that cost 15 times per million rows.
pub(super) const BATCH_ROWS: usize = 1 << 16;

impl AkbufSource {
    pub(crate) fn new(table: AkbufTable, columns: Vec<usize>) -> AkbufSource {
        let projection = ProjectionExprs::from_indices(&columns, &table.schema);
        AkbufSource {
            table_schema: TableSchema::from(table.schema.clone()),
            table,
            columns,
            projection,
            metrics: ExecutionPlanMetricsSet::new(),
            delay: None,
            batch_rows: BATCH_ROWS,
        }
    }

    /// The `DataSourceExec` over `pieces` (one partition each).
    pub(crate) fn exec(
        self,
        pieces: &[Range<usize>],
        limit: Option<usize>,
    ) -> datafusion::common::Result<Arc<dyn ExecutionPlan>> {
        let groups = pieces.iter().map(|r| vec![r.clone()]).collect::<Vec<_>>();
        self.exec_groups(&groups, limit)
    }

    /// The `DataSourceExec` over groups of pieces (a partition each).
    pub(crate) fn exec_groups(
        self,
        groups: &[Vec<Range<usize>>],
        limit: Option<usize>,
    ) -> datafusion::common::Result<Arc<dyn ExecutionPlan>> {
        let schema = self.table.schema.clone();
        let file = |r: &Range<usize>| {
            let rows = r.len();
            PartitionedFile::new_with_range(
                format!("akbuf-rows-{}-{}", r.start, r.end),
                rows as u64,
                r.start as i64,
                r.end as i64,
            )
            .with_statistics(Arc::new(
                Statistics::new_unknown(&schema).with_num_rows(Precision::Exact(rows)),
            ))
        };
        let rows: usize = groups.iter().flatten().map(|r| r.len()).sum();
        let file_groups = groups
            .iter()
            .map(|g| FileGroup::new(g.iter().map(file).collect()))
            .collect();
        let columns = self.columns.clone();
        let config = FileScanConfigBuilder::new(ObjectStoreUrl::local_filesystem(), Arc::new(self))
            .with_file_groups(file_groups)
            .with_limit(limit)
            .with_statistics(Statistics::new_unknown(&schema).with_num_rows(Precision::Exact(rows)))
            .build();
        debug_assert_eq!(
            config
                .file_source()
                .projection()
                .map(|p| p.column_indices()),
            Some(columns)
        );
        Ok(DataSourceExec::from_data_source(config))
    }
}

impl fmt::Debug for AkbufSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AkbufSource")
            .field("table", &self.table)
            .field("columns", &self.columns)
            .finish()
    }
}

impl FileSource for AkbufSource {
    fn create_file_opener(
        &self,
        _object_store: Arc<dyn datafusion::object_store::ObjectStore>,
        _base_config: &FileScanConfig,
        _partition: usize,
    ) -> datafusion::common::Result<Arc<dyn FileOpener>> {
        let schema = Arc::new(self.table.schema.project(&self.columns)?);
        Ok(Arc::new(AkbufOpener {
            table: self.table.clone(),
            columns: self.columns.clone(),
            schema,
            delay: self.delay,
            batch_rows: self.batch_rows.max(1),
        }))
    }

    fn table_schema(&self) -> &TableSchema {
        &self.table_schema
    }

    fn with_batch_size(&self, batch_size: usize) -> Arc<dyn FileSource> {
        let mut source = self.clone();
        source.batch_rows = batch_size.max(BATCH_ROWS);
        Arc::new(source)
    }

    fn projection(&self) -> Option<&ProjectionExprs> {
        Some(&self.projection)
    }

    fn metrics(&self) -> &ExecutionPlanMetricsSet {
        &self.metrics
    }

    fn file_type(&self) -> &str {
        "akbuf"
    }

    fn fmt_extra(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, ", {} columns", self.columns.len())
    }

    fn supports_repartitioning(&self) -> bool {
        // A piece's "range" is rows, not bytes: the pieces are the table's.
        false
    }

    fn repartitioned(
        &self,
        _target_partitions: usize,
        _repartition_file_min_size: usize,
        _output_ordering: Option<datafusion::physical_expr::LexOrdering>,
        _config: &FileScanConfig,
    ) -> datafusion::common::Result<Option<FileScanConfig>> {
        Ok(None)
    }

    /// Column selections only (each expression a column under its own
    /// name): anything computed stays above the scan.
    fn try_pushdown_projection(
        &self,
        projection: &ProjectionExprs,
    ) -> datafusion::common::Result<Option<Arc<dyn FileSource>>> {
        let merged = self.projection.try_merge(projection)?;
        let mut columns = Vec::new();
        for e in merged.iter() {
            let Some(c) = e
                .expr
                .downcast_ref::<datafusion::physical_expr::expressions::Column>()
            else {
                return Ok(None);
            };
            if c.name() != e.alias || c.index() >= self.table.columns.len() {
                return Ok(None);
            }
            columns.push(c.index());
        }
        let mut source = AkbufSource::new(self.table.clone(), columns);
        source.delay = self.delay;
        source.batch_rows = self.batch_rows;
        Ok(Some(Arc::new(source)))
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> datafusion::common::Result<TreeNodeRecursion>,
    ) -> datafusion::common::Result<TreeNodeRecursion> {
        datafusion::physical_plan::apply_expression_roots(self.projection.iter(), f)
    }
}

/// Makes a piece's batches: its range is the piece's rows, streamed in
/// slices of `batch_rows`, each made when the stream is polled.
pub(super) struct AkbufOpener {
    table: AkbufTable,
    columns: Vec<usize>,
    schema: SchemaRef,
    delay: Option<std::time::Duration>,
    batch_rows: usize,
}

impl FileOpener for AkbufOpener {
    fn open(&self, file: PartitionedFile) -> datafusion::common::Result<FileOpenFuture> {
        let Some(range) = &file.range else {
            return Err(df_err(Error::Unsupported(format!(
                "an akbuf piece without rows: {}",
                file.object_meta.location
            ))));
        };
        let rows = usize::try_from(range.start).unwrap_or(usize::MAX)
            ..usize::try_from(range.end).unwrap_or(usize::MAX);
        let (table, columns, schema, delay) = (
            self.table.clone(),
            self.columns.clone(),
            self.schema.clone(),
            self.delay,
        );
        let step = self.batch_rows;
        let n = rows.len();
        let steps = (0..n.div_ceil(step).max(1))
            .map(move |i| rows.start + i * step..(rows.start + (i + 1) * step).min(rows.end));
        Ok(Box::pin(async move {
            if let Some(d) = delay {
                tokio::time::sleep(d).await;
            }
            let piece = Piece::new(&table, rows, &columns, &schema).map_err(df_err)?;
            let batches = steps.map(move |r| piece.batch(r).map_err(df_err));
            Ok(futures::stream::iter(batches).boxed())
        }))
    }
}

/// A piece's columns: its partition's whole columns (buffers read once
/// through the cache, converted to Arrow once per piece, no copy), which
/// its batches slice.
pub(super) struct Piece {
    columns: Vec<ArrayRef>,
    /// The table row where the partition starts.
    start: usize,
    schema: SchemaRef,
}

impl Piece {
    /// The columns of the partition holding `rows` (which must lie in it).
    fn new(
        table: &AkbufTable,
        rows: Range<usize>,
        columns: &[usize],
        schema: &SchemaRef,
    ) -> crate::error::Result<Piece> {
        let n = table.array.len();
        if rows.start > rows.end || rows.end > n {
            return Err(Error::Unsupported(format!(
                "rows {}..{} of a table of {n} (the data changed since the query was planned?)",
                rows.start, rows.end
            )));
        }
        let (part, start) = partition_of(&table.array, rows.start)?;
        if rows.end > start + part.len() {
            return Err(Error::Unsupported(format!(
                "rows {}..{} cross the end of their partition (rows {start}..{})",
                rows.start,
                rows.end,
                start + part.len()
            )));
        }
        let columns = columns
            .iter()
            .zip(schema.fields())
            .map(|(&c, field)| {
                let whole = table.columns[c].of(&part)?.to_arrow(&table.options)?;
                if whole.data_type() != field.data_type() {
                    return Err(Error::Unsupported(format!(
                        "column {:?}: rows {}..{} make {} where the table has {}",
                        field.name(),
                        rows.start,
                        rows.end,
                        whole.data_type(),
                        field.data_type()
                    )));
                }
                Ok(whole)
            })
            .collect::<crate::error::Result<Vec<ArrayRef>>>()?;
        Ok(Piece {
            columns,
            start,
            schema: schema.clone(),
        })
    }

    /// The batch of table rows `rows` (within the piece).
    fn batch(&self, rows: Range<usize>) -> crate::error::Result<RecordBatch> {
        let values = self
            .columns
            .iter()
            .map(|c| c.slice(rows.start - self.start, rows.len()))
            .collect();
        RecordBatch::try_new_with_options(
            self.schema.clone(),
            values,
            &RecordBatchOptions::new().with_row_count(Some(rows.len())),
        )
        .map_err(|e| Error::Unsupported(format!("cannot make a RecordBatch: {e}")))
    }
}

/// The partition holding row `row` of `array` (the array itself when it is
/// one piece), and the row where that partition starts.
pub(super) fn partition_of(array: &Array, row: usize) -> crate::error::Result<(Array, usize)> {
    if !array.is_partitioned() {
        return Ok((array.clone(), 0));
    }
    let mut start = 0usize;
    for (i, n) in array.partition_lengths().into_iter().enumerate() {
        if row < start + n {
            return Ok((array.partition(i)?, start));
        }
        start += n;
    }
    Ok((array.slice(row..row)?, row))
}
