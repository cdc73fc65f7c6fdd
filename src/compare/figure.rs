//! The comparison's figure: our final mean `‖r‖` against the published one.

use super::{CompareError, Comparison};
use crate::domain::DomainKind;
use crate::param::ParamKind;
use std::path::Path;

/// Draws our final mean `‖r‖` against the published one, one point per configuration where
/// neither side diverged (log–log, colour per parameterization, the diagonal drawn). The format
/// follows the extension: `.svg` or a bitmap (`.png`).
pub fn plot(c: &Comparison, path: &Path) -> Result<(), CompareError> {
    use plotters::prelude::*;
    let err = |e: String| CompareError::Plot {
        path: path.to_path_buf(),
        message: e,
    };
    let pts: Vec<(ParamKind, DomainKind, f64, f64)> = c
        .rows
        .iter()
        .filter(|r| !r.either_diverged())
        .map(|r| {
            (
                r.key.param,
                r.key.kind(),
                r.final_norm.theirs.mean,
                r.final_norm.ours.mean,
            )
        })
        .filter(|p| p.2 > 0.0 && p.3 > 0.0 && p.2.is_finite() && p.3.is_finite())
        .collect();
    let (lo, hi) = pts
        .iter()
        .flat_map(|p| [p.2, p.3])
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    let (lo, hi) = if lo.is_finite() {
        (lo / 1.5, hi * 1.5)
    } else {
        (0.1, 10.0)
    };
    fn draw<DB: DrawingBackend>(
        root: DrawingArea<DB, plotters::coord::Shift>,
        pts: &[(ParamKind, DomainKind, f64, f64)],
        lo: f64,
        hi: f64,
    ) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "final ‖r‖, mean over seeds: ours vs published",
                ("sans-serif", 20),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d((lo..hi).log_scale(), (lo..hi).log_scale())
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("published")
            .y_desc("ours")
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new([(lo, lo), (hi, hi)], BLACK.mix(0.5)))
            .map_err(|e| e.to_string())?;
        let colours = [
            (ParamKind::Explicit, BLUE),
            (ParamKind::Implicit, RED),
            (ParamKind::ExplicitMatrix, GREEN),
        ];
        for (param, colour) in colours {
            let mine: Vec<_> = pts.iter().filter(|p| p.0 == param).collect();
            if mine.is_empty() {
                continue;
            }
            chart
                .draw_series(
                    mine.iter()
                        .map(|p| Circle::new((p.2, p.3), 3, colour.mix(0.6).filled())),
                )
                .map_err(|e| e.to_string())?
                .label(param.name())
                .legend(move |(x, y)| Circle::new((x, y), 4, colour.filled()));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
        Ok(())
    }
    let svg = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"));
    if svg {
        draw(
            SVGBackend::new(path, (800, 800)).into_drawing_area(),
            &pts,
            lo,
            hi,
        )
        .map_err(err)
    } else {
        draw(
            BitMapBackend::new(path, (800, 800)).into_drawing_area(),
            &pts,
            lo,
            hi,
        )
        .map_err(err)
    }
}
