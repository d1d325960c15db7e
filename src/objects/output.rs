//! Outputs written once: nothing is visible at the location until the output is finished
//! whole, with the stamp of what it was made from (S3 object metadata, or a hidden sidecar
//! file beside a local output). On S3 a multipart upload completed at the end; locally a
//! temporary file renamed into place.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio::io::AsyncWriteExt;

use super::multipart::Upload;
use super::s3::{self, At};
use super::{folder, Location, ObjectError};

/// Size of one uploaded part of an output (S3 wants at least 5 MiB but for the last).
const PART_BYTES: usize = 8 << 20;
/// A part's buffer: the part and the line that crosses its size, without growing.
const PART_BUFFER: usize = PART_BYTES + (256 << 10);

/// The stamp an existing output was made with (its metadata), or `None` when there is none.
pub async fn output_stamp(
    location: &Location,
) -> Result<Option<HashMap<String, String>>, ObjectError> {
    match location {
        Location::S3 { bucket, key } => Ok(s3::head_object(At { bucket, key })
            .await?
            .map(|head| head.metadata().cloned().unwrap_or_default())),
        Location::File(path) => match tokio::fs::read(stamp_file(path)).await {
            Ok(bytes) if tokio::fs::metadata(path).await.is_ok() => {
                Ok(serde_json::from_slice(&bytes).ok())
            }
            _ => Ok(None),
        },
    }
}

/// Where a local output keeps its stamp: `.<name>.stamp.json` beside it.
fn stamp_file(path: &Path) -> PathBuf {
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
        /// Started with the first full part, so a small output is one request at the end.
        upload: Option<Upload>,
        buffer: Vec<u8>,
        parts: Vec<aws_sdk_s3::types::CompletedPart>,
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
                upload: Some(upload),
                ..
            } => {
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    runtime.spawn(async move { upload.abort().await });
                }
            }
            OutputState::S3 { .. } | OutputState::Closed => {}
        }
    }
}

impl Output {
    /// Starts an output at `location` that will carry `metadata` (its stamp).
    pub async fn create(
        location: Location,
        metadata: HashMap<String, String>,
    ) -> Result<Output, ObjectError> {
        let state = match &location {
            Location::S3 { .. } => OutputState::S3 {
                upload: None,
                buffer: Vec::with_capacity(PART_BUFFER),
                parts: Vec::new(),
            },
            Location::File(path) => {
                folder::ensure_parent(path).await?;
                let temporary = folder::temporary(path, "partial");
                let file = tokio::fs::File::create(&temporary)
                    .await
                    .map_err(|e| ObjectError::io("write", &location, e))?;
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
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), ObjectError> {
        self.written += bytes.len() as u64;
        match &mut self.state {
            OutputState::File { file, .. } => file
                .write_all(bytes)
                .await
                .map_err(|e| ObjectError::io("write", &self.location, e)),
            OutputState::S3 { buffer, .. } => {
                buffer.extend_from_slice(bytes);
                if buffer.len() >= PART_BYTES {
                    self.upload_part().await?;
                }
                Ok(())
            }
            OutputState::Closed => Err(ObjectError::io(
                "write",
                &self.location,
                "the output is already closed",
            )),
        }
    }

    async fn upload_part(&mut self) -> Result<(), ObjectError> {
        let (
            Location::S3 { bucket, key },
            OutputState::S3 {
                upload,
                buffer,
                parts,
            },
        ) = (&self.location, &mut self.state)
        else {
            return Ok(());
        };
        let upload = match upload {
            Some(upload) => upload,
            None => upload.insert(
                Upload::start(
                    At { bucket, key },
                    Some(self.metadata.clone()),
                    Some("application/x-ndjson"),
                )
                .await?,
            ),
        };
        // the next part fills a buffer of its own while this one goes up
        let body = std::mem::replace(buffer, Vec::with_capacity(PART_BUFFER));
        let number = parts.len() as i32 + 1;
        parts.push(upload.part(number, Bytes::from(body)).await?);
        Ok(())
    }

    /// Makes the output visible at its location, whole, with its stamp; on failure nothing is
    /// left behind.
    pub async fn finish(mut self) -> Result<u64, ObjectError> {
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
                if let OutputState::S3 {
                    upload: Some(upload),
                    parts,
                    ..
                } = std::mem::replace(&mut self.state, OutputState::Closed)
                {
                    // `complete` aborts the upload itself when it fails
                    upload.complete(parts, false).await?;
                }
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
    ) -> Result<(), ObjectError> {
        let Location::File(path) = &self.location else {
            return Ok(());
        };
        let failed = |e: std::io::Error| ObjectError::io("write", &self.location, e);
        file.flush().await.map_err(failed)?;
        drop(file);
        let stamp = serde_json::to_vec(&self.metadata).unwrap_or_default();
        tokio::fs::write(stamp_file(path), stamp)
            .await
            .map_err(failed)?;
        tokio::fs::rename(temporary, path).await.map_err(failed)
    }

    /// Drops what was written: nothing appears at the location.
    pub async fn abort(mut self) {
        match std::mem::replace(&mut self.state, OutputState::Closed) {
            OutputState::File { temporary, file } => {
                drop(file);
                let _ = tokio::fs::remove_file(temporary).await;
            }
            OutputState::S3 {
                upload: Some(upload),
                ..
            } => upload.abort().await,
            OutputState::S3 { .. } | OutputState::Closed => {}
        }
    }
}
