//! The command line: commands, their arguments and the parsers of their values.

#[allow(unused_imports)]
use crate::*;

#[derive(Parser)]
#[command(
    name = "akbuf",
    version,
    about = "Read and write Awkward Array buffers lazily"
)]
pub(super) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
    /// Refuse buffer files, metadata.json or HDF5 datasets that resolve
    /// outside the container (symbolic links, external links), for
    /// serving untrusted data.
    #[arg(long, global = true)]
    pub(crate) confined: bool,
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
    pub(crate) request_timeout: Option<std::time::Duration>,
    /// Remote containers: keep the byte ranges fetched in a persistent
    /// cache in DIR, shared by every process and run (a later run asks
    /// the server one revalidation request, then reads from disk).
    #[arg(long, global = true, value_name = "DIR", env = "AKBUF_CACHE_DIR")]
    pub(crate) cache_dir: Option<PathBuf>,
    /// The most bytes the --cache-dir cache keeps (least recently used
    /// evicted past it; default 10 GiB): a number, with an optional
    /// K, M, G or T suffix (powers of 1024).
    #[arg(long, global = true, value_name = "BYTES", value_parser = parse_bytes)]
    pub(crate) cache_budget: Option<u64>,
}

/// The disk tier of this run, from --cache-dir and --cache-budget.
pub(super) static DISK: std::sync::OnceLock<Arc<akbuf::DiskCache>> = std::sync::OnceLock::new();

/// `cache` with this run's disk tier, if any.
pub(super) fn with_disk(cache: Cache) -> Cache {
    match DISK.get() {
        Some(disk) => cache.with_disk(Arc::clone(disk)),
        None => cache,
    }
}

/// A byte count: digits, optionally followed by K, M, G or T (KiB…).
pub(super) fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (digits, shift) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => return Err(format!("{s:?}: the suffix must be K, M, G or T")),
            };
            (&t[..i], shift)
        }
        _ => (t, 0),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1u64 << shift))
        .ok_or_else(|| format!("{s:?} is not a byte count (digits, then K, M, G or T)"))
}

/// How remote containers are fetched: set once from the command line.
pub(super) static FETCH: std::sync::OnceLock<akbuf::Fetch> = std::sync::OnceLock::new();

/// The fetch settings of this run.
pub(super) fn fetch() -> akbuf::Fetch {
    FETCH.get().cloned().unwrap_or_default()
}

/// A positive number of seconds.
pub(super) fn parse_seconds(s: &str) -> Result<std::time::Duration, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|t| *t > 0.0)
        .and_then(|t| std::time::Duration::try_from_secs_f64(t).ok())
        .ok_or_else(|| format!("{s:?} is not a positive number of seconds"))
}

/// A container and the fields to go into.
#[derive(Args)]
pub(super) struct At {
    /// A directory container, FILE.h5[:GROUP] (feature hdf5), a folder of
    /// containers, or a URL (feature remote: s3://, gs://, az://,
    /// http(s)://, file://).
    pub(crate) path: PathBuf,
    /// Go into a field: a name (taken literally, dots and spaces included)
    /// or a dotted path (`jets.pt`); repeat to go deeper.
    #[arg(long = "field", value_name = "NAME")]
    pub(crate) fields: Vec<String>,
    /// Keep only these fields of the record (after --field), in this
    /// order; repeat for several: `--column met --column jets`.
    #[arg(long = "column", value_name = "NAME")]
    pub(crate) columns: Vec<String>,
    /// Only rows START:STOP (either may be left out: `:100`, `5000:`);
    /// reads only the partitions and the byte ranges those rows need.
    #[arg(long, value_name = "START:STOP", value_parser = parse_rows)]
    pub(crate) rows: Option<Rows>,
}

/// A row range from the command line; `None` ends are the array's.
#[derive(Clone, Copy, Debug)]
pub(super) struct Rows(pub(crate) Option<usize>, pub(crate) Option<usize>);

/// `akbuf show`'s arguments.
#[derive(clap::Args)]
pub(super) struct ShowArgs {
    #[command(flatten)]
    pub(crate) at: At,
    /// Print `read <key> <bytes>` on stderr for every read from the source.
    #[arg(long)]
    pub(crate) trace: bool,
    /// Show only the first N entries.
    #[arg(long, value_name = "N")]
    pub(crate) limit: Option<usize>,
    /// Indent the JSON over several lines.
    #[arg(long)]
    pub(crate) pretty: bool,
    /// Materialize the shown buffers on this device (`cpu`, `cuda`,
    /// `cuda:N`; feature cuda) and show what comes back from it.
    #[arg(long, value_name = "DEVICE")]
    pub(crate) device: Option<Device>,
}

/// `akbuf copy`'s arguments.
#[derive(clap::Args)]
pub(super) struct CopyArgs {
    /// The container to read (a directory, FILE.h5[:GROUP] with feature
    /// hdf5, or a URL with feature remote).
    pub(crate) src: PathBuf,
    /// The directory to create (must not exist), FILE.h5[:GROUP]
    /// (feature hdf5; the group must not exist), or a URL (feature
    /// remote: an empty prefix; metadata.json is written last).
    pub(crate) dst: PathBuf,
    /// Write the packed array (awkward's to_packed): no unused bytes.
    #[arg(long)]
    pub(crate) packed: bool,
    /// Byte order of the written buffers: `<` (little) or `>` (big).
    #[arg(long, value_parser = parse_byteorder, default_value = "<")]
    pub(crate) byteorder: ByteOrder,
    /// Form-key template, with `{id}`.
    #[arg(long, value_name = "TEMPLATE", default_value = "node{id}")]
    pub(crate) form_key: String,
    /// Buffer-key template, with `{form_key}` and `{attribute}`.
    #[arg(
        long,
        value_name = "TEMPLATE",
        default_value = "{form_key}-{attribute}"
    )]
    pub(crate) buffer_key: String,
    /// The id of the root node.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) id_start: usize,
    /// Copy only this field: a name or a dotted path; repeat to go deeper.
    #[arg(long = "field", value_name = "NAME")]
    pub(crate) fields: Vec<String>,
    /// Copy only these fields of the record (after --field), in this
    /// order; repeat for several (columns of an Arrow or Parquet copy).
    #[arg(long = "column", value_name = "NAME")]
    pub(crate) columns: Vec<String>,
    /// Copy only rows START:STOP (reading only what they need).
    #[arg(long, value_name = "START:STOP", value_parser = parse_rows)]
    pub(crate) rows: Option<Rows>,
    /// Write a partitioned container of N rows per partition (keys
    /// `part{partition}-...`, as awkward 1 wrote them).
    #[arg(long, value_name = "N", conflicts_with = "partition_bytes")]
    pub(crate) partition_rows: Option<usize>,
    /// Write a partitioned container of about B bytes per partition.
    #[arg(long, value_name = "B")]
    pub(crate) partition_bytes: Option<u64>,
    /// Write a partitioned source (awkward 1's partitions, a folder of
    /// containers) as one piece: its partitions concatenated. Arrow IPC
    /// and Parquet sources are always written so (their batches and row
    /// groups are not partitions) unless --partition-rows/-bytes says.
    #[arg(long, conflicts_with_all = ["partition_rows", "partition_bytes"])]
    pub(crate) one_piece: bool,
    /// Print `read <key> <bytes>` on stderr for every read from the source.
    #[arg(long)]
    pub(crate) trace: bool,
    /// A Zarr destination's chunk size in bytes (K, M, G; default 1M).
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub(crate) chunk_bytes: Option<u64>,
    /// Gather a Zarr destination's chunks in shards of this many bytes
    /// (sharding_indexed; default: no shards).
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub(crate) shard_bytes: Option<u64>,
    /// Replace DST if it exists (a container or an empty folder; an
    /// HDF5 group), in one step once the copy is complete.
    #[arg(long)]
    pub(crate) force: bool,
}

pub(super) fn parse_rows(s: &str) -> Result<Rows, String> {
    let (a, b) = s
        .split_once(':')
        .ok_or_else(|| format!("{s:?} is not START:STOP"))?;
    let num = |t: &str| -> Result<Option<usize>, String> {
        match t.trim() {
            "" => Ok(None),
            // More rows than a usize counts: past any array's end (clipped).
            t if !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit()) => {
                Ok(Some(t.parse().unwrap_or(usize::MAX)))
            }
            t => Err(format!("{t:?} is not a row number")),
        }
    };
    match (num(a)?, num(b)?) {
        (Some(a), Some(b)) if a > b => Err(format!("{s:?}: START is after STOP")),
        (a, b) => Ok(Rows(a, b)),
    }
}

#[derive(Subcommand)]
pub(super) enum Command {
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
    /// Show the disk cache (--cache-dir or AKBUF_CACHE_DIR): its folder,
    /// budget, pieces and bytes; --clear deletes every piece.
    Cache {
        /// Delete every piece.
        #[arg(long)]
        clear: bool,
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
pub(super) enum ClusterRole {
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
pub(super) enum SqlFormat {
    /// A text table.
    Table,
    /// One JSON object per row, keys the column names.
    Json,
    /// CSV with a header line.
    Csv,
}

pub(super) fn parse_byteorder(s: &str) -> Result<ByteOrder, String> {
    match s {
        "<" | "little" => Ok(ByteOrder::Little),
        ">" | "big" => Ok(ByteOrder::Big),
        _ => Err(format!("{s:?} is not a byte order (use < or >)")),
    }
}
