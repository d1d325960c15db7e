//! Request bodies as extractors: Content-Type checked (415), size bounded by
//! `MAAS_MAX_BODY_BYTES` before and while reading (413); JSON parsed into the route's request
//! type with an example of the expected JSON in the 400 message; KServe's body kept as bytes
//! with its binary extension header.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::AppState;
use crate::protocol::{kserve, tfserving, PredictRequest};

/// A request type with an example of its JSON, quoted in error messages.
pub trait RequestExample {
    /// A short example of a valid body.
    const EXAMPLE: &'static str;
}

impl RequestExample for PredictRequest {
    const EXAMPLE: &'static str = r#"{"inputs": [[0.0, 1.0, ...]]}"#;
}

impl RequestExample for kserve::InferRequest {
    const EXAMPLE: &'static str =
        r#"{"inputs": [{"name": "input", "shape": [1, F], "datatype": "FP32", "data": [...]}]}"#;
}

impl RequestExample for tfserving::PredictRequest {
    const EXAMPLE: &'static str = r#"{"instances": [[0.0, 1.0, ...]]}"#;
}

/// A JSON body parsed as `T`.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<T> FromRequest<AppState> for JsonBody<T>
where
    T: DeserializeOwned + RequestExample,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        read_json(request, state).await.map(JsonBody)
    }
}

/// A JSON body read and parsed as `T` by [`JsonBody`]'s rules, for handlers that answer its
/// errors in their own protocol's shape.
pub(crate) async fn read_json<T: DeserializeOwned + RequestExample>(
    request: Request,
    state: &AppState,
) -> Result<T, ApiError> {
    check_content_type(request.headers(), false)?;
    let bytes = read_limited(request, state).await?;
    parse_json(&bytes)
}

/// Parses a JSON body as `T`, with an example of `T` in the message when it does not parse.
pub fn parse_json<T: DeserializeOwned + RequestExample>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(format!(
            "the request body is empty; send JSON like {}",
            T::EXAMPLE
        )));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "invalid JSON body: {e}; expected JSON like {}",
            T::EXAMPLE
        ))
    })
}

/// A JSON body kept as bytes (Content-Type and size checked), for a handler that parses it
/// by what the path asks for.
#[derive(Debug, Clone)]
pub(crate) struct JsonBytes(pub Bytes);

impl FromRequest<AppState> for JsonBytes {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        check_content_type(request.headers(), false)?;
        read_limited(request, state).await.map(JsonBytes)
    }
}

/// A KServe V2 inference body: JSON, or with the binary tensor data extension a JSON header of
/// `header_length` bytes followed by raw tensor bytes.
#[derive(Debug, Clone)]
pub struct InferBody {
    /// The whole body.
    pub bytes: Bytes,
    /// `Inference-Header-Content-Length`, when the body uses the binary extension.
    pub header_length: Option<String>,
}

impl FromRequest<AppState> for InferBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        check_content_type(request.headers(), true)?;
        let header_length = match request
            .headers()
            .get(crate::protocol::kserve::HEADER_LENGTH)
        {
            None => None,
            Some(v) => Some(
                v.to_str()
                    .map_err(|_| {
                        ApiError::bad_request("Inference-Header-Content-Length is not a number")
                    })?
                    .to_string(),
            ),
        };
        let bytes = read_limited(request, state).await?;
        Ok(InferBody {
            bytes,
            header_length,
        })
    }
}

/// Reads a body within `MAAS_MAX_BODY_BYTES`: a declared length over it is refused before any
/// byte is read, a stream that runs over it as soon as it does.
async fn read_limited(request: Request, state: &AppState) -> Result<Bytes, ApiError> {
    let (parts, body) = request.into_parts();
    {
        let limit = state.config.max_body_bytes;
        let too_large = || {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the request body exceeds the limit of {limit} bytes (MAAS_MAX_BODY_BYTES)"
                ),
            )
        };
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        let bytes: Bytes = match Limited::new(body, limit).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => return Err(too_large()),
            Err(e) => {
                return Err(ApiError::bad_request(format!(
                    "cannot read the request body: {e}"
                )))
            }
        };
        Ok(bytes)
    }
}

/// A missing Content-Type is taken as JSON, and so is curl's default form type (`curl -d`
/// without `-H`, as Triton and TF Serving take it); `binary` also allows
/// `application/octet-stream` (KServe's binary extension). Anything else is refused with 415.
fn check_content_type(headers: &HeaderMap, binary: bool) -> Result<(), ApiError> {
    let Some(content_type) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let ct = content_type.to_str().unwrap_or("").to_ascii_lowercase();
    let essence = ct.split(';').next().unwrap_or("").trim();
    if essence == "application/json"
        || essence.ends_with("+json")
        || essence == "application/x-www-form-urlencoded"
        || (binary && essence == "application/octet-stream")
    {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!("Content-Type must be application/json, got '{ct}'"),
    ))
}
