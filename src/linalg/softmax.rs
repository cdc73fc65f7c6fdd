//! The row softmax `S = σ(F)` and the SGD step on the logits fused with it: the hot path's
//! floor, `k²` exponentials per update (SPEC §1).

use super::kernels::{exp, matvec, max, sum};

/// Row-wise softmax `S_kj = exp(F_kj − max_j F_kj) / Σ_j exp(F_kj − max_j F_kj)` of a row-major
/// `k × k` matrix (SPEC §1: `S = σ(F)`), written into `s`. Costs `k²` exponentials.
#[track_caller]
pub fn softmax_rows(f: &[f64], k: usize, s: &mut [f64]) {
    assert_eq!(f.len(), k * k);
    assert_eq!(s.len(), k * k);
    softmax_rows_kernel(f, k, s);
}

/// [`softmax_rows`] for any number of rows of length `k`: the `mk × k` logits of `m`
/// pseudo-actions (SPEC §8.1).
#[track_caller]
pub fn softmax_each_row(f: &[f64], k: usize, s: &mut [f64]) {
    assert_eq!(f.len(), s.len());
    assert!(k > 0 && f.len() % k == 0, "rows of length {k}");
    softmax_rows_kernel(f, k, s);
}

// Hot kernels are compiled for several instruction sets and picked at run time
// (`multiversion`). They use only IEEE additions, multiplications, divisions, fused
// multiply–adds (`mul_add`, one correctly rounded operation) and comparisons, element by
// element, in an order fixed by the source: Rust never fuses a multiplication and an addition
// on its own nor reassociates floating-point operations, so vectorizing the loops (4 doubles
// per AVX2 register, 8 per AVX-512 register, 2 per NEON register) only changes how many
// elements are computed at once, never an element's operations, and every target gives the
// bits of the portable code. The partial sums and maxima are kept in 8 explicit lanes
// (`acc[i]`) whose order the code fixes, whatever the register width. The AVX-512 target
// (`multiversion` requires, for it, the Ice Lake feature set: CPUs where 512-bit operations do
// not slow the clock down) is not testable on the AVX2 build machine; the test
// `dispatched_kernels_give_the_bits_of_plain_code` checks it on any CPU that has it. (`S·x`
// takes the same hand-written AVX path on every x86 target that has AVX.)
dispatched! {
    fn softmax_rows_kernel(f: &[f64], k: usize, s: &mut [f64]) {
        for (fr, sr) in f.chunks_exact(k).zip(s.chunks_exact_mut(k)) {
            softmax(fr, sr);
        }
    }
}

/// Softmax of one vector: `s_j = exp(f_j − max f) / Σ exp(f − max f)`.
#[inline(always)]
pub fn softmax(f: &[f64], s: &mut [f64]) {
    softmax_with_max(f, max(f), s);
}

/// [`softmax`] given `m = max f`. (Summing the exponentials as they are computed, in
/// [`super::sum`]'s eight lanes, stops the compiler from vectorizing the exponential: the
/// separate sum of the row, in the first-level cache, costs less.)
#[inline(always)]
fn softmax_with_max(f: &[f64], m: f64, s: &mut [f64]) {
    for (sj, &fj) in s.iter_mut().zip(f) {
        *sj = exp(fj - m);
    }
    let inv = 1.0 / sum(s);
    for sj in s.iter_mut() {
        *sj *= inv;
    }
}

/// The SGD step on the logits fused with the softmax of the new logits and the warm start of
/// the next forward solve: for each row `k`,
/// `F_kj ← F_kj − c u_k S_kj (θ̂_j − (Sθ̂)_k)` (`c = αη`, SPEC §1: `∂L/∂F_kj = η u_k S_kj (θ̂_j −
/// (Sθ̂)_k)`), then `S_k = σ(F_k)` of the new row, then `(Sθ̂)_k ← S_k·θ̂` with the new row
/// (`s_theta` holds the old `Sθ̂` on entry, the new `S` times the same `θ̂` on return).
///
/// One pass over `F` and `S` from memory instead of the three of a step, a softmax and a
/// product: the rows are taken in blocks of [`LOGIT_BLOCK_ROWS`], each updated and normalized,
/// and the block multiplied by `θ̂` while it is in cache. The bits are those of the
/// separate passes ([`softmax_rows`] after the update, then [`super::matvec`]).
#[track_caller]
pub fn logit_step(
    f: &mut [f64],
    s: &mut [f64],
    u: &[f64],
    theta: &[f64],
    s_theta: &mut [f64],
    c: f64,
) {
    let k = theta.len();
    assert!(f.len() == k * k && s.len() == k * k && u.len() == k && s_theta.len() == k);
    logit_step_kernel(f, s, u, theta, s_theta, c);
}

dispatched! {
    fn logit_step_kernel(
        f: &mut [f64],
        s: &mut [f64],
        u: &[f64],
        theta: &[f64],
        s_theta: &mut [f64],
        c: f64,
    ) {
        let k = theta.len();
        let block = LOGIT_BLOCK_ROWS * k;
        let blocks = f.chunks_mut(block).zip(s.chunks_mut(block)).zip(
            u.chunks(LOGIT_BLOCK_ROWS)
                .zip(s_theta.chunks_mut(LOGIT_BLOCK_ROWS)),
        );
        for ((fb, sb), (ub, stb)) in blocks {
            for (((frow, srow), &uk), &st) in fb
                .chunks_exact_mut(k)
                .zip(sb.chunks_exact_mut(k))
                .zip(ub)
                .zip(stb.iter())
            {
                let cu = c * uk;
                for ((fkj, &skj), &tj) in frow.iter_mut().zip(srow.iter()).zip(theta) {
                    *fkj -= cu * skj * (tj - st);
                }
                softmax(frow, srow);
            }
            // The block's new rows are still in the first-level cache: their products with θ̂
            // (four rows at a time, as `matvec` takes them, so the same bits).
            matvec(sb, k, theta, stb);
        }
    }
}

/// Rows of `F` and `S` per block of [`logit_step`]: updated and normalized, then multiplied by
/// `θ̂` together (four rows at a time, as the product kernel takes them: 4 rows of `F` and `S`
/// and `θ̂` take 29 KB at k = 400, within a 32 KB first-level cache).
const LOGIT_BLOCK_ROWS: usize = 4;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::matvec;
    use rand::{Rng, SeedableRng};

    fn same_bits(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
    }

    /// The fused step gives the bits of the three separate passes (update, softmax of the new
    /// logits, product with `θ̂`), for a row length that is not a multiple of 8 and one that
    /// is, and with extreme logits (a row whose exponentials underflow, a tie at the maximum).
    #[test]
    fn logit_step_gives_the_bits_of_separate_passes() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for k in [1, 5, 8, 37, 64] {
            let mut f: Vec<f64> = (0..k * k).map(|_| rng.random_range(-20.0..20.0)).collect();
            f[0] = 800.0;
            if k > 2 {
                f[k] = -800.0;
                f[k + 1] = 3.0;
                f[k + 2] = 3.0;
            }
            let mut s = vec![0.0; k * k];
            softmax_rows(&f, k, &mut s);
            let theta: Vec<f64> = (0..k).map(|_| rng.random_range(-5.0..5.0)).collect();
            let u: Vec<f64> = (0..k).map(|_| rng.random_range(-1.0..1.0)).collect();
            let mut s_theta = vec![0.0; k];
            matvec(&s, k, &theta, &mut s_theta);
            let c = 0.37;

            let mut f_ref = f.clone();
            for kk in 0..k {
                for j in 0..k {
                    f_ref[kk * k + j] -= c * u[kk] * s[kk * k + j] * (theta[j] - s_theta[kk]);
                }
            }
            let mut s_ref = vec![0.0; k * k];
            for (fr, sr) in f_ref.chunks_exact(k).zip(s_ref.chunks_exact_mut(k)) {
                let m = max(fr);
                for (sj, &fj) in sr.iter_mut().zip(fr) {
                    *sj = exp(fj - m);
                }
                let inv = 1.0 / sum(sr);
                sr.iter_mut().for_each(|v| *v *= inv);
            }
            let mut st_ref = vec![0.0; k];
            matvec(&s_ref, k, &theta, &mut st_ref);

            logit_step(&mut f, &mut s, &u, &theta, &mut s_theta, c);
            assert!(same_bits(&f, &f_ref), "k = {k}: F");
            assert!(same_bits(&s, &s_ref), "k = {k}: S");
            assert!(same_bits(&s_theta, &st_ref), "k = {k}: Sθ");
        }
    }
}
