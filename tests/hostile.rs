//! The hostile-request corpus against the router in-process (what `maas serve` and the Lambda
//! function run): every malformed request gets its 4xx and a JSON error saying what is wrong;
//! none panics, hangs or gets a 5xx. The served model keeps answering afterwards.
// test code: a failed unwrap is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/corpus.rs"]
mod corpus;

use std::time::Duration;

use maas::server::router;
use maas::server::state::{ModelHandle, ServerConfig};
use serde_json::json;

#[tokio::test]
async fn every_hostile_request_gets_a_4xx_json_error_saying_what_is_wrong() {
    let reference = format!("{}/digits@1", common::trained_store().display());
    let handle = ModelHandle::load(reference.parse().unwrap(), None).await;
    let app = router(handle, ServerConfig::default());
    let cases = corpus::hostile_requests();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let request = case.request();
        let answer =
            tokio::time::timeout(Duration::from_secs(20), common::http::send(&app, request))
                .await
                .unwrap_or_else(|_| panic!("{}: no answer within 20 s", case.name));
        let status = answer.status.as_u16();
        let content_type = answer.content_type.clone();
        let error = answer.error();
        failures.extend(case.mismatch(status, content_type.as_deref(), error));
        assert!((400..500).contains(&status), "{}: {status}", case.name);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // and the model still answers
    let rows = common::digits_rows(2).1;
    let request =
        common::http::json_request("POST", "/predict", &json!({ "inputs": rows }).to_string());
    let answer = common::http::send(&app, request).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
}
