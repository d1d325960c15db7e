//! The objects batch scoring reads and writes, in a local folder or on S3: their size and
//! version stamp (ETag, or size and modification time for a file), a stream from any offset,
//! the listing of a prefix, and outputs written once: an S3 multipart upload completed only at
//! the end, or a file renamed into place; either carries the stamp of what it was made from.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use tokio::io::{AsyncRead, AsyncSeekExt, AsyncWriteExt};

use crate::store::s3::{classify, client, completed_anyway};
use crate::store::StoreError;

/// Size of one uploaded part of an output (S3 wants at least 5 MiB but for the last).
const PART_BYTES: usize = 8 << 20;
/// A part's buffer: the part and the line that crosses its size, without growing.
const PART_BUFFER: usize = PART_BYTES + (256 << 10);

/// An object: `s3://bucket/key` or a local path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Location {
    S3 { bucket: String, key: String },
    File(PathBuf),
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
            Location::File(path) => write!(f, "{}", path.display()),
        }
    }
}

impl std::str::FromStr for Location {
    type Err = StoreError;

    /// `s3://bucket/key` (the key may be empty or end in `/` for a prefix) or a path.
    fn from_str(text: &str) -> Result<Self, StoreError> {
        match text.strip_prefix("s3://") {
            Some(rest) => {
                let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(StoreError::InvalidReference {
                        reference: text.to_string(),
                        reason: "an S3 location is s3://bucket/key or s3://bucket/prefix/".into(),
                    });
                }
                Ok(Location::S3 {
                    bucket: bucket.to_string(),
                    key: key.to_string(),
                })
            }
            None => Ok(Location::File(PathBuf::from(text))),
        }
    }
}

impl Location {
    /// The last part of its key or path.
    pub fn file_name(&self) -> String {
        match self {
            Location::S3 { key, .. } => key.rsplit('/').next().unwrap_or(key).to_string(),
            Location::File(path) => path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default(),
        }
    }

    /// This location with `suffix` appended to its key or path.
    pub fn with_suffix(&self, suffix: &str) -> Location {
        match self {
            Location::S3 { bucket, key } => Location::S3 {
                bucket: bucket.clone(),
                key: format!("{key}{suffix}"),
            },
            Location::File(path) => {
                let mut text = path.clone().into_os_string();
                text.push(suffix);
                Location::File(PathBuf::from(text))
            }
        }
    }

    /// `name` under this location taken as a folder or prefix (`a/b` under `s3://x/out/` is
    /// `s3://x/out/a/b`).
    pub fn join(&self, name: &str) -> Location {
        match self {
            Location::S3 { bucket, key } => Location::S3 {
                bucket: bucket.clone(),
                key: if key.is_empty() || key.ends_with('/') {
                    format!("{key}{name}")
                } else {
                    format!("{key}/{name}")
                },
            },
            Location::File(path) => Location::File(path.join(name)),
        }
    }
}

/// What an object is now: its size and a stamp that changes whenever its content does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: u64,
    pub stamp: String,
}

fn io_error(action: &'static str, location: &Location, e: impl std::fmt::Display) -> StoreError {
    StoreError::Io {
        action,
        path: location.to_string(),
        source: std::io::Error::other(e.to_string()),
    }
}

/// An S3 object's HEAD, `None` when it does not exist.
async fn head_s3(
    location: &Location,
    bucket: &str,
    key: &str,
) -> Result<Option<aws_sdk_s3::operation::head_object::HeadObjectOutput>, StoreError> {
    match client()
        .await
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
    {
        Ok(head) => Ok(Some(head)),
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(None),
        Err(e) => Err(classify(e, "read", location.to_string(), bucket)),
    }
}

/// The object's size and stamp; `NoSuchFile` when it does not exist.
pub async fn head(location: &Location) -> Result<ObjectInfo, StoreError> {
    match location {
        Location::S3 { bucket, key } => match head_s3(location, bucket, key).await? {
            Some(head) => Ok(ObjectInfo {
                size: head.content_length().unwrap_or(0).max(0) as u64,
                stamp: head
                    .e_tag()
                    .unwrap_or_default()
                    .trim_matches('"')
                    .to_string(),
            }),
            None => Err(StoreError::NoSuchFile {
                path: location.to_string(),
            }),
        },
        Location::File(path) => {
            let meta = tokio::fs::metadata(path).await.map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    StoreError::NoSuchFile {
                        path: location.to_string(),
                    }
                } else {
                    io_error("read", location, e)
                }
            })?;
            Ok(ObjectInfo {
                size: meta.len(),
                stamp: crate::store::file_stamp(path).await?,
            })
        }
    }
}

/// A stream of the object from byte `from` to its end.
pub async fn open(
    location: &Location,
    from: u64,
) -> Result<Box<dyn AsyncRead + Send + Unpin>, StoreError> {
    match location {
        Location::S3 { bucket, key } => {
            let answer = client()
                .await
                .get_object()
                .bucket(bucket)
                .key(key)
                .range(format!("bytes={from}-"))
                .send()
                .await
                .map_err(|e| classify(e, "read", location.to_string(), bucket))?;
            Ok(Box::new(answer.body.into_async_read()))
        }
        Location::File(path) => {
            let mut file = tokio::fs::File::open(path)
                .await
                .map_err(|e| io_error("read", location, e))?;
            file.seek(std::io::SeekFrom::Start(from))
                .await
                .map_err(|e| io_error("read", location, e))?;
            Ok(Box::new(file))
        }
    }
}

/// The objects under a prefix or in a folder (not recursive for a folder; every key under an
/// S3 prefix), with their sizes; a single object is listed alone.
pub async fn list(location: &Location) -> Result<Vec<(Location, u64)>, StoreError> {
    match location {
        Location::S3 { bucket, key } => {
            let mut found = Vec::new();
            let mut pages = client()
                .await
                .list_objects_v2()
                .bucket(bucket)
                .prefix(key)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| classify(e, "list", location.to_string(), bucket))?;
                for object in page.contents() {
                    let Some(k) = object.key() else { continue };
                    if k.ends_with('/') {
                        continue;
                    }
                    found.push((
                        Location::S3 {
                            bucket: bucket.clone(),
                            key: k.to_string(),
                        },
                        object.size().unwrap_or(0).max(0) as u64,
                    ));
                }
            }
            Ok(found)
        }
        Location::File(path) => {
            let meta = tokio::fs::metadata(path)
                .await
                .map_err(|_| StoreError::NoSuchFile {
                    path: location.to_string(),
                })?;
            if meta.is_file() {
                return Ok(vec![(location.clone(), meta.len())]);
            }
            let mut entries = tokio::fs::read_dir(path)
                .await
                .map_err(|e| io_error("list", location, e))?;
            let mut found = Vec::new();
            while let Some(entry) = entries
                .next_entry()
                .await
                .map_err(|e| io_error("list", location, e))?
            {
                let meta = entry
                    .metadata()
                    .await
                    .map_err(|e| io_error("list", location, e))?;
                let name = entry.file_name().to_string_lossy().to_string();
                if meta.is_file() && !name.starts_with('.') {
                    found.push((Location::File(entry.path()), meta.len()));
                }
            }
            found.sort_by_key(|(location, _)| location.to_string());
            Ok(found)
        }
    }
}

/// The stamp an existing output was made with (its metadata), or `None` when there is none.
pub async fn output_stamp(
    location: &Location,
) -> Result<Option<HashMap<String, String>>, StoreError> {
    match location {
        Location::S3 { bucket, key } => Ok(head_s3(location, bucket, key)
            .await?
            .map(|head| head.metadata().cloned().unwrap_or_default())),
        Location::File(path) => {
            let sidecar = stamp_file(path);
            match tokio::fs::read(&sidecar).await {
                Ok(bytes) if tokio::fs::metadata(path).await.is_ok() => {
                    Ok(serde_json::from_slice(&bytes).ok())
                }
                _ => Ok(None),
            }
        }
    }
}

/// Where a local output keeps its stamp: `.<name>.stamp.json` beside it.
fn stamp_file(path: &std::path::Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.stamp.json"))
}

/// An output being written: nothing is visible at its location until [`Output::finish`]. One
/// that is dropped unfinished (an error, a cancelled task) is aborted: its partial file removed,
/// its multipart upload aborted (on the runtime, as drop cannot wait); [`Output::abort`] does
/// the same and waits for it.
pub struct Output {
    location: Location,
    metadata: HashMap<String, String>,
    state: OutputState,
    written: u64,
}

enum OutputState {
    S3 {
        upload_id: Option<String>,
        buffer: Vec<u8>,
        parts: Vec<CompletedPart>,
    },
    File {
        temporary: PathBuf,
        file: tokio::io::BufWriter<tokio::fs::File>,
    },
    /// Finished or aborted: nothing is left to clean up.
    Closed,
}

impl Drop for Output {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.state, OutputState::Closed) {
            OutputState::File { temporary, file } => {
                drop(file);
                let _ = std::fs::remove_file(temporary);
            }
            OutputState::S3 {
                upload_id: Some(id),
                ..
            } => {
                if let (Location::S3 { bucket, key }, Ok(runtime)) =
                    (&self.location, tokio::runtime::Handle::try_current())
                {
                    let (bucket, key) = (bucket.clone(), key.clone());
                    runtime.spawn(async move { abort_upload(&bucket, &key, id).await });
                }
            }
            OutputState::S3 { .. } | OutputState::Closed => {}
        }
    }
}

/// Aborts a multipart upload; a failure leaves it to the bucket's lifecycle rule.
async fn abort_upload(bucket: &str, key: &str, upload_id: String) {
    if let Err(e) = client()
        .await
        .abort_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .send()
        .await
    {
        tracing::warn!(bucket, key, error = %e, "could not abort an unfinished multipart upload");
    }
}

impl Output {
    /// Starts an output at `location` that will carry `metadata` (its stamp).
    pub async fn create(
        location: Location,
        metadata: HashMap<String, String>,
    ) -> Result<Output, StoreError> {
        let state = match &location {
            Location::S3 { .. } => OutputState::S3 {
                upload_id: None,
                buffer: Vec::with_capacity(PART_BUFFER),
                parts: Vec::new(),
            },
            Location::File(path) => {
                if let Some(parent) = path.parent() {
                    tokio::fs::create_dir_all(parent)
                        .await
                        .map_err(|e| io_error("write", &location, e))?;
                }
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default();
                let temporary =
                    path.with_file_name(format!(".{name}.{}.partial", std::process::id()));
                let file = tokio::fs::File::create(&temporary)
                    .await
                    .map_err(|e| io_error("write", &location, e))?;
                OutputState::File {
                    temporary,
                    file: tokio::io::BufWriter::new(file),
                }
            }
        };
        Ok(Output {
            location,
            metadata,
            state,
            written: 0,
        })
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Appends bytes; a full part goes up at once, so memory stays at one part.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.written += bytes.len() as u64;
        match &mut self.state {
            OutputState::File { file, .. } => file
                .write_all(bytes)
                .await
                .map_err(|e| io_error("write", &self.location, e)),
            OutputState::S3 { buffer, .. } => {
                buffer.extend_from_slice(bytes);
                if buffer.len() >= PART_BYTES {
                    self.upload_part().await?;
                }
                Ok(())
            }
            OutputState::Closed => Err(io_error(
                "write",
                &self.location,
                std::io::Error::other("the output is already closed"),
            )),
        }
    }

    async fn upload_part(&mut self) -> Result<(), StoreError> {
        let Location::S3 { bucket, key } = &self.location else {
            return Ok(());
        };
        let OutputState::S3 {
            upload_id,
            buffer,
            parts,
        } = &mut self.state
        else {
            return Ok(());
        };
        let s3 = client().await;
        let id = match upload_id {
            Some(id) => id.clone(),
            None => {
                let created = s3
                    .create_multipart_upload()
                    .bucket(bucket)
                    .key(key)
                    .set_metadata(Some(self.metadata.clone()))
                    .content_type("application/x-ndjson")
                    .send()
                    .await
                    .map_err(|e| classify(e, "write", self.location.to_string(), bucket))?;
                let id = created.upload_id().unwrap_or_default().to_string();
                *upload_id = Some(id.clone());
                id
            }
        };
        let number = parts.len() as i32 + 1;
        // the next part fills a buffer of its own while this one goes up
        let body = std::mem::replace(buffer, Vec::with_capacity(PART_BUFFER));
        let uploaded = s3
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(&id)
            .part_number(number)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| classify(e, "write", self.location.to_string(), bucket))?;
        parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(uploaded.e_tag().map(str::to_string))
                .build(),
        );
        Ok(())
    }

    /// Makes the output visible at its location, whole, with its stamp; on failure nothing is
    /// left behind.
    pub async fn finish(mut self) -> Result<u64, StoreError> {
        match std::mem::replace(&mut self.state, OutputState::Closed) {
            OutputState::File { temporary, file } => {
                let finished = self.finish_file(&temporary, file).await;
                if finished.is_err() {
                    let _ = tokio::fs::remove_file(&temporary).await;
                }
                finished.map(|()| self.written)
            }
            state @ OutputState::S3 { .. } => {
                // kept in place until completed, so that a failure aborts the upload (drop)
                self.state = state;
                // the last part may be small, and an empty output is one empty part
                self.upload_part().await?;
                let Location::S3 { bucket, key } = &self.location else {
                    return Ok(self.written);
                };
                let OutputState::S3 {
                    upload_id, parts, ..
                } = &self.state
                else {
                    return Ok(self.written);
                };
                let completed = client()
                    .await
                    .complete_multipart_upload()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(upload_id.clone().unwrap_or_default())
                    .multipart_upload(
                        CompletedMultipartUpload::builder()
                            .set_parts(Some(parts.clone()))
                            .build(),
                    )
                    .send()
                    .await;
                match completed {
                    Ok(_) => {}
                    Err(e) if completed_anyway(&e) => {}
                    Err(e) => {
                        let error = classify(e, "write", self.location.to_string(), bucket);
                        if let OutputState::S3 {
                            upload_id: Some(id),
                            ..
                        } = std::mem::replace(&mut self.state, OutputState::Closed)
                        {
                            abort_upload(bucket, key, id).await;
                        }
                        return Err(error);
                    }
                }
                self.state = OutputState::Closed;
                Ok(self.written)
            }
            OutputState::Closed => Ok(self.written),
        }
    }

    /// Flushes a folder output, writes its stamp and moves it into place.
    async fn finish_file(
        &self,
        temporary: &Path,
        mut file: tokio::io::BufWriter<tokio::fs::File>,
    ) -> Result<(), StoreError> {
        let Location::File(path) = &self.location else {
            return Ok(());
        };
        file.flush()
            .await
            .map_err(|e| io_error("write", &self.location, e))?;
        drop(file);
        let stamp = serde_json::to_vec(&self.metadata).unwrap_or_default();
        tokio::fs::write(stamp_file(path), stamp)
            .await
            .map_err(|e| io_error("write", &self.location, e))?;
        tokio::fs::rename(temporary, path)
            .await
            .map_err(|e| io_error("write", &self.location, e))
    }

    /// Drops what was written: nothing appears at the location.
    pub async fn abort(mut self) {
        match std::mem::replace(&mut self.state, OutputState::Closed) {
            OutputState::File { temporary, file } => {
                drop(file);
                let _ = tokio::fs::remove_file(temporary).await;
            }
            OutputState::S3 {
                upload_id: Some(id),
                ..
            } => {
                if let Location::S3 { bucket, key } = &self.location {
                    abort_upload(bucket, key, id).await;
                }
            }
            OutputState::S3 { .. } | OutputState::Closed => {}
        }
    }
}
