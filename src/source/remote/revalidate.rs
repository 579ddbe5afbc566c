//! What an open asks of the store: the container's `metadata.json` (from
//! the disk tier after a conditional request where a copy is there), and,
//! where the store lists (S3), a listing of the prefix made alongside it,
//! which pins every object's version and size at once: later reads then
//! need no request to learn a size, and ask with `If-Match`.

use super::answers::Version;
use super::RemoteSource;
use crate::error::{Error, Result};
use crate::objstore::{encoded, one_line};
use futures::stream::StreamExt;
use object_store::GetOptions;

/// The most objects a listing at open pins (one page of S3's listing).
const LISTED: usize = 1000;

/// How an open's request for `metadata.json` went.
enum Got {
    /// The text and its version.
    Text(String, Version),
    /// 304: the disk tier's copy is current.
    NotModified,
}

impl RemoteSource {
    /// Whether the store's listing gives the versions its reads answer
    /// with (S3's ETags are the same in both; an HTTP server lists nothing).
    fn lists(&self) -> bool {
        let scheme = self.store.url.split("://").next().unwrap_or("");
        matches!(scheme, "s3" | "s3a" | "memory")
    }

    /// The container's `metadata.json` as text (at most `limit` bytes):
    /// from the disk tier when the store says it has not changed (one
    /// conditional request, or the listing made alongside), else fetched
    /// (and kept there). Records its version as the container's: pieces
    /// of objects whose versions are not otherwise known are served from
    /// disk only if they were read under this same version.
    ///
    /// # Errors
    ///
    /// [`Error::Container`] naming the URL when it cannot be read, is
    /// larger than `limit` or is not UTF-8.
    pub(crate) fn read_metadata(&self, limit: u64) -> Result<String> {
        let url = format!("{}/{}", self.store.url, self.metadata_name());
        let cached = self.cached_metadata();
        let (text, version) = self.store.block(async {
            let listing = async {
                if self.lists() {
                    self.list_versions().await;
                }
            };
            // With a copy on disk and a listing, the listing alone tells
            // whether the copy is current: one request.
            if let (Some((version, text)), true) = (&cached, self.lists()) {
                listing.await;
                if self.listed_metadata().is_some_and(|v| v.same(version)) {
                    return Ok((text.clone(), version.clone()));
                }
                return self
                    .get_metadata(&url, limit, None)
                    .await
                    .and_then(|g| match g {
                        Got::Text(t, v) => Ok((t, v)),
                        Got::NotModified => Err(Error::container(&url, "a 304 to a plain request")),
                    });
            }
            let get = self.get_metadata(&url, limit, cached.as_ref().map(|c| &c.0));
            let (got, ()) = futures::future::join(get, listing).await;
            match (got?, &cached) {
                (Got::Text(t, v), _) => Ok((t, v)),
                (Got::NotModified, Some((v, t))) => Ok((t.clone(), v.clone())),
                (Got::NotModified, None) => Err(Error::container(&url, "a 304 to a plain request")),
            }
        })?;
        if let Some(ident) = version.ident() {
            if cached
                .as_ref()
                .is_none_or(|c| c.0.ident() != Some(ident.clone()))
            {
                self.keep_metadata(&ident, &text);
            }
            *self.container.lock() = ident;
        }
        Ok(text)
    }

    /// `metadata.json`: a conditional `GET` (`If-None-Match`, else
    /// `If-Modified-Since`) when `known` is the version on disk.
    async fn get_metadata(&self, url: &str, limit: u64, known: Option<&Version>) -> Result<Got> {
        let mut options = GetOptions::default();
        if let Some(v) = known {
            match &v.e_tag {
                Some(tag) => options.if_none_match = Some(tag.clone()),
                None => options.if_modified_since = chrono::DateTime::from_timestamp(v.modified, 0),
            }
        }
        let caused = |e: object_store::Error| Error::Container {
            path: url.to_string(),
            message: one_line(&e),
            cause: Some(crate::error::Cause::new(e)),
        };
        let r = match self
            .store
            .store
            .get_opts(&self.store.location(self.metadata_name()), options)
            .await
        {
            Ok(r) => r,
            Err(object_store::Error::NotModified { .. }) if known.is_some() => {
                return Ok(Got::NotModified)
            }
            Err(object_store::Error::NotFound { .. }) => {
                return Err(Error::Container {
                    path: url.to_string(),
                    message: "no such object".into(),
                    cause: Some(crate::error::Cause::new(std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "no such object",
                    ))),
                })
            }
            Err(e) => return Err(caused(e)),
        };
        if let Some(enc) = encoded(&r) {
            return Err(Error::container(
                url,
                format!("sent with Content-Encoding {enc:?}, which akbuf did not ask for (it asks for identity)"),
            ));
        }
        let size = r.meta.size;
        if size > limit {
            return Err(Error::container(
                url,
                format!("{size} bytes, more than the {limit} akbuf reads"),
            ));
        }
        let version = Version::of(&r.meta);
        let bytes = r.bytes().await.map_err(caused)?;
        if bytes.len() as u64 != size {
            return Err(Error::container(
                url,
                format!(
                    "the body holds {} bytes where its head announced {size}",
                    bytes.len()
                ),
            ));
        }
        let text = String::from_utf8(bytes.to_vec())
            .map_err(|_| Error::container(url, "not UTF-8 text"))?;
        Ok(Got::Text(text, version))
    }

    /// Lists the prefix (its first page) and pins each object's version:
    /// a failed listing only means sizes are learnt from answers.
    async fn list_versions(&self) {
        let prefix = Some(&self.store.prefix);
        let mut listing = self.store.store.list(prefix).take(LISTED);
        while let Some(item) = listing.next().await {
            let Ok(meta) = item else {
                return;
            };
            let Some(parts) = meta.location.prefix_match(&self.store.prefix) else {
                continue;
            };
            let parts: Vec<String> = parts.map(|p| p.as_ref().to_string()).collect();
            if parts.len() != 1 && self.zarr.is_none() {
                continue; // deeper than one segment: not a key of this container
            }
            let name = parts.join("/");
            if name == self.metadata_name() {
                *self.listed_metadata.lock() = Some(Version::of(&meta));
            } else if self.key_ok(&name) {
                self.versions
                    .lock()
                    .entry(name)
                    .or_insert_with(|| Version::of(&meta));
            }
        }
    }

    /// `metadata.json`'s version as the listing gave it.
    fn listed_metadata(&self) -> Option<Version> {
        self.listed_metadata.lock().clone()
    }
}
