//! The `imprl run` command line: outputs, determinism and bad input (exit code 2, one line
//! naming the field), run as a subprocess.

use assert_cmd::Command;

fn imprl() -> Command {
    Command::cargo_bin("imprl").expect("binary")
}

fn run_csv(args: &[&str]) -> String {
    let out = imprl().arg("run").args(args).output().expect("runs");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn every_domain_and_parameterization_writes_31_finite_rows() {
    for domain in ["chain", "four-rooms", "mountain-car"] {
        for param in ["explicit", "implicit", "explicit-matrix"] {
            let csv = run_csv(&["--domain", domain, "--param", param, "--seed", "3"]);
            let mut lines = csv.lines();
            assert_eq!(
                lines.next(),
                Some("timestep,mse,res_ones_norm,res_ortho_norm,residual_norm")
            );
            let rows: Vec<Vec<f64>> = lines
                .map(|l| l.split(',').map(|v| v.parse().expect("number")).collect())
                .collect();
            assert_eq!(rows.len(), 31, "{domain} {param}");
            for (i, r) in rows.iter().enumerate() {
                assert_eq!(r[0], (10 * i) as f64);
                assert!(r.iter().all(|v| v.is_finite()), "{domain} {param}: {r:?}");
            }
        }
    }
}

#[test]
fn a_seed_determines_the_log_bit_for_bit() {
    for domain in ["chain", "mountain-car"] {
        let a = run_csv(&[
            "--domain", domain, "--param", "implicit", "--seed", "11", "--steps", "50",
        ]);
        let b = run_csv(&[
            "--domain", domain, "--param", "implicit", "--seed", "11", "--steps", "50",
        ]);
        let c = run_csv(&[
            "--domain", domain, "--param", "implicit", "--seed", "12", "--steps", "50",
        ]);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}

#[test]
fn config_file_settings_are_overridden_by_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("run.toml");
    std::fs::write(
        &cfg,
        "domain = 'chain'\nparam = 'implicit'\nseed = 5\nsteps = 20\neta = 0.9\n",
    )
    .expect("write");
    let from_file = run_csv(&["--config", cfg.to_str().expect("path")]);
    let from_flags = run_csv(&[
        "--domain", "chain", "--param", "implicit", "--seed", "5", "--steps", "20", "--eta", "0.9",
    ]);
    assert_eq!(from_file, from_flags);
    let overridden = run_csv(&["--config", cfg.to_str().expect("path"), "--seed", "6"]);
    assert_ne!(overridden, from_file);
    let out = dir.path().join("log.csv");
    run_csv(&[
        "--config",
        cfg.to_str().expect("path"),
        "--out",
        out.to_str().expect("path"),
    ]);
    assert_eq!(std::fs::read_to_string(out).expect("read"), from_file);
}

/// Runs `imprl run` with bad input: exit code 2, one stderr line containing `needles`.
fn refused(args: &[&str], toml: Option<&str>, needles: &[&str]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = imprl();
    cmd.arg("run").args(args);
    if let Some(t) = toml {
        let p = dir.path().join("bad.toml");
        std::fs::write(&p, t).expect("write");
        cmd.arg("--config").arg(&p);
    }
    let out = cmd.output().expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?} {toml:?}: {err}");
    assert!(out.stdout.is_empty(), "{args:?}: wrote output");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "{args:?}: not one line: {err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    for n in needles {
        assert!(err.contains(n), "{args:?} {toml:?}: {err:?} lacks {n:?}");
    }
}

#[test]
fn bad_input_is_refused_with_one_line_naming_the_field() {
    let base = ["--domain", "chain", "--param", "implicit"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> {
        base.iter().chain(extra).copied().collect()
    };
    refused(&with(&["--eta", "1"]), None, &["eta", "0 <= eta < 1"]);
    refused(&with(&["--eta", "-0.1"]), None, &["eta"]);
    refused(&with(&["--lr", "0"]), None, &["lr", "> 0"]);
    refused(&with(&["--lr", "-1"]), None, &["lr"]);
    refused(&with(&["--lr", "inf"]), None, &["lr", "finite"]);
    refused(&with(&["--lr", "NaN"]), None, &["lr"]);
    refused(&with(&["--batch-size", "0"]), None, &["batch_size"]);
    refused(
        &["--domain", "cartpole", "--param", "implicit"],
        None,
        &["cartpole", "chain, four-rooms, mountain-car"],
    );
    refused(
        &["--domain", "chain", "--param", "neural"],
        None,
        &["neural", "explicit, implicit, explicit-matrix"],
    );
    refused(
        &[],
        Some("domain = 'chain'\nparam = 'implicit'\netaa = 0.5\n"),
        &["etaa", "unknown field"],
    );
    refused(
        &[],
        Some("domain = 'chain'\nparam = 'implicit'\neta = 'high'\n"),
        &["eta"],
    );
    refused(
        &[],
        Some("domain = 'mars'\nparam = 'implicit'\n"),
        &["domain", "chain, four-rooms, mountain-car"],
    );
    refused(
        &[],
        Some("domain = 'chain'\nparam = 'implicit'\nlr = -2.0\n"),
        &["lr"],
    );
    refused(
        &[],
        Some("domain = 'chain' param = 'implicit'\n"),
        &["bad.toml", "line 1"],
    );
    refused(
        &["--config", "/nonexistent/run.toml"],
        None,
        &["/nonexistent/run.toml"],
    );
    refused(&["--param", "implicit"], None, &["domain"]);
}

/// One checking step: a rule between settings (a learned `η` needs `eta > 0`) is checked for
/// every run of a grid before any run starts: the sweep exits 2 naming `eta` and stores nothing
/// (before, it stored the valid runs and then failed with exit 1 mid-sweep).
#[test]
fn a_grid_breaking_a_rule_between_settings_is_refused_before_any_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let grid = dir.path().join("grid.toml");
    std::fs::write(
        &grid,
        "domain = 'chain'\nparam = 'implicit'\nlearn_eta = 'scalar'\neta = [0.9, 0.0]\nseed = [0, 1]\nsteps = 5\n",
    )
    .expect("write");
    let out_dir = dir.path().join("out");
    let out = imprl()
        .args(["sweep", "--config"])
        .arg(&grid)
        .arg("--out")
        .arg(&out_dir)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`eta`") && err.contains("learn_eta"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!out_dir.join("results.sqlite").exists());
}

/// A required setting that is missing is named as required.
#[test]
fn a_missing_param_is_named_as_required() {
    let out = imprl()
        .args(["run", "--domain", "chain"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing `param`: it is required"), "{err}");
}

/// A store closed cleanly leaves no `-wal` or `-shm` file beside it, after a sweep and after
/// `reproduce`, which reads the store again for its figures and page.
#[test]
fn a_closed_store_leaves_no_wal_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("res");
    let ok = imprl()
        .args(["reproduce", "--quick", "--domains", "chain", "--seeds", "1"])
        .args(["--progress", "quiet", "--out"])
        .arg(&out)
        .output()
        .expect("runs");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    for suffix in ["-wal", "-shm"] {
        assert!(
            !out.join(format!("results.sqlite{suffix}")).exists(),
            "{suffix}"
        );
    }
    // The chain is compared with the shipped published summary, and the page shows it.
    let said = String::from_utf8_lossy(&ok.stdout);
    assert!(
        said.contains("published summary shipped with imprl"),
        "{said}"
    );
    assert!(
        said.contains("comparison.png"),
        "every file written is named: {said}"
    );
    assert!(out.join("compare/comparison.csv").is_file());
    let page = std::fs::read_to_string(out.join("report.html")).expect("page");
    assert!(!page.contains("No comparison"));
    assert!(page.contains("wall time of the sweeps"));
    // And the store is still one to resume: a second call skips every run.
    let again = imprl()
        .args(["reproduce", "--quick", "--domains", "chain", "--seeds", "1"])
        .args(["--progress", "quiet", "--out"])
        .arg(&out)
        .output()
        .expect("runs");
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 now"));
}

/// `imprl report` on a sweep whose figures were never drawn draws them and says so.
#[test]
fn the_report_draws_missing_figures() {
    let dir = tempfile::tempdir().expect("tempdir");
    let grid = dir.path().join("grid.toml");
    std::fs::write(&grid, "domain = 'chain'\nparam = 'implicit'\nsteps = 20\n").expect("grid");
    let out = dir.path().join("res");
    let ok = imprl()
        .args(["sweep", "--progress", "quiet", "--config"])
        .arg(&grid)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("runs");
    assert!(ok.status.success());
    let rep = imprl()
        .args(["report", "--results"])
        .arg(&out)
        .output()
        .expect("runs");
    assert!(
        rep.status.success(),
        "{}",
        String::from_utf8_lossy(&rep.stderr)
    );
    assert!(String::from_utf8_lossy(&rep.stdout).contains("drawing them"));
    let page = std::fs::read_to_string(out.join("report.html")).expect("page");
    assert!(!page.contains("No figures"));
    assert!(out.join("figures/fig1_initial_residual.svg").is_file());
}
