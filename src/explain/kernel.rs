//! KernelSHAP (Lundberg & Lee, 2017): coalitions drawn from the Shapley kernel, sizes with
//! probability ∝ (M − 1) / (s (M − s)) and members uniformly, each with its complement (paired
//! sampling halves the variance); the attributions are the weighted least-squares fit of the
//! coalitions' values, with the efficiency constraint (they sum to f(x) − E[f]) enforced by
//! eliminating the last feature. f64 throughout; the generator is seeded.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{solve, CoalitionValues, ExplainError, Explanation};

pub(super) fn explain(
    values: &mut CoalitionValues<'_, '_>,
    samples: usize,
    seed: u64,
) -> Result<Explanation, ExplainError> {
    let m = values.features();
    let ends = values.of(&[vec![false; m], vec![true; m]])?;
    let k = values.outputs();
    let (base, prediction) = (ends[..k].to_vec(), ends[k..].to_vec());
    let delta: Vec<f64> = (0..k).map(|o| prediction[o] - base[o]).collect();
    if m == 1 {
        return Ok(values.finish(base, prediction, delta));
    }
    let coalitions = draw(m, samples, seed);
    let v = values.of(&coalitions)?;
    // φ_last = Δ − Σ_{i<last} φ_i, so each coalition z gives the equation
    // v(z) − v(∅) − z_last Δ = Σ_{i<last} (z_i − z_last) φ_i
    let n = m - 1;
    let mut ata = vec![0.0f64; n * n];
    let mut atb = vec![0.0f64; n * k];
    let mut x = vec![0.0f64; n];
    for (j, z) in coalitions.iter().enumerate() {
        let last = z[n] as u8 as f64;
        for (i, xi) in x.iter_mut().enumerate() {
            *xi = z[i] as u8 as f64 - last;
        }
        for a in 0..n {
            if x[a] == 0.0 {
                continue;
            }
            for b in 0..n {
                ata[a * n + b] += x[a] * x[b];
            }
            for o in 0..k {
                let y = v[j * k + o] - base[o] - last * delta[o];
                atb[a * k + o] += x[a] * y;
            }
        }
    }
    let phi = match solve::solve(ata.clone(), atb.clone(), n, k) {
        Some(phi) => phi,
        None => {
            // too few distinct coalitions to determine every feature: the least-norm
            // direction of a slightly regularised fit
            let trace: f64 = (0..n).map(|i| ata[i * n + i]).sum();
            let ridge = (trace / n as f64).max(1.0) * 1e-8;
            let mut regular = ata;
            for i in 0..n {
                regular[i * n + i] += ridge;
            }
            solve::solve(regular, atb, n, k).ok_or_else(|| {
                ExplainError::Model(
                    "the sampled coalitions do not determine the attributions".into(),
                )
            })?
        }
    };
    let mut all = Vec::with_capacity(m * k);
    all.extend_from_slice(&phi);
    for o in 0..k {
        let rest: f64 = (0..n).map(|i| phi[i * k + o]).sum();
        all.push(delta[o] - rest);
    }
    Ok(values.finish(base, prediction, all))
}

/// `samples` coalitions of `m` features (rounded up to whole complementary pairs), none empty
/// or full.
fn draw(m: usize, samples: usize, seed: u64) -> Vec<Vec<bool>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let sizes: Vec<f64> = (1..m)
        .map(|s| (m - 1) as f64 / (s * (m - s)) as f64)
        .collect();
    let total: f64 = sizes.iter().sum();
    let mut order: Vec<usize> = (0..m).collect();
    let mut coalitions = Vec::with_capacity(samples + 1);
    while coalitions.len() < samples {
        let mut u = unit(&mut rng) * total;
        let mut size = m - 1;
        for (s, w) in sizes.iter().enumerate() {
            if u < *w {
                size = s + 1;
                break;
            }
            u -= w;
        }
        // the first `size` places of a partial Fisher–Yates shuffle
        for i in 0..size {
            let j = i + below(&mut rng, m - i);
            order.swap(i, j);
        }
        let mut z = vec![false; m];
        for &f in &order[..size] {
            z[f] = true;
        }
        let complement: Vec<bool> = z.iter().map(|inside| !inside).collect();
        coalitions.push(z);
        coalitions.push(complement);
    }
    coalitions
}

/// A uniform draw in [0, 1) from 53 random bits.
fn unit(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A uniform index below `n` (the modulo's bias, n / 2^64, is far below sampling noise).
fn below(rng: &mut ChaCha8Rng, n: usize) -> usize {
    (rng.next_u64() % n as u64) as usize
}
