//! `Array::lists`: each list as a slice, equal to awkward's values, with no
//! allocation per list, and bad bounds reported rather than panicking.

mod common;

use akbuf::{from_buffers, open, Buffer, Error, Form, MemorySource, Options};
use common::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts allocations, per thread (tests run side by side).
struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn allocs() -> usize {
    ALLOCS.with(Cell::get)
}

// SAFETY: forwards every call to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // A const-initialised cell without destructor: usable at any time.
        let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's obligations are passed on as they are.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn parse(json: &str) -> Vec<Vec<f64>> {
    serde_json::from_str(json).unwrap()
}

#[test]
fn lists_equal_awkwards_values() {
    let cases = [
        "list_i32",
        "list_i64",
        "list_u32",
        "list_stops_longer",
        "listoffset_i32",
        "listoffset_i64",
        "listoffset_u32",
        "sliced_offsets",
        "zero_length_list",
    ];
    for name in cases {
        let dir = case(name);
        let array = open(&dir).unwrap();
        let want = parse(&expected(&dir).json);
        let got: Vec<Vec<f64>> = if array.form().type_string().ends_with("int64") {
            let lists = array.lists::<i64>().unwrap();
            lists
                .iter()
                .map(|l| l.unwrap().iter().map(|&x| x as f64).collect())
                .collect()
        } else {
            let lists = array.lists::<f64>().unwrap();
            lists.iter().map(|l| l.unwrap().to_vec()).collect()
        };
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn iterating_allocates_nothing_per_list() {
    let events = open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events")).unwrap();
    let pt = events.field("jets").unwrap().field("pt").unwrap();
    let lists = pt.lists::<f32>().unwrap();
    assert!(lists.len() > 100);
    let before = allocs();
    let mut total = 0f64;
    let mut jets = 0;
    for _ in 0..3 {
        for l in &lists {
            let l = l.unwrap();
            jets += l.len();
            total += l.iter().map(|&x| f64::from(x)).sum::<f64>();
        }
    }
    let allocated = allocs() - before;
    assert_eq!(
        allocated,
        0,
        "{allocated} allocations over {} lists",
        3 * lists.len()
    );
    // The same jets and sum as the flat values.
    let flat = pt.flat_values::<f32>().unwrap();
    assert_eq!(jets, 3 * flat.len());
    let flat_sum: f64 = flat.iter().map(|&x| f64::from(x)).sum();
    assert!((total - 3.0 * flat_sum).abs() <= 1e-6 * total.abs());
}

#[test]
fn bad_bounds_and_types_are_errors() {
    let form = Form::from_json(
        r#"{"class": "ListOffsetArray", "offsets": "i64",
            "content": {"class": "NumpyArray", "primitive": "float64", "form_key": "c"},
            "form_key": "l"}"#,
    )
    .unwrap();
    let source = MemorySource::new()
        .with("l-offsets", Buffer::from_slice(&[0i64, 2, 1, 3]))
        .with("c-data", Buffer::from_slice(&[1.0f64, 2.0, 3.0]));
    let array = from_buffers(&form, 3, source, Options::default()).unwrap();
    let lists = array.lists::<f64>().unwrap();
    assert_eq!(lists.get(0).unwrap(), &[1.0, 2.0]);
    match lists.get(1) {
        Err(e @ Error::InvalidData { .. }) => {
            assert_eq!(e.key(), Some("l-offsets"));
            assert!(e.to_string().contains("offsets[1..=2] = 2..1"), "{e}");
        }
        other => panic!("expected invalid data, got {other:?}"),
    }
    assert_eq!(lists.get(2).unwrap(), &[2.0, 3.0]);
    assert!(matches!(
        lists.get(3),
        Err(Error::OutOfRange {
            index: 3,
            length: 3,
            ..
        })
    ));
    assert_eq!(lists.iter().filter(Result::is_err).count(), 1);
    assert!(matches!(
        array.lists::<f32>(),
        Err(Error::TypeMismatch { .. })
    ));
    let numbers = array.content().unwrap();
    assert!(matches!(
        numbers.lists::<f64>(),
        Err(Error::TypeMismatch { .. })
    ));
}
