//! Publishing: claiming the next version by creating its model file exclusively, the files
//! beside it, then the manifest that lists them, then moving `latest`.

use time::OffsetDateTime;

use super::super::{
    sha256_hex, validate_name, Attachment, StoreError, LATEST, MANIFEST_FILE, MODEL_FILE,
};
use super::Store;
use crate::manifest::{Manifest, ModelDescription, ModelFile, MANIFEST_FORMAT};
use crate::objects;

impl Store {
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
        while !objects::put_if_absent(
            &self.at(&Self::version_key(name, version, MODEL_FILE)),
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
            objects::put(&self.at(&key), &attachment.bytes).await?;
            manifest.attachments.push(attachment.listing());
        }
        // a description copied from another version may name a background this one was not
        // published with: the manifest lists only what the version holds
        let attached = |file: &str| manifest.attachments.iter().any(|a| a.file == file);
        if let Some(file) = manifest
            .description
            .background
            .as_ref()
            .map(|b| b.file.clone())
        {
            if !attached(&file) {
                manifest.description.background = None;
            }
        }
        let key = Self::version_key(name, version, MANIFEST_FILE);
        let manifest_json =
            serde_json::to_vec_pretty(&manifest).map_err(|e| StoreError::BadDocument {
                path: self.at(&key).to_string(),
                message: e.to_string(),
            })?;
        objects::put(&self.at(&key), &manifest_json).await?;
        // latest only moves forward: racing publishers leave it at the highest version
        self.update_alias(name, LATEST, |current| match current {
            Some(c) if c >= version => None,
            _ => Some(version),
        })
        .await?;
        Ok(manifest)
    }
}
