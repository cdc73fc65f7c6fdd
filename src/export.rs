//! Writers of the published log format (docs/protocol.md) and of the tidy CSV of a store.

use crate::config::fmt_f64;
use crate::metrics::{self, EvalRow, Metric};
use crate::record::RunRecord;
use std::io::Write;

/// The header of a log with the metric columns `columns` ([`metrics::log_columns`]):
/// `timestep`, then their names.
pub fn logs_header(columns: &[&Metric]) -> Vec<&'static str> {
    std::iter::once(metrics::TIMESTEP)
        .chain(columns.iter().map(|m| m.name))
        .collect()
}

/// Writes evaluations as the published `logs.csv` (`timestep,mse,res_ones_norm,res_ortho_norm,
/// residual_norm`), floats in their shortest exact decimal form; optional metrics that some row
/// has (a learned `η`) are extra last columns ([`metrics::log_columns`]), the published columns
/// unchanged.
pub fn write_logs_csv(out: impl Write, rows: &[EvalRow]) -> csv::Result<()> {
    let columns = metrics::log_columns(rows);
    let mut w = csv::Writer::from_writer(out);
    w.write_record(logs_header(&columns))?;
    for r in rows {
        w.write_record(log_fields(r, &columns))?;
    }
    w.flush()?;
    Ok(())
}

/// The fields of one log row under [`logs_header`]`(columns)`: the timestep, then each metric in
/// its shortest exact decimal form (empty when the row has none).
pub fn log_fields(r: &EvalRow, columns: &[&Metric]) -> Vec<String> {
    std::iter::once(r.timestep.to_string())
        .chain(metric_fields(r, columns))
        .collect()
}

/// The metric fields of one row (`columns` as in [`log_fields`]).
fn metric_fields<'a>(r: &'a EvalRow, columns: &'a [&Metric]) -> impl Iterator<Item = String> + 'a {
    columns
        .iter()
        .map(move |m| (m.get)(r).map_or_else(String::new, fmt_f64))
}

/// The header of the tidy export: every declared setting (in declaration order), the result
/// columns ([`crate::tidy::result_columns`]: `timestep`, the published metrics, `diverged`,
/// `diverged_at`), then the tidy names of the optional metrics `optional`.
pub fn tidy_header(optional: &[&Metric]) -> Vec<&'static str> {
    crate::tidy::tidy_schema(optional)
        .into_iter()
        .map(|(n, _)| n)
        .collect()
}

/// Writes the tidy CSV of `records` (`imprl export --format csv`): the typed table
/// [`crate::tidy::TidyTable::from_records`] — every declared setting, then `timestep`, the
/// published metrics, `diverged` and `diverged_at`, one row per run and evaluation (a run that
/// diverged before its first evaluation has one row with empty evaluation cells); optional
/// metrics that some run has (a learned `η`) as last columns, empty for the runs without them,
/// then [`crate::tidy::UNSTABLE_AT`] when the table has it — written by [`write_table_csv`], the
/// one CSV writer of the typed tables. Returns the number of runs.
pub fn write_tidy_csv<W: Write>(
    out: W,
    records: impl IntoIterator<Item = RunRecord>,
) -> csv::Result<usize> {
    let records: Vec<RunRecord> = records.into_iter().collect();
    write_table_csv(out, &crate::tidy::TidyTable::from_records(&records))?;
    Ok(records.len())
}

/// Writes a typed table as CSV: its column names, then its rows, floats in their shortest
/// exact decimal form, booleans `true`/`false`, empty cells empty. Returns the number of rows.
pub fn write_table_csv<W: Write>(out: W, table: &crate::tidy::TidyTable) -> csv::Result<usize> {
    use crate::tidy::Column;
    let mut w = csv::Writer::from_writer(out);
    w.write_record(table.columns.iter().map(|(n, _)| n.as_str()))?;
    let cell = |c: &Column, i: usize| -> String {
        match c {
            Column::Float(v) => v[i].map_or_else(String::new, fmt_f64),
            Column::Int(v) => v[i].map_or_else(String::new, |x| x.to_string()),
            Column::Bool(v) => v[i].map_or_else(String::new, |x| x.to_string()),
            Column::Text(v) => v[i].clone().unwrap_or_default(),
        }
    };
    for i in 0..table.rows() {
        w.write_record(table.columns.iter().map(|(_, c)| cell(c, i)))?;
    }
    w.flush()?;
    Ok(table.rows())
}
