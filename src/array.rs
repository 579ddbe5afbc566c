//! The high-level [`Array`].

use crate::buffer::{Native, TypedBuffer};
use crate::cache::Cache;
use crate::error::{Error, Result};
use crate::form::{Form, FormKind, Primitive};
use crate::layout::lazy::Loader;
use crate::layout::view::View;
use crate::layout::{BufferInfo, BuildCtx, Node, NodeData};
use crate::options::Options;
use crate::source::Source;
use crate::value::Value;
use std::sync::Arc;

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
    node: Arc<Node>,
    loader: Arc<Loader>,
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
    let want = match p {
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
    };
    want == T::NAME
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
pub struct Iter<'a> {
    view: View<'a>,
    next: usize,
}

impl Iterator for Iter<'_> {
    type Item = Result<Value>;
    fn next(&mut self) -> Option<Result<Value>> {
        if self.next >= self.view.len {
            return None;
        }
        let v = self.view.value(self.next);
        self.next += 1;
        Some(v)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.view.len - self.next;
        (n, Some(n))
    }
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
        let shared = options.cache.is_some();
        let cache = options
            .cache
            .unwrap_or_else(|| Arc::new(Cache::unsharded()));
        let loader = Arc::new(Loader::new(source, cache, shared));
        let ctx = BuildCtx {
            loader: Arc::clone(&loader),
            byteorder: options.byteorder,
            buffer_key: options.buffer_key,
            caching: options.caching,
        };
        let node = Node::build_root(&form, length, &ctx)?;
        Ok(Array { node, loader })
    }

    fn with_node(&self, node: Arc<Node>) -> Array {
        Array {
            node,
            loader: Arc::clone(&self.loader),
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

    /// Number of elements (known without reading).
    pub fn len(&self) -> usize {
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

    /// The field `name`, projected through lists, options and unions as
    /// awkward's `array.name` / `array["name"]` does. Tuple slots are `"0"`,
    /// `"1"`, ... Reads nothing.
    ///
    /// # Errors
    ///
    /// [`Error::NoField`] naming the node and the fields that exist.
    pub fn field(&self, name: &str) -> Result<Array> {
        Ok(self.with_node(self.node.field(name)?))
    }

    /// Element `i`. Reads every buffer of this array's subtree that is not
    /// read yet (as awkward's `array[i].tolist()` does).
    ///
    /// # Errors
    ///
    /// [`Error::OutOfRange`] past the end; any read or data error.
    pub fn get(&self, i: usize) -> Result<Value> {
        if i >= self.len() {
            return Err(Error::OutOfRange {
                index: i,
                length: self.len(),
                node: self.node.info.path.to_string(),
                class: self.node.info.class,
            });
        }
        View::new(&self.node)?.value(i)
    }

    /// Iterates the elements, materializing the subtree once.
    ///
    /// # Errors
    ///
    /// Any read error while materializing; each item may also carry a data error.
    pub fn iter(&self) -> Result<Iter<'_>> {
        Ok(Iter {
            view: View::new(&self.node)?,
            next: 0,
        })
    }

    /// All elements as [`Value`]s.
    ///
    /// # Errors
    ///
    /// Any read or data error.
    pub fn to_values(&self) -> Result<Vec<Value>> {
        self.iter()?.collect()
    }

    /// The whole array as one line of JSON (DESIGN.md's mapping).
    ///
    /// # Errors
    ///
    /// Any read or data error.
    pub fn to_json(&self) -> Result<String> {
        let mut out = Vec::new();
        self.write_json(&mut out)?;
        // The writer only produces ASCII.
        String::from_utf8(out).map_err(|e| Error::Argument(e.to_string()))
    }

    /// Streams the JSON of the whole array to `w`, element by element.
    ///
    /// # Errors
    ///
    /// Any read or data error, or the writer's error.
    pub fn write_json<W: std::io::Write>(&self, mut w: W) -> Result<()> {
        let io = |e: std::io::Error| Error::Io {
            context: "writing JSON".into(),
            io: Arc::new(e),
        };
        let view = View::new(&self.node)?;
        let mut chunk = String::with_capacity(1 << 16);
        chunk.push('[');
        for i in 0..view.len {
            if i > 0 {
                chunk.push(',');
            }
            view.value(i)?.write_json(&mut chunk);
            if chunk.len() > 1 << 16 {
                w.write_all(chunk.as_bytes()).map_err(io)?;
                chunk.clear();
            }
        }
        chunk.push(']');
        w.write_all(chunk.as_bytes()).map_err(io)
    }

    /// Runs the full validation: offsets monotonic and in bounds, indexes and
    /// union tags in range, EmptyArray lengths. Reads every buffer of the subtree.
    ///
    /// # Errors
    ///
    /// The first problem found, as [`Error::InvalidData`] naming key and node.
    pub fn validate(&self) -> Result<()> {
        self.node.validate()
    }

    /// Reads every buffer of this array (what awkward's `ak.materialize` does).
    ///
    /// # Errors
    ///
    /// Any read error.
    pub fn materialize(&self) -> Result<()> {
        fn go(n: &Node) -> Result<()> {
            n.len.get()?;
            for (_, b) in n.data.buffers() {
                b.get()?;
            }
            n.children().into_iter().try_for_each(|c| go(c))
        }
        go(&self.node)
    }

    /// The buffers this array refers to, depth-first, with their stored sizes
    /// when the source knows them. Reads nothing.
    pub fn buffers(&self) -> Vec<BufferInfo> {
        let mut out = Vec::new();
        self.node.collect_buffers(&mut out);
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
        match (&self.node.data, self.form().kind()) {
            (NodeData::Numpy { data }, FormKind::Numpy { primitive, .. })
                if accepts::<T>(*primitive) =>
            {
                data.typed::<T>()
            }
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
        match (&self.node.data, self.form().kind()) {
            (NodeData::ListOffset { offsets, .. }, FormKind::ListOffset { offsets: t, .. })
                if t.numpy_name() == T::NAME =>
            {
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
