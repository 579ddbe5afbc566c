//! Options of `from_buffers`: how buffer keys are made and the byte order.

use crate::buffer::ByteOrder;
use crate::cache::Cache;
use crate::error::{Error, Result};
use crate::objstore::Fetch;
use std::fmt;
use std::sync::Arc;

/// How a buffer key is made from a node's form key and the attribute
/// (`data`, `offsets`, `starts`, `stops`, `index`, `mask`, `tags`).
///
/// ```
/// use akbuf::BufferKey;
///
/// let t = BufferKey::template("{form_key}/{attribute}")?;
/// assert_eq!(t.key(Some("node3"), "offsets"), "node3/offsets");
/// assert_eq!(BufferKey::default().key(None, "data"), "None-data"); // as awkward
/// let f = BufferKey::func(|fk: Option<&str>, attr: &str| format!("{}.{attr}", fk.unwrap_or("?")));
/// assert_eq!(f.key(Some("x"), "data"), "x.data");
/// assert!(BufferKey::template("{form_key}-{oops}").is_err());
/// # Ok::<(), akbuf::Error>(())
/// ```
#[derive(Clone)]
pub struct BufferKey(KeyRule);

/// What a [`BufferKey`] is made of.
#[derive(Clone)]
enum KeyRule {
    /// A parsed template and its text.
    Template(Arc<[TemplatePart]>, String),
    /// A closure of (form key, attribute).
    Func(KeyFn),
}

/// A buffer-key closure: (form_key, attribute) to key.
pub(crate) type KeyFn = Arc<dyn Fn(Option<&str>, &str) -> String + Send + Sync>;

/// A piece of a parsed key template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TemplatePart {
    /// Literal text.
    Text(String),
    /// `{form_key}`.
    FormKey,
    /// `{attribute}`.
    Attribute,
    /// `{id}` (only meaningful in form-key templates when writing).
    Id,
    /// `{partition}`: the partition number (partitioned containers).
    Partition,
}

impl fmt::Debug for BufferKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            KeyRule::Template(_, s) => write!(f, "BufferKey::template({s:?})"),
            KeyRule::Func(_) => f.write_str("BufferKey::func(..)"),
        }
    }
}

impl Default for BufferKey {
    fn default() -> BufferKey {
        BufferKey(KeyRule::Template(
            Arc::from(vec![
                TemplatePart::FormKey,
                TemplatePart::Text("-".into()),
                TemplatePart::Attribute,
            ]),
            String::from("{form_key}-{attribute}"),
        ))
    }
}

/// Parses a Python format string whose fields must be among `allowed`.
pub(crate) fn parse_template(s: &str, allowed: &[&str]) -> Result<Vec<TemplatePart>> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                text.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => name.push(c),
                        None => {
                            return Err(Error::Argument(format!("template {s:?}: unclosed '{{'")))
                        }
                    }
                }
                let part = match name.as_str() {
                    "form_key" => TemplatePart::FormKey,
                    "attribute" => TemplatePart::Attribute,
                    "id" => TemplatePart::Id,
                    "partition" => TemplatePart::Partition,
                    _ => {
                        return Err(Error::Argument(format!(
                            "template {s:?}: unknown field {{{name}}} (allowed: {})",
                            allowed
                                .iter()
                                .map(|a| format!("{{{a}}}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )))
                    }
                };
                let part_name = match part {
                    TemplatePart::FormKey => "form_key",
                    TemplatePart::Attribute => "attribute",
                    TemplatePart::Partition => "partition",
                    _ => "id",
                };
                if !allowed.contains(&part_name) {
                    return Err(Error::Argument(format!(
                        "template {s:?}: field {{{name}}} is not allowed here"
                    )));
                }
                if !text.is_empty() {
                    parts.push(TemplatePart::Text(std::mem::take(&mut text)));
                }
                parts.push(part);
            }
            '}' => {
                return Err(Error::Argument(format!(
                    "template {s:?}: single '}}' encountered"
                )))
            }
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        parts.push(TemplatePart::Text(text));
    }
    Ok(parts)
}

/// Renders a parsed template: text as is, each field by `field`.
pub(crate) fn render(
    parts: &[TemplatePart],
    mut field: impl FnMut(&TemplatePart, &mut String),
) -> String {
    let mut out = String::new();
    for p in parts {
        match p {
            TemplatePart::Text(t) => out.push_str(t),
            other => field(other, &mut out),
        }
    }
    out
}

impl BufferKey {
    /// A template such as `"{form_key}-{attribute}"`; partitioned
    /// containers also use `{partition}` (`"part{partition}-{form_key}-{attribute}"`).
    ///
    /// ```
    /// use akbuf::BufferKey;
    ///
    /// let t = BufferKey::template("part{partition}-{form_key}-{attribute}")?;
    /// assert!(t.has_partition());
    /// assert_eq!(t.for_partition(3).key(Some("node1"), "data"), "part3-node1-data");
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] for unknown fields or unbalanced braces.
    pub fn template(s: &str) -> Result<BufferKey> {
        let parts = parse_template(s, &["form_key", "attribute", "partition"])?;
        Ok(BufferKey(KeyRule::Template(
            Arc::from(parts),
            s.to_string(),
        )))
    }

    /// A closure of (form_key, attribute).
    pub fn func(f: impl Fn(Option<&str>, &str) -> String + Send + Sync + 'static) -> BufferKey {
        BufferKey(KeyRule::Func(Arc::new(f)))
    }

    /// The key for one buffer. A node without a form key formats as `None`,
    /// as Python's `str.format` does.
    pub fn key(&self, form_key: Option<&str>, attribute: &str) -> String {
        match &self.0 {
            KeyRule::Template(parts, _) => render(parts, |p, out| match p {
                TemplatePart::FormKey => out.push_str(form_key.unwrap_or("None")),
                TemplatePart::Attribute => out.push_str(attribute),
                // Not resolved with `for_partition`: partition 0, as awkward 1.
                TemplatePart::Partition => out.push('0'),
                _ => {}
            }),
            KeyRule::Func(f) => f(form_key, attribute),
        }
    }

    /// Whether the template names the partition (`{partition}`).
    pub fn has_partition(&self) -> bool {
        match &self.0 {
            KeyRule::Template(parts, _) => parts.contains(&TemplatePart::Partition),
            KeyRule::Func(_) => false,
        }
    }

    /// The same rule with `{partition}` written as `partition` (a closure,
    /// or a template without `{partition}`, is returned as it is).
    #[must_use]
    pub fn for_partition(&self, partition: usize) -> BufferKey {
        match &self.0 {
            KeyRule::Template(parts, text) if self.has_partition() => {
                let n = partition.to_string();
                let parts: Vec<TemplatePart> = parts
                    .iter()
                    .map(|p| match p {
                        TemplatePart::Partition => TemplatePart::Text(n.clone()),
                        other => other.clone(),
                    })
                    .collect();
                BufferKey(KeyRule::Template(
                    Arc::from(parts),
                    text.replace("{partition}", &n),
                ))
            }
            _ => self.clone(),
        }
    }

    /// The template text, if this is a template.
    pub fn as_template(&self) -> Option<&str> {
        match &self.0 {
            KeyRule::Template(_, s) => Some(s),
            KeyRule::Func(_) => None,
        }
    }
}

/// Which buffers an array keeps in its cache (awkward's
/// `enable_virtualarray_caching`).
///
/// ```
/// use akbuf::Caching;
///
/// assert!(Caching::All.caches(Some("node1"), "data"));
/// assert!(!Caching::Off.caches(Some("node1"), "data"));
/// let offsets_only = Caching::per(|_fk: Option<&str>, attr: &str| attr == "offsets");
/// assert!(offsets_only.caches(None, "offsets") && !offsets_only.caches(None, "data"));
/// ```
#[derive(Clone, Default)]
pub enum Caching {
    /// Every buffer goes through the cache (the default): each key is read once.
    #[default]
    All,
    /// No buffer is cached: every touch reads again.
    Off,
    /// Chosen per buffer by (form_key, attribute).
    Per(CachingFn),
}

/// A per-buffer caching rule: (form_key, attribute) to whether it is cached.
pub type CachingFn = Arc<dyn Fn(Option<&str>, &str) -> bool + Send + Sync>;

impl fmt::Debug for Caching {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Caching::All => f.write_str("Caching::All"),
            Caching::Off => f.write_str("Caching::Off"),
            Caching::Per(_) => f.write_str("Caching::Per(..)"),
        }
    }
}

impl Caching {
    /// A per-buffer rule.
    pub fn per(f: impl Fn(Option<&str>, &str) -> bool + Send + Sync + 'static) -> Caching {
        Caching::Per(Arc::new(f))
    }

    /// Whether the buffer of this node and attribute is cached.
    pub fn caches(&self, form_key: Option<&str>, attribute: &str) -> bool {
        match self {
            Caching::All => true,
            Caching::Off => false,
            Caching::Per(f) => f(form_key, attribute),
        }
    }
}

/// Options of [`crate::from_buffers`].
///
/// ```
/// use akbuf::{ByteOrder, Options};
///
/// let opts = Options::default()
///     .with_buffer_key_template("{form_key}/{attribute}")?
///     .with_byteorder(ByteOrder::Big);
/// assert_eq!(opts.byteorder, ByteOrder::Big);
/// # Ok::<(), akbuf::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Options {
    /// How buffer keys are made (default `{form_key}-{attribute}`).
    pub buffer_key: BufferKey,
    /// Byte order of the stored buffers (default: native).
    pub byteorder: ByteOrder,
    /// The cache to read through (default: a new unbounded cache for this array).
    pub cache: Option<Arc<Cache>>,
    /// Which buffers are cached (default: all).
    pub caching: Caching,
    /// Whether a container opened with these options ([`crate::open_with`])
    /// refuses buffer files, `metadata.json` or HDF5 datasets that resolve
    /// outside it (symbolic links, HDF5 external links and external
    /// storage), for serving untrusted data. Default: off (links are
    /// followed, as users link data).
    pub confined: bool,
    /// How remote containers are fetched (feature `remote`).
    pub fetch: Fetch,
}

impl Options {
    /// Sets the buffer-key template.
    ///
    /// # Errors
    ///
    /// As [`BufferKey::template`].
    pub fn with_buffer_key_template(mut self, template: &str) -> Result<Options> {
        self.buffer_key = BufferKey::template(template)?;
        Ok(self)
    }

    /// Sets the buffer-key rule.
    #[must_use]
    pub fn with_buffer_key(mut self, key: BufferKey) -> Options {
        self.buffer_key = key;
        self
    }

    /// Reads through a shared cache.
    #[must_use]
    pub fn with_cache(mut self, cache: Arc<Cache>) -> Options {
        self.cache = Some(cache);
        self
    }

    /// Sets how remote containers are fetched.
    ///
    /// ```
    /// let opts = akbuf::Options::default().with_fetch(akbuf::Fetch::default().with_retries(1));
    /// assert_eq!(opts.fetch.retries, 1);
    /// ```
    #[must_use]
    pub fn with_fetch(mut self, fetch: Fetch) -> Options {
        self.fetch = fetch;
        self
    }

    /// Chooses which buffers are cached.
    #[must_use]
    pub fn with_caching(mut self, caching: Caching) -> Options {
        self.caching = caching;
        self
    }

    /// Sets the byte order.
    #[must_use]
    pub fn with_byteorder(mut self, byteorder: ByteOrder) -> Options {
        self.byteorder = byteorder;
        self
    }

    /// Containers opened with these options refuse anything that resolves
    /// outside them (see [`Options::confined`](Options#structfield.confined)).
    ///
    /// ```
    /// use akbuf::{open_with, Options};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let outside = tempfile::NamedTempFile::new()?;
    /// std::fs::write(outside.path(), [7u8])?;
    /// std::fs::write(dir.path().join("metadata.json"), r#"{"form": {"class": "NumpyArray", "primitive": "int8", "form_key": "node0"}, "length": 1}"#)?;
    /// # #[cfg(unix)] {
    /// // The buffer is a link to a file outside the container.
    /// std::os::unix::fs::symlink(outside.path(), dir.path().join("node0-data"))?;
    /// assert_eq!(open_with(dir.path(), Options::default())?.to_json()?, "[7]");
    /// let confined = open_with(dir.path(), Options::default().confined())?;
    /// let err = confined.to_json().unwrap_err();
    /// assert!(err.to_string().contains("outside the container"), "{err}");
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn confined(mut self) -> Options {
        self.confined = true;
        self
    }
}
