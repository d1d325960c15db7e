//! Lambda entry point: load `MAAS_MODEL` once at init, then score the objects each event
//! names until the sandbox ends.

use std::sync::Arc;

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

// model-sized buffers mapped whole at cold start (maas::memory: fewer page faults before the
// first event is scored)
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: maas::memory::PopulatedLargeBuffers = maas::memory::PopulatedLargeBuffers;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    maas::logging::init_json();
    let settings = batch::settings_from_env()?;
    let reference: maas::store::ModelRef = std::env::var("MAAS_MODEL")
        .map_err(|_| {
            "MAAS_MODEL is not set: give a model reference such as s3://bucket/models/digits@prod"
        })?
        .parse()?;
    let model = Arc::new(maas::loader::load(&reference).await?);
    tracing::info!(
        model = %model.name,
        version = ?model.version,
        sha256 = %model.sha256,
        load_ms = model.load_time.as_secs_f64() * 1e3,
        "model loaded"
    );
    let (model, settings) = (&model, &settings);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = batch::deadline(event.context.deadline);
        batch::handle(event.payload, model.clone(), settings, deadline).await
    }))
    .await
}
