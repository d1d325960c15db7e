//! The versioned model store, in a folder or on S3, and the references that name its models.
//!
//! Layout under a store root: `<name>/versions/<n>/model.onnx`, `<name>/versions/<n>/manifest.json`
//! and `<name>/aliases/<alias>.json` (`{"version": n}`). A publish claims version `n` by creating
//! its model file exclusively, then writes the manifest, then moves the alias `latest`, so a
//! reader that goes through a manifest or an alias never sees an incomplete version.

mod folder;
mod reference;
mod s3;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::manifest::{AttachedFile, Manifest, ModelDescription, ModelFile, MANIFEST_FORMAT};
use folder::FolderBackend;
pub use reference::{ModelRef, Selector, StoreLocation};
use s3::S3Backend;

/// The alias every publish moves.
pub const LATEST: &str = "latest";
const MODEL_FILE: &str = "model.onnx";
const MANIFEST_FILE: &str = "manifest.json";
/// How many earlier versions an alias remembers for `rollback`.
const ALIAS_HISTORY: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid model reference '{reference}': {reason}")]
    InvalidReference { reference: String, reason: String },
    #[error("invalid {what} '{value}': use 1 to 128 letters, digits, '.', '_' or '-', not starting with '.' or '-'{extra}")]
    InvalidName {
        what: &'static str,
        value: String,
        extra: &'static str,
    },
    #[error("no model named '{name}' in store {store}")]
    NoSuchModel { store: String, name: String },
    #[error("model '{name}' in store {store} has no version {version}")]
    NoSuchVersion {
        store: String,
        name: String,
        version: u64,
    },
    #[error("model '{name}' in store {store} has no alias '{alias}'")]
    NoSuchAlias {
        store: String,
        name: String,
        alias: String,
    },
    #[error("model file {path} not found")]
    NoSuchFile { path: String },
    #[error("{name} version {version} has no attached file '{file}' (attached: {listed})")]
    NoSuchAttachment {
        name: String,
        version: u64,
        file: String,
        listed: String,
    },
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a valid maas document: {message}")]
    BadDocument { path: String, message: String },
    #[error("{path} was written by a newer maas (manifest format {found}, maas {maas_version}); this maas {ours} reads format {MANIFEST_FORMAT} at most: upgrade maas")]
    NewerManifest {
        path: String,
        found: u32,
        maas_version: String,
        ours: &'static str,
    },
    #[error("checksum mismatch for {name} version {version}: the manifest says sha256 {expected}, the file {file} has {actual}; refusing to use it")]
    ChecksumMismatch {
        name: String,
        file: String,
        version: u64,
        expected: String,
        actual: String,
    },
    #[error("no such bucket: {bucket}")]
    NoSuchBucket { bucket: String },
    #[error("access denied to {action} {path} ({code}): check the credentials and the IAM policy")]
    AccessDenied {
        action: &'static str,
        path: String,
        code: String,
    },
    #[error("cannot reach the S3 endpoint {endpoint} after {attempts} attempts: {detail}")]
    Unreachable {
        endpoint: String,
        attempts: u32,
        detail: String,
    },
    #[error("{path} keeps changing under concurrent writers; try again")]
    Contended { path: String },
    #[error("alias '{alias}' of model '{name}' has no earlier version to roll back to")]
    NothingToRollBack { name: String, alias: String },
}

/// Checks a model name or alias: it becomes a path segment, so no separators or dot-dot.
pub fn validate_name(what: &'static str, value: &str) -> Result<(), StoreError> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && !value.starts_with('.')
        && !value.starts_with('-')
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    let all_digits = value.bytes().all(|b| b.is_ascii_digit());
    if !ok || (what == "alias" && all_digits) {
        return Err(StoreError::InvalidName {
            what,
            value: value.to_string(),
            extra: if what == "alias" {
                "; an alias cannot be a number"
            } else {
                ""
            },
        });
    }
    Ok(())
}

/// Content of `aliases/<alias>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasRecord {
    pub version: u64,
    /// Versions the alias pointed at before, most recent last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<u64>,
}

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

/// A model file and, when it came from a store, its manifest (checksum already verified).
#[derive(Debug, Clone)]
pub struct FetchedModel {
    pub manifest: Option<Manifest>,
    pub bytes: Vec<u8>,
    pub sha256: String,
}

impl FetchedModel {
    /// Loads the model with tract; labels published in the manifest (e.g. with `maas publish
    /// --labels`) take precedence over the file's own. Hands the file's bytes to tract, which
    /// frees them once parsed (`bytes` is empty afterwards): a process's peak memory then holds
    /// the weights twice at most, not three times.
    pub fn load(
        &mut self,
    ) -> Result<crate::inference::LoadedModel, crate::inference::InferenceError> {
        let mut model = crate::inference::LoadedModel::from_vec(std::mem::take(&mut self.bytes))?;
        if let Some(manifest) = &self.manifest {
            if manifest.description.labels.len() == model.n_classes() {
                model.labels = manifest.description.labels.clone();
            }
        }
        Ok(model)
    }
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
            let bytes = tokio::fs::read(path).await.map_err(|source| {
                if source.kind() == std::io::ErrorKind::NotFound {
                    StoreError::NoSuchFile {
                        path: path.display().to_string(),
                    }
                } else {
                    StoreError::Io {
                        action: "read",
                        path: path.display().to_string(),
                        source,
                    }
                }
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

/// Receives the progress of large transfers (the CLI draws progress bars from it).
pub trait TransferProgress: Send + Sync {
    /// A transfer of `total` bytes of `what` starts.
    fn started(&self, what: &str, total: u64);
    /// `bytes` more were transferred.
    fn advanced(&self, bytes: u64);
    fn finished(&self);
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
enum Backend {
    Folder(FolderBackend),
    S3(S3Backend),
}

/// Computes an object's new content from its current one (`None` leaves it unchanged).
pub(crate) type Decide<'a> =
    dyn FnMut(Option<&[u8]>) -> Result<Option<Vec<u8>>, StoreError> + Send + 'a;

impl Backend {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Backend::Folder(b) => b.get(key).await,
            Backend::S3(b) => b.get(key).await,
        }
    }
    async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), StoreError> {
        match self {
            Backend::Folder(b) => b.put(key, bytes).await,
            Backend::S3(b) => b.put(key, bytes).await,
        }
    }
    async fn get_if_changed(&self, key: &str, etag: Option<&str>) -> Result<Changed, StoreError> {
        match self {
            Backend::Folder(b) => b.get_if_changed(key, etag).await,
            Backend::S3(b) => b.get_if_changed(key, etag).await,
        }
    }
    async fn list(&self, prefix: &str) -> Result<Listing, StoreError> {
        match self {
            Backend::Folder(b) => b.list(prefix).await,
            Backend::S3(b) => b.list(prefix).await,
        }
    }
    async fn update(&self, key: &str, decide: &mut Decide<'_>) -> Result<(), StoreError> {
        match self {
            Backend::Folder(b) => b.update(key, decide).await,
            Backend::S3(b) => b.update(key, decide).await,
        }
    }
    /// Creates a (possibly large) model file only if absent, reporting progress.
    async fn put_model(
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
    async fn get_model(
        &self,
        key: &str,
        progress: Option<Arc<dyn TransferProgress>>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Backend::Folder(b) => b.get(key).await,
            Backend::S3(b) => b.get_large(key, progress).await,
        }
    }
    fn describe(&self, key: &str) -> String {
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

/// A model store at one location.
#[derive(Clone)]
pub struct Store {
    location: StoreLocation,
    backend: Backend,
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

    fn alias_key(name: &str, alias: &str) -> String {
        format!("{name}/aliases/{alias}.json")
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

    /// Points `alias` of `name` at a published `version`, remembering where it pointed before.
    pub async fn set_alias(&self, name: &str, alias: &str, version: u64) -> Result<(), StoreError> {
        self.manifest(name, version).await?;
        self.update_alias(name, alias, |_| Some(version)).await
    }

    /// Moves `alias` back to the version it held before the last move; returns that version.
    pub async fn rollback(&self, name: &str, alias: &str) -> Result<u64, StoreError> {
        validate_name("model name", name)?;
        validate_name("alias", alias)?;
        let key = Self::alias_key(name, alias);
        let path = self.backend.describe(&key);
        let mut restored = None;
        let (name_owned, alias_owned) = (name.to_string(), alias.to_string());
        self.backend
            .update(&key, &mut |current| {
                let Some(bytes) = current else {
                    return Err(StoreError::NoSuchAlias {
                        store: self.location.to_string(),
                        name: name_owned.clone(),
                        alias: alias_owned.clone(),
                    });
                };
                let mut record: AliasRecord = parse_document(&path, bytes)?;
                let previous =
                    record
                        .history
                        .pop()
                        .ok_or_else(|| StoreError::NothingToRollBack {
                            name: name_owned.clone(),
                            alias: alias_owned.clone(),
                        })?;
                record.version = previous;
                restored = Some(previous);
                Ok(Some(to_json(&path, &record)?))
            })
            .await?;
        restored.ok_or_else(|| StoreError::NothingToRollBack {
            name: name.into(),
            alias: alias.into(),
        })
    }

    /// Reads the alias and writes the version `decide` returns (nothing for `None`), pushing
    /// the old version onto its history, as one atomic exchange.
    async fn update_alias(
        &self,
        name: &str,
        alias: &str,
        decide: impl Fn(Option<u64>) -> Option<u64> + Send + Sync,
    ) -> Result<(), StoreError> {
        validate_name("alias", alias)?;
        let key = Self::alias_key(name, alias);
        let path = self.backend.describe(&key);
        self.backend
            .update(&key, &mut |current| {
                let current: Option<AliasRecord> = match current {
                    Some(bytes) => Some(parse_document(&path, bytes)?),
                    None => None,
                };
                let Some(version) = decide(current.as_ref().map(|r| r.version)) else {
                    return Ok(None);
                };
                let mut history = Vec::new();
                if let Some(old) = current {
                    history = old.history;
                    if old.version != version && alias != LATEST {
                        history.push(old.version);
                    }
                    let excess = history.len().saturating_sub(ALIAS_HISTORY);
                    history.drain(..excess);
                }
                Ok(Some(to_json(&path, &AliasRecord { version, history })?))
            })
            .await
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

    /// The aliases of `name` and what they hold, sorted by alias.
    pub async fn aliases(&self, name: &str) -> Result<Vec<(String, AliasRecord)>, StoreError> {
        let listing = self.backend.list(&format!("{name}/aliases/")).await?;
        let mut aliases = Vec::new();
        for file in listing.files {
            let Some(alias) = file.strip_suffix(".json") else {
                continue;
            };
            let key = Self::alias_key(name, alias);
            if let Some(bytes) = self.backend.get(&key).await? {
                aliases.push((
                    alias.to_string(),
                    parse_document(&self.backend.describe(&key), &bytes)?,
                ));
            }
        }
        aliases.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(aliases)
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

    /// The version a selector names.
    pub async fn resolve(&self, name: &str, selector: &Selector) -> Result<u64, StoreError> {
        validate_name("model name", name)?;
        match selector {
            Selector::Version(v) => Ok(*v),
            Selector::Alias(alias) => {
                let key = Self::alias_key(name, alias);
                match self.backend.get(&key).await? {
                    Some(bytes) => {
                        let record: AliasRecord =
                            parse_document(&self.backend.describe(&key), &bytes)?;
                        Ok(record.version)
                    }
                    None if !self.model_exists(name).await? => Err(self.no_such_model(name)),
                    None => Err(StoreError::NoSuchAlias {
                        store: self.location.to_string(),
                        name: name.into(),
                        alias: alias.clone(),
                    }),
                }
            }
        }
    }

    /// The version an alias names, read with a conditional GET on `etag`: `None` while the
    /// alias is unchanged, else the version and the alias document's new ETag.
    pub async fn resolve_if_changed(
        &self,
        name: &str,
        alias: &str,
        etag: Option<&str>,
    ) -> Result<Option<(u64, Option<String>)>, StoreError> {
        validate_name("model name", name)?;
        let key = Self::alias_key(name, alias);
        match self.backend.get_if_changed(&key, etag).await? {
            Changed::Unchanged => Ok(None),
            Changed::Changed(bytes, tag) => {
                let record: AliasRecord = parse_document(&self.backend.describe(&key), &bytes)?;
                Ok(Some((record.version, tag)))
            }
            Changed::Missing => Err(StoreError::NoSuchAlias {
                store: self.location.to_string(),
                name: name.into(),
                alias: alias.into(),
            }),
        }
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
        let manifest = self.manifest(name, version).await?;
        let key = Self::version_key(name, version, &manifest.model.file);
        let bytes = self
            .backend
            .get_model(&key, self.progress.clone())
            .await?
            .ok_or_else(|| StoreError::NoSuchFile {
                path: self.backend.describe(&key),
            })?;
        let actual = sha256_hex(&bytes);
        if actual != manifest.model.sha256 {
            return Err(StoreError::ChecksumMismatch {
                name: name.into(),
                file: manifest.model.file.clone(),
                version,
                expected: manifest.model.sha256,
                actual,
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
fn parse_manifest(path: &str, bytes: &[u8]) -> Result<Manifest, StoreError> {
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
