//! The tidy table of a results store as typed columns: the rows and columns of
//! `imprl export --format csv` ([`crate::export::write_tidy_csv`]), each column with its type,
//! for the Parquet export ([`parquet`]) and for Python's data frames.
//!
//! The schema comes from the same place as the CSV header ([`crate::export::tidy_header`]): every
//! declared setting ([`crate::config::SETTINGS`], typed by its store column: `REAL` → float,
//! `INTEGER` → integer or boolean, `TEXT` → text), then the result columns
//! ([`RESULT_COLUMNS`], one table of their names and types).

pub mod parquet;

use crate::config::{Setting, SETTINGS};
use crate::export::{has_learned_eta, tidy_header, LOGS_HEADER};
use crate::record::RunRecord;
use rusqlite::types::Value as SqlValue;

/// The type of a tidy column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// 64-bit floats.
    Float,
    /// 64-bit signed integers.
    Int,
    /// Booleans.
    Bool,
    /// Text.
    Text,
}

/// A column's type and whether it may hold empty cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnType {
    /// The values' type.
    pub kind: ColumnKind,
    /// True when a cell may be empty (the CSV's empty field, Parquet's null).
    pub nullable: bool,
}

impl ColumnType {
    /// A column of `kind` that may hold empty cells when `nullable`.
    pub const fn of(kind: ColumnKind, nullable: bool) -> ColumnType {
        ColumnType { kind, nullable }
    }
}

/// The columns of the tidy export after the settings, named and typed, in order: the
/// evaluation's fields are empty on the one row of a run that diverged before its first
/// evaluation, `diverged_at` on the rows of a run that did not diverge.
pub const RESULT_COLUMNS: [(&str, ColumnType); 7] = [
    ("timestep", ColumnType::of(ColumnKind::Int, true)),
    ("mse", ColumnType::of(ColumnKind::Float, true)),
    ("res_ones_norm", ColumnType::of(ColumnKind::Float, true)),
    ("res_ortho_norm", ColumnType::of(ColumnKind::Float, true)),
    ("residual_norm", ColumnType::of(ColumnKind::Float, true)),
    ("diverged", ColumnType::of(ColumnKind::Bool, false)),
    ("diverged_at", ColumnType::of(ColumnKind::Int, true)),
];

/// The type of a setting's column, from its store column's type.
pub fn setting_type(s: &Setting) -> ColumnType {
    let kind = match (s.sql_type, s.boolean) {
        (_, true) => ColumnKind::Bool,
        ("REAL", _) => ColumnKind::Float,
        ("INTEGER", _) => ColumnKind::Int,
        _ => ColumnKind::Text,
    };
    ColumnType {
        kind,
        nullable: false,
    }
}

/// The type of [`crate::export::TIDY_ETA_COLUMN`]: the mean learned `η`, empty for runs with a
/// fixed `η`.
pub const ETA_KIND: ColumnType = ColumnType {
    kind: ColumnKind::Float,
    nullable: true,
};

/// The tidy schema: [`tidy_header`]'s names with their types (with the learned-`η` column when
/// `with_eta`).
pub fn tidy_schema(with_eta: bool) -> Vec<(&'static str, ColumnType)> {
    let types = SETTINGS
        .iter()
        .map(setting_type)
        .chain(RESULT_COLUMNS.iter().map(|(_, t)| *t))
        .chain(with_eta.then_some(ETA_KIND));
    tidy_header(with_eta).into_iter().zip(types).collect()
}

/// One column's values (`None`: an empty cell).
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// Floats.
    Float(Vec<Option<f64>>),
    /// Integers.
    Int(Vec<Option<i64>>),
    /// Booleans.
    Bool(Vec<Option<bool>>),
    /// Text.
    Text(Vec<Option<String>>),
}

impl Column {
    fn empty(kind: ColumnKind) -> Column {
        match kind {
            ColumnKind::Float => Column::Float(Vec::new()),
            ColumnKind::Int => Column::Int(Vec::new()),
            ColumnKind::Bool => Column::Bool(Vec::new()),
            ColumnKind::Text => Column::Text(Vec::new()),
        }
    }

    /// The values' type.
    pub fn kind(&self) -> ColumnKind {
        match self {
            Column::Float(_) => ColumnKind::Float,
            Column::Int(_) => ColumnKind::Int,
            Column::Bool(_) => ColumnKind::Bool,
            Column::Text(_) => ColumnKind::Text,
        }
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        match self {
            Column::Float(v) => v.len(),
            Column::Int(v) => v.len(),
            Column::Bool(v) => v.len(),
            Column::Text(v) => v.len(),
        }
    }

    /// True without cells.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends `cell` repeated `n` times.
    fn push_n(&mut self, cell: &Cell, n: usize) {
        match (self, cell) {
            (Column::Float(v), Cell::Float(x)) => v.extend(std::iter::repeat_n(*x, n)),
            (Column::Int(v), Cell::Int(x)) => v.extend(std::iter::repeat_n(*x, n)),
            (Column::Bool(v), Cell::Bool(x)) => v.extend(std::iter::repeat_n(*x, n)),
            (Column::Text(v), Cell::Text(x)) => v.extend(std::iter::repeat_n(x.clone(), n)),
            (c, cell) => unreachable!("a {:?} cell in a {:?} column", cell, c.kind()),
        }
    }
}

/// One cell, before it is appended to its column.
#[derive(Debug, Clone)]
enum Cell {
    Float(Option<f64>),
    Int(Option<i64>),
    Bool(Option<bool>),
    Text(Option<String>),
}

/// A setting's cell: its store value, typed as its column ([`setting_type`]); text is the
/// canonical text of the CSV.
fn setting_cell(kind: ColumnKind, sql: SqlValue, text: String) -> Cell {
    match (kind, sql) {
        (ColumnKind::Float, SqlValue::Real(x)) => Cell::Float(Some(x)),
        (ColumnKind::Float, SqlValue::Integer(i)) => Cell::Float(Some(i as f64)),
        (ColumnKind::Int, SqlValue::Integer(i)) => Cell::Int(Some(i)),
        (ColumnKind::Bool, SqlValue::Integer(i)) => Cell::Bool(Some(i != 0)),
        (ColumnKind::Text, _) => Cell::Text(Some(text)),
        // Not reached: a setting's store value has its column's SQL type.
        (kind, _) => null_of(kind),
    }
}

/// The tidy table: named, typed columns of equal length.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TidyTable {
    /// Column names and values, in order.
    pub columns: Vec<(String, Column)>,
}

impl TidyTable {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, |(_, c)| c.len())
    }

    /// The column called `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|(n, _)| n == name).map(|(_, c)| c)
    }

    /// The rows of [`crate::export::write_tidy_csv`] for `records`, typed ([`tidy_schema`]):
    /// one row per run and evaluation, a run that diverged before its first evaluation one row
    /// with empty results; the learned-`η` column when some run learns `η`.
    pub fn from_records<'a>(records: impl IntoIterator<Item = &'a RunRecord>) -> TidyTable {
        let records: Vec<&RunRecord> = records.into_iter().collect();
        let with_eta = records.iter().any(|r| has_learned_eta(&r.rows));
        let schema = tidy_schema(with_eta);
        let mut columns: Vec<(String, Column)> = schema
            .iter()
            .map(|(n, t)| (n.to_string(), Column::empty(t.kind)))
            .collect();
        let n_settings = SETTINGS.len();
        for rec in records {
            let n = rec.rows.len().max(1);
            let sql = rec.config.sql_values();
            let texts = rec.config.texts();
            for (((_, col), (_, t)), (v, (_, text))) in columns
                .iter_mut()
                .zip(&schema)
                .zip(sql.into_iter().zip(texts))
            {
                col.push_n(&setting_cell(t.kind, v, text), n);
            }
            let at = rec.outcome.diverged_at().map(to_i64);
            let results = &mut columns[n_settings..];
            if rec.rows.is_empty() {
                for (_, col) in results.iter_mut().take(LOGS_HEADER.len()) {
                    col.push_n(&null_of(col.kind()), 1);
                }
            }
            for r in &rec.rows {
                let cells = [
                    Cell::Int(Some(to_i64(r.timestep))),
                    Cell::Float(Some(r.mse)),
                    Cell::Float(Some(r.res_ones_norm)),
                    Cell::Float(Some(r.res_ortho_norm)),
                    Cell::Float(Some(r.residual_norm)),
                ];
                for ((_, col), cell) in results.iter_mut().zip(cells) {
                    col.push_n(&cell, 1);
                }
            }
            results[LOGS_HEADER.len()]
                .1
                .push_n(&Cell::Bool(Some(at.is_some())), n);
            results[LOGS_HEADER.len() + 1].1.push_n(&Cell::Int(at), n);
            if with_eta {
                let eta = &mut results[LOGS_HEADER.len() + 2].1;
                if rec.rows.is_empty() {
                    eta.push_n(&Cell::Float(None), 1);
                }
                for r in &rec.rows {
                    eta.push_n(&Cell::Float(r.eta), 1);
                }
            }
        }
        TidyTable { columns }
    }
}

fn null_of(kind: ColumnKind) -> Cell {
    match kind {
        ColumnKind::Float => Cell::Float(None),
        ColumnKind::Int => Cell::Int(None),
        ColumnKind::Bool => Cell::Bool(None),
        ColumnKind::Text => Cell::Text(None),
    }
}

fn to_i64(x: usize) -> i64 {
    i64::try_from(x).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
