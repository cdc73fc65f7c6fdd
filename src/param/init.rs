//! The published initialization of the implicit parameters (SPEC §3).

use crate::rng::{stream, Stream};
use rand::Rng;
use rand_distr::{Distribution, Exp1, Normal};

/// Initial implicit parameters `(w, F)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ImplicitInit {
    /// Feature dimension `k`.
    pub k: usize,
    /// Rewards `w`, length `k`.
    pub w: Vec<f64>,
    /// Logits `F`, `k × k` row-major.
    pub f: Vec<f64>,
}

/// Draws `w_k ~ N(0, 0.1²)` and, for each row `k` of `F`, `p ~ Dirichlet(1, …, 1)`,
/// `F_k = log(p + 2e_k) − max_j log(p_j + 2δ_kj)` (SPEC §3), from the run's
/// [`Stream::Init`]. `Dirichlet(1,…,1)` is drawn as normalized i.i.d. `Exp(1)` variables.
pub fn draw_implicit_init(k: usize, seed: u64) -> ImplicitInit {
    let (w, f) = draw(k, 1, seed);
    ImplicitInit { k, w, f }
}

/// Initial parameters of the model family with `m` pseudo-actions (SPEC §8.1).
#[derive(Debug, Clone, PartialEq)]
pub struct FamilyInit {
    /// Feature dimension `k`.
    pub k: usize,
    /// Number of pseudo-actions `m`.
    pub m: usize,
    /// Rewards `w`, `k × m` row-major (`w[k·m + a] = w_{ka}`).
    pub w: Vec<f64>,
    /// Logits `F`, `k × m × k` row-major (row `k·m + a` is `F_{ka·}`).
    pub f: Vec<f64>,
}

/// Draws the family's init (SPEC §8.1): `w` row-major `(k, m)` from `N(0, 0.1²)`, then the rows
/// of `F` in `(k, a)` order, row `(k, a)` being `log(p + 2e_k)` minus its maximum with
/// `p ~ Dirichlet(1, …, 1)`. With `m = 1` these are exactly [`draw_implicit_init`]'s draws.
pub fn draw_family_init(k: usize, m: usize, seed: u64) -> FamilyInit {
    let (w, f) = draw(k, m, seed);
    FamilyInit { k, m, w, f }
}

fn draw(k: usize, m: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let mut rng = stream(seed, Stream::Init);
    let normal = Normal::new(0.0, 0.1).expect("valid normal");
    let w: Vec<f64> = (0..k * m).map(|_| normal.sample(&mut rng)).collect();
    let mut f = vec![0.0; k * m * k];
    for (row, frow) in f.chunks_exact_mut(k).enumerate() {
        let row_idx = row / m;
        for x in frow.iter_mut() {
            let e: f64 = Exp1.sample(&mut rng);
            // Exp1 is > 0 with probability 1; guard the measure-zero case to keep log finite.
            *x = if e > 0.0 {
                e
            } else {
                rng.random::<f64>() + f64::MIN_POSITIVE
            };
        }
        let z: f64 = frow.iter().sum();
        for (j, x) in frow.iter_mut().enumerate() {
            let p = *x / z + if j == row_idx { 2.0 } else { 0.0 };
            *x = p.ln();
        }
        let mx = frow.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        for x in frow.iter_mut() {
            *x -= mx;
        }
    }
    (w, f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pseudo_action_draws_the_published_init() {
        for (k, seed) in [(5, 0), (17, 3)] {
            let a = draw_implicit_init(k, seed);
            let b = draw_family_init(k, 1, seed);
            assert_eq!((a.w, a.f), (b.w, b.f));
        }
        let c = draw_family_init(4, 3, 1);
        assert_eq!((c.w.len(), c.f.len()), (12, 48));
        // Row (k, a) has its largest logit, 0, on the diagonal k.
        for (row, fr) in c.f.chunks_exact(4).enumerate() {
            assert_eq!(fr[row / 3], 0.0);
        }
    }
}
