//! The small dense solve KernelSHAP needs: a symmetric positive semi-definite system of one
//! row per feature, several right-hand sides, in f64. Written here (Gaussian elimination with
//! partial pivoting) because no crate in maas' tree does linear algebra, and a general one
//! would grow the Lambda package and the wasm worker for a few dozen lines.

/// Solves `a x = b` for `a` `[n][n]` and `b` `[n][k]` (row-major); `None` when `a` is
/// singular to working precision.
pub(super) fn solve(mut a: Vec<f64>, mut b: Vec<f64>, n: usize, k: usize) -> Option<Vec<f64>> {
    let scale = (0..n).map(|i| a[i * n + i].abs()).fold(0.0, f64::max);
    let tiny = scale * 1e-13;
    for col in 0..n {
        let pivot =
            (col..n).max_by(|&p, &q| a[p * n + col].abs().total_cmp(&a[q * n + col].abs()))?;
        if a[pivot * n + col].abs() <= tiny {
            return None;
        }
        if pivot != col {
            for j in 0..n {
                a.swap(pivot * n + j, col * n + j);
            }
            for j in 0..k {
                b.swap(pivot * k + j, col * k + j);
            }
        }
        for row in col + 1..n {
            let f = a[row * n + col] / a[col * n + col];
            if f == 0.0 {
                continue;
            }
            for j in col..n {
                a[row * n + j] -= f * a[col * n + j];
            }
            for j in 0..k {
                b[row * k + j] -= f * b[col * k + j];
            }
        }
    }
    let mut x = vec![0.0f64; n * k];
    for row in (0..n).rev() {
        for j in 0..k {
            let mut s = b[row * k + j];
            for c in row + 1..n {
                s -= a[row * n + c] * x[c * k + j];
            }
            x[row * k + j] = s / a[row * n + row];
        }
    }
    Some(x)
}
