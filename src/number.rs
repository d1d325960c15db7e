//! The one rule every reader of feature values applies (CSV cells for training, evaluation,
//! `maas predict` and batch scoring; JSON numbers on the native and TF Serving routes): a
//! value is a float32 that is finite. Rust's float parser takes "NaN" and "inf", and a JSON
//! number such as 1e39 overflows float32 to infinity; both are refused.

/// Why a value is not a feature value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotAFeature {
    /// Not a number at all.
    NotNumeric,
    /// NaN, an infinity, or beyond float32's range.
    NotFinite,
}

/// A CSV cell as a finite float32.
pub(crate) fn parse_f32(cell: &str) -> Result<f32, NotAFeature> {
    match cell.parse::<f32>() {
        Ok(v) => finite_f32(v.into()),
        Err(_) => Err(NotAFeature::NotNumeric),
    }
}

/// A number (a JSON value's f64) as a finite float32.
pub(crate) fn finite_f32(v: f64) -> Result<f32, NotAFeature> {
    let x = v as f32;
    if x.is_finite() {
        Ok(x)
    } else {
        Err(NotAFeature::NotFinite)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_finite_float32_values_are_features() {
        assert_eq!(parse_f32(" 1.5"), Err(NotAFeature::NotNumeric));
        assert_eq!(parse_f32("1.5"), Ok(1.5));
        assert_eq!(parse_f32("NaN"), Err(NotAFeature::NotFinite));
        assert_eq!(parse_f32("inf"), Err(NotAFeature::NotFinite));
        assert_eq!(parse_f32("1e39"), Err(NotAFeature::NotFinite));
        assert_eq!(parse_f32("x"), Err(NotAFeature::NotNumeric));
        assert_eq!(finite_f32(1e39), Err(NotAFeature::NotFinite));
        assert_eq!(finite_f32(-2.0), Ok(-2.0));
    }
}
