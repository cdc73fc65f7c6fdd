//! `check_mdp` and `mdp_values`: the Rust half of `imprl.Mdp` (SPEC §9.3). The Python half
//! writes the arrays as the TOML text of `--domain file:PATH` (SPEC §8.6); here that text is
//! validated by the file format's own code, so the messages are the file's.

use imprl::domain::file::FileMdp;
use numpy::PyArray1;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// The validated MDP of `text`, or `ValueError` with the file format's message.
fn parse(text: &str) -> PyResult<FileMdp> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| PyValueError::new_err(e.message().trim().to_string()))?;
    FileMdp::from_table(&table).map_err(PyValueError::new_err)
}

/// Validates an MDP's TOML text (`ValueError` naming the entry).
#[pyfunction]
pub fn check_mdp(text: &str) -> PyResult<()> {
    parse(text).map(|_| ())
}

/// The exact policy values `V = (I − γP_π)⁻¹ r_π` of an MDP's TOML text, terminal states held
/// at 0 ([`FileMdp::exact_values`] at offset 0: the solve of the test set).
#[pyfunction]
pub fn mdp_values<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let m = parse(text)?;
    let v = py.allow_threads(|| m.exact_values(0.0));
    Ok(PyArray1::from_vec(py, v))
}
