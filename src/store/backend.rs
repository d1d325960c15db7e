//! Where a store's objects live: one dispatch over the folder and S3 backends, the answers of
//! their conditional reads and listings, and S3 objects opened as streams for data sets.

use std::sync::Arc;

use super::folder::FolderBackend;
use super::s3::S3Backend;
use super::{sha256_hex, StoreError, TransferProgress};

/// A model file as read from a backend, with the sha256 of its bytes (computed on the way in
/// where the backend streams them).
#[derive(Debug)]
pub(crate) struct Downloaded {
    pub bytes: Vec<u8>,
    pub sha256: String,
}

impl Downloaded {
    /// Bytes read whole, hashed now.
    pub(crate) fn hashed(bytes: Vec<u8>) -> Self {
        Downloaded {
            sha256: sha256_hex(&bytes),
            bytes,
        }
    }
}

/// The answer to a conditional read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// The object still has the ETag the caller knows.
    Unchanged,
    Missing,
    /// The new content and its ETag.
    Changed(Vec<u8>, Option<String>),
}

/// Folders and files directly under a key prefix.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Listing {
    pub folders: Vec<String>,
    pub files: Vec<String>,
}

/// Where the store's objects live.
#[derive(Debug, Clone)]
pub(crate) enum Backend {
    Folder(FolderBackend),
    S3(S3Backend),
}

/// Computes an object's new content from its current one (`None` leaves it unchanged).
pub(crate) type Decide<'a> =
    dyn FnMut(Option<&[u8]>) -> Result<Option<Vec<u8>>, StoreError> + Send + 'a;

impl Backend {
    pub(crate) async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Backend::Folder(b) => b.get(key).await,
            Backend::S3(b) => b.get(key).await,
        }
    }
    pub(crate) async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), StoreError> {
        match self {
            Backend::Folder(b) => b.put(key, bytes).await,
            Backend::S3(b) => b.put(key, bytes).await,
        }
    }
    pub(crate) async fn get_if_changed(
        &self,
        key: &str,
        etag: Option<&str>,
    ) -> Result<Changed, StoreError> {
        match self {
            Backend::Folder(b) => b.get_if_changed(key, etag).await,
            Backend::S3(b) => b.get_if_changed(key, etag).await,
        }
    }
    pub(crate) async fn list(&self, prefix: &str) -> Result<Listing, StoreError> {
        match self {
            Backend::Folder(b) => b.list(prefix).await,
            Backend::S3(b) => b.list(prefix).await,
        }
    }
    pub(crate) async fn update(
        &self,
        key: &str,
        decide: &mut Decide<'_>,
    ) -> Result<(), StoreError> {
        match self {
            Backend::Folder(b) => b.update(key, decide).await,
            Backend::S3(b) => b.update(key, decide).await,
        }
    }
    /// Creates a (possibly large) model file only if absent, reporting progress.
    pub(crate) async fn put_model(
        &self,
        key: &str,
        bytes: &[u8],
        progress: Option<Arc<dyn TransferProgress>>,
    ) -> Result<bool, StoreError> {
        match self {
            Backend::Folder(b) => b.put_new(key, bytes).await,
            Backend::S3(b) => b.put_new_with_progress(key, bytes, progress).await,
        }
    }
    /// Reads a (possibly large) model file, reporting progress.
    pub(crate) async fn get_model(
        &self,
        key: &str,
        progress: Option<Arc<dyn TransferProgress>>,
    ) -> Result<Option<Downloaded>, StoreError> {
        match self {
            Backend::Folder(b) => Ok(b.get(key).await?.map(Downloaded::hashed)),
            Backend::S3(b) => b.get_large(key, progress).await,
        }
    }
    pub(crate) fn describe(&self, key: &str) -> String {
        match self {
            Backend::Folder(b) => b.describe(key),
            Backend::S3(b) => b.describe(key),
        }
    }
}

/// Opens the object an `s3://bucket/key` URL names as a stream: a large data set is parsed
/// while it arrives, never held whole.
pub async fn open_url(
    url: &str,
) -> Result<Box<dyn tokio::io::AsyncRead + Send + Unpin>, StoreError> {
    let (bucket, key) = url
        .strip_prefix("s3://")
        .and_then(|r| r.split_once('/'))
        .filter(|(bucket, key)| !bucket.is_empty() && !key.is_empty())
        .ok_or_else(|| StoreError::InvalidReference {
            reference: url.to_string(),
            reason: "an S3 object is s3://bucket/key".into(),
        })?;
    let body = S3Backend::new(bucket.to_string(), String::new())
        .open(key)
        .await?
        .ok_or_else(|| StoreError::NoSuchFile {
            path: url.to_string(),
        })?;
    Ok(Box::new(body.into_async_read()))
}
