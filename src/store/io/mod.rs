//! The store's I/O: a [`Store`] at a folder or an S3 prefix, its keys laid out as the module
//! above says, every read and write through [`crate::objects`].

mod aliases;
mod copy;
mod fetch;
mod publish;
mod read;

use std::sync::Arc;

use serde::Serialize;

use super::{StoreError, StoreLocation};
use crate::manifest::Manifest;
pub use crate::objects::TransferProgress;
use crate::objects::{self, Listing, Location};
pub use copy::Copied;
pub use fetch::{fetch, fetch_with_progress, file_stamp, FetchedModel};

/// A model store at one location.
#[derive(Clone)]
pub struct Store {
    location: StoreLocation,
    /// The object under which `<name>/…` keys live.
    root: Location,
    progress: Option<Arc<dyn TransferProgress>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// A published version as `models list` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionSummary {
    pub manifest: Manifest,
    /// Aliases pointing at this version.
    pub aliases: Vec<String>,
}

impl Store {
    pub fn open(location: StoreLocation) -> Self {
        let root = match &location {
            StoreLocation::Folder(path) => Location::File(path.clone()),
            StoreLocation::S3 { bucket, prefix } => Location::S3 {
                bucket: bucket.clone(),
                key: prefix.clone(),
            },
        };
        Store {
            location,
            root,
            progress: None,
        }
    }

    /// Reports the progress of large model uploads and downloads to `progress`.
    pub fn with_progress(mut self, progress: Arc<dyn TransferProgress>) -> Self {
        self.progress = Some(progress);
        self
    }

    pub fn location(&self) -> &StoreLocation {
        &self.location
    }

    /// Where a key of the store's layout lives.
    fn at(&self, key: &str) -> Location {
        self.root.join(key)
    }

    /// Folders and files directly under a prefix of the store (ending with `/`).
    async fn children(&self, prefix: &str) -> Result<Listing, StoreError> {
        Ok(objects::children(&self.at(prefix)).await?)
    }

    fn version_key(name: &str, version: u64, file: &str) -> String {
        format!("{name}/versions/{version}/{file}")
    }
}
