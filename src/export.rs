//! Writers of the published log format (docs/protocol.md) and of the tidy CSV of a store.

use crate::config::{fmt_f64, SETTINGS};
use crate::record::RunRecord;
use crate::train::EvalRow;
use std::io::Write;

/// The published `logs.csv` header.
pub const LOGS_HEADER: [&str; 5] = [
    "timestep",
    "mse",
    "res_ones_norm",
    "res_ortho_norm",
    "residual_norm",
];

/// Writes evaluations as the published `logs.csv` (`timestep,mse,res_ones_norm,res_ortho_norm,
/// residual_norm`), floats in their shortest exact decimal form.
pub fn write_logs_csv(out: impl Write, rows: &[EvalRow]) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(LOGS_HEADER)?;
    for r in rows {
        w.write_record(log_fields(r))?;
    }
    w.flush()?;
    Ok(())
}

/// The fields of one `logs.csv` row (see [`LOGS_HEADER`]).
pub fn log_fields(r: &EvalRow) -> [String; 5] {
    [
        r.timestep.to_string(),
        fmt_f64(r.mse),
        fmt_f64(r.res_ones_norm),
        fmt_f64(r.res_ortho_norm),
        fmt_f64(r.residual_norm),
    ]
}

/// The columns of the tidy export after the settings.
pub const TIDY_RESULT_COLUMNS: [&str; 7] = [
    "timestep",
    "mse",
    "res_ones_norm",
    "res_ortho_norm",
    "residual_norm",
    "diverged",
    "diverged_at",
];

/// The header of the tidy export: every declared setting (in declaration order), then
/// [`TIDY_RESULT_COLUMNS`].
pub fn tidy_header() -> Vec<&'static str> {
    SETTINGS
        .iter()
        .map(|s| s.name)
        .chain(TIDY_RESULT_COLUMNS)
        .collect()
}

/// Writes runs as a tidy CSV ([`tidy_header`]): one row per run and evaluation, every setting
/// spelled as on the command line, floats in their shortest exact decimal form, `diverged`
/// `true` on every row of a run that diverged and `diverged_at` its step. A run that diverged
/// before its first evaluation has one row with empty results, so that no run is invisible.
/// Returns the number of runs.
pub fn write_tidy_csv<W: Write>(
    out: W,
    records: impl IntoIterator<Item = RunRecord>,
) -> csv::Result<usize> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(tidy_header())?;
    let mut n = 0;
    for rec in records {
        let settings: Vec<String> = rec.config.texts().into_iter().map(|(_, v)| v).collect();
        let at = rec.outcome.diverged_at();
        let tail = [
            at.is_some().to_string(),
            at.map_or_else(String::new, |s| s.to_string()),
        ];
        if rec.rows.is_empty() {
            let empty = std::iter::repeat_n(String::new(), LOGS_HEADER.len());
            w.write_record(settings.iter().cloned().chain(empty).chain(tail.clone()))?;
        }
        for r in &rec.rows {
            w.write_record(
                settings
                    .iter()
                    .cloned()
                    .chain(log_fields(r))
                    .chain(tail.clone()),
            )?;
        }
        n += 1;
    }
    w.flush()?;
    Ok(n)
}
