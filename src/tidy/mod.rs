//! The tidy table of a results store as typed columns: the rows and columns of
//! `imprl export --format csv` ([`crate::export::write_tidy_csv`]), each column with its type,
//! for the Parquet export ([`parquet`]) and for Python's data frames.
//!
//! The schema ([`tidy_schema`], from which the CSV header [`crate::export::tidy_header`] is taken)
//! is derived from the two declarations: every setting ([`crate::config::SETTINGS`], typed by
//! its store column: `REAL` → float, `INTEGER` → integer or boolean, `TEXT` → text), then the
//! result columns ([`result_columns`]: `timestep`, the published metrics of
//! [`crate::metrics::METRICS`], `diverged`, `diverged_at`), then the optional metrics that some
//! run has, by their tidy names.

pub mod parquet;

use crate::config::{Setting, SETTINGS};
use crate::metrics::{self, Metric, METRICS};
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

/// The type of a metric's column (nullable: a run that diverged before its first evaluation has
/// one row with empty metrics).
const METRIC_TYPE: ColumnType = ColumnType::of(ColumnKind::Float, true);

/// The columns of the tidy export after the settings, named and typed, in order: `timestep` and
/// the published metrics (empty on the one row of a run that diverged before its first
/// evaluation), `diverged`, and `diverged_at` (empty on the rows of a run that did not
/// diverge).
pub fn result_columns() -> Vec<(&'static str, ColumnType)> {
    std::iter::once((metrics::TIMESTEP, ColumnType::of(ColumnKind::Int, true)))
        .chain(metrics::required().map(|m| (m.tidy_name, METRIC_TYPE)))
        .chain([
            ("diverged", ColumnType::of(ColumnKind::Bool, false)),
            ("diverged_at", ColumnType::of(ColumnKind::Int, true)),
        ])
        .collect()
}

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

/// The tidy schema: every setting, the [`result_columns`], then the tidy names of the optional
/// metrics `optional` (those some run has), each with its type.
pub fn tidy_schema(optional: &[&Metric]) -> Vec<(&'static str, ColumnType)> {
    SETTINGS
        .iter()
        .map(|s| (s.name, setting_type(s)))
        .chain(result_columns())
        .chain(optional.iter().map(|m| (m.tidy_name, METRIC_TYPE)))
        .collect()
}

/// [`tidy_schema`] with every optional metric: the columns a tidy table may have.
pub fn full_schema() -> Vec<(&'static str, ColumnType)> {
    let optional: Vec<&Metric> = METRICS.iter().filter(|m| m.optional).collect();
    let mut all = tidy_schema(&optional);
    all.push(UNSTABLE_AT);
    all
}

/// The last column of a tidy table in which some run is unstable ([`unstable_at`]): the
/// evaluation at which it first was, empty for the other runs. Derived from the stored
/// evaluations, and absent when no run is unstable, so that tables of the paper's domains (the
/// published grid's among them) are unchanged.
pub const UNSTABLE_AT: (&str, ColumnType) = ("unstable_at", ColumnType::of(ColumnKind::Int, true));

/// The evaluation at which run `rec` became unstable ([`metrics::unstable_at`], the one
/// definition).
pub fn unstable_at(rec: &RunRecord) -> Option<usize> {
    metrics::unstable_at(&rec.rows, rec.outcome.diverged_at())
}

/// True when the tidy table of `records` has the [`UNSTABLE_AT`] column: when some run on a
/// problem of one's own (whose learning rate may come from its data, SPEC §8.6) is unstable.
/// The paper's domains never add it, so their tables — the published grid's among them — keep
/// the published columns (divergence only).
pub fn any_unstable<'a>(records: impl IntoIterator<Item = &'a RunRecord>) -> bool {
    records
        .into_iter()
        .any(|r| !r.config.domain.is_builtin() && unstable_at(r).is_some())
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
    /// with empty results; the optional metrics' columns when some run has them, and
    /// [`UNSTABLE_AT`] when some run is unstable.
    pub fn from_records<'a>(records: impl IntoIterator<Item = &'a RunRecord>) -> TidyTable {
        let records: Vec<&RunRecord> = records.into_iter().collect();
        let optional = metrics::optional_present(records.iter().flat_map(|r| &r.rows));
        let required: Vec<&Metric> = metrics::required().collect();
        let schema = tidy_schema(&optional);
        let mut columns: Vec<(String, Column)> = schema
            .iter()
            .map(|(n, t)| (n.to_string(), Column::empty(t.kind)))
            .collect();
        let n_settings = SETTINGS.len();
        let mut unstable = any_unstable(records.iter().copied())
            .then(|| (UNSTABLE_AT.0.to_string(), Column::empty(UNSTABLE_AT.1.kind)));
        for rec in records {
            let n = rec.rows.len().max(1);
            push_settings(&mut columns, &schema, rec, n);
            let at = rec.outcome.diverged_at().map(to_i64);
            let (evals, rest) = columns[n_settings..].split_at_mut(1 + required.len());
            let (outcome, optional_cols) = rest.split_at_mut(2);
            if rec.rows.is_empty() {
                for (_, col) in evals.iter_mut().chain(optional_cols.iter_mut()) {
                    col.push_n(&null_of(col.kind()), 1);
                }
            }
            for r in &rec.rows {
                evals[0].1.push_n(&Cell::Int(Some(to_i64(r.timestep))), 1);
                for ((_, col), m) in evals[1..].iter_mut().zip(&required) {
                    col.push_n(&Cell::Float((m.get)(r)), 1);
                }
                for ((_, col), m) in optional_cols.iter_mut().zip(&optional) {
                    col.push_n(&Cell::Float((m.get)(r)), 1);
                }
            }
            outcome[0].1.push_n(&Cell::Bool(Some(at.is_some())), n);
            outcome[1].1.push_n(&Cell::Int(at), n);
            if let Some((_, col)) = unstable.as_mut() {
                let u = unstable_at(rec).map(to_i64);
                col.push_n(&Cell::Int(u), n);
            }
        }
        if let Some(col) = unstable {
            columns.push(col);
        }
        TidyTable { columns }
    }
}

/// The tables a results store exports (`imprl export --table`, Python's
/// `load_results(table=…)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Table {
    /// One row per run and evaluation ([`TidyTable::from_records`]).
    #[default]
    Evals,
    /// One row per run and component of its kept final `θ̂` ([`TidyTable::thetas`]).
    Theta,
}

impl Table {
    /// Every table, in the order of their names.
    pub const ALL: [Table; 2] = [Table::Evals, Table::Theta];

    /// Its name (`evals`, `theta`).
    pub fn name(self) -> &'static str {
        match self {
            Table::Evals => "evals",
            Table::Theta => "theta",
        }
    }

    /// The table called `name`.
    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    /// This table of `records`.
    pub fn of<'a>(self, records: impl IntoIterator<Item = &'a RunRecord>) -> TidyTable {
        match self {
            Table::Evals => TidyTable::from_records(records),
            Table::Theta => TidyTable::thetas(records),
        }
    }
}

/// The columns of the `theta` table after the settings: the component `index` of `θ̂` (from 0)
/// and its value `theta`.
pub fn theta_columns() -> [(&'static str, ColumnType); 2] {
    [
        ("index", ColumnType::of(ColumnKind::Int, false)),
        ("theta", ColumnType::of(ColumnKind::Float, false)),
    ]
}

impl TidyTable {
    /// The `theta` table of `records`: every setting (as in [`tidy_schema`]), then
    /// [`theta_columns`]; one row per component of each run's kept `θ̂` (runs without one have
    /// no rows).
    pub fn thetas<'a>(records: impl IntoIterator<Item = &'a RunRecord>) -> TidyTable {
        let schema: Vec<(&str, ColumnType)> = SETTINGS
            .iter()
            .map(|s| (s.name, setting_type(s)))
            .chain(theta_columns())
            .collect();
        let mut columns: Vec<(String, Column)> = schema
            .iter()
            .map(|(n, t)| (n.to_string(), Column::empty(t.kind)))
            .collect();
        let n_settings = SETTINGS.len();
        for rec in records {
            let Some(theta) = &rec.theta else { continue };
            let n = theta.len();
            push_settings(&mut columns, &schema, rec, n);
            for (i, x) in theta.iter().enumerate() {
                columns[n_settings].1.push_n(&Cell::Int(Some(to_i64(i))), 1);
                columns[n_settings + 1].1.push_n(&Cell::Float(Some(*x)), 1);
            }
        }
        TidyTable { columns }
    }
}

/// Appends run `rec`'s settings, `n` times, to the first columns (those of the settings, typed
/// by `schema`).
fn push_settings(
    columns: &mut [(String, Column)],
    schema: &[(&str, ColumnType)],
    rec: &RunRecord,
    n: usize,
) {
    let sql = rec.config.sql_values();
    let texts = rec.config.texts();
    for (((_, col), (_, t)), (v, (_, text))) in columns
        .iter_mut()
        .zip(schema)
        .zip(sql.into_iter().zip(texts))
    {
        col.push_n(&setting_cell(t.kind, v, text), n);
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
