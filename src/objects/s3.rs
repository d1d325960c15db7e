//! Objects on S3: every GET (whole, ranged, conditional) through one request function, writes
//! conditional on absence (`If-None-Match: *`) or on an ETag (`If-Match`) so concurrent
//! writers never overwrite each other, large objects read as parallel ranges, listings, HEAD.

use std::sync::Arc;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::io::AsyncRead;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::multipart::{self, MULTIPART_THRESHOLD, PARALLEL_TRANSFERS, PART_SIZE};
use super::s3_client::{classify, client, lost_race, status};
use super::{
    Changed, Decide, Downloaded, Listing, Location, ObjectError, ObjectInfo, TransferProgress,
};

/// One object of a bucket.
#[derive(Debug, Clone, Copy)]
pub(super) struct At<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
}

impl At<'_> {
    /// `s3://bucket/key`, for messages.
    pub fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// What a GET came to.
enum Got {
    Object(Box<GetObjectOutput>),
    Missing,
    /// The object still has the ETag the request named.
    Unchanged,
    /// The range starts at or after the object's end (an empty object has no range).
    PastTheEnd,
}

/// The one GET: the whole object or `range` (`bytes=a-b`, `bytes=a-`), optionally only when
/// its ETag differs from `if_none_match`.
async fn get_object(
    at: At<'_>,
    range: Option<String>,
    if_none_match: Option<&str>,
) -> Result<Got, ObjectError> {
    let answer = client()
        .await
        .get_object()
        .bucket(at.bucket)
        .key(at.key)
        .set_range(range)
        .set_if_none_match(if_none_match.map(str::to_string))
        .send()
        .await;
    match answer {
        Ok(output) => Ok(Got::Object(Box::new(output))),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(Got::Missing),
        Err(e) if status(&e) == Some(304) => Ok(Got::Unchanged),
        Err(e) if status(&e) == Some(416) => Ok(Got::PastTheEnd),
        Err(e) if status(&e) == Some(404) && e.code() != Some("NoSuchBucket") => Ok(Got::Missing),
        Err(e) => Err(classify(e, "read", at.describe(), at.bucket)),
    }
}

/// Reads a whole response body.
async fn collect(body: ByteStream, at: At<'_>) -> Result<Bytes, ObjectError> {
    body.collect()
        .await
        .map(|b| b.into_bytes())
        .map_err(|e| ObjectError::io("read", at.describe(), e))
}

/// The object and its ETag.
pub(super) async fn get(at: At<'_>) -> Result<Option<(Vec<u8>, Option<String>)>, ObjectError> {
    match get_object(at, None, None).await? {
        Got::Object(output) => {
            let etag = output.e_tag().map(str::to_string);
            Ok(Some((collect(output.body, at).await?.to_vec(), etag)))
        }
        Got::Missing | Got::Unchanged | Got::PastTheEnd => Ok(None),
    }
}

/// A conditional GET: nothing is transferred while the object still has `etag`.
pub(super) async fn get_if_changed(at: At<'_>, etag: Option<&str>) -> Result<Changed, ObjectError> {
    match get_object(at, None, etag).await? {
        Got::Object(output) => {
            let tag = output.e_tag().map(str::to_string);
            Ok(Changed::Changed(
                collect(output.body, at).await?.to_vec(),
                tag,
            ))
        }
        Got::Unchanged => Ok(Changed::Unchanged),
        Got::Missing | Got::PastTheEnd => Ok(Changed::Missing),
    }
}

/// A stream of the object from byte `from` to its end.
pub(super) async fn open(
    at: At<'_>,
    from: u64,
) -> Result<Box<dyn AsyncRead + Send + Unpin>, ObjectError> {
    match get_object(at, Some(format!("bytes={from}-")), None).await? {
        Got::Object(output) => Ok(Box::new(output.body.into_async_read())),
        Got::PastTheEnd => Ok(Box::new(tokio::io::empty())),
        Got::Missing | Got::Unchanged => Err(ObjectError::NotFound {
            path: at.describe(),
        }),
    }
}

/// Writes `bytes`; with `condition`, only if the object is absent (`None`) or still has that
/// ETag (`Some`). `false` when the condition failed. Large objects go up in parts.
pub(super) async fn put(
    at: At<'_>,
    bytes: &[u8],
    condition: Option<Option<&str>>,
    progress: Option<Arc<dyn TransferProgress>>,
) -> Result<bool, ObjectError> {
    if bytes.len() > MULTIPART_THRESHOLD && condition.is_none_or(|c| c.is_none()) {
        return multipart::put(
            at,
            Bytes::copy_from_slice(bytes),
            condition.is_some(),
            progress,
        )
        .await;
    }
    let mut request = client()
        .await
        .put_object()
        .bucket(at.bucket)
        .key(at.key)
        .body(ByteStream::from(bytes.to_vec()));
    match condition {
        Some(None) => request = request.if_none_match("*"),
        Some(Some(etag)) => request = request.if_match(etag),
        None => {}
    }
    match request.send().await {
        Ok(_) => Ok(true),
        Err(e) if lost_race(&e) => Ok(false),
        Err(e) => Err(classify(e, "write", at.describe(), at.bucket)),
    }
}

/// Compare-and-swap on the object's ETag, retried while other writers win the race.
pub(super) async fn update<E: From<ObjectError>>(
    at: At<'_>,
    decide: &mut Decide<'_, E>,
) -> Result<(), E> {
    for _ in 0..20 {
        let current = get(at).await?;
        let Some(new) = decide(current.as_ref().map(|(b, _)| b.as_slice()))? else {
            return Ok(());
        };
        let condition = match &current {
            None => Some(None),
            Some((_, Some(etag))) => Some(Some(etag.as_str())),
            Some((_, None)) => None,
        };
        if put(at, &new, condition, None).await? {
            return Ok(());
        }
    }
    Err(ObjectError::Contended {
        path: at.describe(),
    }
    .into())
}

/// Reads a possibly large object: the first range tells the size, the rest come in parallel
/// ranged GETs. The bytes land in one buffer of the object's size, and the first range is
/// hashed while it arrives (an object of up to one range is verified as soon as its last
/// bytes are in).
pub(super) async fn get_hashed(
    at: At<'_>,
    progress: Option<Arc<dyn TransferProgress>>,
) -> Result<Option<Downloaded>, ObjectError> {
    let mut first = match get_object(at, Some(format!("bytes=0-{}", PART_SIZE - 1)), None).await? {
        Got::Object(output) => output,
        Got::Missing | Got::Unchanged => return Ok(None),
        // an empty object cannot be read by range
        Got::PastTheEnd => return Ok(get(at).await?.map(|(bytes, _)| Downloaded::hashed(bytes))),
    };
    let total = first
        .content_range()
        .and_then(|r| r.rsplit('/').next())
        .and_then(|t| t.parse::<usize>().ok());
    let read_error = |e: String| ObjectError::io("read", at.describe(), e);
    let head_size = first.content_length().and_then(|n| usize::try_from(n).ok());
    // capacity from the sizes S3 announced, capped: a wrong header cannot reserve memory the
    // object does not fill
    let mut body = Vec::with_capacity(total.or(head_size).unwrap_or(0).min(1 << 30));
    let mut hasher = Sha256::new();
    while let Some(chunk) = first
        .body
        .try_next()
        .await
        .map_err(|e| read_error(e.to_string()))?
    {
        hasher.update(&chunk);
        body.extend_from_slice(&chunk);
    }
    let head = body.len();
    let Some(total) = total.filter(|t| *t > head) else {
        return Ok(Some(Downloaded {
            sha256: hex::encode(hasher.finalize()),
            bytes: body,
        }));
    };
    if let Some(p) = &progress {
        p.started(&at.describe(), total as u64);
        p.advanced(head as u64);
    }
    let permits = Arc::new(Semaphore::new(PARALLEL_TRANSFERS));
    let mut tasks = JoinSet::new();
    for start in (head..total).step_by(PART_SIZE) {
        let end = (start + PART_SIZE).min(total) - 1;
        let permits = Arc::clone(&permits);
        let (bucket, key) = (at.bucket.to_string(), at.key.to_string());
        let progress = progress.clone();
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let at = At {
                bucket: &bucket,
                key: &key,
            };
            let Got::Object(output) =
                get_object(at, Some(format!("bytes={start}-{end}")), None).await?
            else {
                return Err(ObjectError::io(
                    "read",
                    at.describe(),
                    "the object changed or went while it was read",
                ));
            };
            let bytes = collect(output.body, at).await?;
            if let Some(p) = &progress {
                p.advanced(bytes.len() as u64);
            }
            Ok::<_, ObjectError>((start, bytes))
        });
    }
    body.resize(total, 0);
    while let Some(joined) = tasks.join_next().await {
        let (start, bytes) = joined.map_err(|e| read_error(e.to_string()))??;
        if start + bytes.len() > total {
            return Err(read_error(format!(
                "range at {start} overruns the object's {total} bytes"
            )));
        }
        body[start..start + bytes.len()].copy_from_slice(&bytes);
    }
    hasher.update(&body[head..]);
    if let Some(p) = &progress {
        p.finished();
    }
    Ok(Some(Downloaded {
        sha256: hex::encode(hasher.finalize()),
        bytes: body,
    }))
}

/// One page of a listing under `at`'s key (with `/` as the delimiter: one level), from
/// `token` on. The one ListObjectsV2 request, followed page by page by both listings.
async fn list_page(
    at: At<'_>,
    delimited: bool,
    token: Option<String>,
) -> Result<aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output, ObjectError> {
    client()
        .await
        .list_objects_v2()
        .bucket(at.bucket)
        .prefix(at.key)
        .set_delimiter(delimited.then(|| "/".to_string()))
        .set_continuation_token(token)
        .send()
        .await
        .map_err(|e| classify(e, "list", at.describe(), at.bucket))
}

/// "Folders" (common prefixes) and objects directly under `prefix` (which ends with `/`).
pub(super) async fn children(at: At<'_>) -> Result<Listing, ObjectError> {
    let mut listing = Listing::default();
    let mut token = None;
    loop {
        let page = list_page(at, true, token).await?;
        for p in page.common_prefixes() {
            if let Some(name) = p.prefix().and_then(|p| p.strip_prefix(at.key)) {
                listing.folders.push(name.trim_end_matches('/').to_string());
            }
        }
        for object in page.contents() {
            if let Some(name) = object.key().and_then(|k| k.strip_prefix(at.key)) {
                listing.files.push(name.to_string());
            }
        }
        token = page.next_continuation_token().map(str::to_string);
        if token.is_none() {
            return Ok(listing);
        }
    }
}

/// Every object under a prefix (all depths) with its size.
pub(super) async fn list(at: At<'_>) -> Result<Vec<(Location, u64)>, ObjectError> {
    let mut found = Vec::new();
    let mut token = None;
    loop {
        let page = list_page(at, false, token).await?;
        for object in page.contents() {
            let Some(key) = object.key() else { continue };
            if key.ends_with('/') {
                continue;
            }
            found.push((
                Location::S3 {
                    bucket: at.bucket.to_string(),
                    key: key.to_string(),
                },
                object.size().unwrap_or(0).max(0) as u64,
            ));
        }
        token = page.next_continuation_token().map(str::to_string);
        if token.is_none() {
            return Ok(found);
        }
    }
}

/// The object's HEAD, `None` when it does not exist.
pub(super) async fn head_object(at: At<'_>) -> Result<Option<HeadObjectOutput>, ObjectError> {
    match client()
        .await
        .head_object()
        .bucket(at.bucket)
        .key(at.key)
        .send()
        .await
    {
        Ok(head) => Ok(Some(head)),
        Err(e) if status(&e) == Some(404) => Ok(None),
        Err(e) => Err(classify(e, "read", at.describe(), at.bucket)),
    }
}

/// The object's size and ETag.
pub(super) async fn head(at: At<'_>) -> Result<ObjectInfo, ObjectError> {
    let head = head_object(at)
        .await?
        .ok_or_else(|| ObjectError::NotFound {
            path: at.describe(),
        })?;
    Ok(ObjectInfo {
        size: head.content_length().unwrap_or(0).max(0) as u64,
        stamp: head
            .e_tag()
            .unwrap_or_default()
            .trim_matches('"')
            .to_string(),
    })
}
