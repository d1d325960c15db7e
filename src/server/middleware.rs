//! The layers around every route: every error answer is JSON (axum's own plain-text
//! rejections included), a handler panic becomes a 500 JSON reply, unknown routes and methods
//! get a JSON 404 and 405; and, over TCP, a declared body over the limit is read and discarded
//! so that a client that sends its whole body before reading still gets its 413.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use http_body_util::{BodyExt, Limited};

use super::error::ApiError;

/// Every answer JSON, every panic a 500: the layers around the routes.
pub(crate) fn harden(routes: Router) -> Router {
    routes
        .layer(axum::middleware::map_response(json_errors))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_reply,
        ))
}

/// axum answers some bad requests itself in plain text (a path segment that is not UTF-8, for
/// one); every error of this API is JSON, so those are rewrapped.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    // axum's rejection texts are short; the limit only guards against surprises
    let text = match Limited::new(response.into_body(), 64 * 1024)
        .collect()
        .await
    {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes())
            .trim()
            .to_string(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    ApiError::new(status, message).into_response()
}

/// A bug that panics in a handler becomes a 500 JSON reply, not a dropped connection or a dead
/// Lambda sandbox (the release profile keeps `panic = "unwind"` for this).
fn panic_reply(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("no message");
    tracing::error!(panic = detail, "a request handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal error: the request could not be answered; it has been logged",
    )
    .into_response()
}

/// Most bytes of an oversized body read and discarded before its 413 goes out; a larger body
/// gets its 413 at once and the connection closes under it.
pub const DRAIN_LIMIT_BYTES: u64 = 64 * 1024 * 1024;
/// Longest time spent discarding an oversized body.
const DRAIN_TIME: Duration = Duration::from_secs(10);

/// `maas serve`'s guard for oversized bodies (`State` is `MAAS_MAX_BODY_BYTES`): a request
/// whose Content-Length is over the limit never reaches its handler; its body (up to
/// [`DRAIN_LIMIT_BYTES`], for at most 10 s) is read and discarded, then the 413 JSON goes out
/// with `Connection: close`. Without the discarding, the server would close the connection
/// while the client is still sending, and a client that writes its whole body before reading
/// (Python's http.client, most SDKs) would see a broken pipe instead of the answer.
pub async fn drain_oversized(State(limit): State<usize>, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let Some(length) = declared.filter(|&n| n > limit as u64) else {
        return next.run(request).await;
    };
    if length <= DRAIN_LIMIT_BYTES {
        let mut body = request.into_body();
        let _ = tokio::time::timeout(DRAIN_TIME, async {
            while let Some(Ok(_)) = body.frame().await {}
        })
        .await;
    }
    let mut response = ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "the request body exceeds the limit of {limit} bytes (MAAS_MAX_BODY_BYTES): it declared {length} bytes"
        ),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

pub async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!(
        "no route for {method} {}; see the README for the API",
        uri.path()
    ))
}

pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}", uri.path()),
    )
}

/// The integration tests' request helper, shared with these unit tests.
#[cfg(test)]
#[path = "../../tests/common/http.rs"]
mod test_http;

#[cfg(test)]
mod tests {
    use super::test_http as http;
    use super::*;
    use axum::body::Body;
    use axum::extract::Path;
    use axum::routing::get;

    async fn answer(app: Router, uri: &str) -> (StatusCode, String, serde_json::Value) {
        let request = axum::http::Request::get(uri).body(Body::empty()).unwrap();
        let answer = http::send(&app, request).await;
        (
            answer.status,
            answer.content_type.unwrap_or_default(),
            answer.json,
        )
    }

    #[tokio::test]
    async fn a_panicking_handler_becomes_a_500_json_reply() {
        let app = harden(Router::new().route(
            "/boom",
            get(|| async {
                if true {
                    panic!("index out of bounds");
                }
                "unreachable"
            }),
        ));
        let (status, content_type, body) = answer(app, "/boom").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(content_type, "application/json");
        assert_eq!(
            body["error"],
            "internal error: the request could not be answered; it has been logged"
        );
    }

    #[tokio::test]
    async fn axums_plain_text_rejections_become_json() {
        let app = harden(Router::new().route(
            "/m/{name}",
            get(|Path(name): Path<String>| async move { name }),
        ));
        let (status, content_type, body) = answer(app, "/m/%FF").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(content_type, "application/json");
        assert_eq!(body["error"], "Invalid URL: Invalid UTF-8 in `name`");
    }
}
