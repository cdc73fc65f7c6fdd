//! The paper's figures (SPEC §6) from run records: an aggregation layer ([`mod@aggregate`]) of
//! pure functions from records to tables, then drawing of those tables with the shared plotting
//! layer ([`crate::figure`]).
//!
//! [`draw_all`] writes, for every figure the records support, `<name>.svg` and/or `<name>.png`
//! and, beside it, `<name>.csv`, the numbers the figure shows. Figures (or panels) the records
//! do not support are listed in the [`PlotReport`] with the reason.
//!
//! | Figure | File stem | Shows |
//! |---|---|---|
//! | 1 | `fig1_initial_residual` | initial `‖r∥‖₂`, `‖r⊥‖₂` vs offset, η = 0.95, per domain |
//! | 2 | `fig2_final_vs_offset` | final `‖r‖₂` vs offset, explicit vs implicit, η = 0.95 |
//! | 3 | `fig3_final_vs_eta` | final `‖r‖₂` (implicit) vs η (logit axis), one line per offset |
//! | per domain | `lr_<domain>_<param>` | final `‖r‖₂` vs offset for every learning rate, per η |
//! | curves | `curves_best` | `‖r‖₂` vs update step, explicit vs implicit, η = 0.95 |
//! | learned η | `learned_eta` | learned `η` vs update step, one line per `η₀`, best fixed `η` dashed (SPEC §8.2) |
//!
//! Bands are mean ± one sample standard deviation over seeds; diverged runs are excluded from
//! final-metric statistics and counted in the tables' `diverged` column.

pub mod aggregate;
mod learned_eta;
mod lr_curves;
mod paper;

pub use learned_eta::{best_fixed_eta, learned_eta_figure, learns_eta, LEARNED_ETA_FIGURE};
pub use lr_curves::{curves, lr_figures};
pub use paper::{figure1, figure2, figure3};

pub use crate::figure::{Figure, Format, Panel, Series};
pub use crate::stats::{ConfigKey, Protocol, Stat};
pub use aggregate::{aggregate, choose_lr, split_protocol, BestLr, Cell, Table};

use crate::domain::DomainKind;
use crate::figure::{nice_ticks, number_label, param_color, FigureError, Point, Spread, OKABE_ITO};
use crate::param::ParamKind;
use crate::record::RunRecord;
use aggregate::{distinct, key_fields, stat_fields};
use plotters::style::colors::colormaps::{ColorMap, ViridisRGB};
use plotters::style::RGBColor;
use std::path::{Path, PathBuf};

/// The `η` of figures 1, 2 and the learning curves (as in the paper).
pub const FIGURE_ETA: f64 = 0.95;

/// A failure to write a figure or its table.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The output directory or a file cannot be created or written.
    #[error("{path}: {message}")]
    Io {
        /// The file or directory.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A figure cannot be drawn or written.
    #[error(transparent)]
    Figure(#[from] FigureError),
}

/// Options of [`draw_all`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlotOptions {
    /// Image formats.
    pub format: Format,
    /// How learning rates are chosen for the "best" figures.
    pub best: BestLr,
}

/// One figure that was drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct DrawnFigure {
    /// File stem, e.g. `fig2_final_vs_offset`.
    pub name: String,
    /// Image files written.
    pub images: Vec<PathBuf>,
    /// The CSV table of the numbers shown.
    pub table: PathBuf,
    /// Image size in pixels.
    pub size: (u32, u32),
}

/// What [`draw_all`] did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlotReport {
    /// Figures drawn.
    pub figures: Vec<DrawnFigure>,
    /// Other files written (the table of chosen learning rates).
    pub extra: Vec<PathBuf>,
    /// Figures or panels not drawn: `(what, why)`.
    pub skipped: Vec<(String, String)>,
}

impl PlotReport {
    /// All files written.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = self
            .figures
            .iter()
            .flat_map(|f| f.images.iter().cloned().chain([f.table.clone()]))
            .collect();
        v.extend(self.extra.iter().cloned());
        v
    }
}

/// A figure with the table behind it, ready to render.
#[derive(Debug, Clone)]
pub struct FigureData {
    /// File stem.
    pub name: String,
    /// The drawing.
    pub figure: Figure,
    /// The numbers shown.
    pub table: Table,
}

impl FigureData {
    /// The figure `name` titled `title`; or, when it has no panel (nothing to draw), `None`
    /// with `(what, why)` added to `skipped`.
    fn unless_empty(
        name: &str,
        title: String,
        panels: Vec<Panel>,
        table: Table,
        skipped: &mut Vec<(String, String)>,
        (what, why): (&str, String),
    ) -> Option<Self> {
        if panels.is_empty() {
            skipped.push((what.into(), why));
            return None;
        }
        Some(FigureData {
            name: name.into(),
            figure: Figure::new(title, panels),
            table,
        })
    }
}

/// `ln(η / (1 − η))`, the logit axis of figure 3.
pub fn logit(eta: f64) -> f64 {
    (eta / (1.0 - eta)).ln()
}

/// A learning-rate label: `2⁻⁶` for powers of two, else the number.
pub fn lr_label(lr: f64) -> String {
    let e = lr.log2();
    if e.fract() == 0.0 && e.abs() < 64.0 {
        let sup: String = format!("{}", e as i32)
            .chars()
            .map(|c| match c {
                '-' => '⁻',
                d => ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'][d as usize - '0' as usize],
            })
            .collect();
        format!("2{sup}")
    } else {
        number_label(lr)
    }
}

pub(crate) fn domain_title(d: DomainKind) -> &'static str {
    match d {
        DomainKind::Chain => "Chain",
        DomainKind::FourRooms => "Four rooms",
        DomainKind::MountainCar => "Mountain car",
        own => own.name(),
    }
}

/// A panel title naming the domain and the learning rates used, e.g.
/// `Chain (α = 2⁻¹ explicit, 2⁻⁶ implicit)`.
fn alpha_title(d: DomainKind, alphas: &[String]) -> String {
    format!("{} (α = {})", domain_title(d), alphas.join(", "))
}

fn offset_ticks(offsets: &[f64]) -> Vec<(f64, String)> {
    let step = offsets.len().div_ceil(6).max(1);
    offsets
        .iter()
        .step_by(step)
        .map(|&o| (o, number_label(o)))
        .collect()
}

fn cells_at(cells: &[Cell], d: DomainKind, p: ParamKind, eta: f64, lr: f64) -> Vec<&Cell> {
    cells
        .iter()
        .filter(|c| c.key.kind() == d && c.key.param == p && c.key.eta == eta && c.key.lr == lr)
        .collect()
}

/// The points `mean ± sd` of statistics at their `x` (empty samples left out).
pub(crate) fn stat_points(points: &[(f64, Stat)]) -> Vec<Point> {
    points
        .iter()
        .filter_map(|(x, s)| Point::of_stat(*x, s))
        .collect()
}

fn series(label: String, color: RGBColor, points: Vec<(f64, Stat)>) -> Series {
    Series {
        spread: Spread::Band,
        ..Series::line(label, color, stat_points(&points))
    }
}

fn final_header() -> Vec<&'static str> {
    key_header(&["runs", "diverged", "n", "mean", "sd"])
}

/// A figure table's header: the key's columns ([`aggregate::key_fields`]), then `rest`.
fn key_header(rest: &[&'static str]) -> Vec<&'static str> {
    crate::stats::KEY_COLUMNS[..5]
        .iter()
        .chain(rest)
        .copied()
        .collect()
}

fn final_row(c: &Cell) -> Vec<String> {
    let mut r = key_fields(&c.key);
    r.push(c.runs.to_string());
    r.push(c.diverged.to_string());
    r.extend(stat_fields(&c.final_norm));
    r
}

fn domains_of(cells: &[Cell]) -> Vec<DomainKind> {
    let mut ds: Vec<DomainKind> = cells.iter().map(|c| c.key.kind()).collect();
    ds.sort();
    ds.dedup();
    ds
}

/// The table of the learning rates chosen for each (domain, parameterization, `η`) present.
pub fn chosen_lrs(cells: &[Cell], best: BestLr) -> Table {
    let mut t = Table::new(&["domain", "param", "eta", "lr", "mode"]);
    let mode = |d| match aggregate::lr_mode(best, d) {
        BestLr::Published => "published",
        BestLr::Auto => "auto",
    };
    let mut seen: Vec<(DomainKind, ParamKind, f64)> = cells
        .iter()
        .map(|c| (c.key.kind(), c.key.param, c.key.eta))
        .collect();
    seen.dedup();
    for (d, p, eta) in seen {
        if let Some(lr) = choose_lr(cells, best, d, p, eta) {
            t.rows.push(vec![
                d.name().into(),
                p.name().into(),
                eta.to_string(),
                lr.to_string(),
                mode(d).into(),
            ]);
        }
    }
    t
}

/// Every figure the records support, with its table (nothing is written). The figures show the
/// configurations of one protocol only ([`aggregate::figure_protocol`]: the published one when
/// the records hold it); where a figure would also have shown runs of other settings, `skipped`
/// says so, with those settings.
pub fn figures(
    records: &[RunRecord],
    best: BestLr,
    skipped: &mut Vec<(String, String)>,
) -> Vec<FigureData> {
    let (cells, others, protocol) = split_protocol(records);
    let at_eta = |k: &ConfigKey| k.eta == FIGURE_ETA;
    let pair = |k: &ConfigKey| matches!(k.param, ParamKind::Explicit | ParamKind::Implicit);
    let mut out = Vec::new();
    if best == BestLr::Published {
        for d in domains_of(&cells).into_iter().filter(|d| !d.is_builtin()) {
            skipped.push((
                format!("published learning rates of {d}"),
                "a problem of one's own has none: its rates are chosen as by --best auto (lowest final ‖r‖)".into(),
            ));
        }
    }
    out.extend(figure1(&cells, best, skipped));
    not_drawn("figure 1", &others, protocol, at_eta, skipped);
    out.extend(figure2(&cells, best, skipped));
    not_drawn(
        "figure 2",
        &others,
        protocol,
        |k| at_eta(k) && pair(k),
        skipped,
    );
    out.extend(figure3(&cells, best, skipped));
    not_drawn(
        "figure 3",
        &others,
        protocol,
        |k| k.param == ParamKind::Implicit,
        skipped,
    );
    out.extend(lr_figures(&cells, best));
    for d in DomainKind::ALL {
        for p in ParamKind::ALL {
            not_drawn(
                &format!("lr_{}_{}", d.name(), p.name()),
                &others,
                protocol,
                |k| k.kind() == d && k.param == p,
                skipped,
            );
        }
    }
    out.extend(curves(records, &cells, best, skipped));
    // Over every record: runs that learn η are never of the published protocol.
    out.extend(learned_eta_figure(records));
    not_drawn(
        "learning curves",
        &others,
        protocol,
        |k| at_eta(k) && pair(k),
        skipped,
    );
    out
}

/// Adds to `skipped` the configurations of `others` (settings other than the figures'
/// `protocol`) that figure `what` would show by its selection `shows`: their number, their runs
/// and the settings in which they differ from `protocol`.
fn not_drawn(
    what: &str,
    others: &[Cell],
    protocol: Protocol,
    shows: impl Fn(&ConfigKey) -> bool,
    skipped: &mut Vec<(String, String)>,
) {
    let hit: Vec<&Cell> = others.iter().filter(|c| shows(&c.key)).collect();
    if hit.is_empty() {
        return;
    }
    let mut settings: Vec<String> = hit
        .iter()
        .map(|c| c.key.protocol().differences_from(&protocol).join(" "))
        .collect();
    settings.sort();
    settings.dedup();
    skipped.push((
        what.to_string(),
        format!(
            "{} configurations ({} runs) with settings other than those drawn{} not drawn: {}",
            hit.len(),
            hit.iter().map(|c| c.runs).sum::<usize>(),
            if protocol == Protocol::published() {
                " (the published protocol)"
            } else {
                ""
            },
            settings.join("; ")
        ),
    ));
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> PlotError {
    PlotError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Draws every figure the records support into `out` (created if missing): images in the
/// requested formats, each with its CSV table, plus `best_lr.csv`, the learning rates used.
pub fn draw_all(
    records: &[RunRecord],
    out: &Path,
    opts: PlotOptions,
) -> Result<PlotReport, PlotError> {
    draw_all_noted(records, out, opts, None)
}

/// [`draw_all`], with `title_note` (what the records have in common that the titles do not
/// say, e.g. `targets = td:10`) at the end of every figure's title ([`Figure::note_in_title`]);
/// the tables are [`draw_all`]'s.
pub fn draw_all_noted(
    records: &[RunRecord],
    out: &Path,
    opts: PlotOptions,
    title_note: Option<&str>,
) -> Result<PlotReport, PlotError> {
    std::fs::create_dir_all(out).map_err(|e| io_err(out, e))?;
    let mut report = PlotReport::default();
    if records.is_empty() {
        report
            .skipped
            .push(("all figures".into(), "the results hold no runs".into()));
        return Ok(report);
    }
    let figs = figures(records, opts.best, &mut report.skipped);
    for mut f in figs {
        if let Some(note) = title_note {
            f.figure.note_in_title(note);
        }
        let table = out.join(format!("{}.csv", f.name));
        f.table.write_csv(&table).map_err(|e| io_err(&table, e))?;
        let images = f.figure.save_as(out, &f.name, opts.format)?;
        report.figures.push(DrawnFigure {
            name: f.name,
            images,
            table,
            size: f.figure.size(),
        });
    }
    let lrs = out.join("best_lr.csv");
    chosen_lrs(&split_protocol(records).0, opts.best)
        .write_csv(&lrs)
        .map_err(|e| io_err(&lrs, e))?;
    report.extra.push(lrs);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(lr_label(2f64.powi(-6)), "2⁻⁶");
        assert_eq!(lr_label(128.0), "2⁷");
        assert_eq!(lr_label(0.3), "0.3");
        assert!((logit(0.5)).abs() < 1e-15);
        assert!((logit(0.9) - 9f64.ln()).abs() < 1e-12);
        assert_eq!(number_label(0.975), "0.975");
        assert_eq!(number_label(12.345), "12.3");
    }
}
