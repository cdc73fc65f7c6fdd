//! The TD-targets study (SPEC §8.5, issue 13): do the implicit parameterization's advantages
//! on the `1` component of the residual (Figures 1–3) carry over to bootstrapped targets?
//!
//! Grid: the three domains; explicit and implicit; targets `mc`, `td:1` and `td:10`;
//! η ∈ {0.8, 0.9, 0.95, 0.975} for implicit (Figure 3) and η = 0.95 for explicit; offsets
//! 0, 0.25, …, 1; four learning rates (the paper's best for `mc` times 4, 2, 1 and ½), the
//! figures using the best one per (domain, parameterization, η, targets) ([`BestLr::Auto`]); seeds
//! `0..seeds`. Figures: [`crate::plot`]'s Figures 1–3, drawn once per targets value
//! (`figures/<targets>/`), and a summary table of final residual components.

use super::{records_of, sweep_into, StudyError, StudyReport};
use crate::config::{ConfigError, RunConfig, RunSettings};
use crate::domain::{DomainKind, Targets};
use crate::figure::Format;
use crate::param::ParamKind;
use crate::plot::{
    aggregate, choose_lr, draw_all_noted, BestLr, Cell, PlotError, PlotOptions, PlotReport,
};
use crate::published::{best_lr, ETAS};
use crate::record::RunRecord;
use crate::stats::Stat;
use crate::sweep::{SweepObserver, SweepOptions};
use std::path::Path;

/// The study's summary table (Markdown), in its directory.
pub const SUMMARY_FILE: &str = "summary.md";

/// The targets compared: Monte Carlo returns, TD(0) and 10-step TD.
pub const TARGETS: [Targets; 3] = [Targets::Mc, Targets::Td(1), Targets::Td(10)];

/// Reward offsets of the study (a coarser grid than the paper's 0, 0.1, …, 1).
pub const OFFSETS: [f64; 5] = [0.0, 0.25, 0.5, 0.75, 1.0];

/// The `η` of Figures 1 and 2 and of the summary.
pub const ETA: f64 = 0.95;

/// Learning rates tried: the paper's best for `mc` times these factors (four and two times it,
/// it and half of it: TD targets often want larger rates than `mc`; the rate chosen per
/// configuration is bracketed unless an end wins).
pub const LR_FACTORS: [f64; 4] = [4.0, 2.0, 1.0, 0.5];

/// The study's runs for seeds `0..seeds` (an error names a setting the grid got wrong; none is
/// skipped).
pub fn runs(seeds: usize) -> Result<Vec<RunConfig>, ConfigError> {
    let mut out = Vec::new();
    for domain in DomainKind::ALL {
        for param in [ParamKind::Explicit, ParamKind::Implicit] {
            let etas: &[f64] = if param == ParamKind::Implicit {
                &ETAS
            } else {
                &[ETA]
            };
            for &eta in etas {
                for targets in TARGETS {
                    for f in LR_FACTORS {
                        for offset in OFFSETS {
                            for seed in 0..seeds as u64 {
                                let s = RunSettings {
                                    domain: Some(domain),
                                    param: Some(param),
                                    eta: Some(eta),
                                    lr: Some(best_lr(domain, param, eta) * f),
                                    offset: Some(offset),
                                    seed: Some(seed),
                                    targets: Some(targets),
                                    ..RunSettings::default()
                                };
                                out.push(s.resolve()?);
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The directory name of a targets value's figures (`mc`, `td1`, `td10`).
pub fn tag(t: Targets) -> String {
    t.text().replace(':', "")
}

/// One line of the summary: final residual components at η = 0.95 and the chosen learning
/// rate, mean over seeds (diverged runs excluded and counted).
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    /// Domain.
    pub domain: DomainKind,
    /// Parameterization.
    pub param: ParamKind,
    /// Targets.
    pub targets: Targets,
    /// Reward offset.
    pub offset: f64,
    /// The learning rate used.
    pub lr: f64,
    /// Runs that diverged (of all seeds).
    pub diverged: usize,
    /// Final `‖r∥‖ = |mean r|·√n`.
    pub ones: Stat,
    /// Final `‖r⊥‖`.
    pub ortho: Stat,
    /// Final `‖r‖`.
    pub norm: Stat,
}

/// The runs of `records` with targets `t`.
fn of_targets(records: &[RunRecord], t: Targets) -> Vec<RunRecord> {
    records
        .iter()
        .filter(|r| r.config.targets == t)
        .cloned()
        .collect()
}

/// The summary rows of `records` (η = 0.95, offsets 0 and 1).
pub fn summary(records: &[RunRecord]) -> Vec<SummaryRow> {
    // The learning rate of each line is the figures' ([`BestLr::Auto`] over that targets
    // value's runs), so that the table and the figures show the same runs.
    let cells: Vec<Vec<Cell>> = TARGETS
        .iter()
        .map(|&t| aggregate(&of_targets(records, t)))
        .collect();
    let mut out = Vec::new();
    for domain in DomainKind::ALL {
        for (targets, cells) in TARGETS.into_iter().zip(&cells) {
            for param in [ParamKind::Explicit, ParamKind::Implicit] {
                let mine: Vec<&RunRecord> = records
                    .iter()
                    .filter(|r| {
                        let c = &r.config;
                        c.domain == domain
                            && c.param == param
                            && c.targets == targets
                            && c.eta == ETA
                    })
                    .collect();
                let Some(lr) = choose_lr(cells, BestLr::Auto, domain, param, ETA) else {
                    continue;
                };
                for offset in [0.0, 1.0] {
                    let at: Vec<&&RunRecord> = mine
                        .iter()
                        .filter(|r| r.config.lr == lr && r.config.offset == offset)
                        .collect();
                    let done: Vec<&&&RunRecord> = at
                        .iter()
                        .filter(|r| r.outcome.diverged_at().is_none())
                        .collect();
                    let last = |f: fn(&crate::metrics::EvalRow) -> f64| {
                        let xs: Vec<f64> =
                            done.iter().filter_map(|r| r.rows.last().map(f)).collect();
                        Stat::of(&xs)
                    };
                    out.push(SummaryRow {
                        domain,
                        param,
                        targets,
                        offset,
                        lr,
                        diverged: at.len() - done.len(),
                        ones: last(|e| e.res_ones_norm),
                        ortho: last(|e| e.res_ortho_norm),
                        norm: last(|e| e.residual_norm),
                    });
                }
            }
        }
    }
    out
}

/// The summary as a Markdown table, one line per (domain, targets, offset): explicit and
/// implicit final `‖r∥‖` (mean ± standard error over the seeds), the ratio explicit/implicit
/// of the means and Welch's `z` of their difference ([`crate::stats::welch_z`]), then the mean
/// final `‖r⊥‖` and `‖r‖`.
pub fn summary_markdown(rows: &[SummaryRow]) -> String {
    let with_se = |x: Stat| match x.se() {
        Some(se) => format!("{:.3} ± {se:.3}", x.mean),
        None => format!("{:.3}", x.mean),
    };
    let mut s = String::from(
        "| domain | targets | offset | explicit ‖r∥‖ | implicit ‖r∥‖ | ratio | z | explicit ‖r⊥‖ | implicit ‖r⊥‖ | explicit ‖r‖ | implicit ‖r‖ | diverged (e/i) |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for e in rows.iter().filter(|r| r.param == ParamKind::Explicit) {
        let Some(i) = rows.iter().find(|r| {
            r.param == ParamKind::Implicit
                && r.domain == e.domain
                && r.targets == e.targets
                && r.offset == e.offset
        }) else {
            continue;
        };
        let z = crate::stats::welch_z(e.ones, i.ones).map_or("".into(), |z| format!("{z:.1}"));
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.1} | {z} | {:.3} | {:.3} | {:.3} | {:.3} | {}/{} |\n",
            e.domain,
            e.targets,
            e.offset,
            with_se(e.ones),
            with_se(i.ones),
            e.ones.mean / i.ones.mean,
            e.ortho.mean,
            i.ortho.mean,
            e.norm.mean,
            i.norm.mean,
            e.diverged,
            i.diverged
        ));
    }
    s
}

/// Draws Figures 1–3 (and the per-learning-rate figures) of each targets value into
/// `out/figures/<tag>/`, their titles ending in `(targets = <value>)`, and writes
/// `out/summary.md`; returns each targets value's report.
pub fn draw(
    records: &[RunRecord],
    out: &Path,
    format: Format,
) -> Result<Vec<(Targets, PlotReport)>, PlotError> {
    let mut reports = Vec::new();
    for t in TARGETS {
        let subset = of_targets(records, t);
        let dir = out.join("figures").join(tag(t));
        let opts = PlotOptions {
            format,
            best: BestLr::Auto,
        };
        let note = format!("targets = {}", t.text());
        reports.push((t, draw_all_noted(&subset, &dir, opts, Some(&note))?));
    }
    let md = out.join(SUMMARY_FILE);
    std::fs::write(&md, summary_markdown(&summary(records))).map_err(|e| PlotError::Io {
        path: md.display().to_string(),
        message: e.to_string(),
    })?;
    Ok(reports)
}

/// Runs the study (seeds `0..seeds`) into the store in `out` (resuming what it holds), then
/// draws its figures and writes its summary ([`draw`]); the notes say where each targets value's
/// figures went.
pub fn run(
    out: &Path,
    seeds: usize,
    opts: &SweepOptions,
    observer: &mut dyn SweepObserver,
    format: Format,
) -> Result<StudyReport, StudyError> {
    let runs = runs(seeds)?;
    let mut report = StudyReport::default();
    if !sweep_into(out, &runs, opts, observer, &mut report)? {
        return Ok(report);
    }
    for (t, r) in draw(&records_of(out, &runs)?, out, format)? {
        let dir = out.join("figures").join(tag(t));
        report.notes.push(format!(
            "{}: {} figures in {}",
            t.text(),
            r.figures.len(),
            dir.display()
        ));
        report.files.extend(r.files());
    }
    report.files.push(out.join(SUMMARY_FILE));
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_has_every_targets_value_and_valid_settings() {
        let r = runs(1).expect("valid settings");
        // Explicit: 3 domains × 1 η; implicit: 3 × 4 η; × 3 targets × 4 lrs × 5 offsets.
        assert_eq!(r.len(), (3 + 12) * 3 * 4 * 5);
        for t in TARGETS {
            assert!(r.iter().any(|c| c.targets == t));
        }
        assert_eq!(tag(Targets::Td(10)), "td10");
    }

    /// A summary line shows each side's `‖r∥‖` as mean ± s/√n, the ratio of the means and
    /// Welch's z: explicit {2, 2, 6, 6} (mean 4, s = √(16/3)), implicit {0, 2, 0, 2} (mean 1,
    /// s = √(4/3)), so the standard errors are s/2 and z = 3/√(16/12 + 4/12).
    #[test]
    fn the_summary_line_has_standard_errors_and_welch_z() {
        let row = |param, values: &[f64]| SummaryRow {
            domain: DomainKind::Chain,
            param,
            targets: Targets::Td(1),
            offset: 1.0,
            lr: 0.5,
            diverged: 0,
            ones: Stat::of(values),
            ortho: Stat::of(&[1.0]),
            norm: Stat::of(&[2.0]),
        };
        let md = summary_markdown(&[
            row(ParamKind::Explicit, &[2.0, 2.0, 6.0, 6.0]),
            row(ParamKind::Implicit, &[0.0, 2.0, 0.0, 2.0]),
        ]);
        let line = md.lines().nth(2).expect("one line");
        let (se_e, se_i) = ((16.0f64 / 3.0).sqrt() / 2.0, (4.0f64 / 3.0).sqrt() / 2.0);
        let z = 3.0 / (20.0f64 / 12.0).sqrt();
        assert_eq!(
            line,
            format!("| chain | td:1 | 1 | 4.000 ± {se_e:.3} | 1.000 ± {se_i:.3} | 4.0 | {z:.1} | 1.000 | 1.000 | 2.000 | 2.000 | 0/0 |")
        );
    }
}
