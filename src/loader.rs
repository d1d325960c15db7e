//! From a model reference to a model ready to answer: the store fetches the bytes (checksum
//! verified), inference loads them with tract, and the manifest names the model and its classes.
//! `maas predict`, `maas eval`, `maas serve` and the Lambda functions all load through here.

use std::sync::Arc;
use std::time::Duration;
#[cfg(feature = "native")]
use std::time::Instant;

use crate::explain::{Background, BackgroundFile, BackgroundFileError};
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
    /// The model, ready to run (shared with `text`, for a text-generation model).
    pub model: Arc<LoadedModel>,
    /// Fetch and load time.
    pub load_time: Duration,
    /// A text-generation model's tokenizer, configuration and decoding loop, over `model`.
    #[cfg(feature = "generation")]
    pub text: Option<Arc<crate::generation::TextModel>>,
    /// The rows explanations fill absent features from, when the version carries them.
    pub background: Option<Arc<Background>>,
}

impl ServedModel {
    /// A model that answers tensors, classes or values (no text), for hosts that load it
    /// themselves; `sha256` is the model file's.
    pub fn new(
        name: String,
        version: Option<u64>,
        sha256: String,
        model: LoadedModel,
        load_time: Duration,
    ) -> ServedModel {
        ServedModel {
            name,
            version,
            sha256,
            model: Arc::new(model),
            load_time,
            #[cfg(feature = "generation")]
            text: None,
            background: None,
        }
    }
}

/// Why a model could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The store could not give the model's bytes (missing, unreachable, checksum mismatch, …).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The model and its files are not a text-generation export maas can serve.
    #[cfg(feature = "generation")]
    #[error("cannot serve {reference} as a text-generation model: {source}")]
    Text {
        reference: String,
        source: crate::generation::TextModelError,
    },
    /// The version's background does not fit its model.
    #[error("cannot load the background of {reference}: {source}")]
    Background {
        /// The reference as given.
        reference: String,
        /// What is wrong with it.
        source: BackgroundFileError,
    },
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
    let model = LoadedModel::from_vec(fetched.bytes).map_err(model_error)?;
    let (model, name, version) =
        described(model, fetched.manifest.as_ref(), reference.model_name()).map_err(model_error)?;
    #[cfg(feature = "generation")]
    {
        if let (Some(manifest), ModelRef::Stored { store, .. }) = (&fetched.manifest, reference) {
            if manifest.description.task == Some(crate::contract::Task::TextGeneration) {
                let files = text_files(&store::Store::open(store.clone()), manifest).await?;
                let text = crate::generation::TextModel::new(model, &files).map_err(|source| {
                    LoadError::Text {
                        reference: reference.to_string(),
                        source,
                    }
                })?;
                let text = Arc::new(text);
                return Ok(ServedModel {
                    name,
                    version,
                    sha256: fetched.sha256,
                    model: Arc::clone(text.shared_model()),
                    load_time: started.elapsed(),
                    text: Some(text),
                    background: None,
                });
            }
        }
    }
    let background = match (&fetched.manifest, reference) {
        (Some(manifest), ModelRef::Stored { store, .. }) => {
            match &manifest.description.background {
                Some(record) => {
                    let bytes = store::Store::open(store.clone())
                        .attachment(&manifest.name, manifest.version, &record.file)
                        .await?;
                    Some(background(
                        &model,
                        &bytes,
                        &record.file,
                        &reference.to_string(),
                    )?)
                }
                None => None,
            }
        }
        _ => None,
    };
    let mut served = ServedModel::new(name, version, fetched.sha256, model, started.elapsed());
    served.background = background.map(Arc::new);
    Ok(served)
}

/// A background file's rows checked against the model: rows of its features.
pub fn background(
    model: &LoadedModel,
    bytes: &[u8],
    file: &str,
    reference: &str,
) -> Result<Background, LoadError> {
    let error = |source| LoadError::Background {
        reference: reference.to_string(),
        source,
    };
    let features = model.n_features().ok_or_else(|| {
        error(BackgroundFileError::Rows {
            file: file.to_string(),
            message: "explanations need a model with one [batch, features] float32 input".into(),
        })
    })?;
    BackgroundFile::parse(bytes, file)
        .and_then(|f| f.background(features, file))
        .map_err(error)
}

/// The files a text-generation version carries beside its model, each checksum verified
/// against the manifest.
#[cfg(all(feature = "native", feature = "generation"))]
async fn text_files(
    store: &store::Store,
    manifest: &crate::manifest::Manifest,
) -> Result<crate::generation::ExportFiles, LoadError> {
    let (name, version) = (&manifest.name, manifest.version);
    let mut files = crate::generation::ExportFiles::default();
    for attached in &manifest.attachments {
        if let Some(slot) = files.slot(&attached.file) {
            *slot = Some(store.attachment(name, version, &attached.file).await?);
        }
    }
    Ok(files)
}

/// The model as its manifest describes it (what it answers, its classes), with its name and
/// version; a bare file's model keeps what its graph says and takes `fallback_name`.
fn described(
    mut model: LoadedModel,
    manifest: Option<&crate::manifest::Manifest>,
    fallback_name: String,
) -> Result<(LoadedModel, String, Option<u64>), InferenceError> {
    let Some(manifest) = manifest else {
        return Ok((model, fallback_name, None));
    };
    // the manifest says what the model answers and names its classes (`maas publish
    // --task/--output/--labels`); older manifests only name the classes
    let d = &manifest.description;
    match d.task {
        Some(task) => model.set_task(task, d.answer_output.as_deref(), d.labels.clone())?,
        None if !d.labels.is_empty() && d.labels != model.labels() => {
            model.set_labels(d.labels.clone())?
        }
        None => {}
    }
    Ok((model, manifest.name.clone(), Some(manifest.version)))
}

/// A model from bytes a host read itself (the edge worker, from R2 in the store's layout): the
/// manifest's JSON when there is one, whose sha256 the bytes must have, the model file, and
/// the background file when the manifest lists one (its sha256 checked against the listing).
pub fn from_bytes(
    manifest: Option<&[u8]>,
    bytes: Vec<u8>,
    background_bytes: Option<&[u8]>,
    fallback_name: &str,
) -> Result<ServedModel, LoadError> {
    let sha256 = crate::store::sha256_hex(&bytes);
    let manifest = manifest
        .map(|m| crate::store::parse_manifest("manifest.json", m))
        .transpose()?;
    if let Some(m) = &manifest {
        if m.model.sha256 != sha256 {
            return Err(LoadError::Store(StoreError::ChecksumMismatch {
                name: m.name.clone(),
                version: m.version,
                expected: m.model.sha256.clone(),
                file: m.model.file.clone(),
                actual: sha256,
            }));
        }
    }
    let model_error = |source| LoadError::Model {
        reference: fallback_name.to_string(),
        source,
    };
    let model = LoadedModel::from_vec(bytes).map_err(model_error)?;
    let (model, name, version) =
        described(model, manifest.as_ref(), fallback_name.to_string()).map_err(model_error)?;
    let record = manifest.as_ref().and_then(|m| {
        let record = m.description.background.as_ref()?;
        let listed = m.attachments.iter().find(|a| a.file == record.file);
        Some((m, record, listed))
    });
    let background = match (record, background_bytes) {
        (Some((m, record, listed)), Some(bytes)) => {
            let actual = crate::store::sha256_hex(bytes);
            if let Some(listed) = listed.filter(|l| l.sha256 != actual) {
                return Err(LoadError::Store(StoreError::ChecksumMismatch {
                    name: m.name.clone(),
                    version: m.version,
                    expected: listed.sha256.clone(),
                    file: record.file.clone(),
                    actual,
                }));
            }
            Some(Arc::new(background(
                &model,
                bytes,
                &record.file,
                fallback_name,
            )?))
        }
        _ => None,
    };
    let mut served = ServedModel::new(name, version, sha256, model, Duration::ZERO);
    served.background = background;
    Ok(served)
}

/// A folder as `optimum-cli export onnx --task text-generation-with-past` writes it, read
/// once: `model.onnx` and whichever of [`crate::generation::config::FILES`] are beside it.
#[cfg(all(feature = "native", feature = "generation"))]
#[derive(Debug)]
pub struct ExportFolder {
    pub model: Vec<u8>,
    /// In the order of `FILES`.
    pub files: Vec<(&'static str, Vec<u8>)>,
}

#[cfg(all(feature = "native", feature = "generation"))]
impl ExportFolder {
    pub async fn read(dir: &std::path::Path) -> Result<ExportFolder, LoadError> {
        use crate::objects::{self, Location};
        let read = |file: &str| {
            let location = Location::File(dir.join(file));
            async move { objects::get(&location).await.map_err(StoreError::from) }
        };
        let model = read("model.onnx")
            .await?
            .ok_or_else(|| StoreError::NoSuchFile {
                path: dir.join("model.onnx").display().to_string(),
            })?;
        let mut files = Vec::new();
        for file in crate::generation::config::FILES {
            if let Some(bytes) = read(file).await? {
                files.push((file, bytes));
            }
        }
        Ok(ExportFolder { model, files })
    }

    /// The files generation reads, in their places.
    pub fn export_files(&self) -> crate::generation::ExportFiles {
        let mut files = crate::generation::ExportFiles::default();
        for (file, bytes) in &self.files {
            if let Some(slot) = files.slot(file) {
                *slot = Some(bytes.clone());
            }
        }
        files
    }
}

/// Publishes an export folder to `store` as one version of `name`: the model described with
/// what its files say (refused here, not at the first request, when the layout, the tokenizer
/// or the chat template does not serve) and every file beside it checksummed in the manifest.
#[cfg(all(feature = "native", feature = "generation"))]
pub async fn publish_export_folder(
    store: &store::Store,
    name: &str,
    dir: &std::path::Path,
) -> Result<crate::manifest::Manifest, LoadError> {
    let folder = ExportFolder::read(dir).await?;
    let text = text_model(
        &dir.display().to_string(),
        folder.model.clone(),
        &folder.export_files(),
    )?;
    let attachments = folder
        .files
        .into_iter()
        .map(|(file, bytes)| store::Attachment {
            file: file.to_string(),
            media_type: if file.ends_with(".json") {
                "application/json"
            } else {
                "text/x-jinja2"
            }
            .to_string(),
            bytes,
        })
        .collect();
    Ok(store
        .publish_with(name, &folder.model, text.description(), |_| attachments)
        .await?)
}

/// A text-generation model from an export folder (see [`ExportFolder`]).
#[cfg(all(feature = "native", feature = "generation"))]
pub async fn load_export_folder(
    dir: &std::path::Path,
) -> Result<crate::generation::TextModel, LoadError> {
    let folder = ExportFolder::read(dir).await?;
    let files = folder.export_files();
    text_model(&dir.display().to_string(), folder.model, &files)
}

/// A text-generation model from a model's bytes and its export's files; `reference` names it
/// in errors.
#[cfg(feature = "generation")]
pub fn text_model(
    reference: &str,
    model: Vec<u8>,
    files: &crate::generation::ExportFiles,
) -> Result<crate::generation::TextModel, LoadError> {
    let model = LoadedModel::from_vec(model).map_err(|source| LoadError::Model {
        reference: reference.to_string(),
        source,
    })?;
    crate::generation::TextModel::new(model, files).map_err(|source| LoadError::Text {
        reference: reference.to_string(),
        source,
    })
}

/// The text-generation model a reference names: a stored version published with `maas
/// publish --hf-dir` (`task: text-generation`), its model and every file beside it checksum
/// verified against the manifest.
#[cfg(all(feature = "native", feature = "generation"))]
pub async fn load_text(
    reference: &ModelRef,
    progress: Option<Arc<dyn TransferProgress>>,
) -> Result<Arc<crate::generation::TextModel>, LoadError> {
    use crate::generation::TextModelError;
    let text_error = |source| LoadError::Text {
        reference: reference.to_string(),
        source,
    };
    if let ModelRef::File(_) = reference {
        return Err(text_error(TextModelError::BareFile));
    }
    let served = load_with_progress(reference, progress).await?;
    served.text.ok_or_else(|| {
        text_error(TextModelError::NotTextGeneration {
            name: served.name.clone(),
            version: served.version.unwrap_or_default(),
            task: served.model.task().to_string(),
        })
    })
}
