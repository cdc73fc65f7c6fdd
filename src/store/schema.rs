//! The store's tables, and the upgrade of a store written by an earlier release (settings
//! columns added with their defaults, keys and checksums recomputed).

use super::checksum::{checksum, outcome_of};
use super::SCHEMA_VERSION;
use crate::config::{RunConfig, SETTINGS};
use crate::metrics::{EvalRow, METRICS};
use crate::record::RunRecord;
use crate::train::Outcome;
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
/// default, for every setting declared since it was written, the checksum column, a nullable
/// column for every optional metric declared since, and keys and checksums recomputed when a
/// setting or the version changed.
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
    // An optional metric's column: NULL for every run written before it (none had it), which
    // leaves their checksums as they were.
    let evals = eval_columns(tx)?;
    for m in METRICS
        .iter()
        .filter(|m| m.optional && !evals.contains(m.name))
    {
        tx.execute_batch(&format!("ALTER TABLE evals ADD COLUMN {} REAL;", m.name))?;
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

/// The `meta` table and the `evals` table: one row per evaluation, its `timestep` and one column
/// per metric of [`METRICS`] (`NOT NULL` for the published ones; an optional metric is NULL
/// where a run does not have it).
pub(super) fn other_tables() -> String {
    let metrics: String = METRICS
        .iter()
        .map(|m| {
            let null = if m.optional { "" } else { " NOT NULL" };
            format!("    {} REAL{null},\n", m.name)
        })
        .collect();
    format!(
        "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS evals (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    timestep INTEGER NOT NULL,
{metrics}    PRIMARY KEY (run_id, timestep)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS thetas (
    run_id INTEGER PRIMARY KEY REFERENCES runs(id),
    theta BLOB NOT NULL
);
"
    )
}

/// True when the store has the `thetas` table (a store written before it was added, read
/// without being opened for writing, has none: its runs have no `θ̂`).
pub(super) fn has_thetas(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'thetas'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// A run's `θ̂` as stored: its float64 values' little-endian bytes, one after another (exact).
pub(super) fn theta_blob(theta: &[f64]) -> Vec<u8> {
    theta.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The `θ̂` of a stored blob ([`theta_blob`]); `None` when its length is not a whole number of
/// float64 values.
pub(super) fn theta_of_blob(blob: &[u8]) -> Option<Vec<f64>> {
    (blob.len() % 8 == 0).then(|| {
        blob.chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect()
    })
}

/// The columns of the `evals` table (a store written before an optional metric was declared
/// lacks its column: it reads as NULL there).
pub(super) fn eval_columns(conn: &Connection) -> rusqlite::Result<HashSet<String>> {
    let mut st = conn.prepare("SELECT name FROM pragma_table_info('evals')")?;
    let cols = st.query_map([], |r| r.get::<_, String>(0))?.collect();
    cols
}

/// The select list of the metrics of `evals` aliased `alias`, in the order of [`METRICS`]:
/// `alias.name` (or `NULL` for a column the table lacks: `columns`, [`eval_columns`]) named
/// `alias_name`, apart from the settings' columns (the setting `eta` and the metric `eta`).
pub(super) fn metric_select(columns: &HashSet<String>, alias: &str) -> String {
    METRICS
        .iter()
        .map(|m| {
            let value = if columns.contains(m.name) {
                format!("{alias}.{}", m.name)
            } else {
                "NULL".to_string()
            };
            format!("{value} AS {alias}_{}", m.name)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The evaluation at `timestep` whose metrics are the columns `first..` of `row`, in the order
/// of [`METRICS`] ([`metric_select`]); a published metric that is NULL is an error.
pub(super) fn eval_row(
    row: &rusqlite::Row<'_>,
    timestep: usize,
    first: usize,
) -> rusqlite::Result<EvalRow> {
    let mut eval = EvalRow::empty(timestep);
    for (i, m) in METRICS.iter().enumerate() {
        let v: Option<f64> = if m.optional {
            row.get(first + i)?
        } else {
            Some(row.get(first + i)?)
        };
        (m.set)(&mut eval, v);
    }
    Ok(eval)
}

/// The statement that stores one evaluation: `run_id`, `timestep`, then the metrics in the
/// order of [`METRICS`] ([`eval_values`]).
pub(super) fn insert_eval_sql() -> String {
    let names: Vec<&str> = METRICS.iter().map(|m| m.name).collect();
    format!(
        "INSERT INTO evals (run_id, timestep, {}) VALUES ({})",
        names.join(", "),
        vec!["?"; names.len() + 2].join(", ")
    )
}

/// The values of [`insert_eval_sql`] for evaluation `r` of run `id`.
pub(super) fn eval_values(id: i64, r: &EvalRow) -> Vec<SqlValue> {
    [SqlValue::Integer(id), SqlValue::Integer(r.timestep as i64)]
        .into_iter()
        .chain(
            METRICS
                .iter()
                .map(|m| (m.get)(r).map_or(SqlValue::Null, SqlValue::Real)),
        )
        .collect()
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
                    theta: None,
                    config,
                    outcome,
                    runtime_s: row.get(n + 3)?,
                    rows: Vec::new(),
                },
            ));
        }
    }
    let mut evals = tx.prepare(&format!(
        "SELECT e.timestep, {} FROM evals e WHERE e.run_id = ?1 ORDER BY e.timestep",
        metric_select(&eval_columns(tx)?, "e")
    ))?;
    let mut seen = HashSet::new();
    // Move every key out of the way first, so that the new keys never collide with old ones.
    tx.execute("UPDATE runs SET key = '#' || id", [])?;
    for (id, mut rec) in runs {
        rec.rows = evals
            .query_map([id], |r| eval_row(r, r.get::<_, i64>(0)? as usize, 1))?
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
