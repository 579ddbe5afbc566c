//! Row slices: every awkward-made fixture sliced at many places gives
//! awkward's values of those rows, reading only ranges of the buffers.

mod common;

use akbuf::{open, Array, Metadata, Observed};
use common::*;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

fn items(json: &str) -> Vec<serde_json::Value> {
    serde_json::from_str(json).unwrap()
}

fn ranges(n: usize) -> Vec<(usize, usize)> {
    let mut out = vec![(0, n), (0, 0), (n, n)];
    for (a, b) in [
        (0, 1),
        (1, n),
        (n / 3, 2 * n / 3),
        (n / 2, n / 2 + 1),
        (n.saturating_sub(1), n),
    ] {
        if a <= b && b <= n {
            out.push((a, b));
        }
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn every_fixture_sliced_gives_awkwards_rows() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for (name, dir) in all_cases() {
        let want = expected(&dir);
        let Ok(all) = serde_json::from_str::<Vec<serde_json::Value>>(&want.json) else {
            continue; // a fixture whose values are not a JSON list (NaN...)
        };
        let array = open(&dir).unwrap();
        for (a, b) in ranges(array.len()) {
            let sliced = match array.slice(a..b) {
                Ok(s) => s,
                Err(e) => {
                    failures.push(format!("{name}[{a}..{b}]: {e}"));
                    continue;
                }
            };
            assert_eq!(sliced.len(), b - a);
            assert_eq!(
                sliced
                    .type_string()
                    .split_once(" * ")
                    .map(|t| t.1.to_string()),
                array
                    .type_string()
                    .split_once(" * ")
                    .map(|t| t.1.to_string()),
                "{name}"
            );
            match sliced.to_json() {
                Ok(j) if items(&j) == all[a..b] => {}
                Ok(j) => failures.push(format!("{name}[{a}..{b}]: {j}")),
                Err(e) => failures.push(format!("{name}[{a}..{b}]: {e}")),
            }
            checked += 1;
            // Slices of slices, and fields of slices.
            if b - a >= 2 {
                let inner = sliced.slice(1..b - a).unwrap();
                match inner.to_json() {
                    Ok(j) if items(&j) == all[a + 1..b] => {}
                    Ok(j) => failures.push(format!("{name}[{a}..{b}][1..]: {j}")),
                    Err(e) => failures.push(format!("{name}[{a}..{b}][1..]: {e}")),
                }
            }
        }
    }
    assert!(checked > 500, "{checked}");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Opens `dir` with a source that records each read's key and bytes.
/// Each read's key and bytes, in order.
type Reads = Arc<Mutex<Vec<(String, usize)>>>;

fn observed(dir: &std::path::Path) -> (Array, Reads) {
    let reads = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&reads);
    let source = Observed::new(
        akbuf::DirSource::new(dir),
        move |k: &str, n: Option<usize>| {
            log.lock().unwrap().push((k.to_string(), n.unwrap_or(0)));
        },
    );
    let array = Metadata::read_dir(dir).unwrap().open(source).unwrap();
    (array, reads)
}

#[test]
fn a_slice_reads_only_the_ranges_its_rows_need() {
    let dir = case("events");
    let (array, reads) = observed(&dir);
    let all = items(
        &open(&dir)
            .unwrap()
            .field("jets")
            .unwrap()
            .field("pt")
            .unwrap()
            .to_json()
            .unwrap(),
    );
    let pt = array
        .slice(10..20)
        .unwrap()
        .field("jets")
        .unwrap()
        .field("pt")
        .unwrap();
    assert!(reads.lock().unwrap().is_empty(), "slicing read");
    assert_eq!(items(&pt.to_json().unwrap()), all[10..20]);
    let got: BTreeMap<String, usize> = reads.lock().unwrap().iter().cloned().collect();
    assert_eq!(got.len(), 2, "{got:?}");
    let (offsets_key, offsets_bytes) = got.iter().find(|(k, _)| k.ends_with("offsets")).unwrap();
    let itemsize =
        std::fs::metadata(dir.join(offsets_key)).unwrap().len() as usize / (array.len() + 1);
    assert_eq!(*offsets_bytes, 11 * itemsize);
    let (data_key, data_bytes) = got.iter().find(|(k, _)| k.ends_with("data")).unwrap();
    let n: usize = all[10..20]
        .iter()
        .map(|l| l.as_array().unwrap().len())
        .sum();
    let stored = std::fs::metadata(dir.join(data_key)).unwrap().len() as usize;
    let total: usize = all.iter().map(|l| l.as_array().unwrap().len()).sum();
    assert_eq!(*data_bytes, n * stored / total);
}

#[test]
fn slices_of_partitioned_arrays_read_only_overlapping_partitions() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/partitioned/events_unequal");
    let want: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let all = items(want["json"].as_str().unwrap());
    let (array, reads) = observed(&dir);
    // Lengths [7, 0, 23, 0, 0, 10]: rows 8..12 are in partition 2 only.
    let met = array.slice(8..12).unwrap().field("met").unwrap();
    assert_eq!(met.num_partitions(), 1);
    let got = items(&met.to_json().unwrap());
    let expect: Vec<serde_json::Value> = all[8..12].iter().map(|e| e["met"].clone()).collect();
    assert_eq!(got, expect);
    assert_eq!(
        *reads.lock().unwrap(),
        [("part2-node2-data".to_string(), 4 * 8)]
    );
    // Across partitions: 5..35 touches partitions 0, 2 and 5.
    let rows = array.slice(5..35).unwrap();
    assert_eq!(rows.partition_lengths(), [2, 23, 5]);
    assert_eq!(items(&rows.to_json().unwrap()), all[5..35]);
    for (a, b) in [(0, 40), (7, 30), (39, 40), (7, 7), (0, 7), (30, 30)] {
        let rows = array.slice(a..b).unwrap();
        assert_eq!(items(&rows.to_json().unwrap()), all[a..b], "{a}..{b}");
    }
    let (start, stop) = (3, 2);
    assert!(array.slice(start..stop).is_err());
    assert!(array.slice(0..41).is_err());
}

#[test]
fn chunks_cover_every_row_once_in_order() {
    use akbuf::ChunkSize;
    let part =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/partitioned");
    for dir in [
        case("events"),
        part.join("events_unequal"),
        part.join("many_small"),
    ] {
        let array = open(&dir).unwrap();
        let all = items(&array.to_json().unwrap());
        for size in [
            ChunkSize::Rows(1),
            ChunkSize::Rows(7),
            ChunkSize::Rows(1 << 40),
            ChunkSize::Bytes(1),
            ChunkSize::Bytes(300),
            ChunkSize::Bytes(1 << 40),
        ] {
            let chunks = array.chunks(size).unwrap();
            let mut joined = Vec::new();
            let mut expect_start = 0;
            for r in chunks.ranges().to_vec() {
                assert_eq!(r.start, expect_start, "{dir:?} {size:?}");
                assert!(r.end > r.start, "{dir:?} {size:?}: empty step");
                expect_start = r.end;
            }
            for step in chunks {
                joined.extend(items(&step.unwrap().to_json().unwrap()));
            }
            assert_eq!(joined, all, "{dir:?} {size:?}");
        }
        assert!(array.chunks(ChunkSize::Rows(0)).is_err());
        // Steps of about N bytes: the stored bytes per row times the rows.
        let total: u64 = array
            .buffers()
            .iter()
            .map(|b| b.stored_bytes.unwrap())
            .sum();
        let steps = array
            .chunks(ChunkSize::Bytes(total / 4 + 1))
            .unwrap()
            .count();
        if array.is_partitioned() {
            // A step never crosses a partition's end.
            let pieces = array.partition_lengths().iter().filter(|&&n| n > 0).count();
            assert!(
                steps >= pieces,
                "{dir:?}: {steps} steps for {pieces} partitions"
            );
            for step in array.chunks(ChunkSize::Rows(5)).unwrap() {
                assert_eq!(step.unwrap().num_partitions(), 1);
            }
        } else {
            assert!(
                (4..=6).contains(&steps),
                "{dir:?}: {steps} steps of a quarter"
            );
        }
    }
}

#[test]
fn a_slice_inside_a_100_mib_buffer_reads_only_its_range() {
    let tmp = std::env::temp_dir().join(format!("akbuf-slices-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let lists = 1_092_267usize; // x 12 float64: just over 100 MiB of content
    let offsets: Vec<i64> = (0..=lists as i64).map(|i| i * 12).collect();
    let data: Vec<f64> = (0..lists * 12).map(|i| i as f64).collect();
    std::fs::write(
        tmp.join("node0-offsets"),
        offsets
            .iter()
            .flat_map(|x| x.to_ne_bytes())
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    std::fs::write(
        tmp.join("node1-data"),
        data.iter()
            .flat_map(|x| x.to_ne_bytes())
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    assert!(std::fs::metadata(tmp.join("node1-data")).unwrap().len() >= 100 << 20);
    let form = akbuf::Form::from_json(
        r#"{"class": "ListOffsetArray", "offsets": "i64", "content": {"class": "NumpyArray", "primitive": "float64", "form_key": "node1"}, "form_key": "node0"}"#,
    )
    .unwrap();
    std::fs::write(
        tmp.join("metadata.json"),
        Metadata::new(form, lists).to_json(),
    )
    .unwrap();
    let (array, reads) = observed(&tmp);
    let rows = array.slice(500_000..500_010).unwrap();
    let values = rows.flat_values::<f64>().unwrap();
    assert_eq!(values.len(), 120);
    assert_eq!(values[0], 6_000_000.0);
    assert_eq!(
        *reads.lock().unwrap(),
        [
            ("node0-offsets".to_string(), 11 * 8),
            ("node1-data".to_string(), 120 * 8)
        ]
    );
    assert_eq!(rows.offsets::<i64>().unwrap()[10], 120); // rebased
    std::fs::remove_dir_all(&tmp).unwrap();
}
