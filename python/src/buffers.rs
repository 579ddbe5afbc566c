//! A buffer handed to NumPy: `Getter` (what `c[key]` returns: its call
//! reads the `LazyBuffer` with the GIL released) and `BufferView` (akbuf's
//! bytes exported through `__array_interface__`, read-only; the array's
//! `base`), and NumPy's type string of a dtype.

#[allow(unused_imports)]
use crate::*;

/// The NumPy array-interface type string of a numpy dtype name, native
/// byte order (`None` for a name it does not know).
pub(super) fn typestr(dtype: &str) -> Option<String> {
    let order = if cfg!(target_endian = "little") {
        '<'
    } else {
        '>'
    };
    let (kind, size, unit) = match dtype {
        "bool" => ('b', 1, ""),
        "int8" => ('i', 1, ""),
        "uint8" => ('u', 1, ""),
        "int16" => ('i', 2, ""),
        "uint16" => ('u', 2, ""),
        "int32" => ('i', 4, ""),
        "uint32" => ('u', 4, ""),
        "int64" => ('i', 8, ""),
        "uint64" => ('u', 8, ""),
        "float16" => ('f', 2, ""),
        "float32" => ('f', 4, ""),
        "float64" => ('f', 8, ""),
        "float128" => ('f', 16, ""),
        "complex64" => ('c', 8, ""),
        "complex128" => ('c', 16, ""),
        "complex256" => ('c', 32, ""),
        d => match (d.strip_prefix("datetime64"), d.strip_prefix("timedelta64")) {
            (Some(unit), _) => ('M', 8, unit),
            (_, Some(unit)) => ('m', 8, unit),
            _ => return None,
        },
    };
    let order = if size == 1 { '|' } else { order };
    Some(format!("{order}{kind}{size}{unit}"))
}

/// `container[key]`: call it to get the buffer.
#[pyclass(frozen, module = "akbuf._akbuf")]
pub(super) struct Getter {
    pub(crate) container: Py<Container>,
    pub(crate) key: String,
}

#[pymethods]
impl Getter {
    pub(crate) fn __call__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.container.get().load(py, &self.key)
    }

    /// The buffer key.
    #[getter]
    pub(crate) fn key(&self) -> String {
        self.key.clone()
    }

    pub(crate) fn __repr__(&self) -> String {
        format!("<akbuf buffer {:?}>", self.key)
    }

    /// Pickles as its container (its locations) and key: the buffer is read
    /// where it is called.
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let getitem = py.import("operator")?.getattr("getitem")?;
        let args = (self.container.clone_ref(py), self.key.clone());
        PyTuple::new(py, [getitem.into_any(), args.into_pyobject(py)?.into_any()])
            .map(Bound::into_any)
    }
}

/// akbuf's bytes of one buffer, exported to NumPy through the array
/// interface: the NumPy array's `base`, keeping the bytes alive.
#[pyclass(frozen, module = "akbuf._akbuf")]
pub(super) struct BufferView {
    pub(crate) key: String,
    pub(crate) typestr: String,
    pub(crate) len: usize,
    pub(crate) bytes: akbuf::Buffer,
}

#[pymethods]
impl BufferView {
    /// NumPy's array interface (version 3): read-only, over akbuf's memory.
    #[getter]
    pub(crate) fn __array_interface__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("version", 3)?;
        d.set_item("shape", PyTuple::new(py, [self.len])?)?;
        d.set_item("typestr", &self.typestr)?;
        d.set_item("data", (self.address(), true))?;
        Ok(d)
    }

    /// The address of the first byte.
    #[getter]
    pub(crate) fn address(&self) -> usize {
        self.bytes.as_slice().as_ptr() as usize
    }

    /// The number of bytes.
    #[getter]
    pub(crate) fn nbytes(&self) -> usize {
        self.bytes.len()
    }

    /// The buffer key.
    #[getter]
    pub(crate) fn key(&self) -> String {
        self.key.clone()
    }
}
