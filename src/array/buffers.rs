//! An array's buffers one by one: what a buffer container (the Python
//! bridge's, awkward's `from_buffers` over callables) hands out per key.

use super::Array;
use crate::buffer::Buffer;
use crate::buffer::WeakBuffer;
use crate::error::Result;
use crate::layout::lazy::LazyBuf;
use crate::layout::structural::Structural;
use crate::layout::BufferInfo;
use parking_lot::Mutex;
use std::sync::Arc;

/// One buffer of an array, read on first [`LazyBuffer::get`] through the
/// array's cache (each key once, however many threads ask), exactly as the
/// array's own reads: the same entry, the same checks.
///
/// ```
/// let events = akbuf::open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))?;
/// let pt = events
///     .lazy_buffers()
///     .into_iter()
///     .find(|b| b.info().field == "jets.pt")
///     .unwrap();
/// assert_eq!(pt.info().dtype, "float32");
/// assert!(!pt.is_loaded());
/// let bytes = pt.get()?; // read now: native order, aligned for float32
/// assert_eq!(bytes.len() % 4, 0);
/// assert_eq!(events.cache().stats().reads, 2); // and the jets offsets, which give its length
/// # Ok::<(), akbuf::Error>(())
/// ```
#[derive(Clone)]
pub struct LazyBuffer {
    info: BufferInfo,
    buf: Arc<LazyBuf>,
    /// What its values must satisfy (see [`LazyBuffer::get_checked`]).
    rule: Structural,
    /// The bytes last checked, while they live: checked once per read.
    checked: Arc<Mutex<Option<WeakBuffer>>>,
}

impl std::fmt::Debug for LazyBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyBuffer")
            .field("info", &self.info)
            .finish()
    }
}

impl LazyBuffer {
    /// What the buffer is: key, field path, dtype, node, attribute, form
    /// key, partition (its `loaded` is as when the handle was made:
    /// [`LazyBuffer::is_loaded`] says now).
    ///
    /// ```
    /// let events = akbuf::open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))?;
    /// let first = &events.lazy_buffers()[0];
    /// assert_eq!((first.info().key.as_str(), first.info().field.as_str()), ("node1-data", "run"));
    /// assert_eq!(first.info().form_key.as_deref(), Some("node1"));
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    pub fn info(&self) -> &BufferInfo {
        &self.info
    }

    /// The buffer's bytes: exactly the `length × itemsize` bytes its node
    /// needs (computing that length may read the offsets or index above
    /// it), in native byte order, aligned for its dtype; shared with the
    /// cache and the array, zero copy where the stored bytes allow.
    ///
    /// ```
    /// let events = akbuf::open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))?;
    /// let run = &events.lazy_buffers()[0];
    /// let bytes = run.get()?;
    /// assert_eq!(bytes.len(), 1000 * 4); // 1,000 int32
    /// assert_eq!(bytes.as_slice().as_ptr(), run.get()?.as_slice().as_ptr()); // read once, shared
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As any read of the array: the key missing, the stored bytes too
    /// short, the source failing, each naming the key and the node.
    pub fn get(&self) -> Result<Buffer> {
        self.buf.get()
    }

    /// [`LazyBuffer::get`], its values checked for a reader that trusts
    /// them (awkward's `from_buffers` indexes with them unchecked): a
    /// `ListOffsetArray`'s offsets start at 0 or more and never decrease
    /// (so no list ends past its content); a `ListArray`'s non-empty lists
    /// have `0 ≤ start ≤ stop`; an `IndexedArray`'s index is never
    /// negative; a `UnionArray`'s tags name a content and its index is
    /// never negative (the starts and stops, the tags and index, are
    /// checked together). Data and masks need no check. The check runs
    /// once per read of the bytes: again only if the cache dropped them
    /// and they were read anew.
    ///
    /// ```
    /// use akbuf::{from_buffers, Buffer, Form, MemorySource, Options};
    ///
    /// let form = Form::from_json(r#"{"class": "ListOffsetArray", "offsets": "i64", "form_key": "node0",
    ///     "content": {"class": "NumpyArray", "primitive": "uint8", "form_key": "node1"}}"#)?;
    /// let source = MemorySource::new()
    ///     .with("node0-offsets", Buffer::from_slice(&[0i64, 5, 2]))
    ///     .with("node1-data", Buffer::from_slice(&[0u8; 2]));
    /// let array = from_buffers(&form, 2, source, Options::default())?;
    /// let offsets = &array.lazy_buffers()[0];
    /// assert_eq!(offsets.get()?.len(), 24); // the bytes, as stored
    /// let err = offsets.get_checked().unwrap_err(); // list 0 ends at 5 of 2
    /// assert_eq!(err.key(), Some("node0-offsets"));
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`LazyBuffer::get`]; [`crate::Error::InvalidData`] naming the key
    /// and the node for values that break the rule.
    pub fn get_checked(&self) -> Result<Buffer> {
        let bytes = self.buf.get()?;
        let same = |w: &WeakBuffer| {
            w.upgrade().is_some_and(|c| {
                c.as_slice().as_ptr() == bytes.as_slice().as_ptr() && c.len() == bytes.len()
            })
        };
        if self.checked.lock().as_ref().is_some_and(same) {
            return Ok(bytes);
        }
        self.rule.check(&self.buf)?;
        *self.checked.lock() = Some(bytes.downgrade());
        Ok(bytes)
    }

    /// Whether the bytes are materialized and alive (in the cache or held
    /// by anyone).
    ///
    /// ```
    /// let events = akbuf::open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))?;
    /// let run = &events.lazy_buffers()[0];
    /// assert!(!run.is_loaded());
    /// run.get()?;
    /// assert!(run.is_loaded()); // the cache holds it
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    pub fn is_loaded(&self) -> bool {
        self.buf.is_loaded()
    }

    /// Drops the buffer from the cache (see [`Array::release`]); returns
    /// whether the cache held it.
    ///
    /// ```
    /// let events = akbuf::open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))?;
    /// let run = &events.lazy_buffers()[0];
    /// run.get()?;
    /// assert!(run.release());
    /// assert!(!run.is_loaded()); // no one else held it: its map is gone
    /// run.get()?; // read again
    /// assert_eq!(events.cache().stats().reads, 2);
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    pub fn release(&self) -> bool {
        let loader = self.buf.loader();
        loader.cache.forget(loader.number, &self.buf.key) > 0
    }
}

impl Array {
    /// Every buffer this array refers to, depth-first, in every partition
    /// (as [`Array::buffers`]), each a handle that reads it on demand.
    /// Reads nothing.
    ///
    /// ```
    /// let events = akbuf::open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))?;
    /// let keys: Vec<String> = events.lazy_buffers().iter().map(|b| b.info().key.clone()).collect();
    /// assert_eq!(keys.len(), events.buffers().len());
    /// assert!(keys.contains(&"node4-offsets".to_string()));
    /// assert_eq!(events.cache().stats().reads, 0);
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    pub fn lazy_buffers(&self) -> Vec<LazyBuffer> {
        let mut out = Vec::new();
        let mut visit = |node: &crate::layout::Node, partition: Option<usize>| {
            node.visit_buffers("", &mut |mut info, buf, data| {
                info.partition = partition;
                let rule = data.structural(info.attribute);
                out.push(LazyBuffer {
                    info,
                    buf: Arc::clone(buf),
                    rule,
                    checked: Arc::new(Mutex::new(None)),
                });
            });
        };
        match &self.parts {
            Some(p) => {
                for (i, _) in p.overlapping(0..p.len()) {
                    if let Ok(a) = p.get(i) {
                        visit(&a.node, Some(i));
                    }
                }
            }
            None => visit(&self.node, None),
        }
        out
    }

    /// [`Array::buffers`], each with its stored size and whether it is
    /// stored at all, asked of the sources where they cannot tell without
    /// a request: a remote container answers with one batch of `HEAD`
    /// requests (sizes it already learnt are not asked again), a local one
    /// from its files. Reads no buffer. A size that stays unknown (a
    /// failed request, a slice's or an Arrow column's buffer, known only
    /// once read) has `present: None`; only a buffer the source says it
    /// lacks has `present: Some(false)`.
    ///
    /// ```
    /// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/events");
    /// let events = akbuf::open(path)?;
    /// let pt = events.field_path("jets.pt")?.stat_buffers();
    /// assert_eq!(pt.len(), 2); // the jets offsets and the pt data
    /// assert!(pt.iter().all(|b| b.present == Some(true) && b.stored_bytes.is_some()));
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    pub fn stat_buffers(&self) -> Vec<BufferInfo> {
        let all = self.lazy_buffers();
        // One batch per source, for the buffers whose size is not known.
        let mut batches: Vec<(&Arc<crate::layout::lazy::Loader>, Vec<usize>)> = Vec::new();
        let mut batch_of = std::collections::HashMap::new();
        for (j, b) in all.iter().enumerate() {
            if b.info.stored_bytes.is_some() {
                continue;
            }
            let loader = b.buf.loader();
            let n = *batch_of
                .entry(Arc::as_ptr(loader) as usize)
                .or_insert_with(|| {
                    batches.push((loader, Vec::new()));
                    batches.len() - 1
                });
            batches[n].1.push(j);
        }
        let mut infos: Vec<BufferInfo> = all.iter().map(|b| b.info.clone()).collect();
        for (loader, mine) in batches {
            let keys: Vec<&str> = mine.iter().map(|&j| &*all[j].buf.key).collect();
            for (&j, size) in mine.iter().zip(loader.source.stat_many(&keys)) {
                let info = &mut infos[j];
                match size {
                    Ok(Some(n)) => (info.stored_bytes, info.present) = (Some(n), Some(true)),
                    Ok(None) => info.present = Some(false),
                    Err(_) => info.present = None,
                }
            }
        }
        infos
    }

    /// Drops this array's buffers from its cache (for an array from
    /// [`Array::field_path`], the buffers of that path: the lists above the
    /// field included; filter [`Array::lazy_buffers`] by
    /// [`BufferInfo::field`] and [`LazyBuffer::release`] them for the
    /// field's own buffers only), so that their
    /// memory is released as soon as no one else holds them; the next touch
    /// reads them again (or revives a buffer someone still holds, without a
    /// read). Returns how many cache entries were dropped.
    ///
    /// ```
    /// use akbuf::{open_with, Cache, Options};
    /// use std::sync::Arc;
    ///
    /// let cache = Arc::new(Cache::new());
    /// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/events");
    /// let events = open_with(path, Options::default().with_cache(Arc::clone(&cache)))?;
    /// let pt = events.field_path("jets.pt")?;
    /// pt.to_json()?; // reads the jets offsets and pt
    /// assert_eq!(pt.release(), 2); // the jets offsets and pt's data
    /// pt.to_json()?;
    /// assert_eq!(cache.stats().reads, 4); // both read once more
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    pub fn release(&self) -> usize {
        self.lazy_buffers()
            .iter()
            .map(|b| {
                let loader = b.buf.loader();
                loader.cache.forget(loader.number, &b.buf.key)
            })
            .sum()
    }
}
