//! Typed zero-copy views of an array's buffers: `values`, `offsets`,
//! `flat_values`, `lists`, `content`.

#[allow(unused_imports)]
use super::*;

pub(super) fn accepts<T: Native>(p: Primitive) -> bool {
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

impl Array {
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
    /// `ListOffsetArray` over a `NumpyArray`, `data[offsets[0]..offsets[len]]`
    /// (as awkward flattens it); for a `NumpyArray`, its values. Reads the
    /// data and, of large offsets not yet held (a megabyte or more), only
    /// those two entries: a remote store sends and a chunked one decodes
    /// none of the offsets in between.
    ///
    /// ```
    /// use akbuf::{from_buffers, Buffer, Form, MemorySource, Options};
    ///
    /// let form = Form::from_json(r#"{"class": "ListOffsetArray", "offsets": "i64",
    ///     "content": {"class": "NumpyArray", "primitive": "float64", "form_key": "node1"},
    ///     "form_key": "node0"}"#)?;
    /// let source = MemorySource::new()
    ///     .with("node0-offsets", Buffer::from_slice(&[1i64, 3, 3, 4]))
    ///     .with("node1-data", Buffer::from_slice(&[0.5f64, 1.0, 2.0, 4.0]));
    /// let lists = from_buffers(&form, 3, source, Options::default())?;
    /// assert_eq!(lists.flat_values::<f64>()?.as_slice(), &[1.0, 2.0, 4.0]);
    /// # Ok::<(), akbuf::Error>(())
    /// ```
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
                let n = self.len();
                let ends = offsets.index_entries(&[0, n])?;
                let (first, last) = (ends[0], ends[1]);
                // The content's length is offsets[n] (0 for no lists): the
                // entry just read gives it without reading the rest.
                content.len.offer_last(offsets, n, last);
                let values = self.with_node(Arc::clone(content)).values::<T>()?;
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
    pub(super) fn only_partition(&self, what: &str) -> Result<Option<Array>> {
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

    pub(super) fn mismatch(&self, wanted: &str) -> Error {
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
