//! Comparison of our runs with the published ones (issue 5, SPEC §6–§7).
//!
//! Both sides are first reduced to per-configuration statistics ([`SideStats`], keyed by
//! [`ConfigKey`]: every run setting but the seed; the published side has the published protocol),
//! then matched and compared ([`compare`]):
//!
//! * per configuration, means and standard deviations over seeds of the final `‖r‖` and of the
//!   initial `r∥` (`res_ones_norm`) and `‖r⊥‖` (`res_ortho_norm`), their difference in units of
//!   the combined (Welch) standard error `se = √(sd₁²/n₁ + sd₂²/n₂)`, divergence counts on both
//!   sides and the mean runtime per run;
//! * per domain × parameterization ([`GroupSummary`]), the share of configurations within 2 and
//!   3 standard errors and the worst ones; configurations where either side diverged are counted
//!   apart for the final `‖r‖`.
//!
//! Sources: our side from [`crate::record::RunRecord`]s ([`summarize_ours`]); the published side from published
//! runs reduced to [`ReferenceRun`]s ([`summarize_reference`]) or from a per-configuration
//! summary CSV such as `chain_summary.csv` ([`read_summary_csv`]), which has no standard
//! deviations of the initial components: for those our standard deviation stands for both sides
//! ([`MetricComparison::sd_assumed`]).

use crate::domain::DomainKind;
use crate::metrics::EvalRow;
use crate::param::ParamKind;
use std::collections::BTreeMap;

mod figure;
mod ours;
mod reference;
mod report;
pub mod seed_sets;

pub use figure::{figure, plot};
pub use ours::{load_ours, per_seed_finals, summarize_ours};
pub use reference::{
    chain_summary, load_reference, read_summary, read_summary_csv, reference_runs,
    summarize_reference, ReferenceRun, CHAIN_SUMMARY_NAME,
};
pub use report::{csv_header, render_table, write_csv};

pub use crate::stats::ConfigKey;
use crate::stats::{welch_z, Stat};

/// A failure to read or write comparison files.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// A file (of the published layout, a reference summary, or our output) cannot be read,
    /// parsed or written; the error names it.
    #[error(transparent)]
    Layout(#[from] crate::published_layout::LayoutError),
    /// Our results store cannot be read.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The figure cannot be drawn or written.
    #[error(transparent)]
    Figure(#[from] crate::figure::FigureError),
}

/// One run reduced to its initial row, its final row if it finished, and its wall time.
pub(crate) type RunSummary = (Option<EvalRow>, Option<EvalRow>, f64);

/// One side's statistics of one configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct SideStats {
    /// Runs that count (failed jobs excluded).
    pub runs: usize,
    /// Runs that diverged; `None` when some did but their number is unknown (summary CSV).
    pub diverged: Option<usize>,
    /// Failed jobs (non-zero exit value or signal), excluded from everything else.
    pub failed: usize,
    /// Final `‖r‖` over the runs that did not diverge.
    pub final_norm: Stat,
    /// Initial `r∥` (`res_ones_norm` at timestep 0).
    pub init_ones: Stat,
    /// Initial `‖r⊥‖` (`res_ortho_norm` at timestep 0).
    pub init_ortho: Stat,
    /// Mean wall time per run in seconds.
    pub runtime_s: f64,
}

impl SideStats {
    /// True when at least one run diverged.
    pub fn any_diverged(&self) -> bool {
        self.diverged != Some(0)
    }

    /// Statistics of runs given as (initial row, final row if finished, runtime), with
    /// `diverged` of them having diverged and `failed` failed jobs left out.
    pub(crate) fn from_runs(runs: &[RunSummary], diverged: usize, failed: usize) -> Self {
        let pick = |f: &dyn Fn(&RunSummary) -> Option<f64>| {
            Stat::of(&runs.iter().filter_map(f).collect::<Vec<_>>())
        };
        let runtime = if runs.is_empty() {
            f64::NAN
        } else {
            runs.iter().map(|r| r.2).sum::<f64>() / runs.len() as f64
        };
        Self {
            runs: runs.len(),
            diverged: Some(diverged),
            failed,
            final_norm: pick(&|r| r.1.map(|e| e.residual_norm)),
            init_ones: pick(&|r| r.0.map(|e| e.res_ones_norm)),
            init_ortho: pick(&|r| r.0.map(|e| e.res_ortho_norm)),
            runtime_s: runtime,
        }
    }
}

/// Both sides of one metric of one configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricComparison {
    /// Our runs.
    pub ours: Stat,
    /// The published runs.
    pub theirs: Stat,
    /// `(ours − theirs) / √(sd₁²/n₁ + sd₂²/n₂)`; `None` when a side has no standard deviation
    /// or mean. Equal means with zero spread give 0, different ones ±∞.
    pub z: Option<f64>,
    /// The published standard deviation was unknown and ours stood in for it.
    pub sd_assumed: bool,
}

/// Welch's difference of `ours` and `theirs` in combined standard errors (see
/// [`MetricComparison::z`], computed by [`crate::stats::welch_z`]); an unknown published sd is
/// replaced by ours.
pub fn welch(ours: Stat, theirs: Stat) -> MetricComparison {
    MetricComparison {
        ours,
        theirs,
        z: welch_z(ours, theirs),
        sd_assumed: theirs.known_sd().is_none() && ours.known_sd().is_some(),
    }
}

/// The comparison of one configuration present on both sides.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigComparison {
    /// The configuration.
    pub key: ConfigKey,
    /// Our statistics.
    pub ours: SideStats,
    /// The published statistics.
    pub theirs: SideStats,
    /// Final `‖r‖` (only meaningful when neither side diverged).
    pub final_norm: MetricComparison,
    /// Initial `r∥`.
    pub init_ones: MetricComparison,
    /// Initial `‖r⊥‖`.
    pub init_ortho: MetricComparison,
}

impl ConfigComparison {
    /// True when a run diverged on either side.
    pub fn either_diverged(&self) -> bool {
        self.ours.any_diverged() || self.theirs.any_diverged()
    }

    /// The final-`‖r‖` z of a configuration where neither side diverged.
    pub fn final_z(&self) -> Option<f64> {
        if self.either_diverged() {
            None
        } else {
            self.final_norm.z
        }
    }
}

/// Agreement counts of one metric over a group of configurations.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Agreement {
    /// Configurations with a z.
    pub compared: usize,
    /// Of those, `|z| ≤ 2`.
    pub within2: usize,
    /// Of those, `|z| ≤ 3`.
    pub within3: usize,
}

impl Agreement {
    fn add(&mut self, z: Option<f64>) {
        if let Some(z) = z {
            self.compared += 1;
            self.within2 += usize::from(z.abs() <= 2.0);
            self.within3 += usize::from(z.abs() <= 3.0);
        }
    }

    /// Share within 2 standard errors (NaN without comparisons).
    pub fn share2(&self) -> f64 {
        self.within2 as f64 / self.compared as f64
    }

    /// Share within 3 standard errors (NaN without comparisons).
    pub fn share3(&self) -> f64 {
        self.within3 as f64 / self.compared as f64
    }
}

/// The worst configurations listed per group.
pub const WORST_LISTED: usize = 3;

/// Agreement of one domain × parameterization.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSummary {
    /// Domain.
    pub domain: DomainKind,
    /// Parameterization.
    pub param: ParamKind,
    /// Configurations on both sides.
    pub configs: usize,
    /// Configurations with a diverged run on our side.
    pub diverged_ours: usize,
    /// Configurations with a diverged run on the published side.
    pub diverged_theirs: usize,
    /// Configurations with a diverged run on either side (left out of [`Self::final_norm`]).
    pub diverged_either: usize,
    /// Final `‖r‖`, configurations where neither side diverged.
    pub final_norm: Agreement,
    /// Initial `r∥`, all configurations.
    pub init_ones: Agreement,
    /// Initial `‖r⊥‖`, all configurations.
    pub init_ortho: Agreement,
    /// The largest `|z|` (any metric): configuration, metric name, z.
    pub worst: Vec<(ConfigKey, &'static str, f64)>,
    /// Mean wall time per run, ours.
    pub runtime_ours_s: f64,
    /// Mean wall time per run, published.
    pub runtime_theirs_s: f64,
    /// Our runs.
    pub runs_ours: usize,
    /// Published runs (failed jobs excluded).
    pub runs_theirs: usize,
    /// Failed published jobs.
    pub failed_theirs: usize,
}

impl GroupSummary {
    /// The target: at least 95% of configurations within 3 standard errors on the final
    /// `‖r‖` and on both initial components.
    pub fn meets_target(&self) -> bool {
        [self.final_norm, self.init_ones, self.init_ortho]
            .iter()
            .all(|a| a.compared > 0 && a.share3() >= 0.95)
    }
}

/// The whole comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Configurations on both sides, in key order.
    pub rows: Vec<ConfigComparison>,
    /// One summary per domain × parameterization present on both sides.
    pub groups: Vec<GroupSummary>,
    /// Configurations only we have.
    pub only_ours: Vec<ConfigKey>,
    /// Configurations only the published data has.
    pub only_theirs: Vec<ConfigKey>,
}

/// Matches and compares both sides.
pub fn compare(
    ours: &BTreeMap<ConfigKey, SideStats>,
    theirs: &BTreeMap<ConfigKey, SideStats>,
) -> Comparison {
    let only_ours = ours
        .keys()
        .filter(|k| !theirs.contains_key(k))
        .copied()
        .collect();
    let only_theirs = theirs
        .keys()
        .filter(|k| !ours.contains_key(k))
        .copied()
        .collect();
    let rows: Vec<ConfigComparison> = ours
        .iter()
        .filter_map(|(k, o)| {
            let t = theirs.get(k)?;
            Some(ConfigComparison {
                key: *k,
                ours: o.clone(),
                theirs: t.clone(),
                final_norm: welch(o.final_norm, t.final_norm),
                init_ones: welch(o.init_ones, t.init_ones),
                init_ortho: welch(o.init_ortho, t.init_ortho),
            })
        })
        .collect();
    let mut by_group: BTreeMap<(DomainKind, ParamKind), Vec<&ConfigComparison>> = BTreeMap::new();
    for r in &rows {
        by_group
            .entry((r.key.kind(), r.key.param))
            .or_default()
            .push(r);
    }
    let groups = by_group
        .into_iter()
        .map(|((domain, param), rs)| group_summary(domain, param, &rs))
        .collect();
    Comparison {
        rows,
        groups,
        only_ours,
        only_theirs,
    }
}

fn group_summary(domain: DomainKind, param: ParamKind, rs: &[&ConfigComparison]) -> GroupSummary {
    let mut g = GroupSummary {
        domain,
        param,
        configs: rs.len(),
        diverged_ours: 0,
        diverged_theirs: 0,
        diverged_either: 0,
        final_norm: Agreement::default(),
        init_ones: Agreement::default(),
        init_ortho: Agreement::default(),
        worst: Vec::new(),
        runtime_ours_s: f64::NAN,
        runtime_theirs_s: f64::NAN,
        runs_ours: 0,
        runs_theirs: 0,
        failed_theirs: 0,
    };
    let mut all_z = Vec::new();
    let (mut time_o, mut time_t) = (0.0, 0.0);
    for r in rs {
        g.diverged_ours += usize::from(r.ours.any_diverged());
        g.diverged_theirs += usize::from(r.theirs.any_diverged());
        g.diverged_either += usize::from(r.either_diverged());
        g.final_norm.add(r.final_z());
        g.init_ones.add(r.init_ones.z);
        g.init_ortho.add(r.init_ortho.z);
        for (name, z) in [
            ("final ‖r‖", r.final_z()),
            ("initial r∥", r.init_ones.z),
            ("initial ‖r⊥‖", r.init_ortho.z),
        ] {
            if let Some(z) = z {
                all_z.push((r.key, name, z));
            }
        }
        g.runs_ours += r.ours.runs;
        g.runs_theirs += r.theirs.runs;
        g.failed_theirs += r.theirs.failed;
        if r.ours.runtime_s.is_finite() {
            time_o += r.ours.runtime_s * r.ours.runs as f64;
        }
        if r.theirs.runtime_s.is_finite() {
            time_t += r.theirs.runtime_s * r.theirs.runs as f64;
        }
    }
    g.runtime_ours_s = time_o / g.runs_ours as f64;
    g.runtime_theirs_s = time_t / g.runs_theirs as f64;
    all_z.sort_by(|a, b| b.2.abs().total_cmp(&a.2.abs()));
    all_z.truncate(WORST_LISTED);
    g.worst = all_z;
    g
}
