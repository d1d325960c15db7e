//! The S3 client every object request goes through (AWS S3, or any S3-compatible server
//! through `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`, addressed path-style), and how its
//! errors become [`ObjectError`]s that name the bucket and key, never the credentials.

use std::time::Duration;

use aws_sdk_s3::config::SharedHttpClient;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::Client;
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use tokio::sync::OnceCell;

use super::ObjectError;

/// Variables that point the SDK at an S3-compatible server instead of AWS.
const ENDPOINT_VARIABLES: [&str; 2] = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"];
/// Attempts of the SDK's standard retry (exponential backoff with jitter) per request.
const MAX_ATTEMPTS: u32 = 3;

/// An answer of a failed request.
pub(super) type Failure<E> = SdkError<E, aws_sdk_s3::config::http::HttpResponse>;

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
pub(super) async fn client() -> &'static Client {
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

/// Turns an SDK error into an object error that names the bucket and key.
pub(super) fn classify<E>(
    error: Failure<E>,
    action: &'static str,
    path: String,
    bucket: &str,
) -> ObjectError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = error.raw_response().map(|r| r.status().as_u16());
    let code = error.code().unwrap_or_default().to_string();
    match (&error, status, code.as_str()) {
        (SdkError::DispatchFailure(_) | SdkError::TimeoutError(_), _, _) => {
            ObjectError::Unreachable {
                endpoint: endpoint(),
                attempts: MAX_ATTEMPTS,
                detail: error_chain(&error),
            }
        }
        (_, _, "NoSuchBucket") => ObjectError::NoSuchBucket {
            bucket: bucket.to_string(),
        },
        (_, Some(403), _)
        | (_, _, "AccessDenied" | "InvalidAccessKeyId" | "SignatureDoesNotMatch") => {
            ObjectError::AccessDenied {
                action,
                path,
                code: if code.is_empty() { "403".into() } else { code },
            }
        }
        _ => ObjectError::Io {
            action,
            path,
            source: std::io::Error::other(match error.message() {
                Some(message) => format!("{code}: {message}"),
                None => error_chain(&error),
            }),
        },
    }
}

/// The HTTP status of a failed request's answer, if one came.
pub(super) fn status<E>(error: &Failure<E>) -> Option<u16> {
    error.raw_response().map(|r| r.status().as_u16())
}

/// Whether a conditional write failed because another writer got there first
/// (412 Precondition Failed, or 409 for a conflicting concurrent conditional write).
pub(super) fn lost_race<E>(error: &Failure<E>) -> bool {
    matches!(status(error), Some(409 | 412))
}

/// Whether a CompleteMultipartUpload whose answer the SDK could not parse did complete: a 2xx
/// answer without an `<Error>` body (some S3-compatible servers, e.g. moto, name the result
/// element differently; S3's own in-body errors still carry `<Error>`).
pub(super) fn completed_anyway<E>(error: &Failure<E>) -> bool {
    error.raw_response().is_some_and(|r| {
        r.status().is_success()
            && !r
                .body()
                .bytes()
                .is_some_and(|b| b.windows(7).any(|w| w == b"<Error>"))
    })
}
