//! The theory's quantities measured along real training runs (SPEC §2).
//!
//! One implicit run and one explicit run (the same seed, data, initial `θ` and minibatch
//! stream as `imprl run`) are followed; at chosen steps, *before* the next update, this module
//! computes:
//!
//! - **Theorem 1**: the preconditioner `P = A⁻¹(η²D + I)A⁻ᵀ`, `d_k = ‖J_k θ̂‖²`, its extreme
//!   eigenvalues (Corollary 1: `λ_min > 0`) and condition number, and the relative error
//!   `‖Δθ̂ + αPḡ‖ / ‖αPḡ‖` of the first-order prediction of one full-batch SGD step (`O(α)`).
//! - **Perron split**: the stationary distribution `v` of `S` (`vᵀS = vᵀ`, `Σv = 1`) and the
//!   relative error of `A⁻¹ ≈ (1/(1−η)) 1vᵀ`. The remainder is known exactly:
//!   `A⁻¹ − (1/(1−η))1vᵀ = (I − η(S − 1vᵀ))⁻¹ − 1vᵀ → H = (I − S + 1vᵀ)⁻¹ − 1vᵀ` (the deviation
//!   matrix) as `η → 1`, so the relative error is `(1−η)‖H‖_F / ‖1vᵀ‖_F + O((1−η)²)`.
//! - **Theorem 4**: the expected one-step change of `r∥ = mean(r)` (training residuals):
//!   measured over many minibatches, its exact first-order value `−(α/n)(Xᵀ1)ᵀPḡ`, and the
//!   theorem's asymptotic form `−α r∥ vᵀ(η²D + I)v ‖z‖² / (n(1−η)²)`, `z_i = ⟨1, φ_i⟩`
//!   (the paper's `‖Xᵀ1‖²` with points as columns).
//! - **Theorem 5, Corollaries 2–3**: the second-moment ratio `E‖Δ‖² / ‖EΔ‖²` of one SGD update
//!   `Δ` (see [`second_moment_ratio`]) in closed form and by Monte Carlo with a delta-method 95%
//!   confidence interval, with and without replacement, for both parameterizations.
//!
//! Exact versus asymptotic: the Theorem 5 closed forms for the explicit update and for the
//! *linearized* implicit update (`a_i = P r_i φ_i`) are exact; the Monte-Carlo estimate of the
//! real implicit step differs from the latter by `O(α)`. The paper's implicit form (the scalar
//! `⟨1, r_i φ_i⟩`), Theorem 4's formula and the Perron split are asymptotic, `O(1−η)` relative.

pub mod output;

use crate::config::{ConfigError, RunConfig, RunSettings};
use crate::data::{dot, Dataset, Problem};
use crate::linalg::SolverKind;
use crate::param::{draw_implicit_init, Explicit, Implicit, ParamKind, Parameterization};
use crate::rng::{stream, Stream};
use crate::train::{draw_batch, minibatch_gradient, Sampling};
use faer::linalg::solvers::Solve;
use faer::{Mat, Side};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;

pub use crate::stats::{Estimate, Z95};

fn norm2(x: &[f64]) -> f64 {
    dot(x, x)
}

fn frob(m: &[f64]) -> f64 {
    norm2(m).sqrt()
}

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

/// `y = M x` for a row-major square `M`.
fn mul(m: &[f64], x: &[f64]) -> Vec<f64> {
    let k = x.len();
    m.chunks_exact(k).map(|row| dot(row, x)).collect()
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

/// `E‖ĝ_B‖² / ‖E ĝ_B‖²` for `ĝ_B = (1/b) Σ_{i∈B} a_i`, `B` a batch of `b` of the `n` rows of `a`
/// (row-major, `n × d`) — Theorem 5's "variance / squared-mean ratio" (it is `1 + tr Cov /
/// ‖mean‖²`). With `S₂ = Σ_i‖a_i‖²` and `S₁ = ‖Σ_i a_i‖²`, exactly:
///
/// - without replacement: `n(b−1)/(b(n−1)) + (n−b)n/(b(n−1)) · S₂/S₁` (Theorem 5; the
///   covariance of a mean of `b` draws without replacement is `(n−b)/(b(n−1))` times the
///   population covariance `S₂/n − ‖ā‖²`);
/// - with replacement: `1 − 1/b + (n/b) · S₂/S₁` (covariance `1/b` times the population one).
///
/// Returns NaN when `Σ_i a_i = 0` or (without replacement) `b > n`.
pub fn second_moment_ratio(a: &[f64], d: usize, b: usize, sampling: Sampling) -> f64 {
    let n = a.len() / d;
    let mut sum = vec![0.0; d];
    let mut s2 = 0.0;
    for row in a.chunks_exact(d) {
        s2 += norm2(row);
        sum.iter_mut().zip(row).for_each(|(s, x)| *s += x);
    }
    let s1 = norm2(&sum);
    if s1 == 0.0 || n == 0 || b == 0 {
        return f64::NAN;
    }
    let (nf, bf) = (n as f64, b as f64);
    match sampling {
        Sampling::WithReplacement => 1.0 - 1.0 / bf + nf / bf * s2 / s1,
        Sampling::WithoutReplacement if b > n => f64::NAN,
        Sampling::WithoutReplacement if n == 1 => 1.0,
        Sampling::WithoutReplacement => {
            nf * (bf - 1.0) / (bf * (nf - 1.0)) + (nf - bf) * nf / (bf * (nf - 1.0)) * s2 / s1
        }
    }
}

/// Training residuals `r_i = φ_iᵀθ − y_i`.
pub fn residuals(data: &Dataset, theta: &[f64]) -> Vec<f64> {
    let mut r = vec![0.0; data.len()];
    data.residuals_into(theta, &mut r);
    r
}

/// The rows `a_i = r_i φ_i` (`n × k`): the per-sample gradients of the explicit update.
pub fn explicit_rows(data: &Dataset, theta: &[f64]) -> Vec<f64> {
    let r = residuals(data, theta);
    let mut a = data.x.clone();
    for (row, ri) in a.chunks_exact_mut(data.k).zip(&r) {
        row.iter_mut().for_each(|x| *x *= ri);
    }
    a
}

/// The scalars `b_i = ⟨1, r_i φ_i⟩` of Theorem 5's implicit form (the update's `1` component).
pub fn ones_rows(data: &Dataset, theta: &[f64]) -> Vec<f64> {
    explicit_rows(data, theta)
        .chunks_exact(data.k)
        .map(|row| row.iter().sum())
        .collect()
}

/// The rows `P r_i φ_i` of the linearized implicit update `Δθ̂ ≈ −αPĝ`.
pub fn preconditioned_rows(data: &Dataset, theta: &[f64], p: &[f64]) -> Vec<f64> {
    explicit_rows(data, theta)
        .chunks_exact(data.k)
        .flat_map(|row| mul(p, row))
        .collect()
}

/// Corollary 3's bound `1 + (n/n')(b_max/b_min)²/b` on the implicit ratio, with `b_i =
/// ⟨1, r_i φ_i⟩` over the `n'` nonzero ones; `None` unless they all share one sign. It bounds
/// the asymptotic form exactly for both samplings (since `(n−b)/(n−1) ≤ 1`, `n(b−1)/(b(n−1)) ≤ 1`).
pub fn corollary3_bound(ones: &[f64], b: usize) -> Option<f64> {
    let nz: Vec<f64> = ones.iter().copied().filter(|x| *x != 0.0).collect();
    if nz.is_empty() || !(nz.iter().all(|x| *x > 0.0) || nz.iter().all(|x| *x < 0.0)) {
        return None;
    }
    let max = nz.iter().map(|x| x.abs()).fold(0.0, f64::max);
    let min = nz.iter().map(|x| x.abs()).fold(f64::INFINITY, f64::min);
    let ratio = ones.len() as f64 / nz.len() as f64;
    Some(1.0 + ratio * (max / min).powi(2) / b as f64)
}

/// True when every row is a one-hot vector and no two rows share their hot index (Corollary 2's
/// setting, in which the explicit ratio without replacement is exactly `n/b`).
pub fn distinct_one_hot(data: &Dataset) -> bool {
    let mut seen = vec![false; data.k];
    for i in 0..data.len() {
        let row = data.row(i);
        let hot: Vec<usize> = (0..data.k).filter(|&j| row[j] != 0.0).collect();
        if hot.len() != 1 || row[hot[0]] != 1.0 || seen[hot[0]] {
            return false;
        }
        seen[hot[0]] = true;
    }
    true
}

/// Monte-Carlo estimate of `R = E‖Δ‖² / ‖EΔ‖²` from `m` i.i.d. samples `Δ_j` (row-major
/// `m × d`): `N̂ = mean ‖Δ_j‖²`, `D̂ = ‖Δ̄‖² − s²/m` (unbiased for `‖EΔ‖²`, `s²` the sample
/// total variance), `R̂ = N̂/D̂`. The 95% interval is the delta method's: with the influence
/// `ψ_j = (‖Δ_j‖² − N̂)/D̂ − (N̂/D̂²)·2Δ̄ᵀ(Δ_j − Δ̄)`, `R̂ ± 1.96 sd(ψ)/√m`.
pub fn ratio_estimate(samples: &[f64], d: usize) -> Estimate {
    let m = samples.len() / d;
    let mf = m as f64;
    let mut mean = vec![0.0; d];
    for row in samples.chunks_exact(d) {
        mean.iter_mut().zip(row).for_each(|(s, x)| *s += x / mf);
    }
    let q: Vec<f64> = samples.chunks_exact(d).map(norm2).collect();
    let n_hat = q.iter().sum::<f64>() / mf;
    let mean2 = norm2(&mean);
    let s2 = (n_hat - mean2) * mf / (mf - 1.0);
    let d_hat = mean2 - s2 / mf;
    let r = n_hat / d_hat;
    let psi: Vec<f64> = samples
        .chunks_exact(d)
        .zip(&q)
        .map(|(row, qj)| {
            let proj: f64 = row.iter().zip(&mean).map(|(x, mu)| (x - mu) * mu).sum();
            (qj - n_hat) / d_hat - n_hat / (d_hat * d_hat) * 2.0 * proj
        })
        .collect();
    let var = psi.iter().map(|p| p * p).sum::<f64>() / (mf - 1.0);
    Estimate {
        estimate: r,
        ci: Z95 * (var / mf).sqrt(),
    }
}

/// The settings of a theory analysis: two runs of one seed, checked at `checkpoints`.
#[derive(Debug, Clone, PartialEq)]
pub struct TheoryConfig {
    /// Internal discount `η`.
    pub eta: f64,
    /// Learning rate of the implicit run.
    pub lr_implicit: f64,
    /// Learning rate of the explicit run.
    pub lr_explicit: f64,
    /// Run seed (data, init and minibatches as in `imprl run`; Monte Carlo from
    /// [`Stream::Theory`]).
    pub seed: u64,
    /// SGD updates of each run.
    pub steps: usize,
    /// Minibatch size `b`.
    pub batch_size: usize,
    /// Minibatch sampling of the runs (Theorem 4's average uses it too).
    pub sampling: Sampling,
    /// Steps (number of updates done) at which to analyze, ascending.
    pub checkpoints: Vec<usize>,
    /// Minibatches per Monte-Carlo estimate.
    pub mc_samples: usize,
}

/// All quantities at one checkpoint (one CSV row). `_wr` = with replacement, `_wor` = without.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckpointRow {
    /// Updates done so far.
    pub step: usize,
    /// Test-set `‖r‖` of the implicit run (as `imprl run` logs it at this step).
    pub imp_test_residual_norm: f64,
    /// Test-set `‖r‖` of the explicit run.
    pub exp_test_residual_norm: f64,
    /// Training MSE of the implicit run.
    pub imp_train_mse: f64,
    /// Training MSE of the explicit run.
    pub exp_train_mse: f64,
    /// `r∥ = mean r` (implicit run, training residuals).
    pub imp_r_par: f64,
    /// `‖r⊥‖ = ‖r − r∥1‖` (implicit run, training residuals).
    pub imp_r_perp: f64,
    /// Smallest eigenvalue of `P` (Corollary 1: positive).
    pub p_lambda_min: f64,
    /// Largest eigenvalue of `P`.
    pub p_lambda_max: f64,
    /// `λ_max / λ_min`.
    pub p_condition: f64,
    /// `‖P − P∞‖_F / ‖P‖_F`, `P∞ = vᵀ(η²D + I)v/(1−η)² · 11ᵀ` (asymptotic, `O(1−η)`).
    pub p_rank_one_rel_error: f64,
    /// Theorem 1: `‖Δθ̂ + αPḡ‖ / ‖αPḡ‖` for one full-batch step at the run's `α`.
    pub thm1_rel_error: f64,
    /// The same at `α/4` (`O(α)`: about a quarter of `thm1_rel_error`).
    pub thm1_rel_error_quarter: f64,
    /// Perron split: `‖A⁻¹ − 1vᵀ/(1−η)‖_F / ‖1vᵀ/(1−η)‖_F`.
    pub perron_rel_error: f64,
    /// Its leading-order prediction `(1−η)‖H‖_F/‖1vᵀ‖_F`.
    pub perron_predicted_rel_error: f64,
    /// `‖A⁻¹ − 1vᵀ/(1−η)‖_F` (tends to `‖H‖_F`).
    pub perron_abs_error: f64,
    /// `‖H‖_F`, the deviation matrix's norm.
    pub deviation_norm: f64,
    /// `v_min` (positive for a softmax `S`).
    pub v_min: f64,
    /// Theorem 4, first order (exact in `α`): `−(α/n)(Xᵀ1)ᵀPḡ`.
    pub thm4_first_order: f64,
    /// Theorem 4's asymptotic form `−α r∥ vᵀ(η²D+I)v ‖z‖²/(n(1−η)²)`.
    pub thm4_asymptotic: f64,
    /// Measured mean one-step change of `r∥` over minibatches of the run's sampling.
    pub thm4_measured: f64,
    /// 95% CI half-width of `thm4_measured`.
    pub thm4_measured_ci: f64,
    /// `n/b` (Corollary 2's value for distinct one-hot features, without replacement).
    pub n_over_b: f64,
    /// 1 if the training features are distinct one-hot vectors (Corollary 2 applies).
    pub distinct_one_hot: u8,
    /// Explicit ratio, closed form, with replacement.
    pub t5_exp_closed_wr: f64,
    /// Explicit ratio, Monte Carlo, with replacement.
    pub t5_exp_mc_wr: f64,
    /// Its 95% CI half-width.
    pub t5_exp_mc_wr_ci: f64,
    /// Explicit ratio, closed form, without replacement (Theorem 5).
    pub t5_exp_closed_wor: f64,
    /// Explicit ratio, Monte Carlo, without replacement.
    pub t5_exp_mc_wor: f64,
    /// Its 95% CI half-width.
    pub t5_exp_mc_wor_ci: f64,
    /// Implicit ratio, exact closed form of the linearized update (`a_i = Pr_iφ_i`), with repl.
    pub t5_imp_linear_wr: f64,
    /// Implicit ratio, Theorem 5's asymptotic form (`⟨1, r_iφ_i⟩`), with replacement.
    pub t5_imp_asym_wr: f64,
    /// Implicit ratio of the real step `Δθ̂`, Monte Carlo, with replacement.
    pub t5_imp_mc_wr: f64,
    /// Its 95% CI half-width.
    pub t5_imp_mc_wr_ci: f64,
    /// Implicit ratio, linearized closed form, without replacement.
    pub t5_imp_linear_wor: f64,
    /// Implicit ratio, Theorem 5's asymptotic form, without replacement.
    pub t5_imp_asym_wor: f64,
    /// Implicit ratio of the real step, Monte Carlo, without replacement.
    pub t5_imp_mc_wor: f64,
    /// Its 95% CI half-width.
    pub t5_imp_mc_wor_ci: f64,
    /// Corollary 3 bound `1 + (n/n')(b_max/b_min)²/b` (NaN unless `⟨1, r_iφ_i⟩` share a sign).
    pub cor3_bound: f64,
}

/// The analysis of one seed: a row per checkpoint reached, and where a run diverged.
#[derive(Debug, Clone, PartialEq)]
pub struct TheoryReport {
    /// Settings.
    pub config: TheoryConfig,
    /// Number of training samples `n` and feature dimension `k`.
    pub n: usize,
    /// Feature dimension `k`.
    pub k: usize,
    /// One row per checkpoint, ascending.
    pub rows: Vec<CheckpointRow>,
    /// The update after which the implicit run stopped being finite, if it did.
    pub implicit_diverged: Option<usize>,
    /// The update after which the explicit run stopped being finite, if it did.
    pub explicit_diverged: Option<usize>,
}

/// Draws `mc` minibatches and returns the steps `Δθ = θ(after) − θ(before)` (row-major, `mc × k`;
/// NaN rows for steps that are not finite). The minibatches are drawn in order from `rng`, the
/// steps computed in parallel: the result does not depend on the number of threads.
fn mc_steps(
    param_step: &(dyn Fn(&[f64]) -> Option<Vec<f64>> + Sync),
    data: &Dataset,
    theta: &[f64],
    b: usize,
    sampling: Sampling,
    mc: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<f64> {
    let batches: Vec<Vec<usize>> = (0..mc)
        .map(|_| {
            let mut batch = vec![0usize; b];
            draw_batch(rng, data.len(), sampling, &mut batch);
            batch
        })
        .collect();
    let steps: Vec<Vec<f64>> = batches
        .par_iter()
        .map(|batch| {
            let mut g = vec![0.0; data.k];
            minibatch_gradient(data, theta, batch, &mut g);
            param_step(&g).unwrap_or_else(|| vec![f64::NAN; data.k])
        })
        .collect();
    steps.concat()
}

/// The change of `θ̂` over one implicit SGD step with gradient `g` and rate `alpha` from `m`'s
/// parameters; `None` if the step is not finite.
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

/// Everything at one checkpoint, for the implicit model `imp` and explicit weights `theta_e`
/// (the theory's quantities on the training set, the residual norms also on the test set).
pub fn checkpoint(
    cfg: &TheoryConfig,
    problem: &Problem,
    step: usize,
    imp: &Implicit,
    theta_e: &[f64],
    rng: &mut ChaCha8Rng,
) -> CheckpointRow {
    let data = &problem.train;
    let test_norm = |th: &[f64]| norm2(&residuals(&problem.test, th)).sqrt();
    let k = data.k;
    let n = data.len();
    let nf = n as f64;
    let eta = imp.eta();
    let b = cfg.batch_size;
    let alpha = cfg.lr_implicit;
    let theta = imp.theta().to_vec();
    let r = residuals(data, &theta);
    let r_par = r.iter().sum::<f64>() / nf;
    let r_perp = r.iter().map(|x| (x - r_par).powi(2)).sum::<f64>().sqrt();
    let re = residuals(data, theta_e);

    // Theorem 1.
    let p = preconditioner(imp);
    let eig = symmetric_eigenvalues(&p, k).unwrap_or_else(|| vec![f64::NAN]);
    let (lmin, lmax) = (eig[0], eig[eig.len() - 1]);
    let full: Vec<usize> = (0..n).collect();
    let mut gbar = vec![0.0; k];
    minibatch_gradient(data, &theta, &full, &mut gbar);
    let thm1 = theorem1_rel_error(imp, &p, &gbar, alpha);
    let thm1_q = theorem1_rel_error(imp, &p, &gbar, alpha / 4.0);

    // Perron split and the rank-one limit of P.
    let ainv = resolvent_inverse(imp);
    let perron = perron_split(imp, &ainv);
    let d = softmax_curvature(imp);
    let cv: f64 = perron
        .v
        .iter()
        .zip(&d)
        .map(|(vi, di)| vi * vi * (eta * eta * di + 1.0))
        .sum();
    let p_inf = cv / (1.0 - eta).powi(2);
    let p_rank_one = p.iter().map(|x| (x - p_inf).powi(2)).sum::<f64>().sqrt() / frob(&p);

    // Theorem 4.
    let mut col_sum = vec![0.0; k];
    for i in 0..n {
        col_sum
            .iter_mut()
            .zip(data.row(i))
            .for_each(|(s, x)| *s += x);
    }
    let first_order = -alpha / nf * dot(&col_sum, &mul(&p, &gbar));
    let z2: f64 = (0..n)
        .map(|i| data.row(i).iter().sum::<f64>().powi(2))
        .sum();
    let asymptotic = -alpha * r_par * cv * z2 / (nf * (1.0 - eta).powi(2));

    // Theorem 5: closed forms.
    let a_exp = explicit_rows(data, theta_e);
    let ones = ones_rows(data, &theta);
    let a_lin = preconditioned_rows(data, &theta, &p);
    let closed = |a: &[f64], d: usize, s| second_moment_ratio(a, d, b, s);
    use Sampling::{WithReplacement as Wr, WithoutReplacement as Wor};

    // Monte Carlo: explicit and implicit steps, both samplings.
    let mc = cfg.mc_samples;
    let exp_step = |g: &[f64]| -> Option<Vec<f64>> {
        let mut e = Explicit::new(theta_e.to_vec());
        e.sgd_step(g, cfg.lr_explicit).ok()?;
        Some(e.theta().iter().zip(theta_e).map(|(a, b)| a - b).collect())
    };
    let imp_step = |g: &[f64]| implicit_step(imp, g, alpha);
    let nan = Estimate::NAN;
    let mut est = |f: &(dyn Fn(&[f64]) -> Option<Vec<f64>> + Sync), th: &[f64], s: Sampling| {
        if s == Wor && b > n {
            return (nan, Vec::new());
        }
        let steps = mc_steps(f, data, th, b, s, mc, rng);
        (ratio_estimate(&steps, k), steps)
    };
    let (e_wr, _) = est(&exp_step, theta_e, Wr);
    let (e_wor, _) = est(&exp_step, theta_e, Wor);
    let (i_wr, s_wr) = est(&imp_step, &theta, Wr);
    let (i_wor, s_wor) = est(&imp_step, &theta, Wor);
    let run_steps = match cfg.sampling {
        Wr => &s_wr,
        Wor => &s_wor,
    };
    let dpar: Vec<f64> = run_steps
        .chunks_exact(k)
        .map(|dt| dot(&col_sum, dt) / nf)
        .collect();
    let measured = if dpar.len() > 1 {
        Estimate::mean_of(&dpar)
    } else {
        nan
    };
    let mse = |r: &[f64]| norm2(r) / nf;

    CheckpointRow {
        step,
        imp_test_residual_norm: test_norm(&theta),
        exp_test_residual_norm: test_norm(theta_e),
        imp_train_mse: mse(&r),
        exp_train_mse: mse(&re),
        imp_r_par: r_par,
        imp_r_perp: r_perp,
        p_lambda_min: lmin,
        p_lambda_max: lmax,
        p_condition: lmax / lmin,
        p_rank_one_rel_error: p_rank_one,
        thm1_rel_error: thm1,
        thm1_rel_error_quarter: thm1_q,
        perron_rel_error: perron.rel_error,
        perron_predicted_rel_error: perron.predicted_rel_error,
        perron_abs_error: perron.abs_error,
        deviation_norm: perron.deviation_norm,
        v_min: perron.v.iter().copied().fold(f64::INFINITY, f64::min),
        thm4_first_order: first_order,
        thm4_asymptotic: asymptotic,
        thm4_measured: measured.estimate,
        thm4_measured_ci: measured.ci,
        n_over_b: nf / b as f64,
        distinct_one_hot: u8::from(distinct_one_hot(data)),
        t5_exp_closed_wr: closed(&a_exp, k, Wr),
        t5_exp_mc_wr: e_wr.estimate,
        t5_exp_mc_wr_ci: e_wr.ci,
        t5_exp_closed_wor: closed(&a_exp, k, Wor),
        t5_exp_mc_wor: e_wor.estimate,
        t5_exp_mc_wor_ci: e_wor.ci,
        t5_imp_linear_wr: closed(&a_lin, k, Wr),
        t5_imp_asym_wr: closed(&ones, 1, Wr),
        t5_imp_mc_wr: i_wr.estimate,
        t5_imp_mc_wr_ci: i_wr.ci,
        t5_imp_linear_wor: closed(&a_lin, k, Wor),
        t5_imp_asym_wor: closed(&ones, 1, Wor),
        t5_imp_mc_wor: i_wor.estimate,
        t5_imp_mc_wor_ci: i_wor.ci,
        cor3_bound: corollary3_bound(&ones, b).unwrap_or(f64::NAN),
    }
}

/// Follows one implicit and one explicit run on `problem` (exactly as `imprl run` does: init
/// from [`Stream::Init`], minibatches from [`Stream::Batches`], the explicit run starting at the
/// implicit init's `θ̂`) and analyzes both at every checkpoint, before the next update.
/// `progress` is told each checkpoint done.
pub fn analyze(
    cfg: &TheoryConfig,
    problem: &Problem,
    progress: &mut dyn FnMut(usize),
) -> TheoryReport {
    let data = &problem.train;
    let k = data.k;
    let mut imp = Implicit::new(draw_implicit_init(k, cfg.seed), cfg.eta);
    let mut exp = Explicit::new(imp.theta().to_vec());
    let mut rng_imp = stream(cfg.seed, Stream::Batches);
    let mut rng_exp = stream(cfg.seed, Stream::Batches);
    let mut rng_mc = stream(cfg.seed, Stream::Theory);
    let mut batch = vec![0usize; cfg.batch_size];
    let mut g = vec![0.0; k];
    let mut rows = Vec::new();
    let (mut imp_div, mut exp_div) = (None, None);
    for step in 0..=cfg.steps {
        if cfg.checkpoints.contains(&step) {
            rows.push(checkpoint(
                cfg,
                problem,
                step,
                &imp,
                exp.theta(),
                &mut rng_mc,
            ));
            progress(step);
        }
        if step == cfg.steps {
            break;
        }
        draw_batch(&mut rng_imp, data.len(), cfg.sampling, &mut batch);
        minibatch_gradient(data, imp.theta(), &batch, &mut g);
        if imp.sgd_step(&g, cfg.lr_implicit).is_err() {
            imp_div = Some(step + 1);
        }
        draw_batch(&mut rng_exp, data.len(), cfg.sampling, &mut batch);
        minibatch_gradient(data, exp.theta(), &batch, &mut g);
        if exp.sgd_step(&g, cfg.lr_explicit).is_err() {
            exp_div = Some(step + 1);
        }
        if imp_div.is_some() || exp_div.is_some() {
            break;
        }
    }
    TheoryReport {
        config: cfg.clone(),
        n: data.len(),
        k,
        rows,
        implicit_diverged: imp_div,
        explicit_diverged: exp_div,
    }
}

/// The analysis settings from run settings (`param` is ignored: both runs are made) and the
/// theory's own options, validated: the implicit run's learning rate is `settings.lr` or the
/// paper's best (SPEC §6), the explicit run's `lr_explicit` or its best; checkpoints every
/// `every` (default 50) updates and after the last; `mc` (default 1000, at least 10) minibatches
/// per Monte-Carlo estimate. Returns the implicit run's config (domain, offset, seed) as well.
pub fn resolve(
    settings: &RunSettings,
    lr_explicit: Option<f64>,
    every: Option<usize>,
    mc: Option<usize>,
) -> Result<(RunConfig, TheoryConfig), ConfigError> {
    let imp = RunSettings {
        param: Some(ParamKind::Implicit),
        ..settings.clone()
    }
    .resolve()?;
    let exp = RunSettings {
        param: Some(ParamKind::Explicit),
        lr: lr_explicit,
        ..settings.clone()
    }
    .resolve()
    .map_err(|e| match e {
        ConfigError::Invalid {
            field,
            value,
            allowed,
        } if field == "lr" => ConfigError::Invalid {
            field: "lr_explicit".into(),
            value,
            allowed,
        },
        e => e,
    })?;
    let every = every.unwrap_or(50);
    if every == 0 {
        return Err(ConfigError::invalid("every", 0, "an integer >= 1"));
    }
    let mc_samples = mc.unwrap_or(1000);
    if !(10..=10_000_000).contains(&mc_samples) {
        return Err(ConfigError::invalid(
            "mc",
            mc_samples,
            "10 <= mc <= 10000000",
        ));
    }
    let mut checkpoints: Vec<usize> = (0..=imp.steps).step_by(every).collect();
    if checkpoints.last() != Some(&imp.steps) {
        checkpoints.push(imp.steps);
    }
    let cfg = TheoryConfig {
        eta: imp.eta,
        lr_implicit: imp.lr,
        lr_explicit: exp.lr,
        seed: imp.seed,
        steps: imp.steps,
        batch_size: imp.batch_size,
        sampling: imp.sampling,
        checkpoints,
        mc_samples,
    };
    Ok((imp, cfg))
}

/// Checks that `cfg` can run on `problem`: a batch without replacement needs `b ≤ n`.
pub fn check_problem(cfg: &TheoryConfig, problem: &Problem) -> Result<(), ConfigError> {
    crate::run::check_batch(cfg.sampling, cfg.batch_size, problem)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random_rows(n: usize, d: usize, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n * d).map(|_| rng.random_range(-1.0..2.0)).collect()
    }

    /// `E‖ĝ_B‖²/‖Eĝ_B‖²` by enumerating every batch (all `b`-subsets, or all `n^b` sequences).
    fn enumerate_ratio(a: &[f64], d: usize, b: usize, sampling: Sampling) -> f64 {
        let n = a.len() / d;
        let mut mean = vec![0.0; d];
        for row in a.chunks_exact(d) {
            mean.iter_mut()
                .zip(row)
                .for_each(|(m, x)| *m += x / n as f64);
        }
        let (mut total, mut count) = (0.0, 0.0);
        let mut idx = vec![0usize; b];
        loop {
            let valid = match sampling {
                Sampling::WithReplacement => true,
                Sampling::WithoutReplacement => idx.windows(2).all(|w| w[0] < w[1]),
            };
            if valid {
                let mut g = vec![0.0; d];
                for &i in &idx {
                    g.iter_mut()
                        .zip(&a[i * d..(i + 1) * d])
                        .for_each(|(gj, x)| *gj += x / b as f64);
                }
                total += norm2(&g);
                count += 1.0;
            }
            // Next index tuple in 0..n^b.
            let mut pos = 0;
            loop {
                if pos == b {
                    return total / count / norm2(&mean);
                }
                idx[pos] += 1;
                if idx[pos] < n {
                    break;
                }
                idx[pos] = 0;
                pos += 1;
            }
        }
    }

    #[test]
    fn closed_forms_equal_exhaustive_enumeration() {
        for (n, d, b, seed) in [(5, 3, 2, 1u64), (6, 2, 3, 2), (7, 1, 4, 3), (4, 4, 4, 4)] {
            let a = random_rows(n, d, seed);
            for s in [Sampling::WithReplacement, Sampling::WithoutReplacement] {
                let exact = enumerate_ratio(&a, d, b, s);
                let closed = second_moment_ratio(&a, d, b, s);
                assert!(
                    (exact - closed).abs() < 1e-12 * exact,
                    "n={n} d={d} b={b} {s:?}: {exact} vs {closed}"
                );
            }
        }
        // A full batch without replacement has no variance.
        let a = random_rows(5, 2, 9);
        let full = second_moment_ratio(&a, 2, 5, Sampling::WithoutReplacement);
        assert!((full - 1.0).abs() < 1e-14);
        assert!(second_moment_ratio(&a, 2, 6, Sampling::WithoutReplacement).is_nan());
    }

    #[test]
    fn corollary2_is_exact_for_distinct_one_hot_features() {
        let n = 9;
        let mut data = Dataset::new(n);
        for i in 0..n {
            let mut phi = vec![0.0; n];
            phi[(i * 4) % n] = 1.0;
            data.push(&phi, i as f64 * 0.7 - 2.0);
        }
        assert!(distinct_one_hot(&data));
        let theta: Vec<f64> = (0..n).map(|j| (j as f64).sin()).collect();
        let a = explicit_rows(&data, &theta);
        for b in 1..=n {
            let r = second_moment_ratio(&a, n, b, Sampling::WithoutReplacement);
            assert!((r - n as f64 / b as f64).abs() < 1e-12, "b={b}: {r}");
        }
        data.push(&[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], 1.0);
        assert!(!distinct_one_hot(&data));
    }

    #[test]
    fn corollary3_bounds_the_asymptotic_ratio() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for _ in 0..200 {
            let n = rng.random_range(2..30);
            let b = rng.random_range(1..=n);
            let ones: Vec<f64> = (0..n)
                .map(|_| {
                    if rng.random_bool(0.2) {
                        0.0
                    } else {
                        rng.random_range(0.1..3.0)
                    }
                })
                .collect();
            if ones.iter().all(|x| *x == 0.0) {
                continue;
            }
            let bound = corollary3_bound(&ones, b).expect("one sign");
            for s in [Sampling::WithReplacement, Sampling::WithoutReplacement] {
                let r = second_moment_ratio(&ones, 1, b, s);
                assert!(r <= bound * (1.0 + 1e-12), "{r} > {bound}");
            }
        }
        assert!(corollary3_bound(&[1.0, -1.0], 1).is_none());
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

    #[test]
    fn mean_and_ratio_estimates_are_consistent() {
        // Deterministic two-point distribution: Δ = (1, 0) or (3, 0), equally likely:
        // E‖Δ‖² = 5, ‖EΔ‖² = 4.
        let samples: Vec<f64> = (0..20_000)
            .flat_map(|i| if i % 2 == 0 { [1.0, 0.0] } else { [3.0, 0.0] })
            .collect();
        let e = ratio_estimate(&samples, 2);
        assert!((e.estimate - 1.25).abs() < 1e-3, "{e:?}");
        assert!(e.ci > 0.0 && e.ci < 0.02);
        let m = Estimate::mean_of(&[1.0, 3.0, 1.0, 3.0]);
        assert_eq!(m.estimate, 2.0);
        assert!(m.covers(2.5, 1.0) && !m.covers(5.0, 1.0));
    }
}
