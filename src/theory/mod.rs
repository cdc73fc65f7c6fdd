//! The theory's quantities measured along real training runs (SPEC §2).
//!
//! The entry point is [`resolve`]: run settings in, the analysis that applies to their model out
//! ([`TheoryPlan`]: the paper's, below, or Theorem 1 generalized for the model family,
//! [`family_analysis`]), run by [`TheoryPlan::analyze`] into a report with its text and files
//! ([`TheoryOutcome`]).
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

mod analysis;
mod family;
pub mod output;
mod perron;
mod plan;
mod theorem4;
mod theorem5;

pub use crate::stats::{Estimate, Z95};
pub use analysis::{analyze, checkpoint};
pub use family::{
    family_analysis, family_preconditioner, family_theorem1_rel_error, FamilyCheckpoint,
};
pub use perron::{
    implicit_step, perron_split, preconditioner, resolvent_inverse, softmax_curvature,
    stationary_distribution, symmetric_eigenvalues, theorem1_rel_error, PerronSplit,
};
pub use plan::{
    check_problem, resolve, resolve_paper, FamilyReport, TheoryError, TheoryFiles, TheoryOutcome,
    TheoryPlan, THEORY_CSV, THEORY_FAMILY_CSV,
};
pub use theorem4::{measured_change, ones_direction, theorem4, Theorem4};
pub use theorem5::{
    corollary3_bound, distinct_one_hot, explicit_rows, ones_rows, preconditioned_rows,
    ratio_estimate, residuals, second_moment_ratio,
};

use crate::data::dot;
use crate::train::Sampling;
use serde::Serialize;

fn norm2(x: &[f64]) -> f64 {
    dot(x, x)
}

fn frob(m: &[f64]) -> f64 {
    norm2(m).sqrt()
}

/// `y = M x` for a row-major square `M`.
fn mul(m: &[f64], x: &[f64]) -> Vec<f64> {
    let k = x.len();
    m.chunks_exact(k).map(|row| dot(row, x)).collect()
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
    /// [`crate::rng::Stream::Theory`]).
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
