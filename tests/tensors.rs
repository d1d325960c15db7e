//! Any model tract runs, as users bring them (`onnx/tensor/`, built by
//! `tests/python/make_tensor_models.py` with the `onnx` package, answers by onnxruntime): an
//! NCHW convnet, float32 features with int64 ids through Gather, a regressor, a model with three
//! outputs, bool and uint8 inputs, and a Keras 3 NHWC convnet exported with
//! `model.export(format="onnx")` (its Flatten casts the shape to int32 before Reshape, which
//! tract types only with concrete shapes: a plan per batch size). Each is published to a folder and to S3 (moto) and answers
//! like onnxruntime (≤ 1e-5 for floats, exactly for integers and booleans) through `maas
//! predict`, the native route, KServe V2 JSON, KServe V2 binary (tritonclient with its
//! defaults, against `maas serve`) and TF Serving. Lambda events: `functions/predict/tests`.
// test code: a failed unwrap is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use common::http::{json_request, send};
use common::*;
use maas::server::router;
use maas::server::state::{ModelHandle, ServerConfig};
use serde_json::{json, Map, Value};

/// The fixtures and the task each is published with (`None`: detected).
const MODELS: &[(&str, Option<&str>)] = &[
    ("convnet_nchw", None),
    ("two_inputs", None),
    ("regressor", Some("regression")),
    ("two_outputs", None),
    ("bool_uint8", None),
    ("keras_convnet_nhwc", Some("classifier")),
];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("onnx/tensor/{name}.onnx"))
}

/// `{"inputs": {name: tensor}, "outputs": {name: tensor}}`, each tensor datatype, shape, flat data.
fn case(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("onnx/tensor/{name}.case.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Flattens nested JSON values, row-major.
fn flat(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.iter().flat_map(flat).collect(),
        other => vec![other.clone()],
    }
}

/// Nests flat data by a shape, as a caller would send it.
fn nested(data: &[Value], shape: &[usize]) -> Value {
    match shape.split_first() {
        None => data[0].clone(),
        Some((&n, rest)) => {
            let size: usize = rest.iter().product();
            Value::Array((0..n).map(|i| nested(&data[i * size..], rest)).collect())
        }
    }
}

fn shape_of(tensor: &Value) -> Vec<usize> {
    tensor["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect()
}

/// Asserts that `got` (flat or nested values) equals the case's tensor: floats within 1e-5,
/// integers and booleans exactly, and the same count.
fn assert_values(what: &str, got: &Value, expected: &Value) {
    let got = flat(got);
    let want = expected["data"].as_array().unwrap();
    assert_eq!(got.len(), want.len(), "{what}: value count");
    assert!(!want.is_empty(), "{what}: nothing to compare");
    let float = expected["datatype"].as_str().unwrap().starts_with("FP");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if float {
            let (g, w) = (g.as_f64().unwrap(), w.as_f64().unwrap());
            assert!((g - w).abs() <= 1e-5, "{what}[{i}]: {g} vs onnxruntime {w}");
        } else {
            assert_eq!(g, w, "{what}[{i}]");
        }
    }
}

/// Asserts a `{"datatype", "shape", "data"}` answer equals the case's tensor.
fn assert_tensor(what: &str, got: &Value, expected: &Value) {
    assert_eq!(got["datatype"], expected["datatype"], "{what}: datatype");
    assert_eq!(got["shape"], expected["shape"], "{what}: shape");
    assert_values(what, &got["data"], expected);
}

/// The native request: every input by name, nested by its shape.
fn native_body(case: &Value) -> Value {
    let inputs: Map<String, Value> = case["inputs"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, t)| {
            (
                name.clone(),
                nested(t["data"].as_array().unwrap(), &shape_of(t)),
            )
        })
        .collect();
    json!({ "inputs": inputs })
}

/// Checks a native answer (from `maas predict` or `POST /predict`) against the case.
fn assert_native(model: &str, answer: &Value, case: &Value) {
    let outputs = &case["outputs"];
    if let Some(predictions) = answer["predictions"].as_array() {
        if predictions.iter().all(|p| p.get("probabilities").is_some()) {
            // a classifier: labelled rows with every class's probability (its `probabilities`
            // output, or its only one)
            let probabilities = outputs.get("probabilities").unwrap_or_else(|| {
                assert_eq!(outputs.as_object().unwrap().len(), 1, "{model}");
                outputs.as_object().unwrap().values().next().unwrap()
            });
            let got: Vec<Value> = predictions
                .iter()
                .map(|p| p["probabilities"].clone())
                .collect();
            assert_values(
                &format!("{model} probabilities"),
                &Value::Array(got),
                probabilities,
            );
            assert!(
                predictions.iter().all(|p| p["label"].is_string()),
                "{answer}"
            );
        } else {
            // a regressor: one value per row
            let got: Vec<Value> = predictions.iter().map(|p| p["value"].clone()).collect();
            assert_values(
                &format!("{model} values"),
                &Value::Array(got),
                &outputs["y"],
            );
        }
        return;
    }
    for (name, expected) in outputs.as_object().unwrap() {
        assert_tensor(
            &format!("{model} {name}"),
            &answer["outputs"][name],
            expected,
        );
    }
}

fn publish(store: &str, name: &str, task: Option<&str>, moto: Option<&Moto>) -> String {
    let file = fixture(name);
    let mut args = vec![
        "publish",
        "--onnx",
        file.to_str().unwrap(),
        "--name",
        name,
        "--store",
        store,
    ];
    if let Some(task) = task {
        args.extend(["--task", task]);
    }
    match moto {
        Some(moto) => moto.maas_ok(&args),
        None => maas_ok(&args),
    }
}

#[test]
fn every_model_publishes_its_signature_and_answers_like_onnxruntime_through_maas_predict() {
    let dir = scratch("tensor-models");
    let moto = Moto::start(&[]);
    moto.bucket("tensors");
    for &(name, task) in MODELS {
        let case = case(name);
        let request = write(
            &dir,
            &format!("{name}.json"),
            &native_body(&case).to_string(),
        );
        for store in [
            dir.join("store").display().to_string(),
            "s3://tensors/models".to_string(),
        ] {
            publish(&store, name, task, Some(&moto));
            let manifest: Value = serde_json::from_str(&moto.maas_ok(&[
                "models",
                "show",
                "--json",
                &format!("{store}/{name}"),
            ]))
            .unwrap();
            // the signature is the graph's: every input and output, -1 for the batch
            let inputs: Vec<&str> = manifest["inputs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["name"].as_str().unwrap())
                .collect();
            let expected_inputs: Vec<&str> = case["inputs"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            let mut sorted = inputs.clone();
            sorted.sort();
            let mut want = expected_inputs.clone();
            want.sort();
            assert_eq!(sorted, want, "{name} inputs");
            assert_eq!(
                manifest["outputs"].as_array().unwrap().len(),
                case["outputs"].as_object().unwrap().len(),
                "{name} outputs"
            );
            assert_eq!(
                manifest["inputs"][0]["shape"][0], -1,
                "{name}: the batch is symbolic"
            );
            let expected_task = match (name, task) {
                (_, Some(task)) => task,
                ("convnet_nchw" | "two_outputs", None) => "classifier",
                _ => "tensor",
            };
            assert_eq!(manifest["task"], expected_task, "{name}");

            let answer: Value = serde_json::from_str(&moto.maas_ok(&[
                "predict",
                "--model",
                &format!("{store}/{name}"),
                "--input",
                &request,
            ]))
            .unwrap();
            assert_native(name, &answer, &case);
        }
    }
}

#[test]
fn a_regressor_is_never_answered_as_a_one_class_classifier() {
    let dir = scratch("regressor");
    let case = case("regressor");
    let request = write(&dir, "x.json", &native_body(&case).to_string());
    let bare: Value = serde_json::from_str(&maas_ok(&[
        "predict",
        "--model",
        fixture("regressor").to_str().unwrap(),
        "--input",
        &request,
    ]))
    .unwrap();
    // a bare file without a task answers its tensors, never labels or probabilities
    assert!(bare.get("predictions").is_none(), "{bare}");
    assert!(bare.get("labels").is_none(), "{bare}");
    assert_tensor("y", &bare["outputs"]["y"], &case["outputs"]["y"]);
    let store = dir.join("store").display().to_string();
    publish(&store, "regressor", Some("regression"), None);
    let published: Value = serde_json::from_str(&maas_ok(&[
        "predict",
        "--model",
        &format!("{store}/regressor"),
        "--input",
        &request,
    ]))
    .unwrap();
    assert!(published.get("labels").is_none(), "{published}");
    let values = published["predictions"].as_array().unwrap();
    assert_eq!(values.len(), 4);
    assert!(
        values.iter().all(|v| v["value"].as_f64().unwrap() > 50.0),
        "{published}"
    );
    // a classifier task on a one-wide regressor output is refused, not served as probabilities
    let err = maas_err(&[
        "publish",
        "--onnx",
        fixture("two_inputs").to_str().unwrap(),
        "--name",
        "x",
        "--store",
        &store,
        "--task",
        "classifier",
        "--output",
        "nope",
    ]);
    assert!(
        err.contains("the model has no output 'nope'; its outputs are 'score'"),
        "{err}"
    );
}

/// A router serving a fixture as a bare file (what `maas serve --model file.onnx` runs).
async fn app(name: &str) -> Router {
    let handle: Arc<ModelHandle> =
        ModelHandle::load(fixture(name).display().to_string().parse().unwrap(), None).await;
    handle.current().unwrap();
    router(handle, ServerConfig::default())
}

#[tokio::test]
async fn kserve_json_tf_serving_and_native_in_process() {
    for &(name, _) in MODELS {
        let app = app(name).await;
        let case = case(name);
        // KServe V2 JSON: flat data with datatype and shape, every output by default
        let inputs: Vec<Value> = case["inputs"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(n, t)| json!({"name": n, "datatype": t["datatype"], "shape": t["shape"], "data": t["data"]}))
            .collect();
        let body = json!({ "id": "42", "inputs": inputs }).to_string();
        let answer = send(
            &app,
            json_request("POST", &format!("/v2/models/{name}/infer"), &body),
        )
        .await;
        assert_eq!(answer.status, 200, "{name}: {}", answer.text);
        assert_eq!(answer.json["id"], "42");
        let outputs = answer.json["outputs"].as_array().unwrap();
        assert_eq!(
            outputs.len(),
            case["outputs"].as_object().unwrap().len(),
            "{name}"
        );
        for output in outputs {
            let output_name = output["name"].as_str().unwrap();
            assert_tensor(
                &format!("{name} {output_name}"),
                output,
                &case["outputs"][output_name],
            );
        }
        // one output asked for: only that one
        let (first, expected) = case["outputs"].as_object().unwrap().iter().next().unwrap();
        let body = json!({ "inputs": inputs, "outputs": [{"name": first}] }).to_string();
        let answer = send(
            &app,
            json_request("POST", &format!("/v2/models/{name}/infer"), &body),
        )
        .await;
        assert_eq!(
            answer.json["outputs"].as_array().unwrap().len(),
            1,
            "{}",
            answer.text
        );
        assert_tensor(first, &answer.json["outputs"][0], expected);
        // metadata lists every input and output
        let meta = send(&app, json_request("GET", &format!("/v2/models/{name}"), "")).await;
        assert_eq!(
            meta.json["inputs"].as_array().unwrap().len(),
            case["inputs"].as_object().unwrap().len(),
            "{}",
            meta.text
        );
        assert_eq!(
            meta.json["outputs"].as_array().unwrap().len(),
            case["outputs"].as_object().unwrap().len()
        );

        // native: inputs by name, nested
        let answer = send(
            &app,
            json_request("POST", "/predict", &native_body(&case).to_string()),
        )
        .await;
        assert_eq!(answer.status, 200, "{name}: {}", answer.text);
        // served from a bare file, the regressor answers tensors; the others as detected
        if name == "regressor" {
            assert_tensor("y", &answer.json["outputs"]["y"], &case["outputs"]["y"]);
        } else {
            assert_native(name, &answer.json, &case);
        }

        // TF Serving, row format: one object per row keyed by input name
        let rows = shape_of(case["inputs"].as_object().unwrap().values().next().unwrap())[0];
        let instances: Vec<Value> = (0..rows)
            .map(|r| {
                Value::Object(
                    case["inputs"]
                        .as_object()
                        .unwrap()
                        .iter()
                        .map(|(n, t)| {
                            let shape = shape_of(t);
                            let size: usize = shape[1..].iter().product();
                            let data = t["data"].as_array().unwrap();
                            (
                                n.clone(),
                                nested(&data[r * size..(r + 1) * size], &shape[1..]),
                            )
                        })
                        .collect(),
                )
            })
            .collect();
        let body = json!({ "instances": instances }).to_string();
        let answer = send(
            &app,
            json_request("POST", &format!("/v1/models/{name}:predict"), &body),
        )
        .await;
        assert_eq!(answer.status, 200, "{name}: {}", answer.text);
        let predictions = answer.json["predictions"].as_array().unwrap();
        assert_eq!(predictions.len(), rows);
        let outputs = case["outputs"].as_object().unwrap();
        for (output_name, expected) in outputs {
            let got: Vec<Value> = if outputs.len() == 1 {
                predictions.clone()
            } else {
                predictions.iter().map(|p| p[output_name].clone()).collect()
            };
            assert_values(
                &format!("{name} TF {output_name}"),
                &Value::Array(got),
                expected,
            );
        }
        // TF Serving, columnar: a dict of inputs
        let columns: Map<String, Value> = case["inputs"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(n, t)| {
                (
                    n.clone(),
                    nested(t["data"].as_array().unwrap(), &shape_of(t)),
                )
            })
            .collect();
        let body = json!({ "inputs": columns }).to_string();
        let answer = send(
            &app,
            json_request("POST", &format!("/v1/models/{name}:predict"), &body),
        )
        .await;
        assert_eq!(answer.status, 200, "{name}: {}", answer.text);
        for (output_name, expected) in outputs {
            let got = if outputs.len() == 1 {
                &answer.json["outputs"]
            } else {
                &answer.json["outputs"][output_name]
            };
            assert_values(&format!("{name} TF columnar {output_name}"), got, expected);
        }
    }
}

#[tokio::test]
async fn curl_default_form_content_type_is_answered_as_json() {
    let app = app("two_inputs").await;
    let case = case("two_inputs");
    let request = axum::http::Request::post("/predict")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(native_body(&case).to_string()))
        .unwrap();
    let answer = send(&app, request).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_tensor(
        "score",
        &answer.json["outputs"]["score"],
        &case["outputs"]["score"],
    );
}

#[tokio::test]
async fn tensors_that_break_a_rule_get_a_400_naming_the_input_and_the_rule() {
    let app = app("two_inputs").await;
    let features = json!({"name": "features", "datatype": "FP32", "shape": [1, 4], "data": [0.1, 0.2, 0.3, 0.4]});
    let ids = |data: Value, shape: Value| json!({"name": "ids", "datatype": "INT64", "shape": shape, "data": data});
    let cases: Vec<(Value, &str)> = vec![
        (json!({"inputs": [features, ids(json!([1, 1.5]), json!([1, 2]))]}), "input 'ids', data[1]: 1.5 is not a whole number (INT64)"),
        (json!({"inputs": [features, ids(json!([1, 1e30]), json!([1, 2]))]}), "input 'ids', data[1]: 1e+30 is not a whole number (INT64)"),
        (json!({"inputs": [features, ids(json!([1, "2"]), json!([1, 2]))]}), "input 'ids', data[1]: is a string, expected a number (INT64)"),
        (json!({"inputs": [features]}), "missing input 'ids'"),
        (json!({"inputs": [features, features, ids(json!([1, 2]), json!([1, 2]))]}), "input 'features' is given twice"),
        (json!({"inputs": [features, ids(json!([1, 2]), json!([1, 2])), {"name": "extra", "datatype": "FP32", "shape": [1], "data": [1]}]}), "unknown input 'extra': the model's inputs are 'features', 'ids'"),
        (json!({"inputs": [features, ids(json!([1, 2, 3, 4]), json!([2, 2]))]}), "input 'ids' has 2 along 'batch' (dimension 0) but input 'features' has 1: inputs sharing a dimension must agree"),
        (json!({"inputs": [features, {"name": "ids", "datatype": "FP32", "shape": [1, 2], "data": [1, 2]}]}), "input 'ids' is FP32 but the model takes INT64"),
        (json!({"inputs": [features, ids(json!([1, 2]), json!([1, 1, 2]))]}), "input 'ids' has shape [1, 1, 2] (rank 3) but the model takes rank 2"),
        (json!({"inputs": [features, ids(json!([1, 2]), json!([1, 3]))]}), "input 'ids' has 2 values but its shape [1, 3] needs 3"),
    ];
    for (body, message) in cases {
        let answer = send(
            &app,
            json_request("POST", "/v2/models/two_inputs/infer", &body.to_string()),
        )
        .await;
        assert_eq!(answer.status, 400, "{body}: {}", answer.text);
        assert!(answer.is_json(), "{}", answer.text);
        assert!(
            answer.error().contains(message),
            "{body}: '{}' lacks '{message}'",
            answer.error()
        );
    }
    // NaN is not JSON: the parser says so before any tensor is made
    let nan =
        r#"{"inputs": [{"name": "ids", "datatype": "INT64", "shape": [1, 2], "data": [1, NaN]}]}"#;
    let answer = send(
        &app,
        json_request("POST", "/v2/models/two_inputs/infer", nan),
    )
    .await;
    assert_eq!(answer.status, 400);
    assert!(
        answer.error().contains("invalid JSON body"),
        "{}",
        answer.text
    );
    // uint8 out of range and a BOOL that is a number, on the bool/uint8 model
    let app = app_bool().await;
    for (body, message) in [
        (
            json!({"inputs": {"mask": [[true, false, true, true]], "pixels": [[1, 2, 3, 256]]}}),
            "input 'pixels', data[0][3]: 256 is out of range for UINT8",
        ),
        (
            json!({"inputs": {"mask": [[1, 0, 1, 1]], "pixels": [[1, 2, 3, 4]]}}),
            "input 'mask', data[0][0]: is a number, expected true or false (BOOL)",
        ),
        (
            json!({"inputs": {"mask": [[true, false], [true]], "pixels": [[1, 2, 3, 4]]}}),
            "nested data must be rectangular",
        ),
    ] {
        let answer = send(&app, json_request("POST", "/predict", &body.to_string())).await;
        assert_eq!(answer.status, 400, "{body}: {}", answer.text);
        assert!(
            answer.error().contains(message),
            "{body}: '{}' lacks '{message}'",
            answer.error()
        );
    }
}

async fn app_bool() -> Router {
    app("bool_uint8").await
}

#[test]
fn tritonclient_with_its_defaults_talks_binary_both_ways_to_maas_serve() {
    for &(name, _) in MODELS {
        // the server is killed when dropped, also when the client's script fails
        let server = Server::start(fixture(name).to_str().unwrap(), &[])
            .unwrap_or_else(|| panic!("maas serve {name} never listened"));
        let case_path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("onnx/tensor/{name}.case.json"));
        let answer = python_json(
            "triton_infer.py",
            &[&server.address, name, case_path.to_str().unwrap()],
        );
        drop(server);
        assert_eq!(answer["live"], true);
        assert_eq!(answer["ready"], true);
        let case = case(name);
        for form in ["binary", "json"] {
            for (output_name, expected) in case["outputs"].as_object().unwrap() {
                assert_tensor(
                    &format!("{name} {form} {output_name}"),
                    &answer[form][output_name],
                    expected,
                );
            }
        }
        assert_eq!(
            answer["metadata"]["inputs"].as_array().unwrap().len(),
            case["inputs"].as_object().unwrap().len()
        );
    }
}

/// The Keras graph types only with concrete shapes: each batch size gets a plan of its own,
/// and a batch of one answers like the same row inside a batch of two.
#[tokio::test]
async fn a_graph_typed_per_batch_size_answers_every_batch_size() {
    let app = app("keras_convnet_nhwc").await;
    let case = case("keras_convnet_nhwc");
    let (input, image) = case["inputs"].as_object().unwrap().iter().next().unwrap();
    let (output, expected) = case["outputs"].as_object().unwrap().iter().next().unwrap();
    let per_image: usize = shape_of(image)[1..].iter().product();
    let classes = shape_of(expected)[1];
    for row in [1usize, 0] {
        let data = &image["data"].as_array().unwrap()[row * per_image..(row + 1) * per_image];
        let body = json!({"inputs": [{"name": input, "datatype": "FP32", "shape": [1, 8, 8, 3], "data": data}]});
        let answer = send(
            &app,
            json_request(
                "POST",
                "/v2/models/keras_convnet_nhwc/infer",
                &body.to_string(),
            ),
        )
        .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        let want = &expected["data"].as_array().unwrap()[row * classes..(row + 1) * classes];
        let single = json!({"datatype": "FP32", "shape": [1, classes], "data": want});
        assert_tensor(
            &format!("{output} row {row}"),
            &answer.json["outputs"][0],
            &single,
        );
    }
}

/// The model card shows the signature and task; commands made for rows of features say
/// clearly why they do not apply to a tensor model.
#[test]
fn the_card_shows_the_signature_and_row_commands_refuse_tensor_models_clearly() {
    let dir = scratch("tensor-cli");
    let store = dir.join("store").display().to_string();
    publish(&store, "two_inputs", None, None);
    let card = maas_ok(&["models", "show", &format!("{store}/two_inputs")]);
    assert!(card.contains("## Signature"), "{card}");
    assert!(card.contains("Task: tensor"), "{card}");
    assert!(
        card.contains("| input | `features` | FP32 | [batch, 4] |"),
        "{card}"
    );
    assert!(
        card.contains("| input | `ids` | INT64 | [batch, 2] |"),
        "{card}"
    );
    assert!(
        card.contains("| output | `score` | FP32 | [batch, 2] |"),
        "{card}"
    );

    let csv = write(&dir, "rows.csv", "1,2,3,4\n");
    let err = maas_err(&[
        "predict",
        "--model",
        &format!("{store}/two_inputs"),
        "--input",
        &csv,
    ]);
    assert!(
        err.contains("CSV rows need a model with one [batch, features] float32 input; this one takes 'features' float32 [-1, 4], 'ids' int64 [-1, 2]"),
        "{err}"
    );
    let rows = write(&dir, "rows.json", r#"{"inputs": [[1, 2, 3, 4]]}"#);
    let err = maas_err(&[
        "predict",
        "--model",
        &format!("{store}/two_inputs"),
        "--input",
        &rows,
    ]);
    assert!(
        err.contains(
            "this model takes named inputs ('features' float32 [-1, 4], 'ids' int64 [-1, 2])"
        ),
        "{err}"
    );
    let data = write(&dir, "labelled.csv", "label,a,b,c,d\nx,1,2,3,4\n");
    let err = maas_err(&[
        "eval",
        "--model",
        &format!("{store}/two_inputs"),
        "--data",
        &data,
    ]);
    assert!(
        err.contains("maas eval measures classifiers and regressors that take rows of float32 features; this model is a tensor model"),
        "{err}"
    );
}
