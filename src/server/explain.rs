//! The explanation routes: native `/explain`, KServe V1 `:explain` (through TF Serving's
//! `/v1/models/…` paths) and KServe V2 `/explain`. Each checks the request against the model
//! and its background, refuses one that would evaluate more model rows than
//! `MAAS_MAX_EXPLAIN_ROWS`, and runs it under the admission limit and deadline.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::Value;

use super::body::{parse_json, InferBody, JsonBody, RequestExample};
use super::error::ApiError;
use super::handlers::CurrentModel;
use super::state::ServedModel;
use super::{AppState, RequestId};
use crate::clock::Instant;
use crate::explain::{self, Background, RowExplanation, Settings};
use crate::protocol::explain::{self as wire, ExplainParameters, RowsExplainRequest};
use crate::protocol::{kserve, Batch};

impl RequestExample for RowsExplainRequest {
    const EXAMPLE: &'static str =
        r#"{"inputs": [[0.0, 1.0, ...]], "method": "kernel", "samples": 2000, "seed": 0}"#;
}

/// The served model's background and feature count, or why it cannot explain.
fn explainable(served: &ServedModel) -> Result<(Arc<Background>, usize), ApiError> {
    let Some(features) = served
        .model
        .n_features()
        .filter(|_| served.model.answer_index().is_some())
    else {
        return Err(ApiError::bad_request(
            "explanations need a classifier or regressor with one [batch, features] float32 input; this model answers tensors",
        ));
    };
    let background = served.background.clone().ok_or_else(|| {
        ApiError::bad_request(format!(
            "model '{}' has no background to explain against: publish it with `maas publish --background ROWS.csv` (or train it with maas, which stores a sample of its training rows)",
            served.name
        ))
    })?;
    Ok((background, features))
}

/// What an explanation run gives: the settings it ran with, each row's attributions and each
/// row's answer.
type Explained = (Settings, Vec<RowExplanation>, Vec<Vec<f32>>);

/// Runs the explanation of `batch` within the cost bound, admission limit and deadline.
async fn run(
    state: &AppState,
    served: &Arc<ServedModel>,
    background: Arc<Background>,
    batch: Batch,
    settings: Settings,
    route: &'static str,
    started: Instant,
) -> Result<Explained, ApiError> {
    if batch.rows > state.config.max_rows {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{} rows exceed the limit of {} rows per request (MAAS_MAX_ROWS)",
                batch.rows, state.config.max_rows
            ),
        ));
    }
    let cost = explain::cost(&settings, &background, batch.rows);
    let limit = state.config.max_explain_rows;
    if cost > limit {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "explaining {} rows this way evaluates {cost} model rows ({} per row: coalitions × {} background rows), over the limit of {limit} (MAAS_MAX_EXPLAIN_ROWS); send fewer rows, fewer samples or groups of features",
                batch.rows,
                cost / batch.rows.max(1),
                background.len()
            ),
        ));
    }
    let deadline = super::admission::deadline(started, state.config.request_timeout);
    let model = Arc::clone(served);
    let chunk_rows = state.config.max_rows;
    let (result, seconds) = state
        .admission
        .run_sized(deadline, false, move || {
            let started = Instant::now();
            let explained = explain::explain_rows(
                &model.model,
                &background,
                &batch.values,
                batch.rows,
                &settings,
                chunk_rows,
            );
            let answers = explained.and_then(|rows| {
                let predictions = model
                    .model
                    .predict(&batch.values, batch.rows)
                    .map_err(|e| explain::ExplainError::Model(e.to_string()))?;
                let width = predictions.len() / batch.rows.max(1);
                let predictions = predictions
                    .chunks_exact(width.max(1))
                    .map(<[f32]>::to_vec)
                    .collect();
                Ok((settings, rows, predictions))
            });
            (answers, started.elapsed().as_secs_f64())
        })
        .await?;
    if let Some(observer) = &state.observer {
        observer.inference(route, batch_rows(&result), seconds);
    }
    result.map_err(|e| match e {
        explain::ExplainError::Model(_) => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
        other => ApiError::bad_request(other.to_string()),
    })
}

fn batch_rows<E>(result: &Result<Explained, E>) -> usize {
    result.as_ref().map_or(0, |(_, rows, _)| rows.len())
}

/// `POST /explain`: rows and the explanation's fields → attributions per row.
pub async fn native_explain(
    State(state): State<AppState>,
    CurrentModel(current): CurrentModel,
    _request_id: Option<Extension<RequestId>>,
    JsonBody(request): JsonBody<RowsExplainRequest>,
) -> Result<Json<Value>, ApiError> {
    let started = Instant::now();
    let (background, features) = explainable(&current)?;
    let batch = request.rows("inputs", features)?;
    let settings = request.parameters().settings(&current.model, features)?;
    let (settings, rows, _) = run(
        &state,
        &current,
        Arc::clone(&background),
        batch,
        settings,
        "/explain",
        started,
    )
    .await?;
    Ok(Json(wire::native_response(
        &current.model,
        &current.name,
        current.version,
        &settings,
        &background,
        &rows,
    )))
}

/// `POST /v1/models/{name}[/versions/{version}]:explain`: KServe V1 `instances` →
/// `predictions` and `explanations`.
pub(crate) async fn v1_explain(
    state: AppState,
    current: Arc<ServedModel>,
    body: &[u8],
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let request: RowsExplainRequest = parse_json(body)?;
    let (background, features) = explainable(&current)?;
    let batch = request.rows("instances", features)?;
    let settings = request.parameters().settings(&current.model, features)?;
    let (settings, rows, predictions) = run(
        &state,
        &current,
        Arc::clone(&background),
        batch,
        settings,
        "/v1/models/{name}:explain",
        started,
    )
    .await?;
    Ok(Json(wire::v1_response(
        &current.model,
        &settings,
        &background,
        predictions,
        &rows,
    ))
    .into_response())
}

/// `POST /v2/models/{name}[/versions/{version}]/explain`: a V2 inference request (JSON or
/// binary inputs) with the explanation's `parameters`.
pub async fn v2_explain(
    State(state): State<AppState>,
    CurrentModel(current): CurrentModel,
    body: InferBody,
) -> Result<Json<Value>, ApiError> {
    let started = Instant::now();
    let (header, binary) = kserve::split_body(&body.bytes, body.header_length.as_deref())?;
    let request: kserve::InferRequest = parse_json(header)?;
    let (background, features) = explainable(&current)?;
    let tensors = kserve::tensors_from_request(
        &request,
        binary,
        &current.model,
        state.config.max_elements(),
    )?;
    let values = tensors
        .first()
        .and_then(|t| t.to_f32())
        .ok_or_else(|| ApiError::bad_request("send the rows as an FP32 input"))?;
    let batch = Batch {
        rows: values.len() / features.max(1),
        values,
    };
    let settings = ExplainParameters::from_v2(request.parameters.as_ref())
        .settings(&current.model, features)?;
    let (settings, rows, _) = run(
        &state,
        &current,
        Arc::clone(&background),
        batch,
        settings,
        "/v2/models/{name}/explain",
        started,
    )
    .await?;
    Ok(Json(wire::v2_response(
        &current.model,
        &current.name,
        current.version,
        request.id,
        &settings,
        &background,
        &rows,
    )))
}
