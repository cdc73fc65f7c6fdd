//! The published-layout reader as `imprl compare` uses it: the synthetic sample in
//! `tests/data/published_layout_sample/` (job logs in the published format whose quoted
//! Stdout/Stderr fields hold newlines), failed jobs, and errors that name the file.

use imprl::compare::{load_reference, reference_runs, summarize_reference, ConfigKey};
use imprl::domain::DomainKind;
use imprl::param::ParamKind;
use imprl::published_layout::read_published_all;
use std::path::{Path, PathBuf};

fn sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/published_layout_sample")
}

#[test]
fn reads_the_published_sample() {
    let data = read_published_all(&sample()).expect("sample reads");
    // 6 jobs per job log, each record spanning four or five physical lines.
    assert_eq!(data.runs.len(), 12);
    assert!(data.failed.is_empty());
    let explicit: Vec<_> = data
        .runs
        .iter()
        .filter(|r| r.param == Some(ParamKind::Explicit))
        .collect();
    assert_eq!(explicit.len(), 6);
    assert!(data
        .runs
        .iter()
        .all(|r| r.domain == Some(DomainKind::Chain)));
    // Seq 3 of the explicit log: LEARNING_RATE=.25000000000000000000, η 0.8, offset 0.3.
    let r3 = explicit.iter().find(|r| r.seq == 3).expect("seq 3");
    assert_eq!(
        (r3.lr, r3.eta, r3.offset, r3.batch_size),
        (0.25, 0.8, 0.3, 25)
    );
    assert_eq!(r3.seed, 103);
    assert!((r3.runtime_s - 2.861).abs() < 1e-12);
    // 31 evaluations: timesteps 0, 10, …, 300.
    assert_eq!(r3.rows.len(), 31);
    assert_eq!(r3.rows.last().map(|r| r.timestep), Some(300));
    // Seq 1 of the explicit log: its first row as in 1/logs.csv.
    let r1 = explicit.iter().find(|r| r.seq == 1).expect("seq 1");
    assert_eq!(r1.lr, 4.0);

    let (runs, skipped) = reference_runs(&data);
    assert_eq!((runs.len(), skipped), (12, 0));
    let stats = summarize_reference(&runs);
    let key = ConfigKey::published(DomainKind::Chain, ParamKind::Explicit, 0.8, 0.25, 0.3, 25);
    let s = &stats[&key];
    assert_eq!((s.runs, s.failed, s.diverged), (1, 0, Some(0)));
    assert_eq!(s.final_norm.mean, r3.rows[30].residual_norm);
    // The implicit log spells offset 0 as `0.`.
    let mut k0 = key;
    (k0.param, k0.lr, k0.offset) = (ParamKind::Implicit, 0.0078125, 0.0);
    assert!(stats.contains_key(&k0));
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.path().is_dir() {
            copy_tree(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}

#[test]
fn failed_jobs_are_excluded_and_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = tmp.path().join("chain_rollout/explicit/000000000001");
    copy_tree(
        &sample().join("chain_rollout/explicit/000000000001"),
        &run_dir,
    );
    // Job 6 (η 0.9, lr 1, offset 0.4) killed by signal 9, its log gone.
    let p = run_dir.join("results.csv");
    let text = std::fs::read_to_string(&p).unwrap();
    let text = text.replace(
        "6,:,1600000000.019,2.958,0,199,0,0,",
        "6,:,1600000000.019,2.958,0,199,0,9,",
    );
    std::fs::write(&p, text).unwrap();
    std::fs::remove_dir_all(run_dir.join("6")).unwrap();
    let (stats, skipped) = load_reference(tmp.path()).expect("reads");
    assert_eq!(skipped, 0);
    let key = ConfigKey::published(DomainKind::Chain, ParamKind::Explicit, 0.9, 1.0, 0.4, 25);
    let s = &stats[&key];
    assert_eq!((s.runs, s.failed), (0, 1));
    assert_eq!(stats.values().map(|s| s.runs).sum::<usize>(), 5);
}

#[test]
fn missing_and_malformed_files_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = tmp.path().join("chain_rollout/implicit/000000000002");
    copy_tree(
        &sample().join("chain_rollout/implicit/000000000002"),
        &run_dir,
    );
    // A successful job without its log.
    std::fs::remove_file(run_dir.join("2/logs.csv")).unwrap();
    let e = load_reference(tmp.path()).unwrap_err().to_string();
    assert!(e.contains("2/logs.csv"), "{e}");
    // A malformed log.
    std::fs::write(run_dir.join("2/logs.csv"), "timestep,mse\n0,1\n").unwrap();
    let e = load_reference(tmp.path()).unwrap_err().to_string();
    assert!(e.contains("2/logs.csv") && e.contains("no column"), "{e}");
    // A directory without job logs.
    let empty = tempfile::tempdir().unwrap();
    let e = load_reference(empty.path()).unwrap_err().to_string();
    assert!(e.contains(&empty.path().display().to_string()), "{e}");
    // A summary CSV without a needed column.
    let f = empty.path().join("summary.csv");
    std::fs::write(&f, "method,eta,lr,offset\nexplicit,0.8,1,0\n").unwrap();
    let e = load_reference(&f).unwrap_err().to_string();
    assert!(e.contains("summary.csv") && e.contains("`n`"), "{e}");
}
