//! Sweeps end to end through the CLI: grid refusal, kill-and-resume, shards and merge, and the
//! published layout read back by our own reader.

mod common;

use common::{export_csv, imprl, sweep, write};
use imprl::published_layout::read_published_all;
use imprl::store::Store;
use std::path::Path;
use std::time::Duration;

#[test]
fn sweep_refuses_bad_grids_before_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        ("domain = 'chain'\nparam = []\n", "`param`"),
        (
            "domain = 'chain'\nparam = 'implicit'\nbatchsize = [1]\n",
            "`batchsize`",
        ),
        (
            "domain = 'chain'\nparam = 'implicit'\neta = [0.9, 1.5]\n",
            "`eta`",
        ),
        (
            "domain = 'chain'\nparam = 'implicit'\nseed = [1, 1]\n",
            "`seed`",
        ),
        (
            "domain = 'chain'\nparam = 'implicit'\nseed = 1\nseed = 2\n",
            "line",
        ),
    ];
    for (i, (toml, needle)) in cases.iter().enumerate() {
        let grid = write(dir.path(), &format!("g{i}.toml"), toml);
        let out_dir = dir.path().join(format!("out{i}"));
        let out = imprl()
            .args(["sweep", "--config"])
            .arg(&grid)
            .arg("--out")
            .arg(&out_dir)
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{toml}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(needle), "{toml}: {stderr}");
        assert!(!out_dir.exists(), "no store before validation");
    }
    let grid = write(
        dir.path(),
        "ok.toml",
        "domain = 'chain'\nparam = 'implicit'\n",
    );
    let out = imprl()
        .args(["sweep", "--shard", "3/3", "--config"])
        .arg(&grid)
        .arg("--out")
        .arg(dir.path().join("x"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`shard`"));
}

const KILL_GRID: &str = "domain = 'chain'
param = ['explicit', 'implicit']
eta = [0.8, 0.9, 0.95, 0.975]
offset = [0.0, 0.25, 0.5, 0.75, 1.0]
seed = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
steps = 3000
";

#[test]
fn sweep_killed_and_resumed_equals_uninterrupted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let grid = write(dir.path(), "grid.toml", KILL_GRID);
    let whole = dir.path().join("whole");
    let resumed = dir.path().join("resumed");
    sweep(&grid, &whole).assert().success();
    let n_total = Store::open(&whole).expect("store").len().expect("len");
    assert_eq!(n_total, 400);

    // Start, kill -9 once some runs are committed, resume.
    let bin = assert_cmd::cargo::cargo_bin("imprl");
    let mut child = std::process::Command::new(&bin)
        .args(["sweep", "--progress", "quiet", "--config"])
        .arg(&grid)
        .arg("--out")
        .arg(&resumed)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let start = std::time::Instant::now();
    let mut partial = 0;
    while start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if resumed.join(imprl::store::DB_FILE).exists() {
            if let Ok(n) = Store::open(&resumed).and_then(|s| s.len()) {
                partial = n;
                if n >= 20 {
                    break;
                }
            }
        }
    }
    child.kill().expect("kill"); // SIGKILL
    child.wait().expect("wait");
    let after_kill = Store::open(&resumed).expect("store").len().expect("len");
    assert!(after_kill >= partial);
    assert!(
        after_kill < n_total,
        "the sweep finished before it could be killed ({after_kill} runs)"
    );
    let out = imprl()
        .args(["sweep", "--progress", "lines", "--config"])
        .arg(&grid)
        .arg("--out")
        .arg(&resumed)
        .output()
        .expect("resume");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("{after_kill} already stored")),
        "{stdout}"
    );
    assert_eq!(export_csv(&whole), export_csv(&resumed));
    // Every run is whole: as many evaluations as the uninterrupted sweep's.
    let a = Store::open(&whole).unwrap().load_all().unwrap();
    let b = Store::open(&resumed).unwrap().load_all().unwrap();
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(
            (x.config, x.outcome, &x.rows),
            (y.config, y.outcome, &y.rows)
        );
    }
}

#[test]
fn sweep_shards_merge_into_the_unsharded_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let all = dir.path().join("all");
    let reproduce = |out: &Path, shard: Option<&str>| {
        let mut cmd = imprl();
        cmd.args([
            "reproduce",
            "--domains",
            "chain",
            "--quick",
            "--seeds",
            "2",
            "--progress",
            "quiet",
            "--out",
        ])
        .arg(out);
        if let Some(s) = shard {
            cmd.args(["--shard", s]);
        }
        cmd.assert().success();
    };
    reproduce(&all, None);
    let n = Store::open(&all).unwrap().len().unwrap();
    assert_eq!(n, 2 * 4 * 11 * 2);
    let mut shard_dirs = Vec::new();
    let mut sizes = 0;
    for i in 0..3 {
        let d = dir.path().join(format!("shard{i}"));
        reproduce(&d, Some(&format!("{i}/3")));
        sizes += Store::open(&d).unwrap().len().unwrap();
        shard_dirs.push(d);
    }
    assert_eq!(sizes, n, "shards are disjoint and cover the grid");
    let merged = dir.path().join("merged");
    imprl()
        .arg("merge")
        .arg("--out")
        .arg(&merged)
        .args(&shard_dirs)
        .assert()
        .success();
    assert_eq!(export_csv(&all), export_csv(&merged));
    let csv = export_csv(&all);
    // The header is every declared setting, then the results.
    let header = csv.lines().next().unwrap_or_default();
    assert_eq!(header, imprl::export::tidy_header(&[]).join(","));
    for s in imprl::config::SETTINGS {
        assert!(
            header.split(',').any(|c| c == s.name),
            "{} not exported",
            s.name
        );
    }
    assert_eq!(csv.lines().count(), 1 + n * 31);
}

#[test]
fn sweep_published_layout_round_trips() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Large learning rates make some implicit runs diverge.
    let grid = write(
        dir.path(),
        "grid.toml",
        "domain = 'chain'\nparam = ['explicit', 'implicit']\neta = [0.9, 0.975]\noffset = [0.0, 1.0]\nseed = [0, 1]\n[lr]\n\"chain.explicit\" = [0.5]\n\"chain.implicit\" = [0.125, 0.015625]\n",
    );
    let results = dir.path().join("res");
    sweep(&grid, &results).assert().success();
    let published = dir.path().join("pub");
    imprl()
        .args(["export", "--format", "published", "--results"])
        .arg(&results)
        .arg("--out")
        .arg(&published)
        .assert()
        .success();
    assert!(published
        .join("chain_rollout/implicit/imprl/results.csv")
        .is_file());
    let records = Store::open(&results).unwrap().load_all().unwrap();
    let data = read_published_all(&published).expect("read back");
    assert!(data.failed.is_empty());
    assert_eq!(data.runs.len(), records.len());
    // Our writer numbers jobs in store order within each (domain, method).
    let mut diverged = 0;
    for rec in &records {
        let c = rec.config;
        let run = data
            .runs
            .iter()
            .find(|r| {
                r.param == Some(c.param)
                    && r.seed == c.seed
                    && r.lr == c.lr
                    && r.eta == c.eta
                    && r.offset == c.offset
            })
            .expect("run read back");
        assert_eq!(run.domain, Some(c.domain));
        assert_eq!(run.batch_size, c.batch_size);
        assert!(!run.use_bias);
        let finite: Vec<_> = run
            .rows
            .iter()
            .filter(|r| r.mse.is_finite())
            .copied()
            .collect();
        assert_eq!(finite, rec.rows, "logs.csv round trip");
        if rec.outcome.diverged_at().is_some() {
            diverged += 1;
            assert_eq!(run.rows.len(), 31, "padded as the published logs");
        }
    }
    eprintln!("{diverged} diverged runs in the round trip");
}
