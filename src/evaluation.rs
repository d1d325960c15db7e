//! Classification metrics on labelled rows: accuracy, per-class and macro precision, recall
//! and F1, the confusion matrix, their rendering as a text table, and the evaluation of a
//! loaded model on a labelled data set (`maas eval`).

use std::fmt;

use serde::{Deserialize, Serialize};

use std::io::Read;

use crate::data::{CsvRows, DataError};
use crate::inference::{InferenceError, LoadedModel};

/// Precision, recall and F1 of one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Rows whose true label is this class.
    pub support: u64,
}

/// Everything an evaluation measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub rows: u64,
    pub accuracy: f64,
    pub macro_precision: f64,
    pub macro_recall: f64,
    pub macro_f1: f64,
    pub per_class: Vec<ClassMetrics>,
    /// `confusion[true][predicted]` row counts, in label order.
    pub confusion_matrix: Vec<Vec<u64>>,
}

/// Index of the largest value of each row of row-major `probabilities` (`classes` wide);
/// the first one wins a tie.
pub fn argmax_rows(probabilities: &[f32], classes: usize) -> Vec<u32> {
    probabilities
        .chunks_exact(classes)
        .map(|row| {
            let mut best = 0;
            for (i, p) in row.iter().enumerate() {
                if *p > row[best] {
                    best = i;
                }
            }
            best as u32
        })
        .collect()
}

impl Metrics {
    /// Compares predicted class indices with true ones; `labels` names the classes.
    pub fn compute(truth: &[u32], predicted: &[u32], labels: &[String]) -> Metrics {
        let n = labels.len();
        let mut confusion = vec![vec![0u64; n]; n];
        for (&t, &p) in truth.iter().zip(predicted) {
            if (t as usize) < n && (p as usize) < n {
                confusion[t as usize][p as usize] += 1;
            }
        }
        Metrics::from_confusion(confusion, labels)
    }

    /// The metrics of a confusion matrix (`confusion[true][predicted]`, square, label order).
    pub fn from_confusion(confusion: Vec<Vec<u64>>, labels: &[String]) -> Metrics {
        let n = labels.len();
        let ratio = |num: u64, den: u64| {
            if den == 0 {
                0.0
            } else {
                num as f64 / den as f64
            }
        };
        let per_class: Vec<ClassMetrics> = (0..n)
            .map(|c| {
                let tp = confusion[c][c];
                let support: u64 = confusion[c].iter().sum();
                let predicted_as_c: u64 = confusion.iter().map(|row| row[c]).sum();
                let precision = ratio(tp, predicted_as_c);
                let recall = ratio(tp, support);
                let f1 = if precision + recall == 0.0 {
                    0.0
                } else {
                    2.0 * precision * recall / (precision + recall)
                };
                ClassMetrics {
                    label: labels[c].clone(),
                    precision,
                    recall,
                    f1,
                    support,
                }
            })
            .collect();
        let mean = |f: fn(&ClassMetrics) -> f64| {
            if n == 0 {
                0.0
            } else {
                per_class.iter().map(f).sum::<f64>() / n as f64
            }
        };
        let correct: u64 = (0..n).map(|c| confusion[c][c]).sum();
        let rows: u64 = confusion.iter().flatten().sum();
        Metrics {
            rows,
            accuracy: ratio(correct, rows),
            macro_precision: mean(|m| m.precision),
            macro_recall: mean(|m| m.recall),
            macro_f1: mean(|m| m.f1),
            per_class,
            confusion_matrix: confusion,
        }
    }
}

impl fmt::Display for Metrics {
    /// The per-class table, the macro averages and the confusion matrix.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .per_class
            .iter()
            .map(|m| m.label.len())
            .max()
            .unwrap_or(0)
            .max("macro avg".len());
        writeln!(f, "accuracy {:.4} on {} rows\n", self.accuracy, self.rows)?;
        writeln!(f, "{:<width$}  precision  recall     f1  support", "class")?;
        for m in &self.per_class {
            writeln!(
                f,
                "{:<width$}  {:>9.4}  {:>6.4}  {:>5.4}  {:>7}",
                m.label, m.precision, m.recall, m.f1, m.support
            )?;
        }
        writeln!(
            f,
            "{:<width$}  {:>9.4}  {:>6.4}  {:>5.4}  {:>7}\n",
            "macro avg", self.macro_precision, self.macro_recall, self.macro_f1, self.rows
        )?;
        let cell = self
            .confusion_matrix
            .iter()
            .flatten()
            .map(|v| v.to_string().len())
            .chain(self.per_class.iter().map(|m| m.label.len()))
            .max()
            .unwrap_or(1);
        writeln!(f, "confusion matrix (rows: true label, columns: predicted)")?;
        write!(f, "{:<width$}", "")?;
        for m in &self.per_class {
            write!(f, " {:>cell$}", m.label)?;
        }
        writeln!(f)?;
        for (m, row) in self.per_class.iter().zip(&self.confusion_matrix) {
            write!(f, "{:<width$}", m.label)?;
            for v in row {
                write!(f, " {v:>cell$}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

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
    let columns = feature_columns(model, rows.feature_names())?;
    let width = rows.feature_names().len();
    let mut labels = model.labels.clone();
    let mut unknown_labels = Vec::new();
    let mut confusion = vec![vec![0u64; labels.len()]; labels.len()];
    let mut raw = Vec::with_capacity(EVALUATION_BATCH * width);
    let mut x = Vec::with_capacity(EVALUATION_BATCH * model.n_features);
    let mut truth = Vec::with_capacity(EVALUATION_BATCH);
    let mut finished = false;
    while !finished {
        raw.clear();
        truth.clear();
        while truth.len() < EVALUATION_BATCH {
            let Some(label) = rows.next_row(&mut raw)? else {
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
        x.clear();
        for row in raw.chunks_exact(width) {
            x.extend(columns.iter().map(|&c| row[c]));
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

/// For each model input, the data's feature column that feeds it.
fn feature_columns(
    model: &LoadedModel,
    data_features: &[String],
) -> Result<Vec<usize>, EvaluationError> {
    let by_name: Option<Vec<usize>> = (!model.feature_names.is_empty())
        .then(|| {
            model
                .feature_names
                .iter()
                .map(|name| data_features.iter().position(|f| f == name))
                .collect()
        })
        .flatten();
    if let Some(columns) = by_name {
        return Ok(columns);
    }
    if data_features.len() == model.n_features {
        return Ok((0..model.n_features).collect());
    }
    match model
        .feature_names
        .iter()
        .find(|name| !data_features.contains(name))
    {
        Some(missing) => Err(EvaluationError::MissingFeature {
            missing: missing.clone(),
            found: data_features.len(),
            expected: model.n_features,
        }),
        None => Err(EvaluationError::FeatureCount {
            found: data_features.len(),
            expected: model.n_features,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_of_a_small_confusion() {
        let labels = vec!["a".to_string(), "b".to_string()];
        // truth a,a,a,b ; predicted a,a,b,b
        let m = Metrics::compute(&[0, 0, 0, 1], &[0, 0, 1, 1], &labels);
        assert_eq!(m.confusion_matrix, vec![vec![2, 1], vec![0, 1]]);
        assert_eq!(m.accuracy, 0.75);
        assert_eq!(m.per_class[0].precision, 1.0);
        assert!((m.per_class[0].recall - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(m.per_class[1].precision, 0.5);
        assert_eq!(m.per_class[1].recall, 1.0);
        assert!((m.macro_recall - (2.0 / 3.0 + 1.0) / 2.0).abs() < 1e-12);
        let table = m.to_string();
        assert!(table.contains("macro avg"), "{table}");
    }

    #[test]
    fn argmax_takes_the_first_of_a_tie() {
        assert_eq!(argmax_rows(&[0.1, 0.8, 0.1, 0.5, 0.5, 0.0], 3), [1, 0]);
    }
}
