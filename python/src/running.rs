//! `run`, `sweep` and `settings`: one training run, a sweep into a results store, and the
//! declared run settings.

use crate::convert::{config_err, count, grid_table, path, set_setting};
use imprl::config::{RunSettings, SETTINGS};
use imprl::metrics;
use imprl::npz::{ArrayData, NamedArray};
use imprl::param::Parameterization;
use imprl::record::RunRecord;
use imprl::run::RunError;
use imprl::store::Store;
use imprl::sweep::{Grid, Status, SweepObserver, SweepOptions};
use imprl::train::Observer;
use numpy::PyArray1;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::panic::PanicException;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use std::ops::ControlFlow;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often a waiting call looks for Ctrl-C (Python's pending signals).
const POLL: Duration = Duration::from_millis(50);

/// Stops a run at its next update once `cancel` is set.
struct CancelOnSignal<'a>(&'a AtomicBool);

impl Observer for CancelOnSignal<'_> {
    fn on_step(
        &mut self,
        _step: usize,
        _g: &[f64],
        _param: &dyn Parameterization,
    ) -> ControlFlow<()> {
        if self.0.load(Ordering::Relaxed) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

/// A panic's message as Python's `PanicException`.
fn panic_err(payload: Box<dyn std::any::Any + Send>) -> PyErr {
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic in imprl".into());
    PanicException::new_err(msg)
}

/// Runs `work` on a worker thread without the GIL, looking for Ctrl-C meanwhile: on a pending
/// signal (`KeyboardInterrupt`) the work is told to stop through its flag (a run stops at its
/// next update: [`CancelOnSignal`]) and the exception is raised when it has.
fn interruptible<R: Send>(
    py: Python<'_>,
    work: impl FnOnce(&AtomicBool) -> R + Send,
) -> PyResult<R> {
    let cancel = AtomicBool::new(false);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        let cancel = &cancel;
        scope.spawn(move || {
            let _ = tx.send(std::panic::catch_unwind(AssertUnwindSafe(|| work(cancel))));
        });
        let mut rx = rx;
        let mut signal: Option<PyErr> = None;
        loop {
            let (back, got) = py.allow_threads(move || {
                let got = rx.recv_timeout(POLL);
                (rx, got)
            });
            rx = back;
            match got {
                Ok(Ok(r)) => return signal.map_or(Ok(r), Err),
                Ok(Err(payload)) => return Err(panic_err(payload)),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if signal.is_none() {
                        if let Err(e) = py.check_signals() {
                            cancel.store(true, Ordering::Relaxed);
                            signal = Some(e);
                        }
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(PyRuntimeError::new_err(
                        "the run's thread ended without a result",
                    ))
                }
            }
        }
    })
}

/// One run (see `imprl.run`): `settings` by name as in TOML files; returns every column of the
/// run's log (`imprl run`'s CSV: the metrics of [`metrics::log_columns`]) as float64 arrays,
/// `diverged_at` and the learning rate used, `lr`; with `params`, also what the run learned
/// (`params`: the arrays of [`imprl::saved`], the same as `imprl run --save-params` writes),
/// with checkpoints every `save_every` updates when given.
#[pyfunction]
#[pyo3(signature = (domain, param, settings=None, params=false, save_every=None))]
pub fn run<'py>(
    py: Python<'py>,
    domain: &Bound<'py, PyAny>,
    param: &Bound<'py, PyAny>,
    settings: Option<&Bound<'py, PyDict>>,
    params: bool,
    save_every: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    imprl::domain::own::refresh();
    let mut s = RunSettings::default();
    set_setting(&mut s, "domain", domain)?;
    set_setting(&mut s, "param", param)?;
    if let Some(d) = settings {
        for (k, v) in d.iter() {
            let name = k.downcast::<PyString>()?.to_cow()?;
            set_setting(&mut s, &name, &v)?;
        }
    }
    let cfg = s.resolve().map_err(config_err)?;
    let every = count("save_every", save_every)?;
    if every.is_some() && !params {
        return Err(PyValueError::new_err(
            "invalid value for `save_every`: checkpoints are saved with `params=True`",
        ));
    }
    let (trained, arrays) = interruptible(py, |cancel| {
        let problem = imprl::run::problem(&cfg)?;
        let mut observer = CancelOnSignal(cancel);
        if params {
            imprl::saved::run_saving(&cfg, &problem, every, &mut observer)
                .map(|(t, a)| (t, Some(a)))
        } else {
            imprl::run::run_with(&cfg, &problem, &mut observer).map(|t| (t, None))
        }
    })?
    .map_err(|e| match e {
        RunError::Config(e) => config_err(e),
        // Not reached: a stopped run raises the signal's exception in `interruptible`.
        RunError::Stopped(s) => PyRuntimeError::new_err(s.to_string()),
    })?;
    let log = trained.log;
    let out = PyDict::new(py);
    let timesteps: Vec<f64> = log.rows.iter().map(|r| r.timestep as f64).collect();
    out.set_item(metrics::TIMESTEP, PyArray1::from_vec(py, timesteps))?;
    for m in metrics::log_columns(&log.rows) {
        let values: Vec<f64> = log
            .rows
            .iter()
            .map(|r| (m.get)(r).unwrap_or(f64::NAN))
            .collect();
        out.set_item(m.name, PyArray1::from_vec(py, values))?;
    }
    out.set_item("diverged_at", log.outcome.diverged_at())?;
    out.set_item("lr", cfg.lr)?;
    out.set_item(
        "unstable",
        metrics::unstable_at(&log.rows, log.outcome.diverged_at()).is_some(),
    )?;
    if let Some(arrays) = arrays {
        let d = PyDict::new(py);
        for a in arrays {
            let name = a.name.clone();
            d.set_item(name, numpy_array(py, a)?)?;
        }
        out.set_item("params", d)?;
    }
    Ok(out)
}

/// A named array as the NumPy array `numpy.load` gives for it from a `.npz` (float64, int64 or a
/// 0-d unicode string array, in its shape).
fn numpy_array(py: Python<'_>, a: NamedArray) -> PyResult<Bound<'_, PyAny>> {
    let shape = a.shape;
    let flat = match a.data {
        ArrayData::F64(v) => PyArray1::from_vec(py, v).into_any(),
        ArrayData::I64(v) => PyArray1::from_vec(py, v).into_any(),
        ArrayData::Text(t) => return py.import("numpy")?.call_method1("array", (t,)),
    };
    flat.call_method1("reshape", (shape,))
}

/// Sweep progress on Python's `sys.stderr` (at most a few lines a second), and Ctrl-C: a pending
/// signal stops the sweep (runs in flight finish and are stored) and is raised after it.
struct PySweepObserver {
    progress: bool,
    pending: usize,
    last: Option<Instant>,
    signal: std::cell::RefCell<Option<PyErr>>,
}

impl PySweepObserver {
    fn write(&self, text: &str) {
        Python::with_gil(|py| {
            if let Ok(err) = py.import("sys").and_then(|s| s.getattr("stderr")) {
                let _ = err.call_method1("write", (text,));
                let _ = err.call_method0("flush");
            }
        });
    }
}

impl SweepObserver for PySweepObserver {
    fn on_workers(&mut self, workers: usize, pending: usize) {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        self.write(&format!(
            "note: jobs capped at {workers} workers ({pending} runs to do, at most {} per core on {cores} cores)\n",
            imprl::sweep::MAX_WORKERS_PER_CORE
        ));
    }

    fn on_start(&mut self, pending: usize, skipped: usize) {
        self.pending = pending;
        if self.progress {
            self.write(&format!("{pending} runs to do, {skipped} already stored\n"));
        }
    }

    fn on_run(&mut self, _run: &RunRecord, st: &Status) {
        let due = self
            .last
            .is_none_or(|t| t.elapsed() >= Duration::from_millis(250));
        if self.progress && (due || st.done == st.total) {
            self.last = Some(Instant::now());
            self.write(&format!(
                "\r{}/{} runs, {} diverged, {:.0}% of the work, {:.1} s left   ",
                st.done,
                st.total,
                st.diverged,
                100.0 * st.share,
                st.remaining_s()
            ));
        }
    }

    fn on_finish(&mut self) {
        if self.progress && self.pending > 0 {
            self.write("\n");
        }
    }

    fn cancelled(&self) -> bool {
        if self.signal.borrow().is_some() {
            return true;
        }
        match Python::with_gil(|py| py.check_signals()) {
            Ok(()) => false,
            Err(e) => {
                *self.signal.borrow_mut() = Some(e);
                true
            }
        }
    }
}

/// A sweep (see `imprl.sweep`): `grid` a dict or the path of a grid file, `out` the results
/// directory; returns the summary as a dict.
#[pyfunction]
#[pyo3(signature = (grid, out, jobs=None, progress=true, save_params=false))]
pub fn sweep<'py>(
    py: Python<'py>,
    grid: &Bound<'py, PyAny>,
    out: &Bound<'py, PyAny>,
    jobs: Option<&Bound<'py, PyAny>>,
    progress: bool,
    save_params: bool,
) -> PyResult<Bound<'py, PyDict>> {
    imprl::domain::own::refresh();
    let grid = match grid.downcast::<PyDict>() {
        Ok(d) => Grid::from_toml_table(&grid_table(d, None)?),
        Err(_) => Grid::from_file(&path("grid", grid)?),
    }
    .map_err(config_err)?;
    let out = path("out", out)?;
    let opts = SweepOptions::new(count("jobs", jobs)?, false)
        .map_err(config_err)?
        .saving_params(save_params);
    let mut store = Store::open(&out).map_err(|e| PyOSError::new_err(e.to_string()))?;
    let mut observer = PySweepObserver {
        progress,
        pending: 0,
        last: None,
        signal: std::cell::RefCell::new(None),
    };
    let runs = grid.runs();
    let result = py.allow_threads(|| {
        std::panic::catch_unwind(AssertUnwindSafe(|| {
            imprl::sweep::execute(runs, &mut store, &opts, &mut observer)
        }))
    });
    let summary = match result {
        Ok(Ok(s)) => s,
        Ok(Err(imprl::sweep::SweepError::Config(e))) => return Err(config_err(e)),
        // A changed own-domain file is bad input, as on the command line.
        Ok(Err(
            e @ imprl::sweep::SweepError::Store(imprl::store::StoreError::DomainChanged { .. }),
        )) => return Err(pyo3::exceptions::PyValueError::new_err(e.to_string())),
        Ok(Err(e)) => return Err(PyOSError::new_err(e.to_string())),
        Err(payload) => return Err(panic_err(payload)),
    };
    if let Some(e) = observer.signal.into_inner() {
        if progress {
            let _ = py
                .import("sys")
                .and_then(|s| s.getattr("stderr"))
                .and_then(|e| e.call_method1("write", (format!("{summary}\n"),)));
        }
        return Err(e);
    }
    if progress {
        let _ = py
            .import("sys")
            .and_then(|s| s.getattr("stderr"))
            .and_then(|e| e.call_method1("write", (format!("{summary}\n"),)));
    }
    let d = PyDict::new(py);
    d.set_item("total", summary.total)?;
    d.set_item("skipped", summary.skipped)?;
    d.set_item("ran", summary.ran)?;
    d.set_item("diverged", summary.diverged + summary.skipped_diverged)?;
    d.set_item("interrupted", summary.interrupted)?;
    d.set_item("wall_s", summary.wall_s)?;
    Ok(d)
}

/// The declared run settings, in declaration order: name, Python type (`float`, `int`, `bool`,
/// `str`), member names of an enumeration, default in words (`None`: required), allowed values
/// in words and the doc line.
#[pyfunction]
pub fn settings(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    let list = PyList::empty(py);
    for s in SETTINGS {
        let d = PyDict::new(py);
        d.set_item("name", s.name)?;
        d.set_item("type", python_type(s))?;
        d.set_item("choices", (s.names)())?;
        d.set_item("default", (s.default_text)())?;
        d.set_item("allowed", (s.allowed)())?;
        d.set_item("doc", s.doc_line())?;
        list.append(d)?;
    }
    Ok(list)
}

/// The Python type of a setting's values, from its store column.
fn python_type(s: &imprl::config::Setting) -> &'static str {
    match (s.boolean, s.sql_type) {
        (true, _) => "bool",
        (_, "REAL") => "float",
        (_, "INTEGER") => "int",
        _ => "str",
    }
}
