//! Dense numerical kernels of the hot path: a vectorizable `exp`, the row softmax, matrix–vector
//! products, and the factorization of `A = I − ηS` that serves both the forward and the adjoint
//! solve (SPEC §1).

use faer::linalg::solvers::{PartialPivLu, Solve};
use faer::{Mat, MatMut};

const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
const LOG2_E: f64 = std::f64::consts::LOG2_E;
/// 1.5·2⁵²: adding and subtracting it rounds a double of magnitude < 2⁵¹ to the nearest integer.
const ROUND: f64 = 6_755_399_441_055_744.0;

/// `eˣ` to within 2 ulp for `x ≤ 709`, and `0` for `x < −708` (no subnormal results).
///
/// Cody–Waite reduction `x = n·ln2 + r`, `|r| ≤ ln2/2`, then the degree-13 Taylor polynomial of
/// `eʳ` (truncation error below 2⁻⁵⁶) and a scaling by `2ⁿ` built from the exponent bits. It uses
/// only IEEE additions and multiplications, no table and no branch, so that loops over it
/// vectorize (the softmax of `k×k` logits is the hot path's floor) and give the same bits on
/// every platform, unlike C libraries' `exp`.
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    let xc = x.clamp(-708.0, 709.0);
    let t = xc * LOG2_E + ROUND;
    let n = t - ROUND;
    let r = (xc - n * LN2_HI) - n * LN2_LO;
    let mut p = 1.0 / 6_227_020_800.0;
    p = p * r + 1.0 / 479_001_600.0;
    p = p * r + 1.0 / 39_916_800.0;
    p = p * r + 1.0 / 3_628_800.0;
    p = p * r + 1.0 / 362_880.0;
    p = p * r + 1.0 / 40_320.0;
    p = p * r + 1.0 / 5_040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    // The low bits of `t` hold n (two's complement, |n| ≤ 1022): 2ⁿ has exponent field n + 1023.
    let ni = (t.to_bits() as i64).wrapping_sub(ROUND.to_bits() as i64);
    let scale = f64::from_bits(((ni + 1023) as u64) << 52);
    let y = p * scale;
    if x < -708.0 {
        0.0
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
    for (fr, sr) in f.chunks_exact(k).zip(s.chunks_exact_mut(k)) {
        softmax(fr, sr);
    }
}

/// Softmax of one vector: `s_j = exp(f_j − max f) / Σ exp(f − max f)`.
#[inline]
pub fn softmax(f: &[f64], s: &mut [f64]) {
    let m = f.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut z = 0.0;
    for (sj, &fj) in s.iter_mut().zip(f) {
        let e = exp(fj - m);
        *sj = e;
        z += e;
    }
    let inv = 1.0 / z;
    for sj in s.iter_mut() {
        *sj *= inv;
    }
}

/// `y = M x` for a row-major `m × n` matrix `M`.
#[track_caller]
pub fn matvec(m: &[f64], n: usize, x: &[f64], y: &mut [f64]) {
    assert_eq!(x.len(), n);
    assert_eq!(m.len(), n * y.len());
    for (yi, row) in y.iter_mut().zip(m.chunks_exact(n)) {
        *yi = crate::data::dot(row, x);
    }
}

/// `y = Mᵀ x` for a row-major `m × n` matrix `M` (row-wise accumulation, streaming `M` once).
#[track_caller]
pub fn matvec_t(m: &[f64], n: usize, x: &[f64], y: &mut [f64]) {
    assert_eq!(y.len(), n);
    assert_eq!(m.len(), n * x.len());
    y.fill(0.0);
    for (&xi, row) in x.iter().zip(m.chunks_exact(n)) {
        for (yj, &mij) in y.iter_mut().zip(row) {
            *yj += xi * mij;
        }
    }
}

/// An LU factorization (partial pivoting, `faer`) of `A = I − ηS`, the Jacobian `−∂h/∂θ` of the
/// implicit model's constraint. One factorization serves `Aθ = w` and the adjoint `Aᵀu = g`.
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
