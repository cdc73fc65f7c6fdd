//! Figures from a tiny real sweep: every file exists, SVGs parse, PNGs decode at the expected
//! size, and each figure's table agrees with an aggregation computed here independently.

use imprl::config::RunSettings;
use imprl::domain::DomainKind;
use imprl::param::ParamKind;
use imprl::plot::{draw_all, draw_all_noted, BestLr, Format, PlotOptions, PlotReport};
use imprl::published::best_lr;
use imprl::record::RunRecord;
use imprl::train::Silent;
use std::collections::HashMap;
use std::path::Path;

const SEEDS: u64 = 3;
const OFFSETS: [f64; 3] = [0.0, 0.5, 1.0];
const ETAS: [f64; 2] = [0.9, 0.95];

fn lrs(p: ParamKind) -> [f64; 2] {
    match p {
        ParamKind::Explicit => [0.5, 0.125],
        _ => [2f64.powi(-6), 2f64.powi(-4)],
    }
}

/// A tiny chain sweep: 2 params × 2 η × 2 lr × 3 offsets × 3 seeds, 40 updates each.
fn tiny_sweep() -> Vec<RunRecord> {
    let mut out = Vec::new();
    for p in [ParamKind::Explicit, ParamKind::Implicit] {
        for eta in ETAS {
            for lr in lrs(p) {
                for offset in OFFSETS {
                    for seed in 0..SEEDS {
                        let config = RunSettings {
                            domain: Some(DomainKind::Chain),
                            param: Some(p),
                            eta: Some(eta),
                            lr: Some(lr),
                            offset: Some(offset),
                            seed: Some(seed),
                            steps: Some(40),
                            ..Default::default()
                        }
                        .resolve()
                        .expect("valid");
                        let log = imprl::run::run(&config, &mut Silent).expect("runs").log;
                        out.push(RunRecord {
                            theta: None,
                            config,
                            outcome: log.outcome,
                            runtime_s: 0.0,
                            rows: log.rows,
                        });
                    }
                }
            }
        }
    }
    out
}

fn mean_sd(xs: &[f64]) -> (usize, f64, f64) {
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    (xs.len(), m, var.sqrt())
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * (1.0 + a.abs().max(b.abs()))
}

/// The CSV as rows of column name → value.
fn read_table(path: &Path) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).expect("table");
    let header = r.headers().expect("header").clone();
    r.records()
        .map(|row| {
            let row = row.expect("row");
            header
                .iter()
                .zip(row.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn num(row: &HashMap<String, String>, col: &str) -> f64 {
    row[col]
        .parse()
        .unwrap_or_else(|_| panic!("{col}: {}", row[col]))
}

/// Records of the row's configuration.
fn matching<'a>(recs: &'a [RunRecord], row: &HashMap<String, String>) -> Vec<&'a RunRecord> {
    recs.iter()
        .filter(|r| {
            r.config.domain.name() == row["domain"]
                && r.config.param.name() == row["param"]
                && r.config.eta == num(row, "eta")
                && r.config.lr == num(row, "lr")
                && r.config.offset == num(row, "offset")
        })
        .collect()
}

fn finals(runs: &[&RunRecord]) -> Vec<f64> {
    runs.iter()
        .filter(|r| r.outcome.diverged_at().is_none())
        .map(|r| r.rows.last().expect("rows").residual_norm)
        .collect()
}

fn figure<'a>(rep: &'a PlotReport, name: &str) -> &'a imprl::plot::DrawnFigure {
    rep.figures
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("{name} missing; skipped: {:?}", rep.skipped))
}

#[test]
fn tiny_sweep_gives_every_figure_and_correct_tables() {
    let recs = tiny_sweep();
    let dir = tempfile::tempdir().expect("tmp");
    let rep = draw_all(&recs, dir.path(), PlotOptions::default()).expect("draws");
    if let Some(keep) = std::env::var_os("IMPRL_PLOT_KEEP") {
        // For looking at the figures: IMPRL_PLOT_KEEP=/some/dir cargo test --test plot
        draw_all(&recs, Path::new(&keep), PlotOptions::default()).expect("draws");
    }
    let names = [
        "fig1_initial_residual",
        "fig2_final_vs_offset",
        "fig3_final_vs_eta",
        "lr_chain_explicit",
        "lr_chain_implicit",
        "curves_best",
    ];
    for name in names {
        let f = figure(&rep, name);
        assert_eq!(f.images.len(), 2, "{name}");
        for img in &f.images {
            assert!(img.exists(), "{}", img.display());
            match img.extension().and_then(|e| e.to_str()) {
                Some("svg") => {
                    let text = std::fs::read_to_string(img).expect("svg");
                    let doc = roxmltree::Document::parse(&text).expect("svg is XML");
                    assert_eq!(doc.root_element().tag_name().name(), "svg");
                    assert!(text.contains("‖r‖₂") || text.contains("r∥"), "{name}");
                }
                Some("png") => {
                    let im = image::open(img).expect("png decodes");
                    assert_eq!((im.width(), im.height()), f.size, "{name}");
                }
                other => panic!("unexpected image {other:?}"),
            }
        }
        assert!(f.table.exists());
    }
    // Only the chain was run: the other domains are not drawn, and nothing is skipped for them
    // because they have no runs at all.
    assert!(rep.skipped.is_empty(), "{:?}", rep.skipped);

    // Figure 1: initial components at η = 0.95, implicit at the best lr, per offset.
    let t = read_table(&figure(&rep, "fig1_initial_residual").table);
    assert_eq!(t.len(), OFFSETS.len());
    for row in &t {
        assert_eq!(row["param"], "implicit");
        assert_eq!(num(row, "eta"), 0.95);
        assert_eq!(num(row, "lr"), 2f64.powi(-6));
        let runs = matching(&recs, row);
        let ones: Vec<f64> = runs.iter().map(|r| r.rows[0].res_ones_norm).collect();
        let ortho: Vec<f64> = runs.iter().map(|r| r.rows[0].res_ortho_norm).collect();
        let (n, m1, s1) = mean_sd(&ones);
        let (_, m2, s2) = mean_sd(&ortho);
        assert_eq!(num(row, "n") as usize, n);
        assert_eq!(n, SEEDS as usize);
        assert!(close(num(row, "ones_mean"), m1) && close(num(row, "ones_sd"), s1));
        assert!(close(num(row, "ortho_mean"), m2) && close(num(row, "ortho_sd"), s2));
    }

    // Figures 2, 3 and the per-lr panels: final ‖r‖ over finished seeds.
    let check_final = |name: &str, expect_rows: usize| {
        let t = read_table(&figure(&rep, name).table);
        assert_eq!(t.len(), expect_rows, "{name}");
        for row in &t {
            let runs = matching(&recs, row);
            assert_eq!(num(row, "runs") as usize, runs.len(), "{name}");
            let f = finals(&runs);
            assert_eq!(num(row, "diverged") as usize, runs.len() - f.len());
            let (n, m, s) = mean_sd(&f);
            assert_eq!(num(row, "n") as usize, n);
            assert!(close(num(row, "mean"), m), "{name}: {} vs {m}", row["mean"]);
            assert!(close(num(row, "sd"), s), "{name}: {} vs {s}", row["sd"]);
        }
        t
    };
    let t2 = check_final("fig2_final_vs_offset", 2 * OFFSETS.len());
    for row in &t2 {
        let p = ParamKind::from_name(&row["param"]).expect("param");
        assert_eq!(num(row, "eta"), 0.95);
        assert_eq!(num(row, "lr"), best_lr(DomainKind::Chain, p, 0.95));
    }
    let t3 = check_final("fig3_final_vs_eta", ETAS.len() * OFFSETS.len());
    assert!(t3.iter().all(|r| r["param"] == "implicit"));
    let all = ETAS.len() * 2 * OFFSETS.len();
    for p in ["explicit", "implicit"] {
        let t = check_final(&format!("lr_chain_{p}"), all);
        assert_eq!(
            t.iter().filter(|r| r["best"] == "true").count(),
            ETAS.len() * OFFSETS.len()
        );
    }

    // Learning curves: per timestep mean and sd over seeds.
    let t = read_table(&figure(&rep, "curves_best").table);
    assert_eq!(t.len(), 2 * 2 * 5, "2 params × 2 offsets × 5 evaluations");
    for row in &t {
        let step = num(row, "timestep") as usize;
        let v: Vec<f64> = matching(&recs, row)
            .iter()
            .map(|r| {
                r.rows
                    .iter()
                    .find(|x| x.timestep == step)
                    .expect("step")
                    .residual_norm
            })
            .collect();
        let (n, m, s) = mean_sd(&v);
        assert_eq!(num(row, "n") as usize, n);
        assert!(close(num(row, "mean"), m) && close(num(row, "sd"), s));
    }
}

#[test]
fn auto_best_and_partial_grids() {
    let recs = tiny_sweep();
    // Auto: the table of chosen rates holds, per (param, η), the lr of lowest mean final ‖r‖.
    let dir = tempfile::tempdir().expect("tmp");
    let opts = PlotOptions {
        format: Format::Svg,
        best: BestLr::Auto,
    };
    let rep = draw_all(&recs, dir.path(), opts).expect("draws");
    assert!(rep
        .files()
        .iter()
        .all(|f| f.extension().is_some_and(|e| e != "png")));
    // A title note changes the titles only: every image names it, every table is the same.
    let noted_dir = tempfile::tempdir().expect("tmp");
    let noted = draw_all_noted(&recs, noted_dir.path(), opts, Some("targets = mc")).expect("draws");
    assert_eq!(noted.files().len(), rep.files().len());
    for f in rep.files() {
        let name = f.file_name().expect("file name");
        let (a, b) = (
            std::fs::read(&f).expect("read"),
            std::fs::read(noted_dir.path().join(name)).expect("read"),
        );
        let has_note = |x: &[u8]| String::from_utf8_lossy(x).contains("(targets = mc)");
        if f.extension().is_some_and(|e| e == "svg") {
            assert!(!has_note(&a) && has_note(&b), "{f:?}");
        } else {
            assert_eq!(a, b, "{f:?}");
        }
    }
    for row in read_table(&dir.path().join("best_lr.csv")) {
        let p = ParamKind::from_name(&row["param"]).expect("param");
        let eta = num(&row, "eta");
        let score = |lr: f64| {
            let per_offset: Vec<f64> = OFFSETS
                .iter()
                .map(|&o| {
                    let runs: Vec<&RunRecord> = recs
                        .iter()
                        .filter(|r| {
                            r.config.param == p
                                && r.config.eta == eta
                                && r.config.lr == lr
                                && r.config.offset == o
                        })
                        .collect();
                    mean_sd(&finals(&runs)).1
                })
                .collect();
            per_offset.iter().sum::<f64>() / per_offset.len() as f64
        };
        let [a, b] = lrs(p);
        let expect = if score(a) <= score(b) { a } else { b };
        assert_eq!(num(&row, "lr"), expect, "{p} {eta}");
    }

    // Only explicit runs at η = 0.9: figures 2, 3 and the curves cannot be drawn.
    let part: Vec<RunRecord> = recs
        .into_iter()
        .filter(|r| r.config.param == ParamKind::Explicit && r.config.eta == 0.9)
        .collect();
    let dir = tempfile::tempdir().expect("tmp");
    let rep = draw_all(&part, dir.path(), PlotOptions::default()).expect("draws");
    let drawn: Vec<&str> = rep.figures.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(drawn, ["lr_chain_explicit"]);
    let skipped: Vec<&str> = rep.skipped.iter().map(|s| s.0.as_str()).collect();
    for what in ["figure 1", "figure 2", "figure 3", "learning curves"] {
        assert!(
            skipped.contains(&what),
            "{what} not reported: {:?}",
            rep.skipped
        );
    }
    assert!(rep.skipped.iter().all(|s| !s.1.is_empty()));

    // No runs at all: nothing drawn, one reason.
    let rep = draw_all(&[], dir.path(), PlotOptions::default()).expect("ok");
    assert!(rep.figures.is_empty() && rep.skipped.len() == 1);
}

/// Runs of other settings (here fewer updates, another solver) are not pooled into the cells
/// of the figures: the tables are those of the store without them, and the report lists them
/// per figure with the settings that differ.
#[test]
fn other_settings_are_reported_not_pooled() {
    let recs = tiny_sweep();
    let mut mixed = recs.clone();
    for r in recs.iter().take(6) {
        let mut short = r.clone();
        short.config.steps = 20;
        short.rows.truncate(3);
        mixed.push(short);
        let mut lu = r.clone();
        lu.config.solver = imprl::linalg::SolverKind::Lu;
        lu.rows.last_mut().expect("rows").residual_norm *= 10.0;
        mixed.push(lu);
    }
    let opts = PlotOptions {
        format: Format::Svg,
        best: BestLr::Published,
    };
    let (a, b) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let alone = draw_all(&recs, a.path(), opts).expect("draws");
    let with = draw_all(&mixed, b.path(), opts).expect("draws");
    for f in &alone.figures {
        let name = format!("{}.csv", f.name);
        assert_eq!(
            std::fs::read(a.path().join(&name)).expect("csv"),
            std::fs::read(b.path().join(&name)).expect("csv"),
            "{name}"
        );
    }
    assert!(alone.skipped.is_empty(), "{:?}", alone.skipped);
    let lr = with
        .skipped
        .iter()
        .find(|s| s.0 == "lr_chain_explicit")
        .expect("lr figure notes the other runs");
    assert!(
        lr.1.contains("steps=20") && lr.1.contains("solver=lu"),
        "{}",
        lr.1
    );
}
