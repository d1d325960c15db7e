//! The classifier and its training: an MLP (ReLU hidden layers, softmax output) fitted with
//! candle's autodiff and Adam on categorical cross-entropy, with optional L1/L2 penalties.

use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
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
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("invalid hyperparameter: {0}")]
    Config(String),
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

/// What one epoch achieved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochSummary {
    /// 1-based.
    pub epoch: usize,
    pub train_loss: f32,
    pub validation_loss: f32,
    pub validation_accuracy: f32,
}

/// A trained classifier: standardisation, then the dense layers (ReLU between, softmax last).
#[derive(Debug, Clone)]
pub struct TrainedModel {
    pub standardizer: Standardizer,
    pub layers: Vec<DenseLayer>,
    pub history: Vec<EpochSummary>,
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

/// Training and held-out rows, row-major features plus class indices.
pub struct TrainingData<'a> {
    pub train_x: &'a [f32],
    pub train_y: &'a [u32],
    pub held_out_x: &'a [f32],
    pub held_out_y: &'a [u32],
    pub n_features: usize,
    pub n_classes: usize,
}

impl TrainConfig {
    fn validate(&self) -> Result<(), TrainError> {
        let bad = |m: &str| Err(TrainError::Config(m.to_string()));
        if self.epochs == 0 {
            return bad("--epochs must be at least 1");
        }
        if self.batch_size == 0 {
            return bad("--batch-size must be at least 1");
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad("--learning-rate must be a positive number");
        }
        if !(self.l1.is_finite() && self.l1 >= 0.0 && self.l2.is_finite() && self.l2 >= 0.0) {
            return bad("--l1 and --l2 must be zero or positive");
        }
        if self.hidden.contains(&0) {
            return bad("every --hidden layer needs at least one unit");
        }
        Ok(())
    }
}

/// Trains a classifier; deterministic for a given config (seed included) and data.
pub fn train(
    data: &TrainingData,
    config: &TrainConfig,
    observer: &mut dyn TrainingObserver,
) -> Result<TrainedModel, TrainError> {
    config.validate()?;
    let device = Device::Cpu;
    let f = data.n_features;
    let standardizer = Standardizer::fit(data.train_x, f);
    let train_x = standardizer.apply(data.train_x);
    let held_out_x = Tensor::from_vec(
        standardizer.apply(data.held_out_x),
        (data.held_out_y.len(), f),
        &device,
    )?;
    let held_out_y = Tensor::from_slice(data.held_out_y, data.held_out_y.len(), &device)?;

    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut widths = vec![f];
    widths.extend_from_slice(&config.hidden);
    widths.push(data.n_classes);
    let params = widths
        .windows(2)
        .map(|w| init_layer(w[0], w[1], &mut rng, &device))
        .collect::<Result<Vec<_>, _>>()?;
    let vars = params
        .iter()
        .flat_map(|(w, b)| [w.clone(), b.clone()])
        .collect();
    let mut optimiser = AdamW::new(
        vars,
        ParamsAdamW {
            lr: config.learning_rate,
            weight_decay: 0.0,
            ..Default::default()
        },
    )?;

    let rows = data.train_y.len();
    let mut order: Vec<usize> = (0..rows).collect();
    let batches = rows.div_ceil(config.batch_size);
    let mut history = Vec::with_capacity(config.epochs);
    let mut batch_x = Vec::with_capacity(config.batch_size * f);
    let mut batch_y = Vec::with_capacity(config.batch_size);
    for epoch in 1..=config.epochs {
        observer.epoch_started(epoch, config.epochs, batches);
        order.shuffle(&mut rng);
        let mut loss_sum = 0f64;
        for chunk in order.chunks(config.batch_size) {
            batch_x.clear();
            batch_y.clear();
            for &i in chunk {
                batch_x.extend_from_slice(&train_x[i * f..(i + 1) * f]);
                batch_y.push(data.train_y[i]);
            }
            let x = Tensor::from_slice(&batch_x, (chunk.len(), f), &device)?;
            let y = Tensor::from_slice(&batch_y, chunk.len(), &device)?;
            let logits = forward(&x, &params)?;
            let mut loss = candle_nn::loss::cross_entropy(&logits, &y)?;
            let data_loss = loss.to_scalar::<f32>()?;
            if config.l1 > 0.0 || config.l2 > 0.0 {
                loss = (loss + penalty(&params, config)?)?;
            }
            optimiser.backward_step(&loss)?;
            if !data_loss.is_finite() {
                return Err(TrainError::Diverged {
                    epoch,
                    loss: data_loss,
                });
            }
            loss_sum += data_loss as f64 * chunk.len() as f64;
            observer.batch_finished(data_loss);
        }
        let logits = forward(&held_out_x, &params)?;
        let validation_loss =
            candle_nn::loss::cross_entropy(&logits, &held_out_y)?.to_scalar::<f32>()?;
        let predicted = logits.argmax(D::Minus1)?;
        let correct = predicted
            .eq(&held_out_y)?
            .to_dtype(DType::F32)?
            .sum_all()?
            .to_scalar::<f32>()?;
        let summary = EpochSummary {
            epoch,
            train_loss: (loss_sum / rows as f64) as f32,
            validation_loss,
            validation_accuracy: correct / data.held_out_y.len() as f32,
        };
        observer.epoch_finished(&summary);
        history.push(summary);
    }

    let layers = params
        .iter()
        .map(|(w, b)| {
            let (inputs, outputs) = w.dims2()?;
            Ok(DenseLayer {
                inputs,
                outputs,
                weight: w.flatten_all()?.to_vec1()?,
                bias: b.to_vec1()?,
            })
        })
        .collect::<Result<Vec<_>, candle_core::Error>>()?;
    Ok(TrainedModel {
        standardizer,
        layers,
        history,
    })
}

/// Glorot-uniform weights and zero biases (Keras' defaults), drawn from the seeded generator
/// rather than candle's unseedable CPU generator so that a seed fixes the model bytes.
fn init_layer(
    inputs: usize,
    outputs: usize,
    rng: &mut ChaCha8Rng,
    device: &Device,
) -> Result<(Var, Var), candle_core::Error> {
    let limit = (6.0 / (inputs + outputs) as f64).sqrt() as f32;
    let weight: Vec<f32> = (0..inputs * outputs)
        .map(|_| rng.random_range(-limit..limit))
        .collect();
    let w = Var::from_vec(weight, (inputs, outputs), device)?;
    let b = Var::zeros(outputs, DType::F32, device)?;
    Ok((w, b))
}

/// Logits of the network for standardised `x`.
fn forward(x: &Tensor, params: &[(Var, Var)]) -> Result<Tensor, candle_core::Error> {
    let mut h = x.clone();
    for (i, (w, b)) in params.iter().enumerate() {
        h = h.matmul(w.as_tensor())?.broadcast_add(b.as_tensor())?;
        if i + 1 < params.len() {
            h = h.relu()?;
        }
    }
    Ok(h)
}

/// `l1 · Σ|W| + l2 · Σ W²` over the weight matrices.
fn penalty(params: &[(Var, Var)], config: &TrainConfig) -> Result<Tensor, candle_core::Error> {
    let mut total = Tensor::zeros((), DType::F32, &Device::Cpu)?;
    for (w, _) in params {
        if config.l1 > 0.0 {
            total = (total + (w.as_tensor().abs()?.sum_all()? * config.l1)?)?;
        }
        if config.l2 > 0.0 {
            total = (total + (w.as_tensor().sqr()?.sum_all()? * config.l2)?)?;
        }
    }
    Ok(total)
}

impl TrainedModel {
    pub fn n_features(&self) -> usize {
        self.standardizer.mean.len()
    }

    pub fn n_classes(&self) -> usize {
        self.layers.last().map(|l| l.outputs).unwrap_or(0)
    }

    /// Class probabilities `[rows, classes]` row-major for raw (unstandardised) features,
    /// computed with candle exactly as in training: the reference the ONNX export must match.
    pub fn predict_proba(&self, x: &[f32]) -> Result<Vec<f32>, TrainError> {
        let device = Device::Cpu;
        let rows = x.len() / self.n_features().max(1);
        let x = Tensor::from_vec(
            self.standardizer.apply(x),
            (rows, self.n_features()),
            &device,
        )?;
        let params = self
            .layers
            .iter()
            .map(|l| {
                Ok((
                    Var::from_slice(&l.weight, (l.inputs, l.outputs), &device)?,
                    Var::from_slice(&l.bias, l.outputs, &device)?,
                ))
            })
            .collect::<Result<Vec<_>, candle_core::Error>>()?;
        let probabilities = candle_nn::ops::softmax_last_dim(&forward(&x, &params)?)?;
        Ok(probabilities.flatten_all()?.to_vec1()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standardizer_centres_and_scales_and_keeps_constant_columns() {
        let s = Standardizer::fit(&[1.0, 5.0, 3.0, 5.0], 2);
        assert_eq!(s.mean, [2.0, 5.0]);
        assert_eq!(s.scale, [1.0, 1.0]);
        assert_eq!(s.apply(&[3.0, 5.0]), [1.0, 0.0]);
    }

    #[test]
    fn learns_a_separable_problem() {
        let x: Vec<f32> = (0..200).map(|i| (i % 2) as f32 * 4.0 - 2.0).collect();
        let y: Vec<u32> = x.iter().map(|v| (*v > 0.0) as u32).collect();
        let data = TrainingData {
            train_x: &x,
            train_y: &y,
            held_out_x: &x[..20],
            held_out_y: &y[..20],
            n_features: 1,
            n_classes: 2,
        };
        let config = TrainConfig {
            hidden: vec![4],
            epochs: 5,
            learning_rate: 0.05,
            ..Default::default()
        };
        let model = train(&data, &config, &mut Silent).unwrap();
        assert_eq!(model.history.len(), 5);
        assert_eq!(model.history[4].validation_accuracy, 1.0);
        let p = model.predict_proba(&[-2.0, 2.0]).unwrap();
        assert!(p[0] > 0.5 && p[3] > 0.5, "{p:?}");
    }

    #[test]
    fn rejects_bad_hyperparameters() {
        let config = TrainConfig {
            epochs: 0,
            ..Default::default()
        };
        let data = TrainingData {
            train_x: &[0.0],
            train_y: &[0],
            held_out_x: &[0.0],
            held_out_y: &[0],
            n_features: 1,
            n_classes: 2,
        };
        let err = train(&data, &config, &mut Silent).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid hyperparameter: --epochs must be at least 1"
        );
    }
}
