//! The S3 backend of the model store (AWS S3, or any S3-compatible server through
//! `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`, addressed path-style). A key is claimed with a
//! conditional write (`If-None-Match: *`), and read-modify-write updates compare ETags
//! (`If-Match`), so concurrent publishers never overwrite each other.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::config::SharedHttpClient;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use bytes::Bytes;
use tokio::sync::{OnceCell, Semaphore};
use tokio::task::JoinSet;

use sha2::{Digest, Sha256};

use super::object::{Changed, Decide, Downloaded, Listing};
use super::{StoreError, TransferProgress};

/// Objects larger than this go up as a multipart upload and come down as parallel ranged GETs.
pub const MULTIPART_THRESHOLD: usize = 64 << 20;
/// Size of one part or range.
const PART_SIZE: usize = 16 << 20;
/// Parts or ranges in flight at once.
const PARALLEL_TRANSFERS: usize = 4;

/// Variables that point the SDK at an S3-compatible server instead of AWS.
const ENDPOINT_VARIABLES: [&str; 2] = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"];
/// Attempts of the SDK's standard retry (exponential backoff with jitter) per request.
const MAX_ATTEMPTS: u32 = 3;

#[derive(Debug, Clone)]
pub struct S3Backend {
    bucket: String,
    /// Key prefix of the store root, without a trailing slash; may be empty.
    prefix: String,
}

/// How long a request may wait for the next bytes of an answer (`MAAS_S3_TIMEOUT_SECONDS`,
/// default 10): a stalled S3 endpoint fails the attempt instead of hanging the caller. With the
/// retries, a cold start gives up after about three times this.
fn read_timeout() -> Duration {
    const DEFAULT: f64 = 10.0;
    let seconds = match std::env::var("MAAS_S3_TIMEOUT_SECONDS") {
        Err(_) => DEFAULT,
        Ok(v) => match v.trim().parse::<f64>() {
            Ok(s) if s.is_finite() && s > 0.0 => s,
            _ => {
                tracing::warn!(value = %v, "MAAS_S3_TIMEOUT_SECONDS is not a positive number of seconds; using {DEFAULT}");
                DEFAULT
            }
        },
    };
    Duration::from_secs_f64(seconds)
}

/// The S3-compatible endpoint the environment names, if any.
fn configured_endpoint() -> Option<String> {
    ENDPOINT_VARIABLES
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
}

/// The endpoint requests go to, for messages (never credentials).
fn endpoint() -> String {
    configured_endpoint().unwrap_or_else(|| "the AWS S3 endpoint".to_string())
}

/// One client per process, from the standard AWS chain (environment, profile, SSO, container
/// or instance role); the region defaults to us-east-1 when the chain has none. HTTPS goes
/// through rustls with ring and the system's trusted certificates; an `http://` S3 endpoint
/// gets a client that loads none.
pub(crate) async fn client() -> &'static Client {
    static CLIENT: OnceCell<Client> = OnceCell::const_new();
    CLIENT
        .get_or_init(|| async {
            let region = aws_config::meta::region::RegionProviderChain::default_provider()
                .or_else("us-east-1");
            let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .http_client(SharedHttpClient::new(OnFirstRequest(http_client(
                    tls::TrustStore::default(),
                ))))
                .region(region)
                .timeout_config(
                    aws_config::timeout::TimeoutConfig::builder()
                        .connect_timeout(Duration::from_secs(3))
                        .read_timeout(read_timeout())
                        .build(),
                )
                .retry_config(
                    aws_config::retry::RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS),
                )
                .load()
                .await;
            let mut config = aws_sdk_s3::config::Builder::from(&shared);
            if ENDPOINT_VARIABLES
                .iter()
                .any(|v| std::env::var_os(v).is_some())
            {
                config = config.force_path_style(true);
            }
            if plain_http_endpoint() {
                // nothing to verify: reading and parsing the system's certificates (a few
                // milliseconds of a cold start) is skipped; credential providers keep them
                config = config.http_client(http_client(
                    tls::TrustStore::empty().with_native_roots(false),
                ));
            }
            Client::from_conf(config.build())
        })
        .await
}

/// An HTTP client over rustls with ring, trusting `roots`.
fn http_client(roots: tls::TrustStore) -> SharedHttpClient {
    let context = tls::TlsContext::builder()
        .with_trust_store(roots)
        .build()
        .unwrap_or_default();
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .tls_context(context)
        .build_https()
}

/// An HTTP client set up on its first request. The SDK sets a client up (for rustls: reads
/// and parses the system's certificates, milliseconds) as soon as an SDK client is created
/// with it, which the credential providers do at start even when they never call out (the
/// environment's credentials, as in Lambda); this wrapper leaves that to the first request.
#[derive(Debug)]
struct OnFirstRequest(SharedHttpClient);

impl HttpClient for OnFirstRequest {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// Whether S3 requests go to an `http://` endpoint (an S3-compatible server without TLS).
fn plain_http_endpoint() -> bool {
    configured_endpoint().is_some_and(|url| url.to_ascii_lowercase().starts_with("http://"))
}

/// The messages of an error and its sources, joined: what failed, down to the cause.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.join(": ")
}

/// Turns an SDK error into a store error that names the bucket and key, not the credentials.
pub(crate) fn classify<E>(
    error: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    action: &'static str,
    path: String,
    bucket: &str,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = error.raw_response().map(|r| r.status().as_u16());
    let code = error.code().unwrap_or_default().to_string();
    match (&error, status, code.as_str()) {
        (SdkError::DispatchFailure(_) | SdkError::TimeoutError(_), _, _) => {
            StoreError::Unreachable {
                endpoint: endpoint(),
                attempts: MAX_ATTEMPTS,
                detail: error_chain(&error),
            }
        }
        (_, _, "NoSuchBucket") => StoreError::NoSuchBucket {
            bucket: bucket.to_string(),
        },
        (_, Some(403), _)
        | (_, _, "AccessDenied" | "InvalidAccessKeyId" | "SignatureDoesNotMatch") => {
            StoreError::AccessDenied {
                action,
                path,
                code: if code.is_empty() { "403".into() } else { code },
            }
        }
        _ => StoreError::Io {
            action,
            path,
            source: std::io::Error::other(match error.message() {
                Some(message) => format!("{code}: {message}"),
                None => error_chain(&error),
            }),
        },
    }
}

/// Whether a conditional write failed because another writer got there first
/// (412 Precondition Failed, or 409 for a conflicting concurrent conditional write).
fn lost_race<E>(error: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> bool {
    error
        .raw_response()
        .is_some_and(|r| matches!(r.status().as_u16(), 409 | 412))
}

/// Whether a CompleteMultipartUpload whose answer the SDK could not parse did complete: a 2xx
/// answer without an `<Error>` body (some S3-compatible servers, e.g. moto, name the result
/// element differently; S3's own in-body errors still carry `<Error>`).
pub(crate) fn completed_anyway<E>(
    error: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> bool {
    error.raw_response().is_some_and(|r| {
        r.status().is_success()
            && !r
                .body()
                .bytes()
                .is_some_and(|b| b.windows(7).any(|w| w == b"<Error>"))
    })
}

/// Reads a whole response body.
async fn collect_body(
    body: ByteStream,
    path: impl FnOnce() -> String,
) -> Result<Bytes, StoreError> {
    body.collect()
        .await
        .map(|b| b.into_bytes())
        .map_err(|e| StoreError::Io {
            action: "read",
            path: path(),
            source: std::io::Error::other(e.to_string()),
        })
}

impl S3Backend {
    pub fn new(bucket: String, prefix: String) -> Self {
        S3Backend { bucket, prefix }
    }

    fn key(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    /// `s3://bucket/key`, for messages.
    pub fn describe(&self, key: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.key(key))
    }

    async fn get_with_etag(
        &self,
        key: &str,
    ) -> Result<Option<(Vec<u8>, Option<String>)>, StoreError> {
        let Some(output) = self.get_object(key).await? else {
            return Ok(None);
        };
        let etag = output.e_tag().map(str::to_string);
        let bytes = collect_body(output.body, || self.describe(key)).await?;
        Ok(Some((bytes.to_vec(), etag)))
    }

    /// An object's body as a stream, for reading large objects without holding them.
    pub async fn open(&self, key: &str) -> Result<Option<ByteStream>, StoreError> {
        Ok(self.get_object(key).await?.map(|output| output.body))
    }

    async fn get_object(
        &self,
        key: &str,
    ) -> Result<Option<aws_sdk_s3::operation::get_object::GetObjectOutput>, StoreError> {
        let response = client()
            .await
            .get_object()
            .bucket(&self.bucket)
            .key(self.key(key))
            .send()
            .await;
        let output = match response {
            Ok(output) => output,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e)
                if e.raw_response().is_some_and(|r| r.status().as_u16() == 404)
                    && e.code() != Some("NoSuchBucket") =>
            {
                return Ok(None)
            }
            Err(e) => return Err(classify(e, "read", self.describe(key), &self.bucket)),
        };
        Ok(Some(output))
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.get_with_etag(key).await?.map(|(bytes, _)| bytes))
    }

    /// A conditional GET: nothing is transferred while the object still has `etag`.
    pub async fn get_if_changed(
        &self,
        key: &str,
        etag: Option<&str>,
    ) -> Result<Changed, StoreError> {
        let Some(etag) = etag else {
            return Ok(match self.get_with_etag(key).await? {
                Some((bytes, tag)) => Changed::Changed(bytes, tag),
                None => Changed::Missing,
            });
        };
        let response = client()
            .await
            .get_object()
            .bucket(&self.bucket)
            .key(self.key(key))
            .if_none_match(etag)
            .send()
            .await;
        match response {
            Ok(output) => {
                let tag = output.e_tag().map(str::to_string);
                let bytes = collect_body(output.body, || self.describe(key)).await?;
                Ok(Changed::Changed(bytes.to_vec(), tag))
            }
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 304) => {
                Ok(Changed::Unchanged)
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                Ok(Changed::Missing)
            }
            Err(e) => Err(classify(e, "read", self.describe(key), &self.bucket)),
        }
    }

    /// Writes `bytes` at `key`; with `condition`, only if the object is absent (`None`) or
    /// still has that ETag (`Some`). `false` when the condition failed.
    async fn put_conditional(
        &self,
        key: &str,
        bytes: &[u8],
        condition: Option<Option<&str>>,
    ) -> Result<bool, StoreError> {
        if bytes.len() > MULTIPART_THRESHOLD && condition.is_none_or(|c| c.is_none()) {
            return self
                .put_multipart(key, bytes, condition.is_some(), None)
                .await;
        }
        let mut request = client()
            .await
            .put_object()
            .bucket(&self.bucket)
            .key(self.key(key))
            .body(ByteStream::from(bytes.to_vec()));
        match condition {
            Some(None) => request = request.if_none_match("*"),
            Some(Some(etag)) => request = request.if_match(etag),
            None => {}
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) if lost_race(&e) => Ok(false),
            Err(e) => Err(classify(e, "write", self.describe(key), &self.bucket)),
        }
    }

    pub async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), StoreError> {
        self.put_conditional(key, bytes, None).await.map(|_| ())
    }

    pub async fn put_new(&self, key: &str, bytes: &[u8]) -> Result<bool, StoreError> {
        self.put_conditional(key, bytes, Some(None)).await
    }

    /// As [`S3Backend::put_new`], reporting upload progress of large objects.
    pub async fn put_new_with_progress(
        &self,
        key: &str,
        bytes: &[u8],
        progress: Option<Arc<dyn TransferProgress>>,
    ) -> Result<bool, StoreError> {
        if bytes.len() > MULTIPART_THRESHOLD {
            return self.put_multipart(key, bytes, true, progress).await;
        }
        self.put_new(key, bytes).await
    }

    /// A multipart upload, parts in parallel; with `if_absent`, completed only if no object
    /// exists at `key` (`false` then, and the upload is aborted).
    async fn put_multipart(
        &self,
        key: &str,
        bytes: &[u8],
        if_absent: bool,
        progress: Option<Arc<dyn TransferProgress>>,
    ) -> Result<bool, StoreError> {
        let client = client().await;
        let full_key = self.key(key);
        let upload = client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&full_key)
            .send()
            .await
            .map_err(|e| classify(e, "write", self.describe(key), &self.bucket))?;
        let upload_id = upload.upload_id().unwrap_or_default().to_string();
        if let Some(p) = &progress {
            p.started(&self.describe(key), bytes.len() as u64);
        }
        let result = self
            .upload_parts(
                client,
                &full_key,
                &upload_id,
                Bytes::copy_from_slice(bytes),
                progress.clone(),
            )
            .await;
        let completed = match result {
            Ok(parts) => {
                let mut request = client
                    .complete_multipart_upload()
                    .bucket(&self.bucket)
                    .key(&full_key)
                    .upload_id(&upload_id)
                    .multipart_upload(
                        CompletedMultipartUpload::builder()
                            .set_parts(Some(parts))
                            .build(),
                    );
                if if_absent {
                    request = request.if_none_match("*");
                }
                match request.send().await {
                    Ok(_) => Ok(true),
                    Err(e) if lost_race(&e) => Ok(false),
                    Err(e) if completed_anyway(&e) => Ok(true),
                    Err(e) => Err(classify(e, "write", self.describe(key), &self.bucket)),
                }
            }
            Err(e) => Err(e),
        };
        if let Some(p) = &progress {
            p.finished();
        }
        if !matches!(completed, Ok(true)) {
            let _ = client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(&full_key)
                .upload_id(&upload_id)
                .send()
                .await;
        }
        completed
    }

    async fn upload_parts(
        &self,
        client: &'static Client,
        full_key: &str,
        upload_id: &str,
        data: Bytes,
        progress: Option<Arc<dyn TransferProgress>>,
    ) -> Result<Vec<CompletedPart>, StoreError> {
        let permits = Arc::new(Semaphore::new(PARALLEL_TRANSFERS));
        let mut tasks = JoinSet::new();
        for (index, start) in (0..data.len()).step_by(PART_SIZE).enumerate() {
            let part = data.slice(start..(start + PART_SIZE).min(data.len()));
            let permits = Arc::clone(&permits);
            let (bucket, key, upload_id) = (
                self.bucket.clone(),
                full_key.to_string(),
                upload_id.to_string(),
            );
            let progress = progress.clone();
            let described = format!("s3://{bucket}/{key}");
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await;
                let size = part.len() as u64;
                let number = index as i32 + 1;
                let output = client
                    .upload_part()
                    .bucket(&bucket)
                    .key(&key)
                    .upload_id(&upload_id)
                    .part_number(number)
                    .body(ByteStream::from(part))
                    .send()
                    .await
                    .map_err(|e| classify(e, "write", described, &bucket))?;
                if let Some(p) = &progress {
                    p.advanced(size);
                }
                Ok::<_, StoreError>(
                    CompletedPart::builder()
                        .set_e_tag(output.e_tag().map(str::to_string))
                        .part_number(number)
                        .build(),
                )
            });
        }
        let mut parts = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let part = joined.map_err(|e| StoreError::Io {
                action: "write",
                path: self.describe(full_key),
                source: std::io::Error::other(e.to_string()),
            })??;
            parts.push(part);
        }
        parts.sort_by_key(|p| p.part_number());
        Ok(parts)
    }

    /// Reads a possibly large object: the first range tells the size, the rest come in
    /// parallel ranged GETs. The bytes land in one buffer of the object's size, and the first
    /// range is hashed while it arrives (a model of up to one range is verified as soon as its
    /// last bytes are in).
    pub(crate) async fn get_large(
        &self,
        key: &str,
        progress: Option<Arc<dyn TransferProgress>>,
    ) -> Result<Option<Downloaded>, StoreError> {
        let client = client().await;
        let full_key = self.key(key);
        let first = client
            .get_object()
            .bucket(&self.bucket)
            .key(&full_key)
            .range(format!("bytes=0-{}", PART_SIZE - 1))
            .send()
            .await;
        let mut first = match first {
            Ok(output) => output,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            // an empty object cannot be read by range
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 416) => {
                return Ok(self.get(key).await?.map(Downloaded::hashed))
            }
            Err(e) => return Err(classify(e, "read", self.describe(key), &self.bucket)),
        };
        let total = first
            .content_range()
            .and_then(|r| r.rsplit('/').next())
            .and_then(|t| t.parse::<usize>().ok());
        let read_error = |e: String| StoreError::Io {
            action: "read",
            path: self.describe(key),
            source: std::io::Error::other(e),
        };
        let head_size = first.content_length().and_then(|n| usize::try_from(n).ok());
        // capacity from the sizes S3 announced, capped: a wrong header cannot reserve memory
        // the object does not fill
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
            p.started(&self.describe(key), total as u64);
            p.advanced(head as u64);
        }
        let permits = Arc::new(Semaphore::new(PARALLEL_TRANSFERS));
        let mut tasks = JoinSet::new();
        for start in (head..total).step_by(PART_SIZE) {
            let end = (start + PART_SIZE).min(total) - 1;
            let permits = Arc::clone(&permits);
            let (bucket, key_owned) = (self.bucket.clone(), full_key.clone());
            let progress = progress.clone();
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await;
                let output = client
                    .get_object()
                    .bucket(&bucket)
                    .key(&key_owned)
                    .range(format!("bytes={start}-{end}"))
                    .send()
                    .await
                    .map_err(|e| {
                        classify(e, "read", format!("s3://{bucket}/{key_owned}"), &bucket)
                    })?;
                let bytes =
                    collect_body(output.body, || format!("s3://{bucket}/{key_owned}")).await?;
                if let Some(p) = &progress {
                    p.advanced(bytes.len() as u64);
                }
                Ok::<_, StoreError>((start, bytes))
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

    /// "Folders" (common prefixes) and objects directly under `prefix` (which ends with `/`).
    pub async fn list(&self, prefix: &str) -> Result<Listing, StoreError> {
        let full = self.key(prefix);
        let mut listing = Listing::default();
        let mut token = None;
        loop {
            let response = client()
                .await
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&full)
                .delimiter("/")
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| classify(e, "list", self.describe(prefix), &self.bucket))?;
            for p in response.common_prefixes() {
                if let Some(name) = p.prefix().and_then(|p| p.strip_prefix(&full)) {
                    listing.folders.push(name.trim_end_matches('/').to_string());
                }
            }
            for object in response.contents() {
                if let Some(name) = object.key().and_then(|k| k.strip_prefix(&full)) {
                    listing.files.push(name.to_string());
                }
            }
            token = response.next_continuation_token().map(str::to_string);
            if token.is_none() {
                return Ok(listing);
            }
        }
    }

    /// Compare-and-swap on the object's ETag, retried while other writers win the race.
    pub async fn update(&self, key: &str, decide: &mut Decide<'_>) -> Result<(), StoreError> {
        for _ in 0..20 {
            let current = self.get_with_etag(key).await?;
            let Some(new) = decide(current.as_ref().map(|(b, _)| b.as_slice()))? else {
                return Ok(());
            };
            let etag = current.as_ref().and_then(|(_, e)| e.as_deref());
            let condition = match (&current, etag) {
                (None, _) => Some(None),
                (Some(_), Some(etag)) => Some(Some(etag)),
                (Some(_), None) => None,
            };
            if self.put_conditional(key, &new, condition).await? {
                return Ok(());
            }
        }
        Err(StoreError::Contended {
            path: self.describe(key),
        })
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
