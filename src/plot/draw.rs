//! Drawing: figures of side-by-side line panels with shaded bands, rendered with `plotters` to
//! SVG and PNG.

use super::aggregate::Stat;
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// Width of one panel in pixels.
pub const PANEL_WIDTH: u32 = 520;
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
    /// Show the legend in this panel.
    pub legend: bool,
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
        (PANEL_WIDTH * self.panels.len().max(1) as u32, FIGURE_HEIGHT)
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

/// The legend's sample of a line: two segments (apart if dashed) and an optional marker.
macro_rules! legend_glyph {
    ($at:expr, $style:expr, $dashed:expr, $markers:expr) => {{
        let (a, b) = if $dashed { (9, 14) } else { (12, 12) };
        let marker = if $markers {
            $style.color.filled()
        } else {
            TRANSPARENT.filled()
        };
        EmptyElement::at($at)
            + PathElement::new(vec![(0, 0), (a, 0)], $style)
            + PathElement::new(vec![(b, 0), (24, 0)], $style)
            + Circle::new((12, 0), 4, marker)
    }};
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
        .titled(&fig.title, (FONT, 24).into_font().style(FontStyle::Bold))
        .map_err(err)?;
    let areas = body.split_evenly((1, fig.panels.len().max(1)));
    for (area, panel) in areas.iter().zip(&fig.panels) {
        draw_panel(area, panel)?;
    }
    Ok(())
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

fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &Panel) -> Result<(), String> {
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
    let (x0, x1) = padded(fmin(&xs), fmax(&xs), 0.04);
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
            y0..y1,
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
        .y_labels(7)
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
        let anno = if s.dashed {
            chart
                .draw_series(DashedLineSeries::new(v.clone(), 9, 5, style))
                .map_err(err)?
        } else {
            chart
                .draw_series(LineSeries::new(v.clone(), style))
                .map_err(err)?
        };
        let dashed = s.dashed;
        let markers = s.markers;
        anno.label(s.label.as_str())
            .legend(move |(x, y)| legend_glyph!((x, y), style, dashed, markers));
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
            .map_err(err)?
            .label(label.as_str())
            .legend(move |(x, y)| legend_glyph!((x, y), style, true, false));
    }
    if p.legend && !p.series.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font((FONT, 14))
            .draw()
            .map_err(err)?;
    }
    Ok(())
}
