//! The `maas train` job end to end: split the data, train, evaluate on the held-out rows,
//! export ONNX, prove parity with tract, publish model and manifest to a store.

use crate::data::{DataError, Dataset};
use crate::evaluation::{argmax_rows, Metrics};
use crate::export::{self, ExportError, INPUT_NAME, OUTPUT_NAME};
use crate::inference::TensorSpec;
use crate::manifest::{DataRecord, Manifest, ModelDescription, TrainingRecord};
use crate::store::{Store, StoreError, StoreLocation};
use crate::training::{self, TrainConfig, TrainError, TrainingData, TrainingObserver};

/// Everything `maas train` needs.
#[derive(Debug, Clone)]
pub struct TrainJob {
    pub data: Dataset,
    pub name: String,
    pub store: StoreLocation,
    pub config: TrainConfig,
    /// Fraction of each class held out for evaluation.
    pub validation_split: f64,
}

/// What a finished job produced.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    pub manifest: Manifest,
    pub metrics: Metrics,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs the job; nothing is published unless the export passed its parity check.
pub async fn train_and_publish(
    job: &TrainJob,
    observer: &mut dyn TrainingObserver,
) -> Result<TrainOutcome, PipelineError> {
    crate::store::validate_name("model name", &job.name)?;
    let data = &job.data;
    let (train_rows, held_out_rows) = data.split(job.validation_split, job.config.seed)?;
    let (train_x, train_y) = data.gather(&train_rows);
    let (held_out_x, held_out_y) = data.gather(&held_out_rows);
    let model = training::train(
        &TrainingData {
            train_x: &train_x,
            train_y: &train_y,
            held_out_x: &held_out_x,
            held_out_y: &held_out_y,
            n_features: data.n_features(),
            n_classes: data.classes.len(),
        },
        &job.config,
        observer,
    )?;
    let probabilities = model.predict_proba(&held_out_x)?;
    let predicted = argmax_rows(&probabilities, data.classes.len());
    let metrics = Metrics::compute(&held_out_y, &predicted, &data.classes);

    let onnx = export::to_onnx(&model, &data.classes, &data.feature_names)?;
    // the held-out probabilities above are the trainer's reference for the export
    let parity = export::check_parity(&onnx, &held_out_x, &probabilities)?;

    let tensor = |name: &str, width: usize| TensorSpec {
        name: name.to_string(),
        dtype: "float32".to_string(),
        shape: vec![-1, width as i64],
    };
    let description = ModelDescription {
        inputs: vec![tensor(INPUT_NAME, data.n_features())],
        outputs: vec![tensor(OUTPUT_NAME, data.classes.len())],
        labels: data.classes.clone(),
        feature_names: data.feature_names.clone(),
        metrics: Some(metrics.clone()),
        training: Some(TrainingRecord {
            hyperparameters: job.config.clone(),
            validation_split: job.validation_split,
            data: DataRecord {
                source: data.source.clone(),
                sha256: data.fingerprint.clone(),
                label_column: data.label_column.clone(),
                rows: data.rows(),
                training_rows: train_rows.len(),
                held_out_rows: held_out_rows.len(),
            },
            epochs_run: model.history.len(),
            history: model.history.clone(),
            export_parity_max_abs_diff: parity,
        }),
    };
    let manifest = Store::open(job.store.clone())
        .publish(&job.name, &onnx, description)
        .await?;
    Ok(TrainOutcome { manifest, metrics })
}
