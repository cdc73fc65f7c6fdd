//! Drawing: figures of side-by-side line panels with shaded bands, rendered with `plotters` to
//! SVG and PNG.

use super::aggregate::Stat;
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// Width of one panel in pixels.
pub const PANEL_WIDTH: u32 = 520;
/// Width of the legend column at the right of a figure, in pixels.
pub const LEGEND_WIDTH: u32 = 230;
/// Height of a figure in pixels.
pub const FIGURE_HEIGHT: u32 = 440;

const FONT: &str = "sans-serif";

/// The Okabe–Ito palette (colour-blind safe), without black.
pub const OKABE_ITO: [RGBColor; 7] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(230, 159, 0),   // orange
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(86, 180, 233),  // sky blue
    RGBColor(240, 228, 66),  // yellow
];

/// One line of a panel.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend entry.
    pub label: String,
    /// Colour.
    pub color: RGBColor,
    /// Dashed instead of solid.
    pub dashed: bool,
    /// Draw a marker at each point.
    pub markers: bool,
    /// Line width in pixels.
    pub width: u32,
    /// Shade mean ± one standard deviation.
    pub band: bool,
    /// Points `(x, statistic)`; entries with an empty sample are skipped.
    pub points: Vec<(f64, Stat)>,
}

/// One panel: axes, series, optional vertical reference lines.
#[derive(Debug, Clone)]
pub struct Panel {
    /// Caption above the panel.
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// Ticks of the x axis: position and label.
    pub x_ticks: Vec<(f64, String)>,
    /// Plot `log10` of the values (tick labels show the values).
    pub log_y: bool,
    /// The lines.
    pub series: Vec<Series>,
    /// Dashed vertical lines at `x`, with a legend entry.
    pub vlines: Vec<(f64, String)>,
}

/// A figure: panels side by side under a title.
#[derive(Debug, Clone)]
pub struct Figure {
    /// Title.
    pub title: String,
    /// The panels, left to right.
    pub panels: Vec<Panel>,
}

impl Figure {
    /// The size in pixels of this figure (SVG and PNG alike).
    pub fn size(&self) -> (u32, u32) {
        (
            PANEL_WIDTH * self.panels.len().max(1) as u32 + LEGEND_WIDTH,
            FIGURE_HEIGHT,
        )
    }
}

/// A linear `f64` axis whose ticks are exactly the given positions.
struct TickAxis {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl Ranged for TickAxis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let t = (v - self.lo) / (self.hi - self.lo);
        limit.0 + (t * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        self.ticks.clone()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

impl ValueFormatter<f64> for TickAxis {
    fn format(v: &f64) -> String {
        number_label(*v)
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Renders `fig` as SVG to `path`.
pub fn render_svg(fig: &Figure, path: &Path) -> Result<(), String> {
    let root = SVGBackend::new(path, fig.size()).into_drawing_area();
    draw(&root, fig)?;
    root.present().map_err(err)
}

/// Renders `fig` as PNG to `path`.
pub fn render_png(fig: &Figure, path: &Path) -> Result<(), String> {
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
    let (charts, side) = body.split_horizontally(PANEL_WIDTH * n as u32);
    let areas = charts.split_evenly((1, n));
    let mut entries: Vec<LegendEntry> = Vec::new();
    for (area, panel) in areas.iter().zip(&fig.panels) {
        for e in draw_panel(area, panel)? {
            if !entries.iter().any(|x| x.label == e.label) {
                entries.push(e);
            }
        }
    }
    draw_legend(&side, &entries)
}

/// One legend line.
struct LegendEntry {
    label: String,
    style: ShapeStyle,
    dashed: bool,
    markers: bool,
}

fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[LegendEntry],
) -> Result<(), String> {
    let (x, mut y) = (6, 64);
    for e in entries {
        let (a, b) = if e.dashed { (10, 18) } else { (14, 14) };
        area.draw(&PathElement::new(vec![(x, y), (x + a, y)], e.style))
            .map_err(err)?;
        area.draw(&PathElement::new(vec![(x + b, y), (x + 28, y)], e.style))
            .map_err(err)?;
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
    Ok(())
}

/// About `n` round tick values (steps of 1, 2 or 5 × 10ᵏ) covering `[lo, hi]`.
pub fn nice_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return vec![lo];
    }
    let raw = (hi - lo) / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// Ticks of a `log10` axis over `[lo, hi]` (in `log10` units).
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    if hi - lo >= 1.5 {
        let every = ((hi - lo) / 6.0).ceil().max(1.0);
        let first = (lo / every).ceil() as i64;
        let last = (hi / every).floor() as i64;
        (first..=last).map(|k| k as f64 * every).collect()
    } else {
        let (a, b) = (10f64.powf(lo), 10f64.powf(hi));
        nice_ticks(a, b, 5)
            .into_iter()
            .filter(|&v| v > 0.0)
            .map(f64::log10)
            .collect()
    }
}

/// A title font size (at most 22 px) that fits `width` pixels.
fn title_size(title: &str, width: u32) -> f64 {
    let chars = title.chars().count().max(1) as f64;
    (f64::from(width.saturating_sub(24)) / (0.56 * chars)).clamp(12.0, 22.0)
}

fn y_of(log: bool, v: f64) -> f64 {
    if log {
        v.max(1e-300).log10()
    } else {
        v
    }
}

/// A compact number label: 3 significant digits.
pub fn number_label(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        return format!("{v:.1e}");
    }
    let digits = (2 - a.log10().floor() as i32).max(0) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn padded(lo: f64, hi: f64, frac: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    let span = hi - lo;
    if span <= 0.0 {
        let d = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        (lo - d, hi + d)
    } else {
        (lo - frac * span, hi + frac * span)
    }
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &Panel,
) -> Result<Vec<LegendEntry>, String> {
    let mut legend = Vec::new();
    let pts = |s: &Series| -> Vec<(f64, f64, f64)> {
        s.points
            .iter()
            .filter(|(_, st)| st.n > 0 && st.mean.is_finite())
            .map(|&(x, st)| {
                let sd = if st.sd.is_finite() { st.sd } else { 0.0 };
                (x, st.mean, sd)
            })
            .collect()
    };
    // Ranges.
    let mut xs: Vec<f64> = p.x_ticks.iter().map(|t| t.0).collect();
    let mut ys = Vec::new();
    for s in &p.series {
        for (x, m, sd) in pts(s) {
            xs.push(x);
            ys.push(y_of(p.log_y, m));
            if s.band {
                ys.push(y_of(p.log_y, m + sd));
                if !p.log_y || m - sd > 0.0 {
                    ys.push(y_of(p.log_y, m - sd));
                }
            }
        }
    }
    let fmin = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let fmax = |v: &[f64]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (x0, x1) = padded(fmin(&xs), fmax(&xs), 0.07);
    let (mut y0, y1) = padded(fmin(&ys), fmax(&ys), 0.06);
    if !p.log_y && y0 < 0.0 && fmin(&ys) >= 0.0 {
        y0 = 0.0;
    }
    let keys: Vec<f64> = p
        .x_ticks
        .iter()
        .map(|t| t.0)
        .filter(|t| (x0..=x1).contains(t))
        .collect();
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, (FONT, 20))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(68)
        .build_cartesian_2d(
            TickAxis {
                lo: x0,
                hi: x1,
                ticks: keys,
            },
            TickAxis {
                lo: y0,
                hi: y1,
                ticks: if p.log_y {
                    log_ticks(y0, y1)
                } else {
                    nice_ticks(y0, y1, 6)
                },
            },
        )
        .map_err(err)?;
    let ticks = p.x_ticks.clone();
    let x_fmt = move |x: &f64| {
        ticks
            .iter()
            .min_by(|a, b| (a.0 - x).abs().total_cmp(&(b.0 - x).abs()))
            .map(|t| t.1.clone())
            .unwrap_or_default()
    };
    let log_y = p.log_y;
    let y_fmt = move |y: &f64| number_label(if log_y { 10f64.powf(*y) } else { *y });
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
    for s in p.series.iter().filter(|s| s.band) {
        let v = pts(s);
        if v.len() < 2 {
            continue;
        }
        let mut poly: Vec<(f64, f64)> = v
            .iter()
            .map(|&(x, m, sd)| (x, y_of(log_y, m + sd)))
            .collect();
        poly.extend(v.iter().rev().map(|&(x, m, sd)| {
            (
                x,
                y_of(log_y, (m - sd).max(if log_y { m * 1e-3 } else { f64::MIN })),
            )
        }));
        chart
            .draw_series(std::iter::once(Polygon::new(poly, s.color.mix(0.18))))
            .map_err(err)?;
    }
    for s in &p.series {
        let v: Vec<(f64, f64)> = pts(s)
            .iter()
            .map(|&(x, m, _)| (x, y_of(log_y, m)))
            .collect();
        let style = ShapeStyle {
            color: s.color.to_rgba(),
            filled: false,
            stroke_width: s.width,
        };
        if s.dashed {
            chart
                .draw_series(DashedLineSeries::new(v.clone(), 9, 5, style))
                .map_err(err)?;
        } else {
            chart
                .draw_series(LineSeries::new(v.clone(), style))
                .map_err(err)?;
        }
        legend.push(LegendEntry {
            label: s.label.clone(),
            style,
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
        if !(x0..=x1).contains(x) {
            continue;
        }
        let style = ShapeStyle {
            color: BLACK.to_rgba(),
            filled: false,
            stroke_width: 2,
        };
        chart
            .draw_series(DashedLineSeries::new(vec![(*x, y0), (*x, y1)], 7, 6, style))
            .map_err(err)?;
        legend.push(LegendEntry {
            label: label.clone(),
            style,
            dashed: true,
            markers: false,
        });
    }
    Ok(legend)
}
