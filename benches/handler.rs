//! Handler, inference and model-load benchmarks on the reference model (1000 → 512 ReLU → 10
//! softmax): whole HTTP handler in-process (JSON bytes in → JSON bytes out through the router)
//! and raw tract inference, at batch 1, 32 and 256, with the inference threads `maas serve`
//! uses (`MAAS_INFERENCE_THREADS`, by default the cores), plus batch 256 on one thread.
//!
//! KServe V2 with JSON against the binary tensor extension (request and response), for a batch
//! of 256 × 1000 float32 on the reference model and one image-shaped `[1, 3, 224, 224]` tensor
//! (through a GlobalAveragePool model, so that the body dominates).
//!
//! Also writes the models and the request bodies to `target/bench/` so that
//! `benches/compare.sh` runs onnxruntime on exactly the same ONNX and bodies.
// test code: a failed unwrap is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use axum::body::Body;
use axum::http::Request;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use http_body_util::BodyExt;
use maas::inference::LoadedModel;
use maas::server::router;
use maas::server::state::{ModelHandle, ServedModel, ServerConfig};
use maas::training::{DenseLayer, Standardizer, TrainedModel};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tower::ServiceExt;

const FEATURES: usize = 1000;
const HIDDEN: usize = 512;
const CLASSES: usize = 10;
pub const BATCHES: [usize; 3] = [1, 32, 256];

fn bench_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&dir).expect("target/bench");
    dir
}

/// The reference architecture with seeded Glorot-uniform weights, exported like a trained model.
fn reference_onnx() -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut layer = |inputs: usize, outputs: usize| {
        let limit = (6.0 / (inputs + outputs) as f32).sqrt();
        DenseLayer {
            inputs,
            outputs,
            weight: (0..inputs * outputs)
                .map(|_| rng.random_range(-limit..limit))
                .collect(),
            bias: (0..outputs).map(|_| rng.random_range(-0.1..0.1)).collect(),
        }
    };
    let model = TrainedModel {
        task: maas::contract::Task::Classifier,
        standardizer: Standardizer {
            mean: vec![0.5; FEATURES],
            scale: vec![2.0; FEATURES],
        },
        layers: vec![layer(FEATURES, HIDDEN), layer(HIDDEN, CLASSES)],
        history: vec![],
        kept_epoch: 0,
    };
    let labels: Vec<String> = (0..CLASSES).map(|c| format!("class{c}")).collect();
    let names: Vec<String> = (0..FEATURES).map(|f| format!("f{f}")).collect();
    maas::export::to_onnx(&model, &labels, &names).expect("export")
}

/// `image [N, 3, 224, 224]` → GlobalAveragePool → Flatten → `pooled [N, 3]`: a model whose
/// time is the request's, not the network's.
fn image_onnx() -> Vec<u8> {
    use prost::Message;
    use tract_onnx::pb;
    let dim = |value| pb::tensor_shape_proto::Dimension {
        value: Some(value),
        ..Default::default()
    };
    use pb::tensor_shape_proto::dimension::Value::{DimParam, DimValue};
    let info = |name: &str, dims: Vec<pb::tensor_shape_proto::Dimension>| pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: pb::tensor_proto::DataType::Float as i32,
                shape: Some(pb::TensorShapeProto { dim: dims }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    let node = |op: &str, input: &str, output: &str| pb::NodeProto {
        op_type: op.into(),
        input: vec![input.into()],
        output: vec![output.into()],
        name: output.into(),
        ..Default::default()
    };
    pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        graph: Some(pb::GraphProto {
            name: "image".into(),
            node: vec![
                node("GlobalAveragePool", "image", "pool"),
                node("Flatten", "pool", "pooled"),
            ],
            input: vec![info(
                "image",
                vec![
                    dim(DimParam("N".into())),
                    dim(DimValue(3)),
                    dim(DimValue(224)),
                    dim(DimValue(224)),
                ],
            )],
            output: vec![info(
                "pooled",
                vec![dim(DimParam("N".into())), dim(DimValue(3))],
            )],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

/// A KServe V2 request for one FP32 input, as JSON and with the binary extension
/// (`(body, Inference-Header-Content-Length)`); outputs asked in the same form.
fn kserve_bodies(input: &str, shape: &[usize], values: &[f32]) -> (String, (Vec<u8>, usize)) {
    let json_body = serde_json::json!({
        "inputs": [{"name": input, "datatype": "FP32", "shape": shape, "data": values}]
    })
    .to_string();
    let header = serde_json::json!({
        "inputs": [{"name": input, "datatype": "FP32", "shape": shape,
                    "parameters": {"binary_data_size": values.len() * 4}}],
        "parameters": {"binary_data_output": true}
    })
    .to_string();
    let mut binary = header.clone().into_bytes();
    binary.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    (json_body, (binary, header.len()))
}

/// The whole answer of the router to one request, which must succeed.
async fn answer(app: &axum::Router, request: Request<Body>) -> axum::body::Bytes {
    let response = app.clone().oneshot(request).await.expect("response");
    assert!(response.status().is_success());
    response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
}

fn request_body(rows: usize) -> String {
    let mut rng = ChaCha8Rng::seed_from_u64(rows as u64);
    let rows: Vec<Vec<f32>> = (0..rows)
        .map(|_| {
            (0..FEATURES)
                .map(|_| (rng.random_range(-3.0f32..3.0) * 1e4).round() / 1e4)
                .collect()
        })
        .collect();
    serde_json::json!({ "inputs": rows }).to_string()
}

fn benches(c: &mut Criterion) {
    // as `maas serve` runs: MAAS_INFERENCE_THREADS, by default the cores
    let config = ServerConfig {
        max_body_bytes: 64 << 20,
        ..ServerConfig::from_env().expect("configuration")
    };
    maas::inference::set_threads(config.inference_threads).expect("inference threads");
    let dir = bench_dir();
    let onnx = reference_onnx();
    std::fs::write(dir.join("reference.onnx"), &onnx).expect("write model");
    let bodies: Vec<(usize, String)> = BATCHES.iter().map(|&b| (b, request_body(b))).collect();
    for (b, body) in &bodies {
        std::fs::write(dir.join(format!("batch{b}.json")), body).expect("write request");
    }

    c.bench_function("model_load_optimise", |bench| {
        bench.iter(|| LoadedModel::from_bytes(&onnx).expect("load"))
    });

    let model = LoadedModel::from_bytes(&onnx).expect("load");
    let served = ServedModel::new(
        "reference".into(),
        Some(1),
        maas::store::sha256_hex(&onnx),
        model.clone(),
        Default::default(),
    );
    let app = router(ModelHandle::fixed(served), config.clone());
    // timers on: the admission wait and the request deadline use them
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    let mut handler = c.benchmark_group("handler_native");
    for (b, body) in &bodies {
        let body = axum::body::Bytes::from(body.clone());
        handler.throughput(Throughput::Elements(*b as u64));
        handler.bench_with_input(BenchmarkId::from_parameter(b), &body, |bench, body| {
            bench.iter(|| {
                let request = Request::post("/predict")
                    .header("content-type", "application/json")
                    .body(Body::from(body.clone()))
                    .expect("request");
                runtime.block_on(answer(&app, request))
            })
        });
    }
    handler.finish();

    let rows = |b: usize| -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(b as u64);
        (0..b * FEATURES)
            .map(|_| rng.random_range(-3.0..3.0))
            .collect()
    };
    // raw inference of `model` at every batch size, as group `name`
    let mut inference_group = |name: &str, model: &LoadedModel| {
        let mut group = c.benchmark_group(name);
        for &b in &BATCHES {
            group.throughput(Throughput::Elements(b as u64));
            group.bench_with_input(BenchmarkId::from_parameter(b), &rows(b), |bench, x| {
                bench.iter(|| model.predict(x, b).expect("predict"))
            });
        }
        group.finish();
    };
    inference_group("inference", &model);

    // the reference model quantised to int8 by onnxruntime (benches/precision_compare.py writes
    // it before compare.sh runs this): what tract makes of a lower-precision variant
    let int8_path = dir.join("reference-int8.onnx");
    if let Ok(int8) = std::fs::read(&int8_path) {
        let quantized = LoadedModel::from_bytes(&int8).expect("load the int8 model");
        inference_group("inference_int8", &quantized);
    }

    // per-core comparison with onnxruntime's single-threaded session
    maas::inference::set_threads(1).expect("one thread");
    let mut single = c.benchmark_group("inference_1_thread");
    single.throughput(Throughput::Elements(256));
    single.bench_with_input(BenchmarkId::from_parameter(256), &rows(256), |bench, x| {
        bench.iter(|| model.predict(x, 256).expect("predict"))
    });
    single.finish();
    maas::inference::set_threads(config.inference_threads).expect("inference threads");

    // KServe V2: JSON against the binary tensor extension, the same tensors both ways
    let image = image_onnx();
    std::fs::write(dir.join("image.onnx"), &image).expect("write model");
    let image_served = ServedModel::new(
        "image".into(),
        Some(1),
        maas::store::sha256_hex(&image),
        LoadedModel::from_bytes(&image).expect("load"),
        Default::default(),
    );
    let image_app = router(ModelHandle::fixed(image_served), config.clone());
    let mut rng = ChaCha8Rng::seed_from_u64(224);
    let pixels: Vec<f32> = (0..3 * 224 * 224)
        .map(|_| rng.random_range(0.0..1.0))
        .collect();
    let cases = [
        (
            "reference_256",
            &app,
            "reference",
            "input",
            vec![256, FEATURES],
            rows(256),
        ),
        (
            "image_1x3x224x224",
            &image_app,
            "image",
            "image",
            vec![1, 3, 224, 224],
            pixels,
        ),
    ];
    let mut kserve = c.benchmark_group("kserve_body");
    for (case, app, model, input, shape, values) in cases {
        let (json_body, (binary_body, header_length)) = kserve_bodies(input, &shape, &values);
        std::fs::write(dir.join(format!("kserve-{case}.json")), &json_body).expect("write");
        std::fs::write(dir.join(format!("kserve-{case}.bin")), &binary_body).expect("write");
        std::fs::write(
            dir.join(format!("kserve-{case}.header")),
            header_length.to_string(),
        )
        .expect("write");
        let uri = format!("/v2/models/{model}/infer");
        for (form, body, header) in [
            ("json", axum::body::Bytes::from(json_body), None),
            (
                "binary",
                axum::body::Bytes::from(binary_body),
                Some(header_length),
            ),
        ] {
            kserve.bench_with_input(BenchmarkId::new(form, case), &body, |bench, body| {
                bench.iter(|| {
                    let mut request = Request::post(uri.as_str());
                    if let Some(length) = header {
                        request = request
                            .header("content-type", "application/octet-stream")
                            .header("inference-header-content-length", length);
                    }
                    let request = request.body(Body::from(body.clone())).expect("request");
                    runtime.block_on(answer(app, request))
                })
            });
        }
    }
    kserve.finish();
}

criterion_group!(name = handler; config = Criterion::default().sample_size(30); targets = benches);
criterion_main!(handler);
