//! Own domains across stores (SPEC §8.6): `imprl merge` carries the domains' content hashes
//! over and refuses stores that recorded different contents for one domain; one file reached by
//! several paths is one domain.

mod common;

use common::{imprl, sweep, write, CYCLE};
use imprl::config::{Raw, RunSettings};
use imprl::store::Store;
use std::path::{Path, PathBuf};

/// The cycle with another reward in state 0 (same path, other contents).
fn changed_cycle() -> String {
    CYCLE.replace(
        "[[1.0], [1.0], [1.0]]\npolicy",
        "[[2.0], [1.0], [1.0]]\npolicy",
    )
}

/// A sweep of `seeds` of the file domain `f` into `out`; must succeed.
fn sweep_file(dir: &Path, f: &Path, seeds: &str, out: &Path) {
    let grid = write(
        dir,
        "grid.toml",
        &format!(
            "domain = 'file:{}'\nparam = 'explicit'\nsteps = 20\nseed = {seeds}\n",
            f.display()
        ),
    );
    let o = sweep(&grid, out).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn hashes(dir: &Path) -> std::collections::BTreeMap<String, String> {
    Store::open_read(dir).unwrap().domain_hashes().unwrap()
}

fn merge(out: &Path, shards: &[&Path]) -> std::process::Output {
    imprl()
        .args(["merge", "--out"])
        .arg(out)
        .args(shards)
        .output()
        .unwrap()
}

/// Two shard stores and a merge output in `dir`.
fn stores(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    (dir.join("a"), dir.join("b"), dir.join("out"))
}

#[test]
fn merge_carries_the_domain_hashes_so_a_changed_file_is_still_refused() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "cycle.toml", CYCLE);
    let (a, b, out) = stores(dir.path());
    sweep_file(dir.path(), &f, "[0, 1]", &a);
    sweep_file(dir.path(), &f, "[2]", &b);
    let recorded = hashes(&a);
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded, hashes(&b));

    let o = merge(&out, &[&a, &b]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(Store::open_read(&out).unwrap().len().unwrap(), 3);
    assert_eq!(hashes(&out), recorded);

    // The merged store knows the file's contents: a sweep after the file changed is refused.
    std::fs::write(&f, changed_cycle()).unwrap();
    let grid = write(
        dir.path(),
        "grid.toml",
        &format!(
            "domain = 'file:{}'\nparam = 'explicit'\nsteps = 20\nseed = 3\n",
            f.display()
        ),
    );
    let o = sweep(&grid, &out).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(stderr.contains("has changed since its runs"), "{stderr}");
}

#[test]
fn merging_stores_of_two_versions_of_a_domain_is_refused_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "cycle.toml", CYCLE);
    let (a, b, out) = stores(dir.path());
    sweep_file(dir.path(), &f, "[0]", &a);
    std::fs::write(&f, changed_cycle()).unwrap();
    sweep_file(dir.path(), &f, "[1]", &b);
    let (ha, hb) = (hashes(&a), hashes(&b));
    let name = format!("file:{}", f.display());
    assert_ne!(ha[&name], hb[&name]);

    let o = merge(&out, &[&a, &b]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    for needle in [name.as_str(), ha[&name].as_str(), hb[&name].as_str()] {
        assert!(stderr.contains(needle), "{needle} not in: {stderr}");
    }
    assert!(!Store::exists(&out), "the output was written");

    // Into an output that already holds the other version: refused, the output unchanged.
    let o = merge(&a, &[&b]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(Store::open_read(&a).unwrap().len().unwrap(), 1);
    assert_eq!(hashes(&a), ha);

    // The library refuses too, before copying a run.
    let mut sa = Store::open(&a).unwrap();
    let sb = Store::open_read(&b).unwrap();
    let e = sa.merge_from(&sb).unwrap_err();
    assert!(
        matches!(e, imprl::store::StoreError::DomainConflict { .. }),
        "{e}"
    );
    assert_eq!(sa.len().unwrap(), 1);
}

fn user_domain(text: &str) -> String {
    let mut s = RunSettings::default();
    s.set("domain", Raw::Text(text)).expect("domain");
    s.domain.expect("set").name().to_string()
}

#[test]
fn one_file_by_several_paths_is_one_domain() {
    // Integration tests run in the package's directory.
    let abs = format!("file:{}/examples/chain.toml", env!("CARGO_MANIFEST_DIR"));
    let resolved = std::fs::canonicalize(format!(
        "{}/examples/chain.toml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("exists");
    let canonical_text = format!("file:{}", resolved.display());
    let canonical = canonical_text.as_str();
    for spelling in [
        "file:examples/chain.toml",
        "file:./examples/chain.toml",
        "file:examples/../examples/chain.toml",
        abs.as_str(),
    ] {
        assert_eq!(user_domain(spelling), canonical, "{spelling}");
    }
    let data = format!("data:{}/tests/data/../data", env!("CARGO_MANIFEST_DIR"));
    let data_dir = std::fs::canonicalize(format!("{}/tests/data", env!("CARGO_MANIFEST_DIR")))
        .expect("exists");
    assert_eq!(
        imprl::domain::own::canonical_name(&data),
        format!("data:{}", data_dir.display())
    );
    // A path that does not resolve is kept as given (its error names it).
    assert_eq!(
        imprl::domain::own::canonical_name("file:./no/such.toml"),
        "file:./no/such.toml"
    );
    // A store's names are read as stored: parsing a name does not canonicalize it.
    assert_eq!(
        imprl::domain::DomainKind::from_name("file:./examples/chain.toml")
            .unwrap()
            .name(),
        "file:./examples/chain.toml"
    );

    // A sweep resumed with another spelling of the file skips the runs it has.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    for (i, spelling) in [abs.as_str(), "file:./examples/chain.toml"]
        .iter()
        .enumerate()
    {
        let grid = write(
            dir.path(),
            "grid.toml",
            &format!("domain = '{spelling}'\nparam = 'explicit'\nsteps = 20\nseed = [0, 1]\n"),
        );
        let o = sweep(&grid, &out).output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{stderr}");
        let store = Store::open_read(&out).unwrap();
        assert_eq!(store.len().unwrap(), 2, "after sweep {i}");
        assert_eq!(
            store.domain_hashes().unwrap().keys().collect::<Vec<_>>(),
            [canonical]
        );
    }
}
