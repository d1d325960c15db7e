//! Text generation served: the fixture decoders (`onnx/decoders/`) published with
//! `maas publish --hf-dir` and answered by the OpenAI routes and KServe's generate extension.
//! Greedy completions on every route equal transformers' (the committed `greedy.json`) token
//! for token, streamed or not; the official `openai` package reads every answer of
//! `maas serve`, over HTTP/1.1 and HTTP/2; the hostile corpus's generation cases get their
//! 4xx in each protocol's error shape; a client that goes away mid-stream stops its generation
//! (counted in /metrics).
// test code: a failed unwrap is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/corpus.rs"]
mod corpus;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use maas::server::router;
use maas::server::state::{ModelHandle, ServerConfig};
use serde_json::{json, Value};

const DECODERS: [&str; 2] = ["gpt2", "llama"];

fn folder(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("onnx/decoders/{name}"))
}

/// A store with the decoder published as its export folder is (once per test process: the
/// tests share it).
fn published(name: &str) -> PathBuf {
    static STORES: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let mut stores = STORES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, store)) = stores.iter().find(|(n, _)| n == name) {
        return store.clone();
    }
    let store = scratch(&format!("text-serving-{name}"));
    stores.push((name.to_string(), store.clone()));
    maas_ok(&[
        "publish",
        "--hf-dir",
        folder(name).to_str().unwrap(),
        "--name",
        name,
        "--store",
        store.to_str().unwrap(),
    ]);
    store
}

fn greedy_cases(name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(folder(name).join("greedy.json")).unwrap();
    serde_json::from_str::<Value>(&text).unwrap()["cases"]
        .as_array()
        .unwrap()
        .clone()
}

/// Why transformers stopped: the end-of-text id (the last generated) or the token budget.
fn finish_reason(case: &Value, eos: u64) -> &'static str {
    let generated = case["generated_ids"].as_array().unwrap();
    if generated.last().and_then(Value::as_u64) == Some(eos) {
        "stop"
    } else {
        "length"
    }
}

fn eos(name: &str) -> u64 {
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(folder(name).join("config.json")).unwrap())
            .unwrap();
    config["eos_token_id"].as_u64().unwrap()
}

/// The `data:` payloads of a Server-Sent Events body.
fn events(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(str::to_string)
        .collect()
}

async fn app_for(name: &str, config: ServerConfig) -> axum::Router {
    let reference = format!("{}/{name}", published(name).display());
    let handle = ModelHandle::load(reference.parse().unwrap(), None).await;
    router(handle, config)
}

async fn post(app: &axum::Router, path: &str, body: Value) -> common::http::Answer {
    common::http::send(
        app,
        common::http::json_request("POST", path, &body.to_string()),
    )
    .await
}

#[tokio::test]
async fn greedy_completions_on_every_route_equal_transformers_token_for_token() {
    for name in DECODERS {
        let app = app_for(name, ServerConfig::default()).await;
        let metadata = common::http::send(
            &app,
            common::http::json_request("GET", &format!("/v2/models/{name}"), ""),
        )
        .await;
        assert_eq!(metadata.json["parameters"]["task"], "text-generation");
        let eos = eos(name);
        for case in greedy_cases(name) {
            let max_tokens = case["max_tokens"].as_u64().unwrap();
            let expected = case["text"].as_str().unwrap();
            let tokens = case["generated_ids"].as_array().unwrap().len();
            let prompt_tokens = case["prompt_ids"].as_array().unwrap().len();
            let finish = finish_reason(&case, eos);
            let label = format!("{name} {}", case["prompt"]);
            let chat = case["chat"].as_bool().unwrap();
            let (paths, key) = if chat {
                (
                    ["/openai/v1/chat/completions", "/v1/chat/completions"],
                    "messages",
                )
            } else {
                (["/openai/v1/completions", "/v1/completions"], "prompt")
            };
            for path in paths {
                let mut body = json!({"model": name, "max_tokens": max_tokens, "temperature": 0});
                body[key] = case["prompt"].clone();
                let answer = post(&app, path, body.clone()).await;
                assert_eq!(answer.status, 200, "{label} {path}: {}", answer.text);
                let choice = &answer.json["choices"][0];
                let text = if chat {
                    assert_eq!(choice["message"]["role"], "assistant");
                    choice["message"]["content"].as_str().unwrap()
                } else {
                    choice["text"].as_str().unwrap()
                };
                assert_eq!(text, expected, "{label} {path}");
                assert_eq!(choice["finish_reason"], finish, "{label} {path}");
                assert_eq!(answer.json["usage"]["completion_tokens"], tokens, "{label}");
                assert_eq!(
                    answer.json["usage"]["prompt_tokens"], prompt_tokens,
                    "{label}"
                );
                assert_eq!(answer.json["model"], name);

                // streamed: the same text in pieces, the finish reason last, then [DONE]
                body["stream"] = json!(true);
                let streamed = post(&app, path, body).await;
                assert_eq!(streamed.status, 200, "{label}: {}", streamed.text);
                assert_eq!(
                    streamed.content_type.as_deref(),
                    Some("text/event-stream"),
                    "{label}"
                );
                let events = events(&streamed.text);
                assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "{label}");
                let chunks: Vec<Value> = events[..events.len() - 1]
                    .iter()
                    .map(|e| serde_json::from_str(e).unwrap())
                    .collect();
                let mut pieces = String::new();
                for chunk in &chunks {
                    let choice = &chunk["choices"][0];
                    let piece = if chat {
                        choice["delta"]["content"].as_str()
                    } else {
                        choice["text"].as_str()
                    };
                    pieces.push_str(piece.unwrap_or(""));
                }
                assert_eq!(pieces, expected, "{label} streamed");
                let last = &chunks.last().unwrap()["choices"][0];
                assert_eq!(last["finish_reason"], finish, "{label}");
            }
            if chat {
                continue;
            }
            // KServe's generate extension, buffered and streamed, on the versioned path too
            let body = json!({"text_input": case["prompt"], "parameters": {"max_tokens": max_tokens, "temperature": 0}});
            for path in [
                format!("/v2/models/{name}/generate"),
                format!("/v2/models/{name}/versions/1/generate"),
            ] {
                let answer = post(&app, &path, body.clone()).await;
                assert_eq!(answer.status, 200, "{label}: {}", answer.text);
                assert_eq!(answer.json["text_output"], expected, "{label} {path}");
                assert_eq!(answer.json["finish_reason"], finish, "{label}");
                assert_eq!(answer.json["model_name"], name);
                assert_eq!(answer.json["usage"]["completion_tokens"], tokens);
            }
            let streamed = post(&app, &format!("/v2/models/{name}/generate_stream"), body).await;
            let events: Vec<Value> = events(&streamed.text)
                .iter()
                .map(|e| serde_json::from_str(e).unwrap())
                .collect();
            let text: String = events
                .iter()
                .map(|e| e["text_output"].as_str().unwrap())
                .collect();
            assert_eq!(text, expected, "{label} generate_stream");
            let (last, pieces) = events.split_last().unwrap();
            assert_eq!(last["done"], true, "{label}");
            assert_eq!(last["finish_reason"], finish, "{label}");
            assert!(pieces.iter().all(|e| e["done"] == false), "{label}");
        }
    }
}

#[tokio::test]
async fn the_generation_corpus_gets_4xx_in_each_protocols_error_shape() {
    let config = ServerConfig {
        max_tokens: 100,
        ..ServerConfig::default()
    };
    let app = app_for("llama", config).await;
    let cases = corpus::hostile_generation();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let request = case.request();
        let answer =
            tokio::time::timeout(Duration::from_secs(20), common::http::send(&app, request))
                .await
                .unwrap_or_else(|_| panic!("{}: no answer within 20 s", case.name));
        let status = answer.status.as_u16();
        failures.extend(case.mismatch(status, answer.content_type.as_deref(), answer.error()));
        let openai = case.path.contains("/completions");
        if openai {
            // OpenAI's shape: what the official client reads
            let error = &answer.json["error"];
            if !(error["message"].is_string() && error["type"].is_string()) {
                failures.push(format!(
                    "{}: not OpenAI's error shape: {}",
                    case.name, answer.text
                ));
            }
            if case.param.is_some() && error["param"].as_str() != case.param.as_deref() {
                failures.push(format!(
                    "{}: param {} (expected {:?})",
                    case.name, error["param"], case.param
                ));
            }
        } else if !answer.json["error"].is_string() {
            failures.push(format!(
                "{}: not KServe's error shape: {}",
                case.name, answer.text
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // and the model still answers
    let answer = post(
        &app,
        "/v1/completions",
        json!({"prompt": "Love is not love", "max_tokens": 4}),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
}

#[tokio::test]
async fn a_classifier_is_not_a_text_model_and_the_model_list_says_so() {
    let reference = format!("{}/digits@1", common::trained_store().display());
    let handle = ModelHandle::load(reference.parse().unwrap(), None).await;
    let app = router(handle, ServerConfig::default());
    let answer = post(&app, "/v1/completions", json!({"prompt": "hi"})).await;
    assert_eq!(answer.status, 400, "{}", answer.text);
    assert!(
        answer
            .error()
            .contains("model 'digits' is a classifier model, not a text-generation one"),
        "{}",
        answer.text
    );
    let list = common::http::send(
        &app,
        common::http::json_request("GET", "/openai/v1/models", ""),
    )
    .await;
    assert_eq!(list.json, json!({"object": "list", "data": []}));
}

/// `maas serve` of the Llama fixture.
fn serve_llama(envs: &[(&str, String)]) -> Server {
    let reference = format!("{}/llama", published("llama").display());
    Server::start(&reference, envs).expect("maas serve listens")
}

#[test]
fn the_openai_package_reads_maas_serve_streamed_and_not_over_http1_and_http2() {
    let server = serve_llama(&[]);
    let greedy = folder("llama").join("greedy.json");
    // multi-byte characters the tokenizer splits into several tokens each
    let extra_prompt = "Naïve café ☕ — übermäßig 日本";
    let answer = python_json(
        "openai_client.py",
        &[
            &format!("http://{}/openai/v1", server.address),
            "llama",
            greedy.to_str().unwrap(),
            extra_prompt,
        ],
    );
    let eos = eos("llama");
    for (case, got) in greedy_cases("llama")
        .iter()
        .zip(answer["cases"].as_array().unwrap())
    {
        let label = case["prompt"].to_string();
        let chat = case["chat"].as_bool().unwrap();
        let expected = case["text"].as_str().unwrap();
        assert_eq!(got["text"], expected, "{label}");
        assert_eq!(
            got["object"],
            if chat {
                "chat.completion"
            } else {
                "text_completion"
            }
        );
        assert_eq!(got["finish_reason"], finish_reason(case, eos), "{label}");
        let tokens = case["generated_ids"].as_array().unwrap().len();
        assert_eq!(got["usage"]["completion_tokens"], tokens, "{label}");
        let stream = &got["stream"];
        assert_eq!(stream["text"], expected, "{label}: streamed");
        assert_eq!(
            stream["finish_reasons"],
            json!([got["finish_reason"]]),
            "{label}"
        );
        assert_eq!(stream["usage"], got["usage"], "{label}");
        assert_eq!(stream["usage_chunks"], 1, "{label}");
        assert_eq!(stream["last_has_no_choices"], true, "{label}");
        assert_eq!(
            stream["ids"].as_array().unwrap().len(),
            1,
            "one id per stream"
        );
    }
    let extra = &answer["extra"];
    assert_eq!(extra["stream"]["text"], extra["text"]);
    assert!(extra["stream"]["pieces"].as_array().unwrap().len() > 1);
    assert_eq!(answer["models"], json!(["llama"]));
    assert_eq!(answer["refused"]["status"], 400, "{answer}");
    assert_eq!(answer["refused"]["param"], "top_p");
    assert_eq!(answer["refused"]["type"], "invalid_request_error");
    assert_eq!(
        answer["unknown"],
        json!({"status": 404, "code": "model_not_found"})
    );

    // HTTP/2 (prior knowledge, as gRPC-era proxies speak it): the same stream
    let out = std::process::Command::new("curl")
        .args(["-sS", "-i", "--http2-prior-knowledge", "-N"])
        .arg(format!("http://{}/v1/completions", server.address))
        .args(["-H", "content-type: application/json", "-d"])
        .arg(json!({"prompt": "Love is not love", "max_tokens": 6, "temperature": 0, "stream": true}).to_string())
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("HTTP/2 200"), "{text}");
    assert!(text.contains("content-type: text/event-stream"), "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");

    // and /metrics counts what was generated
    let metrics = scrape_metrics(&server.address);
    let route = [("route", "/v1/completions")];
    let finished = metric_sample(
        &metrics,
        "maas_generations",
        "maas_generations_total",
        &[("route", "/v1/completions"), ("outcome", "finished")],
    );
    assert!(finished >= 4.0, "{metrics}");
    assert!(
        metric_sample(
            &metrics,
            "maas_generated_tokens",
            "maas_generated_tokens_total",
            &route
        ) > 0.0
    );
    assert!(
        metric_sample(
            &metrics,
            "maas_prompt_tokens",
            "maas_prompt_tokens_total",
            &route
        ) > 0.0
    );
    let first = metric_sample(
        &metrics,
        "maas_time_to_first_token_seconds",
        "maas_time_to_first_token_seconds_count",
        &route,
    );
    assert_eq!(
        first, finished,
        "one time to first token per finished generation"
    );
    assert!(
        metric_sample(
            &metrics,
            "maas_time_per_output_token_seconds",
            "maas_time_per_output_token_seconds_count",
            &route
        ) > 0.0
    );
    assert_eq!(in_flight(&metrics), 0.0);
}

/// Generations running now, as /metrics says.
fn in_flight(metrics: &Value) -> f64 {
    metric_sample(
        metrics,
        "maas_generations_in_flight",
        "maas_generations_in_flight",
        &[],
    )
}

/// A seed whose sampled completion of `prompt` runs its whole budget in many pieces, found
/// with the library (the same engine the server runs), so the test below cannot finish its
/// generation before its client leaves.
fn long_running_seed(prompt: &str, max_tokens: usize) -> u64 {
    let model = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(maas::loader::load_export_folder(&folder("llama")))
        .unwrap();
    (0..64)
        .find(|&seed| {
            let request = maas::generation::GenerationRequest {
                prompt: maas::generation::Prompt::Text(prompt.into()),
                max_tokens: Some(max_tokens),
                sampling: maas::generation::SamplingOptions {
                    seed: Some(seed),
                    ..Default::default()
                },
                stop: Vec::new(),
            };
            let prepared = model.prepare(&request, 1024).unwrap();
            let mut pieces = 0;
            let completion = model
                .generate(prepared, &mut |_| {
                    pieces += 1;
                    true
                })
                .unwrap();
            completion.finish_reason == maas::generation::FinishReason::Length && pieces > 60
        })
        .expect("a seed among 64 runs the whole budget")
}

#[test]
fn a_client_that_leaves_mid_stream_stops_its_generation() {
    let prompt = "Love";
    let seed = long_running_seed(prompt, 120);
    let server = serve_llama(&[]);
    let body =
        json!({"prompt": prompt, "max_tokens": 120, "seed": seed, "stream": true}).to_string();
    let mut socket = std::net::TcpStream::connect(&server.address).unwrap();
    write!(
        socket,
        "POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reader = BufReader::new(socket.try_clone().unwrap());
    let mut line = String::new();
    while !line.starts_with("data: ") {
        line.clear();
        reader.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "the stream ended before its first event");
    }
    // gone after the first piece
    drop(reader);
    socket.shutdown(std::net::Shutdown::Both).unwrap();
    drop(socket);
    let cancelled = [("route", "/v1/completions"), ("outcome", "cancelled")];
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let metrics = scrape_metrics(&server.address);
        if metric_sample(
            &metrics,
            "maas_generations",
            "maas_generations_total",
            &cancelled,
        ) == 1.0
        {
            let finished = [("route", "/v1/completions"), ("outcome", "finished")];
            assert_eq!(
                metric_sample(
                    &metrics,
                    "maas_generations",
                    "maas_generations_total",
                    &finished
                ),
                0.0
            );
            assert_eq!(in_flight(&metrics), 0.0);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no cancelled generation counted: {metrics}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn seeds_top_k_stop_strings_and_max_tokens_behave_as_a_client_expects() {
    let app = app_for("gpt2", ServerConfig::default()).await;
    let ask = |extra: Value| {
        let app = app.clone();
        async move {
            let mut body = json!({"prompt": "Love is not love", "max_tokens": 20});
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            let answer = post(&app, "/v1/completions", body).await;
            assert_eq!(answer.status, 200, "{}", answer.text);
            answer.json
        }
    };
    let text = |answer: &Value| answer["choices"][0]["text"].as_str().unwrap().to_string();
    let seven = ask(json!({"seed": 7})).await;
    assert_eq!(text(&seven), text(&ask(json!({"seed": 7})).await));
    assert_ne!(text(&seven), text(&ask(json!({"seed": 8})).await));
    let greedy = ask(json!({"temperature": 0})).await;
    assert_eq!(
        text(&ask(json!({"top_k": 1, "seed": 3})).await),
        text(&greedy)
    );
    assert_eq!(greedy["choices"][0]["finish_reason"], "length");
    assert_eq!(greedy["usage"]["completion_tokens"], 20);
    // a stop string from the middle of the greedy text ends the text before it
    let full = text(&greedy);
    let chars: Vec<char> = full.chars().collect();
    let stop: String = chars[chars.len() / 2..chars.len() / 2 + 2].iter().collect();
    let stopped = ask(json!({"temperature": 0, "stop": [stop.clone()]})).await;
    assert_eq!(
        text(&stopped),
        full[..full.find(&stop).unwrap()],
        "stop {stop:?}"
    );
    assert_eq!(stopped["choices"][0]["finish_reason"], "stop");
    let short = ask(json!({"temperature": 0, "max_tokens": 3})).await;
    assert_eq!(short["choices"][0]["finish_reason"], "length");
    assert_eq!(short["usage"]["completion_tokens"], 3);
}
