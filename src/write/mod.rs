//! The write path: `to_buffers` into any [`Sink`], as awkward's `ak.to_buffers`.
//!
//! The layout is walked depth-first, pre-order; every node takes the next id
//! (from `id_start`), gets the form key made from it, and its buffers are
//! written under keys made from that form key and the attribute, before its
//! children's. Buffers go from the source to the sink one at a time, in
//! pieces: a buffer that no one has touched is read once and not kept in the
//! cache, and the pages of a memory-mapped buffer leave resident memory as
//! soon as they are written, so copying a container never holds it whole.

mod join;

use crate::array::Array;
use crate::buffer::{Buffer, ByteOrder};
use crate::error::{Error, Result};
use crate::form::Form;
use crate::layout::lazy::LazyBuf;
use crate::layout::Node;
use crate::options::{parse_template, render, BufferKey, TemplatePart};
use crate::sink::Sink;
use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::sync::Arc;

/// How a node's form key is made from its id when writing (awkward's
/// `form_key` argument of `to_buffers`).
///
/// ```
/// use akbuf::{Form, FormKey};
///
/// let form = Form::from_json("float64")?;
/// assert_eq!(FormKey::default().key(3, &form), "node3");
/// assert_eq!(FormKey::template("part{id}x")?.key(0, &form), "part0x");
/// let f = FormKey::func(|id, form: &Form| format!("{}{id}", form.class_name()));
/// assert_eq!(f.key(7, &form), "NumpyArray7");
/// assert!(FormKey::template("node{form_key}").is_err());
/// # Ok::<(), akbuf::Error>(())
/// ```
#[derive(Clone)]
pub struct FormKey(FormKeyRule);

/// What a [`FormKey`] is made of.
#[derive(Clone)]
enum FormKeyRule {
    /// A parsed template (`{id}`) and its text.
    Template(Arc<[TemplatePart]>, String),
    /// A closure of (id, the node's form as read).
    Func(FormKeyFn),
}

/// A form-key closure: (id, form node) to form key.
pub(crate) type FormKeyFn = Arc<dyn Fn(usize, &Form) -> String + Send + Sync>;

impl fmt::Debug for FormKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            FormKeyRule::Template(_, s) => write!(f, "FormKey::template({s:?})"),
            FormKeyRule::Func(_) => f.write_str("FormKey::func(..)"),
        }
    }
}

impl Default for FormKey {
    fn default() -> FormKey {
        FormKey(FormKeyRule::Template(
            Arc::from(vec![TemplatePart::Text("node".into()), TemplatePart::Id]),
            "node{id}".into(),
        ))
    }
}

impl FormKey {
    /// A template such as `"node{id}"`.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] for fields other than `{id}` or unbalanced braces.
    pub fn template(s: &str) -> Result<FormKey> {
        let parts = parse_template(s, &["id"])?;
        Ok(FormKey(FormKeyRule::Template(
            Arc::from(parts),
            s.to_string(),
        )))
    }

    /// A closure of (id, form node).
    pub fn func(f: impl Fn(usize, &Form) -> String + Send + Sync + 'static) -> FormKey {
        FormKey(FormKeyRule::Func(Arc::new(f)))
    }

    /// The form key of the node with this id.
    pub fn key(&self, id: usize, form: &Form) -> String {
        match &self.0 {
            FormKeyRule::Template(parts, _) => render(parts, |p, out| {
                if *p == TemplatePart::Id {
                    out.push_str(&id.to_string());
                }
            }),
            FormKeyRule::Func(f) => f(id, form),
        }
    }
}

/// Called as bytes are written, with the number of bytes since the last call.
pub type ProgressFn = Arc<dyn Fn(u64) + Send + Sync>;

/// Options of [`to_buffers`], with awkward's defaults.
///
/// ```
/// use akbuf::{ByteOrder, WriteOptions};
///
/// let opts = WriteOptions::default()
///     .with_form_key_template("n{id}")?
///     .with_buffer_key_template("{form_key}.{attribute}")?
///     .with_id_start(10)
///     .with_byteorder(ByteOrder::Big);
/// assert_eq!((opts.id_start, opts.byteorder), (10, ByteOrder::Big));
/// # Ok::<(), akbuf::Error>(())
/// ```
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct WriteOptions {
    /// How form keys are made from ids (default `node{id}`).
    pub form_key: FormKey,
    /// How buffer keys are made (default `{form_key}-{attribute}`).
    pub buffer_key: BufferKey,
    /// The id of the first (root) node (default 0).
    pub id_start: usize,
    /// Byte order of the written buffers (default: native).
    pub byteorder: ByteOrder,
    /// Told about every piece written (for progress bars).
    pub progress: Option<ProgressFn>,
    /// The number of the first partition written (`{partition}` in the
    /// keys of a partitioned array; awkward 1's `partition_start`).
    pub partition_start: usize,
    /// Whether [`crate::write_dir`] (and `write_hdf5`) replace an existing
    /// destination, in one step once the new one is complete (default:
    /// refuse it). Only an empty folder or a container is replaced.
    pub replace: bool,
    /// Whether a partitioned array is written as one piece (its partitions
    /// concatenated, one length, keys without `part{N}-`), partition by
    /// partition through spools (default: one piece per partition).
    pub one_piece: bool,
    /// The bytes of a chunk of a chunked format (a Zarr group's arrays;
    /// default 1 MiB, rounded down to a multiple of 16).
    pub chunk_bytes: Option<u64>,
    /// Whether (and how large, in bytes) a chunked format's chunks are
    /// gathered in shards (Zarr's `sharding_indexed`; default: no shards).
    pub shard_bytes: Option<u64>,
    /// How a remote destination is written to (its store's settings,
    /// retries, time limits): [`crate::write_to`] a URL (feature `remote`).
    pub fetch: crate::objstore::Fetch,
}

impl fmt::Debug for WriteOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteOptions")
            .field("form_key", &self.form_key)
            .field("buffer_key", &self.buffer_key)
            .field("id_start", &self.id_start)
            .field("byteorder", &self.byteorder)
            .field("progress", &self.progress.is_some())
            .field("replace", &self.replace)
            .field("one_piece", &self.one_piece)
            .field("chunk_bytes", &self.chunk_bytes)
            .field("shard_bytes", &self.shard_bytes)
            .field("fetch", &self.fetch)
            .finish()
    }
}

impl WriteOptions {
    /// Sets how a remote destination is written to (see
    /// [`WriteOptions::fetch`]).
    ///
    /// ```
    /// let opts = akbuf::WriteOptions::default()
    ///     .with_fetch(akbuf::Fetch::default().with_config("aws_region", "eu-west-1"));
    /// assert_eq!(opts.fetch.config.len(), 1);
    /// ```
    #[must_use]
    pub fn with_fetch(mut self, fetch: crate::objstore::Fetch) -> WriteOptions {
        self.fetch = fetch;
        self
    }

    /// Sets the form-key template (`{id}`).
    ///
    /// # Errors
    ///
    /// As [`FormKey::template`].
    pub fn with_form_key_template(mut self, template: &str) -> Result<WriteOptions> {
        self.form_key = FormKey::template(template)?;
        Ok(self)
    }

    /// Sets the form-key rule.
    #[must_use]
    pub fn with_form_key(mut self, form_key: FormKey) -> WriteOptions {
        self.form_key = form_key;
        self
    }

    /// Sets the buffer-key template (`{form_key}`, `{attribute}`).
    ///
    /// # Errors
    ///
    /// As [`BufferKey::template`].
    pub fn with_buffer_key_template(mut self, template: &str) -> Result<WriteOptions> {
        self.buffer_key = BufferKey::template(template)?;
        Ok(self)
    }

    /// Sets the buffer-key rule.
    #[must_use]
    pub fn with_buffer_key(mut self, buffer_key: BufferKey) -> WriteOptions {
        self.buffer_key = buffer_key;
        self
    }

    /// Sets the id of the root node.
    #[must_use]
    pub fn with_id_start(mut self, id_start: usize) -> WriteOptions {
        self.id_start = id_start;
        self
    }

    /// Sets the byte order of the written buffers.
    #[must_use]
    pub fn with_byteorder(mut self, byteorder: ByteOrder) -> WriteOptions {
        self.byteorder = byteorder;
        self
    }

    /// Replaces an existing destination (see [`WriteOptions::replace`](WriteOptions#structfield.replace)).
    #[must_use]
    pub fn with_replace(mut self, replace: bool) -> WriteOptions {
        self.replace = replace;
        self
    }

    /// Sets the number of the first partition written.
    #[must_use]
    pub fn with_partition_start(mut self, partition_start: usize) -> WriteOptions {
        self.partition_start = partition_start;
        self
    }

    /// Writes a partitioned array as one piece (see
    /// [`WriteOptions::one_piece`](WriteOptions#structfield.one_piece)).
    ///
    /// ```
    /// use akbuf::{Array, Buffer, BufferKey, Form, MemorySink, MemorySource, Options, WriteOptions};
    /// use std::sync::Arc;
    ///
    /// let form = Arc::new(Form::from_json(r#"{"class": "ListOffsetArray", "offsets": "i64",
    ///     "content": "int8", "form_key": "a"}"#)?);
    /// let source = MemorySource::new()
    ///     .with("part0-a-offsets", Buffer::from_slice(&[0i64, 2]))
    ///     .with("part0-None-data", Buffer::from_slice(&[1i8, 2]))
    ///     .with("part1-a-offsets", Buffer::from_slice(&[0i64, 1, 1]))
    ///     .with("part1-None-data", Buffer::from_slice(&[3i8]));
    /// let opts = Options::default().with_buffer_key(BufferKey::template("part{partition}-{form_key}-{attribute}")?);
    /// let parts = Array::partitioned(form, vec![1, 2], 0, Arc::new(source), opts)?;
    /// let mut sink = MemorySink::new();
    /// let (_, n) = akbuf::to_buffers(&parts, &mut sink, &WriteOptions::default().with_one_piece(true))?;
    /// assert_eq!(n, 3);
    /// assert_eq!(sink.get("node0-offsets").unwrap().typed::<i64>()?, &[0, 2, 3, 3]);
    /// assert_eq!(sink.get("node1-data").unwrap().as_slice(), &[1, 2, 3]);
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    #[must_use]
    pub fn with_one_piece(mut self, one_piece: bool) -> WriteOptions {
        self.one_piece = one_piece;
        self
    }

    /// Sets the chunk size of a chunked format (see
    /// [`WriteOptions::chunk_bytes`]) and its shards (`None`: no shards).
    ///
    /// ```
    /// let opts = akbuf::WriteOptions::default().with_chunks(1 << 20, Some(64 << 20));
    /// assert_eq!((opts.chunk_bytes, opts.shard_bytes), (Some(1 << 20), Some(64 << 20)));
    /// ```
    #[must_use]
    pub fn with_chunks(mut self, chunk_bytes: u64, shard_bytes: Option<u64>) -> WriteOptions {
        self.chunk_bytes = Some(chunk_bytes);
        self.shard_bytes = shard_bytes;
        self
    }

    /// Sets a progress callback.
    #[must_use]
    pub fn with_progress(mut self, progress: impl Fn(u64) + Send + Sync + 'static) -> WriteOptions {
        self.progress = Some(Arc::new(progress));
        self
    }
}

/// Bytes written per piece: a multiple of every scalar size, small enough
/// that one piece of resident memory does not matter.
const PIECE: usize = 4 << 20;

/// One buffer of a write, with the key it will be stored under.
struct Planned<'n> {
    key: String,
    buf: &'n LazyBuf,
    attribute: &'static str,
    node: &'n Node,
    /// A buffer of an empty partition: written as the empty array's bytes
    /// (one zero offset, or nothing), never read.
    empty: bool,
}

impl Planned<'_> {
    fn describe(&self) -> String {
        format!(
            "{} at {} ({})",
            self.node.info.class, self.node.info.path, self.attribute
        )
    }
}

/// Gives every node its id and form key and every buffer its key,
/// depth-first and pre-order as awkward does, before anything is written.
struct Planner<'n, 'o> {
    options: &'o WriteOptions,
    /// The buffer-key rule of the partition being planned.
    buffer_key: BufferKey,
    empty: bool,
    next_id: usize,
    buffers: Vec<Planned<'n>>,
}

impl<'n> Planner<'n, '_> {
    fn node(&mut self, node: &'n Node) -> Result<Form> {
        let id = self.next_id;
        self.next_id += 1;
        let form_key = self.options.form_key.key(id, &node.form);
        for (attribute, buf) in node.data.buffers() {
            let key = self.buffer_key.key(Some(&form_key), attribute);
            self.buffers.push(Planned {
                key,
                buf,
                attribute,
                node,
                empty: self.empty,
            });
        }
        let children = node
            .children()
            .into_iter()
            .map(|c| self.node(c).map(Arc::new))
            .collect::<Result<Vec<_>>>()?;
        Ok(node.form.rebuilt(children, Some(form_key)))
    }

    /// Every key distinct, and each one acceptable to the sink.
    fn check<S: Sink + ?Sized>(&self, sink: &S) -> Result<()> {
        let mut seen: HashMap<&str, usize> = HashMap::with_capacity(self.buffers.len());
        for (i, p) in self.buffers.iter().enumerate() {
            if let Some(&j) = seen.get(p.key.as_str()) {
                return Err(Error::DuplicateKey {
                    key: p.key.clone(),
                    first: self.buffers[j].describe(),
                    second: p.describe(),
                });
            }
            seen.insert(&p.key, i);
            sink.check_key(&p.key)?;
        }
        Ok(())
    }
}

struct Writer<'a, S: ?Sized> {
    sink: &'a mut S,
    options: &'a WriteOptions,
    scratch: Vec<u8>,
}

impl<S: Sink + ?Sized> Writer<'_, S> {
    fn buffer(&mut self, p: &Planned<'_>) -> Result<()> {
        let (key, buf) = (p.key.as_str(), p.buf);
        if p.empty {
            // An empty array's offsets are one zero; its other buffers empty.
            let n = if p.attribute == "offsets" {
                buf.dtype.itemsize()
            } else {
                0
            };
            return self.sink.put(key, &vec![0u8; n]);
        }
        let (bytes, order) = buf.bytes_for_copy()?;
        let unit = buf.swap_unit();
        let swap = unit > 1 && order != self.options.byteorder;
        let progress = self.options.progress.clone();
        let scratch = &mut self.scratch;
        let mut fill = |w: &mut dyn Write| -> std::io::Result<()> {
            for (i, piece) in bytes.as_slice().chunks(PIECE).enumerate() {
                if swap {
                    scratch.clear();
                    scratch.extend_from_slice(piece);
                    Buffer::swap_in_place(scratch, unit);
                    w.write_all(scratch)?;
                } else {
                    w.write_all(piece)?;
                }
                bytes.release_pages(i * PIECE, piece.len());
                if let Some(p) = &progress {
                    p(piece.len() as u64);
                }
            }
            Ok(())
        };
        self.sink
            .put_with(key, bytes.len(), &mut fill)
            .map_err(|e| match e.key() {
                Some(_) => e,
                None => Error::sink(key, e.to_string()),
            })
    }
}

/// The buffer-key rule partitions are written with: the options' template
/// if it names `{partition}`, else the template behind `part{partition}-`.
pub(crate) fn partition_key(options: &WriteOptions) -> Result<BufferKey> {
    if options.buffer_key.has_partition() {
        return Ok(options.buffer_key.clone());
    }
    match options.buffer_key.as_template() {
        Some(t) => BufferKey::template(&format!("part{{partition}}-{t}")),
        None => Err(Error::Argument(
            "a partitioned array is written with a template naming {partition}; a closure cannot tell partitions apart".into(),
        )),
    }
}

/// Writes `array` into `sink` as awkward's `ak.to_buffers` does, and returns
/// the form (with the new form keys) and the length.
///
/// For an array read with [`crate::from_buffers`], the form JSON, the keys
/// and the bytes equal what awkward writes for the same array: every buffer
/// is trimmed to what its node uses (as awkward's `from_buffers` trims
/// longer buffers), and nothing is packed (see [`crate::to_packed`]).
/// Buffers are read once each and streamed: see the module documentation.
///
/// ```
/// use akbuf::{from_buffers, to_buffers, Buffer, Form, MemorySink, MemorySource, Options, WriteOptions};
///
/// let form = Form::from_json(r#"{"class": "ListOffsetArray", "offsets": "i64",
///     "content": {"class": "NumpyArray", "primitive": "int32", "form_key": "b"}, "form_key": "a"}"#)?;
/// let source = MemorySource::new()
///     .with("a-offsets", Buffer::from_slice(&[0i64, 2, 3]))
///     .with("b-data", Buffer::from_slice(&[1i32, 2, 3, 99])); // one more than needed
/// let array = from_buffers(&form, 2, source, Options::default())?;
/// let mut sink = MemorySink::new();
/// let (written, length) = to_buffers(&array, &mut sink, &WriteOptions::default())?;
/// assert_eq!(length, 2);
/// assert_eq!(written.form_key(), Some("node0"));
/// assert_eq!(sink.keys().collect::<Vec<_>>(), ["node0-offsets", "node1-data"]);
/// assert_eq!(sink.get("node1-data").unwrap().len(), 12); // trimmed
/// # Ok::<(), akbuf::Error>(())
/// ```
///
/// Before anything is written, every buffer's key is worked out and
/// checked: two buffers given the same key (a template without `{id}` or
/// `{form_key}`, a closure that repeats itself) are refused with
/// [`Error::DuplicateKey`] naming both nodes, and the sink is asked whether
/// it can store each key ([`Sink::check_key`]).
///
/// ```
/// use akbuf::{from_buffers, to_buffers, Buffer, Error, Form, MemorySink, MemorySource, Options, WriteOptions};
///
/// let form = Form::from_json(r#"{"class": "RecordArray", "fields": ["x", "y"], "contents": [
///     {"class": "NumpyArray", "primitive": "int8", "form_key": "node1"},
///     {"class": "NumpyArray", "primitive": "int8", "form_key": "node2"}]}"#)?;
/// let source = MemorySource::new()
///     .with("node1-data", Buffer::from_slice(&[1i8]))
///     .with("node2-data", Buffer::from_slice(&[2i8]));
/// let array = from_buffers(&form, 1, source, Options::default())?;
/// let mut sink = MemorySink::new();
/// let opts = WriteOptions::default().with_buffer_key_template("{attribute}")?; // no {form_key}
/// let err = to_buffers(&array, &mut sink, &opts).unwrap_err();
/// assert!(matches!(err, Error::DuplicateKey { ref key, .. } if key == "data"));
/// assert_eq!(sink.keys().count(), 0); // nothing written
/// # Ok::<(), akbuf::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::DuplicateKey`] when two buffers would share a key, the sink's
/// refusal of a key, what reading the array reports (a missing key, a short
/// buffer), or [`Error::Sink`] naming the key the sink failed on.
pub fn to_buffers<S: Sink + ?Sized>(
    array: &Array,
    sink: &mut S,
    options: &WriteOptions,
) -> Result<(Form, usize)> {
    if options
        .partition_start
        .checked_add(array.num_partitions())
        .is_none()
    {
        return Err(Error::Argument(format!(
            "partitions numbered from {}: {} of them overflow the numbering",
            options.partition_start,
            array.num_partitions()
        )));
    }
    if array.is_partitioned() && options.one_piece {
        return join::to_buffers_joined(array, sink, options);
    }
    let (parts, key_rule) = match array.is_partitioned() {
        true => (array.partitions()?, partition_key(options)?),
        false => (vec![array.clone()], options.buffer_key.clone()),
    };
    let mut plan = Planner {
        options,
        buffer_key: key_rule.clone(),
        empty: false,
        next_id: options.id_start,
        buffers: Vec::new(),
    };
    let mut form = None;
    for (i, part) in parts.iter().enumerate() {
        if array.is_partitioned() {
            plan.buffer_key = key_rule.for_partition(options.partition_start + i);
            plan.empty = part.is_empty();
            plan.next_id = options.id_start;
        }
        let f = plan.node(part.node())?;
        form.get_or_insert(f);
    }
    plan.check(&*sink)?;
    let mut w = Writer {
        sink,
        options,
        scratch: Vec::new(),
    };
    for p in &plan.buffers {
        w.buffer(p)?;
    }
    let form = form.unwrap_or_else(|| array.form().clone());
    Ok((form, array.len()))
}
