//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod hostile;
pub mod servers;

use akbuf::{Buffer, DirSource, Result, Source};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// The fixture cases written by tests/fixtures/generate.py.
pub fn cases_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cases")
}

pub fn case(name: &str) -> PathBuf {
    cases_dir().join(name)
}

pub fn all_cases() -> Vec<(String, PathBuf)> {
    let mut out: Vec<_> = std::fs::read_dir(cases_dir())
        .expect("fixtures present: run tests/fixtures/generate.py")
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().to_string(), e.path())
        })
        .collect();
    out.sort();
    out
}

pub struct Expected {
    pub type_: String,
    pub json: String,
    pub form: String,
    pub length: usize,
    /// What `ak.validity_error` says ("" when valid).
    pub validity: String,
}

pub fn expected(dir: &std::path::Path) -> Expected {
    let text = std::fs::read_to_string(dir.join("expected.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    Expected {
        type_: v["type"].as_str().unwrap().to_string(),
        json: v["json"].as_str().unwrap().to_string(),
        form: v["form"].as_str().unwrap().to_string(),
        length: v["length"].as_u64().unwrap() as usize,
        // (Containers not written by generate.py's case() are valid.)
        validity: v["validity"].as_str().unwrap_or("").to_string(),
    }
}

/// A source that counts reads per key.
#[derive(Clone)]
pub struct Counting<S> {
    pub inner: S,
    pub reads: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl<S: Source> Counting<S> {
    pub fn new(inner: S) -> Counting<S> {
        Counting {
            inner,
            reads: Arc::new(Mutex::new(BTreeMap::new())),
        }
    }
    pub fn counts(&self) -> BTreeMap<String, usize> {
        self.reads.lock().clone()
    }
    pub fn keys(&self) -> Vec<String> {
        self.reads.lock().keys().cloned().collect()
    }
    /// One message per key read other than exactly once.
    pub fn reread(&self, what: &str) -> Vec<String> {
        self.counts()
            .into_iter()
            .filter(|&(_, n)| n != 1)
            .map(|(key, n)| format!("{what}: key {key} read {n} times"))
            .collect()
    }
    pub fn total(&self) -> usize {
        self.reads.lock().values().sum()
    }
}

impl<S: Source> Source for Counting<S> {
    fn read(&self, key: &str) -> Result<Option<Buffer>> {
        *self.reads.lock().entry(key.to_string()).or_default() += 1;
        self.inner.read(key)
    }
    fn size(&self, key: &str) -> Option<u64> {
        self.inner.size(key)
    }
    fn id(&self) -> Option<String> {
        self.inner.id()
    }
}

pub fn counting_dir(dir: &std::path::Path) -> Counting<DirSource> {
    Counting::new(DirSource::new(dir))
}

/// The keys that reading `jets.pt` alone needs: the jets list's offsets
/// and the pt leaf's data, of every partition.
pub fn jets_pt_keys(array: &akbuf::Array) -> Vec<String> {
    array
        .buffers()
        .into_iter()
        .filter(|b| {
            (b.field == "jets" && b.attribute == "offsets")
                || (b.field == "jets.pt" && b.attribute == "data")
        })
        .map(|b| b.key)
        .collect()
}
