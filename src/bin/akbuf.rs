//! The `akbuf` command-line tool: a thin shell over the library.
//!
//! Exit status: 0 on success, 1 on an error (one line on stderr), 2 on a
//! usage error.

use akbuf::{Array, Cache, DirSource, Error, Metadata, Options, ReadEvent};
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
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
}

#[derive(Subcommand)]
enum Command {
    /// Print the value as one line of JSON.
    Show {
        /// A directory container.
        path: PathBuf,
        /// Go into a field (repeat to go deeper; taken literally).
        #[arg(long = "field", value_name = "NAME")]
        fields: Vec<String>,
        /// Print `read <key> <bytes>` on stderr for every read from the source.
        #[arg(long)]
        trace: bool,
    },
    /// Print the high-level type, as str(ak_array.type).
    Type {
        /// A directory container.
        path: PathBuf,
        /// Go into a field (repeat to go deeper; taken literally).
        #[arg(long = "field", value_name = "NAME")]
        fields: Vec<String>,
    },
    /// Print the Form as JSON (awkward's verbose key order).
    Form {
        /// A directory container.
        path: PathBuf,
    },
    /// Print the length and the buffers (key, dtype, bytes); reads no data.
    Info {
        /// A directory container.
        path: PathBuf,
    },
}

fn project(mut array: Array, fields: &[String]) -> Result<Array, Error> {
    for f in fields {
        array = array.field(f)?;
    }
    Ok(array)
}

fn open(path: &PathBuf, trace: bool) -> Result<Array, Error> {
    let meta = Metadata::read_dir(path)?;
    let mut options = Options::default();
    if trace {
        // The cache's observer sees every read from the source as it happens.
        let cache = Cache::new().with_observer(|e: &ReadEvent<'_>| match e.bytes {
            Some(n) => eprintln!("read {} {n}", e.key),
            None => eprintln!("read {} failed", e.key),
        });
        options = options.with_cache(Arc::new(cache));
    }
    meta.open_with(DirSource::new(path), options)
}

fn run(cli: Cli) -> Result<(), Error> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let io = |e: std::io::Error| Error::Io {
        context: "writing to stdout".into(),
        io: Arc::new(e),
    };
    match cli.command {
        Command::Show {
            path,
            fields,
            trace,
        } => {
            let array = project(open(&path, trace)?, &fields)?;
            array.write_json(&mut out)?;
            writeln!(out).map_err(io)?;
        }
        Command::Type { path, fields } => {
            let array = project(open(&path, false)?, &fields)?;
            writeln!(out, "{}", array.type_string()).map_err(io)?;
        }
        Command::Form { path } => {
            let meta = Metadata::read_dir(&path)?;
            writeln!(out, "{}", meta.form.to_json()).map_err(io)?;
        }
        Command::Info { path } => {
            let array = open(&path, false)?;
            writeln!(out, "length {}", array.len()).map_err(io)?;
            let mut seen = std::collections::HashSet::new();
            let (mut count, mut total, mut missing) = (0usize, 0u64, 0usize);
            for b in array.buffers() {
                if !seen.insert(b.key.clone()) {
                    continue;
                }
                count += 1;
                match b.stored_bytes {
                    Some(n) => {
                        total += n;
                        writeln!(out, "buffer {} {} {}", b.key, b.dtype, n).map_err(io)?;
                    }
                    None => {
                        missing += 1;
                        writeln!(out, "buffer {} {} missing", b.key, b.dtype).map_err(io)?;
                    }
                }
            }
            writeln!(
                out,
                "total {count} buffers {total} bytes{}",
                if missing > 0 {
                    format!(" ({missing} missing)")
                } else {
                    String::new()
                }
            )
            .map_err(io)?;
        }
    }
    out.flush().map_err(io)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // --help and --version print and exit 0; usage errors exit 2.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Error::Io { io, .. }) if io.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("akbuf: error: {e}");
            ExitCode::from(1)
        }
    }
}
