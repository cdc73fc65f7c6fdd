//! Data sets: feature matrices and value targets, and the features that make them (SPEC §4).

/// A regression data set `{(φ(x_i), y_i)}`: `n` rows of `k` features, row-major, and targets.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Feature dimension `k`.
    pub k: usize,
    /// Features, `n × k`, row-major: row `i` is `φ(x_i)`.
    pub x: Vec<f64>,
    /// Targets `y_i` (returns or exact values), length `n`.
    pub y: Vec<f64>,
}

impl Dataset {
    /// An empty data set of feature dimension `k`.
    pub fn new(k: usize) -> Self {
        Self {
            k,
            x: Vec::new(),
            y: Vec::new(),
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

    /// The same set with a constant feature 1 appended to every row (`k + 1` columns).
    pub fn with_bias(&self) -> Dataset {
        let mut out = Dataset::new(self.k + 1);
        out.x.reserve(self.len() * (self.k + 1));
        for i in 0..self.len() {
            out.x.extend_from_slice(self.row(i));
            out.x.push(1.0);
        }
        out.y = self.y.clone();
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
