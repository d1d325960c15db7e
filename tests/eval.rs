//! `maas eval`: a published model's metrics on labelled data, ours and third-party ONNX, as a
//! table, as JSON and as a confusion picture; labels the model does not know; bad input.
// test code: a failed unwrap is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::*;
use maas::data::Dataset;
use serde_json::Value;

/// `maas eval --json` of `model` on the CSV at `data`.
fn eval_json(model: &str, data: &str) -> Value {
    serde_json::from_str(&maas_ok(&[
        "eval", "--model", model, "--data", data, "--json",
    ]))
    .unwrap()
}

/// Writes rows of the bundled digits as a labelled CSV, `relabel` changing some labels.
fn write_digits_csv(path: &Path, rows: &[usize], relabel: impl Fn(usize, &str) -> String) {
    let data = Dataset::bundled_digits().unwrap();
    let mut text = format!("label,{}\n", data.feature_names.join(","));
    for &i in rows {
        let label = relabel(i, &data.classes[data.targets[i] as usize]);
        let cells: Vec<String> = data.row(i).iter().map(|v| v.to_string()).collect();
        text.push_str(&format!("{label},{}\n", cells.join(",")));
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn eval_on_a_models_test_rows_reproduces_its_reported_metrics() {
    let store = trained_store();
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(store.join("digits/versions/1/manifest.json")).unwrap(),
    )
    .unwrap();
    let t = &manifest["training"];
    // the rows `maas train` held out, drawn again with the same seed and fraction
    let data = Dataset::bundled_digits().unwrap();
    let (_, test_rows) = maas::pipeline::test_split(
        &data,
        t["test_split"].as_f64().unwrap(),
        t["hyperparameters"]["seed"].as_u64().unwrap(),
    )
    .unwrap();
    let dir = scratch("eval-test-rows");
    let csv = dir.join("test.csv");
    write_digits_csv(&csv, &test_rows, |_, label| label.to_string());
    let model = format!("{}/digits@1", store.display());

    let json = eval_json(&model, csv.to_str().unwrap());
    assert_eq!(json["metrics"], manifest["metrics"]);
    assert_eq!(json["unknown_labels"], serde_json::json!([]));

    let picture = dir.join("confusion.png");
    let table = maas_ok(&[
        "eval",
        "--model",
        &model,
        "--data",
        csv.to_str().unwrap(),
        "--confusion",
        picture.to_str().unwrap(),
    ]);
    let accuracy = manifest["metrics"]["accuracy"].as_f64().unwrap();
    assert!(
        table.contains(&format!("accuracy {accuracy:.4} on 359 rows")),
        "{table}"
    );
    assert!(table.contains("macro avg"), "{table}");
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(&picture).unwrap(),
    ));
    let info = decoder.read_info().unwrap();
    assert_eq!(
        (info.info().width, info.info().height),
        maas::report::CONFUSION_SIZE
    );
}

#[test]
fn eval_of_a_third_party_onnx_matches_onnxruntime() {
    let model = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/onnx/digits_sklearn_logreg.onnx"
    );
    let data = digits_csv();
    let reference = python_json(
        "ort_predictions.py",
        &[model, data.to_str().unwrap(), "label"],
    );
    let labels = reference["labels"].as_array().unwrap();
    let predicted = reference["predicted"].as_array().unwrap();
    let correct = labels
        .iter()
        .zip(predicted)
        .filter(|(l, p)| l.as_str().unwrap().parse::<u64>().ok() == p.as_u64())
        .count();

    let json = eval_json(model, data.to_str().unwrap());
    let m = &json["metrics"];
    assert_eq!(m["rows"], 1797);
    assert_eq!(
        m["accuracy"].as_f64().unwrap(),
        correct as f64 / 1797.0,
        "maas eval and onnxruntime disagree on the correct rows"
    );
    let diagonal: u64 = (0..10)
        .map(|i| m["confusion_matrix"][i][i].as_u64().unwrap())
        .sum();
    assert_eq!(diagonal, correct as u64);
}

#[test]
fn labels_the_model_never_saw_count_as_errors_and_are_named() {
    let store = trained_store();
    let dir = scratch("eval-unknown");
    let csv = dir.join("relabelled.csv");
    // 100 rows, every tenth relabelled "10", a class the model does not know
    let rows: Vec<usize> = (0..100).collect();
    write_digits_csv(&csv, &rows, |i, label| {
        if i % 10 == 0 {
            "10".into()
        } else {
            label.into()
        }
    });
    let out = maas(&[
        "eval",
        "--model",
        &format!("{}/digits", store.display()),
        "--data",
        csv.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("has labels the model does not know (10); their rows count as errors"),
        "{stderr}"
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["unknown_labels"], serde_json::json!(["10"]));
    let m = &json["metrics"];
    let unknown = &m["per_class"][10];
    assert_eq!(unknown["label"], "10");
    assert_eq!(unknown["support"], 10);
    assert_eq!(unknown["recall"], 0.0);
    assert_eq!(m["confusion_matrix"].as_array().unwrap().len(), 11);
    assert!(m["accuracy"].as_f64().unwrap() <= 0.9);
}

#[test]
fn eval_refuses_data_that_does_not_fit_the_model() {
    let store = trained_store();
    let model = format!("{}/digits", store.display());
    let dir = scratch("eval-bad");
    let narrow = write(&dir, "narrow.csv", "label,a,b,c\n1,0,0,0\n2,0,0,0\n");
    let err = maas_err(&["eval", "--model", &model, "--data", &narrow]);
    assert!(
        err.contains("the data has no column for the model's feature 'p0', and its 3 feature columns do not match the model's 64"),
        "{err}"
    );
    let err = maas_err(&["eval", "--model", &model, "--data", "/nonexistent/test.csv"]);
    assert!(
        err.contains("cannot read data file /nonexistent/test.csv"),
        "{err}"
    );
    let err = maas_err(&[
        "eval",
        "--model",
        &model,
        "--data",
        digits_csv().to_str().unwrap(),
        "--labels",
        "a,b",
    ]);
    assert!(
        err.contains("--labels: 2 labels were given but the model outputs 10 classes"),
        "{err}"
    );
    let err = maas_err(&[
        "eval",
        "--model",
        &format!("{}/nosuch", store.display()),
        "--data",
        digits_csv().to_str().unwrap(),
    ]);
    assert!(err.contains("no model named 'nosuch'"), "{err}");
}

#[test]
fn feature_columns_are_matched_by_name_in_any_order() {
    let store = trained_store();
    let data = Dataset::bundled_digits().unwrap();
    // the same 200 rows with the columns reversed
    let mut text = String::new();
    let mut header: Vec<String> = data.feature_names.iter().rev().cloned().collect();
    header.push("label".into());
    text.push_str(&header.join(","));
    text.push('\n');
    for i in 0..200 {
        let mut cells: Vec<String> = data.row(i).iter().rev().map(|v| v.to_string()).collect();
        cells.push(data.classes[data.targets[i] as usize].clone());
        text.push_str(&cells.join(","));
        text.push('\n');
    }
    let dir = scratch("eval-reordered");
    let reversed = write(&dir, "reversed.csv", &text);
    let ordered = dir.join("ordered.csv");
    write_digits_csv(&ordered, &(0..200).collect::<Vec<_>>(), |_, l| l.into());
    let model = format!("{}/digits", store.display());
    let metrics = |path: &str| eval_json(&model, path)["metrics"].clone();
    let same = metrics(ordered.to_str().unwrap());
    assert_eq!(metrics(&reversed), same);
    assert!(same["accuracy"].as_f64().unwrap() > 0.95);
}

#[test]
fn a_file_of_one_class_can_be_evaluated() {
    let store = trained_store();
    let data = Dataset::bundled_digits().unwrap();
    let sevens: Vec<usize> = (0..data.rows())
        .filter(|&i| data.classes[data.targets[i] as usize] == "7")
        .collect();
    let dir = scratch("eval-sevens");
    let csv = dir.join("sevens.csv");
    write_digits_csv(&csv, &sevens, |_, l| l.into());
    let json = eval_json(
        &format!("{}/digits", store.display()),
        csv.to_str().unwrap(),
    );
    let m = &json["metrics"];
    assert_eq!(m["rows"], sevens.len());
    assert_eq!(m["per_class"][7]["support"], sevens.len());
    assert_eq!(m["accuracy"], m["per_class"][7]["recall"]);
}
