//! scikit-learn classifiers as users bring them: built in the test's set-up by
//! `tests/python/sklearn_classifiers.py` (scikit-learn and skl2onnx with their default outputs,
//! `label` int64 and `probabilities`, zipmap off), published with `maas publish`, and answered
//! like onnxruntime through `maas predict` and KServe V2: an MLP (its label through ArgMax and
//! ArrayFeatureExtractor, which tract types as a symbolic-dimension tensor: answered as the
//! int64 ONNX declares), a random forest and gradient boosting (ai.onnx.ml tree ensembles). A
//! support-vector classifier, whose operator tract lacks, is refused naming it.
// test code: a failed unwrap is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::http::{json_request, send};
use common::*;
use maas::server::router;
use maas::server::state::{ModelHandle, ServerConfig};
use serde_json::{json, Value};

const SERVED: [&str; 3] = ["mlp", "random_forest", "gradient_boosting"];

#[tokio::test]
async fn skl2onnx_classifiers_with_their_default_outputs_answer_like_onnxruntime() {
    let dir = scratch("sklearn");
    let reference = python_json("sklearn_classifiers.py", &[dir.to_str().unwrap()]);
    let rows = number_rows(&reference["rows"]);
    let store = dir.join("store").display().to_string();
    let request = write(&dir, "rows.json", &json!({ "inputs": rows }).to_string());
    for name in SERVED {
        let expected = &reference["models"][name];
        let onnx = dir.join(format!("{name}.onnx"));
        maas_ok(&[
            "publish",
            "--onnx",
            onnx.to_str().unwrap(),
            "--name",
            name,
            "--store",
            &store,
        ]);
        let manifest: Value = serde_json::from_str(&maas_ok(&[
            "models",
            "show",
            "--json",
            &format!("{store}/{name}"),
        ]))
        .unwrap();
        assert_eq!(manifest["task"], "classifier", "{name}");
        let label_spec = manifest["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == "label")
            .unwrap_or_else(|| panic!("{name}: no label output in {manifest}"));
        assert_eq!(label_spec["dtype"], "int64", "{name}");

        // maas predict: labelled rows, every class's probability
        let answer: Value = serde_json::from_str(&maas_ok(&[
            "predict",
            "--model",
            &format!("{store}/{name}"),
            "--input",
            &request,
        ]))
        .unwrap();
        let predictions = answer["predictions"].as_array().unwrap();
        let want = number_rows(&expected["probabilities"]);
        let diff = max_abs_diff(&probabilities(predictions), &want);
        assert!(diff <= 1e-5, "{name}: probabilities differ by {diff}");
        let labels: Vec<String> = predictions
            .iter()
            .map(|p| p["label"].as_str().unwrap().to_string())
            .collect();
        let want_labels: Vec<String> = expected["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.to_string())
            .collect();
        assert_eq!(labels, want_labels, "{name}");

        // KServe V2: the model's own label output, int64, and its probabilities
        let handle = ModelHandle::load(format!("{store}/{name}").parse().unwrap(), None).await;
        let app = router(Arc::clone(&handle), ServerConfig::default());
        let flat: Vec<f64> = rows.iter().flatten().copied().collect();
        let body = json!({"inputs": [{"name": "X", "datatype": "FP32",
            "shape": [rows.len(), rows[0].len()], "data": flat}]});
        let input_name = manifest["inputs"][0]["name"].as_str().unwrap();
        let body = body
            .to_string()
            .replace("\"X\"", &format!("\"{input_name}\""));
        let answer = send(
            &app,
            json_request("POST", &format!("/v2/models/{name}/infer"), &body),
        )
        .await;
        assert_eq!(answer.status, 200, "{name}: {}", answer.text);
        let outputs = answer.json["outputs"].as_array().unwrap();
        let label = outputs.iter().find(|o| o["name"] == "label").unwrap();
        assert_eq!(label["datatype"], "INT64", "{name}");
        assert_eq!(label["shape"], json!([rows.len()]), "{name}");
        assert_eq!(label["data"], expected["labels"], "{name}");
        let probabilities = outputs
            .iter()
            .find(|o| o["name"] == "probabilities")
            .unwrap();
        let got: Vec<Vec<f64>> = probabilities["data"]
            .as_array()
            .unwrap()
            .chunks(want[0].len())
            .map(|row| row.iter().map(|v| v.as_f64().unwrap()).collect())
            .collect();
        let diff = max_abs_diff(&got, &want);
        assert!(
            diff <= 1e-5,
            "{name}: KServe probabilities differ by {diff}"
        );
    }

    // the support-vector classifier's operator is named at publish
    let onnx = dir.join("svm.onnx");
    let err = maas_err(&[
        "publish",
        "--onnx",
        onnx.to_str().unwrap(),
        "--name",
        "svm",
        "--store",
        &store,
    ]);
    assert!(
        err.contains("operator 'SVMClassifier' (ai.onnx.ml)") && err.contains("tract cannot run"),
        "{err}"
    );
}
