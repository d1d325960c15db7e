//! `maas train` end to end on the bundled digits: accuracy, store layout, manifest, determinism.
// test code: a failed unwrap is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

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

/// The export parity figure in the manifest is checked against an independent runtime: the
/// trainer is run again in-process on the same split (same seed, same bytes), onnxruntime runs
/// the published file on the same test rows, and the two agree within the tolerance; the
/// recorded figure (tract against the trainer) is the same measurement within what separates
/// tract from onnxruntime.
#[test]
fn the_recorded_export_parity_matches_onnxruntime_against_the_trainer() {
    use maas::data::Dataset;
    use maas::training::{Silent, TrainConfig};

    let store = trained_store();
    let version = store.join("digits/versions/1");
    let manifest = read_json(&version.join("manifest.json"));
    let recorded = manifest["training"]["export_parity_max_abs_diff"]
        .as_f64()
        .unwrap();

    // the pipeline's split and training, as `maas train` ran them with the defaults (one
    // thread, as the CLI's default --threads 1 sets it)
    std::env::set_var("RAYON_NUM_THREADS", "1");
    std::env::set_var("CANDLE_NUM_THREADS", "1");
    let data = Dataset::bundled_digits().unwrap();
    let run = maas::pipeline::train_on_split(&data, &TrainConfig::default(), 0.2, 0.1, &mut Silent)
        .unwrap();
    let (trained, test_x) = (run.model, run.held_out_x);
    let trainer: Vec<Vec<f64>> = trained
        .predict(&test_x)
        .unwrap()
        .chunks(10)
        .map(|row| row.iter().map(|&p| p as f64).collect())
        .collect();
    assert_eq!(trainer.len(), 359);

    let dir = scratch("parity");
    let rows: Vec<&[f32]> = test_x.chunks(64).collect();
    let input = write(
        &dir,
        "test-rows.json",
        &serde_json::json!({ "inputs": rows }).to_string(),
    );
    let reference = python_json(
        "onnx_reference.py",
        &[version.join("model.onnx").to_str().unwrap(), &input],
    );
    let onnxruntime = number_rows(&reference["results"]["probabilities"]);
    let ort_vs_trainer = max_abs_diff(&onnxruntime, &trainer);
    assert!(
        ort_vs_trainer <= 1e-5,
        "onnxruntime vs the trainer: {ort_vs_trainer:e}"
    );
    // tract on the published file, in-process: the recorded figure is its distance from the
    // trainer, to the last bit
    let model = maas::inference::LoadedModel::from_bytes(
        &std::fs::read(version.join("model.onnx")).unwrap(),
    )
    .unwrap();
    let tract: Vec<Vec<f64>> = model
        .predict(&test_x, 359)
        .unwrap()
        .chunks(10)
        .map(|row| row.iter().map(|&p| p as f64).collect())
        .collect();
    let tract_vs_trainer = max_abs_diff(&tract, &trainer);
    assert_eq!(recorded as f32, tract_vs_trainer as f32);
    // and it agrees with onnxruntime's distance from the trainer within what separates the two
    // runtimes (the triangle inequality): a figure made up or measured on other rows fails here
    let tract_vs_ort = max_abs_diff(&tract, &onnxruntime);
    assert!(
        (recorded - ort_vs_trainer).abs() <= tract_vs_ort + 1e-9,
        "recorded {recorded:e}, onnxruntime vs the trainer {ort_vs_trainer:e}, tract vs onnxruntime {tract_vs_ort:e}"
    );
}
