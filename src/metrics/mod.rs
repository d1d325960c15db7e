//! Classification metrics as data: accuracy, per-class and macro precision, recall and F1, the
//! confusion matrix, and their rendering as a text table. Computed by training and evaluation,
//! carried in every manifest. Regression's: [`RegressionMetrics`] per target.

use std::fmt;

mod regression;

pub use regression::{RegressionMetrics, RegressionTally, TargetMetrics};

use serde::{Deserialize, Serialize};

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
}
