//! The high-level [`Array`].

use crate::buffer::{Native, TypedBuffer};
use crate::cache::Cache;
use crate::device::{Device, Placement};
use crate::error::{Error, Result};
use crate::form::{Form, Primitive};
use crate::layout::lazy::Loader;
use crate::layout::view::{Budget, JsonOut, View};
use crate::layout::{BufferInfo, BuildCtx, Node, NodeData};
use crate::lists::Lists;
use crate::options::Options;
use crate::source::Source;
use crate::value::Value;
use parts::Parts;
use std::sync::Arc;

mod buffers;
mod chunks;
mod parts;
mod prefetch;
mod slice;

pub use buffers::LazyBuffer;
pub use chunks::{ChunkSize, Chunks};

/// A lazy Awkward Array: a layout over buffers that are read on first touch.
///
/// Opening, [`Array::len`], [`Array::type_string`], [`Array::fields`] and
/// [`Array::field`] read nothing. Element access, JSON output, typed views
/// and validation read exactly the buffers they need, each key at most once.
/// `Array` is `Send + Sync` and cheap to clone.
///
/// ```
/// use akbuf::{from_buffers, Buffer, Form, MemorySource, Options};
///
/// // [[1.1, 2.2], [], [3.3]] as awkward writes it.
/// let form = Form::from_json(r#"{"class": "ListOffsetArray", "offsets": "i64",
///     "content": {"class": "NumpyArray", "primitive": "float64", "form_key": "node1"},
///     "form_key": "node0"}"#)?;
/// let source = MemorySource::new()
///     .with("node0-offsets", Buffer::from_slice(&[0i64, 2, 2, 3]))
///     .with("node1-data", Buffer::from_slice(&[1.1f64, 2.2, 3.3]));
/// let array = from_buffers(&form, 3, source, Options::default())?;
/// assert_eq!(array.type_string(), "3 * var * float64");
/// assert_eq!(array.to_json()?, "[[1.1,2.2],[],[3.3]]");
/// let flat = array.flat_values::<f64>()?; // zero copy
/// assert_eq!(flat.iter().sum::<f64>(), 6.6);
/// # Ok::<(), akbuf::Error>(())
/// ```
#[derive(Clone)]
pub struct Array {
    /// The layout; for a partitioned array, a zero-length layout of the
    /// same form (its type), the partitions being in `parts`.
    node: Arc<Node>,
    loader: Arc<Loader>,
    placement: Placement,
    parts: Option<Parts>,
    /// For a row slice: the array it was sliced from and the rows (packing
    /// a slice packs those rows of the original, as awkward's
    /// `ak.to_packed(array[a:b])` does).
    origin: Option<Arc<slice::Origin>>,
}

/// The array's type, as `str(ak_array.type)`; reads nothing (use
/// [`Array::to_json`] for the values).
///
/// ```
/// let events = akbuf::open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))?;
/// let pt = events.field("jets")?.field("pt")?;
/// assert_eq!(pt.to_string(), "1000 * var * float32");
/// # Ok::<(), akbuf::Error>(())
/// ```
impl std::fmt::Display for Array {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.type_string())
    }
}

impl std::fmt::Debug for Array {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Array")
            .field("type", &self.type_string())
            .finish()
    }
}

/// Builds a lazy array from a form, a length and a source. Reads nothing.
///
/// # Errors
///
/// [`Error::Layout`] when the form breaks a per-class rule (index types,
/// canonical nesting, string contents, a non-empty EmptyArray).
pub fn from_buffers<S: Source + 'static>(
    form: &Form,
    length: usize,
    source: S,
    options: Options,
) -> Result<Array> {
    Array::new(Arc::new(form.clone()), length, Arc::new(source), options)
}

fn accepts<T: Native>(p: Primitive) -> bool {
    native_name(p) == T::NAME
}

/// The [`Native`] type that reads a primitive's values (`""` for none).
pub(crate) fn native_name(p: Primitive) -> &'static str {
    match p {
        Primitive::Bool | Primitive::UInt8 => "uint8",
        Primitive::Int8 => "int8",
        Primitive::Int16 => "int16",
        Primitive::UInt16 | Primitive::Float16 => "uint16",
        Primitive::Int32 => "int32",
        Primitive::UInt32 => "uint32",
        Primitive::Int64 | Primitive::Datetime64(_) | Primitive::Timedelta64(_) => "int64",
        Primitive::UInt64 => "uint64",
        Primitive::Float32 => "float32",
        Primitive::Float64 => "float64",
        Primitive::Complex64 => "complex64",
        Primitive::Complex128 => "complex128",
        Primitive::Float128 | Primitive::Complex256 => "",
    }
}

/// Iterator over the elements of an [`Array`], from [`Array::iter`].
///
/// ```
/// use akbuf::{from_buffers, Buffer, Form, MemorySource, Options, Value};
///
/// let form = Form::from_json(r#"{"class": "NumpyArray", "primitive": "int32", "form_key": "n"}"#)?;
/// let source = MemorySource::new().with("n-data", Buffer::from_slice(&[3i32, 4]));
/// let array = from_buffers(&form, 2, source, Options::default())?;
/// let values: Vec<Value> = array.iter()?.collect::<Result<_, _>>()?;
/// assert_eq!(values, [Value::Int(3), Value::Int(4)]);
/// # Ok::<(), akbuf::Error>(())
/// ```
pub struct Iter<'a>(IterKind<'a>);

enum IterKind<'a> {
    One { view: View<'a>, next: usize },
    Parts(parts::PartsIter),
}

impl Iterator for Iter<'_> {
    type Item = Result<Value>;
    fn next(&mut self) -> Option<Result<Value>> {
        match &mut self.0 {
            IterKind::One { view, next } => {
                if *next >= view.len {
                    return None;
                }
                let mut budget = Budget::of(view, "this element");
                let v = view.value(*next, &mut budget);
                *next += 1;
                Some(v)
            }
            IterKind::Parts(it) => it.next(),
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.0 {
            IterKind::One { view, next } => {
                let n = view.len - next;
                (n, Some(n))
            }
            IterKind::Parts(_) => (0, None),
        }
    }
}

/// `[ea,...,eb]` into `out`, for the elements `rows`.
fn write_elements(
    view: &View<'_>,
    rows: std::ops::Range<usize>,
    out: &mut JsonOut<'_>,
) -> Result<()> {
    if let Some(text) = view.chars(rows.clone()) {
        crate::pyjson::write_bytes_as_str(&mut out.buf, text);
        return out.flush();
    }
    out.buf.push('[');
    let mut first = true;
    write_rows(view, rows, out, &mut first)?;
    out.buf.push(']');
    out.flush()
}

/// The characters of rows `rows` of a partitioned array of characters
/// (see `View::chars`), partition after partition; `None` when it is not one.
fn partitioned_chars(
    form: &Form,
    parts: &Parts,
    rows: std::ops::Range<usize>,
) -> Result<Option<Vec<u8>>> {
    if form.array_parameter() != Some("char") {
        return Ok(None);
    }
    let mut text = Vec::new();
    for (i, local) in parts.overlapping(rows) {
        let part = parts.get(i)?;
        let view = View::new(&part.node)?;
        match view.chars(local) {
            Some(t) => text.extend_from_slice(t),
            None => return Ok(None),
        }
    }
    Ok(Some(text))
}

/// The elements `rows`, comma-separated, after `first` says whether any
/// came before.
fn write_rows(
    view: &View<'_>,
    rows: std::ops::Range<usize>,
    out: &mut JsonOut<'_>,
    first: &mut bool,
) -> Result<()> {
    for i in rows {
        if !std::mem::take(first) {
            out.buf.push(',');
        }
        view.write_json(i, out)?;
        if out.buf.len() >= 1 << 16 {
            out.flush()?;
        }
    }
    Ok(())
}

impl Array {
    /// Builds a lazy array (the shared-form form of [`from_buffers`]).
    ///
    /// # Errors
    ///
    /// As [`from_buffers`].
    pub fn new(
        form: Arc<Form>,
        length: usize,
        source: Arc<dyn Source>,
        options: Options,
    ) -> Result<Array> {
        Array::with_lengths(form, length, source, options, None)
    }

    /// [`Array::new`], with the lengths of some nodes (by form key) set
    /// rather than derived.
    pub(crate) fn with_lengths(
        form: Arc<Form>,
        length: usize,
        source: Arc<dyn Source>,
        options: Options,
        known: Option<std::collections::HashMap<String, usize>>,
    ) -> Result<Array> {
        let shared = options.cache.is_some();
        let cache = options
            .cache
            .unwrap_or_else(|| Arc::new(Cache::unsharded()));
        let loader = Arc::new(Loader::new(source, cache, shared));
        let ctx = Arc::new(BuildCtx {
            loader: Arc::clone(&loader),
            byteorder: options.byteorder,
            buffer_key: options.buffer_key,
            caching: options.caching,
            known,
        });
        let node = Node::build_root(&form, length, &ctx)?;
        Ok(Array {
            node,
            loader,
            placement: Placement::Host,
            parts: None,
            origin: None,
        })
    }

    fn with_node(&self, node: Arc<Node>) -> Array {
        Array {
            node,
            loader: Arc::clone(&self.loader),
            placement: self.placement.clone(),
            parts: None,
            origin: None,
        }
    }

    /// The root layout node.
    pub(crate) fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// The cache this array reads through.
    pub fn cache(&self) -> &Arc<Cache> {
        &self.loader.cache
    }

    /// Number of elements (known without reading; of all partitions together).
    pub fn len(&self) -> usize {
        if let Some(p) = &self.parts {
            return p.len();
        }
        // Arrays are only made with a known length: at the root, by field
        // projection (which keeps it), or by `content` (which computes it).
        self.node.len.peek().unwrap_or(0)
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The form of this array.
    pub fn form(&self) -> &Form {
        self.node.form()
    }

    /// The high-level type, exactly as `str(ak_array.type)`: `3 * var * float64`.
    pub fn type_string(&self) -> String {
        self.form().array_type_string(self.len())
    }

    /// The record fields visible at this level (through lists and options).
    pub fn fields(&self) -> Vec<String> {
        self.form().fields()
    }

    /// Every leaf under this array's records, by dotted path, depth first
    /// in field order: `run`, `met`, `jets.pt`, `jets.eta`, ... Each is
    /// [`Array::field_path`] of its path (through lists and options, so
    /// `jets.pt` is `var * float32` and shares the `jets` offsets with
    /// `jets.eta`); strings, numbers, unions without common fields and
    /// empty arrays are leaves; an array without fields is its own one
    /// leaf, path `""`. Reads nothing: the flattened columns a query engine
    /// scans one by one.
    ///
    /// ```
    /// let events = akbuf::open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))?;
    /// let leaves = events.leaves()?;
    /// let paths: Vec<&str> = leaves.iter().map(|(p, _)| p.as_str()).collect();
    /// assert_eq!(&paths[..4], ["run", "event", "met", "jets.pt"]);
    /// assert_eq!(leaves[3].1.type_string(), "1000 * var * float32");
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// What [`Array::field`] reports (a union whose contents lack a field).
    pub fn leaves(&self) -> Result<Vec<(String, Array)>> {
        fn walk(a: &Array, path: &str, out: &mut Vec<(String, Array)>) -> Result<()> {
            let fields = a.fields();
            if fields.is_empty() {
                out.push((path.to_string(), a.clone()));
                return Ok(());
            }
            for name in fields {
                let inner = match path {
                    "" => name.clone(),
                    p => format!("{p}.{name}"),
                };
                walk(&a.field(&name)?, &inner, out)?;
            }
            Ok(())
        }
        let mut out = Vec::new();
        walk(self, "", &mut out)?;
        Ok(out)
    }

    /// The field `name`, projected through lists, options and unions as
    /// awkward's `array.name` / `array["name"]` does. Tuple slots are `"0"`,
    /// `"1"`, ... Reads nothing.
    ///
    /// # Errors
    ///
    /// [`Error::NoField`] naming the node and the fields that exist.
    pub fn field(&self, name: &str) -> Result<Array> {
        let node = self.node.field(name)?;
        Ok(match &self.parts {
            Some(p) => Array {
                node,
                loader: Arc::clone(&self.loader),
                placement: self.placement.clone(),
                parts: Some(p.field(name)),
                origin: None,
            },
            None => Array {
                origin: match &self.origin {
                    Some(o) => Some(Arc::new(o.field(name)?)),
                    None => None,
                },
                ..self.with_node(node)
            },
        })
    }

    /// Only the fields `names` of a record (in that order), through lists
    /// and options, as awkward's `array[["a", "b"]]`: a record of those
    /// columns. Reads nothing; writing it writes only their buffers.
    ///
    /// ```
    /// let events = akbuf::open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))?;
    /// let two = events.select(&["met", "run"])?;
    /// assert_eq!(two.type_string(), "1000 * {met: float32, run: int32}");
    /// let jets = events.field("jets")?.select(&["eta", "pt"])?;
    /// assert_eq!(jets.type_string(), "1000 * var * {eta: float32, pt: float32}");
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::NoField`] for a name the record does not have (or a tuple,
    /// a union); [`Error::Argument`] for a name given twice.
    pub fn select<S: AsRef<str>>(&self, names: &[S]) -> Result<Array> {
        let names: Vec<String> = names.iter().map(|n| n.as_ref().to_string()).collect();
        let node = self.node.select(&names)?;
        Ok(match &self.parts {
            Some(p) => Array {
                node,
                loader: Arc::clone(&self.loader),
                placement: self.placement.clone(),
                parts: Some(p.select(&names)),
                origin: None,
            },
            None => Array {
                origin: match &self.origin {
                    Some(o) => Some(Arc::new(o.select(&names)?)),
                    None => None,
                },
                ..self.with_node(node)
            },
        })
    }

    /// The field at a dotted path (`jets.pt`), through lists, options and
    /// unions as [`Array::field`]. A name that itself contains dots is
    /// found too: at each level the longest prefix of the path that names a
    /// field is taken first. An empty path is the array itself. Reads
    /// nothing.
    ///
    /// ```
    /// let events = akbuf::open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))?;
    /// assert_eq!(events.field_path("jets.pt")?.type_string(), "1000 * var * float32");
    /// assert!(events.field_path("jets.nope").is_err());
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::NoField`] for the first part that names no field.
    pub fn field_path(&self, path: &str) -> Result<Array> {
        if path.is_empty() {
            return Ok(self.clone());
        }
        if let Ok(a) = self.field(path) {
            return Ok(a);
        }
        // Split at each dot, longest prefix first.
        let dots: Vec<usize> = path.match_indices('.').map(|(i, _)| i).collect();
        for &i in dots.iter().rev() {
            if let Ok(a) = self.field(&path[..i]) {
                if let Ok(b) = a.field_path(&path[i + 1..]) {
                    return Ok(b);
                }
            }
        }
        // The error for the first part.
        let first = dots.first().map_or(path, |&i| &path[..i]);
        self.field(first)?.field_path(&path[first.len() + 1..])
    }

    /// Element `i`. Reads every buffer of this array's subtree that is not
    /// read yet (as awkward's `array[i].tolist()` does).
    ///
    /// An element is materialized in memory only if it makes at most 64
    /// values per byte of the subtree's buffers, plus 4 Mi values: a count
    /// that no stored byte backs (a regular size or inner shape of 2^40
    /// over empty content) is an [`Error::TooLarge`], never an allocation
    /// that kills the process. [`Array::write_json`] streams any element.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfRange`] past the end; [`Error::TooLarge`]; any read or
    /// data error.
    pub fn get(&self, i: usize) -> Result<Value> {
        if let Some(p) = &self.parts {
            if let Some((part, row)) = p.locate(i) {
                return p.get(part)?.get(row);
            }
        }
        if i >= self.len() {
            return Err(Error::OutOfRange {
                index: i,
                length: self.len(),
                node: self.node.info.path.to_string(),
                class: self.node.info.class,
            });
        }
        let view = View::new(&self.node)?;
        let mut budget = Budget::of(&view, "this element");
        view.value(i, &mut budget)
    }

    /// Iterates the elements, materializing the subtree once.
    ///
    /// # Errors
    ///
    /// Any read error while materializing; each item may also carry a data error.
    pub fn iter(&self) -> Result<Iter<'_>> {
        if let Some(p) = &self.parts {
            return Ok(Iter(IterKind::Parts(parts::PartsIter::new(p.clone()))));
        }
        Ok(Iter(IterKind::One {
            view: View::new(&self.node)?,
            next: 0,
        }))
    }

    /// All elements as [`Value`]s, within the same limit as [`Array::get`]
    /// for the whole array.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`]; any read or data error.
    pub fn to_values(&self) -> Result<Vec<Value>> {
        if let Some(p) = &self.parts {
            let mut out = Vec::new();
            for (i, _) in p.overlapping(0..p.len()) {
                out.extend(p.get(i)?.to_values()?);
            }
            return Ok(out);
        }
        let view = View::new(&self.node)?;
        let mut budget = Budget::of(&view, "the array");
        let mut out = Vec::new();
        for i in 0..view.len {
            out.push(view.value(i, &mut budget)?);
        }
        Ok(out)
    }

    /// The whole array as one line of JSON (the crate's [JSON mapping](crate#json)), within
    /// the same limit as [`Array::get`] for the whole array (a string in
    /// memory); [`Array::write_json`] streams without limit.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`]; any read or data error.
    pub fn to_json(&self) -> Result<String> {
        let mut bytes = Vec::new();
        if let Some(p) = &self.parts {
            if let Some(text) = partitioned_chars(self.form(), p, 0..p.len())? {
                let mut s = String::new();
                crate::pyjson::write_bytes_as_str(&mut s, &text);
                return Ok(s);
            }
            // Each partition within its own budget.
            bytes.push(b'[');
            let mut first = true;
            for (i, rows) in p.overlapping(0..p.len()) {
                let part = p.get(i)?;
                let view = View::new(&part.node)?;
                let budget = Budget::of(&view, "the array's JSON");
                let mut out = JsonOut::new(&mut bytes, Some(budget));
                write_rows(&view, rows, &mut out, &mut first)?;
                out.flush()?;
            }
            bytes.push(b']');
            return String::from_utf8(bytes).map_err(|e| Error::Argument(e.to_string()));
        }
        let view = View::new(&self.node)?;
        let budget = Budget::of(&view, "the array's JSON");
        let mut out = JsonOut::new(&mut bytes, Some(budget));
        write_elements(&view, 0..view.len, &mut out)?;
        // The writer only produces ASCII.
        String::from_utf8(bytes).map_err(|e| Error::Argument(e.to_string()))
    }

    /// Streams the JSON of elements `rows` (clipped to the length) as one
    /// JSON array, as [`Array::write_json`] does for all of them.
    ///
    /// ```
    /// let events = akbuf::open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))?;
    /// let mut out = Vec::new();
    /// events.field("run")?.write_json_rows(&mut out, 0..3)?;
    /// assert_eq!(String::from_utf8(out).unwrap().matches(',').count(), 2);
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Any read or data error, or the writer's error.
    pub fn write_json_rows<W: std::io::Write>(
        &self,
        mut w: W,
        rows: std::ops::Range<usize>,
    ) -> Result<()> {
        if let Some(p) = &self.parts {
            let mut out = JsonOut::new(&mut w, None);
            if let Some(text) = partitioned_chars(self.form(), p, rows.clone())? {
                crate::pyjson::write_bytes_as_str(&mut out.buf, &text);
                return out.flush();
            }
            out.buf.push('[');
            let mut first = true;
            // Only the partitions the rows reach are opened and read.
            for (i, local) in p.overlapping(rows) {
                let part = p.get(i)?;
                let view = View::new(&part.node)?;
                write_rows(&view, local, &mut out, &mut first)?;
            }
            out.buf.push(']');
            return out.flush();
        }
        let view = View::new(&self.node)?;
        let mut out = JsonOut::new(&mut w, None);
        let end = rows.end.min(view.len);
        write_elements(&view, rows.start.min(end)..end, &mut out)
    }

    /// Streams the JSON of the whole array to `w`, straight from the
    /// buffers in pieces of 64 KiB: memory stays bounded whatever the
    /// array's size (no element is ever built whole).
    ///
    /// # Errors
    ///
    /// Any read or data error, or the writer's error.
    pub fn write_json<W: std::io::Write>(&self, mut w: W) -> Result<()> {
        if self.parts.is_some() {
            return self.write_json_rows(w, 0..self.len());
        }
        let view = View::new(&self.node)?;
        let mut out = JsonOut::new(&mut w, None);
        write_elements(&view, 0..view.len, &mut out)
    }

    /// Runs the full validation: offsets monotonic and in bounds, indexes and
    /// union tags in range, EmptyArray lengths. Reads every buffer of the subtree.
    ///
    /// # Errors
    ///
    /// The first problem found, as [`Error::InvalidData`] naming key and node.
    pub fn validate(&self) -> Result<()> {
        match &self.parts {
            Some(p) => p
                .overlapping(0..p.len())
                .try_for_each(|(i, _)| p.get(i)?.validate()),
            None => self.node.validate(),
        }
    }

    /// Reads every buffer of this array (what awkward's `ak.materialize`
    /// does); on a device ([`Array::to_device`]), also uploads each one.
    ///
    /// # Errors
    ///
    /// Any read error; [`Error::Device`] if an upload fails.
    pub fn materialize(&self) -> Result<()> {
        fn go(n: &Node) -> Result<()> {
            n.len.get()?;
            for (_, b) in n.data.buffers() {
                b.get()?;
            }
            n.children().into_iter().try_for_each(|c| go(c))
        }
        if let Some(p) = &self.parts {
            return p
                .overlapping(0..p.len())
                .try_for_each(|(i, _)| self.placed(p.get(i)?)?.materialize());
        }
        match &self.placement {
            Placement::Host => go(&self.node),
            #[cfg(feature = "cuda")]
            Placement::Cuda(..) => self.device_buffers().map(drop),
        }
    }

    /// A partition of this array, on this array's device.
    pub(crate) fn placed(&self, mut part: Array) -> Result<Array> {
        part.placement = self.placement.clone();
        Ok(part)
    }

    /// The same array, with its buffers materializing on `device` on first
    /// touch: each read once into the host cache (converted there once if it
    /// is big-endian or misaligned), then uploaded once per (key, device)
    /// into a new [`crate::DeviceCache`] shared by everything taken from
    /// this array (fields, slices, partitions), with the host cache's
    /// single flight; [`Array::to_device_with`] gives the device cache (a
    /// budget, an upload mode, copies shared between arrays).
    /// Host access ([`Array::values`], JSON, ...) works as before. Reads and
    /// uploads nothing yet.
    ///
    /// ```
    /// use akbuf::{open, Device, Error};
    ///
    /// let events = open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))?;
    /// match events.to_device(Device::Cuda(0)) {
    ///     Ok(on_gpu) => assert_eq!(on_gpu.device(), Device::Cuda(0)),
    ///     // Built without the `cuda` feature, no driver, or no device 0.
    ///     Err(Error::Device { device, .. }) => assert_eq!(device, "cuda:0"),
    ///     Err(e) => return Err(e),
    /// }
    /// assert_eq!(events.to_device(Device::Cpu)?.device(), Device::Cpu);
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Device`] when the device cannot be used: the crate was built
    /// without the `cuda` feature, there is no CUDA driver, or no such device.
    pub fn to_device(&self, device: Device) -> Result<Array> {
        #[cfg(feature = "cuda")]
        let placement = Placement::open(device, None)?;
        #[cfg(not(feature = "cuda"))]
        let placement = Placement::open(device)?;
        Ok(self.placed_at(placement))
    }

    /// [`Array::to_device`], keeping the copies in `copies` (feature
    /// `cuda`): arrays given one device cache upload each buffer once
    /// between them, within its budget and in its upload mode.
    ///
    /// ```
    /// use akbuf::{open, Device, DeviceCache};
    /// use std::sync::Arc;
    ///
    /// let events = open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))?;
    /// let copies = Arc::new(DeviceCache::new().with_budget(1 << 30));
    /// if let Ok(on_gpu) = events.to_device_with(Device::Cuda(0), Arc::clone(&copies)) {
    ///     on_gpu.field("met")?.device_values()?;
    ///     assert_eq!(copies.stats().uploads, 1);
    /// }
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Array::to_device`].
    #[cfg(feature = "cuda")]
    pub fn to_device_with(
        &self,
        device: Device,
        copies: Arc<crate::device::DeviceCache>,
    ) -> Result<Array> {
        Ok(self.placed_at(Placement::open(device, Some(copies))?))
    }

    fn placed_at(&self, placement: Placement) -> Array {
        Array {
            node: Arc::clone(&self.node),
            loader: Arc::clone(&self.loader),
            placement,
            parts: self.parts.clone(),
            origin: self.origin.clone(),
        }
    }

    /// Where this array's buffers materialize (see [`Array::to_device`]).
    pub fn device(&self) -> Device {
        self.placement.device()
    }

    /// The buffers this array refers to, depth-first, with their stored sizes
    /// when the source knows them. Reads nothing.
    pub fn buffers(&self) -> Vec<BufferInfo> {
        let mut out = Vec::new();
        match &self.parts {
            // Every partition's (the empty ones have no buffers to read).
            Some(p) => {
                for (i, _) in p.overlapping(0..p.len()) {
                    if let Ok(a) = p.get(i) {
                        let from = out.len();
                        a.node.collect_buffers(&mut out);
                        out[from..].iter_mut().for_each(|b| b.partition = Some(i));
                    }
                }
            }
            None => self.node.collect_buffers(&mut out),
        }
        out
    }

    /// For a `NumpyArray`: its data as `&[T]`, zero copy when the stored bytes
    /// are aligned and native (an inner shape is flattened, C order). Booleans
    /// read as `u8`, `float16` as `u16`, datetimes as `i64`, complex as `[f32; 2]`
    /// or `[f64; 2]`.
    ///
    /// # Errors
    ///
    /// [`Error::TypeMismatch`] if this is not a `NumpyArray` of `T`; read errors.
    pub fn values<T: Native>(&self) -> Result<TypedBuffer<T>> {
        if let Some(one) = self.only_partition("values")? {
            return one.values::<T>();
        }
        match &self.node.data {
            NodeData::Numpy {
                data, primitive, ..
            } if accepts::<T>(*primitive) => data.typed::<T>(),
            _ => Err(self.mismatch(&format!("values of {}", T::NAME))),
        }
    }

    /// For a `ListOffsetArray`: its offsets (`length + 1` of them) as `&[T]`,
    /// where `T` is the offsets' type (`i32`, `u32` or `i64`).
    ///
    /// # Errors
    ///
    /// [`Error::TypeMismatch`] for another class or type; read errors.
    pub fn offsets<T: Native>(&self) -> Result<TypedBuffer<T>> {
        if let Some(one) = self.only_partition("offsets")? {
            return one.offsets::<T>();
        }
        match &self.node.data {
            NodeData::ListOffset { offsets, .. } if offsets.dtype.name() == T::NAME => {
                offsets.typed::<T>()
            }
            _ => Err(self.mismatch(&format!("offsets of {}", T::NAME))),
        }
    }

    /// The content of a list, option, indexed or regular array, as an array
    /// of its own. Computing its length may read this node's offsets or index.
    ///
    /// # Errors
    ///
    /// [`Error::TypeMismatch`] for nodes without a single content; read errors.
    pub fn content(&self) -> Result<Array> {
        if let Some(one) = self.only_partition("content")? {
            return one.content();
        }
        let content = self
            .node
            .data
            .content()
            .ok_or_else(|| self.mismatch("a content"))?;
        content.len.get()?;
        Ok(self.with_node(Arc::clone(content)))
    }

    /// The values reachable from a list of numbers, without copying: for a
    /// `ListOffsetArray` over a `NumpyArray`, `data[offsets[0]..offsets[len]]`;
    /// for a `NumpyArray`, its values. Reads the offsets and the data only.
    ///
    /// # Errors
    ///
    /// [`Error::TypeMismatch`] for other layouts; read and data errors.
    pub fn flat_values<T: Native>(&self) -> Result<TypedBuffer<T>> {
        if let Some(one) = self.only_partition("flat_values")? {
            return one.flat_values::<T>();
        }
        match &self.node.data {
            NodeData::Numpy { .. } => self.values::<T>(),
            NodeData::ListOffset { offsets, content }
                if matches!(content.data, NodeData::Numpy { .. }) =>
            {
                let values = self.with_node(Arc::clone(content)).values::<T>()?;
                let off = offsets.index()?;
                let n = self.len();
                let (first, last) = (off.get(0), off.get(n));
                if first < 0 || last < first || last as u64 > values.len() as u64 {
                    return Err(offsets.node.invalid(
                        &offsets.key,
                        format!(
                            "offsets[0] = {first} and offsets[{n}] = {last} do not bound the content of length {}",
                            values.len()
                        ),
                    ));
                }
                values.slice(first as usize, (last - first) as usize)
            }
            _ => Err(self.mismatch(&format!("a list of {}", T::NAME))),
        }
    }

    /// For a `ListOffsetArray` or `ListArray` of numbers: each list as a
    /// `&[T]` into the content's buffer, for loops that allocate nothing per
    /// list (see [`Lists`]). Reads the index buffers and the data, once each.
    ///
    /// # Errors
    ///
    /// [`Error::TypeMismatch`] for other layouts or another element type;
    /// read errors.
    pub fn lists<T: Native>(&self) -> Result<Lists<T>> {
        if let Some(one) = self.only_partition("lists")? {
            return one.lists::<T>();
        }
        let numpy = |c: &Arc<Node>| matches!(c.data, NodeData::Numpy { .. });
        let n = self.len();
        let info = self.node.info.clone();
        match &self.node.data {
            NodeData::ListOffset { offsets, content } if numpy(content) => {
                let values = self.with_node(Arc::clone(content)).values::<T>()?;
                let key = Arc::clone(&offsets.key);
                Ok(Lists::offsets(offsets.index()?, values, n, (info, key)))
            }
            NodeData::List {
                starts,
                stops,
                content,
            } if numpy(content) => {
                let values = self.with_node(Arc::clone(content)).values::<T>()?;
                let key = Arc::clone(&starts.key);
                let bounds = (starts.index()?, stops.index()?);
                Ok(Lists::starts_stops(bounds, values, n, (info, key)))
            }
            _ => Err(self.mismatch(&format!("lists of {}", T::NAME))),
        }
    }

    /// For a partitioned array: its one partition, or an error saying to
    /// take partitions; `None` for an array of one piece.
    fn only_partition(&self, what: &str) -> Result<Option<Array>> {
        match &self.parts {
            None => Ok(None),
            Some(p) if p.count() == 1 => Ok(Some(self.placed(p.get(0)?)?)),
            Some(p) => Err(Error::TypeMismatch {
                node: self.node.info.path.to_string(),
                message: format!(
                    "{what} of a partitioned array ({} partitions): take them one at a time with partition(i) or partitions()",
                    p.count()
                ),
            }),
        }
    }

    fn mismatch(&self, wanted: &str) -> Error {
        Error::TypeMismatch {
            node: self.node.info.path.to_string(),
            message: format!(
                "asked for {wanted}, but this is a {} of type {}",
                self.node.info.class,
                self.form().type_string()
            ),
        }
    }
}

/// Device buffers (feature `cuda`).
#[cfg(feature = "cuda")]
impl Array {
    fn gpu(&self) -> Result<(&Arc<crate::device::cuda::Gpu>, &crate::device::DeviceCache)> {
        match &self.placement {
            Placement::Cuda(g, copies) => Ok((g, copies)),
            Placement::Host => Err(Error::Device {
                device: Device::Cpu.to_string(),
                message: "this array is on the host: call to_device(Device::Cuda(n)) first".into(),
            }),
        }
    }

    fn upload(
        &self,
        b: &Arc<crate::layout::lazy::LazyBuf>,
    ) -> Result<crate::device::cuda::DeviceBuffer> {
        use crate::device::copies::CopyKey;
        let (gpu, copies) = self.gpu()?;
        let key = CopyKey {
            source: self.loader.number,
            key: Arc::clone(&b.key),
            ordinal: gpu.ordinal,
            swapped: b.swapped(),
        };
        let native = match b.dtype {
            crate::layout::lazy::DType::Index(t) => t.numpy_name(),
            crate::layout::lazy::DType::Prim(p) => native_name(p),
        };
        crate::device::cuda::device_buffer(
            copies,
            gpu,
            key,
            || b.get(),
            (b.dtype.name(), b.dtype.itemsize(), native),
        )
    }

    /// For a `NumpyArray` on a device: its data there, uploaded on first
    /// touch (once per key and device, whatever the number of threads).
    ///
    /// # Errors
    ///
    /// [`Error::Device`] if the array is on the host or the upload fails;
    /// [`Error::TypeMismatch`] if this is not a `NumpyArray`; read errors.
    pub fn device_values(&self) -> Result<crate::device::cuda::DeviceBuffer> {
        match &self.node.data {
            NodeData::Numpy { data, .. } => self.upload(data),
            _ => Err(self.mismatch("device values")),
        }
    }

    /// For a `ListOffsetArray` on a device: its offsets there.
    ///
    /// # Errors
    ///
    /// As [`Array::device_values`].
    pub fn device_offsets(&self) -> Result<crate::device::cuda::DeviceBuffer> {
        match &self.node.data {
            NodeData::ListOffset { offsets, .. } => self.upload(offsets),
            _ => Err(self.mismatch("device offsets")),
        }
    }

    /// Every buffer of this array on its device, depth-first in the order
    /// of [`Array::buffers`], each uploaded once.
    ///
    /// # Errors
    ///
    /// As [`Array::device_values`].
    pub fn device_buffers(&self) -> Result<Vec<crate::device::cuda::DeviceBuffer>> {
        fn go(a: &Array, n: &Node, out: &mut Vec<crate::device::cuda::DeviceBuffer>) -> Result<()> {
            n.len.get()?;
            for (_, b) in n.data.buffers() {
                out.push(a.upload(b)?);
            }
            n.children().into_iter().try_for_each(|c| go(a, c, out))
        }
        self.gpu()?;
        let mut out = Vec::new();
        go(self, &self.node, &mut out)?;
        Ok(out)
    }
}
