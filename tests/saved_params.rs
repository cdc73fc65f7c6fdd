//! What a run learned, saved (`imprl run --save-params`, `imprl::saved`), against oracles: the
//! predictions are `Φθ`, the residual computed from the saved arrays is the logged one, the
//! implicit model's `θ̂` solves its saved parameters' fixed point, `M w` is explicit-matrix's
//! `θ`, checkpoints come at the steps asked for, and a diverged run keeps its last finite
//! parameters.

use assert_cmd::Command;
use imprl::config::{RunConfig, RunSettings};
use imprl::data::dot;
use imprl::npz::{ArrayData, NamedArray};
use imprl::param::{Implicit, ImplicitFamily, Parameterization, Reduce};
use imprl::train::Silent;

fn config(toml: &str) -> RunConfig {
    RunSettings::from_toml_table(&toml.parse().expect("toml"))
        .and_then(|s| s.resolve())
        .expect("valid settings")
}

fn get<'a>(arrays: &'a [NamedArray], name: &str) -> &'a NamedArray {
    arrays
        .iter()
        .find(|a| a.name == name)
        .unwrap_or_else(|| panic!("no array {name}"))
}

fn f64s<'a>(arrays: &'a [NamedArray], name: &str) -> &'a [f64] {
    get(arrays, name).as_f64().expect("float64")
}

fn int(arrays: &[NamedArray], name: &str) -> Vec<i64> {
    match &get(arrays, name).data {
        ArrayData::I64(v) => v.clone(),
        d => panic!("{name}: {d:?}"),
    }
}

/// Runs `cfg` saving its parameters (checkpoints every `every`); returns the log and arrays.
fn saved(cfg: &RunConfig, every: Option<usize>) -> (imprl::train::RunLog, Vec<NamedArray>) {
    let problem = imprl::run::problem(cfg).expect("data");
    let (trained, arrays) =
        imprl::saved::run_saving(cfg, &problem, every, &mut Silent).expect("runs");
    (trained.log, arrays)
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}

/// The residual norm of the saved predictions against the saved targets.
fn residual_norm(values: &[f64], targets: &[f64]) -> f64 {
    values
        .iter()
        .zip(targets)
        .map(|(v, y)| (v - y) * (v - y))
        .sum::<f64>()
        .sqrt()
}

#[test]
fn predictions_are_phi_theta_and_give_the_logged_residual() {
    for (domain, param) in [
        ("chain", "implicit"),
        ("four-rooms", "explicit"),
        ("mountain-car", "explicit-matrix"),
        ("four-rooms", "implicit"),
    ] {
        let cfg = config(&format!(
            "domain = '{domain}'\nparam = '{param}'\nsteps = 60\nseed = 4\noffset = 0.5"
        ));
        let (log, a) = saved(&cfg, None);
        let (theta, x) = (f64s(&a, "theta"), f64s(&a, "features_test"));
        let (values, targets) = (f64s(&a, "values_test"), f64s(&a, "targets_test"));
        let k = theta.len();
        assert_eq!(get(&a, "features_test").shape, vec![targets.len(), k]);
        for (i, v) in values.iter().enumerate() {
            assert_eq!(*v, dot(&x[i * k..(i + 1) * k], theta), "{domain} {param}");
        }
        let last = log.rows.last().expect("evaluated");
        assert_eq!(int(&a, "timestep"), vec![last.timestep as i64]);
        assert!(
            rel(residual_norm(values, targets), last.residual_norm) < 1e-9,
            "{domain} {param}"
        );
        assert_eq!(int(&a, "diverged_at"), vec![-1]);
        // The settings read back to the run, the learning rate used included.
        let text = match &get(&a, "settings").data {
            ArrayData::Text(t) => t.clone(),
            d => panic!("{d:?}"),
        };
        assert_eq!(config(&text), cfg);
    }
}

#[test]
fn the_implicit_theta_solves_its_saved_parameters() {
    let cfg = config("domain = 'four-rooms'\nparam = 'implicit'\nsteps = 40\neta = 0.9");
    let (_, a) = saved(&cfg, None);
    let (w, f, eta) = (f64s(&a, "w"), f64s(&a, "logits"), f64s(&a, "eta"));
    assert_eq!(get(&a, "logits").shape, vec![w.len(), w.len()]);
    assert_eq!(get(&a, "eta").shape, Vec::<usize>::new());
    let solved = Implicit::from_params(w.to_vec(), f.to_vec(), eta[0]).expect("solvable");
    for (x, y) in solved.theta().iter().zip(f64s(&a, "theta")) {
        assert!(rel(*x, *y) < 1e-9 || (x - y).abs() < 1e-12, "{x} vs {y}");
    }
}

#[test]
fn the_family_saves_its_tensors_and_its_fixed_point() {
    let cfg = config(
        "domain = 'chain'\nparam = 'implicit'\nsteps = 30\nactions = 3\nreduce = 'logsumexp'\nlearn_eta = 'per-state-action'",
    );
    let (_, a) = saved(&cfg, None);
    let k = 11;
    assert_eq!(get(&a, "w").shape, vec![k, 3]);
    assert_eq!(get(&a, "logits").shape, vec![k, 3, k]);
    assert_eq!(get(&a, "eta").shape, vec![k, 3]);
    assert_eq!(get(&a, "rho").shape, vec![k, 3]);
    let (rho, eta) = (f64s(&a, "rho"), f64s(&a, "eta"));
    for (r, e) in rho.iter().zip(eta) {
        assert!((imprl::param::sigmoid(*r) - e).abs() < 1e-15);
    }
    // θ̂ = logsumexp_a(w_{·a} + η_{·a} S_a θ̂) at the saved parameters.
    let theta = f64s(&a, "theta");
    let (w, f) = (f64s(&a, "w"), f64s(&a, "logits"));
    let mut s = vec![0.0; f.len()];
    imprl::linalg::softmax_each_row(f, k, &mut s);
    for kk in 0..k {
        let q: Vec<f64> = (0..3)
            .map(|m| {
                let r = kk * 3 + m;
                w[r] + eta[r] * dot(&s[r * k..(r + 1) * k], theta)
            })
            .collect();
        let mx = q.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = mx + q.iter().map(|x| (x - mx).exp()).sum::<f64>().ln();
        assert!(
            (lse - theta[kk]).abs() < 1e-8 * (1.0 + theta[kk].abs()),
            "{kk}"
        );
    }
    // A fixed discount with m > 1 is one scalar η, and the model rebuilt from the arrays has
    // the same θ̂.
    let cfg = config("domain = 'chain'\nparam = 'implicit'\nsteps = 30\nactions = 2");
    let (_, a) = saved(&cfg, None);
    assert!(get(&a, "eta").shape.is_empty());
    assert!(a.iter().all(|x| x.name != "rho"));
    let fam = ImplicitFamily::from_params(
        (k, 2),
        f64s(&a, "w").to_vec(),
        f64s(&a, "logits").to_vec(),
        f64s(&a, "eta")[0],
        (Reduce::Max, 1.0),
    )
    .expect("solvable");
    for (x, y) in fam.theta().iter().zip(f64s(&a, "theta")) {
        assert!((x - y).abs() < 1e-9 * (1.0 + y.abs()), "{x} vs {y}");
    }
}

#[test]
fn explicit_matrix_theta_is_m_w() {
    let cfg = config("domain = 'chain'\nparam = 'explicit-matrix'\nsteps = 50");
    let (_, a) = saved(&cfg, None);
    let (w, m, theta) = (f64s(&a, "w"), f64s(&a, "matrix"), f64s(&a, "theta"));
    let k = w.len();
    for i in 0..k {
        assert!(rel(dot(&m[i * k..(i + 1) * k], w), theta[i]) < 1e-12);
    }
    let explicit = saved(&config("domain = 'chain'\nparam = 'explicit'"), None).1;
    // Explicit's own parameter is θ: saved once.
    assert_eq!(explicit.iter().filter(|x| x.name == "theta").count(), 1);
}

#[test]
fn checkpoints_come_every_n_updates_and_at_the_last() {
    let cfg = config("domain = 'chain'\nparam = 'implicit'\nsteps = 25");
    let (log, a) = saved(&cfg, Some(10));
    assert_eq!(int(&a, "timestep"), vec![0, 10, 20, 25]);
    assert_eq!(get(&a, "theta").shape, vec![4, 11]);
    assert_eq!(get(&a, "logits").shape, vec![4, 11, 11]);
    assert_eq!(get(&a, "values_test").shape, vec![4, 11]);
    // The checkpoints at evaluation steps give the logged residuals; the first is the init.
    let values = f64s(&a, "values_test");
    let targets = f64s(&a, "targets_test");
    for (c, step) in [(0, 0), (1, 10), (2, 20), (3, 25)] {
        let row = log
            .rows
            .iter()
            .find(|r| r.timestep == step)
            .expect("evaluated");
        let v = &values[c * 11..(c + 1) * 11];
        assert!(rel(residual_norm(v, targets), row.residual_norm) < 1e-9);
    }
    let init = imprl::run::build_model(&cfg, 11);
    assert_eq!(&f64s(&a, "theta")[..11], init.theta());
}

#[test]
fn a_diverged_run_keeps_its_last_finite_parameters() {
    let cfg = config("domain = 'chain'\nparam = 'implicit'\nlr = 1e6\nsteps = 50");
    let (log, a) = saved(&cfg, Some(1));
    let at = log.outcome.diverged_at().expect("diverges") as i64;
    assert_eq!(int(&a, "diverged_at"), vec![at]);
    let steps = int(&a, "timestep");
    assert_eq!(
        steps,
        (0..*steps.last().expect("some"))
            .chain([steps[steps.len() - 1]])
            .collect::<Vec<_>>()
    );
    // The last finite parameters: those of the update that diverged when they are finite but
    // their residuals are not, else of an earlier one.
    assert!(*steps.last().expect("some") <= at);
    for x in &a {
        if let ArrayData::F64(v) = &x.data {
            assert!(v.iter().all(|x| x.is_finite()), "{}", x.name);
        }
    }
}

/// The command writes a file that reads back as the library's arrays, and says what it saved.
#[test]
fn the_command_writes_the_arrays_and_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("p.npz");
    let out = Command::cargo_bin("imprl")
        .expect("binary")
        .args([
            "run", "--domain", "chain", "--param", "implicit", "--steps", "30",
        ])
        .arg("--save-params")
        .arg(&path)
        .args(["--save-every", "10"])
        .output()
        .expect("runs");
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("saving 4 checkpoints"), "{err}");
    assert!(
        err.contains("saved the parameters after update 30"),
        "{err}"
    );
    assert!(err.contains("learning rate 0.015625"), "{err}");
    let cfg = config("domain = 'chain'\nparam = 'implicit'\nsteps = 30");
    assert_eq!(
        imprl::npz::read(&path).expect("npz"),
        saved(&cfg, Some(10)).1
    );
    // A path in a missing directory is refused before the run.
    let out = Command::cargo_bin("imprl")
        .expect("binary")
        .args(["run", "--domain", "chain", "--param", "implicit"])
        .arg("--save-params")
        .arg(dir.path().join("no/such/dir/p.npz"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`save_params`"));
}

/// A sweep with `--save-params` keeps each run's final `θ̂`, bit for bit that of the run saved
/// alone; the store verifies it (a changed `θ̂` is a damaged run), a merge carries it, and the
/// `theta` table exports it (CSV and Parquet). Without the option nothing is kept.
#[test]
fn a_sweep_keeps_every_final_theta() {
    use imprl::store::Store;
    use imprl::sweep::{execute, Grid, SweepOptions};
    use imprl::tidy::{Column, Table, TidyTable};
    let grid = Grid::from_toml_table(
        &"domain = ['chain', 'four-rooms']\nparam = ['implicit', 'explicit']\nsteps = 20\nlr = [0.5, 1e6]"
            .parse()
            .expect("toml"),
    )
    .expect("grid");
    let dir = tempfile::tempdir().expect("tempdir");
    let (kept, plain) = (dir.path().join("kept"), dir.path().join("plain"));
    let opts = SweepOptions::new(Some(2), false).expect("options");
    let mut store = Store::open(&kept).expect("store");
    execute(
        grid.runs(),
        &mut store,
        &opts.saving_params(true),
        &mut Silent,
    )
    .expect("sweep");
    let records = store.load_all().expect("read");
    assert_eq!(records.len(), 8);
    let mut diverged = 0;
    for rec in &records {
        let (log, arrays) = saved(&rec.config, None);
        assert_eq!(log.outcome, rec.outcome);
        diverged += usize::from(rec.outcome.diverged_at().is_some());
        let theta = rec.theta.as_ref().expect("kept");
        assert_eq!(
            theta.as_slice(),
            f64s(&arrays, "theta"),
            "{}",
            rec.config.key()
        );
        assert!(theta.iter().all(|x| x.is_finite()));
    }
    assert!(diverged > 0, "lr 1e6 makes some runs diverge");
    // The theta table: one row per run and component, every setting a column.
    let table = Table::Theta.of(&records);
    let k: usize = records
        .iter()
        .map(|r| r.theta.as_ref().map_or(0, Vec::len))
        .sum();
    assert_eq!(table.rows(), k);
    assert!(k > 8 * 11);
    let Some(Column::Float(values)) = table.column("theta") else {
        panic!("no theta column")
    };
    let all: Vec<f64> = records
        .iter()
        .flat_map(|r| r.theta.clone().expect("kept"))
        .collect();
    assert_eq!(
        values.iter().map(|x| x.expect("set")).collect::<Vec<_>>(),
        all
    );
    let parquet = dir.path().join("theta.parquet");
    let file = std::fs::File::create(&parquet).expect("create");
    imprl::tidy::parquet::write_parquet(&table, file).expect("write");
    assert_eq!(
        imprl::tidy::parquet::read_parquet(&parquet).expect("read"),
        table
    );
    let mut csv = Vec::new();
    imprl::export::write_table_csv(&mut csv, &TidyTable::thetas(&records)).expect("csv");
    assert_eq!(
        String::from_utf8(csv).expect("utf8").lines().count(),
        1 + table.rows()
    );
    // A merge carries the kept θ̂.
    let merged = dir.path().join("merged");
    let mut out = Store::open(&merged).expect("store");
    out.merge_from(&store).expect("merge");
    assert_eq!(out.load_all().expect("read"), records);
    // A changed θ̂ is a damaged run.
    drop((store, out));
    let conn = rusqlite::Connection::open(kept.join("results.sqlite")).expect("sqlite");
    conn.execute(
        "UPDATE thetas SET theta = zeroblob(length(theta)) WHERE run_id = (SELECT MIN(run_id) FROM thetas)",
        [],
    )
    .expect("update");
    drop(conn);
    match Store::open_read(&kept).expect("store").load_all() {
        Err(imprl::store::StoreError::Damaged { keys, .. }) => assert_eq!(keys.len(), 1),
        other => panic!("expected a damaged run, got {other:?}"),
    }
    // Without the option: the same runs, bit for bit, and no θ̂.
    let mut store = Store::open(&plain).expect("store");
    execute(grid.runs(), &mut store, &opts, &mut Silent).expect("sweep");
    let without = store.load_all().expect("read");
    assert!(without.iter().all(|r| r.theta.is_none()));
    assert_eq!(Table::Theta.of(&without).rows(), 0);
    for (a, b) in without.iter().zip(&records) {
        assert_eq!(
            (a.config, a.outcome, &a.rows),
            (b.config, b.outcome, &b.rows)
        );
    }
}

/// `imprl sweep --save-params` and `imprl export --table theta` (CSV and Parquet); the
/// published layout has no theta table (exit 2).
#[test]
fn the_commands_keep_and_export_theta() {
    let dir = tempfile::tempdir().expect("tempdir");
    let grid = dir.path().join("grid.toml");
    std::fs::write(
        &grid,
        "domain = 'chain'\nparam = ['implicit', 'explicit']\nsteps = 10\n",
    )
    .expect("grid");
    let out = dir.path().join("res");
    let imprl = || Command::cargo_bin("imprl").expect("binary");
    let ran = imprl()
        .args(["sweep", "--config"])
        .arg(&grid)
        .arg("--out")
        .arg(&out)
        .args(["--save-params", "--progress", "quiet"])
        .output()
        .expect("runs");
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let csv = imprl()
        .args(["export", "--table", "theta", "--results"])
        .arg(&out)
        .output()
        .expect("runs");
    assert!(csv.status.success());
    let text = String::from_utf8(csv.stdout).expect("utf8");
    let header = text.lines().next().expect("header");
    assert!(header.starts_with("domain,param,") && header.ends_with(",index,theta"));
    assert_eq!(text.lines().count(), 1 + 2 * 11);
    let pq = imprl()
        .args([
            "export",
            "--format",
            "parquet",
            "--table",
            "theta",
            "--results",
        ])
        .arg(&out)
        .output()
        .expect("runs");
    assert!(pq.status.success());
    let table = imprl::tidy::parquet::read_parquet(&out.join("theta.parquet")).expect("parquet");
    assert_eq!(table.rows(), 2 * 11);
    let bad = imprl()
        .args([
            "export",
            "--format",
            "published",
            "--table",
            "theta",
            "--results",
        ])
        .arg(&out)
        .output()
        .expect("runs");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("`table`"));
}
