//! Objects as files under a folder: writes go through a temporary file and a rename (readers
//! see the old or the new content, never a part), exclusive creation claims a path, and an
//! advisory lock serialises read-modify-write updates between threads and processes.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncRead, AsyncSeekExt, AsyncWriteExt};

use super::{Changed, Listing, Location, ObjectError, ObjectInfo};

fn io_error(action: &'static str, path: &Path, source: std::io::Error) -> ObjectError {
    ObjectError::Io {
        action,
        path: path.display().to_string(),
        source,
    }
}

/// `NotFound` for a missing file, `Io` for anything else.
fn read_error(path: &Path, source: std::io::Error) -> ObjectError {
    if source.kind() == std::io::ErrorKind::NotFound {
        ObjectError::NotFound {
            path: path.display().to_string(),
        }
    } else {
        io_error("read", path, source)
    }
}

pub(super) async fn get(path: &Path) -> Result<Option<Vec<u8>>, ObjectError> {
    match tokio::fs::read(path).await {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(io_error("read", path, source)),
    }
}

/// Reads `path` unless its size and modification time still make `etag`.
pub(super) async fn get_if_changed(
    path: &Path,
    etag: Option<&str>,
) -> Result<Changed, ObjectError> {
    let tag = match stamp(path).await {
        Ok(tag) => tag,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Changed::Missing),
        Err(source) => return Err(io_error("read", path, source)),
    };
    if etag == Some(tag.as_str()) {
        return Ok(Changed::Unchanged);
    }
    Ok(match get(path).await? {
        Some(bytes) => Changed::Changed(bytes, Some(tag)),
        None => Changed::Missing,
    })
}

/// Replaces `path` atomically.
pub(super) async fn put(path: &Path, bytes: &[u8]) -> Result<(), ObjectError> {
    let tmp = temporary(path, "tmp");
    ensure_parent(path).await?;
    write_file(&tmp, bytes, false).await?;
    tokio::fs::rename(&tmp, path)
        .await
        .map_err(|source| io_error("rename", path, source))
}

/// A hidden name beside `path`, unique to this process and call: `.<name>.<pid>.<n>.<ending>`.
pub(super) fn temporary(path: &Path, ending: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.{}.{unique}.{ending}", std::process::id()))
}

/// Creates `path` only if it does not exist yet; `false` when it already did.
pub(super) async fn put_if_absent(path: &Path, bytes: &[u8]) -> Result<bool, ObjectError> {
    ensure_parent(path).await?;
    match write_file(path, bytes, true).await {
        Ok(()) => Ok(true),
        Err(ObjectError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::AlreadyExists =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Folders and files directly in `dir` (hidden names left out); nothing when it is missing.
pub(super) async fn children(dir: &Path) -> Result<Listing, ObjectError> {
    let mut listing = Listing::default();
    let mut entries = match tokio::fs::read_dir(dir).await {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(listing),
        Err(source) => return Err(io_error("list", dir, source)),
    };
    while let Some(entry) = entries
        .next_entry()
        .await
        .map_err(|source| io_error("list", dir, source))?
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

/// The files in a folder with their sizes (not recursive, hidden names left out, sorted), or
/// a single file alone.
pub(super) async fn list(path: &Path) -> Result<Vec<(Location, u64)>, ObjectError> {
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|e| read_error(path, e))?;
    if meta.is_file() {
        return Ok(vec![(Location::File(path.to_path_buf()), meta.len())]);
    }
    let mut entries = tokio::fs::read_dir(path)
        .await
        .map_err(|e| io_error("list", path, e))?;
    let mut found = Vec::new();
    while let Some(entry) = entries
        .next_entry()
        .await
        .map_err(|e| io_error("list", path, e))?
    {
        let meta = entry
            .metadata()
            .await
            .map_err(|e| io_error("list", path, e))?;
        let name = entry.file_name().to_string_lossy().to_string();
        if meta.is_file() && !name.starts_with('.') {
            found.push((Location::File(entry.path()), meta.len()));
        }
    }
    found.sort_by_key(|(location, _)| location.to_string());
    Ok(found)
}

/// Reads `path`, lets `decide` compute its new content (`None` leaves it), and writes it,
/// holding an exclusive lock beside it for the whole exchange.
pub(super) async fn update<E: From<ObjectError>>(
    path: &Path,
    decide: &mut super::Decide<'_, E>,
) -> Result<(), E> {
    let _lock = FolderLock::acquire(path).await?;
    let current = get(path).await?;
    if let Some(new) = decide(current.as_deref())? {
        put(path, &new).await?;
    }
    Ok(())
}

pub(super) async fn head(path: &Path) -> Result<ObjectInfo, ObjectError> {
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|e| read_error(path, e))?;
    Ok(ObjectInfo {
        size: meta.len(),
        stamp: stamp_of(&meta),
    })
}

/// A stream of the file from byte `from`.
pub(super) async fn open(
    path: &Path,
    from: u64,
) -> Result<Box<dyn AsyncRead + Send + Unpin>, ObjectError> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| read_error(path, e))?;
    if from > 0 {
        file.seek(std::io::SeekFrom::Start(from))
            .await
            .map_err(|e| io_error("read", path, e))?;
    }
    Ok(Box::new(file))
}

pub(super) async fn ensure_parent(path: &Path) -> Result<(), ObjectError> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|source| io_error("create folder", parent, source))?;
    }
    Ok(())
}

async fn write_file(path: &Path, bytes: &[u8], create_new: bool) -> Result<(), ObjectError> {
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
    async fn acquire(path: &Path) -> Result<FolderLock, ObjectError> {
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
        .map_err(|e| ObjectError::io("lock", path.display(), e))?
    }
}

/// A file's size and modification time as a tag that changes whenever the file is replaced or
/// rewritten: a folder object's ETag.
async fn stamp(path: &Path) -> std::io::Result<String> {
    Ok(stamp_of(&tokio::fs::metadata(path).await?))
}

fn stamp_of(meta: &std::fs::Metadata) -> String {
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}-{modified}", meta.len())
}
