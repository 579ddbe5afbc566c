//! `akbuf sql` and `akbuf cluster` (features datafusion and ballista).

#[allow(unused_imports)]
use crate::*;

/// `akbuf sql`'s arguments (read only with feature datafusion).
#[cfg_attr(not(feature = "datafusion"), allow(dead_code))]
pub(super) struct SqlArgs<'a> {
    pub(crate) args: &'a [String],
    pub(crate) tables: &'a [String],
    pub(crate) format: SqlFormat,
    pub(crate) nested: bool,
    pub(crate) trace: bool,
    pub(crate) cluster: Option<&'a str>,
    pub(crate) timeout: Option<f64>,
}

/// `akbuf sql`: registers each table, runs the query (here or on a
/// cluster), prints the rows.
#[cfg(feature = "datafusion")]
pub(super) fn sql(a: &SqlArgs<'_>, confined: bool, out: &mut impl Write) -> Result<(), Error> {
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
    // Every error of the query names its tables.
    let over = named
        .iter()
        .map(|(name, path)| format!("{name} ({path})"))
        .collect::<Vec<_>>()
        .join(", ");
    let context = format!("query over {over}");
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
        Ok(r) => r.map_err(|e| match akbuf_engine(&context, e) {
            engine @ Error::Engine { .. } => engine,
            // akbuf's own error (a data error names its key and node path),
            // under the query's tables.
            ours => Error::Engine {
                context: context.clone(),
                cause: akbuf::Cause::new(ours),
            },
        })?,
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
                context,
                cause: akbuf::Cause::new(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    message,
                )),
            });
        }
    };
    print_batches(a.format, &batches, out)
}

/// The query's rows as the format asks.
#[cfg(feature = "datafusion")]
fn print_batches(
    format: SqlFormat,
    batches: &[datafusion::arrow::record_batch::RecordBatch],
    out: &mut impl Write,
) -> Result<(), Error> {
    let failed = |e: &dyn std::fmt::Display| Error::Engine {
        context: "printing the rows".into(),
        cause: akbuf::Cause::new(std::io::Error::other(e.to_string())),
    };
    let io = stdout_error;
    match format {
        SqlFormat::Table => {
            let text = datafusion::arrow::util::pretty::pretty_format_batches(batches)
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
            for b in batches {
                w.write(b).map_err(|e| failed(&e))?;
            }
        }
    }
    Ok(())
}

/// A multi-threaded tokio runtime for the `what` (query, cluster).
#[cfg(feature = "datafusion")]
pub(super) fn tokio_runtime(what: &str) -> Result<tokio::runtime::Runtime, Error> {
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
pub(super) fn akbuf_engine(context: &str, e: datafusion::error::DataFusionError) -> Error {
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
pub(super) fn remote_context(
    url: &str,
) -> impl std::future::Future<Output = Result<datafusion::prelude::SessionContext, Error>> + '_ {
    akbuf::cluster::remote_context(url)
}

#[cfg(all(feature = "datafusion", not(feature = "ballista")))]
pub(super) async fn remote_context(_: &str) -> Result<datafusion::prelude::SessionContext, Error> {
    Err(Error::Argument(
        "akbuf sql --cluster: this akbuf was built without the ballista feature".into(),
    ))
}

#[cfg(not(feature = "datafusion"))]
pub(super) fn sql(_: &SqlArgs<'_>, _: bool, _: &mut impl Write) -> Result<(), Error> {
    Err(Error::Argument(
        "akbuf sql: this akbuf was built without the datafusion feature".into(),
    ))
}

/// `akbuf cluster scheduler|executor`: runs until killed.
#[cfg(feature = "ballista")]
pub(super) fn cluster(role: ClusterRole, confined: bool) -> Result<(), Error> {
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
pub(super) fn cluster(_: ClusterRole, _: bool) -> Result<(), Error> {
    Err(Error::Argument(
        "akbuf cluster: this akbuf was built without the ballista feature".into(),
    ))
}
