//! `imprl values` against the arrays it draws: its CSV tables hold the saved runs' numbers
//! (`V̂ = features_test · θ` of an `imprl run --save-params` run with the same settings, `σ(F)`
//! the softmax of the saved logits), drawing saved files gives the same tables as training,
//! and bad input exits 2 before any work.

mod common;

use common::{csv_table, imprl};
use imprl::data::dot;
use imprl::npz::NamedArray;
use std::path::Path;

fn f64s<'a>(arrays: &'a [NamedArray], name: &str) -> &'a [f64] {
    arrays
        .iter()
        .find(|a| a.name == name)
        .and_then(NamedArray::as_f64)
        .unwrap_or_else(|| panic!("no array {name}"))
}

/// Saves run `args` (`--param P` added) to `dir/P.npz`; returns its arrays.
fn save(dir: &Path, args: &[&str], param: &str, every: bool) -> Vec<NamedArray> {
    let path = dir.join(format!("{param}.npz"));
    let mut cmd = imprl();
    cmd.arg("run")
        .args(args)
        .args(["--param", param, "--out"])
        .arg(dir.join(format!("{param}.csv")))
        .arg("--save-params")
        .arg(&path);
    if every {
        cmd.args(["--save-every", "10"]);
    }
    cmd.assert().success();
    imprl::npz::read(&path).expect("npz")
}

#[test]
fn chain_tables_hold_the_saved_runs_predictions_and_model() {
    let dir = tempfile::tempdir().expect("tmp");
    let settings = ["--domain", "chain", "--offset", "1", "--seed", "3"];
    let out = dir.path().join("values");
    imprl()
        .arg("values")
        .args(settings)
        .arg("--out")
        .arg(&out)
        .args(["--format", "svg"])
        .assert()
        .success();
    for f in [
        "values.svg",
        "values.csv",
        "model.svg",
        "model.csv",
        "model_spectrum.svg",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let (header, rows) = csv_table(&out.join("values.csv"));
    assert_eq!(header, ["state", "v_true", "param", "step", "v_hat"]);
    for param in ["implicit", "explicit"] {
        let a = save(dir.path(), &settings, param, true);
        let (x, theta) = (f64s(&a, "features_test"), f64s(&a, "theta"));
        let k = 11;
        let last = &theta[theta.len() - k..];
        let mine: Vec<&Vec<String>> = rows
            .iter()
            .filter(|r| r[2] == param && r[3] == "300")
            .collect();
        assert_eq!(mine.len(), 11, "{param}");
        for r in mine {
            let s: usize = r[0].parse().expect("state");
            let v: f64 = r[4].parse().expect("v_hat");
            assert_eq!(v, dot(&x[s * k..(s + 1) * k], last), "{param} state {s}");
            let truth: f64 = r[1].parse().expect("v_true");
            assert_eq!(truth, f64s(&a, "targets_test")[s]);
        }
        // The checkpoints drawn: 0, 10, 100 and the last.
        let mut steps: Vec<&str> = rows
            .iter()
            .filter(|r| r[2] == param)
            .map(|r| r[3].as_str())
            .collect();
        steps.dedup();
        assert_eq!(steps, ["0", "10", "100", "300"], "{param}");
    }
    // σ(F): the softmax of the saved final logits, row by row.
    let a = imprl::npz::read(&dir.path().join("implicit.npz")).expect("npz");
    let f = f64s(&a, "logits");
    let f = &f[f.len() - 121..];
    let (_, model) = csv_table(&out.join("model.csv"));
    assert_eq!(model.len(), 121);
    for r in &model {
        let (i, j): (usize, usize) = (r[0].parse().expect("i"), r[1].parse().expect("j"));
        let row = &f[i * 11..(i + 1) * 11];
        let z: f64 = row.iter().map(|x| x.exp()).sum();
        let s: f64 = r[2].parse().expect("sigma");
        assert!((s - row[j].exp() / z).abs() < 1e-14, "({i}, {j})");
    }
    // Drawn from the saved files instead: the same tables.
    let again = dir.path().join("again");
    imprl()
        .arg("values")
        .arg("--params")
        .arg(dir.path().join("implicit.npz"))
        .arg(dir.path().join("explicit.npz"))
        .arg("--out")
        .arg(&again)
        .args(["--format", "png"])
        .assert()
        .success();
    for t in ["values.csv", "model.csv", "model_spectrum.csv"] {
        assert_eq!(
            std::fs::read(out.join(t)).expect("first"),
            std::fs::read(again.join(t)).expect("again"),
            "{t}"
        );
    }
    assert!(again.join("values.png").is_file());
}

#[test]
fn four_rooms_grid_holds_the_saved_predictions() {
    let dir = tempfile::tempdir().expect("tmp");
    let settings = ["--domain", "four-rooms", "--steps", "40", "--seed", "1"];
    let out = dir.path().join("values");
    imprl()
        .arg("values")
        .args(settings)
        .arg("--out")
        .arg(&out)
        .args(["--format", "svg"])
        .assert()
        .success();
    let (header, rows) = csv_table(&out.join("values.csv"));
    assert_eq!(
        header,
        ["row", "col", "wall", "v_true", "v_implicit", "v_explicit"]
    );
    assert_eq!(rows.len(), 121);
    assert_eq!(rows.iter().filter(|r| r[2] == "true").count(), 17);
    for (col, param) in [(4, "implicit"), (5, "explicit")] {
        let a = save(dir.path(), &settings, param, false);
        let (x, theta) = (f64s(&a, "features_test"), f64s(&a, "theta"));
        for (s, r) in rows.iter().enumerate() {
            let v: f64 = r[col].parse().expect("v");
            assert_eq!(
                v,
                dot(&x[s * 121..(s + 1) * 121], theta),
                "{param} cell {s}"
            );
        }
    }
}

#[test]
fn bad_input_exits_2_before_any_work() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("never");
    let junk = dir.path().join("junk.npz");
    std::fs::write(&junk, b"not a zip").expect("write");
    let cases: Vec<Vec<String>> = vec![
        vec![
            "--domain".into(),
            "chain".into(),
            "--param".into(),
            "implicit".into(),
        ],
        vec!["--params".into(), junk.display().to_string()],
        vec![
            "--params".into(),
            dir.path().join("missing.npz").display().to_string(),
        ],
        vec!["--domain".into(), "nowhere".into()],
        vec![
            "--domain".into(),
            "chain".into(),
            "--lr".into(),
            "-1".into(),
        ],
    ];
    for args in cases {
        let o = imprl()
            .arg("values")
            .args(&args)
            .arg("--out")
            .arg(&out)
            .output()
            .expect("runs");
        assert_eq!(o.status.code(), Some(2), "{args:?}: {o:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(!out.exists(), "{args:?} wrote output");
    }
    // Saved runs take no run settings.
    let a = dir.path().join("a.npz");
    imprl()
        .args([
            "run", "--domain", "chain", "--param", "explicit", "--steps", "5", "--out",
        ])
        .arg(dir.path().join("log.csv"))
        .arg("--save-params")
        .arg(&a)
        .assert()
        .success();
    let o = imprl()
        .args(["values", "--domain", "chain", "--params"])
        .arg(&a)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("params"));
}

#[test]
fn mountain_car_points_hold_the_saved_predictions() {
    let dir = tempfile::tempdir().expect("tmp");
    let settings = ["--domain", "mountain-car", "--steps", "5"];
    let out = dir.path().join("values");
    imprl()
        .arg("values")
        .args(settings)
        .arg("--out")
        .arg(&out)
        .args(["--format", "png"])
        .assert()
        .success();
    let (header, rows) = csv_table(&out.join("values_points.csv"));
    assert_eq!(
        header,
        [
            "position",
            "velocity",
            "mc_return",
            "v_implicit",
            "v_explicit"
        ]
    );
    assert_eq!(rows.len(), 1000);
    let a = save(dir.path(), &settings, "implicit", false);
    let (x, theta, y) = (
        f64s(&a, "features_test"),
        f64s(&a, "theta"),
        f64s(&a, "targets_test"),
    );
    for (i, r) in rows.iter().enumerate() {
        let v: f64 = r[3].parse().expect("v");
        assert_eq!(v, dot(&x[i * 400..(i + 1) * 400], theta), "row {i}");
        assert_eq!(r[2].parse::<f64>().expect("mc"), y[i]);
        // The drawn state has the test row's features.
        let s = [
            r[0].parse::<f64>().expect("x"),
            r[1].parse::<f64>().expect("v"),
        ];
        let phi = imprl::domain::mountain_car::rbf().features(s);
        let err = phi
            .iter()
            .zip(&x[i * 400..(i + 1) * 400])
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        assert!(err < 1e-9, "row {i}: {err}");
    }
    // The grid table: 60 x 60 per model.
    let (_, grid) = csv_table(&out.join("values.csv"));
    assert_eq!(grid.len(), 2 * 3600);
}

#[test]
fn the_report_page_shows_the_values_figures() {
    let dir = tempfile::tempdir().expect("tmp");
    let grid = imprl::sweep::Grid::from_toml_table(
        &toml::from_str("domain = \"chain\"\nparam = \"explicit\"\nsteps = 10\n").expect("toml"),
    )
    .expect("grid");
    let mut store = imprl::store::Store::open(dir.path()).expect("store");
    imprl::sweep::execute(
        grid.runs(),
        &mut store,
        &imprl::sweep::SweepOptions::default(),
        &mut imprl::train::Silent,
    )
    .expect("sweep");
    drop(store);
    let (before, _) = imprl::report::render(dir.path()).expect("page");
    assert!(!before.contains("What was learned"));
    imprl()
        .args([
            "values", "--domain", "chain", "--steps", "20", "--format", "svg", "--out",
        ])
        .arg(dir.path().join("values"))
        .assert()
        .success();
    let (page, summary) = imprl::report::render(dir.path()).expect("page");
    assert!(page.contains("<h2>What was learned</h2>"));
    assert!(summary.figures >= 3, "{}", summary.figures);
}
