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

mod body;
pub mod error;
mod handlers;
pub mod metrics;
mod middleware;
pub mod routes;
pub mod state;

use std::sync::Arc;

use axum::Router;

pub use body::{JsonBody, RequestExample};
pub use handlers::{CurrentModel, ModelPath};
use state::{ModelHandle, ServerConfig};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The model the server answers with.
    pub model: Arc<ModelHandle>,
    /// Limits and behaviour.
    pub config: Arc<ServerConfig>,
}

/// The invocation's request id, set by a front end (the Lambda adapter) for logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Builds the router for a model and limits, from the route table [`routes::ROUTES`].
pub fn router(model: Arc<ModelHandle>, config: ServerConfig) -> Router {
    let state = AppState {
        model,
        config: Arc::new(config),
    };
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
