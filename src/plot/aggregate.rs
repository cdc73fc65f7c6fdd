//! The aggregation layer: pure functions from run records to per-configuration statistics and
//! to the tables behind the figures.

use crate::domain::DomainKind;
use crate::param::ParamKind;
use crate::published;
use crate::record::RunRecord;
use std::cmp::Ordering;
use std::path::Path;

/// Mean and sample standard deviation of a sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    /// Sample size.
    pub n: usize,
    /// Mean (`NaN` for an empty sample).
    pub mean: f64,
    /// Sample standard deviation with `n − 1` in the denominator (`0` for `n ≤ 1`, `NaN` for
    /// `n = 0`).
    pub sd: f64,
}

impl Stat {
    /// The statistics of `xs`.
    pub fn of(xs: &[f64]) -> Stat {
        let n = xs.len();
        if n == 0 {
            return Stat {
                n,
                mean: f64::NAN,
                sd: f64::NAN,
            };
        }
        let mean = xs.iter().sum::<f64>() / n as f64;
        let sd = if n > 1 {
            let ss: f64 = xs.iter().map(|x| (x - mean) * (x - mean)).sum();
            (ss / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        Stat { n, mean, sd }
    }
}

/// One configuration of the grid, without the seed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Key {
    /// Domain.
    pub domain: DomainKind,
    /// Parameterization.
    pub param: ParamKind,
    /// Internal discount `η`.
    pub eta: f64,
    /// Learning rate.
    pub lr: f64,
    /// Reward offset.
    pub offset: f64,
}

impl Key {
    /// The key of a record.
    pub fn of(r: &RunRecord) -> Key {
        Key {
            domain: r.config.domain,
            param: r.config.param,
            eta: r.config.eta,
            lr: r.config.lr,
            offset: r.config.offset,
        }
    }

    fn cmp(&self, o: &Key) -> Ordering {
        self.domain
            .cmp(&o.domain)
            .then(self.param.cmp(&o.param))
            .then(self.eta.total_cmp(&o.eta))
            .then(self.lr.total_cmp(&o.lr))
            .then(self.offset.total_cmp(&o.offset))
    }
}

/// The statistics over seeds of one configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// The configuration.
    pub key: Key,
    /// Number of runs (seeds).
    pub runs: usize,
    /// Number of runs that diverged; they are excluded from the final-metric statistics.
    pub diverged: usize,
    /// Initial `‖r∥‖ = |mean r|·√n` (`res_ones_norm`) over all runs with an initial evaluation.
    pub initial_ones: Stat,
    /// Initial `‖r⊥‖` (`res_ortho_norm`).
    pub initial_ortho: Stat,
    /// Initial `‖r‖₂` (`residual_norm`).
    pub initial_norm: Stat,
    /// Final `‖r‖₂` over the runs that finished.
    pub final_norm: Stat,
}

/// Groups records by [`Key`] (domain kind, parameterization, `η`, learning rate, offset) and
/// computes the statistics over seeds of each group, in a fixed order (domain, parameterization,
/// then increasing `η`, learning rate and offset). Other settings (slip, bias, batch size, steps)
/// are not part of the key: a store is expected to hold one protocol.
pub fn aggregate(records: &[RunRecord]) -> Vec<Cell> {
    let mut sorted: Vec<&RunRecord> = records.iter().collect();
    sorted.sort_by(|a, b| Key::of(a).cmp(&Key::of(b)));
    let mut cells = Vec::new();
    for group in sorted.chunk_by(|a, b| Key::of(a).cmp(&Key::of(b)) == Ordering::Equal) {
        let initial: Vec<_> = group.iter().filter_map(|r| r.initial()).collect();
        let finals: Vec<f64> = group
            .iter()
            .filter_map(|r| r.final_row())
            .map(|row| row.residual_norm)
            .collect();
        let diverged = group
            .iter()
            .filter(|r| r.outcome.diverged_at().is_some())
            .count();
        let of = |f: fn(&crate::train::EvalRow) -> f64| {
            Stat::of(&initial.iter().map(|&r| f(r)).collect::<Vec<_>>())
        };
        cells.push(Cell {
            key: Key::of(group[0]),
            runs: group.len(),
            diverged,
            initial_ones: of(|r| r.res_ones_norm),
            initial_ortho: of(|r| r.res_ortho_norm),
            initial_norm: of(|r| r.residual_norm),
            final_norm: Stat::of(&finals),
        });
    }
    cells
}

/// How the figures choose the learning rate of each (domain, parameterization, `η`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum BestLr {
    /// The paper's best learning rates (docs/protocol.md, [`published::best_lr`]).
    #[default]
    Published,
    /// The learning rate with the lowest final `‖r‖₂`, averaged over seeds and then over
    /// offsets; learning rates with a diverged run rank after those without.
    Auto,
}

/// The distinct values of `f` over `cells`, increasing.
pub fn distinct(cells: &[Cell], f: impl Fn(&Cell) -> f64) -> Vec<f64> {
    let mut v: Vec<f64> = cells.iter().map(f).collect();
    v.sort_by(f64::total_cmp);
    v.dedup();
    v
}

/// The learning rate the figures use for `(domain, param, eta)`: `None` only for
/// [`BestLr::Auto`] when the cells hold no finished run of that combination.
pub fn choose_lr(
    cells: &[Cell],
    mode: BestLr,
    domain: DomainKind,
    param: ParamKind,
    eta: f64,
) -> Option<f64> {
    match mode {
        BestLr::Published => Some(published::best_lr(domain, param, eta)),
        BestLr::Auto => {
            let mine: Vec<&Cell> = cells
                .iter()
                .filter(|c| c.key.domain == domain && c.key.param == param && c.key.eta == eta)
                .collect();
            let mut lrs: Vec<f64> = mine.iter().map(|c| c.key.lr).collect();
            lrs.sort_by(f64::total_cmp);
            lrs.dedup();
            lrs.into_iter()
                .filter_map(|lr| {
                    let at: Vec<&&Cell> = mine.iter().filter(|c| c.key.lr == lr).collect();
                    let means: Vec<f64> = at
                        .iter()
                        .filter(|c| c.final_norm.n > 0)
                        .map(|c| c.final_norm.mean)
                        .collect();
                    if means.is_empty() {
                        return None;
                    }
                    let any_diverged = at.iter().any(|c| c.diverged > 0);
                    let score = means.iter().sum::<f64>() / means.len() as f64;
                    Some((any_diverged, score, lr))
                })
                .min_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)))
                .map(|(_, _, lr)| lr)
        }
    }
}

/// A table of numbers behind a figure, written as CSV.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    /// Column names.
    pub header: Vec<String>,
    /// Rows, already formatted (numbers in Rust's shortest round-trip form).
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column names.
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Writes the table as CSV to `path`.
    pub fn write_csv(&self, path: &Path) -> Result<(), csv::Error> {
        let mut w = csv::Writer::from_path(path)?;
        w.write_record(&self.header)?;
        for r in &self.rows {
            w.write_record(r)?;
        }
        w.flush()?;
        Ok(())
    }
}

/// The CSV columns describing a key: `domain,param,eta,lr,offset`.
pub(crate) fn key_fields(k: &Key) -> Vec<String> {
    vec![
        k.domain.name().to_string(),
        k.param.name().to_string(),
        k.eta.to_string(),
        k.lr.to_string(),
        k.offset.to_string(),
    ]
}

/// The CSV columns of a statistic: `n,mean,sd`.
pub(crate) fn stat_fields(s: &Stat) -> Vec<String> {
    vec![s.n.to_string(), s.mean.to_string(), s.sd.to_string()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RunSettings;
    use crate::train::{EvalRow, Outcome};

    fn record(lr: f64, offset: f64, seed: u64, final_norm: Option<f64>) -> RunRecord {
        let config = RunSettings {
            domain: Some(DomainKind::Chain),
            param: Some(ParamKind::Implicit),
            lr: Some(lr),
            offset: Some(offset),
            seed: Some(seed),
            ..Default::default()
        }
        .resolve()
        .expect("valid");
        let row = |t, x: f64| EvalRow {
            timestep: t,
            mse: x * x,
            res_ones_norm: x / 2.0,
            res_ortho_norm: x / 3.0,
            residual_norm: x,
        };
        let mut rows = vec![row(0, 1.0 + seed as f64)];
        let outcome = match final_norm {
            Some(x) => {
                rows.push(row(300, x));
                Outcome::Finished
            }
            None => Outcome::Diverged { step: 7 },
        };
        RunRecord {
            config,
            outcome,
            runtime_s: 0.0,
            rows,
        }
    }

    #[test]
    fn stats_use_the_sample_sd() {
        let s = Stat::of(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!((s.n, s.mean), (4, 2.5));
        assert!((s.sd - (5.0f64 / 3.0).sqrt()).abs() < 1e-15);
        assert_eq!(Stat::of(&[2.0]).sd, 0.0);
        assert!(Stat::of(&[]).mean.is_nan());
    }

    #[test]
    fn groups_count_and_exclude_diverged_runs() {
        let recs = vec![
            record(0.5, 0.0, 0, Some(1.0)),
            record(0.5, 0.0, 1, Some(3.0)),
            record(0.5, 0.0, 2, None),
            record(0.25, 0.0, 0, Some(10.0)),
        ];
        let cells = aggregate(&recs);
        assert_eq!(cells.len(), 2);
        assert_eq!(cells[0].key.lr, 0.25);
        let c = &cells[1];
        assert_eq!((c.runs, c.diverged, c.final_norm.n), (3, 1, 2));
        assert_eq!(c.final_norm.mean, 2.0);
        assert_eq!(c.initial_norm.n, 3);
        assert_eq!(c.initial_norm.mean, 2.0);
        assert_eq!(c.initial_ones.mean, 1.0);
    }

    #[test]
    fn auto_picks_the_lowest_mean_and_avoids_divergence() {
        let recs = vec![
            record(0.5, 0.0, 0, Some(1.0)),
            record(0.5, 1.0, 0, Some(1.0)),
            record(0.25, 0.0, 0, Some(2.0)),
            record(0.25, 1.0, 0, Some(2.0)),
            record(1.0, 0.0, 0, Some(0.1)),
            record(1.0, 1.0, 0, None),
        ];
        let cells = aggregate(&recs);
        let pick = |m| choose_lr(&cells, m, DomainKind::Chain, ParamKind::Implicit, 0.95);
        assert_eq!(pick(BestLr::Auto), Some(0.5));
        assert_eq!(pick(BestLr::Published), Some(2f64.powi(-6)));
        assert_eq!(
            choose_lr(
                &cells,
                BestLr::Auto,
                DomainKind::Chain,
                ParamKind::Implicit,
                0.9
            ),
            None
        );
    }
}
