//! `akbuf.Cache`: an `akbuf::Cache` shared by the containers opened over it
//! (its budget counting mapped bytes), the keys read (an observer), `clear`
//! by field, and `prefetch` on a thread of its own (`Prefetch`).

#[allow(unused_imports)]
use crate::*;

/// What a Python cache remembers besides akbuf's cache: the keys read
/// (for tests and tracing) and the containers opened over it (for
/// `clear(field_path)`).
#[derive(Default)]
pub(super) struct Shared {
    pub(crate) keys: Mutex<(Vec<String>, u64)>,
    /// The containers, and the count past which the dropped ones are
    /// pruned (twice the live ones after the last pruning): a cache's
    /// memory does not grow with the number of `open`s.
    pub(crate) containers: Mutex<(Vec<Weak<Opened>>, usize)>,
}

impl Shared {
    /// Remembers a container opened over the cache (for `clear(field)`).
    pub(crate) fn hold(&self, opened: &Arc<Opened>) {
        let mut held = self.containers.lock();
        let (list, limit) = &mut *held;
        if list.len() >= *limit {
            list.retain(|c| c.strong_count() > 0);
            *limit = (2 * list.len()).max(64);
        }
        list.push(Arc::downgrade(opened));
    }
}

/// A shared, thread-safe cache of buffers: every key is read once however
/// many containers and threads ask for it; with a budget, the least recently
/// used buffers no one holds are dropped past `budget_bytes` (memory-mapped
/// ones included: the budget bounds what the cache keeps resident).
/// `disk=DIR` adds a persistent tier on local disk for remote containers
/// (shared by every process, kept across runs; `disk_budget` bytes, 10 GiB
/// by default).
#[pyclass(frozen, module = "akbuf._akbuf")]
pub(super) struct Cache {
    pub(crate) cache: Arc<akbuf::Cache>,
    pub(crate) shared: Arc<Shared>,
}

#[pymethods]
impl Cache {
    #[new]
    #[pyo3(signature = (budget_bytes = None, disk = None, disk_budget = None))]
    pub(crate) fn new(
        budget_bytes: Option<u64>,
        disk: Option<std::path::PathBuf>,
        disk_budget: Option<u64>,
    ) -> PyResult<Cache> {
        let shared = Arc::new(Shared::default());
        let seen = Arc::clone(&shared);
        let mut cache = match budget_bytes {
            Some(b) => akbuf::Cache::with_budget(b).counting_mapped(),
            None => akbuf::Cache::new(),
        };
        match (disk, disk_budget) {
            (Some(dir), budget) => {
                let mut tier = akbuf::DiskCache::new(dir);
                if let Some(b) = budget {
                    tier = tier.with_budget(b);
                }
                cache = cache.with_disk(tier);
            }
            (None, Some(_)) => {
                return Err(pyo3::exceptions::PyValueError::new_err(
                    "disk_budget needs disk=DIR",
                ))
            }
            (None, None) => {}
        }
        let cache = cache.with_observer(move |event: &akbuf::ReadEvent<'_>| {
            let mut keys = seen.keys.lock();
            keys.1 += 1;
            if keys.0.len() < KEYS_KEPT {
                keys.0.push(event.key.to_string());
            }
        });
        Ok(Cache {
            cache: Arc::new(cache),
            shared,
        })
    }

    /// The disk tier: `None`, or a dict of its `dir`, `budget`, what it
    /// holds (`pieces`, `bytes`: every process's) and what this process did
    /// (`hits`, `misses`, `stored`, `corrupt`, `evicted`, `failures`).
    pub(crate) fn disk<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(disk) = self.cache.disk() else {
            return Ok(None);
        };
        let d = PyDict::new(py);
        d.set_item("dir", disk.dir().to_string_lossy())?;
        d.set_item("budget", disk.budget())?;
        let usage = py.detach(|| disk.usage()).unwrap_or_default();
        d.set_item("pieces", usage.pieces)?;
        d.set_item("bytes", usage.bytes)?;
        let s = disk.stats();
        d.set_item("hits", s.hits)?;
        d.set_item("misses", s.misses)?;
        d.set_item("stored", s.stored)?;
        d.set_item("corrupt", s.corrupt)?;
        d.set_item("evicted", s.evicted)?;
        d.set_item("failures", s.failures)?;
        Ok(Some(d))
    }

    /// The budget in bytes, or `None`.
    #[getter]
    pub(crate) fn budget(&self) -> Option<u64> {
        self.cache.budget()
    }

    /// The counters: `reads` (from sources), `bytes` (they returned),
    /// `hits`, `waits` (requests that joined a read in flight),
    /// `evictions`, `resident` (bytes held now: `heap` + `mapped`),
    /// `entries`, `failed_reads`, `revivals`.
    pub(crate) fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.cache.stats();
        let d = PyDict::new(py);
        d.set_item("reads", s.reads)?;
        d.set_item("bytes", s.bytes_read)?;
        d.set_item("hits", s.hits)?;
        d.set_item("waits", s.waits)?;
        d.set_item("evictions", s.evictions)?;
        d.set_item("resident", s.heap_bytes + s.mapped_bytes)?;
        d.set_item("heap", s.heap_bytes)?;
        d.set_item("mapped", s.mapped_bytes)?;
        d.set_item("entries", s.entries)?;
        d.set_item("failed_reads", s.failed_reads)?;
        d.set_item("revivals", s.revivals)?;
        Ok(d)
    }

    /// The keys read from sources so far, in order (the first 1,048,576).
    pub(crate) fn read_keys(&self) -> Vec<String> {
        self.shared.keys.lock().0.clone()
    }

    /// Drops every buffer (`field_path=None`), or those of one field of
    /// every container open over this cache (`"jets.pt"`: that field's own
    /// buffers, not the lists above it). Memory is released once Python no
    /// longer holds arrays over them; the next touch reads once more.
    /// Returns how many entries were dropped (`None` for all).
    #[pyo3(signature = (field_path = None))]
    pub(crate) fn clear(&self, py: Python<'_>, field_path: Option<String>) -> Option<usize> {
        let Some(path) = field_path else {
            py.detach(|| self.cache.clear());
            return None;
        };
        let containers: Vec<Arc<Opened>> = {
            let mut held = self.shared.containers.lock();
            held.0.retain(|c| c.strong_count() > 0);
            held.0.iter().filter_map(Weak::upgrade).collect()
        };
        let below = format!("{path}.");
        Some(py.detach(|| {
            containers
                .iter()
                .flat_map(|c| c.buffers().values().flatten())
                .filter(|b| {
                    let f = &b.info().field;
                    path.is_empty() || *f == path || f.starts_with(&below)
                })
                .filter(|b| b.release())
                .count()
        }))
    }

    /// Reads the buffers of `fields` of `container` in the background (the
    /// GIL released; a remote container's requests coalesced and parallel),
    /// into this cache. Returns a `Prefetch` to wait on.
    pub(crate) fn prefetch(
        &self,
        container: &Bound<'_, Container>,
        fields: Vec<String>,
    ) -> PyResult<Prefetch> {
        let opened = Arc::clone(&container.get().opened);
        if !Arc::ptr_eq(opened.array.cache(), &self.cache) {
            return Err(PyValueError::new_err(
                "the container reads through another cache: prefetch with that cache",
            ));
        }
        let handle = std::thread::Builder::new()
            .name("akbuf-prefetch".into())
            .spawn(move || opened.array.prefetch(&fields))
            .map_err(|e| PyOSError::new_err(format!("cannot start a prefetch thread: {e}")))?;
        Ok(Prefetch {
            handle: Mutex::new(Some(handle)),
            outcome: OnceLock::new(),
        })
    }

    pub(crate) fn __repr__(&self) -> String {
        let s = self.cache.stats();
        format!(
            "akbuf.Cache(budget_bytes={}, reads={}, resident={})",
            self.cache
                .budget()
                .map_or("None".to_string(), |b| b.to_string()),
            s.reads,
            s.heap_bytes + s.mapped_bytes
        )
    }
}

/// A prefetch running in the background.
#[pyclass(frozen, module = "akbuf._akbuf")]
pub(super) struct Prefetch {
    pub(crate) handle: Mutex<Option<JoinHandle<akbuf::Result<usize>>>>,
    pub(crate) outcome: OnceLock<Result<usize, String>>,
}

#[pymethods]
impl Prefetch {
    /// Waits (the GIL released) and returns how many buffers were read;
    /// raises `akbuf.Error` if a read failed.
    pub(crate) fn wait(&self, py: Python<'_>) -> PyResult<usize> {
        let mut failure = None;
        let outcome = py.detach(|| {
            self.outcome.get_or_init(|| {
                let handle = self.handle.lock().take();
                match handle.map(JoinHandle::join) {
                    Some(Ok(Ok(n))) => Ok(n),
                    Some(Ok(Err(e))) => {
                        let message = e.to_string();
                        failure = Some(e);
                        Err(message)
                    }
                    Some(Err(_)) => Err("the prefetch thread panicked".to_string()),
                    None => Err("the prefetch was already waited on".to_string()),
                }
            })
        });
        match (outcome, failure) {
            (Ok(n), _) => Ok(*n),
            (Err(_), Some(e)) => Err(to_py(py, e)),
            (Err(message), None) => Err(error(py, message)),
        }
    }

    /// Whether it has finished.
    pub(crate) fn done(&self) -> bool {
        self.outcome.get().is_some() || self.handle.lock().as_ref().is_none_or(|h| h.is_finished())
    }
}
