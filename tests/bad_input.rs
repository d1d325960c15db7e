//! Bad input to `maas train` and `maas predict`: a clear message and exit code 1, never a panic.
// test code: a failed unwrap is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::json;

/// Trains on `csv` and returns the error message.
fn train_error(name: &str, csv: &str) -> String {
    let dir = scratch(name);
    let data = write(&dir, "data.csv", csv);
    maas_err(&[
        "train",
        "--data",
        &data,
        "--store",
        dir.join("store").to_str().unwrap(),
        "--name",
        "m",
        "--epochs",
        "1",
    ])
}

#[test]
fn missing_data_file() {
    let err = maas_err(&[
        "train",
        "--data",
        "/nonexistent/data.csv",
        "--name",
        "m",
        "--store",
        "/tmp/never",
    ]);
    assert!(
        err.contains("cannot read data file /nonexistent/data.csv"),
        "{err}"
    );
    assert!(err.contains("No such file"), "{err}");
}

#[test]
fn empty_data_file() {
    let err = train_error("empty", "");
    assert!(
        err.contains("is empty: expected a header line naming the columns"),
        "{err}"
    );
}

#[test]
fn header_without_rows() {
    let err = train_error("header-only", "label,a,b\n");
    assert!(err.contains("has a header but no data rows"), "{err}");
}

#[test]
fn ragged_row() {
    let err = train_error("ragged", "label,a,b\n0,1,2\n1,3\n0,4,5\n");
    assert!(
        err.contains("line 3: expected 3 fields like the header, found 2"),
        "{err}"
    );
}

#[test]
fn non_numeric_cell() {
    let err = train_error("text", "label,a,b\n0,1,2\n1,3,four\n");
    assert!(
        err.contains("line 3, column 3 ('b'): 'four' is not a number"),
        "{err}"
    );
}

#[test]
fn nan_and_infinite_cells() {
    let err = train_error("nan", "label,a,b\n0,1,2\n1,NaN,4\n");
    assert!(
        err.contains("line 3, column 2 ('a'): 'NaN' is not a finite number"),
        "{err}"
    );
    let err = train_error("inf", "label,a,b\n0,1,2\n1,3,-inf\n");
    assert!(
        err.contains("line 3, column 3 ('b'): '-inf' is not a finite number"),
        "{err}"
    );
    let err = train_error("overflow", "label,a,b\n0,1,2\n1,3,1e39\n");
    assert!(
        err.contains("line 3, column 3 ('b'): '1e39' is not a finite number"),
        "{err}"
    );
}

#[test]
fn a_single_class() {
    let err = train_error("single", "label,a\n3,1\n3,2\n3,5\n");
    assert!(
        err.contains(
            "the label column 'label' holds a single class ('3'); a classifier needs at least two"
        ),
        "{err}"
    );
}

#[test]
fn missing_label_column() {
    let err = train_error("nolabel", "class,a\n0,1\n1,2\n");
    assert!(
        err.contains("no label column named 'label'; the columns are: class, a"),
        "{err}"
    );
}

#[test]
fn an_empty_label() {
    let err = train_error("emptylabel", "label,a\n0,1\n,2\n");
    assert!(
        err.contains("line 3, column 1 ('label'): the label is empty"),
        "{err}"
    );
}

#[test]
fn bad_hyperparameters_and_names() {
    let dir = scratch("hyper");
    let store = dir.to_str().unwrap();
    let err = maas_err(&["train", "--store", store, "--epochs", "0"]);
    assert!(err.contains("--epochs must be at least 1"), "{err}");
    let err = maas_err(&["train", "--store", store, "--validation-split", "1.5"]);
    assert!(
        err.contains("validation split 1.5 leaves no training rows"),
        "{err}"
    );
    let err = maas_err(&["train", "--store", store, "--name", "../escape"]);
    assert!(err.contains("invalid model name '../escape'"), "{err}");
    let err = maas_err(&["train", "--store", store, "--learning-rate", "-1"]);
    assert!(
        err.contains("--learning-rate must be a positive number"),
        "{err}"
    );
}

fn predict_error(name: &str, input: &str) -> String {
    let store = trained_store();
    let dir = scratch(name);
    let ext = if input.trim_start().starts_with('{') {
        "json"
    } else {
        "csv"
    };
    let path = write(&dir, &format!("input.{ext}"), input);
    maas_err(&[
        "predict",
        "--model",
        &format!("{}/digits", store.display()),
        "--input",
        &path,
    ])
}

#[test]
fn predict_wrong_feature_count() {
    let err = predict_error("fcount", &json!({"inputs": [[1.0, 2.0, 3.0]]}).to_string());
    assert!(
        err.contains("row 0 has 3 features, the model expects 64"),
        "{err}"
    );
}

#[test]
fn predict_ragged_rows() {
    let (_, mut rows) = digits_rows(2);
    rows[1].pop();
    let err = predict_error("pragged", &json!({ "inputs": rows }).to_string());
    assert!(
        err.contains("row 1 has 63 features, the model expects 64"),
        "{err}"
    );
}

#[test]
fn predict_non_finite_values() {
    let (_, rows) = digits_rows(1);
    let mut text = json!({ "inputs": rows }).to_string();
    text = text.replacen("0.0", "1e39", 1);
    let err = predict_error("pinf", &text);
    assert!(err.contains("is not a finite float32 number"), "{err}");
    let csv = format!("{}NaN\n", "1,".repeat(63));
    let err = predict_error("pnan", &csv);
    assert!(
        err.contains("row 0, feature 63: NaN is not a finite float32 number"),
        "{err}"
    );
}

#[test]
fn predict_empty_input() {
    let err = predict_error("pempty", r#"{"inputs": []}"#);
    assert!(
        err.contains("the batch is empty: send at least one row of features"),
        "{err}"
    );
    let err = predict_error("pempty-csv", "");
    assert!(err.contains("the batch is empty"), "{err}");
}

#[test]
fn predict_malformed_json() {
    let err = predict_error("pjson", r#"{"inputs": [[1, "two"]]}"#);
    assert!(
        err.contains(r#"is not a valid request: expected {"inputs": [[number, ...], ...]}"#),
        "{err}"
    );
    assert!(err.contains("invalid type: string \"two\""), "{err}");
    let err = predict_error("ptrunc", r#"{"inputs": [[1, 2"#);
    assert!(err.contains("EOF while parsing"), "{err}");
}

#[test]
fn predict_unknown_model_version_alias_and_file() {
    let store = trained_store();
    let dir = scratch("unknown");
    let input = write(
        &dir,
        "rows.json",
        &json!({ "inputs": digits_rows(1).1 }).to_string(),
    );
    let s = store.display();
    let err = maas_err(&[
        "predict",
        "--model",
        &format!("{s}/nope"),
        "--input",
        &input,
    ]);
    assert!(
        err.contains(&format!("no model named 'nope' in store {s}")),
        "{err}"
    );
    let err = maas_err(&[
        "predict",
        "--model",
        &format!("{s}/digits@99"),
        "--input",
        &input,
    ]);
    assert!(
        err.contains(&format!("model 'digits' in store {s} has no version 99")),
        "{err}"
    );
    let err = maas_err(&[
        "predict",
        "--model",
        &format!("{s}/digits@prod"),
        "--input",
        &input,
    ]);
    assert!(
        err.contains(&format!("model 'digits' in store {s} has no alias 'prod'")),
        "{err}"
    );
    let err = maas_err(&[
        "predict",
        "--model",
        "/nonexistent/m.onnx",
        "--input",
        &input,
    ]);
    assert!(
        err.contains("model file /nonexistent/m.onnx not found"),
        "{err}"
    );
    let garbage = write(&dir, "garbage.onnx", "this is not protobuf");
    let err = maas_err(&["predict", "--model", &garbage, "--input", &input]);
    assert!(err.contains("not a loadable ONNX model"), "{err}");
    let err = maas_err(&[
        "predict",
        "--model",
        &format!("{s}/digits"),
        "--input",
        "/nonexistent/in.json",
    ]);
    assert!(
        err.contains("cannot read input file /nonexistent/in.json"),
        "{err}"
    );
}
