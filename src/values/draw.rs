//! The figures of `imprl values`, each with the CSV of its numbers (same stem):
//!
//! - `values`: the predicted values against the true ones — per state with checkpoints (chain,
//!   a file MDP), the grid as heatmaps (four rooms), `V̂` over position × velocity with the
//!   test states' Monte-Carlo values as points (mountain car, `values_points.csv`), predicted
//!   against target (a data set, or any other domain);
//! - `model` (implicit runs): `σ(F)` beside `P^π` where it is known ([`Truth`]);
//! - `model_spectrum`: the stationary distribution of each and the largest eigenvalues.

use super::{eigenvalues, Learned, Truth};
use crate::domain::{four_rooms, mountain_car, DomainKind};
use crate::figure::{
    Figure, FigureError, Format, Heatmap, HeatmapFigure, Panel, Point, Scale, Series, BLACK,
    OKABE_ITO,
};
use crate::plot::{PlotError, Table};
use std::path::{Path, PathBuf};

/// The files written.
#[derive(Debug, Clone, Default)]
pub struct DrawnFiles {
    /// Every image and table written.
    pub files: Vec<PathBuf>,
    /// One line per figure on what it shows (e.g. which pseudo-action).
    pub notes: Vec<String>,
}

fn num(v: f64) -> String {
    v.to_string()
}

fn save_table(t: &Table, dir: &Path, stem: &str, out: &mut DrawnFiles) -> Result<(), PlotError> {
    let path = dir.join(format!("{stem}.csv"));
    t.write_csv(&path).map_err(|e| PlotError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    out.files.push(path);
    Ok(())
}

fn fig_err(e: FigureError) -> PlotError {
    PlotError::Figure(e)
}

/// The checkpoints drawn: those at 0, 10 and 100 updates and the last one, when recorded.
pub fn drawn_checkpoints(l: &Learned) -> Vec<usize> {
    let last = l.steps.len().saturating_sub(1);
    let mut out: Vec<usize> = [0, 10, 100]
        .iter()
        .filter_map(|&s| l.steps.iter().position(|&x| x == s))
        .filter(|&c| c < last)
        .collect();
    out.push(last);
    out
}

/// Draws the figures of `models` (one or two runs of the same domain and offset) into `dir`
/// (which must exist) in `format`.
pub fn draw(models: &[Learned], dir: &Path, format: Format) -> Result<DrawnFiles, PlotError> {
    let mut out = DrawnFiles::default();
    let Some(first) = models.first() else {
        return Ok(out);
    };
    let truth = Truth::of(&first.cfg);
    let domain = first.cfg.domain;
    let what = format!(
        "{}, offset {}",
        first.cfg.domain.name(),
        number(first.cfg.offset)
    );
    match domain {
        DomainKind::FourRooms if first.k == four_rooms::N_CELLS => {
            four_rooms_values(models, &what, dir, format, &mut out)?;
        }
        DomainKind::MountainCar if first.k >= mountain_car::N_FEATURES => {
            mountain_car_values(models, &what, dir, format, &mut out)?;
        }
        DomainKind::Chain | DomainKind::File(_) => {
            per_state_values(models, &what, dir, format, &mut out)?;
        }
        _ => scatter_values(models, &what, dir, format, &mut out)?,
    }
    if let Some(imp) = models.iter().find(|l| l.logits.is_some()) {
        model_figures(imp, truth.as_ref(), &what, dir, format, &mut out)?;
    }
    Ok(out)
}

fn number(v: f64) -> String {
    crate::figure::number_label(v)
}

fn model_title(l: &Learned) -> String {
    let last = l.steps.last().copied().unwrap_or(0);
    match l.diverged_at {
        Some(d) => format!("{} after {last} updates (diverged at {d})", l.label()),
        None => format!("{} after {last} updates", l.label()),
    }
}

/// Chain and file MDPs: `V̂` per test state at the checkpoints against the exact values.
fn per_state_values(
    models: &[Learned],
    what: &str,
    dir: &Path,
    format: Format,
    out: &mut DrawnFiles,
) -> Result<(), PlotError> {
    let mut t = Table::new(&["state", "v_true", "param", "step", "v_hat"]);
    let mut panels = Vec::new();
    for l in models {
        let n = l.n();
        let mut series = vec![Series {
            dashed: true,
            width: 3,
            ..Series::line(
                "true V",
                BLACK,
                (0..n)
                    .map(|i| Point::at(i as f64, l.targets_test[i]))
                    .collect(),
            )
        }];
        for (j, &c) in drawn_checkpoints(l).iter().enumerate() {
            let v = &l.values_test[c];
            series.push(Series::line(
                format!("learned V after {} updates", l.steps[c]),
                OKABE_ITO[j % OKABE_ITO.len()],
                (0..n).map(|i| Point::at(i as f64, v[i])).collect(),
            ));
            for (i, (y, x)) in l.targets_test.iter().zip(v).enumerate() {
                t.rows.push(vec![
                    i.to_string(),
                    num(*y),
                    l.label().into(),
                    l.steps[c].to_string(),
                    num(*x),
                ]);
            }
        }
        panels.push(Panel {
            title: model_title(l),
            x_label: "test state".into(),
            y_label: "value".into(),
            series,
            ..Default::default()
        });
    }
    let mut fig = Figure::new(
        format!("Learned values V = Φθ against the true ones ({what})"),
        panels,
    );
    fig.notes.push("true V: the test set's exact values".into());
    out.files
        .extend(fig.save_as(dir, "values", format).map_err(fig_err)?);
    save_table(&t, dir, "values", out)?;
    out.notes.push(
        "values: learned V per state at 0, 10, 100 updates (when recorded) and the end".into(),
    );
    Ok(())
}

/// Any domain: predicted against target on the test set (a data set's only picture).
fn scatter_values(
    models: &[Learned],
    what: &str,
    dir: &Path,
    format: Format,
    out: &mut DrawnFiles,
) -> Result<(), PlotError> {
    let mut t = Table::new(&["test_row", "target", "param", "v_hat"]);
    let mut panels = Vec::new();
    for l in models {
        let v = l.values_test.last().cloned().unwrap_or_default();
        let (lo, hi) = l
            .targets_test
            .iter()
            .chain(&v)
            .filter(|x| x.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                (a.min(x), b.max(x))
            });
        for (i, (y, p)) in l.targets_test.iter().zip(&v).enumerate() {
            t.rows
                .push(vec![i.to_string(), num(*y), l.label().into(), num(*p)]);
        }
        panels.push(Panel {
            title: model_title(l),
            x_label: "target".into(),
            y_label: "learned V".into(),
            series: vec![
                Series {
                    dashed: true,
                    markers: false,
                    ..Series::line(
                        "predicted = target",
                        BLACK,
                        vec![Point::at(lo, lo), Point::at(hi, hi)],
                    )
                },
                Series {
                    line: false,
                    width: 0,
                    ..Series::line(
                        "test rows",
                        OKABE_ITO[0],
                        l.targets_test
                            .iter()
                            .zip(&v)
                            .map(|(&y, &p)| Point::at(y, p))
                            .collect(),
                    )
                },
            ],
            ..Default::default()
        });
    }
    let fig = Figure::new(
        format!("Predicted against target on the test set ({what})"),
        panels,
    );
    out.files
        .extend(fig.save_as(dir, "values", format).map_err(fig_err)?);
    save_table(&t, dir, "values", out)?;
    out.notes
        .push("values: learned V against the test targets".into());
    Ok(())
}

/// Four rooms: the grid's `V^π`, each model's `V̂` and its error, walls in grey.
fn four_rooms_values(
    models: &[Learned],
    what: &str,
    dir: &Path,
    format: Format,
    out: &mut DrawnFiles,
) -> Result<(), PlotError> {
    use four_rooms::{is_wall, SIDE};
    let cells = SIDE * SIDE;
    let grid = |v: &[f64]| -> Vec<f64> {
        (0..cells)
            .map(|s| {
                if is_wall(s / SIDE, s % SIDE) {
                    f64::NAN
                } else {
                    v[s]
                }
            })
            .collect()
    };
    let truth = &models[0].targets_test;
    let mut all = grid(truth);
    let finals: Vec<Vec<f64>> = models
        .iter()
        .map(|l| l.values_test.last().cloned().unwrap_or_default())
        .collect();
    for v in &finals {
        all.extend(grid(v));
    }
    let scale = Scale::over(&all);
    let errors: Vec<Vec<f64>> = finals
        .iter()
        .map(|v| grid(&v.iter().zip(truth).map(|(p, y)| p - y).collect::<Vec<_>>()))
        .collect();
    let err_scale = Scale::signed(&errors.concat());
    let map = |title: String, values: Vec<f64>, scale: Scale, unit: &str| Heatmap {
        x_label: "column".into(),
        y_label: "row".into(),
        scale,
        ..Heatmap::grid(&title, SIDE, SIDE, values, unit)
    };
    let mut maps = vec![map(
        "true V".into(),
        grid(truth),
        scale,
        "value (discounted return)",
    )];
    for (l, v) in models.iter().zip(&finals) {
        maps.push(map(
            format!("{} learned V", l.label()),
            grid(v),
            scale,
            "value (discounted return)",
        ));
    }
    for (l, e) in models.iter().zip(&errors) {
        maps.push(map(
            format!("{} learned V − true V", l.label()),
            e.clone(),
            err_scale,
            "error (discounted return)",
        ));
    }
    let mut fig = HeatmapFigure::new(
        format!("Four rooms: the true and the learned values ({what})"),
        maps,
    );
    fig.columns = models.len() + 1;
    fig.notes.push(format!(
        "Dark grey: walls. Goal at row {}, column {}; the terminal state (no feature, learned V = 0) is not drawn. After {} updates.",
        four_rooms::GOAL.0,
        four_rooms::GOAL.1,
        models[0].steps.last().copied().unwrap_or(0)
    ));
    out.files
        .extend(fig.save_as(dir, "values", format).map_err(fig_err)?);
    let mut header = vec!["row", "col", "wall", "v_true"];
    let names: Vec<String> = models
        .iter()
        .map(|l| format!("v_{}", l.cfg.param.name().replace('-', "_")))
        .collect();
    header.extend(names.iter().map(String::as_str));
    let mut t = Table::new(&header);
    for s in 0..cells {
        let mut row = vec![
            (s / SIDE).to_string(),
            (s % SIDE).to_string(),
            is_wall(s / SIDE, s % SIDE).to_string(),
            num(truth[s]),
        ];
        row.extend(finals.iter().map(|v| num(v[s])));
        t.rows.push(row);
    }
    save_table(&t, dir, "values", out)?;
    out.notes
        .push("values: four rooms' grid, true and learned V and their difference".into());
    Ok(())
}

/// The position and velocity of a mountain-car state from its RBF features: the features are
/// an outer product `p_i q_j` of two 1-D softmaxes (SPEC §4), whose log-ratios of neighbouring
/// centres are linear in the coordinate, `log p_{i+1} − log p_i = (2x(a_{i+1} − a_i) −
/// (a_{i+1}² − a_i²))/w²`; solved at the largest marginal and its neighbour.
pub fn mountain_car_state(phi: &[f64]) -> [f64; 2] {
    let grid = mountain_car::rbf();
    let n = (grid.dim() as f64).sqrt().round() as usize;
    let widths = [
        0.1 * (mountain_car::X_RANGE.1 - mountain_car::X_RANGE.0),
        0.1 * 2.0 * mountain_car::V_MAX,
    ];
    let mut out = [0.0; 2];
    for (d, o) in out.iter_mut().enumerate() {
        let marginal: Vec<f64> = (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| {
                        if d == 0 {
                            phi[i * n + j]
                        } else {
                            phi[j * n + i]
                        }
                    })
                    .sum()
            })
            .collect();
        let centre = |i: usize| grid.centre(if d == 0 { i * n } else { i })[d];
        let i = (0..n)
            .max_by(|&a, &b| marginal[a].total_cmp(&marginal[b]))
            .unwrap_or(0);
        let (a, b) = if i + 1 < n { (i, i + 1) } else { (i - 1, i) };
        let (ca, cb) = (centre(a), centre(b));
        let w2 = widths[d] * widths[d];
        *o = (w2 * (marginal[b].ln() - marginal[a].ln()) + cb * cb - ca * ca) / (2.0 * (cb - ca));
    }
    out
}

/// Mountain car: `V̂(x, v) = φ(x, v)ᵀθ̂` on a 60 × 60 grid for each model, the test states'
/// Monte-Carlo values as points.
fn mountain_car_values(
    models: &[Learned],
    what: &str,
    dir: &Path,
    format: Format,
    out: &mut DrawnFiles,
) -> Result<(), PlotError> {
    const N: usize = 60;
    let (x0, x1) = mountain_car::X_RANGE;
    let (v0, v1) = (-mountain_car::V_MAX, mountain_car::V_MAX);
    let at = |i: usize, lo: f64, hi: f64| lo + (hi - lo) * (i as f64 + 0.5) / N as f64;
    let k0 = mountain_car::N_FEATURES;
    let grids: Vec<Vec<f64>> = models
        .iter()
        .map(|l| {
            let theta = l.theta.last().cloned().unwrap_or_default();
            let mut phi = vec![0.0; k0];
            let mut g = Vec::with_capacity(N * N);
            for row in 0..N {
                for col in 0..N {
                    mountain_car::rbf().features_into([at(col, x0, x1), at(row, v0, v1)], &mut phi);
                    let mut v = crate::data::dot(&phi, &theta[..k0]);
                    if theta.len() > k0 {
                        v += theta[k0]; // the bias feature
                    }
                    g.push(v);
                }
            }
            g
        })
        .collect();
    let l0 = &models[0];
    let states: Vec<[f64; 2]> = (0..l0.n())
        .map(|i| mountain_car_state(&l0.features_test[i * l0.k..i * l0.k + k0]))
        .collect();
    let points: Vec<(f64, f64, f64)> = states
        .iter()
        .zip(&l0.targets_test)
        .map(|(s, &y)| (s[0], s[1], y))
        .collect();
    let mut all = grids.concat();
    all.extend(&l0.targets_test);
    let scale = Scale::over(&all);
    let maps = models
        .iter()
        .zip(&grids)
        .map(|(l, g)| Heatmap {
            title: format!("{} learned V (points: test returns)", l.label()),
            x_label: "position".into(),
            y_label: "velocity".into(),
            rows: N,
            cols: N,
            x: (x0, x1),
            y: (v0, v1),
            top_down: false,
            values: g.clone(),
            scale,
            unit: "value (discounted return)".into(),
            points: points.clone(),
        })
        .collect();
    let mut fig = HeatmapFigure::new(
        format!("Mountain car: the learned V over position × velocity ({what})"),
        maps,
    );
    fig.notes.push(format!(
        "Points: the {} test states, coloured by their Monte-Carlo return on the same scale.",
        l0.n()
    ));
    out.files
        .extend(fig.save_as(dir, "values", format).map_err(fig_err)?);
    let mut t = Table::new(&["position", "velocity", "param", "v_hat"]);
    for (l, g) in models.iter().zip(&grids) {
        for row in 0..N {
            for col in 0..N {
                t.rows.push(vec![
                    num(at(col, x0, x1)),
                    num(at(row, v0, v1)),
                    l.label().into(),
                    num(g[row * N + col]),
                ]);
            }
        }
    }
    save_table(&t, dir, "values", out)?;
    let mut header = vec!["position", "velocity", "mc_return"];
    let names: Vec<String> = models
        .iter()
        .map(|l| format!("v_{}", l.cfg.param.name().replace('-', "_")))
        .collect();
    header.extend(names.iter().map(String::as_str));
    let mut p = Table::new(&header);
    for (i, s) in states.iter().enumerate() {
        let mut row = vec![num(s[0]), num(s[1]), num(l0.targets_test[i])];
        row.extend(
            models
                .iter()
                .map(|l| num(l.values_test.last().map_or(f64::NAN, |v| v[i]))),
        );
        p.rows.push(row);
    }
    save_table(&p, dir, "values_points", out)?;
    out.notes.push(
        "values: mountain car's learned V on a 60 x 60 grid, test states' returns as points".into(),
    );
    Ok(())
}

/// `σ(F)` beside `P^π`, and their stationary distributions and eigenvalues.
fn model_figures(
    l: &Learned,
    truth: Option<&Truth>,
    what: &str,
    dir: &Path,
    format: Format,
    out: &mut DrawnFiles,
) -> Result<(), PlotError> {
    let k = l.k;
    let last = l.steps.len() - 1;
    let Some(s) = l.model(last, 0) else {
        return Ok(());
    };
    let which = if l.m > 1 {
        format!(" of pseudo-action 1 (of {})", l.m)
    } else {
        String::new()
    };
    let truth = truth.filter(|t| t.k == k);
    let unit = "transition probability";
    let mut maps = vec![Heatmap {
        x_label: "next feature j".into(),
        y_label: "feature i".into(),
        scale: Scale::Sequential { lo: 0.0, hi: 1.0 },
        ..Heatmap::grid(&format!("learned σ(F){which}"), k, k, s.clone(), unit)
    }];
    if let Some(t) = truth {
        maps.push(Heatmap {
            x_label: "next state j".into(),
            y_label: "state i".into(),
            scale: Scale::Sequential { lo: 0.0, hi: 1.0 },
            ..Heatmap::grid("true P of the data policy π", k, k, t.p.clone(), unit)
        });
    }
    let mut fig = HeatmapFigure::new(
        format!(
            "The learned model against the true one ({what}, {})",
            model_title(l)
        ),
        maps,
    );
    match truth {
        Some(t) => {
            fig.notes.push(format!(
                "Mean total-variation distance of the rows: {}.",
                number(super::mean_row_tv(&s, &t.p, k))
            ));
            if let Some(n) = &t.note {
                fig.notes.push(format!("P: {n}."));
            }
        }
        None => fig
            .notes
            .push("The true P is not known in feature coordinates for this domain.".into()),
    }
    out.files
        .extend(fig.save_as(dir, "model", format).map_err(fig_err)?);
    let mut t = Table::new(&["i", "j", "sigma_f", "p_true"]);
    for i in 0..k {
        for j in 0..k {
            t.rows.push(vec![
                i.to_string(),
                j.to_string(),
                num(s[i * k + j]),
                truth.map_or(String::new(), |t| num(t.p[i * k + j])),
            ]);
        }
    }
    save_table(&t, dir, "model", out)?;

    // Stationary distributions and eigenvalues.
    let mu = crate::theory::stationary_distribution(&s, k);
    let ev = eigenvalues(&s, k);
    const TOP: usize = 12;
    let mut spec = Table::new(&["quantity", "matrix", "index", "value", "imag"]);
    let (sigma_dist, sigma_eig) =
        spectrum_series("σ(F)", "sigma_f", OKABE_ITO[1], &mu, &ev, TOP, &mut spec);
    let mut dist = vec![sigma_dist];
    let mut eig = vec![Series {
        line: false,
        width: 2,
        ..sigma_eig
    }];
    if let Some(t) = truth {
        let ev_p = eigenvalues(&t.p, k);
        // A substochastic P (a file MDP leaking to featureless terminal states) has none.
        let mu_p = if t.is_stochastic() {
            crate::theory::stationary_distribution(&t.p, k)
        } else {
            Vec::new()
        };
        let (p_dist, p_eig) =
            spectrum_series("true P", "p_true", BLACK, &mu_p, &ev_p, TOP, &mut spec);
        dist.push(Series {
            dashed: true,
            ..p_dist
        });
        eig.push(Series {
            line: false,
            width: 1,
            ..p_eig
        });
    }
    let mut fig = Figure::new(
        format!("Stationary distribution and spectrum of σ(F){which} ({what})"),
        vec![
            Panel {
                title: "stationary distribution".into(),
                x_label: "feature / state".into(),
                y_label: "probability".into(),
                series: dist,
                ..Default::default()
            },
            Panel {
                title: format!("the {TOP} largest eigenvalues"),
                x_label: "real part".into(),
                y_label: "imaginary part".into(),
                series: eig,
                ..Default::default()
            },
        ],
    );
    fig.notes.push(format!("{}.", model_title(l)));
    if let Some(&(re, im)) = ev.get(1) {
        fig.notes
            .push(format!("σ(F): |λ₂| = {}", number(re.hypot(im))));
    }
    out.files.extend(
        fig.save_as(dir, "model_spectrum", format)
            .map_err(fig_err)?,
    );
    save_table(&spec, dir, "model_spectrum", out)?;
    out.notes.push(format!(
        "model: σ(F){which} after training{}",
        if truth.is_some() {
            " beside the true P"
        } else {
            " (the true P not known in feature coordinates)"
        }
    ));
    Ok(())
}

/// A matrix's stationary distribution `mu` and its `top` largest eigenvalues `ev` as the two
/// panels' series (`label`, `color`), their values appended to `spec` as rows tagged `tag`.
fn spectrum_series(
    label: &str,
    tag: &str,
    color: plotters::style::RGBColor,
    mu: &[f64],
    ev: &[(f64, f64)],
    top: usize,
    spec: &mut Table,
) -> (Series, Series) {
    for (i, x) in mu.iter().enumerate() {
        spec.rows.push(vec![
            "stationary".into(),
            tag.into(),
            i.to_string(),
            num(*x),
            String::new(),
        ]);
    }
    for (i, (re, im)) in ev.iter().take(top).enumerate() {
        spec.rows.push(vec![
            "eigenvalue".into(),
            tag.into(),
            i.to_string(),
            num(*re),
            num(*im),
        ]);
    }
    let dist = mu
        .iter()
        .enumerate()
        .map(|(i, &x)| Point::at(i as f64, x))
        .collect();
    let eig = ev
        .iter()
        .take(top)
        .map(|&(re, im)| Point::at(re, im))
        .collect();
    (
        Series::line(label, color, dist),
        Series::line(label, color, eig),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountain_car_states_are_recovered_from_their_features() {
        for s in [[-0.5, 0.0], [-1.19, -0.069], [0.55, 0.06], [-0.3, 0.012]] {
            let phi = mountain_car::rbf().features(s);
            let got = mountain_car_state(&phi);
            assert!((got[0] - s[0]).abs() < 1e-9, "{got:?} {s:?}");
            assert!((got[1] - s[1]).abs() < 1e-9, "{got:?} {s:?}");
        }
    }
}
