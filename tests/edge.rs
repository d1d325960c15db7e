//! The edge worker (`functions/edge`) under the real Workers runtime: `run-local.sh` builds it,
//! seeds wrangler's local R2 from a store and serves it with workerd; every route must answer
//! as `maas serve` does on the same model, the hostile corpus must get its 4xx JSON errors, an
//! alias move must be picked up, and a corrupted or oversized model must be refused.
//! Needs `bash functions/edge/setup.sh` (wasm32 target, wrangler), which `tests/run.sh` runs.
// test code: a failed unwrap is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/corpus.rs"]
mod corpus;
#[path = "common/socket.rs"]
mod socket;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, maas_ok, scratch, Server};
use serde_json::{json, Value};
use socket::RawAnswer;

fn edge_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("functions/edge")
}

/// `run-local.sh` in its own process group (wrangler, node and workerd), stopped on drop.
struct Edge {
    child: Child,
    address: String,
    log: PathBuf,
}

impl Edge {
    /// Starts the Worker on `model` and waits until it answers (the first run builds the
    /// WebAssembly module: minutes on a fresh machine).
    fn start(model: &str, state: &Path, args: &[&str]) -> Edge {
        use std::os::unix::process::CommandExt;
        let port = free_port();
        let log = state.with_extension(format!("{port}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let child = Command::new("bash")
            .arg(edge_dir().join("run-local.sh"))
            .args([
                "--model",
                model,
                "--port",
                &port.to_string(),
                "--refresh-seconds",
                "1",
            ])
            .arg("--state")
            .arg(state)
            .args(args)
            .env("MAAS_BIN", env!("CARGO_BIN_EXE_maas"))
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .process_group(0)
            .spawn()
            .expect("run-local.sh starts");
        let mut edge = Edge {
            child,
            address: format!("127.0.0.1:{port}"),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(1800);
        loop {
            if let Ok(Some(status)) = edge.child.try_wait() {
                panic!("run-local.sh exited with {status}:\n{}", edge.log_text());
            }
            if socket::request(&edge.address, "GET", "/v2/health/live", &[], b"").is_ok() {
                return edge;
            }
            assert!(
                Instant::now() < deadline,
                "the Worker never answered:\n{}",
                edge.log_text()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn call(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> RawAnswer {
        socket::request(&self.address, method, path, headers, body).unwrap_or_else(|e| {
            panic!(
                "{method} {path}: no answer from the Worker: {e}\n{}",
                self.log_text()
            )
        })
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.child.wait();
    }
}

fn seed(model: &str, state: &Path) {
    let status = Command::new("bash")
        .arg(edge_dir().join("seed.sh"))
        .args(["--model", model, "--state"])
        .arg(state)
        .env("MAAS_BIN", env!("CARGO_BIN_EXE_maas"))
        .stdout(Stdio::null())
        .status()
        .expect("seed.sh runs");
    assert!(status.success(), "seed.sh --model {model} failed");
}

/// Two JSON documents equal but for numbers, which may differ by `tolerance`.
fn json_diff(path: &str, ours: &Value, theirs: &Value, tolerance: f64, out: &mut Vec<String>) {
    match (ours, theirs) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (
                a.as_f64().unwrap_or(f64::NAN),
                b.as_f64().unwrap_or(f64::NAN),
            );
            if (a - b).abs() > tolerance {
                out.push(format!("{path}: {a} vs {b}"));
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                json_diff(&format!("{path}[{i}]"), x, y, tolerance, out);
            }
        }
        (Value::Object(a), Value::Object(b)) if a.len() == b.len() => {
            for (key, x) in a {
                match b.get(key) {
                    Some(y) => json_diff(&format!("{path}.{key}"), x, y, tolerance, out),
                    None => out.push(format!("{path}.{key}: missing in maas serve's answer")),
                }
            }
        }
        _ if ours == theirs => {}
        _ => out.push(format!("{path}: {ours} vs {theirs}")),
    }
}

/// An answer as JSON, or for KServe's binary extension the JSON header followed by each
/// output's little-endian float32 values.
fn decoded(answer: &RawAnswer) -> Value {
    let Some(split) = answer
        .header("inference-header-content-length")
        .and_then(|n| n.parse::<usize>().ok())
    else {
        return serde_json::from_slice(&answer.body)
            .unwrap_or_else(|_| json!(String::from_utf8_lossy(&answer.body)));
    };
    let floats: Vec<f64> = answer.body[split..]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64)
        .collect();
    json!({"header": serde_json::from_slice::<Value>(&answer.body[..split]).unwrap_or(Value::Null), "binary": floats})
}

fn digits_rows(n: usize) -> Vec<Vec<f64>> {
    common::digits_rows(n).1
}

/// One request: method, path, headers, body.
type Call = (&'static str, String, Vec<(&'static str, String)>, Vec<u8>);

/// The requests every route gets.
fn route_requests() -> Vec<Call> {
    let rows = digits_rows(5);
    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
    let json_type = vec![("content-type", "application/json".to_string())];
    let kserve =
        json!({"inputs": [{"name": "input", "shape": [5, 64], "datatype": "FP32", "data": flat}]});
    let header = json!({
        "inputs": [{"name": "input", "shape": [5, 64], "datatype": "FP32", "parameters": {"binary_data_size": 5 * 64 * 4}}],
        "outputs": [{"name": "probabilities", "parameters": {"binary_data": true}}]
    })
    .to_string();
    let mut binary = header.clone().into_bytes();
    for x in &flat {
        binary.extend_from_slice(&(*x as f32).to_le_bytes());
    }
    let binary_headers = vec![
        ("content-type", "application/octet-stream".to_string()),
        ("inference-header-content-length", header.len().to_string()),
    ];
    let get = |path: &str| ("GET", path.to_string(), vec![], vec![]);
    vec![
        get("/v2/health/live"),
        get("/v2/health/ready"),
        get("/v2"),
        get("/v2/models/digits"),
        get("/v2/models/digits/ready"),
        get("/v1/models/digits"),
        get("/v1/models/digits/metadata"),
        get("/no/such/route"),
        (
            "POST",
            "/predict".into(),
            json_type.clone(),
            json!({"inputs": rows}).to_string().into_bytes(),
        ),
        (
            "POST",
            "/v2/models/digits/infer".into(),
            json_type.clone(),
            kserve.to_string().into_bytes(),
        ),
        (
            "POST",
            "/v2/models/digits/infer".into(),
            binary_headers,
            binary,
        ),
        (
            "POST",
            "/v1/models/digits:predict".into(),
            json_type.clone(),
            json!({"instances": rows}).to_string().into_bytes(),
        ),
        (
            "POST",
            "/predict".into(),
            json_type.clone(),
            b"{\"inputs\": [[1, 2]]}".to_vec(),
        ),
        // explanations: KernelSHAP in the isolate against the version's background (refused
        // alike where the version has none)
        (
            "POST",
            "/explain".into(),
            json_type.clone(),
            json!({"inputs": &rows[..2], "samples": 200, "seed": 5, "outputs": "predicted"})
                .to_string()
                .into_bytes(),
        ),
        (
            "POST",
            "/v1/models/digits:explain".into(),
            json_type.clone(),
            json!({"instances": &rows[..1], "samples": 200, "seed": 6, "outputs": ["3"]})
                .to_string()
                .into_bytes(),
        ),
        (
            "POST",
            "/v2/models/digits/explain".into(),
            json_type,
            json!({
                "inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": rows[4]}],
                "parameters": {"method": "kernel", "samples": 200, "seed": 7}
            })
            .to_string()
            .into_bytes(),
        ),
    ]
}

/// Every route answered by the Worker as by `maas serve`: status, content type, and body
/// (numbers within 1e-6).
fn same_answers(edge: &Edge, server: &Server, version: u64) -> usize {
    let mut differences = Vec::new();
    let mut byte_equal = 0;
    for (method, path, headers, body) in route_requests() {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let ours = edge.call(method, &path, &headers, &body);
        let theirs = socket::request(&server.address, method, &path, &headers, &body)
            .expect("maas serve answers");
        let what = format!("{method} {path}");
        if ours.status != theirs.status {
            differences.push(format!(
                "{what}: status {} vs {}",
                ours.status, theirs.status
            ));
        }
        if ours.header("content-type") != theirs.header("content-type") {
            differences.push(format!(
                "{what}: content-type {:?} vs {:?}",
                ours.header("content-type"),
                theirs.header("content-type")
            ));
        }
        json_diff(
            &what,
            &decoded(&ours),
            &decoded(&theirs),
            1e-6,
            &mut differences,
        );
        byte_equal += usize::from(ours.body == theirs.body);
        let answered = decoded(&ours);
        let answered = &answered.get("header").unwrap_or(&answered)["model_version"];
        let answered = match answered {
            Value::Number(n) => Some(n.to_string()),
            Value::String(s) => Some(s.clone()),
            _ => None,
        };
        if let Some(answered) = answered {
            assert_eq!(
                answered,
                version.to_string(),
                "{what}: the version answered"
            );
        }
    }
    assert!(
        differences.is_empty(),
        "the Worker and maas serve differ:\n{}",
        differences.join("\n")
    );
    byte_equal
}

fn wait_for(what: &str, edge: &Edge, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within 60 s:\n{}",
            edge.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn served_version(address: &str) -> Option<String> {
    let answer = socket::request(address, "GET", "/v2/models/digits", &[], b"").ok()?;
    answer.json()["versions"][0].as_str().map(str::to_string)
}

#[test]
fn the_edge_worker_answers_like_maas_serve_and_follows_its_store() {
    let dir = scratch("edge");
    let source = dir.join("store");
    let source_text = source.to_str().expect("utf-8 path");
    let onnx = Path::new(env!("CARGO_MANIFEST_DIR")).join("onnx");
    // version 1 with a background for explanations (JSON lines of digits rows); version 2,
    // without one, must refuse them as maas serve does
    let background = dir.join("background.jsonl");
    let lines: Vec<String> = digits_rows(20)
        .iter()
        .map(|r| json!(r).to_string())
        .collect();
    std::fs::write(&background, lines.join("\n")).expect("background file");
    let with_background = ["--background", background.to_str().unwrap()];
    for (file, extra) in [
        ("digits.onnx", &with_background[..]),
        ("digits_sklearn_logreg.onnx", &[][..]),
        ("digits.onnx", &[][..]),
    ] {
        let file = onnx.join(file);
        let mut args = vec![
            "publish",
            "--onnx",
            file.to_str().unwrap(),
            "--store",
            source_text,
            "--name",
            "digits",
        ];
        args.extend_from_slice(extra);
        maas_ok(&args);
    }
    let promote = |version: u64| {
        let reference = format!("{source_text}/digits@{version}");
        maas_ok(&["models", "promote", &reference, "--alias", "production"]);
    };
    promote(1);
    let production = format!("{source_text}/digits@production");
    let state = dir.join("edge-state");
    let edge = Edge::start(&production, &state, &[]);
    let server = Server::start(&production, &[("MAAS_REFRESH_SECONDS", "1".into())])
        .expect("maas serve listens");

    // every route, as maas serve answers it
    let byte_equal = same_answers(&edge, &server, 1);
    eprintln!(
        "{byte_equal} of {} answers byte for byte equal",
        route_requests().len()
    );

    // the hostile corpus: each a 4xx JSON error, and the isolate goes on answering
    let mut failures = Vec::new();
    for case in corpus::hostile_requests() {
        let answer = edge.call(&case.method, &case.path, &case.all_headers(), &case.body());
        let error = answer.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        failures.extend(case.mismatch(answer.status, answer.header("content-type"), &error));
        let ready = edge.call("GET", "/v2/health/ready", &[], b"");
        assert_eq!(
            ready.status, 200,
            "the Worker stopped answering after {}",
            case.name
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // an alias moved in the store reaches the Worker after its refresh
    promote(2);
    seed(&production, &state);
    wait_for("the move to version 2", &edge, || {
        served_version(&edge.address).as_deref() == Some("2")
    });
    wait_for("maas serve's move to version 2", &edge, || {
        served_version(&server.address).as_deref() == Some("2")
    });
    same_answers(&edge, &server, 2);

    // a corrupted version behind the alias is refused with the checksum error; version 2 stays
    let copy = state.join("store");
    maas_ok(&[
        "models",
        "copy",
        &format!("{source_text}/digits@3"),
        "--to",
        copy.to_str().unwrap(),
    ]);
    let model = copy.join("digits/versions/3/model.onnx");
    let mut bytes = std::fs::read(&model).expect("copied model");
    bytes[100] ^= 0xff;
    std::fs::write(&model, bytes).expect("corrupt the model");
    promote(3);
    seed(&production, &state);
    // checks run when requests arrive, as in the function
    wait_for("the refusal of version 3", &edge, || {
        edge.call("GET", "/v2/health/ready", &[], b"");
        edge.log_text()
            .contains("checksum mismatch for digits version 3")
    });
    let answer = edge.call(
        "POST",
        "/predict",
        &[("content-type", "application/json")],
        json!({"inputs": digits_rows(1)}).to_string().as_bytes(),
    );
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.json()["model_version"],
        2,
        "a refused version replaced the loaded one"
    );
    drop(edge);

    // a cold isolate on the corrupted version answers 503 with the checksum error
    let corrupted = Edge::start(&format!("{source_text}/digits@3"), &state, &[]);
    let answer = corrupted.call(
        "POST",
        "/predict",
        &[("content-type", "application/json")],
        json!({"inputs": digits_rows(1)}).to_string().as_bytes(),
    );
    assert_eq!(
        answer.status,
        503,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert!(
        answer.json()["error"]
            .as_str()
            .unwrap_or_default()
            .contains("checksum mismatch for digits version 3"),
        "{:?}",
        answer.json()
    );
    assert_eq!(
        corrupted.call("GET", "/v2/health/ready", &[], b"").status,
        503
    );
    drop(corrupted);

    // a model over the Worker's memory budget is refused naming the limit
    let limited = Edge::start(
        &format!("{source_text}/digits@1"),
        &state,
        &["--var", "MAAS_EDGE_MAX_MODEL_BYTES:100000"],
    );
    let answer = limited.call("GET", "/v2/models/digits", &[], b"");
    assert_eq!(answer.status, 503);
    let error = answer.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        error.contains("up to 100000 bytes")
            && error.contains("MAAS_EDGE_MAX_MODEL_BYTES")
            && error.contains("128 MB"),
        "{error}"
    );
    drop(limited);

    // a model bundled into the Worker at build time: no R2 at all (an empty local state)
    let bundled = Edge::start(
        &format!("{source_text}/digits@2"),
        &dir.join("empty-state"),
        &["--bundle"],
    );
    let answer = bundled.call(
        "POST",
        "/predict",
        &[("content-type", "application/json")],
        json!({"inputs": digits_rows(2)}).to_string().as_bytes(),
    );
    let reference = socket::request(
        &server.address,
        "POST",
        "/predict",
        &[("content-type", "application/json")],
        json!({"inputs": digits_rows(2)}).to_string().as_bytes(),
    )
    .expect("maas serve answers");
    let mut differences = Vec::new();
    json_diff(
        "bundled /predict",
        &answer.json(),
        &reference.json(),
        1e-6,
        &mut differences,
    );
    assert!(
        answer.status == 200 && differences.is_empty(),
        "{}: {differences:?}",
        String::from_utf8_lossy(&answer.body)
    );
}
