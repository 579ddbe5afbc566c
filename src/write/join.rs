//! A partitioned array written as one piece (`WriteOptions::one_piece`):
//! the partitions concatenated, as `ak.concatenate` of same-form arrays
//! would give them, without ever holding more than one partition's buffer.
//!
//! Partition by partition, each node appends the rows of its window to one
//! spool per buffer (memory, then an unlinked temporary file past
//! [`SPOOL_IN_MEMORY`]), one function per class: numbers are copied, list
//! offsets, starts and stops and indexes are rebased on what the content
//! holds so far (a content's window is what the rows use), bit masks are
//! shifted onto the bits so far. The spools then go into the sink in the
//! plan's key order, streamed.

use super::{Planned, Planner, WriteOptions};
use crate::array::Array;
use crate::buffer::{Buffer, ByteOrder};
use crate::error::{Error, Result};
use crate::form::{Form, IndexType};
use crate::layout::lazy::LazyBuf;
use crate::layout::{Node, NodeData};
use crate::sink::Sink;
use std::io::{Read, Seek, Write};
use std::ops::Range;

/// Buffers up to this many are appended to the sink directly (each an open file).
const MAX_APPENDERS: usize = 256;

/// Bytes a spool keeps in memory before it moves to a temporary file.
const SPOOL_IN_MEMORY: usize = 8 << 20;

/// Where one output buffer's bytes gather.
enum Spool {
    Memory(Vec<u8>),
    File(std::fs::File, u64),
    /// Straight into the sink (which appends), with the bytes so far.
    Sink(Option<Box<dyn crate::sink::Append>>, u64),
}

impl Spool {
    fn len(&self) -> u64 {
        match self {
            Spool::Memory(v) => v.len() as u64,
            Spool::File(_, n) | Spool::Sink(_, n) => *n,
        }
    }

    fn write(&mut self, bytes: &[u8], key: &str) -> Result<()> {
        if let Spool::Memory(v) = self {
            if v.len() + bytes.len() <= SPOOL_IN_MEMORY {
                v.extend_from_slice(bytes);
                return Ok(());
            }
            let mut f = crate::sys::anonymous_file().map_err(|e| Error::sink_io(key, e))?;
            f.write_all(v).map_err(|e| Error::sink_io(key, e))?;
            *self = Spool::File(f, v.len() as u64);
        }
        match self {
            Spool::File(f, n) => {
                f.write_all(bytes).map_err(|e| Error::sink_io(key, e))?;
                *n += bytes.len() as u64;
            }
            Spool::Sink(Some(w), n) => {
                w.write_all(bytes).map_err(|e| Error::sink_io(key, e))?;
                *n += bytes.len() as u64;
            }
            _ => {}
        }
        Ok(())
    }

    /// Streams the spool into `w`.
    fn drain(&mut self, w: &mut dyn Write) -> std::io::Result<()> {
        match self {
            Spool::Memory(v) => w.write_all(v),
            Spool::Sink(..) => Ok(()),
            Spool::File(f, n) => {
                f.rewind()?;
                let copied = std::io::copy(&mut f.take(*n), w)?;
                match copied == *n {
                    true => Ok(()),
                    false => Err(std::io::Error::other("a spool file came back short")),
                }
            }
        }
    }
}

/// One output buffer: its spool, its element type, and for a bit mask the
/// bits not yet a whole byte.
struct Out {
    key: String,
    spool: Spool,
    /// Index type of offsets/starts/stops/index buffers.
    index: Option<IndexType>,
    /// A bit mask's partial last byte and how many of its bits are set.
    pending: (u8, u32),
}

impl Out {
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.spool.write(bytes, &self.key)
    }

    /// Index values, in the options' byte order, checked against the type.
    fn put_index(&mut self, values: impl Iterator<Item = i64>, order: ByteOrder) -> Result<()> {
        let t = self.index.unwrap_or(IndexType::I64);
        let mut bytes = Vec::with_capacity(4096);
        for v in values {
            let fits = match t {
                IndexType::I8 => i8::try_from(v).is_ok(),
                IndexType::U8 => u8::try_from(v).is_ok(),
                IndexType::I32 => i32::try_from(v).is_ok(),
                IndexType::U32 => u32::try_from(v).is_ok(),
                IndexType::I64 => true,
            };
            if !fits {
                return Err(Error::sink(
                    &self.key,
                    format!(
                        "joined partitions need the value {v}, beyond this buffer's {}",
                        t.numpy_name()
                    ),
                ));
            }
            let le = order == ByteOrder::Little;
            match t {
                IndexType::I8 | IndexType::U8 => bytes.push(v as u8),
                IndexType::I32 | IndexType::U32 => {
                    let x = v as u32;
                    bytes.extend_from_slice(&if le { x.to_le_bytes() } else { x.to_be_bytes() })
                }
                IndexType::I64 => {
                    bytes.extend_from_slice(&if le { v.to_le_bytes() } else { v.to_be_bytes() })
                }
            }
            if bytes.len() >= 4096 {
                self.put(&bytes)?;
                bytes.clear();
            }
        }
        self.put(&bytes)
    }

    /// Appends bits (`lsb`: bit order in a byte).
    fn put_bits(&mut self, bits: impl Iterator<Item = bool>, lsb: bool) -> Result<()> {
        let mut bytes = Vec::new();
        let (mut byte, mut n) = self.pending;
        for b in bits {
            if b {
                byte |= if lsb { 1 << n } else { 0x80 >> n };
            }
            n += 1;
            if n == 8 {
                bytes.push(byte);
                (byte, n) = (0, 0);
            }
        }
        self.pending = (byte, n);
        self.put(&bytes)
    }

    fn finish(&mut self) -> Result<()> {
        if self.pending.1 > 0 {
            let b = self.pending.0;
            self.pending = (0, 0);
            self.put(&[b])?;
        }
        Ok(())
    }
}

/// Per node of the form: rows appended so far, its buffers' outputs (in
/// `NodeData::buffers` order), its children's states.
struct State {
    total: usize,
    outs: Vec<usize>,
    kids: Vec<State>,
    /// A categorical node's content so far, by value: the position of each
    /// value, so that the joined dictionary holds every value once.
    dictionary: Option<std::collections::HashMap<String, i64>>,
}

impl State {
    fn new(node: &Node, next: &mut usize) -> State {
        let outs = node
            .data
            .buffers()
            .iter()
            .map(|_| {
                *next += 1;
                *next - 1
            })
            .collect();
        let kids = node
            .children()
            .iter()
            .map(|c| State::new(c, next))
            .collect();
        State {
            total: 0,
            outs,
            kids,
            dictionary: None,
        }
    }
}

/// The index values of a buffer, rows `range`.
fn index_range(b: &LazyBuf, range: Range<usize>) -> Result<Vec<i64>> {
    let index = b.index()?;
    if range.end > index.len() {
        return Err(b.node.invalid(
            &b.key,
            format!("{} entries asked of {}", range.end, index.len()),
        ));
    }
    Ok(range.map(|i| index.get(i)).collect())
}

/// An `IndexedArray`'s or `IndexedOptionArray`'s index, rows `range`
/// (negative entries only for an option).
fn node_index(b: &LazyBuf, range: Range<usize>, option: bool) -> Result<Vec<i64>> {
    let idx = index_range(b, range)?;
    if !option && idx.iter().any(|&i| i < 0) {
        return Err(b.node.invalid(&b.key, "a negative index"));
    }
    Ok(idx)
}

/// The range a content's rows `[lo, hi)` make of a set of positions (none:
/// an empty range).
fn span(values: impl Iterator<Item = i64>) -> Range<usize> {
    let (mut lo, mut hi) = (i64::MAX, -1i64);
    for v in values.filter(|&v| v >= 0) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if hi < 0 {
        0..0
    } else {
        lo as usize..hi as usize + 1
    }
}

struct Joiner<'a> {
    outs: Vec<Out>,
    order: ByteOrder,
    progress: Option<&'a super::ProgressFn>,
}

impl Joiner<'_> {
    /// Appends rows `rows` of `node`.
    fn node(&mut self, node: &Node, st: &mut State, rows: Range<usize>) -> Result<()> {
        let n = rows.len();
        match &node.data {
            NodeData::Empty => {}
            NodeData::Numpy {
                data, inner_shape, ..
            } => self.numpy(data, inner_shape, st, rows)?,
            NodeData::Regular { size, content } => {
                let r = rows.start * size..rows.end * size;
                self.node(content, &mut st.kids[0], r)?;
            }
            NodeData::ListOffset { offsets, content } => {
                self.list_offset(offsets, content, st, rows)?
            }
            NodeData::List {
                starts,
                stops,
                content,
            } => self.list(starts, stops, content, st, rows)?,
            NodeData::Indexed { index, content } | NodeData::IndexedOption { index, content } => {
                let option = matches!(node.data, NodeData::IndexedOption { .. });
                match node.form.array_parameter() == Some("categorical") {
                    true => self.categorical(index, content, option, st, rows)?,
                    false => self.indexed(index, content, option, st, rows)?,
                }
            }
            NodeData::ByteMasked { mask, content, .. } => {
                let bytes = mask.get()?;
                let m = bytes
                    .as_slice()
                    .get(rows.clone())
                    .ok_or_else(|| mask.node.invalid(&mask.key, "mask shorter than the rows"))?;
                self.outs[st.outs[0]].put(m)?;
                self.node(content, &mut st.kids[0], rows)?;
            }
            NodeData::BitMasked {
                mask,
                lsb_order,
                content,
                ..
            } => {
                let bytes = mask.get()?;
                let lsb = *lsb_order;
                if rows.end.div_ceil(8) > bytes.len() {
                    return Err(mask.node.invalid(&mask.key, "mask shorter than the rows"));
                }
                let bit = |i: usize| {
                    let b = bytes[i / 8];
                    if lsb {
                        b >> (i % 8) & 1 == 1
                    } else {
                        b << (i % 8) & 0x80 != 0
                    }
                };
                self.outs[st.outs[0]].put_bits(rows.clone().map(bit), lsb)?;
                self.node(content, &mut st.kids[0], rows)?;
            }
            NodeData::Unmasked { content } => self.node(content, &mut st.kids[0], rows)?,
            NodeData::Record { .. } => {
                for (c, kid) in node.children().into_iter().zip(st.kids.iter_mut()) {
                    self.node(c, kid, rows.clone())?;
                }
            }
            NodeData::Union {
                tags,
                index,
                contents,
            } => self.union(tags, index, contents, st, rows)?,
        }
        st.total += n;
        Ok(())
    }

    fn numpy(
        &mut self,
        data: &LazyBuf,
        inner_shape: &[usize],
        st: &mut State,
        rows: Range<usize>,
    ) -> Result<()> {
        let width = data.dtype.itemsize() * inner_shape.iter().product::<usize>();
        let bytes = data.get()?;
        let piece = bytes
            .as_slice()
            .get(rows.start * width..rows.end * width)
            .ok_or_else(|| data.node.invalid(&data.key, "data shorter than the rows"))?;
        let unit = data.swap_unit();
        if unit > 1 && self.order != ByteOrder::native() {
            self.outs[st.outs[0]].put(Buffer::byteswapped(piece, unit).as_slice())?;
        } else {
            self.outs[st.outs[0]].put(piece)?;
        }
        if let Some(p) = self.progress {
            p(piece.len() as u64);
        }
        Ok(())
    }

    fn list_offset(
        &mut self,
        offsets: &LazyBuf,
        content: &Node,
        st: &mut State,
        rows: Range<usize>,
    ) -> Result<()> {
        let o = index_range(offsets, rows.start..rows.end + 1)?;
        let (first, last) = (o[0], o[o.len() - 1]);
        if first < 0 || last < first || o.windows(2).any(|w| w[1] < w[0]) {
            return Err(offsets
                .node
                .invalid(&offsets.key, "offsets decrease or are negative"));
        }
        let base = st.kids[0].total as i64;
        let order = self.order;
        self.outs[st.outs[0]].put_index(o[1..].iter().map(|v| v - first + base), order)?;
        self.node(content, &mut st.kids[0], first as usize..last as usize)
    }

    fn list(
        &mut self,
        starts: &LazyBuf,
        stops: &LazyBuf,
        content: &Node,
        st: &mut State,
        rows: Range<usize>,
    ) -> Result<()> {
        let a = index_range(starts, rows.clone())?;
        let b = index_range(stops, rows)?;
        if a.iter().zip(&b).any(|(s, e)| *s < 0 || e < s) {
            return Err(starts
                .node
                .invalid(&starts.key, "a start is negative or beyond its stop"));
        }
        let used = || a.iter().zip(&b).filter(|(s, e)| e > s);
        let lo = used().map(|(s, _)| *s).min().unwrap_or(0);
        let hi = used().map(|(_, e)| *e).max().unwrap_or(lo);
        let base = st.kids[0].total as i64;
        let order = self.order;
        let rebase = |v: i64| if v >= lo { v - lo + base } else { base };
        let (s_out, e_out) = (st.outs[0], st.outs[1]);
        self.outs[s_out].put_index(
            a.iter()
                .zip(&b)
                .map(|(s, e)| if e > s { rebase(*s) } else { base }),
            order,
        )?;
        self.outs[e_out].put_index(
            a.iter()
                .zip(&b)
                .map(|(s, e)| if e > s { rebase(*e) } else { base }),
            order,
        )?;
        self.node(content, &mut st.kids[0], lo as usize..hi as usize)
    }

    fn indexed(
        &mut self,
        index: &LazyBuf,
        content: &Node,
        option: bool,
        st: &mut State,
        rows: Range<usize>,
    ) -> Result<()> {
        let idx = node_index(index, rows, option)?;
        let window = span(idx.iter().copied());
        let base = st.kids[0].total as i64;
        let lo = window.start as i64;
        let order = self.order;
        self.outs[st.outs[0]].put_index(
            idx.iter().map(|&i| if i < 0 { -1 } else { i - lo + base }),
            order,
        )?;
        self.node(content, &mut st.kids[0], window)
    }

    /// A categorical node's rows: each partition has a dictionary of its
    /// own (a Parquet row group's, an Arrow batch's), and the joined one
    /// must hold every value once (awkward: "categorical requires contents
    /// to be unique"), so a value already joined is pointed to, and only
    /// new ones are appended, in the order they are first used.
    fn categorical(
        &mut self,
        index: &LazyBuf,
        content: &Node,
        option: bool,
        st: &mut State,
        rows: Range<usize>,
    ) -> Result<()> {
        let idx = node_index(index, rows, option)?;
        let view = crate::layout::view::View::new(content)?;
        let base = st.kids[0].total as i64;
        let dictionary = st.dictionary.get_or_insert_with(Default::default);
        let mut local: std::collections::HashMap<usize, i64> = Default::default();
        let mut fresh: Vec<usize> = Vec::new();
        let mut joined = Vec::with_capacity(idx.len());
        for &i in &idx {
            let Ok(j) = usize::try_from(i) else {
                joined.push(-1);
                continue;
            };
            if j >= view.len {
                return Err(index.node.invalid(
                    &index.key,
                    format!("index {j} past its content's {} entries", view.len),
                ));
            }
            let at = match local.get(&j) {
                Some(&at) => at,
                None => {
                    let key = view.value_key(j)?;
                    let next = base + fresh.len() as i64;
                    let at = *dictionary.entry(key).or_insert(next);
                    if at == next {
                        fresh.push(j);
                    }
                    local.insert(j, at);
                    at
                }
            };
            joined.push(at);
        }
        let order = self.order;
        self.outs[st.outs[0]].put_index(joined.into_iter(), order)?;
        // The new values, in runs of consecutive entries.
        let mut k = 0;
        while k < fresh.len() {
            let start = fresh[k];
            let mut end = start + 1;
            while k + 1 < fresh.len() && fresh[k + 1] == end {
                k += 1;
                end += 1;
            }
            self.node(content, &mut st.kids[0], start..end)?;
            k += 1;
        }
        Ok(())
    }

    fn union(
        &mut self,
        tags: &LazyBuf,
        index: &LazyBuf,
        contents: &[std::sync::Arc<Node>],
        st: &mut State,
        rows: Range<usize>,
    ) -> Result<()> {
        let t = index_range(tags, rows.clone())?;
        let idx = index_range(index, rows)?;
        let k = contents.len();
        if t.iter().any(|&x| x < 0 || x as usize >= k) || idx.iter().any(|&i| i < 0) {
            return Err(tags.node.invalid(&tags.key, "a tag or index out of range"));
        }
        let windows: Vec<Range<usize>> = (0..k)
            .map(|c| {
                span(
                    t.iter()
                        .zip(&idx)
                        .filter(|(x, _)| **x as usize == c)
                        .map(|(_, i)| *i),
                )
            })
            .collect();
        let bases: Vec<i64> = st.kids.iter().map(|s| s.total as i64).collect();
        let order = self.order;
        let (t_out, i_out) = (st.outs[0], st.outs[1]);
        self.outs[t_out].put_index(t.iter().copied(), order)?;
        self.outs[i_out].put_index(
            t.iter()
                .zip(&idx)
                .map(|(x, i)| i - windows[*x as usize].start as i64 + bases[*x as usize]),
            order,
        )?;
        for ((c, kid), w) in contents.iter().zip(st.kids.iter_mut()).zip(windows) {
            self.node(c, kid, w)?;
        }
        Ok(())
    }
}

/// Writes the partitioned `array` into `sink` as one piece (see the module docs).
pub(super) fn to_buffers_joined<S: Sink + ?Sized>(
    array: &Array,
    sink: &mut S,
    options: &WriteOptions,
) -> Result<(Form, usize)> {
    let template = array.partition_template();
    let mut plan = Planner {
        options,
        buffer_key: options.buffer_key.clone(),
        empty: false,
        next_id: options.id_start,
        buffers: Vec::new(),
    };
    let form = plan.node(template.node())?;
    plan.check(&*sink)?;
    let mut next = 0;
    let mut state = State::new(template.node(), &mut next);
    // Straight into the sink where it appends (not for very many buffers:
    // each is an open file).
    let direct = plan.buffers.len() <= MAX_APPENDERS;
    let outs = plan
        .buffers
        .iter()
        .map(|p: &Planned<'_>| -> Result<Out> {
            let spool = match direct {
                true => match sink.appender(&p.key)? {
                    Some(w) => Spool::Sink(Some(w), 0),
                    None => Spool::Memory(Vec::new()),
                },
                false => Spool::Memory(Vec::new()),
            };
            Ok(Out {
                key: p.key.clone(),
                spool,
                index: match p.buf.dtype {
                    crate::layout::lazy::DType::Index(t) => Some(t),
                    _ => None,
                },
                pending: (0, 0),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut j = Joiner {
        outs,
        order: options.byteorder,
        progress: options.progress.as_ref(),
    };
    // Offsets start with one zero, whatever the partitions hold.
    for (p, out) in plan.buffers.iter().zip(j.outs.iter_mut()) {
        if p.attribute == "offsets" {
            out.put_index(std::iter::once(0), options.byteorder)?;
        }
    }
    for i in 0..array.num_partitions() {
        let part = array.partition(i)?;
        if part.is_empty() {
            continue;
        }
        j.node(part.node(), &mut state, 0..part.len())?;
    }
    for (p, out) in plan.buffers.iter().zip(j.outs.iter_mut()) {
        out.finish()?;
        let len = usize::try_from(out.spool.len())
            .map_err(|_| Error::sink(&p.key, "larger than this machine can address"))?;
        match &mut out.spool {
            Spool::Sink(w, _) => {
                if let Some(w) = w.take() {
                    w.finish().map_err(|e| Error::sink_io(&p.key, e))?;
                }
            }
            spool => sink.put_with(&p.key, len, &mut |w: &mut dyn Write| spool.drain(w))?,
        }
    }
    Ok((form, array.len()))
}
