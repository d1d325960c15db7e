//! End to end under `cargo lambda watch`: the real Lambda runtime loop, invoked directly with
//! `cargo lambda invoke` and over HTTP through the function URL emulation.
// test code: a failed unwrap is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
#[path = "../../../tests/common/lambda_watch.rs"]
mod lambda_watch;

use lambda_watch::{free_port, Watch};

fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "-m", "60"])
        .args(args)
        .output()
        .expect("curl runs")
}

/// POSTs a JSON body (curl's arguments: `-d TEXT` or `--data-binary @FILE`) to a URL.
fn curl_post(url: &str, data: &[&str], extra: &[&str]) -> Output {
    let mut args = vec!["-X", "POST", "-H", "content-type: application/json"];
    args.extend_from_slice(data);
    args.extend_from_slice(extra);
    args.push(url);
    curl(&args)
}

/// GETs a URL; the status code and body.
fn http_get(url: &str) -> (u16, String) {
    let out = curl(&["-w", "\n%{http_code}", url]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// `cargo lambda invoke predict` with an event file; its JSON answer.
fn invoke(port: u16, event: &Path) -> Value {
    let out = Command::new("cargo")
        .args([
            "lambda",
            "invoke",
            "predict",
            "-A",
            "127.0.0.1",
            "-P",
            &port.to_string(),
        ])
        .arg("--data-file")
        .arg(event)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo lambda invoke runs");
    assert!(
        out.status.success(),
        "invoke failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from invoke")
}

/// `cargo lambda watch` of the function on `store`'s `model`, with more environment variables.
fn start_watch(store: &Path, model: &str, env: &[(&str, &str)]) -> Watch {
    let port = free_port();
    // from the workspace root: the release profile the tests use, not the size-optimised
    // Lambda package profile that functions/predict/.cargo/config.toml sets for
    // `cargo lambda build`
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // the function alone builds the library without its training code, which the workspace's
    // test build has not compiled: build it first, so that the readiness wait below measures
    // the function's start and not a compilation
    let build = Command::new("cargo")
        .args(["build", "--release", "--package", "predict"])
        .current_dir(&dir)
        .output()
        .expect("cargo build runs");
    assert!(
        build.status.success(),
        "cargo build --release --package predict failed: {}",
        String::from_utf8_lossy(&build.stderr)
    );
    let child = Command::new("cargo")
        .args([
            "lambda",
            "watch",
            "--release",
            "--package",
            "predict",
            "--ignore-changes",
            "-A",
            "127.0.0.1",
        ])
        .args(["-P", &port.to_string()])
        .args([
            "--env-var",
            &format!("MAAS_MODEL={}/{model}", store.display()),
        ])
        .args(
            env.iter()
                .flat_map(|(name, value)| ["--env-var".to_string(), format!("{name}={value}")]),
        )
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("cargo lambda watch starts (pip install cargo-lambda)");
    Watch { child, port }
}

/// Waits (up to 300 s: the first request starts the function) until the function is ready.
fn wait_ready(base: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let (status, body) = http_get(&format!("{base}/v2/health/ready"));
        if status == 200 {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "the function never became ready: {status} {body}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[tokio::test]
async fn the_function_answers_under_cargo_lambda_watch() {
    let store = common::digits_store().await;
    let watch = start_watch(&store, "digits", &[]);
    let base = format!("http://127.0.0.1:{}/lambda-url/predict", watch.port);

    // The first request starts the function (cargo run of the already built binary).
    let ready = wait_ready(&base);
    assert_eq!(
        serde_json::from_str::<Value>(&ready).unwrap()["ready"],
        true
    );

    // Over HTTP through the function URL (an API Gateway v2 event): native and KServe routes.
    let events = Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    let direct = events.join("direct.json");
    let out = curl_post(
        &format!("{base}/predict"),
        &["--data-binary", &format!("@{}", direct.display())],
        &[],
    );
    let answer: Value = serde_json::from_slice(&out.stdout).expect("JSON from /predict");
    assert_eq!(answer["model_name"], "digits", "{answer}");
    assert_eq!(answer["predictions"][0]["label"], "0");
    assert_eq!(answer["predictions"][1]["label"], "1");

    let (status, metadata) = http_get(&format!("{base}/v2/models/digits"));
    assert_eq!(status, 200);
    let metadata: Value = serde_json::from_str(&metadata).unwrap();
    assert_eq!(metadata["inputs"][0]["shape"], serde_json::json!([-1, 64]));

    let out = curl_post(
        &format!("{base}/predict"),
        &["-d", "{\"inputs\": [[1, 2]]}"],
        &["-w", "\n%{http_code}"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.ends_with("\n400"), "{text}");
    assert!(
        text.contains("row 0 has 2 features, the model expects 64"),
        "{text}"
    );

    // KServe's binary tensor extension through the function URL emulation: the body travels
    // base64-encoded in the event both ways, the answer comes back as raw bytes.
    let rows: Vec<f32> = (0..128).map(|i| (i % 17) as f32).collect();
    let header = serde_json::json!({
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [2, 64],
                    "parameters": {"binary_data_size": 512}}],
        "outputs": [{"name": "probabilities", "parameters": {"binary_data": true}}]
    })
    .to_string();
    let mut body = header.clone().into_bytes();
    body.extend(rows.iter().flat_map(|v| v.to_le_bytes()));
    let body_file = store.join("binary-request.bin");
    std::fs::write(&body_file, &body).unwrap();
    let out = curl(&[
        "-X",
        "POST",
        "-H",
        "content-type: application/octet-stream",
        "-H",
        &format!("inference-header-content-length: {}", header.len()),
        "--data-binary",
        &format!("@{}", body_file.display()),
        "-D",
        "-",
        &format!("{base}/v2/models/digits/infer"),
    ]);
    let raw = out.stdout;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("HTTP headers");
    let (head, answer) = (
        String::from_utf8_lossy(&raw[..split]).to_lowercase(),
        &raw[split + 4..],
    );
    assert!(head.contains("200"), "{head}");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("inference-header-content-length:"))
        .expect("the binary header length")
        .trim()
        .parse()
        .unwrap();
    let json_part: Value = serde_json::from_slice(&answer[..length]).unwrap();
    assert_eq!(
        json_part["outputs"][0]["parameters"]["binary_data_size"], 80,
        "{json_part}"
    );
    let probabilities: Vec<f32> = answer[length..]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(probabilities.len(), 20);
    for row in probabilities.chunks(10) {
        let sum: f32 = row.iter().sum();
        assert!((sum - 1.0).abs() < 1e-4, "{row:?}");
    }

    // Directly, as `aws lambda invoke` would: the raw payload reaches POST /predict.
    let answer = invoke(watch.port, &direct);
    assert_eq!(answer["model_version"], 1, "{answer}");
    assert_eq!(answer["predictions"][1]["label"], "1");

    // The committed API Gateway event through invoke, answered in the event's own shape.
    let answer = invoke(watch.port, &events.join("apigw-v1.json"));
    assert_eq!(answer["statusCode"], 200, "{answer}");
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["predictions"][0]["label"], "0");
    drop(watch);
}

#[tokio::test]
async fn a_text_model_answers_direct_invocations_and_function_url_chat_under_cargo_lambda_watch() {
    let store = common::llama_store().await;
    let watch = start_watch(&store, "llama", &[]);
    let base = format!("http://127.0.0.1:{}/lambda-url/predict", watch.port);
    wait_ready(&base);
    // the router in-process (what `maas serve` runs) is the reference
    let app = common::llama_app().await;
    for case in common::llama_greedy() {
        let expected = case["text"].as_str().unwrap();
        let chat = case["chat"].as_bool().unwrap();
        let key = if chat { "messages" } else { "prompt" };
        let mut payload = serde_json::json!({"max_tokens": case["max_tokens"], "temperature": 0});
        payload[key] = case["prompt"].clone();
        let path = if chat {
            "/v1/chat/completions"
        } else {
            "/v1/completions"
        };
        let reference = maas_answer(&app, path, &payload).await;

        // directly, as `aws lambda invoke` would: the payload's `prompt` or `messages` routes it
        let file = store.join("direct-generation.json");
        std::fs::write(&file, payload.to_string()).unwrap();
        let direct = invoke(watch.port, &file);
        assert_eq!(
            direct["choices"], reference["choices"],
            "{}",
            case["prompt"]
        );
        assert_eq!(direct["usage"], reference["usage"]);

        // and over HTTP through the function URL, non-streaming
        let out = curl_post(
            &format!("{base}/openai{path}"),
            &["-d", &payload.to_string()],
            &[],
        );
        let answer: Value =
            serde_json::from_slice(&out.stdout).expect("JSON from the function URL");
        assert_eq!(answer["choices"], reference["choices"], "{answer}");
        let text = if chat {
            &answer["choices"][0]["message"]["content"]
        } else {
            &answer["choices"][0]["text"]
        };
        assert_eq!(text, expected, "{}", case["prompt"]);
    }
    drop(watch);
}

async fn maas_answer(app: &axum::Router, path: &str, payload: &Value) -> Value {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let request = axum::http::Request::post(path)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(payload.to_string()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn explanations_answer_through_the_function_url_as_in_process_and_bounded_by_the_limit() {
    let store = common::digits_store_with_background().await;
    // a limit of 20,000 model rows: one row at 402 coalitions × 40 background rows (16,080)
    // passes, two rows do not
    let watch = start_watch(&store, "digits", &[("MAAS_MAX_EXPLAIN_ROWS", "20000")]);
    let base = format!("http://127.0.0.1:{}/lambda-url/predict", watch.port);
    wait_ready(&base);
    let app = common::app_over(&store).await;
    let row: Vec<f64> = (0..64).map(|i| f64::from((i * 7) % 17)).collect();
    let fields =
        serde_json::json!({"method": "kernel", "samples": 400, "seed": 9, "outputs": "predicted"});
    let mut native = fields.clone();
    native["inputs"] = serde_json::json!([row]);
    let mut v1 = fields.clone();
    v1["instances"] = serde_json::json!([row]);
    let v2 = serde_json::json!({
        "inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": row}],
        "parameters": fields,
    });
    for (path, payload) in [
        ("/explain", &native),
        ("/v1/models/digits:explain", &v1),
        ("/v2/models/digits/explain", &v2),
    ] {
        let reference = maas_answer(&app, path, payload).await;
        let out = curl_post(&format!("{base}{path}"), &["-d", &payload.to_string()], &[]);
        let answer: Value =
            serde_json::from_slice(&out.stdout).expect("JSON from the function URL");
        assert_eq!(answer, reference, "{path}");
        let has_attributions = answer["explanations"][0]["attributions"].is_array()
            || answer["outputs"][0]["name"] == "attributions";
        assert!(has_attributions, "{path}: {answer}");
    }
    let parameters = &maas_answer(&app, "/v2/models/digits/explain", &v2).await["parameters"];
    assert_eq!(parameters["background_rows"], 40, "{parameters}");
    let model_rows = parameters["model_rows"].as_u64().unwrap();
    assert!((1..=20_000).contains(&model_rows), "{parameters}");

    // two rows cost 32,160 model rows: refused before any is evaluated, in each route's shape
    native["inputs"] = serde_json::json!([row, row]);
    let out = curl_post(
        &format!("{base}/explain"),
        &["-d", &native.to_string()],
        &["-w", "\n%{http_code}"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.ends_with("\n413"), "{text}");
    assert!(text.contains("MAAS_MAX_EXPLAIN_ROWS"), "{text}");
    drop(watch);
}
