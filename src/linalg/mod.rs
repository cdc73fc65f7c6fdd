//! Dense numerical kernels of the hot path: a vectorizable `exp`, the row softmax, matrix–vector
//! products, and the solvers of `A = I − ηS` that serve both the forward and the adjoint
//! solve (SPEC §1).

/// Compiles a hot kernel for several instruction sets and picks one at run time
/// (`multiversion`): AVX-512 (the Ice Lake feature set), AVX2 + FMA, AVX, NEON, and the
/// baseline. Every target gives the bits of the portable code (`softmax.rs` says why), so the
/// list is one for all kernels.
macro_rules! dispatched {
    ($(#[$attr:meta])* $vis:vis fn $($rest:tt)*) => {
        #[multiversion::multiversion(targets(
            "x86_64+avx512f+avx512vl+avx512dq+avx512bw+avx2+fma+avx",
            "x86_64+avx2+fma",
            "x86_64+avx",
            "aarch64+neon"
        ))]
        $(#[$attr])* $vis fn $($rest)*
    };
}
pub(crate) use dispatched;

mod gmres;
mod kernels;
mod lu;
pub mod published;
mod resolvent;
mod softmax;

pub use gmres::GMRES_MAX_ITERS;
pub use kernels::{dot, exp, matvec, matvec_t, max, norm, sum};
pub use lu::ResolventLu;
pub use resolvent::{
    InexactSolves, Resolvent, SolveError, SolveStats, SolverKind, AUTO_LU_MAX_K,
    LU_AFTER_GMRES_FAILURE, REFINE_TOL,
};
pub use softmax::{logit_step, softmax, softmax_each_row, softmax_rows};
