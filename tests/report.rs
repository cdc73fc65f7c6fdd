//! The report page of a real results directory (a small chain sweep, its figures, a comparison
//! with the published chain summary and a theory analysis): every figure and table is on the
//! page, the page refers to nothing outside itself, and it is the same page every time.

mod common;

use base64::Engine as _;
use common::csv_table;
use imprl::compare;
use imprl::config::RunSettings;
use imprl::domain::DomainKind;
use imprl::plot::{draw_all, Format, PlotOptions, PlotReport};
use imprl::report::{render, write_report, ReportError, REPORT_FILE};
use imprl::store::Store;
use imprl::sweep::{execute, Grid, SweepOptions};
use imprl::train::Silent;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// 2 parameterizations × 2 η × 2 offsets × 3 seeds of the chain, published protocol.
const GRID: &str = r#"
domain = "chain"
param  = ["explicit", "implicit"]
eta    = [0.9, 0.95]
offset = [0.0, 1.0]
seed   = [0, 1, 2]
"#;
const RUNS: usize = 24;

/// A results directory as `imprl reproduce`, `imprl compare` and `imprl theory --out
/// DIR/theory` leave it, with what each of them wrote.
struct Results {
    dir: PathBuf,
    plot: PlotReport,
    theory_figures: Vec<PathBuf>,
}

fn sweep_into(dir: &Path) {
    let grid = Grid::from_toml_table(&toml::from_str(GRID).expect("toml")).expect("grid");
    let mut store = Store::open(dir).expect("store");
    execute(
        grid.runs(),
        &mut store,
        &SweepOptions::default(),
        &mut Silent,
    )
    .expect("sweep");
}

fn make_results(dir: &Path, format: Format) -> Results {
    if dir.exists() {
        std::fs::remove_dir_all(dir).expect("clean");
    }
    sweep_into(dir);
    let records = Store::open(dir).expect("store").load_all().expect("load");
    assert_eq!(records.len(), RUNS);
    let opts = PlotOptions {
        format,
        ..Default::default()
    };
    let plot = draw_all(&records, &dir.join("figures"), opts).expect("plot");

    let summary = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/chain_summary.csv");
    let theirs = compare::read_summary_csv(&summary).expect("published chain summary");
    let c = compare::compare(&compare::summarize_ours(&records).0, &theirs);
    let cmp = dir.join("compare");
    std::fs::create_dir_all(&cmp).expect("mkdir");
    compare::write_csv(
        &c,
        std::fs::File::create(cmp.join("comparison.csv")).expect("create"),
    )
    .expect("comparison.csv");
    compare::plot(&c, &cmp.join("comparison.svg")).expect("comparison.svg");

    let settings = RunSettings {
        domain: Some(DomainKind::Chain),
        ..Default::default()
    };
    let (run, cfg) =
        imprl::theory::resolve_paper(&settings, None, Some(100), Some(50)).expect("valid");
    let report = imprl::theory::analyze(
        &cfg,
        &run.domain_spec().problem(run.offset, run.seed),
        &mut |_| {},
    );
    let th = dir.join("theory");
    std::fs::create_dir_all(&th).expect("mkdir");
    imprl::theory::output::write_csv(
        std::fs::File::create(th.join("theory.csv")).expect("create"),
        &report,
    )
    .expect("theory.csv");
    // One SVG (and its PNG) per theory figure: the page shows the SVG.
    let theory_figures: Vec<PathBuf> = imprl::theory::output::write_figures(&th, &report)
        .expect("figures")
        .into_iter()
        .filter_map(|files| {
            files
                .into_iter()
                .find(|f| f.extension().is_some_and(|e| e == "svg"))
        })
        .collect();
    Results {
        dir: dir.to_path_buf(),
        plot,
        theory_figures,
    }
}

/// The results directory shared by the tests (made once).
fn results() -> &'static Results {
    static R: OnceLock<Results> = OnceLock::new();
    R.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-results");
        make_results(&dir, Format::Both)
    })
}

fn parse(page: &str) -> roxmltree::Document<'_> {
    let opts = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    roxmltree::Document::parse_with_options(page, opts).expect("the page is well-formed XML")
}

fn by_id<'a, 'i>(doc: &'a roxmltree::Document<'i>, id: &str) -> roxmltree::Node<'a, 'i> {
    doc.descendants()
        .find(|n| n.attribute("id") == Some(id))
        .unwrap_or_else(|| panic!("no element with id {id}"))
}

fn cells<'a, 'i>(row: roxmltree::Node<'a, 'i>) -> Vec<roxmltree::Node<'a, 'i>> {
    row.children()
        .filter(|c| c.is_element() && matches!(c.tag_name().name(), "td" | "th"))
        .collect()
}

fn text(n: roxmltree::Node<'_, '_>) -> String {
    n.descendants()
        .filter(|d| d.is_text())
        .filter_map(|d| d.text())
        .collect()
}

/// Checks that nothing on the page is loaded from elsewhere: every URL attribute is a fragment
/// or a `data:` URI, there is no script, link, frame or CSS import, and the only `http(s)://`
/// strings are XML namespace names.
fn assert_self_contained(page: &str, doc: &roxmltree::Document<'_>) {
    const URL_ATTRS: [&str; 8] = [
        "href",
        "src",
        "srcset",
        "action",
        "formaction",
        "data",
        "poster",
        "background",
    ];
    for n in doc.descendants().filter(|n| n.is_element()) {
        let tag = n.tag_name().name();
        assert!(
            !matches!(
                tag,
                "script" | "link" | "iframe" | "object" | "embed" | "base"
            ),
            "the page has a <{tag}>"
        );
        for a in n.attributes() {
            if URL_ATTRS.contains(&a.name()) {
                let v = a.value();
                assert!(
                    v.starts_with('#') || v.starts_with("data:"),
                    "<{tag} {}=\"{}…\"> refers outside the page",
                    a.name(),
                    &v[..v.len().min(40)]
                );
            }
        }
    }
    let lower = page.to_ascii_lowercase();
    assert!(
        !lower.contains("@import") && !lower.contains("url("),
        "CSS loads a resource"
    );
    let mut rest = page.to_string();
    for ns in [
        "http://www.w3.org/2000/svg",
        "http://www.w3.org/1999/xlink",
        "http://www.w3.org/1999/xhtml",
    ] {
        rest = rest.replace(&format!("\"{ns}\""), "\"\"");
    }
    for scheme in ["http://", "https://"] {
        assert!(
            !rest.contains(scheme),
            "the page holds a {scheme} reference: …{}…",
            &rest[rest.find(scheme).unwrap_or(0)..][..40.min(rest.len())]
        );
    }
}

#[test]
fn the_page_holds_every_figure_and_table_and_nothing_from_outside() {
    let r = results();
    let out = r.dir.join(REPORT_FILE);
    let summary = write_report(&r.dir, &out).expect("report");
    let page = std::fs::read_to_string(&out).expect("page");
    let doc = parse(&page);
    assert_self_contained(&page, &doc);

    // Every figure: the plot's, the comparison's and the theory's, each an inline <svg> equal to
    // the file drawn (SVG is preferred over the PNG of the same figure).
    let figures: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("figure") && n.attribute("class") == Some("imprl-figure"))
        .collect();
    let expected = r.plot.figures.len() + 1 + r.theory_figures.len();
    assert!(r.plot.figures.len() >= 5, "{:?}", r.plot.skipped);
    assert_eq!(figures.len(), expected);
    assert_eq!(summary.figures, expected);
    let body = doc
        .descendants()
        .find(|n| n.has_tag_name("body"))
        .expect("body");
    assert_eq!(
        body.attribute("data-figures"),
        Some(expected.to_string().as_str())
    );
    let mut ids = HashSet::new();
    let mut svgs: Vec<(String, PathBuf)> = r
        .plot
        .figures
        .iter()
        .map(|f| {
            (
                format!("fig-figures-{}", f.name),
                r.dir.join(format!("figures/{}.svg", f.name)),
            )
        })
        .collect();
    svgs.push((
        "fig-compare-comparison".into(),
        r.dir.join("compare/comparison.svg"),
    ));
    for p in &r.theory_figures {
        let stem = p.file_stem().expect("stem").to_string_lossy();
        svgs.push((format!("fig-theory-{stem}"), p.clone()));
    }
    for (id, file) in &svgs {
        let fig = by_id(&doc, id);
        assert!(ids.insert(id.clone()), "id {id} twice");
        let svg = fig
            .children()
            .find(|c| c.has_tag_name("svg"))
            .unwrap_or_else(|| panic!("{id}: no inline svg"));
        let drawn = std::fs::read_to_string(file).expect("svg file");
        assert_eq!(&page[svg.range()], drawn.trim_end(), "{id}");
        let w: f64 = svg
            .attribute("width")
            .expect("width")
            .parse()
            .expect("number");
        let h: f64 = svg
            .attribute("height")
            .expect("height")
            .parse()
            .expect("number");
        assert!(w > 0.0 && h > 0.0, "{id}: {w}x{h}");
    }
    for f in &r.plot.figures {
        let fig = by_id(&doc, &format!("fig-figures-{}", f.name));
        let svg = fig.children().find(|c| c.has_tag_name("svg")).expect("svg");
        assert_eq!(svg.attribute("width"), Some(f.size.0.to_string().as_str()));
        // Its numbers are a download of the figure's own CSV.
        let link = fig
            .descendants()
            .find(|n| n.has_tag_name("a") && n.attribute("download").is_some())
            .expect("a download of the figure's table");
        let href = link.attribute("href").expect("href");
        let b64 = href
            .strip_prefix("data:text/csv;base64,")
            .expect("a CSV data URI");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("base64");
        assert_eq!(bytes, std::fs::read(&f.table).expect("table"));
    }

    // The comparison table: the CSV's header and every row, in order.
    let (header, rows) = csv_table(&r.dir.join("compare/comparison.csv"));
    assert!(!rows.is_empty());
    let table = by_id(&doc, "table-compare-comparison");
    let trs: Vec<_> = table
        .descendants()
        .filter(|n| n.has_tag_name("tr"))
        .collect();
    assert_eq!(trs.len(), rows.len() + 1);
    let head: Vec<String> = cells(trs[0]).into_iter().map(text).collect();
    assert_eq!(head, header);
    for (tr, row) in trs[1..].iter().zip(&rows) {
        let shown: Vec<_> = cells(*tr)
            .into_iter()
            .map(|c| {
                c.attribute("title")
                    .map(String::from)
                    .unwrap_or_else(|| text(c))
            })
            .collect();
        assert_eq!(&shown, row);
    }

    // The theory table, one row per quantity and one column per checkpoint.
    let (header, rows) = csv_table(&r.dir.join("theory/theory.csv"));
    let table = by_id(&doc, "table-theory-theory");
    let trs: Vec<_> = table
        .descendants()
        .filter(|n| n.has_tag_name("tr"))
        .collect();
    assert_eq!(trs.len(), header.len());
    assert_eq!(text(cells(trs[0])[0]), "step");
    let steps: Vec<String> = cells(trs[0])[1..].iter().map(|c| text(*c)).collect();
    let expected_steps: Vec<String> = rows.iter().map(|r| r[0].clone()).collect();
    assert_eq!(steps, expected_steps);

    // The learning rates of the figures.
    by_id(&doc, "table-figures-best_lr");
    assert_eq!(summary.tables, 3);

    // Settings and version.
    let provenance = text(by_id(&doc, "provenance"));
    assert!(provenance.contains(&format!("imprl {}", env!("CARGO_PKG_VERSION"))));
    let settings = by_id(&doc, "distinct-settings");
    let rows: Vec<Vec<String>> = settings
        .descendants()
        .filter(|n| n.has_tag_name("tr"))
        .map(|tr| cells(tr).into_iter().map(text).collect())
        .collect();
    let row = |name: &str| {
        rows.iter()
            .find(|r| r[0] == name)
            .unwrap_or_else(|| panic!("no setting {name}: {rows:?}"))
            .clone()
    };
    assert_eq!(row("domain"), ["domain", "1", "chain"]);
    assert_eq!(row("param"), ["param", "2", "explicit, implicit"]);
    assert_eq!(row("eta"), ["eta", "2", "0.9, 0.95"]);
    assert_eq!(row("offset"), ["offset", "2", "0, 1"]);
    assert_eq!(row("seed"), ["seed", "3", "0–2"]);
    assert_eq!(row("steps"), ["steps", "1", "300"]);
    let records = Store::open(&r.dir)
        .expect("store")
        .load_all()
        .expect("load");
    let mut lrs: Vec<f64> = records.iter().map(|rec| rec.config.lr).collect();
    lrs.sort_by(f64::total_cmp);
    lrs.dedup();
    let lr_text: Vec<String> = lrs.iter().map(f64::to_string).collect();
    assert_eq!(
        row("lr"),
        ["lr".to_string(), lrs.len().to_string(), lr_text.join(", ")]
    );
    let names: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        &names[..6],
        ["domain", "param", "eta", "lr", "offset", "seed"]
    );
    assert_eq!(summary.runs, RUNS);

    // The same directory gives the same page.
    let (again, _) = render(&r.dir).expect("render");
    assert!(again == page, "a second rendering differs");
}

#[test]
fn png_figures_are_embedded_as_data_uris() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-png");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("clean");
    }
    sweep_into(&dir);
    let records = Store::open(&dir).expect("store").load_all().expect("load");
    let opts = PlotOptions {
        format: Format::Png,
        ..Default::default()
    };
    let plot = draw_all(&records, &dir.join("figures"), opts).expect("plot");
    let (page, summary) = render(&dir).expect("render");
    let doc = parse(&page);
    assert_self_contained(&page, &doc);
    assert_eq!(summary.figures, plot.figures.len());
    for f in &plot.figures {
        let fig = by_id(&doc, &format!("fig-figures-{}", f.name));
        let img = fig.children().find(|c| c.has_tag_name("img")).expect("img");
        let b64 = img
            .attribute("src")
            .and_then(|s| s.strip_prefix("data:image/png;base64,"))
            .expect("a PNG data URI");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("base64");
        assert_eq!(bytes, std::fs::read(&f.images[0]).expect("png"));
        assert_eq!(img.attribute("width"), Some(f.size.0.to_string().as_str()));
        assert_eq!(img.attribute("height"), Some(f.size.1.to_string().as_str()));
    }
    // No comparison and no theory here: the page says so instead of failing.
    assert!(page.contains("No comparison in") && page.contains("No theory analysis in"));
}

#[test]
fn a_directory_without_a_store_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    match render(dir.path()) {
        Err(ReportError::NoStore(p)) => assert_eq!(p, dir.path()),
        other => panic!("expected NoStore, got {:?}", other.map(|r| r.1)),
    }
    assert!(
        !dir.path().join("results.sqlite").exists(),
        "render created a store"
    );
}

#[test]
fn a_broken_figure_is_a_typed_error_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    Store::open(dir.path()).expect("store");
    let figs = dir.path().join("figures");
    std::fs::create_dir_all(&figs).expect("mkdir");
    std::fs::write(figs.join("fig1_initial_residual.svg"), "<svg width=\"1\"").expect("write");
    let e = render(dir.path()).expect_err("a truncated svg");
    assert!(matches!(e, ReportError::Image { .. }), "{e:?}");
    assert!(e.to_string().contains("fig1_initial_residual.svg"), "{e}");
}

/// Opens the page in headless Chromium (`tests/browser/report_page.sh`) when it is installed,
/// and is skipped otherwise unless `IMPRL_REQUIRE_BROWSER=1` (as `.ci/report-browser-check`
/// sets it, so that CI cannot skip it).
#[test]
fn report_in_browser() {
    let chromium = Path::new("/usr/bin/chromium");
    if !chromium.exists() {
        let required = std::env::var("IMPRL_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "IMPRL_REQUIRE_BROWSER=1 and no {}",
            chromium.display()
        );
        eprintln!("report_in_browser: skipped (no {})", chromium.display());
        return;
    }
    let r = results();
    let page = r.dir.join("browser.html");
    write_report(&r.dir, &page).expect("report");
    let shot = r.dir.join("browser.png");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser/report_page.sh");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .arg(&page)
        .arg(&shot)
        .output()
        .expect("run the browser check");
    assert!(
        out.status.success(),
        "browser check failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
    eprintln!("{}", String::from_utf8_lossy(&out.stdout).trim_end());
}

/// The self-containment check above fails on a page that loads anything from elsewhere.
#[test]
fn the_self_containment_check_catches_remote_references() {
    let remote = [
        r#"<html><body><img src="https://example.org/a.png"/></body></html>"#,
        r#"<html><body><a href="http://example.org/">x</a></body></html>"#,
        r#"<html><head><link rel="stylesheet" href="data:text/css,"/></head><body/></html>"#,
        r#"<html><head><style>body { background: url(a.png) }</style></head><body/></html>"#,
        r#"<html><body><p>see https://example.org</p></body></html>"#,
    ];
    for page in remote {
        let caught = std::panic::catch_unwind(|| assert_self_contained(page, &parse(page)));
        assert!(caught.is_err(), "not caught: {page}");
    }
    let local = r##"<html><body><a href="#x">x</a><svg xmlns="http://www.w3.org/2000/svg"/></body></html>"##;
    assert_self_contained(local, &parse(local));
}
