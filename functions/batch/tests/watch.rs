//! The batch function end to end under `cargo lambda watch` (the real Lambda runtime loop),
//! invoked with `cargo lambda invoke` and the committed event of each shape, against a real
//! S3-protocol server (moto): outputs equal the library's own run, a repeated event writes
//! nothing new, an SQS batch answers exactly its bad message in `batchItemFailures`.
// test code: a failed unwrap is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use maas::batch::{self, BatchSettings, Piece};
use maas::objects::Location;
use serde_json::{json, Value};

#[path = "../../../tests/common/lambda_watch.rs"]
mod lambda_watch;
#[path = "../../../tests/common/moto.rs"]
mod moto;

use lambda_watch::{free_port, Watch};

const BUCKET: &str = "maas-batch";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A folder store holding the committed digits model as `digits` version 1.
async fn digits_store() -> PathBuf {
    let bytes = std::fs::read(root().join("onnx/digits.onnx")).unwrap();
    let model = maas::inference::LoadedModel::from_bytes(&bytes).unwrap();
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("batch-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    maas::store::Store::open(maas::store::StoreLocation::Folder(dir.clone()))
        .publish("digits", &bytes, model.description())
        .await
        .unwrap();
    dir
}

/// `rows` digits rows with an `id` column.
fn digits_with_ids(rows: usize) -> String {
    let text = std::fs::read_to_string(root().join("tests/data/digits.csv")).unwrap();
    let mut lines = text.lines();
    let mut out = format!("id,{}\n", lines.next().unwrap());
    for (i, line) in lines.cycle().take(rows).enumerate() {
        out.push_str(&format!("row-{i},{line}\n"));
    }
    out
}

fn start_watch(moto: &moto::Moto, store: &Path) -> Watch {
    // the function alone builds the library without training and serving extras: build it
    // first, so that the wait below measures the function's start, not a compilation
    let build = Command::new("cargo")
        .args(["build", "--release", "--package", "batch"])
        .current_dir(root())
        .output()
        .expect("cargo build runs");
    assert!(
        build.status.success(),
        "cargo build --release --package batch failed: {}",
        String::from_utf8_lossy(&build.stderr)
    );
    let port = free_port();
    let mut command = Command::new("cargo");
    command
        .args([
            "lambda",
            "watch",
            "--release",
            "--package",
            "batch",
            "--ignore-changes",
            "-A",
            "127.0.0.1",
        ])
        .args(["-P", &port.to_string()]);
    let mut env: Vec<(String, String)> = moto
        .env()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    env.push(("MAAS_MODEL".into(), format!("{}/digits", store.display())));
    env.push(("MAAS_BATCH_OUTPUT".into(), format!("s3://{BUCKET}/out/")));
    env.push(("MAAS_BATCH_KEEP_COLUMNS".into(), "id".into()));
    for (k, v) in &env {
        command.args(["--env-var", &format!("{k}={v}")]);
    }
    let child = command
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("cargo lambda watch starts (pip install cargo-lambda)");
    Watch { child, port }
}

fn invoke_file(port: u16, event: &Path) -> Output {
    Command::new("cargo")
        .args([
            "lambda",
            "invoke",
            "batch",
            "-A",
            "127.0.0.1",
            "-P",
            &port.to_string(),
        ])
        .arg("--data-file")
        .arg(event)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo lambda invoke runs")
}

fn event(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("events")
        .join(name)
}

fn invoke_ok(port: u16, name: &str) -> Value {
    let out = invoke_file(port, &event(name));
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from invoke")
}

fn reports(answer: &Value) -> Vec<&Value> {
    answer["reports"].as_array().unwrap().iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_shape_scores_its_objects_under_cargo_lambda_watch() {
    let moto = moto::Moto::start(&[]);
    moto.bucket(BUCKET);
    let csv = digits_with_ids(2500);
    moto.put(BUCKET, "in/digits%20a.csv", csv.as_bytes());
    let jsonl: String = (0..30)
        .map(|i| {
            format!(
                "{{\"id\": \"j{i}\", \"inputs\": [{}]}}\n",
                vec![format!("{}", i % 16); 64].join(", ")
            )
        })
        .collect();
    moto.put(BUCKET, "in/digits-b.jsonl", jsonl.as_bytes());
    let store = digits_store().await;
    let watch = start_watch(&moto, &store);

    // the first invocation starts the function (cargo run of the built binary)
    let deadline = Instant::now() + Duration::from_secs(300);
    let first = loop {
        let out = invoke_file(watch.port, &event("s3-notification.json"));
        if out.status.success() {
            break serde_json::from_slice::<Value>(&out.stdout).unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "the function never answered: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_secs(2));
    };
    let done = reports(&first);
    assert_eq!(done.len(), 2, "{first}");
    assert_eq!(done[0]["scored"], 2500);
    assert_eq!(done[1]["scored"], 30);

    // the function's output equals the library's own run of the same object
    let model = Arc::new(
        maas::loader::load(&format!("{}/digits", store.display()).parse().unwrap())
            .await
            .unwrap(),
    );
    let local =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("batch-local-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&local);
    std::fs::create_dir_all(&local).unwrap();
    std::fs::write(local.join("digits a.csv"), &csv).unwrap();
    let reference = batch::score(
        model,
        &BatchSettings {
            output: Location::File(local.join("out")),
            keep: vec!["id".into()],
        },
        &Piece {
            source: Location::File(local.join("digits a.csv")),
            range: None,
        },
        None,
        &|_| {},
    )
    .await
    .unwrap();
    let expected = std::fs::read(&reference.output).unwrap();
    let scored = moto.get(BUCKET, "out/in/digits%20a.csv.out.jsonl");
    assert_eq!(scored, expected, "the function and the library disagree");

    // the same event again: every object skipped, nothing rewritten
    let again = invoke_ok(watch.port, "s3-notification.json");
    assert!(
        reports(&again).iter().all(|r| r["skipped"] == true),
        "{again}"
    );
    assert_eq!(
        moto.get(BUCKET, "out/in/digits%20a.csv.out.jsonl"),
        expected
    );

    // EventBridge and a Distributed Map item: scored again once the output is gone
    for name in ["eventbridge.json", "map-item.json"] {
        moto.delete(BUCKET, "out/in/digits%20a.csv.out.jsonl");
        let answer = invoke_ok(watch.port, name);
        let done = reports(&answer);
        assert_eq!(done.len(), 1, "{name}: {answer}");
        assert_eq!(done[0]["skipped"], false, "{name}: {answer}");
        assert_eq!(
            moto.get(BUCKET, "out/in/digits%20a.csv.out.jsonl"),
            expected,
            "{name}"
        );
    }

    // a byte range: the lines that start inside it, in order
    let answer = invoke_ok(watch.port, "map-range.json");
    assert_eq!(reports(&answer)[0]["range"], json!([1000, 5000]));
    let ranged = String::from_utf8(moto.get(
        BUCKET,
        "out/in/digits%20a.csv.000000000001000-000000000005000.out.jsonl",
    ))
    .unwrap();
    let ids: Vec<String> = ranged
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let mut offset = 0;
    let mut owned = Vec::new();
    for line in csv.split_inclusive('\n') {
        if (1000..5000).contains(&offset) {
            owned.push(line.split(',').next().unwrap().to_string());
        }
        offset += line.len();
    }
    assert!(!owned.is_empty());
    assert_eq!(ids, owned);

    // SQS: the good message's object is done (skipped), the bad one's object is missing
    let answer = invoke_ok(watch.port, "sqs.json");
    assert_eq!(
        answer["batchItemFailures"],
        json!([{"itemIdentifier": "msg-bad"}]),
        "{answer}"
    );

    // a 200 MB object in one invocation
    let big = digits_with_ids(1_300_000);
    assert!(big.len() > 200_000_000, "{} bytes", big.len());
    moto.put(BUCKET, "in/big.csv", big.as_bytes());
    drop(big);
    let item =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("big-{}.json", std::process::id()));
    std::fs::write(&item, r#"{"bucket": "maas-batch", "key": "in/big.csv"}"#).unwrap();
    let out = invoke_file(watch.port, &item);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    let big_report = reports(&answer)[0];
    assert_eq!(big_report["scored"], 1_300_000, "{answer}");
    assert_eq!(big_report["complete"], true);

    // an object that does not exist fails the invocation, naming it
    let missing =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("missing-{}.json", std::process::id()));
    std::fs::write(
        &missing,
        r#"{"bucket": "maas-batch", "key": "in/nothing.csv"}"#,
    )
    .unwrap();
    let out = invoke_file(watch.port, &missing);
    assert!(!out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("in/nothing.csv"), "{text}");
}
