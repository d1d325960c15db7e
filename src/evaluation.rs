//! Evaluation of a loaded model on a labelled data set (`maas eval`): streams the rows through
//! the model a batch at a time and counts the confusion matrix (classifier) or sums the errors
//! of each target (regressor), whatever the data's size.

use std::io::Read;

use serde::{Deserialize, Serialize};

use crate::contract::Task;
use crate::data::{CsvRows, DataError};
use crate::features::ColumnError;
use crate::inference::{argmax_rows, InferenceError, LoadedModel};
use crate::metrics::{Metrics, RegressionMetrics, RegressionTally};

/// What a model scored on a labelled data set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub metrics: Metrics,
    /// Labels of the data that the model cannot predict; their rows count as errors and they
    /// get rows of their own in the confusion matrix, after the model's classes.
    pub unknown_labels: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum EvaluationError {
    #[error("the data has no column for the model's feature '{missing}', and its {found} feature columns do not match the model's {expected}")]
    MissingFeature {
        missing: String,
        found: usize,
        expected: usize,
    },
    #[error("the data has {found} feature columns but the model takes {expected}")]
    FeatureCount { found: usize, expected: usize },
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("{path} has a header but no data rows")]
    NoRows { path: String },
    #[error(transparent)]
    Inference(#[from] InferenceError),
    #[error("maas eval measures classifiers and regressors that take rows of float32 features; this model is a {task} model with inputs {inputs} (a bare ONNX file: name its task with --task classifier|regression)")]
    NotARowsClassifier { task: Task, inputs: String },
    #[error("the model answers {outputs} targets but {columns} label columns were given ({names}); name one column per target with --label-column")]
    TargetCount {
        outputs: usize,
        columns: usize,
        names: String,
    },
}

/// Rows per call to the model: memory stays bounded whatever the size of the data.
const EVALUATION_BATCH: usize = 1024;

/// Streams labelled CSV rows through `model` and compares its answers with the labels,
/// holding one batch of rows at a time.
///
/// Features are taken by name when the model names its features and the data has them all
/// (in any order), otherwise in column order. Labels are matched to the model's by text.
pub fn evaluate<R: Read>(
    model: &LoadedModel,
    mut rows: CsvRows<R>,
    source: &str,
) -> Result<Evaluation, EvaluationError> {
    let n_features = rows_input(model, Task::Classifier)?;
    pick_features(model, n_features, &mut rows)?;
    let mut labels = model.labels().to_vec();
    let mut unknown_labels = Vec::new();
    let mut confusion = vec![vec![0u64; labels.len()]; labels.len()];
    let mut x = Vec::with_capacity(EVALUATION_BATCH * n_features);
    let mut truth = Vec::with_capacity(EVALUATION_BATCH);
    let mut finished = false;
    while !finished {
        x.clear();
        truth.clear();
        while truth.len() < EVALUATION_BATCH {
            let Some(label) = rows.next_row(&mut x)? else {
                finished = true;
                break;
            };
            let index = match labels.iter().position(|l| l == label) {
                Some(i) => i,
                None => {
                    // a label the model cannot predict: a row and a column of its own
                    labels.push(label.to_string());
                    unknown_labels.push(label.to_string());
                    confusion.iter_mut().for_each(|row| row.push(0));
                    confusion.push(vec![0; labels.len()]);
                    labels.len() - 1
                }
            };
            truth.push(index);
        }
        if truth.is_empty() {
            break;
        }
        let probabilities = model.predict(&x, truth.len())?;
        let predicted = argmax_rows(&probabilities, model.n_classes());
        for (&t, &p) in truth.iter().zip(&predicted) {
            confusion[t][p as usize] += 1;
        }
    }
    if confusion.iter().flatten().all(|&c| c == 0) {
        return Err(EvaluationError::NoRows {
            path: source.to_string(),
        });
    }
    Ok(Evaluation {
        metrics: Metrics::from_confusion(confusion, &labels),
        unknown_labels,
    })
}

/// Streams CSV rows whose label columns hold a regressor's targets (in output order) through
/// `model` and sums the errors of each target, holding one batch of rows at a time. Features
/// are matched as in [`evaluate`].
pub fn evaluate_regression<R: Read>(
    model: &LoadedModel,
    mut rows: CsvRows<R>,
    target_names: &[String],
    source: &str,
) -> Result<RegressionMetrics, EvaluationError> {
    let n_features = rows_input(model, Task::Regression)?;
    let outputs = model
        .answer_output()
        .and_then(|o| o.shape.get(1))
        .map_or(0, |&w| w.max(0) as usize);
    if outputs != target_names.len() {
        return Err(EvaluationError::TargetCount {
            outputs,
            columns: target_names.len(),
            names: target_names.join(", "),
        });
    }
    pick_features(model, n_features, &mut rows)?;
    let mut tally = RegressionTally::new(outputs);
    let mut truth = Vec::with_capacity(EVALUATION_BATCH * outputs);
    let mut x = Vec::with_capacity(EVALUATION_BATCH * n_features);
    loop {
        x.clear();
        truth.clear();
        let mut batch = 0;
        while batch < EVALUATION_BATCH && rows.next_values(&mut x, &mut truth)? {
            batch += 1;
        }
        if batch == 0 {
            break;
        }
        tally.add(&truth, &model.predict(&x, batch)?);
    }
    let metrics = tally.finish(target_names);
    if metrics.rows == 0 {
        return Err(EvaluationError::NoRows {
            path: source.to_string(),
        });
    }
    Ok(metrics)
}

/// The feature count of a model that takes rows of float32 features and answers as `task`.
fn rows_input(model: &LoadedModel, task: Task) -> Result<usize, EvaluationError> {
    match (model.task() == task, model.n_features()) {
        (true, Some(f)) => Ok(f),
        _ => Err(EvaluationError::NotARowsClassifier {
            task: model.task(),
            inputs: model
                .inputs()
                .iter()
                .map(|i| format!("'{}' {} {:?}", i.name, i.dtype, i.shape))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Makes `rows` read the model's features (see [`CsvRows::pick_features`]).
fn pick_features<R: Read>(
    model: &LoadedModel,
    n_features: usize,
    rows: &mut CsvRows<R>,
) -> Result<(), EvaluationError> {
    let found = rows.feature_names().len();
    rows.pick_features(n_features, model.feature_names())
        .map_err(|e| match e {
            ColumnError::MissingFeature(missing) => EvaluationError::MissingFeature {
                missing,
                found,
                expected: n_features,
            },
            ColumnError::FeatureCount { found, expected } => {
                EvaluationError::FeatureCount { found, expected }
            }
        })
}
