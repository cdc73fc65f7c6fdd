//! Helpers of the command-line tests: the binary, files, and a store's tidy export.
#![allow(dead_code)]

use assert_cmd::Command;
use std::path::{Path, PathBuf};

/// A CSV file's header and rows, as text.
pub fn csv_table(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).expect("csv");
    let header = r
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    let rows = r
        .records()
        .map(|rec| rec.expect("row").iter().map(String::from).collect())
        .collect();
    (header, rows)
}

/// The `imprl` binary of this build.
pub fn imprl() -> Command {
    Command::cargo_bin("imprl").expect("binary")
}

/// The path of the `imprl` binary (for processes the test signals or runs concurrently).
pub fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("imprl")
}

/// `imprl sweep --progress quiet --config GRID --out OUT`, for the caller to add options to and
/// run.
pub fn sweep(grid: &Path, out: &Path) -> Command {
    let mut cmd = imprl();
    cmd.args(["sweep", "--progress", "quiet", "--config"])
        .arg(grid)
        .arg("--out")
        .arg(out);
    cmd
}

/// Writes `text` to `dir/name`.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

/// `imprl export --format csv` of the store in `results`; the export must succeed.
pub fn export_csv(results: &Path) -> String {
    let out = imprl()
        .args(["export", "--format", "csv", "--results"])
        .arg(results)
        .output()
        .expect("export");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}

/// A temporary directory holding the grid file `grid.toml` with `text`: the directory (removed
/// when dropped) and the grid's path.
pub fn grid_dir(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let grid = write(dir.path(), "grid.toml", text);
    (dir, grid)
}

/// `imprl sweep --progress PROGRESS --jobs 1 --config GRID --out OUT` started with piped output
/// (for a test that signals it or runs two at once).
pub fn spawn_sweep(grid: &Path, out: &Path, progress: &str) -> std::process::Child {
    std::process::Command::new(bin())
        .args(["sweep", "--progress", progress, "--jobs", "1", "--config"])
        .arg(grid)
        .arg("--out")
        .arg(out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn")
}

/// An own domain as a TOML file (SPEC §8.6): a deterministic 3-cycle with reward 1 everywhere,
/// `V = (1 + c)/(1 − γ)`.
pub const CYCLE: &str = "gamma = 0.5
states = 3
actions = 1
transitions = [[[0.0, 1.0, 0.0]], [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]]]
rewards = [[1.0], [1.0], [1.0]]
policy = [[1.0], [1.0], [1.0]]
[data]
trajectories = 4
length = 12
keep = 'all'
";
