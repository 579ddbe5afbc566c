//! `Len`: a node's length, computed once from the rule that makes it (a
//! parent's offsets, an index's maximum, a size times a count), and blamed
//! on the buffer it comes from; `UnionLens`: a union's contents' lengths
//! from its tags and index, in one pass.

#[allow(unused_imports)]
use super::*;

/// How a derived length is computed.
pub(crate) enum LenRule {
    /// Set at construction.
    Known,
    /// `parent * factor` (RegularArray content, NumpyArray data with inner shape).
    Mul(Arc<Len>, usize),
    /// `parent + 1` (offsets).
    Plus1(Arc<Len>),
    /// `ceil(parent / 8)` (bit masks).
    Bits(Arc<Len>),
    /// ListOffsetArray content: `0` if `L == 0`, else `offsets[L]`.
    OffsetsLast(Arc<Len>, Arc<LazyBuf>),
    /// ListArray content: `max(stops[starts != stops])`, 0 if none.
    Stops(Arc<LazyBuf>, Arc<LazyBuf>),
    /// Indexed(Option)Array content: `max(index) + 1`, at least 0.
    IndexMax(Arc<LazyBuf>),
    /// UnionArray content `i`.
    UnionContent(Arc<UnionLens>, usize),
}

/// A length computed once, on first use.
pub(crate) struct Len {
    cell: OnceCell<usize>,
    rule: LenRule,
    node: NodeInfo,
}

impl Len {
    pub(crate) fn known(n: usize, node: NodeInfo) -> Arc<Len> {
        Arc::new(Len {
            cell: OnceCell::with_value(n),
            rule: LenRule::Known,
            node,
        })
    }

    pub(crate) fn derived(rule: LenRule, node: NodeInfo) -> Arc<Len> {
        Arc::new(Len {
            cell: OnceCell::new(),
            rule,
            node,
        })
    }

    /// The length if already known, without any read.
    pub(crate) fn peek(&self) -> Option<usize> {
        self.cell.get().copied()
    }

    /// Whether the length can be computed without a read from a source:
    /// it is known, or its rule needs only lengths that can be and buffers
    /// the cache holds.
    pub(crate) fn ready(&self) -> bool {
        if self.cell.get().is_some() {
            return true;
        }
        match &self.rule {
            LenRule::Known => true,
            LenRule::Mul(p, _) | LenRule::Plus1(p) | LenRule::Bits(p) => p.ready(),
            LenRule::OffsetsLast(p, offsets) => p.ready() && offsets.held(),
            LenRule::Stops(starts, stops) => starts.held() && stops.held(),
            LenRule::IndexMax(index) => index.held(),
            LenRule::UnionContent(lens, _) => {
                lens.cell.get().is_some() || (lens.tags.held() && lens.index.held())
            }
        }
    }

    /// Sets a list content's length from `offsets[n]`, read alone by a
    /// caller (`value`), when this length's rule is exactly that: the last
    /// offset of these offsets, `n` being the list's length. Any other
    /// rule, or a length already known, is left alone.
    pub(crate) fn offer_last(&self, offsets: &LazyBuf, n: usize, value: i64) {
        if let LenRule::OffsetsLast(parent, o) = &self.rule {
            if std::ptr::eq(Arc::as_ptr(o), offsets) && parent.peek() == Some(n) {
                if let Ok(len) = usize::try_from(if n == 0 { 0 } else { value }) {
                    let _ = self.cell.set(len);
                }
            }
        }
    }

    /// The length, reading parent buffers if needed.
    pub(crate) fn get(&self) -> Result<usize> {
        self.cell.get_or_try_init(|| self.compute()).copied()
    }

    /// The buffer whose values set this length, if any (offsets, stops,
    /// an index), through the rules that scale it.
    pub(crate) fn origin(&self) -> Option<&LazyBuf> {
        match &self.rule {
            LenRule::Known => None,
            LenRule::Mul(p, _) | LenRule::Plus1(p) | LenRule::Bits(p) => p.origin(),
            LenRule::OffsetsLast(_, b) | LenRule::Stops(_, b) | LenRule::IndexMax(b) => Some(b),
            LenRule::UnionContent(lens, _) => Some(&lens.index),
        }
    }

    /// A derived length that does not fit in memory: blamed on the buffer
    /// it comes from when there is one.
    fn overflow(&self, parent: usize, what: &str) -> Error {
        match self.origin() {
            Some(o) => o.node.invalid(
                &o.key,
                format!(
                    "its values give {} at {} a length of {parent} {what}, which overflows",
                    self.node.class, self.node.path
                ),
            ),
            None => Error::Length {
                node: self.node.path.to_string(),
                class: self.node.class,
                expected: format!("a length whose {what} fits in memory"),
                actual: parent,
            },
        }
    }

    fn compute(&self) -> Result<usize> {
        match &self.rule {
            LenRule::Known => Ok(0),
            LenRule::Mul(parent, k) => {
                let n = parent.get()?;
                n.checked_mul(*k)
                    .ok_or_else(|| self.overflow(n, &format!("times {k}")))
            }
            LenRule::Plus1(parent) => {
                let n = parent.get()?;
                n.checked_add(1).ok_or_else(|| self.overflow(n, "plus one"))
            }
            LenRule::Bits(parent) => Ok(parent.get()?.div_ceil(8)),
            LenRule::OffsetsLast(parent_len, offsets) => {
                let n = parent_len.get()?;
                if n == 0 {
                    return Ok(0);
                }
                let off = offsets.index()?;
                let last = off.get(n);
                usize::try_from(last).map_err(|_| {
                    offsets.node.invalid(
                        &offsets.key,
                        format!("last offset offsets[{n}] = {last} is negative"),
                    )
                })
            }
            LenRule::Stops(starts, stops) => {
                let (a, b) = (starts.index()?, stops.index()?);
                let mut max = 0i64;
                for i in 0..a.len().min(b.len()) {
                    let (s, e) = (a.get(i), b.get(i));
                    if s != e && e > max {
                        max = e;
                    }
                }
                Ok(max as usize)
            }
            LenRule::IndexMax(index) => {
                let idx = index.index()?;
                let max = (0..idx.len()).map(|i| idx.get(i)).max().unwrap_or(-1);
                Ok(usize::try_from(max.saturating_add(1)).unwrap_or(0))
            }
            LenRule::UnionContent(lens, i) => Ok(lens.get()?.get(*i).copied().unwrap_or(0)),
        }
    }
}

/// Lengths of all contents of a union, computed in one pass over tags and index.
pub(crate) struct UnionLens {
    cell: OnceCell<Vec<usize>>,
    tags: Arc<LazyBuf>,
    index: Arc<LazyBuf>,
    n: usize,
}

impl UnionLens {
    pub(crate) fn new(tags: Arc<LazyBuf>, index: Arc<LazyBuf>, n: usize) -> Arc<UnionLens> {
        Arc::new(UnionLens {
            cell: OnceCell::new(),
            tags,
            index,
            n,
        })
    }

    fn get(&self) -> Result<&Vec<usize>> {
        self.cell.get_or_try_init(|| {
            let (tags, index) = (self.tags.index()?, self.index.index()?);
            let mut lens = vec![0usize; self.n];
            for i in 0..tags.len().min(index.len()) {
                let t = tags.get(i);
                let j = index.get(i);
                if t >= 0 && (t as usize) < self.n && j >= 0 {
                    let need = (j as usize).saturating_add(1);
                    let slot = &mut lens[t as usize];
                    if need > *slot {
                        *slot = need;
                    }
                }
            }
            Ok(lens)
        })
    }
}
