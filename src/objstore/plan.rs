//! A batch of reads planned as requests: ranges of one object merged
//! (`coalesce`) and cut apart again (`cut`); the memory a large read lands in.

use super::Fetch;
use crate::buffer::Buffer;
use crate::error::Result;
use crate::source::Want;
use std::collections::HashMap;
use std::ops::Range;

/// The memory a large read lands in: an anonymous map of its own (given
/// back at drop), in huge pages where the kernel offers them (a 1 GiB
/// read then takes 512 page faults instead of 262,144).
pub(crate) fn destination(len: usize) -> std::io::Result<memmap2::MmapMut> {
    let map = memmap2::MmapMut::map_anon(len)?;
    #[cfg(target_os = "linux")]
    {
        // Advice only: refused, the map works with small pages.
        let _ = map.advise(memmap2::Advice::HugePage);
    }
    Ok(map)
}

/// The bytes of `want` out of a merged response that starts at `base`. A
/// piece under half of the response is copied out, so that a small buffer
/// never keeps a large response alive uncounted; a larger one shares it,
/// holding at most twice the bytes a budget charges it for.
pub(crate) fn cut(parent: &Buffer, base: usize, want: &Range<usize>) -> Result<Buffer> {
    let start = (want.start - base).min(parent.len());
    let stop = (want.end - base).clamp(start, parent.len());
    let piece = parent.slice(start, stop - start)?;
    if piece.len() * 2 < parent.len() {
        return Ok(Buffer::copy_from_slice(piece.as_slice()));
    }
    Ok(piece)
}

/// One request of a batch.
#[derive(Debug, PartialEq)]
pub(crate) enum Job<'a> {
    /// Request `r` of the batch, alone.
    One(usize),
    /// One ranged request of `key` covering the ranges of `members`.
    Merged {
        key: &'a str,
        range: Range<usize>,
        members: Vec<usize>,
    },
}

/// Plans a batch: every non-range request alone; the ranges of each key
/// sorted and merged while the gap to the next is at most `fetch.gap` and
/// the merged request at most `fetch.max_request` (a single range larger
/// than that is still one job, split into parts when fetched).
pub(crate) fn coalesce<'a>(requests: &[(&'a str, Want)], fetch: &Fetch) -> Vec<Job<'a>> {
    let mut jobs = Vec::new();
    let mut ranges: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, (key, want)) in requests.iter().enumerate() {
        match want {
            Want::Range(_) => ranges.entry(key).or_default().push(i),
            _ => jobs.push(Job::One(i)),
        }
    }
    let mut keys: Vec<_> = ranges.into_iter().collect();
    keys.sort_by_key(|(_, members)| members[0]);
    let range_of = |i: usize| match &requests[i].1 {
        Want::Range(r) => r.clone(),
        _ => 0..0,
    };
    for (key, mut members) in keys {
        members.sort_by_key(|&i| (range_of(i).start, range_of(i).end));
        let mut current: Option<(Range<usize>, Vec<usize>)> = None;
        for m in members {
            let r = range_of(m);
            current = match current {
                Some((span, mut group))
                    if r.start <= span.end.saturating_add(fetch.gap)
                        && r.end.max(span.end) - span.start <= fetch.max_request =>
                {
                    group.push(m);
                    Some((span.start..span.end.max(r.end), group))
                }
                Some((span, group)) => {
                    jobs.push(Job::Merged {
                        key,
                        range: span,
                        members: group,
                    });
                    Some((r, vec![m]))
                }
                None => Some((r, vec![m])),
            };
        }
        if let Some((span, group)) = current {
            jobs.push(Job::Merged {
                key,
                range: span,
                members: group,
            });
        }
    }
    jobs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetch(gap: usize, max: usize) -> Fetch {
        Fetch {
            gap,
            max_request: max,
            ..Fetch::default()
        }
    }

    #[test]
    fn coalescing_merges_close_ranges_of_one_key() {
        let reqs = [
            ("a", Want::Range(100..200)),
            ("b", Want::All),
            ("a", Want::Range(0..50)),
            ("a", Want::Range(10_000..10_100)),
            ("a", Want::Range(250..300)),
        ];
        let jobs = coalesce(&reqs, &fetch(64, 1 << 20));
        assert_eq!(
            jobs,
            vec![
                Job::One(1),
                Job::Merged {
                    key: "a",
                    range: 0..300,
                    members: vec![2, 0, 4]
                },
                Job::Merged {
                    key: "a",
                    range: 10_000..10_100,
                    members: vec![3]
                },
            ]
        );
        // A request size limit splits what the gap would merge.
        let jobs = coalesce(&reqs, &fetch(64, 200));
        assert_eq!(jobs.len(), 4, "{jobs:?}");
    }

    #[test]
    fn small_cuts_are_copied_out() {
        let parent = Buffer::from_vec((0u8..100).collect());
        let small = cut(&parent, 1000, &(1010..1020)).unwrap();
        assert_eq!(small.as_slice(), &(10u8..20).collect::<Vec<_>>()[..]);
        assert_ne!(small.as_slice().as_ptr(), parent.as_slice()[10..].as_ptr());
        let big = cut(&parent, 1000, &(1000..1090)).unwrap();
        assert_eq!(big.as_slice().as_ptr(), parent.as_slice().as_ptr());
    }
}
