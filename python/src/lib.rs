//! `imprl._imprl`: the Rust half of the Python package `imprl` (PyO3). The Python half
//! (`imprl/__init__.py`) builds data frames and holds the documented signatures; everything
//! here validates its arguments with messages that name them, releases the GIL during long work
//! and turns every failure into a Python exception (never a panic across the boundary).

mod convert;
mod mdp;
mod model;
mod running;
mod table;

use pyo3::prelude::*;

/// The native module.
#[pymodule]
fn _imprl(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(running::run, m)?)?;
    m.add_function(wrap_pyfunction!(running::sweep, m)?)?;
    m.add_function(wrap_pyfunction!(running::settings, m)?)?;
    m.add_function(wrap_pyfunction!(table::load_table, m)?)?;
    m.add_function(wrap_pyfunction!(table::export_parquet, m)?)?;
    m.add_function(wrap_pyfunction!(mdp::check_mdp, m)?)?;
    m.add_function(wrap_pyfunction!(mdp::mdp_values, m)?)?;
    m.add_class::<model::ImplicitModel>()?;
    m.add_function(wrap_pyfunction!(model::implicit_values_batch, m)?)?;
    m.add_function(wrap_pyfunction!(model::implicit_vjp_batch, m)?)?;
    m.add_function(wrap_pyfunction!(model::implicit_grad_mode, m)?)?;
    Ok(())
}
