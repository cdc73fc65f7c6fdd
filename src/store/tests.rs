//! The store's tests: round trips, merges, signed zeros, damage, old stores, read-only reading.
use super::*;
use crate::config::RunSettings;
use crate::domain::DomainKind;
use crate::metrics::EvalRow;
use crate::param::ParamKind;
use rusqlite::Connection;

/// A made-up run; its seed is set after validation, so that seeds of earlier releases (any
/// `u64`, stored by their bits) round-trip too.
fn record(seed: u64, offset: f64, diverged: bool) -> RunRecord {
    let mut config = RunSettings {
        domain: Some(DomainKind::Chain),
        param: Some(ParamKind::Implicit),
        offset: Some(offset),
        ..RunSettings::default()
    }
    .resolve()
    .expect("valid");
    config.seed = seed;
    let rows = (0..4)
        .map(|t| EvalRow {
            timestep: 10 * t,
            mse: 0.1 + seed as f64 / 3.0 + t as f64,
            res_ones_norm: 1.0 / 7.0,
            res_ortho_norm: std::f64::consts::PI * offset,
            residual_norm: f64::MIN_POSITIVE,
            eta: None,
            inexact_updates: None,
            max_solve_residual: None,
        })
        .collect();
    RunRecord {
        theta: None,
        config,
        outcome: if diverged {
            Outcome::Diverged { step: 37 }
        } else {
            Outcome::Finished
        },
        runtime_s: 0.25,
        rows,
    }
}

#[test]
fn sweep_store_round_trips_bit_for_bit_in_settings_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let recs = [
        record(u64::MAX, 0.3, false),
        record(2, 0.1, true),
        record(1, 0.1, false),
    ];
    {
        let mut s = Store::open(dir.path()).expect("open");
        for r in &recs {
            assert!(s.insert(r).expect("insert"));
        }
        assert!(!s.insert(&recs[0]).expect("insert again"));
    }
    let s = Store::open(dir.path()).expect("reopen");
    assert_eq!(s.len().expect("len"), 3);
    let all = s.load_all().expect("load");
    assert_eq!(all, vec![recs[2].clone(), recs[1].clone(), recs[0].clone()]);
    let keys = s.finished_keys().expect("keys");
    assert!(keys.contains(&recs[1].config.key()));
    let r = Store::open_read(dir.path()).expect("read-only");
    assert_eq!(r.load_all().expect("load"), all);
}

#[test]
fn sweep_store_merge_skips_known_runs() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut sa = Store::open(a.path()).unwrap();
    let mut sb = Store::open(b.path()).unwrap();
    sa.insert(&record(1, 0.0, false)).unwrap();
    sb.insert(&record(1, 0.0, false)).unwrap();
    sb.insert(&record(2, 0.0, false)).unwrap();
    assert_eq!(sa.merge_from(&sb).unwrap(), 1);
    assert_eq!(sa.load_all().unwrap(), sb.load_all().unwrap());
}

#[test]
fn signed_zero_offsets_are_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path()).unwrap();
    assert!(s.insert(&record(1, -0.0, false)).unwrap());
    assert!(!s.insert(&record(1, 0.0, false)).unwrap());
    let all = s.load_all().unwrap();
    assert_eq!(all.len(), 1);
    assert!(all[0].config.offset.is_sign_positive());
}

#[test]
fn damaged_runs_are_named_and_repairable() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path()).unwrap();
    for seed in 0..3 {
        s.insert(&record(seed, 0.5, false)).unwrap();
    }
    // Damage one evaluation of seed 1 and a setting of seed 2, as random bytes would.
    s.conn
        .execute(
            "UPDATE evals SET res_ortho_norm = -1.0 WHERE timestep = 20 AND run_id =
             (SELECT id FROM runs WHERE seed = 1)",
            [],
        )
        .unwrap();
    s.conn
        .execute("UPDATE runs SET eta = 0.5 WHERE seed = 2", [])
        .unwrap();
    let e = s.load_all().expect_err("damaged");
    let StoreError::Damaged { keys, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!(keys.len(), 2, "{e}");
    assert!(e.to_string().contains("seed=1;"), "{e}");
    assert!(e.to_string().contains("--repair"), "{e}");
    assert!(s.finished_keys().is_err());
    assert_eq!(s.remove_damaged().unwrap().len(), 2);
    assert_eq!(s.load_all().unwrap(), vec![record(0, 0.5, false)]);
}

/// The schema of the release before the settings were declared once (version 1), as it
/// wrote its stores.
const V1_SCHEMA: &str = "
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (
id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, domain TEXT NOT NULL, slip TEXT NOT NULL,
bias INTEGER NOT NULL, param TEXT NOT NULL, eta REAL NOT NULL, lr REAL NOT NULL,
offset REAL NOT NULL, seed INTEGER NOT NULL, steps INTEGER NOT NULL,
batch_size INTEGER NOT NULL, eval_every INTEGER NOT NULL, sampling TEXT NOT NULL,
status TEXT NOT NULL, diverged_at INTEGER, runtime_s REAL NOT NULL SOLVER_COLUMN
);
CREATE TABLE evals (
run_id INTEGER NOT NULL REFERENCES runs(id), timestep INTEGER NOT NULL, mse REAL NOT NULL,
res_ones_norm REAL NOT NULL, res_ortho_norm REAL NOT NULL, residual_norm REAL NOT NULL,
PRIMARY KEY (run_id, timestep)
) WITHOUT ROWID;
INSERT INTO meta VALUES ('schema_version', '1');
INSERT INTO runs VALUES (1, 'domain=chain;slip=published;bias=false;param=implicit;eta=0.95;lr=0.015625;offset=0;seed=1;steps=300;batch_size=25;eval_every=10;sampling=with-replacement;solver=auto',
'chain', 'published', 0, 'implicit', 0.95, 0.015625, -0.0, 1, 300, 25, 10, 'with-replacement',
'finished', NULL, 0.25 SOLVER_VALUE);
INSERT INTO evals VALUES (1, 0, 0.5, 0.25, 0.125, 0.75), (1, 300, 0.05, 0.025, 0.0125, 0.075);
";

/// A store of the previous release still opens, for reading and for writing (upgraded in
/// place): its runs keep their identity (resume skips them) and read back with their
/// settings, a setting it lacks taking its declared default.
#[test]
fn old_stores_open_and_resume() {
    for with_solver in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let sql = V1_SCHEMA
            .replace(
                "SOLVER_COLUMN",
                if with_solver {
                    ", solver TEXT NOT NULL"
                } else {
                    ""
                },
            )
            .replace("SOLVER_VALUE", if with_solver { ", 'auto'" } else { "" });
        Connection::open(dir.path().join(DB_FILE))
            .unwrap()
            .execute_batch(&sql)
            .unwrap();
        let expected = {
            let mut r = record(1, 0.0, false);
            r.rows = vec![
                EvalRow {
                    timestep: 0,
                    mse: 0.5,
                    res_ones_norm: 0.25,
                    res_ortho_norm: 0.125,
                    residual_norm: 0.75,
                    eta: None,
                    inexact_updates: None,
                    max_solve_residual: None,
                },
                EvalRow {
                    timestep: 300,
                    mse: 0.05,
                    res_ones_norm: 0.025,
                    res_ortho_norm: 0.0125,
                    residual_norm: 0.075,
                    eta: None,
                    inexact_updates: None,
                    max_solve_residual: None,
                },
            ];
            r
        };
        let read = Store::open_read(dir.path()).unwrap().load_all().unwrap();
        assert_eq!(read, vec![expected.clone()]);
        let mut s = Store::open(dir.path()).unwrap();
        assert_eq!(s.version().unwrap(), Some(SCHEMA_VERSION));
        assert!(s.finished_keys().unwrap().contains(&expected.config.key()));
        assert!(
            !s.insert(&expected).unwrap(),
            "resume must skip the old run"
        );
        assert!(s.insert(&record(2, 0.0, false)).unwrap());
        assert_eq!(s.load_all().unwrap(), vec![expected, record(2, 0.0, false)]);
    }
}

/// Every declared setting is a column of a new store.
#[test]
fn every_setting_is_a_store_column() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    for set in SETTINGS {
        assert!(s.columns.contains(set.name), "{}", set.name);
    }
}

#[test]
fn reading_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    Store::open(dir.path())
        .unwrap()
        .insert(&record(1, 0.0, false))
        .unwrap();
    let list = || {
        let mut v: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        v.sort();
        v
    };
    let before = list();
    let db = dir.path().join(DB_FILE);
    let mut perm = std::fs::metadata(&db).unwrap().permissions();
    perm.set_readonly(true);
    std::fs::set_permissions(&db, perm.clone()).unwrap();
    let r = Store::open_read(dir.path()).unwrap();
    assert_eq!(r.load_all().unwrap().len(), 1);
    drop(r);
    assert_eq!(
        list(),
        before,
        "reading a read-only store left files behind"
    );
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(&db, perm).unwrap();
    let mut w = Store::open(dir.path()).unwrap();
    assert!(w.insert(&record(2, 0.0, false)).unwrap());
    assert!(Store::open_read(&dir.path().join("none")).is_err());
}

/// A store written before the last settings were declared (its runs checksummed without them)
/// reads back, read-only and after an upgrade, its runs taking those settings' defaults.
#[test]
fn stores_written_before_a_setting_still_verify() {
    let dir = tempfile::tempdir().unwrap();
    let rec = record(3, 0.5, false);
    Store::open(dir.path()).unwrap().insert(&rec).unwrap();
    // The settings after `solver` did not exist then: no columns, and keys that end at `solver`.
    let later: Vec<&str> = SETTINGS
        .iter()
        .map(|s| s.name)
        .skip_while(|n| *n != "solver")
        .skip(1)
        .collect();
    let key = rec.config.key();
    let cut = key
        .find(&format!(";{}=", later[0]))
        .expect("a setting after solver");
    let old_key = &key[..cut];
    assert!(old_key.ends_with("solver=auto"), "{old_key}");
    let old_sum = super::checksum::checksum_with_key(old_key, &rec);
    {
        let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
        for n in later {
            conn.execute_batch(&format!("ALTER TABLE runs DROP COLUMN {n};"))
                .unwrap();
        }
        conn.execute(
            "UPDATE runs SET key = ?1, checksum = ?2",
            [old_key, old_sum.as_str()],
        )
        .unwrap();
        conn.execute(
            "UPDATE meta SET value = '2' WHERE name = 'schema_version'",
            [],
        )
        .unwrap();
    }
    let read = Store::open_read(dir.path()).unwrap().load_all().unwrap();
    assert_eq!(read, vec![rec.clone()]);
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(s.load_all().unwrap(), vec![rec.clone()]);
    assert!(s.finished_keys().unwrap().contains(&key));
}

/// A learned discount's `eta` round-trips bit for bit beside the fixed-η runs' NULLs, and is
/// part of the checksum.
#[test]
fn learned_eta_round_trips_and_is_checksummed() {
    let dir = tempfile::tempdir().unwrap();
    let fixed = record(1, 0.0, false);
    let mut learned = record(2, 0.0, false);
    for (i, r) in learned.rows.iter_mut().enumerate() {
        r.eta = Some(0.9 + i as f64 / 97.0);
    }
    assert_ne!(checksum(&learned), checksum(&record(2, 0.0, false)));
    {
        let mut s = Store::open(dir.path()).unwrap();
        assert!(s.insert(&fixed).unwrap());
        assert!(s.insert(&learned).unwrap());
    }
    let read = Store::open_read(dir.path()).unwrap().load_all().unwrap();
    assert_eq!(read, vec![fixed, learned]);
    Connection::open(dir.path().join(DB_FILE))
        .unwrap()
        .execute(
            "UPDATE evals SET eta = 0.5 WHERE eta IS NOT NULL AND timestep = 10",
            [],
        )
        .unwrap();
    let err = Store::open_read(dir.path()).unwrap().load_all();
    assert!(matches!(err, Err(StoreError::Damaged { .. })), "{err:?}");
}

/// A foreign database, or a store of a newer schema, is refused before anything is written:
/// no table is added and the journal mode is not switched to WAL.
#[test]
fn foreign_and_newer_databases_are_refused_untouched() {
    for (setup, expected) in [
        ("CREATE TABLE people (name TEXT);", "not a results store"),
        (
            "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL); INSERT INTO meta VALUES ('schema_version', '99');",
            "schema version 99",
        ),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(DB_FILE);
        Connection::open(&path)
            .expect("open")
            .execute_batch(setup)
            .expect("setup");
        let tables = |c: &Connection| -> Vec<String> {
            let mut st = c
                .prepare("SELECT name FROM sqlite_master ORDER BY name")
                .expect("prepare");
            let names = st
                .query_map([], |r| r.get(0))
                .expect("query")
                .collect::<Result<Vec<String>, _>>()
                .expect("names");
            names
        };
        let before = tables(&Connection::open(&path).expect("open"));
        let e = Store::open(dir.path()).err().expect("refused").to_string();
        assert!(e.contains(expected), "{e}");
        let c = Connection::open(&path).expect("open");
        assert_eq!(tables(&c), before);
        let mode: String = c
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("mode");
        assert_eq!(mode, "delete");
        assert!(!dir.path().join(format!("{DB_FILE}-wal")).exists());
    }
}
