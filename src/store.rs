//! The results store of a sweep: an embedded SQLite database `results.sqlite` in the output
//! directory, one row per run and one per evaluation.
//!
//! Each finished run is committed in one transaction (its run row and all its evaluations), so a
//! sweep killed at any moment loses at most the runs in flight and never leaves a half-written
//! run. Floats are stored as SQLite `REAL`, i.e. exact IEEE doubles, so results round-trip bit
//! for bit. Runs are identified by [`run_key`], a canonical text of all their settings.
//!
//! Schema (version [`SCHEMA_VERSION`]):
//! - `meta(name TEXT PRIMARY KEY, value TEXT)` with `schema_version`;
//! - `runs(id, key UNIQUE, domain, slip, bias, param, eta, lr, offset, seed, steps, batch_size,
//!   eval_every, sampling, status, diverged_at, runtime_s, solver)`; `status` is `finished` or
//!   `diverged`, `diverged_at` the step of divergence (NULL when finished), `seed` the `u64`
//!   seed's bits as a signed 64-bit integer;
//! - `evals(run_id, timestep, mse, res_ones_norm, res_ortho_norm, residual_norm)`.

use crate::config::{
    by_name, sampling_name, slip_name, solver_name, RunConfig, SAMPLINGS, SLIPS, SOLVERS,
};
use crate::domain::{DomainKind, DomainSpec};
use crate::param::ParamKind;
use crate::record::RunRecord;
use crate::train::{EvalRow, Outcome};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Version of the store's schema, kept in its `meta` table.
pub const SCHEMA_VERSION: i64 = 1;

/// File name of the database inside a results directory.
pub const DB_FILE: &str = "results.sqlite";

/// A failure of the results store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("results store {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The output directory cannot be created.
    #[error("cannot create {path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a store of this version, or holds a value this version cannot read.
    #[error("results store {path}: {message}")]
    Format {
        /// The database file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The canonical identity of a run: every setting, floats in their shortest exact decimal form.
/// Two configurations have the same key exactly when they are equal.
pub fn run_key(c: &RunConfig) -> String {
    format!(
        "domain={};slip={};bias={};param={};eta={};lr={};offset={};seed={};steps={};batch_size={};eval_every={};sampling={};solver={}",
        c.domain.kind.name(),
        slip_name(c.domain.slip),
        c.domain.bias,
        c.param.name(),
        c.eta,
        c.lr,
        c.offset,
        c.seed,
        c.steps,
        c.batch_size,
        c.eval_every,
        sampling_name(c.sampling),
        solver_name(c.solver),
    )
}

/// An open results store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    domain TEXT NOT NULL,
    slip TEXT NOT NULL,
    bias INTEGER NOT NULL,
    param TEXT NOT NULL,
    eta REAL NOT NULL,
    lr REAL NOT NULL,
    offset REAL NOT NULL,
    seed INTEGER NOT NULL,
    steps INTEGER NOT NULL,
    batch_size INTEGER NOT NULL,
    eval_every INTEGER NOT NULL,
    sampling TEXT NOT NULL,
    status TEXT NOT NULL,
    diverged_at INTEGER,
    runtime_s REAL NOT NULL,
    solver TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS evals (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    timestep INTEGER NOT NULL,
    mse REAL NOT NULL,
    res_ones_norm REAL NOT NULL,
    res_ortho_norm REAL NOT NULL,
    residual_norm REAL NOT NULL,
    PRIMARY KEY (run_id, timestep)
) WITHOUT ROWID;
";

/// The deterministic order of runs: by settings (the seed last but for the schedule).
const ORDER: &str = "r.domain, r.slip, r.bias, r.param, r.eta, r.lr, r.offset, r.seed, r.steps, \
                     r.batch_size, r.eval_every, r.sampling, r.solver";

impl Store {
    /// Opens (creating if needed) the store in directory `dir` (created if missing).
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(DB_FILE);
        let sql = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(sql)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(sql)?;
        let _mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(sql)?;
        conn.execute_batch("PRAGMA synchronous=NORMAL;")
            .map_err(sql)?;
        conn.execute_batch(SCHEMA).map_err(sql)?;
        let version: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE name = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql)?;
        match version {
            None => {
                conn.execute(
                    "INSERT INTO meta (name, value) VALUES ('schema_version', ?1)",
                    [SCHEMA_VERSION.to_string()],
                )
                .map_err(sql)?;
            }
            Some(v) if v == SCHEMA_VERSION.to_string() => {}
            Some(v) => {
                return Err(StoreError::Format {
                    path,
                    message: format!(
                        "schema version {v}, this program reads version {SCHEMA_VERSION}"
                    ),
                })
            }
        }
        Ok(Store { conn, path })
    }

    /// True when `dir` holds a store.
    pub fn exists(dir: &Path) -> bool {
        dir.join(DB_FILE).is_file()
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sql(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// The keys ([`run_key`]) of all stored runs.
    pub fn finished_keys(&self) -> Result<HashSet<String>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT key FROM runs")
            .map_err(|e| self.sql(e))?;
        let keys = st
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.sql(e))?
            .collect::<Result<HashSet<_>, _>>()
            .map_err(|e| self.sql(e))?;
        Ok(keys)
    }

    /// Number of stored runs.
    pub fn len(&self) -> Result<usize, StoreError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM runs", [], |r| r.get::<_, i64>(0))
            .map(|n| n as usize)
            .map_err(|e| self.sql(e))
    }

    /// True when no run is stored.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }

    /// Stores one finished run (its row and all its evaluations) in one transaction. Returns
    /// false, changing nothing, when a run with the same settings is already stored.
    pub fn insert(&mut self, rec: &RunRecord) -> Result<bool, StoreError> {
        let path = self.path.clone();
        let sql = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let c = &rec.config;
        let tx = self.conn.transaction().map_err(sql)?;
        let (status, diverged_at) = match rec.outcome {
            Outcome::Finished => ("finished", None),
            Outcome::Diverged { step } => ("diverged", Some(step as i64)),
        };
        let inserted = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO runs (key, domain, slip, bias, param, eta, lr, offset, seed,
                 steps, batch_size, eval_every, sampling, status, diverged_at, runtime_s, solver)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
            )
            .and_then(|mut st| {
                st.execute(params![
                    run_key(c),
                    c.domain.kind.name(),
                    slip_name(c.domain.slip),
                    c.domain.bias,
                    c.param.name(),
                    c.eta,
                    c.lr,
                    c.offset,
                    c.seed as i64,
                    c.steps as i64,
                    c.batch_size as i64,
                    c.eval_every as i64,
                    sampling_name(c.sampling),
                    status,
                    diverged_at,
                    rec.runtime_s,
                    solver_name(c.solver),
                ])
            })
            .map_err(sql)?;
        if inserted == 0 {
            return Ok(false);
        }
        let id = tx.last_insert_rowid();
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT INTO evals (run_id, timestep, mse, res_ones_norm, res_ortho_norm,
                     residual_norm) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(sql)?;
            for r in &rec.rows {
                st.execute(params![
                    id,
                    r.timestep as i64,
                    r.mse,
                    r.res_ones_norm,
                    r.res_ortho_norm,
                    r.residual_norm
                ])
                .map_err(sql)?;
            }
        }
        tx.commit().map_err(sql)?;
        Ok(true)
    }

    /// Calls `f` on every stored run, in the deterministic order of their settings, holding
    /// one run in memory at a time.
    pub fn for_each(
        &self,
        mut f: impl FnMut(RunRecord) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let query = format!(
            "SELECT r.id, r.domain, r.slip, r.bias, r.param, r.eta, r.lr, r.offset, r.seed,
                    r.steps, r.batch_size, r.eval_every, r.sampling, r.status, r.diverged_at,
                    r.runtime_s, e.timestep, e.mse, e.res_ones_norm, e.res_ortho_norm,
                    e.residual_norm, r.solver
             FROM runs r LEFT JOIN evals e ON e.run_id = r.id
             ORDER BY {ORDER}, e.timestep"
        );
        let mut st = self.conn.prepare(&query).map_err(|e| self.sql(e))?;
        let mut rows = st.query([]).map_err(|e| self.sql(e))?;
        let mut current: Option<(i64, RunRecord)> = None;
        while let Some(row) = rows.next().map_err(|e| self.sql(e))? {
            let id: i64 = row.get(0).map_err(|e| self.sql(e))?;
            if current.as_ref().map(|(cid, _)| *cid) != Some(id) {
                if let Some((_, rec)) = current.take() {
                    f(rec)?;
                }
                current = Some((id, self.record_of(row)?));
            }
            let ts: Option<i64> = row.get(16).map_err(|e| self.sql(e))?;
            if let (Some(ts), Some((_, rec))) = (ts, current.as_mut()) {
                let g = |i| row.get::<_, f64>(i);
                let eval = (|| {
                    Ok::<_, rusqlite::Error>(EvalRow {
                        timestep: ts as usize,
                        mse: g(17)?,
                        res_ones_norm: g(18)?,
                        res_ortho_norm: g(19)?,
                        residual_norm: g(20)?,
                    })
                })()
                .map_err(|e| self.sql(e))?;
                rec.rows.push(eval);
            }
        }
        if let Some((_, rec)) = current.take() {
            f(rec)?;
        }
        Ok(())
    }

    /// All stored runs, in the deterministic order of their settings (see [`Store::for_each`]).
    pub fn load_all(&self) -> Result<Vec<RunRecord>, StoreError> {
        let mut out = Vec::new();
        self.for_each(|r| {
            out.push(r);
            Ok(())
        })?;
        Ok(out)
    }

    fn record_of(&self, row: &rusqlite::Row<'_>) -> Result<RunRecord, StoreError> {
        let bad = |what: &str, v: &str| StoreError::Format {
            path: self.path.clone(),
            message: format!("unknown {what} `{v}`"),
        };
        let text = |i| row.get::<_, String>(i).map_err(|e| self.sql(e));
        let real = |i| row.get::<_, f64>(i).map_err(|e| self.sql(e));
        let int = |i| row.get::<_, i64>(i).map_err(|e| self.sql(e));
        let domain = text(1)?;
        let kind = DomainKind::from_name(&domain).ok_or_else(|| bad("domain", &domain))?;
        let slip_s = text(2)?;
        let slip = by_name(&SLIPS, slip_name, &slip_s).ok_or_else(|| bad("slip", &slip_s))?;
        let param_s = text(4)?;
        let param = ParamKind::from_name(&param_s).ok_or_else(|| bad("param", &param_s))?;
        let sampling_s = text(12)?;
        let sampling = by_name(&SAMPLINGS, sampling_name, &sampling_s)
            .ok_or_else(|| bad("sampling", &sampling_s))?;
        let solver_s = text(21)?;
        let solver =
            by_name(&SOLVERS, solver_name, &solver_s).ok_or_else(|| bad("solver", &solver_s))?;
        let status = text(13)?;
        let diverged_at: Option<i64> = row.get(14).map_err(|e| self.sql(e))?;
        let outcome = match (status.as_str(), diverged_at) {
            ("finished", _) => Outcome::Finished,
            ("diverged", Some(step)) => Outcome::Diverged {
                step: step as usize,
            },
            _ => return Err(bad("status", &status)),
        };
        Ok(RunRecord {
            config: RunConfig {
                domain: DomainSpec {
                    kind,
                    slip,
                    bias: int(3)? != 0,
                },
                param,
                eta: real(5)?,
                lr: real(6)?,
                offset: real(7)?,
                seed: int(8)? as u64,
                steps: int(9)? as usize,
                batch_size: int(10)? as usize,
                eval_every: int(11)? as usize,
                sampling,
                solver,
            },
            outcome,
            runtime_s: real(15)?,
            rows: Vec::new(),
        })
    }

    /// Copies every run of `other` that this store lacks; returns how many were copied.
    pub fn merge_from(&mut self, other: &Store) -> Result<usize, StoreError> {
        let mut n = 0;
        other.for_each(|rec| {
            if self.insert(&rec)? {
                n += 1;
            }
            Ok(())
        })?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RunSettings;

    fn record(seed: u64, offset: f64, diverged: bool) -> RunRecord {
        let config = RunSettings {
            domain: Some(DomainKind::Chain),
            param: Some(ParamKind::Implicit),
            seed: Some(seed),
            offset: Some(offset),
            ..Default::default()
        }
        .resolve()
        .expect("valid");
        let rows = (0..4)
            .map(|t| EvalRow {
                timestep: 10 * t,
                mse: 0.1 + seed as f64 / 3.0 + t as f64,
                res_ones_norm: 1.0 / 7.0,
                res_ortho_norm: std::f64::consts::PI * offset,
                residual_norm: f64::MIN_POSITIVE,
            })
            .collect();
        RunRecord {
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
        assert!(keys.contains(&run_key(&recs[1].config)));
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
}
