//! Decompression that never makes more bytes than a chunk holds.
//!
//! `zarrs` decodes `zstd`, `gzip` and `zlib` until the stream ends and sizes a
//! `blosc` output by the header's own word: a chunk of a few kilobytes can
//! claim, and make, gigabytes (a decompression bomb), an allocation that no
//! stored byte backs. The codecs registered here (once, before any array
//! is opened; zarrs asks run-time codecs before its own) are zarrs's, but
//! for their decoding: bounded by the size the chunk's shape gives its
//! decoded bytes. Encoding, configuration and names stay zarrs's.

use super::CHUNK_LIMIT;
use std::borrow::Cow;
use std::io::Read;
use std::sync::{Arc, Once};
use zarrs::array::codec::api::{
    register_codec_v3, ArrayBytesRaw, BytesRepresentation, BytesToBytesCodecTraits, Codec,
    CodecError, CodecMetadataOptions, CodecOptions, CodecRuntimePluginV3, CodecSpecificOptions,
    CodecTraits, CodecTraitsV3, PartialDecoderCapability, PartialEncoderCapability,
    RecommendedConcurrency,
};
use zarrs::array::codec::{BloscCodec, GzipCodec, ZlibCodec, ZstdCodec};
use zarrs::metadata::v3::MetadataV3;
use zarrs::metadata::Configuration;
use zarrs::plugin::{ExtensionAliasesV3, ExtensionName, PluginCreateError, ZarrVersion};

/// Which decoder is bounded.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Zstd,
    Gzip,
    Zlib,
    Blosc,
}

/// A zarrs bytes-to-bytes codec whose decoding is bounded.
#[derive(Debug)]
struct Bounded {
    inner: Arc<dyn BytesToBytesCodecTraits>,
    kind: Kind,
}

/// Registers the bounded codecs with zarrs, once per process.
pub(crate) fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        register::<ZstdCodec>(Kind::Zstd);
        register::<GzipCodec>(Kind::Gzip);
        register::<ZlibCodec>(Kind::Zlib);
        register::<BloscCodec>(Kind::Blosc);
    });
}

fn register<C: CodecTraitsV3 + ExtensionAliasesV3 + 'static>(kind: Kind) {
    let create = move |metadata: &MetadataV3| -> Result<Codec, PluginCreateError> {
        match C::create(metadata)? {
            Codec::BytesToBytes(inner) => {
                Ok(Codec::BytesToBytes(Arc::new(Bounded { inner, kind })))
            }
            other => Ok(other),
        }
    };
    // The handle is dropped: the codecs stay registered for the process.
    let _ = register_codec_v3(CodecRuntimePluginV3::new(C::matches_name_v3, create));
}

/// The error of a chunk that decodes to more than it holds.
fn too_long(what: &str, limit: u64) -> CodecError {
    CodecError::Other(format!(
        "{what}: the chunk decodes to more than the {limit} bytes its shape holds"
    ))
}

/// `zstd`: into a buffer of the chunk's size, an error if it would not fit.
fn zstd(encoded: &[u8], limit: u64) -> Result<Vec<u8>, CodecError> {
    let capacity = usize::try_from(limit).map_err(|_| too_long("zstd", limit))?;
    let mut out = Vec::with_capacity(capacity);
    let mut context = zstd::bulk::Decompressor::new().map_err(CodecError::from)?;
    match context.decompress_to_buffer(encoded, &mut out) {
        Ok(_) => Ok(out),
        // The only failure the bound causes: the stream makes more bytes.
        Err(e) if e.to_string().contains("too small") => Err(too_long("zstd", limit)),
        Err(e) => Err(CodecError::Other(format!("zstd: {e}"))),
    }
}

/// `gzip` (`zlib`): the stream read up to one byte past the chunk's size.
fn inflate(what: &str, stream: impl Read, limit: u64) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    stream
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| CodecError::Other(format!("{what}: {e}")))?;
    if out.len() as u64 > limit {
        return Err(too_long(what, limit));
    }
    Ok(out)
}

fn gzip(encoded: &[u8], limit: u64) -> Result<Vec<u8>, CodecError> {
    inflate("gzip", flate2::read::GzDecoder::new(encoded), limit)
}

fn zlib(encoded: &[u8], limit: u64) -> Result<Vec<u8>, CodecError> {
    inflate("zlib", flate2::read::ZlibDecoder::new(encoded), limit)
}

/// The decoded size a `blosc` header claims (bytes 4..8, little-endian).
fn blosc_claim(encoded: &[u8]) -> Option<u64> {
    let word: [u8; 4] = encoded.get(4..8)?.try_into().ok()?;
    Some(u64::from(u32::from_le_bytes(word)))
}

impl ExtensionName for Bounded {
    fn name(&self, version: ZarrVersion) -> Option<Cow<'static, str>> {
        self.inner.name(version)
    }
}

impl CodecTraits for Bounded {
    fn as_any(&self) -> &dyn std::any::Any {
        self.inner.as_any()
    }

    fn configuration(
        &self,
        version: ZarrVersion,
        options: &CodecMetadataOptions,
    ) -> Option<Configuration> {
        self.inner.configuration(version, options)
    }

    fn partial_decoder_capability(&self) -> PartialDecoderCapability {
        self.inner.partial_decoder_capability()
    }

    fn partial_encoder_capability(&self) -> PartialEncoderCapability {
        self.inner.partial_encoder_capability()
    }
}

impl BytesToBytesCodecTraits for Bounded {
    fn into_dyn(self: Arc<Self>) -> Arc<dyn BytesToBytesCodecTraits> {
        self
    }

    fn with_codec_specific_options(
        self: Arc<Self>,
        opts: &CodecSpecificOptions,
    ) -> Arc<dyn BytesToBytesCodecTraits> {
        Arc::new(Bounded {
            inner: Arc::clone(&self.inner).with_codec_specific_options(opts),
            kind: self.kind,
        })
    }

    fn recommended_concurrency(
        &self,
        decoded_representation: &BytesRepresentation,
    ) -> Result<RecommendedConcurrency, CodecError> {
        self.inner.recommended_concurrency(decoded_representation)
    }

    fn encoded_representation(
        &self,
        decoded_representation: &BytesRepresentation,
    ) -> BytesRepresentation {
        self.inner.encoded_representation(decoded_representation)
    }

    fn encode<'a>(
        &self,
        decoded_value: ArrayBytesRaw<'a>,
        options: &CodecOptions,
    ) -> Result<ArrayBytesRaw<'a>, CodecError> {
        self.inner.encode(decoded_value, options)
    }

    fn decode<'a>(
        &self,
        encoded_value: ArrayBytesRaw<'a>,
        decoded_representation: &BytesRepresentation,
        options: &CodecOptions,
    ) -> Result<ArrayBytesRaw<'a>, CodecError> {
        // A size the chunk's shape gives (the largest akbuf decodes when
        // the representation has none).
        let limit = decoded_representation
            .size()
            .unwrap_or(CHUNK_LIMIT)
            .min(CHUNK_LIMIT);
        match self.kind {
            Kind::Zstd => zstd(&encoded_value, limit).map(Cow::Owned),
            Kind::Gzip => gzip(&encoded_value, limit).map(Cow::Owned),
            Kind::Zlib => zlib(&encoded_value, limit).map(Cow::Owned),
            Kind::Blosc => match blosc_claim(&encoded_value) {
                Some(claim) if claim > limit => Err(CodecError::Other(format!(
                    "blosc: the chunk's header claims {claim} bytes, more than the {limit} its shape holds"
                ))),
                _ => self
                    .inner
                    .decode(encoded_value, decoded_representation, options),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_that_make_more_than_the_chunk_are_refused() {
        let zeros = vec![0u8; 1 << 20];
        let z = zstd::bulk::compress(&zeros, 3).unwrap();
        assert_eq!(zstd(&z, 1 << 20).unwrap(), zeros);
        let e = zstd(&z, 1024).unwrap_err().to_string();
        assert!(e.contains("more than the 1024 bytes"), "{e}");
        assert!(zstd(b"not zstd", 1024)
            .unwrap_err()
            .to_string()
            .starts_with("zstd:"));

        let mut g = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut g, &zeros).unwrap();
        let g = g.finish().unwrap();
        assert_eq!(gzip(&g, 1 << 20).unwrap(), zeros);
        let e = gzip(&g, (1 << 20) - 1).unwrap_err().to_string();
        assert!(e.contains("more than the 1048575 bytes"), "{e}");

        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut z, &zeros).unwrap();
        let z = z.finish().unwrap();
        assert_eq!(zlib(&z, 1 << 20).unwrap(), zeros);
        assert!(zlib(&z, 1000)
            .unwrap_err()
            .to_string()
            .starts_with("zlib: the chunk"));

        let mut header = vec![2u8, 1, 0, 8];
        header.extend(u32::MAX.to_le_bytes());
        assert_eq!(blosc_claim(&header), Some(u64::from(u32::MAX)));
        assert_eq!(blosc_claim(&[2, 1]), None);
    }
}
