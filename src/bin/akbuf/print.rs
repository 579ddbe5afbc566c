//! `akbuf show`, `type`, `form`, `info`: what is printed, and how.

#[allow(unused_imports)]
use crate::*;

/// Re-indents compact JSON as it streams through (strings untouched).
pub(super) struct Pretty<W: Write> {
    pub(crate) inner: W,
    pub(crate) depth: usize,
    pub(crate) in_string: bool,
    pub(crate) escaped: bool,
    /// An opening bracket not written yet: `[]` and `{}` stay on one line.
    pub(crate) open: Option<u8>,
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

/// `info`: the length and each buffer once (key, dtype, stored bytes), as
/// lines or as one JSON object (with field paths, nodes and attributes).
/// Sizes a source cannot tell without asking (a remote store) are asked
/// in one batch; a size still unknown (a slice's ranges, an Arrow column,
/// a request that failed) is "unknown", never "missing".
pub(super) fn info(array: &Array, json: bool, out: &mut impl Write) -> std::io::Result<()> {
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
pub(super) fn show(a: ShowArgs, confined: bool, out: &mut impl Write) -> Result<(), Error> {
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

/// A failed write to stdout.
pub(super) fn stdout_error(e: std::io::Error) -> Error {
    Error::Io {
        context: "writing to stdout".into(),
        io: Arc::new(e),
    }
}

/// `akbuf cache`: the disk tier's folder, budget and contents (after
/// deleting every piece with `--clear`).
pub(super) fn cache_command(clear: bool, out: &mut impl Write) -> Result<(), Error> {
    let Some(disk) = DISK.get() else {
        return Err(Error::Argument(
            "no disk cache: give --cache-dir DIR or set AKBUF_CACHE_DIR".into(),
        ));
    };
    let io = |context: String| {
        move |e: std::io::Error| Error::Io {
            context,
            io: Arc::new(e),
        }
    };
    let at = format!("the disk cache at {}", disk.dir().display());
    let stdout = || io("writing to stdout".to_string());
    if clear {
        let freed = disk.clear().map_err(io(at.clone()))?;
        writeln!(out, "cleared: {freed} bytes").map_err(stdout())?;
    }
    let usage = disk.usage().map_err(io(at))?;
    writeln!(out, "dir: {}", disk.dir().display()).map_err(stdout())?;
    writeln!(out, "budget: {} bytes", disk.budget()).map_err(stdout())?;
    writeln!(out, "pieces: {}", usage.pieces).map_err(stdout())?;
    writeln!(out, "bytes: {}", usage.bytes).map_err(stdout())
}
