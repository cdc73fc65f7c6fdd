//! The tidy table as a Parquet file (`imprl export --format parquet`): one column per tidy
//! column ([`super::tidy_schema`]), `DOUBLE`, `INT64`, `BOOLEAN` or `UTF8` string, nullable where
//! the CSV may leave a field empty; read back by [`read_parquet`] (and by pandas, polars, Arrow).

use super::{full_schema, Column, ColumnKind, TidyTable};
use arrow_array::{Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch};
use arrow_array::{LargeStringArray, RecordBatchReader, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// A Parquet file that cannot be written or read as a tidy table.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {message}")]
pub struct ParquetError {
    /// The file, or the column, concerned.
    pub what: String,
    /// What went wrong.
    pub message: String,
}

impl ParquetError {
    fn new(what: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Self {
            what: what.into(),
            message: message.to_string(),
        }
    }
}

fn data_type(kind: ColumnKind) -> DataType {
    match kind {
        ColumnKind::Float => DataType::Float64,
        ColumnKind::Int => DataType::Int64,
        ColumnKind::Bool => DataType::Boolean,
        ColumnKind::Text => DataType::Utf8,
    }
}

fn array(c: &Column) -> ArrayRef {
    match c {
        Column::Float(v) => Arc::new(Float64Array::from(v.clone())),
        Column::Int(v) => Arc::new(Int64Array::from(v.clone())),
        Column::Bool(v) => Arc::new(BooleanArray::from(v.clone())),
        Column::Text(v) => Arc::new(StringArray::from(v.clone())),
    }
}

/// Writes `table` as one Parquet file to `out` (uncompressed; each column as declared in
/// [`full_schema`], nullable where it may be empty).
pub fn write_parquet<W: Write + Send>(table: &TidyTable, out: W) -> Result<(), ParquetError> {
    let schema = full_schema();
    let fields: Vec<Field> = table
        .columns
        .iter()
        .map(|(name, c)| {
            let nullable = schema
                .iter()
                .find(|(n, _)| n == name)
                .is_none_or(|(_, t)| t.nullable);
            Field::new(name, data_type(c.kind()), nullable)
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let arrays: Vec<ArrayRef> = table.columns.iter().map(|(_, c)| array(c)).collect();
    let batch =
        RecordBatch::try_new(schema.clone(), arrays).map_err(|e| ParquetError::new("table", e))?;
    let mut w =
        ArrowWriter::try_new(out, schema, None).map_err(|e| ParquetError::new("file", e))?;
    w.write(&batch).map_err(|e| ParquetError::new("file", e))?;
    w.close().map_err(|e| ParquetError::new("file", e))?;
    Ok(())
}

/// Appends the cells of `a` to `col`; an error names the column when its type is not a tidy one.
fn append(name: &str, col: &mut Column, a: &dyn Array) -> Result<(), ParquetError> {
    let any = a.as_any();
    let bad = || {
        ParquetError::new(
            format!("column `{name}`"),
            format!(
                "type {} (allowed: double, int64, boolean, string)",
                a.data_type()
            ),
        )
    };
    match col {
        Column::Float(v) => v.extend(any.downcast_ref::<Float64Array>().ok_or_else(bad)?),
        Column::Int(v) => v.extend(any.downcast_ref::<Int64Array>().ok_or_else(bad)?),
        Column::Bool(v) => v.extend(any.downcast_ref::<BooleanArray>().ok_or_else(bad)?),
        Column::Text(v) => {
            if let Some(s) = any.downcast_ref::<StringArray>() {
                v.extend(s.iter().map(|x| x.map(str::to_string)));
            } else {
                let s = any.downcast_ref::<LargeStringArray>().ok_or_else(bad)?;
                v.extend(s.iter().map(|x| x.map(str::to_string)));
            }
        }
    }
    Ok(())
}

/// Reads a Parquet file of `double`, `int64`, `boolean` and string columns (such as
/// [`write_parquet`]'s, or pandas' and pyarrow's with their default snappy, or zstd or gzip,
/// compression) as a table; errors name the file and, for a column of another type, the column.
/// A table without the columns that name a run (`domain`, `param`, `seed`) and its results
/// ([`super::result_columns`]) or its `θ̂` ([`super::theta_columns`]) is refused, naming the
/// columns of results it lacks.
pub fn read_parquet(path: &Path) -> Result<TidyTable, ParquetError> {
    let file_err = |e: &dyn std::fmt::Display| ParquetError::new(path.display().to_string(), e);
    let file = std::fs::File::open(path).map_err(|e| file_err(&e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| file_err(&e))?;
    let schema = reader.schema();
    // A tidy table names its runs and holds their results (the evals table) or their θ̂ (the
    // theta table): refuse another table by name, the columns missing for the evals table.
    let lacks = |cols: Vec<&'static str>| -> Vec<&'static str> {
        cols.into_iter()
            .filter(|n| schema.field_with_name(n).is_err())
            .collect()
    };
    let names = ["domain", "param", "seed"];
    let theta_missing = lacks(
        names
            .into_iter()
            .chain(super::theta_columns().into_iter().map(|(n, _)| n))
            .collect(),
    );
    let missing = lacks(
        names
            .into_iter()
            .chain(super::result_columns().into_iter().map(|(n, _)| n))
            .collect(),
    );
    if !missing.is_empty() && !theta_missing.is_empty() {
        return Err(file_err(&format!(
            "not a tidy table of imprl (as `imprl export --format parquet` writes): no column {}",
            missing.join(", ")
        )));
    }
    let mut columns = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        let kind = match f.data_type() {
            DataType::Float64 => ColumnKind::Float,
            DataType::Int64 => ColumnKind::Int,
            DataType::Boolean => ColumnKind::Bool,
            DataType::Utf8 | DataType::LargeUtf8 => ColumnKind::Text,
            t => {
                return Err(file_err(&format!(
                    "column `{}`: type {t} (allowed: double, int64, boolean, string)",
                    f.name()
                )))
            }
        };
        columns.push((f.name().clone(), Column::empty(kind)));
    }
    for batch in reader {
        let batch = batch.map_err(|e| file_err(&e))?;
        for ((name, col), a) in columns.iter_mut().zip(batch.columns()) {
            append(name, col, a.as_ref()).map_err(|e| file_err(&e))?;
        }
    }
    Ok(TidyTable { columns })
}
