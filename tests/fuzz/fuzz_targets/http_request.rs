//! Request parsing through the router: the first byte picks a route and a content type, the
//! rest is the body. Every answer must be a success or a JSON 4xx.
#![no_main]

use axum::body::Body;
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

#[path = "common.rs"]
mod common;

const ROUTES: [(&str, &str); 8] = [
    ("POST", "/predict"),
    ("POST", "/v2/models/digits/infer"),
    ("POST", "/v2/models/digits/versions/1/infer"),
    ("POST", "/v1/models/digits:predict"),
    ("POST", "/v1/models/digits/versions/1:predict"),
    ("GET", "/v2/models/digits"),
    ("GET", "/v1/models/digits"),
    ("POST", "/v2/health/ready"),
];
const CONTENT_TYPES: [Option<&str>; 4] = [
    Some("application/json"),
    None,
    Some("application/json; charset=utf-8"),
    Some("text/plain"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let (method, path) = ROUTES[(selector & 0x07) as usize];
    let content_type = CONTENT_TYPES[((selector >> 3) & 0x03) as usize];
    let mut request = axum::http::Request::builder().method(method).uri(path);
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    let request = request.body(Body::from(body.to_vec())).expect("a request");
    common::runtime().block_on(async {
        let response = common::app().oneshot(request).await.expect("infallible");
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.expect("a body").to_bytes();
        common::check_answer(status, &bytes, &(method, path));
    });
});
