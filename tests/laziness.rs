//! Laziness: what is read, when, and how many times.

mod common;

use akbuf::{from_buffers, Buffer, BufferKey, Form, MemorySource, Metadata, Options};
use common::*;
use std::collections::BTreeMap;

fn events() -> (akbuf::Array, Counting<akbuf::DirSource>) {
    let dir = case("events");
    let source = counting_dir(&dir);
    let array = Metadata::read_dir(&dir)
        .unwrap()
        .open(source.clone())
        .unwrap();
    (array, source)
}

fn map(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, n)| (k.to_string(), *n)).collect()
}

#[test]
fn opening_typing_and_field_access_read_nothing() {
    let (array, source) = events();
    assert_eq!(array.len(), 50);
    assert!(array.type_string().starts_with("50 * {run: int32"));
    assert_eq!(array.fields(), ["run", "event", "met", "jets", "muons"]);
    let pt = array.field("jets").unwrap().field("pt").unwrap();
    assert_eq!(pt.type_string(), "50 * var * float32");
    assert_eq!(pt.fields(), Vec::<String>::new());
    assert_eq!(
        array.field("jets").unwrap().fields(),
        ["pt", "eta", "phi", "mass"]
    );
    assert!(array.buffers().iter().all(|b| !b.loaded));
    assert_eq!(array.buffers().len(), 11);
    assert_eq!(source.total(), 0, "{:?}", source.counts());
}

#[test]
fn showing_one_field_reads_exactly_its_buffers_once() {
    let (array, source) = events();
    let pt = array.field("jets").unwrap().field("pt").unwrap();
    let json = pt.to_json().unwrap();
    assert!(json.starts_with("[[22.49566078186035,"), "{}", &json[..40]);
    // node4 is the jets list, node6 the pt floats (awkward's numbering).
    assert_eq!(
        source.counts(),
        map(&[("node4-offsets", 1), ("node6-data", 1)])
    );
    // Again, through a fresh projection of the same array: no new read.
    let again = array
        .field("jets")
        .unwrap()
        .field("pt")
        .unwrap()
        .to_json()
        .unwrap();
    assert_eq!(again, json);
    let sum: f32 = pt.flat_values::<f32>().unwrap().iter().sum();
    assert!(sum > 0.0);
    assert_eq!(
        source.counts(),
        map(&[("node4-offsets", 1), ("node6-data", 1)])
    );
    // A scalar field reads only its data.
    array.field("met").unwrap().get(3).unwrap();
    assert_eq!(source.counts()["node3-data"], 1);
    assert_eq!(source.total(), 3);
}

#[test]
fn a_child_reads_its_parents_offsets_first() {
    let (array, source) = events();
    let order = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
    let log = std::sync::Arc::clone(&order);
    let dir = case("events");
    let traced = akbuf::Observed::new(
        akbuf::DirSource::new(&dir),
        move |k: &str, _: Option<usize>| log.lock().push(k.to_string()),
    );
    let lazy = Metadata::read_dir(&dir).unwrap().open(traced).unwrap();
    let content = lazy.field("muons").unwrap().content().unwrap();
    assert_eq!(*order.lock(), ["node10-offsets"]); // the content's length
    let n_muons = content.len();
    assert!(n_muons > 50);
    assert_eq!(
        content
            .field("charge")
            .unwrap()
            .values::<i8>()
            .unwrap()
            .len(),
        n_muons
    );
    assert_eq!(*order.lock(), ["node10-offsets", "node13-data"]);
    drop(array);
    assert_eq!(source.total(), 0);
}

#[test]
fn a_key_shared_by_two_buffers_is_read_once() {
    // A ListArray whose starts and stops both map to one key (awkward reads it twice).
    let form = Form::from_json(r#"{"class": "ListArray", "starts": "i64", "stops": "i64", "content": {"class": "NumpyArray", "primitive": "int64", "form_key": "c"}, "form_key": "l"}"#).unwrap();
    let source = Counting::new(
        MemorySource::new()
            .with("l", Buffer::from_slice(&[0i64, 0, 0]))
            .with("c-data", Buffer::from_slice(&[7i64])),
    );
    let key = BufferKey::func(|fk: Option<&str>, attr: &str| {
        if fk == Some("l") {
            "l".to_string()
        } else {
            format!("{}-{attr}", fk.unwrap_or("None"))
        }
    });
    let array = from_buffers(
        &form,
        2,
        source.clone(),
        Options::default().with_buffer_key(key),
    )
    .unwrap();
    assert_eq!(array.to_json().unwrap(), "[[],[]]");
    assert_eq!(source.counts(), map(&[("c-data", 1), ("l", 1)]));
}

#[test]
fn many_threads_reading_one_field_read_each_key_once() {
    let (array, source) = events();
    let want = akbuf::open(case("events"))
        .unwrap()
        .field("jets")
        .unwrap()
        .field("eta")
        .unwrap()
        .to_json()
        .unwrap();
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                let jets = array.field("jets").unwrap();
                assert_eq!(jets.field("eta").unwrap().to_json().unwrap(), want);
            });
        }
    });
    assert_eq!(
        source.counts(),
        map(&[("node4-offsets", 1), ("node7-data", 1)])
    );
    array.materialize().unwrap();
    assert!(source.counts().values().all(|&n| n == 1));
    assert_eq!(source.total(), 11);
    assert!(array.buffers().iter().all(|b| b.loaded));
}

#[test]
fn info_sizes_come_without_reads() {
    let (array, source) = events();
    let infos = array.buffers();
    let pt = infos.iter().find(|b| b.key == "node6-data").unwrap();
    assert_eq!(pt.dtype, "float32");
    assert_eq!(pt.node, "/jets/[]/pt");
    assert_eq!(
        pt.stored_bytes,
        Some(
            std::fs::metadata(case("events").join("node6-data"))
                .unwrap()
                .len()
        )
    );
    assert_eq!(source.total(), 0);
}
