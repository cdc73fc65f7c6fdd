//! Reading the CSV files of one's own data (a data set's `train.csv` and `test.csv`, its
//! `transitions.csv`; SPEC §8.6): one reader, and the checks that name the line and column of a
//! bad row or cell.

use super::error::OwnError;
use std::fmt::Display;

/// A reader of CSV `bytes` with a header row, cells trimmed.
pub(super) fn reader(bytes: &[u8]) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(bytes)
}

/// The rows after the header, each with its line number (the header is line 1), checked to
/// have the header's `cols` columns; errors (made by `err`) name the line.
pub(super) fn rows<'a, 'b: 'a, E: Fn(String) -> OwnError>(
    r: &'a mut csv::Reader<&'b [u8]>,
    cols: usize,
    err: &'a E,
) -> impl Iterator<Item = Result<(usize, csv::StringRecord), OwnError>> + use<'a, 'b, E> {
    r.records().enumerate().map(move |(i, rec)| {
        let line = i + 2;
        let rec = rec.map_err(|e| err(format!("line {line}: {e}")))?;
        if rec.len() != cols {
            return Err(err(format!(
                "line {line}: {} columns, not {cols} as the header",
                rec.len()
            )));
        }
        Ok((line, rec))
    })
}

/// The finite number in `cell`, at line `line` and column `column`; errors (made by `err`) name
/// both.
pub(super) fn number(
    cell: &str,
    line: usize,
    column: impl Display,
    err: &impl Fn(String) -> OwnError,
) -> Result<f64, OwnError> {
    let x: f64 = cell.parse().map_err(|_| {
        err(format!(
            "line {line}, column {column}: `{cell}` is not a number"
        ))
    })?;
    if !x.is_finite() {
        return Err(err(format!(
            "line {line}, column {column}: {x} is not finite"
        )));
    }
    Ok(x)
}
