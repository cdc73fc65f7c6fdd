//! Heatmaps: panels of coloured cells (a grid of states, a matrix, a function over a plane)
//! side by side, each with its colour bar and the bar's unit, optionally with points coloured
//! on the same scale. Rendered like [`super::Figure`] (embedded font, SVG and PNG, written
//! atomically through [`super::Figure`]'s file handling).

use super::axis::{nice_ticks, number_label, title_size};
use super::render::FONT;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// How values map to colours.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    /// `lo` → dark blue … `hi` → yellow (viridis).
    Sequential {
        /// The value of the first colour.
        lo: f64,
        /// The value of the last colour.
        hi: f64,
    },
    /// `−max` → blue, 0 → white, `+max` → red (for signed errors).
    Diverging {
        /// The magnitude of the end colours.
        max: f64,
    },
}

impl Scale {
    /// A sequential scale over the finite values of `v` (a unit range when there are none or
    /// all are equal).
    pub fn over(v: &[f64]) -> Scale {
        let (lo, hi) = finite_range(v);
        Scale::Sequential { lo, hi }
    }

    /// A diverging scale symmetric about 0 over the finite values of `v`.
    pub fn signed(v: &[f64]) -> Scale {
        let max = v
            .iter()
            .filter(|x| x.is_finite())
            .fold(0.0f64, |m, x| m.max(x.abs()));
        Scale::Diverging {
            max: if max > 0.0 { max } else { 1.0 },
        }
    }

    fn range(self) -> (f64, f64) {
        match self {
            Scale::Sequential { lo, hi } => (lo, hi),
            Scale::Diverging { max } => (-max, max),
        }
    }

    /// The colour of `v` (values beyond the ends take the end colours).
    pub fn color(self, v: f64) -> RGBColor {
        let (lo, hi) = self.range();
        let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
        let t = t.clamp(0.0, 1.0);
        match self {
            Scale::Sequential { .. } => ramp(&VIRIDIS, t),
            Scale::Diverging { .. } => ramp(&BLUE_WHITE_RED, t),
        }
    }
}

fn finite_range(v: &[f64]) -> (f64, f64) {
    let lo = v
        .iter()
        .filter(|x| x.is_finite())
        .fold(f64::INFINITY, |m, &x| m.min(x));
    let hi = v
        .iter()
        .filter(|x| x.is_finite())
        .fold(f64::NEG_INFINITY, |m, &x| m.max(x));
    if !(lo.is_finite() && hi.is_finite()) {
        (0.0, 1.0)
    } else if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.5, hi + 0.5)
    }
}

const VIRIDIS: [(u8, u8, u8); 6] = [
    (68, 1, 84),
    (65, 68, 135),
    (42, 120, 142),
    (34, 168, 132),
    (122, 209, 81),
    (253, 231, 37),
];
const BLUE_WHITE_RED: [(u8, u8, u8); 5] = [
    (33, 102, 172),
    (146, 197, 222),
    (247, 247, 247),
    (244, 165, 130),
    (178, 24, 43),
];

/// Linear interpolation between the colour stops `stops` at `t ∈ [0, 1]`.
fn ramp(stops: &[(u8, u8, u8)], t: f64) -> RGBColor {
    let x = t * (stops.len() - 1) as f64;
    let i = (x.floor() as usize).min(stops.len() - 2);
    let f = x - i as f64;
    let mix = |a: u8, b: u8| (f64::from(a) + f * (f64::from(b) - f64::from(a))).round() as u8;
    let (a, b) = (stops[i], stops[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// The colour of cells without a value (walls, masked entries).
pub const MASKED: RGBColor = RGBColor(64, 64, 64);

/// One heatmap panel: `rows × cols` cells covering `[x.0, x.1] × [y.0, y.1]`, row-major values
/// (non-finite: drawn in [`MASKED`]).
#[derive(Debug, Clone)]
pub struct Heatmap {
    /// Caption above the panel.
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// The x extent of the columns.
    pub x: (f64, f64),
    /// The y extent of the rows.
    pub y: (f64, f64),
    /// Row 0 at the top (matrices and grids) instead of at `y.0` at the bottom.
    pub top_down: bool,
    /// The values, row-major (`rows · cols`).
    pub values: Vec<f64>,
    /// The colour scale.
    pub scale: Scale,
    /// The colour bar's label: what the colours measure, with its unit.
    pub unit: String,
    /// Points `(x, y, value)` drawn on top, coloured on the same scale with a black edge.
    pub points: Vec<(f64, f64, f64)>,
}

impl Heatmap {
    /// A matrix or grid (`rows × cols`, row 0 at the top, cell `(i, j)` centred on `(j, i)`),
    /// coloured over its finite values.
    pub fn grid(title: &str, rows: usize, cols: usize, values: Vec<f64>, unit: &str) -> Self {
        Heatmap {
            title: title.into(),
            x_label: String::new(),
            y_label: String::new(),
            rows,
            cols,
            x: (-0.5, cols as f64 - 0.5),
            y: (-0.5, rows as f64 - 0.5),
            top_down: true,
            scale: Scale::over(&values),
            values,
            unit: unit.into(),
            points: Vec::new(),
        }
    }
}

/// Heatmap panels side by side under a title, with notes under them.
#[derive(Debug, Clone)]
pub struct HeatmapFigure {
    /// Title.
    pub title: String,
    /// The panels, left to right.
    pub maps: Vec<Heatmap>,
    /// Size of one panel (colour bar included) in pixels.
    pub panel_size: (u32, u32),
    /// Panels per row (the panels fill rows left to right, top to bottom).
    pub columns: usize,
    /// Lines of text under the panels.
    pub notes: Vec<String>,
}

/// Width of a panel's colour bar column in pixels.
const BAR_WIDTH: u32 = 96;
/// Height of one note line in pixels.
const NOTE_HEIGHT: u32 = 20;

impl HeatmapFigure {
    /// A figure of panels of 470 × 440 pixels.
    pub fn new(title: impl Into<String>, maps: Vec<Heatmap>) -> Self {
        HeatmapFigure {
            title: title.into(),
            columns: maps.len().max(1),
            maps,
            panel_size: (450, 420),
            notes: Vec::new(),
        }
    }

    /// The size in pixels.
    pub fn size(&self) -> (u32, u32) {
        let (cols, rows) = self.grid();
        (
            self.panel_size.0 * cols as u32,
            self.panel_size.1 * rows as u32 + 44 + NOTE_HEIGHT * self.notes.len() as u32,
        )
    }

    /// Columns and rows of panels.
    fn grid(&self) -> (usize, usize) {
        let cols = self.columns.clamp(1, self.maps.len().max(1));
        (cols, self.maps.len().max(1).div_ceil(cols))
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    fig: &HeatmapFigure,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(err)?;
    let body = root
        .titled(&fig.title, (FONT, title_size(&fig.title, fig.size().0)))
        .map_err(err)?;
    let (cols, rows) = fig.grid();
    let (top, bottom) = body.split_vertically(fig.panel_size.1 * rows as u32);
    for (area, map) in top.split_evenly((rows, cols)).iter().zip(&fig.maps) {
        draw_map(area, map)?;
    }
    for (i, note) in fig.notes.iter().enumerate() {
        bottom
            .draw(&Text::new(
                note.clone(),
                (12, 10 + (i as u32 * NOTE_HEIGHT) as i32),
                TextStyle::from((FONT, 14).into_font()).pos(Pos::new(HPos::Left, VPos::Top)),
            ))
            .map_err(err)?;
    }
    Ok(())
}

fn draw_map<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, m: &Heatmap) -> Result<(), String> {
    let (w, _) = area.dim_in_pixel();
    let (plot, bar) = area.split_horizontally(w.saturating_sub(BAR_WIDTH));
    let (y_lo, y_hi) = if m.top_down { (m.y.1, m.y.0) } else { m.y };
    let mut chart = ChartBuilder::on(&plot)
        .caption(&m.title, (FONT, 17))
        .margin(8)
        .x_label_area_size(40)
        .y_label_area_size(52)
        .build_cartesian_2d(m.x.0..m.x.1, y_lo..y_hi)
        .map_err(err)?;
    let fmt = |v: &f64| number_label(*v);
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(m.x_label.as_str())
        .y_desc(m.y_label.as_str())
        .x_labels(6)
        .y_labels(6)
        .x_label_formatter(&fmt)
        .y_label_formatter(&fmt)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 15))
        .draw()
        .map_err(err)?;
    let (dx, dy) = (
        (m.x.1 - m.x.0) / m.cols.max(1) as f64,
        (m.y.1 - m.y.0) / m.rows.max(1) as f64,
    );
    chart
        .draw_series((0..m.rows).flat_map(|i| {
            (0..m.cols).map(move |j| {
                let v = m.values.get(i * m.cols + j).copied().unwrap_or(f64::NAN);
                let c = if v.is_finite() {
                    m.scale.color(v)
                } else {
                    MASKED
                };
                let x0 = m.x.0 + j as f64 * dx;
                let y0 = m.y.0 + i as f64 * dy;
                Rectangle::new([(x0, y0), (x0 + dx, y0 + dy)], c.filled())
            })
        }))
        .map_err(err)?;
    chart
        .draw_series(
            m.points
                .iter()
                .filter(|p| p.2.is_finite())
                .flat_map(|&(x, y, v)| {
                    [
                        Circle::new((x, y), 4, m.scale.color(v).filled()),
                        Circle::new((x, y), 4, BLACK.stroke_width(1)),
                    ]
                }),
        )
        .map_err(err)?;
    draw_bar(&bar, m)
}

/// The colour bar: the scale's colours from bottom (low) to top (high), ticks and the unit.
fn draw_bar<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, m: &Heatmap) -> Result<(), String> {
    let (lo, hi) = m.scale.range();
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.5, hi + 0.5)
    };
    let mut chart = ChartBuilder::on(area)
        .margin_top(36)
        .margin_bottom(48)
        .margin_right(30)
        .y_label_area_size(0)
        .right_y_label_area_size(52)
        .build_cartesian_2d(0.0..1.0, lo..hi)
        .map_err(err)?;
    let ticks = nice_ticks(lo, hi, 5);
    let fmt = |v: &f64| {
        ticks
            .iter()
            .min_by(|a, b| (*a - v).abs().total_cmp(&(*b - v).abs()))
            .map_or_else(|| number_label(*v), |t| number_label(*t))
    };
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_labels(6)
        .y_label_formatter(&fmt)
        .label_style((FONT, 12))
        .draw()
        .map_err(err)?;
    let steps = 64;
    chart
        .draw_series((0..steps).map(|i| {
            let a = lo + (hi - lo) * i as f64 / steps as f64;
            let b = lo + (hi - lo) * (i + 1) as f64 / steps as f64;
            Rectangle::new([(0.0, a), (1.0, b)], m.scale.color(0.5 * (a + b)).filled())
        }))
        .map_err(err)?;
    let (w, h) = area.dim_in_pixel();
    area.draw(&Text::new(
        m.unit.clone(),
        (w as i32 - 14, h as i32 / 2),
        TextStyle::from((FONT, 14).into_font())
            .transform(FontTransform::Rotate270)
            .pos(Pos::new(HPos::Center, VPos::Center)),
    ))
    .map_err(err)?;
    Ok(())
}

/// Renders `fig` as SVG to `path`.
pub(super) fn svg(fig: &HeatmapFigure, path: &std::path::Path) -> Result<(), String> {
    let root = SVGBackend::new(path, fig.size()).into_drawing_area();
    draw(&root, fig)?;
    root.present().map_err(err)
}

/// Renders `fig` as PNG to `path`.
pub(super) fn png(fig: &HeatmapFigure, path: &std::path::Path) -> Result<(), String> {
    let root = BitMapBackend::new(path, fig.size()).into_drawing_area();
    draw(&root, fig)?;
    root.present().map_err(err)
}

impl HeatmapFigure {
    /// Renders the figure to `path` (SVG or PNG by its extension), as [`super::Figure::save`].
    pub fn save(&self, path: &std::path::Path) -> Result<(), super::FigureError> {
        super::save_atomic(path, |tmp, is_svg| {
            if is_svg {
                svg(self, tmp)
            } else {
                png(self, tmp)
            }
        })
    }

    /// Writes `<dir>/<stem>.<ext>` for every extension of `format`; returns the paths written.
    pub fn save_as(
        &self,
        dir: &std::path::Path,
        stem: &str,
        format: super::Format,
    ) -> Result<Vec<std::path::PathBuf>, super::FigureError> {
        format
            .extensions()
            .iter()
            .map(|ext| {
                let p = dir.join(format!("{stem}.{ext}"));
                self.save(&p).map(|()| p)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_map_their_ends_and_centre() {
        let s = Scale::Sequential { lo: 0.0, hi: 1.0 };
        assert_eq!(s.color(-5.0), RGBColor(68, 1, 84));
        assert_eq!(s.color(1.0), RGBColor(253, 231, 37));
        let d = Scale::signed(&[-2.0, 1.0, f64::NAN]);
        assert_eq!(d, Scale::Diverging { max: 2.0 });
        assert_eq!(d.color(0.0), RGBColor(247, 247, 247));
        assert_eq!(
            Scale::over(&[3.0, 3.0]),
            Scale::Sequential { lo: 2.5, hi: 3.5 }
        );
    }
}
