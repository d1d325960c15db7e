//! The classifier and its training: the hyperparameters, the trained model's plain weights and
//! what each epoch achieved; the candle training loop itself is in `fit` (feature `train`).

#[cfg(feature = "train")]
mod adam;
#[cfg(feature = "train")]
mod first_layer;
#[cfg(feature = "train")]
mod fit;

#[cfg(feature = "train")]
pub use fit::train;
use serde::{Deserialize, Serialize};

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
    type Err = TrainError;

    /// `constant`, `cosine` or `step:EVERY:FACTOR` (e.g. `step:5:0.5` halves it every 5 epochs).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || {
            TrainError::Config(format!(
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
                    return Err(TrainError::Config(format!(
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

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("invalid hyperparameter: {0}")]
    Config(String),
    #[error("training diverged in epoch {epoch}: the loss is {loss}; lower --learning-rate or the penalties")]
    Diverged { epoch: usize, loss: f32 },
    #[cfg(feature = "train")]
    #[error("tensor computation failed: {0}")]
    Tensor(#[from] candle_core::Error),
}

/// Per-feature standardisation fitted on the training rows: `x' = (x - mean) / scale`.
#[derive(Debug, Clone, PartialEq)]
pub struct Standardizer {
    pub mean: Vec<f32>,
    /// The standard deviation, or 1 where a feature is constant.
    pub scale: Vec<f32>,
}

impl Standardizer {
    /// Fits mean and standard deviation of each column of row-major `x`.
    pub fn fit(x: &[f32], n_features: usize) -> Self {
        let rows = (x.len() / n_features.max(1)).max(1) as f64;
        let mut mean = vec![0f64; n_features];
        for row in x.chunks_exact(n_features) {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += *v as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= rows);
        let mut var = vec![0f64; n_features];
        for row in x.chunks_exact(n_features) {
            for ((s, v), m) in var.iter_mut().zip(row).zip(&mean) {
                *s += (*v as f64 - m).powi(2);
            }
        }
        let scale = var
            .iter()
            .map(|s| {
                let sd = (s / rows).sqrt() as f32;
                if sd > 1e-6 {
                    sd
                } else {
                    1.0
                }
            })
            .collect();
        Standardizer {
            mean: mean.into_iter().map(|m| m as f32).collect(),
            scale,
        }
    }

    /// Standardises row-major `x`, with the same f32 operations as the exported graph (Sub, Div).
    pub fn apply(&self, x: &[f32]) -> Vec<f32> {
        let f = self.mean.len();
        let mut out = Vec::with_capacity(x.len());
        for row in x.chunks_exact(f) {
            for ((v, m), s) in row.iter().zip(&self.mean).zip(&self.scale) {
                out.push((v - m) / s);
            }
        }
        out
    }
}

/// One fully connected layer: `y = x · weight + bias`, `weight` row-major `[inputs, outputs]`.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseLayer {
    pub inputs: usize,
    pub outputs: usize,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

/// What one epoch achieved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochSummary {
    /// 1-based.
    pub epoch: usize,
    /// The learning rate the epoch ran with.
    #[serde(default)]
    pub learning_rate: f64,
    /// Mean cross-entropy over the epoch's batches (without the L1/L2 penalty).
    pub train_loss: f32,
    /// Share of training rows classified correctly while the epoch ran (as Keras reports it).
    #[serde(default)]
    pub train_accuracy: f32,
    pub validation_loss: f32,
    pub validation_accuracy: f32,
}

/// A trained classifier: standardisation, then the dense layers (ReLU between, softmax last).
#[derive(Debug, Clone)]
pub struct TrainedModel {
    pub standardizer: Standardizer,
    pub layers: Vec<DenseLayer>,
    /// Every epoch that ran, including those after the kept one.
    pub history: Vec<EpochSummary>,
    /// The epoch whose weights these are: the last one, or with early stopping the one with
    /// the lowest validation loss.
    pub kept_epoch: usize,
}

impl TrainedModel {
    pub fn n_features(&self) -> usize {
        self.standardizer.mean.len()
    }

    pub fn n_classes(&self) -> usize {
        self.layers.last().map(|l| l.outputs).unwrap_or(0)
    }
}

/// Receives progress while training runs (the CLI draws progress bars from it).
pub trait TrainingObserver {
    fn epoch_started(&mut self, _epoch: usize, _epochs: usize, _batches: usize) {}
    fn batch_finished(&mut self, _loss: f32) {}
    fn epoch_finished(&mut self, _summary: &EpochSummary) {}
}

/// An observer that ignores everything.
pub struct Silent;
impl TrainingObserver for Silent {}

/// Training and validation rows, row-major features plus class indices. The validation rows
/// give the per-epoch curves and drive early stopping; keep test rows out of both.
pub struct TrainingData<'a> {
    pub train_x: &'a [f32],
    pub train_y: &'a [u32],
    pub validation_x: &'a [f32],
    pub validation_y: &'a [u32],
    pub n_features: usize,
    pub n_classes: usize,
}
