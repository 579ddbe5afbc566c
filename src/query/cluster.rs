//! Akbuf tables on a Ballista cluster (feature `ballista`).
//!
//! A Ballista client plans a query, its scheduler splits it into stages
//! and its executors run the tasks. An [`AkbufTable`] travels between
//! them as its location (absolute paths or URLs) and schema mode, never as
//! data: [`AkbufLogicalCodec`] encodes the table in the logical plan the
//! client sends, [`AkbufPhysicalCodec`] the scan (its columns and row
//! ranges) in the tasks the scheduler sends, and each executor opens the
//! data itself, once per location (the tables it opened are kept, so that
//! its tasks share one cache and read every buffer once). A table whose
//! data changed between planning and executing (another schema) fails the
//! task with an error naming the path.
//!
//! Every other node goes to Ballista's own codecs. The scheduler and the
//! executors must know these codecs: [`run_scheduler`] and
//! [`run_executor`] start Ballista's processes with them (`akbuf cluster
//! scheduler` and `akbuf cluster executor` on the command line), and
//! [`remote_context`] is a client session for them.

use super::{AkbufSource, AkbufTable, Location, SchemaMode};
use crate::error::Error;
use crate::options::Options;
use arrow_schema::SchemaRef;
use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, TableReference};
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{AggregateUDF, Extension, LogicalPlan, ScalarUDF, WindowUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

/// The six functions' codecs (scalar, aggregate and window functions, each
/// decoded and encoded), forwarded to Ballista's codec `self.inner`: akbuf
/// adds tables and scans, not functions.
macro_rules! forward_functions {
    () => {
        fn try_decode_udf(
            &self,
            name: &str,
            buf: &[u8],
        ) -> datafusion::common::Result<Arc<ScalarUDF>> {
            self.inner.try_decode_udf(name, buf)
        }

        fn try_encode_udf(
            &self,
            node: &ScalarUDF,
            buf: &mut Vec<u8>,
        ) -> datafusion::common::Result<()> {
            self.inner.try_encode_udf(node, buf)
        }

        fn try_decode_udaf(
            &self,
            name: &str,
            buf: &[u8],
        ) -> datafusion::common::Result<Arc<AggregateUDF>> {
            self.inner.try_decode_udaf(name, buf)
        }

        fn try_encode_udaf(
            &self,
            node: &AggregateUDF,
            buf: &mut Vec<u8>,
        ) -> datafusion::common::Result<()> {
            self.inner.try_encode_udaf(node, buf)
        }

        fn try_decode_udwf(
            &self,
            name: &str,
            buf: &[u8],
        ) -> datafusion::common::Result<Arc<WindowUDF>> {
            self.inner.try_decode_udwf(name, buf)
        }

        fn try_encode_udwf(
            &self,
            node: &WindowUDF,
            buf: &mut Vec<u8>,
        ) -> datafusion::common::Result<()> {
            self.inner.try_encode_udwf(node, buf)
        }
    };
}

/// What starts an encoded akbuf node: Ballista's own nodes are protobuf
/// messages, which never start with these bytes (0x00 is no field tag).
const MAGIC: &[u8] = b"\0akbuf-ballista-1\0";

/// How many opened tables an executor keeps.
const OPENED: usize = 64;

/// Opens tables by location, keeping the last [`OPENED`] of them.
struct Opener {
    options: Options,
    opened: Mutex<lru::LruCache<Location, AkbufTable>>,
}

impl Opener {
    fn new(options: Options) -> Opener {
        let cap = NonZeroUsize::new(OPENED).unwrap_or(NonZeroUsize::MIN);
        Opener {
            options,
            opened: Mutex::new(lru::LruCache::new(cap)),
        }
    }

    fn open(&self, location: &Location) -> crate::error::Result<AkbufTable> {
        if let Some(t) = self.opened.lock().get(location) {
            return Ok(t.clone());
        }
        // Opening reads metadata: not under the lock.
        let paths: Vec<&str> = location.paths.iter().map(String::as_str).collect();
        let table = AkbufTable::open_paths(&paths, location.mode, self.options.clone())?;
        self.opened.lock().put(location.clone(), table.clone());
        Ok(table)
    }
}

/// `mode` as it travels.
fn mode_name(mode: SchemaMode) -> &'static str {
    match mode {
        SchemaMode::Flattened => "flattened",
        SchemaMode::Nested => "nested",
    }
}

fn encode(value: &Value, buf: &mut Vec<u8>) {
    buf.extend_from_slice(MAGIC);
    buf.extend_from_slice(value.to_string().as_bytes());
}

/// The JSON after [`MAGIC`], if `buf` is an akbuf node.
fn decode(buf: &[u8]) -> Option<datafusion::common::Result<Value>> {
    let body = buf.strip_prefix(MAGIC)?;
    Some(serde_json::from_slice(body).map_err(|e| bad(format!("not an akbuf node: {e}"))))
}

fn bad(message: String) -> DataFusionError {
    DataFusionError::External(Box::new(Error::Unsupported(message)))
}

/// The location of a table, or why it cannot travel.
fn location_of(table: &AkbufTable, name: &str) -> datafusion::common::Result<Value> {
    let Some(location) = &table.location else {
        return Err(bad(format!(
            "table {name} was made from an array in memory (AkbufTable::new): a cluster's \
             executors cannot open it; open it from its paths (AkbufTable::open_paths)"
        )));
    };
    Ok(json!({"paths": location.paths, "mode": mode_name(location.mode)}))
}

fn location_from(value: &Value) -> datafusion::common::Result<Location> {
    let paths = value["paths"]
        .as_array()
        .and_then(|p| p.iter().map(|s| s.as_str().map(String::from)).collect())
        .ok_or_else(|| bad("an akbuf table without paths".into()))?;
    let mode = match value["mode"].as_str() {
        Some("flattened") => SchemaMode::Flattened,
        Some("nested") => SchemaMode::Nested,
        other => return Err(bad(format!("an akbuf table with schema mode {other:?}"))),
    };
    Ok(Location { paths, mode })
}

/// Fails unless `got` has the fields of `want` (names and types): the data
/// was rewritten since the query was planned.
fn same_fields(
    location: &Location,
    want: &[(String, String)],
    got: &SchemaRef,
) -> datafusion::common::Result<()> {
    let got = fields_of(got);
    if got == want {
        return Ok(());
    }
    Err(bad(format!(
        "{}: the data changed since the query was planned (columns {want:?}, now {got:?})",
        location.paths.join(", ")
    )))
}

fn fields_of(schema: &SchemaRef) -> Vec<(String, String)> {
    schema
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().to_string()))
        .collect()
}

/// The akbuf source and scan configuration of `node`, if it is an akbuf
/// scan (a `DataSourceExec` over an [`AkbufSource`]).
fn akbuf_scan(node: &Arc<dyn ExecutionPlan>) -> Option<(&AkbufSource, &FileScanConfig)> {
    let exec = node.downcast_ref::<DataSourceExec>()?;
    let any: &dyn std::any::Any = exec.data_source().as_ref();
    let config = any.downcast_ref::<FileScanConfig>()?;
    let source = config.file_source().downcast_ref::<AkbufSource>()?;
    Some((source, config))
}

/// Ballista's logical codec, plus akbuf tables as their location.
///
/// ```
/// use akbuf::cluster::AkbufLogicalCodec;
/// use datafusion_proto::logical_plan::LogicalExtensionCodec;
/// use datafusion::common::TableReference;
/// use std::sync::Arc;
///
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/events");
/// let table = Arc::new(akbuf::AkbufTable::open(path)?);
/// let codec = AkbufLogicalCodec::new(akbuf::Options::default());
/// let mut buf = Vec::new();
/// codec.try_encode_table_provider(&TableReference::bare("events"), table, &mut buf)?;
/// assert!(buf.len() < 200); // where the data is, not the data
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AkbufLogicalCodec {
    inner: BallistaLogicalExtensionCodec,
    opener: Arc<Opener>,
}

impl fmt::Debug for AkbufLogicalCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AkbufLogicalCodec").finish_non_exhaustive()
    }
}

impl AkbufLogicalCodec {
    /// A codec whose decoded tables are opened with `options` (their cache
    /// shared by every table it opens).
    ///
    /// ```
    /// let codec = akbuf::cluster::AkbufLogicalCodec::new(akbuf::Options::default());
    /// assert!(format!("{codec:?}").starts_with("AkbufLogicalCodec"));
    /// ```
    pub fn new(options: Options) -> AkbufLogicalCodec {
        AkbufLogicalCodec {
            inner: BallistaLogicalExtensionCodec::default(),
            opener: Arc::new(Opener::new(options)),
        }
    }
}

impl LogicalExtensionCodec for AkbufLogicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> datafusion::common::Result<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> datafusion::common::Result<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> datafusion::common::Result<Arc<dyn TableProvider>> {
        let Some(value) = decode(buf) else {
            return self
                .inner
                .try_decode_table_provider(buf, table_ref, schema, ctx);
        };
        let location = location_from(&value?)?;
        let table = self
            .opener
            .open(&location)
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        same_fields(&location, &fields_of(&schema), &table.schema)?;
        Ok(Arc::new(table))
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> datafusion::common::Result<()> {
        match node.downcast_ref::<AkbufTable>() {
            Some(table) => {
                encode(&location_of(table, &table_ref.to_string())?, buf);
                Ok(())
            }
            None => self.inner.try_encode_table_provider(table_ref, node, buf),
        }
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> datafusion::common::Result<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> datafusion::common::Result<()> {
        self.inner.try_encode_file_format(buf, node)
    }

    forward_functions!();
}

/// Ballista's physical codec, plus akbuf scans as their table's location,
/// columns and row ranges.
///
/// ```
/// use akbuf::cluster::AkbufPhysicalCodec;
///
/// let codec = AkbufPhysicalCodec::new(akbuf::Options::default());
/// assert!(format!("{codec:?}").starts_with("AkbufPhysicalCodec"));
/// ```
pub struct AkbufPhysicalCodec {
    inner: BallistaPhysicalExtensionCodec,
    opener: Arc<Opener>,
    delay: Option<Duration>,
}

impl fmt::Debug for AkbufPhysicalCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AkbufPhysicalCodec").finish_non_exhaustive()
    }
}

impl AkbufPhysicalCodec {
    /// A codec whose decoded scans open their tables with `options` (their
    /// cache shared by every table it opens: an executor's tasks read each
    /// buffer once).
    ///
    /// ```
    /// use std::sync::Arc;
    /// let cache = Arc::new(akbuf::Cache::new());
    /// let codec = akbuf::cluster::AkbufPhysicalCodec::new(akbuf::Options::default().with_cache(cache));
    /// # let _ = codec;
    /// ```
    pub fn new(options: Options) -> AkbufPhysicalCodec {
        AkbufPhysicalCodec {
            inner: BallistaPhysicalExtensionCodec::default(),
            opener: Arc::new(Opener::new(options)),
            delay: None,
        }
    }

    /// Decoded scans pause `delay` before each batch: for tests of what a
    /// cluster does when an executor dies while its tasks run.
    #[doc(hidden)]
    pub fn with_scan_delay(mut self, delay: Duration) -> AkbufPhysicalCodec {
        self.delay = Some(delay);
        self
    }
}

impl PhysicalExtensionCodec for AkbufPhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> datafusion::common::Result<Arc<dyn ExecutionPlan>> {
        let Some(value) = decode(buf) else {
            return self.inner.try_decode(buf, inputs, ctx, proto_converter);
        };
        let value = value?;
        let location = location_from(&value)?;
        let table = self
            .opener
            .open(&location)
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let columns: Vec<usize> = serde_json::from_value(value["columns"].clone())
            .map_err(|e| bad(format!("an akbuf scan's columns: {e}")))?;
        let groups: Vec<Vec<(usize, usize)>> = serde_json::from_value(value["groups"].clone())
            .map_err(|e| bad(format!("an akbuf scan's pieces: {e}")))?;
        let limit: Option<usize> = serde_json::from_value(value["limit"].clone())
            .map_err(|e| bad(format!("an akbuf scan's limit: {e}")))?;
        let want: Vec<(String, String)> = serde_json::from_value(value["fields"].clone())
            .map_err(|e| bad(format!("an akbuf scan's fields: {e}")))?;
        let n = table.array.len();
        if let Some(&c) = columns.iter().find(|&&c| c >= table.columns.len()) {
            return Err(bad(format!(
                "{}: column {c} of {} (the data changed since the query was planned)",
                location.paths.join(", "),
                table.columns.len()
            )));
        }
        if let Some(&(a, b)) = groups.iter().flatten().find(|&&(a, b)| a > b || b > n) {
            return Err(bad(format!(
                "{}: rows {a}..{b} of {n} (the data changed since the query was planned)",
                location.paths.join(", ")
            )));
        }
        let schema = Arc::new(table.schema.project(&columns)?);
        same_fields(&location, &want, &schema)?;
        let groups: Vec<Vec<std::ops::Range<usize>>> = groups
            .into_iter()
            .map(|g| g.into_iter().map(|(a, b)| a..b).collect())
            .collect();
        let mut source = AkbufSource::new(table, columns);
        source.delay = self.delay;
        source.exec_groups(&groups, limit)
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> datafusion::common::Result<()> {
        let Some((source, config)) = akbuf_scan(&node) else {
            return self.inner.try_encode(node, buf, proto_converter);
        };
        let mut value = location_of(&source.table, "scanned")?;
        value["columns"] = json!(source.columns);
        let groups: Vec<Vec<(i64, i64)>> = config
            .file_groups
            .iter()
            .map(|g| {
                g.iter()
                    .map(|f| f.range.as_ref().map_or((0, 0), |r| (r.start, r.end)))
                    .collect()
            })
            .collect();
        value["groups"] = json!(groups);
        value["limit"] = json!(config.limit);
        let schema = Arc::new(source.table.schema.project(&source.columns)?);
        value["fields"] = json!(fields_of(&schema));
        encode(&value, buf);
        Ok(())
    }

    forward_functions!();
}

/// A client session on the Ballista cluster whose scheduler is at `url`
/// (`df://host:port`), knowing akbuf's codecs and `STORED AS AKBUF`.
/// Tables registered in it must be opened from their paths
/// ([`AkbufTable::open_paths`]), which the scheduler and every executor
/// must reach. Connects when the first query runs.
///
/// ```no_run
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let ctx = akbuf::cluster::remote_context("df://localhost:50050").await?;
/// let t = akbuf::AkbufTable::open("/data/events")?;
/// ctx.register_table("events", std::sync::Arc::new(t))?;
/// let rows = ctx.sql("SELECT count(*) FROM events").await?.collect().await?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`Error::Engine`] for a URL that names no host.
pub async fn remote_context(url: &str) -> crate::error::Result<SessionContext> {
    use ballista::prelude::{SessionConfigExt, SessionContextExt};
    let config = SessionConfig::new_with_ballista()
        .with_ballista_logical_extension_codec(Arc::new(AkbufLogicalCodec::new(Options::default())))
        .with_ballista_physical_extension_codec(Arc::new(AkbufPhysicalCodec::new(
            Options::default(),
        )));
    let state = datafusion::execution::SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .with_table_factory("AKBUF".into(), Arc::new(super::AkbufTableFactory))
        .build();
    SessionContext::remote_with_state(url, state)
        .await
        .map_err(|e| Error::engine(format!("connecting to {url}"), e))
}

/// How [`run_scheduler`] runs.
///
/// ```
/// let s = akbuf::cluster::SchedulerOptions::new("127.0.0.1:50050".parse()?);
/// assert_eq!(s.executor_timeout_s, 180);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SchedulerOptions {
    /// Where the scheduler listens.
    pub bind: SocketAddr,
    /// Seconds without a heartbeat after which an executor is taken as
    /// dead and its tasks are scheduled again elsewhere (default 180).
    pub executor_timeout_s: u64,
    /// Failures of one task before its query fails (default 4).
    pub task_max_failures: usize,
}

impl SchedulerOptions {
    /// Ballista's defaults, listening on `bind`.
    ///
    /// ```
    /// let s = akbuf::cluster::SchedulerOptions::new("127.0.0.1:0".parse()?);
    /// assert_eq!(s.task_max_failures, 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(bind: SocketAddr) -> SchedulerOptions {
        SchedulerOptions {
            bind,
            executor_timeout_s: 180,
            task_max_failures: 4,
        }
    }
}

/// Runs a Ballista scheduler that knows akbuf tables, until the process
/// ends.
///
/// ```no_run
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let opts = akbuf::cluster::SchedulerOptions::new("127.0.0.1:50050".parse()?);
/// akbuf::cluster::run_scheduler(opts).await?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`Error::Engine`] when the scheduler cannot start (the address is
/// taken) or stops with an error.
pub async fn run_scheduler(opts: SchedulerOptions) -> crate::error::Result<()> {
    use ballista_scheduler::cluster::BallistaCluster;
    use ballista_scheduler::config::SchedulerConfig;
    let mut config = SchedulerConfig {
        bind_host: opts.bind.ip().to_string(),
        bind_port: opts.bind.port(),
        external_host: opts.bind.ip().to_string(),
        executor_timeout_seconds: opts.executor_timeout_s,
        expire_dead_executor_interval_seconds: opts.executor_timeout_s.clamp(1, 15),
        no_executors_grace_period_seconds: opts.executor_timeout_s,
        task_max_failures: opts.task_max_failures,
        ..SchedulerConfig::default()
    };
    config.override_logical_codec = Some(Arc::new(AkbufLogicalCodec::new(Options::default())));
    config.override_physical_codec = Some(Arc::new(AkbufPhysicalCodec::new(Options::default())));
    let failed = |e| Error::engine(format!("scheduler on {}", opts.bind), e);
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(failed)?;
    ballista_scheduler::scheduler_process::start_server(cluster, opts.bind, Arc::new(config))
        .await
        .map_err(failed)
}

/// How [`run_executor`] runs.
///
/// ```
/// let e = akbuf::cluster::ExecutorOptions::new("localhost", 50050);
/// assert_eq!((e.port, e.grpc_port), (50051, 50052));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ExecutorOptions {
    /// The scheduler's host.
    pub scheduler_host: String,
    /// The scheduler's port.
    pub scheduler_port: u16,
    /// The address this executor listens on (default 127.0.0.1).
    pub bind_host: String,
    /// Its Arrow Flight port (where other executors fetch its shuffle
    /// output; default 50051).
    pub port: u16,
    /// Its gRPC port (where the scheduler sends tasks; default 50052).
    pub grpc_port: u16,
    /// Tasks at once (default: the machine's cores).
    pub vcores: usize,
    /// Seconds between heartbeats to the scheduler (default 60).
    pub heartbeat_s: u64,
    /// Where shuffle files go (default: a temporary folder).
    pub work_dir: Option<String>,
    /// How its akbuf tables are opened (a cache to share, an observer).
    pub options: Options,
    /// A pause before each scanned batch (failure tests).
    #[doc(hidden)]
    pub scan_delay: Option<Duration>,
}

impl ExecutorOptions {
    /// Ballista's defaults, for the scheduler at `host:port`.
    ///
    /// ```
    /// let e = akbuf::cluster::ExecutorOptions::new("localhost", 50050);
    /// assert_eq!(e.heartbeat_s, 60);
    /// ```
    pub fn new(scheduler_host: impl Into<String>, scheduler_port: u16) -> ExecutorOptions {
        ExecutorOptions {
            scheduler_host: scheduler_host.into(),
            scheduler_port,
            bind_host: "127.0.0.1".into(),
            port: 50051,
            grpc_port: 50052,
            vcores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            heartbeat_s: 60,
            work_dir: None,
            options: Options::default(),
            scan_delay: None,
        }
    }
}

/// Runs a Ballista executor that knows akbuf tables, until the process
/// ends or the scheduler stops it.
///
/// ```no_run
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// akbuf::cluster::run_executor(akbuf::cluster::ExecutorOptions::new("localhost", 50050)).await?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`Error::Engine`] when it cannot start (ports taken, no scheduler) or
/// stops with an error.
pub async fn run_executor(opts: ExecutorOptions) -> crate::error::Result<()> {
    use ballista_executor::executor_process::{start_executor_process, ExecutorProcessConfig};
    let mut config = ExecutorProcessConfig {
        bind_host: opts.bind_host.clone(),
        external_host: Some(opts.bind_host.clone()),
        port: opts.port,
        grpc_port: opts.grpc_port,
        scheduler_host: opts.scheduler_host.clone(),
        scheduler_port: opts.scheduler_port,
        vcores: opts.vcores,
        work_dir: opts.work_dir.clone(),
        executor_heartbeat_interval_seconds: opts.heartbeat_s,
        print_thread_info: false,
        ..ExecutorProcessConfig::default()
    };
    config.override_logical_codec = Some(Arc::new(AkbufLogicalCodec::new(opts.options.clone())));
    // Ballista's executors know DataFusion's default functions; the
    // list functions (cardinality, array_max, ...) that akbuf's list
    // columns call for are added.
    let mut registry = ballista_core::registry::BallistaFunctionRegistry::default();
    for f in datafusion::functions_nested::all_default_nested_functions() {
        registry.scalar_functions.insert(f.name().to_string(), f);
    }
    config.override_function_registry = Some(Arc::new(registry));
    let mut physical = AkbufPhysicalCodec::new(opts.options.clone());
    physical.delay = opts.scan_delay;
    config.override_physical_codec = Some(Arc::new(physical));
    start_executor_process(Arc::new(config)).await.map_err(|e| {
        Error::engine(
            format!(
                "executor on {}:{} for {}:{}",
                opts.bind_host, opts.port, opts.scheduler_host, opts.scheduler_port
            ),
            e,
        )
    })
}
