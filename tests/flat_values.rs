//! `Array::flat_values` of a list with large offsets reads only the two
//! offsets that bound its content (`offsets[0]` and `offsets[len]`, as
//! awkward flattens a list), each once, in one batch: the megabytes in
//! between are neither sent by a remote store nor decoded from a chunked
//! one. Small offsets, or offsets already held, are read whole as before.

use akbuf::{from_buffers, Buffer, Cache, Error, Form, MemorySource, Options, ReadEvent};
use parking_lot::Mutex;
use std::sync::Arc;

const FORM: &str = r#"{"class": "ListOffsetArray", "offsets": "i64",
    "content": {"class": "NumpyArray", "primitive": "float64", "form_key": "node1"},
    "form_key": "node0"}"#;

/// `n` lists of 0 to 2 values whose offsets start at 5, over a content
/// with 7 values to spare after the last list.
fn lists(n: usize) -> (Vec<i64>, Vec<f64>) {
    let mut offsets = vec![5i64];
    for i in 0..n {
        offsets.push(offsets[i] + (i % 3) as i64);
    }
    let content = (0..offsets[n] + 7).map(|x| x as f64 * 0.5).collect();
    (offsets, content)
}

type Log = Arc<Mutex<Vec<(String, Option<usize>)>>>;

fn logged(n: usize, offsets: &[i64], content: &[f64]) -> (akbuf::Array, Log, Arc<Cache>) {
    let log: Log = Arc::default();
    let heard = Arc::clone(&log);
    let cache = Arc::new(Cache::new().with_observer(move |e: &ReadEvent<'_>| {
        heard.lock().push((e.key.to_string(), e.bytes));
    }));
    let source = MemorySource::new()
        .with("node0-offsets", Buffer::from_slice(offsets))
        .with("node1-data", Buffer::from_slice(content));
    let form = Form::from_json(FORM).unwrap();
    let array = from_buffers(
        &form,
        n,
        source,
        Options::default().with_cache(Arc::clone(&cache)),
    )
    .unwrap();
    (array, log, cache)
}

#[test]
fn large_offsets_are_read_at_their_two_ends_only_once() {
    let n = 300_000; // 2.4 MB of offsets
    let (offsets, content) = lists(n);
    let (array, log, cache) = logged(n, &offsets, &content);
    let got = array.flat_values::<f64>().unwrap();
    let (a, b) = (offsets[0] as usize, offsets[n] as usize);
    assert_eq!(got.as_slice(), &content[a..b]);
    let reads = log.lock().clone();
    let offsets_reads: Vec<_> = reads.iter().filter(|(k, _)| k == "node0-offsets").collect();
    assert_eq!(offsets_reads.len(), 2, "{reads:?}");
    assert!(
        offsets_reads.iter().all(|(_, b)| *b == Some(8)),
        "{reads:?}"
    );
    assert_eq!(reads.iter().filter(|(k, _)| k == "node1-data").count(), 1);
    // Asked again: nothing is read again.
    let again = array.flat_values::<f64>().unwrap();
    assert_eq!(again.as_slice(), got.as_slice());
    assert_eq!(log.lock().len(), 3, "{:?}", log.lock());
    // Wanting every list reads the offsets whole, once.
    let lists = array.lists::<f64>().unwrap();
    assert_eq!(lists.len(), n);
    assert_eq!(log.lock().len(), 4, "{:?}", log.lock());
    assert_eq!(cache.stats().reads, 4);
}

#[test]
fn small_or_held_offsets_are_read_whole_as_before() {
    let n = 1000;
    let (offsets, content) = lists(n);
    let (array, log, _) = logged(n, &offsets, &content);
    let got = array.flat_values::<f64>().unwrap();
    assert_eq!(got.as_slice(), &content[5..offsets[n] as usize]);
    let reads = log.lock().clone();
    assert_eq!(
        reads,
        vec![
            ("node0-offsets".to_string(), Some((n + 1) * 8)),
            ("node1-data".to_string(), Some(content.len() * 8)),
        ]
    );

    // Large offsets already held (by `lists`): no read of their ends.
    let n = 300_000;
    let (offsets, content) = lists(n);
    let (array, log, _) = logged(n, &offsets, &content);
    let _held = array.lists::<f64>().unwrap();
    let before = log.lock().len();
    let got = array.flat_values::<f64>().unwrap();
    assert_eq!(got.as_slice(), &content[5..offsets[n] as usize]);
    assert_eq!(log.lock().len(), before, "{:?}", log.lock());
}

#[test]
fn threads_asking_at_once_read_each_end_once() {
    let n = 400_000;
    let (offsets, content) = lists(n);
    let (array, log, _) = logged(n, &offsets, &content);
    let want = &content[5..offsets[n] as usize];
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| assert_eq!(array.flat_values::<f64>().unwrap().as_slice(), want));
        }
    });
    let reads = log.lock().clone();
    assert_eq!(
        reads.iter().filter(|(k, _)| k == "node0-offsets").count(),
        2,
        "{reads:?}"
    );
    assert_eq!(reads.iter().filter(|(k, _)| k == "node1-data").count(), 1);
}

#[test]
fn bad_ends_of_large_offsets_are_errors_naming_the_buffer() {
    let n = 300_000;
    // Stored offsets shorter than the 300,001 entries the length needs.
    let (offsets, content) = lists(n);
    let (array, _, _) = logged(n, &offsets[..150_000], &content);
    let err = array.flat_values::<f64>().unwrap_err();
    assert!(
        matches!(&err, Error::ShortBuffer { key, expected: 2_400_008, actual: 1_200_000, .. } if key == "node0-offsets"),
        "{err:?}"
    );

    // A last offset past the content: the content is too short for the
    // length it gives (as when the offsets are read whole).
    let (mut offsets, content) = lists(n);
    offsets[n] = 1 << 40;
    let (array, _, _) = logged(n, &offsets, &content);
    let err = array.flat_values::<f64>().unwrap_err();
    assert!(
        matches!(&err, Error::ShortBuffer { key, .. } if key == "node1-data"),
        "{err:?}"
    );
    // A first offset after the last, a negative last one: bad offsets.
    for (at, value) in [(0, i64::MAX - 1), (n, -3)] {
        let (mut offsets, content) = lists(n);
        offsets[at] = value;
        let (array, _, _) = logged(n, &offsets, &content);
        let err = array.flat_values::<f64>().unwrap_err();
        assert!(
            matches!(&err, Error::InvalidData { key, .. } if key == "node0-offsets"),
            "{err:?}"
        );
    }

    // The same with a content that is read first through another path.
    let (offsets, content) = lists(n);
    let small = from_buffers(
        &Form::from_json(FORM).unwrap(),
        n,
        MemorySource::new()
            .with("node0-offsets", Buffer::from_slice(&offsets))
            .with("node1-data", Buffer::from_slice(&content[..10])),
        Options::default(),
    )
    .unwrap();
    let err = small.flat_values::<f64>().unwrap_err();
    assert!(err.to_string().contains("node1-data"), "{err}");
}

#[test]
fn a_large_slice_reads_its_offsets_range_once() {
    let n = 600_000;
    let (offsets, content) = lists(n);
    let (array, log, _) = logged(n, &offsets, &content);
    let (a, b) = (100_000, 500_000); // 3.2 MB of the slice's offsets
    let piece = array.slice(a..b).unwrap();
    let got = piece.flat_values::<f64>().unwrap();
    assert_eq!(
        got.as_slice(),
        &content[offsets[a] as usize..offsets[b] as usize]
    );
    let reads = log.lock().clone();
    // The rows' offsets, once (the slice serves both ends from one read).
    let ranges: Vec<_> = reads.iter().filter(|(k, _)| k == "node0-offsets").collect();
    assert_eq!(
        ranges,
        [&("node0-offsets".to_string(), Some((b - a + 1) * 8))],
        "{reads:?}"
    );
    assert_eq!(reads.iter().filter(|(k, _)| k == "node1-data").count(), 1);
}

#[test]
fn a_length_no_stored_offsets_back_is_an_error_not_an_allocation() {
    // A length of 2^50 lists over 10 stored offsets: their last entry is
    // asked alone, and is not there.
    let (offsets, content) = lists(9);
    for n in [1usize << 50, 1 << 20, 10] {
        let (array, log, _) = logged(n, &offsets, &content);
        let err = array.flat_values::<f64>().unwrap_err();
        assert!(
            matches!(&err, Error::ShortBuffer { key, .. } if key == "node0-offsets"),
            "{n}: {err:?}"
        );
        // Nothing read past what is stored.
        let bytes: usize = log.lock().iter().filter_map(|(_, b)| *b).sum();
        assert!(bytes <= offsets.len() * 8, "{n}: {:?}", log.lock());
    }
}
