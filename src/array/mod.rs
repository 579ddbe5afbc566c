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
mod json;
mod parts;
mod placement;
mod prefetch;
mod slice;
mod views;

pub use buffers::LazyBuffer;
pub use chunks::{ChunkSize, Chunks};
pub use json::Iter;

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
}
