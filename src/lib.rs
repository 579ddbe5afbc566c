//! # akbuf
//!
//! A lazy reader and writer of [Awkward Array]'s buffers protocol: a
//! [`Form`] (JSON schema), a length, and named flat buffers.
//!
//! [`from_buffers`] (or [`open`] for a directory container) returns an
//! [`Array`] without reading any buffer. A buffer is fetched from the
//! [`Source`] the first time something touches it, each key at most once,
//! and is used in place when memory-mapped, aligned and in native byte order.
//!
//! ```
//! use akbuf::{from_buffers, Buffer, Form, MemorySource, Observed, Options};
//! use std::sync::{Arc, Mutex};
//!
//! let form = Form::from_json(r#"{"class": "RecordArray", "fields": ["x", "y"], "contents": [
//!     {"class": "NumpyArray", "primitive": "int64", "form_key": "node1"},
//!     {"class": "NumpyArray", "primitive": "float32", "form_key": "node2"}], "form_key": "node0"}"#)?;
//! let buffers = MemorySource::new()
//!     .with("node1-data", Buffer::from_slice(&[1i64, 2]))
//!     .with("node2-data", Buffer::from_slice(&[0.5f32, 1.5]));
//! let reads = Arc::new(Mutex::new(Vec::new()));
//! let log = Arc::clone(&reads);
//! let source = Observed::new(buffers, move |key: &str, _: Option<usize>| log.lock().unwrap().push(key.to_string()));
//!
//! let array = from_buffers(&form, 2, source, Options::default())?;
//! assert_eq!(array.type_string(), "2 * {x: int64, y: float32}");
//! assert_eq!(array.field("y")?.to_json()?, "[0.5,1.5]");
//! assert_eq!(*reads.lock().unwrap(), vec!["node2-data"]); // x was never read
//! # Ok::<(), akbuf::Error>(())
//! ```
//!
//! Writing is awkward's `ak.to_buffers`: [`to_buffers`] puts any array into
//! any [`Sink`] with awkward's form-key and buffer-key rules, id numbering
//! and byte order, streaming buffer by buffer; [`write_dir`] writes a
//! directory container atomically; [`to_packed`] is awkward's `ak.to_packed`.
//!
//! The layers, top to bottom: [`Array`] (high level), `layout` (the twelve
//! node classes over lazy buffers), [`Buffer`] (shared bytes), [`Source`]
//! (key to bytes) and [`Sink`] (key and bytes to a destination). Errors are one type, [`Error`], naming the buffer key and
//! the node path.
//!
//! # JSON
//!
//! [`Array::to_json`], [`Array::write_json`] and `akbuf show` write one line
//! of UTF-8 JSON, no spaces, an array with an entry per element:
//!
//! | value | JSON |
//! |---|---|
//! | missing (None) | `null` |
//! | bool | `true` / `false` |
//! | any integer | the exact integer (full 64-bit range, signed and unsigned) |
//! | float16/32/64 | the float64 value of the stored number, shortest round-trip form as Python's `repr` (float32 0.1 prints `0.10000000149011612`, 1e-05 prints `1e-05`); `-0.0` stays `-0.0` |
//! | NaN, +inf, -inf | the strings `"nan"`, `"inf"`, `"-inf"` |
//! | complex | `{"real": x, "imag": y}` |
//! | datetime64 / timedelta64 | the stored int64 count of the unit (NaT is `-9223372036854775808`) |
//! | string (`__array__: "string"`) | a JSON string (invalid UTF-8 bytes as Python's surrogate escapes) |
//! | bytestring (`__array__: "bytestring"`) | a JSON array of the byte values 0..255 |
//! | record | an object, keys in field order |
//! | tuple | an array of its slots |
//! | list (var or regular) | an array |
//! | union, categorical | the selected value |
//!
//! [Awkward Array]: https://awkward-array.org

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod array;
#[cfg(feature = "arrow")]
mod arrow;
mod buffer;
mod cache;
mod container;
mod device;
mod disk;
mod error;
mod form;
mod layout;
mod lists;
mod objstore;
mod options;
mod pack;
mod pyjson;
#[cfg(feature = "datafusion")]
mod query;
mod sink;
mod source;
mod sys;
mod url;
mod value;
mod write;

pub use array::{from_buffers, Array, ChunkSize, Chunks, Iter, LazyBuffer};
#[cfg(feature = "arrow")]
pub use arrow::ToArrowOptions;
pub use buffer::{Buffer, ByteOrder, Native, Residence, TypedBuffer, WeakBuffer};
pub use cache::{Cache, CacheStats, CachedSource, Observer, ReadEvent};
pub use container::arrow::is_arrow_path;
#[cfg(feature = "arrow")]
pub use container::arrow::write_ipc::{write_arrow_ipc, IPC_BATCH_BYTES};
#[cfg(feature = "parquet")]
pub use container::arrow::write_parquet::write_parquet;
pub use container::dataset::{open_dataset, open_dataset_with};
pub use container::dir::write_dir;
pub use container::hdf5::{is_hdf5_path, split_hdf5_path, DEFAULT_GROUP};
#[cfg(feature = "hdf5")]
pub use container::hdf5::{open_hdf5, write_hdf5};
#[cfg(feature = "remote")]
pub use container::remote::write_url;
pub use container::{
    file_format, open, open_locations, open_with, open_with_metadata, read_metadata, write_to,
    Metadata, MAX_PARTITIONS, METADATA_LIMIT, PARTITIONED_BUFFER_KEY,
};
#[cfg(feature = "cuda")]
#[allow(deprecated)]
pub use device::set_upload_mode;
pub use device::Device;
#[cfg(feature = "cuda")]
pub use device::{
    cuda_available, DeviceBuffer, DeviceCache, DeviceNative, DeviceStats, UploadMode, STAGED_MIN,
};
pub use disk::{DiskCache, DiskStats, DiskUsage, DEFAULT_DISK_BUDGET};
pub use error::{Cause, Error, Result};
pub use form::{Form, FormKind, IndexType, Parameters, Primitive, TimeUnit};
pub use layout::BufferInfo;
pub use lists::{Lists, ListsIter};
pub use objstore::Fetch;
pub use options::{BufferKey, Caching, CachingFn, Options};
pub use pack::to_packed;
#[cfg(feature = "ballista")]
pub use query::cluster;
#[cfg(feature = "datafusion")]
pub use query::{session_context, AkbufTable, AkbufTableFactory, SchemaMode};
#[cfg(feature = "hdf5")]
pub use sink::Hdf5Sink;
#[cfg(feature = "remote")]
pub use sink::RemoteSink;
pub use sink::{Append, DirSink, FillFn, MemorySink, Sink};
#[cfg(feature = "hdf5")]
pub use source::Hdf5Source;
#[cfg(feature = "remote")]
pub use source::RemoteSource;
#[cfg(feature = "zarr")]
pub use source::ZarrSource;
pub use source::{DirSource, FnSource, MemorySource, Observed, Source, Want};
pub use url::is_url;
pub use value::Value;
pub use write::{to_buffers, FormKey, ProgressFn, WriteOptions};

/// The README's Rust example is compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
