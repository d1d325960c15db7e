//! The `maas train` job end to end: split the data, train, evaluate on the held-out test rows,
//! export ONNX, prove parity with tract, draw the report, publish it all to a store.

mod parity;

pub use parity::{check_parity, ParityError, PARITY_TOLERANCE};

use crate::contract::{Task, INPUT_NAME, OUTPUT_NAME, REGRESSION_OUTPUT_NAME};
use crate::data::{DataError, Dataset};
use crate::explain::{BackgroundFile, MAX_BACKGROUND_ROWS};
use crate::export::{self, ExportError};
use crate::inference::{argmax_rows, TensorSpec};
use crate::manifest::{DataRecord, Manifest, ModelDescription, TrainingRecord};
use crate::metrics::{Metrics, RegressionMetrics};
use crate::report::{self, ReportError};
use crate::store::{Attachment, Store, StoreError, StoreLocation};
use crate::training::{self, Targets, TrainConfig, TrainError, TrainingData, TrainingObserver};

/// Everything `maas train` needs.
#[derive(Debug, Clone)]
pub struct TrainJob {
    pub data: Dataset,
    pub name: String,
    pub store: StoreLocation,
    pub config: TrainConfig,
    /// Fraction of each class held out as test rows for the final metrics.
    pub test_split: f64,
    /// Fraction of the remaining rows of each class kept for validation: the per-epoch curves
    /// and early stopping.
    pub validation_split: f64,
    /// Training rows stored as the background of explanations (a seeded draw; 0 stores none).
    pub background_rows: usize,
}

/// What a finished job produced.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    pub manifest: Manifest,
    pub metrics: TestMetrics,
    /// Wall time of the training loop (every epoch, its validation pass included).
    pub training_seconds: f64,
    /// Training rows times epochs run, per second of `training_seconds`.
    pub samples_per_second: f64,
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
    Parity(#[from] ParityError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("cannot derive a model name from the data source {data}; pass --name")]
    NoModelName { data: String },
}

/// What the model scored on the test rows.
#[derive(Debug, Clone)]
pub enum TestMetrics {
    Classifier(Metrics),
    Regression(RegressionMetrics),
}

impl std::fmt::Display for TestMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TestMetrics::Classifier(m) => m.fmt(f),
            TestMetrics::Regression(m) => m.fmt(f),
        }
    }
}

/// The model name a job gets when none is given: the data file's stem (`digits` for the
/// bundled data set and for `s3://bucket/data/digits.csv`).
pub fn default_model_name(data: &Dataset) -> Result<String, PipelineError> {
    if data.source == crate::data::BUNDLED_DIGITS_NAME {
        return Ok("digits".to_string());
    }
    std::path::Path::new(&data.source)
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| PipelineError::NoModelName {
            data: data.source.clone(),
        })
}

/// A model trained on a data set's split, with the rows of each part.
pub struct SplitRun {
    /// The trained model (its kept epoch's weights).
    pub model: training::TrainedModel,
    /// Rows it was trained on.
    pub train_rows: Vec<usize>,
    /// Rows that drove early stopping and the validation curves.
    pub validation_rows: Vec<usize>,
    /// The test rows, untouched by training and model selection.
    pub held_out_rows: Vec<usize>,
    /// The test rows' features, row-major.
    pub held_out_x: Vec<f32>,
    /// The test rows' class indices (empty for a regression).
    pub held_out_y: Vec<u32>,
    /// The test rows' target values, row-major (empty for a classifier).
    pub held_out_values: Vec<f32>,
    /// Wall time of the training loop alone.
    pub training_seconds: f64,
}

/// Splits `data` (test rows by `config.seed`, stratified by class for a classifier, then
/// validation rows by the seed + 1) and trains a classifier or a regressor, as the data's task
/// says, on the training rows: what `maas train` does before it evaluates and exports, so that
/// a test can reproduce the trainer's answers exactly.
pub fn train_on_split(
    data: &Dataset,
    config: &TrainConfig,
    test_fraction: f64,
    validation_fraction: f64,
    observer: &mut dyn TrainingObserver,
) -> Result<SplitRun, PipelineError> {
    let (train_rows, held_out_rows) = test_split(data, test_fraction, config.seed)?;
    // a seed of its own, so that the validation rows do not mirror the test draw
    let (train_rows, validation_rows) = data.split_rows(
        &train_rows,
        "validation",
        validation_fraction,
        config.seed.wrapping_add(1),
    )?;
    let regression = data.task == Task::Regression;
    let gather = |rows: &[usize]| {
        if regression {
            let (x, values) = data.gather_values(rows);
            (x, Vec::new(), values)
        } else {
            let (x, classes) = data.gather(rows);
            (x, classes, Vec::new())
        }
    };
    let (train_x, train_y, train_values) = gather(&train_rows);
    let (validation_x, validation_y, validation_values) = gather(&validation_rows);
    let (held_out_x, held_out_y, held_out_values) = gather(&held_out_rows);
    let targets = if regression {
        Targets::Values {
            train: &train_values,
            validation: &validation_values,
            n_targets: data.n_targets(),
        }
    } else {
        Targets::Classes {
            train: &train_y,
            validation: &validation_y,
            n_classes: data.classes.len(),
        }
    };
    let started = std::time::Instant::now();
    let model = training::train(
        &TrainingData {
            train_x: &train_x,
            validation_x: &validation_x,
            n_features: data.n_features(),
            targets,
        },
        config,
        observer,
    )?;
    Ok(SplitRun {
        model,
        train_rows,
        validation_rows,
        held_out_rows,
        held_out_x,
        held_out_y,
        held_out_values,
        training_seconds: started.elapsed().as_secs_f64(),
    })
}

/// Runs the job; nothing is published unless the export passed its parity check.
pub async fn train_and_publish(
    job: &TrainJob,
    observer: &mut dyn TrainingObserver,
) -> Result<TrainOutcome, PipelineError> {
    crate::store::validate_name("model name", &job.name)?;
    let data = &job.data;
    data.check_trainable()?;
    let SplitRun {
        model,
        train_rows,
        validation_rows,
        held_out_rows,
        held_out_x,
        held_out_y,
        held_out_values,
        training_seconds,
    } = train_on_split(
        data,
        &job.config,
        job.test_split,
        job.validation_split,
        observer,
    )?;
    let samples_per_second =
        (train_rows.len() * model.history.len()) as f64 / training_seconds.max(1e-9);
    // the held-out answers are the trainer's reference for the export
    let answers = model.predict(&held_out_x)?;
    let regression = data.task == Task::Regression;
    let (metrics, names, output) = if regression {
        let metrics = RegressionMetrics::compute(&held_out_values, &answers, &data.label_columns);
        (
            TestMetrics::Regression(metrics),
            &data.label_columns,
            REGRESSION_OUTPUT_NAME,
        )
    } else {
        let predicted = argmax_rows(&answers, data.classes.len());
        let metrics = Metrics::compute(&held_out_y, &predicted, &data.classes);
        (TestMetrics::Classifier(metrics), &data.classes, OUTPUT_NAME)
    };

    let onnx = export::to_onnx(&model, names, &data.feature_names)?;
    let background = background_sample(data, &train_rows, job.background_rows, job.config.seed);
    let parity = check_parity(&onnx, &held_out_x, &answers)?;

    let tensor =
        |name: &str, width: usize| TensorSpec::batched(name, "float32", vec![-1, width as i64]);
    let description = ModelDescription {
        inputs: vec![tensor(INPUT_NAME, data.n_features())],
        outputs: vec![tensor(output, model.n_outputs())],
        task: Some(data.task),
        answer_output: Some(output.to_string()),
        labels: data.classes.clone(),
        feature_names: data.feature_names.clone(),
        metrics: match &metrics {
            TestMetrics::Classifier(m) => Some(m.clone()),
            TestMetrics::Regression(_) => None,
        },
        regression_metrics: match &metrics {
            TestMetrics::Regression(m) => Some(m.clone()),
            TestMetrics::Classifier(_) => None,
        },
        training: Some(TrainingRecord {
            hyperparameters: job.config.clone(),
            test_split: job.test_split,
            validation_split: job.validation_split,
            data: DataRecord {
                source: data.source.clone(),
                sha256: data.fingerprint.clone(),
                label_column: data.label_column(),
                rows: data.rows(),
                training_rows: train_rows.len(),
                validation_rows: validation_rows.len(),
                held_out_rows: held_out_rows.len(),
            },
            epochs_run: model.history.len(),
            kept_epoch: model.kept_epoch,
            history: model.history.clone(),
            export_parity_max_abs_diff: parity,
        }),
        generation: None,
        background: background.as_ref().map(BackgroundFile::record),
    };
    let second_picture = match &metrics {
        TestMetrics::Classifier(m) => (
            report::CONFUSION_FILE,
            report::confusion_png(
                m,
                &format!(
                    "{}: {} test rows, accuracy {:.4}",
                    job.name, m.rows, m.accuracy
                ),
            )?,
        ),
        TestMetrics::Regression(m) => (
            report::FIT_FILE,
            report::fit_png(
                &held_out_values,
                &answers,
                m,
                &format!("{}: {} test rows", job.name, m.rows),
            )?,
        ),
    };
    let pictures = [
        (
            report::CURVES_FILE,
            report::curves_png(&model.history, model.kept_epoch)?,
        ),
        second_picture,
    ]
    .map(|(file, bytes)| Attachment {
        file: file.to_string(),
        media_type: "image/png".to_string(),
        bytes,
    });
    let background = background.map(|b| b.attachment());
    let store = job.store.to_string();
    let manifest = Store::open(job.store.clone())
        .publish_with(&job.name, &onnx, description, |claimed| {
            let mut listed = claimed.clone();
            listed.attachments = pictures.iter().map(Attachment::listing).collect();
            let card = Attachment {
                file: report::REPORT_FILE.to_string(),
                media_type: "text/markdown".to_string(),
                bytes: report::model_card(&listed, &store).into_bytes(),
            };
            pictures
                .into_iter()
                .chain([card])
                .chain(background)
                .collect()
        })
        .await?;
    Ok(TrainOutcome {
        manifest,
        metrics,
        training_seconds,
        samples_per_second,
    })
}

/// Up to `count` of the training rows, drawn without replacement by a generator seeded from
/// the job's seed (the same seed, the same background): what explanations fill absent
/// features from.
fn background_sample(
    data: &Dataset,
    train_rows: &[usize],
    count: usize,
    seed: u64,
) -> Option<BackgroundFile> {
    use rand_chacha::rand_core::{RngCore, SeedableRng};
    let count = count.min(train_rows.len()).min(MAX_BACKGROUND_ROWS);
    if count == 0 {
        return None;
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed.wrapping_add(BACKGROUND_SEED_OFFSET));
    let mut order = train_rows.to_vec();
    for i in 0..count {
        // the modulo's bias (n / 2^64) does not matter for a sample of rows
        let j = i + (rng.next_u64() % (order.len() - i) as u64) as usize;
        order.swap(i, j);
    }
    let rows = order[..count]
        .iter()
        .map(|&r| data.row(r).to_vec())
        .collect();
    Some(BackgroundFile {
        source: format!(
            "{count} of the {} training rows, drawn with the job's seed {seed}",
            train_rows.len()
        ),
        rows,
    })
}

/// Added to the job's seed for the background's draw, so that it does not mirror the splits'.
const BACKGROUND_SEED_OFFSET: u64 = 2;

/// The training and test rows of a job: the same stratified draw for a given seed and
/// fraction, so that `maas eval` can be pointed at exactly the rows a model was tested on.
pub fn test_split(
    data: &Dataset,
    fraction: f64,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>), DataError> {
    data.split("test", fraction, seed)
}
