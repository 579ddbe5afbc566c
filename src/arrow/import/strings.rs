//! Arrow's null, string, binary and string-view arrays as awkward's.

#[allow(unused_imports)]
use super::*;

/// A null column: an `IndexedOptionArray` of -1 over an `EmptyArray` (or
/// the `EmptyArray` itself for awkward's non-nullable null type).
pub(super) fn null(array: &dyn ArrowArray, ext: Option<&Ext>) -> Conv {
    let empty = Ak::Empty {
        params: ext.and_then(|e| e.node_parameters.clone()),
    };
    if ext.is_some_and(|e| e.nonnullable_null) {
        return Conv {
            option: empty.clone(),
            original: Some(empty),
        };
    }
    Conv {
        option: Ak::IndexedOption {
            index: i64s(std::iter::repeat_n(-1, array.len())),
            itype: "i64",
            content: Box::new(empty),
            params: ext.and_then(|e| e.mask_parameters.clone()),
        },
        original: None,
    }
}

/// Strings and bytestrings: a `ListOffsetArray` over characters.
pub(super) fn strings(array: &dyn ArrowArray, node_params: Params) -> Ak {
    let (offsets, chars, index, string) = match array.data_type() {
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            (a.offsets().inner().inner(), a.values(), "i32", true)
        }
        DataType::LargeUtf8 => {
            let a = array.as_string::<i64>();
            (a.offsets().inner().inner(), a.values(), "i64", true)
        }
        DataType::Binary => {
            let a = array.as_binary::<i32>();
            (a.offsets().inner().inner(), a.values(), "i32", false)
        }
        _ => {
            let a = array.as_binary::<i64>();
            (a.offsets().inner().inner(), a.values(), "i64", false)
        }
    };
    let (outer, inner) = if string {
        ("string", "char")
    } else {
        ("bytestring", "byte")
    };
    Ak::ListOffset {
        offsets: share(offsets),
        index,
        content: Box::new(Ak::Numpy {
            primitive: Primitive::UInt8,
            data: share(chars),
            params: string_params(inner),
        }),
        params: node_params.or_else(|| string_params(outer)),
    }
}

/// String and binary views (which awkward does not read): the same as
/// their 64-bit counterparts, copied into offsets and characters.
pub(super) fn string_views(array: &dyn ArrowArray, node_params: Params) -> Ak {
    let mut offsets = Vec::with_capacity(array.len() + 1);
    let mut chars = Vec::new();
    offsets.push(0i64);
    let string = matches!(array.data_type(), DataType::Utf8View);
    let mut push = |v: Option<&[u8]>| {
        chars.extend_from_slice(v.unwrap_or_default());
        offsets.push(chars.len() as i64);
    };
    if string {
        array
            .as_string_view()
            .iter()
            .for_each(|v| push(v.map(str::as_bytes)));
    } else {
        array.as_binary_view().iter().for_each(push);
    }
    let (outer, inner) = if string {
        ("string", "char")
    } else {
        ("bytestring", "byte")
    };
    Ak::ListOffset {
        offsets: i64s(offsets.into_iter()),
        index: "i64",
        content: Box::new(Ak::Numpy {
            primitive: Primitive::UInt8,
            data: Buffer::from_vec(chars),
            params: string_params(inner),
        }),
        params: node_params.or_else(|| string_params(outer)),
    }
}
