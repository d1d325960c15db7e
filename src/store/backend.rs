//! Where a store's objects live: one dispatch over the folder and S3 backends.

use std::sync::Arc;

use super::folder::FolderBackend;
use super::object::{Changed, Decide, Downloaded, Listing};
use super::s3::S3Backend;
use super::{StoreError, TransferProgress};

/// Where the store's objects live.
#[derive(Debug, Clone)]
pub(crate) enum Backend {
    Folder(FolderBackend),
    S3(S3Backend),
}

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
