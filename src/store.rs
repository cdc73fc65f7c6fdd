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
//! - `evals(run_id, timestep, mse, res_ones_norm, res_ortho_norm, residual_norm)`.
//!
//! A store written before a setting was declared still opens: reading gives its runs the new
//! setting's default, and opening it for writing adds the column with that default and
//! recomputes the keys, so resuming skips its runs. Version 1 stores (no checksums) are
//! upgraded the same way when opened for writing.

use crate::config::{RunConfig, SETTINGS};
use crate::record::RunRecord;
use crate::train::{EvalRow, Outcome};
use rusqlite::types::Value as SqlValue;
use rusqlite::{params_from_iter, Connection, OpenFlags, OptionalExtension};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Version of the store's schema, kept in its `meta` table: 2 added run checksums and keys in
/// the settings' declaration order.
pub const SCHEMA_VERSION: i64 = 2;

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
}

/// The checksum of a run as stored: BLAKE3 of its key, outcome, runtime and every evaluation's
/// bits (first 16 bytes, hexadecimal).
pub fn checksum(rec: &RunRecord) -> String {
    let mut h = blake3::Hasher::new();
    h.update(rec.config.key().as_bytes());
    let (status, at) = status_of(rec.outcome);
    h.update(status.as_bytes());
    h.update(&at.unwrap_or(-1).to_le_bytes());
    h.update(&rec.runtime_s.to_bits().to_le_bytes());
    for r in &rec.rows {
        h.update(&(r.timestep as u64).to_le_bytes());
        for x in [r.mse, r.res_ones_norm, r.res_ortho_norm, r.residual_norm] {
            // SQLite stores an integral REAL as an integer: -0.0 reads back as 0.0.
            h.update(&(x + 0.0).to_bits().to_le_bytes());
        }
    }
    h.finalize().to_hex()[..32].to_string()
}

fn status_of(o: Outcome) -> (&'static str, Option<i64>) {
    match o {
        Outcome::Finished => ("finished", None),
        Outcome::Diverged { step } => ("diverged", Some(step as i64)),
    }
}

/// An open results store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// Columns of the `runs` table.
    columns: HashSet<String>,
}

fn runs_table() -> String {
    let settings: String = SETTINGS
        .iter()
        .map(|s| format!("    {} {} NOT NULL,\n", s.name, s.sql_type))
        .collect();
    format!(
        "CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
{settings}    status TEXT NOT NULL,
    diverged_at INTEGER,
    runtime_s REAL NOT NULL,
    checksum TEXT
);"
    )
}

const OTHER_TABLES: &str = "
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
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
        let v: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE name = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))?;
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

    fn read_columns(&self) -> Result<HashSet<String>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT name FROM pragma_table_info('runs')")
            .map_err(|e| self.sql(e))?;
        let cols = st
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.sql(e))?
            .collect::<Result<HashSet<_>, _>>()
            .map_err(|e| self.sql(e))?;
        Ok(cols)
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
        tx.execute_batch(OTHER_TABLES)?;
        let version: Option<String> = tx
            .query_row(
                "SELECT value FROM meta WHERE name = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        match version.as_deref() {
            None => {
                tx.execute_batch(&runs_table())?;
                tx.execute(
                    "INSERT INTO meta (name, value) VALUES ('schema_version', ?1)",
                    [SCHEMA_VERSION.to_string()],
                )?;
            }
            Some(v)
                if v.parse::<i64>()
                    .is_ok_and(|v| (1..=SCHEMA_VERSION).contains(&v)) =>
            {
                let cols: HashSet<String> = {
                    let mut st = tx.prepare("SELECT name FROM pragma_table_info('runs')")?;
                    let c = st
                        .query_map([], |r| r.get::<_, String>(0))?
                        .collect::<Result<_, _>>()?;
                    c
                };
                let mut changed = v != SCHEMA_VERSION.to_string();
                for s in SETTINGS.iter().filter(|s| !cols.contains(s.name)) {
                    let Some(default) = (s.default_sql)() else {
                        // Left to `upgrade_error`: reading reports the missing column.
                        continue;
                    };
                    tx.execute_batch(&format!(
                        "ALTER TABLE runs ADD COLUMN {} {} NOT NULL DEFAULT {};",
                        s.name,
                        s.sql_type,
                        sql_literal(&default)
                    ))?;
                    changed = true;
                }
                if !cols.contains("checksum") {
                    tx.execute_batch("ALTER TABLE runs ADD COLUMN checksum TEXT;")?;
                }
                if changed {
                    rekey(&tx)?;
                    tx.execute(
                        "UPDATE meta SET value = ?1 WHERE name = 'schema_version'",
                        [SCHEMA_VERSION.to_string()],
                    )?;
                }
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
            let mut st = tx
                .prepare_cached(
                    "INSERT INTO evals (run_id, timestep, mse, res_ones_norm, res_ortho_norm,
                     residual_norm) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(sql)?;
            for r in &rec.rows {
                st.execute(rusqlite::params![
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

    /// Calls `f` on every stored run, in the deterministic order of their settings
    /// (declaration order of [`SETTINGS`]), holding one run in memory at a time. Every run is
    /// checked against its checksum; damaged runs are not passed to `f` and make the call end
    /// with [`StoreError::Damaged`] naming them.
    pub fn for_each(
        &self,
        mut f: impl FnMut(RunRecord) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let order: Vec<String> = SETTINGS
            .iter()
            .filter(|s| self.columns.contains(s.name))
            .map(|s| format!("r.{}", s.name))
            .collect();
        let has_checksum = self.columns.contains("checksum");
        let query = format!(
            "SELECT r.*, e.timestep AS e_timestep, e.mse AS e_mse, e.res_ones_norm AS e_ones,
                    e.res_ortho_norm AS e_ortho, e.residual_norm AS e_norm
             FROM runs r LEFT JOIN evals e ON e.run_id = r.id
             ORDER BY {}, r.id, e.timestep",
            order.join(", ")
        );
        let mut st = self.conn.prepare(&query).map_err(|e| self.sql(e))?;
        let index: HashMap<String, usize> = st
            .column_names()
            .iter()
            .enumerate()
            .map(|(i, n)| (n.to_string(), i))
            .collect();
        let col = |name: &str| -> Result<usize, StoreError> {
            index.get(name).copied().ok_or_else(|| StoreError::Format {
                path: self.path.clone(),
                message: format!("no column `{name}`"),
            })
        };
        let (c_id, c_status, c_div, c_rt) = (
            col("id")?,
            col("status")?,
            col("diverged_at")?,
            col("runtime_s")?,
        );
        let c_sum = index.get("checksum").copied();
        let c_eval = [
            col("e_timestep")?,
            col("e_mse")?,
            col("e_ones")?,
            col("e_ortho")?,
            col("e_norm")?,
        ];
        let mut rows = st.query([]).map_err(|e| self.sql(e))?;
        let c_key = col("key")?;
        let mut damaged: Vec<(i64, String)> = Vec::new();
        type Current = Option<(i64, RunRecord, Option<String>, String)>;
        let mut current: Current = None;
        let mut finish =
            |cur: Current, damaged: &mut Vec<(i64, String)>| -> Result<(), StoreError> {
                if let Some((id, rec, sum, key)) = cur {
                    let ok = match sum {
                        Some(s) => s == checksum(&rec),
                        None => !has_checksum,
                    };
                    if ok {
                        f(rec)?;
                    } else {
                        damaged.push((id, key));
                    }
                }
                Ok(())
            };
        while let Some(row) = rows.next().map_err(|e| self.sql(e))? {
            let id: i64 = row.get(c_id).map_err(|e| self.sql(e))?;
            if current.as_ref().map(|c| c.0) != Some(id) {
                finish(current.take(), &mut damaged)?;
                let config = RunConfig::from_sql_columns(|name| match index.get(name) {
                    Some(&i) => row.get::<_, SqlValue>(i).ok(),
                    None => crate::config::setting(name).and_then(|s| (s.default_sql)()),
                })
                .map_err(|(name, v)| StoreError::Format {
                    path: self.path.clone(),
                    message: format!("run {id}: bad or missing `{name}` ({v})"),
                })?;
                let status: String = row.get(c_status).map_err(|e| self.sql(e))?;
                let diverged_at: Option<i64> = row.get(c_div).map_err(|e| self.sql(e))?;
                let outcome = match (status.as_str(), diverged_at) {
                    ("finished", _) => Outcome::Finished,
                    ("diverged", Some(step)) if step >= 0 => Outcome::Diverged {
                        step: step as usize,
                    },
                    _ => {
                        return Err(StoreError::Format {
                            path: self.path.clone(),
                            message: format!("run {id}: unknown status `{status}`"),
                        })
                    }
                };
                let sum: Option<String> = match c_sum {
                    Some(i) => row.get(i).map_err(|e| self.sql(e))?,
                    None => None,
                };
                let rec = RunRecord {
                    config,
                    outcome,
                    runtime_s: row.get(c_rt).map_err(|e| self.sql(e))?,
                    rows: Vec::new(),
                };
                let key: String = row.get(c_key).unwrap_or_else(|_| format!("run id {id}"));
                current = Some((id, rec, sum, key));
            }
            let ts: Option<i64> = row.get(c_eval[0]).map_err(|e| self.sql(e))?;
            if let (Some(ts), Some((_, rec, ..))) = (ts, current.as_mut()) {
                let g = |i: usize| row.get::<_, f64>(c_eval[i]);
                let eval = (|| {
                    Ok::<_, rusqlite::Error>(EvalRow {
                        timestep: usize::try_from(ts).unwrap_or(usize::MAX),
                        mse: g(1)?,
                        res_ones_norm: g(2)?,
                        res_ortho_norm: g(3)?,
                        residual_norm: g(4)?,
                    })
                })()
                .map_err(|e| self.sql(e))?;
                rec.rows.push(eval);
            }
        }
        finish(current.take(), &mut damaged)?;
        if damaged.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Damaged {
                path: self.path.clone(),
                keys: damaged.iter().map(|(_, k)| k.clone()).collect(),
                ids: damaged.into_iter().map(|(id, _)| id).collect(),
            })
        }
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

    /// Deletes the runs with the given row ids (and their evaluations); returns how many.
    fn remove_ids(&mut self, ids: &[i64]) -> Result<usize, StoreError> {
        let path = self.path.clone();
        let sql = |e: rusqlite::Error| sql_error(&path, &e);
        let tx = self.conn.transaction().map_err(sql)?;
        let mut n = 0;
        for id in ids {
            tx.execute("DELETE FROM evals WHERE run_id = ?1", [id])
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

/// A constant as an SQL literal (for a column default).
fn sql_literal(v: &SqlValue) -> String {
    match v {
        SqlValue::Null => "NULL".into(),
        SqlValue::Integer(i) => i.to_string(),
        SqlValue::Real(x) => format!("{x:e}"),
        SqlValue::Text(t) => format!("'{}'", t.replace('\'', "''")),
        SqlValue::Blob(_) => "NULL".into(),
    }
}

/// Recomputes every run's key (and checksum) from its settings, in the current declaration;
/// runs whose keys coincide (one configuration stored twice, e.g. as offsets `-0` and `0` by
/// an older release) keep the first.
fn rekey(tx: &rusqlite::Transaction<'_>) -> Result<(), rusqlite::Error> {
    let names: Vec<&str> = SETTINGS.iter().map(|s| s.name).collect();
    let mut runs: Vec<(i64, RunRecord)> = Vec::new();
    {
        let mut st = tx.prepare(&format!(
            "SELECT id, {}, status, diverged_at, runtime_s FROM runs ORDER BY id",
            names.join(", ")
        ))?;
        let mut rows = st.query([])?;
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            let config = RunConfig::from_sql_columns(|name| {
                let i = names.iter().position(|n| *n == name)? + 1;
                row.get::<_, SqlValue>(i).ok()
            })
            .map_err(|(name, v)| {
                rusqlite::Error::InvalidColumnType(
                    0,
                    format!("{name} = {v}"),
                    rusqlite::types::Type::Null,
                )
            })?;
            let n = names.len();
            let status: String = row.get(n + 1)?;
            let at: Option<i64> = row.get(n + 2)?;
            let outcome = match (status.as_str(), at) {
                ("diverged", Some(s)) if s >= 0 => Outcome::Diverged { step: s as usize },
                _ => Outcome::Finished,
            };
            runs.push((
                id,
                RunRecord {
                    config,
                    outcome,
                    runtime_s: row.get(n + 3)?,
                    rows: Vec::new(),
                },
            ));
        }
    }
    let mut evals = tx.prepare(
        "SELECT timestep, mse, res_ones_norm, res_ortho_norm, residual_norm FROM evals
         WHERE run_id = ?1 ORDER BY timestep",
    )?;
    let mut seen = HashSet::new();
    // Move every key out of the way first, so that the new keys never collide with old ones.
    tx.execute("UPDATE runs SET key = '#' || id", [])?;
    for (id, mut rec) in runs {
        rec.rows = evals
            .query_map([id], |r| {
                Ok(EvalRow {
                    timestep: r.get::<_, i64>(0)? as usize,
                    mse: r.get(1)?,
                    res_ones_norm: r.get(2)?,
                    res_ortho_norm: r.get(3)?,
                    residual_norm: r.get(4)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        let key = rec.config.key();
        if !seen.insert(key.clone()) {
            tx.execute("DELETE FROM evals WHERE run_id = ?1", [id])?;
            tx.execute("DELETE FROM runs WHERE id = ?1", [id])?;
            continue;
        }
        // Settings are rewritten in canonical form (−0 as 0) with the key.
        let sets: Vec<String> = names.iter().map(|n| format!("{n} = ?")).collect();
        let mut values: Vec<SqlValue> = rec.config.sql_values();
        values.push(SqlValue::Text(key));
        values.push(SqlValue::Text(checksum(&rec)));
        values.push(SqlValue::Integer(id));
        tx.execute(
            &format!(
                "UPDATE runs SET {}, key = ?, checksum = ? WHERE id = ?",
                sets.join(", ")
            ),
            params_from_iter(values),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RunSettings;
    use crate::domain::DomainKind;
    use crate::param::ParamKind;

    fn record(seed: u64, offset: f64, diverged: bool) -> RunRecord {
        let config = RunSettings {
            domain: Some(DomainKind::Chain),
            param: Some(ParamKind::Implicit),
            seed: Some(seed),
            offset: Some(offset),
            ..RunSettings::default()
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
            record(i64::MAX as u64, 0.3, false),
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
                    },
                    EvalRow {
                        timestep: 300,
                        mse: 0.05,
                        res_ones_norm: 0.025,
                        res_ortho_norm: 0.0125,
                        residual_norm: 0.075,
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
}
