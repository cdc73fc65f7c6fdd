//! The implicit model family with `m` pseudo-actions, a `max` or `logsumexp` Bellman reduction
//! and an optionally learned discount (SPEC §8.1, §8.2).

use super::grad_mode::{neumann_adjoint, GradMode, Model, ModelGrad, Unrolled};
use super::reduce::{logit, reduce_into, sigmoid, LearnEta, Reduce, ReduceStep};
pub use super::spec::{FixedPointError, ModelSpec};
use super::{all_finite, FamilyInit, ImplicitLayer, ParamArray, Parameterization, StepError};
use crate::linalg::REFINE_TOL;
use crate::linalg::{
    dispatched, matvec, norm, softmax, softmax_each_row, Resolvent, ResolventLu, SolveError,
    SolverKind,
};
use crate::optim::Optimizer;
use std::borrow::Cow;

mod build;
mod grad;

/// At most this many Newton (policy-iteration) steps per forward solve before it is an error.
pub const MAX_FIXED_POINT_ITERS: usize = 100;

/// `∂L/∂ρ` of a learned discount `η = σ(ρ)` from `∂L/∂η_{ka}` (SPEC §8.2): per state and
/// pseudo-action `∂L/∂η_{ka}·η_{ka}(1 − η_{ka})`; for one learned `η`, `(Σ_{ka} ∂L/∂η_{ka})·
/// η(1 − η)`; nothing when `η` is fixed.
pub(super) fn rho_gradient(learn: LearnEta, eta: &[f64], deta: &[f64]) -> Vec<f64> {
    match learn {
        LearnEta::None => Vec::new(),
        LearnEta::Scalar => {
            let e = eta[0];
            vec![deta.iter().sum::<f64>() * e * (1.0 - e)]
        }
        LearnEta::PerStateAction => deta
            .iter()
            .zip(eta)
            .map(|(d, e)| d * e * (1.0 - e))
            .collect(),
    }
}

/// The model family's gradient buffers of an update (SPEC §8.1, §8.2), in the layouts of its
/// parameters.
#[derive(Debug, Clone, PartialEq, Default)]
struct FamilyGrad {
    /// `∂L/∂w_{ka} = u_k π_{ka}` (`k × m`).
    pub dw: Vec<f64>,
    /// `∂L/∂F_{kaj} = η_{ka} u_k π_{ka} S_{a,kj}(θ̂_j − (S_aθ̂)_k)` (`k × m × k`).
    pub df: Vec<f64>,
    /// `∂L/∂η_{ka} = u_k π_{ka}(S_aθ̂)_k` (`k × m`).
    pub deta: Vec<f64>,
    /// `∂L/∂ρ` ([`rho_gradient`]): empty (fixed `η`), one entry, or `k × m`.
    pub drho: Vec<f64>,
}

/// The implicit model with `m` pseudo-actions (SPEC §8.1): `S_a = σ(F_{·a·})`,
/// `Q(θ)_{ka} = w_{ka} + η_{ka}(S_aθ)_k`, value weights `θ̂ = reduce_a Q(θ̂)`, and
/// `η_{ka} = σ(ρ)` when the discount is learned (SPEC §8.2).
///
/// The forward solve is Newton's method on `θ − reduce Q(θ) = 0`, whose Jacobian is
/// `A = I − J`, `J = Σ_a diag(π_{·a}) diag(η_{·a}) S_a` (for `max` this is policy iteration:
/// `π` greedy, each step the exact evaluation of `π`), warm-started from the previous `θ̂`; each
/// step solves `(I − J)δ = reduce Q(θ) − θ` with the [`Resolvent`] of `J` (its `η` is 1: the
/// discounts are folded into `J`, whose rows sum to at most `max η < 1`). It stops when
/// `‖θ − reduce Q(θ)‖₂ ≤ REFINE_TOL·‖b‖₂`, `b = reduce Q(θ) − Jθ` (for `m = 1`, `b = w`:
/// §1's criterion).
#[derive(Clone)]
pub struct ImplicitFamily {
    k: usize,
    m: usize,
    reduce: Reduce,
    tau: f64,
    learn: LearnEta,
    /// The learning rate of `ρ` as a factor of the optimizer's (SPEC §8.2).
    eta_lr_factor: f64,
    w: Vec<f64>,
    f: Vec<f64>,
    s: Vec<f64>,
    rho: Vec<f64>,
    /// `η_{ka}` (`k × m`).
    eta: Vec<f64>,
    /// Whether a fixed `η` was given per state and pseudo-action
    /// ([`ImplicitFamily::from_params_with`]): then it is a `k × m` parameter, not a scalar.
    eta_per_state_action: bool,
    theta: Vec<f64>,
    /// `(S_aθ)_k` (`k × m`).
    sa_theta: Vec<f64>,
    /// `Q(θ)` then, after the reduction, `π` (`k × m`).
    q: Vec<f64>,
    pi: Vec<f64>,
    /// `J` of the solver's current matrix and a candidate (`k × k`).
    j: Vec<f64>,
    j_next: Vec<f64>,
    scratch: [Vec<f64>; 3],
    grad: FamilyGrad,
    max_iters: usize,
    newton_steps: u64,
    solver: Resolvent,
    /// How the gradient is computed (SPEC §8.3).
    mode: GradMode,
    /// The unrolled modes' trajectory to `θ_K` (empty otherwise).
    unrolled: Unrolled,
}

impl ImplicitFamily {
    /// The model at `init` with the discount, reduction and temperature of `spec`, solved by
    /// `kind`. If its fixed point cannot be found, `θ̂` is NaN (a run from it diverges at once).
    pub fn new(init: FamilyInit, spec: &ModelSpec, kind: SolverKind) -> Self {
        let mut me = Self::unsolved(init, spec, kind);
        me.refresh_eta();
        if me.solve_forward().is_err() {
            me.theta.fill(f64::NAN);
        }
        me
    }

    /// The model at `init` as [`ImplicitFamily::new`] builds it, `θ = 0`, before its forward
    /// solve (and before `η = σ(ρ)` of a learned discount).
    fn unsolved(init: FamilyInit, spec: &ModelSpec, kind: SolverKind) -> Self {
        let (k, m) = (init.k, init.m);
        let rho = match spec.learn_eta {
            LearnEta::None => Vec::new(),
            LearnEta::Scalar => vec![logit(spec.eta)],
            LearnEta::PerStateAction => vec![logit(spec.eta); k * m],
        };
        let mut s = vec![0.0; k * m * k];
        softmax_each_row(&init.f, k, &mut s);
        let j = vec![0.0; k * k];
        let solver = Resolvent::new(&j, k, 1.0, kind);
        Self {
            k,
            m,
            reduce: spec.reduce,
            tau: spec.temperature,
            learn: spec.learn_eta,
            eta_lr_factor: spec.eta_lr_factor,
            w: init.w,
            f: init.f,
            s,
            rho,
            eta: vec![spec.eta; k * m],
            eta_per_state_action: false,
            theta: vec![0.0; k],
            sa_theta: vec![0.0; k * m],
            q: vec![0.0; k * m],
            pi: vec![0.0; k * m],
            j,
            j_next: vec![0.0; k * k],
            scratch: [vec![0.0; k], vec![0.0; k], vec![0.0; k]],
            grad: FamilyGrad {
                dw: vec![0.0; k * m],
                df: vec![0.0; k * m * k],
                deta: vec![0.0; k * m],
                drho: Vec::new(),
            },
            max_iters: MAX_FIXED_POINT_ITERS,
            newton_steps: 0,
            solver,
            mode: GradMode::Ift,
            unrolled: Unrolled::default(),
        }
    }

    /// Feature dimension `k`.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Number of pseudo-actions `m`.
    pub fn actions(&self) -> usize {
        self.m
    }

    /// The reduction and its temperature `τ`.
    pub fn reduce(&self) -> (Reduce, f64) {
        (self.reduce, self.tau)
    }

    /// Rewards `w` (`k × m`).
    pub fn w(&self) -> &[f64] {
        &self.w
    }

    /// Logits `F` (`k × m × k`).
    pub fn f(&self) -> &[f64] {
        &self.f
    }

    /// Transition matrices `S_a = σ(F_{·a·})` in `F`'s layout (each row stochastic).
    pub fn s(&self) -> &[f64] {
        &self.s
    }

    /// The discount's logits `ρ` (empty when `η` is fixed).
    pub fn rho(&self) -> &[f64] {
        &self.rho
    }

    /// `η_{ka}` (`k × m`).
    pub fn eta(&self) -> &[f64] {
        &self.eta
    }

    /// `J = Σ_a diag(π_{·a}) diag(η_{·a}) S_a` at `θ̂` (`k × k`), so that `A = I − J` (SPEC §8.3).
    pub fn jacobian(&self) -> &[f64] {
        &self.j
    }

    /// Newton (policy-iteration) steps taken by all forward solves so far.
    pub fn newton_steps(&self) -> u64 {
        self.newton_steps
    }

    /// Caps the Newton steps of each forward solve (default [`MAX_FIXED_POINT_ITERS`]).
    pub fn set_max_iterations(&mut self, n: usize) {
        self.max_iters = n;
    }

    /// The mean `η` over states and pseudo-actions.
    pub fn mean_eta(&self) -> f64 {
        self.eta.iter().sum::<f64>() / self.eta.len() as f64
    }

    /// A fresh LU factorization of `A = I − J` at `θ̂`.
    pub fn factorization(&self) -> ResolventLu {
        ResolventLu::new(&self.j, self.k, 1.0)
    }

    /// The right-hand side `b = reduce Q(θ̂) − Jθ̂` of the linear system `(I − J)θ̂ = b` that
    /// `θ̂` solves at its own `π` (for `max`, `b_k = w_{k,π(k)}`).
    pub fn effective_reward(&self) -> Vec<f64> {
        let (r, _, j) = self.reduce_at(&self.theta);
        let mut jt = vec![0.0; self.k];
        matvec(&j, self.k, &self.theta, &mut jt);
        r.iter().zip(&jt).map(|(a, b)| a - b).collect()
    }

    /// Sets new parameters (`w`, `F`, and `ρ` when learned) and solves for `θ̂` (warm-started).
    pub fn set_params(&mut self, w: &[f64], f: &[f64], rho: &[f64]) -> Result<(), FixedPointError> {
        self.w.copy_from_slice(w);
        self.f.copy_from_slice(f);
        self.rho.copy_from_slice(rho);
        softmax_each_row(&self.f, self.k, &mut self.s);
        self.refresh_eta();
        self.solve_forward()
    }

    /// `η = σ(ρ)` after a change of `ρ`.
    fn refresh_eta(&mut self) {
        match self.learn {
            LearnEta::None => {}
            LearnEta::Scalar => self.eta.fill(sigmoid(self.rho[0])),
            LearnEta::PerStateAction => {
                for (e, &r) in self.eta.iter_mut().zip(&self.rho) {
                    *e = sigmoid(r);
                }
            }
        }
    }

    /// One reduction step at the current `θ`: `(S_aθ)_k`, `Q`, `π`, `R = reduce Q(θ)` into
    /// `scratch[0]` and the matching `J` into `j_next`.
    fn linearize(&mut self) {
        let out = ReduceStep {
            value: &mut self.scratch[0],
            pi: &mut self.pi,
            j: &mut self.j_next,
            sa_theta: &mut self.sa_theta,
            q: &mut self.q,
        };
        reduce_into(
            (self.k, self.m, self.reduce, self.tau),
            (&self.w, &self.s, &self.eta),
            &self.theta,
            out,
        );
    }

    /// One step `θ ← reduce Q(θ)` of value iteration from any `theta` (the building block of
    /// unrolled gradient modes, SPEC §8.3), at the current parameters: returns
    /// `(reduce Q(θ), π, J)` with `π = ∂reduce/∂Q` (`k × m`) and
    /// `J = Σ_a diag(π_{·a}) diag(η_{·a}) S_a` (`k × k`), the step's Jacobian `∂θ'/∂θ`.
    pub fn reduce_at(&self, theta: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (k, m) = (self.k, self.m);
        let (mut value, mut pi, mut j) = (vec![0.0; k], vec![0.0; k * m], vec![0.0; k * k]);
        let (mut sa, mut q) = (vec![0.0; k * m], vec![0.0; k * m]);
        reduce_into(
            (k, m, self.reduce, self.tau),
            (&self.w, &self.s, &self.eta),
            theta,
            ReduceStep {
                value: &mut value,
                pi: &mut pi,
                j: &mut j,
                sa_theta: &mut sa,
                q: &mut q,
            },
        );
        (value, pi, j)
    }

    /// Newton's method for `θ = reduce Q(θ)` from the current `θ` (see [`ImplicitFamily`]).
    ///
    /// Each step solves `(I − J)θ' = b`, `b = reduce Q(θ) − Jθ`, warm-started at `θ` (whose
    /// residual `b − (I − J)θ` is the fixed-point residual `reduce Q(θ) − θ`), so that a step
    /// near the fixed point costs what a warm-started linear solve of §1 costs.
    fn solve_forward(&mut self) -> Result<(), FixedPointError> {
        let k = self.k;
        let mut it = 0;
        loop {
            self.linearize();
            let [b, jt, diff] = &mut self.scratch;
            matvec(&self.j_next, k, &self.theta, jt);
            // diff ← R − θ (the fixed-point residual), b ← R − Jθ.
            for i in 0..k {
                diff[i] = b[i] - self.theta[i];
                b[i] -= jt[i];
            }
            let (res, tol) = (norm(diff), REFINE_TOL * norm(b));
            if self.j != self.j_next {
                std::mem::swap(&mut self.j, &mut self.j_next);
                self.solver.update(&self.j);
            }
            if tol.is_finite() && res <= tol {
                return Ok(());
            }
            if !res.is_finite() || it == self.max_iters {
                return Err(FixedPointError::NoConvergence {
                    iterations: it,
                    residual: res,
                    tol,
                });
            }
            self.solver.solve(&self.j, b, &mut self.theta, jt, false)?;
            self.newton_steps += 1;
            it += 1;
        }
    }

    /// `∇_ψ L` for `g = ∇_θ L` at `θ̂` by the implicit function theorem (SPEC §8.1, §8.2), into
    /// the model's gradient buffers, in the layouts the update needs (`∂L/∂ρ` for a learned
    /// discount): `u = A⁻ᵀg` ([`ImplicitLayer::adjoint`]), `A = I − J`.
    fn compute_gradient(&mut self, g: &[f64]) -> Result<(), SolveError> {
        let (k, m) = (self.k, self.m);
        let adjoint = self.adjoint(g)?;
        let u = &mut self.scratch[0];
        u.copy_from_slice(&adjoint);
        let gr = &mut self.grad;
        for (kk, &uk) in u.iter().enumerate() {
            for a in 0..m {
                let i = kk * m + a;
                let up = uk * self.pi[i];
                gr.dw[i] = up;
                gr.deta[i] = up * self.sa_theta[i];
                let c = self.eta[i] * up;
                let drow = &mut gr.df[i * k..(i + 1) * k];
                if c == 0.0 {
                    drow.fill(0.0);
                    continue;
                }
                let st = self.sa_theta[i];
                for ((d, &sv), &t) in drow
                    .iter_mut()
                    .zip(&self.s[i * k..(i + 1) * k])
                    .zip(&self.theta)
                {
                    *d = c * sv * (t - st);
                }
            }
        }
        gr.drho = rho_gradient(self.learn, &self.eta, &gr.deta);
        Ok(())
    }
}

impl Parameterization for ImplicitFamily {
    fn theta(&self) -> &[f64] {
        &self.theta
    }

    /// One optimizer step on `w` (slot 0), `F` (slot 1) and, when learned, `ρ` (slot 2) with
    /// their gradients ([`ImplicitFamily::compute_gradient`]), then `S = σ(F)`, `η = σ(ρ)` and
    /// `θ̂` at the new parameters. Plain SGD, `ψ ← ψ − α∇_ψL`, fuses the softmax of each changed
    /// row of `F` with its update (rows with `π_{ka} = 0`, e.g. the non-greedy pseudo-actions of
    /// `max`, do not change); other optimizers move every row (their state remembers earlier
    /// gradients), so every row is softmaxed after the update.
    /// In the unrolled modes the gradient is that of `θ_K` (SPEC §8.3).
    fn step(&mut self, g: &[f64], opt: &mut Optimizer) -> Result<(), StepError> {
        if self.mode.is_unrolled() {
            return self.unrolled_step(g, opt);
        }
        self.compute_gradient(g)?;
        if let Some(lr) = opt.sgd_lr() {
            for (wi, d) in self.w.iter_mut().zip(&self.grad.dw) {
                *wi -= lr * d;
            }
            logit_rows_step(
                &mut self.f,
                &mut self.s,
                &self.grad.df,
                &self.pi,
                &self.eta,
                &self.scratch[0],
                lr,
            );
            let lr_rho = lr * self.eta_lr_factor;
            for (r, d) in self.rho.iter_mut().zip(&self.grad.drho) {
                *r -= lr_rho * d;
            }
        } else {
            opt.update(0, &mut self.w, &self.grad.dw);
            opt.update(1, &mut self.f, &self.grad.df);
            softmax_each_row(&self.f, self.k, &mut self.s);
            if !self.rho.is_empty() {
                opt.update_scaled(2, &mut self.rho, &self.grad.drho, self.eta_lr_factor);
            }
        }
        self.refresh_eta();
        if !all_finite(&self.w) || !all_finite(&self.rho) {
            return Err(StepError::NonFinite);
        }
        let solved = self.solve_forward();
        if !all_finite(&self.theta) {
            return Err(StepError::NonFinite);
        }
        Ok(solved?)
    }

    /// The unrolled modes replace `θ̂` by `θ_K`, `K` steps from 0 (SPEC §8.3); meant for a
    /// freshly built model.
    fn set_grad_mode(&mut self, mode: GradMode) {
        self.mode = mode;
        if mode.is_unrolled() {
            self.theta.fill(0.0);
            // A non-finite θ_K stays the output: a run from it diverges at its first step.
            let _ = self.unroll_forward();
        }
    }

    fn learned_eta(&self) -> Option<f64> {
        (self.learn != LearnEta::None).then(|| self.mean_eta())
    }

    fn params(&self) -> Vec<ParamArray<'_>> {
        let (k, m) = (self.k, self.m);
        // One `η` (fixed or a learned scalar) is a scalar; a per-state-action one (learned or
        // given) is `k × m`.
        let per_state_action = self.learn == LearnEta::PerStateAction || self.eta_per_state_action;
        let (eta, eta_shape): (&[f64], &[usize]) = if per_state_action {
            (&self.eta, &[k, m])
        } else {
            (&self.eta[..1], &[])
        };
        let mut out = vec![
            ParamArray::new("w", &[k, m], &self.w),
            ParamArray::new("logits", &[k, m, k], &self.f),
            ParamArray::new("eta", eta_shape, eta),
        ];
        if !self.rho.is_empty() {
            out.push(ParamArray::new("rho", eta_shape, &self.rho));
        }
        out
    }

    fn layer(&self) -> Option<&dyn ImplicitLayer> {
        Some(self)
    }
}

/// The model family as the implicit layer (SPEC §8.1, §8.2).
impl ImplicitLayer for ImplicitFamily {
    fn model(&self) -> Model<'_> {
        Model {
            k: self.k,
            m: self.m,
            eta: &self.eta,
            w: &self.w,
            s: &self.s,
            reduce: self.reduce,
            tau: self.tau,
        }
    }

    fn pi(&self) -> Cow<'_, [f64]> {
        Cow::Borrowed(&self.pi)
    }

    fn sa_theta(&self) -> &[f64] {
        &self.sa_theta
    }

    /// `u = (I − J)⁻ᵀg` with `J` at `θ̂` (refreshed after the last Newton step), or its
    /// truncated Neumann series in the `truncated:K` mode.
    fn adjoint(&mut self, g: &[f64]) -> Result<Vec<f64>, SolveError> {
        if let GradMode::Truncated(terms) = self.mode {
            return Ok(neumann_adjoint(&self.model(), &self.pi, g, terms));
        }
        let mut u = vec![0.0; self.k];
        let mut su = vec![0.0; self.k];
        self.solver.solve(&self.j, g, &mut u, &mut su, true)?;
        Ok(u)
    }

    /// The update's own gradient ([`Parameterization::step`]), with `∂L/∂ρ` when `η` is
    /// learned.
    fn gradient(&mut self, g: &[f64]) -> Result<ModelGrad, SolveError> {
        self.compute_gradient(g)?;
        let gr = &self.grad;
        Ok(ModelGrad {
            dw: gr.dw.clone(),
            df: gr.df.clone(),
            deta: gr.deta.clone(),
            drho: gr.drho.clone(),
        })
    }

    fn clone_layer(&self) -> Box<dyn ImplicitLayer> {
        Box::new(self.clone())
    }
}

dispatched! {
    /// The SGD step `F_{ka·} ← F_{ka·} − α ∂L/∂F_{ka·}` fused with the softmax of each changed row;
    /// a row whose gradient is zero by its factor `η_{ka} u_k π_{ka}` (a non-greedy pseudo-action of
    /// `max`) is left as it is, its softmax too.
    fn logit_rows_step(
        f: &mut [f64],
        s: &mut [f64],
        df: &[f64],
        pi: &[f64],
        eta: &[f64],
        u: &[f64],
        lr: f64,
    ) {
        let m = pi.len() / u.len();
        let k = u.len();
        for (i, ((fr, sr), dr)) in f
            .chunks_exact_mut(k)
            .zip(s.chunks_exact_mut(k))
            .zip(df.chunks_exact(k))
            .enumerate()
        {
            if pi[i] * eta[i] * u[i / m] == 0.0 {
                continue;
            }
            for (x, d) in fr.iter_mut().zip(dr) {
                *x -= lr * d;
            }
            softmax(fr, sr);
        }
    }
}
