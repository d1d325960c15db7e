//! Objects in a local folder or on S3: the one layer the model store, batch scoring and data
//! reading go through. Whole reads (plain, hashed for a model, conditional on a stamp), writes
//! (atomic replace, create-if-absent, compare-and-swap), listings, HEAD, a stream from any
//! offset, and outputs written once. Each operation has a folder half (`folder`) and an S3
//! half (`s3`, with one multipart upload in `multipart`), dispatched on the [`Location`].

mod error;
mod folder;
mod location;
mod multipart;
mod output;
mod s3;
mod s3_client;

use std::sync::Arc;

use tokio::io::AsyncRead;

pub use error::ObjectError;
pub use location::Location;
pub use output::{output_stamp, Output};
use s3::At;

/// Receives the progress of large transfers (the CLI draws progress bars from it).
pub trait TransferProgress: Send + Sync {
    /// A transfer of `total` bytes of `what` starts.
    fn started(&self, what: &str, total: u64);
    /// `bytes` more were transferred.
    fn advanced(&self, bytes: u64);
    fn finished(&self);
}

/// What an object is now: its size and a stamp that changes whenever its content does (its
/// ETag on S3, its size and modification time in a folder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: u64,
    pub stamp: String,
}

/// An object read whole, with the sha256 of its bytes (computed on the way in where the bytes
/// stream).
#[derive(Debug)]
pub struct Downloaded {
    pub bytes: Vec<u8>,
    pub sha256: String,
}

impl Downloaded {
    /// Bytes read whole, hashed now.
    fn hashed(bytes: Vec<u8>) -> Self {
        Downloaded {
            sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
            bytes,
        }
    }
}

/// The answer to a conditional read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// The object still has the stamp the caller knows.
    Unchanged,
    Missing,
    /// The new content and its stamp.
    Changed(Vec<u8>, Option<String>),
}

/// Folders and files directly under a prefix.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Listing {
    pub folders: Vec<String>,
    pub files: Vec<String>,
}

/// Computes an object's new content from its current one (`None` leaves it unchanged).
pub type Decide<'a, E> = dyn FnMut(Option<&[u8]>) -> Result<Option<Vec<u8>>, E> + Send + 'a;

/// The object's bytes, `None` when it does not exist.
pub async fn get(location: &Location) -> Result<Option<Vec<u8>>, ObjectError> {
    match location {
        Location::S3 { bucket, key } => Ok(s3::get(At { bucket, key }).await?.map(|(b, _)| b)),
        Location::File(path) => folder::get(path).await,
    }
}

/// A possibly large object (a model) with its sha256, reporting the download's progress; on
/// S3 its ranges come in parallel.
pub async fn get_hashed(
    location: &Location,
    progress: Option<Arc<dyn TransferProgress>>,
) -> Result<Option<Downloaded>, ObjectError> {
    match location {
        Location::S3 { bucket, key } => s3::get_hashed(At { bucket, key }, progress).await,
        Location::File(path) => Ok(folder::get(path).await?.map(Downloaded::hashed)),
    }
}

/// The object unless it still has the stamp `etag` (nothing transferred then).
pub async fn get_if_changed(
    location: &Location,
    etag: Option<&str>,
) -> Result<Changed, ObjectError> {
    match location {
        Location::S3 { bucket, key } => s3::get_if_changed(At { bucket, key }, etag).await,
        Location::File(path) => folder::get_if_changed(path, etag).await,
    }
}

/// Writes the object whole; readers see the old or the new content, never a part.
pub async fn put(location: &Location, bytes: &[u8]) -> Result<(), ObjectError> {
    match location {
        Location::S3 { bucket, key } => s3::put(At { bucket, key }, bytes, None, None)
            .await
            .map(|_| ()),
        Location::File(path) => folder::put(path, bytes).await,
    }
}

/// Creates the object only if it does not exist yet (`false` when it did), reporting the
/// progress of a large upload.
pub async fn put_if_absent(
    location: &Location,
    bytes: &[u8],
    progress: Option<Arc<dyn TransferProgress>>,
) -> Result<bool, ObjectError> {
    match location {
        Location::S3 { bucket, key } => {
            s3::put(At { bucket, key }, bytes, Some(None), progress).await
        }
        Location::File(path) => folder::put_if_absent(path, bytes).await,
    }
}

/// Reads the object, lets `decide` compute its new content (`None` leaves it) and writes it
/// as one exchange: racing writers never lose an update (a lock beside a file; a
/// compare-and-swap on the ETag, retried, on S3).
pub async fn update<E: From<ObjectError>>(
    location: &Location,
    decide: &mut Decide<'_, E>,
) -> Result<(), E> {
    match location {
        Location::S3 { bucket, key } => s3::update(At { bucket, key }, decide).await,
        Location::File(path) => folder::update(path, decide).await,
    }
}

/// Folders and files directly under a prefix or in a folder; nothing when there is none.
pub async fn children(location: &Location) -> Result<Listing, ObjectError> {
    match location {
        Location::S3 { bucket, key } => s3::children(At { bucket, key }).await,
        Location::File(path) => folder::children(path).await,
    }
}

/// The objects under a prefix or in a folder (not recursive for a folder; every key under an
/// S3 prefix), with their sizes; a single object is listed alone.
pub async fn list(location: &Location) -> Result<Vec<(Location, u64)>, ObjectError> {
    match location {
        Location::S3 { bucket, key } => s3::list(At { bucket, key }).await,
        Location::File(path) => folder::list(path).await,
    }
}

/// The object's size and stamp; `NotFound` when it does not exist.
pub async fn head(location: &Location) -> Result<ObjectInfo, ObjectError> {
    match location {
        Location::S3 { bucket, key } => s3::head(At { bucket, key }).await,
        Location::File(path) => folder::head(path).await,
    }
}

/// The stamp of a local file (its size and modification time): [`head`] for a path known to
/// be local, without the S3 request code a server that never heads an S3 object would carry.
pub async fn file_stamp(path: &std::path::Path) -> Result<String, ObjectError> {
    Ok(folder::head(path).await?.stamp)
}

/// A stream of the object from byte `from` to its end: a large object is read while it
/// arrives, never held whole.
pub async fn open(
    location: &Location,
    from: u64,
) -> Result<Box<dyn AsyncRead + Send + Unpin>, ObjectError> {
    match location {
        Location::S3 { bucket, key } => s3::open(At { bucket, key }, from).await,
        Location::File(path) => folder::open(path, from).await,
    }
}
