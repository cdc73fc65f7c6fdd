//! Statistics shared by the figures (`plot`), the comparison with the published runs
//! (`compare`) and the theory checks (`theory`): one sample summary ([`Stat`]), one interval
//! estimate ([`Estimate`]), one Welch difference ([`welch_z`]) and one configuration key
//! ([`ConfigKey`], every run setting but the seed), and one summary along training
//! ([`per_timestep`]: a [`Stat`] per evaluation step over runs).
//!
//! Means and sample variances of all three come from one formula ([`Stat::of`],
//! [`Estimate::mean_of`]): `x̄ = Σx/n`, `s² = Σ(x − x̄)²/(n − 1)` (SPEC §6–§7).

mod curve;
mod key;

pub use curve::per_timestep;
pub use key::{ConfigKey, Protocol, KEY_COLUMNS};

/// Two-sided 95% normal quantile.
pub const Z95: f64 = 1.959_963_984_540_054;

/// `(n, x̄, Σ(x − x̄)²)` of a sample; `x̄` is NaN for an empty one.
fn sums(xs: &[f64]) -> (usize, f64, f64) {
    let n = xs.len();
    if n == 0 {
        return (0, f64::NAN, f64::NAN);
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    let ss: f64 = xs.iter().map(|x| (x - mean) * (x - mean)).sum();
    (n, mean, ss)
}

/// Mean and sample standard deviation of one metric over the runs (seeds) of a configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    /// Sample size.
    pub n: usize,
    /// Mean `x̄ = Σx/n` (`NaN` for an empty sample).
    pub mean: f64,
    /// Sample standard deviation `s = √(Σ(x − x̄)²/(n − 1))`: `0` for `n = 1`, `NaN` for
    /// `n = 0` or when unknown (a published summary without it, [`Stat::without_sd`]).
    pub sd: f64,
}

impl Stat {
    /// The statistics of `xs`.
    pub fn of(xs: &[f64]) -> Stat {
        let (n, mean, ss) = sums(xs);
        let sd = match n {
            0 => f64::NAN,
            1 => 0.0,
            _ => (ss / (n - 1) as f64).sqrt(),
        };
        Stat { n, mean, sd }
    }

    /// A sample of `n` with mean `mean` whose standard deviation is unknown.
    pub fn without_sd(n: usize, mean: f64) -> Stat {
        Stat {
            n,
            mean,
            sd: f64::NAN,
        }
    }

    /// The sample standard deviation when it is known and estimable (`n ≥ 2`).
    pub fn known_sd(&self) -> Option<f64> {
        (self.n >= 2 && !self.sd.is_nan()).then_some(self.sd)
    }

    /// The standard error of the mean `s/√n`, when the standard deviation is known (`n ≥ 2`).
    pub fn se(&self) -> Option<f64> {
        self.known_sd().map(|s| s / (self.n as f64).sqrt())
    }
}

/// Welch's difference of two sample means in combined standard errors,
/// `z = (x̄₁ − x̄₂) / √(s₁²/n₁ + s₂²/n₂)`, with `s₂ = s₁` when the second standard deviation is
/// unknown. `None` when a side is empty, `s₁` is unknown, or the difference or the standard
/// error is not finite; equal means with zero spread give 0, different ones `±∞`.
pub fn welch_z(a: Stat, b: Stat) -> Option<f64> {
    let s1 = a.known_sd()?;
    let s2 = b.known_sd().unwrap_or(s1);
    if a.n == 0 || b.n == 0 {
        return None;
    }
    let diff = a.mean - b.mean;
    let se = (s1 * s1 / a.n as f64 + s2 * s2 / b.n as f64).sqrt();
    if !diff.is_finite() || !se.is_finite() {
        None
    } else if se > 0.0 {
        Some(diff / se)
    } else if diff == 0.0 {
        Some(0.0)
    } else {
        Some(diff.signum() * f64::INFINITY)
    }
}

/// A point estimate with a 95% confidence interval `estimate ± ci`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Estimate {
    /// Point estimate.
    pub estimate: f64,
    /// Half-width of the 95% confidence interval.
    pub ci: f64,
}

impl Estimate {
    /// No estimate: both values NaN.
    pub const NAN: Estimate = Estimate {
        estimate: f64::NAN,
        ci: f64::NAN,
    };

    /// The sample mean of `xs` with its 95% normal interval `x̄ ± z₉₅ √(s²/n)`.
    pub fn mean_of(xs: &[f64]) -> Estimate {
        let (n, mean, ss) = sums(xs);
        let m = n as f64;
        let var = ss / (m - 1.0);
        Estimate {
            estimate: mean,
            ci: Z95 * (var / m).sqrt(),
        }
    }

    /// True when `x` lies in `estimate ± widen·ci`.
    pub fn covers(&self, x: f64, widen: f64) -> bool {
        (x - self.estimate).abs() <= widen * self.ci
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_use_the_sample_sd() {
        let s = Stat::of(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!((s.n, s.mean), (4, 2.5));
        assert!((s.sd - (5.0f64 / 3.0).sqrt()).abs() < 1e-15);
        assert_eq!(s.known_sd(), Some(s.sd));
        assert_eq!(Stat::of(&[2.0]).sd, 0.0);
        assert_eq!(Stat::of(&[2.0]).known_sd(), None);
        assert!(Stat::of(&[]).mean.is_nan());
        assert_eq!(Stat::without_sd(5, 1.0).known_sd(), None);
    }

    #[test]
    fn welch_z_has_the_known_value() {
        let a = Stat {
            n: 4,
            mean: 3.0,
            sd: 2.0,
        };
        let b = Stat {
            n: 16,
            mean: 1.0,
            sd: 4.0,
        };
        // se = √(4/4 + 16/16) = √2.
        let z = welch_z(a, b).expect("z");
        assert!((z - 2.0 / 2f64.sqrt()).abs() < 1e-15);
        // An unknown second sd: the first stands in, se = √(4/4 + 4/16).
        let z = welch_z(a, Stat::without_sd(16, 1.0)).expect("z");
        assert!((z - 2.0 / 1.25f64.sqrt()).abs() < 1e-15);
        assert_eq!(welch_z(Stat::without_sd(4, 3.0), b), None);
    }

    #[test]
    fn mean_estimate_is_the_mean_with_its_interval() {
        let m = Estimate::mean_of(&[1.0, 3.0, 1.0, 3.0]);
        assert_eq!(m.estimate, 2.0);
        // s² = 4/3, se = √(1/3).
        assert!((m.ci - Z95 * (1.0f64 / 3.0).sqrt()).abs() < 1e-15);
        assert!(m.covers(2.5, 1.0) && !m.covers(5.0, 1.0));
    }
}
