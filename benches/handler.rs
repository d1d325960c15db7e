//! Handler, inference and model-load benchmarks on the reference model (1000 → 512 ReLU → 10
//! softmax): whole HTTP handler in-process (JSON bytes in → JSON bytes out through the router)
//! and raw tract inference, at batch 1, 32 and 256, with the inference threads `maas serve`
//! uses (`MAAS_INFERENCE_THREADS`, by default the cores), plus batch 256 on one thread.
//!
//! Also writes the model and the request bodies to `target/bench/` so that
//! `benches/compare.sh` runs onnxruntime on exactly the same ONNX and rows.

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
    let served = ServedModel {
        name: "reference".into(),
        version: Some(1),
        sha256: maas::store::sha256_hex(&onnx),
        model: model.clone(),
        load_time: Default::default(),
    };
    let app = router(ModelHandle::fixed(served), config);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");

    let mut handler = c.benchmark_group("handler_native");
    for (b, body) in &bodies {
        let body = axum::body::Bytes::from(body.clone());
        handler.throughput(Throughput::Elements(*b as u64));
        handler.bench_with_input(BenchmarkId::from_parameter(b), &body, |bench, body| {
            bench.iter(|| {
                runtime.block_on(async {
                    let request = Request::post("/predict")
                        .header("content-type", "application/json")
                        .body(Body::from(body.clone()))
                        .expect("request");
                    let response = app.clone().oneshot(request).await.expect("response");
                    assert!(response.status().is_success());
                    response
                        .into_body()
                        .collect()
                        .await
                        .expect("body")
                        .to_bytes()
                })
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
    let mut inference = c.benchmark_group("inference");
    for &b in &BATCHES {
        inference.throughput(Throughput::Elements(b as u64));
        inference.bench_with_input(BenchmarkId::from_parameter(b), &rows(b), |bench, x| {
            bench.iter(|| model.predict(x, b).expect("predict"))
        });
    }
    inference.finish();

    // per-core comparison with onnxruntime's single-threaded session
    maas::inference::set_threads(1).expect("one thread");
    let mut single = c.benchmark_group("inference_1_thread");
    single.throughput(Throughput::Elements(256));
    single.bench_with_input(BenchmarkId::from_parameter(256), &rows(256), |bench, x| {
        bench.iter(|| model.predict(x, 256).expect("predict"))
    });
    single.finish();
}

criterion_group!(name = handler; config = Criterion::default().sample_size(30); targets = benches);
criterion_main!(handler);
