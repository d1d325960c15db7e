//! The versioned model store, in a folder or on S3, and the references that name its models.
//!
//! Layout under a store root: `<name>/versions/<n>/model.onnx`, `<name>/versions/<n>/manifest.json`
//! and `<name>/aliases/<alias>.json` (`{"version": n}`). A publish claims version `n` by creating
//! its model file exclusively, then writes the manifest, then moves the alias `latest`, so a
//! reader that goes through a manifest or an alias never sees an incomplete version.

mod alias;
#[cfg(feature = "native")]
mod backend;
#[cfg(feature = "native")]
mod copy;
mod error;
#[cfg(feature = "native")]
mod fetch;
#[cfg(feature = "native")]
mod folder;
#[cfg(feature = "native")]
mod object;
mod reference;
#[cfg(feature = "native")]
pub(crate) mod s3;

#[cfg(feature = "native")]
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
#[cfg(feature = "native")]
use time::OffsetDateTime;

use crate::manifest::{AttachedFile, Manifest, MANIFEST_FORMAT};
#[cfg(feature = "native")]
use crate::manifest::{ModelDescription, ModelFile};
pub use alias::AliasRecord;
#[cfg(feature = "native")]
use backend::Backend;
#[cfg(feature = "native")]
pub use copy::Copied;
pub use error::{validate_name, StoreError};
#[cfg(feature = "native")]
pub use fetch::{fetch, fetch_with_progress, file_stamp, FetchedModel};
#[cfg(feature = "native")]
use folder::FolderBackend;
#[cfg(feature = "native")]
use object::Downloaded;
#[cfg(feature = "native")]
pub use object::{Changed, Listing};
pub use reference::{ModelRef, Selector, StoreLocation};
#[cfg(feature = "native")]
pub use s3::open_url;
#[cfg(feature = "native")]
use s3::S3Backend;

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

/// Receives the progress of large transfers (the CLI draws progress bars from it).
pub trait TransferProgress: Send + Sync {
    /// A transfer of `total` bytes of `what` starts.
    fn started(&self, what: &str, total: u64);
    /// `bytes` more were transferred.
    fn advanced(&self, bytes: u64);
    fn finished(&self);
}

/// A model store at one location.
#[cfg(feature = "native")]
#[derive(Clone)]
pub struct Store {
    location: StoreLocation,
    backend: Backend,
    progress: Option<Arc<dyn TransferProgress>>,
}

#[cfg(feature = "native")]
impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// A published version as `models list` shows it.
#[cfg(feature = "native")]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionSummary {
    pub manifest: Manifest,
    /// Aliases pointing at this version.
    pub aliases: Vec<String>,
}

#[cfg(feature = "native")]
impl Store {
    pub fn open(location: StoreLocation) -> Self {
        let backend = match &location {
            StoreLocation::Folder(p) => Backend::Folder(FolderBackend::new(p.clone())),
            StoreLocation::S3 { bucket, prefix } => {
                Backend::S3(S3Backend::new(bucket.clone(), prefix.clone()))
            }
        };
        Store {
            location,
            backend,
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

    fn version_key(name: &str, version: u64, file: &str) -> String {
        format!("{name}/versions/{version}/{file}")
    }

    /// Publishes a model as the next version of `name` and moves `latest` to it.
    pub async fn publish(
        &self,
        name: &str,
        model: &[u8],
        description: ModelDescription,
    ) -> Result<Manifest, StoreError> {
        self.publish_with(name, model, description, |_| Vec::new())
            .await
    }

    /// [`Store::publish`] with files beside the model: `attachments` gets the manifest of the
    /// claimed version (without its attachments) and returns the files, which are written
    /// before the manifest that lists them.
    pub async fn publish_with(
        &self,
        name: &str,
        model: &[u8],
        description: ModelDescription,
        attachments: impl FnOnce(&Manifest) -> Vec<Attachment>,
    ) -> Result<Manifest, StoreError> {
        validate_name("model name", name)?;
        let mut version = self
            .claimed_versions(name)
            .await?
            .last()
            .copied()
            .unwrap_or(0)
            + 1;
        // Claim a version by creating its model file exclusively; a racing publisher that
        // got there first makes us move on to the next number.
        while !self
            .backend
            .put_model(
                &Self::version_key(name, version, MODEL_FILE),
                model,
                self.progress.clone(),
            )
            .await?
        {
            version += 1;
        }
        let mut manifest = Manifest {
            format: MANIFEST_FORMAT,
            name: name.to_string(),
            version,
            created_at: OffsetDateTime::now_utc(),
            maas_version: crate::MAAS_VERSION.to_string(),
            model: ModelFile {
                file: MODEL_FILE.to_string(),
                sha256: sha256_hex(model),
                size_bytes: model.len() as u64,
            },
            attachments: Vec::new(),
            description,
        };
        for attachment in attachments(&manifest) {
            validate_name("attachment name", &attachment.file)?;
            if [MODEL_FILE, MANIFEST_FILE].contains(&attachment.file.as_str()) {
                return Err(StoreError::InvalidName {
                    what: "attachment name",
                    value: attachment.file,
                    extra: "; model.onnx and manifest.json are taken",
                });
            }
            let key = Self::version_key(name, version, &attachment.file);
            self.backend.put(&key, &attachment.bytes).await?;
            manifest.attachments.push(attachment.listing());
        }
        let key = Self::version_key(name, version, MANIFEST_FILE);
        let manifest_json =
            serde_json::to_vec_pretty(&manifest).map_err(|e| StoreError::BadDocument {
                path: self.backend.describe(&key),
                message: e.to_string(),
            })?;
        self.backend.put(&key, &manifest_json).await?;
        // latest only moves forward: racing publishers leave it at the highest version
        self.update_alias(name, LATEST, |current| match current {
            Some(c) if c >= version => None,
            _ => Some(version),
        })
        .await?;
        Ok(manifest)
    }

    /// Version numbers claimed (published or being published), ascending.
    async fn claimed_versions(&self, name: &str) -> Result<Vec<u64>, StoreError> {
        let listing = self.backend.list(&format!("{name}/versions/")).await?;
        let mut versions: Vec<u64> = listing
            .folders
            .iter()
            .filter_map(|f| f.parse().ok())
            .collect();
        versions.sort_unstable();
        Ok(versions)
    }

    /// Published versions of `name` (those with a manifest), ascending.
    pub async fn versions(&self, name: &str) -> Result<Vec<u64>, StoreError> {
        let mut published = Vec::new();
        for v in self.claimed_versions(name).await? {
            let listing = self.backend.list(&format!("{name}/versions/{v}/")).await?;
            if listing.files.iter().any(|f| f == MANIFEST_FILE) {
                published.push(v);
            }
        }
        Ok(published)
    }

    /// Every published version with its manifest and the aliases on it.
    pub async fn list(&self, name: &str) -> Result<Vec<VersionSummary>, StoreError> {
        validate_name("model name", name)?;
        let versions = self.versions(name).await?;
        if versions.is_empty() {
            return Err(self.no_such_model(name));
        }
        let aliases = self.aliases(name).await?;
        let mut summaries = Vec::new();
        for v in versions {
            summaries.push(VersionSummary {
                manifest: self.manifest(name, v).await?,
                aliases: aliases
                    .iter()
                    .filter(|(_, r)| r.version == v)
                    .map(|(a, _)| a.clone())
                    .collect(),
            });
        }
        Ok(summaries)
    }

    fn no_such_model(&self, name: &str) -> StoreError {
        StoreError::NoSuchModel {
            store: self.location.to_string(),
            name: name.into(),
        }
    }

    async fn model_exists(&self, name: &str) -> Result<bool, StoreError> {
        Ok(!self.claimed_versions(name).await?.is_empty())
    }

    /// The manifest of one version.
    pub async fn manifest(&self, name: &str, version: u64) -> Result<Manifest, StoreError> {
        validate_name("model name", name)?;
        let key = Self::version_key(name, version, MANIFEST_FILE);
        let Some(bytes) = self.backend.get(&key).await? else {
            return Err(if self.model_exists(name).await? {
                StoreError::NoSuchVersion {
                    store: self.location.to_string(),
                    name: name.into(),
                    version,
                }
            } else {
                self.no_such_model(name)
            });
        };
        parse_manifest(&self.backend.describe(&key), &bytes)
    }

    /// An attached file of a version (listed in its manifest), checksum verified.
    pub async fn attachment(
        &self,
        name: &str,
        version: u64,
        file: &str,
    ) -> Result<Vec<u8>, StoreError> {
        let manifest = self.manifest(name, version).await?;
        let not_found = || {
            let listed: Vec<&str> = manifest.attachments.iter().map(|a| &*a.file).collect();
            StoreError::NoSuchAttachment {
                name: name.into(),
                version,
                file: file.into(),
                listed: if listed.is_empty() {
                    "none".into()
                } else {
                    listed.join(", ")
                },
            }
        };
        let listed = manifest
            .attachments
            .iter()
            .find(|a| a.file == file)
            .ok_or_else(not_found)?;
        let key = Self::version_key(name, version, file);
        let bytes = self
            .backend
            .get(&key)
            .await?
            .ok_or_else(|| StoreError::NoSuchFile {
                path: self.backend.describe(&key),
            })?;
        let actual = sha256_hex(&bytes);
        if actual != listed.sha256 {
            return Err(StoreError::ChecksumMismatch {
                name: name.into(),
                file: file.into(),
                version,
                expected: listed.sha256.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// The manifest and model bytes of the version a selector names, checksum verified.
    pub async fn fetch(
        &self,
        name: &str,
        selector: &Selector,
    ) -> Result<(Manifest, Vec<u8>), StoreError> {
        let version = self.resolve(name, selector).await?;
        // The manifest and the model in parallel: every publish names the model `model.onnx`,
        // so its key is known before the manifest arrives. Two sequential round trips (alias,
        // then both) instead of three: most of a cold start's wait on S3.
        let guessed = Self::version_key(name, version, MODEL_FILE);
        let (manifest, guessed_bytes) = tokio::join!(
            self.manifest(name, version),
            self.backend.get_model(&guessed, self.progress.clone())
        );
        let manifest = manifest?;
        let key = Self::version_key(name, version, &manifest.model.file);
        let bytes = if key == guessed {
            guessed_bytes?
        } else {
            self.backend.get_model(&key, self.progress.clone()).await?
        };
        let Downloaded { bytes, sha256 } = bytes.ok_or_else(|| StoreError::NoSuchFile {
            path: self.backend.describe(&key),
        })?;
        if sha256 != manifest.model.sha256 {
            return Err(StoreError::ChecksumMismatch {
                name: name.into(),
                file: manifest.model.file.clone(),
                version,
                expected: manifest.model.sha256,
                actual: sha256,
            });
        }
        Ok((manifest, bytes))
    }
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
