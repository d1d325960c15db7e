//! Explaining a served model's answers: the rows of a classifier or regressor explained
//! against its background, one attribution per feature (or group) and per chosen output (a
//! class's probability, a regression target).

use super::{explain_grouped, model_rows, Background, ExplainError, Explanation, Groups, Method};
use crate::inference::LoadedModel;

/// Which of the answer's outputs are explained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outputs {
    /// Every class (or target).
    All,
    /// These places of the answer, in this order.
    Chosen(Vec<usize>),
    /// Each row's most probable class only.
    Predicted,
}

/// What a request asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Exact or KernelSHAP.
    pub method: Method,
    /// The players (every feature alone unless grouped).
    pub groups: Groups,
    /// Which outputs.
    pub outputs: Outputs,
}

/// One row's attributions and the answer places its outputs are.
#[derive(Debug, Clone, PartialEq)]
pub struct RowExplanation {
    /// The answer's places explained (class indices, target indices), in the explanation's
    /// output order.
    pub outputs: Vec<usize>,
    /// The attributions.
    pub explanation: Explanation,
}

/// Model rows that explaining `rows` rows with `settings` evaluates.
pub fn cost(settings: &Settings, background: &Background, rows: usize) -> usize {
    model_rows(settings.method, settings.groups.len(), background.len()).saturating_mul(rows)
}

/// Explains `rows` rows (row-major, the model's features each), evaluating the model
/// `chunk_rows` rows at a time.
pub fn explain_rows(
    model: &LoadedModel,
    background: &Background,
    x: &[f32],
    rows: usize,
    settings: &Settings,
    chunk_rows: usize,
) -> Result<Vec<RowExplanation>, ExplainError> {
    let features = background.features();
    if x.len() != rows * features {
        return Err(ExplainError::FeatureCount {
            expected: features,
            got: x.len() / rows.max(1),
        });
    }
    let model_error = |e: crate::inference::InferenceError| ExplainError::Model(e.to_string());
    let mut explained = Vec::with_capacity(rows);
    for row in x.chunks_exact(features) {
        let answer = model.predict(row, 1).map_err(model_error)?;
        let places = match &settings.outputs {
            Outputs::All => (0..answer.len()).collect(),
            Outputs::Chosen(places) => {
                if let Some(&bad) = places.iter().find(|&&p| p >= answer.len()) {
                    return Err(ExplainError::Model(format!(
                        "output {bad} asked for; the model answers {} outputs",
                        answer.len()
                    )));
                }
                places.clone()
            }
            Outputs::Predicted => vec![crate::inference::argmax_rows(&answer, answer.len())
                .first()
                .copied()
                .unwrap_or(0) as usize],
        };
        let width = answer.len();
        let mut run = |batch: &[f32], n: usize| -> Result<Vec<f32>, String> {
            let all = model.predict(batch, n).map_err(|e| e.to_string())?;
            Ok(all
                .chunks_exact(width)
                .flat_map(|r| places.iter().map(|&p| r[p]))
                .collect())
        };
        let explanation = explain_grouped(
            row,
            background,
            settings.method,
            &settings.groups,
            chunk_rows,
            &mut run,
        )?;
        explained.push(RowExplanation {
            outputs: places,
            explanation,
        });
    }
    Ok(explained)
}
