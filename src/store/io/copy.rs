//! Copying a published version between stores with its number, manifest, attachments and the
//! alias that named it: staging to production buckets, a folder to R2 for the edge worker.

use std::sync::atomic::{AtomicBool, Ordering};

use super::super::{Selector, StoreError, LATEST, MANIFEST_FILE};
use super::Store;
use crate::objects;

/// What [`Store::copy_to`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub name: String,
    pub version: u64,
    /// The alias set in the target (the source reference's, and `latest` when it moved).
    pub aliases: Vec<String>,
    /// The target already held this version with the same model: nothing was written.
    pub already_there: bool,
}

impl Store {
    /// Copies the version `selector` names into `target` under the same number, checksums
    /// verified, files before the manifest; then points the same alias at it (and `latest`,
    /// which only moves forward). A version the target holds with another model is refused.
    pub async fn copy_to(
        &self,
        name: &str,
        selector: &Selector,
        target: &Store,
    ) -> Result<Copied, StoreError> {
        let version = self.resolve(name, selector).await?;
        let (manifest, model) = self.fetch(name, &Selector::Version(version)).await?;
        let manifest_key = Self::version_key(name, version, MANIFEST_FILE);
        let manifest_at = self.at(&manifest_key);
        let manifest_bytes =
            objects::get(&manifest_at)
                .await?
                .ok_or_else(|| StoreError::NoSuchFile {
                    path: manifest_at.to_string(),
                })?;
        let model_key = Self::version_key(name, version, &manifest.model.file);
        let already_there = match target.manifest(name, version).await {
            Ok(existing) if existing.model.sha256 == manifest.model.sha256 => true,
            Ok(existing) => {
                return Err(StoreError::VersionTaken {
                    store: target.location.to_string(),
                    name: name.into(),
                    version,
                    theirs: existing.model.sha256,
                    ours: manifest.model.sha256,
                })
            }
            Err(StoreError::NoSuchModel { .. } | StoreError::NoSuchVersion { .. }) => false,
            Err(e) => return Err(e),
        };
        if !already_there {
            objects::put_if_absent(&target.at(&model_key), &model, target.progress.clone()).await?;
            for attached in &manifest.attachments {
                let bytes = self.attachment(name, version, &attached.file).await?;
                let key = Self::version_key(name, version, &attached.file);
                objects::put(&target.at(&key), &bytes).await?;
            }
            objects::put(&target.at(&manifest_key), &manifest_bytes).await?;
        }
        let mut aliases = Vec::new();
        if let Selector::Alias(alias) = selector {
            if alias != LATEST {
                target
                    .update_alias(name, alias, |current| {
                        (current != Some(version)).then_some(version)
                    })
                    .await?;
                aliases.push(alias.clone());
            }
        }
        // the decision may run again when a concurrent writer wins the exchange
        let moved = AtomicBool::new(false);
        target
            .update_alias(name, LATEST, |current| {
                let forward = current.is_none_or(|c| c < version);
                moved.store(forward, Ordering::Release);
                forward.then_some(version)
            })
            .await?;
        if moved.load(Ordering::Acquire) {
            aliases.push(LATEST.to_string());
        }
        Ok(Copied {
            name: name.to_string(),
            version,
            aliases,
            already_there,
        })
    }
}
