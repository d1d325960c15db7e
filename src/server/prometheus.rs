//! Prometheus metrics of `maas serve` (`GET /metrics`, the OpenMetrics text format written by
//! the `prometheus-client` crate): requests by route, protocol and status, request and inference
//! latency, rows, requests and inferences in flight, text generations (outcomes, tokens, time
//! to first token, time per token, in flight), and the served model's load time, version and
//! refresh outcomes. The Lambda function reports through CloudWatch EMF instead.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::admission::Admission;
use super::state::ModelHandle;
use super::{GenerationReport, InferenceObserver};

/// The media type of the OpenMetrics text format, which Prometheus scrapes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    protocol: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    route: String,
    protocol: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Latency buckets from 0.25 ms to about 8 s, doubling.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.00025, 2.0, 16))
}

/// Batch-size buckets: 1, 2, 4, … 4096 rows.
fn rows_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 13))
}

/// The server's metrics; cheap to clone (every part is shared).
#[derive(Clone)]
pub struct ServeMetrics {
    registry: Arc<Registry>,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Histograms<LatencyLabels>,
    inference_seconds: Histograms<RouteLabels>,
    batch_rows: Histograms<RouteLabels>,
    rows: Family<RouteLabels, Counter>,
    in_flight: Arc<AtomicI64>,
    generations: Family<GenerationLabels, Counter>,
    prompt_tokens: Family<RouteLabels, Counter>,
    generated_tokens: Family<RouteLabels, Counter>,
    first_token_seconds: Histograms<RouteLabels>,
    token_seconds: Histograms<RouteLabels>,
    generating: Arc<AtomicI64>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GenerationLabels {
    route: String,
    outcome: String,
}

impl ServeMetrics {
    /// The metrics of a server answering with `model` under `admission`.
    pub fn new(model: Arc<ModelHandle>, admission: Arc<Admission>) -> Self {
        let mut registry = Registry::with_prefix("maas");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests answered, by route (or gRPC method), protocol and status",
            requests.clone(),
        );
        let request_seconds: Histograms<LatencyLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "request_duration_seconds",
            "Time from a request's arrival to its answer",
            request_seconds.clone(),
        );
        let inference_seconds: Histograms<RouteLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "inference_duration_seconds",
            "Time the model took to run a request's batch",
            inference_seconds.clone(),
        );
        let batch_rows: Histograms<RouteLabels> = Family::new_with_constructor(rows_histogram);
        registry.register(
            "batch_rows",
            "Rows (the first dimension) per inference",
            batch_rows.clone(),
        );
        let rows = Family::<RouteLabels, Counter>::default();
        registry.register("rows", "Rows inferred", rows.clone());
        let generations = Family::<GenerationLabels, Counter>::default();
        registry.register(
            "generations",
            "Text generations (one per prompt) by route and outcome: finished, cancelled (the client went away), timeout, failed",
            generations.clone(),
        );
        let prompt_tokens = Family::<RouteLabels, Counter>::default();
        registry.register(
            "prompt_tokens",
            "Prompt tokens of finished generations",
            prompt_tokens.clone(),
        );
        let generated_tokens = Family::<RouteLabels, Counter>::default();
        registry.register(
            "generated_tokens",
            "Tokens generated by finished generations",
            generated_tokens.clone(),
        );
        let first_token_seconds: Histograms<RouteLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "time_to_first_token_seconds",
            "Time from a generation request's arrival to its first token",
            first_token_seconds.clone(),
        );
        let token_seconds: Histograms<RouteLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "time_per_output_token_seconds",
            "Time of each generated token after the first",
            token_seconds.clone(),
        );
        let in_flight = Arc::new(AtomicI64::new(0));
        let generating = Arc::new(AtomicI64::new(0));
        registry.register_collector(Box::new(StateCollector {
            model,
            admission,
            in_flight: in_flight.clone(),
            generating: generating.clone(),
        }));
        ServeMetrics {
            registry: Arc::new(registry),
            requests,
            request_seconds,
            inference_seconds,
            batch_rows,
            rows,
            in_flight,
            generations,
            prompt_tokens,
            generated_tokens,
            first_token_seconds,
            token_seconds,
            generating,
        }
    }

    /// One answered request.
    pub fn request(&self, route: &str, protocol: &str, status: &str, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_string(),
                protocol: protocol.to_string(),
                status: status.to_string(),
            })
            .inc();
        self.request_seconds
            .get_or_create(&LatencyLabels {
                route: route.to_string(),
                protocol: protocol.to_string(),
            })
            .observe(seconds);
    }

    /// Counts a request in flight until the guard is dropped.
    pub fn in_flight(&self) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.in_flight.clone())
    }

    /// The metrics as OpenMetrics text.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // writing to a String cannot fail
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// A request in flight; dropping it ends it.
pub struct InFlight(Arc<AtomicI64>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl InferenceObserver for ServeMetrics {
    fn inference(&self, route: &str, rows: usize, seconds: f64) {
        let labels = RouteLabels {
            route: route.to_string(),
        };
        self.inference_seconds
            .get_or_create(&labels)
            .observe(seconds);
        self.batch_rows.get_or_create(&labels).observe(rows as f64);
        self.rows.get_or_create(&labels).inc_by(rows as u64);
    }

    fn generation(&self, route: &str, report: &GenerationReport) {
        self.generations
            .get_or_create(&GenerationLabels {
                route: route.to_string(),
                outcome: report.outcome.to_string(),
            })
            .inc();
        let labels = RouteLabels {
            route: route.to_string(),
        };
        if report.outcome == "finished" {
            self.prompt_tokens
                .get_or_create(&labels)
                .inc_by(report.prompt_tokens as u64);
            self.generated_tokens
                .get_or_create(&labels)
                .inc_by(report.completion_tokens as u64);
        }
        if let Some(first) = report.time_to_first_token {
            self.first_token_seconds
                .get_or_create(&labels)
                .observe(first.as_secs_f64());
        }
        let tokens = self.token_seconds.get_or_create(&labels);
        for step in &report.per_token {
            tokens.observe(step.as_secs_f64());
        }
    }

    fn generations_in_flight(&self, change: i64) {
        self.generating.fetch_add(change, Ordering::Relaxed);
    }
}

/// What is read from the server's state at each scrape.
struct StateCollector {
    model: Arc<ModelHandle>,
    admission: Arc<Admission>,
    in_flight: Arc<AtomicI64>,
    generating: Arc<AtomicI64>,
}

impl std::fmt::Debug for StateCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateCollector")
            .field("model", &self.model.name())
            .finish()
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    name: String,
    version: String,
    sha256: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

impl Collector for StateCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let gauge = |encoder: &mut DescriptorEncoder, name: &str, help: &str, value: i64| {
            let metric = ConstGauge::new(value);
            metric.encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)
        };
        gauge(
            &mut encoder,
            "requests_in_flight",
            "HTTP and gRPC requests being answered",
            self.in_flight.load(Ordering::Relaxed),
        )?;
        gauge(
            &mut encoder,
            "inferences_in_flight",
            "Inferences running (at most the concurrency limit)",
            self.admission.in_flight() as i64,
        )?;
        gauge(
            &mut encoder,
            "generations_in_flight",
            "Text generations running (each holds an inference slot)",
            self.generating.load(Ordering::Relaxed),
        )?;
        gauge(
            &mut encoder,
            "concurrency_limit",
            "Most inferences at once (MAAS_MAX_CONCURRENCY)",
            self.admission.limit() as i64,
        )?;
        if let Ok(model) = self.model.current() {
            let load = ConstGauge::new(model.load_time.as_secs_f64());
            load.encode(encoder.encode_descriptor(
                "model_load_seconds",
                "How long the served model took to fetch, check and load",
                None,
                MetricType::Gauge,
            )?)?;
            let labels = ModelLabels {
                name: model.name.clone(),
                version: model.version.map(|v| v.to_string()).unwrap_or_default(),
                sha256: model.sha256.clone(),
            };
            let mut info = encoder.encode_descriptor(
                "model_info",
                "The model served now (1)",
                None,
                MetricType::Gauge,
            )?;
            ConstGauge::new(1i64).encode(info.encode_family(&labels)?)?;
        }
        let counts = self.model.refresh_counts();
        let mut refresh = encoder.encode_descriptor(
            "model_refresh",
            "Alias refresh outcomes: checks of the alias, new versions loaded, failed loads",
            None,
            MetricType::Counter,
        )?;
        for (outcome, value) in [
            ("check", counts.checks),
            ("load", counts.loads),
            ("failure", counts.failures),
        ] {
            let labels = OutcomeLabels {
                outcome: outcome.to_string(),
            };
            ConstCounter::new(value).encode(refresh.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// The protocol a route belongs to.
fn protocol_of(route: &str) -> &'static str {
    if route == "/predict" {
        "native"
    } else if route.starts_with("/openai/")
        || route == "/v1/completions"
        || route == "/v1/chat/completions"
    {
        "openai"
    } else if route.starts_with("/v2") {
        "kserve"
    } else if route.starts_with("/v1") {
        "tfserving"
    } else {
        "other"
    }
}

/// Middleware: counts and times every HTTP request by its route pattern.
pub async fn record(State(metrics): State<ServeMetrics>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let _in_flight = metrics.in_flight();
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.request(
        &route,
        protocol_of(&route),
        response.status().as_str(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// `GET /metrics`.
pub async fn scrape(State(metrics): State<ServeMetrics>) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.render()).into_response()
}
