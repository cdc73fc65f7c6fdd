//! Theorem 5 and Corollaries 2–3 (SPEC §2): the second-moment ratio `E‖Δ‖²/‖EΔ‖²` of one SGD
//! update, in closed form and by Monte Carlo with a delta-method 95% interval.

use super::{mul, norm2};
use crate::data::Dataset;
use crate::stats::{Estimate, Z95};
use crate::train::{draw_batch, minibatch_gradient, Sampling};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// `E‖ĝ_B‖² / ‖E ĝ_B‖²` for `ĝ_B = (1/b) Σ_{i∈B} a_i`, `B` a batch of `b` of the `n` rows of `a`
/// (row-major, `n × d`) — Theorem 5's "variance / squared-mean ratio" (it is `1 + tr Cov /
/// ‖mean‖²`). With `S₂ = Σ_i‖a_i‖²` and `S₁ = ‖Σ_i a_i‖²`, exactly:
///
/// - without replacement: `n(b−1)/(b(n−1)) + (n−b)n/(b(n−1)) · S₂/S₁` (Theorem 5; the
///   covariance of a mean of `b` draws without replacement is `(n−b)/(b(n−1))` times the
///   population covariance `S₂/n − ‖ā‖²`);
/// - with replacement: `1 − 1/b + (n/b) · S₂/S₁` (covariance `1/b` times the population one).
///
/// Returns NaN when `Σ_i a_i = 0` or (without replacement) `b > n`.
pub fn second_moment_ratio(a: &[f64], d: usize, b: usize, sampling: Sampling) -> f64 {
    let n = a.len() / d;
    let mut sum = vec![0.0; d];
    let mut s2 = 0.0;
    for row in a.chunks_exact(d) {
        s2 += norm2(row);
        sum.iter_mut().zip(row).for_each(|(s, x)| *s += x);
    }
    let s1 = norm2(&sum);
    if s1 == 0.0 || n == 0 || b == 0 {
        return f64::NAN;
    }
    let (nf, bf) = (n as f64, b as f64);
    match sampling {
        Sampling::WithReplacement => 1.0 - 1.0 / bf + nf / bf * s2 / s1,
        Sampling::WithoutReplacement if b > n => f64::NAN,
        Sampling::WithoutReplacement if n == 1 => 1.0,
        Sampling::WithoutReplacement => {
            nf * (bf - 1.0) / (bf * (nf - 1.0)) + (nf - bf) * nf / (bf * (nf - 1.0)) * s2 / s1
        }
    }
}

/// Training residuals `r_i = φ_iᵀθ − y_i`.
pub fn residuals(data: &Dataset, theta: &[f64]) -> Vec<f64> {
    let mut r = vec![0.0; data.len()];
    data.residuals_into(theta, &mut r);
    r
}

/// The rows `a_i = r_i φ_i` (`n × k`): the per-sample gradients of the explicit update.
pub fn explicit_rows(data: &Dataset, theta: &[f64]) -> Vec<f64> {
    let r = residuals(data, theta);
    let mut a = data.x.clone();
    for (row, ri) in a.chunks_exact_mut(data.k).zip(&r) {
        row.iter_mut().for_each(|x| *x *= ri);
    }
    a
}

/// The scalars `b_i = ⟨1, r_i φ_i⟩` of Theorem 5's implicit form (the update's `1` component).
pub fn ones_rows(data: &Dataset, theta: &[f64]) -> Vec<f64> {
    explicit_rows(data, theta)
        .chunks_exact(data.k)
        .map(|row| row.iter().sum())
        .collect()
}

/// The rows `P r_i φ_i` of the linearized implicit update `Δθ̂ ≈ −αPĝ`.
pub fn preconditioned_rows(data: &Dataset, theta: &[f64], p: &[f64]) -> Vec<f64> {
    explicit_rows(data, theta)
        .chunks_exact(data.k)
        .flat_map(|row| mul(p, row))
        .collect()
}

/// Corollary 3's bound `1 + (n/n')(b_max/b_min)²/b` on the implicit ratio, with `b_i =
/// ⟨1, r_i φ_i⟩` over the `n'` nonzero ones; `None` unless they all share one sign. It bounds
/// the asymptotic form exactly for both samplings (since `(n−b)/(n−1) ≤ 1`, `n(b−1)/(b(n−1)) ≤ 1`).
pub fn corollary3_bound(ones: &[f64], b: usize) -> Option<f64> {
    let nz: Vec<f64> = ones.iter().copied().filter(|x| *x != 0.0).collect();
    if nz.is_empty() || !(nz.iter().all(|x| *x > 0.0) || nz.iter().all(|x| *x < 0.0)) {
        return None;
    }
    let max = nz.iter().map(|x| x.abs()).fold(0.0, f64::max);
    let min = nz.iter().map(|x| x.abs()).fold(f64::INFINITY, f64::min);
    let ratio = ones.len() as f64 / nz.len() as f64;
    Some(1.0 + ratio * (max / min).powi(2) / b as f64)
}

/// True when every row is a one-hot vector and no two rows share their hot index (Corollary 2's
/// setting, in which the explicit ratio without replacement is exactly `n/b`).
pub fn distinct_one_hot(data: &Dataset) -> bool {
    let mut seen = vec![false; data.k];
    for i in 0..data.len() {
        let row = data.row(i);
        let hot: Vec<usize> = (0..data.k).filter(|&j| row[j] != 0.0).collect();
        if hot.len() != 1 || row[hot[0]] != 1.0 || seen[hot[0]] {
            return false;
        }
        seen[hot[0]] = true;
    }
    true
}

/// Monte-Carlo estimate of `R = E‖Δ‖² / ‖EΔ‖²` from `m` i.i.d. samples `Δ_j` (row-major
/// `m × d`): `N̂ = mean ‖Δ_j‖²`, `D̂ = ‖Δ̄‖² − s²/m` (unbiased for `‖EΔ‖²`, `s²` the sample
/// total variance), `R̂ = N̂/D̂`. The 95% interval is the delta method's: with the influence
/// `ψ_j = (‖Δ_j‖² − N̂)/D̂ − (N̂/D̂²)·2Δ̄ᵀ(Δ_j − Δ̄)`, `R̂ ± 1.96 sd(ψ)/√m`.
pub fn ratio_estimate(samples: &[f64], d: usize) -> Estimate {
    let m = samples.len() / d;
    let mf = m as f64;
    let mut mean = vec![0.0; d];
    for row in samples.chunks_exact(d) {
        mean.iter_mut().zip(row).for_each(|(s, x)| *s += x / mf);
    }
    let q: Vec<f64> = samples.chunks_exact(d).map(norm2).collect();
    let n_hat = q.iter().sum::<f64>() / mf;
    let mean2 = norm2(&mean);
    let s2 = (n_hat - mean2) * mf / (mf - 1.0);
    let d_hat = mean2 - s2 / mf;
    let r = n_hat / d_hat;
    let psi: Vec<f64> = samples
        .chunks_exact(d)
        .zip(&q)
        .map(|(row, qj)| {
            let proj: f64 = row.iter().zip(&mean).map(|(x, mu)| (x - mu) * mu).sum();
            (qj - n_hat) / d_hat - n_hat / (d_hat * d_hat) * 2.0 * proj
        })
        .collect();
    let var = psi.iter().map(|p| p * p).sum::<f64>() / (mf - 1.0);
    Estimate {
        estimate: r,
        ci: Z95 * (var / mf).sqrt(),
    }
}

/// Draws `mc` minibatches and returns the steps `Δθ = θ(after) − θ(before)` (row-major, `mc × k`;
/// NaN rows for steps that are not finite). The minibatches are drawn in order from `rng`, the
/// steps computed in parallel: the result does not depend on the number of threads.
pub(super) fn mc_steps(
    param_step: &(dyn Fn(&[f64]) -> Option<Vec<f64>> + Sync),
    data: &Dataset,
    theta: &[f64],
    b: usize,
    sampling: Sampling,
    mc: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<f64> {
    let batches: Vec<Vec<usize>> = (0..mc)
        .map(|_| {
            let mut batch = vec![0usize; b];
            draw_batch(rng, data.len(), sampling, &mut batch);
            batch
        })
        .collect();
    let steps: Vec<Vec<f64>> = batches
        .par_iter()
        .map(|batch| {
            let mut g = vec![0.0; data.k];
            minibatch_gradient(data, theta, batch, &mut g);
            param_step(&g).unwrap_or_else(|| vec![f64::NAN; data.k])
        })
        .collect();
    steps.concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random_rows(n: usize, d: usize, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n * d).map(|_| rng.random_range(-1.0..2.0)).collect()
    }

    /// `E‖ĝ_B‖²/‖Eĝ_B‖²` by enumerating every batch (all `b`-subsets, or all `n^b` sequences).
    fn enumerate_ratio(a: &[f64], d: usize, b: usize, sampling: Sampling) -> f64 {
        let n = a.len() / d;
        let mut mean = vec![0.0; d];
        for row in a.chunks_exact(d) {
            mean.iter_mut()
                .zip(row)
                .for_each(|(m, x)| *m += x / n as f64);
        }
        let (mut total, mut count) = (0.0, 0.0);
        let mut idx = vec![0usize; b];
        loop {
            let valid = match sampling {
                Sampling::WithReplacement => true,
                Sampling::WithoutReplacement => idx.windows(2).all(|w| w[0] < w[1]),
            };
            if valid {
                let mut g = vec![0.0; d];
                for &i in &idx {
                    g.iter_mut()
                        .zip(&a[i * d..(i + 1) * d])
                        .for_each(|(gj, x)| *gj += x / b as f64);
                }
                total += norm2(&g);
                count += 1.0;
            }
            // Next index tuple in 0..n^b.
            let mut pos = 0;
            loop {
                if pos == b {
                    return total / count / norm2(&mean);
                }
                idx[pos] += 1;
                if idx[pos] < n {
                    break;
                }
                idx[pos] = 0;
                pos += 1;
            }
        }
    }

    #[test]
    fn closed_forms_equal_exhaustive_enumeration() {
        for (n, d, b, seed) in [(5, 3, 2, 1u64), (6, 2, 3, 2), (7, 1, 4, 3), (4, 4, 4, 4)] {
            let a = random_rows(n, d, seed);
            for s in [Sampling::WithReplacement, Sampling::WithoutReplacement] {
                let exact = enumerate_ratio(&a, d, b, s);
                let closed = second_moment_ratio(&a, d, b, s);
                assert!(
                    (exact - closed).abs() < 1e-12 * exact,
                    "n={n} d={d} b={b} {s:?}: {exact} vs {closed}"
                );
            }
        }
        // A full batch without replacement has no variance.
        let a = random_rows(5, 2, 9);
        let full = second_moment_ratio(&a, 2, 5, Sampling::WithoutReplacement);
        assert!((full - 1.0).abs() < 1e-14);
        assert!(second_moment_ratio(&a, 2, 6, Sampling::WithoutReplacement).is_nan());
    }

    #[test]
    fn corollary2_is_exact_for_distinct_one_hot_features() {
        let n = 9;
        let mut data = Dataset::new(n);
        for i in 0..n {
            let mut phi = vec![0.0; n];
            phi[(i * 4) % n] = 1.0;
            data.push(&phi, i as f64 * 0.7 - 2.0);
        }
        assert!(distinct_one_hot(&data));
        let theta: Vec<f64> = (0..n).map(|j| (j as f64).sin()).collect();
        let a = explicit_rows(&data, &theta);
        for b in 1..=n {
            let r = second_moment_ratio(&a, n, b, Sampling::WithoutReplacement);
            assert!((r - n as f64 / b as f64).abs() < 1e-12, "b={b}: {r}");
        }
        data.push(&[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], 1.0);
        assert!(!distinct_one_hot(&data));
    }

    #[test]
    fn corollary3_bounds_the_asymptotic_ratio() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for _ in 0..200 {
            let n = rng.random_range(2..30);
            let b = rng.random_range(1..=n);
            let ones: Vec<f64> = (0..n)
                .map(|_| {
                    if rng.random_bool(0.2) {
                        0.0
                    } else {
                        rng.random_range(0.1..3.0)
                    }
                })
                .collect();
            if ones.iter().all(|x| *x == 0.0) {
                continue;
            }
            let bound = corollary3_bound(&ones, b).expect("one sign");
            for s in [Sampling::WithReplacement, Sampling::WithoutReplacement] {
                let r = second_moment_ratio(&ones, 1, b, s);
                assert!(r <= bound * (1.0 + 1e-12), "{r} > {bound}");
            }
        }
        assert!(corollary3_bound(&[1.0, -1.0], 1).is_none());
    }

    #[test]
    fn mean_and_ratio_estimates_are_consistent() {
        // Deterministic two-point distribution: Δ = (1, 0) or (3, 0), equally likely:
        // E‖Δ‖² = 5, ‖EΔ‖² = 4.
        let samples: Vec<f64> = (0..20_000)
            .flat_map(|i| if i % 2 == 0 { [1.0, 0.0] } else { [3.0, 0.0] })
            .collect();
        let e = ratio_estimate(&samples, 2);
        assert!((e.estimate - 1.25).abs() < 1e-3, "{e:?}");
        assert!(e.ci > 0.0 && e.ci < 0.02);
        let m = Estimate::mean_of(&[1.0, 3.0, 1.0, 3.0]);
        assert_eq!(m.estimate, 2.0);
        assert!(m.covers(2.5, 1.0) && !m.covers(5.0, 1.0));
    }
}
