//! Any model through Lambda events: the fixtures of `onnx/tensor/` (several inputs, int64, bool
//! and uint8 inputs, several outputs) answered like onnxruntime as HTTP API v2 events with a
//! JSON body, and as function URL events carrying KServe's binary tensor extension
//! base64-encoded, answered base64-encoded with the binary header.
// test code: a failed unwrap is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use base64::Engine;
use lambda_http::Context;
use maas::server::{router, state::ModelHandle, state::ServerConfig};
use serde_json::{json, Value};

const NUMERIC: &[(&str, usize)] = &[
    ("BOOL", 1),
    ("UINT8", 1),
    ("INT32", 4),
    ("INT64", 8),
    ("FP32", 4),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn case(name: &str) -> Value {
    let path = root().join(format!("onnx/tensor/{name}.case.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn event(file: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("events")
        .join(file);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

async fn app(name: &str) -> axum::Router {
    let file = root().join(format!("onnx/tensor/{name}.onnx"));
    let handle = ModelHandle::load(file.display().to_string().parse().unwrap(), None).await;
    handle.current().unwrap();
    router(handle, ServerConfig::default())
}

/// Little-endian bytes of a case tensor's values.
fn le_bytes(tensor: &Value) -> Vec<u8> {
    let data = tensor["data"].as_array().unwrap();
    let mut out = Vec::new();
    for v in data {
        match tensor["datatype"].as_str().unwrap() {
            "BOOL" => out.push(v.as_bool().unwrap() as u8),
            "UINT8" => out.push(v.as_u64().unwrap() as u8),
            "INT32" => out.extend((v.as_i64().unwrap() as i32).to_le_bytes()),
            "INT64" => out.extend(v.as_i64().unwrap().to_le_bytes()),
            "FP32" => out.extend((v.as_f64().unwrap() as f32).to_le_bytes()),
            other => panic!("no encoder for {other}"),
        }
    }
    out
}

/// Decodes little-endian bytes of `datatype` to JSON numbers (or booleans).
fn from_le(datatype: &str, bytes: &[u8]) -> Vec<Value> {
    let size = NUMERIC.iter().find(|(d, _)| *d == datatype).unwrap().1;
    bytes
        .chunks_exact(size)
        .map(|b| match datatype {
            "BOOL" => json!(b[0] != 0),
            "UINT8" => json!(b[0]),
            "INT32" => json!(i32::from_le_bytes(b.try_into().unwrap())),
            "INT64" => json!(i64::from_le_bytes(b.try_into().unwrap())),
            _ => json!(f32::from_le_bytes(b.try_into().unwrap())),
        })
        .collect()
}

fn assert_close(what: &str, got: &[Value], expected: &Value) {
    let want = expected["data"].as_array().unwrap();
    assert_eq!(got.len(), want.len(), "{what}");
    assert!(!want.is_empty(), "{what}");
    for (g, w) in got.iter().zip(want) {
        match (g.as_f64(), w.as_f64(), expected["datatype"] == "FP32") {
            (Some(g), Some(w), true) => assert!((g - w).abs() <= 1e-5, "{what}: {g} vs {w}"),
            _ => assert_eq!(g, w, "{what}"),
        }
    }
}

fn context() -> Context {
    let mut context = Context::default();
    context.request_id = "tensor-events".into();
    context
}

#[tokio::test]
async fn several_inputs_and_outputs_as_json_and_as_base64_binary_events() {
    for name in ["two_inputs", "bool_uint8", "two_outputs"] {
        let app = app(name).await;
        let case = case(name);
        let inputs = case["inputs"].as_object().unwrap();
        let outputs = case["outputs"].as_object().unwrap();

        // HTTP API v2 event, KServe JSON
        let mut v2 = event("apigw-v2.json");
        v2["rawPath"] = json!(format!("/v2/models/{name}/infer"));
        v2["requestContext"]["http"]["path"] = v2["rawPath"].clone();
        let json_inputs: Vec<Value> = inputs
            .iter()
            .map(|(n, t)| json!({"name": n, "datatype": t["datatype"], "shape": t["shape"], "data": t["data"]}))
            .collect();
        v2["body"] = json!(json!({ "inputs": json_inputs }).to_string());
        v2["isBase64Encoded"] = json!(false);
        let response = predict::handle_event(app.clone(), v2, context())
            .await
            .unwrap();
        assert_eq!(response["statusCode"], 200, "{response}");
        let body: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
        for output in body["outputs"].as_array().unwrap() {
            let n = output["name"].as_str().unwrap();
            assert_close(
                &format!("{name} JSON {n}"),
                output["data"].as_array().unwrap(),
                &outputs[n],
            );
        }

        // function URL event: binary tensors both ways, base64 in the event
        let mut header_inputs = Vec::new();
        let mut binary = Vec::new();
        for (n, t) in inputs {
            let bytes = le_bytes(t);
            header_inputs.push(
                json!({"name": n, "datatype": t["datatype"], "shape": t["shape"],
                "parameters": {"binary_data_size": bytes.len()}}),
            );
            binary.extend(bytes);
        }
        let wanted: Vec<Value> = outputs
            .keys()
            .map(|n| json!({"name": n, "parameters": {"binary_data": true}}))
            .collect();
        let header = json!({ "inputs": header_inputs, "outputs": wanted }).to_string();
        let mut body = header.clone().into_bytes();
        body.extend(&binary);
        let mut url = event("function-url.json");
        url["rawPath"] = json!(format!("/v2/models/{name}/infer"));
        url["requestContext"]["http"]["path"] = url["rawPath"].clone();
        url["headers"]["content-type"] = json!("application/octet-stream");
        url["headers"]["inference-header-content-length"] = json!(header.len().to_string());
        url["body"] = json!(base64::engine::general_purpose::STANDARD.encode(&body));
        url["isBase64Encoded"] = json!(true);
        let response = predict::handle_event(app.clone(), url, context())
            .await
            .unwrap();
        assert_eq!(response["statusCode"], 200, "{response}");
        assert_eq!(
            response["isBase64Encoded"], true,
            "a binary answer is base64 in the event"
        );
        let headers = &response["headers"];
        assert_eq!(headers["content-type"], "application/octet-stream");
        let length: usize = headers["inference-header-content-length"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(response["body"].as_str().unwrap())
            .unwrap();
        let (json_part, mut rest) = bytes.split_at(length);
        let answer: Value = serde_json::from_slice(json_part).unwrap();
        for output in answer["outputs"].as_array().unwrap() {
            let n = output["name"].as_str().unwrap();
            let size = output["parameters"]["binary_data_size"].as_u64().unwrap() as usize;
            assert!(output.get("data").is_none(), "{output}");
            let (mine, tail) = rest.split_at(size);
            rest = tail;
            let values = from_le(output["datatype"].as_str().unwrap(), mine);
            assert_close(&format!("{name} binary {n}"), &values, &outputs[n]);
        }
        assert!(rest.is_empty(), "{name}: bytes left over");
    }
}
