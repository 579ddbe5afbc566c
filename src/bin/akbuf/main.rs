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

mod args;
mod copy;
mod opening;
mod print;
mod sql;
use args::*;
use copy::*;
use opening::*;
use print::*;
use sql::*;

fn run(cli: Cli) -> Result<(), Error> {
    let confined = cli.confined;
    if let Some(t) = cli.request_timeout {
        let _ = FETCH.set(akbuf::Fetch::default().with_timeout(t));
    }
    if let Some(dir) = &cli.cache_dir {
        let mut disk = akbuf::DiskCache::new(dir);
        if let Some(b) = cli.cache_budget {
            disk = disk.with_budget(b);
        }
        let _ = DISK.set(Arc::new(disk));
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
        Command::Cache { clear } => cache_command(clear, &mut out)?,
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
