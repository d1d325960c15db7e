//! Request parsing through the router: the first byte picks a route of the route table (low 5
//! bits, for model digits version 1), a content type (bits 5-6) and whether GET and POST are
//! swapped (bit 7); the rest is the body. Every answer must be a success or a JSON 4xx.
//! `tests/fuzz/seeds.py` writes seeds in this layout.
#![no_main]
// test code: a failed unwrap is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

#[path = "common.rs"]
mod common;

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
    let routes = maas::server::routes::ROUTES;
    let route = &routes[(selector & 0x1f) as usize % routes.len()];
    let path = route.path_for("digits", 1);
    let method = match (route.method, selector & 0x80 != 0) {
        ("GET", true) => "POST",
        ("POST", true) => "GET",
        (method, _) => method,
    };
    let content_type = CONTENT_TYPES[((selector >> 5) & 0x03) as usize];
    let mut request = axum::http::Request::builder().method(method).uri(path.as_str());
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
