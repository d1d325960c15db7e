//! The versioned model store, in a folder or on S3, and the references that name its models.
//!
//! Layout under a store root: `<name>/versions/<n>/model.onnx`, `<name>/versions/<n>/manifest.json`
//! and `<name>/aliases/<alias>.json` (`{"version": n}`). A publish claims version `n` by creating
//! its model file exclusively, then writes the manifest, then moves the alias `latest`, so a
//! reader that goes through a manifest or an alias never sees an incomplete version.

mod alias;
mod error;
// the store's I/O (folders and S3 through `crate::objects`): everything else here is pure
#[cfg(feature = "native")]
mod io;
mod reference;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::manifest::{AttachedFile, Manifest, MANIFEST_FORMAT};
pub use alias::AliasRecord;
pub use error::{validate_name, StoreError};
#[cfg(feature = "native")]
pub use io::{
    fetch, fetch_with_progress, file_stamp, Copied, FetchedModel, Store, TransferProgress,
    VersionSummary,
};
pub use reference::{ModelRef, Selector, StoreLocation};

/// The alias every publish moves.
pub const LATEST: &str = "latest";
const MODEL_FILE: &str = "model.onnx";
const MANIFEST_FILE: &str = "manifest.json";

/// A file to publish beside a model (a report, a picture).
#[derive(Debug, Clone, PartialEq)]
pub struct Attachment {
    /// File name within the version folder, e.g. `report.md`.
    pub file: String,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

impl Attachment {
    /// Its entry in the manifest.
    pub fn listing(&self) -> AttachedFile {
        AttachedFile {
            file: self.file.clone(),
            media_type: self.media_type.clone(),
            sha256: sha256_hex(&self.bytes),
            size_bytes: self.bytes.len() as u64,
        }
    }
}

/// Hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn to_json<T: Serialize>(path: &str, value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::BadDocument {
        path: path.to_string(),
        message: e.to_string(),
    })
}

/// Parses a manifest, refusing one written in a newer format than this maas knows.
pub(crate) fn parse_manifest(path: &str, bytes: &[u8]) -> Result<Manifest, StoreError> {
    #[derive(Deserialize)]
    struct Header {
        format: u32,
        #[serde(default)]
        maas_version: String,
    }
    let header: Header = parse_document(path, bytes)?;
    if header.format > MANIFEST_FORMAT {
        return Err(StoreError::NewerManifest {
            path: path.to_string(),
            found: header.format,
            maas_version: header.maas_version,
            ours: crate::MAAS_VERSION,
        });
    }
    parse_document(path, bytes)
}

fn parse_document<T: serde::de::DeserializeOwned>(
    path: &str,
    bytes: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::BadDocument {
        path: path.to_string(),
        message: e.to_string(),
    })
}
