//! `Key`: a form key as a node keeps it. Keys are short (`node1234`) and a
//! form of thousands of nodes is made on every open: up to 22 bytes are
//! kept inline, with no allocation; longer ones on the heap.

use std::fmt;

/// The most bytes kept inline.
const INLINE: usize = 22;

/// A form key (see the module docs); as big as a `String`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Key {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl Key {
    pub(crate) fn new(key: &str) -> Key {
        match key.len() {
            n if n <= INLINE => {
                let mut bytes = [0u8; INLINE];
                bytes[..n].copy_from_slice(key.as_bytes());
                Key::Inline {
                    len: n as u8,
                    bytes,
                }
            }
            _ => Key::Heap(key.into()),
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            // Made from a `&str` and cut at its length: always UTF-8.
            Key::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            Key::Heap(s) => s,
        }
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_back_as_given_inline_or_not() {
        for k in [
            "",
            "node0",
            "é-ü",
            &"x".repeat(22),
            &"y".repeat(23),
            &"ζ".repeat(11),
            &"ζ".repeat(12),
        ] {
            assert_eq!(Key::new(k).as_str(), k);
            assert_eq!(Key::new(k), Key::new(k));
        }
        assert!(matches!(Key::new(&"x".repeat(22)), Key::Inline { .. }));
        assert!(matches!(Key::new(&"x".repeat(23)), Key::Heap(_)));
        assert_ne!(Key::new("a"), Key::new("b"));
        assert_eq!(
            std::mem::size_of::<Option<Key>>(),
            std::mem::size_of::<Option<String>>()
        );
    }
}
