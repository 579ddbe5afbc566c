//! The object-store kit, shared by the remote source and the remote sink:
//! [`Fetch`] (how bytes are fetched), and with the `remote` feature the
//! store behind a URL with its runtime and uploads (`store.rs`) and the
//! planning of a batch of reads as requests (`plan.rs`). It moves bytes
//! and knows nothing of containers.

mod fetch;
#[cfg(feature = "remote")]
pub(crate) mod plan;
#[cfg(feature = "remote")]
mod store;

pub use fetch::Fetch;
#[cfg(feature = "remote")]
pub(crate) use store::{encoded, one_line, put, Store};
