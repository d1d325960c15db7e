//! The training loop: an MLP (ReLU hidden layers) fitted with candle's autodiff and Adam, on
//! categorical cross-entropy (softmax classifier) or mean squared error of standardised targets
//! (linear regressor), with optional L1/L2 penalties, a learning-rate schedule and early
//! stopping on the validation loss.

use candle_core::{DType, Device, Tensor, Var, D};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::adam::Adam;
use super::first_layer::InputProduct;
use super::{
    DenseLayer, EpochSummary, Standardizer, Targets, Task, TrainConfig, TrainError, TrainedModel,
    TrainingData, TrainingObserver,
};

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
        if self.patience == Some(0) {
            return bad("--patience must be at least 1 (leave it out to run every epoch)");
        }
        Ok(())
    }
}

/// The targets as the loop uses them: per-batch target tensors, the loss and, for a
/// classifier, the count of correct rows.
enum Objective<'a> {
    Classes {
        train: &'a [u32],
        validation: Tensor,
    },
    Values {
        /// Standardised training targets, row-major.
        train: Vec<f32>,
        width: usize,
        /// Standardised validation targets `[rows, width]`.
        validation: Tensor,
        /// The training targets' mean and scale, folded into the last layer at the end.
        scaler: Standardizer,
    },
}

impl<'a> Objective<'a> {
    fn new(targets: &Targets<'a>, device: &Device) -> Result<Self, TrainError> {
        Ok(match *targets {
            Targets::Classes {
                train, validation, ..
            } => Objective::Classes {
                train,
                validation: Tensor::from_slice(validation, validation.len(), device)?,
            },
            Targets::Values {
                train,
                validation,
                n_targets,
            } => {
                let scaler = Standardizer::fit(train, n_targets);
                let rows = validation.len() / n_targets.max(1);
                Objective::Values {
                    train: scaler.apply(train),
                    width: n_targets,
                    validation: Tensor::from_vec(
                        scaler.apply(validation),
                        (rows, n_targets),
                        device,
                    )?,
                    scaler,
                }
            }
        })
    }

    /// The targets of the training rows `chunk`.
    fn batch(&self, chunk: &[usize], device: &Device) -> Result<Tensor, candle_core::Error> {
        match self {
            Objective::Classes { train, .. } => {
                let y: Vec<u32> = chunk.iter().map(|&i| train[i]).collect();
                Tensor::from_vec(y, chunk.len(), device)
            }
            Objective::Values { train, width, .. } => {
                let mut y = Vec::with_capacity(chunk.len() * width);
                for &i in chunk {
                    y.extend_from_slice(&train[i * width..(i + 1) * width]);
                }
                Tensor::from_vec(y, (chunk.len(), *width), device)
            }
        }
    }

    fn validation(&self) -> &Tensor {
        match self {
            Objective::Classes { validation, .. } | Objective::Values { validation, .. } => {
                validation
            }
        }
    }

    /// Cross-entropy of the logits, or mean squared error of the outputs.
    fn loss(&self, out: &Tensor, y: &Tensor) -> Result<Tensor, candle_core::Error> {
        match self {
            Objective::Classes { .. } => candle_nn::loss::cross_entropy(out, y),
            Objective::Values { .. } => candle_nn::loss::mse(out, y),
        }
    }

    /// Rows whose largest logit is the true class; `None` for a regressor.
    fn correct(&self, out: &Tensor, y: &Tensor) -> Result<Option<f32>, candle_core::Error> {
        match self {
            Objective::Classes { .. } => correct(out, y).map(Some),
            Objective::Values { .. } => Ok(None),
        }
    }
}

/// Trains a classifier or a regressor, as `data.targets` says; deterministic for a given config
/// (seed included) and data.
pub fn train(
    data: &TrainingData,
    config: &TrainConfig,
    observer: &mut dyn TrainingObserver,
) -> Result<TrainedModel, TrainError> {
    config.validate()?;
    crate::inference::keep_freed_buffers();
    let device = Device::Cpu;
    let f = data.n_features;
    let standardizer = Standardizer::fit(data.train_x, f);
    let train_x = standardizer.apply(data.train_x);
    let validation_rows = data.validation_x.len() / f.max(1);
    let validation_x = Tensor::from_vec(
        standardizer.apply(data.validation_x),
        (validation_rows, f),
        &device,
    )?;
    let objective = Objective::new(&data.targets, &device)?;

    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut widths = vec![f];
    widths.extend_from_slice(&config.hidden);
    widths.push(data.targets.n_outputs());
    let params = widths
        .windows(2)
        .map(|w| init_layer(w[0], w[1], &mut rng, &device))
        .collect::<Result<Vec<_>, _>>()?;
    // the L1/L2 penalties apply to the weight matrices, not the biases; the optimiser adds
    // their gradient to each weight's (the penalty is never part of the reported loss)
    let mut optimiser = Adam::new(
        params
            .iter()
            .flat_map(|(w, b)| [(w.clone(), config.l1, config.l2), (b.clone(), 0.0, 0.0)])
            .collect(),
        config.learning_rate,
    );
    let rows = data.train_x.len() / f.max(1);
    let mut order: Vec<usize> = (0..rows).collect();
    let batches = rows.div_ceil(config.batch_size);
    let mut history = Vec::with_capacity(config.epochs);
    let mut batch_x = Vec::with_capacity(config.batch_size * f);
    // (epoch, validation loss, weights) of the best epoch so far, when stopping early
    let mut best: Option<(usize, f32, Vec<DenseLayer>)> = None;
    for epoch in 1..=config.epochs {
        observer.epoch_started(epoch, config.epochs, batches);
        let learning_rate = config
            .lr_schedule
            .rate(config.learning_rate, epoch, config.epochs);
        optimiser.set_learning_rate(learning_rate);
        order.shuffle(&mut rng);
        let mut loss_sum = 0f64;
        let mut correct_sum: Option<f64> = None;
        for chunk in order.chunks(config.batch_size) {
            batch_x.clear();
            for &i in chunk {
                batch_x.extend_from_slice(&train_x[i * f..(i + 1) * f]);
            }
            let x = Tensor::from_slice(&batch_x, (chunk.len(), f), &device)?;
            let y = objective.batch(chunk, &device)?;
            let out = forward(&x, &params)?;
            if let Some(c) = objective.correct(&out, &y)? {
                *correct_sum.get_or_insert(0.0) += c as f64;
            }
            let loss = objective.loss(&out, &y)?;
            let data_loss = loss.to_scalar::<f32>()?;
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
        let out = forward(&validation_x, &params)?;
        let validation_loss = objective
            .loss(&out, objective.validation())?
            .to_scalar::<f32>()?;
        let summary = EpochSummary {
            epoch,
            learning_rate,
            train_loss: (loss_sum / rows as f64) as f32,
            train_accuracy: correct_sum.map(|c| (c / rows as f64) as f32),
            validation_loss,
            validation_accuracy: objective
                .correct(&out, objective.validation())?
                .map(|c| c / validation_rows.max(1) as f32),
        };
        observer.epoch_finished(&summary);
        history.push(summary);
        if let Some(patience) = config.patience {
            match &best {
                Some((_, best_loss, _)) if validation_loss >= *best_loss => {}
                _ => best = Some((epoch, validation_loss, snapshot(&params)?)),
            }
            if best.as_ref().is_some_and(|(e, _, _)| epoch - e >= patience) {
                break;
            }
        }
    }

    let (kept_epoch, mut layers) = match best {
        Some((epoch, _, layers)) => (epoch, layers),
        None => (history.len(), snapshot(&params)?),
    };
    if let (Objective::Values { scaler, .. }, Some(last)) = (&objective, layers.last_mut()) {
        unscale_outputs(last, scaler);
    }
    Ok(TrainedModel {
        task: data.targets.task(),
        standardizer,
        layers,
        history,
        kept_epoch,
    })
}

/// Folds the target standardisation into the last layer, so that it answers in the targets'
/// units: with `y = z · scale + mean`, column `j` of the weights is multiplied by `scale[j]`
/// and its bias becomes `bias[j] · scale[j] + mean[j]`, in f64 and rounded once.
fn unscale_outputs(layer: &mut DenseLayer, scaler: &Standardizer) {
    let outputs = layer.outputs;
    for row in layer.weight.chunks_exact_mut(outputs) {
        for (w, &scale) in row.iter_mut().zip(&scaler.scale) {
            *w = (*w as f64 * scale as f64) as f32;
        }
    }
    for ((b, &scale), &mean) in layer.bias.iter_mut().zip(&scaler.scale).zip(&scaler.mean) {
        *b = (*b as f64 * scale as f64 + mean as f64) as f32;
    }
}

/// How many rows of `logits` have their largest value at the true class in `y`.
fn correct(logits: &Tensor, y: &Tensor) -> Result<f32, candle_core::Error> {
    logits
        .argmax(D::Minus1)?
        .eq(y)?
        .to_dtype(DType::F32)?
        .sum_all()?
        .to_scalar::<f32>()
}

/// A copy of the current weights.
fn snapshot(params: &[(Var, Var)]) -> Result<Vec<DenseLayer>, candle_core::Error> {
    params
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
        .collect()
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
        // the first product does not back-propagate into the data rows
        h = if i == 0 {
            h.apply_op2(w.as_tensor(), InputProduct)?
        } else {
            h.matmul(w.as_tensor())?
        };
        h = h.broadcast_add(b.as_tensor())?;
        if i + 1 < params.len() {
            h = h.relu()?;
        }
    }
    Ok(h)
}

impl TrainedModel {
    /// For raw (unstandardised) features, row-major: a classifier's class probabilities
    /// `[rows, classes]` or a regressor's values `[rows, targets]` in the targets' units,
    /// computed with candle as in training: the reference the ONNX export must match.
    pub fn predict(&self, x: &[f32]) -> Result<Vec<f32>, TrainError> {
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
        let out = forward(&x, &params)?;
        let out = match self.task {
            Task::Regression => out,
            _ => candle_nn::ops::softmax_last_dim(&out)?,
        };
        Ok(out.flatten_all()?.to_vec1()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::training::{LrSchedule, Silent};

    /// Classification targets over the given rows.
    fn classes<'a>(train: &'a [u32], validation: &'a [u32]) -> Targets<'a> {
        Targets::Classes {
            train,
            validation,
            n_classes: 2,
        }
    }

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
            validation_x: &x[..20],
            n_features: 1,
            targets: classes(&y, &y[..20]),
        };
        let config = TrainConfig {
            hidden: vec![4],
            epochs: 5,
            learning_rate: 0.05,
            ..Default::default()
        };
        let model = train(&data, &config, &mut Silent).unwrap();
        assert_eq!(model.history.len(), 5);
        assert_eq!(model.history[4].validation_accuracy, Some(1.0));
        let p = model.predict(&[-2.0, 2.0]).unwrap();
        assert!(p[0] > 0.5 && p[3] > 0.5, "{p:?}");
    }

    /// Two noisy overlapping classes: the validation loss stops improving after a few epochs.
    fn noisy_problem() -> (Vec<f32>, Vec<u32>) {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let y: Vec<u32> = (0..240).map(|i| (i % 2) as u32).collect();
        let x = y
            .iter()
            .flat_map(|&c| {
                let centre = c as f32 * 0.6;
                [
                    centre + rng.random_range(-1.0f32..1.0),
                    rng.random_range(-1.0f32..1.0),
                ]
            })
            .collect();
        (x, y)
    }

    #[test]
    fn early_stopping_keeps_the_best_epoch_and_its_weights() {
        let (x, y) = noisy_problem();
        let data = TrainingData {
            train_x: &x[..400],
            validation_x: &x[400..],
            n_features: 2,
            targets: classes(&y[..200], &y[200..]),
        };
        let config = TrainConfig {
            hidden: vec![64],
            epochs: 200,
            batch_size: 8,
            learning_rate: 0.01,
            patience: Some(3),
            ..Default::default()
        };
        let stopped = train(&data, &config, &mut Silent).unwrap();
        let ran = stopped.history.len();
        assert!(ran < 200, "never stopped");
        assert_eq!(ran - stopped.kept_epoch, 3);
        let best = stopped
            .history
            .iter()
            .min_by(|a, b| a.validation_loss.total_cmp(&b.validation_loss))
            .unwrap();
        assert_eq!(best.epoch, stopped.kept_epoch);
        // the same run cut at the kept epoch has the same weights: the best ones were restored
        let cut = train(
            &data,
            &TrainConfig {
                epochs: stopped.kept_epoch,
                patience: None,
                ..config
            },
            &mut Silent,
        )
        .unwrap();
        assert_eq!(cut.kept_epoch, stopped.kept_epoch);
        assert_eq!(cut.layers, stopped.layers);
    }

    #[test]
    fn schedules_set_each_epochs_rate_and_parse_from_the_command_line() {
        let cosine: LrSchedule = "cosine".parse().unwrap();
        assert_eq!(cosine.rate(0.1, 1, 10), 0.1);
        assert!((cosine.rate(0.1, 6, 10) - 0.05).abs() < 1e-12);
        assert!(cosine.rate(0.1, 10, 10) < 0.003);
        let step: LrSchedule = "step:2:0.5".parse().unwrap();
        let rates: Vec<f64> = (1..=5).map(|e| step.rate(1.0, e, 5)).collect();
        assert_eq!(rates, [1.0, 1.0, 0.5, 0.5, 0.25]);
        assert_eq!(step.to_string(), "step:2:0.5");
        assert_eq!(LrSchedule::Constant.rate(0.1, 9, 10), 0.1);
        for bad in ["linear", "step:0:0.5", "step:2:1.5", "step:2", "cosine:1"] {
            let err = bad.parse::<LrSchedule>().unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }

        let (x, y) = noisy_problem();
        let data = TrainingData {
            train_x: &x,
            validation_x: &x,
            n_features: 2,
            targets: classes(&y, &y),
        };
        let config = TrainConfig {
            hidden: vec![4],
            epochs: 4,
            lr_schedule: step,
            ..Default::default()
        };
        let model = train(&data, &config, &mut Silent).unwrap();
        let used: Vec<f64> = model.history.iter().map(|e| e.learning_rate).collect();
        assert_eq!(used, [1e-3, 1e-3, 5e-4, 5e-4]);
    }

    #[test]
    fn a_regressor_learns_a_linear_map_and_answers_in_the_targets_units() {
        // y = 500 + 40 a - 25 b and a second target a thousand times smaller
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let x: Vec<f32> = (0..600).map(|_| rng.random_range(-2.0f32..2.0)).collect();
        let y: Vec<f32> = x
            .chunks(2)
            .flat_map(|r| {
                let v = 500.0 + 40.0 * r[0] - 25.0 * r[1];
                [v, v / 1000.0]
            })
            .collect();
        let data = TrainingData {
            train_x: &x[..500],
            validation_x: &x[500..],
            n_features: 2,
            targets: Targets::Values {
                train: &y[..500],
                validation: &y[500..],
                n_targets: 2,
            },
        };
        let config = TrainConfig {
            hidden: vec![16],
            epochs: 60,
            batch_size: 16,
            learning_rate: 0.01,
            ..Default::default()
        };
        let model = train(&data, &config, &mut Silent).unwrap();
        assert_eq!(model.task, Task::Regression);
        assert!(model.history.iter().all(|e| e.train_accuracy.is_none()));
        let first = model.history[0].validation_loss;
        let last = model.history.last().unwrap().validation_loss;
        // the loss is the MSE of standardised targets: near 1 untrained, near 0 fitted
        assert!(last < 0.01 && last < first / 10.0, "{first} -> {last}");
        let p = model.predict(&[1.0, -1.0, 0.0, 0.0]).unwrap();
        assert_eq!(p.len(), 4);
        for (got, want) in p.iter().zip([565.0, 0.565, 500.0, 0.5]) {
            assert!((got - want).abs() < 0.02 * want, "{p:?}");
        }
    }

    #[test]
    fn rejects_bad_hyperparameters() {
        let config = TrainConfig {
            epochs: 0,
            ..Default::default()
        };
        let data = TrainingData {
            train_x: &[0.0],
            validation_x: &[0.0],
            n_features: 1,
            targets: classes(&[0], &[0]),
        };
        let err = train(&data, &config, &mut Silent).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid hyperparameter: --epochs must be at least 1"
        );
    }
}
