//! The `akbuf` command-line tool: a thin shell over the library.
//!
//! Exit status: 0 on success, 1 on an error (one line on stderr), 2 on a
//! usage error.

use akbuf::{
    to_packed, Array, ByteOrder, Cache, ChunkSize, Device, Error, Options, ReadEvent, WriteOptions,
};
use clap::{Args, Parser, Subcommand};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "akbuf",
    version,
    about = "Read and write Awkward Array buffers lazily"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Refuse buffer files, metadata.json or HDF5 datasets that resolve
    /// outside the container (symbolic links, external links), for
    /// serving untrusted data.
    #[arg(long, global = true)]
    confined: bool,
    /// Remote containers: the time budget of one buffer read, in seconds
    /// (default 30): it fails once this long passes without a byte from
    /// the server, whatever its requests, retries and fallbacks.
    #[arg(
        long,
        global = true,
        value_name = "SECS",
        env = "AKBUF_REQUEST_TIMEOUT",
        value_parser = parse_seconds
    )]
    request_timeout: Option<std::time::Duration>,
}

/// How remote containers are fetched: set once from the command line.
static FETCH: std::sync::OnceLock<akbuf::Fetch> = std::sync::OnceLock::new();

/// The fetch settings of this run.
fn fetch() -> akbuf::Fetch {
    FETCH.get().cloned().unwrap_or_default()
}

/// A positive number of seconds.
fn parse_seconds(s: &str) -> Result<std::time::Duration, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|t| *t > 0.0)
        .and_then(|t| std::time::Duration::try_from_secs_f64(t).ok())
        .ok_or_else(|| format!("{s:?} is not a positive number of seconds"))
}

/// A container and the fields to go into.
#[derive(Args)]
struct At {
    /// A directory container, FILE.h5[:GROUP] (feature hdf5), a folder of
    /// containers, or a URL (feature remote: s3://, gs://, az://,
    /// http(s)://, file://).
    path: PathBuf,
    /// Go into a field: a name (taken literally, dots and spaces included)
    /// or a dotted path (`jets.pt`); repeat to go deeper.
    #[arg(long = "field", value_name = "NAME")]
    fields: Vec<String>,
    /// Keep only these fields of the record (after --field), in this
    /// order; repeat for several: `--column met --column jets`.
    #[arg(long = "column", value_name = "NAME")]
    columns: Vec<String>,
    /// Only rows START:STOP (either may be left out: `:100`, `5000:`);
    /// reads only the partitions and the byte ranges those rows need.
    #[arg(long, value_name = "START:STOP", value_parser = parse_rows)]
    rows: Option<Rows>,
}

/// A row range from the command line; `None` ends are the array's.
#[derive(Clone, Copy, Debug)]
struct Rows(Option<usize>, Option<usize>);

/// `akbuf show`'s arguments.
#[derive(clap::Args)]
struct ShowArgs {
    #[command(flatten)]
    at: At,
    /// Print `read <key> <bytes>` on stderr for every read from the source.
    #[arg(long)]
    trace: bool,
    /// Show only the first N entries.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Indent the JSON over several lines.
    #[arg(long)]
    pretty: bool,
    /// Materialize the shown buffers on this device (`cpu`, `cuda`,
    /// `cuda:N`; feature cuda) and show what comes back from it.
    #[arg(long, value_name = "DEVICE")]
    device: Option<Device>,
}

/// `akbuf copy`'s arguments.
#[derive(clap::Args)]
struct CopyArgs {
    /// The container to read (a directory, FILE.h5[:GROUP] with feature
    /// hdf5, or a URL with feature remote).
    src: PathBuf,
    /// The directory to create (must not exist), FILE.h5[:GROUP]
    /// (feature hdf5; the group must not exist), or a URL (feature
    /// remote: an empty prefix; metadata.json is written last).
    dst: PathBuf,
    /// Write the packed array (awkward's to_packed): no unused bytes.
    #[arg(long)]
    packed: bool,
    /// Byte order of the written buffers: `<` (little) or `>` (big).
    #[arg(long, value_parser = parse_byteorder, default_value = "<")]
    byteorder: ByteOrder,
    /// Form-key template, with `{id}`.
    #[arg(long, value_name = "TEMPLATE", default_value = "node{id}")]
    form_key: String,
    /// Buffer-key template, with `{form_key}` and `{attribute}`.
    #[arg(
        long,
        value_name = "TEMPLATE",
        default_value = "{form_key}-{attribute}"
    )]
    buffer_key: String,
    /// The id of the root node.
    #[arg(long, value_name = "N", default_value_t = 0)]
    id_start: usize,
    /// Copy only this field: a name or a dotted path; repeat to go deeper.
    #[arg(long = "field", value_name = "NAME")]
    fields: Vec<String>,
    /// Copy only these fields of the record (after --field), in this
    /// order; repeat for several (columns of an Arrow or Parquet copy).
    #[arg(long = "column", value_name = "NAME")]
    columns: Vec<String>,
    /// Copy only rows START:STOP (reading only what they need).
    #[arg(long, value_name = "START:STOP", value_parser = parse_rows)]
    rows: Option<Rows>,
    /// Write a partitioned container of N rows per partition (keys
    /// `part{partition}-...`, as awkward 1 wrote them).
    #[arg(long, value_name = "N", conflicts_with = "partition_bytes")]
    partition_rows: Option<usize>,
    /// Write a partitioned container of about B bytes per partition.
    #[arg(long, value_name = "B")]
    partition_bytes: Option<u64>,
    /// Write a partitioned source (awkward 1's partitions, a folder of
    /// containers) as one piece: its partitions concatenated. Arrow IPC
    /// and Parquet sources are always written so (their batches and row
    /// groups are not partitions) unless --partition-rows/-bytes says.
    #[arg(long, conflicts_with_all = ["partition_rows", "partition_bytes"])]
    one_piece: bool,
    /// Print `read <key> <bytes>` on stderr for every read from the source.
    #[arg(long)]
    trace: bool,
    /// Replace DST if it exists (a container or an empty folder; an
    /// HDF5 group), in one step once the copy is complete.
    #[arg(long)]
    force: bool,
}

fn parse_rows(s: &str) -> Result<Rows, String> {
    let (a, b) = s
        .split_once(':')
        .ok_or_else(|| format!("{s:?} is not START:STOP"))?;
    let num = |t: &str| -> Result<Option<usize>, String> {
        match t.trim() {
            "" => Ok(None),
            t => t
                .parse()
                .map(Some)
                .map_err(|_| format!("{t:?} is not a row number")),
        }
    };
    Ok(Rows(num(a)?, num(b)?))
}

/// `array[start:stop]`, lazily (nothing read until touched).
fn rows(array: Array, rows: Option<Rows>) -> Result<Array, Error> {
    match rows {
        None => Ok(array),
        Some(Rows(a, b)) => {
            let b = b.unwrap_or(array.len());
            array.slice(a.unwrap_or(0)..b)
        }
    }
}

/// Opens `at`, goes into its fields and takes its rows.
fn open_at(at: &At, trace: bool, confined: bool) -> Result<Array, Error> {
    let array = project(open(&at.path, trace, confined)?, &at.fields)?;
    rows(select(array, &at.columns)?, at.rows)
}

/// Only these fields of the record (none: all of them).
fn select(array: Array, columns: &[String]) -> Result<Array, Error> {
    match columns.is_empty() {
        true => Ok(array),
        false => array.select(columns),
    }
}

#[derive(Subcommand)]
enum Command {
    /// Print the value as one line of JSON.
    Show(ShowArgs),
    /// Print the high-level type, as str(ak_array.type).
    Type {
        #[command(flatten)]
        at: At,
    },
    /// Print the Form as JSON (awkward's verbose key order).
    Form {
        #[command(flatten)]
        at: At,
    },
    /// Check the whole array (offsets, indexes, tags, lengths) as
    /// ak.validity_error does; prints "ok", or exits 1 naming the problem.
    Validate {
        #[command(flatten)]
        at: At,
    },
    /// Print the length and the buffers (key, dtype, bytes; with --json
    /// also each buffer's field path, node and attribute); reads no data.
    Info {
        #[command(flatten)]
        at: At,
        /// One JSON object: length, buffers, totals.
        #[arg(long)]
        json: bool,
    },
    /// Copy a container to a new directory, as awkward's to_buffers writes
    /// it (atomically: nothing appears under DST unless the copy completes).
    Copy(CopyArgs),
    /// Run a SQL query (DataFusion; feature datafusion) over containers:
    /// `akbuf sql PATH... "QUERY"`. Each PATH is a table named after its
    /// folder or file (`data/events` is `events`); columns are the dotted
    /// leaf paths (`run`, `"jets.pt"`), so that
    /// `SELECT sum(pt) FROM (SELECT unnest("jets.pt") AS pt FROM events)`
    /// reads only the jets offsets and pt.
    Sql {
        /// The containers (a directory, a folder of containers, a URL, an
        /// Arrow or Parquet file), then the query.
        #[arg(required = true, num_args = 1.., value_name = "PATH... QUERY")]
        args: Vec<String>,
        /// A table under a name of its own: NAME=PATH (repeat).
        #[arg(long = "table", value_name = "NAME=PATH")]
        tables: Vec<String>,
        /// How rows are printed.
        #[arg(long, value_enum, default_value = "table")]
        format: SqlFormat,
        /// Keep records nested (the fields as columns, `jets` a list of
        /// structs) instead of one column per leaf.
        #[arg(long)]
        nested: bool,
        /// Print `read <key> <bytes>` on stderr for every read from a source
        /// (in this process: on a cluster, the executors read, and
        /// `akbuf cluster executor --trace` prints theirs).
        #[arg(long)]
        trace: bool,
        /// Run on the Ballista cluster whose scheduler is at
        /// df://HOST:PORT (feature ballista; started with `akbuf cluster`).
        /// The scheduler and every executor open the tables' paths.
        #[arg(long, value_name = "df://HOST:PORT")]
        cluster: Option<String>,
        /// Give up (exit 1) when the query has not finished after SECS.
        #[arg(long, value_name = "SECS")]
        timeout: Option<f64>,
    },
    /// Run a Ballista scheduler or executor that knows akbuf tables
    /// (feature ballista), for `akbuf sql --cluster`.
    Cluster {
        #[command(subcommand)]
        role: ClusterRole,
    },
}

/// `akbuf cluster scheduler|executor`.
#[derive(Subcommand)]
enum ClusterRole {
    /// The scheduler: plans queries and hands tasks to executors.
    Scheduler {
        /// Where it listens.
        #[arg(long, default_value = "127.0.0.1:50050", value_name = "HOST:PORT")]
        bind: std::net::SocketAddr,
        /// Seconds without a heartbeat before an executor is taken as
        /// dead (its tasks run again elsewhere).
        #[arg(long, default_value_t = 180, value_name = "SECS")]
        executor_timeout: u64,
        /// Failures of one task before its query fails.
        #[arg(long, default_value_t = 4, value_name = "N")]
        task_max_failures: usize,
    },
    /// An executor: runs tasks, opening the tables' paths itself.
    Executor {
        /// The scheduler.
        #[arg(long, default_value = "localhost:50050", value_name = "HOST:PORT")]
        scheduler: String,
        /// The address it listens on.
        #[arg(long, default_value = "127.0.0.1", value_name = "HOST")]
        bind: String,
        /// Its Arrow Flight port (shuffle data).
        #[arg(long, default_value_t = 50051)]
        port: u16,
        /// Its gRPC port (tasks).
        #[arg(long, default_value_t = 50052)]
        grpc_port: u16,
        /// Tasks at once (default: the cores).
        #[arg(long, value_name = "N")]
        vcores: Option<usize>,
        /// Seconds between heartbeats.
        #[arg(long, default_value_t = 60, value_name = "SECS")]
        heartbeat: u64,
        /// Where shuffle files go (default: a temporary folder).
        #[arg(long, value_name = "DIR")]
        work_dir: Option<String>,
        /// Print `read <key> <bytes>` on stderr for every read from a source.
        #[arg(long)]
        trace: bool,
        /// Pause before each scanned batch (failure tests).
        #[arg(long, hide = true, value_name = "MS")]
        scan_delay_ms: Option<u64>,
    },
}

/// Output of `akbuf sql`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum SqlFormat {
    /// A text table.
    Table,
    /// One JSON object per row, keys the column names.
    Json,
    /// CSV with a header line.
    Csv,
}

fn parse_byteorder(s: &str) -> Result<ByteOrder, String> {
    match s {
        "<" | "little" => Ok(ByteOrder::Little),
        ">" | "big" => Ok(ByteOrder::Big),
        _ => Err(format!("{s:?} is not a byte order (use < or >)")),
    }
}

/// Copies at least this big get a progress bar (when stderr is a terminal).
const PROGRESS_FROM: u64 = 16 << 20;

fn copy(array: &Array, dst: &Path, packed: bool, mut opts: WriteOptions) -> Result<(), Error> {
    // A bar only on a terminal: then the sizes are worth asking the source for.
    let total: u64 = if std::io::stderr().is_terminal() {
        array.buffers().iter().filter_map(|b| b.stored_bytes).sum()
    } else {
        0
    };
    // Sizes known only once read (an Arrow or Parquet source): a counter.
    let counter = total == 0 && std::io::stderr().is_terminal() && !array.is_empty();
    let bar = (total >= PROGRESS_FROM || counter).then(|| {
        let bar = indicatif::ProgressBar::with_draw_target(
            (!counter).then_some(total),
            indicatif::ProgressDrawTarget::stderr(),
        );
        let template = if counter {
            "{spinner} {binary_bytes} {binary_bytes_per_sec} {elapsed}"
        } else {
            "{bar:40} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}"
        };
        if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar
    });
    if let Some(bar) = &bar {
        let bar = bar.clone();
        opts = opts.with_progress(move |n| bar.inc(n));
    }
    let opts = opts.with_fetch(fetch());
    // The destination's format is the library's decision (its content, or
    // the name of what does not exist yet).
    let write = |a: &Array| akbuf::write_to(a, dst, &opts).map(|_| ());
    let result = if packed {
        to_packed(array).and_then(|p| write(&p))
    } else {
        write(array)
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    result
}

/// `akbuf sql`'s arguments (read only with feature datafusion).
#[cfg_attr(not(feature = "datafusion"), allow(dead_code))]
struct SqlArgs<'a> {
    args: &'a [String],
    tables: &'a [String],
    format: SqlFormat,
    nested: bool,
    trace: bool,
    cluster: Option<&'a str>,
    timeout: Option<f64>,
}

/// `akbuf sql`: registers each table, runs the query (here or on a
/// cluster), prints the rows.
#[cfg(feature = "datafusion")]
fn sql(a: &SqlArgs<'_>, confined: bool, out: &mut impl Write) -> Result<(), Error> {
    let (query, paths) = a
        .args
        .split_last()
        .ok_or_else(|| Error::Argument("akbuf sql needs a query".into()))?;
    let mut named: Vec<(String, String)> = paths
        .iter()
        .map(|p| {
            let path = Path::new(p.trim_end_matches('/'));
            let name = path
                .file_stem()
                .map_or_else(|| p.clone(), |s| s.to_string_lossy().into_owned());
            (name, p.clone())
        })
        .collect();
    for t in a.tables {
        let (name, path) = t
            .split_once('=')
            .ok_or_else(|| Error::Argument(format!("--table {t:?} is not NAME=PATH")))?;
        named.push((name.to_string(), path.to_string()));
    }
    let mode = if a.nested {
        akbuf::SchemaMode::Nested
    } else {
        akbuf::SchemaMode::Flattened
    };
    let timeout = match a.timeout {
        Some(t) => Some(
            std::time::Duration::try_from_secs_f64(t)
                .map_err(|_| Error::Argument(format!("--timeout {t}: not a number of seconds")))?,
        ),
        None => None,
    };
    let runtime = tokio_runtime("query")?;
    let ctx = match a.cluster {
        Some(url) => runtime.block_on(remote_context(url))?,
        None => akbuf::session_context(),
    };
    let options = read_options(a.trace, confined, Cache::new());
    for (name, path) in &named {
        let table =
            akbuf::AkbufTable::open_paths(&[path], mode, options.clone()).map_err(|e| match e {
                Error::Container {
                    path,
                    message,
                    cause,
                } => Error::Container {
                    path: format!("{path} (table {name})"),
                    message,
                    cause,
                },
                other => other,
            })?;
        ctx.register_table(name.as_str(), Arc::new(table))
            .map_err(|e| Error::Argument(format!("table {name}: {e}")))?;
    }
    // The query runs on the runtime's threads; this one only waits, so
    // that the bound holds even while a scan's conversion keeps every
    // worker busy, and a query past it is left behind (the runtime shut
    // down without waiting for its threads), not waited for.
    let (sent, answer) = std::sync::mpsc::channel();
    let query = query.clone();
    runtime.spawn(async move {
        let got = async { ctx.sql(&query).await?.collect().await }.await;
        let _ = sent.send(got);
    });
    let got = match timeout {
        Some(t) => answer.recv_timeout(t).map_err(|e| match e {
            std::sync::mpsc::RecvTimeoutError::Timeout => Some(t),
            std::sync::mpsc::RecvTimeoutError::Disconnected => None,
        }),
        None => answer.recv().map_err(|_| None),
    };
    let batches = match got {
        Ok(r) => r.map_err(|e| akbuf_engine("query", e))?,
        Err(late) => {
            runtime.shutdown_background();
            let message = match late {
                Some(t) => format!(
                    "the query did not finish in {} s (--timeout)",
                    t.as_secs_f64()
                ),
                None => "the query's task ended without an answer".to_string(),
            };
            return Err(Error::Engine {
                context: "query".into(),
                cause: akbuf::Cause::new(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    message,
                )),
            });
        }
    };
    let failed = |e: &dyn std::fmt::Display| Error::Engine {
        context: "printing the rows".into(),
        cause: akbuf::Cause::new(std::io::Error::other(e.to_string())),
    };
    let io = stdout_error;
    match a.format {
        SqlFormat::Table => {
            let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
                .map_err(|e| failed(&e))?;
            writeln!(out, "{text}").map_err(io)?;
        }
        SqlFormat::Json => {
            let mut w = datafusion::arrow::json::LineDelimitedWriter::new(&mut *out);
            let refs: Vec<&datafusion::arrow::record_batch::RecordBatch> = batches.iter().collect();
            w.write_batches(&refs).map_err(|e| failed(&e))?;
            w.finish().map_err(|e| failed(&e))?;
        }
        SqlFormat::Csv => {
            let mut w = datafusion::arrow::csv::Writer::new(&mut *out);
            for b in &batches {
                w.write(b).map_err(|e| failed(&e))?;
            }
        }
    }
    Ok(())
}

/// A multi-threaded tokio runtime for the `what` (query, cluster).
#[cfg(feature = "datafusion")]
fn tokio_runtime(what: &str) -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Io {
            context: format!("starting the {what} runtime"),
            io: Arc::new(e),
        })
}

/// An engine's error, unwrapped when it only carries one of akbuf's.
#[cfg(feature = "datafusion")]
fn akbuf_engine(context: &str, e: datafusion::error::DataFusionError) -> Error {
    // akbuf's own error, however deep the engine wrapped it.
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(c) = cause {
        if let Some(a) = c.downcast_ref::<Error>() {
            return a.clone();
        }
        cause = c.source();
    }
    Error::Engine {
        context: context.into(),
        cause: akbuf::Cause::new(e),
    }
}

#[cfg(feature = "ballista")]
fn remote_context(
    url: &str,
) -> impl std::future::Future<Output = Result<datafusion::prelude::SessionContext, Error>> + '_ {
    akbuf::cluster::remote_context(url)
}

#[cfg(all(feature = "datafusion", not(feature = "ballista")))]
async fn remote_context(_: &str) -> Result<datafusion::prelude::SessionContext, Error> {
    Err(Error::Argument(
        "akbuf sql --cluster: this akbuf was built without the ballista feature".into(),
    ))
}

#[cfg(not(feature = "datafusion"))]
fn sql(_: &SqlArgs<'_>, _: bool, _: &mut impl Write) -> Result<(), Error> {
    Err(Error::Argument(
        "akbuf sql: this akbuf was built without the datafusion feature".into(),
    ))
}

/// `akbuf cluster scheduler|executor`: runs until killed.
#[cfg(feature = "ballista")]
fn cluster(role: ClusterRole, confined: bool) -> Result<(), Error> {
    use akbuf::cluster::{ExecutorOptions, SchedulerOptions};
    let runtime = tokio_runtime("cluster")?;
    match role {
        ClusterRole::Scheduler {
            bind,
            executor_timeout,
            task_max_failures,
        } => {
            let mut opts = SchedulerOptions::new(bind);
            opts.executor_timeout_s = executor_timeout;
            opts.task_max_failures = task_max_failures;
            eprintln!("akbuf: scheduler on {bind}");
            runtime.block_on(akbuf::cluster::run_scheduler(opts))
        }
        ClusterRole::Executor {
            scheduler,
            bind,
            port,
            grpc_port,
            vcores,
            heartbeat,
            work_dir,
            trace,
            scan_delay_ms,
        } => {
            let (host, sport) = scheduler
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
                .ok_or_else(|| {
                    Error::Argument(format!("--scheduler {scheduler:?} is not HOST:PORT"))
                })?;
            let mut opts = ExecutorOptions::new(host, sport);
            opts.bind_host = bind;
            opts.port = port;
            opts.grpc_port = grpc_port;
            if let Some(n) = vcores {
                opts.vcores = n;
            }
            opts.heartbeat_s = heartbeat;
            opts.work_dir = work_dir;
            opts.options = read_options(trace, confined, Cache::new());
            opts.scan_delay = scan_delay_ms.map(std::time::Duration::from_millis);
            eprintln!(
                "akbuf: executor on {}:{} (tasks on {}) for {scheduler}",
                opts.bind_host, opts.port, opts.grpc_port
            );
            runtime.block_on(akbuf::cluster::run_executor(opts))
        }
    }
}

#[cfg(not(feature = "ballista"))]
fn cluster(_: ClusterRole, _: bool) -> Result<(), Error> {
    Err(Error::Argument(
        "akbuf cluster: this akbuf was built without the ballista feature".into(),
    ))
}

/// Whether a source is an Arrow IPC or Parquet file (read with feature
/// `arrow`), by its content.
fn is_batch_file(path: &Path) -> bool {
    matches!(akbuf::file_format(path), Some("arrow" | "parquet"))
}

fn project(mut array: Array, fields: &[String]) -> Result<Array, Error> {
    for f in fields {
        // `--field ''` names a field called "" (an error where there is
        // none), not the array itself.
        array = match f.is_empty() {
            true => array.field("")?,
            false => array.field_path(f)?,
        };
    }
    Ok(array)
}

/// Re-indents compact JSON as it streams through (strings untouched).
struct Pretty<W: Write> {
    inner: W,
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// An opening bracket not written yet: `[]` and `{}` stay on one line.
    open: Option<u8>,
}

impl<W: Write> Pretty<W> {
    fn new(inner: W) -> Pretty<W> {
        Pretty {
            inner,
            depth: 0,
            in_string: false,
            escaped: false,
            open: None,
        }
    }

    fn newline(&mut self, out: &mut Vec<u8>) {
        out.push(b'\n');
        out.extend(std::iter::repeat_n(b' ', 2 * self.depth));
    }
}

impl<W: Write> Write for Pretty<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut out = Vec::with_capacity(buf.len() * 2);
        for &c in buf {
            if let Some(o) = self.open.take() {
                out.push(o);
                if c == b']' || c == b'}' {
                    out.push(c);
                    continue;
                }
                self.depth += 1;
                self.newline(&mut out);
            }
            if self.in_string {
                out.push(c);
                match (self.escaped, c) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match c {
                b'"' => {
                    self.in_string = true;
                    out.push(c);
                }
                b'[' | b'{' => self.open = Some(c),
                b']' | b'}' => {
                    self.depth = self.depth.saturating_sub(1);
                    self.newline(&mut out);
                    out.push(c);
                }
                b',' => {
                    out.push(c);
                    self.newline(&mut out);
                }
                b':' => out.extend_from_slice(b": "),
                _ => out.push(c),
            }
        }
        self.inner.write_all(&out)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if let Some(o) = self.open.take() {
            self.inner.write_all(&[o])?;
        }
        self.inner.flush()
    }
}

/// Uploads every buffer of `on_device` (once each), copies each back, and
/// opens the same container and fields over the copies: what is shown then
/// went to the device and back.
#[cfg(feature = "cuda")]
fn round_trip(path: &Path, fields: &[String], on_device: &Array) -> Result<Array, Error> {
    let mut copies = akbuf::MemorySource::new();
    for b in on_device.device_buffers()? {
        copies = copies.with(b.key(), b.to_host()?);
    }
    let meta = akbuf::read_metadata(path)?;
    // Device copies are in the host's byte order, whatever the container's.
    let options = meta.options()?.with_byteorder(ByteOrder::native());
    project(
        akbuf::from_buffers(&meta.form, meta.length, copies, options)?,
        fields,
    )
}

/// Without the `cuda` feature no array reaches a device (`to_device` fails first).
#[cfg(not(feature = "cuda"))]
fn round_trip(_: &Path, _: &[String], on_device: &Array) -> Result<Array, Error> {
    Ok(on_device.clone())
}

fn open(path: &Path, trace: bool, confined: bool) -> Result<Array, Error> {
    let options = if confined {
        Options::default().confined()
    } else {
        Options::default()
    }
    .with_fetch(fetch());
    if !trace {
        // A private cache: the container's identity is never asked for.
        return open_any(path, options);
    }
    open_with_cache(path, trace, confined, Cache::new())
}

fn open_with_cache(path: &Path, trace: bool, confined: bool, cache: Cache) -> Result<Array, Error> {
    open_any(path, read_options(trace, confined, cache))
}

/// Options reading through `cache`, printing every read when `trace`.
fn read_options(trace: bool, confined: bool, mut cache: Cache) -> Options {
    if trace {
        // The cache's observer sees every read from the source as it happens.
        cache = cache.with_observer(|e: &ReadEvent<'_>| match e.bytes {
            Some(n) => eprintln!("read {} {n}", e.key),
            None => eprintln!("read {} failed", e.key),
        });
    }
    let mut options = Options::default()
        .with_cache(Arc::new(cache))
        .with_fetch(fetch());
    if confined {
        options = options.confined();
    }
    options
}

/// A container, or a folder of containers (a dataset: one array over all
/// of them, in name order), through the library's one door.
fn open_any(path: &Path, options: Options) -> Result<Array, Error> {
    akbuf::open_locations([path], options).map(|(array, _)| array)
}

/// `info`: the length and each buffer once (key, dtype, stored bytes), as
/// lines or as one JSON object (with field paths, nodes and attributes).
/// Sizes a source cannot tell without asking (a remote store) are asked
/// in one batch; a size still unknown (a slice's ranges, an Arrow column,
/// a request that failed) is "unknown", never "missing".
fn info(array: &Array, json: bool, out: &mut impl Write) -> std::io::Result<()> {
    let mut seen = std::collections::HashSet::new();
    let buffers: Vec<_> = array
        .stat_buffers()
        .into_iter()
        .filter(|b| seen.insert(b.key.clone()))
        .collect();
    let total: u64 = buffers.iter().filter_map(|b| b.stored_bytes).sum();
    let missing = buffers.iter().filter(|b| b.present == Some(false)).count();
    let unknown = buffers.iter().filter(|b| b.present.is_none()).count();
    // Per partition: its length and the bytes its buffers hold.
    let lengths = array.partition_lengths();
    let mut part_bytes = vec![0u64; lengths.len()];
    for b in &buffers {
        if let (Some(p), Some(n)) = (b.partition, b.stored_bytes) {
            part_bytes[p] += n;
        }
    }
    if json {
        let list: Vec<serde_json::Value> = buffers
            .iter()
            .map(|b| {
                serde_json::json!({
                    "key": b.key, "field": b.field, "node": b.node,
                    "attribute": b.attribute, "dtype": b.dtype, "bytes": b.stored_bytes,
                    "present": b.present, "partition": b.partition,
                })
            })
            .collect();
        let mut doc = serde_json::json!({
            "length": array.len(), "type": array.type_string(), "buffers": list,
            "total_buffers": buffers.len(), "total_bytes": total, "missing": missing,
            "unknown": unknown,
        });
        if array.is_partitioned() {
            doc["partitions"] = lengths
                .iter()
                .zip(&part_bytes)
                .map(|(n, b)| serde_json::json!({"length": n, "bytes": b}))
                .collect();
        }
        return writeln!(out, "{doc}");
    }
    writeln!(out, "length {}", array.len())?;
    if array.is_partitioned() {
        writeln!(out, "partitions {}", lengths.len())?;
        for (i, (n, b)) in lengths.iter().zip(&part_bytes).enumerate() {
            writeln!(out, "partition {i} {n} {b} bytes")?;
        }
    }
    for b in &buffers {
        match (b.stored_bytes, b.present) {
            (Some(n), _) => writeln!(out, "buffer {} {} {n}", b.key, b.dtype)?,
            (None, Some(false)) => writeln!(out, "buffer {} {} missing", b.key, b.dtype)?,
            (None, _) => writeln!(out, "buffer {} {} unknown", b.key, b.dtype)?,
        }
    }
    let missing = match (missing, unknown) {
        (0, 0) => String::new(),
        (m, 0) => format!(" ({m} missing)"),
        (0, u) => format!(" ({u} unknown until read)"),
        (m, u) => format!(" ({m} missing, {u} unknown until read)"),
    };
    writeln!(
        out,
        "total {} buffers {total} bytes{missing}",
        buffers.len()
    )
}

/// `akbuf show`: the (projected, sliced) array as JSON.
fn show(a: ShowArgs, confined: bool, out: &mut impl Write) -> Result<(), Error> {
    let ShowArgs {
        at,
        trace,
        limit,
        pretty,
        device,
    } = a;
    let mut array = project(open(&at.path, trace, confined)?, &at.fields)?;
    if let Some(device) = device.filter(|d| *d != Device::Cpu) {
        array = round_trip(&at.path, &at.fields, &array.to_device(device)?)?;
    }
    let array = rows(select(array, &at.columns)?, at.rows)?;
    // A selection shown whole (or its rows) is read as one batch:
    // one round of requests for a remote container.
    let selected = !at.fields.is_empty() || !at.columns.is_empty();
    if selected && limit.is_none() && !is_batch_file(&at.path) {
        array.prefetch(&[""])?;
    }
    let rows = 0..limit.unwrap_or(usize::MAX);
    if pretty {
        let mut p = Pretty::new(&mut *out);
        array.write_json_rows(&mut p, rows)?;
        p.flush().map_err(stdout_error)?;
    } else {
        array.write_json_rows(&mut *out, rows)?;
    }
    writeln!(out).map_err(stdout_error)
}

/// `akbuf copy`: the (projected, sliced, repartitioned) array written.
fn copy_command(a: CopyArgs, confined: bool) -> Result<(), Error> {
    let CopyArgs {
        src,
        dst,
        packed,
        byteorder,
        form_key,
        buffer_key,
        id_start,
        fields,
        columns,
        rows: row_range,
        partition_rows,
        partition_bytes,
        one_piece,
        trace,
        force,
    } = a;
    let from_batches = is_batch_file(&src);
    let one_piece =
        one_piece || (from_batches && partition_rows.is_none() && partition_bytes.is_none());
    let opts = WriteOptions::default()
        .with_one_piece(one_piece)
        .with_replace(force)
        .with_form_key_template(&form_key)?
        .with_buffer_key_template(&buffer_key)?
        .with_id_start(id_start)
        .with_byteorder(byteorder);
    // Heap buffers beyond 64 MiB leave the cache (mapped ones cost
    // no heap): a copy streams, it need not keep what it wrote.
    let array = open_with_cache(&src, trace, confined, Cache::with_budget(64 << 20))?;
    let mut array = rows(select(project(array, &fields)?, &columns)?, row_range)?;
    // (Packing rows reads the original's buffers whole, not the
    // slice's ranges: nothing to prefetch then.)
    let packs_rows = packed && row_range.is_some();
    // (An Arrow or Parquet file decodes a column per read anyway:
    // prefetching it would only hold every partition at once.)
    let selected = !fields.is_empty() || !columns.is_empty();
    if selected && !packs_rows && !from_batches {
        array.prefetch(&[""])?;
    }
    let size = match (partition_rows, partition_bytes) {
        (Some(n), _) => Some(ChunkSize::Rows(n)),
        (None, Some(b)) => Some(ChunkSize::Bytes(b)),
        (None, None) => None,
    };
    if let Some(size) = size {
        array = array.repartition(size)?;
    }
    copy(&array, &dst, packed, opts)
}

/// A failed write to stdout.
fn stdout_error(e: std::io::Error) -> Error {
    Error::Io {
        context: "writing to stdout".into(),
        io: Arc::new(e),
    }
}

fn run(cli: Cli) -> Result<(), Error> {
    let confined = cli.confined;
    if let Some(t) = cli.request_timeout {
        let _ = FETCH.set(akbuf::Fetch::default().with_timeout(t));
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let io = |e: std::io::Error| Error::Io {
        context: "writing to stdout".into(),
        io: Arc::new(e),
    };
    match cli.command {
        Command::Show(a) => show(a, confined, &mut out)?,
        Command::Type { at } => {
            let array = open_at(&at, false, confined)?;
            writeln!(out, "{}", array.type_string()).map_err(io)?;
        }
        Command::Form { at } => {
            let array = open_at(&at, false, confined)?;
            writeln!(out, "{}", array.form().to_json()).map_err(io)?;
        }
        Command::Validate { at } => {
            let array = open_at(&at, false, confined)?;
            array.validate()?;
            writeln!(out, "ok").map_err(io)?;
        }
        Command::Copy(a) => copy_command(a, confined)?,
        Command::Sql {
            args,
            tables,
            format,
            nested,
            trace,
            cluster,
            timeout,
        } => {
            let a = SqlArgs {
                args: &args,
                tables: &tables,
                format,
                nested,
                trace,
                cluster: cluster.as_deref(),
                timeout,
            };
            sql(&a, confined, &mut out)?
        }
        Command::Cluster { role } => cluster(role, confined)?,
        Command::Info { at, json } => {
            let array = open_at(&at, false, confined)?;
            info(&array, json, &mut out).map_err(io)?;
        }
    }
    out.flush().map_err(io)
}

/// The message of the last panic on any thread (see `quiet_panics`).
static LAST_PANIC: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Keeps a panic's report off the terminal: the library catches the
/// panics a decoder below it may raise on damaged input (arrow-rs,
/// parquet) and turns them into errors, and the one line akbuf prints for
/// an error is all a user sees. The message is kept for the rare panic
/// that is not caught. `AKBUF_PANIC_REPORTS=1` keeps Rust's own report
/// (with `RUST_BACKTRACE`, its backtrace), for debugging.
fn quiet_panics() {
    if std::env::var("AKBUF_PANIC_REPORTS").is_ok_and(|v| v == "1") {
        return;
    }
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let text = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_string());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = Some(format!("{text}{at}"));
        }
    }));
}

fn main() -> ExitCode {
    quiet_panics();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // --help and --version print and exit 0; usage errors exit 2.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let outcome = std::panic::catch_unwind(move || run(cli)).unwrap_or_else(|_| {
        let what = LAST_PANIC
            .lock()
            .ok()
            .and_then(|mut l| l.take())
            .unwrap_or_else(|| "a panic".into());
        Err(Error::Engine {
            context: "internal error (a bug in akbuf or a library below it)".into(),
            cause: akbuf::Cause::new(std::io::Error::other(what)),
        })
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Error::Io { io, .. }) if io.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            // One line, whatever a library below said.
            let text = e.to_string();
            let line = text
                .split(['\n', '\r'])
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join("; ");
            eprintln!("akbuf: error: {line}");
            // A bad template or keys that collide are usage errors.
            let usage = matches!(e, Error::Argument(_) | Error::DuplicateKey { .. });
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}
