//! The gradient-mode training study (SPEC §8.3, the paper's §2.3): final `‖r‖` (and its `1`
//! component, Theorem 4's `res_ones_norm`) of implicit runs trained with `unroll:K`,
//! `unroll-warm:K` and `truncated:K` for `K ∈ {1, 2, 4, …, 64}` against `ift`, at the published
//! best settings (η = 0.95, the paper's best learning rate), per domain and reward offset, and
//! the wall-clock cost of one update of each mode.

use super::{io_error, records_of, sweep_into, StudyError, StudyReport};
use crate::config::{ConfigError, RunConfig, RunSettings, SettingType};
use crate::domain::DomainKind;
use crate::figure::{Figure, Format, Panel, Point, Series, Spread, BLACK, OKABE_ITO};
use crate::param::{GradMode, ParamKind};
use crate::plot::PlotError;
use crate::record::RunRecord;
use crate::stats::Stat;
use crate::sweep::{SweepObserver, SweepOptions};
use std::path::Path;

/// The study's summary table, in its directory.
pub const SUMMARY_FILE: &str = "summary.csv";

/// The study's grid.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyOptions {
    /// Domains.
    pub domains: Vec<DomainKind>,
    /// Reward offsets.
    pub offsets: Vec<f64>,
    /// `K`s of the unrolled and truncated modes.
    pub ks: Vec<usize>,
    /// Seeds `0..seeds`.
    pub seeds: u64,
}

impl Default for StudyOptions {
    fn default() -> Self {
        Self {
            domains: vec![
                DomainKind::Chain,
                DomainKind::FourRooms,
                DomainKind::MountainCar,
            ],
            offsets: vec![0.0, 0.5, 1.0],
            ks: vec![1, 2, 4, 8, 16, 32, 64],
            seeds: 20,
        }
    }
}

/// The modes of the study: `ift`, then each family at each `K`.
pub fn modes(ks: &[usize]) -> Vec<GradMode> {
    let mut m = vec![GradMode::Ift];
    for make in [GradMode::Unroll, GradMode::UnrollWarm, GradMode::Truncated] {
        m.extend(ks.iter().map(|&k| make(k)));
    }
    m
}

/// The study's runs: implicit, every setting at its default (the published protocol and best
/// learning rate), in the order domain, offset, mode, seed.
pub fn runs(opts: &StudyOptions) -> Result<Vec<RunConfig>, ConfigError> {
    let mut out = Vec::new();
    for &domain in &opts.domains {
        for &offset in &opts.offsets {
            for grad in modes(&opts.ks) {
                for seed in 0..opts.seeds {
                    out.push(
                        RunSettings {
                            domain: Some(domain),
                            param: Some(ParamKind::Implicit),
                            offset: Some(offset),
                            seed: Some(seed),
                            grad: Some(grad),
                            ..RunSettings::default()
                        }
                        .resolve()?,
                    );
                }
            }
        }
    }
    Ok(out)
}

/// The result of one run of the study.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StudyRow {
    /// Its settings.
    pub cfg: RunConfig,
    /// Final `‖r‖` on the test set (NaN if the run diverged).
    pub residual_norm: f64,
    /// Final `|r∥|·√n` (Theorem 4's component along `1`; NaN if diverged).
    pub res_ones_norm: f64,
    /// Wall-clock seconds per update: the run's time (its data, initialization, updates and
    /// evaluations; the data are the same for every mode) over its number of updates.
    pub secs_per_update: f64,
}

impl StudyRow {
    /// The row of a stored run.
    pub fn of(rec: &RunRecord) -> Self {
        let last = rec.final_row();
        StudyRow {
            cfg: rec.config,
            residual_norm: last.map_or(f64::NAN, |r| r.residual_norm),
            res_ones_norm: last.map_or(f64::NAN, |r| r.res_ones_norm),
            secs_per_update: rec.runtime_s / rec.config.steps.max(1) as f64,
        }
    }
}

/// Runs the study into the store in `out` (resuming what it holds), then writes its summary
/// (`summary.csv`) and figures there: per domain final `‖r‖` and `res_ones_norm` against `K`,
/// and the cost of an update.
pub fn run(
    out: &Path,
    opts: &StudyOptions,
    sweep: &SweepOptions,
    observer: &mut dyn SweepObserver,
) -> Result<StudyReport, StudyError> {
    let runs = runs(opts)?;
    let mut report = StudyReport::default();
    if !sweep_into(out, &runs, sweep, observer, &mut report)? {
        return Ok(report);
    }
    // The summary's rows in the study's order (domain, offset, mode), not the store's.
    let position: std::collections::HashMap<String, usize> =
        runs.iter().enumerate().map(|(i, c)| (c.key(), i)).collect();
    let mut rows: Vec<StudyRow> = records_of(out, &runs)?.iter().map(StudyRow::of).collect();
    rows.sort_by_key(|r| position.get(&r.cfg.key()).copied());
    let summary = summarize(&rows);
    let path = out.join(SUMMARY_FILE);
    let file = std::fs::File::create(&path).map_err(|e| io_error(&path, e))?;
    write_summary(std::io::BufWriter::new(file), &summary).map_err(|e| io_error(&path, e))?;
    report.files.push(path);
    let mut figures = Vec::new();
    for &d in &opts.domains {
        let name = d.text();
        figures.push((
            format!("residual-{name}"),
            metric_figure(&summary, d, &opts.ks, "final ‖r‖", |s| s.residual),
        ));
        figures.push((
            format!("ones-{name}"),
            metric_figure(&summary, d, &opts.ks, "final res_ones_norm", |s| s.ones),
        ));
    }
    figures.push(("cost".to_string(), cost_figure(&summary, &opts.ks)));
    for (name, f) in figures {
        report.files.extend(
            f.save_as(out, &name, Format::Both)
                .map_err(PlotError::from)?,
        );
    }
    Ok(report)
}

/// One configuration's summary over its seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Domain.
    pub domain: DomainKind,
    /// Reward offset.
    pub offset: f64,
    /// Gradient mode.
    pub grad: GradMode,
    /// Final `‖r‖` of the runs that finished.
    pub residual: Stat,
    /// Final `res_ones_norm` of the runs that finished.
    pub ones: Stat,
    /// Runs that diverged.
    pub diverged: usize,
    /// Seconds per update of the fastest seed (on a shared machine the minimum is the
    /// estimate least disturbed by other work).
    pub secs_per_update: f64,
}

/// The summaries of `rows`, in the order of their first appearance.
pub fn summarize(rows: &[StudyRow]) -> Vec<Summary> {
    let mut keys: Vec<(DomainKind, u64, GradMode)> = Vec::new();
    for r in rows {
        let key = (r.cfg.domain, r.cfg.offset.to_bits(), r.cfg.grad);
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys.into_iter()
        .map(|(domain, off, grad)| {
            let of: Vec<&StudyRow> = rows
                .iter()
                .filter(|r| {
                    r.cfg.domain == domain && r.cfg.offset.to_bits() == off && r.cfg.grad == grad
                })
                .collect();
            let fin = |f: fn(&StudyRow) -> f64| -> Vec<f64> {
                of.iter().map(|r| f(r)).filter(|x| x.is_finite()).collect()
            };
            let fastest = of
                .iter()
                .map(|r| r.secs_per_update)
                .fold(f64::INFINITY, f64::min);
            Summary {
                domain,
                offset: f64::from_bits(off),
                grad,
                residual: Stat::of(&fin(|r| r.residual_norm)),
                ones: Stat::of(&fin(|r| r.res_ones_norm)),
                diverged: of.iter().filter(|r| !r.residual_norm.is_finite()).count(),
                secs_per_update: fastest,
            }
        })
        .collect()
}

/// Writes the summaries as CSV
/// (`domain,offset,grad,family,k,n,diverged,residual_mean,residual_sd,ones_mean,ones_sd,us_per_update`).
pub fn write_summary(mut out: impl std::io::Write, s: &[Summary]) -> std::io::Result<()> {
    use crate::config::fmt_f64;
    use crate::config::SettingType;
    writeln!(
        out,
        "domain,offset,grad,family,k,n,diverged,residual_mean,residual_sd,ones_mean,ones_sd,us_per_update"
    )?;
    for x in s {
        writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{}",
            x.domain.text(),
            fmt_f64(x.offset),
            x.grad.text(),
            x.grad.family(),
            x.grad.k(),
            x.residual.n,
            x.diverged,
            fmt_f64(x.residual.mean),
            fmt_f64(x.residual.sd),
            fmt_f64(x.ones.mean),
            fmt_f64(x.ones.sd),
            fmt_f64(x.secs_per_update * 1e6),
        )?;
    }
    Ok(())
}

/// The smallest and largest `K` (1 when there is none), as the ends of the `ift` line.
fn k_range(ks: &[usize]) -> (f64, f64) {
    (
        ks.iter().copied().min().unwrap_or(1) as f64,
        ks.iter().copied().max().unwrap_or(1) as f64,
    )
}

/// The exact gradient's value as a dashed black line without markers (it has no `K`).
fn ift_line(points: Vec<Point>) -> Series {
    let mut line = Series::line("ift (exact)", BLACK, points);
    line.dashed = true;
    line.markers = false;
    line.spread = Spread::None;
    line
}

/// A panel of a metric against `K` on log–log axes, ticked at each `K`.
fn k_panel(title: impl Into<String>, y_label: &str, ks: &[usize], series: Vec<Series>) -> Panel {
    Panel {
        title: title.into(),
        x_label: "K".into(),
        y_label: y_label.into(),
        x_ticks: ks.iter().map(|&k| (k as f64, k.to_string())).collect(),
        log_x: true,
        log_y: true,
        series,
        ..Panel::default()
    }
}

/// One figure per domain of a final metric against `K` (one panel per offset): a line (mean ±
/// sd over the seeds that finished) per mode family, `ift` as a dashed horizontal line.
pub fn metric_figure(
    s: &[Summary],
    domain: DomainKind,
    ks: &[usize],
    what: &str,
    metric: fn(&Summary) -> Stat,
) -> Figure {
    use crate::config::SettingType;
    let mut offsets: Vec<f64> = s
        .iter()
        .filter(|x| x.domain == domain)
        .map(|x| x.offset)
        .collect();
    offsets.dedup();
    let (lo, hi) = k_range(ks);
    let panels = offsets
        .iter()
        .map(|&off| {
            let here: Vec<&Summary> = s
                .iter()
                .filter(|x| x.domain == domain && x.offset == off)
                .collect();
            let mut series = Vec::new();
            for (i, fam) in ["unroll", "unroll-warm", "truncated"].iter().enumerate() {
                let pts = here
                    .iter()
                    .filter(|x| x.grad.family() == *fam)
                    .filter_map(|x| Point::of_stat(x.grad.k() as f64, &metric(x)))
                    .collect();
                let mut line = Series::line(*fam, OKABE_ITO[i], pts);
                line.spread = Spread::Band;
                series.push(line);
            }
            if let Some(ift) = here.iter().find(|x| x.grad == GradMode::Ift) {
                let st = metric(ift);
                series.push(ift_line(
                    [lo, hi]
                        .iter()
                        .filter_map(|&x| Point::of_stat(x, &st))
                        .collect(),
                ));
            }
            k_panel(
                format!("offset {}", crate::config::fmt_f64(off)),
                what,
                ks,
                series,
            )
        })
        .collect();
    let mut fig = Figure::new(format!("{}: {what} after training", domain.text()), panels);
    fig.notes = vec![
        "implicit, η = 0.95, best lr".into(),
        "mean ± sd over seeds that finished".into(),
    ];
    fig
}

/// Microseconds per update (fastest seed) against `K`, one panel per domain, a line per family, `ift`
/// dashed.
pub fn cost_figure(s: &[Summary], ks: &[usize]) -> Figure {
    use crate::config::SettingType;
    let mut domains: Vec<DomainKind> = s.iter().map(|x| x.domain).collect();
    domains.dedup();
    let (lo, hi) = k_range(ks);
    let fastest = |xs: Vec<f64>| -> f64 { xs.into_iter().fold(f64::INFINITY, f64::min) };
    let panels = domains
        .iter()
        .map(|&d| {
            let here: Vec<&Summary> = s.iter().filter(|x| x.domain == d).collect();
            let cost = |grad: GradMode| {
                fastest(
                    here.iter()
                        .filter(|x| x.grad == grad)
                        .map(|x| x.secs_per_update * 1e6)
                        .collect(),
                )
            };
            let mut series: Vec<Series> =
                [GradMode::Unroll, GradMode::UnrollWarm, GradMode::Truncated]
                    .iter()
                    .enumerate()
                    .map(|(i, make)| {
                        let pts = ks
                            .iter()
                            .map(|&k| Point::at(k as f64, cost(make(k))))
                            .collect();
                        Series::line(make(1).family(), OKABE_ITO[i], pts)
                    })
                    .collect();
            let c = cost(GradMode::Ift);
            series.push(ift_line(vec![Point::at(lo, c), Point::at(hi, c)]));
            k_panel(d.text(), "µs per update (fastest seed)", ks, series)
        })
        .collect();
    let mut fig = Figure::new("cost of one update", panels);
    fig.notes = vec!["wall clock on a shared machine".into()];
    fig
}
