//! A user's own buffer container behind akbuf's cache: what
//! `akbuf.from_buffers(form, length, container)` reads from.

use super::*;
use pyo3::types::PyBytes;

/// `container[key]` (a bytes-like object, or a zero-argument callable
/// returning one, as `ak.from_buffers` takes), read with the GIL held
/// and copied into akbuf's memory once, through the cache. A missing key
/// is a missing buffer; a getter that raises, or returns something that
/// is not bytes-like, is an error naming the key; a buffer shorter than
/// its node needs is akbuf's usual error naming the key and the node.
pub(super) struct PySource {
    container: Py<PyAny>,
}

impl PySource {
    pub(super) fn new(container: Py<PyAny>) -> PySource {
        PySource { container }
    }
}

impl std::fmt::Debug for PySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PySource")
    }
}

/// The one-line text of a Python exception (`ValueError: boom`).
fn described(py: Python<'_>, e: &PyErr) -> String {
    let name = e
        .get_type(py)
        .name()
        .map_or_else(|_| "exception".to_string(), |n| n.to_string());
    let text = e.value(py).to_string();
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        name
    } else {
        format!("{name}: {line}")
    }
}

impl akbuf::Source for PySource {
    fn read(&self, key: &str) -> akbuf::Result<Option<akbuf::Buffer>> {
        Python::attach(|py| {
            let failed = |what: &str, e: &PyErr| {
                akbuf::Error::read_failed(key, format!("{what}: {}", described(py, e)))
            };
            let container = self.container.bind(py);
            let item = match container.get_item(key) {
                Ok(item) => item,
                Err(e) if e.is_instance_of::<PyKeyError>(py) => return Ok(None),
                Err(e) => return Err(failed("the container raised", &e)),
            };
            let value = if item.is_callable() {
                item.call0()
                    .map_err(|e| failed("the container's getter raised", &e))?
            } else {
                item
            };
            if let Ok(bytes) = value.cast::<PyBytes>() {
                return Ok(Some(akbuf::Buffer::from_vec(bytes.as_bytes().to_vec())));
            }
            let kind = value
                .get_type()
                .name()
                .map_or_else(|_| "an object".to_string(), |n| n.to_string());
            let view = py
                .import("builtins")
                .and_then(|b| b.getattr("memoryview"))
                .and_then(|m| m.call1((&value,)))
                .map_err(|_| {
                    akbuf::Error::read_failed(
                        key,
                        format!("the container gave {kind}, not a bytes-like object"),
                    )
                })?;
            // Its bytes in C order (a copy for a non-contiguous view).
            let bytes = view
                .call_method0("tobytes")
                .map_err(|e| failed("reading the buffer's bytes", &e))?;
            let bytes = bytes.cast::<PyBytes>().map_err(|_| {
                akbuf::Error::read_failed(key, "memoryview.tobytes() gave no bytes")
            })?;
            Ok(Some(akbuf::Buffer::from_vec(bytes.as_bytes().to_vec())))
        })
    }

    fn describe(&self) -> String {
        String::from("a Python buffer container")
    }
}

/// A container over a user's buffer container (`from_buffers(form, length,
/// container)`): `metadata` is the JSON of a `metadata.json` (the form,
/// the length, the buffer-key template and byte order).
#[pyfunction]
#[pyo3(signature = (metadata, container, *, cache = None, budget = None))]
pub(super) fn open_buffers(
    py: Python<'_>,
    metadata: &str,
    container: Py<PyAny>,
    cache: Option<Py<Cache>>,
    budget: Option<u64>,
) -> PyResult<Container> {
    let cache = resolve_cache(py, cache, budget)?;
    let meta = Metadata::from_json(metadata).map_err(|e| to_py(py, e))?;
    if meta.partitions.is_some() {
        return Err(PyValueError::new_err(
            "from_buffers(form, length, container): length must be one number",
        ));
    }
    let options = Options::default().with_cache(Arc::clone(&cache.get().cache));
    let array = meta
        .open_with(PySource::new(container), options)
        .map_err(|e| to_py(py, e))?;
    contain(
        py,
        array,
        Some(meta),
        "a Python buffer container".into(),
        cache,
    )
}
