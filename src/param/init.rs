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
    let mut rng = stream(seed, Stream::Init);
    let normal = Normal::new(0.0, 0.1).expect("valid normal");
    let w: Vec<f64> = (0..k).map(|_| normal.sample(&mut rng)).collect();
    let mut f = vec![0.0; k * k];
    for (row_idx, row) in f.chunks_exact_mut(k).enumerate() {
        for x in row.iter_mut() {
            let e: f64 = Exp1.sample(&mut rng);
            // Exp1 is > 0 with probability 1; guard the measure-zero case to keep log finite.
            *x = if e > 0.0 {
                e
            } else {
                rng.random::<f64>() + f64::MIN_POSITIVE
            };
        }
        let z: f64 = row.iter().sum();
        for (j, x) in row.iter_mut().enumerate() {
            let p = *x / z + if j == row_idx { 2.0 } else { 0.0 };
            *x = p.ln();
        }
        let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        for x in row.iter_mut() {
            *x -= m;
        }
    }
    ImplicitInit { k, w, f }
}
