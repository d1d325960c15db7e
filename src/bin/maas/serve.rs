//! `maas serve`: the HTTP API of the Lambda function as a long-running server, with KServe V2
//! over gRPC beside it, Prometheus metrics, admission limits and a graceful shutdown.

use std::future::{Future, IntoFuture};
use std::sync::atomic::Ordering;

use anyhow::{Context, Result};
use axum::routing::get;
use clap::Args;
use tokio::sync::watch;

use maas::server::prometheus::{self, ServeMetrics};
use maas::server::{self, middleware, state::ModelHandle, state::ServerConfig, AppState};
use maas::store::ModelRef;

#[derive(Args)]
pub struct ServeArgs {
    /// `<store>/<name>`, `<store>/<name>@<version>`, `<store>/<name>@<alias>` or a .onnx file.
    #[arg(long, env = "MAAS_MODEL")]
    pub model: String,
    /// Address to listen on (HTTP and gRPC).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// HTTP port.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Also answer KServe V2 over gRPC on this port (off unless given; 8081 is the usual).
    #[arg(long, env = "MAAS_GRPC_PORT", value_name = "PORT")]
    pub grpc_port: Option<u16>,
}

pub async fn run(args: ServeArgs) -> Result<()> {
    let config = ServerConfig::from_env()?;
    if let Err(e) = maas::inference::set_threads(config.inference_threads) {
        tracing::warn!("{e}; inference runs on one thread");
    }
    let drain_timeout = config.drain_timeout;
    let reference: ModelRef = args.model.parse()?;
    let handle = ModelHandle::load(reference.clone(), config.refresh).await;
    let model = handle
        .current()
        .map_err(|reason| anyhow::anyhow!("cannot serve {reference}: {reason}"))?;
    let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
    let grpc_listener = match args.grpc_port {
        Some(port) => Some(
            tokio::net::TcpListener::bind((args.host.as_str(), port))
                .await
                .with_context(|| format!("cannot listen for gRPC on {}:{port}", args.host))?,
        ),
        None => None,
    };
    let address = listener.local_addr()?;
    println!(
        "serving {} version {} (sha256 {}, loaded in {:.1} ms) on http://{address}{}",
        model.name,
        model
            .version
            .map(|v| v.to_string())
            .unwrap_or_else(|| "-".into()),
        model.sha256,
        model.load_time.as_secs_f64() * 1e3,
        match &grpc_listener {
            Some(l) => format!(" and grpc://{}", l.local_addr()?),
            None => String::new(),
        }
    );
    drop(model);

    let mut state = AppState::new(handle.clone(), config);
    let metrics = ServeMetrics::new(handle, state.admission.clone());
    state.observer = Some(std::sync::Arc::new(metrics.clone()));
    let limit = state.config.max_body_bytes;
    let app = server::router_for(state.clone())
        .route(
            "/metrics",
            get(prometheus::scrape).with_state(metrics.clone()),
        )
        .layer(axum::middleware::from_fn_with_state(
            metrics.clone(),
            prometheus::record,
        ))
        .layer(axum::middleware::from_fn_with_state(
            limit,
            middleware::drain_oversized,
        ));

    // SIGTERM or Ctrl-C: readiness turns 503 at once, the listeners close, requests in
    // flight finish (up to the drain timeout)
    let (stop_tx, stop_rx) = watch::channel(false);
    let draining = state.draining.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        draining.store(true, Ordering::Relaxed);
        tracing::info!("shutting down: finishing the requests in flight");
        let _ = stop_tx.send(true);
    });
    let http = axum::serve(listener, app)
        .with_graceful_shutdown(stopped(stop_rx.clone()))
        .into_future();
    let grpc_stop = stopped(stop_rx.clone());
    let grpc = async {
        match grpc_listener {
            Some(listener) => {
                // answers go out at once (no Nagle delay on small replies)
                let incoming = tokio_stream::StreamExt::map(
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                    |stream| {
                        if let Ok(stream) = &stream {
                            let _ = stream.set_nodelay(true);
                        }
                        stream
                    },
                );
                // HTTP/2's default 64 KiB flow-control window would cost a round trip per
                // 64 KiB of a large tensor: the windows grow with the traffic instead
                tonic::transport::Server::builder()
                    .http2_adaptive_window(Some(true))
                    .layer(GrpcMetricsLayer(metrics.clone()))
                    .add_service(maas::grpc::service(state.clone()))
                    .serve_with_incoming_shutdown(incoming, grpc_stop)
                    .await
                    .context("the gRPC server failed")
            }
            None => Ok(()),
        }
    };
    let servers = async {
        let (http, grpc) = tokio::join!(http, grpc);
        http.context("the server failed")?;
        grpc
    };
    tokio::pin!(servers);
    let mut stop = stop_rx;
    tokio::select! {
        result = &mut servers => return result,
        _ = stop.wait_for(|stopping| *stopping) => {}
    }
    match tokio::time::timeout(drain_timeout, servers).await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!(
                "requests still running after the drain timeout of {} s; exiting",
                drain_timeout.as_secs()
            );
            Ok(())
        }
    }
}

/// Resolves once shutdown has begun.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopping| *stopping).await;
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

/// Counts and times every gRPC call by method, with its gRPC status code, in the same metrics
/// as HTTP (protocol `grpc`).
#[derive(Clone)]
struct GrpcMetricsLayer(ServeMetrics);

impl<S> tower::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetrics {
            inner,
            metrics: self.0.clone(),
        }
    }
}

#[derive(Clone)]
struct GrpcMetrics<S> {
    inner: S,
    metrics: ServeMetrics,
}

impl<S, B, R> tower::Service<axum::http::Request<B>> for GrpcMetrics<S>
where
    S: tower::Service<axum::http::Request<B>, Response = axum::http::Response<R>> + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: axum::http::Request<B>) -> Self::Future {
        // "/inference.GRPCInferenceService/ModelInfer" -> "ModelInfer"
        let method = request
            .uri()
            .path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let metrics = self.metrics.clone();
        let in_flight = metrics.in_flight();
        let started = std::time::Instant::now();
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await;
            drop(in_flight);
            if let Ok(response) = &response {
                // tonic answers errors in the headers ("trailers-only"); a success has its
                // status in the trailers, after the body
                let code = response
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<i32>().ok())
                    .map(tonic::Code::from)
                    .unwrap_or(tonic::Code::Ok);
                metrics.request(
                    &method,
                    "grpc",
                    &format!("{code:?}"),
                    started.elapsed().as_secs_f64(),
                );
            }
            response
        })
    }
}
