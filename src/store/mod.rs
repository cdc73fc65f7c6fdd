//! The results store of a sweep: an embedded SQLite database `results.sqlite` in the output
//! directory, one row per run and one per evaluation.
//!
//! Each finished run is committed in one transaction (its run row and all its evaluations), so a
//! sweep killed at any moment loses at most the runs in flight and never leaves a half-written
//! run. Floats are stored as SQLite `REAL`, i.e. exact IEEE doubles, so results round-trip bit
//! for bit. Runs are identified by their key ([`RunConfig::key`]), a canonical text of all their
//! settings, and carry a checksum of their settings and results that every read verifies.
//!
//! Schema (version [`SCHEMA_VERSION`]):
//! - `meta(name TEXT PRIMARY KEY, value TEXT)` with `schema_version`;
//! - `runs(id, key UNIQUE, <one column per declared setting>, status, diverged_at, runtime_s,
//!   checksum)`; the setting columns are those of [`crate::config::SETTINGS`], read by name;
//!   `status` is `finished` or `diverged`, `diverged_at` the step of divergence (NULL when
//!   finished);
//! - `evals(run_id, timestep, <one column per metric>)`, the metrics of
//!   [`crate::metrics::METRICS`] (`mse, res_ones_norm, res_ortho_norm, residual_norm`, then the
//!   optional ones, such as the learned discount's mean `eta`, NULL where a run has none; a
//!   store written before an optional metric lacks its column: it reads as NULL, and opening
//!   the store for writing adds the column);
//! - `thetas(run_id, theta)`, a run's final value weights `θ̂` as the little-endian bytes of its
//!   float64 values, for the runs of a sweep with `--save-params` (none otherwise).
//!
//! A store written before a setting was declared still opens: reading gives its runs the new
//! setting's default, and opening it for writing adds the column with that default and
//! recomputes the keys, so resuming skips its runs. Version 1 stores (no checksums) are
//! upgraded the same way when opened for writing.

mod checksum;
mod domains;
mod read;
mod schema;

pub use checksum::checksum;
use checksum::status_of;
pub use domains::check_domain_hashes;

use crate::config::SETTINGS;
use crate::record::RunRecord;
use crate::train::Outcome;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params_from_iter, Connection, OpenFlags};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Version of the store's schema, kept in its `meta` table: 2 added run checksums and keys in
/// the settings' declaration order, 3 the evaluations' learned discount `eta` (an earlier
/// release would take a run that learned `η` for a damaged one: it refuses the store instead).
pub const SCHEMA_VERSION: i64 = 3;

/// File name of the database inside a results directory.
pub const DB_FILE: &str = "results.sqlite";

/// How long opening waits for another process that holds the store (creating or writing it).
const BUSY_WAIT: Duration = Duration::from_secs(30);

/// At most this many damaged runs are named in an error.
const MAX_NAMED: usize = 10;

/// A failure of the results store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("results store {path}: {message}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// SQLite's error, in words.
        message: String,
    },
    /// The output directory cannot be created.
    #[error("cannot create {path}: {message}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The I/O error, in words.
        message: String,
    },
    /// The file is not a store of this version, or holds a value this version cannot read.
    #[error("results store {path}: {message}")]
    Format {
        /// The database file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Runs whose stored settings or results no longer match their checksum.
    #[error("results store {path}: {} damaged run(s) (settings or results changed since they were written): {}{}; re-running the sweep with --repair deletes and runs them again", keys.len(), keys.iter().take(MAX_NAMED).cloned().collect::<Vec<_>>().join(" | "), if keys.len() > MAX_NAMED { " | …" } else { "" })]
    Damaged {
        /// The database file.
        path: PathBuf,
        /// The keys of the damaged runs, as stored.
        keys: Vec<String>,
        /// Their row ids.
        ids: Vec<i64>,
    },
    /// An own domain's file changed since the store's runs of it were made.
    #[error("results store {path}: domain {domain} has changed since its runs in this store were made (recorded BLAKE3 {recorded}, now {now}); use another output directory, or restore the file")]
    DomainChanged {
        /// The database file.
        path: PathBuf,
        /// The domain's name (`file:PATH`, `data:DIR`).
        domain: String,
        /// The hash the store recorded.
        recorded: String,
        /// The hash of the contents now.
        now: String,
    },
    /// Two stores to be merged recorded different contents for one own domain.
    #[error("results stores {path} and {other}: domain {domain} was made from different contents (BLAKE3 {ours} in the first, {theirs} in the second); they cannot be merged: give one of them to another output directory")]
    DomainConflict {
        /// The store merged into (or the first store that recorded the domain).
        path: PathBuf,
        /// The store being merged.
        other: PathBuf,
        /// The domain's name (`file:PATH`, `data:DIR`).
        domain: String,
        /// The hash `path` recorded.
        ours: String,
        /// The hash `other` recorded.
        theirs: String,
    },
}

/// An open results store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// Columns of the `runs` table.
    columns: HashSet<String>,
}

/// True for SQLite's "busy" and "locked" errors (another connection holds the database).
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

impl Store {
    /// Opens for writing (creating if needed) the store in directory `dir` (created if
    /// missing), upgrading an older store's schema. Waits up to 30 s for another process that
    /// is creating or writing the same store.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Io {
            path: dir.to_path_buf(),
            message: e.to_string(),
        })?;
        let path = dir.join(DB_FILE);
        let conn = Connection::open(&path).map_err(|e| sql_error(&path, &e))?;
        conn.busy_timeout(BUSY_WAIT)
            .map_err(|e| sql_error(&path, &e))?;
        let mut store = Store {
            conn,
            path,
            columns: HashSet::new(),
        };
        store.check_before_writing()?;
        // Setting WAL mode and creating the schema can meet another process doing the same
        // without SQLite's busy handler being called: retry until BUSY_WAIT has passed.
        let start = Instant::now();
        loop {
            match store.set_up() {
                Ok(()) => break,
                Err(e) if is_busy(&e) && start.elapsed() < BUSY_WAIT => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(store.sql(e)),
            }
        }
        store.columns = store.read_columns()?;
        store.check_version(false)?;
        Ok(store)
    }

    /// Opens an existing store for reading only: nothing in `dir` is created or changed, and a
    /// store in a read-only directory or file can be read.
    pub fn open_read(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.join(DB_FILE);
        if !path.is_file() {
            return Err(StoreError::Format {
                path,
                message: "no results store there".into(),
            });
        }
        let try_open = |uri: String| -> Result<Connection, rusqlite::Error> {
            let conn = Connection::open_with_flags(
                uri,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI,
            )?;
            conn.busy_timeout(BUSY_WAIT)?;
            conn.query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| {
                r.get::<_, i64>(0)
            })?;
            Ok(conn)
        };
        let uri = uri_of(&path);
        // A WAL database needs its shared-memory file, which a read-only directory cannot hold
        // and which, made beside a read-only file, would later block its owner from writing:
        // a store that cannot be written (so no one is writing it) is read as immutable.
        let writable = |p: &Path| std::fs::metadata(p).is_ok_and(|m| !m.permissions().readonly());
        let conn = if writable(&path) && writable(dir) {
            try_open(format!("{uri}?mode=ro"))
                .or_else(|_| try_open(format!("{uri}?mode=ro&immutable=1")))
        } else {
            try_open(format!("{uri}?mode=ro&immutable=1"))
        }
        .map_err(|e| sql_error(&path, &e))?;
        let mut store = Store {
            conn,
            path,
            columns: HashSet::new(),
        };
        store.columns = store.read_columns()?;
        store.check_version(true)?;
        Ok(store)
    }

    /// True when `dir` holds a store.
    pub fn exists(dir: &Path) -> bool {
        dir.join(DB_FILE).is_file()
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sql(&self, e: rusqlite::Error) -> StoreError {
        sql_error(&self.path, &e)
    }

    fn version(&self) -> Result<Option<i64>, StoreError> {
        let v = schema::version(&self.conn).map_err(|e| self.sql(e))?;
        v.map(|v| {
            v.parse().map_err(|_| StoreError::Format {
                path: self.path.clone(),
                message: format!("schema version `{v}`"),
            })
        })
        .transpose()
    }

    fn check_version(&self, reading: bool) -> Result<(), StoreError> {
        match self.version()? {
            Some(v) if v > SCHEMA_VERSION || (v < 1 && !reading) => Err(StoreError::Format {
                path: self.path.clone(),
                message: format!(
                    "schema version {v}, this program reads versions 1 to {SCHEMA_VERSION}"
                ),
            }),
            None if reading => Err(StoreError::Format {
                path: self.path.clone(),
                message: "no schema version: not a results store".into(),
            }),
            _ => Ok(()),
        }
    }

    /// Refuses, before anything is written (no table, no WAL mode), a database that is not a
    /// results store (tables but no `meta`) or a store of a schema version this program does not
    /// write. An empty database (a new store) passes.
    fn check_before_writing(&self) -> Result<(), StoreError> {
        let tables: Vec<String> = self
            .conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .and_then(|mut st| {
                st.query_map([], |r| r.get::<_, String>(0))?
                    .collect::<Result<_, _>>()
            })
            .map_err(|e| self.sql(e))?;
        if tables.is_empty() {
            return Ok(());
        }
        if !tables.iter().any(|t| t == "meta") {
            return Err(StoreError::Format {
                path: self.path.clone(),
                message: format!(
                    "a database that is not a results store (tables {}); nothing was written: use another output directory",
                    tables.join(", ")
                ),
            });
        }
        self.check_version(false)
    }

    fn read_columns(&self) -> Result<HashSet<String>, StoreError> {
        schema::columns(&self.conn).map_err(|e| self.sql(e))
    }

    /// WAL mode, the schema, and the upgrade of an older store, in one immediate transaction.
    fn set_up(&mut self) -> Result<(), rusqlite::Error> {
        let _mode: String = self
            .conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        self.conn.execute_batch("PRAGMA synchronous=NORMAL;")?;
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(&schema::other_tables())?;
        match schema::version(&tx)?.as_deref() {
            None => schema::create(&tx)?,
            Some(v)
                if v.parse::<i64>()
                    .is_ok_and(|v| (1..=SCHEMA_VERSION).contains(&v)) =>
            {
                schema::upgrade(&tx, v)?
            }
            Some(_) => {} // reported by check_version
        }
        tx.commit()
    }

    /// The keys of all stored runs, after verifying every run against its checksum.
    pub fn finished_keys(&self) -> Result<HashSet<String>, StoreError> {
        Ok(self.outcomes()?.into_keys().collect())
    }

    /// The outcome of every stored run by key, after verifying every run against its checksum.
    pub fn outcomes(&self) -> Result<HashMap<String, Outcome>, StoreError> {
        let mut out = HashMap::new();
        self.for_each(|r| {
            out.insert(r.config.key(), r.outcome);
            Ok(())
        })?;
        Ok(out)
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
        let sql = |e: rusqlite::Error| sql_error(&path, &e);
        let (status, diverged_at) = status_of(rec.outcome);
        let names: Vec<&str> = SETTINGS.iter().map(|s| s.name).collect();
        let mut values: Vec<SqlValue> = vec![SqlValue::Text(rec.config.key())];
        values.extend(rec.config.sql_values());
        values.extend([
            SqlValue::Text(status.into()),
            diverged_at.map_or(SqlValue::Null, SqlValue::Integer),
            SqlValue::Real(rec.runtime_s),
            SqlValue::Text(checksum(rec)),
        ]);
        let placeholders = vec!["?"; values.len()].join(", ");
        let query = format!(
            "INSERT OR IGNORE INTO runs (key, {}, status, diverged_at, runtime_s, checksum) VALUES ({placeholders})",
            names.join(", ")
        );
        let tx = self.conn.transaction().map_err(sql)?;
        let inserted = tx
            .prepare_cached(&query)
            .and_then(|mut st| st.execute(params_from_iter(values)))
            .map_err(sql)?;
        if inserted == 0 {
            return Ok(false);
        }
        let id = tx.last_insert_rowid();
        {
            let mut st = tx.prepare_cached(&schema::insert_eval_sql()).map_err(sql)?;
            for r in &rec.rows {
                st.execute(params_from_iter(schema::eval_values(id, r)))
                    .map_err(sql)?;
            }
        }
        if let Some(theta) = &rec.theta {
            tx.execute(
                "INSERT INTO thetas (run_id, theta) VALUES (?1, ?2)",
                rusqlite::params![id, schema::theta_blob(theta)],
            )
            .map_err(sql)?;
        }
        tx.commit().map_err(sql)?;
        Ok(true)
    }

    /// Adds `seconds` to the wall time of the sweeps that wrote this store (kept in its `meta`
    /// table as `sweeps_wall_s`), so that the report page gives it beside the runs' summed
    /// times.
    pub fn add_sweep_time(&mut self, seconds: f64) -> Result<(), StoreError> {
        let total = self.sweep_time()?.unwrap_or(0.0) + seconds;
        self.conn
            .execute(
                "INSERT OR REPLACE INTO meta (name, value) VALUES ('sweeps_wall_s', ?1)",
                [total.to_string()],
            )
            .map(|_| ())
            .map_err(|e| self.sql(e))
    }

    /// The wall time in seconds of the sweeps that wrote this store, if they recorded it (a
    /// store made by an earlier release, or by merging, has none).
    pub fn sweep_time(&self) -> Result<Option<f64>, StoreError> {
        use rusqlite::OptionalExtension;
        let v: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE name = 'sweeps_wall_s'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))?;
        Ok(v.and_then(|v| v.parse().ok()))
    }

    /// Deletes the runs with the given row ids (and their evaluations); returns how many.
    fn remove_ids(&mut self, ids: &[i64]) -> Result<usize, StoreError> {
        let path = self.path.clone();
        let sql = |e: rusqlite::Error| sql_error(&path, &e);
        let tx = self.conn.transaction().map_err(sql)?;
        let mut n = 0;
        for id in ids {
            tx.execute("DELETE FROM evals WHERE run_id = ?1", [id])
                .map_err(sql)?;
            tx.execute("DELETE FROM thetas WHERE run_id = ?1", [id])
                .map_err(sql)?;
            n += tx
                .execute("DELETE FROM runs WHERE id = ?1", [id])
                .map_err(sql)?;
        }
        tx.commit().map_err(sql)?;
        Ok(n)
    }

    /// Deletes every damaged run (see [`StoreError::Damaged`]) so that a sweep runs it again;
    /// returns their keys.
    pub fn remove_damaged(&mut self) -> Result<Vec<String>, StoreError> {
        match self.for_each(|_| Ok(())) {
            Ok(()) => Ok(Vec::new()),
            Err(StoreError::Damaged { keys, ids, .. }) => {
                self.remove_ids(&ids)?;
                Ok(keys)
            }
            Err(e) => Err(e),
        }
    }

    /// Copies every run of `other` that this store lacks; returns how many were copied. The own
    /// domains' content hashes `other` recorded are copied first, and a domain recorded here
    /// with a different hash refuses the merge before any run is copied
    /// ([`StoreError::DomainConflict`]).
    pub fn merge_from(&mut self, other: &Store) -> Result<usize, StoreError> {
        self.merge_domain_hashes(other)?;
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

impl Drop for Store {
    /// A store opened for writing leaves WAL mode when it closes, if no other connection has it
    /// open (else SQLite refuses, harmlessly): its `-wal` and `-shm` files are removed, and a
    /// later read-only opening does not make them again.
    fn drop(&mut self) {
        if !self.conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(true) {
            let _ = self
                .conn
                .query_row("PRAGMA journal_mode=DELETE", [], |r| r.get::<_, String>(0));
        }
    }
}

/// The `file:` URI of a path (for SQLite's URI parameters).
fn uri_of(path: &Path) -> String {
    let p = path.to_string_lossy();
    let mut out = String::from("file:");
    for b in p.bytes() {
        match b {
            b'%' | b'?' | b'#' => out.push_str(&format!("%{b:02X}")),
            _ => out.push(b as char),
        }
    }
    out
}

/// SQLite's error in one line, without repeating its code.
fn sql_error(path: &Path, e: &rusqlite::Error) -> StoreError {
    StoreError::Sqlite {
        path: path.to_path_buf(),
        message: match e {
            rusqlite::Error::SqliteFailure(f, Some(msg)) => format!("{msg} ({:?})", f.code),
            rusqlite::Error::SqliteFailure(f, None) => format!("{:?}", f.code),
            other => other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests;
