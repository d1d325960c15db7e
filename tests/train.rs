//! `maas train` end to end on the bundled digits: accuracy, store layout, manifest, determinism.

mod common;

use common::*;
use serde_json::Value;

fn read_json(path: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn default_model_reaches_the_reference_accuracy_and_publishes_a_complete_version() {
    let store = trained_store();
    let version = store.join("digits/versions/1");
    let manifest = read_json(&version.join("manifest.json"));
    let model = std::fs::read(version.join("model.onnx")).unwrap();

    let accuracy = manifest["metrics"]["accuracy"].as_f64().unwrap();
    assert!(accuracy >= 0.95, "held-out accuracy {accuracy}");
    assert_eq!(manifest["metrics"]["rows"], 359);
    assert_eq!(
        manifest["metrics"]["per_class"].as_array().unwrap().len(),
        10
    );
    let confusion = manifest["metrics"]["confusion_matrix"].as_array().unwrap();
    let total: u64 = confusion
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(total, 359);

    assert_eq!(manifest["name"], "digits");
    assert_eq!(manifest["version"], 1);
    assert_eq!(manifest["maas_version"], env!("CARGO_PKG_VERSION"));
    assert!(manifest["created_at"].as_str().unwrap().starts_with("20"));
    assert_eq!(manifest["model"]["size_bytes"], model.len() as u64);
    assert_eq!(manifest["model"]["sha256"], maas::store::sha256_hex(&model));
    assert_eq!(manifest["inputs"][0]["name"], "input");
    assert_eq!(manifest["inputs"][0]["shape"], serde_json::json!([-1, 64]));
    assert_eq!(manifest["outputs"][0]["name"], "probabilities");
    assert_eq!(manifest["outputs"][0]["shape"], serde_json::json!([-1, 10]));
    assert_eq!(manifest["labels"][9], "9");
    assert_eq!(manifest["feature_names"][63], "p63");
    let training = &manifest["training"];
    assert_eq!(
        training["hyperparameters"]["hidden"],
        serde_json::json!([512])
    );
    assert_eq!(training["hyperparameters"]["epochs"], 10);
    assert_eq!(training["hyperparameters"]["batch_size"], 32);
    assert_eq!(training["hyperparameters"]["learning_rate"], 0.001);
    assert_eq!(training["hyperparameters"]["seed"], 42);
    assert_eq!(training["epochs_run"], 10);
    let bundled = std::fs::read(digits_csv()).unwrap();
    assert_eq!(
        training["data"]["sha256"],
        maas::store::sha256_hex(&bundled)
    );
    assert_eq!(training["data"]["rows"], 1797);
    assert!(training["export_parity_max_abs_diff"].as_f64().unwrap() <= 1e-5);

    let alias = read_json(&store.join("digits/aliases/latest.json"));
    assert_eq!(alias, serde_json::json!({"version": 1}));
}

#[test]
fn train_prints_the_metrics_table_and_the_reference() {
    let store = scratch("table");
    let out = maas_ok(&[
        "train",
        "--data",
        digits_csv().to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
        "--hidden",
        "32",
        "--epochs",
        "2",
    ]);
    assert!(out.contains("data: "), "{out}");
    assert!(out.contains("precision  recall     f1  support"), "{out}");
    assert!(out.contains("macro avg"), "{out}");
    // the training speed, as the benchmark reads it: 1293 training rows × 2 epochs
    let speed = out
        .lines()
        .find(|l| l.starts_with("training: 1293 rows × 2 epochs in "))
        .unwrap_or_else(|| panic!("no training line in {out}"));
    assert!(speed.ends_with(" samples/s)"), "{speed}");
    assert!(
        out.contains("confusion matrix (rows: true label, columns: predicted)"),
        "{out}"
    );
    // the name defaults to the data file's stem
    assert!(
        out.contains(&format!("model reference: {}/digits@1", store.display())),
        "{out}"
    );
}

#[test]
fn the_same_seed_gives_the_same_model_bytes_and_another_seed_does_not() {
    let store = scratch("determinism");
    let s = store.to_str().unwrap();
    let args = |seed: &'static str| {
        vec![
            "train", "--store", s, "--name", "d", "--hidden", "64", "--epochs", "3", "--seed", seed,
        ]
    };
    maas_ok(&args("7"));
    maas_ok(&args("7"));
    maas_ok(&args("8"));
    // more threads split the same arithmetic, they do not change it
    let mut threaded = args("7");
    threaded.extend(["--threads", "2"]);
    maas_ok(&threaded);
    let sha = |v: u32| {
        read_json(&store.join(format!("d/versions/{v}/manifest.json")))["model"]["sha256"].clone()
    };
    let bytes = |v: u32| std::fs::read(store.join(format!("d/versions/{v}/model.onnx"))).unwrap();
    assert_eq!(sha(1), sha(2));
    assert_eq!(bytes(1), bytes(2));
    let picture = |v: u32| std::fs::read(store.join(format!("d/versions/{v}/curves.png"))).unwrap();
    assert_eq!(
        picture(1),
        picture(2),
        "the report's pictures are reproducible too"
    );
    assert_ne!(sha(1), sha(3));
    assert_eq!(bytes(1), bytes(4), "--threads 2 gives the same model bytes");
    assert_eq!(
        read_json(&store.join("d/aliases/latest.json"))["version"],
        4
    );
}

#[test]
fn two_hidden_layers_and_penalties_train_and_export() {
    let store = scratch("deep");
    maas_ok(&[
        "train",
        "--store",
        store.to_str().unwrap(),
        "--name",
        "deep",
        "--hidden",
        "64,32",
        "--epochs",
        "3",
        "--l1",
        "1e-5",
        "--l2",
        "1e-4",
        "--batch-size",
        "16",
        "--learning-rate",
        "0.002",
    ]);
    let manifest = read_json(&store.join("deep/versions/1/manifest.json"));
    assert_eq!(
        manifest["training"]["hyperparameters"]["hidden"],
        serde_json::json!([64, 32])
    );
    assert_eq!(manifest["training"]["hyperparameters"]["l2"], 0.0001);
    assert!(manifest["metrics"]["accuracy"].as_f64().unwrap() > 0.8);
}

#[test]
fn zero_threads_are_refused() {
    // a usage error: clap's message and exit code 2, before any data is read
    let out = maas(&["train", "--threads", "0", "--epochs", "1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--threads"), "{err}");
}
