//! The JSON request body as an extractor: Content-Type checked (415), size bounded by
//! `MAAS_MAX_BODY_BYTES` before and while reading (413), parsed into the route's request type
//! with an example of the expected JSON in the 400 message.

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
        let (parts, body) = request.into_parts();
        check_content_type(&parts.headers)?;
        let limit = state.config.max_body_bytes;
        let too_large = || {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body exceeds the limit of {limit} bytes"),
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
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request(format!(
                "the request body is empty; send JSON like {}",
                T::EXAMPLE
            )));
        }
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| {
            ApiError::bad_request(format!(
                "invalid JSON body: {e}; expected JSON like {}",
                T::EXAMPLE
            ))
        })
    }
}

/// A missing Content-Type is taken as JSON; any other than JSON is refused with 415.
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(content_type) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let ct = content_type.to_str().unwrap_or("").to_ascii_lowercase();
    let essence = ct.split(';').next().unwrap_or("").trim();
    if essence == "application/json" || essence.ends_with("+json") {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!("Content-Type must be application/json, got '{ct}'"),
    ))
}
