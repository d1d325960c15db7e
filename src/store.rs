//! The versioned model store and the references that name its models.
//!
//! Layout under a store root: `<name>/versions/<n>/model.onnx`, `<name>/versions/<n>/manifest.json`
//! and `<name>/aliases/<alias>.json` (`{"version": n}`). A publish claims version `n` by creating
//! its model file exclusively, then writes the manifest, then moves the alias `latest`, so a
//! reader that goes through a manifest or an alias never sees an incomplete version.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::manifest::{Manifest, ModelDescription, ModelFile, MANIFEST_FORMAT};

/// The alias every publish moves.
pub const LATEST: &str = "latest";
const MODEL_FILE: &str = "model.onnx";
const MANIFEST_FILE: &str = "manifest.json";

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
    #[error("checksum mismatch for {name} version {version}: the manifest says sha256 {expected}, the model file has {actual}; refusing to use it")]
    ChecksumMismatch {
        name: String,
        version: u64,
        expected: String,
        actual: String,
    },
    #[error("S3 model stores ('{0}') are not supported by this build yet; use a folder")]
    S3NotSupported(String),
}

/// Where a store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A folder on the local file system (the embedded default).
    Folder(PathBuf),
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Folder(p) => write!(f, "{}", p.display()),
        }
    }
}

impl FromStr for StoreLocation {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        if s.starts_with("s3://") {
            return Err(StoreError::S3NotSupported(s.to_string()));
        }
        if s.is_empty() {
            return Err(StoreError::InvalidReference {
                reference: s.into(),
                reason: "the store location is empty".into(),
            });
        }
        Ok(StoreLocation::Folder(PathBuf::from(s)))
    }
}

/// Which version of a model a reference means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Version(u64),
    Alias(String),
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Version(v) => write!(f, "{v}"),
            Selector::Alias(a) => write!(f, "{a}"),
        }
    }
}

/// A model reference: `<store>/<name>` (alias `latest`), `<store>/<name>@<n>`,
/// `<store>/<name>@<alias>`, or a path to a bare `.onnx` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelRef {
    Stored {
        store: StoreLocation,
        name: String,
        selector: Selector,
    },
    File(PathBuf),
}

impl FromStr for ModelRef {
    type Err = StoreError;

    /// ```
    /// use maas::store::{ModelRef, Selector};
    /// let r: ModelRef = "models/digits@3".parse().unwrap();
    /// assert!(matches!(r, ModelRef::Stored { selector: Selector::Version(3), .. }));
    /// ```
    fn from_str(s: &str) -> Result<Self, StoreError> {
        let invalid = |reason: &str| StoreError::InvalidReference {
            reference: s.to_string(),
            reason: reason.to_string(),
        };
        if s.to_ascii_lowercase().ends_with(".onnx") {
            return Ok(ModelRef::File(PathBuf::from(s)));
        }
        let trimmed = s.trim_end_matches('/');
        let (store, last) = match trimmed.rfind('/') {
            Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
            None => (".", trimmed),
        };
        if last.is_empty() {
            return Err(invalid(
                "expected <store>/<name>[@version|@alias] or a .onnx file",
            ));
        }
        let (name, selector) = match last.split_once('@') {
            None => (last, Selector::Alias(LATEST.to_string())),
            Some((name, sel)) if !sel.is_empty() && sel.bytes().all(|b| b.is_ascii_digit()) => {
                let v: u64 = sel
                    .parse()
                    .map_err(|_| invalid("the version number is too large"))?;
                if v == 0 {
                    return Err(invalid("versions start at 1"));
                }
                (name, Selector::Version(v))
            }
            Some((name, alias)) => {
                validate_name("alias", alias)?;
                (name, Selector::Alias(alias.to_string()))
            }
        };
        validate_name("model name", name)?;
        let store = if store.is_empty() { "/" } else { store };
        Ok(ModelRef::Stored {
            store: store.parse()?,
            name: name.to_string(),
            selector,
        })
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelRef::Stored {
                store,
                name,
                selector,
            } => write!(f, "{store}/{name}@{selector}"),
            ModelRef::File(p) => write!(f, "{}", p.display()),
        }
    }
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasRecord {
    pub version: u64,
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

/// Reads the model a reference names, verifying its checksum against the manifest.
pub async fn fetch(reference: &ModelRef) -> Result<FetchedModel, StoreError> {
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
            let store = Store::open(store.clone());
            let (manifest, bytes) = store.fetch(name, selector).await?;
            Ok(FetchedModel {
                sha256: manifest.model.sha256.clone(),
                manifest: Some(manifest),
                bytes,
            })
        }
    }
}

/// A model store at one location.
#[derive(Debug, Clone)]
pub struct Store {
    location: StoreLocation,
}

impl Store {
    pub fn open(location: StoreLocation) -> Self {
        Store { location }
    }

    pub fn location(&self) -> &StoreLocation {
        &self.location
    }

    fn root(&self) -> &Path {
        match &self.location {
            StoreLocation::Folder(p) => p,
        }
    }

    fn model_dir(&self, name: &str) -> PathBuf {
        self.root().join(name)
    }

    fn version_dir(&self, name: &str, version: u64) -> PathBuf {
        self.model_dir(name)
            .join("versions")
            .join(version.to_string())
    }

    fn alias_path(&self, name: &str, alias: &str) -> PathBuf {
        self.model_dir(name)
            .join("aliases")
            .join(format!("{alias}.json"))
    }

    /// Publishes a model as the next version of `name` and moves `latest` to it.
    pub async fn publish(
        &self,
        name: &str,
        model: &[u8],
        description: ModelDescription,
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
        while !create_new(&self.version_dir(name, version).join(MODEL_FILE), model).await? {
            version += 1;
        }
        let manifest = Manifest {
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
            description,
        };
        let manifest_json =
            serde_json::to_vec_pretty(&manifest).map_err(|e| StoreError::BadDocument {
                path: MANIFEST_FILE.into(),
                message: e.to_string(),
            })?;
        write_atomic(
            &self.version_dir(name, version).join(MANIFEST_FILE),
            &manifest_json,
        )
        .await?;
        self.advance_alias(name, LATEST, version).await?;
        Ok(manifest)
    }

    /// Points `alias` of `name` at `version`.
    pub async fn set_alias(&self, name: &str, alias: &str, version: u64) -> Result<(), StoreError> {
        self.update_alias(name, alias, |_| Some(version)).await
    }

    /// Moves `alias` to `version` unless it already points at a newer one, so racing
    /// publishers leave `latest` at the highest version.
    async fn advance_alias(&self, name: &str, alias: &str, version: u64) -> Result<(), StoreError> {
        self.update_alias(name, alias, |current| match current {
            Some(c) if c >= version => None,
            _ => Some(version),
        })
        .await
    }

    /// Reads the alias and writes what `decide` returns (nothing for `None`), holding the
    /// model's alias lock so that concurrent updates are serialised.
    async fn update_alias(
        &self,
        name: &str,
        alias: &str,
        decide: impl FnOnce(Option<u64>) -> Option<u64>,
    ) -> Result<(), StoreError> {
        validate_name("alias", alias)?;
        let path = self.alias_path(name, alias);
        let _lock = AliasLock::acquire(&path).await?;
        let current = match read_optional(&path).await? {
            Some(bytes) => Some(parse_document::<AliasRecord>(&path, &bytes)?.version),
            None => None,
        };
        let Some(version) = decide(current) else {
            return Ok(());
        };
        let body =
            serde_json::to_vec(&AliasRecord { version }).map_err(|e| StoreError::BadDocument {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        write_atomic(&path, &body).await
    }

    /// Version numbers whose directories exist (published or being published), ascending.
    async fn claimed_versions(&self, name: &str) -> Result<Vec<u64>, StoreError> {
        let dir = self.model_dir(name).join("versions");
        let mut versions = Vec::new();
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(versions),
            Err(source) => return Err(io_error("list", &dir, source)),
        };
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(|source| io_error("list", &dir, source))?
        {
            if let Some(v) = entry.file_name().to_str().and_then(|s| s.parse().ok()) {
                versions.push(v);
            }
        }
        versions.sort_unstable();
        Ok(versions)
    }

    /// Published versions of `name` (those with a manifest), ascending.
    pub async fn versions(&self, name: &str) -> Result<Vec<u64>, StoreError> {
        let mut published = Vec::new();
        for v in self.claimed_versions(name).await? {
            let manifest = self.version_dir(name, v).join(MANIFEST_FILE);
            if tokio::fs::try_exists(&manifest).await.unwrap_or(false) {
                published.push(v);
            }
        }
        Ok(published)
    }

    /// The version a selector names.
    pub async fn resolve(&self, name: &str, selector: &Selector) -> Result<u64, StoreError> {
        validate_name("model name", name)?;
        match selector {
            Selector::Version(v) => Ok(*v),
            Selector::Alias(alias) => {
                let path = self.alias_path(name, alias);
                match read_optional(&path).await? {
                    Some(bytes) => {
                        let record: AliasRecord = parse_document(&path, &bytes)?;
                        Ok(record.version)
                    }
                    None if !self.model_exists(name).await => Err(StoreError::NoSuchModel {
                        store: self.location.to_string(),
                        name: name.into(),
                    }),
                    None => Err(StoreError::NoSuchAlias {
                        store: self.location.to_string(),
                        name: name.into(),
                        alias: alias.clone(),
                    }),
                }
            }
        }
    }

    async fn model_exists(&self, name: &str) -> bool {
        tokio::fs::try_exists(self.model_dir(name))
            .await
            .unwrap_or(false)
    }

    /// The manifest of one version.
    pub async fn manifest(&self, name: &str, version: u64) -> Result<Manifest, StoreError> {
        let path = self.version_dir(name, version).join(MANIFEST_FILE);
        let Some(bytes) = read_optional(&path).await? else {
            return Err(if self.model_exists(name).await {
                StoreError::NoSuchVersion {
                    store: self.location.to_string(),
                    name: name.into(),
                    version,
                }
            } else {
                StoreError::NoSuchModel {
                    store: self.location.to_string(),
                    name: name.into(),
                }
            });
        };
        parse_manifest(&path, &bytes)
    }

    /// The manifest and model bytes of the version a selector names, checksum verified.
    pub async fn fetch(
        &self,
        name: &str,
        selector: &Selector,
    ) -> Result<(Manifest, Vec<u8>), StoreError> {
        let version = self.resolve(name, selector).await?;
        let manifest = self.manifest(name, version).await?;
        let path = self.version_dir(name, version).join(&manifest.model.file);
        let bytes = read_optional(&path)
            .await?
            .ok_or_else(|| StoreError::NoSuchFile {
                path: path.display().to_string(),
            })?;
        let actual = sha256_hex(&bytes);
        if actual != manifest.model.sha256 {
            return Err(StoreError::ChecksumMismatch {
                name: name.into(),
                version,
                expected: manifest.model.sha256,
                actual,
            });
        }
        Ok((manifest, bytes))
    }
}

fn io_error(action: &'static str, path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        action,
        path: path.display().to_string(),
        source,
    }
}

/// Parses a manifest, refusing one written in a newer format than this maas knows.
fn parse_manifest(path: &Path, bytes: &[u8]) -> Result<Manifest, StoreError> {
    #[derive(Deserialize)]
    struct Header {
        format: u32,
        #[serde(default)]
        maas_version: String,
    }
    let header: Header = parse_document(path, bytes)?;
    if header.format > MANIFEST_FORMAT {
        return Err(StoreError::NewerManifest {
            path: path.display().to_string(),
            found: header.format,
            maas_version: header.maas_version,
            ours: crate::MAAS_VERSION,
        });
    }
    parse_document(path, bytes)
}

fn parse_document<T: serde::de::DeserializeOwned>(
    path: &Path,
    bytes: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::BadDocument {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

async fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    match tokio::fs::read(path).await {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(io_error("read", path, source)),
    }
}

async fn ensure_parent(path: &Path) -> Result<(), StoreError> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|source| io_error("create folder", parent, source))?;
    }
    Ok(())
}

/// Creates `path` with `bytes` only if it does not exist yet; `false` when it already did.
async fn create_new(path: &Path, bytes: &[u8]) -> Result<bool, StoreError> {
    use tokio::io::AsyncWriteExt;
    ensure_parent(path).await?;
    let mut file = match tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .await
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
        Err(source) => return Err(io_error("create", path, source)),
    };
    file.write_all(bytes)
        .await
        .map_err(|source| io_error("write", path, source))?;
    file.sync_all()
        .await
        .map_err(|source| io_error("write", path, source))?;
    Ok(true)
}

/// Writes `path` through a temporary file and a rename, so readers see the old or the new
/// content, never a part.
async fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    use std::sync::atomic::{AtomicU64, Ordering};
    use tokio::io::AsyncWriteExt;
    static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);
    ensure_parent(path).await?;
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let unique = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_file_name(format!(".{file_name}.{}.{unique}.tmp", std::process::id()));
    let mut file = tokio::fs::File::create(&tmp)
        .await
        .map_err(|source| io_error("create", &tmp, source))?;
    file.write_all(bytes)
        .await
        .map_err(|source| io_error("write", &tmp, source))?;
    file.sync_all()
        .await
        .map_err(|source| io_error("write", &tmp, source))?;
    tokio::fs::rename(&tmp, path)
        .await
        .map_err(|source| io_error("rename", path, source))
}

/// An exclusive advisory lock (`flock`) on the aliases folder of one model, held until dropped;
/// it serialises alias updates between threads and processes.
struct AliasLock {
    _file: std::fs::File,
}

impl AliasLock {
    async fn acquire(alias_path: &Path) -> Result<AliasLock, StoreError> {
        ensure_parent(alias_path).await?;
        let lock_path = alias_path.with_file_name(".lock");
        tokio::task::spawn_blocking(move || {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
                .map_err(|source| io_error("open lock", &lock_path, source))?;
            file.lock()
                .map_err(|source| io_error("lock", &lock_path, source))?;
            Ok(AliasLock { _file: file })
        })
        .await
        .map_err(|e| StoreError::Io {
            action: "lock",
            path: alias_path.display().to_string(),
            source: std::io::Error::other(e.to_string()),
        })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references() {
        let r: ModelRef = "models/digits".parse().unwrap();
        assert_eq!(
            r,
            ModelRef::Stored {
                store: StoreLocation::Folder("models".into()),
                name: "digits".into(),
                selector: Selector::Alias("latest".into())
            }
        );
        let r: ModelRef = "/tmp/x/m@prod".parse().unwrap();
        assert!(
            matches!(r, ModelRef::Stored { selector: Selector::Alias(ref a), .. } if a == "prod")
        );
        let r: ModelRef = "a/b.ONNX".parse().unwrap();
        assert_eq!(r, ModelRef::File("a/b.ONNX".into()));
        assert!("models/..".parse::<ModelRef>().is_err());
        assert!("models/d@0".parse::<ModelRef>().is_err());
        assert!("models/d@".parse::<ModelRef>().is_err());
    }

    #[test]
    fn names_cannot_escape_the_store() {
        for bad in ["..", ".hidden", "a/b", "", "a b", "-x"] {
            assert!(validate_name("model name", bad).is_err(), "{bad}");
        }
        assert!(validate_name("alias", "42").is_err());
        assert!(validate_name("alias", "prod-eu.1").is_ok());
    }
}
