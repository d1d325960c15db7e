//! Reading a store: the versions of a model, their manifests, attached files and model bytes,
//! checksums verified.

use super::super::{
    parse_manifest, sha256_hex, validate_name, Selector, StoreError, MANIFEST_FILE, MODEL_FILE,
};
use super::{Store, VersionSummary};
use crate::manifest::Manifest;
use crate::objects::{self, Downloaded};

impl Store {
    /// Version numbers claimed (published or being published), ascending.
    pub(super) async fn claimed_versions(&self, name: &str) -> Result<Vec<u64>, StoreError> {
        let listing = self.children(&format!("{name}/versions/")).await?;
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
            let listing = self.children(&format!("{name}/versions/{v}/")).await?;
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

    pub(super) fn no_such_model(&self, name: &str) -> StoreError {
        StoreError::NoSuchModel {
            store: self.location.to_string(),
            name: name.into(),
        }
    }

    pub(super) async fn model_exists(&self, name: &str) -> Result<bool, StoreError> {
        Ok(!self.claimed_versions(name).await?.is_empty())
    }

    /// The manifest of one version.
    pub async fn manifest(&self, name: &str, version: u64) -> Result<Manifest, StoreError> {
        validate_name("model name", name)?;
        let key = Self::version_key(name, version, MANIFEST_FILE);
        let Some(bytes) = objects::get(&self.at(&key)).await? else {
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
        parse_manifest(&self.at(&key).to_string(), &bytes)
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
        let bytes = objects::get(&self.at(&key))
            .await?
            .ok_or_else(|| StoreError::NoSuchFile {
                path: self.at(&key).to_string(),
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
        let guessed_at = self.at(&guessed);
        let (manifest, guessed_bytes) = tokio::join!(
            self.manifest(name, version),
            objects::get_hashed(&guessed_at, self.progress.clone())
        );
        let manifest = manifest?;
        let key = Self::version_key(name, version, &manifest.model.file);
        let bytes = if key == guessed {
            guessed_bytes?
        } else {
            objects::get_hashed(&self.at(&key), self.progress.clone()).await?
        };
        let Downloaded { bytes, sha256 } = bytes.ok_or_else(|| StoreError::NoSuchFile {
            path: self.at(&key).to_string(),
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
