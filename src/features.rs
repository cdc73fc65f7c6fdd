//! Feature maps `φ(x)`: one-hot codes of tabular states and normalized radial basis functions on
//! a grid (SPEC §4).

/// One-hot code of dimension `k`: `e_i` for `Some(i)`, the zero vector for `None` (four rooms'
/// terminal state, SPEC §4).
#[track_caller]
pub fn one_hot(k: usize, index: Option<usize>) -> Vec<f64> {
    let mut out = vec![0.0; k];
    one_hot_into(index, &mut out);
    out
}

/// [`one_hot`] written into `out` (dimension `out.len()`).
///
/// # Panics
/// If `index` is `Some(i)` with `i ≥ out.len()`.
#[track_caller]
pub fn one_hot_into(index: Option<usize>, out: &mut [f64]) {
    out.fill(0.0);
    if let Some(i) = index {
        assert!(
            i < out.len(),
            "one-hot index {i} out of range {}",
            out.len()
        );
        out[i] = 1.0;
    }
}

/// `n` evenly spaced points from `lo` to `hi`, end points included (`numpy.linspace`).
pub fn linspace(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    match n {
        0 => Vec::new(),
        1 => vec![lo],
        _ => (0..n)
            .map(|i| lo + (hi - lo) * i as f64 / (n - 1) as f64)
            .collect(),
    }
}

/// Normalized radial basis functions on a 2-D grid of centres (SPEC §4, mountain car):
/// `φ_c(x) = softmax_c(−Σ_d ((x_d − c_d)/w_d)²)` over the centres `c = (a_i, b_j)`,
/// `a = linspace(lo_0, hi_0, n_0)`, `b = linspace(lo_1, hi_1, n_1)`, widths `w`.
/// Feature `i·n_1 + j` belongs to centre `(a_i, b_j)` (first coordinate major).
///
/// The exponent is a sum over the two coordinates, so the softmax factorizes into an outer
/// product of two 1-D softmaxes, `φ_{ij} = p_i q_j` with `p = softmax(−((x_0 − a)/w_0)²)` and
/// `q = softmax(−((x_1 − b)/w_1)²)`: `n_0 + n_1` exponentials instead of `n_0·n_1`. Each 1-D
/// softmax subtracts its maximum exponent first (stable for any `x`).
#[derive(Debug, Clone, PartialEq)]
pub struct RbfGrid {
    centres: [Vec<f64>; 2],
    widths: [f64; 2],
}

impl RbfGrid {
    /// A grid of `n[0] × n[1]` centres spanning `[lo[d], hi[d]]` (end points included) with
    /// widths `widths`.
    pub fn new(lo: [f64; 2], hi: [f64; 2], n: [usize; 2], widths: [f64; 2]) -> Self {
        Self {
            centres: [linspace(lo[0], hi[0], n[0]), linspace(lo[1], hi[1], n[1])],
            widths,
        }
    }

    /// Feature dimension `n_0 · n_1`.
    pub fn dim(&self) -> usize {
        self.centres[0].len() * self.centres[1].len()
    }

    /// The centre `(a_i, b_j)` of feature `i·n_1 + j`.
    pub fn centre(&self, feature: usize) -> [f64; 2] {
        let n1 = self.centres[1].len();
        [self.centres[0][feature / n1], self.centres[1][feature % n1]]
    }

    /// `φ(x)` (length [`RbfGrid::dim`]).
    pub fn features(&self, x: [f64; 2]) -> Vec<f64> {
        let mut out = vec![0.0; self.dim()];
        self.features_into(x, &mut out);
        out
    }

    /// `φ(x)` written into `out` (length [`RbfGrid::dim`]); allocation-free.
    #[track_caller]
    pub fn features_into(&self, x: [f64; 2], out: &mut [f64]) {
        assert_eq!(
            out.len(),
            self.dim(),
            "feature buffer has the wrong dimension"
        );
        let [a, b] = &self.centres;
        let n1 = b.len();
        // q_j, stored temporarily in the first row of `out`.
        softmax_1d(x[1], b, self.widths[1], &mut out[..n1]);
        // p_i computed on the fly (normalizer first).
        let e = |c: f64| -((x[0] - c) / self.widths[0]).powi(2);
        let max = a.iter().map(|&c| e(c)).fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = a.iter().map(|&c| (e(c) - max).exp()).sum();
        // Fill rows from the last to the first, so row 0 (holding q) is overwritten last.
        for i in (0..a.len()).rev() {
            let p = (e(a[i]) - max).exp() / z;
            let (head, row) = out.split_at_mut(i * n1);
            if i == 0 {
                row[..n1].iter_mut().for_each(|v| *v *= p);
            } else {
                for (v, q) in row[..n1].iter_mut().zip(&head[..n1]) {
                    *v = p * q;
                }
            }
        }
    }
}

/// `out_j = softmax_j(−((x − c_j)/w)²)`, stably.
fn softmax_1d(x: f64, centres: &[f64], width: f64, out: &mut [f64]) {
    for (o, &c) in out.iter_mut().zip(centres) {
        *o = -((x - c) / width).powi(2);
    }
    let max = out.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut z = 0.0;
    for o in out.iter_mut() {
        *o = (*o - max).exp();
        z += *o;
    }
    out.iter_mut().for_each(|o| *o /= z);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_hot_codes() {
        assert_eq!(one_hot(3, Some(1)), vec![0.0, 1.0, 0.0]);
        assert_eq!(one_hot(3, None), vec![0.0; 3]);
        let mut buf = vec![5.0; 4];
        one_hot_into(Some(3), &mut buf);
        assert_eq!(buf, vec![0.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn linspace_includes_end_points() {
        let v = linspace(-1.2, 0.6, 20);
        assert_eq!(v.len(), 20);
        assert_eq!(v[0], -1.2);
        assert!((v[19] - 0.6).abs() < 1e-15);
        assert!((v[1] - v[0] - 1.8 / 19.0).abs() < 1e-15);
    }

    /// The factorized computation equals the direct softmax over all centres.
    #[test]
    fn rbf_matches_direct_softmax_and_sums_to_one() {
        let g = RbfGrid::new([-1.2, -0.07], [0.6, 0.07], [20, 20], [0.18, 0.014]);
        for x in [
            [-0.5, 0.0],
            [0.6, 0.07],
            [-1.2, -0.07],
            [0.123, -0.031],
            [5.0, 1.0],
        ] {
            let phi = g.features(x);
            let e: Vec<f64> = (0..g.dim())
                .map(|f| {
                    let c = g.centre(f);
                    -((x[0] - c[0]) / 0.18).powi(2) - ((x[1] - c[1]) / 0.014).powi(2)
                })
                .collect();
            let max = e.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = e.iter().map(|v| (v - max).exp()).sum();
            for (p, v) in phi.iter().zip(&e) {
                assert!((p - (v - max).exp() / z).abs() < 1e-14);
            }
            assert!((phi.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            assert!(phi.iter().all(|p| p.is_finite() && *p >= 0.0));
        }
        // Feature order: first coordinate major.
        assert_eq!(g.centre(0), [-1.2, -0.07]);
        assert_eq!(g.centre(1)[0], -1.2);
        assert_eq!(g.centre(20)[1], -0.07);
        let phi = g.features(g.centre(21));
        let best = phi
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i);
        assert_eq!(best, Some(21));
    }
}
