//! One self-contained HTML page of a results directory: the figures of `imprl plot` (SPEC §6's
//! Figures 1–3, the learning-rate panels and curves), the comparison with the published runs of
//! `imprl compare` (SPEC §7), the theory checks of `imprl theory` (SPEC §2), and the settings and
//! program version that made them.
//!
//! The page opens from disk with no server and no network: figures are inline (`<svg>` elements,
//! or PNG images as `data:` URIs when no SVG was drawn), every table's CSV is a `data:` download,
//! the style sheet is in the page and uses system fonts. The same directory gives the same page,
//! byte for byte.
//!
//! Layout read from `DIR`: `results.sqlite` (required), `figures/` (`imprl plot`), `compare/`
//! (`imprl compare`: `comparison.csv`, `comparison.svg`, `seed_sets.csv`), `theory/` (`imprl
//! theory --out DIR/theory`: `theory.csv` and its SVG figures; also one level of subdirectories of
//! `theory/`, one per analysis), `values/` (`imprl values --out DIR/values`: its figures and CSVs,
//! when present).

pub mod html;
pub mod settings;

use crate::store::{Store, StoreError, DB_FILE};
use html::{esc, file_name, CsvTable};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The page's file name in the results directory when no other is given.
pub const REPORT_FILE: &str = "report.html";

/// The program version written on the page.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The commit the program was built from, when the build set `IMPRL_GIT_COMMIT`.
pub const GIT_COMMIT: Option<&str> = option_env!("IMPRL_GIT_COMMIT");

/// A failure to read the results directory or to write the page.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The directory holds no results store.
    #[error("{}: no results store ({DB_FILE}) there", .0.display())]
    NoStore(PathBuf),
    /// The results store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A directory could not be listed.
    #[error("cannot list {}: {source}", path.display())]
    List {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The page could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The page's path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A CSV file is malformed.
    #[error("{}: malformed CSV: {source}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        source: csv::Error,
    },
    /// An image file is not what its extension says.
    #[error("{}: {message}", path.display())]
    Image {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A run's settings could not be read for the summary.
    #[error("run settings: {0}")]
    Settings(String),
}

/// What went into a page.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportSummary {
    /// Figures embedded.
    pub figures: usize,
    /// Tables (from CSV files) shown.
    pub tables: usize,
    /// Runs in the store.
    pub runs: usize,
    /// Size of the page in bytes.
    pub bytes: usize,
}

/// The page being assembled: its body and the counts of figures and tables.
struct Body {
    html: String,
    figures: usize,
    tables: usize,
}

impl Body {
    /// An embedded figure from `images` (same stem; SVG preferred), captioned with its name and
    /// a download of its `table` when there is one.
    fn figure(&mut self, images: &[PathBuf], table: Option<&Path>) -> Result<(), ReportError> {
        let svg = images.iter().find(|p| has_ext(p, "svg"));
        let Some(image) = svg.or_else(|| images.iter().find(|p| has_ext(p, "png"))) else {
            return Ok(());
        };
        let stem = stem(image);
        let element = match svg {
            Some(p) => html::inline_svg(p)?,
            None => html::inline_png(image, &stem)?,
        };
        self.figures += 1;
        let _ = write!(
            self.html,
            "<figure class=\"imprl-figure\" id=\"fig-{}\">\n{element}\n<figcaption><code>{}</code>",
            esc(&anchor(image)),
            esc(&file_name(image))
        );
        let link = match table {
            Some(t) => html::download_link(t, "text/csv", &file_name(t))?,
            None => None,
        };
        if let Some(link) = link {
            let _ = write!(self.html, " · numbers: {link}");
        }
        self.html.push_str("</figcaption></figure>\n");
        Ok(())
    }

    /// The table of a CSV file, with a download of the file.
    fn table(&mut self, path: &Path, caption: &str, transpose: bool) -> Result<(), ReportError> {
        let t: CsvTable = html::read_csv(path)?;
        self.tables += 1;
        let id = format!("table-{}", anchor(path));
        self.html
            .push_str(&html::table(&t, &id, caption, transpose));
        if let Some(link) = html::download_link(path, "text/csv", "download")? {
            let _ = writeln!(
                self.html,
                "<p class=\"note\"><code>{}</code>: {} rows × {} columns · {link}</p>",
                esc(&file_name(path)),
                t.rows.len(),
                t.header.len()
            );
        }
        Ok(())
    }

    fn note(&mut self, text: &str) {
        let _ = writeln!(self.html, "<p class=\"note\">{}</p>", esc(text));
    }
}

fn has_ext(p: &Path, ext: &str) -> bool {
    p.extension().is_some_and(|e| e == ext)
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// An id for an element from a file's path: its last two components, with characters other
/// than ASCII letters, digits, `-` and `_` replaced by `-`.
fn anchor(p: &Path) -> String {
    let parent = p
        .parent()
        .and_then(|d| d.file_name())
        .map(|d| d.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{parent}-{}", stem(p))
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The files of `dir` sorted by name, or nothing when `dir` does not exist.
fn files(dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let list = |source| ReportError::List {
        path: dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(list)? {
        out.push(entry.map_err(list)?.path());
    }
    out.sort();
    Ok(out)
}

/// The files of one figure: its images (SVG, PNG) and the CSV of its numbers when there is one.
struct FigureFiles {
    images: Vec<PathBuf>,
    table: Option<PathBuf>,
}

/// The figures of a directory, one per stem with an `.svg` or `.png` image; ordered by `rank`
/// then name.
fn figure_groups(dir: &Path, rank: impl Fn(&str) -> u8) -> Result<Vec<FigureFiles>, ReportError> {
    let all = files(dir)?;
    let mut stems: Vec<String> = all
        .iter()
        .filter(|p| has_ext(p, "svg") || has_ext(p, "png"))
        .map(|p| stem(p))
        .collect();
    stems.dedup();
    stems.sort_by(|a, b| (rank(a), a).cmp(&(rank(b), b)));
    Ok(stems
        .into_iter()
        .map(|s| {
            let images = all
                .iter()
                .filter(|p| stem(p) == s && (has_ext(p, "svg") || has_ext(p, "png")))
                .cloned()
                .collect();
            let table = all
                .iter()
                .find(|p| stem(p) == s && has_ext(p, "csv"))
                .cloned();
            FigureFiles { images, table }
        })
        .collect())
}

/// True when directory `dir` holds a figure (an SVG or PNG file), as the report page shows them.
pub fn has_figures(dir: &Path) -> Result<bool, ReportError> {
    Ok(!figure_groups(dir, plot_rank)?.is_empty())
}

/// The paper's figures first, then the learning-rate panels, then the learning curves.
fn plot_rank(stem: &str) -> u8 {
    if stem.starts_with("fig") {
        0
    } else if stem.starts_with("lr_") {
        1
    } else if stem.starts_with("curves") {
        2
    } else {
        3
    }
}

/// The theory's figures in the order of its report: Theorem 1, the spectrum of its
/// preconditioner, the Perron split, Theorem 4, Theorem 5.
fn theory_rank(stem: &str) -> u8 {
    ["theorem1", "spectrum", "perron", "theorem4", "theorem5"]
        .iter()
        .position(|p| stem.starts_with(p))
        .unwrap_or(5) as u8
}

fn settings_section(b: &mut Body, dir: &Path, records: &settings::StoreSummary) {
    let s = &mut b.html;
    s.push_str("<section id=\"settings\">\n<h2>Runs and settings</h2>\n<table id=\"provenance\"><caption>Provenance</caption>\n");
    let row = |s: &mut String, k: &str, v: &str| {
        let _ = writeln!(
            s,
            "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
            esc(k),
            esc(v)
        );
    };
    row(s, "program", &format!("imprl {VERSION}"));
    if let Some(c) = GIT_COMMIT {
        row(s, "commit", c);
    }
    row(s, "results store", &dir.join(DB_FILE).display().to_string());
    row(s, "runs", &records.runs.to_string());
    row(s, "finished", &records.finished.to_string());
    row(s, "diverged", &records.diverged.to_string());
    row(s, "evaluations", &records.evaluations.to_string());
    row(
        s,
        "sum of the runs' wall times (all workers)",
        &format!("{:.1} s", records.wall_time_s),
    );
    row(
        s,
        "wall time of the sweeps",
        &records.sweeps_wall_s.map_or_else(
            || "not recorded (a store of an earlier release, or merged)".into(),
            |t| format!("{t:.1} s"),
        ),
    );
    s.push_str("</table>\n<table id=\"distinct-settings\"><caption>Distinct settings of the stored runs</caption>\n<thead><tr><th scope=\"col\">setting</th><th scope=\"col\">distinct values</th><th scope=\"col\">values</th></tr></thead><tbody>\n");
    for f in &records.fields {
        let _ = writeln!(
            s,
            "<tr><th scope=\"row\">{}</th><td class=\"num\">{}</td><td>{}</td></tr>",
            esc(&f.name),
            f.values.len(),
            esc(&f.display())
        );
    }
    s.push_str("</tbody></table>\n</section>\n");
}

fn figures_section(b: &mut Body, dir: &Path) -> Result<(), ReportError> {
    b.html
        .push_str("<section id=\"figures\">\n<h2>Figures</h2>\n");
    let figs = dir.join("figures");
    let groups = figure_groups(&figs, plot_rank)?;
    if groups.is_empty() {
        b.note(&format!(
            "No figures in {}: draw them with imprl plot --results {}.",
            figs.display(),
            dir.display()
        ));
    }
    for f in &groups {
        b.figure(&f.images, f.table.as_deref())?;
    }
    let best = figs.join("best_lr.csv");
    if best.is_file() {
        b.table(
            &best,
            "Learning rates of the figures of the best configurations",
            false,
        )?;
    }
    b.html.push_str("</section>\n");
    Ok(())
}

fn compare_section(b: &mut Body, dir: &Path) -> Result<(), ReportError> {
    let cmp = dir.join("compare");
    b.html
        .push_str("<section id=\"comparison\">\n<h2>Comparison with the published runs</h2>\n");
    let csv = cmp.join("comparison.csv");
    let groups = figure_groups(&cmp, |_| 0)?;
    if groups.is_empty() && !csv.is_file() {
        b.note(&format!(
            "No comparison in {}: reproduce and report compare chain runs with the published summary shipped with imprl; four rooms and mountain car need the published runs: imprl compare --reference PUBLISHED --results {} (docs/compare.md).",
            cmp.display(),
            dir.display()
        ));
    }
    for f in &groups {
        b.figure(&f.images, None)?;
    }
    if csv.is_file() {
        b.table(
            &csv,
            "Per configuration: ours against the published runs (z: Welch's statistic)",
            false,
        )?;
    }
    let seeds = cmp.join("seed_sets.csv");
    if seeds.is_file() {
        b.table(&seeds, "Seed-set check", false)?;
    }
    b.html.push_str("</section>\n");
    Ok(())
}

fn theory_section(b: &mut Body, dir: &Path) -> Result<(), ReportError> {
    let root = dir.join("theory");
    b.html
        .push_str("<section id=\"theory\">\n<h2>Theory</h2>\n");
    let mut dirs = vec![root.clone()];
    dirs.extend(files(&root)?.into_iter().filter(|p| p.is_dir()));
    let mut any = false;
    for d in dirs {
        let csv = d.join("theory.csv");
        let groups = figure_groups(&d, theory_rank)?;
        if groups.is_empty() && !csv.is_file() {
            continue;
        }
        any = true;
        if d != root {
            let _ = writeln!(b.html, "<h3>{}</h3>", esc(&file_name(&d)));
        }
        if csv.is_file() {
            b.table(
                &csv,
                "Theory checks at each checkpoint (one column per checkpoint)",
                true,
            )?;
        }
        for f in &groups {
            b.figure(&f.images, None)?;
        }
    }
    if !any {
        b.note(&format!(
            "No theory analysis in {}: make one with imprl theory --domain D --out {}.",
            root.display(),
            root.display()
        ));
    }
    b.html.push_str("</section>\n");
    Ok(())
}

/// The figures of `imprl values` (in `values/`), when there are any.
fn values_section(b: &mut Body, dir: &Path) -> Result<(), ReportError> {
    let groups = figure_groups(&dir.join("values"), |s| match s {
        "values" => 0,
        "model" => 1,
        _ => 2,
    })?;
    if groups.is_empty() {
        return Ok(());
    }
    b.html
        .push_str("<section id=\"values\">\n<h2>What was learned</h2>\n");
    for f in &groups {
        b.figure(&f.images, f.table.as_deref())?;
    }
    b.html.push_str("</section>\n");
    Ok(())
}

/// The page of results directory `dir` (see the module's documentation for what it reads), and
/// what went into it.
pub fn render(dir: &Path) -> Result<(String, ReportSummary), ReportError> {
    if !Store::exists(dir) {
        return Err(ReportError::NoStore(dir.to_path_buf()));
    }
    let store = Store::open_read(dir)?;
    let records = store.load_all()?;
    let mut summary = settings::summarize(&records)?;
    summary.sweeps_wall_s = store.sweep_time()?;
    drop(store);
    let mut b = Body {
        html: String::new(),
        figures: 0,
        tables: 0,
    };
    let _ = write!(
        b.html,
        "<header>\n<h1>imprl results</h1>\n<p class=\"note\"><code>{}</code> · {} runs · imprl {VERSION}</p>\n</header>\n\
         <nav><ul><li><a href=\"#settings\">Runs and settings</a></li><li><a href=\"#figures\">Figures</a></li>\
         <li><a href=\"#comparison\">Comparison with the published runs</a></li><li><a href=\"#theory\">Theory</a></li></ul></nav>\n",
        esc(&dir.display().to_string()),
        summary.runs
    );
    settings_section(&mut b, dir, &summary);
    figures_section(&mut b, dir)?;
    compare_section(&mut b, dir)?;
    theory_section(&mut b, dir)?;
    values_section(&mut b, dir)?;
    let title = format!("imprl results: {}", dir.display());
    let page = html::page(&title, b.figures, &b.html);
    let report = ReportSummary {
        figures: b.figures,
        tables: b.tables,
        runs: summary.runs,
        bytes: page.len(),
    };
    Ok((page, report))
}

/// Writes the page of results directory `dir` to `out` (see [`render`]).
pub fn write_report(dir: &Path, out: &Path) -> Result<ReportSummary, ReportError> {
    let (page, summary) = render(dir)?;
    std::fs::write(out, page).map_err(|source| ReportError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    Ok(summary)
}
