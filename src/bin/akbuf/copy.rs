//! `akbuf copy`: a container written through the library's door, with a
//! progress bar on a terminal.

#[allow(unused_imports)]
use crate::*;

/// Copies at least this big get a progress bar (when stderr is a terminal).
pub(super) const PROGRESS_FROM: u64 = 16 << 20;

pub(super) fn copy(
    array: &Array,
    dst: &Path,
    packed: bool,
    mut opts: WriteOptions,
) -> Result<(), Error> {
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

/// `akbuf copy`: the (projected, sliced, repartitioned) array written.
pub(super) fn copy_command(a: CopyArgs, confined: bool) -> Result<(), Error> {
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
        chunk_bytes,
        shard_bytes,
        force,
    } = a;
    let from_batches = is_batch_file(&src);
    let one_piece =
        one_piece || (from_batches && partition_rows.is_none() && partition_bytes.is_none());
    let mut opts = WriteOptions::default();
    if chunk_bytes == Some(0) || shard_bytes == Some(0) {
        return Err(Error::Argument(
            "--chunk-bytes and --shard-bytes must be more than 0".into(),
        ));
    }
    (opts.chunk_bytes, opts.shard_bytes) = (chunk_bytes, shard_bytes);
    let opts = opts
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
