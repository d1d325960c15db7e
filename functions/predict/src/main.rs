//! Lambda entry point: load `MAAS_MODEL` once at init, then answer events until the sandbox ends.

use maas::server::{router, state::ModelHandle};
use maas::store::ModelRef;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    predict::init_logging();
    let config = predict::config_from_env()?;
    if let Err(e) = maas::inference::set_threads(config.inference_threads) {
        tracing::warn!("{e}; inference runs on one thread");
    }
    let reference: ModelRef = std::env::var("MAAS_MODEL")
        .map_err(|_| "MAAS_MODEL is not set: give a model reference such as s3://bucket/models/digits@prod or a folder store path")?
        .parse()?;
    let model = ModelHandle::load(reference, config.refresh).await;
    predict::run(router(model, config)).await
}
