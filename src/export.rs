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

/// The log column of a learned discount's mean `η` (SPEC §8.2), after [`LOGS_HEADER`].
pub const ETA_COLUMN: &str = "eta";

/// True when the evaluations carry a learned `η` ([`EvalRow::eta`]): their log has the extra
/// last column [`ETA_COLUMN`].
pub fn has_learned_eta(rows: &[EvalRow]) -> bool {
    rows.iter().any(|r| r.eta.is_some())
}

/// The header of a run's log: [`LOGS_HEADER`], plus [`ETA_COLUMN`] when `with_eta`.
pub fn logs_header(with_eta: bool) -> Vec<&'static str> {
    let mut h = LOGS_HEADER.to_vec();
    if with_eta {
        h.push(ETA_COLUMN);
    }
    h
}

/// Writes evaluations as the published `logs.csv` (`timestep,mse,res_ones_norm,res_ortho_norm,
/// residual_norm`), floats in their shortest exact decimal form; a run that learns `η` has the
/// extra last column `eta` ([`has_learned_eta`]), the published columns unchanged.
pub fn write_logs_csv(out: impl Write, rows: &[EvalRow]) -> csv::Result<()> {
    let with_eta = has_learned_eta(rows);
    let mut w = csv::Writer::from_writer(out);
    w.write_record(logs_header(with_eta))?;
    for r in rows {
        w.write_record(log_fields_with(r, with_eta))?;
    }
    w.flush()?;
    Ok(())
}

/// The fields of one log row under [`logs_header`]`(with_eta)`: [`log_fields`], then the
/// learned `η` (empty when the row has none).
pub fn log_fields_with(r: &EvalRow, with_eta: bool) -> Vec<String> {
    let mut f = log_fields(r).to_vec();
    if with_eta {
        f.push(r.eta.map_or_else(String::new, fmt_f64));
    }
    f
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

/// The tidy export's column of a learned `η` (after [`crate::tidy::RESULT_COLUMNS`], only when some
/// exported run learns it): named apart from the setting `eta`, its starting value `η₀`.
pub const TIDY_ETA_COLUMN: &str = "learned_eta";

/// The header of the tidy export: every declared setting (in declaration order), then
/// the result columns ([`crate::tidy::RESULT_COLUMNS`]), then [`TIDY_ETA_COLUMN`] when
/// `with_eta`.
pub fn tidy_header(with_eta: bool) -> Vec<&'static str> {
    SETTINGS
        .iter()
        .map(|s| s.name)
        .chain(crate::tidy::RESULT_COLUMNS.iter().map(|(n, _)| *n))
        .chain(with_eta.then_some(TIDY_ETA_COLUMN))
        .collect()
}

/// Writes runs as a tidy CSV ([`tidy_header`]): one row per run and evaluation, every setting
/// spelled as on the command line, floats in their shortest exact decimal form, `diverged`
/// `true` on every row of a run that diverged and `diverged_at` its step. A run that diverged
/// before its first evaluation has one row with empty results, so that no run is invisible.
/// When some run learns `η`, every row has the last column [`TIDY_ETA_COLUMN`] (empty for runs
/// with a fixed `η`). Returns the number of runs.
pub fn write_tidy_csv<W: Write>(
    out: W,
    records: impl IntoIterator<Item = RunRecord>,
) -> csv::Result<usize> {
    let records: Vec<RunRecord> = records.into_iter().collect();
    let with_eta = records.iter().any(|r| has_learned_eta(&r.rows));
    let mut w = csv::Writer::from_writer(out);
    w.write_record(tidy_header(with_eta))?;
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
            let no_eta = with_eta.then(String::new);
            w.write_record(
                settings
                    .iter()
                    .cloned()
                    .chain(empty)
                    .chain(tail.clone())
                    .chain(no_eta),
            )?;
        }
        for r in &rec.rows {
            let eta = with_eta.then(|| r.eta.map_or_else(String::new, fmt_f64));
            w.write_record(
                settings
                    .iter()
                    .cloned()
                    .chain(log_fields(r))
                    .chain(tail.clone())
                    .chain(eta),
            )?;
        }
        n += 1;
    }
    w.flush()?;
    Ok(n)
}
