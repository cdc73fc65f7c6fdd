//! Dense numerical kernels of the hot path: a vectorizable `exp`, the row softmax, matrix–vector
//! products, and the factorization of `A = I − ηS` that serves both the forward and the adjoint
//! solve (SPEC §1).

use faer::linalg::solvers::{PartialPivLu, Solve};
use faer::{Mat, MatMut};
use multiversion::multiversion;
use serde::{Deserialize, Serialize};

/// `ln 2` rounded to 32 significant bits (fdlibm's `ln2_hi`), so that `n·LN2_HI` is exact.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
/// `ln 2 − LN2_HI` (fdlibm's `ln2_lo`).
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
const LOG2_E: f64 = std::f64::consts::LOG2_E;
/// 1.5·2⁵²: adding and subtracting it rounds a double of magnitude < 2⁵¹ to the nearest integer.
const ROUND: f64 = 6_755_399_441_055_744.0;

/// `eˣ` to within 2 ulp for `x ≤ 709`, and `0` for `x < −708` (no subnormal results).
///
/// Cody–Waite reduction `x = n·ln2 + r`, `|r| ≤ ln2/2`, then the degree-13 Taylor polynomial of
/// `eʳ` (truncation error below 2⁻⁵⁶, evaluated by Estrin's scheme) and a scaling by `2ⁿ`
/// built from the exponent bits; NaN gives NaN. It uses only IEEE additions, multiplications
/// and fused multiply–adds (`mul_add`, correctly rounded everywhere: one instruction on every
/// x86-64 CPU since 2013 and on aarch64), no table and no branch, so that loops over it
/// vectorize (the softmax of `k×k` logits is the hot path's floor) and give the same bits on
/// every platform, unlike C libraries' `exp`.
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    // max/min rather than clamp: it vectorizes (NaN is restored below).
    #[allow(clippy::manual_clamp)]
    let xc = x.max(-708.0).min(709.0);
    // t = 1.5·2⁵² + 1023 + n: its low mantissa bits hold the biased exponent n + 1023 ∈ [1, 2046].
    let t = xc.mul_add(LOG2_E, ROUND + 1023.0);
    let n = t - (ROUND + 1023.0);
    let r = (-n).mul_add(LN2_LO, (-n).mul_add(LN2_HI, xc));
    // Estrin's scheme: a shallow dependency tree, so that independent elements overlap.
    let r2 = r * r;
    let r4 = r2 * r2;
    let r8 = r4 * r4;
    let q0 = 1.0 + r;
    let q1 = r.mul_add(1.0 / 6.0, 1.0 / 2.0);
    let q2 = r.mul_add(1.0 / 120.0, 1.0 / 24.0);
    let q3 = r.mul_add(1.0 / 5_040.0, 1.0 / 720.0);
    let q4 = r.mul_add(1.0 / 362_880.0, 1.0 / 40_320.0);
    let q5 = r.mul_add(1.0 / 39_916_800.0, 1.0 / 3_628_800.0);
    let q6 = r.mul_add(1.0 / 6_227_020_800.0, 1.0 / 479_001_600.0);
    let s0 = r2.mul_add(q1, q0);
    let s1 = r2.mul_add(q3, q2);
    let s2 = r2.mul_add(q5, q4);
    let t0 = r4.mul_add(s1, s0);
    let t1 = r4.mul_add(q6, s2);
    let p = r8.mul_add(t1, t0);
    // Shifting the low 12 bits of t into the exponent field gives 2ⁿ exactly.
    let scale = f64::from_bits(t.to_bits() << 52);
    let y = p * scale;
    if x < -708.0 {
        0.0
    } else if x.is_nan() {
        x
    } else {
        y
    }
}

/// Row-wise softmax `S_kj = exp(F_kj − max_j F_kj) / Σ_j exp(F_kj − max_j F_kj)` of a row-major
/// `k × k` matrix (SPEC §1: `S = σ(F)`), written into `s`. Costs `k²` exponentials.
#[track_caller]
pub fn softmax_rows(f: &[f64], k: usize, s: &mut [f64]) {
    assert_eq!(f.len(), k * k);
    assert_eq!(s.len(), k * k);
    softmax_rows_kernel(f, k, s);
}

// Hot kernels are compiled for several instruction sets and picked at run time
// (`multiversion`). They use only IEEE additions and multiplications in a fixed order, which
// Rust never fuses, so every instruction set gives the same bits.
#[multiversion(targets("x86_64+avx2+fma", "x86_64+avx", "aarch64+neon"))]
fn softmax_rows_kernel(f: &[f64], k: usize, s: &mut [f64]) {
    for (fr, sr) in f.chunks_exact(k).zip(s.chunks_exact_mut(k)) {
        softmax(fr, sr);
    }
}

/// Softmax of one vector: `s_j = exp(f_j − max f) / Σ exp(f − max f)`.
#[inline(always)]
pub fn softmax(f: &[f64], s: &mut [f64]) {
    let m = max(f);
    for (sj, &fj) in s.iter_mut().zip(f) {
        *sj = exp(fj - m);
    }
    let inv = 1.0 / sum(s);
    for sj in s.iter_mut() {
        *sj *= inv;
    }
}

/// `max_i x_i` (`−∞` for an empty slice), in 8 interleaved lanes so that it vectorizes.
#[inline(always)]
pub fn max(x: &[f64]) -> f64 {
    let mut acc = [f64::NEG_INFINITY; 8];
    let chunks = x.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a = if v > *a { v } else { *a };
        }
    }
    let mut m = f64::NEG_INFINITY;
    for &v in acc.iter().chain(tail) {
        m = if v > m { v } else { m };
    }
    m
}

/// `((a₀ + a₄) + (a₁ + a₅)) + ((a₂ + a₆) + (a₃ + a₇)) + t`: the end of [`sum`] and [`dot`]
/// (eight lane sums `a`, then the tail's sum `t`).
#[inline(always)]
fn lanes_sum(a: &[f64; 8], t: f64) -> f64 {
    ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7])) + t
}

/// `Σ_i x_i`, accumulated in 8 interleaved partial sums (a fixed order, so the result does not
/// depend on the machine, while the loop vectorizes).
#[inline(always)]
pub fn sum(x: &[f64]) -> f64 {
    let mut acc = [0.0; 8];
    let chunks = x.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    let mut t = 0.0;
    for v in tail {
        t += v;
    }
    lanes_sum(&acc, t)
}

/// `aᵀb`, accumulated in 8 interleaved partial sums (fixed order, vectorizable).
#[inline(always)]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut t = 0.0;
    for (x, y) in ta.iter().zip(tb) {
        t += x * y;
    }
    lanes_sum(&acc, t)
}

/// `y = M x` for a row-major `m × n` matrix `M`.
#[track_caller]
pub fn matvec(m: &[f64], n: usize, x: &[f64], y: &mut [f64]) {
    assert_eq!(x.len(), n);
    assert_eq!(m.len(), n * y.len());
    matvec_kernel(m, n, x, y);
}

#[multiversion(targets("x86_64+avx2+fma", "x86_64+avx", "aarch64+neon"))]
fn matvec_kernel(m: &[f64], n: usize, x: &[f64], y: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU supports AVX (checked just above).
        unsafe { avx::matvec(m, n, x, y) };
        return;
    }
    for (yi, row) in y.iter_mut().zip(m.chunks_exact(n)) {
        *yi = dot(row, x);
    }
}

/// AVX versions of kernels whose portable form the compiler vectorizes poorly. Each one adds and
/// multiplies in exactly the order of the portable code (no fused multiply–add), so it gives the
/// same bits.
#[cfg(target_arch = "x86_64")]
mod avx {
    use std::arch::x86_64::{
        __m256d, _mm256_add_pd, _mm256_loadu_pd, _mm256_mul_pd, _mm256_setzero_pd, _mm256_storeu_pd,
    };

    /// `y = M x` as [`super::dot`] of each row with `x`, four rows at a time: each row keeps
    /// `dot`'s eight partial sums in two 4-lane registers (lanes `i` and `i + 4`), and the four
    /// rows' 8 independent chains of additions hide the adder's latency.
    ///
    /// # Safety
    /// The CPU must support AVX; `m.len() = n·y.len()`, `x.len() = n`.
    #[target_feature(enable = "avx")]
    pub(super) unsafe fn matvec(m: &[f64], n: usize, x: &[f64], y: &mut [f64]) {
        assert!(m.len() == n * y.len() && x.len() == n);
        let body = n - n % 8;
        let xp = x.as_ptr();
        let rows = y.len();
        let mut i = 0;
        while i + 4 <= rows {
            let r = [0, 1, 2, 3].map(|q| m[(i + q) * n..].as_ptr());
            let mut lo = [_mm256_setzero_pd(); 4];
            let mut hi = [_mm256_setzero_pd(); 4];
            let mut c = 0;
            while c < body {
                // SAFETY: c + 8 ≤ body ≤ n, within x and within each of the four rows.
                let (xl, xh) =
                    unsafe { (_mm256_loadu_pd(xp.add(c)), _mm256_loadu_pd(xp.add(c + 4))) };
                for q in 0..4 {
                    // SAFETY: as above.
                    let (ml, mh) = unsafe {
                        (
                            _mm256_loadu_pd(r[q].add(c)),
                            _mm256_loadu_pd(r[q].add(c + 4)),
                        )
                    };
                    lo[q] = _mm256_add_pd(lo[q], _mm256_mul_pd(ml, xl));
                    hi[q] = _mm256_add_pd(hi[q], _mm256_mul_pd(mh, xh));
                }
                c += 8;
            }
            for q in 0..4 {
                y[i + q] = finish(
                    lo[q],
                    hi[q],
                    &m[(i + q) * n + body..(i + q + 1) * n],
                    &x[body..],
                );
            }
            i += 4;
        }
        for (q, yq) in y.iter_mut().enumerate().skip(i) {
            *yq = super::dot(&m[q * n..(q + 1) * n], x);
        }
    }

    /// `((a₀ + a₄) + (a₁ + a₅)) + ((a₂ + a₆) + (a₃ + a₇)) + Σ tail`, as in [`super::dot`].
    #[target_feature(enable = "avx")]
    fn finish(lo: __m256d, hi: __m256d, ta: &[f64], tb: &[f64]) -> f64 {
        let mut s = [0.0; 4];
        // SAFETY: `s` holds four doubles.
        unsafe { _mm256_storeu_pd(s.as_mut_ptr(), _mm256_add_pd(lo, hi)) };
        let mut t = 0.0;
        for (a, b) in ta.iter().zip(tb) {
            t += a * b;
        }
        ((s[0] + s[1]) + (s[2] + s[3])) + t
    }
}

/// `y = Mᵀ x` for a row-major `m × n` matrix `M` (row-wise accumulation, streaming `M` once).
#[track_caller]
pub fn matvec_t(m: &[f64], n: usize, x: &[f64], y: &mut [f64]) {
    assert_eq!(y.len(), n);
    assert_eq!(m.len(), n * x.len());
    y.fill(0.0);
    matvec_t_kernel(m, n, x, y);
}

/// Four rows per pass over `y`, adding their terms to each `y_j` one after the other: the order
/// of the row-at-a-time loop (so the same bits) with a quarter of its loads and stores of `y`.
#[multiversion(targets("x86_64+avx2+fma", "x86_64+avx", "aarch64+neon"))]
fn matvec_t_kernel(m: &[f64], n: usize, x: &[f64], y: &mut [f64]) {
    let mut xb = x.chunks_exact(4);
    let mut mb = m.chunks_exact(4 * n);
    for (x4, m4) in (&mut xb).zip(&mut mb) {
        let (r0, rest) = m4.split_at(n);
        let (r1, rest) = rest.split_at(n);
        let (r2, r3) = rest.split_at(n);
        for ((((yj, &a), &b), &c), &d) in y.iter_mut().zip(r0).zip(r1).zip(r2).zip(r3) {
            *yj = (((*yj + x4[0] * a) + x4[1] * b) + x4[2] * c) + x4[3] * d;
        }
    }
    for (&xi, row) in xb.remainder().iter().zip(mb.remainder().chunks_exact(n)) {
        for (yj, &mij) in y.iter_mut().zip(row) {
            *yj += xi * mij;
        }
    }
}

/// An LU factorization (partial pivoting, `faer`) of `A = I − ηS`, the Jacobian `−∂h/∂θ` of the
/// implicit model's constraint. One factorization serves `Aθ = w` and the adjoint `Aᵀu = g`.
#[derive(Clone)]
pub struct ResolventLu {
    lu: PartialPivLu<f64>,
    buf: Mat<f64>,
}

impl ResolventLu {
    /// Factorizes `A = I − ηS` for a row-major row-stochastic `k × k` matrix `S`.
    #[track_caller]
    pub fn new(s: &[f64], k: usize, eta: f64) -> Self {
        assert_eq!(s.len(), k * k);
        let a = Mat::from_fn(k, k, |i, j| {
            f64::from(u8::from(i == j)) - eta * s[i * k + j]
        });
        Self {
            lu: a.partial_piv_lu(),
            buf: Mat::zeros(k, 1),
        }
    }

    fn with_rhs(&mut self, x: &mut [f64], f: impl FnOnce(&PartialPivLu<f64>, MatMut<'_, f64>)) {
        for (i, &xi) in x.iter().enumerate() {
            self.buf[(i, 0)] = xi;
        }
        f(&self.lu, self.buf.as_mut());
        for (i, xi) in x.iter_mut().enumerate() {
            *xi = self.buf[(i, 0)];
        }
    }

    /// Overwrites `x` with `A⁻¹x`.
    pub fn solve_in_place(&mut self, x: &mut [f64]) {
        self.with_rhs(x, |lu, b| lu.solve_in_place(b));
    }

    /// Overwrites `x` with `A⁻ᵀx`.
    pub fn solve_transpose_in_place(&mut self, x: &mut [f64]) {
        self.with_rhs(x, |lu, b| lu.solve_transpose_in_place(b));
    }
}

/// How `A = I − ηS` is solved in the implicit model's hot path.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum SolverKind {
    /// Factorize `A` (LU, partial pivoting) at every parameter update: exact to rounding.
    Lu,
    /// Iterative refinement preconditioned by a lagged LU of `A`, warm-started from the previous
    /// solution, refactorizing when convergence slows: relative residual below [`REFINE_TOL`].
    Refine,
    /// Restarted GMRES with right Jacobi preconditioning (`A D⁻¹`, `D = diag(A)`), warm-started
    /// from the previous solution, to the same relative residual; falls back to an LU solve if it
    /// has not converged after [`GMRES_MAX_ITERS`] (50) products with `A`.
    Gmres,
    /// `lu` for `k ≤ 32` (where a factorization costs less than a few matrix–vector
    /// products), `gmres` above (measured fastest: a default 300-step mountain-car run, k = 400,
    /// costs 0.24 s of CPU time with `gmres`, 0.78 s with `refine`, 0.79 s with `lu` on an AMD
    /// EPYC; README, *Speed*).
    #[default]
    Auto,
}

/// Largest `k` for which [`SolverKind::Auto`] factorizes at every update.
pub const AUTO_LU_MAX_K: usize = 32;

/// Relative residual `‖b − Ax‖₂ ≤ REFINE_TOL·‖b‖₂` at which a refined solve stops. With
/// `cond(A) ≤ (1 + η)/(1 − η)` this bounds the relative error of `θ̂` by about `1e−8` at
/// `η = 0.975`, far below the published runs' value iteration to `1e−6` (SPEC §5).
pub const REFINE_TOL: f64 = 1e-10;

/// At most this many refinement sweeps before the solver refactorizes.
const MAX_SWEEPS: usize = 8;

/// A solve that needs more sweeps than this refactorizes at the next update (measured on mountain
/// car, k = 400: the cheapest of 2, 3, 4 and 6).
const SLOW_SWEEPS: usize = 4;

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

/// Solves `Ax = b` and `Aᵀx = b` for `A = I − ηS` as `S` changes from step to step (SPEC §1):
/// either by a fresh LU per `S` ([`SolverKind::Lu`]) or by refinement
/// `x ← x + Â⁻¹(b − Ax)` with a lagged factorization `Â` of an earlier `A`, warm-started from the
/// previous solution ([`SolverKind::Refine`]). A sweep costs `2k²` multiply–adds against `2k³/3`
/// for a factorization; the solver refactorizes at the current `S` whenever a solve needs more
/// than [`MAX_SWEEPS`] sweeps or stops contracting, so every solve meets its tolerance.
#[derive(Clone)]
pub struct Resolvent {
    k: usize,
    eta: f64,
    refine: bool,
    gmres: Option<Gmres>,
    lu: ResolventLu,
    /// True when `lu` factorizes the current `A`.
    fresh: bool,
    /// Refactorize at this many coming updates: after a slow refinement (one) or a failed GMRES
    /// solve ([`LU_AFTER_GMRES_FAILURE`]).
    lu_updates: usize,
    r: Vec<f64>,
    stats: SolveStats,
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
            lu: ResolventLu::new(s, k, eta),
            fresh: true,
            lu_updates: 0,
            r: vec![0.0; k],
            stats: SolveStats {
                factorizations: 1,
                ..Default::default()
            },
        }
    }

    /// Whether `kind` refines (or iterates) between factorizations, and its GMRES workspace.
    fn mode(k: usize, kind: SolverKind) -> (bool, Option<Gmres>) {
        let kind = match kind {
            SolverKind::Auto if k > AUTO_LU_MAX_K => SolverKind::Gmres,
            SolverKind::Auto => SolverKind::Lu,
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
    }

    /// Work done so far.
    pub fn stats(&self) -> SolveStats {
        self.stats
    }

    /// `S` has changed: refactorize now (`lu`), or mark the factorization as lagged (`refine`).
    pub fn update(&mut self, s: &[f64]) {
        if self.lu_updates > 0 {
            self.lu_updates -= 1;
            self.refactor(s);
        } else if self.refine {
            self.fresh = false;
        } else {
            self.refactor(s);
        }
    }

    fn refactor(&mut self, s: &[f64]) {
        self.lu = ResolventLu::new(s, self.k, self.eta);
        self.fresh = true;
        self.stats.factorizations += 1;
    }

    /// Solves `Ax = b` (or `Aᵀx = b` when `transpose`). On entry `x` holds a warm start and `sx`
    /// its product `Sx` (`Sᵀx`); on return `x` is the solution and `sx` its `Sx` (`Sᵀx`).
    ///
    /// Carrying `Sx` lets GMRES start from the warm start's residual `b − x + ηSx` without a
    /// product, and its final check of the true residual yields `Sx` of the solution.
    pub fn solve(&mut self, s: &[f64], b: &[f64], x: &mut [f64], sx: &mut [f64], transpose: bool) {
        self.stats.solves += 1;
        let k = self.k;
        let product = |x: &[f64], out: &mut [f64]| {
            if transpose {
                matvec_t(s, k, x, out);
            } else {
                matvec(s, k, x, out);
            }
        };
        if !self.fresh && self.gmres.is_some() {
            // Right Jacobi preconditioning: solve (A D⁻¹) y = b, x = D⁻¹y, D = diag(A).
            let (eta, bn) = (self.eta, dot(b, b).sqrt());
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
            if ok {
                return;
            }
            self.lu_updates = LU_AFTER_GMRES_FAILURE;
            self.refactor(s);
        } else if !self.fresh {
            let bn = dot(b, b).sqrt();
            let mut last = f64::INFINITY;
            for sweep in 0..MAX_SWEEPS {
                if sweep >= SLOW_SWEEPS {
                    self.lu_updates = self.lu_updates.max(1);
                }
                // r = b − Ax (or b − Aᵀx), A = I − ηS, from Sx (kept: it is the answer's).
                product(x, sx);
                let eta = self.eta;
                for (((ri, &bi), &xi), &p) in self.r.iter_mut().zip(b).zip(x.iter()).zip(sx.iter())
                {
                    *ri = bi - (xi - eta * p);
                }
                let rn = dot(&self.r, &self.r).sqrt();
                if rn <= REFINE_TOL * bn {
                    return;
                }
                if rn.is_nan() || rn >= 0.5 * last {
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
    }

    fn apply_lu(&mut self, transpose: bool) {
        if transpose {
            self.lu.solve_transpose_in_place(&mut self.r);
        } else {
            self.lu.solve_in_place(&mut self.r);
        }
    }
}

/// GMRES stops after this many products with `A` and the solver falls back to LU: at k = 400 a
/// factorization costs about as much as 50 products.
pub const GMRES_MAX_ITERS: usize = 50;

/// After GMRES fails, the solver factorizes at this many updates before it tries GMRES again
/// (a run whose parameters explode makes `A` hard for GMRES step after step).
pub const LU_AFTER_GMRES_FAILURE: usize = 10;

/// Krylov dimension before a GMRES restart.
const GMRES_RESTART: usize = 40;

/// Workspace of restarted GMRES (Saad & Schultz 1986): Arnoldi with modified Gram–Schmidt,
/// Givens rotations on the Hessenberg matrix, restart after [`GMRES_RESTART`] steps.
#[derive(Clone)]
struct Gmres {
    /// Krylov basis, `(m + 1) × k` row-major.
    v: Vec<f64>,
    /// Hessenberg matrix, `(m + 1) × m` row-major.
    h: Vec<f64>,
    cs: Vec<f64>,
    sn: Vec<f64>,
    g: Vec<f64>,
    y: Vec<f64>,
    w: Vec<f64>,
    /// Residual `b − Op x` of the current iterate.
    r: Vec<f64>,
    /// Diagonal of `A` (Jacobi preconditioner).
    d: Vec<f64>,
}

impl Gmres {
    fn new(k: usize) -> Self {
        let m = GMRES_RESTART.min(k);
        Self {
            v: vec![0.0; (m + 1) * k],
            h: vec![0.0; (m + 1) * m],
            cs: vec![0.0; m],
            sn: vec![0.0; m],
            g: vec![0.0; m + 1],
            y: vec![0.0; m],
            w: vec![0.0; k],
            r: vec![0.0; k],
            d: vec![0.0; k],
        }
    }

    /// Solves `Op x = b` from the warm start in `x`, whose residual `b − Op x` the caller has put
    /// in `self.r`, until the true residual `‖b − Op x‖₂ ≤ atol`. Returns whether it converged
    /// and the number of products with `Op`. When it converges, its last product was `Op x` of
    /// the returned `x`.
    fn solve(
        &mut self,
        mut op: impl FnMut(&[f64], &mut [f64]),
        b: &[f64],
        x: &mut [f64],
        atol: f64,
    ) -> (bool, usize) {
        let k = b.len();
        let m = self.cs.len();
        let mut iters = 0;
        loop {
            let beta = dot(&self.r, &self.r).sqrt();
            if beta <= atol {
                return (true, iters);
            }
            if !beta.is_finite() || iters >= GMRES_MAX_ITERS {
                return (false, iters);
            }
            for (v0, &ri) in self.v[..k].iter_mut().zip(&self.r) {
                *v0 = ri / beta;
            }
            self.g.fill(0.0);
            self.g[0] = beta;
            let mut j_end = 0;
            for j in 0..m {
                j_end = j + 1;
                let (basis, rest) = self.v.split_at_mut((j + 1) * k);
                let w = &mut rest[..k];
                op(&basis[j * k..], w);
                iters += 1;
                for i in 0..=j {
                    let hij = dot(w, &basis[i * k..(i + 1) * k]);
                    self.h[i * m + j] = hij;
                    for (wl, &vl) in w.iter_mut().zip(&basis[i * k..(i + 1) * k]) {
                        *wl -= hij * vl;
                    }
                }
                let hn = dot(w, w).sqrt();
                self.h[(j + 1) * m + j] = hn;
                if hn > 0.0 {
                    w.iter_mut().for_each(|v| *v /= hn);
                }
                for i in 0..j {
                    let (a, c) = (self.h[i * m + j], self.h[(i + 1) * m + j]);
                    self.h[i * m + j] = self.cs[i] * a + self.sn[i] * c;
                    self.h[(i + 1) * m + j] = -self.sn[i] * a + self.cs[i] * c;
                }
                let (a, c) = (self.h[j * m + j], self.h[(j + 1) * m + j]);
                let r = a.hypot(c);
                let (cs, sn) = if r == 0.0 { (1.0, 0.0) } else { (a / r, c / r) };
                self.cs[j] = cs;
                self.sn[j] = sn;
                self.h[j * m + j] = r;
                self.h[(j + 1) * m + j] = 0.0;
                self.g[j + 1] = -sn * self.g[j];
                self.g[j] *= cs;
                if self.g[j + 1].abs() <= atol || hn == 0.0 || iters >= GMRES_MAX_ITERS {
                    break;
                }
            }
            // y = R⁻¹g (upper triangular), x += V y.
            for i in (0..j_end).rev() {
                let mut t = self.g[i];
                for l in i + 1..j_end {
                    t -= self.h[i * m + l] * self.y[l];
                }
                self.y[i] = t / self.h[i * m + i];
            }
            for (i, &yi) in self.y[..j_end].iter().enumerate() {
                for (xl, &vl) in x.iter_mut().zip(&self.v[i * k..(i + 1) * k]) {
                    *xl += yi * vl;
                }
            }
            // The true residual of the new iterate: a restart's start, or the proof of convergence.
            op(x, &mut self.w);
            iters += 1;
            for ((ri, &bi), &wi) in self.r.iter_mut().zip(b).zip(&self.w) {
                *ri = bi - wi;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn ulps(a: f64, b: f64) -> u64 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    #[test]
    fn exp_is_within_two_ulp_of_libm() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut worst = 0;
        for _ in 0..200_000 {
            let x: f64 = rng.random_range(-708.0..709.0);
            worst = worst.max(ulps(exp(x), x.exp()));
            let x: f64 = rng.random_range(-2.0..2.0);
            worst = worst.max(ulps(exp(x), x.exp()));
        }
        assert!(worst <= 2, "worst error {worst} ulp");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-800.0), 0.0);
        assert_eq!(exp(f64::NEG_INFINITY), 0.0);
        assert!(exp(f64::NAN).is_nan());
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
                    solver.solve(&s, &b, &mut x, &mut sx, transpose);
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

    #[test]
    fn simd_dispatch_gives_the_same_bits_as_plain_code() {
        let k = 53;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let f: Vec<f64> = (0..k * k).map(|_| rng.random_range(-30.0..30.0)).collect();
        let mut s = vec![0.0; k * k];
        softmax_rows(&f, k, &mut s);
        for (fr, sr) in f.chunks_exact(k).zip(s.chunks_exact(k)) {
            let mut plain = vec![0.0; k];
            softmax(fr, &mut plain);
            assert!(plain
                .iter()
                .zip(sr)
                .all(|(a, b)| a.to_bits() == b.to_bits()));
        }
        // Square and non-square shapes, with row counts and lengths not multiples of 4 and 8.
        for (rows, n) in [(k, k), (7, 13), (9, 16), (3, 5)] {
            let m = &s[..rows * n];
            let x = &f[..n];
            let mut y = vec![0.0; rows];
            matvec(m, n, x, &mut y);
            for (i, yi) in y.iter().enumerate() {
                assert_eq!(yi.to_bits(), dot(&m[i * n..(i + 1) * n], x).to_bits());
            }
            let xt = &f[..rows];
            let mut yt = vec![0.0; n];
            matvec_t(m, n, xt, &mut yt);
            let mut plain = vec![0.0; n];
            for (&xi, row) in xt.iter().zip(m.chunks_exact(n)) {
                for (pj, &mij) in plain.iter_mut().zip(row) {
                    *pj += xi * mij;
                }
            }
            assert!(yt
                .iter()
                .zip(&plain)
                .all(|(a, b)| a.to_bits() == b.to_bits()));
        }
    }

    #[test]
    fn softmax_rows_are_stochastic_and_shift_invariant() {
        let f = [1.0, 2.0, 3.0, 1000.0, 1000.0, -1000.0, 0.0, 0.0, 0.0];
        let mut s = [0.0; 9];
        softmax_rows(&f, 3, &mut s);
        for row in s.chunks(3) {
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        }
        assert!((s[3] - 0.5).abs() < 1e-15 && s[5] == 0.0);
        let e: Vec<f64> = [1.0f64, 2.0, 3.0].iter().map(|x| x.exp()).collect();
        let z: f64 = e.iter().sum();
        for j in 0..3 {
            assert!((s[j] - e[j] / z).abs() < 1e-15);
        }
    }

    #[test]
    fn lu_solves_both_ways_with_small_residuals() {
        let k = 37;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        let f: Vec<f64> = (0..k * k).map(|_| rng.random_range(-3.0..3.0)).collect();
        let mut s = vec![0.0; k * k];
        softmax_rows(&f, k, &mut s);
        let eta = 0.975;
        let mut lu = ResolventLu::new(&s, k, eta);
        let b: Vec<f64> = (0..k).map(|_| rng.random_range(-1.0..1.0)).collect();
        let mut x = b.clone();
        lu.solve_in_place(&mut x);
        let mut sx = vec![0.0; k];
        matvec(&s, k, &x, &mut sx);
        let res: f64 = (0..k)
            .map(|i| (x[i] - eta * sx[i] - b[i]).abs())
            .fold(0.0, f64::max);
        let mut y = b.clone();
        lu.solve_transpose_in_place(&mut y);
        matvec_t(&s, k, &y, &mut sx);
        let res_t: f64 = (0..k)
            .map(|i| (y[i] - eta * sx[i] - b[i]).abs())
            .fold(0.0, f64::max);
        let tol = 1e2 * f64::EPSILON * k as f64 / (1.0 - eta);
        assert!(res < tol && res_t < tol, "{res} {res_t} {tol}");
    }
}
