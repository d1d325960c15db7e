//! `maas serve`: the HTTP API of the Lambda function as a long-running server.

use anyhow::{Context, Result};
use clap::Args;

use maas::server::{self, state::ModelHandle, state::ServerConfig};
use maas::store::ModelRef;

#[derive(Args)]
pub struct ServeArgs {
    /// `<store>/<name>`, `<store>/<name>@<version>`, `<store>/<name>@<alias>` or a .onnx file.
    #[arg(long, env = "MAAS_MODEL")]
    pub model: String,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
}

pub async fn run(args: ServeArgs) -> Result<()> {
    let config = ServerConfig::from_env()?;
    if let Err(e) = maas::inference::set_threads(config.inference_threads) {
        tracing::warn!("{e}; inference runs on one thread");
    }
    let reference: ModelRef = args.model.parse()?;
    let handle = ModelHandle::load(reference.clone(), config.refresh).await;
    let model = handle
        .current()
        .map_err(|reason| anyhow::anyhow!("cannot serve {reference}: {reason}"))?;
    let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
    let address = listener.local_addr()?;
    println!(
        "serving {} version {} (sha256 {}, loaded in {:.1} ms) on http://{address}",
        model.name,
        model
            .version
            .map(|v| v.to_string())
            .unwrap_or_else(|| "-".into()),
        model.sha256,
        model.load_time.as_secs_f64() * 1e3
    );
    drop(model);
    let app = server::router(handle, config);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("the server failed")?;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM, letting requests in flight finish.
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
