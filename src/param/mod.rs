//! Parameterizations of a linear value function `V(x) = φ(x)ᵀθ` (SPEC §1) behind one trait, so
//! that the trainer never knows which one it runs.

mod explicit;
mod family;
pub mod grad_mode;
mod implicit;
mod init;
mod reduce;
mod spec;

pub use explicit::{Explicit, ExplicitMatrix};
pub use family::{FixedPointError, ImplicitFamily, ModelSpec, MAX_FIXED_POINT_ITERS};
pub use grad_mode::{GradMode, ModelGrad};
pub use implicit::Implicit;
pub use init::{draw_family_init, draw_implicit_init, FamilyInit, ImplicitInit};
pub use reduce::{logit, reduce_row, sigmoid, LearnEta, Reduce};

use crate::linalg::{SolveError, SolverKind};
use crate::optim::Optimizer;
use grad_mode::Model;
use std::borrow::Cow;

/// Why a parameter update could not be completed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StepError {
    /// The parameters or the value weights `θ` stopped being finite.
    #[error("parameters are no longer finite")]
    NonFinite,
    /// A solve of the implicit model (`A = I − ηS`) could not meet its tolerance.
    #[error(transparent)]
    SolveFailed(#[from] SolveError),
    /// The model family's fixed point `θ = reduce Q(θ)` was not reached (SPEC §8.1).
    #[error(transparent)]
    FixedPoint(FixedPointError),
}

impl From<FixedPointError> for StepError {
    fn from(e: FixedPointError) -> Self {
        match e {
            FixedPointError::Solve(e) => StepError::SolveFailed(e),
            e => StepError::FixedPoint(e),
        }
    }
}

/// A parameterization `θ = θ(ψ)` of the value weights, trained by a first-order optimizer on
/// `ψ` (SPEC §5, §8.4).
pub trait Parameterization: Send {
    /// The current value weights `θ(ψ)` (length `k`).
    fn theta(&self) -> &[f64];

    /// One optimizer step on `ψ` given `g = ∇_θ L` at the current `θ`: each parameter array
    /// and its gradient `∇_ψ L` go to `opt` ([`Optimizer::update`], one slot per array, always
    /// numbered alike), after which [`Parameterization::theta`] returns `θ` at the new `ψ`.
    /// With plain SGD the step is `ψ ← ψ − α ∇_ψ L`, bit for bit as the published runs.
    fn step(&mut self, g: &[f64], opt: &mut Optimizer) -> Result<(), StepError>;

    /// One plain SGD step `ψ ← ψ − α ∇_ψ L` ([`Parameterization::step`] with a stateless
    /// [`Optimizer::sgd`]).
    fn sgd_step(&mut self, g: &[f64], lr: f64) -> Result<(), StepError> {
        self.step(g, &mut Optimizer::sgd(lr))
    }

    /// The mean internal discount `η` when it is learned (SPEC §8.2), for the `eta` column of
    /// the run's log; `None` when `η` is fixed.
    fn learned_eta(&self) -> Option<f64> {
        None
    }

    /// With the published solvers (`solver = published`, docs/protocol.md, *Solve accuracy*):
    /// how many updates so far had a forward or adjoint solve that stopped unconverged, and the
    /// largest relative residual of any solve; `None` for the other solvers (whose solves meet
    /// their tolerance or fail) and the explicit parameterizations.
    fn inexact_solves(&self) -> Option<InexactRecord> {
        None
    }

    /// The parameters `ψ` by name, each with its shape (row-major; `[]` for a scalar), in the
    /// layouts of SPEC §1 and §8.1–8.2: `explicit` `theta (k)`; `explicit-matrix` `w (k)` and
    /// `matrix (k, k)` (`θ = Mw`); the paper's implicit model `w (k)`, `logits (k, k)` (`F`) and
    /// `eta ()`; the model family `w (k, m)`, `logits (k, m, k)`, `eta` (`()` for one `η`,
    /// `(k, m)` per state and pseudo-action) and, when `η = σ(ρ)` is learned, `rho` of `η`'s
    /// shape. What a run saves, Python returns and the figures of what was learned draw.
    fn params(&self) -> Vec<ParamArray<'_>>;

    /// The implicit layer behind this parameterization, if it is one (SPEC §1, §8.1): one
    /// interface to the paper's model and the model family, for the gradient modes'
    /// comparison and the Python layer.
    fn layer(&self) -> Option<&dyn ImplicitLayer> {
        None
    }

    /// Chooses how the gradient is computed (SPEC §8.3). Only the implicit model has modes: the
    /// explicit parameterizations ignore it (their gradient is exact).
    fn set_grad_mode(&mut self, _mode: GradMode) {}
}

/// A run's record of its inexact solves ([`Parameterization::inexact_solves`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InexactRecord {
    /// Updates with at least one solve (forward or adjoint) that did not meet its stopping
    /// rule.
    pub updates: u64,
    /// The largest relative residual `‖b − Ax‖₂/‖b‖₂` of the solves so far (the initial solve
    /// included).
    pub max_residual: f64,
}

/// One named parameter array of a parameterization ([`Parameterization::params`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ParamArray<'a> {
    /// Its name: `theta`, `w`, `matrix`, `logits`, `eta` or `rho`.
    pub name: &'static str,
    /// Its shape, row-major (`[]` for a scalar).
    pub shape: Vec<usize>,
    /// Its values (as many as the shape's product).
    pub values: &'a [f64],
}

impl<'a> ParamArray<'a> {
    /// The array `name` of shape `shape` holding `values`.
    pub fn new(name: &'static str, shape: &[usize], values: &'a [f64]) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), values.len(), "{name}");
        Self {
            name,
            shape: shape.to_vec(),
            values,
        }
    }
}

/// The implicit layer (SPEC §1, §8.1–8.2): value weights `θ̂` that solve
/// `θ = reduce_a(w_{·a} + η_{·a}·S_aθ)` at its parameters `(w, F, η)`, and their gradients by the
/// implicit function theorem. The paper's model ([`Implicit`], `m = 1`) and the model family
/// ([`ImplicitFamily`]) implement it: one gradient API for both.
pub trait ImplicitLayer: Parameterization + Sync {
    /// The model as the gradient modes see it (SPEC §8.3): `k`, `m`, `η`, `w`, `S_a`, the
    /// reduction.
    fn model(&self) -> Model<'_>;

    /// `π_{ka} = ∂reduce/∂Q_{ka}` at `θ̂` (`k × m`; all ones for one pseudo-action).
    fn pi(&self) -> Cow<'_, [f64]>;

    /// `(S_aθ̂)_k` (`k × m`).
    fn sa_theta(&self) -> &[f64];

    /// The adjoint `u = A⁻ᵀg`, `A = I − Σ_a diag(π_{·a}) diag(η_{·a}) S_a`, for `g = ∇_θ L` at
    /// `θ̂` (SPEC §1, §8.1); in the `truncated:K` mode its `K`-term Neumann series (§8.3).
    fn adjoint(&mut self, g: &[f64]) -> Result<Vec<f64>, SolveError>;

    /// `∇_ψ L` for `g = ∇_θ L` at `θ̂` from the [`ImplicitLayer::adjoint`]:
    /// `∂L/∂w_{ka} = u_k π_{ka}`, `∂L/∂F_{kaj} = η_{ka} u_k π_{ka} S_{a,kj}(θ̂_j − (S_aθ̂)_k)`,
    /// `∂L/∂η_{ka} = u_k π_{ka} (S_aθ̂)_k` (SPEC §1, §8.1, §8.2).
    fn gradient(&mut self, g: &[f64]) -> Result<ModelGrad, SolveError> {
        let u = self.adjoint(g)?;
        Ok(grad_mode::gradient_from_adjoint(
            &self.model(),
            &u,
            &self.pi(),
            self.theta(),
            self.sa_theta(),
        ))
    }

    /// A copy of the layer, sharing nothing.
    fn clone_layer(&self) -> Box<dyn ImplicitLayer>;
}

/// The parameterizations offered on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ParamKind {
    /// `ψ = θ`.
    Explicit,
    /// `ψ = (w, F)`, `θ̂ = (I − ησ(F))⁻¹w`, gradients by the implicit function theorem.
    Implicit,
    /// `ψ = (w, M)`, `θ = Mw`, `M` initialized to `(I − ησ(F))⁻¹`.
    ExplicitMatrix,
}

impl ParamKind {
    /// All parameterizations.
    pub const ALL: [ParamKind; 3] = [
        ParamKind::Explicit,
        ParamKind::Implicit,
        ParamKind::ExplicitMatrix,
    ];

    /// The name used on the command line and in exports.
    pub fn name(self) -> &'static str {
        match self {
            ParamKind::Explicit => "explicit",
            ParamKind::Implicit => "implicit",
            ParamKind::ExplicitMatrix => "explicit-matrix",
        }
    }

    /// Parses a CLI name (see [`ParamKind::name`]).
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == s)
    }

    /// The initial parameters for feature dimension `k`, internal discount `eta` and run seed
    /// `seed` (SPEC §3): every kind starts from the same `θ̂` of the implicit init of that seed.
    /// `solver` chooses how the implicit model solves `A = I − ηS` during training.
    pub fn init(
        self,
        k: usize,
        eta: f64,
        seed: u64,
        solver: SolverKind,
    ) -> Box<dyn Parameterization> {
        self.init_model(k, &ModelSpec::singleton(eta), seed, solver)
    }

    /// The initial parameters of the model `spec` (SPEC §3, §8.1, §8.2). The paper's model
    /// ([`ModelSpec::is_singleton`]) is [`Implicit`], exactly as [`ParamKind::init`] gives it;
    /// otherwise the implicit kind is [`ImplicitFamily`], and the explicit kinds start from its
    /// `θ̂`: `explicit` at `θ = θ̂`, `explicit-matrix` at `M = (I − J)⁻¹` and `w = b`, the
    /// linear system `(I − J)θ̂ = b` that `θ̂` solves at its own `π` (for `max`, the greedy
    /// policy's `A_π⁻¹` and rewards). A learned `η` only sets their initialization.
    pub fn init_model(
        self,
        k: usize,
        spec: &ModelSpec,
        seed: u64,
        solver: SolverKind,
    ) -> Box<dyn Parameterization> {
        if spec.is_singleton() {
            let (init, eta) = (draw_implicit_init(k, seed), spec.eta);
            return match self {
                // The published runs initialized explicit weights by the implicit module's
                // forward solve: value iteration with the published solvers, exact otherwise.
                ParamKind::Explicit if solver == SolverKind::Published => Box::new(Explicit::new(
                    Implicit::with_solver(init, eta, solver).theta().to_vec(),
                )),
                ParamKind::Explicit => {
                    Box::new(Explicit::new(Implicit::new(init, eta).theta().to_vec()))
                }
                ParamKind::Implicit => Box::new(Implicit::with_solver(init, eta, solver)),
                ParamKind::ExplicitMatrix => {
                    Box::new(ExplicitMatrix::from_implicit(&Implicit::new(init, eta)))
                }
            };
        }
        match self {
            ParamKind::Implicit => Box::new(init_family(k, spec, seed, solver)),
            ParamKind::Explicit => Box::new(Explicit::new(
                init_family(k, spec, seed, SolverKind::Lu).theta().to_vec(),
            )),
            ParamKind::ExplicitMatrix => {
                let fam = init_family(k, spec, seed, SolverKind::Lu);
                Box::new(ExplicitMatrix::from_system(
                    k,
                    fam.factorization(),
                    fam.effective_reward(),
                ))
            }
        }
    }
}

impl std::fmt::Display for ParamKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The model family's initial model of run seed `seed` (SPEC §3, §8.1, §8.2) with feature
/// dimension `k`, the model `spec` and `solver`: what [`ParamKind::init_model`] gives for an
/// implicit run of the family, as its own type.
pub fn init_family(k: usize, spec: &ModelSpec, seed: u64, solver: SolverKind) -> ImplicitFamily {
    ImplicitFamily::new(draw_family_init(k, spec.actions, seed), spec, solver)
}

pub(crate) fn all_finite(x: &[f64]) -> bool {
    x.iter().all(|v| v.is_finite())
}
