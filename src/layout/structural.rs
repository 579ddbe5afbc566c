//! What a structural buffer (offsets, starts and stops, an index, tags)
//! must satisfy before a reader that trusts it (awkward's `from_buffers`
//! over akbuf's buffers) indexes with it: every list within its content,
//! every index and tag within what it selects. akbuf's own views check
//! each access; a buffer handed out whole is checked once, here, one rule
//! per class.
//!
//! The contents' lengths are awkward's and akbuf's derived ones (the last
//! offset, the largest stop of a non-empty list, the largest index plus
//! one), so a list that ends past its content can only be one that ends
//! past the last offset: the checks below are what remains.

use super::lazy::{Index, LazyBuf, NodeInfo};
use super::NodeData;
use crate::error::Result;
use std::sync::Arc;

/// The rule a buffer's values obey, from its node's class.
#[derive(Clone)]
pub(crate) enum Structural {
    /// Data and masks: any value is valid.
    Free,
    /// A `ListOffsetArray`'s offsets: the first ≥ 0, none decreasing.
    Offsets,
    /// A `ListArray`'s starts and stops (checked together): where a list
    /// is not empty, `0 ≤ start ≤ stop`.
    Bounds {
        starts: Arc<LazyBuf>,
        stops: Arc<LazyBuf>,
    },
    /// An `IndexedArray`'s index: every entry ≥ 0 (an option's may be
    /// negative: missing).
    Index,
    /// A `UnionArray`'s tags and index (checked together): every tag
    /// names a content, every index ≥ 0.
    Union {
        tags: Arc<LazyBuf>,
        index: Arc<LazyBuf>,
        contents: usize,
    },
}

impl NodeData {
    /// The rule of this node's buffer `attribute`.
    pub(crate) fn structural(&self, attribute: &str) -> Structural {
        match (self, attribute) {
            (NodeData::ListOffset { .. }, "offsets") => Structural::Offsets,
            (NodeData::List { starts, stops, .. }, _) => Structural::Bounds {
                starts: Arc::clone(starts),
                stops: Arc::clone(stops),
            },
            (NodeData::Indexed { .. }, "index") => Structural::Index,
            (
                NodeData::Union {
                    tags,
                    index,
                    contents,
                },
                _,
            ) => Structural::Union {
                tags: Arc::clone(tags),
                index: Arc::clone(index),
                contents: contents.len(),
            },
            _ => Structural::Free,
        }
    }
}

/// How many values a vectorized pass takes at a time before it looks
/// closer (the exact position is searched only in a chunk that fails).
const STEP: usize = 4096;

/// From this many values on, a check runs on several threads.
const PARALLEL_FROM: usize = 1 << 20;

/// `find` over `v` in parts on the available cores when `v` is large (each
/// part overlapping the next by `overlap` values), the first hit of all.
fn split<T: Sync>(
    v: &[T],
    overlap: usize,
    find: impl Fn(&[T]) -> Option<usize> + Sync,
) -> Option<usize> {
    let cores = crate::sys::cores().min(8);
    if v.len() < PARALLEL_FROM || cores < 2 {
        return find(v);
    }
    let step = v.len().div_ceil(cores);
    std::thread::scope(|s| {
        let parts: Vec<_> = (0..v.len())
            .step_by(step)
            .map(|start| {
                let part = &v[start..(start + step + overlap).min(v.len())];
                let find = &find;
                s.spawn(move || find(part).map(|i| start + i))
            })
            .collect();
        parts
            .into_iter()
            .filter_map(|p| p.join().ok().flatten())
            .min()
    })
}

/// The first `i` with `v[i] > v[i + 1]`: chunks checked by a pass the
/// compiler vectorizes (no early exit inside a chunk), large buffers on
/// several threads.
fn first_descent<T: PartialOrd + Copy + Sync>(v: &[T]) -> Option<usize> {
    split(v, 1, descent)
}

fn descent<T: PartialOrd + Copy>(v: &[T]) -> Option<usize> {
    let mut start = 0;
    while start + 1 < v.len() {
        let end = (start + STEP + 1).min(v.len());
        let chunk = &v[start..end];
        if !chunk.windows(2).fold(true, |ok, w| ok & (w[0] <= w[1])) {
            return chunk
                .windows(2)
                .position(|w| w[0] > w[1])
                .map(|p| start + p);
        }
        start = end - 1;
    }
    None
}

/// The first `i` with `bad(v[i])`, by vectorized chunks as above.
fn first_bad<T: Copy + Sync>(v: &[T], bad: impl Fn(T) -> bool + Sync) -> Option<usize> {
    split(v, 0, |part| bad_in(part, &bad))
}

fn bad_in<T: Copy>(v: &[T], bad: &impl Fn(T) -> bool) -> Option<usize> {
    v.chunks(STEP).enumerate().find_map(|(k, chunk)| {
        if chunk.iter().fold(false, |any, &x| any | bad(x)) {
            chunk.iter().position(|&x| bad(x)).map(|p| k * STEP + p)
        } else {
            None
        }
    })
}

/// An index value of any index type, widened.
trait Wide: Copy {
    fn wide(self) -> i64;
}

macro_rules! wide {
    ($($t:ty),*) => {$(
        impl Wide for $t {
            fn wide(self) -> i64 {
                i64::from(self)
            }
        }
    )*};
}
wide!(i8, u8, i32, u32, i64);

/// An expression over the typed slice of `index` (one match, not one per
/// value).
macro_rules! typed {
    ($index:expr, $v:ident => $body:expr) => {
        match $index {
            Index::I8(b) => {
                let $v = &b[..];
                $body
            }
            Index::U8(b) => {
                let $v = &b[..];
                $body
            }
            Index::I32(b) => {
                let $v = &b[..];
                $body
            }
            Index::U32(b) => {
                let $v = &b[..];
                $body
            }
            Index::I64(b) => {
                let $v = &b[..];
                $body
            }
        }
    };
}

impl Structural {
    /// Checks the buffer `buf` by this rule (errors name it and its node),
    /// reading the sibling it is checked with if any.
    pub(crate) fn check(&self, buf: &LazyBuf) -> Result<()> {
        let node = &buf.node;
        match self {
            Structural::Free => Ok(()),
            Structural::Offsets => offsets(&buf.index()?, &buf.key, node),
            Structural::Index => {
                let index = buf.index()?;
                let bad = typed!(&index, v => first_bad(v, |i| i.wide() < 0));
                match bad {
                    Some(i) => Err(node.invalid(
                        &buf.key,
                        format!("index[{i}] = {} is negative in an IndexedArray (only an option's index may be)", index.get(i)),
                    )),
                    None => Ok(()),
                }
            }
            Structural::Bounds { starts, stops } => {
                bounds(&starts.index()?, &stops.index()?, starts, stops, node)
            }
            Structural::Union {
                tags,
                index,
                contents,
            } => union(
                &tags.index()?,
                &index.index()?,
                *contents,
                tags,
                index,
                node,
            ),
        }
    }
}

fn offsets(off: &Index, key: &str, node: &NodeInfo) -> Result<()> {
    if off.len() == 0 {
        return Ok(());
    }
    let first = off.get(0);
    if first < 0 {
        return Err(node.invalid(key, format!("offsets[0] = {first} is negative")));
    }
    let bad = typed!(off, v => first_descent(v));
    let Some(i) = bad else { return Ok(()) };
    let (at, next, last) = (off.get(i), off.get(i + 1), off.get(off.len() - 1));
    let message = if i > 0 && at > last {
        format!(
            "list {} ends at offsets[{i}] = {at}, past the content's length {last} (offsets[{}] = {next})",
            i - 1,
            i + 1
        )
    } else {
        format!(
            "offsets go backwards at {i}: offsets[{i}] = {at} > offsets[{}] = {next}",
            i + 1
        )
    };
    Err(node.invalid(key, message))
}

fn bounds(a: &Index, b: &Index, starts: &LazyBuf, stops: &LazyBuf, node: &NodeInfo) -> Result<()> {
    for i in 0..a.len().min(b.len()) {
        let (s, e) = (a.get(i), b.get(i));
        if s == e {
            continue;
        }
        if s < 0 {
            return Err(node.invalid(&starts.key, format!("starts[{i}] = {s} is negative")));
        }
        if s > e {
            return Err(node.invalid(
                &stops.key,
                format!("list {i}: starts[{i}] = {s} > stops[{i}] = {e}"),
            ));
        }
    }
    Ok(())
}

fn union(
    t: &Index,
    x: &Index,
    contents: usize,
    tags: &LazyBuf,
    index: &LazyBuf,
    node: &NodeInfo,
) -> Result<()> {
    let n = contents as i64;
    if let Some(i) = typed!(t, v => first_bad(v, |k| k.wide() < 0 || k.wide() >= n)) {
        return Err(node.invalid(
            &tags.key,
            format!(
                "tags[{i}] = {} names no content (there are {contents})",
                t.get(i)
            ),
        ));
    }
    if let Some(i) = typed!(x, v => first_bad(v, |k| k.wide() < 0)) {
        return Err(node.invalid(&index.key, format!("index[{i}] = {} is negative", x.get(i))));
    }
    Ok(())
}
