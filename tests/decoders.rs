//! Decoder-only language models as Hugging Face optimum exports them (`onnx/decoders/`, made by
//! `tests/python/make_decoders.py`: GPT-2 and Llama with grouped-query attention and rotary
//! embeddings, random weights, `optimum-cli export onnx --task text-generation-with-past`),
//! with onnxruntime's answers for two decoding steps. Published, their dimensions keep the
//! graph's names (`batch_size`, `sequence_length`, `past_sequence_length + sequence_length`);
//! loaded, one optimised plan serves every sequence and past length; the first step, whose past
//! has length 0, is answered through KServe V2 like onnxruntime (≤ 1e-5), and so is the second;
//! inputs that disagree on a shared dimension are refused.
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
use serde_json::{json, Value};

const DECODERS: [&str; 2] = ["gpt2", "llama"];

fn folder(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("onnx/decoders/{name}"))
}

/// `{"steps": [{"inputs": {name: tensor}, "outputs": {name: tensor}}, …]}` from onnxruntime.
fn steps(name: &str) -> Vec<Value> {
    let case: Value =
        serde_json::from_slice(&std::fs::read(folder(name).join("case.json")).unwrap()).unwrap();
    case["steps"].as_array().unwrap().clone()
}

fn publish(store: &Path, name: &str) -> String {
    let file = folder(name).join("model.onnx");
    maas_ok(&[
        "publish",
        "--onnx",
        file.to_str().unwrap(),
        "--name",
        name,
        "--store",
        store.to_str().unwrap(),
    ]);
    format!("{}/{name}", store.display())
}

async fn served(reference: &str) -> (Router, Arc<ModelHandle>) {
    let handle = ModelHandle::load(reference.parse().unwrap(), None).await;
    handle.current().unwrap();
    (router(Arc::clone(&handle), ServerConfig::default()), handle)
}

/// A KServe V2 request of a step's inputs, flat data with datatype and shape.
fn kserve_body(inputs: &Value) -> String {
    let inputs: Vec<Value> = inputs
        .as_object()
        .unwrap()
        .iter()
        .map(|(n, t)| json!({"name": n, "datatype": t["datatype"], "shape": t["shape"], "data": t["data"]}))
        .collect();
    json!({ "inputs": inputs }).to_string()
}

fn assert_close(what: &str, got: &Value, want: &Value) {
    assert_eq!(got["datatype"], want["datatype"], "{what}: datatype");
    assert_eq!(got["shape"], want["shape"], "{what}: shape");
    let (got, want) = (
        got["data"].as_array().unwrap(),
        want["data"].as_array().unwrap(),
    );
    assert_eq!(got.len(), want.len(), "{what}: value count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let (g, w) = (g.as_f64().unwrap(), w.as_f64().unwrap());
        assert!((g - w).abs() <= 1e-5, "{what}[{i}]: {g} vs onnxruntime {w}");
    }
}

/// The inputs of a first step (zero-length past) for a prompt of `length` tokens, built from a
/// case's first step so that every past input has its model's heads and head size.
fn prompt_of(first: &Value, length: usize) -> Value {
    let mut inputs = first["inputs"].clone();
    let ids: Vec<Value> = (0..length).map(|i| json!((i * 7 + 3) % 500)).collect();
    inputs["input_ids"] = json!({"datatype": "INT64", "shape": [1, length], "data": ids});
    inputs["attention_mask"] =
        json!({"datatype": "INT64", "shape": [1, length], "data": vec![1; length]});
    if inputs.get("position_ids").is_some() {
        let positions: Vec<usize> = (0..length).collect();
        inputs["position_ids"] =
            json!({"datatype": "INT64", "shape": [1, length], "data": positions});
    }
    inputs
}

#[tokio::test]
async fn optimum_decoders_keep_their_dimension_names_and_answer_like_onnxruntime_with_an_empty_past(
) {
    let store = scratch("decoders");
    for name in DECODERS {
        let reference = publish(&store, name);
        // the card names every symbolic dimension as the graph does
        let card = maas_ok(&["models", "show", &reference]);
        assert!(
            card.contains("| input | `input_ids` | INT64 | [batch_size, sequence_length] |"),
            "{name}: {card}"
        );
        assert!(
            card.contains("`past_key_values.0.key` | FP32 | [batch_size, ")
                && card.contains(", past_sequence_length, 8] |"),
            "{name}: {card}"
        );
        let manifest: Value =
            serde_json::from_str(&maas_ok(&["models", "show", "--json", &reference])).unwrap();
        let mask = manifest["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == "attention_mask")
            .unwrap();
        assert_eq!(mask["shape"], json!([-1, -1]), "{name}");
        assert_eq!(
            mask["dim_names"],
            json!(["batch_size", "past_sequence_length + sequence_length"]),
            "{name}"
        );

        let (app, handle) = served(&reference).await;
        let model = handle.current().unwrap();
        assert!(
            model.model.is_symbolic(),
            "{name}: one plan for every shape, but {:?}",
            model.model.per_shape_reason()
        );
        assert_eq!(model.model.plans_built(), 1, "{name}");
        // KServe V2 metadata keeps -1 for symbolic dimensions, as the protocol wants
        let metadata = send(&app, json_request("GET", &format!("/v2/models/{name}"), "")).await;
        assert_eq!(metadata.status, 200, "{}", metadata.text);
        assert_eq!(metadata.json["inputs"][0]["shape"], json!([-1, -1]));

        // two decoding steps: the prompt with a zero-length past, then one token on its past
        let steps = steps(name);
        let past = &steps[0]["inputs"]["past_key_values.0.key"]["shape"];
        assert_eq!(past[2], 0, "{name}: the first step's past is empty");
        for (k, step) in steps.iter().enumerate() {
            let answer = send(
                &app,
                json_request(
                    "POST",
                    &format!("/v2/models/{name}/infer"),
                    &kserve_body(&step["inputs"]),
                ),
            )
            .await;
            assert_eq!(answer.status, 200, "{name} step {k}: {}", answer.text);
            let outputs = answer.json["outputs"].as_array().unwrap();
            let expected = step["outputs"].as_object().unwrap();
            assert_eq!(outputs.len(), expected.len(), "{name} step {k}");
            for output in outputs {
                let output_name = output["name"].as_str().unwrap();
                assert_close(
                    &format!("{name} step {k} {output_name}"),
                    output,
                    &expected[output_name],
                );
            }
        }

        // ten prompt lengths: every answer shaped by its length, no further plan built
        for length in 1..=10 {
            let inputs = prompt_of(&steps[0], length);
            let answer = send(
                &app,
                json_request(
                    "POST",
                    &format!("/v2/models/{name}/infer"),
                    &kserve_body(&inputs),
                ),
            )
            .await;
            assert_eq!(
                answer.status, 200,
                "{name} length {length}: {}",
                answer.text
            );
            let logits = answer.json["outputs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|o| o["name"] == "logits")
                .unwrap();
            assert_eq!(logits["shape"], json!([1, length, 512]), "{name}");
        }
        assert_eq!(model.model.plans_built(), 1, "{name}: no plan per shape");

        // an attention mask whose length is not past + sequence is refused, naming both
        let mut bad = prompt_of(&steps[0], 4);
        bad["attention_mask"] = json!({"datatype": "INT64", "shape": [1, 3], "data": [1, 1, 1]});
        let answer = send(
            &app,
            json_request(
                "POST",
                &format!("/v2/models/{name}/infer"),
                &kserve_body(&bad),
            ),
        )
        .await;
        assert_eq!(answer.status, 400, "{name}: {}", answer.text);
        assert!(
            answer.error().contains(
                "input 'attention_mask' has 3 along 'past_sequence_length + sequence_length' (dimension 1) but the other inputs make it 4"
            ),
            "{name}: {}",
            answer.text
        );
        // an empty batch is still refused
        let mut empty = prompt_of(&steps[0], 2);
        for (_, tensor) in empty.as_object_mut().unwrap() {
            let mut shape = tensor["shape"].as_array().unwrap().clone();
            shape[0] = json!(0);
            tensor["shape"] = Value::Array(shape);
            tensor["data"] = json!([]);
        }
        let answer = send(
            &app,
            json_request(
                "POST",
                &format!("/v2/models/{name}/infer"),
                &kserve_body(&empty),
            ),
        )
        .await;
        assert_eq!(answer.status, 400, "{name}: {}", answer.text);
        assert!(
            answer.error().contains("the batch is empty"),
            "{}",
            answer.text
        );
    }
}

#[test]
fn a_graph_typed_per_shape_builds_a_plan_per_batch_size_and_keeps_it() {
    // the Keras 3 convnet casts its input's shape to int32 before its Flatten's Reshape
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("onnx/tensor/keras_convnet_nhwc.onnx");
    let model = maas::inference::LoadedModel::from_bytes(&std::fs::read(file).unwrap()).unwrap();
    assert!(!model.is_symbolic());
    let spec = &model.inputs()[0];
    let per_row: usize = spec.shape[1..].iter().map(|&d| d as usize).product();
    for rows in [1, 2, 1, 3, 2] {
        let values = vec![0.5f32; rows * per_row];
        let mut shape = vec![rows];
        shape.extend(spec.shape[1..].iter().map(|&d| d as usize));
        let input = maas::tensor::Tensor::from_f32(&spec.name, shape, &values).unwrap();
        let outputs = model.run(&[input]).unwrap();
        assert_eq!(outputs[0].shape()[0], rows);
    }
    assert_eq!(model.plans_built(), 3, "one plan per batch size, kept");
}
