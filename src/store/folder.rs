//! The folder backend of the model store: keys are paths under a root folder; exclusive
//! creation claims a key, writes go through a temporary file and a rename, and an advisory lock
//! serialises read-modify-write updates between threads and processes.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::AsyncWriteExt;

use super::object::{Changed, Decide, Listing};
use super::StoreError;

#[derive(Debug, Clone)]
pub struct FolderBackend {
    root: PathBuf,
}

fn io_error(action: &'static str, path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        action,
        path: path.display().to_string(),
        source,
    }
}

impl FolderBackend {
    pub fn new(root: PathBuf) -> Self {
        FolderBackend { root }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    /// Where a key lives, for messages.
    pub fn describe(&self, key: &str) -> String {
        self.path(key).display().to_string()
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.path(key);
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(io_error("read", &path, source)),
        }
    }

    /// Reads `key` unless its size and modification time still make `etag`.
    pub async fn get_if_changed(
        &self,
        key: &str,
        etag: Option<&str>,
    ) -> Result<Changed, StoreError> {
        let path = self.path(key);
        let tag = match file_stamp(&path).await {
            Ok(tag) => tag,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Changed::Missing),
            Err(source) => return Err(io_error("read", &path, source)),
        };
        if etag == Some(tag.as_str()) {
            return Ok(Changed::Unchanged);
        }
        Ok(match self.get(key).await? {
            Some(bytes) => Changed::Changed(bytes, Some(tag)),
            None => Changed::Missing,
        })
    }

    /// Replaces `key` atomically: readers see the old or the new content, never a part.
    pub async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), StoreError> {
        static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);
        let path = self.path(key);
        ensure_parent(&path).await?;
        let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
        let unique = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = path.with_file_name(format!(".{file_name}.{}.{unique}.tmp", std::process::id()));
        write_file(&tmp, bytes, false).await?;
        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(|source| io_error("rename", &path, source))
    }

    /// Creates `key` only if it does not exist yet; `false` when it already did.
    pub async fn put_new(&self, key: &str, bytes: &[u8]) -> Result<bool, StoreError> {
        let path = self.path(key);
        ensure_parent(&path).await?;
        match write_file(&path, bytes, true).await {
            Ok(()) => Ok(true),
            Err(StoreError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::AlreadyExists =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Folders and files directly under `prefix` (which ends with `/`).
    pub async fn list(&self, prefix: &str) -> Result<Listing, StoreError> {
        let dir = self.path(prefix);
        let mut listing = Listing::default();
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(listing),
            Err(source) => return Err(io_error("list", &dir, source)),
        };
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(|source| io_error("list", &dir, source))?
        {
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            let is_dir = entry.file_type().await.map(|t| t.is_dir()).unwrap_or(false);
            if is_dir {
                listing.folders.push(name);
            } else {
                listing.files.push(name);
            }
        }
        Ok(listing)
    }

    /// Reads `key`, lets `decide` compute its new content (`None` leaves it), and writes it,
    /// holding an exclusive lock beside it for the whole exchange.
    pub async fn update(&self, key: &str, decide: &mut Decide<'_>) -> Result<(), StoreError> {
        let path = self.path(key);
        let _lock = FolderLock::acquire(&path).await?;
        let current = self.get(key).await?;
        if let Some(new) = decide(current.as_deref())? {
            self.put(key, &new).await?;
        }
        Ok(())
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

async fn write_file(path: &Path, bytes: &[u8], create_new: bool) -> Result<(), StoreError> {
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true);
    if create_new {
        options.create_new(true);
    } else {
        options.create(true).truncate(true);
    }
    let mut file = options
        .open(path)
        .await
        .map_err(|source| io_error("create", path, source))?;
    file.write_all(bytes)
        .await
        .map_err(|source| io_error("write", path, source))?;
    file.sync_all()
        .await
        .map_err(|source| io_error("write", path, source))
}

/// An exclusive advisory lock (`flock`) on a `.lock` file in the folder of `path`.
struct FolderLock {
    _file: std::fs::File,
}

impl FolderLock {
    async fn acquire(path: &Path) -> Result<FolderLock, StoreError> {
        ensure_parent(path).await?;
        let lock_path = path.with_file_name(".lock");
        tokio::task::spawn_blocking(move || {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
                .map_err(|source| io_error("open lock", &lock_path, source))?;
            file.lock()
                .map_err(|source| io_error("lock", &lock_path, source))?;
            Ok(FolderLock { _file: file })
        })
        .await
        .map_err(|e| StoreError::Io {
            action: "lock",
            path: path.display().to_string(),
            source: std::io::Error::other(e.to_string()),
        })?
    }
}

/// A file's size and modification time as a tag that changes whenever the file is replaced or
/// rewritten: the folder store's ETag, and how a bare `.onnx` file is watched.
pub(crate) async fn file_stamp(path: &Path) -> std::io::Result<String> {
    let meta = tokio::fs::metadata(path).await?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    Ok(format!("{}-{modified}", meta.len()))
}
