//! What a model of the family is (SPEC §8.1, §8.2), and why its forward solve can fail.

use super::reduce::{LearnEta, Reduce};
use crate::linalg::SolveError;

/// What the model is, beyond its feature dimension and seed: the settings `eta`, `actions`,
/// `reduce`, `temperature` and `learn_eta` (SPEC §8.1, §8.2).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelSpec {
    /// Internal discount `η` (its starting value `η₀` when learned).
    pub eta: f64,
    /// Number of pseudo-actions `m ≥ 1`.
    pub actions: usize,
    /// The Bellman reduction over pseudo-actions.
    pub reduce: Reduce,
    /// Temperature `τ > 0` of [`Reduce::LogSumExp`].
    pub temperature: f64,
    /// Whether (and how finely) `η` is learned.
    pub learn_eta: LearnEta,
    /// The learning rate of a learned `η`'s `ρ` as a factor of the optimizer's (1: the same).
    pub eta_lr_factor: f64,
}

impl ModelSpec {
    /// The paper's model (SPEC §1): one pseudo-action, fixed `η`.
    pub fn singleton(eta: f64) -> Self {
        Self {
            eta,
            actions: 1,
            reduce: Reduce::Max,
            temperature: 1.0,
            learn_eta: LearnEta::None,
            eta_lr_factor: 1.0,
        }
    }

    /// Whether this is the paper's Markov reward chain (SPEC §1): `m = 1` (where both
    /// reductions are the identity) and a fixed `η`. Such a model is run by
    /// [`super::Implicit`], bit for bit as before the family existed.
    pub fn is_singleton(&self) -> bool {
        self.actions == 1 && self.learn_eta == LearnEta::None
    }
}

/// Why the fixed point `θ = reduce Q(θ)` could not be found.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum FixedPointError {
    /// Newton's method (policy iteration for `max`) did not reach the tolerance within its
    /// iteration cap.
    #[error(
        "the fixed point θ = reduce Q(θ) was not reached in {iterations} Newton (policy-iteration) steps (residual ‖θ − reduce Q(θ)‖₂ = {residual:.3e}, tolerance {tol:.3e})"
    )]
    NoConvergence {
        /// Steps taken.
        iterations: usize,
        /// `‖θ − reduce Q(θ)‖₂` at the last iterate.
        residual: f64,
        /// `REFINE_TOL·‖b‖₂`.
        tol: f64,
    },
    /// A linear solve with `A = I − J` failed.
    #[error(transparent)]
    Solve(#[from] SolveError),
}
