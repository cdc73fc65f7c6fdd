//! Theorem 1 and the Perron split (SPEC §2): the preconditioner `P = A⁻¹(η²D + I)A⁻ᵀ` of the
//! implicit update, its spectrum (Corollary 1), the first-order prediction `Δθ̂ ≈ −αPḡ` of one
//! step, and the split `A⁻¹ = (1/(1−η))1vᵀ + O(1)` by the stationary distribution `v` of `S`.

use super::{mul, norm2};
use crate::data::dot;
use crate::linalg::SolverKind;
use crate::param::{Implicit, Parameterization};
use faer::linalg::solvers::Solve;
use faer::{Mat, Side};

/// `A⁻¹` (row-major `k × k`) by `k` solves with the model's factorization (analysis only; the
/// training path never forms it).
pub fn resolvent_inverse(m: &Implicit) -> Vec<f64> {
    let k = m.k();
    let mut lu = m.factorization();
    let mut out = vec![0.0; k * k];
    let mut col = vec![0.0; k];
    for j in 0..k {
        col.fill(0.0);
        col[j] = 1.0;
        lu.solve_in_place(&mut col);
        for (i, c) in col.iter().enumerate() {
            out[i * k + j] = *c;
        }
    }
    out
}

/// `d_k = ‖J_k θ̂‖² = Σ_j S_kj² (θ̂_j − (Sθ̂)_k)²`, `J_k = diag(s_k) − s_k s_kᵀ` (Theorem 1).
pub fn softmax_curvature(m: &Implicit) -> Vec<f64> {
    let k = m.k();
    (0..k)
        .map(|kk| {
            let st = m.s_theta()[kk];
            m.s()[kk * k..(kk + 1) * k]
                .iter()
                .zip(m.theta())
                .map(|(s, t)| (s * (t - st)).powi(2))
                .sum()
        })
        .collect()
}

/// Theorem 1's preconditioner `P = A⁻¹(η²D + I)A⁻ᵀ` (row-major `k × k`), formed as `BBᵀ` with
/// `B = A⁻¹ diag(√(η²d + 1))`, so that it is symmetric positive semidefinite to rounding.
pub fn preconditioner(m: &Implicit) -> Vec<f64> {
    let k = m.k();
    let eta = m.eta();
    let mut b = resolvent_inverse(m);
    let scale: Vec<f64> = softmax_curvature(m)
        .iter()
        .map(|d| (eta * eta * d + 1.0).sqrt())
        .collect();
    for row in b.chunks_exact_mut(k) {
        for (x, s) in row.iter_mut().zip(&scale) {
            *x *= s;
        }
    }
    let mut p = vec![0.0; k * k];
    for i in 0..k {
        for j in 0..=i {
            let v = dot(&b[i * k..(i + 1) * k], &b[j * k..(j + 1) * k]);
            p[i * k + j] = v;
            p[j * k + i] = v;
        }
    }
    p
}

/// Eigenvalues (ascending) of a symmetric row-major `k × k` matrix (faer's self-adjoint
/// eigensolver on the symmetrized matrix); `None` if the solver fails.
pub fn symmetric_eigenvalues(p: &[f64], k: usize) -> Option<Vec<f64>> {
    let m = Mat::from_fn(k, k, |i, j| 0.5 * (p[i * k + j] + p[j * k + i]));
    m.self_adjoint_eigenvalues(Side::Lower).ok()
}

/// The stationary distribution `v` of a row-stochastic `S` (`vᵀS = vᵀ`, `Σv = 1`) from the
/// linear system `(I − S + 11ᵀ)ᵀ v = 1` (nonsingular when 1 is a simple eigenvalue of `S`, as
/// for every softmax `S`, whose entries are positive), with one step of iterative refinement.
pub fn stationary_distribution(s: &[f64], k: usize) -> Vec<f64> {
    let a = Mat::from_fn(k, k, |i, j| {
        f64::from(u8::from(i == j)) - s[j * k + i] + 1.0
    });
    let lu = a.partial_piv_lu();
    let mut x = Mat::from_fn(k, 1, |_, _| 1.0);
    lu.solve_in_place(x.as_mut());
    // Refinement: r = 1 − a x, x += a⁻¹ r.
    let mut r = Mat::from_fn(k, 1, |i, _| {
        1.0 - (0..k).map(|j| a[(i, j)] * x[(j, 0)]).sum::<f64>()
    });
    lu.solve_in_place(r.as_mut());
    let mut v: Vec<f64> = (0..k).map(|i| x[(i, 0)] + r[(i, 0)]).collect();
    let z: f64 = v.iter().sum();
    v.iter_mut().for_each(|x| *x /= z);
    v
}

/// The Perron split of `A⁻¹` (SPEC §2).
#[derive(Debug, Clone, PartialEq)]
pub struct PerronSplit {
    /// Stationary distribution `v` of `S`.
    pub v: Vec<f64>,
    /// `‖A⁻¹ − (1/(1−η))1vᵀ‖_F`, which tends to `‖H‖_F` as `η → 1`.
    pub abs_error: f64,
    /// `abs_error / ‖(1/(1−η))1vᵀ‖_F`.
    pub rel_error: f64,
    /// `‖H‖_F`, `H = (I − S + 1vᵀ)⁻¹ − 1vᵀ` the deviation matrix of `S`.
    pub deviation_norm: f64,
    /// The leading-order prediction `(1−η)‖H‖_F / ‖1vᵀ‖_F` of `rel_error`.
    pub predicted_rel_error: f64,
    /// `‖vᵀS − vᵀ‖_∞`, the stationarity residual.
    pub stationarity_residual: f64,
}

/// The Perron split of the model's `A⁻¹`; `ainv` is [`resolvent_inverse`] of `m`.
pub fn perron_split(m: &Implicit, ainv: &[f64]) -> PerronSplit {
    let k = m.k();
    let eta = m.eta();
    let s = m.s();
    let v = stationary_distribution(s, k);
    let c = 1.0 / (1.0 - eta);
    let mut err = 0.0;
    for i in 0..k {
        for j in 0..k {
            err += (ainv[i * k + j] - c * v[j]).powi(2);
        }
    }
    let abs_error = err.sqrt();
    let one_v = (k as f64).sqrt() * norm2(&v).sqrt();
    // H = (I − S + 1vᵀ)⁻¹ − 1vᵀ.
    let z = Mat::from_fn(k, k, |i, j| {
        f64::from(u8::from(i == j)) - s[i * k + j] + v[j]
    });
    let zinv = z.partial_piv_lu().solve(Mat::<f64>::identity(k, k));
    let mut h = 0.0;
    for i in 0..k {
        for j in 0..k {
            h += (zinv[(i, j)] - v[j]).powi(2);
        }
    }
    let deviation_norm = h.sqrt();
    let mut stationarity_residual: f64 = 0.0;
    for j in 0..k {
        let vs: f64 = (0..k).map(|i| v[i] * s[i * k + j]).sum();
        stationarity_residual = stationarity_residual.max((vs - v[j]).abs());
    }
    PerronSplit {
        abs_error,
        rel_error: abs_error / (c * one_v),
        deviation_norm,
        predicted_rel_error: (1.0 - eta) * deviation_norm / one_v,
        stationarity_residual,
        v,
    }
}

/// The change of `θ̂` over one implicit SGD step with gradient `g` and rate `alpha` from `m`'s
/// parameters; `None` if the step fails (non-finite, or a solve that misses its tolerance).
pub fn implicit_step(m: &Implicit, g: &[f64], alpha: f64) -> Option<Vec<f64>> {
    // The copy keeps `m`'s factorization for the adjoint; the new θ̂ comes from GMRES (k > 32)
    // to a 1e−10 relative residual, warm-started from θ̂.
    let mut c = m.fork(SolverKind::Auto);
    c.sgd_step(g, alpha).ok()?;
    Some(
        c.theta()
            .iter()
            .zip(m.theta())
            .map(|(a, b)| a - b)
            .collect(),
    )
}

/// Theorem 1's check: `‖Δθ̂ + αPg‖ / ‖αPg‖` for one step with gradient `g`.
pub fn theorem1_rel_error(m: &Implicit, p: &[f64], g: &[f64], alpha: f64) -> f64 {
    let pg = mul(p, g);
    match implicit_step(m, g, alpha) {
        Some(d) => {
            let e: f64 = d
                .iter()
                .zip(&pg)
                .map(|(di, pi)| (di + alpha * pi).powi(2))
                .sum();
            e.sqrt() / (alpha * norm2(&pg).sqrt())
        }
        None => f64::NAN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random_rows(n: usize, d: usize, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n * d).map(|_| rng.random_range(-1.0..2.0)).collect()
    }

    #[test]
    fn stationary_distribution_is_stationary() {
        let k = 13;
        let f = random_rows(k, k, 7)
            .iter()
            .map(|x| 3.0 * x)
            .collect::<Vec<_>>();
        let mut s = vec![0.0; k * k];
        crate::linalg::softmax_rows(&f, k, &mut s);
        let v = stationary_distribution(&s, k);
        assert!((v.iter().sum::<f64>() - 1.0).abs() < 1e-14);
        assert!(v.iter().all(|x| *x > 0.0));
        for j in 0..k {
            let vs: f64 = (0..k).map(|i| v[i] * s[i * k + j]).sum();
            assert!((vs - v[j]).abs() < 1e-15, "{vs} vs {}", v[j]);
        }
    }
}
