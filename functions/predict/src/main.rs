//! Lambda entry point: load `MAAS_MODEL` once at init, then answer events until the sandbox ends.

use maas::server::{router, state::ModelHandle};
use maas::store::ModelRef;

// model-sized buffers mapped whole at cold start (maas::memory: fewer page faults before the
// first answer)
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: maas::memory::PopulatedLargeBuffers = maas::memory::PopulatedLargeBuffers;

// one thread: Lambda hands the function one event at a time, the S3 reads at cold start overlap
// as futures, and large inferences go to tokio's blocking pool; tokio's work-stealing
// scheduler would only add code to the package
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    keep_large_buffers_out_of_the_heap();
    maas::logging::init_json();
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

/// Buffers of 1 MiB and more (a model's download, its weights) are mapped by the global
/// allocator itself (`maas::memory`); smaller ones come from glibc, whose mmap threshold rises
/// each time such a buffer (a small model's, a large request's) is freed, so the next ones land
/// in the heap, which does not shrink: memory Lambda keeps billing. A fixed threshold keeps
/// every buffer over 128 KiB in its own mapping, returned to the system when freed
/// (BENCHMARKS.md: about 1 MiB less peak RSS with the reference model, measured before
/// `maas::memory` took the larger buffers). No such knob is needed where glibc is not the
/// allocator.
fn keep_large_buffers_out_of_the_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's parameters; called before other threads exist
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}
