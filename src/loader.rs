//! From a model reference to a model ready to answer: the store fetches the bytes (checksum
//! verified), inference loads them with tract, and the manifest names the model and its classes.
//! `maas predict`, `maas eval`, `maas serve` and the Lambda functions all load through here.

#[cfg(feature = "native")]
use std::sync::Arc;
use std::time::Duration;
#[cfg(feature = "native")]
use std::time::Instant;

use crate::inference::{InferenceError, LoadedModel};
use crate::store::StoreError;
#[cfg(feature = "native")]
use crate::store::{self, ModelRef, TransferProgress};

/// A loaded model and who it is.
#[derive(Debug)]
pub struct ServedModel {
    /// The model's name: the manifest's, or the reference's (a bare file's stem).
    pub name: String,
    /// `None` for a bare `.onnx` file.
    pub version: Option<u64>,
    /// sha256 of the model file.
    pub sha256: String,
    /// The model, ready to run.
    pub model: LoadedModel,
    /// Fetch and load time.
    pub load_time: Duration,
}

/// Why a model could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The store could not give the model's bytes (missing, unreachable, checksum mismatch, …).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// tract could not load the bytes, or the manifest does not fit the model.
    #[error("cannot load model {reference}: {source}")]
    Model {
        /// The reference as given.
        reference: String,
        /// What tract or the manifest check said.
        source: InferenceError,
    },
}

/// Fetches (checksum verified) and loads the model a reference names.
#[cfg(feature = "native")]
pub async fn load(reference: &ModelRef) -> Result<ServedModel, LoadError> {
    load_with_progress(reference, None).await
}

/// As [`load`], reporting the download of a large model to `progress`.
#[cfg(feature = "native")]
pub async fn load_with_progress(
    reference: &ModelRef,
    progress: Option<Arc<dyn TransferProgress>>,
) -> Result<ServedModel, LoadError> {
    let started = Instant::now();
    let fetched = store::fetch_with_progress(reference, progress).await?;
    let model_error = |source| LoadError::Model {
        reference: reference.to_string(),
        source,
    };
    // tract takes the bytes and frees them once parsed: the weights sit in memory twice at
    // most while loading, not three times
    let mut model = LoadedModel::from_vec(fetched.bytes).map_err(model_error)?;
    let (name, version) = match &fetched.manifest {
        Some(manifest) => {
            // the manifest says what the model answers and names its classes (`maas publish
            // --task/--output/--labels`); older manifests only name the classes
            let d = &manifest.description;
            match d.task {
                Some(task) => model
                    .set_task(task, d.answer_output.as_deref(), d.labels.clone())
                    .map_err(model_error)?,
                None if !d.labels.is_empty() && d.labels != model.labels => {
                    model.set_labels(d.labels.clone()).map_err(model_error)?
                }
                None => {}
            }
            (manifest.name.clone(), Some(manifest.version))
        }
        None => (reference.model_name(), None),
    };
    Ok(ServedModel {
        name,
        version,
        sha256: fetched.sha256,
        model,
        load_time: started.elapsed(),
    })
}
