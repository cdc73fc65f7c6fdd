//! The paper's figures (SPEC §6) from run records: an aggregation layer ([`aggregate`]) of pure
//! functions from records to tables, then drawing ([`draw`]) of those tables with `plotters`.
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
//!
//! Bands are mean ± one sample standard deviation over seeds; diverged runs are excluded from
//! final-metric statistics and counted in the tables' `diverged` column.

pub mod aggregate;

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

fn domain_title(d: DomainKind) -> &'static str {
    match d {
        DomainKind::Chain => "Chain",
        DomainKind::FourRooms => "Four rooms",
        DomainKind::MountainCar => "Mountain car",
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
fn stat_points(points: &[(f64, Stat)]) -> Vec<Point> {
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
    vec![
        "domain", "param", "eta", "lr", "offset", "runs", "diverged", "n", "mean", "sd",
    ]
}

fn final_row(c: &Cell) -> Vec<String> {
    let mut r = key_fields(&c.key);
    r.push(c.runs.to_string());
    r.push(c.diverged.to_string());
    r.extend(stat_fields(&c.final_norm));
    r
}

fn domains_of(cells: &[Cell]) -> Vec<DomainKind> {
    DomainKind::ALL
        .into_iter()
        .filter(|d| cells.iter().any(|c| c.key.kind() == *d))
        .collect()
}

/// Figure 1: initial `‖r∥‖₂` and `‖r⊥‖₂` against the offset at η = 0.95, per domain. The
/// initial residual does not depend on the learning rate or the parameterization (all start
/// from the same `θ̂`), so each panel uses the implicit runs at the chosen learning rate when
/// present, else the (param, lr) with the most runs.
pub fn figure1(
    cells: &[Cell],
    best: BestLr,
    skipped: &mut Vec<(String, String)>,
) -> Option<FigureData> {
    let mut table = Table::new(&[
        "domain",
        "param",
        "eta",
        "lr",
        "offset",
        "n",
        "ones_mean",
        "ones_sd",
        "ortho_mean",
        "ortho_sd",
    ]);
    let mut panels = Vec::new();
    for d in domains_of(cells) {
        let at_eta: Vec<&Cell> = cells
            .iter()
            .filter(|c| c.key.kind() == d && c.key.eta == FIGURE_ETA && c.initial_norm.n > 0)
            .collect();
        if at_eta.is_empty() {
            skipped.push((
                format!("figure 1, {}", d.name()),
                format!("no runs at η = {FIGURE_ETA}"),
            ));
            continue;
        }
        let preferred = choose_lr(cells, best, d, ParamKind::Implicit, FIGURE_ETA)
            .filter(|&lr| {
                at_eta
                    .iter()
                    .any(|c| c.key.param == ParamKind::Implicit && c.key.lr == lr)
            })
            .map(|lr| (ParamKind::Implicit, lr));
        let (p, lr) = preferred.unwrap_or_else(|| {
            let best = at_eta
                .iter()
                .max_by_key(|c| {
                    at_eta
                        .iter()
                        .filter(|o| o.key.param == c.key.param && o.key.lr == c.key.lr)
                        .map(|o| o.runs)
                        .sum::<usize>()
                })
                .map(|c| (c.key.param, c.key.lr));
            best.unwrap_or((ParamKind::Implicit, 0.0))
        });
        let sel = cells_at(cells, d, p, FIGURE_ETA, lr);
        for c in &sel {
            let mut r = key_fields(&c.key);
            r.push(c.initial_norm.n.to_string());
            for s in [c.initial_ones, c.initial_ortho] {
                r.push(s.mean.to_string());
                r.push(s.sd.to_string());
            }
            table.rows.push(r);
        }
        let offsets: Vec<f64> = sel.iter().map(|c| c.key.offset).collect();
        panels.push(Panel {
            title: domain_title(d).to_string(),
            x_label: "reward offset c".into(),
            y_label: "initial residual norm".into(),
            x_ticks: offset_ticks(&offsets),
            log_x: false,
            log_y: false,
            series: vec![
                series(
                    "‖r∥‖₂ (along 1)".into(),
                    OKABE_ITO[3],
                    sel.iter().map(|c| (c.key.offset, c.initial_ones)).collect(),
                ),
                series(
                    "‖r⊥‖₂ (orthogonal)".into(),
                    OKABE_ITO[0],
                    sel.iter()
                        .map(|c| (c.key.offset, c.initial_ortho))
                        .collect(),
                ),
            ],
            vlines: vec![],
        });
    }
    FigureData::unless_empty(
        "fig1_initial_residual",
        format!("Initial residual components, η = {FIGURE_ETA} (mean ± sd)"),
        panels,
        table,
        skipped,
        ("figure 1", format!("no runs at η = {FIGURE_ETA}")),
    )
}

/// Figure 2: final `‖r‖₂` against the offset, explicit vs implicit at η = 0.95 with the chosen
/// learning rates, per domain.
pub fn figure2(
    cells: &[Cell],
    best: BestLr,
    skipped: &mut Vec<(String, String)>,
) -> Option<FigureData> {
    let mut table = Table::new(&final_header());
    let mut panels = Vec::new();
    for d in domains_of(cells) {
        let mut ser = Vec::new();
        let mut alphas: Vec<String> = Vec::new();
        for p in [ParamKind::Explicit, ParamKind::Implicit] {
            let lr = choose_lr(cells, best, d, p, FIGURE_ETA);
            let sel = lr
                .map(|lr| cells_at(cells, d, p, FIGURE_ETA, lr))
                .unwrap_or_default();
            if !sel.iter().any(|c| c.final_norm.n > 0) {
                skipped.push((
                    format!("figure 2, {} {}", d.name(), p.name()),
                    match lr {
                        Some(lr) => format!("no finished runs at η = {FIGURE_ETA}, lr = {lr}"),
                        None => format!("no finished runs at η = {FIGURE_ETA}"),
                    },
                ));
                continue;
            }
            table.rows.extend(sel.iter().map(|c| final_row(c)));
            alphas.push(format!("{} {}", lr_label(sel[0].key.lr), p.name()));
            ser.push(series(
                p.name().to_string(),
                param_color(p),
                sel.iter().map(|c| (c.key.offset, c.final_norm)).collect(),
            ));
        }
        if ser.is_empty() {
            continue;
        }
        let offsets = distinct(cells, |c| c.key.offset);
        panels.push(Panel {
            title: alpha_title(d, &alphas),
            x_label: "reward offset c".into(),
            y_label: "final ‖r‖₂".into(),
            x_ticks: offset_ticks(&offsets),
            log_x: false,
            log_y: false,
            series: ser,
            vlines: vec![],
        });
    }
    FigureData::unless_empty(
        "fig2_final_vs_offset",
        format!("Final ‖r‖₂, explicit vs implicit, η = {FIGURE_ETA} (mean ± sd)"),
        panels,
        table,
        skipped,
        (
            "figure 2",
            format!("no finished runs at η = {FIGURE_ETA} with the chosen learning rates"),
        ),
    )
}

/// Figure 3: final `‖r‖₂` of the implicit parameterization (chosen learning rates) against
/// `η` on a logit axis, one line per offset (viridis), dashed line at the domain's `γ`.
pub fn figure3(
    cells: &[Cell],
    best: BestLr,
    skipped: &mut Vec<(String, String)>,
) -> Option<FigureData> {
    let mut table = Table::new(&final_header());
    let mut panels = Vec::new();
    let p = ParamKind::Implicit;
    for d in domains_of(cells) {
        let etas = distinct(cells, |c| {
            if c.key.kind() == d && c.key.param == p {
                c.key.eta
            } else {
                f64::NAN
            }
        })
        .into_iter()
        .filter(|e| !e.is_nan())
        .collect::<Vec<_>>();
        let mut chosen: Vec<&Cell> = Vec::new();
        for &eta in &etas {
            if let Some(lr) = choose_lr(cells, best, d, p, eta) {
                chosen.extend(
                    cells_at(cells, d, p, eta, lr)
                        .into_iter()
                        .filter(|c| c.final_norm.n > 0),
                );
            }
        }
        if chosen.is_empty() {
            skipped.push((
                format!("figure 3, {}", d.name()),
                "no finished implicit runs at the chosen learning rates".into(),
            ));
            continue;
        }
        let offsets = distinct(cells, |c| c.key.offset);
        let (omin, omax) = (offsets[0], offsets[offsets.len() - 1]);
        let mut ser = Vec::new();
        for &o in &offsets {
            let mut pts: Vec<&&Cell> = chosen.iter().filter(|c| c.key.offset == o).collect();
            if pts.is_empty() {
                continue;
            }
            pts.sort_by(|a, b| a.key.eta.total_cmp(&b.key.eta));
            let h = if omax > omin {
                ((o - omin) / (omax - omin)) as f32
            } else {
                0.0
            };
            ser.push(Series {
                label: format!("c = {}", number_label(o)),
                color: ViridisRGB.get_color(h * 0.9),
                line: true,
                dashed: false,
                markers: true,
                width: 2,
                spread: Spread::None,
                points: stat_points(
                    &pts.iter()
                        .map(|c| (logit(c.key.eta), c.final_norm))
                        .collect::<Vec<_>>(),
                ),
            });
        }
        let mut sorted = chosen.clone();
        sorted.sort_by(|a, b| {
            a.key
                .offset
                .total_cmp(&b.key.offset)
                .then(a.key.eta.total_cmp(&b.key.eta))
        });
        table.rows.extend(sorted.iter().map(|c| final_row(c)));
        let used: Vec<f64> = {
            let mut v: Vec<f64> = chosen.iter().map(|c| c.key.eta).collect();
            v.sort_by(f64::total_cmp);
            v.dedup();
            v
        };
        panels.push(Panel {
            title: domain_title(d).to_string(),
            x_label: "internal discount η (logit scale)".into(),
            y_label: "final ‖r‖₂ (implicit)".into(),
            x_ticks: used.iter().map(|&e| (logit(e), number_label(e))).collect(),
            log_x: false,
            log_y: false,
            series: ser,
            vlines: vec![(logit(d.gamma()), format!("γ = {}", d.gamma()))],
        });
    }
    FigureData::unless_empty(
        "fig3_final_vs_eta",
        "Final ‖r‖₂ of the implicit parameterization against η".into(),
        panels,
        table,
        skipped,
        ("figure 3", "no finished implicit runs".into()),
    )
}

/// Per domain and parameterization: final `‖r‖₂` against the offset for every learning rate
/// (log y axis), one panel per `η`, the chosen learning rate drawn thicker.
pub fn lr_figures(cells: &[Cell], best: BestLr) -> Vec<FigureData> {
    let mut out = Vec::new();
    for d in DomainKind::ALL {
        for p in ParamKind::ALL {
            let mine: Vec<&Cell> = cells
                .iter()
                .filter(|c| c.key.kind() == d && c.key.param == p)
                .collect();
            if mine.is_empty() {
                continue;
            }
            let mut header = final_header();
            header.push("best");
            let mut table = Table::new(&header);
            let mut etas: Vec<f64> = mine.iter().map(|c| c.key.eta).collect();
            etas.sort_by(f64::total_cmp);
            etas.dedup();
            let mut lrs: Vec<f64> = mine.iter().map(|c| c.key.lr).collect();
            lrs.sort_by(|a, b| b.total_cmp(a));
            lrs.dedup();
            let offsets = distinct(cells, |c| c.key.offset);
            let mut panels = Vec::new();
            for &eta in &etas {
                let chosen = choose_lr(cells, best, d, p, eta);
                let mut ser = Vec::new();
                for (i, &lr) in lrs.iter().enumerate() {
                    let sel: Vec<&&Cell> = mine
                        .iter()
                        .filter(|c| c.key.eta == eta && c.key.lr == lr)
                        .collect();
                    if sel.is_empty() {
                        continue;
                    }
                    let is_best = chosen == Some(lr);
                    for c in &sel {
                        let mut r = final_row(c);
                        r.push(is_best.to_string());
                        table.rows.push(r);
                    }
                    ser.push(Series {
                        label: format!(
                            "α = {}{}",
                            lr_label(lr),
                            if is_best { " (best)" } else { "" }
                        ),
                        color: OKABE_ITO[i % OKABE_ITO.len()],
                        dashed: false,
                        markers: true,
                        width: if is_best { 4 } else { 1 },
                        line: true,
                        spread: Spread::None,
                        points: stat_points(
                            &sel.iter()
                                .map(|c| (c.key.offset, c.final_norm))
                                .collect::<Vec<_>>(),
                        ),
                    });
                }
                panels.push(Panel {
                    title: format!("η = {eta}"),
                    x_label: "reward offset c".into(),
                    y_label: "final ‖r‖₂ (log scale)".into(),
                    x_ticks: offset_ticks(&offsets),
                    log_x: false,
                    log_y: true,
                    series: ser,
                    vlines: vec![],
                });
            }
            out.push(FigureData {
                name: format!("lr_{}_{}", d.name(), p.name()),
                figure: Figure::new(
                    format!(
                        "{}, {}: final ‖r‖₂ for every learning rate α",
                        domain_title(d),
                        p.name()
                    ),
                    panels,
                ),
                table,
            });
        }
    }
    out
}

/// Learning curves: `‖r‖₂` against the update step at η = 0.95 with the chosen learning
/// rates, explicit vs implicit, for the smallest (solid) and largest (dashed) offset; mean ± sd
/// over the runs that finished.
pub fn curves(
    records: &[RunRecord],
    cells: &[Cell],
    best: BestLr,
    skipped: &mut Vec<(String, String)>,
) -> Option<FigureData> {
    let mut table = Table::new(&[
        "domain", "param", "eta", "lr", "offset", "timestep", "n", "mean", "sd",
    ]);
    let mut panels = Vec::new();
    for d in domains_of(cells) {
        let mut ser = Vec::new();
        let mut alphas: Vec<String> = Vec::new();
        let offsets = distinct(cells, |c| {
            if c.key.kind() == d {
                c.key.offset
            } else {
                f64::NAN
            }
        })
        .into_iter()
        .filter(|o| !o.is_nan())
        .collect::<Vec<_>>();
        let mut shown = vec![offsets[0]];
        if offsets.len() > 1 {
            shown.push(offsets[offsets.len() - 1]);
        }
        for p in [ParamKind::Explicit, ParamKind::Implicit] {
            let Some(lr) = choose_lr(cells, best, d, p, FIGURE_ETA) else {
                continue;
            };
            let before = ser.len();
            for (j, &o) in shown.iter().enumerate() {
                let Some(key) = cells.iter().map(|c| c.key).find(|k| {
                    k.kind() == d
                        && k.param == p
                        && k.eta == FIGURE_ETA
                        && k.lr == lr
                        && k.offset == o
                }) else {
                    continue;
                };
                let runs: Vec<&RunRecord> = records
                    .iter()
                    .filter(|r| ConfigKey::of(&r.config) == key && r.final_row().is_some())
                    .collect();
                if runs.is_empty() {
                    continue;
                }
                let mut steps: Vec<usize> = runs
                    .iter()
                    .flat_map(|r| r.rows.iter().map(|x| x.timestep))
                    .collect();
                steps.sort_unstable();
                steps.dedup();
                let mut pts = Vec::new();
                for t in steps {
                    let v: Vec<f64> = runs
                        .iter()
                        .filter_map(|r| r.rows.iter().find(|x| x.timestep == t))
                        .map(|x| x.residual_norm)
                        .collect();
                    let s = Stat::of(&v);
                    let mut row = key_fields(&key);
                    row.push(t.to_string());
                    row.extend(stat_fields(&s));
                    table.rows.push(row);
                    pts.push((t as f64, s));
                }
                ser.push(Series {
                    label: format!("{}, c = {}", p.name(), number_label(o)),
                    color: param_color(p),
                    line: true,
                    dashed: j == 1,
                    markers: false,
                    width: 2,
                    spread: Spread::Band,
                    points: stat_points(&pts),
                });
            }
            if ser.len() > before {
                alphas.push(format!("{} {}", lr_label(lr), p.name()));
            }
        }
        if ser.is_empty() {
            skipped.push((
                format!("learning curves, {}", d.name()),
                format!("no finished runs at η = {FIGURE_ETA} with the chosen learning rates"),
            ));
            continue;
        }
        let tmax = ser
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.x))
            .fold(0.0, f64::max);
        let ticks = nice_ticks(0.0, tmax, 5)
            .into_iter()
            .map(|t| (t, number_label(t)))
            .collect();
        panels.push(Panel {
            title: alpha_title(d, &alphas),
            x_label: "update step".into(),
            y_label: "‖r‖₂".into(),
            x_ticks: ticks,
            log_x: false,
            log_y: false,
            series: ser,
            vlines: vec![],
        });
    }
    FigureData::unless_empty(
        "curves_best",
        format!("‖r‖₂ during training, η = {FIGURE_ETA} (mean ± sd)"),
        panels,
        table,
        skipped,
        (
            "learning curves",
            format!("no finished runs at η = {FIGURE_ETA}"),
        ),
    )
}

/// The table of the learning rates chosen for each (domain, parameterization, `η`) present.
pub fn chosen_lrs(cells: &[Cell], best: BestLr) -> Table {
    let mut t = Table::new(&["domain", "param", "eta", "lr", "mode"]);
    let mode = match best {
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
                mode.into(),
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
            if protocol == Protocol::PUBLISHED {
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
    std::fs::create_dir_all(out).map_err(|e| io_err(out, e))?;
    let mut report = PlotReport::default();
    if records.is_empty() {
        report
            .skipped
            .push(("all figures".into(), "the results hold no runs".into()));
        return Ok(report);
    }
    let figs = figures(records, opts.best, &mut report.skipped);
    for f in figs {
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
