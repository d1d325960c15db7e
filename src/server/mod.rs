//! The HTTP API: one axum [`Router`] behind both `maas serve` and the Lambda function, with the
//! native route, the Open Inference Protocol (KServe V2), the TF Serving REST API and, for
//! text-generation models, the OpenAI API and KServe's generate extension (`generation`).
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

pub mod admission;
mod body;
pub mod error;
pub(crate) mod explain;
#[cfg(feature = "generation")]
pub(crate) mod generation;
#[cfg(not(feature = "generation"))]
#[path = "no_generation.rs"]
pub(crate) mod generation;
pub(crate) mod handlers;
pub mod metrics;
pub mod middleware;
#[cfg(feature = "serve")]
pub mod prometheus;
pub mod routes;
pub mod state;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::Router;

use admission::Admission;
pub use body::{JsonBody, RequestExample};
pub use handlers::{CurrentModel, ModelPath};
use state::{ModelHandle, ServerConfig};

/// What every handler shares, over HTTP and gRPC alike.
#[derive(Clone)]
pub struct AppState {
    /// The model the server answers with.
    pub model: Arc<ModelHandle>,
    /// Limits and behaviour.
    pub config: Arc<ServerConfig>,
    /// The concurrency limit of inferences.
    pub admission: Arc<Admission>,
    /// Set once the server is shutting down: readiness answers 503 from then on.
    pub draining: Arc<AtomicBool>,
    /// Told about every inference (the Prometheus metrics of `maas serve`).
    pub observer: Option<Arc<dyn InferenceObserver>>,
}

impl AppState {
    pub fn new(model: Arc<ModelHandle>, config: ServerConfig) -> Self {
        AppState {
            model,
            admission: Arc::new(Admission::new(
                config.max_concurrency,
                config.admission_wait,
            )),
            config: Arc::new(config),
            draining: Arc::new(AtomicBool::new(false)),
            observer: None,
        }
    }

    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
}

/// Receives what each inference did, whichever protocol asked for it.
pub trait InferenceObserver: Send + Sync {
    /// One finished inference: the route or RPC, the batch's rows and the seconds it ran.
    fn inference(&self, route: &str, rows: usize, seconds: f64);

    /// One generation (one prompt) ended, as `report` says.
    fn generation(&self, _route: &str, _report: &GenerationReport) {}

    /// Generations running now changed by `change` (+1 at the start, -1 at the end).
    fn generations_in_flight(&self, _change: i64) {}
}

/// What one generation did, for metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationReport {
    /// `finished`, `cancelled` (its client went away), `timeout` or `failed`.
    pub outcome: &'static str,
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    /// From the request's arrival to its first token (the wait for a slot included).
    pub time_to_first_token: Option<std::time::Duration>,
    /// Each later token's step.
    pub per_token: Vec<std::time::Duration>,
}

impl GenerationReport {
    /// A generation that ended without a completion.
    pub fn outcome(outcome: &'static str) -> Self {
        GenerationReport {
            outcome,
            prompt_tokens: 0,
            completion_tokens: 0,
            time_to_first_token: None,
            per_token: Vec::new(),
        }
    }
}

/// The invocation's request id, set by a front end (the Lambda adapter) for logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Builds the router for a model and limits, from the route table [`routes::ROUTES`].
pub fn router(model: Arc<ModelHandle>, config: ServerConfig) -> Router {
    router_for(AppState::new(model, config))
}

/// [`router`] over a state shared with other front ends (gRPC, metrics).
pub fn router_for(state: AppState) -> Router {
    let mut registered: Vec<(&str, &str)> = Vec::new();
    let mut app = Router::new();
    for route in routes::ROUTES {
        // TF Serving's four paths share one pattern per method
        if registered.contains(&(route.method, route.pattern)) {
            continue;
        }
        registered.push((route.method, route.pattern));
        app = app.route(route.pattern, route.method_router());
    }
    let app = app
        .fallback(middleware::not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .with_state(state);
    middleware::harden(app)
}
