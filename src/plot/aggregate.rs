//! The aggregation layer: pure functions from run records to per-configuration statistics and
//! to the tables behind the figures.

use crate::domain::DomainKind;
use crate::param::ParamKind;
use crate::published;
use crate::record::RunRecord;
pub use crate::stats::{ConfigKey, Protocol, Stat};
use std::path::Path;

/// The statistics over seeds of one configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// The configuration: every setting but the seed.
    pub key: ConfigKey,
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

/// Groups records by [`ConfigKey`] (every setting but the seed) and computes the statistics
/// over seeds of each group, in the key's order (domain, parameterization, then increasing `η`,
/// learning rate, offset, batch size, then the other settings).
pub fn aggregate(records: &[RunRecord]) -> Vec<Cell> {
    let mut sorted: Vec<(ConfigKey, &RunRecord)> = records
        .iter()
        .map(|r| (ConfigKey::of(&r.config), r))
        .collect();
    sorted.sort_by_key(|a| a.0);
    let mut cells = Vec::new();
    for group in sorted.chunk_by(|a, b| a.0 == b.0) {
        let initial: Vec<_> = group.iter().filter_map(|r| r.1.initial()).collect();
        let finals: Vec<f64> = group
            .iter()
            .filter_map(|r| r.1.final_row())
            .map(|row| row.residual_norm)
            .collect();
        let diverged = group
            .iter()
            .filter(|r| r.1.outcome.diverged_at().is_some())
            .count();
        let of = |f: fn(&crate::metrics::EvalRow) -> f64| {
            Stat::of(&initial.iter().map(|&r| f(r)).collect::<Vec<_>>())
        };
        cells.push(Cell {
            key: group[0].0,
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

/// The protocol the figures draw: the published one (SPEC §6, [`Protocol::published`]) when
/// some cell follows it, else the one with the most runs (the first in key order on a tie);
/// `None` without cells.
pub fn figure_protocol(cells: &[Cell]) -> Option<Protocol> {
    if cells
        .iter()
        .any(|c| c.key.protocol() == Protocol::published())
    {
        return Some(Protocol::published());
    }
    let mut runs: Vec<(Protocol, usize)> = Vec::new();
    for c in cells {
        let p = c.key.protocol();
        match runs.iter_mut().find(|(q, _)| *q == p) {
            Some((_, n)) => *n += c.runs,
            None => runs.push((p, c.runs)),
        }
    }
    let most = runs.iter().map(|r| r.1).max()?;
    runs.into_iter().find(|r| r.1 == most).map(|r| r.0)
}

/// [`aggregate()`]d cells split into those of the [`figure_protocol`] and the others, which the
/// paper's figures do not draw; with the protocol drawn.
pub fn split_protocol(records: &[RunRecord]) -> (Vec<Cell>, Vec<Cell>, Protocol) {
    let cells = aggregate(records);
    let protocol = figure_protocol(&cells).unwrap_or(Protocol::published());
    let (drawn, others) = cells
        .into_iter()
        .partition(|c| c.key.protocol() == protocol);
    (drawn, others, protocol)
}

/// How the figures choose the learning rate of each (domain, parameterization, `η`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum BestLr {
    /// The paper's best learning rates (docs/protocol.md).
    #[default]
    Published,
    /// The learning rate with the lowest final `‖r‖₂`, averaged over seeds and then over
    /// offsets; learning rates with a diverged run rank after those without.
    Auto,
}

/// How the learning rate of `domain` is chosen under `mode`: as asked for the paper's domains,
/// [`BestLr::Auto`] for a problem of one's own (it has no published rates).
pub fn lr_mode(mode: BestLr, domain: DomainKind) -> BestLr {
    if domain.is_builtin() {
        mode
    } else {
        BestLr::Auto
    }
}

/// The distinct values of `f` over `cells`, increasing.
pub fn distinct(cells: &[Cell], f: impl Fn(&Cell) -> f64) -> Vec<f64> {
    let mut v: Vec<f64> = cells.iter().map(f).collect();
    v.sort_by(f64::total_cmp);
    v.dedup();
    v
}

/// The learning rate the figures use for `(domain, param, eta)`: `None` only for
/// [`BestLr::Auto`] when the cells hold no finished run of that combination. A problem of
/// one's own has no published rates: it is always chosen as by [`BestLr::Auto`]
/// ([`lr_mode`]).
pub fn choose_lr(
    cells: &[Cell],
    mode: BestLr,
    domain: DomainKind,
    param: ParamKind,
    eta: f64,
) -> Option<f64> {
    match lr_mode(mode, domain) {
        BestLr::Published => Some(published::best_lr(domain, param, eta)),
        BestLr::Auto => {
            let mine: Vec<&Cell> = cells
                .iter()
                .filter(|c| c.key.kind() == domain && c.key.param == param && c.key.eta == eta)
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

/// The CSV fields describing a key: the first five of [`crate::stats::KEY_COLUMNS`].
pub(crate) fn key_fields(k: &ConfigKey) -> Vec<String> {
    k.grid_fields()[..5].to_vec()
}

/// The CSV columns of a statistic: `n,mean,sd`.
pub(crate) fn stat_fields(s: &Stat) -> Vec<String> {
    vec![s.n.to_string(), s.mean.to_string(), s.sd.to_string()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RunSettings;
    use crate::metrics::EvalRow;
    use crate::train::Outcome;

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
            eta: None,
            inexact_updates: None,
            max_solve_residual: None,
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
            theta: None,
            config,
            outcome,
            runtime_s: 0.0,
            rows,
        }
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
    fn other_settings_are_other_cells_and_not_the_figures() {
        let mut short = record(0.5, 0.0, 1, Some(5.0));
        short.config.steps = 100;
        let mut lu = record(0.5, 0.0, 2, Some(6.0));
        lu.config.solver = crate::linalg::SolverKind::Lu;
        let recs = vec![record(0.5, 0.0, 0, Some(1.0)), short, lu];
        let cells = aggregate(&recs);
        assert_eq!(cells.len(), 3);
        assert!(cells.iter().all(|c| c.runs == 1));
        let (drawn, others, protocol) = split_protocol(&recs);
        assert_eq!(protocol, Protocol::published());
        assert_eq!(drawn.len(), 1);
        assert_eq!(drawn[0].final_norm.mean, 1.0);
        let diffs: Vec<Vec<String>> = others
            .iter()
            .map(|c| c.key.protocol().differences_from(&protocol))
            .collect();
        assert!(diffs.contains(&vec!["steps=100".to_string()]));
        assert!(diffs.contains(&vec!["solver=lu".to_string()]));
        // Without published runs, the protocol of the most runs is drawn.
        let (drawn, others, protocol) = split_protocol(&recs[1..]);
        assert_eq!((drawn.len(), others.len()), (1, 1));
        assert_eq!(protocol.get("steps"), Some("100"));
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
