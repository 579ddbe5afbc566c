//! Which classes the Arrow export copies, and how much (feature `arrow`): a
//! counting allocator measures the bytes allocated by `to_arrow` of arrays
//! of 100,000 elements whose buffers are already loaded.
#![cfg(feature = "arrow")]

use akbuf::{from_buffers, Buffer, Form, MemorySource, Options, ToArrowOptions};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static BYTES: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; only
// counts (thread-locally, without allocating) the sizes asked for.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = COUNTING.try_with(|c| {
            if c.get() {
                let _ = BYTES.try_with(|b| b.set(b.get() + layout.size()));
            }
        });
        // SAFETY: the caller's contract for `alloc` is passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let _ = COUNTING.try_with(|c| {
            if c.get() {
                let _ = BYTES.try_with(|b| b.set(b.get() + layout.size()));
            }
        });
        // SAFETY: as `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = COUNTING.try_with(|c| {
            if c.get() {
                let _ = BYTES.try_with(|b| b.set(b.get() + new_size));
            }
        });
        // SAFETY: as `alloc`; `ptr` came from this allocator with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const N: usize = 100_000;

/// The bytes `to_arrow` allocates for `array` once its buffers are loaded.
fn copied(form: &str, length: usize, source: MemorySource) -> usize {
    let form = Form::from_json(form).unwrap();
    let array = from_buffers(&form, length, source, Options::default()).unwrap();
    let options = ToArrowOptions::default();
    let warm = array.to_arrow(&options).unwrap(); // loads the buffers
    BYTES.with(|b| b.set(0));
    COUNTING.with(|c| c.set(true));
    let out = array.to_arrow(&options).unwrap();
    COUNTING.with(|c| c.set(false));
    assert_eq!(out.len(), warm.len());
    BYTES.with(Cell::get)
}

fn numbers() -> Buffer {
    Buffer::from_slice(&(0..N).map(|i| i as f64).collect::<Vec<_>>())
}

fn offsets64() -> Buffer {
    Buffer::from_slice(&(0..=N as i64 / 4).map(|i| i * 4).collect::<Vec<i64>>())
}

/// Metadata only: the `ArrayData`s, fields and extension JSON, never a buffer.
const METADATA: usize = 16 << 10;

#[test]
fn zero_copy_classes_allocate_metadata_only() {
    let data_bytes = N * 8;
    let cases: Vec<(&str, usize, usize)> = vec![
        (
            "NumpyArray float64",
            copied(
                r#"{"class": "NumpyArray", "primitive": "float64", "form_key": "n"}"#,
                N,
                MemorySource::new().with("n-data", numbers()),
            ),
            METADATA,
        ),
        (
            "ListOffsetArray i64 (LargeList)",
            copied(
                r#"{"class": "ListOffsetArray", "offsets": "i64", "content": {"class": "NumpyArray", "primitive": "float64", "form_key": "n"}, "form_key": "l"}"#,
                N / 4,
                MemorySource::new()
                    .with("l-offsets", offsets64())
                    .with("n-data", numbers()),
            ),
            METADATA,
        ),
        (
            "ListOffsetArray i32 (List)",
            copied(
                r#"{"class": "ListOffsetArray", "offsets": "i32", "content": {"class": "NumpyArray", "primitive": "float64", "form_key": "n"}, "form_key": "l"}"#,
                N / 4,
                MemorySource::new()
                    .with(
                        "l-offsets",
                        Buffer::from_slice(
                            &(0..=N as i32 / 4).map(|i| i * 4).collect::<Vec<i32>>(),
                        ),
                    )
                    .with("n-data", numbers()),
            ),
            METADATA,
        ),
        (
            "RegularArray (FixedSizeList)",
            copied(
                r#"{"class": "RegularArray", "size": 4, "content": {"class": "NumpyArray", "primitive": "float64", "form_key": "n"}, "form_key": "r"}"#,
                N / 4,
                MemorySource::new().with("n-data", numbers()),
            ),
            METADATA,
        ),
        (
            "RecordArray (Struct)",
            copied(
                r#"{"class": "RecordArray", "fields": ["x", "y"], "contents": [{"class": "NumpyArray", "primitive": "float64", "form_key": "a"}, {"class": "NumpyArray", "primitive": "float64", "form_key": "b"}], "form_key": "rec"}"#,
                N,
                MemorySource::new()
                    .with("a-data", numbers())
                    .with("b-data", numbers()),
            ),
            METADATA,
        ),
        (
            "strings (LargeUtf8)",
            copied(
                r#"{"class": "ListOffsetArray", "offsets": "i64", "content": {"class": "NumpyArray", "primitive": "uint8", "parameters": {"__array__": "char"}, "form_key": "c"}, "parameters": {"__array__": "string"}, "form_key": "s"}"#,
                N / 4,
                MemorySource::new()
                    .with("s-offsets", offsets64())
                    .with("c-data", Buffer::from_vec(vec![b'a'; N])),
            ),
            METADATA,
        ),
        (
            "BitMaskedArray lsb, valid when true",
            copied(
                r#"{"class": "BitMaskedArray", "mask": "u8", "valid_when": true, "lsb_order": true, "content": {"class": "NumpyArray", "primitive": "float64", "form_key": "n"}, "form_key": "m"}"#,
                N,
                MemorySource::new()
                    .with("m-mask", Buffer::from_vec(vec![0b1011_0111; N / 8]))
                    .with("n-data", numbers()),
            ),
            METADATA,
        ),
    ];
    for (class, bytes, limit) in &cases {
        eprintln!("{class}: {bytes} bytes allocated for {data_bytes} bytes of data");
        assert!(bytes <= limit, "{class}: {bytes} bytes allocated (a copy?)");
    }
}

#[test]
fn classes_that_copy_and_how_much() {
    // A byte mask becomes bits: one eighth of its bytes (plus metadata).
    let byte_masked = copied(
        r#"{"class": "ByteMaskedArray", "mask": "i8", "valid_when": true, "content": {"class": "NumpyArray", "primitive": "float64", "form_key": "n"}, "form_key": "m"}"#,
        N,
        MemorySource::new()
            .with("m-mask", Buffer::from_vec(vec![1; N]))
            .with("n-data", numbers()),
    );
    eprintln!("ByteMaskedArray: {byte_masked} bytes");
    assert!(
        (N / 8..=N / 8 + METADATA).contains(&byte_masked),
        "{byte_masked}"
    );
    // Booleans: bytes to bits.
    let booleans = copied(
        r#"{"class": "NumpyArray", "primitive": "bool", "form_key": "n"}"#,
        N,
        MemorySource::new().with("n-data", Buffer::from_vec(vec![1; N])),
    );
    eprintln!("NumpyArray bool: {booleans} bytes");
    assert!((N / 8..=N / 8 + METADATA).contains(&booleans), "{booleans}");
    // An IndexedArray gathers its content (as awkward): a full copy.
    let indexed = copied(
        r#"{"class": "IndexedArray", "index": "i64", "content": {"class": "NumpyArray", "primitive": "float64", "form_key": "n"}, "form_key": "i"}"#,
        N,
        MemorySource::new()
            .with(
                "i-index",
                Buffer::from_slice(&(0..N as i64).rev().collect::<Vec<_>>()),
            )
            .with("n-data", numbers()),
    );
    eprintln!("IndexedArray: {indexed} bytes");
    assert!(indexed >= N * 8, "{indexed}");
}

/// The bytes `Array::from_arrow` (and reading every buffer of the result)
/// allocates for `array`.
fn imported(array: &dyn arrow_array::Array) -> usize {
    BYTES.with(|b| b.set(0));
    COUNTING.with(|c| c.set(true));
    let a = akbuf::Array::from_arrow(array).unwrap();
    for b in a.buffers() {
        let _ = b.stored_bytes;
    }
    // Reading the values touches every buffer.
    let n = a.len();
    let _ = a.get(n - 1).unwrap();
    COUNTING.with(|c| c.set(false));
    BYTES.with(|b| b.get())
}

/// Import shares arrow's buffers: numbers, list offsets, strings, structs
/// and validity bitmaps starting on a byte allocate only metadata; booleans
/// (bits to bytes) and 32-bit dates (widened) copy, as awkward does.
#[test]
fn import_shares_arrow_buffers() {
    use arrow_array::{
        types::Int32Type, BooleanArray, Date32Array, Float64Array, ListArray, StringArray,
        StructArray,
    };
    use std::sync::Arc;
    let floats = Float64Array::from_iter_values((0..N).map(|i| i as f64));
    let with_nulls = Float64Array::from_iter((0..N).map(|i| (i % 3 != 0).then_some(i as f64)));
    let lists = ListArray::from_iter_primitive::<Int32Type, _, _>(
        (0..N / 4).map(|i| Some((0..4).map(move |j| Some((i * 4 + j) as i32)))),
    );
    let strings = StringArray::from_iter_values((0..N).map(|i| format!("s{}", i % 100)));
    let record = StructArray::from(vec![
        (
            Arc::new(arrow_schema::Field::new(
                "x",
                arrow_schema::DataType::Float64,
                false,
            )),
            Arc::new(floats.clone()) as arrow_array::ArrayRef,
        ),
        (
            Arc::new(arrow_schema::Field::new(
                "s",
                arrow_schema::DataType::Utf8,
                false,
            )),
            Arc::new(strings.clone()) as arrow_array::ArrayRef,
        ),
    ]);
    for (what, array) in [
        ("float64", &floats as &dyn arrow_array::Array),
        ("float64 with a validity bitmap", &with_nulls),
        ("list<int32>", &lists),
        ("string", &strings),
        ("struct", &record),
    ] {
        let bytes = imported(array);
        eprintln!("{what}: {bytes} bytes allocated");
        // (Forms, nodes and keys: a few kB per node, far below the data.)
        assert!(
            bytes <= 2 * METADATA,
            "{what}: {bytes} bytes allocated (a copy?)"
        );
    }
    let booleans = imported(&BooleanArray::from_iter((0..N).map(|i| Some(i % 2 == 0))));
    assert!((N..=N + METADATA).contains(&booleans), "{booleans}");
    let dates = imported(&Date32Array::from_iter_values(0..N as i32));
    assert!((8 * N..=8 * N + METADATA).contains(&dates), "{dates}");
}
