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

// Third round: own domains, data sets, sweeps and exports (README, *Reliability*).

/// A two-state MDP file with one action (0 → 1 → 1, reward 1 in state 0) and `extra` lines.
fn two_states(extra: &str) -> String {
    format!(
        "gamma = 0.9\nstates = 2\nactions = 1\ntransitions = [[[0.0, 1.0]], [[0.0, 1.0]]]\nrewards = [[1.0], [0.0]]\npolicy = [[1.0], [1.0]]\n{extra}"
    )
}

/// Runs `imprl ARGS` (at most 60 s) and returns its exit code and stderr; never a panic.
fn refused(args: &[&str]) -> (Option<i32>, String) {
    let out = imprl()
        .args(args)
        .timeout(Duration::from_secs(60))
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !err.contains("panicked") && !err.contains("memory allocation"),
        "{args:?}: {err}"
    );
    (out.status.code(), err)
}

#[test]
fn an_own_domain_without_training_rows_is_refused_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, extra) in [
        ("start.toml", "terminal = [1]\nstart = [0.0, 1.0]\n"),
        ("all.toml", "terminal = [0, 1]\n"),
    ] {
        let path = write(dir.path(), name, &two_states(extra));
        let domain = format!("file:{}", path.display());
        for cmd in [
            vec!["run", "--param", "explicit", "--steps", "2"],
            vec!["theory", "--steps", "2"],
            vec!["gradients", "--steps", "2"],
        ] {
            let mut args = cmd.clone();
            args.extend(["--domain", &domain]);
            let (code, err) = refused(&args);
            assert_eq!(code, Some(2), "{args:?}: {err}");
            assert!(err.contains("no training rows"), "{args:?}: {err}");
            assert!(err.contains(name), "{err}");
            assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        }
    }
    // Some seeds draw no row (one rollout, from a terminal state half the time): the grid is
    // refused as a whole, naming the seed, before a store exists.
    let path = write(
        dir.path(),
        "half.toml",
        &two_states("terminal = [1]\nstart = [0.5, 0.5]\n[data]\ntrajectories = 1\n"),
    );
    let grid = write(
        dir.path(),
        "grid.toml",
        &format!(
            "domain = ['chain', 'file:{}']\nparam = 'explicit'\nsteps = 2\nseed = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]\n",
            path.display()
        ),
    );
    let results = dir.path().join("res");
    let out = sweep(&grid, &results)
        .timeout(Duration::from_secs(60))
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no training rows for seed"), "{err}");
    assert!(!results.exists(), "a refused grid must not create a store");
}

/// A `.npy` header whose shape's size overflows (`(2**61, 3)` of 8-byte floats), with no data.
#[test]
fn a_npy_shape_whose_size_overflows_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let npy = |shape: &str, data: &[f64]| {
        let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
        while (header.len() + 11) % 16 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend((header.len() as u16).to_le_bytes());
        b.extend(header.as_bytes());
        for x in data {
            b.extend(x.to_le_bytes());
        }
        b
    };
    let d = dir.path().join("data");
    std::fs::create_dir(&d).expect("mkdir");
    std::fs::write(d.join("train_x.npy"), npy("(2305843009213693952, 3)", &[])).expect("w");
    std::fs::write(d.join("train_y.npy"), npy("(2305843009213693952,)", &[])).expect("w");
    std::fs::write(d.join("test_x.npy"), npy("(1, 3)", &[1.0, 2.0, 3.0])).expect("w");
    std::fs::write(d.join("test_y.npy"), npy("(1,)", &[1.0])).expect("w");
    let domain = format!("data:{}", d.display());
    let (code, err) = refused(&["run", "--domain", &domain, "--param", "explicit"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("train_x.npy") && err.contains("too large"),
        "{err}"
    );
}

#[test]
fn huge_shapes_are_refused_before_allocation_with_the_memory_needed() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 90 bytes that would have allocated 8·10¹⁵ bytes of transitions.
    let tiny = write(
        dir.path(),
        "tiny.toml",
        "gamma = 0.9\nstates = 100000\nactions = 100000\ntransitions = []\nrewards = []\npolicy = []\n",
    );
    let start = Instant::now();
    let (code, err) = refused(&[
        "run",
        "--param",
        "explicit",
        "--domain",
        &format!("file:{}", tiny.display()),
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("rewards"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(10));
    // A valid sparse ring of 50,000 states: small on disk, but its exact values need dense
    // 50,000 × 50,000 matrices (about 75 GiB): refused with the amount, unless the machine has it.
    let n = 50_000;
    let mut text = format!("gamma = 0.9\nstates = {n}\nactions = 1\ntransitions = [\n");
    for s in 0..n {
        text.push_str(&format!(
            "{{ s = {s}, a = 0, next = {}, p = 1.0 }},\n",
            (s + 1) % n
        ));
    }
    text.push_str("]\nrewards = [");
    text.push_str(&vec!["[1.0]"; n].join(", "));
    text.push_str("]\npolicy = [");
    text.push_str(&vec!["[1.0]"; n].join(", "));
    text.push_str("]\n");
    let ring = write(dir.path(), "ring.toml", &text);
    if imprl::memory::available().is_some_and(|a| a < 70 << 30) {
        let (code, err) = refused(&[
            "run",
            "--param",
            "explicit",
            "--domain",
            &format!("file:{}", ring.display()),
        ]);
        assert_eq!(code, Some(2), "{err}");
        assert!(
            err.contains("states")
                && err.contains("needs about")
                && err.contains("GiB")
                && err.contains("--allow-memory"),
            "{err}"
        );
    }
    // Data of 10¹⁴ rows: the run's estimate exceeds any machine's memory; refused naming the
    // domain.
    let big = write(
        dir.path(),
        "big.toml",
        &two_states("[data]\ntrajectories = 10000000\nlength = 10000000\n"),
    );
    let (code, err) = refused(&[
        "run",
        "--param",
        "explicit",
        "--domain",
        &format!("file:{}", big.display()),
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("`domain`") && err.contains("needs about"),
        "{err}"
    );
}

#[test]
fn a_huge_jobs_count_is_capped_and_said() {
    let (dir, grid) =
        grid_dir("domain = 'chain'\nparam = 'explicit'\nsteps = 5\nseed = [0, 1, 2, 3]\n");
    for (i, jobs) in ["10000", "100000000000"].into_iter().enumerate() {
        let results = dir.path().join(format!("res{i}"));
        let start = Instant::now();
        let out = sweep(&grid, &results)
            .args(["--jobs", jobs])
            .timeout(Duration::from_secs(60))
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        assert!(err.contains("capped at 4 workers"), "{err}");
        assert!(start.elapsed() < Duration::from_secs(30));
        assert!(String::from_utf8_lossy(&out.stdout).contains("done: 4 runs (4 now"));
    }
}

#[test]
fn own_domains_with_similar_names_export_to_distinct_directories() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
    for (i, name) in ["sub/c.toml", "sub_c.toml", "sub:c.toml"]
        .iter()
        .enumerate()
    {
        write(dir.path(), name, &two_states(&format!("# {i}\n")));
    }
    write(
        dir.path(),
        "grid.toml",
        "domain = ['file:sub/c.toml', 'file:sub_c.toml', 'file:sub:c.toml']\nparam = ['explicit', 'implicit']\nsteps = 2\n",
    );
    imprl()
        .current_dir(dir.path())
        .args([
            "sweep",
            "--progress",
            "quiet",
            "--config",
            "grid.toml",
            "--out",
            "res",
        ])
        .assert()
        .success();
    let out = imprl()
        .current_dir(dir.path())
        .args([
            "export",
            "--format",
            "published",
            "--results",
            "res",
            "--out",
            "pub",
        ])
        .output()
        .expect("export");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("6 runs written"), "{err}");
    let logs = walk(&dir.path().join("pub"))
        .into_iter()
        .filter(|p| p.ends_with("logs.csv"))
        .count();
    assert_eq!(logs, 6, "every run written is on disk");
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read_dir") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
