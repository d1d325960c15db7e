//! The HTTP API in-process: every route of the router and every error it promises.
// test code: a failed unwrap is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use maas::server::router;
use maas::server::state::{ModelHandle, ServerConfig};
use maas::store::{Selector, Store, StoreLocation};
use serde_json::{json, Value};

async fn digits_handle() -> Arc<ModelHandle> {
    let reference = format!("{}/digits@1", common::trained_store().display());
    let handle = ModelHandle::load(reference.parse().unwrap(), None).await;
    assert!(handle.current().is_ok(), "{:?}", handle.current().err());
    handle
}

async fn app() -> Router {
    router(digits_handle().await, ServerConfig::default())
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let answer = common::http::send(app, request).await;
    assert!(answer.is_json(), "{} {}", answer.status, answer.text);
    (answer.status, answer.json)
}

async fn get(app: &Router, path: &str) -> (StatusCode, Value) {
    send(app, Request::get(path).body(Body::empty()).unwrap()).await
}

async fn post(app: &Router, path: &str, body: impl Into<String>) -> (StatusCode, Value) {
    let request = Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body.into()))
        .unwrap();
    send(app, request).await
}

fn rows(n: usize) -> Vec<Vec<f64>> {
    common::digits_rows(n).1
}

fn error_of(body: &Value) -> &str {
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message in {body}"))
}

fn assert_close(a: &Value, b: &Value) {
    let (a, b) = (a.as_array().unwrap(), b.as_array().unwrap());
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!(
            (x.as_f64().unwrap() - y.as_f64().unwrap()).abs() < 1e-7,
            "{x} vs {y}"
        );
    }
}

#[tokio::test]
async fn native_predict_answers_labelled_rows() {
    let app = app().await;
    let (status, body) = post(&app, "/predict", json!({ "inputs": rows(2) }).to_string()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["model_name"], "digits");
    assert_eq!(body["model_version"], 1);
    let predictions = body["predictions"].as_array().unwrap();
    assert_eq!(predictions.len(), 2);
    assert_eq!(predictions[0]["label"], "0");
    assert_eq!(predictions[1]["label"], "1");
    assert_eq!(
        predictions[0]["probabilities"].as_array().unwrap().len(),
        10
    );
}

#[tokio::test]
async fn kserve_health_metadata_and_readiness() {
    let app = app().await;
    assert_eq!(
        get(&app, "/v2/health/live").await,
        (StatusCode::OK, json!({"live": true}))
    );
    assert_eq!(
        get(&app, "/v2/health/ready").await,
        (StatusCode::OK, json!({"ready": true}))
    );
    let (status, server) = get(&app, "/v2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server["name"], "maas");
    let expected = json!({
        "name": "digits", "versions": ["1"], "platform": "onnx",
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 64]}],
        "outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]}],
        "parameters": {"task": "classifier"}
    });
    assert_eq!(
        get(&app, "/v2/models/digits").await,
        (StatusCode::OK, expected.clone())
    );
    assert_eq!(
        get(&app, "/v2/models/digits/versions/1").await,
        (StatusCode::OK, expected)
    );
    let ready = json!({"name": "digits", "ready": true});
    assert_eq!(
        get(&app, "/v2/models/digits/ready").await,
        (StatusCode::OK, ready.clone())
    );
    assert_eq!(
        get(&app, "/v2/models/digits/versions/1/ready").await,
        (StatusCode::OK, ready)
    );
}

#[tokio::test]
async fn kserve_infer_takes_flat_or_nested_data_and_matches_native() {
    let app = app().await;
    let input = rows(2);
    let (_, native) = post(&app, "/predict", json!({ "inputs": input }).to_string()).await;
    let flat: Vec<f64> = input.iter().flatten().copied().collect();
    for (path, data) in [
        ("/v2/models/digits/infer", json!(flat)),
        ("/v2/models/digits/versions/1/infer", json!(input)),
    ] {
        let request = json!({
            "id": "req-7",
            "inputs": [{"name": "input", "shape": [2, 64], "datatype": "FP32", "data": data}],
            "outputs": [{"name": "probabilities"}]
        });
        let (status, body) = post(&app, path, request.to_string()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["model_name"], "digits");
        assert_eq!(body["model_version"], "1");
        assert_eq!(body["id"], "req-7");
        let output = &body["outputs"][0];
        assert_eq!(output["name"], "probabilities");
        assert_eq!(output["datatype"], "FP32");
        assert_eq!(output["shape"], json!([2, 10]));
        let data = output["data"].as_array().unwrap();
        assert_close(
            &json!(data[..10]),
            &native["predictions"][0]["probabilities"],
        );
        assert_close(
            &json!(data[10..]),
            &native["predictions"][1]["probabilities"],
        );
    }
}

#[tokio::test]
async fn tf_serving_row_and_columnar_formats() {
    let app = app().await;
    let input = rows(2);
    let (_, native) = post(&app, "/predict", json!({ "inputs": input }).to_string()).await;
    let first = &native["predictions"][0]["probabilities"];
    let named: Vec<Value> = input.iter().map(|r| json!({ "input": r })).collect();
    for (path, body, key) in [
        (
            "/v1/models/digits:predict",
            json!({ "instances": input }),
            "predictions",
        ),
        (
            "/v1/models/digits/versions/1:predict",
            json!({ "signature_name": "serving_default", "instances": named }),
            "predictions",
        ),
        (
            "/v1/models/digits:predict",
            json!({ "inputs": input }),
            "outputs",
        ),
        (
            "/v1/models/digits:predict",
            json!({ "inputs": { "input": input } }),
            "outputs",
        ),
    ] {
        let (status, answer) = post(&app, path, body.to_string()).await;
        assert_eq!(status, StatusCode::OK, "{path} {answer}");
        assert_eq!(answer.as_object().unwrap().len(), 1, "{answer}");
        assert_eq!(answer[key].as_array().unwrap().len(), 2);
        assert_close(&answer[key][0], first);
    }
    let (status, model_status) = get(&app, "/v1/models/digits").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        model_status["model_version_status"][0]["state"],
        "AVAILABLE"
    );
    assert_eq!(model_status["model_version_status"][0]["version"], "1");
}

/// Posts `body` to `path` and checks the status and that the error message contains `message`.
async fn refused(app: &Router, path: &str, body: &str, status: StatusCode, message: &str) {
    let (got, answer) = post(app, path, body).await;
    assert_eq!(got, status, "{path} {body:.80} -> {answer}");
    let error = error_of(&answer);
    assert!(
        error.contains(message),
        "{path}: '{error}' lacks '{message}'"
    );
}

#[tokio::test]
async fn bad_requests_get_400_saying_what_is_wrong() {
    let app = app().await;
    let bad = StatusCode::BAD_REQUEST;
    let mut ragged = rows(2);
    ragged[1].pop();
    let cases: Vec<(&str, String, &str)> = vec![
        ("/predict", "{\"inputs\": [[1, 2".into(), "invalid JSON body: EOF while parsing"),
        ("/predict", "{\"inputs\": [[NaN]]}".into(), "invalid JSON body: expected value"),
        ("/predict", "{\"inputs\": [[\"1\"]]}".into(), "invalid type: string \"1\", expected f64"),
        ("/predict", "{\"instances\": [[1]]}".into(), "unknown field `instances`, expected `inputs`"),
        ("/predict", "".into(), "the request body is empty"),
        ("/predict", json!({"inputs": []}).to_string(), "the batch is empty"),
        ("/predict", json!({"inputs": [[1.0, 2.0]]}).to_string(), "row 0 has 2 features, the model expects 64"),
        ("/predict", json!({ "inputs": ragged }).to_string(), "row 1 has 63 features, the model expects 64"),
        ("/predict", json!({"inputs": [vec![1e39; 64]]}).to_string(), "row 0, feature 0: 1000000000000000000000000000000000000000 is not a finite float32 number"),
        ("/v2/models/digits/infer", json!({"inputs": [{"name": "input", "shape": [1, 64], "datatype": "BYTES", "data": ["a"]}]}).to_string(), "datatype 'BYTES' is not supported"),
        ("/v2/models/digits/infer", json!({"inputs": [{"name": "pixels", "shape": [1, 64], "datatype": "FP32", "data": vec![0.0; 64]}]}).to_string(), "unknown input 'pixels': the model's inputs are 'input'"),
        ("/v2/models/digits/infer", json!({"inputs": [{"name": "input", "shape": [1, 63], "datatype": "FP32", "data": vec![0.0; 63]}]}).to_string(), "input 'input' has shape [1, 63]; dimension 1 must be 64"),
        ("/v2/models/digits/infer", json!({"inputs": [{"name": "input", "shape": [2, 64], "datatype": "FP32", "data": vec![0.0; 64]}]}).to_string(), "has 64 values but its shape [2, 64] needs 128"),
        ("/v2/models/digits/infer", json!({"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": [[0.0, "x"]]}]}).to_string(), "input 'input', data[0][1]: is a string, expected a number (FP32)"),
        ("/v2/models/digits/infer", json!({"inputs": []}).to_string(), "missing input 'input': the model takes 'input'"),
        ("/v2/models/digits/infer", json!({"inputs": [{"name": "input", "shape": [0, 64], "datatype": "FP32", "data": []}]}).to_string(), "the batch is empty"),
        ("/v2/models/digits/infer", json!({"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": vec![0.0; 64]}], "outputs": [{"name": "logits"}]}).to_string(), "unknown output 'logits'"),
        ("/v1/models/digits:predict", json!({"instances": [[1.0]], "inputs": [[1.0]]}).to_string(), "not both"),
        ("/v1/models/digits:predict", json!({"signature_name": "x"}).to_string(), "needs 'instances' (row format) or 'inputs' (columnar format)"),
        ("/v1/models/digits:predict", json!({"instances": [{"pixels": [1.0]}]}).to_string(), "the model has one input, 'input'"),
        ("/v1/models/digits:predict", json!({"instances": "all"}).to_string(), "'instances' must be a list"),
        ("/v1/models/digits:predict", json!({"inputs": [[true]]}).to_string(), "row 0 has 1 features"),
        ("/v1/models/digits:predict", json!({"inputs": [vec![1.0; 64], 5]}).to_string(), "inputs[1] is a number, expected a list of rows"),
    ];
    for (path, body, message) in &cases {
        refused(&app, path, body, bad, message).await;
    }
}

#[tokio::test]
async fn unknown_models_versions_and_routes_get_404() {
    let app = app().await;
    let body = json!({ "inputs": rows(1) }).to_string();
    let nf = StatusCode::NOT_FOUND;
    refused(
        &app,
        "/v2/models/cats/infer",
        &body,
        nf,
        "unknown model 'cats'; this server serves 'digits'",
    )
    .await;
    refused(
        &app,
        "/v2/models/digits/versions/9/infer",
        &body,
        nf,
        "model 'digits' has no version '9' here; this server serves version 1",
    )
    .await;
    refused(
        &app,
        "/v1/models/cats:predict",
        &body,
        nf,
        "unknown model 'cats'",
    )
    .await;
    refused(
        &app,
        "/v1/models/digits/versions/2:predict",
        &body,
        nf,
        "has no version '2'",
    )
    .await;
    refused(
        &app,
        "/v1/models/digits:classify",
        &body,
        nf,
        "':classify' is not supported",
    )
    .await;
    refused(
        &app,
        "/v1/models/digits/extra/path:predict",
        &body,
        nf,
        "use /v1/models/<name>[/versions/<n>]:predict",
    )
    .await;
    refused(&app, "/nowhere", &body, nf, "no route for POST /nowhere").await;
    let (status, answer) = get(&app, "/v2/models/cats").await;
    assert_eq!(status, nf);
    assert!(error_of(&answer).contains("unknown model 'cats'"));
    let (status, answer) = get(&app, "/predict").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_of(&answer), "GET is not allowed on /predict");
}

#[tokio::test]
async fn limits_and_content_type() {
    let config = ServerConfig {
        max_rows: 3,
        max_body_bytes: 20_000,
        ..Default::default()
    };
    let app = router(digits_handle().await, config);
    let too_large = StatusCode::PAYLOAD_TOO_LARGE;
    refused(
        &app,
        "/predict",
        &json!({ "inputs": rows(4) }).to_string(),
        too_large,
        "4 rows exceed the limit of 3 rows per request (MAAS_MAX_ROWS)",
    )
    .await;
    let big = json!({ "inputs": vec![vec![1.2345678; 64]; 3] }).to_string() + &" ".repeat(20_000);
    refused(
        &app,
        "/predict",
        &big,
        too_large,
        "the request body exceeds the limit of 20000 bytes",
    )
    .await;
    // a declared Content-Length over the limit is refused before the body is read
    let (status, answer) = send(
        &app,
        Request::post("/predict")
            .header("content-type", "application/json")
            .header("content-length", big.len())
            .body(Body::from(big.clone()))
            .unwrap(),
    )
    .await;
    assert_eq!(status, too_large, "{answer}");
    let (status, answer) = send(
        &app,
        Request::post("/predict")
            .header("content-type", "text/plain")
            .body(Body::from(json!({ "inputs": rows(1) }).to_string()))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        error_of(&answer),
        "Content-Type must be application/json, got 'text/plain'"
    );
    // a JSON content type with parameters, and none at all, are accepted
    for content_type in [Some("application/json; charset=utf-8"), None] {
        let mut request = Request::post("/predict");
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        let body = Body::from(json!({ "inputs": rows(1) }).to_string());
        let (status, _) = send(&app, request.body(body).unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{content_type:?}");
    }
}

#[tokio::test]
async fn without_a_model_health_says_503_and_predictions_too() {
    let store = common::scratch("empty-store");
    let reference = format!("{}/digits", store.display());
    let handle = ModelHandle::load(reference.parse().unwrap(), None).await;
    let app = router(handle, ServerConfig::default());
    assert_eq!(get(&app, "/v2/health/live").await.0, StatusCode::OK);
    let (status, body) = get(&app, "/v2/health/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["ready"], false);
    assert!(
        error_of(&body).contains("no model named 'digits'"),
        "{body}"
    );
    refused(
        &app,
        "/predict",
        &json!({ "inputs": rows(1) }).to_string(),
        StatusCode::SERVICE_UNAVAILABLE,
        "model 'digits' is not loaded",
    )
    .await;
    let (status, _) = get(&app, "/v2/models/digits/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_server_follows_its_alias_and_recovers_a_missing_model() {
    let source = common::trained_store();
    let (manifest, model) = Store::open(StoreLocation::Folder(source.to_path_buf()))
        .fetch("digits", &Selector::Version(1))
        .await
        .unwrap();
    let dir = common::scratch("refresh");
    let store = Store::open(StoreLocation::Folder(dir.clone()));
    let reference = format!("{}/digits", dir.display());
    // nothing published yet: the server starts without a model and retries
    let handle = ModelHandle::load(reference.parse().unwrap(), Some(Duration::from_secs(1))).await;
    let app = router(handle, ServerConfig::default());
    assert_eq!(
        get(&app, "/v2/health/ready").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    store
        .publish("digits", &model, manifest.description.clone())
        .await
        .unwrap();
    let version_after_refresh = |want: u64| {
        let app = app.clone();
        async move {
            for _ in 0..100 {
                let (status, body) =
                    post(&app, "/predict", json!({ "inputs": rows(1) }).to_string()).await;
                if status == StatusCode::OK && body["model_version"] == want {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            false
        }
    };
    assert!(
        version_after_refresh(1).await,
        "the server never loaded version 1"
    );
    store
        .publish("digits", &model, manifest.description.clone())
        .await
        .unwrap();
    assert!(
        version_after_refresh(2).await,
        "the server never followed latest to version 2"
    );
}

/// A bare `.onnx` file under `MAAS_REFRESH_SECONDS` is checked every interval but loaded again
/// only when it changed (its size or modification time), not re-read and re-optimised each time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bare_model_file_is_reloaded_only_when_it_changes() {
    let onnx = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("onnx");
    let dir = common::scratch("bare-refresh");
    let file = dir.join("served.onnx");
    std::fs::copy(onnx.join("digits.onnx"), &file).unwrap();
    let handle = ModelHandle::load(
        file.display().to_string().parse().unwrap(),
        Some(Duration::from_secs(1)),
    )
    .await;
    let first = handle.current().unwrap().sha256.clone();
    let app = router(Arc::clone(&handle), ServerConfig::default());
    // three intervals of requests, each nudging a check: checked, never reloaded
    let until = std::time::Instant::now() + Duration::from_millis(3500);
    while std::time::Instant::now() < until {
        let (status, _) = post(&app, "/predict", json!({ "inputs": rows(1) }).to_string()).await;
        assert_eq!(status, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let unchanged = handle.refresh_counts();
    assert!(unchanged.checks >= 2, "{unchanged:?}");
    assert_eq!(unchanged.loads, 1, "{unchanged:?}");
    // replaced by another model: loaded once more, and answering with it
    std::fs::copy(onnx.join("digits_sklearn_logreg.onnx"), &file).unwrap();
    let mut reloaded = false;
    for _ in 0..50 {
        let (status, _) = post(&app, "/predict", json!({ "inputs": rows(1) }).to_string()).await;
        assert_eq!(status, StatusCode::OK);
        if handle.current().unwrap().sha256 != first {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reloaded, "the changed file was never loaded");
    let after = handle.refresh_counts();
    assert_eq!(after.loads, 2, "{after:?}");
}
