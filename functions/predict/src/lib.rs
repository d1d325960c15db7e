//! The prediction Lambda function: adapts Lambda events (API Gateway REST v1, HTTP API v2,
//! function URLs and direct invocations) to the maas router, which does all the work.
//!
//! Direct invocations (`aws lambda invoke --payload '{"inputs": [[...]]}'`) arrive through
//! lambda_http's `pass_through` feature and are answered by `POST /predict`; a payload with a
//! `prompt` by `POST /v1/completions` and one with `messages` by `POST /v1/chat/completions`
//! (a text-generation model's OpenAI answers).

use std::convert::Infallible;

use axum::Router;
use base64::Engine;
use lambda_http::request::{LambdaRequest, RequestContext};
use lambda_http::tower::ServiceExt;
use lambda_http::{Adapter, Context, LambdaEvent, RequestExt, Service};
use maas::server::error::ApiError;
use maas::server::state::{ConfigError, ServerConfig};
use maas::server::RequestId;
use serde_json::Value;

/// Carries the reason an event's body could not be decoded from [`sanitize_event`] to
/// [`prepare`]; any copy a caller sends is removed first.
const INVALID_BODY_HEADER: &str = "x-maas-invalid-body";

/// The server configuration from the environment, with EMF metrics on unless `MAAS_EMF` says
/// otherwise.
pub fn config_from_env() -> Result<ServerConfig, ConfigError> {
    let mut config = ServerConfig::from_env()?;
    if std::env::var_os("MAAS_EMF").is_none() {
        config.emit_metrics = true;
    }
    Ok(config)
}

/// Fixes an event before lambda_http reads it, so that a malformed event is answered 400
/// instead of panicking inside lambda_http and failing the invocation.
///
/// This guard exists only because the newest lambda_http still panics on such events; it
/// covers, in lambda_http 1.3.2 and aws_lambda_events 1.2.1 (the newest on crates.io when this
/// was checked, 2026-11):
/// - `aws_lambda_events` `src/encodings/http.rs:89`, `Body::from_maybe_encoded`: invalid base64
///   with `isBase64Encoded` is decoded with `expect`;
/// - `lambda_http` `src/request.rs:544` and `:553`, `build_request_uri`: the URL made of
///   X-Forwarded-Proto, Host (or the request context's domain name), stage and path is parsed
///   with `unwrap`;
/// - `lambda_http` `src/request.rs:175`, `:229`, `:343` (`into_api_gateway_v2_request`,
///   `into_proxy_request`, `into_websocket_request`): the request is built from that URI and the
///   raw query string with `expect("failed to build request")`.
///
/// When an upgrade returns errors there instead, drop this guard and its tests stay as they
/// are: they assert the 400 answers, not how they are produced.
pub fn sanitize_event(mut event: Value) -> Value {
    for key in ["headers", "multiValueHeaders"] {
        if let Some(headers) = event.get_mut(key).and_then(Value::as_object_mut) {
            headers.retain(|name, _| !name.eq_ignore_ascii_case(INVALID_BODY_HEADER));
        }
    }
    if let Some(reason) = uri_problem(&event) {
        return refuse(neutral_uri(event), reason);
    }
    let encoded = event.get("isBase64Encoded").and_then(Value::as_bool) == Some(true);
    let body = event.get("body").and_then(Value::as_str);
    if let (true, Some(body)) = (encoded, body) {
        if let Err(e) = base64::engine::general_purpose::STANDARD.decode(body) {
            let reason =
                format!("the request body is marked isBase64Encoded but is not valid base64: {e}");
            return refuse(event, reason);
        }
    }
    event
}

/// Empties an event's body and passes `reason` on to [`prepare`], which answers 400.
fn refuse(mut event: Value, reason: String) -> Value {
    event["body"] = Value::String(String::new());
    event["isBase64Encoded"] = Value::Bool(false);
    if !event.get("headers").is_some_and(Value::is_object) {
        event["headers"] = Value::Object(Default::default());
    }
    event["headers"][INVALID_BODY_HEADER] = Value::String(reason);
    event
}

/// A header of an event (either header map, any case): its value, or the first of several.
fn event_header<'a>(event: &'a Value, name: &str) -> Option<&'a str> {
    ["headers", "multiValueHeaders"].iter().find_map(|key| {
        let (_, value) = event
            .get(*key)?
            .as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))?;
        value
            .as_str()
            .or_else(|| value.as_array()?.first()?.as_str())
    })
}

/// Why lambda_http could not build a request URI from this event, if it could not.
///
/// lambda_http joins the X-Forwarded-Proto header, the Host header (or the request context's
/// domain name), the stage and the path into a URL and unwraps the parse, then unwraps the
/// request build with the raw query string: a crafted event (found by fuzzing) panics there.
/// API Gateway never sends such events, but a direct invocation can.
fn uri_problem(event: &Value) -> Option<String> {
    let context = event.get("requestContext");
    let host = event_header(event, "host").or_else(|| context?.get("domainName")?.as_str());
    let scheme = event_header(event, "x-forwarded-proto").unwrap_or("https");
    let stage = context
        .and_then(|c| c.get("stage"))
        .and_then(Value::as_str)
        .filter(|s| *s != "$default");
    let query = event
        .get("rawQueryString")
        .and_then(Value::as_str)
        .unwrap_or("");
    // lambda_http takes a missing path as empty
    let mut paths: Vec<&str> = ["rawPath", "path"]
        .iter()
        .filter_map(|key| event.get(*key)?.as_str())
        .collect();
    if paths.is_empty() {
        paths.push("");
    }
    for path in paths {
        let staged = match stage {
            Some(stage) if !path.starts_with(&format!("/{stage}/")) => format!("/{stage}{path}"),
            _ => path.to_string(),
        };
        let url = match host {
            Some(host) => url::Url::parse(&format!("{scheme}://{host}{staged}")).map(String::from),
            None => {
                url::Url::parse(&format!("http://localhost{staged}")).map(|u| u.path().to_string())
            }
        };
        let uri = match url {
            Ok(url) if query.is_empty() => url,
            Ok(url) => format!("{url}?{query}"),
            Err(e) => {
                return Some(format!(
                    "the event's host, scheme and path do not form a URL ({e})"
                ))
            }
        };
        if let Err(e) = uri.parse::<axum::http::Uri>() {
            return Some(format!(
                "the event's path and query do not form a URI ({e})"
            ));
        }
    }
    None
}

/// The event with a host, scheme, path and query lambda_http can always parse.
fn neutral_uri(mut event: Value) -> Value {
    for key in ["headers", "multiValueHeaders"] {
        if let Some(headers) = event.get_mut(key).and_then(Value::as_object_mut) {
            headers.retain(|name, _| {
                !name.eq_ignore_ascii_case("host")
                    && !name.eq_ignore_ascii_case("x-forwarded-proto")
            });
        }
    }
    for key in ["rawPath", "path"] {
        if event.get(key).is_some() {
            event[key] = Value::String("/".into());
        }
    }
    if event.get("rawQueryString").is_some() {
        event["rawQueryString"] = Value::String(String::new());
    }
    if let Some(context) = event
        .get_mut("requestContext")
        .and_then(Value::as_object_mut)
    {
        context.insert("domainName".into(), Value::String("localhost".into()));
        context.insert("stage".into(), Value::String("$default".into()));
    }
    event
}

/// Turns lambda_http's request into the router's: the path without the REST API stage, direct
/// invocations routed by their payload ([`direct_route`]), the invocation's request id as an extension.
pub fn prepare(request: lambda_http::Request) -> Result<axum::extract::Request, ApiError> {
    if let Some(reason) = request.headers().get(INVALID_BODY_HEADER) {
        return Err(ApiError::bad_request(
            reason.to_str().unwrap_or("invalid base64 body").to_string(),
        ));
    }
    let pass_through = matches!(
        request.request_context_ref(),
        Some(RequestContext::PassThrough)
    );
    let request_id = request.lambda_context_ref().map(|c| c.request_id.clone());
    let path = if pass_through {
        direct_route(request.body()).to_string()
    } else if !request.raw_http_path().is_empty() {
        request.raw_http_path().to_string()
    } else {
        request.uri().path().to_string()
    };
    let (mut parts, body) = request.into_parts();
    let path_and_query = match parts.uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    parts.uri = path_and_query
        .parse()
        .map_err(|e| ApiError::bad_request(format!("invalid request path: {e}")))?;
    if let Some(id) = request_id.filter(|id| !id.is_empty()) {
        parts.extensions.insert(RequestId(id));
    }
    Ok(axum::extract::Request::from_parts(
        parts,
        axum::body::Body::new(body),
    ))
}

/// The route a direct invocation's payload goes to: the OpenAI completions for a `prompt`,
/// the chat completions for `messages`, else the native prediction route (whose answer says
/// what is wrong with a payload that is neither).
fn direct_route(payload: &[u8]) -> &'static str {
    #[derive(serde::Deserialize)]
    struct Keys {
        prompt: Option<serde::de::IgnoredAny>,
        messages: Option<serde::de::IgnoredAny>,
    }
    match serde_json::from_slice::<Keys>(payload) {
        Ok(Keys {
            messages: Some(_), ..
        }) => "/v1/chat/completions",
        Ok(Keys {
            prompt: Some(_), ..
        }) => "/v1/completions",
        _ => "/predict",
    }
}

/// Answers one HTTP request (as lambda_http built it) with the router.
pub async fn handle(
    router: Router,
    request: lambda_http::Request,
) -> Result<axum::response::Response, Infallible> {
    use axum::response::IntoResponse;
    match prepare(request) {
        Ok(request) => router.oneshot(request).await,
        Err(e) => Ok(e.into_response()),
    }
}

/// Answers one raw Lambda event: lambda_http reads it (API Gateway v1/v2, function URL or
/// pass-through), the router answers, and lambda_http's response comes back as JSON.
pub async fn handle_event(
    router: Router,
    event: Value,
    context: Context,
) -> Result<Value, lambda_http::Error> {
    // LambdaRequest reads itself from raw JSON text, so the value is written out again.
    let text = serde_json::to_string(&sanitize_event(event))?;
    let request: LambdaRequest = serde_json::from_str(&text)?;
    // The adapter is not Send: only its future (which is) crosses the await.
    let answer = {
        let http = lambda_http::service_fn(move |request| handle(router.clone(), request));
        Adapter::from(http).call(LambdaEvent::new(request, context))
    };
    let response = match answer.await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    Ok(serde_json::to_value(response)?)
}

/// Runs the Lambda runtime loop with the router until the sandbox ends.
pub async fn run(router: Router) -> Result<(), lambda_http::Error> {
    lambda_http::lambda_runtime::run(lambda_http::service_fn(move |event: LambdaEvent<Value>| {
        let (payload, context) = event.into_parts();
        handle_event(router.clone(), payload, context)
    }))
    .await
}
