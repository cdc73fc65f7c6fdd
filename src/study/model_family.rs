//! `imprl study model-family`: does the published code's model family help (SPEC §8.1, §8.2)?
//!
//! For each domain, the implicit parameterization at the paper's best learning rates, offset 0
//! (the reward as published), `seeds` seeds:
//! 1. **discount**: from every grid `η₀ ∈ {0.8, 0.9, 0.95, 0.975}` (at that `η₀`'s best
//!    learning rate), a fixed `η = η₀` and a learned scalar `η = σ(ρ)` started at `η₀`;
//! 2. **reduction**: at the domain's best fixed `η` of part 1 (the grid `η` with the lowest mean
//!    final `‖r‖`, Figure 3's sense), `m ∈ {1, 2, 4}` pseudo-actions × `max` / `logsumexp`
//!    (`τ = 1`); `m = 1` is the paper's model under both reductions.
//!
//! Both parts go into one resumable results store; the summary is a CSV table
//! (`model_family.csv`) and three figures: final `‖r‖` against `m`, final `‖r‖` fixed versus
//! learned against `η₀`, and the learned `η` over training ([`crate::plot::learned_eta_figure`]).

use super::{io_error, records_of, sweep_into, StudyError, StudyReport};
use crate::config::{RunConfig, RunSettings};
use crate::domain::DomainKind;
use crate::figure::{number_label, Figure, Format, Panel, Series, Spread, OKABE_ITO};
use crate::param::{LearnEta, ParamKind, Reduce};
use crate::plot::aggregate::Table;
use crate::plot::{best_fixed_eta, learned_eta_figure, logit, FigureData, PlotError};
use crate::published::{best_lr, ETAS};
use crate::record::RunRecord;
use crate::stats::Stat;
use crate::sweep::{SweepObserver, SweepOptions};
use std::path::Path;

/// The pseudo-action counts compared.
pub const ACTIONS: [usize; 3] = [1, 2, 4];

/// The reductions compared.
pub const REDUCES: [Reduce; 2] = [Reduce::Max, Reduce::LogSumExp];

/// The reward offset of every run of the study.
pub const OFFSET: f64 = 0.0;

/// The name of the summary table.
pub const TABLE_FILE: &str = "model_family.csv";

/// An implicit run of `domain` at `eta` with the paper's best learning rate for that `η`.
fn run_at(
    domain: DomainKind,
    eta: f64,
    seed: u64,
    more: RunSettings,
) -> Result<RunConfig, StudyError> {
    Ok(RunSettings {
        domain: Some(domain),
        param: Some(ParamKind::Implicit),
        eta: Some(eta),
        lr: Some(best_lr(domain, ParamKind::Implicit, eta)),
        offset: Some(OFFSET),
        seed: Some(seed),
        ..RunSettings::default()
    }
    .overridden_by(&more)
    .resolve()?)
}

/// Part 1: fixed and learned scalar `η` from every grid `η₀`, every domain, seeds `0..seeds`.
pub fn discount_runs(seeds: usize) -> Result<Vec<RunConfig>, StudyError> {
    let mut runs = Vec::new();
    for d in DomainKind::ALL {
        for eta in ETAS {
            for learn in [LearnEta::None, LearnEta::Scalar] {
                for seed in 0..seeds as u64 {
                    let more = RunSettings {
                        learn_eta: Some(learn),
                        ..RunSettings::default()
                    };
                    runs.push(run_at(d, eta, seed, more)?);
                }
            }
        }
    }
    Ok(runs)
}

/// Part 2: `m ∈ ACTIONS × REDUCES` at each domain's `η` of `best`, seeds `0..seeds`.
pub fn reduction_runs(
    seeds: usize,
    best: &[(DomainKind, f64)],
) -> Result<Vec<RunConfig>, StudyError> {
    let mut runs = Vec::new();
    for &(d, eta) in best {
        for m in ACTIONS {
            for reduce in REDUCES {
                for seed in 0..seeds as u64 {
                    let more = RunSettings {
                        actions: Some(m),
                        reduce: Some(reduce),
                        ..RunSettings::default()
                    };
                    runs.push(run_at(d, eta, seed, more)?);
                }
            }
        }
    }
    Ok(runs)
}

/// The paper's model with a fixed `η` (part 1's fixed runs, and part 2's `m = 1, max`).
fn is_fixed_singleton(c: &RunConfig) -> bool {
    c.actions == 1 && c.reduce == Reduce::Max && c.learn_eta == LearnEta::None
}

/// Each domain's best fixed `η` among the paper's-model runs of `records` (offset 0).
pub fn best_etas(records: &[RunRecord]) -> Vec<(DomainKind, f64)> {
    let fixed: Vec<RunRecord> = records
        .iter()
        .filter(|r| is_fixed_singleton(&r.config))
        .cloned()
        .collect();
    DomainKind::ALL
        .into_iter()
        .filter_map(|d| best_fixed_eta(&fixed, d, &[OFFSET]).map(|(eta, _)| (d, eta)))
        .collect()
}

/// The statistics of one group of runs: final `‖r‖` over finished runs, the diverged count,
/// and the final learned `η` where learned.
struct Group {
    runs: usize,
    diverged: usize,
    final_norm: Stat,
    final_eta: Stat,
}

fn group(records: &[RunRecord], pick: impl Fn(&RunConfig) -> bool) -> Group {
    let mine: Vec<&RunRecord> = records.iter().filter(|r| pick(&r.config)).collect();
    let finals: Vec<f64> = mine
        .iter()
        .filter_map(|r| r.final_row())
        .map(|x| x.residual_norm)
        .collect();
    let etas: Vec<f64> = mine
        .iter()
        .filter_map(|r| r.final_row())
        .filter_map(|x| x.eta)
        .collect();
    Group {
        runs: mine.len(),
        diverged: mine.iter().filter(|r| r.final_row().is_none()).count(),
        final_norm: Stat::of(&finals),
        final_eta: Stat::of(&etas),
    }
}

/// The table and figures of the study's records.
pub fn summarize(records: &[RunRecord]) -> (Table, Vec<FigureData>) {
    let mut table = Table::new(&[
        "domain",
        "part",
        "eta0",
        "lr",
        "actions",
        "reduce",
        "learn_eta",
        "runs",
        "diverged",
        "n",
        "mean_final_norm",
        "sd_final_norm",
        "mean_final_eta",
    ]);
    let mut row = |d: DomainKind, part: &str, c: (f64, usize, Reduce, LearnEta), g: &Group| {
        table.rows.push(vec![
            d.name().into(),
            part.into(),
            c.0.to_string(),
            best_lr(d, ParamKind::Implicit, c.0).to_string(),
            c.1.to_string(),
            crate::config::SettingType::text(&c.2),
            crate::config::SettingType::text(&c.3),
            g.runs.to_string(),
            g.diverged.to_string(),
            g.final_norm.n.to_string(),
            g.final_norm.mean.to_string(),
            g.final_norm.sd.to_string(),
            if g.final_eta.n > 0 {
                crate::config::fmt_f64(g.final_eta.mean)
            } else {
                String::new()
            },
        ]);
    };
    let mut actions_panels = Vec::new();
    let mut discount_panels = Vec::new();
    let best = best_etas(records);
    for d in DomainKind::ALL {
        let of_d: Vec<RunRecord> = records
            .iter()
            .filter(|r| r.config.domain == d)
            .cloned()
            .collect();
        if of_d.is_empty() {
            continue;
        }
        // Part 1: fixed versus learned from each η₀.
        let mut lines = Vec::new();
        for (i, learn) in [LearnEta::None, LearnEta::Scalar].into_iter().enumerate() {
            let mut pts = Vec::new();
            for eta in ETAS {
                let g = group(&of_d, |c| {
                    c.eta == eta
                        && c.actions == 1
                        && c.reduce == Reduce::Max
                        && c.learn_eta == learn
                });
                if g.runs == 0 {
                    continue;
                }
                row(d, "discount", (eta, 1, Reduce::Max, learn), &g);
                pts.push((logit(eta), g.final_norm));
            }
            let label = match learn {
                LearnEta::None => "fixed η = η₀",
                _ => "learned η from η₀",
            };
            lines.push(Series {
                spread: Spread::Bars,
                ..Series::line(label, OKABE_ITO[i], crate::plot::stat_points(&pts))
            });
        }
        discount_panels.push(Panel {
            title: crate::plot::domain_title(d).to_string(),
            x_label: "η₀ (logit axis)".into(),
            y_label: "final ‖r‖₂ (mean ± sd)".into(),
            x_ticks: ETAS.iter().map(|&e| (logit(e), number_label(e))).collect(),
            log_y: true,
            series: lines,
            ..Panel::default()
        });
        // Part 2: m × reduction at the best fixed η.
        let Some(&(_, eta)) = best.iter().find(|b| b.0 == d) else {
            continue;
        };
        let mut lines = Vec::new();
        for (i, reduce) in REDUCES.into_iter().enumerate() {
            let mut pts = Vec::new();
            for m in ACTIONS {
                let g = group(&of_d, |c| {
                    c.eta == eta
                        && c.actions == m
                        && c.reduce == reduce
                        && c.learn_eta == LearnEta::None
                });
                if g.runs == 0 {
                    continue;
                }
                row(d, "reduction", (eta, m, reduce, LearnEta::None), &g);
                pts.push((m as f64, g.final_norm));
            }
            lines.push(Series {
                spread: Spread::Bars,
                dashed: i == 1,
                ..Series::line(
                    crate::config::SettingType::text(&reduce),
                    OKABE_ITO[i + 2],
                    crate::plot::stat_points(&pts),
                )
            });
        }
        actions_panels.push(Panel {
            title: format!(
                "{} (η = {}, α = {})",
                crate::plot::domain_title(d),
                number_label(eta),
                crate::plot::lr_label(best_lr(d, ParamKind::Implicit, eta))
            ),
            x_label: "pseudo-actions m".into(),
            y_label: "final ‖r‖₂ (mean ± sd)".into(),
            x_ticks: ACTIONS.iter().map(|&m| (m as f64, m.to_string())).collect(),
            log_x: true,
            series: lines,
            ..Panel::default()
        });
    }
    let mut figures = Vec::new();
    if !actions_panels.is_empty() {
        figures.push(FigureData {
            name: "model_family_actions".into(),
            figure: Figure::new(
                "Final ‖r‖ against pseudo-actions m (implicit, best fixed η, offset 0)",
                actions_panels,
            ),
            table: table.clone(),
        });
    }
    if !discount_panels.is_empty() {
        figures.push(FigureData {
            name: "model_family_discount".into(),
            figure: Figure::new(
                "Final ‖r‖: fixed η versus η learned from η₀ (implicit, offset 0)",
                discount_panels,
            ),
            table: table.clone(),
        });
    }
    figures.extend(learned_eta_figure(records));
    (table, figures)
}

/// Runs the study into the store in `out` (resuming what it holds) and writes its table and
/// figures there; the notes name each domain's best fixed `η` (part 2's).
pub fn run(
    out: &Path,
    seeds: usize,
    opts: &SweepOptions,
    observer: &mut dyn SweepObserver,
) -> Result<StudyReport, StudyError> {
    let mut report = StudyReport::default();
    let part1 = discount_runs(seeds)?;
    if !sweep_into(out, &part1, opts, observer, &mut report)? {
        return Ok(report);
    }
    let best = best_etas(&records_of(out, &part1)?);
    report.notes.extend(
        best.iter()
            .map(|(d, eta)| format!("{}: best fixed η = {eta}", d.name())),
    );
    let part2 = reduction_runs(seeds, &best)?;
    if !sweep_into(out, &part2, opts, observer, &mut report)? {
        return Ok(report);
    }
    let (table, figures) = summarize(&records_of(out, &[part1, part2].concat())?);
    let path = out.join(TABLE_FILE);
    table.write_csv(&path).map_err(|e| io_error(&path, e))?;
    report.files.push(path);
    for f in figures {
        report.files.extend(
            f.figure
                .save_as(out, &f.name, Format::Both)
                .map_err(PlotError::from)?,
        );
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::EvalRow;
    use crate::train::Outcome;
    use std::collections::HashSet;

    #[test]
    fn the_design_is_the_issues() {
        let part1 = discount_runs(2).expect("valid");
        assert_eq!(part1.len(), 3 * 4 * 2 * 2);
        let keys: HashSet<String> = part1.iter().map(|c| c.key()).collect();
        assert_eq!(keys.len(), part1.len());
        for c in &part1 {
            assert_eq!(
                (c.param, c.offset, c.actions),
                (ParamKind::Implicit, 0.0, 1)
            );
            assert_eq!(c.lr, best_lr(c.domain, c.param, c.eta));
        }
        let part2 = reduction_runs(1, &[(DomainKind::Chain, 0.9)]).expect("valid");
        let got: Vec<(usize, Reduce, f64)> =
            part2.iter().map(|c| (c.actions, c.reduce, c.eta)).collect();
        assert_eq!(got.len(), 6);
        assert!(got.contains(&(4, Reduce::LogSumExp, 0.9)));
        assert!(part2.iter().all(|c| c.learn_eta == LearnEta::None));
    }

    fn rec(eta: f64, seed: u64, m: usize, learn: LearnEta, norm: f64) -> RunRecord {
        let config = run_at(
            DomainKind::Chain,
            eta,
            seed,
            RunSettings {
                actions: Some(m),
                learn_eta: Some(learn),
                ..RunSettings::default()
            },
        )
        .expect("valid");
        let eta_col = (learn != LearnEta::None).then_some(eta);
        RunRecord {
            theta: None,
            config,
            outcome: Outcome::Finished,
            runtime_s: 0.0,
            rows: [0, 300]
                .iter()
                .map(|&t| EvalRow {
                    eta: eta_col,
                    ..EvalRow::from_residuals(t, &[if t == 0 { 10.0 } else { norm }])
                })
                .collect(),
        }
    }

    #[test]
    fn the_best_eta_is_that_of_the_papers_model_with_a_fixed_eta() {
        let records = vec![
            rec(0.8, 0, 1, LearnEta::None, 3.0),
            rec(0.9, 0, 1, LearnEta::None, 2.0),
            rec(0.95, 0, 1, LearnEta::Scalar, 1.0),
            rec(0.8, 0, 4, LearnEta::None, 0.5),
        ];
        assert_eq!(best_etas(&records), vec![(DomainKind::Chain, 0.9)]);
        let (table, figures) = summarize(&records);
        // Part 1: 0.8 and 0.9 fixed, 0.95 learned; part 2 at 0.9: m = 1 (max) only.
        assert_eq!(table.rows.len(), 4);
        let names: Vec<&str> = figures.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "model_family_actions",
                "model_family_discount",
                "learned_eta"
            ]
        );
    }
}
