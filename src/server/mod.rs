//! The HTTP API: one axum [`Router`] behind both `maas serve` and the Lambda function, with the
//! native route, the Open Inference Protocol (KServe V2) and the TF Serving REST API.
//!
//! ```no_run
//! # async fn demo() {
//! use maas::server::{router, state::{ModelHandle, ServerConfig}};
//! let model = ModelHandle::load("models/digits".parse().unwrap(), None).await;
//! let app = router(model, ServerConfig::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await.unwrap();
//! axum::serve(listener, app).await.unwrap();
//! # }
//! ```

pub mod error;
pub mod metrics;
pub mod state;

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::protocol::{self, kserve, tfserving, Batch};
use error::ApiError;
use metrics::PredictionMetrics;
use state::{ModelHandle, ServedModel, ServerConfig};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub model: Arc<ModelHandle>,
    pub config: Arc<ServerConfig>,
}

/// The invocation's request id, set by a front end (the Lambda adapter) for logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Builds the router for a model and limits.
pub fn router(model: Arc<ModelHandle>, config: ServerConfig) -> Router {
    let state = AppState {
        model,
        config: Arc::new(config),
    };
    let routes = Router::new()
        .route("/predict", post(native_predict))
        .route("/v2", get(server_metadata))
        .route("/v2/health/live", get(live))
        .route("/v2/health/ready", get(ready))
        .route("/v2/models/{name}", get(model_metadata))
        .route("/v2/models/{name}/ready", get(model_ready))
        .route("/v2/models/{name}/infer", post(kserve_infer))
        .route(
            "/v2/models/{name}/versions/{version}",
            get(model_metadata_version),
        )
        .route(
            "/v2/models/{name}/versions/{version}/ready",
            get(model_ready_version),
        )
        .route(
            "/v2/models/{name}/versions/{version}/infer",
            post(kserve_infer_version),
        )
        // TF Serving puts `:predict` inside the last path segment, so these paths are parsed here.
        .route("/v1/models/{*rest}", post(tf_predict).get(tf_status))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);
    harden(routes)
}

/// Every answer JSON, every panic a 500: the layers around the routes.
fn harden(routes: Router) -> Router {
    routes
        .layer(axum::middleware::map_response(json_errors))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_reply,
        ))
}

/// axum answers some bad requests itself in plain text (a path segment that is not UTF-8, for
/// one); every error of this API is JSON, so those are rewrapped.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    // axum's rejection texts are short; the limit only guards against surprises
    let text = match Limited::new(response.into_body(), 64 * 1024)
        .collect()
        .await
    {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes())
            .trim()
            .to_string(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    ApiError::new(status, message).into_response()
}

/// A bug that panics in a handler becomes a 500 JSON reply, not a dropped connection or a dead
/// Lambda sandbox (the release profile keeps `panic = "unwind"` for this).
fn panic_reply(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("no message");
    tracing::error!(panic = detail, "a request handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal error: the request could not be answered; it has been logged",
    )
    .into_response()
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!(
        "no route for {method} {}; see the README for the API",
        uri.path()
    ))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}", uri.path()),
    )
}

/// The served model, checked against the name and version a route names.
fn served(
    state: &AppState,
    name: Option<&str>,
    version: Option<&str>,
) -> Result<Arc<ServedModel>, ApiError> {
    state.model.maybe_refresh();
    let served_name = state.model.name();
    if let Some(name) = name {
        if name != served_name {
            return Err(ApiError::not_found(format!(
                "unknown model '{name}'; this server serves '{served_name}'"
            )));
        }
    }
    let current = state.model.current().map_err(|reason| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("model '{served_name}' is not loaded: {reason}"),
        )
    })?;
    if let Some(version) = version {
        if current.version.map(|v| v.to_string()).as_deref() != Some(version) {
            let serving = match current.version {
                Some(v) => format!("version {v}"),
                None => "a model file without versions".to_string(),
            };
            return Err(ApiError::not_found(format!(
                "model '{served_name}' has no version '{version}' here; this server serves {serving}"
            )));
        }
    }
    Ok(current)
}

/// Reads and parses a JSON body within the size limit: 415 for another content type, 413 when
/// too large, 400 when it is not the expected JSON.
async fn json_body<T: DeserializeOwned>(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    example: &str,
) -> Result<T, ApiError> {
    if let Some(content_type) = headers.get(header::CONTENT_TYPE) {
        let ct = content_type.to_str().unwrap_or("").to_ascii_lowercase();
        let essence = ct.split(';').next().unwrap_or("").trim();
        if !(essence == "application/json" || essence.ends_with("+json")) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("Content-Type must be application/json, got '{ct}'"),
            ));
        }
    }
    let limit = state.config.max_body_bytes;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body exceeds the limit of {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let bytes: Bytes = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => return Err(too_large()),
        Err(e) => {
            return Err(ApiError::bad_request(format!(
                "cannot read the request body: {e}"
            )))
        }
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(format!(
            "the request body is empty; send JSON like {example}"
        )));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "invalid JSON body: {e}; expected JSON like {example}"
        ))
    })
}

/// Runs a checked batch within the row limit and reports metrics.
fn run_batch(
    state: &AppState,
    served: &ServedModel,
    batch: &Batch,
    route: &str,
    started: Instant,
    request_id: Option<&RequestId>,
) -> Result<Vec<f32>, ApiError> {
    let max = state.config.max_rows;
    if batch.rows > max {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{} rows exceed the limit of {max} rows per request (MAAS_MAX_ROWS)",
                batch.rows
            ),
        ));
    }
    let inference_started = Instant::now();
    let probabilities = served.model.predict(&batch.values, batch.rows)?;
    let inference_ms = inference_started.elapsed().as_secs_f64() * 1e3;
    if state.config.emit_metrics {
        PredictionMetrics {
            model: &served.name,
            version: served.version,
            route,
            rows: batch.rows,
            inference_ms,
            total_ms: started.elapsed().as_secs_f64() * 1e3,
            request_id: request_id.map(|r| r.0.as_str()),
        }
        .emit();
    }
    Ok(probabilities)
}

const NATIVE_EXAMPLE: &str = r#"{"inputs": [[0.0, 1.0, ...]]}"#;

async fn native_predict(
    State(state): State<AppState>,
    request_id: Option<Extension<RequestId>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let current = served(&state, None, None)?;
    let request: protocol::PredictRequest =
        json_body(&state, &headers, body, NATIVE_EXAMPLE).await?;
    let batch = Batch::from_rows(&request.inputs, current.model.n_features)?;
    let probabilities = run_batch(
        &state,
        &current,
        &batch,
        "/predict",
        started,
        request_id.as_ref().map(|e| &e.0),
    )?;
    let response = protocol::labelled(
        &current.model,
        &current.name,
        current.version,
        probabilities,
    );
    Ok(Json(response).into_response())
}

async fn server_metadata() -> Json<kserve::ServerMetadata> {
    Json(kserve::ServerMetadata {
        name: "maas".into(),
        version: crate::MAAS_VERSION.into(),
        extensions: vec![],
    })
}

async fn live() -> Json<serde_json::Value> {
    Json(json!({ "live": true }))
}

async fn ready(State(state): State<AppState>) -> Response {
    readiness(&state, None, None)
}

fn readiness(state: &AppState, name: Option<&str>, version: Option<&str>) -> Response {
    match served(state, name, version) {
        Ok(_) if name.is_some() => {
            Json(json!({ "name": state.model.name(), "ready": true })).into_response()
        }
        Ok(_) => Json(json!({ "ready": true })).into_response(),
        Err(e) if e.status == StatusCode::SERVICE_UNAVAILABLE => (
            e.status,
            Json(json!({ "ready": false, "error": e.message })),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn model_ready(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    readiness(&state, Some(&name), None)
}

async fn model_ready_version(
    State(state): State<AppState>,
    Path((name, version)): Path<(String, String)>,
) -> Response {
    readiness(&state, Some(&name), Some(&version))
}

fn metadata(
    state: &AppState,
    name: &str,
    version: Option<&str>,
) -> Result<Json<kserve::ModelMetadata>, ApiError> {
    let current = served(state, Some(name), version)?;
    Ok(Json(kserve::model_metadata(
        &current.name,
        current.version,
        &current.model,
    )))
}

async fn model_metadata(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<kserve::ModelMetadata>, ApiError> {
    metadata(&state, &name, None)
}

async fn model_metadata_version(
    State(state): State<AppState>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<kserve::ModelMetadata>, ApiError> {
    metadata(&state, &name, Some(&version))
}

const KSERVE_EXAMPLE: &str =
    r#"{"inputs": [{"name": "input", "shape": [1, F], "datatype": "FP32", "data": [...]}]}"#;

async fn infer(
    state: AppState,
    name: String,
    version: Option<String>,
    request_id: Option<Extension<RequestId>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<kserve::InferResponse>, ApiError> {
    let started = Instant::now();
    let current = served(&state, Some(&name), version.as_deref())?;
    let request: kserve::InferRequest = json_body(&state, &headers, body, KSERVE_EXAMPLE).await?;
    let batch = kserve::batch_from_request(&request, &current.model)?;
    let route = "/v2/models/{name}/infer";
    let probabilities = run_batch(
        &state,
        &current,
        &batch,
        route,
        started,
        request_id.as_ref().map(|e| &e.0),
    )?;
    Ok(Json(kserve::response(
        &current.name,
        current.version,
        request.id,
        &current.model.output.name,
        batch.rows,
        probabilities,
    )))
}

async fn kserve_infer(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request_id: Option<Extension<RequestId>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<kserve::InferResponse>, ApiError> {
    infer(state, name, None, request_id, headers, body).await
}

async fn kserve_infer_version(
    State(state): State<AppState>,
    Path((name, version)): Path<(String, String)>,
    request_id: Option<Extension<RequestId>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<kserve::InferResponse>, ApiError> {
    infer(state, name, Some(version), request_id, headers, body).await
}

/// A TF Serving path after `/v1/models/`: the model name, an optional version and the verb.
fn parse_tf_path(rest: &str) -> Result<(String, Option<String>, Option<String>), ApiError> {
    let (path, verb) = match rest.rsplit_once(':') {
        Some((path, verb)) => (path, Some(verb.to_string())),
        None => (rest, None),
    };
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        [name] if !name.is_empty() => Ok((name.to_string(), None, verb)),
        [name, "versions", version] if !name.is_empty() && !version.is_empty() => {
            Ok((name.to_string(), Some(version.to_string()), verb))
        }
        _ => Err(ApiError::not_found(format!(
            "no route for /v1/models/{rest}; use /v1/models/<name>[/versions/<n>]:predict"
        ))),
    }
}

const TF_EXAMPLE: &str = r#"{"instances": [[0.0, 1.0, ...]]}"#;

async fn tf_predict(
    State(state): State<AppState>,
    Path(rest): Path<String>,
    request_id: Option<Extension<RequestId>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<tfserving::PredictResponse>, ApiError> {
    let started = Instant::now();
    let (name, version, verb) = parse_tf_path(&rest)?;
    match verb.as_deref() {
        Some("predict") => {}
        Some(other) => {
            return Err(ApiError::not_found(format!(
                "':{other}' is not supported; maas answers ':predict'"
            )))
        }
        None => {
            return Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("POST needs a verb: /v1/models/{rest}:predict"),
            ))
        }
    }
    let current = served(&state, Some(&name), version.as_deref())?;
    let request: tfserving::PredictRequest = json_body(&state, &headers, body, TF_EXAMPLE).await?;
    let (format, batch) = tfserving::batch_from_request(
        &request,
        &current.model.input.name,
        current.model.n_features,
    )?;
    let probabilities = run_batch(
        &state,
        &current,
        &batch,
        "/v1/models/{name}:predict",
        started,
        request_id.as_ref().map(|e| &e.0),
    )?;
    Ok(Json(tfserving::response(
        format,
        &probabilities,
        current.model.n_classes(),
    )))
}

async fn tf_status(
    State(state): State<AppState>,
    Path(rest): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (name, version, verb) = parse_tf_path(&rest)?;
    if let Some(verb) = verb {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("GET is not allowed on ':{verb}'; send a POST"),
        ));
    }
    let current = served(&state, Some(&name), version.as_deref())?;
    Ok(Json(json!({
        "model_version_status": [{
            "version": current.version.map(|v| v.to_string()).unwrap_or_else(|| "0".into()),
            "state": "AVAILABLE",
            "status": {"error_code": "OK", "error_message": ""}
        }]
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    async fn answer(app: Router, uri: &str) -> (StatusCode, String, serde_json::Value) {
        let request = axum::http::Request::get(uri).body(Body::empty()).unwrap();
        let response = app.oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            content_type,
            serde_json::from_slice(&bytes).unwrap(),
        )
    }

    #[tokio::test]
    async fn a_panicking_handler_becomes_a_500_json_reply() {
        let app = harden(Router::new().route(
            "/boom",
            get(|| async {
                if true {
                    panic!("index out of bounds");
                }
                "unreachable"
            }),
        ));
        let (status, content_type, body) = answer(app, "/boom").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(content_type, "application/json");
        assert_eq!(
            body["error"],
            "internal error: the request could not be answered; it has been logged"
        );
    }

    #[tokio::test]
    async fn axums_plain_text_rejections_become_json() {
        let app = harden(Router::new().route(
            "/m/{name}",
            get(|Path(name): Path<String>| async move { name }),
        ));
        let (status, content_type, body) = answer(app, "/m/%FF").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(content_type, "application/json");
        assert_eq!(body["error"], "Invalid URL: Invalid UTF-8 in `name`");
    }
}
