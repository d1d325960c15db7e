//! Text generation over HTTP: the OpenAI routes (completions, chat completions, models) and
//! KServe's generate extension. A generation holds one admission slot from its first token to
//! its last, runs on the blocking pool and hands its text through a channel, buffered into one
//! answer or streamed as Server-Sent Events as it comes; a client that goes away ends it
//! within a token, and the request's deadline (`MAAS_REQUEST_TIMEOUT_MS`) ends it too.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;
use tokio::sync::mpsc;

use super::admission;
use super::body::{read_json, JsonBody, RequestExample};
use super::error::ApiError;
use super::handlers::{served, CurrentModel};
use super::metrics::GenerationMetrics;
use super::state::ServedModel;
use super::{AppState, GenerationReport};
use crate::clock::{unix_seconds, Instant};
use crate::generation::{Completion, GenerationError, GenerationRequest, TextModel, Timings};
use crate::protocol::text::generate::{Answering, GenerateRequest};
use crate::protocol::text::openai::{self, ChatRequest, Chunk, CompletionRequest, Envelope};
use crate::protocol::text::ParamError;

impl RequestExample for CompletionRequest {
    const EXAMPLE: &'static str =
        r#"{"model": "NAME", "prompt": "Once upon a time", "max_tokens": 32}"#;
}

impl RequestExample for ChatRequest {
    const EXAMPLE: &'static str =
        r#"{"model": "NAME", "messages": [{"role": "user", "content": "Hello"}]}"#;
}

impl RequestExample for GenerateRequest {
    const EXAMPLE: &'static str =
        r#"{"text_input": "Once upon a time", "parameters": {"max_tokens": 32}}"#;
}

/// What a running generation hands to the request that started it.
enum Piece {
    /// Text of prompt `index`, settled (never split inside a character or a stop string).
    Text { index: usize, text: String },
    /// Prompt `index` is finished.
    Done {
        index: usize,
        completion: Box<Completion>,
    },
    /// The generation failed; nothing follows.
    Failed(ApiError),
}

impl GenerationReport {
    fn finished(completion: &crate::generation::Completion) -> Self {
        GenerationReport {
            outcome: "finished",
            prompt_tokens: completion.prompt_tokens,
            completion_tokens: completion.tokens.len(),
            time_to_first_token: Some(completion.timings.first_token),
            per_token: completion.timings.per_token.clone(),
        }
    }

    /// The same, after `waited` for a slot.
    fn waited(mut self, waited: std::time::Duration) -> Self {
        self.time_to_first_token = self.time_to_first_token.map(|t| t + waited);
        self
    }
}

/// A generation error as the HTTP API answers it.
fn refusal(e: GenerationError) -> ApiError {
    if e.is_client_error() {
        ApiError::bad_request(e.to_string())
    } else {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

/// Why a generation did not start: the error and the request field at fault.
struct NotStarted {
    error: ApiError,
    param: Option<&'static str>,
}

impl From<ApiError> for NotStarted {
    fn from(error: ApiError) -> Self {
        NotStarted { error, param: None }
    }
}

impl From<super::admission::Refusal> for NotStarted {
    fn from(refusal: super::admission::Refusal) -> Self {
        ApiError::from(refusal).into()
    }
}

impl From<NotStarted> for ApiError {
    fn from(e: NotStarted) -> Self {
        e.error
    }
}

impl From<NotStarted> for OpenAiError {
    fn from(e: NotStarted) -> Self {
        OpenAiError {
            param: e.param,
            ..e.error.into()
        }
    }
}

/// The text model of a served model, or why it has none.
fn text_model(served: &ServedModel) -> Result<Arc<TextModel>, ApiError> {
    served.text.clone().ok_or_else(|| {
        ApiError::bad_request(format!(
            "model '{}' is a {} model, not a text-generation one: it answers /v2/models/{}/infer",
            served.name,
            served.model.task(),
            served.name
        ))
    })
}

/// Checks every request, takes a slot and starts generating on the blocking pool; the
/// receiver gets the pieces. `stream` sends the text as it comes; otherwise only the
/// finished completions are sent.
async fn start(
    state: &AppState,
    served: &ServedModel,
    requests: &[GenerationRequest],
    route: &'static str,
    started: Instant,
    stream: bool,
) -> Result<mpsc::Receiver<Piece>, NotStarted> {
    let text = text_model(served)?;
    let prepared = requests
        .iter()
        .map(|r| text.prepare(r, state.config.max_tokens))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| NotStarted {
            param: e.field(),
            error: refusal(e),
        })?;
    let timeout = state.config.request_timeout;
    let slot = state
        .admission
        .admit(admission::deadline(started, timeout))
        .await?;
    let waited = started.elapsed();
    let ends = timeout.map(|t| (started + t, t));
    let observer = state.observer.clone();
    let emf = state
        .config
        .emit_metrics
        .then(|| (served.name.clone(), served.version));
    // a few pieces in flight, then the generation waits for its reader (a slow client slows
    // it, a gone one stops it); without threads (the edge) the generation runs inline before
    // the answer starts, so everything it sends must fit
    let capacity = if cfg!(feature = "native") {
        16
    } else {
        prepared.iter().map(|p| p.max_tokens() + 2).sum::<usize>() + 1
    };
    let (sender, receiver) = mpsc::channel(capacity);
    let outlet = Outlet {
        sender,
        runtime: tokio::runtime::Handle::try_current().ok(),
        stream,
        ends,
    };
    admission::spawn_holding(slot, move || {
        if let Some(o) = &observer {
            o.generations_in_flight(1);
        }
        let reports: Vec<GenerationReport> = generate_all(&text, prepared, &outlet)
            .into_iter()
            .map(|r| r.waited(waited))
            .collect();
        if let Some(o) = &observer {
            o.generations_in_flight(-1);
            for report in &reports {
                o.generation(route, report);
            }
        }
        if let Some((model, version)) = &emf {
            for report in reports.iter().filter(|r| r.outcome == "finished") {
                GenerationMetrics {
                    model,
                    version: *version,
                    route,
                    prompt_tokens: report.prompt_tokens,
                    completion_tokens: report.completion_tokens,
                    time_to_first_token_ms: report
                        .time_to_first_token
                        .map_or(0.0, |t| t.as_secs_f64() * 1e3),
                    tokens_per_second: Timings::rate(&report.per_token),
                }
                .emit();
            }
        }
    });
    Ok(receiver)
}

/// Longest a generation waits for a reader that takes nothing when the request has no
/// deadline: a client that reads nothing for this long is taken as gone.
const STALL_LIMIT: Duration = Duration::from_secs(30);

/// Where a generation's pieces go.
struct Outlet {
    sender: mpsc::Sender<Piece>,
    /// The runtime to wait on for room in the channel, from the blocking thread.
    runtime: Option<tokio::runtime::Handle>,
    /// Whether the text goes out as it comes (else only the finished completions).
    stream: bool,
    /// The request's deadline and its length.
    ends: Option<(Instant, Duration)>,
}

impl Outlet {
    fn expired(&self) -> bool {
        self.ends.is_some_and(|(at, _)| Instant::now() >= at)
    }

    /// Sends a piece, waiting for room until the deadline (or [`STALL_LIMIT`]); `false` once
    /// the reader is gone or never made room.
    fn send(&self, piece: Piece) -> bool {
        match self.sender.try_send(piece) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Closed(_)) => false,
            Err(mpsc::error::TrySendError::Full(piece)) => {
                let Some(runtime) = &self.runtime else {
                    return false;
                };
                let wait = self
                    .ends
                    .map_or(STALL_LIMIT, |(at, _)| at.duration_since(Instant::now()));
                runtime
                    .block_on(tokio::time::timeout(wait, self.sender.send(piece)))
                    .is_ok_and(|sent| sent.is_ok())
            }
        }
    }
}

/// Runs the prompts in turn, sending their pieces; what each did, for the metrics.
fn generate_all(
    text: &TextModel,
    prepared: Vec<crate::generation::Prepared>,
    outlet: &Outlet,
) -> Vec<GenerationReport> {
    let mut reports = Vec::new();
    for (index, prepared) in prepared.into_iter().enumerate() {
        let mut timed_out = false;
        let mut emit = |piece: &str| {
            if outlet.expired() {
                timed_out = true;
                return false;
            }
            if outlet.stream {
                outlet.send(Piece::Text {
                    index,
                    text: piece.to_string(),
                })
            } else {
                !outlet.sender.is_closed()
            }
        };
        let result = text.generate(prepared, &mut emit);
        let failure = match result {
            Ok(completion) => {
                reports.push(GenerationReport::finished(&completion));
                let done = Piece::Done {
                    index,
                    completion: Box::new(completion),
                };
                if outlet.send(done) {
                    continue;
                }
                // the completion was made, but nobody took it
                reports.push(GenerationReport::outcome("cancelled"));
                return reports;
            }
            Err(GenerationError::Cancelled) if timed_out || outlet.expired() => {
                let timeout_ms = outlet.ends.map_or(0, |(_, t)| t.as_millis());
                reports.push(GenerationReport::outcome("timeout"));
                ApiError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    format!("the request's deadline of {timeout_ms} ms passed during the generation (MAAS_REQUEST_TIMEOUT_MS); ask for fewer max_tokens"),
                )
            }
            Err(GenerationError::Cancelled) => {
                reports.push(GenerationReport::outcome("cancelled"));
                return reports;
            }
            Err(e) => {
                tracing::error!(error = %e, "generation failed");
                reports.push(GenerationReport::outcome("failed"));
                refusal(e)
            }
        };
        outlet.send(Piece::Failed(failure));
        return reports;
    }
    reports
}

/// Waits for every completion of a generation started without streaming.
async fn collect(
    mut pieces: mpsc::Receiver<Piece>,
    count: usize,
) -> Result<Vec<Completion>, ApiError> {
    let mut done: Vec<Option<Completion>> = vec![None; count];
    while let Some(piece) = pieces.recv().await {
        match piece {
            Piece::Text { .. } => {}
            Piece::Done { index, completion } => {
                if let Some(slot) = done.get_mut(index) {
                    *slot = Some(*completion);
                }
            }
            Piece::Failed(e) => return Err(e),
        }
    }
    done.into_iter().collect::<Option<Vec<_>>>().ok_or_else(|| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the generation stopped without an answer; it has been logged",
        )
    })
}

/// Server-Sent Events of a generation: `opening` first, then what `format` makes of each
/// piece, then `closing` (OpenAI's `[DONE]`) unless the generation failed.
fn sse(
    pieces: mpsc::Receiver<Piece>,
    opening: Vec<Event>,
    format: impl FnMut(Piece) -> Vec<Event> + Send + 'static,
    closing: Option<Event>,
) -> Response {
    struct Streaming<F> {
        pieces: mpsc::Receiver<Piece>,
        pending: VecDeque<Event>,
        format: F,
        closing: Option<Event>,
        failed: bool,
    }
    let streaming = Streaming {
        pieces,
        pending: opening.into(),
        format,
        closing,
        failed: false,
    };
    let events = futures_util::stream::unfold(streaming, |mut s| async move {
        loop {
            if let Some(event) = s.pending.pop_front() {
                return Some((Ok::<Event, Infallible>(event), s));
            }
            match s.pieces.recv().await {
                Some(piece) => {
                    s.failed |= matches!(piece, Piece::Failed(_));
                    let events = (s.format)(piece);
                    s.pending.extend(events);
                }
                None => {
                    let closing = s.closing.take().filter(|_| !s.failed)?;
                    return Some((Ok(closing), s));
                }
            }
        }
    });
    let mut response = Sse::new(events).into_response();
    // proxies (nginx, CloudFront) pass events through as they come
    response
        .headers_mut()
        .insert("x-accel-buffering", header::HeaderValue::from_static("no"));
    response
}

fn data(value: &Value) -> Event {
    Event::default().data(value.to_string())
}

/// An error of the OpenAI routes: OpenAI's error body, with the field at fault as `param`.
pub(crate) struct OpenAiError {
    error: ApiError,
    param: Option<&'static str>,
    code: Option<&'static str>,
}

impl From<ApiError> for OpenAiError {
    fn from(error: ApiError) -> Self {
        let code = (error.status == StatusCode::NOT_FOUND).then_some("model_not_found");
        OpenAiError {
            error,
            param: None,
            code,
        }
    }
}

impl From<ParamError> for OpenAiError {
    fn from(e: ParamError) -> Self {
        OpenAiError {
            param: e.param,
            ..ApiError::bad_request(e.message).into()
        }
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let mut response = self.error.clone().into_response();
        let body = openai::error_body(
            self.error.status.as_u16(),
            &self.error.message,
            self.param,
            self.code,
        );
        *response.body_mut() = axum::body::Body::from(body.to_string());
        response
    }
}

fn openai_error_event(error: &ApiError) -> Event {
    data(&openai::error_body(
        error.status.as_u16(),
        &error.message,
        None,
        None,
    ))
}

/// The served model a request's `model` names (any name when it names none).
fn openai_model(state: &AppState, model: Option<&str>) -> Result<Arc<ServedModel>, OpenAiError> {
    served(state, model, None).map_err(|e| {
        let mut e = OpenAiError::from(e);
        if e.code.is_some() {
            e.param = Some("model");
        }
        e
    })
}

/// `POST /v1/completions` (and `/openai/v1/completions`).
pub async fn completions(State(state): State<AppState>, request: Request) -> Response {
    answer_completions(state, request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn answer_completions(state: AppState, request: Request) -> Result<Response, OpenAiError> {
    let started = Instant::now();
    let body: CompletionRequest = read_json(request, &state).await?;
    let requests = body.requests()?;
    answer_openai(&state, started, &body.common, &requests, false).await
}

/// `POST /v1/chat/completions` (and `/openai/v1/chat/completions`).
pub async fn chat_completions(State(state): State<AppState>, request: Request) -> Response {
    answer_chat(state, request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn answer_chat(state: AppState, request: Request) -> Result<Response, OpenAiError> {
    let started = Instant::now();
    let body: ChatRequest = read_json(request, &state).await?;
    let generation = body.request()?;
    answer_openai(
        &state,
        started,
        &body.common,
        std::slice::from_ref(&generation),
        true,
    )
    .await
}

/// The completions' (`chat` false: one choice per prompt) or the chat completion's answer:
/// one JSON object, or its stream.
async fn answer_openai(
    state: &AppState,
    started: Instant,
    common: &openai::Common,
    requests: &[GenerationRequest],
    chat: bool,
) -> Result<Response, OpenAiError> {
    let current = openai_model(state, common.model.as_deref())?;
    let stream = common.streams();
    let (route, prefix) = if chat {
        ("/v1/chat/completions", "chatcmpl")
    } else {
        ("/v1/completions", "cmpl")
    };
    let pieces = start(state, &current, requests, route, started, stream).await?;
    let envelope = Envelope::new(prefix, unix_seconds(), &current.name);
    if stream {
        return Ok(openai_stream(
            pieces,
            envelope,
            chat,
            common.include_usage(),
            requests.len(),
        ));
    }
    let completions = collect(pieces, requests.len()).await?;
    let answer = if chat {
        openai::chat_response(&envelope, &completions[0])
    } else {
        openai::completion_response(&envelope, &completions)
    };
    Ok(Json(answer).into_response())
}

/// OpenAI's stream: chunks, the usage chunk when asked for, `[DONE]`.
fn openai_stream(
    pieces: mpsc::Receiver<Piece>,
    envelope: Envelope,
    chat: bool,
    include_usage: bool,
    prompts: usize,
) -> Response {
    let opening = if chat {
        vec![data(&openai::chunk(
            &envelope,
            true,
            include_usage,
            Chunk::Role,
        ))]
    } else {
        Vec::new()
    };
    let mut finished: Vec<Completion> = Vec::new();
    let format = move |piece: Piece| match piece {
        Piece::Text { index, text } => vec![data(&openai::chunk(
            &envelope,
            chat,
            include_usage,
            Chunk::Text { index, text: &text },
        ))],
        Piece::Done { index, completion } => {
            let mut events = vec![data(&openai::chunk(
                &envelope,
                chat,
                include_usage,
                Chunk::Finished {
                    index,
                    completion: &completion,
                },
            ))];
            finished.push(*completion);
            if include_usage && finished.len() == prompts {
                let usage = openai::Usage::of(&finished);
                events.push(data(&openai::chunk(
                    &envelope,
                    chat,
                    include_usage,
                    Chunk::Usage(usage),
                )));
            }
            events
        }
        Piece::Failed(error) => vec![openai_error_event(&error)],
    };
    sse(
        pieces,
        opening,
        format,
        Some(Event::default().data("[DONE]")),
    )
}

/// `GET /v1/models` (and `/openai/v1/models`): the served model, when it generates text.
pub async fn list_models(State(state): State<AppState>) -> Response {
    let data: Vec<Value> = served(&state, None, None)
        .ok()
        .filter(|current| current.text.is_some())
        .map(|current| openai::model_entry(&current.name, unix_seconds()))
        .into_iter()
        .collect();
    Json(serde_json::json!({"object": "list", "data": data})).into_response()
}

/// `GET /openai/v1/models/{name}`.
pub async fn retrieve_model(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, OpenAiError> {
    let current = openai_model(&state, Some(&name))?;
    text_model(&current)?;
    Ok(Json(openai::model_entry(&current.name, unix_seconds())).into_response())
}

/// `POST /v2/models/{name}[/versions/{version}]/generate`.
pub async fn kserve_generate(
    State(state): State<AppState>,
    CurrentModel(current): CurrentModel,
    JsonBody(body): JsonBody<GenerateRequest>,
) -> Result<Response, ApiError> {
    kserve_answer(state, current, body, false).await
}

/// `POST /v2/models/{name}[/versions/{version}]/generate_stream`.
pub async fn kserve_generate_stream(
    State(state): State<AppState>,
    CurrentModel(current): CurrentModel,
    JsonBody(body): JsonBody<GenerateRequest>,
) -> Result<Response, ApiError> {
    kserve_answer(state, current, body, true).await
}

/// The generate extension's answer: one JSON object, or its events.
async fn kserve_answer(
    state: AppState,
    current: Arc<ServedModel>,
    body: GenerateRequest,
    stream: bool,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let request = body
        .request()
        .map_err(|e| ApiError::bad_request(e.message))?;
    let route = if stream {
        "/v2/models/{name}/generate_stream"
    } else {
        "/v2/models/{name}/generate"
    };
    let pieces = start(
        &state,
        &current,
        std::slice::from_ref(&request),
        route,
        started,
        stream,
    )
    .await?;
    if !stream {
        let completions = collect(pieces, 1).await?;
        let answering = Answering {
            model_name: &current.name,
            model_version: current.version,
            id: body.id.as_deref(),
        };
        return Ok(Json(answering.response(&completions[0])).into_response());
    }
    let (name, version, id) = (current.name.clone(), current.version, body.id);
    let format = move |piece: Piece| {
        let answering = Answering {
            model_name: &name,
            model_version: version,
            id: id.as_deref(),
        };
        vec![match piece {
            Piece::Text { text, .. } => data(&answering.piece(&text)),
            Piece::Done { completion, .. } => data(&answering.last(&completion)),
            Piece::Failed(error) => data(&serde_json::json!({ "error": error.message })),
        }]
    };
    Ok(sse(pieces, Vec::new(), format, None))
}
