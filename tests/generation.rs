//! Text generation with the fixture decoders (`onnx/decoders/`, GPT-2 and Llama exported by
//! optimum, random weights): greedy completions equal transformers' `generate(do_sample=False)`
//! (the committed `greedy.json`, tests/python/make_greedy.py) and onnxruntime's KV-cache loop
//! (tests/python/ort_generate.py) token for token, through the library and `maas generate`;
//! streamed pieces are whole characters that concatenate to the text; seeded sampling, top_k,
//! stop strings and max_tokens behave as a client expects; bad requests are refused naming
//! what to fix.
// test code: a failed unwrap is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use maas::generation::{
    ChatMessage, FinishReason, GenerationError, GenerationRequest, IncrementalDecoder, Prompt,
    SamplingOptions, TextModel,
};
use serde_json::Value;

const DECODERS: [&str; 2] = ["gpt2", "llama"];
const CAP: usize = 1024;

fn folder(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("onnx/decoders/{name}"))
}

/// Runs a future of the library's loaders to its end.
fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

fn load(name: &str) -> TextModel {
    block_on(maas::loader::load_export_folder(&folder(name))).unwrap()
}

fn greedy_cases(name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(folder(name).join("greedy.json")).unwrap();
    let cases: Value = serde_json::from_str(&text).unwrap();
    cases["cases"].as_array().unwrap().clone()
}

fn ids(value: &Value) -> Vec<u32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect()
}

fn prompt_of(case: &Value) -> Prompt {
    if case["chat"].as_bool().unwrap() {
        Prompt::Chat(serde_json::from_value(case["prompt"].clone()).unwrap())
    } else {
        Prompt::Text(case["prompt"].as_str().unwrap().to_string())
    }
}

fn request(prompt: Prompt, max_tokens: usize, sampling: SamplingOptions) -> GenerationRequest {
    GenerationRequest {
        prompt,
        max_tokens: Some(max_tokens),
        sampling,
        stop: Vec::new(),
    }
}

fn greedy() -> SamplingOptions {
    SamplingOptions {
        temperature: 0.0,
        ..Default::default()
    }
}

/// Generates, collecting the streamed pieces.
fn run(
    model: &TextModel,
    request: &GenerationRequest,
) -> (maas::generation::Completion, Vec<String>) {
    let prepared = model.prepare(request, CAP).unwrap();
    let mut pieces = Vec::new();
    let completion = model
        .generate(prepared, &mut |piece| {
            pieces.push(piece.to_string());
            true
        })
        .unwrap();
    (completion, pieces)
}

#[test]
fn greedy_completions_equal_transformers_and_onnxruntime_token_for_token() {
    for name in DECODERS {
        let model = load(name);
        let ort = python_json("ort_generate.py", &[folder(name).to_str().unwrap()]);
        let ort_cases = ort["cases"].as_array().unwrap();
        let plans = model.model().plans_built();
        for (case, ort_ids) in greedy_cases(name).iter().zip(ort_cases) {
            let max_tokens = case["max_tokens"].as_u64().unwrap() as usize;
            let req = request(prompt_of(case), max_tokens, greedy());
            let prepared = model.prepare(&req, CAP).unwrap();
            assert_eq!(
                prepared.prompt_ids(),
                ids(&case["prompt_ids"]),
                "{name}: prompt ids of {}",
                case["prompt"]
            );
            let (completion, pieces) = run(&model, &req);
            let want = ids(&case["generated_ids"]);
            assert_eq!(
                completion.tokens, want,
                "{name}: tokens of {} vs transformers",
                case["prompt"]
            );
            assert_eq!(
                completion.tokens,
                ids(ort_ids),
                "{name}: tokens of {} vs onnxruntime",
                case["prompt"]
            );
            assert_eq!(
                completion.text,
                case["text"].as_str().unwrap(),
                "{name}: text"
            );
            assert_eq!(
                pieces.concat(),
                completion.text,
                "{name}: the pieces make the text"
            );
            let ended_by_eos = want.len() < max_tokens;
            assert_eq!(
                completion.finish_reason,
                if ended_by_eos {
                    FinishReason::Stop
                } else {
                    FinishReason::Length
                },
                "{name}: finish reason of {}",
                case["prompt"]
            );
        }
        assert_eq!(
            model.model().plans_built(),
            plans,
            "{name}: no plan built per token"
        );
    }
}

#[test]
fn maas_generate_prints_the_greedy_completion() {
    for name in DECODERS {
        for case in greedy_cases(name) {
            let chat = case["chat"].as_bool().unwrap();
            let prompt = if chat {
                let messages: Vec<ChatMessage> =
                    serde_json::from_value(case["prompt"].clone()).unwrap();
                if messages.len() != 1 {
                    continue; // the CLI sends one user message
                }
                messages[0].content.clone()
            } else {
                case["prompt"].as_str().unwrap().to_string()
            };
            let max_tokens = case["max_tokens"].to_string();
            let dir = folder(name);
            let mut args = vec![
                "generate",
                "--hf-dir",
                dir.to_str().unwrap(),
                "--prompt",
                &prompt,
                "--max-tokens",
                &max_tokens,
                "--temperature",
                "0",
                "--print-tokens",
            ];
            if chat {
                args.push("--chat");
            }
            let out = maas(&args);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let stdout = String::from_utf8(out.stdout).unwrap();
            assert_eq!(
                stdout,
                format!("{}\n", case["text"].as_str().unwrap()),
                "{name}: {prompt}"
            );
            let report: Value = serde_json::from_str(
                String::from_utf8(out.stderr)
                    .unwrap()
                    .lines()
                    .last()
                    .unwrap(),
            )
            .unwrap();
            assert_eq!(ids(&report["tokens"]), ids(&case["generated_ids"]));
            assert_eq!(ids(&report["prompt_ids"]), ids(&case["prompt_ids"]));
        }
    }
}

#[test]
fn pieces_are_whole_characters_that_make_the_decoded_text() {
    let model = load("gpt2");
    let tokenizer = model.tokenizer();
    let text = "é — 😀 naïve, ünïcödé ✓";
    let ids = tokenizer.encode(text, false).unwrap();
    let mut decoder = IncrementalDecoder::default();
    let mut pieces = Vec::new();
    for &id in &ids {
        pieces.push(decoder.push(tokenizer, id).unwrap());
    }
    pieces.push(decoder.finish(tokenizer).unwrap());
    assert_eq!(pieces.concat(), text);
    // the vocabulary of 512 splits some characters into byte tokens: those pieces wait
    assert!(pieces.iter().any(String::is_empty), "{pieces:?}");
    assert!(ids.len() > text.chars().count() / 2, "{ids:?}");
}

#[test]
fn seeded_sampling_repeats_and_top_k_1_is_greedy() {
    let model = load("llama");
    let prompt = || Prompt::Text("Love is not love".into());
    let seeded = |seed| SamplingOptions {
        temperature: 1.0,
        seed: Some(seed),
        ..Default::default()
    };
    let a = run(&model, &request(prompt(), 24, seeded(1))).0;
    let b = run(&model, &request(prompt(), 24, seeded(1))).0;
    let c = run(&model, &request(prompt(), 24, seeded(2))).0;
    assert_eq!(a.tokens, b.tokens);
    assert_ne!(a.tokens, c.tokens);
    let top1 = SamplingOptions {
        top_k: 1,
        seed: Some(5),
        ..Default::default()
    };
    let greedy_run = run(&model, &request(prompt(), 24, greedy())).0;
    assert_eq!(
        run(&model, &request(prompt(), 24, top1)).0.tokens,
        greedy_run.tokens
    );
}

#[test]
fn stop_strings_end_the_text_before_them_and_max_tokens_gives_length() {
    let model = load("llama");
    let prompt = || Prompt::Text("Love is not love".into());
    let full = run(&model, &request(prompt(), 32, greedy())).0;
    let chars: Vec<char> = full.text.chars().collect();
    assert!(chars.len() > 12, "{:?}", full.text);
    // a stop string from the middle of the greedy text: the text ends just before it
    let stop: String = chars[8..11].iter().collect();
    let mut req = request(prompt(), 32, greedy());
    req.stop = vec![stop.clone()];
    let (stopped, pieces) = run(&model, &req);
    let at = full.text.find(&stop).unwrap();
    assert_eq!(stopped.text, full.text[..at]);
    assert_eq!(stopped.finish_reason, FinishReason::Stop);
    assert_eq!(
        pieces.concat(),
        stopped.text,
        "no part of the stop string was streamed"
    );
    let short = run(&model, &request(prompt(), 5, greedy())).0;
    assert_eq!(
        (short.tokens.len(), short.finish_reason),
        (5, FinishReason::Length)
    );
    assert_eq!(short.tokens, full.tokens[..5]);
}

#[test]
fn bad_requests_are_refused_naming_what_to_fix() {
    let model = load("gpt2");
    let refused = |req: GenerationRequest| {
        let e = model.prepare(&req, CAP).unwrap_err();
        assert!(e.is_client_error(), "{e}");
        e.to_string()
    };
    let text = || Prompt::Text("Shall I".into());
    let long = Prompt::Text("Shall I compare thee to a summer's day? ".repeat(20));
    assert!(refused(request(long, 8, greedy())).contains("over the model's context of 128 tokens"));
    assert!(refused(request(text(), 0, greedy())).contains("max_tokens is 0"));
    assert!(refused(request(text(), 5000, greedy())).contains("cap of 1024"));
    let bad = |sampling| refused(request(text(), 4, sampling));
    assert!(bad(SamplingOptions {
        temperature: -1.0,
        ..greedy()
    })
    .starts_with("temperature is -1"));
    assert!(bad(SamplingOptions {
        top_p: 0.0,
        ..greedy()
    })
    .starts_with("top_p is 0"));
    assert!(bad(SamplingOptions {
        top_p: 1.5,
        ..greedy()
    })
    .starts_with("top_p is 1.5"));
    assert!(refused(request(Prompt::Text(String::new()), 4, greedy())).contains("prompt is empty"));
    assert!(
        refused(request(Prompt::Chat(Vec::new()), 4, greedy())).contains("conversation is empty")
    );
    let wizard = Prompt::Chat(vec![ChatMessage {
        role: "wizard".into(),
        content: "hi".into(),
    }]);
    assert!(refused(request(wizard, 4, greedy())).contains("unknown role: wizard"));
    // a stopped client stops the generation
    let prepared = model.prepare(&request(text(), 16, greedy()), CAP).unwrap();
    let mut calls = 0;
    let stopped = model.generate(prepared, &mut |_| {
        calls += 1;
        false
    });
    assert!(matches!(stopped, Err(GenerationError::Cancelled)));
    assert_eq!(calls, 1);
    // the CLI: a message and exit code 1
    let dir = folder("gpt2");
    let err = maas_err(&[
        "generate",
        "--hf-dir",
        dir.to_str().unwrap(),
        "--prompt",
        "x",
        "--top-p",
        "2",
    ]);
    assert!(err.contains("top_p is 2"), "{err}");
    let classifier = Path::new(env!("CARGO_MANIFEST_DIR")).join("onnx");
    let err = maas_err(&[
        "generate",
        "--hf-dir",
        classifier.to_str().unwrap(),
        "--prompt",
        "x",
    ]);
    assert!(err.contains("model.onnx not found"), "{err}");
    // a classifier beside a tokenizer is not a decoder
    let not_decoder = scratch("generation_not_a_decoder");
    std::fs::copy(
        classifier.join("digits.onnx"),
        not_decoder.join("model.onnx"),
    )
    .unwrap();
    std::fs::copy(
        dir.join("tokenizer.json"),
        not_decoder.join("tokenizer.json"),
    )
    .unwrap();
    let err = maas_err(&[
        "generate",
        "--hf-dir",
        not_decoder.to_str().unwrap(),
        "--prompt",
        "x",
    ]);
    assert!(
        err.contains("not a text-generation model: it has no input 'input_ids'"),
        "{err}"
    );
}

#[test]
fn an_export_folder_publishes_as_one_version_and_generates_from_the_store() {
    let store = scratch("generation_store");
    let store_arg = store.to_str().unwrap();
    for name in DECODERS {
        let dir = folder(name);
        let out = maas_ok(&[
            "publish",
            "--hf-dir",
            dir.to_str().unwrap(),
            "--name",
            name,
            "--store",
            store_arg,
        ]);
        assert!(
            out.contains("with tokenizer.json, tokenizer_config.json"),
            "{out}"
        );
        let card = maas_ok(&["models", "show", &format!("{store_arg}/{name}")]);
        assert!(card.contains("Task: text-generation"), "{card}");
        assert!(card.contains("| vocabulary | 512 tokens |"), "{card}");
        assert!(
            card.contains("| context | 128 tokens (prompt and completion) |"),
            "{card}"
        );
        assert!(card.contains("eos_token `<|endoftext|>`"), "{card}");
        assert!(card.contains("| chat template | yes |"), "{card}");
        assert!(
            card.contains("| input | `input_ids` | INT64 | [batch_size, sequence_length] |"),
            "{card}"
        );
        let manifest: Value = serde_json::from_str(&maas_ok(&[
            "models",
            "show",
            &format!("{store_arg}/{name}"),
            "--json",
        ]))
        .unwrap();
        assert_eq!(manifest["task"], "text-generation");
        assert_eq!(manifest["generation"]["vocabulary_size"], 512);
        let case = &greedy_cases(name)[0];
        let max_tokens = case["max_tokens"].to_string();
        let text = maas_ok(&[
            "generate",
            "--model",
            &format!("{store_arg}/{name}@1"),
            "--prompt",
            case["prompt"].as_str().unwrap(),
            "--max-tokens",
            &max_tokens,
            "--temperature",
            "0",
        ]);
        assert_eq!(
            text,
            format!("{}\n", case["text"].as_str().unwrap()),
            "{name}"
        );
    }
    // loaded for serving, the version carries its text model over the one copy of the model
    let reference = format!("{store_arg}/llama").parse().unwrap();
    let served = block_on(maas::loader::load(&reference)).unwrap();
    let text = served
        .text
        .as_ref()
        .expect("a text-generation version loads its text model");
    assert!(std::sync::Arc::ptr_eq(&served.model, text.shared_model()));
    assert_eq!(served.model.task(), maas::contract::Task::TextGeneration);
    let case = &greedy_cases("llama")[2];
    let req = request(
        prompt_of(case),
        case["max_tokens"].as_u64().unwrap() as usize,
        greedy(),
    );
    assert_eq!(run(text, &req).0.tokens, ids(&case["generated_ids"]));
    // a file beside the model that changed after publishing is refused, named
    let tokenizer = store.join("gpt2/versions/1/tokenizer.json");
    let mut bytes = std::fs::read(&tokenizer).unwrap();
    bytes.extend_from_slice(b" ");
    std::fs::write(&tokenizer, bytes).unwrap();
    let err = maas_err(&[
        "generate",
        "--model",
        &format!("{store_arg}/gpt2"),
        "--prompt",
        "x",
    ]);
    assert!(
        err.contains("checksum mismatch") && err.contains("tokenizer.json"),
        "{err}"
    );
    // a classifier is not a text model; a template that cannot render is refused at publish
    let digits = Path::new(env!("CARGO_MANIFEST_DIR")).join("onnx/digits.onnx");
    maas_ok(&[
        "publish",
        "--onnx",
        digits.to_str().unwrap(),
        "--name",
        "digits",
        "--store",
        store_arg,
    ]);
    let err = maas_err(&[
        "generate",
        "--model",
        &format!("{store_arg}/digits"),
        "--prompt",
        "x",
    ]);
    assert!(
        err.contains("is a classifier model, not a text-generation one"),
        "{err}"
    );
    let broken = scratch("generation_broken_template");
    for file in [
        "model.onnx",
        "tokenizer.json",
        "config.json",
        "generation_config.json",
    ] {
        std::fs::copy(folder("gpt2").join(file), broken.join(file)).unwrap();
    }
    std::fs::write(
        broken.join("chat_template.jinja"),
        "{% for m in messages %}{{ m.content | nosuchfilter }}{% endfor %}",
    )
    .unwrap();
    let err = maas_err(&[
        "publish",
        "--hf-dir",
        broken.to_str().unwrap(),
        "--name",
        "broken",
        "--store",
        store_arg,
    ]);
    assert!(err.contains("chat template"), "{err}");
}
