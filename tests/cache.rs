//! The shared cache under concurrency: one read per key, budgets, failures,
//! panics, sharing between arrays, caching policies.

mod common;

use akbuf::{
    from_buffers, Array, Buffer, Cache, Caching, Error, FnSource, Form, MemorySource, Options,
    Source,
};
use common::*;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

const FIELDS: usize = 40;

fn wide_form() -> Form {
    let contents: Vec<String> = (0..FIELDS)
        .map(|i| format!(r#"{{"class": "NumpyArray", "primitive": "int64", "form_key": "n{i}"}}"#))
        .collect();
    let fields: Vec<String> = (0..FIELDS).map(|i| format!("\"f{i}\"")).collect();
    Form::from_json(&format!(
        r#"{{"class": "RecordArray", "fields": [{}], "contents": [{}]}}"#,
        fields.join(", "),
        contents.join(", ")
    ))
    .unwrap()
}

fn wide_buffers() -> MemorySource {
    (0..FIELDS)
        .map(|i| {
            (
                format!("n{i}-data"),
                Buffer::from_slice(&vec![i as i64; 512]),
            )
        })
        .collect()
}

/// A source that sleeps in every read and records, per key, how many reads
/// happened and the most that ran at once.
#[derive(Clone, Default)]
struct Slow {
    inner: Arc<MemorySource>,
    reads: Arc<Mutex<HashMap<String, usize>>>,
    active: Arc<Mutex<HashMap<String, usize>>>,
    max_active: Arc<AtomicUsize>,
    sleep_ms: u64,
}

impl Slow {
    fn new(inner: MemorySource, sleep_ms: u64) -> Slow {
        Slow {
            inner: Arc::new(inner),
            sleep_ms,
            ..Slow::default()
        }
    }
}

impl Source for Slow {
    fn read(&self, key: &str) -> akbuf::Result<Option<Buffer>> {
        *self.reads.lock().entry(key.into()).or_default() += 1;
        let now = {
            let mut a = self.active.lock();
            let n = a.entry(key.into()).or_default();
            *n += 1;
            *n
        };
        self.max_active.fetch_max(now, SeqCst);
        std::thread::sleep(Duration::from_millis(self.sleep_ms));
        *self.active.lock().get_mut(key).unwrap() -= 1;
        // A fresh copy, as a file read would give: nothing else keeps it alive.
        Ok(self
            .inner
            .read(key)?
            .map(|b| Buffer::copy_from_slice(b.as_slice())))
    }
    fn id(&self) -> Option<String> {
        self.inner.id()
    }
}

fn shuffled(seed: u64) -> Vec<usize> {
    let mut v: Vec<usize> = (0..FIELDS).collect();
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for i in (1..v.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
    v
}

fn hammer(array: &Array, threads: usize, rounds: usize) {
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                for r in 0..rounds {
                    for i in shuffled((t * 1000 + r) as u64) {
                        let v = array
                            .field(&format!("f{i}"))
                            .unwrap()
                            .values::<i64>()
                            .unwrap();
                        assert_eq!(v.len(), 512);
                        assert!(v.iter().all(|&x| x == i as i64));
                    }
                }
            });
        }
    });
}

#[test]
fn sixteen_threads_read_each_key_exactly_once() {
    let source = Slow::new(wide_buffers(), 5);
    let cache = Arc::new(Cache::new());
    let array = from_buffers(
        &wide_form(),
        512,
        source.clone(),
        Options::default().with_cache(Arc::clone(&cache)),
    )
    .unwrap();
    hammer(&array, 16, 3);
    let reads = source.reads.lock().clone();
    assert_eq!(reads.len(), FIELDS);
    assert!(reads.values().all(|&n| n == 1), "{reads:?}");
    let stats = cache.stats();
    assert_eq!(stats.reads, FIELDS as u64);
    assert_eq!(stats.bytes_read, (FIELDS * 512 * 8) as u64);
    assert_eq!(stats.heap_bytes, (FIELDS * 512 * 8) as u64);
    assert!(stats.waits > 0, "{stats:?}");
}

#[test]
fn with_a_small_budget_no_key_is_read_by_two_threads_at_once() {
    let source = Slow::new(wide_buffers(), 1);
    // Room for 4 of the 40 buffers.
    let cache = Arc::new(Cache::with_budget(4 * 512 * 8));
    let array = from_buffers(
        &wide_form(),
        512,
        source.clone(),
        Options::default().with_cache(Arc::clone(&cache)),
    )
    .unwrap();
    hammer(&array, 8, 3);
    assert_eq!(source.max_active.load(SeqCst), 1);
    let stats = cache.stats();
    assert!(stats.heap_bytes <= 4 * 512 * 8, "{stats:?}");
    assert!(stats.evictions > 0, "{stats:?}");
    assert!(stats.reads > FIELDS as u64, "{stats:?}");
    assert_eq!(
        stats.reads,
        source.reads.lock().values().sum::<usize>() as u64
    );
}

#[test]
fn an_evicted_buffer_still_held_comes_back_without_a_read() {
    let source = Slow::new(wide_buffers(), 0);
    let cache = Arc::new(Cache::with_budget(512 * 8));
    let opts = Options::default().with_cache(Arc::clone(&cache));
    let array = from_buffers(&wide_form(), 512, source.clone(), opts.clone()).unwrap();
    let held = array.field("f0").unwrap().values::<i64>().unwrap();
    array.field("f1").unwrap().values::<i64>().unwrap(); // evicts f0 from the cache
    assert_eq!(cache.stats().evictions, 1);
    // This array still reaches f0 through its lazy buffer while `held` lives.
    let again = array.field("f0").unwrap().values::<i64>().unwrap();
    assert!(again.buffer().same_owner(held.buffer()));
    // A second array over the same source asks the cache: f0 is revived.
    let other = from_buffers(&wide_form(), 512, source.clone(), opts).unwrap();
    let revived = other.field("f0").unwrap().values::<i64>().unwrap();
    assert!(revived.buffer().same_owner(held.buffer()));
    assert_eq!(cache.stats().revivals, 1);
    assert_eq!(source.reads.lock()["n0-data"], 1);
    // Reviving f0 evicted f1, which no one holds: asking again reads it again.
    assert_eq!(cache.stats().evictions, 2);
    drop((held, again, revived));
    other.field("f1").unwrap().values::<i64>().unwrap();
    assert_eq!(source.reads.lock()["n1-data"], 2);
}

#[test]
fn two_arrays_over_one_container_share_a_cache() {
    let dir = case("events");
    let cache = Arc::new(Cache::new());
    let source = counting_dir(&dir);
    let meta = akbuf::Metadata::read_dir(&dir).unwrap();
    let opts = meta.options().unwrap().with_cache(Arc::clone(&cache));
    let a = from_buffers(&meta.form, meta.length, source.clone(), opts.clone()).unwrap();
    let b = from_buffers(&meta.form, meta.length, akbuf::DirSource::new(&dir), opts).unwrap();
    let ja = a
        .field("jets")
        .unwrap()
        .field("pt")
        .unwrap()
        .to_json()
        .unwrap();
    let jb = b
        .field("jets")
        .unwrap()
        .field("pt")
        .unwrap()
        .to_json()
        .unwrap();
    assert_eq!(ja, jb);
    assert_eq!(source.total(), 2);
    assert_eq!(cache.stats().reads, 2);
    assert!(cache.stats().mapped_bytes > 0);
    assert_eq!(cache.stats().heap_bytes, 0);
}

#[test]
fn failures_are_shared_by_a_wave_and_retried_after() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let source = FnSource::new(move |key: &str| {
        std::thread::sleep(Duration::from_millis(50));
        if c.fetch_add(1, SeqCst) == 0 {
            Err(Error::read_failed(key, "transient"))
        } else {
            Ok(Some(Buffer::from_slice(&[1i64, 2, 3])))
        }
    });
    let form = Form::from_json(r#"{"class": "NumpyArray", "primitive": "int64", "form_key": "x"}"#)
        .unwrap();
    let array = from_buffers(&form, 3, source, Options::default()).unwrap();
    let results: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    std::thread::sleep(Duration::from_millis(5));
                    array.to_json()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // Everyone who joined the first read got its error; nobody read twice at once.
    let errors: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(!errors.is_empty());
    assert!(errors
        .iter()
        .all(|e| e.to_string() == "reading buffer \"x-data\" failed: transient"));
    assert_eq!(array.to_json().unwrap(), "[1,2,3]");
    assert!(calls.load(SeqCst) <= 2 + 1, "{}", calls.load(SeqCst));
    assert_eq!(array.cache().stats().failed_reads, 1);
}

#[test]
fn a_panicking_source_does_not_poison_the_cache() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let source = FnSource::new(move |_key: &str| {
        std::thread::sleep(Duration::from_millis(30));
        if c.fetch_add(1, SeqCst) == 0 {
            panic!("the source exploded");
        }
        Ok(Some(Buffer::from_slice(&[7i64])))
    });
    let form = Form::from_json(r#"{"class": "NumpyArray", "primitive": "int64", "form_key": "x"}"#)
        .unwrap();
    let array = from_buffers(&form, 1, source, Options::default()).unwrap();
    std::thread::scope(|s| {
        let leader = s.spawn(|| array.to_json());
        std::thread::sleep(Duration::from_millis(10));
        let waiter = s.spawn(|| array.to_json());
        assert!(
            leader.join().is_err(),
            "the leader's panic propagates to its caller"
        );
        match waiter.join().unwrap() {
            Err(e) => assert!(e.to_string().contains("panicked"), "{e}"),
            Ok(j) => assert_eq!(j, "[7]"), // it came after the panic and read again
        }
    });
    assert_eq!(array.to_json().unwrap(), "[7]");
}

#[test]
fn caching_off_reads_on_every_touch_and_per_attribute_keeps_offsets() {
    let dir = case("events");
    let meta = akbuf::Metadata::read_dir(&dir).unwrap();
    let source = counting_dir(&dir);
    let off = from_buffers(
        &meta.form,
        meta.length,
        source.clone(),
        Options::default().with_caching(Caching::Off),
    )
    .unwrap();
    let pt = off.field("jets").unwrap().field("pt").unwrap();
    pt.to_json().unwrap();
    pt.to_json().unwrap();
    let counts = source.counts();
    // Each to_json reads the data once and the offsets twice (once for the
    // content's length, computed only the first time, once for the view).
    assert_eq!(counts["node6-data"], 2);
    assert_eq!(counts["node4-offsets"], 3);

    let source = counting_dir(&dir);
    let offsets_only = Caching::per(|_fk: Option<&str>, attr: &str| attr == "offsets");
    let some = from_buffers(
        &meta.form,
        meta.length,
        source.clone(),
        Options::default().with_caching(offsets_only),
    )
    .unwrap();
    let pt = some.field("jets").unwrap().field("pt").unwrap();
    for _ in 0..3 {
        pt.to_json().unwrap();
    }
    assert_eq!(
        source.counts(),
        [
            ("node4-offsets".to_string(), 1),
            ("node6-data".to_string(), 3)
        ]
        .into()
    );
}

#[test]
fn the_observer_sees_every_read() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let cache = Arc::new(Cache::new().with_observer(move |e: &akbuf::ReadEvent<'_>| {
        log.lock().push((e.key.to_string(), e.bytes))
    }));
    let array = akbuf::Metadata::read_dir(case("events"))
        .unwrap()
        .open_with(
            akbuf::DirSource::new(case("events")),
            Options::default().with_cache(cache),
        )
        .unwrap();
    array.field("met").unwrap().to_json().unwrap();
    array.field("met").unwrap().to_json().unwrap();
    assert_eq!(*seen.lock(), vec![("node3-data".to_string(), Some(200))]);
}

#[test]
fn children_waiting_on_parents_do_not_deadlock() {
    // Threads read inner fields (which need the list offsets first) and the
    // offsets themselves, in every order, through a slow source.
    let dir = case("events");
    let meta = akbuf::Metadata::read_dir(&dir).unwrap();
    let mut inner = MemorySource::new();
    for b in akbuf::open(&dir).unwrap().buffers() {
        inner.insert(
            b.key.clone(),
            Buffer::from_vec(std::fs::read(dir.join(&b.key)).unwrap()),
        );
    }
    let source = Slow::new(inner, 3);
    let array = from_buffers(
        &meta.form,
        meta.length,
        source.clone(),
        meta.options().unwrap(),
    )
    .unwrap();
    let fields = [
        ["jets", "pt"],
        ["jets", "eta"],
        ["muons", "charge"],
        ["muons", "pt"],
    ];
    std::thread::scope(|s| {
        for t in 0..12 {
            let array = &array;
            s.spawn(move || {
                let [a, b] = fields[t % 4];
                if t % 3 == 0 {
                    array.field(a).unwrap().offsets::<i64>().unwrap();
                }
                array.field(a).unwrap().field(b).unwrap().to_json().unwrap();
            });
        }
    });
    assert!(source.reads.lock().values().all(|&n| n == 1));
}

#[test]
fn arrays_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Array>();
    check::<Cache>();
    check::<akbuf::TypedBuffer<f32>>();
}

/// The events fixture's buffers, one lazy handle per key, over `cache`.
fn events_over(cache: &Arc<Cache>) -> (Array, Counting<akbuf::DirSource>) {
    let dir = case("events");
    let source = counting_dir(&dir);
    let meta = akbuf::Metadata::read_dir(&dir).unwrap();
    let opts = meta.options().unwrap().with_cache(Arc::clone(cache));
    let array = from_buffers(&meta.form, meta.length, source.clone(), opts).unwrap();
    (array, source)
}

#[test]
fn a_budget_counting_mapped_bytes_bounds_what_a_directory_keeps_mapped() {
    let (probe, _) = events_over(&Arc::new(Cache::new()));
    let sizes: Vec<u64> = probe
        .lazy_buffers()
        .iter()
        .map(|b| b.get().unwrap().len() as u64)
        .collect();
    let largest = *sizes.iter().max().unwrap();
    let total: u64 = sizes.iter().sum();
    let budget = largest * 2;
    assert!(total > 2 * budget, "{sizes:?}");

    // Mapped buffers are free of a plain budget: all stay mapped.
    let plain = Arc::new(Cache::with_budget(budget));
    let (array, _) = events_over(&plain);
    for b in array.lazy_buffers() {
        b.get().unwrap();
    }
    let stats = plain.stats();
    assert_eq!(
        (stats.mapped_bytes, stats.evictions),
        (total, 0),
        "{stats:?}"
    );

    // Counted, they are dropped past it, least recently used first.
    let counted = Arc::new(Cache::with_budget(budget).counting_mapped());
    let (array, source) = events_over(&counted);
    for b in array.lazy_buffers() {
        b.get().unwrap();
        let held = counted.stats();
        assert!(held.mapped_bytes + held.heap_bytes <= budget, "{held:?}");
    }
    assert!(counted.stats().evictions > 0);
    // The values are still right, read again where they were dropped.
    assert_eq!(array.to_json().unwrap(), probe.to_json().unwrap());
    assert!(source.reads.lock().values().any(|&n| n > 1));
}

#[test]
fn releasing_a_field_drops_only_its_buffers_and_the_next_touch_reads_once_more() {
    let cache = Arc::new(Cache::new());
    let (array, source) = events_over(&cache);
    let json = array.to_json().unwrap();
    let reads = cache.stats().reads;
    let keys = array.lazy_buffers();
    let pt = keys.iter().find(|b| b.info().field == "jets.pt").unwrap();
    let offsets = keys.iter().find(|b| b.info().field == "jets").unwrap();
    assert!(pt.is_loaded() && offsets.is_loaded());
    assert!(pt.release());
    assert!(!pt.release()); // already gone
    assert!(!pt.is_loaded()); // no one held it: its memory is released
    assert!(offsets.is_loaded());
    assert_eq!(array.to_json().unwrap(), json);
    assert_eq!(cache.stats().reads, reads + 1);
    assert_eq!(source.reads.lock()[&pt.info().key], 2);
    assert_eq!(source.reads.lock()[&offsets.info().key], 1);

    // A buffer still held is revived, not read, after its release.
    let held = pt.get().unwrap();
    assert_eq!(array.field_path("jets.pt").unwrap().release(), 2);
    assert_eq!(
        pt.get().unwrap().as_slice().as_ptr(),
        held.as_slice().as_ptr()
    );
    assert_eq!(source.reads.lock()[&pt.info().key], 2);
    // The whole array: every entry it has in the cache.
    let entries = cache.stats().entries;
    assert_eq!(array.release() as u64, entries);
    assert_eq!(cache.stats().entries, 0);
}
