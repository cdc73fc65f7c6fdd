//! The learned-model study (`imprl study learned-model`) at a reduced size: its files, its
//! measurements against an independent computation from the saved arrays of the same run
//! (`imprl::saved`), and the true-model start against the exact values.

use imprl::config::RunSettings;
use imprl::figure::Format;
use imprl::study::learned_model::{run, StudyOptions, PROB_FLOOR};
use imprl::train::Silent;
use imprl::values::{dist2, mean_row_tv, Learned, Truth};

fn rows(path: &std::path::Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).expect("csv");
    let h: Vec<String> = r
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    r.records()
        .map(|x| {
            h.iter()
                .cloned()
                .zip(x.expect("row").iter().map(String::from))
                .collect()
        })
        .collect()
}

fn num(r: &std::collections::HashMap<String, String>, k: &str) -> f64 {
    r[k].parse().unwrap_or_else(|_| panic!("{k}: {}", r[k]))
}

#[test]
fn a_small_study_measures_what_the_saved_runs_hold() {
    let dir = tempfile::tempdir().expect("tmp");
    let opts = StudyOptions {
        seeds: 2,
        steps: 20,
        jobs: Some(1),
        format: Format::Svg,
        true_lr_factors: vec![1.0, 0.25],
    };
    let report = run(dir.path(), &opts).expect("study");
    for f in [
        "learned_model.csv",
        "summary.csv",
        "summary.md",
        "learned_model_chain.svg",
        "perron_four_rooms.svg",
    ] {
        assert!(dir.path().join(f).is_file(), "{f}");
    }
    assert!(report.files.len() >= 7);
    let all = rows(&dir.path().join("learned_model.csv"));
    // 2 domains x 2 offsets x 2 seeds x (2 published + 2 true + 1 explicit), steps 0, 10, 20.
    assert_eq!(all.len(), 2 * 2 * 2 * 5 * 3);
    for (domain, offset) in [("chain", "1"), ("four-rooms", "0")] {
        // The published-start implicit run at eta 0.95, seed 1: the same run as `imprl run`.
        let toml = format!(
            "domain = \"{domain}\"\nparam = \"implicit\"\neta = 0.95\noffset = {offset}.0\nseed = 1\nsteps = 20\n"
        );
        let cfg = RunSettings::from_toml_table(&toml.parse().expect("toml"))
            .and_then(|s| s.resolve())
            .expect("cfg");
        let problem = imprl::run::problem(&cfg).expect("data");
        let (_, arrays) =
            imprl::saved::run_saving(&cfg, &problem, Some(10), &mut Silent).expect("run");
        let l = Learned::from_arrays(&arrays).expect("arrays");
        let t = Truth::of(&cfg).expect("truth");
        for (c, step) in l.steps.iter().enumerate() {
            let r = all
                .iter()
                .find(|r| {
                    r["domain"] == domain
                        && r["offset"] == offset
                        && r["start"] == "published"
                        && r["eta"] == "0.95"
                        && r["seed"] == "1"
                        && r["step"] == step.to_string()
                })
                .expect("measured");
            let s = l.model(c, 0).expect("model");
            let tol = |x: f64| 1e-12 * (1.0 + x.abs());
            let tv = mean_row_tv(&s, &t.p, t.k);
            assert!(
                (num(r, "tv_model") - tv).abs() <= tol(tv),
                "{domain} {step}"
            );
            let th = dist2(&l.theta[c], &t.v);
            assert!(
                (num(r, "theta_dist") - th).abs() <= tol(th),
                "{domain} {step}"
            );
            let w = dist2(&l.w.as_ref().expect("w")[c], &t.r);
            assert!((num(r, "w_dist") - w).abs() <= tol(w), "{domain} {step}");
        }
    }
    // The true model starts at the true values and (up to the floor) the true model.
    for r in all
        .iter()
        .filter(|r| r["start"] == "true" && r["step"] == "0")
    {
        assert!(num(r, "theta_dist") < 1e-9, "{r:?}");
        let k = if r["domain"] == "chain" { 11.0 } else { 121.0 };
        assert!(num(r, "tv_model") < PROB_FLOOR * k, "{r:?}");
        assert_eq!(num(r, "moved"), 0.0);
    }
    // The summary's end rows are the means over seeds of the every-run table.
    let summary = rows(&dir.path().join("summary.csv"));
    let end = summary
        .iter()
        .find(|r| {
            r["domain"] == "chain"
                && r["offset"] == "0"
                && r["variant"].starts_with("explicit")
                && r["step"] == "20"
                && r["metric"] == "theta_dist"
        })
        .expect("summary row");
    let xs: Vec<f64> = all
        .iter()
        .filter(|r| {
            r["domain"] == "chain"
                && r["offset"] == "0"
                && r["param"] == "explicit"
                && r["step"] == "20"
        })
        .map(|r| num(r, "theta_dist"))
        .collect();
    assert_eq!(xs.len(), 2);
    assert!((num(end, "mean") - (xs[0] + xs[1]) / 2.0).abs() < 1e-12);
}

#[test]
fn the_command_refuses_bad_options() {
    for args in [
        vec!["--seeds", "0"],
        vec!["--steps", "0"],
        vec!["--steps", "100000001"],
    ] {
        let o = assert_cmd::Command::cargo_bin("imprl")
            .expect("binary")
            .args(["study", "learned-model", "--out", "/nonexistent/never"])
            .args(&args)
            .output()
            .expect("runs");
        assert_eq!(o.status.code(), Some(2), "{args:?}: {o:?}");
    }
}
