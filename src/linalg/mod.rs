//! Dense numerical kernels of the hot path: a vectorizable `exp`, the row softmax, matrix–vector
//! products, and the solvers of `A = I − ηS` that serve both the forward and the adjoint
//! solve (SPEC §1).

mod gmres;
mod kernels;
mod lu;
mod resolvent;
mod softmax;

pub use kernels::{dot, exp, matvec, matvec_t, max, norm, sum};
pub use lu::ResolventLu;
pub use resolvent::{
    Resolvent, SolveError, SolveStats, SolverKind, AUTO_LU_MAX_K, GMRES_MAX_ITERS,
    LU_AFTER_GMRES_FAILURE, REFINE_TOL,
};
pub use softmax::{logit_step, softmax, softmax_rows};
