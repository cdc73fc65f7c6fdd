//! Reading runs back: by column name, in the settings' order, each verified against its
//! checksum.

use super::checksum::{checksum_with_key, outcome_of};
use super::{checksum, schema, Store, StoreError};
use crate::config::{RunConfig, SETTINGS};
use crate::record::RunRecord;
use rusqlite::types::Value as SqlValue;
use std::collections::HashMap;

impl Store {
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
        // A store written before some settings were declared (and not opened for writing since)
        // checksummed its runs' keys without them.
        let written_without: Vec<&str> = SETTINGS
            .iter()
            .map(|s| s.name)
            .filter(|n| !self.columns.contains(*n))
            .collect();
        let expected_checksum = |rec: &RunRecord| {
            if written_without.is_empty() {
                checksum(rec)
            } else {
                let key: Vec<String> = rec
                    .config
                    .texts()
                    .into_iter()
                    .filter(|(n, _)| !written_without.contains(n))
                    .map(|(n, v)| format!("{n}={v}"))
                    .collect();
                checksum_with_key(&key.join(";"), rec)
            }
        };
        let eval_columns = schema::eval_columns(&self.conn).map_err(|e| self.sql(e))?;
        // The evaluation's columns come last, the metrics in the order of their declaration.
        let (theta_col, theta_join) = if schema::has_thetas(&self.conn).map_err(|e| self.sql(e))? {
            ("t.theta", "LEFT JOIN thetas t ON t.run_id = r.id")
        } else {
            ("NULL", "")
        };
        let query = format!(
            "SELECT r.*, {theta_col} AS t_theta, e.timestep AS e_timestep, {}
             FROM runs r {theta_join} LEFT JOIN evals e ON e.run_id = r.id
             ORDER BY {}, r.id, e.timestep",
            schema::metric_select(&eval_columns, "e"),
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
        let c_timestep = col("e_timestep")?;
        let c_theta = col("t_theta")?;
        let mut rows = st.query([]).map_err(|e| self.sql(e))?;
        let c_key = col("key")?;
        let mut damaged: Vec<(i64, String)> = Vec::new();
        type Current = Option<(i64, RunRecord, Option<String>, String)>;
        let mut current: Current = None;
        let mut finish =
            |cur: Current, damaged: &mut Vec<(i64, String)>| -> Result<(), StoreError> {
                if let Some((id, rec, sum, key)) = cur {
                    let ok = match sum {
                        Some(s) => s == expected_checksum(&rec),
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
                let outcome =
                    outcome_of(&status, diverged_at).ok_or_else(|| StoreError::Format {
                        path: self.path.clone(),
                        message: format!("run {id}: unknown status `{status}`"),
                    })?;
                let sum: Option<String> = match c_sum {
                    Some(i) => row.get(i).map_err(|e| self.sql(e))?,
                    None => None,
                };
                let blob: Option<Vec<u8>> = row.get(c_theta).map_err(|e| self.sql(e))?;
                let theta = blob
                    .map(|b| {
                        schema::theta_of_blob(&b).ok_or_else(|| StoreError::Format {
                            path: self.path.clone(),
                            message: format!("run {id}: a theta of {} bytes", b.len()),
                        })
                    })
                    .transpose()?;
                let rec = RunRecord {
                    theta,
                    config,
                    outcome,
                    runtime_s: row.get(c_rt).map_err(|e| self.sql(e))?,
                    rows: Vec::new(),
                };
                let key: String = row.get(c_key).unwrap_or_else(|_| format!("run id {id}"));
                current = Some((id, rec, sum, key));
            }
            let ts: Option<i64> = row.get(c_timestep).map_err(|e| self.sql(e))?;
            if let (Some(ts), Some((_, rec, ..))) = (ts, current.as_mut()) {
                let timestep = usize::try_from(ts).unwrap_or(usize::MAX);
                let eval =
                    schema::eval_row(row, timestep, c_timestep + 1).map_err(|e| self.sql(e))?;
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
}
