//! The one plotting layer of imprl: figures of side-by-side panels (lines, markers, shaded
//! bands, error bars, reference lines) with a legend column, rendered with `plotters` to SVG
//! and PNG. The paper's figures (`plot`), the comparison with the published runs (`compare`)
//! and the theory checks (`theory`) all describe their drawings with these types.
//!
//! Files are written atomically: each image is rendered to a temporary file in its directory
//! and renamed into place, so an interrupted run never leaves a truncated image.
//!
//! Text is set in DejaVu Sans, embedded in the binary (`assets/fonts/`, Bitstream Vera licence)
//! and rasterized by `ab_glyph`: no system font or font library is needed.

mod axis;
mod heatmap;
mod render;

pub use axis::{nice_ticks, number_label};
pub use heatmap::{Heatmap, HeatmapFigure, Scale, MASKED};

use plotters::style::RGBColor;
use std::path::{Path, PathBuf};

/// Default width of one panel in pixels.
pub const PANEL_WIDTH: u32 = 520;
/// Default width of the legend column at the right of a figure, in pixels.
pub const LEGEND_WIDTH: u32 = 230;
/// Default height of a figure in pixels.
pub const FIGURE_HEIGHT: u32 = 440;

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

/// Black, for reference lines and exact values.
pub const BLACK: RGBColor = RGBColor(0, 0, 0);

/// The colour of a parameterization in every figure.
pub fn param_color(p: crate::param::ParamKind) -> RGBColor {
    match p {
        crate::param::ParamKind::Explicit => OKABE_ITO[0],
        crate::param::ParamKind::Implicit => OKABE_ITO[1],
        crate::param::ParamKind::ExplicitMatrix => OKABE_ITO[2],
    }
}

/// The embedded font (DejaVu Sans).
static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Registers the embedded font as plotters' `sans-serif` (once per process).
fn register_font() -> Result<(), FigureError> {
    static REGISTERED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(render::FONT, plotters::style::FontStyle::Normal, FONT_BYTES)
            .is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(FigureError::Font)
    }
}

/// A failure to draw or write a figure.
#[derive(Debug, thiserror::Error)]
pub enum FigureError {
    /// The embedded font cannot be parsed.
    #[error("the embedded font cannot be loaded")]
    Font,
    /// The drawing library failed.
    #[error("drawing {path}: {message}")]
    Draw {
        /// The file being drawn.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The image file cannot be written or moved into place.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
}

/// Which image formats to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// SVG only.
    Svg,
    /// PNG only.
    Png,
    /// Both SVG and PNG.
    #[default]
    Both,
}

impl Format {
    /// The file extensions of this choice, SVG first.
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            Format::Svg => &["svg"],
            Format::Png => &["png"],
            Format::Both => &["svg", "png"],
        }
    }
}

/// One point of a series: `y` at `x`, with a spread (a standard deviation or a confidence
/// half-width; 0 for none) drawn as a band or an error bar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Abscissa.
    pub x: f64,
    /// Ordinate.
    pub y: f64,
    /// Spread around `y` (`y ± spread`).
    pub spread: f64,
}

impl Point {
    /// A point without spread.
    pub fn at(x: f64, y: f64) -> Point {
        Point { x, y, spread: 0.0 }
    }

    /// The mean ± one sample standard deviation of `s` at `x`; `None` for an empty sample or a
    /// non-finite mean (an unknown standard deviation counts as 0).
    pub fn of_stat(x: f64, s: &crate::stats::Stat) -> Option<Point> {
        (s.n > 0 && s.mean.is_finite()).then(|| Point {
            x,
            y: s.mean,
            spread: if s.sd.is_finite() { s.sd } else { 0.0 },
        })
    }
}

/// How a series' spread is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Spread {
    /// Not shown.
    #[default]
    None,
    /// A shaded band `y ± spread` under the line.
    Band,
    /// Vertical error bars `y ± spread`.
    Bars,
}

/// One series of a panel.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend entry (series with the same label share one legend line, drawn at the thinnest
    /// of their widths).
    pub label: String,
    /// Colour.
    pub color: RGBColor,
    /// Join the points with a line (else markers only: a scatter).
    pub line: bool,
    /// Dashed instead of solid.
    pub dashed: bool,
    /// Draw a marker at each point.
    pub markers: bool,
    /// Line width in pixels.
    pub width: u32,
    /// How the points' spread is shown.
    pub spread: Spread,
    /// The points; those with a non-finite coordinate are left out.
    pub points: Vec<Point>,
}

impl Series {
    /// A solid line of width 2 with markers and no spread.
    pub fn line(label: impl Into<String>, color: RGBColor, points: Vec<Point>) -> Series {
        Series {
            label: label.into(),
            color,
            line: true,
            dashed: false,
            markers: true,
            width: 2,
            spread: Spread::None,
            points,
        }
    }
}

/// One panel: axes, series, optional vertical reference lines.
#[derive(Debug, Clone, Default)]
pub struct Panel {
    /// Caption above the panel.
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// Ticks of the x axis: position (data units) and label; empty for automatic ticks.
    pub x_ticks: Vec<(f64, String)>,
    /// A `log10` x axis (tick labels show the values; non-positive values are left out).
    pub log_x: bool,
    /// A `log10` y axis (tick labels show the values).
    pub log_y: bool,
    /// The series, drawn in order (bands first).
    pub series: Vec<Series>,
    /// Dashed vertical lines at `x`, with a legend entry.
    pub vlines: Vec<(f64, String)>,
}

/// A figure: panels side by side under a title, the legend in a column at the right.
#[derive(Debug, Clone)]
pub struct Figure {
    /// Title.
    pub title: String,
    /// The panels, left to right.
    pub panels: Vec<Panel>,
    /// Size of one panel in pixels.
    pub panel_size: (u32, u32),
    /// Width of the legend column in pixels.
    pub legend_width: u32,
    /// Lines of text under the legend (notes on what the figure shows).
    pub notes: Vec<String>,
}

impl Figure {
    /// A figure of the default panel size and legend width.
    pub fn new(title: impl Into<String>, panels: Vec<Panel>) -> Figure {
        Figure {
            title: title.into(),
            panels,
            panel_size: (PANEL_WIDTH, FIGURE_HEIGHT),
            legend_width: LEGEND_WIDTH,
            notes: Vec::new(),
        }
    }

    /// Adds `note` in parentheses at the end of the title, e.g. `… (targets = td:10)`.
    pub fn note_in_title(&mut self, note: &str) {
        self.title = format!("{} ({note})", self.title);
    }

    /// The size in pixels of this figure (SVG and PNG alike).
    pub fn size(&self) -> (u32, u32) {
        (
            self.panel_size.0 * self.panels.len().max(1) as u32 + self.legend_width,
            self.panel_size.1,
        )
    }

    /// Renders the figure to `path`, as SVG when its extension is `svg`, else as PNG, through a
    /// temporary file in the same directory renamed into place.
    pub fn save(&self, path: &Path) -> Result<(), FigureError> {
        save_atomic(path, |tmp, svg| {
            if svg {
                render::svg(self, tmp)
            } else {
                render::png(self, tmp)
            }
        })
    }

    /// Writes `<dir>/<stem>.<ext>` for every extension of `format` (see [`Figure::save`]) and
    /// returns the paths written.
    pub fn save_as(
        &self,
        dir: &Path,
        stem: &str,
        format: Format,
    ) -> Result<Vec<PathBuf>, FigureError> {
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

/// Renders to `path` through `render(tmp, is_svg)` writing a temporary file in the same
/// directory, renamed into place (SVG when the extension is `svg`, else PNG).
fn save_atomic(
    path: &Path,
    render: impl FnOnce(&Path, bool) -> Result<(), String>,
) -> Result<(), FigureError> {
    register_font()?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let svg = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"));
    // The temporary file keeps the extension: the bitmap encoder picks its format by it.
    let tmp = dir.join(format!(
        ".{}.{}.tmp.{}",
        name,
        std::process::id(),
        if svg { "svg" } else { "png" }
    ));
    if let Err(message) = render(&tmp, svg) {
        let _ = std::fs::remove_file(&tmp);
        return Err(FigureError::Draw {
            path: path.to_path_buf(),
            message,
        });
    }
    std::fs::rename(&tmp, path).map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        FigureError::Io {
            path: path.to_path_buf(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Figure {
        let mut f = Figure::new(
            "t",
            vec![Panel {
                title: "p".into(),
                series: vec![Series::line(
                    "a",
                    OKABE_ITO[0],
                    vec![
                        Point::at(0.0, 1.0),
                        Point::at(1.0, f64::NAN),
                        Point::at(2.0, 3.0),
                    ],
                )],
                ..Default::default()
            }],
        );
        f.notes.push("note".into());
        f
    }

    #[test]
    fn saves_both_formats_without_leftovers() {
        let dir = tempfile::tempdir().expect("tmp");
        let files = tiny()
            .save_as(dir.path(), "fig", Format::Both)
            .expect("saved");
        assert_eq!(files.len(), 2);
        for f in &files {
            assert!(std::fs::metadata(f).expect("exists").len() > 0, "{f:?}");
        }
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn a_failed_write_names_the_file_and_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tmp");
        let missing = dir.path().join("no such dir").join("fig.svg");
        let e = tiny().save(&missing).expect_err("no directory");
        assert!(e.to_string().contains("fig.svg"), "{e}");
    }
}
