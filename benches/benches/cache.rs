//! The cost of the shared cache: a hit with 1 and 2 threads, a cold key
//! with 8 threads waiting on one read, and what the cache adds to reading one
//! field of the sample.
//!
//! ```text
//! cargo bench --bench cache
//! ```

use akbuf::{
    Buffer, Cache, CachedSource, Caching, DirSource, MemorySource, Metadata, Options, Source,
};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

fn hits(c: &mut Criterion) {
    let inner = MemorySource::new()
        .with("node6-data", Buffer::from_vec(vec![0; 4096]))
        .with("node7-data", Buffer::from_vec(vec![0; 4096]));
    let source = Arc::new(CachedSource::new(inner, Arc::new(Cache::new())));
    source.read("node6-data").unwrap();
    source.read("node7-data").unwrap();
    let mut g = c.benchmark_group("cache_hit");
    g.bench_function("1_thread", |b| {
        b.iter(|| black_box(source.read(black_box("node6-data")).unwrap()))
    });
    // Two threads hitting the cache at once (the same key, or one key each);
    // time per hit on the measured thread.
    for (name, other) in [
        ("2_threads_same_key", "node6-data"),
        ("2_threads_two_keys", "node7-data"),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let barrier = Barrier::new(2);
                std::thread::scope(|s| {
                    s.spawn(|| {
                        barrier.wait();
                        for _ in 0..iters {
                            black_box(source.read(other).unwrap());
                        }
                    });
                    barrier.wait();
                    let t = Instant::now();
                    for _ in 0..iters {
                        black_box(source.read("node6-data").unwrap());
                    }
                    t.elapsed()
                })
            })
        });
    }
    // The path an array takes on a buffer it already touched.
    let events = akbuf::open(concat!(env!("CARGO_MANIFEST_DIR"), "/../data/events")).unwrap();
    let pt = events.field("jets").unwrap().field("pt").unwrap();
    pt.flat_values::<f32>().unwrap();
    g.bench_function("array_retouch_jets_pt", |b| {
        b.iter(|| black_box(pt.flat_values::<f32>().unwrap()))
    });
    g.finish();
}

fn cold_key_with_waiters(c: &mut Criterion) {
    let mut g = c.benchmark_group("cache_cold");
    // The same threads with no cache work: what spawning and joining costs.
    g.bench_function("8_threads_spawn_only", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let barrier = Barrier::new(8);
                let t = Instant::now();
                std::thread::scope(|s| {
                    for _ in 0..8 {
                        s.spawn(|| {
                            barrier.wait();
                        });
                    }
                });
                total += t.elapsed();
            }
            total
        })
    });
    g.bench_function("8_threads_one_key", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let inner = MemorySource::new().with("k", Buffer::from_vec(vec![0; 4096]));
                let source = CachedSource::new(inner, Arc::new(Cache::new()));
                let barrier = Barrier::new(8);
                let t = Instant::now();
                std::thread::scope(|s| {
                    for _ in 0..8 {
                        s.spawn(|| {
                            barrier.wait();
                            black_box(source.read("k").unwrap());
                        });
                    }
                });
                total += t.elapsed();
                assert_eq!(source.cache().stats().reads, 1);
            }
            total
        })
    });
    g.finish();
}

/// What a miss costs beyond the source's own read: 256 keys read through a
/// fresh cache, against the same reads straight from the source.
fn miss_overhead(c: &mut Criterion) {
    let keys: Vec<String> = (0..256).map(|i| format!("node{i}-data")).collect();
    let inner: MemorySource = keys
        .iter()
        .map(|k| (k.clone(), Buffer::from_vec(vec![0; 64])))
        .collect();
    let mut g = c.benchmark_group("cache_miss_256_keys");
    g.bench_function("direct", |b| {
        b.iter(|| {
            for k in &keys {
                black_box(inner.read(k).unwrap());
            }
        })
    });
    g.bench_function("through_cache", |b| {
        b.iter_batched(
            || CachedSource::new(inner.clone(), Arc::new(Cache::new())),
            |source| {
                for k in &keys {
                    black_box(source.read(k).unwrap());
                }
                source
            },
            criterion::BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// A source without identity, as an array opened without a shared cache
/// sees its source (its private cache never asks for the identity).
struct Private(MemorySource);

impl Source for Private {
    fn read(&self, key: &str) -> akbuf::Result<Option<Buffer>> {
        self.0.read(key)
    }
}

/// The cache's whole share of the sample workload below: a fresh private
/// cache (unsharded, as an array opened without a shared one makes), the two keys `jets.pt` needs read once each through it, the cache
/// dropped; against the same two reads straight from the source. (A little
/// more than the cache's share in the array: `CachedSource` allocates the key
/// it stores, where a lazy buffer shares its own.)
fn private_cache_two_misses(c: &mut Criterion) {
    let keys = ["node1-offsets", "node4-data"];
    let inner = Arc::new(Private(
        keys.iter()
            .map(|k| (k.to_string(), Buffer::from_vec(vec![0; 64])))
            .collect(),
    ));
    let mut g = c.benchmark_group("sample_cache_share");
    g.bench_function("direct_two_reads", |b| {
        b.iter(|| {
            for k in keys {
                black_box(inner.read(k).unwrap());
            }
        })
    });
    g.bench_function("fresh_cache_two_misses_and_drop", |b| {
        b.iter(|| {
            let source = CachedSource::new(Arc::clone(&inner), Arc::new(Cache::unsharded()));
            for k in keys {
                black_box(source.read(k).unwrap());
            }
        })
    });
    g.finish();
}

/// What a new (private) cache costs: every array opened without a shared
/// cache makes one.
fn new_cache(c: &mut Criterion) {
    let mut g = c.benchmark_group("cache_new_and_drop");
    g.bench_function("sharded", |b| b.iter(|| black_box(Arc::new(Cache::new()))));
    g.bench_function("unsharded", |b| {
        b.iter(|| black_box(Arc::new(Cache::unsharded())))
    });
    g.finish();
}

fn sample_field(c: &mut Criterion) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/events");
    let meta = Metadata::read_dir(dir).unwrap();
    let mut g = c.benchmark_group("sample_open_and_sum_jets_pt");
    for (name, caching) in [("cached", Caching::All), ("uncached", Caching::Off)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let opts = Options::default().with_caching(caching.clone());
                let a = meta.open_with(DirSource::new(dir), opts).unwrap();
                let pt = a.field("jets").unwrap().field("pt").unwrap();
                black_box(pt.flat_values::<f32>().unwrap().iter().sum::<f32>())
            })
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    hits,
    cold_key_with_waiters,
    miss_overhead,
    new_cache,
    private_cache_two_misses,
    sample_field
);
criterion_main!(benches);
