//! Reading the model a reference names: a bare file as it is, or a stored version through its
//! alias and manifest with the checksum verified. Bytes and manifest only; loading them is
//! [`crate::loader`]'s job.

use std::sync::Arc;

use super::super::{sha256_hex, ModelRef, StoreError};
use super::Store;
use crate::manifest::Manifest;
use crate::objects::{self, Location, TransferProgress};

/// A model file and, when it came from a store, its manifest (checksum already verified).
#[derive(Debug, Clone)]
pub struct FetchedModel {
    pub manifest: Option<Manifest>,
    pub bytes: Vec<u8>,
    pub sha256: String,
}

/// Reads the model a reference names, verifying its checksum against the manifest.
pub async fn fetch(reference: &ModelRef) -> Result<FetchedModel, StoreError> {
    fetch_with_progress(reference, None).await
}

/// As [`fetch`], reporting the download of a large model to `progress`.
pub async fn fetch_with_progress(
    reference: &ModelRef,
    progress: Option<Arc<dyn TransferProgress>>,
) -> Result<FetchedModel, StoreError> {
    match reference {
        ModelRef::File(path) => {
            let bytes = objects::get(&Location::File(path.clone()))
                .await?
                .ok_or_else(|| StoreError::NoSuchFile {
                    path: path.display().to_string(),
                })?;
            Ok(FetchedModel {
                manifest: None,
                sha256: sha256_hex(&bytes),
                bytes,
            })
        }
        ModelRef::Stored {
            store,
            name,
            selector,
        } => {
            let mut store = Store::open(store.clone());
            store.progress = progress;
            let (manifest, bytes) = store.fetch(name, selector).await?;
            Ok(FetchedModel {
                sha256: manifest.model.sha256.clone(),
                manifest: Some(manifest),
                bytes,
            })
        }
    }
}

/// A tag of a bare model file's size and modification time: it changes whenever the file is
/// replaced or rewritten, so a server can tell whether to load the file again.
pub async fn file_stamp(path: &std::path::Path) -> Result<String, StoreError> {
    Ok(objects::file_stamp(path).await?)
}
