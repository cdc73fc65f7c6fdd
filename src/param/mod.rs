//! Parameterizations of a linear value function `V(x) = φ(x)ᵀθ` (SPEC §1) behind one trait, so
//! that the trainer never knows which one it runs.

mod explicit;
pub mod grad_mode;
mod implicit;
mod init;

pub use explicit::{Explicit, ExplicitMatrix};
pub use grad_mode::GradMode;
pub use implicit::{Implicit, ImplicitGrad};
pub use init::{draw_implicit_init, ImplicitInit};

use crate::linalg::{SolveError, SolverKind};
use serde::{Deserialize, Serialize};

/// Why a parameter update could not be completed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StepError {
    /// The parameters or the value weights `θ` stopped being finite.
    #[error("parameters are no longer finite")]
    NonFinite,
    /// A solve of the implicit model (`A = I − ηS`) could not meet its tolerance.
    #[error(transparent)]
    SolveFailed(#[from] SolveError),
}

/// A parameterization `θ = θ(ψ)` of the value weights, trained by SGD on `ψ`.
pub trait Parameterization: Send {
    /// The current value weights `θ(ψ)` (length `k`).
    fn theta(&self) -> &[f64];

    /// One plain SGD step `ψ ← ψ − α ∇_ψ L` given `g = ∇_θ L` at the current `θ`, after which
    /// [`Parameterization::theta`] returns `θ` at the new `ψ`.
    fn sgd_step(&mut self, g: &[f64], lr: f64) -> Result<(), StepError>;

    /// The implicit model (SPEC §1) behind this parameterization, if it is one: what an
    /// [`crate::train::Observer`] analyzing the model (the theory checks, SPEC §2) needs.
    fn as_implicit(&self) -> Option<&Implicit> {
        None
    }

    /// Chooses how the gradient is computed (SPEC §8.3). Only the implicit model has modes: the
    /// explicit parameterizations ignore it (their gradient is exact).
    fn set_grad_mode(&mut self, _mode: GradMode) {}
}

/// The parameterizations offered on the command line.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
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
        let init = draw_implicit_init(k, seed);
        match self {
            ParamKind::Explicit => {
                Box::new(Explicit::new(Implicit::new(init, eta).theta().to_vec()))
            }
            ParamKind::Implicit => Box::new(Implicit::with_solver(init, eta, solver)),
            ParamKind::ExplicitMatrix => {
                Box::new(ExplicitMatrix::from_implicit(&Implicit::new(init, eta)))
            }
        }
    }
}

impl std::fmt::Display for ParamKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

pub(crate) fn all_finite(x: &[f64]) -> bool {
    x.iter().all(|v| v.is_finite())
}
