//! Shapley attributions of one prediction against a background, through forward passes only
//! (tract has no gradients): exact interventional Shapley values by enumerating every
//! coalition when the features are few, KernelSHAP beyond. No I/O: the model is a function
//! from rows to outputs, so the same code serves every route and builds for wasm32.

mod exact;
mod file;
mod kernel;
mod model;
mod solve;

pub use file::{BackgroundFile, BackgroundFileError, BACKGROUND_FILE};
pub use model::{cost, explain_rows, Outputs, RowExplanation, Settings};

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
    /// A feature grouping that is not a partition of the features.
    #[error("bad feature groups: {0}")]
    Groups(String),
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

    /// Whether this method can explain `players` features (or groups): exact up to
    /// [`MAX_EXACT_FEATURES`], a KernelSHAP budget within its range.
    pub fn check(self, players: usize) -> Result<(), ExplainError> {
        match self {
            Method::Exact if players > MAX_EXACT_FEATURES => {
                Err(ExplainError::TooManyForExact { features: players })
            }
            Method::Exact => Ok(()),
            Method::Kernel { samples, .. } => {
                let min = Method::min_samples(players);
                if (min..=MAX_SAMPLES).contains(&samples) {
                    Ok(())
                } else {
                    Err(ExplainError::Samples { got: samples, min })
                }
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

/// Features gathered into players: each group enters or leaves a coalition whole, and gets one
/// attribution (one input, or a patch of pixels, as one feature).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Groups {
    /// The group of each feature.
    of_feature: Vec<usize>,
    count: usize,
}

impl Groups {
    /// Every feature its own group.
    pub fn each(features: usize) -> Groups {
        Groups {
            of_feature: (0..features).collect(),
            count: features,
        }
    }

    /// Checked: `groups` (feature indices) cover each of the `features` exactly once, none empty.
    pub fn new(groups: &[Vec<usize>], features: usize) -> Result<Groups, ExplainError> {
        let mut of_feature = vec![usize::MAX; features];
        for (g, members) in groups.iter().enumerate() {
            if members.is_empty() {
                return Err(ExplainError::Groups(format!("group {g} is empty")));
            }
            for &f in members {
                let Some(slot) = of_feature.get_mut(f) else {
                    return Err(ExplainError::Groups(format!(
                        "group {g} names feature {f}; the model has features 0 to {}",
                        features.saturating_sub(1)
                    )));
                };
                if *slot != usize::MAX {
                    return Err(ExplainError::Groups(format!(
                        "feature {f} is in group {} and group {g}; each feature belongs to one",
                        *slot
                    )));
                }
                *slot = g;
            }
        }
        if let Some(f) = of_feature.iter().position(|g| *g == usize::MAX) {
            return Err(ExplainError::Groups(format!(
                "feature {f} is in no group; the groups must cover all {features} features"
            )));
        }
        Ok(Groups {
            of_feature,
            count: groups.len(),
        })
    }

    /// Players (groups).
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there are no players (a model without features).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Features grouped.
    pub fn features(&self) -> usize {
        self.of_feature.len()
    }

    /// The groups `kept` (ascending) as players of their own, in that order; every other
    /// feature joins the first kept group (for features that never differ from the row, which
    /// side of a coalition they are on changes nothing).
    fn keeping(&self, kept: &[usize]) -> Groups {
        let of_feature = self
            .of_feature
            .iter()
            .map(|g| kept.binary_search(g).unwrap_or(0))
            .collect();
        Groups {
            of_feature,
            count: kept.len(),
        }
    }

    /// The group of feature `feature` (`usize::MAX` past the last feature).
    pub fn of(&self, feature: usize) -> usize {
        self.of_feature.get(feature).copied().unwrap_or(usize::MAX)
    }
}

/// Model rows one explained row costs: the coalitions `method` evaluates for `players`
/// players, each over every background row.
pub fn model_rows(method: Method, players: usize, background_rows: usize) -> usize {
    let coalitions = match method {
        Method::Exact => 1usize.checked_shl(players as u32).unwrap_or(usize::MAX),
        Method::Kernel { .. } if players <= 1 => 2,
        Method::Kernel { samples, .. } => samples.div_ceil(2).saturating_mul(2).saturating_add(2),
    };
    coalitions.saturating_mul(background_rows)
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

impl Explanation {
    /// The attributions of the players `kept` (ascending), placed among `players` players
    /// with 0 for the others.
    fn spread(self, kept: &[usize], players: usize) -> Explanation {
        let k = self.outputs;
        let mut values = vec![0.0; players * k];
        for (i, &p) in kept.iter().enumerate() {
            values[p * k..(p + 1) * k].copy_from_slice(&self.values[i * k..(i + 1) * k]);
        }
        Explanation {
            features: players,
            values,
            ..self
        }
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
    let groups = Groups::each(background.features());
    explain_grouped(row, background, method, &groups, chunk_rows, model)
}

/// [`explain`] with features gathered into `groups`: one attribution per group.
pub fn explain_grouped(
    row: &[f32],
    background: &Background,
    method: Method,
    groups: &Groups,
    chunk_rows: usize,
    model: &mut Model<'_>,
) -> Result<Explanation, ExplainError> {
    let width = background.features();
    if row.len() != width {
        return Err(ExplainError::FeatureCount {
            expected: width,
            got: row.len(),
        });
    }
    if groups.features() != width {
        return Err(ExplainError::Groups(format!(
            "the groups cover {} features; the model has {width}",
            groups.features()
        )));
    }
    if row.iter().any(|v| !v.is_finite()) {
        return Err(ExplainError::NotFinite("the row"));
    }
    let features = groups.len();
    method.check(features)?;
    // A player whose features equal the row's in every background row changes no coalition's
    // value: its attribution is exactly 0, and leaving it out of the coalitions spends the
    // whole sample budget on the others (as shap's KernelExplainer does; on digits a third of
    // the pixels are blank in every row).
    let varying: Vec<usize> = (0..features)
        .filter(|&g| {
            (0..width).any(|f| {
                groups.of(f) == g && (0..background.len()).any(|b| background.row(b)[f] != row[f])
            })
        })
        .collect();
    let reduced = groups.keeping(&varying);
    let mut values = CoalitionValues::new(row, background, &reduced, chunk_rows.max(1), model);
    let explained = if varying.is_empty() {
        // every background row is the row itself
        let at_row = values.of(&[Vec::new()])?;
        values.finish(at_row.clone(), at_row, Vec::new())
    } else {
        match method {
            Method::Exact => exact::explain(&mut values)?,
            Method::Kernel { samples, seed } => kernel::explain(&mut values, samples, seed)?,
        }
    };
    Ok(explained.spread(&varying, features))
}

/// The value of coalitions: the model's mean output over the background with the
/// coalition's features taken from the row and the others from each background row.
struct CoalitionValues<'r, 'm> {
    row: &'r [f32],
    background: &'r Background,
    groups: &'r Groups,
    chunk_rows: usize,
    model: &'r mut Model<'m>,
    outputs: Option<usize>,
    model_rows: usize,
}

impl<'r, 'm> CoalitionValues<'r, 'm> {
    fn new(
        row: &'r [f32],
        background: &'r Background,
        groups: &'r Groups,
        chunk_rows: usize,
        model: &'r mut Model<'m>,
    ) -> Self {
        CoalitionValues {
            row,
            background,
            groups,
            chunk_rows,
            model,
            outputs: None,
            model_rows: 0,
        }
    }

    /// Players: the groups of features.
    fn features(&self) -> usize {
        self.groups.len()
    }

    /// Mean outputs `[coalitions][outputs]` of `coalitions`, each a membership per player.
    fn of(&mut self, coalitions: &[Vec<bool>]) -> Result<Vec<f64>, ExplainError> {
        let features = self.background.features();
        let of_feature = &self.groups.of_feature;
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
                let inside = &coalitions[c];
                batch.extend(of_feature.iter().zip(self.row.iter().zip(filler)).map(
                    |(&g, (&x, &f))| match inside.get(g) {
                        Some(true) => x,
                        // outside, or no player at all (every feature equals the row's)
                        _ => f,
                    },
                ));
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
