//! Theorem 4 (SPEC §2): the expected one-step change of `r∥ = mean(r)` (training residuals)
//! under the implicit update: its exact first-order value, the theorem's asymptotic form, and
//! the mean change measured over minibatches.

use crate::data::{dot, Dataset};
use crate::stats::Estimate;

/// Theorem 4's predictions at one checkpoint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Theorem4 {
    /// First order in `α` (exact): `−(α/n)(Xᵀ1)ᵀPḡ`.
    pub first_order: f64,
    /// The asymptotic form `−α r∥ vᵀ(η²D+I)v ‖z‖²/(n(1−η)²)`, `z_i = ⟨1, φ_i⟩`.
    pub asymptotic: f64,
}

/// `Xᵀ1 = Σ_i φ_i`, the direction whose inner product with `Δθ` is `n·Δr∥`.
pub fn ones_direction(data: &Dataset) -> Vec<f64> {
    let mut col_sum = vec![0.0; data.k];
    for i in 0..data.len() {
        col_sum
            .iter_mut()
            .zip(data.row(i))
            .for_each(|(s, x)| *s += x);
    }
    col_sum
}

/// Theorem 4's first-order and asymptotic one-step change of `r∥` for the implicit step at rate
/// `alpha` from training residual mean `r_par`, with `pg = Pḡ` (the preconditioned full-batch
/// gradient), `col_sum` = [`ones_direction`], `cv = vᵀ(η²D+I)v` and internal discount `eta`.
pub fn theorem4(
    data: &Dataset,
    col_sum: &[f64],
    pg: &[f64],
    alpha: f64,
    r_par: f64,
    cv: f64,
    eta: f64,
) -> Theorem4 {
    let n = data.len();
    let nf = n as f64;
    let first_order = -alpha / nf * dot(col_sum, pg);
    let z2: f64 = (0..n)
        .map(|i| data.row(i).iter().sum::<f64>().powi(2))
        .sum();
    let asymptotic = -alpha * r_par * cv * z2 / (nf * (1.0 - eta).powi(2));
    Theorem4 {
        first_order,
        asymptotic,
    }
}

/// The measured mean change `Δr∥ = ⟨Xᵀ1, Δθ⟩/n` over steps `Δθ` (row-major, `k` columns), with
/// its 95% interval; NaN with fewer than two steps.
pub fn measured_change(col_sum: &[f64], steps: &[f64], n: usize) -> Estimate {
    let k = col_sum.len();
    let nf = n as f64;
    let dpar: Vec<f64> = steps
        .chunks_exact(k)
        .map(|dt| dot(col_sum, dt) / nf)
        .collect();
    if dpar.len() > 1 {
        Estimate::mean_of(&dpar)
    } else {
        Estimate::NAN
    }
}
