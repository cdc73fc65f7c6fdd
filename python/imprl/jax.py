"""The implicit layer as a JAX function: ``imprl.jax.implicit_values`` (SPEC §1, §8.1).

θ̂ solves θ̂ = reduce_a (w[:, a] + η σ(F[:, a, :]) θ̂) — with one pseudo-action the Markov reward
chain θ̂ = (I − η σ(F))⁻¹ w — for one model or a batch, and its gradients for ``w``, ``logits``
and ``eta`` (one η per model, or one per state and pseudo-action, SPEC §8.2) are (by default)
the exact implicit-function-theorem gradients of ``imprl.ImplicitModel.vjp``;
``grad="truncated:K"``, ``grad="unroll:K"`` and ``grad="unroll-warm:K"`` are the modes of SPEC
§8.3. ``init`` carries the caller's state between training steps (a warm start of the solve, or
θ_0 of the unrolled modes). The forward solve and the adjoint both run in Rust
(``jax.pure_callback`` inside a ``jax.custom_vjp``); θ̂ of the forward pass starts the backward
pass's solve; a batch, given with leading dimensions or made by ``jax.vmap``, reaches Rust as one
call and its models are solved in parallel on all cores.

JAX is an optional dependency: ``pip install "./python[jax]"``. Importing ``imprl`` does not
import JAX; only ``import imprl.jax`` does.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _imprl
from ._imprl import ImplicitModel

__all__ = ["implicit_values"]

_REDUCES = ("max", "logsumexp")
_ON_FAILURE = ("raise", "nan")
_SOLVERS = ("lu", "gmres")


def implicit_values(
    w: Any,
    logits: Any,
    eta: Any,
    *,
    reduce: str = "max",
    temperature: float = 1.0,
    grad: str = "ift",
    on_failure: str = "raise",
    init: Any = None,
    solver: str = "lu",
) -> jax.Array:
    """θ̂ of the implicit layer (SPEC §1, §8.1), differentiable in ``w``, ``logits`` and ``eta``.

    Shapes (leading dimensions ``...`` are batch dimensions, any number of them, also none):

    - the paper's model: ``w`` ``(..., k)`` and ``logits`` ``(..., k, k)``;
    - ``m`` pseudo-actions: ``w`` ``(..., k, m)`` and ``logits`` ``(..., k, m, k)``, reduced by
      ``reduce`` (``"max"`` or ``"logsumexp"`` with temperature ``temperature``; with ``m = 1``
      both are the identity);
    - ``eta``, the internal discounts 0 ≤ η < 1 (SPEC §8.1–8.2), by its number of dimensions:
      fewer than ``w``'s: one η per model, a scalar or an array that broadcasts to the batch
      dimensions; as many as ``w``'s: one η per state and pseudo-action, an array that
      broadcasts to ``w``'s shape (``(..., k, m)``, or ``(..., k)`` for the paper's shapes), so
      that Q_ka = w_ka + η_ka (S_a θ)_k (a per-pseudo-action η is ``eta[None, :]``, shape
      ``(1, m)``). More dimensions than ``w`` are refused.

    When both readings of ``w`` fit (its last two dimensions are equal and ``logits`` has one
    more, equal, dimension), ``w`` is read as ``(..., k, m)`` unless ``eta`` has exactly one
    dimension fewer than ``w`` (then it is one η per model of the ``(..., k)`` reading, a batch
    of the paper's models); an ``eta`` with as many dimensions as ``w`` is per state and
    pseudo-action in the ``(..., k, m)`` reading.

    ``init`` (optional, ``θ_0``, an array that broadcasts to ``(..., k)``): the caller's state
    between training steps, such as the previous step's output. For ``"ift"`` and
    ``"truncated:K"`` it is the warm start of the forward Newton solve: θ̂ is the same fixed
    point, to the solver's tolerance (relative residual 1e-10; if the solve from ``init`` fails
    it is solved from 0); for the paper's model with one η (``m = 1``) the solve is one LU
    solve, which ignores a start (θ̂ is the same bits with or without ``init``). For
    ``"unroll:K"`` it is the start θ_0 of the K steps (default 0), and ``"unroll-warm:K"``
    requires it. ``init`` is a stop-gradient: no gradient flows into it (its cotangent is zero),
    in every mode. A model whose ``init`` is not finite fails (as below).

    Returns θ̂ of shape ``(..., k)``. Each model's θ̂ is ``imprl.ImplicitModel(w, logits, eta,
    reduce, temperature).theta`` bit for bit (with ``eta`` that model's η, a number, or its
    ``(k, m)``/``(k,)`` array when per state and pseudo-action) when ``init`` is not given, and
    the vector–Jacobian product (``jax.grad``, ``jax.vjp``) is its ``vjp``: with u = A⁻ᵀg,
    ∂L/∂w = u·π, ∂L/∂F and ∂L/∂η as SPEC §1, §8.1–8.2 — ∂L/∂η comes back in ``eta``'s shape:
    per state and pseudo-action ∂L/∂η_ka = u_k π_ka (S_a θ̂)_k, per model its sum over (k, a)
    (and, as always in JAX, summed over the dimensions ``eta`` was broadcast along). The
    backward pass does not solve θ̂ again: θ̂ of the forward pass is kept (as float64, whatever
    the dtype) and starts the backward's Newton solve, which then takes no step, so that the
    gradients are the same bits as ``ImplicitModel.vjp``'s (the paper's model with one η is
    factorized again for the adjoint, the solve being one LU substitution). Works under
    ``jax.jit``, ``jax.grad``/``jax.vjp`` and ``jax.vmap``. No forward-mode (``jax.jvp``,
    ``jax.jacfwd``): a ``custom_vjp`` has reverse mode only.

    Precision: computed in float64 whatever the inputs; the result and the gradients come back
    in the inputs' dtype (float32 inputs give float32 θ̂, rounded from the float64 solution;
    integer inputs are promoted to JAX's default float dtype). ``init`` is cast to that dtype
    and does not take part in choosing it.

    Failure is never silent: a model whose values are refused (non-finite ``w``, an η outside
    [0, 1), a logits row with NaN, +inf or no finite entry, a non-finite ``init``) or whose
    solve fails has a θ̂ (and gradients) of NaN inside the computation. With
    ``on_failure="raise"`` (the default) this is then raised — ``ValueError`` naming the field
    and the model's batch index, or ``RuntimeError`` for a solve — wherever the values are
    concrete: in eager calls, also under an eager ``jax.grad``/``jax.vjp``. Under ``jax.jit``
    and ``jax.vmap`` the values are traced and nothing can be raised (JAX forbids exceptions in
    callbacks): the failed models' θ̂ and gradients are NaN, the others are unaffected, and the
    caller checks ``jnp.isfinite``. ``on_failure="nan"`` returns the NaNs in eager calls too.

    ``grad`` chooses the gradient as the trainer's setting of that name (SPEC §8.3):

    - ``"ift"`` (default): the exact implicit-function-theorem gradient at θ̂;
    - ``"truncated:K"``: θ̂ as above, the adjoint replaced by its K-term Neumann series
      Σ_{i<K} (Jᵀ)^i g (``truncated:1`` is Jacobian-free backpropagation, u = g);
    - ``"unroll:K"`` (value iteration networks): the output is θ_K, K steps of
      θ ← reduce_a(w[:, a] + η S_a θ) from θ_0 = ``init`` (default 0), and the gradient is its
      exact derivative (reverse mode through the K steps) with θ_0 held constant;
    - ``"unroll-warm:K"``: the same with θ_0 the previous update's θ_K, which the caller
      carries between steps and passes as ``init`` (required: a ``ValueError`` naming ``init``
      without it); the gradient does not flow through θ_0. As a function of its arguments it
      is ``"unroll:K"`` with ``init`` given; the trainer's ``unroll-warm:K`` is this function
      called with ``init`` = the previous call's output.

    In every mode the model is built as ``ImplicitModel`` builds it (its θ̂ solved, from 0 in
    the unrolled modes), so a model whose θ̂ cannot be solved fails in every mode.

    ``solver`` (the paper's model, m = 1 with one η per model): ``"lu"`` (default) factorizes
    A = I − ησ(F) in the forward pass and again for the adjoint, O(k³) each, and is bit for bit
    ``ImplicitModel``; ``"gmres"`` solves both by right-Jacobi-preconditioned GMRES, the
    forward warm-started from ``init`` (pass the previous step's θ̂) and the adjoint from 0, to
    the same relative residual 1e-10, O(k²) per iteration, with an LU only if GMRES fails: θ̂ and
    the gradients then agree with ``"lu"``'s to that tolerance, not bit for bit. The model
    family and per-state-action η take ``"lu"`` only (a ``ValueError`` naming ``solver``).

    One core and asynchronous dispatch: JAX's CPU client computes (and copies) arrays
    asynchronously on worker threads, and runs the callback on one of them. Eager calls wait
    for their arguments before the callback. A jitted function, though, may start while its
    arguments are still being computed or copied (e.g. ``jnp.asarray`` of a large NumPy array
    just before the call); with one core its callback can then wait forever for an argument
    that needs the worker it occupies (seen at k = 1600 with 32 models under ``taskset -c 0``).
    Make such arguments ready first (``jax.block_until_ready``), or set
    ``jax_cpu_enable_async_dispatch`` to False.
    """
    if not isinstance(reduce, str) or reduce not in _REDUCES:
        raise ValueError(f"invalid value for `reduce`: {reduce!r} (allowed: max, logsumexp)")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.number)):
        raise ValueError(
            f"invalid value for `temperature`: {temperature!r} (allowed: a finite number > 0)"
        )
    temperature = float(temperature)
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(
            f"invalid value for `temperature`: {temperature!r} (allowed: a finite number > 0)"
        )
    grad = _imprl.implicit_grad_mode(grad)
    if not isinstance(on_failure, str) or on_failure not in _ON_FAILURE:
        raise ValueError(f"invalid value for `on_failure`: {on_failure!r} (allowed: raise, nan)")
    if not isinstance(solver, str) or solver not in _SOLVERS:
        raise ValueError(f"invalid value for `solver`: {solver!r} (allowed: lu, gmres)")
    if init is None and grad.startswith("unroll-warm"):
        raise ValueError(
            f"invalid value for `init`: None (allowed: θ_0 of shape (..., k) for grad={grad}: "
            "the previous update's θ_K)"
        )

    w, logits, eta = (jnp.asarray(x) for x in (w, logits, eta))
    dtype = _dtype(("w", w), ("logits", logits), ("eta", eta))
    batch, k, m, flat, per_sa = _layout(w.shape, logits.shape, eta.shape)
    if solver == "gmres" and (m != 1 or per_sa):
        raise ValueError(
            "invalid value for `solver`: 'gmres' (allowed: lu for the model family and "
            "per-state-action discounts; gmres for the paper's model, m = 1 with one η per model)"
        )
    if per_sa:
        eta = jnp.broadcast_to(eta.astype(dtype), w.shape).reshape(batch + (k, m))
    else:
        eta = jnp.broadcast_to(eta.astype(dtype), batch)
    w = w.astype(dtype).reshape(batch + (k, m))
    logits = logits.astype(dtype).reshape(batch + (k, m, k))
    has_init = init is not None
    if not has_init:
        init = jnp.zeros(batch + (k,), dtype)
    else:
        init = jnp.asarray(init)
        _dtype(("init", init))
        try:
            fits = np.broadcast_shapes(init.shape, batch + (k,)) == batch + (k,)
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(
                f"invalid value for `init`: an array of shape {tuple(init.shape)} (allowed: a "
                f"shape that broadcasts to {batch + (k,)}, the shape of θ̂)"
            )
        init = jax.lax.stop_gradient(jnp.broadcast_to(init.astype(dtype), batch + (k,)))
    cfg = _Config(reduce, temperature, grad, on_failure, per_sa, has_init, solver)
    return _layer(w, logits, eta, init, cfg)


class _Config(NamedTuple):
    """The static arguments of the layer (hashable: ``custom_vjp``'s non-differentiable
    argument)."""

    reduce: str
    temperature: float
    grad: str
    on_failure: str
    #: Whether ``eta`` is per state and pseudo-action, ``(..., k, m)`` (else ``(...)``).
    per_sa: bool
    #: Whether ``init`` was given (else it is zeros, and the native functions get ``None``).
    has_init: bool
    #: The paper's model's linear solver: ``"lu"`` or ``"gmres"``.
    solver: str = "lu"


def _dtype(*named: Tuple[str, jax.Array]) -> Any:
    """The common floating dtype of the arguments (integers and booleans promote to JAX's
    default float); a ``ValueError`` naming an argument that is no real array."""
    for name, x in named:
        if not (jnp.issubdtype(x.dtype, jnp.floating) or jnp.issubdtype(x.dtype, jnp.integer)
                or x.dtype == jnp.bool_):
            raise ValueError(
                f"invalid value for `{name}`: an array of dtype {x.dtype} (allowed: real numbers)"
            )
    dtype = jnp.result_type(*(x for _, x in named))
    if not jnp.issubdtype(dtype, jnp.floating):
        dtype = jnp.zeros((), dtype=float).dtype
    return dtype


def _layout(
    w_shape: Tuple[int, ...], f_shape: Tuple[int, ...], eta_shape: Tuple[int, ...]
) -> Tuple[Tuple[int, ...], int, int, bool, bool]:
    """The batch shape, ``k``, ``m``, whether ``w`` is read as ``(..., k)`` (else
    ``(..., k, m)``) and whether ``eta`` is per state and pseudo-action; a ``ValueError`` naming
    the argument when the shapes do not fit."""
    if len(w_shape) == 0:
        raise ValueError("invalid value for `w`: a scalar (allowed: shape (..., k) or (..., k, m))")
    if len(f_shape) != len(w_shape) + 1 or tuple(f_shape[:-1]) != tuple(w_shape):
        raise ValueError(
            f"invalid value for `logits`: an array of shape {tuple(f_shape)} (allowed: shape "
            f"{tuple(w_shape) + ('k',)} for w of shape {tuple(w_shape)})"
        )
    flat_fits = f_shape[-1] == w_shape[-1]
    family_fits = len(w_shape) >= 2 and f_shape[-1] == w_shape[-2]
    if not (flat_fits or family_fits):
        raise ValueError(
            f"invalid value for `logits`: an array of shape {tuple(f_shape)} (allowed: last "
            f"dimension k, the last dimension of w (..., k) or the second last of w (..., k, m))"
        )
    flat = flat_fits and (not family_fits or len(eta_shape) == len(w_shape) - 1)
    batch = tuple(w_shape[:-1]) if flat else tuple(w_shape[:-2])
    k, m = (w_shape[-1], 1) if flat else (w_shape[-2], w_shape[-1])
    if k == 0 or m == 0:
        raise ValueError(
            f"invalid value for `w`: an array of shape {tuple(w_shape)} (allowed: k >= 1 and m >= 1)"
        )
    per_sa = len(eta_shape) == len(w_shape)
    target = tuple(w_shape) if per_sa else batch
    try:
        fits = len(eta_shape) <= len(w_shape) and np.broadcast_shapes(
            tuple(eta_shape), target
        ) == target
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"invalid value for `eta`: an array of shape {tuple(eta_shape)} (allowed: a scalar "
            f"or a shape that broadcasts to the batch shape {batch}, one η per model, or to w's "
            f"shape {tuple(w_shape)}, one η per state and pseudo-action)"
        )
    return batch, k, m, flat, per_sa


def _concrete(*xs: Any) -> bool:
    """Whether the values are known now (not traced, as under ``jax.jit``)."""
    return not any(isinstance(x, jax.core.Tracer) for x in xs)


def _ready(*xs: Any) -> None:
    """Waits for concrete (eager) arguments of a callback to be computed. JAX's CPU client
    computes eager operations asynchronously on its worker threads and runs an eager callback
    on one of them; a callback that reads an argument still being computed waits for a worker
    it may itself occupy — with one core, a deadlock (seen at k = 400 and 32 models under
    ``taskset -c 0``). Traced arguments are computed inside the program, before the callback."""
    if _concrete(*xs):
        jax.block_until_ready(xs)


def _native_args(w, logits, eta, init, cfg):
    """The positional and keyword arguments of the Rust batch functions: the stacked float64
    arrays (B, k, m), (B, k, m, k), (B,) or (B, k, m), and ``init`` (B, k) when given."""
    k, m = w.shape[-2:]

    def f64(x, shape):
        return np.ascontiguousarray(np.asarray(x, dtype=np.float64).reshape(shape))

    args = (
        f64(w, (-1, k, m)),
        f64(logits, (-1, k, m, k)),
        f64(eta, (-1, k, m) if cfg.per_sa else (-1,)),
    )
    kwargs = dict(reduce=cfg.reduce, temperature=cfg.temperature, grad=cfg.grad,
                  solver=cfg.solver)
    if cfg.has_init:
        kwargs["init"] = f64(init, (-1, k))
    return args, kwargs


def _to_bits(theta: np.ndarray, shape) -> np.ndarray:
    """float64 θ̂ as pairs of uint32 (``shape + (2,)``): kept exactly in the residuals also when
    JAX has no float64 (x64 disabled)."""
    return np.ascontiguousarray(theta, dtype=np.float64).view(np.uint32).reshape(shape + (2,))


def _from_bits(bits: np.ndarray, k: int) -> np.ndarray:
    """The float64 θ̂ (B, k) of :func:`_to_bits`'s pairs."""
    return np.ascontiguousarray(bits, dtype=np.uint32).view(np.float64).reshape(-1, k)


def _call(w, logits, eta, init, cfg, with_fixed_point):
    """θ (and, ``with_fixed_point``, θ̂ as uint32 pairs) of every model (NaN for those that
    fail), by one Rust call."""
    dtype = w.dtype
    lead, k = w.shape[:-2], w.shape[-2]

    def solve(w, logits, eta, init):
        lead, k = w.shape[:-2], w.shape[-2]
        args, kwargs = _native_args(w, logits, eta, init, cfg)
        if not with_fixed_point:
            theta = _imprl.implicit_values_batch(*args, **kwargs)
            return theta.reshape(lead + (k,)).astype(dtype)
        theta, fixed = _imprl.implicit_values_batch(*args, **kwargs, with_fixed_point=True)
        return theta.reshape(lead + (k,)).astype(dtype), _to_bits(fixed, lead + (k,))

    _ready(w, logits, eta, init)
    out = jax.ShapeDtypeStruct(lead + (k,), dtype)
    if with_fixed_point:
        out = (out, jax.ShapeDtypeStruct(lead + (k, 2), np.uint32))
    result = jax.pure_callback(solve, out, w, logits, eta, init, vmap_method="broadcast_all")
    theta = result[0] if with_fixed_point else result
    if cfg.on_failure == "raise" and _concrete(w, logits, eta, init, theta):
        failed = ~np.isfinite(np.asarray(theta)).all(axis=-1)
        if failed.any():
            what = "θ_K is not finite" if cfg.grad.startswith("unroll") else "θ̂ cannot be solved"
            _raise_failure(w, logits, eta, init, cfg, failed, what)
    return result


def _raise_failure(w, logits, eta, init, cfg, failed, what):
    """Raises the error of the first failed model: a non-finite ``init``, or ``ImplicitModel``'s
    own, naming the model's batch index."""
    idx = tuple(int(i) for i in np.argwhere(failed)[0])
    w, logits, eta, init = (np.asarray(x, dtype=np.float64) for x in (w, logits, eta, init))
    where = f"model {idx} of the batch: " if idx else ""
    if cfg.has_init and not np.isfinite(init[idx]).all():
        raise ValueError(
            f"{where}invalid value for `init`: an array with a non-finite entry (allowed: "
            "finite numbers)"
        )
    model_eta = eta[idx] if cfg.per_sa else float(eta[idx])
    try:
        ImplicitModel(w[idx], logits[idx], model_eta, cfg.reduce, cfg.temperature)
    except (ValueError, RuntimeError) as e:
        raise type(e)(where + str(e)) from None
    raise RuntimeError(f"{where}{what}")


def _solve(w, logits, eta, init, cfg):
    return _call(w, logits, eta, init, cfg, with_fixed_point=False)


def _fwd(w, logits, eta, init, cfg):
    theta, fixed = _call(w, logits, eta, init, cfg, with_fixed_point=True)
    return theta, (w, logits, eta, init, fixed)


def _bwd(cfg, res, g):
    w, logits, eta, init, fixed = res
    dtype = w.dtype

    def vjp(w, logits, eta, init, fixed, g):
        lead, k = w.shape[:-2], w.shape[-2]
        args, kwargs = _native_args(w, logits, eta, init, cfg)
        gb = np.ascontiguousarray(np.asarray(g, dtype=np.float64).reshape(-1, k))
        dw, df, deta = _imprl.implicit_vjp_batch(
            *args, gb, **kwargs, theta_hat=_from_bits(fixed, k)
        )
        return (
            dw.reshape(w.shape).astype(dtype),
            df.reshape(logits.shape).astype(dtype),
            deta.reshape(eta.shape).astype(dtype),
        )

    out = (
        jax.ShapeDtypeStruct(w.shape, dtype),
        jax.ShapeDtypeStruct(logits.shape, dtype),
        jax.ShapeDtypeStruct(eta.shape, dtype),
    )
    _ready(w, logits, eta, init, fixed, g)
    dw, df, deta = jax.pure_callback(
        vjp, out, w, logits, eta, init, fixed, g, vmap_method="broadcast_all"
    )
    if cfg.on_failure == "raise" and _concrete(w, logits, eta, init, g, dw):
        g_ok = np.isfinite(np.asarray(g)).all(axis=-1)
        failed = g_ok & ~np.isfinite(np.asarray(dw)).all(axis=(-2, -1))
        if failed.any():
            _raise_failure(w, logits, eta, init, cfg, failed, "the gradient is not finite")
    # `init` is a stop-gradient: its cotangent is zero.
    return dw, df, deta, jnp.zeros_like(init)


_layer = jax.custom_vjp(_solve, nondiff_argnums=(4,))
_layer.defvjp(_fwd, _bwd)
