//! The published runs' solvers of `A = I − ηS` (`--solver published`, docs/protocol.md, *Solve
//! accuracy*; SPEC §1, §5): the forward problem `θ = w + ηSθ` by value iteration from `θ = w` to
//! an *absolute* largest change of [`VI_TOL`] or [`VI_MAX_SWEEPS`] sweeps (the authors'
//! `imprl/mdp/value.py`, `ValueIteration`, with `experiments/configs/supervised/base.gin`), and
//! the adjoint by restarted GMRES as `jax.scipy.sparse.linalg.gmres` computes it at its defaults
//! (`tol = 1e-5`, `atol = 0`, `restart = 20`, `maxiter = None → 10·k` restarts, `x0 = 0`,
//! `solve_method = 'batched'`, no preconditioner). Both return whatever they reached: a solve
//! that stopped at its cap is used as it is, as in the published runs, and only reported
//! ([`Outcome`]).

use super::{dot, matvec, matvec_t, norm};

/// Value iteration stops once `max_i (θ'_i − θ_i)² ≤ VI_TOL²` (`ValueIteration.tol`).
pub const VI_TOL: f64 = 1e-6;

/// Value iteration stops after this many sweeps, converged or not (`ValueIteration.maxiter`).
pub const VI_MAX_SWEEPS: usize = 5_000;

/// JAX's GMRES stops once `‖b − Ax‖₂ ≤ max(JAX_GMRES_TOL·‖b‖₂, atol)`, `atol = 0` (its
/// defaults `tol = 1e-5, atol = 0.0`).
pub const JAX_GMRES_TOL: f64 = 1e-5;

/// Krylov dimension of JAX's GMRES between restarts (`restart = 20`, capped at `k`).
pub const JAX_GMRES_RESTART: usize = 20;

/// JAX's GMRES makes at most `JAX_GMRES_MAXITER_PER_DIM·k` restarts (`maxiter = None` becomes
/// `10 * size`, "copied from scipy").
pub const JAX_GMRES_MAXITER_PER_DIM: usize = 10;

/// What a published solve reached.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    /// Whether the solver's own stopping rule was met (value iteration: the largest change;
    /// GMRES: the residual), rather than its cap; false when the result is not finite.
    pub converged: bool,
    /// Sweeps (value iteration) or products with `Sᵀ` (GMRES).
    pub iterations: usize,
    /// `‖b − Ax‖₂ / ‖b‖₂` of the returned `x` (0 when `b = 0`), by norms that cannot overflow.
    pub relative_residual: f64,
}

/// Value iteration on `θ = w + ηSθ` as the published runs did it (`ValueIteration.__call__`):
/// `θ₁ = w + ηSθ₀` from `θ₀ = w`, then `θ_{i+1} = w + ηSθ_i` while
/// `max_j (θ_i − θ_{i−1})_j² > tol²` and `i < max_sweeps`; the last `θ_i` is returned, in
/// `theta`, and `Sθ_i` in `s_theta`. With `η < 1` and `S` row-stochastic the map contracts by
/// `η` in the max norm, so the tolerance is met unless `|θ|` is so large that one float64
/// step exceeds it (about `|θ| > 1e10`): then the cap ends it. `tol` and `max_sweeps` are
/// parameters for the tests; runs use [`VI_TOL`] and [`VI_MAX_SWEEPS`].
#[allow(clippy::too_many_arguments)]
pub fn value_iteration(
    s: &[f64],
    k: usize,
    eta: f64,
    w: &[f64],
    theta: &mut [f64],
    s_theta: &mut [f64],
    tol: f64,
    max_sweeps: usize,
) -> Outcome {
    let tol_sqr = tol * tol;
    theta.copy_from_slice(w);
    let mut sweeps = 0;
    let mut max_sqr_diff;
    loop {
        matvec(s, k, theta, s_theta);
        max_sqr_diff = 0.0f64;
        let mut nan = false;
        for ((t, &wi), &p) in theta.iter_mut().zip(w).zip(s_theta.iter()) {
            let new = wi + eta * p;
            let d = new - *t;
            let d2 = d * d;
            nan |= d2.is_nan();
            max_sqr_diff = max_sqr_diff.max(d2);
            *t = new;
        }
        sweeps += 1;
        if nan {
            // JAX's `max` propagates NaN, and `NaN > tol²` is false: the loop ends.
            max_sqr_diff = f64::NAN;
            break;
        }
        if !(max_sqr_diff > tol_sqr && sweeps < max_sweeps) {
            break;
        }
    }
    matvec(s, k, theta, s_theta);
    Outcome {
        converged: max_sqr_diff <= tol_sqr && theta.iter().all(|v| v.is_finite()),
        iterations: sweeps,
        relative_residual: relative_residual(w, theta, s_theta, eta),
    }
}

/// `‖b − (x − ηSx)‖₂ / ‖b‖₂` from `sx = Sx` (or `Sᵀx`), 0 when `b = 0`.
fn relative_residual(b: &[f64], x: &[f64], sx: &[f64], eta: f64) -> f64 {
    let r: Vec<f64> = b
        .iter()
        .zip(x)
        .zip(sx)
        .map(|((&bi, &xi), &p)| bi - (xi - eta * p))
        .collect();
    let bn = norm(b);
    if bn == 0.0 {
        norm(&r)
    } else {
        norm(&r) / bn
    }
}

/// JAX's `_norm`: `sqrt(Σ xᵢ²)` (it overflows above about 1e154, as JAX's does).
fn jax_norm(x: &[f64]) -> f64 {
    dot(x, x).sqrt()
}

/// JAX's `_safe_normalize(x, thresh)`: `x/‖x‖` and `‖x‖`, or the zero vector and 0 when
/// `‖x‖ ≤ thresh` (by default the machine epsilon, an absolute threshold).
fn safe_normalize(x: &mut [f64], thresh: f64) -> f64 {
    let n = jax_norm(x);
    if n > thresh {
        x.iter_mut().for_each(|v| *v /= n);
        n
    } else {
        x.fill(0.0);
        0.0
    }
}

/// Workspace of [`JaxGmres::solve_adjoint`].
#[derive(Clone)]
pub struct JaxGmres {
    k: usize,
    restart: usize,
    /// Krylov basis `V`, `restart + 1` vectors of length `k`, row-major.
    v: Vec<f64>,
    /// `H`, `restart × (restart + 1)`: row `j` holds the Arnoldi coefficients of `A v_j`
    /// (JAX's layout, the transpose of the Hessenberg matrix).
    h: Vec<f64>,
    w: Vec<f64>,
    r: Vec<f64>,
    a2: Vec<f64>,
    y: Vec<f64>,
}

impl JaxGmres {
    /// A workspace for dimension `k`.
    pub fn new(k: usize) -> Self {
        let restart = JAX_GMRES_RESTART.min(k);
        Self {
            k,
            restart,
            v: vec![0.0; (restart + 1) * k],
            h: vec![0.0; restart * (restart + 1)],
            w: vec![0.0; k],
            r: vec![0.0; k],
            a2: vec![0.0; restart * restart],
            y: vec![0.0; restart],
        }
    }

    /// The adjoint `u = A⁻ᵀg`, `A = I − ηS`, as the published runs computed it: the implicit
    /// function theorem's linear system there is `(∂h/∂θ)ᵀ d = g` with `h(θ) = w + ηSθ − θ`, so
    /// `Op d = ηSᵀd − d`, and `u = −d`. `d` is JAX's restarted GMRES, batched method: from
    /// `x₀ = 0`, while the residual `‖g − Op x‖₂ > 1e-5‖g‖₂` and fewer than `10k` restarts were
    /// made, a restart builds the Krylov basis `v₀ = r/‖r‖`, `v_{j+1} ∝ Op v_j` by one pass of
    /// classical Gram–Schmidt (JAX's "twice is enough" loop stops after the first pass),
    /// stopping early only at a breakdown (`‖v‖ ≤ ε·‖Op v_j‖`), then solves the least-squares
    /// problem `min ‖Hᵀy − ‖r‖e₀‖` by its normal equations `HHᵀy = H‖r‖e₀` (Cholesky; NaN if
    /// that fails, as JAX's), and `x += Vy`. The iterate is returned in `u` (negated) with
    /// `Sᵀu` in `s_u`, whether or not it converged.
    pub fn solve_adjoint(
        &mut self,
        s: &[f64],
        eta: f64,
        g: &[f64],
        u: &mut [f64],
        s_u: &mut [f64],
    ) -> Outcome {
        let (k, m) = (self.k, self.restart);
        let op = |v: &[f64], out: &mut [f64]| {
            matvec_t(s, k, v, out);
            for (o, &vi) in out.iter_mut().zip(v) {
                *o = eta * *o - vi;
            }
        };
        let eps = f64::EPSILON;
        let maxiter = JAX_GMRES_MAXITER_PER_DIM * k;
        let atol = (JAX_GMRES_TOL * jax_norm(g)).max(0.0);
        // x = u holds d; x₀ = 0, whose residual b − Op 0 is b.
        let x = u;
        x.fill(0.0);
        self.r.copy_from_slice(g);
        let mut rnorm = safe_normalize(&mut self.r, eps);
        let mut products = 0;
        let mut restarts = 0;
        while restarts < maxiter && rnorm > atol {
            self.v.fill(0.0);
            self.v[..k].copy_from_slice(&self.r);
            // H = eye(restart, restart + 1).
            self.h.fill(0.0);
            for j in 0..m {
                self.h[j * (m + 1) + j] = 1.0;
            }
            let mut j = 0;
            let mut breakdown = false;
            while j < m && !breakdown {
                let (basis, rest) = self.v.split_at_mut((j + 1) * k);
                let w = &mut self.w;
                op(&basis[j * k..], w);
                products += 1;
                let v_norm_0 = {
                    let n = jax_norm(w);
                    if n > eps {
                        n
                    } else {
                        0.0
                    }
                };
                // One pass of classical Gram–Schmidt against v₀ … v_j (the other columns of
                // JAX's V are zero).
                let row = &mut self.h[j * (m + 1)..(j + 1) * (m + 1)];
                row.fill(0.0);
                for (i, hi) in row.iter_mut().enumerate().take(j + 1) {
                    *hi = dot(&basis[i * k..(i + 1) * k], w);
                }
                for (i, &hi) in row.iter().enumerate().take(j + 1) {
                    for (wl, &vl) in w.iter_mut().zip(&basis[i * k..(i + 1) * k]) {
                        *wl -= vl * hi;
                    }
                }
                let v_norm_1 = safe_normalize(w, eps * v_norm_0);
                rest[..k].copy_from_slice(w);
                row[j + 1] = v_norm_1;
                breakdown = v_norm_1 == 0.0;
                j += 1;
            }
            // Normal equations of min ‖Hᵀy − β‖, β = ‖r‖e₀: (HHᵀ)y = Hβ.
            let h = &self.h;
            for i in 0..m {
                for l in 0..m {
                    self.a2[i * m + l] = dot(
                        &h[i * (m + 1)..(i + 1) * (m + 1)],
                        &h[l * (m + 1)..(l + 1) * (m + 1)],
                    );
                }
                self.y[i] = h[i * (m + 1)] * rnorm;
            }
            cholesky_solve(&mut self.a2, &mut self.y, m);
            for (i, &yi) in self.y.iter().enumerate() {
                for (xl, &vl) in x.iter_mut().zip(&self.v[i * k..(i + 1) * k]) {
                    *xl += vl * yi;
                }
            }
            op(x, &mut self.w);
            products += 1;
            for ((ri, &gi), &wi) in self.r.iter_mut().zip(g).zip(&self.w) {
                *ri = gi - wi;
            }
            rnorm = safe_normalize(&mut self.r, eps);
            restarts += 1;
        }
        let converged = rnorm <= atol && x.iter().all(|v| v.is_finite());
        x.iter_mut().for_each(|v| *v = -*v);
        matvec_t(s, k, x, s_u);
        Outcome {
            converged,
            iterations: products,
            relative_residual: relative_residual(g, x, s_u, eta),
        }
    }
}

/// Solves `Ay = b` in place for symmetric positive definite `A` (`m × m`, row-major, destroyed)
/// by Cholesky; a pivot that is not positive (or NaN) makes `y` NaN, as JAX's Cholesky does.
fn cholesky_solve(a: &mut [f64], y: &mut [f64], m: usize) {
    for j in 0..m {
        let mut d = a[j * m + j];
        for p in 0..j {
            d -= a[j * m + p] * a[j * m + p];
        }
        if d.is_nan() || d <= 0.0 {
            y.fill(f64::NAN);
            return;
        }
        let d = d.sqrt();
        a[j * m + j] = d;
        for i in j + 1..m {
            let mut t = a[i * m + j];
            for p in 0..j {
                t -= a[i * m + p] * a[j * m + p];
            }
            a[i * m + j] = t / d;
        }
    }
    // L z = b, then Lᵀ y = z.
    for i in 0..m {
        let mut t = y[i];
        for p in 0..i {
            t -= a[i * m + p] * y[p];
        }
        y[i] = t / a[i * m + i];
    }
    for i in (0..m).rev() {
        let mut t = y[i];
        for p in i + 1..m {
            t -= a[p * m + i] * y[p];
        }
        y[i] = t / a[i * m + i];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::{softmax_rows, ResolventLu};
    use rand::{Rng, SeedableRng};

    fn random_s(k: usize, spread: f64, seed: u64) -> Vec<f64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let f: Vec<f64> = (0..k * k)
            .map(|_| rng.random_range(-spread..spread))
            .collect();
        let mut s = vec![0.0; k * k];
        softmax_rows(&f, k, &mut s);
        s
    }

    /// Value iteration stops at the first sweep whose largest change is at most 1e-6 in
    /// absolute terms: for `S = 1 1ᵀ/k` and `w = c1` the iterates are
    /// `θ_i = c(1 + η + … + ηⁱ)1`, changes `cηⁱ`, so it stops at the first `i` with
    /// `cηⁱ ≤ 1e-6` — the same sweep whatever the scale of `θ` relative to the change.
    #[test]
    fn value_iteration_stops_on_the_absolute_tolerance() {
        let (k, eta, c) = (6, 0.9, 3.0);
        let s = vec![1.0 / k as f64; k * k];
        let w = vec![c; k];
        let (mut theta, mut st) = (vec![0.0; k], vec![0.0; k]);
        let out = value_iteration(&s, k, eta, &w, &mut theta, &mut st, VI_TOL, VI_MAX_SWEEPS);
        let expected = (1..).find(|&i| c * eta.powi(i) <= VI_TOL).unwrap() as usize;
        assert!(out.converged);
        assert_eq!(out.iterations, expected, "{out:?}");
        // θ* = c/(1 − η): within the geometric tail cη^{i+1}/(1 − η) of it.
        let exact = c / (1.0 - eta);
        let tail = c * eta.powi(expected as i32 + 1) / (1.0 - eta);
        for &t in &theta {
            // Up to rounding (a few ulps of 30).
            assert!((t - exact).abs() <= tail + 1e-12, "{t} vs {exact}");
            assert!(
                (t - exact).abs() > 0.5 * tail,
                "stopped later than the rule says"
            );
        }
        assert!(out.relative_residual > 0.0 && out.relative_residual < 1e-6);
        // Sθ of the returned θ.
        let mut check = vec![0.0; k];
        matvec(&s, k, &theta, &mut check);
        assert_eq!(check, st);
        // A general S: the tolerance is met, and the result is within 1e-6/(1 − η) of the LU
        // solution in the max norm.
        let s = random_s(30, 2.0, 1);
        let w: Vec<f64> = (0..30).map(|i| (i as f64 * 0.37).sin()).collect();
        let (mut theta, mut st) = (vec![0.0; 30], vec![0.0; 30]);
        let out = value_iteration(&s, 30, 0.95, &w, &mut theta, &mut st, VI_TOL, VI_MAX_SWEEPS);
        assert!(out.converged && out.iterations < VI_MAX_SWEEPS);
        let mut exact = w.clone();
        ResolventLu::new(&s, 30, 0.95).solve_in_place(&mut exact);
        for (t, e) in theta.iter().zip(&exact) {
            assert!((t - e).abs() <= VI_TOL * 0.95 / 0.05 * 1.0001, "{t} vs {e}");
        }
    }

    /// A contraction too slow for 5,000 sweeps — `S = 11ᵀ/k`, `w = 1`, `η = 0.9999`, whose
    /// changes `ηⁱ` stay above 1e-6 until sweep 138,000 — stops at the cap, not converged, and
    /// its iterate `θ = (1 + η + … + η^5000)1` is returned.
    #[test]
    fn value_iteration_hits_the_cap() {
        let (k, eta) = (5, 0.9999);
        let s = vec![1.0 / k as f64; k * k];
        let w = vec![1.0; k];
        let (mut theta, mut st) = (vec![0.0; k], vec![0.0; k]);
        let out = value_iteration(&s, k, eta, &w, &mut theta, &mut st, VI_TOL, VI_MAX_SWEEPS);
        assert!(!out.converged);
        assert_eq!(out.iterations, VI_MAX_SWEEPS);
        let partial = (1.0 - eta.powi(VI_MAX_SWEEPS as i32 + 1)) / (1.0 - eta);
        for &t in &theta {
            assert!((t - partial).abs() <= 1e-9 * partial, "{t} vs {partial}");
        }
        // Its residual is the next change, η^5001 ≈ 0.61, relative to ‖w‖.
        let next = eta.powi(VI_MAX_SWEEPS as i32 + 1);
        assert!((out.relative_residual - next).abs() <= 1e-9, "{out:?}");
        // A smaller cap ends it earlier.
        let out = value_iteration(&s, k, 0.9, &w, &mut theta, &mut st, VI_TOL, 10);
        assert!(!out.converged);
        assert_eq!(out.iterations, 10);
    }

    /// JAX's GMRES meets its relative tolerance 1e-5 on a well-conditioned system, and the
    /// adjoint agrees with the LU solution `A⁻ᵀg` to about that accuracy.
    #[test]
    fn jax_gmres_solves_the_adjoint_to_its_tolerance() {
        for (k, eta, seed) in [(5, 0.9, 3), (40, 0.95, 4), (104, 0.975, 5)] {
            let s = random_s(k, 2.0, seed);
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let g: Vec<f64> = (0..k).map(|_| rng.random_range(-1.0..1.0)).collect();
            let (mut u, mut su) = (vec![0.0; k], vec![0.0; k]);
            let out = JaxGmres::new(k).solve_adjoint(&s, eta, &g, &mut u, &mut su);
            assert!(out.converged, "k {k}: {out:?}");
            assert!(out.relative_residual <= JAX_GMRES_TOL * 1.0001, "{out:?}");
            let mut exact = g.clone();
            ResolventLu::new(&s, k, eta).solve_transpose_in_place(&mut exact);
            let scale = norm(&exact);
            let err: Vec<f64> = u.iter().zip(&exact).map(|(a, b)| a - b).collect();
            assert!(norm(&err) <= 1e-5 * scale * (1.0 + eta) / (1.0 - eta));
            let mut check = vec![0.0; k];
            matvec_t(&s, k, &u, &mut check);
            assert_eq!(check, su);
        }
    }

    /// A system GMRES(20) cannot solve within its 10k restarts — the cyclic shift `S`
    /// (`Sᵀ e_i = e_{i+1}`) at `η` near 1 with `k > 20`, whose Krylov spaces of dimension 20
    /// barely reduce the residual — returns its last iterate, reported unconverged, and no
    /// error.
    #[test]
    fn jax_gmres_returns_an_unconverged_iterate() {
        let k = 64;
        let mut s = vec![0.0; k * k];
        for i in 0..k {
            s[i * k + (i + 1) % k] = 1.0;
        }
        let eta = 0.9999;
        let mut g = vec![0.0; k];
        g[0] = 1.0;
        let (mut u, mut su) = (vec![0.0; k], vec![0.0; k]);
        let out = JaxGmres::new(k).solve_adjoint(&s, eta, &g, &mut u, &mut su);
        assert!(!out.converged, "{out:?}");
        assert_eq!(out.iterations, JAX_GMRES_MAXITER_PER_DIM * k * 21);
        assert!(out.relative_residual > JAX_GMRES_TOL, "{out:?}");
        assert!(out.relative_residual < 1.0, "{out:?}");
        assert!(u.iter().all(|v| v.is_finite()));
    }

    /// Cholesky solves a positive definite system and gives NaN for one that is not.
    #[test]
    fn cholesky_solves_or_gives_nan() {
        let mut a = vec![4.0, 2.0, 2.0, 3.0];
        let mut y = vec![2.0, 1.0];
        cholesky_solve(&mut a, &mut y, 2);
        assert!((y[0] - 0.5).abs() < 1e-15 && y[1].abs() < 1e-15, "{y:?}");
        let mut a = vec![1.0, 2.0, 2.0, 1.0];
        let mut y = vec![1.0, 1.0];
        cholesky_solve(&mut a, &mut y, 2);
        assert!(y.iter().all(|v| v.is_nan()));
    }
}
