//! `maas predict` against published models, checked against onnxruntime and the ONNX checker.
// test code: a failed unwrap is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{json, Value};

fn predictions(stdout: &str) -> Value {
    serde_json::from_str(stdout).expect("predict prints JSON")
}

#[test]
fn onnx_checker_and_onnxruntime_agree_with_maas_predict() {
    let store = trained_store();
    let dir = scratch("ort");
    let (_, rows) = digits_rows(40);
    let input = write(&dir, "rows.json", &json!({ "inputs": rows }).to_string());
    let model = store.join("digits/versions/1/model.onnx");

    let reference = python_json("onnx_reference.py", &[model.to_str().unwrap(), &input]);
    assert!(reference["opset"].as_i64().unwrap() >= 13);
    assert_eq!(
        reference["inputs"],
        json!([{"name": "input", "elem_type": 1, "shape": ["batch", 64]}])
    );
    assert_eq!(
        reference["outputs"],
        json!([{"name": "probabilities", "elem_type": 1, "shape": ["batch", 10]}])
    );
    let labels: Vec<String> =
        serde_json::from_str(reference["metadata"]["labels"].as_str().unwrap()).unwrap();
    assert_eq!(labels, (0..10).map(|i| i.to_string()).collect::<Vec<_>>());
    let features: Vec<String> =
        serde_json::from_str(reference["metadata"]["feature_names"].as_str().unwrap()).unwrap();
    assert_eq!(features.len(), 64);

    let ours = predictions(&maas_ok(&[
        "predict",
        "--model",
        &format!("{}/digits", store.display()),
        "--input",
        &input,
    ]));
    let ort = number_rows(&reference["results"]["probabilities"]);
    let mine: Vec<Vec<f64>> = ours["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| number_rows(&json!([p["probabilities"]])).remove(0))
        .collect();
    assert_eq!(mine.len(), 40);
    assert_eq!(ort.len(), 40);
    let max_diff = max_abs_diff(&mine, &ort);
    assert!(
        max_diff <= 1e-5,
        "maas vs onnxruntime max |Δp| = {max_diff}"
    );
}

#[test]
fn predictions_are_labelled_and_mostly_right() {
    let store = trained_store();
    let dir = scratch("labelled");
    let (labels, rows) = digits_rows(50);
    let input = write(&dir, "rows.json", &json!({ "inputs": rows }).to_string());
    let out = predictions(&maas_ok(&[
        "predict",
        "--model",
        &format!("{}/digits@1", store.display()),
        "--input",
        &input,
    ]));
    assert_eq!(out["model_name"], "digits");
    assert_eq!(out["model_version"], 1);
    let preds = out["predictions"].as_array().unwrap();
    let mut right = 0;
    for (p, truth) in preds.iter().zip(&labels) {
        let probs: Vec<f64> = p["probabilities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(probs.len(), 10);
        assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-4);
        let best = probs.iter().cloned().fold(f64::MIN, f64::max);
        assert_eq!(p["probability"].as_f64().unwrap(), best);
        let label = p["label"].as_str().unwrap();
        assert_eq!(probs[label.parse::<usize>().unwrap()], best);
        right += (label == truth) as usize;
    }
    assert!(right >= 45, "{right}/50 right");
}

#[test]
fn every_kind_of_reference_and_input_gives_the_same_answer() {
    let store = trained_store();
    let dir = scratch("refs");
    let (_, rows) = digits_rows(3);
    let json_input = write(&dir, "rows.json", &json!({ "inputs": rows }).to_string());
    // CSV without a header, and the labelled data file itself (header picks features by name)
    let csv_rows: String = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(",")
                + "\n"
        })
        .collect();
    let csv_input = write(&dir, "rows.csv", &csv_rows);
    let labelled: String = std::fs::read_to_string(digits_csv())
        .unwrap()
        .lines()
        .take(4)
        .map(|l| format!("{l}\n"))
        .collect();
    let labelled_input = write(&dir, "labelled.csv", &labelled);

    let probabilities = |model: &str, input: &str| {
        let out = predictions(&maas_ok(&["predict", "--model", model, "--input", input]));
        out["predictions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["probabilities"].clone())
            .collect::<Vec<_>>()
    };
    let base = format!("{}/digits", store.display());
    let expected = probabilities(&base, &json_input);
    assert_eq!(expected.len(), 3);
    assert_eq!(
        probabilities(&format!("{base}@latest"), &json_input),
        expected
    );
    assert_eq!(probabilities(&format!("{base}@1"), &csv_input), expected);
    assert_eq!(probabilities(&base, &labelled_input), expected);
    let bare = store.join("digits/versions/1/model.onnx");
    let out = predictions(&maas_ok(&[
        "predict",
        "--model",
        bare.to_str().unwrap(),
        "--input",
        &json_input,
    ]));
    assert_eq!(out["model_version"], Value::Null);
    assert_eq!(out["labels"][3], "3");
    assert_eq!(
        out["predictions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["probabilities"].clone())
            .collect::<Vec<_>>(),
        expected
    );
}

#[test]
fn a_model_file_that_does_not_match_its_manifest_is_refused() {
    let source = trained_store();
    let store = scratch("tampered");
    let version = store.join("digits/versions/1");
    std::fs::create_dir_all(&version).unwrap();
    std::fs::create_dir_all(store.join("digits/aliases")).unwrap();
    std::fs::copy(
        source.join("digits/aliases/latest.json"),
        store.join("digits/aliases/latest.json"),
    )
    .unwrap();
    std::fs::copy(
        source.join("digits/versions/1/manifest.json"),
        version.join("manifest.json"),
    )
    .unwrap();
    let mut model = std::fs::read(source.join("digits/versions/1/model.onnx")).unwrap();
    let last = model.len() - 1;
    model[last] ^= 1;
    std::fs::write(version.join("model.onnx"), model).unwrap();
    let dir = scratch("tampered-input");
    let input = write(
        &dir,
        "rows.json",
        &json!({ "inputs": digits_rows(1).1 }).to_string(),
    );
    let err = maas_err(&[
        "predict",
        "--model",
        &format!("{}/digits", store.display()),
        "--input",
        &input,
    ]);
    assert!(
        err.contains("checksum mismatch for digits version 1"),
        "{err}"
    );
    assert!(err.contains("refusing to use it"), "{err}");
}
