//! Data sets: feature matrices and value targets, and the features that make them (SPEC §4).

/// A regression data set `{(φ(x_i), y_i)}`: `n` rows of `k` features, row-major, and targets.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Feature dimension `k`.
    pub k: usize,
    /// Features, `n × k`, row-major: row `i` is `φ(x_i)`.
    pub x: Vec<f64>,
    /// Targets `y_i` (returns or exact values), length `n`; with a bootstrap part, the
    /// reward part of the TD target.
    pub y: Vec<f64>,
    /// TD targets' bootstrap part (SPEC §8.5); `None` for fixed targets (Monte Carlo returns,
    /// test sets).
    pub bootstrap: Option<Bootstrap>,
}

/// The bootstrap part of TD targets: row `i`'s target is
/// `y_i + discount_i · φ(next_i)ᵀθ`, with `φ(next_i)` a row of `x` (SPEC §8.5).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Bootstrap {
    /// Feature rows of the states bootstrapped from, row-major, `k` columns.
    pub x: Vec<f64>,
    /// Per training row: the index of its bootstrap state's row in `x`.
    pub next: Vec<usize>,
    /// Per training row: `γ^{N'}`, or 0 where the bootstrap is dropped (a true termination).
    pub discount: Vec<f64>,
}

impl Dataset {
    /// An empty data set of feature dimension `k`.
    pub fn new(k: usize) -> Self {
        Self {
            k,
            x: Vec::new(),
            y: Vec::new(),
            bootstrap: None,
        }
    }

    /// The same (empty) set with a bootstrap part for TD targets.
    pub fn with_bootstrap(mut self) -> Self {
        self.bootstrap = Some(Bootstrap::default());
        self
    }

    /// Appends bootstrap state rows (row-major, `k` columns); returns the index of the first.
    ///
    /// # Panics
    /// Without a bootstrap part, or if `rows` is not a whole number of rows.
    #[track_caller]
    pub fn push_bootstrap_states(&mut self, rows: &[f64]) -> usize {
        assert_eq!(
            rows.len() % self.k.max(1),
            0,
            "bootstrap rows have the wrong dimension"
        );
        let k = self.k;
        let b = self
            .bootstrap
            .as_mut()
            .expect("a data set with a bootstrap part");
        let first = b.x.len().checked_div(k).unwrap_or(0);
        b.x.extend_from_slice(rows);
        first
    }

    /// Appends one TD row: features `φ`, reward part `part`, bootstrap state row `next`
    /// (from [`Dataset::push_bootstrap_states`]) and its discount.
    #[track_caller]
    pub fn push_td(&mut self, phi: &[f64], part: f64, next: usize, discount: f64) {
        self.push(phi, part);
        let b = self
            .bootstrap
            .as_mut()
            .expect("a data set with a bootstrap part");
        b.next.push(next);
        b.discount.push(discount);
    }

    /// Row `i`'s target for value weights `theta`: `y_i`, plus `discount_i · φ(next_i)ᵀθ` with
    /// a bootstrap part (SPEC §8.5).
    #[inline]
    pub fn target(&self, i: usize, theta: &[f64]) -> f64 {
        match &self.bootstrap {
            None => self.y[i],
            Some(b) => {
                let d = b.discount[i];
                if d == 0.0 {
                    self.y[i]
                } else {
                    let j = b.next[i] * self.k;
                    self.y[i] + d * dot(&b.x[j..j + self.k], theta)
                }
            }
        }
    }

    /// Appends one row `(φ, y)`.
    #[track_caller]
    pub fn push(&mut self, phi: &[f64], y: f64) {
        assert_eq!(phi.len(), self.k, "feature row has the wrong dimension");
        self.x.extend_from_slice(phi);
        self.y.push(y);
    }

    /// Number of rows `n`.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// True when the set has no rows.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// Feature row `φ(x_i)`.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.x[i * self.k..(i + 1) * self.k]
    }

    /// Residuals `r_i = φ(x_i)ᵀθ − y_i` written into `out` (length `n`).
    #[track_caller]
    pub fn residuals_into(&self, theta: &[f64], out: &mut [f64]) {
        assert_eq!(theta.len(), self.k);
        assert_eq!(out.len(), self.len());
        for (i, r) in out.iter_mut().enumerate() {
            *r = dot(self.row(i), theta) - self.y[i];
        }
    }

    /// The curvature that bounds plain SGD's stable learning rates on this set's least-squares
    /// loss (SPEC §8.6, docs/own-problems.md, *Default learning rate*): `λ = λ_max(M) + E‖φ‖²/B`
    /// with `M = E[φφᵀ]` the features' second moment over the rows and `B` the minibatch size.
    /// Full-batch gradient descent is stable for `α < 2/λ_max(M)`; the second term is the
    /// minibatch's noise (for one-hot features the mean-square bound is
    /// `2/(λ_s + (1 − λ_s)/B)` per state), so `2/λ` is a bound for any `B`. `λ_max` by power
    /// iteration on `v ↦ Xᵀ(Xv)/n` (at most 200 products, relative change 1e-9), from a fixed
    /// start vector: a deterministic lower estimate. `None` without rows or with zero
    /// features.
    pub fn sgd_curvature(&self, batch: usize) -> Option<f64> {
        let (n, k) = (self.len(), self.k);
        if n == 0 || k == 0 {
            return None;
        }
        let mean_sq = self.x.iter().map(|v| v * v).sum::<f64>() / n as f64;
        // A start vector with no sign pattern or symmetry to be orthogonal to the top one.
        let mut v: Vec<f64> = (0..k)
            .map(|j| 1.0 + 0.5 * ((j as f64) * 0.754_877).sin())
            .collect();
        let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
        let nv = norm(&v);
        v.iter_mut().for_each(|x| *x /= nv);
        let mut w = vec![0.0; k];
        let mut lam = 0.0;
        for _ in 0..200 {
            w.iter_mut().for_each(|x| *x = 0.0);
            for i in 0..n {
                let row = self.row(i);
                let xv = dot(row, &v);
                for (wj, xj) in w.iter_mut().zip(row) {
                    *wj += xv * xj;
                }
            }
            let next = norm(&w) / n as f64;
            if next == 0.0 || !next.is_finite() {
                return None;
            }
            v.iter_mut()
                .zip(&w)
                .for_each(|(x, y)| *x = y / (next * n as f64));
            let done = (next - lam).abs() <= 1e-9 * next;
            lam = next;
            if done {
                break;
            }
        }
        Some(lam + mean_sq / batch.max(1) as f64)
    }

    /// The same set with a constant feature 1 appended to every row (`k + 1` columns).
    pub fn with_bias(&self) -> Dataset {
        let mut out = Dataset::new(self.k + 1);
        out.x.reserve(self.len() * (self.k + 1));
        for i in 0..self.len() {
            out.x.extend_from_slice(self.row(i));
            out.x.push(1.0);
        }
        out.y = self.y.clone();
        out.bootstrap = self.bootstrap.as_ref().map(|b| {
            let mut x = Vec::with_capacity(b.x.len() / self.k.max(1) * (self.k + 1));
            for row in b.x.chunks_exact(self.k.max(1)) {
                x.extend_from_slice(row);
                x.push(1.0);
            }
            Bootstrap {
                x,
                next: b.next.clone(),
                discount: b.discount.clone(),
            }
        });
        out
    }
}

pub use crate::linalg::dot;

/// A supervised problem: training samples, a test set and the environment's discount `γ`.
#[derive(Debug, Clone)]
pub struct Problem {
    /// Training samples: features and (truncated, discounted) returns.
    pub train: Dataset,
    /// Test set: features and targets (exact values for tabular domains).
    pub test: Dataset,
    /// The environment's discount `γ` (not the implicit model's `η`).
    pub gamma: f64,
}
