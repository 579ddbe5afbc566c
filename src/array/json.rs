//! An array's values: `get`, iteration, `Value` trees and JSON, partition
//! by partition.

#[allow(unused_imports)]
use super::*;

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

pub(super) enum IterKind<'a> {
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
pub(super) fn write_elements(
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
pub(super) fn partitioned_chars(
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
pub(super) fn write_rows(
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
}
