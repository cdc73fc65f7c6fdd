"""Times one training step of the implicit layer in JAX: ``imprl.jax.implicit_values`` (LU, the
default, and ``solver="gmres"`` warm-started with ``init`` = θ̂ of the model before the step)
against the plain-JAX way
(``jax.lax.custom_linear_solve`` with ``jax.scipy.sparse.linalg.gmres``, warm-started from the
same θ̂, tolerance 1e-10, restart 20), for one model and a batch, jitted, float64.

A step is the loss ``mean((θ̂ − y)²)`` and its gradients for ``w`` and ``logits``. Run it
pinned to one core or two (``taskset -c 0 python jax_layer.py``); it prints a Markdown table.
Not a test: docs/speed.md gives its numbers with the CPU named.
"""

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

from imprl.jax import implicit_values  # noqa: E402


def plain_values(w, logits, eta, x0):
    """θ̂ = (I − ησ(F))⁻¹ w by GMRES inside ``custom_linear_solve`` (the adjoint by GMRES on the
    transpose), warm-started from ``x0``."""
    s = jax.nn.softmax(logits, axis=-1)

    def matvec(x):
        return x - eta * (s @ x)

    def solve(_, b):
        return jax.scipy.sparse.linalg.gmres(matvec, b, x0=x0, tol=1e-10, restart=20)[0]

    def transpose_solve(_, b):
        return jax.scipy.sparse.linalg.gmres(
            lambda x: x - eta * (s.T @ x), b, tol=1e-10, restart=20
        )[0]

    return jax.lax.custom_linear_solve(matvec, w, solve, transpose_solve)


def step_fn(kind):
    if kind == "imprl":

        def loss(w, logits, eta, x0, y):
            return jnp.mean((implicit_values(w, logits, eta) - y) ** 2)

    elif kind == "imprl-gmres":

        def loss(w, logits, eta, x0, y):
            return jnp.mean((implicit_values(w, logits, eta, init=x0, solver="gmres") - y) ** 2)

    else:

        def loss(w, logits, eta, x0, y):
            return jnp.mean((plain_values(w, logits, eta, x0) - y) ** 2)

    return loss


def time_step(kind, k, batch, reps, rng):
    shape = () if batch is None else (batch,)
    w = jnp.asarray(rng.normal(0, 0.1, size=shape + (k,)))
    logits = jnp.asarray(rng.normal(size=shape + (k, k)))
    y = jnp.asarray(rng.normal(size=shape + (k,)))
    eta = 0.95
    loss = step_fn(kind)
    grad = jax.value_and_grad(loss, argnums=(0, 1))
    if batch is not None:
        grad = jax.vmap(grad, in_axes=(0, 0, None, 0, 0))
    f = jax.jit(grad)
    x0 = jnp.zeros(shape + (k,))
    # Arguments still being copied or computed (JAX's CPU client is asynchronous) can deadlock a
    # jitted callback on one core: make them ready first (see imprl.jax's docstring).
    jax.block_until_ready((w, logits, y, x0))
    out = f(w, logits, eta, x0, y)  # compile
    jax.block_until_ready(out)
    # The warm start of a training loop: θ̂ of the model before the step (here the model with
    # its logits moved by about one SGD step).
    x0 = implicit_values(w, logits + 0.01 * jnp.asarray(rng.normal(size=logits.shape)), eta)
    jax.block_until_ready(x0)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        jax.block_until_ready(f(w, logits, eta, x0, y))
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ks", default="100,400,1600")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--models", default="1,batch", help="1, batch or both (1,batch)")
    a = p.parse_args()
    rng = np.random.default_rng(0)
    print("| k | models | imprl.jax (ms) | imprl.jax, gmres, init (ms) | plain JAX (ms) "
          "| plain / imprl.jax | plain / imprl.jax, gmres, init |")
    print("|---|---|---|---|---|---|---|")
    batches = [None if b == "1" else a.batch for b in a.models.split(",")]
    for k in map(int, a.ks.split(",")):
        for batch in batches:
            ours = time_step("imprl", k, batch, a.reps, rng) * 1e3
            warm = time_step("imprl-gmres", k, batch, a.reps, rng) * 1e3
            plain = time_step("plain", k, batch, a.reps, rng) * 1e3
            n = 1 if batch is None else batch
            print(f"| {k} | {n} | {ours:.2f} | {warm:.2f} | {plain:.2f} | {plain / ours:.1f}× "
                  f"| {plain / warm:.1f}× |", flush=True)


if __name__ == "__main__":
    main()
