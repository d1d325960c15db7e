//! The route table: every route of the HTTP API with its method, path and what it answers.
//! The router is built from it, and the README's route table, the SAM template's API routes
//! and the fuzz seeds are checked against it by tests.

use axum::routing::{get, post, MethodRouter};

use super::AppState;
use super::{explain, generation, handlers};

/// One route of the HTTP API.
#[derive(Clone, Copy)]
pub struct Route {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The path as callers write it; `{name}` and `{version}` stand for the model's.
    pub path: &'static str,
    /// The path the router matches: the same, except TF Serving's, whose `:predict` verb sits
    /// inside a path segment, so its four paths share one catch-all parsed by the handler.
    pub pattern: &'static str,
    /// What the route answers, as the README says it.
    pub description: &'static str,
    handler: fn() -> MethodRouter<AppState>,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

impl Route {
    /// The route's path for one model and version, e.g. `/v2/models/digits/versions/1/infer`.
    ///
    /// ```
    /// let infer = maas::server::routes::ROUTES
    ///     .iter()
    ///     .find(|r| r.path == "/v1/models/{name}/versions/{version}:predict")
    ///     .unwrap();
    /// assert_eq!(infer.path_for("digits", 3), "/v1/models/digits/versions/3:predict");
    /// ```
    pub fn path_for(&self, name: &str, version: u64) -> String {
        self.path
            .replace("{name}", name)
            .replace("{version}", &version.to_string())
    }

    /// The handler, for the router.
    pub fn method_router(&self) -> MethodRouter<AppState> {
        (self.handler)()
    }
}

const TF_PATTERN: &str = "/v1/models/{*rest}";

/// Every route, in the order the README lists them.
pub static ROUTES: &[Route] = &[
    Route {
        method: "POST",
        path: "/predict",
        pattern: "/predict",
        description: "native: rows `{\"inputs\": [[...], ...]}` or named inputs `{\"inputs\": {\"name\": [...]}}` → labelled probabilities, regression values or named outputs (the `maas predict` JSON)",
        handler: || post(handlers::native_predict),
    },
    Route {
        method: "POST",
        path: "/explain",
        pattern: "/explain",
        description: "native explanation: rows `{\"inputs\": [[...]]}` and `method` (`exact`, `kernel`), `samples`, `seed`, `outputs` (labels or `\"predicted\"`), `groups` → per row `attributions` `[features][outputs]`, `base_value`, `prediction`, `additivity_error`",
        handler: || post(explain::native_explain),
    },
    Route {
        method: "GET",
        path: "/v2/health/live",
        pattern: "/v2/health/live",
        description: "KServe V2 liveness",
        handler: || get(handlers::live),
    },
    Route {
        method: "GET",
        path: "/v2/health/ready",
        pattern: "/v2/health/ready",
        description: "KServe V2 readiness (503 with the reason while no model is loaded)",
        handler: || get(handlers::ready),
    },
    Route {
        method: "GET",
        path: "/v2",
        pattern: "/v2",
        description: "server metadata",
        handler: || get(handlers::server_metadata),
    },
    Route {
        method: "GET",
        path: "/v2/models/{name}",
        pattern: "/v2/models/{name}",
        description: "model metadata: inputs and outputs with datatype and shape (`-1` = batch)",
        handler: || get(handlers::model_metadata),
    },
    Route {
        method: "GET",
        path: "/v2/models/{name}/versions/{version}",
        pattern: "/v2/models/{name}/versions/{version}",
        description: "the same for one version",
        handler: || get(handlers::model_metadata),
    },
    Route {
        method: "GET",
        path: "/v2/models/{name}/ready",
        pattern: "/v2/models/{name}/ready",
        description: "model readiness",
        handler: || get(handlers::model_ready),
    },
    Route {
        method: "GET",
        path: "/v2/models/{name}/versions/{version}/ready",
        pattern: "/v2/models/{name}/versions/{version}/ready",
        description: "the same for one version",
        handler: || get(handlers::model_ready),
    },
    Route {
        method: "POST",
        path: "/v2/models/{name}/infer",
        pattern: "/v2/models/{name}/infer",
        description: "KServe V2 inference: every input by name with its datatype and shape, flat or nested `data` or the binary tensor extension; every output, or those asked for, in JSON or binary",
        handler: || post(handlers::kserve_infer),
    },
    Route {
        method: "POST",
        path: "/v2/models/{name}/versions/{version}/infer",
        pattern: "/v2/models/{name}/versions/{version}/infer",
        description: "the same for one version",
        handler: || post(handlers::kserve_infer),
    },
    Route {
        method: "POST",
        path: "/v2/models/{name}/explain",
        pattern: "/v2/models/{name}/explain",
        description: "explanation of a V2 request's rows (`parameters`: `method`, `samples`, `seed`, `outputs`, `groups`) → `attributions` FP64 `[rows, features, outputs]`, `base_value`, `prediction`, `output_index`; `parameters` echo the method, background rows and additivity error",
        handler: || post(explain::v2_explain),
    },
    Route {
        method: "POST",
        path: "/v2/models/{name}/versions/{version}/explain",
        pattern: "/v2/models/{name}/versions/{version}/explain",
        description: "the same for one version",
        handler: || post(explain::v2_explain),
    },
    Route {
        method: "POST",
        path: "/v1/models/{name}:predict",
        pattern: TF_PATTERN,
        description: "TF Serving: `instances` (rows, or row objects keyed by input name) → `predictions`; `inputs` (a batch, or a dict of inputs) → `outputs`",
        handler: || post(handlers::tf_post),
    },
    Route {
        method: "POST",
        path: "/v1/models/{name}/versions/{version}:predict",
        pattern: TF_PATTERN,
        description: "the same for one version",
        handler: || post(handlers::tf_post),
    },
    Route {
        method: "POST",
        path: "/v1/models/{name}:explain",
        pattern: TF_PATTERN,
        description: "KServe V1 explanation: `instances` (rows) and `method`, `samples`, `seed`, `outputs`, `groups` → `predictions` and `explanations` (Shapley attributions per feature and output against the model's background)",
        handler: || post(handlers::tf_post),
    },
    Route {
        method: "POST",
        path: "/v1/models/{name}/versions/{version}:explain",
        pattern: TF_PATTERN,
        description: "the same for one version",
        handler: || post(handlers::tf_post),
    },
    Route {
        method: "GET",
        path: "/v1/models/{name}",
        pattern: TF_PATTERN,
        description: "TF Serving model status",
        handler: || get(handlers::tf_status),
    },
    Route {
        method: "GET",
        path: "/v1/models/{name}/versions/{version}",
        pattern: TF_PATTERN,
        description: "the same for one version",
        handler: || get(handlers::tf_status),
    },
    Route {
        method: "POST",
        path: "/openai/v1/completions",
        pattern: "/openai/v1/completions",
        description: "OpenAI completions (text-generation models): `prompt` (a text or a list) and sampling options → `choices[].text`, `usage`; `stream: true` answers Server-Sent Events ending `data: [DONE]`",
        handler: || post(generation::completions),
    },
    Route {
        method: "POST",
        path: "/openai/v1/chat/completions",
        pattern: "/openai/v1/chat/completions",
        description: "OpenAI chat completions: `messages` through the model's chat template → `choices[].message`; streamed as `chat.completion.chunk` deltas",
        handler: || post(generation::chat_completions),
    },
    Route {
        method: "GET",
        path: "/openai/v1/models",
        pattern: "/openai/v1/models",
        description: "OpenAI model list: the served model when it generates text",
        handler: || get(generation::list_models),
    },
    Route {
        method: "GET",
        path: "/openai/v1/models/{name}",
        pattern: "/openai/v1/models/{name}",
        description: "OpenAI model object",
        handler: || get(generation::retrieve_model),
    },
    Route {
        method: "POST",
        path: "/v1/completions",
        pattern: "/v1/completions",
        description: "the same as `/openai/v1/completions` (the path OpenAI clients use by default)",
        handler: || post(generation::completions),
    },
    Route {
        method: "POST",
        path: "/v1/chat/completions",
        pattern: "/v1/chat/completions",
        description: "the same as `/openai/v1/chat/completions`",
        handler: || post(generation::chat_completions),
    },
    Route {
        method: "POST",
        path: "/v2/models/{name}/generate",
        pattern: "/v2/models/{name}/generate",
        description: "KServe / Triton generate extension: `text_input` and `parameters` → `text_output`, `finish_reason`, `usage`",
        handler: || post(generation::kserve_generate),
    },
    Route {
        method: "POST",
        path: "/v2/models/{name}/versions/{version}/generate",
        pattern: "/v2/models/{name}/versions/{version}/generate",
        description: "the same for one version",
        handler: || post(generation::kserve_generate),
    },
    Route {
        method: "POST",
        path: "/v2/models/{name}/generate_stream",
        pattern: "/v2/models/{name}/generate_stream",
        description: "the same streamed as Server-Sent Events, one per piece of text, the last with `done: true`",
        handler: || post(generation::kserve_generate_stream),
    },
    Route {
        method: "POST",
        path: "/v2/models/{name}/versions/{version}/generate_stream",
        pattern: "/v2/models/{name}/versions/{version}/generate_stream",
        description: "the same for one version",
        handler: || post(generation::kserve_generate_stream),
    },
];

/// The README's route table rows, one per route: `` | `METHOD path` | description | ``.
pub fn markdown_rows() -> String {
    ROUTES
        .iter()
        .map(|r| format!("| `{} {}` | {} |\n", r.method, r.path, r.description))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_listed_once_and_patterns_match_paths() {
        let mut seen = std::collections::HashSet::new();
        for route in ROUTES {
            assert!(seen.insert((route.method, route.path)), "{route:?} twice");
            assert!(matches!(route.method, "GET" | "POST"), "{route:?}");
            if route.pattern != TF_PATTERN {
                assert_eq!(route.pattern, route.path);
            } else {
                assert!(route.path.starts_with("/v1/models/"), "{route:?}");
            }
        }
        assert_eq!(ROUTES.len(), 29);
    }
}
