//! The `akbuf` command-line tool: a thin shell over the library.
//!
//! Exit status: 0 on success, 1 on an error (one line on stderr), 2 on a
//! usage error.

use akbuf::{
    to_packed, write_dir, Array, ByteOrder, Cache, Device, DirSource, Error, Metadata, Options,
    ReadEvent, WriteOptions,
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
            if akbuf::is_hdf5_path(&spec) {
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

/// A container on disk: a directory, or (with the `hdf5` feature)
/// `FILE.h5` / `FILE.h5:GROUP`.
enum Container {
    Dir(PathBuf),
    #[cfg(feature = "hdf5")]
    Hdf5(akbuf::Hdf5Source),
}

fn container(path: &Path) -> Result<Container, Error> {
    let spec = path.to_string_lossy();
    #[cfg(feature = "hdf5")]
    if akbuf::is_hdf5_path(&spec) {
        return akbuf::Hdf5Source::open_spec(&spec).map(Container::Hdf5);
    }
    #[cfg(not(feature = "hdf5"))]
    if spec.contains(".h5") || spec.contains(".hdf5") {
        return Err(Error::Container {
            path: spec.to_string(),
            message: "this akbuf was built without the hdf5 feature".into(),
        });
    }
    Ok(Container::Dir(path.to_path_buf()))
}

impl Container {
    fn metadata(&self) -> Result<Metadata, Error> {
        match self {
            Container::Dir(p) => Metadata::read_dir(p),
            #[cfg(feature = "hdf5")]
            Container::Hdf5(s) => s.metadata(),
        }
    }

    fn open(self, options: Options) -> Result<Array, Error> {
        let meta = self.metadata()?;
        match self {
            Container::Dir(p) => meta.open_with(DirSource::new(p), options),
            #[cfg(feature = "hdf5")]
            Container::Hdf5(s) => meta.open_with(s, options),
        }
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
    let meta = container(path)?.metadata()?;
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

fn open(path: &Path, trace: bool) -> Result<Array, Error> {
    if !trace {
        // A private cache: the container's identity is never asked for.
        return container(path)?.open(Options::default());
    }
    open_with_cache(path, trace, Cache::new())
}

fn open_with_cache(path: &Path, trace: bool, mut cache: Cache) -> Result<Array, Error> {
    if trace {
        // The cache's observer sees every read from the source as it happens.
        cache = cache.with_observer(|e: &ReadEvent<'_>| match e.bytes {
            Some(n) => eprintln!("read {} {n}", e.key),
            None => eprintln!("read {} failed", e.key),
        });
    }
    container(path)?.open(Options::default().with_cache(Arc::new(cache)))
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
            device,
        } => {
            let mut array = project(open(&path, trace)?, &fields)?;
            if let Some(device) = device.filter(|d| *d != Device::Cpu) {
                array = round_trip(&path, &fields, &array.to_device(device)?)?;
            }
            array.write_json(&mut out)?;
            writeln!(out).map_err(io)?;
        }
        Command::Type { path, fields } => {
            let array = project(open(&path, false)?, &fields)?;
            writeln!(out, "{}", array.type_string()).map_err(io)?;
        }
        Command::Form { path } => {
            let meta = container(&path)?.metadata()?;
            writeln!(out, "{}", meta.form.to_json()).map_err(io)?;
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
        } => {
            let opts = WriteOptions::default()
                .with_form_key_template(&form_key)?
                .with_buffer_key_template(&buffer_key)?
                .with_id_start(id_start)
                .with_byteorder(byteorder);
            // Heap buffers beyond 64 MiB leave the cache (mapped ones cost
            // no heap): a copy streams, it need not keep what it wrote.
            let array = open_with_cache(&src, trace, Cache::with_budget(64 << 20))?;
            copy(&project(array, &fields)?, &dst, packed, opts)?;
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
