//! `akbuf._akbuf`: the native half of the `akbuf` Python package.
//!
//! A [`Container`] is an akbuf container as awkward's buffer container:
//! `c[key]` is a zero-argument callable that reads the buffer through
//! akbuf's shared cache (the GIL released) and returns a read-only NumPy
//! array over akbuf's own memory. A [`Cache`] is akbuf's cache: shared by
//! containers and threads, each key read once, with a byte budget that
//! bounds everything it keeps resident. The Python half (`akbuf/__init__.py`)
//! adds `from_buffers`, which hands a container to `ak.from_buffers`.
#![deny(unsafe_code)]

use akbuf::{Array, LazyBuffer, Metadata, Options};
use parking_lot::Mutex;
use pyo3::exceptions::{PyKeyError, PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyTuple, PyType};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, Weak};
use std::thread::JoinHandle;

mod buffers;
mod cache;
mod user;
use buffers::*;
use cache::*;
use user::open_buffers;

/// How many read keys a cache remembers for [`Cache::read_keys`].
const KEYS_KEPT: usize = 1 << 20;

static ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static READ_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static DEFAULT_CACHE: PyOnceLock<Py<Cache>> = PyOnceLock::new();

/// akbuf's error as a Python exception: `akbuf.ReadError` (an `OSError`
/// too) when reading or writing bytes failed, `akbuf.Error` otherwise; the
/// buffer key and node, when the error names them, as `key` and `node`.
fn to_py(py: Python<'_>, e: akbuf::Error) -> PyErr {
    let io = e.is_io();
    let cell = if io { &READ_ERROR } else { &ERROR };
    let Some(ty) = cell.get(py) else {
        return PyValueError::new_err(e.to_string());
    };
    let (key, node) = (e.key().map(str::to_string), e.node().map(str::to_string));
    match ty.bind(py).call1((e.to_string(),)) {
        Ok(exc) => {
            let _ = exc.setattr("key", key);
            let _ = exc.setattr("node", node);
            PyErr::from_value(exc)
        }
        Err(err) => err,
    }
}

/// An `akbuf.Error` with a message.
fn error(py: Python<'_>, message: impl Into<String>) -> PyErr {
    match ERROR.get(py).map(|t| t.bind(py).call1((message.into(),))) {
        Some(Ok(exc)) => PyErr::from_value(exc),
        Some(Err(e)) => e,
        None => PyValueError::new_err("akbuf is not initialised"),
    }
}

/// The keys a dataset's container serves: its containers may share keys
/// (and key one form differently), so a key names the partition, the
/// node's own form key and the attribute.
const DATASET_KEY: &str = "part{partition}/{form_key}/{attribute}";

/// A container's buffers by key (the nodes that share a key, each), and
/// the keys in order.
type Listing = (HashMap<String, Vec<LazyBuffer>>, Vec<String>);

/// An opened container (or dataset): the array and what its buffer
/// container serves.
struct Opened {
    array: Array,
    /// The container's metadata; `None` for a dataset of containers.
    metadata: Option<Metadata>,
    path: String,
    /// Its buffers by key (the nodes that share a key, each), and the keys
    /// in order, listed when opened.
    buffers: OnceLock<Listing>,
}

impl Opened {
    /// The key a buffer is served under.
    fn key_of(&self, b: &LazyBuffer) -> String {
        let info = b.info();
        match self.metadata {
            Some(_) => info.key.clone(),
            None => DATASET_KEY
                .replace("{partition}", &info.partition.unwrap_or(0).to_string())
                .replace("{form_key}", info.form_key.as_deref().unwrap_or(""))
                .replace("{attribute}", info.attribute),
        }
    }

    fn listed(&self) -> &Listing {
        self.buffers.get_or_init(|| {
            let mut by_key: HashMap<String, Vec<LazyBuffer>> = HashMap::new();
            let mut keys = Vec::new();
            for b in self.array.lazy_buffers() {
                let key = self.key_of(&b);
                let group = by_key.entry(key.clone()).or_default();
                if group.is_empty() {
                    keys.push(key);
                }
                group.push(b);
            }
            (by_key, keys)
        })
    }

    fn buffers(&self) -> &HashMap<String, Vec<LazyBuffer>> {
        &self.listed().0
    }

    /// Refuses a container in which one key serves nodes of different
    /// dtypes: awkward asks a buffer container by key alone, so one of the
    /// nodes would get the other's bytes, typed (and byte-swapped) as the
    /// other's. Nodes of one dtype that share a key are served the longest
    /// of their buffers (each reads its own first elements).
    fn check_shared_keys(&self) -> akbuf::Result<()> {
        let (by_key, keys) = self.listed();
        for key in keys {
            let group = &by_key[key];
            let first = group[0].info();
            if let Some(other) = group[1..]
                .iter()
                .map(LazyBuffer::info)
                .find(|o| o.dtype != first.dtype)
            {
                return Err(akbuf::Error::Layout {
                    node: other.node.clone(),
                    class: "buffer container",
                    message: format!(
                        "buffer key {key:?} serves {} ({}) and {} ({}): awkward would read one node's bytes as the other's; give every node its own key",
                        first.node, first.dtype, other.node, other.dtype
                    ),
                });
            }
        }
        Ok(())
    }
}

/// An akbuf container as awkward's buffer container: a mapping from buffer
/// keys to zero-argument callables, each returning the buffer as a
/// read-only NumPy array over akbuf's memory (read on first call, through
/// the cache, the GIL released).
#[pyclass(frozen, mapping, module = "akbuf._akbuf")]
struct Container {
    opened: Arc<Opened>,
    cache: Py<Cache>,
    /// How it was opened, where that is a location: what it pickles as.
    reopen: Option<Reopen>,
}

/// What a container opened from locations pickles as: the locations and the
/// options of `open` (never a buffer, never the cache).
#[derive(Clone)]
struct Reopen {
    paths: Vec<String>,
    caching: bool,
    confined: bool,
    storage_options: Option<HashMap<String, String>>,
}

impl Container {
    /// The buffers served under `key` (one, unless nodes share it).
    fn buffer(&self, key: &str) -> PyResult<&[LazyBuffer]> {
        self.opened
            .buffers()
            .get(key)
            .map(Vec::as_slice)
            .ok_or_else(|| PyKeyError::new_err(key.to_string()))
    }
}

#[pymethods]
impl Container {
    /// The form, as a dict (awkward's `Form.to_dict()` shape).
    #[getter]
    fn form<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let json = self.opened.array.form().to_json();
        py.import("json")?.call_method1("loads", (json,))
    }

    /// The length: an int, or a list of the partitions' lengths (always a
    /// list for a dataset).
    #[getter]
    fn length<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self.opened.metadata.as_ref().map(|m| &m.partitions) {
            Some(None) => Ok(self.opened.array.len().into_pyobject(py)?.into_any()),
            Some(Some(lengths)) => Ok(PyList::new(py, lengths)?.into_any()),
            None => Ok(PyList::new(py, self.opened.array.partition_lengths())?.into_any()),
        }
    }

    /// The buffer-key template (`{form_key}-{attribute}`, with
    /// `{partition}` for a partitioned container or a dataset).
    #[getter]
    fn buffer_key(&self) -> String {
        match &self.opened.metadata {
            Some(m) => m.buffer_key_template().to_string(),
            None => DATASET_KEY.to_string(),
        }
    }

    /// The number of the first partition (`{partition}` in the keys).
    #[getter]
    fn partition_start(&self) -> usize {
        self.opened
            .metadata
            .as_ref()
            .map_or(0, |m| m.partition_start)
    }

    /// Whether this is a dataset of several containers (`open` of a list of
    /// paths or of a folder of containers): build each partition with its
    /// own form (`partition_form`), whose form keys its keys use.
    #[getter]
    fn is_dataset(&self) -> bool {
        self.opened.metadata.is_none()
    }

    /// Partition `i`'s form, as a dict: its own container's (for a
    /// dataset, the containers' forms agree but for their form keys).
    fn partition_form<'py>(&self, py: Python<'py>, i: usize) -> PyResult<Bound<'py, PyAny>> {
        let part = self.opened.array.partition(i).map_err(|e| to_py(py, e))?;
        py.import("json")?
            .call_method1("loads", (part.form().to_json(),))
    }

    /// The byte order of the arrays this container returns: always the
    /// machine's (akbuf swaps a big-endian container's buffers on read).
    #[getter]
    fn byteorder(&self) -> &'static str {
        if cfg!(target_endian = "little") {
            "<"
        } else {
            ">"
        }
    }

    /// The byte order the container stores (`None` for a dataset, whose
    /// containers each say).
    #[getter]
    fn stored_byteorder(&self) -> Option<&'static str> {
        self.opened.metadata.as_ref().map(|m| match m.byteorder {
            akbuf::ByteOrder::Little => "<",
            akbuf::ByteOrder::Big => ">",
        })
    }

    /// The path or URL it was opened from.
    #[getter]
    fn path(&self) -> String {
        self.opened.path.clone()
    }

    /// The cache it reads through.
    #[getter]
    fn cache(&self, py: Python<'_>) -> Py<Cache> {
        self.cache.clone_ref(py)
    }

    /// The awkward type, as a string (`1000 * {run: int64, ...}`).
    #[getter]
    fn type_string(&self) -> String {
        self.opened.array.type_string()
    }

    /// A zero-argument callable returning the buffer `key` (see the class).
    fn __getitem__(slf: &Bound<'_, Self>, key: &str) -> PyResult<Getter> {
        slf.get().buffer(key)?;
        Ok(Getter {
            container: slf.clone().unbind(),
            key: key.to_string(),
        })
    }

    fn __contains__(&self, key: &str) -> bool {
        self.opened.buffers().contains_key(key)
    }

    fn __len__(&self) -> usize {
        self.opened.buffers().len()
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        PyList::new(py, self.keys())?
            .try_iter()
            .map(Bound::into_any)
    }

    /// The buffer keys, depth-first.
    fn keys(&self) -> Vec<String> {
        self.opened.listed().1.clone()
    }

    /// Reads the buffer `key` now (the GIL released) and returns it as a
    /// read-only NumPy array of its dtype over akbuf's memory, no copy.
    /// Offsets, starts and stops, indexes and tags are checked first (once
    /// per read: `LazyBuffer::get_checked`), so that awkward, which indexes
    /// with them unchecked, never reads past a buffer; a bad one raises
    /// `akbuf.Error` naming the key and the node.
    fn load<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Bound<'py, PyAny>> {
        let group = self.buffer(key)?.to_vec();
        let (b, bytes) = py
            .detach(|| {
                // Nodes of one dtype sharing the key: the longest serves all.
                let mut best: Option<(usize, akbuf::Buffer)> = None;
                for (i, b) in group.iter().enumerate() {
                    let bytes = b.get_checked()?;
                    if best.as_ref().is_none_or(|(_, x)| bytes.len() > x.len()) {
                        best = Some((i, bytes));
                    }
                }
                Ok(best.map(|(i, bytes)| (group[i].clone(), bytes)))
            })
            .map_err(|e| to_py(py, e))?
            .ok_or_else(|| PyKeyError::new_err(key.to_string()))?;
        let info = b.info();
        let (ts, itemsize) = match typestr(&info.dtype) {
            Some(ts) => {
                let size = ts[2..]
                    .split('[')
                    .next()
                    .and_then(|n| n.parse::<usize>().ok())
                    .unwrap_or(1);
                (ts, size)
            }
            None => ("|u1".to_string(), 1),
        };
        let view = Bound::new(
            py,
            BufferView {
                key: info.key.clone(),
                typestr: ts,
                len: bytes.len() / itemsize,
                bytes,
            },
        )?;
        py.import("numpy")?.call_method1("asarray", (view,))
    }

    /// The buffers, depth-first: dicts of key, field, dtype, node,
    /// attribute, stored_bytes, loaded, partition. Reads nothing.
    fn buffers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        let (by_key, keys) = self.opened.listed();
        for key in keys {
            // (every listed key is in the map: both come from one listing)
            let buffer = &by_key[key][0];
            let b = buffer.info();
            let d = PyDict::new(py);
            d.set_item("key", key)?;
            d.set_item("stored_key", &b.key)?;
            d.set_item("form_key", &b.form_key)?;
            d.set_item("field", &b.field)?;
            d.set_item("dtype", &b.dtype)?;
            d.set_item("node", &b.node)?;
            d.set_item("attribute", b.attribute)?;
            d.set_item("stored_bytes", b.stored_bytes)?;
            d.set_item("loaded", buffer.is_loaded())?;
            d.set_item("partition", b.partition)?;
            list.append(d)?;
        }
        Ok(list)
    }

    /// Rows `start..stop` (of `fields` only, if given: top-level record
    /// fields) read now, the GIL released, and written packed into a
    /// container of their own in memory: what `iterate`
    /// builds for its next chunk while the current one is processed. Reads
    /// only the byte ranges those rows need.
    #[pyo3(signature = (start, stop, fields = None))]
    fn _rows(
        slf: &Bound<'_, Self>,
        start: usize,
        stop: usize,
        fields: Option<Vec<String>>,
    ) -> PyResult<Container> {
        let py = slf.py();
        let this = slf.get();
        let array = this.opened.array.clone();
        let packed = py
            .detach(|| -> akbuf::Result<Array> {
                let mut rows = array.slice(start..stop)?;
                if let Some(f) = &fields {
                    rows = rows.select(f)?;
                }
                // Written out as to_buffers writes a row slice: only the
                // byte ranges the rows need read (to_packed would read the
                // buffers whole), partitions concatenated into one piece.
                let mut sink = akbuf::MemorySink::new();
                let one = akbuf::WriteOptions::default().with_one_piece(true);
                let (form, len) = akbuf::to_buffers(&rows, &mut sink, &one)?;
                akbuf::from_buffers(&form, len, sink.into_source(), Options::default())
            })
            .map_err(|e| to_py(py, e))?;
        let meta = Metadata::new(packed.form().clone(), packed.len());
        let path = format!("{} (rows {start}:{stop})", this.opened.path);
        contain(py, packed, Some(meta), path, this.cache.clone_ref(py))
    }

    /// Pickles as its locations and `open`'s options — a few hundred bytes,
    /// never a buffer: unpickled (in a worker), it opens again, reading the
    /// metadata only, over that process's default cache, so that every task
    /// there shares one cache and reads each key once.
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let Some(r) = &self.reopen else {
            return Err(PyTypeError::new_err(
                "a container of Python buffers (from_buffers(form, length, container)) does not pickle: only containers opened from a path or URL do",
            ));
        };
        let reopen = py.import("akbuf._akbuf")?.getattr("_reopen")?;
        let args = (
            r.paths.clone(),
            r.caching,
            r.confined,
            r.storage_options.clone(),
        );
        PyTuple::new(py, [reopen.into_any(), args.into_pyobject(py)?.into_any()])
            .map(Bound::into_any)
    }

    fn __repr__(&self) -> String {
        format!(
            "akbuf.Container({:?}, {})",
            self.opened.path,
            self.opened.array.type_string()
        )
    }
}

/// Opens a container (a directory, partitioned or not; with the features
/// built, `FILE.h5[:GROUP]` and URLs) over a cache; a list of containers or
/// a folder of containers opens as one dataset, a partition per container
/// partition.
#[pyfunction]
#[pyo3(signature = (path_or_url, *, cache = None, budget = None, storage_options = None, caching = true, confined = false))]
fn open(
    py: Python<'_>,
    path_or_url: &Bound<'_, PyAny>,
    cache: Option<Py<Cache>>,
    budget: Option<u64>,
    storage_options: Option<HashMap<String, String>>,
    caching: bool,
    confined: bool,
) -> PyResult<Container> {
    let as_path = |p: &Bound<'_, PyAny>| -> PyResult<String> {
        match p.extract::<String>() {
            Ok(p) => Ok(p),
            Err(_) => p
                .call_method0("__fspath__")
                .and_then(|p| p.extract())
                .map_err(|_| {
                    PyTypeError::new_err("path_or_url: a str, an os.PathLike, or a list of them")
                }),
        }
    };
    let paths: Vec<String> = match as_path(path_or_url) {
        Ok(p) => vec![p],
        Err(e) => match path_or_url.cast::<PyList>() {
            Ok(list) => list.iter().map(|p| as_path(&p)).collect::<PyResult<_>>()?,
            Err(_) => match path_or_url.cast::<PyTuple>() {
                Ok(t) => t.iter().map(|p| as_path(&p)).collect::<PyResult<_>>()?,
                Err(_) => return Err(e),
            },
        },
    };
    let cache = resolve_cache(py, cache, budget)?;
    let mut options = Options::default().with_cache(Arc::clone(&cache.get().cache));
    if !caching {
        options = options.with_caching(akbuf::Caching::Off);
    }
    if confined {
        options = options.confined();
    }
    if let Some(config) = &storage_options {
        let fetch = config
            .iter()
            .fold(akbuf::Fetch::default(), |f, (k, v)| f.with_config(k, v));
        options = options.with_fetch(fetch);
    }
    let (array, metadata) = py
        // One door: a container gives its metadata; a folder of
        // containers, or a list, is a dataset (none).
        .detach(|| akbuf::open_locations(&paths, options))
        .map_err(|e| to_py(py, e))?;
    let reopen = Reopen {
        paths: paths.clone(),
        caching,
        confined,
        storage_options,
    };
    let mut c = contain(py, array, metadata, paths.join(", "), cache)?;
    c.reopen = Some(reopen);
    Ok(c)
}

/// What an unpickled container calls: `open` of its locations with its
/// options, over this process's default cache.
#[pyfunction]
fn _reopen(
    py: Python<'_>,
    paths: Vec<String>,
    caching: bool,
    confined: bool,
    storage_options: Option<HashMap<String, String>>,
) -> PyResult<Container> {
    let list = PyList::new(py, &paths)?;
    open(
        py,
        list.as_any(),
        None,
        None,
        storage_options,
        caching,
        confined,
    )
}

/// The cache a container uses: the one given, a new one of `budget`
/// bytes, or the default one.
fn resolve_cache(
    py: Python<'_>,
    cache: Option<Py<Cache>>,
    budget: Option<u64>,
) -> PyResult<Py<Cache>> {
    match (cache, budget) {
        (Some(_), Some(_)) => Err(PyValueError::new_err(
            "give a cache or a budget, not both (the budget is the cache's)",
        )),
        (Some(c), None) => Ok(c),
        (None, Some(b)) => Py::new(py, Cache::new(Some(b), None, None)?),
        (None, None) => Ok(DEFAULT_CACHE
            .get_or_try_init(py, || Py::new(py, Cache::new(None, None, None)?))?
            .clone_ref(py)),
    }
}

/// An opened array as a container over `cache`, its keys checked.
fn contain(
    py: Python<'_>,
    array: Array,
    metadata: Option<Metadata>,
    path: String,
    cache: Py<Cache>,
) -> PyResult<Container> {
    let opened = Arc::new(Opened {
        array,
        metadata,
        path,
        buffers: OnceLock::new(),
    });
    py.detach(|| opened.check_shared_keys())
        .map_err(|e| to_py(py, e))?;
    cache.get().shared.hold(&opened);
    Ok(Container {
        opened,
        cache,
        reopen: None,
    })
}

/// The cache `open` uses when given neither a cache nor a budget.
#[pyfunction]
fn default_cache(py: Python<'_>) -> PyResult<Py<Cache>> {
    Ok(DEFAULT_CACHE
        .get_or_try_init(py, || Py::new(py, Cache::new(None, None, None)?))?
        .clone_ref(py))
}

/// The features this build of akbuf has.
#[pyfunction]
fn features() -> Vec<&'static str> {
    let mut f = Vec::new();
    if cfg!(feature = "hdf5") {
        f.push("hdf5");
    }
    if cfg!(feature = "remote") {
        f.push("remote");
    }
    if cfg!(feature = "zarr") {
        f.push("zarr");
    }
    f
}

#[pymodule]
fn _akbuf(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    // The exception classes are made once per process: a module imported
    // again (notebooks, test runners) exports the classes its errors are.
    let (error, read_error) = match (ERROR.get(py), READ_ERROR.get(py)) {
        (Some(e), Some(r)) => (e.bind(py).clone(), r.bind(py).clone()),
        _ => {
            let (e, r) = exception_classes(py)?;
            let _ = ERROR.set(py, e.clone().unbind());
            let _ = READ_ERROR.set(py, r.clone().unbind());
            (
                ERROR.get(py).map_or(e, |c| c.bind(py).clone()),
                READ_ERROR.get(py).map_or(r, |c| c.bind(py).clone()),
            )
        }
    };
    m.add("Error", error)?;
    m.add("ReadError", read_error)?;
    m.add_class::<Cache>()?;
    m.add_class::<Container>()?;
    m.add_class::<Getter>()?;
    m.add_class::<BufferView>()?;
    m.add_class::<Prefetch>()?;
    m.add_function(wrap_pyfunction!(open, m)?)?;
    m.add_function(wrap_pyfunction!(_reopen, m)?)?;
    m.add_function(wrap_pyfunction!(open_buffers, m)?)?;
    m.add_function(wrap_pyfunction!(default_cache, m)?)?;
    m.add_function(wrap_pyfunction!(features, m)?)?;
    Ok(())
}

/// `akbuf.Error` and `akbuf.ReadError`, made anew.
fn exception_classes(py: Python<'_>) -> PyResult<(Bound<'_, PyType>, Bound<'_, PyType>)> {
    let ns = PyDict::new(py);
    ns.set_item("__name__", "akbuf")?;
    py.run(
        c"class Error(Exception):\n    \"\"\"An akbuf error: bad data, a missing key, a wrong argument.\n\n    `key` and `node` name the buffer and the layout node, when known.\"\"\"\n    key = None\n    node = None\n\nclass ReadError(Error, OSError):\n    \"\"\"Reading (or writing) bytes failed: a file, a server, an object store.\"\"\"\n",
        Some(&ns),
        None,
    )?;
    let class = |name: &str| -> PyResult<Bound<'_, PyType>> {
        let class = ns
            .get_item(name)?
            .ok_or_else(|| PyValueError::new_err(format!("no class {name}")))?;
        Ok(class.cast_into::<PyType>()?)
    };
    Ok((class("Error")?, class("ReadError")?))
}
