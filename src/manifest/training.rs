//! The training record of a manifest: hyperparameters (with the learning-rate schedule), the
//! data a model was trained on and what each epoch achieved. Plain data, read by every maas.

use serde::{Deserialize, Serialize};

/// A learning-rate schedule that does not parse or is out of range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ScheduleError(pub String);

/// Hyperparameters, data and history of a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingRecord {
    /// Includes the seed.
    pub hyperparameters: TrainConfig,
    /// Fraction of each class (of all rows, for a regression) held out as test rows, for the
    /// metrics.
    #[serde(default)]
    pub test_split: f64,
    /// Fraction of the remaining rows of each class used for validation during training.
    pub validation_split: f64,
    pub data: DataRecord,
    pub epochs_run: usize,
    /// The epoch whose weights were exported (the best one when early stopping).
    #[serde(default)]
    pub kept_epoch: usize,
    pub history: Vec<EpochSummary>,
    /// Largest difference between tract on the exported file and the trainer, on the test
    /// rows: |Δp| for a classifier, |Δ| / max(1, |value|) for a regressor.
    pub export_parity_max_abs_diff: f32,
}

/// Which data a model was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataRecord {
    pub source: String,
    /// sha256 of the data file's bytes.
    pub sha256: String,
    /// The class label column, or the regression target columns comma-separated.
    pub label_column: String,
    pub rows: usize,
    pub training_rows: usize,
    #[serde(default)]
    pub validation_rows: usize,
    /// Test rows: the metrics are measured on them.
    pub held_out_rows: usize,
}

/// Hyperparameters of one training run; the defaults are the product's reference model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Widths of the hidden layers, input side first.
    pub hidden: Vec<usize>,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    /// Weight of the L1 penalty on the layer weights (not the biases).
    pub l1: f64,
    /// Weight of the L2 penalty on the layer weights (not the biases).
    pub l2: f64,
    pub seed: u64,
    /// Stop after this many epochs without a lower validation loss and keep the best epoch's
    /// weights; `None` runs every epoch and keeps the last.
    #[serde(default)]
    pub patience: Option<usize>,
    #[serde(default)]
    pub lr_schedule: LrSchedule,
}

/// How the learning rate changes from epoch to epoch (it is constant within an epoch).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LrSchedule {
    /// The base rate throughout.
    #[default]
    Constant,
    /// Cosine decay from the base rate towards zero over the configured epochs.
    Cosine,
    /// The base rate times `factor` after every `every` epochs.
    Step { every: usize, factor: f64 },
}

impl LrSchedule {
    /// The rate of 1-based `epoch` out of `epochs`.
    pub fn rate(&self, base: f64, epoch: usize, epochs: usize) -> f64 {
        let done = epoch.saturating_sub(1);
        match *self {
            LrSchedule::Constant => base,
            LrSchedule::Cosine => {
                let progress = done as f64 / epochs.max(1) as f64;
                base * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
            LrSchedule::Step { every, factor } => {
                base * factor.powi((done / every.max(1)).min(i32::MAX as usize) as i32)
            }
        }
    }
}

impl std::fmt::Display for LrSchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LrSchedule::Constant => f.write_str("constant"),
            LrSchedule::Cosine => f.write_str("cosine"),
            LrSchedule::Step { every, factor } => write!(f, "step:{every}:{factor}"),
        }
    }
}

impl std::str::FromStr for LrSchedule {
    type Err = ScheduleError;

    /// `constant`, `cosine` or `step:EVERY:FACTOR` (e.g. `step:5:0.5` halves it every 5 epochs).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || {
            ScheduleError(format!(
                "unknown learning-rate schedule '{text}': use constant, cosine or step:EVERY:FACTOR (e.g. step:5:0.5)"
            ))
        };
        match text.split(':').collect::<Vec<_>>().as_slice() {
            ["constant"] => Ok(LrSchedule::Constant),
            ["cosine"] => Ok(LrSchedule::Cosine),
            ["step", every, factor] => {
                let every: usize = every.parse().map_err(|_| bad())?;
                let factor: f64 = factor.parse().map_err(|_| bad())?;
                if every == 0 || !(factor.is_finite() && factor > 0.0 && factor <= 1.0) {
                    return Err(ScheduleError(format!(
                        "learning-rate schedule '{text}': EVERY must be at least 1 and FACTOR in (0, 1]"
                    )));
                }
                Ok(LrSchedule::Step { every, factor })
            }
            _ => Err(bad()),
        }
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            hidden: vec![512],
            epochs: 10,
            batch_size: 32,
            learning_rate: 1e-3,
            l1: 0.0,
            l2: 0.0,
            seed: 42,
            patience: None,
            lr_schedule: LrSchedule::Constant,
        }
    }
}

/// What one epoch achieved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochSummary {
    /// 1-based.
    pub epoch: usize,
    /// The learning rate the epoch ran with.
    #[serde(default)]
    pub learning_rate: f64,
    /// Mean loss over the epoch's batches (without the L1/L2 penalty): cross-entropy for a
    /// classifier, mean squared error of the standardised targets for a regressor.
    pub train_loss: f32,
    /// Share of training rows classified correctly while the epoch ran (as Keras reports it);
    /// none for a regressor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_accuracy: Option<f32>,
    pub validation_loss: f32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_accuracy: Option<f32>,
}
