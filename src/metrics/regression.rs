//! Regression metrics: MSE, RMSE, MAE and R² of each target, accumulated a batch at a time so
//! that `maas eval` never holds the data, and their rendering as a text table.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The errors of one target, in its own units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetMetrics {
    /// The target column.
    pub name: String,
    pub mse: f64,
    pub rmse: f64,
    pub mae: f64,
    /// Coefficient of determination: 1 − SSE / SST (SST around the rows' own mean); 0 when the
    /// target is constant and predicted exactly, negative when worse than the mean.
    pub r2: f64,
}

/// What a regressor scored on held-out rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegressionMetrics {
    pub rows: u64,
    pub per_target: Vec<TargetMetrics>,
}

/// Running sums of one target, in f64. The truth's spread uses Welford's update so that a
/// target with a large mean and a small spread keeps its precision.
#[derive(Debug, Clone, Default)]
struct Sums {
    squared_error: f64,
    absolute_error: f64,
    mean: f64,
    /// Sum of squared deviations from the running mean (SST at the end).
    deviation: f64,
}

/// Accumulates predicted and true values of `T` targets, row-major, batch after batch.
#[derive(Debug, Clone)]
pub struct RegressionTally {
    rows: u64,
    sums: Vec<Sums>,
}

impl RegressionTally {
    pub fn new(targets: usize) -> Self {
        RegressionTally {
            rows: 0,
            sums: vec![Sums::default(); targets],
        }
    }

    /// Adds rows of `truth` and `predicted`, both row-major `[rows, targets]`.
    pub fn add(&mut self, truth: &[f32], predicted: &[f32]) {
        let t = self.sums.len().max(1);
        for (truth, predicted) in truth.chunks_exact(t).zip(predicted.chunks_exact(t)) {
            self.rows += 1;
            let n = self.rows as f64;
            for ((s, &y), &p) in self.sums.iter_mut().zip(truth).zip(predicted) {
                let (y, error) = (y as f64, p as f64 - y as f64);
                s.squared_error += error * error;
                s.absolute_error += error.abs();
                let delta = y - s.mean;
                s.mean += delta / n;
                s.deviation += delta * (y - s.mean);
            }
        }
    }

    /// The metrics so far; `names` names the targets in order.
    pub fn finish(&self, names: &[String]) -> RegressionMetrics {
        let n = self.rows.max(1) as f64;
        let per_target = self
            .sums
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mse = s.squared_error / n;
                let r2 = if s.deviation > 0.0 {
                    1.0 - s.squared_error / s.deviation
                } else {
                    0.0
                };
                TargetMetrics {
                    name: names.get(i).cloned().unwrap_or_else(|| i.to_string()),
                    mse,
                    rmse: mse.sqrt(),
                    mae: s.absolute_error / n,
                    r2,
                }
            })
            .collect();
        RegressionMetrics {
            rows: self.rows,
            per_target,
        }
    }
}

impl RegressionMetrics {
    /// Compares predicted values with true ones, both row-major `[rows, names.len()]`.
    pub fn compute(truth: &[f32], predicted: &[f32], names: &[String]) -> RegressionMetrics {
        let mut tally = RegressionTally::new(names.len());
        tally.add(truth, predicted);
        tally.finish(names)
    }
}

impl fmt::Display for RegressionMetrics {
    /// One line per target: MSE, RMSE, MAE and R².
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .per_target
            .iter()
            .map(|m| m.name.len())
            .max()
            .unwrap_or(0)
            .max("target".len());
        writeln!(f, "regression on {} rows\n", self.rows)?;
        writeln!(
            f,
            "{:<width$}  {:>12}  {:>10}  {:>10}  {:>7}",
            "target", "MSE", "RMSE", "MAE", "R²"
        )?;
        for m in &self.per_target {
            writeln!(
                f,
                "{:<width$}  {:>12.4}  {:>10.4}  {:>10.4}  {:>7.4}",
                m.name, m.mse, m.rmse, m.mae, m.r2
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_of_known_errors() {
        // truth 1,2,3,4 (mean 2.5, SST 5); errors +1, -1, 0, +2 → SSE 6
        let names = ["y".to_string()];
        let m = RegressionMetrics::compute(&[1.0, 2.0, 3.0, 4.0], &[2.0, 1.0, 3.0, 6.0], &names);
        let t = &m.per_target[0];
        assert_eq!(m.rows, 4);
        assert_eq!(t.mse, 1.5);
        assert_eq!(t.rmse, 1.5f64.sqrt());
        assert_eq!(t.mae, 1.0);
        assert!((t.r2 - (1.0 - 6.0 / 5.0)).abs() < 1e-12, "{}", t.r2);
        assert!(m.to_string().contains("R²"), "{m}");
    }

    #[test]
    fn batches_add_up_to_the_whole_and_targets_stay_apart() {
        let names = ["a".to_string(), "b".to_string()];
        let truth: Vec<f32> = (0..40).map(|i| 1e6 + (i % 7) as f32).collect();
        let predicted: Vec<f32> = truth.iter().map(|v| v + 0.5).collect();
        let whole = RegressionMetrics::compute(&truth, &predicted, &names);
        let mut tally = RegressionTally::new(2);
        tally.add(&truth[..12], &predicted[..12]);
        tally.add(&truth[12..], &predicted[12..]);
        let batched = tally.finish(&names);
        assert_eq!(batched.rows, 20);
        for (w, b) in whole.per_target.iter().zip(&batched.per_target) {
            assert!((w.r2 - b.r2).abs() < 1e-9 && (w.mse - b.mse).abs() < 1e-12);
            assert_eq!(w.mae, 0.5);
        }
        // a large mean does not spoil the spread: R² = 1 − 0.25 / var
        let t = &whole.per_target[0];
        assert!(t.r2 > 0.9 && t.r2 < 1.0, "{}", t.r2);
    }
}
