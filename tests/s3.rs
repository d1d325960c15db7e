//! The model registry on a real S3-protocol server (moto_server, started by each test on a free
//! loopback port): publish, list, promote, roll back, load by alias and version, third-party
//! models, concurrent publishers, and every error a user can meet.
// test code: a failed unwrap is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{json, Value};

fn onnx_fixture(name: &str) -> String {
    format!("{}/onnx/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Train (twice), list, promote, roll back and load by alias and version, in `store`.
fn registry_flow(moto: &Moto, data: &str, store: &str) {
    let train = [
        "train", "--data", data, "--store", store, "--name", "digits", "--hidden", "32",
        "--epochs", "3",
    ];
    let out = moto.maas_ok(&train);
    assert!(
        out.contains(&format!("model reference: {store}/digits@1")),
        "{out}"
    );
    moto.maas_ok(&train);
    let model = format!("{store}/digits");

    let list: Value =
        serde_json::from_str(&moto.maas_ok(&["models", "list", &model, "--json"])).unwrap();
    let versions = list.as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[1]["manifest"]["version"], 2);
    assert_eq!(versions[1]["aliases"], json!(["latest"]));
    assert_eq!(versions[0]["manifest"]["training"]["data"]["source"], data);
    let bytes = std::fs::read(digits_csv()).unwrap();
    assert_eq!(
        versions[0]["manifest"]["training"]["data"]["sha256"],
        maas::store::sha256_hex(&bytes)
    );

    assert_eq!(
        moto.maas_ok(&[
            "models",
            "promote",
            &format!("{model}@1"),
            "--alias",
            "prod"
        ])
        .trim(),
        "digits@prod -> version 1"
    );
    moto.maas_ok(&[
        "models",
        "promote",
        &format!("{model}@2"),
        "--alias",
        "prod",
    ]);
    let table = moto.maas_ok(&["models", "list", &model]);
    assert!(
        table
            .lines()
            .any(|l| l.trim_start().starts_with('2') && l.contains("latest") && l.contains("prod")),
        "{table}"
    );
    assert_eq!(
        moto.maas_ok(&["models", "rollback", &model, "--alias", "prod"])
            .trim(),
        "digits@prod -> version 1 (rolled back)"
    );
    let err = moto.maas_err(&["models", "rollback", &model, "--alias", "prod"]);
    assert!(
        err.contains("alias 'prod' of model 'digits' has no earlier version to roll back to"),
        "{err}"
    );

    let dir = scratch("registry-predict");
    let input = write(
        &dir,
        "rows.json",
        &json!({ "inputs": digits_rows(3).1 }).to_string(),
    );
    for (reference, version) in [
        (format!("{model}@prod"), 1),
        (format!("{model}@2"), 2),
        (model.clone(), 2),
    ] {
        let answer: Value = serde_json::from_str(
            &moto.maas_ok(&["predict", "--model", &reference, "--input", &input]),
        )
        .unwrap();
        assert_eq!(answer["model_version"], version, "{reference}");
        assert_eq!(answer["predictions"].as_array().unwrap().len(), 3);
    }
    let shown: Value = serde_json::from_str(&moto.maas_ok(&[
        "models",
        "show",
        "--json",
        &format!("{model}@prod"),
    ]))
    .unwrap();
    assert_eq!(shown["version"], 1);
}

#[test]
fn registry_on_s3_with_data_from_s3() {
    let moto = Moto::start(&[]);
    moto.bucket("mlstore");
    moto.put(
        "mlstore",
        "data/digits.csv",
        &std::fs::read(digits_csv()).unwrap(),
    );
    registry_flow(&moto, "s3://mlstore/data/digits.csv", "s3://mlstore/models");

    // the training report went to S3 with the model, each file as the manifest lists it
    let manifest: Value =
        serde_json::from_slice(&moto.get("mlstore", "models/digits/versions/1/manifest.json"))
            .unwrap();
    let attachments = manifest["attachments"].as_array().unwrap();
    // the report (three files) and the background of explanations
    assert_eq!(attachments.len(), 4, "{manifest}");
    for listed in attachments {
        let file = listed["file"].as_str().unwrap();
        let bytes = moto.get("mlstore", &format!("models/digits/versions/1/{file}"));
        assert_eq!(listed["sha256"], maas::store::sha256_hex(&bytes), "{file}");
        assert_eq!(listed["size_bytes"], bytes.len() as u64, "{file}");
    }
    let card = moto.maas_ok(&["models", "show", "s3://mlstore/models/digits@1"]);
    assert_eq!(
        card.as_bytes(),
        moto.get("mlstore", "models/digits/versions/1/report.md"),
        "maas models show prints the published report.md"
    );
}

#[test]
fn the_same_registry_in_a_folder() {
    let moto = Moto::start(&[]);
    let dir = scratch("registry-folder");
    registry_flow(
        &moto,
        digits_csv().to_str().unwrap(),
        dir.join("models").to_str().unwrap(),
    );
}

#[test]
fn third_party_onnx_publishes_and_answers_like_onnxruntime_on_s3_and_in_a_folder() {
    let moto = Moto::start(&[]);
    moto.bucket("mlstore");
    let expected: Value = serde_json::from_slice(
        &std::fs::read(onnx_fixture("digits_sklearn_logreg.expected.json")).unwrap(),
    )
    .unwrap();
    let dir = scratch("third-party");
    let input = write(
        &dir,
        "rows.json",
        &json!({ "inputs": expected["inputs"] }).to_string(),
    );
    let folder = dir.join("store");
    for store in [
        "s3://mlstore/models".to_string(),
        folder.display().to_string(),
    ] {
        let labels = "zero,one,two,three,four,five,six,seven,eight,nine";
        let out = moto.maas_ok(&[
            "publish",
            "--onnx",
            &onnx_fixture("digits_sklearn_logreg.onnx"),
            "--name",
            "sklearn",
            "--store",
            &store,
            "--labels",
            labels,
        ]);
        assert!(
            out.contains(&format!("model reference: {store}/sklearn@1")),
            "{out}"
        );
        let manifest: Value = serde_json::from_str(&moto.maas_ok(&[
            "models",
            "show",
            "--json",
            &format!("{store}/sklearn"),
        ]))
        .unwrap();
        assert_eq!(
            manifest["inputs"],
            json!([{"name": "X", "dtype": "float32", "shape": [-1, 64], "dim_names": ["batch", null]}])
        );
        // every output of the graph, and the classifier answers with its probabilities
        assert_eq!(
            manifest["outputs"],
            json!([
                {"name": "label", "dtype": "int64", "shape": [-1], "dim_names": ["batch"]},
                {"name": "probabilities", "dtype": "float32", "shape": [-1, 10], "dim_names": ["batch", null]}
            ])
        );
        assert_eq!(manifest["task"], "classifier");
        assert_eq!(manifest["answer_output"], "probabilities");
        assert_eq!(manifest["labels"][3], "three");
        let answer: Value = serde_json::from_str(&moto.maas_ok(&[
            "predict",
            "--model",
            &format!("{store}/sklearn"),
            "--input",
            &input,
        ]))
        .unwrap();
        let predictions = answer["predictions"].as_array().unwrap();
        assert_eq!(predictions[4]["label"], "four");
        let ours: Vec<Vec<f64>> = predictions
            .iter()
            .map(|p| number_rows(&json!([p["probabilities"]])).remove(0))
            .collect();
        let reference = number_rows(&expected["probabilities"]);
        assert_eq!(ours.len(), expected["inputs"].as_array().unwrap().len());
        let diff = max_abs_diff(&ours, &reference);
        assert!(diff <= 1e-5, "maas vs onnxruntime max |Δp| = {diff}");
    }
    // our own committed model publishes the same way, its labels read from its metadata
    moto.maas_ok(&[
        "publish",
        "--onnx",
        &onnx_fixture("digits.onnx"),
        "--name",
        "mlp",
        "--store",
        "s3://mlstore/models",
    ]);
    let manifest: Value = serde_json::from_str(&moto.maas_ok(&[
        "models",
        "show",
        "--json",
        "s3://mlstore/models/mlp@1",
    ]))
    .unwrap();
    assert_eq!(manifest["feature_names"][0], "p0");
    let err = moto.maas_err(&[
        "publish",
        "--onnx",
        &onnx_fixture("digits.onnx"),
        "--name",
        "mlp",
        "--store",
        "s3://mlstore/models",
        "--labels",
        "a,b",
    ]);
    assert!(
        err.contains("--labels: 2 labels were given but the model outputs 10 classes"),
        "{err}"
    );
}

#[test]
fn concurrent_publishers_get_distinct_versions_on_s3() {
    let moto = Moto::start(&[]);
    moto.bucket("mlstore");
    let model = onnx_fixture("digits.onnx");
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_maas"));
            command
                .args([
                    "publish",
                    "--onnx",
                    &model,
                    "--name",
                    "race",
                    "--store",
                    "s3://mlstore/models",
                ])
                .envs(moto.env())
                .stdout(std::process::Stdio::piped());
            command.spawn().unwrap()
        })
        .collect();
    let mut versions: Vec<u64> = handles
        .into_iter()
        .map(|child| {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success());
            let text = String::from_utf8(out.stdout).unwrap();
            text.split("race@").nth(1).unwrap().trim().parse().unwrap()
        })
        .collect();
    versions.sort_unstable();
    assert_eq!(versions, (1..=8).collect::<Vec<u64>>());
    let list: Value = serde_json::from_str(&moto.maas_ok(&[
        "models",
        "list",
        "s3://mlstore/models/race",
        "--json",
    ]))
    .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 8);
    assert_eq!(
        list[7]["aliases"],
        json!(["latest"]),
        "latest ends at the highest version"
    );
}

#[test]
fn s3_errors_are_clear() {
    let moto = Moto::start(&[]);
    moto.bucket("mlstore");
    let dir = scratch("s3-errors");
    let input = write(
        &dir,
        "rows.json",
        &json!({ "inputs": digits_rows(1).1 }).to_string(),
    );
    moto.maas_ok(&[
        "publish",
        "--onnx",
        &onnx_fixture("digits.onnx"),
        "--name",
        "digits",
        "--store",
        "s3://mlstore/models",
    ]);
    let predict =
        |reference: &str| moto.maas_err(&["predict", "--model", reference, "--input", &input]);

    assert!(predict("s3://nobucket/models/digits").contains("no such bucket: nobucket"));
    assert!(predict("s3://mlstore/models/cats")
        .contains("no model named 'cats' in store s3://mlstore/models"));
    assert!(predict("s3://mlstore/models/digits@7")
        .contains("model 'digits' in store s3://mlstore/models has no version 7"));
    assert!(predict("s3://mlstore/models/digits@prod")
        .contains("model 'digits' in store s3://mlstore/models has no alias 'prod'"));
    let err = moto.maas_err(&[
        "models",
        "promote",
        "s3://mlstore/models/digits@5",
        "--alias",
        "prod",
    ]);
    assert!(err.contains("has no version 5"), "{err}");

    // a model object that no longer matches its manifest is refused
    moto.put(
        "mlstore",
        "models/digits/versions/1/model.onnx",
        b"tampered",
    );
    let err = predict("s3://mlstore/models/digits@1");
    assert!(
        err.contains("checksum mismatch for digits version 1"),
        "{err}"
    );

    // a manifest from a newer maas is refused, naming both versions
    moto.maas_ok(&[
        "publish",
        "--onnx",
        &onnx_fixture("digits.onnx"),
        "--name",
        "newer",
        "--store",
        "s3://mlstore/models",
    ]);
    let shown: Value = serde_json::from_str(&moto.maas_ok(&[
        "models",
        "show",
        "--json",
        "s3://mlstore/models/newer@1",
    ]))
    .unwrap();
    let mut manifest = shown.clone();
    manifest["format"] = json!(2);
    manifest["maas_version"] = json!("9.9.9");
    moto.put(
        "mlstore",
        "models/newer/versions/1/manifest.json",
        manifest.to_string().as_bytes(),
    );
    let err = predict("s3://mlstore/models/newer");
    assert!(
        err.contains("written by a newer maas (manifest format 2, maas 9.9.9)"),
        "{err}"
    );
    assert!(
        err.contains(&format!("this maas {}", env!("CARGO_PKG_VERSION"))),
        "{err}"
    );

    // an endpoint nobody listens on: bounded retries, then a message naming it
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_maas"))
        .args([
            "predict",
            "--model",
            "s3://mlstore/models/digits",
            "--input",
            &input,
        ])
        .envs(moto.env())
        .env("AWS_ENDPOINT_URL_S3", format!("http://127.0.0.1:{closed}"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains(&format!(
            "cannot reach the S3 endpoint http://127.0.0.1:{closed} after 3 attempts"
        )),
        "{err}"
    );
    assert!(!err.contains("testing"), "credentials leaked: {err}");
}

#[test]
fn wrong_credentials_are_access_denied_without_leaking_them() {
    // moto checking credentials from the first request on: our keys are unknown to it
    let moto = Moto::start(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")]);
    let dir = scratch("s3-denied");
    let input = write(
        &dir,
        "rows.json",
        &json!({ "inputs": digits_rows(1).1 }).to_string(),
    );
    let err = moto.maas_err(&[
        "predict",
        "--model",
        "s3://mlstore/models/digits",
        "--input",
        &input,
    ]);
    assert!(
        err.contains("access denied to read s3://mlstore/models/digits/aliases/latest.json"),
        "{err}"
    );
    assert!(
        err.contains("check the credentials and the IAM policy"),
        "{err}"
    );
    let err = moto.maas_err(&[
        "publish",
        "--onnx",
        &onnx_fixture("digits.onnx"),
        "--name",
        "digits",
        "--store",
        "s3://mlstore/models",
    ]);
    assert!(
        err.contains("access denied to list s3://mlstore/models/digits/versions/"),
        "{err}"
    );
    assert!(!err.contains("testing"), "credentials leaked: {err}");
}

/// GETs or POSTs with curl; the status and body.
fn http(method: &str, url: &str, body: Option<&str>) -> (u16, String) {
    let mut curl = std::process::Command::new("curl");
    curl.args(["-s", "-m", "10", "-X", method, "-w", "\n%{http_code}"]);
    if let Some(body) = body {
        curl.args([
            "-H",
            "content-type: application/json",
            "--data-binary",
            body,
        ]);
    }
    let out = curl.arg(url).output().expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

#[test]
fn serve_loads_from_s3_and_follows_a_promoted_alias() {
    let moto = Moto::start(&[]);
    moto.bucket("mlstore");
    let model = onnx_fixture("digits.onnx");
    for _ in 0..2 {
        moto.maas_ok(&[
            "publish",
            "--onnx",
            &model,
            "--name",
            "digits",
            "--store",
            "s3://mlstore/models",
        ]);
    }
    moto.maas_ok(&[
        "models",
        "promote",
        "s3://mlstore/models/digits@1",
        "--alias",
        "prod",
    ]);
    let mut envs = moto.env();
    envs.push(("MAAS_REFRESH_SECONDS", "1".to_string()));
    let server =
        Server::start("s3://mlstore/models/digits@prod", &envs).expect("maas serve listens");
    let base = format!("http://{}", server.address);
    let body = json!({ "inputs": digits_rows(1).1 }).to_string();
    let version_served = |want: u64| {
        for _ in 0..100 {
            let (status, answer) = http("POST", &format!("{base}/predict"), Some(&body));
            if status == 200
                && serde_json::from_str::<Value>(&answer).unwrap()["model_version"] == want
            {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        false
    };
    let served_first = version_served(1);
    moto.maas_ok(&[
        "models",
        "promote",
        "s3://mlstore/models/digits@2",
        "--alias",
        "prod",
    ]);
    let followed = version_served(2);
    drop(server);
    assert!(
        served_first,
        "maas serve never answered with version 1 from S3"
    );
    assert!(followed, "the warm server never followed prod to version 2");
}

/// Runs openssl, asserting success.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A certificate authority (`ca.pem`) and a server certificate for 127.0.0.1 it signed
/// (`server.pem`, `server.key`), in `dir`.
fn certificate_authority(dir: &std::path::Path, name: &str) {
    let subject = format!("/CN=maas test {name}");
    openssl(
        dir,
        &[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "2", "-subj", &subject,
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
}

#[test]
fn s3_over_tls_verifies_the_endpoint_against_the_trusted_certificates() {
    let dir = scratch("s3-tls");
    let trusted = dir.join("trusted");
    let other = dir.join("other");
    for (d, name) in [(&trusted, "trusted"), (&other, "other")] {
        std::fs::create_dir_all(d).unwrap();
        certificate_authority(d, name);
    }
    let moto = Moto::start_tls(
        &trusted.join("server.pem"),
        &trusted.join("server.key"),
        &trusted.join("ca.pem"),
    );
    assert!(moto.endpoint.starts_with("https://"), "{}", moto.endpoint);
    moto.bucket("mlstore");
    let no_dir = dir.join("no-certificate-directory");
    // the system's trusted certificates, as rustls-native-certs reads them
    let with_roots = |ca: &std::path::Path, args: &[&str]| {
        moto.maas_with(&[("SSL_CERT_FILE", ca), ("SSL_CERT_DIR", &no_dir)], args)
    };
    let publish = [
        "publish",
        "--onnx",
        &onnx_fixture("digits.onnx"),
        "--name",
        "digits",
        "--store",
        "s3://mlstore/models",
    ];
    let input = write(
        &dir,
        "rows.json",
        &json!({ "inputs": digits_rows(2).1 }).to_string(),
    );
    let predict = [
        "predict",
        "--model",
        "s3://mlstore/models/digits",
        "--input",
        &input,
    ];

    // an issuer the trusted certificates do not hold: refused before any request is sent
    let out = with_roots(&other.join("ca.pem"), &publish);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        !moto.exists("mlstore", "models/digits/aliases/latest.json"),
        "nothing may be written over an unverified connection"
    );

    // the endpoint's issuer trusted: publish and predict over TLS
    let out = with_roots(&trusted.join("ca.pem"), &publish);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = with_roots(&trusted.join("ca.pem"), &predict);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["model_version"], 1, "{answer}");
    assert_eq!(
        answer["predictions"].as_array().unwrap().len(),
        2,
        "{answer}"
    );
}
