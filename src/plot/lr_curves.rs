//! The per-learning-rate panels and the learning curves (SPEC §6) from per-configuration cells
//! and run records.

use super::*;
use crate::stats::per_timestep;

/// Per domain and parameterization: final `‖r‖₂` against the offset for every learning rate
/// (log y axis), one panel per `η`, one colour per learning rate in every panel, the chosen
/// learning rate drawn thicker. Means beyond 1000 times the panel's median are not drawn (they
/// would set the log axis) and are listed under the legend, as are learning rates with
/// diverged runs; the CSV holds every cell.
pub fn lr_figures(cells: &[Cell], best: BestLr) -> Vec<FigureData> {
    let mut out = Vec::new();
    // The paper's domains in their order, then problems of one's own.
    let mut domains: Vec<DomainKind> = cells.iter().map(|c| c.key.kind()).collect();
    domains.sort();
    domains.dedup();
    for d in domains {
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
            let mut off_scale = Vec::new();
            let mut diverged = Vec::new();
            for &eta in &etas {
                let chosen = choose_lr(cells, best, d, p, eta);
                let at_eta: Vec<&&Cell> = mine.iter().filter(|c| c.key.eta == eta).collect();
                let limit = off_scale_limit(&at_eta);
                let mut ser = Vec::new();
                for (i, &lr) in lrs.iter().enumerate() {
                    let sel: Vec<&&&Cell> = at_eta.iter().filter(|c| c.key.lr == lr).collect();
                    if sel.is_empty() {
                        continue;
                    }
                    let is_best = chosen == Some(lr);
                    for c in &sel {
                        let mut r = final_row(c);
                        r.push(is_best.to_string());
                        table.rows.push(r);
                    }
                    let huge: Vec<f64> = sel
                        .iter()
                        .map(|c| c.final_norm.mean)
                        .filter(|m| *m > limit)
                        .collect();
                    if !huge.is_empty() {
                        off_scale.push(format!(
                            "η = {eta}, α = {}: {} (up to {})",
                            lr_label(lr),
                            plural(huge.len(), "offset"),
                            number_label(huge.iter().copied().fold(0.0, f64::max))
                        ));
                    }
                    let (runs, div) = sel
                        .iter()
                        .fold((0, 0), |(r, v), c| (r + c.runs, v + c.diverged));
                    if div > 0 {
                        diverged.push(format!(
                            "η = {eta}, α = {}: {div} of {runs} runs",
                            lr_label(lr)
                        ));
                    }
                    ser.push(Series {
                        label: format!("α = {}", lr_label(lr)),
                        color: OKABE_ITO[i % OKABE_ITO.len()],
                        dashed: false,
                        markers: true,
                        width: if is_best { 4 } else { 1 },
                        line: true,
                        spread: Spread::None,
                        points: stat_points(
                            &sel.iter()
                                .filter(|c| c.final_norm.mean <= limit)
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
            let mut notes = vec!["thick line: the chosen α".to_string()];
            for (title, lines) in [
                ("off scale, not drawn:", off_scale),
                ("diverged (left out):", diverged),
            ] {
                if !lines.is_empty() {
                    notes.push(title.to_string());
                    notes.extend(lines.iter().take(NOTE_LINES).cloned());
                    if lines.len() > NOTE_LINES {
                        notes.push(format!("… {} more (see the CSV)", lines.len() - NOTE_LINES));
                    }
                }
            }
            out.push(FigureData {
                // An own domain's name is a path: its file name is its published directory's.
                name: if d.is_builtin() {
                    format!("lr_{}_{}", d.name(), p.name())
                } else {
                    format!("lr_{}_{}", d.published_name(), p.name())
                },
                figure: Figure {
                    notes,
                    legend_width: 320,
                    ..Figure::new(
                        format!(
                            "{}, {}: final ‖r‖₂ for every learning rate α",
                            domain_title(d),
                            p.name()
                        ),
                        panels,
                    )
                },
                table,
            });
        }
    }
    out
}

/// Lines of notes listed per kind under the legend of a learning-rate figure.
const NOTE_LINES: usize = 3;

/// `n` and a noun, plural when `n ≠ 1`.
fn plural(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// The largest mean final `‖r‖₂` a learning-rate panel draws: 1000 times the median of its
/// cells' finite means, so that runs that blew up (to 1e135, say) do not set its log axis.
fn off_scale_limit(cells: &[&&Cell]) -> f64 {
    let mut means: Vec<f64> = cells
        .iter()
        .map(|c| c.final_norm.mean)
        .filter(|m| m.is_finite() && *m > 0.0)
        .collect();
    if means.is_empty() {
        return f64::INFINITY;
    }
    means.sort_by(f64::total_cmp);
    1e3 * means[means.len() / 2]
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
    let mut table = Table::new(&key_header(&["timestep", "n", "mean", "sd"]));
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
                let mut pts = Vec::new();
                for (t, s) in per_timestep(&runs, |x| Some(x.residual_norm)) {
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
