//! The implicit parameterization: a Markov reward chain `θ̂ = (I − ησ(F))⁻¹w` (SPEC §1).

use super::{all_finite, ImplicitInit, Parameterization, StepError};
use crate::linalg::{
    matvec, softmax, softmax_rows, Resolvent, ResolventLu, SolveError, SolveStats, SolverKind,
};
use multiversion::multiversion;

/// Implicit parameters `ψ = (w, F)` with `S = σ(F)` (row softmax), `A = I − ηS` and the value
/// weights `θ̂ = A⁻¹w`, the root of `h(θ; w, F) = w + ηSθ − θ`.
///
/// Gradients come from the implicit function theorem (SPEC §1): with the adjoint `u = A⁻ᵀg`,
/// `∂L/∂w = u` and `∂L/∂F_kj = η u_k S_kj (θ̂_j − (Sθ̂)_k)`. The same [`Resolvent`] serves
/// the forward and the adjoint solve; `A⁻¹` is never formed.
#[derive(Clone)]
pub struct Implicit {
    k: usize,
    eta: f64,
    w: Vec<f64>,
    f: Vec<f64>,
    s: Vec<f64>,
    theta: Vec<f64>,
    s_theta: Vec<f64>,
    /// Adjoint `u = A⁻ᵀg` of the last update.
    u: Vec<f64>,
    /// `Sᵀu`.
    s_u: Vec<f64>,
    g: Vec<f64>,
    solver: Resolvent,
}

/// The gradient `∇_ψ L = (∂L/∂w, ∂L/∂F)` of the implicit parameterization.
#[derive(Debug, Clone, PartialEq)]
pub struct ImplicitGrad {
    /// `∂L/∂w = u = A⁻ᵀg`.
    pub dw: Vec<f64>,
    /// `∂L/∂F`, `k × k` row-major.
    pub df: Vec<f64>,
}

impl Implicit {
    /// The model with parameters `init` and internal discount `eta ∈ [0, 1)`, solved by LU.
    pub fn new(init: ImplicitInit, eta: f64) -> Self {
        Self::with_solver(init, eta, SolverKind::Lu)
    }

    /// The model with parameters `init`, internal discount `eta`, and the given solver.
    ///
    /// If `θ̂ = A⁻¹w` cannot be solved to its tolerance at these parameters (only when `A` is
    /// singular or nearly so, e.g. `η ≥ 1`), `θ̂` is NaN: a run from it diverges at step 0.
    pub fn with_solver(init: ImplicitInit, eta: f64, kind: SolverKind) -> Self {
        let k = init.k;
        let mut s = vec![0.0; k * k];
        softmax_rows(&init.f, k, &mut s);
        let solver = Resolvent::new(&s, k, eta, kind);
        let mut me = Self {
            k,
            eta,
            w: init.w,
            f: init.f,
            s,
            theta: vec![0.0; k],
            s_theta: vec![0.0; k],
            u: vec![0.0; k],
            s_u: vec![0.0; k],
            g: vec![0.0; k],
            solver,
        };
        if me.solve_forward().is_err() {
            me.theta.fill(f64::NAN);
        }
        me
    }

    /// A copy of the model at the same parameters, sharing nothing, whose solver (with its
    /// current factorization, if fresh) goes on as `kind`: with `gmres`, a step from the copy
    /// costs no factorization at k = 400.
    pub fn fork(&self, kind: SolverKind) -> Self {
        let mut copy = self.clone();
        copy.solver.switch_to(kind);
        copy
    }

    /// Feature dimension `k`.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Internal discount `η`.
    pub fn eta(&self) -> f64 {
        self.eta
    }

    /// Rewards `w`.
    pub fn w(&self) -> &[f64] {
        &self.w
    }

    /// Logits `F` (`k × k`, row-major).
    pub fn f(&self) -> &[f64] {
        &self.f
    }

    /// Transition matrix `S = σ(F)` (`k × k`, row-major, row-stochastic).
    pub fn s(&self) -> &[f64] {
        &self.s
    }

    /// `Sθ̂`.
    pub fn s_theta(&self) -> &[f64] {
        &self.s_theta
    }

    /// The solver's work so far.
    pub fn solve_stats(&self) -> SolveStats {
        self.solver.stats()
    }

    /// A fresh LU factorization of the current `A = I − ηS`.
    pub fn factorization(&self) -> ResolventLu {
        ResolventLu::new(&self.s, self.k, self.eta)
    }

    /// Overwrites `x` with `A⁻¹x` for the current parameters (to the relative residual
    /// [`crate::linalg::REFINE_TOL`], else an error).
    pub fn solve(&mut self, x: &mut [f64]) -> Result<(), SolveError> {
        self.solve_from_zero(x, false)
    }

    /// Overwrites `x` with `A⁻ᵀx` for the current parameters (to the relative residual
    /// [`crate::linalg::REFINE_TOL`], else an error).
    pub fn solve_transpose(&mut self, x: &mut [f64]) -> Result<(), SolveError> {
        self.solve_from_zero(x, true)
    }

    fn solve_from_zero(&mut self, x: &mut [f64], transpose: bool) -> Result<(), SolveError> {
        let b = x.to_vec();
        x.fill(0.0);
        let mut sx = vec![0.0; x.len()];
        self.solver.solve(&self.s, &b, x, &mut sx, transpose)
    }

    /// Sets new parameters `(w, F)` and recomputes `S` and `θ̂` (an error if `θ̂` cannot be
    /// solved to its tolerance).
    #[track_caller]
    pub fn set_params(&mut self, w: &[f64], f: &[f64]) -> Result<(), SolveError> {
        self.w.copy_from_slice(w);
        self.f.copy_from_slice(f);
        self.refresh()
    }

    /// `∇_ψ L` for `g = ∇_θ L` at the current `θ̂`, by the implicit function theorem (an error
    /// if the adjoint `u = A⁻ᵀg` cannot be solved to its tolerance).
    pub fn gradient(&mut self, g: &[f64]) -> Result<ImplicitGrad, SolveError> {
        let k = self.k;
        let mut u = g.to_vec();
        self.solve_transpose(&mut u)?;
        let mut df = vec![0.0; k * k];
        for (kk, (row, srow)) in df
            .chunks_exact_mut(k)
            .zip(self.s.chunks_exact(k))
            .enumerate()
        {
            let c = self.eta * u[kk];
            let st = self.s_theta[kk];
            for ((d, &skj), &tj) in row.iter_mut().zip(srow).zip(&self.theta) {
                *d = c * skj * (tj - st);
            }
        }
        Ok(ImplicitGrad { dw: u, df })
    }

    /// After a change of `F` (and `w`): `S = σ(F)`, the solver's update and `θ̂` (warm-started
    /// from the previous `θ̂`).
    fn refresh(&mut self) -> Result<(), SolveError> {
        softmax_rows(&self.f, self.k, &mut self.s);
        self.solver.update(&self.s);
        self.solve_forward()
    }

    /// `θ̂ = A⁻¹w` and `Sθ̂` at the current `S`, warm-started from the current `θ̂`.
    fn solve_forward(&mut self) -> Result<(), SolveError> {
        matvec(&self.s, self.k, &self.theta, &mut self.s_theta);
        self.solver
            .solve(&self.s, &self.w, &mut self.theta, &mut self.s_theta, false)
    }
}

impl Parameterization for Implicit {
    fn theta(&self) -> &[f64] {
        &self.theta
    }

    fn as_implicit(&self) -> Option<&Implicit> {
        Some(self)
    }

    /// `w ← w − αu`, `F_kj ← F_kj − α η u_k S_kj (θ̂_j − (Sθ̂)_k)` with `u = A⁻ᵀg`, fused with
    /// the softmax `S = σ(F)` of the new logits in one pass, then `θ̂` at the new parameters.
    ///
    /// A solve (adjoint or forward) that cannot meet its tolerance is
    /// [`StepError::SolveFailed`]; non-finite parameters or `θ̂` are [`StepError::NonFinite`].
    fn sgd_step(&mut self, g: &[f64], lr: f64) -> Result<(), StepError> {
        self.g.copy_from_slice(g);
        // The right-hand side is a new minibatch gradient every step: the previous adjoint is no
        // better a start than zero (measured).
        self.u.fill(0.0);
        self.s_u.fill(0.0);
        self.solver
            .solve(&self.s, &self.g, &mut self.u, &mut self.s_u, true)?;
        logit_step(
            &mut self.f,
            &mut self.s,
            &self.u,
            &self.theta,
            &self.s_theta,
            lr * self.eta,
        );
        for (wi, ui) in self.w.iter_mut().zip(&self.u) {
            *wi -= lr * ui;
        }
        // A non-finite logit makes its row of S, and so θ̂, non-finite: checking θ̂ suffices.
        if !all_finite(&self.w) {
            return Err(StepError::NonFinite);
        }
        self.solver.update(&self.s);
        let solved = self.solve_forward();
        if !all_finite(&self.theta) {
            return Err(StepError::NonFinite);
        }
        Ok(solved?)
    }
}

/// `F_kj ← F_kj − c u_k S_kj (θ̂_j − (Sθ̂)_k)` with `c = αη` (the SGD step on the logits), then
/// `S_k = σ(F_k)` of the new row: one pass over `F` and `S` instead of two.
#[multiversion(targets("x86_64+avx2+fma", "x86_64+avx", "aarch64+neon"))]
fn logit_step(f: &mut [f64], s: &mut [f64], u: &[f64], theta: &[f64], s_theta: &[f64], c: f64) {
    let k = theta.len();
    for (kk, (frow, srow)) in f.chunks_exact_mut(k).zip(s.chunks_exact_mut(k)).enumerate() {
        let cu = c * u[kk];
        let st = s_theta[kk];
        for ((fkj, &skj), &tj) in frow.iter_mut().zip(srow.iter()).zip(theta) {
            *fkj -= cu * skj * (tj - st);
        }
        softmax(frow, srow);
    }
}

/// Building the model from given parameters and its discount gradient (for callers outside
/// training, such as the Python package's implicit layer).
impl Implicit {
    /// The model at parameters `w` (length `k`) and logits `F` (`k × k`, row-major) with internal
    /// discount `η`, solved by LU: `θ̂ = (I − ησ(F))⁻¹w` (SPEC §1), or the error of a solve that
    /// cannot meet its tolerance. Lengths must agree (`f.len() == w.len()²`); the caller checks.
    pub fn from_params(w: Vec<f64>, f: Vec<f64>, eta: f64) -> Result<Self, SolveError> {
        let k = w.len();
        let mut me = Self::new(ImplicitInit { k, w, f }, eta);
        if !all_finite(&me.theta) {
            // `new` keeps a failed solve as NaN: solve again from zero for its error.
            me.theta.fill(0.0);
            me.solve_forward()?;
        }
        Ok(me)
    }

    /// `∂L/∂η = uᵀ(Sθ̂)` at the current `θ̂` for the adjoint `u = A⁻ᵀg` (from `A = I − ηS`:
    /// `∂θ̂/∂η = A⁻¹Sθ̂`; SPEC §8.2 with one pseudo-action).
    pub fn eta_gradient(&self, u: &[f64]) -> f64 {
        u.iter().zip(&self.s_theta).map(|(a, b)| a * b).sum()
    }
}
