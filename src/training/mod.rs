//! The network and its training: the trained model's plain weights (a classifier or a
//! regressor), the observer of a run, and the candle training loop (`fit`). The hyperparameters and the per-epoch summary are
//! records of the manifest ([`crate::manifest`]), re-exported here.

mod adam;
mod first_layer;
mod fit;

pub use crate::contract::Task;
pub use crate::manifest::{EpochSummary, LrSchedule, ScheduleError, TrainConfig};
pub use fit::train;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("invalid hyperparameter: {0}")]
    Config(String),
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    #[error("training diverged in epoch {epoch}: the loss is {loss}; lower --learning-rate or the penalties")]
    Diverged { epoch: usize, loss: f32 },
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

/// A trained network: standardisation, then the dense layers (ReLU between), then softmax for a
/// classifier or nothing for a regressor, whose last layer answers in the targets' own units.
#[derive(Debug, Clone)]
pub struct TrainedModel {
    /// [`Task::Classifier`] or [`Task::Regression`].
    pub task: Task,
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

    /// Classes of a classifier, targets of a regressor: the width of the last layer.
    pub fn n_outputs(&self) -> usize {
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

/// Training and validation rows: row-major features and their targets. The validation rows
/// give the per-epoch curves and drive early stopping; keep test rows out of both.
pub struct TrainingData<'a> {
    pub train_x: &'a [f32],
    pub validation_x: &'a [f32],
    pub n_features: usize,
    pub targets: Targets<'a>,
}

/// What the network learns to answer, row by row.
pub enum Targets<'a> {
    /// Class indices: a softmax classifier trained on categorical cross-entropy.
    Classes {
        train: &'a [u32],
        validation: &'a [u32],
        n_classes: usize,
    },
    /// Row-major values of `n_targets` targets per row: a linear regressor trained on mean
    /// squared error of the standardised targets.
    Values {
        train: &'a [f32],
        validation: &'a [f32],
        n_targets: usize,
    },
}

impl Targets<'_> {
    pub fn task(&self) -> Task {
        match self {
            Targets::Classes { .. } => Task::Classifier,
            Targets::Values { .. } => Task::Regression,
        }
    }

    /// The width of the network's output.
    pub fn n_outputs(&self) -> usize {
        match *self {
            Targets::Classes { n_classes, .. } => n_classes,
            Targets::Values { n_targets, .. } => n_targets,
        }
    }
}

/// A small model trained in a few milliseconds, for the unit tests of what consumes trained
/// models (export, parity check).
#[cfg(test)]
pub(crate) fn tiny_model() -> TrainedModel {
    let x: Vec<f32> = (0..120).map(|i| ((i * 7) % 11) as f32).collect();
    let y: Vec<u32> = (0..60).map(|i| (x[i * 2] > 5.0) as u32).collect();
    let data = TrainingData {
        train_x: &x,
        validation_x: &x[..20],
        n_features: 2,
        targets: Targets::Classes {
            train: &y,
            validation: &y[..10],
            n_classes: 2,
        },
    };
    let config = TrainConfig {
        hidden: vec![8, 4],
        epochs: 2,
        ..Default::default()
    };
    train(&data, &config, &mut Silent).expect("the tiny model trains")
}

/// A small regressor with two targets in units far from 1 (so that the folded target scale
/// matters), for the unit tests of export and parity.
#[cfg(test)]
pub(crate) fn tiny_regressor() -> TrainedModel {
    let x: Vec<f32> = (0..120).map(|i| ((i * 7) % 11) as f32).collect();
    let y: Vec<f32> = x
        .chunks(2)
        .flat_map(|r| [300.0 + 20.0 * r[0] - 5.0 * r[1], 0.01 * r[1]])
        .collect();
    let data = TrainingData {
        train_x: &x,
        validation_x: &x[..20],
        n_features: 2,
        targets: Targets::Values {
            train: &y,
            validation: &y[..20],
            n_targets: 2,
        },
    };
    let config = TrainConfig {
        hidden: vec![8],
        epochs: 3,
        ..Default::default()
    };
    train(&data, &config, &mut Silent).expect("the tiny regressor trains")
}
