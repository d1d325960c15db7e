//! Shapley attributions of one prediction against a background, through forward passes only
//! (tract has no gradients): exact interventional Shapley values by enumerating every
//! coalition when the features are few, KernelSHAP beyond. No I/O: the model is a function
//! from rows to outputs, so the same code serves every route and builds for wasm32.

mod exact;
mod kernel;
mod solve;

/// The most features the exact method enumerates (2^14 coalitions, each a pass over the
/// background).
pub const MAX_EXACT_FEATURES: usize = 14;
/// The most background rows a version may carry: every coalition costs one model row each.
pub const MAX_BACKGROUND_ROWS: usize = 100;
/// The most coalitions KernelSHAP may sample.
pub const MAX_SAMPLES: usize = 100_000;

/// Why an explanation cannot be computed; each message says what to change.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExplainError {
    /// The background holds no rows.
    #[error("the background is empty: store a few dozen representative rows beside the model")]
    EmptyBackground,
    /// The background has more rows than an explanation may cost.
    #[error("the background has {rows} rows; at most {MAX_BACKGROUND_ROWS} (sample or cluster the training rows)")]
    BackgroundTooLarge {
        /// Its rows.
        rows: usize,
    },
    /// The background's values do not form rows of the model's width.
    #[error("the background holds {values} values, not rows of {features} features")]
    BackgroundShape {
        /// Values given.
        values: usize,
        /// The model's features.
        features: usize,
    },
    /// A row to explain has the wrong width.
    #[error("the row has {got} features; the model takes {expected}")]
    FeatureCount {
        /// The model's features.
        expected: usize,
        /// Features sent.
        got: usize,
    },
    /// A NaN or infinite value in the row or the background.
    #[error("{0} holds a value that is not a finite number")]
    NotFinite(&'static str),
    /// Exact enumeration asked for too many features.
    #[error("exact Shapley values enumerate 2^{features} coalitions; at most {MAX_EXACT_FEATURES} features (use method \"kernel\")")]
    TooManyForExact {
        /// The model's features.
        features: usize,
    },
    /// A KernelSHAP sample budget out of range.
    #[error("samples must be between {min} and {MAX_SAMPLES}, got {got}")]
    Samples {
        /// Requested.
        got: usize,
        /// The least that determines the attributions of these features.
        min: usize,
    },
    /// The model failed or answered the wrong number of values.
    #[error("the model could not be evaluated: {0}")]
    Model(String),
}

/// How the attributions are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Every coalition enumerated: the exact interventional Shapley values.
    Exact,
    /// KernelSHAP: `samples` coalitions drawn (in complementary pairs) from the Shapley kernel
    /// with a seeded generator, solved by weighted least squares under the efficiency
    /// constraint.
    Kernel {
        /// Coalitions evaluated (besides the empty and the full one).
        samples: usize,
        /// The generator's seed.
        seed: u64,
    },
}

impl Method {
    /// Exact when the features are few enough, else KernelSHAP with `2 * features + 2048`
    /// samples (shap's `KernelExplainer` default) and seed 0.
    pub fn for_features(features: usize) -> Method {
        if features <= MAX_EXACT_FEATURES {
            Method::Exact
        } else {
            Method::Kernel {
                samples: (2 * features + 2048).min(MAX_SAMPLES),
                seed: 0,
            }
        }
    }

    /// The least sample budget KernelSHAP accepts for `features` features.
    pub fn min_samples(features: usize) -> usize {
        features.max(2)
    }
}

/// Rows against which absent features are filled in (interventional Shapley values).
#[derive(Debug, Clone, PartialEq)]
pub struct Background {
    rows: Vec<f32>,
    features: usize,
}

impl Background {
    /// Checked: at least one and at most [`MAX_BACKGROUND_ROWS`] whole rows of finite values.
    pub fn new(rows: Vec<f32>, features: usize) -> Result<Self, ExplainError> {
        if rows.is_empty() || features == 0 {
            return Err(ExplainError::EmptyBackground);
        }
        if !rows.len().is_multiple_of(features) {
            return Err(ExplainError::BackgroundShape {
                values: rows.len(),
                features,
            });
        }
        let count = rows.len() / features;
        if count > MAX_BACKGROUND_ROWS {
            return Err(ExplainError::BackgroundTooLarge { rows: count });
        }
        if rows.iter().any(|v| !v.is_finite()) {
            return Err(ExplainError::NotFinite("the background"));
        }
        Ok(Background { rows, features })
    }

    /// Features per row.
    pub fn features(&self) -> usize {
        self.features
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.rows.len() / self.features
    }

    /// Always false: a background has at least one row.
    pub fn is_empty(&self) -> bool {
        false
    }

    fn row(&self, i: usize) -> &[f32] {
        &self.rows[i * self.features..(i + 1) * self.features]
    }
}

/// The attributions of one row: for every feature and output, its share of
/// `prediction − base`.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    features: usize,
    outputs: usize,
    base: Vec<f64>,
    prediction: Vec<f64>,
    values: Vec<f64>,
    model_rows: usize,
}

impl Explanation {
    /// Features explained.
    pub fn features(&self) -> usize {
        self.features
    }

    /// Outputs (classes or regression targets) explained.
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// The expected output over the background, per output.
    pub fn base(&self) -> &[f64] {
        &self.base
    }

    /// The model's output for the row, per output.
    pub fn prediction(&self) -> &[f64] {
        &self.prediction
    }

    /// Attributions `[features][outputs]`, row-major.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The attribution of `feature` to `output`.
    pub fn value(&self, feature: usize, output: usize) -> f64 {
        self.values[feature * self.outputs + output]
    }

    /// Model rows evaluated to compute it.
    pub fn model_rows(&self) -> usize {
        self.model_rows
    }

    /// The largest gap, over outputs, between the attributions' sum and `prediction − base`.
    pub fn additivity_error(&self) -> f64 {
        (0..self.outputs)
            .map(|k| {
                let sum: f64 = (0..self.features).map(|i| self.value(i, k)).sum();
                (sum - (self.prediction[k] - self.base[k])).abs()
            })
            .fold(0.0, f64::max)
    }
}

/// A model as the methods see it: `rows` rows of features in, `rows × outputs` values out.
pub type Model<'a> = dyn FnMut(&[f32], usize) -> Result<Vec<f32>, String> + 'a;

/// The attributions of `row` with `method`, evaluating the model `chunk_rows` rows at a time.
pub fn explain(
    row: &[f32],
    background: &Background,
    method: Method,
    chunk_rows: usize,
    model: &mut Model<'_>,
) -> Result<Explanation, ExplainError> {
    let features = background.features();
    if row.len() != features {
        return Err(ExplainError::FeatureCount {
            expected: features,
            got: row.len(),
        });
    }
    if row.iter().any(|v| !v.is_finite()) {
        return Err(ExplainError::NotFinite("the row"));
    }
    let mut values = CoalitionValues::new(row, background, chunk_rows.max(1), model);
    match method {
        Method::Exact => {
            if features > MAX_EXACT_FEATURES {
                return Err(ExplainError::TooManyForExact { features });
            }
            exact::explain(&mut values)
        }
        Method::Kernel { samples, seed } => {
            let min = Method::min_samples(features);
            if !(min..=MAX_SAMPLES).contains(&samples) {
                return Err(ExplainError::Samples { got: samples, min });
            }
            kernel::explain(&mut values, samples, seed)
        }
    }
}

/// The value of coalitions: the model's mean output over the background with the
/// coalition's features taken from the row and the others from each background row.
struct CoalitionValues<'r, 'm> {
    row: &'r [f32],
    background: &'r Background,
    chunk_rows: usize,
    model: &'r mut Model<'m>,
    outputs: Option<usize>,
    model_rows: usize,
}

impl<'r, 'm> CoalitionValues<'r, 'm> {
    fn new(
        row: &'r [f32],
        background: &'r Background,
        chunk_rows: usize,
        model: &'r mut Model<'m>,
    ) -> Self {
        CoalitionValues {
            row,
            background,
            chunk_rows,
            model,
            outputs: None,
            model_rows: 0,
        }
    }

    fn features(&self) -> usize {
        self.background.features()
    }

    /// Mean outputs `[coalitions][outputs]` of `coalitions`, each a membership per feature.
    fn of(&mut self, coalitions: &[Vec<bool>]) -> Result<Vec<f64>, ExplainError> {
        let features = self.features();
        let per = self.background.len();
        let total = coalitions.len() * per;
        let mut sums: Vec<f64> = Vec::new();
        let mut batch: Vec<f32> = Vec::with_capacity(self.chunk_rows.min(total) * features);
        let mut start = 0;
        while start < total {
            let end = (start + self.chunk_rows).min(total);
            batch.clear();
            for r in start..end {
                let (c, b) = (r / per, r % per);
                let filler = self.background.row(b);
                batch.extend(
                    coalitions[c]
                        .iter()
                        .zip(self.row.iter().zip(filler))
                        .map(|(&inside, (&x, &f))| if inside { x } else { f }),
                );
            }
            let rows = end - start;
            let out = (self.model)(&batch, rows).map_err(ExplainError::Model)?;
            if out.is_empty() || !out.len().is_multiple_of(rows) {
                return Err(ExplainError::Model(format!(
                    "{} values for {rows} rows",
                    out.len()
                )));
            }
            let outputs = out.len() / rows;
            match self.outputs {
                Some(known) if known != outputs => {
                    return Err(ExplainError::Model(format!(
                        "{outputs} outputs a row, then {known}"
                    )))
                }
                _ => self.outputs = Some(outputs),
            }
            if sums.is_empty() {
                sums = vec![0.0; coalitions.len() * outputs];
            }
            if out.iter().any(|v| !v.is_finite()) {
                return Err(ExplainError::Model("it answered a non-finite value".into()));
            }
            for (i, value) in out.iter().enumerate() {
                let r = start + i / outputs;
                sums[(r / per) * outputs + i % outputs] += *value as f64;
            }
            self.model_rows += rows;
            start = end;
        }
        let scale = 1.0 / per as f64;
        Ok(sums.into_iter().map(|s| s * scale).collect())
    }

    fn outputs(&self) -> usize {
        self.outputs.unwrap_or(0)
    }

    fn finish(&self, base: Vec<f64>, prediction: Vec<f64>, values: Vec<f64>) -> Explanation {
        Explanation {
            features: self.features(),
            outputs: self.outputs(),
            base,
            prediction,
            values,
            model_rows: self.model_rows,
        }
    }
}

#[cfg(test)]
mod tests;
