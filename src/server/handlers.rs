//! The route handlers: each extracts the model it answers with, checks the request with the
//! protocol module, runs the batch and answers in the protocol's shape.

use crate::clock::Instant;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;

use super::body::{parse_json, InferBody, JsonBody, JsonBytes};
use super::error::ApiError;
use super::metrics::PredictionMetrics;
use super::state::ServedModel;
use super::{AppState, RequestId};
use crate::protocol::{self, kserve, tfserving};
use crate::tensor::Tensor;

/// The model a route names: `{name}` and, in the versioned form, `{version}` (neither on
/// `/predict`).
#[derive(Debug, Clone, Deserialize)]
pub struct ModelPath {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    version: Option<String>,
}

/// The served model, checked against the name and version the route names (none for
/// `/predict`): 404 for another name or version, 503 while no model is loaded.
pub struct CurrentModel(pub(crate) Arc<ServedModel>);

impl FromRequestParts<AppState> for CurrentModel {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Path(path) =
            <Path<ModelPath> as FromRequestParts<AppState>>::from_request_parts(parts, state)
                .await
                .map_err(|e| ApiError::new(e.status(), e.body_text()))?;
        served(state, path.name.as_deref(), path.version.as_deref()).map(CurrentModel)
    }
}

/// What a POST on TF Serving's paths asks for: `:predict`, or KServe V1's `:explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TfVerb {
    Predict,
    Explain,
}

/// The model a TF Serving (or KServe V1) POST path names, after its verb was checked.
pub struct TfPostModel(Arc<ServedModel>, TfVerb);

impl FromRequestParts<AppState> for TfPostModel {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Path(rest) =
            <Path<String> as FromRequestParts<AppState>>::from_request_parts(parts, state)
                .await
                .map_err(|e| ApiError::new(e.status(), e.body_text()))?;
        let (name, version, verb) = parse_tf_path(&rest)?;
        let verb = match verb.as_deref() {
            Some("predict") => TfVerb::Predict,
            Some("explain") => TfVerb::Explain,
            Some(other) => {
                return Err(ApiError::not_found(format!(
                    "':{other}' is not supported; maas answers ':predict' and ':explain'"
                )))
            }
            None => {
                return Err(ApiError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    format!("POST needs a verb: /v1/models/{rest}:predict"),
                ))
            }
        };
        served(state, Some(&name), version.as_deref()).map(|m| TfPostModel(m, verb))
    }
}

/// The served model, checked against the name and version a route names.
pub(crate) fn served(
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

/// Input elements up to which an inference runs on the request's own thread once admitted
/// (the reference model answers 16 rows of 1000 features in about 0.1 ms); larger ones go to
/// the blocking pool.
const INLINE_ELEMENTS: usize = 16 * 1024;

/// Runs checked input tensors within the row limit (`MAAS_MAX_ROWS` bounds every input's
/// first dimension, the batch) under the server's admission limit and deadline, on the
/// blocking pool, and reports metrics. `deadline` is a client's own (gRPC's); the request
/// timeout applies from `started` whichever is sooner.
pub(crate) async fn run_tensors(
    state: &AppState,
    served: Arc<ServedModel>,
    tensors: Vec<Tensor>,
    route: &'static str,
    started: Instant,
    client_deadline: Option<std::time::Duration>,
    request_id: Option<&str>,
) -> Result<Vec<Tensor>, ApiError> {
    let max = state.config.max_rows;
    let rows = tensors
        .iter()
        .filter_map(|t| t.shape().first().copied())
        .max()
        .unwrap_or(1);
    if rows > max {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("{rows} rows exceed the limit of {max} rows per request (MAAS_MAX_ROWS)"),
        ));
    }
    let timeout = match (state.config.request_timeout, client_deadline) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let deadline = super::admission::deadline(started, timeout);
    let model = served.clone();
    let elements: usize = tensors.iter().map(Tensor::len).sum();
    let (outputs, inference_seconds) = state
        .admission
        .run_sized(deadline, elements <= INLINE_ELEMENTS, move || {
            let inference_started = Instant::now();
            let outputs = model.model.run(&tensors);
            (outputs, inference_started.elapsed().as_secs_f64())
        })
        .await?;
    let outputs = outputs?;
    if let Some(observer) = &state.observer {
        observer.inference(route, rows, inference_seconds);
    }
    if state.config.emit_metrics {
        PredictionMetrics {
            model: &served.name,
            version: served.version,
            route,
            rows,
            inference_ms: inference_seconds * 1e3,
            total_ms: started.elapsed().as_secs_f64() * 1e3,
            request_id,
        }
        .emit();
    }
    Ok(outputs)
}

/// `POST /predict`: rows of features or named inputs in; labelled probabilities, regression
/// values or named outputs out.
pub async fn native_predict(
    State(state): State<AppState>,
    CurrentModel(current): CurrentModel,
    request_id: Option<Extension<RequestId>>,
    JsonBody(request): JsonBody<protocol::PredictRequest>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let tensors =
        protocol::native_tensors(&request.inputs, &current.model, state.config.max_elements())?;
    let outputs = run_tensors(
        &state,
        current.clone(),
        tensors,
        "/predict",
        started,
        None,
        request_id.as_ref().map(|r| r.0 .0.as_str()),
    )
    .await?;
    let response =
        protocol::native_response(&current.model, &current.name, current.version, outputs)?;
    Ok(Json(response).into_response())
}

/// `GET /v2`: the server's name and version.
pub async fn server_metadata() -> Json<kserve::ServerMetadata> {
    Json(kserve::ServerMetadata {
        name: "maas".into(),
        version: crate::MAAS_VERSION.into(),
        extensions: vec![],
    })
}

/// `GET /v2/health/live`: the process answers.
pub async fn live() -> Json<serde_json::Value> {
    Json(json!({ "live": true }))
}

/// `GET /v2/health/ready`: 200 once a model is loaded, 503 with the reason before.
pub async fn ready(State(state): State<AppState>) -> Response {
    readiness(&state, None, None)
}

/// `GET /v2/models/{name}[/versions/{version}]/ready`.
pub async fn model_ready(State(state): State<AppState>, Path(path): Path<ModelPath>) -> Response {
    readiness(&state, path.name.as_deref(), path.version.as_deref())
}

fn readiness(state: &AppState, name: Option<&str>, version: Option<&str>) -> Response {
    if state.is_draining() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "ready": false, "error": "the server is shutting down" })),
        )
            .into_response();
    }
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

/// `GET /v2/models/{name}[/versions/{version}]`: inputs and outputs with datatypes and shapes.
pub async fn model_metadata(CurrentModel(current): CurrentModel) -> Json<kserve::ModelMetadata> {
    Json(kserve::model_metadata(
        &current.name,
        current.version,
        &current.model,
    ))
}

/// `POST /v2/models/{name}[/versions/{version}]/infer`: KServe V2 inference, JSON or with
/// the binary tensor data extension both ways.
pub async fn kserve_infer(
    State(state): State<AppState>,
    CurrentModel(current): CurrentModel,
    request_id: Option<Extension<RequestId>>,
    body: InferBody,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let (header, binary) = kserve::split_body(&body.bytes, body.header_length.as_deref())?;
    let request: kserve::InferRequest = parse_json(header)?;
    let selected = kserve::selected_outputs(&request, &current.model)?;
    let tensors = kserve::tensors_from_request(
        &request,
        binary,
        &current.model,
        state.config.max_elements(),
    )?;
    let outputs = run_tensors(
        &state,
        current.clone(),
        tensors,
        "/v2/models/{name}/infer",
        started,
        None,
        request_id.as_ref().map(|r| r.0 .0.as_str()),
    )
    .await?;
    let encoded = kserve::response(
        &current.name,
        current.version,
        request.id,
        &current.model,
        &outputs,
        &selected,
    )
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(match encoded.header_length {
        None => ([(header::CONTENT_TYPE, "application/json")], encoded.body).into_response(),
        Some(length) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_string()),
                (
                    HeaderName::from_static(kserve::HEADER_LENGTH),
                    length.to_string(),
                ),
            ],
            encoded.body,
        )
            .into_response(),
    })
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

/// `POST /v1/models/{name}[/versions/{version}]:predict` (TF Serving's row or columnar
/// format) and `:explain` (KServe V1's explanation).
pub async fn tf_post(
    State(state): State<AppState>,
    TfPostModel(current, verb): TfPostModel,
    request_id: Option<Extension<RequestId>>,
    JsonBytes(body): JsonBytes,
) -> Result<Response, ApiError> {
    match verb {
        TfVerb::Predict => {
            let request = parse_json(&body)?;
            tf_predict(state, current, request_id, request)
                .await
                .map(IntoResponse::into_response)
        }
        TfVerb::Explain => super::explain::v1_explain(state, current, &body).await,
    }
}

/// `:predict`: TF Serving's row or columnar format.
async fn tf_predict(
    state: AppState,
    current: Arc<ServedModel>,
    request_id: Option<Extension<RequestId>>,
    request: tfserving::PredictRequest,
) -> Result<Json<tfserving::PredictResponse>, ApiError> {
    let started = Instant::now();
    let (format, tensors) =
        tfserving::tensors_from_request(&request, &current.model, state.config.max_elements())?;
    let outputs = run_tensors(
        &state,
        current.clone(),
        tensors,
        "/v1/models/{name}:predict",
        started,
        None,
        request_id.as_ref().map(|r| r.0 .0.as_str()),
    )
    .await?;
    Ok(Json(tfserving::response(format, &current.model, &outputs)))
}

/// `GET /v1/models/{name}[/versions/{version}]`: TF Serving's model status.
pub async fn tf_status(
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
