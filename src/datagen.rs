//! Synthetic classification data of any shape, e.g. the reference benchmark shape
//! (1000 features, 10 classes): Gaussian clusters around seeded random class centres.

use std::io::Write;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// The shape and difficulty of a generated data set.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSpec {
    pub rows: usize,
    pub features: usize,
    pub classes: usize,
    /// Standard deviation of the noise around each class centre (centres are N(0, 1)).
    pub noise: f64,
    pub seed: u64,
}

impl Default for DataSpec {
    /// The reference shape of the product's benchmarks.
    fn default() -> Self {
        DataSpec {
            rows: 20_000,
            features: 1000,
            classes: 10,
            noise: 4.0,
            seed: 42,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DatagenError {
    #[error("invalid data shape: {0}")]
    Shape(String),
    #[error("cannot write the data: {0}")]
    Write(#[from] std::io::Error),
}

/// Writes `spec.rows` rows as CSV (`label,f0,f1,…`) to `out`; the seed fixes every byte.
pub fn write_csv(spec: &DataSpec, out: &mut dyn Write) -> Result<(), DatagenError> {
    if spec.rows == 0 || spec.features == 0 || spec.classes < 2 {
        return Err(DatagenError::Shape(
            "need at least 1 row, 1 feature and 2 classes".into(),
        ));
    }
    let noise = Normal::new(0.0, spec.noise)
        .map_err(|e| DatagenError::Shape(format!("noise {}: {e}", spec.noise)))?;
    let unit = Normal::new(0.0f64, 1.0).map_err(|e| DatagenError::Shape(e.to_string()))?;
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let centres: Vec<f64> = (0..spec.classes * spec.features)
        .map(|_| unit.sample(&mut rng))
        .collect();
    write!(out, "label")?;
    for f in 0..spec.features {
        write!(out, ",f{f}")?;
    }
    writeln!(out)?;
    let mut line = String::new();
    for _ in 0..spec.rows {
        let class = rng.random_range(0..spec.classes);
        line.clear();
        line.push_str(&class.to_string());
        for f in 0..spec.features {
            let v = centres[class * spec.features + f] + noise.sample(&mut rng);
            line.push(',');
            line.push_str(&format!("{v:.4}"));
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Dataset;

    #[test]
    fn generated_data_reads_back_with_its_shape() {
        let spec = DataSpec {
            rows: 50,
            features: 7,
            classes: 3,
            ..Default::default()
        };
        let mut bytes = Vec::new();
        write_csv(&spec, &mut bytes).unwrap();
        let d = Dataset::from_reader(&bytes[..], "gen", "label").unwrap();
        assert_eq!((d.rows(), d.n_features(), d.classes.len()), (50, 7, 3));
        let mut again = Vec::new();
        write_csv(&spec, &mut again).unwrap();
        assert_eq!(bytes, again);
    }
}
