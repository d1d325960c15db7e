//! The committed events, read by lambda_http exactly as in Lambda and answered by the router.
// test code: a failed unwrap is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use lambda_http::Context;
use serde_json::{json, Value};

mod common;

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("events")
}

fn event(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(events_dir().join(name)).unwrap()).unwrap()
}

fn context() -> Context {
    let mut context = Context::default();
    context.request_id = "8476a536-e9f4-11e8-9739-2dfe598c3fcd".into();
    context
}

/// An HTTP-style response: its status and its JSON body.
fn http_answer(response: &Value) -> (u64, Value) {
    let body = response["body"].as_str().expect("a text body");
    (
        response["statusCode"].as_u64().unwrap(),
        serde_json::from_str(body).unwrap(),
    )
}

#[tokio::test]
async fn api_gateway_rest_v1_event_with_its_stage() {
    let app = common::app().await;
    let event = event("apigw-v1.json");
    assert_eq!(event["requestContext"]["stage"], "prod");
    let response = predict::handle_event(app, event, context()).await.unwrap();
    let (status, body) = http_answer(&response);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model_name"], "digits");
    assert_eq!(body["model_version"], 1);
    let labels: Vec<&str> = body["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["0", "1"]);
}

#[tokio::test]
async fn http_api_v2_event_kserve_infer() {
    let app = common::app().await;
    let response = predict::handle_event(app, event("apigw-v2.json"), context())
        .await
        .unwrap();
    let (status, body) = http_answer(&response);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outputs"][0]["shape"], json!([2, 10]));
    let data = body["outputs"][0]["data"].as_array().unwrap();
    assert!(data[0].as_f64().unwrap() > 0.9, "row 0 is a zero: {body}");
    assert!(data[11].as_f64().unwrap() > 0.9, "row 1 is a one: {body}");
}

#[tokio::test]
async fn function_url_event_with_a_base64_body_tf_serving() {
    let app = common::app().await;
    let event = event("function-url.json");
    assert_eq!(event["isBase64Encoded"], true);
    let response = predict::handle_event(app, event, context()).await.unwrap();
    let (status, body) = http_answer(&response);
    assert_eq!(status, 200, "{body}");
    let predictions = body["predictions"].as_array().unwrap();
    assert_eq!(predictions.len(), 2);
    assert!(predictions[1][1].as_f64().unwrap() > 0.9, "{body}");
}

#[tokio::test]
async fn direct_invocation_gets_the_native_answer() {
    let app = common::app().await;
    let response = predict::handle_event(app.clone(), event("direct.json"), context())
        .await
        .unwrap();
    assert_eq!(response["model_name"], "digits", "{response}");
    assert_eq!(response["predictions"][0]["label"], "0");
    assert_eq!(response["predictions"][1]["label"], "1");
    // a bad direct payload gets the error document back
    let response = predict::handle_event(app, json!({"inputs": [[1.0, 2.0]]}), context())
        .await
        .unwrap();
    assert_eq!(
        response,
        json!({"error": "row 0 has 2 features, the model expects 64"})
    );
}

#[tokio::test]
async fn invalid_base64_body_is_a_400_not_a_crash() {
    let app = common::app().await;
    let mut event = event("apigw-v2.json");
    event["isBase64Encoded"] = json!(true);
    event["body"] = json!("this is %%% not base64");
    let response = predict::handle_event(app, event, context()).await.unwrap();
    let (status, body) = http_answer(&response);
    assert_eq!(status, 400);
    let error = body["error"].as_str().unwrap();
    assert!(
        error.starts_with("the request body is marked isBase64Encoded but is not valid base64"),
        "{error}"
    );
}

#[tokio::test]
async fn a_caller_cannot_forge_the_internal_invalid_body_header() {
    let app = common::app().await;
    let mut event = event("apigw-v2.json");
    event["headers"]["X-Maas-Invalid-Body"] = json!("forged");
    let response = predict::handle_event(app, event, context()).await.unwrap();
    assert_eq!(http_answer(&response).0, 200);
}

#[tokio::test]
async fn unknown_routes_and_health_through_events() {
    let app = common::app().await;
    let mut event = event("apigw-v2.json");
    event["rawPath"] = json!("/v2/health/ready");
    event["requestContext"]["http"]["method"] = json!("GET");
    event["body"] = Value::Null;
    let response = predict::handle_event(app.clone(), event.clone(), context())
        .await
        .unwrap();
    assert_eq!(http_answer(&response), (200, json!({"ready": true})));
    event["rawPath"] = json!("/nope");
    let response = predict::handle_event(app, event, context()).await.unwrap();
    let (status, body) = http_answer(&response);
    assert_eq!(status, 404);
    assert_eq!(
        body["error"],
        "no route for GET /nope; see the README for the API"
    );
}

#[tokio::test]
async fn direct_invocations_with_a_prompt_or_messages_get_openai_completions() {
    let app = common::llama_app().await;
    for case in common::llama_greedy() {
        let expected = case["text"].as_str().unwrap();
        let max_tokens = case["max_tokens"].clone();
        let (payload, chat) = if case["chat"].as_bool().unwrap() {
            (
                json!({"messages": case["prompt"], "max_tokens": max_tokens, "temperature": 0}),
                true,
            )
        } else {
            (
                json!({"prompt": case["prompt"], "max_tokens": max_tokens, "temperature": 0}),
                false,
            )
        };
        // directly, as `aws lambda invoke` sends it
        let direct = predict::handle_event(app.clone(), payload.clone(), context())
            .await
            .unwrap();
        let choice = &direct["choices"][0];
        let text = if chat {
            assert_eq!(direct["object"], "chat.completion", "{direct}");
            &choice["message"]["content"]
        } else {
            assert_eq!(direct["object"], "text_completion", "{direct}");
            &choice["text"]
        };
        assert_eq!(text, expected, "{}", case["prompt"]);
        // through a function URL (an HTTP API v2 event), the same completion
        let mut event = event("function-url.json");
        let path = if chat {
            "/openai/v1/chat/completions"
        } else {
            "/openai/v1/completions"
        };
        event["rawPath"] = json!(path);
        event["requestContext"]["http"]["path"] = json!(path);
        event["body"] = json!(payload.to_string());
        event["isBase64Encoded"] = json!(false);
        let response = predict::handle_event(app.clone(), event, context())
            .await
            .unwrap();
        let (status, body) = http_answer(&response);
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["choices"], direct["choices"], "{}", case["prompt"]);
    }
    // a bad direct prompt gets OpenAI's error document back
    let answer = predict::handle_event(app, json!({"prompt": "hi", "top_p": 0}), context())
        .await
        .unwrap();
    assert_eq!(answer["error"]["param"], "top_p", "{answer}");
    assert_eq!(answer["error"]["type"], "invalid_request_error");
}
