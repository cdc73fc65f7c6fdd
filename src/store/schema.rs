//! The store's tables, and the upgrade of a store written by an earlier release (settings
//! columns added with their defaults, keys and checksums recomputed).

use super::checksum::{checksum, outcome_of};
use super::SCHEMA_VERSION;
use crate::config::{RunConfig, SETTINGS};
use crate::record::RunRecord;
use crate::train::{EvalRow, Outcome};
use rusqlite::types::Value as SqlValue;
use rusqlite::{params_from_iter, Connection, OptionalExtension, Transaction};
use std::collections::HashSet;

/// The schema version a store records, if any.
pub(super) fn version(conn: &Connection) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT value FROM meta WHERE name = 'schema_version'",
        [],
        |r| r.get(0),
    )
    .optional()
}

/// The columns of the `runs` table.
pub(super) fn columns(conn: &Connection) -> rusqlite::Result<HashSet<String>> {
    let mut st = conn.prepare("SELECT name FROM pragma_table_info('runs')")?;
    let cols = st.query_map([], |r| r.get::<_, String>(0))?.collect();
    cols
}

/// A new store's `runs` table and version.
pub(super) fn create(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(&runs_table())?;
    tx.execute(
        "INSERT INTO meta (name, value) VALUES ('schema_version', ?1)",
        [SCHEMA_VERSION.to_string()],
    )?;
    Ok(())
}

/// Brings a store of schema version `v` (1 to [`SCHEMA_VERSION`]) up to date: a column, with its
/// default, for every setting declared since it was written, the checksum column, the
/// evaluations' nullable `eta` column, and keys and checksums recomputed when a setting or the
/// version changed.
pub(super) fn upgrade(tx: &Transaction<'_>, v: &str) -> rusqlite::Result<()> {
    let cols = columns(tx)?;
    let mut changed = v != SCHEMA_VERSION.to_string();
    for s in SETTINGS.iter().filter(|s| !cols.contains(s.name)) {
        // A setting without a constant default cannot be added to old runs; reading the store
        // then names its missing column.
        let Some(default) = (s.default_sql)() else {
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
    // The learned discount's column: NULL for every run written before it (none learned η),
    // which leaves their checksums as they were.
    if !evals_have_eta(tx)? {
        tx.execute_batch("ALTER TABLE evals ADD COLUMN eta REAL;")?;
    }
    if changed {
        rekey(tx)?;
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE name = 'schema_version'",
            [SCHEMA_VERSION.to_string()],
        )?;
    }
    Ok(())
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

pub(super) const OTHER_TABLES: &str = "
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS evals (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    timestep INTEGER NOT NULL,
    mse REAL NOT NULL,
    res_ones_norm REAL NOT NULL,
    res_ortho_norm REAL NOT NULL,
    residual_norm REAL NOT NULL,
    eta REAL,
    PRIMARY KEY (run_id, timestep)
) WITHOUT ROWID;
";

/// True when the `evals` table has the column `eta` (the learned discount, SPEC §8.2): stores
/// written before it have not, and read as `None` there.
pub(super) fn evals_have_eta(conn: &Connection) -> rusqlite::Result<bool> {
    let n: i64 = conn.query_row(
        "SELECT COUNT(*) FROM pragma_table_info('evals') WHERE name = 'eta'",
        [],
        |r| r.get(0),
    )?;
    Ok(n > 0)
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
fn rekey(tx: &Transaction<'_>) -> Result<(), rusqlite::Error> {
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
            // A bad status is left for reading to report; the upgrade goes on.
            let outcome = outcome_of(&status, at).unwrap_or(Outcome::Finished);
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
        "SELECT timestep, mse, res_ones_norm, res_ortho_norm, residual_norm, eta FROM evals
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
                    eta: r.get(5)?,
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
