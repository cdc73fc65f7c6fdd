"""The implicit layer as a JAX function: ``imprl.jax.implicit_values`` (SPEC §1, §8.1).

θ̂ solves θ̂ = reduce_a (w[:, a] + η σ(F[:, a, :]) θ̂) — with one pseudo-action the Markov reward
chain θ̂ = (I − η σ(F))⁻¹ w — for one model or a batch, and its gradients for ``w``, ``logits``
and ``eta`` are (by default) the exact implicit-function-theorem gradients of
``imprl.ImplicitModel.vjp``; ``grad="truncated:K"`` and ``grad="unroll:K"`` are the modes of SPEC §8.3.
The forward solve and the adjoint both run in Rust (``jax.pure_callback`` inside a
``jax.custom_vjp``); a batch, given with leading dimensions or made by ``jax.vmap``, reaches Rust
as one call and its models are solved in parallel on all cores.

JAX is an optional dependency: ``pip install "./python[jax]"``. Importing ``imprl`` does not
import JAX; only ``import imprl.jax`` does.
"""

from __future__ import annotations

import math
from typing import Any, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _imprl
from ._imprl import ImplicitModel

__all__ = ["implicit_values"]

_REDUCES = ("max", "logsumexp")
_ON_FAILURE = ("raise", "nan")


def implicit_values(
    w: Any,
    logits: Any,
    eta: Any,
    *,
    reduce: str = "max",
    temperature: float = 1.0,
    grad: str = "ift",
    on_failure: str = "raise",
) -> jax.Array:
    """θ̂ of the implicit layer (SPEC §1, §8.1), differentiable in ``w``, ``logits`` and ``eta``.

    Shapes (leading dimensions ``...`` are batch dimensions, any number of them, also none):

    - the paper's model: ``w`` ``(..., k)`` and ``logits`` ``(..., k, k)``;
    - ``m`` pseudo-actions: ``w`` ``(..., k, m)`` and ``logits`` ``(..., k, m, k)``, reduced by
      ``reduce`` (``"max"`` or ``"logsumexp"`` with temperature ``temperature``; with ``m = 1``
      both are the identity);
    - ``eta``: the internal discount 0 ≤ η < 1, a scalar or an array that broadcasts to the
      batch dimensions (one η per model).

    When both readings fit (``w``'s last two dimensions are equal), ``w`` is read as ``(k, m)``
    unless ``eta`` has as many dimensions as the batch of the ``(k,)`` reading.

    Returns θ̂ of shape ``(..., k)``. Each model's θ̂ is ``imprl.ImplicitModel(w, logits, eta,
    reduce, temperature).theta`` bit for bit, and the vector–Jacobian product (``jax.grad``,
    ``jax.vjp``) is its ``vjp``: with u = A⁻ᵀg, ∂L/∂w = u·π, ∂L/∂F and ∂L/∂η as SPEC §1,
    §8.1–8.2 (exact implicit function theorem; θ̂ is solved again in the backward pass, not
    stored). Works under ``jax.jit``, ``jax.grad``/``jax.vjp`` and ``jax.vmap``. No
    forward-mode (``jax.jvp``, ``jax.jacfwd``): a ``custom_vjp`` has reverse mode only.

    Precision: computed in float64 whatever the inputs; the result and the gradients come back
    in the inputs' dtype (float32 inputs give float32 θ̂, rounded from the float64 solution;
    integer inputs are promoted to JAX's default float dtype).

    Failure is never silent: a model whose values are refused (non-finite ``w``, η outside
    [0, 1), a logits row with NaN, +inf or no finite entry) or whose solve fails has a θ̂ (and
    gradients) of NaN inside the computation. With ``on_failure="raise"`` (the default) this is
    then raised — ``ValueError`` naming the field and the model's batch index, or
    ``RuntimeError`` for a solve — wherever the values are concrete: in eager calls, also under
    an eager ``jax.grad``/``jax.vjp``. Under ``jax.jit`` and ``jax.vmap`` the values are traced
    and nothing can be raised (JAX forbids exceptions in callbacks): the failed models' θ̂ and
    gradients are NaN, the others are unaffected, and the caller checks ``jnp.isfinite``.
    ``on_failure="nan"`` returns the NaNs in eager calls too.

    ``grad`` chooses the gradient as the trainer's setting of that name (SPEC §8.3):

    - ``"ift"`` (default): the exact implicit-function-theorem gradient at θ̂;
    - ``"truncated:K"``: θ̂ as above, the adjoint replaced by its K-term Neumann series
      Σ_{i<K} (Jᵀ)^i g (``truncated:1`` is Jacobian-free backpropagation, u = g);
    - ``"unroll:K"`` (value iteration networks): the output is θ_K, K steps of
      θ ← reduce_a(w[:, a] + η S_a θ) from θ_0 = 0, and the gradient is its exact derivative
      (reverse mode through the K steps).

    ``"unroll-warm:K"`` is refused: its θ_0 is the previous update's θ_K, a state that a
    function of ``(w, logits, eta)`` does not have. In every mode the model is built as
    ``ImplicitModel`` builds it, so a model whose θ̂ cannot be solved fails in every mode.
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

    w, logits, eta = (jnp.asarray(x) for x in (w, logits, eta))
    dtype = _dtype(w, logits, eta)
    batch, k, m, _ = _layout(w.shape, logits.shape, eta.shape)
    w = w.astype(dtype).reshape(batch + (k, m))
    logits = logits.astype(dtype).reshape(batch + (k, m, k))
    eta = jnp.broadcast_to(eta.astype(dtype), batch)
    return _layer(w, logits, eta, (reduce, temperature, grad, on_failure))


def _dtype(*xs: jax.Array) -> Any:
    """The common floating dtype of the arguments (integers and booleans promote to JAX's
    default float)."""
    for name, x in zip(("w", "logits", "eta"), xs):
        if not (jnp.issubdtype(x.dtype, jnp.floating) or jnp.issubdtype(x.dtype, jnp.integer)
                or x.dtype == jnp.bool_):
            raise ValueError(
                f"invalid value for `{name}`: an array of dtype {x.dtype} (allowed: real numbers)"
            )
    dtype = jnp.result_type(*xs)
    if not jnp.issubdtype(dtype, jnp.floating):
        dtype = jnp.zeros((), dtype=float).dtype
    return dtype


def _layout(
    w_shape: Tuple[int, ...], f_shape: Tuple[int, ...], eta_shape: Tuple[int, ...]
) -> Tuple[Tuple[int, ...], int, int, bool]:
    """The batch shape, ``k``, ``m`` and whether ``w`` is read as ``(..., k)`` (else
    ``(..., k, m)``); a ``ValueError`` naming the argument when the shapes do not fit."""
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
    try:
        fits = np.broadcast_shapes(tuple(eta_shape), batch) == batch
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"invalid value for `eta`: an array of shape {tuple(eta_shape)} (allowed: a scalar "
            f"or a shape that broadcasts to the batch shape {batch})"
        )
    return batch, k, m, flat


def _concrete(*xs: Any) -> bool:
    """Whether the values are known now (not traced, as under ``jax.jit``)."""
    return not any(isinstance(x, jax.core.Tracer) for x in xs)


def _flat(w: np.ndarray, logits: np.ndarray, eta: np.ndarray):
    """The stacked float64 arrays of the Rust batch functions: (B, k, m), (B, k, m, k), (B,)."""
    k, m = w.shape[-2:]
    return (
        np.ascontiguousarray(np.asarray(w, dtype=np.float64).reshape(-1, k, m)),
        np.ascontiguousarray(np.asarray(logits, dtype=np.float64).reshape(-1, k, m, k)),
        np.ascontiguousarray(np.asarray(eta, dtype=np.float64).reshape(-1)),
    )


def _solve(w, logits, eta, cfg):
    """θ̂ of every model (NaN for those that fail), by one Rust call."""
    reduce, temperature, grad, on_failure = cfg
    dtype = w.dtype

    def solve(w, logits, eta):
        lead, k = w.shape[:-2], w.shape[-2]
        theta = _imprl.implicit_values_batch(*_flat(w, logits, eta), reduce, temperature, grad)
        return theta.reshape(lead + (k,)).astype(dtype)

    out = jax.ShapeDtypeStruct(w.shape[:-1], dtype)
    theta = jax.pure_callback(solve, out, w, logits, eta, vmap_method="broadcast_all")
    if on_failure == "raise" and _concrete(w, logits, eta, theta):
        failed = ~np.isfinite(np.asarray(theta)).all(axis=-1)
        if failed.any():
            what = "θ_K is not finite" if grad.startswith("unroll") else "θ̂ cannot be solved"
            _raise_failure(w, logits, eta, cfg, failed, what)
    return theta


def _raise_failure(w, logits, eta, cfg, failed, what):
    """Raises the error of the first failed model: ``ImplicitModel``'s own, naming the model's
    batch index."""
    reduce, temperature, _, _ = cfg
    idx = tuple(int(i) for i in np.argwhere(failed)[0])
    w, logits, eta = (np.asarray(x, dtype=np.float64) for x in (w, logits, eta))
    where = f"model {idx} of the batch: " if idx else ""
    try:
        ImplicitModel(w[idx], logits[idx], float(eta[idx]), reduce, temperature)
    except (ValueError, RuntimeError) as e:
        raise type(e)(where + str(e)) from None
    raise RuntimeError(f"{where}{what}")


def _fwd(w, logits, eta, cfg):
    return _solve(w, logits, eta, cfg), (w, logits, eta)


def _bwd(cfg, res, g):
    reduce, temperature, grad, on_failure = cfg
    w, logits, eta = res
    dtype = w.dtype

    def vjp(w, logits, eta, g):
        lead, k = w.shape[:-2], w.shape[-2]
        gb = np.ascontiguousarray(np.asarray(g, dtype=np.float64).reshape(-1, k))
        dw, df, deta = _imprl.implicit_vjp_batch(
            *_flat(w, logits, eta), gb, reduce, temperature, grad
        )
        return (
            dw.reshape(w.shape).astype(dtype),
            df.reshape(logits.shape).astype(dtype),
            deta.reshape(lead).astype(dtype),
        )

    out = (
        jax.ShapeDtypeStruct(w.shape, dtype),
        jax.ShapeDtypeStruct(logits.shape, dtype),
        jax.ShapeDtypeStruct(eta.shape, dtype),
    )
    dw, df, deta = jax.pure_callback(vjp, out, w, logits, eta, g, vmap_method="broadcast_all")
    if on_failure == "raise" and _concrete(w, logits, eta, g, deta):
        g_ok = np.isfinite(np.asarray(g)).all(axis=-1)
        failed = g_ok & ~np.isfinite(np.asarray(deta))
        if failed.any():
            _raise_failure(w, logits, eta, cfg, failed, "the gradient is not finite")
    return dw, df, deta


_layer = jax.custom_vjp(_solve, nondiff_argnums=(3,))
_layer.defvjp(_fwd, _bwd)
