//! The comparison's figure: our final mean `‖r‖` against the published one.

use super::{CompareError, Comparison};
use crate::figure::{param_color, Figure, Format, Panel, Point, Series, BLACK};
use crate::param::ParamKind;
use std::path::{Path, PathBuf};

/// The figure of [`plot`]: one point per configuration where neither side diverged (log–log,
/// colour per parameterization, the diagonal `ours = published` drawn).
pub fn figure(c: &Comparison) -> Figure {
    let pts: Vec<(ParamKind, f64, f64)> = c
        .rows
        .iter()
        .filter(|r| !r.either_diverged())
        .map(|r| {
            (
                r.key.param,
                r.final_norm.theirs.mean,
                r.final_norm.ours.mean,
            )
        })
        .filter(|p| p.1 > 0.0 && p.2 > 0.0 && p.1.is_finite() && p.2.is_finite())
        .collect();
    let (lo, hi) = pts
        .iter()
        .flat_map(|p| [p.1, p.2])
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    let (lo, hi) = if lo.is_finite() {
        (lo / 1.5, hi * 1.5)
    } else {
        (0.1, 10.0)
    };
    let mut series = vec![Series {
        markers: false,
        width: 1,
        ..Series::line(
            "ours = published",
            BLACK,
            vec![Point::at(lo, lo), Point::at(hi, hi)],
        )
    }];
    for param in ParamKind::ALL {
        let mine: Vec<Point> = pts
            .iter()
            .filter(|p| p.0 == param)
            .map(|p| Point::at(p.1, p.2))
            .collect();
        if !mine.is_empty() {
            series.push(Series {
                line: false,
                ..Series::line(param.name(), param_color(param), mine)
            });
        }
    }
    let mut fig = Figure::new(
        "final ‖r‖, mean over seeds: ours vs published",
        vec![Panel {
            title: String::new(),
            x_label: "published".into(),
            y_label: "ours".into(),
            log_x: true,
            log_y: true,
            series,
            ..Default::default()
        }],
    );
    fig.panel_size = (640, 600);
    fig.legend_width = 200;
    fig
}

/// Draws our final mean `‖r‖` against the published one ([`figure`]) as SVG and PNG: to
/// `path` with its extension set to `svg` and to `png`. Returns the files written.
pub fn plot(c: &Comparison, path: &Path) -> Result<Vec<PathBuf>, CompareError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "comparison".into());
    Ok(figure(c).save_as(dir, &stem, Format::Both)?)
}
