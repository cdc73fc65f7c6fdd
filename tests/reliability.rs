//! Hostile use of the command line: huge or inconsistent settings refused before any work,
//! sweeps stopped by signals and resumed, two sweeps creating one store at once, a damaged
//! store detected and repaired, and fuzzed configuration files (exit 0 or 2, never a panic).

mod common;

use common::{export_csv as export, grid_dir, imprl, spawn_sweep, sweep, write};
use proptest::prelude::*;
use std::time::{Duration, Instant};

#[test]
fn huge_and_inconsistent_batches_are_refused_before_any_run() {
    for b in [
        "9223372036854775807",
        "1000000000000",
        "18446744073709551616",
    ] {
        let out = imprl()
            .args([
                "run",
                "--domain",
                "chain",
                "--param",
                "explicit",
                "--batch-size",
                b,
            ])
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{b}: {err}");
        assert!(err.contains("`batch_size`"), "{err}");
    }
    // Without replacement, a batch larger than the chain's 50 training samples: refused for the
    // grid as a whole, naming the file, before a store is even created.
    let (dir, grid) = grid_dir(
        "domain = 'chain'\nparam = 'explicit'\nseed = [0, 1]\nbatch_size = [25, 60]\nsampling = 'without-replacement'\n",
    );
    let out = sweep(&grid, &dir.path().join("res"))
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("grid.toml") && err.contains("`batch_size`") && err.contains("50"),
        "{err}"
    );
    assert!(
        !dir.path().join("res").exists(),
        "a refused grid must not create a store"
    );
}

/// A sweep of 240 four-rooms implicit runs (about 25 ms each: 6 s on one worker), long enough
/// to be interrupted twice.
const SLOW_GRID: &str = "domain = 'four-rooms'\nparam = 'implicit'\neta = [0.8, 0.9, 0.95, 0.975]\noffset = [0.0, 0.5, 1.0]\nseed = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]\n";

#[test]
fn a_signal_stops_a_sweep_cleanly_and_the_same_command_resumes_it() {
    let (dir, grid) = grid_dir(SLOW_GRID);
    let reference = dir.path().join("reference");
    sweep(&grid, &reference).assert().success();
    let results = dir.path().join("res");
    for (signal, code) in [("INT", 130), ("TERM", 143)] {
        let mut child = spawn_sweep(&grid, &results, "lines");
        // Once the sweep has started (its first line), let it store some runs.
        let mut stdout = child.stdout.take().expect("stdout");
        let mut first = [0u8; 1];
        std::io::Read::read_exact(&mut stdout, &mut first).expect("the sweep starts");
        std::thread::sleep(Duration::from_millis(500));
        let status = std::process::Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let mut rest = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut rest).expect("stdout");
        let out = child.wait_with_output().expect("wait");
        let stdout = String::from_utf8_lossy(&rest);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{signal}: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("interrupted") && stdout.contains("run the same command again"),
            "{stdout}"
        );
        for line in stdout.lines() {
            assert!(line.chars().count() <= 100, "long line: {line}");
        }
    }
    sweep(&grid, &results).assert().success();
    assert_eq!(export(&results), export(&reference));
}

#[test]
fn two_sweeps_creating_one_store_at_once_both_succeed_and_count_each_run_once() {
    let (dir, grid) = grid_dir(
        "domain = 'chain'\nparam = ['explicit', 'implicit']\nseed = [0, 1, 2, 3, 4, 5, 6, 7]\noffset = [0.0, 0.5]\n",
    );
    for trial in 0..5 {
        let results = dir.path().join(format!("res{trial}"));
        let spawn = || spawn_sweep(&grid, &results, "quiet");
        let (a, b) = (spawn(), spawn());
        let mut now = 0;
        for child in [a, b] {
            let out = child.wait_with_output().expect("wait");
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "trial {trial}: {text} {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let done = text
                .lines()
                .find(|l| l.starts_with("done:"))
                .expect("summary");
            let n: usize = done
                .split(" now")
                .next()
                .and_then(|s| s.rsplit('(').next())
                .and_then(|s| s.trim().parse().ok())
                .expect("count of runs done now");
            now += n;
        }
        assert_eq!(now, 32, "trial {trial}: each run is counted once");
        assert_eq!(export(&results).lines().count(), 1 + 32 * 31);
    }
}

#[test]
fn a_damaged_store_is_named_and_repaired() {
    let (dir, grid) = grid_dir("domain = 'chain'\nparam = 'implicit'\nseed = [0, 1, 2]\n");
    let results = dir.path().join("res");
    let run_sweep = |extra: &[&str]| sweep(&grid, &results).args(extra).output().expect("sweep");
    assert!(run_sweep(&[]).status.success());
    let clean = export(&results);
    // A changed number, as a flipped bit in a data page would leave it.
    let db = rusqlite::Connection::open(results.join("results.sqlite")).expect("open");
    db.execute(
        "UPDATE evals SET res_ortho_norm = -res_ortho_norm WHERE timestep = 150 AND run_id = (SELECT id FROM runs WHERE seed = 1)",
        [],
    )
    .expect("damage");
    drop(db);
    let out = imprl()
        .args(["export", "--results"])
        .arg(&results)
        .output()
        .expect("export");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("1 damaged run") && err.contains("seed=1;") && err.contains("--repair"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "no partial export");
    let out = run_sweep(&[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a sweep must not count a damaged run as stored"
    );
    let out = run_sweep(&["--repair"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 damaged runs deleted and run again"));
    assert_eq!(export(&results), clean);
}

/// A TOML value of the kinds a user (or a fuzzer) may write.
fn value() -> impl Strategy<Value = String> {
    let scalar = prop_oneof![
        any::<i64>().prop_map(|i| i.to_string()),
        prop::sample::select(vec![
            "0.0", "-0.0", "1e-300", "1e308", "nan", "inf", "-inf", "0.95", "0.999999"
        ])
        .prop_map(str::to_string),
        any::<f64>().prop_map(|x| format!("{x:e}")),
        any::<bool>().prop_map(|b| b.to_string()),
        "[a-z\\-]{0,14}".prop_map(|s| format!("'{s}'")),
        prop::sample::select(vec![
            "'chain'",
            "'four-rooms'",
            "'mountain-car'",
            "'implicit'",
            "'explicit-matrix'",
            "'without-replacement'",
            "'lu'",
        ])
        .prop_map(str::to_string),
    ];
    prop_oneof![
        4 => scalar.clone(),
        1 => prop::collection::vec(scalar.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
        1 => prop::collection::vec(scalar, 0..3).prop_map(|v| format!("[[{}]]", v.join(", "))),
        1 => Just("{ x = 1 }".to_string()),
    ]
}

fn document() -> impl Strategy<Value = String> {
    let names: Vec<&'static str> = imprl::config::SETTINGS
        .iter()
        .map(|s| s.name)
        .chain(["etta", "lr.chain.implicit", "", "\"\""])
        .collect();
    prop::collection::vec((prop::sample::select(names), value()), 0..8).prop_map(|kv| {
        let mut seen = std::collections::HashSet::new();
        kv.into_iter()
            .filter(|(k, _)| seen.insert(*k))
            .map(|(k, v)| format!("{k} = {v}\n"))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

    /// The config and grid parsers never panic, whatever the file holds.
    #[test]
    fn parsers_never_panic(doc in document()) {
        if let Ok(table) = doc.parse::<toml::Table>() {
            let _ = imprl::config::RunSettings::from_toml_table(&table).and_then(|s| s.resolve());
            let _ = imprl::sweep::Grid::from_toml_table(&table);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 60, failure_persistence: None, ..ProptestConfig::default() })]

    /// Through the binary: every fuzzed run file ends with exit 0 (it ran) or 2 (refused with
    /// one line), never a panic.
    #[test]
    fn fuzzed_run_files_exit_0_or_2(doc in document()) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(dir.path(), "run.toml", &doc);
        let start = Instant::now();
        let out = imprl()
            .args(["run", "--steps", "1", "--config"])
            .arg(&path)
            .timeout(Duration::from_secs(60))
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        prop_assert!(matches!(out.status.code(), Some(0) | Some(2)), "{doc}: {:?} {err}", out.status);
        prop_assert!(!err.contains("panicked"), "{doc}: {err}");
        if out.status.code() == Some(2) {
            prop_assert_eq!(err.trim_end().lines().count(), 1, "{}: {}", doc, err);
        }
        prop_assert!(start.elapsed() < Duration::from_secs(60));
    }
}
