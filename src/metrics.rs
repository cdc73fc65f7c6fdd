//! What a run measures at each evaluation, declared once (SPEC §5, §8.2).
//!
//! An evaluation ([`EvalRow`]) holds the published `logs.csv` metrics of the test residuals
//! `r = Φθ − y` and, for a run that learns its internal discount, the mean `η`. [`METRICS`]
//! lists them — name, doc, whether the published logs have it, and the accessor — and every
//! outlet of a run's evaluations derives from that list: the log's header and fields
//! ([`crate::export`]), the tidy table's columns (CSV and Parquet, [`crate::tidy`]), the results
//! store's `evals` table, its insert, read, upgrade and checksum ([`crate::store`]), and the
//! Python package's `run` result. Adding a metric is a field of [`EvalRow`] and one entry here;
//! a test fails when an outlet misses it.

use serde::{Deserialize, Serialize};

/// One evaluation on the test set: the published `logs.csv` row (SPEC §5), and the learned
/// discount when there is one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EvalRow {
    /// Number of updates done so far.
    pub timestep: usize,
    /// `mean r²`.
    pub mse: f64,
    /// `|mean r|·√n = |r∥|·√n`, the norm of the residual's component along `1`.
    pub res_ones_norm: f64,
    /// `‖r − mean r‖`, the norm of the component orthogonal to `1`.
    pub res_ortho_norm: f64,
    /// `‖r‖`.
    pub residual_norm: f64,
    /// The mean internal discount `η` at this evaluation when it is learned (SPEC §8.2;
    /// [`crate::param::Parameterization::learned_eta`]), `None` when `η` is fixed. Not a
    /// published column: logs carry it as a last column `eta` only for runs that learn `η`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta: Option<f64>,
    /// With `solver = published` (docs/protocol.md, *Solve accuracy*), the number of updates
    /// so far whose forward or adjoint solve stopped at its cap without meeting its stopping
    /// rule ([`crate::param::Parameterization::inexact_solves`]); `None` for the other
    /// solvers, which never return an unconverged solve. Not a published column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inexact_updates: Option<f64>,
    /// With `solver = published`, the largest relative residual `‖b − Ax‖₂/‖b‖₂` of the run's
    /// solves so far (forward and adjoint, converged or not); `None` for the other solvers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_solve_residual: Option<f64>,
}

impl EvalRow {
    /// The metrics of residuals `r = prediction − target` at `timestep` (no learned `η`).
    pub fn from_residuals(timestep: usize, r: &[f64]) -> Self {
        let n = r.len() as f64;
        let mean = r.iter().sum::<f64>() / n;
        let ss: f64 = r.iter().map(|x| x * x).sum();
        let ortho: f64 = r.iter().map(|x| (x - mean) * (x - mean)).sum();
        Self {
            timestep,
            mse: ss / n,
            res_ones_norm: mean.abs() * n.sqrt(),
            res_ortho_norm: ortho.sqrt(),
            residual_norm: ss.sqrt(),
            eta: None,
            inexact_updates: None,
            max_solve_residual: None,
        }
    }

    /// A row at `timestep` whose metrics are NaN and whose optional metrics are absent, to be
    /// filled by [`Metric::set`].
    pub fn empty(timestep: usize) -> Self {
        Self {
            timestep,
            mse: f64::NAN,
            res_ones_norm: f64::NAN,
            res_ortho_norm: f64::NAN,
            residual_norm: f64::NAN,
            eta: None,
            inexact_updates: None,
            max_solve_residual: None,
        }
    }

    /// True when every metric present is finite.
    pub fn is_finite(&self) -> bool {
        METRICS
            .iter()
            .all(|m| (m.get)(self).is_none_or(f64::is_finite))
    }
}

/// One measured quantity of an evaluation.
#[derive(Debug)]
pub struct Metric {
    /// Its column in logs and in the store's `evals` table.
    pub name: &'static str,
    /// Its column in the tidy table (CSV, Parquet, Python's data frames); it differs from
    /// [`Metric::name`] where a setting has that name (the learned `eta` against the setting
    /// `eta`, its start `η₀`).
    pub tidy_name: &'static str,
    /// What it is, in one line.
    pub doc: &'static str,
    /// True for a metric only some runs have (`None` in [`EvalRow`]): it is no published column,
    /// and logs and tables have its column only when some run has it; the store's column is
    /// nullable.
    pub optional: bool,
    /// Its value in a row (`None`: absent).
    pub get: fn(&EvalRow) -> Option<f64>,
    /// Sets its value in a row (`None`: absent; a required metric then reads NaN).
    pub set: fn(&mut EvalRow, Option<f64>),
}

/// The log column of the evaluation's step, before the metrics.
pub const TIMESTEP: &str = "timestep";

/// Every metric, in the order of the published `logs.csv` (`mse, res_ones_norm,
/// res_ortho_norm, residual_norm`), then the optional ones.
pub const METRICS: [Metric; 7] = [
    Metric {
        name: "mse",
        tidy_name: "mse",
        doc: "mean squared test residual, mean r²",
        optional: false,
        get: |r| Some(r.mse),
        set: |r, v| r.mse = v.unwrap_or(f64::NAN),
    },
    Metric {
        name: "res_ones_norm",
        tidy_name: "res_ones_norm",
        doc: "norm of the residual's component along 1, |mean r|·√n",
        optional: false,
        get: |r| Some(r.res_ones_norm),
        set: |r, v| r.res_ones_norm = v.unwrap_or(f64::NAN),
    },
    Metric {
        name: "res_ortho_norm",
        tidy_name: "res_ortho_norm",
        doc: "norm of the residual's component orthogonal to 1, ‖r − mean r‖",
        optional: false,
        get: |r| Some(r.res_ortho_norm),
        set: |r, v| r.res_ortho_norm = v.unwrap_or(f64::NAN),
    },
    Metric {
        name: "residual_norm",
        tidy_name: "residual_norm",
        doc: "norm of the test residual, ‖r‖",
        optional: false,
        get: |r| Some(r.residual_norm),
        set: |r, v| r.residual_norm = v.unwrap_or(f64::NAN),
    },
    Metric {
        name: "eta",
        tidy_name: "learned_eta",
        doc: "mean learned internal discount η (runs that learn η only)",
        optional: true,
        get: |r| r.eta,
        set: |r, v| r.eta = v,
    },
    Metric {
        name: "inexact_updates",
        tidy_name: "inexact_updates",
        doc:
            "updates so far with an unconverged forward or adjoint solve (solver = published only)",
        optional: true,
        get: |r| r.inexact_updates,
        set: |r, v| r.inexact_updates = v,
    },
    Metric {
        name: "max_solve_residual",
        tidy_name: "max_solve_residual",
        doc:
            "largest relative residual ‖b − Ax‖/‖b‖ of the solves so far (solver = published only)",
        optional: true,
        get: |r| r.max_solve_residual,
        set: |r, v| r.max_solve_residual = v,
    },
];

/// The published metrics, in the order of `logs.csv`.
pub fn required() -> impl Iterator<Item = &'static Metric> {
    METRICS.iter().filter(|m| !m.optional)
}

/// The optional metrics that some row of `rows` has, in declaration order.
pub fn optional_present<'a>(rows: impl IntoIterator<Item = &'a EvalRow>) -> Vec<&'static Metric> {
    let rows: Vec<&EvalRow> = rows.into_iter().collect();
    METRICS
        .iter()
        .filter(|m| m.optional && rows.iter().any(|r| (m.get)(r).is_some()))
        .collect()
}

/// The metric columns of a log of `rows`: the published ones, then the optional ones that some
/// row has.
pub fn log_columns(rows: &[EvalRow]) -> Vec<&'static Metric> {
    required().chain(optional_present(rows)).collect()
}

/// A run is *unstable* when its loss grows past this many times its start (docs/own-problems.md,
/// *Default learning rate*); unlike divergence (a non-finite value, SPEC §5) it does not stop
/// the run.
pub const UNSTABLE_FACTOR: f64 = 1e6;

/// The one definition of an *unstable* run, used by `imprl run`'s warning, Python's result and
/// the export's `unstable_at` column: a run that did not diverge (`diverged_at` is `None`;
/// divergence, a non-finite value, SPEC §5, is reported as such) and whose test loss `mse`
/// exceeds [`UNSTABLE_FACTOR`] times its first evaluation's; the first such evaluation (`None`:
/// the run diverged, stayed within the bound, or its log is empty).
pub fn unstable_at(rows: &[EvalRow], diverged_at: Option<usize>) -> Option<usize> {
    if diverged_at.is_some() {
        return None;
    }
    let start = rows.first()?.mse;
    rows.iter()
        .find(|r| r.mse > UNSTABLE_FACTOR * start)
        .map(|r| r.timestep)
}

/// The metric called `name` in logs and the store.
pub fn metric(name: &str) -> Option<&'static Metric> {
    METRICS.iter().find(|m| m.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unstable_when_the_loss_grows_past_a_million_times_its_start() {
        let row = |t: usize, mse: f64| EvalRow {
            mse,
            ..EvalRow::empty(t)
        };
        let rows = [
            row(0, 2.0),
            row(10, 2e6),
            row(20, 2.0000001e6),
            row(30, 1.0),
        ];
        assert_eq!(unstable_at(&rows, None), Some(20));
        assert_eq!(unstable_at(&rows, Some(30)), None);
        assert_eq!(unstable_at(&rows[..2], None), None);
        assert_eq!(unstable_at(&[], None), None);
    }

    #[test]
    fn metrics_split_the_residual_norm() {
        let r = [1.0, -2.0, 4.0, 1.0];
        let row = EvalRow::from_residuals(3, &r);
        assert_eq!(row.timestep, 3);
        assert!((row.mse - 22.0 / 4.0).abs() < 1e-15);
        assert!((row.res_ones_norm - 1.0 * 2.0).abs() < 1e-15);
        // ‖r‖² = ‖r∥‖² + ‖r⊥‖².
        let lhs = row.residual_norm.powi(2);
        let rhs = row.res_ones_norm.powi(2) + row.res_ortho_norm.powi(2);
        assert!((lhs - rhs).abs() < 1e-12);
    }

    /// Every metric's setter and accessor are one field: set then get returns the value, and
    /// no two metrics share a field or a name.
    #[test]
    fn accessors_round_trip_and_are_distinct() {
        let mut row = EvalRow::empty(7);
        for (i, m) in METRICS.iter().enumerate() {
            (m.set)(&mut row, Some(i as f64 + 0.5));
        }
        for (i, m) in METRICS.iter().enumerate() {
            assert_eq!((m.get)(&row), Some(i as f64 + 0.5), "{}", m.name);
        }
        let mut names: Vec<&str> = METRICS.iter().map(|m| m.name).collect();
        let extra: Vec<&str> = METRICS
            .iter()
            .map(|m| m.tidy_name)
            .filter(|t| !names.contains(t))
            .collect();
        names.extend(extra);
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
        assert!(METRICS.iter().all(|m| m.name != TIMESTEP));
        // Optional metrics are absent from an empty row; the published ones are NaN.
        let e = EvalRow::empty(0);
        for m in &METRICS {
            assert_eq!((m.get)(&e).is_none(), m.optional, "{}", m.name);
        }
    }

    #[test]
    fn a_log_has_the_optional_columns_of_its_rows() {
        let mut rows = vec![EvalRow::from_residuals(0, &[1.0]); 2];
        let names =
            |rows: &[EvalRow]| -> Vec<&str> { log_columns(rows).iter().map(|m| m.name).collect() };
        assert_eq!(
            names(&rows),
            ["mse", "res_ones_norm", "res_ortho_norm", "residual_norm"]
        );
        rows[1].eta = Some(0.5);
        assert_eq!(names(&rows).last(), Some(&"eta"));
    }
}
