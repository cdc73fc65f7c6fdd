//! The solver of `A = I − ηS` in the implicit model's hot path: fresh LU, refinement on a
//! lagged LU, or restarted GMRES, chosen by [`SolverKind`] (SPEC §1).

use super::gmres::Gmres;
use super::published::{value_iteration, JaxGmres, Outcome, VI_MAX_SWEEPS, VI_TOL};
use super::{matvec, matvec_t, norm, ResolventLu};

/// How `A = I − ηS` is solved in the implicit model's hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SolverKind {
    /// Factorize `A` (LU, partial pivoting) at every parameter update: exact to rounding.
    Lu,
    /// Iterative refinement preconditioned by a lagged LU of `A`, warm-started from the previous
    /// solution, refactorizing when convergence slows: relative residual below [`REFINE_TOL`].
    Refine,
    /// Restarted GMRES with right Jacobi preconditioning (it solves `(AD⁻¹)y = b`, `x = D⁻¹y`,
    /// `D = diag(A)`), warm-started from the previous solution, to the same relative residual;
    /// when it has not converged within [`GMRES_MAX_ITERS`] products with `A`, the solve falls
    /// back to a fresh LU, and the next [`LU_AFTER_GMRES_FAILURE`] updates factorize too.
    Gmres,
    /// `lu` for `k ≤ 32` (where a factorization costs less than a few matrix–vector
    /// products), `gmres` above (measured fastest: a default 300-step mountain-car run, k = 400,
    /// costs 0.24 s of CPU time with `gmres`, 0.78 s with `refine`, 0.79 s with `lu` on an AMD
    /// EPYC; README, *Design*).
    #[default]
    Auto,
    /// The published runs' numerics (docs/protocol.md, *Solve accuracy*): the forward solve by
    /// value iteration from `θ = w` to an absolute largest change of 1e-6 or 5,000 sweeps, the
    /// adjoint by JAX's restarted GMRES at its defaults (relative tolerance 1e-5, restart 20,
    /// at most 10k restarts, from 0), each result used whether or not it converged
    /// ([`crate::linalg::published`]); an unconverged solve is counted ([`InexactSolves`]),
    /// not an error.
    Published,
}

/// Largest `k` for which [`SolverKind::Auto`] factorizes at every update.
pub const AUTO_LU_MAX_K: usize = 32;

/// Relative residual `‖b − Ax‖₂ ≤ REFINE_TOL·‖b‖₂` that every solve meets (or fails). With
/// `cond(A) ≤ (1 + η)/(1 − η)` this bounds the relative error of `θ̂` by about `1e−8` at
/// `η = 0.975`, far below the published runs' value iteration to `1e−6` (SPEC §5).
pub const REFINE_TOL: f64 = 1e-10;

/// At most this many refinement sweeps before the solver refactorizes.
const MAX_SWEEPS: usize = 8;

/// A solve that needs more sweeps than this refactorizes at the next update (measured on mountain
/// car, k = 400: the cheapest of 2, 3, 4 and 6).
const SLOW_SWEEPS: usize = 4;

/// A solve of `Ax = b` (or `Aᵀx = b`) whose true residual, checked at its end, is not within
/// [`REFINE_TOL`]`·‖b‖₂`: `b` or the solution is not finite, or the LU solve of last resort is
/// not accurate enough (the parameters have exploded).
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error(
    "the solve of {} (A = I − ηS) could not meet its tolerance (residual ‖b − {}x‖₂ = {residual:.3e}, tolerance {tol:.3e})",
    if *.transpose { "Aᵀx = b" } else { "Ax = b" },
    if *.transpose { "Aᵀ" } else { "A" }
)]
pub struct SolveError {
    /// `‖b − Ax‖₂` of the returned `x` (NaN or `+∞` when `b` or `x` is not finite).
    pub residual: f64,
    /// `REFINE_TOL·‖b‖₂`.
    pub tol: f64,
    /// Whether the system was `Aᵀx = b`.
    pub transpose: bool,
}

/// Counters of a [`Resolvent`]'s work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SolveStats {
    /// LU factorizations of `A`.
    pub factorizations: u64,
    /// Iterations: refinement sweeps (one product with `A` or `Aᵀ` and one lagged LU solve
    /// each) or GMRES products with `A` or `Aᵀ`.
    pub sweeps: u64,
    /// Solves (forward and adjoint).
    pub solves: u64,
}

/// The published solver's record of its solves ([`SolverKind::Published`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct InexactSolves {
    /// Forward solves that stopped at value iteration's cap (or were not finite).
    pub forward: u64,
    /// Adjoint solves that stopped at GMRES's restart limit (or were not finite).
    pub adjoint: u64,
    /// The largest relative residual `‖b − Ax‖₂/‖b‖₂` of any solve so far (of the finite ones).
    pub max_residual: f64,
}

impl InexactSolves {
    /// Forward and adjoint solves that did not meet their stopping rule.
    pub fn total(&self) -> u64 {
        self.forward + self.adjoint
    }

    fn record(&mut self, out: &Outcome, transpose: bool) {
        if !out.converged {
            if transpose {
                self.adjoint += 1;
            } else {
                self.forward += 1;
            }
        }
        if out.relative_residual.is_finite() {
            self.max_residual = self.max_residual.max(out.relative_residual);
        }
    }
}

/// Solves `Ax = b` and `Aᵀx = b` for `A = I − ηS` as `S` changes from step to step (SPEC §1):
/// by a fresh LU per `S` ([`SolverKind::Lu`]); by refinement `x ← x + Â⁻¹(b − Ax)` with a lagged
/// factorization `Â` of an earlier `A`, warm-started from the previous solution
/// ([`SolverKind::Refine`]); or by right-Jacobi-preconditioned restarted GMRES, warm-started
/// likewise ([`SolverKind::Gmres`]). A sweep costs `2k²` multiply–adds against `2k³/3` for a
/// factorization; refinement refactorizes at the current `S` and solves by LU whenever a solve
/// needs more than [`MAX_SWEEPS`] sweeps or stops contracting, and GMRES does the same after
/// [`GMRES_MAX_ITERS`] products without convergence. Every solve ends with a check of its true
/// residual `‖b − Ax‖₂ ≤ REFINE_TOL·‖b‖₂` (norms that cannot overflow), and fails with a
/// [`SolveError`] if the LU solve of last resort does not meet it.
#[derive(Clone)]
pub struct Resolvent {
    k: usize,
    eta: f64,
    refine: bool,
    gmres: Option<Gmres>,
    /// The factorization (`None` only for [`Resolvent::unfactorized`] until its first LU).
    lu: Option<ResolventLu>,
    /// True when `lu` factorizes the current `A`.
    fresh: bool,
    /// Refactorize at this many coming updates: after a slow refinement (one) or a failed GMRES
    /// solve ([`LU_AFTER_GMRES_FAILURE`]).
    lu_updates: usize,
    r: Vec<f64>,
    stats: SolveStats,
    /// The published solvers' workspace and record ([`SolverKind::Published`]).
    published: Option<Box<(JaxGmres, InexactSolves)>>,
}

impl Resolvent {
    /// A solver for `A = I − ηS`, `S` row-major `k × k`.
    pub fn new(s: &[f64], k: usize, eta: f64, kind: SolverKind) -> Self {
        let (refine, gmres) = Self::mode(k, kind);
        Self {
            k,
            eta,
            refine,
            gmres,
            lu: Some(ResolventLu::new(s, k, eta)),
            fresh: true,
            lu_updates: 0,
            r: vec![0.0; k],
            stats: SolveStats {
                factorizations: 1,
                ..Default::default()
            },
            published: Self::published_workspace(k, kind),
        }
    }

    /// A GMRES solver for `A = I − ηS` that does not factorize `A` until a solve needs it (its
    /// first solve is warm-started GMRES; an LU only if that fails): for a model built for a
    /// single solve from a good start, where [`Resolvent::new`]'s O(k³) factorization would cost
    /// more than the solve (the JAX layer's `solver="gmres"`). The training path uses
    /// [`Resolvent::new`].
    pub fn unfactorized(k: usize, eta: f64) -> Self {
        Self {
            k,
            eta,
            refine: true,
            gmres: Some(Gmres::new(k)),
            lu: None,
            fresh: false,
            lu_updates: 0,
            r: vec![0.0; k],
            stats: SolveStats::default(),
            published: None,
        }
    }

    fn published_workspace(k: usize, kind: SolverKind) -> Option<Box<(JaxGmres, InexactSolves)>> {
        (kind == SolverKind::Published)
            .then(|| Box::new((JaxGmres::new(k), InexactSolves::default())))
    }

    /// The published solver's record of unconverged solves; `None` for the other solvers, which
    /// never return one.
    pub fn inexact(&self) -> Option<InexactSolves> {
        self.published.as_ref().map(|p| p.1)
    }

    /// Whether `kind` refines (or iterates) between factorizations, and its GMRES workspace.
    fn mode(k: usize, kind: SolverKind) -> (bool, Option<Gmres>) {
        let kind = match kind {
            SolverKind::Auto if k > AUTO_LU_MAX_K => SolverKind::Gmres,
            SolverKind::Auto | SolverKind::Published => SolverKind::Lu,
            other => other,
        };
        (
            kind != SolverKind::Lu,
            (kind == SolverKind::Gmres).then(|| Gmres::new(k)),
        )
    }

    /// Goes on as `kind` from now on, keeping the current factorization.
    pub fn switch_to(&mut self, kind: SolverKind) {
        (self.refine, self.gmres) = Self::mode(self.k, kind);
        self.lu_updates = 0;
        if (kind == SolverKind::Published) != self.published.is_some() {
            self.published = Self::published_workspace(self.k, kind);
        }
    }

    /// Work done so far.
    pub fn stats(&self) -> SolveStats {
        self.stats
    }

    /// `S` has changed: refactorize now (`lu`), or mark the factorization as lagged (`refine`).
    pub fn update(&mut self, s: &[f64]) {
        if self.published.is_some() {
            // The published solvers factorize nothing.
            self.fresh = false;
        } else if self.lu_updates > 0 {
            self.lu_updates -= 1;
            self.refactor(s);
        } else if self.refine {
            self.fresh = false;
        } else {
            self.refactor(s);
        }
    }

    fn refactor(&mut self, s: &[f64]) {
        self.lu = Some(ResolventLu::new(s, self.k, self.eta));
        self.fresh = true;
        self.stats.factorizations += 1;
    }

    /// Solves `Ax = b` (or `Aᵀx = b` when `transpose`). On entry `x` holds a warm start and `sx`
    /// its product `Sx` (`Sᵀx`); on return `x` is the solution and `sx` its `Sx` (`Sᵀx`).
    ///
    /// Carrying `Sx` lets GMRES start from the warm start's residual `b − x + ηSx` without a
    /// product, and its final check of the true residual yields `Sx` of the solution.
    ///
    /// Every path ends with the check `‖b − Ax‖₂ ≤ REFINE_TOL·‖b‖₂` of the returned `x` (from the
    /// `Sx` it returns, so `O(k)`): an iterative solve that fails it goes on to a fresh LU, and
    /// a non-finite `b`, or an LU solution that does not meet the tolerance, is a
    /// [`SolveError`].
    ///
    /// [`SolverKind::Published`] instead solves as the published runs did, ignoring the warm
    /// start: `Ax = b` by value iteration from `x = b`, `Aᵀx = b` by JAX's GMRES from `x = 0`
    /// ([`crate::linalg::published`]); its result is returned whether or not it converged (an
    /// unconverged one is counted in [`Resolvent::inexact`]), never an error: a non-finite
    /// result is the caller's to find, as it was the published runs'.
    pub fn solve(
        &mut self,
        s: &[f64],
        b: &[f64],
        x: &mut [f64],
        sx: &mut [f64],
        transpose: bool,
    ) -> Result<(), SolveError> {
        self.stats.solves += 1;
        let k = self.k;
        if let Some(p) = self.published.as_mut() {
            let (gmres, record) = &mut **p;
            let out = if transpose {
                gmres.solve_adjoint(s, self.eta, b, x, sx)
            } else {
                value_iteration(s, k, self.eta, b, x, sx, VI_TOL, VI_MAX_SWEEPS)
            };
            self.stats.sweeps += out.iterations as u64;
            record.record(&out, transpose);
            return Ok(());
        }
        let bn = norm(b);
        if !bn.is_finite() {
            // No tolerance to iterate to: the warm start's residual is the error's.
            return self.check(b, x, sx, bn, transpose);
        }
        let product = |x: &[f64], out: &mut [f64]| {
            if transpose {
                matvec_t(s, k, x, out);
            } else {
                matvec(s, k, x, out);
            }
        };
        if !self.fresh && self.gmres.is_some() {
            // Right Jacobi preconditioning: solve (A D⁻¹) y = b, x = D⁻¹y, D = diag(A).
            let eta = self.eta;
            let g = self.gmres.as_mut().expect("checked");
            for i in 0..k {
                g.d[i] = 1.0 - eta * s[i * k + i];
                g.r[i] = b[i] - (x[i] - eta * sx[i]);
                x[i] *= g.d[i];
            }
            let d = std::mem::take(&mut g.d);
            let dv = &mut self.r;
            // Op v = A D⁻¹v, leaving S D⁻¹v in `sx`: after a converged solve, whose last product
            // is Op(Dx), `sx` holds Sx.
            let apply = |v: &[f64], out: &mut [f64]| {
                for ((t, &vi), &di) in dv.iter_mut().zip(v).zip(&d) {
                    *t = vi / di;
                }
                product(dv, sx);
                for ((o, &t), &p) in out.iter_mut().zip(dv.iter()).zip(sx.iter()) {
                    *o = t - eta * p;
                }
            };
            let (ok, iters) = g.solve(apply, b, x, REFINE_TOL * bn);
            for (xi, &di) in x.iter_mut().zip(&d) {
                *xi /= di;
            }
            g.d = d;
            self.stats.sweeps += iters as u64;
            // A converged GMRES has checked this residual already; a check that still fails (x
            // differs from the iterate by the rounding of the scaling by D) goes on to LU.
            if ok && self.check(b, x, sx, bn, transpose).is_ok() {
                return Ok(());
            }
            self.lu_updates = LU_AFTER_GMRES_FAILURE;
            self.refactor(s);
        } else if self.lu.is_none() {
            // An unfactorized solver switched away from GMRES: factorize now.
            self.refactor(s);
        } else if !self.fresh {
            let mut last = f64::INFINITY;
            for sweep in 0..MAX_SWEEPS {
                if sweep >= SLOW_SWEEPS {
                    self.lu_updates = self.lu_updates.max(1);
                }
                // r = b − Ax (or b − Aᵀx), A = I − ηS, from Sx (kept: it is the answer's),
                // left in `self.r` by the check.
                product(x, sx);
                let rn = match self.check(b, x, sx, bn, transpose) {
                    Ok(()) => return Ok(()),
                    Err(e) => e.residual,
                };
                if !rn.is_finite() || rn >= 0.5 * last {
                    break;
                }
                last = rn;
                self.stats.sweeps += 1;
                self.apply_lu(transpose);
                for (xi, ri) in x.iter_mut().zip(&self.r) {
                    *xi += ri;
                }
            }
            self.refactor(s);
        }
        self.r.copy_from_slice(b);
        self.apply_lu(transpose);
        x.copy_from_slice(&self.r);
        product(x, sx);
        self.check(b, x, sx, bn, transpose)
    }

    /// The true residual check that ends every solve: `‖b − (x − ηSx)‖₂ ≤ REFINE_TOL·bn`, with
    /// `sx = Sx` (`Sᵀx`) and `bn = ‖b‖₂`; a NaN or infinite residual or tolerance fails.
    fn check(
        &mut self,
        b: &[f64],
        x: &[f64],
        sx: &[f64],
        bn: f64,
        transpose: bool,
    ) -> Result<(), SolveError> {
        let eta = self.eta;
        for (((ri, &bi), &xi), &p) in self.r.iter_mut().zip(b).zip(x).zip(sx) {
            *ri = bi - (xi - eta * p);
        }
        let (residual, tol) = (norm(&self.r), REFINE_TOL * bn);
        if tol.is_finite() && residual <= tol {
            Ok(())
        } else {
            Err(SolveError {
                residual,
                tol,
                transpose,
            })
        }
    }

    /// `r ← A⁻¹r` (`A⁻ᵀr`) by the factorization, which every path that calls this has made
    /// (only [`Resolvent::unfactorized`] starts without one, and it factorizes before its first
    /// LU solve).
    fn apply_lu(&mut self, transpose: bool) {
        let lu = self
            .lu
            .as_mut()
            .expect("a factorization before an LU solve");
        if transpose {
            lu.solve_transpose_in_place(&mut self.r);
        } else {
            lu.solve_in_place(&mut self.r);
        }
    }
}

/// After GMRES fails, the solver factorizes at this many updates before it tries GMRES again
/// (a run whose parameters explode makes `A` hard for GMRES step after step).
pub const LU_AFTER_GMRES_FAILURE: usize = 10;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::{dot, softmax_rows};
    use rand::{Rng, SeedableRng};

    const KINDS: [SolverKind; 4] = [
        SolverKind::Lu,
        SolverKind::Refine,
        SolverKind::Gmres,
        SolverKind::Auto,
    ];

    /// A solver of `k = 60`, `η = 0.975`, whose factorization is lagged (one update of `S`
    /// since), so that `refine` and `gmres` iterate; and that `S`.
    fn lagged_solver(kind: SolverKind, rng: &mut rand_chacha::ChaCha8Rng) -> (Resolvent, Vec<f64>) {
        let (k, eta) = (60, 0.975);
        let mut f: Vec<f64> = (0..k * k).map(|_| rng.random_range(-2.0..2.0)).collect();
        let mut s = vec![0.0; k * k];
        softmax_rows(&f, k, &mut s);
        let mut solver = Resolvent::new(&s, k, eta, kind);
        for v in f.iter_mut() {
            *v += rng.random_range(-0.05..0.05);
        }
        softmax_rows(&f, k, &mut s);
        solver.update(&s);
        (solver, s)
    }

    /// `‖b − Ax‖₂` and `‖b‖₂`, by norms that do not overflow.
    fn true_residual(s: &[f64], eta: f64, b: &[f64], x: &[f64], transpose: bool) -> (f64, f64) {
        let k = b.len();
        let mut sx = vec![0.0; k];
        if transpose {
            matvec_t(s, k, x, &mut sx);
        } else {
            matvec(s, k, x, &mut sx);
        }
        let r: Vec<f64> = (0..k).map(|i| b[i] - (x[i] - eta * sx[i])).collect();
        (norm(&r), norm(b))
    }

    /// A right-hand side whose `bᵀb` overflows (entries near 1e300) is solved, not declared
    /// converged at the warm start; one whose norm exceeds `f64::MAX`, or with an infinite or NaN
    /// entry, is an error, never a convergence.
    #[test]
    fn no_solver_reports_convergence_when_the_norm_of_b_overflows() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for kind in KINDS {
            for transpose in [false, true] {
                let (mut solver, s) = lagged_solver(kind, &mut rng);
                let (k, eta) = (solver.k, solver.eta);
                let b: Vec<f64> = (0..k)
                    .map(|_| 1e300 * rng.random_range(-1.0..1.0))
                    .collect();
                assert!(!dot(&b, &b).is_finite());
                let warm: Vec<f64> = (0..k).map(|_| rng.random_range(-1.0..1.0)).collect();
                let mut x = warm.clone();
                let mut sx = vec![0.0; k];
                if transpose {
                    matvec_t(&s, k, &x, &mut sx);
                } else {
                    matvec(&s, k, &x, &mut sx);
                }
                let done = solver.solve(&s, &b, &mut x, &mut sx, transpose);
                let (r, bn) = true_residual(&s, eta, &b, &x, transpose);
                assert!(
                    done.is_ok() && r <= REFINE_TOL * bn && bn.is_finite(),
                    "{kind:?} transpose {transpose}: {done:?}, residual {r:e}, ‖b‖ {bn:e}"
                );
                assert_ne!(x, warm);

                let huge = vec![f64::MAX / 2.0; k];
                let mut nan = b.clone();
                nan[k / 2] = f64::NAN;
                let mut inf = b.clone();
                inf[3] = f64::NEG_INFINITY;
                for bad in [huge, nan, inf] {
                    let mut x = warm.clone();
                    let mut sx = vec![0.0; k];
                    let done = solver.solve(&s, &bad, &mut x, &mut sx, transpose);
                    assert!(
                        done.is_err(),
                        "{kind:?} transpose {transpose}: converged for ‖b‖ = {:e}",
                        norm(&bad)
                    );
                }
            }
        }
    }

    /// Every solver meets its residual tolerance along a drifting `S`, both ways.
    #[test]
    fn resolvent_solves_meet_their_tolerance_as_s_drifts() {
        let k = 60;
        let eta = 0.975;
        for kind in [
            SolverKind::Lu,
            SolverKind::Refine,
            SolverKind::Gmres,
            SolverKind::Auto,
        ] {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
            let mut f: Vec<f64> = (0..k * k).map(|_| rng.random_range(-2.0..2.0)).collect();
            let mut s = vec![0.0; k * k];
            softmax_rows(&f, k, &mut s);
            let mut solver = Resolvent::new(&s, k, eta, kind);
            let mut x = vec![0.0; k];
            for step in 0..40 {
                for v in f.iter_mut() {
                    *v += rng.random_range(-0.05..0.05);
                }
                softmax_rows(&f, k, &mut s);
                solver.update(&s);
                let b: Vec<f64> = (0..k).map(|_| rng.random_range(-1.0..1.0)).collect();
                for transpose in [false, true] {
                    let product = |x: &[f64], out: &mut [f64]| {
                        if transpose {
                            matvec_t(&s, k, x, out);
                        } else {
                            matvec(&s, k, x, out);
                        }
                    };
                    // The warm start is the last solution, in either direction.
                    let mut sx = vec![0.0; k];
                    product(&x, &mut sx);
                    solver
                        .solve(&s, &b, &mut x, &mut sx, transpose)
                        .expect("a solve within tolerance");
                    let mut exact = vec![0.0; k];
                    product(&x, &mut exact);
                    let r: f64 = (0..k)
                        .map(|i| (b[i] - (x[i] - eta * exact[i])).powi(2))
                        .sum::<f64>()
                        .sqrt();
                    let bn = dot(&b, &b).sqrt();
                    assert!(
                        r <= 1.01 * REFINE_TOL * bn,
                        "{kind:?} step {step} transpose {transpose}: residual {r}"
                    );
                    let gap = (0..k).map(|i| (sx[i] - exact[i]).abs()).fold(0.0, f64::max);
                    let scale = exact.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                    assert!(
                        gap <= 1e-12 * scale,
                        "{kind:?} step {step} transpose {transpose}: Sx off by {gap}"
                    );
                }
            }
        }
    }

    /// `Aᵀx = b` that restarted GMRES cannot solve within its iteration limits: the cyclic shift
    /// `S` at `η = 0.9999`, `k = 64`. Under `published` the solve returns JAX's unconverged
    /// iterate without error and counts it; every other solver returns a solution within
    /// [`REFINE_TOL`] (GMRES by its fallback to LU) and records no inexact solve.
    #[test]
    fn only_the_published_solver_returns_an_unconverged_solve() {
        let (k, eta) = (64, 0.9999);
        let mut s = vec![0.0; k * k];
        for i in 0..k {
            s[i * k + (i + 1) % k] = 1.0;
        }
        let mut b = vec![0.0; k];
        b[0] = 1.0;
        for kind in KINDS.into_iter().chain([SolverKind::Published]) {
            let mut solver = Resolvent::new(&s, k, eta, kind);
            solver.update(&s);
            let (mut x, mut sx) = (vec![0.0; k], vec![0.0; k]);
            let done = solver.solve(&s, &b, &mut x, &mut sx, true);
            let (r, bn) = true_residual(&s, eta, &b, &x, true);
            if kind == SolverKind::Published {
                assert!(done.is_ok(), "{done:?}");
                assert!(r > 1e-5 * bn && r < bn, "residual {r:e}");
                let record = solver.inexact().expect("published keeps a record");
                assert_eq!((record.adjoint, record.forward), (1, 0));
                assert!((record.max_residual - r / bn).abs() <= 1e-12, "{record:?}");
            } else {
                assert!(
                    done.is_ok() && r <= REFINE_TOL * bn,
                    "{kind:?}: {done:?}, residual {r:e}"
                );
                assert_eq!(solver.inexact(), None);
            }
        }
    }

    /// An unfactorized solver solves both systems to the tolerance by GMRES alone when GMRES
    /// converges (no factorization), and falls back to an LU when it cannot (a cyclic
    /// permutation at `η` near 1, whose eigenvalues circle 1): the residual is met either way.
    #[test]
    fn an_unfactorized_solver_factorizes_only_when_gmres_fails() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let k = 120;
        let f: Vec<f64> = (0..k * k).map(|_| rng.random_range(-2.0..2.0)).collect();
        let mut easy = vec![0.0; k * k];
        softmax_rows(&f, k, &mut easy);
        let mut cycle = vec![0.0; k * k];
        for i in 0..k {
            cycle[i * k + (i + 1) % k] = 1.0;
        }
        for (s, eta, factorizations) in [(&easy, 0.95, 0), (&cycle, 1.0 - 1e-6, 1)] {
            for transpose in [false, true] {
                let mut solver = Resolvent::unfactorized(k, eta);
                let b: Vec<f64> = (0..k).map(|_| rng.random_range(-1.0..1.0)).collect();
                let (mut x, mut sx) = (vec![0.0; k], vec![0.0; k]);
                solver
                    .solve(s, &b, &mut x, &mut sx, transpose)
                    .expect("solved");
                let (r, bn) = true_residual(s, eta, &b, &x, transpose);
                assert!(r <= REFINE_TOL * bn, "{r} > {}", REFINE_TOL * bn);
                assert_eq!(solver.stats().factorizations, factorizations);
            }
        }
    }
}
