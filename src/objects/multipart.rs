//! S3 multipart uploads, the one implementation: a large object written whole (parts in
//! parallel, completed only if still absent when asked) and a batch output written as it is
//! produced (parts in order). An upload that does not complete is aborted, so no incomplete
//! upload is left to bill.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::s3::At;
use super::s3_client::{classify, client, completed_anyway, lost_race};
use super::{ObjectError, TransferProgress};

/// Objects larger than this go up as a multipart upload and come down as parallel ranged GETs.
pub(super) const MULTIPART_THRESHOLD: usize = 64 << 20;
/// Size of one part or range of a large object.
pub(super) const PART_SIZE: usize = 16 << 20;
/// Parts or ranges in flight at once.
pub(super) const PARALLEL_TRANSFERS: usize = 4;

/// A multipart upload in progress.
#[derive(Debug, Clone)]
pub(super) struct Upload {
    bucket: String,
    key: String,
    id: String,
}

impl Upload {
    /// Starts an upload; `metadata` and `content_type` go on the object it makes.
    pub async fn start(
        at: At<'_>,
        metadata: Option<HashMap<String, String>>,
        content_type: Option<&str>,
    ) -> Result<Upload, ObjectError> {
        let created = client()
            .await
            .create_multipart_upload()
            .bucket(at.bucket)
            .key(at.key)
            .set_metadata(metadata)
            .set_content_type(content_type.map(str::to_string))
            .send()
            .await
            .map_err(|e| classify(e, "write", at.describe(), at.bucket))?;
        let id = created.upload_id().ok_or_else(|| {
            ObjectError::io("write", at.describe(), "S3 started an upload without an id")
        })?;
        Ok(Upload {
            bucket: at.bucket.to_string(),
            key: at.key.to_string(),
            id: id.to_string(),
        })
    }

    fn at(&self) -> At<'_> {
        At {
            bucket: &self.bucket,
            key: &self.key,
        }
    }

    /// Uploads part `number` (from 1; every part but the last at least 5 MiB).
    pub async fn part(&self, number: i32, body: Bytes) -> Result<CompletedPart, ObjectError> {
        let uploaded = client()
            .await
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.id)
            .part_number(number)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| classify(e, "write", self.at().describe(), &self.bucket))?;
        Ok(CompletedPart::builder()
            .part_number(number)
            .set_e_tag(uploaded.e_tag().map(str::to_string))
            .build())
    }

    /// Makes the object from `parts`; with `if_absent`, only if no object exists at the key
    /// (`false` then). Anything but `Ok(true)` aborts the upload.
    pub async fn complete(
        &self,
        mut parts: Vec<CompletedPart>,
        if_absent: bool,
    ) -> Result<bool, ObjectError> {
        parts.sort_by_key(|p| p.part_number());
        let answer = client()
            .await
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .set_if_none_match(if_absent.then(|| "*".to_string()))
            .send()
            .await;
        let completed = match answer {
            Ok(_) => Ok(true),
            Err(e) if lost_race(&e) => Ok(false),
            Err(e) if completed_anyway(&e) => Ok(true),
            Err(e) => Err(classify(e, "write", self.at().describe(), &self.bucket)),
        };
        if !matches!(completed, Ok(true)) {
            self.abort().await;
        }
        completed
    }

    /// Aborts the upload; a failure leaves it to the bucket's lifecycle rule.
    pub async fn abort(&self) {
        if let Err(e) = client()
            .await
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.id)
            .send()
            .await
        {
            tracing::warn!(bucket = %self.bucket, key = %self.key, error = %e, "could not abort an unfinished multipart upload");
        }
    }
}

/// Writes `data` as a multipart upload, [`PARALLEL_TRANSFERS`] parts in flight; with
/// `if_absent`, completed only if no object exists at the key (`false` then).
pub(super) async fn put(
    at: At<'_>,
    data: Bytes,
    if_absent: bool,
    progress: Option<Arc<dyn TransferProgress>>,
) -> Result<bool, ObjectError> {
    let upload = Upload::start(at, None, None).await?;
    if let Some(p) = &progress {
        p.started(&at.describe(), data.len() as u64);
    }
    let parts = upload_parts(&upload, data, progress.clone()).await;
    if let Some(p) = &progress {
        p.finished();
    }
    match parts {
        Ok(parts) => upload.complete(parts, if_absent).await,
        Err(e) => {
            upload.abort().await;
            Err(e)
        }
    }
}

async fn upload_parts(
    upload: &Upload,
    data: Bytes,
    progress: Option<Arc<dyn TransferProgress>>,
) -> Result<Vec<CompletedPart>, ObjectError> {
    let permits = Arc::new(Semaphore::new(PARALLEL_TRANSFERS));
    let mut tasks = JoinSet::new();
    for (index, start) in (0..data.len()).step_by(PART_SIZE).enumerate() {
        let part = data.slice(start..(start + PART_SIZE).min(data.len()));
        let (permits, upload, progress) = (Arc::clone(&permits), upload.clone(), progress.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let size = part.len() as u64;
            let done = upload.part(index as i32 + 1, part).await?;
            if let Some(p) = &progress {
                p.advanced(size);
            }
            Ok::<_, ObjectError>(done)
        });
    }
    let mut parts = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        parts.push(joined.map_err(|e| ObjectError::io("write", upload.at().describe(), e))??);
    }
    Ok(parts)
}
