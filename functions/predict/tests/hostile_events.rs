//! The hostile-request corpus as Lambda events: each malformed request wrapped as an API
//! Gateway REST (v1) event, an HTTP API (v2) event and a function URL event (base64 body), read
//! by lambda_http and answered by the router, gets the same 4xx and JSON error as over HTTP.
//! Plus what only events can carry: invalid base64, odd direct-invocation payloads.
// test code: a failed unwrap is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use base64::Engine;
use lambda_http::Context;
use serde_json::{json, Value};

mod common;
#[path = "../../../tests/common/corpus.rs"]
mod corpus;

fn template(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("events")
        .join(name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The body as an event carries it: text when it is UTF-8 (unless `force_base64`).
fn set_body(event: &mut Value, body: &[u8], force_base64: bool) {
    match std::str::from_utf8(body) {
        Ok(text) if !force_base64 => {
            event["body"] = json!(text);
            event["isBase64Encoded"] = json!(false);
        }
        _ => {
            event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(body));
            event["isBase64Encoded"] = json!(true);
        }
    }
}

fn headers(case: &corpus::Case) -> Value {
    let mut headers = json!({ "host": "example.test" });
    if let Some(ct) = &case.content_type {
        headers["content-type"] = json!(ct);
    }
    for (name, value) in &case.headers {
        headers[name.to_ascii_lowercase()] = json!(value);
    }
    headers
}

fn v1_event(case: &corpus::Case) -> Value {
    let mut event = template("apigw-v1.json");
    event["path"] = json!(case.path);
    event["httpMethod"] = json!(case.method);
    event["requestContext"]["path"] = json!(format!("/prod{}", case.path));
    event["requestContext"]["httpMethod"] = json!(case.method);
    let headers = headers(case);
    let multi: serde_json::Map<String, Value> = headers
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), json!([v])))
        .collect();
    event["headers"] = headers;
    event["multiValueHeaders"] = Value::Object(multi);
    set_body(&mut event, &case.body(), false);
    event
}

fn v2_event(case: &corpus::Case, file: &str, force_base64: bool) -> Value {
    let mut event = template(file);
    event["rawPath"] = json!(case.path);
    event["requestContext"]["http"]["method"] = json!(case.method);
    event["requestContext"]["http"]["path"] = json!(case.path);
    event["headers"] = headers(case);
    set_body(&mut event, &case.body(), force_base64);
    event
}

fn context() -> Context {
    let mut context = Context::default();
    context.request_id = "hostile".into();
    context
}

/// Status and error message of a response event. A direct invocation gets the JSON document
/// itself back, without a status (`None`).
fn answer(response: &Value) -> (Option<u64>, String) {
    let Some(status) = response["statusCode"].as_u64() else {
        let error = response["error"]
            .as_str()
            .unwrap_or("<not an error document>");
        return (None, error.to_string());
    };
    let mut body = response["body"].as_str().unwrap_or("").to_string();
    if response["isBase64Encoded"] == json!(true) {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&body)
            .unwrap_or_default();
        body = String::from_utf8_lossy(&bytes).into_owned();
    }
    // KServe's and the native `{"error": "..."}`, or OpenAI's `{"error": {"message": ...}}`
    let error = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| {
            v["error"]
                .as_str()
                .or_else(|| v["error"]["message"].as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| format!("<no JSON error in {body:.200}>"));
    (Some(status), error)
}

/// Every case of a corpus as every event type through `app`: how many events were checked
/// and what went wrong.
async fn check_corpus(app: &axum::Router, cases: &[corpus::Case]) -> (usize, Vec<String>) {
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in cases {
        for (kind, event) in [
            ("REST v1", v1_event(case)),
            ("HTTP API v2", v2_event(case, "apigw-v2.json", false)),
            ("function URL", v2_event(case, "function-url.json", true)),
        ] {
            let response = predict::handle_event(app.clone(), event, context())
                .await
                .unwrap_or_else(|e| {
                    panic!("{kind} {}: the event was not answered: {e}", case.name)
                });
            let (status, error) = answer(&response);
            checked += 1;
            if status != Some(case.status as u64) || !error.contains(&case.error) {
                failures.push(format!(
                    "{kind} {}: {status:?} '{error:.200}' (expected {} '{}')",
                    case.name, case.status, case.error
                ));
            }
        }
    }
    (checked, failures)
}

#[tokio::test]
async fn every_hostile_request_as_every_event_type_gets_its_4xx() {
    let app = common::app().await;
    let (checked, failures) = check_corpus(&app, &corpus::hostile_requests()).await;
    assert!(checked >= 180, "{checked} events");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn every_hostile_generation_request_as_every_event_type_gets_its_4xx() {
    // the corpus's cap: MAAS_MAX_TOKENS=100
    let config = maas::server::state::ServerConfig {
        max_tokens: 100,
        ..Default::default()
    };
    let app = common::llama_app_with(config).await;
    let (checked, failures) = check_corpus(&app, &corpus::hostile_generation()).await;
    assert!(checked >= 120, "{checked} events");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn what_only_events_carry_is_refused_cleanly() {
    let app = common::app().await;
    let mut v2 = template("apigw-v2.json");
    v2["isBase64Encoded"] = json!(true);
    v2["body"] = json!("not base64 at all!!");
    let mut v1 = template("apigw-v1.json");
    v1["isBase64Encoded"] = json!(true);
    v1["body"] = json!("\u{1F4A3}");
    // events whose host, scheme, path or query lambda_http cannot turn into a URI (it would
    // panic; the first was found by the lambda_event fuzz target)
    let mut bad_host = template("apigw-v2.json");
    bad_host["headers"]["host"] = json!("abc123.execute-api.eu]west-1.amazonaws.com");
    let mut bad_scheme = template("apigw-v1.json");
    bad_scheme["headers"]["X-Forwarded-Proto"] = json!("ht tp");
    let mut bad_port = template("apigw-v2.json");
    bad_port["rawPath"] = json!(":99999/predict");
    let mut no_path_bad_port = template("apigw-v2.json");
    no_path_bad_port.as_object_mut().unwrap().remove("rawPath");
    no_path_bad_port["headers"]["host"] = json!("example.c:om");
    let mut bad_query = template("function-url.json");
    bad_query["rawQueryString"] = json!("a=\"b c\"");
    // a direct invocation answers with the error document itself: no status (None), and the
    // invocation must not fail
    let mut wide_1e39 = vec![json!(0.0); 64];
    wide_1e39[5] = json!(1e39);
    let cases: Vec<(&str, Value, Option<u64>, &str)> = vec![
        (
            "v2 host that is not a host",
            bad_host,
            Some(400),
            "the event's host, scheme and path do not form a URL",
        ),
        (
            "v1 scheme that is not a scheme",
            bad_scheme,
            Some(400),
            "do not form a URL",
        ),
        (
            "v2 path that reads as a port",
            bad_port,
            Some(400),
            "do not form a URL",
        ),
        (
            "v2 without a path, a host with a bad port",
            no_path_bad_port,
            Some(400),
            "do not form a URL",
        ),
        (
            "function URL query with spaces",
            bad_query,
            Some(400),
            "the event's path and query do not form a URI",
        ),
        (
            "v2 invalid base64",
            v2,
            Some(400),
            "marked isBase64Encoded but is not valid base64",
        ),
        (
            "v1 unicode junk as base64",
            v1,
            Some(400),
            "marked isBase64Encoded but is not valid base64",
        ),
        (
            "direct: inputs is a string",
            json!({"inputs": "x"}),
            None,
            "invalid type: string \"x\", expected a sequence",
        ),
        (
            "direct: empty object",
            json!({}),
            None,
            "missing field `inputs`",
        ),
        (
            "direct: empty batch",
            json!({"inputs": []}),
            None,
            "the batch is empty",
        ),
        (
            "direct: wrong width",
            json!({"inputs": [[1.0, 2.0]]}),
            None,
            "row 0 has 2 features, the model expects 64",
        ),
        (
            "direct: 1e39",
            json!({ "inputs": [wide_1e39] }),
            None,
            "row 0, feature 5: 1000000000000000000000000000000000000000 is not a finite float32 number",
        ),
        (
            "direct: unknown field",
            json!({"instances": [[1.0]]}),
            None,
            "unknown field `instances`",
        ),
        (
            "direct: a bare array",
            json!([[1.0, 2.0]]),
            None,
            "invalid JSON body",
        ),
        (
            "direct: a string",
            json!("predict this"),
            None,
            "invalid JSON body",
        ),
        ("direct: a number", json!(42), None, "invalid JSON body"),
        ("direct: null", Value::Null, None, "invalid JSON body"),
        (
            "direct: junk that looks like an event",
            json!({"httpMethod": 5, "path": ["x"], "inputs": [[1.0]]}),
            None,
            "invalid JSON body",
        ),
    ];
    let mut failures = Vec::new();
    for (name, event, status, message) in cases {
        match predict::handle_event(app.clone(), event, context()).await {
            Ok(response) => {
                let (got, error) = answer(&response);
                if got != status || !error.contains(message) {
                    failures.push(format!(
                        "{name}: {got:?} '{error}' (expected {status:?} '{message}')"
                    ));
                }
            }
            Err(e) => failures.push(format!("{name}: not answered: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
