//! Exact interventional Shapley values: every coalition's value computed, then each
//! feature's weighted mean marginal contribution (`|S|! (M − |S| − 1)! / M!`).

use super::{CoalitionValues, ExplainError, Explanation};

pub(super) fn explain(values: &mut CoalitionValues<'_, '_>) -> Result<Explanation, ExplainError> {
    let m = values.features();
    let masks = 1usize << m;
    let coalitions: Vec<Vec<bool>> = (0..masks)
        .map(|mask| (0..m).map(|i| mask & (1 << i) != 0).collect())
        .collect();
    let v = values.of(&coalitions)?;
    let k = values.outputs();
    // weight[s] = s! (m − s − 1)! / m!, built by its ratio from s to s + 1
    let mut weight = vec![0.0f64; m];
    weight[0] = 1.0 / m as f64;
    for s in 1..m {
        weight[s] = weight[s - 1] * s as f64 / (m - s) as f64;
    }
    let mut phi = vec![0.0f64; m * k];
    for mask in 0..masks {
        let size = mask.count_ones() as usize;
        for i in (0..m).filter(|i| mask & (1 << i) == 0) {
            let with = mask | (1 << i);
            for out in 0..k {
                phi[i * k + out] += weight[size] * (v[with * k + out] - v[mask * k + out]);
            }
        }
    }
    let base = v[..k].to_vec();
    let prediction = v[(masks - 1) * k..].to_vec();
    Ok(values.finish(base, prediction, phi))
}
