//! `ImplicitModel`: the implicit layer on its own (SPEC §1; §8.1 shapes): parameters `w`, logits
//! `F` and internal discount `η`; the exact fixed point `θ̂ = (I − ησ(F))⁻¹w`, its vector–Jacobian
//! product by the implicit function theorem, and an SGD step.

use crate::convert::config_err;
use imprl::config::ConfigError;
use imprl::param::grad_mode::Unrolled;
use imprl::param::{GradMode, Implicit, ImplicitFamily, ImplicitLayer, Reduce, StepError};
use numpy::{PyArray1, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::{PyFloatingPointError, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList, PyTuple};
use rayon::prelude::*;

/// The value of `obj` shown in a message.
fn shown(obj: &Bound<'_, PyAny>) -> String {
    obj.repr().map(|r| r.to_string()).unwrap_or_default()
}

/// `obj` as a float64 array (its shape and values in row-major order); errors name `name`.
fn array(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<(Vec<usize>, Vec<f64>)> {
    let py = obj.py();
    let bad = |allowed: &str| config_err(ConfigError::invalid(name, shown(obj), allowed));
    let np = py.import("numpy")?;
    // Integers and floats only: text, booleans and complex numbers are no real numbers (NumPy
    // would convert the first two and drop imaginary parts with a warning).
    let kind: String = np
        .call_method1("asarray", (obj,))
        .and_then(|a| a.getattr("dtype")?.getattr("kind")?.extract())
        .map_err(|_| bad("an array of real numbers"))?;
    if !matches!(kind.as_str(), "i" | "u" | "f") {
        return Err(bad("an array of real numbers (integer or float dtype)"));
    }
    let kwargs = PyDict::new(py);
    kwargs.set_item("dtype", "float64")?;
    let arr = np
        .call_method("asarray", (obj,), Some(&kwargs))
        .map_err(|_| bad("an array of real numbers"))?;
    let arr = arr
        .downcast::<PyArrayDyn<f64>>()
        .map_err(|_| bad("an array of real numbers"))?;
    let ro = arr.try_readonly().map_err(|_| bad("a readable array"))?;
    let shape = ro.shape().to_vec();
    let values = ro.as_array().iter().copied().collect();
    Ok((shape, values))
}

/// A real number argument; errors name it.
fn real(
    obj: &Bound<'_, PyAny>,
    name: &str,
    allowed: &str,
    ok: impl Fn(f64) -> bool,
) -> PyResult<f64> {
    let x = if obj.is_instance_of::<PyBool>() {
        None
    } else {
        obj.extract::<f64>().ok()
    };
    x.filter(|&x| ok(x))
        .ok_or_else(|| config_err(ConfigError::invalid(name, shown(obj), allowed)))
}

/// The error of the array argument `name`, of shape `shape`, where `allowed` was expected.
fn bad_shape(name: &str, shape: &[usize], allowed: &str) -> PyErr {
    config_err(ConfigError::invalid(
        name,
        format!("an array of shape {shape:?}"),
        allowed,
    ))
}

/// Checks that every entry of the array argument `name` is finite.
fn finite(name: &str, values: &[f64]) -> PyResult<()> {
    if values.iter().any(|x| !x.is_finite()) {
        return Err(config_err(ConfigError::invalid(
            name,
            "an array with a non-finite entry",
            "finite numbers",
        )));
    }
    Ok(())
}

/// A gradient `g = ∂L/∂θ̂` of shape `(k,)`, finite; errors name `name`.
fn gradient_arg(obj: &Bound<'_, PyAny>, name: &str, k: usize) -> PyResult<Vec<f64>> {
    let (shape, g) = array(obj, name)?;
    if shape != [k] {
        return Err(bad_shape(
            name,
            &shape,
            &format!("an array of shape ({k},)"),
        ));
    }
    finite(name, &g)?;
    Ok(g)
}

/// ImplicitModel(w, logits, eta, reduce="max", temperature=1.0)
///
/// The implicit layer on its own (SPEC §1 and §8.1): the value weights θ̂ solve
/// θ̂ = reduce_a (w[:, a] + η σ(F[:, a, :]) θ̂). With one pseudo-action (w of shape (k,) and
/// logits (k, k), or (k, 1) and (k, 1, k)) this is the Markov reward chain
/// θ̂ = (I − η σ(F))⁻¹ w, for either reduction. σ is the row softmax; logits may be very
/// negative (even -inf): a transition probability that underflows to 0 is allowed.
///
/// Attributes: theta (θ̂, solved to a relative residual of 1e-10), w, logits, transitions
/// (σ(F)), eta, k, m, reduce, temperature.
///
/// vjp(g) returns {"w", "logits", "eta"}: the gradients of L given g = ∂L/∂θ̂, by the implicit
/// function theorem (adjoint u = A⁻ᵀ g, A = I − η σ(F)): ∂L/∂w = u,
/// ∂L/∂F_kj = η u_k S_kj (θ̂_j − (Sθ̂)_k), ∂L/∂η = uᵀ S θ̂.
///
/// step(g, lr) does one SGD step on (w, logits) (η stays) and solves θ̂ again; on failure the
/// model is unchanged.
///
/// With m > 1 pseudo-actions (w of shape (k, m), logits (k, m, k)), S_a = σ(F[:, a, :]) and
/// θ̂ = reduce_a (w[:, a] + η S_a θ̂) is solved by Newton's method (policy iteration for max);
/// vjp gives ∂L/∂w_ka = u_k π_ka, ∂L/∂F_kaj = η u_k π_ka S_a,kj (θ̂_j − (S_aθ̂)_k) and
/// ∂L/∂η = Σ_ka u_k π_ka (S_aθ̂)_k, with π = ∂reduce/∂Q (the greedy indicator for max, the
/// softmax of Q/τ for logsumexp) and u = (I − J)⁻ᵀ g, J = Σ_a diag(π_·a) η S_a (SPEC §8.1, §8.2).
///
/// eta may also be an array of w's shape ((k, m), or (k,) for w of shape (k,)): one discount
/// η_ka per state and pseudo-action (SPEC §8.2), Q_ka = w_ka + η_ka (S_aθ)_k, each
/// 0 <= η_ka < 1; then θ̂ is solved by Newton's method also for m = 1 (equal to the one-η model's
/// to the solver's tolerance when all η_ka are equal, not bit for bit), `eta` is that array and
/// vjp's "eta" is ∂L/∂η_ka = u_k π_ka (S_aθ̂)_k in its shape.
#[pyclass(module = "imprl._imprl")]
pub struct ImplicitModel {
    /// The paper's model (SPEC §1) for one pseudo-action and one `η`, the family (§8.1) else.
    inner: Box<dyn ImplicitLayer>,
    /// The shapes given for `w` and the logits (gradients come back in them).
    w_shape: Vec<usize>,
    f_shape: Vec<usize>,
    /// `w`'s shape when `η` was given per state and pseudo-action, `None` for one `η`.
    eta_shape: Option<Vec<usize>>,
    reduce: String,
    temperature: f64,
}

/// The named parameter array `name` of the layer (`logits`, …), empty if it has none.
fn param<'a>(layer: &'a dyn ImplicitLayer, name: &str) -> &'a [f64] {
    layer
        .params()
        .into_iter()
        .find(|p| p.name == name)
        .map_or(&[], |p| p.values)
}

fn step_err(e: StepError) -> PyErr {
    match e {
        StepError::NonFinite => PyFloatingPointError::new_err(
            "the step made the parameters or θ̂ non-finite (the model is unchanged)",
        ),
        StepError::SolveFailed(e) => {
            PyRuntimeError::new_err(format!("{e} (the model is unchanged)"))
        }
        StepError::FixedPoint(e) => {
            PyRuntimeError::new_err(format!("{e} (the model is unchanged)"))
        }
    }
}

/// The reduction arguments `reduce` (`"max"` when `None`) and `temperature` (1 when `None`):
/// the name, the reduction and `τ`; errors name the argument.
fn reduction(
    reduce: Option<&Bound<'_, PyAny>>,
    temperature: Option<&Bound<'_, PyAny>>,
) -> PyResult<(String, Reduce, f64)> {
    let name = match reduce {
        None => Some("max".to_string()),
        Some(r) => r
            .extract::<String>()
            .ok()
            .filter(|r| r == "max" || r == "logsumexp"),
    };
    let name = name.ok_or_else(|| {
        config_err(ConfigError::invalid(
            "reduce",
            reduce.map(shown).unwrap_or_default(),
            "max, logsumexp",
        ))
    })?;
    let tau = match temperature {
        None => 1.0,
        Some(t) => real(t, "temperature", "a finite number > 0", |t| {
            t.is_finite() && t > 0.0
        })?,
    };
    let reduce = if name == "max" {
        Reduce::Max
    } else {
        Reduce::LogSumExp
    };
    Ok((name, reduce, tau))
}

/// What `eta` may be.
const ETA_ALLOWED: &str = "0 <= eta < 1";

/// Whether `η` is an internal discount the layer accepts (`0 ≤ η < 1`, SPEC §1).
fn eta_ok(eta: f64) -> bool {
    (0.0..1.0).contains(&eta)
}

/// Checks the internal discounts of a model with `m` pseudo-actions: one `η` (length 1) or
/// `η_{ka}` (length `k·m`, SPEC §8.2), each `0 ≤ η < 1`; the error names `eta` and, for a
/// per-state-action one, the entry `(k, a)`.
fn check_eta(eta: &[f64], m: usize) -> PyResult<()> {
    if let [one] = eta {
        if !eta_ok(*one) {
            return Err(config_err(ConfigError::invalid(
                "eta",
                one.to_string(),
                ETA_ALLOWED,
            )));
        }
    } else if let Some(i) = eta.iter().position(|&e| !eta_ok(e)) {
        return Err(config_err(ConfigError::invalid(
            "eta",
            format!("an array whose entry ({}, {}) is {}", i / m, i % m, eta[i]),
            "0 <= eta < 1 in every entry",
        )));
    }
    Ok(())
}

/// The `eta` argument of `ImplicitModel`: a number (`None` and the number), or an array (its
/// shape and values, row-major; checked against `w` by the caller). Errors name `eta`.
fn eta_arg(obj: &Bound<'_, PyAny>) -> PyResult<(Option<Vec<usize>>, Vec<f64>)> {
    let refused = || {
        config_err(ConfigError::invalid(
            "eta",
            shown(obj),
            "a number 0 <= eta < 1, or an array of w's shape with entries 0 <= eta < 1",
        ))
    };
    if obj.is_instance_of::<PyBool>() {
        return Err(refused());
    }
    let ndim = obj
        .getattr("ndim")
        .and_then(|d| d.extract::<usize>())
        .unwrap_or(0);
    if ndim == 0 {
        if let Ok(x) = obj.extract::<f64>() {
            return Ok((None, vec![x]));
        }
        if !(obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>()) {
            return Err(refused());
        }
    }
    let (shape, values) = array(obj, "eta")?;
    if shape.is_empty() {
        return Err(refused());
    }
    Ok((Some(shape), values))
}

/// The layer at rewards `w` (`k × m`), logits `F` (`k × m × k`, row-major), discounts `η` (one,
/// or `η_{ka}` per state and pseudo-action: `k·m` of them, SPEC §8.2) and the reduction
/// `(reduce, τ)`, with `θ̂` solved (SPEC §1 for `m = 1` and one `η`, §8.1 otherwise), its Newton
/// iteration started at `start` when given (the family only: the paper's model is solved by one
/// LU solve, which no start shortens): the one construction behind `ImplicitModel` and the
/// batched functions. The shapes are the caller's to check; the values are checked here
/// (finite `w`, `0 ≤ η < 1`, logits rows with a finite largest entry and no NaN or +inf), and a
/// solve that fails is a `RuntimeError`.
fn build_layer(
    (k, m): (usize, usize),
    w: Vec<f64>,
    f: Vec<f64>,
    eta: &[f64],
    (reduce, temperature): (Reduce, f64),
    start: Option<&[f64]>,
    solver: Solver,
) -> PyResult<Box<dyn ImplicitLayer>> {
    finite("w", &w)?;
    check_eta(eta, m)?;
    // Very negative logits (probabilities that underflow to 0, even -inf) are allowed; each
    // row needs a finite largest logit and no NaN or +inf.
    let bad_row = f.chunks_exact(k).position(|row| {
        row.iter().any(|x| x.is_nan() || *x == f64::INFINITY)
            || !row
                .iter()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max)
                .is_finite()
    });
    if let Some(r) = bad_row {
        return Err(config_err(ConfigError::invalid(
            "logits",
            format!("an array whose row {r} has NaN, +inf or no finite entry"),
            "numbers < +inf with a finite largest entry in each row (-inf allowed)",
        )));
    }
    let solve_err = |e: String| PyRuntimeError::new_err(format!("θ̂ cannot be solved: {e}"));
    Ok(match (m, eta, start) {
        (1, &[eta], start) if solver == Solver::Gmres => Box::new(
            Implicit::from_params_iterative(w, f, eta, start)
                .map_err(|e| solve_err(e.to_string()))?,
        ),
        (1, &[eta], _) => {
            Box::new(Implicit::from_params(w, f, eta).map_err(|e| solve_err(e.to_string()))?)
        }
        (_, &[eta], None) => Box::new(
            ImplicitFamily::from_params((k, m), w, f, eta, (reduce, temperature))
                .map_err(|e| solve_err(e.to_string()))?,
        ),
        _ => Box::new(
            ImplicitFamily::from_params_with((k, m), w, f, eta, (reduce, temperature), start)
                .map_err(|e| solve_err(e.to_string()))?,
        ),
    })
}

#[pymethods]
impl ImplicitModel {
    #[new]
    #[pyo3(signature = (w, logits, eta, reduce=None, temperature=None))]
    #[pyo3(text_signature = "(w, logits, eta, reduce='max', temperature=1.0)")]
    fn new(
        w: &Bound<'_, PyAny>,
        logits: &Bound<'_, PyAny>,
        eta: &Bound<'_, PyAny>,
        reduce: Option<&Bound<'_, PyAny>>,
        temperature: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let (reduce_name, reduce, temperature) = reduction(reduce, temperature)?;
        let (eta_shape, eta_values) = eta_arg(eta)?;
        if eta_shape.is_none() && !eta_ok(eta_values[0]) {
            return Err(config_err(ConfigError::invalid(
                "eta",
                shown(eta),
                ETA_ALLOWED,
            )));
        }
        let (w_shape, w) = array(w, "w")?;
        let (k, m) = match w_shape[..] {
            [k] => (k, 1),
            [k, m] => (k, m),
            _ => return Err(bad_shape("w", &w_shape, "shape (k,) or (k, m)")),
        };
        if k == 0 || m == 0 {
            return Err(bad_shape("w", &w_shape, "k >= 1 and m >= 1"));
        }
        let (f_shape, f) = array(logits, "logits")?;
        let expected = if w_shape.len() == 1 {
            vec![k, k]
        } else {
            vec![k, m, k]
        };
        if f_shape != expected {
            let want: Vec<String> = expected.iter().map(|d| d.to_string()).collect();
            return Err(bad_shape(
                "logits",
                &f_shape,
                &format!("shape ({}) for w of shape {w_shape:?}", want.join(", ")),
            ));
        }
        if let Some(shape) = &eta_shape {
            if *shape != w_shape {
                return Err(bad_shape(
                    "eta",
                    shape,
                    &format!("a number, or an array of w's shape {w_shape:?}"),
                ));
            }
        }
        let inner = build_layer(
            (k, m),
            w,
            f,
            &eta_values,
            (reduce, temperature),
            None,
            Solver::Lu,
        )?;
        Ok(Self {
            inner,
            w_shape,
            f_shape,
            eta_shape,
            reduce: reduce_name,
            temperature,
        })
    }

    /// The fixed point θ̂ (shape (k,)), a copy.
    #[getter]
    fn theta<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_slice(py, self.inner.theta())
    }

    /// Rewards `w`, in the shape given.
    #[getter]
    fn w<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        PyArray1::from_slice(py, self.inner.model().w)
            .reshape(self.w_shape.clone())
            .map(Bound::into_any)
    }

    /// Logits `F`, in the shape given.
    #[getter]
    fn logits<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        PyArray1::from_slice(py, param(self.inner.as_ref(), "logits"))
            .reshape(self.f_shape.clone())
            .map(Bound::into_any)
    }

    /// Transition probabilities `S = σ(F)` (row softmax), in the logits' shape.
    #[getter]
    fn transitions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        PyArray1::from_slice(py, self.inner.model().s)
            .reshape(self.f_shape.clone())
            .map(Bound::into_any)
    }

    /// Internal discount η: a number, or `η_ka` in `w`'s shape when given per state and
    /// pseudo-action.
    #[getter]
    fn eta<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let eta = self.inner.model().eta;
        match &self.eta_shape {
            Some(shape) => PyArray1::from_slice(py, eta)
                .reshape(shape.clone())
                .map(Bound::into_any),
            None => Ok(eta[0].into_pyobject(py)?.into_any()),
        }
    }

    /// Feature dimension k.
    #[getter]
    fn k(&self) -> usize {
        self.inner.model().k
    }

    /// Number of pseudo-actions m.
    #[getter]
    fn m(&self) -> usize {
        self.inner.model().m
    }

    /// The reduction over pseudo-actions (`max` or `logsumexp`).
    #[getter]
    fn reduce(&self) -> &str {
        &self.reduce
    }

    /// The logsumexp temperature τ.
    #[getter]
    fn temperature(&self) -> f64 {
        self.temperature
    }

    /// Gradients of `L` for `g = ∂L/∂θ̂`: `{"w": u, "logits": η u_k S_kj (θ̂_j − (Sθ̂)_k),
    /// "eta": uᵀSθ̂}` with `u = A⁻ᵀg` (SPEC §1, §8.2); for `η` per state and pseudo-action,
    /// `"eta"` is `∂L/∂η_ka = u_k π_ka (S_aθ̂)_k` in `w`'s shape.
    fn vjp<'py>(&mut self, py: Python<'py>, g: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
        let g = gradient_arg(g, "g", self.inner.model().k)?;
        let inner = &mut self.inner;
        let grad = py
            .allow_threads(|| inner.gradient(&g))
            .map_err(|e| PyRuntimeError::new_err(format!("the adjoint cannot be solved: {e}")))?;
        let deta = match &self.eta_shape {
            Some(shape) => PyArray1::from_slice(py, &grad.deta)
                .reshape(shape.clone())?
                .into_any(),
            None => grad.deta_total().into_pyobject(py)?.into_any(),
        };
        let (dw, df) = (grad.dw, grad.df);
        let out = PyDict::new(py);
        out.set_item(
            "w",
            PyArray1::from_vec(py, dw).reshape(self.w_shape.clone())?,
        )?;
        out.set_item(
            "logits",
            PyArray1::from_vec(py, df).reshape(self.f_shape.clone())?,
        )?;
        out.set_item("eta", deta)?;
        Ok(out)
    }

    /// One SGD step `(w, F) ← (w, F) − lr·∇L` for `g = ∂L/∂θ̂` (η stays), then θ̂ at the new
    /// parameters. On failure the model is unchanged and the error raised.
    fn step(
        &mut self,
        py: Python<'_>,
        g: &Bound<'_, PyAny>,
        lr: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let g = gradient_arg(g, "g", self.inner.model().k)?;
        let lr = real(lr, "lr", "a finite number > 0", |x| {
            x.is_finite() && x > 0.0
        })?;
        let mut next = self.inner.clone_layer();
        let next = py.allow_threads(move || next.sgd_step(&g, lr).map(|()| next));
        self.inner = next.map_err(step_err)?;
        Ok(())
    }

    fn __repr__(&self) -> String {
        let eta = match &self.eta_shape {
            Some(shape) => format!("<per state-action, shape {shape:?}>"),
            None => self.inner.model().eta[0].to_string(),
        };
        format!(
            "ImplicitModel(k={}, m={}, eta={eta}, reduce={:?}, temperature={})",
            self.inner.model().k,
            self.inner.model().m,
            self.reduce,
            self.temperature
        )
    }
}

/// The batch argument `name` as a float64 C-contiguous array with one of the numbers of
/// dimensions `ndims` (its shape, read-only); errors name it.
fn batch_array<'py>(
    obj: &Bound<'py, PyAny>,
    name: &str,
    ndims: &[usize],
) -> PyResult<(Vec<usize>, PyReadonlyArrayDyn<'py, f64>)> {
    let bad = || {
        let ndims: Vec<String> = ndims.iter().map(|d| d.to_string()).collect();
        config_err(ConfigError::invalid(
            name,
            shown(obj),
            &format!(
                "a C-contiguous float64 array with {} dimensions",
                ndims.join(" or ")
            ),
        ))
    };
    let arr = obj.downcast::<PyArrayDyn<f64>>().map_err(|_| bad())?;
    let ro = arr.try_readonly().map_err(|_| bad())?;
    if !ndims.contains(&ro.ndim()) || !ro.is_c_contiguous() {
        return Err(bad());
    }
    Ok((ro.shape().to_vec(), ro))
}

/// A batch of `B` models (SPEC §1, §8.1) as flat row-major slices: `w` (`B × k × m`), logits
/// (`B × k × m × k`), `η` (`B`, one per model, or `B × k × m`, per state and pseudo-action,
/// SPEC §8.2), the reduction, and the optional starts.
struct Batch<'a> {
    b: usize,
    k: usize,
    m: usize,
    w: &'a [f64],
    f: &'a [f64],
    eta: &'a [f64],
    /// Whether `eta` is `B × k × m` (else `B`).
    eta_per_state_action: bool,
    reduction: (Reduce, f64),
    /// How θ and its gradient are computed (SPEC §8.3): `ift`, `unroll:K`, `unroll-warm:K` or
    /// `truncated:K`.
    mode: GradMode,
    /// `θ_0` of each model (`B × k`): the warm start of the forward Newton solve (`ift`,
    /// `truncated:K`) or the start of the `K` steps (the unrolled modes; 0 when `None`).
    init: Option<&'a [f64]>,
    /// `θ̂` of each model from the forward pass (`B × k`): the start of the backward pass's
    /// solve, which then takes no Newton step.
    fixed_point: Option<&'a [f64]>,
    /// How the paper's model solves its linear systems ([`Solver`]).
    solver: Solver,
}

/// The linear solver of the paper's model (m = 1, one η) in the batch functions: LU (the
/// default, bit for bit `ImplicitModel`), or warm-started GMRES without a factorization unless
/// it fails ([`Implicit::from_params_iterative`]; θ̂ and gradients to the solver's tolerance).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Solver {
    Lu,
    Gmres,
}

/// The `solver` argument (`"lu"` when `None`); errors name it.
fn solver_arg(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Solver> {
    let Some(obj) = obj else {
        return Ok(Solver::Lu);
    };
    match obj.extract::<String>().ok().as_deref() {
        Some("lu") => Ok(Solver::Lu),
        Some("gmres") => Ok(Solver::Gmres),
        _ => Err(config_err(ConfigError::invalid(
            "solver",
            shown(obj),
            "lu, gmres",
        ))),
    }
}

impl Batch<'_> {
    /// Row `i` (length `k`) of a `B × k` array.
    fn row<'x>(&self, x: &'x [f64], i: usize) -> &'x [f64] {
        &x[i * self.k..(i + 1) * self.k]
    }

    /// The discounts of model `i`: one `η` or its `k·m` of them.
    fn eta_of(&self, i: usize) -> &[f64] {
        if self.eta_per_state_action {
            let km = self.k * self.m;
            &self.eta[i * km..(i + 1) * km]
        } else {
            &self.eta[i..i + 1]
        }
    }

    /// `θ_0` of model `i` for the unrolled modes: `init`'s row, or 0.
    fn theta0(&self, i: usize) -> Vec<f64> {
        self.init
            .map_or_else(|| vec![0.0; self.k], |init| self.row(init, i).to_vec())
    }

    /// Model `i` with `θ̂` solved, exactly as `ImplicitModel(w[i], logits[i], eta[i], …)` builds
    /// it (its Newton iteration started at `start` when given); `None` where that raises
    /// (refused values or a failed solve).
    fn layer(&self, i: usize, start: Option<&[f64]>) -> Option<Box<dyn ImplicitLayer>> {
        let (k, m) = (self.k, self.m);
        let w = self.w[i * k * m..(i + 1) * k * m].to_vec();
        let f = self.f[i * k * m * k..(i + 1) * k * m * k].to_vec();
        build_layer(
            (k, m),
            w,
            f,
            self.eta_of(i),
            self.reduction,
            start,
            self.solver,
        )
        .ok()
    }

    /// The output of model `i` in the batch's mode (SPEC §8.3) and its `θ̂`: the output is `θ̂`
    /// (`ift`, `truncated:K`; solved from `init` when given), or `θ_K`, `K` steps of
    /// `θ ← reduce Q(θ)` from `init` or 0 (the unrolled modes; `θ̂` solved from 0); `None`
    /// where the model is refused, its `θ̂` cannot be solved, or its `init` is not finite.
    fn theta(&self, i: usize) -> Option<(Vec<f64>, Vec<f64>)> {
        let init = self.init.map(|init| self.row(init, i));
        if init.is_some_and(|x| !x.iter().all(|v| v.is_finite())) {
            return None;
        }
        if self.mode.is_unrolled() {
            let layer = self.layer(i, None)?;
            let out = Unrolled::forward(&layer.model(), &self.theta0(i), self.mode.k());
            Some((out.theta_k().to_vec(), layer.theta().to_vec()))
        } else {
            let layer = self.layer(i, init)?;
            Some((layer.theta().to_vec(), layer.theta().to_vec()))
        }
    }

    /// `∇_ψ L` of model `i` for `g = ∂L/∂θ` in the batch's mode (SPEC §1, §8.1–8.3): the exact
    /// IFT gradient (`ift`), the `K`-term Neumann adjoint (`truncated:K`, the layer's own
    /// mode), or reverse mode through the `K` steps from `init` or 0, `θ_0` a constant (the
    /// unrolled modes); the model's `θ̂` is solved from the forward's (`fixed_point`), else from
    /// `init` (`ift`, `truncated:K`), else from 0. `None` where the model is refused, a solve
    /// fails or `init` is not finite.
    fn gradient(&self, i: usize, g: &[f64]) -> Option<imprl::param::ModelGrad> {
        let init = self.init.map(|init| self.row(init, i));
        if init.is_some_and(|x| !x.iter().all(|v| v.is_finite())) {
            return None;
        }
        let fixed = self.fixed_point.map(|x| self.row(x, i));
        if self.mode.is_unrolled() {
            let layer = self.layer(i, fixed)?;
            let model = layer.model();
            let out = Unrolled::forward(&model, &self.theta0(i), self.mode.k());
            Some(out.backward(&model, g))
        } else {
            let mut layer = self.layer(i, fixed.or(init))?;
            layer.set_grad_mode(self.mode);
            layer.gradient(g).ok()
        }
    }
}

/// The gradient mode argument `grad` (`"ift"` when `None`): `ift`, `unroll:K`, `unroll-warm:K`
/// or `truncated:K` (SPEC §8.3). Errors name `grad`.
fn grad_mode(grad: Option<&Bound<'_, PyAny>>) -> PyResult<GradMode> {
    let Some(grad) = grad else {
        return Ok(GradMode::Ift);
    };
    let allowed = "ift, unroll:K, unroll-warm:K (with init) or truncated:K with 1 <= K <= 100000";
    grad.extract::<String>()
        .ok()
        .and_then(|text| GradMode::parse(&text))
        .ok_or_else(|| config_err(ConfigError::invalid("grad", shown(grad), allowed)))
}

/// implicit_grad_mode(grad) -> str
///
/// The canonical text of the gradient mode `grad` of `imprl.jax` (`ift`, `unroll:K`,
/// `unroll-warm:K`, `truncated:K`; SPEC §8.3), or `ValueError` naming `grad`.
#[pyfunction]
pub fn implicit_grad_mode(grad: &Bound<'_, PyAny>) -> PyResult<String> {
    grad_mode(Some(grad)).map(GradMode::text)
}

/// The batch arguments of [`with_batch`] besides `w`, `logits` and `eta`.
struct BatchOptions<'a, 'py> {
    reduce: Option<&'a Bound<'py, PyAny>>,
    temperature: Option<&'a Bound<'py, PyAny>>,
    grad: Option<&'a Bound<'py, PyAny>>,
    init: Option<&'a Bound<'py, PyAny>>,
    fixed_point: Option<&'a Bound<'py, PyAny>>,
    solver: Option<&'a Bound<'py, PyAny>>,
}

/// Reads and checks the batch arguments `w` `(B, k, m)`, `logits` `(B, k, m, k)`, `eta` `(B,)`
/// or `(B, k, m)`, and the optional `init` and `theta_hat` `(B, k)`, and calls `run` on them;
/// errors name the argument. `unroll-warm:K` needs `init`.
fn with_batch<'py, T>(
    w: &Bound<'py, PyAny>,
    logits: &Bound<'py, PyAny>,
    eta: &Bound<'py, PyAny>,
    opts: BatchOptions<'_, 'py>,
    run: impl FnOnce(&Batch<'_>) -> PyResult<T>,
) -> PyResult<T> {
    let (_, reduce, tau) = reduction(opts.reduce, opts.temperature)?;
    let mode = grad_mode(opts.grad)?;
    let solver = solver_arg(opts.solver)?;
    if matches!(mode, GradMode::UnrollWarm(_)) && opts.init.is_none() {
        return Err(config_err(ConfigError::invalid(
            "init",
            "None",
            "θ_0 of shape (B, k) for grad = unroll-warm:K (the previous update's θ_K)",
        )));
    }
    let (w_shape, w) = batch_array(w, "w", &[3])?;
    let (f_shape, f) = batch_array(logits, "logits", &[4])?;
    let (eta_shape, eta) = batch_array(eta, "eta", &[1, 3])?;
    let (b, k, m) = (w_shape[0], w_shape[1], w_shape[2]);
    if k == 0 || m == 0 {
        return Err(bad_shape("w", &w_shape, "k >= 1 and m >= 1"));
    }
    if f_shape != [b, k, m, k] {
        return Err(bad_shape(
            "logits",
            &f_shape,
            &format!("shape ({b}, {k}, {m}, {k}) for w of shape {w_shape:?}"),
        ));
    }
    if eta_shape != [b] && eta_shape != [b, k, m] {
        return Err(bad_shape(
            "eta",
            &eta_shape,
            &format!("shape ({b},) or ({b}, {k}, {m})"),
        ));
    }
    if solver == Solver::Gmres && (m != 1 || eta_shape.len() != 1) {
        return Err(config_err(ConfigError::invalid(
            "solver",
            "gmres",
            "lu for the model family and per-state-action discounts (gmres: the paper's model, \
             m = 1 with one η per model)",
        )));
    }
    let mut starts = Vec::new();
    for (obj, name) in [(opts.init, "init"), (opts.fixed_point, "theta_hat")] {
        let Some(obj) = obj else {
            starts.push(None);
            continue;
        };
        let (shape, x) = batch_array(obj, name, &[2])?;
        if shape != [b, k] {
            return Err(bad_shape(name, &shape, &format!("shape ({b}, {k})")));
        }
        starts.push(Some((name, x)));
    }
    let not_contiguous = |name: &str| {
        config_err(ConfigError::invalid(
            name,
            "a non-contiguous array",
            "a C-contiguous array",
        ))
    };
    let batch = Batch {
        b,
        k,
        m,
        w: w.as_slice().map_err(|_| not_contiguous("w"))?,
        f: f.as_slice().map_err(|_| not_contiguous("logits"))?,
        eta: eta.as_slice().map_err(|_| not_contiguous("eta"))?,
        eta_per_state_action: eta_shape.len() == 3,
        reduction: (reduce, tau),
        mode,
        init: start_slice(&starts[0])?,
        fixed_point: start_slice(&starts[1])?,
        solver,
    };
    run(&batch)
}

/// The slice of an optional start array of [`with_batch`] (`init`, `theta_hat`).
fn start_slice<'a>(
    start: &'a Option<(&str, PyReadonlyArrayDyn<'_, f64>)>,
) -> PyResult<Option<&'a [f64]>> {
    match start {
        None => Ok(None),
        Some((name, x)) => x.as_slice().map(Some).map_err(|_| {
            config_err(ConfigError::invalid(
                name,
                "a non-contiguous array",
                "a C-contiguous array",
            ))
        }),
    }
}

/// implicit_values_batch(w, logits, eta, reduce="max", temperature=1.0, grad="ift", init=None, with_fixed_point=False)
///
/// θ̂ of a batch of B models (SPEC §1, §8.1; the forward pass of `imprl.jax`): `w` (B, k, m),
/// `logits` (B, k, m, k), `eta` (B,) or, per state and pseudo-action (SPEC §8.2), (B, k, m),
/// float64 and C-contiguous. Row i of the result (B, k) is `ImplicitModel(w[i], logits[i],
/// eta[i], reduce, temperature).theta`, bit for bit (the same construction), or NaN where that
/// model raises (refused values, a solve that fails). `init` (B, k): the start θ_0 of each
/// model's Newton iteration (θ̂ then equals the one from 0 to the solver's tolerance; a row
/// that is not finite makes that model NaN). With `grad="unroll:K"` (or `"unroll-warm:K"`,
/// which needs `init`) the result is θ_K instead, K steps of θ ← reduce Q(θ) from `init` or 0
/// (SPEC §8.3). With `with_fixed_point=True` it returns `(result, θ̂)` (the same array twice
/// but for the unrolled modes). The models are solved in parallel on all cores, the GIL
/// released.
#[pyfunction]
#[pyo3(signature = (w, logits, eta, reduce=None, temperature=None, grad=None, init=None, with_fixed_point=false, solver=None))]
#[allow(clippy::too_many_arguments)]
pub fn implicit_values_batch<'py>(
    py: Python<'py>,
    w: &Bound<'py, PyAny>,
    logits: &Bound<'py, PyAny>,
    eta: &Bound<'py, PyAny>,
    reduce: Option<&Bound<'py, PyAny>>,
    temperature: Option<&Bound<'py, PyAny>>,
    grad: Option<&Bound<'py, PyAny>>,
    init: Option<&Bound<'py, PyAny>>,
    with_fixed_point: bool,
    solver: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let opts = BatchOptions {
        reduce,
        temperature,
        grad,
        init,
        fixed_point: None,
        solver,
    };
    let (b, k, theta, fixed) = with_batch(w, logits, eta, opts, |batch| {
        let mut theta = vec![f64::NAN; batch.b * batch.k];
        let mut fixed = vec![f64::NAN; batch.b * batch.k];
        py.allow_threads(|| {
            theta
                .par_chunks_mut(batch.k)
                .zip(fixed.par_chunks_mut(batch.k))
                .enumerate()
                .for_each(|(i, (row, fixed_row))| {
                    if let Some((out, hat)) = batch.theta(i) {
                        row.copy_from_slice(&out);
                        fixed_row.copy_from_slice(&hat);
                    }
                });
        });
        Ok((batch.b, batch.k, theta, fixed))
    })?;
    let theta = PyArray1::from_vec(py, theta).reshape([b, k])?;
    if with_fixed_point {
        let fixed = PyArray1::from_vec(py, fixed).reshape([b, k])?;
        (theta, fixed).into_pyobject(py).map(Bound::into_any)
    } else {
        Ok(theta.into_any())
    }
}

/// The gradients of a batch ([`implicit_vjp_batch`]): `∂L/∂w` (`B × k × m`), `∂L/∂F`
/// (`B × k × m × k`) and `∂L/∂η` (`B`, or `B × k × m` per state and pseudo-action).
type BatchGrads<'py> = (
    Bound<'py, PyArrayDyn<f64>>,
    Bound<'py, PyArrayDyn<f64>>,
    Bound<'py, PyArrayDyn<f64>>,
);

/// implicit_vjp_batch(w, logits, eta, g, reduce="max", temperature=1.0, grad="ift", init=None, theta_hat=None)
///
/// The vector–Jacobian products of a batch of B models (the backward pass of `imprl.jax`):
/// arguments as `implicit_values_batch`, and `g` (B, k) = ∂L/∂θ̂ per model. Returns
/// `(dw (B, k, m), dlogits (B, k, m, k), deta)`, `deta` in eta's shape ((B,): ∂L/∂η summed over
/// (k, a); (B, k, m): ∂L/∂η_ka = u_k π_ka (S_aθ̂)_k); model i's are
/// `ImplicitModel(w[i], logits[i], eta[i], reduce, temperature).vjp(g[i])`, bit for bit (exact
/// IFT: u = A⁻ᵀg, SPEC §1, §8.1–8.2), or NaN where that raises or `g[i]` is not finite.
/// `grad="truncated:K"` uses the K-term Neumann series of the adjoint, `grad="unroll:K"` and
/// `"unroll-warm:K"` the exact derivative of θ_K with θ_0 = `init` (or 0) a constant (SPEC
/// §8.3). `theta_hat` (B, k), θ̂ from the forward pass, starts each model's Newton solve (from
/// θ̂ it takes no step, and the gradients are the same bits as from 0); without it the solve
/// starts at `init` or 0. Parallel on all cores, the GIL released.
#[pyfunction]
#[pyo3(signature = (w, logits, eta, g, reduce=None, temperature=None, grad=None, init=None, theta_hat=None, solver=None))]
#[allow(clippy::too_many_arguments)]
pub fn implicit_vjp_batch<'py>(
    w: &Bound<'py, PyAny>,
    logits: &Bound<'py, PyAny>,
    eta: &Bound<'py, PyAny>,
    g: &Bound<'py, PyAny>,
    reduce: Option<&Bound<'py, PyAny>>,
    temperature: Option<&Bound<'py, PyAny>>,
    grad: Option<&Bound<'py, PyAny>>,
    init: Option<&Bound<'py, PyAny>>,
    theta_hat: Option<&Bound<'py, PyAny>>,
    solver: Option<&Bound<'py, PyAny>>,
) -> PyResult<BatchGrads<'py>> {
    let py = w.py();
    let (g_shape, g) = batch_array(g, "g", &[2])?;
    let opts = BatchOptions {
        reduce,
        temperature,
        grad,
        init,
        fixed_point: theta_hat,
        solver,
    };
    let (b, k, m, per_sa, dw, df, deta) = with_batch(w, logits, eta, opts, |batch| {
        let (b, k, m) = (batch.b, batch.k, batch.m);
        if g_shape != [b, k] {
            return Err(bad_shape("g", &g_shape, &format!("shape ({b}, {k})")));
        }
        let g = g.as_slice().map_err(|_| {
            config_err(ConfigError::invalid(
                "g",
                "a non-contiguous array",
                "a C-contiguous array",
            ))
        })?;
        let per_sa = batch.eta_per_state_action;
        let eta_len = if per_sa { k * m } else { 1 };
        let mut dw = vec![f64::NAN; b * k * m];
        let mut df = vec![f64::NAN; b * k * m * k];
        let mut deta = vec![f64::NAN; b * eta_len];
        py.allow_threads(|| {
            dw.par_chunks_mut(k * m)
                .zip(df.par_chunks_mut(k * m * k))
                .zip(deta.par_chunks_mut(eta_len))
                .enumerate()
                .for_each(|(i, ((dw, df), deta))| {
                    let g = &g[i * k..(i + 1) * k];
                    if !g.iter().all(|x| x.is_finite()) {
                        return;
                    }
                    if let Some(grad) = batch.gradient(i, g) {
                        dw.copy_from_slice(&grad.dw);
                        df.copy_from_slice(&grad.df);
                        if per_sa {
                            deta.copy_from_slice(&grad.deta);
                        } else {
                            deta[0] = grad.deta_total();
                        }
                    }
                });
        });
        Ok((b, k, m, per_sa, dw, df, deta))
    })?;
    let eta_shape = if per_sa { vec![b, k, m] } else { vec![b] };
    Ok((
        PyArray1::from_vec(py, dw).reshape(vec![b, k, m])?,
        PyArray1::from_vec(py, df).reshape(vec![b, k, m, k])?,
        PyArray1::from_vec(py, deta).reshape(eta_shape)?,
    ))
}
