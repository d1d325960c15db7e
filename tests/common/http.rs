//! Sending a request through the router in-process and reading its answer: shared by the
//! integration tests, the server's unit tests and the function's tests.
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// A router's answer: status, Content-Type, and the body parsed as JSON (`Value::Null` when it
/// is not JSON; `text` keeps it as it came).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub content_type: Option<String>,
    pub json: Value,
    pub text: String,
}

impl Answer {
    /// The `error` message of a JSON error answer (OpenAI's `error.message`), or "" when there
    /// is none.
    pub fn error(&self) -> &str {
        self.json["error"]
            .as_str()
            .or_else(|| self.json["error"]["message"].as_str())
            .unwrap_or("")
    }

    /// Whether the answer is JSON (`application/json`).
    pub fn is_json(&self) -> bool {
        self.content_type.as_deref() == Some("application/json")
    }
}

/// Sends `request` through `app` and reads the whole answer.
pub async fn send(app: &Router, request: Request<Body>) -> Answer {
    let response = app
        .clone()
        .oneshot(request)
        .await
        .expect("the router answers");
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or("").to_string());
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("the body reads")
        .to_bytes();
    Answer {
        status,
        content_type,
        json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// A request with a JSON body (`application/json`); an empty `body` sends none.
pub fn json_request(method: &str, path: &str, body: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("a valid request")
}
