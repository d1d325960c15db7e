//! The export's parity check: the exported ONNX reloaded with tract must reproduce the
//! trainer's probabilities (or a regressor's values), or nothing is published.

use crate::inference::LoadedModel;

/// The largest difference between tract's and the trainer's answers that an export may show:
/// absolute for values up to 1 in magnitude (probabilities), relative beyond (a regressor's
/// values in their units, where float32 itself only holds about 7 digits).
pub const PARITY_TOLERANCE: f32 = 1e-5;

/// Why an export failed its parity check.
#[derive(Debug, thiserror::Error)]
pub enum ParityError {
    /// tract could not load or run the exported file.
    #[error("the exported ONNX does not load in tract: {0}")]
    Reload(String),
    /// tract's answer differs from the trainer's.
    #[error("the exported ONNX disagrees with the trainer: max |Δp| = {max_diff:e} > {PARITY_TOLERANCE:e} (row {row}); the export is refused")]
    Drift {
        /// The largest absolute difference found (infinite for a NaN or a length mismatch).
        max_diff: f32,
        /// The row where it was found.
        row: usize,
    },
}

/// Reloads `onnx` with tract and compares its probabilities on `x` (raw features, row-major)
/// with `reference`, the trainer's answers for the same rows; returns the largest difference
/// (absolute up to magnitude 1, relative beyond), or an error above tolerance.
pub fn check_parity(onnx: &[u8], x: &[f32], reference: &[f32]) -> Result<f32, ParityError> {
    let loaded = LoadedModel::from_bytes(onnx).map_err(|e| ParityError::Reload(e.to_string()))?;
    let rows = x.len() / loaded.n_features().unwrap_or(1).max(1);
    let exported = loaded
        .predict(x, rows)
        .map_err(|e| ParityError::Reload(e.to_string()))?;
    if exported.len() != reference.len() {
        return Err(ParityError::Drift {
            max_diff: f32::INFINITY,
            row: 0,
        });
    }
    // values per row: classes of a classifier, targets of a regressor
    let c = (exported.len() / rows.max(1)).max(1);
    let mut max_diff = 0f32;
    let mut worst_row = 0;
    for (i, (a, b)) in exported.iter().zip(reference).enumerate() {
        let d = (a - b).abs() / b.abs().max(1.0);
        if d > max_diff || d.is_nan() {
            max_diff = if d.is_nan() { f32::INFINITY } else { d };
            worst_row = i / c;
        }
    }
    if max_diff > PARITY_TOLERANCE {
        return Err(ParityError::Drift {
            max_diff,
            row: worst_row,
        });
    }
    Ok(max_diff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::to_onnx;
    use crate::training::tiny_model;

    fn names() -> (Vec<String>, Vec<String>) {
        (
            vec!["no".to_string(), "yes".to_string()],
            vec!["a".to_string(), "b".to_string()],
        )
    }

    #[test]
    fn the_figure_is_the_largest_difference_from_the_reference() {
        let model = tiny_model();
        let (labels, features) = names();
        let onnx = to_onnx(&model, &labels, &features).unwrap();
        let x = [1.0, 2.0, 9.0, 3.0, 4.0, 10.0];
        let exported = LoadedModel::from_bytes(&onnx)
            .unwrap()
            .predict(&x, 3)
            .unwrap();
        // a reference shifted by known amounts: the figure must be the largest shift
        let mut reference = exported.clone();
        reference[1] += 2e-6;
        reference[4] -= 7e-6;
        let figure = check_parity(&onnx, &x, &reference).unwrap();
        assert!((figure - 7e-6).abs() < 5e-7, "{figure}");
        assert_eq!(check_parity(&onnx, &x, &exported).unwrap(), 0.0);
    }

    #[test]
    fn an_export_that_drifts_from_the_trainer_is_refused() {
        let model = tiny_model();
        let (labels, features) = names();
        let onnx = to_onnx(&model, &labels, &features).unwrap();
        let mut drifted = model.clone();
        drifted.layers[0].bias.iter_mut().for_each(|b| *b += 0.5);
        let x = [1.0, 2.0, 9.0, 3.0];
        let err = check_parity(&onnx, &x, &drifted.predict(&x).unwrap()).unwrap_err();
        assert!(matches!(err, ParityError::Drift { .. }), "{err}");
        assert!(err.to_string().contains("the export is refused"), "{err}");
        let short = check_parity(&onnx, &x, &[0.5; 3]).unwrap_err();
        assert!(matches!(short, ParityError::Drift { .. }), "{short}");
    }
}
