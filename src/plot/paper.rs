//! The paper's figures 1–3 (SPEC §6) from per-configuration cells.

use super::*;

/// Figure 1: initial `‖r∥‖₂` and `‖r⊥‖₂` against the offset at η = 0.95, per domain. The
/// initial residual does not depend on the learning rate or the parameterization (all start
/// from the same `θ̂`), so each panel uses the implicit runs at the chosen learning rate when
/// present, else the (param, lr) with the most runs.
pub fn figure1(
    cells: &[Cell],
    best: BestLr,
    skipped: &mut Vec<(String, String)>,
) -> Option<FigureData> {
    let mut table = Table::new(&key_header(&[
        "n",
        "ones_mean",
        "ones_sd",
        "ortho_mean",
        "ortho_sd",
    ]));
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
    let mut notes = Vec::new();
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
        notes.extend(offset_overlap_note(d, &chosen));
        // The domain's γ is drawn where it lies within the η drawn; otherwise the legend says
        // where it is (mountain car's γ = 0.99 is beyond the grid's largest η, 0.975), so that
        // the shared legend's "γ = …" line is not read as every panel's γ.
        let gamma = Some(d.gamma()).filter(|g| g.is_finite() && *g > 0.0);
        let (lo, hi) = (used[0], used[used.len() - 1]);
        let vlines = match gamma {
            Some(g) if (lo..=hi).contains(&g) => vec![(logit(g), format!("γ = {g}"))],
            Some(g) => {
                notes.push(format!("{}: γ = {g} (off axis)", domain_title(d)));
                Vec::new()
            }
            None => Vec::new(),
        };
        panels.push(Panel {
            title: domain_title(d).to_string(),
            x_label: "internal discount η (logit scale)".into(),
            y_label: "final ‖r‖₂ (implicit)".into(),
            x_ticks: used.iter().map(|&e| (logit(e), number_label(e))).collect(),
            log_x: false,
            log_y: false,
            series: ser,
            vlines,
        });
    }
    let mut fig = FigureData::unless_empty(
        "fig3_final_vs_eta",
        "Final ‖r‖₂ of the implicit parameterization against η".into(),
        panels,
        table,
        skipped,
        ("figure 3", "no finished implicit runs".into()),
    )?;
    fig.figure.notes = notes;
    Some(fig)
}

/// The legend note of figure 3 on domain `d`'s offset lines, which often coincide: the η at
/// which the means of all offsets lie within 3% of the panel's range of means (drawn as one
/// line), or that they overlap into one at every η; none when they never do.
fn offset_overlap_note(d: DomainKind, chosen: &[&Cell]) -> Vec<String> {
    let means: Vec<(f64, f64)> = chosen
        .iter()
        .filter(|c| c.final_norm.n > 0 && c.final_norm.mean.is_finite())
        .map(|c| (c.key.eta, c.final_norm.mean))
        .collect();
    let mut offsets: Vec<f64> = chosen.iter().map(|c| c.key.offset).collect();
    offsets.sort_by(f64::total_cmp);
    offsets.dedup();
    if offsets.len() < 2 || means.is_empty() {
        return Vec::new();
    }
    let span = |v: &mut dyn Iterator<Item = f64>| {
        let (lo, hi) = v.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(x), b.max(x))
        });
        hi - lo
    };
    let range = span(&mut means.iter().map(|m| m.1));
    let mut etas: Vec<f64> = means.iter().map(|m| m.0).collect();
    etas.sort_by(f64::total_cmp);
    etas.dedup();
    let gaps: Vec<(f64, f64)> = etas
        .iter()
        .map(|&e| (e, span(&mut means.iter().filter(|m| m.0 == e).map(|m| m.1))))
        .collect();
    let close: Vec<&(f64, f64)> = gaps.iter().filter(|g| g.1 <= 0.03 * range).collect();
    let head = format!("{}: the {} offset lines", domain_title(d), offsets.len());
    if close.is_empty() {
        Vec::new()
    } else if close.len() == gaps.len() {
        let gap = gaps.iter().map(|g| g.1).fold(0.0, f64::max);
        vec![
            head,
            format!("overlap into one (≤ {} apart)", number_label(gap)),
        ]
    } else {
        let at: Vec<String> = close.iter().map(|g| number_label(g.0)).collect();
        vec![head, format!("overlap at η = {}", at.join(", "))]
    }
}
