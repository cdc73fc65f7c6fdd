//! Rendering a [`Figure`] with `plotters`: panels side by side, the legend column at the right.

use super::axis::{log_ticks, nice_ticks, padded, tick_labels, title_size, to_axis, TickAxis};
use super::{Figure, Panel, Series, Spread};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// The font family of all text (the embedded font is registered under this name).
pub(super) const FONT: &str = "sans-serif";

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Renders `fig` as SVG to `path`.
pub(super) fn svg(fig: &Figure, path: &Path) -> Result<(), String> {
    let root = SVGBackend::new(path, fig.size()).into_drawing_area();
    draw(&root, fig)?;
    root.present().map_err(err)
}

/// Renders `fig` as PNG to `path`.
pub(super) fn png(fig: &Figure, path: &Path) -> Result<(), String> {
    let root = BitMapBackend::new(path, fig.size()).into_drawing_area();
    draw(&root, fig)?;
    root.present().map_err(err)
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, fig: &Figure) -> Result<(), String> {
    root.fill(&WHITE).map_err(err)?;
    let body = root
        .titled(&fig.title, (FONT, title_size(&fig.title, fig.size().0)))
        .map_err(err)?;
    let n = fig.panels.len().max(1);
    let (charts, side) = body.split_horizontally(fig.panel_size.0 * n as u32);
    let areas = charts.split_evenly((1, n));
    let mut entries: Vec<LegendEntry> = Vec::new();
    for (area, panel) in areas.iter().zip(&fig.panels) {
        for e in draw_panel(area, panel)? {
            match entries.iter_mut().find(|x| x.label == e.label) {
                // One legend line per label, at the thinnest width it is drawn with.
                Some(x) => x.style.stroke_width = x.style.stroke_width.min(e.style.stroke_width),
                None => entries.push(e),
            }
        }
    }
    draw_legend(&side, &entries, &fig.notes)
}

/// One legend line.
struct LegendEntry {
    label: String,
    style: ShapeStyle,
    line: bool,
    dashed: bool,
    markers: bool,
}

fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[LegendEntry],
    notes: &[String],
) -> Result<(), String> {
    let (x, mut y) = (6, 64);
    for e in entries {
        if e.line {
            let (a, b) = if e.dashed { (10, 18) } else { (14, 14) };
            area.draw(&PathElement::new(vec![(x, y), (x + a, y)], e.style))
                .map_err(err)?;
            area.draw(&PathElement::new(vec![(x + b, y), (x + 28, y)], e.style))
                .map_err(err)?;
        }
        if e.markers {
            area.draw(&Circle::new((x + 14, y), 4, e.style.color.filled()))
                .map_err(err)?;
        }
        area.draw(&Text::new(
            e.label.clone(),
            (x + 36, y),
            TextStyle::from((FONT, 15).into_font()).pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(err)?;
        y += 24;
    }
    y += 12;
    for note in notes {
        area.draw(&Text::new(
            note.clone(),
            (x, y),
            TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(err)?;
        y += 19;
    }
    Ok(())
}

/// A point in axis units: `(x, y, y − spread, y + spread)`, the band's ends on a log axis kept
/// positive (the lower one at least `y/1000`).
type Mapped = (f64, f64, f64, f64);

fn mapped(p: &Panel, s: &Series) -> Vec<Mapped> {
    s.points
        .iter()
        .filter_map(|pt| {
            let (x, y) = (to_axis(p.log_x, pt.x), to_axis(p.log_y, pt.y));
            if !(x.is_finite() && y.is_finite()) {
                return None;
            }
            let sd = if pt.spread.is_finite() {
                pt.spread
            } else {
                0.0
            };
            let lo = if p.log_y {
                (pt.y - sd).max(pt.y * 1e-3)
            } else {
                pt.y - sd
            };
            Some((x, y, to_axis(p.log_y, lo), to_axis(p.log_y, pt.y + sd)))
        })
        .collect()
}

/// The axis range and ticks of one axis: given ticks (data units, with labels) or automatic
/// ones over `values` (axis units).
fn axis(
    values: &[f64],
    given: &[(f64, String)],
    log: bool,
    pad: f64,
) -> (f64, f64, Vec<f64>, Vec<(f64, String)>) {
    let given: Vec<(f64, String)> = given
        .iter()
        .map(|(v, l)| (to_axis(log, *v), l.clone()))
        .filter(|t| t.0.is_finite())
        .collect();
    let all: Vec<f64> = values
        .iter()
        .copied()
        .chain(given.iter().map(|t| t.0))
        .filter(|v| v.is_finite())
        .collect();
    let fmin = all.iter().copied().fold(f64::INFINITY, f64::min);
    let fmax = all.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = padded(fmin, fmax, pad);
    if !given.is_empty() {
        let keys = given
            .iter()
            .map(|t| t.0)
            .filter(|t| (lo..=hi).contains(t))
            .collect();
        return (lo, hi, keys, given);
    }
    let keys = if log {
        log_ticks(lo, hi)
    } else {
        nice_ticks(lo, hi, 6)
    };
    (lo, hi, keys.clone(), labelled(&keys, log))
}

/// The ticks `keys` (in axis units: `log10` on a log axis) with their labels, distinct for
/// distinct ticks ([`tick_labels`]).
fn labelled(keys: &[f64], log: bool) -> Vec<(f64, String)> {
    let values: Vec<f64> = keys
        .iter()
        .map(|&k| if log { 10f64.powf(k) } else { k })
        .collect();
    keys.iter().copied().zip(tick_labels(&values)).collect()
}

/// The label of the tick nearest `v`.
fn nearest(labels: &[(f64, String)], v: f64) -> String {
    labels
        .iter()
        .min_by(|a, b| (a.0 - v).abs().total_cmp(&(b.0 - v).abs()))
        .map(|t| t.1.clone())
        .unwrap_or_default()
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &Panel,
) -> Result<Vec<LegendEntry>, String> {
    let mut legend = Vec::new();
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for s in &p.series {
        for (x, y, lo, hi) in mapped(p, s) {
            xs.push(x);
            ys.push(y);
            if s.spread != Spread::None {
                ys.push(hi);
                if !p.log_y || lo.is_finite() {
                    ys.push(lo);
                }
            }
        }
    }
    let (x0, x1, x_keys, x_labels) = axis(&xs, &p.x_ticks, p.log_x, 0.07);
    let (mut y0, y1, _, _) = axis(&ys, &[], p.log_y, 0.06);
    let data_min = ys.iter().copied().fold(f64::INFINITY, f64::min);
    if !p.log_y && y0 < 0.0 && data_min >= 0.0 {
        y0 = 0.0;
    }
    let y_keys = if p.log_y {
        log_ticks(y0, y1)
    } else {
        nice_ticks(y0, y1, 6)
    };
    let y_labels = labelled(&y_keys, p.log_y);
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, (FONT, 20))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(68)
        .build_cartesian_2d(
            TickAxis {
                lo: x0,
                hi: x1,
                ticks: x_keys,
            },
            TickAxis {
                lo: y0,
                hi: y1,
                ticks: y_keys,
            },
        )
        .map_err(err)?;
    let x_fmt = move |x: &f64| nearest(&x_labels, *x);
    let y_fmt = move |y: &f64| nearest(&y_labels, *y);
    chart
        .configure_mesh()
        .x_desc(p.x_label.as_str())
        .y_desc(p.y_label.as_str())
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 17))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .draw()
        .map_err(err)?;
    // Bands first, under every line.
    for s in p.series.iter().filter(|s| s.spread == Spread::Band) {
        let v = mapped(p, s);
        if v.len() < 2 {
            continue;
        }
        let mut poly: Vec<(f64, f64)> = v.iter().map(|&(x, _, _, hi)| (x, hi)).collect();
        poly.extend(v.iter().rev().map(|&(x, _, lo, _)| (x, lo)));
        chart
            .draw_series(std::iter::once(Polygon::new(poly, s.color.mix(0.18))))
            .map_err(err)?;
    }
    for s in &p.series {
        let m = mapped(p, s);
        let v: Vec<(f64, f64)> = m.iter().map(|&(x, y, _, _)| (x, y)).collect();
        let style = ShapeStyle {
            color: s.color.to_rgba(),
            filled: false,
            stroke_width: s.width,
        };
        if s.line && s.dashed {
            chart
                .draw_series(DashedLineSeries::new(v.clone(), 9, 5, style))
                .map_err(err)?;
        } else if s.line {
            chart
                .draw_series(LineSeries::new(v.clone(), style))
                .map_err(err)?;
        }
        if s.spread == Spread::Bars {
            chart
                .draw_series(
                    m.iter()
                        .filter(|t| t.2.is_finite())
                        .map(|&(x, y, lo, hi)| ErrorBar::new_vertical(x, lo, y, hi, style, 6)),
                )
                .map_err(err)?;
        }
        legend.push(LegendEntry {
            label: s.label.clone(),
            style,
            line: s.line,
            dashed: s.dashed,
            markers: s.markers,
        });
        if s.markers {
            let fill = s.color.filled();
            chart
                .draw_series(v.iter().map(|&c| Circle::new(c, 3 + s.width / 2, fill)))
                .map_err(err)?;
        }
    }
    for (x, label) in &p.vlines {
        let x = to_axis(p.log_x, *x);
        if !(x0..=x1).contains(&x) {
            continue;
        }
        let style = ShapeStyle {
            color: BLACK.to_rgba(),
            filled: false,
            stroke_width: 2,
        };
        chart
            .draw_series(DashedLineSeries::new(vec![(x, y0), (x, y1)], 7, 6, style))
            .map_err(err)?;
        legend.push(LegendEntry {
            label: label.clone(),
            style,
            line: true,
            dashed: true,
            markers: false,
        });
    }
    Ok(legend)
}
