//! The dense kernels of the hot path: a vectorizable `exp`, sums, dot products and
//! matrix–vector products, with run-time dispatch to SIMD instruction sets that gives the same
//! bits on every machine (SPEC §1). The row softmax is in `softmax.rs`.

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
    // Clamped by comparisons, one `max` and one `min` instruction on x86 (`f64::max` and
    // `f64::min` cost three each there, to ignore a NaN operand): the same values, NaN → −708
    // included (NaN is restored below).
    let xc = if x > -708.0 { x } else { -708.0 };
    let xc = if xc < 709.0 { xc } else { 709.0 };
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

/// `‖x‖₂` without overflow or underflow for every finite `x` whose norm is representable: `√(xᵀx)`
/// (by [`dot`], so the same bits) when that is finite and positive, else the scaled
/// `m·√(Σ (x_i/m)²)` with `m = max |x_i|`. NaN if some `x_i` is NaN, `+∞` if some `x_i` is
/// infinite or the norm exceeds `f64::MAX`.
pub fn norm(x: &[f64]) -> f64 {
    let n = dot(x, x).sqrt();
    if n.is_finite() && n > 0.0 {
        return n;
    }
    if x.iter().any(|v| v.is_nan()) {
        return f64::NAN;
    }
    let m = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if m == 0.0 || m.is_infinite() {
        return m;
    }
    let ss: f64 = x.iter().map(|v| (v / m) * (v / m)).sum();
    m * ss.sqrt()
}

/// `y = M x` for a row-major `m × n` matrix `M`.
#[track_caller]
pub fn matvec(m: &[f64], n: usize, x: &[f64], y: &mut [f64]) {
    assert_eq!(x.len(), n);
    assert_eq!(m.len(), n * y.len());
    matvec_kernel(m, n, x, y);
}

// Dispatched like the softmax (`softmax.rs` says why every target gives the same bits).
dispatched! {
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

dispatched! {
    /// Four rows per pass over `y`, adding their terms to each `y_j` one after the other: the order
    /// of the row-at-a-time loop (so the same bits) with a quarter of its loads and stores of `y`.
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::{softmax, softmax_rows};
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
    fn dispatched_kernels_give_the_bits_of_plain_code() {
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
    fn norm_neither_overflows_nor_underflows() {
        let x = [3.0, -4.0, 0.0];
        assert_eq!(norm(&x).to_bits(), dot(&x, &x).sqrt().to_bits());
        for scale in [
            1e300,
            1e-300,
            f64::MAX / 8.0,
            4.0 * f64::MIN_POSITIVE * f64::EPSILON,
        ] {
            let y = x.map(|v| v * scale);
            let n = norm(&y);
            assert!(
                ((n - 5.0 * scale) / (5.0 * scale)).abs() < 4.0 * f64::EPSILON,
                "scale {scale:e}: {n:e}"
            );
        }
        assert_eq!(norm(&[0.0; 5]), 0.0);
        assert_eq!(norm(&[f64::MAX, f64::MAX]), f64::INFINITY);
        assert_eq!(norm(&[1.0, f64::NEG_INFINITY]), f64::INFINITY);
        assert!(norm(&[f64::INFINITY, f64::NAN]).is_nan());
        assert!(norm(&[1e300, f64::NAN]).is_nan());
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
}
