//! The crate's single error type.
//!
//! Every variant carries what a user needs to find the problem: the buffer
//! key, the path of the layout node (see [`crate::layout::NodePath`]-style
//! strings such as `/jets/content/pt`), and where sizes are involved the
//! expected and actual sizes. Errors are [`Clone`] so that one failed read
//! can be handed to every thread that waited for it.

use std::sync::Arc;

/// The typed cause behind an [`Error`]: an `io::Error`, or a format's or a
/// store's own error (arrow, parquet, object_store, libhdf5, a query
/// engine's). It is what the error's [`std::error::Error::source`] gives,
/// so that `downcast_ref` finds the library's own type; shared, so that an
/// error handed to every waiting thread keeps it.
///
/// ```
/// use std::error::Error as _;
///
/// let e = akbuf::Error::read_io("k", std::io::Error::from(std::io::ErrorKind::TimedOut));
/// let io = e.source().and_then(|c| c.downcast_ref::<std::io::Error>());
/// assert_eq!(io.map(|io| io.kind()), Some(std::io::ErrorKind::TimedOut));
/// ```
#[derive(Clone)]
pub struct Cause(Arc<dyn std::error::Error + Send + Sync + 'static>);

impl Cause {
    /// Keeps `cause`.
    pub fn new(cause: impl std::error::Error + Send + Sync + 'static) -> Cause {
        Cause(Arc::new(cause))
    }
}

// Not itself an `Error`: the error's `source()` is then the cause inside,
// reached through `Deref`, not a wrapper that `downcast_ref` cannot see into.
impl std::ops::Deref for Cause {
    type Target = dyn std::error::Error + Send + Sync + 'static;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl std::fmt::Debug for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.0, f)
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&*self.0, f)
    }
}

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in akbuf.
///
/// ```
/// use akbuf::{from_buffers, Form, MemorySource, Options};
///
/// let form = Form::from_json(r#"{"class": "NumpyArray", "primitive": "int64", "form_key": "node0"}"#)?;
/// let source = MemorySource::new(); // no buffers at all
/// let array = from_buffers(&form, 3, source, Options::default())?; // reads nothing, so no error yet
/// let err = array.to_json().unwrap_err();
/// assert!(matches!(err, akbuf::Error::MissingKey { ref key, .. } if key == "node0-data"));
/// assert_eq!(err.to_string(), "missing buffer \"node0-data\" for NumpyArray at /");
/// # Ok::<(), akbuf::Error>(())
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The Form JSON is not valid JSON or does not describe a Form.
    #[error("invalid form at {path}: {message}")]
    Form {
        /// Path of the offending node inside the form.
        path: String,
        /// What is wrong.
        message: String,
    },

    /// A layout cannot be built from a form node (index type not allowed for the
    /// class, non-canonical nesting, string without char content, ...).
    #[error("invalid layout: {class} at {node}: {message}")]
    Layout {
        /// Path of the node.
        node: String,
        /// Class of the node.
        class: &'static str,
        /// What is wrong.
        message: String,
    },

    /// The source has no buffer under this key.
    #[error("missing buffer {key:?} for {class} at {node}")]
    MissingKey {
        /// The buffer key.
        key: String,
        /// Path of the node that needs it.
        node: String,
        /// Class of the node.
        class: &'static str,
    },

    /// A buffer holds fewer bytes than its node needs.
    #[error(
        "buffer {key:?} of {class} at {node} is too short: expected at least {expected} bytes, got {actual}"
    )]
    ShortBuffer {
        /// The buffer key.
        key: String,
        /// Path of the node.
        node: String,
        /// Class of the node.
        class: &'static str,
        /// Bytes needed.
        expected: usize,
        /// Bytes present.
        actual: usize,
    },

    /// Buffer contents contradict the layout: offsets going backwards or past the
    /// content, indexes or tags out of range, a bad length.
    #[error("invalid data in buffer {key:?} of {class} at {node}: {message}")]
    InvalidData {
        /// The buffer key (empty if the problem is not tied to one buffer).
        key: String,
        /// Path of the node.
        node: String,
        /// Class of the node.
        class: &'static str,
        /// What is wrong, with the position and values involved.
        message: String,
    },

    /// A length does not fit what a node requires (an EmptyArray with a non-zero
    /// length, a length that overflows).
    #[error("bad length for {class} at {node}: expected {expected}, got {actual}")]
    Length {
        /// Path of the node.
        node: String,
        /// Class of the node.
        class: &'static str,
        /// What was expected, in words or as a number.
        expected: String,
        /// What was found.
        actual: usize,
    },

    /// The source failed to read a key (I/O error, a store's error,
    /// closure error).
    #[error("reading buffer {key:?} failed: {message}")]
    Source {
        /// The buffer key.
        key: String,
        /// The source's message.
        message: String,
        /// The underlying error (I/O, the store's), if any.
        #[source]
        cause: Option<Cause>,
    },

    /// A container (directory, metadata.json, HDF5 group) cannot be opened
    /// or written.
    #[error("cannot open container {path}: {message}")]
    Container {
        /// The container's path.
        path: String,
        /// What is wrong.
        message: String,
        /// The cause, when an error of I/O, of a format's library (arrow,
        /// parquet, libhdf5) or of a store (object_store) is behind it.
        #[source]
        cause: Option<Cause>,
    },

    /// A field was asked for that does not exist at this node.
    #[error("no field {field:?} in {class} at {node}{}", if available.is_empty() { String::new() } else { format!(" (fields: {available})") })]
    NoField {
        /// The field asked for.
        field: String,
        /// Path of the node.
        node: String,
        /// Class of the node.
        class: &'static str,
        /// The fields that do exist, comma-separated (may be abbreviated).
        available: String,
    },

    /// An element index past the end of the array.
    #[error("index {index} out of range for {class} at {node} of length {length}")]
    OutOfRange {
        /// The index asked for.
        index: usize,
        /// The array's length.
        length: usize,
        /// Path of the node.
        node: String,
        /// Class of the node.
        class: &'static str,
    },

    /// An argument given to the library is not acceptable (bad template, bad option).
    #[error("invalid argument: {0}")]
    Argument(String),

    /// Writing output failed (JSON to a writer, files of a sink).
    #[error("{context}: {io}")]
    Io {
        /// What was being written.
        context: String,
        /// The I/O error.
        #[source]
        io: Arc<std::io::Error>,
    },

    /// A sink failed to store a buffer.
    #[error("writing buffer {key:?} failed: {message}")]
    Sink {
        /// The buffer key.
        key: String,
        /// What went wrong.
        message: String,
        /// The underlying error (I/O, the store's), if any.
        #[source]
        cause: Option<Cause>,
    },

    /// Two buffers of one write would be stored under the same key (a
    /// form-key or buffer-key template that does not tell nodes apart, or
    /// a closure that repeats itself). Nothing was written.
    #[error("buffer key {key:?} would be written twice: by {first} and by {second}; the form-key and buffer-key templates must give every buffer its own key (keep {{id}} and {{form_key}} in them)")]
    DuplicateKey {
        /// The key given twice.
        key: String,
        /// The first buffer given that key (`<class> at <node> (<attribute>)`).
        first: String,
        /// The second one.
        second: String,
    },

    /// Materializing values in memory (`get`, `to_values`, `to_json`) would
    /// make far more values than the bytes behind them can account for
    /// (a regular size or inner shape of 2^40 over empty content). The
    /// streaming writers ([`crate::Array::write_json`]) have no such limit.
    #[error("{class} at {node}: {message}")]
    TooLarge {
        /// Path of the node.
        node: String,
        /// Class of the node.
        class: &'static str,
        /// What was asked and the limit, with the sizes.
        message: String,
    },

    /// A typed view was asked for with the wrong element type.
    #[error("type mismatch at {node}: {message}")]
    TypeMismatch {
        /// Path of the node.
        node: String,
        /// What was asked for and what the node holds.
        message: String,
    },

    /// A device could not be used: no driver, no such device, or a failed
    /// allocation or copy.
    #[error("{device}: {message}")]
    Device {
        /// The device (`cuda:0`).
        device: String,
        /// What went wrong.
        message: String,
    },

    /// What the data holds that the other side cannot represent: an Arrow
    /// or Parquet type with no awkward counterpart (decimals, maps,
    /// intervals, list views, run-end encoding), strings that are not UTF-8
    /// on their way to Arrow, what Parquet cannot store, an export not
    /// written yet. About the data, not the call: the CLI exits 1.
    #[error("cannot convert: {0}")]
    Unsupported(String),

    /// A query engine (DataFusion, a Ballista cluster) failed: planning,
    /// executing, or reaching the cluster. The engine's error is the typed
    /// source.
    #[error("{context}: {cause}")]
    Engine {
        /// What was being done (`query`, `connecting to df://host:50050`).
        context: String,
        /// The engine's error.
        #[source]
        cause: Cause,
    },
}

impl Error {
    /// The buffer key this error is about, if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            Error::MissingKey { key, .. }
            | Error::ShortBuffer { key, .. }
            | Error::InvalidData { key, .. }
            | Error::Source { key, .. }
            | Error::Sink { key, .. }
            | Error::DuplicateKey { key, .. } => Some(key),
            _ => None,
        }
    }

    /// The path of the layout node this error is about, if any.
    pub fn node(&self) -> Option<&str> {
        match self {
            Error::Layout { node, .. }
            | Error::MissingKey { node, .. }
            | Error::ShortBuffer { node, .. }
            | Error::InvalidData { node, .. }
            | Error::Length { node, .. }
            | Error::NoField { node, .. }
            | Error::OutOfRange { node, .. }
            | Error::TooLarge { node, .. }
            | Error::TypeMismatch { node, .. } => Some(node),
            Error::Form { path, .. } => Some(path),
            _ => None,
        }
    }

    /// Builds a [`Error::Source`] from an I/O error, for user-written sources.
    ///
    /// ```
    /// use akbuf::Error;
    /// use std::error::Error as _;
    ///
    /// let e = Error::read_io("node0-data", std::io::Error::other("disk on fire"));
    /// assert_eq!(e.key(), Some("node0-data"));
    /// assert!(e.source().is_some()); // the io::Error, typed
    /// ```
    pub fn read_io(key: impl Into<String>, err: std::io::Error) -> Error {
        Error::Source {
            key: key.into(),
            message: err.to_string(),
            cause: Some(Cause::new(err)),
        }
    }

    /// Builds a [`Error::Source`] from a message, for user-written sources.
    ///
    /// ```
    /// let e = akbuf::Error::read_failed("node0-data", "no such object");
    /// assert_eq!(e.to_string(), r#"reading buffer "node0-data" failed: no such object"#);
    /// ```
    pub fn read_failed(key: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Source {
            key: key.into(),
            message: message.into(),
            cause: None,
        }
    }

    /// The old name of [`Error::read_io`].
    #[deprecated(since = "0.1.0", note = "use Error::read_io")]
    pub fn io(key: impl Into<String>, err: std::io::Error) -> Error {
        Error::read_io(key, err)
    }

    /// The old name of [`Error::read_failed`] (it read like
    /// `std::error::Error::source`).
    #[deprecated(since = "0.1.0", note = "use Error::read_failed")]
    pub fn source(key: impl Into<String>, message: impl Into<String>) -> Error {
        Error::read_failed(key, message)
    }

    /// An engine error (DataFusion, Ballista) while doing `context`.
    #[cfg(feature = "datafusion")]
    pub(crate) fn engine(
        context: impl Into<String>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        Error::Engine {
            context: context.into(),
            cause: Cause::new(cause),
        }
    }

    /// A container error with a message.
    pub(crate) fn container(path: impl std::fmt::Display, message: impl Into<String>) -> Error {
        Error::Container {
            path: path.to_string(),
            message: message.into(),
            cause: None,
        }
    }

    /// A container error caused by another error (a format's library's, a
    /// store's), kept as the typed source; the message is `what: cause`.
    #[cfg_attr(
        not(any(feature = "hdf5", feature = "arrow", feature = "remote")),
        allow(dead_code)
    )]
    pub(crate) fn container_caused(
        path: impl std::fmt::Display,
        what: &str,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        let said = describe(&cause);
        Error::Container {
            path: path.to_string(),
            message: match what {
                "" => said,
                _ => format!("{what}: {said}"),
            },
            cause: Some(Cause::new(cause)),
        }
    }

    /// A read error caused by another error (a format's library's, a
    /// store's), kept as the typed source; the message is `what: cause`.
    #[cfg_attr(not(feature = "hdf5"), allow(dead_code))]
    pub(crate) fn read_caused(
        key: impl Into<String>,
        what: &str,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        let said = describe(&cause);
        Error::Source {
            key: key.into(),
            message: match what {
                "" => said,
                _ => format!("{what}: {said}"),
            },
            cause: Some(Cause::new(cause)),
        }
    }

    /// A write error caused by another error (a format's library's, a
    /// store's), kept as the typed source; the message is `what: cause`.
    #[cfg_attr(not(any(feature = "hdf5", feature = "remote")), allow(dead_code))]
    pub(crate) fn sink_caused(
        key: impl Into<String>,
        what: &str,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        let said = describe(&cause);
        Error::Sink {
            key: key.into(),
            message: match what {
                "" => said,
                _ => format!("{what}: {said}"),
            },
            cause: Some(Cause::new(cause)),
        }
    }

    /// The I/O error behind this one, if any: its cause, or one further
    /// down the chain of causes.
    ///
    /// ```
    /// let e = akbuf::Error::read_io("k", std::io::Error::from(std::io::ErrorKind::TimedOut));
    /// assert_eq!(e.io_error().map(|io| io.kind()), Some(std::io::ErrorKind::TimedOut));
    /// assert!(akbuf::Error::read_failed("k", "no").io_error().is_none());
    /// ```
    pub fn io_error(&self) -> Option<&std::io::Error> {
        if let Error::Io { io, .. } = self {
            return Some(io);
        }
        let mut cause = std::error::Error::source(self);
        while let Some(e) = cause {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                return Some(io);
            }
            cause = e.source();
        }
        None
    }

    /// Whether moving bytes failed (a read, a write, a file or a store
    /// that could not be reached), rather than what the bytes say: what a
    /// binding raises as its language's I/O error (Python's `OSError`).
    ///
    /// ```
    /// assert!(akbuf::open("/nonexistent/container").unwrap_err().is_io());
    /// assert!(!akbuf::Error::Argument("bad".into()).is_io());
    /// ```
    pub fn is_io(&self) -> bool {
        match self {
            Error::Source { .. } | Error::Io { .. } | Error::Sink { .. } => true,
            Error::Container { cause: Some(c), .. } => {
                #[cfg(feature = "remote")]
                if c.downcast_ref::<object_store::Error>().is_some() {
                    return true;
                }
                c.downcast_ref::<std::io::Error>().is_some()
            }
            _ => false,
        }
    }

    /// A container error caused by an I/O error (kept as the typed source).
    pub(crate) fn container_io(
        path: impl std::fmt::Display,
        what: &str,
        err: std::io::Error,
    ) -> Error {
        Error::Container {
            path: path.to_string(),
            message: format!("{what}: {err}"),
            cause: Some(Cause::new(err)),
        }
    }

    /// Builds a [`Error::Sink`], for user-written sinks.
    pub fn sink(key: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Sink {
            key: key.into(),
            message: message.into(),
            cause: None,
        }
    }

    /// Builds a [`Error::Sink`] from an I/O error.
    pub fn sink_io(key: impl Into<String>, err: std::io::Error) -> Error {
        Error::Sink {
            key: key.into(),
            message: err.to_string(),
            cause: Some(Cause::new(err)),
        }
    }

    pub(crate) fn form(path: &str, message: impl Into<String>) -> Error {
        Error::Form {
            path: if path.is_empty() {
                "/".to_string()
            } else {
                path.to_string()
            },
            message: message.into(),
        }
    }
}

/// A message on one line: libraries' multi-line reports (libhdf5's error
/// stack) joined with "; ".
#[cfg_attr(
    not(any(feature = "hdf5", feature = "arrow", feature = "remote")),
    allow(dead_code)
)]
pub(crate) fn flat(text: &str) -> String {
    text.split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// An error and its chain of causes on one line (each cause said once).
#[cfg_attr(
    not(any(feature = "hdf5", feature = "arrow", feature = "remote")),
    allow(dead_code)
)]
pub(crate) fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let s = c.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        cause = c.source();
    }
    flat(&text)
}
