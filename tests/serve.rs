//! `maas serve` as a production server, over real sockets: KServe V2 over gRPC judged by
//! tritonclient.grpc, Prometheus metrics judged by prometheus_client's parser, the concurrency
//! limit (503 + Retry-After), oversized bodies answered to clients that send everything before
//! reading, the hostile corpus over TCP, and the graceful shutdown on SIGTERM.
// test code: a failed unwrap is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/corpus.rs"]
mod corpus;
#[path = "common/socket.rs"]
mod socket;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("onnx/tensor/{name}.onnx"))
}

fn digits_onnx() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("onnx/digits.onnx")
        .display()
        .to_string()
}

/// A KServe V2 binary request of `rows` rows of 64 features for the digits model (header, body).
fn digits_binary_request(rows: usize) -> (String, Vec<u8>) {
    let header = json!({
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [rows, 64],
                    "parameters": {"binary_data_size": rows * 64 * 4}}],
        "parameters": {"binary_data_output": true}
    })
    .to_string();
    let mut body = header.clone().into_bytes();
    for i in 0..rows * 64 {
        body.extend_from_slice(&((i % 17) as f32).to_le_bytes());
    }
    (header.len().to_string(), body)
}

fn post_digits(address: &str, length: &str, body: &[u8]) -> std::io::Result<socket::RawAnswer> {
    socket::request(
        address,
        "POST",
        "/v2/models/digits/infer",
        &[
            ("content-type", "application/octet-stream"),
            ("inference-header-content-length", length),
        ],
        body,
    )
}

#[test]
fn kserve_v2_over_grpc_answers_every_rpc_like_onnxruntime_with_grpc_status_codes() {
    let grpc_port = free_port().to_string();
    let server = Server::start_with(
        fixture("two_inputs").to_str().unwrap(),
        &["--grpc-port", &grpc_port],
        &[],
    )
    .expect("maas serve listens");
    let case_path = fixture("two_inputs").with_extension("case.json");
    let answer = python_json(
        "triton_grpc.py",
        &[
            &format!("127.0.0.1:{grpc_port}"),
            "two_inputs",
            case_path.to_str().unwrap(),
        ],
    );
    assert_eq!(answer["live"], true);
    assert_eq!(answer["ready"], true);
    assert_eq!(answer["model_ready"], true);
    assert_eq!(answer["server_metadata"]["name"], "maas");
    let metadata = &answer["model_metadata"];
    assert_eq!(metadata["platform"], "onnx");
    assert_eq!(metadata["inputs"][1]["name"], "ids");
    assert_eq!(metadata["inputs"][1]["datatype"], "INT64");
    assert_eq!(metadata["inputs"][1]["shape"], json!(["-1", "2"]));

    let case: Value = serde_json::from_str(&std::fs::read_to_string(&case_path).unwrap()).unwrap();
    let expected = &case["outputs"]["score"];
    let raw = &answer["raw"];
    assert_eq!(raw["id"], "raw-1");
    for (form, got) in [
        ("raw", &raw["outputs"]["score"]),
        ("typed", &answer["typed"]["score"]),
    ] {
        assert_eq!(got["datatype"], "FP32", "{form}");
        assert_eq!(got["shape"], expected["shape"], "{form}");
        let got: Vec<f64> = got["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let want: Vec<f64> = expected["data"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|row| row.as_array().cloned().unwrap_or_else(|| vec![row.clone()]))
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(got.len(), want.len(), "{form}");
        let diff = max_abs_diff(&[got], &[want]);
        assert!(diff <= 1e-5, "{form}: {diff:e} from onnxruntime");
    }

    let errors = &answer["errors"];
    let expect = |case: &str, code: &str, message: &str| {
        assert_eq!(errors[case]["code"], code, "{case}: {}", errors[case]);
        let text = errors[case]["message"].as_str().unwrap();
        assert!(text.contains(message), "{case}: {text}");
    };
    expect("unknown_model", "NOT_FOUND", "unknown model 'nope'");
    expect("unknown_model_ready", "NOT_FOUND", "unknown model 'nope'");
    expect(
        "unknown_model_infer",
        "NOT_FOUND",
        "this server serves 'two_inputs'",
    );
    expect("wrong_version", "NOT_FOUND", "has no version '999'");
    expect(
        "wrong_field",
        "INVALID_ARGUMENT",
        "its values go in fp32_contents",
    );
    expect(
        "short_data",
        "INVALID_ARGUMENT",
        "has 1 values but its shape [3, 4] needs 12",
    );
    expect("unknown_input", "INVALID_ARGUMENT", "unknown input 'nope'");
    expect(
        "raw_count",
        "INVALID_ARGUMENT",
        "raw_input_contents has 1 entries but there are 2 inputs",
    );
    expect(
        "overflowing_shape",
        "INVALID_ARGUMENT",
        "more elements than can be counted",
    );
    drop(server);
}

#[test]
fn metrics_count_requests_latency_rows_and_the_model_as_requests_are_made() {
    let grpc_port = free_port().to_string();
    let server = Server::start_with(
        fixture("two_inputs").to_str().unwrap(),
        &["--grpc-port", &grpc_port],
        &[],
    )
    .expect("maas serve listens");
    let address = server.address.clone();
    let before = scrape_metrics(&address);
    assert!(
        before["content_type"]
            .as_str()
            .unwrap()
            .starts_with("application/openmetrics-text"),
        "{}",
        before["content_type"]
    );
    let predict = |body: &str| {
        socket::request(
            &address,
            "POST",
            "/predict",
            &[("content-type", "application/json")],
            body.as_bytes(),
        )
        .unwrap()
    };
    let good = json!({"inputs": {"features": [[0.1, 0.2, 0.3, 0.4], [1, 2, 3, 4]], "ids": [[3, 7], [1, 2]]}})
        .to_string();
    for _ in 0..3 {
        assert_eq!(predict(&good).status, 200);
    }
    assert_eq!(predict("{\"inputs\": {}}").status, 400);
    let case = fixture("two_inputs").with_extension("case.json");
    python_json(
        "triton_grpc.py",
        &[
            &format!("127.0.0.1:{grpc_port}"),
            "two_inputs",
            case.to_str().unwrap(),
        ],
    );
    let after = scrape_metrics(&address);

    let delta = |family: &str, name: &str, labels: &[(&str, &str)]| {
        metric_sample(&after, family, name, labels) - metric_sample(&before, family, name, labels)
    };
    let native = [("route", "/predict"), ("protocol", "native")];
    assert_eq!(
        delta(
            "maas_requests",
            "maas_requests_total",
            &[native[0], native[1], ("status", "200")]
        ),
        3.0
    );
    assert_eq!(
        delta(
            "maas_requests",
            "maas_requests_total",
            &[native[0], native[1], ("status", "400")]
        ),
        1.0
    );
    assert_eq!(
        delta(
            "maas_request_duration_seconds",
            "maas_request_duration_seconds_count",
            &native
        ),
        4.0
    );
    let route = [("route", "/predict")];
    assert_eq!(
        delta(
            "maas_inference_duration_seconds",
            "maas_inference_duration_seconds_count",
            &route
        ),
        3.0
    );
    assert!(
        delta(
            "maas_inference_duration_seconds",
            "maas_inference_duration_seconds_sum",
            &route
        ) > 0.0
    );
    assert_eq!(delta("maas_rows", "maas_rows_total", &route), 6.0);
    assert_eq!(
        delta(
            "maas_batch_rows",
            "maas_batch_rows_bucket",
            &[("route", "/predict"), ("le", "2.0")]
        ),
        3.0
    );
    // gRPC calls, by method and code
    let grpc = |method: &str, code: &str| {
        delta(
            "maas_requests",
            "maas_requests_total",
            &[("route", method), ("protocol", "grpc"), ("status", code)],
        )
    };
    assert_eq!(grpc("ModelInfer", "Ok"), 2.0);
    assert_eq!(grpc("ModelInfer", "InvalidArgument"), 5.0);
    assert_eq!(grpc("ServerLive", "Ok"), 1.0);
    assert_eq!(
        delta("maas_rows", "maas_rows_total", &[("route", "ModelInfer")]),
        6.0
    );
    // the state read at each scrape: the scrape itself is in flight, no inference is
    let sha256 = maas::store::sha256_hex(&std::fs::read(fixture("two_inputs")).unwrap());
    assert_eq!(
        metric_sample(
            &after,
            "maas_model_info",
            "maas_model_info",
            &[("name", "two_inputs"), ("sha256", &sha256)]
        ),
        1.0
    );
    assert!(
        metric_sample(
            &after,
            "maas_model_load_seconds",
            "maas_model_load_seconds",
            &[]
        ) > 0.0
    );
    assert_eq!(
        metric_sample(
            &after,
            "maas_requests_in_flight",
            "maas_requests_in_flight",
            &[]
        ),
        1.0
    );
    assert_eq!(
        metric_sample(
            &after,
            "maas_inferences_in_flight",
            "maas_inferences_in_flight",
            &[]
        ),
        0.0
    );
    assert_eq!(
        metric_sample(
            &after,
            "maas_model_refresh",
            "maas_model_refresh_total",
            &[("outcome", "load")]
        ),
        1.0
    );
    drop(server);
}

#[test]
fn past_the_concurrency_limit_requests_get_503_with_retry_after_and_none_is_lost() {
    let server = Server::start(
        &digits_onnx(),
        &[
            ("MAAS_MAX_CONCURRENCY", "1".into()),
            ("MAAS_ADMISSION_WAIT_MS", "0".into()),
            ("MAAS_INFERENCE_THREADS", "1".into()),
            ("MAAS_MAX_ROWS", "100000".into()),
            ("MAAS_MAX_BODY_BYTES", "64000000".into()),
        ],
    )
    .expect("maas serve listens");
    let (length, body) = digits_binary_request(20_000);
    let answers: Vec<socket::RawAnswer> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| post_digits(&server.address, &length, &body)))
            .collect();
        // the accept loop and health checks stay free while inferences run
        let live = socket::request(&server.address, "GET", "/v2/health/live", &[], b"").unwrap();
        assert_eq!(live.status, 200);
        workers
            .into_iter()
            .map(|w| w.join().unwrap().expect("every request is answered"))
            .collect()
    });
    let ok = answers.iter().filter(|a| a.status == 200).count();
    let busy: Vec<&socket::RawAnswer> = answers.iter().filter(|a| a.status == 503).collect();
    assert_eq!(
        ok + busy.len(),
        8,
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    assert!(ok >= 1, "none was admitted");
    assert!(
        !busy.is_empty(),
        "8 simultaneous requests never met the limit of 1"
    );
    for answer in busy {
        assert_eq!(answer.header("retry-after"), Some("1"));
        let error = answer.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(error.contains("MAAS_MAX_CONCURRENCY"), "{error}");
    }
    let metrics = scrape_metrics(&server.address);
    let route = [("route", "/v2/models/{name}/infer"), ("protocol", "kserve")];
    assert_eq!(
        metric_sample(
            &metrics,
            "maas_requests",
            "maas_requests_total",
            &[route[0], route[1], ("status", "503")]
        ) as usize
            + metric_sample(
                &metrics,
                "maas_requests",
                "maas_requests_total",
                &[route[0], route[1], ("status", "200")]
            ) as usize,
        8
    );
}

#[test]
fn an_oversized_body_sent_whole_before_reading_gets_its_413_json() {
    let server = Server::start(&digits_onnx(), &[]).expect("maas serve listens");
    let body = vec![b' '; 7 * 1024 * 1024];
    let answer = socket::request(
        &server.address,
        "POST",
        "/predict",
        &[("content-type", "application/json")],
        &body,
    )
    .expect("the answer arrives after the whole body was sent");
    assert_eq!(answer.status, 413);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let error = answer.json()["error"].as_str().unwrap().to_string();
    assert!(
        error.contains(
            "exceeds the limit of 6291456 bytes (MAAS_MAX_BODY_BYTES): it declared 7340032 bytes"
        ),
        "{error}"
    );
    // and the server goes on answering
    let live = socket::request(&server.address, "GET", "/v2/health/live", &[], b"").unwrap();
    assert_eq!(live.status, 200);
}

#[test]
fn every_hostile_request_over_tcp_gets_its_4xx_json_error() {
    let reference = format!("{}/digits@1", trained_store().display());
    let server = Server::start(&reference, &[]).expect("maas serve listens");
    let mut failures = Vec::new();
    for case in corpus::hostile_requests() {
        let answer = match socket::request(
            &server.address,
            &case.method,
            &case.path,
            &case.all_headers(),
            &case.body(),
        ) {
            Ok(answer) => answer,
            Err(e) => {
                failures.push(format!("{}: no answer: {e}", case.name));
                continue;
            }
        };
        let error = answer.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        failures.extend(case.mismatch(answer.status, answer.header("content-type"), &error));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn sigterm_lets_the_request_in_flight_finish_refuses_new_connections_and_exits_0() {
    let mut server = Server::start(
        &digits_onnx(),
        &[
            ("MAAS_INFERENCE_THREADS", "1".into()),
            ("MAAS_MAX_ROWS", "1000000".into()),
            ("MAAS_MAX_BODY_BYTES", "200000000".into()),
            ("MAAS_DRAIN_TIMEOUT_SECONDS", "60".into()),
        ],
    )
    .expect("maas serve listens");
    let address = server.address.clone();
    let (length, body) = digits_binary_request(400_000);
    let in_flight = std::thread::spawn({
        let address = address.clone();
        move || post_digits(&address, &length, &body)
    });
    // wait until its inference runs
    let running = (0..600).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        let metrics = scrape_metrics(&address);
        metric_sample(
            &metrics,
            "maas_inferences_in_flight",
            "maas_inferences_in_flight",
            &[],
        ) >= 1.0
    });
    assert!(running, "the large request never started its inference");
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // new connections are refused once the listener has closed
    let refused = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        std::net::TcpStream::connect(&address).is_err()
    });
    assert!(
        refused,
        "the server still accepts connections after SIGTERM"
    );
    let answer = in_flight
        .join()
        .unwrap()
        .expect("the request in flight is answered");
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body[..answer.body.len().min(300)])
    );
    let header_length: usize = answer
        .header("inference-header-content-length")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        answer.body.len() - header_length,
        400_000 * 10 * 4,
        "every row's probabilities"
    );
    let status = server
        .wait_exit(Duration::from_secs(60))
        .expect("the server exits after draining");
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn readiness_turns_503_once_shutdown_begins() {
    use maas::server::state::{ModelHandle, ServerConfig};
    use maas::server::{router_for, AppState};
    let handle = ModelHandle::load(digits_onnx().parse().unwrap(), None).await;
    let state = AppState::new(handle, ServerConfig::default());
    let app = router_for(state.clone());
    let ready = || common::http::json_request("GET", "/v2/health/ready", "");
    assert_eq!(common::http::send(&app, ready()).await.status, 200);
    state
        .draining
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let answer = common::http::send(&app, ready()).await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.json["error"], "the server is shutting down");
    let model = common::http::send(
        &app,
        common::http::json_request("GET", "/v2/models/digits/ready", ""),
    )
    .await;
    assert_eq!(model.status, 503);
}

#[test]
fn an_alias_moved_in_the_store_is_served_over_grpc_and_http_after_refresh() {
    let store = scratch("serve-alias");
    let store_path = store.to_str().unwrap();
    let onnx = digits_onnx();
    for _ in 0..2 {
        maas_ok(&[
            "publish", "--onnx", &onnx, "--name", "digits", "--store", store_path,
        ]);
    }
    maas_ok(&[
        "models",
        "promote",
        &format!("{store_path}/digits@1"),
        "--alias",
        "prod",
    ]);
    let grpc_port = free_port().to_string();
    let server = Server::start_with(
        &format!("{store_path}/digits@prod"),
        &["--grpc-port", &grpc_port],
        &[("MAAS_REFRESH_SECONDS", "1".into())],
    )
    .expect("maas serve listens");
    let grpc = format!("127.0.0.1:{grpc_port}");
    let versions = || python_json("grpc_metadata.py", &[&grpc, "digits"])["versions"].clone();
    assert_eq!(versions(), json!(["1"]));
    maas_ok(&[
        "models",
        "promote",
        &format!("{store_path}/digits@2"),
        "--alias",
        "prod",
    ]);
    // gRPC requests refresh the model like HTTP ones: version 2 within a few seconds
    let moved = (0..40).any(|_| {
        std::thread::sleep(Duration::from_millis(250));
        versions() == json!(["2"])
    });
    assert!(moved, "gRPC still serves version 1");
    let http = socket::request(&server.address, "GET", "/v2/models/digits", &[], b"").unwrap();
    assert_eq!(http.json()["versions"], json!(["2"]));
}
