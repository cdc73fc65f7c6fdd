//! The figure of `imprl gradients`: error against `K`, one line per mode, log scales, the
//! truncated mode's bound `η^K` dashed (drawn with the one plotting layer, [`crate::figure`]).

use super::{mean_over_steps, GradientRow, FAMILIES};
use crate::figure::{Figure, Panel, Point, Series, BLACK, OKABE_ITO};

/// Two panels over `K` (mean over the compared steps): the relative `∂L/∂w` error in the
/// 1-norm with the bound `η^K` dashed, and `1 − cos` of the full gradient.
pub fn figure(rows: &[GradientRow], ks: &[usize], title: &str) -> Figure {
    let x_ticks: Vec<(f64, String)> = ks.iter().map(|&k| (k as f64, k.to_string())).collect();
    let mut err = Panel {
        title: "relative error of ∂L/∂w (1-norm)".into(),
        x_label: "K".into(),
        y_label: "‖∂w − ∂w_ift‖₁ / ‖∂w_ift‖₁".into(),
        x_ticks: x_ticks.clone(),
        log_x: true,
        log_y: true,
        ..Panel::default()
    };
    let mut cos = Panel {
        title: "1 − cosine of the full gradient (w, F)".into(),
        x_label: "K".into(),
        y_label: "1 − cos".into(),
        x_ticks,
        log_x: true,
        log_y: true,
        ..Panel::default()
    };
    for (i, family) in FAMILIES.iter().enumerate() {
        let color = OKABE_ITO[i];
        let pts = |f: &dyn Fn(&GradientRow) -> f64| -> Vec<Point> {
            ks.iter()
                .map(|&k| Point::at(k as f64, mean_over_steps(rows, family, k, f)))
                .filter(|p| p.y.is_finite() && p.y > 0.0)
                .collect()
        };
        err.series
            .push(Series::line(*family, color, pts(&|r| r.rel_err_dw_l1)));
        cos.series
            .push(Series::line(*family, color, pts(&|r| 1.0 - r.cos_full)));
    }
    let bound: Vec<Point> = ks
        .iter()
        .map(|&k| Point::at(k as f64, mean_over_steps(rows, "truncated", k, |r| r.bound)))
        .filter(|p| p.y.is_finite() && p.y > 0.0)
        .collect();
    let mut b = Series::line("bound η^K (truncated)", BLACK, bound);
    b.dashed = true;
    b.markers = false;
    err.series.push(b);
    let mut fig = Figure::new(title, vec![err, cos]);
    fig.notes = vec![
        "mean over the compared updates".into(),
        "of one ift run; reference: ift".into(),
    ];
    fig
}
