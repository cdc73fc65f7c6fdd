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

#[test]
fn rewards_whose_values_overflow_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(
        dir.path(),
        "huge.toml",
        "gamma = 0.9\nstates = 2\nactions = 1\ntransitions = [[[0.0, 1.0]], [[1.0, 0.0]]]\nrewards = [[1e308], [1e308]]\npolicy = [[1.0], [1.0]]\n",
    );
    let (code, err) = refused(&[
        "run",
        "--param",
        "explicit",
        "--domain",
        &format!("file:{}", f.display()),
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("overflow") && err.contains("`domain`"),
        "{err}"
    );
}

#[test]
fn one_file_from_several_working_directories_is_one_domain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = std::fs::canonicalize(dir.path()).expect("canonical");
    std::fs::create_dir(root.join("a")).expect("mkdir");
    write(&root, "m.toml", &two_states(""));
    let out = root.join("res");
    for (cwd, name) in [
        (root.clone(), "file:m.toml".to_string()),
        (root.join("a"), "file:../m.toml".to_string()),
        (
            std::path::PathBuf::from("/"),
            format!("file:{}", root.join("m.toml").display()),
        ),
    ] {
        let grid = write(
            &root,
            "grid.toml",
            &format!("domain = '{name}'\nparam = 'explicit'\nsteps = 2\nseed = [0, 1]\n"),
        );
        imprl()
            .current_dir(&cwd)
            .args(["sweep", "--progress", "quiet", "--config"])
            .arg(&grid)
            .arg("--out")
            .arg(&out)
            .assert()
            .success();
    }
    let csv = export(&out);
    let domains: std::collections::BTreeSet<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().expect("domain"))
        .collect();
    assert_eq!(
        domains.into_iter().collect::<Vec<_>>(),
        [format!("file:{}", root.join("m.toml").display())]
    );
    let store = imprl::store::Store::open_read(&out).expect("store");
    assert_eq!(
        store.len().expect("len"),
        2,
        "2 runs, not one per working directory"
    );
}

#[test]
fn refusals_exit_2_before_any_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    // A number beyond the bound names the bound.
    let (code, err) = refused(&[
        "run",
        "--domain",
        "chain",
        "--param",
        "explicit",
        "--eval-every",
        "9223372036854775808",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("9223372036854775807"), "{err}");
    // Seeds beyond any use: refused at once, naming them.
    let start = Instant::now();
    let (code, err) = refused(&[
        "reproduce",
        "--seeds",
        "100000000000000",
        "--out",
        &d.join("rep").display().to_string(),
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("`seeds`") && start.elapsed() < Duration::from_secs(10),
        "{err}"
    );
    // theory --out naming a file: refused before the analysis (no checkpoint reported).
    let file = write(d, "file.txt", "x");
    let (code, err) = refused(&[
        "theory",
        "--domain",
        "chain",
        "--steps",
        "20",
        "--out",
        &file.display().to_string(),
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--out") && !err.contains("checkpoint"),
        "{err}"
    );
    // merge --out naming a file.
    let (grid_d, grid) = grid_dir("domain = 'chain'\nparam = 'explicit'\nsteps = 1\n");
    let res = grid_d.path().join("res");
    sweep(&grid, &res).assert().success();
    let (code, err) = refused(&[
        "merge",
        "--out",
        &file.display().to_string(),
        &res.display().to_string(),
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(std::fs::read_to_string(&file).expect("kept"), "x");
    // compare with a malformed reference CSV.
    let bad = write(d, "ref.csv", "domain,param\nchain\n");
    let (code, err) = refused(&[
        "compare",
        "--reference",
        &bad.display().to_string(),
        "--results",
        &res.display().to_string(),
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("ref.csv"), "{err}");
    // A sweep of an own domain whose file changed since its runs were stored.
    let m = write(d, "m.toml", &two_states(""));
    let g = write(
        d,
        "g.toml",
        &format!(
            "domain = 'file:{}'\nparam = 'explicit'\nsteps = 1\n",
            m.display()
        ),
    );
    let out = d.join("own");
    sweep(&g, &out).assert().success();
    write(d, "m.toml", &two_states("# edited\n"));
    let o = sweep(&g, &out).output().expect("runs");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("has changed"), "{err}");
}

#[test]
fn a_foreign_database_is_refused_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("res");
    std::fs::create_dir(&out).expect("mkdir");
    let db = out.join(imprl::store::DB_FILE);
    std::fs::write(&db, b"").expect("empty");
    {
        let c = rusqlite::Connection::open(&db).expect("open");
        c.execute_batch("CREATE TABLE people (name TEXT);")
            .expect("create");
    }
    let before = std::fs::read(&db).expect("read");
    let (grid_d, grid) = grid_dir("domain = 'chain'\nparam = 'explicit'\nsteps = 1\n");
    let o = sweep(&grid, &out).output().expect("runs");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_ne!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("not a results store"), "{err}");
    assert_eq!(std::fs::read(&db).expect("read"), before, "nothing written");
    drop(grid_d);
}

#[test]
fn own_domains_get_automatic_learning_rates_and_their_panels() {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = write(dir.path(), "m.toml", &two_states(""));
    let (grid_d, grid) = grid_dir(&format!(
        "domain = 'file:{}'\nparam = ['explicit', 'implicit']\nsteps = 20\nlr = [0.5, 0.25]\nseed = [0, 1]\n",
        m.display()
    ));
    let res = grid_d.path().join("res");
    sweep(&grid, &res).assert().success();
    let figs = grid_d.path().join("figs");
    let o = imprl()
        .args(["plot", "--format", "svg", "--results"])
        .arg(&res)
        .arg("--out")
        .arg(&figs)
        .output()
        .expect("plot");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{text}");
    assert!(
        text.contains("has none"),
        "the report says own domains have no published rates: {text}"
    );
    let best = std::fs::read_to_string(figs.join("best_lr.csv")).expect("best_lr.csv");
    assert!(best.lines().skip(1).all(|l| l.ends_with(",auto")), "{best}");
    let lr_panels = std::fs::read_dir(&figs)
        .expect("figs")
        .filter_map(|e| e.ok())
        .filter(|e| {
            let n = e.file_name().to_string_lossy().to_string();
            n.starts_with("lr_file_") && n.ends_with(".svg")
        })
        .count();
    assert_eq!(lr_panels, 2, "one per-rate figure per parameterization");
}

/// A sweep of long runs (mountain car, implicit: minutes each) on one worker.
const LONG_GRID: &str = "domain = 'mountain-car'\nparam = 'implicit'\nsteps = 5000000\neval_every = 100000\nseed = [0, 1]\n";

#[test]
fn signals_say_what_the_sweep_waits_for_and_a_second_stops_the_runs_in_flight() {
    use std::io::Read;
    let (dir, grid) = grid_dir(LONG_GRID);
    let results = dir.path().join("res");
    let mut child = spawn_sweep(&grid, &results, "lines");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let err_text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = err_text.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .expect("lock")
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let mut first = [0u8; 1];
    stdout.read_exact(&mut first).expect("the sweep starts");
    std::thread::sleep(Duration::from_millis(500));
    let kill = |sig: &str| {
        std::process::Command::new("kill")
            .args([format!("-{sig}"), child.id().to_string()])
            .status()
            .expect("kill")
    };
    assert!(kill("INT").success());
    let start = Instant::now();
    while !err_text.lock().expect("lock").contains("waiting for") {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no word after the first signal"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(kill("TERM").success());
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).expect("stdout");
    let status = child.wait().expect("wait");
    reader.join().expect("reader");
    let err = err_text.lock().expect("lock").clone();
    assert_eq!(status.code(), Some(143), "{err}");
    assert!(err.contains("stopping now"), "{err}");
    assert!(
        String::from_utf8_lossy(&rest).contains("interrupted: 0 runs stored now"),
        "the summary is printed: {}",
        String::from_utf8_lossy(&rest)
    );
    assert!(start.elapsed() < Duration::from_secs(30));
}

/// An own MDP file of the kinds a user (or a fuzzer) may write: small shapes, dense or sparse
/// transitions (sums right or wrong), any rewards, terminal sets, start vectors and data sizes.
fn mdp_file() -> impl Strategy<Value = String> {
    let num = prop_oneof![
        4 => (0u8..=4).prop_map(|i| format!("{}", f64::from(i) / 4.0)),
        1 => prop::sample::select(vec!["-1.0", "1e308", "-1e308", "nan", "0.5", "2", "'x'"]).prop_map(str::to_string),
    ];
    (
        1usize..4,
        1usize..3,
        prop::collection::vec(num, 64),
        prop::collection::vec(any::<u8>(), 16),
    )
        .prop_map(|(n, m, nums, bits)| {
            let mut it = nums.into_iter().cycle();
            let mut at = bits.into_iter().cycle();
            let mut pick = |k: u8| at.next().unwrap_or(0) % k;
            let mut t = format!(
                "gamma = {}\nstates = {n}\nactions = {m}\n",
                ["0.9", "0.0", "1.0", "0.5"][usize::from(pick(4))]
            );
            // Transitions: deterministic (valid), dense from the numbers, or sparse.
            match pick(3) {
                0 => {
                    let rows: Vec<String> = (0..n)
                        .map(|s| {
                            let acts: Vec<String> = (0..m)
                                .map(|a| {
                                    let next = (s + a + 1) % n;
                                    let p: Vec<&str> = (0..n)
                                        .map(|j| if j == next { "1.0" } else { "0.0" })
                                        .collect();
                                    format!("[{}]", p.join(", "))
                                })
                                .collect();
                            format!("[{}]", acts.join(", "))
                        })
                        .collect();
                    t += &format!("transitions = [{}]\n", rows.join(", "));
                }
                1 => {
                    let rows: Vec<String> = (0..n)
                        .map(|_| {
                            let acts: Vec<String> = (0..m)
                                .map(|_| {
                                    format!(
                                        "[{}]",
                                        (0..n)
                                            .map(|_| it.next().unwrap_or_default())
                                            .collect::<Vec<_>>()
                                            .join(", ")
                                    )
                                })
                                .collect();
                            format!("[{}]", acts.join(", "))
                        })
                        .collect();
                    t += &format!("transitions = [{}]\n", rows.join(", "));
                }
                _ => {
                    let e: Vec<String> = (0..n * m)
                        .map(|i| {
                            format!(
                                "{{ s = {}, a = {}, next = {}, p = 1.0 }}",
                                i / m,
                                i % m,
                                usize::from(pick(4))
                            )
                        })
                        .collect();
                    t += &format!("transitions = [{}]\n", e.join(", "));
                }
            }
            let rewards: Vec<String> = (0..n)
                .map(|_| {
                    format!(
                        "[{}]",
                        (0..m)
                            .map(|_| it.next().unwrap_or_default())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
                .collect();
            t += &format!("rewards = [{}]\n", rewards.join(", "));
            let uniform = format!("[{}]", vec![format!("{}", 1.0 / m as f64); m].join(", "));
            t += &format!("policy = [{}]\n", vec![uniform; n].join(", "));
            if pick(2) == 0 {
                let term: Vec<String> = (0..n)
                    .filter(|_| pick(2) == 0)
                    .map(|s| s.to_string())
                    .collect();
                t += &format!("terminal = [{}]\n", term.join(", "));
            }
            if pick(2) == 0 {
                let s: Vec<String> = (0..n)
                    .map(|i| {
                        if i == usize::from(pick(2)) {
                            "1.0"
                        } else {
                            "0.0"
                        }
                        .to_string()
                    })
                    .collect();
                t += &format!("start = [{}]\n", s.join(", "));
            }
            match pick(4) {
                0 => t += "[data]\ntrajectories = 1\nlength = 1\n",
                1 => t += "[data]\ntrajectories = 10000000\nlength = 10000000\n",
                2 => t += "[data]\ntrajectories = 3\nkeep = 'first'\n",
                _ => {}
            }
            t
        })
}

/// A data directory: CSV (rows, columns, cells of any kind) or `.npy` files (any shapes,
/// headers that lie about their size).
fn data_dir() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    let cell = prop::sample::select(vec!["1", "0.5", "-2", "nan", "inf", "x", "", "1e400"]);
    prop_oneof![
        (
            prop::collection::vec(prop::collection::vec(cell.clone(), 0..4), 0..4),
            prop::collection::vec(prop::collection::vec(cell, 0..4), 0..4)
        )
            .prop_map(|(train, test)| {
                let csv = |rows: Vec<Vec<&str>>| {
                    let mut s = String::from("x0,y\n");
                    for r in rows {
                        s += &r.join(",");
                        s.push('\n');
                    }
                    s.into_bytes()
                };
                vec![
                    ("train.csv".to_string(), csv(train)),
                    ("test.csv".to_string(), csv(test)),
                ]
            }),
        (prop::collection::vec(
            (
                prop::sample::select(vec![
                    "(0, 1)",
                    "(2, 1)",
                    "(2,)",
                    "(1, 0)",
                    "(2305843009213693952, 3)",
                    "(3, 2, 1)",
                    "(2, 2)",
                    "(9223372036854775807,)"
                ]),
                0usize..5
            ),
            4
        ))
        .prop_map(|files| {
            ["train_x.npy", "train_y.npy", "test_x.npy", "test_y.npy"]
                .iter()
                .zip(files)
                .map(|(name, (shape, len))| {
                    let mut header =
                        format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
                    header.push('\n');
                    let mut b = b"\x93NUMPY\x01\x00".to_vec();
                    b.extend((header.len() as u16).to_le_bytes());
                    b.extend(header.as_bytes());
                    for i in 0..len {
                        b.extend((i as f64).to_le_bytes());
                    }
                    (name.to_string(), b)
                })
                .collect()
        }),
    ]
}

/// Every outcome of a fuzzed own domain: exit 0 (it ran) or 2 (refused with one line), never a
/// panic, an abort or a hang.
fn exits_0_or_2(domain: &str) -> Result<(), TestCaseError> {
    for param in ["explicit", "implicit"] {
        let out = imprl()
            .args(["run", "--steps", "2", "--param", param, "--domain", domain])
            .timeout(Duration::from_secs(60))
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        prop_assert!(
            matches!(out.status.code(), Some(0) | Some(2)),
            "{domain}: {:?} {err}",
            out.status
        );
        prop_assert!(!err.contains("panicked"), "{err}");
        if out.status.code() == Some(2) {
            prop_assert_eq!(err.trim_end().lines().count(), 1, "{}", err);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn fuzzed_own_mdp_files_exit_0_or_2(text in mdp_file()) {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = write(dir.path(), "m.toml", &text);
        exits_0_or_2(&format!("file:{}", f.display()))?;
    }

    #[test]
    fn fuzzed_data_directories_exit_0_or_2(files in data_dir()) {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, bytes) in &files {
            std::fs::write(dir.path().join(name), bytes).expect("write");
        }
        exits_0_or_2(&format!("data:{}", dir.path().display()))?;
    }
}

#[test]
fn a_run_expected_to_take_long_says_so_first() {
    let mut child = std::process::Command::new(common::bin())
        .args([
            "run",
            "--domain",
            "mountain-car",
            "--param",
            "implicit",
            "--grad",
            "unroll:100000",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stderr = child.stderr.take().expect("stderr");
    let mut line = String::new();
    let mut byte = [0u8; 1];
    while std::io::Read::read(&mut stderr, &mut byte).is_ok_and(|n| n == 1) && byte[0] != b'\n' {
        line.push(char::from(byte[0]));
    }
    child.kill().expect("kill");
    let _ = child.wait();
    assert!(
        line.starts_with("warning: this run is expected to take about"),
        "{line}"
    );
}
