//! Errors of the HTTP API: a status code and a JSON body `{"error": "..."}` that says what to fix.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::inference::InferenceError;
use crate::protocol::InputError;

/// An error reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Seconds after which a retry may succeed (`Retry-After`): set when the server is busy.
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 503 with `Retry-After`: the server is at its concurrency limit.
    pub fn busy(message: impl Into<String>, retry_after: u32) -> Self {
        ApiError {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
}

impl From<super::admission::Refusal> for ApiError {
    fn from(refusal: super::admission::Refusal) -> Self {
        use super::admission::Refusal;
        match refusal {
            Refusal::Busy { .. } => ApiError::busy(refusal.to_string(), 1),
            Refusal::DeadlineExceeded { .. } => {
                ApiError::new(StatusCode::GATEWAY_TIMEOUT, refusal.to_string())
            }
            Refusal::Stopped(_) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, refusal.to_string())
            }
        }
    }
}

impl From<InputError> for ApiError {
    fn from(e: InputError) -> Self {
        ApiError::bad_request(e.to_string())
    }
}

impl From<InferenceError> for ApiError {
    fn from(e: InferenceError) -> Self {
        match e {
            // the batch was checked before it reached the model, but say so if it slips through
            InferenceError::FeatureCount { .. } | InferenceError::Input(_) => {
                ApiError::bad_request(e.to_string())
            }
            other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.retry_after.is_some() {
            tracing::warn!(status = self.status.as_u16(), error = %self.message, "request shed");
        } else if self.status.is_server_error() {
            tracing::error!(status = self.status.as_u16(), error = %self.message, "request failed");
        } else {
            tracing::info!(status = self.status.as_u16(), error = %self.message, "request refused");
        }
        let mut response = (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}
