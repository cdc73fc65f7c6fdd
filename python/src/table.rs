//! `load_table` and `export_parquet`: the tidy table of a results store or of a Parquet file, as
//! typed NumPy columns for the data frame built in Python.

use crate::convert::path;
use imprl::store::{Store, DB_FILE};
use imprl::tidy::parquet::{read_parquet, write_parquet};
use imprl::tidy::{full_schema, Column, Table, TidyTable};
use numpy::{Element, PyArray1};
use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};
use std::path::Path;

/// The table `table` of the store in `dir`, read without the GIL.
fn store_table(py: Python<'_>, dir: &Path, table: Table) -> PyResult<TidyTable> {
    if !Store::exists(dir) {
        return Err(PyFileNotFoundError::new_err(format!(
            "{}: no results store ({DB_FILE}) there",
            dir.display()
        )));
    }
    py.allow_threads(|| {
        let store = Store::open_read(dir)?;
        let records = store.load_all()?;
        Ok(table.of(&records))
    })
    .map_err(|e: imprl::store::StoreError| PyOSError::new_err(e.to_string()))
}

/// A column with empty cells as NumPy arrays: the values (`fill` where empty), the mask of empty
/// cells, and whether any cell is empty.
fn masked<'py, T: Element + Copy>(
    py: Python<'py>,
    v: &[Option<T>],
    fill: T,
) -> (Bound<'py, PyAny>, Bound<'py, PyAny>, bool) {
    let mask: Vec<bool> = v.iter().map(Option::is_none).collect();
    let vals: Vec<T> = v.iter().map(|x| x.unwrap_or(fill)).collect();
    let any = mask.iter().any(|&m| m);
    (
        PyArray1::from_vec(py, vals).into_any(),
        PyArray1::from_vec(py, mask).into_any(),
        any,
    )
}

/// The tidy table of `path`: a results directory (of `sweep`) or a Parquet file (of
/// `imprl export --format parquet`), as a list of `(name, kind, values, extra, nullable)`:
/// `kind` is `float` (NaN where empty, `extra` the mask of empty cells), `int` and `bool`
/// (`extra` the mask), or `str` (`values` codes into `extra`, the distinct texts; -1 where
/// empty). `nullable` is the tidy schema's, or for another column whether a cell is empty.
#[pyfunction]
#[pyo3(signature = (path_arg, table="evals"))]
pub fn load_table<'py>(
    py: Python<'py>,
    path_arg: &Bound<'py, PyAny>,
    table: &str,
) -> PyResult<Bound<'py, PyList>> {
    let p = path("path", path_arg)?;
    let which = Table::from_name(table).ok_or_else(|| {
        let names: Vec<&str> = Table::ALL.iter().map(|t| t.name()).collect();
        PyValueError::new_err(format!(
            "invalid value for `table`: {table:?}: expected one of: {}",
            names.join(", ")
        ))
    })?;
    let table = if p.is_dir() {
        store_table(py, &p, which)?
    } else if p.is_file() {
        py.allow_threads(|| read_parquet(&p))
            .map_err(|e| PyValueError::new_err(e.to_string()))?
    } else {
        return Err(PyFileNotFoundError::new_err(format!(
            "{}: no results store or Parquet file there",
            p.display()
        )));
    };
    let schema = full_schema();
    let out = PyList::empty(py);
    for (name, col) in &table.columns {
        let declared = schema
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.nullable);
        let (kind, values, extra, any_null): (&str, Bound<'py, PyAny>, Bound<'py, PyAny>, bool) =
            match col {
                Column::Float(v) => {
                    let (vals, mask, any) = masked(py, v, f64::NAN);
                    ("float", vals, mask, any)
                }
                Column::Int(v) => {
                    let (vals, mask, any) = masked(py, v, 0i64);
                    ("int", vals, mask, any)
                }
                Column::Bool(v) => {
                    let (vals, mask, any) = masked(py, v, false);
                    ("bool", vals, mask, any)
                }
                Column::Text(v) => {
                    let mut names: Vec<&str> = Vec::new();
                    let mut index = std::collections::HashMap::new();
                    let codes: Vec<i64> = v
                        .iter()
                        .map(|x| match x {
                            None => -1,
                            Some(s) => *index.entry(s.as_str()).or_insert_with(|| {
                                names.push(s.as_str());
                                names.len() as i64 - 1
                            }),
                        })
                        .collect();
                    let any = codes.contains(&-1);
                    (
                        "str",
                        PyArray1::from_vec(py, codes).into_any(),
                        PyList::new(py, names)?.into_any(),
                        any,
                    )
                }
            };
        let nullable = declared.unwrap_or(any_null);
        out.append(PyTuple::new(
            py,
            [
                name.into_pyobject(py)?.into_any(),
                kind.into_pyobject(py)?.into_any(),
                values,
                extra,
                nullable.into_pyobject(py)?.to_owned().into_any(),
            ],
        )?)?;
    }
    Ok(out)
}

/// Writes the tidy table of the results store `results` as the Parquet file `out` (as
/// `imprl export --format parquet`); returns the number of rows.
#[pyfunction]
pub fn export_parquet(
    py: Python<'_>,
    results: &Bound<'_, PyAny>,
    out: &Bound<'_, PyAny>,
) -> PyResult<usize> {
    let dir = path("results", results)?;
    let out = path("out", out)?;
    let table = store_table(py, &dir, Table::Evals)?;
    py.allow_threads(|| {
        let file = std::fs::File::create(&out)
            .map_err(|e| format!("cannot create {}: {e}", out.display()))?;
        write_parquet(&table, std::io::BufWriter::new(file))
            .map_err(|e| format!("cannot write {}: {e}", out.display()))
    })
    .map_err(PyOSError::new_err)?;
    Ok(table.rows())
}
