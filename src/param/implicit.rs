//! The implicit parameterization: a Markov reward chain `θ̂ = (I − ησ(F))⁻¹w` (SPEC §1).

use super::grad_mode::{neumann_adjoint, unroll_theta, GradMode, Model, Unrolled};
use super::reduce::Reduce;
use super::{
    all_finite, ImplicitInit, ImplicitLayer, InexactRecord, ParamArray, Parameterization, StepError,
};
use crate::linalg::{
    logit_step, matvec, softmax_rows, Resolvent, ResolventLu, SolveError, SolveStats, SolverKind,
};
use crate::optim::Optimizer;
use std::borrow::Cow;

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
    /// `∂L/∂F` of the last step (filled only for optimizers other than plain SGD).
    df: Vec<f64>,
    solver: Resolvent,
    /// How the gradient is computed (SPEC §8.3).
    mode: GradMode,
    /// The unrolled modes' trajectory to `θ_K` (empty otherwise).
    unrolled: Unrolled,
    /// Updates with an unconverged solve (the published solvers only).
    inexact_updates: u64,
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
        let mut me = Self::unsolved(init, eta, s, solver);
        if me.solve_forward().is_err() {
            me.theta.fill(f64::NAN);
        }
        me
    }

    /// The model at `init` with `S = σ(F)` and `solver`, `θ = 0`, not solved.
    fn unsolved(init: ImplicitInit, eta: f64, s: Vec<f64>, solver: Resolvent) -> Self {
        let k = init.k;
        Self {
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
            df: Vec::new(),
            solver,
            mode: GradMode::Ift,
            unrolled: Unrolled::default(),
            inexact_updates: 0,
        }
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

    /// The gradient mode (SPEC §8.3).
    pub fn grad_mode(&self) -> GradMode {
        self.mode
    }

    /// Switches the gradient mode (SPEC §8.3): the unrolled modes replace `θ̂` by `θ_K`, `K`
    /// steps from `θ_0 = 0`; leaving them solves `θ̂` again (NaN if it cannot be solved).
    pub fn set_mode(&mut self, mode: GradMode) {
        let was_unrolled = self.mode.is_unrolled();
        self.mode = mode;
        if mode.is_unrolled() {
            self.theta.fill(0.0);
            // A non-finite θ_K stays the output: a run from it diverges at its first step.
            let _ = self.unroll_forward();
        } else if was_unrolled && self.solve_forward().is_err() {
            self.theta.fill(f64::NAN);
        }
    }

    /// `θ ← θ_K` at the current parameters, from 0 or from the current `θ` by the mode
    /// ([`unroll_theta`], SPEC §8.3).
    fn unroll_forward(&mut self) -> Result<(), StepError> {
        let mut unrolled = std::mem::take(&mut self.unrolled);
        let mut theta = std::mem::take(&mut self.theta);
        let done = unroll_theta(self.mode, &self.model(), &mut unrolled, &mut theta);
        (self.unrolled, self.theta) = (unrolled, theta);
        done
    }

    /// One SGD step of an unrolled mode: `ψ ← ψ − α ∂L(θ_K)/∂ψ` by reverse mode through the
    /// stored trajectory, `S = σ(F)`, then `θ_K` at the new parameters, from 0 (`unroll`) or
    /// from the previous `θ_K` (`unroll-warm`). No solve: the solver is left as it was.
    fn unrolled_step(&mut self, g: &[f64], opt: &mut Optimizer) -> Result<(), StepError> {
        let grad = self.unrolled.backward(&self.model(), g);
        opt.update(0, &mut self.w, &grad.dw);
        opt.update(1, &mut self.f, &grad.df);
        if !all_finite(&self.w) {
            return Err(StepError::NonFinite);
        }
        softmax_rows(&self.f, self.k, &mut self.s);
        self.unroll_forward()
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
    /// `θ̂`, or `θ_K` in the unrolled modes (SPEC §8.3).
    fn theta(&self) -> &[f64] {
        &self.theta
    }

    fn set_grad_mode(&mut self, mode: GradMode) {
        self.set_mode(mode);
    }

    fn params(&self) -> Vec<ParamArray<'_>> {
        let k = self.k;
        vec![
            ParamArray::new("w", &[k], &self.w),
            ParamArray::new("logits", &[k, k], &self.f),
            ParamArray::new("eta", &[], std::slice::from_ref(&self.eta)),
        ]
    }

    fn layer(&self) -> Option<&dyn ImplicitLayer> {
        Some(self)
    }

    /// One optimizer step with `∂L/∂w = u` (slot 0) and
    /// `∂L/∂F_kj = η u_k S_kj (θ̂_j − (Sθ̂)_k)` (slot 1), `u = A⁻ᵀg`, then `S = σ(F)` and `θ̂`
    /// at the new parameters. Plain SGD, `w ← w − αu`, `F_kj ← F_kj − α η u_k S_kj (θ̂_j −
    /// (Sθ̂)_k)`, is fused with the softmax of the new logits and the product `Sθ̂` that warm-starts the
    /// forward solve in one pass ([`logit_step`]); other optimizers get
    /// `∂L/∂F` in a buffer and the rows are softmaxed after their update.
    ///
    /// A solve (adjoint or forward) that cannot meet its tolerance is
    /// [`StepError::SolveFailed`]; non-finite parameters or `θ̂` are [`StepError::NonFinite`].
    ///
    /// With the published solvers (`solver = published`) both solves return what they reached;
    /// an update with an unconverged one is counted ([`Parameterization::inexact_solves`]).
    fn step(&mut self, g: &[f64], opt: &mut Optimizer) -> Result<(), StepError> {
        let before = self.solver.inexact().map(|r| r.total());
        let done = self.solve_step(g, opt);
        if let (Some(before), Some(now)) = (before, self.solver.inexact()) {
            if now.total() > before {
                self.inexact_updates += 1;
            }
        }
        done
    }

    fn inexact_solves(&self) -> Option<InexactRecord> {
        self.solver.inexact().map(|r| InexactRecord {
            updates: self.inexact_updates,
            max_residual: r.max_residual,
        })
    }
}

impl Implicit {
    /// [`Parameterization::step`] but for the record of inexact solves.
    fn solve_step(&mut self, g: &[f64], opt: &mut Optimizer) -> Result<(), StepError> {
        if self.mode.is_unrolled() {
            return self.unrolled_step(g, opt);
        }
        self.g.copy_from_slice(g);
        if let GradMode::Truncated(terms) = self.mode {
            self.u = neumann_adjoint(&self.model(), &self.pi(), g, terms);
        } else {
            // The right-hand side is a new minibatch gradient every step: the previous adjoint
            // is no better a start than zero (measured).
            self.u.fill(0.0);
            self.s_u.fill(0.0);
            self.solver
                .solve(&self.s, &self.g, &mut self.u, &mut self.s_u, true)?;
        }
        if let Some(lr) = opt.sgd_lr() {
            logit_step(
                &mut self.f,
                &mut self.s,
                &self.u,
                &self.theta,
                &mut self.s_theta,
                lr * self.eta,
            );
        } else {
            let k = self.k;
            self.df.resize(k * k, 0.0);
            logit_gradient(
                &mut self.df,
                &self.s,
                &self.u,
                &self.theta,
                &self.s_theta,
                self.eta,
            );
            opt.update(1, &mut self.f, &self.df);
            softmax_rows(&self.f, k, &mut self.s);
            matvec(&self.s, k, &self.theta, &mut self.s_theta);
        }
        opt.update(0, &mut self.w, &self.u);
        // A non-finite logit makes its row of S, and so θ̂, non-finite: checking θ̂ suffices.
        if !all_finite(&self.w) {
            return Err(StepError::NonFinite);
        }
        self.solver.update(&self.s);
        // `s_theta` holds the warm start's product `Sθ̂` at the new `S` (from `logit_step`, or
        // the product above).
        let solved = self
            .solver
            .solve(&self.s, &self.w, &mut self.theta, &mut self.s_theta, false);
        if !all_finite(&self.theta) {
            return Err(StepError::NonFinite);
        }
        Ok(solved?)
    }
}

/// `∂L/∂F_kj = η u_k S_kj (θ̂_j − (Sθ̂)_k)` (SPEC §1) into `df` (`k × k`, row-major).
fn logit_gradient(df: &mut [f64], s: &[f64], u: &[f64], theta: &[f64], s_theta: &[f64], eta: f64) {
    let k = theta.len();
    for (kk, (row, srow)) in df.chunks_exact_mut(k).zip(s.chunks_exact(k)).enumerate() {
        let c = eta * u[kk];
        let st = s_theta[kk];
        for ((d, &skj), &tj) in row.iter_mut().zip(srow).zip(theta) {
            *d = c * skj * (tj - st);
        }
    }
}

/// Building the model from given parameters and its discount gradient (for callers outside
/// training, such as the Python package's implicit layer).
impl Implicit {
    /// As [`Implicit::from_params`], solved by warm-started GMRES instead of LU: from `start`
    /// (`θ_0`, length `k`; 0 when `None`), right-Jacobi preconditioned, to the same relative
    /// residual [`crate::linalg::REFINE_TOL`], with no factorization unless GMRES fails (then
    /// LU). Its adjoint solves `Aᵀu = g` the same way, from 0. For a model built for one
    /// forward and one backward solve from a good start (the JAX layer's `solver="gmres"`):
    /// O(k²) per GMRES iteration against the factorization's O(k³). θ̂ and the gradients agree
    /// with [`Implicit::from_params`]'s to the tolerance, not bit for bit.
    pub fn from_params_iterative(
        w: Vec<f64>,
        f: Vec<f64>,
        eta: f64,
        start: Option<&[f64]>,
    ) -> Result<Self, SolveError> {
        let k = w.len();
        let mut s = vec![0.0; k * k];
        softmax_rows(&f, k, &mut s);
        let solver = Resolvent::unfactorized(k, eta);
        let mut me = Self::unsolved(ImplicitInit { k, w, f }, eta, s, solver);
        if let Some(start) = start {
            me.theta.copy_from_slice(start);
        }
        me.solve_forward()?;
        Ok(me)
    }

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
}

/// The paper's model as the implicit layer: one pseudo-action, the identity reduction, one `η`.
impl ImplicitLayer for Implicit {
    fn model(&self) -> Model<'_> {
        Model {
            k: self.k,
            m: 1,
            eta: std::slice::from_ref(&self.eta),
            w: &self.w,
            s: &self.s,
            reduce: Reduce::Max,
            tau: 1.0,
        }
    }

    fn pi(&self) -> Cow<'_, [f64]> {
        Cow::Owned(vec![1.0; self.k])
    }

    fn sa_theta(&self) -> &[f64] {
        &self.s_theta
    }

    fn adjoint(&mut self, g: &[f64]) -> Result<Vec<f64>, SolveError> {
        if let GradMode::Truncated(terms) = self.mode {
            return Ok(neumann_adjoint(&self.model(), &self.pi(), g, terms));
        }
        let mut u = g.to_vec();
        self.solve_transpose(&mut u)?;
        Ok(u)
    }

    fn clone_layer(&self) -> Box<dyn ImplicitLayer> {
        Box::new(self.clone())
    }
}
