//! The option levels of an imported layout (awkward's `popbuffers`): an
//! Arrow validity bitmap as a `BitMaskedArray`, an `UnmaskedArray` where
//! there is none, options under unions pushed into each content.

#[allow(unused_imports)]
use super::*;

impl Ak {
    pub(super) fn params(&self) -> &Params {
        match self {
            Ak::Numpy { params, .. }
            | Ak::ListOffset { params, .. }
            | Ak::Regular { params, .. }
            | Ak::Record { params, .. }
            | Ak::Union { params, .. }
            | Ak::BitMasked { params, .. }
            | Ak::ByteMasked { params, .. }
            | Ak::Unmasked { params, .. }
            | Ak::Indexed { params, .. }
            | Ak::IndexedOption { params, .. }
            | Ak::Empty { params } => params,
        }
    }

    pub(super) fn with_params(mut self, p: Params) -> Ak {
        match &mut self {
            Ak::Numpy { params, .. }
            | Ak::ListOffset { params, .. }
            | Ak::Regular { params, .. }
            | Ak::Record { params, .. }
            | Ak::Union { params, .. }
            | Ak::BitMasked { params, .. }
            | Ak::ByteMasked { params, .. }
            | Ak::Unmasked { params, .. }
            | Ak::Indexed { params, .. }
            | Ak::IndexedOption { params, .. }
            | Ak::Empty { params } => *params = p,
        }
        self
    }

    /// The length of this layout at the top of an array of `n` arrow
    /// rows: awkward's `RegularArray` of size 0 has length 0.
    pub(crate) fn top_length(&self, n: usize) -> usize {
        match self {
            Ak::Regular { size: 0, .. } => 0,
            Ak::BitMasked { content, .. } | Ak::Unmasked { content, .. } => content.top_length(n),
            _ => n,
        }
    }

    /// `to_IndexedOptionArray64` of an option or indexed node (`length`: its length).
    pub(super) fn into_indexed_option(self, length: usize) -> Ak {
        match self {
            Ak::IndexedOption { .. } => self,
            Ak::Indexed {
                index,
                itype,
                content,
                params,
            } => Ak::IndexedOption {
                index,
                itype,
                content,
                params,
            },
            Ak::Unmasked { content, params } => Ak::IndexedOption {
                index: i64s((0..length).map(|i| i as i64)),
                itype: "i64",
                content,
                params,
            },
            Ak::BitMasked {
                mask,
                length,
                content,
                params,
            } => {
                let index = i64s((0..length).map(|i| match mask[i / 8] >> (i % 8) & 1 {
                    1 => i as i64,
                    _ => -1,
                }));
                Ak::IndexedOption {
                    index,
                    itype: "i64",
                    content,
                    params,
                }
            }
            Ak::ByteMasked {
                mask,
                content,
                params,
            } => {
                // Awkward's ByteMaskedArray here: valid_when=False.
                let index = i64s((0..length).map(|i| if mask[i] == 0 { i as i64 } else { -1 }));
                Ak::IndexedOption {
                    index,
                    itype: "i64",
                    content,
                    params,
                }
            }
            other => other,
        }
    }

    /// `UnmaskedArray.simplified(self, parameters)` (`length`: this node's).
    pub(super) fn unmasked_simplified(self, params: Params, length: usize) -> Ak {
        match self {
            Ak::Union {
                tags,
                index,
                contents,
                lengths,
                params: own,
            } => {
                let contents = contents
                    .into_iter()
                    .zip(&lengths)
                    .map(|(c, &n)| c.unmasked_simplified(None, n))
                    .collect();
                Ak::Union {
                    tags,
                    index,
                    contents,
                    lengths,
                    params: merged(&own, &params),
                }
            }
            Ak::Unmasked { .. } => {
                let p = merged(self.params(), &params);
                self.with_params(p)
            }
            c @ (Ak::Indexed { .. }
            | Ak::IndexedOption { .. }
            | Ak::BitMasked { .. }
            | Ak::ByteMasked { .. }) => {
                let p = merged(c.params(), &params);
                c.into_indexed_option(length).with_params(p)
            }
            other => Ak::Unmasked {
                content: Box::new(other),
                params,
            },
        }
    }
}

impl Ak {
    /// Whether this node is option-type.
    pub(super) fn is_option(&self) -> bool {
        matches!(
            self,
            Ak::IndexedOption { .. }
                | Ak::BitMasked { .. }
                | Ak::ByteMasked { .. }
                | Ak::Unmasked { .. }
        )
    }

    /// `BitMaskedArray.simplified(mask, union)`: a union cannot be under
    /// an option, so the option goes into its contents (awkward's
    /// `UnionArray._union_of_optionarrays`): a missing entry becomes one
    /// past the end of the first option content (or the first content),
    /// which gets an `IndexedOptionArray` with a missing entry there; the
    /// other contents become options as `UnmaskedArray.simplified` makes
    /// them. `self` must be a union.
    pub(super) fn union_of_options(self, bits: &Buffer, length: usize, params: Params) -> Ak {
        let Ak::Union {
            tags,
            index,
            contents,
            lengths,
            params: own,
        } = self
        else {
            return self;
        };
        let valid = |i: usize| bits.get(i / 8).is_some_and(|b| b >> (i % 8) & 1 == 1);
        let missing_tag = contents.iter().position(Ak::is_option).unwrap_or(0);
        let old_index = index_i64(&index, "i64");
        let mut next_tags = Vec::with_capacity(length);
        let mut next_index = Vec::with_capacity(length);
        for i in 0..length {
            if valid(i) && i < tags.len() {
                next_tags.push(tags[i] as i8);
                next_index.push(old_index.get(i).copied().unwrap_or(0));
            } else {
                next_tags.push(missing_tag as i8);
                next_index.push(lengths.get(missing_tag).copied().unwrap_or(0) as i64);
            }
        }
        let contents = contents
            .into_iter()
            .zip(&lengths)
            .enumerate()
            .map(|(tag, (c, &n))| {
                if tag != missing_tag {
                    return c.unmasked_simplified(None, n);
                }
                // IndexedOptionArray.simplified(arange(n) + [-1], c).
                match c.is_option() || matches!(c, Ak::Indexed { .. }) {
                    true => match c.into_indexed_option(n) {
                        Ak::IndexedOption {
                            index,
                            itype,
                            content,
                            params,
                        } => {
                            let mut composed = index_i64(&index, itype);
                            composed.truncate(n);
                            composed.push(-1);
                            Ak::IndexedOption {
                                index: i64s(composed.into_iter()),
                                itype: "i64",
                                content,
                                params,
                            }
                        }
                        other => other,
                    },
                    false => Ak::IndexedOption {
                        index: i64s((0..n as i64).chain([-1])),
                        itype: "i64",
                        content: Box::new(c),
                        params: None,
                    },
                }
            })
            .collect();
        Ak::Union {
            tags: Buffer::from_slice(&next_tags),
            index: i64s(next_index.into_iter()),
            contents,
            lengths: lengths
                .iter()
                .enumerate()
                .map(|(t, &n)| if t == missing_tag { n + 1 } else { n })
                .collect(),
            params: merged(&own, &params),
        }
    }
}
