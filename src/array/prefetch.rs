//! Prefetching: every buffer a selection of fields needs, read as one
//! batch ([`Source::read_many`](crate::Source::read_many)), so that a
//! remote container answers a whole selection in one round of parallel
//! requests instead of one round trip per buffer.

use super::Array;
use crate::cache::Conv;
use crate::error::Result;
use crate::layout::lazy::LazyBuf;
use crate::layout::Node;
use crate::source::Want;
use std::collections::HashSet;
use std::sync::Arc;

impl Array {
    /// Reads every buffer that the fields at `paths` (dotted, as
    /// [`Array::field_path`]; `""` is the whole array) need, in every
    /// partition, one batch per level of nesting: buffers already held or
    /// being read by another thread are skipped, the rest are asked of the
    /// source together and put in the cache, each key read once. Each
    /// buffer is asked for only the bytes its node needs, as the lazy path
    /// asks (a list's content once its offsets are in), never a whole
    /// stored object that is larger. Touching those fields afterwards
    /// reads nothing. Returns how many buffers were read.
    ///
    /// For a remote container this is one round of parallel requests per
    /// level of nesting instead of one round trip per buffer; for a local
    /// one it only maps the files early.
    ///
    /// ```
    /// use akbuf::{open_with, Cache, Options};
    /// use std::sync::Arc;
    ///
    /// let cache = Arc::new(Cache::new());
    /// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/events");
    /// let events = open_with(path, Options::default().with_cache(Arc::clone(&cache)))?;
    /// assert_eq!(events.prefetch(&["jets.pt", "jets.eta"])?, 3); // offsets, pt, eta
    /// events.field_path("jets.pt")?.to_json()?;
    /// assert_eq!(cache.stats().reads, 3); // nothing more was read
    /// assert_eq!(events.prefetch(&["jets.pt"])?, 0);
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`crate::Error::NoField`] for a path that names no field; the first
    /// read error (every other buffer of the batch is still cached). A
    /// missing key is not an error here: touching its node reports it.
    pub fn prefetch<S: AsRef<str>>(&self, paths: &[S]) -> Result<usize> {
        let mut bufs: Vec<Arc<LazyBuf>> = Vec::new();
        let mut seen = HashSet::new();
        for path in paths {
            let array = self.field_path(path.as_ref())?;
            match &array.parts {
                Some(p) => {
                    for (i, _) in p.overlapping(0..p.len()) {
                        collect(&p.get(i)?.node, &mut seen, &mut bufs);
                    }
                }
                None => collect(&array.node, &mut seen, &mut bufs),
            }
        }
        // Rounds by level: a buffer is asked for once its need (count *
        // itemsize) is known without a read, so that only the bytes its
        // node uses are fetched, as the lazy path fetches them; a list's
        // content waits for its offsets' round.
        let mut pending: Vec<Arc<LazyBuf>> = bufs
            .into_iter()
            .filter(|b| b.is_cached() && !b.is_loaded())
            .collect();
        let mut first_error = None;
        let mut read = 0;
        loop {
            let (ready, rest): (Vec<_>, Vec<_>) =
                pending.into_iter().partition(|b| b.count.ready());
            pending = rest;
            if ready.is_empty() {
                break;
            }
            read += round(&ready, &mut first_error);
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(read),
        }
    }
}

/// One round: the buffers' loading slots claimed (a key held or in flight
/// elsewhere is not asked for again), one batch per loader of the bytes
/// each node needs, each slot finished with its result. Returns how many
/// were read; keeps the first error.
fn round(ready: &[Arc<LazyBuf>], first_error: &mut Option<crate::error::Error>) -> usize {
    let mut claimed = Vec::new();
    for b in ready {
        // A need that cannot be computed (bad offsets) is left for the
        // lazy path, which reports it when the node is touched.
        let Ok(need) = b.need() else { continue };
        let loader = b.loader();
        if let Some(lead) = loader.cache.claim(loader.number, &b.key, Conv::Raw) {
            claimed.push((b, need, lead));
        }
    }
    let mut read = 0;
    while !claimed.is_empty() {
        let loader = Arc::clone(claimed[0].0.loader());
        let (mine, rest): (Vec<_>, Vec<_>) = claimed
            .into_iter()
            .partition(|(b, _, _)| Arc::ptr_eq(b.loader(), &loader));
        claimed = rest;
        let requests: Vec<(&str, Want)> = mine
            .iter()
            .map(|(b, need, _)| (&*b.key, Want::Prefix(*need)))
            .collect();
        let results = loader
            .cache
            .read_many(loader.number, &*loader.source, &requests);
        for ((_, _, lead), result) in mine.into_iter().zip(results) {
            match lead.finish(result) {
                Ok(Some(_)) => read += 1,
                Ok(None) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
    }
    read
}

/// Every lazy buffer of the subtree at `node`, each key once.
fn collect(node: &Node, seen: &mut HashSet<(usize, Arc<str>)>, out: &mut Vec<Arc<LazyBuf>>) {
    for (_, b) in node.data.buffers() {
        let loader = Arc::as_ptr(b.loader()) as usize;
        if seen.insert((loader, Arc::clone(&b.key))) {
            out.push(Arc::clone(b));
        }
    }
    for child in node.children() {
        collect(child, seen, out);
    }
}
