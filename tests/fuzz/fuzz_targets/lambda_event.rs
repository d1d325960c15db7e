//! The Lambda event path: bytes that parse as JSON go to the function as the raw event (any
//! shape: API Gateway v1/v2, function URL, direct invocation, junk); other bytes become the
//! body of an HTTP API v2 event, base64-encoded or not. No panic, no failed invocation, no 5xx.
#![no_main]
// test code: a failed unwrap is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

#[path = "common.rs"]
mod common;

fn v2_event(path: &str, body: &str, base64: bool) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "fuzz"},
            "requestId": "fuzz", "routeKey": "$default", "stage": "$default", "time": "28/Nov/2026:00:00:00 +0000", "timeEpoch": 0,
            "accountId": "123456789012", "apiId": "fuzz", "domainName": "fuzz.test", "domainPrefix": "fuzz"
        },
        "body": body,
        "isBase64Encoded": base64
    })
}

fuzz_target!(|data: &[u8]| {
    let event = match serde_json::from_slice::<Value>(data) {
        Ok(value) => value,
        Err(_) => {
            let text = String::from_utf8_lossy(data);
            let (path, body) = text.split_once('\n').unwrap_or(("/predict", &text));
            let path = if path.starts_with('/') { path } else { "/predict" };
            v2_event(path, body, data.first().is_some_and(|b| b & 1 == 1))
        }
    };
    common::runtime().block_on(async {
        let response = predict::handle_event(common::app(), event.clone(), lambda_http::Context::default())
            .await
            .unwrap_or_else(|e| panic!("the event was not answered: {e}\n{event}"));
        match response["statusCode"].as_u64() {
            Some(status) => {
                let body = response["body"].as_str().unwrap_or("");
                let bytes = if response["isBase64Encoded"] == json!(true) {
                    // errors are JSON text; a base64 body is a success from a binary route
                    return;
                } else {
                    body.as_bytes().to_vec()
                };
                common::check_answer(status as u16, &bytes, &event);
            }
            // a direct invocation: the document itself
            None => assert!(response.is_object(), "{response}"),
        }
    });
});
