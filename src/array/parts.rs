//! Partitioned arrays: one array over many pieces of one form (awkward 1.x's
//! partitioned containers, packed partitions). Each partition is an array of
//! its own, made when first touched; an array over partitions keeps only
//! their lengths and a zero-length array of the same form for its type.

use super::Array;
use crate::error::{Error, Result};
use crate::value::Value;
use once_cell::sync::OnceCell;
use std::sync::Arc;

/// Makes partition `i`'s array (its root, before any field projection).
pub(crate) type MakePart = Box<dyn Fn(usize) -> Result<Array> + Send + Sync>;

/// What all the projections of one partitioned array share.
pub(crate) struct PartsBase {
    lengths: Vec<usize>,
    /// `starts[i]`: the first row of partition `i`; `starts[n]`: the length.
    starts: Vec<usize>,
    roots: Box<[OnceCell<Array>]>,
    make: MakePart,
}

/// An array's partitions, and the fields taken since (applied to each
/// partition when it is made).
#[derive(Clone)]
pub(crate) struct Parts {
    base: Arc<PartsBase>,
    path: Arc<[Step]>,
}

/// One step taken since the partitions' root: a field, or a selection of
/// a record's fields.
#[derive(Clone, Debug)]
pub(crate) enum Step {
    Field(String),
    Select(Vec<String>),
}

impl std::fmt::Debug for Parts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parts")
            .field("lengths", &self.base.lengths.len())
            .field("path", &self.path)
            .finish()
    }
}

impl Parts {
    /// Partitions of these lengths, each made by `make` when first touched.
    pub(crate) fn new(lengths: Vec<usize>, make: MakePart) -> Result<Parts> {
        let mut starts = Vec::with_capacity(lengths.len() + 1);
        let mut total = 0usize;
        starts.push(0);
        for &n in &lengths {
            total = total
                .checked_add(n)
                .ok_or_else(|| Error::Argument("the partitions' lengths overflow".into()))?;
            starts.push(total);
        }
        let roots = (0..lengths.len()).map(|_| OnceCell::new()).collect();
        Ok(Parts {
            base: Arc::new(PartsBase {
                lengths,
                starts,
                roots,
                make,
            }),
            path: Arc::from(Vec::new()),
        })
    }

    /// The same partitions, one field deeper.
    pub(crate) fn field(&self, name: &str) -> Parts {
        self.step(Step::Field(name.to_string()))
    }

    /// The same partitions, with only these fields of the record.
    pub(crate) fn select(&self, names: &[String]) -> Parts {
        self.step(Step::Select(names.to_vec()))
    }

    fn step(&self, step: Step) -> Parts {
        let mut path = self.path.to_vec();
        path.push(step);
        Parts {
            base: Arc::clone(&self.base),
            path: Arc::from(path),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.base.starts[self.base.lengths.len()]
    }

    pub(crate) fn count(&self) -> usize {
        self.base.lengths.len()
    }

    pub(crate) fn lengths(&self) -> &[usize] {
        &self.base.lengths
    }

    /// Partition `i` (its array, with this array's fields taken).
    pub(crate) fn get(&self, i: usize) -> Result<Array> {
        let n = self.count();
        let cell = self.base.roots.get(i).ok_or_else(|| {
            Error::Argument(format!(
                "partition {i} out of range: the array has {n} partitions"
            ))
        })?;
        let mut a = cell.get_or_try_init(|| (self.base.make)(i))?.clone();
        for step in self.path.iter() {
            a = match step {
                Step::Field(f) => a.field(f)?,
                Step::Select(names) => a.select(names)?,
            };
        }
        Ok(a)
    }

    /// The partition holding row `row`, and the row within it.
    pub(crate) fn locate(&self, row: usize) -> Option<(usize, usize)> {
        if row >= self.len() {
            return None;
        }
        // The last partition starting at or before `row` that is not empty.
        let p = self.base.starts.partition_point(|&s| s <= row) - 1;
        Some((p, row - self.base.starts[p]))
    }

    /// The partitions overlapping `rows`, each with its rows in local numbers.
    pub(crate) fn overlapping(
        &self,
        rows: std::ops::Range<usize>,
    ) -> impl Iterator<Item = (usize, std::ops::Range<usize>)> + '_ {
        let starts = &self.base.starts;
        (0..self.count()).filter_map(move |p| {
            let (a, b) = (starts[p], starts[p + 1]);
            let (lo, hi) = (rows.start.max(a), rows.end.min(b));
            (lo < hi).then(|| (p, lo - a..hi - a))
        })
    }
}

/// Iterates a partitioned array's elements, partition by partition.
pub(crate) struct PartsIter {
    parts: Parts,
    next: usize,
    current: std::vec::IntoIter<Result<Value>>,
}

impl PartsIter {
    pub(crate) fn new(parts: Parts) -> PartsIter {
        PartsIter {
            parts,
            next: 0,
            current: Vec::new().into_iter(),
        }
    }
}

impl Iterator for PartsIter {
    type Item = Result<Value>;
    fn next(&mut self) -> Option<Result<Value>> {
        loop {
            if let Some(v) = self.current.next() {
                return Some(v);
            }
            if self.next >= self.parts.count() {
                return None;
            }
            let p = self.next;
            self.next += 1;
            if self.parts.lengths()[p] == 0 {
                continue; // never read
            }
            let values: Vec<Result<Value>> = match self.parts.get(p) {
                Ok(a) => match a.iter() {
                    Ok(it) => it.collect(),
                    Err(e) => vec![Err(e)],
                },
                Err(e) => vec![Err(e)],
            };
            self.current = values.into_iter();
        }
    }
}

use crate::buffer::ByteOrder;
use crate::cache::Cache;
use crate::form::Form;
use crate::layout::lazy::Loader;
use crate::layout::{BuildCtx, Node};
use crate::options::Options;
use crate::source::Source;

/// Serves every key as a few zero bytes: enough for a zero-length array of
/// any form (one zero offset of any width; every other buffer empty).
struct Zeros;

impl Source for Zeros {
    fn read(&self, _key: &str) -> Result<Option<crate::buffer::Buffer>> {
        Ok(Some(crate::buffer::Buffer::from_slice(&[0u64; 2])))
    }
    fn describe(&self) -> String {
        String::from("an empty partition")
    }
}

fn zeros_loader() -> Arc<Loader> {
    Arc::new(Loader::new(
        Arc::new(Zeros),
        Arc::new(Cache::unsharded()),
        false,
    ))
}

/// A zero-length layout of `form`, over no stored bytes.
pub(crate) fn empty_node(form: &Arc<Form>, zeros: &Arc<Loader>) -> Result<Arc<Node>> {
    let ctx = Arc::new(BuildCtx {
        loader: Arc::clone(zeros),
        byteorder: ByteOrder::native(),
        buffer_key: crate::options::BufferKey::default(),
        caching: Default::default(),
        known: None,
    });
    Node::build_root(form, 0, &ctx)
}

impl Array {
    /// A partitioned array over `source`: one form, partitions of these
    /// lengths, numbered from `first` in the buffer keys (`{partition}` in
    /// the options' template; a template without it is refused when there
    /// are several partitions). Reads nothing and makes no partition:
    /// each is made when first touched.
    ///
    /// ```
    /// use akbuf::{Array, Buffer, BufferKey, Form, MemorySource, Options};
    /// use std::sync::Arc;
    ///
    /// let form = Arc::new(Form::from_json(r#"{"class": "NumpyArray", "primitive": "int64", "form_key": "node0"}"#)?);
    /// let source = MemorySource::new()
    ///     .with("part0-node0-data", Buffer::from_slice(&[1i64, 2]))
    ///     .with("part2-node0-data", Buffer::from_slice(&[3i64]));
    /// let opts = Options::default().with_buffer_key(BufferKey::template("part{partition}-{form_key}-{attribute}")?);
    /// let a = Array::partitioned(form, vec![2, 0, 1], 0, Arc::new(source), opts)?;
    /// assert_eq!((a.len(), a.num_partitions()), (3, 3));
    /// assert_eq!(a.to_json()?, "[1,2,3]"); // the empty partition is never read
    /// assert_eq!(a.partition(2)?.to_json()?, "[3]");
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Layout`] for a form that breaks a class's rules;
    /// [`Error::Argument`] for a template that cannot tell partitions apart.
    pub fn partitioned(
        form: Arc<Form>,
        lengths: Vec<usize>,
        first: usize,
        source: Arc<dyn Source>,
        options: Options,
    ) -> Result<Array> {
        if first.checked_add(lengths.len()).is_none() {
            return Err(Error::Argument(format!(
                "partitions numbered from {first}: {} of them overflow the numbering",
                lengths.len()
            )));
        }
        if lengths.len() > 1 && !options.buffer_key.has_partition() {
            return Err(Error::Argument(format!(
                "a partitioned array's buffer keys need {{partition}}: {:?} gives every partition the same keys",
                options.buffer_key
            )));
        }
        let shared = options.cache.is_some();
        let cache = options
            .cache
            .clone()
            .unwrap_or_else(|| Arc::new(Cache::unsharded()));
        let loader = Arc::new(Loader::new(source, cache, shared));
        let (byteorder, buffer_key, caching) = (
            options.byteorder,
            options.buffer_key.clone(),
            options.caching.clone(),
        );
        let zeros = zeros_loader();
        // The type's layout: zero rows over no stored bytes, never read.
        let template = empty_node(&form, &zeros)?;
        let (make_loader, lens) = (Arc::clone(&loader), lengths.clone());
        let make: MakePart = Box::new(move |i| {
            if lens[i] == 0 {
                // Empty partitions are never read (awkward 1 may not even
                // have written their keys).
                return Ok(Array {
                    node: empty_node(&form, &zeros)?,
                    loader: Arc::clone(&make_loader),
                    placement: crate::device::Placement::Host,
                    parts: None,
                    origin: None,
                });
            }
            let ctx = Arc::new(BuildCtx {
                loader: Arc::clone(&make_loader),
                byteorder,
                buffer_key: buffer_key.for_partition(first + i),
                caching: caching.clone(),
                known: None,
            });
            let node = Node::build_root(&form, lens[i], &ctx)?;
            Ok(Array {
                node,
                loader: Arc::clone(&make_loader),
                placement: crate::device::Placement::Host,
                parts: None,
                origin: None,
            })
        });
        Ok(Array {
            node: template,
            loader,
            placement: crate::device::Placement::Host,
            parts: Some(Parts::new(lengths, make)?),
            origin: None,
        })
    }

    /// An array over arrays of one form, in order (made lazily, each by
    /// `make(i)` when first touched): packed partitions, datasets.
    pub(crate) fn from_parts(
        template: Array,
        lengths: Vec<usize>,
        make: MakePart,
    ) -> Result<Array> {
        Ok(Array {
            parts: Some(Parts::new(lengths, make)?),
            ..template
        })
    }

    /// A zero-length array of this array's form, over no stored bytes.
    pub(crate) fn partition_template(&self) -> Array {
        Array {
            parts: None,
            origin: None,
            ..self.clone()
        }
    }

    /// Whether this array is made of partitions.
    pub fn is_partitioned(&self) -> bool {
        self.parts.is_some()
    }

    /// The number of partitions (1 for an array of one piece).
    pub fn num_partitions(&self) -> usize {
        self.parts.as_ref().map_or(1, Parts::count)
    }

    /// The partitions' lengths (one length for an array of one piece).
    pub fn partition_lengths(&self) -> Vec<usize> {
        match &self.parts {
            Some(p) => p.lengths().to_vec(),
            None => vec![self.len()],
        }
    }

    /// Partition `i`: an array of one piece (made on first use; reads nothing).
    /// An array of one piece is its own partition 0.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] past the last partition; layout errors of the
    /// partition's length.
    pub fn partition(&self, i: usize) -> Result<Array> {
        match &self.parts {
            Some(p) => self.placed(p.get(i)?),
            None if i == 0 => Ok(self.clone()),
            None => Err(Error::Argument(format!(
                "partition {i} out of range: the array has 1 partition"
            ))),
        }
    }

    /// Every partition, in order (see [`Array::partition`]).
    ///
    /// # Errors
    ///
    /// As [`Array::partition`].
    pub fn partitions(&self) -> Result<Vec<Array>> {
        (0..self.num_partitions())
            .map(|i| self.partition(i))
            .collect()
    }
}
