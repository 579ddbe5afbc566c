//! The `akbuf` command-line tool: a thin shell over the library.
//!
//! Exit status: 0 on success, 1 on an error (one line on stderr), 2 on a
//! usage error.

use akbuf::{
    open_with, to_packed, write_dir, Array, ByteOrder, Cache, Device, Error, Options, ReadEvent,
    WriteOptions,
};
use clap::{Parser, Subcommand};
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
}

#[derive(Subcommand)]
enum Command {
    /// Print the value as one line of JSON.
    Show {
        /// A directory container, or FILE.h5[:GROUP] (feature hdf5).
        path: PathBuf,
        /// Go into a field (repeat to go deeper; taken literally).
        #[arg(long = "field", value_name = "NAME")]
        fields: Vec<String>,
        /// Print `read <key> <bytes>` on stderr for every read from the source.
        #[arg(long)]
        trace: bool,
        /// Materialize the shown buffers on this device (`cpu`, `cuda`,
        /// `cuda:N`; feature cuda) and show what comes back from it.
        #[arg(long, value_name = "DEVICE")]
        device: Option<Device>,
    },
    /// Print the high-level type, as str(ak_array.type).
    Type {
        /// A directory container, or FILE.h5[:GROUP] (feature hdf5).
        path: PathBuf,
        /// Go into a field (repeat to go deeper; taken literally).
        #[arg(long = "field", value_name = "NAME")]
        fields: Vec<String>,
    },
    /// Print the Form as JSON (awkward's verbose key order).
    Form {
        /// A directory container, or FILE.h5[:GROUP] (feature hdf5).
        path: PathBuf,
        /// Go into a field (repeat to go deeper; taken literally).
        #[arg(long = "field", value_name = "NAME")]
        fields: Vec<String>,
    },
    /// Check the whole array (offsets, indexes, tags, lengths) as
    /// ak.validity_error does; prints "ok", or exits 1 naming the problem.
    Validate {
        /// A directory container, or FILE.h5[:GROUP] (feature hdf5).
        path: PathBuf,
        /// Go into a field (repeat to go deeper; taken literally).
        #[arg(long = "field", value_name = "NAME")]
        fields: Vec<String>,
    },
    /// Print the length and the buffers (key, dtype, bytes); reads no data.
    Info {
        /// A directory container, or FILE.h5[:GROUP] (feature hdf5).
        path: PathBuf,
    },
    /// Copy a container to a new directory, as awkward's to_buffers writes
    /// it (atomically: nothing appears under DST unless the copy completes).
    Copy {
        /// The container to read (a directory, or FILE.h5[:GROUP] with feature hdf5).
        src: PathBuf,
        /// The directory to create (must not exist), or FILE.h5[:GROUP] (feature hdf5; the group must not exist).
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
        /// Copy only this field (repeat to go deeper; taken literally).
        #[arg(long = "field", value_name = "NAME")]
        fields: Vec<String>,
        /// Print `read <key> <bytes>` on stderr for every read from the source.
        #[arg(long)]
        trace: bool,
        /// Replace DST if it exists (a container or an empty folder; an
        /// HDF5 group), in one step once the copy is complete.
        #[arg(long)]
        force: bool,
    },
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
    let bar = (total >= PROGRESS_FROM).then(|| {
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(total),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style);
        }
        bar
    });
    if let Some(bar) = &bar {
        let bar = bar.clone();
        opts = opts.with_progress(move |n| bar.inc(n));
    }
    let write = |a: &Array| -> Result<(), Error> {
        #[cfg(feature = "hdf5")]
        {
            let spec = dst.to_string_lossy();
            // An existing folder is a directory container, whatever its name.
            if akbuf::is_hdf5_path(&spec) && !dst.is_dir() {
                let (file, group) = akbuf::split_hdf5_path(&spec);
                return akbuf::write_hdf5(a, file, group, &opts).map(|_| ());
            }
        }
        write_dir(a, dst, &opts).map(|_| ())
    };
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

fn project(mut array: Array, fields: &[String]) -> Result<Array, Error> {
    for f in fields {
        array = array.field(f)?;
    }
    Ok(array)
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
    };
    if !trace {
        // A private cache: the container's identity is never asked for.
        return open_with(path, options);
    }
    open_with_cache(path, trace, confined, Cache::new())
}

fn open_with_cache(
    path: &Path,
    trace: bool,
    confined: bool,
    mut cache: Cache,
) -> Result<Array, Error> {
    if trace {
        // The cache's observer sees every read from the source as it happens.
        cache = cache.with_observer(|e: &ReadEvent<'_>| match e.bytes {
            Some(n) => eprintln!("read {} {n}", e.key),
            None => eprintln!("read {} failed", e.key),
        });
    }
    let mut options = Options::default().with_cache(Arc::new(cache));
    if confined {
        options = options.confined();
    }
    open_with(path, options)
}

fn run(cli: Cli) -> Result<(), Error> {
    let confined = cli.confined;
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
            device,
        } => {
            let mut array = project(open(&path, trace, confined)?, &fields)?;
            if let Some(device) = device.filter(|d| *d != Device::Cpu) {
                array = round_trip(&path, &fields, &array.to_device(device)?)?;
            }
            array.write_json(&mut out)?;
            writeln!(out).map_err(io)?;
        }
        Command::Type { path, fields } => {
            let array = project(open(&path, false, confined)?, &fields)?;
            writeln!(out, "{}", array.type_string()).map_err(io)?;
        }
        Command::Form { path, fields } => {
            let array = project(open(&path, false, confined)?, &fields)?;
            writeln!(out, "{}", array.form().to_json()).map_err(io)?;
        }
        Command::Validate { path, fields } => {
            let array = project(open(&path, false, confined)?, &fields)?;
            array.validate()?;
            writeln!(out, "ok").map_err(io)?;
        }
        Command::Copy {
            src,
            dst,
            packed,
            byteorder,
            form_key,
            buffer_key,
            id_start,
            fields,
            trace,
            force,
        } => {
            let opts = WriteOptions::default()
                .with_replace(force)
                .with_form_key_template(&form_key)?
                .with_buffer_key_template(&buffer_key)?
                .with_id_start(id_start)
                .with_byteorder(byteorder);
            // Heap buffers beyond 64 MiB leave the cache (mapped ones cost
            // no heap): a copy streams, it need not keep what it wrote.
            let array = open_with_cache(&src, trace, confined, Cache::with_budget(64 << 20))?;
            copy(&project(array, &fields)?, &dst, packed, opts)?;
        }
        Command::Info { path } => {
            let array = open(&path, false, confined)?;
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
