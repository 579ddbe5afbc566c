//! Lists to Arrow: `ListOffsetArray` and `ListArray` (offsets kept or
//! rebased by awkward's 32/64-bit rules, non-contiguous lists gathered),
//! `RegularArray` as fixed-size lists.

#[allow(unused_imports)]
use super::*;

/// A list's content as a child field named `item`, nullable if the content
/// is an option (or empty).
pub(super) fn child_field(content: &Node, out: &Out, name: &str) -> Field {
    let nullable = content.form.is_option() || is_empty(content);
    with_ext(
        Field::new(name, out.data.data_type().clone(), nullable),
        out.ext.clone(),
    )
}

pub(super) fn list_offset(
    node: &Node,
    mask: Option<Mask<'_>>,
    length: usize,
    options: &ToArrowOptions,
) -> Result<Out> {
    let NodeData::ListOffset { offsets, content } = &node.data else {
        unreachable!("list_offset() is called for ListOffsetArray nodes")
    };
    let offsets = match offsets.dtype.name().as_str() {
        "int32" => Offsets {
            values: Wide::I32(offsets.typed::<i32>()?),
            kind: OffsetKind::I32,
            stored: Some(offsets.get()?),
        },
        "uint32" => Offsets {
            values: Wide::Owned(
                offsets.typed::<u32>()?.as_slice()[..=length]
                    .iter()
                    .map(|&o| i64::from(o))
                    .collect(),
            ),
            kind: OffsetKind::U32,
            stored: None,
        },
        _ => Offsets {
            values: Wide::I64(offsets.typed::<i64>()?),
            kind: OffsetKind::I64,
            stored: Some(offsets.get()?),
        },
    };
    lists(node, content, offsets, mask, length, options)
}

pub(super) fn list(
    node: &Node,
    mask: Option<Mask<'_>>,
    length: usize,
    options: &ToArrowOptions,
) -> Result<Out> {
    let NodeData::List {
        starts,
        stops,
        content,
    } = &node.data
    else {
        unreachable!("list() is called for ListArray nodes")
    };
    let (mut a, mut b) = (index_values(starts, length)?, index_values(stops, length)?);
    // Missing lists that hold elements are emptied (arrow refuses them).
    if let Some(valid) = mask.as_ref().and_then(|m| m.valid.as_ref()) {
        for i in 0..length {
            if !valid.value(i) {
                (a[i], b[i]) = (0, 0);
            }
        }
    }
    let contiguous = (0..length).all(|i| b[i] >= a[i] && (i + 1 == length || b[i] == a[i + 1]));
    if !contiguous {
        return gathered_lists(node, content, &a, &b, mask, length, options);
    }
    let mut offsets = Vec::with_capacity(length + 1);
    offsets.push(a.first().copied().unwrap_or(0));
    offsets.extend_from_slice(&b[..length]);
    let offsets = Offsets {
        values: Wide::Owned(offsets),
        kind: OffsetKind::I64,
        stored: None,
    };
    lists(node, content, offsets, mask, length, options)
}

/// A list's offsets: the values (widened), the stored type, and the stored
/// buffer when the values are its bytes (shared when they start at 0).
pub(super) struct Offsets {
    values: Wide,
    kind: OffsetKind,
    stored: Option<Buffer>,
}

/// Offset values read as `i64` without copying the stored ones.
pub(super) enum Wide {
    I32(crate::buffer::TypedBuffer<i32>),
    I64(crate::buffer::TypedBuffer<i64>),
    Owned(Vec<i64>),
}

impl Wide {
    /// Whether the first `n` values never decrease (one typed pass that
    /// the compiler vectorizes, not `at` per value).
    fn ascending(&self, n: usize) -> bool {
        fn check<T: PartialOrd + Copy>(v: &[T]) -> bool {
            v.windows(2).fold(true, |ok, w| ok & (w[0] <= w[1]))
        }
        match self {
            Wide::I32(v) => check(&v[..n]),
            Wide::I64(v) => check(&v[..n]),
            Wide::Owned(v) => check(&v[..n]),
        }
    }

    /// `f` of each of the first `n` values (matched once, not per value).
    fn mapped<U>(&self, n: usize, f: impl Fn(i64) -> U) -> Vec<U> {
        match self {
            Wide::I32(v) => v[..n].iter().map(|&o| f(i64::from(o))).collect(),
            Wide::I64(v) => v[..n].iter().map(|&o| f(o)).collect(),
            Wide::Owned(v) => v[..n].iter().map(|&o| f(o)).collect(),
        }
    }

    fn at(&self, i: usize) -> i64 {
        match self {
            Wide::I32(v) => i64::from(v[i]),
            Wide::I64(v) => v[i],
            Wide::Owned(v) => v[i],
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
pub(super) enum OffsetKind {
    I32,
    U32,
    I64,
}

/// Lists and strings over `content`, as awkward's `ListOffsetArray._to_arrow`.
pub(super) fn lists(
    node: &Node,
    content: &Node,
    offsets: Offsets,
    mask: Option<Mask<'_>>,
    length: usize,
    options: &ToArrowOptions,
) -> Result<Out> {
    let array = node.form.array_parameter();
    let (is_string, is_bytes) = (array == Some("string"), array == Some("bytestring"));
    let downsize = if is_string {
        options.string_to32
    } else if is_bytes {
        options.bytestring_to32
    } else {
        options.list_to32
    };
    let Offsets {
        values: wide,
        kind,
        stored,
    } = offsets;
    let first = wide.at(0);
    let last = wide.at(length);
    if first < 0 || last < first || !wide.ascending(length + 1) {
        return Err(blame(node, "offsets", "offsets decrease or are negative"));
    }
    // Missing lists that hold elements are emptied (arrow refuses them):
    // their content gathered, as awkward's ListArray with zeroed bounds.
    if let Some(valid) = mask.as_ref().and_then(|m| m.valid.as_ref()) {
        if (0..length).any(|i| !valid.value(i) && wide.at(i + 1) != wide.at(i)) {
            let mut a: Vec<i64> = (0..length).map(|i| wide.at(i)).collect();
            let mut b: Vec<i64> = (1..=length).map(|i| wide.at(i)).collect();
            for i in 0..length {
                if !valid.value(i) {
                    (a[i], b[i]) = (0, 0);
                }
            }
            return gathered_lists(node, content, &a, &b, mask, length, options);
        }
    }
    let rebased = first != 0;
    let fits = last - first < i64::from(i32::MAX);
    // awkward's rules: int32 stays, uint32 narrows when it fits, int64
    // narrows when asked and it fits.
    let narrow = match kind {
        OffsetKind::I32 => true,
        OffsetKind::U32 => fits,
        OffsetKind::I64 => downsize && fits,
    };
    let offsets_buffer = match (&stored, rebased, kind, narrow) {
        (Some(b), false, OffsetKind::I32, _) => shared(b.slice(0, (length + 1) * 4)?),
        (Some(b), false, OffsetKind::I64, false) => shared(b.slice(0, (length + 1) * 8)?),
        (_, _, _, true) => {
            arrow_buffer::Buffer::from_vec(wide.mapped(length + 1, |o| (o - first) as i32))
        }
        (_, _, _, false) => arrow_buffer::Buffer::from_vec(wide.mapped(length + 1, |o| o - first)),
    };
    let (from, to) = (
        usize::try_from(first).unwrap_or(0),
        usize::try_from(last).unwrap_or(0),
    );
    let nulls = mask.as_ref().and_then(|m| null_buffer(&m.valid));
    if is_string || is_bytes {
        let NodeData::Numpy { data, .. } = &content.data else {
            return Err(blame(node, "", "a string's content is not a NumpyArray"));
        };
        let chars = if from == to {
            arrow_buffer::Buffer::from_vec(Vec::<u8>::new())
        } else {
            shared(data.get()?.slice(from, to - from)?)
        };
        let ty = match (is_string, narrow) {
            (true, true) => DataType::Utf8,
            (true, false) => DataType::LargeUtf8,
            (false, true) => DataType::Binary,
            (false, false) => DataType::LargeBinary,
        };
        let builder = ArrayData::builder(ty)
            .len(length)
            .add_buffer(offsets_buffer)
            .add_buffer(chars)
            .nulls(nulls);
        return Ok(Out {
            data: build(builder, node)?,
            ext: ext_meta_as(node, "ListOffsetArray", mask.as_ref(), options, false),
        });
    }
    let inner = window(content, from, to, options)?;
    let item = child_field(content, &inner, "item");
    let ty = if narrow {
        DataType::List(Arc::new(item))
    } else {
        DataType::LargeList(Arc::new(item))
    };
    let builder = ArrayData::builder(ty)
        .len(length)
        .add_buffer(offsets_buffer)
        .add_child_data(inner.data)
        .nulls(nulls);
    Ok(Out {
        data: build(builder, node)?,
        ext: ext_meta_as(node, "ListOffsetArray", mask.as_ref(), options, false),
    })
}

/// Elements `from..to` of `content`, converted (a slice of arrow data:
/// the buffers are shared and offset, not copied).
/// Lists `a[i]..b[i]` of `content` made contiguous: the content gathered
/// in list order (awkward's `to_ListOffsetArray64`), 64-bit offsets.
#[allow(clippy::too_many_arguments)]
pub(super) fn gathered_lists(
    node: &Node,
    content: &Node,
    a: &[i64],
    b: &[i64],
    mask: Option<Mask<'_>>,
    length: usize,
    options: &ToArrowOptions,
) -> Result<Out> {
    let have = content.len.get()?;
    // Overlapping lists repeat entries: bounded as to_packed's gathers are,
    // so that corrupt starts cannot ask for any amount of memory.
    let limit = crate::pack::gather_limit(node)?;
    let mut at = Vec::new();
    let mut offsets = Vec::with_capacity(length + 1);
    offsets.push(0i64);
    for i in 0..length {
        let (lo, hi) = (a[i], b[i]);
        if hi > lo {
            let n = usize::try_from(i128::from(hi) - i128::from(lo)).unwrap_or(usize::MAX);
            if at.len().saturating_add(n) > limit {
                return Err(blame(node, "starts", format!(
                        "its lists would gather more than {limit} entries (64 times the bytes of its buffers, plus a million)"
                    ),
                ));
            }
            let (lo, hi) = match (usize::try_from(lo), usize::try_from(hi)) {
                (Ok(l), Ok(h)) if h <= have => (l, h),
                _ => {
                    return Err(blame(
                        node,
                        "starts",
                        format!("list {i} ({lo}..{hi}) is outside the content's {have} elements"),
                    ))
                }
            };
            at.extend(lo..hi);
        }
        offsets.push(at.len() as i64);
    }
    // awkward's ListArray._broadcast_tooffsets64 carries lazily.
    let carried = crate::pack::carry_with(content, at, None, true)?;
    let offsets = Offsets {
        values: Wide::Owned(offsets),
        kind: OffsetKind::I64,
        stored: None,
    };
    // The mask's missing lists are empty now: nothing left to empty.
    lists(node, carried.node(), offsets, mask, length, options)
}

pub(super) fn window(
    content: &Node,
    from: usize,
    to: usize,
    options: &ToArrowOptions,
) -> Result<Out> {
    if from == to {
        // Empty lists may point past the content (awkward slices clamp).
        return convert(content, None, 0, options);
    }
    let out = convert(content, None, to, options)?;
    Ok(Out {
        data: slice(out.data, from, to - from),
        ext: out.ext,
    })
}

/// Elements `from..from + len` of converted data. Through the array (not
/// `ArrayData::slice`, which slices a struct's children and keeps its
/// offset, so that a `StructArray` made from it would slice them twice).
pub(super) fn slice(data: ArrayData, from: usize, len: usize) -> ArrayData {
    if from == 0 && len == data.len() {
        return data;
    }
    make_array(data).slice(from, len).to_data()
}

pub(super) fn regular(
    node: &Node,
    mask: Option<Mask<'_>>,
    length: usize,
    options: &ToArrowOptions,
) -> Result<Out> {
    let NodeData::Regular { size, content } = &node.data else {
        unreachable!("regular() is called for RegularArray nodes")
    };
    let array = node.form.array_parameter();
    if array == Some("string") {
        // As awkward: through a ListOffsetArray64 (offsets i × size).
        let values = (0..=length)
            .map(|i| i.checked_mul(*size).and_then(|o| i64::try_from(o).ok()))
            .collect::<Option<Vec<i64>>>()
            .ok_or_else(|| blame(node, "", "length × size overflows"))?;
        let offsets = Offsets {
            values: Wide::Owned(values),
            kind: OffsetKind::I64,
            stored: None,
        };
        return lists(node, content, offsets, mask, length, options);
    }
    let n = length
        .checked_mul(*size)
        .ok_or_else(|| blame(node, "", "length × size overflows"))?;
    let nulls = mask.as_ref().and_then(|m| null_buffer(&m.valid));
    let width = i32::try_from(*size).map_err(|_| {
        Error::Unsupported(format!(
            "a RegularArray of size {size} is too wide for arrow (at {})",
            node.info.path
        ))
    })?;
    if array == Some("bytestring") {
        let NodeData::Numpy { data, .. } = &content.data else {
            return Err(blame(
                node,
                "",
                "a bytestring's content is not a NumpyArray",
            ));
        };
        let bytes = shared(data.get()?.slice(0, n)?);
        let builder = ArrayData::builder(DataType::FixedSizeBinary(width))
            .len(length)
            .add_buffer(bytes)
            .nulls(nulls);
        return Ok(Out {
            data: build(builder, node)?,
            ext: ext_meta(node, mask.as_ref(), options, false),
        });
    }
    let inner = window(content, 0, n, options)?;
    let item = child_field(content, &inner, "item");
    let builder = ArrayData::builder(DataType::FixedSizeList(Arc::new(item), width))
        .len(length)
        .add_child_data(inner.data)
        .nulls(nulls);
    Ok(Out {
        data: build(builder, node)?,
        ext: ext_meta(node, mask.as_ref(), options, false),
    })
}
