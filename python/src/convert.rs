//! Python values to run settings and grids: the same parsing and messages as the command line
//! and TOML files (`imprl::config`).

use imprl::config::{self, ConfigError, Raw};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

/// A configuration error as Python's `ValueError` (the CLI's message, naming the setting).
pub fn config_err(e: ConfigError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// `ValueError` for a value of `name` that has no run-setting form.
fn bad_value(name: &str, obj: &Bound<'_, PyAny>) -> PyErr {
    let shown = obj
        .repr()
        .map(|r| r.to_string())
        .unwrap_or_else(|_| "(a value without repr)".into());
    let allowed = match config::setting(name) {
        Some(s) => (s.allowed)(),
        None => "a boolean, an integer, a number, a string or a list of them".into(),
    };
    config_err(ConfigError::invalid(name, shown, &allowed))
}

/// `obj`'s repr.
fn shown_text(obj: &Bound<'_, PyAny>) -> String {
    obj.repr().map(|r| r.to_string()).unwrap_or_default()
}

/// A Python scalar as a TOML value (`bool`, `int`, `float`, `str`), or `None`.
fn scalar(obj: &Bound<'_, PyAny>) -> Option<toml::Value> {
    if obj.is_instance_of::<PyBool>() {
        return obj.extract::<bool>().ok().map(toml::Value::Boolean);
    }
    if obj.is_instance_of::<PyInt>() {
        return obj.extract::<i64>().ok().map(toml::Value::Integer);
    }
    if obj.is_instance_of::<PyFloat>() {
        return obj.extract::<f64>().ok().map(toml::Value::Float);
    }
    if obj.is_instance_of::<PyString>() {
        return obj.extract::<String>().ok().map(toml::Value::String);
    }
    // NumPy scalars and other number types.
    if obj.hasattr("__index__").unwrap_or(false) {
        return obj.extract::<i64>().ok().map(toml::Value::Integer);
    }
    if obj.hasattr("__float__").unwrap_or(false) {
        return obj.extract::<f64>().ok().map(toml::Value::Float);
    }
    None
}

/// Sets run setting `name` from a Python value: text as a flag's text (`--sampling
/// without-replacement`), other scalars as TOML values; errors are the CLI's and name the
/// setting. A number given as text (`eta="0.9"`) is refused, as `ImplicitModel` refuses it:
/// one rule for numbers.
pub fn set_setting(
    s: &mut config::RunSettings,
    name: &str,
    obj: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let Some(setting) = config::setting(name) else {
        return Err(config_err(ConfigError::unknown(name)));
    };
    let res = if let Ok(text) = obj.downcast::<PyString>() {
        let text = text.to_cow()?;
        // Text that is no number gets the command line's message; a number in text is refused.
        s.set(name, Raw::Text(&text)).and_then(|()| {
            if setting.numeric {
                Err(ConfigError::invalid(
                    name,
                    shown_text(obj),
                    &format!("{}, given as a number, not as text", (setting.allowed)()),
                ))
            } else {
                Ok(())
            }
        })
    } else {
        let v = scalar(obj).ok_or_else(|| bad_value(name, obj))?;
        s.set(name, Raw::Toml(&v))
    };
    res.map_err(config_err)
}

/// A grid's value of `name` as TOML: a scalar, a list (or tuple, or NumPy array) of scalars, or
/// (for `lr`) a dict of lists.
fn grid_value(name: &str, obj: &Bound<'_, PyAny>) -> PyResult<toml::Value> {
    if let Ok(d) = obj.downcast::<PyDict>() {
        return grid_table(d, Some(name)).map(toml::Value::Table);
    }
    let items = if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        Some(obj.try_iter()?.collect::<PyResult<Vec<_>>>()?)
    } else if !obj.is_instance_of::<PyString>() && obj.hasattr("tolist")? {
        let list = obj.call_method0("tolist")?;
        if list.is_instance_of::<PyList>() {
            Some(list.try_iter()?.collect::<PyResult<Vec<_>>>()?)
        } else {
            return grid_value(name, &list);
        }
    } else {
        None
    };
    match items {
        Some(items) => items
            .iter()
            .map(|it| scalar(it).ok_or_else(|| bad_value(name, it)))
            .collect::<PyResult<Vec<_>>>()
            .map(toml::Value::Array),
        None => scalar(obj).ok_or_else(|| bad_value(name, obj)),
    }
}

/// A grid given as a dict, as the TOML table of a grid file (`parent`: the key of a nested table,
/// used in messages).
pub fn grid_table(d: &Bound<'_, PyDict>, parent: Option<&str>) -> PyResult<toml::Table> {
    let mut t = toml::Table::new();
    for (k, v) in d.iter() {
        let key: String = k.extract().map_err(|_| {
            let field = parent.unwrap_or("grid");
            bad_value(field, &k)
        })?;
        let name = match parent {
            Some(p) => format!("{p}.{key}"),
            None => key.clone(),
        };
        t.insert(key, grid_value(&name, &v)?);
    }
    Ok(t)
}

/// A count option (`jobs`): `None` or an integer `>= 1`; errors name it.
pub fn count(name: &str, obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<usize>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(None);
    };
    let n = if obj.is_instance_of::<PyBool>() {
        None
    } else {
        obj.extract::<i64>().ok()
    };
    match n.and_then(|n| usize::try_from(n).ok()).filter(|&n| n >= 1) {
        Some(n) => Ok(Some(n)),
        None => Err(config_err(ConfigError::invalid(
            name,
            obj.repr().map(|r| r.to_string()).unwrap_or_default(),
            "None or an integer >= 1",
        ))),
    }
}

/// A filesystem path argument (`str` or `os.PathLike`, not empty: the command line refuses an
/// empty path too); errors name it.
pub fn path(name: &str, obj: &Bound<'_, PyAny>) -> PyResult<std::path::PathBuf> {
    obj.extract::<std::path::PathBuf>()
        .ok()
        .filter(|p| !p.as_os_str().is_empty())
        .ok_or_else(|| {
            config_err(ConfigError::invalid(
                name,
                obj.repr().map(|r| r.to_string()).unwrap_or_default(),
                "a non-empty path (str or os.PathLike)",
            ))
        })
}
