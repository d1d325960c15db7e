//! A closed-loop load client for `maas serve`, the same for its three wire forms so they compare
//! in one run: KServe V2 over HTTP with a JSON body, with the binary tensor extension, and over
//! gRPC (tonic, raw contents). `C` connections each send one request after another for `S`
//! seconds; prints JSON: requests, answered, refused by the admission limit (503 /
//! RESOURCE_EXHAUSTED), other errors, lost (sent and never answered: resets and timeouts),
//! attempts that could not connect, requests/s and the p50/p99 latency of the admitted ones.
//!
//! `cargo bench --bench load_client -- PROTOCOL ADDRESS MODEL INPUT FEATURES BATCH CONNECTIONS SECONDS`
//! with PROTOCOL `json`, `binary` or `grpc` (ADDRESS the HTTP or the gRPC `host:port`).
//! wrk cannot speak gRPC, and ghz is not installable offline, hence this client (run by
//! `benches/serve_load.sh`).
// test code: a failed unwrap is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use maas::grpc::inference::grpc_inference_service_client::GrpcInferenceServiceClient;
use maas::grpc::inference::{model_infer_request::InferInputTensor, ModelInferRequest};
use serde_json::json;
use tokio::sync::Mutex;

#[derive(Default)]
struct Tally {
    answered: u64,
    refused: u64,
    errors: u64,
    lost: u64,
    not_connected: u64,
    latencies: Vec<Duration>,
}

enum Outcome {
    Answered(Duration),
    /// 503 or RESOURCE_EXHAUSTED: the admission limit.
    Refused,
    /// Another error answer.
    Error,
    /// Sent, and no answer came (reset, closed, timed out).
    Lost,
    /// The connection could not be made (the server has closed its listener).
    NotConnected,
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [protocol, address, model, input, features, batch, connections, seconds] = args.as_slice()
    else {
        eprintln!(
            "usage: load_client PROTOCOL ADDRESS MODEL INPUT FEATURES BATCH CONNECTIONS SECONDS"
        );
        std::process::exit(2);
    };
    let parse = |s: &str| -> usize {
        s.parse().unwrap_or_else(|_| {
            eprintln!("not a number: {s}");
            std::process::exit(2)
        })
    };
    let (features, batch, connections) = (parse(features), parse(batch), parse(connections));
    let duration = Duration::from_secs(parse(seconds) as u64);
    let values: Vec<f32> = (0..batch * features)
        .map(|i| (i % 17) as f32 * 0.1)
        .collect();
    let tally = Arc::new(Mutex::new(Tally::default()));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..connections {
        let tally = tally.clone();
        let (protocol, address, model, input) = (
            protocol.clone(),
            address.clone(),
            model.clone(),
            input.clone(),
        );
        let values = values.clone();
        workers.push(tokio::spawn(async move {
            let sender = Sender::new(
                &protocol, &address, &model, &input, features, batch, &values,
            )
            .await;
            while started.elapsed() < duration {
                let outcome = sender.send().await;
                let mut t = tally.lock().await;
                match outcome {
                    Outcome::Answered(latency) => {
                        t.answered += 1;
                        t.latencies.push(latency);
                    }
                    Outcome::Refused => t.refused += 1,
                    Outcome::Error => t.errors += 1,
                    Outcome::Lost => t.lost += 1,
                    Outcome::NotConnected => {
                        t.not_connected += 1;
                        drop(t);
                        // a refused connection (the server is gone) must not spin
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
        }));
    }
    for worker in workers {
        let _ = worker.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut t = tally.lock().await;
    t.latencies.sort();
    let quantile = |q: f64| -> f64 {
        if t.latencies.is_empty() {
            return 0.0;
        }
        let i = ((t.latencies.len() as f64 * q).ceil() as usize).clamp(1, t.latencies.len()) - 1;
        t.latencies[i].as_secs_f64() * 1e3
    };
    println!(
        "{}",
        json!({
            "protocol": protocol, "batch": batch, "connections": connections,
            "requests": t.answered + t.refused + t.errors + t.lost,
            "answered": t.answered, "refused": t.refused, "errors": t.errors, "lost": t.lost,
            "not_connected": t.not_connected,
            "answered_per_second": t.answered as f64 / elapsed,
            "p50_ms": quantile(0.50), "p99_ms": quantile(0.99),
        })
    );
}

/// One connection's way of sending the request.
enum Sender {
    Http {
        client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
        uri: String,
        body: Bytes,
        header_length: Option<usize>,
    },
    Grpc {
        client: GrpcInferenceServiceClient<tonic::transport::Channel>,
        request: ModelInferRequest,
    },
}

impl Sender {
    async fn new(
        protocol: &str,
        address: &str,
        model: &str,
        input: &str,
        features: usize,
        batch: usize,
        values: &[f32],
    ) -> Sender {
        let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        match protocol {
            "grpc" => {
                let client = loop {
                    match GrpcInferenceServiceClient::connect(format!("http://{address}")).await {
                        Ok(client) => break client,
                        Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                };
                let client = client.max_decoding_message_size(usize::MAX);
                Sender::Grpc {
                    client,
                    request: ModelInferRequest {
                        model_name: model.to_string(),
                        inputs: vec![InferInputTensor {
                            name: input.to_string(),
                            datatype: "FP32".into(),
                            shape: vec![batch as i64, features as i64],
                            ..Default::default()
                        }],
                        raw_input_contents: vec![raw],
                        ..Default::default()
                    },
                }
            }
            form => {
                let binary = form == "binary";
                let (body, header_length) = if binary {
                    let header = json!({
                        "inputs": [{"name": input, "datatype": "FP32", "shape": [batch, features],
                                    "parameters": {"binary_data_size": raw.len()}}],
                        "parameters": {"binary_data_output": true}
                    })
                    .to_string();
                    let mut body = header.clone().into_bytes();
                    body.extend_from_slice(&raw);
                    (body, Some(header.len()))
                } else {
                    let body = json!({
                        "inputs": [{"name": input, "datatype": "FP32", "shape": [batch, features], "data": values}]
                    });
                    (body.to_string().into_bytes(), None)
                };
                let client = Client::builder(TokioExecutor::new())
                    .pool_max_idle_per_host(1)
                    .build_http();
                Sender::Http {
                    client,
                    uri: format!("http://{address}/v2/models/{model}/infer"),
                    body: Bytes::from(body),
                    header_length,
                }
            }
        }
    }

    async fn send(&self) -> Outcome {
        let started = Instant::now();
        match self {
            Sender::Http {
                client,
                uri,
                body,
                header_length,
            } => {
                let mut request = hyper::Request::post(uri.as_str());
                request = match header_length {
                    Some(n) => request
                        .header("content-type", "application/octet-stream")
                        .header("inference-header-content-length", n.to_string()),
                    None => request.header("content-type", "application/json"),
                };
                let Ok(request) = request.body(Full::new(body.clone())) else {
                    return Outcome::Error;
                };
                let answer =
                    tokio::time::timeout(Duration::from_secs(30), client.request(request)).await;
                match answer {
                    Ok(Ok(response)) => {
                        let status = response.status().as_u16();
                        if response.into_body().collect().await.is_err() {
                            return Outcome::Lost;
                        }
                        match status {
                            200 => Outcome::Answered(started.elapsed()),
                            503 => Outcome::Refused,
                            _ => Outcome::Error,
                        }
                    }
                    Ok(Err(e)) if e.is_connect() => Outcome::NotConnected,
                    _ => Outcome::Lost,
                }
            }
            Sender::Grpc { client, request } => {
                let mut client = client.clone();
                let answer = tokio::time::timeout(
                    Duration::from_secs(30),
                    client.model_infer(request.clone()),
                )
                .await;
                match answer {
                    Ok(Ok(_)) => Outcome::Answered(started.elapsed()),
                    Ok(Err(status)) if status.code() == tonic::Code::ResourceExhausted => {
                        Outcome::Refused
                    }
                    Ok(Err(status)) if status.code() == tonic::Code::Unavailable => Outcome::Lost,
                    Ok(Err(_)) => Outcome::Error,
                    Err(_) => Outcome::Lost,
                }
            }
        }
    }
}
