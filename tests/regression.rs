//! Regression end to end: `maas train --task regression` on the diabetes data set, judged by
//! scikit-learn (R² of its own models on the same split, and its `r2_score` of ours), the ONNX
//! checker and onnxruntime; same seed, same bytes; served with `value`/`values` and evaluated
//! per target.
// test code: a failed unwrap is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use axum::http::StatusCode;
use common::http::{json_request, send};
use common::*;
use maas::contract::Task;
use maas::data::Dataset;
use maas::server::router;
use maas::server::state::{ModelHandle, ServerConfig};
use serde_json::{json, Value};

mod common;

const SEED: &str = "42";

fn diabetes() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/diabetes.csv")
}

/// Trains a regressor on the diabetes data into a new store (seed [`SEED`] unless `extra` gives
/// one); returns the store and the manifest.
fn train(name: &str, targets: &str, extra: &[&str]) -> (PathBuf, Value) {
    let store = scratch(name);
    let data = diabetes();
    let mut args = vec![
        "train",
        "--data",
        data.to_str().unwrap(),
        "--task",
        "regression",
        "--label-column",
        targets,
        "--store",
        store.to_str().unwrap(),
        "--name",
        "diabetes",
    ];
    if !extra.contains(&"--seed") {
        args.extend_from_slice(&["--seed", SEED]);
    }
    args.extend_from_slice(extra);
    maas_ok(&args);
    let manifest = read_json(&store.join("diabetes/versions/1/manifest.json"));
    (store, manifest)
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The data set read as `maas train` reads it, and its test rows for the seed (the rows the
/// manifest's metrics are measured on) with the other rows.
fn split(targets: &[&str]) -> (Dataset, Vec<usize>, Vec<usize>) {
    let columns: Vec<String> = targets.iter().map(|t| t.to_string()).collect();
    let file = std::fs::File::open(diabetes()).unwrap();
    let data =
        Dataset::from_reader_as(file, "diabetes.csv", Task::Regression, &columns, 64).unwrap();
    let (rest, test) = maas::pipeline::test_split(&data, 0.2, SEED.parse().unwrap()).unwrap();
    (data, rest, test)
}

/// The data file's header and the given rows of it, as CSV.
fn rows_csv(rows: &[usize]) -> String {
    let text = std::fs::read_to_string(diabetes()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = format!("{}\n", lines[0]);
    for &i in rows {
        out.push_str(lines[i + 1]);
        out.push('\n');
    }
    out
}

/// The feature rows (the first ten columns) of the given data rows.
fn feature_rows(data: &Dataset, rows: &[usize]) -> Vec<Vec<f32>> {
    rows.iter().map(|&i| data.row(i).to_vec()).collect()
}

#[test]
fn test_r2_is_within_five_hundredths_of_scikit_learn_on_the_same_split() {
    let (store, manifest) = train("regression-r2", "progression", &[]);
    let metrics = &manifest["regression_metrics"];
    let ours = metrics["per_target"][0]["r2"].as_f64().unwrap();
    assert_eq!(metrics["per_target"][0]["name"], "progression");
    assert_eq!(manifest["task"], "regression");
    assert_eq!(manifest["answer_output"], "predictions");
    assert!(manifest.get("metrics").is_none(), "{manifest}");

    let (data, rest, test) = split(&["progression"]);
    assert_eq!(metrics["rows"], test.len());
    assert_eq!(manifest["training"]["data"]["held_out_rows"], test.len());
    let dir = scratch("regression-r2-judge");
    let train_csv = write(&dir, "train.csv", &rows_csv(&rest));
    let test_csv = write(&dir, "test.csv", &rows_csv(&test));
    // maas' own predictions for the test rows, scored by sklearn's r2_score
    let input = write(
        &dir,
        "rows.json",
        &json!({ "inputs": feature_rows(&data, &test) }).to_string(),
    );
    let model = store.join("diabetes/versions/1/model.onnx");
    let predicted: Value = serde_json::from_str(&maas_ok(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--input",
        &input,
    ]))
    .unwrap();
    let values: Vec<f64> = predicted["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_f64().unwrap())
        .collect();
    assert_eq!(values.len(), test.len());
    let predictions = write(&dir, "predictions.json", &json!(values).to_string());
    let judge = python_json(
        "sklearn_regression.py",
        &[&train_csv, &test_csv, "progression", SEED, &predictions],
    );
    assert_eq!(judge["rows"]["test"], test.len());
    let given = judge["given_r2"][0].as_f64().unwrap();
    assert!(
        (given - ours).abs() < 1e-4,
        "the manifest's R² {ours} vs sklearn's r2_score of the same predictions {given}"
    );
    let linear = judge["linear_regression_r2"].as_f64().unwrap();
    let mlp = judge["mlp_regressor_r2"].as_f64().unwrap();
    eprintln!("test R²: maas {ours:.4}, LinearRegression {linear:.4}, MLPRegressor {mlp:.4}");
    assert!(
        ours >= linear - 0.05 && ours >= mlp - 0.05,
        "maas' test R² {ours:.4} is more than 0.05 below scikit-learn's (LinearRegression {linear:.4}, MLPRegressor {mlp:.4})"
    );
}

#[test]
fn the_export_passes_the_checker_matches_onnxruntime_and_the_trainer_and_is_reproducible() {
    let (store, manifest) = train("regression-export", "progression", &[]);
    let model_path = store.join("diabetes/versions/1/model.onnx");
    let bytes = std::fs::read(&model_path).unwrap();
    let (again, _) = train("regression-export-again", "progression", &[]);
    assert_eq!(
        std::fs::read(again.join("diabetes/versions/1/model.onnx")).unwrap(),
        bytes,
        "the same seed gave different model bytes"
    );
    let (other, _) = train("regression-export-other", "progression", &["--seed", "7"]);
    assert_ne!(
        std::fs::read(other.join("diabetes/versions/1/model.onnx")).unwrap(),
        bytes
    );

    // onnx.checker (full) and onnxruntime on the test rows
    let (data, _, test) = split(&["progression"]);
    let rows = feature_rows(&data, &test);
    let dir = scratch("regression-export-judge");
    let input = write(&dir, "rows.json", &json!({ "inputs": rows }).to_string());
    let reference = python_json("onnx_reference.py", &[model_path.to_str().unwrap(), &input]);
    assert_eq!(reference["metadata"]["task"], "regression");
    assert_eq!(reference["metadata"]["targets"], r#"["progression"]"#);
    assert_eq!(
        reference["outputs"],
        json!([{"name": "predictions", "elem_type": 1, "shape": ["batch", 1]}])
    );
    let onnxruntime = number_rows(&reference["results"]["predictions"]);

    // the trainer, run again in-process on the pipeline's split
    std::env::set_var("RAYON_NUM_THREADS", "1");
    std::env::set_var("CANDLE_NUM_THREADS", "1");
    let run = maas::pipeline::train_on_split(
        &data,
        &maas::training::TrainConfig::default(),
        0.2,
        0.1,
        &mut maas::training::Silent,
    )
    .unwrap();
    assert_eq!(run.held_out_rows, test);
    let trainer: Vec<Vec<f64>> = run
        .model
        .predict(&run.held_out_x)
        .unwrap()
        .into_iter()
        .map(|v| vec![v as f64])
        .collect();
    let tract = maas::inference::LoadedModel::from_bytes(&bytes)
        .unwrap()
        .predict(&run.held_out_x, test.len())
        .unwrap();
    let tract: Vec<Vec<f64>> = tract.into_iter().map(|v| vec![v as f64]).collect();
    // values in the hundreds: compared relative to their size, as float32 holds them
    let relative = |a: &[Vec<f64>], b: &[Vec<f64>]| {
        let scaled = |t: &[Vec<f64>]| -> Vec<Vec<f64>> {
            t.iter()
                .zip(b)
                .map(|(r, s)| vec![r[0] / s[0].abs().max(1.0)])
                .collect()
        };
        max_abs_diff(&scaled(a), &scaled(b))
    };
    let ort_vs_trainer = relative(&onnxruntime, &trainer);
    assert!(
        ort_vs_trainer <= 1e-5,
        "onnxruntime vs the trainer: {ort_vs_trainer:e}"
    );
    let recorded = manifest["training"]["export_parity_max_abs_diff"]
        .as_f64()
        .unwrap();
    assert_eq!(recorded as f32, relative(&tract, &trainer) as f32);
    assert!(relative(&tract, &onnxruntime) <= 1e-5);
}

#[tokio::test]
async fn two_targets_are_answered_as_values_and_evaluated_per_target() {
    let (store, manifest) = train(
        "regression-two",
        "progression,s5",
        &["--epochs", "20", "--hidden", "64"],
    );
    let per_target = manifest["regression_metrics"]["per_target"]
        .as_array()
        .unwrap();
    let names: Vec<&str> = per_target
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["progression", "s5"]);
    assert_eq!(manifest["outputs"][0]["shape"], json!([-1, 2]));
    assert_eq!(manifest["feature_names"].as_array().unwrap().len(), 9);
    let card = std::fs::read_to_string(store.join("diabetes/versions/1/report.md")).unwrap();
    assert!(card.contains("| targets | 2 (progression, s5) |"), "{card}");
    assert!(card.contains("--label-column progression,s5"), "{card}");
    let fit = std::fs::read(store.join("diabetes/versions/1/fit.png")).unwrap();
    let png = png::Decoder::new(std::io::Cursor::new(fit))
        .read_info()
        .unwrap();
    assert_eq!(
        (png.info().width, png.info().height),
        (1200, 2 * 480),
        "one row of plots per target"
    );

    // `maas eval` on the test rows streams them and finds the manifest's figures
    let (_, _, test) = split(&["progression", "s5"]);
    let dir = scratch("regression-two-eval");
    let test_csv = write(&dir, "test.csv", &rows_csv(&test));
    let reference = format!("{}/diabetes", store.display());
    let eval: Value = serde_json::from_str(&maas_ok(&[
        "eval",
        "--model",
        &reference,
        "--data",
        &test_csv,
        "--label-column",
        "progression,s5",
        "--json",
    ]))
    .unwrap();
    for (measured, recorded) in eval["metrics"]["per_target"]
        .as_array()
        .unwrap()
        .iter()
        .zip(per_target)
    {
        for key in ["mse", "mae", "r2"] {
            let (a, b) = (
                measured[key].as_f64().unwrap(),
                recorded[key].as_f64().unwrap(),
            );
            assert!(
                (a - b).abs() <= 1e-6 * b.abs().max(1.0),
                "{key}: {a} vs {b}"
            );
        }
    }
    let err = maas_err(&[
        "eval",
        "--model",
        &reference,
        "--data",
        &test_csv,
        "--label-column",
        "progression",
    ]);
    assert!(
        err.contains("the model answers 2 targets but 1 label columns were given"),
        "{err}"
    );

    // the native route answers `values`, KServe V2 the `predictions` tensor
    let handle = ModelHandle::load(reference.parse().unwrap(), None).await;
    let app = router(handle, ServerConfig::default());
    let row: Vec<f32> = (0..9).map(|i| i as f32).collect();
    let native = send(
        &app,
        json_request(
            "POST",
            "/predict",
            &json!({ "inputs": [row, row] }).to_string(),
        ),
    )
    .await;
    assert_eq!(native.status, StatusCode::OK, "{}", native.text);
    let predictions = native.json["predictions"].as_array().unwrap();
    assert_eq!(predictions.len(), 2);
    assert_eq!(predictions[0]["values"].as_array().unwrap().len(), 2);
    assert!(predictions[0].get("label").is_none(), "{}", native.text);
    let kserve = send(
        &app,
        json_request(
            "POST",
            "/v2/models/diabetes/infer",
            &json!({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 9], "data": row}]})
                .to_string(),
        ),
    )
    .await;
    assert_eq!(kserve.status, StatusCode::OK, "{}", kserve.text);
    assert_eq!(kserve.json["outputs"][0]["name"], "predictions");
    assert_eq!(kserve.json["outputs"][0]["shape"], json!([1, 2]));
    // the same float32 values (KServe's JSON widens them to double, as Triton's does)
    let as_f32 = |v: &Value| -> Vec<f32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect()
    };
    assert_eq!(
        as_f32(&kserve.json["outputs"][0]["data"]),
        as_f32(&predictions[0]["values"]),
        "KServe and the native route disagree"
    );
}

#[test]
fn regression_input_errors_name_the_fix() {
    let store = scratch("regression-errors");
    let store = store.to_str().unwrap();
    let err = maas_err(&["train", "--task", "regression", "--store", store]);
    assert!(err.contains("--task regression needs --data"), "{err}");
    // a flag clap refuses: its usage error (exit 2)
    let out = maas(&["train", "--task", "tensor", "--store", store]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("maas trains a classifier or a regression"),
        "{err}"
    );
    let data = diabetes();
    let data = data.to_str().unwrap();
    let err = maas_err(&[
        "train",
        "--data",
        data,
        "--label-column",
        "progression,s5",
        "--store",
        store,
    ]);
    assert!(
        err.contains("several numeric target columns make a regression"),
        "{err}"
    );
    let err = maas_err(&[
        "train",
        "--data",
        data,
        "--task",
        "regression",
        "--label-column",
        "outcome",
        "--store",
        store,
    ]);
    assert!(err.contains("no label column named 'outcome'"), "{err}");
    let dir = scratch("regression-errors-data");
    let bad = write(&dir, "bad.csv", "a,b,y\n1,2,3.5\n4,5,n/a\n");
    let err = maas_err(&[
        "train",
        "--data",
        &bad,
        "--task",
        "regression",
        "--label-column",
        "y",
        "--store",
        store,
    ]);
    assert!(
        err.contains("line 3, column 3 ('y'): 'n/a' is not a number"),
        "{err}"
    );
}
