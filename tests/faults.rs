//! Faults of the model store, met the way the Lambda function meets them (ModelHandle behind
//! the router, in this process), against a real S3-protocol server (moto) behind a proxy the
//! test can take down or stall: S3 down at cold start and back, S3 stalled, a corrupted new
//! version while warm, an alias to a missing version, a truncated manifest, a model tract
//! cannot run.
// test code: a failed unwrap is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/proxy.rs"]
mod proxy;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use common::*;
use maas::server::router;
use maas::server::state::{ModelHandle, ServerConfig};
use proxy::{Mode, Proxy};
use serde_json::{json, Value};

const BUCKET: &str = "faults";
const STORE: &str = "s3://faults/models";

struct Fixture {
    moto: Moto,
    proxy: Proxy,
}

/// One moto and one proxy for this test binary; this process's S3 client goes through the
/// proxy (its endpoint is read once per process), with a 2 s read timeout.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let moto = Moto::start(&[]);
        moto.bucket(BUCKET);
        let proxy = Proxy::start(moto.endpoint.trim_start_matches("http://"));
        for (key, value) in moto.env() {
            std::env::set_var(key, value);
        }
        std::env::set_var("AWS_ENDPOINT_URL_S3", &proxy.endpoint);
        std::env::set_var("MAAS_S3_TIMEOUT_SECONDS", "2");
        Fixture { moto, proxy }
    })
}

/// The scenarios share the proxy: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Trains a small model `name` straight into moto (not through the proxy).
fn train(fx: &Fixture, name: &str) {
    fx.moto.maas_ok(&[
        "train", "--store", STORE, "--name", name, "--hidden", "16", "--epochs", "1",
    ]);
}

async fn call(app: &Router, method: &str, path: &str) -> (u16, Value) {
    let body = if method == "POST" {
        json!({ "inputs": digits_rows(1).1 }).to_string()
    } else {
        String::new()
    };
    let answer = common::http::send(app, common::http::json_request(method, path, &body)).await;
    assert!(answer.is_json(), "{} {}", answer.status, answer.text);
    (answer.status.as_u16(), answer.json)
}

/// Loads a reference as the function does at cold start, failing the test if that hangs.
async fn cold_start(reference: &str, refresh: Option<Duration>) -> Arc<ModelHandle> {
    tokio::time::timeout(
        Duration::from_secs(60),
        ModelHandle::load(reference.parse().unwrap(), refresh),
    )
    .await
    .unwrap_or_else(|_| panic!("loading {reference} hung"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_down_at_cold_start_gives_503_then_recovers_when_it_is_back() {
    let fx = fixture();
    let _one = SERIAL.lock().await;
    train(fx, "down");
    fx.proxy.set(Mode::Down);
    let handle = cold_start(&format!("{STORE}/down"), Some(Duration::from_secs(1))).await;
    let reason = handle.current().unwrap_err();
    assert!(
        reason.contains(&format!(
            "cannot reach the S3 endpoint {}",
            fx.proxy.endpoint
        )) && reason.contains("after 3 attempts"),
        "{reason}"
    );
    let app = router(handle, ServerConfig::default());
    assert_eq!(call(&app, "GET", "/v2/health/live").await.0, 200);
    let (status, body) = call(&app, "GET", "/v2/health/ready").await;
    assert_eq!(status, 503, "{body}");
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("cannot reach the S3 endpoint"));
    let (status, body) = call(&app, "POST", "/predict").await;
    assert_eq!(status, 503, "{body}");
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("model 'down' is not loaded"));

    // S3 comes back: requests keep nudging a retry, and the model arrives
    fx.proxy.set(Mode::Up);
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let (status, _) = call(&app, "GET", "/v2/health/ready").await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "never recovered");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (status, body) = call(&app, "POST", "/predict").await;
    assert_eq!(
        (status, body["model_version"].clone()),
        (200, json!(1)),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_s3_times_out_instead_of_hanging() {
    let fx = fixture();
    let _one = SERIAL.lock().await;
    train(fx, "stalled");
    fx.proxy.set(Mode::Stalled);
    let handle = cold_start(&format!("{STORE}/stalled"), None).await;
    fx.proxy.set(Mode::Up);
    let reason = handle.current().unwrap_err();
    assert!(reason.contains("after 3 attempts"), "{reason}");
    assert!(
        reason.to_lowercase().contains("timeout") || reason.contains("timed out"),
        "{reason}"
    );
    // and a retry once it is back succeeds
    let handle = cold_start(&format!("{STORE}/stalled"), None).await;
    assert!(handle.current().is_ok(), "{:?}", handle.current().err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_new_version_is_refused_and_a_warm_instance_keeps_the_last_good_one() {
    let fx = fixture();
    let _one = SERIAL.lock().await;
    fx.proxy.set(Mode::Up);
    train(fx, "warm");
    fx.moto.maas_ok(&[
        "models",
        "promote",
        &format!("{STORE}/warm@1"),
        "--alias",
        "prod",
    ]);
    let handle = cold_start(&format!("{STORE}/warm@prod"), Some(Duration::from_secs(1))).await;
    let app = router(Arc::clone(&handle), ServerConfig::default());
    assert_eq!(call(&app, "POST", "/predict").await.1["model_version"], 1);
    let before = handle.refresh_counts();

    train(fx, "warm");
    fx.moto.put(
        BUCKET,
        "models/warm/versions/2/model.onnx",
        b"not the model that was published",
    );
    fx.moto.maas_ok(&[
        "models",
        "promote",
        &format!("{STORE}/warm@2"),
        "--alias",
        "prod",
    ]);
    // several refresh intervals pass, each request nudging a check of the alias
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        let (status, body) = call(&app, "POST", "/predict").await;
        assert_eq!(
            (status, body["model_version"].clone()),
            (200, json!(1)),
            "{body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(call(&app, "GET", "/v2/health/ready").await.0, 200);
    // the alias was checked again and again, saw version 2 and failed to load it: version 1
    // kept answering because the refresh refused the corrupted file, not because none ran
    let after = handle.refresh_counts();
    assert!(after.checks >= before.checks + 2, "{before:?} -> {after:?}");
    assert!(after.failures > before.failures, "{before:?} -> {after:?}");
    assert_eq!(after.loads, before.loads, "{before:?} -> {after:?}");

    let cold = cold_start(&format!("{STORE}/warm@prod"), None).await;
    let reason = cold.current().unwrap_err();
    assert!(
        reason.contains("checksum mismatch for warm version 2"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_store_documents_and_models_are_named_in_the_error() {
    let fx = fixture();
    let _one = SERIAL.lock().await;
    fx.proxy.set(Mode::Up);
    train(fx, "docs");

    // an alias naming a version that does not exist
    fx.moto.put(
        BUCKET,
        "models/docs/aliases/ghost.json",
        br#"{"version": 99}"#,
    );
    let reason = cold_start(&format!("{STORE}/docs@ghost"), None)
        .await
        .current()
        .unwrap_err();
    assert!(
        reason.contains("model 'docs' in store s3://faults/models has no version 99"),
        "{reason}"
    );

    // a manifest cut in half
    let manifest = fx.moto.get(BUCKET, "models/docs/versions/1/manifest.json");
    fx.moto.put(
        BUCKET,
        "models/docs/versions/1/manifest.json",
        &manifest[..manifest.len() / 2],
    );
    let reason = cold_start(&format!("{STORE}/docs@1"), None)
        .await
        .current()
        .unwrap_err();
    assert!(
        reason.contains(
            "s3://faults/models/docs/versions/1/manifest.json is not a valid maas document"
        ),
        "{reason}"
    );
    let err = fx.moto.maas_err(&[
        "predict",
        "--model",
        &format!("{STORE}/docs@1"),
        "--input",
        "-",
    ]);
    assert!(
        err.contains("is not a valid maas document: EOF while parsing"),
        "{err}"
    );

    // a model with an operator tract does not have
    let dir = scratch("faults-operator");
    let onnx = dir.join("scaler.onnx");
    python_json("make_unsupported_model.py", &[onnx.to_str().unwrap()]);
    let reason = cold_start(onnx.to_str().unwrap(), None)
        .await
        .current()
        .unwrap_err();
    assert!(
        reason.contains("the model uses operator 'Scaler' (ai.onnx.ml), which tract cannot run"),
        "{reason}"
    );
    let err = fx.moto.maas_err(&[
        "publish",
        "--onnx",
        onnx.to_str().unwrap(),
        "--name",
        "scaler",
        "--store",
        STORE,
    ]);
    assert!(err.contains("operator 'Scaler' (ai.onnx.ml)"), "{err}");
}
